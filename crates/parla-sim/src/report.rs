//! The report of a simulated call (`report.json`) and its readable summary (`report.txt`).

use std::fmt::Write as _;

use parla_engine::{CallStats, StageCpu};
use serde::Serialize;

use crate::analysis::{DelayReport, EchoFigures};
use crate::network::PathCounts;

/// CPU time of one stage per frame, microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Cpu {
    /// Median.
    pub median_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Frames (or packets) measured.
    pub frames: u64,
}

impl From<StageCpu> for Cpu {
    fn from(s: StageCpu) -> Self {
        Cpu {
            median_us: s.median_us,
            p99_us: s.p99_us,
            p999_us: s.p999_us,
            frames: s.frames,
        }
    }
}

/// One side's figures.
#[derive(Debug, Serialize)]
pub struct SideReport {
    /// "A" or "B".
    pub name: String,
    /// Echo figures.
    pub echo: EchoFigures,
    /// The simulated room's bulk echo delay (a parameter of the simulation, seeded), ms.
    pub room_bulk_delay_ms: f64,
    /// What the ERLE was measured on.
    pub erle_measured_on: String,
    /// The echo canceller's own delay estimate at the end, ms (-1: unknown).
    pub aec_delay_estimate_ms: i32,
    /// Packets the side sent.
    pub packets_sent: u64,
    /// CPU per stage (name, figures) in pipeline order.
    pub cpu: Vec<(String, Cpu)>,
    /// Congestion control of what this side sends.
    pub bwe: BweReport,
}

/// One second of a side's congestion control.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BweSample {
    /// Seconds into the call.
    pub t_s: f64,
    /// The bandwidth estimate, bits per second.
    pub estimate_bps: u64,
    /// What the side sent in the last second (RTP and RTCP, IP/UDP included), bits per second.
    pub sent_bps: f64,
    /// The Opus bitrate, bits per second.
    pub audio_bitrate_bps: u32,
    /// FEC on.
    pub audio_fec: bool,
    /// The loss FEC is sized for, percent.
    pub audio_expected_loss_percent: u32,
    /// Audio per packet, ms.
    pub audio_frame_ms: u32,
    /// Loss of this side's packets from transport feedback, percent.
    pub loss_percent: f64,
}

/// Congestion control of one side's sending (`bwe` in the report).
#[derive(Debug, Clone, Serialize)]
pub struct BweReport {
    /// Congestion control was on.
    pub enabled: bool,
    /// The estimate at the end, bits per second.
    pub final_estimate_bps: u64,
    /// Mean of the per-second estimates, bits per second.
    pub mean_estimate_bps: f64,
    /// What the side sent over the estimate, mean of the per-second ratios (audio alone uses
    /// a small part of the link: this is the share of the estimate it used).
    pub utilization: f64,
    /// Queueing delay on the way out (one-way delay minus its minimum), median, ms.
    pub queue_delay_p50_ms: f64,
    /// Queueing delay, 95th percentile, ms.
    pub queue_delay_p95_ms: f64,
    /// Mean Opus bitrate over the per-second samples, bits per second.
    pub audio_bitrate_mean_bps: f64,
    /// Share of the seconds with FEC on, percent.
    pub fec_on_percent: f64,
    /// Times the audio adaptation changed the encoder.
    pub adaptations: u64,
    /// Round-trip time from RTCP at the end, ms (-1: none measured).
    pub rtt_ms: f64,
    /// RTCP packets sent, received (authenticated, valid) and rejected.
    pub rtcp_sent: u64,
    /// See `rtcp_sent`.
    pub rtcp_received: u64,
    /// See `rtcp_sent`.
    pub rtcp_rejected: u64,
    /// Transport feedback packets sent and received.
    pub feedback_sent: u64,
    /// See `feedback_sent`.
    pub feedback_received: u64,
    /// One sample per second.
    pub timeline: Vec<BweSample>,
}

impl BweReport {
    /// The report from the side's final statistics, its per-second samples and the queueing
    /// delay of its outgoing path.
    pub fn new(s: &CallStats, enabled: bool, timeline: Vec<BweSample>, path: &PathCounts) -> Self {
        let n = timeline.len().max(1) as f64;
        let mean = |f: &dyn Fn(&BweSample) -> f64| timeline.iter().map(f).sum::<f64>() / n;
        BweReport {
            enabled,
            final_estimate_bps: s.bwe_target_bps,
            mean_estimate_bps: mean(&|x| x.estimate_bps as f64),
            utilization: mean(&|x| {
                if x.estimate_bps > 0 {
                    x.sent_bps / x.estimate_bps as f64
                } else {
                    0.0
                }
            }),
            queue_delay_p50_ms: path.queue_p50_ms,
            queue_delay_p95_ms: path.queue_p95_ms,
            audio_bitrate_mean_bps: mean(&|x| f64::from(x.audio_bitrate_bps)),
            fec_on_percent: 100.0 * mean(&|x| f64::from(u8::from(x.audio_fec))),
            adaptations: s.audio_adaptations,
            rtt_ms: s.rtt_ms,
            rtcp_sent: s.rtcp_sent,
            rtcp_received: s.rtcp_received,
            rtcp_rejected: s.rtcp_rejected,
            feedback_sent: s.feedback_sent,
            feedback_received: s.feedback_received,
            timeline,
        }
    }
}

/// What the listener's receive pipeline counted.
#[derive(Debug, Serialize)]
pub struct ReceiverReport {
    /// Packets handed to the listener.
    pub packets_received: u64,
    /// Packets that were not valid RTP for the call.
    pub packets_invalid: u64,
    /// Frames that authenticated.
    pub e2ee_accepted: u64,
    /// Frames rejected by authentication.
    pub e2ee_auth_failures: u64,
    /// Frames rejected as replays.
    pub e2ee_replays: u64,
    /// Frames with an unknown key.
    pub e2ee_unknown_key: u64,
    /// Frames with a malformed SFrame header.
    pub e2ee_malformed: u64,
    /// All rejected frames.
    pub e2ee_rejected: u64,
    /// Packets the jitter buffer declared lost.
    pub jitter_lost: u64,
    /// Packets that arrived too late to be played.
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Reordered arrivals.
    pub reordered: u64,
    /// Lost packets recovered from FEC.
    pub fec_recovered: u64,
    /// Samples played, 48 kHz.
    pub output_samples: u64,
    /// Concealed samples, 48 kHz.
    pub concealed_samples: u64,
    /// Concealed share of the played samples, percent.
    pub concealed_percent: f64,
    /// Concealment events.
    pub concealment_events: u64,
    /// Concealments of 150 ms or more.
    pub interruptions: u64,
    /// Mean packet wait in the jitter buffer as the engine reports it, ms (`CallStats`; the
    /// engine currently fills it only from a time-stamped jitter snapshot, see docs/CALL.md).
    pub jitter_mean_wait_ms: f64,
    /// 95th percentile packet wait, ms.
    pub jitter_p95_wait_ms: f64,
    /// The jitter buffer's target delay at the end, ms.
    pub jitter_target_ms: f64,
    /// The jitter buffer's delay at the end, ms.
    pub jitter_delay_ms: f64,
    /// The jitter buffer's delay (audio buffered), sampled every 10 ms: mean, ms.
    pub buffer_delay_mean_ms: f64,
    /// Its 95th percentile, ms.
    pub buffer_delay_p95_ms: f64,
    /// Its maximum, ms.
    pub buffer_delay_max_ms: f64,
}

impl ReceiverReport {
    /// These counts with the buffer-delay figures of `samples` (ms, one per 10 ms).
    pub fn with_buffer_delay(mut self, samples: &[f64]) -> Self {
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        if let Some(&max) = v.last() {
            self.buffer_delay_mean_ms = v.iter().sum::<f64>() / v.len() as f64;
            self.buffer_delay_p95_ms = v[(v.len() * 95 / 100).min(v.len() - 1)];
            self.buffer_delay_max_ms = max;
        }
        self
    }
}

impl From<&CallStats> for ReceiverReport {
    fn from(s: &CallStats) -> Self {
        let rejected =
            s.e2ee_auth_failures + s.e2ee_replays + s.e2ee_unknown_key + s.e2ee_malformed;
        ReceiverReport {
            packets_received: s.packets_received,
            packets_invalid: s.packets_invalid,
            e2ee_accepted: s.e2ee_accepted,
            e2ee_auth_failures: s.e2ee_auth_failures,
            e2ee_replays: s.e2ee_replays,
            e2ee_unknown_key: s.e2ee_unknown_key,
            e2ee_malformed: s.e2ee_malformed,
            e2ee_rejected: rejected,
            jitter_lost: s.packets_lost,
            late: s.packets_late,
            duplicates: s.packets_duplicate,
            reordered: s.packets_reordered,
            fec_recovered: s.fec_recovered,
            output_samples: s.output_samples,
            concealed_samples: s.concealed_samples,
            concealed_percent: if s.output_samples > 0 {
                100.0 * s.concealed_samples as f64 / s.output_samples as f64
            } else {
                0.0
            },
            concealment_events: s.concealment_events,
            interruptions: s.interruptions,
            jitter_mean_wait_ms: s.jitter_mean_wait_ms,
            jitter_p95_wait_ms: s.jitter_p95_wait_ms,
            jitter_target_ms: s.jitter_target_ms,
            jitter_delay_ms: s.jitter_delay_ms,
            buffer_delay_mean_ms: 0.0,
            buffer_delay_p95_ms: 0.0,
            buffer_delay_max_ms: 0.0,
        }
    }
}

/// One direction of the call (talker to listener).
#[derive(Debug, Serialize)]
pub struct DirectionReport {
    /// "A->B" or "B->A".
    pub name: String,
    /// Mouth-to-ear delay.
    pub mouth_to_ear: DelayReport,
    /// What the network did.
    pub network: PathCounts,
    /// What the listener's receive pipeline counted.
    pub receiver: ReceiverReport,
    /// Video (calls with `--video`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<crate::video::VideoReport>,
}

/// End-to-end encryption figures.
#[derive(Debug, Serialize)]
pub struct E2eeReport {
    /// Encryption on.
    pub enabled: bool,
    /// A's safety code.
    pub safety_code_a: Option<String>,
    /// B's safety code.
    pub safety_code_b: Option<String>,
    /// Whether the two codes are equal.
    pub safety_codes_match: bool,
}

/// The whole report (`report.json`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// "simulated" or "realtime".
    pub mode: String,
    /// The network condition.
    pub network: String,
    /// Seed.
    pub seed: u64,
    /// Call length, seconds.
    pub seconds: f64,
    /// Echo canceller mode.
    pub aec: String,
    /// AEC3 tuning ("library" or "near-end").
    pub aec_tuning: String,
    /// Opus bitrate.
    pub bitrate_bps: u32,
    /// Audio per packet, ms.
    pub frame_ms: u32,
    /// Noise suppression.
    pub noise_suppression: bool,
    /// Tamper period, if any.
    pub tamper_every: Option<u64>,
    /// Wall time of the call itself (analysis and files excluded), seconds.
    pub wall_seconds: f64,
    /// Wall time over call time (below 1: faster than real time).
    pub real_time_factor: f64,
    /// Encryption.
    pub e2ee: E2eeReport,
    /// A talks, B listens.
    pub a_to_b: DirectionReport,
    /// B talks, A listens.
    pub b_to_a: DirectionReport,
    /// Side A.
    pub side_a: SideReport,
    /// Side B.
    pub side_b: SideReport,
}

/// CPU per stage in pipeline order.
pub fn cpu_list(s: &CallStats) -> Vec<(String, Cpu)> {
    s.cpu
        .stages()
        .into_iter()
        .map(|(n, v)| (n.to_string(), Cpu::from(v)))
        .collect()
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}{unit}"))
}

fn video_summary(s: &mut String, v: &crate::video::VideoReport) {
    let _ = writeln!(
        s,
        "  video: {} of {} frames decoded, {} freezes ({:.2}% of the time, longest gap {:.0} ms); delay capture to render median {:.0} ms, p95 {:.0} ms; keyframe recovery max {:.0} ms ({} requested, {} unanswered)",
        v.frames_decoded,
        v.frames_sent,
        v.freezes,
        v.freeze_time_percent,
        v.longest_gap_ms,
        v.e2e_delay_ms.median,
        v.e2e_delay_ms.p95,
        v.keyframe_recovery_ms,
        v.keyframes_requested,
        v.keyframe_requests_unanswered
    );
    let last = v.timeline.last();
    let _ = writeln!(
        s,
        "  video quality ({}): PSNR-Y mean {:.1} dB, p5 {:.1} dB over {} frames ({} at a lower size); at the end {}x{} {} fps, {:.0} kbit/s; A/V skew p5 {:.0} ms, p95 {:.0} ms (second half {:.0}..{:.0}; + audio leads), engine estimate {:.0} ms, holds audio {:.0} ms / video {:.0} ms",
        v.picture,
        v.psnr_db.mean,
        v.psnr_db.p5,
        v.frames_scored,
        v.frames_scored_rescaled,
        last.map_or(0, |l| l.width),
        last.map_or(0, |l| l.height),
        last.map_or(0, |l| l.fps),
        last.map_or(0.0, |l| l.sent_bps / 1000.0),
        v.av_skew_ms.p5,
        v.av_skew_ms.p95,
        v.av_skew_second_half_ms.p5,
        v.av_skew_second_half_ms.p95,
        v.engine_av_skew_ms,
        v.sync_audio_hold_ms,
        v.sync_video_hold_ms
    );
    let _ = writeln!(
        s,
        "  video repair: {} packets lost, {:.0}% recovered ({:.0}% before their frame was due; {} frames released late, by up to {:.0} ms); {} NACKs, {} retransmissions received, {} packets recovered, {} frames dropped, {} refused by authentication, {} keyframes sent, {} encoder errors, {} captures skipped under congestion",
        v.packets_lost,
        v.packets_recovered_percent,
        v.packets_recovered_in_time_percent,
        v.frames_late,
        v.max_late_ms,
        v.nacks_sent,
        v.rtx_received,
        v.packets_recovered,
        v.frames_dropped,
        v.frames_auth_failed,
        v.keyframes_sent,
        v.encode_errors,
        v.frames_skipped_congested
    );
    if let Some(t) = v.first_frame_after_outage_ms {
        let _ = writeln!(
            s,
            "  video after the outage: first new frame decoded {t:.0} ms after the link returned"
        );
    }
    if let Some(t) = v.queue_back_under_after_step_s {
        let _ = writeln!(
            s,
            "  link after the step: queueing delay back under {:.0} ms within {t:.0} s; {}",
            crate::video::QUEUE_SETTLED_MS,
            v.queue_settled_after_step_s.map_or_else(
                || "not under it for good within the call".to_string(),
                |t| format!("under it for good from {t:.0} s after the step")
            ),
        );
    }
}

/// The readable summary (`report.txt`).
pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "parla call: {} s, {} mode, network {}, seed {}, aec {} ({} tuning), Opus {} kbit/s in {} \
         ms packets{}",
        r.seconds,
        r.mode,
        r.network,
        r.seed,
        r.aec,
        r.aec_tuning,
        r.bitrate_bps / 1000,
        r.frame_ms,
        r.tamper_every
            .map_or(String::new(), |n| format!(", tampering every {n}th packet"))
    );
    let _ = writeln!(
        s,
        "wall time {:.2} s, real-time factor {:.3}",
        r.wall_seconds, r.real_time_factor
    );
    if r.e2ee.enabled {
        let _ = writeln!(
            s,
            "end-to-end encryption: on; safety codes {}",
            if r.e2ee.safety_codes_match {
                "MATCH"
            } else {
                "DIFFER"
            }
        );
        let _ = writeln!(s, "  A: {}", r.e2ee.safety_code_a.as_deref().unwrap_or("-"));
        let _ = writeln!(s, "  B: {}", r.e2ee.safety_code_b.as_deref().unwrap_or("-"));
    } else {
        let _ = writeln!(s, "end-to-end encryption: OFF");
    }
    for d in [&r.a_to_b, &r.b_to_a] {
        let m = &d.mouth_to_ear;
        let n = &d.network;
        let rx = &d.receiver;
        let _ = writeln!(s, "\n{}", d.name);
        let _ = writeln!(
            s,
            "  mouth-to-ear: median {} (p10 {}, p90 {}) over {}/{} windows, median corr {}; global {} (corr {})",
            opt(m.median_ms, " ms"),
            opt(m.p10_ms, " ms"),
            opt(m.p90_ms, " ms"),
            m.windows_used,
            m.windows_active,
            m.median_corr.map_or("n/a".into(), |c| format!("{c:.2}")),
            opt(m.global_ms, " ms"),
            m.global_corr.map_or("n/a".into(), |c| format!("{c:.2}")),
        );
        let _ = writeln!(
            s,
            "  network: {} sent, {} lost ({:.2}%), {} duplicated, {} delivered, {} in flight at the end; one-way delay mean {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            n.sent,
            n.lost,
            if n.sent > 0 {
                100.0 * n.lost as f64 / n.sent as f64
            } else {
                0.0
            },
            n.duplicates,
            n.delivered,
            n.in_flight_at_end,
            n.mean_delay_ms,
            n.p95_delay_ms,
            n.max_delay_ms
        );
        let _ = writeln!(
            s,
            "  jitter buffer: {} lost, {} late, {} FEC-recovered; delay mean {:.1} ms, p95 {:.1} ms, max {:.1} ms; target {:.1} ms at the end",
            rx.jitter_lost,
            rx.late,
            rx.fec_recovered,
            rx.buffer_delay_mean_ms,
            rx.buffer_delay_p95_ms,
            rx.buffer_delay_max_ms,
            rx.jitter_target_ms
        );
        let _ = writeln!(
            s,
            "  concealment: {} samples ({:.2}% of {}), {} events, {} interruptions",
            rx.concealed_samples,
            rx.concealed_percent,
            rx.output_samples,
            rx.concealment_events,
            rx.interruptions
        );
        let _ = writeln!(
            s,
            "  e2ee: {} accepted, {} rejected ({} authentication, {} replay, {} unknown key, {} malformed); {} invalid packets; tampered {} sent / {} delivered",
            rx.e2ee_accepted,
            rx.e2ee_rejected,
            rx.e2ee_auth_failures,
            rx.e2ee_replays,
            rx.e2ee_unknown_key,
            rx.e2ee_malformed,
            rx.packets_invalid,
            n.tampered,
            n.tampered_delivered
        );
        if let Some(v) = &d.video {
            video_summary(&mut s, v);
        }
    }
    for side in [&r.side_a, &r.side_b] {
        let e = &side.echo;
        let _ = writeln!(s, "\nside {}", side.name);
        let _ = writeln!(
            s,
            "  echo: room bulk delay {:.1} ms, ERL {}, ERLE {} over {} single-talk frames (on {}), send path {}; double talk {} frames, level change {}; AEC delay estimate {} ms",
            side.room_bulk_delay_ms,
            opt(e.room_erl_db, " dB"),
            opt(e.erle_db, " dB"),
            e.single_talk_frames,
            side.erle_measured_on,
            opt(e.send_path_delay_ms, " ms"),
            e.double_talk_frames,
            opt(e.double_talk_level_change_db, " dB"),
            side.aec_delay_estimate_ms
        );
        let _ = writeln!(
            s,
            "  CPU per frame (us): stage median / p99 / p99.9 (frames)"
        );
        let b = &side.bwe;
        if b.enabled {
            let _ = writeln!(
                s,
                "  congestion control: estimate {:.0} kbit/s at the end (mean {:.0}), used {:.0}%; Opus mean {:.1} kbit/s, FEC on {:.0}% of the time, {} adaptations; RTT {}; RTCP {} sent / {} received / {} rejected; queueing delay out p50 {:.1} ms, p95 {:.1} ms",
                b.final_estimate_bps as f64 / 1000.0,
                b.mean_estimate_bps / 1000.0,
                100.0 * b.utilization,
                b.audio_bitrate_mean_bps / 1000.0,
                b.fec_on_percent,
                b.adaptations,
                if b.rtt_ms >= 0.0 {
                    format!("{:.0} ms", b.rtt_ms)
                } else {
                    "n/a".into()
                },
                b.rtcp_sent,
                b.rtcp_received,
                b.rtcp_rejected,
                b.queue_delay_p50_ms,
                b.queue_delay_p95_ms
            );
        } else {
            let _ = writeln!(s, "  congestion control: off");
        }
        for (name, c) in &side.cpu {
            if c.frames > 0 {
                let _ = writeln!(
                    s,
                    "    {name:<12} {:>8.1} {:>8.1} {:>8.1} ({})",
                    c.median_us, c.p99_us, c.p999_us, c.frames
                );
            }
        }
    }
    s
}
