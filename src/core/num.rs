//! Number writing without `core::fmt`: integers digit by digit, other finite
//! numbers with ryu's shortest round-trip algorithm (host builds: the
//! shipped wasm gets every number as JavaScript's own text).

#[allow(unused_imports)]
use crate::prelude::*;
/// Appends the decimal digits of `n`.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    // One append, not a capacity check per digit.
    if let Some(digits) = buf.get(i..) {
        // SAFETY: every byte written above is an ASCII digit.
        out.push_str(unsafe { core::str::from_utf8_unchecked(digits) });
    }
}

/// Whether `a` is `pattern` with any of its letters in either case: the
/// same length, and each byte equal to the pattern's once the 0x20 bit is
/// set in both. `pattern` is ASCII letters, digits and the punctuation
/// 0x20-0x3F. Exact for such a pattern when `a` holds no control character
/// (the only other bytes that setting the bit maps onto one of it, e.g.
/// 0x1A onto `:`): the callers compare words of letters, or a URL in which
/// control characters were refused before. A loop of its own, smaller in
/// the wasm than `eq_ignore_ascii_case`'s.
pub(crate) fn eq_fold(a: &[u8], pattern: &[u8]) -> bool {
    debug_assert!(pattern
        .iter()
        .all(|&c| c.is_ascii_alphabetic() || (0x20..0x40).contains(&c)));
    if a.len() != pattern.len() {
        return false;
    }
    let mut i = 0;
    while let (Some(&c), Some(&p)) = (a.get(i), pattern.get(i)) {
        if c | 0x20 != p | 0x20 {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether every byte of `b` is an ASCII digit (true for none).
pub fn all_digits(b: &[u8]) -> bool {
    for c in b {
        if !c.is_ascii_digit() {
            return false;
        }
    }
    true
}

/// Reads 1 to 19 ASCII digits as a number; `None` for anything else (no
/// `str::parse`, whose error paths are larger than this).
pub fn parse_digits(s: &[u8]) -> Option<u64> {
    let v = digits_value(s);
    (v != NOT_DIGITS).then_some(v)
}

/// What [`digits_value`] returns for anything but 1 to 19 digits (no 19
/// digits reach it).
pub(crate) const NOT_DIGITS: u64 = u64::MAX;

/// [`parse_digits`]'s value, [`NOT_DIGITS`] for `None`: a `u64` comes
/// back from a call in a register, an `Option<u64>` through memory.
pub(crate) fn digits_value(s: &[u8]) -> u64 {
    if s.is_empty() || s.len() > 19 || !all_digits(s) {
        return NOT_DIGITS;
    }
    s.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'))
}

/// Reads `-?[0-9]{1,15}` (an integer as JavaScript's `String(n)` writes
/// it) as a number, anything else as NaN: options and `Date` values are
/// whole numbers, so no float parser is needed.
pub fn int_text(t: &str) -> f64 {
    let b = t.as_bytes();
    let (neg, digits) = match b.split_first() {
        Some((b'-', d)) => (true, d),
        _ => (false, b),
    };
    if digits.len() > 15 {
        return f64::NAN;
    }
    match digits_value(digits) {
        NOT_DIGITS => f64::NAN,
        v if neg => -(v as f64),
        v => v as f64,
    }
}

/// Appends `n` in decimal, with a leading `-` when negative.
pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Whether `n` is a whole number that fits in an `i64` (`f64::fract` is not
/// in `core`).
pub fn is_whole(n: f64) -> bool {
    n.is_finite() && (n as i64) as f64 == n
}

/// Appends a finite `f64` as a JSON number: whole numbers below 2^53 without a
/// decimal point (`1420452000000`, `-3`), anything else in the shortest form
/// that reads back to the same `f64` (`0.1`, `1e300`). `-0` is written `0`.
///
/// Returns `false`, writing nothing, for NaN and infinities, which JSON cannot hold.
///
/// The shipped wasm (no `std`, so no `ryu`) writes whole numbers only and
/// returns `false` for others: there every number arrives from JavaScript as
/// its own shortest text ([`crate::core::event::RawValue::NumText`]), so
/// no float formatter is needed.
// Inlined: the shipped wasm has one caller (the event writer).
#[inline(always)]
pub fn push_json_number(out: &mut String, n: f64) -> bool {
    if !n.is_finite() {
        return false;
    }
    const SAFE: f64 = 9_007_199_254_740_992.0;
    if is_whole(n) && n < SAFE && n > -SAFE {
        push_i64(out, n as i64);
        return true;
    }
    #[cfg(feature = "std")]
    {
        let mut buf = ryu::Buffer::new();
        out.push_str(buf.format_finite(n));
        true
    }
    #[cfg(not(feature = "std"))]
    false
}

/// Whether `s` is a number exactly as JSON (and JavaScript's `String(n)` for
/// a finite `n`) writes it: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut i = usize::from(at(0) == b'-');
    // The integer part: 0, or digits that do not start with 0.
    let int = i;
    i = skip_digits(b, i);
    if i == int || (i > int + 1 && at(int) == b'0') {
        return false;
    }
    if at(i) == b'.' {
        let frac = i + 1;
        i = skip_digits(b, frac);
        if i == frac {
            return false;
        }
    }
    if at(i) | 0x20 == b'e' {
        i += 1;
        if at(i) == b'+' || at(i) == b'-' {
            i += 1;
        }
        let exp = i;
        i = skip_digits(b, exp);
        if i == exp {
            return false;
        }
    }
    i == b.len()
}

/// Where the run of ASCII digits from `i` ends.
fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn num(n: f64) -> String {
        let mut s = String::new();
        assert!(push_json_number(&mut s, n));
        s
    }

    #[test]
    fn integers_have_no_decimal_point() {
        assert_eq!(num(1_420_452_000_000.0), "1420452000000");
        assert_eq!(num(-3.0), "-3");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-0.0), "0");
        let mut s = String::new();
        push_i64(&mut s, i64::MIN);
        assert_eq!(s, i64::MIN.to_string());
    }

    #[test]
    fn fractions_are_shortest() {
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(19.99), "19.99");
        assert!(!push_json_number(&mut String::new(), f64::NAN));
        assert!(!push_json_number(&mut String::new(), f64::INFINITY));
    }

    #[test]
    fn integer_text() {
        assert_eq!(int_text("1420452000000"), 1_420_452_000_000.0);
        assert_eq!(int_text("-3"), -3.0);
        assert_eq!(int_text("999999999999999"), 999_999_999_999_999.0);
        for bad in ["", "-", "1.5", "1e3", "+1", " 1", "1000000000000000", "NaN"] {
            assert!(int_text(bad).is_nan(), "{bad}");
        }
    }

    #[test]
    fn folded_comparison_is_ascii_case_insensitive_without_controls() {
        for (a, p, want) in [
            (&b"HTTPS://"[..], &b"https://"[..], true),
            (b"LocalHost", b"localhost", true),
            (b"jan", b"jan", true),
            (b"JANUARY", b"jan", false),
            (b"ja", b"jan", false),
            (b"JaN", b"Jan", true),
            (b"j`n", b"jan", false),
            (b"", b"", true),
        ] {
            assert_eq!(eq_fold(a, p), want, "{a:?}");
        }
        // Every byte but the controls below 0x20 agrees with std on every
        // byte of a pattern.
        for c in 0x20u8..=0xff {
            for p in (b'a'..=b'z').chain(b'A'..=b'Z').chain(0x20..0x40) {
                assert_eq!(eq_fold(&[c], &[p]), [c].eq_ignore_ascii_case(&[p]), "{c:#x} {p:#x}");
            }
        }
    }

    #[test]
    fn json_number_syntax() {
        for ok in [
            "0",
            "-0",
            "1",
            "1.5",
            "1e+21",
            "1.5e-7",
            "-12.25E3",
            "1420452000000",
            "9e999",
            "1e3101",
        ] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "NaN", "Infinity", "1_000", " 1", "0x10", "+1", "1e+", "-01", "00",
            "1.5.5", "1e5e5", "--1", "1-", "1ee5", "1E", "1.e5", "1x", "1 ", "é", "-.5", "1e310-", "1e310.",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn numbers_round_trip(n in any::<f64>().prop_filter("finite", |n| n.is_finite())) {
            let s = num(n);
            prop_assert!(is_json_number(&s));
            let back: f64 = s.parse().unwrap();
            prop_assert!(back == n);
        }

        #[test]
        fn json_number_syntax_matches_serde(s in prop_oneof![
            "-?[0-9]{0,3}(\\.[0-9]{0,2})?([eE][-+]?[0-9]{0,2})?",
            "[-+0-9.eE]{0,8}",
        ]) {
            match serde_json::from_str::<serde_json::Number>(&s) {
                Ok(_) => prop_assert!(is_json_number(&s), "{}", s),
                // 1e999: the value is beyond an f64, and serde stops there,
                // before it has read the rest ("1e310-"): ask it again with
                // the exponent's digits made 0, which is the same syntax.
                Err(e) if e.to_string().contains("out of range") => {
                    let at = s.find(['e', 'E']).unwrap_or(s.len());
                    let (head, exp) = s.split_at(at);
                    let same: String = head.chars().chain(exp.chars().map(|c| if c.is_ascii_digit() { '0' } else { c })).collect();
                    let valid = serde_json::from_str::<serde_json::Number>(&same).is_ok();
                    prop_assert_eq!(is_json_number(&s), valid, "{}", s);
                }
                Err(_) => prop_assert!(!is_json_number(&s), "{}", s),
            }
        }

        #[test]
        fn integers_match_std(n in any::<u64>()) {
            let mut s = String::new();
            push_u64(&mut s, n);
            prop_assert_eq!(s, n.to_string());
        }
    }
}
