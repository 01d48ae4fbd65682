#!/usr/bin/env bash
# The harness's process race (`parla bench chain --peers --race 5`) for two `parla` binaries,
# alternating race by race, each race started once the machine is quiet (no other process above
# 15 % of a CPU for QUIET seconds in a row, waiting at most WAIT seconds), with the busiest other
# process logged just before and after each race. On a shared machine a two-thread
# `parla process` gains only while a second core is free, so the log says whether one was.
#
#   scripts/race-alternate.sh OLD NEW [RACES] [OUT] [QUIET] [WAIT]
#
# OLD, NEW: parla binaries (build the old one first, e.g. from main). RACES: races of each (3).
# OUT: folder for the reports and log.txt (target/race-alternate). One line per race in log.txt:
# gst / parla median wall and CPU ratios of its 5 rounds, Parla's and GStreamer's wall and CPU
# per round, peak RSS (KiB).
set -euo pipefail
cd "$(dirname "$0")/.."
old="$(realpath "$1")"
new="$(realpath "$2")"
races="${3:-3}"
out="${4:-target/race-alternate}"
quiet_s="${5:-3}"
wait_s="${6:-120}"
case="chain/dt-d120-rt300-babble-10db-48k"
mkdir -p "$out"
busiest() {
  top -bn1 -d0.5 | sed -n 8,12p | grep -v -E " (top|parla|gst-launch-1.0)$" | head -1 \
    | awk '{print $9, $12}'
}
wait_quiet() {
  local quiet=0 t=0 c
  while [ "$quiet" -lt "$quiet_s" ] && [ "$t" -lt "$wait_s" ]; do
    c="$(busiest | cut -d' ' -f1 | cut -d. -f1)"
    if [ "${c:-0}" -lt 15 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    sleep 1
    t=$((t + 1))
  done
  echo "waited ${t}s"
}
for i in $(seq 1 "$races"); do
  for which in old new; do
    bin="$old"
    [ "$which" = new ] && bin="$new"
    w="$(wait_quiet)"
    echo "$(date -u +%T) $which race $i ($w) before: $(busiest)" >>"$out/log.txt"
    "$bin" bench chain --peers --race 5 --cases "$case" --out "$out/$which-$i" \
      >"$out/$which-$i.log" 2>&1
    python3 - "$out/$which-$i/report.json" "$which" "$i" >>"$out/log.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["process_race"]
p, g = r["parla"], r["gst"]
f = lambda xs, k: " ".join("%.2f" % x[k] for x in xs)
cpu = r["cpu_ratio"]
print(f"{sys.argv[2]} {sys.argv[3]}: wall_ratio {r['wall_ratio']:.3f} cpu_ratio "
      f"{cpu if cpu is None else round(cpu, 3)} | parla wall {f(p, 'wall_s')} cpu {f(p, 'cpu_s')} "
      f"rss {max(x['max_rss_kib'] or 0 for x in p)} | gst wall {f(g, 'wall_s')} "
      f"cpu {f(g, 'cpu_s')} rss {max(x['max_rss_kib'] or 0 for x in g)}")
PY
    echo "   after: $(busiest)" >>"$out/log.txt"
  done
done
cat "$out/log.txt"
