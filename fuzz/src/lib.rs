//! Invariant checks for the coola-tracker fuzz targets.
//!
//! The checks are plain functions of the input bytes, panicking on a broken
//! invariant. They depend only on `coola_tracker`, `serde_json` and `std`, so
//! that `tests/fuzz_regressions.rs` in the main crate compiles the very same
//! files (through `#[path]`) and replays the corpus on the host without libFuzzer.

pub mod checks;
