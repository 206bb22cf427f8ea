//! The JavaScript shell: converts values, carries out I/O, and turns core
//! errors into JavaScript `Error` objects. It holds no rules of its own.

#![deny(clippy::arithmetic_side_effects)]

#[allow(unused_imports)]
use crate::prelude::*;
#[cfg(feature = "edge")]
pub mod edge;
pub mod functions;
pub mod tracker;

use js_sys::JsString;
use wasm_bindgen::prelude::*;

use crate::core::entries::Entry;
use crate::core::error::{ErrorCode, ErrorKind};
use crate::core::event::RawValue;
use crate::core::Error as CoreError;

#[wasm_bindgen(module = "/src/js/shell.js")]
extern "C" {
    #[wasm_bindgen(js_name = flatten)]
    fn flatten_js(props: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = options)]
    fn options_js(options: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = error)]
    fn make_error(
        kind: i32,
        code: &str,
        message: &str,
        field: &str,
        has_field: i32,
        status: f64,
        count: f64,
    ) -> JsValue;
    #[wasm_bindgen(js_name = get)]
    fn js_get(obj: &JsValue, name: &str) -> JsValue;
    /// What a value is (see the `KIND_*` codes): one import instead of
    /// wasm-bindgen's `is_undefined`, `is_null`, `is_object`,
    /// `is_function` and `as_bool`, each an import and a glue function.
    fn kind(v: &JsValue) -> u32;
    /// A number as it is, NaN for anything else (instead of wasm-bindgen's
    /// `as_f64`, whose glue writes an option to memory).
    fn num(v: &JsValue) -> f64;
    /// `[CF-Connecting-IP, User-Agent]` of an incoming Request ("" when
    /// absent or unreadable), `[]` when it has no headers to read
    /// (`visitorProperties` for Rust callers).
    fn visitor(request: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = flattenValue)]
    fn flatten_value_js(value: &JsValue) -> JsValue;
    /// `encodeBatch`'s events as one string of `p` entries (each an
    /// event's properties in the entries form), null for what is not an
    /// array, its length beyond `max`.
    #[wasm_bindgen(js_name = flattenList)]
    fn flatten_list(list: &JsValue, max: i32) -> JsValue;
    #[wasm_bindgen(js_name = flattenEvent)]
    /// A tracked event in the entries form (page properties first, in a
    /// page), for Rust callers of `CoolaTracker::track` (shell.js's class
    /// calls it itself, before it calls in). A `String` return: one
    /// crossing fewer.
    fn flatten_event(name: &JsValue, props: &JsValue, page: i32) -> String;
    /// What the environment fills once per tracker, in the entries form,
    /// after "1" in a page (a document with a location), else "0" (a
    /// string, read with [`text`]: no `String` return glue of its own).
    #[wasm_bindgen(js_name = environment)]
    fn environment_js() -> JsValue;
    /// One random 32-bit word (event ids, the tab id).
    fn seed() -> u32;
    /// The string of the `len` bytes of UTF-8 at `ptr` in the module's
    /// memory (see [`short_text`]): a short ASCII one (the event id
    /// `track()` returns) is built in JavaScript, cheaper than a
    /// `TextDecoder` call.
    #[wasm_bindgen(js_name = text)]
    fn text_at(ptr: i32, len: i32) -> JsValue;
    /// POSTs the body for `json` to the URL kept on the tracker's callback
    /// `cb`, in its body format; `cb` is called with the answer (a network
    /// error, status 0, for a redirect, which is not followed, and for a
    /// request with no answer within its timeout).
    fn send(cb: &JsValue, json: &str, keepalive: i32, id: f64);
    fn encode(json: &str, form: i32) -> JsString;
    fn soon(callback: &JsValue, what: i32);
    fn offline() -> bool;
    /// `localStorage` read: get, or every key and value under a prefix (see the `STORAGE_*` codes).
    #[wasm_bindgen(js_name = storage)]
    fn storage_read(op: i32, key: &str) -> JsValue;
    /// `localStorage` written (set or remove; false when refused), whether it
    /// is readable, or its writes held back and released (see [`storage_hold`]).
    #[wasm_bindgen(js_name = storage)]
    fn storage_write(op: i32, key: &str, value: &str) -> bool;
}

/// [`storage`]'s operations: the value under a key (a string, or null when
/// absent or unreadable), a write (false when refused), a removal, every
/// key that starts with a prefix and its value (one string: see
/// [`storage_list`]), whether storage can be read at all.
const STORAGE_GET: i32 = 0;
const STORAGE_SET: i32 = 1;
const STORAGE_REMOVE: i32 = 2;
const STORAGE_LIST: i32 = 3;
const STORAGE_READABLE: i32 = 5;
const STORAGE_HOLD: i32 = 6;
const STORAGE_RELEASE: i32 = 7;
const STORAGE_SET_CONTEXT: i32 = 8;
/// A write of the time now in whole ms (`Math.floor(Date.now())`, a
/// heartbeat) under the key, as [`STORAGE_SET`] writes.
const STORAGE_BEAT: i32 = 9;

/// [`kind`]'s codes: undefined, null, an object (not a function, not
/// null), a function, `true`, a string; anything else is another code.
const KIND_UNDEFINED: u32 = 0;
const KIND_NULL: u32 = 1;
const KIND_OBJECT: u32 = 2;
const KIND_FUNCTION: u32 = 3;
const KIND_FALSE: u32 = 4;
const KIND_TRUE: u32 = 5;
const KIND_STRING: u32 = 7;

/// Writes `value` under `key`; false when `localStorage` refused it.
fn storage_set(key: &str, value: &str) -> bool {
    storage_write(STORAGE_SET, key, value)
}

fn storage_remove(key: &str) {
    storage_write(STORAGE_REMOVE, key, "");
}

/// Holds back every later write and removal (each answers true) until
/// [`storage_release`]: the tracker decides what to write under its borrow
/// and the page's code (a wrapped `Storage.prototype.setItem`) runs once it
/// is dropped.
fn storage_hold() {
    storage_read(STORAGE_HOLD, "");
}

/// Makes the writes and removals held back since [`storage_hold`], in
/// order; a refused write skips the writes after it (not the removals).
/// `None` when every write was made, else the sequence number of the first
/// event not written (`u64::MAX` when no event is left) and whether the last
/// context held was made.
fn storage_release() -> Option<(u64, bool)> {
    let r = num(&storage_read(STORAGE_RELEASE, ""));
    // 2 * (seq + 1) + made, or -1; `as` saturates (NaN is 0).
    (r >= 0.0).then(|| ((r as u64 >> 1).wrapping_sub(1), r as u64 & 1 == 1))
}

/// Writes a context under `key` as [`storage_set`] does; while writes are
/// held, [`storage_release`] tells it from an event.
fn storage_set_context(key: &str, value: &str) -> bool {
    storage_write(STORAGE_SET_CONTEXT, key, value)
}

/// Whether `localStorage` exists and can be read (it may still refuse writes).
fn storage_readable() -> bool {
    storage_write(STORAGE_READABLE, "", "")
}

/// The value under `key` in `localStorage`, `None` when absent or unreadable.
/// Strings come back as `JsValue`s: wasm-bindgen's `Option<String>` return
/// is larger code than `as_string`.
fn storage_get(key: &str) -> Option<String> {
    opt_text(storage_read(STORAGE_GET, key))
}

/// Every `localStorage` key that starts with `prefix` and its value, read
/// in one call, in the entries form: a `p` entry (key, the properties in
/// the entries form) for a value that is a JSON object, as a stored event
/// or context is; an `s` entry (key, the value as stored) for any other.
/// Read with [`listed`].
fn storage_list(prefix: &str) -> String {
    text(storage_read(STORAGE_LIST, prefix))
}

/// A string JavaScript handed back (`""` for anything else). Strings come
/// back as `JsValue`s read here: a `String` return is a larger shim in the
/// glue for every import.
pub(crate) fn text(v: JsValue) -> String {
    opt_text(v).unwrap_or_default()
}

/// A string JavaScript handed back, `None` for anything else: the one copy
/// of wasm-bindgen's `as_string` (inlined, it weighed some 35 B of gzip at
/// each caller).
#[inline(never)]
pub(crate) fn opt_text(v: JsValue) -> Option<String> {
    v.as_string()
}

/// A string handed to JavaScript (an event id, the user and session ids,
/// `validateEvent`'s JSON): built by [`text_at`] (by `fromCharCode` when
/// short, else by a `TextDecoder`), one import instead of wasm-bindgen's
/// string cast besides it.
fn short_text(s: &str) -> JsValue {
    // As i32 (the import takes them as they are, no conversion in the glue):
    // the module's memory is far below 2 GiB.
    text_at(s.as_ptr() as i32, s.len() as i32)
}

/// An object's own properties in the entries form.
fn flatten(props: &JsValue) -> String {
    text(flatten_js(props))
}

/// What the environment fills once per tracker (see [`environment_js`]).
fn environment() -> String {
    text(environment_js())
}

/// The tracker's options bag in the entries form.
fn options(o: &JsValue) -> String {
    text(options_js(o))
}

/// One value (a timestamp) as one entry.
fn flatten_value(value: &JsValue) -> String {
    text(flatten_value_js(value))
}

/// The events of a [`flatten_list`] string, each its properties in the
/// entries form (`""` for what is not one: validation then says why).
fn list_items(flat: &str) -> impl Iterator<Item = &str> {
    crate::core::entries::parse(flat).map(|e| match e {
        Ok(Entry::Default(_, v)) => v,
        _ => "",
    })
}

/// The keys and values of a [`storage_list`]: (key, value, whether the
/// value is a JSON object's properties in the entries form).
fn listed(list: &str) -> Vec<(&str, &str, bool)> {
    let mut out = Vec::new();
    for e in crate::core::entries::parse(list) {
        match e {
            Ok(Entry::Default(k, v)) => out.push((k, v, true)),
            Ok(Entry::Prop(k, RawValue::Str(v))) => out.push((k, v, false)),
            _ => break,
        }
    }
    out
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Property values an event may carry; null and undefined are left out. */
export type PropertyValue = string | number | boolean | null | undefined;
/** An event's custom properties: a flat object, no nesting. */
export type Properties = Record<string, PropertyValue>;
/** An event as it is sent. */
export type ValidatedEvent = Record<string, string | number>;
/** The stable error codes. */
export type ErrorCode =
  | "missing_field" | "invalid_timestamp" | "timestamp_out_of_window"
  | "nested_property" | "invalid_value" | "reserved_property"
  | "invalid_property_name" | "event_too_large" | "batch_too_large"
  | "invalid_option" | "tracker_closed" | "queue_full" | "request_failed"
  | "event_expired" | "storage_error" | "before_send_failed";
/** Every error thrown or reported: an Error with a code and, where it concerns one, the field. */
export interface CoolaError extends Error {
  code: ErrorCode;
  field?: string;
  /** For request_failed: the HTTP status, 0 for a network error (no answer, none within 30 s, or a redirect, which is not followed). */
  status?: number;
  /** For queue_full, event_expired, request_failed: how many events. */
  count?: number;
  /** For before_send_failed: what beforeSend threw; for request_failed of status 0: what the last try failed with (a TimeoutError, an Error saying the endpoint redirected). */
  cause?: unknown;
}
/** Options of `new CoolaTracker`. */
export interface TrackerOptions {
  /** CoolaData app key (required, except with a path endpoint: see FirstPartyTrackerOptions). */
  appKey: string;
  /** Default "https://api.cooladata.com/v3/{appKey}/track"; https only, except loopback hosts; no user:password@ (fetch refuses it). */
  endpoint?: string;
  /** "form" (default): data=<encoded JSON>; "raw": the encoded JSON alone. */
  bodyFormat?: "form" | "raw";
  /** Events per request, 1..=300, default 300. */
  batchSize?: number;
  /** Flush timer period, default 5000; 0 = no timer (edge workers). */
  flushIntervalMs?: number;
  /** Most events queued, default 10000; the oldest are dropped beyond it. */
  maxQueueSize?: number;
  /** The project overrides event time with server time. */
  serverTimestamp?: boolean;
  /** User id for events that carry none (default: an anonymous id kept in localStorage). */
  userId?: string;
  /** session_dua for every event; default navigator.userAgent; false sends none. */
  sessionDua?: string | false;
  /** session_ip for every event, e.g. the client IP at the edge, or "0". */
  sessionIp?: string;
  /** Retries per batch after the first try, default 9 (10 tries). */
  maxRetries?: number;
  /** Keep the queue and the anonymous id in localStorage where it exists (browsers), default true. */
  persist?: boolean;
  /** Fill page URL, title, referrer, screen, platform and UTM parameters in a page, default true. */
  autoPageProperties?: boolean;
  /** Prefix of localStorage keys, default "coola". */
  storageKey?: string;
  /** Backoff after a failed request: the first retry waits up to this long (full jitter), default 1000. */
  retryBaseMs?: number;
  /** Backoff: the longest wait between tries, default 60000. Retry-After is honoured up to 300 s. */
  retryMaxMs?: number;
  /** Receives problems found while sending (queue_full, request_failed, event_expired). */
  onError?: (error: CoolaError) => void;
  /**
   * Start opted out (true) or in (false; privacySignals may still opt out), e.g. from your
   * consent banner's record. Not given: the choice saved by optOut()/optIn(), else opted in.
   */
  optOut?: boolean;
  /**
   * Default false. When true, Global Privacy Control or Do Not Track ("1") opt the visitor
   * out, unless the saved choice is an explicit optIn(); read at start, never saved.
   */
  privacySignals?: boolean;
  /** Sessions end after this long without an event: default 1800000 in a page, 0 elsewhere; 0 = no session_id. */
  sessionTimeoutMs?: number;
  /**
   * Default false. true: one page_view when the tracker starts; "history": also one on every
   * in-page navigation that changes the URL (pushState, replaceState, popstate, hashchange).
   */
  autoPageViews?: boolean | "history";
  /** Added to every event (an event's own properties win); see setProperties. */
  properties?: Properties;
  /**
   * Called by track() with the complete event before it is queued: change it in place or
   * return a new one (validated again); null or false drops it; undefined keeps it.
   */
  beforeSend?: (event: ValidatedEvent) => ValidatedEvent | null | false | undefined | void;
  /** 0..1, default 1: the share of users (by user_id) whose events are kept; kept ones carry sample_rate. */
  sampleRate?: number;
  /** Default false: console.debug each queued event, request (app key hidden) and answer. */
  debug?: boolean;
}
/** Options of a page's tracker that posts to a first-party collector (coola-tracker/edge) on its own origin. */
export interface FirstPartyTrackerOptions extends Omit<TrackerOptions, "appKey" | "endpoint"> {
  /** A path such as "/collect", resolved against the page's origin. */
  endpoint: `/${string}`;
  /** Not needed: the collector holds the app key. */
  appKey?: string;
}
/**
 * Parses a timestamp in any supported format into epoch milliseconds.
 * Throws `invalid_timestamp` (or `timestamp_out_of_window` when `nowMs` is given).
 */
export function parseTimestamp(value: string | number | Date, options?: { nowMs?: number }): number;
/** Validates an event and returns it as it will be sent. Throws on the first problem found. */
export function validateEvent(
  event: Record<string, unknown>,
  options?: { serverTimestamp?: boolean; nowMs?: number },
): Record<string, string | number>;
/** Validates every event (at most 300) and returns the exact request body. */
export function encodeBatch(
  events: Record<string, unknown>[],
  options?: { bodyFormat?: "form" | "raw"; serverTimestamp?: boolean },
): string;
/**
 * Properties that describe the visitor of an incoming request at the edge:
 * `session_ip` from `CF-Connecting-IP` (`"0"` when absent, so CoolaData does
 * not put the Worker's own IP in its place) and `session_dua` from
 * `User-Agent` (left out when absent).
 */
export function visitorProperties(request: Request): { session_ip: string; session_dua?: string };
/** Queues analytics events and sends them to CoolaData in batches. */
export class CoolaTracker {
  /** Creates a tracker. Throws `invalid_option` (with `field`) for a bad option. */
  constructor(options: TrackerOptions | FirstPartyTrackerOptions);
  /** Releases the tracker at once (timers, listeners); later calls throw. */
  free(): void;
  /** Sets the user id for events that carry none. */
  setUserId(userId: string): void;
  /** Sends everything queued now; resolves with a `FlushReport` when the requests have settled. */
  flush(): Promise<FlushReport>;
  /** Flushes, then stops the timer and removes listeners. Later `track` calls throw `tracker_closed`. */
  shutdown(): Promise<FlushReport>;
  /** Whether `shutdown()` was called. */
  readonly closed: boolean;
  /** Events queued and not yet acknowledged. */
  readonly pending: number;
  /** The user id given to events that carry none. */
  readonly userId: string;
  /**
   * Validates an event, queues it and returns its `event_id`. Throws on bad
   * input (nothing is queued then) and `tracker_closed` after `shutdown()`.
   */
  track(eventName: string, properties?: Properties): string;
  /**
   * Stops tracking at once: every queued event is dropped (in memory, in storage, in
   * flight), the anonymous id is forgotten, and the choice is saved for the next page load.
   */
  optOut(): void;
  /** Resumes tracking and saves that choice. Events tracked while opted out are not recovered. */
  optIn(): void;
  /** Whether the visitor is opted out. */
  readonly optedOut: boolean;
  /** The current session, "" when sessions are off. */
  readonly sessionId: string;
  /**
   * Tracks a page_view event with page_url, page_title and (after an in-page navigation)
   * referring_url; returns its event_id ("" when dropped). Throws invalid_value outside a page.
   */
  trackPageView(properties?: Properties): string;
  /**
   * Merges into the properties added to every later event; null or undefined removes one.
   * Throws as track() does.
   */
  setProperties(properties: Properties): void;
}
/** What a flush did. */
export interface FlushReport {
  /** Events acknowledged by the collector during this flush. */
  sent: number;
  /**
   * Events given up on during this flush, each once: refused (a 4xx, a 200 whose JSON says
   * `"status": false`) or out of tries, as onError's request_failed counts them. An event tried
   * again and delivered in the same flush counts in `sent` only; one waiting for a retry, in `pending`.
   */
  failed: number;
  /** Events still queued afterwards (waiting for a retry, or kept after a 403). */
  pending: number;
  /** Requests made. */
  requests: number;
}
"#;

/// Turns a core error into a JavaScript `Error` (`TypeError` / `RangeError`
/// where apt) carrying `code`, and `field`, `status`, `count` where set.
fn js_error(e: &CoreError) -> JsValue {
    // shell.js `error()` indexes `[Error, TypeError, RangeError]` by this
    // number: a new kind needs its constructor added there.
    let kind = match e.code.js_kind() {
        ErrorKind::Type => 1,
        ErrorKind::Range => 2,
        ErrorKind::Plain => 0,
    };
    make_error(
        kind,
        e.code.as_str(),
        &e.message,
        e.field.as_deref().unwrap_or(""),
        i32::from(e.field.is_some()),
        e.status.map_or(-1.0, f64::from),
        e.count.map_or(-1.0, f64::from),
    )
}

/// A JavaScript `Error` of `code` with `message` (one copy of the code that
/// builds one, for every caller).
#[inline(never)]
fn fail(code: ErrorCode, message: &str) -> JsValue {
    js_error(&CoreError::new(code, message))
}

/// An `invalid_option` error about the option `field`.
#[inline(never)]
fn bad_option(field: &str, message: &str) -> JsValue {
    js_error(&CoreError::field(ErrorCode::InvalidOption, field, message))
}

/// When the shell's flattening caught an exception (a `!` entry: a
/// caller's getter, Proxy or `toString` threw), the error to report: `code`,
/// and a message of `what` and at most 200 characters of what was thrown.
/// When the entry names the property whose reading threw, the error has it
/// as `field`: `"plan": reading it threw: ...`.
fn threw(flat: &str, code: ErrorCode, what: &str) -> Result<(), JsValue> {
    let Some((k, m)) = crate::core::entries::thrown(flat) else {
        return Ok(());
    };
    Err(js_error(&if k.is_empty() {
        CoreError::new(code, said(what, m))
    } else {
        CoreError::field(code, k, &said("reading it", m))
    }))
}

/// [`threw`]'s message without a field, `None` when nothing was thrown.
fn thrown_message(flat: &str, what: &str) -> Option<String> {
    crate::core::entries::thrown(flat).map(|(_, m)| said(what, m))
}

/// `what` threw, and at most 200 characters of what was thrown: `m`.
fn said(what: &str, m: &str) -> String {
    let mut out = String::from(what);
    out.push_str(" threw: ");
    crate::core::error::push_truncated(&mut out, m, 200);
    out
}

/// Reads `obj[name]` of an object: undefined for what is not an object,
/// null when the getter throws: a bad value for the options read so (nowMs,
/// serverTimestamp, bodyFormat, onError, beforeSend, the edge's), not an
/// absent one (`properties` takes null as none, but the tracker's options
/// bag refuses a throwing getter before: see shell.js `options`).
fn get(obj: &JsValue, name: &str) -> JsValue {
    js_get(obj, name)
}

fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}
