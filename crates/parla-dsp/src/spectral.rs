//! A statistical spectral noise suppressor: a Wiener gain on a decision-directed a priori SNR
//! (Ephraim & Malah, IEEE Trans. ASSP 32(6), 1984) over a minimum-statistics noise estimate
//! (Martin, IEEE Trans. SAP 9(5), 2001), written here from the papers.
//!
//! It complements RNNoise ([`crate::ns`]): it is gentle on speech at good SNR (speech bins keep a
//! gain near 1, so the signal passes nearly untouched) and strong on stationary noise (white,
//! pink, hum), where RNNoise's band gains leave a floor. [`crate::ns::NoiseSuppressor`] runs both
//! and blends them by the estimated SNR; this type is also a [`Stage`] on its own.
//!
//! Framing: a `2 * hop` real FFT with a square-root periodic Hann window for analysis and
//! synthesis at 50 % overlap (the squared windows sum to one, so unit gains reconstruct the input
//! exactly), `hop` = one 10 ms frame. Each call emits the previous frame: the latency is one
//! frame, the same as RNNoise's, so the two run in parallel on one input and line up.
//!
//! Noise estimate: per bin, the periodogram smoothed over time (factor [`PSD_SMOOTHING`]), whose
//! minimum over about 1.5 s (eight sub-windows of [`SUBWINDOW_FRAMES`] frames) times a bias
//! factor ([`MIN_BIAS`]) is the noise power. It follows a rising noise floor within 1.5 s and
//! needs no voice activity detector.
//!
//! # Real-time safety
//! Everything is sized in [`Stage::prepare`]; `process_into` does arithmetic and in-place FFTs
//! with preallocated scratch (no allocation, lock or syscall).

use std::sync::Arc;

use parla_core::{ConfigError, FrameMeta, ProcessError};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::stage::{Stage, check_len};

/// Smoothing factor of the periodogram that the noise minimum is taken over.
pub const PSD_SMOOTHING: f32 = 0.85;
/// Frames per minimum-tracking sub-window (8 sub-windows: the minimum spans about 1.5 s).
pub const SUBWINDOW_FRAMES: u32 = 19;
/// Number of minimum-tracking sub-windows.
const SUBWINDOWS: usize = 8;
/// Bias compensation of the minimum of the smoothed periodogram (the minimum of a smoothed
/// exponential variable underestimates its mean).
pub const MIN_BIAS: f32 = 2.0;
/// Decision-directed weight of the previous frame's clean estimate in the a priori SNR.
const DD_ALPHA: f32 = 0.98;
/// Lowest a priori SNR (-25 dB): limits musical noise.
const XI_MIN: f32 = 0.003_162_278;
/// Default lowest gain (-20 dB).
pub const DEFAULT_GAIN_FLOOR: f32 = 0.1;
/// A power below which a bin counts as silent (keeps the ratios finite on digital silence).
const TINY: f32 = 1e-20;

/// The spectral suppressor. See the module docs.
pub struct SpectralSuppressor {
    hop: usize,
    gain_floor: f32,
    fwd: Option<Arc<dyn RealToComplex<f32>>>,
    inv: Option<Arc<dyn ComplexToReal<f32>>>,
    window: Vec<f32>,
    /// The last `2 * hop` input samples.
    history: Vec<f32>,
    time: Vec<f32>,
    spec: Vec<Complex<f32>>,
    scratch_fwd: Vec<Complex<f32>>,
    scratch_inv: Vec<Complex<f32>>,
    /// The second half of the previous synthesis frame.
    overlap: Vec<f32>,
    smoothed: Vec<f32>,
    noise: Vec<f32>,
    min_now: Vec<f32>,
    /// `SUBWINDOWS` minima per bin, bin-major.
    min_past: Vec<f32>,
    prev_clean: Vec<f32>,
    sub_frame: u32,
    sub_index: usize,
    frames: u64,
}

impl std::fmt::Debug for SpectralSuppressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpectralSuppressor")
            .field("hop", &self.hop)
            .field("gain_floor", &self.gain_floor)
            .field("frames", &self.frames)
            .finish()
    }
}

impl Default for SpectralSuppressor {
    fn default() -> Self {
        Self::new()
    }
}

impl SpectralSuppressor {
    /// A suppressor with the default gain floor, not yet prepared.
    pub fn new() -> Self {
        SpectralSuppressor {
            hop: 0,
            gain_floor: DEFAULT_GAIN_FLOOR,
            fwd: None,
            inv: None,
            window: Vec::new(),
            history: Vec::new(),
            time: Vec::new(),
            spec: Vec::new(),
            scratch_fwd: Vec::new(),
            scratch_inv: Vec::new(),
            overlap: Vec::new(),
            smoothed: Vec::new(),
            noise: Vec::new(),
            min_now: Vec::new(),
            min_past: Vec::new(),
            prev_clean: Vec::new(),
            sub_frame: 0,
            sub_index: 0,
            frames: 0,
        }
    }

    /// Set the lowest gain, in `[0.001, 1]` (clamped; NaN keeps the default): 1 passes the input
    /// unchanged, 0.1 caps the attenuation at 20 dB.
    ///
    /// # Real-time safety
    /// A store.
    pub fn set_gain_floor(&mut self, floor: f32) {
        // RT: a store.
        self.gain_floor = if floor.is_nan() {
            DEFAULT_GAIN_FLOOR
        } else {
            floor.clamp(0.001, 1.0)
        };
    }

    /// The lowest gain.
    pub fn gain_floor(&self) -> f32 {
        self.gain_floor
    }

    /// The estimated noise power per sample of the last frame (mean square, full scale 1), or 0
    /// before the first frame.
    pub fn noise_power(&self) -> f32 {
        if self.hop == 0 {
            return 0.0;
        }
        // Parseval for a windowed frame of 2 * hop samples whose window has a mean square 1/2.
        let n = (2 * self.hop) as f32;
        let sum: f32 = self
            .noise
            .iter()
            .enumerate()
            .map(|(k, &p)| if k == 0 || k == self.hop { p } else { 2.0 * p })
            .sum();
        sum / (n * n * 0.5)
    }

    fn clear_state(&mut self) {
        self.history.fill(0.0);
        self.overlap.fill(0.0);
        self.smoothed.fill(0.0);
        self.noise.fill(0.0);
        self.min_now.fill(f32::MAX);
        self.min_past.fill(f32::MAX);
        self.prev_clean.fill(0.0);
        self.sub_frame = 0;
        self.sub_index = 0;
        self.frames = 0;
    }

    /// Update the noise estimate and apply the gains to `self.spec`.
    fn suppress(&mut self) {
        // RT: arithmetic on preallocated per-bin arrays.
        let first = self.frames == 0;
        let floor = self.gain_floor;
        let next_sub = self.sub_frame + 1 >= SUBWINDOW_FRAMES;
        for k in 0..self.spec.len() {
            let p = self.spec[k].norm_sqr();
            let s = if first {
                p
            } else {
                PSD_SMOOTHING * self.smoothed[k] + (1.0 - PSD_SMOOTHING) * p
            };
            self.smoothed[k] = s;
            let now = self.min_now[k].min(s);
            let past = &mut self.min_past[k * SUBWINDOWS..(k + 1) * SUBWINDOWS];
            let min = past.iter().fold(now, |m, &v| m.min(v));
            if next_sub {
                past[self.sub_index] = now;
                self.min_now[k] = f32::MAX;
            } else {
                self.min_now[k] = now;
            }
            let noise = (MIN_BIAS * min).max(TINY);
            self.noise[k] = noise;
            let gamma = p / noise;
            let xi = (DD_ALPHA * self.prev_clean[k] / noise
                + (1.0 - DD_ALPHA) * (gamma - 1.0).max(0.0))
            .max(XI_MIN);
            let gain = (xi / (1.0 + xi)).max(floor);
            self.prev_clean[k] = gain * gain * p;
            self.spec[k] *= gain;
        }
        if next_sub {
            self.sub_frame = 0;
            self.sub_index = (self.sub_index + 1) % SUBWINDOWS;
        } else {
            self.sub_frame += 1;
        }
        self.frames += 1;
    }
}

impl Stage for SpectralSuppressor {
    fn name(&self) -> &'static str {
        "spectral_ns"
    }

    fn prepare(&mut self, _rate: u32, frame_len: usize) -> Result<(), ConfigError> {
        if frame_len == 0 || frame_len > 4096 {
            return Err(ConfigError::InvalidParameter {
                name: "frame_len",
                detail: format!("spectral suppression needs 1-4096-sample frames, got {frame_len}"),
            });
        }
        let n = 2 * frame_len;
        let mut planner = RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        let bins = frame_len + 1;
        self.scratch_fwd = fwd.make_scratch_vec();
        self.scratch_inv = inv.make_scratch_vec();
        self.fwd = Some(fwd);
        self.inv = Some(inv);
        // Square root of the periodic Hann window: w[i]^2 + w[i + hop]^2 = 1.
        self.window = (0..n)
            .map(|i| (std::f32::consts::PI * i as f32 / n as f32).sin())
            .collect();
        self.history = vec![0.0; n];
        self.time = vec![0.0; n];
        self.spec = vec![Complex::default(); bins];
        self.overlap = vec![0.0; frame_len];
        self.smoothed = vec![0.0; bins];
        self.noise = vec![0.0; bins];
        self.min_now = vec![f32::MAX; bins];
        self.min_past = vec![f32::MAX; bins * SUBWINDOWS];
        self.prev_clean = vec![0.0; bins];
        self.hop = frame_len;
        self.clear_state();
        Ok(())
    }

    fn process_into(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        _meta: &mut FrameMeta,
    ) -> Result<(), ProcessError> {
        // RT: in-place FFTs with preallocated scratch, arithmetic on preallocated buffers.
        if self.fwd.is_none() || self.inv.is_none() {
            return Err(ProcessError::NotPrepared);
        }
        let hop = self.hop;
        check_len(hop, input.len())?;
        check_len(hop, output.len())?;
        self.history.copy_within(hop.., 0);
        for (h, &x) in self.history[hop..].iter_mut().zip(input) {
            // Non-finite samples count as silence (they would poison every later frame).
            *h = if x.is_finite() { x } else { 0.0 };
        }
        for ((t, &h), &w) in self.time.iter_mut().zip(&self.history).zip(&self.window) {
            *t = h * w;
        }
        let fwd = self.fwd.as_ref().ok_or(ProcessError::NotPrepared)?;
        fwd.process_with_scratch(&mut self.time, &mut self.spec, &mut self.scratch_fwd)
            .map_err(|_| ProcessError::Backend { code: -1 })?;
        self.suppress();
        // The inverse transform needs real DC and Nyquist bins (real gains keep them real up to
        // rounding).
        self.spec[0].im = 0.0;
        self.spec[hop].im = 0.0;
        let inv = self.inv.as_ref().ok_or(ProcessError::NotPrepared)?;
        inv.process_with_scratch(&mut self.spec, &mut self.time, &mut self.scratch_inv)
            .map_err(|_| ProcessError::Backend { code: -2 })?;
        let scale = 1.0 / (2 * hop) as f32;
        for (t, &w) in self.time.iter_mut().zip(&self.window) {
            *t *= w * scale;
        }
        for ((o, &t), ov) in output
            .iter_mut()
            .zip(&self.time[..hop])
            .zip(self.overlap.iter_mut())
        {
            *o = *ov + t;
        }
        self.overlap.copy_from_slice(&self.time[hop..]);
        Ok(())
    }

    fn latency_samples(&self) -> usize {
        self.hop
    }

    fn reset(&mut self) {
        self.clear_state();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &mut SpectralSuppressor, x: &[f32], hop: usize) -> Vec<f32> {
        let mut meta = FrameMeta::default();
        let mut out = vec![0.0; x.len()];
        for (i, o) in x.chunks(hop).zip(out.chunks_mut(hop)) {
            s.process_into(i, o, &mut meta).unwrap();
        }
        out
    }

    #[test]
    fn unit_floor_reconstructs_the_input_one_frame_late() {
        let hop = 480;
        let mut s = SpectralSuppressor::new();
        s.prepare(48_000, hop).unwrap();
        s.set_gain_floor(1.0);
        let x: Vec<f32> = (0..hop * 6)
            .map(|i| 0.3 * (i as f32 * 0.0123).sin() + 0.1 * (i as f32 * 0.31).cos())
            .collect();
        let y = run(&mut s, &x, hop);
        for (a, b) in y[2 * hop..].iter().zip(&x[hop..]) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn white_noise_is_attenuated_and_estimated() {
        use rand::{Rng, SeedableRng};
        let hop = 480;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let x: Vec<f32> = (0..hop * 300)
            .map(|_| rng.random_range(-0.1f32..0.1))
            .collect();
        let mut s = SpectralSuppressor::new();
        s.prepare(48_000, hop).unwrap();
        let y = run(&mut s, &x, hop);
        let p = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>() / v.len() as f32;
        let tail = hop * 200;
        let atten = 10.0 * (p(&x[tail..]) / p(&y[tail..])).log10();
        assert!(atten > 12.0, "white noise attenuated by {atten} dB");
        // Uniform in [-0.1, 0.1]: power 0.01 / 3; the estimate within 3 dB.
        let est = 10.0 * (s.noise_power() / (0.01 / 3.0)).log10();
        assert!(est.abs() < 3.0, "noise estimate off by {est} dB");
    }

    #[test]
    fn rejects_bad_frames_and_unprepared_use() {
        let mut s = SpectralSuppressor::new();
        let mut meta = FrameMeta::default();
        let mut out = [0.0; 480];
        assert_eq!(
            s.process_into(&[0.0; 480], &mut out, &mut meta),
            Err(ProcessError::NotPrepared)
        );
        assert!(s.prepare(48_000, 0).is_err());
        s.prepare(48_000, 480).unwrap();
        assert!(s.process_into(&[0.0; 10], &mut out, &mut meta).is_err());
        let nan = [f32::NAN; 480];
        s.process_into(&nan, &mut out, &mut meta).unwrap();
        s.process_into(&nan, &mut out, &mut meta).unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
    }
}
