//! Percent-encoding for request bodies.
//!
//! CoolaData wants the JSON "URL encoded". Two flavours are offered:
//! [`push_form`] encodes as `application/x-www-form-urlencoded` does (what
//! `URLSearchParams` reads back, space as `+`), and [`push_component`] as
//! JavaScript's `encodeURIComponent` does (what `decodeURIComponent` reads back).

#[allow(unused_imports)]
use crate::prelude::*;
const HEX: &[u8; 16] = b"0123456789ABCDEF";
const FORM: u8 = 1;
const COMPONENT: u8 = 2;

/// For each byte, what keeps it as it is: [`FORM`] encoding,
/// `encodeURIComponent` ([`COMPONENT`]), both, or neither. A table: the size
/// model reads every byte of every event. (Indexing in a const block: an
/// out-of-range index would fail the build, not panic.) Two 128-bit sets
/// instead (a4bb4ba) weighed 4 B less gzip but made track() about 6 % slower
/// in Chromium (tests/bench/ab.mjs, 7 reps: 6.43 against 6.04 µs).
#[allow(clippy::indexing_slicing)]
const KEEP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() || matches!(c, b'*' | b'-' | b'.' | b'_') {
            FORM | COMPONENT
        } else if matches!(c, b'!' | b'~' | b'\'' | b'(' | b')') {
            COMPONENT
        } else {
            0
        };
        b += 1;
    }
    t
};

fn keep(b: u8, mask: u8) -> bool {
    KEEP.get(usize::from(b)).is_some_and(|f| f & mask != 0)
}

fn push_escaped(out: &mut String, s: &str, mask: u8, space_plus: bool) {
    for &b in s.as_bytes() {
        if keep(b, mask) {
            out.push(b as char);
        } else if space_plus && b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0') as char);
            out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0') as char);
        }
    }
}

/// Appends `s` encoded as `application/x-www-form-urlencoded` (WHATWG URL
/// standard): alphanumerics and `*-._` as they are, space as `+`, every other
/// byte of the UTF-8 as `%XX`.
pub fn push_form(out: &mut String, s: &str) {
    push_escaped(out, s, FORM, true);
}

/// Appends `s` encoded as `encodeURIComponent` does: alphanumerics and
/// `-_.!~*'()` as they are, every other byte (`+` and space included) as `%XX`.
pub fn push_component(out: &mut String, s: &str) {
    push_escaped(out, s, COMPONENT, false);
}

/// How many bytes [`push_form`] (or [`push_component`] with `component`)
/// would append for `s`, without writing anything.
pub fn encoded_len(s: &str, component: bool) -> usize {
    let mask = if component { COMPONENT } else { FORM };
    let mut n = 0;
    for &b in s.as_bytes() {
        n += if keep(b, mask) || (!component && b == b' ') {
            1
        } else {
            3
        };
    }
    n
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Percent-decoding as `URLSearchParams` (form) or `decodeURIComponent` does.
    pub(crate) fn decode(s: &str, form: bool) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                }
                b'+' if form => {
                    out.push(b' ');
                    i += 1;
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn kept_bytes_are_exactly_the_unreserved_ones() {
        for b in 0..=255u8 {
            let form = b.is_ascii_alphanumeric() || b"*-._".contains(&b);
            assert_eq!(keep(b, FORM), form, "{b}");
            assert_eq!(keep(b, COMPONENT), form || b"!~'()".contains(&b), "{b}");
        }
    }

    #[test]
    fn flavours() {
        let mut f = String::new();
        push_form(&mut f, "a b+c/é*~");
        assert_eq!(f, "a+b%2Bc%2F%C3%A9*%7E");
        let mut c = String::new();
        push_component(&mut c, "a b+c/é*~'()!");
        assert_eq!(c, "a%20b%2Bc%2F%C3%A9*~'()!");
    }

    proptest! {
        #[test]
        fn round_trip(s in any::<String>()) {
            for form in [true, false] {
                let mut out = String::new();
                if form { push_form(&mut out, &s) } else { push_component(&mut out, &s) }
                prop_assert_eq!(out.len(), encoded_len(&s, !form));
                prop_assert!(out.bytes().all(|b| b.is_ascii_graphic()));
                prop_assert_eq!(decode(&out, form), s.clone());
            }
        }
    }
}
