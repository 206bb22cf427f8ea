//! The retry policy: what a response means, and how long to wait.
//!
//! Network errors, 408, 429 and 5xx (but 501 and 505, which will not change)
//! are retried with exponential backoff and full jitter, honouring
//! `Retry-After`. A 3xx is retried like a network error: the shell follows
//! no redirect, so nothing was acknowledged (the shell turns the usual
//! redirect statuses into a network error with what to do as its cause).
//! 413 splits the batch. 403 (a bad app key) stops sending.
//! Other 4xx, and a 200 whose JSON says `"status": false`, are given up on and
//! reported: retrying cannot make them succeed.

use crate::core::{num, timestamp};
#[allow(unused_imports)]
use crate::prelude::*;

/// How long one request may take, its answer's body included, before the
/// tracker's shell aborts it (`AbortSignal.timeout`): a network error then,
/// retried like one, so that a connection that never answers holds up the
/// requests after it (one is in flight at a time) for no longer than this.
/// The edge consumer's `REQUEST_TIMEOUT_MS` (pkg-template/edge.js) is the
/// same 30 s.
pub const REQUEST_TIMEOUT_MS: u32 = 30_000;

/// Backoff parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry waits up to this long.
    pub base_ms: u64,
    /// No wait is longer than this.
    pub cap_ms: u64,
    /// `Retry-After` is honoured up to this long.
    pub max_retry_after_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: 1000,
            cap_ms: 60_000,
            max_retry_after_ms: 300_000,
        }
    }
}

/// What a response means for its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Acknowledged: the events leave the queue.
    Ack,
    /// Try again later.
    Retry,
    /// 413: send the batch again in halves.
    Split,
    /// Give up on the batch and report its events.
    Reject,
    /// 403: the app key is refused; stop sending, keep the events.
    Stop,
}

/// Classifies an HTTP status (0 for a network error or a dropped
/// connection). `status_false` is true when a 2xx body is JSON whose
/// `status` is `false`.
pub fn classify(status: u16, status_false: bool) -> Verdict {
    match status {
        200..=299 if status_false => Verdict::Reject,
        200..=299 => Verdict::Ack,
        0 | 408 | 429 => Verdict::Retry,
        300..=399 => Verdict::Retry,
        403 => Verdict::Stop,
        413 => Verdict::Split,
        501 | 505 => Verdict::Reject,
        500..=599 => Verdict::Retry,
        _ => Verdict::Reject,
    }
}

/// The wait before try number `tries + 1`, after `tries` failed tries (1 or
/// more): full jitter, a uniform share `random / 2^32` of
/// `min(cap, base * 2^(tries - 1))`.
#[inline(always)]
pub fn backoff_ms(b: &Backoff, tries: u32, random: u32) -> u64 {
    // 64-bit arithmetic only: an overflow-checked multiply would bring in
    // a 128-bit one (`__multi3`) for this alone.
    let exp = tries.saturating_sub(1).min(40);
    let ceiling = if b.base_ms.leading_zeros() >= exp {
        (b.base_ms << exp).min(b.cap_ms)
    } else {
        b.cap_ms
    };
    // floor(ceiling * random / 2^32), exactly, in two halves that cannot
    // overflow.
    let r = u64::from(random);
    (ceiling >> 32) * r + (((ceiling & 0xffff_ffff) * r) >> 32)
}

/// Reads a `Retry-After` header, delay-seconds or an HTTP-date, into a wait
/// in milliseconds from `now_ms`, capped at `max_retry_after_ms`. `None` when
/// the header cannot be read.
#[inline(always)]
pub fn retry_after_ms(b: &Backoff, header: &str, now_ms: i64) -> Option<u64> {
    let h = header.trim_ascii();
    if h.is_empty() {
        return None;
    }
    let ms = if num::all_digits(h.as_bytes()) {
        // At most 12 digits: times 1000 stays far below 2^64.
        let secs = num::parse_digits(h.as_bytes().get(..h.len().min(12))?)?;
        secs * 1000
    } else {
        let at = timestamp::parse_str(h).ok()?;
        u64::try_from(at.saturating_sub(now_ms)).unwrap_or(0)
    };
    Some(ms.min(b.max_retry_after_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_status_class() {
        assert_eq!(classify(200, false), Verdict::Ack);
        assert_eq!(classify(204, false), Verdict::Ack);
        assert_eq!(classify(200, true), Verdict::Reject);
        assert_eq!(classify(0, false), Verdict::Retry);
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(classify(s, false), Verdict::Retry, "{s}");
        }
        // A redirect not followed acknowledged nothing: retried, never given up at once.
        for s in [300, 301, 302, 303, 304, 305, 306, 307, 308, 399] {
            assert_eq!(classify(s, false), Verdict::Retry, "{s}");
        }
        for s in [400, 401, 404, 405, 422, 501, 505, 100] {
            assert_eq!(classify(s, false), Verdict::Reject, "{s}");
        }
        assert_eq!(classify(403, false), Verdict::Stop);
        assert_eq!(classify(413, false), Verdict::Split);
    }

    #[test]
    fn backoff_bounds() {
        let b = Backoff::default();
        assert_eq!(backoff_ms(&b, 1, u32::MAX), 999);
        assert_eq!(backoff_ms(&b, 1, 0), 0);
        assert_eq!(backoff_ms(&b, 3, u32::MAX), 3999);
        assert_eq!(backoff_ms(&b, 10, u32::MAX), 59_999);
        assert_eq!(backoff_ms(&b, 1000, u32::MAX), 59_999);
    }

    #[test]
    fn retry_after_both_forms() {
        let b = Backoff::default();
        assert_eq!(retry_after_ms(&b, "2", 0), Some(2000));
        assert_eq!(retry_after_ms(&b, " 120 ", 0), Some(120_000));
        assert_eq!(retry_after_ms(&b, "100000", 0), Some(300_000));
        let now = 1_420_452_000_000;
        assert_eq!(retry_after_ms(&b, "Mon, 05 Jan 2015 10:00:30 GMT", now), Some(30_000));
        assert_eq!(retry_after_ms(&b, "Mon, 05 Jan 2015 09:00:00 GMT", now), Some(0));
        assert_eq!(retry_after_ms(&b, "soon", now), None);
        assert_eq!(retry_after_ms(&b, "", now), None);
    }

    proptest! {
        #[test]
        fn jitter_is_the_exact_share_of_the_ceiling(base in 1u64..u64::MAX, cap in 1u64..u64::MAX, tries in 1u32..70, r in any::<u32>()) {
            let b = Backoff { base_ms: base, cap_ms: cap, ..Backoff::default() };
            let exp = (tries - 1).min(40);
            let ceiling = (u128::from(base) << exp).min(u128::from(cap));
            let want = (ceiling * u128::from(r)) >> 32;
            prop_assert_eq!(u128::from(backoff_ms(&b, tries, r)), want);
        }

        #[test]
        fn jitter_stays_in_range(tries in 1u32..50, r in any::<u32>()) {
            let b = Backoff::default();
            let ceiling = (1000u64 << (tries - 1).min(40)).min(60_000);
            let w = backoff_ms(&b, tries, r);
            prop_assert!(w < ceiling);
        }
    }
}
