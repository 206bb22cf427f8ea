//! `CoolaTracker`: carries out what the core tracker decides.

#[allow(unused_imports)]
use crate::prelude::*;
use alloc::rc::{Rc, Weak};
use core::cell::{Cell, RefCell};
use core::mem::ManuallyDrop;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::{
    bad_option, environment, fail, flatten_event, get, js_error, kind, listed, now_ms, offline, opt_text,
    options as options_text, seed, send, short_text, soon, storage_get, storage_hold, storage_list, storage_readable,
    storage_release, storage_remove, storage_set, storage_set_context, storage_write, text, threw, KIND_FUNCTION,
    KIND_OBJECT, KIND_UNDEFINED, STORAGE_BEAT, STORAGE_REMOVE,
};
use crate::core::batch::BodyFormat;
use crate::core::claim;
use crate::core::config::Config;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::REQUEST_TIMEOUT_MS;
use crate::core::store::{self, Keys};
use crate::core::tracker::{Lifecycle, Request, Tracker};

pub mod ops;
mod privacy;

/// The browser's allowance for bodies of keepalive requests in flight.
const KEEPALIVE_BUDGET: usize = 60 * 1024;

/// The slots of the timers and listeners that the shell's `hook` keeps on
/// the tracker's callback (registering one removes what its slot held):
/// the flush timer (or the heartbeat timer when there is none), the
/// wake-up at a backoff's end, the page lifecycle listeners, and other
/// tabs' optOut() / optIn() (the `storage` event) with, for
/// `autoPageViews: "history"`, in-page navigation (`history` wrapped).
const SLOT_TIMER: i32 = 0;
const SLOT_WAKE: i32 = 1;
const SLOT_LIFECYCLE: i32 = 2;
pub(super) const SLOT_PAGE: i32 = 3;
/// `hook`'s slot that removes every one, and the one that also stops the
/// callback for good (the tracker is gone).
const SLOT_ALL: i32 = -1;
const SLOT_GONE: i32 = -2;
/// `hook`'s slot that gives the callback its handle (`ms`: the `Weak<Inner>`
/// as a pointer).
const SLOT_ARM: i32 = -3;

/// The durable queue in `localStorage` (browsers only).
struct Durable {
    keys: Keys,
    /// A failed write was reported already.
    warned: Cell<bool>,
    /// When the heartbeat was last written.
    beat_at: Cell<i64>,
    /// The page went away (pagehide): the heartbeat stays "0" until it is shown again.
    gone: Cell<bool>,
}

/// How often the heartbeat is refreshed at most.
const HEARTBEAT_MS: i64 = 10_000;

/// The heartbeat timer's period when there is no flush timer: well within
/// the 3 minutes after which other tabs take a tab for gone, even with
/// background tabs' timers throttled to once a minute.
const HEARTBEAT_EVERY_MS: u32 = 30_000;

struct Inner {
    core: RefCell<Tracker>,
    page: bool,
    /// A page, and `autoPageProperties`: `track()` adds the page's URL and
    /// title (shell.js's class asks once, see `PAGE_PROPERTIES` in ops.rs).
    page_props: bool,
    /// An `onError` was given (the callback keeps it, see `bind`).
    on_error: bool,
    durable: Option<Durable>,
    /// The pending `flush()` / `shutdown()` promises' largest bound (only
    /// events tracked before this sequence number are their business),
    /// `None` when none waits. The promises wait in JavaScript (`waiting`),
    /// each with the counts it began at.
    bound: Cell<Option<u64>>,
    /// A `shutdown()` waits: timers and listeners go once they settle.
    stopping: Cell<bool>,
    /// The one callback JavaScript calls for everything, made by the
    /// shell's `bind` (see [`coola_callback`]).
    callback: JsValue,
    /// An end-of-task callback is queued (see [`Inner::end_of_task`]).
    scheduled: Cell<bool>,
    /// Consent, sessions, page views, beforeSend, debug.
    extra: privacy::Extra,
}

#[wasm_bindgen(module = "/src/js/shell.js")]
extern "C" {
    /// The tracker's callback: a function that JavaScript calls as
    /// `cb(what, id, status, text, flag)` and that calls [`coola_callback`]
    /// with the function's `h` (the handle `hook` gives it in `SLOT_ARM`)
    /// while that is not 0. It keeps what stays the same for the tracker's
    /// life: `onError` and `beforeSend` (each a function or undefined,
    /// checked) for [`report`] and `beforeSend`, the request URL and body
    /// format and the request timeout in ms for [`send`], the storage key
    /// of the saved choice for [`hook`].
    fn bind(
        exports: &JsValue,
        on_error: &JsValue,
        before_send: &JsValue,
        url: &str,
        form: i32,
        key: &str,
        timeout_ms: u32,
    ) -> JsValue;
    /// Calls the `onError` kept on the callback with `error`, ignoring what it throws.
    pub(super) fn report(cb: &JsValue, error: JsValue);
    /// Registers in `slot` (see `SLOT_*`; what the slot held is removed
    /// first) a timer that calls `cb(what)` every `ms` (the flush timer) or
    /// once after `ms` (the wake-up), the page lifecycle listeners, or the
    /// page watch of the saved choice under the callback's consent key
    /// (with in-page navigation when `ms` is 1); `ms` below 0 only removes.
    pub(super) fn hook(cb: &JsValue, slot: i32, ms: f64, what: i32);
    /// A promise resolved by [`settled`]: a `flush()` or `shutdown()` that
    /// begins at these [`Inner::counts`].
    fn waiting(cb: &JsValue, sent: f64, failed: f64, requests: f64) -> Promise;
    /// Resolves every [`waiting`] promise with its `FlushReport`: the
    /// difference of the counts now (events acknowledged and failed,
    /// requests made) to its own, and the events still queued.
    fn settled(cb: &JsValue, sent: f64, failed: f64, pending: f64, requests: f64);
}

/// A request settled: (DONE, id, status, Retry-After, body said "status": false).
const DONE: i32 = 0;
/// The flush timer or a backoff's end: send what is due.
const PUMP: i32 = 1;
/// The heartbeat timer (no flush timer).
const BEAT: i32 = 2;
/// The page is hidden (flag false) or unloaded (flag true).
const HIDE: i32 = 3;
/// Back online, or shown again.
const ONLINE: i32 = 4;
/// The end of a task that tracked events (`soon`).
const END: i32 = 5;
/// Another tab changed the saved consent, or the page navigated in place.
pub(super) const PAGE: i32 = 6;
/// A backoff's end while the tracker drains (a `shutdown()`, or the exit):
/// as [`PUMP`], with a timer that keeps Node alive (see
/// `Tracker::wake_keeps_alive`).
const DRAIN: i32 = 7;
/// Node's `beforeExit` (its event loop is empty): the tracker is told it
/// is exiting (`Tracker::exiting`), then sends what is due.
const EXIT: i32 = 8;

/// What the tracker's callback calls (a raw export: JavaScript calls it
/// with numbers only, `text` is left as argument 0, see `ops::arg`): carries out
/// (what, id, status, text, flag) on the tracker, if it still exists. One
/// entry point for every timer, listener and request, instead of
/// wasm-bindgen's `Closure` machinery.
#[no_mangle]
pub extern "C" fn coola_callback(handle: u32, what: i32, id: f64, status: u32, flag: u32) {
    // SAFETY: `handle` is a `Weak<Inner>` turned into a pointer by
    // `CoolaTracker::new`; that weak reference is given back only by
    // `Inner`'s drop, which first sets the callback's `h` to 0, after which
    // the callback calls this no more. ManuallyDrop: this call borrows it.
    let weak = ManuallyDrop::new(unsafe { Weak::from_raw(handle as usize as *const Inner) });
    let Some(i) = weak.upgrade() else { return };
    let flag = flag != 0;
    match what {
        DONE => {
            // The answer's Retry-After, left by the callback as the
            // current call's argument 0 (undefined for none or "").
            let text = opt_text(ops::arg(0));
            i.on_done(id, status as u16, text, flag)
        }
        BEAT => i.heartbeat(false),
        HIDE => {
            i.unload();
            i.persist();
            if flag {
                i.leave();
            }
        }
        END => i.end_of_task(),
        PAGE => privacy::on_page_change(&i),
        _ => {
            if what == EXIT {
                if let Ok(mut c) = i.core.try_borrow_mut() {
                    c.exiting();
                }
            }
            if what == ONLINE {
                // Shown again (back/forward cache), or back online: alive.
                if let Some(d) = &i.durable {
                    // Shown again after a page hide: meanwhile another tab
                    // may have claimed this page's stored events and removed
                    // their contexts.
                    if d.gone.replace(false) {
                        if let Ok(mut c) = i.core.try_borrow_mut() {
                            c.context_lost();
                        }
                    }
                }
            }
            i.heartbeat(false);
            i.pump();
        }
    }
}

#[inline(never)]
fn busy() -> JsValue {
    fail(ErrorCode::InvalidValue, "the tracker was called from inside itself")
}

impl Inner {
    /// Passes every waiting notice to `onError`, with no borrow held, so a
    /// callback may call the tracker again; a throwing callback is ignored.
    fn report(&self) {
        self.report_if(false);
    }

    /// [`Inner::report`], or (`always`) every notice the core kept, due or not.
    fn report_if(&self, always: bool) {
        let notices = match self.core.try_borrow_mut() {
            Ok(mut c) if always || c.report_now() => c.take_notices(),
            _ => return,
        };
        for n in &notices {
            self.report_one(n);
        }
    }

    fn report_one(&self, e: &Error) {
        if self.on_error {
            report(&self.callback, js_error(e));
        }
    }

    /// Schedules a wake-up for when a backoff ends, replacing any earlier one.
    fn schedule_wake(self: &Rc<Self>) {
        let now = now_ms();
        // While the tracker drains (a shutdown, the exit), the process must
        // not exit before the next try (`keep`; a durable tracker's shutdown
        // settles at once, and its timers go).
        let (at, keep) = match self.core.try_borrow() {
            Ok(c) if c.pending() > 0 && !c.in_flight() => (c.retry_at(now), c.wake_keeps_alive()),
            _ => (None, false),
        };
        // Later than now (`retry_at`): 1 ms at least.
        let ms = at.map_or(-1.0, |t| t.saturating_sub(now).min(i64::from(u32::MAX)) as f64);
        hook(&self.callback, SLOT_WAKE, ms, if keep { DRAIN } else { PUMP });
    }

    /// Sends the next request unless one is in flight; the `done` callback
    /// calls it again when that request settles. A flush in progress sends
    /// despite a backoff, bounded to the events tracked before it; when
    /// there is nothing left to send, or a request failed, waiting flushes
    /// resolve.
    fn pump(self: &Rc<Self>) {
        let bound = self.bound.get();
        let force = bound.is_some();
        let off = offline();
        // One reading of the clock for what is sent and whether the
        // flushes settle (see `on_done`).
        let now = now_ms();
        // The request, or whether one is still in flight (one borrow).
        let (req, in_flight) = match self.core.try_borrow_mut() {
            Ok(mut c) => {
                let req = if off { None } else { c.next_request(now, force, bound) };
                (req, c.in_flight())
            }
            Err(_) => return,
        };
        match req {
            Some(req) => self.launch(&req),
            None if !in_flight => {
                self.schedule_wake();
                self.settle(now);
            }
            None => {}
        }
    }

    fn launch(&self, req: &Request) {
        self.debug_request(req);
        send(&self.callback, &req.json, i32::from(req.keepalive), req.id as f64);
    }

    /// A request settled: tell the core, then go on or settle the flushes.
    fn on_done(self: &Rc<Self>, id: f64, status: u16, retry_after: Option<String>, status_false: bool) {
        self.debug_answer(id, status);
        // One reading of the clock for the answer and what follows it: read
        // again after persist() and onError (page code, which may take long
        // on a loaded machine), a backoff could already have run out, and a
        // page's shutdown would send its retry, or a shutdown that waits one
        // out (Node) settle with the events still queued.
        let now = now_ms();
        let outcome = match self.core.try_borrow_mut() {
            Ok(mut c) => c.on_response(id as u64, now, status, retry_after.as_deref(), status_false),
            Err(_) => return,
        };
        self.persist();
        self.report();
        // A failure that backs off ends this round (flushes resolve, a wake-up
        // is set); a refused or split batch does not hold back the rest.
        if outcome.failed > 0 && self.core.try_borrow().is_ok_and(|c| c.retry_at(now).is_some()) {
            self.schedule_wake();
            self.settle(now);
        } else {
            self.pump();
        }
    }

    /// Resolves every waiting flush with its report, unless the core says
    /// it keeps waiting (`Tracker::keeps_waiting`: an event held for
    /// `beforeSend`, which `enqueue` pumps for once it is queued, or a
    /// shutdown that waits out a backoff, which the wake-up sends again),
    /// judged at `now`, the clock its caller read.
    fn settle(&self, now: i64) {
        if self.core.try_borrow().is_ok_and(|c| c.keeps_waiting(now)) || self.bound.take().is_none() {
            return;
        }
        if self.stopping.replace(false) {
            self.stop();
        }
        let [sent, failed, requests] = self.counts();
        let pending = self.core.try_borrow().map(|c| c.pending() as f64).unwrap_or(0.0);
        settled(&self.callback, sent as f64, failed as f64, pending, requests as f64);
    }

    fn wait(self: &Rc<Self>, bound: u64, stop: bool) -> Promise {
        let mut start = self.counts();
        // A request already in flight is waited for, so it counts here.
        if self.core.try_borrow().map(|c| c.in_flight()).unwrap_or(false) {
            start[2] = start[2].saturating_sub(1);
        }
        self.bound.set(Some(self.bound.get().map_or(bound, |b| b.max(bound))));
        if stop {
            self.stopping.set(true);
        }
        let [sent, failed, requests] = start;
        let promise = waiting(&self.callback, sent as f64, failed as f64, requests as f64);
        self.pump();
        promise
    }

    /// What a flush reports the difference of: events acknowledged, events
    /// given up on when their request failed (`Stats::failed`), requests made.
    fn counts(&self) -> [u64; 3] {
        let s = self.core.try_borrow().map(|c| c.stats()).unwrap_or_default();
        [s.delivered, s.failed, s.requests]
    }

    /// The page is going away: everything queued goes out now with keepalive.
    fn unload(&self) {
        let mut left = match self.core.try_borrow_mut() {
            Ok(mut c) => c.unload(now_ms(), KEEPALIVE_BUDGET),
            Err(_) => return,
        };
        // One at a time, each sent with no borrow held (a page's own
        // `fetch` wrapper may call the tracker again).
        while let Some(req) = self
            .core
            .try_borrow_mut()
            .ok()
            .and_then(|mut c| c.unload_request(&mut left))
        {
            self.launch(&req);
        }
    }

    /// The end of a task that tracked events: storage written, and what the
    /// core kept for then (a burst's overflow) reported.
    fn end_of_task(&self) {
        self.scheduled.set(false);
        self.persist();
        self.report_if(true);
    }

    /// Writes new events to storage and removes the ones that left the
    /// queue; false when a write was refused.
    fn persist(&self) -> bool {
        let Some(d) = &self.durable else { return true };
        // One borrow for the events, the session (when it changed) and the
        // budget's answer. The writes are held back by the shell and made
        // once the borrow is dropped (`storage_release`): a page may wrap
        // Storage.prototype.setItem / removeItem, and a wrapper that calls
        // the tracker must find it free. A write refused (quota) stops the
        // writes after it; the core is told from which event on, and writes
        // those again later. The session is written after the events,
        // whatever became of them.
        let (wrote, over_budget) = match self.core.try_borrow_mut() {
            Ok(mut c) => {
                storage_hold();
                let wrote = c.persist(
                    |seq, json| storage_set(&d.keys.event(seq), json),
                    |n, json| storage_set_context(&d.keys.context(n), json),
                    |seq| storage_remove(&d.keys.event(seq)),
                );
                (wrote, c.over_budget())
            }
            Err(_) => return false,
        };
        let refused = storage_release();
        // The session as it is after the release (a page's setItem wrapper
        // may have opted out meanwhile, which forgets it).
        let (again, session) = match self.core.try_borrow_mut() {
            Ok(mut c) => (c.persisted(refused), c.take_session()),
            Err(_) => (false, None),
        };
        if let Some(s) = session {
            storage_set(&self.extra.session_key, &s);
        }
        if again {
            // The storage took the one event tried after a refusal: the rest now.
            return self.persist();
        }
        if over_budget {
            self.report();
        } else if refused.is_some() {
            self.storage_refused();
        }
        self.heartbeat(false);
        wrote && refused.is_none()
    }

    /// `localStorage` refused a write (at start or since): reported once
    /// per tracker.
    fn storage_refused(&self) {
        if self.on_error && self.durable.as_ref().is_some_and(|d| !d.warned.replace(true)) {
            report(
                &self.callback,
                fail(
                    ErrorCode::StorageError,
                    "localStorage refused a write (quota full?): queued events are kept in memory only until it has room",
                ),
            );
        }
    }

    /// Queues [`Inner::end_of_task`] when the core asks for it: `track`
    /// itself stays free of storage writes and of overflow reports, and
    /// nothing can be lost in between.
    fn schedule_end_of_task(&self) {
        if self.scheduled.get()
            || !self
                .core
                .try_borrow()
                .is_ok_and(|c| c.needs_end_of_task(self.durable.is_some()))
        {
            return;
        }
        self.scheduled.set(true);
        soon(&self.callback, END);
    }

    /// Tells other tabs this one is alive, or (`gone`) that its events are
    /// free to claim.
    fn heartbeat(&self, gone: bool) {
        let Some(d) = &self.durable else { return };
        let op = if gone {
            // No heartbeat is "gone" too: the page leaves no key behind.
            d.beat_at.set(0);
            d.gone.set(true);
            STORAGE_REMOVE
        } else {
            let now = now_ms();
            // Late answers after pagehide must not bring the heartbeat back
            // (the next page load is to claim what is left); at most one
            // write per HEARTBEAT_MS.
            if d.gone.get() || now.saturating_sub(d.beat_at.get()) < HEARTBEAT_MS {
                return;
            }
            d.beat_at.set(now);
            // The shell writes the time (its clock, as `now_ms`'s).
            STORAGE_BEAT
        };
        storage_write(op, &d.keys.heartbeat(), "");
    }

    /// Takes over the stored events of tabs that are gone: they are queued
    /// here, written under this tab's keys, and only then removed from theirs
    /// (`server_ts`: the `serverTimestamp` option).
    #[inline(never)]
    fn claim(&self, server_ts: bool) {
        let Some(d) = &self.durable else { return };
        let now = now_ms();
        // Every key under the tracker's prefix with its value, read once
        // (one call out of the module); the core decides what to take over.
        let listing = storage_list(d.keys.prefix());
        let all = listed(&listing);
        let claim = claim::claim(&all, &d.keys, now, server_ts);
        let remove_after = match self.core.try_borrow_mut() {
            Ok(mut c) => claim.restore_into(&mut c),
            // Not restored: the old keys stay for a later claim.
            Err(_) => return,
        };
        // The old keys go only once the events are written under this tab's;
        // if that failed (quota), they stay for a later claim: sent twice
        // rather than lost.
        let persisted = self.persist();
        for &(key, if_persisted) in &remove_after {
            if persisted || !if_persisted {
                storage_remove(key);
            }
        }
    }

    /// This tab's tracker is gone (the page hidden for good, `shutdown()`
    /// done, `free()`): its heartbeat goes, so that the next tracker (this
    /// page's or another tab's) claims its stored events at once, and with
    /// nothing queued its contexts go too. Stored events stay.
    fn leave(&self) {
        self.heartbeat(true);
        self.drop_contexts();
    }

    /// The page goes away with nothing queued: no stored event needs its
    /// contexts, so they go too (the next page would otherwise find them).
    fn drop_contexts(&self) {
        let Some(d) = &self.durable else { return };
        let stored = match self.core.try_borrow_mut() {
            Ok(mut c) if c.pending() == 0 => {
                c.context_lost();
                c.contexts_stored()
            }
            _ => return,
        };
        // Removed with no borrow held (a page may wrap removeItem); a
        // context stored meanwhile gets a number after these.
        for n in stored {
            storage_remove(&d.keys.context(n));
        }
    }

    /// `shutdown()` settled, or `free()`: timers and listeners go, what
    /// is queued is stored (a `free()` in the task that tracked it), and
    /// the tab leaves (see [`Inner::leave`]).
    pub(super) fn stop(&self) {
        self.stop_hooks();
        self.persist();
        self.leave();
    }

    fn stop_hooks(&self) {
        hook(&self.callback, SLOT_ALL, -1.0, 0);
    }
}

/// This tab's storage: whether it is used, whether it is full, and the
/// anonymous id stored there. Storage is used only where a write succeeds
/// (browsers; not Node or Workers, and not a page whose storage is
/// blocked); a full storage is still storage: read what is there, report,
/// keep going.
fn open_storage(persist: bool, keys: &Keys) -> (bool, bool, Option<String>) {
    let wrote = persist && storage_set(&keys.heartbeat(), "1");
    let full = persist && !wrote && storage_readable();
    let durable = wrote || full;
    let stored_id = if durable { stored_id(&keys.user_id()) } else { None };
    (durable, full, stored_id)
}

/// The anonymous id stored for the site's tabs under `key`, if it is a
/// plausible one.
fn stored_id(key: &str) -> Option<String> {
    storage_get(key).filter(|v| store::is_plausible_id(v))
}

/// A random id for this tab, in hex (the first two of the seed's words).
fn hex_id(words: &[u32; 4]) -> String {
    let mut out = String::with_capacity(16);
    for &w in words.iter().take(2) {
        store::push_hex(&mut out, w, false);
    }
    out
}

/// The request URL. An endpoint that is a path stays one: `fetch` and
/// `sendBeacon` resolve it against the page's origin; outside a page it is
/// refused here rather than failing every request.
fn resolved_url(cfg: &Config, page: bool) -> Result<String, JsValue> {
    if !page && crate::core::config::is_path_endpoint(&cfg.endpoint) {
        return Err(bad_option(
            "endpoint",
            "is a path, which only a page can resolve: give a full URL",
        ));
    }
    Ok(cfg.url())
}

/// Queues analytics events and sends them to CoolaData in batches.
///
/// JavaScript sees it through the `CoolaTracker` class of shell.js, whose
/// methods come here through [`ops`]'s one export (`coola_op`), the handle
/// being the `Rc<Inner>` itself. Dropped (with every other reference to
/// its state), its timers and listeners go.
pub struct CoolaTracker {
    inner: Rc<Inner>,
}

impl CoolaTracker {
    /// Creates a tracker. Throws `invalid_option` (with `field`) for a bad option.
    pub fn new(options: JsValue) -> Result<CoolaTracker, JsValue> {
        if kind(&options) != KIND_OBJECT {
            return Err(bad_option("options", "must be an object with at least appKey"));
        }
        // onError first: while it is checked, nothing else is held.
        let on_error = get(&options, "onError");
        let on_error_kind = kind(&on_error);
        if !matches!(on_error_kind, KIND_UNDEFINED | KIND_FUNCTION) {
            return Err(bad_option("onError", "must be a function (error) => void"));
        }
        // sampleRate's text (String(n)) is read back by JavaScript's own
        // parseFloat: exactly the n it was written from.
        let mut cfg = Config::parse(&options_text(&options), js_sys::parse_float).map_err(|e| js_error(&e))?;
        let given = privacy::read(&options)?;

        let env = environment();
        let (page, env) = (matches!(env.as_bytes().first(), Some(b'1')), env.get(1..).unwrap_or(""));
        privacy::prepare(&mut cfg, page);
        let page_props = page && cfg.auto_page_properties;

        let url = resolved_url(&cfg, page)?;
        let s: [u32; 4] = core::array::from_fn(|_| seed());
        let tab = hex_id(&s);
        let keys = Keys::new(&cfg.storage_key, &url, &tab);
        let (durable, full, stored_id) = open_storage(cfg.persist, &keys);
        let new_id = durable && stored_id.is_none();
        let form = i32::from(cfg.body_format == BodyFormat::Form);
        let interval = cfg.flush_interval_ms;
        let (server_ts, opt_out, signals) = (cfg.server_timestamp, cfg.opt_out, cfg.privacy_signals);
        let mut core = Tracker::with_env(cfg, s, stored_id, env, page_props);
        if page {
            core.set_keepalive_budget(KEEPALIVE_BUDGET);
        }
        if durable {
            core.set_durable();
        }
        let extra = privacy::configure(&mut core, &given);
        let exports = wasm_bindgen::exports();
        let callback = bind(
            &exports,
            &on_error,
            &given.before_send,
            &url,
            form,
            &extra.consent_key,
            REQUEST_TIMEOUT_MS,
        );
        if new_id && core.config().user_id.is_none() {
            storage_set(&keys.user_id(), core.user_id());
        }
        let inner = Rc::new(Inner {
            callback,
            core: RefCell::new(core),
            page,
            page_props,
            on_error: on_error_kind == KIND_FUNCTION,
            bound: Cell::new(None),
            stopping: Cell::new(false),
            extra,
            durable: durable.then(|| Durable {
                keys,
                warned: Cell::new(false),
                beat_at: Cell::new(0),
                gone: Cell::new(false),
            }),
            scheduled: Cell::new(false),
        });
        // The callback's handle: a weak reference as a pointer (the address
        // of the `Inner`), given back by `Inner`'s drop.
        let handle = Weak::into_raw(Rc::downgrade(&inner)) as usize;
        hook(&inner.callback, SLOT_ARM, handle as f64, 0);
        inner.heartbeat(false);
        if full {
            inner.storage_refused();
        }
        inner.claim(server_ts);
        privacy::start(&inner, opt_out, signals);
        // No flush timer, but other tabs must still see this one alive.
        let timer = if interval > 0 {
            Some((interval, PUMP))
        } else {
            inner.durable.as_ref().map(|_| (HEARTBEAT_EVERY_MS, BEAT))
        };
        if let Some((ms, what)) = timer {
            hook(&inner.callback, SLOT_TIMER, f64::from(ms), what);
        }
        hook(&inner.callback, SLOT_LIFECYCLE, 0.0, 0);
        // What the claim found is reported now (an overflow at the end of
        // this task); claimed events go out without waiting.
        inner.report();
        inner.schedule_end_of_task();
        if inner.core.try_borrow().map(|c| c.pending() > 0).unwrap_or(false) {
            inner.heartbeat(false);
            inner.pump();
        }
        privacy::first_page_view(&inner);
        Ok(CoolaTracker { inner })
    }

    /// Validates an event, queues it, and returns its `event_id`. Throws on
    /// bad input (nothing is queued then) and after `shutdown()`.
    pub fn track(&self, event_name: JsValue, properties: JsValue) -> Result<JsValue, JsValue> {
        self.track_flat(&flatten_event(
            &event_name,
            &properties,
            i32::from(self.inner.page_props),
        ))
    }

    /// [`track`](Self::track) of the event as the shell's `flattenEvent`
    /// gave it (the class's `track()` reads the event before it calls in).
    fn track_flat(&self, encoded: &str) -> Result<JsValue, JsValue> {
        threw(encoded, ErrorCode::InvalidValue, "reading the properties")?;
        // Strings go back as JsValues: wasm-bindgen's String return is larger glue.
        self.inner.enqueue(encoded).map(|id| short_text(&id))
    }

    /// Sets the user id for events that carry none.
    pub fn set_user_id(&self, user_id: JsValue) -> Result<(), JsValue> {
        let id = text(user_id);
        let mut core = self.inner.core.try_borrow_mut().map_err(|_| busy())?;
        core.set_user_id(&id).map_err(|e| js_error(&e))
    }

    /// Sends everything queued now; resolves with a `FlushReport` when the
    /// requests have settled.
    pub fn flush(&self) -> Promise {
        let bound = self.inner.core.try_borrow().map(|c| c.next_seq()).unwrap_or(u64::MAX);
        self.inner.wait(bound, false)
    }

    /// Flushes, then stops the timer and removes listeners. Later `track`
    /// calls throw `tracker_closed`.
    pub fn shutdown(&self) -> Promise {
        if let Ok(mut c) = self.inner.core.try_borrow_mut() {
            c.close();
        }
        self.inner.wait(u64::MAX, true)
    }

    /// Events queued and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.inner.core.try_borrow().map(|c| c.pending()).unwrap_or(0)
    }

    /// Whether `shutdown()` was called.
    pub fn closed(&self) -> bool {
        self.inner
            .core
            .try_borrow()
            .map(|c| c.state() == Lifecycle::Closed)
            .unwrap_or(false)
    }

    /// The user id given to events that carry none.
    pub fn user_id(&self) -> JsValue {
        short_text(self.inner.core.try_borrow().as_deref().map_or("", |c| c.user_id()))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Timers and listeners go, the callback calls no more, then the weak
        // reference it stood for goes.
        hook(&self.callback, SLOT_GONE, -1.0, 0);
        // SAFETY: the pointer `CoolaTracker::new` made of a `Weak<Inner>`
        // (the address of this value), given back once, here.
        drop(unsafe { Weak::from_raw(self as *const Inner) });
    }
}
