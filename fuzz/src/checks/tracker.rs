//! `tracker`: the sans-IO state machine driven by a random sequence of
//! operations (track, advance the clock, ask for a request, answer one,
//! unload, take the notices, close, set the user id), checked against a
//! model of every event's fate after each step.
//!
//! Invariants:
//! - `pending()` is events tracked − acknowledged − dropped, and at every
//!   `take_notices` the dropped ones are exactly those counted by the notices
//!   (`queue_full`, `event_expired`, `request_failed` other than 403, which
//!   keeps its events);
//! - an event leaves the queue only when acknowledged or dropped, is never
//!   acknowledged twice, never in two requests at once, and never sent after
//!   it was acknowledged or dropped;
//! - every body decodes to events that were tracked, in tracking order, each
//!   exactly as queued; a request takes the oldest events it may;
//! - at most one regular (not unload) request is in flight (none at all when
//!   `next_request` answers); keepalive bodies stay within the unload budget;
//! - with a keepalive budget, a regular request goes with keepalive exactly
//!   when its body fits; unload re-sends the events of a request in flight
//!   without keepalive and never those of one with it, nor those of a
//!   keepalive request that failed with a network error (held until the next
//!   `next_request` that gets to send);
//! - 403 stops all sending; answers are classified as the retry policy says
//!   (ack, reject, retry with backoff and `Retry-After`, give up after
//!   `max_tries`, split on 413);
//! - page hide goes as the shell makes it, `unload` then `unload_request`
//!   one at a time, an event tracked between two sometimes: the budget left
//!   is the budget less every keepalive body in flight;
//! - `persist` mirrors the queue in storage, made at once or held back as
//!   the shell makes it (every write answers true, made after it returned,
//!   one refused with the writes after it, then `persisted`): refused
//!   events are written again, and until a write is taken each persist
//!   tries one event only (`persisted` then asks for another when more wait);
//! - at the end, answering 200 to everything and forcing requests empties the
//!   queue (unless stopped by a 403), every tracked event having been either
//!   acknowledged or reported.

use std::collections::{BTreeMap, HashMap, HashSet};

use coola_tracker::core::batch::{BodyFormat, MAX_EVENTS};
use coola_tracker::core::config::Config;
use coola_tracker::core::error::ErrorCode;
use coola_tracker::core::event::{EVENT_NAME, RESERVED, TIMESTAMP, USER_ID};
use coola_tracker::core::timestamp::{MAX_PAST_MS, MIN_MS};
use coola_tracker::core::tracker::{Lifecycle, Outcome, Request, Tracker};

use super::input::Input;
use super::wire::{body_json, parse_flat, write_entry, Tok, DAYS, MONTHS};
use super::{allowed, tracing};

const APP_KEY: &str = "SECRET-app-key-1234";
const START_MS: i64 = 1_420_452_000_000;
const STATUSES: [u16; 10] = [0, 200, 200, 400, 403, 408, 413, 429, 500, 503];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Queued,
    Flight(u64),
    /// Of a keepalive request that failed with a network error.
    Held(u64),
    Acked,
    Dropped,
}

/// What the model knows of one tracked event.
struct Ev {
    state: State,
    /// The queued JSON, once seen in `queued()`.
    json: Option<String>,
    /// Event time (`i64::MAX` with server timestamps).
    time: i64,
    /// What the event must hold: (name, value) of string properties.
    expect: Vec<(String, String)>,
}

/// A request in flight.
struct Sent {
    id: u64,
    seqs: Vec<u64>,
    keepalive: bool,
    /// Sent by `unload_requests`.
    unload: bool,
    bytes: usize,
}

struct Model {
    t: Tracker,
    fmt: BodyFormat,
    batch_size: usize,
    max_queue: usize,
    max_tries: u32,
    server_ts: bool,
    now: i64,
    evs: BTreeMap<u64, Ev>,
    ids: HashMap<String, u64>,
    flights: Vec<Sent>,
    last_request_id: u64,
    requests: u64,
    acked: u64,
    dropped: u64,
    reported: u64,
    stopped: bool,
    closed: bool,
    /// Non-keepalive retries since the last ack or give-up (the tracker's count).
    tries_since_ack: u32,
    /// Non-keepalive retries of the current batch.
    tries_of_batch: u32,
    split_limit: Option<usize>,
    saw_403_notice: bool,
    /// Backoff cap (`retry_max_ms`).
    retry_max_ms: i64,
    /// Events read back from storage at the start (not counted as tracked).
    restored: u64,
    /// The durable storage as `persist` left it: seq -> JSON.
    storage: BTreeMap<u64, String>,
    /// The contexts `persist` wrote: number -> JSON.
    contexts: BTreeMap<u64, String>,
    /// Events dropped for age.
    expired: HashSet<u64>,
    /// `set_keepalive_budget` (0: not in a page).
    keepalive_budget: usize,
    /// `persisted` was told of a refused write, and no write since: each
    /// persist tries one event only.
    probing: bool,
}

/// What `Tracker::new` takes: config, seed, anonymous id, environment defaults
/// (half the inputs, by the seed's low bit, go through `Tracker::with_env`
/// instead, as the shell does).
type Setup = (Config, [u32; 4], Option<String>, Vec<(String, String)>);

fn decode_config(inp: &mut Input) -> Setup {
    let b = inp.u8();
    let mut cfg = Config {
        app_key: APP_KEY.to_string(),
        ..Config::default()
    };
    cfg.body_format = if b & 1 != 0 { BodyFormat::Raw } else { BodyFormat::Form };
    cfg.server_timestamp = b & 2 != 0;
    cfg.batch_size = if b & 4 != 0 {
        inp.pick(&[1, 2, 3, 5, MAX_EVENTS])
    } else {
        1 + inp.below(8)
    };
    cfg.max_queue_size = 1 + inp.below(40);
    cfg.max_tries = 1 + inp.below(4) as u32;
    if b & 8 != 0 {
        cfg.user_id = Some(format!("cfg-{}", inp.string(8)));
    }
    if b & 16 != 0 {
        cfg.session_ip = Some("0".into());
    }
    if b & 32 != 0 {
        cfg.session_dua = Some(inp.pick(&["", "Agent/1.0"]).to_string());
    }
    if b & 128 != 0 {
        cfg.retry_base_ms = 1 + inp.below(5000) as u64;
        cfg.retry_max_ms = cfg.retry_base_ms + inp.below(100_000) as u64;
    }
    let seed = [inp.u32(), inp.u32(), inp.u32(), inp.u32()];
    let anon = (b & 64 != 0).then(|| format!("anon-{}", inp.string(8)));
    let mut env = Vec::new();
    for k in [
        "session_dua",
        "session_screen_size",
        "tracker_type",
        "event_timezone_offset",
    ] {
        if inp.bool() {
            let v = if k == "event_timezone_offset" && inp.bool() {
                inp.pick(&["5.5", "-3", "0", "1e2"]).to_string()
            } else {
                inp.string(12)
            };
            env.push((k.to_string(), v));
        }
    }
    (cfg, seed, anon, env)
}

/// The environment's pairs as the shell's `environment()` writes them (the
/// entries form): a number as `n`, any other text as `p`. `tracker_type` is
/// left out: the shell never writes it, `with_env` adds its own.
fn env_text(env: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in env.iter().filter(|(k, _)| k != "tracker_type") {
        let number = k == "event_timezone_offset" && v.parse::<f64>().is_ok_and(f64::is_finite);
        super::wire::write_entry(&mut out, if number { 'n' } else { 'p' }, k, v);
    }
    out
}

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_digit() || (b'a'..=b'f').contains(c)
            }
        })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

fn http_date(ms: i64) -> String {
    let (y, mo, d, h, mi, s, _, wd) = super::wire::parts(ms, 0);
    format!(
        "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        DAYS[wd],
        MONTHS[mo as usize - 1]
    )
}

impl Model {
    fn new(inp: &mut Input) -> Model {
        let (cfg, seed, anon, env) = decode_config(inp);
        let retry_max_ms = cfg.retry_max_ms as i64;
        let mut m = Model {
            fmt: cfg.body_format,
            batch_size: cfg.batch_size,
            max_queue: cfg.max_queue_size,
            max_tries: cfg.max_tries,
            server_ts: cfg.server_timestamp,
            t: if seed[0] & 1 == 0 {
                Tracker::new(cfg, seed, anon, env)
            } else {
                // The shell's constructor: the same properties as the text
                // `environment()` gives (numbers tagged `n`, texts `p`).
                Tracker::with_env(cfg, seed, anon, &env_text(&env), true)
            },
            now: START_MS + i64::from(inp.u32()) * 1000,
            evs: BTreeMap::new(),
            ids: HashMap::new(),
            flights: Vec::new(),
            last_request_id: 0,
            requests: 0,
            acked: 0,
            dropped: 0,
            reported: 0,
            stopped: false,
            closed: false,
            tries_since_ack: 0,
            tries_of_batch: 0,
            split_limit: None,
            saw_403_notice: false,
            retry_max_ms,
            restored: 0,
            storage: BTreeMap::new(),
            contexts: BTreeMap::new(),
            expired: HashSet::new(),
            keepalive_budget: 0,
            probing: false,
        };
        assert!(!m.t.user_id().is_empty());
        if inp.bool() {
            m.keepalive_budget = inp.pick(&[0, 300, 2000, 65_536]);
            m.t.set_keepalive_budget(m.keepalive_budget);
        }
        // Events read back from storage, as a new page would.
        for i in 0..inp.below(4) {
            let time = if m.server_ts {
                i64::MAX
            } else {
                m.now - inp.pick(&[0, 86_400_000, MAX_PAST_MS - 1])
            };
            let id = format!("restored-{i}");
            let ts = if m.server_ts { m.now } else { time };
            let json = format!(
                "{{\"event_name\":\"r\",\"user_id\":\"u\",\"event_timestamp_epoch\":{ts},\"event_id\":\"{id}\"}}"
            );
            let seq = m.t.next_seq();
            let before = m.t.stats().tracked;
            m.t.restore(json, time);
            assert_eq!(m.t.stats().tracked, before, "a restored event counted as tracked");
            m.ids.insert(id.clone(), seq);
            m.evs.insert(
                seq,
                Ev {
                    state: State::Queued,
                    json: None,
                    time,
                    expect: vec![("event_id".into(), id)],
                },
            );
            m.restored += 1;
        }
        m
    }

    fn live(&self) -> usize {
        self.evs
            .values()
            .filter(|e| matches!(e.state, State::Queued | State::Flight(_) | State::Held(_)))
            .count()
    }

    /// Compares the model with `queued()`, `pending()` and `stats()`;
    /// returns the events that left the queue unacknowledged since last time.
    fn sync(&mut self) -> Vec<u64> {
        let queued: Vec<(u64, &str)> = self.t.queued().collect();
        assert!(queued.windows(2).all(|w| w[0].0 < w[1].0), "queued() out of order");
        let present: HashSet<u64> = queued.iter().map(|(s, _)| *s).collect();
        let server_ts = self.server_ts;
        for &(seq, json) in &queued {
            let ev = self
                .evs
                .get_mut(&seq)
                .unwrap_or_else(|| panic!("queued event {seq} was never tracked"));
            assert!(
                matches!(ev.state, State::Queued | State::Flight(_) | State::Held(_)),
                "event {seq} is queued again after it was {:?}",
                ev.state
            );
            match &ev.json {
                Some(j) => assert_eq!(j, json, "the JSON of queued event {seq} changed"),
                None => {
                    check_event_json(json, ev, server_ts);
                    ev.json = Some(json.to_string());
                }
            }
        }
        let mut gone = Vec::new();
        for (seq, ev) in self.evs.iter_mut() {
            if matches!(ev.state, State::Queued | State::Flight(_) | State::Held(_)) && !present.contains(seq) {
                assert_eq!(ev.state, State::Queued, "event {seq} left the queue while in flight");
                ev.state = State::Dropped;
                gone.push(*seq);
            }
        }
        self.dropped += gone.len() as u64;
        let n_queued = queued.len();
        let live = self.live();
        assert_eq!(
            self.t.pending(),
            live,
            "pending() is not tracked - acknowledged - dropped"
        );
        assert_eq!(n_queued, live);
        let st = self.t.stats();
        assert_eq!(st.tracked, self.evs.len() as u64 - self.restored, "stats.tracked");
        assert_eq!(st.delivered, self.acked, "stats.delivered");
        assert_eq!(st.dropped, self.dropped, "stats.dropped");
        assert_eq!(st.requests, self.requests, "stats.requests");
        assert_eq!(self.t.in_flight(), !self.flights.is_empty(), "in_flight()");
        let ready = self.flights.is_empty()
            && !self.stopped
            && self.t.retry_at(self.now).is_none()
            && self.t.pending() >= self.batch_size;
        assert_eq!(self.t.batch_ready(self.now), ready, "batch_ready()");
        gone
    }

    fn track(&mut self, inp: &mut Input) {
        let mut s = String::new();
        let mut keys: HashSet<String> = HashSet::new();
        let mut expect = Vec::new();
        for k in ["page_url", "page_title", "referring_url"] {
            if inp.u8() % 4 == 0 {
                write_entry(&mut s, 'p', k, &inp.string(16));
            }
        }
        let name = match inp.u8() % 16 {
            0 => {
                write_entry(&mut s, 'u', EVENT_NAME, "");
                None
            }
            1 => {
                write_entry(&mut s, 's', EVENT_NAME, "");
                None
            }
            2 => {
                write_entry(&mut s, 'n', EVENT_NAME, "5");
                None
            }
            _ => {
                let n = format!("ev{}", inp.string(12));
                write_entry(&mut s, 's', EVENT_NAME, &n);
                Some(n)
            }
        };
        let mut user = None;
        let mut time = None;
        let mut caller_id: Option<String> = None;
        for _ in 0..inp.below(6) {
            let k = match inp.u8() % 12 {
                0 => USER_ID.to_string(),
                1 => TIMESTAMP.to_string(),
                2 => inp
                    .pick(&["page_url", "session_dua", "event_name", "uid", "", "tracker_type"])
                    .to_string(),
                3 if inp.u8() % 4 == 0 => "event_id".to_string(),
                _ => format!("k{}", inp.string(10)),
            };
            // A default the tracker fills when the caller gives none.
            let filled = [
                USER_ID,
                TIMESTAMP,
                "event_id",
                "page_url",
                "session_dua",
                "tracker_type",
            ]
            .contains(&k.as_str());
            if !keys.insert(k.clone()) {
                continue;
            }
            if k == "event_id" {
                // The caller's own id: sent, and returned by track().
                // Unique per tracked event, so bodies map back to it.
                let v = format!("id-{}-{}", self.t.next_seq(), inp.string(8));
                write_entry(&mut s, 's', &k, &v);
                caller_id = Some(v);
                continue;
            }
            if k == TIMESTAMP {
                let ago = inp.pick(&[
                    0,
                    1000,
                    86_400_000,
                    MAX_PAST_MS - 1000,
                    MAX_PAST_MS,
                    MAX_PAST_MS + 1,
                    -3_600_000,
                ]);
                let ms = self.now - ago;
                write_entry(&mut s, 'n', &k, &ms.to_string());
                time = Some(ms);
                continue;
            }
            match inp.u8() % 8 {
                0 => write_entry(&mut s, 'n', &k, inp.pick(&["1", "-2.5", "1e21", "0.1"])),
                1 => write_entry(&mut s, 'b', &k, inp.pick(&["true", "false"])),
                2 if !filled || allowed("absent_hides_default") => write_entry(&mut s, 'u', &k, ""),
                3 if inp.u8() % 8 == 0 => write_entry(&mut s, 'o', &k, ""),
                _ => {
                    let v = inp.string(24);
                    write_entry(&mut s, 's', &k, &v);
                    if k == USER_ID {
                        user = Some(v);
                    } else if k != EVENT_NAME && !k.is_empty() && !RESERVED.contains(&k.as_str()) {
                        expect.push((k.clone(), v));
                    }
                }
            }
        }
        if inp.u8() % 32 == 0 {
            s.push_str(inp.pick(&["s9:", "q1:a1:b", "X0:6:string", "K0:0:"]));
        }
        let before = (self.t.pending(), self.t.stats(), self.t.next_seq());
        let mut waiting = self.waiting(u64::MAX);
        let default_user = self.t.user_id().to_string();
        match self.t.track_encoded(self.now, &s) {
            Ok(id) => {
                assert!(!self.closed, "track after close");
                let seq = self.t.next_seq() - 1;
                assert_eq!(seq, before.2, "sequence numbers");
                match &caller_id {
                    Some(c) => assert_eq!(&id, c, "track() returns the caller's event_id"),
                    None => assert!(is_uuid_v4(&id), "event id {id:?}"),
                }
                assert!(self.ids.insert(id.clone(), seq).is_none(), "event id {id} given twice");
                let name = name.expect("an event without a name was accepted");
                expect.push((EVENT_NAME.into(), name));
                expect.push((USER_ID.into(), user.filter(|u| !u.is_empty()).unwrap_or(default_user)));
                expect.push(("event_id".into(), id.clone()));
                let time = if self.server_ts {
                    i64::MAX
                } else {
                    time.unwrap_or(self.now)
                };
                self.evs.insert(
                    seq,
                    Ev {
                        state: State::Queued,
                        json: None,
                        time,
                        expect,
                    },
                );
                // Overflow drops the oldest events not in flight, down to max_queue_size.
                waiting.push(seq);
                let gone = self.sync();
                let over = (self.live() + gone.len()).saturating_sub(self.max_queue);
                assert_eq!(
                    gone,
                    waiting[..over.min(waiting.len())],
                    "overflow must drop the oldest events"
                );
                assert!(self.live() <= self.max_queue || self.evs.values().all(|e| e.state != State::Queued));
            }
            Err(e) => {
                if self.closed {
                    assert_eq!(e.code, ErrorCode::TrackerClosed);
                }
                assert!(!e.message.is_empty() && !e.message.contains(APP_KEY));
                let after = (self.t.pending(), self.t.stats(), self.t.next_seq());
                assert_eq!(before, after, "a refused event changed the queue: {e:?}");
            }
        }
    }

    /// Checks a request just returned and records it as in flight.
    /// `candidates` are the events it may take, oldest first: it must take
    /// the first ones.
    fn sent(&mut self, req: &Request, unload: bool, limit: usize, candidates: &[u64]) -> Vec<u64> {
        let in_flight: usize = self.flights.iter().filter(|f| f.keepalive).map(|f| f.bytes).sum();
        let keepalive = unload || req.bytes + in_flight <= self.keepalive_budget;
        assert_eq!(req.keepalive, keepalive, "keepalive of a {} byte body", req.bytes);
        assert!(req.id > self.last_request_id, "request ids must grow");
        self.last_request_id = req.id;
        let body = req.body(self.fmt);
        assert_eq!(body.len(), req.bytes, "the body's size as the core counts it");
        let json = body_json(&body, self.fmt).unwrap_or_else(|e| panic!("request body does not decode: {e}"));
        assert_eq!(json, req.json, "the body carries the request's JSON");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("body JSON: {e}"));
        let events = v["events"].as_array().expect("an events array");
        let mut seqs = Vec::new();
        for e in events {
            let id = e["event_id"].as_str().expect("an event_id");
            let seq = *self
                .ids
                .get(id)
                .unwrap_or_else(|| panic!("a body carries event {id}, never tracked"));
            let ev = &self.evs[&seq];
            assert_eq!(ev.state, State::Queued, "event {seq} sent while {:?}", ev.state);
            seqs.push(seq);
        }
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a body out of tracking order: {seqs:?}"
        );
        assert_eq!(req.events, seqs.len(), "Request::events");
        assert!(
            (1..=limit.min(MAX_EVENTS)).contains(&seqs.len()),
            "{} events, limit {limit}",
            seqs.len()
        );
        assert_eq!(
            &candidates[..seqs.len().min(candidates.len())],
            &seqs[..],
            "not the oldest events"
        );
        let jsons: Vec<&str> = seqs
            .iter()
            .map(|s| self.evs[s].json.as_deref().expect("sent before it was seen queued"))
            .collect();
        assert_eq!(
            json,
            format!("{{\"events\":[{}]}}", jsons.join(",")),
            "the body is not the queued events"
        );
        for s in &seqs {
            self.evs.get_mut(s).expect("known").state = State::Flight(req.id);
        }
        self.flights.push(Sent {
            id: req.id,
            seqs: seqs.clone(),
            keepalive,
            unload,
            bytes: req.bytes,
        });
        self.requests += 1;
        seqs
    }

    /// Model events still queued and not in flight, oldest first, below `bound`.
    fn waiting(&self, bound: u64) -> Vec<u64> {
        let queued: HashSet<u64> = self.t.queued().map(|(s, _)| s).collect();
        self.evs
            .iter()
            .filter(|(s, e)| e.state == State::Queued && **s < bound && queued.contains(s))
            .map(|(s, _)| *s)
            .collect()
    }

    /// The events held after a keepalive request's network error go back
    /// to the queue (the tracker does it when a request may go out).
    fn release_held(&mut self) {
        for e in self.evs.values_mut() {
            if matches!(e.state, State::Held(_)) {
                e.state = State::Queued;
            }
        }
    }

    /// After an expiry pass: nothing waiting is older than 30 days.
    fn check_expired(&mut self, gone: &[u64]) {
        if self.server_ts {
            assert!(gone.is_empty(), "events expired with server timestamps");
            return;
        }
        let oldest = self.now - MAX_PAST_MS;
        for s in gone {
            assert!(self.evs[s].time < oldest, "event {s} dropped though not expired");
        }
        self.expired.extend(gone);
        for (s, e) in &self.evs {
            if e.state == State::Queued {
                assert!(e.time >= oldest, "event {s} older than 30 days stays queued");
            }
        }
    }

    fn next_request(&mut self, inp: &mut Input) {
        let force = inp.bool();
        let bound = match inp.u8() % 4 {
            0 => Some(self.t.next_seq()),
            1 => Some(1 + inp.below(self.t.next_seq() as usize) as u64),
            _ => None,
        };
        let backoff = self.t.retry_at(self.now);
        let idle = self.flights.is_empty() && !self.stopped && (force || backoff.is_none());
        if idle {
            self.release_held();
        }
        let r = self.t.next_request(self.now, force, bound);
        let b = bound.unwrap_or(u64::MAX);
        let gone = if let Some(req) = r {
            assert!(idle, "a request while in flight, stopped or backing off");
            // Expiry runs first: the candidates are what is still queued.
            let cands = self.waiting(b);
            let limit = self.split_limit.unwrap_or(self.batch_size);
            self.sent(&req, false, limit, &cands);
            let gone = self.sync();
            self.check_expired(&gone);
            gone
        } else {
            let gone = self.sync();
            if idle {
                self.check_expired(&gone);
                assert!(self.waiting(b).is_empty(), "events waiting yet no request");
            } else {
                assert!(gone.is_empty(), "events dropped by a next_request that did nothing");
            }
            gone
        };
        let _ = gone;
    }

    fn unload(&mut self, inp: &mut Input) {
        let budget = match inp.u8() % 4 {
            0 => 65_536,
            1 => inp.pick(&[0, 50, 200, 1000]),
            _ => usize::from(inp.u16()),
        };
        if !self.stopped {
            // A request without keepalive dies with the page: its events go out again.
            for f in self.flights.iter().filter(|f| !f.keepalive) {
                for s in &f.seqs {
                    self.evs.get_mut(s).expect("known").state = State::Queued;
                }
            }
            self.flights.retain(|f| f.keepalive);
        }
        let keepalive_bytes: usize = self.flights.iter().filter(|f| f.keepalive).map(|f| f.bytes).sum();
        // As the shell does it: `unload`, then `unload_request` one at a
        // time; a page's own `fetch` wrapper may track an event between two.
        let mut left = self.t.unload(self.now, budget);
        let expect = if self.stopped {
            0
        } else {
            budget.saturating_sub(keepalive_bytes)
        };
        assert_eq!(left, expect, "the budget unload leaves");
        let mut reqs = Vec::new();
        let mut cands = self.waiting(u64::MAX);
        let mut total = 0;
        while let Some(req) = self.t.unload_request(&mut left) {
            assert!(!self.stopped, "unload requests after a 403");
            let took = self.sent(&req, true, self.batch_size, &cands);
            total += req.bytes;
            assert_eq!(left, budget.saturating_sub(keepalive_bytes + total), "the budget left");
            reqs.push(req);
            self.sync();
            if !took.is_empty() && inp.u8() % 8 == 0 {
                self.track(inp);
            }
            cands = self.waiting(u64::MAX);
        }
        if self.stopped {
            assert!(self.sync().is_empty());
            return;
        }
        assert!(
            reqs.is_empty() || keepalive_bytes + total <= budget,
            "keepalive bodies of {total} + {keepalive_bytes} bytes over a budget of {budget}"
        );
        let gone = self.sync();
        self.check_expired(&gone);
        if let Some(next) = cands.first() {
            // What stays queued did not fit.
            let json = self.evs[next].json.as_deref().expect("seen");
            let alone = self.fmt.overhead() + self.fmt.event_cost(json) - 3;
            let left = budget.saturating_sub(keepalive_bytes + total);
            assert!(
                alone > left,
                "event {next} ({alone} bytes) fits the {left} bytes left, yet stays queued"
            );
        }
    }

    fn respond(&mut self, inp: &mut Input) {
        if self.flights.is_empty() || inp.u8() % 16 == 0 {
            let stale = (self.last_request_id + 1).saturating_sub(inp.below(3) as u64);
            if self.flights.iter().all(|f| f.id != stale) {
                let before = (self.t.pending(), self.t.stats());
                let out = self.t.on_response(stale, self.now, 200, None, false);
                assert_eq!(out, Outcome::default(), "an answer to request {stale}, not in flight");
                assert_eq!(before, (self.t.pending(), self.t.stats()));
                return;
            }
        }
        let i = inp.below(self.flights.len());
        let status = inp.pick(&STATUSES);
        let status_false = status == 200 && inp.u8() % 4 == 0;
        let retry_after = match inp.u8() % 6 {
            0 => Some("0".to_string()),
            1 => Some("2".to_string()),
            2 => Some("120".to_string()),
            3 => Some(http_date(self.now + 30_000)),
            4 => Some("soon".to_string()),
            _ => None,
        };
        self.answer(i, status, status_false, retry_after.as_deref());
    }

    fn answer(&mut self, i: usize, status: u16, status_false: bool, retry_after: Option<&str>) {
        let f = self.flights.swap_remove(i);
        let n = f.seqs.len();
        let out = self.t.on_response(f.id, self.now, status, retry_after, status_false);
        let ok = (200..300).contains(&status) && !status_false;
        assert_eq!(
            out,
            Outcome {
                sent: if ok { n } else { 0 },
                failed: if ok { 0 } else { n }
            },
            "{status}"
        );
        let mut want_gone: Vec<u64> = Vec::new();
        let retry = matches!(status, 0 | 408 | 429 | 500 | 502..=504);
        let split = status == 413 && n > 1;
        if ok {
            for s in &f.seqs {
                let ev = self.evs.get_mut(s).expect("known");
                assert_eq!(ev.state, State::Flight(f.id), "event {s}");
                ev.state = State::Acked;
            }
            self.acked += n as u64;
            if !f.unload {
                self.tries_since_ack = 0;
                self.tries_of_batch = 0;
                self.split_limit = None;
            }
        } else {
            // A network error of a regular keepalive request not given up: held.
            let hold = status == 0 && f.keepalive && !f.unload && self.tries_of_batch + 1 < self.max_tries;
            for s in &f.seqs {
                self.evs.get_mut(s).expect("known").state = if hold { State::Held(f.id) } else { State::Queued };
            }
            if status == 403 {
                self.stopped = true;
            } else if split {
                self.split_limit = Some((n / 2).max(1));
            } else if retry {
                if !f.unload {
                    self.tries_since_ack += 1;
                    self.tries_of_batch += 1;
                }
            } else {
                // Rejected: given up on and reported.
                want_gone.clone_from(&f.seqs);
                if !f.unload {
                    self.tries_of_batch = 0;
                }
            }
        }
        let gone = self.sync();
        if retry && !f.unload && !gone.is_empty() {
            // Given up after the most tries allowed.
            assert!(
                self.tries_since_ack >= self.max_tries,
                "given up after {} tries (max {})",
                self.tries_since_ack,
                self.max_tries
            );
            if allowed("tries_carry_over") {
                assert!(
                    self.tries_of_batch >= self.max_tries,
                    "a batch given up after {} tries of its own (max {}): tries of an earlier, rejected batch counted",
                    self.tries_of_batch,
                    self.max_tries
                );
            }
            want_gone.clone_from(&f.seqs);
            self.tries_since_ack = 0;
            self.tries_of_batch = 0;
        } else if retry && !f.unload {
            assert!(
                self.tries_of_batch < self.max_tries,
                "a batch kept after {} tries (max {})",
                self.tries_of_batch,
                self.max_tries
            );
            if let Some(secs) = retry_after.and_then(|h| h.parse::<i64>().ok()) {
                let wait = (secs * 1000).min(300_000);
                let at = self.t.retry_at(self.now).unwrap_or(self.now);
                assert!(at >= self.now + wait, "Retry-After {secs} s not honoured");
                assert!(
                    at <= self.now + wait.max(self.retry_max_ms),
                    "a wait beyond the cap and Retry-After"
                );
            }
        }
        assert_eq!(
            gone, want_gone,
            "events dropped by an answer {status} to request {}",
            f.id
        );
    }

    /// `persist` with a storage that fails after `fail_after` writes.
    fn persist(&mut self, fail_after: Option<usize>) {
        let (mut puts, mut removes) = (Vec::new(), Vec::new());
        let mut budget = fail_after.unwrap_or(usize::MAX);
        let mut contexts = Vec::new();
        let ok = self.t.persist(
            |seq, json| {
                if budget == 0 {
                    return false;
                }
                budget -= 1;
                puts.push((seq, json.to_string()));
                true
            },
            |n, json| {
                contexts.push((n, json.to_string()));
                true
            },
            |seq| removes.push(seq),
        );
        let probing = self.probing;
        if probing {
            assert!(puts.len() <= 1, "{} events written after a refusal", puts.len());
        }
        self.mirror(puts, contexts, removes);
        // After a refusal, the one event tried was written and more wait:
        // the shell persists again.
        let again = self.t.persisted(None);
        self.probing = false;
        if fail_after.is_none() {
            let unwritten = self.t.queued().count() - self.storage.len();
            assert_eq!(again, probing && unwritten > 0, "persisted() asks again");
        }
        if again {
            self.persist(None);
            return;
        }
        if ok {
            assert_eq!(
                self.storage.len(),
                self.t.queued().count(),
                "persist() said done with events unwritten"
            );
            assert!(!self.t.needs_persist());
        } else {
            assert!(fail_after.is_some(), "persist() failed with no failing write");
            assert!(self.t.needs_persist());
        }
    }

    /// `persist` as the shell makes it: every write held back (each answers
    /// true) and made once it returned, the write `refuse_at` (in order,
    /// events' and contexts') refused with every one after it; then
    /// `persisted` told from which event on nothing was written, and
    /// whether the last context was.
    fn persist_held(&mut self, refuse_at: Option<usize>) {
        // (context?, seq or number, JSON), in the order they were asked for.
        let mut writes: Vec<(bool, u64, String)> = Vec::new();
        let mut removes = Vec::new();
        {
            let w = std::cell::RefCell::new(&mut writes);
            self.t.persist(
                |seq, json| {
                    w.borrow_mut().push((false, seq, json.to_string()));
                    true
                },
                |n, json| {
                    w.borrow_mut().push((true, n, json.to_string()));
                    true
                },
                |seq| removes.push(seq),
            );
        }
        let events = writes.iter().filter(|w| !w.0).count();
        if self.probing {
            assert!(events <= 1, "{events} events written after a refusal");
        }
        let k = refuse_at.filter(|&k| k < writes.len()).unwrap_or(writes.len());
        let refused = (k < writes.len()).then(|| {
            let first = writes[k..].iter().find(|w| !w.0).map_or(u64::MAX, |w| w.1);
            let made = writes.iter().rposition(|w| w.0).map_or(true, |i| i < k);
            (first, made)
        });
        let (mut puts, mut contexts) = (Vec::new(), Vec::new());
        for (ctx, n, json) in writes.drain(..k) {
            if ctx {
                contexts.push((n, json));
            } else {
                puts.push((n, json));
            }
        }
        self.mirror(puts, contexts, removes);
        let again = self.t.persisted(refused);
        let probing = std::mem::replace(&mut self.probing, refused.is_some());
        if refused.is_some() {
            assert!(!again, "persisted() asks again after a refusal");
            if refused.is_some_and(|(first, _)| first != u64::MAX) {
                assert!(self.t.needs_persist(), "refused events are not written again");
            }
        } else {
            let unwritten = self.t.queued().count() - self.storage.len();
            assert_eq!(again, probing && unwritten > 0, "persisted() asks again");
            assert_eq!(
                self.t.needs_persist(),
                unwritten > 0,
                "needs_persist() with {unwritten} unwritten"
            );
            if again {
                self.persist_held(None);
            }
        }
    }

    /// Brings the model's storage up to what `persist` wrote and removed,
    /// and checks that it mirrors the queue.
    fn mirror(&mut self, puts: Vec<(u64, String)>, contexts: Vec<(u64, String)>, removes: Vec<u64>) {
        for (n, json) in contexts {
            assert!(self.contexts.insert(n, json).is_none(), "context {n} written twice");
        }
        let queued: BTreeMap<u64, &str> = self.t.queued().collect();
        // Dropped for age, their keys are left behind (open bug).
        let tolerate = !allowed("expire_keeps_storage");
        if tolerate {
            self.storage
                .retain(|s, _| !self.expired.contains(s) || queued.contains_key(s));
        }
        for seq in removes {
            assert!(!queued.contains_key(&seq), "storage key of queued event {seq} removed");
            let known = self.storage.remove(&seq).is_some();
            assert!(
                known || (tolerate && self.expired.contains(&seq)),
                "removed key {seq}, never written"
            );
        }
        // A stored event may leave out its page's shared part, kept once
        // as a context: the two together must be the queued event.
        for (seq, json) in puts {
            let whole = match json.rsplit_once(",\"\":") {
                Some((head, n)) => {
                    let n: u64 = n
                        .strip_suffix('}')
                        .and_then(|n| n.parse().ok())
                        .expect("a context number");
                    let ctx = self
                        .contexts
                        .get(&n)
                        .unwrap_or_else(|| panic!("event {seq} names context {n}, never written"));
                    format!("{head},{}", &ctx[1..])
                }
                None => json.clone(),
            };
            assert_eq!(
                queued.get(&seq).copied(),
                Some(whole.as_str()),
                "stored event {seq} is not the queued one"
            );
            assert!(self.storage.insert(seq, json).is_none(), "event {seq} written twice");
        }
        let stale: Vec<&u64> = self.storage.keys().filter(|s| !queued.contains_key(s)).collect();
        assert!(stale.is_empty(), "storage keeps events that left the queue: {stale:?}");
    }

    fn take_notices(&mut self) {
        self.sync();
        for e in self.t.take_notices() {
            assert!(!e.message.is_empty() && !e.message.contains(APP_KEY), "{e:?}");
            let count = u64::from(e.count.unwrap_or_else(|| panic!("a notice without a count: {e:?}")));
            assert!(count > 0, "{e:?}");
            match e.code {
                ErrorCode::QueueFull | ErrorCode::EventExpired => self.reported += count,
                ErrorCode::RequestFailed => {
                    let status = e
                        .status
                        .unwrap_or_else(|| panic!("request_failed without a status: {e:?}"));
                    if status == 403 {
                        assert!(!self.saw_403_notice, "the 403 reported twice");
                        self.saw_403_notice = true;
                    } else {
                        self.reported += count;
                    }
                }
                _ => panic!("an unexpected notice: {e:?}"),
            }
        }
        assert!(!self.t.has_notices());
        assert_eq!(
            self.reported, self.dropped,
            "events dropped ({}) but notices counted {}",
            self.dropped, self.reported
        );
    }

    fn step(&mut self, inp: &mut Input) {
        let op = inp.u8() % 16;
        if tracing() {
            let q: Vec<u64> = self.t.queued().map(|(s, _)| s).collect();
            eprintln!(
                "now={} queued={q:?} flights={:?} op={}",
                self.now,
                self.flights
                    .iter()
                    .map(|f| (f.id, &f.seqs, f.keepalive))
                    .collect::<Vec<_>>(),
                [
                    "track",
                    "track",
                    "track",
                    "track",
                    "advance",
                    "next_request",
                    "next_request",
                    "next_request",
                    "respond",
                    "respond",
                    "respond",
                    "unload",
                    "take_notices",
                    "close?",
                    "set_user_id",
                    "persist"
                ][usize::from(op)]
            );
        }
        match op {
            0..=3 => self.track(inp),
            4 => {
                let d = match inp.u8() % 4 {
                    0 => i64::from(inp.u16()),
                    1 => i64::from(inp.u16()) * 1000,
                    2 => i64::from(inp.u8()) * 3_600_000,
                    _ => inp.pick(&[MAX_PAST_MS, MAX_PAST_MS + 1, 86_400_000]),
                };
                self.now = (self.now + d).min(9_000_000_000_000);
            }
            5..=7 => self.next_request(inp),
            8..=10 => self.respond(inp),
            11 => self.unload(inp),
            12 => self.take_notices(),
            13 if inp.u8() % 8 == 0 => {
                self.t.set_durable();
                self.t.close();
                self.closed = true;
                assert_eq!(self.t.state(), Lifecycle::Closed);
            }
            14 => {
                let id = inp.string(6);
                let r = self.t.set_user_id(&id);
                assert_eq!(r.is_err(), id.is_empty());
                if !id.is_empty() {
                    assert_eq!(self.t.user_id(), id);
                }
            }
            15 => match inp.u8() % 4 {
                0 => {
                    let fail_after = inp.below(3);
                    self.persist(Some(fail_after));
                }
                1 => {
                    let refuse_at = (inp.u8() % 2 == 0).then(|| inp.below(4));
                    self.persist_held(refuse_at);
                }
                _ => self.persist(None),
            },
            _ => {}
        }
        self.sync();
    }

    /// Answers 200 to everything and forces requests until the queue is empty.
    fn drain(&mut self) {
        while !self.flights.is_empty() {
            self.answer(0, 200, false, None);
        }
        for _ in 0..=self.evs.len() + 2 {
            if !self.stopped {
                self.release_held();
            }
            let Some(req) = self.t.next_request(self.now, true, None) else {
                let gone = self.sync();
                if !self.stopped {
                    self.check_expired(&gone);
                }
                break;
            };
            assert!(!self.stopped);
            let cands = self.waiting(u64::MAX);
            let limit = self.split_limit.unwrap_or(self.batch_size);
            self.sent(&req, false, limit, &cands);
            let gone = self.sync();
            self.check_expired(&gone);
            self.answer(0, 200, false, None);
        }
        self.take_notices();
        self.persist(None);
        if self.stopped {
            assert_eq!(self.t.pending(), self.live());
        } else {
            assert_eq!(self.t.pending(), 0, "events left after draining");
            assert!(self
                .evs
                .values()
                .all(|e| matches!(e.state, State::Acked | State::Dropped)));
        }
        assert_eq!(self.acked + self.dropped + self.live() as u64, self.evs.len() as u64);
    }
}

/// The first time an event is seen queued: it is a flat event holding what
/// was tracked.
fn check_event_json(json: &str, ev: &Ev, server_ts: bool) {
    let props = parse_flat(json).unwrap_or_else(|e| panic!("queued event: {e}"));
    let mut names = HashSet::new();
    for (k, _) in &props {
        assert!(names.insert(k.as_str()), "property {k:?} twice in {json:.300}");
    }
    for (k, want) in &ev.expect {
        let got = props.iter().find(|(pk, _)| pk == k).map(|(_, v)| v);
        assert_eq!(got, Some(&Tok::Str(want.clone())), "property {k:?} of {json:.300}");
    }
    match props.iter().find(|(k, _)| k == TIMESTAMP).map(|(_, v)| v) {
        Some(Tok::Num(t)) => {
            assert!(t.len() == 13 && t.bytes().all(|b| b.is_ascii_digit()), "{t}");
            if !server_ts {
                assert_eq!(t.parse::<i64>().ok(), Some(ev.time));
            }
        }
        None => assert!(server_ts, "no timestamp in {json:.300}"),
        Some(t) => panic!("timestamp {t:?}"),
    }
    assert!(ev.time == i64::MAX || ev.time >= MIN_MS);
}

/// Runs the checks on `data`.
pub fn check(data: &[u8]) {
    let mut inp = Input::new(data);
    let mut m = Model::new(&mut inp);
    m.sync();
    while !inp.is_empty() {
        m.step(&mut inp);
    }
    m.drain();
}
