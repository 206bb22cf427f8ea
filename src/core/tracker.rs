//! The tracker as a sans-IO state machine.
//!
//! The shell tells it what happened ("an event was tracked at t", "request 7
//! finished with 503") and asks it what to do ("which request goes next?").
//! It never performs I/O and never reads a clock, so the queue, batching,
//! retries and overflow are all tested here on the host.
//!
//! Guarantees: an event leaves the queue only when a 2xx acknowledged it, or
//! when it is given up on and reported (a 4xx, too many tries, the queue
//! overflowing, or too old for CoolaData's window). At most one request is in
//! flight, except on page unload, when everything goes out at once.
//!
//! In a page ([`Tracker::set_keepalive_budget`]) every request whose body
//! fits the browser's keepalive allowance is sent with `keepalive` from the
//! start, so that it survives a navigation; at page hide only the events of
//! a request in flight without it (which the browser cancels) go out again.
//! A page never sends its own event twice that way (see [`Tracker::on_response`]
//! for the failure browsers report at page hide). What the next page
//! claims from storage (a batch whose answer came after the page was gone)
//! may still arrive twice: a client alone cannot know that it arrived.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::batch::{self, BodyFormat};
use crate::core::config::Config;
use crate::core::entries::{self, Entry};
use crate::core::error::{Error, ErrorCode};
use crate::core::event::{self, RawValue, ValidateOptions};
use crate::core::num;
use crate::core::store;

mod persist;
mod privacy;
mod props;
mod queue;
pub use privacy::MAX_SHARED;
pub(crate) use props::Props;
use queue::Slot;

/// A request the shell must send: POST the body to the configured URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Identifies the request in [`Tracker::on_response`].
    pub id: u64,
    /// The JSON the body carries, `{"events":[...]}`. The body is
    /// [`BodyFormat::prefix`] + `encodeURIComponent(json)` (see
    /// [`Request::body`]); the shell encodes it with the platform's own.
    pub json: String,
    /// The body's length in bytes once encoded.
    pub bytes: usize,
    /// How many events it carries.
    pub events: usize,
    /// Sent with `keepalive`, so that it survives the page going away.
    pub keepalive: bool,
}

impl Request {
    /// The exact request body, encoded in Rust as the shell does it in
    /// JavaScript (host tests, fuzzing).
    pub fn body(&self, fmt: BodyFormat) -> String {
        batch::encode_body(&self.json, fmt)
    }
}

/// What became of a request, for flush reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Events acknowledged.
    pub sent: usize,
    /// Events of this request when it failed, whether sent again later or
    /// given up on (the shell's signal that a request failed; a flush
    /// report counts [`Stats::failed`] instead).
    pub failed: usize,
}

/// Lifecycle of a tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Accepting events.
    Running,
    /// `shutdown()` was called: no more events, the queue still drains.
    Closed,
}

/// Counters since the tracker was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events accepted by `track`.
    pub tracked: u64,
    /// Events acknowledged by the collector.
    pub delivered: u64,
    /// Events given up on (rejected, expired, overflowed).
    pub dropped: u64,
    /// Requests sent.
    pub requests: u64,
    /// Requests that were tries after a failure.
    pub retries: u64,
    /// Events given up on when their request failed (reported as
    /// `request_failed`: refused, `"status": false`, or out of tries), each
    /// once: not the tries of an event sent again (after a 413 split, a 5xx
    /// or a network error), nor the events a 403 keeps. A part of
    /// [`Stats::dropped`].
    pub failed: u64,
}

/// Small, fast generator for event ids (xoshiro128++), seeded by the shell
/// from `crypto.getRandomValues`.
struct Rng([u32; 4]);

impl Rng {
    fn next(&mut self) -> u32 {
        let s = &mut self.0;
        let result = s[0].wrapping_add(s[3]).rotate_left(7).wrapping_add(s[0]);
        let t = s[1] << 9;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(11);
        result
    }

    /// A random version-4 UUID, lower-case hex with dashes.
    fn uuid(&mut self) -> String {
        let mut out = String::with_capacity(36);
        for i in 0..4u32 {
            let mut w = self.next();
            if i == 1 {
                w = (w & 0xffff_0fff) | 0x4000; // version 4
            } else if i == 2 {
                w = (w & 0x3fff_ffff) | 0x8000_0000; // variant 10
            }
            // 8-4-4-4-12: words 1 and 2 are two dashed groups of 4 digits.
            store::push_hex(&mut out, w, i == 1 || i == 2);
        }
        out
    }
}

/// The properties the environment fills, as [`Tracker::new`] collects them.
struct Env {
    /// See `Tracker::env_defaults`.
    defaults: Vec<privacy::Prop>,
}

impl Env {
    /// The `sessionIp` and `sessionDua` options, when given, first.
    #[inline(always)]
    fn start(cfg: &Config) -> Self {
        let mut env = Env { defaults: Vec::new() };
        if let Some(ip) = &cfg.session_ip {
            env.add("session_ip", ip);
        }
        if let Some(dua) = &cfg.session_dua {
            env.add("session_dua", dua);
        }
        env
    }

    /// One of the environment's own properties: its `session_dua` only when
    /// the `sessionDua` option is not given, any other when `others`.
    fn add_own(&mut self, cfg: &Config, k: &str, v: &str, others: bool) {
        let keep = if *k == *"session_dua" {
            cfg.session_dua.is_none()
        } else {
            others
        };
        if keep {
            self.add(k, v);
        }
    }

    /// Adds a property the environment fills to every event (an empty
    /// one is kept here, and never sent: see `Extras::add`).
    fn add(&mut self, k: &str, v: &str) {
        // The time zone offset is a number of hours, as CoolaData's tracker
        // sends it: short plain decimals only ("-5.5"), so that no text that
        // JSON's grammar allows but a parser cannot hold ("3e888") is sent
        // as a number.
        let mut plain = *k == *"event_timezone_offset" && v.len() <= 8;
        for b in v.bytes() {
            plain &= b | 0x20 != b'e';
        }
        let numeric = plain && num::is_json_number(v);
        self.defaults.push((k.to_string(), v.to_string(), numeric));
    }
}

/// The tracker's state: the queue, what is in flight, backoff and notices.
pub struct Tracker {
    cfg: Config,
    next_seq: u64,
    next_id: u64,
    stopped: bool,
    state: Lifecycle,
    /// The process is exiting (see [`Tracker::exiting`]).
    exiting: bool,
    /// Storage carries the queue to a later page (see [`Tracker::set_durable`]).
    durable: bool,
    rng: Rng,
    user_id: String,
    /// Properties the environment fills, once per tracker: name, value, and
    /// whether the value is a JSON number (decided here, not on every track).
    env_defaults: Vec<privacy::Prop>,
    /// Events with a lower sequence number are done or in flight (see `drop_oldest`).
    drop_from: u64,
    notices: Vec<Error>,
    scratch: String,
    stats: Stats,
    /// Stored events that left the queue: their keys are to be removed.
    unstore: Vec<u64>,
    /// How many contexts were stored (numbers never repeat).
    ctx_count: u64,
    storage_budget: usize,
    /// Bytes of keepalive bodies that may be in flight at once; 0 outside a page.
    keepalive_budget: usize,
    /// The keepalive request that failed with a network error: its events
    /// stay its own until the next try (see [`Tracker::on_response`]), which
    /// sends them again before another can fail; so there is at most one.
    held: Option<u64>,
    /// The queue and what follows it, as an opt-out empties them.
    q: QueueState,
    /// Opt-out, sessions, shared properties, sampling, page views, beforeSend.
    x: privacy::Extras,
}

/// The part of the tracker's state that [`Tracker::opt_out`] puts back as
/// it was at the start: one initial value, [`QueueState::INITIAL`], for both.
struct QueueState {
    queue: Vec<Slot>,
    live: usize,
    /// The regular request in flight (not one sent at page hide), 0 when none.
    regular: u64,
    /// Whether it went with `keepalive`.
    regular_keepalive: bool,
    /// Requests in flight: the regular one and those sent at page hide
    /// (each with `keepalive`).
    flying: u32,
    /// The bytes of the keepalive bodies in flight.
    keepalive_bytes: usize,
    tries: u32,
    split_limit: Option<usize>,
    retry_at: i64,
    overflowed: u32,
    /// The context stored last: its number and JSON.
    ctx: Option<(u64, String)>,
    /// Whether stored events may leave out their shared part (off once a
    /// context could not be stored).
    compact: bool,
    /// What this tracker's stored events take in storage.
    stored_bytes: usize,
    /// The budget stopped a write; reported once until everything fits again.
    over_budget: bool,
    /// Events from this sequence number on may not be written to storage yet.
    unstored_since: u64,
    /// The storage refused a write since the last one it took: each
    /// persist tries one event only (see [`Tracker::persisted`]).
    refused: bool,
}

impl QueueState {
    /// Nothing queued, in flight or stored; no retry pending.
    const INITIAL: QueueState = QueueState {
        queue: Vec::new(),
        live: 0,
        regular: 0,
        regular_keepalive: false,
        flying: 0,
        keepalive_bytes: 0,
        tries: 0,
        split_limit: None,
        retry_at: i64::MIN,
        overflowed: 0,
        ctx: None,
        compact: true,
        stored_bytes: 0,
        over_budget: false,
        unstored_since: u64::MAX,
        refused: false,
    };
}

/// How much of `localStorage` one tracker's stored events may take, in
/// bytes (about 60 % of Chromium's quota of 5 Mi characters for an origin;
/// the rest stays for the page's own use).
pub const STORAGE_BUDGET: usize = 3_000_000;

/// The tracker's name and version, sent as `tracker_type` / `tracker_version`.
pub const TRACKER_TYPE: &str = "coola-tracker";
/// See [`TRACKER_TYPE`].
pub const TRACKER_VERSION: &str = env!("CARGO_PKG_VERSION");

impl Tracker {
    /// A tracker for `cfg`. `seed` seeds event ids; `anonymous_id` is the
    /// user id for events that carry none when `cfg.user_id` is not set (a
    /// random one is made when `None`); `env_defaults` are properties the
    /// environment fills once (user agent, screen size...), each sent unless
    /// the caller gives it or it is empty.
    ///
    /// `cfg.session_ip` and `cfg.session_dua` come first among those
    /// properties; the `sessionDua` option, when given, wins over the
    /// environment's `session_dua`.
    pub fn new(cfg: Config, seed: [u32; 4], anonymous_id: Option<String>, env_defaults: Vec<(String, String)>) -> Self {
        let mut env = Env::start(&cfg);
        for (k, v) in &env_defaults {
            env.add_own(&cfg, k, v, true);
        }
        Self::start(cfg, seed, anonymous_id, env)
    }

    /// [`Tracker::new`] with the environment's properties read from `env`, the
    /// text the shell's `environment()` gives, in the [`entries`] form: its
    /// defaults (and numbers) when `page_props` (a page, and
    /// `autoPageProperties`), else only `session_dua`; then the tracker's
    /// type and version (so `env` carries neither: the shell's text never
    /// does, and a check here would cost the browser build bytes for an
    /// input it cannot get). The shell builds no list of pairs for it.
    #[inline(always)]
    pub fn with_env(cfg: Config, seed: [u32; 4], anonymous_id: Option<String>, env: &str, page_props: bool) -> Self {
        let mut e = Env::start(&cfg);
        for item in entries::parse(env) {
            if let Ok(Entry::Default(k, v) | Entry::Prop(k, RawValue::NumText(v))) = item {
                e.add_own(&cfg, k, v, page_props);
            }
        }
        e.add("tracker_type", TRACKER_TYPE);
        e.add("tracker_version", TRACKER_VERSION);
        Self::start(cfg, seed, anonymous_id, e)
    }

    /// What both constructors end with: the tracker with its user id and
    /// the environment's properties.
    #[inline(always)]
    fn start(cfg: Config, seed: [u32; 4], anonymous_id: Option<String>, env: Env) -> Self {
        let mut rng = Rng(if seed == [0; 4] { [1, 2, 3, 4] } else { seed });
        let user_id = match (&cfg.user_id, anonymous_id) {
            (Some(given), _) => given.clone(),
            (None, Some(anonymous)) => anonymous,
            (None, None) => rng.uuid(),
        };
        Tracker {
            x: privacy::Extras::new(&cfg),
            cfg,
            next_seq: 1,
            next_id: 1,
            stopped: false,
            state: Lifecycle::Running,
            exiting: false,
            durable: false,
            rng,
            user_id,
            env_defaults: env.defaults,
            drop_from: 0,
            notices: Vec::new(),
            scratch: String::new(),
            stats: Stats::default(),
            unstore: Vec::new(),
            ctx_count: 0,
            storage_budget: STORAGE_BUDGET,
            keepalive_budget: 0,
            held: None,
            q: QueueState::INITIAL,
        }
    }

    /// The configuration, as given.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The user id given to events that carry none.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// Sets the user id given to events that carry none.
    #[inline(always)]
    pub fn set_user_id(&mut self, id: &str) -> Result<(), Error> {
        if id.is_empty() {
            return Err(Error::field(
                ErrorCode::InvalidValue,
                "userId",
                "must be a non-empty string",
            ));
        }
        self.user_id.clear();
        self.user_id.push_str(id);
        self.x.anonymous = false;
        Ok(())
    }

    /// Events queued and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.q.live
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The lifecycle state.
    pub fn state(&self) -> Lifecycle {
        self.state
    }

    /// Stops accepting events (`shutdown`). The queue can still be flushed.
    ///
    /// A tracker that is not durable ([`Tracker::set_durable`]: no storage
    /// carries its events to a later page: Node, a worker, a page whose
    /// storage is blocked) loses
    /// what it does not send now, so from then on it follows the retry
    /// policy to its end: [`Tracker::next_request`] honours a failure's
    /// backoff even when forced, and [`Tracker::keeps_waiting`] tells
    /// the shell to wait for it rather than settle. A durable tracker's
    /// shutdown ends at the first failure: its events stay stored for the
    /// next page.
    pub fn close(&mut self) {
        self.state = Lifecycle::Closed;
    }

    /// The process is about to exit (Node's `beforeExit`: its event loop is
    /// empty, with no `shutdown()` called). A tracker that is not durable
    /// loses what it does not send before the exit, so from then on it
    /// follows the retry policy to its end as a shutdown does (see
    /// [`Tracker::close`]), and its wake-up at a backoff's end keeps the
    /// process alive ([`Tracker::wake_keeps_alive`]) until the events are
    /// sent or given up on (reported as `request_failed`). It still takes
    /// events: only `close` refuses them. With nothing queued nothing keeps
    /// the process.
    pub fn exiting(&mut self) {
        self.exiting = true;
    }

    /// Closed or exiting, and not durable: a forced flush honours the
    /// backoff and the shell waits it out (see [`Tracker::close`]).
    fn drains(&self) -> bool {
        !self.durable && (self.state == Lifecycle::Closed || self.exiting)
    }

    /// Whether the shell's wake-up at a backoff's end keeps the process
    /// alive (Node): while the tracker drains (a shutdown or an exit, see
    /// [`Tracker::exiting`]), unless sending stopped (403). Other timers
    /// never do.
    pub fn wake_keeps_alive(&self) -> bool {
        self.drains() && !self.stopped
    }

    /// The sequence number the next tracked event will get; events below it
    /// were tracked before now (used to bound a flush).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Validates an event given in the shell's [`entries`] form, fills what
    /// the caller left out, queues it and returns its `event_id`.
    ///
    /// `encoded` holds, in order: the page's dynamic defaults (`p` entries:
    /// page URL, title), the event name (an `event_name` entry), then the
    /// caller's properties. An `event_name` among the properties is ignored.
    ///
    /// Throws nothing for queue problems: an overflow drops the oldest events
    /// and counts them for one `queue_full` notice at the end of the task
    /// (see [`Tracker::needs_end_of_task`]).
    #[inline(always)]
    pub fn track_encoded(&mut self, now_ms: i64, encoded: &str) -> Result<String, Error> {
        // One error built for the two refusals (one call, one copy).
        let refused = if self.state == Lifecycle::Closed {
            Some((ErrorCode::TrackerClosed, "the tracker was shut down"))
        } else if self.holding() {
            Some((
                ErrorCode::InvalidValue,
                "track() inside beforeSend: return the event instead",
            ))
        } else {
            None
        };
        if let Some((code, why)) = refused {
            return Err(Error::new(code, why));
        }
        let mut id = self.rng.uuid();
        let with_session = self.touch_session(now_ms);

        // The defaults, in the order they end the event's JSON: event_id
        // and timestamp, then from [`SHARED_AT`] on what is the same for
        // every event of a page, stored once per page (see
        // `store::split_shared`): user_id, shared properties, session and
        // sample rate, the page's, then the environment's.
        let mut defaults: Vec<(&str, RawValue)> = Vec::with_capacity(12 + self.env_defaults.len());
        // The caller's own event_id (defaults[0]) and user_id (defaults[2])
        // win. (None of the three can be a shared property.)
        defaults.push((event::EVENT_ID, RawValue::Str(&id)));
        // A number (exact: epoch ms are below 2^53), not text: nothing to
        // write or parse per event; absent (never written) when the server
        // sets the time.
        let time = if self.cfg.server_timestamp {
            RawValue::Absent
        } else {
            RawValue::Num(now_ms as f64)
        };
        defaults.push((event::TIMESTAMP, time));
        defaults.push((event::USER_ID, RawValue::Str(&self.user_id)));
        let x = &self.x;
        x.lead_defaults(&self.cfg, with_session, &mut defaults);
        // The page's defaults (at most 4: URL, title, a page view's
        // referrer) come first in `encoded`, then the event name.
        let page_at = defaults.len();
        let mut it = entries::parse(encoded);
        let event_name = loop {
            match it.next() {
                Some(Ok(Entry::Default(k, v))) => {
                    // An empty one is not sent (`Extras::add`): not counted.
                    if defaults.len() < page_at + 4 {
                        x.add(&mut defaults, k, v, false);
                    }
                }
                Some(Ok(Entry::Prop(_, v))) => break v,
                Some(Err(e)) => return Err(e),
                None => break RawValue::Absent,
            }
        };
        let rest = it.remainder();
        let env_at = defaults.len();
        for (k, v, numeric) in &self.env_defaults {
            // A shared property, or a page default (a page view's
            // referring_url), of the same name wins.
            let paged = env_at > page_at + 2
                && defaults
                    .get(page_at..env_at)
                    .is_some_and(|p| p.iter().any(|(p, _)| p == k));
            if !paged {
                x.add(&mut defaults, k, v, *numeric);
            }
        }
        let opts = ValidateOptions {
            server_timestamp: self.cfg.server_timestamp,
            now_ms: Some(now_ms),
        };
        self.scratch.clear();
        let (time, given) = Props::new(rest).validate(&mut self.scratch, Some(event_name), &defaults, &opts)?;
        let shared = shared_keys(&defaults, given, page_at);
        own_id(&mut id, given, rest);
        Ok(self.admit(rest, given & 4 != 0, id, time.unwrap_or(i64::MAX), shared))
    }

    /// The problems found since the last call: dropped, expired or refused
    /// events, with the events dropped by overflow since then as one
    /// `queue_full` notice with their count. The shell passes each to
    /// `onError`: right away when [`Tracker::report_now`] says so, and at the
    /// end of every task that [`Tracker::needs_end_of_task`].
    pub fn take_notices(&mut self) -> Vec<Error> {
        if self.q.overflowed > 0 {
            let n = core::mem::take(&mut self.q.overflowed);
            self.notices.push(counted(
                ErrorCode::QueueFull,
                n as usize,
                "oldest event(s) dropped: maxQueueSize reached",
            ));
        }
        core::mem::take(&mut self.notices)
    }

    /// Whether there are notices waiting.
    pub fn has_notices(&self) -> bool {
        self.q.overflowed > 0 || !self.notices.is_empty()
    }

    /// Whether notices wait that are reported as soon as they arise (a
    /// refused or expired batch). An overflow is not one of them: a burst of
    /// calls that overflows the queue is reported once, at the end of its
    /// task, with the count, so that overflowing costs no more per call than
    /// queueing.
    pub fn report_now(&self) -> bool {
        !self.notices.is_empty()
    }

    /// Whether the shell is to call back at the end of the current task:
    /// an overflow to report, or (when it keeps a `durable` queue) events to
    /// write to storage.
    #[inline(always)]
    pub fn needs_end_of_task(&self, durable: bool) -> bool {
        self.q.overflowed > 0 || (durable && self.needs_persist())
    }

    /// Leaves a notice for `onError`.
    pub fn notice(&mut self, e: Error) {
        self.notices.push(e);
    }
}

/// The caller's first string property named `key` among entries.
#[inline(always)]
pub(crate) fn caller_str<'a>(encoded: &'a str, key: &str) -> Option<&'a str> {
    for (k, v) in Props::new(encoded) {
        if let RawValue::Str(v) = v {
            if *k == *key {
                return Some(v);
            }
        }
    }
    None
}

/// Where the defaults stored once per page start in `track_encoded`'s
/// list: after `event_id` and the timestamp.
const SHARED_AT: usize = 2;

/// How many of `defaults` end the event's JSON as the part stored once per
/// page: those from [`SHARED_AT`] on (none of them is empty or absent,
/// which the validator would leave out) that follow the last one the
/// caller gave itself (which is not written: the caller's comes earlier,
/// among its own properties), so that a site that passes its own user_id
/// to every event shares the rest. 0, stored whole, when the caller gave
/// one of the page's or environment's defaults (from `page_at` on: a rare
/// override, whose few keys after it are not worth a context of their own)
/// or validation's `given` cannot tell.
fn shared_keys(defaults: &[(&str, RawValue)], given: u64, page_at: usize) -> u8 {
    let n = defaults.len();
    // Just after the last default the caller gave.
    let from = SHARED_AT.max(64 - given.leading_zeros() as usize);
    if n <= 64 && from <= page_at {
        n.saturating_sub(from) as u8
    } else {
        0
    }
}

/// Makes `id` the caller's own `event_id` when validation's `given` says
/// there is one (bit 0; it was checked to be a non-empty string): the id to
/// return.
#[inline(always)]
fn own_id(id: &mut String, given: u64, encoded: &str) {
    if given & 1 != 0 {
        if let Some(theirs) = caller_str(encoded, event::EVENT_ID) {
            id.clear();
            id.push_str(theirs);
        }
    }
}

/// A notice about `n` events: `"<n> <what>"`, with the count.
pub(crate) fn counted(code: ErrorCode, n: usize, what: &str) -> Error {
    let mut m = String::new();
    num::push_u64(&mut m, n as u64);
    m.push(' ');
    m.push_str(what);
    Error::new(code, m).with_count(n as u32)
}

/// A `request_failed` notice: `"<n> event(s) of a batch <why> (HTTP status <status>)"`.
#[inline(always)]
fn request_failed(n: usize, status: u16, why: &str) -> Error {
    let mut e = counted(ErrorCode::RequestFailed, n, "event(s) of a batch ");
    e.message.push_str(why);
    e.message.push_str(" (HTTP status ");
    num::push_u64(&mut e.message, u64::from(status));
    e.message.push(')');
    e.with_status(status)
}

#[cfg(test)]
mod tests;
