//! What the report measures from the signals, streamed: every analysis takes the call 10 ms at a
//! time and holds a bounded window (a few seconds of samples) plus per-window results, so its
//! memory does not grow with the call's length (beyond a few bytes per second).
//!
//! - [`MouthToEar`]: the talker's clean input against the listener's speaker output, by
//!   [`parla_metrics::estimate_delay`] on 2 s windows every 1 s, and over the whole call by
//!   [`parla_metrics::DelayStream`].
//! - [`EchoAnalysis`]: one side's room echo return loss, send-path delay and ERLE on what it
//!   sends, by [`parla_metrics::echo::EchoAccumulator`].
//! - [`SendTap`]: decodes the packets a side sends, before the network.

use std::collections::VecDeque;

use parla_codec::opus::OpusDecoder;
use parla_core::MediaTime;
use parla_metrics::echo::EchoAccumulator;
use parla_metrics::{Correlator, DelayStream, rms_db};
use parla_rtp::e2ee::{CallKeys, CipherSuite, MediaStream, StreamReceiver, rtp_aad};
use parla_rtp::rtp::RtpPacket;

use crate::error::{SimError, StepContext as _};

/// A window counts when the talker's clean input is above this level, dBFS.
pub const ACTIVE_DBFS: f64 = -45.0;
/// A window's delay counts when the normalised correlation at its best lag reaches this.
pub const CORR_THRESHOLD: f64 = 0.3;
/// Sliding window length, seconds.
pub const WINDOW_S: f64 = 2.0;
/// Hop between windows, seconds.
pub const HOP_S: f64 = 1.0;
/// Largest delay searched, seconds.
pub const MAX_DELAY_S: f64 = 1.5;
/// Fewest far-end single-talk frames (10 ms) an ERLE figure is reported over: 0.5 s. Over a
/// handful of frames the ratio says nothing (an 8 s call gave -30 dB over 2 frames).
pub const MIN_ERLE_FRAMES: usize = 50;
/// ERLE ignores the first seconds of the call (the canceller converging).
pub const ERLE_SETTLE_S: f64 = 2.0;
/// The send-path delay is settled once this much of the side's own talker (active 10 ms frames)
/// has gone through and the correlation passes [`CORR_THRESHOLD`], seconds.
pub const SEND_PATH_ACTIVE_S: f64 = 5.0;
/// If the send-path delay is not settled this far into the call, ERLE is given up (memory stays
/// bounded), seconds.
pub const SEND_PATH_MAX_S: f64 = 40.0;

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i).copied()
}

/// Mouth-to-ear delay of one direction.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DelayReport {
    /// Median over the windows that passed the correlation threshold, ms.
    pub median_ms: Option<f64>,
    /// 10th percentile over those windows, ms.
    pub p10_ms: Option<f64>,
    /// 90th percentile over those windows, ms.
    pub p90_ms: Option<f64>,
    /// Windows with the talker active.
    pub windows_active: usize,
    /// Windows whose correlation passed the threshold.
    pub windows_used: usize,
    /// Median correlation of the used windows.
    pub median_corr: Option<f64>,
    /// The delay of the best match over the whole call, ms.
    pub global_ms: Option<f64>,
    /// Its normalised correlation.
    pub global_corr: Option<f64>,
}

/// How long the talker's clean input takes to come out of the listener's speaker, measured as
/// the call goes.
#[derive(Debug)]
pub struct MouthToEar {
    rate: u32,
    window: usize,
    hop: usize,
    corr: Correlator,
    global: DelayStream,
    /// The talker's input and the speaker output from `start` on.
    talker: VecDeque<f32>,
    heard: VecDeque<f32>,
    start: usize,
    talker_len: usize,
    heard_len: usize,
    x: Vec<f32>,
    y: Vec<f32>,
    delays: Vec<f64>,
    corrs: Vec<f64>,
    active: usize,
}

impl MouthToEar {
    /// An analysis at `rate`.
    pub fn new(rate: u32) -> Self {
        let max_lag = (MAX_DELAY_S * f64::from(rate)) as usize;
        MouthToEar {
            rate,
            window: (WINDOW_S * f64::from(rate)) as usize,
            hop: (HOP_S * f64::from(rate)) as usize,
            corr: Correlator::new(max_lag),
            global: DelayStream::new(max_lag),
            talker: VecDeque::new(),
            heard: VecDeque::new(),
            start: 0,
            talker_len: 0,
            heard_len: 0,
            x: Vec::new(),
            y: Vec::new(),
            delays: Vec::new(),
            corrs: Vec::new(),
            active: 0,
        }
    }

    /// The next piece of the talker's clean input and of the listener's speaker output.
    pub fn push(&mut self, talker: &[f32], heard: &[f32]) {
        self.global.push_reference(talker);
        self.global.push_delayed(heard);
        self.talker.extend(talker.iter().copied());
        self.heard.extend(heard.iter().copied());
        self.talker_len += talker.len();
        self.heard_len += heard.len();
        let need = self.window + self.corr.max_lag();
        while self.start + need <= self.heard_len && self.start + self.window <= self.talker_len {
            self.window_at(need);
        }
    }

    /// Measure the window at `start` over at most `y_len` samples of the speaker output, then
    /// move on by a hop.
    fn window_at(&mut self, y_len: usize) {
        self.x.clear();
        self.x.extend(self.talker.iter().take(self.window));
        if rms_db(&self.x) >= ACTIVE_DBFS {
            self.active += 1;
            self.y.clear();
            self.y.extend(self.heard.iter().take(y_len));
            let (lag, c) = self.corr.estimate(&self.x, &self.y);
            if c >= CORR_THRESHOLD {
                self.delays.push(lag as f64 * 1000.0 / f64::from(self.rate));
                self.corrs.push(c);
            }
        }
        self.start += self.hop;
        let drop = self.hop.min(self.talker.len());
        self.talker.drain(..drop);
        let drop = self.hop.min(self.heard.len());
        self.heard.drain(..drop);
    }

    /// The figures over the whole call (the windows still open are measured on what there is).
    pub fn finish(mut self) -> DelayReport {
        while self.start + self.window <= self.talker_len {
            let avail = self.heard_len.saturating_sub(self.start);
            self.window_at(avail);
        }
        let mut delays = std::mem::take(&mut self.delays);
        let mut corrs = std::mem::take(&mut self.corrs);
        delays.sort_by(f64::total_cmp);
        corrs.sort_by(f64::total_cmp);
        let (lag, c) = self.global.result();
        let global = (c > 0.0 || lag > 0).then_some((lag, c));
        let ms = |l: usize| l as f64 * 1000.0 / f64::from(self.rate);
        DelayReport {
            median_ms: quantile(&delays, 0.5),
            p10_ms: quantile(&delays, 0.1),
            p90_ms: quantile(&delays, 0.9),
            windows_active: self.active,
            windows_used: delays.len(),
            median_corr: quantile(&corrs, 0.5),
            global_ms: global.map(|(l, _)| ms(l)),
            global_corr: global.map(|(_, c)| c),
        }
    }
}

/// Decodes what one side sends, as the packets leave it (before the network), so the send
/// chain's output can be compared with its input. With encryption on it holds the peer's receive
/// key (from the peer's own [`CallKeys`]), exactly like the peer.
pub struct SendTap {
    rx: Option<StreamReceiver>,
    dec: OpusDecoder,
    plain: Vec<u8>,
    frame: Vec<f32>,
    /// Packets that did not decode (should stay zero).
    pub failed: u64,
}

impl std::fmt::Debug for SendTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendTap")
            .field("failed", &self.failed)
            .finish()
    }
}

impl SendTap {
    /// A tap on the packets the peer of `peer_keys` receives (`None`: no encryption).
    ///
    /// # Errors
    /// [`SimError::Step`] if the receiver or the decoder cannot be made.
    pub fn new(peer_keys: Option<&CallKeys>, suite: CipherSuite) -> Result<Self, SimError> {
        let rx = match peer_keys {
            Some(k) => Some(
                k.receiver(MediaStream::Audio, suite, std::time::Duration::from_secs(2))
                    .step("send tap receiver")?,
            ),
            None => None,
        };
        let dec = OpusDecoder::new(48_000, 1).step("send tap decoder")?;
        let frame = vec![0.0; dec.max_frame_samples()];
        Ok(SendTap {
            rx,
            dec,
            plain: Vec::with_capacity(2048),
            frame,
            failed: 0,
        })
    }

    /// Decode one packet the side sent; the decoded samples (48 kHz), empty if it failed.
    pub fn decode(&mut self, packet: &[u8]) -> &[f32] {
        let Ok(pkt) = RtpPacket::parse(packet) else {
            self.failed += 1;
            return &[];
        };
        let payload: &[u8] = match self.rx.as_mut() {
            Some(rx) => {
                let aad = rtp_aad(&pkt.header);
                match rx.unprotect_into(&aad, pkt.payload, &mut self.plain, MediaTime::ZERO) {
                    Ok(u) => &self.plain[..u.len],
                    Err(_) => {
                        self.failed += 1;
                        return &[];
                    }
                }
            }
            None => pkt.payload,
        };
        match self.dec.decode(payload, &mut self.frame) {
            Ok(n) => &self.frame[..n],
            Err(_) => {
                self.failed += 1;
                &[]
            }
        }
    }
}

/// Echo figures of one side.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct EchoFigures {
    /// Echo return loss of the simulated room (loudspeaker energy over echo energy at the
    /// microphone), dB.
    pub room_erl_db: Option<f64>,
    /// Delay of the send path (microphone to decoded send signal), measured, ms.
    pub send_path_delay_ms: Option<f64>,
    /// ERLE over far-end single-talk frames after 2 s: microphone energy over the energy of
    /// what was sent, dB; `None` over fewer than [`MIN_ERLE_FRAMES`] frames.
    pub erle_db: Option<f64>,
    /// Frames ERLE was measured over.
    pub single_talk_frames: usize,
    /// Double-talk frames.
    pub double_talk_frames: usize,
    /// In double talk: output level minus clean near-end level, dB.
    pub double_talk_level_change_db: Option<f64>,
    /// In double talk: SI-SDR gain of the output over the raw microphone against the clean
    /// near end, dB.
    pub double_talk_si_sdr_gain_db: Option<f64>,
}

/// Where the send-path delay stands.
#[derive(Debug)]
enum SendPath {
    /// Still measuring: the frames so far are kept (at most [`SEND_PATH_MAX_S`]).
    Measuring {
        est: Box<DelayStream>,
        active_frames: usize,
    },
    /// Settled at this lag, samples.
    Settled(usize),
    /// Not found within [`SEND_PATH_MAX_S`].
    NotFound,
}

/// One side's echo figures, measured as the call goes.
///
/// Per 10 ms frame it takes the microphone, the echo at the microphone, the side's clean talker
/// and what the loudspeaker played; the send signal (decoded packets, or the peer's speaker)
/// comes separately, in pieces of any length. The send-path delay (microphone to send signal) is
/// measured first, on the first [`SEND_PATH_ACTIVE_S`] seconds of the side's own speech; the
/// frames of that time are kept, then every frame is lined up with the send signal and goes into
/// an [`EchoAccumulator`]. Held: the frames waiting for their send signal (a few at a time once
/// the delay is known).
#[derive(Debug)]
pub struct EchoAnalysis {
    rate: u32,
    frame: usize,
    speaker_energy: f64,
    echo_energy: f64,
    path: SendPath,
    /// Frames (mic, echo, near) not yet measured, oldest first, from frame `first`.
    pending: VecDeque<[Vec<f32>; 3]>,
    first: usize,
    /// The send signal from sample `sent_start` on.
    sent: VecDeque<f32>,
    sent_start: usize,
    sent_len: usize,
    acc: EchoAccumulator,
    spare: Vec<[Vec<f32>; 3]>,
}

impl EchoAnalysis {
    /// The analysis of a side whose talker's loudest 10 ms frame is `near_peak_db`.
    pub fn new(rate: u32, near_peak_db: f64) -> Self {
        let max_lag = (rate / 10) as usize;
        EchoAnalysis {
            rate,
            frame: (rate / 100) as usize,
            speaker_energy: 0.0,
            echo_energy: 0.0,
            path: SendPath::Measuring {
                est: Box::new(DelayStream::new(max_lag)),
                active_frames: 0,
            },
            pending: VecDeque::new(),
            first: 0,
            sent: VecDeque::new(),
            sent_start: 0,
            sent_len: 0,
            acc: EchoAccumulator::new(rate, ERLE_SETTLE_S, Some(near_peak_db)),
            spare: Vec::new(),
        }
    }

    /// The next 10 ms: microphone, echo at the microphone, clean near end, loudspeaker.
    pub fn push_frame(&mut self, mic: &[f32], echo: &[f32], near: &[f32], speaker: &[f32]) {
        let e = |x: &[f32]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        self.speaker_energy += e(speaker);
        self.echo_energy += e(echo);
        let mut slot = self
            .spare
            .pop()
            .unwrap_or_else(|| [Vec::new(), Vec::new(), Vec::new()]);
        for (dst, src) in slot.iter_mut().zip([mic, echo, near]) {
            dst.clear();
            dst.extend_from_slice(src);
        }
        self.pending.push_back(slot);
        if let SendPath::Measuring { est, active_frames } = &mut self.path {
            est.push_reference(near);
            if rms_db(near) >= ACTIVE_DBFS {
                *active_frames += 1;
            }
        }
        self.settle(false);
        self.drain();
    }

    /// The next piece of the send signal.
    pub fn push_sent(&mut self, sent: &[f32]) {
        if let SendPath::Measuring { est, .. } = &mut self.path {
            est.push_delayed(sent);
        }
        self.sent.extend(sent.iter().copied());
        self.sent_len += sent.len();
        self.drain();
    }

    /// Settle the send-path delay when enough speech went through (or, `end`, now).
    fn settle(&mut self, end: bool) {
        let frames_in = self.first + self.pending.len();
        let SendPath::Measuring { est, active_frames } = &mut self.path else {
            return;
        };
        let enough = *active_frames as f64 >= SEND_PATH_ACTIVE_S * 100.0;
        let too_long = frames_in as f64 >= SEND_PATH_MAX_S * 100.0;
        if !(enough || too_long || end) {
            return;
        }
        let (lag, c) = est.result();
        if c >= CORR_THRESHOLD {
            self.path = SendPath::Settled(lag);
        } else if too_long || end {
            self.path = SendPath::NotFound;
            self.pending.clear();
            self.sent.clear();
        }
    }

    /// Measure the pending frames whose send signal is there.
    fn drain(&mut self) {
        let SendPath::Settled(lag) = self.path else {
            if matches!(self.path, SendPath::NotFound) {
                self.sent.clear();
                self.sent_start = self.sent_len;
            }
            return;
        };
        let f = self.frame;
        while let Some(front) = self.pending.front() {
            let from = self.first * f + lag;
            if self.sent_len < from + f {
                break;
            }
            // Drop the send signal before this frame's piece.
            let skip = from.saturating_sub(self.sent_start).min(self.sent.len());
            self.sent.drain(..skip);
            self.sent_start += skip;
            let out: Vec<f32> = self.sent.iter().take(f).copied().collect();
            let [mic, echo, near] = front;
            self.acc.push(echo, near, Some((mic, &out)));
            if let Some(slot) = self.pending.pop_front() {
                self.spare.push(slot);
            }
            self.first += 1;
        }
        if self.spare.len() > 4 {
            self.spare.truncate(4);
        }
    }

    /// The figures over the whole call.
    pub fn finish(mut self) -> EchoFigures {
        self.settle(true);
        self.drain();
        // Frames without their send signal only count towards the echo's peak.
        for [_, echo, near] in std::mem::take(&mut self.pending) {
            self.acc.push(&echo, &near, None);
        }
        let (es, ee) = (self.speaker_energy, self.echo_energy);
        let mut f = EchoFigures {
            room_erl_db: (es > 0.0 && ee > 0.0).then(|| 10.0 * (es / ee).log10()),
            ..EchoFigures::default()
        };
        let SendPath::Settled(lag) = self.path else {
            return f;
        };
        f.send_path_delay_ms = Some(lag as f64 * 1000.0 / f64::from(self.rate));
        let r = self.acc.finish();
        f.erle_db = r
            .erle_db
            .filter(|_| r.single_talk_frames >= MIN_ERLE_FRAMES);
        f.single_talk_frames = r.single_talk_frames;
        if let Some(dt) = r.double_talk {
            f.double_talk_frames = dt.frames;
            f.double_talk_level_change_db = Some(dt.level_change_db());
            f.double_talk_si_sdr_gain_db = Some(dt.si_sdr_gain_db());
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn finds_a_known_delay_per_window_and_globally() {
        let rate = 8_000;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        // Bursts of noise (speech-like on/off) and a copy 123 ms later with noise added.
        let x: Vec<f32> = (0..rate as usize * 10)
            .map(|i| {
                if (i / 4000) % 2 == 0 {
                    rng.random::<f32>() - 0.5
                } else {
                    0.0
                }
            })
            .collect();
        let d = 123 * rate as usize / 1000;
        let mut y = vec![0.0f32; x.len()];
        for (yv, xv) in y[d..].iter_mut().zip(&x) {
            *yv = 0.5 * xv + 0.05 * (rng.random::<f32>() - 0.5);
        }
        let run = |y: &[f32]| {
            let mut m = MouthToEar::new(rate);
            for (a, b) in x.chunks(80).zip(y.chunks(80)) {
                m.push(a, b);
            }
            m.finish()
        };
        let r = run(&y);
        assert_eq!(r.median_ms, Some(123.0));
        assert_eq!(r.global_ms, Some(123.0));
        assert!(r.windows_used >= 5, "{r:?}");
        // Unrelated noise does not pass the threshold.
        let z: Vec<f32> = (0..x.len()).map(|_| rng.random::<f32>() - 0.5).collect();
        let r = run(&z);
        assert_eq!(r.windows_used, 0, "{r:?}");
        assert!(r.median_ms.is_none());
    }

    /// ERLE needs enough single-talk frames; the streaming analysis equals the whole-signal
    /// measurement.
    #[test]
    fn erle_needs_enough_single_talk_frames() {
        // 10 s at 8 kHz: the near talker in bursts for the first 8 s, then echo only for
        // `echo_frames` frames of 10 ms; the side sends its near talker and a tenth of the echo
        // (20 dB ERLE), 3 ms late.
        let rate = 8_000u32;
        let n = 10 * rate as usize;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let near: Vec<f32> = (0..n)
            .map(|i| {
                if i < 8 * rate as usize && (i / 2000) % 2 == 0 {
                    rng.random::<f32>() - 0.5
                } else {
                    0.0
                }
            })
            .collect();
        let peak = parla_metrics::echo::peak_frame_db(&near, 80);
        let mut figures = |echo_frames: usize| {
            let start = 8 * rate as usize;
            let echo: Vec<f32> = (0..n)
                .map(|i| {
                    if (start..start + echo_frames * 80).contains(&i) {
                        0.3 * (rng.random::<f32>() - 0.5)
                    } else {
                        0.0
                    }
                })
                .collect();
            let mic: Vec<f32> = near.iter().zip(&echo).map(|(a, b)| a + b).collect();
            let mut sent = vec![0.0f32; 24];
            sent.extend(near.iter().zip(&echo).map(|(a, b)| a + 0.1 * b));
            let mut a = EchoAnalysis::new(rate, peak);
            for i in 0..n / 80 {
                let r = i * 80..(i + 1) * 80;
                a.push_frame(
                    &mic[r.clone()],
                    &echo[r.clone()],
                    &near[r.clone()],
                    &echo[r],
                );
                // The send signal in 20 ms pieces, a frame behind.
                if i % 2 == 1 {
                    a.push_sent(&sent[(i - 1) * 80..(i + 1) * 80]);
                }
            }
            let batch = parla_metrics::echo::measure(
                parla_metrics::echo::EchoSignals {
                    rate,
                    mic: &mic,
                    out: &sent[..n],
                    echo: &echo,
                    near: &near,
                    out_delay: 24,
                },
                ERLE_SETTLE_S,
            );
            (a.finish(), batch)
        };
        let (few, _) = figures(2);
        assert_eq!(few.send_path_delay_ms, Some(3.0), "{few:?}");
        assert_eq!(few.single_talk_frames, 2, "{few:?}");
        assert_eq!(few.erle_db, None, "{few:?}");
        let (enough, batch) = figures(80);
        assert!(enough.single_talk_frames >= MIN_ERLE_FRAMES, "{enough:?}");
        assert_eq!(enough.single_talk_frames, batch.single_talk_frames);
        let erle = enough.erle_db.expect("ERLE over 80 frames");
        assert!((erle - 20.0).abs() < 0.5, "{erle}");
        assert!((erle - batch.erle_db.expect("batch")).abs() < 1e-9);
    }
}
