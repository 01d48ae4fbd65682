#!/usr/bin/env bash
# Installs what Parla needs on a Debian 12 machine, idempotently: each step checks first and
# skips what is already there. Steps live in scripts/setup.d/NN-name.sh and run in order.
# Usage: scripts/setup.sh            (as root, or with sudo available)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
for step in "$here"/setup.d/*.sh; do
  log "setup: $(basename "$step")"
  # shellcheck disable=SC1090
  source "$step"
done
log "setup: done"
