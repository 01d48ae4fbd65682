# PESQ-WB and STOI for `parla bench` (crates/parla-harness/src/quality.rs): the Python packages
# `pesq` (ITU-T P.862 wrapper) and `pystoi`, with numpy and scipy, in a virtual environment in
# the cache folder (Debian's Python refuses system-wide pip installs). Idempotent: nothing is done
# when the environment already imports both. The harness finds it there (or through
# PARLA_QUALITY_PYTHON); without it the PESQ/STOI columns are left out with a note.
apt_install python3-venv python3-dev
quality_venv="$(parla_cache_dir)/quality-venv"
if "$quality_venv/bin/python" -c 'import pesq, pystoi, scipy' 2>/dev/null; then
  log "bench quality: pesq and pystoi already in $quality_venv (skipping)"
else
  log "bench quality: installing pesq and pystoi into $quality_venv"
  quality_py=/usr/bin/python3
  [ -x "$quality_py" ] || quality_py="$(command -v python3)"
  rm -rf "$quality_venv"
  "$quality_py" -m venv "$quality_venv"
  "$quality_venv/bin/python" -m pip install -q numpy scipy pesq pystoi
fi
