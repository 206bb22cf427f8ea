//! The compact form in which the JavaScript shell hands over an event's
//! properties: one string, read once, instead of one boundary crossing per
//! property.
//!
//! Each entry is `<tag><key length>:<key><value length>:<value>`, lengths in
//! UTF-16 code units (JavaScript's `length`). The shell only says what type
//! each value has; every rule about those types lives in [`crate::core::event`].
//!
//! | tag | value | meaning |
//! |---|---|---|
//! | `s` | the string | a string |
//! | `n` | `String(v)` | a finite number |
//! | `b` | `true` / `false` | a boolean |
//! | `u` | empty | `null` or `undefined` |
//! | `d` | `String(date.getTime())` | a `Date` |
//! | `N` | `String(v)` | NaN or an infinity |
//! | `o` `a` `f` `y` `i` | empty | object, array, function, symbol, BigInt |
//! | `p` | the string | a property the environment fills (page URL...) |
//! | `X` | the type | the properties argument is not an object |
//! | `K` | empty | the properties object has symbol keys (the key is the first one's `String(symbol)`) |
//! | `!` | the message | reading the caller's data threw (a getter, a Proxy, `toString`) |

use crate::core::error::{push_truncated, Error, ErrorCode};
use crate::core::event::RawValue;
#[allow(unused_imports)]
use crate::prelude::*;

/// One decoded entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Entry<'a> {
    /// A caller's property.
    Prop(&'a str, RawValue<'a>),
    /// A value the environment fills unless the caller gave one.
    Default(&'a str, &'a str),
}

/// Iterates over the entries of `s`.
pub fn parse(s: &str) -> Entries<'_> {
    Entries { rest: s }
}

/// Iterator returned by [`parse`]; yields an error for malformed input or
/// for what can't be an event's properties at all.
pub struct Entries<'a> {
    rest: &'a str,
}

impl<'a> Entries<'a> {
    /// What is left to read.
    pub fn remainder(&self) -> &'a str {
        self.rest
    }
}

fn malformed() -> Error {
    Error::new(ErrorCode::InvalidValue, "the properties could not be read")
}

/// Splits off a `<len>:<text>` field whose length is in UTF-16 units. Reads
/// bytes with `.get()`: no `str` pattern search, no slicing that could panic.
fn field(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    // u64: ten digits overflow a 32-bit usize (wasm32), which would read
    // a length past 4,294,967,295 modulo 2^32 instead of refusing it.
    let mut len = 0u64;
    let mut i = 0;
    // 1 to 10 digits, then `:`.
    loop {
        let c = *b.get(i)?;
        i += 1;
        if c == b':' && i > 1 {
            break;
        }
        if !c.is_ascii_digit() || i > 10 {
            return None;
        }
        len = len * 10 + u64::from(c - b'0');
    }
    // Count UTF-16 units from byte `i`: a lead byte of 4 (F0..) is a pair,
    // continuation bytes count nothing. Byte by byte rather than a
    // character at a time: 14 B more gzip, but track() was 7 % slower in
    // Node the other way (tests/bench/ab.mjs --node, 80 rounds).
    let mut end = i;
    let mut units = 0u64;
    while units < len {
        let c = *b.get(end)?;
        units += match c {
            0x80..=0xBF => 0,
            0xF0..=0xFF => 2,
            _ => 1,
        };
        end += 1;
    }
    while b.get(end).is_some_and(|c| (0x80..=0xBF).contains(c)) {
        end += 1;
    }
    if units != len {
        return None;
    }
    debug_assert!(s.is_char_boundary(i) && s.is_char_boundary(end));
    // SAFETY: `i` follows an ASCII `:`; `end` only ever steps past a byte
    // that `get` found (so it is at most the length), and past every
    // continuation byte after the counted units: both are char boundaries.
    unsafe { Some((s.get_unchecked(i..end), s.get_unchecked(end..))) }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let tag = *self.rest.as_bytes().first()?;
        // SAFETY: after an ASCII tag, 1 is a char boundary (any other tag
        // is malformed: not read on).
        let parsed = Some(self.rest)
            .filter(|_| tag.is_ascii())
            .and_then(|r| {
                debug_assert!(r.is_char_boundary(1));
                field(unsafe { r.get_unchecked(1..) })
            })
            .and_then(|(k, r)| field(r).map(|(v, r)| (k, v, r)));
        // Every error ends the iteration: `rest` is cleared in one place.
        self.rest = "";
        // A malformed entry, or an unknown tag: one error for both.
        let (key, val, rest, value) = match parsed.and_then(|(k, v, r)| value_of(tag, v).map(|x| (k, v, r, x))) {
            Some(p) => p,
            None => return Some(Err(malformed())),
        };
        let value = match value {
            Tagged::Value(v) => v,
            Tagged::Default => {
                self.rest = rest;
                return Some(Ok(Entry::Default(key, val)));
            }
            // The shell writes a short type name after `X` (`a number`,
            // `null`...), the message after `!`: one error built for all.
            // A `!` entry with a key read here is a tracker option whose
            // getter threw (an event's, a property's name as key, is
            // refused before, by the shell's `threw`: see [`thrown`]).
            Tagged::Refused => {
                let mut e = if tag == b'!' && !key.is_empty() {
                    Error::field(ErrorCode::InvalidOption, key, "reading it threw: ")
                } else {
                    Error::new(
                        ErrorCode::InvalidValue,
                        if tag == b'X' {
                            "the properties must be an object, not "
                        } else {
                            "reading the properties threw: "
                        },
                    )
                };
                push_truncated(&mut e.message, val, 200);
                return Some(Err(e));
            }
            Tagged::SymbolKey => {
                return Some(Err(Error::field(
                    ErrorCode::InvalidPropertyName,
                    key,
                    "is a Symbol key: property names must be strings",
                )))
            }
        };
        self.rest = rest;
        Some(Ok(Entry::Prop(key, value)))
    }
}

/// What an entry's tag makes of it.
enum Tagged<'a> {
    /// A caller's property of this value.
    Value(RawValue<'a>),
    /// `p`: a value the environment fills.
    Default,
    /// `X` or `!`: the properties are no object, or reading them threw.
    Refused,
    /// `K`: a symbol key.
    SymbolKey,
}

/// The meaning of tag `tag` with value text `val`; `None` for an unknown tag.
fn value_of(tag: u8, val: &str) -> Option<Tagged<'_>> {
    Some(Tagged::Value(match tag {
        b's' => RawValue::Str(val),
        b'n' => RawValue::NumText(val),
        b'b' => RawValue::Bool(*val == *"true"),
        b'u' => RawValue::Absent,
        // An invalid date is NaN: the timestamp rules then say what is wrong.
        b'd' => RawValue::Date(crate::core::num::int_text(val)),
        b'N' => RawValue::Other("NaN or an infinity"),
        b'o' => RawValue::Object,
        b'a' => RawValue::Array,
        b'f' => RawValue::Other("a function"),
        b'y' => RawValue::Other("a symbol"),
        b'i' => RawValue::Other("a BigInt (use Number(value))"),
        b'p' => return Some(Tagged::Default),
        b'X' | b'!' => return Some(Tagged::Refused),
        b'K' => return Some(Tagged::SymbolKey),
        _ => return None,
    }))
}

/// The key and message of a `!` entry, when `s` starts with one: the shell
/// caught an exception while reading the caller's data (the key: the
/// property or option whose reading threw, "" when none is known).
pub fn thrown(s: &str) -> Option<(&str, &str)> {
    if !matches!(s.as_bytes().first(), Some(b'!')) {
        return None;
    }
    // SAFETY: after the ASCII `!`, 1 is a char boundary.
    field(unsafe { s.get_unchecked(1..) }).and_then(|(k, r)| field(r).map(|(m, _)| (k, m)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the JavaScript shell writes, for tests.
    pub(crate) fn write(tag: char, key: &str, val: &str) -> String {
        format!(
            "{tag}{}:{key}{}:{val}",
            key.encode_utf16().count(),
            val.encode_utf16().count()
        )
    }

    #[test]
    fn reads_every_tag() {
        let s = [
            write('s', "a", "x:1"),
            write('n', "b", "1.5"),
            write('b', "c", "false"),
            write('u', "d", ""),
            write('d', "e", "1420452000000"),
            write('o', "f", ""),
            write('p', "page_url", "https://x/é"),
        ]
        .concat();
        let got: Vec<_> = parse(&s).map(|e| e.unwrap()).collect();
        assert_eq!(
            got,
            vec![
                Entry::Prop("a", RawValue::Str("x:1")),
                Entry::Prop("b", RawValue::NumText("1.5")),
                Entry::Prop("c", RawValue::Bool(false)),
                Entry::Prop("d", RawValue::Absent),
                Entry::Prop("e", RawValue::Date(1_420_452_000_000.0)),
                Entry::Prop("f", RawValue::Object),
                Entry::Default("page_url", "https://x/é"),
            ]
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            "s",
            "s1",
            "s1:a",
            "s9:a1:b",
            "s1:a9:b",
            "z1:a1:b",
            "s-1:a1:b",
            "s2:é1:b",
            "s1:😀1:b",
            "s3:😀1:b",
            "s1:a2:é",
        ] {
            let r: Vec<_> = parse(bad).collect();
            assert!(r.iter().any(|e| e.is_err()), "{bad}");
        }
        // A length is 1 to 10 digits.
        assert_eq!(
            parse("s0000000001:a1:b").next(),
            Some(Ok(Entry::Prop("a", RawValue::Str("b"))))
        );
        assert!(parse("s00000000001:a1:b").next().unwrap().is_err());
        assert!(parse("s:1:b").next().unwrap().is_err());
        // A ten-digit length past 2^32 is refused, not read modulo 2^32
        // (as a 32-bit usize would: 4,294,967,297 as 1).
        assert!(parse("s4294967297:a1:b").next().unwrap().is_err());
        let e = parse(&write('X', "", "string")).next().unwrap().unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidValue);
        let t = write('!', "", "boom");
        assert_eq!(thrown(&t), Some(("", "boom")));
        assert_eq!(thrown(&write('!', "plan", "boom")), Some(("plan", "boom")));
        assert_eq!(thrown(&write('s', "a", "b")), None);
        let e = parse(&t).next().unwrap().unwrap_err();
        assert_eq!(e.message, "reading the properties threw: boom");
    }

    proptest! {
        #[test]
        fn any_text_round_trips(k in any::<String>(), v in any::<String>()) {
            let s = write('s', &k, &v) + &write('p', &v, &k);
            let got: Vec<_> = parse(&s).map(|e| e.unwrap()).collect();
            prop_assert_eq!(got, vec![Entry::Prop(&k, RawValue::Str(&v)), Entry::Default(&v, &k)]);
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            for _ in parse(&s) {}
        }
    }
}
