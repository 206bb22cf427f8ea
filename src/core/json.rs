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
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    // Bytes, not chars: everything to escape starts with an ASCII byte, or
    // with 0xE2 for U+2028 / U+2029 (E2 80 A8 / E2 80 A9).
    for (i, &b) in bytes.iter().enumerate() {
        let line_sep =
            b == 0xE2 && matches!(bytes.get(i + 1), Some(0x80)) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9));
        if b >= 0x20 && b != b'"' && b != b'\\' && !line_sep {
            continue;
        }
        out.push_str(s.get(start..i).unwrap_or(""));
        start = i + 1;
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
                if matches!(bytes.get(i + 2), Some(0xA8)) {
                    0x2028
                } else {
                    0x2029
                },
            );
            start = i + 3;
        } else {
            push_unicode_escape(out, u32::from(b));
        }
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
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

    proptest! {
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
