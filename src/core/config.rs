//! Tracker options: every default and every range check in one place.
//!
//! The shell hands the JavaScript options bag over as one string in the
//! [`entries`](crate::core::entries) form that events use; [`Config::parse`] reads it, applying
//! each option with [`Config::set`], and [`Config::finish`] checks what
//! depends on several options and resolves the endpoint.

use crate::core::batch::{BodyFormat, MAX_EVENTS};
use crate::core::error::{Error, ErrorCode};
use crate::core::event::RawValue;
use crate::core::privacy;
use crate::core::{form, num};
#[allow(unused_imports)]
use crate::prelude::*;

/// The endpoint used when none is given; `{appKey}` is replaced.
pub const DEFAULT_ENDPOINT: &str = "https://api.cooladata.com/v3/{appKey}/track";

/// What each option is, and so how [`Config::set`] checks it and what its
/// message says. One table instead of a message per option: the messages are
/// built from shared parts ([`Kind::push_message`]).
#[derive(Clone, Copy)]
enum Kind {
    /// A non-empty string; the text completes "must be a non-empty string".
    Text(&'static str),
    /// `true` or `false`.
    Flag,
    /// A whole number from `min` to `max`: of milliseconds when `ms`, with a
    /// note after the minimum (what it means, e.g. " (no timer)").
    Whole(u32, u32, bool, &'static str),
    /// One of a few values, listed by the text after "must be".
    Choice(&'static str),
    /// `sampleRate`, checked by [`privacy`].
    Rate,
}

/// The field an option sets.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Field {
    AppKey,
    Endpoint,
    BodyFormat,
    BatchSize,
    FlushIntervalMs,
    MaxQueueSize,
    ServerTimestamp,
    UserId,
    SessionDua,
    SessionIp,
    MaxRetries,
    Persist,
    AutoPageProperties,
    StorageKey,
    RetryBaseMs,
    RetryMaxMs,
    OptOut,
    PrivacySignals,
    SessionTimeoutMs,
    AutoPageViews,
    SampleRate,
    Debug,
}

/// The option names [`Config::set`] knows, in the order of [`Field`], as
/// one text, each name followed by a space: what
/// [`field_of`] searches (no table of 22 string slices in the wasm). Then
/// the [`SHELL_OPTIONS`] options that the shell reads itself.
const NAMES: &[u8] = b"appKey endpoint bodyFormat batchSize flushIntervalMs maxQueueSize serverTimestamp userId sessionDua sessionIp maxRetries persist autoPageProperties storageKey retryBaseMs retryMaxMs optOut privacySignals sessionTimeoutMs autoPageViews sampleRate debug onError beforeSend properties ";

/// How many names end [`NAMES`] that are options the shell reads itself
/// (`onError`, `beforeSend`, `properties`): known, but no [`Field`].
const SHELL_OPTIONS: usize = 3;

/// What the name `name` is: `Ok(Some(field))` for an option of this
/// module, `Ok(None)` for one the shell reads, and an `invalid_option`
/// error for a name that is no option at all: a misspelt `optOut` or
/// `persist` silently ignored would track a visitor who said no, or store
/// what was meant to stay in memory.
#[inline(always)]
fn field_of(name: &str) -> Result<Option<Field>, Error> {
    let n = name.as_bytes();
    let (mut i, mut start) = (0, 0);
    for (at, &c) in NAMES.iter().enumerate() {
        if c == b' ' {
            if NAMES.get(start..at).is_some_and(|w| *w == *n) {
                if i >= FIELDS.len() {
                    return Ok(None);
                }
                debug_assert!(FIELDS.get(i).is_some_and(|&f| f as usize == i));
                // SAFETY: NAMES starts with as many names as Field has
                // variants (`names_text_is_option_names_in_order`), and `i`
                // is below their count, and the variants are 0, 1, 2... in
                // NAMES' order.
                return Ok(Some(unsafe { core::mem::transmute::<u8, Field>(i as u8) }));
            }
            i += 1;
            start = at + 1;
        }
    }
    Err(bad(name, "not an option (check its spelling)"))
}

/// How many names a text of names, each followed by a space, holds.
const fn count_names(mut t: &[u8]) -> usize {
    let mut n = 0;
    while let [c, rest @ ..] = t {
        n += (*c == b' ') as usize;
        t = rest;
    }
    n
}

// `field_of`'s transmute is sound only while NAMES has one name per Field
// variant and the last variant is the last name: checked when compiling.
const _: () = assert!(count_names(NAMES) == FIELDS.len() + SHELL_OPTIONS && Field::Debug as usize == FIELDS.len() - 1);

/// The fields of [`NAMES`], in its order.
const FIELDS: [Field; 22] = [
    Field::AppKey,
    Field::Endpoint,
    Field::BodyFormat,
    Field::BatchSize,
    Field::FlushIntervalMs,
    Field::MaxQueueSize,
    Field::ServerTimestamp,
    Field::UserId,
    Field::SessionDua,
    Field::SessionIp,
    Field::MaxRetries,
    Field::Persist,
    Field::AutoPageProperties,
    Field::StorageKey,
    Field::RetryBaseMs,
    Field::RetryMaxMs,
    Field::OptOut,
    Field::PrivacySignals,
    Field::SessionTimeoutMs,
    Field::AutoPageViews,
    Field::SampleRate,
    Field::Debug,
];

impl Field {
    // Inlined into `apply` (as it was before `apply` took the number
    // reader): outlined, this and `Kind::push_message` weighed 681 B of
    // wasm more.
    #[inline(always)]
    fn kind(self) -> Kind {
        match self {
            Field::AppKey => Kind::Text(" (the app key CoolaData gave you)"),
            Field::Endpoint => Kind::Text(" (a URL, or a path such as /collect)"),
            Field::BodyFormat => Kind::Choice("\"form\" or \"raw\""),
            Field::BatchSize => Kind::Whole(1, 300, false, ""),
            Field::FlushIntervalMs => Kind::Whole(0, 86_400_000, true, " (no timer)"),
            Field::MaxQueueSize => Kind::Whole(1, 1_000_000, false, ""),
            Field::UserId | Field::StorageKey => Kind::Text(""),
            Field::SessionDua => Kind::Text(", or false to send none"),
            Field::SessionIp => Kind::Text(" (an IP address, or \"0\")"),
            Field::MaxRetries => Kind::Whole(0, 100, false, ""),
            Field::RetryBaseMs | Field::RetryMaxMs => Kind::Whole(1, 3_600_000, true, ""),
            Field::SessionTimeoutMs => Kind::Whole(0, 2_592_000_000, true, " (no sessions)"),
            Field::AutoPageViews => Kind::Choice("true, false or \"history\""),
            Field::SampleRate => Kind::Rate,
            _ => Kind::Flag,
        }
    }
}

impl Kind {
    /// Appends what the option must be after "must be ", e.g. "a whole
    /// number of milliseconds from 0 (no timer) to 86400000". Inlined, as
    /// `Field::kind` is.
    #[inline(always)]
    fn push_message(self, m: &mut String) {
        match self {
            Kind::Text(more) => {
                m.push_str("a non-empty string");
                m.push_str(more);
            }
            Kind::Flag => m.push_str("true or false"),
            Kind::Whole(min, max, ms, note) => {
                m.push_str("a whole number");
                if ms {
                    m.push_str(" of milliseconds");
                }
                m.push_str(" from ");
                num::push_u64(m, min.into());
                m.push_str(note);
                m.push_str(" to ");
                num::push_u64(m, max.into());
            }
            Kind::Choice(which) => m.push_str(which),
            // Refused by `apply` through `privacy::parse_rate` (its `bad_rate`).
            Kind::Rate => {}
        }
    }
}

/// The `autoPageViews` option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoPageViews {
    /// No automatic page views (the default).
    #[default]
    Off,
    /// One page view when the tracker starts (`true`).
    Start,
    /// At start and on every in-page navigation that changes the URL (`"history"`).
    History,
}

/// An option's value as the shell found it.
#[derive(Clone, Debug, PartialEq)]
pub enum OptValue {
    /// Absent or `undefined`.
    Absent,
    /// A string.
    Str(String),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// Anything else (`null`, an object, a function...), named by its type.
    Other(&'static str),
}

/// The tracker's configuration, with defaults applied and ranges checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// CoolaData app key. Never written into messages.
    pub app_key: String,
    /// The endpoint template, `{appKey}` not yet replaced.
    pub endpoint: String,
    /// How bodies are encoded.
    pub body_format: BodyFormat,
    /// Events per request, 1..=300.
    pub batch_size: usize,
    /// Timer period; 0 means no timer.
    pub flush_interval_ms: u32,
    /// Most events kept queued; the oldest are dropped beyond it.
    pub max_queue_size: usize,
    /// The project overrides event time with server time.
    pub server_timestamp: bool,
    /// Default user id.
    pub user_id: Option<String>,
    /// `session_dua`: `None` = fill from the environment, `Some("")` = don't send.
    pub session_dua: Option<String>,
    /// `session_ip` to send with every event.
    pub session_ip: Option<String>,
    /// Tries per batch before it is given up (at least 1).
    pub max_tries: u32,
    /// Keep the queue in `localStorage` where it exists.
    pub persist: bool,
    /// Fill page URL, title, referrer, screen, UTM parameters in a page.
    pub auto_page_properties: bool,
    /// Prefix of the storage keys.
    pub storage_key: String,
    /// Backoff: the first retry waits up to this long (full jitter).
    pub retry_base_ms: u64,
    /// Backoff: no wait between tries is longer than this.
    pub retry_max_ms: u64,
    /// `optOut`: start opted out (`Some(true)`) or in; `None`: the saved choice.
    pub opt_out: Option<bool>,
    /// Global Privacy Control / Do Not Track opt the visitor out.
    pub privacy_signals: bool,
    /// Sessions end after this long without an event; `None`: the shell's
    /// default (30 minutes in a page, none elsewhere); 0: no `session_id`.
    pub session_timeout_ms: Option<u64>,
    /// Automatic page views.
    pub auto_page_views: AutoPageViews,
    /// The share of users whose events are kept, and its JSON text (sent as
    /// `sample_rate`); `None`: every user, and no `sample_rate` sent.
    pub sample_rate: Option<(f64, String)>,
    /// Log each queued event, request and answer with `console.debug`.
    pub debug: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            app_key: String::new(),
            endpoint: DEFAULT_ENDPOINT.to_string(),
            body_format: BodyFormat::Form,
            batch_size: MAX_EVENTS,
            flush_interval_ms: 5000,
            max_queue_size: 10_000,
            server_timestamp: false,
            user_id: None,
            session_dua: None,
            session_ip: None,
            max_tries: 10,
            persist: true,
            auto_page_properties: true,
            storage_key: "coola".to_string(),
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            opt_out: None,
            privacy_signals: false,
            session_timeout_ms: None,
            auto_page_views: AutoPageViews::Off,
            sample_rate: None,
            debug: false,
        }
    }
}

fn bad(field: &str, message: &str) -> Error {
    Error::field(ErrorCode::InvalidOption, field, message)
}

impl OptValue {
    /// An option's value as the [`entries`](crate::core::entries) form gives it. Options are whole
    /// numbers, so a number is read as an integer; any other number text
    /// becomes NaN, which every numeric option refuses.
    pub fn from_raw(v: RawValue<'_>) -> OptValue {
        match v {
            RawValue::Absent => OptValue::Absent,
            RawValue::Str(s) => OptValue::Str(s.to_string()),
            RawValue::Num(n) => OptValue::Num(n),
            RawValue::NumText(t) => OptValue::Num(num::int_text(t)),
            RawValue::Bool(b) => OptValue::Bool(b),
            _ => OptValue::Other("not a string, number or boolean"),
        }
    }
}

impl Config {
    /// Reads the options bag given in the [`entries`](crate::core::entries) form (the options the
    /// shell reads itself, `onError`, `beforeSend` and `properties`, are left
    /// to it; a name that is no option is `invalid_option`), applies every option and checks the
    /// whole with [`Config::finish`]. `read` gives the number a number's text
    /// stands for, as [`privacy::parse_rate`] asks (the shell: JavaScript's
    /// `parseFloat`; the host: [`privacy::read_number`]).
    pub fn parse(encoded: &str, read: impl Fn(&str) -> f64) -> Result<Config, Error> {
        let mut c = Config::default();
        // The entries as events read them (the same iterator: one copy).
        let mut props = crate::core::tracker::Props::new(encoded);
        for (k, v) in &mut props {
            if let Some(field) = field_of(k)? {
                c.apply(k, field, v, &read)?;
            }
        }
        if let Some(e) = props.err {
            return Err(e);
        }
        c.check()?;
        Ok(c)
    }

    /// Applies one option. Absent options keep their default; a name that
    /// is no option is `invalid_option`.
    pub fn set(&mut self, name: &str, v: &OptValue) -> Result<(), Error> {
        let Some(field) = field_of(name)? else {
            return Ok(());
        };
        let raw = match v {
            OptValue::Absent => RawValue::Absent,
            OptValue::Str(s) => RawValue::Str(s),
            // The number's JSON text, checked by the same rule as the
            // options bag's (`parse_rate`), which is told the number itself.
            OptValue::Num(n) if field == Field::SampleRate => {
                let mut t = String::new();
                if !num::push_json_number(&mut t, *n) {
                    return Err(privacy::bad_rate());
                }
                self.sample_rate = Some(privacy::parse_rate(&t, |_| *n)?);
                return Ok(());
            }
            OptValue::Num(n) => RawValue::Num(*n),
            OptValue::Bool(b) => RawValue::Bool(*b),
            OptValue::Other(k) => RawValue::Other(k),
        };
        // Numbers are handled above: no text reaches `parse_rate`'s reader.
        self.apply(name, field, raw, &|_| f64::NAN)
    }

    /// Applies option `name` (of `field`) as it arrived. An absent option
    /// keeps its default. Options are whole numbers, so a number's text is
    /// read as an integer (other text becomes NaN, which every numeric
    /// option refuses); `sampleRate`'s is read by [`privacy::parse_rate`]
    /// with `read`.
    fn apply(&mut self, name: &str, field: Field, v: RawValue<'_>, read: &impl Fn(&str) -> f64) -> Result<(), Error> {
        let (s, t, n, b) = match v {
            RawValue::Absent => return Ok(()),
            RawValue::Str(s) => (s, "", f64::NAN, None),
            RawValue::Num(n) => ("", "", n, None),
            RawValue::NumText(t) => ("", t, num::int_text(t), None),
            RawValue::Bool(b) => ("", "", f64::NAN, Some(b)),
            _ => ("", "", f64::NAN, None),
        };
        // `s` is the string given, empty for any other value: every option
        // that takes a string refuses an empty one.
        let kind = field.kind();
        let ok = match kind {
            Kind::Text(_) => !s.is_empty() || (field == Field::SessionDua && matches!(b, Some(false))),
            Kind::Flag => b.is_some(),
            // In range (so not NaN, not infinite), and whole.
            Kind::Whole(min, max, ..) => n >= f64::from(min) && n <= f64::from(max) && n == (n as u64) as f64,
            Kind::Choice(_) if field == Field::BodyFormat => match BodyFormat::parse(s) {
                Some(f) => {
                    self.body_format = f;
                    return Ok(());
                }
                None => false,
            },
            Kind::Choice(_) => b.is_some() || *s == *"history",
            // A number comes as its text `t` to `parse` (the entries form's
            // `n`; `set` reads a number itself): any other value, whose `t`
            // is empty, is refused by `parse_rate` too.
            Kind::Rate => {
                self.sample_rate = Some(privacy::parse_rate(t, read)?);
                return Ok(());
            }
        };
        if !ok {
            // Written straight after the error's `"name": ` (no message
            // built apart and copied).
            let mut e = bad(name, "must be ");
            kind.push_message(&mut e.message);
            return Err(e);
        }
        let flag = matches!(b, Some(true));
        // Checked whole and in range above.
        let whole = n as u64;
        // Grouped by the type of the field, so that each type's store is
        // written once; a text option's string is copied into the field's
        // own buffer (one copy for the six of them); an optional one is
        // given a new empty string by Option::insert (no get_or_insert_with
        // instance).
        let text_slot = match field {
            Field::AppKey => Some(&mut self.app_key),
            Field::Endpoint => Some(&mut self.endpoint),
            Field::StorageKey => Some(&mut self.storage_key),
            Field::UserId => Some(self.user_id.insert(String::new())),
            Field::SessionDua => Some(self.session_dua.insert(String::new())),
            Field::SessionIp => Some(self.session_ip.insert(String::new())),
            _ => None,
        };
        if let Some(slot) = text_slot {
            slot.clear();
            slot.push_str(s);
            return Ok(());
        }
        let flag_slot = match field {
            Field::ServerTimestamp => Some(&mut self.server_timestamp),
            Field::Persist => Some(&mut self.persist),
            Field::AutoPageProperties => Some(&mut self.auto_page_properties),
            Field::PrivacySignals => Some(&mut self.privacy_signals),
            Field::Debug => Some(&mut self.debug),
            _ => None,
        };
        if let Some(slot) = flag_slot {
            *slot = flag;
            return Ok(());
        }
        match field {
            Field::BatchSize => self.batch_size = whole as usize,
            Field::FlushIntervalMs => self.flush_interval_ms = whole as u32,
            Field::MaxQueueSize => self.max_queue_size = whole as usize,
            Field::MaxRetries => self.max_tries = 1 + whole as u32,
            Field::RetryBaseMs => self.retry_base_ms = whole,
            Field::RetryMaxMs => self.retry_max_ms = whole,
            Field::OptOut => self.opt_out = Some(flag),
            Field::SessionTimeoutMs => self.session_timeout_ms = Some(whole),
            Field::AutoPageViews => {
                self.auto_page_views = match b {
                    Some(false) => AutoPageViews::Off,
                    Some(true) => AutoPageViews::Start,
                    None => AutoPageViews::History,
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks what depends on several options: an app key is given, and the
    /// endpoint is https, or http on a loopback host.
    ///
    /// An endpoint that is a path (`"/collect"`, see [`is_path_endpoint`])
    /// names a first-party collector on the page's own origin: the app key
    /// may be left out then, and the shell resolves it against `location.origin`.
    pub fn finish(self) -> Result<Config, Error> {
        self.check()?;
        Ok(self)
    }

    /// What [`Config::finish`] checks, on a borrowed configuration (no move
    /// of the whole of it in and out).
    fn check(&self) -> Result<(), Error> {
        if is_path_endpoint(&self.endpoint) {
            check_path(&self.endpoint)?;
        } else if self.app_key.is_empty() {
            return Err(bad("appKey", "is required: pass the app key CoolaData gave you"));
        } else {
            check_endpoint(&self.endpoint)?;
        }
        if self.retry_max_ms < self.retry_base_ms {
            return Err(bad("retryMaxMs", "must not be less than retryBaseMs"));
        }
        Ok(())
    }

    /// The request URL: the endpoint with `{appKey}` replaced by the
    /// percent-encoded app key.
    pub fn url(&self) -> String {
        replace_all(&self.endpoint, "{appKey}", &self.app_key, true)
    }
}

/// `hay` with every `needle` (none when it is empty) replaced by `with`,
/// percent-encoded when `encode` ([`Config::url`]), as it is otherwise
/// ([`privacy::hide_key`]). One plain byte loop for both.
pub(crate) fn replace_all(hay: &str, needle: &str, with: &str, encode: bool) -> String {
    let (b, n) = (hay.as_bytes(), needle.as_bytes());
    let mut out = String::new();
    // What is copied already, and where the next match may start.
    let (mut done, mut i) = (0, 0);
    while !n.is_empty() && i + n.len() <= b.len() {
        if b.get(i..i + n.len()).is_some_and(|s| *s == *n) {
            debug_assert!(hay.is_char_boundary(done) && hay.is_char_boundary(i));
            // SAFETY: `i` starts a match of `needle`, a non-empty `str`,
            // so its byte is no continuation byte; `done` is 0 or the end
            // of such a match, whose last character is whole (its length is
            // its lead byte's): both char boundaries, `done <= i < len`.
            out.push_str(unsafe { hay.get_unchecked(done..i) });
            if encode {
                form::push_component(&mut out, with);
            } else {
                out.push_str(with);
            }
            i += n.len();
            done = i;
        } else {
            i += 1;
        }
    }
    debug_assert!(hay.is_char_boundary(done));
    // SAFETY: `done` is 0 or the end of a match within `hay` (see above).
    out.push_str(unsafe { hay.get_unchecked(done..) });
    out
}

/// Whether an endpoint is a path on the page's own origin (`"/collect"`),
/// as opposed to a URL; `"//host/..."` is a URL without a scheme, not a path.
pub fn is_path_endpoint(endpoint: &str) -> bool {
    let b = endpoint.as_bytes();
    matches!(b.first(), Some(b'/')) && !matches!(b.get(1), Some(b'/'))
}

fn check_path(path: &str) -> Result<(), Error> {
    if has_hidden(path.as_bytes()) {
        return Err(hidden());
    }
    Ok(())
}

fn hidden() -> Error {
    bad("endpoint", "must not contain spaces, backslashes or control characters")
}

/// Whether the UTF-8 bytes `b` hold a backslash, or a character that
/// `char::is_whitespace` or `char::is_control` accepts: C0 and C1 controls,
/// DEL, and the Unicode spaces (U+0085, U+00A0, U+1680, U+2000-U+200A,
/// U+2028, U+2029, U+202F, U+205F, U+3000). Bytes, not chars: no UTF-8
/// decoder and no Unicode tables in the wasm.
fn has_hidden(b: &[u8]) -> bool {
    // The last three bytes as one number: a sequence is found at its last byte.
    let mut w = 0u32;
    for &c in b {
        w = (w << 8 | u32::from(c)) & 0xFF_FFFF;
        let hit = matches!(c, 0..=0x20 | 0x7f | b'\\')
            || matches!(w & 0xFFFF, 0xC280..=0xC2A0)
            || matches!(
                w,
                0xE2_8080..=0xE2_808A | 0xE2_80A8 | 0xE2_80A9 | 0xE2_80AF | 0xE1_9A80 | 0xE3_8080 | 0xE2_819F
            );
        if hit {
            return true;
        }
    }
    false
}

/// Accepts `https://` URLs, and `http://` ones whose host is loopback
/// (`localhost`, `127.0.0.0/8`, `[::1]`). The message never repeats the URL,
/// which may hold the app key. Reads bytes: no `str` pattern search.
pub fn check_endpoint(url: &str) -> Result<(), Error> {
    let b = url.as_bytes();
    // Browsers read `\` as `/` and drop tabs and newlines in URLs: any of
    // them could hide the real host from the check below.
    if has_hidden(b) {
        return Err(hidden());
    }
    // No control character is left (has_hidden): num::eq_fold is exact.
    let (skip, secure) = if b.get(..8).is_some_and(|h| num::eq_fold(h, b"https://")) {
        (8, true)
    } else if b.get(..7).is_some_and(|h| num::eq_fold(h, b"http://")) {
        (7, false)
    } else {
        return Err(bad("endpoint", HTTPS));
    };
    // One pass over the authority (up to the path, query or fragment): the
    // host ends at its first `:` (the port), or at `]` when it is `[v6]`.
    // A `@` ends the user:password part, which fetch refuses to send to.
    let (start, mut colon, mut close, mut i) = (skip, usize::MAX, usize::MAX, skip);
    while let Some(&c) = b.get(i) {
        match c {
            b'/' | b'?' | b'#' => break,
            b'@' => return Err(bad("endpoint", CREDENTIALS)),
            b':' => colon = colon.min(i),
            b']' => close = close.min(i),
            _ => {}
        }
        i += 1;
    }
    let (from, to) = if b.get(start) == Some(&b'[') {
        (start + 1, close)
    } else {
        (start, colon)
    };
    let host = b.get(from..to.min(i)).unwrap_or_default();
    if host.is_empty() {
        return Err(bad("endpoint", "has no host"));
    }
    if secure || is_loopback(host) {
        Ok(())
    } else {
        Err(bad("endpoint", HTTPS))
    }
}

/// Why an endpoint URL with a user name or password is refused (fetch
/// refuses to send to it).
const CREDENTIALS: &str = "must not hold user:password@: remove it";

/// What an endpoint URL must be.
const HTTPS: &str = "must be an https:// URL (http only for localhost, 127.0.0.0/8, [::1])";

/// `localhost`, `::1`, or a dotted quad `127.x.y.z` (each part 0-255, at
/// most 3 digits). `host` holds no control character (see `check_endpoint`).
fn is_loopback(host: &[u8]) -> bool {
    if num::eq_fold(host, b"localhost") || host == b"::1" {
        return true;
    }
    // One pass over the bytes, the end read as a last `.`: each part 1 to
    // 3 digits below 256, the first 127, four of them.
    let (mut parts, mut v, mut len, mut i) = (0, 0u32, 0, 0);
    loop {
        let c = host.get(i).copied().unwrap_or(b'.');
        if c == b'.' {
            if len == 0 || v > 255 || (parts == 0 && v != 127) {
                return false;
            }
            parts += 1;
            (v, len) = (0, 0);
            if i >= host.len() {
                return parts == 4;
            }
        } else if c.is_ascii_digit() && len < 3 {
            v = v * 10 + u32::from(c - b'0');
            len += 1;
        } else {
            return false;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_all_cuts_at_whole_characters() {
        // Multi-byte characters next to, and inside, the needle; overlapping
        // and adjacent matches; an empty needle replaces nothing.
        assert_eq!(replace_all("é{k}ü{k}{k}€", "{k}", "😀", false), "é😀ü😀😀€");
        assert_eq!(replace_all("aéé€éb", "é€", "-", false), "aé-éb");
        assert_eq!(replace_all("ééé", "éé", "x", false), "xé");
        assert_eq!(
            replace_all("/v1/{appKey}", "{appKey}", "a b/é", true),
            "/v1/a%20b%2F%C3%A9"
        );
        assert_eq!(replace_all("é", "", "x", false), "é");
    }

    fn build(opts: &[(&str, OptValue)]) -> Result<Config, Error> {
        let mut c = Config::default();
        for (k, v) in opts {
            c.set(k, v)?;
        }
        c.finish()
    }

    fn s(v: &str) -> OptValue {
        OptValue::Str(v.into())
    }

    #[test]
    fn parses_the_entries_form() {
        use crate::core::entries::tests::write;
        let text = [
            write('s', "appKey", "k"),
            write('n', "batchSize", "10"),
            write('b', "persist", "false"),
            write('f', "onError", ""),
            write('f', "beforeSend", ""),
            write('u', "userId", ""),
        ]
        .concat();
        let c = Config::parse(&text, privacy::read_number).unwrap();
        assert_eq!((c.batch_size, c.persist, c.user_id), (10, false, None));
        // A misspelt option is refused, not ignored: `optout: true` from a
        // consent record would otherwise track a visitor who said no.
        let typo = [write('s', "appKey", "k"), write('b', "optout", "true")].concat();
        let e = Config::parse(&typo, privacy::read_number).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::InvalidOption, Some("optout")));
        assert_eq!(e.message, "\"optout\": not an option (check its spelling)");
        // An option whose getter threw (shell.js writes that entry alone):
        // refused under its name, with what was thrown.
        let e = Config::parse(&write('!', "batchSize", "boom"), privacy::read_number).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::InvalidOption, Some("batchSize"))
        );
        assert_eq!(e.message, "\"batchSize\": reading it threw: boom");
        for (tag, v) in [('n', "1.5"), ('n', "-1"), ('n', "1e3"), ('s', "10"), ('o', "")] {
            let text = write('s', "appKey", "k") + &write(tag, "batchSize", v);
            let e = Config::parse(&text, privacy::read_number).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("batchSize"), "{tag}{v}");
        }
        assert_eq!(
            Config::parse("", privacy::read_number).unwrap_err().field.as_deref(),
            Some("appKey")
        );
    }

    #[test]
    fn defaults() {
        let c = build(&[("appKey", s("k"))]).unwrap();
        assert_eq!(c.batch_size, 300);
        assert_eq!(c.flush_interval_ms, 5000);
        assert_eq!(c.max_queue_size, 10_000);
        assert_eq!(c.url(), "https://api.cooladata.com/v3/k/track");
    }

    #[test]
    fn ranges_name_the_option() {
        let cases: &[(&str, OptValue)] = &[
            ("batchSize", OptValue::Num(0.0)),
            ("batchSize", OptValue::Num(301.0)),
            ("batchSize", OptValue::Num(1.5)),
            ("batchSize", OptValue::Num(f64::NAN)),
            ("maxQueueSize", OptValue::Num(f64::INFINITY)),
            ("maxRetries", OptValue::Num(f64::NEG_INFINITY)),
            ("sessionTimeoutMs", OptValue::Num(1e300)),
            ("batchSize", s("10")),
            ("flushIntervalMs", OptValue::Num(-1.0)),
            ("maxQueueSize", OptValue::Num(0.0)),
            ("bodyFormat", s("json")),
            ("serverTimestamp", s("yes")),
            ("userId", s("")),
            ("sessionDua", OptValue::Bool(true)),
            ("appKey", OptValue::Other("object")),
        ];
        for (k, v) in cases {
            let e = build(&[("appKey", s("k")), (k, v.clone())]).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOption);
            assert_eq!(e.field.as_deref(), Some(*k), "{k}");
        }
        assert_eq!(build(&[]).unwrap_err().field.as_deref(), Some("appKey"));
    }

    #[test]
    fn messages_are_built_from_shared_parts() {
        let cases: &[(&str, OptValue, &str)] = &[
            ("batchSize", OptValue::Num(0.0), "must be a whole number from 1 to 300"),
            (
                "flushIntervalMs",
                OptValue::Num(1.5),
                "must be a whole number of milliseconds from 0 (no timer) to 86400000",
            ),
            (
                "sessionTimeoutMs",
                OptValue::Num(2_592_000_001.0),
                "must be a whole number of milliseconds from 0 (no sessions) to 2592000000",
            ),
            (
                "retryMaxMs",
                OptValue::Num(0.0),
                "must be a whole number of milliseconds from 1 to 3600000",
            ),
            ("maxRetries", s("3"), "must be a whole number from 0 to 100"),
            ("persist", OptValue::Num(1.0), "must be true or false"),
            ("userId", s(""), "must be a non-empty string"),
            (
                "appKey",
                OptValue::Num(1.0),
                "must be a non-empty string (the app key CoolaData gave you)",
            ),
            (
                "sessionDua",
                OptValue::Bool(true),
                "must be a non-empty string, or false to send none",
            ),
            ("bodyFormat", s("json"), "must be \"form\" or \"raw\""),
            ("autoPageViews", s("hash"), "must be true, false or \"history\""),
            (
                "sampleRate",
                s("0.5"),
                "must be a number from 0 to 1 (the share of users kept)",
            ),
        ];
        for (k, v, want) in cases {
            let e = build(&[("appKey", s("k")), (k, v.clone())]).unwrap_err();
            assert_eq!(e.message, format!("\"{k}\": {want}"), "{k} {v:?}");
        }
        let c = build(&[("appKey", s("k")), ("sessionDua", OptValue::Bool(false))]).unwrap();
        assert_eq!(c.session_dua.as_deref(), Some(""));
        let c = build(&[
            ("appKey", s("k")),
            ("bodyFormat", s("raw")),
            ("maxRetries", OptValue::Num(0.0)),
        ])
        .unwrap();
        assert_eq!((c.body_format, c.max_tries), (BodyFormat::Raw, 1));
    }

    #[test]
    fn privacy_options() {
        use crate::core::entries::tests::write;
        let c = build(&[("appKey", s("k"))]).unwrap();
        assert_eq!(
            (
                c.opt_out,
                c.privacy_signals,
                c.session_timeout_ms,
                c.auto_page_views,
                c.debug
            ),
            (None, false, None, AutoPageViews::Off, false)
        );
        assert_eq!(c.sample_rate, None);
        let c = build(&[
            ("appKey", s("k")),
            ("optOut", OptValue::Bool(true)),
            ("privacySignals", OptValue::Bool(true)),
            ("sessionTimeoutMs", OptValue::Num(0.0)),
            ("autoPageViews", s("history")),
            ("sampleRate", OptValue::Num(0.5)),
            ("debug", OptValue::Bool(true)),
        ])
        .unwrap();
        assert_eq!(
            (
                c.opt_out,
                c.privacy_signals,
                c.session_timeout_ms,
                c.auto_page_views,
                c.debug
            ),
            (Some(true), true, Some(0), AutoPageViews::History, true)
        );
        assert_eq!(c.sample_rate, Some((0.5, "0.5".to_string())));
        let text = write('s', "appKey", "k") + &write('n', "sampleRate", "0.1") + &write('b', "autoPageViews", "true");
        let c = Config::parse(&text, privacy::read_number).unwrap();
        assert_eq!(c.sample_rate.map(|r| r.1), Some("0.1".to_string()));
        assert_eq!(c.auto_page_views, AutoPageViews::Start);
        for (k, v) in [
            ("optOut", s("yes")),
            ("privacySignals", OptValue::Num(1.0)),
            ("sessionTimeoutMs", OptValue::Num(-1.0)),
            ("sessionTimeoutMs", OptValue::Num(1.5)),
            ("autoPageViews", s("hash")),
            ("sampleRate", OptValue::Num(1.5)),
            ("sampleRate", s("0.5")),
            ("debug", s("true")),
        ] {
            let e = build(&[("appKey", s("k")), (k, v.clone())]).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(k), "{k} {v:?}");
        }
        // The builder's numbers follow the same rule, with their JSON text.
        for (n, want) in [
            (1e-7, Some("1e-7")),
            (0.0, Some("0")),
            (-0.0, Some("0")),
            (1.0, Some("1")),
            (0.25, Some("0.25")),
            (-0.5, None),
            (1.0000000000000002, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ] {
            match (build(&[("appKey", s("k")), ("sampleRate", OptValue::Num(n))]), want) {
                (Ok(c), Some(t)) => assert_eq!(c.sample_rate, Some((n, t.to_string())), "{n}"),
                (Err(e), None) => assert_eq!(e, privacy::bad_rate(), "{n}"),
                (r, _) => panic!("{n}: {r:?}"),
            }
        }
        // As the shell hands them over: a finite number as String(n), NaN and
        // the infinities as `N`, a string as `s`, null as `o`. Only a JSON
        // number from 0 to 1 is kept, with its text as it came.
        for (tag, v, want) in [
            ('n', "1e-7", Some(1e-7)),
            ('n', "0", Some(0.0)),
            ('n', "1", Some(1.0)),
            ('n', "0.30000000000000004", Some(0.1 + 0.2)),
            ('n', "2", None),
            ('n', "1.0000000000000002", None),
            ('n', "-0.5", None),
            ('n', "1e+21", None),
            ('N', "NaN", None),
            ('N', "Infinity", None),
            ('N', "-Infinity", None),
            ('s', "0.5", None),
            ('s', "", None),
            ('b', "true", None),
            ('o', "", None),
        ] {
            let text = write('s', "appKey", "k") + &write(tag, "sampleRate", v);
            match (Config::parse(&text, privacy::read_number), want) {
                (Ok(c), Some(n)) => assert_eq!(c.sample_rate, Some((n, v.to_string())), "{tag}{v}"),
                (Err(e), None) => assert_eq!(e, privacy::bad_rate(), "{tag}{v}"),
                (r, _) => panic!("{tag}{v}: {r:?}"),
            }
        }
        // Options are applied in the order given: the first bad one is reported.
        let text = write('s', "appKey", "k") + &write('n', "sampleRate", "2") + &write('n', "batchSize", "0");
        assert_eq!(
            Config::parse(&text, privacy::read_number).unwrap_err().field.as_deref(),
            Some("sampleRate")
        );
        let text = write('s', "appKey", "k") + &write('n', "batchSize", "0") + &write('n', "sampleRate", "2");
        assert_eq!(
            Config::parse(&text, privacy::read_number).unwrap_err().field.as_deref(),
            Some("batchSize")
        );
        // The reader is asked only for a number's text, and what it gives is
        // range-checked here.
        let text = write('s', "appKey", "k") + &write('n', "sampleRate", "0.5");
        assert!(Config::parse(&text, |_| 1.5).is_err());
        assert_eq!(
            Config::parse(&text, |_| 0.25).unwrap().sample_rate,
            Some((0.25, "0.5".to_string()))
        );
        let text = write('s', "appKey", "k") + &write('s', "sampleRate", "0.5");
        assert!(Config::parse(&text, |_| unreachable!()).is_err());
    }

    #[test]
    fn hidden_bytes_are_the_chars_of_the_rule() {
        // Every character alone and between others: the byte reading agrees
        // with char::is_whitespace / is_control.
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            let want = c == '\\' || c.is_whitespace() || c.is_control();
            assert_eq!(has_hidden(c.to_string().as_bytes()), want, "{:?}", c);
            assert_eq!(has_hidden(format!("a{c}é").as_bytes()), want, "{:?}", c);
        }
    }

    #[test]
    fn endpoints() {
        for ok in [
            "https://api.cooladata.com/v1/{appKey}/track",
            "http://localhost:8787/v3/{appKey}/track",
            "http://127.0.0.1/x",
            "http://127.255.0.9:1/x",
            "http://[::1]:80/x",
            "HTTPS://EXAMPLE.com",
            "HTTP://LocalHost:1/x",
            "http://127.000.0.1/x",
            "https://h:1?q@x",
            "https://h/a@b",
        ] {
            assert!(check_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/x",
            "http://127.0.0.1.evil.com/x",
            "http://localhost.evil.com/",
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "http://127.0.0.256/",
            "http://127.0.0/",
            "http://127..0.1/",
            "http://127.0.0.1./",
            "http://0127.0.0.1/",
            "http://127.0.0.0001/",
            "http://127.0.0.1a/",
            "ftp://x",
            "//api.cooladata.com",
            "https://",
            "http://user@evil.com",
            "http://evil.com\\@localhost/v3/{appKey}/track",
            "http://localhost\t.evil.com/",
            "https://api.cooladata.com /x",
            "https://api.cooladata.com\u{a0}/x",
            "https://api.cooladata.com/\u{2028}",
            "http://[::2]/x",
            "http://[::1]@evil.com/",
            "http://localhost:1@evil.com/",
            "https://@:1/",
        ] {
            let e = check_endpoint(bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("endpoint"), "{bad}");
        }
        // fetch refuses a URL with a user name or password: refused here,
        // with a message that says what to remove.
        for creds in [
            "https://user:pw@x.com/v3/{appKey}/track",
            "https://user@x.com/",
            "https://@x.com/",
            "http://u:p@127.0.0.1/x",
            "http://u@[::1]:8/x",
            "https://u:p@h:1?q",
            "HTTPS://a:b@c:d@h/",
        ] {
            let e = check_endpoint(creds).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOption, "{creds}");
            assert_eq!(e.field.as_deref(), Some("endpoint"), "{creds}");
            assert!(
                e.message.contains("user:password@") && e.message.contains("remove it"),
                "{}",
                e.message
            );
            assert!(
                !e.message.contains("pw") && !e.message.contains("x.com"),
                "{}",
                e.message
            );
        }
        let e = build(&[
            ("appKey", s("k")),
            ("endpoint", s("https://user:pw@x.com/v3/{appKey}/track")),
        ])
        .unwrap_err();
        assert_eq!(e.message, format!("\"endpoint\": {CREDENTIALS}"));
    }

    /// What `is_loopback` reads a dotted host as, written with `split`.
    fn loopback_by_split(host: &[u8]) -> bool {
        let parts: Vec<&[u8]> = host.split(|&c| c == b'.').collect();
        parts.len() == 4
            && parts[0] == b"127"
            && parts
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.iter().all(u8::is_ascii_digit) && num::digits_value(p) < 256)
    }

    proptest::proptest! {
        #[test]
        fn loopback_quads_read_as_split_reads_them(host in "(127|12[0-9]|[0-9]{0,4})(\\.[0-9a]{0,4}){0,5}\\.?") {
            proptest::prop_assert_eq!(is_loopback(host.as_bytes()), loopback_by_split(host.as_bytes()), "{}", host);
        }
    }

    #[test]
    fn a_path_endpoint_needs_no_app_key() {
        let c = build(&[("endpoint", s("/collect"))]).unwrap();
        assert!(is_path_endpoint(&c.endpoint));
        assert_eq!(c.url(), "/collect");
        for bad in ["//evil.com/collect", "/col lect", "/a\\b", "collect"] {
            let e = build(&[("endpoint", s(bad))]).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOption, "{bad}");
        }
        assert_eq!(
            build(&[("endpoint", s("//evil.com/x"))]).unwrap_err().field.as_deref(),
            Some("appKey"),
            "a URL without a scheme still needs the app key"
        );
        assert!(!is_path_endpoint("https://x/collect"));
        assert!(is_path_endpoint("/"));
        assert!(!is_path_endpoint("//x"));
        assert!(!is_path_endpoint(""));
    }

    #[test]
    fn app_key_is_encoded_and_never_in_messages() {
        let c = build(&[
            ("appKey", s("a/b c")),
            ("endpoint", s("http://localhost/v3/{appKey}/track")),
        ])
        .unwrap();
        assert_eq!(c.url(), "http://localhost/v3/a%2Fb%20c/track");
        let e = build(&[("appKey", s("SECRETKEY")), ("endpoint", s("http://evil.com/SECRETKEY"))]).unwrap_err();
        assert!(!e.message.contains("SECRETKEY"));
    }

    #[test]
    fn url_replaces_every_app_key_and_keeps_other_braces() {
        let c = build(&[
            ("appKey", s("k")),
            ("endpoint", s("https://h/{appKey}/{x}/{appKey}{appKe")),
        ])
        .unwrap();
        assert_eq!(c.url(), "https://h/k/{x}/k{appKe");
    }

    /// The options `Config` reads (the callbacks aside), in the order of
    /// [`Field`], written out here to check [`NAMES`] against.
    const OPTION_NAMES: [&str; 22] = [
        "appKey",
        "endpoint",
        "bodyFormat",
        "batchSize",
        "flushIntervalMs",
        "maxQueueSize",
        "serverTimestamp",
        "userId",
        "sessionDua",
        "sessionIp",
        "maxRetries",
        "persist",
        "autoPageProperties",
        "storageKey",
        "retryBaseMs",
        "retryMaxMs",
        "optOut",
        "privacySignals",
        "sessionTimeoutMs",
        "autoPageViews",
        "sampleRate",
        "debug",
    ];

    #[test]
    fn names_text_is_option_names_in_order() {
        let words: Vec<&str> = std::str::from_utf8(NAMES).unwrap().split_terminator(' ').collect();
        let shell = ["onError", "beforeSend", "properties"];
        assert_eq!(words, [&OPTION_NAMES[..], &shell[..]].concat());
        for (i, n) in OPTION_NAMES.iter().enumerate() {
            assert!(field_of(n).unwrap() == Some(FIELDS[i]), "{n}");
        }
        for n in shell {
            assert!(field_of(n).unwrap().is_none(), "{n}");
        }
        for n in [
            "",
            " ",
            "appKe",
            "appKeyx",
            "debug ",
            "appKey endpoint",
            "optout",
            "onerror",
        ] {
            let e = field_of(n).err().unwrap();
            assert_eq!(
                (e.code, e.field.as_deref()),
                (ErrorCode::InvalidOption, Some(n)),
                "{n:?}"
            );
        }
    }
}
