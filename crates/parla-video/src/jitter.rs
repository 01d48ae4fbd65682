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
//!
//! **Keyframes** are left out of the size statistics and the filter. A keyframe is several times
//! a delta frame (five at most with Parla's encoder settings) and rare (the first frame, a
//! decoder's request, a size change): budgeting its extra transmission time on every frame would
//! add that time (100 ms and more at 720p) to the whole call's delay, as a peak frame size that
//! decays over minutes does. Instead a keyframe arrives late once (the frame buffer releases a
//! late frame at once) and the delta frames queued behind it catch up. The frames that arrive
//! in that catch-up (more than 5 ms sooner after the previous frame than their timestamps say)
//! are left out of the filter too: they measure the keyframe's queue, not the network. The peak
//! delta-frame size decays with a half-life of about 4.6 s (0.995 per frame).

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
    /// Frames left out in the current catch-up after a keyframe (0: none).
    catching_up: u32,
}

/// A catch-up after a keyframe ends with the first delta frame that does not arrive this much
/// sooner than its timestamp says (after the previous frame), ms.
const CATCH_UP_MS: f64 = 5.0;
/// Frames left out after a keyframe at most (a second at 30 fps), whatever the backlog.
const MAX_CATCH_UP_FRAMES: u32 = 30;
/// Per-frame decay of the peak delta-frame size (half-life about 140 frames).
const MAX_SIZE_DECAY: f64 = 0.995;

impl JitterEstimator {
    /// A fresh estimator (1/C for 512 kbps, no noise).
    pub fn new(cfg: JitterConfig) -> Self {
        JitterEstimator {
            cfg,
            theta: [1.0 / (512e3 / 8.0) * 1000.0, 0.0],
            // A small prior variance of the slope (libwebrtc's): with a large one, the first
            // frames' tiny size differences swing it wildly (measured: 56 ms of jitter from one
            // 8-byte difference at the start of a 720p stream).
            p: [[1e-4, 0.0], [0.0, 1e2]],
            q: [2.5e-10, 1e-10],
            avg_noise: 0.0,
            var_noise: 4.0,
            avg_size: 500.0,
            max_size: 500.0,
            prev: None,
            samples: 0,
            catching_up: 0,
        }
    }

    /// Records a complete frame of `size` bytes with RTP timestamp `ts` that completed at
    /// `arrival` (`keyframe`: it is one). Frames must come in timestamp order; a frame older
    /// than the previous one is ignored.
    ///
    /// # Real-time safety
    /// Arithmetic only.
    pub fn on_frame(&mut self, arrival: MediaTime, ts: u32, size: usize, keyframe: bool) {
        let size_f = size as f64;
        let Some((pa, pts, psize)) = self.prev else {
            self.prev = Some((arrival, ts, size));
            self.catching_up = u32::from(keyframe);
            return;
        };
        let dts = ts.wrapping_sub(pts) as i32;
        if dts <= 0 {
            return;
        }
        self.prev = Some((arrival, ts, size));
        if keyframe {
            // Its extra time is not the network's jitter: left out, and the delta frames
            // queued behind it are left out while they catch up.
            self.catching_up = 1;
            return;
        }
        let d_arrival = arrival.as_micros() as f64 / 1000.0 - pa.as_micros() as f64 / 1000.0;
        let d_ts = f64::from(dts) * 1000.0 / f64::from(self.cfg.clock_rate);
        let delay = d_arrival - d_ts;
        if self.catching_up > 0 {
            // Still arriving faster than the timestamps say: the keyframe's queue drains.
            if delay < -CATCH_UP_MS && self.catching_up < MAX_CATCH_UP_FRAMES {
                self.catching_up += 1;
            } else {
                // Drained; sizes are compared from the next frame on, between delta frames.
                self.catching_up = 0;
            }
            return;
        }
        let ds = size_f - psize as f64;
        // The running mean over the first frames, then an exponential average.
        let w = (1.0 / (self.samples + 1) as f64).max(0.03);
        self.avg_size = (1.0 - w) * self.avg_size + w * size_f;
        self.max_size = if self.samples == 0 {
            size_f
        } else {
            (MAX_SIZE_DECAY * self.max_size).max(size_f)
        };
        self.samples += 1;

        let predicted = self.theta[0] * ds + self.theta[1];
        let limit = 4.0 * self.var_noise.sqrt().max(1.0);
        let clipped = (delay - predicted).clamp(-limit, limit);
        self.update_noise(clipped);
        self.kalman(predicted + clipped, ds);
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
    /// `jitter_ms`, a 20 kB frame every `large_every` frames (flagged as a keyframe when `key`),
    /// sent through one queue (a frame waits for the one before it); returns the estimator.
    fn run(capacity: f64, jitter_ms: f64, large_every: u32, key: bool) -> JitterEstimator {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut j = JitterEstimator::new(JitterConfig::default());
        let mut link_free = 0.0f64;
        let mut last_arrival = 0.0f64;
        for i in 0..900u32 {
            let large = i % large_every == 0;
            let size: usize = if large {
                20_000
            } else {
                rng.random_range(1_500..2_500)
            };
            let send_ms = f64::from(i) * 1000.0 / 30.0;
            let tx_ms = size as f64 * 8.0 / capacity * 1000.0;
            link_free = link_free.max(send_ms) + tx_ms;
            let arrival = (link_free + rng.random_range(0.0..=jitter_ms)).max(last_arrival);
            last_arrival = arrival;
            j.on_frame(
                MediaTime::from_micros((arrival * 1000.0) as u64 + 1_000_000),
                i * 3000,
                size,
                large && key,
            );
        }
        j
    }

    #[test]
    fn jitter_grows_with_network_noise_and_capacity_is_found() {
        let calm = run(2e6, 0.0, 100, true);
        let noisy = run(2e6, 80.0, 100, true);
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
        // 2.33 sigma - 30 ms: about 45 ms (less: the queue evens out some of the noise).
        assert!(
            noisy.jitter() >= Duration::from_millis(30),
            "{:?}",
            noisy.jitter()
        );
        // The delta frames' size differences (up to 1 kB, 4 ms at 2 Mbps) reveal the capacity.
        let cap = calm.capacity_bps();
        assert!(cap > 1.0e6 && cap < 4.0e6, "capacity {cap}");
    }

    #[test]
    fn keyframes_do_not_raise_the_delay_of_every_frame() {
        // No noise, a 20 kB keyframe every 100 frames (72 ms more than a delta frame at
        // 2 Mbps): only the delta frames' size spread counts (1 kB: 4 ms), not the keyframes'.
        let keyed = run(2e6, 0.0, 100, true);
        assert!(
            keyed.jitter() < Duration::from_millis(10),
            "{:?}",
            keyed.jitter()
        );
        // The same large frames as delta frames (a scene change): they are part of the
        // stream's spread, and the peak size (decaying 0.995 per frame) keeps their extra
        // transmission time in the estimate.
        let large = run(2e6, 0.0, 100, false);
        assert!(
            large.jitter() > Duration::from_millis(30),
            "{:?}",
            large.jitter()
        );
    }
}
