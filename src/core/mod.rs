//! The pure core: everything that decides something, with no JavaScript imports.
//!
//! Each module takes plain values (time as `now_ms: i64` where it matters) and
//! returns plain values, so the whole contract is tested on the host.
//!
//! A function that has one caller in the browser build (most of the
//! tracker's methods, each called by one place in the shell) carries
//! `#[inline(always)]`: wasm-opt inlines only the tiniest one-caller
//! functions (`--one-caller-inline-max-function-size=20`, see the Makefile),
//! and each one kept costs a function of its own, its call and its frame.
//! Measured as a whole: 454 B gzip less by `make size` (two rounds: each
//! inlined function can leave its own callees with one caller). Of those
//! with two callers, only the ones measured one by one to pay have it
//! (`caller_str`, `own_id`, `queue_scratch`, `store::key_count`,
//! `store::last_prop`, `store::after`, `entries::thrown`); most cost more (`launch`,
//! `push_shared`, `check_shared`, `set_properties`: 50 to 280 B).

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
