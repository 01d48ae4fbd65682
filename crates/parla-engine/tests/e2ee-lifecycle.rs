//! End-to-end encryption over a threaded call's life, in real time (app-owned audio): stop and
//! start keep the sender (no (key id, counter) ever appears twice on the wire, and the nonce
//! ledger of this test build sees no repeat), rotations on both sides and on one side only keep
//! audio flowing, a rotation on a stopped call takes effect at the next start, and rewritten RTP
//! headers are rejected without moving the jitter buffer.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use parla_engine::media::SendState;
use parla_engine::{AecMode, AudioMode, Call, CallConfig, CallEvent, CallStats, MediaCore};
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
        if common::is_rtcp(p) {
            // Reports and feedback: no SFrame header (authenticated by their own trailer).
            return;
        }
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
        if common::is_rtcp(p) {
            return true;
        }
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
        if !common::is_rtcp(p) {
            p[4] ^= 0x01;
        }
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

/// One endpoint of the sans-IO lifecycle test: its keys and media core (`None` while stopped).
struct Endpoint {
    keys: parla_engine::CallKeys,
    core: Option<MediaCore>,
    paused: Option<(SendState, u64)>,
}

/// `PARLA_LIFECYCLES` (default 1,000; about 30 s in the debug suite) random call lifecycles through `MediaCore`,
/// the code `Call` runs on its media thread, in simulated time: 0-5 restarts of either side
/// (`into_state`/`resume`, as `Call::stop`/`start` do), 0-50 rotations of either side of which
/// 20% fail to be handed over (the prepared sender is dropped, as when the control queue is
/// full) and are retried, 0-50% random loss. After every event audio must flow again in both
/// directions, and the nonce ledger must never see a repeat. At the end, the first packets of
/// the call, recorded before any restart, are replayed: none is accepted.
#[test]
fn random_core_lifecycles_never_reuse_a_nonce() {
    use parla_core::MediaTime;
    use parla_engine::StreamIds;
    use parla_rtp::e2ee::MediaStream;
    use rand::{Rng, SeedableRng};

    let lifecycles: u32 = std::env::var("PARLA_LIFECYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let seed = std::env::var("PARLA_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15_014u64);
    println!("seed {seed} (PARLA_TEST_SEED), {lifecycles} lifecycles (PARLA_LIFECYCLES)");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let cfg = CallConfig {
        aec: AecMode::Off,
        noise_suppression: false,
        key_grace_ms: 200,
        ..CallConfig::default()
    };
    let f = cfg.capture_frame();
    let speech = common::near_speech_48k();
    let before = ledger::repeats();
    let (mut events_total, mut ticks_total, mut worst_ticks) = (0u64, 0u64, 0u64);
    let mut replayed = 0u64;
    for call in 0..lifecycles {
        let (ka, kb) = common::call_keys(&call.to_be_bytes());
        let mut ends = [ka, kb].map(|mut keys| {
            let core = MediaCore::new(&cfg, Some(&mut keys), StreamIds::random(&mut rng)).unwrap();
            Endpoint {
                keys,
                core: Some(core),
                paused: None,
            }
        });
        let loss = rng.random_range(0.0..0.5);
        let mut events: Vec<u8> = std::iter::repeat_n(0, rng.random_range(0..=5))
            .chain(std::iter::repeat_n(1, rng.random_range(0..=50)))
            .collect();
        for i in (1..events.len()).rev() {
            events.swap(i, rng.random_range(0..=i));
        }
        let mut t_ms = 0u64;
        let mut recorded: Vec<Vec<u8>> = Vec::new();
        for ev in events {
            let side = rng.random_range(0..2);
            let e = &mut ends[side];
            match ev {
                // Restart: stop now, start again after a pause.
                0 => {
                    let core = e.core.take().unwrap();
                    e.paused = Some((core.into_state(), t_ms));
                    t_ms += rng.random_range(20..2_000);
                    let (state, at) = e.paused.take().unwrap();
                    let paused = std::time::Duration::from_millis(t_ms - at);
                    e.core = Some(MediaCore::resume(&cfg, state, paused).unwrap());
                }
                // Rotation, handed over or failed (then retried once).
                _ => {
                    let deliver = rng.random_bool(0.8);
                    for attempt in [deliver, true] {
                        let mut next = e.keys.prepare_rotation().unwrap();
                        let tx = next.sender(MediaStream::Audio, cfg.cipher_suite).unwrap();
                        if attempt {
                            let core = e.core.as_mut().unwrap();
                            drop(core.install_sender(Box::new(tx)).unwrap());
                            e.keys.commit_rotation(next).unwrap();
                            break;
                        }
                    }
                }
            }
            events_total += 1;
            // Audio flows again: both sides accept a new frame within 2 s of call time.
            let start = [0, 1].map(|i| ends[i].core.as_ref().unwrap().stats().e2ee_accepted);
            let mut ticks = 0u64;
            loop {
                let now = MediaTime::from_millis(t_ms);
                let mic = &speech[(t_ms as usize / 10 * f) % (speech.len() - f)..][..f];
                let mut spk = vec![0.0; f];
                let mut out: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
                for (i, o) in out.iter_mut().enumerate() {
                    let core = ends[i].core.as_mut().unwrap();
                    core.tick(now, mic, &mut spk, &mut |p| o.push(p.to_vec()))
                        .unwrap();
                }
                for (i, pkts) in out.iter().enumerate() {
                    for p in pkts {
                        if !rng.random_bool(loss) {
                            ends[1 - i].core.as_mut().unwrap().receive_packet(p, now);
                            // What an attacker recorded of A -> B (delivered packets: a lost
                            // one arriving late within the replay window is not a replay).
                            if i == 0 && recorded.len() < 20 {
                                recorded.push(p.clone());
                            }
                        }
                    }
                }
                t_ms += 10;
                ticks += 1;
                let now_acc = [0, 1].map(|i| ends[i].core.as_ref().unwrap().stats().e2ee_accepted);
                if now_acc[0] > start[0] && now_acc[1] > start[1] {
                    break;
                }
                assert!(
                    ticks < 200,
                    "call {call}: no audio 2 s after an event (loss {loss:.2})"
                );
            }
            ticks_total += ticks;
            worst_ticks = worst_ticks.max(ticks);
            for e in &ends {
                let s = e.core.as_ref().unwrap().stats();
                assert_eq!(s.e2ee_replays, 0, "call {call}: {s:?}");
                assert_eq!(s.e2ee_auth_failures, 0, "call {call}: {s:?}");
            }
        }
        // A whole earlier stretch of the call, replayed after the restarts and rotations.
        let b = ends[1].core.as_mut().unwrap();
        let accepted = b.stats().e2ee_accepted;
        for p in &recorded {
            b.receive_packet(p, MediaTime::from_millis(t_ms));
        }
        assert_eq!(
            b.stats().e2ee_accepted,
            accepted,
            "call {call}: a replay was accepted"
        );
        replayed += recorded.len() as u64;
    }
    println!(
        "{lifecycles} lifecycles, {events_total} events; ticks to audio after an event: mean {:.1}, worst {worst_ticks}; {replayed} old packets replayed, 0 accepted; ledger repeats {}",
        ticks_total as f64 / events_total.max(1) as f64,
        ledger::repeats() - before
    );
    assert_eq!(ledger::repeats(), before, "the nonce ledger saw a repeat");
}

/// The peer's stream may change SSRC (a peer that rebuilt its sending stream under its keys):
/// the receiver follows only an authenticated packet; a forged packet with another SSRC changes
/// nothing.
#[test]
fn a_new_ssrc_is_followed_only_when_authenticated() {
    use parla_core::MediaTime;
    use parla_engine::StreamIds;
    use parla_engine::media::E2eeParts;
    use parla_rtp::e2ee::MediaStream;

    let cfg = CallConfig {
        aec: AecMode::Off,
        noise_suppression: false,
        ..CallConfig::default()
    };
    let (mut ka, mut kb) = common::call_keys(b"ssrc");
    let ids = |ssrc| StreamIds {
        ssrc,
        first_seq: 100,
        timestamp_offset: 1_000,
    };
    let mut a = MediaCore::new(&cfg, Some(&mut ka), ids(0x1111)).unwrap();
    let mut b = MediaCore::new(&cfg, Some(&mut kb), ids(0x2222)).unwrap();
    let f = cfg.capture_frame();
    let speech = common::near_speech_48k();
    let mut spk = vec![0.0; f];
    let mut t = 0u64;
    let mut talk = |a: &mut MediaCore, b: &mut MediaCore, ticks: usize, tamper: bool| {
        for _ in 0..ticks {
            let now = MediaTime::from_millis(t);
            let mic = &speech[(t as usize / 10 * f) % (speech.len() - f)..][..f];
            let mut out = Vec::new();
            a.tick(now, mic, &mut spk, &mut |p| out.push(p.to_vec()))
                .unwrap();
            for mut p in out {
                if tamper {
                    p[11] ^= 0x5a; // another SSRC, as a forger would send
                }
                b.receive_packet(&p, now);
            }
            b.tick(now, &vec![0.0; f], &mut spk, &mut |_| {}).unwrap();
            t += 10;
        }
    };
    talk(&mut a, &mut b, 50, false);
    let s = b.stats();
    assert_eq!(s.ssrc_changes, 0);
    // Forged SSRC: rejected by authentication, the lock stays.
    talk(&mut a, &mut b, 20, true);
    let s = b.stats();
    assert_eq!((s.ssrc_changes, s.e2ee_auth_failures), (0, 10), "{s:?}");
    // A's stream rebuilt under a new SSRC (a new epoch's sender, the same receiver).
    let mut next = ka.prepare_rotation().unwrap();
    let tx = next.sender(MediaStream::Audio, cfg.cipher_suite).unwrap();
    ka.commit_rotation(next).unwrap();
    let old = a.into_state();
    let old = old.e2ee.unwrap();
    let parts = E2eeParts {
        tx: Box::new(tx),
        rx: old.rx,
        feedback: old.feedback,
        video: None,
    };
    let mut a2 = MediaCore::new_with(&cfg, Some(parts), ids(0x3333)).unwrap();
    let accepted = b.stats().e2ee_accepted;
    talk(&mut a2, &mut b, 100, false);
    let s = b.stats();
    println!("after the new SSRC: {s:?}");
    assert_eq!(s.ssrc_changes, 1);
    assert!(s.e2ee_accepted >= accepted + 45, "{s:?}");
    assert!(s.playout_level_dbfs > -60.0, "B hears A again: {s:?}");
}
