//! Congestion control in the call (issue 16): RTCP and transport-wide feedback flow between two
//! cores, authenticated; forged, mutated and replayed feedback is rejected and changes nothing;
//! the feedback state continues across a stop/start; off means off.
#![allow(clippy::unwrap_used)]

mod common;

use parla_core::MediaTime;
use parla_engine::{CallConfig, CallStats, MediaCore, TRANSPORT_SEQ_EXT_ID};
use parla_rtp::rtp::RtpPacket;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Runs `ticks` of 10 ms from `t0` ms over a 30 ms link: A talks (noise), B is silent. Every
/// packet B sends that is RTCP is also handed to `rtcp_b`. Returns the time reached, ms.
fn run(
    a: &mut MediaCore,
    b: &mut MediaCore,
    t0: u64,
    ticks: u64,
    rtcp_b: &mut dyn FnMut(&[u8]),
) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(t0);
    let mut spk = vec![0.0f32; 480];
    let silence = vec![0.0f32; 480];
    let mut to_b: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut to_a: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut t = t0;
    for _ in 0..ticks {
        let now = MediaTime::from_millis(t);
        for (q, core) in [(&mut to_b, &mut *b), (&mut to_a, &mut *a)] {
            q.retain(|(at, p)| {
                if *at <= t {
                    core.receive_packet(p, MediaTime::from_millis(*at));
                    false
                } else {
                    true
                }
            });
        }
        let mic: Vec<f32> = (0..480).map(|_| rng.random_range(-0.2..0.2)).collect();
        a.tick(now, &mic, &mut spk, &mut |p| {
            to_b.push((t + 30, p.to_vec()))
        })
        .unwrap();
        b.tick(now, &silence, &mut spk, &mut |p| {
            if common::is_rtcp(p) {
                rtcp_b(p);
            }
            to_a.push((t + 30, p.to_vec()));
        })
        .unwrap();
        t += 10;
    }
    t
}

fn cc_figures(s: &CallStats) -> String {
    format!(
        "estimate {} bit/s, acked {} bit/s, RTT {:.0} ms, Opus {} bit/s FEC {} ({} %) {} ms; RTCP {} sent / {} received / {} rejected; feedback {} sent / {} received",
        s.bwe_target_bps,
        s.bwe_acked_bps,
        s.rtt_ms,
        s.audio_bitrate_bps,
        s.audio_fec,
        s.audio_expected_loss_percent,
        s.audio_frame_ms,
        s.rtcp_sent,
        s.rtcp_received,
        s.rtcp_rejected,
        s.feedback_sent,
        s.feedback_received
    )
}

#[test]
fn feedback_flows_and_forgeries_change_nothing() {
    let cfg = CallConfig::default();
    let (mut a, mut b) = common::core_pair(&cfg, b"cc-1");
    let mut captured: Vec<Vec<u8>> = Vec::new();
    let t = run(&mut a, &mut b, 0, 800, &mut |p| captured.push(p.to_vec()));
    let (sa, sb) = (a.stats(), b.stats());
    println!("A after 8 s: {}", cc_figures(&sa));
    println!("B after 8 s: {}", cc_figures(&sb));
    // B reports on A's stream: transport feedback several times a second, and SR/RR.
    assert!(sb.feedback_sent >= 16, "{}", cc_figures(&sb));
    assert_eq!(sa.feedback_received, sb.feedback_sent, "a lossless link");
    assert!(sa.rtcp_received > sb.feedback_sent, "and a report");
    assert_eq!((sa.rtcp_rejected, sb.rtcp_rejected), (0, 0));
    assert!(
        (50.0..=80.0).contains(&sa.rtt_ms),
        "RTT over a 30 ms link: {}",
        sa.rtt_ms
    );
    // The estimate follows what the link carried (A sends about 50 kbit/s with headers).
    assert!(sa.bwe_acked_bps > 30_000, "{}", cc_figures(&sa));
    assert!(sa.bwe_target_bps >= sa.bwe_acked_bps, "{}", cc_figures(&sa));
    // No loss: the configured FEC and 20 ms packets stay.
    assert!(
        sa.audio_fec && sa.audio_frame_ms == 20,
        "{}",
        cc_figures(&sa)
    );

    // 10,000 forged packets at one instant: replays of B's real feedback, bit flips, truncations,
    // and fresh packets with a wrong MAC. Every one is rejected and nothing else moves.
    let before = a.stats();
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let now = MediaTime::from_millis(t);
    for i in 0..10_000 {
        let src = &captured[rng.random_range(0..captured.len())];
        let mut p = src.clone();
        match i % 4 {
            0 => {}
            1 => {
                let at = rng.random_range(2..p.len());
                p[at] ^= 1 << rng.random_range(0..8);
            }
            2 => p.truncate(rng.random_range(2..p.len())),
            _ => {
                // A fresh index with a forged tag.
                let n = p.len();
                p[n - 14..n - 10].copy_from_slice(&(1_000_000u32 + i).to_be_bytes());
            }
        }
        a.receive_packet(&p, now);
    }
    let after = a.stats();
    assert_eq!(after.rtcp_rejected, before.rtcp_rejected + 10_000);
    assert_eq!(after.rtcp_received, before.rtcp_received);
    assert_eq!(after.feedback_received, before.feedback_received);
    assert_eq!(after.bwe_target_bps, before.bwe_target_bps);
    assert_eq!(after.bwe_acked_bps, before.bwe_acked_bps);
    assert_eq!(after.rtt_ms, before.rtt_ms);
    assert_eq!(after.audio_bitrate_bps, before.audio_bitrate_bps);
    // The media still flows and real feedback is still taken.
    run(&mut a, &mut b, t, 100, &mut |_| {});
    let later = a.stats();
    assert!(later.feedback_received > after.feedback_received);
    assert_eq!(later.rtcp_rejected, after.rtcp_rejected);
}

#[test]
fn packets_carry_the_transport_sequence_in_send_order() {
    let cfg = CallConfig::default();
    let (mut a, mut b) = common::core_pair(&cfg, b"cc-2");
    let mut spk = vec![0.0f32; 480];
    let mic = vec![0.1f32; 480];
    let mut seqs = Vec::new();
    let mut rtcp = 0;
    for k in 0..300u64 {
        a.tick(MediaTime::from_millis(k * 10), &mic, &mut spk, &mut |p| {
            if common::is_rtcp(p) {
                rtcp += 1;
            } else {
                let pkt = RtpPacket::parse(p).unwrap();
                let d = pkt.extension_element(TRANSPORT_SEQ_EXT_ID).unwrap();
                seqs.push(u16::from_be_bytes([d[0], d[1]]));
            }
        })
        .unwrap();
    }
    let _ = &mut b;
    assert_eq!(seqs.len(), 150);
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    assert!(rtcp >= 1, "a first report within 3 s");
}

#[test]
fn feedback_continues_across_a_restart() {
    let cfg = CallConfig::default();
    let (mut a, mut b) = common::core_pair(&cfg, b"cc-3");
    let t = run(&mut a, &mut b, 0, 300, &mut |_| {});
    let before = a.stats();
    // A stops and starts again (its state continues); B keeps its replay window.
    let state = a.into_state();
    let mut a = MediaCore::resume(&cfg, state, std::time::Duration::from_millis(200)).unwrap();
    let b_before = b.stats();
    run(&mut a, &mut b, t + 200, 300, &mut |_| {});
    let (sa, sb) = (a.stats(), b.stats());
    println!("A after the restart: {}", cc_figures(&sa));
    // Counters continue; the restarted A's reports authenticate at B (its index continued:
    // a restarted index would be rejected as replays).
    assert!(sa.rtcp_sent > before.rtcp_sent);
    // Transport feedback reports the restarted A's packets (its sequence continued: numbers
    // behind what B's recorder saw would be ignored as late), and the estimator uses it.
    assert!(
        sa.feedback_received >= before.feedback_received + 8,
        "{}",
        cc_figures(&sa)
    );
    assert!(sa.bwe_acked_bps > 30_000, "{}", cc_figures(&sa));
    assert!(sb.rtcp_received > b_before.rtcp_received);
    assert_eq!((sa.rtcp_rejected, sb.rtcp_rejected), (0, 0));
}

#[test]
fn plain_rtcp_without_encryption_and_nothing_when_off() {
    let plain = CallConfig {
        e2ee: false,
        ..CallConfig::default()
    };
    let mut a = MediaCore::new(&plain, None, ids(1)).unwrap();
    let mut b = MediaCore::new(&plain, None, ids(2)).unwrap();
    run(&mut a, &mut b, 0, 300, &mut |_| {});
    let sa = a.stats();
    assert!(
        sa.feedback_received > 5 && sa.rtcp_rejected == 0,
        "{}",
        cc_figures(&sa)
    );

    let off = CallConfig {
        congestion_control: false,
        ..CallConfig::default()
    };
    let (mut a, mut b) = common::core_pair(&off, b"cc-4");
    let mut rtcp = 0;
    run(&mut a, &mut b, 0, 300, &mut |_| rtcp += 1);
    let sa = a.stats();
    assert_eq!((rtcp, sa.rtcp_sent, sa.bwe_target_bps), (0, 0, 0));
    assert_eq!(sa.audio_bitrate_bps, off.bitrate_bps);
}

fn ids(ssrc: u32) -> parla_engine::StreamIds {
    parla_engine::StreamIds {
        ssrc,
        first_seq: 1,
        timestamp_offset: 0,
    }
}
