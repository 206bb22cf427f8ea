//! coola-tracker: send analytics events to CoolaData's REST API.
//!
//! The crate is split in two:
//!
//! - [`core`]: the pure Rust engine. It validates events against CoolaData's
//!   contract, parses every documented timestamp format, writes JSON and
//!   form-encoded request bodies, splits batches, and runs the sans-IO queue
//!   with its retry policy. It imports nothing from JavaScript, takes time as
//!   an argument, and is tested on the host with `cargo test`.
//! - `js` (only on `wasm32`): the thin wasm-bindgen shell that converts
//!   JavaScript values, calls `fetch`, timers and storage, and turns core
//!   errors into JavaScript `Error` objects.
//!
//! ```
//! use coola_tracker::core::{event, timestamp};
//!
//! let ts = timestamp::parse_str("Mon, 05 Jan 2015 10:00:00 GMT").unwrap();
//! assert_eq!(ts, 1_420_452_000_000);
//!
//! let props = [
//!     ("event_name", event::RawValue::Str("signup")),
//!     ("user_id", event::RawValue::Str("u1")),
//!     ("event_timestamp_epoch", event::RawValue::Num(1_420_452_000_000.0)),
//!     ("paid", event::RawValue::Bool(true)),
//! ];
//! let json = event::validate(props.iter().cloned(), &event::ValidateOptions::default()).unwrap();
//! assert_eq!(
//!     json,
//!     r#"{"event_name":"signup","user_id":"u1","event_timestamp_epoch":1420452000000,"paid":"true"}"#
//! );
//! ```
#![deny(missing_docs)]
#![cfg_attr(all(target_arch = "wasm32", not(test)), no_std)]
// No panics reachable from input: a panic in wasm kills the instance and the queue.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)
)]

extern crate alloc;

/// What `std`'s prelude would give, for a `no_std` crate.
#[allow(unused_imports)]
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

#[cfg(all(target_arch = "wasm32", feature = "slim"))]
mod slim;

pub mod core;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod js;
