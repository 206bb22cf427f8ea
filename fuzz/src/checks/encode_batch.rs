//! `encode_batch`: request bodies and batching.
//!
//! - `batch::write_body`, in both formats, decodes (as `URLSearchParams` /
//!   `decodeURIComponent` would) to `{"events":[...]}` holding exactly the
//!   events given, in order; the body is printable ASCII, appended to what
//!   was there, and as long as the cost model says;
//! - `batch::split` and `batch::take` keep every event once and in order,
//!   hold at most `max_events` (at most 300) per batch, stay within the byte
//!   budget unless one event alone exceeds it, and fill each batch as far as
//!   the limits allow.

use coola_tracker::core::batch::{self, BodyFormat, MAX_EVENTS};
use coola_tracker::core::event::{self, RawValue, ValidateOptions, RESERVED};

use super::input::Input;
use super::wire::{body_json, parse_flat};

fn body(events: &[String], fmt: BodyFormat) -> String {
    let mut out = String::new();
    batch::write_body(&mut out, events.iter().map(String::as_str), fmt);
    out
}

/// Valid events decoded from the input (validated by the library).
fn events(inp: &mut Input) -> Vec<String> {
    let n = inp.below(48);
    let mut out = Vec::new();
    for i in 0..n {
        let mut props: Vec<(String, String, u8)> = Vec::new();
        for _ in 0..inp.below(5) {
            let mut k = inp.string(24);
            if k.is_empty() || RESERVED.contains(&k.as_str()) || k.starts_with("event_") || k.starts_with("user_") {
                k.insert(0, 'p');
            }
            let kind = inp.u8();
            let v = if kind % 8 == 7 {
                inp.pick(&["x", "é", "\"", " +&=%"]).repeat(inp.below(400))
            } else {
                inp.string(80)
            };
            props.push((k, v, kind));
        }
        let mut raw: Vec<(&str, RawValue)> = vec![
            (event::EVENT_NAME, RawValue::Str("e")),
            (event::USER_ID, RawValue::Str("u")),
            (event::TIMESTAMP, RawValue::Num(1_420_452_000_000.0 + i as f64)),
        ];
        for (k, v, kind) in &props {
            raw.push((
                k,
                match kind % 4 {
                    0 => RawValue::Num(f64::from(*kind) / 3.0),
                    1 => RawValue::Bool(v.len() % 2 == 0),
                    _ => RawValue::Str(v),
                },
            ));
        }
        if let Ok(json) = event::validate(raw, &ValidateOptions::default()) {
            out.push(json);
        }
    }
    out
}

/// Checks the body for `events` in `fmt`.
pub fn check_body(events: &[String], fmt: BodyFormat) {
    let mut out = String::from("kept");
    batch::write_body(&mut out, events.iter().map(String::as_str), fmt);
    let b = out.strip_prefix("kept").expect("write_body must append");
    assert!(b.bytes().all(|c| c.is_ascii_graphic()), "unprintable body byte");
    if fmt == BodyFormat::Raw {
        assert!(!b.contains('+'), "a raw body must write + as %2B");
    }
    let cost: usize = events.iter().map(|e| fmt.event_cost(e)).sum();
    let want_len = fmt.overhead() + cost - if events.is_empty() { 0 } else { 3 };
    assert_eq!(b.len(), want_len, "the cost model is not the body's length");
    let json = body_json(b, fmt).unwrap_or_else(|e| panic!("{fmt:?} body does not decode: {e}"));
    assert_eq!(json, format!("{{\"events\":[{}]}}", events.join(",")));
    let v: serde_json::Value = serde_json::from_str(&json).expect("the body's JSON");
    let arr = v["events"].as_array().expect("an events array");
    assert_eq!(arr.len(), events.len());
    for (got, want) in arr.iter().zip(events) {
        assert_eq!(
            got,
            &serde_json::from_str::<serde_json::Value>(want).expect("event JSON")
        );
    }
}

/// Checks `split` (and `take`, its first step) for `events`.
pub fn check_split(events: &[String], max_events: usize, max_bytes: Option<usize>, fmt: BodyFormat) {
    let costs: Vec<usize> = events.iter().map(|e| fmt.event_cost(e)).collect();
    let cap = max_events.clamp(1, MAX_EVENTS);
    let sizes = batch::split(&costs, max_events, max_bytes, fmt);
    let first = batch::take(costs.iter().copied(), max_events, max_bytes, fmt);
    assert_eq!(first, sizes.first().copied().unwrap_or(0), "take and split disagree");
    assert_eq!(sizes.iter().sum::<usize>(), events.len(), "split lost or added events");
    let mut at = 0;
    for (i, &n) in sizes.iter().enumerate() {
        assert!((1..=cap).contains(&n), "a batch of {n} (cap {cap})");
        // Body lengths by the cost model, which `check_body` holds to the
        // real length; the first batch is also measured.
        let len_of = |k: usize| fmt.overhead() + costs[at..at + k].iter().sum::<usize>() - 3;
        let len = len_of(n);
        if i == 0 {
            assert_eq!(body(&events[..n], fmt).len(), len, "cost model");
        }
        if let Some(m) = max_bytes {
            assert!(n == 1 || len <= m, "a body of {len} bytes over the budget of {m}");
        }
        let last = i + 1 == sizes.len();
        if !last && n < cap {
            // It stopped early: one more event would not have fitted.
            let more = len_of(n + 1);
            assert!(
                max_bytes.is_some_and(|m| more > m),
                "a batch of {n} could have taken one more ({more} bytes)"
            );
        }
        assert_eq!(
            batch::take(costs[at..].iter().copied(), max_events, max_bytes, fmt),
            n,
            "take from the batch's start"
        );
        at += n;
    }
}

/// Runs the checks on `data`.
pub fn check(data: &[u8]) {
    let mut inp = Input::new(data);
    let max_events = inp.below(400);
    let max_bytes = inp.bool().then(|| inp.below(12_000));
    let evs = events(&mut inp);
    for e in &evs {
        parse_flat(e).expect("a flat event");
    }
    for fmt in [BodyFormat::Form, BodyFormat::Raw] {
        check_body(&evs, fmt);
        check_split(&evs, max_events, max_bytes, fmt);
    }
    // Past the 300-event cap.
    let per: usize = evs.iter().map(String::len).sum();
    if !evs.is_empty() && per * 320 / evs.len() < 30_000 {
        let many: Vec<String> = evs.iter().cycle().take(320).cloned().collect();
        check_split(&many, max_events, max_bytes, BodyFormat::Raw);
    }
}
