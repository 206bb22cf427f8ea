//! The event contract: what a valid CoolaData event is, and its JSON.
//!
//! An event is a flat map of named properties. [`validate_into`] checks every
//! rule of CoolaData's REST API and writes the event as it will be sent: the
//! timestamp normalised to a 13-digit epoch-ms integer, booleans as
//! `"true"`/`"false"`, null/undefined properties left out.

use crate::core::error::{Error, ErrorCode};
use crate::core::{json, num, timestamp};
#[allow(unused_imports)]
use crate::prelude::*;

/// The most bytes of UTF-8 JSON one event may take (CoolaData: "Event size
/// should not exceed 100KB").
pub const MAX_EVENT_BYTES: usize = 102_400;

/// The event name property.
pub const EVENT_NAME: &str = "event_name";
/// The user id property.
pub const USER_ID: &str = "user_id";
/// The event's unique id, which a collector can de-duplicate on.
pub const EVENT_ID: &str = "event_id";
/// The event time property, epoch milliseconds.
pub const TIMESTAMP: &str = "event_timestamp_epoch";

/// Property names CoolaData reserves for itself; events must not send them.
/// Shortest first: [`is_reserved`] stops at the first name longer than the key.
pub const RESERVED: [&str; 15] = [
    "uid",
    "sid",
    "user_alias",
    "internal_user_id",
    "session_duration",
    "session_full_path",
    "session_clean_path",
    "internal_session_id",
    "session_end_time_ts",
    "session_funnel_path",
    "session_events_counter",
    "session_full_clean_path",
    "session_full_category_path",
    "session_serial_event_counter",
    "session_full_clean_category_path",
];

/// [`RESERVED`] as one text, each name after a byte that is its length,
/// built from it at compile time: a scan of it is smaller in the wasm than a
/// `match` on 15 names (or a table of 15 slices), steps from name to name
/// without reading them, and stops at the first name longer than the key.
const RESERVED_LIST: &[u8] = &length_prefixed::<{ total_len(&RESERVED) + RESERVED.len() }>(&RESERVED);

/// The bytes of all of `names`. Run at compile time only (an index out of
/// bounds would fail the build, never the wasm).
#[allow(clippy::indexing_slicing)]
const fn total_len(names: &[&str]) -> usize {
    let (mut n, mut i) = (0, 0);
    while i < names.len() {
        n += names[i].len();
        i += 1;
    }
    n
}

/// `names`, each after a byte that is its length (shortest first: checked
/// here, at compile time). Run at compile time only, as [`total_len`].
#[allow(clippy::indexing_slicing)]
const fn length_prefixed<const N: usize>(names: &[&str]) -> [u8; N] {
    let mut out = [0u8; N];
    let (mut at, mut i) = (0, 0);
    while i < names.len() {
        let name = names[i].as_bytes();
        assert!(name.len() < 256 && (i == 0 || names[i - 1].len() <= name.len()));
        out[at] = name.len() as u8;
        let mut k = 0;
        while k < name.len() {
            out[at + 1 + k] = name[k];
            k += 1;
        }
        at += 1 + name.len();
        i += 1;
    }
    assert!(at == N);
    out
}

/// Whether CoolaData reserves `key` (one of [`RESERVED`]).
// Inlined: the shipped wasm calls it from `write_value` only, and a call
// of its own costs more than its one copy (quick recipe).
#[inline(always)]
pub fn is_reserved(key: &str) -> bool {
    // No first-byte test in front of the scan: the scan steps from length
    // to length, compares only names of the key's length, and stops at the
    // first longer one (track() in Node: 4.94 us per call with and without).
    let k = key.as_bytes();
    let mut rest = RESERVED_LIST;
    while let Some((&len, names)) = rest.split_first() {
        let len = usize::from(len);
        if len > k.len() {
            break;
        }
        if len == k.len() && names.starts_with(k) {
            return true;
        }
        rest = names.get(len..).unwrap_or_default();
    }
    false
}

/// A property value as it arrives from the caller, before validation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RawValue<'a> {
    /// A string.
    Str(&'a str),
    /// A number.
    Num(f64),
    /// A finite number already written as JSON / JavaScript `String(n)` text.
    NumText(&'a str),
    /// A boolean.
    Bool(bool),
    /// `null` or `undefined`: the property is left out.
    Absent,
    /// A JavaScript `Date`, as its epoch-ms value (NaN for an invalid date).
    Date(f64),
    /// A plain object (nested JSON).
    Object,
    /// An array.
    Array,
    /// Anything else (function, symbol, BigInt, NaN, Infinity), named by its kind.
    Other(&'static str),
}

/// Options of [`validate_into`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// The project overrides event time with server time: `event_timestamp_epoch`
    /// becomes optional and no window applies.
    pub server_timestamp: bool,
    /// When given, the timestamp must lie in CoolaData's window around it.
    pub now_ms: Option<i64>,
}

/// Validates one event and returns its JSON. See [`validate_into`].
pub fn validate<'a>(
    props: impl IntoIterator<Item = (&'a str, RawValue<'a>)>,
    opts: &ValidateOptions,
) -> Result<String, Error> {
    let mut out = String::new();
    validate_into(&mut out, None, props, &[], opts)?;
    Ok(out)
}

/// Validates one event and appends its JSON object to `out`.
///
/// - `event_name`, when given, is written first and wins over an
///   `event_name` among `props`.
/// - `props` are the caller's properties, checked and written in order.
/// - `defaults` are written after them, each only if the caller did not give
///   that property and the value is not an empty string or absent (this is how
///   a tracker fills user id, timestamp, user agent...).
///
/// Returns the event time (epoch ms) when the event has one. On error
/// nothing is left appended to `out`, and the error names the first problem
/// found.
pub fn validate_into<'a>(
    out: &mut String,
    event_name: Option<RawValue<'_>>,
    props: impl IntoIterator<Item = (&'a str, RawValue<'a>)>,
    defaults: &[(&str, RawValue<'_>)],
    opts: &ValidateOptions,
) -> Result<Option<i64>, Error> {
    // Straight to the one shared copy for `dyn Iterator`: no generic
    // middle layer per caller.
    let props: &mut dyn Iterator<Item = (&'a str, RawValue<'a>)> = &mut props.into_iter();
    validate_dyn(out, event_name, props, defaults, opts).map(|(t, _)| t)
}

/// [`validate_into`] on an event in the entries form (see
/// [`crate::core::entries`]), its `Default` entries skipped: what
/// `validateEvent`, `encodeBatch` and the edge collector check. A malformed
/// entry is the error, ahead of any rule the properties break.
// Inlined: a wrapper, smaller at its two callers than as a function.
#[inline(always)]
pub fn validate_entries(
    out: &mut String,
    encoded: &str,
    defaults: &[(&str, RawValue<'_>)],
    opts: &ValidateOptions,
) -> Result<(), Error> {
    // The tracker's adapter: one copy of the entries-to-properties loop.
    crate::core::tracker::Props::new(encoded)
        .validate(out, None, defaults, opts)
        .map(|_| ())
}

/// [`validate_into`], also returning which of the first 64 `defaults` the
/// caller gave itself (bit `i` for `defaults[i]`), so a tracker knows
/// without another pass whether the caller chose, say, its own `event_id`.
///
/// The properties come as any iterator, a `dyn Iterator` included. The
/// shipped wasm has one: the tracker's `Props` (the entries form), so
/// the validator is compiled once, for it, with no indirect call per
/// property (and no function table); [`validate_into`] hands its callers'
/// iterators over as `dyn Iterator`, one more copy for all of them.
pub fn validate_with_defaults<'a, I>(
    out: &mut String,
    event_name: Option<RawValue<'_>>,
    props: &mut I,
    defaults: &[(&str, RawValue<'_>)],
    opts: &ValidateOptions,
) -> Result<(Option<i64>, u64), Error>
where
    I: Iterator<Item = (&'a str, RawValue<'a>)> + ?Sized,
{
    validate_dyn(out, event_name, props, defaults, opts)
}

fn validate_dyn<'a, I>(
    out: &mut String,
    event_name: Option<RawValue<'_>>,
    props: &mut I,
    defaults: &[(&str, RawValue<'_>)],
    opts: &ValidateOptions,
) -> Result<(Option<i64>, u64), Error>
where
    I: Iterator<Item = (&'a str, RawValue<'a>)> + ?Sized,
{
    let start = out.len();
    let mut seen = Seen::default();
    let written = write_event(out, event_name, props, defaults, opts, &mut seen);
    let size = out.len() - start;
    let result = match written {
        Err(e) => Err(e),
        Ok(()) if size <= MAX_EVENT_BYTES => return Ok((seen.time, seen.given)),
        Ok(_) => {
            let mut m = String::from("the event is ");
            num::push_u64(&mut m, size as u64);
            m.push_str(" B of JSON, over CoolaData's 102400 B: send less text");
            Err(Error::new(ErrorCode::EventTooLarge, m))
        }
    };
    // Not `String::truncate`: its char-boundary assertion (a panic path
    // and its message, which the trapping panic handler never prints)
    // stays in the wasm even though `start` is always a boundary.
    debug_assert!(out.is_char_boundary(start));
    // SAFETY: `start` was `out.len()` before `write_event`, which only
    // appends, so `out[..start]` is the valid UTF-8 it was.
    unsafe { out.as_mut_vec().truncate(start) };
    result
}

/// Which of the mandatory fields were written, and the first problem found.
#[derive(Default)]
struct Seen {
    name: bool,
    user: bool,
    time: Option<i64>,
    /// Which of the defaults the caller gave (see [`write_event`]).
    given: u64,
}

/// Writes the event, or returns the first problem found; which of
/// `defaults` the caller gave (see [`validate_with_defaults`]) is left in
/// `seen.given` (so the `Result` is one word, back in a register).
/// Inlined into its one caller, [`validate_dyn`].
#[inline(always)]
fn write_event<'a, I>(
    out: &mut String,
    event_name: Option<RawValue<'_>>,
    props: &mut I,
    defaults: &[(&str, RawValue<'_>)],
    opts: &ValidateOptions,
    seen: &mut Seen,
) -> Result<(), Error>
where
    I: Iterator<Item = (&'a str, RawValue<'a>)> + ?Sized,
{
    // Bit i set: the caller gave defaults[i]'s property (at most 64 defaults).
    let mut given: u64 = 0;
    out.push('{');
    if let Some(v) = event_name {
        write_prop(out, EVENT_NAME, v, opts, seen)?;
    }
    for (key, value) in props {
        // `str == str`, not `&str == &str`: the reference impl compiled to a
        // call of its own in front of the comparison.
        if event_name.is_some() && *key == *EVENT_NAME {
            continue;
        }
        // A null/undefined property is left out: the default still applies.
        if !matches!(value, RawValue::Absent) {
            // A bit that walks up: past the 64th default it is 0.
            let mut bit = 1u64;
            for (d, _) in defaults {
                if **d == *key {
                    given |= bit;
                }
                bit <<= 1;
            }
        }
        write_prop(out, key, value, opts, seen)?;
    }
    let mut bit = 1u64;
    for (key, value) in defaults {
        let mine = given & bit != 0;
        bit <<= 1;
        let skip = mine
            || match value {
                // `s.is_empty()`, not a `""` pattern: that one compiled to a
                // call of the string comparison.
                RawValue::Str(s) => s.is_empty(),
                RawValue::Absent => true,
                _ => false,
            };
        if !skip {
            write_prop(out, key, *value, opts, seen)?;
        }
    }
    if matches!(out.as_bytes().last(), Some(b',')) {
        out.pop();
    }
    out.push('}');
    let (missing, why) = if !seen.name {
        (EVENT_NAME, STRING)
    } else if !seen.user {
        (USER_ID, STRING)
    } else if seen.time.is_none() && !opts.server_timestamp {
        (TIMESTAMP, TIME)
    } else {
        seen.given = given;
        return Ok(());
    };
    Err(Error::field(ErrorCode::MissingField, missing, why))
}

/// Why `event_name` or `user_id` is missing or empty...
const STRING: &str = "is required and must be a non-empty string";
/// ...and why `event_timestamp_epoch` is.
const TIME: &str = "is required (13-digit epoch ms) unless serverTimestamp is true";

/// The properties [`write_prop`] has rules of its own for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    Name,
    User,
    Id,
    Time,
    No,
}

/// Why [`write_value`] refused a property: a rule's code and message, a
/// value of a type events cannot hold (see [`invalid`]), or the timestamp
/// rules' error. The [`Error`] about `key` is built in one place
/// ([`write_prop`]), not at each of a dozen returns.
enum Fail {
    Rule(ErrorCode, &'static str),
    Invalid(&'static str),
    Time(Error),
}

/// Writes one property, or says which rule it breaks (an [`Error`] is one
/// pointer: the `Result` comes back in a register).
fn write_prop(
    out: &mut String,
    key: &str,
    value: RawValue<'_>,
    opts: &ValidateOptions,
    seen: &mut Seen,
) -> Result<(), Error> {
    let e = match write_value(out, key, value, opts, seen) {
        Ok(()) => return Ok(()),
        Err(Fail::Rule(code, why)) => Error::field(code, key, why),
        Err(Fail::Invalid(what)) => invalid(key, what),
        Err(Fail::Time(e)) => with_field(e, TIMESTAMP),
    };
    Err(e)
}

fn write_value(
    out: &mut String,
    key: &str,
    value: RawValue<'_>,
    opts: &ValidateOptions,
    seen: &mut Seen,
) -> Result<(), Fail> {
    if key.is_empty() {
        return Err(Fail::Rule(
            ErrorCode::InvalidPropertyName,
            "is an empty name: name every property",
        ));
    }
    if is_reserved(key) {
        return Err(Fail::Rule(
            ErrorCode::ReservedProperty,
            "is reserved by CoolaData: rename it",
        ));
    }
    if matches!(value, RawValue::Absent) {
        return Ok(());
    }
    // Which of the four fields with rules of their own `key` is: one
    // switch on its length instead of six string comparisons.
    let special = match key {
        EVENT_NAME => Special::Name,
        USER_ID => Special::User,
        EVENT_ID => Special::Id,
        TIMESTAMP => Special::Time,
        _ => Special::No,
    };
    if special == Special::Time {
        if matches!(value, RawValue::Str(s) if s.is_empty()) {
            // Empty is as good as absent: optional under server timestamps,
            // otherwise the mandatory field is missing.
            if opts.server_timestamp {
                return Ok(());
            }
            return Err(Fail::Rule(ErrorCode::MissingField, TIME));
        }
        let ms = timestamp_of(value).map_err(Fail::Time)?;
        if let (Some(now), false) = (opts.now_ms, opts.server_timestamp) {
            timestamp::check_window(ms, now).map_err(Fail::Time)?;
        }
        json::push_str(out, key);
        out.push(':');
        num::push_i64(out, ms);
        out.push(',');
        seen.time = Some(ms);
        return Ok(());
    }
    let mandatory = matches!(special, Special::Name | Special::User);
    if special == Special::Id && !matches!(value, RawValue::Str(s) if !s.is_empty()) {
        return Err(Fail::Rule(
            ErrorCode::InvalidValue,
            "must be a unique non-empty string, or left out",
        ));
    }
    json::push_str(out, key);
    out.push(':');
    match value {
        RawValue::Str(s) => {
            if mandatory && s.is_empty() {
                return Err(Fail::Rule(ErrorCode::MissingField, STRING));
            }
            json::push_str(out, s);
        }
        _ if mandatory => {
            return Err(Fail::Rule(
                ErrorCode::InvalidValue,
                "must be a string (use String(value))",
            ))
        }
        RawValue::Num(n) => {
            if !num::push_json_number(out, n) {
                return Err(Fail::Invalid("a number that JSON cannot hold"));
            }
        }
        RawValue::NumText(t) => {
            if !num::is_json_number(t) {
                return Err(Fail::Invalid("a number that JSON cannot hold"));
            }
            out.push_str(t);
        }
        RawValue::Bool(b) => out.push_str(if b { "\"true\"" } else { "\"false\"" }),
        RawValue::Object | RawValue::Array => {
            return Err(Fail::Rule(
                ErrorCode::NestedProperty,
                if matches!(value, RawValue::Array) {
                    "is an array; events are flat: join it into a string"
                } else {
                    "is an object; events are flat: flatten it (e.g. cart_total)"
                },
            ))
        }
        RawValue::Date(_) => return Err(Fail::Invalid("a Date (send date.getTime())")),
        RawValue::Other(kind) => return Err(Fail::Invalid(kind)),
        RawValue::Absent => {}
    }
    out.push(',');
    match special {
        Special::Name => seen.name = true,
        Special::User => seen.user = true,
        _ => {}
    }
    Ok(())
}

fn invalid(key: &str, what: &str) -> Error {
    // Written straight after the error's `"key": ` (no message built apart
    // and copied).
    let mut e = Error::field(ErrorCode::InvalidValue, key, "is ");
    e.message.push_str(what);
    e.message
        .push_str("; send a string, finite number, boolean, null or undefined");
    e
}

/// The timestamp rules' error, about the timestamp field (they set no
/// status or count: only the code and message carry over).
fn with_field(e: Error, field: &str) -> Error {
    Error::field(e.code, field, &e.message)
}

/// Reads a timestamp property value into epoch ms.
pub fn timestamp_of(value: RawValue<'_>) -> Result<i64, Error> {
    match value {
        RawValue::Str(s) | RawValue::NumText(s) => timestamp::parse_str(s),
        RawValue::Num(n) | RawValue::Date(n) => timestamp::parse_number(n),
        _ => Err(Error::new(ErrorCode::InvalidTimestamp, timestamp::FORMATS)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use RawValue::*;

    const TS: f64 = 1_420_452_000_000.0;

    #[test]
    fn entries_form_validated_with_defaults_and_malformed_entries_first() {
        let opts = ValidateOptions::default();
        let mut out = String::new();
        // An environment property (`p`) is not one of the event's own.
        let ok = "s10:event_name1:es7:user_id1:up8:page_url3:x/y";
        let defaults = [("event_timestamp_epoch", Num(TS))];
        validate_entries(&mut out, ok, &defaults, &opts).unwrap();
        assert_eq!(
            out,
            r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000}"#
        );
        // The same event without the timestamp default breaks a rule...
        out.clear();
        let e = validate_entries(&mut out, ok, &[], &opts).unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingField);
        // ...but a malformed entry is reported ahead of it, and nothing is left in `out`.
        let e = validate_entries(&mut out, "s10:event_name1:ez1:a1:b", &[], &opts).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert_eq!(out, "");
        // A malformed entry after a valid event, or before a property that
        // breaks a rule, is the error all the same.
        for bad in [
            "s10:event_name1:es7:user_id1:uz1:a1:b",
            "s10:event_name1:es7:user_id1:uz1:a1:bs3:uid1:x",
        ] {
            let mut out = String::from("kept");
            let e = validate_entries(&mut out, bad, &defaults, &opts).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidValue, "{bad}");
            assert_eq!(out, "kept", "nothing of the valid event stays appended: {bad}");
        }
    }

    fn base() -> Vec<(&'static str, RawValue<'static>)> {
        vec![
            ("event_name", Str("e")),
            ("user_id", Str("u")),
            ("event_timestamp_epoch", Num(TS)),
        ]
    }

    fn with(extra: &[(&'static str, RawValue<'static>)]) -> Result<String, Error> {
        let mut p = base();
        p.extend_from_slice(extra);
        validate(p, &ValidateOptions::default())
    }

    fn code(r: Result<String, Error>) -> (ErrorCode, Option<String>) {
        let e = r.unwrap_err();
        (e.code, e.field.clone())
    }

    #[test]
    fn normalises() {
        let out = with(&[
            ("b", Bool(true)),
            ("c", Bool(false)),
            ("n", Absent),
            ("x", Num(1.5)),
            ("t", NumText("1e+21")),
        ])
        .unwrap();
        assert_eq!(
            out,
            r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"b":"true","c":"false","x":1.5,"t":1e+21}"#
        );
        let s = validate(
            [
                ("event_name", Str("e")),
                ("user_id", Str("u")),
                ("event_timestamp_epoch", Str("2015-01-05T10:00:00Z")),
            ],
            &ValidateOptions::default(),
        )
        .unwrap();
        assert!(s.ends_with("\"event_timestamp_epoch\":1420452000000}"));
    }

    #[test]
    fn every_rule_has_its_code() {
        type Case<'a> = (Vec<(&'a str, RawValue<'a>)>, ErrorCode, Option<&'a str>);
        let cases: Vec<Case> = vec![
            (
                vec![("user_id", Str("u")), ("event_timestamp_epoch", Num(TS))],
                ErrorCode::MissingField,
                Some("event_name"),
            ),
            (
                vec![("event_name", Str("e")), ("event_timestamp_epoch", Num(TS))],
                ErrorCode::MissingField,
                Some("user_id"),
            ),
            (
                vec![("event_name", Str("e")), ("user_id", Str("u"))],
                ErrorCode::MissingField,
                Some("event_timestamp_epoch"),
            ),
            (
                vec![("event_name", Str("")), ("user_id", Str("u"))],
                ErrorCode::MissingField,
                Some("event_name"),
            ),
            (
                vec![
                    ("event_name", Str("e")),
                    ("user_id", Str("")),
                    ("event_timestamp_epoch", Num(TS)),
                ],
                ErrorCode::MissingField,
                Some("user_id"),
            ),
            (
                vec![
                    ("event_name", Str("e")),
                    ("user_id", Str("u")),
                    ("event_timestamp_epoch", Str("")),
                ],
                ErrorCode::MissingField,
                Some("event_timestamp_epoch"),
            ),
            (
                vec![
                    ("event_name", Str("")),
                    ("user_id", Str("u")),
                    ("event_timestamp_epoch", Num(TS)),
                ],
                ErrorCode::MissingField,
                Some("event_name"),
            ),
            (
                vec![("event_name", Str("e")), ("user_id", Num(5.0))],
                ErrorCode::InvalidValue,
                Some("user_id"),
            ),
            (
                vec![
                    ("event_name", Str("e")),
                    ("user_id", Str("u")),
                    ("event_timestamp_epoch", Num(1_420_452_000.0)),
                ],
                ErrorCode::InvalidTimestamp,
                Some("event_timestamp_epoch"),
            ),
            (
                vec![
                    ("event_name", Str("e")),
                    ("user_id", Str("u")),
                    ("event_timestamp_epoch", Str("2015-04-31")),
                ],
                ErrorCode::InvalidTimestamp,
                Some("event_timestamp_epoch"),
            ),
            (vec![("cart", Object)], ErrorCode::NestedProperty, Some("cart")),
            (vec![("items", Array)], ErrorCode::NestedProperty, Some("items")),
            (vec![("f", Other("a function"))], ErrorCode::InvalidValue, Some("f")),
            (vec![("n", Num(f64::NAN))], ErrorCode::InvalidValue, Some("n")),
            (vec![("d", Date(TS))], ErrorCode::InvalidValue, Some("d")),
            (vec![("t", NumText("NaN"))], ErrorCode::InvalidValue, Some("t")),
            (vec![("uid", Str("x"))], ErrorCode::ReservedProperty, Some("uid")),
            (vec![("event_id", Num(1.0))], ErrorCode::InvalidValue, Some("event_id")),
            (vec![("event_id", Str(""))], ErrorCode::InvalidValue, Some("event_id")),
            (vec![("", Str("x"))], ErrorCode::InvalidPropertyName, Some("")),
        ];
        for (props, want, field) in cases {
            let (got, f) = code(validate(props.clone(), &ValidateOptions::default()));
            assert_eq!(got, want, "{props:?}");
            assert_eq!(f.as_deref(), field, "{props:?}");
        }
    }

    #[test]
    fn all_reserved_names_refused() {
        assert!(!is_reserved("user_id") && !is_reserved("Uid"));
        for k in [
            "",
            "u",
            "uid,",
            ",sid",
            "sid,uid",
            "session_id",
            "session_full",
            "internal_user_i",
        ] {
            assert!(!is_reserved(k), "{k}");
        }
        assert!(RESERVED_LIST.starts_with(b"\x03uid\x03sid\x0auser_alias\x10internal_user_id"));
        assert!(RESERVED_LIST.ends_with(b"\x20session_full_clean_category_path"));
        for r in RESERVED {
            assert!(is_reserved(r));
            assert_eq!(code(with(&[(r, Str("x"))])).0, ErrorCode::ReservedProperty);
        }
    }

    #[test]
    fn server_timestamp_makes_time_optional() {
        let opts = ValidateOptions {
            server_timestamp: true,
            now_ms: Some(0),
        };
        assert!(validate([("event_name", Str("e")), ("user_id", Str("u"))], &opts).is_ok());
        // An empty timestamp is as good as none, and is not sent.
        let empty = [
            ("event_name", Str("e")),
            ("user_id", Str("u")),
            ("event_timestamp_epoch", Str("")),
        ];
        assert_eq!(validate(empty, &opts).unwrap(), r#"{"event_name":"e","user_id":"u"}"#);
    }

    #[test]
    fn window_applies_with_now() {
        let now = TS as i64;
        let ok = ValidateOptions {
            server_timestamp: false,
            now_ms: Some(now + 3_600_000),
        };
        assert!(validate(base(), &ok).is_ok());
        let late = ValidateOptions {
            server_timestamp: false,
            now_ms: Some(now + 31 * 86_400_000),
        };
        assert_eq!(
            code(validate(base(), &late)),
            (ErrorCode::TimestampOutOfWindow, Some("event_timestamp_epoch".into()))
        );
        let early = ValidateOptions {
            server_timestamp: false,
            now_ms: Some(now - 3_600_001),
        };
        assert_eq!(code(validate(base(), &early)).0, ErrorCode::TimestampOutOfWindow);
    }

    #[test]
    fn size_limit_is_100kb_of_json() {
        let filler = "x".repeat(MAX_EVENT_BYTES);
        let mut p = base();
        p.push(("big", Str(&filler)));
        let e = validate(p, &ValidateOptions::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::EventTooLarge);
        let small = with(&[]).unwrap().len();
        let fits = "x".repeat(MAX_EVENT_BYTES - small - 9);
        let mut p = base();
        p.push(("big", Str(&fits)));
        assert_eq!(validate(p, &ValidateOptions::default()).unwrap().len(), MAX_EVENT_BYTES);
    }

    #[test]
    fn name_argument_and_defaults() {
        let mut out = String::from("[");
        validate_into(
            &mut out,
            Some(Str("click")),
            [("event_name", Str("ignored")), ("user_id", Str("caller"))],
            &[
                ("user_id", Str("default")),
                ("event_timestamp_epoch", Num(TS)),
                ("session_dua", Str("")),
            ],
            &ValidateOptions::default(),
        )
        .unwrap();
        assert_eq!(
            out,
            r#"[{"event_name":"click","user_id":"caller","event_timestamp_epoch":1420452000000}"#
        );
        // An absent (null/undefined) property does not stop its default.
        let mut absent = String::new();
        validate_into(
            &mut absent,
            Some(Str("click")),
            [("user_id", Absent)],
            &[("user_id", Str("default")), ("event_timestamp_epoch", Num(TS))],
            &ValidateOptions::default(),
        )
        .unwrap();
        assert!(absent.contains(r#""user_id":"default""#), "{absent}");
        // On error nothing stays appended.
        let err = validate_into(&mut out, None, [("x", Object)], &[], &ValidateOptions::default());
        assert!(err.is_err());
        assert!(out.ends_with("000}"));
    }

    #[test]
    fn strings_pass_unchanged() {
        let tricky = "quote\" back\\ nul\u{0} line\n 😀 \u{2028}";
        let out = with(&[("s", Str(tricky))]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["s"], tricky);
    }

    fn value() -> impl Strategy<Value = (String, serde_json::Value)> {
        prop_oneof![
            any::<String>().prop_map(|s| (s.clone(), serde_json::Value::String(s))),
            any::<f64>()
                .prop_filter("finite", |n| n.is_finite())
                .prop_map(|n| ("n".into(), serde_json::json!(n))),
            any::<bool>().prop_map(|b| ("b".into(), serde_json::Value::String(b.to_string()))),
        ]
    }

    proptest! {
        #[test]
        fn encode_then_decode_gives_the_event(
            props in proptest::collection::vec(("[a-z][a-z0-9_]{0,12}|\\PC{1,8}", value()), 0..12),
        ) {
            let mut seen = std::collections::HashSet::new();
            let props: Vec<_> = props.into_iter()
                .filter(|(k, _)| !RESERVED.contains(&k.as_str()) && !k.is_empty()
                    && ![EVENT_NAME, USER_ID, TIMESTAMP].contains(&k.as_str()) && seen.insert(k.clone()))
                .collect();
            let mut raw: Vec<(&str, RawValue)> = base();
            for (k, (s, v)) in &props {
                raw.push((k, match v {
                    serde_json::Value::String(x) if x == "true" || x == "false" => if s == "b" { Bool(x == "true") } else { Str(s) },
                    serde_json::Value::String(_) => Str(s),
                    n => Num(n.as_f64().unwrap()),
                }));
            }
            let json = validate(raw, &ValidateOptions::default()).unwrap();
            let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(v.len(), props.len() + 3);
            for (k, (_, want)) in &props {
                let got = &v[k.as_str()];
                if want.is_number() {
                    prop_assert_eq!(got.as_f64(), want.as_f64());
                } else {
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(v["event_timestamp_epoch"].as_u64(), Some(1_420_452_000_000));
        }
    }
}
