//! Pitch-preserving time stretching of speech (WSOLA-style, by whole pitch periods).
//!
//! [`TimeStretcher::accelerate_into`] removes one pitch period `T` from a block and
//! [`TimeStretcher::expand_into`] inserts one, in the manner of the accelerate and preemptive
//! expand operations of WebRTC's NetEq and of WSOLA (Verhelst and Roelands, ICASSP 1993): the
//! period is the lag with the highest normalized cross-correlation between `x[0..T]` and
//! `x[T..2T]`, found on a decimated copy (about 8 kHz) and refined at full rate; the two
//! periods are then overlapped with a linear cross-fade, so the waveform keeps its period (the
//! pitch) and stays continuous at both ends of the splice.
//!
//! Accelerate: `out = xfade(x[0..T] -> x[T..2T]) ++ x[2T..]` (length `n - T`).
//! Expand: `out = x[0..T] ++ xfade(x[T..2T] -> x[0..T]) ++ x[T..]` (length `n + T`).
//! At both ends of the cross-fade the output continues the input sample to sample, so a splice
//! never steps further than the input itself does; the click test in
//! `tests/stretch-quality.rs` checks that the largest sample-to-sample step of the output stays
//! within [`CLICK_STEP_RATIO`] of the input's largest step.
//!
//! A block that is neither periodic (normalized correlation below the threshold) nor quiet is
//! left alone unless the caller forces the operation (NetEq's "fast accelerate").
//!
//! # Real-time safety
//! [`TimeStretcher::new`] allocates the decimation buffer; the `*_into` methods and
//! [`TimeStretcher::find_period`] never allocate, lock or do I/O.
use parla_core::{ConfigError, ProcessError};

/// Shortest pitch period searched, seconds (400 Hz).
pub const MIN_PERIOD_S: f64 = 0.0025;
/// Longest pitch period searched, seconds (about 67 Hz).
pub const MAX_PERIOD_S: f64 = 0.015;
/// The click criterion: the largest sample-to-sample step of stretched output must not exceed
/// the input's largest step by more than this factor.
pub const CLICK_STEP_RATIO: f32 = 1.25;
/// Normalized correlation above which a block counts as periodic (voiced).
pub const DEFAULT_CORRELATION_THRESHOLD: f32 = 0.8;
/// RMS below which a block counts as quiet and may be stretched whatever its correlation.
pub const QUIET_RMS: f32 = 1.0e-3;

/// What a stretch did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StretchOutcome {
    /// Samples written to the output.
    pub written: usize,
    /// The period removed or inserted, samples (0 when the block was copied unchanged).
    pub period: usize,
    /// Normalized correlation between the two periods that were overlapped.
    pub correlation: f32,
}

impl StretchOutcome {
    /// Whether the block was stretched.
    pub fn stretched(&self) -> bool {
        self.period > 0
    }
}

/// The time stretcher. One per stream; its scratch space is sized at construction.
#[derive(Debug, Clone)]
pub struct TimeStretcher {
    rate: u32,
    min_lag: usize,
    max_lag: usize,
    decim: usize,
    scratch: Vec<f32>,
    corr: Vec<f32>,
    threshold: f32,
}

fn ncc(a: &[f32], b: &[f32]) -> f32 {
    let mut ab = 0.0f32;
    let mut aa = 0.0f32;
    let mut bb = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    let d = (aa * bb).sqrt();
    if d <= f32::MIN_POSITIVE { 0.0 } else { ab / d }
}

impl TimeStretcher {
    /// A stretcher for mono audio at `sample_rate` (8 to 96 kHz).
    ///
    /// # Errors
    /// [`ConfigError::UnsupportedRate`] outside 8-96 kHz.
    pub fn new(sample_rate: u32) -> Result<Self, ConfigError> {
        if !(8_000..=96_000).contains(&sample_rate) {
            return Err(ConfigError::UnsupportedRate {
                rate: sample_rate,
                supported: "8000-96000",
            });
        }
        let min_lag = (MIN_PERIOD_S * sample_rate as f64).round() as usize;
        let max_lag = (MAX_PERIOD_S * sample_rate as f64).round() as usize;
        let decim = (sample_rate / 8_000).max(1) as usize;
        Ok(TimeStretcher {
            rate: sample_rate,
            min_lag,
            max_lag,
            decim,
            scratch: vec![0.0; 2 * max_lag / decim + 2],
            corr: vec![0.0; max_lag / decim + 2],
            threshold: DEFAULT_CORRELATION_THRESHOLD,
        })
    }

    /// Set the correlation a block needs before it is stretched without being forced.
    pub fn set_correlation_threshold(&mut self, threshold: f32) {
        self.threshold = threshold.clamp(0.0, 1.0);
    }

    /// The sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// The input length that lets every period be searched (two of the longest periods).
    pub fn min_input_len(&self) -> usize {
        2 * self.max_lag
    }

    /// The longest period that can be removed or inserted: [`expand_into`](Self::expand_into)
    /// writes at most `input.len()` plus this.
    pub fn max_period(&self) -> usize {
        self.max_lag
    }

    /// Find the pitch period of `x` (the lag `T` in the searched range, with `2T <= x.len()`,
    /// maximising the normalized correlation of `x[0..T]` and `x[T..2T]`). Returns `(T,
    /// correlation)`, or `(0, 0.0)` when `x` is too short for the shortest period.
    pub fn find_period(&mut self, x: &[f32]) -> (usize, f32) {
        // RT: fixed-size scratch, no allocation.
        let max_lag = self.max_lag.min(x.len() / 2);
        if max_lag < self.min_lag {
            return (0, 0.0);
        }
        let d = self.decim;
        // Coarse search on a box-filtered, decimated copy.
        let n_dec = (2 * max_lag / d).min(self.scratch.len());
        for (i, s) in self.scratch[..n_dec].iter_mut().enumerate() {
            let seg = &x[i * d..(i * d + d).min(x.len())];
            *s = seg.iter().sum::<f32>() / d as f32;
        }
        let (lo, hi) = (self.min_lag / d, max_lag / d);
        let mut c_max = f32::MIN;
        let hi = hi.min(n_dec / 2).min(self.corr.len() - 1);
        for lag in lo.max(1)..=hi {
            let c = ncc(&self.scratch[..lag], &self.scratch[lag..2 * lag]);
            self.corr[lag] = c;
            c_max = c_max.max(c);
        }
        // The shortest lag close to the best one: a multiple of the period correlates as well,
        // and removing or inserting one period is the smallest change.
        let mut best = (self.min_lag, f32::MIN);
        let lo = lo.max(1);
        for lag in lo..=hi {
            let c = self.corr[lag];
            let peak =
                (lag == lo || c >= self.corr[lag - 1]) && (lag == hi || c >= self.corr[lag + 1]);
            if peak && c >= c_max - 0.05 {
                best = (lag * d, self.corr[lag]);
                break;
            }
        }
        // Refine at full rate around the coarse pick.
        let centre = best.0;
        let mut fine = (0usize, f32::MIN);
        let from = centre.saturating_sub(d).max(self.min_lag);
        let to = (centre + d).min(max_lag);
        for lag in from..=to {
            let c = ncc(&x[..lag], &x[lag..2 * lag]);
            if c > fine.1 {
                fine = (lag, c);
            }
        }
        if fine.0 == 0 { (0, 0.0) } else { fine }
    }

    fn decide(&mut self, input: &[f32], force: bool) -> (usize, f32) {
        let (t, c) = self.find_period(input);
        if t == 0 {
            return (0, c);
        }
        let n = 2 * t;
        let rms = (input[..n].iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt();
        if force || c >= self.threshold || rms < QUIET_RMS {
            (t, c)
        } else {
            (0, c)
        }
    }

    /// Remove one pitch period from `input` into `output` (which needs `input.len()` samples).
    /// A block that is not periodic is copied unchanged unless `force` is set.
    ///
    /// # Errors
    /// [`ProcessError::BufferTooSmall`] when `output` is shorter than `input`.
    ///
    /// # Real-time safety
    /// No allocation, lock or I/O.
    pub fn accelerate_into(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        force: bool,
    ) -> Result<StretchOutcome, ProcessError> {
        // RT: arithmetic on caller buffers and preallocated scratch only.
        if output.len() < input.len() {
            return Err(ProcessError::BufferTooSmall {
                needed: input.len(),
                got: output.len(),
            });
        }
        let (t, c) = self.decide(input, force);
        if t == 0 {
            output[..input.len()].copy_from_slice(input);
            return Ok(StretchOutcome {
                written: input.len(),
                period: 0,
                correlation: c,
            });
        }
        for i in 0..t {
            let w = (i + 1) as f32 / (t + 1) as f32;
            output[i] = (1.0 - w) * input[i] + w * input[t + i];
        }
        let rest = &input[2 * t..];
        output[t..t + rest.len()].copy_from_slice(rest);
        Ok(StretchOutcome {
            written: input.len() - t,
            period: t,
            correlation: c,
        })
    }

    /// Insert one pitch period into `input`, writing to `output` (which needs `input.len() +
    /// max_period()` samples). A block that is not periodic is copied unchanged unless `force`
    /// is set.
    ///
    /// # Errors
    /// [`ProcessError::BufferTooSmall`] when `output` is too short.
    ///
    /// # Real-time safety
    /// No allocation, lock or I/O.
    pub fn expand_into(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        force: bool,
    ) -> Result<StretchOutcome, ProcessError> {
        // RT: arithmetic on caller buffers and preallocated scratch only.
        let needed = input.len() + self.max_lag;
        if output.len() < needed {
            return Err(ProcessError::BufferTooSmall {
                needed,
                got: output.len(),
            });
        }
        let (t, c) = self.decide(input, force);
        if t == 0 {
            output[..input.len()].copy_from_slice(input);
            return Ok(StretchOutcome {
                written: input.len(),
                period: 0,
                correlation: c,
            });
        }
        output[..t].copy_from_slice(&input[..t]);
        for i in 0..t {
            let w = (i + 1) as f32 / (t + 1) as f32;
            output[t + i] = (1.0 - w) * input[t + i] + w * input[i];
        }
        let rest = &input[t..];
        output[2 * t..2 * t + rest.len()].copy_from_slice(rest);
        Ok(StretchOutcome {
            written: input.len() + t,
            period: t,
            correlation: c,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voiced(rate: u32, f0: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                (1..6)
                    .map(|h| (std::f32::consts::TAU * f0 * h as f32 * t).sin() / h as f32)
                    .sum::<f32>()
                    * 0.3
            })
            .collect()
    }

    #[test]
    fn finds_the_period() {
        let mut s = TimeStretcher::new(48_000).expect("valid rate");
        let x = voiced(48_000, 150.0, 1440);
        let (t, c) = s.find_period(&x);
        assert!((t as i64 - 320).abs() <= 1, "period {t}");
        assert!(c > 0.99);
    }

    #[test]
    fn lengths_change_by_one_period() {
        let mut s = TimeStretcher::new(16_000).expect("valid rate");
        let x = voiced(16_000, 200.0, 480);
        let mut out = vec![0.0; 480 + s.max_period()];
        let a = s.accelerate_into(&x, &mut out, false).expect("sized");
        assert_eq!(a.written, 480 - a.period);
        assert!((a.period as i64 - 80).abs() <= 1, "period {}", a.period);
        let e = s.expand_into(&x, &mut out, false).expect("sized");
        assert_eq!(e.written, 480 + e.period);
    }

    #[test]
    fn noise_is_left_alone_unless_forced() {
        let mut s = TimeStretcher::new(16_000).expect("valid rate");
        let mut state = 12345u32;
        let x: Vec<f32> = (0..480)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let mut out = vec![0.0; 480 + s.max_period()];
        let a = s.accelerate_into(&x, &mut out, false).expect("sized");
        assert!(!a.stretched());
        assert_eq!(&out[..480], &x[..]);
        let f = s.accelerate_into(&x, &mut out, true).expect("sized");
        assert!(f.stretched());
    }

    #[test]
    fn rejects_small_output_and_bad_rate() {
        let mut s = TimeStretcher::new(8_000).expect("valid rate");
        let x = [0.0f32; 240];
        let mut out = [0.0f32; 100];
        assert!(s.accelerate_into(&x, &mut out, false).is_err());
        assert!(s.expand_into(&x, &mut out, false).is_err());
        assert!(TimeStretcher::new(1000).is_err());
    }
}
