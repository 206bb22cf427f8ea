//! The pure core: everything that decides something, with no JavaScript imports.
//!
//! Each module takes plain values (time as `now_ms: i64` where it matters) and
//! returns plain values, so the whole contract is tested on the host.

pub mod batch;
pub mod claim;
#[cfg(any(test, feature = "edge"))]
pub mod collector;
pub mod config;
// Only in the edge collector's build (and host tests): present at all, even
// unused, it changes what LTO makes of the browser build.
#[cfg(any(test, feature = "edge"))]
pub mod edge;
pub mod entries;
pub mod error;
pub mod event;
pub mod form;
pub mod json;
pub mod num;
pub mod privacy;
pub mod retry;
pub mod session;
pub mod store;
pub mod timestamp;
pub mod tracker;
pub mod visitor;

pub use error::{Error, ErrorCode};
