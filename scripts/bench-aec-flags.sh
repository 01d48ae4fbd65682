#!/usr/bin/env bash
# Per-frame cost of the bundled AEC3 C++ library built with the default flags (meson's
# debugoptimized: -O2 -g, libstdc++ assertions on) against the chosen flags of
# scripts/env.d/30-aec3.sh (-O3 -DNDEBUG -U_GLIBCXX_ASSERTIONS -g0), measured in one run.
#
#   scripts/bench-aec-flags.sh [ROUNDS]        (default 6)
#
# The default-flags build goes to $PARLA_AEC_DEFAULT_TARGET (default target/aec-default-flags;
# the first run builds the C++ library once more, about 15 minutes on 2 cores). Rounds
# alternate the two bench binaries so both see the same machine load; the table gives the
# median over rounds of each criterion median and the median of the per-round ratio
# default / chosen (> 1: the chosen flags are faster). Only the ratio means anything on a
# loaded machine.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-6}"
# shellcheck source=scripts/env.sh
source scripts/env.sh
default_target="${PARLA_AEC_DEFAULT_TARGET:-$PWD/target/aec-default-flags}"
filter='webrtc/(aec3|mobile)'

bench_binary() { # TARGET_DIR [env -u ...]: builds the aec bench and prints its executable
  local dir="$1"
  shift
  "$@" env CARGO_TARGET_DIR="$dir" cargo bench -p parla-dsp --bench aec --no-run --locked \
    --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "aec" and m.get("executable"):
        print(m["executable"])'
}

chosen=$(bench_binary "${CARGO_TARGET_DIR:-$PWD/target}")
default=$(bench_binary "$default_target" env -u CXXFLAGS -u CFLAGS)
[ -x "$chosen" ] && [ -x "$default" ] || { echo "bench build failed" >&2; exit 1; }

log=$(mktemp)
for r in $(seq "$rounds"); do
  for which in default chosen; do
    bin=$chosen
    [ "$which" = default ] && bin=$default
    echo "=== $which $(cut -d' ' -f1 /proc/loadavg)" >>"$log"
    "$bin" --bench --warm-up-time 1 --measurement-time 3 "$filter" 2>/dev/null |
      grep -E '^aec|time:' | grep -v '%' >>"$log"
  done
  echo "round $r/$rounds done" >&2
done

python3 - "$log" <<'EOF'
import re, statistics as st, sys
res, which, name = {}, None, None
unit = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}
for line in open(sys.argv[1]):
    if m := re.match(r"=== (\w+)", line):
        which = m[1]
    elif m := re.match(r"^(aec\S+)", line):
        name = m[1]
    elif m := re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+)", line):
        res.setdefault(name, {"default": [], "chosen": []})[which].append(float(m[1]) * unit[m[2]])
print("| bench (render + capture, 10 ms) | default flags us | chosen flags us | default / chosen |")
print("|---|---:|---:|---:|")
for name, r in res.items():
    ratios = [d / c for d, c in zip(r["default"], r["chosen"])]
    print(f"| {name} | {st.median(r['default']):.1f} | {st.median(r['chosen']):.1f} | "
          f"{st.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f}) |")
EOF
rm -f "$log"
