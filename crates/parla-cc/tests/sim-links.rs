//! The proof of the estimator: a simulated sender (20 ms audio packets plus a "video-like"
//! source that fills the target rate, 30 frames per second) through the pacer and a
//! `parla-netsim` bottleneck (drop-tail FIFO driven by a link trace), a receiver that writes
//! transport-wide feedback every 50 ms, authenticated with `FeedbackAuth`, back over an
//! uncongested return path. Each scenario runs twice in the same test: with the estimator, and
//! with a fixed-rate sender at 1.5x the link's mean capacity.
//!
//! Reported per scenario: utilization (bytes delivered / bytes the link could carry, after a
//! 5 s warm-up), median and p95 queueing delay (one-way delay minus the propagation and
//! serialization floor, measured per delivered packet), loss, and for the step scenario the
//! time until the estimate stays within 20% of the new capacity and until the queue drained.
//!
//! `cargo test -p parla-cc --test sim-links -- --nocapture` prints the table.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

use std::collections::VecDeque;
use std::path::PathBuf;

use parla_cc::auth::FeedbackAuth;
use parla_cc::estimator::{BandwidthEstimator, CcConfig};
use parla_cc::pacer::{PacedPacket, Pacer, PacerConfig, PacerOutput, PacketKind};
use parla_cc::twcc::{FeedbackRecorder, MAX_FEEDBACK_LEN, TwccFeedback};
use parla_netsim::link::{Bottleneck, LinkTrace, MTU_BYTES};

const ONE_WAY_US: i64 = 25_000;
const FEEDBACK_EVERY_US: i64 = 50_000;
const WARMUP_US: i64 = 5_000_000;
const STEP_US: i64 = 250;
const AUDIO_BYTES: u32 = 120;

/// A Mahimahi trace text for a piecewise-constant capacity: (until_ms, bits per second).
fn piecewise_trace(pieces: &[(u64, f64)]) -> String {
    let mut s = String::new();
    let mut t_ms = 0.0f64;
    let mut from = 0u64;
    for &(until, bps) in pieces {
        let gap_ms = MTU_BYTES as f64 * 8.0 * 1000.0 / bps;
        t_ms = t_ms.max(from as f64);
        while t_ms < until as f64 {
            s.push_str(&format!("{}\n", t_ms.floor() as u64));
            t_ms += gap_ms;
        }
        from = until;
    }
    s
}

fn capacity_bps_at(pieces: &[(u64, f64)], t_us: i64) -> f64 {
    let ms = (t_us / 1000) as u64;
    pieces
        .iter()
        .find(|p| ms < p.0)
        .or(pieces.last())
        .map_or(0.0, |p| p.1)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sender {
    Adaptive,
    Fixed(f64),
}

#[derive(Debug, Default)]
struct Outcome {
    utilization: f64,
    p50_ms: f64,
    p95_ms: f64,
    loss_percent: f64,
    /// (time s, target bps, queueing delay ms of the last delivered packet)
    timeline: Vec<(f64, f64, f64)>,
    feedback_rejected: u64,
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn simulate(trace: &LinkTrace, queue_limit: usize, seconds: f64, sender: Sender) -> Outcome {
    let end_us = (seconds * 1e6) as i64;
    let mut link = Bottleneck::new(trace.clone(), queue_limit).expect("bottleneck");
    let cfg = CcConfig {
        start_bps: 300_000,
        ..Default::default()
    };
    let mut bwe = BandwidthEstimator::new(cfg).expect("bwe");
    let start_target = match sender {
        Sender::Adaptive => cfg.start_bps,
        Sender::Fixed(r) => r as u64,
    };
    let mut pacer = Pacer::new(PacerConfig::default(), start_target).expect("pacer");
    let mut recorder = FeedbackRecorder::new(2, 1);
    let (k_fwd, k_back) = ([3u8; 32], [4u8; 32]);
    let mut rx_auth = FeedbackAuth::new(&k_back, &k_fwd);
    let mut tx_auth = FeedbackAuth::new(&k_fwd, &k_back);
    // Per transport sequence number: send time (for the delay measurement).
    let mut sent_at: Vec<i64> = Vec::with_capacity(1 << 20);
    let mut sent_bytes: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut to_receiver: VecDeque<(i64, u64)> = VecDeque::new();
    let mut to_sender: VecDeque<(i64, Vec<u8>)> = VecDeque::new();
    let mut fb_buf = vec![0u8; MAX_FEEDBACK_LEN + 64];
    let mut next_fb = FEEDBACK_EVERY_US;
    let mut next_audio = 0i64;
    let mut next_frame = 0i64;
    let mut next_id = 0u64;
    let mut delays: Vec<(i64, f64)> = Vec::new();
    let mut delivered_after_warmup = 0u64;
    let mut sent_after_warmup = 0u64;
    let mut received_after_warmup = 0u64;
    let mut out = Outcome::default();
    let mut last_delay_ms = 0.0;
    let mut now = 0i64;
    let mut next_wake = 0i64;
    while now < end_us {
        // The bottleneck serves up to now; deliveries travel on to the receiver.
        link.advance(now as u64, |d| {
            to_receiver.push_back((d.at_us as i64 + ONE_WAY_US, d.tag))
        });
        while to_receiver.front().is_some_and(|&(t, _)| t <= now) {
            let (t, seq) = to_receiver.pop_front().expect("front");
            let i = seq as usize;
            let delay = (t - ONE_WAY_US - sent_at[i]) as f64 / 1000.0;
            delays.push((sent_at[i], delay));
            last_delay_ms = delay;
            if sent_at[i] >= WARMUP_US {
                delivered_after_warmup += u64::from(sent_bytes[i]);
                received_after_warmup += 1;
            }
            recorder.on_packet(seq as u16, t);
        }
        if now >= next_fb {
            next_fb += FEEDBACK_EVERY_US;
            while recorder.has_pending() {
                let n = recorder
                    .write_feedback(&mut fb_buf)
                    .expect("feedback")
                    .expect("pending");
                let n = rx_auth.protect(&mut fb_buf, n).expect("protect");
                to_sender.push_back((now + ONE_WAY_US, fb_buf[..n].to_vec()));
            }
        }
        while to_sender.front().is_some_and(|(t, _)| *t <= now) {
            let (_, pkt) = to_sender.pop_front().expect("front");
            match tx_auth.unprotect(&pkt).and_then(TwccFeedback::parse) {
                Ok(fb) => {
                    if sender == Sender::Adaptive {
                        bwe.on_transport_feedback(now, &fb);
                    }
                }
                Err(_) => out.feedback_rejected += 1,
            }
        }
        let target = match sender {
            Sender::Adaptive => {
                bwe.on_rtt(2 * ONE_WAY_US);
                bwe.on_tick(now);
                while let Some(p) = bwe.take_probe() {
                    pacer.add_probe(p);
                }
                bwe.target_bps() as f64
            }
            Sender::Fixed(r) => r,
        };
        pacer.set_rates(target as u64, 0);
        // Sources: audio every 20 ms; a frame of target/30 (minus audio) every 33 ms.
        if now >= next_audio {
            next_audio += 20_000;
            pacer.enqueue(PacedPacket {
                id: next_id,
                size: AUDIO_BYTES,
                kind: PacketKind::Audio,
            });
            next_id += 1;
        }
        if now >= next_frame {
            next_frame += 33_333;
            let video_bps = (target - 48_000.0).max(10_000.0);
            let mut bytes = (video_bps / 30.0 / 8.0) as u32;
            while bytes > 0 {
                let size = bytes.min(1200);
                bytes -= size;
                pacer.enqueue(PacedPacket {
                    id: next_id,
                    size: size.max(50),
                    kind: PacketKind::Video,
                });
                next_id += 1;
            }
        }
        if now >= next_wake {
            loop {
                let (size, cluster) = match pacer.poll(now) {
                    PacerOutput::Send { packet, cluster } => (packet.size, cluster),
                    PacerOutput::Padding { bytes, cluster } => (bytes, cluster),
                    PacerOutput::Wait(t) => {
                        next_wake = t;
                        break;
                    }
                    PacerOutput::Idle => {
                        next_wake = now + STEP_US;
                        break;
                    }
                };
                let seq = bwe.on_packet_sent(now, size, cluster);
                assert_eq!(u64::from(seq), sent_at.len() as u64 & 0xffff);
                let tag = sent_at.len() as u64;
                sent_at.push(now);
                sent_bytes.push(size);
                if now >= WARMUP_US {
                    sent_after_warmup += 1;
                }
                link.enqueue(tag, size);
            }
        } else {
            next_wake = next_wake.min(now + 20_000);
        }
        if now % 100_000 == 0 {
            out.timeline.push((now as f64 / 1e6, target, last_delay_ms));
        }
        now += STEP_US;
    }
    // Capacity over the measured period.
    let opp_per_ms = trace.mean_packets_per_ms();
    let measured_ms = (end_us - WARMUP_US) as f64 / 1000.0;
    let capacity_bytes = exact_capacity(trace, WARMUP_US, end_us)
        .unwrap_or(opp_per_ms * measured_ms * f64::from(MTU_BYTES));
    out.utilization = delivered_after_warmup as f64 / capacity_bytes;
    let floor = delays.iter().map(|d| d.1).fold(f64::INFINITY, f64::min);
    let mut q: Vec<f64> = delays
        .iter()
        .filter(|d| d.0 >= WARMUP_US)
        .map(|d| d.1 - floor)
        .collect();
    out.p50_ms = percentile(&mut q, 0.5);
    out.p95_ms = percentile(&mut q, 0.95);
    out.loss_percent =
        100.0 * (1.0 - received_after_warmup as f64 / sent_after_warmup.max(1) as f64);
    for t in out.timeline.iter_mut() {
        t.2 -= floor.min(t.2);
    }
    out
}

fn exact_capacity(trace: &LinkTrace, from_us: i64, to_us: i64) -> Option<f64> {
    let period = trace.period_ms() as i64;
    let mut n = 0u64;
    let mut base = 0i64;
    while base * 1000 < to_us {
        for &t in trace.opportunities() {
            let at = (base + t as i64) * 1000;
            if at >= from_us && at < to_us {
                n += 1;
            }
        }
        base += period;
    }
    Some(n as f64 * f64::from(MTU_BYTES))
}

fn row(name: &str, o: &Outcome) {
    println!(
        "{name:<44} util {:>5.2}  queue p50 {:>6.1} ms  p95 {:>6.1} ms  loss {:>5.2} %",
        o.utilization, o.p50_ms, o.p95_ms, o.loss_percent
    );
}

#[test]
fn constant_1mbps_link() {
    let pieces = [(60_000u64, 1e6)];
    let trace = LinkTrace::parse(&piecewise_trace(&pieces)).expect("trace");
    // 200 ms of 1 Mbit/s in ~1200-byte packets.
    let limit = 21;
    let cc = simulate(&trace, limit, 60.0, Sender::Adaptive);
    let fixed = simulate(&trace, limit, 60.0, Sender::Fixed(1.5e6));
    row("constant 1 Mbit/s, estimator", &cc);
    row("constant 1 Mbit/s, fixed 1.5 Mbit/s", &fixed);
    assert_eq!(cc.feedback_rejected, 0);
    assert!(cc.utilization >= 0.85, "utilization {}", cc.utilization);
    assert!(cc.p95_ms <= 60.0, "p95 {}", cc.p95_ms);
    assert!(
        fixed.p95_ms > 2.0 * cc.p95_ms && fixed.loss_percent > 20.0,
        "fixed: p95 {} loss {}",
        fixed.p95_ms,
        fixed.loss_percent
    );
}

#[test]
fn step_2mbps_500kbps_2mbps() {
    let pieces = [(20_000u64, 2e6), (40_000, 0.5e6), (60_000, 2e6)];
    let trace = LinkTrace::parse(&piecewise_trace(&pieces)).expect("trace");
    let limit = 42; // 200 ms at 2 Mbit/s
    let cc = simulate(&trace, limit, 60.0, Sender::Adaptive);
    let fixed = simulate(&trace, limit, 60.0, Sender::Fixed(1.5 * 1.5e6));
    row("step 2 -> 0.5 -> 2 Mbit/s, estimator", &cc);
    row("step 2 -> 0.5 -> 2 Mbit/s, fixed 2.25 Mbit/s", &fixed);
    // Convergence after the step down at 20 s: the estimate stays within 20% of 500 kbit/s.
    let within = |t: &(f64, f64, f64)| (t.1 - 0.5e6).abs() <= 0.2 * 0.5e6;
    let down: Vec<_> = cc
        .timeline
        .iter()
        .filter(|t| t.0 >= 20.0 && t.0 < 40.0)
        .collect();
    let converged_at = down
        .iter()
        .rposition(|t| !within(t))
        .map_or(20.0, |i| down.get(i + 1).map_or(40.0, |t| t.0));
    let drained_at = down
        .iter()
        .skip(5)
        .find(|t| t.2 < 50.0)
        .map_or(40.0, |t| t.0);
    let up: Vec<_> = cc.timeline.iter().filter(|t| t.0 >= 40.0).collect();
    let recovered_at = up
        .iter()
        .find(|t| t.1 >= 0.85 * 2e6)
        .map_or(f64::INFINITY, |t| t.0);
    println!(
        "  step down: converged {:.1} s after, queue under 50 ms {:.1} s after; step up: 85% in {:.1} s",
        converged_at - 20.0,
        drained_at - 20.0,
        recovered_at - 40.0
    );
    let cap = |t: f64| capacity_bps_at(&pieces, (t * 1e6) as i64);
    for t in cc.timeline.iter().step_by(20) {
        println!(
            "  t {:>4.1} s  capacity {:>7.0}  target {:>7.0}  queue {:>6.1} ms",
            t.0,
            cap(t.0),
            t.1,
            t.2
        );
    }
    assert!(
        converged_at - 20.0 <= 5.0,
        "converged after {}",
        converged_at - 20.0
    );
    assert!(
        drained_at - 20.0 <= 5.0,
        "drained after {}",
        drained_at - 20.0
    );
    assert!(
        recovered_at - 40.0 <= 10.0,
        "recovered after {}",
        recovered_at - 40.0
    );
    assert!(
        cc.p95_ms < fixed.p95_ms / 2.0,
        "{} vs {}",
        cc.p95_ms,
        fixed.p95_ms
    );
    assert!(cc.utilization >= 0.7, "{}", cc.utilization);
}

fn shared_dir() -> PathBuf {
    parla_testkit::data::shared_dir()
}

#[test]
fn cellular_traces() {
    let dir = shared_dir().join("net-traces/mahimahi");
    let names = [
        "TMobile-UMTS-driving.up",
        "Verizon-EVDO-driving.up",
        "Verizon-LTE-short.up",
    ];
    let mut ran = 0;
    for name in names {
        let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
            println!(
                "skipping {name}: not found under {} (set PARLA_SHARED_DIR)",
                dir.display()
            );
            continue;
        };
        let trace = LinkTrace::parse(&text).expect("trace");
        let mean_bps = trace.mean_packets_per_ms() * 1000.0 * f64::from(MTU_BYTES) * 8.0;
        let cc = simulate(&trace, 100, 60.0, Sender::Adaptive);
        let fixed = simulate(&trace, 100, 60.0, Sender::Fixed(1.5 * mean_bps));
        let same = simulate(&trace, 100, 60.0, Sender::Fixed(mean_bps));
        println!("{name}: mean capacity {:.0} kbit/s", mean_bps / 1000.0);
        row("  estimator", &cc);
        row("  fixed at 1.5x mean", &fixed);
        row("  fixed at the mean", &same);
        assert!(
            cc.p95_ms < fixed.p95_ms,
            "{name}: {} vs {}",
            cc.p95_ms,
            fixed.p95_ms
        );
        assert!(
            cc.p95_ms <= same.p95_ms,
            "{name}: {} vs {}",
            cc.p95_ms,
            same.p95_ms
        );
        assert!(cc.loss_percent <= same.loss_percent + 0.5, "{name}");
        ran += 1;
    }
    if ran == 0 {
        println!("cellular_traces: no traces found; nothing measured");
    }
}
