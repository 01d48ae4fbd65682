#!/usr/bin/env bash
# Sample one criterion bench with Linux perf and print the hottest functions (self time) and the
# share of each library (DSO), for docs/PERFORMANCE.md.
#
#   scripts/profile.sh BENCH_FILTER [SECONDS]      e.g. scripts/profile.sh tick/default 10
#
# Builds benches/benches/call_tick.rs (release, line tables), runs the benches matching
# BENCH_FILTER for SECONDS under `perf record` (software cpu-clock event, so it works in VMs
# without hardware counters; user space only) and reports from the recording in
# $CARGO_TARGET_DIR/profile/<filter>.perf.data. Needs `perf` (scripts/setup.d/80-profile.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
filter="${1:?usage: scripts/profile.sh BENCH_FILTER [SECONDS]}"
secs="${2:-10}"
# shellcheck source=scripts/env.sh
source scripts/env.sh
command -v perf >/dev/null || { echo "perf is missing: run scripts/setup.sh" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$PWD/target}"
bin=$(cargo bench -p parla-benches --bench call_tick --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "call_tick" and m.get("executable"):
        print(m["executable"])')
[ -x "$bin" ] || { echo "bench build failed" >&2; exit 1; }
mkdir -p "$target/profile"
data="$target/profile/$(echo "$filter" | tr '/' '_').perf.data"
perf record -q -e cpu-clock:u -F 2000 -g -o "$data" -- \
  "$bin" --bench --profile-time "$secs" "$filter" >/dev/null 2>&1
echo "== by library (DSO), self samples"
perf report -i "$data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^\s+[0-9.]+%' | head -12
echo "== hottest functions, self samples"
perf report -i "$data" --no-children --sort sym --stdio -g none 2>/dev/null |
  grep -E '^\s+[0-9.]+%' | head -40
