# Base toolchain: a C compiler and pkg-config for -sys crates, rustfmt and clippy for CI.
apt_install build-essential pkg-config ca-certificates
# GNU time: `/usr/bin/time -v` measures peak memory (maximum resident set size), as the README
# does for `parla process`.
apt_install time
if ! command -v cargo >/dev/null; then
  log "cargo is missing: install Rust (rustup) first"; exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
