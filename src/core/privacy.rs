//! Consent and sampling: whether a visitor's events are tracked at all.
//!
//! - Consent: a tracker starts opted out or in from the `optOut` option, the
//!   choice saved by `optOut()` / `optIn()`, and (with `privacySignals`) the
//!   browser's Global Privacy Control or Do Not Track signal; see
//!   [`starts_opted_out`].
//! - Sampling: whether a user is kept is decided from `user_id` alone, so
//!   the same user is kept or dropped on every page and device; see
//!   [`keeps_user`].

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::error::{Error, ErrorCode};
use crate::core::num;
use crate::core::store::{self, Keys};

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
#[inline(always)]
pub fn starts_opted_out(option: Option<bool>, saved: Option<Choice>, signal: bool) -> bool {
    let by_signal = signal && saved != Some(Choice::In);
    match option {
        Some(true) => true,
        Some(false) => by_signal,
        None => matches!(saved, Some(Choice::Out)) || by_signal,
    }
}

/// Whether the events of `user_id` are kept at sampling rate `rate` (0..=1):
/// a 64-bit FNV-1a hash of the id, read as a fraction of 2^64, below `rate`.
/// The same id gives the same answer everywhere, and a rate kept for one
/// user keeps them at every higher rate.
#[inline(always)]
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

/// The `invalid_option` error of a bad `sampleRate`.
pub fn bad_rate() -> Error {
    Error::field(
        ErrorCode::InvalidOption,
        "sampleRate",
        "must be a number from 0 to 1 (the share of users kept)",
    )
}

/// Reads `sampleRate` as JavaScript's `String(n)` writes it (`0.25`, `1`,
/// `1e-7`): the rate and the JSON text to send as `sample_rate`. `read` is
/// the number the text stands for: the shell's is JavaScript's own
/// `parseFloat`, which gives back exactly the `n` that `String(n)` wrote
/// (so the wasm holds no second decimal reader); the host's is
/// `str::parse`. The form (a JSON number, not negative) is checked here
/// before `read` is called, and the range on the number it gives.
#[inline(always)]
pub fn parse_rate(text: &str, read: impl FnOnce(&str) -> f64) -> Result<(f64, String), Error> {
    if !num::is_json_number(text) || matches!(text.as_bytes().first(), Some(b'-')) {
        return Err(bad_rate());
    }
    let value = read(text);
    // NaN too (a reader that could not read it) is refused.
    if !(0.0..=1.0).contains(&value) {
        return Err(bad_rate());
    }
    Ok((value, text.to_string()))
}

/// The host's number reader for [`parse_rate`] (and so for
/// [`crate::core::config::Config::parse`]): `str::parse`, NaN for what it
/// cannot read.
#[cfg(any(test, feature = "std"))]
pub fn read_number(text: &str) -> f64 {
    text.parse().unwrap_or(f64::NAN)
}

/// The storage key of the saved choice (site-wide, like the anonymous id).
pub fn consent_key(prefix: &str) -> String {
    store::site_key(prefix, ":consent")
}

/// The storage key of the site's current session (`<id>:<last ms>`).
pub fn session_key(prefix: &str) -> String {
    store::site_key(prefix, ":session")
}

/// The stored keys an opt-out removes, besides the events' own (which
/// [`crate::core::tracker::Tracker::opt_out`] unstores): the anonymous id,
/// the session, and this tab's contexts 1 to `contexts`. Made one by one
/// as the shell removes them: no list of keys is built.
#[inline(always)]
pub fn opt_out_keys<'a>(keys: &'a Keys, prefix: &'a str, contexts: u64) -> impl Iterator<Item = String> + 'a {
    (0..contexts.saturating_add(2)).map(move |i| match i {
        0 => keys.user_id(),
        1 => session_key(prefix),
        n => keys.context(n - 1),
    })
}

/// The endpoint as the `debug` output shows it: the template, `{appKey}`
/// not replaced. Only a template without `{appKey}` may hold the key
/// written literally: there every occurrence of it is hidden (a template
/// with `{appKey}` is shown as it is, so that a short key such as `"k"` or
/// `"1"` does not garble the host or the path around the placeholder).
pub fn hide_key(endpoint: &str, app_key: &str) -> String {
    // Whether the template has `{appKey}`.
    let placed = endpoint.as_bytes().windows(8).any(|w| w == b"{appKey}");
    crate::core::config::replace_all(endpoint, if placed { "" } else { app_key }, "{appKey}", false)
}

/// Which page views are due: the URL of the last one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageViews {
    last: Option<String>,
}

impl PageViews {
    /// A page view at `url`: its `referring_url` when it follows an in-page
    /// navigation (the previous page view's URL), `None` for the first one,
    /// or when the URL did not change.
    #[inline(always)]
    pub fn view(&mut self, url: &str) -> Option<String> {
        let changed = self.changed(url);
        let before = self.last.replace(url.to_string());
        before.filter(|_| changed)
    }

    /// Whether an automatic page view is due at `url` (`"history"`): only
    /// when the URL changed since the last page view (a `replaceState` to
    /// the same URL, or a `popstate` back to it, is none).
    pub fn changed(&self, url: &str) -> bool {
        !self.last.as_deref().is_some_and(|l| *l == *url)
    }

    /// Whether a page view was tracked yet.
    pub fn any(&self) -> bool {
        self.last.is_some()
    }
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
    fn sample_rates_read_as_javascript_writes_them() {
        for (t, v) in [
            ("0", 0.0),
            ("1", 1.0),
            ("0.25", 0.25),
            ("1e-7", 1e-7),
            ("0.5", 0.5),
            ("5e-1", 0.5),
            ("0.1", 0.1),
            ("0.30000000000000004", 0.1 + 0.2),
            ("5e-324", 5e-324),
        ] {
            let (got, text) = parse_rate(t, read_number).unwrap();
            assert_eq!(got, v, "{t}");
            assert_eq!(text, t);
        }
        for bad in [
            "1.5",
            "-0.1",
            "-0",
            "2",
            "1e1",
            "1.0000000000000002",
            "abc",
            "",
            "0x1",
            "NaN",
            "Infinity",
            ".5",
            "+0.5",
            "0.5 ",
        ] {
            assert_eq!(
                parse_rate(bad, read_number).unwrap_err().field.as_deref(),
                Some("sampleRate"),
                "{bad}"
            );
        }
        // The form is checked before the reader is asked: what is not a JSON
        // number never reaches it; what the reader cannot read (NaN) or reads
        // out of range is refused.
        assert!(parse_rate("0.5x", |_| unreachable!()).is_err());
        assert!(parse_rate("-1", |_| unreachable!()).is_err());
        assert!(parse_rate("0.5", |_| f64::NAN).is_err());
        assert!(parse_rate("0.5", |_| 1.5).is_err());
        assert_eq!(parse_rate("0.5", |_| 0.5).unwrap(), (0.5, "0.5".to_string()));
        assert_eq!(
            bad_rate().message,
            "\"sampleRate\": must be a number from 0 to 1 (the share of users kept)"
        );
        assert_eq!(bad_rate().code, ErrorCode::InvalidOption);
    }

    #[test]
    fn opt_out_removes_the_id_the_session_and_the_contexts() {
        let keys = Keys::new("coola", "https://x/v3/k/track", "abc");
        let got: Vec<String> = opt_out_keys(&keys, "coola", 2).collect();
        assert_eq!(got[0], "coola:user_id");
        assert_eq!(got[1], "coola:session");
        assert_eq!(got[2..], [keys.context(1), keys.context(2)]);
        assert_eq!(opt_out_keys(&keys, "coola", 0).count(), 2);
        assert_eq!(consent_key("site"), "site:consent");
    }

    #[test]
    fn debug_urls_hide_the_app_key() {
        assert_eq!(
            hide_key("https://api.cooladata.com/v3/SECRET/track", "SECRET"),
            "https://api.cooladata.com/v3/{appKey}/track"
        );
        // Without the placeholder, every literal occurrence is hidden.
        assert_eq!(
            hide_key("http://h/v3/a/b/track?k=a/b", "a/b"),
            "http://h/v3/{appKey}/track?k={appKey}"
        );
        // The template is shown: its placeholder is not replaced, so no
        // encoded form of the key is in it.
        assert_eq!(hide_key("http://h/{appKey}", ""), "http://h/{appKey}");
        assert_eq!(hide_key("http://h/{appKey}", "a/b"), "http://h/{appKey}");
    }

    #[test]
    fn debug_urls_show_a_template_with_the_placeholder_as_it_is() {
        // The key is only where `{appKey}` puts it: the same letters
        // elsewhere in the template are not the key (review30 #9).
        for (key, template) in [
            ("k", "http://127.0.0.1:8787/v3/{appKey}/track"),
            ("1", "http://127.0.0.1:8787/v3/{appKey}/track"),
            ("track", "https://api.cooladata.com/v3/{appKey}/track"),
            ("{appKey}", "https://h/v3/{appKey}/track"),
            ("a", "/collect"),
        ] {
            assert_eq!(hide_key(template, key), template, "{key}");
        }
        assert_eq!(hide_key("/v3/KEY/{appKey}", "KEY"), "/v3/KEY/{appKey}");
        // Without the placeholder, a key written literally is hidden.
        assert_eq!(
            hide_key("https://h/v3/SECRET/track", "SECRET"),
            "https://h/v3/{appKey}/track"
        );
    }

    #[test]
    fn page_views_follow_url_changes() {
        let mut p = PageViews::default();
        assert!(!p.any() && p.changed("https://x/a"));
        assert_eq!(
            p.view("https://x/a"),
            None,
            "the first page view has the document's referrer"
        );
        assert!(!p.changed("https://x/a"), "replaceState to the same URL: none");
        assert!(p.changed("https://x/a#b"), "a hash change counts");
        assert_eq!(p.view("https://x/a#b").as_deref(), Some("https://x/a"));
        assert_eq!(p.view("https://x/c").as_deref(), Some("https://x/a#b"));
        assert_eq!(p.view("https://x/c"), None, "an explicit page view at the same URL");
        assert!(p.any());
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
