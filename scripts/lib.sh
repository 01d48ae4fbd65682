# Shared helpers for the scripts/ folder (sourced, not run).
log() { printf '[parla] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

# apt_install PKG...: installs the Debian packages that are not installed yet (one apt-get update
# per script run, and only when something is missing).
PARLA_APT_UPDATED=${PARLA_APT_UPDATED:-0}
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$PARLA_APT_UPDATED" != 1 ]; then
    as_root apt-get update -qq
    PARLA_APT_UPDATED=1
  fi
  log "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The folder where slow-to-build native dependencies are cached between runs (outside target/).
parla_cache_dir() {
  local d="${PARLA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/parla}"
  mkdir -p "$d"
  printf '%s' "$d"
}
