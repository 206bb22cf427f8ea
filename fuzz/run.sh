#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS seconds (default 60) and prints,
# per target, the executions, the coverage, the new corpus entries and the
# crashes. Exits non-zero if any target crashed. `make fuzz` calls this.
#
#   FUZZ_SECONDS=300 bash fuzz/run.sh             every target, 5 minutes each
#   FUZZ_TARGETS="tracker" bash fuzz/run.sh       one target
#   FUZZ_CMIN=0 bash fuzz/run.sh                  keep the corpus unminimised
#   COOLA_FUZZ_STRICT=1 bash fuzz/run.sh          also generate the inputs of
#                                                 open bugs (KNOWN_OPEN)
#
# Corpus: fuzz/corpus/<target>/ (grown by the run, then minimised with
# `cargo fuzz cmin`). Crashing inputs: fuzz/regressions/<target>/, which
# tests/fuzz_regressions.rs replays under `cargo test`.
#
# Only the stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets it take the
# nightly flags cargo-fuzz passes. The core is safe Rust, so the targets are
# built without a sanitizer (twice as fast) but with debug assertions and
# overflow checks: panics, overflows, hangs (-timeout) and memory blow-ups
# (-rss_limit_mb) are what crash a target.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
export RUSTC_BOOTSTRAP=1

seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"timestamp event entries encode_batch tracker"}
cmin=${FUZZ_CMIN:-1}
flags=(-s none -a)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

max_len() {
  case $1 in
    timestamp) echo 128 ;;
    entries) echo 1024 ;;
    event | encode_batch) echo 2048 ;;
    *) echo 4096 ;;
  esac
}

cargo fuzz build "${flags[@]}"

logs=$root/fuzz/target/logs
mkdir -p "$logs"
summary=()
failed=0
for t in $targets; do
  corpus=$root/fuzz/corpus/$t
  crashes=$root/fuzz/regressions/$t
  mkdir -p "$corpus" "$crashes"
  n_corpus=$(find "$corpus" -type f | wc -l)
  n_crash=$(find "$crashes" -type f | wc -l)
  dict=()
  [ -f "$root/fuzz/dicts/$t.dict" ] && dict=("-dict=$root/fuzz/dicts/$t.dict")
  log=$logs/$t.log
  echo "== $t: ${seconds}s (log: $log)"
  rc=0
  cargo fuzz run "${flags[@]}" "$t" "$corpus" -- \
    -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" >"$log" 2>&1 || rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  [ -n "$runs" ] || runs=$(grep -oE '^Done [0-9]+ runs' "$log" | tail -1 | awk '{print $2}' || true)
  [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}' || true)
  new_units=$(($(find "$corpus" -type f | wc -l) - n_corpus))
  new_crashes=$(($(find "$crashes" -type f | wc -l) - n_crash))
  line=$(printf '%-13s executions %-10s cov %-6s new corpus entries %-5s crashes %s' \
    "$t" "${runs:-?}" "${cov:-?}" "$new_units" "$new_crashes")
  echo "$line"
  summary+=("$line")
  if [ "$rc" -ne 0 ] || [ "$new_crashes" -gt 0 ]; then
    failed=1
    echo "!! $t crashed (exit $rc); the input is in fuzz/regressions/$t/. End of its log:"
    grep -E -A12 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -40 || tail -30 "$log"
  elif [ "$cmin" = 1 ] && [ "$new_units" -gt 0 ]; then
    cargo fuzz cmin "${flags[@]}" "$t" "$corpus" -- -max_len="$(max_len "$t")" >"$logs/$t.cmin.log" 2>&1 ||
      echo "(cmin of $t failed: see $logs/$t.cmin.log)"
  fi
done

echo
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
bytes=$(find "$root/fuzz/corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "  corpus: $bytes bytes in $(find "$root/fuzz/corpus" -type f | wc -l) files"
if [ "$bytes" -gt 2000000 ]; then
  echo "  (the corpus is over 2 MB: it is committed, consider trimming it)"
fi
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED (a target crashed)"
  exit 1
fi
echo "fuzz: no crash"
