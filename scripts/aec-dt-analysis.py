#!/usr/bin/env python3
# Double-talk analysis of the image-method echo cases (docs/AEC.md, "Where the near end is lost").
# Reads what `cargo run --release -p parla-harness --example aec_dump -- DIR PATTERN LABEL=SPEC...`
# wrote and prints, per case and on average:
#   - oracle L ms: a perfect linear filter covering the echo path from 2 ms before its direct
#     sound to L ms after it (what AEC3's refined filter of L/4 blocks could reach at best),
#     no suppressor: far-end single-talk ERLE and the near end's PESQ-WB / STOI / SI-SDR;
#   - oracle Wiener xA on `open`: the best any residual-echo suppressor working on AEC3's linear
#     output could do, a per-bin gain |N|^2 / (|N|^2 + A |R|^2) computed from the true near end N
#     and the true residual echo R of the output labelled `open` (A > 1 suppresses harder);
#   - exact-R subtr xA: spectral subtraction max(1 - A |R|^2 / |E|^2, -30 dB) on the observed
#     `open` output E with the true residual power: a suppressor with a perfect residual-echo
#     estimate but no knowledge of the near end; smoothed-R subtr: the same with both powers
#     smoothed over time (one-pole, 0.7 per 10 ms);
#   - each AEC3 output LABEL: the same figures, the near end's level change in double talk, and
#     (against the output labelled `open`, the suppressor made transparent) the suppressor's mean
#     gain in double-talk and far-end single-talk frames.
# Figures use the harness's frame classes (parla-metrics echo.rs: active within 30 dB of the
# peak frame, silent 60 dB below it, the first min(25 %, 2 s) skipped; quality from 40 % on).
# Run with the bench quality venv (numpy, scipy, pesq, pystoi): scripts/setup.d/75-bench-quality.sh.
import json
import sys

import numpy as np
from pesq import pesq
from pystoi import stoi
from scipy.signal import fftconvolve, resample_poly, stft


def load(d, name, ext):
    return np.fromfile(f"{d}/{name}.{ext}.f32", dtype="<f4").astype(np.float64)


def frame_db(x, fr):
    n = len(x) // fr
    e = (x[: n * fr].reshape(n, fr) ** 2).mean(axis=1)
    return 10 * np.log10(np.maximum(e, 1e-20))


def align(ref, out, rate, max_ms=60):
    # Lag (0..max_ms) that best lines `out` up with `ref` (output later than input).
    m = int(rate * max_ms / 1000)
    a = ref[len(ref) // 2 :]
    best, lag = -1e30, 0
    for k in range(0, m + 1, max(1, rate // 16000)):
        c = np.dot(a[: len(a) - m], out[len(ref) // 2 + k : len(ref) // 2 + k + len(a) - m])
        if c > best:
            best, lag = c, k
    y = np.zeros_like(out)
    y[: len(out) - lag] = out[lag:]
    return y


def si_sdr(t, e):
    a = np.dot(e, t) / max(np.dot(t, t), 1e-20)
    s = a * t
    return 10 * np.log10(max(np.dot(s, s), 1e-20) / max(np.dot(e - s, e - s), 1e-20))


def quality(rate, ref, deg):
    g = np.gcd(rate, 16000)
    r16 = resample_poly(ref, 16000 // g, rate // g) if rate != 16000 else ref
    d16 = resample_poly(deg, 16000 // g, rate // g) if rate != 16000 else deg
    try:
        p = pesq(16000, r16, d16, "wb")
    except Exception:  # noqa: BLE001
        p = float("nan")
    return p, stoi(ref, deg, rate, extended=False)


def figures(c, out):
    rate, mic, near = c["rate"], c["mic"], c["near"]
    s, d = c["single"], c["dt"]
    fr = rate // 100
    n = len(c["single"])
    em = (mic[: n * fr].reshape(n, fr) ** 2).sum(axis=1)
    eo = (out[: n * fr].reshape(n, fr) ** 2).sum(axis=1)
    r = {"erle": 10 * np.log10(em[s].sum() / max(eo[s].sum(), 1e-20))}
    if len(near) and d.any():
        start = len(mic) * 2 // 5
        r["pesq"], r["stoi"] = quality(rate, near[start:], out[start:])
        r["sisdr"] = si_sdr(near[start:], out[start:])
        nn = (near[: n * fr].reshape(n, fr) ** 2).sum(axis=1)
        r["lvl"] = 10 * np.log10(eo[d].sum() / max(nn[d].sum(), 1e-20))
    return r


def main():
    d = sys.argv[1]
    labels = sys.argv[2:]
    index = json.load(open(f"{d}/index.json"))
    rows = {}
    for meta in index:
        name, rate = meta["name"], meta["rate"]
        fr = rate // 100
        far, echo, near, mic, path = (load(d, name, e) for e in ["far", "echo", "near", "mic", "path"])
        n = len(mic) // fr
        le = frame_db(echo, fr)[:n]
        act = le >= le.max() - 30
        skip = int(np.ceil(min(0.25 * len(mic) / rate, 2.0) * 100))
        ok = np.arange(n) >= skip
        if len(near):
            ln = frame_db(near, fr)[:n]
            single = act & (ln < ln.max() - 60) & ok
            dt = act & (ln >= ln.max() - 30) & ok
        else:
            single, dt = act & ok, np.zeros(n, bool)
        c = {"rate": rate, "mic": mic, "near": near, "single": single, "dt": dt}
        peak = int(np.argmax(np.abs(path)))
        res = {}
        for L in [52, 104, 200, 300, 400]:
            cut = max(0, peak - rate // 500) + rate * L // 1000
            tail = np.zeros_like(path)
            tail[cut:] = path[cut:]
            resid = fftconvolve(far, tail)[: len(far)]
            res[f"oracle {L} ms"] = figures(c, near + resid if len(near) else resid)
        res["mic"] = figures(c, mic)
        outs = {}
        for lab in labels:
            y = align(near if len(near) else echo, load(d, name, f"out-{lab}"), rate)
            outs[lab] = y
            res[lab] = figures(c, y)
        if "open" in outs and len(near):
            from scipy.signal import istft

            _, _, zn = stft(near, rate, nperseg=2 * fr, noverlap=fr)
            _, _, zr = stft(outs["open"] - near, rate, nperseg=2 * fr, noverlap=fr)
            for a in [1, 4, 16, 64]:
                pn, pr = np.abs(zn) ** 2, np.abs(zr) ** 2
                g = pn / np.maximum(pn + a * pr, 1e-20)
                _, y = istft(g * (zn + zr), rate, nperseg=2 * fr, noverlap=fr)
                y = np.pad(y, (0, max(0, len(near) - len(y))))[: len(near)]
                res[f"oracle Wiener x{a}"] = figures(c, y)
            # A realistic gain rule fed a perfect residual power: spectral subtraction on the
            # observed output E = N + R, floor -30 dB (what a suppressor with an exact
            # residual-echo estimate could do without knowing the near end).
            pe = np.abs(zn + zr) ** 2
            # ... and the same with that power smoothed over time (one-pole, 0.7 per 10 ms) and
            # the output power too: the precision a real estimator could hope for.
            def smooth(p):
                q = p.copy()
                for t in range(1, q.shape[1]):
                    q[:, t] = 0.7 * q[:, t - 1] + 0.3 * p[:, t]
                return q

            sr, se = smooth(np.abs(zr) ** 2), np.maximum(smooth(pe), 1e-20)
            for a in [1, 4]:
                g = np.maximum(1 - a * sr / se, 10 ** -3)
                _, y = istft(g * (zn + zr), rate, nperseg=2 * fr, noverlap=fr)
                y = np.pad(y, (0, max(0, len(near) - len(y))))[: len(near)]
                res[f"smoothed-R subtr x{a}"] = figures(c, y)
            for a in [1, 2]:
                g = np.maximum(1 - a * np.abs(zr) ** 2 / np.maximum(pe, 1e-20), 10 ** -3)
                _, y = istft(g * (zn + zr), rate, nperseg=2 * fr, noverlap=fr)
                y = np.pad(y, (0, max(0, len(near) - len(y))))[: len(near)]
                res[f"exact-R subtr x{a}"] = figures(c, y)
        if "open" in outs:
            f, t, zo = stft(outs["open"], rate, nperseg=2 * fr, noverlap=fr)
            for lab in labels:
                if lab == "open":
                    continue
                _, _, zl = stft(outs[lab], rate, nperseg=2 * fr, noverlap=fr)
                k = min(zo.shape[1], zl.shape[1], n)
                po, pl = np.abs(zo[:, :k]) ** 2, np.abs(zl[:, :k]) ** 2
                for cls, m in [("g_dt", dt[:k]), ("g_st", single[:k])]:
                    if m.any():
                        res[lab][cls] = 10 * np.log10(pl[:, m].sum() / max(po[:, m].sum(), 1e-20))
        rows[name] = res
        print(name)
        for k, v in res.items():
            print("  %-14s " % k + " ".join(f"{a}={b:.2f}" for a, b in v.items()))
        sys.stdout.flush()
    print("\nmean over double-talk cases (ERLE: lowest / mean over all cases)")
    keys = list(dict.fromkeys(k for r in rows.values() for k in r))
    for k in keys:
        # (the oracle Wiener rows exist for double-talk cases only)
        erle = [r[k]["erle"] for r in rows.values() if k in r]
        dts = [r[k] for r in rows.values() if k in r and "pesq" in r[k]]
        line = f"  {k:14s} ERLE {min(erle):5.1f} / {np.mean(erle):5.1f}"
        for m in ["pesq", "stoi", "sisdr", "lvl", "g_dt", "g_st"]:
            v = [r[m] for r in dts if m in r]
            if v:
                line += f"  {m} {np.mean(v):.3f}"
        print(line)


main()
