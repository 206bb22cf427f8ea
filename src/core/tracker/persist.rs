//! Durable storage: which queued events to write, which keys to remove, the
//! page contexts events share (see [`crate::core::store`]) and the storage
//! budget. The shell does the writing; cost is proportional to what changed.

#[allow(unused_imports)]
use crate::prelude::*;

use super::{counted, Tracker};
use crate::core::error::ErrorCode;
use crate::core::{num, store};

impl Tracker {
    /// Brings durable storage up to date: `put(seq, json)` for each queued
    /// event not yet written (it returns false when the write failed, e.g.
    /// the quota is full: the event stays queued in memory and the write is
    /// tried again next time), `put_context(n, json)` for each new context,
    /// and `remove(seq)` for each written event that left the queue. Cost is
    /// proportional to what changed, not to the queue. False when events are
    /// left unwritten: a write failed, the budget is reached, or (after a
    /// refusal, see [`Tracker::persisted`]) only one event was tried.
    #[inline(always)]
    pub fn persist(
        &mut self,
        mut put: impl FnMut(u64, &str) -> bool,
        mut put_context: impl FnMut(u64, &str) -> bool,
        mut remove: impl FnMut(u64),
    ) -> bool {
        for &seq in &self.unstore {
            remove(seq);
        }
        self.unstore.clear();
        if self.q.unstored_since == u64::MAX {
            return true;
        }
        let from = self.index_of(self.q.unstored_since);
        self.q.unstored_since = u64::MAX;
        let mut ok = true;
        // Events the budget keeps in memory only.
        let mut kept = 0;
        let mut text = String::new();
        // After a refusal, one event is written (a probe) until the storage
        // takes a write again.
        let mut probed = false;
        for s in self.q.queue.get_mut(from..).unwrap_or_default() {
            if s.done() || s.stored > 0 {
                continue;
            }
            if probed {
                self.q.unstored_since = s.seq;
                ok = false;
                break;
            }
            if kept > 0 {
                kept += 1;
                continue;
            }
            // The event's own part, and the number of the context that
            // holds the rest (a new one when the page's part changed).
            text.clear();
            if let Some((head, shared)) = self
                .q
                .compact
                .then(|| store::split_shared(&s.json, s.shared.into()))
                .flatten()
            {
                let n = match &self.q.ctx {
                    // The stored context is `{` and the shared part after its `,`.
                    Some((n, c))
                        if c.as_bytes()
                            .get(1..)
                            .is_some_and(|c| shared.as_bytes().get(1..).is_some_and(|s| *c == *s)) =>
                    {
                        *n
                    }
                    _ => {
                        let n = self.ctx_count + 1;
                        let ctx = store::context_json(shared);
                        if put_context(n, &ctx) {
                            self.ctx_count = n;
                            self.q.stored_bytes += ctx.len() + store::KEY_BYTES;
                            self.q.ctx = Some((n, ctx));
                            n
                        } else {
                            self.q.compact = false;
                            0
                        }
                    }
                };
                if n > 0 {
                    store::push_compacted(&mut text, head, n);
                }
            }
            let stored = if text.is_empty() { &s.json } else { &text };
            let bytes = stored.len() + store::KEY_BYTES;
            if self.q.stored_bytes + bytes > self.storage_budget {
                // Over the budget: this one and the rest stay in memory
                // only, until acknowledged events make room.
                self.q.unstored_since = s.seq;
                kept = 1;
            } else if put(s.seq, stored) {
                s.stored = bytes as u32;
                self.q.stored_bytes += bytes;
                probed = self.q.refused;
            } else {
                self.q.unstored_since = s.seq;
                ok = false;
                break;
            }
        }
        if kept > 0 {
            if !self.q.over_budget {
                self.q.over_budget = true;
                let mut e = counted(
                    ErrorCode::StorageError,
                    kept,
                    "queued event(s) kept in memory only: the tracker's localStorage share (",
                );
                num::push_u64(&mut e.message, self.storage_budget as u64);
                e.message.push_str(" bytes) is full");
                self.notices.push(e);
            }
            return false;
        }
        if ok {
            self.q.over_budget = false;
        }
        ok
    }

    /// What became of the writes of the last [`Tracker::persist`], when the
    /// shell makes them after it returned (so that page code a write runs,
    /// a wrapped `Storage.prototype.setItem`, finds the tracker free):
    /// `None` when every write was made, else the sequence number of the
    /// first event not written (its write, or its context's, or one before
    /// it was refused: the writes after a refusal are not made; `u64::MAX`
    /// when that was none) and whether the last context it wrote was made.
    /// Events from there on are written again later (and the context, when
    /// it was not made, under a new number); until the storage takes a write
    /// again, each persist tries one event only, so a full storage costs one
    /// write a persist, not one an event.
    ///
    /// True when the one event tried was written and more wait: the shell
    /// persists again now (the page may be going away).
    #[inline(always)]
    pub fn persisted(&mut self, refused: Option<(u64, bool)>) -> bool {
        let probing = core::mem::replace(&mut self.q.refused, refused.is_some());
        let Some((seq, context_made)) = refused else {
            return probing && self.needs_persist();
        };
        // An event that left the queue meanwhile keeps its count: its key
        // is removed either way.
        for s in &mut self.q.queue {
            if s.seq >= seq && !s.done() {
                self.q.stored_bytes -= s.stored as usize;
                s.stored = 0;
            }
        }
        self.q.unstored_since = self.q.unstored_since.min(seq);
        if !context_made {
            if let Some((_, c)) = self.q.ctx.take() {
                self.q.stored_bytes -= c.len() + store::KEY_BYTES;
            }
        }
        false
    }

    /// The stored contexts may be gone (the page was hidden, and another
    /// tab may have claimed its events and removed them): the next event
    /// stored writes its context again, under a new number.
    #[inline(always)]
    pub fn context_lost(&mut self) {
        self.q.ctx = None;
    }

    /// The numbers of the contexts this tracker stored (for removing them).
    pub fn contexts_stored(&self) -> core::ops::RangeInclusive<u64> {
        1..=self.ctx_count
    }

    /// Whether the storage budget (not a refusal of the storage itself) kept
    /// the last [`Tracker::persist`] from writing everything.
    pub fn over_budget(&self) -> bool {
        self.q.over_budget
    }

    /// What this tracker's stored events take in storage, as counted
    /// against the budget (stored text plus [`store::KEY_BYTES`] an event);
    /// an event that left the queue no longer counts (the next persist
    /// removes its key before it writes anything).
    pub fn stored_bytes(&self) -> usize {
        self.q.stored_bytes
    }

    /// Sets the storage budget in bytes (default [`super::STORAGE_BUDGET`]).
    pub fn set_storage_budget(&mut self, bytes: usize) {
        self.storage_budget = bytes;
    }

    /// Whether [`Tracker::persist`] has anything to do.
    pub fn needs_persist(&self) -> bool {
        self.q.unstored_since != u64::MAX || !self.unstore.is_empty()
    }
}
