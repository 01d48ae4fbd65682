//! Echo cancellation metrics: ERLE in far-end single talk and near-end preservation in double
//! talk, plus a seeded generator of echo scenarios to measure them on ([`scenario`]).
//!
//! The measurement never asks the echo canceller what it did: it compares signals. It needs the
//! echo component and the clean near-end speech as they arrive at the microphone to know which
//! frames are single talk and which are double talk; the generator provides both. For real
//! recordings, a far-end reference lined up with [`crate::estimate_delay`] can stand in for the
//! echo component (it only decides which frames count).
//!
//! Definitions (all per 10 ms frame, after a settling time, 2 s by default):
//! - *Far-end single talk*: the echo is active (frame level within [`ACTIVE_BELOW_PEAK_DB`] of its
//!   loudest frame) and the near-end speech is silent (more than [`SILENT_BELOW_PEAK_DB`] below
//!   its loudest frame, or absent).
//! - *ERLE* = 10 log10(energy of the microphone / energy of the output) over those frames. The
//!   output energy is floored at -120 dBFS per sample, so a canceller that outputs silence scores
//!   a finite, very high ERLE rather than infinity.
//! - *Double talk*: echo and near-end speech both active. Over those frames, SI-SDR against the
//!   clean near-end speech of the raw microphone and of the output, and the output's level against
//!   the clean near-end's level (a muting canceller shows a large negative level change).

pub mod scenario;
pub mod speech;

use crate::signal::{rms_db, si_sdr_db};

/// A frame counts as active when its level is within this many dB of the signal's loudest frame.
pub const ACTIVE_BELOW_PEAK_DB: f64 = 30.0;
/// A frame counts as silent when its level is more than this many dB below the loudest frame.
pub const SILENT_BELOW_PEAK_DB: f64 = 60.0;
/// Output energy floor per sample used by [`erle_db`] (-120 dBFS).
const ENERGY_FLOOR: f64 = 1e-12;

/// Level of each whole frame of `frame_len` samples in dBFS (-200 for digital silence).
pub fn frame_levels_db(x: &[f32], frame_len: usize) -> Vec<f64> {
    if frame_len == 0 {
        return Vec::new();
    }
    x.chunks_exact(frame_len).map(rms_db).collect()
}

/// Per frame: is the level within `below_peak_db` of the loudest frame? All false for a silent
/// signal.
pub fn frames_above(x: &[f32], frame_len: usize, below_peak_db: f64) -> Vec<bool> {
    let levels = frame_levels_db(x, frame_len);
    let peak = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if peak <= -199.0 {
        return vec![false; levels.len()];
    }
    levels.iter().map(|&l| l >= peak - below_peak_db).collect()
}

/// Energy ratio `mic / out` in dB over the frames where `mask` is true and the frame index is at
/// least `skip_frames`; `None` when no frame qualifies.
pub fn erle_db(
    mic: &[f32],
    out: &[f32],
    mask: &[bool],
    frame_len: usize,
    skip_frames: usize,
) -> Option<f64> {
    let (mut em, mut eo, mut n) = (0.0f64, 0.0f64, 0usize);
    for (i, &on) in mask.iter().enumerate().skip(skip_frames) {
        if !on {
            continue;
        }
        let r = i * frame_len..(i + 1) * frame_len;
        let (Some(m), Some(o)) = (mic.get(r.clone()), out.get(r)) else {
            break;
        };
        em += m.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        eo += o.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        n += frame_len;
    }
    if n == 0 || em <= 0.0 {
        return None;
    }
    Some(10.0 * (em / eo.max(ENERGY_FLOOR * n as f64)).log10())
}

/// What the double-talk frames show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoubleTalk {
    /// Number of double-talk frames measured.
    pub frames: usize,
    /// SI-SDR of the raw microphone against the clean near-end speech, dB.
    pub si_sdr_mic_db: f64,
    /// SI-SDR of the canceller's output against the clean near-end speech, dB.
    pub si_sdr_out_db: f64,
    /// Level of the clean near-end speech over these frames, dBFS.
    pub near_level_db: f64,
    /// Level of the output over these frames, dBFS.
    pub out_level_db: f64,
}

impl DoubleTalk {
    /// How much the canceller improved SI-SDR over the raw microphone, dB.
    pub fn si_sdr_gain_db(&self) -> f64 {
        self.si_sdr_out_db - self.si_sdr_mic_db
    }

    /// Output level minus clean near-end level, dB (negative: the near end was attenuated).
    pub fn level_change_db(&self) -> f64 {
        self.out_level_db - self.near_level_db
    }
}

/// The signals one echo measurement compares, all mono at one rate and sample-aligned.
#[derive(Debug, Clone, Copy)]
pub struct EchoSignals<'a> {
    /// Sample rate, Hz.
    pub rate: u32,
    /// What the microphone recorded (echo + near end + noise): the canceller's input.
    pub mic: &'a [f32],
    /// The canceller's output.
    pub out: &'a [f32],
    /// The echo component at the microphone (decides which frames have far-end activity).
    pub echo: &'a [f32],
    /// The clean near-end speech at the microphone (empty when there is none).
    pub near: &'a [f32],
    /// The canceller's own delay in samples: `out[i + out_delay]` corresponds to `mic[i]`.
    pub out_delay: usize,
}

/// The result of [`measure`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoReport {
    /// ERLE over far-end single-talk frames after the settling time, dB.
    pub erle_db: Option<f64>,
    /// Number of far-end single-talk frames that ERLE was computed over.
    pub single_talk_frames: usize,
    /// Double-talk figures, when the scenario has double-talk frames after the settling time.
    pub double_talk: Option<DoubleTalk>,
}

/// Measure ERLE (far-end single talk) and near-end preservation (double talk) on 10 ms frames,
/// ignoring the first `settle_s` seconds (2 s in the project's acceptance figures).
pub fn measure(s: EchoSignals<'_>, settle_s: f64) -> EchoReport {
    let frame_len = (s.rate / 100) as usize;
    // Line the output up with the microphone (the tail the delay pushes out is dropped).
    let out = s.out.get(s.out_delay..).unwrap_or(&[]);
    let n_frames = s.mic.len().min(out.len()).min(s.echo.len()) / frame_len.max(1);
    let skip = (settle_s * 100.0).ceil().max(0.0) as usize;
    let echo_on = frames_above(s.echo, frame_len, ACTIVE_BELOW_PEAK_DB);
    let (near_on, near_off) = if s.near.is_empty() {
        (vec![false; n_frames], vec![true; n_frames])
    } else {
        let on = frames_above(s.near, frame_len, ACTIVE_BELOW_PEAK_DB);
        let loud = frames_above(s.near, frame_len, SILENT_BELOW_PEAK_DB);
        (on, loud.iter().map(|&l| !l).collect())
    };
    let at = |v: &Vec<bool>, i: usize| v.get(i).copied().unwrap_or(false);
    let single: Vec<bool> = (0..n_frames)
        .map(|i| at(&echo_on, i) && at(&near_off, i))
        .collect();
    let single_talk_frames = single.iter().skip(skip).filter(|&&b| b).count();
    let erle = erle_db(s.mic, out, &single, frame_len, skip);

    let mut near_dt = Vec::new();
    let mut mic_dt = Vec::new();
    let mut out_dt = Vec::new();
    let mut frames = 0usize;
    for i in skip..n_frames {
        if at(&echo_on, i) && at(&near_on, i) {
            let r = i * frame_len..(i + 1) * frame_len;
            near_dt.extend_from_slice(&s.near[r.clone()]);
            mic_dt.extend_from_slice(&s.mic[r.clone()]);
            out_dt.extend_from_slice(&out[r]);
            frames += 1;
        }
    }
    let double_talk = (frames > 0).then(|| DoubleTalk {
        frames,
        si_sdr_mic_db: si_sdr_db(&near_dt, &mic_dt),
        si_sdr_out_db: si_sdr_db(&near_dt, &out_dt),
        near_level_db: rms_db(&near_dt),
        out_level_db: rms_db(&out_dt),
    });
    EchoReport {
        erle_db: erle,
        single_talk_frames,
        double_talk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, f: f32, rate: f32, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| amp * (std::f32::consts::TAU * f * i as f32 / rate).sin())
            .collect()
    }

    #[test]
    fn erle_is_the_energy_ratio_on_masked_frames() {
        let mic = tone(4800, 440.0, 48_000.0, 0.5);
        let out: Vec<f32> = mic.iter().map(|v| v * 0.01).collect();
        let mask = vec![true; 10];
        let e = erle_db(&mic, &out, &mask, 480, 0).unwrap();
        assert!((e - 40.0).abs() < 1e-6, "{e}");
        // Frames outside the mask or before the skip do not count.
        assert!(erle_db(&mic, &out, &[false; 10], 480, 0).is_none());
        assert!(erle_db(&mic, &out, &mask, 480, 10).is_none());
    }

    #[test]
    fn silent_output_gives_a_finite_erle() {
        let mic = tone(4800, 440.0, 48_000.0, 0.5);
        let e = erle_db(&mic, &[0.0; 4800], &[true; 10], 480, 0).unwrap();
        assert!(e.is_finite() && e > 100.0, "{e}");
    }

    #[test]
    fn passthrough_has_no_erle_and_no_double_talk_gain() {
        let rate = 16_000;
        let echo = tone(32_000, 300.0, 16_000.0, 0.3);
        let mut near = vec![0.0f32; 32_000];
        near[20_000..28_000].copy_from_slice(&tone(8000, 1234.0, 16_000.0, 0.2));
        let mic: Vec<f32> = echo.iter().zip(&near).map(|(a, b)| a + b).collect();
        let r = measure(
            EchoSignals {
                rate,
                mic: &mic,
                out: &mic,
                echo: &echo,
                near: &near,
                out_delay: 0,
            },
            0.5,
        );
        assert!(r.erle_db.unwrap().abs() < 1e-9);
        let dt = r.double_talk.unwrap();
        assert_eq!(dt.frames, 50);
        assert!(dt.si_sdr_gain_db().abs() < 1e-9);
        // A perfect canceller recovers the near end exactly in double talk.
        let r = measure(
            EchoSignals {
                rate,
                mic: &mic,
                out: &near,
                echo: &echo,
                near: &near,
                out_delay: 0,
            },
            0.5,
        );
        let dt = r.double_talk.unwrap();
        assert!(dt.si_sdr_out_db > 100.0 && dt.level_change_db().abs() < 1e-9);
        assert!(r.erle_db.unwrap() > 100.0);
    }

    #[test]
    fn an_attenuating_canceller_is_flagged() {
        // Control: output = 0.3 x near end + 10% of the echo left. SI-SDR improves by more than
        // 6 dB over the microphone, but the level change shows the near end was attenuated
        // (by 9.5 dB here), which the double-talk acceptance rejects.
        let rate = 16_000;
        let echo = tone(32_000, 300.0, 16_000.0, 0.3);
        let mut near = vec![0.0f32; 32_000];
        near[20_000..28_000].copy_from_slice(&tone(8000, 1234.0, 16_000.0, 0.2));
        let mic: Vec<f32> = echo.iter().zip(&near).map(|(a, b)| a + b).collect();
        let out: Vec<f32> = echo
            .iter()
            .zip(&near)
            .map(|(a, b)| 0.1 * a + 0.3 * b)
            .collect();
        let r = measure(
            EchoSignals {
                rate,
                mic: &mic,
                out: &out,
                echo: &echo,
                near: &near,
                out_delay: 0,
            },
            0.5,
        );
        let dt = r.double_talk.unwrap();
        assert!(dt.si_sdr_gain_db() > 6.0, "{dt:?}");
        assert!((dt.level_change_db() + 9.5).abs() < 0.3, "{dt:?}");
        // A canceller that removes the echo but adds noise-like distortion loses SI-SDR.
        let distorted: Vec<f32> = near
            .iter()
            .enumerate()
            .map(|(i, &v)| v * (1.0 + 0.9 * ((i as f32) * 0.37).sin()))
            .collect();
        let r = measure(
            EchoSignals {
                rate,
                mic: &mic,
                out: &distorted,
                echo: &echo,
                near: &near,
                out_delay: 0,
            },
            0.5,
        );
        assert!(r.double_talk.unwrap().si_sdr_out_db < 6.0);
    }
}
