#!/usr/bin/env bash
# Usage: tests/with-collector.sh PORT CMD...
#
# Starts the local CoolaData collector (www/collector/collector.mjs) on
# 127.0.0.1:PORT, waits until it answers GET /stats, runs CMD with
# COLLECTOR_URL=http://127.0.0.1:PORT in its environment (tests/tracker.rs
# reads it at build time), stops the collector, and exits with CMD's status.
# The collector's log is printed when CMD fails.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 PORT CMD..." >&2
  exit 2
fi
port=$1
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
url="http://127.0.0.1:$port"
log=$(mktemp "${TMPDIR:-/tmp}/collector-$port.XXXXXX")

node "$root/www/collector/collector.mjs" --port "$port" --host 127.0.0.1 --verbose >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Ready when our collector printed its banner (so a stray server already on
# the port cannot pass for it) and answers GET /stats; give up after 10 s.
ready=0
for _ in $(seq 1 200); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "with-collector: the collector exited before it was ready:" >&2
    cat "$log" >&2
    exit 1
  fi
  if grep -q "listening on" "$log" && curl -fsS -o /dev/null --max-time 2 "$url/stats" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.05
done
if [ "$ready" != 1 ]; then
  echo "with-collector: the collector did not answer $url/stats within 10 s:" >&2
  cat "$log" >&2
  exit 1
fi

export COLLECTOR_URL="$url"
status=0
"$@" || status=$?
if [ "$status" != 0 ]; then
  echo "with-collector: '$*' exited with $status; collector log:" >&2
  tail -n 50 "$log" >&2
fi
exit "$status"
