//! The tracker's side of api.md's "Privacy, sessions, page views, hooks":
//! opt-out as a state that empties the queue, sessions, shared properties,
//! sampling, page views and the hold that lets the shell run `beforeSend`
//! between validating an event and queueing it. Every decision here is
//! host-tested; the shell only does the I/O these methods ask for.

#[allow(unused_imports)]
use crate::prelude::*;

use super::{Props, Tracker};
use crate::core::config::Config;
use crate::core::error::{Error, ErrorCode};
use crate::core::event::{self, RawValue, ValidateOptions};
use crate::core::privacy::{self, PageViews};
use crate::core::session::Session;
use crate::core::store;

/// Most shared properties (`properties`, `setProperties`): with the
/// tracker's own defaults they stay within what one event's check handles.
pub const MAX_SHARED: usize = 32;

/// A property with its value as it is sent: name, text, and whether the
/// text is a JSON number (else a string). The shared properties and the
/// environment's are of this one type; a boolean is kept as the string
/// the validator writes for it (`"true"`, `"false"`).
pub(super) type Prop = (String, String, bool);

/// The value of a [`Prop`] for the validator.
pub(super) fn raw(text: &str, numeric: bool) -> RawValue<'_> {
    if numeric {
        RawValue::NumText(text)
    } else {
        RawValue::Str(text)
    }
}

/// The state behind those features, one per tracker.
pub(super) struct Extras {
    opted_out: bool,
    /// The user id is the anonymous one (no `userId`, no `setUserId`).
    pub(super) anonymous: bool,
    /// `None` when sessions are off (`sessionTimeoutMs: 0`).
    session: Option<Session>,
    shared: Vec<Prop>,
    pages: PageViews,
    /// `beforeSend` runs between validating and queueing.
    hold: bool,
    /// The validated event waiting for `beforeSend` (its JSON is the
    /// tracker's scratch): its id, time and shared keys (see `Slot::shared`).
    held: Option<(String, i64, u8)>,
}

impl Extras {
    pub(super) fn new(cfg: &Config) -> Self {
        let timeout = cfg.session_timeout_ms.unwrap_or(0);
        Extras {
            opted_out: false,
            anonymous: cfg.user_id.is_none(),
            session: (timeout > 0).then(|| Session::new(timeout)),
            shared: Vec::new(),
            pages: PageViews::default(),
            hold: false,
            held: None,
        }
    }

    /// Whether a shared property named `key` is set (its value then wins
    /// over the tracker's own default of that name).
    pub(super) fn shares(&self, key: &str) -> bool {
        find(&self.shared, key).is_some()
    }

    /// The defaults that follow `event_id` and the timestamp in an event:
    /// the shared properties, `session_id` and `sample_rate`. With the user
    /// id, the page's and the environment's properties after them, they are
    /// the same for the events of a page, and stored once per page (see
    /// `store::split_shared`).
    pub(super) fn lead_defaults<'a>(
        &'a self,
        cfg: &'a Config,
        with_session: bool,
        out: &mut Vec<(&'a str, RawValue<'a>)>,
    ) {
        for (k, v, numeric) in &self.shared {
            // Still wins over a default of its name when empty (`shares`).
            push_sent(out, k, v, *numeric);
        }
        if let Some(s) = self.session.as_ref().filter(|_| with_session) {
            self.add(out, "session_id", s.id(), false);
        }
        if let Some((_, text)) = &cfg.sample_rate {
            self.add(out, "sample_rate", text, true);
        }
    }

    /// Adds a default to `out` (see [`push_sent`]) unless a shared property
    /// of that name wins.
    pub(super) fn add<'a>(&self, out: &mut Vec<(&'a str, RawValue<'a>)>, k: &'a str, text: &'a str, numeric: bool) {
        if !self.shares(k) {
            push_sent(out, k, text, numeric);
        }
    }
}

/// Adds a default to `out`, as a JSON number when `numeric`, unless it is
/// empty: the one place of the rule that an empty default is not sent (the
/// environment's, the page's, the shared properties), so that it is not
/// counted among the keys stored once per page either (see `shared_keys`).
fn push_sent<'a>(out: &mut Vec<(&'a str, RawValue<'a>)>, k: &'a str, text: &'a str, numeric: bool) {
    if !text.is_empty() {
        out.push((k, raw(text, numeric)));
    }
}

/// Where the shared property named `key` is (one loop for every lookup).
fn find(shared: &[Prop], key: &str) -> Option<usize> {
    let mut i = 0;
    while let Some((k, _, _)) = shared.get(i) {
        if k == key {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Checks properties to add to `shared` as an event's properties are
/// checked: none of the names set per event, at most [`MAX_SHARED`] in all.
fn check_shared(encoded: &str, shared: &[Prop]) -> Result<(), Error> {
    let mut given = 0;
    let mut added = 0;
    // A malformed entry ends the properties: validation below reports it
    // (unless more than MAX_SHARED came before it: then too_many does).
    for (k, v) in Props::new(encoded) {
        if matches!(
            k,
            event::EVENT_NAME | event::EVENT_ID | event::USER_ID | event::TIMESTAMP
        ) {
            return Err(Error::field(
                ErrorCode::InvalidValue,
                k,
                "is set per event: pass it to track() (user_id: setUserId)",
            ));
        }
        if !matches!(v, RawValue::Absent) {
            given += 1;
            added += usize::from(find(shared, k).is_none());
        }
    }
    if given > MAX_SHARED || shared.len() + added > MAX_SHARED {
        return Err(too_many());
    }
    // The same rules as an event's properties.
    let opts = ValidateOptions {
        server_timestamp: true,
        now_ms: None,
    };
    Props::new(encoded)
        .validate(
            &mut String::new(),
            Some(RawValue::Str("e")),
            &[(event::USER_ID, RawValue::Str("u"))],
            &opts,
        )
        .map(|_| ())
}

fn too_many() -> Error {
    Error::new(
        ErrorCode::InvalidValue,
        "at most 32 shared properties: pass the rest to track()",
    )
}

impl Tracker {
    /// Whether the visitor is opted out.
    pub fn opted_out(&self) -> bool {
        self.x.opted_out
    }

    /// Opts out: every queued event is dropped, in flight or not (a later
    /// answer to a request sent before is ignored, and nothing is retried),
    /// stored ones are unstored by the next [`Tracker::persist`], the
    /// anonymous id is replaced by a new random one and the session is
    /// forgotten. Returns how many contexts this tab stored: with the
    /// anonymous id and the session, their keys are to be removed (see
    /// [`privacy::opt_out_keys`]).
    #[inline(always)]
    pub fn opt_out(&mut self) -> u64 {
        self.x.opted_out = true;
        self.x.held = None;
        for s in self.q.queue.iter() {
            if !s.done() && s.stored > 0 {
                // Everything this tab stored goes: the byte count restarts at 0.
                self.unstore.push(s.seq);
            }
        }
        self.stats.dropped += self.q.live as u64;
        // Every context this tab stored goes too: the numbers go on from
        // here, so a later event never names a removed context's number.
        self.q = super::QueueState::INITIAL;
        if self.x.anonymous {
            self.user_id = self.rng.uuid();
        }
        if let Some(s) = &mut self.x.session {
            s.forget();
        }
        self.ctx_count
    }

    /// Whether the user id is the anonymous one (no `userId` option, no
    /// `setUserId`): the one an opt-out forgets.
    pub fn anonymous(&self) -> bool {
        self.x.anonymous
    }

    /// Opts in again. Events tracked while opted out are not recovered.
    ///
    /// `stored` is the anonymous id in storage, read by the shell (a
    /// plausible one, as [`crate::core::store::is_plausible_id`] says): the
    /// site's tabs send one id, so an anonymous tracker takes it (another
    /// tab that opted in first wrote it; the opt-out removed the one
    /// before). Returns whether the shell is to write this tracker's own
    /// anonymous id instead (none was stored).
    pub fn opt_in(&mut self, stored: Option<String>) -> bool {
        self.x.opted_out = false;
        match stored {
            Some(id) if self.x.anonymous => {
                self.user_id = id;
                false
            }
            _ => self.x.anonymous,
        }
    }

    /// Whether this tab's view of the session has run out at `now_ms`: the
    /// shell should then read the stored session and hand it to
    /// [`Tracker::resume_session`] before tracking (another tab may have
    /// kept it alive). False when sessions are off or the visitor is opted
    /// out.
    pub fn session_expired(&self, now_ms: i64) -> bool {
        !self.x.opted_out && self.x.session.as_ref().is_some_and(|s| s.expired(now_ms))
    }

    /// Takes the stored session, if it is still running at `now_ms`.
    #[inline(always)]
    pub fn resume_session(&mut self, stored: Option<&str>, now_ms: i64) {
        if let Some(s) = &mut self.x.session {
            s.resume(stored, now_ms);
        }
    }

    /// The current session id, `""` when sessions are off or none started.
    pub fn session_id(&self) -> &str {
        self.x.session.as_ref().map_or("", |s| s.id())
    }

    /// The session to store, once per change (with the end-of-task persist).
    #[inline(always)]
    pub fn take_session(&mut self) -> Option<String> {
        self.x.session.as_mut().and_then(Session::take_stored)
    }

    /// Counts an event tracked at `now_ms` as session activity (rolling the
    /// session over after a gap); whether the event gets a `session_id`
    /// (false when sessions are off or the visitor is opted out). The id is
    /// read where the defaults are built, without a copy per event.
    #[inline(always)]
    pub(super) fn touch_session(&mut self, now_ms: i64) -> bool {
        if self.x.opted_out {
            return false;
        }
        let rng = &mut self.rng;
        let Some(s) = self.x.session.as_mut() else {
            return false;
        };
        s.touch(now_ms, || rng.uuid());
        true
    }

    /// Checks properties (the shell's [`entries`](crate::core::entries) form of an object) as
    /// [`Tracker::set_properties`] would, without a tracker (the
    /// `properties` option is checked before the tracker touches storage).
    pub fn check_properties(encoded: &str) -> Result<(), Error> {
        check_shared(encoded, &[])
    }

    /// Merges properties (the shell's [`entries`](crate::core::entries) form of an object) into
    /// those added to every later event: `null` / `undefined` removes one.
    /// Checked first as `track` checks properties; on error nothing changes.
    pub fn set_properties(&mut self, encoded: &str) -> Result<(), Error> {
        check_shared(encoded, &self.x.shared)?;
        let shared = &mut self.x.shared;
        for (k, v) in Props::new(encoded) {
            let at = find(shared, k);
            let (text, numeric) = match v {
                RawValue::Str(s) => (s, false),
                RawValue::NumText(t) => (t, true),
                RawValue::Bool(b) => (if b { "true" } else { "false" }, false),
                _ => {
                    // The last one takes its place: the order of keys in
                    // an event's JSON means nothing, and `swap_remove` on an
                    // index known to be in range has no panic path (as
                    // `Vec::remove` has, with `try_remove`: ~300 B of wasm).
                    if let Some(i) = at.filter(|&i| i < shared.len()) {
                        shared.swap_remove(i);
                    }
                    continue;
                }
            };
            match at.and_then(|i| shared.get_mut(i)) {
                Some(slot) => {
                    slot.1.clear();
                    slot.1.push_str(text);
                    slot.2 = numeric;
                }
                None => shared.push((k.to_string(), text.to_string(), numeric)),
            }
        }
        Ok(())
    }

    /// A page view at `url` is tracked: its `referring_url` when it follows
    /// an in-page navigation (the previous page view's URL).
    #[inline(always)]
    pub fn page_view(&mut self, url: &str) -> Option<String> {
        self.x.pages.view(url)
    }

    /// Whether an automatic page view is due at `url` (the URL changed
    /// since the last page view).
    pub fn page_view_due(&self, url: &str) -> bool {
        self.x.pages.changed(url)
    }

    /// Whether a page view was tracked yet.
    pub fn any_page_view(&self) -> bool {
        self.x.pages.any()
    }

    /// With `true`, [`Tracker::track_encoded`] validates an event and holds
    /// it instead of queueing it: the shell hands [`Tracker::held_json`] to
    /// `beforeSend`, then calls [`Tracker::release_held`] or
    /// [`Tracker::drop_held`].
    pub fn set_hold(&mut self, hold: bool) {
        self.x.hold = hold;
    }

    /// The JSON of the event held for `beforeSend`.
    pub fn held_json(&self) -> Option<&str> {
        self.x.held.as_ref().map(|_| self.scratch.as_str())
    }

    /// Forgets the held event (`beforeSend` dropped it, or threw).
    #[inline(always)]
    pub fn drop_held(&mut self) {
        self.x.held = None;
    }

    /// Queues the held event, as it was (`changed` = `None`), or as
    /// `beforeSend` changed it (`changed`: the changed event in the
    /// [`entries`](crate::core::entries) form), which is validated again as `track` validates (a
    /// removed `event_id` is put back). Returns its `event_id`; on error
    /// nothing is queued.
    #[inline(always)]
    pub fn release_held(&mut self, now_ms: i64, changed: Option<&str>) -> Result<String, Error> {
        let Some((mut id, mut time, mut shared)) = self.x.held.take() else {
            return Ok(String::new());
        };
        if let Some(encoded) = changed {
            // The keys of the event as the tracker built it: a change that
            // adds or removes one (an added one ends the object) stores the
            // event whole; one that changes values in place keeps its part
            // stored once per page (a new context when that part changed).
            let built = store::key_count(&self.scratch);
            self.scratch.clear();
            let opts = ValidateOptions {
                server_timestamp: self.cfg.server_timestamp,
                now_ms: Some(now_ms),
            };
            let (t, given) = Props::new(encoded).validate(
                &mut self.scratch,
                None,
                &[(event::EVENT_ID, RawValue::Str(&id))],
                &opts,
            )?;
            time = t.unwrap_or(if self.cfg.server_timestamp { i64::MAX } else { time });
            super::own_id(&mut id, given, encoded);
            if store::key_count(&self.scratch) != built {
                shared = 0;
            }
        }
        self.queue_scratch(time, shared);
        Ok(id)
    }

    /// What becomes of an event that passed validation (its JSON in the
    /// scratch): nothing while opted out or sampled out (`""`), held for
    /// `beforeSend`, or queued. `rest` is the caller's part of the entries,
    /// `own_user` whether it gives a `user_id`; `shared` how many keys end
    /// it that are the same for the events of the page.
    #[inline(always)]
    pub(super) fn admit(&mut self, rest: &str, own_user: bool, id: String, time: i64, shared: u8) -> String {
        if self.x.opted_out || !self.sampled_in(rest, own_user) {
            return String::new();
        }
        if self.x.hold {
            self.x.held = Some((id.clone(), time, shared));
            return id;
        }
        self.queue_scratch(time, shared);
        id
    }

    /// Queues the event validated last (its JSON in the scratch).
    #[inline(always)]
    fn queue_scratch(&mut self, time: i64, shared: u8) {
        let json = self.scratch.clone();
        self.push_shared(json, time, shared);
    }

    /// Whether an event waits for `beforeSend` (a `track` from inside it
    /// is refused).
    pub(super) fn holding(&self) -> bool {
        self.x.held.is_some()
    }

    /// Whether the event's user (its own `user_id`, else the tracker's) is
    /// kept by `sampleRate`.
    #[inline(always)]
    fn sampled_in(&self, rest: &str, own_user: bool) -> bool {
        let Some((rate, _)) = self.cfg.sample_rate else {
            return true;
        };
        let own = own_user.then(|| super::caller_str(rest, event::USER_ID)).flatten();
        // A function of the id alone (a hash): the same user is kept or
        // dropped as a whole, with nothing to remember.
        privacy::keeps_user(own.unwrap_or(&self.user_id), rate)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, track, tracker, with_env, T0};
    use super::*;
    use crate::core::config::OptValue;
    use crate::core::entries::tests::write;

    fn with_sessions() -> Tracker {
        tracker(&[("sessionTimeoutMs", OptValue::Num(1_800_000.0))])
    }

    #[test]
    fn opt_out_purges_everything_and_ignores_a_late_answer() {
        use std::collections::BTreeMap;
        let mut t = with_sessions();
        for i in 0..3 {
            track(&mut t, T0, i);
        }
        let mut stored = BTreeMap::new();
        t.persist(
            |seq, json| stored.insert(seq, json.to_string()).is_none(),
            |_, _| true,
            |_| {},
        );
        assert_eq!(stored.len(), 3);
        let r = t.next_request(T0, false, None).unwrap();
        track(&mut t, T0, 3);
        let anon = t.user_id().to_string();
        let session = t.session_id().to_string();
        assert!(!session.is_empty());
        let contexts = t.opt_out();
        assert_eq!(contexts, 1, "one context: the session and the user id");
        assert!(t.opted_out());
        assert_eq!(t.pending(), 0);
        assert!(!t.in_flight());
        assert_ne!(t.user_id(), anon, "the anonymous id is forgotten");
        assert_eq!(t.session_id(), "");
        // The stored events are removed by the next persist.
        t.persist(
            |_, _| panic!("nothing is written"),
            |_, _| true,
            |seq| {
                stored.remove(&seq);
            },
        );
        assert!(stored.is_empty());
        // The answer to the request sent before optOut changes nothing.
        assert_eq!(
            t.on_response(r.id, T0, 200, None, false),
            super::super::Outcome::default()
        );
        assert_eq!(
            t.on_response(r.id, T0, 503, None, false),
            super::super::Outcome::default()
        );
        assert!(
            t.next_request(T0 + 3_600_000, true, None).is_none(),
            "nothing is retried"
        );
        // Opted out: validates, queues nothing, returns "".
        assert_eq!(track(&mut t, T0, 9), "");
        let bad = write('s', "event_name", "e") + &write('o', "cart", "");
        assert_eq!(t.track_encoded(T0, &bad).unwrap_err().code, ErrorCode::NestedProperty);
        assert_eq!(t.pending(), 0);
        assert!(!t.session_expired(T0), "no session read while opted out");
        // Opted in again: tracking resumes with a new session.
        assert!(t.opt_in(None), "no stored id: this one is to be written");
        assert_eq!(track(&mut t, T0, 10).len(), 36);
        assert_eq!(t.pending(), 1);
        assert_ne!(t.session_id(), session);
    }

    #[test]
    fn opt_out_names_the_contexts_to_remove_and_keeps_a_given_user_id() {
        let mut t = with_env();
        for url in ["https://x/a", "https://x/b"] {
            let enc = write('p', "page_url", url) + &write('s', "event_name", "e");
            t.track_encoded(T0, &enc).unwrap();
        }
        let mut contexts = 0;
        t.persist(
            |_, _| true,
            |_, _| {
                contexts += 1;
                true
            },
            |_| {},
        );
        assert_eq!(contexts, 2);
        assert_eq!(t.opt_out(), 2);
        // Numbers never repeat: after opting in again, a new context is 3.
        t.opt_in(None);
        let enc = write('p', "page_url", "https://x/c") + &write('s', "event_name", "e");
        t.track_encoded(T0, &enc).unwrap();
        let mut numbers = Vec::new();
        t.persist(
            |_, _| true,
            |n, _| {
                numbers.push(n);
                true
            },
            |_| {},
        );
        assert_eq!(numbers, vec![3]);
        let mut given = tracker(&[]);
        given.set_user_id("me").unwrap();
        given.opt_out();
        assert_eq!(given.user_id(), "me", "a user id given by the site is not anonymous");
    }

    #[test]
    fn opt_in_takes_the_anonymous_id_another_tab_stored() {
        // Two tabs followed one opt-out, each with a new random id; the
        // first to opt in writes its own, the other takes it.
        let mut a = tracker(&[]);
        let mut b = tracker(&[]);
        a.opt_out();
        b.opt_out();
        assert!(a.opt_in(None));
        let stored = a.user_id().to_string();
        assert!(
            !b.opt_in(Some(stored.clone())),
            "nothing to write: the stored id is kept"
        );
        assert_eq!(b.user_id(), stored);
        track(&mut b, T0, 0);
        let r = b.next_request(T0, false, None).unwrap();
        assert_eq!(
            events(&r.body(crate::core::batch::BodyFormat::Form))[0]["user_id"],
            stored.as_str()
        );
        // A user id given by the site stays, and nothing is written.
        let mut d = tracker(&[]);
        d.set_user_id("me").unwrap();
        d.opt_out();
        assert!(!d.opt_in(Some(stored)));
        assert_eq!(d.user_id(), "me");
    }

    #[test]
    fn sessions_roll_over_after_the_gap_with_a_fake_clock() {
        let mut t = with_sessions();
        track(&mut t, T0, 0);
        let first = t.session_id().to_string();
        track(&mut t, T0 + 29 * 60_000, 1);
        assert_eq!(t.session_id(), first);
        let stored = t.take_session().unwrap();
        assert!(stored.starts_with(&first));
        assert_eq!(t.take_session(), None, "stored once per change");
        assert!(t.session_expired(T0 + 60 * 60_000));
        // Another tab kept it alive: the stored session is taken up.
        let mut alive = first.clone();
        alive.push(':');
        alive.push_str(&(T0 + 50 * 60_000).to_string());
        t.resume_session(Some(&alive), T0 + 60 * 60_000);
        track(&mut t, T0 + 60 * 60_000, 2);
        assert_eq!(t.session_id(), first);
        // A longer gap: a new session.
        track(&mut t, T0 + 120 * 60_000, 3);
        assert_ne!(t.session_id(), first);
        let r = t.next_request(T0 + 120 * 60_000, false, None).unwrap();
        let e = events(&r.body(crate::core::batch::BodyFormat::Form));
        assert_eq!(e[0]["session_id"], first.as_str());
        assert_eq!(e[2]["session_id"], first.as_str());
        assert_eq!(e[3]["session_id"], t.session_id());
        // An event's own session_id wins.
        let enc = write('s', "event_name", "e") + &write('s', "session_id", "mine");
        t.track_encoded(T0 + 120 * 60_000, &enc).unwrap();
        t.on_response(r.id, T0, 200, None, false);
        let r = t.next_request(T0 + 120 * 60_000, false, None).unwrap();
        assert_eq!(
            events(&r.body(crate::core::batch::BodyFormat::Form))[0]["session_id"],
            "mine"
        );
        // Sessions off: no session_id.
        let mut off = tracker(&[]);
        track(&mut off, T0, 0);
        assert_eq!(off.session_id(), "");
        let r = off.next_request(T0, false, None).unwrap();
        assert!(events(&r.body(crate::core::batch::BodyFormat::Form))[0]
            .get("session_id")
            .is_none());
    }

    #[test]
    fn shared_properties_merge_validate_and_lose_to_the_events_own() {
        let mut t = tracker(&[]);
        let set = |t: &mut Tracker, s: &str| t.set_properties(s);
        set(
            &mut t,
            &(write('s', "plan", "pro") + &write('n', "tier", "2") + &write('b', "beta", "true")),
        )
        .unwrap();
        set(&mut t, &(write('u', "tier", "") + &write('s', "plan", "team"))).unwrap();
        for (bad, code) in [
            (write('o', "cart", ""), ErrorCode::NestedProperty),
            (write('s', "uid", "x"), ErrorCode::ReservedProperty),
            (write('s', "", "x"), ErrorCode::InvalidPropertyName),
            (write('N', "n", "NaN"), ErrorCode::InvalidValue),
            (write('s', "event_id", "x"), ErrorCode::InvalidValue),
            (write('X', "", "string"), ErrorCode::InvalidValue),
        ] {
            let e = set(&mut t, &(write('s', "ok", "1") + &bad)).unwrap_err();
            assert_eq!(e.code, code, "{bad}");
        }
        let enc = write('s', "event_name", "e") + &write('s', "plan", "own");
        t.track_encoded(T0, &enc).unwrap();
        track(&mut t, T0, 1);
        let r = t.next_request(T0, false, None).unwrap();
        let e = events(&r.body(crate::core::batch::BodyFormat::Form));
        assert_eq!(e[0]["plan"], "own", "the event's own property wins");
        assert_eq!(e[1]["plan"], "team");
        assert_eq!(e[1]["beta"], "true");
        assert!(e[1].get("tier").is_none(), "null removes one");
        assert!(e[1].get("ok").is_none(), "a failed call changes nothing");
        // Shared properties come after event_id and the timestamp, among
        // the defaults stored once per page.
        let json = t.queued().nth(1).unwrap().1.to_string();
        assert!(
            json.find("\"plan\"").unwrap() > json.find("\"event_timestamp_epoch\"").unwrap(),
            "{json}"
        );
        // No more than MAX_SHARED.
        let many: String = (0..=MAX_SHARED).map(|i| write('n', &format!("p{i}"), "1")).collect();
        assert_eq!(set(&mut t, &many).unwrap_err().code, ErrorCode::InvalidValue);
    }

    #[test]
    fn a_shared_property_wins_over_the_trackers_default_of_that_name() {
        let mut t = tracker(&[("sessionIp", OptValue::Str("0".into()))]);
        t.set_properties(&write('s', "session_ip", "1.2.3.4")).unwrap();
        track(&mut t, T0, 0);
        let json = t.queued().next().unwrap().1.to_string();
        assert_eq!(json.matches("session_ip").count(), 1, "{json}");
        assert!(json.contains("1.2.3.4"));
    }

    #[test]
    fn sampling_keeps_whole_users_and_marks_kept_events() {
        let mut kept_users = 0;
        for u in 0..2000 {
            let mut t = tracker(&[
                ("userId", OptValue::Str(format!("user-{u}"))),
                ("sampleRate", OptValue::Num(0.25)),
            ]);
            let a = track(&mut t, T0, 0);
            let b = track(&mut t, T0, 1);
            assert_eq!(a.is_empty(), b.is_empty(), "a user is kept or dropped as a whole");
            if !a.is_empty() {
                kept_users += 1;
                let r = t.next_request(T0, false, None).unwrap();
                assert_eq!(
                    events(&r.body(crate::core::batch::BodyFormat::Form))[0]["sample_rate"],
                    0.25
                );
            } else {
                assert_eq!(t.pending(), 0);
                // Dropped events are still validated.
                let bad = write('s', "event_name", "e") + &write('a', "list", "");
                assert_eq!(t.track_encoded(T0, &bad).unwrap_err().code, ErrorCode::NestedProperty);
            }
        }
        let share = kept_users as f64 / 2000.0;
        assert!((share - 0.25).abs() < 0.04, "{share}");
        // An event's own user_id decides for that event.
        let mut t = tracker(&[("sampleRate", OptValue::Num(0.5))]);
        let kept = (0..100).find(|i| privacy::keeps_user(&format!("u{i}"), 0.5)).unwrap();
        let dropped = (0..100).find(|i| !privacy::keeps_user(&format!("u{i}"), 0.5)).unwrap();
        let enc = |u: usize| write('s', "event_name", "e") + &write('s', "user_id", &format!("u{u}"));
        assert!(!t.track_encoded(T0, &enc(kept)).unwrap().is_empty());
        assert_eq!(t.track_encoded(T0, &enc(dropped)).unwrap(), "");
        // Without sampleRate no sample_rate is sent.
        let mut all = tracker(&[]);
        track(&mut all, T0, 0);
        assert!(!all.queued().next().unwrap().1.contains("sample_rate"));
    }

    #[test]
    fn before_send_holds_the_event_and_revalidates_only_a_change() {
        let mut t = tracker(&[]);
        t.set_hold(true);
        // Unchanged.
        let id = track(&mut t, T0, 0);
        assert_eq!(t.pending(), 0, "held, not queued");
        let json = t.held_json().unwrap().to_string();
        assert!(json.contains(&id));
        assert_eq!(
            track_err(&mut t),
            ErrorCode::InvalidValue,
            "no track from inside the hook"
        );
        assert_eq!(t.release_held(T0, None).unwrap(), id);
        assert_eq!(t.queued().next().unwrap().1, json);
        // Dropped.
        track(&mut t, T0, 1);
        t.drop_held();
        assert_eq!(t.pending(), 1);
        assert_eq!(t.release_held(T0, None).unwrap(), "", "nothing held");
        // Changed: validated again; a removed event_id is put back, a new one returned.
        let id = track(&mut t, T0, 2);
        let changed = write('s', "event_name", "renamed")
            + &write('s', "user_id", "anon")
            + &write('n', "event_timestamp_epoch", &T0.to_string());
        assert_eq!(t.release_held(T0, Some(&changed)).unwrap(), id);
        let last = t.queued().last().unwrap().1.to_string();
        assert!(last.contains("renamed") && last.contains(&id), "{last}");
        track(&mut t, T0, 3);
        let own = changed.clone() + &write('s', "event_id", "mine");
        assert_eq!(t.release_held(T0, Some(&own)).unwrap(), "mine");
        // A changed event that is not valid: nothing queued, the error as track's.
        for (bad, code) in [
            (
                write('s', "event_name", "e") + &write('o', "nested", ""),
                ErrorCode::NestedProperty,
            ),
            (write('s', "event_name", "e"), ErrorCode::MissingField),
            (write('X', "", "string"), ErrorCode::InvalidValue),
        ] {
            track(&mut t, T0, 4);
            assert_eq!(t.release_held(T0, Some(&bad)).unwrap_err().code, code, "{bad}");
        }
        assert_eq!(t.pending(), 3);
        assert!(t.held_json().is_none());
    }

    fn track_err(t: &mut Tracker) -> ErrorCode {
        let enc = write('s', "event_name", "e");
        t.track_encoded(T0, &enc).unwrap_err().code
    }

    #[test]
    fn page_views_referring_url_follows_in_page_navigation() {
        let mut t = tracker(&[]);
        assert!(!t.any_page_view());
        assert_eq!(t.page_view("https://x/a"), None);
        assert!(!t.page_view_due("https://x/a"));
        assert!(t.page_view_due("https://x/a#top"));
        assert_eq!(t.page_view("https://x/b").as_deref(), Some("https://x/a"));
        // The referrer as a page default wins over the document's referrer.
        t.env_defaults
            .push(("referring_url".into(), "https://search/".into(), false));
        let enc = write('p', "page_url", "https://x/b")
            + &write('p', "page_title", "B")
            + &write('p', "referring_url", "https://x/a")
            + &write('s', "event_name", "page_view");
        t.track_encoded(T0, &enc).unwrap();
        let json = t.queued().next().unwrap().1.to_string();
        assert_eq!(json.matches("referring_url").count(), 1, "{json}");
        assert!(json.contains("\"referring_url\":\"https://x/a\""));
    }
}
