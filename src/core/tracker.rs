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
use alloc::collections::VecDeque;

use crate::core::batch::{self, BodyFormat};
use crate::core::config::Config;
use crate::core::entries::{self, Entry};
use crate::core::error::{Error, ErrorCode};
use crate::core::event::{self, RawValue, ValidateOptions};
use crate::core::json;
use crate::core::num;
use crate::core::retry::{self, Backoff, Verdict};
use crate::core::store;
use crate::core::timestamp::MAX_PAST_MS;

mod privacy;
pub use privacy::MAX_SHARED;

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
    /// Events in a request that failed (retried later or given up).
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
    /// Events carried by requests that failed (each failure counted).
    pub failed: u64,
}

struct Slot {
    seq: u64,
    json: String,
    cost: usize,
    /// Event time, for the 30-day window; `i64::MAX` when the server sets it.
    time: i64,
    /// The request carrying it, 0 when none.
    flight: u64,
    done: bool,
    /// What writing it to durable storage counted against the budget (its
    /// stored text and key); 0 while it is not stored.
    stored: u32,
}

struct Flight {
    id: u64,
    events: usize,
    bytes: usize,
    keepalive: bool,
    /// Sent at page hide, beside the one regular request: its outcome does
    /// not touch the retry state.
    unload: bool,
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

    /// Appends a random version-4 UUID, lower-case hex with dashes.
    fn uuid(&mut self, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for i in 0..4u32 {
            let mut w = self.next();
            if i == 1 {
                w = (w & 0xffff_0fff) | 0x4000; // version 4
            } else if i == 2 {
                w = (w & 0x3fff_ffff) | 0x8000_0000; // variant 10
            }
            for nibble in 0..8u32 {
                if (i == 1 || i == 2) && nibble % 4 == 0 {
                    out.push('-');
                }
                let d = w.wrapping_shr(28 - nibble * 4) & 15;
                out.push(char::from(HEX.get(d as usize).copied().unwrap_or(b'0')));
            }
        }
    }
}

/// The tracker's state: the queue, what is in flight, backoff and notices.
pub struct Tracker {
    cfg: Config,
    backoff: Backoff,
    queue: VecDeque<Slot>,
    live: usize,
    next_seq: u64,
    next_id: u64,
    flights: Vec<Flight>,
    tries: u32,
    split_limit: Option<usize>,
    retry_at: i64,
    stopped: bool,
    state: Lifecycle,
    rng: Rng,
    user_id: String,
    /// Properties the environment fills, once per tracker: name, value, and
    /// whether the value is a JSON number (decided here, not on every track).
    env_defaults: Vec<(String, String, bool)>,
    overflowed: u32,
    /// Events with a lower sequence number are done or in flight (see `drop_oldest`).
    drop_from: u64,
    notices: Vec<Error>,
    scratch: String,
    stats: Stats,
    /// Stored events that left the queue: their keys are to be removed, and
    /// what each counted against the storage budget.
    unstore: Vec<(u64, u32)>,
    /// The environment defaults as they end every event's JSON that did not
    /// override one of them (`"k":v,...`, no braces); with the page's own
    /// defaults before them, the part of an event stored once per page as a
    /// context (see [`store::split_shared`]) instead of once per event.
    ctx_tail: String,
    /// The context stored last: its number and shared part.
    ctx: Option<(u64, String)>,
    /// How many contexts were stored (numbers never repeat).
    ctx_count: u64,
    /// Whether stored events may leave out their shared part (off once a
    /// context could not be stored).
    compact: bool,
    /// What this tracker's stored events take, and may take, in storage.
    stored_bytes: usize,
    storage_budget: usize,
    /// The budget stopped a write; reported once until everything fits again.
    over_budget: bool,
    /// Events from this sequence number on may not be written to storage yet.
    unstored_since: u64,
    /// Bytes of keepalive bodies that may be in flight at once; 0 outside a page.
    keepalive_budget: usize,
    /// Keepalive requests that failed with a network error: their events stay
    /// theirs until the next try (see [`Tracker::on_response`]).
    held: Vec<u64>,
    /// Opt-out, sessions, shared properties, sampling, page views, beforeSend.
    x: privacy::Extras,
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
    pub fn new(cfg: Config, seed: [u32; 4], anonymous_id: Option<String>, env_defaults: Vec<(String, String)>) -> Self {
        let mut rng = Rng(if seed == [0; 4] { [1, 2, 3, 4] } else { seed });
        let user_id = cfg.user_id.clone().or(anonymous_id).unwrap_or_else(|| {
            let mut id = String::with_capacity(36);
            rng.uuid(&mut id);
            id
        });
        let mut defaults = Vec::new();
        if let Some(ip) = &cfg.session_ip {
            defaults.push(("session_ip".to_string(), ip.clone()));
        }
        for (k, v) in env_defaults {
            let v = match (k.as_str(), &cfg.session_dua) {
                ("session_dua", Some(dua)) => dua.clone(),
                _ => v,
            };
            defaults.push((k, v));
        }
        if let Some(dua) = &cfg.session_dua {
            if !defaults.iter().any(|(k, _)| k == "session_dua") {
                defaults.push(("session_dua".to_string(), dua.clone()));
            }
        }
        // Empty values are never sent; the time zone offset is a number of
        // hours, as CoolaData's tracker sends it.
        let defaults: Vec<(String, String, bool)> = defaults
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                let numeric = k == "event_timezone_offset" && num::is_json_number(&v);
                (k, v, numeric)
            })
            .collect();
        let mut ctx_tail = String::new();
        for (k, v, numeric) in &defaults {
            if !ctx_tail.is_empty() {
                ctx_tail.push(',');
            }
            json::push_str(&mut ctx_tail, k);
            ctx_tail.push(':');
            if *numeric {
                ctx_tail.push_str(v);
            } else {
                json::push_str(&mut ctx_tail, v);
            }
        }
        let backoff = Backoff {
            base_ms: cfg.retry_base_ms,
            cap_ms: cfg.retry_max_ms,
            ..Backoff::default()
        };
        Tracker {
            x: privacy::Extras::new(&cfg),
            cfg,
            backoff,
            queue: VecDeque::new(),
            live: 0,
            next_seq: 1,
            next_id: 1,
            flights: Vec::new(),
            tries: 0,
            split_limit: None,
            retry_at: i64::MIN,
            stopped: false,
            state: Lifecycle::Running,
            rng,
            user_id,
            env_defaults: defaults,
            overflowed: 0,
            drop_from: 0,
            notices: Vec::new(),
            scratch: String::new(),
            stats: Stats::default(),
            unstore: Vec::new(),
            unstored_since: u64::MAX,
            ctx_tail,
            ctx: None,
            ctx_count: 0,
            compact: true,
            stored_bytes: 0,
            storage_budget: STORAGE_BUDGET,
            over_budget: false,
            keepalive_budget: 0,
            held: Vec::new(),
        }
    }

    /// In a page: the browser's allowance for keepalive bodies in flight.
    /// From then on every request whose body fits it (with the keepalive
    /// requests already in flight) is sent with `keepalive`.
    pub fn set_keepalive_budget(&mut self, bytes: usize) {
        self.keepalive_budget = bytes;
    }

    fn keepalive_bytes(&self) -> usize {
        self.flights.iter().filter(|f| f.keepalive).map(|f| f.bytes).sum()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The user id given to events that carry none.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// Sets the user id given to events that carry none.
    pub fn set_user_id(&mut self, id: &str) -> Result<(), Error> {
        if id.is_empty() {
            return Err(Error::field(
                ErrorCode::InvalidValue,
                "userId",
                "must be a non-empty string",
            ));
        }
        self.user_id = id.to_string();
        self.x.anonymous = false;
        Ok(())
    }

    /// Events queued and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.live
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
    pub fn close(&mut self) {
        self.state = Lifecycle::Closed;
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
    pub fn track_encoded(&mut self, now_ms: i64, encoded: &str) -> Result<String, Error> {
        if self.state == Lifecycle::Closed {
            return Err(Error::new(
                ErrorCode::TrackerClosed,
                "the tracker was shut down: create a new one to track more events",
            ));
        }
        self.check_not_held()?;
        let mut page: [(&str, &str); 4] = [("", ""); 4];
        let mut n_page = 0;
        let mut it = entries::parse(encoded);
        let mut event_name = None;
        loop {
            let before = it.remainder();
            match it.next() {
                Some(Ok(Entry::Default(k, v))) if n_page < page.len() => {
                    if let Some(slot) = page.get_mut(n_page) {
                        *slot = (k, v);
                    }
                    n_page += 1;
                }
                Some(Ok(Entry::Prop(_, v))) => {
                    event_name = Some(v);
                    break;
                }
                Some(Err(e)) => return Err(e),
                _ => {
                    it = entries::parse(before);
                    break;
                }
            }
        }
        let event_name = event_name.unwrap_or(RawValue::Absent);
        let rest = it.remainder();
        let mut id = String::with_capacity(36);
        self.rng.uuid(&mut id);
        let mut now_text = String::new();
        num::push_i64(&mut now_text, now_ms);

        let with_session = self.touch_session(now_ms);
        let mut defaults: Vec<(&str, RawValue)> = Vec::with_capacity(6 + n_page + self.env_defaults.len());
        self.x.lead_defaults(&self.cfg, with_session, &mut defaults);
        // Where the event_id default is (after the shared properties, the
        // session and the sample rate): the caller's own wins, see below.
        let id_at = defaults.len();
        defaults.push(("event_id", RawValue::Str(&id)));
        defaults.push((event::USER_ID, RawValue::Str(&self.user_id)));
        if !self.cfg.server_timestamp {
            defaults.push((event::TIMESTAMP, RawValue::NumText(&now_text)));
        }
        for (k, v) in page.iter().take(n_page) {
            if !self.x.shares(k) {
                defaults.push((k, RawValue::Str(v)));
            }
        }
        for (k, v, numeric) in &self.env_defaults {
            // A shared property, or a page default (a page view's
            // referring_url), of the same name wins.
            if self.x.shares(k) || (n_page > 2 && page.iter().take(n_page).any(|(p, _)| p == k)) {
                continue;
            }
            defaults.push((
                k,
                if *numeric {
                    RawValue::NumText(v)
                } else {
                    RawValue::Str(v)
                },
            ));
        }
        let opts = ValidateOptions {
            server_timestamp: self.cfg.server_timestamp,
            now_ms: Some(now_ms),
        };
        let mut err = None;
        let props = privacy::Props::new(rest, &mut err);
        self.scratch.clear();
        let r = event::validate_with_defaults(&mut self.scratch, Some(event_name), props, &defaults, &opts);
        if let Some(e) = err {
            return Err(e);
        }
        let (time, given) = r?;
        let time = time.unwrap_or(i64::MAX);
        // A caller's own event_id (defaults[id_at]) wins, and was checked to
        // be a non-empty string: it is the id to return.
        if given & 1u64.checked_shl(id_at as u32).unwrap_or(0) != 0 {
            if let Some(theirs) = caller_event_id(rest) {
                id.clear();
                id.push_str(theirs);
            }
        }
        Ok(self.admit(rest, id, time))
    }

    /// Queues one already validated event JSON (used for events restored
    /// from storage). `time` is its event time in epoch ms.
    pub fn push(&mut self, json: String, time: i64) {
        let cost = self.cfg.body_format.event_cost(&json);
        self.queue.push_back(Slot {
            seq: self.next_seq,
            json,
            cost,
            time,
            flight: 0,
            done: false,
            stored: 0,
        });
        self.unstored_since = self.unstored_since.min(self.next_seq);
        self.next_seq += 1;
        self.live += 1;
        self.stats.tracked += 1;
        while self.live > self.cfg.max_queue_size {
            if !self.drop_oldest() {
                break;
            }
        }
    }

    fn drop_oldest(&mut self) -> bool {
        // Every event below `drop_from` is done or in flight: an overflowing
        // burst does not scan the ones it already dropped again.
        let from = self.queue.partition_point(|s| s.seq < self.drop_from);
        let Some(slot) = self.queue.iter_mut().skip(from).find(|s| !s.done && s.flight == 0) else {
            return false;
        };
        self.drop_from = slot.seq + 1;
        slot.done = true;
        if slot.stored > 0 {
            self.unstore.push((slot.seq, slot.stored));
        }
        self.live -= 1;
        self.overflowed += 1;
        self.stats.dropped += 1;
        self.compact();
        true
    }

    fn compact(&mut self) {
        while self.queue.front().is_some_and(|s| s.done) {
            self.queue.pop_front();
        }
    }

    /// Whether a full batch is waiting and nothing is in flight: the shell
    /// should send now rather than wait for the timer.
    pub fn batch_ready(&self, now_ms: i64) -> bool {
        self.flights.is_empty() && !self.stopped && now_ms >= self.retry_at && self.live >= self.cfg.batch_size
    }

    /// When the next retry is allowed (after a failure), if later than `now_ms`.
    pub fn retry_at(&self, now_ms: i64) -> Option<i64> {
        (self.retry_at > now_ms).then_some(self.retry_at)
    }

    /// Whether a request is in flight.
    pub fn in_flight(&self) -> bool {
        !self.flights.is_empty()
    }

    /// The next request to send, or `None` when there is nothing to send,
    /// a request is in flight, sending is stopped (403), or (unless `force`)
    /// a backoff is running. Only events with a sequence number below
    /// `before_seq` are taken, when given.
    pub fn next_request(&mut self, now_ms: i64, force: bool, before_seq: Option<u64>) -> Option<Request> {
        if !self.flights.is_empty() || self.stopped || (!force && now_ms < self.retry_at) {
            return None;
        }
        for id in core::mem::take(&mut self.held) {
            self.release(id);
        }
        self.expire(now_ms);
        let limit = self.split_limit.unwrap_or(self.cfg.batch_size);
        let bound = before_seq.unwrap_or(u64::MAX);
        let fmt = self.cfg.body_format;
        let n = batch::take(
            self.queue.iter().filter(|s| !s.done && s.seq < bound).map(|s| s.cost),
            limit,
            None,
            fmt,
        );
        if n == 0 {
            return None;
        }
        let id = self.next_id;
        Some(self.launch(id, n, bound, false))
    }

    fn launch(&mut self, id: u64, n: usize, bound: u64, unload: bool) -> Request {
        self.next_id += 1;
        let mut json = String::new();
        let picked = self
            .queue
            .iter_mut()
            .filter(|s| !s.done && s.flight == 0 && s.seq < bound)
            .take(n);
        let mut jsons: Vec<&str> = Vec::with_capacity(n);
        // The encoded size from the events' costs: nothing is encoded here.
        let mut bytes = self.cfg.body_format.overhead();
        for s in picked {
            s.flight = id;
            bytes += s.cost;
            jsons.push(&s.json);
        }
        bytes = bytes.saturating_sub(3);
        json.reserve(jsons.iter().map(|j| j.len() + 1).sum::<usize>() + 16);
        batch::write_json(&mut json, jsons);
        let keepalive = unload || bytes.saturating_add(self.keepalive_bytes()) <= self.keepalive_budget;
        self.flights.push(Flight {
            id,
            events: n,
            bytes,
            keepalive,
            unload,
        });
        self.stats.requests += 1;
        if self.tries > 0 && !unload {
            self.stats.retries += 1;
        }
        Request {
            id,
            json,
            bytes,
            events: n,
            keepalive,
        }
    }

    /// Requests for everything not on its way, for a page that is going away:
    /// batches of at most `batchSize` events whose bodies, together with the
    /// keepalive requests already in flight, stay within `budget` bytes (the
    /// browser's 64 KiB keepalive allowance). What does not fit stays queued.
    ///
    /// A request in flight with `keepalive` survives the page and is left
    /// alone; one without it dies with the page, so its events are sent again
    /// here (its answer, should it still come, is ignored).
    pub fn unload_requests(&mut self, now_ms: i64, budget: usize) -> Vec<Request> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        while let Some(pos) = self.flights.iter().position(|f| !f.keepalive) {
            let f = self.flights.swap_remove(pos);
            self.release(f.id);
        }
        self.expire(now_ms);
        let fmt = self.cfg.body_format;
        let mut left = budget.saturating_sub(self.keepalive_bytes());
        loop {
            let n = batch::take(
                self.queue.iter().filter(|s| !s.done && s.flight == 0).map(|s| s.cost),
                self.cfg.batch_size,
                Some(left),
                fmt,
            );
            if n == 0 {
                break;
            }
            let size: usize = fmt.overhead()
                + self
                    .queue
                    .iter()
                    .filter(|s| !s.done && s.flight == 0)
                    .take(n)
                    .map(|s| s.cost)
                    .sum::<usize>()
                - 3;
            if size > left {
                break;
            }
            let id = self.next_id;
            let req = self.launch(id, n, u64::MAX, true);
            left -= req.bytes;
            out.push(req);
        }
        out
    }

    /// Drops events that fell out of CoolaData's 30-day window while queued.
    fn expire(&mut self, now_ms: i64) {
        if self.cfg.server_timestamp {
            return;
        }
        let oldest = now_ms.saturating_sub(MAX_PAST_MS);
        let mut n = 0u32;
        for s in self
            .queue
            .iter_mut()
            .filter(|s| !s.done && s.flight == 0 && s.time < oldest)
        {
            s.done = true;
            if s.stored > 0 {
                self.unstore.push((s.seq, s.stored));
            }
            n += 1;
        }
        if n > 0 {
            self.live -= n as usize;
            self.stats.dropped += u64::from(n);
            self.compact();
            let mut m = String::new();
            num::push_u64(&mut m, u64::from(n));
            m.push_str(" queued event(s) dropped: older than 30 days, which CoolaData refuses");
            self.notices.push(Error::new(ErrorCode::EventExpired, m).with_count(n));
        }
    }

    /// Tells the tracker how request `id` ended. `status` is the HTTP status,
    /// 0 for a network error; `retry_after` the `Retry-After` header;
    /// `status_false` whether a 2xx body said `"status": false`.
    ///
    /// A keepalive request that failed with a network error may be one the
    /// page stopped following as it goes away (Chrome rejects every fetch at
    /// page hide, and a keepalive request goes on): its events stay with it
    /// until the next try, so that the page-hide flush does not send them a
    /// second time. If the page lives on, the next try sends them as usual.
    pub fn on_response(
        &mut self,
        id: u64,
        now_ms: i64,
        status: u16,
        retry_after: Option<&str>,
        status_false: bool,
    ) -> Outcome {
        let Some(pos) = self.flights.iter().position(|f| f.id == id) else {
            return Outcome::default();
        };
        let flight = self.flights.swap_remove(pos);
        let n = flight.events;
        let mut verdict = retry::classify(status, status_false);
        if verdict == Verdict::Split && n <= 1 {
            verdict = Verdict::Reject;
        }
        if verdict != Verdict::Ack {
            self.stats.failed += n as u64;
        }
        match verdict {
            Verdict::Ack => {
                self.finish(id);
                self.stats.delivered += n as u64;
                if !flight.unload {
                    self.tries = 0;
                    self.split_limit = None;
                    self.retry_at = i64::MIN;
                }
                return Outcome { sent: n, failed: 0 };
            }
            Verdict::Retry => {
                if flight.unload {
                    self.release(id);
                    return Outcome { sent: 0, failed: n };
                }
                self.tries += 1;
                if self.tries >= self.cfg.max_tries {
                    self.release(id);
                    self.tries = 0;
                    self.give_up_front(n, status, "was given up after the most tries allowed (maxRetries)");
                } else {
                    if status == 0 && flight.keepalive {
                        self.held.push(id);
                    } else {
                        self.release(id);
                    }
                    let jitter = retry::backoff_ms(&self.backoff, self.tries, self.rng.next());
                    let after = retry_after
                        .and_then(|h| retry::retry_after_ms(&self.backoff, h, now_ms))
                        .unwrap_or(0);
                    self.retry_at = now_ms.saturating_add(jitter.max(after) as i64);
                }
            }
            Verdict::Split => {
                self.release(id);
                self.split_limit = Some((n / 2).max(1));
                self.retry_at = i64::MIN;
            }
            Verdict::Reject => {
                self.finish(id);
                // The next batch has nothing to do with this one: no backoff.
                if !flight.unload {
                    self.tries = 0;
                    self.retry_at = i64::MIN;
                }
                self.stats.dropped += n as u64;
                self.notices.push(request_failed(
                    n,
                    status,
                    if status_false {
                        "was refused: the collector answered \"status\": false"
                    } else {
                        "was refused by the collector; retrying cannot succeed"
                    },
                ));
            }
            Verdict::Stop => {
                self.release(id);
                if !self.stopped {
                    self.stopped = true;
                    self.notices.push(request_failed(
                        n,
                        status,
                        "was refused with 403: the app key is not valid. Sending stopped until the tracker is recreated; events are kept",
                    ));
                }
            }
        }
        Outcome { sent: 0, failed: n }
    }

    fn finish(&mut self, id: u64) {
        let mut n = 0;
        for s in self.queue.iter_mut().filter(|s| s.flight == id) {
            s.done = true;
            s.flight = 0;
            if s.stored > 0 {
                self.unstore.push((s.seq, s.stored));
            }
            n += 1;
        }
        self.live -= n;
        self.compact();
    }

    fn release(&mut self, id: u64) {
        for s in self.queue.iter_mut().filter(|s| s.flight == id) {
            s.flight = 0;
        }
        // Its events may be dropped again.
        self.drop_from = 0;
    }

    fn give_up_front(&mut self, n: usize, status: u16, why: &str) {
        let mut dropped = 0;
        for s in self.queue.iter_mut().filter(|s| !s.done && s.flight == 0).take(n) {
            s.done = true;
            if s.stored > 0 {
                self.unstore.push((s.seq, s.stored));
            }
            dropped += 1;
        }
        self.live -= dropped;
        self.stats.dropped += dropped as u64;
        self.compact();
        self.notices.push(request_failed(dropped, status, why));
    }

    /// The problems found since the last call: dropped, expired or refused
    /// events, with the events dropped by overflow since then as one
    /// `queue_full` notice with their count. The shell passes each to
    /// `onError`: right away when [`Tracker::report_now`] says so, and at the
    /// end of every task that [`Tracker::needs_end_of_task`].
    pub fn take_notices(&mut self) -> Vec<Error> {
        if self.overflowed > 0 {
            let n = self.overflowed;
            self.overflowed = 0;
            let mut m = String::new();
            num::push_u64(&mut m, u64::from(n));
            m.push_str(" oldest event(s) dropped: the queue reached maxQueueSize");
            self.notices.push(Error::new(ErrorCode::QueueFull, m).with_count(n));
        }
        core::mem::take(&mut self.notices)
    }

    /// Whether there are notices waiting.
    pub fn has_notices(&self) -> bool {
        self.overflowed > 0 || !self.notices.is_empty()
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
    pub fn needs_end_of_task(&self, durable: bool) -> bool {
        self.overflowed > 0 || (durable && self.needs_persist())
    }

    /// Brings durable storage up to date: `put(seq, json)` for each queued
    /// event not yet written (it returns false when the write failed, e.g.
    /// the quota is full: the event stays queued in memory and the write is
    /// tried again next time), and `remove(seq)` for each written event that
    /// left the queue. Cost is proportional to what changed, not to the queue.
    pub fn persist(
        &mut self,
        mut put: impl FnMut(u64, &str) -> bool,
        mut put_context: impl FnMut(u64, &str) -> bool,
        mut remove: impl FnMut(u64),
    ) -> bool {
        let mut ok = true;
        for (seq, bytes) in self.unstore.drain(..) {
            remove(seq);
            self.stored_bytes = self.stored_bytes.saturating_sub(bytes as usize);
        }
        if self.unstored_since != u64::MAX {
            let from = self.queue.partition_point(|s| s.seq < self.unstored_since);
            self.unstored_since = u64::MAX;
            let mut kept = 0u32;
            for s in self.queue.iter_mut().skip(from) {
                if s.done || s.stored > 0 {
                    continue;
                }
                if kept > 0 {
                    kept += 1;
                    continue;
                }
                // The event's own part, and the number of the context that
                // holds the rest (a new one when the page's part changed).
                let mut text = None;
                if let Some((head, shared)) = self
                    .compact
                    .then(|| store::split_shared(&s.json, &self.ctx_tail))
                    .flatten()
                {
                    let n = match &self.ctx {
                        Some((n, c)) if c == shared => Some(*n),
                        _ => {
                            let n = self.ctx_count + 1;
                            let ctx = store::context_json(shared);
                            if put_context(n, &ctx) {
                                self.ctx_count = n;
                                self.stored_bytes += ctx.len() + store::KEY_BYTES;
                                self.ctx = Some((n, shared.to_string()));
                                Some(n)
                            } else {
                                self.compact = false;
                                None
                            }
                        }
                    };
                    text = n.map(|n| store::compacted(head, n));
                }
                let text = text.as_deref().unwrap_or(&s.json);
                let bytes = text.len() + store::KEY_BYTES;
                if self.stored_bytes + bytes > self.storage_budget {
                    // Over the budget: this one and the rest stay in memory
                    // only, until acknowledged events make room.
                    self.unstored_since = s.seq;
                    kept = 1;
                    continue;
                }
                if put(s.seq, text) {
                    s.stored = bytes as u32;
                    self.stored_bytes += bytes;
                } else {
                    ok = false;
                    self.unstored_since = s.seq;
                    break;
                }
            }
            if kept > 0 {
                ok = false;
                if !self.over_budget {
                    self.over_budget = true;
                    let mut m = String::from("the tracker's share of localStorage (");
                    num::push_u64(&mut m, self.storage_budget as u64);
                    m.push_str(" bytes) is full: ");
                    num::push_u64(&mut m, u64::from(kept));
                    m.push_str(" queued event(s) are kept in memory only, and stored as sent events make room");
                    self.notices
                        .push(Error::new(ErrorCode::StorageError, m).with_count(kept));
                }
            } else if ok {
                self.over_budget = false;
            }
        }
        ok
    }

    /// The stored contexts may be gone (the page was hidden, and another
    /// tab may have claimed its events and removed them): the next event
    /// stored writes its context again, under a new number.
    pub fn context_lost(&mut self) {
        self.ctx = None;
    }

    /// The numbers of the contexts this tracker stored (for removing them).
    pub fn contexts_stored(&self) -> core::ops::RangeInclusive<u64> {
        1..=self.ctx_count
    }

    /// Whether the storage budget (not a refusal of the storage itself) kept
    /// the last [`Tracker::persist`] from writing everything.
    pub fn over_budget(&self) -> bool {
        self.over_budget
    }

    /// What this tracker's stored events take in storage, as counted
    /// against the budget (stored text plus [`store::KEY_BYTES`] an event).
    pub fn stored_bytes(&self) -> usize {
        self.stored_bytes
    }

    /// Sets the storage budget in bytes (default [`STORAGE_BUDGET`]).
    pub fn set_storage_budget(&mut self, bytes: usize) {
        self.storage_budget = bytes;
    }

    /// Whether [`Tracker::persist`] has anything to do.
    pub fn needs_persist(&self) -> bool {
        self.unstored_since != u64::MAX || !self.unstore.is_empty()
    }

    /// Queues an event read back from storage (see [`crate::core::store::restore`]).
    pub fn restore(&mut self, json: String, time: i64) {
        self.push(json, time);
        self.stats.tracked -= 1;
    }

    /// Leaves a notice for `onError`.
    pub fn notice(&mut self, e: Error) {
        self.notices.push(e);
    }

    /// The JSON of every event still queued, oldest first (for persistence
    /// and inspection).
    pub fn queued(&self) -> impl Iterator<Item = (u64, &str)> {
        self.queue.iter().filter(|s| !s.done).map(|s| (s.seq, s.json.as_str()))
    }
}

/// The `event_id` among the caller's properties, if it gave one as a string.
fn caller_event_id(encoded: &str) -> Option<&str> {
    entries::parse(encoded).find_map(|e| match e {
        Ok(Entry::Prop("event_id", RawValue::Str(v))) => Some(v),
        _ => None,
    })
}

fn request_failed(n: usize, status: u16, why: &str) -> Error {
    let mut m = String::from("a batch of ");
    num::push_u64(&mut m, n as u64);
    m.push_str(" event(s) ");
    m.push_str(why);
    m.push_str(" (HTTP status ");
    num::push_u64(&mut m, u64::from(status));
    m.push(')');
    Error::new(ErrorCode::RequestFailed, m)
        .with_status(status)
        .with_count(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::OptValue;
    use crate::core::entries::tests::write;
    use crate::core::form::tests::decode;

    pub(super) const T0: i64 = 1_800_000_000_000;

    pub(super) fn tracker(opts: &[(&str, OptValue)]) -> Tracker {
        let mut cfg = Config::default();
        cfg.set("appKey", &OptValue::Str("k".into())).unwrap();
        for (k, v) in opts {
            cfg.set(k, v).unwrap();
        }
        Tracker::new(cfg.finish().unwrap(), [7, 7, 7, 7], Some("anon".into()), vec![])
    }

    fn num(n: f64) -> OptValue {
        OptValue::Num(n)
    }

    pub(super) fn track(t: &mut Tracker, now: i64, i: usize) -> String {
        let enc = write('s', "event_name", "e") + &write('n', "i", &i.to_string());
        t.track_encoded(now, &enc).unwrap()
    }

    pub(super) fn events(body: &str) -> Vec<serde_json::Value> {
        let json = decode(body.strip_prefix("data=").unwrap(), true);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["events"].as_array().unwrap().clone()
    }

    #[test]
    fn fills_and_queues() {
        let mut t = tracker(&[("sessionIp", OptValue::Str("0".into()))]);
        t.env_defaults
            .push(("event_timezone_offset".into(), "5.5".into(), true));
        let enc = write('p', "page_url", "https://x/") + &write('s', "event_name", "buy") + &write('b', "vip", "true");
        let id = t.track_encoded(T0, &enc).unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_eq!([8, 13, 18, 23].map(|i| &id[i..i + 1]), ["-"; 4]);
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        let req = t.next_request(T0, false, None).unwrap();
        let e = &events(&req.body(BodyFormat::Form))[0];
        assert_eq!(e["event_timezone_offset"], 5.5);
        assert_eq!(e["event_name"], "buy");
        assert_eq!(e["vip"], "true");
        assert_eq!(e["event_id"], id.as_str());
        assert_eq!(e["user_id"], "anon");
        assert_eq!(e["event_timestamp_epoch"], T0);
        assert_eq!(e["page_url"], "https://x/");
        assert_eq!(e["session_ip"], "0");
    }

    #[test]
    fn a_callers_event_id_is_sent_and_returned() {
        let mut t = tracker(&[]);
        let enc = write('s', "event_name", "e") + &write('s', "event_id", "mine-1");
        assert_eq!(t.track_encoded(T0, &enc).unwrap(), "mine-1");
        let bad = write('s', "event_name", "e") + &write('n', "event_id", "0.1");
        assert_eq!(t.track_encoded(T0, &bad).unwrap_err().code, ErrorCode::InvalidValue);
        let e = &events(&t.next_request(T0, false, None).unwrap().body(BodyFormat::Form))[0];
        assert_eq!(e["event_id"], "mine-1");
        // With sessions and shared properties, whose defaults come before
        // event_id's, the caller's event_id is still the one returned.
        let mut s = tracker(&[("sessionTimeoutMs", num(1_800_000.0))]);
        s.set_properties(&write('s', "plan", "pro")).unwrap();
        let enc = write('s', "event_name", "e") + &write('s', "event_id", "mine-2");
        assert_eq!(s.track_encoded(T0, &enc).unwrap(), "mine-2");
        let enc = write('s', "event_name", "e") + &write('s', "session_id", "theirs");
        let generated = s.track_encoded(T0, &enc).unwrap();
        assert_eq!(
            generated.len(),
            36,
            "no caller event_id: the generated one ({generated})"
        );
        let r = s.next_request(T0, false, None).unwrap();
        let sent = events(&r.body(BodyFormat::Form));
        assert_eq!(
            (sent[0]["event_id"].as_str(), sent[1]["event_id"].as_str()),
            (Some("mine-2"), Some(generated.as_str()))
        );
        assert_eq!(sent[1]["session_id"], "theirs");
    }

    #[test]
    fn caller_wins_and_bad_input_queues_nothing() {
        let mut t = tracker(&[]);
        let enc = write('s', "event_name", "e")
            + &write('s', "user_id", "me")
            + &write('n', "event_timestamp_epoch", "1799999999000");
        t.track_encoded(T0, &enc).unwrap();
        let bad = write('s', "event_name", "e") + &write('o', "cart", "");
        assert_eq!(t.track_encoded(T0, &bad).unwrap_err().code, ErrorCode::NestedProperty);
        let old = write('s', "event_name", "e") + &write('n', "event_timestamp_epoch", "1700000000000");
        assert_eq!(
            t.track_encoded(T0, &old).unwrap_err().code,
            ErrorCode::TimestampOutOfWindow
        );
        assert_eq!(t.pending(), 1);
        let e = &events(&t.next_request(T0, false, None).unwrap().body(BodyFormat::Form))[0];
        assert_eq!(e["user_id"], "me");
        assert_eq!(e["event_timestamp_epoch"], 1_799_999_999_000i64);
    }

    #[test]
    fn batches_of_at_most_batch_size_one_in_flight() {
        let mut t = tracker(&[("batchSize", num(300.0))]);
        for i in 0..650 {
            track(&mut t, T0, i);
        }
        assert!(t.batch_ready(T0));
        let r1 = t.next_request(T0, false, None).unwrap();
        assert_eq!(r1.events, 300);
        assert!(t.next_request(T0, false, None).is_none(), "one request in flight");
        assert_eq!(
            t.on_response(r1.id, T0, 200, None, false),
            Outcome { sent: 300, failed: 0 }
        );
        let r2 = t.next_request(T0, false, None).unwrap();
        assert_eq!(events(&r2.body(BodyFormat::Form))[0]["i"], 300);
        t.on_response(r2.id, T0, 204, None, false);
        let r3 = t.next_request(T0, false, None).unwrap();
        assert_eq!(r3.events, 50);
        t.on_response(r3.id, T0, 200, None, false);
        assert_eq!(t.pending(), 0);
        assert_eq!(t.stats().delivered, 650);
    }

    #[test]
    fn retries_with_backoff_and_retry_after() {
        let mut t = tracker(&[]);
        track(&mut t, T0, 0);
        let r = t.next_request(T0, false, None).unwrap();
        assert_eq!(
            t.on_response(r.id, T0, 503, None, false),
            Outcome { sent: 0, failed: 1 }
        );
        assert_eq!(t.pending(), 1);
        let at = t.retry_at(T0).unwrap_or(T0);
        assert!(at - T0 < 1000);
        assert!(t.next_request(at - 1, false, None).is_none() || at == T0);
        let r = t.next_request(at, false, None).unwrap();
        t.on_response(r.id, at, 429, Some("7"), false);
        assert_eq!(t.retry_at(at), Some(at + 7000));
        assert!(t.next_request(at + 6999, false, None).is_none());
        // An explicit flush ignores the backoff.
        let r = t.next_request(at + 1, true, None).unwrap();
        t.on_response(r.id, at + 1, 200, None, false);
        assert_eq!(t.pending(), 0);
        assert_eq!(t.stats().retries, 2);
        assert!(t.take_notices().is_empty());
    }

    #[test]
    fn gives_up_after_max_tries_and_reports() {
        let mut t = tracker(&[("maxRetries", num(2.0))]);
        track(&mut t, T0, 0);
        for _ in 0..3 {
            let r = t.next_request(T0, true, None).unwrap();
            t.on_response(r.id, T0, 0, None, false);
        }
        assert_eq!(t.pending(), 0);
        let n = t.take_notices();
        assert_eq!(n.len(), 1);
        assert_eq!(
            (n[0].code, n[0].status, n[0].count),
            (ErrorCode::RequestFailed, Some(0), Some(1))
        );
    }

    #[test]
    fn rejects_4xx_and_status_false_without_retry() {
        for (status, status_false) in [(400, false), (422, false), (501, false), (200, true)] {
            let mut t = tracker(&[]);
            track(&mut t, T0, 0);
            let r = t.next_request(T0, false, None).unwrap();
            t.on_response(r.id, T0, status, None, status_false);
            assert_eq!(t.pending(), 0, "{status}");
            let n = t.take_notices();
            assert_eq!(n[0].code, ErrorCode::RequestFailed);
            assert_eq!(n[0].status, Some(status));
            assert!(!n[0].message.contains('k') || !n[0].message.contains("appKey"));
        }
    }

    #[test]
    fn splits_on_413() {
        let mut t = tracker(&[]);
        for i in 0..10 {
            track(&mut t, T0, i);
        }
        let r = t.next_request(T0, false, None).unwrap();
        assert_eq!(r.events, 10);
        t.on_response(r.id, T0, 413, None, false);
        let r = t.next_request(T0, false, None).unwrap();
        assert_eq!(r.events, 5);
        t.on_response(r.id, T0, 200, None, false);
        let r = t.next_request(T0, false, None).unwrap();
        assert_eq!(events(&r.body(BodyFormat::Form))[0]["i"], 5);
        t.on_response(r.id, T0, 200, None, false);
        assert_eq!(t.pending(), 0);
        // A single event that is still too large is given up and reported.
        track(&mut t, T0, 99);
        let r = t.next_request(T0, false, None).unwrap();
        t.on_response(r.id, T0, 413, None, false);
        assert_eq!(t.pending(), 0);
        assert_eq!(t.take_notices()[0].status, Some(413));
    }

    #[test]
    fn stops_on_403_keeps_events_reports_once() {
        let mut t = tracker(&[]);
        track(&mut t, T0, 0);
        track(&mut t, T0, 1);
        let r = t.next_request(T0, false, None).unwrap();
        t.on_response(r.id, T0, 403, None, false);
        assert_eq!(t.pending(), 2);
        assert!(t.next_request(T0 + 1_000_000, true, None).is_none());
        assert!(t.unload_requests(T0, 60_000).is_empty());
        track(&mut t, T0, 2);
        assert_eq!(t.pending(), 3);
        let n = t.take_notices();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].status, Some(403));
    }

    #[test]
    fn overflow_drops_oldest_and_reports_count() {
        let mut t = tracker(&[("maxQueueSize", num(5.0))]);
        for i in 0..8 {
            track(&mut t, T0, i);
        }
        assert_eq!(t.pending(), 5);
        // Reported once for the whole burst, at the end of the task.
        assert!(!t.report_now());
        assert!(t.needs_end_of_task(false));
        let n = t.take_notices();
        assert_eq!(n.len(), 1);
        assert_eq!((n[0].code, n[0].count), (ErrorCode::QueueFull, Some(3)));
        assert!(!t.has_notices());
        track(&mut t, T0, 8);
        assert_eq!(t.take_notices()[0].count, Some(1));
        let r = t.next_request(T0, false, None).unwrap();
        assert_eq!(events(&r.body(BodyFormat::Form))[0]["i"], 4);
    }

    #[test]
    fn expired_events_dropped_at_send_time() {
        let mut t = tracker(&[]);
        track(&mut t, T0, 0);
        let later = T0 + MAX_PAST_MS + 1;
        track(&mut t, later, 1);
        let r = t.next_request(later, false, None).unwrap();
        assert_eq!(r.events, 1);
        assert_eq!(events(&r.body(BodyFormat::Form))[0]["i"], 1);
        let n = t.take_notices();
        assert_eq!((n[0].code, n[0].count), (ErrorCode::EventExpired, Some(1)));
    }

    #[test]
    fn unload_sends_everything_within_the_keepalive_budget() {
        let mut t = tracker(&[("batchSize", num(10.0))]);
        for i in 0..100 {
            track(&mut t, T0, i);
        }
        let reqs = t.unload_requests(T0, 4000);
        assert!(!reqs.is_empty());
        let total: usize = reqs.iter().map(|r| r.bytes).sum();
        for r in &reqs {
            assert_eq!(r.body(BodyFormat::Form).len(), r.bytes);
        }
        assert!(total <= 4000, "{total}");
        assert!(reqs.iter().all(|r| r.keepalive && r.events <= 10));
        let sent: usize = reqs.iter().map(|r| r.events).sum();
        assert!(sent < 100);
        // Events stay queued until acknowledged.
        assert_eq!(t.pending(), 100);
        for r in &reqs {
            t.on_response(r.id, T0, 200, None, false);
        }
        assert_eq!(t.pending(), 100 - sent);
        let all = t.unload_requests(T0, 1 << 20);
        assert_eq!(all.iter().map(|r| r.events).sum::<usize>(), 100 - sent);
    }

    #[test]
    fn in_a_page_requests_that_fit_go_with_keepalive_from_the_start() {
        let mut t = tracker(&[]);
        track(&mut t, T0, 0);
        let r = t.next_request(T0, false, None).unwrap();
        assert!(!r.keepalive, "no keepalive outside a page");
        t.on_response(r.id, T0, 200, None, false);

        t.set_keepalive_budget(4000);
        track(&mut t, T0, 1);
        let r = t.next_request(T0, false, None).unwrap();
        assert!(r.keepalive && r.bytes <= 4000);
        // A keepalive request is a regular one: its failure backs off and counts a try.
        t.on_response(r.id, T0, 503, None, false);
        assert!(t.retry_at(T0).is_some());
        let r = t.next_request(T0, true, None).unwrap();
        assert!(r.keepalive);
        t.on_response(r.id, T0, 200, None, false);
        assert_eq!((t.pending(), t.stats().retries), (0, 1));

        // A body over the allowance goes without.
        for i in 0..100 {
            track(&mut t, T0, i);
        }
        let r = t.next_request(T0, false, None).unwrap();
        assert!(r.bytes > 4000 && !r.keepalive);
    }

    #[test]
    fn page_hide_resends_only_what_was_in_flight_without_keepalive() {
        // In flight with keepalive: it survives the page, nothing is sent twice.
        let mut t = tracker(&[]);
        t.set_keepalive_budget(60 * 1024);
        for i in 0..5 {
            track(&mut t, T0, i);
        }
        let r = t.next_request(T0, false, None).unwrap();
        assert!(r.keepalive);
        track(&mut t, T0, 5);
        let unload = t.unload_requests(T0, 60 * 1024);
        let ids: Vec<_> = unload
            .iter()
            .flat_map(|u| events(&u.body(BodyFormat::Form)))
            .map(|e| e["i"].clone())
            .collect();
        assert_eq!(ids, vec![serde_json::json!(5)], "only the event not yet on its way");
        // A second page-hide signal (visibilitychange, then pagehide) sends nothing more.
        assert!(t.unload_requests(T0, 60 * 1024).is_empty());
        t.on_response(r.id, T0, 200, None, false);
        t.on_response(unload[0].id, T0, 200, None, false);
        assert_eq!((t.pending(), t.stats().delivered), (0, 6));

        // Chrome rejects a keepalive fetch at page hide while the request goes on: the
        // network error leaves its events with it, so the page-hide flush does not send them
        // again; if the page lives on, the next try does.
        let mut t = tracker(&[]);
        t.set_keepalive_budget(60 * 1024);
        for i in 0..3 {
            track(&mut t, T0, i);
        }
        let r = t.next_request(T0, false, None).unwrap();
        assert_eq!(t.on_response(r.id, T0, 0, None, false), Outcome { sent: 0, failed: 3 });
        track(&mut t, T0, 3);
        let unload = t.unload_requests(T0, 60 * 1024);
        assert_eq!(unload.iter().map(|u| u.events).sum::<usize>(), 1);
        t.on_response(unload[0].id, T0, 200, None, false);
        let at = t.retry_at(T0).unwrap();
        let again = t.next_request(at, false, None).unwrap();
        assert_eq!((again.events, again.json.clone()), (3, r.json.clone()));
        t.on_response(again.id, at, 200, None, false);
        assert_eq!((t.pending(), t.stats().delivered), (0, 4));
        // Any other failure gives the events back at once.
        track(&mut t, T0, 4);
        let r = t.next_request(at, false, None).unwrap();
        t.on_response(r.id, at, 503, None, false);
        assert_eq!(t.unload_requests(at, 60 * 1024).len(), 1);

        // In flight without keepalive (too big for it): the browser cancels it with the page,
        // so its events go out again, within the budget; its late answer is ignored.
        let mut t = tracker(&[("batchSize", num(10.0))]);
        t.set_keepalive_budget(1000);
        for i in 0..10 {
            track(&mut t, T0, i);
        }
        let big = t.next_request(T0, false, None).unwrap();
        assert!(!big.keepalive);
        let unload = t.unload_requests(T0, 1 << 20);
        assert_eq!(unload.iter().map(|u| u.events).sum::<usize>(), 10);
        assert!(unload.iter().all(|u| u.keepalive));
        assert_eq!(t.on_response(big.id, T0, 0, None, false), Outcome::default());
        for u in &unload {
            t.on_response(u.id, T0, 200, None, false);
        }
        assert_eq!((t.pending(), t.stats().delivered), (0, 10));
    }

    #[test]
    fn flush_bound_and_closed() {
        let mut t = tracker(&[]);
        track(&mut t, T0, 0);
        let bound = t.next_seq();
        track(&mut t, T0, 1);
        let r = t.next_request(T0, true, Some(bound)).unwrap();
        assert_eq!(r.events, 1);
        t.on_response(r.id, T0, 200, None, false);
        assert!(t.next_request(T0, true, Some(bound)).is_none());
        t.close();
        let enc = write('s', "event_name", "e");
        assert_eq!(t.track_encoded(T0, &enc).unwrap_err().code, ErrorCode::TrackerClosed);
        assert_eq!(t.pending(), 1);
    }

    #[test]
    fn persistence_writes_each_event_once_and_removes_acknowledged() {
        use std::cell::RefCell;
        use std::collections::BTreeMap;
        let mut t = tracker(&[]);
        let store = RefCell::new(BTreeMap::new());
        let puts = RefCell::new(0);
        let put = |seq: u64, json: &str| {
            *puts.borrow_mut() += 1;
            store.borrow_mut().insert(seq, json.to_string());
            true
        };
        let remove = |seq: u64| {
            store.borrow_mut().remove(&seq);
        };
        for i in 0..3 {
            track(&mut t, T0, i);
        }
        t.persist(put, |_, _| true, remove);
        assert_eq!(*puts.borrow(), 3);
        assert!(!t.needs_persist());
        // A quota error leaves the event queued and tries again later.
        track(&mut t, T0, 3);
        assert!(!t.persist(|_, _| false, |_, _| true, |_| {}));
        assert!(t.needs_persist());
        track(&mut t, T0, 4);
        assert!(t.persist(put, |_, _| true, remove));
        assert_eq!(store.borrow().len(), 5);
        assert_eq!(*puts.borrow(), 5);
        let r = t.next_request(T0, false, None).unwrap();
        t.on_response(r.id, T0, 200, None, false);
        t.persist(put, |_, _| true, remove);
        assert!(store.borrow().is_empty());
        // Restored events are queued again, not counted as newly tracked.
        let (json, time) = crate::core::store::restore(
            &crate::core::store::tests::entries(&events_json(&r.body(BodyFormat::Form), 0)),
            |_| None,
            false,
        )
        .unwrap();
        t.restore(json, time);
        assert_eq!(t.pending(), 1);
        assert_eq!(t.stats().tracked, 5);
    }

    pub(super) fn with_env() -> Tracker {
        let mut cfg = Config::default();
        cfg.set("appKey", &OptValue::Str("k".into())).unwrap();
        let env = vec![
            (
                "session_dua".to_string(),
                "Mozilla/5.0 (X11; Linux x86_64) \"quoted\"".to_string(),
            ),
            ("session_screen_size".to_string(), "1920x1080".to_string()),
            ("referring_url".to_string(), "".to_string()),
            ("utm_source".to_string(), "news\u{e9}".to_string()),
            ("event_timezone_offset".to_string(), "-5.5".to_string()),
        ];
        Tracker::new(cfg.finish().unwrap(), [7, 7, 7, 7], Some("anon".into()), env)
    }

    /// Stored text, as the shell reads it back: entries of the JSON.
    fn stored_entries(json: &str) -> String {
        crate::core::store::tests::entries(json)
    }

    #[test]
    fn stored_events_leave_out_the_page_context_and_restore_to_the_same_event() {
        use std::collections::BTreeMap;
        let mut t = with_env();
        let page = |url: &str| write('p', "page_url", url) + &write('p', "page_title", "Shop \"A\"");
        for i in 0..3 {
            let enc =
                page("https://x/a?utm_source=n") + &write('s', "event_name", "e") + &write('n', "i", &i.to_string());
            t.track_encoded(T0, &enc).unwrap();
        }
        // The caller overrides an environment property: stored whole.
        let enc = page("https://x/a?utm_source=n")
            + &write('s', "event_name", "own")
            + &write('s', "session_screen_size", "1x1");
        t.track_encoded(T0, &enc).unwrap();
        // An in-page navigation: a new context; then an event with no page.
        let enc = page("https://x/b") + &write('s', "event_name", "nav");
        t.track_encoded(T0, &enc).unwrap();
        track(&mut t, T0, 9);
        let mut stored = Vec::new();
        let mut contexts = BTreeMap::new();
        assert!(t.persist(
            |seq, text| {
                stored.push((seq, text.to_string()));
                true
            },
            |n, json| contexts.insert(n, json.to_string()).is_none(),
            |_| {}
        ));
        let queued: Vec<(u64, String)> = t.queued().map(|(s, j)| (s, j.to_string())).collect();
        assert_eq!(stored.len(), 6);
        assert_eq!(contexts.len(), 3, "{contexts:?}");
        let c1: serde_json::Value = serde_json::from_str(&contexts[&1]).unwrap();
        assert_eq!(c1["page_url"], "https://x/a?utm_source=n");
        assert_eq!(c1["session_screen_size"], "1920x1080");
        assert_eq!(c1["event_timezone_offset"], -5.5);
        assert!(
            c1.get("referring_url").is_none(),
            "empty defaults are not sent, nor stored"
        );
        assert!(
            stored[0].1.ends_with(r#","":1}"#) && !stored[0].1.contains("1920x1080"),
            "{}",
            stored[0].1
        );
        assert!(
            stored[0].1.len() * 2 < queued[0].1.len(),
            "{} vs {}",
            stored[0].1,
            queued[0].1
        );
        assert!(
            stored[2].1.ends_with(r#","":1}"#),
            "the page's events share one context"
        );
        assert_eq!(
            stored[3].1, queued[3].1,
            "an event that overrides the context is stored as it is"
        );
        assert!(stored[4].1.ends_with(r#","":2}"#));
        assert!(stored[5].1.ends_with(r#","":3}"#) && contexts[&3].starts_with(r#"{"session_dua""#));
        let ctx = |n: u64| contexts.get(&n).map(|c| stored_entries(c));
        for ((_, text), (_, json)) in stored.iter().zip(&queued) {
            let (back, time) = crate::core::store::restore(&stored_entries(text), ctx, false).unwrap();
            assert_eq!(time, T0);
            assert_eq!(back.len(), json.len(), "{back} vs {json}");
            let (a, b): (serde_json::Value, serde_json::Value) = (
                serde_json::from_str(&back).unwrap(),
                serde_json::from_str(json).unwrap(),
            );
            assert_eq!(a, b);
        }
        // After the page was shown again its contexts may be gone: the next
        // stored event writes its context again, under a new number.
        assert_eq!(t.contexts_stored(), 1..=3);
        t.context_lost();
        track(&mut t, T0, 10);
        let mut again = Vec::new();
        let mut text = String::new();
        t.persist(
            |_, s| {
                text = s.to_string();
                true
            },
            |n, json| {
                again.push((n, json.to_string()));
                true
            },
            |_| {},
        );
        assert_eq!(again, vec![(4, contexts[&3].clone())]);
        assert!(text.ends_with(r#","":4}"#));
        // Without its context a compacted event is refused, never sent half.
        let e = crate::core::store::restore(&stored_entries(&stored[0].1), |_| None, false).unwrap_err();
        assert_eq!(e.code, ErrorCode::StorageError);
        // When a context cannot be stored, events are stored whole.
        let enc = page("https://x/c") + &write('s', "event_name", "c");
        t.track_encoded(T0, &enc).unwrap();
        let mut last = String::new();
        t.persist(
            |_, text| {
                last = text.to_string();
                true
            },
            |_, _| false,
            |_| {},
        );
        assert_eq!(last, t.queued().last().unwrap().1);
    }

    #[test]
    fn storage_budget_keeps_the_rest_in_memory_and_reports_once() {
        use std::cell::RefCell;
        use std::collections::BTreeMap;
        let mut t = tracker(&[("batchSize", num(2.0))]);
        let store = RefCell::new(BTreeMap::new());
        let put = |seq: u64, json: &str| {
            store.borrow_mut().insert(seq, json.to_string());
            true
        };
        let remove = |seq: u64| {
            store.borrow_mut().remove(&seq);
        };
        track(&mut t, T0, 0);
        let one = t.queued().next().unwrap().1.len() + crate::core::store::KEY_BYTES;
        t.set_storage_budget(3 * one);
        for i in 1..6 {
            track(&mut t, T0, i);
        }
        assert!(!t.persist(put, |_, _| true, remove), "not everything is stored");
        assert_eq!(store.borrow().len(), 3);
        assert!(t.stored_bytes() <= 3 * one);
        assert!(t.over_budget());
        let notices = t.take_notices();
        assert_eq!(notices.len(), 1);
        assert_eq!((notices[0].code, notices[0].count), (ErrorCode::StorageError, Some(3)));
        assert!(notices[0].message.contains("kept in memory"), "{}", notices[0].message);
        assert_eq!(t.pending(), 6, "nothing is dropped");
        // Still over: no second report.
        track(&mut t, T0, 6);
        assert!(!t.persist(put, |_, _| true, remove));
        assert!(t.take_notices().is_empty());
        // Sent events make room: the rest is stored, oldest first.
        for _ in 0..3 {
            let r = t.next_request(T0, false, None).unwrap();
            t.on_response(r.id, T0, 200, None, false);
            t.persist(put, |_, _| true, remove);
        }
        assert_eq!(t.pending(), 1);
        assert!(t.persist(put, |_, _| true, remove));
        assert!(!t.over_budget());
        let stored: Vec<u64> = store.borrow().keys().copied().collect();
        let queued: Vec<u64> = t.queued().map(|(s, _)| s).collect();
        assert_eq!(stored, queued);
        assert_eq!(t.stored_bytes(), one);
    }

    fn events_json(body: &str, i: usize) -> String {
        events(body)[i].to_string()
    }
}
