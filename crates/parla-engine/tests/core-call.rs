//! Two media cores in one process over a simulated 40 ms link: the audio arrives, encrypted,
//! with a measured delay; tampered packets are rejected and counted while the call continues.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::VecDeque;

use parla_core::MediaTime;
use parla_engine::{AecMode, CallConfig, MediaCore, StreamIds};
use parla_metrics::signal::rms_db;

struct Run {
    heard_b: Vec<f32>,
    stats_b: parla_engine::CallStats,
}

/// A sends `mic` to B over a link of `delay_ms` one-way delay; every `tamper_every`-th packet
/// (if any) has one payload byte flipped in flight.
fn run(cfg: &CallConfig, mic: &[f32], delay_ms: u64, tamper_every: Option<usize>) -> Run {
    let (mut ka, mut kb) = common::call_keys(b"core-call");
    assert_eq!(ka.safety_code(), kb.safety_code());
    let ids = |s| StreamIds {
        ssrc: s,
        first_seq: 65_500,
        timestamp_offset: 4_000_000_000,
    };
    let mut a = MediaCore::new(cfg, Some(&mut ka), ids(1)).unwrap();
    let mut b = MediaCore::new(cfg, Some(&mut kb), ids(2)).unwrap();
    let f = cfg.capture_frame();
    let mut in_flight: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let mut heard_b = Vec::with_capacity(mic.len());
    let (mut spk_a, mut spk_b) = (vec![0.0; f], vec![0.0; f]);
    let silence = vec![0.0; f];
    let mut sent = 0usize;
    for (i, frame) in mic.chunks_exact(f).enumerate() {
        let now_ms = i as u64 * 10;
        let now = MediaTime::from_millis(now_ms);
        while in_flight.front().is_some_and(|(t, _)| *t <= now_ms) {
            let (t, p) = in_flight.pop_front().unwrap();
            b.receive_packet(&p, MediaTime::from_millis(t));
        }
        a.tick(now, frame, &mut spk_a, &mut |p| {
            let mut p = p.to_vec();
            sent += 1;
            if tamper_every.is_some_and(|n| sent.is_multiple_of(n)) {
                let last = p.len() - 1;
                p[last] ^= 0x40;
            }
            in_flight.push_back((now_ms + delay_ms, p));
        })
        .unwrap();
        b.tick(now, &silence, &mut spk_b, &mut |_| {}).unwrap();
        heard_b.extend_from_slice(&spk_b);
    }
    Run {
        heard_b,
        stats_b: b.stats(),
    }
}

fn plain_cfg() -> CallConfig {
    CallConfig {
        aec: AecMode::Off,
        ..CallConfig::default()
    }
}

#[test]
fn speech_arrives_decrypted_with_a_bounded_mouth_to_ear_delay() {
    let mic = common::near_speech_48k();
    let mic = &mic[..mic.len().min(48_000 * 6)];
    let r = run(&plain_cfg(), mic, 40, None);
    let (delay_ms, corr) = common::delay_ms(mic, &r.heard_b, 500);
    println!(
        "mouth-to-ear {delay_ms:.1} ms (corr {corr:.3}); heard {:.1} dB vs sent {:.1} dB; stats {:?}",
        rms_db(&r.heard_b),
        rms_db(mic),
        r.stats_b
    );
    assert!(corr > 0.5, "output does not carry the input: corr {corr}");
    assert!(delay_ms > 40.0 && delay_ms < 150.0, "delay {delay_ms} ms");
    assert_eq!(r.stats_b.e2ee_auth_failures, 0);
    assert!(r.stats_b.e2ee_accepted > 290);
    assert_eq!(r.stats_b.packets_invalid, 0);
}

#[test]
fn tampered_packets_are_rejected_counted_and_the_call_continues() {
    let mic = common::near_speech_48k();
    let mic = &mic[..mic.len().min(48_000 * 6)];
    let r = run(&plain_cfg(), mic, 40, Some(10));
    let s = r.stats_b;
    println!("stats with every 10th packet tampered: {s:?}");
    // 300 packets of 20 ms in 6 s: 30 tampered (minus the ones still in flight at the end).
    assert!(s.e2ee_auth_failures >= 28, "{s:?}");
    assert!(s.e2ee_accepted >= 260, "{s:?}");
    let (_, corr) = common::delay_ms(mic, &r.heard_b, 500);
    assert!(corr > 0.4, "the call did not continue: corr {corr}");
}
