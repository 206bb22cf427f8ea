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

#[allow(unused_imports)]
use crate::prelude::*;
use alloc::collections::VecDeque;

use crate::core::batch::{self, BodyFormat};
use crate::core::config::Config;
use crate::core::entries::{self, Entry};
use crate::core::error::{Error, ErrorCode};
use crate::core::event::{self, RawValue, ValidateOptions};
use crate::core::num;
use crate::core::retry::{self, Backoff, Verdict};
use crate::core::timestamp::MAX_PAST_MS;

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
    /// Sent while the page is going away (`keepalive` / `sendBeacon`).
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
    /// Written to durable storage.
    stored: bool,
}

struct Flight {
    id: u64,
    events: usize,
    bytes: usize,
    keepalive: bool,
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
    /// Stored events that left the queue: their keys are to be removed.
    unstore: Vec<u64>,
    /// Events from this sequence number on may not be written to storage yet.
    unstored_since: u64,
}

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
        let backoff = Backoff {
            base_ms: cfg.retry_base_ms,
            cap_ms: cfg.retry_max_ms,
            ..Backoff::default()
        };
        Tracker {
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
        }
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

        let mut defaults: Vec<(&str, RawValue)> = Vec::with_capacity(4 + n_page + self.env_defaults.len());
        defaults.push(("event_id", RawValue::Str(&id)));
        defaults.push((event::USER_ID, RawValue::Str(&self.user_id)));
        if !self.cfg.server_timestamp {
            defaults.push((event::TIMESTAMP, RawValue::NumText(&now_text)));
        }
        for (k, v) in page.iter().take(n_page) {
            defaults.push((k, RawValue::Str(v)));
        }
        for (k, v, numeric) in &self.env_defaults {
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
        let props = entries::parse(rest).filter_map(|e| match e {
            Ok(Entry::Prop(k, v)) => Some((k, v)),
            Ok(Entry::Default(..)) => None,
            Err(e) => {
                err.get_or_insert(e);
                None
            }
        });
        self.scratch.clear();
        let r = event::validate_with_defaults(&mut self.scratch, Some(event_name), props, &defaults, &opts);
        if let Some(e) = err {
            return Err(e);
        }
        let (time, given) = r?;
        let time = time.unwrap_or(i64::MAX);
        // A caller's own event_id (defaults[0]) wins, and was checked to be a
        // non-empty string: it is the id to return.
        if given & 1 != 0 {
            if let Some(theirs) = caller_event_id(rest) {
                id.clear();
                id.push_str(theirs);
            }
        }
        self.push(self.scratch.clone(), time);
        Ok(id)
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
            stored: false,
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
        if slot.stored {
            self.unstore.push(slot.seq);
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

    fn launch(&mut self, id: u64, n: usize, bound: u64, keepalive: bool) -> Request {
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
        self.flights.push(Flight {
            id,
            events: n,
            bytes,
            keepalive,
        });
        self.stats.requests += 1;
        if self.tries > 0 && !keepalive {
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

    /// Requests for everything not in flight, for a page that is going away:
    /// batches of at most `batchSize` events whose bodies, together with the
    /// keepalive requests already in flight, stay within `budget` bytes (the
    /// browser's 64 KiB keepalive allowance). What does not fit stays queued.
    pub fn unload_requests(&mut self, now_ms: i64, budget: usize) -> Vec<Request> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        self.expire(now_ms);
        let fmt = self.cfg.body_format;
        let mut left = budget.saturating_sub(self.flights.iter().filter(|f| f.keepalive).map(|f| f.bytes).sum());
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
            if s.stored {
                self.unstore.push(s.seq);
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
                if !flight.keepalive {
                    self.tries = 0;
                    self.split_limit = None;
                    self.retry_at = i64::MIN;
                }
                return Outcome { sent: n, failed: 0 };
            }
            Verdict::Retry => {
                self.release(id);
                if flight.keepalive {
                    return Outcome { sent: 0, failed: n };
                }
                self.tries += 1;
                if self.tries >= self.cfg.max_tries {
                    self.tries = 0;
                    self.give_up_front(n, status, "was given up after the most tries allowed (maxRetries)");
                } else {
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
                if !flight.keepalive {
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
            if s.stored {
                self.unstore.push(s.seq);
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
            if s.stored {
                self.unstore.push(s.seq);
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
    pub fn persist(&mut self, mut put: impl FnMut(u64, &str) -> bool, mut remove: impl FnMut(u64)) -> bool {
        let mut ok = true;
        for seq in self.unstore.drain(..) {
            remove(seq);
        }
        if self.unstored_since != u64::MAX {
            let from = self.queue.partition_point(|s| s.seq < self.unstored_since);
            self.unstored_since = u64::MAX;
            for s in self.queue.iter_mut().skip(from) {
                if s.done || s.stored {
                    continue;
                }
                if put(s.seq, &s.json) {
                    s.stored = true;
                } else {
                    ok = false;
                    self.unstored_since = s.seq;
                    break;
                }
            }
        }
        ok
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

    const T0: i64 = 1_800_000_000_000;

    fn tracker(opts: &[(&str, OptValue)]) -> Tracker {
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

    fn track(t: &mut Tracker, now: i64, i: usize) -> String {
        let enc = write('s', "event_name", "e") + &write('n', "i", &i.to_string());
        t.track_encoded(now, &enc).unwrap()
    }

    fn events(body: &str) -> Vec<serde_json::Value> {
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
        t.persist(put, remove);
        assert_eq!(*puts.borrow(), 3);
        assert!(!t.needs_persist());
        // A quota error leaves the event queued and tries again later.
        track(&mut t, T0, 3);
        assert!(!t.persist(|_, _| false, |_| {}));
        assert!(t.needs_persist());
        track(&mut t, T0, 4);
        assert!(t.persist(put, remove));
        assert_eq!(store.borrow().len(), 5);
        assert_eq!(*puts.borrow(), 5);
        let r = t.next_request(T0, false, None).unwrap();
        t.on_response(r.id, T0, 200, None, false);
        t.persist(put, remove);
        assert!(store.borrow().is_empty());
        // Restored events are queued again, not counted as newly tracked.
        let (json, time) = crate::core::store::restore(
            &crate::core::store::tests::entries(&events_json(&r.body(BodyFormat::Form), 0)),
            false,
        )
        .unwrap();
        t.restore(json, time);
        assert_eq!(t.pending(), 1);
        assert_eq!(t.stats().tracked, 5);
    }

    fn events_json(body: &str, i: usize) -> String {
        events(body)[i].to_string()
    }
}
