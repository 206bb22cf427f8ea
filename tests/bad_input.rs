#![cfg(target_arch = "wasm32")]
//! Hostile input: what a careless or malicious caller can hand to `track`,
//! `validateEvent` and `new CoolaTracker`, in Node and in a browser.
//!
//! Every bad input must give a clear `Error` with the right `code` (and
//! `field` where docs/api.md says so), queue nothing, and leave the tracker
//! working: after each row a good event is tracked, and at the end the
//! collector must hold exactly the good events. Hostile values are built by
//! tests/js/hostile.js. No row may pollute a prototype, and no error, thrown
//! or passed to `onError`, may carry the app key.
//!
//! Run by `make test-wasm-node` / `make test-wasm-chrome`, through
//! tests/with-collector.sh (the collector URL is `COLLECTOR_URL` at build time).

use std::cell::RefCell;
use std::rc::Rc;

use coola_tracker::js::functions::{encode_batch, parse_timestamp, validate_event};
use coola_tracker::js::tracker::CoolaTracker;
use js_sys::{Array, Function, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

#[wasm_bindgen(module = "/tests/js/helpers.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = getJson)]
    async fn get_json(url: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = postJson)]
    async fn post_json(url: &str, value: &JsValue) -> Result<JsValue, JsValue>;
    async fn sleep(ms: u32);
    #[wasm_bindgen(js_name = uniqueKey)]
    fn unique_key(prefix: &str) -> String;
    #[wasm_bindgen(js_name = constructorName)]
    fn constructor_name(v: &JsValue) -> String;
    #[wasm_bindgen(js_name = isError)]
    fn is_error(v: &JsValue) -> bool;
}

#[wasm_bindgen(module = "/tests/js/hostile.js")]
extern "C" {
    fn pollution() -> String;
    #[wasm_bindgen(js_name = hasPlainPrototype)]
    fn has_plain_prototype(o: &JsValue) -> bool;
    #[wasm_bindgen(js_name = hasOwn)]
    fn has_own(o: &JsValue, k: &str) -> bool;
    #[wasm_bindgen(js_name = ownProto)]
    fn own_proto(v: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = inheritedProps)]
    fn inherited_props() -> JsValue;

    #[wasm_bindgen(js_name = aFunction)]
    fn a_function() -> JsValue;
    #[wasm_bindgen(js_name = anArrowFunction)]
    fn an_arrow_function() -> JsValue;
    #[wasm_bindgen(js_name = aSymbol)]
    fn a_symbol() -> JsValue;
    #[wasm_bindgen(js_name = aBigInt)]
    fn a_big_int() -> JsValue;
    #[wasm_bindgen(js_name = aDate)]
    fn a_date() -> JsValue;
    #[wasm_bindgen(js_name = anInvalidDate)]
    fn an_invalid_date() -> JsValue;
    #[wasm_bindgen(js_name = aMap)]
    fn a_map() -> JsValue;
    #[wasm_bindgen(js_name = aRegExp)]
    fn a_reg_exp() -> JsValue;
    #[wasm_bindgen(js_name = aBoxedString)]
    fn a_boxed_string() -> JsValue;
    #[wasm_bindgen(js_name = aTypedArray)]
    fn a_typed_array() -> JsValue;
    #[wasm_bindgen(js_name = aPromise)]
    fn a_promise() -> JsValue;
    #[wasm_bindgen(js_name = classInstance)]
    fn class_instance() -> JsValue;
    #[wasm_bindgen(js_name = trappedInstance)]
    fn trapped_instance() -> JsValue;
    #[wasm_bindgen(js_name = throwingDate)]
    fn throwing_date() -> JsValue;
    #[wasm_bindgen(js_name = quietProxy)]
    fn quiet_proxy() -> JsValue;
    #[wasm_bindgen(js_name = hostileProxyValue)]
    fn hostile_proxy_value() -> JsValue;

    #[wasm_bindgen(js_name = throwingProxy)]
    fn throwing_proxy() -> JsValue;
    #[wasm_bindgen(js_name = ownKeysThrowingProxy)]
    fn own_keys_throwing_proxy() -> JsValue;
    #[wasm_bindgen(js_name = revokedProxy)]
    fn revoked_proxy() -> JsValue;
    #[wasm_bindgen(js_name = proxyOfDate)]
    fn proxy_of_date() -> JsValue;
    #[wasm_bindgen(js_name = throwingArrayProxy)]
    fn throwing_array_proxy() -> JsValue;
    #[wasm_bindgen(js_name = arrayWithThrowingIndex)]
    fn array_with_throwing_index() -> JsValue;
    #[wasm_bindgen(js_name = lyingProxy)]
    fn lying_proxy() -> JsValue;
    #[wasm_bindgen(js_name = thrownKinds)]
    fn thrown_kinds() -> Vec<String>;
    #[wasm_bindgen(js_name = throwingGetterProps)]
    fn throwing_getter_props(kind: &str) -> JsValue;
    #[wasm_bindgen(js_name = throwingGetterEvent)]
    fn throwing_getter_event(kind: &str) -> JsValue;
    #[wasm_bindgen(js_name = sideEffectProps)]
    fn side_effect_props() -> JsValue;
    #[wasm_bindgen(js_name = getterCalling)]
    fn getter_calling(f: &Function) -> JsValue;
    #[wasm_bindgen(js_name = frozenProps)]
    fn frozen_props() -> JsValue;
    #[wasm_bindgen(js_name = frozenEvent)]
    fn frozen_event() -> JsValue;
    #[wasm_bindgen(js_name = nullPrototypeProps)]
    fn null_prototype_props() -> JsValue;
    #[wasm_bindgen(js_name = symbolKeyed)]
    fn symbol_keyed() -> JsValue;
    #[wasm_bindgen(js_name = manyProps)]
    fn many_props(n: u32, len: u32) -> JsValue;
    #[wasm_bindgen(js_name = bigString)]
    fn big_string(n: u32) -> JsValue;

    #[wasm_bindgen(js_name = loneSurrogates)]
    fn lone_surrogates() -> JsValue;
    #[wasm_bindgen(js_name = loneSurrogateProps)]
    fn lone_surrogate_props() -> JsValue;
    #[wasm_bindgen(js_name = loneSurrogatesReplaced)]
    fn lone_surrogates_replaced() -> String;
    #[wasm_bindgen(js_name = nulString)]
    fn nul_string() -> String;

    #[wasm_bindgen(js_name = serializeError)]
    fn serialize_error(e: &JsValue) -> String;
    #[wasm_bindgen(js_name = callAfterFree)]
    fn call_after_free(t: &JsValue) -> String;
    #[wasm_bindgen(js_name = freeNow)]
    fn free_now(t: &JsValue) -> String;
    #[wasm_bindgen(js_name = watchUncaught)]
    fn watch_uncaught();
    #[wasm_bindgen(js_name = uncaughtErrors)]
    fn uncaught_errors() -> Vec<String>;
    #[wasm_bindgen(js_name = repeatCatching)]
    fn repeat_catching(n: u32, f: &Function) -> String;
    #[wasm_bindgen(js_name = objectWith)]
    fn object_with(key: &str, value: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = hostnameOf)]
    fn hostname_of(u: &str) -> String;
}

/// The distinctive part of every app key used here: it must appear in no
/// error message, no `onError` payload.
const SECRET: &str = "APPKEY-SECRET-123";

const TS: f64 = 1_420_452_000_000.0;
const DELIVERY_WAIT_MS: f64 = 5000.0;
/// 10 MB of text.
const TEN_MB: u32 = 10 * 1024 * 1024;

// ---------------------------------------------------------------- collector

fn collector() -> &'static str {
    match option_env!("COLLECTOR_URL") {
        Some(url) => url.trim_end_matches('/'),
        None => panic!(
            "COLLECTOR_URL was not set at build time: run these tests through \
             tests/with-collector.sh (make test-wasm-node / make test-wasm-chrome)"
        ),
    }
}

fn endpoint() -> String {
    format!("{}/v3/{{appKey}}/track", collector())
}

async fn events(app: &str) -> Vec<JsValue> {
    let url = format!("{}/events?app={}", collector(), app);
    let v = get_json(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url} failed (is the collector running?): {e:?}"));
    Array::from(&v).to_vec()
}

async fn wait_events(app: &str, n: usize) -> Vec<JsValue> {
    let start = js_sys::Date::now();
    loop {
        let got = events(app).await;
        if got.len() >= n || js_sys::Date::now() - start > DELIVERY_WAIT_MS {
            return got;
        }
        sleep(50).await;
    }
}

async fn fail_next(answers_json: &str) {
    let url = format!("{}/control", collector());
    let body = json(&format!(r#"{{"failNext":{answers_json}}}"#));
    post_json(&url, &body).await.expect("POST /control");
}

// ---------------------------------------------------------------- JS values

fn json(text: &str) -> JsValue {
    JSON::parse(text).unwrap_or_else(|_| panic!("bad JSON in test: {text}"))
}

fn prop(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

fn str_prop(v: &JsValue, k: &str) -> Option<String> {
    prop(v, k).as_string()
}

fn set(o: &JsValue, k: &str, v: &JsValue) {
    Reflect::set(o, &JsValue::from_str(k), v).unwrap();
}

/// `{ key: value }`.
fn with(key: &str, value: JsValue) -> JsValue {
    object_with(key, &value)
}

/// A valid event (for `validateEvent`) plus an own property `key: value`
/// (defined, not assigned, so that "__proto__" is a plain name).
fn event_with(key: &str, value: JsValue) -> JsValue {
    let e = object_with(key, &value);
    for (k, v) in [
        ("event_name", JsValue::from_str("e")),
        ("user_id", "u".into()),
        ("event_timestamp_epoch", TS.into()),
    ] {
        if k != key {
            set(&e, k, &v);
        }
    }
    e
}

fn names(evs: &[JsValue]) -> Vec<String> {
    evs.iter()
        .map(|e| str_prop(e, "event_name").unwrap_or_default())
        .collect()
}

/// An error as a test sees it.
#[derive(Debug, Clone)]
struct Seen {
    ctor: String,
    code: Option<String>,
    field: Option<String>,
    message: String,
    /// Every own property of the error, as text (for the app key check).
    all: String,
}

fn describe(e: &JsValue) -> Seen {
    assert!(is_error(e), "not an Error instance: {e:?}");
    Seen {
        ctor: constructor_name(e),
        code: str_prop(e, "code"),
        field: str_prop(e, "field"),
        message: str_prop(e, "message").unwrap_or_default(),
        all: serialize_error(e),
    }
}

/// What a row expects: the code, the field (None: no `field` property), and
/// text the message must contain.
#[derive(Clone, Copy, Debug)]
struct Want {
    code: &'static str,
    field: Option<&'static str>,
    ctor: &'static str,
    says: &'static str,
}

const fn want(code: &'static str, field: Option<&'static str>) -> Want {
    let ctor = match code.as_bytes() {
        b"event_too_large" | b"invalid_timestamp" | b"timestamp_out_of_window" => "RangeError",
        b"nested_property" | b"invalid_value" | b"missing_field" | b"invalid_property_name" => "TypeError",
        _ => "Error",
    };
    Want {
        code,
        field,
        ctor,
        says: "",
    }
}

/// What a getter may throw that the library mishandles (see the ignored
/// tests below): left out of the matrices so that they stay green.
const BUGGY_THROWS: [&str; 3] = ["hugeString", "messageThrows", "errorProxy"];

/// `invalid_value` because reading the value threw: the message says so.
const THREW: Want = threw_at(None);

/// [`THREW`] when the property whose reading threw is known: its name as
/// `field` (review30 #11c).
const fn threw_at(field: Option<&'static str>) -> Want {
    Want {
        code: "invalid_value",
        field,
        ctor: "TypeError",
        says: "threw",
    }
}

#[track_caller]
fn check_err<T: std::fmt::Debug>(what: &str, r: Result<T, JsValue>, w: Want) -> Seen {
    let e = match r {
        Ok(v) => panic!("{what}: expected {}, got Ok({v:?})", w.code),
        Err(e) => describe(&e),
    };
    assert_eq!(e.code.as_deref(), Some(w.code), "{what}: code ({e:?})");
    assert_eq!(e.field.as_deref(), w.field, "{what}: field ({e:?})");
    assert_eq!(e.ctor, w.ctor, "{what}: constructor ({e:?})");
    assert!(!e.message.is_empty(), "{what}: empty message");
    assert!(
        e.message.contains(w.says),
        "{what}: the message should say {:?}: {}",
        w.says,
        e.message
    );
    assert!(
        e.message.len() < 2000,
        "{what}: a {} byte message (a value copied into it?)",
        e.message.len()
    );
    assert!(
        !e.all.contains(SECRET),
        "{what}: the app key is in the error: {}",
        e.all
    );
    e
}

// ---------------------------------------------------------------- trackers

fn options(app: &str, extra: &str) -> JsValue {
    let o: JsValue = Object::new().into();
    set(&o, "appKey", &app.into());
    set(&o, "endpoint", &endpoint().into());
    set(&o, "flushIntervalMs", &0.into());
    set(&o, "storageKey", &unique_key("bad-input-store").into());
    let extra = json(extra);
    for k in Object::keys(extra.unchecked_ref::<Object>()).iter() {
        Reflect::set(&o, &k, &Reflect::get(&extra, &k).unwrap()).unwrap();
    }
    o
}

/// A unique app key that contains [`SECRET`].
fn app_key(tag: &str) -> String {
    unique_key(&format!("{SECRET}-{tag}"))
}

fn tracker(o: &JsValue) -> CoolaTracker {
    CoolaTracker::new(o.clone()).unwrap_or_else(|e| panic!("new CoolaTracker threw {:?}", describe(&e)))
}

#[track_caller]
fn track_ok(t: &CoolaTracker, name: &str, props: JsValue) -> String {
    t.track(name.into(), props)
        .unwrap_or_else(|e| panic!("track({name}) threw {:?}", describe(&e)))
        .as_string()
        .expect("track() returns the event_id, a string")
}

async fn flush(t: &CoolaTracker) -> (f64, f64, f64, f64) {
    let r = JsFuture::from(t.flush()).await.expect("flush() rejected");
    let n = |k: &str| prop(&r, k).as_f64().unwrap_or(-1.0);
    (n("sent"), n("failed"), n("pending"), n("requests"))
}

/// An `onError` callback that records what it gets, then runs `also`
/// (which may throw by returning Err).
struct ErrorLog {
    seen: Rc<RefCell<Vec<JsValue>>>,
    closure: Closure<dyn FnMut(JsValue) -> Result<(), JsValue>>,
}

impl ErrorLog {
    fn new(mut also: impl FnMut(&JsValue) -> Result<(), JsValue> + 'static) -> Self {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = seen.clone();
        let closure = Closure::<dyn FnMut(JsValue) -> Result<(), JsValue>>::new(move |e: JsValue| {
            log.borrow_mut().push(e.clone());
            also(&e)
        });
        ErrorLog { seen, closure }
    }

    fn install(&self, options: &JsValue) {
        set(options, "onError", self.closure.as_ref().unchecked_ref::<Function>());
    }

    fn all(&self) -> Vec<Seen> {
        self.seen.borrow().iter().map(describe).collect()
    }

    fn codes(&self) -> Vec<String> {
        self.all().into_iter().map(|e| e.code.unwrap_or_default()).collect()
    }
}

/// Tracks a good event after a bad row and checks it was queued.
#[track_caller]
fn still_works(t: &CoolaTracker, row: &str, good: &mut Vec<String>) {
    let before = t.pending();
    let name = format!("ok{}", good.len());
    if let Err(e) = t.track(name.as_str().into(), with("after", row.into())) {
        panic!("{row}: the tracker broke: a good event now throws {:?}", describe(&e));
    }
    assert_eq!(t.pending(), before + 1, "{row}: the good event was not queued");
    good.push(name);
}

/// What the page reports when a microtask queued by `track` runs after
/// `free()` (the ignored `free_right_after_track_leaves_nothing_running`).
const FREED_CLOSURE: &str = "closure invoked recursively or after being dropped";

/// Uncaught errors since the last call, without the known one above.
fn other_uncaught_errors() -> Vec<String> {
    uncaught_errors()
        .into_iter()
        .filter(|m| !m.contains(FREED_CLOSURE))
        .collect()
}

#[track_caller]
fn assert_clean(what: &str) {
    let p = pollution();
    assert!(p.is_empty(), "{what}: prototype pollution: {p}");
}

// ---------------------------------------------------------------- the matrix

/// One bad input: a name for the message, the event name, the properties,
/// what must be thrown.
struct Row {
    what: String,
    name: JsValue,
    props: JsValue,
    want: Want,
}

fn row(what: &str, name: JsValue, props: JsValue, want: Want) -> Row {
    Row {
        what: what.to_string(),
        name,
        props,
        want,
    }
}

/// A property `bad` with this value, tracked as event "e".
fn value_row(what: &str, value: JsValue, want: Want) -> Row {
    row(what, "e".into(), with("bad", value), want)
}

fn bad_value(code: &'static str) -> Want {
    want(code, Some("bad"))
}

/// The bad property values, shared by `track` and `validateEvent`.
fn bad_values() -> Vec<(String, JsValue, Want)> {
    let mut v: Vec<(String, JsValue, Want)> = vec![
        ("nested object".into(), json(r#"{"n":1}"#), bad_value("nested_property")),
        ("empty object".into(), json("{}"), bad_value("nested_property")),
        ("array".into(), json("[1,2]"), bad_value("nested_property")),
        ("function".into(), a_function(), bad_value("invalid_value")),
        ("arrow function".into(), an_arrow_function(), bad_value("invalid_value")),
        ("symbol".into(), a_symbol(), bad_value("invalid_value")),
        ("BigInt".into(), a_big_int(), bad_value("invalid_value")),
        ("Date".into(), a_date(), bad_value("invalid_value")),
        ("invalid Date".into(), an_invalid_date(), bad_value("invalid_value")),
        ("NaN".into(), JsValue::from_f64(f64::NAN), bad_value("invalid_value")),
        (
            "Infinity".into(),
            JsValue::from_f64(f64::INFINITY),
            bad_value("invalid_value"),
        ),
        (
            "-Infinity".into(),
            JsValue::from_f64(f64::NEG_INFINITY),
            bad_value("invalid_value"),
        ),
        ("class instance".into(), class_instance(), bad_value("nested_property")),
        (
            "class instance with throwing toString/valueOf/toJSON".into(),
            trapped_instance(),
            bad_value("nested_property"),
        ),
        ("Map".into(), a_map(), bad_value("nested_property")),
        ("RegExp".into(), a_reg_exp(), bad_value("nested_property")),
        ("new String()".into(), a_boxed_string(), bad_value("nested_property")),
        ("Uint8Array".into(), a_typed_array(), bad_value("nested_property")),
        ("Promise".into(), a_promise(), bad_value("nested_property")),
        ("Proxy of an object".into(), quiet_proxy(), bad_value("nested_property")),
        (
            "Proxy whose every trap throws".into(),
            hostile_proxy_value(),
            threw_at(Some("bad")),
        ),
        (
            "Date whose getTime throws".into(),
            throwing_date(),
            threw_at(Some("bad")),
        ),
    ];
    // A 10 MB string value: too large, found without copying it into the message.
    v.push(("10 MB string".into(), big_string(TEN_MB), want("event_too_large", None)));
    v
}

#[wasm_bindgen_test]
async fn track_refuses_bad_input_and_keeps_working() {
    let app = app_key("matrix");
    let errors = ErrorLog::new(|_| Ok(()));
    let o = options(&app, r#"{"retryBaseMs":50}"#);
    errors.install(&o);
    let t = tracker(&o);
    let mut good = Vec::new();

    let mut rows: Vec<Row> = bad_values()
        .into_iter()
        .map(|(what, v, w)| value_row(&what, v, w))
        .collect();
    // Objects and Proxies as the properties argument.
    rows.push(row(
        "Proxy whose get trap throws",
        "e".into(),
        throwing_proxy(),
        threw_at(Some("a")),
    ));
    rows.push(row(
        "Proxy whose ownKeys trap throws",
        "e".into(),
        own_keys_throwing_proxy(),
        THREW,
    ));
    rows.push(row("a revoked Proxy", "e".into(), revoked_proxy(), THREW));
    for kind in thrown_kinds()
        .into_iter()
        .filter(|k| !BUGGY_THROWS.contains(&k.as_str()))
    {
        rows.push(row(
            &format!("getter that throws ({kind})"),
            "e".into(),
            throwing_getter_props(&kind),
            threw_at(Some("boom")),
        ));
    }
    // Prototype tricks with object values: nested, whatever the name.
    rows.push(row(
        "JSON.parse {\"__proto__\":{\"polluted\":\"yes\"}}",
        "e".into(),
        json(r#"{"__proto__":{"polluted":"yes"}}"#),
        want("nested_property", Some("__proto__")),
    ));
    rows.push(row(
        "defineProperty __proto__ = {polluted}",
        "e".into(),
        own_proto(&json(r#"{"polluted":"yes"}"#)),
        want("nested_property", Some("__proto__")),
    ));
    rows.push(row(
        "constructor: {prototype: {polluted}}",
        "e".into(),
        json(r#"{"constructor":{"prototype":{"polluted":"yes"}}}"#),
        want("nested_property", Some("constructor")),
    ));
    // Names that are no plain string keys.
    rows.push(row(
        "a Symbol key",
        "e".into(),
        symbol_keyed(),
        want("invalid_property_name", Some("Symbol(s)")),
    ));
    rows.push(row(
        "an empty key",
        "e".into(),
        json(r#"{"":1}"#),
        want("invalid_property_name", Some("")),
    ));
    // Event names that are no strings.
    let name = Some("event_name");
    for (what, v, w) in [
        ("number", JsValue::from_f64(42.0), want("invalid_value", name)),
        ("NaN", JsValue::from_f64(f64::NAN), want("invalid_value", name)),
        ("null", JsValue::NULL, want("missing_field", name)),
        ("undefined", JsValue::UNDEFINED, want("missing_field", name)),
        ("empty string", JsValue::from_str(""), want("missing_field", name)),
        ("boolean", JsValue::TRUE, want("invalid_value", name)),
        ("object", json(r#"{"name":"x"}"#), want("invalid_value", name)),
        ("array", json(r#"["x"]"#), want("invalid_value", name)),
        ("new String()", a_boxed_string(), want("invalid_value", name)),
        ("symbol", a_symbol(), want("invalid_value", name)),
        ("BigInt", a_big_int(), want("invalid_value", name)),
        ("function", a_function(), want("invalid_value", name)),
        ("Date", a_date(), want("invalid_value", name)),
        ("10 MB string", big_string(TEN_MB), want("event_too_large", None)),
    ] {
        rows.push(row(&format!("event name: {what}"), v, json("{}"), w));
    }
    // What is no properties object at all.
    for (what, v) in [
        ("a string", JsValue::from_str("props")),
        ("an array", json(r#"[1,2]"#)),
        ("an array of pairs", json(r#"[["a",1]]"#)),
        ("a number", JsValue::from_f64(42.0)),
        ("a boolean", JsValue::TRUE),
        ("a function", a_function()),
        ("a symbol", a_symbol()),
        ("a BigInt", a_big_int()),
    ] {
        rows.push(row(
            &format!("properties: {what}"),
            "e".into(),
            v,
            want("invalid_value", None),
        ));
    }
    // Size.
    rows.push(row(
        "10,000 properties of 20 characters (~290 KB)",
        "e".into(),
        many_props(10_000, 20),
        want("event_too_large", None),
    ));
    rows.push(row(
        "a 10 MB property name",
        "e".into(),
        object_with(&"k".repeat(TEN_MB as usize), &JsValue::from_f64(1.0)),
        want("event_too_large", None),
    ));

    for r in &rows {
        let start = js_sys::Date::now();
        let res = t.track(r.name.clone(), r.props.clone());
        let ms = js_sys::Date::now() - start;
        check_err(&format!("track: {}", r.what), res, r.want);
        assert!(ms < 5000.0, "track: {}: took {ms} ms", r.what);
        assert_clean(&r.what);
        still_works(&t, &r.what, &mut good);
    }
    assert!(
        errors.all().is_empty(),
        "bad input is thrown, not reported: {:?}",
        errors.all()
    );

    // Only the good events were queued, and they all arrive (a retry may
    // be needed: the 10 MB rows take long enough in a debug build for the
    // collector to close an idle keep-alive socket under the first try).
    assert_eq!(t.pending(), good.len());
    flush(&t).await;
    assert_eq!(names(&wait_events(&app, good.len()).await), good);
    assert!(errors.all().is_empty(), "{:?}", errors.all());
}

#[wasm_bindgen_test]
fn validate_event_refuses_the_same_bad_input() {
    let mut rows: Vec<(String, JsValue, Want)> = bad_values()
        .into_iter()
        .map(|(what, v, w)| (what.clone(), event_with("bad", v), w))
        .collect();
    rows.push((
        "Proxy whose get trap throws".into(),
        throwing_proxy(),
        threw_at(Some("a")),
    ));
    rows.push((
        "Proxy whose ownKeys trap throws".into(),
        own_keys_throwing_proxy(),
        THREW,
    ));
    for kind in thrown_kinds()
        .into_iter()
        .filter(|k| !BUGGY_THROWS.contains(&k.as_str()))
    {
        rows.push((
            format!("getter that throws ({kind})"),
            throwing_getter_event(&kind),
            threw_at(Some("boom")),
        ));
    }
    rows.push((
        "JSON.parse {\"__proto__\":{\"polluted\":\"yes\"}}".into(),
        event_with("__proto__", json(r#"{"polluted":"yes"}"#)),
        want("nested_property", Some("__proto__")),
    ));
    let name = Some("event_name");
    for (what, v, w) in [
        ("number", JsValue::from_f64(42.0), want("invalid_value", name)),
        ("null", JsValue::NULL, want("missing_field", name)),
        ("object", json(r#"{"name":"x"}"#), want("invalid_value", name)),
        ("array", json(r#"["x"]"#), want("invalid_value", name)),
        ("symbol", a_symbol(), want("invalid_value", name)),
        ("BigInt", a_big_int(), want("invalid_value", name)),
        ("Date", a_date(), want("invalid_value", name)),
        ("10 MB string", big_string(TEN_MB), want("event_too_large", None)),
    ] {
        rows.push((format!("event_name: {what}"), event_with("event_name", v), w));
    }
    for (what, v) in [
        ("a string", JsValue::from_str("{}")),
        ("an array", json(r#"[{"event_name":"e"}]"#)),
        ("a number", JsValue::from_f64(1.0)),
        ("null", JsValue::NULL),
        ("undefined", JsValue::UNDEFINED),
        ("a function", a_function()),
        ("a symbol", a_symbol()),
        ("a BigInt", a_big_int()),
    ] {
        rows.push((format!("event: {what}"), v, want("invalid_value", None)));
    }
    let many = many_props(10_000, 20);
    for (k, v) in [
        ("event_name", "e".into()),
        ("user_id", "u".into()),
        ("event_timestamp_epoch", JsValue::from_f64(TS)),
    ] {
        set(&many, k, &v);
    }
    rows.push((
        "10,000 properties of 20 characters".into(),
        many,
        want("event_too_large", None),
    ));

    for (what, ev, w) in rows {
        let start = js_sys::Date::now();
        let res = validate_event(ev, JsValue::UNDEFINED);
        let ms = js_sys::Date::now() - start;
        check_err(&format!("validateEvent: {what}"), res, w);
        assert!(ms < 5000.0, "validateEvent: {what}: took {ms} ms");
        assert_clean(&what);
    }
}

/// What a hostile-but-valid input gives: it is accepted and arrives as it
/// should. One tracker, one flush, each event checked at the collector.
#[wasm_bindgen_test]
async fn hostile_but_valid_input_is_accepted_and_delivered() {
    let app = app_key("accepted");
    let t = tracker(&options(&app, "{}"));

    track_ok(&t, "frozen", frozen_props());
    track_ok(&t, "empty_props", json("{}"));
    track_ok(&t, "null_props", JsValue::NULL);
    track_ok(&t, "undefined_props", JsValue::UNDEFINED);
    track_ok(&t, "null_prototype", null_prototype_props());
    track_ok(&t, "inherited", inherited_props());
    track_ok(
        &t,
        "proto_names",
        json(
            r#"{"__proto__":"p","constructor":"c","prototype":"t","hasOwnProperty":"h","toString":"s","valueOf":"v","isAdmin":"no"}"#,
        ),
    );
    track_ok(&t, "proto_defined", own_proto(&"via defineProperty".into()));
    track_ok(&t, "lying_proxy", lying_proxy());
    track_ok(&t, "lone_surrogates", lone_surrogate_props());
    track_ok(&t, "nul", with("text", nul_string().into()));
    let nul_key = format!("k{}ey", '\u{0}');
    track_ok(&t, "nul_key", with(&nul_key, "v".into()));
    assert_clean("accepted inputs");

    let (sent, failed, pending, _) = flush(&t).await;
    assert_eq!((failed, pending), (0.0, 0.0), "sent {sent}");
    let got = events(&app).await;
    let by = |n: &str| -> JsValue {
        got.iter()
            .find(|e| str_prop(e, "event_name").as_deref() == Some(n))
            .cloned()
            .unwrap_or_else(|| panic!("{n} did not arrive: {:?}", names(&got)))
    };

    let e = by("frozen");
    assert_eq!(str_prop(&e, "plan").as_deref(), Some("pro"));
    assert_eq!(prop(&e, "n").as_f64(), Some(3.0));
    assert_eq!(str_prop(&e, "ok").as_deref(), Some("true"));

    // null / undefined properties: the same properties as `{}`.
    let keys = |e: &JsValue| -> Vec<String> {
        let mut k: Vec<String> = Object::keys(e.unchecked_ref::<Object>())
            .iter()
            .filter_map(|k| k.as_string())
            .collect();
        k.sort();
        k
    };
    let empty = keys(&by("empty_props"));
    for n in ["null_props", "undefined_props"] {
        assert_eq!(keys(&by(n)), empty, "{n}");
    }

    let e = by("null_prototype");
    assert_eq!(str_prop(&e, "plan").as_deref(), Some("pro"));

    let e = by("inherited");
    assert_eq!(str_prop(&e, "own").as_deref(), Some("mine"));
    assert!(!has_own(&e, "inherited"), "an inherited property was sent");
    assert!(!has_own(&e, "polluted"), "an inherited property was sent");

    // __proto__, constructor, prototype... are plain names: sent as such.
    let e = by("proto_names");
    assert!(has_own(&e, "__proto__"), "__proto__ was not sent as a plain name");
    assert_eq!(str_prop(&e, "__proto__").as_deref(), Some("p"));
    for (k, v) in [
        ("constructor", "c"),
        ("prototype", "t"),
        ("hasOwnProperty", "h"),
        ("toString", "s"),
        ("valueOf", "v"),
        ("isAdmin", "no"),
    ] {
        assert!(has_own(&e, k), "{k}");
        assert_eq!(str_prop(&e, k).as_deref(), Some(v), "{k}");
    }
    assert_eq!(
        str_prop(&by("proto_defined"), "__proto__").as_deref(),
        Some("via defineProperty")
    );
    assert_eq!(str_prop(&by("lying_proxy"), "ghost").as_deref(), Some("boo"));

    // Lone surrogates are accepted and sent as U+FFFD (the UTF-8 encoder
    // replaces them when the string crosses into wasm).
    let e = by("lone_surrogates");
    assert_eq!(str_prop(&e, "text"), Some(lone_surrogates_replaced()));
    assert_eq!(str_prop(&e, &lone_surrogates_replaced()).as_deref(), Some("lone key"));

    // NUL and other control characters round-trip.
    assert_eq!(str_prop(&by("nul"), "text"), Some(nul_string()));
    assert_eq!(str_prop(&by("nul_key"), &nul_key).as_deref(), Some("v"));
    assert_clean("delivered events");
}

#[wasm_bindgen_test]
fn validate_event_accepts_hostile_but_valid_input() {
    // Frozen, null-prototype and inherited-property events.
    let v = validate_event(frozen_event(), JsValue::UNDEFINED).expect("a frozen event");
    assert_eq!(str_prop(&v, "k").as_deref(), Some("v"));
    let np = null_prototype_props();
    for (k, x) in [
        ("event_name", JsValue::from_str("e")),
        ("user_id", "u".into()),
        ("event_timestamp_epoch", TS.into()),
    ] {
        set(&np, k, &x);
    }
    let v = validate_event(np, JsValue::UNDEFINED).expect("a null-prototype event");
    assert_eq!(str_prop(&v, "plan").as_deref(), Some("pro"));
    assert!(has_plain_prototype(&v));

    // __proto__ as a plain name: an own property of the result, whose
    // prototype stays Object.prototype.
    let ev = json(
        r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"__proto__":"p","constructor":"c","prototype":"t"}"#,
    );
    let v = validate_event(ev, JsValue::UNDEFINED).expect("__proto__ as a string property");
    assert!(has_plain_prototype(&v), "the result's prototype was replaced");
    assert!(has_own(&v, "__proto__"));
    assert_eq!(str_prop(&v, "__proto__").as_deref(), Some("p"));
    assert_eq!(str_prop(&v, "constructor").as_deref(), Some("c"));
    assert_eq!(str_prop(&v, "prototype").as_deref(), Some("t"));
    assert_clean("validateEvent with __proto__");

    // Lone surrogates: U+FFFD. NUL: unchanged.
    let v = validate_event(event_with("text", lone_surrogates()), JsValue::UNDEFINED).expect("lone surrogates");
    assert_eq!(str_prop(&v, "text"), Some(lone_surrogates_replaced()));
    let v = validate_event(event_with("text", nul_string().into()), JsValue::UNDEFINED).expect("NUL");
    assert_eq!(str_prop(&v, "text"), Some(nul_string()));

    // A Date is fine as the timestamp (and only there).
    let v = validate_event(event_with("event_timestamp_epoch", a_date()), JsValue::UNDEFINED).expect("Date timestamp");
    assert_eq!(prop(&v, "event_timestamp_epoch").as_f64(), Some(TS));

    // 10,000 small properties: about 99 KB of JSON, under the 100 KB limit.
    let many = many_props(10_000, 0);
    for (k, x) in [
        ("event_name", JsValue::from_str("e")),
        ("user_id", "u".into()),
        ("event_timestamp_epoch", TS.into()),
    ] {
        set(&many, k, &x);
    }
    let v = validate_event(many, JsValue::UNDEFINED).expect("10,000 small properties");
    assert_eq!(Object::keys(v.unchecked_ref::<Object>()).length(), 10_003);
}

#[wasm_bindgen_test]
async fn ten_thousand_small_properties_are_accepted_and_delivered() {
    let app = app_key("many");
    let t = tracker(&options(&app, r#"{"sessionDua":false,"autoPageProperties":false}"#));
    let start = js_sys::Date::now();
    track_ok(&t, "many", many_props(10_000, 0));
    let ms = js_sys::Date::now() - start;
    assert!(ms < 5000.0, "tracking 10,000 properties took {ms} ms");
    assert_eq!(flush(&t).await, (1.0, 0.0, 0.0, 1.0));
    let got = events(&app).await;
    assert_eq!(got.len(), 1);
    assert_eq!(prop(&got[0], "p0").as_f64(), Some(1.0));
    assert_eq!(prop(&got[0], "p9999").as_f64(), Some(1.0));
}

#[wasm_bindgen_test]
async fn a_ten_mb_string_is_refused_quickly_and_often() {
    let app = app_key("10mb");
    let t = tracker(&options(&app, r#"{"retryBaseMs":50}"#));
    let huge = big_string(TEN_MB);
    let start = js_sys::Date::now();
    for i in 0..5 {
        check_err(
            &format!("10 MB string #{i}"),
            t.track("e".into(), with("text", huge.clone())),
            want("event_too_large", None),
        );
    }
    let ms = js_sys::Date::now() - start;
    assert!(ms < 10_000.0, "5 × 10 MB took {ms} ms");
    // Just under the limit is fine.
    track_ok(&t, "big_but_ok", with("text", big_string(100_000)));
    // (A keep-alive socket that the collector closed while the 10 MB strings
    // were checked can fail the first try; the retry then delivers.)
    flush(&t).await;
    let got = wait_events(&app, 1).await;
    assert_eq!(names(&got), ["big_but_ok"]);
    assert_eq!(str_prop(&got[0], "text").map(|s| s.len()), Some(100_000));
}

// ---------------------------------------------------------------- getters

#[wasm_bindgen_test]
async fn getters_run_at_most_once_per_track_and_side_effects_do_no_harm() {
    let app = app_key("getters");
    let t = tracker(&options(&app, "{}"));
    let p = side_effect_props();
    track_ok(&t, "first", p.clone());
    assert_eq!(prop(&p, "__calls").as_f64(), Some(1.0), "getter calls in one track");
    // The getter turned `later` into an object: the second track refuses it,
    // having called the getter once more.
    check_err(
        "second track of the mutated object",
        t.track("second".into(), p.clone()),
        want("nested_property", Some("later")),
    );
    assert_eq!(prop(&p, "__calls").as_f64(), Some(2.0));

    // validateEvent reads a getter once too.
    let ev = side_effect_props();
    for (k, x) in [
        ("event_name", JsValue::from_str("e")),
        ("user_id", "u".into()),
        ("event_timestamp_epoch", TS.into()),
    ] {
        set(&ev, k, &x);
    }
    let v = validate_event(ev.clone(), JsValue::UNDEFINED).expect("side-effect getter in validateEvent");
    assert_eq!(prop(&ev, "__calls").as_f64(), Some(1.0));
    assert_eq!(str_prop(&v, "counted").as_deref(), Some("call 1"));

    assert_eq!(flush(&t).await, (1.0, 0.0, 0.0, 1.0));
    let got = events(&app).await;
    assert_eq!(names(&got), ["first"]);
    // Read once, in the state of that moment.
    assert_eq!(str_prop(&got[0], "counted").as_deref(), Some("call 1"));
    assert_eq!(str_prop(&got[0], "victim").as_deref(), Some("deleted while read"));
    assert_eq!(str_prop(&got[0], "later").as_deref(), Some("b"));
    assert!(!has_own(&got[0], "added"));
}

#[wasm_bindgen_test]
async fn a_getter_that_calls_the_tracker_itself() {
    let app = app_key("getter-reentrant");
    let t = Rc::new(tracker(&options(&app, "{}")));
    let inner = t.clone();
    let f = Closure::<dyn FnMut() -> Result<JsValue, JsValue>>::new(move || {
        inner.track("inner".into(), with("from", "getter".into()))
    });
    let p = getter_calling(f.as_ref().unchecked_ref());
    let outer = track_ok(&t, "outer", p.clone());
    assert_eq!(prop(&p, "__calls").as_f64(), Some(1.0));
    assert_eq!(t.pending(), 2);

    // A getter that flushes, from inside track.
    let inner = t.clone();
    let g = Closure::<dyn FnMut() -> JsValue>::new(move || inner.flush().into());
    track_ok(&t, "flushing", getter_calling(g.as_ref().unchecked_ref()));

    // A getter that shuts the tracker down: the outer track then finds it closed.
    let inner = t.clone();
    let h = Closure::<dyn FnMut() -> JsValue>::new(move || inner.shutdown().into());
    check_err(
        "track whose getter calls shutdown()",
        t.track("closing".into(), getter_calling(h.as_ref().unchecked_ref())),
        want("tracker_closed", None),
    );
    let got = wait_events(&app, 3).await;
    assert_eq!(names(&got), ["inner", "outer", "flushing"]);
    let outer_ev = &got[1];
    assert_eq!(str_prop(outer_ev, "event_id").as_deref(), Some(outer.as_str()));
    // The getter returned the inner event's id: the outer event carries it.
    assert_eq!(str_prop(outer_ev, "reentrant"), str_prop(&got[0], "event_id"));
    assert_eq!(str_prop(&got[2], "reentrant").as_deref(), Some("object"));
    drop((f, g, h));
}

// ---------------------------------------------------------------- src bugs (ignored)

#[wasm_bindgen_test]
fn a_huge_thrown_string_is_not_copied_into_the_message() {
    let t = tracker(&options(&app_key("huge-throw"), "{}"));
    let boom = threw_at(Some("boom"));
    check_err("track", t.track("e".into(), throwing_getter_props("hugeString")), boom);
    check_err(
        "validateEvent",
        validate_event(throwing_getter_event("hugeString"), JsValue::UNDEFINED),
        boom,
    );
}

#[wasm_bindgen_test]
fn every_throw_from_a_getter_becomes_invalid_value() {
    let t = tracker(&options(&app_key("message-throws"), "{}"));
    for kind in ["messageThrows", "errorProxy"] {
        check_err(
            &format!("track: {kind}"),
            t.track("e".into(), throwing_getter_props(kind)),
            threw_at(Some("boom")),
        );
        check_err(
            &format!("validateEvent: {kind}"),
            validate_event(throwing_getter_event(kind), JsValue::UNDEFINED),
            threw_at(Some("boom")),
        );
    }
}

#[wasm_bindgen_test]
fn pure_functions_turn_js_exceptions_into_coded_errors() {
    for (what, v) in [
        ("a Date whose getTime throws", throwing_date()),
        ("a Proxy of a Date", proxy_of_date()),
    ] {
        let e = describe(&parse_timestamp(v, JsValue::UNDEFINED).expect_err(what));
        assert!(e.code.is_some(), "parseTimestamp({what}): no code: {e:?}");
    }
    for (what, v) in [
        ("a Proxy of an array whose get throws", throwing_array_proxy()),
        ("an array whose index getter throws", array_with_throwing_index()),
    ] {
        check_err(
            &format!("encodeBatch({what})"),
            encode_batch(v, JsValue::UNDEFINED),
            THREW,
        );
    }
}

#[wasm_bindgen_test]
fn thousands_of_hostile_calls_do_not_kill_the_module() {
    let app = app_key("stack");
    let survivor = tracker(&options(&app, "{}"));
    let victim = Rc::new(tracker(&options(&app, "{}")));
    let v = victim.clone();
    type Call = (&'static str, Closure<dyn FnMut()>);
    let calls: Vec<Call> = vec![
        (
            "track with a getter throwing a Proxy of an Error",
            Closure::new(move || {
                let _ = v.track("e".into(), throwing_getter_props("errorProxy"));
            }),
        ),
        (
            "parseTimestamp(a Date whose getTime throws)",
            Closure::new(|| {
                let _ = parse_timestamp(throwing_date(), JsValue::UNDEFINED);
            }),
        ),
        (
            "encodeBatch(a Proxy of an array)",
            Closure::new(|| {
                let _ = encode_batch(throwing_array_proxy(), JsValue::UNDEFINED);
            }),
        ),
    ];
    for (what, f) in &calls {
        let out = json(&repeat_catching(10_000, f.as_ref().unchecked_ref()));
        assert_eq!(
            prop(&out, "trapped"),
            JsValue::FALSE,
            "{what}: the wasm module died: {}",
            JSON::stringify(&out).unwrap()
        );
    }
    track_ok(&survivor, "survivor", JsValue::NULL);
    validate_event(event_with("k", "v".into()), JsValue::UNDEFINED).expect("validateEvent still works");
}

// ---------------------------------------------------------------- prototypes

#[wasm_bindgen_test]
fn no_input_pollutes_a_prototype() {
    assert_clean("before");
    let app = app_key("proto");
    let t = tracker(&options(&app, "{}"));
    let evil = [
        r#"{"__proto__":{"polluted":"yes"}}"#,
        r#"{"__proto__":"polluted"}"#,
        r#"{"constructor":{"prototype":{"polluted":"yes"}}}"#,
        r#"{"prototype":{"polluted":"yes"}}"#,
        r#"{"__proto__":{"__proto__":{"polluted":"yes"}}}"#,
        r#"{"a":1,"__proto__":null}"#,
    ];
    for text in evil {
        let _ = t.track("e".into(), json(text));
        let mut ev = json(text);
        if !ev.is_object() {
            ev = Object::new().into();
        }
        for (k, x) in [
            ("event_name", JsValue::from_str("e")),
            ("user_id", "u".into()),
            ("event_timestamp_epoch", TS.into()),
        ] {
            set(&ev, k, &x);
        }
        if let Ok(v) = validate_event(ev, JsValue::UNDEFINED) {
            assert!(has_plain_prototype(&v), "{text}: the result's prototype changed");
            assert_eq!(prop(&v, "polluted"), JsValue::UNDEFINED, "{text}");
        }
        assert_clean(text);
    }
    let _ = t.track("e".into(), own_proto(&json(r#"{"polluted":"yes","isAdmin":true}"#)));
    let _ = validate_event(own_proto(&json(r#"{"polluted":"yes"}"#)), JsValue::UNDEFINED);
    // Options with prototype tricks.
    let o = options(&app, r#"{"__proto__":{"polluted":"yes"}}"#);
    let _ = CoolaTracker::new(o);
    let o = json(r#"{"__proto__":{"appKey":"from-proto"}}"#);
    let _ = CoolaTracker::new(o);
    assert_clean("after");
}

// ---------------------------------------------------------------- free()

#[wasm_bindgen_test]
async fn calls_after_free_throw_an_error_and_harm_no_other_tracker() {
    watch_uncaught();
    let _ = uncaught_errors();
    let app = app_key("free");
    let survivor = tracker(&options(&app, "{}"));
    track_ok(&survivor, "before", JsValue::NULL);

    // A tracker handed to JavaScript, with events queued, then freed.
    let doomed = tracker(&options(&app, "{}"));
    track_ok(&doomed, "never_flushed", JsValue::NULL);
    let doomed: JsValue = doomed.into();
    let report = call_after_free(&doomed);
    let outcomes: Vec<(String, JsValue)> = Array::from(&json(&report))
        .iter()
        .map(|pair| {
            let pair = Array::from(&pair);
            (pair.get(0).as_string().unwrap_or_default(), pair.get(1))
        })
        .collect();
    for (what, out) in &outcomes {
        if what == "free()" {
            assert_eq!(prop(out, "ok"), JsValue::TRUE, "the first free() threw: {report}");
            continue;
        }
        if what == "free() again" && prop(out, "ok") == JsValue::TRUE {
            continue; // a second free() may be a no-op, or an Error as below
        }
        assert_eq!(
            prop(out, "threw"),
            JsValue::TRUE,
            "{what} on a freed tracker did not throw: {report}"
        );
        assert_eq!(
            prop(out, "isError"),
            JsValue::TRUE,
            "{what} on a freed tracker threw a non-Error: {report}"
        );
        let msg = str_prop(out, "message").unwrap_or_default();
        assert!(
            !msg.contains("unreachable") && !msg.to_lowercase().contains("runtimeerror"),
            "{what}: a wasm trap: {msg}"
        );
    }

    // The other tracker, the module and new trackers still work.
    track_ok(&survivor, "after", JsValue::NULL);
    let fresh = tracker(&options(&app, "{}"));
    track_ok(&fresh, "fresh", JsValue::NULL);
    assert_eq!(flush(&survivor).await, (2.0, 0.0, 0.0, 1.0));
    assert_eq!(flush(&fresh).await, (1.0, 0.0, 0.0, 1.0));
    sleep(100).await;
    let got = events(&app).await;
    assert_eq!(names(&got), ["before", "after", "fresh"]);
    let uncaught = other_uncaught_errors();
    assert!(uncaught.is_empty(), "uncaught errors after free(): {uncaught:?}");
}

#[wasm_bindgen_test]
async fn free_right_after_track_leaves_nothing_running() {
    // track schedules work for later (a persist at the end of the task, in
    // a page); free() before that runs must not leave a call into freed
    // memory or a dropped closure.
    watch_uncaught();
    let _ = uncaught_errors();
    let app = app_key("free-soon");
    let survivor = tracker(&options(&app, "{}"));
    for _ in 0..3 {
        let t = tracker(&options(&app, r#"{"flushIntervalMs":50}"#));
        track_ok(&t, "queued", JsValue::NULL);
        let js: JsValue = t.into();
        let out = free_now(&js);
        assert!(out.contains("\"ok\":true"), "free() threw: {out}");
    }
    sleep(300).await;
    track_ok(&survivor, "still_here", JsValue::NULL);
    assert_eq!(flush(&survivor).await, (1.0, 0.0, 0.0, 1.0));
    let uncaught = uncaught_errors();
    assert!(uncaught.is_empty(), "uncaught errors after free(): {uncaught:?}");
}

// ---------------------------------------------------------------- onError

#[wasm_bindgen_test]
async fn on_error_that_throws_anything_does_not_break_the_tracker() {
    let app = app_key("throwing-on-error");
    let thrown: Vec<JsValue> = vec![
        js_sys::Error::new("onError exploded").into(),
        "a string".into(),
        JsValue::NULL,
        a_symbol(),
        hostile_proxy_value(),
        trapped_instance(),
        big_string(1 << 20),
    ];
    let n = thrown.len();
    let i = Rc::new(RefCell::new(0usize));
    let errors = {
        let i = i.clone();
        ErrorLog::new(move |_| {
            let mut k = i.borrow_mut();
            let v = thrown[*k % thrown.len()].clone();
            *k += 1;
            Err(v)
        })
    };
    let o = options(&app, r#"{"maxQueueSize":1}"#);
    errors.install(&o);
    let t = tracker(&o);
    track_ok(&t, "first", JsValue::NULL);
    // Each track overflows the queue, each in a task of its own: onError is
    // called at the end of that task, and throws something different each time.
    let mut last = String::new();
    for k in 0..n {
        last = track_ok(&t, &format!("overflow{k}"), JsValue::NULL);
        sleep(0).await;
    }
    assert_eq!(*i.borrow(), n, "onError calls");
    assert!(errors.codes().iter().all(|c| c == "queue_full"), "{:?}", errors.codes());
    // From inside a flush (a 400).
    fail_next(r#"[{"status":400}]"#).await;
    assert_eq!(flush(&t).await, (0.0, 1.0, 0.0, 1.0));
    assert_eq!(errors.codes().last().map(String::as_str), Some("request_failed"));
    // Still working.
    let id = track_ok(&t, "still_works", JsValue::NULL);
    assert_ne!(id, last);
    assert_eq!(flush(&t).await, (1.0, 0.0, 0.0, 1.0));
    assert_eq!(names(&events(&app).await), ["still_works"]);
    for e in errors.all() {
        assert!(
            !e.all.contains(SECRET),
            "the app key is in an onError payload: {}",
            e.all
        );
    }
}

#[wasm_bindgen_test]
async fn on_error_may_call_the_tracker_back() {
    // onError tracks a good event, tries a bad one (which throws inside the
    // handler), flushes, and reads pending: all from inside track / flush.
    let app = app_key("reentrant-on-error");
    let slot: Rc<RefCell<Option<Rc<CoolaTracker>>>> = Rc::new(RefCell::new(None));
    let inner_results: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
    let calls = Rc::new(std::cell::Cell::new(0u32));
    let errors = {
        let (slot, inner_results, calls) = (slot.clone(), inner_results.clone(), calls.clone());
        ErrorLog::new(move |e| {
            let code = str_prop(e, "code").unwrap_or_default();
            let Some(t) = slot.borrow().clone() else { return Ok(()) };
            // Nested calls (a track here overflows again, reported at the
            // end of this callback's task) are bounded.
            if code == "queue_full" {
                calls.set(calls.get() + 1);
                if calls.get() > 3 {
                    return Ok(());
                }
            }
            let r = match t.track("from_on_error".into(), with("reason", code.as_str().into())) {
                Ok(_) => format!("{code}: ok"),
                Err(e) => format!("{code}: {:?}", describe(&e).code),
            };
            inner_results.borrow_mut().push(r);
            if let Err(e) = t.track("bad".into(), with("x", json("{}"))) {
                let r = format!("{code}: bad {}", describe(&e).code.unwrap_or_default());
                inner_results.borrow_mut().push(r);
            }
            let _ = t.pending();
            if code == "request_failed" {
                let _ = t.flush();
            }
            Ok(())
        })
    };
    let o = options(&app, r#"{"maxQueueSize":2}"#);
    errors.install(&o);
    let t = Rc::new(tracker(&o));
    *slot.borrow_mut() = Some(t.clone());
    track_ok(&t, "a", JsValue::NULL);
    track_ok(&t, "b", JsValue::NULL);
    track_ok(&t, "c", JsValue::NULL); // overflows: onError at the end of the task
    fail_next(r#"[{"status":400}]"#).await;
    let _ = flush(&t).await; // the 400: onError inside the flush's callback
    let _ = flush(&t).await;
    let results = inner_results.borrow().clone();
    assert!(
        results.iter().any(|r| r == "queue_full: ok"),
        "track inside onError (queue_full): {results:?}"
    );
    assert!(
        results.iter().any(|r| r == "queue_full: bad nested_property"),
        "a bad track inside onError throws its own error: {results:?}"
    );
    assert!(
        results.iter().any(|r| r == "request_failed: ok"),
        "track inside onError (request_failed): {results:?}"
    );
    // And after all that the tracker still works.
    track_ok(&t, "last", JsValue::NULL);
    assert_eq!(flush(&t).await.1, 0.0);
    let got = wait_events(&app, 1).await;
    let got_names = names(&got);
    assert!(got_names.iter().any(|n| n == "last"), "{got_names:?}");
    assert!(got_names.iter().any(|n| n == "from_on_error"), "{got_names:?}");
    assert!(!got_names.iter().any(|n| n == "bad"), "{got_names:?}");
    slot.borrow_mut().take();
}

#[wasm_bindgen_test]
async fn on_error_that_frees_its_own_tracker() {
    // The worst a handler can do: free() the tracker that is calling it.
    watch_uncaught();
    let _ = uncaught_errors();
    let app = app_key("free-in-on-error");
    let survivor = tracker(&options(&app, "{}"));
    let slot: Rc<RefCell<JsValue>> = Rc::new(RefCell::new(JsValue::UNDEFINED));
    let free_result: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let errors = {
        let (slot, free_result) = (slot.clone(), free_result.clone());
        ErrorLog::new(move |_| {
            let t = slot.borrow().clone();
            if !t.is_undefined() && free_result.borrow().is_none() {
                *free_result.borrow_mut() = Some(free_now(&t));
            }
            Ok(())
        })
    };
    let o = options(&app, r#"{"maxQueueSize":1}"#);
    errors.install(&o);
    let t: JsValue = tracker(&o).into();
    *slot.borrow_mut() = t.clone();
    let track_fn: Function = prop(&t, "track").unchecked_into();
    let _ = track_fn.call2(&t, &"a".into(), &JsValue::NULL).expect("first track");
    // Overflows: at the end of the task onError frees the tracker while the
    // tracker's callback is running. Whatever free() does, it is a JS value
    // or Error, not a trap.
    let r = track_fn.call2(&t, &"b".into(), &JsValue::NULL);
    if let Err(e) = &r {
        assert!(is_error(e), "a non-Error was thrown: {e:?}");
    }
    sleep(0).await;
    assert!(free_result.borrow().is_some(), "onError was not called");
    // The tracker is gone for JavaScript now.
    let after = track_fn.call2(&t, &"c".into(), &JsValue::NULL);
    assert!(after.is_err(), "track after free() inside onError did not throw");
    assert!(is_error(&after.unwrap_err()));
    // Everything else still works.
    track_ok(&survivor, "survivor", JsValue::NULL);
    assert_eq!(flush(&survivor).await, (1.0, 0.0, 0.0, 1.0));
    sleep(100).await;
    let uncaught = other_uncaught_errors();
    assert!(uncaught.is_empty(), "uncaught errors: {uncaught:?}");
    slot.replace(JsValue::UNDEFINED);
}

// ---------------------------------------------------------------- options

#[wasm_bindgen_test]
fn hostile_options_give_invalid_option_not_a_crash() {
    let app = app_key("options");
    // A Proxy whose traps throw, getters that throw: read as absent, so appKey is missing.
    let e = describe(
        &CoolaTracker::new(throwing_proxy())
            .err()
            .expect("a throwing Proxy as options"),
    );
    assert_eq!(e.code.as_deref(), Some("invalid_option"), "{e:?}");
    let o = options(&app, "{}");
    Reflect::delete_property(o.unchecked_ref::<Object>(), &"appKey".into()).unwrap();
    let thrower = throwing_getter_props("error");
    let getter = Object::get_own_property_descriptor(thrower.unchecked_ref::<Object>(), &"boom".into());
    Reflect::define_property(
        o.unchecked_ref::<Object>(),
        &"appKey".into(),
        getter.unchecked_ref::<Object>(),
    )
    .unwrap();
    let e = describe(&CoolaTracker::new(o).err().expect("a throwing appKey getter"));
    assert_eq!(
        (e.code.as_deref(), e.field.as_deref()),
        (Some("invalid_option"), Some("appKey"))
    );
    // A throwing getter of any option is refused under its name, saying it
    // threw (it was read as absent: batchSize took its default; review30
    // #11a), whatever was thrown, with nothing of the app key.
    for (kind, says) in [
        ("error", "getter exploded"),
        ("string", "a thrown string"),
        ("symbol", "an exception was thrown"),
        ("messageThrows", "an exception was thrown"),
        ("hugeString", "xxxx"),
    ] {
        let o = options(&app, "{}");
        let getter =
            Object::get_own_property_descriptor(throwing_getter_props(kind).unchecked_ref::<Object>(), &"boom".into());
        Reflect::define_property(
            o.unchecked_ref::<Object>(),
            &"batchSize".into(),
            getter.unchecked_ref::<Object>(),
        )
        .unwrap();
        let e = describe(&CoolaTracker::new(o).err().expect("a throwing batchSize getter"));
        assert_eq!(
            (e.code.as_deref(), e.field.as_deref()),
            (Some("invalid_option"), Some("batchSize")),
            "{kind}: {e:?}"
        );
        assert!(
            e.message.starts_with("\"batchSize\": reading it threw: "),
            "{kind}: {}",
            e.message
        );
        assert!(
            e.message.contains(says) && e.message.len() < 300,
            "{kind}: {}",
            e.message
        );
        assert!(!e.all.contains(SECRET), "{kind}: app key in {}", e.all);
    }
    // Values of the wrong type.
    for (k, v) in [
        ("appKey", a_symbol()),
        ("appKey", a_big_int()),
        ("appKey", json(r#"{"toString":"x"}"#)),
        ("endpoint", a_symbol()),
        ("endpoint", json("{}")),
        ("batchSize", a_big_int()),
        ("flushIntervalMs", JsValue::from_f64(f64::NAN)),
        ("maxQueueSize", JsValue::from_f64(f64::INFINITY)),
        ("onError", json("{}")),
        ("onError", a_symbol()),
        ("userId", big_string(TEN_MB)),
    ] {
        let o = options(&app, "{}");
        set(&o, k, &v);
        match CoolaTracker::new(o) {
            Err(e) => {
                let e = describe(&e);
                assert_eq!(e.code.as_deref(), Some("invalid_option"), "{k}: {e:?}");
                assert_eq!(e.field.as_deref(), Some(k), "{k}: {e:?}");
                assert!(!e.all.contains(SECRET), "{k}: app key in {}", e.all);
                assert!(e.message.len() < 2000, "{k}: a {} byte message", e.message.len());
            }
            // A 10 MB userId is a string: accepting it is no crash.
            Ok(_) if k == "userId" => {}
            Ok(_) => panic!("{k} = {v:?} was accepted"),
        }
    }
    // A name that is no option is refused under that name, whatever its
    // value: a misspelt optOut or persist, silently ignored, would track a
    // visitor who said no or store what was meant to stay in memory.
    for k in ["optout", "persit", "batch_size", "AppKey", "onerror", "flushInterval"] {
        let o = options(&app, "{}");
        set(&o, k, &JsValue::TRUE);
        let e = describe(&CoolaTracker::new(o).err().unwrap_or_else(|| panic!("{k} was accepted")));
        assert_eq!(
            (e.code.as_deref(), e.field.as_deref()),
            (Some("invalid_option"), Some(k)),
            "{e:?}"
        );
        assert!(e.message.contains("not an option"), "{k}: {}", e.message);
    }
    // The options the shell reads itself are options too, given or not.
    let o = options(&app, "{}");
    for k in ["onError", "beforeSend", "properties"] {
        set(&o, k, &JsValue::UNDEFINED);
    }
    let t = CoolaTracker::new(o).expect("onError, beforeSend and properties undefined");
    drop(t);
    assert_clean("options");
}

#[wasm_bindgen_test]
fn endpoints_must_be_https_except_loopback() {
    let app = app_key("endpoint");
    for ep in [
        "http://example.com/v3/{appKey}/track",
        "http://10.0.0.1/",
        "http://127.0.0.1.evil.com/",
        "http://localhost.evil.com/",
        "http://localhost@evil.com/",
        "http://127.0.0.1:80@evil.com/",
        "http://[::1]@evil.com/",
        "http://evil.com#@localhost/",
        "http://evil.com?@localhost/",
        "http://127.0.0.256/",
        "http://128.0.0.1/",
        "http://0.0.0.0/",
        "http://[::2]/",
        "ws://localhost/",
        "javascript:alert(1)//localhost",
        "//localhost/",
        "localhost/",
        "",
    ] {
        let o = options(&app, "{}");
        set(&o, "endpoint", &ep.into());
        let e = describe(
            &CoolaTracker::new(o)
                .err()
                .unwrap_or_else(|| panic!("{ep:?} was accepted")),
        );
        assert_eq!(
            (e.code.as_deref(), e.field.as_deref()),
            (Some("invalid_option"), Some("endpoint")),
            "{ep:?}: {e:?}"
        );
        assert_eq!(e.ctor, "Error", "{ep:?}");
    }
    // The app key in a refused endpoint is not repeated.
    let o = options(&app, "{}");
    set(&o, "endpoint", &format!("http://example.com/v3/{app}/track").into());
    let e = describe(&CoolaTracker::new(o).err().expect("http://example.com with the key"));
    assert!(!e.all.contains(SECRET), "the app key is in: {}", e.all);

    for ep in [
        "http://localhost:1/",
        "http://LOCALHOST:1/",
        "http://127.0.0.5/",
        "http://127.255.255.254:8080/x",
        "http://[::1]:1/",
        "https://example.com/v3/{appKey}/track",
    ] {
        let o = options(&app, "{}");
        set(&o, "endpoint", &ep.into());
        assert!(CoolaTracker::new(o).is_ok(), "{ep} should be accepted");
    }
}

#[wasm_bindgen_test]
fn a_backslash_does_not_smuggle_a_remote_host_past_the_loopback_rule() {
    let app = app_key("backslash");
    for ep in [
        "http://evil.com\\@localhost/v3/{appKey}/track",
        "http://evil.com\\@127.0.0.1:1/v3/{appKey}/track",
        "http://evil.com\\@[::1]/",
    ] {
        // What fetch would connect to.
        assert_eq!(hostname_of(ep), "evil.com", "{ep}");
        let o = options(&app, "{}");
        set(&o, "endpoint", &ep.into());
        let e = describe(&CoolaTracker::new(o).err().unwrap_or_else(|| {
            panic!("{ep:?} was accepted, but fetch would send the app key to evil.com in plain http")
        }));
        assert_eq!(e.field.as_deref(), Some("endpoint"));
    }
}

// ---------------------------------------------------------------- the app key

#[wasm_bindgen_test]
async fn the_app_key_is_in_no_error_nor_on_error_payload() {
    let app = app_key("noleak");
    let errors = ErrorLog::new(|_| Ok(()));
    let o = options(&app, r#"{"maxQueueSize":2,"maxRetries":0}"#);
    errors.install(&o);
    let t = tracker(&o);
    // queue_full
    for n in ["a", "b", "c"] {
        track_ok(&t, n, JsValue::NULL);
    }
    // request_failed: 400, 403
    fail_next(r#"[{"status":400}]"#).await;
    flush(&t).await;
    track_ok(&t, "d", JsValue::NULL);
    fail_next(r#"[{"status":403}]"#).await;
    flush(&t).await;
    // A network error (nothing listens on port 1), given up at once.
    let errors2 = ErrorLog::new(|_| Ok(()));
    let o2 = options(&app, r#"{"maxRetries":0}"#);
    set(&o2, "endpoint", &"http://127.0.0.1:1/v3/{appKey}/track".into());
    errors2.install(&o2);
    let t2 = tracker(&o2);
    track_ok(&t2, "lost", JsValue::NULL);
    flush(&t2).await;
    // Thrown errors.
    let mut thrown = vec![
        t.track("e".into(), with("bad", json("{}"))).unwrap_err(),
        t.track(JsValue::NULL, JsValue::NULL).unwrap_err(),
        t.track("e".into(), with("uid", "x".into())).unwrap_err(),
        t.set_user_id("".into()).unwrap_err(),
    ];
    let o3 = options(&app, r#"{"batchSize":0}"#);
    thrown.push(CoolaTracker::new(o3).err().expect("batchSize 0"));
    let mut all: Vec<Seen> = thrown.iter().map(describe).collect();
    all.extend(errors.all());
    all.extend(errors2.all());
    let codes: Vec<String> = all.iter().map(|e| e.code.clone().unwrap_or_default()).collect();
    for c in [
        "queue_full",
        "request_failed",
        "nested_property",
        "missing_field",
        "invalid_option",
    ] {
        assert!(codes.iter().any(|x| x == c), "no {c} seen: {codes:?}");
    }
    assert!(
        errors2
            .all()
            .iter()
            .any(|e| e.code.as_deref() == Some("request_failed")),
        "the network error was not reported: {:?}",
        errors2.all()
    );
    for e in &all {
        assert!(!e.all.contains(SECRET), "the app key is in {:?}: {}", e.code, e.all);
        assert!(!e.all.contains(&app), "the app key is in {:?}: {}", e.code, e.all);
    }
}
