//! Sessions: which `session_id` an event gets.
//!
//! Events less than the timeout apart share a session; a longer gap starts a
//! new one. In a page the session is shared by the site's tabs and survives
//! a reload: the shell keeps it in storage as [`Session::take_stored`]
//! gives it (`<id>:<last activity ms>`), writes it with the end-of-task
//! persist (not on every event), and, when this tab's own view of the
//! session has run out, lets the session read the stored one first, since
//! another tab may have kept it alive meanwhile.

#[allow(unused_imports)]
use crate::prelude::*;

/// The session state of one tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    id: String,
    last_ms: i64,
    timeout_ms: i64,
    dirty: bool,
}

impl Session {
    /// No session yet; sessions end after `timeout_ms` without an event.
    pub fn new(timeout_ms: u64) -> Self {
        Session {
            id: String::new(),
            last_ms: i64::MIN,
            timeout_ms: i64::try_from(timeout_ms).unwrap_or(i64::MAX),
            dirty: false,
        }
    }

    /// The session as storage holds it: `<id>:<last activity ms>`; `None`
    /// for text this library did not write.
    #[inline(always)]
    pub fn parse_stored(stored: &str) -> Option<(&str, i64)> {
        // The id: 1 to 64 of [A-Za-z0-9-], so its end is the first `:`;
        // then at most 16 digits.
        let b = stored.as_bytes();
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            if c == b':' {
                break;
            }
            if !(c.is_ascii_alphanumeric() || c == b'-') {
                return None;
            }
            i += 1;
        }
        let last = b.get(i + 1..).filter(|l| i > 0 && i <= 64 && l.len() <= 16)?;
        let digits = crate::core::num::parse_digits(last)? as i64;
        debug_assert!(stored.is_char_boundary(i));
        // SAFETY: the bytes before `i` are ASCII (checked above): a boundary.
        Some((unsafe { stored.get_unchecked(..i) }, digits))
    }

    /// Takes a stored session (read at start) as this tracker's own, if it
    /// is still running at `now_ms`.
    #[inline(always)]
    pub fn resume(&mut self, stored: Option<&str>, now_ms: i64) {
        if let Some((id, last)) = stored.and_then(Session::parse_stored) {
            if self.running(last, now_ms) && last > self.last_ms {
                self.id.clear();
                self.id.push_str(id);
                self.last_ms = last;
            }
        }
    }

    fn running(&self, last_ms: i64, now_ms: i64) -> bool {
        // A clock that went back counts as activity, not as a gap.
        last_ms != i64::MIN && now_ms.saturating_sub(last_ms) <= self.timeout_ms
    }

    /// Whether this tab's own view of the session has run out at `now_ms`:
    /// the shell should then hand [`Session::resume`] the stored session
    /// before the next [`Session::touch`].
    pub fn expired(&self, now_ms: i64) -> bool {
        self.id.is_empty() || !self.running(self.last_ms, now_ms)
    }

    /// The session of an event at `now_ms`. When this tab's view has run
    /// out (and the stored session, which another tab may have kept alive,
    /// was handed to [`Session::resume`] first, when there is one), `new_id`
    /// makes a new one.
    #[inline(always)]
    pub fn touch(&mut self, now_ms: i64, new_id: impl FnOnce() -> String) -> &str {
        if self.expired(now_ms) {
            self.id = new_id();
        }
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
        }
        self.dirty = true;
        &self.id
    }

    /// The current session id, `""` before the first event.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The text to store, once per change (`None` when nothing changed since
    /// the last call).
    #[inline(always)]
    pub fn take_stored(&mut self) -> Option<String> {
        if !self.dirty || self.id.is_empty() {
            return None;
        }
        self.dirty = false;
        let mut s = self.id.clone();
        s.push(':');
        crate::core::num::push_i64(&mut s, self.last_ms);
        Some(s)
    }

    /// Forgets the session (opt-out): the next event starts a new one.
    pub fn forget(&mut self) {
        self.id.clear();
        self.last_ms = i64::MIN;
        self.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;
    const MIN: i64 = 60_000;

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("s{n}")
        }
    }

    #[test]
    fn events_closer_than_the_timeout_share_a_session() {
        let mut s = Session::new(30 * MIN as u64);
        let mut new = ids();
        assert_eq!(s.id(), "");
        assert_eq!(s.touch(T0, &mut new), "s1");
        assert_eq!(s.touch(T0 + 29 * MIN, &mut new), "s1");
        // The gap is counted from the last event, not the first.
        assert_eq!(s.touch(T0 + 58 * MIN, &mut new), "s1");
        assert_eq!(s.touch(T0 + 88 * MIN + 1, &mut new), "s2");
        // Exactly the timeout is still the same session.
        assert_eq!(s.touch(T0 + 118 * MIN + 1, &mut new), "s2");
        // A clock that went back is not a gap.
        assert_eq!(s.touch(T0, &mut new), "s2");
    }

    #[test]
    fn another_tab_keeps_the_session_alive() {
        let mut a = Session::new(30 * MIN as u64);
        let mut b = Session::new(30 * MIN as u64);
        let mut new = ids();
        let id = a.touch(T0, &mut new).to_string();
        let stored = a.take_stored().unwrap();
        assert_eq!(stored, format!("{id}:{T0}"));
        assert_eq!(a.take_stored(), None, "written once per change");
        // Tab b starts (or the page reloads) and finds it.
        b.resume(Some(&stored), T0 + MIN);
        assert_eq!(b.touch(T0 + MIN, &mut new), id);
        // Tab b is active for 40 minutes; tab a, idle, would have expired,
        // but reads what b stored and stays in the same session.
        b.touch(T0 + 20 * MIN, &mut new);
        assert_eq!(b.touch(T0 + 40 * MIN, &mut new), id);
        let from_b = b.take_stored();
        assert!(a.expired(T0 + 41 * MIN));
        a.resume(from_b.as_deref(), T0 + 41 * MIN);
        assert_eq!(a.touch(T0 + 41 * MIN, &mut new), id);
        // Both idle past the timeout: a new session, whatever is stored.
        let stale = a.take_stored();
        a.resume(stale.as_deref(), T0 + 80 * MIN);
        assert_eq!(a.touch(T0 + 80 * MIN, &mut new), "s2");
        assert_ne!(id, "s2");
    }

    #[test]
    fn a_reload_keeps_a_running_session_and_not_an_ended_one() {
        let mut new = ids();
        let mut s = Session::new(30 * MIN as u64);
        s.resume(Some("abc-1:1799999000000"), T0);
        assert_eq!(s.touch(T0, &mut new), "abc-1");
        let mut late = Session::new(30 * MIN as u64);
        late.resume(Some("abc-1:1700000000000"), T0);
        assert!(late.expired(T0));
        assert_eq!(late.touch(T0, &mut new), "s1");
    }

    #[test]
    fn stored_text_from_elsewhere_is_ignored() {
        for bad in [
            "",
            "abc",
            ":1",
            "abc:",
            "abc:x1",
            "a b:1",
            "<script>:1",
            "abc:12345678901234567",
        ] {
            assert_eq!(Session::parse_stored(bad), None, "{bad:?}");
        }
        assert_eq!(Session::parse_stored("a-1:5"), Some(("a-1", 5)));
        for bad in ["a:b:1".to_string(), format!("{}:1", "a".repeat(65))] {
            assert_eq!(Session::parse_stored(&bad), None, "{bad:?}");
        }
        let longest = format!("{}:1234567890123456", "a".repeat(64));
        assert!(Session::parse_stored(&longest).is_some());
        let mut s = Session::new(1000);
        s.resume(Some("garbage"), T0);
        assert!(s.expired(T0));
    }

    #[test]
    fn forget_starts_a_new_session() {
        let mut new = ids();
        let mut s = Session::new(30 * MIN as u64);
        s.touch(T0, &mut new);
        s.forget();
        assert_eq!(s.take_stored(), None);
        assert_eq!(s.touch(T0 + 1, &mut new), "s2");
    }
}
