//! End-to-end encryption over a threaded call's life, in real time (app-owned audio): stop and
//! start keep the sender (no (key id, counter) ever appears twice on the wire, and the nonce
//! ledger of this test build sees no repeat), rotations on both sides and on one side only keep
//! audio flowing, a rotation on a stopped call takes effect at the next start, and rewritten RTP
//! headers are rejected without moving the jitter buffer.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use parla_engine::{AecMode, AudioMode, Call, CallConfig, CallEvent, CallStats};
use parla_rtp::e2ee::{ledger, parse_sframe_header};
use parla_rtp::rtp::RtpPacket;

fn cfg() -> CallConfig {
    CallConfig {
        aec: AecMode::Off,
        key_grace_ms: 300,
        ..CallConfig::default()
    }
}

/// Every (key id, counter) seen on the wire, and the repeats.
#[derive(Default)]
struct WireLedger {
    seen: HashSet<(u64, u64)>,
    repeats: u64,
    packets: u64,
}

impl WireLedger {
    fn record(&mut self, p: &[u8]) {
        let pkt = RtpPacket::parse(p).unwrap();
        let h = parse_sframe_header(pkt.payload).unwrap();
        self.packets += 1;
        if !self.seen.insert((h.key_id, h.counter)) {
            self.repeats += 1;
        }
    }
}

fn drive(a: &Call, b: &Call, frames: usize, wire: &mut WireLedger) {
    let speech = common::near_speech_48k();
    common::drive_pair(a, b, &speech, frames, &mut |p| {
        wire.record(p);
        true
    });
}

/// Frames accepted by each side during `frames` ticks of driving.
fn accepted_during(a: &Call, b: &Call, frames: usize, wire: &mut WireLedger) -> (u64, u64) {
    let (a0, b0) = (a.stats().e2ee_accepted, b.stats().e2ee_accepted);
    drive(a, b, frames, wire);
    (a.stats().e2ee_accepted - a0, b.stats().e2ee_accepted - b0)
}

fn assert_clean(s: &CallStats) {
    assert_eq!(s.e2ee_auth_failures, 0, "{s:?}");
    assert_eq!(s.e2ee_replays, 0, "{s:?}");
}

#[test]
fn stop_and_start_reuse_no_nonce_and_audio_returns_within_a_second() {
    let before = ledger::repeats();
    let (a, b) = common::call_pair(cfg());
    let mut wire = WireLedger::default();
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    drive(&a, &b, 100, &mut wire);
    // One side restarts, then both; each time both directions must carry audio again within
    // 1 s (100 ticks of 10 ms; 20 ms packets: 50 per direction).
    for round in 0..3 {
        a.stop().unwrap();
        if round > 0 {
            b.stop().unwrap();
            b.start(AudioMode::AppOwned).unwrap();
        }
        a.start(AudioMode::AppOwned).unwrap();
        let (got_a, got_b) = accepted_during(&a, &b, 100, &mut wire);
        println!("restart round {round}: accepted in the first second A {got_a}, B {got_b}");
        assert!(
            got_a >= 25 && got_b >= 25,
            "round {round}: {got_a} / {got_b}"
        );
    }
    let (sa, sb) = (a.stats(), b.stats());
    assert_clean(&sa);
    assert_clean(&sb);
    println!(
        "wire: {} packets, {} repeated (key id, counter); ledger repeats {}",
        wire.packets,
        wire.repeats,
        ledger::repeats() - before
    );
    assert_eq!(wire.repeats, 0, "a (key id, counter) pair was sent twice");
    assert_eq!(ledger::repeats(), before, "the nonce ledger saw a repeat");
}

#[test]
fn thirty_rotations_per_side_and_one_sided_rotations() {
    let before = ledger::repeats();
    let (a, b) = common::call_pair(cfg());
    let mut wire = WireLedger::default();
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    drive(&a, &b, 50, &mut wire);
    // 30 rotations per side, 150 ms apart (the 2.5 s spacing of the C test and the simulated
    // test, compressed to keep the suite short).
    for _ in 0..30 {
        a.rotate_key().unwrap();
        b.rotate_key().unwrap();
        drive(&a, &b, 15, &mut wire);
    }
    let (got_a, got_b) = accepted_during(&a, &b, 50, &mut wire);
    let (sa, sb) = (a.stats(), b.stats());
    println!("after 30 rotations: A {sa:?}\nB {sb:?}");
    assert_eq!((sa.key_epoch, sb.key_epoch), (30, 30));
    assert_eq!((sa.peer_key_epoch, sb.peer_key_epoch), (30, 30));
    assert!(got_a >= 20 && got_b >= 20, "{got_a} / {got_b}");
    assert_clean(&sa);
    assert_clean(&sb);
    assert!(
        sb.keys_expired >= 25,
        "old keys retire on their own: {sb:?}"
    );
    // Only A rotates: B's receiver follows, no signalling, any number of times.
    for _ in 0..5 {
        a.rotate_key().unwrap();
        drive(&a, &b, 10, &mut wire);
    }
    let (_, got_b) = accepted_during(&a, &b, 50, &mut wire);
    assert_eq!(b.stats().peer_key_epoch, 35);
    assert_eq!(b.stats().key_epoch, 30);
    assert!(got_b >= 20);
    // B was told of every rotation of A's, in order (the queue keeps the newest 32).
    let rotated: Vec<u32> = std::iter::from_fn(|| b.poll_event())
        .filter_map(|e| match e {
            CallEvent::PeerRotated { epoch } => Some(epoch),
            _ => None,
        })
        .collect();
    assert_eq!(rotated.last(), Some(&35), "{rotated:?}");
    assert!(rotated.windows(2).all(|w| w[0] < w[1]), "{rotated:?}");
    assert_eq!(wire.repeats, 0);
    assert_eq!(ledger::repeats(), before);
}

#[test]
fn rotation_of_a_stopped_call_and_rewritten_headers() {
    let (a, b) = common::call_pair(cfg());
    let mut wire = WireLedger::default();
    // Rotating before the first start, and while stopped.
    a.rotate_key().unwrap();
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    drive(&a, &b, 50, &mut wire);
    a.stop().unwrap();
    a.rotate_key().unwrap();
    a.start(AudioMode::AppOwned).unwrap();
    let (_, got_b) = accepted_during(&a, &b, 80, &mut wire);
    assert!(got_b >= 20, "{got_b}");
    assert_eq!(a.stats().key_epoch, 2);
    assert_eq!(b.stats().peer_key_epoch, 2);
    // A relay rewrites one timestamp bit in 8 packets (the attack that raised the jitter
    // target from 11 ms to 181-352 ms when headers were not authenticated).
    let target_before = b.stats().jitter_target_ms;
    let speech = common::near_speech_48k();
    let mut n = 0u32;
    let mut flipped = 0u64;
    common::drive_pair(&a, &b, &speech, 150, &mut |p| {
        if n % 9 == 4 && flipped < 8 {
            p[4] ^= 0x01; // timestamp bit 24
            flipped += 1;
        }
        n += 1;
        true
    });
    // The link sees both directions: the flips are split between them.
    let (sa, sb) = (a.stats(), b.stats());
    println!(
        "timestamp flips: {flipped} altered, rejected {} + {}, jitter target {target_before:.0} -> {:.0} ms",
        sa.e2ee_auth_failures, sb.e2ee_auth_failures, sb.jitter_target_ms
    );
    assert_eq!(sa.e2ee_auth_failures + sb.e2ee_auth_failures, flipped);
    assert!(
        !std::iter::from_fn(|| b.poll_event()).any(|e| matches!(e, CallEvent::AuthFailures { .. })),
        "8 failures in 1.5 s stay below the event rate"
    );
    // Every packet altered for 2 s: the app is told, about once per second.
    common::drive_pair(&a, &b, &speech, 200, &mut |p| {
        p[4] ^= 0x01;
        true
    });
    let bursts: Vec<u64> = std::iter::from_fn(|| b.poll_event())
        .filter_map(|e| match e {
            CallEvent::AuthFailures { count } => Some(count),
            _ => None,
        })
        .collect();
    println!("auth failure events: {bursts:?}");
    assert!(!bursts.is_empty() && bursts.len() <= 3, "{bursts:?}");
    assert!(bursts.iter().all(|&c| c >= 10));
    assert!(
        sb.jitter_target_ms <= target_before.max(40.0) + 20.0,
        "jitter target moved: {target_before} -> {}",
        sb.jitter_target_ms
    );
}
