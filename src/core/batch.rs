//! Request bodies and batching.
//!
//! A request carries `{"events":[...]}` percent-encoded as
//! `encodeURIComponent` does, either after `data=` (the form body every
//! official tracker sends: a form decoder such as `URLSearchParams` reads it
//! back, `%20` as a space included) or alone (the raw body of CoolaData's
//! curl example). The core writes the JSON ([`write_json`]) and decides the
//! format and the size; the JavaScript shell percent-encodes with the
//! platform's own `encodeURIComponent` (four times faster than a
//! `URLSearchParams` serialisation in Chromium), which [`write_body`]
//! matches byte for byte. Batches keep event order, hold at
//! most [`MAX_EVENTS`] events, and stay under a byte budget where one is given.

use crate::core::form;
#[allow(unused_imports)]
use crate::prelude::*;

/// CoolaData's limit of events in one call.
pub const MAX_EVENTS: usize = 300;

/// What a request's JSON starts with, before its events.
pub const OPEN: &str = "{\"events\":[";
/// What a request's JSON ends with, after its events.
pub const CLOSE: &str = "]}";

/// The length of [`OPEN`] and [`CLOSE`] percent-encoded, `%7B%22events%22%3A%5B`
/// and `%5D%7D` (a constant: nothing to count per request; a test checks it).
const OPEN_CLOSE_ENCODED: usize = 27;

/// How the JSON is put in the request body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyFormat {
    /// `data=` + the JSON form-encoded (`application/x-www-form-urlencoded`).
    #[default]
    Form,
    /// The JSON percent-encoded as `encodeURIComponent` does, with no `data=`.
    Raw,
}

impl BodyFormat {
    /// Reads `"form"` or `"raw"`.
    pub fn parse(s: &str) -> Option<BodyFormat> {
        match s {
            "form" => Some(BodyFormat::Form),
            "raw" => Some(BodyFormat::Raw),
            _ => None,
        }
    }

    /// What goes before the encoded JSON: `data=` for the form format.
    pub fn prefix(self) -> &'static str {
        match self {
            BodyFormat::Form => "data=",
            BodyFormat::Raw => "",
        }
    }

    /// Bytes of a body holding no event: the `data=` prefix and the encoded
    /// `{"events":[` and `]}` around the events.
    pub fn overhead(self) -> usize {
        self.prefix().len() + OPEN_CLOSE_ENCODED
    }

    /// Bytes one event adds to a body: its encoded JSON and the encoded comma
    /// before it (counted for every event, so a sum over-counts by one comma).
    pub fn event_cost(self, event_json: &str) -> usize {
        form::encoded_len(event_json, true) + 3
    }
}

/// Appends the JSON a request carries, `{"events":[...]}`, for `events`
/// (each one event's JSON object).
#[inline(always)]
pub fn write_json<'a>(out: &mut String, events: impl IntoIterator<Item = &'a str>) {
    out.push_str(OPEN);
    for (i, e) in events.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(e);
    }
    out.push_str(CLOSE);
}

/// The request body for the JSON [`write_json`] wrote, as the shell sends
/// it: [`BodyFormat::prefix`] + `encodeURIComponent(json)`; here in Rust
/// (host tests, fuzzing).
pub fn encode_body(json: &str, fmt: BodyFormat) -> String {
    let mut out = String::from(fmt.prefix());
    form::push_component(&mut out, json);
    out
}

/// Appends the request body for `events`: [`write_json`] then [`encode_body`].
pub fn write_body<'a>(out: &mut String, events: impl IntoIterator<Item = &'a str>, fmt: BodyFormat) {
    let mut json = String::new();
    write_json(&mut json, events);
    out.push_str(&encode_body(&json, fmt));
}

/// How many events from the front of a queue go in the next request: as many
/// as fit in `max_events` (capped at [`MAX_EVENTS`]) and, when `max_bytes` is
/// given, in that many body bytes. `costs` are the events' [`BodyFormat::event_cost`].
/// At least one event is taken when there is one, even if it alone exceeds
/// the budget: an event is never split or dropped here.
pub fn take(
    costs: impl IntoIterator<Item = usize>,
    max_events: usize,
    max_bytes: Option<usize>,
    fmt: BodyFormat,
) -> usize {
    let max_events = max_events.clamp(1, MAX_EVENTS);
    let mut used = fmt.overhead();
    let mut n = 0;
    for cost in costs.into_iter().take(max_events) {
        used = used.saturating_add(cost);
        if n > 0 && max_bytes.is_some_and(|m| used > m + 3) {
            break;
        }
        n += 1;
    }
    n
}

/// Splits events with the given costs into consecutive batches, returning
/// each batch's length. Every event is in exactly one batch, in order.
pub fn split(costs: &[usize], max_events: usize, max_bytes: Option<usize>, fmt: BodyFormat) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = costs;
    while !rest.is_empty() {
        let n = take(rest.iter().copied(), max_events, max_bytes, fmt).max(1);
        out.push(n);
        rest = rest.get(n..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::form::tests::decode;
    use proptest::prelude::*;

    #[test]
    fn the_encoded_open_and_close_are_27_bytes() {
        let n = form::encoded_len(OPEN, true) + form::encoded_len(CLOSE, true);
        assert_eq!(n, OPEN_CLOSE_ENCODED);
    }

    fn body(events: &[&str], fmt: BodyFormat) -> String {
        let mut out = String::new();
        write_body(&mut out, events.iter().copied(), fmt);
        out
    }

    #[test]
    fn form_and_raw_bodies() {
        let e = [r#"{"a":"x y+z"}"#, r#"{"b":1}"#];
        let f = body(&e, BodyFormat::Form);
        assert!(f.starts_with("data=%7B%22events%22%3A%5B"));
        // encodeURIComponent's flavour: a form decoder reads %20 as a space.
        assert!(f.contains("x%20y%2Bz"));
        assert_eq!(
            decode(&f["data=".len()..], true),
            r#"{"events":[{"a":"x y+z"},{"b":1}]}"#
        );
        let r = body(&e, BodyFormat::Raw);
        assert!(r.contains("%2B"));
        assert_eq!(decode(&r, false), r#"{"events":[{"a":"x y+z"},{"b":1}]}"#);
    }

    #[test]
    fn cost_model_is_exact() {
        for fmt in [BodyFormat::Form, BodyFormat::Raw] {
            let e = [r#"{"a":"é"}"#, r#"{"b":1}"#, r#"{"c":"~"}"#];
            let sum: usize = e.iter().map(|x| fmt.event_cost(x)).sum();
            assert_eq!(body(&e, fmt).len(), fmt.overhead() + sum - 3);
            assert_eq!(body(&[], fmt).len(), fmt.overhead());
        }
    }

    #[test]
    fn caps_at_300() {
        assert_eq!(
            take(std::iter::repeat(10).take(1000), 5000, None, BodyFormat::Form),
            300
        );
        assert_eq!(split(&[10; 601], 300, None, BodyFormat::Form), vec![300, 300, 1]);
    }

    #[test]
    fn oversized_event_goes_alone() {
        assert_eq!(split(&[10, 500, 10], 300, Some(100), BodyFormat::Raw), vec![1, 1, 1]);
    }

    proptest! {
        #[test]
        fn batching_keeps_order_count_and_limits(
            lens in proptest::collection::vec(1usize..400, 0..900),
            max_events in 1usize..400,
            max_bytes in 50usize..5000,
            raw in any::<bool>(),
        ) {
            let fmt = if raw { BodyFormat::Raw } else { BodyFormat::Form };
            let events: Vec<String> = lens.iter().enumerate()
                .map(|(i, n)| format!("{{\"i\":{i},\"p\":\"{}\"}}", "x".repeat(*n)))
                .collect();
            let costs: Vec<usize> = events.iter().map(|e| fmt.event_cost(e)).collect();
            let sizes = split(&costs, max_events, Some(max_bytes), fmt);
            prop_assert_eq!(sizes.iter().sum::<usize>(), events.len());
            let mut at = 0;
            for n in sizes {
                prop_assert!(n >= 1 && n <= max_events.min(MAX_EVENTS));
                let b = body(&events[at..at + n].iter().map(|s| s.as_str()).collect::<Vec<_>>(), fmt);
                prop_assert!(n == 1 || b.len() <= max_bytes, "{} > {}", b.len(), max_bytes);
                let json = if raw { decode(&b, false) } else { decode(&b[5..], true) };
                let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                let arr = v["events"].as_array().unwrap();
                for (k, e) in arr.iter().enumerate() {
                    prop_assert_eq!(e["i"].as_u64().unwrap() as usize, at + k);
                }
                at += n;
            }
        }
    }
}
