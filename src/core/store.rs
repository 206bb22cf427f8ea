//! The durable queue's layout in `localStorage`, and the rules for reading
//! it back.
//!
//! Each queued event is one key, `<prefix>:q:<tab>:<seq>`, written once and
//! removed when the event leaves the queue, so the cost per event stays
//! constant however long the queue is. Each tracker (one per tab) keeps a
//! heartbeat `<prefix>:tab:<tab>` = last time alive in epoch ms, removed
//! when its page goes away. Events of a tab whose heartbeat is gone, `0` or
//! older than [`STALE_MS`] belong to no one and are claimed by the next
//! tracker that starts; events of a live tab are left alone, so two tabs
//! never send each other's events. That tracker also removes the heartbeat
//! of every gone tab of its app, so the keys left are those of live tabs
//! (and of tabs that died without a page hide, until the next claim).
//!
//! The properties the tracker adds to every event of a page (user id,
//! session, shared properties, page URL and title, user agent, screen,
//! referrer, UTM parameters...) are most of an event's text and the same for
//! every event of the page: they are stored once, as a context
//! `<prefix>:ctx:<tab>:<n>`, and an event that ends with them is stored
//! without them, marked by an empty property name whose value is `n` (no
//! real event can have that name; see [`split_shared`]).
//! [`restore`] puts them back, so a stored event restores to exactly what
//! would have been sent.

use crate::core::error::{Error, ErrorCode};
use crate::core::event::{self, RawValue, ValidateOptions};
use crate::core::num;
use crate::core::tracker::Props;
#[allow(unused_imports)]
use crate::prelude::*;

/// A tab whose heartbeat is older than this is considered gone. Background
/// tabs may run timers only once a minute, hence the margin.
pub const STALE_MS: i64 = 180_000;

/// What one stored event's key counts against the storage budget
/// (`<prefix>:q:<8 hex>.<16 hex>:<seq>` and some margin).
pub const KEY_BYTES: usize = 48;

/// Splits an event's JSON before its last `n` keys, the part stored once
/// per page (see [`crate::core::tracker::Tracker::persist`]): the tracker
/// counts, as it queues an event, how many of the defaults that end it are
/// the same for every event of the page (shared properties, session, user
/// id, the page's and the environment's properties).
///
/// Returns `(head, shared)`: `head` is the event's own part, and `shared`
/// starts with the `,` before the first shared key and ends with the
/// closing `}`, so that `head + shared` is the event; `None` when `n` is 0
/// or over [`MAX_SPLIT`], or the event has no more than `n` keys. `json` is
/// a flat object as the validator writes it; its strings are walked with
/// their escapes (a `,"` can end a string value, so it does not tell where
/// a key starts). One walk over the text.
#[inline(always)]
pub fn split_shared(json: &str, n: usize) -> Option<(&str, &str)> {
    // Nothing to split off: no walk (every event stored whole comes here).
    if n == 0 || n > MAX_SPLIT {
        return None;
    }
    let mut starts = [0; MAX_SPLIT];
    let skip = keys(json, &mut starts).checked_sub(n).filter(|&s| s > 0)?;
    let at = (*starts.get(skip % MAX_SPLIT)? as usize).min(json.len());
    debug_assert!(json.is_char_boundary(at));
    // SAFETY: `keys` notes a key's start only where a `"` follows it, at
    // the byte after a `"` or at a `,` or `}`: it follows an ASCII byte or
    // is one, a char boundary (and at most the length).
    unsafe { Some((json.get_unchecked(..at), json.get_unchecked(at..))) }
}

/// Most keys [`split_shared`] splits off: an event's defaults are fewer.
pub const MAX_SPLIT: usize = 64;

/// How many keys the flat JSON object `json` has (see [`split_shared`]).
#[inline(always)]
pub fn key_count(json: &str) -> usize {
    keys(json, &mut [0; MAX_SPLIT])
}

/// Walks the keys of the flat JSON object `json`: how many there are, with
/// where each of the last [`MAX_SPLIT`] starts (the index of the `,`
/// before it) in `starts`, at its number modulo [`MAX_SPLIT`].
fn keys(json: &str, starts: &mut [u32; MAX_SPLIT]) -> usize {
    let b = json.as_bytes();
    let (mut i, mut n) = (1, 0);
    while matches!(b.get(i), Some(b'"')) {
        if let Some(s) = starts.get_mut(n % MAX_SPLIT) {
            *s = (i - 1) as u32;
        }
        n += 1;
        // Past the key and its colon.
        i = string_end(b, i) + 1;
        if matches!(b.get(i), Some(b'"')) {
            i = string_end(b, i);
        } else {
            while !matches!(b.get(i), None | Some(b',' | b'}')) {
                i += 1;
            }
        }
        // Past the comma.
        i += 1;
    }
    n
}

/// The index after the string that opens at `b[i]`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    loop {
        match b.get(i) {
            None => return i,
            Some(b'"') => return i + 1,
            Some(b'\\') => i += 2,
            _ => i += 1,
        }
    }
}

/// Appends the stored text of an event whose `shared` part is context `n`.
pub fn push_compacted(out: &mut String, head: &str, n: u64) {
    out.push_str(head);
    out.push_str(",\"\":");
    num::push_u64(out, n);
    out.push('}');
}

/// The context to store for a `shared` part (see [`split_shared`]): the
/// shared properties as a JSON object.
#[inline(always)]
pub fn context_json(shared: &str) -> String {
    let mut j = String::with_capacity(shared.len());
    j.push('{');
    j.push_str(shared.get(1..).unwrap_or(""));
    j
}

/// The storage keys of one tracker.
///
/// A tab id is `<app>.<random>`, where `<app>` is a hash of the request URL
/// (endpoint and app key): trackers of another app key or endpoint on the
/// same origin never claim each other's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
    /// `<app>.<random>`: the app's hash in [`HASH_LEN`] hex digits, a dot,
    /// then the tab's random id.
    tab: String,
}

impl Keys {
    /// Keys under `prefix` (the `storageKey` option) for the tracker sending
    /// to `url`, in the tab with random id `random`.
    #[inline(always)]
    pub fn new(prefix: &str, url: &str, random: &str) -> Self {
        let mut tab = hash_hex(url);
        tab.push('.');
        tab.push_str(random);
        Keys {
            prefix: prefix.to_string(),
            tab,
        }
    }

    /// Whether `tab` has the form of a tab id this library writes
    /// (`<8 hex digits>.<id>`); anything else under the prefix is foreign.
    pub fn is_tab_id(tab: &str) -> bool {
        let b = tab.as_bytes();
        b.len() > HASH_LEN + 1
            && matches!(b.get(HASH_LEN), Some(b'.'))
            && b.get(..HASH_LEN).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    }

    /// Whether `tab` belongs to a tracker of the same app (URL) as this one.
    pub fn same_app(&self, tab: &str) -> bool {
        // This tab's app hash and its dot.
        let n = HASH_LEN + 1;
        // `self.tab` is longer than `n`: a shorter `tab` gives `None`.
        tab.as_bytes().get(..n) == self.tab.as_bytes().get(..n)
    }

    /// `<prefix>:<kind>:<tab>`, then `:<n>` when given.
    fn key(&self, kind: &str, tab: &str, n: Option<u64>) -> String {
        let mut k = String::with_capacity(self.prefix.len() + kind.len() + tab.len() + 24);
        k.push_str(&self.prefix);
        k.push(':');
        k.push_str(kind);
        k.push(':');
        k.push_str(tab);
        if let Some(n) = n {
            k.push(':');
            num::push_u64(&mut k, n);
        }
        k
    }

    /// This tab's key for event `seq`.
    pub fn event(&self, seq: u64) -> String {
        self.key("q", &self.tab, Some(seq))
    }

    /// The prefix of every tab's event keys.
    pub fn queue_prefix(&self) -> String {
        self.key("q", "", None)
    }

    /// The heartbeat key of `tab`.
    pub fn heartbeat_of(&self, tab: &str) -> String {
        self.key("tab", tab, None)
    }

    /// This tab's heartbeat key.
    pub fn heartbeat(&self) -> String {
        self.heartbeat_of(&self.tab)
    }

    /// The key of `tab`'s context `n`: the properties its stored events share.
    pub fn context_of(&self, tab: &str, n: u64) -> String {
        self.key("ctx", tab, Some(n))
    }

    /// This tab's context `n`.
    pub fn context(&self, n: u64) -> String {
        self.context_of(&self.tab, n)
    }

    /// The prefix every key starts with (the `storageKey` option).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// This tab's id.
    pub fn tab(&self) -> &str {
        &self.tab
    }

    /// The prefix of every tab's context keys.
    pub fn context_prefix(&self) -> String {
        self.key("ctx", "", None)
    }

    /// The prefix of every tab's heartbeat key.
    pub fn heartbeat_prefix(&self) -> String {
        self.key("tab", "", None)
    }

    /// What follows `<prefix>:<kind>:` in `key`, if it starts so: read in
    /// place, no key built to compare with.
    pub(crate) fn after<'a>(&self, key: &'a str, kind: &str) -> Option<&'a str> {
        let rest = after(after(key, &self.prefix)?, ":")?;
        after(after(rest, kind)?, ":")
    }

    /// Splits `<prefix>:<kind>:<tab>:<n>` into its tab and number.
    fn parse<'a>(&self, key: &'a str, kind: &str) -> Option<(&'a str, u64)> {
        tab_and_number(self.after(key, kind)?)
    }

    /// Splits a context key into its tab and number; `None` for a key that
    /// is not one.
    pub fn parse_context<'a>(&self, key: &'a str) -> Option<(&'a str, u64)> {
        self.parse(key, "ctx")
    }

    /// Whether `tab` is the id of another tab of this app (not this one).
    #[inline(always)]
    pub fn other_tab(&self, tab: &str) -> bool {
        Self::is_tab_id(tab) && self.same_app(tab) && tab != self.tab
    }

    /// The key of the anonymous user id.
    pub fn user_id(&self) -> String {
        site_key(&self.prefix, ":user_id")
    }

    /// Splits an event key into its tab and sequence number; `None` for a
    /// key that is not an event key of this prefix.
    pub fn parse_event<'a>(&self, key: &'a str) -> Option<(&'a str, u64)> {
        self.parse(key, "q")
    }
}

/// A key of the whole site under `prefix` (not of one tab): `prefix` then
/// `name` (`:user_id`, `:consent`, `:session`).
pub fn site_key(prefix: &str, name: &str) -> String {
    let mut k = prefix.to_string();
    k.push_str(name);
    k
}

/// Splits `<tab>:<n>` (what follows `<prefix>:<kind>:` in a key) into its
/// tab and number.
pub(crate) fn tab_and_number(rest: &str) -> Option<(&str, u64)> {
    let colon = last_colon(rest)?;
    debug_assert!(rest.is_char_boundary(colon));
    // SAFETY: `colon` is the index of an ASCII `:`: a char boundary.
    let tab = Some(unsafe { rest.get_unchecked(..colon) }).filter(|t| !t.is_empty())?;
    let n = num::parse_digits(rest.as_bytes().get(colon + 1..)?)?;
    Some((tab, n))
}

/// `s` without `prefix`, if it starts with it. Bytes, not `str` patterns:
/// no pattern code in the wasm.
#[inline(always)]
pub(crate) fn after<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let n = prefix.len();
    if s.as_bytes().get(..n).is_some_and(|h| *h == *prefix.as_bytes()) {
        debug_assert!(s.is_char_boundary(n));
        // SAFETY: `s` starts with the whole of `prefix`, a `str`: its
        // length is a char boundary of `s`.
        Some(unsafe { s.get_unchecked(n..) })
    } else {
        None
    }
}

/// Where the last `:` of `s` is (a plain loop: no iterator adapter copy).
pub(crate) fn last_colon(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = b.len();
    while i > 0 {
        i -= 1;
        if matches!(b.get(i), Some(b':')) {
            return Some(i);
        }
    }
    None
}

/// 32-bit FNV-1a of `s`, as 8 hex digits. Not a secret: it only tells
/// apart the queues of different URLs, and keeps the app key out of storage.
/// The length of [`hash_hex`]'s text: the app part of a tab id.
const HASH_LEN: usize = 8;

#[inline(always)]
fn hash_hex(s: &str) -> String {
    let mut h = 0x811c_9dc5u32;
    for b in s.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let mut out = String::with_capacity(HASH_LEN);
    push_hex(&mut out, h, false);
    out
}

/// Appends `w` as 8 lower-case hex digits; `dashed`: with a `-` before
/// each group of 4 (as in a UUID).
pub fn push_hex(out: &mut String, w: u32, dashed: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for nibble in 0..8u32 {
        if dashed && nibble % 4 == 0 {
            out.push('-');
        }
        let d = w.wrapping_shr(28 - nibble * 4) & 15;
        out.push(char::from(HEX.get(d as usize).copied().unwrap_or(b'0')));
    }
}

/// Whether a stored anonymous user id can be used as one: 1 to 128
/// characters, none of them control characters. Anything else was not
/// written by this library and is replaced.
#[inline(always)]
pub fn is_plausible_id(v: &str) -> bool {
    // Bytes, not chars: no UTF-8 decoder. The control characters are
    // U+0000..U+001F, U+007F (one byte each) and U+0080..U+009F (C2 80..C2 9F);
    // a character is counted at its first byte.
    let mut n = 0;
    let mut prev = 0;
    for &c in v.as_bytes() {
        if c < 0x20 || c == 0x7f || (prev == 0xc2 && c < 0xa0) {
            return false;
        }
        n += usize::from(c & 0xc0 != 0x80);
        prev = c;
    }
    n > 0 && n <= 128
}

/// Whether the tab with this heartbeat value is gone at `now_ms`.
#[inline(always)]
pub fn is_dead(heartbeat: Option<&str>, now_ms: i64) -> bool {
    let Some(h) = heartbeat else { return true };
    let parsed = (h.len() <= 16).then(|| num::parse_digits(h.as_bytes())).flatten();
    match parsed {
        Some(t) if t > 0 => now_ms.saturating_sub(t as i64) > STALE_MS,
        _ => true,
    }
}

/// Reads a stored event back, given in the shell's [`entries`](crate::core::entries) form (the
/// shell parses the stored JSON with `JSON.parse` and flattens it as it does
/// a tracked event's properties): it must be a flat object that passes every
/// rule again and carries an `event_id`. An event stored without its shared
/// part ends with the empty-named marker of [`push_compacted`], whose value
/// is the context's number: it gets that part back from `context(n)`, the
/// tab's context `n` in the same form, in the marker's place. Returns the
/// event's JSON as it will be sent, its time (`i64::MAX` when the server
/// sets it), and how many keys end it that came from the context: what
/// [`split_shared`] takes off again when this tab stores it.
#[inline(always)]
pub fn restore<'c>(
    stored: &str,
    mut context: impl FnMut(u64) -> Option<&'c str>,
    server_timestamp: bool,
) -> Result<(String, i64, u8), Error> {
    // The marker, the last property (as `push_compacted` puts it), names
    // a context. An empty name anywhere else (a marker in the middle or in
    // the context) is left as it is: validation refuses it.
    let (n, at, _) = last_prop(stored);
    let mut shared = 0;
    let mut spliced = String::new();
    let mut text = stored;
    if let Some(n) = n {
        let Some(c) = context(n) else {
            return Err(not_ours("its shared properties are gone"));
        };
        shared = u8::try_from(last_prop(c).2).unwrap_or(0);
        debug_assert!(stored.is_char_boundary(at));
        // SAFETY: `last_prop` takes `at` from where the entries' reader
        // stopped (the length of a `str` remainder of `stored`): a char
        // boundary, at most the length.
        spliced.push_str(unsafe { stored.get_unchecked(..at) });
        spliced.push_str(c);
        text = &spliced;
    }
    // An absent default is never written: it only tells (bit 0 of `given`)
    // whether the event has its own event_id (validated, a non-empty string).
    let mut out = String::new();
    let opts = ValidateOptions {
        server_timestamp,
        now_ms: None,
    };
    match Props::new(text).validate(&mut out, None, &[(event::EVENT_ID, RawValue::Absent)], &opts) {
        Ok((time, given)) if given & 1 != 0 => Ok((out, time.unwrap_or(i64::MAX), shared)),
        Ok(_) => Err(not_ours("no event_id")),
        Err(e) => Err(not_ours(&e.message)),
    }
}

/// The error of a stored entry that is no event of this library.
fn not_ours(why: &str) -> Error {
    let mut m = String::from("not an event of this library: ");
    m.push_str(why);
    Error::new(ErrorCode::StorageError, m)
}

/// The last of the properties among `entries`: the context number it
/// names when it is a marker (an empty name with a number, see
/// [`push_compacted`]), where it starts in the text (with the `p` entries
/// right before it, which no property check reads), and how many
/// properties there are.
#[inline(always)]
fn last_prop(entries: &str) -> (Option<u64>, usize, usize) {
    let mut props = Props::new(entries);
    let mut out = (None, 0, 0);
    let mut start = 0;
    while let Some((k, v)) = props.next() {
        out.0 = match v {
            RawValue::NumText(t) if k.is_empty() => num::parse_digits(t.as_bytes()),
            _ => None,
        };
        out.1 = start;
        out.2 += 1;
        start = entries.len() - props.remainder().len();
    }
    // A malformed part after the last property: no marker, so nothing is
    // spliced off and validation refuses the whole entry.
    if props.err.is_some() {
        out.0 = None;
    }
    out
}

/// Sorts claimed events `(time, seq, json, shared)` into the order they were
/// tracked: by time, then sequence number. A Shell sort: a few hundred bytes
/// of wasm where the standard library's sorts take kilobytes; claims are rare
/// and at most `maxQueueSize` long.
#[inline(always)]
pub fn sort_claimed(v: &mut [(i64, u64, String, u8)]) {
    let mut gap = v.len() / 2;
    while gap > 0 {
        for i in gap..v.len() {
            let mut j = i;
            while j >= gap {
                let (Some(a), Some(b)) = (v.get(j.wrapping_sub(gap)), v.get(j)) else {
                    break;
                };
                if a.0 < b.0 || (a.0 == b.0 && a.1 <= b.1) {
                    break;
                }
                v.swap(j.wrapping_sub(gap), j);
                j = j.wrapping_sub(gap);
            }
        }
        gap /= 2;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn key_layout() {
        let k = Keys::new("coola", "https://x/v3/KEY/track", "t1");
        let app = hash_hex("https://x/v3/KEY/track");
        assert_eq!(k.event(42), format!("coola:q:{app}.t1:42"));
        assert_eq!(k.heartbeat(), format!("coola:tab:{app}.t1"));
        assert!(!k.event(1).contains("KEY"));
        assert!(k.same_app(&format!("{app}.zz")));
        assert!(!k.same_app("00000000.zz"));
        assert!(!k.same_app(&app));
        assert!(Keys::is_tab_id(&format!("{app}.t1")));
        assert!(!Keys::is_tab_id("deadtab"));
        assert!(!Keys::is_tab_id("0123456x.t1"));
        assert_ne!(app, hash_hex("https://x/v3/OTHER/track"));
        assert_eq!(k.user_id(), "coola:user_id");
        assert_eq!(k.heartbeat_prefix(), "coola:tab:");
        assert!(k.heartbeat().starts_with(&k.heartbeat_prefix()));
        let other = format!("{app}.t2");
        // How the claim finds another tab of this app by its heartbeat key.
        let other_tab_of_heartbeat = |key: &str| k.after(key, "tab").filter(|t| k.other_tab(t)).map(String::from);
        assert_eq!(other_tab_of_heartbeat(&k.heartbeat_of(&other)), Some(other.clone()));
        assert!(k.other_tab(&other));
        for not_other in [k.tab(), "00000000.t2", "deadtab", ""] {
            assert!(!k.other_tab(not_other), "{not_other}");
        }
        for not_other in [
            k.heartbeat(),
            k.heartbeat_of("00000000.t2"),
            k.heartbeat_of("deadtab"),
            format!("other:tab:{app}.t2"),
            k.event(1),
        ] {
            assert_eq!(other_tab_of_heartbeat(&not_other), None, "{not_other}");
        }
        assert_eq!(k.parse_event("coola:q:t9:7"), Some(("t9", 7)));
        assert_eq!(k.context(3), format!("coola:ctx:{app}.t1:3"));
        assert_eq!(k.parse_context(&k.context(3)), Some((format!("{app}.t1").as_str(), 3)));
        assert!(k.context(3).starts_with(&k.context_prefix()));
        for bad in [
            "coola:ctx:t9:",
            "coola:ctx::1",
            "coola:ctx:t9",
            "coola:ctx:t9:x",
            "other:ctx:t9:1",
        ] {
            assert_eq!(k.parse_context(bad), None, "{bad}");
        }
        for bad in [
            "coola:q:t9:",
            "coola:q::7",
            "other:q:t9:7",
            "coola:q:t9:x",
            "coola:tab:t9",
            "coolaq:t9:7",
        ] {
            assert_eq!(k.parse_event(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn claimed_events_sort_like_std(v in proptest::collection::vec((0i64..50, 0u64..50), 0..200)) {
            let mut ours: Vec<(i64, u64, String, u8)> = v.iter().map(|&(t, s)| (t, s, format!("{t}/{s}"), 0)).collect();
            let mut want = ours.clone();
            want.sort();
            sort_claimed(&mut ours);
            let keys = |x: &[(i64, u64, String, u8)]| x.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>();
            proptest::prop_assert_eq!(keys(&ours), keys(&want));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_splits_at_a_char_boundary(s in "\\{(\"[a,é\"\\\\]{0,3}\"?[:,}é1\\\\]?){0,12}", n in 0usize..8) {
            // Text of a flat object's shape, with multi-byte characters,
            // escapes and stray bytes where a key or a value ends.
            if let Some((head, shared)) = split_shared(&s, n) {
                proptest::prop_assert!(s.is_char_boundary(head.len()));
                proptest::prop_assert_eq!(format!("{head}{shared}"), s.clone());
            }
            let _ = context_json(&s);
        }
    }

    proptest::proptest! {
        #[test]
        fn plausible_ids_as_chars_would_tell(v in "\\PC{0,130}|[\u{0}-\u{a0}]{0,4}|\u{80}\u{9f}\u{a0}\u{7ff}") {
            let want = !v.chars().any(char::is_control) && (1..=128).contains(&v.chars().count());
            proptest::prop_assert_eq!(is_plausible_id(&v), want);
        }
    }

    #[test]
    fn stored_user_ids_of_1_to_128_characters_without_control_characters() {
        for ok in ["a", "anon-1", &"é".repeat(128), "user with spaces"] {
            assert!(is_plausible_id(ok), "{ok}");
        }
        for bad in ["", &"x".repeat(129), "a\nb", "\u{7f}", "tab\there", "\u{85}"] {
            assert!(!is_plausible_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn dead_tabs() {
        let now = 1_800_000_000_000;
        assert!(is_dead(None, now));
        assert!(is_dead(Some("0"), now));
        assert!(is_dead(Some("garbage"), now));
        assert!(is_dead(Some(&(now - STALE_MS - 1).to_string()), now));
        assert!(!is_dead(Some(&(now - STALE_MS).to_string()), now));
        assert!(!is_dead(Some(&now.to_string()), now));
    }

    /// What the shell hands over for a stored JSON text, for tests: its
    /// properties in the text's order, as `JSON.parse` keeps them (a flat
    /// object's keys read one at a time; serde_json's map sorts them).
    pub(crate) fn entries(json: &str) -> String {
        let v: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(json) {
            Ok(v) => v,
            Err(_) => return crate::core::entries::tests::write('X', "", "string"),
        };
        let mut starts = [0; MAX_SPLIT];
        let n = keys(json, &mut starts).min(MAX_SPLIT);
        let one = |i: usize| {
            let from = *starts.get(i)? as usize + 1;
            let to = starts
                .get(i + 1)
                .filter(|_| i + 1 < n)
                .map_or(json.len() - 1, |&t| t as usize);
            let m: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&format!("{{{}}}", json.get(from..to)?)).ok()?;
            m.into_iter().next()
        };
        let in_order: Option<Vec<_>> = (0..n).map(one).collect();
        let pairs = in_order
            .filter(|p| p.len() == v.len())
            .unwrap_or_else(|| v.into_iter().collect());
        pairs
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => crate::core::entries::tests::write('s', k, s),
                serde_json::Value::Number(n) => crate::core::entries::tests::write('n', k, &n.to_string()),
                serde_json::Value::Object(_) => crate::core::entries::tests::write('o', k, ""),
                _ => crate::core::entries::tests::write('u', k, ""),
            })
            .collect()
    }

    #[test]
    fn the_shared_part_is_the_last_keys_whatever_the_strings_hold() {
        // Values and keys ending in a comma, escaped quotes and backslashes,
        // braces: none of them starts a key.
        let json = r#"{"event_name":"a,","k,":",\",\"x\\","n":-1.5e3,",\"":"}{","b":true,"z":"\\"}"#;
        // In the text's order (serde_json's map sorts its keys).
        let keys = ["event_name", "k,", "n", ",\"", "b", "z"];
        let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).unwrap();
        assert_eq!(parsed.len(), keys.len());
        for n in 1..keys.len() {
            let (head, shared) = split_shared(json, n).unwrap();
            assert_eq!(format!("{head}{shared}"), json);
            let back: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&context_json(shared)).unwrap();
            let mut want = keys[keys.len() - n..].to_vec();
            want.sort_unstable();
            assert_eq!(back.keys().collect::<Vec<_>>(), want, "{n}");
            assert!(
                serde_json::from_str::<serde_json::Value>(&format!("{head}}}")).is_ok(),
                "{head}"
            );
        }
        // Nothing to split off, or no own part left.
        for n in [0, 6, 7, 200] {
            assert_eq!(split_shared(json, n), None, "{n}");
        }
        assert_eq!(split_shared("{}", 1), None);
    }

    #[test]
    fn one_walk_splits_off_up_to_max_split_keys_of_a_long_event() {
        let json = format!(
            "{{{}}}",
            (0..100)
                .map(|i| format!(r#""k{i}":"v,\"{i}""#))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(key_count(&json), 100);
        for n in [1, 37, MAX_SPLIT] {
            let (head, shared) = split_shared(&json, n).unwrap();
            assert_eq!(format!("{head}{shared}"), json);
            let back: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&context_json(shared)).unwrap();
            assert_eq!(back.len(), n);
            assert!(back.contains_key(&format!("k{}", 100 - n)), "{n}");
        }
        assert_eq!(split_shared(&json, MAX_SPLIT + 1), None);
    }

    #[test]
    fn a_stored_event_gets_its_one_context_back_at_its_marker() {
        let head = r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"event_id":"x","":1}"#;
        let one = entries(r#"{"page_url":"https://x/","session_dua":"UA"}"#);
        let ctx = |n: u64| (n == 1).then_some(one.as_str());
        let (json, _, _) = restore(&entries(head), ctx, false).unwrap();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut want: serde_json::Value = serde_json::from_str(&head.replace(r#","":1"#, "")).unwrap();
        want["page_url"] = "https://x/".into();
        want["session_dua"] = "UA".into();
        assert_eq!(back, want);
        let inner = entries(r#"{"page_url":"https://x/","":2}"#);
        let nested = |_| Some(inner.as_str());
        let twice = entries(head) + &crate::core::entries::tests::write('n', "", "1");
        let inside = entries(head) + &crate::core::entries::tests::write('s', "after", "x");
        // A context that is gone; a marker in the context, a second one or
        // one that does not end the event (this library puts it last)
        // stays an empty name, which validation refuses.
        for (e, why) in [
            (
                restore(&entries(&head.replace(":1}", ":2}")), ctx, false),
                "its shared properties are gone",
            ),
            (restore(&entries(head), nested, false), "is an empty name"),
            (restore(&twice, ctx, false), "is an empty name"),
            (restore(&inside, ctx, false), "is an empty name"),
        ] {
            let e = e.unwrap_err();
            assert_eq!(e.code, ErrorCode::StorageError);
            assert!(e.message.starts_with("not an event of this library: "), "{}", e.message);
            assert!(e.message.contains(why), "{}", e.message);
        }
        // A marker followed by something that is no entry: refused whole,
        // not cut off at the marker.
        for tail in ["garbage", "K3:bad1:x", "X0:8:a number"] {
            let e = restore(&(entries(head) + tail), ctx, false).unwrap_err();
            assert_eq!(e.code, ErrorCode::StorageError, "{tail}");
        }
    }

    #[test]
    fn restores_only_valid_events() {
        let ok = r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"event_id":"x","p":"true"}"#;
        assert_eq!(restore(&entries(ok), |_| None, false).unwrap().1, 1_420_452_000_000);
        let back: serde_json::Value = serde_json::from_str(&restore(&entries(ok), |_| None, false).unwrap().0).unwrap();
        let want: serde_json::Value = serde_json::from_str(ok).unwrap();
        assert_eq!(back, want);
        for bad in [
            "not json",
            "{}",
            r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000}"#,
            r#"{"event_name":"e","user_id":"u","event_id":"x"}"#,
            r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"event_id":"x","uid":"1"}"#,
            r#"{"event_name":"e","user_id":"u","event_timestamp_epoch":1420452000000,"event_id":"x","a":{"b":1}}"#,
        ] {
            assert_eq!(
                restore(&entries(bad), |_| None, false).unwrap_err().code,
                ErrorCode::StorageError,
                "{bad}"
            );
        }
        assert!(restore(
            &entries(r#"{"event_name":"e","user_id":"u","event_id":"x"}"#),
            |_| None,
            true
        )
        .is_ok());
    }
}
