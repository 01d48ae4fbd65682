//! The estimator's evaluation (issue 16 point 5; feature `eval`): a simulated sender through a
//! `parla-netsim` bottleneck over the standard scenarios, shared by `parla cc eval`, the
//! harness's `cc` suite and the tests.
//!
//! Each flow: 120-byte audio packets every 20 ms plus a "video-like" source that fills the
//! target rate (one frame every 33 ms, split into packets of at most 1200 bytes), through the
//! [`Pacer`] into the shared drop-tail [`Bottleneck`] (driven by a link trace), 25 ms each way;
//! the receiver writes transport-wide feedback every 50 ms, authenticated with
//! [`FeedbackAuth`], back over an uncongested path. Optional cross traffic (on/off bursts of
//! 1200-byte packets, seeded) shares the queue.
//!
//! Senders ([`SenderKind`]): the estimator; a fixed-rate sender (the harness and the CLI run it
//! at the estimator's mean send rate of the same scenario: "a fixed sender at the same mean
//! rate"); and the estimator off (the sender keeps the start rate, feedback ignored).
//!
//! Figures ([`RunReport`]) are measured after a warm-up (5 s, or the scenario's): utilization
//! (bytes our flows delivered / bytes the link could carry), queueing delay (one-way delay minus
//! the run's minimum, per delivered packet of ours), loss, and for the step scenario the times
//! to converge, to drain the queue and to recover; for two flows the share ratio. After the
//! run's end nothing more is sent and the link serves its queue for up to [`TAIL_US`]: a packet
//! still queued at the end counts with its delay, not as lost.
//!
//! [`SweepComparison`] puts the estimator beside fixed senders at several rates
//! ([`SWEEP_FACTORS`] x its mean rate), read at the same utilization and checked for a fixed
//! rate that does better on utilization, delay and loss at once.
//!
//! This module is a tool, not a real-time path: it allocates freely and reads trace files.
#![allow(clippy::disallowed_methods)] // reads the trace files; never on the media thread

use std::collections::VecDeque;
use std::path::Path;

use parla_netsim::link::{Bottleneck, LinkTrace, MTU_BYTES};
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::auth::FeedbackAuth;
use crate::estimator::{BandwidthEstimator, CcConfig};
use crate::pacer::{PacedPacket, Pacer, PacerConfig, PacerOutput, PacketKind};
use crate::twcc::{FeedbackRecorder, MAX_FEEDBACK_LEN, TwccFeedback};

/// One-way propagation delay each way, microseconds (50 ms RTT).
pub const ONE_WAY_US: i64 = 25_000;
const FEEDBACK_EVERY_US: i64 = 50_000;
const STEP_US: i64 = 250;
const AUDIO_BYTES: u32 = 120;
/// Timeline resolution, microseconds.
pub const TIMELINE_US: i64 = 100_000;
/// The estimator's start rate (and the "off" sender's rate), bits per second.
pub const START_BPS: u64 = 300_000;
const CROSS_TAG: u64 = 0xff;
/// How long the link keeps serving its queue after a run's end (nothing more sent), so the
/// packets still queued then count with their delay rather than as lost, microseconds.
pub const TAIL_US: i64 = 10_000_000;

/// How long the standard scenarios run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// The full runs of `parla cc eval` and the harness (60 s per scenario).
    Full,
    /// Shortened runs for the debug-build tests (24-36 s).
    Short,
}

/// The link's capacity over time.
#[derive(Debug, Clone, PartialEq)]
pub enum Capacity {
    /// Piecewise constant: `(until s, bits per second)`, the last piece held to the end.
    Piecewise(Vec<(f64, f64)>),
    /// A Mahimahi trace (file name for the report), started at a seeded offset.
    Trace {
        /// File name.
        file: String,
        /// The parsed trace.
        trace: LinkTrace,
    },
}

/// A step in capacity whose convergence is measured: down at `down_s` to `low_bps`, back up at
/// `up_s` to `high_bps`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Time of the step down, seconds.
    pub down_s: f64,
    /// Capacity after the step down.
    pub low_bps: f64,
    /// Time of the step up, seconds.
    pub up_s: f64,
    /// Capacity after the step up.
    pub high_bps: f64,
}

/// One scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name in reports (`constant-1mbps`, `step-2m-500k-2m`, `two-flows-2mbps`, `trace-...`).
    pub name: String,
    /// The link.
    pub capacity: Capacity,
    /// Drop-tail queue limit, packets.
    pub queue_packets: usize,
    /// Length, seconds.
    pub seconds: f64,
    /// Figures are measured from this time on, seconds.
    pub warmup_s: f64,
    /// Parla flows (1 or 2); the second starts at `second_flow_s`.
    pub flows: usize,
    /// Start of the second flow, seconds.
    pub second_flow_s: f64,
    /// Mean cross traffic as a fraction of the link's mean capacity (0: none).
    pub cross_fraction: f64,
    /// The step whose convergence is measured, if any.
    pub step: Option<Step>,
}

/// The sender of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "bps")]
pub enum SenderKind {
    /// The bandwidth estimator drives the rate.
    Estimator,
    /// A fixed rate, bits per second.
    Fixed(f64),
    /// The estimator off: the sender keeps [`START_BPS`].
    Off,
}

impl SenderKind {
    /// `estimator`, `fixed` or `off`.
    pub fn name(self) -> &'static str {
        match self {
            SenderKind::Estimator => "estimator",
            SenderKind::Fixed(_) => "fixed",
            SenderKind::Off => "off",
        }
    }
}

/// One point of a run's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimePoint {
    /// Seconds.
    pub t_s: f64,
    /// The link's capacity over the last interval, bits per second.
    pub capacity_bps: f64,
    /// Each flow's send rate target, bits per second (0 before a flow starts).
    pub target_bps: [f64; 2],
    /// Queueing delay of the last packet of ours delivered, milliseconds.
    pub queue_ms: f64,
}

/// The figures of one run (one scenario, one sender).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub name: String,
    /// `estimator`, `fixed` or `off`.
    pub sender: &'static str,
    /// The sender's rate for `fixed` and `off`, bits per second (the mean target for the
    /// estimator).
    pub rate_bps: f64,
    /// Bytes our flows delivered / bytes the link could carry, after the warm-up.
    pub utilization: f64,
    /// Bytes the cross traffic delivered / bytes the link could carry.
    pub cross_utilization: f64,
    /// Median queueing delay, milliseconds.
    pub queue_delay_p50_ms: f64,
    /// 95th percentile queueing delay, milliseconds.
    pub queue_delay_p95_ms: f64,
    /// Our packets lost (dropped at the bottleneck, or still queued [`TAIL_US`] after the
    /// end), percent.
    pub loss_percent: f64,
    /// Step scenario: seconds after the step down until the estimate stays within 20 % of the
    /// new capacity.
    pub convergence_s: Option<f64>,
    /// Step scenario: seconds after the step down until the queueing delay is under 50 ms.
    pub drain_s: Option<f64>,
    /// Step scenario: seconds after the step up until the estimate reaches 85 % of it.
    pub recovery_s: Option<f64>,
    /// Two flows: the second flow's delivered bytes / the first's, from the later start plus
    /// the warm-up on.
    pub share_ratio: Option<f64>,
    /// Feedback packets that failed authentication or parsing (0 in a sound run).
    pub feedback_rejected: u64,
    /// Timeline (every 100 ms), for the plots; not in report.json.
    #[serde(skip)]
    pub timeline: Vec<TimePoint>,
}

/// Mahimahi traces of the evaluation (under `net-traces/mahimahi/` of the shared folder).
pub const TRACES: [&str; 3] = [
    "TMobile-UMTS-driving.up",
    "Verizon-EVDO-driving.up",
    "Verizon-LTE-short.up",
];

/// The cross traffic's mean share of a trace's capacity.
pub const TRACE_CROSS_FRACTION: f64 = 0.2;

fn mean_bps(trace: &LinkTrace) -> f64 {
    trace.mean_packets_per_ms() * 1000.0 * f64::from(MTU_BYTES) * 8.0
}

/// The standard scenarios: constant 1 Mbit/s (200 ms drop-tail buffer), the step 2 -> 0.5 ->
/// 2 Mbit/s, two flows on 2 Mbit/s, and each trace of [`TRACES`] found under `shared`
/// (`net-traces/mahimahi/`) with cross traffic. Returns the scenarios and one note per trace
/// skipped (absent or unreadable).
pub fn standard_scenarios(shared: Option<&Path>, length: Length) -> (Vec<Scenario>, Vec<String>) {
    // (length, step piece, warm-up, two-flow length): shares need a few AIMD cycles.
    let (secs, piece, warm, two_secs) = match length {
        Length::Full => (60.0, 20.0, 5.0, 60.0),
        Length::Short => (24.0, 8.0, 3.0, 36.0),
    };
    let mut v = vec![
        Scenario {
            name: "constant-1mbps".into(),
            capacity: Capacity::Piecewise(vec![(secs, 1e6)]),
            // 200 ms of 1 Mbit/s in 1200-byte packets.
            queue_packets: 21,
            seconds: secs,
            warmup_s: warm,
            flows: 1,
            second_flow_s: 0.0,
            cross_fraction: 0.0,
            step: None,
        },
        Scenario {
            name: "step-2m-500k-2m".into(),
            capacity: Capacity::Piecewise(vec![
                (piece, 2e6),
                (2.0 * piece, 0.5e6),
                (secs.max(2.0 * piece + 12.0), 2e6),
            ]),
            queue_packets: 42,
            seconds: secs.max(2.0 * piece + 12.0),
            warmup_s: warm,
            flows: 1,
            second_flow_s: 0.0,
            cross_fraction: 0.0,
            step: Some(Step {
                down_s: piece,
                low_bps: 0.5e6,
                up_s: 2.0 * piece,
                high_bps: 2e6,
            }),
        },
        Scenario {
            name: "two-flows-2mbps".into(),
            capacity: Capacity::Piecewise(vec![(two_secs, 2e6)]),
            queue_packets: 42,
            seconds: two_secs,
            warmup_s: warm,
            flows: 2,
            second_flow_s: two_secs / 6.0,
            cross_fraction: 0.0,
            step: None,
        },
    ];
    let mut notes = Vec::new();
    let dir = shared.map(|s| s.join("net-traces").join("mahimahi"));
    for file in TRACES {
        let Some(dir) = &dir else {
            notes.push(format!("skipping {file}: no shared data folder"));
            continue;
        };
        let path = dir.join(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                notes.push(format!("skipping {file}: {} ({e})", path.display()));
                continue;
            }
        };
        match LinkTrace::parse(&text) {
            Ok(trace) => v.push(Scenario {
                name: format!("trace-{}", file.replace('.', "-")),
                capacity: Capacity::Trace {
                    file: file.to_string(),
                    trace,
                },
                queue_packets: 100,
                seconds: secs,
                warmup_s: warm,
                flows: 1,
                second_flow_s: 0.0,
                cross_fraction: TRACE_CROSS_FRACTION,
                step: None,
            }),
            Err(e) => notes.push(format!("skipping {file}: {e}")),
        }
    }
    (v, notes)
}

/// A Mahimahi trace text for a piecewise-constant capacity: (until s, bits per second).
fn piecewise_trace(pieces: &[(f64, f64)]) -> String {
    let mut s = String::new();
    let mut t_ms = 0.0f64;
    let mut from = 0.0f64;
    for &(until, bps) in pieces {
        let gap_ms = f64::from(MTU_BYTES) * 8.0 * 1000.0 / bps;
        t_ms = t_ms.max(from * 1000.0);
        while t_ms < until * 1000.0 {
            s.push_str(&format!("{}\n", t_ms.floor() as u64));
            t_ms += gap_ms;
        }
        from = until;
    }
    s
}

impl Scenario {
    fn link(&self, seed: u64) -> Result<(LinkTrace, u64), String> {
        match &self.capacity {
            Capacity::Piecewise(p) => {
                if p.is_empty()
                    || p.iter()
                        .any(|x| x.1.is_nan() || x.1 <= 0.0 || !x.0.is_finite())
                {
                    return Err(format!("{}: bad capacity pieces", self.name));
                }
                LinkTrace::parse(&piecewise_trace(p))
                    .map(|t| (t, 0))
                    .map_err(|e| format!("{}: {e}", self.name))
            }
            Capacity::Trace { trace, .. } => {
                let period = trace.period_ms().max(1);
                let offset = ChaCha8Rng::seed_from_u64(seed).random_range(0..period);
                Ok((trace.clone(), offset))
            }
        }
    }

    /// The link's mean capacity over the run, bits per second.
    pub fn mean_capacity_bps(&self) -> f64 {
        match &self.capacity {
            Capacity::Piecewise(p) => {
                let mut from = 0.0;
                let mut bits = 0.0;
                for &(until, bps) in p {
                    let until = f64::min(until, self.seconds);
                    bits += (until - from).max(0.0) * bps;
                    from = until.max(from);
                }
                bits / self.seconds.max(1e-9)
            }
            Capacity::Trace { trace, .. } => mean_bps(trace),
        }
    }
}

/// Opportunities per [`TIMELINE_US`] bin of the run, for a trace started at `offset_ms`.
fn opportunity_bins(trace: &LinkTrace, offset_ms: u64, end_us: i64) -> Vec<u32> {
    let bins = (end_us / TIMELINE_US + 1) as usize;
    let mut v = vec![0u32; bins];
    if trace.opportunities().is_empty() {
        return v;
    }
    let period = trace.period_ms().max(1);
    let end_ms = (end_us / 1000) as u64;
    let mut base = 0u64;
    'outer: loop {
        for &t in trace.opportunities() {
            let abs = base + t;
            if abs < offset_ms {
                continue;
            }
            let rel_ms = abs - offset_ms;
            if rel_ms >= end_ms {
                break 'outer;
            }
            v[(rel_ms * 1000 / TIMELINE_US as u64) as usize] += 1;
        }
        base += period;
    }
    v
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

struct Flow {
    start_us: i64,
    bwe: BandwidthEstimator,
    pacer: Pacer,
    recorder: FeedbackRecorder,
    rx_auth: FeedbackAuth,
    tx_auth: FeedbackAuth,
    /// Per packet of ours: send time and size.
    sent: Vec<(i64, u32)>,
    to_receiver: VecDeque<(i64, u64)>,
    to_sender: VecDeque<(i64, Vec<u8>)>,
    next_fb: i64,
    next_audio: i64,
    next_frame: i64,
    next_id: u64,
    next_wake: i64,
    target: f64,
    delivered_bytes: u64,
    sent_after: u64,
    received_after: u64,
}

impl Flow {
    /// `sender`'s fixed rate is shared equally by the `flows`.
    fn new(index: usize, flows: usize, start_us: i64, sender: SenderKind) -> Result<Flow, String> {
        let cfg = CcConfig {
            start_bps: START_BPS,
            ..Default::default()
        };
        let bwe = BandwidthEstimator::new(cfg).map_err(|e| e.to_string())?;
        let target = match sender {
            SenderKind::Estimator | SenderKind::Off => START_BPS as f64,
            SenderKind::Fixed(r) => r / flows as f64,
        };
        let pacer = Pacer::new(PacerConfig::default(), target as u64).map_err(|e| e.to_string())?;
        let k = index as u8;
        let (k_fwd, k_back) = ([3u8 + 2 * k; 32], [4u8 + 2 * k; 32]);
        Ok(Flow {
            start_us,
            bwe,
            pacer,
            recorder: FeedbackRecorder::new(2 + index as u32, 1 + index as u32),
            rx_auth: FeedbackAuth::new(&k_back, &k_fwd),
            tx_auth: FeedbackAuth::new(&k_fwd, &k_back),
            sent: Vec::with_capacity(1 << 18),
            to_receiver: VecDeque::new(),
            to_sender: VecDeque::new(),
            next_fb: start_us + FEEDBACK_EVERY_US,
            next_audio: start_us,
            next_frame: start_us,
            next_id: 0,
            next_wake: start_us,
            target,
            delivered_bytes: 0,
            sent_after: 0,
            received_after: 0,
        })
    }
}

/// Runs one scenario with one sender; `seed` sets the trace's start offset and the cross
/// traffic.
///
/// # Errors
/// A message for a scenario that cannot run (bad capacity, zero queue, no flow).
pub fn run(s: &Scenario, sender: SenderKind, seed: u64) -> Result<RunReport, String> {
    if s.flows == 0 || s.flows > 2 {
        return Err(format!("{}: 1 or 2 flows", s.name));
    }
    let lengths_ok = s.seconds > s.warmup_s && s.warmup_s >= 0.0 && s.seconds <= 3600.0;
    if !lengths_ok {
        return Err(format!("{}: need 0 <= warm-up < length <= 3600 s", s.name));
    }
    if let SenderKind::Fixed(r) = sender
        && !(r.is_finite() && r >= 1000.0)
    {
        return Err(format!("{}: fixed rate {r} bit/s", s.name));
    }
    let (trace, offset_ms) = s.link(seed)?;
    let mut link = Bottleneck::starting_at(trace.clone(), s.queue_packets, offset_ms)
        .map_err(|e| format!("{}: {e}", s.name))?;
    let end_us = (s.seconds * 1e6) as i64;
    let warm_us = (s.warmup_s * 1e6) as i64;
    let bins = opportunity_bins(&trace, offset_ms, end_us);
    let mut flows = (0..s.flows)
        .map(|i| {
            let start = if i == 0 {
                0
            } else {
                (s.second_flow_s * 1e6) as i64
            };
            Flow::new(i, s.flows, start, sender)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let share_from_us = flows.last().map_or(0, |f| f.start_us) + warm_us;
    let mut share_bytes = [0u64; 2];
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc0ff_ee00);
    let cross_rate = s.cross_fraction.max(0.0) * s.mean_capacity_bps();
    // Cross traffic: on/off bursts (exponential on 0.5 s, off 1 s mean) at 3x its mean rate.
    let mut cross_on = false;
    let mut cross_switch = 0i64;
    let mut cross_next = 0i64;
    let mut cross_delivered = 0u64;
    let mut cross_tag = 0u64;
    let mut delays: Vec<(i64, f64)> = Vec::new();
    let mut last_delay_ms = 0.0;
    let mut timeline = Vec::with_capacity((end_us / TIMELINE_US) as usize + 1);
    let mut fb_buf = vec![0u8; MAX_FEEDBACK_LEN + 64];
    let mut rejected = 0u64;
    let mut target_sum = 0.0;
    let mut target_n = 0u64;
    let mut now = 0i64;
    // After the run, nothing more is sent and the link serves what it holds for up to
    // TAIL_US: a packet still queued at the end is late, not lost.
    while now < end_us + TAIL_US {
        let sending = now < end_us;
        if !sending && link.is_empty() && flows.iter().all(|f| f.to_receiver.is_empty()) {
            break;
        }
        link.advance(now as u64, |d| {
            let flow = (d.tag >> 48) as usize;
            if d.tag >> 48 == CROSS_TAG {
                if (warm_us..end_us).contains(&(d.at_us as i64)) {
                    cross_delivered += 1200;
                }
            } else if let Some(f) = flows.get_mut(flow) {
                f.to_receiver
                    .push_back((d.at_us as i64 + ONE_WAY_US, d.tag & ((1 << 48) - 1)));
            }
        });
        for (fi, f) in flows.iter_mut().enumerate() {
            while f.to_receiver.front().is_some_and(|&(t, _)| t <= now) {
                let Some((t, idx)) = f.to_receiver.pop_front() else {
                    break;
                };
                let (sent_at, size) = f.sent[idx as usize];
                let delay = (t - ONE_WAY_US - sent_at) as f64 / 1000.0;
                delays.push((sent_at, delay));
                last_delay_ms = delay;
                // Utilization and shares count what left the link within the run.
                let in_run = t - ONE_WAY_US < end_us;
                if sent_at >= warm_us {
                    if in_run {
                        f.delivered_bytes += u64::from(size);
                    }
                    f.received_after += 1;
                }
                if sent_at >= share_from_us && in_run {
                    share_bytes[fi] += u64::from(size);
                }
                f.recorder.on_packet(idx as u16, t);
            }
            if now >= f.next_fb {
                f.next_fb += FEEDBACK_EVERY_US;
                while f.recorder.has_pending() {
                    let n = match f.recorder.write_feedback(&mut fb_buf) {
                        Ok(Some(n)) => n,
                        Ok(None) => break,
                        Err(e) => return Err(format!("{}: feedback: {e}", s.name)),
                    };
                    let n = f
                        .rx_auth
                        .protect(&mut fb_buf, n)
                        .map_err(|e| format!("{}: protect: {e}", s.name))?;
                    f.to_sender
                        .push_back((now + ONE_WAY_US, fb_buf[..n].to_vec()));
                }
            }
            while f.to_sender.front().is_some_and(|(t, _)| *t <= now) {
                let Some((_, pkt)) = f.to_sender.pop_front() else {
                    break;
                };
                match f.tx_auth.unprotect(&pkt).and_then(TwccFeedback::parse) {
                    Ok(fb) => {
                        if sender == SenderKind::Estimator {
                            f.bwe.on_transport_feedback(now, &fb);
                        }
                    }
                    Err(_) => rejected += 1,
                }
            }
            if now < f.start_us || !sending {
                continue;
            }
            if sender == SenderKind::Estimator {
                f.bwe.on_rtt(2 * ONE_WAY_US);
                f.bwe.on_tick(now);
                while let Some(p) = f.bwe.take_probe() {
                    f.pacer.add_probe(p);
                }
                f.target = f.bwe.target_bps() as f64;
            }
            f.pacer.set_rates(f.target as u64, 0);
            if now >= f.next_audio {
                f.next_audio += 20_000;
                f.pacer.enqueue(PacedPacket {
                    id: f.next_id,
                    size: AUDIO_BYTES,
                    kind: PacketKind::Audio,
                });
                f.next_id += 1;
            }
            if now >= f.next_frame {
                f.next_frame += 33_333;
                let video_bps = (f.target - 48_000.0).max(10_000.0);
                let mut bytes = (video_bps / 30.0 / 8.0) as u32;
                while bytes > 0 {
                    let size = bytes.min(1200);
                    bytes -= size;
                    f.pacer.enqueue(PacedPacket {
                        id: f.next_id,
                        size: size.max(50),
                        kind: PacketKind::Video,
                    });
                    f.next_id += 1;
                }
            }
            if now >= f.next_wake {
                loop {
                    let (size, cluster) = match f.pacer.poll(now) {
                        PacerOutput::Send { packet, cluster } => (packet.size, cluster),
                        PacerOutput::Padding { bytes, cluster } => (bytes, cluster),
                        PacerOutput::Wait(t) => {
                            f.next_wake = t;
                            break;
                        }
                        PacerOutput::Idle => {
                            f.next_wake = now + STEP_US;
                            break;
                        }
                    };
                    let seq = f.bwe.on_packet_sent(now, size, cluster);
                    debug_assert_eq!(u64::from(seq), f.sent.len() as u64 & 0xffff);
                    let idx = f.sent.len() as u64;
                    f.sent.push((now, size));
                    if now >= warm_us {
                        f.sent_after += 1;
                    }
                    link.enqueue(((fi as u64) << 48) | idx, size);
                }
            } else {
                f.next_wake = f.next_wake.min(now + 20_000);
            }
        }
        if sending && cross_rate > 0.0 {
            if now >= cross_switch {
                cross_on = !cross_on;
                let mean_s = if cross_on { 0.5 } else { 1.0 };
                let u: f64 = rng.random_range(1e-6..1.0);
                cross_switch = now + (-u.ln() * mean_s * 1e6) as i64;
                cross_next = now;
            }
            if cross_on {
                let gap_us = (1200.0 * 8.0 / (3.0 * cross_rate) * 1e6) as i64;
                while cross_next <= now {
                    link.enqueue((CROSS_TAG << 48) | cross_tag, 1200);
                    cross_tag += 1;
                    cross_next += gap_us.max(1);
                }
            }
        }
        if sending && now % TIMELINE_US == 0 {
            let bin = (now / TIMELINE_US) as usize;
            let cap = if bin == 0 {
                0
            } else {
                bins.get(bin - 1).copied().unwrap_or(0)
            };
            let mut tgt = [0.0; 2];
            for (i, f) in flows.iter().enumerate() {
                if now >= f.start_us {
                    tgt[i] = f.target;
                }
            }
            if now >= warm_us {
                target_sum += tgt.iter().sum::<f64>();
                target_n += 1;
            }
            timeline.push(TimePoint {
                t_s: now as f64 / 1e6,
                capacity_bps: f64::from(cap) * f64::from(MTU_BYTES) * 8.0 * 1e6
                    / TIMELINE_US as f64,
                target_bps: tgt,
                queue_ms: last_delay_ms,
            });
        }
        now += STEP_US;
    }
    let from_bin = (warm_us / TIMELINE_US) as usize;
    let capacity_bytes = bins
        .iter()
        .skip(from_bin)
        .map(|&n| u64::from(n))
        .sum::<u64>() as f64
        * f64::from(MTU_BYTES);
    let floor = delays.iter().map(|d| d.1).fold(f64::INFINITY, f64::min);
    let mut q: Vec<f64> = delays
        .iter()
        .filter(|d| d.0 >= warm_us)
        .map(|d| d.1 - floor)
        .collect();
    for t in timeline.iter_mut() {
        t.queue_ms = (t.queue_ms - floor).max(0.0);
    }
    let delivered: u64 = flows.iter().map(|f| f.delivered_bytes).sum();
    let sent_after: u64 = flows.iter().map(|f| f.sent_after).sum();
    let received_after: u64 = flows.iter().map(|f| f.received_after).sum();
    let mut r = RunReport {
        name: s.name.clone(),
        sender: sender.name(),
        rate_bps: match sender {
            SenderKind::Fixed(x) => x,
            SenderKind::Off => START_BPS as f64,
            SenderKind::Estimator => target_sum / target_n.max(1) as f64,
        },
        utilization: delivered as f64 / capacity_bytes.max(1.0),
        cross_utilization: cross_delivered as f64 / capacity_bytes.max(1.0),
        queue_delay_p50_ms: percentile(&mut q, 0.5),
        queue_delay_p95_ms: percentile(&mut q, 0.95),
        loss_percent: 100.0 * (1.0 - received_after as f64 / sent_after.max(1) as f64),
        convergence_s: None,
        drain_s: None,
        recovery_s: None,
        share_ratio: (s.flows == 2).then(|| share_bytes[1] as f64 / share_bytes[0].max(1) as f64),
        feedback_rejected: rejected,
        timeline,
    };
    if let Some(step) = s.step {
        step_figures(&mut r, step);
    }
    Ok(r)
}

/// Convergence, drain and recovery times of a step scenario from the timeline.
fn step_figures(r: &mut RunReport, step: Step) {
    let total = |t: &TimePoint| t.target_bps[0] + t.target_bps[1];
    let within = |t: &TimePoint| (total(t) - step.low_bps).abs() <= 0.2 * step.low_bps;
    let down: Vec<&TimePoint> = r
        .timeline
        .iter()
        .filter(|t| t.t_s >= step.down_s && t.t_s < step.up_s)
        .collect();
    let converged_at = match down.iter().rposition(|t| !within(t)) {
        None => Some(step.down_s),
        Some(i) => down.get(i + 1).map(|t| t.t_s),
    };
    // The queue counts as drained once under 50 ms, looked at from 0.5 s after the step (the
    // packets queued at the step are still being served then).
    let drained_at = down
        .iter()
        .find(|t| t.t_s >= step.down_s + 0.5 && t.queue_ms < 50.0)
        .map(|t| t.t_s);
    let recovered_at = r
        .timeline
        .iter()
        .find(|t| t.t_s >= step.up_s && total(t) >= 0.85 * step.high_bps)
        .map(|t| t.t_s);
    r.convergence_s = converged_at.map(|t| t - step.down_s);
    r.drain_s = drained_at.map(|t| t - step.down_s);
    r.recovery_s = recovered_at.map(|t| t - step.up_s);
}

/// Runs a scenario with the estimator, then a fixed sender at the estimator's mean send rate,
/// then with the estimator off: the three reports in that order.
///
/// # Errors
/// As [`run`].
pub fn run_all_senders(s: &Scenario, seed: u64) -> Result<[RunReport; 3], String> {
    let est = run(s, SenderKind::Estimator, seed)?;
    let fixed = run(s, SenderKind::Fixed(est.rate_bps.max(1000.0)), seed)?;
    let off = run(s, SenderKind::Off, seed)?;
    Ok([est, fixed, off])
}

/// The fixed rates of [`fixed_rate_sweep`], as multiples of the estimator's mean rate.
pub const SWEEP_FACTORS: [f64; 7] = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0];

/// Runs a scenario with fixed senders at [`SWEEP_FACTORS`] x `rate_bps` (the estimator's mean
/// rate): the reference curve of what a sender that does not adapt gets for each rate it could
/// have chosen, independently of the estimator's own mean.
///
/// # Errors
/// As [`run`].
pub fn fixed_rate_sweep(s: &Scenario, seed: u64, rate_bps: f64) -> Result<Vec<RunReport>, String> {
    SWEEP_FACTORS
        .iter()
        .map(|f| run(s, SenderKind::Fixed((f * rate_bps).max(1000.0)), seed))
        .collect()
}

/// The fixed senders' queueing delay p95 and loss at the estimator's utilization: linear
/// between the two sweep runs that bracket it (by utilization). `None` when the sweep does not
/// reach that utilization on both sides.
pub fn fixed_at_utilization(est: &RunReport, sweep: &[RunReport]) -> Option<(f64, f64)> {
    let mut v: Vec<&RunReport> = sweep.iter().collect();
    v.sort_by(|a, b| a.utilization.total_cmp(&b.utilization));
    let u = est.utilization;
    let hi = v.iter().position(|r| r.utilization >= u)?;
    let (a, b) = (v[hi.checked_sub(1).unwrap_or(hi)], v[hi]);
    let w = if b.utilization > a.utilization {
        (u - a.utilization) / (b.utilization - a.utilization)
    } else {
        1.0
    };
    let lerp = |x: f64, y: f64| x + w * (y - x);
    (a.utilization <= u).then(|| {
        (
            lerp(a.queue_delay_p95_ms, b.queue_delay_p95_ms),
            lerp(a.loss_percent, b.loss_percent),
        )
    })
}

/// A fixed sender of the sweep that dominates the estimator: it delivered at least as much
/// (utilization) with a queueing delay p95 and a loss no higher. `None`: no fixed rate does
/// better on all three at once.
pub fn dominating_fixed<'a>(est: &RunReport, sweep: &'a [RunReport]) -> Option<&'a RunReport> {
    sweep.iter().find(|r| {
        r.utilization >= est.utilization
            && r.queue_delay_p95_ms <= est.queue_delay_p95_ms
            && r.loss_percent <= est.loss_percent
    })
}

/// A scenario's estimator run against the fixed senders of [`fixed_rate_sweep`] (the
/// comparison `parla cc eval --fixed-sweep` writes to `fixed-sweep.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepComparison {
    /// Scenario name.
    pub name: String,
    /// Seed of the runs.
    pub seed: u64,
    /// The estimator's run.
    pub estimator: RunReport,
    /// The fixed senders, one per [`SWEEP_FACTORS`] entry.
    pub fixed: Vec<RunReport>,
    /// The fixed senders' p95 and loss read at the estimator's utilization
    /// ([`fixed_at_utilization`]), if the sweep brackets it.
    pub fixed_at_utilization: Option<(f64, f64)>,
    /// The rate of a fixed sender that dominates the estimator ([`dominating_fixed`]), if any.
    pub dominated_by_bps: Option<f64>,
}

impl SweepComparison {
    /// Runs the estimator and the sweep.
    ///
    /// # Errors
    /// As [`run`].
    pub fn run(s: &Scenario, seed: u64) -> Result<Self, String> {
        let estimator = run(s, SenderKind::Estimator, seed)?;
        let fixed = fixed_rate_sweep(s, seed, estimator.rate_bps)?;
        Ok(SweepComparison {
            name: s.name.clone(),
            seed,
            fixed_at_utilization: fixed_at_utilization(&estimator, &fixed),
            dominated_by_bps: dominating_fixed(&estimator, &fixed).map(|r| r.rate_bps),
            estimator,
            fixed,
        })
    }

    /// Printable lines: every run, then the three verdicts (the fixed sender at the same mean
    /// rate, the fixed curve at the same utilization, domination).
    pub fn lines(&self) -> Vec<String> {
        let seed = self.seed;
        let mut v = vec![format!("seed {seed} {}", summary_line(&self.estimator))];
        for (f, r) in SWEEP_FACTORS.iter().zip(&self.fixed) {
            v.push(format!("seed {seed} x{f:<4} {}", summary_line(r)));
        }
        let (est, name) = (&self.estimator, &self.name);
        let verdict = |worse: bool| if worse { "WORSE" } else { "ok" };
        if let Some(same) = SWEEP_FACTORS
            .iter()
            .position(|&f| f == 1.0)
            .and_then(|i| self.fixed.get(i))
        {
            v.push(format!(
                "seed {seed} {name}: same mean rate: p95 {:.0} vs {:.0} ms {}, loss {:.2} vs {:.2} % {}",
                est.queue_delay_p95_ms,
                same.queue_delay_p95_ms,
                verdict(est.queue_delay_p95_ms > same.queue_delay_p95_ms),
                est.loss_percent,
                same.loss_percent,
                verdict(est.loss_percent > same.loss_percent)
            ));
        }
        v.push(match self.fixed_at_utilization {
            Some((p95, loss)) => format!(
                "seed {seed} {name}: same utilization {:.3}: p95 {:.0} vs {p95:.0} ms {}, loss {:.2} vs {loss:.2} % {}",
                est.utilization,
                est.queue_delay_p95_ms,
                verdict(est.queue_delay_p95_ms > p95),
                est.loss_percent,
                verdict(est.loss_percent > loss)
            ),
            None => format!("seed {seed} {name}: same utilization: outside the sweep"),
        });
        v.push(match self.dominated_by_bps {
            Some(r) => format!(
                "seed {seed} {name}: DOMINATED by fixed {:.0} kbit/s",
                r / 1e3
            ),
            None => format!("seed {seed} {name}: no fixed rate dominates"),
        });
        v
    }
}

/// One line of figures for a run (what `parla cc eval` prints).
pub fn summary_line(r: &RunReport) -> String {
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
    let mut s = format!(
        "{:<36} {:<9} rate {:>6.0} kbit/s  util {:>4.2}  queue p50 {:>6.1} p95 {:>6.1} ms  loss {:>5.2} %",
        r.name,
        r.sender,
        r.rate_bps / 1000.0,
        r.utilization,
        r.queue_delay_p50_ms,
        r.queue_delay_p95_ms,
        r.loss_percent
    );
    if r.convergence_s.is_some() || r.drain_s.is_some() || r.recovery_s.is_some() {
        s.push_str(&format!(
            "  converged {} s  drained {} s  recovered {} s",
            opt(r.convergence_s),
            opt(r.drain_s),
            opt(r.recovery_s)
        ));
    }
    if let Some(x) = r.share_ratio {
        s.push_str(&format!("  share {x:.2}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(capacity_bps: f64) -> Scenario {
        Scenario {
            name: "small".into(),
            capacity: Capacity::Piecewise(vec![(4.0, capacity_bps)]),
            queue_packets: 20,
            seconds: 4.0,
            warmup_s: 1.0,
            flows: 1,
            second_flow_s: 0.0,
            cross_fraction: 0.0,
            step: None,
        }
    }

    fn fig(utilization: f64, p95: f64, loss: f64) -> RunReport {
        let mut r = run(&small(1e6), SenderKind::Off, 1).unwrap();
        r.utilization = utilization;
        r.queue_delay_p95_ms = p95;
        r.loss_percent = loss;
        r
    }

    #[test]
    fn the_fixed_curve_is_read_at_the_estimators_utilization() {
        let sweep = [
            fig(0.4, 300.0, 2.0),
            fig(0.2, 100.0, 1.0),
            fig(0.3, 250.0, 1.5),
        ];
        let (p95, loss) = fixed_at_utilization(&fig(0.25, 0.0, 0.0), &sweep).unwrap();
        assert!((p95 - 175.0).abs() < 1e-9 && (loss - 1.25).abs() < 1e-9);
        // Outside the sweep's range: no reading.
        assert!(fixed_at_utilization(&fig(0.1, 0.0, 0.0), &sweep).is_none());
        assert!(fixed_at_utilization(&fig(0.5, 0.0, 0.0), &sweep).is_none());
        // Dominated only by a run at least as good on all three.
        assert!(dominating_fixed(&fig(0.3, 260.0, 1.5), &sweep).is_some());
        assert!(dominating_fixed(&fig(0.3, 240.0, 1.5), &sweep).is_none());
        assert!(dominating_fixed(&fig(0.3, 260.0, 1.4), &sweep).is_none());
    }

    #[test]
    fn a_sweep_brackets_the_estimator_on_a_constant_link() {
        let c = SweepComparison::run(&small(1e6), 1).unwrap();
        assert_eq!(c.fixed.len(), SWEEP_FACTORS.len());
        assert_eq!(c.lines().len(), 1 + SWEEP_FACTORS.len() + 3);
        // 3x the estimator's mean overloads the link: it loses more than the estimator.
        let over = c.fixed.last().unwrap();
        assert!(
            over.loss_percent > c.estimator.loss_percent + 10.0,
            "{} vs {}",
            over.loss_percent,
            c.estimator.loss_percent
        );
        assert!(
            c.fixed_at_utilization.is_some(),
            "{:?}",
            c.fixed_at_utilization
        );
    }

    #[test]
    fn bad_scenarios_are_errors() {
        let mut s = small(1e6);
        s.flows = 3;
        assert!(run(&s, SenderKind::Estimator, 1).is_err());
        let mut s = small(1e6);
        s.warmup_s = 5.0;
        assert!(run(&s, SenderKind::Off, 1).is_err());
        assert!(run(&small(f64::NAN), SenderKind::Off, 1).is_err());
        assert!(run(&small(1e6), SenderKind::Fixed(f64::INFINITY), 1).is_err());
        let mut s = small(1e6);
        s.queue_packets = 0;
        assert!(run(&s, SenderKind::Off, 1).is_err());
    }

    #[test]
    fn an_overloading_fixed_sender_fills_the_queue_and_loses() {
        // 1 Mbit/s into 500 kbit/s: about half the packets dropped, the 20-packet queue full
        // (20 packets of 120-1200 bytes at 500 kbit/s: about 250 ms).
        let r = run(&small(0.5e6), SenderKind::Fixed(1e6), 1).unwrap();
        assert!(r.utilization > 0.9, "{}", r.utilization);
        assert!(r.loss_percent > 30.0, "{}", r.loss_percent);
        assert!(r.queue_delay_p95_ms > 150.0, "{}", r.queue_delay_p95_ms);
        assert_eq!(r.feedback_rejected, 0);
        // The off sender (300 kbit/s) leaves the link part idle and keeps no queue.
        let off = run(&small(1e6), SenderKind::Off, 1).unwrap();
        assert!(
            (0.25..0.4).contains(&off.utilization),
            "{}",
            off.utilization
        );
        assert!(off.queue_delay_p95_ms < 30.0, "{}", off.queue_delay_p95_ms);
    }
}
