//! The one way in from JavaScript's `CoolaTracker` class and functions
//! (shell.js): each method calls the raw export [`coola_op`] with the
//! tracker's handle (0 for a function) and the method's number (19:
//! `visitorProperties`); arguments are read with `arg`, a value or an error
//! is handed back with `give` (the class throws an `Error` given to it).
//! One entry point instead of one wasm-bindgen export, borrow check and
//! glue method per method and getter.

#[allow(unused_imports)]
use crate::prelude::*;
use alloc::rc::Rc;
use core::mem::ManuallyDrop;

use wasm_bindgen::prelude::*;

use super::{CoolaTracker, Inner};
use crate::js::functions;

#[wasm_bindgen(module = "/src/js/shell.js")]
extern "C" {
    /// The current method call's argument `i` (0 or 1), or what the
    /// tracker's callback passes (its `text`, as 0).
    pub(super) fn arg(i: i32) -> JsValue;
    /// What the current method call returns, or the `Error` it throws
    /// (taken: no drop of it at each caller).
    fn give(value: JsValue);
    /// Hands the class the module's exports (it calls `coola_op` there).
    #[wasm_bindgen(js_name = start)]
    fn start_shell(exports: &JsValue);
}

/// When the module is instantiated: the class can reach [`coola_op`].
#[wasm_bindgen(start, private)]
fn start() {
    start_shell(&wasm_bindgen::exports());
}

/// The methods, numbered as shell.js's class calls them: each `give`s what
/// it returns, but [`NEW`], whose handle `coola_op` returns, and the
/// getters of a number or a boolean ([`PENDING`], [`CLOSED`],
/// [`OPTED_OUT`]) and [`PARSE_TIMESTAMP`]'s milliseconds, whose value it
/// returns (1 for true).
///
/// Whether `track()` adds the page's URL and title (a page, and
/// `autoPageProperties`), 1 or 0: the class asks once, when made.
const PAGE_PROPERTIES: u32 = 0;
const TRACK: u32 = 1;
const SET_USER_ID: u32 = 2;
const FLUSH: u32 = 3;
const SHUTDOWN: u32 = 4;
const OPT_OUT: u32 = 5;
const OPT_IN: u32 = 6;
const TRACK_PAGE_VIEW: u32 = 7;
const SET_PROPERTIES: u32 = 8;
const USER_ID: u32 = 9;
const SESSION_ID: u32 = 10;
/// `new CoolaTracker(options)`: the handle (0 when it threw).
const NEW: u32 = 11;
const PENDING: u32 = 12;
const CLOSED: u32 = 13;
const OPTED_OUT: u32 = 14;
const FREE: u32 = 15;
/// The functions (no tracker): they `give` too.
const PARSE_TIMESTAMP: u32 = 16;
const VALIDATE_EVENT: u32 = 17;
const ENCODE_BATCH: u32 = 18;

/// Hands back what a method returned, or the error it throws.
fn give_result(r: Result<JsValue, JsValue>) {
    give(r.unwrap_or_else(|e| e));
}

/// Hands back the error a method that returns nothing throws, if any.
fn give_error(r: Result<(), JsValue>) {
    if let Err(e) = r {
        give(e);
    }
}

/// A tracker made in Rust, as the JavaScript class's object that owns it
/// (tests hand trackers to JavaScript this way).
impl From<CoolaTracker> for JsValue {
    fn from(t: CoolaTracker) -> JsValue {
        wrap(handle(t))
    }
}

#[wasm_bindgen(module = "/src/js/shell.js")]
extern "C" {
    /// A `CoolaTracker` object for the handle of a tracker made in Rust.
    fn wrap(handle: f64) -> JsValue;
}

/// The handle JavaScript keeps: a counted reference to the tracker's state
/// (no allocation of its own), given back by [`FREE`].
fn handle(t: CoolaTracker) -> f64 {
    Rc::into_raw(t.inner) as usize as f64
}

/// Carries out method `op` of the tracker `handle` (see the method numbers
/// above); the arguments are read with `arg` before anything that could
/// call JavaScript back (a nested call sets its own).
#[no_mangle]
pub extern "C" fn coola_op(handle_in: u32, op: u32) -> f64 {
    if op >= PARSE_TIMESTAMP {
        let (a, b) = (arg(0), arg(1));
        give_result(match op {
            // The value as shell.js flattened it; the milliseconds are what
            // `coola_op` returns (no JsValue made of a number).
            PARSE_TIMESTAMP => match functions::parse_timestamp_entry(a, b) {
                Ok(ms) => return ms,
                Err(e) => Err(e),
            },
            // The event's JSON, which shell.js parses.
            VALIDATE_EVENT => functions::validate_event_json(a, b),
            ENCODE_BATCH => functions::encode_batch(a, b).map(JsValue::from),
            // The two headers shell.js read.
            _ => functions::visitor_of(a, b),
        });
        return 0.0;
    }
    if op == NEW {
        return match CoolaTracker::new(arg(0)) {
            Ok(t) => handle(t),
            Err(e) => {
                give(e);
                0.0
            }
        };
    }
    // SAFETY: `handle_in` is what `handle` made and JavaScript kept; the
    // class sets it to 0 before freeing and never calls with 0. The handle
    // holds one count; this call takes its own (ManuallyDrop leaves the
    // handle's count alone), so a `free()` from inside a callback of this
    // very call drops the tracker only when the call is over.
    let held = ManuallyDrop::new(unsafe { Rc::from_raw(handle_in as usize as *const Inner) });
    if op == FREE {
        // Timers and listeners go now, even while a call of this tracker
        // (from whose callback `free()` came) still holds its state; what
        // this task tracked is stored, and the tab leaves as a shutdown's
        // end does (`Inner::stop`): its stored events are the next
        // tracker's to claim.
        held.stop();
        drop(ManuallyDrop::into_inner(held));
        return 0.0;
    }
    let t = CoolaTracker {
        inner: Rc::clone(&held),
    };
    // The getters of a number or a boolean return it; the others `give`.
    let r = match op {
        PENDING => t.pending() as f64,
        CLOSED => f64::from(u8::from(t.closed())),
        OPTED_OUT => f64::from(u8::from(t.opted_out())),
        PAGE_PROPERTIES => f64::from(u8::from(t.inner.page_props)),
        _ => 0.0,
    };
    match op {
        // The event as shell.js's class flattened it.
        TRACK => give_result(t.track_flat(&super::text(arg(0)))),
        SET_USER_ID => give_error(t.set_user_id(arg(0))),
        FLUSH => give(t.flush().into()),
        SHUTDOWN => give(t.shutdown().into()),
        OPT_OUT => t.opt_out(),
        OPT_IN => t.opt_in(),
        TRACK_PAGE_VIEW => give_result(t.track_page_view(arg(0))),
        SET_PROPERTIES => give_error(t.set_properties(arg(0))),
        USER_ID => give(t.user_id()),
        SESSION_ID => give(t.session_id()),
        _ => {}
    }
    r
}
