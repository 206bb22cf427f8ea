//! Tracker options: every default and every range check in one place.
//!
//! The shell hands the JavaScript options bag over as one string in the
//! [`entries`] form that events use; [`Config::parse`] reads it, applying
//! each option with [`Config::set`], and [`Config::finish`] checks what
//! depends on several options and resolves the endpoint.

use crate::core::batch::{BodyFormat, MAX_EVENTS};
use crate::core::entries::{self, Entry};
use crate::core::error::{Error, ErrorCode};
use crate::core::event::RawValue;
use crate::core::form;
use crate::core::privacy;
#[allow(unused_imports)]
use crate::prelude::*;

/// The endpoint used when none is given; `{appKey}` is replaced.
pub const DEFAULT_ENDPOINT: &str = "https://api.cooladata.com/v3/{appKey}/track";

/// The option names [`Config::set`] knows.
pub const OPTION_NAMES: [&str; 22] = [
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

fn whole(field: &str, v: &OptValue, min: f64, max: f64, what: &str) -> Result<f64, Error> {
    match v {
        OptValue::Num(n) if crate::core::num::is_whole(*n) && *n >= min && *n <= max => Ok(*n),
        _ => Err(bad(field, what)),
    }
}

fn text(field: &str, v: &OptValue, what: &str) -> Result<String, Error> {
    match v {
        OptValue::Str(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(bad(field, what)),
    }
}

fn flag(field: &str, v: &OptValue) -> Result<bool, Error> {
    match v {
        OptValue::Bool(b) => Ok(*b),
        _ => Err(bad(field, "must be true or false")),
    }
}

impl OptValue {
    /// An option's value as the [`entries`] form gives it. Options are whole
    /// numbers, so a number is read as an integer; any other number text
    /// becomes NaN, which every numeric option refuses.
    pub fn from_raw(v: RawValue<'_>) -> OptValue {
        match v {
            RawValue::Absent => OptValue::Absent,
            RawValue::Str(s) => OptValue::Str(s.to_string()),
            RawValue::Num(n) => OptValue::Num(n),
            RawValue::NumText(t) => OptValue::Num(int_text(t)),
            RawValue::Bool(b) => OptValue::Bool(b),
            _ => OptValue::Other("not a string, number or boolean"),
        }
    }
}

/// Reads `-?[0-9]{1,15}` as a number, anything else as NaN (no float
/// parser needed for options, which are all whole numbers).
fn int_text(t: &str) -> f64 {
    let b = t.as_bytes();
    let (neg, digits) = match b.split_first() {
        Some((b'-', d)) => (true, d),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_digit) {
        return f64::NAN;
    }
    let v = digits.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')) as f64;
    if neg {
        -v
    } else {
        v
    }
}

impl Config {
    /// Reads the options bag given in the [`entries`] form (unknown names and
    /// `onError` are left to the caller), applies every option and checks the
    /// whole with [`Config::finish`].
    pub fn parse(encoded: &str) -> Result<Config, Error> {
        let mut c = Config::default();
        for e in entries::parse(encoded) {
            match e? {
                // A fraction, which OptValue::from_raw (whole numbers) cannot read.
                Entry::Prop("sampleRate", RawValue::NumText(t)) => c.sample_rate = Some(privacy::parse_rate(t)?),
                Entry::Prop(k, v) => c.set(k, &OptValue::from_raw(v))?,
                _ => {}
            }
        }
        c.finish()
    }

    /// Applies one option. Absent options keep their default.
    pub fn set(&mut self, name: &str, v: &OptValue) -> Result<(), Error> {
        if *v == OptValue::Absent {
            return Ok(());
        }
        match name {
            "appKey" => self.app_key = text(name, v, "must be a non-empty string (the app key CoolaData gave you)")?,
            "endpoint" => self.endpoint = text(name, v, "must be a URL string")?,
            "bodyFormat" => {
                self.body_format = match v {
                    OptValue::Str(s) => BodyFormat::parse(s),
                    _ => None,
                }
                .ok_or_else(|| bad(name, "must be \"form\" or \"raw\""))?
            }
            "batchSize" => {
                self.batch_size = whole(name, v, 1.0, 300.0, "must be a whole number from 1 to 300")? as usize
            }
            "flushIntervalMs" => {
                self.flush_interval_ms = whole(
                    name,
                    v,
                    0.0,
                    86_400_000.0,
                    "must be a whole number of milliseconds from 0 (no timer) to 86400000",
                )? as u32
            }
            "maxQueueSize" => {
                self.max_queue_size =
                    whole(name, v, 1.0, 1_000_000.0, "must be a whole number from 1 to 1000000")? as usize
            }
            "serverTimestamp" => self.server_timestamp = flag(name, v)?,
            "userId" => self.user_id = Some(text(name, v, "must be a non-empty string")?),
            "sessionDua" => {
                self.session_dua = Some(match v {
                    OptValue::Bool(false) => String::new(),
                    _ => text(name, v, "must be a non-empty string, or false to send none")?,
                })
            }
            "sessionIp" => {
                self.session_ip = Some(text(name, v, "must be a non-empty string (an IP address, or \"0\")")?)
            }
            "maxRetries" => {
                self.max_tries = 1 + whole(name, v, 0.0, 100.0, "must be a whole number from 0 to 100")? as u32
            }
            "persist" => self.persist = flag(name, v)?,
            "autoPageProperties" => self.auto_page_properties = flag(name, v)?,
            "storageKey" => self.storage_key = text(name, v, "must be a non-empty string")?,
            "retryBaseMs" => {
                self.retry_base_ms = whole(
                    name,
                    v,
                    1.0,
                    3_600_000.0,
                    "must be a whole number of milliseconds from 1 to 3600000",
                )? as u64
            }
            "retryMaxMs" => {
                self.retry_max_ms = whole(
                    name,
                    v,
                    1.0,
                    3_600_000.0,
                    "must be a whole number of milliseconds from 1 to 3600000",
                )? as u64
            }
            "optOut" => self.opt_out = Some(flag(name, v)?),
            "privacySignals" => self.privacy_signals = flag(name, v)?,
            "sessionTimeoutMs" => {
                self.session_timeout_ms = Some(whole(
                    name,
                    v,
                    0.0,
                    2_592_000_000.0,
                    "must be a whole number of milliseconds from 0 (no sessions) to 2592000000",
                )? as u64)
            }
            "autoPageViews" => {
                self.auto_page_views = match v {
                    OptValue::Bool(false) => AutoPageViews::Off,
                    OptValue::Bool(true) => AutoPageViews::Start,
                    OptValue::Str(s) if s == "history" => AutoPageViews::History,
                    _ => return Err(bad(name, "must be true, false or \"history\"")),
                }
            }
            "sampleRate" => {
                self.sample_rate = Some(match v {
                    OptValue::Num(n) => {
                        let mut t = String::new();
                        if !(0.0..=1.0).contains(n) || !crate::core::num::push_json_number(&mut t, *n) {
                            return Err(privacy::bad_rate());
                        }
                        (*n, t)
                    }
                    _ => return Err(privacy::bad_rate()),
                })
            }
            "debug" => self.debug = flag(name, v)?,
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
        Ok(self)
    }

    /// The request URL: the endpoint with `{appKey}` replaced by the
    /// percent-encoded app key.
    pub fn url(&self) -> String {
        const KEY: &[u8] = b"{appKey}";
        let mut out = String::with_capacity(self.endpoint.len());
        let mut rest = self.endpoint.as_str();
        while let Some(at) = rest.as_bytes().windows(KEY.len()).position(|w| w == KEY) {
            out.push_str(rest.get(..at).unwrap_or(""));
            form::push_component(&mut out, &self.app_key);
            rest = rest.get(at + KEY.len()..).unwrap_or("");
        }
        out.push_str(rest);
        out
    }
}

/// Whether an endpoint is a path on the page's own origin (`"/collect"`),
/// as opposed to a URL; `"//host/..."` is a URL without a scheme, not a path.
pub fn is_path_endpoint(endpoint: &str) -> bool {
    endpoint.starts_with('/') && !endpoint.starts_with("//")
}

fn check_path(path: &str) -> Result<(), Error> {
    if path.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "endpoint",
            "must not contain spaces, backslashes or control characters",
        ));
    }
    Ok(())
}

/// Accepts `https://` URLs, and `http://` ones whose host is loopback
/// (`localhost`, `127.0.0.0/8`, `[::1]`). The message never repeats the URL,
/// which may hold the app key. Reads bytes: no `str` pattern search.
pub fn check_endpoint(url: &str) -> Result<(), Error> {
    // Browsers read `\` as `/` and drop tabs and newlines in URLs: any of
    // them could hide the real host from the check below.
    if url.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "endpoint",
            "must not contain spaces, backslashes or control characters",
        ));
    }
    let lower = url.to_ascii_lowercase();
    let b = lower.as_bytes();
    let (rest, secure) = if let Some(r) = b.strip_prefix(b"https://") {
        (r, true)
    } else if let Some(r) = b.strip_prefix(b"http://") {
        (r, false)
    } else {
        return Err(bad("endpoint", "must be an https:// URL"));
    };
    let end = rest
        .iter()
        .position(|c| matches!(c, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or_default();
    let at = authority.iter().rposition(|&c| c == b'@').map_or(0, |i| i + 1);
    let host_port = authority.get(at..).unwrap_or_default();
    let host = match host_port.split_first() {
        Some((b'[', v6)) => v6.get(..v6.iter().position(|&c| c == b']').unwrap_or(v6.len())),
        _ => host_port.get(..host_port.iter().position(|&c| c == b':').unwrap_or(host_port.len())),
    }
    .unwrap_or_default();
    if host.is_empty() {
        return Err(bad("endpoint", "has no host"));
    }
    if secure || is_loopback(host) {
        Ok(())
    } else {
        Err(bad(
            "endpoint",
            "must use https: plain http is allowed only for loopback hosts (localhost, 127.0.0.0/8, [::1])",
        ))
    }
}

/// `localhost`, `::1`, or a dotted quad `127.x.y.z` (each part 0-255, at
/// most 3 digits).
fn is_loopback(host: &[u8]) -> bool {
    if host == b"localhost" || host == b"::1" {
        return true;
    }
    let mut parts = 0;
    for (i, part) in host.split(|&c| c == b'.').enumerate() {
        let ok = !part.is_empty()
            && part.len() <= 3
            && part.iter().all(u8::is_ascii_digit)
            && part.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0')) < 256;
        if !ok || (i == 0 && part != b"127") {
            return false;
        }
        parts += 1;
    }
    parts == 4
}

#[cfg(test)]
mod tests {
    use super::*;

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
            write('s', "unknown", "x"),
            write('u', "userId", ""),
        ]
        .concat();
        let c = Config::parse(&text).unwrap();
        assert_eq!((c.batch_size, c.persist, c.user_id), (10, false, None));
        for (tag, v) in [('n', "1.5"), ('n', "-1"), ('n', "1e3"), ('s', "10"), ('o', "")] {
            let text = write('s', "appKey", "k") + &write(tag, "batchSize", v);
            let e = Config::parse(&text).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("batchSize"), "{tag}{v}");
        }
        assert_eq!(Config::parse("").unwrap_err().field.as_deref(), Some("appKey"));
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
        let c = Config::parse(&text).unwrap();
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
        let text = write('s', "appKey", "k") + &write('n', "sampleRate", "2");
        assert_eq!(Config::parse(&text).unwrap_err().field.as_deref(), Some("sampleRate"));
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
        ] {
            assert!(check_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/x",
            "http://127.0.0.1.evil.com/x",
            "http://localhost.evil.com/",
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "ftp://x",
            "//api.cooladata.com",
            "https://",
            "http://user@evil.com",
            "http://evil.com\\@localhost/v3/{appKey}/track",
            "http://localhost\t.evil.com/",
            "https://api.cooladata.com /x",
        ] {
            let e = check_endpoint(bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("endpoint"), "{bad}");
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
}
