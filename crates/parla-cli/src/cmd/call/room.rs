//! The acoustic echo path of one simulated endpoint: what its loudspeaker plays reaches its own
//! microphone through a synthetic room impulse response.
//!
//! The impulse response is seeded: a bulk delay of 30-60 ms (loudspeaker-to-microphone distance
//! plus the device's audio buffering), a direct arrival, then a dense tail of Gaussian
//! reflections under an exponential envelope (RT60 200 ms, 150 ms long), scaled so that its energy
//! gives about 10 dB of echo return loss for white input. It is applied online, one 10 ms block at
//! a time, by uniformly partitioned overlap-save convolution (block FFTs from `realfft`, the real
//! FFT crate rubato already brings in), so a 200 ms response costs a few FFTs per block instead of
//! 9600 multiply-adds per sample.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Parameters of the synthetic room.
#[derive(Debug, Clone, Copy)]
pub struct RoomConfig {
    /// Sample rate, Hz.
    pub rate: u32,
    /// Echo return loss aimed at (for white input), dB.
    pub erl_db: f64,
}

/// A seeded room impulse response and its bulk delay.
#[derive(Debug, Clone)]
pub struct Impulse {
    /// The taps (index 0 = no delay).
    pub taps: Vec<f32>,
    /// The bulk delay (index of the direct arrival), samples.
    pub bulk: usize,
}

/// Make the impulse response for `seed`.
pub fn impulse(cfg: &RoomConfig, seed: u64) -> Impulse {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rate = f64::from(cfg.rate);
    let bulk_ms = 30.0 + 30.0 * rng.random::<f64>();
    let bulk = (bulk_ms * rate / 1000.0).round() as usize;
    let tail = (0.150 * rate) as usize;
    let rt60 = 0.200;
    let mut taps = vec![0.0f32; bulk + tail];
    // Direct arrival, then reflections (Box-Muller Gaussian noise under the decay envelope).
    taps[bulk] = 1.0;
    for i in 1..tail {
        let t = i as f64 / rate;
        let env = (-6.91 * t / rt60).exp();
        let u1: f64 = rng.random::<f64>().max(1e-12);
        let u2: f64 = rng.random::<f64>();
        let g = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        taps[bulk + i] = (0.05 * env * g) as f32;
    }
    let energy: f64 = taps.iter().map(|&v| f64::from(v).powi(2)).sum();
    let scale = (10f64.powf(-cfg.erl_db / 10.0) / energy).sqrt() as f32;
    for t in &mut taps {
        *t *= scale;
    }
    Impulse { taps, bulk }
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
    spec: Vec<Complex32>,
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
    /// A path through `taps` in blocks of `block` samples. Taps before `block` must be zero
    /// (checked: they are ignored otherwise, and the caller's bulk delay guarantees it).
    pub fn new(taps: &[f32], block: usize) -> Self {
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
            spec: vec![Complex32::new(0.0, 0.0); bins],
            time: vec![0.0; n],
            next: vec![0.0; block],
        }
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
        self.spec.copy_from_slice(&self.acc);
        // realfft wants real DC and Nyquist bins on the inverse transform.
        if let Some(f) = self.spec.first_mut() {
            f.im = 0.0;
        }
        if let Some(l) = self.spec.last_mut() {
            l.im = 0.0;
        }
        let _ = self
            .ifft
            .process_with_scratch(&mut self.spec, &mut self.time, &mut self.scratch_i);
        let norm = 1.0 / (2 * b) as f32;
        for (o, t) in self.next.iter_mut().zip(&self.time[b..]) {
            *o = t * norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_convolution_matches_direct_convolution() {
        let cfg = RoomConfig {
            rate: 8_000,
            erl_db: 10.0,
        };
        let block = 80;
        let imp = impulse(&cfg, 3);
        assert!(imp.bulk >= 240 && imp.bulk <= 480, "{}", imp.bulk);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x: Vec<f32> = (0..8_000).map(|_| rng.random::<f32>() - 0.5).collect();
        let mut path = EchoPath::new(&imp.taps, block);
        let mut got = Vec::new();
        for blk in x.chunks(block) {
            got.extend_from_slice(path.next_echo());
            path.push_played(blk);
        }
        for (n, g) in got.iter().enumerate().take(x.len()) {
            let mut want = 0.0f64;
            for (k, h) in imp.taps.iter().enumerate() {
                if k <= n {
                    want += f64::from(*h) * f64::from(x[n - k]);
                }
            }
            assert!(
                (f64::from(*g) - want).abs() < 1e-4,
                "sample {n}: {g} vs {want}"
            );
        }
        // About 10 dB of echo return loss on white noise.
        let ex: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
        let ee: f64 = got[imp.taps.len()..x.len()]
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum::<f64>()
            * x.len() as f64
            / (x.len() - imp.taps.len()) as f64;
        let erl = 10.0 * (ex / ee).log10();
        assert!((erl - 10.0).abs() < 1.5, "ERL {erl}");
    }
}
