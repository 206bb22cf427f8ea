#![no_main]
//! Fuzz target `timestamp`: the invariants live in `src/checks/timestamp.rs`, shared with
//! the host test `tests/fuzz_regressions.rs` that replays the corpus.

libfuzzer_sys::fuzz_target!(|data: &[u8]| coola_tracker_fuzz::checks::timestamp::check(data));
