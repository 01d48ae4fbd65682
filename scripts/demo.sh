#!/usr/bin/env bash
# Runs Parla's main job on the bundled samples (setting up what is missing first): `parla call`,
# two end-to-end encrypted endpoints in one process over a simulated mobile network, talking
# with the bundled speech, each side's speaker echoing into its own microphone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
source scripts/lib.sh
source scripts/env.sh
mkdir -p out
cargo run --release --locked -q -p parla-cli -- call --out out/call
log "call written to out/call: heard_a.wav, heard_b.wav, report.json, report.txt"
