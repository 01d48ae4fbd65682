//! Shared test support: seeded noise, mixing (bundled samples and seeds come from
//! parla-testkit).
#![allow(dead_code, unused_imports, clippy::unwrap_used)] // each test uses a subset

pub use parla_testkit::seed::seed;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Read a bundled mono sample as f32 in [-1, 1], with its rate.
pub fn read_sample(name: &str) -> (Vec<f32>, u32) {
    let wav = parla_testkit::speech::sample(name).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wav.channels, 1, "{name}");
    (wav.samples, wav.rate)
}

/// Gaussian-ish white noise (sum of uniforms), unit-ish variance.
pub fn white_noise(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>() * 0.866)
        .collect()
}

/// Babble-like noise: several independent white-noise sources through different resonators
/// with slow random amplitude envelopes (a crowd of talkers' spectral and level fluctuation).
pub fn babble_noise(n: usize, rate: u32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![0.0f32; n];
    for talker in 0..6 {
        let src = white_noise(n, seed.wrapping_add(talker + 1));
        let f0 = rng.random_range(300.0f32..2500.0);
        let r = 0.97f32;
        let w = 2.0 * std::f32::consts::PI * f0 / rate as f32;
        let (a1, a2) = (2.0 * r * w.cos(), -r * r);
        let (mut y1, mut y2) = (0.0f32, 0.0f32);
        let syll = rng.random_range(3.0f32..6.0);
        let phase = rng.random_range(0.0f32..std::f32::consts::TAU);
        for (i, o) in out.iter_mut().enumerate() {
            let y = src[i] * (1.0 - r) + a1 * y1 + a2 * y2;
            y2 = y1;
            y1 = y;
            let t = i as f32 / rate as f32;
            let env = (0.5 + 0.5 * (2.0 * std::f32::consts::PI * syll * t + phase).sin()).powi(2);
            *o += y * env;
        }
    }
    out
}

/// `clean + g * noise` with `g` chosen for exactly `snr_db`.
pub fn mix_at_snr(clean: &[f32], noise: &[f32], snr_db: f64) -> Vec<f32> {
    let p = |x: &[f32]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64;
    let g = (p(clean) / (p(&noise[..clean.len()]) * 10f64.powf(snr_db / 10.0))).sqrt() as f32;
    clean.iter().zip(noise).map(|(c, n)| c + g * n).collect()
}

/// A sine of `freq` Hz, amplitude `amp`, `n` samples at `rate`.
pub fn sine(freq: f64, amp: f32, rate: u32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32
        })
        .collect()
}

/// Pink (1/f) noise: white noise through Paul Kellet's refined pink filter (fan, air-conditioning
/// and road noise are close to pink).
pub fn pink_noise(n: usize, seed: u64) -> Vec<f32> {
    let w = white_noise(n, seed);
    let mut b = [0.0f32; 7];
    w.iter()
        .map(|&x| {
            b[0] = 0.99886 * b[0] + x * 0.055_517_9;
            b[1] = 0.99332 * b[1] + x * 0.075_075_9;
            b[2] = 0.96900 * b[2] + x * 0.153_852;
            b[3] = 0.86650 * b[3] + x * 0.310_485_6;
            b[4] = 0.55000 * b[4] + x * 0.532_952_2;
            b[5] = -0.7616 * b[5] - x * 0.016_898;
            let y = b.iter().sum::<f32>() + x * 0.5362;
            b[6] = x * 0.115926;
            y
        })
        .collect()
}
