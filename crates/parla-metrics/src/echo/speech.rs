//! Speech-like test signals synthesised from a seed, so tests need no recordings and no tools.
//!
//! A source-filter model: a glottal pulse train (varying pitch with intonation, declination and
//! jitter) or, for consonants, noise, through a cascade of three formant resonators whose targets
//! move from vowel to vowel, shaped by syllable envelopes and separated by pauses. It is not
//! intelligible, but it has what an echo canceller reacts to: a harmonic, non-stationary spectrum
//! with formants, on/off talk spurts and a speech-like crest factor.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// First three formants (Hz) of a few vowels (averages for adult speakers).
const VOWELS: [[f32; 3]; 6] = [
    [730.0, 1090.0, 2440.0], // a
    [530.0, 1840.0, 2480.0], // e
    [270.0, 2290.0, 3010.0], // i
    [570.0, 840.0, 2410.0],  // o
    [300.0, 870.0, 2240.0],  // u
    [660.0, 1720.0, 2410.0], // ae
];
const BANDWIDTHS: [f32; 3] = [80.0, 110.0, 160.0];
/// How far a fricative onset's RMS level lies below the vowel of its syllable, dB. Fricatives
/// are weaker than vowels in real speech; in the alsa-utils recordings (one voice, 48 kHz) the
/// 10 ms frames dominated by frication (zero-crossing rate above 5000 per second) are 10.9 dB
/// below the voiced frames (below 1200 per second) on average.
pub const FRICATIVE_BELOW_VOWEL_DB: f64 = 12.0;

/// Who is talking: sets the pitch range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Talker {
    /// Mean fundamental frequency, Hz (about 110 for a low voice, 210 for a high one).
    pub f0_hz: f32,
}

impl Talker {
    /// A low-pitched voice.
    pub const LOW: Talker = Talker { f0_hz: 115.0 };
    /// A high-pitched voice.
    pub const HIGH: Talker = Talker { f0_hz: 205.0 };
}

/// A two-pole resonator (constant peak gain), one formant.
#[derive(Debug, Clone, Copy, Default)]
struct Resonator {
    y1: f32,
    y2: f32,
}

impl Resonator {
    fn run(&mut self, x: f32, freq: f32, bw: f32, rate: f32) -> f32 {
        let r = (-std::f32::consts::PI * bw / rate).exp();
        let theta = std::f32::consts::TAU * freq.min(0.45 * rate) / rate;
        let a1 = 2.0 * r * theta.cos();
        let a2 = -r * r;
        let y = (1.0 - r) * x + a1 * self.y1 + a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Speech-like signal of `len` samples at `rate` Hz, talking only inside `spurts` (start and end
/// in seconds; silence elsewhere), with an active-speech RMS level of `level_dbfs`.
pub fn synthesize(
    rate: u32,
    len: usize,
    spurts: &[(f64, f64)],
    talker: Talker,
    level_dbfs: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let fs = rate as f32;
    let mut out = vec![0.0f32; len];
    for &(start, end) in spurts {
        let s0 = ((start * f64::from(rate)) as usize).min(len);
        let s1 = ((end * f64::from(rate)) as usize).min(len);
        let mut pos = s0;
        let mut vowel = VOWELS[rng.random_range(0..VOWELS.len())];
        let mut phase = 0.0f32;
        let mut glottal = [0.0f32; 2];
        let mut res = [Resonator::default(); 3];
        let mut fric = Resonator::default();
        let spurt_len = (s1 - s0).max(1) as f32;
        while pos < s1 {
            // One syllable: optional fricative onset, then a vowel moving towards a new target.
            let syl = ((rng.random_range(0.12f32..0.30) * fs) as usize).min(s1 - pos);
            let fric_len = if rng.random_bool(0.35) {
                ((rng.random_range(0.03f32..0.08) * fs) as usize).min(syl / 2)
            } else {
                0
            };
            let fric_freq = rng.random_range(2500.0f32..5000.0).min(0.4 * fs);
            let target = VOWELS[rng.random_range(0..VOWELS.len())];
            let syl_f0 = talker.f0_hz * rng.random_range(0.88f32..1.12);
            let amp = rng.random_range(0.6f32..1.0);
            // Each syllable is normalised to `amp` (RMS), so the level does not depend on how
            // the harmonics happen to meet the formant peaks.
            let mut buf = vec![0.0f32; syl];
            for (k, slot) in buf.iter_mut().enumerate() {
                let t = k as f32 / syl as f32;
                // Syllable envelope: 25 ms attack, 40 ms release (raised cosine).
                let att = (k as f32 / (0.025 * fs)).min(1.0);
                let rel = ((syl - k) as f32 / (0.04 * fs)).min(1.0);
                let env = amp
                    * 0.5
                    * (1.0 - (std::f32::consts::PI * att).cos())
                    * 0.5
                    * (1.0 - (std::f32::consts::PI * rel).cos());
                let sample = if k < fric_len {
                    let noise = rng.random_range(-1.0f32..1.0);
                    4.0 * fric.run(noise, fric_freq, 900.0, fs)
                } else {
                    // Formants glide over the first 30% of the vowel.
                    let g = ((t - fric_len as f32 / syl as f32) / 0.3).clamp(0.0, 1.0);
                    let f: [f32; 3] =
                        std::array::from_fn(|j| vowel[j] + (target[j] - vowel[j]) * g);
                    // Pitch: syllable f0, declination over the spurt, slow vibrato and jitter.
                    let decl = 1.0 - 0.15 * ((pos + k - s0) as f32 / spurt_len);
                    let f0 = syl_f0
                        * decl
                        * (1.0 + 0.04 * (std::f32::consts::TAU * 3.0 * k as f32 / fs).sin())
                        * (1.0 + rng.random_range(-0.01f32..0.01));
                    phase += f0 / fs;
                    let pulse = if phase >= 1.0 {
                        phase -= 1.0;
                        1.0
                    } else {
                        0.0
                    };
                    // Glottal spectral tilt: two one-pole low-passes, plus a little aspiration.
                    let src = pulse + 0.02 * rng.random_range(-1.0f32..1.0);
                    glottal[0] += 0.25 * (src - glottal[0]);
                    glottal[1] += 0.25 * (glottal[0] - glottal[1]);
                    let mut v = 0.0;
                    let mut x = glottal[1];
                    for (j, r) in res.iter_mut().enumerate() {
                        x = r.run(x, f[j], BANDWIDTHS[j], fs);
                        v += x * [1.0, 0.6, 0.3][j];
                    }
                    v
                };
                *slot = env * sample;
            }
            // The fricative is generated at an arbitrary level: set it FRICATIVE_BELOW_VOWEL_DB
            // below the vowel's RMS before the syllable is normalised (without this the noise
            // burst carried most of the syllable's energy and squeezed the vowel).
            let (fric_part, vowel_part) = buf.split_at_mut(fric_len);
            let (rf, rv) = (rms_f32(fric_part), rms_f32(vowel_part));
            if rf > 0.0 && rv > 0.0 {
                let g = (10f64.powf(-FRICATIVE_BELOW_VOWEL_DB / 20.0) * rv / rf) as f32;
                fric_part.iter_mut().for_each(|v| *v *= g);
            }
            let rms = rms_f32(&buf);
            if rms > 0.0 {
                let g = amp / rms as f32;
                for (o, v) in out[pos..pos + syl].iter_mut().zip(&buf) {
                    *o = g * v;
                }
            }
            vowel = target;
            pos += syl;
            // Pause between syllables (short) or words (longer).
            let gap = if rng.random_bool(0.3) {
                rng.random_range(0.08f32..0.25)
            } else {
                rng.random_range(0.01f32..0.04)
            };
            pos += (gap * fs) as usize;
        }
    }
    normalize_active(&mut out, rate, level_dbfs);
    out
}

/// RMS of `x` (0 when empty).
fn rms_f32(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Scale `x` so the RMS of its active 10 ms frames (within 40 dB of the loudest) is `level_dbfs`.
fn normalize_active(x: &mut [f32], rate: u32, level_dbfs: f64) {
    let frame = (rate / 100).max(1) as usize;
    let energies: Vec<f64> = x
        .chunks_exact(frame)
        .map(|c| c.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / frame as f64)
        .collect();
    let peak = energies.iter().copied().fold(0.0f64, f64::max);
    if peak <= 0.0 {
        return;
    }
    let active: Vec<f64> = energies.into_iter().filter(|&e| e >= peak * 1e-4).collect();
    let mean = active.iter().sum::<f64>() / active.len().max(1) as f64;
    let gain = (10f64.powf(level_dbfs / 20.0) / mean.sqrt()) as f32;
    x.iter_mut().for_each(|v| *v *= gain);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::rms_db;
    use rand::SeedableRng;

    #[test]
    fn speech_is_silent_outside_spurts_and_at_the_asked_level() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x = synthesize(16_000, 48_000, &[(0.5, 2.5)], Talker::LOW, -26.0, &mut rng);
        assert!(x[..8000].iter().all(|&v| v == 0.0));
        assert!(x[41_000..].iter().all(|&v| v == 0.0));
        let active = rms_db(&x[8000..40_000]);
        assert!((-32.0..-24.0).contains(&active), "{active}");
        assert!(x.iter().all(|v| v.abs() < 1.0));
        // Same seed, same signal; another seed, another signal.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let y = synthesize(16_000, 48_000, &[(0.5, 2.5)], Talker::LOW, -26.0, &mut rng);
        assert_eq!(x, y);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let z = synthesize(16_000, 48_000, &[(0.5, 2.5)], Talker::LOW, -26.0, &mut rng);
        assert_ne!(x, z);
    }
}
