//! `visitorProperties`: which properties describe the visitor of an
//! incoming request at the edge (api.md's "Edge collection").

/// `session_ip` when the request has no `CF-Connecting-IP`: CoolaData would
/// otherwise put the Worker's own IP in its place.
pub const NO_IP: &str = "0";

/// `(session_ip, session_dua)` from the request's `CF-Connecting-IP` and
/// `User-Agent` (`""` when absent or unreadable): the IP, or [`NO_IP`]; the
/// User-Agent, or `None` (the property is left out).
pub fn properties<'a>(ip: &'a str, user_agent: &'a str) -> (&'a str, Option<&'a str>) {
    let ip = if ip.is_empty() { NO_IP } else { ip };
    (ip, Some(user_agent).filter(|ua| !ua.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ip_is_the_header_or_zero_and_an_empty_user_agent_is_left_out() {
        assert_eq!(properties("198.51.100.4", "UA/1"), ("198.51.100.4", Some("UA/1")));
        assert_eq!(properties("", "UA/1"), ("0", Some("UA/1")));
        assert_eq!(properties("2001:db8::1", ""), ("2001:db8::1", None));
        assert_eq!(properties("", ""), ("0", None));
        // Values are kept as the headers give them, not checked or trimmed.
        assert_eq!(properties(" x ", " "), (" x ", Some(" ")));
    }
}
