//! `entries`: the shell's compact property form.
//!
//! - any text: `entries::parse` never panics, always ends, only moves
//!   forward (each remainder a strictly shorter suffix of the input), hands
//!   out keys and values that are pieces of the input, and yields nothing
//!   after an error;
//! - text written by the shell's rules (`<tag><utf16 len>:<key><utf16 len>:<value>`)
//!   from any keys and values reads back exactly.

use coola_tracker::core::entries::{self, Entry};
use coola_tracker::core::error::ErrorCode;
use coola_tracker::core::event::RawValue;

use super::input::Input;
use super::wire::write_entry;

/// Runs both checks on `data`: as text, and as a list of entries to write.
pub fn check(data: &[u8]) {
    read_any(&String::from_utf8_lossy(data));
    round_trip(data);
}

fn within(outer: &str, inner: &str) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || i >= o && i + inner.len() <= o + outer.len()
}

/// Reads `s` to the end, checking how the iterator moves.
pub fn read_any(s: &str) {
    let mut it = entries::parse(s);
    let mut rest = it.remainder();
    assert_eq!(rest, s);
    let mut steps = 0;
    while let Some(item) = it.next() {
        steps += 1;
        assert!(steps <= s.len(), "more entries than bytes in {s:?}");
        let now = it.remainder();
        assert!(now.len() < rest.len(), "no progress at {rest:?}");
        assert!(
            s.ends_with(now) && within(s, now),
            "the remainder is not a suffix of the input"
        );
        match item {
            Ok(Entry::Prop(k, v)) => {
                assert!(within(s, k), "a key not taken from the input");
                if let RawValue::Str(t) | RawValue::NumText(t) = v {
                    assert!(within(s, t), "a value not taken from the input");
                }
            }
            Ok(Entry::Default(k, v)) => assert!(within(s, k) && within(s, v)),
            Err(e) => {
                assert!(!e.message.is_empty() && !e.code.as_str().is_empty());
                assert!(it.next().is_none(), "an entry after an error in {s:?}");
                assert_eq!(it.remainder(), "");
                break;
            }
        }
        rest = now;
    }
}

/// What reading one entry written with `tag` gives.
#[derive(Debug)]
enum Want<'a> {
    Entry(Entry<'a>),
    Err(ErrorCode),
}

/// `String(n)` of an integer, read as the shell's `d` entries are.
fn date_ms(v: &str) -> f64 {
    let digits = v.strip_prefix('-').unwrap_or(v);
    if v == "NaN" || digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return f64::NAN;
    }
    let n: f64 = digits.parse().unwrap_or(f64::NAN);
    if v.starts_with('-') {
        -n
    } else {
        n
    }
}

fn want<'a>(tag: char, k: &'a str, v: &'a str) -> Want<'a> {
    let prop = |r| Want::Entry(Entry::Prop(k, r));
    match tag {
        's' => prop(RawValue::Str(v)),
        'n' => prop(RawValue::NumText(v)),
        'b' => prop(RawValue::Bool(v == "true")),
        'u' => prop(RawValue::Absent),
        'd' => prop(RawValue::Date(date_ms(v))),
        'N' | 'f' | 'y' | 'i' => prop(RawValue::Other("")),
        'o' => prop(RawValue::Object),
        'a' => prop(RawValue::Array),
        'p' => Want::Entry(Entry::Default(k, v)),
        'X' => Want::Err(ErrorCode::InvalidValue),
        'K' => Want::Err(ErrorCode::InvalidPropertyName),
        _ => Want::Err(ErrorCode::InvalidValue),
    }
}

fn same(got: &Entry, want: &Entry) -> bool {
    match (got, want) {
        (Entry::Prop(gk, gv), Entry::Prop(wk, wv)) => {
            gk == wk
                && match (gv, wv) {
                    (RawValue::Date(g), RawValue::Date(w)) => g == w || (g.is_nan() && w.is_nan()),
                    (RawValue::Other(_), RawValue::Other(_)) => true,
                    _ => gv == wv,
                }
        }
        _ => got == want,
    }
}

fn text(inp: &mut Input) -> String {
    match inp.u8() % 8 {
        0 => String::new(),
        1 => inp
            .pick(&["true", "false", "NaN", "1420452000000", "-5", "1.5e3", "12:3", "9:"])
            .to_string(),
        // Characters that count twice in UTF-16, and digits and colons that look like lengths.
        2 => "😀".repeat(inp.below(5)) + &inp.string(8),
        3 => format!("{}:{}", inp.u16(), inp.string(8)),
        _ => inp.string(60),
    }
}

/// Writes entries decoded from `data` with the shell's rules and reads them back.
pub fn round_trip(data: &[u8]) {
    const TAGS: &[u8] = b"snbudNoafyipXKz0";
    let mut inp = Input::new(data);
    let mut items = Vec::new();
    while !inp.is_empty() && items.len() < 32 {
        let tag = char::from(inp.pick(TAGS));
        let (k, v) = (text(&mut inp), text(&mut inp));
        let last = matches!(tag, 'X' | 'K' | 'z' | '0');
        items.push((tag, k, v));
        if last {
            break;
        }
    }
    let mut s = String::new();
    for (tag, k, v) in &items {
        write_entry(&mut s, *tag, k, v);
    }
    let got: Vec<_> = entries::parse(&s).collect();
    assert_eq!(got.len(), items.len(), "{s:?} read as {got:?}");
    for (g, (tag, k, v)) in got.iter().zip(&items) {
        match (g, want(*tag, k, v)) {
            (Ok(g), Want::Entry(w)) => assert!(same(g, &w), "{s:?}: got {g:?}, wrote {w:?}"),
            (Err(e), Want::Err(code)) => {
                assert_eq!(e.code, code, "{s:?}");
                if *tag == 'X' {
                    assert!(e.message.ends_with(v.as_str()), "{e:?}");
                }
            }
            (g, w) => panic!("{s:?}: got {g:?}, wrote {w:?}"),
        }
    }
}
