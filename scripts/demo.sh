#!/usr/bin/env bash
# Runs Parla's main job on the bundled samples (setting up what is missing first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
source scripts/lib.sh
source scripts/env.sh
mkdir -p out
cargo run --release --locked -q -p parla-cli -- process \
  --mic samples/noisy_speech_white_5db.wav --out out/cleaned.wav --report out/process_report.json
log "cleaned speech written to out/cleaned.wav, report to out/process_report.json"
