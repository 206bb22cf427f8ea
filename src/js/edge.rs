//! The edge collector's wasm side (cargo feature `edge`, built only for
//! `coola-tracker/edge`, so the browser build carries none of it).
//!
//! `pkg-template/edge.js` does the I/O (the request, the queue, `fetch` to
//! CoolaData); these two entry points convert values and ask
//! [`crate::core::edge`] what to do.

#[allow(unused_imports)]
use crate::prelude::*;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use super::{flatten_list, js_error};
use crate::core::batch::MAX_EVENTS;
use crate::core::edge::{self, Batch, Outcome, RetryDelay};
use crate::core::entries::{self, Entry};
use crate::core::error::{Error, ErrorCode};
use crate::core::event::{self, RawValue, ValidateOptions};

fn set(o: &Object, k: &str, v: &JsValue) {
    let _ = Reflect::set(o, &k.into(), v);
}

/// `{ errors: [{ index, code, field }] }`; `index` null for the body itself.
fn errors(list: &[(Option<usize>, Error)]) -> JsValue {
    let arr = Array::new();
    for (index, e) in list {
        let o = Object::new();
        set(&o, "index", &index.map_or(JsValue::NULL, |i| JsValue::from(i as u32)));
        set(&o, "code", &e.code.as_str().into());
        set(&o, "field", &e.field.as_deref().map_or(JsValue::NULL, JsValue::from));
        arr.push(&o);
    }
    let o = Object::new();
    set(&o, "errors", &arr);
    o.into()
}

fn body_error(message: &str) -> JsValue {
    errors(&[(None, Error::new(ErrorCode::InvalidValue, message))])
}

/// Validates the events of one request to the collector (its body as a
/// tracker sends CoolaData), with `now_ms` as the clock, filling `session_ip`
/// and `session_dua` where an event has none. Returns `{ events, sends }`
/// (`sends`: the message bodies of each `sendBatch` call) or `{ errors }`.
#[wasm_bindgen(js_name = edgeAccept, skip_typescript)]
pub fn edge_accept(body: &str, now_ms: f64, ip: &str, ua: &str) -> JsValue {
    let Some(json) = edge::decode_body(body) else {
        return body_error("the body is not data=<JSON>, nor the JSON raw or percent-encoded");
    };
    let Ok(payload) = js_sys::JSON::parse(&json) else {
        return body_error("the body's JSON does not parse");
    };
    let list = if payload.is_object() {
        Reflect::get(&payload, &"events".into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    };
    let listed = match flatten_list(&list, MAX_EVENTS as u32) {
        Ok(v) => v,
        Err(_) => return body_error("the events cannot be read"),
    };
    if listed.as_f64().is_some() {
        let e = Error::new(ErrorCode::BatchTooLarge, "at most 300 events a request");
        return errors(&[(None, e)]);
    }
    let Some(items) = listed.dyn_ref::<Array>() else {
        return body_error("the JSON must be {\"events\":[...]}");
    };
    if items.length() == 0 {
        return body_error("the request holds no event");
    }
    let opts = ValidateOptions {
        server_timestamp: false,
        now_ms: Some(now_ms as i64),
    };
    let defaults = [("session_ip", RawValue::Str(ip)), ("session_dua", RawValue::Str(ua))];
    let mut bad = Vec::new();
    let mut jsons: Vec<String> = Vec::with_capacity(items.length() as usize);
    for (i, item) in items.iter().enumerate() {
        let mut out = String::new();
        match validate(&mut out, &item.as_string().unwrap_or_default(), &defaults, &opts) {
            Ok(()) => jsons.push(out),
            Err(e) => bad.push((Some(i), e)),
        }
    }
    if !bad.is_empty() {
        return errors(&bad);
    }
    let sends = Array::new();
    for call in edge::pack(&jsons) {
        let messages = Array::new();
        for m in call {
            messages.push(&JsValue::from(m));
        }
        sends.push(&messages);
    }
    let o = Object::new();
    set(&o, "events", &JsValue::from(jsons.len() as u32));
    set(&o, "sends", &sends);
    o.into()
}

/// `validateEvent`'s rules on one event in the entries form, with defaults.
fn validate(
    out: &mut String,
    encoded: &str,
    defaults: &[(&str, RawValue)],
    opts: &ValidateOptions,
) -> Result<(), Error> {
    let mut err = None;
    let props = entries::parse(encoded).filter_map(|e| match e {
        Ok(Entry::Prop(k, v)) => Some((k, v)),
        Ok(Entry::Default(..)) => None,
        Err(e) => {
            err.get_or_insert(e);
            None
        }
    });
    let r = event::validate_into(out, None, props, defaults, opts);
    match err {
        Some(e) => Err(e),
        None => r.map(|_| ()),
    }
}

/// A consumer batch for `edge.js`: the messages' events regrouped into
/// CoolaData requests, then each message's outcome.
#[wasm_bindgen(js_name = EdgeBatch, skip_typescript)]
pub struct EdgeBatch {
    bodies: Vec<String>,
    batch: Batch,
}

#[wasm_bindgen(js_class = EdgeBatch)]
impl EdgeBatch {
    /// Reads the message bodies (one string per message; anything else is
    /// unreadable) and plans the requests.
    #[wasm_bindgen(constructor)]
    pub fn new(bodies: Vec<JsValue>) -> EdgeBatch {
        let bodies: Vec<String> = bodies.iter().map(|b| b.as_string().unwrap_or_default()).collect();
        let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let batch = Batch::new(&refs);
        EdgeBatch { bodies, batch }
    }

    /// The number of requests to make.
    #[wasm_bindgen(getter)]
    pub fn requests(&self) -> u32 {
        self.batch.requests() as u32
    }

    /// The number of events read, copies included.
    #[wasm_bindgen(getter)]
    pub fn events(&self) -> u32 {
        self.batch.events() as u32
    }

    /// The number of events in request `r`.
    #[wasm_bindgen(js_name = requestLength)]
    pub fn request_length(&self, r: u32) -> u32 {
        self.batch.request_len(r as usize) as u32
    }

    /// Request `r`'s body (`data=` form).
    pub fn body(&self, r: u32) -> String {
        let refs: Vec<&str> = self.bodies.iter().map(String::as_str).collect();
        let mut out = String::new();
        self.batch.write_request(r as usize, &refs, &mut out);
        out
    }

    /// Records CoolaData's answer to request `r`.
    #[allow(clippy::too_many_arguments)]
    pub fn answer(
        &mut self,
        r: u32,
        status: u16,
        status_false: bool,
        retry_after: &str,
        response: &str,
        app_key: &str,
        now_ms: f64,
    ) {
        self.batch.answer(
            r as usize,
            status,
            status_false,
            retry_after,
            response,
            app_key,
            now_ms as i64,
        );
    }

    /// Message `m`'s outcome: `{ ack: true }`, `{ retry: delaySeconds }` or
    /// `{ dead: body }` (the dead-letter message body; ack after sending it).
    pub fn outcome(&self, m: u32, attempts: u32, random: u32, base_seconds: u32, max_seconds: u32) -> JsValue {
        let o = Object::new();
        let delay = RetryDelay {
            base_seconds,
            max_seconds,
        };
        match self.batch.outcome(m as usize, attempts, random, &delay) {
            Outcome::Ack => set(&o, "ack", &JsValue::TRUE),
            Outcome::Retry(s) => set(&o, "retry", &JsValue::from(s)),
            Outcome::Refused(events) => {
                let refs: Vec<&str> = self.bodies.iter().map(String::as_str).collect();
                let mut out = String::new();
                self.batch.write_refused(&events, &refs, &mut out);
                set(&o, "dead", &out.into());
            }
            Outcome::Unreadable => {
                let body = self.bodies.get(m as usize).map_or("", String::as_str);
                set(&o, "dead", &body.into());
            }
        }
        o.into()
    }
}

/// Used by `edge.js` for errors about its options.
#[wasm_bindgen(js_name = edgeOptionError, skip_typescript)]
pub fn edge_option_error(field: &str, message: &str) -> JsValue {
    js_error(&Error::field(ErrorCode::InvalidOption, field, message))
}
