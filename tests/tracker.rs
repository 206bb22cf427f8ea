//! `CoolaTracker` against the real local collector (www/collector), in Node
//! and in a browser.
//!
//! The collector's base URL comes from `COLLECTOR_URL` at build time; run the
//! tests through `tests/with-collector.sh PORT CMD...` (what `make
//! test-wasm-node` and `make test-wasm-chrome` do), which starts the collector
//! and sets it. Every test uses its own app key and reads back only that
//! key's events and requests, so tests never see each other's traffic. The
//! collector's `failNext` queue is shared: a test sets it only when none of
//! its trackers has anything in flight, right before the request it targets.
#![cfg(target_arch = "wasm32")]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

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
    #[wasm_bindgen(js_name = userAgent)]
    fn user_agent() -> Option<String>;
    #[wasm_bindgen(js_name = isPage)]
    fn is_page() -> bool;
    #[wasm_bindgen(js_name = firePagehide)]
    fn fire_pagehide();
    #[wasm_bindgen(js_name = storageKeysWith)]
    fn storage_keys_with(prefix: &str) -> Vec<String>;
    #[wasm_bindgen(js_name = storageGet)]
    fn storage_get(key: &str) -> Option<String>;
    #[wasm_bindgen(js_name = uniqueKey)]
    fn unique_key(prefix: &str) -> String;
    #[wasm_bindgen(js_name = constructorName)]
    fn constructor_name(v: &JsValue) -> String;
    #[wasm_bindgen(js_name = isError)]
    fn is_error(v: &JsValue) -> bool;
}

/// The constructor of `invalid_timestamp` errors. src/core/error.rs maps the
/// code to a plain `Error`; commit 240cd01's message says it became a
/// `RangeError`. Change this one line when the code settles.
const TIMESTAMP_ERROR: &str = "RangeError";

/// How long a test waits for events to reach the collector.
const DELIVERY_WAIT_MS: f64 = 5000.0;

// ---------------------------------------------------------------- collector

fn collector() -> &'static str {
    match option_env!("COLLECTOR_URL") {
        Some(url) => url,
        None => panic!(
            "COLLECTOR_URL was not set at build time: run these tests through \
             tests/with-collector.sh (make test-wasm-node / make test-wasm-chrome)"
        ),
    }
}

fn endpoint() -> String {
    format!("{}/v3/{{appKey}}/track", collector().trim_end_matches('/'))
}

async fn get(path: &str) -> JsValue {
    let url = format!("{}{}", collector().trim_end_matches('/'), path);
    get_json(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url} failed (is the collector running?): {e:?}"))
}

/// The events the collector stored for `app`, in arrival order.
async fn events(app: &str) -> Vec<JsValue> {
    Array::from(&get(&format!("/events?app={app}")).await).to_vec()
}

/// The collector's summaries of the track requests made with `app`.
async fn requests(app: &str) -> Vec<JsValue> {
    Array::from(&get("/requests").await)
        .to_vec()
        .into_iter()
        .filter(|r| str_prop(r, "app").as_deref() == Some(app))
        .collect()
}

/// Polls until at least `n` events of `app` arrived, or the wait is over;
/// returns what arrived (callers assert the exact count).
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

/// Scripts the collector's next answers (shared by every app key).
async fn fail_next(answers_json: &str) {
    let url = format!("{}/control", collector().trim_end_matches('/'));
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

fn num_prop(v: &JsValue, k: &str) -> Option<f64> {
    prop(v, k).as_f64()
}

fn set(o: &JsValue, k: &str, v: &JsValue) {
    Reflect::set(o, &JsValue::from_str(k), v).unwrap();
}

fn names(evs: &[JsValue]) -> Vec<String> {
    evs.iter()
        .map(|e| str_prop(e, "event_name").unwrap_or_default())
        .collect()
}

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => *c == b'4',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

// ---------------------------------------------------------------- trackers

/// Options `{appKey, endpoint: <collector>, flushIntervalMs: 0, storageKey:
/// <unique>}` plus `extra` (JSON text whose keys override those). The unique
/// storageKey keeps a page's trackers from sharing stored ids and queues
/// across tests.
fn options(app: &str, extra: &str) -> JsValue {
    let o: JsValue = Object::new().into();
    set(&o, "appKey", &app.into());
    set(&o, "endpoint", &endpoint().into());
    set(&o, "flushIntervalMs", &0.into());
    set(&o, "storageKey", &unique_key("test-store").into());
    let extra = json(extra);
    for k in Object::keys(extra.unchecked_ref::<Object>()).iter() {
        Reflect::set(&o, &k, &Reflect::get(&extra, &k).unwrap()).unwrap();
    }
    o
}

fn tracker(o: &JsValue) -> CoolaTracker {
    CoolaTracker::new(o.clone()).unwrap_or_else(|e| panic!("new CoolaTracker threw {:?}", describe(&e)))
}

fn props(text: &str) -> JsValue {
    json(text)
}

#[track_caller]
fn track(t: &CoolaTracker, name: &str, properties: &str) -> String {
    t.track(name.into(), props(properties))
        .unwrap_or_else(|e| panic!("track({name}) threw {:?}", describe(&e)))
        .as_string()
        .expect("track() returns the event_id, a string")
}

/// `t.userId`, a string.
fn user_id(t: &CoolaTracker) -> String {
    t.user_id().as_string().expect("userId is a string")
}

/// A flush report as `(sent, failed, pending, requests)`.
async fn flush(t: &CoolaTracker) -> (f64, f64, f64, f64) {
    report(JsFuture::from(t.flush()).await.expect("flush() rejected"))
}

async fn shutdown(t: &CoolaTracker) -> (f64, f64, f64, f64) {
    report(JsFuture::from(t.shutdown()).await.expect("shutdown() rejected"))
}

fn report(r: JsValue) -> (f64, f64, f64, f64) {
    let keys: Vec<String> = Object::keys(r.unchecked_ref::<Object>())
        .iter()
        .filter_map(|k| k.as_string())
        .collect();
    for k in ["sent", "failed", "pending", "requests"] {
        assert!(keys.iter().any(|x| x == k), "FlushReport lacks {k}: {keys:?}");
    }
    let n = |k: &str| num_prop(&r, k).unwrap_or_else(|| panic!("FlushReport.{k} is not a number"));
    (n("sent"), n("failed"), n("pending"), n("requests"))
}

/// Polls until the tracker has nothing pending, or the wait is over.
async fn wait_drained(t: &CoolaTracker) -> usize {
    let start = js_sys::Date::now();
    while t.pending() > 0 && js_sys::Date::now() - start < DELIVERY_WAIT_MS {
        sleep(50).await;
    }
    t.pending()
}

/// An error as a test sees it.
#[derive(Debug, Clone)]
struct Seen {
    ctor: String,
    code: Option<String>,
    field: Option<String>,
    message: String,
    status: Option<f64>,
    count: Option<f64>,
}

fn describe(e: &JsValue) -> Seen {
    assert!(is_error(e), "not an Error instance: {e:?}");
    Seen {
        ctor: constructor_name(e),
        code: str_prop(e, "code"),
        field: str_prop(e, "field"),
        message: str_prop(e, "message").unwrap_or_default(),
        status: num_prop(e, "status"),
        count: num_prop(e, "count"),
    }
}

/// An `onError` callback that records what it receives; `throw_after`
/// makes it throw after recording, like a buggy handler.
struct ErrorLog {
    seen: Rc<RefCell<Vec<JsValue>>>,
    closure: Closure<dyn FnMut(JsValue) -> Result<(), JsValue>>,
}

impl ErrorLog {
    fn new(throw_after: bool) -> Self {
        Self::with(throw_after, |_| {})
    }

    fn with(throw_after: bool, mut also: impl FnMut(&JsValue) + 'static) -> Self {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = seen.clone();
        let closure = Closure::<dyn FnMut(JsValue) -> Result<(), JsValue>>::new(move |e: JsValue| {
            log.borrow_mut().push(e.clone());
            also(&e);
            if throw_after {
                Err(js_sys::Error::new("onError handler exploded").into())
            } else {
                Ok(())
            }
        });
        ErrorLog { seen, closure }
    }

    fn install(&self, options: &JsValue) {
        set(options, "onError", self.closure.as_ref().unchecked_ref::<Function>());
    }

    fn all(&self) -> Vec<Seen> {
        self.seen.borrow().iter().map(describe).collect()
    }
}

#[track_caller]
fn expect_invalid_option(o: &JsValue, field: &str, app_key: Option<&str>) {
    let e = match CoolaTracker::new(o.clone()) {
        Ok(_) => panic!("expected invalid_option for {field}"),
        Err(e) => describe(&e),
    };
    assert_eq!(e.code.as_deref(), Some("invalid_option"), "{field}: {e:?}");
    assert_eq!(e.field.as_deref(), Some(field), "{e:?}");
    assert_eq!(e.ctor, "Error", "{e:?}");
    if let Some(k) = app_key {
        assert!(!e.message.contains(k), "the app key is in the message: {}", e.message);
    }
}

// ---------------------------------------------------------------- batching and flushing

#[wasm_bindgen_test]
async fn requests_carry_at_most_batch_size_events() {
    let app = unique_key("batches");
    let t = tracker(&options(&app, r#"{"batchSize":300}"#));
    let mut ids = Vec::new();
    for i in 0..650 {
        ids.push(track(&t, "bulk", &format!(r#"{{"i":{i}}}"#)));
    }
    let (sent, failed, pending, _) = flush(&t).await;
    assert_eq!((sent, failed, pending), (650.0, 0.0, 0.0));
    assert_eq!(t.pending(), 0);

    let reqs = requests(&app).await;
    let sizes: Vec<f64> = reqs.iter().map(|r| num_prop(r, "events").unwrap_or(-1.0)).collect();
    assert_eq!(sizes, vec![300.0, 300.0, 50.0]);
    assert!(reqs.iter().all(|r| num_prop(r, "status") == Some(200.0)));

    let got = events(&app).await;
    assert_eq!(got.len(), 650);
    let order: Vec<f64> = got.iter().map(|e| num_prop(e, "i").unwrap_or(-1.0)).collect();
    assert_eq!(
        order,
        (0..650).map(f64::from).collect::<Vec<_>>(),
        "events out of order"
    );
    let sent_ids: Vec<String> = got
        .iter()
        .map(|e| str_prop(e, "event_id").unwrap_or_default())
        .collect();
    assert_eq!(sent_ids, ids);
}

#[wasm_bindgen_test]
async fn a_smaller_batch_size_splits_requests() {
    let app = unique_key("batch7");
    let t = tracker(&options(&app, r#"{"batchSize":7}"#));
    for i in 0..16 {
        track(&t, "e", &format!(r#"{{"i":{i}}}"#));
    }
    flush(&t).await;
    let sizes: Vec<f64> = requests(&app)
        .await
        .iter()
        .map(|r| num_prop(r, "events").unwrap_or(-1.0))
        .collect();
    assert_eq!(sizes, vec![7.0, 7.0, 2.0]);
    assert_eq!(events(&app).await.len(), 16);
}

#[wasm_bindgen_test]
async fn the_timer_flushes_without_an_explicit_flush() {
    let app = unique_key("timer");
    let t = tracker(&options(&app, r#"{"flushIntervalMs":200}"#));
    for name in ["a", "b", "c"] {
        track(&t, name, "{}");
    }
    let got = wait_events(&app, 3).await;
    assert_eq!(names(&got), ["a", "b", "c"]);
    assert_eq!(requests(&app).await.len(), 1);
    assert_eq!(wait_drained(&t).await, 0);
}

#[wasm_bindgen_test]
async fn without_a_timer_nothing_is_sent_until_flush() {
    let app = unique_key("notimer");
    let t = tracker(&options(&app, "{}"));
    track(&t, "a", "{}");
    track(&t, "b", "{}");
    sleep(500).await;
    assert_eq!(events(&app).await.len(), 0);
    assert_eq!(t.pending(), 2);
    assert_eq!(flush(&t).await, (2.0, 0.0, 0.0, 1.0));
    assert_eq!(names(&events(&app).await), ["a", "b"]);
}

#[wasm_bindgen_test]
async fn a_full_batch_is_sent_without_flush_or_timer() {
    let app = unique_key("fullbatch");
    let t = tracker(&options(&app, r#"{"batchSize":5}"#));
    for i in 0..4 {
        track(&t, "e", &format!(r#"{{"i":{i}}}"#));
    }
    sleep(300).await;
    assert_eq!(events(&app).await.len(), 0, "4 of 5 is not a full batch");
    track(&t, "e", r#"{"i":4}"#);
    let got = wait_events(&app, 5).await;
    assert_eq!(got.len(), 5);
    let reqs = requests(&app).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(num_prop(&reqs[0], "events"), Some(5.0));
    assert_eq!(wait_drained(&t).await, 0);
}

#[wasm_bindgen_test]
async fn flush_resolves_with_a_true_report() {
    let app = unique_key("report");
    let t = tracker(&options(&app, "{}"));
    assert_eq!(flush(&t).await, (0.0, 0.0, 0.0, 0.0), "nothing queued");
    let before = js_sys::Date::now();
    let ids: Vec<String> = ["a", "b", "c"].iter().map(|n| track(&t, n, r#"{"k":"v"}"#)).collect();
    let after = js_sys::Date::now();
    assert_eq!(t.pending(), 3);
    assert_eq!(flush(&t).await, (3.0, 0.0, 0.0, 1.0));
    assert_eq!(t.pending(), 0);
    // Acknowledged means stored: no waiting needed.
    let got = events(&app).await;
    assert_eq!(names(&got), ["a", "b", "c"]);
    for (e, id) in got.iter().zip(&ids) {
        assert!(is_uuid_v4(id), "{id}");
        assert_eq!(str_prop(e, "event_id").as_deref(), Some(id.as_str()));
        assert_eq!(str_prop(e, "user_id").as_deref(), Some(user_id(&t).as_str()));
        assert_eq!(str_prop(e, "k").as_deref(), Some("v"));
        assert_eq!(str_prop(e, "tracker_type").as_deref(), Some("coola-tracker"));
        let ts = num_prop(e, "event_timestamp_epoch").expect("a numeric timestamp");
        assert!(
            ts >= before && ts <= after,
            "timestamp {ts} not within [{before}, {after}]"
        );
    }
    assert_eq!(flush(&t).await, (0.0, 0.0, 0.0, 0.0), "second flush");
}

#[wasm_bindgen_test]
async fn track_returns_the_callers_own_event_id_as_given() {
    // A short returned id is read from the module's memory by shell.js's
    // `text` (ASCII built there, anything else decoded as UTF-8), a long one
    // by the glue: each kind of character comes back unchanged, and is what
    // was sent.
    let app = unique_key("ownid");
    let t = tracker(&options(&app, "{}"));
    let (edge, long) = ("x".repeat(256), "é-".repeat(20_000));
    let given = [
        "order-4711",
        "é-ü-日本",
        "😀 and \u{2028}",
        "\u{feff}leading BOM",
        "a\"b\\c%41",
        &edge,
        &long,
    ];
    let mut ids = Vec::new();
    for id in given {
        let p: JsValue = Object::new().into();
        set(&p, "event_id", &id.into());
        let got = t.track("own".into(), p).expect("track() with its own event_id");
        ids.push(got.as_string().expect("a string"));
    }
    assert_eq!(ids, given);
    assert_eq!(flush(&t).await, (7.0, 0.0, 0.0, 1.0));
    let sent: Vec<String> = events(&app)
        .await
        .iter()
        .map(|e| str_prop(e, "event_id").unwrap_or_default())
        .collect();
    assert_eq!(sent, given);
}

#[wasm_bindgen_test]
async fn flush_report_counts_every_request_of_a_multi_batch_flush() {
    let app = unique_key("report3");
    let t = tracker(&options(&app, r#"{"batchSize":2}"#));
    for i in 0..5 {
        track(&t, "e", &format!(r#"{{"i":{i}}}"#));
    }
    let (sent, failed, pending, reqs) = flush(&t).await;
    assert_eq!((failed, pending), (0.0, 0.0));
    assert_eq!(requests(&app).await.len(), 3);
    assert_eq!(events(&app).await.len(), 5);
    // Whatever part of the sending the flush took on, the report must be
    // consistent: 2 events a request at most.
    assert!(
        sent <= reqs * 2.0,
        "report says {sent} events sent in {reqs} requests of at most 2"
    );
    assert_eq!((sent, reqs), (5.0, 3.0), "a flush of 5 queued events in batches of 2");
}

// ---------------------------------------------------------------- what events carry

#[wasm_bindgen_test]
async fn session_dua_is_the_user_agent_where_there_is_one() {
    let app = unique_key("dua");
    let t = tracker(&options(&app, "{}"));
    track(&t, "default", "{}");
    track(&t, "given", r#"{"session_dua":"Caller/2.0"}"#);
    flush(&t).await;
    let custom = tracker(&options(&app, r#"{"sessionDua":"Custom/1.0"}"#));
    track(&custom, "custom", "{}");
    flush(&custom).await;
    let none = tracker(&options(&app, r#"{"sessionDua":false}"#));
    track(&none, "none", "{}");
    flush(&none).await;

    let got = events(&app).await;
    assert_eq!(names(&got), ["default", "given", "custom", "none"]);
    match user_agent() {
        Some(ua) => assert_eq!(str_prop(&got[0], "session_dua"), Some(ua)),
        None => assert_eq!(
            prop(&got[0], "session_dua"),
            JsValue::UNDEFINED,
            "no navigator, no session_dua"
        ),
    }
    assert_eq!(str_prop(&got[1], "session_dua").as_deref(), Some("Caller/2.0"));
    assert_eq!(str_prop(&got[2], "session_dua").as_deref(), Some("Custom/1.0"));
    assert_eq!(prop(&got[3], "session_dua"), JsValue::UNDEFINED);
}

#[wasm_bindgen_test]
async fn the_anonymous_user_id_is_kept_across_trackers() {
    let app = unique_key("anon");
    let storage = unique_key("store");
    let o = options(&app, "{}");
    set(&o, "storageKey", &storage.as_str().into());
    let t1 = tracker(&o);
    let t2 = tracker(&o);
    let (id1, id2) = (user_id(&t1), user_id(&t2));
    assert!(is_uuid_v4(&id1), "{id1}");
    assert!(is_uuid_v4(&id2), "{id2}");
    let stored = storage_get(&format!("{storage}:user_id"));
    if let Some(stored) = stored {
        // A page: localStorage keeps one anonymous id for every tracker.
        assert_eq!(id1, stored);
        assert_eq!(id2, id1, "two trackers in one page must share the anonymous id");
        // persist: false neither reads nor writes it.
        let p = options(&app, r#"{"persist":false}"#);
        set(&p, "storageKey", &storage.as_str().into());
        let t3 = tracker(&p);
        assert_ne!(user_id(&t3), id1);
        assert_eq!(
            storage_get(&format!("{storage}:user_id")).as_deref(),
            Some(id1.as_str())
        );
    } else {
        // No localStorage (Node): nothing to keep the id in.
        assert!(!is_page(), "a page has localStorage: the anonymous id must be stored");
    }
    // An explicit userId wins and is not stored.
    let u = options(&app, r#"{"userId":"known-user"}"#);
    set(&u, "storageKey", &unique_key("store").as_str().into());
    let t4 = tracker(&u);
    assert_eq!(user_id(&t4), "known-user");

    track(&t1, "one", "{}");
    track(&t2, "two", "{}");
    track(&t4, "four", "{}");
    flush(&t1).await;
    flush(&t2).await;
    flush(&t4).await;
    let got = events(&app).await;
    assert_eq!(names(&got), ["one", "two", "four"]);
    assert_eq!(str_prop(&got[0], "user_id"), Some(id1));
    assert_eq!(str_prop(&got[1], "user_id"), Some(id2));
    assert_eq!(str_prop(&got[2], "user_id").as_deref(), Some("known-user"));
}

/// Strings handed back to JavaScript come out as they went in, short or
/// long (shell.js's `text`: `fromCharCode` up to 256 bytes, a `TextDecoder`
/// beyond), ASCII or not, a leading U+FEFF kept.
#[wasm_bindgen_test]
fn user_ids_short_and_long_come_back_unchanged() {
    let t = tracker(&options(&unique_key("textback"), "{}"));
    let long = format!("\u{feff}é-{}", "x".repeat(300));
    for id in ["u-1", "\u{feff}é-1", "\u{feff}", long.as_str(), &long[3..]] {
        t.set_user_id(id.into()).unwrap();
        assert_eq!(user_id(&t), id);
    }
}

#[wasm_bindgen_test]
async fn set_user_id_applies_to_later_events() {
    let app = unique_key("setuser");
    let t = tracker(&options(&app, "{}"));
    track(&t, "before", "{}");
    t.set_user_id("u-42".into()).unwrap();
    assert_eq!(user_id(&t), "u-42");
    track(&t, "after", "{}");
    track(&t, "own", r#"{"user_id":"someone-else"}"#);
    let e = describe(&t.set_user_id("".into()).unwrap_err());
    assert_eq!(
        (e.code.as_deref(), e.field.as_deref()),
        (Some("invalid_value"), Some("userId"))
    );
    flush(&t).await;
    let got = events(&app).await;
    let users: Vec<Option<String>> = got.iter().map(|e| str_prop(e, "user_id")).collect();
    assert_ne!(users[0].as_deref(), Some("u-42"));
    assert_eq!(users[1].as_deref(), Some("u-42"));
    assert_eq!(users[2].as_deref(), Some("someone-else"));
}

#[wasm_bindgen_test]
async fn track_validates_before_queueing() {
    let app = unique_key("validate");
    let t = tracker(&options(&app, "{}"));
    let old = js_sys::Date::now() - 40.0 * 86_400_000.0;
    let cases: Vec<(&str, JsValue, &str, &str, Option<&str>)> = vec![
        ("", props("{}"), "TypeError", "missing_field", Some("event_name")),
        (
            "e",
            props(r#"{"cart":{"n":1}}"#),
            "TypeError",
            "nested_property",
            Some("cart"),
        ),
        ("e", props(r#"{"uid":"x"}"#), "Error", "reserved_property", Some("uid")),
        (
            "e",
            props(r#"{"event_timestamp_epoch":1420452000}"#),
            TIMESTAMP_ERROR,
            "invalid_timestamp",
            Some("event_timestamp_epoch"),
        ),
        (
            "e",
            props(&format!(r#"{{"event_timestamp_epoch":{old}}}"#)),
            "RangeError",
            "timestamp_out_of_window",
            Some("event_timestamp_epoch"),
        ),
        ("e", props(r#"[1,2]"#), "TypeError", "invalid_value", None),
        (
            "e",
            props(r#"{"event_timestamp_epoch":""}"#),
            "TypeError",
            "missing_field",
            Some("event_timestamp_epoch"),
        ),
        (
            "e",
            props(r#"{"user_id":""}"#),
            "TypeError",
            "missing_field",
            Some("user_id"),
        ),
    ];
    for (name, p, ctor, code, field) in cases {
        let e = describe(&t.track(name.into(), p.clone()).expect_err(code));
        assert_eq!(
            (e.ctor.as_str(), e.code.as_deref(), e.field.as_deref()),
            (ctor, Some(code), field),
            "track({name:?}, {:?}): {e:?}",
            JSON::stringify(&p).ok()
        );
        assert!(!e.message.contains(&app), "the app key is in: {}", e.message);
    }
    assert_eq!(t.pending(), 0, "nothing is queued when track throws");
    // Booleans become strings, null/undefined are left out, given properties win.
    let p = props(r#"{"ok":true,"gone":null,"n":1.5}"#);
    set(&p, "undef", &JsValue::UNDEFINED);
    let when = (js_sys::Date::now() - 1000.0).floor();
    set(&p, "event_timestamp_epoch", &JsValue::from_f64(when));
    t.track("good".into(), p).unwrap();
    flush(&t).await;
    let got = events(&app).await;
    assert_eq!(got.len(), 1);
    assert_eq!(str_prop(&got[0], "ok").as_deref(), Some("true"));
    assert_eq!(num_prop(&got[0], "n"), Some(1.5));
    assert_eq!(prop(&got[0], "gone"), JsValue::UNDEFINED);
    assert_eq!(prop(&got[0], "undef"), JsValue::UNDEFINED);
    assert_eq!(
        num_prop(&got[0], "event_timestamp_epoch"),
        Some(when),
        "a given timestamp wins"
    );
}

// ---------------------------------------------------------------- stored queue (pages)

/// A tracker for `app` whose sending is stopped by a 403, holding `names`
/// in its stored queue under `storage`; then its page is "closed".
async fn stranded_tracker(app: &str, storage: &str, names: &[&str]) -> CoolaTracker {
    let o = options(app, "{}");
    set(&o, "storageKey", &storage.into());
    let t = tracker(&o);
    for n in names {
        track(&t, n, "{}");
    }
    fail_next(r#"[{"status":403}]"#).await;
    let pending = names.len() as f64;
    // Kept by the 403: pending, not failed.
    assert_eq!(flush(&t).await, (0.0, 0.0, pending, 1.0));
    sleep(50).await;
    let stored = storage_keys_with(&format!("{storage}:q:"));
    assert_eq!(stored.len(), names.len(), "stored queue: {stored:?}");
    fire_pagehide();
    t
}

#[wasm_bindgen_test]
async fn a_closed_tabs_stored_events_are_sent_by_the_next_tracker() {
    if !is_page() {
        return; // no localStorage outside a page
    }
    let app = unique_key("claim");
    let storage = unique_key("claim-store");
    let _gone = stranded_tracker(&app, &storage, &["s1", "s2"]).await;
    let o = options(&app, "{}");
    set(&o, "storageKey", &storage.as_str().into());
    let t = tracker(&o);
    let got = wait_events(&app, 2).await;
    assert_eq!(names(&got), ["s1", "s2"]);
    assert_eq!(wait_drained(&t).await, 0);
    sleep(200).await;
    assert_eq!(events(&app).await.len(), 2, "exactly once");
    assert!(storage_keys_with(&format!("{storage}:q:")).is_empty());
}

#[wasm_bindgen_test]
async fn stored_events_are_claimed_only_by_a_tracker_of_the_same_app() {
    if !is_page() {
        return;
    }
    let app_a = unique_key("claim-a");
    let app_b = unique_key("claim-b");
    let storage = unique_key("claim-shared");
    let _gone = stranded_tracker(&app_a, &storage, &["for_a1", "for_a2"]).await;
    // Another CoolaData project on the same origin, default-like shared storageKey.
    let o = options(&app_b, "{}");
    set(&o, "storageKey", &storage.as_str().into());
    let b = tracker(&o);
    track(&b, "for_b", "{}");
    flush(&b).await;
    sleep(300).await;
    assert_eq!(
        names(&events(&app_b).await),
        ["for_b"],
        "app A's events were sent to app B"
    );
}

// ---------------------------------------------------------------- shutdown

#[wasm_bindgen_test]
async fn shutdown_flushes_and_closes() {
    let app = unique_key("shutdown");
    let t = tracker(&options(&app, r#"{"flushIntervalMs":100000}"#));
    track(&t, "a", "{}");
    track(&t, "b", "{}");
    assert!(!t.closed());
    assert_eq!(shutdown(&t).await, (2.0, 0.0, 0.0, 1.0));
    assert!(t.closed());
    assert_eq!(names(&events(&app).await), ["a", "b"]);
    let e = describe(&t.track("late".into(), props("{}")).unwrap_err());
    assert_eq!(e.code.as_deref(), Some("tracker_closed"));
    assert_eq!(e.ctor, "Error");
    assert_eq!(t.pending(), 0);
}

#[wasm_bindgen_test]
async fn shutdown_stops_the_timer_and_retries() {
    let app = unique_key("shutstop");
    // The shutdown's flush fails. In a page (localStorage keeps the events
    // for the next one) shutdown() settles with them queued; with no storage
    // (Node) it retries by the policy and settles once they are sent. Either
    // way a timer or a retry still running afterwards would send them again.
    fail_next(r#"[{"status":503,"retryAfter":0}]"#).await;
    let t = tracker(&options(&app, r#"{"flushIntervalMs":100,"retryBaseMs":50}"#));
    track(&t, "a", "{}");
    track(&t, "b", "{}");
    let page = is_page();
    // Failed once, then kept (page) or delivered (Node): never counted as failed.
    let want = if page {
        (0.0, 0.0, 2.0, 1.0)
    } else {
        (2.0, 0.0, 0.0, 2.0)
    };
    assert_eq!(shutdown(&t).await, want);
    let e = describe(&t.track("late".into(), props("{}")).unwrap_err());
    assert_eq!(e.code.as_deref(), Some("tracker_closed"));
    sleep(1500).await;
    let reqs = requests(&app).await;
    assert_eq!(reqs.len(), if page { 1 } else { 2 }, "no request may follow shutdown()");
    assert_eq!(num_prop(&reqs[0], "status"), Some(503.0));
    assert_eq!(events(&app).await.len(), if page { 0 } else { 2 });
    assert_eq!(t.pending(), if page { 2 } else { 0 });
}

// ---------------------------------------------------------------- failures

#[wasm_bindgen_test]
async fn a_503_is_retried_and_the_event_arrives_once() {
    let app = unique_key("retry503");
    let errors = ErrorLog::new(false);
    let o = options(&app, "{}");
    errors.install(&o);
    let t = tracker(&o);
    let id = track(&t, "once", "{}");
    fail_next(r#"[{"status":503}]"#).await;
    // Waiting for its retry: pending, not failed.
    assert_eq!(flush(&t).await, (0.0, 0.0, 1.0, 1.0));
    let got = wait_events(&app, 1).await;
    assert_eq!(got.len(), 1, "the event must arrive after the retry");
    assert_eq!(str_prop(&got[0], "event_id"), Some(id));
    assert_eq!(wait_drained(&t).await, 0);
    sleep(300).await;
    assert_eq!(events(&app).await.len(), 1, "exactly once");
    let statuses: Vec<Option<f64>> = requests(&app).await.iter().map(|r| num_prop(r, "status")).collect();
    assert_eq!(statuses, vec![Some(503.0), Some(200.0)]);
    assert!(
        errors.all().is_empty(),
        "a retried batch is no error: {:?}",
        errors.all()
    );
}

#[wasm_bindgen_test]
async fn a_dropped_connection_is_retried() {
    let app = unique_key("drop");
    let t = tracker(&options(&app, "{}"));
    track(&t, "a", "{}");
    track(&t, "b", "{}");
    fail_next(r#"[{"drop":true}]"#).await;
    let r = flush(&t).await;
    if is_page() && r == (2.0, 0.0, 0.0, 1.0) {
        // Chrome itself resends a request whose reused keep-alive connection
        // closed before any answer, so the tracker may never see the drop.
    } else {
        assert_eq!(r, (0.0, 0.0, 2.0, 1.0));
    }
    let got = wait_events(&app, 2).await;
    assert_eq!(names(&got), ["a", "b"]);
    assert_eq!(wait_drained(&t).await, 0);
    let statuses: Vec<Option<f64>> = requests(&app).await.iter().map(|r| num_prop(r, "status")).collect();
    assert_eq!(statuses, vec![Some(0.0), Some(200.0)]);
}

#[wasm_bindgen_test]
async fn a_400_is_reported_as_request_failed() {
    let app = unique_key("rejected");
    let errors = ErrorLog::new(false);
    let o = options(&app, "{}");
    errors.install(&o);
    let t = tracker(&o);
    track(&t, "a", "{}");
    track(&t, "b", "{}");
    fail_next(r#"[{"status":400}]"#).await;
    assert_eq!(flush(&t).await, (0.0, 2.0, 0.0, 1.0));
    let seen = errors.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let e = &seen[0];
    assert_eq!(e.code.as_deref(), Some("request_failed"));
    assert_eq!(e.status, Some(400.0));
    assert_eq!(e.count, Some(2.0));
    assert_eq!(e.ctor, "Error");
    assert!(!e.message.contains(&app), "the app key is in: {}", e.message);
    // Given up on, not retried; the tracker carries on.
    sleep(300).await;
    assert_eq!(requests(&app).await.len(), 1);
    track(&t, "c", "{}");
    assert_eq!(flush(&t).await, (1.0, 0.0, 0.0, 1.0));
    assert_eq!(names(&events(&app).await), ["c"]);
    assert_eq!(errors.all().len(), 1);
}

#[wasm_bindgen_test]
async fn a_rejected_batch_does_not_hold_back_the_next_one() {
    let app = unique_key("rejectnext");
    let errors = ErrorLog::new(false);
    let o = options(&app, r#"{"batchSize":2}"#);
    errors.install(&o);
    let t = tracker(&o);
    // A 503 with a long Retry-After starts a backoff, during which events
    // pile up beyond one batch without anything being sent.
    track(&t, "a", "{}");
    fail_next(r#"[{"status":503,"retryAfter":60},{"status":400}]"#).await;
    assert_eq!(flush(&t).await, (0.0, 0.0, 1.0, 1.0));
    for n in ["b", "c", "d"] {
        track(&t, n, "{}");
    }
    sleep(200).await;
    assert_eq!(requests(&app).await.len(), 1, "nothing is sent during the backoff");
    // The explicit flush sends now: "a" and "b" are refused (400, reported),
    // and "c" and "d" must still go out in the same flush, since a refused
    // batch calls for no backoff.
    let r = flush(&t).await;
    let seen = errors.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].status, seen[0].count), (Some(400.0), Some(2.0)));
    assert_eq!(names(&events(&app).await), ["c", "d"], "flush report {r:?}");
    assert_eq!(r, (2.0, 2.0, 0.0, 2.0));
}

#[wasm_bindgen_test]
async fn a_200_saying_status_false_is_reported() {
    let app = unique_key("statusfalse");
    let errors = ErrorLog::new(false);
    let o = options(&app, "{}");
    errors.install(&o);
    let t = tracker(&o);
    track(&t, "a", "{}");
    fail_next(r#"[{"status":200,"body":{"status":false}}]"#).await;
    assert_eq!(flush(&t).await, (0.0, 1.0, 0.0, 1.0));
    let seen = errors.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].code.as_deref(), Some("request_failed"));
    assert_eq!(seen[0].status, Some(200.0));
    assert_eq!(seen[0].count, Some(1.0));
}

#[wasm_bindgen_test]
async fn a_413_splits_the_batch_within_the_same_flush() {
    let app = unique_key("split");
    let errors = ErrorLog::new(false);
    let o = options(&app, "{}");
    errors.install(&o);
    let t = tracker(&o);
    for n in ["a", "b", "c", "d"] {
        track(&t, n, "{}");
    }
    fail_next(r#"[{"status":413}]"#).await;
    let r = flush(&t).await;
    // The halves go out at once: a 413 is no reason to wait, and with
    // flushIntervalMs 0 (edge workers) nothing else would ever send them.
    let got = wait_events(&app, 4).await;
    assert_eq!(names(&got), ["a", "b", "c", "d"], "flush report {r:?}");
    let sizes: Vec<(Option<f64>, Option<f64>)> = requests(&app)
        .await
        .iter()
        .map(|q| (num_prop(q, "status"), num_prop(q, "events")))
        .collect();
    assert_eq!(
        sizes,
        vec![(Some(413.0), None), (Some(200.0), Some(2.0)), (Some(200.0), Some(2.0))]
    );
    // Delivered after the split: sent only, each event once.
    assert_eq!(r, (4.0, 0.0, 0.0, 3.0));
    assert!(errors.all().is_empty(), "{:?}", errors.all());
}

#[wasm_bindgen_test]
async fn a_403_stops_sending_and_keeps_the_events() {
    let app = unique_key("forbidden");
    let errors = ErrorLog::new(false);
    let o = options(&app, "{}");
    errors.install(&o);
    let t = tracker(&o);
    for n in ["a", "b", "c"] {
        track(&t, n, "{}");
    }
    fail_next(r#"[{"status":403}]"#).await;
    assert_eq!(flush(&t).await, (0.0, 0.0, 3.0, 1.0), "kept: pending, not failed");
    assert_eq!(t.pending(), 3, "events are kept");
    track(&t, "d", "{}");
    assert_eq!(flush(&t).await, (0.0, 0.0, 4.0, 0.0), "no request after a 403");
    sleep(300).await;
    assert_eq!(requests(&app).await.len(), 1);
    assert_eq!(events(&app).await.len(), 0);
    assert_eq!(t.pending(), 4);
    let seen = errors.all();
    assert_eq!(seen.len(), 1, "one onError for the 403: {seen:?}");
    assert_eq!(seen[0].code.as_deref(), Some("request_failed"));
    assert_eq!(seen[0].status, Some(403.0));
    assert_eq!(seen[0].count, Some(3.0));
    assert!(
        !seen[0].message.contains(&app),
        "the app key is in: {}",
        seen[0].message
    );
}

#[wasm_bindgen_test]
async fn queue_overflow_drops_the_oldest_and_reports_queue_full() {
    let app = unique_key("overflow");
    let errors = ErrorLog::new(false);
    let o = options(&app, r#"{"maxQueueSize":3}"#);
    errors.install(&o);
    let t = tracker(&o);
    for n in ["a", "b", "c", "d", "e"] {
        track(&t, n, "{}");
    }
    assert_eq!(t.pending(), 3);
    // The burst is reported once, at the end of its task, with the count.
    assert!(errors.all().is_empty(), "reported during the burst: {:?}", errors.all());
    sleep(0).await;
    let seen = errors.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].code.as_deref(), Some("queue_full"), "{seen:?}");
    assert_eq!(seen[0].count, Some(2.0));
    // A later burst is reported on its own.
    track(&t, "f", "{}");
    sleep(0).await;
    assert_eq!(errors.all().len(), 2);
    assert_eq!(errors.all()[1].count, Some(1.0));
    assert_eq!(flush(&t).await, (3.0, 0.0, 0.0, 1.0));
    assert_eq!(names(&events(&app).await), ["d", "e", "f"]);
}

#[wasm_bindgen_test]
async fn a_throwing_on_error_does_not_break_the_tracker() {
    let app = unique_key("throwing");
    let errors = ErrorLog::new(true);
    let o = options(&app, r#"{"maxQueueSize":1}"#);
    errors.install(&o);
    let t = tracker(&o);
    track(&t, "a", "{}");
    // The overflow calls onError at the end of the task, which throws.
    let id = track(&t, "b", "{}");
    sleep(0).await;
    assert_eq!(errors.all().len(), 1);
    // onError throwing from inside a flush: the flush still resolves.
    fail_next(r#"[{"status":400}]"#).await;
    assert_eq!(flush(&t).await, (0.0, 1.0, 0.0, 1.0));
    assert_eq!(errors.all().len(), 2);
    assert_eq!(errors.all()[1].code.as_deref(), Some("request_failed"));
    // And the tracker still works.
    let id2 = track(&t, "c", "{}");
    assert_ne!(id, id2);
    assert_eq!(flush(&t).await, (1.0, 0.0, 0.0, 1.0));
    assert_eq!(names(&events(&app).await), ["c"]);
}

#[wasm_bindgen_test]
async fn track_from_inside_on_error_works() {
    let app = unique_key("reentrant");
    let slot: Rc<RefCell<Option<Rc<CoolaTracker>>>> = Rc::new(RefCell::new(None));
    let tracked: Rc<RefCell<Vec<Result<String, JsValue>>>> = Rc::new(RefCell::new(Vec::new()));
    let done = Rc::new(Cell::new(false));
    let errors = {
        let (slot, tracked, done) = (slot.clone(), tracked.clone(), done.clone());
        ErrorLog::with(false, move |e| {
            if done.replace(true) {
                return;
            }
            let code = str_prop(e, "code").unwrap_or_default();
            if let Some(t) = slot.borrow().as_ref() {
                let p = props(&format!(r#"{{"reason":"{code}"}}"#));
                tracked.borrow_mut().push(
                    t.track("from_on_error".into(), p)
                        .map(|id| id.as_string().unwrap_or_default()),
                );
            }
        })
    };
    let o = options(&app, "{}");
    errors.install(&o);
    let t = Rc::new(tracker(&o));
    *slot.borrow_mut() = Some(t.clone());

    // onError called from inside a flush (a 400), tracks a new event.
    track(&t, "rejected", "{}");
    fail_next(r#"[{"status":400}]"#).await;
    assert_eq!(flush(&t).await, (0.0, 1.0, 1.0, 1.0));
    let inner_id = match tracked.borrow().first() {
        Some(Ok(id)) => id.clone(),
        other => panic!("track inside onError: {other:?}"),
    };
    assert_eq!(t.pending(), 1);
    assert_eq!(flush(&t).await, (1.0, 0.0, 0.0, 1.0));
    let got = events(&app).await;
    assert_eq!(names(&got), ["from_on_error"]);
    assert_eq!(str_prop(&got[0], "event_id"), Some(inner_id));
    assert_eq!(str_prop(&got[0], "reason").as_deref(), Some("request_failed"));
    slot.borrow_mut().take();
}

#[wasm_bindgen_test]
async fn track_from_inside_on_error_during_track_works() {
    let app = unique_key("reentrant2");
    let slot: Rc<RefCell<Option<Rc<CoolaTracker>>>> = Rc::new(RefCell::new(None));
    let tracked: Rc<RefCell<Vec<Result<String, JsValue>>>> = Rc::new(RefCell::new(Vec::new()));
    let done = Rc::new(Cell::new(false));
    let errors = {
        let (slot, tracked, done) = (slot.clone(), tracked.clone(), done.clone());
        ErrorLog::with(false, move |_| {
            if done.replace(true) {
                return;
            }
            if let Some(t) = slot.borrow().as_ref() {
                tracked.borrow_mut().push(
                    t.track("inner".into(), props("{}"))
                        .map(|id| id.as_string().unwrap_or_default()),
                );
            }
        })
    };
    let o = options(&app, r#"{"maxQueueSize":2}"#);
    errors.install(&o);
    let t = Rc::new(tracker(&o));
    *slot.borrow_mut() = Some(t.clone());
    track(&t, "a", "{}");
    track(&t, "b", "{}");
    // Overflows: onError runs at the end of this task and tracks "inner",
    // which overflows again (reported at the end of that callback's task).
    track(&t, "c", "{}");
    sleep(0).await;
    assert!(
        matches!(tracked.borrow().first(), Some(Ok(_))),
        "{:?}",
        tracked.borrow()
    );
    assert_eq!(t.pending(), 2);
    let codes: Vec<Option<String>> = errors.all().into_iter().map(|e| e.code).collect();
    assert!(codes.iter().all(|c| c.as_deref() == Some("queue_full")), "{codes:?}");
    assert_eq!(flush(&t).await, (2.0, 0.0, 0.0, 1.0));
    assert_eq!(names(&events(&app).await), ["c", "inner"]);
    slot.borrow_mut().take();
}

// ---------------------------------------------------------------- options

#[wasm_bindgen_test]
fn bad_options_name_the_option() {
    let key = unique_key("SECRETKEY");
    for (extra, field) in [
        (r#"{"batchSize":0}"#, "batchSize"),
        (r#"{"batchSize":301}"#, "batchSize"),
        (r#"{"batchSize":1.5}"#, "batchSize"),
        (r#"{"batchSize":"10"}"#, "batchSize"),
        (r#"{"flushIntervalMs":-1}"#, "flushIntervalMs"),
        (r#"{"maxQueueSize":0}"#, "maxQueueSize"),
        (r#"{"bodyFormat":"json"}"#, "bodyFormat"),
        (r#"{"serverTimestamp":"yes"}"#, "serverTimestamp"),
        (r#"{"userId":""}"#, "userId"),
        (r#"{"sessionDua":true}"#, "sessionDua"),
        (r#"{"onError":"log"}"#, "onError"),
        (r#"{"endpoint":"http://example.com/v3/{appKey}/track"}"#, "endpoint"),
        (r#"{"endpoint":"http://10.0.0.1/v3/{appKey}/track"}"#, "endpoint"),
        (
            r#"{"endpoint":"http://127.0.0.1.evil.com/v3/{appKey}/track"}"#,
            "endpoint",
        ),
        (
            r#"{"endpoint":"ftp://api.cooladata.com/v3/{appKey}/track"}"#,
            "endpoint",
        ),
    ] {
        expect_invalid_option(&options(&key, extra), field, Some(&key));
    }
    // The app key in a refused endpoint is not repeated in the message.
    let o = options(&key, "{}");
    set(&o, "endpoint", &format!("http://example.com/v3/{key}/track").into());
    expect_invalid_option(&o, "endpoint", Some(&key));

    // appKey missing, empty, or not a string.
    let o = options(&key, "{}");
    Reflect::delete_property(o.unchecked_ref::<Object>(), &"appKey".into()).unwrap();
    expect_invalid_option(&o, "appKey", None);
    expect_invalid_option(&options("", "{}"), "appKey", None);
    let o = options(&key, "{}");
    set(&o, "appKey", &JsValue::from_f64(42.0));
    expect_invalid_option(&o, "appKey", None);

    // No options object at all.
    for v in [JsValue::UNDEFINED, JsValue::NULL, JsValue::from_str("key")] {
        let e = describe(&CoolaTracker::new(v).err().expect("non-object options"));
        assert_eq!(e.code.as_deref(), Some("invalid_option"));
        assert_eq!(e.field.as_deref(), Some("options"));
    }
}

#[wasm_bindgen_test]
fn good_endpoints_are_accepted() {
    let key = unique_key("ok");
    for ep in [
        "https://api.cooladata.com/v3/{appKey}/track",
        "https://example.com/collect",
        "http://localhost:1/v3/{appKey}/track",
        "http://127.0.0.1:1/v3/{appKey}/track",
        "http://127.9.9.9:1/v3/{appKey}/track",
        "http://[::1]:1/v3/{appKey}/track",
    ] {
        let o = options(&key, "{}");
        set(&o, "endpoint", &ep.into());
        assert!(CoolaTracker::new(o).is_ok(), "{ep} should be accepted");
    }
    // The default endpoint needs no option.
    let o = options(&key, "{}");
    Reflect::delete_property(o.unchecked_ref::<Object>(), &"endpoint".into()).unwrap();
    assert!(CoolaTracker::new(o).is_ok());
    for n in [1.0, 300.0] {
        let o = options(&key, "{}");
        set(&o, "batchSize", &n.into());
        assert!(CoolaTracker::new(o).is_ok(), "batchSize {n}");
    }
}

#[wasm_bindgen_test]
async fn raw_body_format_reaches_the_collector() {
    let app = unique_key("raw");
    let t = tracker(&options(&app, r#"{"bodyFormat":"raw"}"#));
    track(&t, "raw", r#"{"text":"a+b c&d=é"}"#);
    assert_eq!(flush(&t).await, (1.0, 0.0, 0.0, 1.0));
    let got = events(&app).await;
    assert_eq!(str_prop(&got[0], "text").as_deref(), Some("a+b c&d=é"));
}
