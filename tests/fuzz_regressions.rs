#![cfg(not(target_arch = "wasm32"))]
//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) and the saved crashing
//! inputs (`fuzz/regressions/<target>/`) through the same invariant checks
//! the fuzz targets run, on the host, without libFuzzer. The checks live in
//! `fuzz/src/checks/` and are compiled here as a module.
//!
//! Large corpora are sampled (every k-th file, the same ones each run) so
//! this stays fast; the regressions are always replayed in full.

#[allow(dead_code)]
#[path = "../fuzz/src/checks/mod.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// At most this many corpus files per target are replayed.
const CORPUS_SAMPLE: usize = 150;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.retain(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
    v.sort();
    v
}

fn sample(mut v: Vec<PathBuf>, max: usize) -> Vec<PathBuf> {
    if v.len() > max {
        let step = v.len().div_ceil(max);
        v = v.into_iter().step_by(step).collect();
    }
    v
}

/// Replays `paths` through target `name`; returns the files whose checks failed.
fn replay(name: &str, paths: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for p in paths {
        let data = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let r = std::panic::catch_unwind(|| assert!(checks::run(name, &data), "unknown target {name}"));
        if r.is_err() {
            failed.push(p.display().to_string());
        }
    }
    failed
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

#[test]
fn corpus_replays_clean() {
    let mut failed = Vec::new();
    for name in checks::TARGETS {
        let all = files(&root().join("corpus").join(name));
        assert!(!all.is_empty(), "fuzz/corpus/{name}/ is empty: nothing to replay");
        failed.extend(replay(name, &sample(all, CORPUS_SAMPLE)));
    }
    assert!(
        failed.is_empty(),
        "invariants broken by corpus inputs:\n{}",
        failed.join("\n")
    );
}

#[test]
fn regressions_replay_clean() {
    let mut failed = Vec::new();
    for name in checks::TARGETS {
        failed.extend(replay(name, &files(&root().join("regressions").join(name))));
    }
    assert!(
        failed.is_empty(),
        "saved crashing inputs fail again:\n{}",
        failed.join("\n")
    );
}

#[test]
fn checks_catch_a_broken_invariant() {
    // The checks are not vacuous: a model that disagrees panics.
    assert!(std::panic::catch_unwind(|| checks::timestamp::round_trips(1_420_452_000_000)).is_ok());
    let s = checks::wire::iso_utc(1_420_452_000_123);
    assert_eq!(s, "2015-01-05T10:00:00.123Z");
    assert!(checks::wire::percent_decode("a b", true).is_err());
    assert!(!checks::run("no_such_target", b""));
}

/// Every crashing input the fuzzers ever saved, replayed with every trigger
/// enabled (strict mode), so a fixed bug stays fixed. A newly found bug may
/// be listed in `KNOWN_OPEN` (`fuzz/src/checks/mod.rs`) while it is open;
/// this test then fails until it is fixed.
#[test]
fn open_bugs_are_fixed() {
    checks::set_strict(true);
    let mut failed = Vec::new();
    for name in checks::TARGETS {
        failed.extend(replay(name, &files(&root().join("regressions").join(name))));
    }
    checks::set_strict(false);
    assert!(
        failed.is_empty(),
        "still failing in strict mode:\n{}",
        failed.join("\n")
    );
}
