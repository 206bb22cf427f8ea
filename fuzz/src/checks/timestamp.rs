//! `timestamp`: `parse_str` on any text.
//!
//! - never panics; every `Ok` is within `MIN_MS..=MAX_MS`; every `Err` is an
//!   `invalid_timestamp` with a message and no field;
//! - surrounding ASCII whitespace and ASCII letter case do not change the result;
//! - an accepted instant, written back as ISO 8601 (UTC, and at an offset),
//!   as a 13-digit number and as RFC 1123 / `Date#toString()` text, parses
//!   to the same instant (to the second where the format has no milliseconds).

use coola_tracker::core::timestamp::{parse_str, MAX_MS, MIN_MS};
use coola_tracker::core::ErrorCode;

use super::wire::{iso_utc, parts, zone, DAYS, MONTHS};

/// Runs the checks on `data` read as UTF-8 (invalid sequences become U+FFFD).
pub fn check(data: &[u8]) {
    check_str(&String::from_utf8_lossy(data));
}

/// The checks on one string.
pub fn check_str(s: &str) {
    let r = parse_str(s);
    match &r {
        Ok(ms) => {
            assert!((MIN_MS..=MAX_MS).contains(ms), "{s:?} parsed to {ms}, not 13 digits");
            round_trips(*ms);
        }
        Err(e) => {
            assert_eq!(e.code, ErrorCode::InvalidTimestamp, "{s:?}: {e:?}");
            assert!(!e.message.is_empty(), "{s:?}: empty message");
            assert!(e.field.is_none(), "{s:?}: a field on a bare timestamp error: {e:?}");
            assert!(
                e.message.chars().count() < 600,
                "{s:?}: message of {} chars",
                e.message.len()
            );
        }
    }
    let ok = r.as_ref().ok();
    let padded = format!(" \t{s}\r\n ");
    assert_eq!(
        parse_str(&padded).ok().as_ref(),
        ok,
        "surrounding whitespace changed {s:?}"
    );
    assert_eq!(
        parse_str(&s.to_ascii_uppercase()).ok().as_ref(),
        ok,
        "upper case changed {s:?}"
    );
    assert_eq!(
        parse_str(&s.to_ascii_lowercase()).ok().as_ref(),
        ok,
        "lower case changed {s:?}"
    );
}

/// `ms` written in several supported formats parses back to itself.
pub fn round_trips(ms: i64) {
    let same = |text: String, want: i64| {
        assert_eq!(
            parse_str(&text).map_err(|e| e.message.clone()),
            Ok(want),
            "{text:?} (from {ms})"
        );
    };
    same(ms.to_string(), ms);
    same(iso_utc(ms), ms);
    let sec = ms - ms.rem_euclid(1000);
    let (y, mo, d, h, mi, s, f, wd) = parts(ms, 0);
    let (day, mon) = (DAYS[wd], MONTHS[mo as usize - 1]);
    same(format!("{day}, {d:02} {mon} {y:04} {h:02}:{mi:02}:{s:02} GMT"), sec);
    same(format!("{y:04}/{mo:02}/{d:02} {h:02}:{mi:02}:{s:02}.{f:03}"), ms);
    same(format!("{d:02}/{mo:02}/{y:04} {h:02}:{mi:02}:{s:02}.{f:03}Z"), ms);
    // The same instant at an offset (deterministic, from the instant itself),
    // unless that takes the local date out of four-digit years.
    let off = ms.rem_euclid(2 * 1439 + 1) - 1439;
    let (y, mo, d, h, mi, s, f, wd) = parts(ms, off);
    if (1000..=9999).contains(&y) {
        let (day, mon) = (DAYS[wd], MONTHS[mo as usize - 1]);
        let z = zone(off, true);
        same(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:03}{z}"), ms);
        same(
            format!("{d:02}-{mo:02}-{y:04} {h:02}:{mi:02}:{s:02}.{f:03}{}", zone(off, false)),
            ms,
        );
        same(
            format!(
                "{day} {mon} {d:02} {y:04} {h:02}:{mi:02}:{s:02} GMT{} (Some Time)",
                zone(off, false)
            ),
            sec,
        );
    }
}
