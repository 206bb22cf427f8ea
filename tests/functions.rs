//! The pure functions of the JavaScript API (`parseTimestamp`,
//! `validateEvent`, `encodeBatch`, `visitorProperties`) called through their
//! wasm-bindgen exports with JavaScript values, in Node and in a browser.
//!
//! Run by `make test-wasm-node` and `make test-wasm-chrome` (the second sets
//! `WASM_BINDGEN_USE_BROWSER=1`, which makes the same file run in Chrome).
#![cfg(target_arch = "wasm32")]

use coola_tracker::js::functions::{encode_batch, parse_timestamp, validate_event, visitor_properties};
use js_sys::{Array, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

#[wasm_bindgen(module = "/tests/js/helpers.js")]
extern "C" {
    #[wasm_bindgen(js_name = formData)]
    fn form_data(body: &str) -> Option<String>;
    #[wasm_bindgen(js_name = makeRequest)]
    fn make_request(headers: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = requestLike)]
    fn request_like(headers: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = constructorName)]
    fn constructor_name(v: &JsValue) -> String;
    #[wasm_bindgen(js_name = isError)]
    fn is_error(v: &JsValue) -> bool;
    #[wasm_bindgen(js_name = throwingGetter)]
    fn throwing_getter() -> JsValue;
    #[wasm_bindgen(js_name = throwingOption)]
    fn throwing_option(name: &str) -> JsValue;
    #[wasm_bindgen(js_name = withSymbolKey)]
    fn with_symbol_key() -> JsValue;
    #[wasm_bindgen(js_name = aFunction)]
    fn a_function() -> JsValue;
    #[wasm_bindgen(js_name = aBigInt)]
    fn a_big_int() -> JsValue;
}

/// The constructor of `invalid_timestamp` errors. src/core/error.rs maps the
/// code to a plain `Error`; commit 240cd01's message says it became a
/// `RangeError`. Change this one line when the code settles.
const TIMESTAMP_ERROR: &str = "RangeError";

/// 2015-01-05T10:00:00Z.
const TS: f64 = 1_420_452_000_000.0;
/// 2015-01-05T00:00:00Z.
const DAY: f64 = 1_420_416_000_000.0;
const DAYS_30: f64 = 30.0 * 86_400_000.0;
const HOUR: f64 = 3_600_000.0;

// ---------------------------------------------------------------- helpers

/// A JS object from JSON text, with `extra` properties set on it afterwards
/// (for values JSON cannot hold: undefined, Date, NaN, functions...).
fn js(json: &str, extra: &[(&str, JsValue)]) -> JsValue {
    let v = JSON::parse(json).unwrap_or_else(|_| panic!("bad JSON in test: {json}"));
    for (k, x) in extra {
        Reflect::set(&v, &JsValue::from_str(k), x).unwrap();
    }
    v
}

fn opts(json: &str) -> JsValue {
    js(json, &[])
}

fn stringify(v: &JsValue) -> String {
    JSON::stringify(v).unwrap().as_string().unwrap()
}

fn prop(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap()
}

fn str_prop(v: &JsValue, k: &str) -> Option<String> {
    prop(v, k).as_string()
}

/// What was thrown, as a test sees it.
#[derive(Debug)]
struct Thrown {
    ctor: String,
    code: Option<String>,
    field: Option<String>,
    message: String,
}

fn thrown(e: &JsValue) -> Thrown {
    assert!(is_error(e), "not an Error instance: {e:?}");
    Thrown {
        ctor: constructor_name(e),
        code: str_prop(e, "code"),
        field: str_prop(e, "field"),
        message: str_prop(e, "message").unwrap_or_default(),
    }
}

/// Asserts `r` failed with an `Error` of constructor `ctor`, `code` and
/// `field` (None: no `field` property), and returns what was thrown.
#[track_caller]
fn expect_err<T: std::fmt::Debug>(
    what: &str,
    r: Result<T, JsValue>,
    ctor: &str,
    code: &str,
    field: Option<&str>,
) -> Thrown {
    let e = match r {
        Ok(v) => panic!("{what}: expected {code}, got Ok({v:?})"),
        Err(e) => thrown(&e),
    };
    assert_eq!(e.code.as_deref(), Some(code), "{what}: code ({e:?})");
    assert_eq!(e.ctor, ctor, "{what}: constructor ({e:?})");
    assert_eq!(e.field.as_deref(), field, "{what}: field ({e:?})");
    assert!(!e.message.is_empty(), "{what}: empty message");
    e
}

fn parse(v: JsValue) -> Result<f64, JsValue> {
    parse_timestamp(v, JsValue::UNDEFINED)
}

fn parse_now(v: JsValue, now: f64) -> Result<f64, JsValue> {
    let o = Object::new();
    Reflect::set(&o, &"nowMs".into(), &now.into()).unwrap();
    parse_timestamp(v, o.into())
}

fn date(ms: f64) -> js_sys::Date {
    js_sys::Date::new(&ms.into())
}

// ---------------------------------------------------------------- parseTimestamp

#[wasm_bindgen_test]
fn parse_timestamp_accepts_every_documented_format() {
    let cases: &[(&str, f64)] = &[
        // RFC 1123 / RFC 2822, 3-letter day and month names.
        ("Mon, 05 Jan 2015 10:00:00 GMT", TS),
        ("Mon, 05 Jan 2015 12:00:00 +0200", TS),
        ("Mon, 5 Jan 2015 05:00:00 -0500", TS),
        // What Date#toString() prints in a few zones.
        ("Mon Jan 05 2015 12:00:00 GMT+0200 (Eastern European Standard Time)", TS),
        ("Mon Jan 05 2015 05:00:00 GMT-0500 (Eastern Standard Time)", TS),
        ("Mon Jan 05 2015 10:00:00 GMT+0000 (Coordinated Universal Time)", TS),
        // ISO 8601; no zone means UTC.
        ("2015-01-05T10:00:00", TS),
        ("2015-01-05T10:00:00Z", TS),
        ("2015-01-05T10:00:00.123Z", TS + 123.0),
        ("2015-01-05 10:00:00", TS),
        ("2015-01-05T11:00:00+01:00", TS),
        ("2015-01-05T10:00", TS),
        ("  2015-01-05T10:00:00Z  ", TS),
        // Dates only.
        ("2015-01-05", DAY),
        ("2015/01/05", DAY),
        ("05/01/2015", DAY),
        ("05-01-2015", DAY),
        // The same layouts with a 3-letter month (CoolaData's "Jan, Feb").
        ("05-Jan-2015", DAY),
        ("05/jan/2015", DAY),
        ("2015-JAN-05 10:00:00", TS),
        ("Mon, 05/Jan/2015", DAY),
        // Day first: 1 May 2015, not 5 January.
        ("01/05/2015", 1_430_438_400_000.0),
        ("01-05-2015", 1_430_438_400_000.0),
        ("29/02/2016", 1_456_704_000_000.0),
        // Epoch milliseconds as a digit string.
        ("1420452000000", TS),
    ];
    for (s, want) in cases {
        let got = parse(JsValue::from_str(s)).unwrap_or_else(|e| panic!("{s:?}: threw {:?}", thrown(&e)));
        assert_eq!(got, *want, "{s:?}");
    }
}

#[wasm_bindgen_test]
fn parse_timestamp_reads_numbers_dates_and_what_dates_print() {
    assert_eq!(parse(TS.into()).unwrap(), TS);
    assert_eq!(parse(date(TS).into()).unwrap(), TS);
    assert_eq!(parse(date(TS + 7.0).into()).unwrap(), TS + 7.0);
    // Whatever zone this environment is in, what a Date prints reads back
    // as the same instant.
    let d = date(TS);
    let to_string: String = d.to_string().into();
    let utc: String = d.to_utc_string().into();
    assert_eq!(utc, "Mon, 05 Jan 2015 10:00:00 GMT");
    assert_eq!(parse(JsValue::from_str(&to_string)).unwrap(), TS, "{to_string}");
    assert_eq!(parse(JsValue::from_str(&utc)).unwrap(), TS, "{utc}");
    let iso: String = d.to_iso_string().into();
    assert_eq!(parse(JsValue::from_str(&iso)).unwrap(), TS, "{iso}");
}

#[wasm_bindgen_test]
fn parse_timestamp_day_first_differs_from_javascripts_own_parser() {
    // JavaScript's Date reads 01/05/2015 month first (5 January, local time);
    // CoolaData's dd/mm/yyyy is 1 May.
    let ours = parse(JsValue::from_str("01/05/2015")).unwrap();
    let js_month = js_sys::Date::new(&"01/05/2015".into()).get_utc_month();
    assert_eq!(js_month, 0, "this JavaScript engine reads 01/05/2015 month first");
    assert_eq!(date(ours).get_utc_month(), 4);
    assert_eq!(date(ours).get_utc_date(), 1);
}

#[wasm_bindgen_test]
fn parse_timestamp_rejects_epoch_seconds_with_a_hint() {
    for v in [JsValue::from_f64(1_420_452_000.0), JsValue::from_str("1420452000")] {
        let e = expect_err("epoch seconds", parse(v), TIMESTAMP_ERROR, "invalid_timestamp", None);
        assert!(e.message.contains("multiply by 1000"), "{}", e.message);
    }
}

#[wasm_bindgen_test]
fn parse_timestamp_rejects_what_is_not_a_timestamp() {
    let cases: Vec<(&str, JsValue)> = vec![
        ("31 April", JsValue::from_str("31/04/2015")),
        ("31 April ISO", JsValue::from_str("2015-04-31")),
        ("29 Feb non-leap", JsValue::from_str("2015-02-29")),
        ("32 Jan", JsValue::from_str("Mon, 32 Jan 2015 10:00:00 GMT")),
        ("hour 25", JsValue::from_str("2015-01-05T25:00:00Z")),
        ("month 13", JsValue::from_str("2015-13-01")),
        ("words", JsValue::from_str("yesterday")),
        ("empty", JsValue::from_str("")),
        ("null", JsValue::NULL),
        ("undefined", JsValue::UNDEFINED),
        ("boolean", JsValue::TRUE),
        ("object", Object::new().into()),
        ("fraction", JsValue::from_f64(TS + 0.5)),
        ("NaN", JsValue::from_f64(f64::NAN)),
        ("negative", JsValue::from_f64(-TS)),
        ("12 digits", JsValue::from_f64(142_045_200_000.0)),
        ("14 digits", JsValue::from_f64(14_204_520_000_000.0)),
        ("invalid Date", date(f64::NAN).into()),
        ("ms string with space inside", JsValue::from_str("1420452 000000")),
    ];
    for (what, v) in cases {
        expect_err(what, parse(v), TIMESTAMP_ERROR, "invalid_timestamp", None);
    }
}

#[wasm_bindgen_test]
fn parse_timestamp_applies_the_window_when_now_is_given() {
    // 30 days in the past and 1 hour in the future are both allowed, exactly.
    assert_eq!(parse_now(TS.into(), TS + DAYS_30).unwrap(), TS);
    assert_eq!(parse_now((TS + HOUR).into(), TS).unwrap(), TS + HOUR);
    let e = expect_err(
        "31 days old",
        parse_now(TS.into(), TS + DAYS_30 + 1.0),
        "RangeError",
        "timestamp_out_of_window",
        None,
    );
    assert!(e.message.contains("past"), "{}", e.message);
    let e = expect_err(
        "1 h + 1 ms ahead",
        parse_now((TS + HOUR + 1.0).into(), TS),
        "RangeError",
        "timestamp_out_of_window",
        None,
    );
    assert!(e.message.contains("future"), "{}", e.message);
    // Without nowMs there is no window.
    assert_eq!(parse(JsValue::from_str("2002-01-01")).unwrap(), 1_009_843_200_000.0);
    // A bad nowMs is a bad option.
    expect_err(
        "nowMs string",
        parse_timestamp(TS.into(), opts(r#"{"nowMs":"now"}"#)),
        "Error",
        "invalid_option",
        Some("nowMs"),
    );
}

// ---------------------------------------------------------------- validateEvent

fn base_event() -> JsValue {
    js(
        r#"{"event_name":"signup","user_id":"u1","event_timestamp_epoch":1420452000000}"#,
        &[],
    )
}

fn validate(ev: &JsValue) -> Result<JsValue, JsValue> {
    validate_event(ev.clone(), JsValue::UNDEFINED)
}

#[wasm_bindgen_test]
fn validate_event_returns_the_event_as_sent() {
    let tricky = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} é 😀 </script>";
    let ev = js(
        r#"{"event_name":"signup","user_id":"u1","event_timestamp_epoch":"Mon, 05 Jan 2015 10:00:00 GMT",
            "paid":true,"trial":false,"price":9.99,"qty":3,"gone":null,"zero":0,"empty":""}"#,
        &[("nothing", JsValue::UNDEFINED), ("text", JsValue::from_str(tricky))],
    );
    let out = validate(&ev).unwrap();
    assert_eq!(
        stringify(&out),
        format!(
            r#"{{"event_name":"signup","user_id":"u1","event_timestamp_epoch":1420452000000,"paid":"true","trial":"false","price":9.99,"qty":3,"zero":0,"empty":"","text":{}}}"#,
            stringify(&JsValue::from_str(tricky))
        )
    );
    // The timestamp is a number, strings pass unchanged, nothing is added.
    assert_eq!(prop(&out, "event_timestamp_epoch").as_f64(), Some(TS));
    assert_eq!(str_prop(&out, "text").as_deref(), Some(tricky));
    for absent in ["gone", "nothing", "event_id", "session_dua", "tracker_type"] {
        assert!(
            !Reflect::has(&out, &absent.into()).unwrap(),
            "{absent} should be absent"
        );
    }
    // The caller's object is left as it was.
    assert_eq!(prop(&ev, "paid"), JsValue::TRUE);
}

#[wasm_bindgen_test]
fn validate_event_normalises_every_timestamp_form() {
    for v in [
        JsValue::from_f64(TS),
        JsValue::from_str("1420452000000"),
        JsValue::from_str("2015-01-05T10:00:00Z"),
        JsValue::from_str("05/01/2015 10:00:00"),
        date(TS).into(),
    ] {
        let ev = js(
            r#"{"event_name":"e","user_id":"u"}"#,
            &[("event_timestamp_epoch", v.clone())],
        );
        let out = validate(&ev).unwrap_or_else(|e| panic!("{v:?}: {:?}", thrown(&e)));
        assert_eq!(prop(&out, "event_timestamp_epoch").as_f64(), Some(TS), "{v:?}");
    }
}

#[wasm_bindgen_test]
fn validate_event_names_the_problem() {
    let ts = r#""event_timestamp_epoch":1420452000000"#;
    let cases: Vec<(&str, JsValue, &str, &str, Option<&str>)> = vec![
        (
            "no event_name",
            js(&format!(r#"{{"user_id":"u",{ts}}}"#), &[]),
            "TypeError",
            "missing_field",
            Some("event_name"),
        ),
        (
            "empty event_name",
            js(&format!(r#"{{"event_name":"","user_id":"u",{ts}}}"#), &[]),
            "TypeError",
            "missing_field",
            Some("event_name"),
        ),
        (
            "no user_id",
            js(&format!(r#"{{"event_name":"e",{ts}}}"#), &[]),
            "TypeError",
            "missing_field",
            Some("user_id"),
        ),
        (
            "null user_id",
            js(&format!(r#"{{"event_name":"e","user_id":null,{ts}}}"#), &[]),
            "TypeError",
            "missing_field",
            Some("user_id"),
        ),
        (
            "empty user_id",
            js(&format!(r#"{{"event_name":"e","user_id":"",{ts}}}"#), &[]),
            "TypeError",
            "missing_field",
            Some("user_id"),
        ),
        (
            "no timestamp",
            js(r#"{"event_name":"e","user_id":"u"}"#, &[]),
            "TypeError",
            "missing_field",
            Some("event_timestamp_epoch"),
        ),
        (
            "empty timestamp",
            js(r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":""}"#, &[]),
            "TypeError",
            "missing_field",
            Some("event_timestamp_epoch"),
        ),
        (
            "numeric user_id",
            js(&format!(r#"{{"event_name":"e","user_id":7,{ts}}}"#), &[]),
            "TypeError",
            "invalid_value",
            Some("user_id"),
        ),
        (
            "nested object",
            js(
                &format!(r#"{{"event_name":"e","user_id":"u",{ts},"cart":{{"total":3}}}}"#),
                &[],
            ),
            "TypeError",
            "nested_property",
            Some("cart"),
        ),
        (
            "array",
            js(
                &format!(r#"{{"event_name":"e","user_id":"u",{ts},"tags":["a","b"]}}"#),
                &[],
            ),
            "TypeError",
            "nested_property",
            Some("tags"),
        ),
        (
            "reserved uid",
            js(&format!(r#"{{"event_name":"e","user_id":"u",{ts},"uid":"x"}}"#), &[]),
            "Error",
            "reserved_property",
            Some("uid"),
        ),
        (
            "reserved session_duration",
            js(
                &format!(r#"{{"event_name":"e","user_id":"u",{ts},"session_duration":5}}"#),
                &[],
            ),
            "Error",
            "reserved_property",
            Some("session_duration"),
        ),
        (
            "empty name",
            js(&format!(r#"{{"event_name":"e","user_id":"u",{ts},"":"x"}}"#), &[]),
            "TypeError",
            "invalid_property_name",
            Some(""),
        ),
        (
            "NaN",
            js(
                &format!(r#"{{"event_name":"e","user_id":"u",{ts}}}"#),
                &[("n", f64::NAN.into())],
            ),
            "TypeError",
            "invalid_value",
            Some("n"),
        ),
        (
            "Infinity",
            js(
                &format!(r#"{{"event_name":"e","user_id":"u",{ts}}}"#),
                &[("n", f64::INFINITY.into())],
            ),
            "TypeError",
            "invalid_value",
            Some("n"),
        ),
        (
            "function",
            js(
                &format!(r#"{{"event_name":"e","user_id":"u",{ts}}}"#),
                &[("f", a_function())],
            ),
            "TypeError",
            "invalid_value",
            Some("f"),
        ),
        (
            "BigInt",
            js(
                &format!(r#"{{"event_name":"e","user_id":"u",{ts}}}"#),
                &[("b", a_big_int())],
            ),
            "TypeError",
            "invalid_value",
            Some("b"),
        ),
        (
            "Date as a property",
            js(
                &format!(r#"{{"event_name":"e","user_id":"u",{ts}}}"#),
                &[("when", date(TS).into())],
            ),
            "TypeError",
            "invalid_value",
            Some("when"),
        ),
        (
            "epoch seconds",
            js(
                r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000}"#,
                &[],
            ),
            TIMESTAMP_ERROR,
            "invalid_timestamp",
            Some("event_timestamp_epoch"),
        ),
        (
            "31 April",
            js(
                r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":"31/04/2015"}"#,
                &[],
            ),
            TIMESTAMP_ERROR,
            "invalid_timestamp",
            Some("event_timestamp_epoch"),
        ),
        // The property whose reading threw is the field (review30 #11c).
        (
            "throwing getter",
            throwing_getter(),
            "TypeError",
            "invalid_value",
            Some("boom"),
        ),
    ];
    for (what, ev, ctor, code, field) in cases {
        expect_err(what, validate(&ev), ctor, code, field);
    }
    // A Symbol key has no string name; `field`, where set, shows the Symbol.
    let e = thrown(&validate(&with_symbol_key()).unwrap_err());
    assert_eq!(
        (e.ctor.as_str(), e.code.as_deref()),
        ("TypeError", Some("invalid_property_name")),
        "{e:?}"
    );
    let shows_symbol = match e.field.as_deref() {
        None => true,
        Some(f) => f.starts_with("Symbol("),
    };
    assert!(shows_symbol, "{e:?}");
    // Not an object at all.
    for v in [JsValue::NULL, JsValue::from_str("e"), JsValue::from_f64(1.0)] {
        expect_err("not an object", validate(&v), "TypeError", "invalid_value", None);
    }
}

#[wasm_bindgen_test]
fn validate_event_epoch_seconds_message_has_the_hint() {
    let ev = js(
        r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000}"#,
        &[],
    );
    let e = thrown(&validate(&ev).unwrap_err());
    assert!(e.message.contains("multiply by 1000"), "{}", e.message);
    assert!(e.message.contains("event_timestamp_epoch"), "{}", e.message);
}

#[wasm_bindgen_test]
fn validate_event_server_timestamp_makes_the_time_optional() {
    let ev = js(r#"{"event_name":"e","user_id":"u"}"#, &[]);
    let out = validate_event(ev.clone(), opts(r#"{"serverTimestamp":true}"#)).unwrap();
    assert_eq!(stringify(&out), r#"{"event_name":"e","user_id":"u"}"#);
    // A timestamp given is still normalised, and no window applies to it.
    let old = js(
        r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":"2015-01-05T10:00:00Z"}"#,
        &[],
    );
    let out = validate_event(
        old.clone(),
        opts(&format!(
            r#"{{"serverTimestamp":true,"nowMs":{}}}"#,
            TS + 90.0 * 86_400_000.0
        )),
    )
    .unwrap();
    assert_eq!(prop(&out, "event_timestamp_epoch").as_f64(), Some(TS));
    // Without serverTimestamp the same now puts it out of the window.
    expect_err(
        "90 days old",
        validate_event(old, opts(&format!(r#"{{"nowMs":{}}}"#, TS + 90.0 * 86_400_000.0))),
        "RangeError",
        "timestamp_out_of_window",
        Some("event_timestamp_epoch"),
    );
}

#[wasm_bindgen_test]
fn server_timestamp_must_be_a_boolean() {
    // As nowMs, and as the tracker's own option: a value that is not a
    // boolean is refused, not read as false (review30 #12); undefined is
    // absent.
    let ev = || js(r#"{"event_name":"e","user_id":"u"}"#, &[]);
    for bad in [r#""yes""#, "1", "0", "null", r#""true""#, "{}"] {
        let o = opts(&format!(r#"{{"serverTimestamp":{bad}}}"#));
        expect_err(
            bad,
            validate_event(ev(), o.clone()),
            "Error",
            "invalid_option",
            Some("serverTimestamp"),
        );
        expect_err(
            bad,
            encode(&Array::of1(&ev()).into(), o),
            "Error",
            "invalid_option",
            Some("serverTimestamp"),
        );
    }
    assert!(validate_event(ev(), opts(r#"{"serverTimestamp":true}"#)).is_ok());
    let undefined = js("{}", &[("serverTimestamp", JsValue::UNDEFINED)]);
    let e = thrown(&validate_event(ev(), undefined).unwrap_err());
    assert_eq!(e.code.as_deref(), Some("missing_field"));
    let e = thrown(&validate_event(ev(), opts(r#"{"serverTimestamp":false}"#)).unwrap_err());
    assert_eq!(e.code.as_deref(), Some("missing_field"));
}

#[wasm_bindgen_test]
fn an_option_getter_that_throws_is_a_bad_option() {
    // A nowMs (or serverTimestamp) getter that throws is not read as absent
    // (review30 #12): invalid_option under its name, as any bad value.
    let ev = || js(r#"{"event_name":"e","user_id":"u"}"#, &[]);
    for name in ["nowMs", "serverTimestamp"] {
        expect_err(
            name,
            validate_event(ev(), throwing_option(name)),
            "Error",
            "invalid_option",
            Some(name),
        );
    }
    expect_err(
        "parseTimestamp nowMs",
        parse_timestamp(TS.into(), throwing_option("nowMs")),
        "Error",
        "invalid_option",
        Some("nowMs"),
    );
    expect_err(
        "encodeBatch serverTimestamp",
        encode(&Array::of1(&ev()).into(), throwing_option("serverTimestamp")),
        "Error",
        "invalid_option",
        Some("serverTimestamp"),
    );
    expect_err(
        "encodeBatch bodyFormat",
        encode(&Array::of1(&ev()).into(), throwing_option("bodyFormat")),
        "Error",
        "invalid_option",
        Some("bodyFormat"),
    );
}

#[wasm_bindgen_test]
fn validate_event_window_limits() {
    let at = |ts: f64| {
        js(
            r#"{"event_name":"e","user_id":"u"}"#,
            &[("event_timestamp_epoch", ts.into())],
        )
    };
    let now = |n: f64| opts(&format!(r#"{{"nowMs":{n}}}"#));
    assert!(validate_event(at(TS), now(TS + DAYS_30)).is_ok());
    assert!(validate_event(at(TS + HOUR), now(TS)).is_ok());
    expect_err(
        "past",
        validate_event(at(TS - 1.0), now(TS + DAYS_30)),
        "RangeError",
        "timestamp_out_of_window",
        Some("event_timestamp_epoch"),
    );
    expect_err(
        "future",
        validate_event(at(TS + HOUR + 1.0), now(TS)),
        "RangeError",
        "timestamp_out_of_window",
        Some("event_timestamp_epoch"),
    );
}

#[wasm_bindgen_test]
fn validate_event_size_limit_is_102400_bytes_of_json() {
    let head = r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"big":""#;
    let fixed = head.len() + 2; // the closing `"}`
    let fits = "x".repeat(102_400 - fixed);
    let ev = js(
        r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000}"#,
        &[("big", fits.as_str().into())],
    );
    let out = validate(&ev).expect("an event of exactly 102400 bytes is allowed");
    assert_eq!(stringify(&out).len(), 102_400);
    let over = "x".repeat(102_400 - fixed + 1);
    let ev = js(
        r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000}"#,
        &[("big", over.as_str().into())],
    );
    let e = expect_err("102401 bytes", validate(&ev), "RangeError", "event_too_large", None);
    assert!(e.message.contains("102401"), "{}", e.message);
    // UTF-8 bytes count, not UTF-16 units: 34,134 × "é" is 68,268 bytes of
    // text, which fits, but 34,134 × "😀" is 136,536 bytes, which does not.
    let ev = js(
        r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000}"#,
        &[("big", "😀".repeat(34_134).as_str().into())],
    );
    expect_err("emoji", validate(&ev), "RangeError", "event_too_large", None);
    let ev = js(
        r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000}"#,
        &[("big", "é".repeat(34_134).as_str().into())],
    );
    assert!(validate(&ev).is_ok());
}

// ---------------------------------------------------------------- encodeBatch

fn encode(events: &JsValue, options: JsValue) -> Result<String, JsValue> {
    encode_batch(events.clone(), options).map(String::from)
}

fn one_event_batch() -> (JsValue, String) {
    let ev = js(
        r#"{"event_name":"buy","user_id":"u 1","event_timestamp_epoch":"2015-01-05T10:00:00Z",
            "note":"a+b c&d=é%/?#","paid":false,"gone":null}"#,
        &[],
    );
    let list = Array::of1(&ev);
    let json = r#"{"events":[{"event_name":"buy","user_id":"u 1","event_timestamp_epoch":1420452000000,"note":"a+b c&d=é%/?#","paid":"false"}]}"#;
    (list.into(), json.to_string())
}

#[wasm_bindgen_test]
fn encode_batch_form_body() {
    let (list, json) = one_event_batch();
    let body = encode(&list, JsValue::UNDEFINED).unwrap();
    assert!(body.starts_with("data="), "{body}");
    assert_eq!(form_data(&body).as_deref(), Some(json.as_str()));
    // encodeURIComponent's encoding after data=: a space is %20 (a form
    // decoder reads it as a space), a `+` is %2B.
    assert!(body.contains("u%201"), "{body}");
    assert!(body.contains("a%2Bb%20c%26d%3D%C3%A9%25%2F%3F%23"), "{body}");
    assert_eq!(&body[5..], String::from(js_sys::encode_uri_component(&json)));
    // The explicit option gives the same body.
    assert_eq!(encode(&list, opts(r#"{"bodyFormat":"form"}"#)).unwrap(), body);
}

#[wasm_bindgen_test]
fn encode_batch_raw_body() {
    let (list, json) = one_event_batch();
    let body = encode(&list, opts(r#"{"bodyFormat":"raw"}"#)).unwrap();
    assert!(!body.starts_with("data="), "{body}");
    assert!(!body.contains('+'), "raw body must not contain a bare +: {body}");
    assert!(body.contains("a%2Bb%20c%26d%3D%C3%A9%25%2F%3F%23"), "{body}");
    assert_eq!(String::from(js_sys::decode_uri_component(&body).unwrap()), json);
    assert_eq!(body, String::from(js_sys::encode_uri_component(&json)));
}

#[wasm_bindgen_test]
fn encode_batch_writes_the_timestamp_as_a_13_digit_integer() {
    let list = Array::new();
    for v in [
        JsValue::from_f64(TS),
        JsValue::from_str("1420452000000"),
        JsValue::from_str("Mon, 05 Jan 2015 10:00:00 GMT"),
        date(TS).into(),
    ] {
        list.push(&js(
            r#"{"event_name":"e","user_id":"u"}"#,
            &[("event_timestamp_epoch", v)],
        ));
    }
    let body = encode(&list.into(), JsValue::UNDEFINED).unwrap();
    let json = form_data(&body).unwrap();
    assert_eq!(
        json.matches(r#""event_timestamp_epoch":1420452000000}"#).count(),
        4,
        "{json}"
    );
    assert!(
        !json.contains("1420452000000.0") && !json.contains(r#""1420452000000""#),
        "{json}"
    );
}

#[wasm_bindgen_test]
fn encode_batch_holds_at_most_300_events() {
    let make = |n: usize| {
        let list = Array::new();
        for i in 0..n {
            list.push(&js(
                &format!(r#"{{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"i":{i}}}"#),
                &[],
            ));
        }
        JsValue::from(list)
    };
    let body = encode(&make(300), JsValue::UNDEFINED).unwrap();
    let parsed = JSON::parse(&form_data(&body).unwrap()).unwrap();
    let events: Array = prop(&parsed, "events").unchecked_into();
    assert_eq!(events.length(), 300);
    assert_eq!(prop(&events.get(299), "i").as_f64(), Some(299.0));
    let e = expect_err(
        "301 events",
        encode(&make(301), JsValue::UNDEFINED),
        "RangeError",
        "batch_too_large",
        None,
    );
    assert!(e.message.contains("301"), "{}", e.message);
}

#[wasm_bindgen_test]
fn encode_batch_reports_the_bad_event_and_bad_options() {
    let list = Array::new();
    list.push(&base_event());
    list.push(&base_event());
    list.push(&js(
        r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"cart":{}}"#,
        &[],
    ));
    let e = expect_err(
        "nested at 2",
        encode(&list.into(), JsValue::UNDEFINED),
        "TypeError",
        "nested_property",
        Some("cart"),
    );
    assert!(e.message.starts_with("events[2]"), "{}", e.message);

    let list = Array::of2(&base_event(), &JsValue::from_str("not an event"));
    let e = expect_err(
        "string event",
        encode(&list.into(), JsValue::UNDEFINED),
        "TypeError",
        "invalid_value",
        None,
    );
    assert!(e.message.starts_with("events[1]"), "{}", e.message);

    expect_err(
        "bodyFormat json",
        encode(&Array::of1(&base_event()).into(), opts(r#"{"bodyFormat":"json"}"#)),
        "Error",
        "invalid_option",
        Some("bodyFormat"),
    );
    expect_err(
        "not an array",
        encode(&base_event(), JsValue::UNDEFINED),
        "TypeError",
        "invalid_value",
        None,
    );
}

#[wasm_bindgen_test]
fn encode_batch_server_timestamp() {
    let list = Array::of1(&js(r#"{"event_name":"e","user_id":"u"}"#, &[]));
    expect_err(
        "no timestamp",
        encode(&list.clone().into(), JsValue::UNDEFINED),
        "TypeError",
        "missing_field",
        Some("event_timestamp_epoch"),
    );
    let empty = Array::of1(&js(
        r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":""}"#,
        &[],
    ));
    expect_err(
        "empty timestamp",
        encode(&empty.into(), JsValue::UNDEFINED),
        "TypeError",
        "missing_field",
        Some("event_timestamp_epoch"),
    );
    let body = encode(&list.into(), opts(r#"{"serverTimestamp":true}"#)).unwrap();
    assert_eq!(
        form_data(&body).as_deref(),
        Some(r#"{"events":[{"event_name":"e","user_id":"u"}]}"#)
    );
}

// ---------------------------------------------------------------- visitorProperties

#[wasm_bindgen_test]
fn visitor_properties_reads_ip_and_user_agent() {
    let headers = js(
        r#"{"CF-Connecting-IP":"203.0.113.7","User-Agent":"Mozilla/5.0 (Test) UA/1.0"}"#,
        &[],
    );
    let out = visitor_properties(request_like(&headers)).unwrap();
    assert_eq!(
        stringify(&out),
        r#"{"session_ip":"203.0.113.7","session_dua":"Mozilla/5.0 (Test) UA/1.0"}"#
    );
    // A real Request (User-Agent may be dropped from its headers by a browser).
    let out = visitor_properties(make_request(&js(r#"{"cf-connecting-ip":"2001:db8::1"}"#, &[]))).unwrap();
    assert_eq!(str_prop(&out, "session_ip").as_deref(), Some("2001:db8::1"));
}

#[wasm_bindgen_test]
fn visitor_properties_without_headers_sends_ip_zero() {
    let out = visitor_properties(make_request(&Object::new().into())).unwrap();
    assert_eq!(stringify(&out), r#"{"session_ip":"0"}"#);
    assert!(!Reflect::has(&out, &"session_dua".into()).unwrap());
    let out = visitor_properties(request_like(&js(r#"{"User-Agent":"UA"}"#, &[]))).unwrap();
    assert_eq!(stringify(&out), r#"{"session_ip":"0","session_dua":"UA"}"#);
}

#[wasm_bindgen_test]
fn visitor_properties_needs_a_request() {
    for v in [
        JsValue::UNDEFINED,
        JsValue::NULL,
        JsValue::from_str("x"),
        Object::new().into(),
        // Headers as a plain object: refused, not read as no CF-Connecting-IP ("0").
        js(r#"{"headers":{"cf-connecting-ip":"1.2.3.4"}}"#, &[]),
        js(r#"{"headers":null}"#, &[]),
    ] {
        expect_err(
            "not a request",
            visitor_properties(v),
            "TypeError",
            "invalid_value",
            None,
        );
    }
}
