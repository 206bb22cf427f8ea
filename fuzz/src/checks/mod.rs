//! The invariants of every fuzz target, as functions of the raw input bytes.
//!
//! Each `check` panics when an invariant breaks and returns normally
//! otherwise. The fuzz targets in `fuzz/fuzz_targets/` call them, and so does
//! `tests/fuzz_regressions.rs`, which includes this folder with `#[path]`:
//! keep it free of any dependency the main crate's tests do not have
//! (`coola_tracker`, `serde_json` and `std` only).

pub mod encode_batch;
pub mod entries;
pub mod event;
pub mod input;
pub mod timestamp;
pub mod tracker;
pub mod wire;

/// Bugs the fuzzers found that are not fixed yet, by name. While a bug is
/// listed, the inputs that trigger it are not generated, so that fuzzing
/// goes on finding other problems; its crashing inputs stay in
/// `fuzz/regressions/` and reproduce in strict mode
/// (`cargo test --test fuzz_regressions -- --ignored`, or `COOLA_FUZZ_STRICT=1`
/// for the fuzz targets). Remove a name once its bug is fixed.
pub const KNOWN_OPEN: &[&str] = &[];

thread_local! {
    static STRICT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes this thread generate the triggers of [`KNOWN_OPEN`] bugs too.
pub fn set_strict(on: bool) {
    STRICT.with(|s| s.set(on));
}

/// Whether inputs may trigger the open bug `name`: yes once it is fixed (no
/// longer listed), in strict mode, or with `COOLA_FUZZ_STRICT` set to `1`
/// (every open bug) or to a comma-separated list of names.
pub fn allowed(name: &str) -> bool {
    static ENV: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let env = ENV.get_or_init(|| std::env::var("COOLA_FUZZ_STRICT").unwrap_or_default());
    !KNOWN_OPEN.contains(&name) || STRICT.with(|s| s.get()) || env == "1" || env.split(',').any(|n| n == name)
}

/// Whether `COOLA_FUZZ_TRACE=1` asks the checks to print what they do (to
/// read a crashing input: `COOLA_FUZZ_TRACE=1 cargo fuzz run <target> <file>`).
pub fn tracing() -> bool {
    static ENV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENV.get_or_init(|| std::env::var_os("COOLA_FUZZ_TRACE").is_some_and(|v| v == "1"))
}

/// `{:?}` of `v`, cut to a readable length for panic messages.
pub fn short(v: &impl std::fmt::Debug) -> String {
    let s = format!("{v:?}");
    match s.char_indices().nth(400) {
        Some((i, _)) => format!("{}… ({} chars)", &s[..i], s.chars().count()),
        None => s,
    }
}

/// Every fuzz target, by name: its corpus is `fuzz/corpus/<name>/` and its
/// crashing inputs `fuzz/regressions/<name>/`.
pub const TARGETS: [&str; 5] = ["timestamp", "event", "entries", "encode_batch", "tracker"];

/// Runs the checks of the target called `name` on `data`.
///
/// Returns `false` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "timestamp" => timestamp::check(data),
        "event" => event::check(data),
        "entries" => entries::check(data),
        "encode_batch" => encode_batch::check(data),
        "tracker" => tracker::check(data),
        _ => return false,
    }
    true
}
