//! Encoder control: a target bitrate (from the bitrate allocator) to the encoder's resolution and
//! frame rate, in the manner of libwebrtc's "balanced" degradation preference.
//!
//! The policy walks one ladder of rungs. The first rungs keep the full frame rate and step the
//! resolution down (scale 1, 3/4, 1/2, 3/8, 1/4 of the capture size); below the smallest
//! resolution the frame rate steps down (2/3, 1/2, 1/3 of the maximum, not below `min_fps`).
//! So resolution is given up before smoothness of motion, as in balanced mode. Each rung needs
//! `width x height x fps x bits_per_pixel` bits per second.
//!
//! Hysteresis keeps the encoder from flapping: the policy steps down as soon as the target falls
//! below the current rung's need, but steps up only when the target exceeds the higher rung's
//! need by `up_margin` and has done so without a break for `up_hold`.

use std::time::Duration;

use parla_core::{ConfigError, MediaTime};

/// Most rungs a ladder has.
pub const MAX_RUNGS: usize = 8;

/// What the encoder should run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Encoded width (even).
    pub width: u32,
    /// Encoded height (even).
    pub height: u32,
    /// Frame rate.
    pub fps: u32,
    /// Target bitrate, bits per second.
    pub bitrate_bps: u32,
}

/// Settings of an [`EncoderControl`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControlConfig {
    /// Capture (largest) width.
    pub max_width: u32,
    /// Capture (largest) height.
    pub max_height: u32,
    /// Largest frame rate.
    pub max_fps: u32,
    /// Smallest frame rate the ladder goes to.
    pub min_fps: u32,
    /// Bits per pixel a rung needs (0.04 suits H.264 and VP8 at call quality: 720p30 needs
    /// 1.1 Mbit/s and is stepped up to from 1.44 Mbit/s, 960x540 from 0.81 Mbit/s, close to
    /// libwebrtc's resolution bitrate limits for its balanced mode).
    pub bits_per_pixel: f64,
    /// Factor by which the target must exceed a higher rung's need before stepping up.
    pub up_margin: f64,
    /// How long the target must stay above that before stepping up.
    pub up_hold: Duration,
}

impl ControlConfig {
    /// Defaults for a capture size and frame rate: 0.04 bits per pixel, min 5 fps, step up at
    /// 1.3 x the need after 2 s.
    pub fn new(max_width: u32, max_height: u32, max_fps: u32) -> Self {
        ControlConfig {
            max_width,
            max_height,
            max_fps,
            min_fps: 5,
            bits_per_pixel: 0.04,
            up_margin: 1.3,
            up_hold: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Rung {
    width: u32,
    height: u32,
    fps: u32,
    need_bps: u32,
}

/// The balanced-degradation policy; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct EncoderControl {
    cfg: ControlConfig,
    rungs: [Rung; MAX_RUNGS],
    count: usize,
    current: usize,
    bitrate: u32,
    above_since: Option<MediaTime>,
}

fn even(x: u32) -> u32 {
    (x & !1).max(2)
}

impl EncoderControl {
    /// A policy starting at the top rung.
    ///
    /// # Errors
    /// [`ConfigError::InvalidParameter`] for a zero size or frame rate, `min_fps > max_fps`, a
    /// non-positive `bits_per_pixel` or an `up_margin` below 1.
    pub fn new(cfg: ControlConfig) -> Result<Self, ConfigError> {
        let bad = |name, detail: &str| ConfigError::InvalidParameter {
            name,
            detail: detail.into(),
        };
        if cfg.max_width < 2 || cfg.max_height < 2 {
            return Err(bad("max_width/max_height", "must be at least 2"));
        }
        if cfg.max_fps == 0 || cfg.min_fps == 0 || cfg.min_fps > cfg.max_fps {
            return Err(bad("min_fps/max_fps", "need 1 <= min_fps <= max_fps"));
        }
        if !(cfg.bits_per_pixel > 0.0 && cfg.bits_per_pixel.is_finite()) {
            return Err(bad("bits_per_pixel", "must be positive"));
        }
        if !(cfg.up_margin >= 1.0 && cfg.up_margin.is_finite()) {
            return Err(bad("up_margin", "must be at least 1"));
        }
        let mut rungs = [Rung::default(); MAX_RUNGS];
        let mut count = 0;
        let need = |w: u32, h: u32, fps: u32| {
            (f64::from(w) * f64::from(h) * f64::from(fps) * cfg.bits_per_pixel)
                .min(f64::from(u32::MAX)) as u32
        };
        let mut push = |w: u32, h: u32, fps: u32| {
            let r = Rung {
                width: w,
                height: h,
                fps,
                need_bps: need(w, h, fps),
            };
            if count == 0 || rungs[count - 1] != r {
                rungs[count] = r;
                count += 1;
            }
        };
        // Resolution first, at the full frame rate ...
        for (num, den) in [(1, 1), (3, 4), (1, 2), (3, 8), (1, 4)] {
            push(
                even(cfg.max_width * num / den),
                even(cfg.max_height * num / den),
                cfg.max_fps,
            );
        }
        // ... then the frame rate, at the smallest resolution.
        let (w, h) = (even(cfg.max_width / 4), even(cfg.max_height / 4));
        for (num, den) in [(2, 3), (1, 2), (1, 3)] {
            push(w, h, (cfg.max_fps * num / den).max(cfg.min_fps));
        }
        let top = rungs[0];
        Ok(EncoderControl {
            cfg,
            rungs,
            count,
            current: 0,
            bitrate: top.need_bps,
            above_since: None,
        })
    }

    /// The settings now.
    pub fn current(&self) -> EncoderSettings {
        let r = self.rungs[self.current];
        EncoderSettings {
            width: r.width,
            height: r.height,
            fps: r.fps,
            bitrate_bps: self.bitrate,
        }
    }

    /// Feeds the allocator's target at `now`; returns the new settings when the resolution or
    /// frame rate changed (the bitrate is always [`current`](Self::current)'s, to be applied
    /// without a keyframe).
    ///
    /// # Real-time safety
    /// No allocation.
    pub fn update(&mut self, target_bps: u32, now: MediaTime) -> Option<EncoderSettings> {
        self.bitrate = target_bps;
        let before = self.current;
        // Down: as far as needed, at once.
        while self.current + 1 < self.count && target_bps < self.rungs[self.current].need_bps {
            self.current += 1;
            self.above_since = None;
        }
        // Up: one rung, after the target has stayed above the higher rung's need with margin.
        if self.current == before && self.current > 0 {
            let up = self.rungs[self.current - 1];
            if f64::from(target_bps) >= f64::from(up.need_bps) * self.cfg.up_margin {
                let since = *self.above_since.get_or_insert(now);
                if now.saturating_since(since) >= self.cfg.up_hold {
                    self.current -= 1;
                    self.above_since = None;
                }
            } else {
                self.above_since = None;
            }
        }
        (self.current != before).then(|| self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_drops_before_frame_rate_with_hysteresis() {
        let mut c = EncoderControl::new(ControlConfig::new(1280, 720, 30)).unwrap();
        let t = |ms| MediaTime::from_millis(ms);
        assert_eq!((c.current().width, c.current().fps), (1280, 30));
        // 720p30 needs 1.11 Mbps at 0.04 bpp; 500 kbps fits 640x360 (276 kbps) at 30 fps.
        let s = c.update(500_000, t(0)).unwrap();
        assert_eq!((s.width, s.height, s.fps), (640, 360, 30));
        // 60 kbps: below 320x180x30 (69 kbps): the frame rate goes next.
        let s = c.update(60_000, t(100)).unwrap();
        assert_eq!((s.width, s.height, s.fps), (320, 180, 20));
        assert!(c.update(60_000, t(200)).is_none());
        // Back to 500 kbps: one rung per hold period (2 s), never at once.
        assert!(c.update(500_000, t(300)).is_none());
        assert!(c.update(500_000, t(2299)).is_none());
        assert_eq!(c.update(500_000, t(2300)).unwrap().fps, 30);
        // A dip below the margin restarts the hold.
        assert!(c.update(500_000, t(3000)).is_none());
        assert!(c.update(200_000, t(3500)).is_none());
        assert!(c.update(500_000, t(4000)).is_none());
        assert!(c.update(500_000, t(5999)).is_none());
        assert_eq!(c.update(500_000, t(6000)).unwrap().width, 480);
        assert!(c.update(500_000, t(9000)).is_none());
        assert_eq!(c.update(500_000, t(11_000)).unwrap().width, 640);
        // 500 kbps is not 1.3 x 960x540's need: 640x360 stays.
        assert!(c.update(500_000, t(20_000)).is_none());
        assert_eq!(c.current().bitrate_bps, 500_000);
        // A call starting at 1 Mbit/s runs 960x540 and reaches 720p once 1.5 Mbit/s (over
        // 1.3 x 1.11 Mbit/s) has held for 2 s.
        let mut c = EncoderControl::new(ControlConfig::new(1280, 720, 30)).unwrap();
        assert_eq!(c.update(1_000_000, t(0)).unwrap().width, 960);
        assert!(c.update(1_500_000, t(500)).is_none());
        let s = c.update(1_500_000, t(2500)).unwrap();
        assert_eq!((s.width, s.height, s.fps), (1280, 720, 30));
        assert!(EncoderControl::new(ControlConfig::new(0, 720, 30)).is_err());
        assert!(
            EncoderControl::new(ControlConfig {
                min_fps: 40,
                ..ControlConfig::new(640, 360, 30)
            })
            .is_err()
        );
    }
}
