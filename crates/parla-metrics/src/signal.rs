//! Signal-level metrics: SI-SDR, segmental SNR, RMS level (and, re-exported, delay estimation).

/// Scale-invariant signal-to-distortion ratio of `estimate` against `reference`, in dB
/// (Le Roux et al., "SDR - half-baked or well done?", ICASSP 2019). Both are zero-meaned first;
/// only the common length is used. Returns `f64::NEG_INFINITY` when either is silent.
pub fn si_sdr_db(reference: &[f32], estimate: &[f32]) -> f64 {
    let n = reference.len().min(estimate.len());
    if n == 0 {
        return f64::NEG_INFINITY;
    }
    let mean = |x: &[f32]| x[..n].iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let (mr, me) = (mean(reference), mean(estimate));
    let (mut dot, mut rr) = (0.0f64, 0.0f64);
    for i in 0..n {
        let r = f64::from(reference[i]) - mr;
        let e = f64::from(estimate[i]) - me;
        dot += r * e;
        rr += r * r;
    }
    if rr <= f64::MIN_POSITIVE {
        return f64::NEG_INFINITY;
    }
    let alpha = dot / rr;
    let (mut target, mut noise) = (0.0f64, 0.0f64);
    for i in 0..n {
        let r = f64::from(reference[i]) - mr;
        let e = f64::from(estimate[i]) - me;
        let t = alpha * r;
        target += t * t;
        noise += (e - t) * (e - t);
    }
    if target <= f64::MIN_POSITIVE {
        return f64::NEG_INFINITY;
    }
    if noise <= f64::MIN_POSITIVE {
        return f64::INFINITY;
    }
    10.0 * (target / noise).log10()
}

/// Segmental SNR in dB over frames of `frame` samples: the mean of per-frame SNRs clamped to
/// [-10, 35] dB (the usual limits), skipping frames where the reference is silent (below -60
/// dBFS).
pub fn segmental_snr_db(reference: &[f32], estimate: &[f32], frame: usize) -> f64 {
    let n = reference.len().min(estimate.len());
    if frame == 0 || n < frame {
        return f64::NAN;
    }
    let mut sum = 0.0;
    let mut count = 0usize;
    for start in (0..=n - frame).step_by(frame) {
        let r = &reference[start..start + frame];
        let e = &estimate[start..start + frame];
        let sig: f64 = r.iter().map(|&v| f64::from(v).powi(2)).sum();
        if sig / frame as f64 <= 1e-6 {
            continue;
        }
        let err: f64 = r
            .iter()
            .zip(e)
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum::<f64>()
            .max(1e-20);
        sum += (10.0 * (sig / err).log10()).clamp(-10.0, 35.0);
        count += 1;
    }
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

/// RMS level of `x` in dB relative to full scale (1.0); -200 for silence.
pub fn rms_db(x: &[f32]) -> f64 {
    if x.is_empty() {
        return -200.0;
    }
    let e: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64;
    if e <= 1e-20 { -200.0 } else { 10.0 * e.log10() }
}

/// The delay estimator lives in [`crate::delay`]; it is re-exported here, where it used to be.
pub use crate::delay::estimate_delay;

/// `delayed` with its first `lag` samples removed, and `reference` cut to the same length: the
/// two signals lined up sample for sample.
pub fn align<'a>(reference: &'a [f32], delayed: &'a [f32], lag: usize) -> (&'a [f32], &'a [f32]) {
    let d = delayed.get(lag..).unwrap_or(&[]);
    let n = reference.len().min(d.len());
    (&reference[..n], &d[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn si_sdr_is_scale_invariant_and_measures_added_noise() {
        let x: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        let scaled: Vec<f32> = x.iter().map(|v| v * 0.3).collect();
        assert!(si_sdr_db(&x, &scaled) > 100.0);
        // Noise at exactly -20 dB relative to the signal power: SI-SDR about 20 dB.
        let n = noise(x.len(), 1);
        let px: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
        let pn: f64 = n.iter().map(|&v| f64::from(v).powi(2)).sum();
        let g = ((px / pn) / 100.0).sqrt() as f32;
        let y: Vec<f32> = x.iter().zip(&n).map(|(a, b)| a + g * b).collect();
        let s = si_sdr_db(&x, &y);
        assert!((s - 20.0).abs() < 0.2, "{s}");
        assert_eq!(si_sdr_db(&[0.0; 10], &[1.0; 10]), f64::NEG_INFINITY);
    }

    #[test]
    fn delay_of_a_known_shift() {
        let x = noise(8000, 3);
        let mut y = vec![0.0; 137];
        y.extend_from_slice(&x);
        let (lag, c) = estimate_delay(&x, &y, 400);
        assert_eq!(lag, 137);
        assert!(c > 0.99);
        let (r, d) = align(&x, &y, lag);
        assert_eq!(r, d);
    }

    #[test]
    fn segmental_snr_and_levels() {
        let x: Vec<f32> = (0..4800).map(|i| (i as f32 * 0.1).sin()).collect();
        let y: Vec<f32> = x.iter().map(|v| v * 0.99).collect();
        let s = segmental_snr_db(&x, &y, 480);
        assert!((s - 35.0).abs() < 1e-9, "clamped at 35 dB: {s}");
        assert!((rms_db(&[0.5; 100]) + 6.0206).abs() < 1e-3);
        assert_eq!(rms_db(&[]), -200.0);
    }

    #[test]
    fn segmental_snr_of_a_known_error() {
        // y = 0.9 x: the error is 0.1 x in every frame, so every frame's SNR is exactly 20 dB.
        let x = noise(4800, 5);
        let y: Vec<f32> = x.iter().map(|v| v * 0.9).collect();
        let s = segmental_snr_db(&x, &y, 480);
        assert!((s - 20.0).abs() < 1e-3, "{s}");
        // Silent reference frames are skipped: a silent first half does not change the figure.
        let mut x2 = vec![0.0f32; 4800];
        x2.extend_from_slice(&x);
        let mut y2 = vec![0.0f32; 4800];
        y2.extend_from_slice(&y);
        assert!((segmental_snr_db(&x2, &y2, 480) - 20.0).abs() < 1e-3);
    }

    #[test]
    fn si_sdr_of_a_known_noise_mix_at_0_db() {
        // Equal-power orthogonal-ish noise: SI-SDR near 0 dB.
        let x = noise(96_000, 11);
        let n = noise(96_000, 12);
        let y: Vec<f32> = x.iter().zip(&n).map(|(a, b)| a + b).collect();
        let s = si_sdr_db(&x, &y);
        assert!(s.abs() < 0.2, "{s}");
    }
}
