#!/usr/bin/env bash
# Instruction counts of `parla process --far` (the harness's process race, issue 18) under
# callgrind: repeatable on a loaded machine, unlike times. Writes the race's input files (the
# chain case the race uses, SECONDS long), runs `parla process` on them under
# `valgrind --tool=callgrind`, and prints the total and the share of each component
# (scripts/callgrind-groups.py); `callgrind_annotate OUT/callgrind.out` has every function.
#
#   scripts/callgrind-process.sh [PARLA] [SECONDS] [OUT]   (defaults: target/release/parla, 20,
#                                                           target/callgrind-process)
#
# The input files come from the race itself (`parla bench chain --peers --race 1`), which
# deletes them when it ends: they are copied while its runs go on. Needs valgrind, GStreamer's
# webrtcdsp (the race runs it) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
parla="$(realpath "${1:-target/release/parla}")"
seconds="${2:-20}"
out="${3:-target/callgrind-process}"
case="chain/dt-d120-rt300-babble-10db-48k"
mkdir -p "$out"
out="$(realpath "$out")"
rm -rf "$out/bench" "$out"/race-*.wav
(
  while [ ! -s "$out/race-far.wav" ]; do
    f="$out/bench/.peers/race-far.wav"
    # Written once, before the first timed run: copy when its size stops changing.
    if [ -e "$f" ] && [ "$(stat -c %s "$f")" -ge $((seconds * 192000)) ]; then
      sleep 0.5
      cp "$out/bench/.peers/race-mic.wav" "$out/bench/.peers/race-far.wav" "$out/"
    fi
    sleep 0.2
  done
) &
copier=$!
"$parla" bench chain --peers --race 1 --race-seconds "$seconds" --cases "$case" \
  --out "$out/bench" >"$out/bench.log" 2>&1
wait "$copier"
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
  "$parla" process --mic "$out/race-mic.wav" --far "$out/race-far.wav" --out "$out/processed.wav" \
  >/dev/null 2>"$out/valgrind.log"
grep "refs:" "$out/valgrind.log" | tail -1
python3 scripts/callgrind-groups.py "$out/callgrind.out"
