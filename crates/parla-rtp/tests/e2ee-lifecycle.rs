//! End-to-end encryption over a call's whole life, at the key level: unlimited rotations on both
//! sides, one-sided rotations the peer follows, failed and retried rotations, restarts that keep
//! their sender, keys that expire without frames, RTP header rewrites, and a whole earlier
//! session replayed. The nonce ledger (`e2ee::ledger`, on in this test build) must never see a
//! (key, key id, counter) twice.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

mod common;

use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::e2ee::{
    CallKeys, CipherSuite, KeyAgreement, MAX_EPOCH_SKIP, MediaStream, RejectReason, SframeSender,
    StreamReceiver, UnprotectError, ledger, rtp_aad,
};
use parla_rtp::payload::opus::OpusPacketizer;
use parla_rtp::rtp::{RtpHeader, RtpPacket};
use rand::Rng;
use rand_chacha::ChaCha20Rng;

const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
const GRACE: Duration = Duration::from_millis(500);

fn agree(rng: &mut ChaCha20Rng, call: &[u8]) -> (CallKeys, CallKeys) {
    let (mut a, mut b) = (KeyAgreement::new(rng), KeyAgreement::new(rng));
    a.receive_commitment(&b.commitment()).expect("commitment");
    b.receive_commitment(&a.commitment()).expect("commitment");
    let (ab, bb) = (a.public_blob(), b.public_blob());
    (
        a.agree(&bb, call).expect("a"),
        b.agree(&ab, call).expect("b"),
    )
}

/// One direction of a call: the sending side's keys and sender, the packetizer, and the peer's
/// receiver.
struct Leg {
    keys: CallKeys,
    tx: SframeSender,
    pack: OpusPacketizer,
    rx: StreamReceiver,
    wire: Vec<u8>,
    packet: [u8; 1500],
    plain: Vec<u8>,
    sent: u64,
}

impl Leg {
    fn new(mut keys: CallKeys, peer: &CallKeys, ssrc: u32) -> Self {
        let tx = keys.sender(MediaStream::Audio, SUITE).expect("sender");
        Leg {
            keys,
            tx,
            pack: OpusPacketizer::new(ssrc, 111, 1000, 5000),
            rx: peer
                .receiver(MediaStream::Audio, SUITE, GRACE)
                .expect("receiver"),
            wire: Vec::with_capacity(1500),
            packet: [0; 1500],
            plain: Vec::with_capacity(1500),
            sent: 0,
        }
    }

    /// Protects and packetizes one 20 ms frame; returns the RTP packet.
    fn send(&mut self) -> Vec<u8> {
        let frame = self.sent.to_be_bytes();
        self.sent += 1;
        let aad = rtp_aad(&self.pack.peek_header());
        self.tx
            .protect_with_aad(&aad, &frame, &mut self.wire)
            .expect("protect");
        let n = self
            .pack
            .packetize(&self.wire, Duration::from_millis(20), &mut self.packet)
            .expect("packetize");
        self.packet[..n].to_vec()
    }

    fn receive(&mut self, packet: &[u8], now: MediaTime) -> Result<(), UnprotectError> {
        let pkt = RtpPacket::parse(packet).expect("parse");
        self.rx
            .unprotect_into(&rtp_aad(&pkt.header), pkt.payload, &mut self.plain, now)
            .map(|_| ())
    }

    /// Rotates the sending side; `deliver` false models a rotation whose hand-over failed (the
    /// prepared senders are dropped unused and nothing changes).
    fn rotate(&mut self, deliver: bool) {
        let mut next = self.keys.prepare_rotation().expect("prepare");
        let tx = next.sender(MediaStream::Audio, SUITE).expect("sender");
        if deliver {
            self.keys.commit_rotation(next).expect("commit");
            self.tx = tx;
        }
    }
}

fn rejected(r: Result<(), UnprotectError>) -> RejectReason {
    match r {
        Err(UnprotectError::Rejected(reason)) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_thousand_rotations_per_side() {
    let mut rng = common::rng(14_001);
    let (ka, kb) = agree(&mut rng, b"rotations");
    let mut ab = Leg::new(ka, &kb, 1);
    let mut ba = Leg::new(kb, &ab.keys, 2);
    let before = ledger::repeats();
    let mut t = 0u64;
    for i in 0..1_000u32 {
        // Both sides rotate (sometimes only one of them), frames keep flowing both ways.
        ab.rotate(true);
        if i % 3 != 0 {
            ba.rotate(true);
        }
        for _ in 0..3 {
            t += 20;
            let now = MediaTime::from_millis(t);
            let p = ab.send();
            ab.receive(&p, now).expect("a -> b after rotation");
            let p = ba.send();
            ba.receive(&p, now).expect("b -> a after rotation");
        }
        ab.rx.expire(MediaTime::from_millis(t));
        assert!(ab.rx.live_keys() <= 3, "bounded key state");
    }
    assert_eq!(ab.keys.epoch(), 1_000);
    assert_eq!(ab.rx.epoch(), 1_000);
    assert_eq!(ba.rx.epoch(), ba.keys.epoch());
    assert_eq!(ab.rx.stats().rejected(), 0);
    assert_eq!(ledger::repeats(), before, "a nonce was used twice");
    println!(
        "1000 rotations: a epoch {}, b epoch {}, {} frames each way, keys expired {}",
        ab.keys.epoch(),
        ba.keys.epoch(),
        ab.sent,
        ab.rx.expired_keys()
    );
}

#[test]
fn one_sided_rotations_are_followed_and_old_keys_expire_without_frames() {
    let mut rng = common::rng(14_002);
    let (ka, kb) = agree(&mut rng, b"one-sided");
    let mut ab = Leg::new(ka, &kb, 1);
    let p0 = ab.send();
    ab.receive(&p0, MediaTime::ZERO).expect("epoch 0");
    let late_old = ab.send(); // an epoch-0 frame that arrives late
    // Several rotations while no frame gets through: the receiver derives forward.
    for _ in 0..MAX_EPOCH_SKIP {
        ab.rotate(true);
    }
    let t1 = MediaTime::from_millis(1_000);
    let p = ab.send();
    ab.receive(&p, t1).expect("skipped ahead");
    assert_eq!(ab.rx.epoch(), MAX_EPOCH_SKIP);
    // The old key works within the grace period, and is zeroized at its end without any frame.
    ab.receive(&late_old, t1 + GRACE / 2).expect("inside grace");
    assert_eq!(ab.rx.live_keys(), 3);
    ab.rx.expire(t1 + GRACE);
    assert_eq!(ab.rx.live_keys(), 2, "previous key zeroized");
    // The same old frame again after the key is gone is refused (as a retired key).
    assert_eq!(
        rejected(ab.receive(&late_old, t1 + GRACE)),
        RejectReason::RetiredKey
    );
    // Too far ahead: not followed (bounded work per frame), and nothing changes.
    for _ in 0..(MAX_EPOCH_SKIP + 2) {
        ab.rotate(true);
    }
    let far = ab.send();
    assert_eq!(
        rejected(ab.receive(&far, t1 + GRACE * 2)),
        RejectReason::UnknownKey
    );
    assert_eq!(ab.rx.epoch(), MAX_EPOCH_SKIP);
}

#[test]
fn failed_rotations_leave_the_old_epoch_and_retries_are_safe() {
    let mut rng = common::rng(14_003);
    let (ka, kb) = agree(&mut rng, b"retries");
    let mut ab = Leg::new(ka, &kb, 1);
    let before = ledger::repeats();
    for i in 0..200u64 {
        let now = MediaTime::from_millis(i * 20);
        let ok = rng.random_bool(0.5);
        let epoch = ab.keys.epoch();
        ab.rotate(ok);
        assert_eq!(ab.keys.epoch(), epoch + u32::from(ok));
        let p = ab.send();
        ab.receive(&p, now)
            .expect("audio flows after every attempt");
    }
    // A stale prepared rotation cannot be committed after another one.
    let stale = ab.keys.prepare_rotation().expect("prepare");
    ab.rotate(true);
    assert!(ab.keys.commit_rotation(stale).is_err());
    assert_eq!(ledger::repeats(), before);
}

#[test]
fn rewritten_rtp_headers_are_rejected() {
    let mut rng = common::rng(14_004);
    let (ka, kb) = agree(&mut rng, b"rewrite");
    let mut ab = Leg::new(ka, &kb, 0x1234_5678);
    let mut rejected_count = 0u64;
    let mut t = 0;
    for _ in 0..2_000 {
        t += 20;
        let now = MediaTime::from_millis(t);
        let good = ab.send();
        // Every field the receiver acts on, rewritten: sequence number, timestamp (one flipped
        // bit at several positions, as in the jitter attack), marker, payload type, SSRC.
        let pkt = RtpPacket::parse(&good).expect("parse");
        let h = pkt.header;
        let bit = rng.random_range(0..32);
        let variants = [
            RtpHeader {
                sequence: h.sequence.wrapping_add(rng.random_range(1..100)),
                ..h
            },
            RtpHeader {
                sequence: h.sequence.wrapping_sub(rng.random_range(1..100)),
                ..h
            },
            RtpHeader {
                timestamp: h.timestamp ^ (1 << bit),
                ..h
            },
            RtpHeader {
                marker: !h.marker,
                ..h
            },
            RtpHeader {
                payload_type: (h.payload_type + 1) & 0x7f,
                ..h
            },
            RtpHeader {
                ssrc: h.ssrc ^ (1 << rng.random_range(0..32)),
                ..h
            },
        ];
        for v in variants {
            let mut bad = good.clone();
            rewrite_header(&mut bad, &v);
            assert_eq!(
                rejected(ab.receive(&bad, now)),
                RejectReason::Authentication
            );
            rejected_count += 1;
        }
        // The genuine packet still opens: the forgeries moved nothing.
        ab.receive(&good, now).expect("genuine packet");
    }
    assert_eq!(ab.rx.stats().authentication, rejected_count);
    println!("header rewrites: {rejected_count} altered packets, all rejected");
}

#[test]
fn spliced_and_moved_frames_are_rejected() {
    // A relay that keeps every header but swaps payloads between packets (moving an authentic
    // frame earlier or later in the stream) gets nothing accepted.
    let mut rng = common::rng(14_008);
    let (ka, kb) = agree(&mut rng, b"splice");
    let mut ab = Leg::new(ka, &kb, 0x0bad_cafe);
    let packets: Vec<Vec<u8>> = (0..300).map(|_| ab.send()).collect();
    let mut spliced = 0u64;
    for (i, p) in packets.iter().enumerate() {
        let j = (i + rng.random_range(1..packets.len())) % packets.len();
        let mut bad = p[..12].to_vec();
        bad.extend_from_slice(&packets[j][12..]);
        let r = ab.receive(&bad, MediaTime::from_millis(i as u64 * 20));
        // A payload already received is caught as a replay before its tag is checked; any
        // other fails authentication under this header.
        let reason = rejected(r);
        assert!(
            matches!(reason, RejectReason::Authentication | RejectReason::Replay),
            "{reason:?}"
        );
        spliced += 1;
        ab.receive(p, MediaTime::from_millis(i as u64 * 20))
            .expect("genuine packet after the splice");
    }
    let st = ab.rx.stats();
    assert_eq!(st.authentication + st.replay, spliced);
    assert!(st.authentication > 0 && st.replay > 0, "{st:?}");
    assert_eq!(st.accepted, 300);
    println!("spliced: {spliced} packets, all rejected ({st:?})");
}

/// Writes `h`'s fields over the fixed RTP header of `packet`.
fn rewrite_header(packet: &mut [u8], h: &RtpHeader) {
    packet[1] = (u8::from(h.marker) << 7) | (h.payload_type & 0x7f);
    packet[2..4].copy_from_slice(&h.sequence.to_be_bytes());
    packet[4..8].copy_from_slice(&h.timestamp.to_be_bytes());
    packet[8..12].copy_from_slice(&h.ssrc.to_be_bytes());
}

#[test]
fn an_earlier_session_replayed_after_a_restart_is_refused() {
    let mut rng = common::rng(14_005);
    let (ka, kb) = agree(&mut rng, b"replay");
    let mut ab = Leg::new(ka, &kb, 7);
    // Session 1, recorded by an attacker.
    let mut recorded = Vec::new();
    for i in 0..500u64 {
        let p = ab.send();
        ab.receive(&p, MediaTime::from_millis(i * 20)).expect("s1");
        recorded.push(p);
    }
    // Restart: the engine keeps the sender (its counter continues) and the receiver.
    for i in 0..500u64 {
        let p = ab.send();
        ab.receive(&p, MediaTime::from_millis(20_000 + i * 20))
            .expect("s2");
    }
    let accepted_before = ab.rx.stats().accepted;
    for p in &recorded {
        assert!(ab.receive(p, MediaTime::from_millis(40_000)).is_err());
    }
    assert_eq!(
        ab.rx.stats().accepted,
        accepted_before,
        "0 replays accepted"
    );
    println!("replayed session: {} packets, 0 accepted", recorded.len());
}

#[test]
fn random_lifecycles_never_reuse_a_nonce() {
    // 1,000 random call lifecycles at the key level: 0-5 restarts (the sender and receiver are
    // kept, as the engine does), 0-50 rotations on either side, failed and retried rotations,
    // 0-50% loss; after every event audio must flow again within a few frames, and the ledger
    // must never see a nonce twice.
    let mut rng = common::rng(14_006);
    let before = ledger::repeats();
    let mut totals = (0u64, 0u64, 0u64);
    for call in 0..1_000u32 {
        let (ka, kb) = agree(&mut rng, &call.to_be_bytes());
        let mut ab = Leg::new(ka, &kb, rng.random());
        let mut ba = Leg::new(kb, &ab.keys, rng.random());
        let loss = rng.random_range(0.0..0.5);
        let restarts = rng.random_range(0..=5);
        let rotations = rng.random_range(0..=50);
        let mut events: Vec<u8> = std::iter::repeat_n(0, restarts)
            .chain(std::iter::repeat_n(1, rotations))
            .collect();
        // Shuffle the events.
        for i in (1..events.len()).rev() {
            events.swap(i, rng.random_range(0..=i));
        }
        let mut t = 0u64;
        for ev in events {
            match ev {
                // Restart: nothing about the keys changes; time jumps.
                0 => t += rng.random_range(20..3_000),
                _ => {
                    let deliver = rng.random_bool(0.8);
                    if rng.random_bool(0.5) {
                        ab.rotate(deliver);
                    } else {
                        ba.rotate(deliver);
                    }
                }
            }
            // Audio flows again: within 40 frames at least one frame gets through each way.
            for leg in [&mut ab, &mut ba] {
                let mut through = false;
                for _ in 0..40 {
                    t += 20;
                    let p = leg.send();
                    if rng.random_bool(loss) {
                        continue;
                    }
                    leg.receive(&p, MediaTime::from_millis(t))
                        .expect("frame after event");
                    through = true;
                    break;
                }
                assert!(through, "call {call}: no frame within 40 at loss {loss}");
            }
        }
        totals.0 += u64::from(ab.keys.epoch() + ba.keys.epoch());
        totals.1 += ab.sent + ba.sent;
        totals.2 += restarts as u64;
    }
    assert_eq!(ledger::repeats(), before, "a nonce was used twice");
    println!(
        "1000 lifecycles: {} rotations, {} restarts, {} frames; nonces recorded {}, repeats {}",
        totals.0,
        totals.2,
        totals.1,
        ledger::recorded(),
        ledger::repeats() - before
    );
}

#[test]
fn audio_and_video_never_share_a_nonce_space() {
    let mut rng = common::rng(14_007);
    let (mut ka, kb) = agree(&mut rng, b"streams");
    let mut audio = ka.sender(MediaStream::Audio, SUITE).expect("audio");
    let mut video = ka.sender(MediaStream::Video, SUITE).expect("video");
    assert_ne!(audio.key_id(), video.key_id());
    let mut rx_video = kb
        .receiver(MediaStream::Video, SUITE, GRACE)
        .expect("receiver");
    let (mut wire, mut out) = (Vec::with_capacity(64), Vec::with_capacity(64));
    let before = ledger::repeats();
    for _ in 0..100 {
        audio.protect_into(&[], b"a", &mut wire).expect("protect");
        // An audio frame never opens as video.
        assert!(
            rx_video
                .unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
                .is_err()
        );
        video.protect_into(&[], b"v", &mut wire).expect("protect");
        rx_video
            .unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
            .expect("video");
    }
    assert_eq!(ledger::repeats(), before);
}
