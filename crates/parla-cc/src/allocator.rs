//! One bitrate allocator for the call (audio first, then video, minimums respected), and the
//! audio network adaptor: Opus settings from the allocation and the measured loss, like
//! libwebrtc's audio network adaptor (bitrate 6-64 kbit/s, FEC and expected loss with
//! hysteresis, longer frames under heavy loss or at low rates, DTX).
//!
//! The allocator's output for audio goes to [`AudioAdaptor::update`], whose
//! [`AudioSettings`] map one to one onto `parla_codec::opus::OpusEncoder`'s setters
//! (`set_bitrate`, `set_fec(on, expected_loss_percent)`, `set_frame`, `set_dtx`).

/// What one sender wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// It gets at least this (if the estimate allows), bits per second.
    pub min_bps: u64,
    /// It never gets more, bits per second.
    pub max_bps: u64,
    /// Share of what is left after minimums, relative to the other stream (1 = equal).
    pub priority: u32,
}

/// The split of the target rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allocation {
    /// Audio, bits per second.
    pub audio_bps: u64,
    /// Video, bits per second (0: paused, below its minimum).
    pub video_bps: u64,
}

/// Splits the target: audio gets its minimum first, then video its minimum (or nothing), then
/// the rest by priority up to each maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitrateAllocator {
    /// Audio limits.
    pub audio: StreamLimits,
    /// Video limits, if there is a video sender.
    pub video: Option<StreamLimits>,
}

impl BitrateAllocator {
    /// Splits `target_bps`.
    pub fn allocate(&self, target_bps: u64) -> Allocation {
        let a = &self.audio;
        let mut audio = target_bps.min(a.min_bps);
        let mut left = target_bps - audio;
        let mut video = 0;
        if let Some(v) = self.video
            && left >= v.min_bps
        {
            video = v.min_bps;
            left -= v.min_bps;
            let (pa, pv) = (u64::from(a.priority.max(1)), u64::from(v.priority.max(1)));
            let audio_room = a.max_bps.saturating_sub(audio);
            let video_room = v.max_bps.saturating_sub(video);
            let give_a = (left * pa / (pa + pv)).min(audio_room);
            let give_v = (left - give_a).min(video_room);
            audio += give_a;
            video += give_v;
            left -= give_a + give_v;
            audio += left.min(a.max_bps - audio);
        } else {
            audio += left.min(a.max_bps.saturating_sub(audio));
        }
        Allocation {
            audio_bps: audio,
            video_bps: video,
        }
    }
}

/// Opus settings the engine applies to the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSettings {
    /// Bitrate, bits per second (6000-64000).
    pub bitrate_bps: u32,
    /// In-band FEC on.
    pub fec: bool,
    /// Expected packet loss for the encoder, percent (0-100).
    pub expected_loss_percent: u8,
    /// Frame (packet) length, milliseconds: 20, 40 or 60.
    pub frame_ms: u32,
    /// Discontinuous transmission on.
    pub dtx: bool,
}

/// Lowest Opus bitrate the adaptor chooses.
pub const OPUS_MIN_BPS: u32 = 6_000;
/// Highest Opus bitrate the adaptor chooses.
pub const OPUS_MAX_BPS: u32 = 64_000;
const FEC_ON_LOSS: f64 = 0.05;
const FEC_OFF_LOSS: f64 = 0.02;
const LONG_FRAMES_ON_LOSS: f64 = 0.15;
const LONG_FRAMES_OFF_LOSS: f64 = 0.08;
const FRAME_60_BELOW_BPS: u32 = 12_000;
const FRAME_40_BELOW_BPS: u32 = 16_000;
const FRAME_20_ABOVE_BPS: u32 = 24_000;

/// The audio network adaptor.
#[derive(Debug, Clone)]
pub struct AudioAdaptor {
    settings: AudioSettings,
    smoothed_loss: f64,
    changes: u64,
}

impl Default for AudioAdaptor {
    fn default() -> Self {
        Self::new()
    }
}

impl AudioAdaptor {
    /// Starts at 32 kbit/s, 20 ms, FEC off, DTX on.
    pub fn new() -> Self {
        AudioAdaptor {
            settings: AudioSettings {
                bitrate_bps: 32_000,
                fec: false,
                expected_loss_percent: 0,
                frame_ms: 20,
                dtx: true,
            },
            smoothed_loss: 0.0,
            changes: 0,
        }
    }

    /// Starts at `settings` (the call's configured encoder settings), so the first update
    /// reports only what the measurements change.
    pub fn starting_at(settings: AudioSettings) -> Self {
        AudioAdaptor {
            settings,
            smoothed_loss: 0.0,
            changes: 0,
        }
    }

    /// The current settings.
    pub fn settings(&self) -> AudioSettings {
        self.settings
    }

    /// Changes so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Updates from the audio allocation (bits per second, with packet overhead) and the loss
    /// fraction (0-1) measured since the last call; returns the new settings when they changed
    /// (the change event).
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn update(&mut self, audio_bps: u64, loss: f64) -> Option<AudioSettings> {
        // RT: constant time.
        let loss = if loss.is_finite() {
            loss.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.smoothed_loss = 0.7 * self.smoothed_loss + 0.3 * loss;
        let l = self.smoothed_loss;
        let old = self.settings;
        let mut s = old;
        // Hysteresis bands.
        if l >= FEC_ON_LOSS {
            s.fec = true;
        } else if l <= FEC_OFF_LOSS {
            s.fec = false;
        }
        s.expected_loss_percent = if s.fec {
            (l * 100.0).round().clamp(1.0, 50.0) as u8
        } else {
            0
        };
        // Packet overhead (IP/UDP/RTP/SFrame, about 60 bytes) per frame comes off the payload.
        let overhead = |frame_ms: u32| 60 * 8 * 1000 / frame_ms;
        let heavy_loss = if l >= LONG_FRAMES_ON_LOSS {
            true
        } else if l <= LONG_FRAMES_OFF_LOSS {
            false
        } else {
            old.frame_ms > 20
        };
        let payload20 = (audio_bps as u32).saturating_sub(overhead(20));
        s.frame_ms = if heavy_loss || payload20 < FRAME_60_BELOW_BPS {
            60
        } else if payload20 < FRAME_40_BELOW_BPS {
            40
        } else if payload20 >= FRAME_20_ABOVE_BPS || old.frame_ms == 20 {
            20
        } else {
            old.frame_ms
        };
        let payload = (audio_bps as u32).saturating_sub(overhead(s.frame_ms));
        // FEC costs bits: keep the target, Opus spends part of it on FEC by itself.
        s.bitrate_bps = payload.clamp(OPUS_MIN_BPS, OPUS_MAX_BPS);
        // Ignore bitrate moves under 10% (and 1 kbit/s) to avoid churning the encoder.
        let moved = s.bitrate_bps.abs_diff(old.bitrate_bps);
        if moved < 1000 || moved * 10 < old.bitrate_bps {
            s.bitrate_bps = old.bitrate_bps;
        }
        s.dtx = true;
        if s != old {
            self.settings = s;
            self.changes += 1;
            Some(s)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(video: bool) -> BitrateAllocator {
        BitrateAllocator {
            audio: StreamLimits {
                min_bps: 16_000,
                max_bps: 64_000,
                priority: 1,
            },
            video: video.then_some(StreamLimits {
                min_bps: 150_000,
                max_bps: 2_500_000,
                priority: 3,
            }),
        }
    }

    #[test]
    fn audio_first_minimums_respected() {
        let a = alloc(true);
        assert_eq!(
            a.allocate(10_000),
            Allocation {
                audio_bps: 10_000,
                video_bps: 0
            }
        );
        assert_eq!(
            a.allocate(100_000),
            Allocation {
                audio_bps: 64_000,
                video_bps: 0
            }
        );
        let r = a.allocate(1_000_000);
        assert_eq!(r.audio_bps + r.video_bps, 1_000_000);
        assert_eq!(r.audio_bps, 64_000);
        let r = a.allocate(170_000);
        assert_eq!(r.video_bps, 150_000 + 3_000);
        assert_eq!(r.audio_bps, 17_000);
        assert_eq!(alloc(false).allocate(1_000_000).audio_bps, 64_000);
    }

    #[test]
    fn adaptor_follows_rate_and_loss_with_hysteresis() {
        let mut ad = AudioAdaptor::new();
        let s = ad.update(64_000, 0.0).unwrap();
        assert_eq!((s.bitrate_bps, s.frame_ms, s.fec), (40_000, 20, false));
        // Heavy loss: FEC on, long frames.
        for _ in 0..10 {
            ad.update(64_000, 0.25);
        }
        let s = ad.settings();
        assert!(
            s.fec && s.frame_ms == 60 && s.expected_loss_percent >= 20,
            "{s:?}"
        );
        // 3% loss: within both hysteresis bands' middle after settling: FEC stays on.
        for _ in 0..20 {
            ad.update(64_000, 0.03);
        }
        assert!(ad.settings().fec);
        for _ in 0..20 {
            ad.update(64_000, 0.0);
        }
        let s = ad.settings();
        assert!(
            !s.fec && s.frame_ms == 20 && s.expected_loss_percent == 0,
            "{s:?}"
        );
        // Low rate: 60 ms frames, bitrate floor 6 kbit/s.
        let s = ad.update(10_000, 0.0).unwrap();
        assert_eq!((s.frame_ms, s.bitrate_bps), (60, OPUS_MIN_BPS));
        assert_eq!(ad.update(10_000, 0.0), None, "no change, no event");
    }
}
