#![no_main]
//! Fuzz target `event`: the invariants live in `src/checks/event.rs`, shared with
//! the host test `tests/fuzz_regressions.rs` that replays the corpus.

libfuzzer_sys::fuzz_target!(|data: &[u8]| coola_tracker_fuzz::checks::event::check(data));
