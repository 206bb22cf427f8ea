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

use super::{flatten_list, get, js_error, list_items};
use crate::core::batch::MAX_EVENTS;
use crate::core::collector::{self, Options, OPTION_NAMES};
use crate::core::config::OptValue;
use crate::core::edge::{self, Batch, Outcome, Reported, RetryDelay};
use crate::core::entries;
use crate::core::error::{Error, ErrorCode};
use crate::core::event::{self, RawValue, ValidateOptions};
use crate::core::visitor;

fn set(o: &Object, k: &str, v: &JsValue) {
    let _ = Reflect::set(o, &k.into(), v);
}

/// `{ errors: [{ index, code, field, message }] }`; `index` null for the
/// body itself; `message` the text `validateEvent`'s error has (what is
/// wrong, to act on; an event's error names no secret: the app key is never
/// in a page's request).
fn errors(list: &[(Option<usize>, Error)]) -> JsValue {
    let arr = Array::new();
    for (index, e) in list {
        let o = Object::new();
        set(&o, "index", &index.map_or(JsValue::NULL, |i| JsValue::from(i as u32)));
        set(&o, "code", &e.code.as_str().into());
        set(&o, "field", &e.field.as_deref().map_or(JsValue::NULL, JsValue::from));
        set(&o, "message", &e.message.as_str().into());
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
    if body.trim().is_empty() {
        return body_error("the body is empty: send data=<JSON> of {\"events\":[...]}");
    }
    const BARE: &str = "the JSON is a bare array: send {\"events\":[...]}";
    if body.trim_start().starts_with('[') {
        return body_error(BARE);
    }
    let Some(json) = edge::decode_body(body) else {
        return body_error("the body is not data=<JSON>, nor the JSON raw or percent-encoded");
    };
    let Ok(payload) = js_sys::JSON::parse(&json) else {
        return body_error("the body's JSON does not parse");
    };
    if Array::is_array(&payload) {
        return body_error(BARE);
    }
    let list = if payload.is_object() {
        Reflect::get(&payload, &"events".into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    };
    let listed = flatten_list(&list, MAX_EVENTS as i32);
    if listed.as_f64().is_some() {
        let e = Error::new(ErrorCode::BatchTooLarge, "at most 300 events a request");
        return errors(&[(None, e)]);
    }
    let Some(flat) = listed.as_string() else {
        return body_error("the JSON must be {\"events\":[...]}");
    };
    if entries::thrown(&flat).is_some() {
        // What reading them threw (parsed JSON holds plain data only).
        return body_error("the events cannot be read");
    }
    let items: Vec<&str> = list_items(&flat).collect();
    if items.is_empty() {
        return body_error("the request holds no event");
    }
    let opts = ValidateOptions {
        server_timestamp: false,
        now_ms: Some(now_ms as i64),
    };
    // The visitor's properties by the same rule as `visitorProperties`.
    let (ip, ua) = visitor::properties(ip, ua);
    let defaults = [
        ("session_ip", RawValue::Str(ip)),
        ("session_dua", ua.map_or(RawValue::Absent, RawValue::Str)),
    ];
    let mut bad = Vec::new();
    let mut jsons: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut out = String::new();
        match event::validate_entries(&mut out, item, &defaults, &opts) {
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

    /// Message `m`'s outcome: `{ ack: true }`, `{ retry: delaySeconds }` or
    /// `{ dead: [{ body, line }] }`: the dead-letter message bodies to send
    /// to `dlq` (when `bound`), each with the text of its log line
    /// (`undefined`: none; when `dlq` is not bound, the line is logged
    /// followed by the body), then ack.
    fn outcome_with(&self, m: u32, attempts: u32, random: u32, delay: &RetryDelay, dlq: &str, bound: bool) -> JsValue {
        let o = Object::new();
        let refs: Vec<&str> = self.bodies.iter().map(String::as_str).collect();
        let dead = Array::new();
        let push = |body: &str, line: Option<String>| {
            let d = Object::new();
            set(&d, "body", &body.into());
            set(&d, "line", &line.map_or(JsValue::UNDEFINED, JsValue::from));
            dead.push(&d);
        };
        match self.batch.outcome(m as usize, attempts, random, delay) {
            Outcome::Ack => set(&o, "ack", &JsValue::TRUE),
            Outcome::Retry(s) => set(&o, "retry", &JsValue::from(s)),
            Outcome::DeadLetter { refused, invalid } => {
                if !refused.is_empty() {
                    let mut out = String::new();
                    self.batch.write_refused(&refused, &refs, &mut out);
                    push(&out, edge::refused_line(dlq, bound));
                }
                if !invalid.is_empty() {
                    let mut out = String::new();
                    self.batch.write_invalid(&invalid, &refs, &mut out);
                    push(&out, Some(self.batch.invalid_line(&invalid, dlq, bound)));
                }
                set(&o, "dead", &dead);
            }
            Outcome::Unreadable => {
                let body = refs.get(m as usize).copied().unwrap_or("");
                push(body, Some(edge::unreadable_line(dlq, bound)));
                set(&o, "dead", &dead);
            }
        }
        o.into()
    }
}

fn opt(v: &JsValue) -> OptValue {
    if v.is_undefined() {
        OptValue::Absent
    } else if let Some(s) = v.as_string() {
        OptValue::Str(s)
    } else if let Some(n) = v.as_f64() {
        OptValue::Num(n)
    } else if let Some(b) = v.as_bool() {
        OptValue::Bool(b)
    } else {
        OptValue::Other("not a string, number or boolean")
    }
}

/// `createCollector`'s options and the routing of `fetch`.
#[wasm_bindgen(js_name = EdgeCollector, skip_typescript)]
pub struct EdgeCollector {
    o: Options,
    /// The platform's URL parsing (`origin_of`), which throws for no URL.
    parse: js_sys::Function,
    /// The setup problem `fetch` last logged.
    reported: Reported,
    /// The app key and endpoint [`EdgeCollector::problem`] last judged, and
    /// its verdict: the same settings (every request of a Worker's life, as
    /// a rule) are not built into a URL and parsed again.
    judged: Option<(Option<String>, Option<String>, Option<String>)>,
}

#[wasm_bindgen(js_class = EdgeCollector)]
impl EdgeCollector {
    /// Reads the options bag (throws `invalid_option` with `field`, for a
    /// bad value or a name that is no option);
    /// `origin_of` gives a string's URL origin, and throws when it is no URL.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, origin_of: &js_sys::Function) -> Result<EdgeCollector, JsValue> {
        let mut o = Options::default();
        if !options.is_undefined() && !options.is_object() {
            return Err(js_error(&Error::field(
                ErrorCode::InvalidOption,
                "options",
                "must be an object",
            )));
        }
        if options.is_object() {
            // A misspelt name is refused, not ignored (collector::check_name).
            for name in Object::keys(options.unchecked_ref::<Object>()).iter() {
                let name = name.as_string().unwrap_or_default();
                collector::check_name(&name).map_err(|e| js_error(&e))?;
            }
        }
        for name in OPTION_NAMES {
            o.set(name, &opt(&get(&options, name))).map_err(|e| js_error(&e))?;
        }
        let list = get(&options, "allowedOrigins");
        if !list.is_undefined() {
            if !Array::is_array(&list) {
                return Err(js_error(&Error::field(
                    ErrorCode::InvalidOption,
                    "allowedOrigins",
                    "must be an array of origins (\"https://example.com\")",
                )));
            }
            for item in list.unchecked_ref::<Array>().iter() {
                let raw = item.as_string();
                let origin = raw
                    .as_deref()
                    .and_then(|r| origin_of.call1(&JsValue::NULL, &r.into()).ok())
                    .and_then(|v| v.as_string());
                o.allow(raw.as_deref(), origin.as_deref()).map_err(|e| js_error(&e))?;
            }
        }
        Ok(EdgeCollector {
            o,
            parse: origin_of.clone(),
            reported: Reported::default(),
            judged: None,
        })
    }

    /// The answer a request gets before its body is read: 404, 403, 204
    /// (preflight), 405, or 0 for a `POST` to read.
    pub fn route(&self, method: &str, path: &str, origin: Option<String>, own: &str) -> u16 {
        self.o.route(method, path, origin.as_deref(), own).status()
    }

    /// Whether a response to `origin` carries CORS headers for it.
    pub fn cors(&self, origin: Option<String>, own: &str) -> bool {
        origin.is_some() && self.o.origin_allowed(origin.as_deref(), own)
    }

    /// The CoolaData URL: `endpoint` (the env variable's value; CoolaData's
    /// own when unset or empty) with `{appKey}` replaced by the encoded app key.
    pub fn url(&self, endpoint: Option<String>, app_key: &str) -> String {
        let template = endpoint.filter(|e| !e.is_empty());
        let template = template.as_deref().unwrap_or(crate::core::config::DEFAULT_ENDPOINT);
        let mut key = String::new();
        crate::core::form::push_component(&mut key, app_key);
        template.replace("{appKey}", &key)
    }

    /// What keeps delivery from working with `env`'s app key and endpoint
    /// ([`edge::setup_problem`]): the log line's text, `""` when `once` and
    /// the same problem was given already, or `undefined` when there is none.
    pub fn problem(&mut self, env: &JsValue, once: bool) -> Option<String> {
        let key = get(env, &self.o.app_key_var).as_string();
        let endpoint = get(env, &self.o.endpoint_var).as_string();
        let p = match &self.judged {
            Some((k, e, p)) if *k == key && *e == endpoint => p.clone(),
            _ => {
                let url = self.url(endpoint.clone(), key.as_deref().unwrap_or(""));
                let parses = self.parse.call1(&JsValue::NULL, &url.into()).is_ok();
                let vars = (self.o.app_key_var.as_str(), self.o.endpoint_var.as_str());
                let p = edge::setup_problem(vars, key.as_deref(), endpoint.as_deref(), parses);
                self.judged = Some((key, endpoint, p.clone()));
                p
            }
        };
        // Only fetch's calls (once) record what was logged.
        let first = !once || self.reported.first(p.as_deref());
        p.map(|p| if first { p } else { String::new() })
    }

    /// The producer binding of the events.
    #[wasm_bindgen(getter)]
    pub fn queue(&self) -> String {
        self.o.queue.clone()
    }

    /// The producer binding for refused events.
    #[wasm_bindgen(getter, js_name = deadLetterQueue)]
    pub fn dead_letter_queue(&self) -> String {
        self.o.dead_letter_queue.clone()
    }

    /// The env variable of the app key.
    #[wasm_bindgen(getter, js_name = appKeyVar)]
    pub fn app_key_var(&self) -> String {
        self.o.app_key_var.clone()
    }

    /// The env variable of the endpoint.
    #[wasm_bindgen(getter, js_name = endpointVar)]
    pub fn endpoint_var(&self) -> String {
        self.o.endpoint_var.clone()
    }

    /// The largest body read.
    #[wasm_bindgen(getter, js_name = maxBodyBytes)]
    pub fn max_body_bytes(&self) -> u32 {
        self.o.max_body_bytes
    }

    /// `Retry-After` of a 503 when the queue refused the events.
    #[wasm_bindgen(getter, js_name = queueRetryAfter)]
    pub fn queue_retry_after(&self) -> u32 {
        collector::QUEUE_RETRY_AFTER_SECONDS
    }

    /// The delay of a message retried for setup reasons (no app key, the
    /// dead-letter queue refused).
    #[wasm_bindgen(getter, js_name = setupRetry)]
    pub fn setup_retry(&self) -> u32 {
        collector::SETUP_RETRY_SECONDS
    }

    /// Records CoolaData's answer to `batch`'s request `r` ([`Batch::answer`]:
    /// a redirect is retried, a 413 to several events splits the request,
    /// so `batch.requests` may grow): the status (0 for a network error),
    /// whether a 2xx body said `"status": false`, the `Retry-After` and
    /// `Location` headers ("" when none), the response body, the app key
    /// (scrubbed from what is kept) and the clock. Returns the log line of
    /// the batch's first redirect, or of its first 401/403 (the app key
    /// refused: the messages are retried), else `undefined`.
    #[allow(clippy::too_many_arguments)]
    pub fn answer(
        &self,
        batch: &mut EdgeBatch,
        r: u32,
        status: u16,
        status_false: bool,
        retry_after: &str,
        location: &str,
        response: &str,
        app_key: &str,
        now_ms: f64,
    ) -> Option<String> {
        let notice = batch.batch.answer(
            r as usize,
            status,
            status_false,
            retry_after,
            response,
            app_key,
            now_ms as i64,
        );
        match notice? {
            edge::Notice::Redirect => Some(edge::redirect_line(&self.o.endpoint_var, status, location, app_key)),
            edge::Notice::KeyRefused => Some(edge::key_refused_line(&self.o.app_key_var, status)),
        }
    }

    /// Message `m`'s outcome in `batch` (see `EdgeBatch::outcome_with`),
    /// with this collector's backoff and dead-letter binding (`bound`:
    /// whether the Worker's env has it).
    pub fn outcome(&self, batch: &EdgeBatch, m: u32, attempts: u32, random: u32, bound: bool) -> JsValue {
        let dlq = self.o.dead_letter_queue.as_str();
        batch.outcome_with(m, attempts, random, &self.o.retry, dlq, bound)
    }
}
