#![no_main]
//! Fuzz target `entries`: the invariants live in `src/checks/entries.rs`, shared with
//! the host test `tests/fuzz_regressions.rs` that replays the corpus.

libfuzzer_sys::fuzz_target!(|data: &[u8]| coola_tracker_fuzz::checks::entries::check(data));
