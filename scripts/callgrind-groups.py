#!/usr/bin/env python3
"""Group a callgrind profile's self instruction counts by component (docs/PERFORMANCE.md).

    python3 scripts/callgrind-groups.py callgrind.out

Sums callgrind_annotate's per-function self counts (inlined code is counted under the function it
was inlined into) into: WebRTC APM/AEC3, RNNoise, WAV I/O, Parla's chain glue, libc copies, the
dynamic loader, the rest. scripts/callgrind-process.sh runs it on `parla process`.
"""
import re, subprocess, sys
from collections import defaultdict

out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", sys.argv[1]],
                     capture_output=True, text=True).stdout
total = None
groups = defaultdict(int)
funcs = defaultdict(int)
RULES = [
    ("RNNoise (nnnoiseless, rustfft, realfft)", r"nnnoiseless|rustfft|realfft"),
    ("WebRTC APM / AEC3 (C++)", r"webrtc|ZN3rtc|ZN4absl|absl"),
    ("WAV read/write (hound, parla::wav)", r"hound|parla::wav"),
    ("dynamic loader (ld.so, start-up)", r"ld-linux|dl-|_dl_"),
    ("libc memcpy/memset", r"memmove|memcpy|memset"),
    ("Parla chain glue (parla_dsp, parla_core)", r"parla_dsp|parla_core"),
    ("other Parla / CLI", r"parla"),
]
for line in out.splitlines():
    m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
    if not m:
        continue
    n = int(m.group(1).replace(",", ""))
    name = m.group(2)
    if "PROGRAM TOTALS" in name:
        total = n
        continue
    for g, rx in RULES:
        if re.search(rx, name):
            groups[g] += n
            break
    else:
        groups["other (libstdc++, libm, kernel glue, ...)"] += n
    funcs[name] += n
print(f"total {total:,} instructions")
for g, n in sorted(groups.items(), key=lambda kv: -kv[1]):
    print(f"{n:>15,}  {100*n/total:5.1f} %  {g}")
