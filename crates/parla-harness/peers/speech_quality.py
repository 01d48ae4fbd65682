# PESQ-WB (ITU-T P.862.2, the `pesq` package) and STOI (Taal et al. 2011, the `pystoi` package)
# of a degraded signal against its clean reference, for `parla bench`.
# Usage: python3 speech_quality.py RATE REF.f32 DEG.f32... -> prints one line "pesq_wb=X stoi=Y" per
# degraded file ("nan" when a measure cannot be computed, e.g. PESQ finds no utterance). Inputs: raw
# little-endian float32 mono at RATE.
import sys

import numpy as np
from pesq import pesq
from pystoi import stoi
from scipy.signal import resample_poly


def score(rate, ref, deg):
    n = min(len(ref), len(deg))
    ref, deg = ref[:n], deg[:n]
    try:
        g = np.gcd(rate, 16000)
        r16 = resample_poly(ref, 16000 // g, rate // g) if rate != 16000 else ref
        d16 = resample_poly(deg, 16000 // g, rate // g) if rate != 16000 else deg
        p = pesq(16000, r16, d16, "wb")
    except Exception:  # noqa: BLE001 - any failure of the measure is reported as nan
        p = float("nan")
    try:
        s = stoi(ref, deg, rate, extended=False)
    except Exception:  # noqa: BLE001
        s = float("nan")
    print(f"pesq_wb={p} stoi={s}")


def main():
    rate = int(sys.argv[1])
    ref = np.fromfile(sys.argv[2], dtype="<f4").astype(np.float64)
    for path in sys.argv[3:]:
        score(rate, ref, np.fromfile(path, dtype="<f4").astype(np.float64))


main()
