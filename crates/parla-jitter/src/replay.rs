//! Replaying a per-packet trace through the buffer, the playout schedule, the fixed-delay
//! baseline and the evaluation metrics.
//!
//! This is tool-side code (it allocates freely); the buffer it drives is the real one. The
//! trace's packets carry synthetic voiced audio in the [`pcm`] payload (with the
//! previous packet as FEC), sequence numbers start near the 16-bit wrap and timestamps near the
//! 32-bit wrap, so every replay also exercises unwrapping.

use parla_core::MediaTime;

use crate::buffer::{Action, InsertOutcome, JitterBuffer, JitterConfig, Packet};
use crate::delay::DelayPolicy;
use crate::error::JitterConfigError;
use crate::pcm::{self, PcmDecoder};
use crate::stats::JitterStats;

/// One received copy of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracePacket {
    /// Sequence number counted from 0.
    pub seq: u64,
    /// Send time, µs (sender clock).
    pub send_us: u64,
    /// Arrival time, µs (receiver clock).
    pub arrival_us: u64,
}

/// How to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayConfig {
    /// Audio rate, Hz.
    pub sample_rate: u32,
    /// Packet duration, ms (the trace's send interval).
    pub packet_ms: u32,
    /// Carry the previous packet as FEC in each payload.
    pub fec: bool,
    /// The buffer configuration (its rate is overwritten by `sample_rate`).
    pub buffer: JitterConfig,
}

impl ReplayConfig {
    /// 20 ms packets at 16 kHz with FEC, the buffer's defaults with `policy`.
    pub fn new(policy: DelayPolicy) -> Self {
        ReplayConfig {
            sample_rate: 16_000,
            packet_ms: 20,
            fec: true,
            buffer: JitterConfig::new(16_000).policy(policy),
        }
    }
}

/// The action column of the playout schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleAction {
    /// The packet played as it is.
    Normal,
    /// The packet's audio was time-compressed.
    Accelerated,
    /// Stretched or synthetic audio that added delay.
    Expanded,
    /// The due packet was missing (concealed, or recovered from FEC).
    Concealed,
    /// The packet arrived after its slot and was discarded.
    DroppedLate,
}

impl ScheduleAction {
    /// The name written in the CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleAction::Normal => "normal",
            ScheduleAction::Accelerated => "accelerated",
            ScheduleAction::Expanded => "expanded",
            ScheduleAction::Concealed => "concealed",
            ScheduleAction::DroppedLate => "dropped_late",
        }
    }

    /// Parse a CSV name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "normal" => ScheduleAction::Normal,
            "accelerated" => ScheduleAction::Accelerated,
            "expanded" => ScheduleAction::Expanded,
            "concealed" => ScheduleAction::Concealed,
            "dropped_late" => ScheduleAction::DroppedLate,
            _ => return None,
        })
    }
}

/// One row of the playout schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleRow {
    /// Receiver time of the event, µs: for a played packet, when its first sample plays.
    pub play_us: u64,
    /// The packet's sequence number, or -1.
    pub seq: i64,
    /// What happened.
    pub action: ScheduleAction,
}

/// The header of the schedule CSV.
pub const SCHEDULE_HEADER: &str = "play_ts_us,seq_or_minus1,action";

/// Write the schedule as CSV.
pub fn schedule_csv(rows: &[ScheduleRow]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(24 * (rows.len() + 1));
    s.push_str(SCHEDULE_HEADER);
    s.push('\n');
    for r in rows {
        let _ = writeln!(s, "{},{},{}", r.play_us, r.seq, r.action.as_str());
    }
    s
}

/// What a replay produced.
#[derive(Debug, Clone)]
pub struct ReplayOutput {
    /// The playout schedule, in time order.
    pub rows: Vec<ScheduleRow>,
    /// For each sequence number `0..n_sent`, when its first sample played (µs), if it did.
    pub play_us: Vec<Option<u64>>,
    /// The buffer's statistics at the end.
    pub stats: JitterStats,
    /// `(receiver time s, target delay above the fastest recent packet ms)` once per 100 ms.
    pub target_series: Vec<(f64, f64)>,
}

const SEQ_BASE: u64 = 65_000;
const TS_BASE: u64 = u32::MAX as u64 - 100_000;

/// A second of synthetic voiced audio that loops seamlessly: a 125 Hz harmonic series with
/// 2 Hz vibrato and a 4 Hz syllable envelope.
fn voice_loop(rate: u32) -> Vec<f32> {
    let n = rate as usize;
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let f = 125.0 + 6.0 * (std::f64::consts::TAU * 2.0 * t).sin();
            phase += std::f64::consts::TAU * f / rate as f64;
            let env = 0.55 + 0.45 * (std::f64::consts::TAU * 4.0 * t).sin();
            let h: f64 = (1..6).map(|k| (phase * k as f64).sin() / k as f64).sum();
            (0.25 * env * h) as f32
        })
        .collect()
}

fn packet_audio(lp: &[f32], seq: u64, n: usize, out: &mut Vec<f32>) {
    out.clear();
    let start = (seq as usize).wrapping_mul(n) % lp.len();
    out.extend((0..n).map(|i| lp[(start + i) % lp.len()]));
}

/// Replay `trace` (received copies, any order) of a stream of `n_sent` packets.
///
/// # Errors
/// [`JitterConfigError`] when the buffer cannot be built.
pub fn replay(
    trace: &[TracePacket],
    n_sent: usize,
    cfg: &ReplayConfig,
) -> Result<ReplayOutput, JitterConfigError> {
    let rate = cfg.sample_rate;
    let decoder = PcmDecoder::new(rate).map_err(|_| JitterConfigError::InvalidParameter {
        name: "sample_rate",
        detail: "unsupported by the PCM decoder",
    })?;
    let mut bcfg = cfg.buffer;
    bcfg.sample_rate = rate;
    let mut jb = JitterBuffer::new(bcfg, decoder)?;
    let n = (rate as usize * cfg.packet_ms as usize) / 1000;
    let lp = voice_loop(rate);
    let mut arrivals: Vec<TracePacket> = trace
        .iter()
        .filter(|p| (p.seq as usize) < n_sent)
        .copied()
        .collect();
    arrivals.sort_by_key(|p| (p.arrival_us, p.seq));
    let mut out = ReplayOutput {
        rows: Vec::new(),
        play_us: vec![None; n_sent],
        stats: JitterStats::default(),
        target_series: Vec::new(),
    };
    let Some(first) = arrivals.first() else {
        return Ok(out);
    };
    let last_arrival = arrivals.last().map_or(0, |p| p.arrival_us);
    let mut t = first.arrival_us;
    let mut next = 0usize;
    let mut audio = vec![0.0f32; jb.frame_len()];
    let (mut cur, mut prev, mut payload) = (Vec::new(), Vec::new(), Vec::new());
    // The row of the packet now playing, held back until the next one starts so that an
    // acceleration of its audio can still mark it.
    let mut pending: Option<ScheduleRow> = None;
    let mut last_concealed: i64 = -1;
    let mut last_expanded_tick = u64::MAX;
    let mut pulls = 0u64;
    // Which sequence numbers went into the buffer (for the rows of flushed packets).
    let mut inserted = vec![false; n_sent];
    let to_trace = |ext: i64| ext - SEQ_BASE as i64;
    loop {
        while next < arrivals.len() && arrivals[next].arrival_us <= t {
            let p = arrivals[next];
            next += 1;
            packet_audio(&lp, p.seq, n, &mut cur);
            if cfg.fec && p.seq > 0 {
                packet_audio(&lp, p.seq - 1, n, &mut prev);
                pcm::encode(&cur, Some(&prev), &mut payload);
            } else {
                pcm::encode(&cur, None, &mut payload);
            }
            let pkt = Packet {
                seq: ((p.seq + SEQ_BASE) & 0xffff) as u16,
                timestamp: ((p.seq * n as u64 + TS_BASE) & 0xffff_ffff) as u32,
                payload: &payload,
            };
            let res = jb.insert(pkt, MediaTime::from_micros(p.arrival_us));
            if let Ok(InsertOutcome::Inserted { .. }) = res {
                inserted[p.seq as usize] = true;
            }
            if let Ok(InsertOutcome::Late) = res {
                out.rows.push(ScheduleRow {
                    play_us: p.arrival_us,
                    seq: p.seq as i64,
                    action: ScheduleAction::DroppedLate,
                });
            }
        }
        let Ok(rep) = jb.pull(MediaTime::from_micros(t), &mut audio) else {
            break;
        };
        let tick = pulls / 2;
        pulls += 1;
        if pulls.is_multiple_of(10) {
            let s = jb.stats();
            out.target_series.push((t as f64 / 1e6, s.target_delay_ms));
        }
        let accelerated = matches!(rep.action, Action::Accelerate | Action::FastAccelerate);
        for s in rep.started() {
            let seq = to_trace(s.seq);
            let at = t + (s.offset as u64 * 1_000_000) / rate as u64;
            if s.fec {
                out.rows.push(ScheduleRow {
                    play_us: at,
                    seq,
                    action: ScheduleAction::Concealed,
                });
                continue;
            }
            if let Some(row) = pending.take() {
                out.rows.push(row);
            }
            if let Some(slot) = usize::try_from(seq)
                .ok()
                .and_then(|i| out.play_us.get_mut(i))
            {
                *slot = Some(at);
            }
            pending = Some(ScheduleRow {
                play_us: at,
                seq,
                action: ScheduleAction::Normal,
            });
        }
        if accelerated && let Some(row) = pending.as_mut() {
            row.action = ScheduleAction::Accelerated;
        }
        if let Some((a, b)) = rep.flushed {
            for ext in a..=b.min(a + 10_000) {
                let seq = to_trace(ext);
                if usize::try_from(seq).is_ok_and(|i| i < n_sent && inserted[i]) {
                    out.rows.push(ScheduleRow {
                        play_us: t,
                        seq,
                        action: ScheduleAction::DroppedLate,
                    });
                }
            }
        }
        if let Some((a, b)) = rep.lost {
            for ext in a..=b.min(a + 1000) {
                let seq = to_trace(ext);
                if seq != last_concealed {
                    out.rows.push(ScheduleRow {
                        play_us: t,
                        seq,
                        action: ScheduleAction::Concealed,
                    });
                }
            }
        }
        match rep.action {
            Action::Expand => match rep.concealed_seq {
                Some(ext) if to_trace(ext) != last_concealed => {
                    last_concealed = to_trace(ext);
                    out.rows.push(ScheduleRow {
                        play_us: t,
                        seq: last_concealed,
                        action: ScheduleAction::Concealed,
                    });
                }
                Some(_) => {}
                None if last_expanded_tick != tick => {
                    last_expanded_tick = tick;
                    out.rows.push(ScheduleRow {
                        play_us: t,
                        seq: -1,
                        action: ScheduleAction::Expanded,
                    });
                }
                None => {}
            },
            Action::PreemptiveExpand => out.rows.push(ScheduleRow {
                play_us: t,
                seq: pending.map_or(-1, |r| r.seq),
                action: ScheduleAction::Expanded,
            }),
            _ => {}
        }
        t += 10_000;
        let drained = next == arrivals.len() && jb.packets_buffered() == 0;
        if (drained && pulls.is_multiple_of(2) && rep.action == Action::Expand)
            || t > last_arrival + 30_000_000
        {
            break;
        }
    }
    if let Some(row) = pending.take() {
        out.rows.push(row);
    }
    out.rows.sort_by_key(|r| r.play_us);
    out.stats = jb.stats_at(MediaTime::from_micros(t));
    Ok(out)
}

/// The fixed-delay baseline: the first packet to arrive plays `delay_ms` after its arrival and
/// every packet on the sender's schedule after it; a packet arriving after its time is lost.
/// Returns the play time of each sequence number.
pub fn fixed_schedule(trace: &[TracePacket], n_sent: usize, delay_ms: f64) -> Vec<Option<u64>> {
    let mut play = vec![None; n_sent];
    let Some(first) = trace.iter().min_by_key(|p| (p.arrival_us, p.seq)) else {
        return play;
    };
    let offset = first.arrival_us as f64 - first.send_us as f64 + delay_ms * 1000.0;
    for p in trace {
        let Some(slot) = play.get_mut(p.seq as usize) else {
            continue;
        };
        let at = p.send_us as f64 + offset;
        if at >= 0.0 && p.arrival_us as f64 <= at {
            *slot = Some(at as u64);
        }
    }
    play
}

/// The evaluation figures of one schedule.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// Packets that arrived but were not played, over packets sent.
    pub late_loss: f64,
    /// Packets the network lost, over packets sent.
    pub network_loss: f64,
    /// Concealed output over all output (for the fixed buffer: missing packets over sent).
    pub concealment: f64,
    /// Mean added delay (play minus send) of played packets, ms.
    pub mean_delay_ms: f64,
    /// 95th percentile of the added delay, ms.
    pub p95_delay_ms: f64,
    /// Sum of delay changes between consecutive played packets, ms per minute.
    pub delay_change_ms_per_min: f64,
    /// The smallest constant delay that would have lost no more packets late, ms.
    pub hindsight_delay_ms: f64,
}

/// Compute the figures from the play times (`concealment` as measured by the caller).
pub fn metrics(
    trace: &[TracePacket],
    n_sent: usize,
    play_us: &[Option<u64>],
    concealment: f64,
) -> Metrics {
    let mut first_arrival: Vec<Option<u64>> = vec![None; n_sent];
    let mut send: Vec<u64> = vec![0; n_sent];
    for p in trace {
        if let Some(a) = first_arrival.get_mut(p.seq as usize) {
            *a = Some(a.map_or(p.arrival_us, |x| x.min(p.arrival_us)));
            send[p.seq as usize] = p.send_us;
        }
    }
    let arrived = first_arrival.iter().filter(|a| a.is_some()).count();
    let mut late = 0usize;
    let mut delays = Vec::with_capacity(n_sent);
    for i in 0..n_sent {
        match (first_arrival[i], play_us.get(i).copied().flatten()) {
            (Some(_), Some(p)) => delays.push((p as f64 - send[i] as f64) / 1000.0),
            (Some(_), None) => late += 1,
            _ => {}
        }
    }
    let n = n_sent.max(1) as f64;
    let mean = if delays.is_empty() {
        0.0
    } else {
        delays.iter().sum::<f64>() / delays.len() as f64
    };
    let changes: f64 = delays.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
    let minutes = n_sent as f64 * 0.02 / 60.0;
    let mut sorted = delays.clone();
    sorted.sort_by(f64::total_cmp);
    let p95 = sorted
        .get(((sorted.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0.0);
    let mut owd: Vec<f64> = (0..n_sent)
        .filter_map(|i| first_arrival[i].map(|a| (a as f64 - send[i] as f64) / 1000.0))
        .collect();
    owd.sort_by(|a, b| b.total_cmp(a));
    let hindsight = owd.get(late).copied().unwrap_or(0.0);
    Metrics {
        late_loss: late as f64 / n,
        network_loss: (n_sent - arrived) as f64 / n,
        concealment,
        mean_delay_ms: mean,
        p95_delay_ms: p95,
        delay_change_ms_per_min: if minutes > 0.0 {
            changes / minutes
        } else {
            0.0
        },
        hindsight_delay_ms: hindsight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_schedule_drops_late_packets() {
        let trace = [
            TracePacket {
                seq: 0,
                send_us: 0,
                arrival_us: 30_000,
            },
            TracePacket {
                seq: 1,
                send_us: 20_000,
                arrival_us: 200_000,
            },
            TracePacket {
                seq: 2,
                send_us: 40_000,
                arrival_us: 75_000,
            },
        ];
        let play = fixed_schedule(&trace, 4, 60.0);
        assert_eq!(play, vec![Some(90_000), None, Some(130_000), None]);
        let m = metrics(&trace, 4, &play, 0.5);
        assert!((m.late_loss - 0.25).abs() < 1e-9);
        assert!((m.network_loss - 0.25).abs() < 1e-9);
        assert!((m.mean_delay_ms - 90.0).abs() < 1e-9);
        // One late packet allowed: the best fixed delay covers the other two (35 ms).
        assert!((m.hindsight_delay_ms - 35.0).abs() < 1e-9);
    }
}
