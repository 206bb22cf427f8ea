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
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: &str = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{08}' => "\\b",
            '\u{0c}' => "\\f",
            '\u{2028}' => "\\u2028",
            '\u{2029}' => "\\u2029",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or(""));
        if esc.is_empty() {
            push_unicode_escape(out, c as u32);
        } else {
            out.push_str(esc);
        }
        start = i + c.len_utf8();
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
}

fn push_unicode_escape(out: &mut String, code: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for shift in [12u32, 8, 4, 0] {
        let digit = HEX.get(((code >> shift) & 0xf) as usize).copied().unwrap_or(b'0');
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
    }

    proptest! {
        #[test]
        fn any_string_round_trips(s in any::<String>()) {
            let back: String = serde_json::from_str(&lit(&s)).unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
