//! The edge collector's decisions (`coola-tracker/edge`), with no I/O.
//!
//! The collector Worker receives what a tracker would send CoolaData, puts
//! the validated events on a Cloudflare Queue, and its queue consumer
//! delivers them. This module decides everything on the way:
//!
//! - [`decode_body`]: the request body (`data=` form, or the JSON raw or
//!   percent-encoded) back to its JSON text;
//! - [`pack_messages`] / [`pack_sends`]: events into queue messages of at
//!   most [`MESSAGE_BYTES`], messages into `sendBatch` calls of at most
//!   [`SEND_MESSAGES`] messages and [`SEND_BYTES`];
//! - [`Batch`]: a consumer batch's events, each checked first
//!   ([`check_event`]), regrouped into CoolaData requests of at most 300
//!   events, the same `event_id` sent once, and, once the requests are
//!   answered, each message's [`Outcome`]: ack, retry with a delay, or
//!   dead-letter the events CoolaData or the check refused, or a message
//!   that is none of the collector's. A redirect is a failed try (retried,
//!   never followed), and a 413 to a request of several events splits it
//!   in halves posted in the same delivery ([`Batch::answer`]).
//!
//! A queue message body is the JSON `{"events":[...]}` of validated events,
//! exactly a CoolaData payload, so that a dead-lettered message can be
//! replayed as it is. The consumer does not take that for granted: another
//! producer bound to the queue, or a message sent by hand, may put anything
//! there, and one bad event would make CoolaData refuse the whole request
//! it was grouped in.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;

use crate::core::batch::{self, BodyFormat, MAX_EVENTS};
use crate::core::collector::SETUP_RETRY_SECONDS;
use crate::core::config;
use crate::core::error::{push_truncated, Error, ErrorCode};
use crate::core::event::{self, ValidateOptions};
use crate::core::num;
use crate::core::retry::{self, Backoff, Verdict};
#[allow(unused_imports)]
use crate::prelude::*;

/// Most bytes of one queue message body (Queues' limit is 128 KB).
pub const MESSAGE_BYTES: usize = 120_000;
/// Most bytes of the messages of one `sendBatch` call (Queues' limit is 256 KB).
pub const SEND_BYTES: usize = 240_000;
/// Most messages of one `sendBatch` call (Queues' limit).
pub const SEND_MESSAGES: usize = 100;
/// Most body bytes of one request to CoolaData.
pub const REQUEST_BYTES: usize = 1_000_000;
/// The longest retry delay, in seconds, whether from `Retry-After` or backoff.
pub const MAX_DELAY_SECONDS: u32 = 300;

const OPEN: &str = "{\"events\":[";
const CLOSE: &str = "]}";

/// Reads a tracker's request body back into the JSON text it carries:
/// `data=` followed by the form-encoded JSON (as `URLSearchParams` reads it),
/// the JSON percent-encoded (as `decodeURIComponent` reads it), or the JSON
/// itself. `None` when the body is none of these.
pub fn decode_body(body: &str) -> Option<String> {
    let text = body.trim_start();
    if text.starts_with('{') {
        return Some(text.to_string());
    }
    if text.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%7b")) {
        return percent_decode(text, false);
    }
    let value = text.split('&').find_map(|pair| pair.strip_prefix("data="))?;
    percent_decode(value, true)
}

/// Percent-decoding into UTF-8; `plus` reads `+` as a space (form encoding).
fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hi = hex(*b.get(i + 1)?)?;
                let lo = hex(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            b'+' if plus => out.push(b' '),
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits events (their JSON byte lengths, in order) into queue messages of
/// at most [`MESSAGE_BYTES`]; returns each message's number of events. An
/// event is never split; one larger than a message (validation keeps every
/// event under 100 KB, so none is) goes alone.
pub fn pack_messages(lens: &[usize]) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut n, mut used) = (0usize, OPEN.len() + CLOSE.len());
    for &len in lens {
        let add = len + usize::from(n > 0);
        if n > 0 && used + add > MESSAGE_BYTES {
            out.push(n);
            (n, used) = (0, OPEN.len() + CLOSE.len());
            used += len;
        } else {
            used += add;
        }
        n += 1;
    }
    if n > 0 {
        out.push(n);
    }
    out
}

/// Writes one queue message body: `{"events":[...]}`.
pub fn write_message<'a>(out: &mut String, events: impl IntoIterator<Item = &'a str>) {
    // The same JSON as a request's.
    crate::core::batch::write_json(out, events);
}

/// Groups messages (their byte sizes, in order) into `sendBatch` calls of at
/// most [`SEND_MESSAGES`] messages and [`SEND_BYTES`]; returns each call's
/// number of messages.
pub fn pack_sends(sizes: &[usize]) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut n, mut used) = (0usize, 0usize);
    for &size in sizes {
        if n > 0 && (n == SEND_MESSAGES || used + size > SEND_BYTES) {
            out.push(n);
            (n, used) = (0, 0);
        }
        n += 1;
        used += size;
    }
    if n > 0 {
        out.push(n);
    }
    out
}

/// Validated events (their JSON) as queue message bodies, grouped into
/// `sendBatch` calls: [`pack_messages`], [`write_message`], [`pack_sends`].
pub fn pack<S: AsRef<str>>(events: &[S]) -> Vec<Vec<String>> {
    let lens: Vec<usize> = events.iter().map(|e| e.as_ref().len()).collect();
    let mut messages = Vec::new();
    let mut at = 0;
    for n in pack_messages(&lens) {
        let mut m = String::new();
        write_message(&mut m, events.get(at..at + n).unwrap_or(&[]).iter().map(AsRef::as_ref));
        messages.push(m);
        at += n;
    }
    let sizes: Vec<usize> = messages.iter().map(String::len).collect();
    let mut rest = messages.into_iter();
    pack_sends(&sizes)
        .into_iter()
        .map(|n| rest.by_ref().take(n).collect())
        .collect()
}

/// What keeps the collector from delivering with the Worker's settings, as
/// the text of a log line that names the env variables and never gives
/// their values (the app key is a secret, an endpoint may hold a password),
/// or `None` when the app key is set and the endpoint usable.
///
/// `app_key` and `endpoint` are the variables' values (`None` when unset or
/// not a string; an empty endpoint is CoolaData's own); `parses` says whether
/// URL parsing reads the endpoint, app key in place, as a URL. An endpoint
/// must pass the tracker's own check ([`config::check_endpoint`]): `https://`,
/// or `http://` only on a loopback host (the app key is in the URL, and
/// plain http would carry it in cleartext), with no user name or password
/// (`fetch` refuses such a URL).
pub fn setup_problem(
    vars: (&str, &str),
    app_key: Option<&str>,
    endpoint: Option<&str>,
    parses: bool,
) -> Option<String> {
    let (key_var, endpoint_var) = vars;
    let mut line = String::from("env.");
    if app_key.unwrap_or("").is_empty() {
        line.push_str(key_var);
        line.push_str(" (the CoolaData app key) is not set");
        return Some(line);
    }
    let endpoint = endpoint.filter(|e| !e.is_empty())?;
    line.push_str(endpoint_var);
    match config::check_endpoint(endpoint) {
        // The tracker's message, after its `"endpoint": `.
        Err(e) => {
            let why = e.message.split_once(": ").map_or(e.message.as_str(), |(_, m)| m);
            line.push(' ');
            line.push_str(why);
        }
        Ok(()) if parses => return None,
        Ok(()) => line.push_str(" is not a URL"),
    }
    Some(line)
}

/// Reports a setup problem once while it lasts: [`Reported::first`] is true
/// the first time a problem is seen, and again after it changed or cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reported(Option<String>);

impl Reported {
    /// Records `problem` (`None`: the settings are fine); true when it is to
    /// be logged.
    pub fn first(&mut self, problem: Option<&str>) -> bool {
        let new = problem.is_some() && self.0.as_deref() != problem;
        self.0 = problem.map(str::to_string);
        new
    }
}

/// The consumer's backoff when CoolaData gives no `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryDelay {
    /// The first retry waits up to this long (full jitter), in seconds.
    pub base_seconds: u32,
    /// No backoff is longer than this (at most [`MAX_DELAY_SECONDS`]).
    pub max_seconds: u32,
}

impl Default for RetryDelay {
    fn default() -> Self {
        RetryDelay {
            base_seconds: 2,
            max_seconds: MAX_DELAY_SECONDS,
        }
    }
}

/// The wait before a message is delivered again, in seconds: the
/// `Retry-After` wait when CoolaData gave one (rounded up, at most
/// [`MAX_DELAY_SECONDS`]), else exponential backoff with full jitter from
/// the message's `attempts` (1 on its first delivery): a uniform share
/// (`random / 2^32`) of `min(max, base * 2^(attempts - 1))`, at least 1 s.
pub fn delay_seconds(retry_after_ms: Option<u64>, attempts: u32, random: u32, d: &RetryDelay) -> u32 {
    let secs = match retry_after_ms {
        Some(ms) => ms.div_ceil(1000).min(u64::from(MAX_DELAY_SECONDS)),
        None => {
            let cap = u64::from(d.max_seconds.clamp(1, MAX_DELAY_SECONDS)) * 1000;
            let b = Backoff {
                base_ms: u64::from(d.base_seconds.max(1)) * 1000,
                cap_ms: cap,
                max_retry_after_ms: cap,
            };
            retry::backoff_ms(&b, attempts.max(1), random).div_ceil(1000).max(1)
        }
    };
    u32::try_from(secs).unwrap_or(MAX_DELAY_SECONDS)
}

/// One event of a consumer batch: where its JSON lies in its message body,
/// and what the collector's own check ([`check_event`]) made of it.
#[derive(Clone, Debug)]
struct Ev {
    msg: usize,
    start: usize,
    end: usize,
    checked: Checked,
    /// The request that carries this event (a first copy); `None` for a
    /// copy, and for an event the check refused (never sent).
    request: Option<usize>,
    /// For a copy of an `event_id` sent already: its first copy's index,
    /// whose request carries it (and whose fate it shares).
    copy_of: Option<usize>,
}

/// What [`check_event`] made of an event.
#[derive(Clone, Debug)]
enum Checked {
    /// Valid, and its text is what is to be sent (every event `fetch` wrote).
    AsIs,
    /// Valid, to be sent as validated (another producer's event, say with a
    /// boolean or a date string that validation writes CoolaData's way).
    Validated(String),
    /// Refused by the check: dead-lettered as it is, never sent.
    Refused(Error),
}

/// How CoolaData answered one request.
#[derive(Clone, Debug)]
struct Answer {
    verdict: Verdict,
    status: u16,
    retry_after_ms: Option<u64>,
    reason: String,
}

/// What to do with one message once its batch's requests are answered.
///
/// Messages `fetch` wrote hold events it validated, so the collector's own
/// check ([`check_event`]) refuses none of them: they end in `Ack`,
/// `Retry` or `DeadLetter` with `refused` alone. `Unreadable`, and
/// `invalid` events, come from another producer bound to the queue (or a
/// message sent by hand).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every event was acknowledged (or the message held none).
    Ack,
    /// Some event is to be tried again: retry the whole message after this
    /// many seconds (events already acknowledged go again; CoolaData keeps
    /// one per `event_id`; events the check refused are checked again, and
    /// refused again, on the next delivery).
    Retry(u32),
    /// Some events are not to be delivered: dead-letter them, then ack.
    /// The message's other events were acknowledged. Event indices, for
    /// [`Batch::write_refused`] and [`Batch::write_invalid`]; one of the two
    /// lists at least is not empty.
    DeadLetter {
        /// Events CoolaData refused (a 4xx other than 401, 403, 408 and
        /// 429, or `"status": false`; a 413 only for an event alone in its
        /// request, see [`Batch::answer`]). A 401/403 refuses the app key,
        /// not the events: their message is retried ([`Outcome::Retry`]).
        refused: Vec<usize>,
        /// Events the collector's own check refused: never sent to CoolaData.
        invalid: Vec<usize>,
    },
    /// The message body is not `{"events":[...]}` of flat objects, so no
    /// coola-tracker collector wrote it: dead-letter it as it is, then ack.
    /// Nothing of it was sent to CoolaData.
    Unreadable,
}

/// A consumer batch: its messages' events regrouped into CoolaData requests.
///
/// Made from the message bodies with [`Batch::new`]; the shell posts each
/// request ([`Batch::write_request`]), reports each answer
/// ([`Batch::answer`], which may add requests: the shell posts until
/// [`Batch::requests`] are all answered), and then carries out each
/// message's [`Batch::outcome`]. Bodies are passed again to the methods that write,
/// so the batch holds offsets, not copies.
#[derive(Debug)]
pub struct Batch {
    events: Vec<Ev>,
    /// Per message: the range of its events in `events`, `None` if unreadable.
    msgs: Vec<Option<(usize, usize)>>,
    /// Per request: the events it carries (first copies only).
    requests: Vec<Vec<usize>>,
    answers: Vec<Option<Answer>>,
    /// Some request was answered with a redirect (logged once a batch).
    redirected: bool,
    /// Some request was answered 401/403: the app key refused (logged once
    /// a batch).
    key_refused: bool,
}

/// What the shell logs, once a batch, of an answer ([`Batch::answer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The batch's first redirect: log [`redirect_line`].
    Redirect,
    /// The batch's first 401/403: log [`key_refused_line`].
    KeyRefused,
}

impl Batch {
    /// Reads the message bodies, checks each event ([`check_event`]: the
    /// ones it refuses are never sent), drops every copy of an `event_id`
    /// after the first, and groups the rest, in order, into requests of at
    /// most 300 events and [`REQUEST_BYTES`] of form body. Only valid
    /// events are grouped, so one bad event of another producer never makes
    /// CoolaData refuse a request that carries other messages' events.
    pub fn new(bodies: &[&str]) -> Batch {
        let mut events = Vec::new();
        let mut msgs = Vec::with_capacity(bodies.len());
        let mut first: BTreeMap<&str, usize> = BTreeMap::new();
        // Unique events (first copies), in order, and their costs.
        let mut unique: Vec<usize> = Vec::new();
        let mut costs: Vec<usize> = Vec::new();
        // Per message: how many of its events are first copies.
        let mut sizes: Vec<usize> = Vec::with_capacity(bodies.len());
        for (m, body) in bodies.iter().enumerate() {
            let Some(found) = scan_message(body) else {
                msgs.push(None);
                continue;
            };
            let from = events.len();
            let before = unique.len();
            for (start, end, id) in found {
                let index = events.len();
                let text = body.get(start..end).unwrap_or("");
                let checked = match check_event(text) {
                    Ok(json) if json == text => Checked::AsIs,
                    Ok(json) => Checked::Validated(json),
                    Err(e) => Checked::Refused(e),
                };
                let sent = match &checked {
                    Checked::AsIs => Some(text),
                    Checked::Validated(json) => Some(json.as_str()),
                    Checked::Refused(_) => None,
                };
                // A refused event is no first copy: a valid one of its id goes.
                let id = id.and_then(|(s, e)| body.get(s..e)).filter(|_| sent.is_some());
                let copy = id.and_then(|id| first.get(id).copied());
                if let (Some(id), None) = (id, copy) {
                    first.insert(id, index);
                }
                if let (Some(json), None) = (sent, copy) {
                    unique.push(index);
                    costs.push(BodyFormat::Form.event_cost(json));
                }
                events.push(Ev {
                    msg: m,
                    start,
                    end,
                    checked,
                    request: None,
                    copy_of: copy,
                });
            }
            msgs.push(Some((from, events.len())));
            sizes.push(unique.len() - before);
        }
        let mut requests = Vec::new();
        let mut at = 0;
        for n in group(&costs, &sizes) {
            let members: Vec<usize> = unique.get(at..at + n).unwrap_or(&[]).to_vec();
            for &e in &members {
                if let Some(ev) = events.get_mut(e) {
                    ev.request = Some(requests.len());
                }
            }
            requests.push(members);
            at += n;
        }
        let answers = vec![None; requests.len()];
        Batch {
            events,
            msgs,
            requests,
            answers,
            redirected: false,
            key_refused: false,
        }
    }

    /// The request that carries event `e` (its first copy's, for a copy).
    fn request_of(&self, e: usize) -> Option<usize> {
        let ev = self.events.get(e)?;
        match ev.copy_of {
            Some(c) => self.events.get(c)?.request,
            None => ev.request,
        }
    }

    /// The number of CoolaData requests to make.
    pub fn requests(&self) -> usize {
        self.requests.len()
    }

    /// The number of events in request `r`.
    pub fn request_len(&self, r: usize) -> usize {
        self.requests.get(r).map_or(0, Vec::len)
    }

    /// The number of events read from all messages, copies included.
    pub fn events(&self) -> usize {
        self.events.len()
    }

    /// Event `e`'s text in its message body.
    fn original<'a>(&self, bodies: &[&'a str], e: usize) -> &'a str {
        self.events
            .get(e)
            .and_then(|ev| bodies.get(ev.msg).and_then(|b| b.get(ev.start..ev.end)))
            .unwrap_or("")
    }

    /// Event `e`'s JSON as it is sent.
    fn json<'a>(&'a self, bodies: &[&'a str], e: usize) -> &'a str {
        match self.events.get(e).map(|ev| &ev.checked) {
            Some(Checked::Validated(json)) => json,
            _ => self.original(bodies, e),
        }
    }

    /// Appends request `r`'s body (the `data=` form) to `out`.
    pub fn write_request(&self, r: usize, bodies: &[&str], out: &mut String) {
        let members = self.requests.get(r).map_or(&[][..], Vec::as_slice);
        batch::write_body(out, members.iter().map(|&e| self.json(bodies, e)), BodyFormat::Form);
    }

    /// Records CoolaData's answer to request `r`: the HTTP status (0 for a
    /// network error), whether a 2xx body said `"status": false`, the
    /// `Retry-After` header ("" when none), and the response body (kept, at
    /// most 500 characters with `app_key` replaced by `{appKey}`, as the
    /// reason of a refusal).
    ///
    /// Two answers are the consumer's own to handle, unlike the tracker's
    /// classification ([`retry::classify`]):
    ///
    /// - A redirect (3xx; the shell never follows one, since `fetch` would
    ///   follow a 301/302/303 as a GET without the body, whose 200
    ///   acknowledges nothing) is a failed try, retried like a network
    ///   error: nothing is acked that CoolaData did not acknowledge. Returns
    ///   [`Notice::Redirect`] for the batch's first redirect, which the
    ///   shell logs ([`redirect_line`]).
    /// - A 401 or 403 is CoolaData refusing the app key (a wrong or rotated
    ///   key, a setup problem): its events are kept, their messages retried
    ///   after [`SETUP_RETRY_SECONDS`] as for a missing app key, never acked
    ///   or dead-lettered. Returns [`Notice::KeyRefused`] for the batch's
    ///   first, which the shell logs ([`key_refused_line`]).
    /// - A 413 to a request of more than one event: the size is the
    ///   consumer's own doing (it regrouped many pages' requests), so the
    ///   request is split in halves, appended as two new requests
    ///   ([`Batch::requests`] grows) that the shell posts in this same
    ///   delivery, its events now theirs. Each split halves the events, so
    ///   it ends: at most one request per event, and a single event
    ///   answered 413 is refused (dead-lettered) as any other 4xx. No event
    ///   is lost on the way: one whose new request goes unanswered (the
    ///   delivery ended first) is retried as a network error.
    #[allow(clippy::too_many_arguments)]
    pub fn answer(
        &mut self,
        r: usize,
        status: u16,
        status_false: bool,
        retry_after: &str,
        response: &str,
        app_key: &str,
        now_ms: i64,
    ) -> Option<Notice> {
        // A 3xx is a retry by the shared classification (no redirect is
        // followed, nothing was acknowledged); noted here for its log line
        // and because its Retry-After is no CoolaData's.
        let redirect = (300..400).contains(&status);
        let verdict = if status == 401 {
            // The tracker's classification rejects a 401; here it is the
            // app key refused, as a 403.
            Verdict::Stop
        } else {
            retry::classify(status, status_false)
        };
        let members = self.requests.get(r).map_or(&[][..], Vec::as_slice);
        // Split once, on the request's first answer.
        let unanswered = self.answers.get(r).is_some_and(Option::is_none);
        if verdict == Verdict::Split && members.len() > 1 && unanswered {
            let (a, b) = members.split_at(members.len() / 2);
            let halves = [a.to_vec(), b.to_vec()];
            for half in halves {
                let at = self.requests.len();
                for &e in &half {
                    if let Some(ev) = self.events.get_mut(e) {
                        ev.request = Some(at);
                    }
                }
                self.requests.push(half);
                self.answers.push(None);
            }
        }
        let retry_after_ms = if verdict == Verdict::Retry && !redirect {
            retry::retry_after_ms(&Backoff::default(), retry_after, now_ms)
        } else {
            None
        };
        let mut reason = String::new();
        if verdict != Verdict::Ack && verdict != Verdict::Retry {
            let scrubbed = if app_key.is_empty() {
                response.to_string()
            } else {
                response.replace(app_key, "{appKey}")
            };
            push_truncated(&mut reason, &scrubbed, 500);
        }
        if let Some(slot) = self.answers.get_mut(r) {
            *slot = Some(Answer {
                verdict,
                status,
                retry_after_ms,
                reason,
            });
        }
        let stop = verdict == Verdict::Stop;
        let notice = if redirect && !self.redirected {
            Some(Notice::Redirect)
        } else if stop && !self.key_refused {
            Some(Notice::KeyRefused)
        } else {
            None
        };
        self.redirected |= redirect;
        self.key_refused |= stop;
        notice
    }

    /// What to do with message `m`, given its `attempts` (1 on its first
    /// delivery), a uniform `random` for the backoff's jitter and the
    /// backoff settings. A request left unanswered counts as a network error;
    /// one answered 401/403 (the app key refused) makes the message retried
    /// after at least [`SETUP_RETRY_SECONDS`].
    pub fn outcome(&self, m: usize, attempts: u32, random: u32, delay: &RetryDelay) -> Outcome {
        let Some(Some((from, to))) = self.msgs.get(m).copied() else {
            return Outcome::Unreadable;
        };
        let mut retry = false;
        let mut stop = false;
        let mut wait: Option<u64> = None;
        let mut refused = Vec::new();
        let mut invalid = Vec::new();
        for e in from..to {
            let ev = self.events.get(e);
            if ev.is_some_and(|ev| matches!(ev.checked, Checked::Refused(_))) {
                invalid.push(e);
                continue;
            }
            let answer = self
                .request_of(e)
                .and_then(|r| self.answers.get(r))
                .and_then(Option::as_ref);
            match answer.map(|a| a.verdict) {
                Some(Verdict::Ack) => {}
                Some(Verdict::Retry) | None => {
                    retry = true;
                    if let Some(ms) = answer.and_then(|a| a.retry_after_ms) {
                        wait = Some(wait.map_or(ms, |w| w.max(ms)));
                    }
                }
                Some(Verdict::Stop) => stop = true,
                Some(_) => refused.push(e),
            }
        }
        if stop {
            let other = retry.then(|| delay_seconds(wait, attempts, random, delay));
            Outcome::Retry(other.unwrap_or(0).max(SETUP_RETRY_SECONDS))
        } else if retry {
            Outcome::Retry(delay_seconds(wait, attempts, random, delay))
        } else if refused.is_empty() && invalid.is_empty() {
            Outcome::Ack
        } else {
            Outcome::DeadLetter { refused, invalid }
        }
    }

    /// Appends the dead-letter body for the events CoolaData refused (the
    /// `refused` of [`Outcome::DeadLetter`]), as they were sent:
    /// `{"events":[...],"refused":{"status":N,"reason":"..."}}`, the status
    /// and reason of the first event's request.
    pub fn write_refused(&self, events: &[usize], bodies: &[&str], out: &mut String) {
        out.push_str(OPEN);
        for (i, &e) in events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(self.json(bodies, e));
        }
        out.push_str("],\"refused\":{\"status\":");
        let answer = events
            .first()
            .and_then(|&e| self.request_of(e))
            .and_then(|r| self.answers.get(r))
            .and_then(Option::as_ref);
        num::push_u64(out, u64::from(answer.map_or(0, |a| a.status)));
        out.push_str(",\"reason\":");
        crate::core::json::push_str(out, answer.map_or("", |a| a.reason.as_str()));
        out.push_str("}}");
    }

    /// Appends the dead-letter body for the events the collector's own
    /// check refused (the `invalid` of [`Outcome::DeadLetter`]), as the
    /// message held them (one that is not JSON, say with a `NaN`, as a
    /// string of its text, so that the body is JSON), and why, one entry
    /// per event (`index` in this body's `events`; `code` and `field` as
    /// `fetch`'s 400 gives them):
    /// `{"events":[...],"invalid":[{"index":0,"code":"...","field":"..."|null,"message":"..."}]}`.
    pub fn write_invalid(&self, events: &[usize], bodies: &[&str], out: &mut String) {
        out.push_str(OPEN);
        for (i, &e) in events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let text = self.original(bodies, e);
            if entries_of(text).is_ok() {
                out.push_str(text);
            } else {
                // Not JSON (a NaN, a bad escape): its text, as a string.
                crate::core::json::push_str(out, text);
            }
        }
        out.push_str("],\"invalid\":[");
        for (i, (_, e)) in self.check_errors(events).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"index\":");
            num::push_u64(out, i as u64);
            out.push_str(",\"code\":");
            crate::core::json::push_str(out, e.code.as_str());
            out.push_str(",\"field\":");
            match &e.field {
                Some(f) => crate::core::json::push_str(out, f),
                None => out.push_str("null"),
            }
            out.push_str(",\"message\":");
            crate::core::json::push_str(out, &e.message);
            out.push('}');
        }
        out.push_str("]}");
    }

    /// The check's error for each of `events` that it refused.
    fn check_errors<'s>(&'s self, events: &'s [usize]) -> impl Iterator<Item = (usize, &'s Error)> + 's {
        events
            .iter()
            .filter_map(|&e| match self.events.get(e).map(|ev| &ev.checked) {
                Some(Checked::Refused(err)) => Some((e, err)),
                _ => None,
            })
    }

    /// The log line for the events the collector's own check refused (the
    /// `invalid` of [`Outcome::DeadLetter`]): how many, why (each distinct
    /// code and field), that none was sent to CoolaData, and that they were
    /// dead-lettered to `dlq` (`bound`) or dropped (the shell then logs
    /// the events after the line, as for [`refused_line`]). Logged whether
    /// or not `dlq` is bound: only another producer's events fail the
    /// check, which is a setup problem to fix. Names no secret.
    pub fn invalid_line(&self, events: &[usize], dlq: &str, bound: bool) -> String {
        let mut line = String::from("the collector's own check refused ");
        num::push_u64(&mut line, events.len() as u64);
        line.push_str(" events of a queue message, not sent to CoolaData (");
        let mut seen: Vec<(ErrorCode, Option<&str>)> = Vec::new();
        for (_, e) in self.check_errors(events) {
            let why = (e.code, e.field.as_deref());
            if seen.contains(&why) {
                continue;
            }
            if seen.len() == 5 {
                line.push_str(", ...");
                break;
            }
            if !seen.is_empty() {
                line.push_str(", ");
            }
            line.push_str(e.code.as_str());
            if let Some(f) = why.1 {
                line.push(' ');
                push_truncated(&mut line, f, 60);
            }
            seen.push(why);
        }
        line.push_str("; the collector queues no such event: does another producer send to this queue?)");
        push_fate(&mut line, dlq, bound);
        line
    }
}

/// The log line for events CoolaData refused (the `refused` of
/// [`Outcome::DeadLetter`]): `None` when `dlq` is bound (the dead letter
/// carries CoolaData's answer), else the line the shell logs the events
/// after.
pub fn refused_line(dlq: &str, bound: bool) -> Option<String> {
    if bound {
        return None;
    }
    let mut line = String::from("CoolaData refused these events (no ");
    line.push_str(dlq);
    line.push_str(" bound)");
    Some(line)
}

/// The log line for a redirect from CoolaData's endpoint (the shell never
/// follows one: see [`Batch::answer`]): the status, where it pointed
/// (`location`, the `Location` header, at most 200 characters, with the
/// app key, as it is and URL-encoded, replaced by `{appKey}`), that the
/// events are retried, and which variable to fix (`endpoint_var`).
pub fn redirect_line(endpoint_var: &str, status: u16, location: &str, app_key: &str) -> String {
    let mut line = String::from("CoolaData's endpoint (env.");
    line.push_str(endpoint_var);
    line.push_str(") redirected: ");
    num::push_u64(&mut line, u64::from(status));
    let mut to = location.to_string();
    if !app_key.is_empty() {
        let mut encoded = String::new();
        crate::core::form::push_component(&mut encoded, app_key);
        to = to.replace(app_key, "{appKey}").replace(&encoded, "{appKey}");
    }
    if !to.is_empty() {
        line.push_str(" to ");
        let mut cut = String::new();
        push_truncated(&mut cut, &to, 200);
        crate::core::json::push_str(&mut line, &cut);
    }
    line.push_str(", not followed (a redirected POST loses its body, and what answers it acknowledges nothing); the events are retried: set env.");
    line.push_str(endpoint_var);
    line.push_str(" to the URL that takes the POST");
    line
}

/// The log line for CoolaData refusing the app key (a 401 or 403, see
/// [`Batch::answer`]): the status, that the events are kept and retried in
/// [`SETUP_RETRY_SECONDS`], and which variable to check (`key_var`). Names
/// the variable, never the key.
pub fn key_refused_line(key_var: &str, status: u16) -> String {
    let mut line = String::from("CoolaData refused the app key (HTTP ");
    num::push_u64(&mut line, u64::from(status));
    line.push_str("): check env.");
    line.push_str(key_var);
    line.push_str(" (a wrong or rotated CoolaData app key); the events are kept, retried in ");
    num::push_u64(&mut line, u64::from(SETUP_RETRY_SECONDS));
    line.push_str(" s (none acked or dead-lettered)");
    line
}

/// The log line for an [`Outcome::Unreadable`] message: it is no
/// coola-tracker collector message, nothing of it was sent to CoolaData,
/// and it was dead-lettered to `dlq` (`bound`) or dropped (the shell then
/// logs its body after the line). Logged whether or not `dlq` is bound, as
/// [`Batch::invalid_line`].
pub fn unreadable_line(dlq: &str, bound: bool) -> String {
    let mut line = String::from(
        "a queue message is not a coola-tracker collector message (its body is not \
         {\"events\":[...]} of flat objects: does another producer send to this queue?), \
         nothing of it sent to CoolaData",
    );
    push_fate(&mut line, dlq, bound);
    line
}

/// How a log line about dead letters ends: where they went.
fn push_fate(line: &mut String, dlq: &str, bound: bool) {
    line.push_str(if bound { "; dead-lettered to " } else { "; dropped (no " });
    line.push_str(dlq);
    if !bound {
        line.push_str(" bound)");
    }
}

/// The collector's own check of one event of a queue message (its flat JSON
/// object, as [`Batch::new`] found it): the rules `fetch` applies, by the
/// same function ([`event::validate_entries`], what `validateEvent` checks),
/// except CoolaData's timestamp window. Returns the event as it is to be
/// sent (the validated JSON, which for a message `fetch` wrote is the
/// message's text itself), or the first rule it breaks.
///
/// No window: an event `fetch` accepted was in it then, and its message may
/// wait in the queue for days of retries; a check that ran the clock again
/// would refuse it for the wait alone. So only events no collector accepted
/// (another producer's) can fail here, and they fail by the rules that do
/// not move with time.
///
/// The object is read as `JSON.parse` reads it (the last of a repeated key
/// wins, at the first one's place; a number beyond a double's range is an
/// infinity), turned into the entries form `fetch` hands the validator,
/// and validated with no defaults (the visitor's properties are `fetch`'s
/// to fill, from the page's request).
pub fn check_event(object: &str) -> Result<String, Error> {
    let b = object.as_bytes();
    if !scan_event(b, ws(b, 0)).is_some_and(|(end, _)| ws(b, end) == b.len()) {
        return Err(Error::new(
            ErrorCode::InvalidValue,
            "the event is not a flat JSON object",
        ));
    }
    let entries = entries_of(object)?;
    let opts = ValidateOptions {
        server_timestamp: false,
        now_ms: None,
    };
    let mut out = String::with_capacity(object.len());
    event::validate_entries(&mut out, &entries, &[], &opts)?;
    Ok(out)
}

/// A flat JSON object (its syntax checked by [`scan_event`]) in the entries
/// form (see [`crate::core::entries`]), or the error for a key or value
/// that JSON does not allow.
fn entries_of(object: &str) -> Result<String, Error> {
    let b = object.as_bytes();
    // (key, tag, value), in order.
    let mut props: Vec<(Cow<'_, str>, u8, Cow<'_, str>)> = Vec::new();
    let mut i = ws(b, expect(b, ws(b, 0), b'{').unwrap_or(0));
    while let Some((ks, ke)) = string(b, i) {
        let raw_key = object.get(ks + 1..ke - 1).unwrap_or("");
        let key = unescape(raw_key).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidPropertyName,
                "a property name is not a valid JSON string",
            )
        })?;
        i = ws(b, ws(b, ke) + 1);
        let (tag, value, end) = match string(b, i) {
            Some((vs, ve)) => {
                let raw = object.get(vs + 1..ve - 1).unwrap_or("");
                let v = unescape(raw).ok_or_else(|| not_json(&key, "a string JSON does not allow"))?;
                (b's', v, ve)
            }
            None => {
                let mut j = i;
                while b
                    .get(j)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
                {
                    j += 1;
                }
                let token = object.get(i..j).unwrap_or("");
                let tag = match token {
                    "true" | "false" => b'b',
                    "null" => b'u',
                    t if num::is_json_number(t) => {
                        if finite(t) {
                            b'n'
                        } else {
                            b'N'
                        }
                    }
                    _ => return Err(not_json(&key, "not a JSON value")),
                };
                (tag, Cow::Borrowed(token), j)
            }
        };
        props.push((key, tag, value));
        i = ws(b, end);
        if b.get(i) == Some(&b',') {
            i = ws(b, i + 1);
        }
    }
    // Each key's last value (a map of the same type as `Batch::new`'s: one
    // copy of its code in the wasm), then written at its first place.
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    for (p, (key, _, _)) in props.iter().enumerate() {
        last.insert(key, p);
    }
    let mut out = String::with_capacity(object.len() + 8 * props.len());
    for (key, _, _) in &props {
        let Some(&p) = last.get(key.as_ref()) else {
            continue;
        };
        let Some((_, tag, value)) = props.get(p) else {
            // Written already (marked below).
            continue;
        };
        last.insert(key, usize::MAX);
        out.push(char::from(*tag));
        for text in [key, value] {
            num::push_u64(&mut out, text.encode_utf16().count() as u64);
            out.push(':');
            out.push_str(text);
        }
    }
    Ok(out)
}

/// `2^1024 - 2^970`, the least magnitude that reads as an infinity (half an
/// ulp above the largest double, a tie that rounds to even: up), in digits.
const INFINITE: &str = "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";

/// Whether a JSON number (text [`num::is_json_number`] accepts) reads as
/// a finite double (`JSON.parse` reads `1e999` as an infinity, which fetch
/// refuses): its decimal exponent and digits against [`INFINITE`]'s, with
/// no float parsing (which would more than double the edge wasm).
fn finite(t: &str) -> bool {
    let t = t.strip_prefix('-').unwrap_or(t);
    let (mantissa, exp) = t.split_once(['e', 'E']).unwrap_or((t, ""));
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let (neg, exp) = match exp.strip_prefix('-') {
        Some(e) => (true, e),
        None => (false, exp.strip_prefix('+').unwrap_or(exp)),
    };
    // Capped: past 10^6 the answer is the same.
    let exp = exp
        .bytes()
        .fold(0i64, |n, c| (n * 10 + i64::from(c.saturating_sub(b'0'))).min(1_000_000));
    let exp = if neg { -exp } else { exp };
    let int = int.trim_start_matches('0');
    // The decimal exponent of the first significant digit.
    let first = if int.is_empty() {
        -1 - (frac.len() - frac.trim_start_matches('0').len()) as i64
    } else {
        int.len() as i64 - 1
    };
    let mut digits = String::with_capacity(int.len() + frac.len());
    digits.push_str(int);
    digits.push_str(frac);
    let digits = digits.trim_start_matches('0').trim_end_matches('0');
    let e10 = first + exp;
    let top = INFINITE.len() as i64 - 1;
    digits.is_empty() || e10 < top || (e10 == top && digits.as_bytes() < INFINITE.as_bytes())
}

/// The error for a property whose value JSON does not allow.
fn not_json(key: &str, what: &str) -> Error {
    let mut e = Error::field(ErrorCode::InvalidValue, key, "is ");
    e.message.push_str(what);
    e.message.push_str("; send a string, finite number, boolean or null");
    e
}

/// The text of a JSON string literal's content (quotes off), or `None`
/// when JSON does not allow it (an unknown escape, a control character).
fn unescape(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.bytes().any(|c| c == b'\\' || c < 0x20) {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c < ' ' {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let plain = match chars.next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hi = hex4(&mut chars)?;
                // A pair makes one character; a lone surrogate is U+FFFD,
                // as fetch gets it (a JavaScript string's lone surrogate
                // reaches the wasm so).
                let mut after = chars.clone();
                let lo = (after.next() == Some('\\') && after.next() == Some('u'))
                    .then(|| hex4(&mut after))
                    .flatten()
                    .filter(|lo| (0xD800..0xDC00).contains(&hi) && (0xDC00..0xE000).contains(lo));
                match lo {
                    Some(lo) => {
                        chars = after;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                    }
                    None => char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER),
                }
            }
            _ => return None,
        };
        out.push(plain);
    }
    Some(Cow::Owned(out))
}

/// Four hex digits of a `\u` escape.
fn hex4(chars: &mut core::str::Chars<'_>) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..4 {
        v = v << 4 | u32::from(hex(u8::try_from(chars.next()?).ok()?)?);
    }
    Some(v)
}

/// Splits the unique events (their costs, in order; `sizes`: how many of
/// them each message holds) into requests of at most 300 events and
/// [`REQUEST_BYTES`], returning each request's length. A message's events
/// share one request whenever they fit in one, so that one failed request
/// retries as few messages, and re-sends as few acknowledged events, as it can.
fn group(costs: &[usize], sizes: &[usize]) -> Vec<usize> {
    let fmt = BodyFormat::Form;
    let mut out = Vec::new();
    let (mut n, mut used) = (0usize, fmt.overhead());
    let mut at = 0;
    for &k in sizes {
        let part = costs.get(at..at + k).unwrap_or(&[]);
        at += k;
        let bytes: usize = part.iter().sum();
        let fits = |n: usize, used: usize| n + k <= MAX_EVENTS && used + bytes <= REQUEST_BYTES + 3;
        if n > 0 && !fits(n, used) {
            out.push(n);
            (n, used) = (0, fmt.overhead());
        }
        if fits(n, used) {
            n += k;
            used += bytes;
        } else {
            // Too large for a request of its own: split it.
            out.extend(batch::split(part, MAX_EVENTS, Some(REQUEST_BYTES), fmt));
        }
    }
    if n > 0 {
        out.push(n);
    }
    out
}

/// A message body's events: each one's byte range and, when it has a string
/// `event_id`, the range of that JSON string literal. `None` unless the body
/// is `{"events":[{...},...]}` of flat objects (whitespace allowed).
#[allow(clippy::type_complexity)]
fn scan_message(body: &str) -> Option<Vec<(usize, usize, Option<(usize, usize)>)>> {
    let b = body.as_bytes();
    let mut i = ws(b, 0);
    i = ws(b, expect(b, i, b'{')?);
    let (ks, ke) = string(b, i)?;
    if b.get(ks..ke)? != b"\"events\"" {
        return None;
    }
    i = ws(b, expect(b, ws(b, ke), b':')?);
    i = ws(b, expect(b, i, b'[')?);
    let mut out = Vec::new();
    if b.get(i) == Some(&b']') {
        i += 1;
    } else {
        loop {
            let (end, id) = scan_event(b, i)?;
            out.push((i, end, id));
            i = ws(b, end);
            match b.get(i) {
                Some(b',') => i = ws(b, i + 1),
                Some(b']') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    i = ws(b, expect(b, ws(b, i), b'}')?);
    (i == b.len()).then_some(out)
}

/// One flat object starting at `i`: where it ends, and its `event_id` literal.
fn scan_event(b: &[u8], i: usize) -> Option<(usize, Option<(usize, usize)>)> {
    let mut i = ws(b, expect(b, i, b'{')?);
    let mut id = None;
    if b.get(i) == Some(&b'}') {
        return Some((i + 1, None));
    }
    loop {
        let (ks, ke) = string(b, i)?;
        i = ws(b, expect(b, ws(b, ke), b':')?);
        let vs = i;
        let ve = if b.get(i) == Some(&b'"') {
            string(b, i)?.1
        } else {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
            {
                j += 1;
            }
            (j > i).then_some(j)?
        };
        if b.get(ks..ke)? == b"\"event_id\"" && b.get(vs) == Some(&b'"') {
            id = Some((vs, ve));
        }
        i = ws(b, ve);
        match b.get(i) {
            Some(b',') => i = ws(b, i + 1),
            Some(b'}') => return Some((i + 1, id)),
            _ => return None,
        }
    }
}

/// A JSON string literal at `i`: its range, quotes included.
fn string(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'"' => return Some((i, j + 1)),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
}

fn expect(b: &[u8], i: usize, c: u8) -> Option<usize> {
    (b.get(i) == Some(&c)).then_some(i + 1)
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::form;
    use proptest::prelude::*;

    /// The default backoff with another first retry.
    fn base(base_seconds: u32) -> RetryDelay {
        RetryDelay {
            base_seconds,
            ..RetryDelay::default()
        }
    }

    /// Bytes of a message holding the events of `lens` (their JSON lengths).
    fn message_len(lens: &[usize]) -> usize {
        OPEN.len() + CLOSE.len() + lens.iter().sum::<usize>() + lens.len().saturating_sub(1)
    }

    fn ev(id: &str, n: usize) -> String {
        format!(r#"{{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"event_id":"{id}","n":{n}}}"#)
    }

    fn message(events: &[String]) -> String {
        let mut out = String::new();
        write_message(&mut out, events.iter().map(String::as_str));
        out
    }

    fn decoded_request(b: &Batch, r: usize, bodies: &[&str]) -> serde_json::Value {
        let mut body = String::new();
        b.write_request(r, bodies, &mut body);
        serde_json::from_str(&decode_body(&body).unwrap()).unwrap()
    }

    /// An event as `fetch` accepts it: validated with the collector's clock
    /// at `now_ms`, the way `edge_accept` does (entries form, the visitor's
    /// properties as defaults).
    fn accepted(entries: &str, now_ms: i64) -> String {
        let opts = ValidateOptions {
            server_timestamp: false,
            now_ms: Some(now_ms),
        };
        let defaults = [("session_ip", event::RawValue::Str("203.0.113.7"))];
        let mut out = String::new();
        event::validate_entries(&mut out, entries, &defaults, &opts).unwrap();
        out
    }

    /// The entries form of string properties.
    fn entries(props: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for (k, v) in props {
            out.push_str(&format!(
                "s{}:{k}{}:{v}",
                k.encode_utf16().count(),
                v.encode_utf16().count()
            ));
        }
        out
    }

    const NOW: i64 = 1_764_806_400_000; // 2025-12-04

    #[test]
    fn the_check_applies_fetchs_rules_but_no_window() {
        let ok = r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000}"#;
        assert_eq!(
            check_event(ok).as_deref(),
            Ok(ok),
            "11 years old and still valid: no window"
        );
        let future = r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":9999999999999}"#;
        assert_eq!(check_event(future).as_deref(), Ok(future));
        // Written CoolaData's way, as fetch would write them.
        let foreign = r#" { "event_name" : "e\u00e9\n", "user_id":"u", "event_timestamp_epoch":"2015-01-05", "paid":true, "gone":null, "n":1.50 } "#;
        assert_eq!(
            check_event(foreign).as_deref(),
            Ok(r#"{"event_name":"eé\n","user_id":"u","event_timestamp_epoch":1420416000000,"paid":"true","n":1.50}"#)
        );
        let pairs =
            r#"{"event_name":"\ud83d\ude00 \ud800\u0041 \udc00","user_id":"u","event_timestamp_epoch":1420452000000}"#;
        assert_eq!(
            check_event(pairs),
            Ok("{\"event_name\":\"\u{1f600} \u{fffd}A \u{fffd}\",\"user_id\":\"u\",\"event_timestamp_epoch\":1420452000000}".to_string()),
            "a pair is one character, a lone surrogate U+FFFD (as fetch gets it)"
        );
        assert_eq!(
            check_event(r#"{"user_id":"","event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000}"#)
                .as_deref(),
            Ok(r#"{"user_id":"u","event_name":"e","event_timestamp_epoch":1420452000000}"#),
            "a repeated key: the last value, at the first place (JSON.parse)"
        );
        assert_eq!(
            check_event(r#"{"n":1,"event_name":"e","n":2,"user_id":"u","n":3,"event_timestamp_epoch":1420452000000}"#),
            Ok(r#"{"n":3,"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000}"#.to_string()),
        );
        let base = r#""event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000"#;
        for (event, code, field) in [
            (
                r#"{"event_name":"e","user_id":"u"}"#.to_string(),
                ErrorCode::MissingField,
                Some("event_timestamp_epoch"),
            ),
            (
                r#"{"event_name":"e","event_timestamp_epoch":1420452000000}"#.to_string(),
                ErrorCode::MissingField,
                Some("user_id"),
            ),
            (
                format!(r#"{{{base},"uid":"x"}}"#),
                ErrorCode::ReservedProperty,
                Some("uid"),
            ),
            (
                format!(r#"{{{base},"event_id":""}}"#),
                ErrorCode::InvalidValue,
                Some("event_id"),
            ),
            (
                format!(r#"{{{base},"":"x"}}"#),
                ErrorCode::InvalidPropertyName,
                Some(""),
            ),
            (format!(r#"{{{base},"n":1e999}}"#), ErrorCode::InvalidValue, Some("n")),
            (format!(r#"{{{base},"n":NaN}}"#), ErrorCode::InvalidValue, Some("n")),
            (format!(r#"{{{base},"n":01}}"#), ErrorCode::InvalidValue, Some("n")),
            (format!(r#"{{{base},"s":"\x"}}"#), ErrorCode::InvalidValue, Some("s")),
            (format!("{{{base},\"s\":\"a\tb\"}}"), ErrorCode::InvalidValue, Some("s")),
            (
                format!(r#"{{{base},"p":"{}"}}"#, "y".repeat(102_400)),
                ErrorCode::EventTooLarge,
                None,
            ),
            (
                r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":"yesterday"}"#.to_string(),
                ErrorCode::InvalidTimestamp,
                Some("event_timestamp_epoch"),
            ),
            (format!(r#"{{{base},"a":{{"b":1}}}}"#), ErrorCode::InvalidValue, None),
        ] {
            let e = check_event(&event).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (code, field), "{event}: {e:?}");
        }
    }

    #[test]
    fn numbers_past_a_doubles_range_are_infinities() {
        for (n, want) in [
            ("0", true),
            ("-0.000e999999999999999999", true),
            ("1e-400", true),
            ("1.7976931348623157e308", true),
            ("1.7976931348623158e308", true),
            ("1.797693134862315807937289714053e308", true),
            ("17976931348623158079372897140530341507993413271003782693617377898044496829276475094664901797758720709633028641669288791094655554785194040263065748867150582068190890200070838367627385484581771153176447573027006985557136695962284291481986083493647529271907416844436551070434271155969950809304288017790417449779.1", true),
            ("1.7976931348623159e308", false),
            ("10e308", false),
            ("-1e309", false),
            ("1e999", false),
            ("1e99999999999999999999", false),
            ("0.1e310", false),
        ] {
            assert_eq!(finite(n), want, "{n}");
            assert_eq!(n.parse::<f64>().unwrap().is_finite(), want, "{n}: Rust's parse agrees");
        }
        let mut exact = String::from(INFINITE);
        assert!(!finite(&exact), "the tie rounds up");
        exact.push_str(".0");
        assert!(!finite(&exact));
    }

    proptest! {
        #[test]
        fn finite_agrees_with_float_parsing(
            int in "(0|[1-9][0-9]{0,20})", frac in proptest::option::of("[0-9]{1,20}"),
            exp in proptest::option::of(-400i32..400), neg: bool,
        ) {
            let mut n = String::new();
            if neg { n.push('-'); }
            n.push_str(&int);
            if let Some(f) = frac { n.push('.'); n.push_str(&f); }
            if let Some(e) = exp { n.push_str(&format!("e{e}")); }
            prop_assert!(num::is_json_number(&n), "{}", n);
            prop_assert_eq!(finite(&n), n.parse::<f64>().unwrap().is_finite(), "{}", n);
        }

        #[test]
        fn finite_agrees_with_float_parsing_at_the_edge(k in 1usize..40, last in 0u8..10) {
            // INFINITE's first k digits, the last one changed, as d.ddd...e308.
            let mut digits = String::from(&INFINITE[..k]);
            digits.pop();
            digits.push(char::from(b'0' + last));
            let n = match digits.split_at(1) {
                (d, "") => format!("{d}e308"),
                (d, rest) => format!("{d}.{rest}e308"),
            };
            prop_assert_eq!(finite(&n), n.parse::<f64>().unwrap().is_finite(), "{}", n);
        }
    }

    proptest! {
        #[test]
        fn what_fetch_accepts_passes_the_check_unchanged(
            // A JavaScript object's keys: each once.
            props in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{0,30}", 0..8),
            age_days in 0i64..30,
        ) {
            let ts = (NOW - age_days * 86_400_000).to_string();
            let mut list: Vec<(&str, &str)> = vec![("event_name", "e"), ("user_id", "u"), ("event_timestamp_epoch", &ts)];
            list.extend(
                props
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .filter(|(k, _)| !event::is_reserved(k) && !["event_name", "user_id", "event_timestamp_epoch"].contains(k)),
            );
            let opts = ValidateOptions { server_timestamp: false, now_ms: Some(NOW) };
            let mut json = String::new();
            if event::validate_entries(&mut json, &entries(&list), &[], &opts).is_ok() {
                prop_assert_eq!(check_event(&json), Ok(json.clone()));
            }
        }
    }

    #[test]
    fn an_event_of_our_own_goes_whatever_its_age_in_the_queue() {
        // Accepted by fetch when it was 29 days old, then retried in the
        // queue for days: the consumer's check has no clock to go by.
        let old = accepted(
            &entries(&[
                ("event_name", "e"),
                ("user_id", "u"),
                ("event_timestamp_epoch", "1762300800000"),
            ]),
            1762300800000 + 29 * 86_400_000,
        );
        let bodies = [message(core::slice::from_ref(&old))];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let mut batch = Batch::new(&bodies);
        assert_eq!(batch.requests(), 1);
        let sent = decoded_request(&batch, 0, &bodies);
        assert_eq!(
            sent["events"][0],
            serde_json::from_str::<serde_json::Value>(&old).unwrap()
        );
        batch.answer(0, 200, false, "", "", "", 0);
        assert_eq!(batch.outcome(0, 9, 0, &base(1)), Outcome::Ack);
    }

    #[test]
    fn a_foreign_bad_event_is_dead_lettered_and_the_rest_of_the_batch_goes() {
        let ours: Vec<String> = (0..5).map(|i| ev(&format!("a{i}"), i)).collect();
        let bad = r#"{"event_name":"signup","event_id":"a0"}"#;
        let fine = r#"{"event_name":"x","user_id":"v","event_timestamp_epoch":1420452000000,"paid":true}"#;
        let foreign = format!(r#"{{"events":[{bad},{fine}]}}"#);
        let bodies = [foreign, message(&ours)];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let mut batch = Batch::new(&bodies);
        assert_eq!(batch.events(), 7);
        assert_eq!(batch.requests(), 1, "one request");
        let sent = decoded_request(&batch, 0, &bodies);
        let sent = sent["events"].as_array().unwrap();
        let ids: Vec<&str> = sent.iter().filter_map(|e| e["event_id"].as_str()).collect();
        assert_eq!(
            ids,
            ["a0", "a1", "a2", "a3", "a4"],
            "the bad a0 is no first copy: ours goes"
        );
        assert_eq!(sent.len(), 6, "the bad event is not sent");
        assert_eq!(sent[0]["paid"], "true", "the foreign good one as validated");
        batch.answer(0, 200, false, "", "{\"status\":true}", "KEY", 0);
        assert_eq!(batch.outcome(1, 1, 0, &base(1)), Outcome::Ack, "our message is acked");
        let Outcome::DeadLetter { refused, invalid } = batch.outcome(0, 1, 0, &base(1)) else {
            panic!("dead letter")
        };
        assert!(refused.is_empty());
        assert_eq!(invalid.len(), 1);
        let mut dlq = String::new();
        batch.write_invalid(&invalid, &bodies, &mut dlq);
        let v: serde_json::Value = serde_json::from_str(&dlq).unwrap();
        assert_eq!(
            v["events"][0],
            serde_json::from_str::<serde_json::Value>(bad).unwrap(),
            "as it came"
        );
        assert_eq!(v["invalid"][0]["index"], 0);
        assert_eq!(v["invalid"][0]["code"], "missing_field");
        assert_eq!(v["invalid"][0]["field"], "user_id");
        assert!(v["invalid"][0]["message"].as_str().unwrap().contains("required"));
        for bound in [true, false] {
            let line = batch.invalid_line(&invalid, "THE_DLQ", bound);
            assert!(line.contains("own check refused 1 events"), "{line}");
            assert!(
                line.contains("(missing_field user_id;") && line.contains("not sent to CoolaData"),
                "{line}"
            );
            assert!(!line.contains("CoolaData refused"), "{line}");
            let fate = if bound {
                "dead-lettered to THE_DLQ"
            } else {
                "dropped (no THE_DLQ bound)"
            };
            assert!(line.ends_with(fate), "{line}");
        }
        // When our request fails, the foreign message waits with ours.
        batch.answer(0, 503, false, "3", "", "", 0);
        assert_eq!(batch.outcome(0, 1, 0, &base(1)), Outcome::Retry(3));
        assert_eq!(batch.outcome(1, 1, 0, &base(1)), Outcome::Retry(3));
    }

    #[test]
    fn a_message_of_bad_events_only_makes_no_request() {
        let base = r#""event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000"#;
        let foreign = format!(r#"{{"events":[{{"a":1}},{{{base},"uid":"x"}},{{"b":2}},{{{base},"n":NaN}}]}}"#);
        let bodies = [foreign.as_str(), r#"{"events":[]}"#];
        let batch = Batch::new(&bodies);
        assert_eq!((batch.events(), batch.requests()), (4, 0));
        let Outcome::DeadLetter { refused, invalid } = batch.outcome(0, 1, 0, &base_delay()) else {
            panic!("dead letter")
        };
        assert_eq!((refused.len(), invalid.len()), (0, 4));
        assert_eq!(batch.outcome(1, 1, 0, &base_delay()), Outcome::Ack);
        let line = batch.invalid_line(&invalid, "D", false);
        assert!(
            line.contains("(missing_field event_name, reserved_property uid, invalid_value n;"),
            "each reason once: {line}"
        );
        let mut dlq = String::new();
        batch.write_invalid(&invalid, &bodies, &mut dlq);
        let v: serde_json::Value = serde_json::from_str(&dlq).unwrap();
        assert_eq!(v["events"].as_array().unwrap().len(), 4);
        let indexes: Vec<u64> = v["invalid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["index"].as_u64().unwrap())
            .collect();
        assert_eq!(indexes, [0, 1, 2, 3]);
        assert_eq!(v["invalid"][1]["field"], "uid");
        assert!(
            v["events"][3].as_str().unwrap().ends_with(r#""n":NaN}"#),
            "not JSON: as a string"
        );
        assert_eq!(v["events"][2]["b"], 2);
    }

    fn base_delay() -> RetryDelay {
        RetryDelay::default()
    }

    #[test]
    fn log_lines_say_what_happened_and_where_it_went() {
        for bound in [true, false] {
            let line = unreadable_line("COOLA_DLQ", bound);
            assert!(
                line.starts_with("a queue message is not a coola-tracker collector message"),
                "{line}"
            );
            assert!(line.contains("another producer") && line.contains("nothing of it sent to CoolaData"));
            assert!(!line.contains("refused"), "{line}");
            let fate = if bound {
                "; dead-lettered to COOLA_DLQ"
            } else {
                "; dropped (no COOLA_DLQ bound)"
            };
            assert!(line.ends_with(fate), "{line}");
        }
        assert_eq!(refused_line("D", true), None);
        assert_eq!(
            refused_line("D", false).as_deref(),
            Some("CoolaData refused these events (no D bound)")
        );
    }

    #[test]
    fn setup_problems_name_the_variable_and_never_its_value() {
        let vars = ("KEY_VAR", "URL_VAR");
        let p = |key, url, parses| setup_problem(vars, key, url, parses);
        let ok = Some("https://api.example/v3/{appKey}/track");
        assert_eq!(p(Some("k"), ok, true), None);
        assert_eq!(p(Some("k"), None, true), None, "unset: CoolaData's own");
        assert_eq!(p(Some("k"), Some(""), false), None, "empty: CoolaData's own");
        assert_eq!(p(Some("k"), Some("HTTP://127.0.0.1:8787/x"), true), None);
        for key in [None, Some("")] {
            let m = p(key, Some("ftp://u:pw@x"), false).unwrap();
            assert_eq!(m, "env.KEY_VAR (the CoolaData app key) is not set");
        }
        for (url, parses, want) in [
            (
                "api.example/v3/track",
                false,
                "must be an https:// URL (http only for localhost",
            ),
            ("ftp://api.example/x", true, "must be an https:// URL"),
            ("https://", false, "has no host"),
            ("https:///path", true, "has no host"),
            ("https//api.example", false, "must be an https:// URL"),
            (
                "https://user:secret@api.example/x",
                true,
                "must not hold user:password@",
            ),
            ("https://user@api.example/x", true, "must not hold user:password@"),
            ("https://exa mple.com/x", false, "must not contain spaces"),
            (
                "https://api.example\\@evil/x",
                false,
                "must not contain spaces, backslashes",
            ),
            ("https://api.example:99999/x", false, "is not a URL"),
            // The tracker's rule: the app key never in cleartext, but on a loopback host.
            ("http://api.example/v3/{appKey}/track", true, "must be an https:// URL"),
            (
                "http://example.org/v3/{appKey}/track",
                true,
                "http only for localhost, 127.0.0.0/8, [::1]",
            ),
            ("http://128.0.0.1/x", true, "must be an https:// URL"),
        ] {
            let m = p(Some("the-key"), Some(url), parses).unwrap();
            assert!(m.starts_with("env.URL_VAR ") && m.contains(want), "{url}: {m}");
            assert!(!m.contains("\"endpoint\""), "{m}");
            assert!(
                !m.contains("secret")
                    && !m.contains("the-key")
                    && !m.contains("api.example")
                    && !m.contains("example.org"),
                "{m}"
            );
        }
        for url in [
            "http://localhost:8787/v3/{appKey}/track",
            "http://127.0.0.1/x",
            "http://[::1]:1/x",
            "https://api.example/x",
        ] {
            assert_eq!(p(Some("k"), Some(url), true), None, "{url}");
        }
        assert_eq!(
            p(Some("k"), Some("https://api.example/a@b?c@d"), true),
            None,
            "an @ past the host"
        );
    }

    #[test]
    fn a_problem_is_reported_once_while_it_lasts() {
        let mut r = Reported::default();
        assert!(!r.first(None));
        assert!(r.first(Some("a")));
        assert!(!r.first(Some("a")));
        assert!(r.first(Some("b")), "another problem");
        assert!(!r.first(None));
        assert!(r.first(Some("b")), "the same problem again after it cleared");
    }

    #[test]
    fn bodies_in_every_form_read_back() {
        let json = r#"{"events":[{"a":"x y+z é&="}]}"#;
        let mut form_body = String::new();
        batch::write_body(&mut form_body, [r#"{"a":"x y+z é&="}"#], BodyFormat::Form);
        let mut raw = String::new();
        batch::write_body(&mut raw, [r#"{"a":"x y+z é&="}"#], BodyFormat::Raw);
        assert_eq!(decode_body(&form_body).as_deref(), Some(json));
        assert_eq!(decode_body(&raw).as_deref(), Some(json));
        assert_eq!(decode_body(json).as_deref(), Some(json));
        assert_eq!(decode_body(&format!("r=1&{form_body}")).as_deref(), Some(json));
        assert_eq!(decode_body("data=%7B%ZZ"), None);
        assert_eq!(decode_body("data=%FF"), None);
        assert_eq!(decode_body("hello"), None);
        assert_eq!(decode_body(""), None);
    }

    #[test]
    fn messages_and_sends_stay_within_queues_limits() {
        let lens = vec![30_000; 10];
        let msgs = pack_messages(&lens);
        assert_eq!(msgs, vec![3, 3, 3, 1]);
        assert_eq!(pack_messages(&[]), Vec::<usize>::new());
        assert_eq!(pack_messages(&[200_000, 10]), vec![1, 1]);
        assert_eq!(pack_sends(&[100_000; 5]), vec![2, 2, 1]);
        assert_eq!(pack_sends(&[10; 250]), vec![100, 100, 50]);
        let events: Vec<String> = (0..450)
            .map(|i| format!("{{\"i\":{i},\"p\":\"{}\"}}", "z".repeat(900)))
            .collect();
        let sends = pack(&events);
        let mut seen = Vec::new();
        for call in &sends {
            assert!(call.len() <= SEND_MESSAGES && call.iter().map(String::len).sum::<usize>() <= SEND_BYTES);
            for m in call {
                assert!(m.len() <= MESSAGE_BYTES);
                let v: serde_json::Value = serde_json::from_str(m).unwrap();
                seen.extend(v["events"].as_array().unwrap().iter().map(|e| e["i"].as_u64().unwrap()));
            }
        }
        assert_eq!(seen, (0..450).collect::<Vec<u64>>());
        assert!(sends.len() >= 2);
    }

    proptest! {
        #[test]
        fn packing_keeps_every_event_in_order(lens in proptest::collection::vec(1usize..102_400, 0..60)) {
            let counts = pack_messages(&lens);
            prop_assert_eq!(counts.iter().sum::<usize>(), lens.len());
            let mut at = 0;
            let mut sizes = Vec::new();
            for n in counts {
                prop_assert!(n >= 1);
                let size = message_len(&lens[at..at + n]);
                prop_assert!(size <= MESSAGE_BYTES);
                sizes.push(size);
                at += n;
            }
            let sends = pack_sends(&sizes);
            prop_assert_eq!(sends.iter().sum::<usize>(), sizes.len());
            let mut at = 0;
            for n in sends {
                prop_assert!((1..=SEND_MESSAGES).contains(&n));
                prop_assert!(n == 1 || sizes[at..at + n].iter().sum::<usize>() <= SEND_BYTES);
                at += n;
            }
        }

        #[test]
        fn message_len_is_exact(lens in proptest::collection::vec(1usize..50, 0..20)) {
            let events: Vec<String> = lens.iter().map(|&n| "x".repeat(n)).collect();
            prop_assert_eq!(message(&events).len(), message_len(&lens));
        }
    }

    #[test]
    fn regroups_into_requests_of_at_most_300_and_sends_an_id_once() {
        let a: Vec<String> = (0..250).map(|i| ev(&format!("a{i}"), i)).collect();
        let mut b: Vec<String> = (0..250).map(|i| ev(&format!("b{i}"), i)).collect();
        b.push(ev("a7", 7)); // the same event_id as one in message a
        let bodies = [message(&a), message(&b)];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let batch = Batch::new(&bodies);
        assert_eq!(batch.events(), 501);
        assert_eq!(batch.requests(), 2);
        assert_eq!(
            (batch.request_len(0), batch.request_len(1)),
            (250, 250),
            "a message that fits in one request is not split"
        );
        let mut ids = Vec::new();
        for r in 0..batch.requests() {
            for e in decoded_request(&batch, r, &bodies)["events"].as_array().unwrap() {
                ids.push(e["event_id"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(ids.len(), 500);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 500, "each event_id once");
    }

    proptest! {
        #[test]
        fn grouping_keeps_order_limits_and_messages_whole(
            msgs in proptest::collection::vec(proptest::collection::vec(1usize..40_000, 0..400), 0..30),
        ) {
            let sizes: Vec<usize> = msgs.iter().map(Vec::len).collect();
            let costs: Vec<usize> = msgs.concat();
            let groups = group(&costs, &sizes);
            prop_assert_eq!(groups.iter().sum::<usize>(), costs.len());
            // Request boundaries as event offsets.
            let mut bounds = vec![0];
            let mut at = 0;
            for &n in &groups {
                prop_assert!((1..=MAX_EVENTS).contains(&n));
                let bytes: usize = costs[at..at + n].iter().sum();
                prop_assert!(n == 1 || BodyFormat::Form.overhead() + bytes <= REQUEST_BYTES + 3);
                at += n;
                bounds.push(at);
            }
            // A message that fits in a request alone is never cut by a boundary.
            let mut at = 0;
            for m in &msgs {
                let bytes: usize = m.iter().sum();
                if !m.is_empty() && m.len() <= MAX_EVENTS && BodyFormat::Form.overhead() + bytes <= REQUEST_BYTES + 3 {
                    prop_assert!(!bounds.iter().any(|&b| b > at && b < at + m.len()), "message at {} cut", at);
                }
                at += m.len();
            }
        }
    }

    #[test]
    fn requests_stay_under_the_byte_budget() {
        let big = "y".repeat(90_000);
        let events: Vec<String> = (0..30)
            .map(|i| format!(r#"{{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"event_id":"{i}","p":"{big}"}}"#))
            .collect();
        let bodies: Vec<String> = events.chunks(1).map(message).collect();
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let batch = Batch::new(&bodies);
        assert!(batch.requests() >= 3);
        for r in 0..batch.requests() {
            let mut body = String::new();
            batch.write_request(r, &bodies, &mut body);
            assert!(body.len() <= REQUEST_BYTES);
        }
    }

    #[test]
    fn outcomes_follow_each_requests_answer() {
        // Three messages; requests of at most 300 events: m0 (300) | m1 (300) | m2 (10).
        let mk = |p: &str, n: usize| message(&(0..n).map(|i| ev(&format!("{p}{i}"), i)).collect::<Vec<_>>());
        let bodies = [mk("a", 300), mk("b", 300), mk("c", 10)];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let mut batch = Batch::new(&bodies);
        assert_eq!(batch.requests(), 3);
        batch.answer(0, 200, false, "", "{\"status\":true}", "KEY", 0);
        batch.answer(1, 429, false, "7", "", "KEY", 0);
        batch.answer(2, 400, false, "", "{\"error\":\"bad for KEY\"}", "KEY", 0);
        assert_eq!(batch.outcome(0, 1, 0, &base(1)), Outcome::Ack);
        assert_eq!(batch.outcome(1, 1, 0, &base(1)), Outcome::Retry(7));
        let Outcome::DeadLetter { refused, invalid } = batch.outcome(2, 1, 0, &base(1)) else {
            panic!("refused")
        };
        assert!(invalid.is_empty());
        assert_eq!(refused.len(), 10);
        let mut dlq = String::new();
        batch.write_refused(&refused, &bodies, &mut dlq);
        let v: serde_json::Value = serde_json::from_str(&dlq).unwrap();
        assert_eq!(v["events"].as_array().unwrap().len(), 10);
        assert_eq!(v["refused"]["status"], 400);
        let reason = v["refused"]["reason"].as_str().unwrap();
        assert!(reason.contains("{appKey}") && !reason.contains("KEY\""), "{reason}");
        assert!(!dlq.contains("KEY\""));
    }

    #[test]
    fn status_false_network_errors_5xx_and_unanswered() {
        let bodies = [message(&[ev("x", 1)]), message(&[ev("y", 2)]), "not json".to_string()];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let mut batch = Batch::new(&bodies);
        assert_eq!(batch.requests(), 1, "both events fit in one request");
        assert_eq!(batch.outcome(0, 1, u32::MAX, &base(1)), Outcome::Retry(1), "unanswered");
        batch.answer(0, 200, true, "", "{\"status\":false}", "", 0);
        assert!(matches!(batch.outcome(0, 1, 0, &base(1)), Outcome::DeadLetter { .. }));
        assert_eq!(batch.outcome(2, 1, 0, &base(1)), Outcome::Unreadable);
        for s in [0, 408, 500, 503] {
            batch.answer(0, s, false, "", "", "", 0);
            assert!(
                matches!(batch.outcome(1, 3, u32::MAX, &base(2)), Outcome::Retry(8)),
                "{s}"
            );
        }
        for s in [400, 404, 422, 501] {
            batch.answer(0, s, false, "", "", "", 0);
            assert!(
                matches!(batch.outcome(1, 1, 0, &base(1)), Outcome::DeadLetter { .. }),
                "{s}"
            );
        }
    }

    #[test]
    fn an_app_key_refused_is_retried_after_the_setup_delay_and_logged_once_a_batch() {
        let mk = |p: &str, n: usize| message(&(0..n).map(|i| ev(&format!("{p}{i}"), i)).collect::<Vec<_>>());
        let bodies = [mk("a", 300), mk("b", 300), mk("c", 300)];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        for status in [401, 403] {
            let mut batch = Batch::new(&bodies);
            assert_eq!(batch.requests(), 3);
            assert_eq!(
                batch.answer(0, status, false, "", "{\"error\":\"bad key KEY\"}", "KEY", 0),
                Some(Notice::KeyRefused),
                "{status}: the first is logged"
            );
            assert_eq!(
                batch.answer(1, status, false, "", "", "KEY", 0),
                None,
                "{status}: once a batch"
            );
            // With a backoff wait longer than the setup delay on the same message: the longer.
            batch.answer(2, 429, false, "", "", "KEY", 0);
            for m in 0..2 {
                assert_eq!(
                    batch.outcome(m, 1, u32::MAX, &base(1)),
                    Outcome::Retry(SETUP_RETRY_SECONDS),
                    "{status}: never acked nor dead-lettered"
                );
            }
            assert_eq!(
                batch.outcome(2, 1, 0, &base(1)),
                Outcome::Retry(1),
                "{status}: its own backoff"
            );
        }
        // An answer recorded again counts as the last: a 403 after a 200 keeps the messages.
        let small = [message(&[ev("x", 1)]), message(&[ev("y", 2)])];
        let small: Vec<&str> = small.iter().map(String::as_str).collect();
        let mut batch = Batch::new(&small);
        assert_eq!(batch.answer(0, 200, false, "", "", "KEY", 0), None);
        assert_eq!(batch.outcome(0, 1, 0, &base(1)), Outcome::Ack);
        assert_eq!(batch.answer(0, 403, false, "", "", "KEY", 0), Some(Notice::KeyRefused));
        assert_eq!(batch.outcome(0, 1, 0, &base(1)), Outcome::Retry(SETUP_RETRY_SECONDS));
        assert_eq!(batch.outcome(1, 1, 0, &base(1)), Outcome::Retry(SETUP_RETRY_SECONDS));
        // A redirect is still noticed after a 403, once.
        assert_eq!(batch.answer(0, 302, false, "", "", "KEY", 0), Some(Notice::Redirect));
        assert_eq!(batch.answer(0, 403, false, "", "", "KEY", 0), None);
        let line = key_refused_line("KEY_VAR", 403);
        assert_eq!(
            line,
            "CoolaData refused the app key (HTTP 403): check env.KEY_VAR (a wrong or rotated CoolaData app key); \
             the events are kept, retried in 60 s (none acked or dead-lettered)"
        );
        assert!(key_refused_line("K", 401).contains("(HTTP 401)"));
    }

    #[test]
    fn a_redirect_is_a_failed_try_retried_and_logged_once_a_batch() {
        let mk = |p: &str, n: usize| message(&(0..n).map(|i| ev(&format!("{p}{i}"), i)).collect::<Vec<_>>());
        let bodies = [mk("a", 300), mk("b", 300)];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        for status in [301, 302, 303, 307, 308] {
            let mut batch = Batch::new(&bodies);
            assert_eq!(batch.requests(), 2);
            // Retry-After on a redirect is not CoolaData's wait: the backoff.
            assert_eq!(
                batch.answer(0, status, false, "120", "", "KEY", 0),
                Some(Notice::Redirect),
                "the first redirect is logged"
            );
            assert_eq!(batch.answer(1, status, false, "", "", "KEY", 0), None, "once a batch");
            for m in 0..2 {
                assert_eq!(
                    batch.outcome(m, 3, u32::MAX, &base(2)),
                    Outcome::Retry(8),
                    "{status}: never acked"
                );
            }
        }
        let mut batch = Batch::new(&bodies);
        assert_eq!(batch.answer(0, 200, false, "", "", "KEY", 0), None);
        assert_eq!(batch.answer(1, 302, false, "", "", "KEY", 0), Some(Notice::Redirect));
        assert_eq!(batch.outcome(0, 1, 0, &base(1)), Outcome::Ack);
        assert!(matches!(batch.outcome(1, 1, 0, &base(1)), Outcome::Retry(_)));
        let line = redirect_line("URL_VAR", 302, "https://x.example/v3/K%2F1/track/?k=K/1", "K/1");
        assert_eq!(
            line,
            "CoolaData's endpoint (env.URL_VAR) redirected: 302 to \"https://x.example/v3/{appKey}/track/?k={appKey}\", \
             not followed (a redirected POST loses its body, and what answers it acknowledges nothing); \
             the events are retried: set env.URL_VAR to the URL that takes the POST"
        );
        assert!(!redirect_line("V", 301, "", "K").contains(" to \""), "no Location");
        assert!(redirect_line("V", 301, &"x".repeat(5000), "").len() < 600);
    }

    #[test]
    fn a_413_splits_the_request_in_halves_until_an_event_is_alone() {
        // One message of 8 events and one of 2 (whose "a3" copies an event of the first).
        let a: Vec<String> = (0..8).map(|i| ev(&format!("a{i}"), i)).collect();
        let b = vec![ev("a3", 3), ev("b1", 1)];
        let bodies = [message(&a), message(&b)];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let mut batch = Batch::new(&bodies);
        assert_eq!((batch.requests(), batch.request_len(0)), (1, 9));
        let ids = |batch: &Batch, r: usize| -> Vec<String> {
            decoded_request(batch, r, &bodies)["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_string())
                .collect()
        };
        batch.answer(0, 413, false, "", "too large", "", 0);
        assert_eq!(batch.requests(), 3, "two halves to post now");
        assert_eq!((batch.request_len(1), batch.request_len(2)), (4, 5));
        let mut all = [ids(&batch, 1), ids(&batch, 2)].concat();
        assert_eq!(all.len(), 9);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 9, "each event in one half, once");
        assert!(
            matches!(batch.outcome(0, 1, 0, &base(1)), Outcome::Retry(_)),
            "halves unanswered"
        );
        // A 413 answered again to the same request splits nothing more.
        batch.answer(0, 413, false, "", "", "", 0);
        assert_eq!(batch.requests(), 3);
        batch.answer(1, 200, false, "", "", "", 0);
        // The second half is still too large: halves of it, down to one event.
        let mut r = 2;
        while batch.request_len(r) > 1 {
            let before = batch.requests();
            batch.answer(r, 413, false, "", "", "", 0);
            assert_eq!(batch.requests(), before + 2);
            // Acknowledge the first half, keep splitting the second.
            batch.answer(before, 200, false, "", "", "", 0);
            r = before + 1;
        }
        assert!(batch.requests() <= 2 * 9, "at most one request per event, and halves");
        let last = ids(&batch, r);
        assert_eq!(last.len(), 1);
        assert_eq!(
            batch.answer(r, 413, false, "", "{\"error\":\"too large\"}", "", 0),
            None
        );
        assert_eq!(batch.requests(), r + 1, "a single event is not split");
        // The lone event's message dead-letters it, with the 413; the rest acked.
        let who = |m: usize| match batch.outcome(m, 1, 0, &base(1)) {
            Outcome::DeadLetter { refused, invalid } => {
                assert!(invalid.is_empty());
                let mut out = String::new();
                batch.write_refused(&refused, &bodies, &mut out);
                let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                assert_eq!(v["refused"]["status"], 413);
                v["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["event_id"].as_str().unwrap().to_string())
                    .collect()
            }
            Outcome::Ack => Vec::new(),
            o => panic!("{o:?}"),
        };
        let refused = [who(0), who(1)].concat();
        assert!(
            refused.iter().all(|id| *id == last[0]) && !refused.is_empty(),
            "{refused:?} {last:?}"
        );
    }

    proptest! {
        #[test]
        fn splitting_on_413_ends_and_loses_no_event(
            n in 1usize..40,
            answers in proptest::collection::vec(proptest::bool::ANY, 0..200),
        ) {
            let events: Vec<String> = (0..n).map(|i| ev(&format!("e{i}"), i)).collect();
            let bodies = [message(&events)];
            let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
            let mut batch = Batch::new(&bodies);
            // Answer every request as the shell does, 413 or 200 as drawn (413 once drawn out).
            let mut r = 0;
            while r < batch.requests() {
                let big = answers.get(r).copied().unwrap_or(true);
                batch.answer(r, if big { 413 } else { 200 }, false, "", "", "", 0);
                r += 1;
                prop_assert!(batch.requests() < 2 * n + 1);
            }
            // Every event: in an acknowledged request, or alone in a 413'd one.
            let acked = (0..batch.requests()).filter(|&r| !answers.get(r).copied().unwrap_or(true));
            let alone_413 = (0..batch.requests()).filter(|&r| answers.get(r).copied().unwrap_or(true) && batch.request_len(r) == 1);
            let covered: usize = acked.chain(alone_413).map(|r| batch.request_len(r)).sum();
            prop_assert_eq!(covered, n);
            let outcome = batch.outcome(0, 1, 0, &base(1));
            match outcome {
                Outcome::Ack => prop_assert!(covered == n),
                Outcome::DeadLetter { refused, .. } => prop_assert!(!refused.is_empty() && refused.len() <= n),
                o => prop_assert!(false, "{:?}", o),
            }
        }
    }

    #[test]
    fn a_duplicate_shares_its_first_copys_fate() {
        let bodies = [message(&[ev("same", 1)]), message(&[ev("same", 1), ev("other", 2)])];
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let mut batch = Batch::new(&bodies);
        assert_eq!(batch.request_len(0), 2);
        batch.answer(0, 500, false, "", "", "", 0);
        assert!(matches!(batch.outcome(1, 1, 0, &base(1)), Outcome::Retry(_)));
        batch.answer(0, 200, false, "", "", "", 0);
        assert_eq!(batch.outcome(0, 1, 0, &base(1)), Outcome::Ack);
        assert_eq!(batch.outcome(1, 1, 0, &base(1)), Outcome::Ack);
    }

    #[test]
    fn delays_honour_retry_after_and_back_off_up_to_300_s() {
        let d = |base_seconds, max_seconds| RetryDelay {
            base_seconds,
            max_seconds,
        };
        assert_eq!(delay_seconds(Some(1500), 1, 0, &d(1, 300)), 2);
        assert_eq!(delay_seconds(Some(0), 1, 0, &d(1, 300)), 0);
        assert_eq!(delay_seconds(Some(900_000), 1, 0, &d(1, 300)), 300);
        assert_eq!(
            delay_seconds(Some(120_000), 1, 0, &d(1, 10)),
            120,
            "Retry-After above the backoff cap"
        );
        assert_eq!(delay_seconds(None, 1, 0, &d(1, 300)), 1);
        assert_eq!(delay_seconds(None, 1, u32::MAX, &d(5, 300)), 5);
        assert_eq!(delay_seconds(None, 4, u32::MAX, &d(5, 300)), 40);
        assert_eq!(delay_seconds(None, 50, u32::MAX, &d(5, 300)), 300);
        assert_eq!(delay_seconds(None, 50, u32::MAX, &d(5, 30)), 30);
        assert_eq!(delay_seconds(None, 50, u32::MAX, &d(5, 9999)), 300);
        assert_eq!(delay_seconds(None, 0, u32::MAX, &d(0, 0)), 1);
        assert_eq!(RetryDelay::default(), d(2, 300));
    }

    #[test]
    fn scanning_reads_our_messages_and_refuses_the_rest() {
        let tricky = r#"{"event_id":"a\"b\\","s":"}{\",","n":-1.5e3}"#;
        let body = format!(" {{ \"events\" : [ {tricky} , {{}} ] }} ");
        let found = scan_message(&body).unwrap();
        assert_eq!(found.len(), 2);
        let (s, e, id) = found[0];
        assert_eq!(&body[s..e], tricky);
        let (is, ie) = id.unwrap();
        assert_eq!(&body[is..ie], r#""a\"b\\""#);
        assert_eq!(scan_message(r#"{"events":[]}"#).unwrap().len(), 0);
        for bad in [
            "",
            "[]",
            r#"{"events":{}}"#,
            r#"{"other":[]}"#,
            r#"{"events":[{"a":{"b":1}}]}"#,
            r#"{"events":[{"a":[1]}]}"#,
            r#"{"events":[{"a":1}"#,
            r#"{"events":[{"a":"1}]}"#,
            r#"{"events":[]} x"#,
        ] {
            assert!(scan_message(bad).is_none(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn scanning_never_panics(s in "\\PC{0,80}") {
            let _ = scan_message(&s);
            let _ = decode_body(&s);
        }

        #[test]
        fn form_bodies_round_trip(s in "\\PC{0,200}") {
            let mut body = String::from("data=");
            form::push_form(&mut body, &s);
            prop_assert_eq!(decode_body(&body), Some(s.clone()));
            let mut raw = String::new();
            form::push_component(&mut raw, &format!("{{{s}"));
            prop_assert_eq!(decode_body(&raw), Some(format!("{{{s}")));
        }
    }
}
