//! Consent and sampling: whether a visitor's events are tracked at all.
//!
//! - Consent: a tracker starts opted out or in from the `optOut` option, the
//!   choice saved by `optOut()` / `optIn()`, and (with `privacySignals`) the
//!   browser's Global Privacy Control or Do Not Track signal; see
//!   [`starts_opted_out`].
//! - Sampling: whether a user is kept is decided from `user_id` alone, so
//!   the same user is kept or dropped on every page and device; see
//!   [`keeps_user`].

/// A choice saved by `optOut()` or `optIn()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// `optIn()` was called.
    In,
    /// `optOut()` was called.
    Out,
}

impl Choice {
    /// The text saved in storage.
    pub fn stored(self) -> &'static str {
        match self {
            Choice::In => "in",
            Choice::Out => "out",
        }
    }

    /// The choice a saved text stands for; `None` for anything else.
    pub fn parse(saved: &str) -> Option<Choice> {
        match saved {
            "in" => Some(Choice::In),
            "out" => Some(Choice::Out),
            _ => None,
        }
    }
}

/// Whether a tracker starts opted out:
/// - `option` is the `optOut` option (`None` when not given);
/// - `saved` the choice saved by an earlier `optOut()` / `optIn()`;
/// - `signal` whether `privacySignals` is on and the browser sends Global
///   Privacy Control or Do Not Track.
///
/// Opted out when `optOut: true` is given; or when it is not given and the
/// saved choice is opted out; or when a signal is present and the saved
/// choice is not an explicit `optIn()`. Otherwise opted in.
pub fn starts_opted_out(option: Option<bool>, saved: Option<Choice>, signal: bool) -> bool {
    let by_signal = signal && saved != Some(Choice::In);
    match option {
        Some(true) => true,
        Some(false) => by_signal,
        None => saved == Some(Choice::Out) || by_signal,
    }
}

/// Whether the events of `user_id` are kept at sampling rate `rate` (0..=1):
/// a 64-bit FNV-1a hash of the id, read as a fraction of 2^64, below `rate`.
/// The same id gives the same answer everywhere, and a rate kept for one
/// user keeps them at every higher rate.
pub fn keeps_user(user_id: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate.is_nan() || rate <= 0.0 {
        return false;
    }
    let h = user_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    // Mix the high bits down: FNV's low bits vary more than its high ones for
    // ids that differ only at the end (user-1, user-2...).
    let h = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let h = h ^ (h >> 32);
    // The top 53 bits, as a fraction in [0, 1).
    ((h >> 11) as f64) * (1.0 / 9_007_199_254_740_992.0) < rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_rule_of_api_md() {
        use Choice::*;
        // optOut: true always wins.
        for saved in [None, Some(In), Some(Out)] {
            for signal in [false, true] {
                assert!(starts_opted_out(Some(true), saved, signal));
            }
        }
        // optOut: false: in, unless a signal and no explicit optIn().
        assert!(!starts_opted_out(Some(false), Some(Out), false));
        assert!(starts_opted_out(Some(false), None, true));
        assert!(starts_opted_out(Some(false), Some(Out), true));
        assert!(!starts_opted_out(Some(false), Some(In), true));
        // Not given: the saved choice, then the signal.
        assert!(!starts_opted_out(None, None, false));
        assert!(starts_opted_out(None, Some(Out), false));
        assert!(!starts_opted_out(None, Some(In), false));
        assert!(starts_opted_out(None, None, true));
        assert!(!starts_opted_out(None, Some(In), true));
    }

    #[test]
    fn saved_choices_read_back() {
        for c in [Choice::In, Choice::Out] {
            assert_eq!(Choice::parse(c.stored()), Some(c));
        }
        for bad in ["", "IN", "true", "out ", "1"] {
            assert_eq!(Choice::parse(bad), None);
        }
    }

    #[test]
    fn sampling_keeps_the_share_asked_for_by_user() {
        let n = 100_000;
        for rate in [0.01, 0.1, 0.25, 0.5, 0.9] {
            let kept = (0..n).filter(|i| keeps_user(&format!("user-{i}"), rate)).count();
            let share = kept as f64 / n as f64;
            // Binomial: 4 standard deviations at most.
            let tol = 4.0 * (rate * (1.0 - rate) / n as f64).sqrt();
            assert!((share - rate).abs() <= tol, "rate {rate}: kept {share}");
        }
        // UUID-like ids too.
        let kept = (0..20_000u32)
            .filter(|i| {
                keeps_user(
                    &format!("{:08x}-7d1c-4e2a-9b1f-{:012x}", i.wrapping_mul(2_654_435_761), i),
                    0.3,
                )
            })
            .count();
        assert!((kept as f64 / 20_000.0 - 0.3).abs() < 0.02, "{kept}");
    }

    #[test]
    fn sampling_is_deterministic_and_nested() {
        assert!(keeps_user("anyone", 1.0) && !keeps_user("anyone", 0.0) && !keeps_user("x", f64::NAN));
        for i in 0..2_000 {
            let id = format!("u{i}");
            assert_eq!(keeps_user(&id, 0.4), keeps_user(&id, 0.4));
            if keeps_user(&id, 0.2) {
                assert!(keeps_user(&id, 0.4), "kept at 0.2 but not at 0.4: {id}");
            }
        }
    }
}
