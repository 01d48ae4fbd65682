#!/usr/bin/env bash
# The call-tick benches (benches/benches/call_tick.rs: whole tick, default and mobile config, and
# each stage) built from an older revision and from this tree, run alternately in one run, with
# the ratio new / old per bench (< 1: this tree is faster).
#
#   scripts/bench-compare.sh [REV] [ROUNDS] [FILTER]     (defaults: main, 3, every bench)
#
# REV is checked out as a git worktree in $PARLA_COMPARE_DIR (default target/compare-<rev>) and
# built with its own target dir there ($PARLA_COMPARE_DIR/target): the first build of an old
# revision builds the native libraries once more (AEC3's C++ takes a while on 2 cores). This
# tree's benches/ folder is copied over the old revision's, so both run the same bench code on
# their own library code. Rounds alternate old and new so both see the same machine load; the table
# gives the median over rounds of each criterion median and the median of the per-round ratio.
# Only the ratio means anything on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${1:-main}"
rounds="${2:-3}"
filter="${3:-}"
# shellcheck source=scripts/env.sh
source scripts/env.sh
here="$PWD"
sha=$(git rev-parse --short "$rev")
old="${PARLA_COMPARE_DIR:-$here/target/compare-$sha}"

if [ ! -e "$old/.git" ]; then
  git worktree add --detach "$old" "$rev" >/dev/null
fi
git -C "$old" checkout -q --detach "$sha"
# The same bench code on both sides.
rm -rf "$old/benches"
cp -r "$here/benches" "$old/benches"

bench_binary() { # DIR TARGET_DIR: builds the call_tick bench there and prints its executable
  (cd "$1" && CARGO_TARGET_DIR="$2" cargo bench -p parla-benches --bench call_tick --no-run \
    --message-format=json 2>/dev/null) |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "call_tick" and m.get("executable"):
        print(m["executable"])'
}

echo "building $rev ($sha) in $old ..." >&2
old_bin=$(bench_binary "$old" "$old/target")
echo "building this tree ..." >&2
new_bin=$(bench_binary "$here" "${CARGO_TARGET_DIR:-$here/target}")
[ -x "$old_bin" ] && [ -x "$new_bin" ] || { echo "bench build failed" >&2; exit 1; }

log=$(mktemp)
for r in $(seq "$rounds"); do
  for which in old new; do
    bin=$new_bin
    [ "$which" = old ] && bin=$old_bin
    echo "=== $which $(cut -d' ' -f1 /proc/loadavg)" >>"$log"
    # Run from the tree's root: the benches read samples/ relative to the workspace.
    (cd "$here" && "$bin" --bench --warm-up-time 1 --measurement-time 3 ${filter:+"$filter"} \
      2>/dev/null) | grep -E '^(tick|stage)/|time:' | grep -v '%' >>"$log"
  done
  echo "round $r/$rounds done" >&2
done

python3 - "$log" "$rev ($sha)" <<'EOF'
import re, statistics as st, sys
res, which, name = {}, None, None
unit = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}
for line in open(sys.argv[1]):
    if m := re.match(r"=== (\w+)", line):
        which = m[1]
        continue
    if m := re.match(r"^((?:tick|stage)/\S+)", line):
        name = m[1]
    if m := re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+)", line):
        res.setdefault(name, {"old": [], "new": []})[which].append(float(m[1]) * unit[m[2]])
print(f"| bench | {sys.argv[2]} us | this tree us | new / old |")
print("|---|---:|---:|---:|")
for name, r in res.items():
    ratios = [n / o for o, n in zip(r["old"], r["new"])]
    if not ratios:
        continue
    print(f"| {name} | {st.median(r['old']):.1f} | {st.median(r['new']):.1f} | "
          f"{st.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f}) |")
EOF
rm -f "$log"
