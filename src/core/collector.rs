//! The edge collector's options and HTTP routing (`coola-tracker/edge`'s
//! `createCollector` and `fetch`), with no I/O: every default and range
//! check, and which answer a request gets before its body is read.

use crate::core::config::OptValue;
use crate::core::edge::{RetryDelay, MAX_DELAY_SECONDS};
use crate::core::error::{Error, ErrorCode};
#[allow(unused_imports)]
use crate::prelude::*;

/// The option names read from the options bag (besides `allowedOrigins`).
pub const OPTION_NAMES: [&str; 8] = [
    "path",
    "appKeyVar",
    "endpointVar",
    "queue",
    "deadLetterQueue",
    "maxBodyBytes",
    "retryBaseSeconds",
    "retryMaxSeconds",
];

/// Refuses a name of the options bag that is no option: a misspelt
/// `allowedOrigins` silently ignored would answer 403 to every
/// cross-origin page, a misspelt `deadLetterQueue` would drop what
/// CoolaData refused. The same `invalid_option` as the tracker's
/// (`"allowedOrigin": not an option (check its spelling)`, `field` the name).
pub fn check_name(name: &str) -> Result<(), Error> {
    if name == "allowedOrigins" || OPTION_NAMES.contains(&name) {
        Ok(())
    } else {
        Err(bad(name, "not an option (check its spelling)"))
    }
}

/// `Retry-After` (seconds) of a `503` when the queue refused the events.
pub const QUEUE_RETRY_AFTER_SECONDS: u32 = 5;
/// The delay of a batch retried because the app key is not set, or of a
/// message whose dead letter the dead-letter queue refused.
pub const SETUP_RETRY_SECONDS: u32 = 60;

/// The collector's options, defaults applied and ranges checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The path pages post to.
    pub path: String,
    /// The env variable holding the CoolaData app key.
    pub app_key_var: String,
    /// The env variable holding the CoolaData endpoint.
    pub endpoint_var: String,
    /// The Queue producer binding of the events.
    pub queue: String,
    /// The producer binding for refused events.
    pub dead_letter_queue: String,
    /// Origins allowed besides the Worker's own, as URL parsing normalised them.
    pub allowed_origins: Vec<String>,
    /// `"*"` was listed: any origin may post.
    pub any_origin: bool,
    /// The largest body read.
    pub max_body_bytes: u32,
    /// The consumer's backoff.
    pub retry: RetryDelay,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            path: "/collect".to_string(),
            app_key_var: "COOLA_APP_KEY".to_string(),
            endpoint_var: "COOLA_ENDPOINT".to_string(),
            queue: "COOLA_EVENTS".to_string(),
            dead_letter_queue: "COOLA_DLQ".to_string(),
            allowed_origins: Vec::new(),
            any_origin: false,
            max_body_bytes: 1_048_576,
            retry: RetryDelay::default(),
        }
    }
}

fn bad(field: &str, message: &str) -> Error {
    Error::field(ErrorCode::InvalidOption, field, message)
}

fn whole(field: &str, v: &OptValue, min: u32, max: u32) -> Result<u32, Error> {
    match v {
        OptValue::Num(n) if crate::core::num::is_whole(*n) && *n >= f64::from(min) && *n <= f64::from(max) => {
            Ok(*n as u32)
        }
        _ => {
            let mut m = String::from("must be a whole number from ");
            crate::core::num::push_u64(&mut m, u64::from(min));
            m.push_str(" to ");
            crate::core::num::push_u64(&mut m, u64::from(max));
            Err(bad(field, &m))
        }
    }
}

impl Options {
    /// Applies one option; absent ones keep their default.
    pub fn set(&mut self, name: &str, v: &OptValue) -> Result<(), Error> {
        if *v == OptValue::Absent {
            return Ok(());
        }
        let name_text = |v: &OptValue| match v {
            OptValue::Str(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(bad(name, "must be a non-empty string (a binding or variable name)")),
        };
        match name {
            "path" => {
                self.path = match v {
                    OptValue::Str(s) if s.starts_with('/') && !s.starts_with("//") => s.clone(),
                    _ => return Err(bad(name, "must be a path such as \"/collect\"")),
                }
            }
            "appKeyVar" => self.app_key_var = name_text(v)?,
            "endpointVar" => self.endpoint_var = name_text(v)?,
            "queue" => self.queue = name_text(v)?,
            "deadLetterQueue" => self.dead_letter_queue = name_text(v)?,
            "maxBodyBytes" => self.max_body_bytes = whole(name, v, 1, 100 * 1_048_576)?,
            "retryBaseSeconds" => self.retry.base_seconds = whole(name, v, 1, MAX_DELAY_SECONDS)?,
            "retryMaxSeconds" => self.retry.max_seconds = whole(name, v, 1, MAX_DELAY_SECONDS)?,
            _ => {}
        }
        Ok(())
    }

    /// Adds one `allowedOrigins` entry: `raw` as given (`None` when not a
    /// string), `origin` what URL parsing made of it (`None` when it is not a
    /// URL). `"*"` allows any origin.
    pub fn allow(&mut self, raw: Option<&str>, origin: Option<&str>) -> Result<(), Error> {
        if raw == Some("*") {
            self.any_origin = true;
            return Ok(());
        }
        match (raw, origin) {
            (Some(_), Some(o)) if !o.is_empty() && o != "null" => {
                self.allowed_origins.push(o.to_string());
                Ok(())
            }
            _ => Err(bad(
                "allowedOrigins",
                "must list origins such as \"https://example.com\", or \"*\"",
            )),
        }
    }

    /// Whether a request from `origin` (its `Origin` header; `None` when it
    /// has none) to a Worker whose own origin is `own` may be answered.
    pub fn origin_allowed(&self, origin: Option<&str>, own: &str) -> bool {
        match origin {
            None => true,
            Some(o) => o == own || self.any_origin || self.allowed_origins.iter().any(|a| a == o),
        }
    }

    /// Which answer a request gets before its body is read.
    pub fn route(&self, method: &str, path: &str, origin: Option<&str>, own: &str) -> Route {
        if path != self.path {
            Route::NotFound
        } else if !self.origin_allowed(origin, own) {
            Route::Forbidden
        } else if method == "OPTIONS" {
            Route::Preflight
        } else if method == "POST" {
            Route::Collect
        } else {
            Route::MethodNotAllowed
        }
    }
}

/// How the collector answers a request, before its body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// 404: not the collector's path.
    NotFound,
    /// 403: an `Origin` that is neither the Worker's own nor allowed (preflight included).
    Forbidden,
    /// 204: a CORS preflight from an allowed origin.
    Preflight,
    /// 405: another method on the path.
    MethodNotAllowed,
    /// A `POST` to read, validate and queue (then 200, 400, 413 or 503).
    Collect,
}

impl Route {
    /// The HTTP status; 0 for [`Route::Collect`], whose status depends on the body.
    pub fn status(self) -> u16 {
        match self {
            Route::NotFound => 404,
            Route::Forbidden => 403,
            Route::Preflight => 204,
            Route::MethodNotAllowed => 405,
            Route::Collect => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> OptValue {
        OptValue::Str(v.into())
    }

    #[test]
    fn defaults_and_ranges() {
        let o = Options::default();
        assert_eq!(
            (o.path.as_str(), o.queue.as_str(), o.max_body_bytes),
            ("/collect", "COOLA_EVENTS", 1_048_576)
        );
        assert_eq!(
            o.retry,
            RetryDelay {
                base_seconds: 2,
                max_seconds: 300
            }
        );
        let cases: &[(&str, OptValue)] = &[
            ("path", s("collect")),
            ("path", s("//evil.example/collect")),
            ("path", OptValue::Num(1.0)),
            ("queue", s("")),
            ("appKeyVar", OptValue::Bool(true)),
            ("maxBodyBytes", OptValue::Num(0.0)),
            ("maxBodyBytes", OptValue::Num(1.5)),
            ("retryBaseSeconds", OptValue::Num(301.0)),
            ("retryMaxSeconds", s("10")),
        ];
        for (k, v) in cases {
            let e = Options::default().set(k, v).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_deref()),
                (ErrorCode::InvalidOption, Some(*k)),
                "{k} {v:?}"
            );
        }
        let mut o = Options::default();
        o.set("path", &s("/e")).unwrap();
        o.set("retryMaxSeconds", &OptValue::Num(4.0)).unwrap();
        o.set("queue", &OptValue::Absent).unwrap();
        assert_eq!(
            (o.path.as_str(), o.retry.max_seconds, o.queue.as_str()),
            ("/e", 4, "COOLA_EVENTS")
        );
    }

    #[test]
    fn a_name_that_is_no_option_is_refused() {
        for name in OPTION_NAMES.iter().copied().chain(["allowedOrigins"]) {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
        for name in ["allowedOrigin", "maxBodyByte", "Path", "", "queue "] {
            let e = check_name(name).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (ErrorCode::InvalidOption, Some(name)));
            let mut want = String::from("\"");
            want.push_str(name);
            want.push_str("\": not an option (check its spelling)");
            assert_eq!(e.message, want);
        }
    }

    #[test]
    fn routes() {
        let mut o = Options::default();
        o.allow(Some("https://Shop.example/"), Some("https://shop.example"))
            .unwrap();
        let own = "https://site.example";
        let r = |m, p, origin| o.route(m, p, origin, own);
        assert_eq!(r("POST", "/collect", None), Route::Collect);
        assert_eq!(r("POST", "/collect", Some(own)), Route::Collect);
        assert_eq!(r("POST", "/collect", Some("https://shop.example")), Route::Collect);
        assert_eq!(r("POST", "/collect", Some("https://evil.example")), Route::Forbidden);
        assert_eq!(r("OPTIONS", "/collect", Some("https://evil.example")), Route::Forbidden);
        assert_eq!(r("POST", "/collect", Some("null")), Route::Forbidden);
        assert_eq!(r("OPTIONS", "/collect", Some("https://shop.example")), Route::Preflight);
        assert_eq!(r("GET", "/collect", None), Route::MethodNotAllowed);
        assert_eq!(r("PUT", "/collect", Some(own)), Route::MethodNotAllowed);
        assert_eq!(r("POST", "/collect/", None), Route::NotFound);
        assert_eq!(r("POST", "/", Some("https://evil.example")), Route::NotFound);
        assert_eq!(Route::Forbidden.status(), 403);
        assert_eq!(Route::Collect.status(), 0);
    }

    #[test]
    fn allowed_origins() {
        let mut o = Options::default();
        assert!(o.allow(Some("not a url"), None).is_err());
        assert!(o.allow(None, None).is_err());
        assert!(o.allow(Some("file:///x"), Some("null")).is_err());
        assert!(!o.origin_allowed(Some("https://any.example"), "https://own.example"));
        o.allow(Some("*"), None).unwrap();
        assert!(o.origin_allowed(Some("https://any.example"), "https://own.example"));
    }
}
