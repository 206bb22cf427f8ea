//! The queue and what is in flight: batching, responses, retries, overflow
//! and the 30-day window.
//!
//! The queue is one `Vec` of slots in tracking order (sequence numbers only
//! grow). An event that leaves it is marked done and its text freed at once;
//! the done slots are swept out together once they are at least half of the
//! queue, so leaving costs O(1) amortised, overflowing included. Plain loops
//! over the slots, no iterator adapter chains: each chain is one more copy of
//! generic code in the wasm.

#[allow(unused_imports)]
use crate::prelude::*;

use super::{counted, request_failed, Outcome, Request, Tracker};
use crate::core::batch;
use crate::core::error::ErrorCode;
use crate::core::retry::{self, Backoff, Verdict};
use crate::core::timestamp::MAX_PAST_MS;

/// One queued event.
pub(super) struct Slot {
    pub(super) seq: u64,
    /// Its JSON; emptied when the event leaves the queue.
    pub(super) json: String,
    /// Its [`batch::BodyFormat::event_cost`].
    pub(super) cost: usize,
    /// Event time, for the 30-day window; `i64::MAX` when the server sets it.
    pub(super) time: i64,
    /// The request carrying it, 0 when none; [`DONE`] once it left the
    /// queue (acknowledged or given up).
    pub(super) flight: u64,
    /// What writing it to durable storage counted against the budget (its
    /// stored text and key); 0 while it is not stored.
    pub(super) stored: u32,
    /// How many keys end its JSON that are stored once per page as a
    /// context (see [`crate::core::store::split_shared`]); 0: stored whole.
    pub(super) shared: u8,
}

/// [`Slot::flight`] of an event that left the queue (no request has this id).
const DONE: u64 = u64::MAX;

impl Slot {
    /// Whether it waits to be sent (not done, not on its way).
    fn waiting(&self) -> bool {
        self.flight == 0
    }

    /// Whether it left the queue.
    pub(super) fn done(&self) -> bool {
        self.flight == DONE
    }

    /// Takes the event out of the queue; its storage key, if it has one, is
    /// to be removed, and what it counted against the storage budget is
    /// taken off `stored_bytes` now (the next persist removes the key before
    /// it writes anything). The caller counts it out of `live`.
    fn retire(&mut self, unstore: &mut Vec<u64>, stored_bytes: &mut usize) {
        self.flight = DONE;
        self.json = String::new();
        if self.stored > 0 {
            unstore.push(self.seq);
            *stored_bytes = stored_bytes.saturating_sub(self.stored as usize);
        }
    }
}

const GAVE_UP: &str = "given up after maxRetries";
const STATUS_FALSE: &str = "refused (\"status\": false)";
const REFUSED: &str = "refused for good";
const BAD_KEY: &str = "refused (403: bad appKey): sending stops, events are kept";
/// [`BAD_KEY`] for a tracker that is not durable: its events are lost when
/// it ends (a shutdown after a 403 settles at once: nothing is sent).
const BAD_KEY_MEMORY: &str =
    "refused (403: bad appKey): sending stops, events are kept in memory only, lost when the tracker ends";

impl Tracker {
    /// Queues one already validated event JSON (used for events restored
    /// from storage). `time` is its event time in epoch ms.
    pub fn push(&mut self, json: String, time: i64) {
        self.push_shared(json, time, 0);
    }

    /// [`Tracker::push`], with how many keys end the event that a stored
    /// context holds (see [`Slot::shared`]).
    pub(super) fn push_shared(&mut self, json: String, time: i64, shared: u8) {
        let cost = self.cfg.body_format.event_cost(&json);
        let seq = self.next_seq;
        self.q.queue.push(Slot {
            seq,
            json,
            cost,
            time,
            flight: 0,
            stored: 0,
            shared,
        });
        self.q.unstored_since = self.q.unstored_since.min(seq);
        self.next_seq += 1;
        self.q.live += 1;
        self.stats.tracked += 1;
        while self.q.live > self.cfg.max_queue_size && self.drop_oldest() {}
    }

    /// Queues an event read back from storage (see [`crate::core::store::restore`]).
    pub fn restore(&mut self, json: String, time: i64) {
        self.restore_shared(json, time, 0);
    }

    /// [`Tracker::restore`], with how many keys end the event that its
    /// stored context gave ([`crate::core::store::restore`] tells): this
    /// tab stores them as a context of its own.
    pub fn restore_shared(&mut self, json: String, time: i64, shared: u8) {
        self.push_shared(json, time, shared);
        self.stats.tracked -= 1;
    }

    /// The index of the first slot whose sequence number is `seq` or more.
    pub(super) fn index_of(&self, seq: u64) -> usize {
        // A plain binary search (sequence numbers only grow along the queue).
        let (mut lo, mut hi) = (0, self.q.queue.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.q.queue.get(mid).is_some_and(|s| s.seq < seq) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn drop_oldest(&mut self) -> bool {
        // Every event below `drop_from` is done or in flight: an overflowing
        // burst does not scan the ones it already dropped again.
        let from = self.index_of(self.drop_from);
        let Some(s) = self
            .q
            .queue
            .get_mut(from..)
            .and_then(|q| q.iter_mut().find(|s| s.waiting()))
        else {
            return false;
        };
        self.drop_from = s.seq + 1;
        s.retire(&mut self.unstore, &mut self.q.stored_bytes);
        self.q.overflowed += 1;
        self.stats.dropped += 1;
        self.gone(1);
        true
    }

    /// `n` events were retired: counts them out of `live` and sweeps the
    /// done slots once they are half of the queue.
    fn gone(&mut self, n: usize) {
        self.q.live -= n;
        if (self.q.queue.len() - self.q.live) * 2 > self.q.queue.len() {
            self.q.queue.retain(|s| !s.done());
        }
    }

    /// Whether a full batch is waiting and nothing is in flight: the shell
    /// should send now rather than wait for the timer.
    #[inline(always)]
    pub fn batch_ready(&self, now_ms: i64) -> bool {
        !self.in_flight() && !self.stopped && now_ms >= self.q.retry_at && self.q.live >= self.cfg.batch_size
    }

    /// When the next retry is allowed (after a failure), if later than `now_ms`.
    pub fn retry_at(&self, now_ms: i64) -> Option<i64> {
        (self.q.retry_at > now_ms).then_some(self.q.retry_at)
    }

    /// Whether a waiting flush, with nothing in flight and no request to
    /// send now, goes on waiting rather than settling: while an event is
    /// held for `beforeSend` (a `shutdown()` or `flush()` called from inside
    /// the hook: the event, once queued, is the shutdown's to send; the
    /// shell pumps again after the hook), or in a backoff, with events
    /// queued, during a shutdown (or the exit, see [`Tracker::exiting`]) of
    /// a tracker that is not durable (see [`Tracker::close`]). Then the shell wakes at [`Tracker::retry_at`]
    /// and sends again, until the queue is empty or the retry policy gives
    /// up on the events (reported as `request_failed`). Not once sending
    /// stopped (403).
    pub fn keeps_waiting(&self, now_ms: i64) -> bool {
        self.holding() || (self.drains() && !self.stopped && self.q.live > 0 && now_ms < self.q.retry_at)
    }

    /// Whether a request is in flight.
    pub fn in_flight(&self) -> bool {
        self.q.flying > 0
    }

    /// The tracker's queue is durable: storage carries its events to a
    /// later page (a 403's notice then says they are kept, else that they
    /// are in memory only, see [`Tracker::on_response`]; and a shutdown ends
    /// at the first failure, see [`Tracker::close`]).
    pub fn set_durable(&mut self) {
        self.durable = true;
    }

    /// In a page: the browser's allowance for keepalive bodies in flight.
    /// From then on every request whose body fits it (with the keepalive
    /// requests already in flight) is sent with `keepalive`.
    pub fn set_keepalive_budget(&mut self, bytes: usize) {
        self.keepalive_budget = bytes;
    }

    /// The next request to send, or `None` when there is nothing to send,
    /// a request is in flight, sending is stopped (403), or (unless `force`,
    /// which a draining shutdown ignores: see [`Tracker::close`]) a backoff
    /// is running. Only events with a sequence number below
    /// `before_seq` are taken, when given.
    #[inline(always)]
    pub fn next_request(&mut self, now_ms: i64, force: bool, before_seq: Option<u64>) -> Option<Request> {
        if self.in_flight() || self.stopped || ((!force || self.drains()) && now_ms < self.q.retry_at) {
            return None;
        }
        if let Some(id) = self.held.take() {
            self.land(id, false);
        }
        self.expire(now_ms);
        let bound = before_seq.unwrap_or(u64::MAX);
        let limit = self.q.split_limit.unwrap_or(self.cfg.batch_size);
        self.launch(bound, limit, None)
    }

    /// Sends the oldest waiting events below `bound` as one request, if
    /// there are any: [`batch::take`]'s rule (at most `max_events`, capped
    /// at [`batch::MAX_EVENTS`]; within `max_bytes` when given, but never
    /// fewer than one), walked over the queue itself. `max_bytes` is given
    /// at page unload, where even a lone event over it stays queued.
    fn launch(&mut self, bound: u64, max_events: usize, max_bytes: Option<usize>) -> Option<Request> {
        let max_events = max_events.clamp(1, batch::MAX_EVENTS);
        let unload = max_bytes.is_some();
        let id = self.next_id;
        // The encoded size from the events' costs: nothing is encoded here.
        let mut bytes = self.cfg.body_format.overhead();
        // Nothing allocated until an event is taken.
        let mut json = String::new();
        let mut n = 0;
        for s in self.q.queue.iter_mut() {
            if n == max_events {
                break;
            }
            if !s.waiting() || s.seq >= bound {
                continue;
            }
            let more = bytes.saturating_add(s.cost);
            // Every cost counts a comma before its event: one too many.
            if (n > 0 || unload) && max_bytes.is_some_and(|m| more > m + 3) {
                break;
            }
            json.push_str(if n > 0 { "," } else { batch::OPEN });
            s.flight = id;
            bytes = more;
            json.push_str(&s.json);
            n += 1;
        }
        if n == 0 {
            return None;
        }
        self.next_id += 1;
        json.push_str(batch::CLOSE);
        // Every cost counts the comma before its event: the first has none.
        bytes = bytes.saturating_sub(3);
        let keepalive = unload || bytes.saturating_add(self.q.keepalive_bytes) <= self.keepalive_budget;
        self.q.flying += 1;
        if !unload {
            self.q.regular = id;
            self.q.regular_keepalive = keepalive;
        }
        if keepalive {
            self.q.keepalive_bytes += bytes;
        }
        self.stats.requests += 1;
        if self.q.tries > 0 && !unload {
            self.stats.retries += 1;
        }
        Some(Request {
            id,
            json,
            bytes,
            events: n,
            keepalive,
        })
    }

    /// The page is going away: everything not on its way is to go out now,
    /// in batches of at most `batchSize` events whose bodies, together with
    /// the keepalive requests already in flight, stay within `budget` bytes
    /// (the browser's 64 KiB keepalive allowance). What does not fit stays
    /// queued. Returns what of `budget` is left for [`Tracker::unload_request`],
    /// which gives the requests one by one.
    ///
    /// A request in flight with `keepalive` survives the page and is left
    /// alone; one without it dies with the page, so its events are sent again
    /// (its answer, should it still come, is ignored).
    #[inline(always)]
    pub fn unload(&mut self, now_ms: i64, budget: usize) -> usize {
        if self.stopped {
            return 0;
        }
        // Only the regular request can be in flight without keepalive
        // (every page-hide request has it).
        if self.q.regular != 0 && !self.q.regular_keepalive {
            let id = core::mem::take(&mut self.q.regular);
            self.q.flying -= 1;
            self.land(id, false);
        }
        self.expire(now_ms);
        budget.saturating_sub(self.q.keepalive_bytes)
    }

    /// The next request at page unload (see [`Tracker::unload`]), within
    /// `left` bytes, which it takes off. One at a time, not a list: the
    /// shell hands each to `fetch` with no borrow of the tracker held (a
    /// page's own `fetch` wrapper may call the tracker again), and no list
    /// of requests is built.
    #[inline(always)]
    pub fn unload_request(&mut self, left: &mut usize) -> Option<Request> {
        if self.stopped {
            return None;
        }
        let req = self.launch(u64::MAX, self.cfg.batch_size, Some(*left))?;
        *left = left.saturating_sub(req.bytes);
        Some(req)
    }

    /// Every request of [`Tracker::unload`] and [`Tracker::unload_request`]
    /// at once (host tests, fuzzing).
    pub fn unload_requests(&mut self, now_ms: i64, budget: usize) -> Vec<Request> {
        let mut left = self.unload(now_ms, budget);
        let mut out = Vec::new();
        while let Some(req) = self.unload_request(&mut left) {
            out.push(req);
        }
        out
    }

    /// Drops events that fell out of CoolaData's 30-day window while queued.
    fn expire(&mut self, now_ms: i64) {
        if self.cfg.server_timestamp {
            return;
        }
        let n = self.settle(0, now_ms.saturating_sub(MAX_PAST_MS), true);
        if n > 0 {
            self.stats.dropped += n as u64;
            self.notices.push(counted(
                ErrorCode::EventExpired,
                n,
                "queued event(s) dropped: older than CoolaData's 30 days",
            ));
        }
    }

    /// Removes request `id` from those in flight: whether it was the
    /// regular one (else sent at page hide), its events and whether it had
    /// `keepalive`; `None` when it is not in flight (a late answer to a
    /// request whose events were sent again, or dropped by an opt-out).
    ///
    /// What is in flight is known from the queue itself: the slots of a
    /// request carry its id until it lands, and none of them leaves the
    /// queue before (only waiting events are dropped or expired); its body's
    /// size is its events' costs again, summed as [`Tracker::launch`] did.
    #[inline(always)]
    fn take_flight(&mut self, id: u64) -> Option<(bool, usize, bool)> {
        let mut n = 0;
        let mut bytes = self.cfg.body_format.overhead();
        for s in &self.q.queue {
            if s.flight == id {
                n += 1;
                bytes = bytes.saturating_add(s.cost);
            }
        }
        // No request has id 0 (the waiting events') or DONE, and the held
        // one was answered already.
        if n == 0 || id == 0 || id == DONE || self.held == Some(id) {
            return None;
        }
        let regular = id == self.q.regular;
        let keepalive = !regular || self.q.regular_keepalive;
        self.q.flying -= 1;
        if regular {
            self.q.regular = 0;
        }
        if keepalive {
            self.q.keepalive_bytes = self.q.keepalive_bytes.saturating_sub(bytes.saturating_sub(3));
        }
        Some((regular, n, keepalive))
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
    #[inline(always)]
    pub fn on_response(
        &mut self,
        id: u64,
        now_ms: i64,
        status: u16,
        retry_after: Option<&str>,
        status_false: bool,
    ) -> Outcome {
        let Some((regular, n, keepalive)) = self.take_flight(id) else {
            return Outcome::default();
        };
        let mut verdict = retry::classify(status, status_false);
        if verdict == Verdict::Split && n <= 1 {
            verdict = Verdict::Reject;
        }
        let ack = verdict == Verdict::Ack;
        // What becomes of the events: out of the queue (`done`), else sent
        // again, or held (see above); and why they are reported, if they are.
        let mut done = ack;
        let mut hold = false;
        let mut why = None;
        match verdict {
            Verdict::Ack => {
                self.stats.delivered += n as u64;
                if regular {
                    self.q.tries = 0;
                    self.q.split_limit = None;
                    self.q.retry_at = i64::MIN;
                }
            }
            Verdict::Retry if regular => {
                self.q.tries += 1;
                if self.q.tries >= self.cfg.max_tries {
                    self.q.tries = 0;
                    done = true;
                    why = Some(GAVE_UP);
                } else {
                    hold = status == 0 && keepalive;
                    let backoff = Backoff {
                        base_ms: self.cfg.retry_base_ms,
                        cap_ms: self.cfg.retry_max_ms,
                        ..Backoff::default()
                    };
                    let jitter = retry::backoff_ms(&backoff, self.q.tries, self.rng.next());
                    let after = retry_after
                        .and_then(|h| retry::retry_after_ms(&backoff, h, now_ms))
                        .unwrap_or(0);
                    self.q.retry_at = now_ms.saturating_add(jitter.max(after) as i64);
                }
            }
            Verdict::Split => {
                self.q.split_limit = Some((n / 2).max(1));
                // A page-hide request's 413 leaves the regular request's
                // backoff (and its Retry-After) as it was.
                if regular {
                    self.q.retry_at = i64::MIN;
                }
            }
            Verdict::Reject => {
                // The next batch has nothing to do with this one: no backoff.
                if regular {
                    self.q.tries = 0;
                    self.q.retry_at = i64::MIN;
                }
                done = true;
                why = Some(if status_false { STATUS_FALSE } else { REFUSED });
            }
            // Reported once: the events stay queued.
            Verdict::Stop if !self.stopped => {
                self.stopped = true;
                why = Some(if self.durable { BAD_KEY } else { BAD_KEY_MEMORY });
            }
            // A page-hide request that failed, or a 403 after the first:
            // its events wait for the next try.
            _ => {}
        }
        let landed = if hold {
            self.held = Some(id);
            0
        } else {
            self.land(id, done)
        };
        if let Some(why) = why {
            if done {
                self.stats.dropped += landed as u64;
                self.stats.failed += landed as u64;
            }
            self.notices.push(request_failed(landed, status, why));
        }
        // The exit's drain ends with the queue: a process that goes on after
        // its beforeExit (a listener of its own started more work) runs as
        // before, its flushes settling at a failure; the next beforeExit
        // drains again.
        if self.q.live == 0 {
            self.exiting = false;
        }
        if ack {
            return Outcome { sent: n, failed: 0 };
        }
        Outcome { sent: 0, failed: n }
    }

    /// The events of request `id` come back: out of the queue when `done`
    /// (acknowledged or given up: the caller counts which), else to be sent
    /// again. Returns how many there were.
    fn land(&mut self, id: u64, done: bool) -> usize {
        self.settle(id, i64::MIN, done)
    }

    /// The one walk that takes events out of the queue (`done`) or back
    /// from a request: those of request `id`, or with `id` 0 the waiting
    /// ones older than `oldest`. Returns how many there were.
    fn settle(&mut self, id: u64, oldest: i64, done: bool) -> usize {
        let mut n = 0;
        for s in self.q.queue.iter_mut() {
            let hit = if id > 0 {
                s.flight == id
            } else {
                s.waiting() && s.time < oldest
            };
            if hit {
                s.flight = 0;
                if done {
                    s.retire(&mut self.unstore, &mut self.q.stored_bytes);
                }
                n += 1;
            }
        }
        if done {
            self.gone(n);
        } else {
            // Its events may be dropped again.
            self.drop_from = 0;
        }
        n
    }

    /// The JSON of the event tracked last, while it is queued (the shell's
    /// `debug` line): `None` when the queue overflowed at once and dropped
    /// it (its only waiting event).
    pub fn last_queued(&self) -> Option<&str> {
        self.q
            .queue
            .last()
            .filter(|s| s.seq + 1 == self.next_seq && !s.done())
            .map(|s| s.json.as_str())
    }

    /// The JSON of every event still queued, oldest first (for persistence
    /// and inspection).
    pub fn queued(&self) -> impl DoubleEndedIterator<Item = (u64, &str)> {
        self.q
            .queue
            .iter()
            .filter(|s| !s.done())
            .map(|s| (s.seq, s.json.as_str()))
    }
}
