//! JSON writing for flat events: strings escaped so that any Unicode text,
//! quotes, backslashes and control characters included, reads back unchanged.

#[allow(unused_imports)]
use crate::prelude::*;
/// Appends `s` as a JSON string literal, quotes included.
///
/// `"` and `\` are escaped, control characters below U+0020 become `\n`,
/// `\t`, ... or `\u00XX`, and U+2028 / U+2029 are escaped so the JSON is also
/// valid JavaScript. Every other character is written as UTF-8.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    // Bytes, not chars: everything to escape starts with an ASCII byte, or
    // with 0xE2 for U+2028 / U+2029 (E2 80 A8 / E2 80 A9).
    while let Some(&b) = bytes.get(i) {
        // Eight bytes at a time from an ASCII byte (most text): the plain
        // ones before the first byte to look at are passed at once (all
        // eight when there is none), and copied in one piece below. A
        // non-ASCII byte tries no window, so text that is mostly multi-byte
        // pays nothing for it.
        if b < 0x80 {
            if let Some(w) = bytes.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
                let plain = (flags(u64::from_le_bytes(w)).trailing_zeros() / 8) as usize;
                if plain > 0 {
                    i += plain;
                    continue;
                }
            }
        }
        let line_sep =
            b == 0xE2 && matches!(bytes.get(i + 1), Some(0x80)) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9));
        i += 1;
        if b >= 0x20 && b != b'"' && b != b'\\' && !line_sep {
            continue;
        }
        debug_assert!(s.is_char_boundary(start) && s.is_char_boundary(i - 1));
        // SAFETY: `i - 1` is the index of the byte to escape, ASCII or the
        // lead byte E2, and `start` is 0 or just past an escaped ASCII byte
        // or a whole E2 80 A8/A9: char boundaries, `start <= i - 1 < len`.
        out.push_str(unsafe { s.get_unchecked(start..i - 1) });
        start = i;
        let short = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'\n' => 'n',
            b'\r' => 'r',
            b'\t' => 't',
            0x08 => 'b',
            0x0c => 'f',
            _ => ' ',
        };
        if short != ' ' {
            out.push('\\');
            out.push(short);
        } else if line_sep {
            // The two bytes after E2 are >= 0x20: the loop passes over them.
            push_unicode_escape(
                out,
                if matches!(bytes.get(i + 1), Some(0xA8)) {
                    0x2028
                } else {
                    0x2029
                },
            );
            start = i + 2;
        } else {
            push_unicode_escape(out, u32::from(b));
        }
    }
    debug_assert!(s.is_char_boundary(start));
    // SAFETY: `start` is 0 or just past an escaped character (see above),
    // whose bytes `get` found: a char boundary, at most the length.
    out.push_str(unsafe { s.get_unchecked(start..) });
    out.push('"');
}

/// The high bit of each byte of `w` (little-endian: the first byte is the
/// lowest) that JSON may not write as it is: non-ASCII, a control
/// character, `"` or `\`. Bit tricks: the high bit of a byte of
/// `(x - 0x0101..) & !x` is set for a byte of `x` that is 0 (of
/// `x - 0x2020..`, below 0x20), and no byte is missed. A borrow can also
/// flag a byte above a real one, never below it: the lowest flag is a real
/// byte to look at, and the bytes before it are plain.
fn flags(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    (w.wrapping_sub(ONES * 0x20) & !w | zero(quote) | zero(backslash) | w) & (ONES * 0x80)
}

fn push_unicode_escape(out: &mut String, code: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for k in (0..4u32).rev() {
        let digit = HEX.get(((code >> (4 * k)) & 0xf) as usize).copied().unwrap_or(b'0');
        out.push(digit as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lit(s: &str) -> String {
        let mut out = String::new();
        push_str(&mut out, s);
        out
    }

    #[test]
    fn escapes() {
        assert_eq!(lit("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(lit("\n\t\u{0}\u{1f}"), r#""\n\t\u0000\u001f""#);
        assert_eq!(lit("é😀"), "\"é😀\"");
        assert_eq!(lit("\u{2028}"), r#""\u2028""#);
        assert_eq!(
            lit("a\u{2029}b\u{2028}\u{2027}\r\u{8}\u{c}"),
            "\"a\\u2029b\\u2028\u{2027}\\r\\b\\f\""
        );
    }

    /// The escaping as the spec says it, one char at a time.
    fn reference(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn every_byte_in_every_place_of_a_run() {
        // Each character of interest at each offset of a 20-byte ASCII run:
        // inside and across the eight-byte steps.
        for c in [
            '"', '\\', '\n', '\u{0}', '\u{1f}', ' ', '~', '\u{7f}', 'é', '\u{2028}', '\u{2029}', '\u{2027}',
        ] {
            for at in 0..20 {
                let mut s: String = "abcdefghijklmnopqrst".into();
                s.insert(at, c);
                assert_eq!(lit(&s), reference(&s), "{s:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn matches_the_reference(s in "[a-z\"\\\\\u{0}-\u{1f}\u{2028}\u{2029}é]{0,40}") {
            prop_assert_eq!(lit(&s), reference(&s));
        }

        #[test]
        fn any_string_round_trips(s in any::<String>()) {
            let json = lit(&s);
            prop_assert!(!json.contains(['\u{2028}', '\u{2029}']), "raw line separator");
            prop_assert!(!json.bytes().any(|b| b < 0x20), "raw control character");
            let back: String = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
