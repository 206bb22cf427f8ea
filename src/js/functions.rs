//! The pure functions: `parseTimestamp`, `validateEvent`, `encodeBatch`.

#[allow(unused_imports)]
use crate::prelude::*;
use js_sys::JsString;
use wasm_bindgen::prelude::*;

use super::{
    bad_option, encode, fail, flatten, flatten_list, flatten_value, get, js_error, kind, list_items, num as number,
    opt_text, short_text, text, threw, visitor, KIND_FALSE, KIND_OBJECT, KIND_STRING, KIND_TRUE, KIND_UNDEFINED,
};
use crate::core::batch::{self, BodyFormat, MAX_EVENTS};
use crate::core::entries::{self, Entry};
use crate::core::error::ErrorCode;
use crate::core::event::{self, RawValue, ValidateOptions};
use crate::core::{num, timestamp};

#[wasm_bindgen(module = "/src/js/shell.js")]
extern "C" {
    #[wasm_bindgen(js_name = parseJson)]
    fn parse_json(json: &str) -> JsValue;
    /// `{ session_ip, session_dua }` as [`crate::core::visitor::properties`] decided
    /// them (`session_dua` left out for `None`).
    #[wasm_bindgen(js_name = visitorObject)]
    fn visitor_object(ip: &str, ua: Option<&str>) -> JsValue;
}

// Inlined: one caller in the shipped wasm, where a call of its own costs
// more than the one copy (quick recipe; measured with the others below).
#[inline(always)]
fn now_option(options: &JsValue) -> Result<Option<i64>, JsValue> {
    let v = get(options, "nowMs");
    if kind(&v) == KIND_UNDEFINED {
        return Ok(None);
    }
    let n = number(&v);
    if num::is_whole(n) {
        Ok(Some(n as i64))
    } else {
        Err(bad_option("nowMs", "must be a whole number of epoch milliseconds"))
    }
}

/// The options of `validateEvent` (`now`: its `nowMs` too) and of
/// `encodeBatch` (no `nowMs`): `serverTimestamp` is false when absent or
/// undefined, else a boolean (as the tracker's own option: `"yes"` or `1`
/// is refused, not read as false). One reader for both functions.
fn validate_options(options: &JsValue, now: bool) -> Result<ValidateOptions, JsValue> {
    let k = kind(&get(options, "serverTimestamp"));
    if !matches!(k, KIND_UNDEFINED | KIND_FALSE | KIND_TRUE) {
        return Err(bad_option("serverTimestamp", "must be true or false"));
    }
    Ok(ValidateOptions {
        server_timestamp: k == KIND_TRUE,
        now_ms: if now { now_option(options)? } else { None },
    })
}

/// Parses a timestamp in any supported format into epoch milliseconds
/// (`parseTimestamp`, for Rust callers: shell.js's own flattens the value
/// and calls [`parse_timestamp_entry`] through `coola_op`, as it calls the
/// other functions here).
pub fn parse_timestamp(value: JsValue, options: JsValue) -> Result<f64, JsValue> {
    parse_timestamp_str(&flatten_value(&value), &options)
}

/// [`parse_timestamp`] of the value as shell.js's `flattenValue` gave it.
pub(crate) fn parse_timestamp_entry(entry: JsValue, options: JsValue) -> Result<f64, JsValue> {
    parse_timestamp_str(&text(entry), &options)
}

/// [`parse_timestamp`] of the value as one entry (what `flattenValue` makes).
fn parse_timestamp_str(entry: &str, options: &JsValue) -> Result<f64, JsValue> {
    threw(entry, ErrorCode::InvalidTimestamp, "reading the timestamp")?;
    let raw = match entries::parse(entry).next() {
        Some(Ok(Entry::Prop(_, v))) => v,
        _ => RawValue::Absent,
    };
    let ms = event::timestamp_of(raw).map_err(|e| js_error(&e))?;
    if let Some(now) = now_option(options)? {
        timestamp::check_window(ms, now).map_err(|e| js_error(&e))?;
    }
    Ok(ms as f64)
}

/// Reads a JS object into the entries form, turning a throwing getter or
/// Proxy into an `invalid_value` error.
fn flat(obj: &JsValue) -> Result<String, JsValue> {
    let flat = flatten(obj);
    threw(&flat, ErrorCode::InvalidValue, "reading the properties")?;
    Ok(flat)
}

/// Validates an event and returns it as it will be sent (`validateEvent`,
/// for Rust callers: shell.js's own parses [`validate_event_json`]'s JSON).
pub fn validate_event(event: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    // JSON the core wrote: parsing it cannot throw (no `catch` glue needed).
    validated_json(&event, &options).map(|json| parse_json(&json))
}

/// The JSON of the event as it will be sent (a string), or the error to throw.
pub(crate) fn validate_event_json(event: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    validated_json(&event, &options).map(|json| short_text(&json))
}

/// The JSON of the event as it will be sent.
fn validated_json(event: &JsValue, options: &JsValue) -> Result<String, JsValue> {
    let opts = validate_options(options, true)?;
    if kind(event) != KIND_OBJECT {
        return Err(fail(
            ErrorCode::InvalidValue,
            "the event must be an object of name/value pairs",
        ));
    }
    let encoded = flat(event)?;
    let mut out = String::new();
    event::validate_entries(&mut out, &encoded, &[], &opts).map_err(|e| js_error(&e))?;
    Ok(out)
}

/// Validates every event and returns the exact request body (`encodeBatch`).
// Inlined into `coola_op`, its one caller, as `now_option`.
#[inline(always)]
pub fn encode_batch(events: JsValue, options: JsValue) -> Result<JsString, JsValue> {
    let fmt_value = get(&options, "bodyFormat");
    let fmt = if kind(&fmt_value) == KIND_UNDEFINED {
        BodyFormat::Form
    } else {
        opt_text(fmt_value)
            .and_then(|s| BodyFormat::parse(&s))
            .ok_or_else(|| bad_option("bodyFormat", "must be \"form\" or \"raw\""))?
    };
    let opts = validate_options(&options, false)?;
    let listed = flatten_list(&events, MAX_EVENTS as i32);
    let n = number(&listed);
    if !n.is_nan() {
        let mut m = String::from("a batch holds at most 300 events (CoolaData's limit); got ");
        num::push_u64(&mut m, n as u64);
        return Err(fail(ErrorCode::BatchTooLarge, &m));
    }
    // What is left is null (not an array) or the events as one string.
    let Some(flat) = opt_text(listed) else {
        return Err(fail(
            ErrorCode::InvalidValue,
            "events must be an array of event objects",
        ));
    };
    threw(&flat, ErrorCode::InvalidValue, "reading the events")?;
    // The events' JSON objects, comma-separated, validated straight into
    // one buffer (no string per event).
    let mut events = String::new();
    for (i, encoded) in list_items(&flat).enumerate() {
        if i > 0 {
            events.push(',');
        }
        let r = event::validate_entries(&mut events, encoded, &[], &opts);
        r.map_err(|mut e| {
            let mut m = String::from("events[");
            num::push_u64(&mut m, i as u64);
            m.push_str("]: ");
            m.push_str(&e.message);
            e.message = m;
            js_error(&e)
        })?;
    }
    let mut json = String::new();
    batch::write_json(&mut json, [events.as_str()]);
    Ok(encode(&json, i32::from(fmt == BodyFormat::Form)))
}

/// Properties that describe the visitor of an incoming request at the edge:
/// `session_ip` from `CF-Connecting-IP` (`"0"` when absent, so CoolaData does
/// not put the Worker's own IP in its place) and `session_dua` from
/// `User-Agent` (left out when absent) (`visitorProperties`, for Rust
/// callers: shell.js's own reads the headers itself and hands them to
/// [`visitor_of`]).
pub fn visitor_properties(request: JsValue) -> Result<JsValue, JsValue> {
    let headers = visitor(&request);
    visitor_of(get(&headers, "0"), get(&headers, "1"))
}

/// [`visitor_properties`] of the two headers as shell.js's `visitor` read
/// them (`""` when absent or unreadable), neither a string when the request
/// has no headers to read.
pub(crate) fn visitor_of(ip: JsValue, user_agent: JsValue) -> Result<JsValue, JsValue> {
    // Both are strings, or neither (`visitor` read no headers).
    if kind(&ip) != KIND_STRING {
        return Err(fail(
            ErrorCode::InvalidValue,
            "visitorProperties needs the incoming Request (an object with Headers)",
        ));
    }
    let (ip, ua) = (text(ip), text(user_agent));
    let (ip, ua) = crate::core::visitor::properties(&ip, &ua);
    Ok(visitor_object(ip, ua))
}
