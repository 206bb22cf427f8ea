//! `event`: `event::validate` on any list of properties, against a model of
//! the rules in `shared/api.md`.
//!
//! The model predicts, for every input, either the error (code, and field
//! where the contract names one) of the first problem, or the exact list of
//! properties that comes out. An `Ok` must then be a flat JSON object of
//! strings and numbers with `event_name`, `user_id` and a 13-digit integer
//! `event_timestamp_epoch` (unless server timestamps), every string property
//! unchanged, and at most 100 KB; `event_too_large` exactly when the event
//! written by the documented JSON rules is over 100 KB.

use coola_tracker::core::error::ErrorCode;
use coola_tracker::core::event::{self, RawValue, ValidateOptions, MAX_EVENT_BYTES, RESERVED, TIMESTAMP};
use coola_tracker::core::num;
use coola_tracker::core::timestamp::{self, MAX_FUTURE_MS, MAX_MS, MAX_PAST_MS, MIN_MS};

use super::input::Input;
use super::wire::{iso_utc, json_str_len, parse_flat, Tok};
use super::{allowed, short};

/// A property value, owning its text.
#[derive(Clone, Debug)]
pub enum Val {
    /// `RawValue::Str`.
    Str(String),
    /// `RawValue::Num`.
    Num(f64),
    /// `RawValue::NumText`.
    NumText(String),
    /// `RawValue::Bool`.
    Bool(bool),
    /// `RawValue::Absent`.
    Absent,
    /// `RawValue::Date`.
    Date(f64),
    /// `RawValue::Object`.
    Object,
    /// `RawValue::Array`.
    Array,
    /// `RawValue::Other`.
    Other(&'static str),
}

impl Val {
    /// The borrowed form `validate` takes.
    pub fn raw(&self) -> RawValue<'_> {
        match self {
            Val::Str(s) => RawValue::Str(s),
            Val::Num(n) => RawValue::Num(*n),
            Val::NumText(s) => RawValue::NumText(s),
            Val::Bool(b) => RawValue::Bool(*b),
            Val::Absent => RawValue::Absent,
            Val::Date(n) => RawValue::Date(*n),
            Val::Object => RawValue::Object,
            Val::Array => RawValue::Array,
            Val::Other(k) => RawValue::Other(k),
        }
    }
}

/// What the model expects of one property in the output.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    /// This exact string.
    Str(String),
    /// A number reading back as this `f64`.
    Num(f64),
    /// This exact number text.
    Text(String),
    /// This 13-digit integer.
    Ms(i64),
}

/// The model's verdict.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// The properties written, in order.
    Ok(Vec<(String, Out)>),
    /// The first problem: its code and field.
    Err(ErrorCode, Option<String>),
}

fn err(code: ErrorCode, field: Option<&str>) -> Expect {
    Expect::Err(code, field.map(str::to_string))
}

/// A number text that is finite but not as `String(n)` writes it (the JSON
/// grammar is the contract), or one that overflows: the latter is outside
/// `RawValue::NumText`'s contract ("a finite number") and skipped.
fn json_grammar(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |mut i: usize| {
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i, i - s)
    };
    let (j, n) = digits(i);
    if n == 0 || (n > 1 && b.get(i) == Some(&b'0')) {
        return false;
    }
    i = j;
    if b.get(i) == Some(&b'.') {
        let (j, n) = digits(i + 1);
        if n == 0 {
            return false;
        }
        i = j;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let (j, n) = digits(i);
        if n == 0 {
            return false;
        }
        i = j;
    }
    i == b.len()
}

/// Which mandatory fields were written.
#[derive(Default)]
struct Seen {
    name: bool,
    user: bool,
    time: bool,
}

/// The model of one property: `Ok(None)` when it is left out.
fn expect_prop(k: &str, v: &Val, opts: &ValidateOptions, seen: &mut Seen) -> Result<Option<Out>, Expect> {
    if k.is_empty() {
        // api.md: `field` is set for invalid_property_name (here "").
        return Err(err(ErrorCode::InvalidPropertyName, Some(k)));
    }
    if RESERVED.contains(&k) {
        return Err(err(ErrorCode::ReservedProperty, Some(k)));
    }
    if matches!(v, Val::Absent) {
        return Ok(None);
    }
    if k == TIMESTAMP {
        // api.md: an empty mandatory field is missing_field (and with server
        // timestamps the field is optional, so an empty one is left out).
        if matches!(v, Val::Str(s) if s.is_empty()) {
            if opts.server_timestamp {
                return Ok(None);
            }
            return Err(err(ErrorCode::MissingField, Some(k)));
        }
        let ms = match v {
            Val::Str(s) | Val::NumText(s) => timestamp::parse_str(s),
            Val::Num(n) | Val::Date(n) => timestamp::parse_number(*n),
            _ => return Err(err(ErrorCode::InvalidTimestamp, Some(k))),
        };
        let Ok(ms) = ms else {
            return Err(err(ErrorCode::InvalidTimestamp, Some(k)));
        };
        if let (Some(now), false) = (opts.now_ms, opts.server_timestamp) {
            if ms < now - MAX_PAST_MS || ms > now + MAX_FUTURE_MS {
                return Err(err(ErrorCode::TimestampOutOfWindow, Some(k)));
            }
        }
        seen.time = true;
        return Ok(Some(Out::Ms(ms)));
    }
    // event_id, when given, is a non-empty string.
    if k == event::EVENT_ID && !matches!(v, Val::Str(s) if !s.is_empty()) {
        return Err(err(ErrorCode::InvalidValue, Some(k)));
    }
    if k == event::EVENT_NAME || k == event::USER_ID {
        let out = match v {
            Val::Str(s) if s.is_empty() => return Err(err(ErrorCode::MissingField, Some(k))),
            Val::Str(s) => Out::Str(s.clone()),
            _ => return Err(err(ErrorCode::InvalidValue, Some(k))),
        };
        if k == event::EVENT_NAME {
            seen.name = true;
        } else {
            seen.user = true;
        }
        return Ok(Some(out));
    }
    Ok(Some(match v {
        Val::Str(s) => Out::Str(s.clone()),
        Val::Num(n) if n.is_finite() => Out::Num(*n),
        Val::NumText(t) if json_grammar(t) => Out::Text(t.clone()),
        Val::Bool(b) => Out::Str(b.to_string()),
        Val::Object | Val::Array => return Err(err(ErrorCode::NestedProperty, Some(k))),
        _ => return Err(err(ErrorCode::InvalidValue, Some(k))),
    }))
}

/// The model of `validate_into` with no name argument: the caller's
/// properties in order, then each default the caller did not give (a
/// null/undefined property gives nothing) unless it is empty.
pub fn expect(props: &[(String, Val)], defaults: &[(String, Val)], opts: &ValidateOptions) -> Expect {
    let mut out = Vec::new();
    let mut seen = Seen::default();
    let given = |k: &str| props.iter().any(|(pk, pv)| pk == k && !matches!(pv, Val::Absent));
    let skip =
        |(k, v): &&(String, Val)| given(k) || matches!(v, Val::Absent) || matches!(v, Val::Str(s) if s.is_empty());
    let defaults: Vec<&(String, Val)> = defaults.iter().filter(|d| !skip(d)).collect();
    for (k, v) in props.iter().chain(defaults) {
        match expect_prop(k, v, opts, &mut seen) {
            Ok(Some(o)) => out.push((k.clone(), o)),
            Ok(None) => {}
            Err(e) => return e,
        }
    }
    let missing = if !seen.name {
        event::EVENT_NAME
    } else if !seen.user {
        event::USER_ID
    } else if !seen.time && !opts.server_timestamp {
        TIMESTAMP
    } else {
        return Expect::Ok(out);
    };
    err(ErrorCode::MissingField, Some(missing))
}

/// Bytes of the JSON object holding `props`, by the documented writing rules.
fn json_len(props: &[(String, Out)]) -> usize {
    let body: usize = props
        .iter()
        .map(|(k, v)| {
            json_str_len(k)
                + 1
                + match v {
                    Out::Str(s) => json_str_len(s),
                    Out::Num(n) => {
                        let mut t = String::new();
                        num::push_json_number(&mut t, *n);
                        t.len()
                    }
                    Out::Text(t) => t.len(),
                    Out::Ms(_) => 13,
                }
        })
        .sum();
    2 + body + props.len().saturating_sub(1)
}

/// Checks one `validate` output against the model's properties.
pub fn check_output(json: &str, want: &[(String, Out)], server_timestamp: bool) {
    let got = parse_flat(json).unwrap_or_else(|e| panic!("validate wrote bad JSON: {e}"));
    assert_eq!(got.len(), want.len(), "{json:.300}\nwant {}", short(&want));
    for ((gk, gv), (wk, wv)) in got.iter().zip(want) {
        assert_eq!(gk, wk, "{json:.300}");
        match (gv, wv) {
            (Tok::Str(g), Out::Str(w)) => assert_eq!(g, w, "property {wk:?} changed"),
            (Tok::Num(g), Out::Num(w)) => {
                let back: f64 = g.parse().unwrap_or(f64::NAN);
                assert!(back == *w, "{wk:?}: {g} does not read back as {w:?}");
                let v: serde_json::Value = serde_json::from_str(g).expect("a JSON number");
                assert_eq!(v.as_f64(), Some(back + 0.0), "{g}");
            }
            (Tok::Num(g), Out::Text(w)) => assert_eq!(g, w, "{wk:?}: number text changed"),
            (Tok::Num(g), Out::Ms(w)) => {
                assert_eq!(g.len(), 13, "{wk:?} is not 13 digits: {g}");
                assert!(g.bytes().all(|b| b.is_ascii_digit()), "{wk:?}: {g}");
                assert_eq!(g.parse::<i64>().ok(), Some(*w), "{wk:?}");
            }
            (g, w) => panic!("{wk:?}: got {g:?}, want {w:?}"),
        }
    }
    let has = |k: &str| {
        got.iter()
            .any(|(gk, gv)| gk == k && matches!(gv, Tok::Str(s) if !s.is_empty()))
    };
    assert!(has(event::EVENT_NAME) && has(event::USER_ID), "{json:.300}");
    assert!(
        server_timestamp || got.iter().any(|(k, v)| k == TIMESTAMP && matches!(v, Tok::Num(_))),
        "{json:.300}"
    );
    assert!(json.len() <= MAX_EVENT_BYTES, "an event of {} bytes", json.len());
}

/// A timestamp value near `now` (or anywhere in the 13-digit range), in one
/// of the forms a caller gives.
fn timestamp_value(inp: &mut Input, now: Option<i64>) -> Val {
    let base = now.unwrap_or(1_420_452_000_000);
    let ms = match inp.u8() % 6 {
        0 => base,
        1 => base - inp.pick(&[MAX_PAST_MS, MAX_PAST_MS + 1, 1, 86_400_000]),
        2 => base + inp.pick(&[MAX_FUTURE_MS, MAX_FUTURE_MS + 1, 1000]),
        3 => MIN_MS + (inp.u64() % (MAX_MS - MIN_MS + 1) as u64) as i64,
        4 => base - i64::from(inp.u32()),
        _ => inp.pick(&[MIN_MS, MAX_MS, MIN_MS - 1, MAX_MS + 1, 1_420_452_000, 0]),
    };
    match inp.u8() % 5 {
        0 => Val::Num(ms as f64),
        1 => Val::NumText(ms.to_string()),
        2 => Val::Date(ms as f64),
        3 if (MIN_MS..=MAX_MS).contains(&ms) => Val::Str(iso_utc(ms)),
        _ => Val::Str(ms.to_string()),
    }
}

fn key(inp: &mut Input) -> String {
    match inp.u8() % 16 {
        0 => event::EVENT_NAME.into(),
        1 => event::USER_ID.into(),
        2 => TIMESTAMP.into(),
        3 => inp.pick(&RESERVED).into(),
        4 => String::new(),
        5 => inp
            .pick(&["event_id", "session_dua", "a", "Event_Name", "uid ", "user_id\0"])
            .into(),
        _ => inp.string(40),
    }
}

fn value(inp: &mut Input, now: Option<i64>) -> Val {
    match inp.u8() % 32 {
        0..=4 => Val::Str(inp.string(200)),
        5 => Val::Num(inp.f64()),
        6 => {
            let n = inp.f64();
            Val::NumText(if inp.bool() { format!("{n}") } else { format!("{n:e}") })
        }
        7 => Val::NumText(inp.string(30)),
        8 => Val::Bool(inp.bool()),
        9 => Val::Absent,
        10 => Val::Date(inp.f64()),
        11 => Val::Object,
        12 => Val::Array,
        13 => Val::Other(inp.pick(&["a function", "a symbol", "NaN or an infinity"])),
        14 => timestamp_value(inp, now),
        15 => Val::Str(String::new()),
        16..=30 => Val::Str(inp.string(40)),
        _ => {
            // Long text, to reach the 100 KB limit from a short input.
            let piece = inp.pick(&["x", "\"", "\u{1}", "é", "\u{2028}", "😀", "\\n"]);
            let n = inp.below(120_000) / piece.len().max(1);
            Val::Str(piece.repeat(n))
        }
    }
}

/// An input of the `event` target.
pub struct Case {
    /// The caller's properties.
    pub props: Vec<(String, Val)>,
    /// Defaults for `validate_into` (used when `Some`).
    pub defaults: Option<Vec<(String, Val)>>,
    /// The options.
    pub opts: ValidateOptions,
}

/// A property list, defaults and options decoded from the input.
pub fn decode(data: &[u8]) -> Case {
    let mut inp = Input::new(data);
    let flags = inp.u8();
    let span = (MAX_MS - MIN_MS - 62 * 86_400_000) as u64;
    let now = (flags & 2 != 0).then(|| MIN_MS + 31 * 86_400_000 + (inp.u64() % span) as i64);
    let opts = ValidateOptions {
        server_timestamp: flags & 1 != 0,
        now_ms: now,
    };
    let mut props = Vec::new();
    if flags & 4 == 0 {
        props.push((event::EVENT_NAME.to_string(), Val::Str(format!("e{}", inp.string(20)))));
    }
    if flags & 8 == 0 {
        props.push((event::USER_ID.to_string(), Val::Str(format!("u{}", inp.string(20)))));
    }
    if flags & 16 == 0 {
        props.push((TIMESTAMP.to_string(), timestamp_value(&mut inp, now)));
    }
    // Defaults as the tracker passes them: filled unless the caller gives them.
    let defaults = (flags & 64 != 0).then(|| {
        let mut d = Vec::new();
        for k in [event::USER_ID, TIMESTAMP, "event_id", "session_dua"] {
            let v = match inp.u8() % 5 {
                0 => continue,
                1 => Val::Str(String::new()),
                2 => Val::Absent,
                _ if k == TIMESTAMP => timestamp_value(&mut inp, now),
                _ => Val::Str(format!("d{}", inp.string(8))),
            };
            d.push((k.to_string(), v));
        }
        d
    });
    while !inp.is_empty() && props.len() < 64 {
        let k = key(&mut inp);
        let v = value(&mut inp, now);
        props.push((k, v));
    }
    if flags & 32 != 0 {
        // Mandatory fields last rather than first.
        let k = 3.min(props.len());
        props.rotate_left(k);
    }
    Case { props, defaults, opts }
}

/// Runs the checks on `data`.
pub fn check(data: &[u8]) {
    let Case { props, defaults, opts } = decode(data);
    // Outside `NumText`'s contract (the text of a *finite* number): skipped.
    if props
        .iter()
        .chain(defaults.iter().flatten())
        .any(|(_, v)| matches!(v, Val::NumText(t) if json_grammar(t) && !t.parse::<f64>().is_ok_and(f64::is_finite)))
    {
        return;
    }
    let defaults = defaults.unwrap_or_default();
    let absent_default = props
        .iter()
        .any(|(k, v)| matches!(v, Val::Absent) && defaults.iter().any(|(d, _)| d == k));
    if absent_default && !allowed("absent_hides_default") {
        return;
    }
    let raw = props.iter().map(|(k, v)| (k.as_str(), v.raw()));
    let got = if defaults.is_empty() {
        event::validate(raw, &opts)
    } else {
        let d: Vec<(&str, RawValue)> = defaults.iter().map(|(k, v)| (k.as_str(), v.raw())).collect();
        let mut out = String::from("[");
        let r = event::validate_into(&mut out, None, raw, &d, &opts);
        match r {
            Ok(_) => Ok(out.split_off(1)),
            Err(e) => {
                assert_eq!(out, "[", "validate_into left text behind on error");
                Err(e)
            }
        }
    };
    let want = expect(&props, &defaults, &opts);
    match (&got, &want) {
        (Ok(json), Expect::Ok(w)) => {
            assert_eq!(
                json.len(),
                json_len(w),
                "JSON length differs from the documented rules: {json:.300}"
            );
            check_output(json, w, opts.server_timestamp);
        }
        (Err(e), Expect::Ok(w)) if e.code == ErrorCode::EventTooLarge => {
            let len = json_len(w);
            assert!(len > MAX_EVENT_BYTES, "event_too_large for an event of {len} bytes");
            assert!(e.field.is_none());
        }
        (Err(e), Expect::Err(code, field)) => {
            assert_eq!((e.code, &e.field), (*code, field), "{e:?}\nprops {}", short(&props));
            assert!(!e.code.as_str().is_empty() && !e.message.is_empty(), "{e:?}");
        }
        (got, want) => panic!(
            "validate gave {}, the contract says {}\nprops {}",
            short(got),
            short(want),
            short(&props)
        ),
    }
    if let Ok(json) = &got {
        assert!(json.len() <= MAX_EVENT_BYTES);
    } else if let Err(e) = &got {
        // Codes that concern one property name it (api.md, "Errors").
        let needs_field = matches!(
            e.code,
            ErrorCode::MissingField
                | ErrorCode::InvalidPropertyName
                | ErrorCode::NestedProperty
                | ErrorCode::InvalidValue
                | ErrorCode::ReservedProperty
                | ErrorCode::InvalidTimestamp
                | ErrorCode::TimestampOutOfWindow
        );
        assert_eq!(e.field.is_some(), needs_field, "{e:?}");
    }
}
