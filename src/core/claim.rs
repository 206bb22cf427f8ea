//! Taking over the stored events of tabs that are gone: which events a tab
//! claims, in what order, and which keys go when.
//!
//! The shell lists every key under the tracker's prefix once, hands the
//! listing to [`claim`], queues what it decided ([`Claim::restore_into`]),
//! persists the events under its own keys and removes the keys it handed
//! back in the order they come: a gone tab's old event keys go only once
//! this tab's persist succeeded (sent twice rather than lost). `optOut()`
//! removes, from the same listing, the keys [`forgotten`] picks.

use crate::core::store::{self, Keys};
use crate::core::tracker::Tracker;
use crate::core::{Error, ErrorCode};
use crate::prelude::*;

/// What [`claim`] decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Claim<'a> {
    /// The gone tabs' events `(time, seq, json, shared)` as they will be
    /// sent, in the order they were tracked; `shared`: how many keys end
    /// the event that its stored context gave (see [`store::restore`]).
    pub events: Vec<(i64, u64, String, u8)>,
    /// How many stored entries were no valid events (reported, never sent).
    pub bad: u32,
    /// Keys to remove after the persist, in this order, each with whether it
    /// goes only if the persist succeeded: the claimed events' old keys and
    /// gone tabs' contexts do (they stay while their events do); keys under
    /// the queue's prefix that are no event key of this library, and gone
    /// tabs' heartbeats, go in any case.
    pub remove_after: Vec<(&'a str, bool)>,
}

impl<'a> Claim<'a> {
    /// Queues the claimed events in `tracker` as restored ones, in order,
    /// with the [`notice`](Self::notice) of bad entries; returns
    /// [`remove_after`](Self::remove_after), what the shell removes once it
    /// persisted them.
    // A function of its own: inlined into the shell's claim, it weighed 25 B
    // of wasm gzip more.
    #[inline(never)]
    pub fn restore_into(mut self, tracker: &mut Tracker) -> Vec<(&'a str, bool)> {
        let notice = self.notice();
        // Borrowing the events and taking each json out (rather than a
        // consuming `into_iter`) compiles smaller: no IntoIter drop glue.
        for (time, _, json, shared) in &mut self.events {
            tracker.restore_shared(::core::mem::take(json), *time, *shared);
        }
        if let Some(e) = notice {
            tracker.notice(e);
        }
        self.remove_after
    }

    /// The notice telling how many bad entries were removed unsent, if any.
    pub fn notice(&self) -> Option<Error> {
        if self.bad == 0 {
            return None;
        }
        Some(crate::core::tracker::counted(
            ErrorCode::StorageError,
            self.bad as usize,
            "stored entries under the tracker's keys were not valid events and were removed unsent",
        ))
    }
}

/// Decides what this tab (of `keys`) takes over at `now`: `all` is every
/// `(key, value, is_object)` under the prefix (an object's value in the
/// [`entries`](crate::core::entries) form). Events of tabs of the same app
/// whose heartbeat is dead ([`store::is_dead`]) are restored with their
/// contexts ([`store::restore`]) and sorted; live tabs and other apps are left
/// alone.
// Inlined into its one caller, the shell's claim: no `Claim` is moved
// across a call (5 B of wasm gzip).
#[inline]
pub fn claim<'a>(all: &[(&'a str, &'a str, bool)], keys: &Keys, now: i64, server_timestamp: bool) -> Claim<'a> {
    let mut out = Claim::default();
    // Each tab seen: its id, and whether it is gone.
    let mut tabs: Vec<(&str, bool)> = Vec::new();
    // The contexts of gone tabs read so far: tab, number, entries.
    let mut contexts: Vec<(&str, u64, Option<&str>)> = Vec::new();
    for &(key, stored, obj) in all {
        // Under the queue's prefix: an event key of this library, or a bad entry.
        let Some(rest) = keys.after(key, "q") else {
            continue;
        };
        let Some((tab, seq)) = store::tab_and_number(rest).filter(|(t, _)| Keys::is_tab_id(t)) else {
            out.bad = out.bad.saturating_add(1);
            out.remove_after.push((key, false));
            continue;
        };
        if !keys.same_app(tab) || !tab_gone(keys, all, tab, &mut tabs, now) {
            continue;
        }
        let context = |n: u64| {
            if let Some(&(_, _, c)) = contexts.iter().find(|(t, m, _)| *t == tab && *m == n) {
                return c;
            }
            let c = find(all, &keys.context_of(tab, n))
                .filter(|&(c, obj)| obj && !c.is_empty())
                .map(|(c, _)| c);
            contexts.push((tab, n, c));
            c
        };
        // A value that is not a JSON object is no event.
        match store::restore(if obj { stored } else { "" }, context, server_timestamp) {
            Ok((json, time, shared)) => out.events.push((time, seq, json, shared)),
            Err(_) => out.bad = out.bad.saturating_add(1),
        }
        out.remove_after.push((key, true));
    }
    store::sort_claimed(&mut out.events);
    // A gone tab's contexts go with its events, and so do those of a gone
    // tab that left no events; gone tabs' heartbeats go in any case.
    for &(key, _, _) in all {
        let (tab, if_persisted) = match keys.after(key, "tab") {
            Some(tab) => (tab, false),
            None => match keys.parse_context(key) {
                Some((tab, _)) => (tab, true),
                None => continue,
            },
        };
        if keys.other_tab(tab) && tab_gone(keys, all, tab, &mut tabs, now) {
            out.remove_after.push((key, if_persisted));
        }
    }
    out
}

/// Whether `optOut()` removes `key` (of the listing [`claim`] reads)
/// besides this tab's own keys: every event and context key of a tab of the
/// same app, live or gone, goes, so nothing of this visitor is sent later;
/// other apps' keys and heartbeats stay. The shell asks for each key it
/// lists (a predicate: a form that returns the list weighed 76 to 102 B
/// of gzip more).
// Inlined: the shipped wasm calls it from the opt-out purge only (29 B less
// gzip than a function of its own).
#[inline(always)]
pub fn forgotten(keys: &Keys, key: &str) -> bool {
    keys.parse_event(key)
        .or_else(|| keys.parse_context(key))
        .is_some_and(|(tab, _)| keys.same_app(tab))
}

/// Whether the tab `tab` is gone: as noted in `tabs` (the tabs seen so far),
/// else from its heartbeat in `all` (the claim's listing), then noted there.
fn tab_gone<'a>(
    keys: &Keys,
    all: &[(&str, &str, bool)],
    tab: &'a str,
    tabs: &mut Vec<(&'a str, bool)>,
    now: i64,
) -> bool {
    if let Some(&(_, dead)) = tabs.iter().find(|(t, _)| **t == *tab) {
        return dead;
    }
    let dead = store::is_dead(find(all, &keys.heartbeat_of(tab)).map(|(v, _)| v), now);
    tabs.push((tab, dead));
    dead
}

/// The value under `key` in a claim's listing, and whether it is a JSON
/// object's properties.
fn find<'a>(all: &[(&str, &'a str, bool)], key: &str) -> Option<(&'a str, bool)> {
    all.iter().find(|(k, _, _)| **k == *key).map(|&(_, v, obj)| (v, obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::privacy;
    use crate::core::store::tests::entries;

    const NOW: i64 = 10_000_000;
    /// The events' times are counted from here (a time the rules accept).
    const T0: i64 = 1_420_452_000_000;

    /// An event of `name` at `time`, stored without its shared part when
    /// `ctx` names a context.
    fn event(name: &str, time: i64, ctx: Option<u64>) -> String {
        let marker = ctx.map(|n| format!(r#","":{n}"#)).unwrap_or_default();
        entries(&format!(
            r#"{{"event_name":"{name}","user_id":"u","event_timestamp_epoch":{},"event_id":"{name}"{marker}}}"#,
            T0 + time
        ))
    }

    /// The listing's borrowed form, as the shell makes it.
    fn view(v: &[(String, String, bool)]) -> Vec<(&str, &str, bool)> {
        v.iter().map(|(k, s, o)| (k.as_str(), s.as_str(), *o)).collect()
    }

    /// This tab's keys, and the ids of a gone tab and a live one of the same app.
    fn setup() -> (Keys, String, String) {
        let me = Keys::new("coola", "https://x/v3/KEY/track", "me");
        let app = me.tab().split('.').next().unwrap_or_default().to_string();
        (me, format!("{app}.gone"), format!("{app}.live"))
    }

    /// The key of `tab`'s event `seq`.
    fn key(keys: &Keys, tab: &str, seq: u64) -> String {
        format!("{}{tab}:{seq}", keys.queue_prefix())
    }

    fn names(c: &Claim) -> Vec<String> {
        c.events
            .iter()
            .map(|(_, _, j, _)| serde_json::from_str::<serde_json::Value>(j).unwrap()["event_name"].to_string())
            .collect()
    }

    #[test]
    fn a_gone_tabs_events_are_claimed_in_order_and_a_live_tabs_left_alone() {
        let (me, gone, live) = setup();
        let beat = |t: &str, at: i64| (me.heartbeat_of(t), at.to_string(), false);
        let q = |t: &str, seq: u64, name: &str, time: i64| (key(&me, t, seq), event(name, time, None), true);
        let listing = vec![
            beat(&gone, NOW - store::STALE_MS - 1),
            beat(&live, NOW - 1000),
            q(&gone, 2, "b", 2000),
            q(&live, 1, "l", 1000),
            q(&gone, 1, "a", 2000),
            q(&gone, 3, "c", 1000),
        ];
        let c = claim(&view(&listing), &me, NOW, false);
        assert_eq!(names(&c), [r#""c""#, r#""a""#, r#""b""#]);
        assert_eq!(c.bad, 0);
        assert_eq!(
            c.remove_after,
            [
                (listing[2].0.as_str(), true),
                (listing[4].0.as_str(), true),
                (listing[5].0.as_str(), true),
                (listing[0].0.as_str(), false),
            ]
        );
        assert_eq!(c.notice(), None);
        // A tab with no heartbeat at all is gone too; another app's tab never is ours.
        let other = Keys::new("coola", "https://x/v3/OTHER/track", "o");
        let listing = vec![
            (other.event(1), event("o", 1, None), true),
            (key(&me, &gone.replace("gone", "nobeat"), 1), event("n", 1, None), true),
        ];
        let c = claim(&view(&listing), &me, NOW, false);
        assert_eq!(names(&c), [r#""n""#]);
        assert_eq!(c.remove_after, [(listing[1].0.as_str(), true)]);
    }

    #[test]
    fn malformed_keys_and_values_are_counted_and_removed() {
        let (me, gone, _) = setup();
        let ev = key(&me, &gone, 1);
        let listing = vec![
            (format!("{}notatab:1", me.queue_prefix()), event("x", 1, None), true),
            (format!("{}{gone}:x", me.queue_prefix()), event("y", 1, None), true),
            (ev.clone(), "a string".to_string(), false),
            (ev.replace(":1", ":2"), entries(r#"{"event_name":"e"}"#), true),
            (ev.replace(":1", ":3"), event("ok", 5, None), true),
        ];
        let c = claim(&view(&listing), &me, NOW, false);
        assert_eq!(c.bad, 4);
        // Bad keys go in any case; bad values under good keys go with the
        // claimed events' keys, once they are persisted.
        let after: Vec<(&str, bool)> = listing
            .iter()
            .map(|(k, _, _)| k.as_str())
            .zip([false, false, true, true, true])
            .collect();
        assert_eq!(c.remove_after, after);
        assert_eq!(names(&c), [r#""ok""#]);
        let n = c.notice().unwrap();
        assert_eq!(n.code, ErrorCode::StorageError);
        assert!(n.message.starts_with("4 stored entries"), "{}", n.message);
    }

    #[test]
    fn contexts_are_joined_and_gone_tabs_contexts_and_heartbeats_removed() {
        let (me, gone, live) = setup();
        let ev = |seq: u64| key(&me, &gone, seq);
        let listing = vec![
            (me.context_of(&gone, 1), entries(r#"{"page_url":"https://x/"}"#), true),
            (ev(1), event("a", 1, Some(1)), true),
            (ev(2), event("b", 2, Some(1)), true),
            (ev(3), event("lost", 3, Some(7)), true),
            (me.heartbeat_of(&gone), "0".to_string(), false),
            (me.context_of(&live, 1), entries(r#"{"page_url":"https://y/"}"#), true),
            (me.heartbeat_of(&live), (NOW - 5).to_string(), false),
            (me.context(1), entries(r#"{"page_url":"https://me/"}"#), true),
            (me.heartbeat(), "0".to_string(), false),
        ];
        let c = claim(&view(&listing), &me, NOW, false);
        assert_eq!(names(&c), [r#""a""#, r#""b""#]);
        for (_, _, j, _) in &c.events {
            let v: serde_json::Value = serde_json::from_str(j).unwrap();
            assert_eq!(v["page_url"], "https://x/");
        }
        // The event whose context is gone is bad.
        assert_eq!(c.bad, 1);
        assert_eq!(
            c.remove_after,
            [
                (listing[1].0.as_str(), true),
                (listing[2].0.as_str(), true),
                (listing[3].0.as_str(), true),
                (listing[0].0.as_str(), true),
                (listing[4].0.as_str(), false),
            ]
        );
    }

    #[test]
    fn opting_out_forgets_every_event_and_context_of_this_app_only() {
        let (me, gone, live) = setup();
        let other = Keys::new("coola", "https://x/v3/OTHER/track", "o");
        let listing = [
            (me.event(1), event("mine", 1, None), true),
            (key(&me, &gone, 4), event("gone", 1, Some(1)), true),
            (me.context_of(&gone, 1), entries(r#"{"page_url":"https://x/"}"#), true),
            (key(&me, &live, 2), event("live", 1, None), true),
            (me.context(3), entries(r#"{"page_url":"https://me/"}"#), true),
            (me.heartbeat_of(&live), (NOW - 5).to_string(), false),
            (me.heartbeat(), "0".to_string(), false),
            (other.event(1), event("o", 1, None), true),
            (other.context(1), entries(r#"{"page_url":"https://o/"}"#), true),
            (me.user_id(), "anon".to_string(), false),
            (privacy::consent_key(me.prefix()), "out".to_string(), false),
        ];
        let got: Vec<&str> = listing
            .iter()
            .map(|(k, _, _)| k.as_str())
            .filter(|k| forgotten(&me, k))
            .collect();
        let want: Vec<&str> = listing[..5].iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn claimed_events_are_queued_in_order_with_the_notice_and_the_removals_handed_back() {
        let (me, gone, _) = setup();
        let listing = [
            (key(&me, &gone, 2), event("b", 2, None), true),
            (key(&me, &gone, 1), event("a", 1, None), true),
            (format!("{}{gone}:x", me.queue_prefix()), event("bad", 1, None), true),
        ];
        let c = claim(&view(&listing), &me, NOW, false);
        let mut cfg = crate::core::config::Config::default();
        cfg.set("appKey", &crate::core::config::OptValue::Str("KEY".into()))
            .unwrap();
        let mut t = Tracker::new(cfg.finish().unwrap(), [7, 7, 7, 7], None, vec![]);
        let after = c.restore_into(&mut t);
        assert_eq!(
            after,
            [
                (listing[0].0.as_str(), true),
                (listing[1].0.as_str(), true),
                (listing[2].0.as_str(), false)
            ]
        );
        let queued: Vec<String> = t
            .queued()
            .map(|(_, j)| serde_json::from_str::<serde_json::Value>(j).unwrap()["event_name"].to_string())
            .collect();
        assert_eq!(queued, [r#""a""#, r#""b""#]);
        assert_eq!(t.pending(), 2);
        // Restored events are not counted as tracked by this tracker.
        assert_eq!(t.stats().tracked, 0);
        let notices = t.take_notices();
        assert_eq!(notices.len(), 1);
        assert!(
            notices[0].message.starts_with("1 stored entries"),
            "{}",
            notices[0].message
        );
    }
}
