//! The tracker's host tests: the queue, batching, retries, storage.

use super::*;
use crate::core::config::OptValue;
use crate::core::entries::tests::write;
use crate::core::form::tests::decode;
use crate::core::timestamp::MAX_PAST_MS;

pub(super) const T0: i64 = 1_800_000_000_000;

pub(super) fn tracker(opts: &[(&str, OptValue)]) -> Tracker {
    let mut cfg = Config::default();
    cfg.set("appKey", &OptValue::Str("k".into())).unwrap();
    for (k, v) in opts {
        cfg.set(k, v).unwrap();
    }
    Tracker::new(cfg.finish().unwrap(), [7, 7, 7, 7], Some("anon".into()), vec![])
}

fn num(n: f64) -> OptValue {
    OptValue::Num(n)
}

pub(super) fn track(t: &mut Tracker, now: i64, i: usize) -> String {
    let enc = write('s', "event_name", "e") + &write('n', "i", &i.to_string());
    t.track_encoded(now, &enc).unwrap()
}

pub(super) fn events(body: &str) -> Vec<serde_json::Value> {
    let json = decode(body.strip_prefix("data=").unwrap(), true);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["events"].as_array().unwrap().clone()
}

#[test]
fn fills_and_queues() {
    let mut t = tracker(&[("sessionIp", OptValue::Str("0".into()))]);
    t.env_defaults
        .push(("event_timezone_offset".into(), "5.5".into(), true));
    let enc = write('p', "page_url", "https://x/") + &write('s', "event_name", "buy") + &write('b', "vip", "true");
    let id = t.track_encoded(T0, &enc).unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    assert_eq!([8, 13, 18, 23].map(|i| &id[i..i + 1]), ["-"; 4]);
    assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    let req = t.next_request(T0, false, None).unwrap();
    let e = &events(&req.body(BodyFormat::Form))[0];
    assert_eq!(e["event_timezone_offset"], 5.5);
    assert_eq!(e["event_name"], "buy");
    assert_eq!(e["vip"], "true");
    assert_eq!(e["event_id"], id.as_str());
    assert_eq!(e["user_id"], "anon");
    assert_eq!(e["event_timestamp_epoch"], T0);
    assert_eq!(e["page_url"], "https://x/");
    assert_eq!(e["session_ip"], "0");
}

#[test]
fn the_time_zone_offset_is_a_number_only_when_it_is_a_short_decimal() {
    for (tz, want) in [
        ("-5.5", serde_json::json!(-5.5)),
        ("14", serde_json::json!(14)),
        ("3e8888888888", serde_json::json!("3e8888888888")),
        ("1e2", serde_json::json!("1e2")),
        ("1E2", serde_json::json!("1E2")),
        ("123456789", serde_json::json!("123456789")),
        ("east", serde_json::json!("east")),
    ] {
        let mut cfg = Config::default();
        cfg.set("appKey", &OptValue::Str("k".into())).unwrap();
        let env = vec![("event_timezone_offset".to_string(), tz.to_string())];
        let mut t = Tracker::new(cfg.finish().unwrap(), [7, 7, 7, 7], Some("anon".into()), env);
        track(&mut t, T0, 0);
        let e = &events(&t.next_request(T0, false, None).unwrap().body(BodyFormat::Form))[0];
        assert_eq!(e["event_timezone_offset"], want, "{tz}");
    }
}

#[test]
fn a_callers_event_id_is_sent_and_returned() {
    let mut t = tracker(&[]);
    let enc = write('s', "event_name", "e") + &write('s', "event_id", "mine-1");
    assert_eq!(t.track_encoded(T0, &enc).unwrap(), "mine-1");
    let bad = write('s', "event_name", "e") + &write('n', "event_id", "0.1");
    assert_eq!(t.track_encoded(T0, &bad).unwrap_err().code, ErrorCode::InvalidValue);
    let e = &events(&t.next_request(T0, false, None).unwrap().body(BodyFormat::Form))[0];
    assert_eq!(e["event_id"], "mine-1");
    // With sessions and shared properties, whose defaults come before
    // event_id's, the caller's event_id is still the one returned.
    let mut s = tracker(&[("sessionTimeoutMs", num(1_800_000.0))]);
    s.set_properties(&write('s', "plan", "pro")).unwrap();
    let enc = write('s', "event_name", "e") + &write('s', "event_id", "mine-2");
    assert_eq!(s.track_encoded(T0, &enc).unwrap(), "mine-2");
    let enc = write('s', "event_name", "e") + &write('s', "session_id", "theirs");
    let generated = s.track_encoded(T0, &enc).unwrap();
    assert_eq!(
        generated.len(),
        36,
        "no caller event_id: the generated one ({generated})"
    );
    let r = s.next_request(T0, false, None).unwrap();
    let sent = events(&r.body(BodyFormat::Form));
    assert_eq!(
        (sent[0]["event_id"].as_str(), sent[1]["event_id"].as_str()),
        (Some("mine-2"), Some(generated.as_str()))
    );
    assert_eq!(sent[1]["session_id"], "theirs");
}

#[test]
fn caller_wins_and_bad_input_queues_nothing() {
    let mut t = tracker(&[]);
    let enc = write('s', "event_name", "e")
        + &write('s', "user_id", "me")
        + &write('n', "event_timestamp_epoch", "1799999999000");
    t.track_encoded(T0, &enc).unwrap();
    let bad = write('s', "event_name", "e") + &write('o', "cart", "");
    assert_eq!(t.track_encoded(T0, &bad).unwrap_err().code, ErrorCode::NestedProperty);
    let old = write('s', "event_name", "e") + &write('n', "event_timestamp_epoch", "1700000000000");
    assert_eq!(
        t.track_encoded(T0, &old).unwrap_err().code,
        ErrorCode::TimestampOutOfWindow
    );
    assert_eq!(t.pending(), 1);
    let e = &events(&t.next_request(T0, false, None).unwrap().body(BodyFormat::Form))[0];
    assert_eq!(e["user_id"], "me");
    assert_eq!(e["event_timestamp_epoch"], 1_799_999_999_000i64);
}

#[test]
fn batches_of_at_most_batch_size_one_in_flight() {
    let mut t = tracker(&[("batchSize", num(300.0))]);
    for i in 0..650 {
        track(&mut t, T0, i);
    }
    assert!(t.batch_ready(T0));
    let r1 = t.next_request(T0, false, None).unwrap();
    assert_eq!(r1.events, 300);
    assert!(t.next_request(T0, false, None).is_none(), "one request in flight");
    assert_eq!(
        t.on_response(r1.id, T0, 200, None, false),
        Outcome { sent: 300, failed: 0 }
    );
    let r2 = t.next_request(T0, false, None).unwrap();
    assert_eq!(events(&r2.body(BodyFormat::Form))[0]["i"], 300);
    t.on_response(r2.id, T0, 204, None, false);
    let r3 = t.next_request(T0, false, None).unwrap();
    assert_eq!(r3.events, 50);
    t.on_response(r3.id, T0, 200, None, false);
    assert_eq!(t.pending(), 0);
    assert_eq!(t.stats().delivered, 650);
}

#[test]
fn retries_with_backoff_and_retry_after() {
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    let r = t.next_request(T0, false, None).unwrap();
    assert_eq!(
        t.on_response(r.id, T0, 503, None, false),
        Outcome { sent: 0, failed: 1 }
    );
    assert_eq!(t.pending(), 1);
    let at = t.retry_at(T0).unwrap_or(T0);
    assert!(at - T0 < 1000);
    assert!(t.next_request(at - 1, false, None).is_none() || at == T0);
    let r = t.next_request(at, false, None).unwrap();
    t.on_response(r.id, at, 429, Some("7"), false);
    assert_eq!(t.retry_at(at), Some(at + 7000));
    assert!(t.next_request(at + 6999, false, None).is_none());
    // An explicit flush ignores the backoff.
    let r = t.next_request(at + 1, true, None).unwrap();
    t.on_response(r.id, at + 1, 200, None, false);
    assert_eq!(t.pending(), 0);
    assert_eq!(t.stats().retries, 2);
    assert!(t.take_notices().is_empty());
}

#[test]
fn gives_up_after_max_tries_and_reports() {
    let mut t = tracker(&[("maxRetries", num(2.0))]);
    track(&mut t, T0, 0);
    for _ in 0..3 {
        let r = t.next_request(T0, true, None).unwrap();
        t.on_response(r.id, T0, 0, None, false);
    }
    assert_eq!(t.pending(), 0);
    let n = t.take_notices();
    assert_eq!(n.len(), 1);
    assert_eq!(
        (n[0].code, n[0].status, n[0].count),
        (ErrorCode::RequestFailed, Some(0), Some(1))
    );
}

#[test]
fn rejects_4xx_and_status_false_without_retry() {
    for (status, status_false) in [(400, false), (422, false), (501, false), (200, true)] {
        let mut t = tracker(&[]);
        track(&mut t, T0, 0);
        let r = t.next_request(T0, false, None).unwrap();
        t.on_response(r.id, T0, status, None, status_false);
        assert_eq!(t.pending(), 0, "{status}");
        let n = t.take_notices();
        assert_eq!(n[0].code, ErrorCode::RequestFailed);
        assert_eq!(n[0].status, Some(status));
        assert!(!n[0].message.contains('k') || !n[0].message.contains("appKey"));
    }
}

#[test]
fn splits_on_413() {
    let mut t = tracker(&[]);
    for i in 0..10 {
        track(&mut t, T0, i);
    }
    let r = t.next_request(T0, false, None).unwrap();
    assert_eq!(r.events, 10);
    t.on_response(r.id, T0, 413, None, false);
    let r = t.next_request(T0, false, None).unwrap();
    assert_eq!(r.events, 5);
    t.on_response(r.id, T0, 200, None, false);
    let r = t.next_request(T0, false, None).unwrap();
    assert_eq!(events(&r.body(BodyFormat::Form))[0]["i"], 5);
    t.on_response(r.id, T0, 200, None, false);
    assert_eq!(t.pending(), 0);
    // A single event that is still too large is given up and reported.
    track(&mut t, T0, 99);
    let r = t.next_request(T0, false, None).unwrap();
    t.on_response(r.id, T0, 413, None, false);
    assert_eq!(t.pending(), 0);
    assert_eq!(t.take_notices()[0].status, Some(413));
}

#[test]
fn stops_on_403_keeps_events_reports_once() {
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    track(&mut t, T0, 1);
    let r = t.next_request(T0, false, None).unwrap();
    t.on_response(r.id, T0, 403, None, false);
    assert_eq!(t.pending(), 2);
    assert!(t.next_request(T0 + 1_000_000, true, None).is_none());
    assert!(t.unload_requests(T0, 60_000).is_empty());
    track(&mut t, T0, 2);
    assert_eq!(t.pending(), 3);
    let n = t.take_notices();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].status, Some(403));
    // Not durable (Node, a worker): the events live in memory only, and a
    // shutdown after a 403 sends nothing: the notice says so.
    assert_eq!(
        n[0].message,
        "2 event(s) of a batch refused (403: bad appKey): sending stops, events are kept in memory only, \
         lost when the tracker ends (HTTP status 403)"
    );
    // Durable (a page with storage): stored for a later page.
    let mut t = tracker(&[]);
    t.set_durable();
    track(&mut t, T0, 0);
    let r = t.next_request(T0, false, None).unwrap();
    t.on_response(r.id, T0, 403, None, false);
    assert_eq!(
        t.take_notices()[0].message,
        "1 event(s) of a batch refused (403: bad appKey): sending stops, events are kept (HTTP status 403)"
    );
}

#[test]
fn overflow_drops_oldest_and_reports_count() {
    let mut t = tracker(&[("maxQueueSize", num(5.0))]);
    for i in 0..8 {
        track(&mut t, T0, i);
    }
    assert_eq!(t.pending(), 5);
    // Reported once for the whole burst, at the end of the task.
    assert!(!t.report_now());
    assert!(t.needs_end_of_task(false));
    let n = t.take_notices();
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].code, n[0].count), (ErrorCode::QueueFull, Some(3)));
    assert!(!t.has_notices());
    track(&mut t, T0, 8);
    assert_eq!(t.take_notices()[0].count, Some(1));
    let r = t.next_request(T0, false, None).unwrap();
    assert_eq!(events(&r.body(BodyFormat::Form))[0]["i"], 4);
}

#[test]
fn expired_events_dropped_at_send_time() {
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    let later = T0 + MAX_PAST_MS + 1;
    track(&mut t, later, 1);
    let r = t.next_request(later, false, None).unwrap();
    assert_eq!(r.events, 1);
    assert_eq!(events(&r.body(BodyFormat::Form))[0]["i"], 1);
    let n = t.take_notices();
    assert_eq!((n[0].code, n[0].count), (ErrorCode::EventExpired, Some(1)));
}

#[test]
fn unload_sends_everything_within_the_keepalive_budget() {
    let mut t = tracker(&[("batchSize", num(10.0))]);
    for i in 0..100 {
        track(&mut t, T0, i);
    }
    let reqs = t.unload_requests(T0, 4000);
    assert!(!reqs.is_empty());
    let total: usize = reqs.iter().map(|r| r.bytes).sum();
    for r in &reqs {
        assert_eq!(r.body(BodyFormat::Form).len(), r.bytes);
    }
    assert!(total <= 4000, "{total}");
    assert!(reqs.iter().all(|r| r.keepalive && r.events <= 10));
    let sent: usize = reqs.iter().map(|r| r.events).sum();
    assert!(sent < 100);
    // Events stay queued until acknowledged.
    assert_eq!(t.pending(), 100);
    for r in &reqs {
        t.on_response(r.id, T0, 200, None, false);
    }
    assert_eq!(t.pending(), 100 - sent);
    let all = t.unload_requests(T0, 1 << 20);
    assert_eq!(all.iter().map(|r| r.events).sum::<usize>(), 100 - sent);
}

#[test]
fn unload_gives_its_requests_one_by_one_and_an_event_tracked_between_them_goes_too() {
    let mut t = tracker(&[("batchSize", num(2.0))]);
    for i in 0..3 {
        track(&mut t, T0, i);
    }
    let mut left = t.unload(T0, 60_000);
    assert_eq!(left, 60_000, "nothing in flight yet");
    let first = t.unload_request(&mut left).unwrap();
    assert_eq!((first.events, left), (2, 60_000 - first.bytes));
    // The page's fetch wrapper tracks an event while the first goes out.
    track(&mut t, T0, 3);
    let second = t.unload_request(&mut left).unwrap();
    assert_eq!(second.events, 2, "the last of before and the one tracked meanwhile");
    assert!(t.unload_request(&mut left).is_none());
    assert_eq!(t.pending(), 4, "queued until acknowledged");
    // Over what is left, nothing more goes; sending stopped (403), nothing at all.
    track(&mut t, T0, 4);
    let mut none = 10;
    assert!(t.unload_request(&mut none).is_none());
    t.on_response(first.id, T0, 403, None, false);
    assert_eq!(t.unload(T0, 60_000), 0);
    assert!(t.unload_request(&mut left).is_none());
}

#[test]
fn in_a_page_requests_that_fit_go_with_keepalive_from_the_start() {
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    let r = t.next_request(T0, false, None).unwrap();
    assert!(!r.keepalive, "no keepalive outside a page");
    t.on_response(r.id, T0, 200, None, false);

    t.set_keepalive_budget(4000);
    track(&mut t, T0, 1);
    let r = t.next_request(T0, false, None).unwrap();
    assert!(r.keepalive && r.bytes <= 4000);
    // A keepalive request is a regular one: its failure backs off and counts a try.
    t.on_response(r.id, T0, 503, None, false);
    assert!(t.retry_at(T0).is_some());
    let r = t.next_request(T0, true, None).unwrap();
    assert!(r.keepalive);
    t.on_response(r.id, T0, 200, None, false);
    assert_eq!((t.pending(), t.stats().retries), (0, 1));

    // A body over the allowance goes without.
    for i in 0..100 {
        track(&mut t, T0, i);
    }
    let r = t.next_request(T0, false, None).unwrap();
    assert!(r.bytes > 4000 && !r.keepalive);
}

#[test]
fn page_hide_resends_only_what_was_in_flight_without_keepalive() {
    // In flight with keepalive: it survives the page, nothing is sent twice.
    let mut t = tracker(&[]);
    t.set_keepalive_budget(60 * 1024);
    for i in 0..5 {
        track(&mut t, T0, i);
    }
    let r = t.next_request(T0, false, None).unwrap();
    assert!(r.keepalive);
    track(&mut t, T0, 5);
    let unload = t.unload_requests(T0, 60 * 1024);
    let ids: Vec<_> = unload
        .iter()
        .flat_map(|u| events(&u.body(BodyFormat::Form)))
        .map(|e| e["i"].clone())
        .collect();
    assert_eq!(ids, vec![serde_json::json!(5)], "only the event not yet on its way");
    // A second page-hide signal (visibilitychange, then pagehide) sends nothing more.
    assert!(t.unload_requests(T0, 60 * 1024).is_empty());
    t.on_response(r.id, T0, 200, None, false);
    t.on_response(unload[0].id, T0, 200, None, false);
    assert_eq!((t.pending(), t.stats().delivered), (0, 6));

    // Chrome rejects a keepalive fetch at page hide while the request goes on: the
    // network error leaves its events with it, so the page-hide flush does not send them
    // again; if the page lives on, the next try does.
    let mut t = tracker(&[]);
    t.set_keepalive_budget(60 * 1024);
    for i in 0..3 {
        track(&mut t, T0, i);
    }
    let r = t.next_request(T0, false, None).unwrap();
    assert_eq!(t.on_response(r.id, T0, 0, None, false), Outcome { sent: 0, failed: 3 });
    track(&mut t, T0, 3);
    let unload = t.unload_requests(T0, 60 * 1024);
    assert_eq!(unload.iter().map(|u| u.events).sum::<usize>(), 1);
    t.on_response(unload[0].id, T0, 200, None, false);
    let at = t.retry_at(T0).unwrap();
    let again = t.next_request(at, false, None).unwrap();
    assert_eq!((again.events, again.json.clone()), (3, r.json.clone()));
    t.on_response(again.id, at, 200, None, false);
    assert_eq!((t.pending(), t.stats().delivered), (0, 4));
    // Any other failure gives the events back at once.
    track(&mut t, T0, 4);
    let r = t.next_request(at, false, None).unwrap();
    t.on_response(r.id, at, 503, None, false);
    assert_eq!(t.unload_requests(at, 60 * 1024).len(), 1);

    // In flight without keepalive (too big for it): the browser cancels it with the page,
    // so its events go out again, within the budget; its late answer is ignored.
    let mut t = tracker(&[("batchSize", num(10.0))]);
    t.set_keepalive_budget(1000);
    for i in 0..10 {
        track(&mut t, T0, i);
    }
    let big = t.next_request(T0, false, None).unwrap();
    assert!(!big.keepalive);
    let unload = t.unload_requests(T0, 1 << 20);
    assert_eq!(unload.iter().map(|u| u.events).sum::<usize>(), 10);
    assert!(unload.iter().all(|u| u.keepalive));
    assert_eq!(t.on_response(big.id, T0, 0, None, false), Outcome::default());
    for u in &unload {
        t.on_response(u.id, T0, 200, None, false);
    }
    assert_eq!((t.pending(), t.stats().delivered), (0, 10));
}

#[test]
fn flush_bound_and_closed() {
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    let bound = t.next_seq();
    track(&mut t, T0, 1);
    let r = t.next_request(T0, true, Some(bound)).unwrap();
    assert_eq!(r.events, 1);
    t.on_response(r.id, T0, 200, None, false);
    assert!(t.next_request(T0, true, Some(bound)).is_none());
    t.set_durable();
    t.close();
    let enc = write('s', "event_name", "e");
    assert_eq!(t.track_encoded(T0, &enc).unwrap_err().code, ErrorCode::TrackerClosed);
    assert_eq!(t.pending(), 1);
}

#[test]
fn persistence_writes_each_event_once_and_removes_acknowledged() {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    let mut t = tracker(&[]);
    let store = RefCell::new(BTreeMap::new());
    let puts = RefCell::new(0);
    let put = |seq: u64, json: &str| {
        *puts.borrow_mut() += 1;
        store.borrow_mut().insert(seq, json.to_string());
        true
    };
    let remove = |seq: u64| {
        store.borrow_mut().remove(&seq);
    };
    for i in 0..3 {
        track(&mut t, T0, i);
    }
    t.persist(put, |_, _| true, remove);
    assert_eq!(*puts.borrow(), 3);
    assert!(!t.needs_persist());
    // A quota error leaves the event queued and tries again later.
    track(&mut t, T0, 3);
    assert!(!t.persist(|_, _| false, |_, _| true, |_| {}));
    assert!(t.needs_persist());
    track(&mut t, T0, 4);
    assert!(t.persist(put, |_, _| true, remove));
    assert_eq!(store.borrow().len(), 5);
    assert_eq!(*puts.borrow(), 5);
    let r = t.next_request(T0, false, None).unwrap();
    t.on_response(r.id, T0, 200, None, false);
    t.persist(put, |_, _| true, remove);
    assert!(store.borrow().is_empty());
    // Restored events are queued again, not counted as newly tracked.
    let (json, time, _) = crate::core::store::restore(
        &crate::core::store::tests::entries(&events_json(&r.body(BodyFormat::Form), 0)),
        |_| None,
        false,
    )
    .unwrap();
    t.restore(json, time);
    assert_eq!(t.pending(), 1);
    assert_eq!(t.stats().tracked, 5);
}

/// The shell makes the writes after `persist` returns (`persisted`): a
/// refused one and those after it are tried again, one event a persist
/// until the storage takes a write, then all of them.
#[test]
fn writes_refused_after_persist_are_tried_again_one_then_all() {
    use std::collections::BTreeMap;
    let mut t = tracker(&[]);
    for i in 0..4 {
        track(&mut t, T0, i);
    }
    // Every write is held back (each answers true): the shell then finds the
    // third refused, and the fourth not made.
    let mut held = Vec::new();
    let mut sizes = Vec::new();
    let mut context = 0;
    assert!(t.persist(
        |seq, json| {
            held.push(seq);
            sizes.push(json.len() + crate::core::store::KEY_BYTES);
            true
        },
        |_, json| {
            context += json.len() + crate::core::store::KEY_BYTES;
            true
        },
        |_| {}
    ));
    assert_eq!(held.len(), 4);
    assert_eq!(t.stored_bytes(), sizes.iter().sum::<usize>() + context);
    // The context was made (it came first): it still counts.
    let bytes_two = context + sizes[0] + sizes[1];
    t.persisted(Some((held[2], true)));
    assert_eq!(
        t.stored_bytes(),
        bytes_two,
        "the context and the two written still count"
    );
    assert!(t.needs_persist());
    // The storage is still full: one write a persist, not one an event.
    let mut tried = Vec::new();
    t.persist(
        |seq, _| {
            tried.push(seq);
            true
        },
        |_, _| true,
        |_| {},
    );
    assert_eq!(tried, [held[2]]);
    t.persisted(Some((held[2], true)));
    // It takes a write again: the probe, then the rest.
    let mut store = BTreeMap::new();
    t.persist(|seq, j| store.insert(seq, j.to_string()).is_none(), |_, _| true, |_| {});
    assert_eq!(store.len(), 1);
    assert!(t.persisted(None), "the probe was taken: persist again now");
    assert!(t.needs_persist());
    t.persist(|seq, j| store.insert(seq, j.to_string()).is_none(), |_, _| true, |_| {});
    assert!(!t.persisted(None));
    assert_eq!(store.keys().copied().collect::<Vec<_>>(), held[2..]);
    assert!(!t.needs_persist());
    // Nothing was lost or written twice: every event is stored or sent.
    assert_eq!(t.pending(), 4);
}

/// Persists `t` with every write held (each answers true): the event each
/// write was for in order (`u64::MAX` for a context, which comes before its
/// event), the bytes of each event write and of the context writes.
fn persist_held(t: &mut Tracker) -> (Vec<u64>, Vec<usize>, usize) {
    let order = std::cell::RefCell::new(Vec::new());
    let (mut sizes, mut context) = (Vec::new(), 0);
    t.persist(
        |seq, j| {
            order.borrow_mut().push(seq);
            sizes.push(j.len() + crate::core::store::KEY_BYTES);
            true
        },
        |_, j| {
            order.borrow_mut().push(u64::MAX);
            context += j.len() + crate::core::store::KEY_BYTES;
            true
        },
        |_| {},
    );
    (order.into_inner(), sizes, context)
}

/// A context that was made keeps its count and is not written again when
/// a later event's write is refused; one that was refused, even as the last
/// write of a persist, is written again before an event names it.
#[test]
fn a_refused_write_undoes_the_context_only_when_it_was_not_made() {
    let mut t = with_env();
    for i in 0..2 {
        track(&mut t, T0, i);
    }
    let (order, sizes, context) = persist_held(&mut t);
    assert_eq!(order.len(), 3, "{order:?}");
    assert_eq!(order[0], u64::MAX, "the context comes first");
    // The shell made the context and the first event; the second was refused.
    t.persisted(Some((order[2], true)));
    assert_eq!(t.stored_bytes(), context + sizes[0]);
    let (again, _, _) = persist_held(&mut t);
    assert_eq!(again, [order[2]], "the event again, not its context");

    // The budget keeps the event back: the context is the last write, and it
    // is refused. No event follows it (u64::MAX), and it was not made.
    let mut t = with_env();
    track(&mut t, T0, 0);
    t.set_storage_budget(context + sizes[0] - 1);
    let (order, _, _) = persist_held(&mut t);
    assert_eq!(order, [u64::MAX], "the context written, the event kept by the budget");
    t.persisted(Some((u64::MAX, false)));
    assert_eq!(t.stored_bytes(), 0);
    t.set_storage_budget(1 << 20);
    let (order, _, _) = persist_held(&mut t);
    assert_eq!(
        order.len(),
        2,
        "the context written again before the event that names it: {order:?}"
    );
    assert_eq!(order[0], u64::MAX);
}

pub(super) fn with_env() -> Tracker {
    let mut cfg = Config::default();
    cfg.set("appKey", &OptValue::Str("k".into())).unwrap();
    let env = vec![
        (
            "session_dua".to_string(),
            "Mozilla/5.0 (X11; Linux x86_64) \"quoted\"".to_string(),
        ),
        ("session_screen_size".to_string(), "1920x1080".to_string()),
        ("referring_url".to_string(), "".to_string()),
        ("utm_source".to_string(), "news\u{e9}".to_string()),
        ("event_timezone_offset".to_string(), "-5.5".to_string()),
    ];
    Tracker::new(cfg.finish().unwrap(), [7, 7, 7, 7], Some("anon".into()), env)
}

/// Stored text, as the shell reads it back: entries of the JSON.
fn stored_entries(json: &str) -> String {
    crate::core::store::tests::entries(json)
}

#[test]
fn stored_events_leave_out_the_page_context_and_restore_to_the_same_event() {
    use std::collections::BTreeMap;
    let mut t = with_env();
    let page = |url: &str| write('p', "page_url", url) + &write('p', "page_title", "Shop \"A\"");
    for i in 0..3 {
        let enc = page("https://x/a?utm_source=n") + &write('s', "event_name", "e") + &write('n', "i", &i.to_string());
        t.track_encoded(T0, &enc).unwrap();
    }
    // The caller overrides an environment property: stored whole.
    let enc =
        page("https://x/a?utm_source=n") + &write('s', "event_name", "own") + &write('s', "session_screen_size", "1x1");
    t.track_encoded(T0, &enc).unwrap();
    // An in-page navigation: a new context; then an event with no page.
    let enc = page("https://x/b") + &write('s', "event_name", "nav");
    t.track_encoded(T0, &enc).unwrap();
    track(&mut t, T0, 9);
    let mut stored = Vec::new();
    let mut contexts = BTreeMap::new();
    assert!(t.persist(
        |seq, text| {
            stored.push((seq, text.to_string()));
            true
        },
        |n, json| contexts.insert(n, json.to_string()).is_none(),
        |_| {}
    ));
    let queued: Vec<(u64, String)> = t.queued().map(|(s, j)| (s, j.to_string())).collect();
    assert_eq!(stored.len(), 6);
    assert_eq!(contexts.len(), 3, "{contexts:?}");
    let c1: serde_json::Value = serde_json::from_str(&contexts[&1]).unwrap();
    assert_eq!(c1["page_url"], "https://x/a?utm_source=n");
    assert_eq!(c1["session_screen_size"], "1920x1080");
    assert_eq!(c1["event_timezone_offset"], -5.5);
    assert!(
        c1.get("referring_url").is_none(),
        "empty defaults are not sent, nor stored"
    );
    assert!(
        stored[0].1.ends_with(r#","":1}"#) && !stored[0].1.contains("1920x1080"),
        "{}",
        stored[0].1
    );
    assert!(
        stored[0].1.len() * 2 < queued[0].1.len(),
        "{} vs {}",
        stored[0].1,
        queued[0].1
    );
    assert!(
        stored[2].1.ends_with(r#","":1}"#),
        "the page's events share one context"
    );
    assert_eq!(
        stored[3].1, queued[3].1,
        "an event that overrides the context is stored as it is"
    );
    assert!(stored[4].1.ends_with(r#","":2}"#));
    assert!(stored[5].1.ends_with(r#","":3}"#) && contexts[&3].starts_with(r#"{"user_id":"anon","session_dua""#));
    let ctx_entries: std::collections::BTreeMap<u64, String> =
        contexts.iter().map(|(n, c)| (*n, stored_entries(c))).collect();
    let ctx = |n: u64| ctx_entries.get(&n).map(String::as_str);
    for ((_, text), (_, json)) in stored.iter().zip(&queued) {
        let (back, time, _) = crate::core::store::restore(&stored_entries(text), ctx, false).unwrap();
        assert_eq!(time, T0);
        assert_eq!(back.len(), json.len(), "{back} vs {json}");
        let (a, b): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(&back).unwrap(),
            serde_json::from_str(json).unwrap(),
        );
        assert_eq!(a, b);
    }
    // After the page was shown again its contexts may be gone: the next
    // stored event writes its context again, under a new number.
    assert_eq!(t.contexts_stored(), 1..=3);
    t.context_lost();
    track(&mut t, T0, 10);
    let mut again = Vec::new();
    let mut text = String::new();
    t.persist(
        |_, s| {
            text = s.to_string();
            true
        },
        |n, json| {
            again.push((n, json.to_string()));
            true
        },
        |_| {},
    );
    assert_eq!(again, vec![(4, contexts[&3].clone())]);
    assert!(text.ends_with(r#","":4}"#));
    // Without its context a compacted event is refused, never sent half.
    let e = crate::core::store::restore(&stored_entries(&stored[0].1), |_| None, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::StorageError);
    // When a context cannot be stored, events are stored whole.
    let enc = page("https://x/c") + &write('s', "event_name", "c");
    t.track_encoded(T0, &enc).unwrap();
    let mut last = String::new();
    t.persist(
        |_, text| {
            last = text.to_string();
            true
        },
        |_, _| false,
        |_| {},
    );
    assert_eq!(last, t.queued().next_back().unwrap().1);
}

#[test]
fn storage_budget_keeps_the_rest_in_memory_and_reports_once() {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    let mut t = tracker(&[("batchSize", num(2.0))]);
    let store = RefCell::new(BTreeMap::new());
    let put = |seq: u64, json: &str| {
        store.borrow_mut().insert(seq, json.to_string());
        true
    };
    let remove = |seq: u64| {
        store.borrow_mut().remove(&seq);
    };
    // No context can be stored: every event is stored whole, one's size.
    let no_context = |_: u64, _: &str| false;
    track(&mut t, T0, 0);
    let one = t.queued().next().unwrap().1.len() + crate::core::store::KEY_BYTES;
    t.set_storage_budget(3 * one);
    for i in 1..6 {
        track(&mut t, T0, i);
    }
    assert!(!t.persist(put, no_context, remove), "not everything is stored");
    assert_eq!(store.borrow().len(), 3);
    assert!(t.stored_bytes() <= 3 * one);
    assert!(t.over_budget());
    let notices = t.take_notices();
    assert_eq!(notices.len(), 1);
    assert_eq!((notices[0].code, notices[0].count), (ErrorCode::StorageError, Some(3)));
    assert!(notices[0].message.contains("kept in memory"), "{}", notices[0].message);
    assert_eq!(t.pending(), 6, "nothing is dropped");
    // Still over: no second report.
    track(&mut t, T0, 6);
    assert!(!t.persist(put, no_context, remove));
    assert!(t.take_notices().is_empty());
    // Sent events make room: the rest is stored, oldest first.
    for _ in 0..3 {
        let r = t.next_request(T0, false, None).unwrap();
        t.on_response(r.id, T0, 200, None, false);
        t.persist(put, no_context, remove);
    }
    assert_eq!(t.pending(), 1);
    assert!(t.persist(put, no_context, remove));
    assert!(!t.over_budget());
    let stored: Vec<u64> = store.borrow().keys().copied().collect();
    let queued: Vec<u64> = t.queued().map(|(s, _)| s).collect();
    assert_eq!(stored, queued);
    assert_eq!(t.stored_bytes(), one);
}

fn events_json(body: &str, i: usize) -> String {
    events(body)[i].to_string()
}

proptest::proptest! {
    #[test]
    fn requests_take_what_batch_take_chooses(
        lens in proptest::collection::vec(0usize..200, 1..50),
        batch_size in 1usize..30,
        budget in 0usize..12_000,
    ) {
        let mut t = tracker(&[("batchSize", num(batch_size as f64))]);
        for (i, n) in lens.iter().enumerate() {
            let enc = write('s', "event_name", "e") + &write('n', "i", &i.to_string()) + &write('s', "p", &"é ".repeat(*n));
            t.track_encoded(T0, &enc).unwrap();
        }
        let fmt = t.config().body_format;
        let costs: Vec<usize> = t.queued().map(|(_, j)| fmt.event_cost(j)).collect();
        // Page hide: batches within what is left of the budget; a lone
        // event over it stays queued.
        let reqs = t.unload_requests(T0, budget);
        let (mut at, mut left) = (0, budget);
        for r in &reqs {
            let n = batch::take(costs[at..].iter().copied(), batch_size, Some(left), fmt);
            proptest::prop_assert_eq!(r.events, n);
            proptest::prop_assert_eq!(r.bytes, r.body(fmt).len());
            proptest::prop_assert!(r.bytes <= left);
            at += n;
            left -= r.bytes;
        }
        if let Some(next) = costs.get(at) {
            proptest::prop_assert!(fmt.overhead() + next - 3 > left, "an event that fits stays queued");
        }
        for r in &reqs {
            t.on_response(r.id, T0, 200, None, false);
        }
        // Then regular requests: batch_size events at most, no byte budget.
        while let Some(r) = t.next_request(T0, false, None) {
            proptest::prop_assert_eq!(r.events, batch::take(costs[at..].iter().copied(), batch_size, None, fmt));
            proptest::prop_assert_eq!(r.bytes, r.body(fmt).len());
            at += r.events;
            t.on_response(r.id, T0, 200, None, false);
        }
        proptest::prop_assert_eq!((at, t.pending()), (costs.len(), 0));
    }
}

#[test]
fn event_ids_are_version_4_uuids() {
    let mut rng = Rng([1, 2, 3, 4]);
    for _ in 0..100 {
        let id = rng.uuid();
        let b = id.as_bytes();
        assert_eq!(b.len(), 36, "{id}");
        for (i, c) in b.iter().enumerate() {
            if [8, 13, 18, 23].contains(&i) {
                assert_eq!(*c, b'-', "{id}");
            } else {
                assert!(c.is_ascii_digit() || (b'a'..=b'f').contains(c), "{id}");
            }
        }
        assert_eq!(b[14], b'4', "version: {id}");
        assert!(b"89ab".contains(&b[19]), "variant: {id}");
    }
}

#[test]
fn queued_skips_the_events_that_left_the_queue_from_either_end() {
    let mut t = tracker(&[]);
    for i in 0..4 {
        track(&mut t, T0, i);
    }
    // The first and the last left the queue (their slots not swept yet).
    for i in [0, 3] {
        t.q.queue[i].flight = u64::MAX;
        t.q.queue[i].json.clear();
    }
    let all: Vec<(u64, String)> = t.queued().map(|(s, j)| (s, j.to_string())).collect();
    assert_eq!(all.iter().map(|e| e.0).collect::<Vec<_>>(), [2, 3]);
    let last = t.queued().next_back().map(|(s, j)| (s, j.to_string()));
    assert_eq!(last.as_ref(), all.last());
}

#[test]
fn index_of_finds_the_first_slot_at_or_after_a_sequence_number() {
    let mut t = tracker(&[("maxQueueSize", num(50.0))]);
    for i in 0..80 {
        track(&mut t, T0, i);
    }
    // Some sent and acknowledged: the queue keeps gaps until it is swept.
    let r = t.next_request(T0, false, None).unwrap();
    t.on_response(r.id, T0, 200, None, false);
    for i in 0..5 {
        track(&mut t, T0, 100 + i);
    }
    for seq in 0..t.next_seq() + 2 {
        let want = t.q.queue.partition_point(|s| s.seq < seq);
        assert_eq!(t.index_of(seq), want, "seq {seq}");
    }
}

#[test]
fn with_env_reads_the_environment_text_as_new_reads_its_pairs() {
    let env = write('p', "page_url", "https://x/")
        + &write('p', "session_dua", "UA")
        + &write('n', "event_timezone_offset", "-5.5")
        + &write('s', "ignored", "string entries are not the environment's");
    for (dua, ip, page_props) in [
        (None, None, true),
        (Some("mine"), Some("1.2.3.4"), true),
        (Some(""), None, false),
    ] {
        let mut cfg = Config::default();
        cfg.set("appKey", &OptValue::Str("k".into())).unwrap();
        if let Some(dua) = dua {
            let v = if dua.is_empty() {
                OptValue::Bool(false)
            } else {
                OptValue::Str(dua.into())
            };
            cfg.set("sessionDua", &v).unwrap();
        }
        if let Some(ip) = ip {
            cfg.set("sessionIp", &OptValue::Str(ip.into())).unwrap();
        }
        let cfg = cfg.finish().unwrap();
        let mut pairs: Vec<(String, String)> = vec![];
        if page_props {
            pairs.push(("page_url".into(), "https://x/".into()));
        }
        pairs.push(("session_dua".into(), "UA".into()));
        if page_props {
            pairs.push(("event_timezone_offset".into(), "-5.5".into()));
        }
        pairs.push(("tracker_type".into(), TRACKER_TYPE.into()));
        pairs.push(("tracker_version".into(), TRACKER_VERSION.into()));
        let a = Tracker::new(cfg.clone(), [7, 7, 7, 7], Some("anon".into()), pairs);
        let b = Tracker::with_env(cfg, [7, 7, 7, 7], Some("anon".into()), &env, page_props);
        assert_eq!(a.env_defaults, b.env_defaults, "{dua:?} {ip:?} {page_props}");
        assert_eq!(a.user_id, b.user_id);
        assert!(!b.env_defaults.is_empty());
        // The options stay in the configuration as given.
        assert_eq!(b.config().session_dua.as_deref(), dua);
        assert_eq!(b.config().session_ip.as_deref(), ip);
    }
}

/// Persists `t`: the stored events in order, and the contexts written.
fn persisted(t: &mut Tracker) -> (Vec<String>, std::collections::BTreeMap<u64, String>) {
    let mut stored = Vec::new();
    let mut contexts = std::collections::BTreeMap::new();
    assert!(t.persist(
        |_, text| {
            stored.push(text.to_string());
            true
        },
        |n, json| contexts.insert(n, json.to_string()).is_none(),
        |_| {}
    ));
    (stored, contexts)
}

#[test]
fn the_user_id_session_and_shared_properties_are_stored_once_per_page() {
    let mut t = with_env();
    let mut cfg = t.cfg.clone();
    cfg.session_timeout_ms = Some(1_800_000);
    t.x = privacy::Extras::new(&cfg);
    // Empty values are not sent: they are not counted among the shared keys.
    t.set_properties(&(write('s', "plan", "pro") + &write('s', "none", "")))
        .unwrap();
    let page = write('p', "page_url", "https://x/a")
        + &write('p', "page_title", "A, \"the\" page,")
        + &write('p', "referring_url", "");
    for i in 0..3 {
        let enc = page.clone() + &write('s', "event_name", "e,") + &write('s', "i", &format!("{i},"));
        t.track_encoded(T0 + i, &enc).unwrap();
    }
    let session = t.session_id().to_string();
    let (stored, contexts) = persisted(&mut t);
    assert_eq!(contexts.len(), 1, "{contexts:?}");
    for text in &stored {
        for per_page in ["anon", session.as_str(), "pro", "https://x/a", "1920x1080"] {
            assert!(!text.contains(per_page), "{per_page} in {text}");
            assert!(contexts[&1].contains(per_page), "{per_page}");
        }
        assert!(
            text.contains("event_id") && text.contains("event_timestamp_epoch"),
            "{text}"
        );
    }
    // Each restores to the event as queued, and to the same count of
    // shared keys, so the next tab stores it as compactly.
    let queued: Vec<String> = t.queued().map(|(_, j)| j.to_string()).collect();
    let ctx = crate::core::store::tests::entries(&contexts[&1]);
    let shared = t.q.queue[0].shared;
    assert_eq!(
        usize::from(shared),
        serde_json::from_str::<serde_json::Map<_, _>>(&contexts[&1])
            .unwrap()
            .len()
    );
    let mut next = with_env();
    for (text, json) in stored.iter().zip(&queued) {
        let back = crate::core::store::restore(&stored_entries(text), |_| Some(&ctx), false).unwrap();
        assert_eq!((&back.0, back.2), (json, shared));
        next.restore_shared(back.0, back.1, back.2);
    }
    let (again, contexts_again) = persisted(&mut next);
    assert_eq!(contexts_again[&1], contexts[&1]);
    assert_eq!(again, stored);
    // A new user id or session makes a new context; events with their own
    // user id (a site that passes it to every event) share what follows it.
    t.set_user_id("me").unwrap();
    t.track_encoded(T0, &(page.clone() + &write('s', "event_name", "e")))
        .unwrap();
    for i in 0..2 {
        let own = page.clone() + &write('s', "event_name", "e") + &write('s', "user_id", &format!("own{i}"));
        t.track_encoded(T0, &own).unwrap();
    }
    let (stored, contexts) = persisted(&mut t);
    assert_eq!(contexts.len(), 2);
    assert!(contexts[&2].contains("\"me\"") && stored[0].ends_with(r#","":2}"#));
    assert!(!contexts[&3].contains("user_id") && contexts[&3].contains(session.as_str()));
    for (i, text) in stored[1..].iter().enumerate() {
        assert!(
            text.contains(&format!("own{i}")) && text.ends_with(r#","":3}"#),
            "{text}"
        );
    }
}

#[test]
fn an_event_before_send_changed_in_place_keeps_its_shared_part_and_one_with_a_key_added_is_stored_whole() {
    let mut t = with_env();
    t.set_hold(true);
    let page = write('p', "page_url", "https://x/a");
    let name = write('s', "event_name", "e");
    // The hook's object as JSON.parse gives it: unchanged, its page_url
    // changed in place, or a key added (at the end, as in JavaScript).
    for change in [0, 1, 2] {
        t.track_encoded(T0, &(page.clone() + &name)).unwrap();
        let own = crate::core::store::tests::entries(t.held_json().unwrap());
        let changed = match change {
            1 => Some(own.replace("https://x/a", "https://x/b")),
            2 => Some(own + &write('s', "p", "1")),
            _ => None,
        };
        t.release_held(T0, changed.as_deref()).unwrap();
    }
    let queued: Vec<String> = t.queued().map(|(_, j)| j.to_string()).collect();
    assert!(queued[1].contains("https://x/b"), "{}", queued[1]);
    let (stored, contexts) = persisted(&mut t);
    assert_eq!(contexts.len(), 2);
    assert!(stored[0].ends_with(r#","":1}"#), "{}", stored[0]);
    assert!(stored[1].ends_with(r#","":2}"#) && contexts[&2].contains("https://x/b"));
    assert_eq!(stored[2], queued[2], "a key added: stored whole");
}

#[test]
fn an_empty_default_is_not_sent_nor_counted_wherever_it_comes_from() {
    // Empty values from every source of defaults (the sessionDua option
    // turned off, the environment, a shared property, the page), against a
    // tracker given none of them: the same events, stored the same way.
    let make = |empties: bool| {
        let mut cfg = Config::default();
        cfg.set("appKey", &OptValue::Str("k".into())).unwrap();
        cfg.set("sessionTimeoutMs", &num(1_800_000.0)).unwrap();
        let mut env = write('p', "utm_source", "news");
        if empties {
            cfg.set("sessionDua", &OptValue::Bool(false)).unwrap();
            env = write('p', "session_dua", "UA") + &write('p', "utm_medium", "") + &env;
        }
        let mut t = Tracker::with_env(cfg.finish().unwrap(), [7, 7, 7, 7], Some("anon".into()), &env, true);
        let mut shared = write('s', "plan", "pro");
        let mut page = write('p', "page_url", "https://x/a");
        if empties {
            shared += &write('s', "none", "");
            page += &(write('p', "page_title", "") + &write('p', "referring_url", ""));
        }
        t.set_properties(&shared).unwrap();
        for i in 0..3 {
            let enc = page.clone() + &write('s', "event_name", "e") + &write('n', "i", &i.to_string());
            t.track_encoded(T0 + i, &enc).unwrap();
        }
        let queued: Vec<String> = t.queued().map(|(_, j)| j.to_string()).collect();
        let (stored, contexts) = persisted(&mut t);
        (queued, stored, contexts)
    };
    let (with, without) = (make(true), make(false));
    assert_eq!(with, without);
    let (queued, stored, contexts) = with;
    assert!(
        !queued[0].contains("\"\"") && !queued[0].contains("session_dua"),
        "{}",
        queued[0]
    );
    assert_eq!(contexts.len(), 1, "{contexts:?}");
    assert!(stored.iter().all(|s| s.ends_with(r#","":1}"#)), "{stored:?}");
    // An empty shared property still wins over a default of its name.
    let mut t = Tracker::with_env(
        tracker(&[]).cfg.clone(),
        [7, 7, 7, 7],
        None,
        &write('p', "utm_source", "news"),
        true,
    );
    t.set_properties(&write('s', "utm_source", "")).unwrap();
    track(&mut t, T0, 0);
    assert!(!t.queued().next().unwrap().1.contains("utm_source"));
}

#[test]
fn an_opt_out_with_regular_and_page_hide_requests_in_flight_ignores_their_answers() {
    let mut t = tracker(&[("batchSize", num(2.0))]);
    t.set_keepalive_budget(60 * 1024);
    for i in 0..4 {
        track(&mut t, T0, i);
    }
    let reg = t.next_request(T0, false, None).unwrap();
    assert!(reg.keepalive);
    let hide = t.unload_requests(T0, 60 * 1024);
    assert_eq!(hide.len(), 1);
    assert!(t.in_flight());
    t.opt_out();
    assert!(!t.in_flight(), "nothing in flight after an opt-out");
    t.opt_in(None);
    track(&mut t, T0, 9);
    let new = t.next_request(T0, false, None).unwrap();
    assert!(new.id > hide[0].id, "ids never repeat across an opt-out");
    // Late answers to what was sent before the opt-out change nothing.
    let before = (t.pending(), t.stats());
    for (id, st) in [(reg.id, 200), (hide[0].id, 0), (reg.id, 503), (hide[0].id, 413)] {
        assert_eq!(t.on_response(id, T0, st, Some("120"), false), Outcome::default());
    }
    assert_eq!(before, (t.pending(), t.stats()));
    assert!(t.retry_at(T0).is_none(), "no backoff from a late answer");
    assert!(t.in_flight());
    assert_eq!(
        t.on_response(new.id, T0, 200, None, false),
        Outcome { sent: 1, failed: 0 }
    );
    assert!(!t.in_flight());
    assert_eq!(t.pending(), 0);
    // The keepalive bytes restart at 0 (the bodies sent before are no longer counted).
    assert_eq!(t.unload(T0, 1000), 1000);
}

#[test]
fn a_held_requests_late_answers_and_an_opt_out_count_nothing() {
    let mut t = tracker(&[]);
    t.set_keepalive_budget(60 * 1024);
    for i in 0..3 {
        track(&mut t, T0, i);
    }
    let r = t.next_request(T0, false, None).unwrap();
    assert_eq!(t.on_response(r.id, T0, 0, None, false), Outcome { sent: 0, failed: 3 });
    assert!(!t.in_flight());
    // A second answer to the held request (its events still carry its id) is ignored.
    assert_eq!(t.on_response(r.id, T0, 200, None, false), Outcome::default());
    assert_eq!((t.pending(), t.stats().delivered), (3, 0));
    t.opt_out();
    t.opt_in(None);
    track(&mut t, T0, 7);
    let n = t.next_request(T0, true, None).unwrap();
    assert_eq!(n.events, 1);
    assert_eq!(t.on_response(r.id, T0, 200, None, false), Outcome::default());
    assert_eq!(
        t.on_response(n.id, T0, 200, None, false),
        Outcome { sent: 1, failed: 0 }
    );
    assert_eq!(
        t.on_response(n.id, T0, 200, None, false),
        Outcome::default(),
        "no double count"
    );
    assert_eq!((t.pending(), t.stats().delivered, t.in_flight()), (0, 1, false));
    assert_eq!(t.on_response(0, T0, 200, None, false), Outcome::default());
    assert_eq!(t.on_response(u64::MAX, T0, 200, None, false), Outcome::default());
}

#[test]
fn a_page_hide_413_leaves_the_regular_requests_backoff() {
    let mut t = tracker(&[("batchSize", num(4.0))]);
    t.set_keepalive_budget(60 * 1024);
    for i in 0..4 {
        track(&mut t, T0, i);
    }
    let r = t.next_request(T0, false, None).unwrap();
    t.on_response(r.id, T0, 503, Some("120"), false);
    let at = t.retry_at(T0).unwrap();
    assert!(at >= T0 + 120_000);
    // Page hidden (then shown again): the events go as a page-hide request, refused 413.
    let u = t.unload_requests(T0, 60 * 1024);
    assert_eq!(u.len(), 1);
    t.on_response(u[0].id, T0 + 1, 413, None, false);
    assert_eq!(
        t.retry_at(T0 + 1),
        Some(at),
        "Retry-After of the regular request still holds"
    );
    assert!(t.next_request(T0 + 1, false, None).is_none());
}

/// The shell's pump for a waiting shutdown or flush (forced), on a fake
/// clock: the request to send now, or whether it settles (false: it waits
/// for the backoff's end).
fn pump(t: &mut Tracker, now: i64) -> Result<Request, bool> {
    match t.next_request(now, true, Some(u64::MAX)) {
        Some(r) => Ok(r),
        None => Err(!t.keeps_waiting(now)),
    }
}

#[test]
fn a_shutdown_without_storage_follows_the_retry_policy_to_its_end() {
    // Not durable (Node): every try is made, at the backoff's end (and
    // Retry-After's), until the policy gives up and reports.
    let mut t = tracker(&[("maxRetries", num(2.0))]);
    track(&mut t, T0, 0);
    let r = t.next_request(T0, true, None).unwrap();
    t.on_response(r.id, T0, 503, Some("3"), false);
    assert!(
        !t.keeps_waiting(T0),
        "a flush of a running tracker settles at a failure"
    );
    assert!(pump(&mut t, T0).is_ok(), "and a flush skips the backoff");
    let mut t = tracker(&[("maxRetries", num(2.0))]);
    track(&mut t, T0, 0);
    t.close();
    let r = pump(&mut t, T0).unwrap();
    t.on_response(r.id, T0, 503, Some("3"), false);
    assert_eq!(t.retry_at(T0), Some(T0 + 3000));
    assert!(t.keeps_waiting(T0));
    // Within the backoff nothing goes, even forced, and the shutdown waits.
    assert!(!pump(&mut t, T0 + 2999).unwrap_err(), "waits");
    let r = pump(&mut t, T0 + 3000).unwrap();
    assert_eq!(r.events, 1);
    t.on_response(r.id, T0 + 3000, 0, None, false);
    let at = t.retry_at(T0 + 3000).unwrap_or(T0 + 3000);
    assert!(at < T0 + 5000, "the second retry waits up to 2 s");
    assert!(t.take_notices().is_empty(), "nothing given up yet");
    let r = pump(&mut t, at).unwrap();
    t.on_response(r.id, at, 503, None, false);
    // Given up after maxRetries: reported, the queue is empty, it settles.
    assert_eq!(t.pending(), 0);
    let n = t.take_notices();
    assert_eq!(
        (n.len(), n[0].code, n[0].status, n[0].count),
        (1, ErrorCode::RequestFailed, Some(503), Some(1))
    );
    assert!(!t.keeps_waiting(at));
    assert!(pump(&mut t, at).unwrap_err(), "settles");
    // Three tries of one event: one event given up on.
    assert_eq!((t.stats().requests, t.stats().failed), (3, 1));

    // A retry that succeeds empties the queue: settled, nothing reported.
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    t.close();
    let r = pump(&mut t, T0).unwrap();
    t.on_response(r.id, T0, 503, Some("1"), false);
    let r = pump(&mut t, T0 + 1000).unwrap();
    t.on_response(r.id, T0 + 1000, 200, None, false);
    assert!(pump(&mut t, T0 + 1000).unwrap_err(), "settles");
    assert_eq!((t.pending(), t.stats().delivered), (0, 1));
    assert!(t.take_notices().is_empty());

    // A 403 stops sending: nothing to wait for.
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    t.close();
    let r = pump(&mut t, T0).unwrap();
    t.on_response(r.id, T0, 403, None, false);
    assert!(pump(&mut t, T0).unwrap_err(), "settles");

    // Durable: the first failure ends the shutdown (it does not wait, and a
    // forced flush would skip the backoff); the event stays queued and stored.
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    t.set_durable();
    t.close();
    let r = pump(&mut t, T0).unwrap();
    t.on_response(r.id, T0, 503, Some("3"), false);
    assert!(t.retry_at(T0).is_some() && !t.keeps_waiting(T0));
    assert_eq!(t.pending(), 1);
    assert!(pump(&mut t, T0).is_ok());
}

#[test]
fn at_exit_a_tracker_without_storage_follows_the_retry_policy_and_still_takes_events() {
    // Node's beforeExit with no shutdown(): the pump is not forced (no flush
    // waits), the wake-up keeps the process alive only once exiting, and
    // only while there is a try to wait for.
    let mut t = tracker(&[("maxRetries", num(1.0))]);
    track(&mut t, T0, 0);
    assert!(
        !t.wake_keeps_alive(),
        "a running tracker's timers never hold the process"
    );
    t.exiting();
    assert!(t.wake_keeps_alive());
    let r = t.next_request(T0, false, None).unwrap();
    t.on_response(r.id, T0, 500, Some("2"), false);
    assert_eq!(t.retry_at(T0), Some(T0 + 2000));
    // A flush called now waits out the backoff too, as a shutdown's does.
    assert!(t.keeps_waiting(T0) && t.next_request(T0, true, None).is_none());
    // track() still works: exiting is not closing.
    track(&mut t, T0 + 1, 1);
    assert_eq!((t.state(), t.pending()), (Lifecycle::Running, 2));
    let r = t.next_request(T0 + 2000, false, None).unwrap();
    assert_eq!(r.events, 2);
    t.on_response(r.id, T0 + 2000, 500, None, false);
    // maxRetries 1: the second try fails, and its batch (with the event
    // tracked meanwhile) is given up and reported.
    let n = t.take_notices();
    assert_eq!(
        (n.len(), n[0].code, n[0].status, n[0].count),
        (1, ErrorCode::RequestFailed, Some(500), Some(2))
    );
    assert_eq!(t.pending(), 0);
    assert!(!t.keeps_waiting(T0 + 2000), "nothing queued: nothing to wait for");
    assert!(!t.wake_keeps_alive(), "the exit's drain ended with the queue");

    // The process goes on after its beforeExit: once the drain delivered
    // everything, a later failure is a running tracker's again (a flush
    // settles at it, no wake-up holds the process).
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    t.exiting();
    let r = t.next_request(T0, false, None).unwrap();
    t.on_response(r.id, T0, 500, Some("1"), false);
    assert!(t.wake_keeps_alive());
    let r = t.next_request(T0 + 1000, false, None).unwrap();
    t.on_response(r.id, T0 + 1000, 200, None, false);
    assert_eq!(t.pending(), 0);
    assert!(!t.wake_keeps_alive());
    track(&mut t, T0 + 2000, 1);
    let r = t.next_request(T0 + 2000, false, None).unwrap();
    t.on_response(r.id, T0 + 2000, 500, Some("1"), false);
    assert!(!t.wake_keeps_alive() && !t.keeps_waiting(T0 + 2000));

    // A 403 stops sending: the wake-up no longer holds the process.
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    t.exiting();
    let r = t.next_request(T0, false, None).unwrap();
    t.on_response(r.id, T0, 403, None, false);
    assert!(!t.wake_keeps_alive() && !t.keeps_waiting(T0));

    // Durable (a page): nothing changes, its events stay stored.
    let mut t = tracker(&[]);
    t.set_durable();
    t.exiting();
    assert!(!t.wake_keeps_alive());
    // A shutdown of a tracker without storage holds the process meanwhile.
    let mut t = tracker(&[]);
    t.close();
    assert!(t.wake_keeps_alive());
}

#[test]
fn a_flush_waits_while_an_event_is_held_for_before_send_and_sends_it_once_queued() {
    // shutdown() called from inside beforeSend: the event the hook holds
    // was tracked before it, so the shutdown waits for it (the shell pumps
    // once the hook returned) and sends it, rather than settle without it.
    let mut t = tracker(&[]);
    t.set_hold(true);
    let id = track(&mut t, T0, 0);
    t.close();
    assert!(t.keeps_waiting(T0), "held: the shutdown does not settle");
    assert!(!pump(&mut t, T0).unwrap_err(), "nothing to send yet, and it waits");
    assert_eq!(t.release_held(T0, None).unwrap(), id);
    assert!(!t.keeps_waiting(T0));
    let r = pump(&mut t, T0).unwrap();
    assert_eq!(r.events, 1);
    assert!(r.json.contains(&id));
    // A hook that drops the event (or throws) lets the flush settle.
    let mut t = tracker(&[]);
    t.set_hold(true);
    track(&mut t, T0, 0);
    t.close();
    assert!(t.keeps_waiting(T0));
    t.drop_held();
    assert!(pump(&mut t, T0).unwrap_err(), "settles");
}

#[test]
fn the_event_tracked_last_is_shown_only_while_it_is_queued() {
    // The debug line: the complete event as queued, or nothing when an
    // overflow dropped it at once (not an older event labelled "queued").
    let mut t = tracker(&[("maxQueueSize", num(1.0)), ("batchSize", num(1.0))]);
    let a = track(&mut t, T0, 0);
    let json = t.last_queued().unwrap().to_string();
    assert!(json.contains(&a) && json.contains("\"user_id\":\"anon\""), "{json}");
    let r = t.next_request(T0, false, None).unwrap();
    let b = track(&mut t, T0, 1);
    assert!(!b.is_empty(), "track() still returns the id");
    assert_eq!(t.last_queued(), None, "the only waiting event was dropped at once");
    assert_eq!(t.take_notices()[0].code, ErrorCode::QueueFull);
    t.on_response(r.id, T0, 200, None, false);
    let c = track(&mut t, T0, 2);
    assert!(t.last_queued().unwrap().contains(&c));
}

/// What a flush reports, run as the shell runs one (a fake clock that jumps
/// to each backoff's end while the flush waits): `answer` gives each
/// request's status. Returns `[sent, failed, pending, requests]`, and the
/// `count`s of the `request_failed` notices of events given up on (a 403's
/// keeps them, and is left out).
fn flush_report(t: &mut Tracker, now: &mut i64, mut answer: impl FnMut(&Request) -> u16) -> ([u64; 4], Vec<usize>) {
    let start = t.stats();
    let bound = t.next_seq();
    loop {
        match t.next_request(*now, true, Some(bound)) {
            Some(r) => {
                let out = t.on_response(r.id, *now, answer(&r), None, false);
                // The shell settles here, unless the core keeps waiting.
                if out.failed == 0 || t.retry_at(*now).is_none() {
                    continue;
                }
            }
            None if t.in_flight() => unreachable!("one request at a time here"),
            None => {}
        }
        if !t.keeps_waiting(*now) {
            break;
        }
        *now = t.retry_at(*now).unwrap_or(*now);
    }
    let s = t.stats();
    let given_up = t
        .take_notices()
        .iter()
        .filter(|n| n.code == ErrorCode::RequestFailed && n.status != Some(403))
        .map(|n| n.count.unwrap_or(0) as usize)
        .collect();
    let report = [
        s.delivered - start.delivered,
        s.failed - start.failed,
        t.pending() as u64,
        s.requests - start.requests,
    ];
    (report, given_up)
}

#[test]
fn a_flush_report_counts_each_event_once() {
    let mut now = T0;
    // Five events delivered after 413 splits: no failure left to report.
    let mut t = tracker(&[]);
    (0..5).for_each(|i| _ = track(&mut t, T0, i));
    let mut tries = 0;
    let (r, given_up) = flush_report(&mut t, &mut now, |r| {
        tries += 1;
        if r.events > 2 {
            413
        } else {
            200
        }
    });
    assert!(tries > 3, "split at least twice ({tries} requests)");
    assert_eq!((r, given_up), ([5, 0, 0, tries], vec![]));

    // Three events always refused with 413: split to one each, each refused once.
    let mut t = tracker(&[]);
    (0..3).for_each(|i| _ = track(&mut t, T0, i));
    let (r, given_up) = flush_report(&mut t, &mut now, |_| 413);
    assert_eq!(r, [0, 3, 0, 4]);
    assert_eq!(given_up, vec![1, 1, 1], "what onError was told adds up to failed");

    // A 500 that lasts: flush() settles at the first failure with the events
    // still queued (to be tried again: not failed); shutdown() makes the
    // other tries and gives up on the three events, once.
    let mut t = tracker(&[("maxRetries", num(2.0))]);
    (0..3).for_each(|i| _ = track(&mut t, T0, i));
    assert_eq!(flush_report(&mut t, &mut now, |_| 500), ([0, 0, 3, 1], vec![]));
    t.close();
    assert_eq!(flush_report(&mut t, &mut now, |_| 500), ([0, 3, 0, 2], vec![3]));

    // A 503, then delivered in the same shutdown: only sent.
    let mut t = tracker(&[]);
    track(&mut t, T0, 0);
    t.close();
    let mut n = 0;
    let (r, _) = flush_report(&mut t, &mut now, |_| {
        n += 1;
        if n == 1 {
            503
        } else {
            200
        }
    });
    assert_eq!(r, [1, 0, 0, 2]);

    // One batch refused (400), the next delivered.
    let mut t = tracker(&[("batchSize", num(2.0))]);
    (0..4).for_each(|i| _ = track(&mut t, T0, i));
    let mut n = 0;
    let (r, given_up) = flush_report(&mut t, &mut now, |_| {
        n += 1;
        if n == 1 {
            400
        } else {
            200
        }
    });
    assert_eq!((r, given_up), ([2, 2, 0, 2], vec![2]));

    // A 403 keeps the events: pending, not failed.
    let mut t = tracker(&[]);
    (0..2).for_each(|i| _ = track(&mut t, T0, i));
    assert_eq!(flush_report(&mut t, &mut now, |_| 403), ([0, 0, 2, 1], vec![]));

    // A page (durable): the shutdown settles at the first failure, the event
    // stays queued for the next page.
    let mut t = tracker(&[]);
    t.set_durable();
    track(&mut t, T0, 0);
    t.close();
    assert_eq!(flush_report(&mut t, &mut now, |_| 503), ([0, 0, 1, 1], vec![]));
}

proptest::proptest! {
    #[test]
    fn a_shutdown_accounts_for_every_event_once(
        n in 1usize..40,
        batch_size in 1usize..12,
        max_retries in 0u32..4,
        answers in proptest::collection::vec(proptest::sample::select(vec![200u16, 200, 400, 413, 500, 503, 0]), 1..30),
    ) {
        let mut t = tracker(&[("batchSize", num(batch_size as f64)), ("maxRetries", num(max_retries.into()))]);
        (0..n).for_each(|i| _ = track(&mut t, T0, i));
        t.close();
        let mut now = T0;
        let (mut k, mut acked) = (0, 0);
        let ([sent, failed, pending, requests], given_up) = flush_report(&mut t, &mut now, |r| {
            // The answers in turn, then 200s (so that it ends).
            let a = answers.get(k).copied().unwrap_or(200);
            k += 1;
            if a == 200 {
                acked += r.events;
            }
            a
        });
        proptest::prop_assert_eq!(sent, acked as u64);
        proptest::prop_assert_eq!(sent + failed + pending, n as u64, "each event once");
        proptest::prop_assert_eq!(pending, 0, "not durable: it drains");
        proptest::prop_assert_eq!(failed, given_up.iter().sum::<usize>() as u64, "as onError was told");
        proptest::prop_assert_eq!(requests, k as u64);
    }
}
