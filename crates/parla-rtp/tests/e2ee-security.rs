//! Security behaviour of the SFrame receiver: every tampered, replayed, truncated or wrongly
//! keyed frame is rejected and counted, never returned as plaintext; key rotation has no gap and
//! the old key is retired after the grace period.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

mod common;

use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::e2ee::{
    CipherSuite, E2eeError, RejectReason, SframeReceiver, SframeSender, UnprotectError,
};

const KEY_A: &[u8] = b"base key of sender A, 32 bytes..";
const KEY_B: &[u8] = b"base key of sender A, rotated....";

fn pair(suite: CipherSuite) -> (SframeSender, SframeReceiver) {
    let tx = SframeSender::new(suite, 10, KEY_A).expect("sender");
    let mut rx = SframeReceiver::new(Duration::from_secs(2));
    rx.add_key(suite, 10, KEY_A).expect("key");
    (tx, rx)
}

fn rejected(r: Result<parla_rtp::e2ee::Unprotected, UnprotectError>) -> RejectReason {
    match r {
        Err(UnprotectError::Rejected(reason)) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn every_flipped_bit_is_rejected_for_every_suite() {
    for suite in CipherSuite::ALL {
        let (mut tx, mut rx) = pair(suite);
        let frame: Vec<u8> = (0..60u8).collect();
        let meta = b"rtp-ish metadata";
        let mut wire = Vec::with_capacity(256);
        tx.protect_into(meta, &frame, &mut wire).expect("protect");
        let sframe = wire[meta.len()..].to_vec();
        let mut out = Vec::with_capacity(256);
        let mut flips = 0;
        for bit in 0..sframe.len() * 8 {
            let mut bad = sframe.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let r = rx.unprotect_into(meta, &bad, &mut out, MediaTime::ZERO);
            assert!(r.is_err(), "suite {suite:?}: flipped bit {bit} accepted");
            assert!(out.is_empty(), "no plaintext on rejection");
            flips += 1;
        }
        // Flips in the authenticated metadata, too.
        for bit in 0..meta.len() * 8 {
            let mut m = meta.to_vec();
            m[bit / 8] ^= 1 << (bit % 8);
            let r = rx.unprotect_into(&m, &sframe, &mut out, MediaTime::ZERO);
            assert_eq!(rejected(r), RejectReason::Authentication);
            flips += 1;
        }
        let st = rx.stats();
        assert_eq!(st.rejected(), flips as u64, "every rejection counted");
        assert_eq!(st.accepted, 0);
        // Flips in the header land in other reasons (unknown key, malformed) or authentication.
        assert!(st.authentication > 0);
        // The untouched frame still decrypts: nothing moved the replay window.
        let u = rx
            .unprotect_into(meta, &sframe, &mut out, MediaTime::ZERO)
            .expect("original accepted");
        assert_eq!((u.len, &out[..]), (frame.len(), &frame[..]));
    }
}

#[test]
fn replay_truncation_and_unknown_keys() {
    let (mut tx, mut rx) = pair(CipherSuite::default());
    let mut wire = Vec::with_capacity(256);
    let mut out = Vec::with_capacity(256);
    tx.protect_into(&[], b"frame one", &mut wire)
        .expect("protect");
    let first = wire.clone();
    rx.unprotect_into(&[], &first, &mut out, MediaTime::ZERO)
        .expect("accepted");
    // Replay.
    let r = rx.unprotect_into(&[], &first, &mut out, MediaTime::ZERO);
    assert_eq!(rejected(r), RejectReason::Replay);
    // Truncations: every shorter prefix is rejected.
    tx.protect_into(&[], b"frame two", &mut wire)
        .expect("protect");
    for n in 0..wire.len() {
        let r = rx.unprotect_into(&[], &wire[..n], &mut out, MediaTime::ZERO);
        let reason = rejected(r);
        assert!(
            matches!(
                reason,
                RejectReason::Malformed | RejectReason::Authentication
            ),
            "prefix {n}: {reason:?}"
        );
        assert!(out.is_empty());
    }
    // The untruncated frame is still fresh.
    rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
        .expect("accepted");
    assert_eq!(out, b"frame two");
    let second = wire.clone();
    // Unknown key id.
    let mut stranger = SframeSender::new(CipherSuite::default(), 99, KEY_A).expect("sender");
    stranger
        .protect_into(&[], b"who?", &mut wire)
        .expect("protect");
    let r = rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO);
    assert_eq!(rejected(r), RejectReason::UnknownKey);
    // Right key id, wrong key material: authentication failure.
    let mut impostor =
        SframeSender::with_first_counter(CipherSuite::default(), 10, KEY_B, 1000).expect("sender");
    impostor
        .protect_into(&[], b"forged", &mut wire)
        .expect("protect");
    let r = rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO);
    assert_eq!(rejected(r), RejectReason::Authentication);
    // Old frames beyond the replay window are refused.
    for _ in 0..200 {
        tx.protect_into(&[], b"x", &mut wire).expect("protect");
    }
    rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
        .expect("newest accepted");
    let r = rx.unprotect_into(&[], &second, &mut out, MediaTime::ZERO);
    assert_eq!(rejected(r), RejectReason::Replay, "older than the window");
    let st = rx.stats();
    assert_eq!(st.replay, 2);
    assert_eq!(st.unknown_key, 1);
    assert_eq!(st.accepted, 3);
    assert_eq!(st.rejected(), st.malformed + st.authentication + 3);
    // A full-size frame needs output capacity; too little is an error, not a reallocation.
    let mut tiny = Vec::with_capacity(4);
    tx.protect_into(&[], b"frame three", &mut wire)
        .expect("protect");
    assert!(matches!(
        rx.unprotect_into(&[], &wire, &mut tiny, MediaTime::ZERO),
        Err(UnprotectError::BufferTooSmall { .. })
    ));
    assert_eq!(tiny.capacity(), 4);
}

#[test]
fn rotation_without_gap_then_old_key_retired() {
    let suite = CipherSuite::default();
    let (mut tx, mut rx) = pair(suite);
    // Late frames of the old key, from counters `tx` never reaches (one nonce, one frame).
    let mut old_tx = SframeSender::with_first_counter(suite, 10, KEY_A, 1_000).expect("sender");
    let mut wire = Vec::with_capacity(256);
    let mut out = Vec::with_capacity(256);
    let t0 = MediaTime::from_millis(1_000);
    // The receiver learns the next key before the sender switches.
    rx.rotate_key(suite, 10, 11, KEY_B).expect("rotate");
    assert!(matches!(
        rx.rotate_key(suite, 10, 11, KEY_B),
        Err(E2eeError::DuplicateKeyId(11))
    ));
    tx.protect_into(&[], b"old key", &mut wire)
        .expect("protect");
    rx.unprotect_into(&[], &wire, &mut out, t0)
        .expect("old key still works");
    tx = SframeSender::new(suite, 11, KEY_B).expect("sender rotates");
    tx.protect_into(&[], b"new key", &mut wire)
        .expect("protect");
    rx.unprotect_into(&[], &wire, &mut out, t0)
        .expect("new key works at once");
    assert_eq!(out, b"new key");
    // Late frames under the old key are accepted during the grace period ...
    for _ in 0..3 {
        old_tx
            .protect_into(&[], b"late", &mut wire)
            .expect("protect");
    }
    let late = wire.clone();
    rx.unprotect_into(&[], &late, &mut out, t0 + Duration::from_millis(1_999))
        .expect("inside grace");
    assert!(rx.is_live(10, t0 + Duration::from_millis(1_999)));
    // ... and refused after it, as a retired key.
    old_tx
        .protect_into(&[], b"too late", &mut wire)
        .expect("protect");
    let r = rx.unprotect_into(&[], &wire, &mut out, t0 + Duration::from_secs(2));
    assert_eq!(rejected(r), RejectReason::RetiredKey);
    assert!(!rx.is_live(10, t0 + Duration::from_secs(2)));
    // The new key keeps working; an explicit retirement stops it.
    tx.protect_into(&[], b"still new", &mut wire)
        .expect("protect");
    rx.unprotect_into(&[], &wire, &mut out, t0 + Duration::from_secs(3))
        .expect("new key");
    rx.retire_key(11).expect("retire");
    tx.protect_into(&[], b"after retire", &mut wire)
        .expect("protect");
    let r = rx.unprotect_into(&[], &wire, &mut out, t0 + Duration::from_secs(3));
    assert_eq!(rejected(r), RejectReason::RetiredKey);
    assert_eq!(rx.stats().retired_key, 2);
    // A retired key id is never installed again (its counters were used).
    assert!(matches!(
        rx.add_key(suite, 11, KEY_B),
        Err(E2eeError::RetiredKeyId(11))
    ));
}

#[test]
fn retiring_keys_expire_without_frames_and_slots_are_reused() {
    // Unlimited rotations in MAX_KEYS slots: each old key is zeroized `grace` after its
    // successor's first frame, by `expire` alone (no frame under the old key arrives).
    let suite = CipherSuite::default();
    let mut rx = SframeReceiver::new(Duration::from_millis(500));
    rx.add_key(suite, 0, KEY_A).expect("first key");
    let mut wire = Vec::with_capacity(256);
    let mut out = Vec::with_capacity(256);
    for kid in 1..1_000u64 {
        let now = MediaTime::from_millis(kid * 1_000);
        rx.rotate_key(suite, kid - 1, kid, KEY_B).expect("rotate");
        let mut tx = SframeSender::new(suite, kid, KEY_B).expect("sender");
        tx.protect_into(&[], b"x", &mut wire).expect("protect");
        rx.unprotect_into(&[], &wire, &mut out, now)
            .expect("new key");
        assert!(rx.is_live(kid - 1, now), "grace period");
        rx.expire(now + Duration::from_millis(500));
        assert!(!rx.is_live(kid - 1, now + Duration::from_millis(500)));
        assert_eq!(rx.live_keys(), 1);
    }
    assert_eq!(rx.stats().accepted, 999);
}

#[test]
fn forged_frames_do_not_trigger_rotation() {
    // A forged frame under the new key id must not start the old key's retirement.
    let suite = CipherSuite::default();
    let (mut tx, mut rx) = pair(suite);
    rx.rotate_key(suite, 10, 11, KEY_B).expect("rotate");
    let mut forger = SframeSender::new(suite, 11, KEY_A).expect("sender");
    let mut wire = Vec::with_capacity(256);
    let mut out = Vec::with_capacity(256);
    forger
        .protect_into(&[], b"forged", &mut wire)
        .expect("protect");
    let r = rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO);
    assert_eq!(rejected(r), RejectReason::Authentication);
    tx.protect_into(&[], b"old", &mut wire).expect("protect");
    rx.unprotect_into(&[], &wire, &mut out, MediaTime::from_millis(60_000))
        .expect("old key not retired by a forgery");
}
