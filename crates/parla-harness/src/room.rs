//! Image-method room impulse responses (Allen and Berkley, "Image method for efficiently
//! simulating small-room acoustics", JASA 65(4), 1979), for the echo cases of the `aec` suite
//! that model a laptop or desktop in a furnished office or living room.
//!
//! A shoebox room with one frequency-independent pressure reflection coefficient on every wall,
//! derived from the reverberation time by Sabine's formula (`alpha = 0.161 V / (S T60)`,
//! `beta = sqrt(1 - alpha)`). Every image source `(n, l, m, u, v, w)` within the response length
//! contributes `beta^k / (4 pi d)` at delay `d / c`, where `k` counts its wall reflections; the
//! fractional delay is a Hann-windowed sinc of `SINC_HALF` samples each side, tabulated at
//! 1/256 sample (Peterson 1986 rather than Allen and Berkley's rounding to the nearest sample). A one-pole high-pass at 40 Hz
//! removes the DC the positive image sum builds up, as Allen and Berkley's own high-pass does.
//! Everything is deterministic: the geometry comes from the caller (the corpus draws it from the
//! case seed).

use std::f64::consts::PI;

use parla_metrics::echo::room::EchoPath;

/// Speed of sound, m/s.
pub const SPEED_OF_SOUND: f64 = 343.0;

/// Half-width of the fractional-delay interpolator, samples.
const SINC_HALF: i64 = 8;

/// A shoebox room with a loudspeaker and a microphone in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShoeboxRoom {
    /// Room size (x, y, z), metres.
    pub dims: [f64; 3],
    /// Loudspeaker position, metres.
    pub source: [f64; 3],
    /// Microphone position, metres.
    pub mic: [f64; 3],
    /// Reverberation time (decay by 60 dB), seconds.
    pub rt60_s: f64,
}

impl ShoeboxRoom {
    /// The walls' pressure reflection coefficient from Sabine's formula (absorption clamped to
    /// 0.01..=0.99).
    pub fn reflection(&self) -> f64 {
        let [x, y, z] = self.dims;
        let volume = x * y * z;
        let surface = 2.0 * (x * y + x * z + y * z);
        let alpha = (0.161 * volume / (surface * self.rt60_s.max(0.01))).clamp(0.01, 0.99);
        (1.0 - alpha).sqrt()
    }

    /// Whether both positions lie inside the room, off the walls.
    pub fn is_valid(&self) -> bool {
        (0..3).all(|i| {
            let l = self.dims[i];
            l > 0.5
                && (0.0..l).contains(&self.source[i])
                && (0.0..l).contains(&self.mic[i])
                && self.source[i] > 0.0
                && self.mic[i] > 0.0
        }) && self.rt60_s > 0.0
    }
}

/// The impulse response from loudspeaker to microphone at `rate`, `length_s` long (the direct
/// sound at its propagation delay), unnormalised (the direct path's gain is `1 / (4 pi d)`).
pub fn image_response(room: &ShoeboxRoom, rate: u32, length_s: f64) -> Vec<f32> {
    let fs = f64::from(rate);
    let len = (length_s * fs).ceil() as usize;
    let mut h = vec![0.0f64; len + 2 * SINC_HALF as usize];
    let beta = room.reflection();
    let max_dist = length_s * SPEED_OF_SOUND;
    let [lx, ly, lz] = room.dims;
    let nmax = |l: f64| (max_dist / (2.0 * l)).ceil() as i64 + 1;
    let (nx, ny, nz) = (nmax(lx), nmax(ly), nmax(lz));
    // Per axis: offset of the image along it and its reflection count, for every (n, u).
    let axis = |l: f64, s: f64, m: f64, n_max: i64| -> Vec<(f64, i32)> {
        let mut v = Vec::new();
        for n in -n_max..=n_max {
            for u in 0..2i64 {
                let pos = (1 - 2 * u) as f64 * s + 2.0 * n as f64 * l;
                let refl = ((n - u).abs() + n.abs()) as i32;
                v.push((pos - m, refl));
            }
        }
        v
    };
    let ax = axis(lx, room.source[0], room.mic[0], nx);
    let ay = axis(ly, room.source[1], room.mic[1], ny);
    let az = axis(lz, room.source[2], room.mic[2], nz);
    let max2 = max_dist * max_dist;
    let table = sinc_table();
    for &(dx, kx) in &ax {
        let dx2 = dx * dx;
        if dx2 > max2 {
            continue;
        }
        for &(dy, ky) in &ay {
            let dxy2 = dx2 + dy * dy;
            if dxy2 > max2 {
                continue;
            }
            for &(dz, kz) in &az {
                let d2 = dxy2 + dz * dz;
                if d2 > max2 {
                    continue;
                }
                let d = d2.sqrt().max(0.01);
                let gain = beta.powi(kx + ky + kz) / (4.0 * PI * d);
                add_fractional(&mut h, &table, d / SPEED_OF_SOUND * fs, gain);
            }
        }
    }
    // One-pole high-pass (DC blocker) at 40 Hz.
    let r = (-2.0 * PI * 40.0 / fs).exp();
    let (mut x1, mut y1) = (0.0, 0.0);
    let mut out = Vec::with_capacity(len);
    for &x in h.iter().skip(SINC_HALF as usize).take(len) {
        let y = x - x1 + r * y1;
        x1 = x;
        y1 = y;
        out.push(y as f32);
    }
    out
}

/// Sub-sample phases of the interpolator table: an image's delay is rounded to 1/`PHASES` of a
/// sample (an error below 0.002 samples, far below the sinc's own accuracy at high frequencies).
const PHASES: usize = 256;

/// The Hann-windowed sinc of every phase: row `p` holds the taps `j = 1 - SINC_HALF ..=
/// SINC_HALF` of an impulse `p / PHASES` of a sample after an integer position.
fn sinc_table() -> Vec<[f64; 2 * SINC_HALF as usize]> {
    (0..PHASES)
        .map(|p| {
            let frac = p as f64 / PHASES as f64;
            let mut row = [0.0; 2 * SINC_HALF as usize];
            for (slot, j) in row.iter_mut().zip((1 - SINC_HALF)..=SINC_HALF) {
                let x = j as f64 - frac;
                let sinc = if x.abs() < 1e-9 {
                    1.0
                } else {
                    (PI * x).sin() / (PI * x)
                };
                let w = 0.5 + 0.5 * (PI * x / (SINC_HALF as f64 + 1.0)).cos();
                *slot = sinc * w;
            }
            row
        })
        .collect()
}

/// Add an impulse of `gain` at fractional position `t` (in samples, offset by [`SINC_HALF`] in
/// `h`) through the interpolator of [`sinc_table`].
fn add_fractional(h: &mut [f64], table: &[[f64; 2 * SINC_HALF as usize]], t: f64, gain: f64) {
    let mut k0 = t.floor() as i64;
    let mut p = ((t - k0 as f64) * PHASES as f64).round() as usize;
    if p == PHASES {
        k0 += 1;
        p = 0;
    }
    // h[k0 + j + SINC_HALF] for j = 1 - SINC_HALF ..= SINC_HALF.
    let Ok(first) = usize::try_from(k0 + 1) else {
        return;
    };
    for (slot, tap) in h.iter_mut().skip(first).zip(&table[p]) {
        *slot += gain * tap;
    }
}

/// `x` through the response `h` (same length as `x`), by the partitioned FFT convolution of
/// `parla-metrics` (`h` gets one block of leading zeros, removed again from the output).
pub fn convolve_dense(x: &[f32], h: &[f32], rate: u32) -> Vec<f32> {
    let block = (rate / 100).max(1) as usize;
    let mut taps = vec![0.0f32; block];
    taps.extend_from_slice(h);
    let mut path = EchoPath::new(&taps, block);
    let mut y = Vec::with_capacity(x.len() + 2 * block);
    // The echo of block k + 1 is known after block k is pushed: the first block of output is
    // the echo of nothing, and the one-block lead in `taps` delays everything by one block.
    y.extend(std::iter::repeat_n(0.0, block));
    for chunk in x.chunks(block) {
        path.push_played(chunk);
        y.extend_from_slice(path.next_echo());
    }
    path.push_played(&[]);
    y.extend_from_slice(path.next_echo());
    // y[i] = (taps * x)[i] = (h * x)[i - block].
    y.drain(..block);
    y.truncate(x.len());
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> ShoeboxRoom {
        ShoeboxRoom {
            dims: [4.0, 3.5, 2.7],
            source: [1.2, 1.0, 0.9],
            mic: [1.2, 1.3, 1.1],
            rt60_s: 0.4,
        }
    }

    #[test]
    fn direct_path_at_its_delay_and_gain() {
        let r = room();
        assert!(r.is_valid());
        let rate = 16_000;
        let h = image_response(&r, rate, 0.05);
        let d = (0.3f64 * 0.3 + 0.2 * 0.2).sqrt();
        let t = d / SPEED_OF_SOUND * f64::from(rate);
        let (peak, v) = h
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, v)| (i, *v))
            .unwrap();
        assert!((peak as f64 - t).abs() <= 1.0, "peak {peak} vs {t}");
        let g = 1.0 / (4.0 * PI * d);
        assert!((f64::from(v) / g - 1.0).abs() < 0.3, "{v} vs {g}");
    }

    #[test]
    fn decays_at_the_rt60() {
        // Schroeder backward integration: the energy decay from -5 to -25 dB gives T20 * 3.
        let r = room();
        let rate = 8_000;
        let h = image_response(&r, rate, 0.6);
        let mut edc: Vec<f64> = h.iter().map(|v| f64::from(*v).powi(2)).collect();
        for i in (0..edc.len() - 1).rev() {
            edc[i] += edc[i + 1];
        }
        let db = |i: usize| 10.0 * (edc[i] / edc[0]).log10();
        let t5 = (0..edc.len()).find(|&i| db(i) < -5.0).unwrap();
        let t25 = (0..edc.len()).find(|&i| db(i) < -25.0).unwrap();
        let rt = (t25 - t5) as f64 / f64::from(rate) * 3.0;
        // Sabine overestimates in a shoebox with equal walls only mildly.
        assert!((0.25..0.55).contains(&rt), "rt60 from T20: {rt}");
    }

    #[test]
    fn fft_convolution_matches_direct() {
        let h: Vec<f32> = (0..300)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 50.0)
            .collect();
        let x: Vec<f32> = (0..1000)
            .map(|i| ((i * 11 % 17) as f32 - 8.0) / 9.0)
            .collect();
        let y = convolve_dense(&x, &h, 16_000);
        assert_eq!(y.len(), x.len());
        for n in [0usize, 1, 159, 160, 299, 500, 999] {
            let direct: f32 = (0..=n.min(h.len() - 1)).map(|k| h[k] * x[n - k]).sum();
            assert!((y[n] - direct).abs() < 1e-3, "n {n}: {} vs {direct}", y[n]);
        }
    }
}
