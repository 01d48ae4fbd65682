#!/usr/bin/env python3
"""Regenerates the bundled speech samples in samples/ (see samples/PROVENANCE.md).

Needs espeak-ng and sox (Debian packages). Speech is synthesised by espeak-ng, resampled to
48 kHz 16-bit mono by sox; noise is generated here from a fixed seed and mixed at an exact SNR,
so the files are reproducible byte for byte for a given espeak-ng/sox version.
"""
import array
import math
import os
import random
import subprocess
import sys
import tempfile
import wave

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples")
RATE = 48_000
TEXTS = {
    "near": (
        "en-us",
        "Hello, this is the near end speaking. The quick brown fox jumps over the lazy dog. "
        "Can you hear me clearly now, or is there still some noise on the line?",
    ),
    "far": (
        "en-gb+f3",
        "Good morning from the far end. Please tell me when the echo has gone away, "
        "and we will try the next test.",
    ),
}


def synth(voice, text, path):
    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d, "raw.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", raw, text], check=True)
        subprocess.run(
            ["sox", raw, "-r", str(RATE), "-b", "16", "-c", "1", path, "gain", "-n", "-3"],
            check=True,
        )


def read(path):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == RATE and w.getsampwidth() == 2 and w.getnchannels() == 1
        a = array.array("h")
        a.frombytes(w.readframes(w.getnframes()))
        return [s / 32768.0 for s in a]


def write(path, samples):
    a = array.array("h", (max(-32768, min(32767, int(round(s * 32768.0)))) for s in samples))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(a.tobytes())


def power(x):
    return sum(v * v for v in x) / max(1, len(x))


def white(n, rng):
    return [rng.gauss(0.0, 1.0) for _ in range(n)]


def pink(n, rng):
    # Paul Kellet's refined pink-noise filter over white noise.
    b = [0.0] * 7
    out = []
    for _ in range(n):
        w = rng.gauss(0.0, 1.0)
        b[0] = 0.99886 * b[0] + w * 0.0555179
        b[1] = 0.99332 * b[1] + w * 0.0750759
        b[2] = 0.96900 * b[2] + w * 0.1538520
        b[3] = 0.86650 * b[3] + w * 0.3104856
        b[4] = 0.55000 * b[4] + w * 0.5329522
        b[5] = -0.7616 * b[5] - w * 0.0168980
        out.append(sum(b) + b[6] + w * 0.5362)
        b[6] = w * 0.115926
    return out


def mix(clean, noise, snr_db):
    g = math.sqrt(power(clean) / (power(noise) * 10 ** (snr_db / 10.0)))
    return [c + g * n for c, n in zip(clean, noise)]


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(20261130)
    for name, (voice, text) in TEXTS.items():
        synth(voice, text, os.path.join(OUT, f"{name}_speech_clean.wav"))
    clean = read(os.path.join(OUT, "near_speech_clean.wav"))
    write(os.path.join(OUT, "noisy_speech_white_5db.wav"), mix(clean, white(len(clean), rng), 5.0))
    write(os.path.join(OUT, "noisy_speech_pink_5db.wav"), mix(clean, pink(len(clean), rng), 5.0))
    print("samples written to", os.path.normpath(OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
