//! The shell of api.md's "Privacy, sessions, page views, hooks": the saved
//! choice and the session in `localStorage`, Global Privacy Control, the
//! `storage` event of other tabs, `history` hooks, the `beforeSend` call and
//! the `debug` lines. Every decision is the core's (src/core/privacy.rs,
//! src/core/tracker/privacy.rs).

#[allow(unused_imports)]
use crate::prelude::*;
use alloc::rc::Rc;
use core::cell::Cell;

use wasm_bindgen::prelude::*;

use super::super::{
    bad_option, fail, flatten, get, js_error, kind, listed, now_ms, opt_text, short_text, storage_get, storage_hold,
    storage_list, storage_release, storage_remove, storage_set, text, threw, thrown_message, KIND_FUNCTION, KIND_NULL,
    KIND_UNDEFINED,
};
use super::{busy, hook, report, CoolaTracker, Inner, PAGE, SLOT_PAGE};
use crate::core::claim;
use crate::core::config::{AutoPageViews, Config};
use crate::core::error::{Error, ErrorCode};
use crate::core::privacy::{self, Choice};
use crate::core::tracker::{Request, Tracker};

#[wasm_bindgen(module = "/src/js/shell.js")]
extern "C" {
    #[wasm_bindgen(js_name = privacySignal)]
    fn privacy_signal() -> bool;
    #[wasm_bindgen(js_name = pageUrl)]
    fn page_url_js() -> JsValue;
    /// A page_view event in the entries form (a `!` entry: reading the
    /// properties threw).
    #[wasm_bindgen(js_name = pageEvent)]
    fn page_event_js(props: &JsValue, referrer: &str) -> JsValue;
    /// What `beforeSend` made of the event: null dropped, undefined unchanged, the
    /// changed event in the entries form, or a `!` entry when it threw
    /// (what it threw becomes the `cause` of the next `caused` error).
    #[wasm_bindgen(js_name = beforeSend)]
    fn before_send(cb: &JsValue, json: &str) -> JsValue;
    /// Sets what `beforeSend` last threw as the `cause` of `error`.
    fn caused(error: &JsValue);
    /// `debug`: what 0 (queued: `text` is the event), 1 (request `a`: `b`
    /// events to `text`), 2 (answer to request `a`: HTTP `b`).
    #[wasm_bindgen(js_name = debugLine)]
    fn debug_line(what: i32, a: f64, b: f64, text: &str);
}

/// What the shell keeps for these features.
pub(super) struct Extra {
    /// A `beforeSend` was given (the callback keeps it, see `bind`).
    before_send: bool,
    debug: bool,
    auto: AutoPageViews,
    /// The request URL with the app key hidden, for `debug`.
    shown_url: String,
    pub(super) consent_key: String,
    pub(super) session_key: String,
    /// A page view was queued by this tracker.
    viewed: Cell<bool>,
    /// The saved choice as this tracker last saw or wrote it: another tab's
    /// choice is followed only when it changed.
    seen: Cell<Option<Choice>>,
}

fn option_error(field: &str, e: &Error) -> JsValue {
    bad_option(field, &e.message)
}

/// Fills the defaults that depend on the environment (sessions: 30 minutes
/// in a page, none elsewhere).
pub(super) fn prepare(cfg: &mut Config, page: bool) {
    cfg.session_timeout_ms.get_or_insert(if page { 1_800_000 } else { 0 });
}

/// `beforeSend` and `properties` as the options bag gives them, checked.
pub(super) struct Given {
    /// The function, or undefined.
    pub(super) before_send: JsValue,
    /// It is a function (the kind `read` checked).
    given: bool,
    properties: String,
}

/// Reads and checks `beforeSend` and `properties` (before the tracker
/// touches storage: a bad option leaves nothing behind).
pub(super) fn read(options: &JsValue) -> Result<Given, JsValue> {
    let hook = get(options, "beforeSend");
    let hook_kind = kind(&hook);
    if !matches!(hook_kind, KIND_UNDEFINED | KIND_FUNCTION) {
        return Err(bad_option(
            "beforeSend",
            "must be a function (event) => event | null | false | undefined",
        ));
    }
    let props = get(options, "properties");
    let properties = if kind(&props) == KIND_UNDEFINED {
        String::new()
    } else {
        let encoded = flatten(&props);
        if let Some(m) = thrown_message(&encoded, "reading it") {
            return Err(bad_option("properties", &m));
        }
        Tracker::check_properties(&encoded).map_err(|e| option_error("properties", &e))?;
        encoded
    };
    Ok(Given {
        before_send: hook,
        given: hook_kind == KIND_FUNCTION,
        properties,
    })
}

/// Hands what [`read`] found to the core.
pub(super) fn configure(core: &mut Tracker, given: &Given) -> Extra {
    let before_send = given.given;
    core.set_hold(before_send);
    // Checked by `read`: it cannot fail here (no error to drop: forgotten).
    let r = core.set_properties(&given.properties);
    debug_assert!(r.is_ok());
    core::mem::forget(r);
    let cfg = core.config();
    Extra {
        before_send,
        debug: cfg.debug,
        auto: cfg.auto_page_views,
        shown_url: privacy::hide_key(&cfg.endpoint, &cfg.app_key),
        consent_key: privacy::consent_key(&cfg.storage_key),
        session_key: privacy::session_key(&cfg.storage_key),
        viewed: Cell::new(false),
        seen: Cell::new(None),
    }
}

/// At start: opted out or in (api.md's rule: `option` and `signals` are the
/// `optOut` and `privacySignals` options), the other tabs' choices
/// followed, `"history"` hooked.
pub(super) fn start(inner: &Rc<Inner>, option: Option<bool>, signals: bool) {
    let saved = storage_get(&inner.extra.consent_key).and_then(|s| Choice::parse(&s));
    inner.extra.seen.set(saved);
    let signal = signals && privacy_signal();
    if privacy::starts_opted_out(option, saved, signal) {
        // As optOut(), except that the choice is not saved: it came from
        // the site's own record or the browser's signal.
        inner.opt_out_now(false);
    }
    if !inner.page {
        return;
    }
    // The tracker's one callback, for both: another tab's choice, and
    // in-page navigation (see `on_page_change`).
    let nav = inner.extra.auto == AutoPageViews::History;
    hook(&inner.callback, SLOT_PAGE, f64::from(u8::from(nav)), PAGE);
}

/// Another tab changed the saved choice, or the page navigated in place.
pub(super) fn on_page_change(inner: &Rc<Inner>) {
    inner.follow_other_tabs();
    if inner.extra.auto == AutoPageViews::History {
        inner.auto_page_view();
    }
}

/// `autoPageViews`: the page view of the page the tracker starts on, queued
/// once the tracker is set up (it waits for the next batch).
pub(super) fn first_page_view(inner: &Rc<Inner>) {
    if inner.page && inner.extra.auto != AutoPageViews::Off {
        inner.auto_page_view();
    }
}

impl Inner {
    /// Validates, fills, runs `beforeSend` and queues one event given in
    /// the entries form; returns its `event_id`, or `""` when it was
    /// dropped (opted out, sampled out, `beforeSend`).
    pub(super) fn enqueue(self: &Rc<Self>, encoded: &str) -> Result<String, JsValue> {
        let now = now_ms();
        self.sync_session(now);
        let r = self
            .core
            .try_borrow_mut()
            .map_err(|_| busy())?
            .track_encoded(now, encoded);
        // Whether beforeSend held the event (and may have called flush() or
        // shutdown(), which then waits for it: see below).
        let mut held = false;
        let r = match r {
            Ok(id) if !id.is_empty() && self.extra.before_send => {
                held = true;
                self.run_before_send(now)
            }
            other => other.map_err(|e| js_error(&e)),
        };
        // The `debug` line's event copied out: console.debug is page code
        // (pages and monitoring scripts wrap it), called with no borrow held.
        let (ready, line) = match self.core.try_borrow() {
            Ok(c) => {
                let line = match (&r, c.last_queued()) {
                    (Ok(id), Some(json)) if self.extra.debug && !id.is_empty() => Some(String::from(json)),
                    _ => None,
                };
                (r.is_ok() && c.batch_ready(now), line)
            }
            Err(_) => (false, None),
        };
        if let Some(json) = line {
            debug_line(0, 0.0, 0.0, &json);
        }
        self.schedule_end_of_task();
        self.report();
        // A flush that waits (a shutdown() or flush() called from inside
        // beforeSend) settles, or sends the event, now that it left the hold.
        // Only after a hold: any other track() during a flush leaves the
        // pump to the answer in flight, with no borrow of its own.
        if (ready && !super::offline()) || (held && self.bound.get().is_some()) {
            self.pump();
        }
        r
    }

    /// Hands the held event to `beforeSend`, with no borrow held.
    fn run_before_send(&self, now: i64) -> Result<String, JsValue> {
        let Some(json) = self
            .core
            .try_borrow()
            .ok()
            .and_then(|c| c.held_json().map(String::from))
        else {
            return Ok(String::new());
        };
        let answer = before_send(&self.callback, &json);
        let mut core = self.core.try_borrow_mut().map_err(|_| busy())?;
        let null = kind(&answer) == KIND_NULL;
        let changed = opt_text(answer);
        if let Some(m) = changed
            .as_deref()
            .and_then(crate::core::entries::thrown)
            .map(|(_, m)| m)
        {
            core.drop_held();
            let mut why = String::from("beforeSend threw (nothing was queued): ");
            crate::core::error::push_truncated(&mut why, m, 200);
            let e = fail(ErrorCode::BeforeSendFailed, &why);
            caused(&e);
            return Err(e);
        }
        if null {
            core.drop_held();
            return Ok(String::new());
        }
        core.release_held(now, changed.as_deref()).map_err(|e| js_error(&e))
    }

    /// When this tab's session ran out, takes up the stored one (another
    /// tab may have kept it alive). The storage is read with no borrow held
    /// (a page may wrap `Storage.prototype.getItem`); a session the tracker
    /// started meanwhile is newer, and `resume_session` keeps it.
    fn sync_session(&self, now: i64) {
        if self.durable.is_none() || !self.core.try_borrow().is_ok_and(|c| c.session_expired(now)) {
            return;
        }
        let stored = storage_get(&self.extra.session_key);
        if let Ok(mut c) = self.core.try_borrow_mut() {
            c.resume_session(stored.as_deref(), now);
        }
    }

    /// Opts out now: the queue purged in memory and in storage (this tab's
    /// keys, and with `save` every stored event of this app), the
    /// anonymous id and the session removed; with `save` the choice is saved.
    fn opt_out_now(self: &Rc<Self>, save: bool) {
        let contexts = match self.core.try_borrow_mut() {
            Ok(mut c) => c.opt_out(),
            Err(_) => return,
        };
        self.persist();
        if let Some(d) = &self.durable {
            // The keys' prefix is the storageKey option.
            let prefix = d.keys.prefix();
            // With `save`, the pass over the tracker's keys below removes
            // this tab's contexts with every other tab's, each once and only
            // where it is still stored (by number, an earlier optOut() or
            // page hide's removals would be made again).
            for k in privacy::opt_out_keys(&d.keys, prefix, if save { 0 } else { contexts }) {
                storage_remove(&k);
            }
            if save {
                // Every tab's events and contexts, this one's and gone
                // tabs' (one pass over the tracker's keys): nothing of this
                // visitor is sent later.
                for &(k, _, _) in &listed(&storage_list(prefix)) {
                    if claim::forgotten(&d.keys, k) {
                        storage_remove(k);
                    }
                }
            }
        }
        if save {
            storage_set(&self.extra.consent_key, Choice::Out.stored());
            self.extra.seen.set(Some(Choice::Out));
        }
        // Waiting flushes resolve: nothing is left to send.
        self.pump();
    }

    /// Opts in now (with `save`, the choice saved); whether the visitor was
    /// opted out (and the tracker not closed).
    fn opt_in_now(&self, save: bool) -> bool {
        // The anonymous id another tab stored, if one did (the site's tabs
        // send one id: the core takes it), read with no borrow held (a page
        // may wrap `Storage.prototype.getItem`).
        // The key is made once, for this read and the write below.
        let key = self.durable.as_ref().map(|d| d.keys.user_id());
        let stored = key.as_deref().and_then(super::stored_id);
        let Ok(mut c) = self.core.try_borrow_mut() else {
            return false;
        };
        let was_out = c.opted_out() && c.state() != crate::core::tracker::Lifecycle::Closed;
        let write = c.opt_in(stored);
        // Else this tracker's anonymous id is written from the core's own
        // copy, held back by the shell until the borrow is dropped (a page
        // may wrap `Storage.prototype.setItem`).
        storage_hold();
        if let (Some(k), true) = (&key, write) {
            storage_set(k, c.user_id());
        }
        drop(c);
        storage_release();
        if save {
            storage_set(&self.extra.consent_key, Choice::In.stored());
            self.extra.seen.set(Some(Choice::In));
        }
        was_out
    }

    /// Another tab saved a choice (or cleared the storage): followed when
    /// the saved choice changed since this tracker last saw it.
    fn follow_other_tabs(self: &Rc<Self>) {
        let now = storage_get(&self.extra.consent_key).and_then(|s| Choice::parse(&s));
        if now == self.extra.seen.replace(now) {
            return;
        }
        let out = self.core.try_borrow().map(|c| c.opted_out()).unwrap_or(false);
        match now {
            Some(Choice::Out) if !out => self.opt_out_now(false),
            Some(Choice::In) if out => {
                self.opt_in_now(false);
            }
            _ => {}
        }
    }

    /// A page view of the page as it is now.
    fn page_view(self: &Rc<Self>, props: &JsValue) -> Result<String, JsValue> {
        if !self.page {
            return Err(fail(
                ErrorCode::InvalidValue,
                "trackPageView() needs a page (document and location): use track() here",
            ));
        }
        let url = text(page_url_js());
        let referrer = match self.core.try_borrow_mut() {
            Ok(mut c) => c.page_view(&url),
            Err(_) => return Err(busy()),
        };
        let encoded = text(page_event_js(props, referrer.as_deref().unwrap_or("")));
        threw(&encoded, ErrorCode::InvalidValue, "reading the properties")?;
        let id = self.enqueue(&encoded)?;
        if !id.is_empty() {
            self.extra.viewed.set(true);
        }
        Ok(id)
    }

    /// `autoPageViews`: a page view unless the URL is the last one's; a
    /// problem goes to `onError`.
    fn auto_page_view(self: &Rc<Self>) {
        let url = text(page_url_js());
        let due = match self.core.try_borrow() {
            Ok(c) => c.state() == crate::core::tracker::Lifecycle::Running && c.page_view_due(&url),
            Err(_) => false,
        };
        if due {
            self.auto_page_view_now();
        }
    }

    /// `debug`: a request leaves (the line is written by the shell).
    pub(super) fn debug_request(&self, req: &Request) {
        if self.extra.debug {
            debug_line(1, req.id as f64, req.events as f64, &self.extra.shown_url);
        }
    }

    /// `debug`: the answer to a request (status 0: a network error).
    pub(super) fn debug_answer(&self, id: f64, status: u16) {
        if self.extra.debug {
            debug_line(2, id, f64::from(status), "");
        }
    }
}

impl CoolaTracker {
    /// Stops tracking at once: every queued event is dropped (in memory, in
    /// storage, in flight), the anonymous id and the session are forgotten,
    /// and the choice is saved so the next page load starts opted out.
    pub fn opt_out(&self) {
        self.inner.opt_out_now(true);
    }

    /// Resumes tracking and saves that choice. Events tracked while opted
    /// out are not recovered.
    pub fn opt_in(&self) {
        let was_out = self.inner.opt_in_now(true);
        // The page view the opted-out start could not send.
        if was_out && self.inner.extra.auto != AutoPageViews::Off && !self.inner.extra.viewed.get() {
            self.inner.auto_page_view_now();
        }
    }

    /// Whether the visitor is opted out.
    pub fn opted_out(&self) -> bool {
        self.inner.core.try_borrow().map(|c| c.opted_out()).unwrap_or(false)
    }

    /// The current session id, `""` when sessions are off.
    pub fn session_id(&self) -> JsValue {
        self.inner.sync_session(now_ms());
        short_text(self.inner.core.try_borrow().as_deref().map_or("", |c| c.session_id()))
    }

    /// Tracks a `page_view` event with `page_url`, `page_title` and, after
    /// an in-page navigation, `referring_url`. Throws `invalid_value`
    /// outside a page.
    pub fn track_page_view(&self, properties: JsValue) -> Result<JsValue, JsValue> {
        self.inner.page_view(&properties).map(|id| short_text(&id))
    }

    /// Merges properties into those added to every later event; `null` or
    /// `undefined` removes one. Throws as `track` does.
    pub fn set_properties(&self, properties: JsValue) -> Result<(), JsValue> {
        let encoded = flatten(&properties);
        threw(&encoded, ErrorCode::InvalidValue, "reading the properties")?;
        let mut core = self.inner.core.try_borrow_mut().map_err(|_| busy())?;
        core.set_properties(&encoded).map_err(|e| js_error(&e))
    }
}

impl Inner {
    /// A page view now, whatever the last one's URL (after `optIn()`).
    fn auto_page_view_now(self: &Rc<Self>) {
        if let Err(e) = self.page_view(&JsValue::UNDEFINED) {
            // Built already: `report` does nothing without an onError.
            report(&self.callback, e);
        }
    }
}
