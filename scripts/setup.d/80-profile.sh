# Profiling (docs/PERFORMANCE.md): Linux perf, to sample the call tick and `parla process` per
# function and per native library; the PESQ-WB scorer of scripts/opus-complexity-pesq.py needs the
# Python packages `pesq` and `scipy` (checked there, not installed here).
# Sourced by scripts/setup.sh (uses apt_install from lib.sh).
apt_install linux-perf
