//! What the report measures from the signals: mouth-to-ear delay by cross-correlation, and the
//! echo canceller's ERLE on what a side actually sends (decoded by a tap before the network).

use parla_codec::opus::OpusDecoder;
use parla_core::MediaTime;
use parla_rtp::e2ee::{CallKeys, CipherSuite, MediaStream, StreamReceiver, rtp_aad};
use parla_rtp::rtp::RtpPacket;
use realfft::RealFftPlanner;
use realfft::num_complex::Complex32;

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

/// `r[lag] = sum_i x[i] * y[i + lag]` for `lag` in `0..=max_lag`, by FFT.
fn xcorr(x: &[f32], y: &[f32], max_lag: usize) -> Vec<f64> {
    let n = (x.len() + y.len()).next_power_of_two().max(2);
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut xa = vec![0.0f32; n];
    xa[..x.len()].copy_from_slice(x);
    let mut ya = vec![0.0f32; n];
    ya[..y.len()].copy_from_slice(y);
    let mut xs = fwd.make_output_vec();
    let mut ys = fwd.make_output_vec();
    // Buffers come from the plan, so the transforms cannot fail on length.
    let _ = fwd.process(&mut xa, &mut xs);
    let _ = fwd.process(&mut ya, &mut ys);
    let mut prod: Vec<Complex32> = xs.iter().zip(&ys).map(|(a, b)| a.conj() * b).collect();
    if let Some(f) = prod.first_mut() {
        f.im = 0.0;
    }
    if let Some(l) = prod.last_mut() {
        l.im = 0.0;
    }
    let mut out = inv.make_output_vec();
    let _ = inv.process(&mut prod, &mut out);
    let scale = 1.0 / n as f64;
    out.iter()
        .take(max_lag + 1)
        .map(|&v| f64::from(v) * scale)
        .collect()
}

/// The lag in `0..=max_lag` at which `y` best matches `x` (normalised cross-correlation), and the
/// correlation there. `None` when either signal is silent.
pub fn best_lag(x: &[f32], y: &[f32], max_lag: usize) -> Option<(usize, f64)> {
    let ex: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
    if ex <= 1e-12 || y.is_empty() {
        return None;
    }
    let r = xcorr(x, y, max_lag);
    // Energy of y under the window at each lag, from prefix sums.
    let mut prefix = Vec::with_capacity(y.len() + 1);
    prefix.push(0.0f64);
    for &v in y {
        let last = prefix.last().copied().unwrap_or(0.0);
        prefix.push(last + f64::from(v).powi(2));
    }
    let mut best: Option<(usize, f64)> = None;
    for (lag, &dot) in r.iter().enumerate() {
        if lag >= y.len() {
            break;
        }
        let end = (lag + x.len()).min(y.len());
        let ey = prefix[end] - prefix[lag];
        if ey <= 1e-12 {
            continue;
        }
        let c = dot / (ex * ey).sqrt();
        if best.is_none_or(|(_, b)| c > b) {
            best = Some((lag, c));
        }
    }
    best
}

/// Mouth-to-ear delay of one direction.
#[derive(Debug, Clone, Default, serde::Serialize)]
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

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i).copied()
}

fn rms_db(x: &[f32]) -> f64 {
    parla_metrics::rms_db(x)
}

/// Measure how long the talker's clean input takes to come out of the listener's speaker.
pub fn mouth_to_ear(talker: &[f32], heard: &[f32], rate: u32) -> DelayReport {
    let w = (WINDOW_S * f64::from(rate)) as usize;
    let hop = (HOP_S * f64::from(rate)) as usize;
    let max_lag = (MAX_DELAY_S * f64::from(rate)) as usize;
    let ms = |lag: usize| lag as f64 * 1000.0 / f64::from(rate);
    let mut delays = Vec::new();
    let mut corrs = Vec::new();
    let mut active = 0;
    let mut start = 0;
    while start + w <= talker.len() {
        let x = &talker[start..start + w];
        if rms_db(x) >= ACTIVE_DBFS {
            active += 1;
            let y = &heard[start.min(heard.len())..(start + w + max_lag).min(heard.len())];
            if let Some((lag, c)) = best_lag(x, y, max_lag)
                && c >= CORR_THRESHOLD
            {
                delays.push(ms(lag));
                corrs.push(c);
            }
        }
        start += hop;
    }
    delays.sort_by(f64::total_cmp);
    corrs.sort_by(f64::total_cmp);
    let global = best_lag(talker, heard, max_lag);
    DelayReport {
        median_ms: quantile(&delays, 0.5),
        p10_ms: quantile(&delays, 0.1),
        p90_ms: quantile(&delays, 0.9),
        windows_active: active,
        windows_used: delays.len(),
        median_corr: quantile(&corrs, 0.5),
        global_ms: global.map(|(l, _)| ms(l)),
        global_corr: global.map(|(_, c)| c),
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
    /// The decoded send signal at 48 kHz.
    pub pcm: Vec<f32>,
    /// Packets that did not decode (should stay zero).
    pub failed: u64,
}

impl std::fmt::Debug for SendTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendTap")
            .field("samples", &self.pcm.len())
            .finish()
    }
}

impl SendTap {
    /// A tap on the packets the peer of `peer_keys` receives (`None`: no encryption).
    pub fn new(peer_keys: Option<&CallKeys>, suite: CipherSuite) -> anyhow::Result<Self> {
        let rx = match peer_keys {
            Some(k) => {
                Some(k.receiver(MediaStream::Audio, suite, std::time::Duration::from_secs(2))?)
            }
            None => None,
        };
        let dec = OpusDecoder::new(48_000, 1)?;
        let frame = vec![0.0; dec.max_frame_samples()];
        Ok(SendTap {
            rx,
            dec,
            plain: Vec::with_capacity(2048),
            frame,
            pcm: Vec::new(),
            failed: 0,
        })
    }

    /// Decode one packet the side sent.
    pub fn push(&mut self, packet: &[u8]) {
        let Ok(pkt) = RtpPacket::parse(packet) else {
            self.failed += 1;
            return;
        };
        let payload: &[u8] = match self.rx.as_mut() {
            Some(rx) => {
                let aad = rtp_aad(&pkt.header);
                match rx.unprotect_into(&aad, pkt.payload, &mut self.plain, MediaTime::ZERO) {
                    Ok(u) => &self.plain[..u.len],
                    Err(_) => {
                        self.failed += 1;
                        return;
                    }
                }
            }
            None => pkt.payload,
        };
        match self.dec.decode(payload, &mut self.frame) {
            Ok(n) => self.pcm.extend_from_slice(&self.frame[..n]),
            Err(_) => self.failed += 1,
        }
    }
}

/// Echo figures of one side.
#[derive(Debug, Clone, Default, serde::Serialize)]
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

/// Measure one side's echo figures.
pub fn echo_figures(
    rate: u32,
    mic: &[f32],
    echo: &[f32],
    near: &[f32],
    speaker: &[f32],
    sent: &[f32],
) -> EchoFigures {
    let e = |x: &[f32]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
    let (es, ee) = (e(speaker), e(echo));
    let room_erl_db = (es > 0.0 && ee > 0.0).then(|| 10.0 * (es / ee).log10());
    let max = (rate / 10) as usize;
    let lag = best_lag(near, sent, max)
        .filter(|&(_, c)| c >= CORR_THRESHOLD)
        .map(|(l, _)| l);
    let mut f = EchoFigures {
        room_erl_db,
        send_path_delay_ms: lag.map(|l| l as f64 * 1000.0 / f64::from(rate)),
        ..EchoFigures::default()
    };
    let Some(lag) = lag else {
        return f;
    };
    let r = parla_metrics::echo::measure(
        parla_metrics::echo::EchoSignals {
            rate,
            mic,
            out: sent,
            echo,
            near,
            out_delay: lag,
        },
        2.0,
    );
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
        let r = mouth_to_ear(&x, &y, rate);
        assert_eq!(r.median_ms, Some(123.0));
        assert_eq!(r.global_ms, Some(123.0));
        assert!(r.windows_used >= 5, "{r:?}");
        // Unrelated noise does not pass the threshold.
        let z: Vec<f32> = (0..x.len()).map(|_| rng.random::<f32>() - 0.5).collect();
        let r = mouth_to_ear(&x, &z, rate);
        assert_eq!(r.windows_used, 0, "{r:?}");
        assert!(r.median_ms.is_none());
    }

    #[test]
    fn erle_needs_enough_single_talk_frames() {
        // 4 s at 8 kHz: the near talker in bursts for the first 3 s, then echo only (the near end
        // silent) for `echo_frames` frames of 10 ms; the side sends its near talker and a tenth
        // of the echo (20 dB ERLE).
        let rate = 8_000u32;
        let n = 4 * rate as usize;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let near: Vec<f32> = (0..n)
            .map(|i| {
                if i < 3 * rate as usize && (i / 2000) % 2 == 0 {
                    rng.random::<f32>() - 0.5
                } else {
                    0.0
                }
            })
            .collect();
        let mut figures = |echo_frames: usize| {
            let start = 3 * rate as usize;
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
            let sent: Vec<f32> = near.iter().zip(&echo).map(|(a, b)| a + 0.1 * b).collect();
            echo_figures(rate, &mic, &echo, &near, &echo, &sent)
        };
        let few = figures(2);
        assert_eq!(few.single_talk_frames, 2, "{few:?}");
        assert_eq!(few.erle_db, None, "{few:?}");
        let enough = figures(80);
        assert!(enough.single_talk_frames >= MIN_ERLE_FRAMES, "{enough:?}");
        let erle = enough.erle_db.expect("ERLE over 80 frames");
        assert!((erle - 20.0).abs() < 0.5, "{erle}");
    }

    #[test]
    fn fft_correlation_matches_the_direct_sum() {
        let x = [1.0f32, -2.0, 0.5];
        let y = [0.0f32, 0.0, 1.0, -2.0, 0.5, 0.0];
        let r = xcorr(&x, &y, 3);
        let direct: Vec<f64> = (0..=3)
            .map(|lag| {
                x.iter()
                    .enumerate()
                    .map(|(i, &v)| f64::from(v) * f64::from(*y.get(i + lag).unwrap_or(&0.0)))
                    .sum()
            })
            .collect();
        for (a, b) in r.iter().zip(&direct) {
            assert!((a - b).abs() < 1e-4, "{r:?} vs {direct:?}");
        }
        assert_eq!(best_lag(&x, &y, 3).map(|b| b.0), Some(2));
    }
}
