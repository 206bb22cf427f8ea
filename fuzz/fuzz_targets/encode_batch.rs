#![no_main]
//! Fuzz target `encode_batch`: the invariants live in `src/checks/encode_batch.rs`, shared with
//! the host test `tests/fuzz_regressions.rs` that replays the corpus.

libfuzzer_sys::fuzz_target!(|data: &[u8]| coola_tracker_fuzz::checks::encode_batch::check(data));
