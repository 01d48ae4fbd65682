#!/usr/bin/env bash
# Sets up what is missing, then runs the whole test suite exactly as CI does:
# formatting, clippy (warnings are errors), docs, all tests, and that the benches compile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
source scripts/lib.sh
source scripts/env.sh
log "cargo fmt --check"
cargo fmt --all --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo doc"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked -q
log "cargo test"
cargo test --workspace --locked
log "cargo test --release: parser fuzzing (overflow checks off, as shipped)"
cargo test --release --locked -p parla-rtp --test fuzz-parsers
log "cargo bench --no-run"
cargo bench --workspace --locked --no-run
log "all checks passed"
