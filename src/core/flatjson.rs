//! A reader for flat JSON objects: `{"name":"value","n":1.5}`.
//!
//! Used to read events back from storage, where the data may have been
//! tampered with or written by something else: anything that is not a flat
//! object of strings, numbers, booleans and nulls is refused.

use crate::core::error::{Error, ErrorCode};
use crate::core::num;

/// A value of a flat JSON object.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string, unescaped.
    Str(String),
    /// A number, as its JSON text.
    Num(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

fn bad() -> Error {
    Error::new(ErrorCode::StorageError, "stored data is not a flat JSON object")
}

struct Reader<'a> {
    s: &'a str,
    i: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), Error> {
        self.ws();
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(bad())
        }
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let h = self.s.get(self.i..self.i + 4).ok_or_else(bad)?;
        self.i += 4;
        u32::from_str_radix(h, 16).map_err(|_| bad())
    }

    fn string(&mut self) -> Result<String, Error> {
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let rest = self.s.get(self.i..).ok_or_else(bad)?;
            let stop = rest.find(['"', '\\']).ok_or_else(bad)?;
            let chunk = rest.get(..stop).ok_or_else(bad)?;
            if chunk.bytes().any(|b| b < 0x20) {
                return Err(bad());
            }
            out.push_str(chunk);
            self.i += stop + 1;
            if rest.as_bytes().get(stop) == Some(&b'"') {
                return Ok(out);
            }
            let esc = self.peek().ok_or_else(bad)?;
            self.i += 1;
            let c = match esc {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hi = self.hex4()?;
                    let code = if (0xD800..0xDC00).contains(&hi) && self.s.get(self.i..self.i + 2) == Some("\\u") {
                        let save = self.i;
                        self.i += 2;
                        let lo = self.hex4()?;
                        if (0xDC00..0xE000).contains(&lo) {
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            self.i = save;
                            0xFFFD
                        }
                    } else {
                        hi
                    };
                    char::from_u32(code).unwrap_or('\u{FFFD}')
                }
                _ => return Err(bad()),
            };
            out.push(c);
        }
    }

    fn value(&mut self) -> Result<Value, Error> {
        self.ws();
        let rest = self.s.get(self.i..).ok_or_else(bad)?;
        for (word, v) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            if rest.starts_with(word) {
                self.i += word.len();
                return Ok(v);
            }
        }
        match self.peek() {
            Some(b'"') => self.string().map(Value::Str),
            _ => {
                let end = rest.find([',', '}', ' ', '\t', '\n', '\r']).unwrap_or(rest.len());
                let text = rest.get(..end).ok_or_else(bad)?;
                if !num::is_json_number(text) {
                    return Err(bad());
                }
                self.i += end;
                Ok(Value::Num(text.to_string()))
            }
        }
    }
}

/// Reads a flat JSON object into its properties, in order. Refuses nested
/// objects and arrays, duplicate-free-ness is not checked.
pub fn parse(s: &str) -> Result<Vec<(String, Value)>, Error> {
    let mut r = Reader { s, i: 0 };
    let mut out = Vec::new();
    r.eat(b'{')?;
    r.ws();
    if r.peek() == Some(b'}') {
        r.i += 1;
    } else {
        loop {
            let k = r.string()?;
            r.eat(b':')?;
            let v = r.value()?;
            out.push((k, v));
            r.ws();
            match r.peek() {
                Some(b',') => r.i += 1,
                Some(b'}') => {
                    r.i += 1;
                    break;
                }
                _ => return Err(bad()),
            }
            r.ws();
        }
    }
    r.ws();
    if r.i == s.len() {
        Ok(out)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::json;
    use proptest::prelude::*;

    #[test]
    fn reads_flat_objects() {
        let v = parse(r#" {"a":"x\"y\\z\n\u00e9\ud83d\ude00","n":-1.5e3,"b":true,"z":null} "#).unwrap();
        assert_eq!(
            v,
            vec![
                ("a".into(), Value::Str("x\"y\\z\né😀".into())),
                ("n".into(), Value::Num("-1.5e3".into())),
                ("b".into(), Value::Bool(true)),
                ("z".into(), Value::Null),
            ]
        );
        assert_eq!(parse("{}").unwrap(), vec![]);
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a":{}}"#,
            r#"{"a":[1]}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":01}"#,
            r#"{"a":"x"} x"#,
            r#"{"a":NaN}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{a:1}"#,
            r#"{"a":"\x"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn reads_what_json_writes(props in proptest::collection::vec((any::<String>(), any::<String>()), 0..6)) {
            let mut s = String::from("{");
            for (i, (k, v)) in props.iter().enumerate() {
                if i > 0 { s.push(','); }
                json::push_str(&mut s, k);
                s.push(':');
                json::push_str(&mut s, v);
            }
            s.push('}');
            let got = parse(&s).unwrap();
            let want: Vec<_> = props.into_iter().map(|(k, v)| (k, Value::Str(v))).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn never_panics(s in "[{}\\[\\]\":,a-z0-9\\\\ .eE+-]{0,40}") {
            let _ = parse(&s);
        }
    }
}
