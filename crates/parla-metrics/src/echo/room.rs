//! The room echo model: what a loudspeaker plays reaches the microphone of the same device
//! through a room impulse response. One model serves the echo scenarios of the tests and the
//! harness ([`super::scenario`]) and the whole-call simulation (`parla-sim`).
//!
//! The impulse response is a direct path after a bulk delay, a few early reflections and an
//! exponentially decaying velvet-noise tail (sparse random-sign taps, about 2000 per second, as
//! in velvet-noise reverberation), scaled to the room's echo path gain. It is sparse, so
//! [`convolve`] applies it to a whole signal directly; [`EchoPath`] applies it online, one block
//! at a time, by uniformly partitioned overlap-save convolution (real FFTs), for a simulation
//! that produces the loudspeaker signal as it goes.

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// The echo path: loudspeaker to microphone through a room.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Room {
    /// Delay before the direct sound arrives (device buffers + acoustic path), ms (20-200 in
    /// the acceptance cases).
    pub bulk_delay_ms: f64,
    /// Reverberation time (decay by 60 dB), ms.
    pub rt60_ms: f64,
    /// Length of the impulse response after the direct sound, ms.
    pub length_ms: f64,
    /// Total echo path gain, dB (the echo return loss is its negative).
    pub gain_db: f64,
}

impl Room {
    /// A laptop in a small, damped office: 40 ms bulk delay, short tail.
    pub const SMALL: Room = Room {
        bulk_delay_ms: 40.0,
        rt60_ms: 150.0,
        length_ms: 120.0,
        gain_db: -6.0,
    };
    /// A phone on speaker in a living room: 150 ms bulk delay, longer tail.
    pub const LIVING_ROOM: Room = Room {
        bulk_delay_ms: 150.0,
        rt60_ms: 350.0,
        length_ms: 300.0,
        gain_db: -6.0,
    };
}

/// One impulse-response tap: `(sample offset, gain)`.
pub type Tap = (usize, f32);

/// The reverberant tail of a room's impulse response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tail {
    /// A few early reflections, then velvet noise: sparse random-sign taps, about 2000 per
    /// second, under the decay (the echo scenarios of the tests and the harness).
    #[default]
    Velvet,
    /// A dense tail: a Gaussian reflection at every sample under the decay (the rooms of the
    /// call simulation; AEC3 converges deeper on it: see docs/CALL.md).
    Dense,
}

/// The room impulse response for `room` at `rate` Hz with the given tail, as taps: the direct
/// sound after the bulk delay, the tail under an exponential decay (`rt60_ms`) over `length_ms`,
/// all scaled to the room's echo path gain.
pub fn impulse_response_with(rate: u32, room: &Room, tail: Tail, rng: &mut ChaCha8Rng) -> Vec<Tap> {
    match tail {
        Tail::Velvet => impulse_response(rate, room, rng),
        Tail::Dense => {
            let fs = f64::from(rate);
            let direct = (room.bulk_delay_ms * fs / 1000.0).round() as usize;
            let len = (room.length_ms * fs / 1000.0) as usize;
            let rt60 = room.rt60_ms.max(1.0) / 1000.0;
            let mut taps: Vec<Tap> = vec![(direct, 1.0)];
            for i in 1..len {
                let t = i as f64 / fs;
                let env = (-6.91 * t / rt60).exp();
                // Box-Muller: a Gaussian from two uniforms.
                let u1: f64 = rng.random::<f64>().max(1e-12);
                let u2: f64 = rng.random::<f64>();
                let g = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                taps.push((direct + i, (0.05 * env * g) as f32));
            }
            scale_to_gain(&mut taps, room.gain_db);
            taps
        }
    }
}

fn scale_to_gain(taps: &mut [Tap], gain_db: f64) {
    let energy: f64 = taps.iter().map(|&(_, a)| f64::from(a).powi(2)).sum();
    if energy > 0.0 {
        let scale = (10f64.powf(gain_db / 20.0) / energy.sqrt()) as f32;
        taps.iter_mut().for_each(|t| t.1 *= scale);
    }
}

/// A sparse room impulse response for `room` at `rate` Hz.
pub fn impulse_response(rate: u32, room: &Room, rng: &mut ChaCha8Rng) -> Vec<Tap> {
    let fs = f64::from(rate);
    let direct = (room.bulk_delay_ms * fs / 1000.0).round() as usize;
    let mut taps: Vec<Tap> = vec![(direct, 1.0)];
    let decay = |t_s: f64| (-6.907_755 * t_s * 1000.0 / room.rt60_ms.max(1.0)).exp();
    // Early reflections in the first 25 ms.
    for _ in 0..8 {
        let t = rng.random_range(0.001..0.025);
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        let a = sign * rng.random_range(0.2..0.7) * decay(t);
        taps.push((direct + (t * fs) as usize, a as f32));
    }
    // Velvet-noise tail: one tap per cell of fs/2000 samples.
    let cell = (fs / 2000.0).max(1.0) as usize;
    let start = direct + (0.002 * fs) as usize;
    let end = direct + (room.length_ms * fs / 1000.0) as usize;
    let mut pos = start;
    while pos + cell <= end {
        let at = pos + rng.random_range(0..cell);
        let t = (at - direct) as f64 / fs;
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        taps.push((at, (sign * 0.35 * decay(t)) as f32));
        pos += cell;
    }
    scale_to_gain(&mut taps, room.gain_db);
    taps
}

/// `x` through the sparse impulse response `taps`, cut to `x.len()`.
pub fn convolve(x: &[f32], taps: &[Tap]) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    for &(off, a) in taps {
        if off >= x.len() {
            continue;
        }
        for (o, &v) in y[off..].iter_mut().zip(x) {
            *o += a * v;
        }
    }
    y
}

/// The taps as a dense response (index = delay in samples).
pub fn dense(taps: &[Tap]) -> Vec<f32> {
    let len = taps.iter().map(|&(o, _)| o + 1).max().unwrap_or(0);
    let mut h = vec![0.0f32; len];
    for &(o, a) in taps {
        h[o] += a;
    }
    h
}

/// Streaming convolution of the loudspeaker signal with an impulse response whose first block is
/// zero (the bulk delay is at least one block), so the echo of the next microphone block is known
/// once the current loudspeaker block has been played.
pub struct EchoPath {
    block: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    ifft: Arc<dyn ComplexToReal<f32>>,
    /// Spectra of the partitions of the response (shifted left by one block).
    parts: Vec<Vec<Complex32>>,
    /// Frequency-domain delay line: spectra of the last inputs, newest at `head`.
    fdl: Vec<Vec<Complex32>>,
    head: usize,
    /// The previous and current input block (time domain, 2 blocks).
    window: Vec<f32>,
    acc: Vec<Complex32>,
    time: Vec<f32>,
    scratch_f: Vec<Complex32>,
    scratch_i: Vec<Complex32>,
    /// The echo of the next microphone block.
    next: Vec<f32>,
}

impl std::fmt::Debug for EchoPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoPath")
            .field("block", &self.block)
            .field("partitions", &self.parts.len())
            .finish()
    }
}

impl EchoPath {
    /// A path through the dense response `taps` in blocks of `block` samples. Taps before
    /// `block` are ignored: the caller's bulk delay must be at least one block (see
    /// [`EchoPath::fits`]).
    pub fn new(taps: &[f32], block: usize) -> Self {
        let block = block.max(1);
        let n = 2 * block;
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(n);
        let ifft = planner.plan_fft_inverse(n);
        let shifted = taps.get(block..).unwrap_or(&[]);
        let bins = n / 2 + 1;
        let mut parts = Vec::new();
        for chunk in shifted.chunks(block) {
            let mut buf = vec![0.0f32; n];
            buf[..chunk.len()].copy_from_slice(chunk);
            let mut spec = vec![Complex32::new(0.0, 0.0); bins];
            // Lengths come from the plan itself, so the transform cannot fail.
            let _ = fft.process(&mut buf, &mut spec);
            parts.push(spec);
        }
        if parts.is_empty() {
            parts.push(vec![Complex32::new(0.0, 0.0); bins]);
        }
        let p = parts.len();
        EchoPath {
            block,
            scratch_f: fft.make_scratch_vec(),
            scratch_i: ifft.make_scratch_vec(),
            fft,
            ifft,
            parts,
            fdl: vec![vec![Complex32::new(0.0, 0.0); bins]; p],
            head: 0,
            window: vec![0.0; n],
            acc: vec![Complex32::new(0.0, 0.0); bins],
            time: vec![0.0; n],
            next: vec![0.0; block],
        }
    }

    /// Whether `taps` is zero over its first `block` samples, as [`EchoPath::new`] needs.
    pub fn fits(taps: &[f32], block: usize) -> bool {
        taps.iter().take(block).all(|&v| v == 0.0)
    }

    /// The echo that the microphone picks up during the next block.
    pub fn next_echo(&self) -> &[f32] {
        &self.next
    }

    /// Feed the block the loudspeaker just played (`block` samples; shorter is zero-padded).
    pub fn push_played(&mut self, played: &[f32]) {
        let b = self.block;
        self.window.copy_within(b.., 0);
        let cur = &mut self.window[b..];
        cur.fill(0.0);
        let m = played.len().min(b);
        cur[..m].copy_from_slice(&played[..m]);
        self.time.copy_from_slice(&self.window);
        let p = self.parts.len();
        self.head = (self.head + p - 1) % p;
        let _ = self.fft.process_with_scratch(
            &mut self.time,
            &mut self.fdl[self.head],
            &mut self.scratch_f,
        );
        self.acc.fill(Complex32::new(0.0, 0.0));
        for (k, part) in self.parts.iter().enumerate() {
            let x = &self.fdl[(self.head + k) % p];
            for ((a, xv), hv) in self.acc.iter_mut().zip(x).zip(part) {
                *a += xv * hv;
            }
        }
        // realfft wants real DC and Nyquist bins on the inverse transform.
        if let Some(f) = self.acc.first_mut() {
            f.im = 0.0;
        }
        if let Some(l) = self.acc.last_mut() {
            l.im = 0.0;
        }
        let _ = self
            .ifft
            .process_with_scratch(&mut self.acc, &mut self.time, &mut self.scratch_i);
        let norm = 1.0 / (2 * b) as f32;
        for (o, t) in self.next.iter_mut().zip(&self.time[b..]) {
            *o = t * norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn block_convolution_matches_direct_convolution() {
        let rate = 8_000;
        let room = Room {
            bulk_delay_ms: 35.0,
            rt60_ms: 200.0,
            length_ms: 150.0,
            gain_db: -10.0,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for tail in [Tail::Velvet, Tail::Dense] {
            let taps = impulse_response_with(rate, &room, tail, &mut rng);
            check_block_convolution(&taps, &mut rng);
        }
    }

    fn check_block_convolution(taps: &[Tap], rng: &mut ChaCha8Rng) {
        let block = 80;
        let taps = taps.to_vec();
        let h = dense(&taps);
        assert!(EchoPath::fits(&h, block));
        assert_eq!(h.iter().position(|&v| v != 0.0), Some(280));
        let x: Vec<f32> = (0..8_000).map(|_| rng.random::<f32>() - 0.5).collect();
        let want = convolve(&x, &taps);
        let mut path = EchoPath::new(&h, block);
        let mut got = Vec::new();
        for blk in x.chunks(block) {
            got.extend_from_slice(path.next_echo());
            path.push_played(blk);
        }
        for (n, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 1e-4, "sample {n}: {g} vs {w}");
        }
        // The echo path gain: about -10 dB on white noise.
        let e = |v: &[f32]| v.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        let skip = h.len();
        let gain = 10.0 * (e(&got[skip..]) / e(&x[skip..])).log10();
        assert!((gain + 10.0).abs() < 1.5, "gain {gain}");
    }
}
