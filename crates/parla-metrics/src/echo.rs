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

pub mod room;
pub mod scenario;
pub mod speech;

use crate::signal::rms_db;
#[cfg(doc)]
use crate::signal::si_sdr_db;

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
///
/// This is [`EchoAccumulator`] fed with whole signals (one implementation for both).
pub fn measure(s: EchoSignals<'_>, settle_s: f64) -> EchoReport {
    let frame_len = (s.rate / 100) as usize;
    if frame_len == 0 {
        return EchoReport {
            erle_db: None,
            single_talk_frames: 0,
            double_talk: None,
        };
    }
    // Line the output up with the microphone (the tail the delay pushes out is dropped).
    let out = s.out.get(s.out_delay..).unwrap_or(&[]);
    let n_frames = s.mic.len().min(out.len()).min(s.echo.len()) / frame_len;
    let near_peak = (!s.near.is_empty()).then(|| peak_frame_db(s.near, frame_len));
    let mut acc = EchoAccumulator::new(s.rate, settle_s, near_peak);
    for (i, echo) in s.echo.chunks_exact(frame_len).enumerate() {
        let r = i * frame_len..(i + 1) * frame_len;
        let near = s.near.get(r.clone()).unwrap_or(&[]);
        let signals = (i < n_frames).then(|| (&s.mic[r.clone()], &out[r]));
        acc.push(echo, near, signals);
    }
    acc.finish()
}

/// The level of the loudest whole frame of `x`, dBFS (-200 for silence or no whole frame).
pub fn peak_frame_db(x: &[f32], frame_len: usize) -> f64 {
    frame_levels_db(x, frame_len)
        .into_iter()
        .fold(-200.0, f64::max)
}

/// Width of the echo-level bins of [`EchoAccumulator`], dB.
pub const LEVEL_BIN_DB: f64 = 0.01;

/// Sums over the frames of one echo-level bin.
#[derive(Debug, Clone, Copy, Default)]
struct BinSums {
    single_frames: usize,
    single_mic: f64,
    single_out: f64,
    double_frames: usize,
    /// Over double-talk frames: sums of near, mic, out, near^2, mic^2, out^2, near*mic,
    /// near*out.
    double: [f64; 8],
}

/// [`measure`] frame by frame, holding a few kilobytes whatever the length of the signals.
///
/// The frame classes depend on the loudest frame of the echo, known only at the end: so the
/// sums of each frame go into a bin of its echo level ([`LEVEL_BIN_DB`] wide) and
/// [`EchoAccumulator::finish`] adds up the bins within [`ACTIVE_BELOW_PEAK_DB`] of the peak.
/// Only frames within half a bin of that threshold can be classed otherwise than by [`measure`]
/// on whole signals would with exact levels. The near end's loudest frame must be known when
/// the accumulator is made (a simulation knows its talkers in advance).
#[derive(Debug, Clone)]
pub struct EchoAccumulator {
    frame_len: usize,
    skip_frames: usize,
    near_peak_db: Option<f64>,
    frames: usize,
    echo_peak_db: f64,
    bins: std::collections::BTreeMap<i64, BinSums>,
}

impl EchoAccumulator {
    /// An accumulator for 10 ms frames at `rate`, ignoring the first `settle_s` seconds, with the
    /// near end's loudest frame at `near_peak_db` (`None`: there is no near-end speech).
    pub fn new(rate: u32, settle_s: f64, near_peak_db: Option<f64>) -> Self {
        EchoAccumulator {
            frame_len: (rate / 100) as usize,
            skip_frames: (settle_s * 100.0).ceil().max(0.0) as usize,
            near_peak_db,
            frames: 0,
            echo_peak_db: -200.0,
            bins: std::collections::BTreeMap::new(),
        }
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// The next frame: the echo at the microphone, the clean near end (empty when there is
    /// none), and the microphone and the lined-up output when both exist for this frame (`None`
    /// past the end of the output: the frame then only counts towards the echo's peak).
    pub fn push(&mut self, echo: &[f32], near: &[f32], mic_out: Option<(&[f32], &[f32])>) {
        let index = self.frames;
        self.frames += 1;
        let level = rms_db(echo);
        self.echo_peak_db = self.echo_peak_db.max(level);
        let Some((mic, out)) = mic_out else { return };
        if index < self.skip_frames {
            return;
        }
        let (near_on, near_off) = match self.near_peak_db {
            Some(peak) if peak > -199.0 && !near.is_empty() => {
                let l = rms_db(near);
                (
                    l >= peak - ACTIVE_BELOW_PEAK_DB,
                    l < peak - SILENT_BELOW_PEAK_DB,
                )
            }
            _ => (false, true),
        };
        if !(near_on || near_off) {
            return;
        }
        let bin = (level / LEVEL_BIN_DB).round() as i64;
        let b = self.bins.entry(bin).or_default();
        let e = |x: &[f32]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        if near_off {
            b.single_frames += 1;
            b.single_mic += e(mic);
            b.single_out += e(out);
        } else {
            b.double_frames += 1;
            for ((&n, &m), &o) in near.iter().zip(mic).zip(out) {
                let (n, m, o) = (f64::from(n), f64::from(m), f64::from(o));
                for (acc, v) in
                    b.double
                        .iter_mut()
                        .zip([n, m, o, n * n, m * m, o * o, n * m, n * o])
                {
                    *acc += v;
                }
            }
        }
    }

    /// The figures over everything pushed.
    pub fn finish(&self) -> EchoReport {
        let mut total = BinSums::default();
        if self.echo_peak_db > -199.0 {
            let threshold = self.echo_peak_db - ACTIVE_BELOW_PEAK_DB;
            for (&bin, b) in &self.bins {
                if bin as f64 * LEVEL_BIN_DB >= threshold {
                    total.single_frames += b.single_frames;
                    total.single_mic += b.single_mic;
                    total.single_out += b.single_out;
                    total.double_frames += b.double_frames;
                    for (t, v) in total.double.iter_mut().zip(b.double) {
                        *t += v;
                    }
                }
            }
        }
        let n = (total.single_frames * self.frame_len) as f64;
        let erle_db = (n > 0.0 && total.single_mic > 0.0)
            .then(|| 10.0 * (total.single_mic / total.single_out.max(ENERGY_FLOOR * n)).log10());
        let double_talk = (total.double_frames > 0).then(|| {
            let n = (total.double_frames * self.frame_len) as f64;
            let [sn, sm, so, snn, smm, soo, snm, sno] = total.double;
            let level = |e: f64| {
                let e = e / n;
                if e <= 1e-20 { -200.0 } else { 10.0 * e.log10() }
            };
            DoubleTalk {
                frames: total.double_frames,
                si_sdr_mic_db: si_sdr_from_sums(n, sn, sm, snn, smm, snm),
                si_sdr_out_db: si_sdr_from_sums(n, sn, so, snn, soo, sno),
                near_level_db: level(snn),
                out_level_db: level(soo),
            }
        });
        EchoReport {
            erle_db,
            single_talk_frames: total.single_frames,
            double_talk,
        }
    }
}

/// SI-SDR (as [`si_sdr_db`]) from the sums over `n` samples of the reference `r`, the estimate
/// `e`, their squares and their product.
fn si_sdr_from_sums(n: f64, sr: f64, se: f64, srr: f64, see: f64, sre: f64) -> f64 {
    let (mr, me) = (sr / n, se / n);
    let rr = srr - n * mr * mr;
    let ee = see - n * me * me;
    let dot = sre - n * mr * me;
    if rr <= f64::MIN_POSITIVE {
        return f64::NEG_INFINITY;
    }
    let target = dot * dot / rr;
    // The residual by difference loses precision below about 1e-13 of the estimate's energy.
    let noise = ee - target;
    if target <= f64::MIN_POSITIVE {
        return f64::NEG_INFINITY;
    }
    if noise <= 1e-13 * ee {
        return f64::INFINITY;
    }
    10.0 * (target / noise).log10()
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
