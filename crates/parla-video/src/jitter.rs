//! Frame-delay jitter estimation for the render time, in the spirit of libwebrtc's jitter
//! estimator.
//!
//! For consecutive complete frames, the *frame delay* is how much later the second arrived than
//! its RTP timestamp says it should have: `d = (arrival_i - arrival_{i-1}) - (ts_i - ts_{i-1})`.
//! Part of it is explained by size: a frame `dS` bytes larger than the previous one needs
//! `dS / C` longer on a link of capacity `C`. A two-state Kalman filter tracks
//! `theta = [1/C, offset]` in the model `d = theta_0 * dS + theta_1 + noise`; the residual's
//! variance is the network noise. The jitter delay the receiver must add is what a large frame
//! needs over an average one, plus a noise margin:
//!
//! `jitter = theta_0 * (max_frame_size - avg_frame_size) + 2.33 * sigma_noise - 30 ms`
//!
//! clamped to `[min_jitter, max_jitter]` (2.33 sigma: the 99th percentile of a normal; the
//! offset removes the part of the noise the decoder's own slack covers, as libwebrtc does).
//! Residuals beyond four sigma are clipped so one delay spike does not blow the estimate up, and
//! frames that needed a retransmission are left out by the caller (their delay is the
//! retransmission's, not the network's jitter).

use std::time::Duration;

use parla_core::MediaTime;

/// Settings of a [`JitterEstimator`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// RTP clock rate of the video stream (90 kHz).
    pub clock_rate: u32,
    /// Smallest estimate returned.
    pub min_jitter: Duration,
    /// Largest estimate returned.
    pub max_jitter: Duration,
    /// Standard deviations of noise covered.
    pub noise_std_devs: f64,
    /// Subtracted from the noise margin.
    pub noise_offset_ms: f64,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            clock_rate: 90_000,
            min_jitter: Duration::from_millis(1),
            max_jitter: Duration::from_millis(500),
            noise_std_devs: 2.33,
            noise_offset_ms: 30.0,
        }
    }
}

/// The Kalman-filter frame-delay jitter estimator; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct JitterEstimator {
    cfg: JitterConfig,
    theta: [f64; 2],
    p: [[f64; 2]; 2],
    q: [f64; 2],
    avg_noise: f64,
    var_noise: f64,
    avg_size: f64,
    max_size: f64,
    prev: Option<(MediaTime, u32, usize)>,
    samples: u64,
}

impl JitterEstimator {
    /// A fresh estimator (1/C for 512 kbps, no noise).
    pub fn new(cfg: JitterConfig) -> Self {
        JitterEstimator {
            cfg,
            theta: [1.0 / (512e3 / 8.0) * 1000.0, 0.0],
            p: [[1e4, 0.0], [0.0, 1e2]],
            q: [2.5e-10, 1e-10],
            avg_noise: 0.0,
            var_noise: 4.0,
            avg_size: 500.0,
            max_size: 500.0,
            prev: None,
            samples: 0,
        }
    }

    /// Records a complete frame of `size` bytes with RTP timestamp `ts` that completed at
    /// `arrival`. Frames must come in timestamp order; a frame older than the previous one is
    /// ignored.
    ///
    /// # Real-time safety
    /// Arithmetic only.
    pub fn on_frame(&mut self, arrival: MediaTime, ts: u32, size: usize) {
        let size_f = size as f64;
        let Some((pa, pts, psize)) = self.prev else {
            self.prev = Some((arrival, ts, size));
            self.avg_size = size_f;
            self.max_size = size_f;
            return;
        };
        let dts = ts.wrapping_sub(pts) as i32;
        if dts <= 0 {
            return;
        }
        self.prev = Some((arrival, ts, size));
        let d_arrival = arrival.as_micros() as f64 / 1000.0 - pa.as_micros() as f64 / 1000.0;
        let d_ts = f64::from(dts) * 1000.0 / f64::from(self.cfg.clock_rate);
        let delay = d_arrival - d_ts;
        let ds = size_f - psize as f64;
        // Average and (slowly decaying) peak frame size; keyframe-sized frames do not pull the
        // average up.
        let large = size_f > 2.0 * self.avg_size && self.samples >= 5;
        if !large {
            self.avg_size = 0.97 * self.avg_size + 0.03 * size_f;
        }
        self.max_size = (0.9999 * self.max_size).max(size_f);
        self.samples += 1;

        let predicted = self.theta[0] * ds + self.theta[1];
        let limit = 4.0 * self.var_noise.sqrt().max(1.0);
        if large {
            // A large frame is what reveals the capacity: it updates the filter unclipped, and
            // its delay is not noise.
            self.kalman(delay, ds);
        } else {
            let clipped = (delay - predicted).clamp(-limit, limit);
            self.update_noise(clipped);
            self.kalman(predicted + clipped, ds);
        }
    }

    fn update_noise(&mut self, residual: f64) {
        let n = (self.samples as f64).min(300.0);
        let alpha = (n - 1.0).max(0.0) / n.max(1.0);
        self.avg_noise = alpha * self.avg_noise + (1.0 - alpha) * residual;
        let dev = residual - self.avg_noise;
        self.var_noise = (alpha * self.var_noise + (1.0 - alpha) * dev * dev).max(1.0);
    }

    fn kalman(&mut self, delay: f64, ds: f64) {
        // Predict: P += Q.
        self.p[0][0] += self.q[0];
        self.p[1][1] += self.q[1];
        // Measurement h = [ds, 1]; noise variance r scales with the noise estimate.
        let h = [ds, 1.0];
        let ph = [
            self.p[0][0] * h[0] + self.p[0][1] * h[1],
            self.p[1][0] * h[0] + self.p[1][1] * h[1],
        ];
        let r = self.var_noise.max(1.0);
        let s = h[0] * ph[0] + h[1] * ph[1] + r;
        if s.abs() < 1e-9 {
            return;
        }
        let k = [ph[0] / s, ph[1] / s];
        let err = delay - (h[0] * self.theta[0] + h[1] * self.theta[1]);
        self.theta[0] += k[0] * err;
        self.theta[1] += k[1] * err;
        // The capacity term cannot be negative (a larger frame never arrives sooner).
        if self.theta[0] < 1e-6 {
            self.theta[0] = 1e-6;
        }
        let hp = [
            h[0] * self.p[0][0] + h[1] * self.p[1][0],
            h[0] * self.p[0][1] + h[1] * self.p[1][1],
        ];
        for (i, ki) in k.iter().enumerate() {
            for (j, hpj) in hp.iter().enumerate() {
                self.p[i][j] -= ki * hpj;
            }
        }
    }

    /// The jitter delay to add before rendering.
    pub fn jitter(&self) -> Duration {
        if self.samples == 0 {
            return self.cfg.min_jitter;
        }
        let size_term = self.theta[0] * (self.max_size - self.avg_size).max(0.0);
        let noise =
            (self.cfg.noise_std_devs * self.var_noise.sqrt() - self.cfg.noise_offset_ms).max(1.0);
        let ms = size_term + noise;
        Duration::from_micros((ms * 1000.0) as u64).clamp(self.cfg.min_jitter, self.cfg.max_jitter)
    }

    /// The estimated link capacity seen by frames (from `theta_0`), bits per second.
    pub fn capacity_bps(&self) -> f64 {
        8.0 * 1000.0 / self.theta[0]
    }

    /// The estimated standard deviation of the frame-delay noise, milliseconds.
    pub fn noise_ms(&self) -> f64 {
        self.var_noise.sqrt()
    }

    /// Frames measured so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Frames of 30 fps over a link with `capacity` bps and per-frame random delay up to
    /// `jitter_ms`; returns the estimator.
    fn run(capacity: f64, jitter_ms: f64, seed: u64) -> JitterEstimator {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut j = JitterEstimator::new(JitterConfig::default());
        let mut last_arrival = 0.0f64;
        for i in 0..900u32 {
            let size: usize = if i % 150 == 0 {
                20_000
            } else {
                rng.random_range(1_500..2_500)
            };
            let send_ms = f64::from(i) * 1000.0 / 30.0;
            let tx_ms = size as f64 * 8.0 / capacity * 1000.0;
            let arrival = (send_ms + tx_ms + rng.random_range(0.0..=jitter_ms)).max(last_arrival);
            last_arrival = arrival;
            j.on_frame(
                MediaTime::from_micros((arrival * 1000.0) as u64 + 1_000_000),
                i * 3000,
                size,
            );
        }
        j
    }

    #[test]
    fn jitter_grows_with_network_noise_and_capacity_is_found() {
        let calm = run(2e6, 0.0, 1);
        let noisy = run(2e6, 80.0, 1);
        assert!(
            calm.jitter() < noisy.jitter(),
            "{:?} vs {:?}",
            calm.jitter(),
            noisy.jitter()
        );
        // Uniform 0..80 ms: sigma of the difference of two draws is about 33 ms.
        assert!(
            noisy.noise_ms() > 15.0 && noisy.noise_ms() < 60.0,
            "{}",
            noisy.noise_ms()
        );
        assert!(
            noisy.jitter() >= Duration::from_millis(40),
            "{:?}",
            noisy.jitter()
        );
        // No noise: the jitter is the large frames' extra transmission time (18 kB at 2 Mbps =
        // 72 ms), found through theta_0.
        let cap = calm.capacity_bps();
        assert!(cap > 1.0e6 && cap < 4.0e6, "capacity {cap}");
        assert!(
            calm.jitter() > Duration::from_millis(30),
            "{:?}",
            calm.jitter()
        );
    }
}
