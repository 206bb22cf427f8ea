//! Typed errors with a stable machine code, the field they concern and a
//! message a person can act on.
//!
//! Messages are built by concatenation rather than `format!`, which keeps
//! `core::fmt` out of the shipped wasm.

#[allow(unused_imports)]
use crate::prelude::*;
use alloc::boxed::Box;
/// The stable codes of every error the library reports. The JavaScript
/// `Error` objects carry [`ErrorCode::as_str`] as their `code` property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// A mandatory field (`event_name`, `user_id`, `event_timestamp_epoch`) is absent or empty.
    MissingField,
    /// A timestamp that is not one of the supported formats, or not a real date.
    InvalidTimestamp,
    /// A timestamp outside CoolaData's window (30 days past, 1 hour future).
    TimestampOutOfWindow,
    /// A property whose value is an object or an array.
    NestedProperty,
    /// A value that is not a string, finite number, boolean, null or undefined.
    InvalidValue,
    /// A property name that CoolaData reserves.
    ReservedProperty,
    /// An empty property name, or one that is not a plain string key.
    InvalidPropertyName,
    /// One event over 100 KB of UTF-8 JSON.
    EventTooLarge,
    /// More than 300 events in one batch.
    BatchTooLarge,
    /// A bad tracker option.
    InvalidOption,
    /// `track` after `shutdown`.
    TrackerClosed,
    /// Events dropped because the queue reached its maximum size.
    QueueFull,
    /// A batch that was given up on.
    RequestFailed,
    /// Events dropped because they fell out of CoolaData's window while queued.
    EventExpired,
    /// Stored queue data that could not be read or written.
    StorageError,
    /// `beforeSend` threw: nothing was queued (the error's `cause` is what it threw).
    BeforeSendFailed,
}

/// Every code's text, one after the other in the order of [`ErrorCode`]...
const CODES: &str = "missing_fieldinvalid_timestamptimestamp_out_of_windownested_property\
invalid_valuereserved_propertyinvalid_property_nameevent_too_large\
batch_too_largeinvalid_optiontracker_closedqueue_fullrequest_failed\
event_expiredstorage_errorbefore_send_failed";
/// ...and where each starts in it (the last entry: where the last ends).
/// Two small tables, where a `match` would compile to tables of pointers
/// and lengths.
const CODE_AT: [u8; 17] = [
    0, 13, 30, 53, 68, 81, 98, 119, 134, 149, 163, 177, 187, 201, 214, 227, 245,
];

impl ErrorCode {
    /// The code as JavaScript sees it, e.g. `"missing_field"`.
    pub fn as_str(self) -> &'static str {
        let i = self as usize;
        let at = |i: usize| usize::from(CODE_AT.get(i).copied().unwrap_or(0));
        let (start, end) = (at(i), at(i + 1));
        debug_assert!(start <= end && CODES.is_char_boundary(start) && CODES.is_char_boundary(end));
        // SAFETY: CODE_AT holds increasing offsets into the ASCII text CODES,
        // the last its length (`every_code_has_its_text_and_kind` checks them).
        unsafe { CODES.get_unchecked(start..end) }
    }

    /// Whether the JavaScript error should be a `RangeError` (a value of the
    /// right type but out of range) rather than a `TypeError` or plain `Error`.
    pub fn js_kind(self) -> ErrorKind {
        // One bit per code, by its place in [`ErrorCode`]: no table.
        const RANGE: u32 = bit(ErrorCode::TimestampOutOfWindow)
            | bit(ErrorCode::InvalidTimestamp)
            | bit(ErrorCode::EventTooLarge)
            | bit(ErrorCode::BatchTooLarge);
        const TYPE: u32 = bit(ErrorCode::MissingField)
            | bit(ErrorCode::NestedProperty)
            | bit(ErrorCode::InvalidValue)
            | bit(ErrorCode::InvalidPropertyName);
        let me = bit(self);
        if RANGE & me != 0 {
            ErrorKind::Range
        } else if TYPE & me != 0 {
            ErrorKind::Type
        } else {
            ErrorKind::Plain
        }
    }
}

/// The bit of a code in [`ErrorCode::js_kind`]'s masks.
const fn bit(code: ErrorCode) -> u32 {
    1 << code as u32
}

/// Which JavaScript constructor an error maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `Error`.
    Plain,
    /// `TypeError`.
    Type,
    /// `RangeError`.
    Range,
}

/// An error of the library: a code, the property or option it concerns, and
/// a message for a person. Its parts ([`ErrorInfo`]) are read and written
/// through it (`e.code`, `e.message`...).
///
/// Boxed: an `Error` is one pointer, so a `Result<(), Error>` or an
/// `Option<Error>` comes back from a call in a register, and every `?` moves
/// a pointer instead of copying five fields through memory. Only a failure
/// allocates the box.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<ErrorInfo>);

/// What an [`Error`] holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The stable machine code.
    pub code: ErrorCode,
    /// The property or option concerned, where there is one.
    pub field: Option<String>,
    /// What went wrong and what to do about it.
    pub message: String,
    /// For `request_failed`: the HTTP status (0 for a network error).
    pub status: Option<u16>,
    /// For `queue_full` / `event_expired` / `request_failed`: how many events.
    pub count: Option<u32>,
}

impl core::ops::Deref for Error {
    type Target = ErrorInfo;
    fn deref(&self) -> &ErrorInfo {
        &self.0
    }
}

impl core::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorInfo {
        &mut self.0
    }
}

impl core::fmt::Debug for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

impl Error {
    /// An error with a code and a message, concerning no particular field.
    #[inline]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::of(code, message.into())
    }

    /// [`Error::new`] once the message is a `String`: one copy of the
    /// boxing for every caller, whatever its message's type.
    fn of(code: ErrorCode, message: String) -> Self {
        Error(Box::new(ErrorInfo {
            code,
            field: None,
            message,
            status: None,
            count: None,
        }))
    }

    /// An error about one property or option. The message is prefixed with
    /// the field's name, quoted, so a person sees which one.
    pub fn field(code: ErrorCode, field: &str, message: &str) -> Self {
        let mut m = String::from("\"");
        push_truncated(&mut m, field, 64);
        m.push_str("\": ");
        m.push_str(message);
        let mut e = Error::of(code, m);
        e.field = Some(field.to_string());
        e
    }

    /// The same error with a status attached.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The same error with an event count attached.
    pub fn with_count(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }
}

/// What ends a cut text, appended as text (`String::push` of a char
/// outside ASCII brings the UTF-8 encoder).
const ELLIPSIS: &str = "…";

/// Appends at most `max` characters of `s` to `out`, with an ellipsis when cut,
/// so that a 10 MB value never ends up in an error message.
pub fn push_truncated(out: &mut String, s: &str, max: usize) {
    // Bytes, not chars: a character starts at every byte that is not a
    // UTF-8 continuation byte (10xxxxxx); the cut is where character max + 1 starts.
    let (mut chars, mut i) = (0, 0);
    while let Some(&b) = s.as_bytes().get(i) {
        i += 1;
        if (b as i8) >= -0x40 {
            chars += 1;
            if chars > max {
                debug_assert!(s.is_char_boundary(i - 1));
                // SAFETY: `i - 1` is where a character starts: a char boundary.
                out.push_str(unsafe { s.get_unchecked(..i - 1) });
                out.push_str(ELLIPSIS);
                return;
            }
        }
    }
    out.push_str(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_name_the_field() {
        let e = Error::field(ErrorCode::NestedProperty, "cart", "objects are not allowed");
        assert_eq!(e.field.as_deref(), Some("cart"));
        assert_eq!(e.message, "\"cart\": objects are not allowed");
        assert_eq!(e.code.as_str(), "nested_property");
    }

    #[test]
    fn every_code_has_its_text_and_kind() {
        use ErrorCode::*;
        let all = [
            (MissingField, "missing_field", ErrorKind::Type),
            (InvalidTimestamp, "invalid_timestamp", ErrorKind::Range),
            (TimestampOutOfWindow, "timestamp_out_of_window", ErrorKind::Range),
            (NestedProperty, "nested_property", ErrorKind::Type),
            (InvalidValue, "invalid_value", ErrorKind::Type),
            (ReservedProperty, "reserved_property", ErrorKind::Plain),
            (InvalidPropertyName, "invalid_property_name", ErrorKind::Type),
            (EventTooLarge, "event_too_large", ErrorKind::Range),
            (BatchTooLarge, "batch_too_large", ErrorKind::Range),
            (InvalidOption, "invalid_option", ErrorKind::Plain),
            (TrackerClosed, "tracker_closed", ErrorKind::Plain),
            (QueueFull, "queue_full", ErrorKind::Plain),
            (RequestFailed, "request_failed", ErrorKind::Plain),
            (EventExpired, "event_expired", ErrorKind::Plain),
            (StorageError, "storage_error", ErrorKind::Plain),
            (BeforeSendFailed, "before_send_failed", ErrorKind::Plain),
        ];
        for (code, text, kind) in all {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.js_kind(), kind, "{text}");
        }
        // Every code is in the list once: the last one ends the text.
        assert_eq!(all.len(), BeforeSendFailed as usize + 1);
        assert_eq!(usize::from(CODE_AT[16]), CODES.len());
        // as_str slices CODES unchecked: offsets increase, the text is ASCII.
        assert!(CODE_AT.windows(2).all(|w| w[0] < w[1]) && CODES.is_ascii());
    }

    #[test]
    fn truncation_counts_characters() {
        for (s, max, want) in [
            ("abc", 3, "abc"),
            ("abcd", 3, "abc…"),
            ("éé😀x", 3, "éé😀…"),
            ("éé😀", 3, "éé😀"),
            ("", 0, ""),
            ("a", 0, "…"),
        ] {
            let mut out = String::new();
            push_truncated(&mut out, s, max);
            assert_eq!(out, want, "{s} {max}");
        }
    }

    #[test]
    fn long_names_are_cut_in_messages() {
        let long = "x".repeat(1000);
        let e = Error::field(ErrorCode::InvalidValue, &long, "bad");
        assert!(e.message.chars().count() < 80);
        assert_eq!(e.field.as_deref(), Some(long.as_str()));
    }
}
