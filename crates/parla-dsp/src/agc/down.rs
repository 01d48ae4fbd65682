//! The downward half of the level control: a slow gain at or below 0 dB that brings a loud
//! talker's speech down to [`GainConfig::max_speech_dbfs`] before AGC2, whose adaptive gain only
//! raises (it never goes below 0 dB). Written here.
//!
//! - **Speech level**: the mean level (dB) of the frames a simple detector calls speech (louder
//!   than the tracked noise floor by [`ACTIVE_OVER_FLOOR_DB`] and within
//!   [`ACTIVE_UNDER_LEVEL_DB`] of the speech level), each counted at most [`OUTLIER_DB`] above
//!   the current estimate: a plain mean over the first speech frames, then an average over about
//!   [`LEVEL_TIME_S`] of speech. A knock or a burst of garbage samples moves the level by a few
//!   dB at most (a mean of powers would be dominated by it for seconds and mute the talker); a
//!   talker who is loud for a second moves it all the way.
//! - **Gain**: `min(0, max_speech_dbfs - level)` dB, reached at most
//!   [`GainConfig::max_gain_change_db_per_s`] (the same limit as AGC2; downwards
//!   [`LEARN_SPEEDUP`] times that over the first [`LEARN_FRAMES`] speech frames), ramped linearly across
//!   each frame so that no step is audible. In pauses neither the level nor the gain moves, so
//!   noise is never pumped.

use super::GainConfig;

/// A frame is speech when it is this much above the noise floor, dB.
const ACTIVE_OVER_FLOOR_DB: f32 = 12.0;
/// ... and at most this much below the current speech level, dB (quiet tails do not lower the
/// level estimate).
const ACTIVE_UNDER_LEVEL_DB: f32 = 25.0;
/// A speech frame counts in the level at most this far above the current estimate, dB.
const OUTLIER_DB: f32 = 10.0;
/// Speech time over which the level is averaged, s.
const LEVEL_TIME_S: f32 = 1.0;
/// How fast the noise floor rises when the signal is above it, dB per second (it drops at
/// once to a quieter frame).
const FLOOR_RISE_DB_PER_S: f32 = 3.0;
/// For the first this many speech frames (the level is being learnt) the gain may fall
/// [`LEARN_SPEEDUP`] times faster, so that a loud talker's first words are not driven into the
/// limiter by AGC2's start gain.
const LEARN_FRAMES: u32 = 50;
/// See [`LEARN_FRAMES`].
const LEARN_SPEEDUP: f32 = 4.0;
/// Frames quieter than this are silence, not speech, whatever the floor, dBFS.
const SILENCE_DBFS: f32 = -70.0;

fn db(power: f32) -> f32 {
    10.0 * power.max(1e-12).log10()
}

/// The downward gain's state. No allocation; `process` is a few multiplications per sample.
#[derive(Debug, Clone)]
pub(super) struct DownwardGain {
    max_speech_dbfs: f32,
    /// Largest change of the gain per 10 ms frame, dB.
    step_db: f32,
    /// Weight of a speech frame in the level average once [`LEVEL_TIME_S`] of speech was heard.
    alpha: f32,
    /// Speech frames heard so far (the average is a plain mean over the first ones, so the
    /// level is known after the first words).
    speech_frames: u32,
    /// Rise of the noise floor per frame, dB.
    floor_rise_db: f32,
    /// Mean speech level, dB; starts at the target (no gain change before speech).
    speech_db: f32,
    floor_db: f32,
    gain_db: f32,
    /// The linear gain applied at the end of the previous frame.
    gain: f32,
}

impl DownwardGain {
    /// A stage for 10 ms frames with `config`'s target and rate limit.
    pub(super) fn new(config: &GainConfig) -> Self {
        let frames_per_s = 100.0;
        DownwardGain {
            max_speech_dbfs: config.max_speech_dbfs,
            step_db: config.max_gain_change_db_per_s / frames_per_s,
            alpha: 1.0 / (LEVEL_TIME_S * frames_per_s),
            speech_frames: 0,
            floor_rise_db: FLOOR_RISE_DB_PER_S / frames_per_s,
            speech_db: config.max_speech_dbfs,
            floor_db: SILENCE_DBFS,
            gain_db: 0.0,
            gain: 1.0,
        }
    }

    /// The gain applied at the end of the last frame, dB (at most 0).
    pub(super) fn gain_db(&self) -> f32 {
        self.gain_db
    }

    /// Update the level from `frame` and apply the gain in place.
    pub(super) fn process(&mut self, frame: &mut [f32]) {
        // RT: arithmetic only.
        let n = frame.len().max(1);
        let power = frame.iter().map(|&v| v * v).sum::<f32>() / n as f32;
        let level = db(power);
        if level < self.floor_db {
            self.floor_db = level.max(-120.0);
        } else {
            self.floor_db += self.floor_rise_db;
        }
        let active = level > SILENCE_DBFS
            && level > self.floor_db + ACTIVE_OVER_FLOOR_DB
            && level > self.speech_db - ACTIVE_UNDER_LEVEL_DB;
        if active {
            self.speech_frames = self.speech_frames.saturating_add(1);
            let w = self.alpha.max(1.0 / self.speech_frames as f32);
            let counted = level.min(self.speech_db + OUTLIER_DB);
            self.speech_db += w * (counted - self.speech_db);
            let want = (self.max_speech_dbfs - self.speech_db).min(0.0);
            let down = if self.speech_frames <= LEARN_FRAMES {
                self.step_db * LEARN_SPEEDUP
            } else {
                self.step_db
            };
            self.gain_db += (want - self.gain_db).clamp(-down, self.step_db);
        }
        let start = self.gain;
        let end = 10f32.powf(self.gain_db / 20.0);
        if start == end {
            if end != 1.0 {
                frame.iter_mut().for_each(|v| *v *= end);
            }
        } else {
            let step = (end - start) / n as f32;
            for (i, v) in frame.iter_mut().enumerate() {
                *v *= start + step * (i + 1) as f32;
            }
        }
        self.gain = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(level_dbfs: f32, n: usize) -> Vec<f32> {
        let a = 10f32.powf(level_dbfs / 20.0) * std::f32::consts::SQRT_2;
        (0..n).map(|i| a * (i as f32 * 0.13).sin()).collect()
    }

    #[test]
    fn a_loud_signal_is_lowered_gradually_to_the_target_and_a_soft_one_is_left_alone() {
        let cfg = GainConfig::default();
        let mut d = DownwardGain::new(&cfg);
        let x = tone(-8.0, 480);
        let mut after_100ms = 0.0;
        for f in 0..1000 {
            let mut y = x.clone();
            d.process(&mut y);
            if f == 9 {
                after_100ms = d.gain_db();
            }
        }
        // While learning: at most 4 x 0.1 dB per frame, ramped (no jump to the target).
        assert!(
            (-4.05..=-3.5).contains(&after_100ms),
            "gain after 100 ms {after_100ms} dB"
        );
        let g = d.gain_db();
        assert!((g - (cfg.max_speech_dbfs + 8.0)).abs() < 0.5, "gain {g} dB");
        let mut soft = DownwardGain::new(&cfg);
        for _ in 0..500 {
            let mut y = tone(-35.0, 480);
            soft.process(&mut y);
        }
        assert_eq!(soft.gain_db(), 0.0);
    }

    #[test]
    fn a_burst_of_full_scale_frames_moves_the_gain_by_a_few_db_only() {
        let cfg = GainConfig::default();
        let mut d = DownwardGain::new(&cfg);
        let run = |d: &mut DownwardGain, level: f32, frames: usize| {
            for _ in 0..frames {
                let mut y = tone(level, 480);
                d.process(&mut y);
            }
        };
        // A talker 9 dB over the target, then 180 ms of full-scale garbage, then the talker.
        run(&mut d, cfg.max_speech_dbfs + 9.0, 300);
        let settled = d.gain_db();
        assert!((settled + 9.0).abs() < 0.5, "gain {settled} dB");
        run(&mut d, 0.0, 18);
        run(&mut d, cfg.max_speech_dbfs + 9.0, 100);
        // A mean of powers would take the burst's frames at 21 dB over the level and lower the
        // gain by about 12 dB; here each counts at most 10 dB up, at 1 % per frame.
        let after = d.gain_db();
        assert!(
            after > settled - 2.5,
            "gain {settled} -> {after} dB 1 s after the burst"
        );
    }
}
