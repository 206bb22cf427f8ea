//! Tracker options: every default and every range check in one place.
//!
//! The shell reads each known option of the JavaScript options bag into an
//! [`OptValue`] and hands it to [`Config::set`]; [`Config::finish`] checks what
//! depends on several options and resolves the endpoint.

use crate::core::batch::{BodyFormat, MAX_EVENTS};
use crate::core::error::{Error, ErrorCode};
use crate::core::form;
#[allow(unused_imports)]
use crate::prelude::*;

/// The endpoint used when none is given; `{appKey}` is replaced.
pub const DEFAULT_ENDPOINT: &str = "https://api.cooladata.com/v3/{appKey}/track";

/// The option names the shell reads from the options bag, in this order.
pub const OPTION_NAMES: [&str; 16] = [
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
];

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

impl Config {
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
        let mut key = String::new();
        form::push_component(&mut key, &self.app_key);
        self.endpoint.replace("{appKey}", &key)
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
/// which may hold the app key.
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
    let (rest, secure) = if let Some(r) = lower.strip_prefix("https://") {
        (r, true)
    } else if let Some(r) = lower.strip_prefix("http://") {
        (r, false)
    } else {
        return Err(bad("endpoint", "must be an https:// URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
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

fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host == "::1" {
        return true;
    }
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts.first() == Some(&"127")
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n < 256)
        })
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
