#!/usr/bin/env python3
"""PESQ-WB (ITU-T P.862.2) of the files `opus_complexity` wrote, against the bundled samples.

    cargo run --release -p parla-codec --example opus_complexity -- OUT_DIR
    python3 scripts/opus-complexity-pesq.py OUT_DIR

Both signals are resampled 48 -> 16 kHz (polyphase, scipy) before scoring. Needs the Python
packages `pesq`, `numpy` and `scipy`. Prints one row per bitrate and complexity: PESQ-WB per
file and the mean.
"""
import os
import re
import sys
import wave
from collections import defaultdict

import numpy as np
from pesq import pesq
from scipy.signal import resample_poly

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def read(path):
    with wave.open(path) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
        return w.getframerate(), x


def to16k(rate, x):
    return resample_poly(x, 16_000, rate) if rate != 16_000 else x


def main():
    out_dir = sys.argv[1]
    refs = {}
    scores = defaultdict(dict)
    for name in sorted(os.listdir(out_dir)):
        m = re.match(r"(.+)\.(\d+)\.c(\d+)\.wav$", name)
        if not m:
            continue
        stem, bitrate, c = m[1], int(m[2]), int(m[3])
        if stem not in refs:
            refs[stem] = to16k(*read(os.path.join(ROOT, "samples", stem + ".wav")))
        deg = to16k(*read(os.path.join(out_dir, name)))
        n = min(len(deg), len(refs[stem]))
        scores[(bitrate, c)][stem] = pesq(16_000, refs[stem][:n], deg[:n], "wb")
    stems = sorted(refs)
    print("bitrate\tcomplexity\t" + "\t".join(stems) + "\tmean")
    for (bitrate, c), s in sorted(scores.items()):
        vals = [s.get(k, float("nan")) for k in stems]
        print(f"{bitrate}\t{c}\t" + "\t".join(f"{v:.3f}" for v in vals) + f"\t{np.mean(vals):.3f}")


if __name__ == "__main__":
    main()
