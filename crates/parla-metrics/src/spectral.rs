//! Spectral metrics: the log-spectral distance.
//!
//! The FFT comes from `rustfft` (the FFT crate that the resampler, rubato, already builds on):
//! a solved job, so it is not written here.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// Power floor per bin (relative to a full-scale sine's bin power, about -100 dB), so silent bins
/// give a finite distance.
const POWER_FLOOR: f64 = 1e-10;

/// Log-spectral distance in dB between `reference` and `estimate` (same rate, sample-aligned):
/// frames of `frame` samples (Hann window, hop `frame / 2`), per frame
/// `sqrt(mean over bins (10 log10 P_ref - 10 log10 P_est)^2)`, averaged over the frames where the
/// reference is active (within 50 dB of its loudest frame). Power is floored at -100 dB per bin.
///
/// 0 for identical signals; a gain `g` on the estimate gives `|20 log10 g|` (away from the floor).
/// Returns NaN when the signals are shorter than one frame or the reference is silent.
pub fn log_spectral_distance_db(reference: &[f32], estimate: &[f32], frame: usize) -> f64 {
    let n = reference.len().min(estimate.len());
    if frame < 4 || n < frame {
        return f64::NAN;
    }
    let hop = frame / 2;
    let window: Vec<f64> = (0..frame)
        .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / frame as f64).cos())
        .collect();
    let win_energy: f64 = window.iter().map(|w| w * w).sum();
    let fft = FftPlanner::<f64>::new().plan_fft_forward(frame);
    let bins = frame / 2 + 1;
    let mut buf = vec![Complex::new(0.0, 0.0); frame];
    let mut spec = |x: &[f32], out: &mut Vec<f64>| {
        for (b, (&v, &w)) in buf.iter_mut().zip(x.iter().zip(&window)) {
            *b = Complex::new(f64::from(v) * w, 0.0);
        }
        fft.process(&mut buf);
        out.clear();
        // Normalised so a full-scale sine's peak bin is about 0.25 (the floor is relative to it).
        out.extend(
            buf[..bins]
                .iter()
                .map(|c| (c.norm_sqr() / (win_energy * frame as f64)).max(POWER_FLOOR)),
        );
    };
    let starts: Vec<usize> = (0..=n - frame).step_by(hop).collect();
    let energy = |s: usize| -> f64 {
        reference[s..s + frame]
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum()
    };
    let peak = starts.iter().map(|&s| energy(s)).fold(0.0, f64::max);
    if peak <= 0.0 {
        return f64::NAN;
    }
    let gate = peak * 1e-5;
    let (mut pr, mut pe) = (Vec::with_capacity(bins), Vec::with_capacity(bins));
    let (mut sum, mut count) = (0.0, 0usize);
    for &s in &starts {
        if energy(s) < gate {
            continue;
        }
        spec(&reference[s..s + frame], &mut pr);
        spec(&estimate[s..s + frame], &mut pe);
        let d: f64 = pr
            .iter()
            .zip(&pe)
            .map(|(&a, &b)| (10.0 * (a / b).log10()).powi(2))
            .sum::<f64>()
            / bins as f64;
        sum += d.sqrt();
        count += 1;
    }
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
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
    fn identical_signals_have_zero_distance() {
        let x = noise(16_000, 1);
        assert!(log_spectral_distance_db(&x, &x, 512).abs() < 1e-9);
    }

    #[test]
    fn a_gain_gives_its_level_difference() {
        let x = noise(16_000, 2);
        let y: Vec<f32> = x.iter().map(|v| v * 0.5).collect();
        let d = log_spectral_distance_db(&x, &y, 512);
        assert!((d - 6.0206).abs() < 1e-3, "{d}");
        let y: Vec<f32> = x.iter().map(|v| v * 10.0).collect();
        let d = log_spectral_distance_db(&x, &y, 256);
        assert!((d - 20.0).abs() < 1e-3, "{d}");
    }

    #[test]
    fn independent_noise_is_far_and_degenerate_inputs_are_nan() {
        let x = noise(16_000, 3);
        let y = noise(16_000, 4);
        let d = log_spectral_distance_db(&x, &y, 512);
        // Two independent white noises: per-bin log ratio of two exponential variables, about
        // 7 dB RMS (the spread of 10 log10 of a chi-squared(2) ratio).
        assert!(d > 5.0 && d < 9.0, "{d}");
        assert!(log_spectral_distance_db(&x[..100], &y[..100], 512).is_nan());
        assert!(log_spectral_distance_db(&[0.0; 2048], &y[..2048], 512).is_nan());
    }
}
