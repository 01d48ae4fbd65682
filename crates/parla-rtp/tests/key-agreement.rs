//! Two-party key agreement: honest exchanges agree, a substituted key changes the safety code,
//! malformed and low-order peer keys are refused, and the derived keys protect a call end to end.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

mod common;

use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::e2ee::{
    CallKeys, CipherSuite, E2eeError, KeyAgreement, KeyAgreementError, MediaStream,
};

#[test]
fn honest_exchange_agrees() {
    let mut rng = common::rng(4001);
    for _ in 0..20 {
        let (a, b) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
        let (ab, bb) = (a.public_blob(), b.public_blob());
        let ka = a.finish(&bb, b"call 1").expect("a");
        let kb = b.finish(&ab, b"call 1").expect("b");
        assert_eq!(ka.safety_code(), kb.safety_code());
        assert_ne!(ka.role(), kb.role());
        for s in MediaStream::ALL {
            assert_eq!(ka.send_key_id(s), kb.recv_key_id(s));
            assert_ne!(ka.send_key_id(s), kb.send_key_id(s));
        }
        assert_ne!(
            ka.send_key_id(MediaStream::Audio),
            ka.send_key_id(MediaStream::Video),
            "one key id per stream"
        );
        let code = ka.safety_code().to_string();
        assert_eq!(code.len(), 60 + 11);
        assert!(
            code.split(' ')
                .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
        );
        // No commitments were exchanged: no short authentication string.
        assert_eq!(
            ka.short_auth_string(6).unwrap_err(),
            KeyAgreementError::NoCommitment
        );
    }
}

#[test]
fn committed_exchange_gives_equal_short_codes() {
    let mut rng = common::rng(4005);
    let (mut a, mut b) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    // Commitments first, keys only after the peer's commitment arrived.
    a.receive_commitment(&b.commitment())
        .expect("a gets b's commitment");
    b.receive_commitment(&a.commitment())
        .expect("b gets a's commitment");
    assert_eq!(
        a.receive_commitment(&b.commitment()).unwrap_err(),
        KeyAgreementError::CommitmentAlreadySet
    );
    let (ab, bb) = (a.public_blob(), b.public_blob());
    // A key that was not committed to is refused, and does not spend the key pair.
    let other = KeyAgreement::new(&mut rng).public_blob();
    assert!(matches!(
        a.agree(&other, b"call 5"),
        Err(KeyAgreementError::Commitment(_))
    ));
    assert!(!a.is_spent());
    let ka = a.agree(&bb, b"call 5").expect("a");
    let kb = b.agree(&ab, b"call 5").expect("b");
    assert!(a.is_spent());
    assert_eq!(
        a.agree(&bb, b"call 5").unwrap_err(),
        KeyAgreementError::Spent
    );
    for d in 1..=9 {
        let (sa, sb) = (
            ka.short_auth_string(d).expect("sas"),
            kb.short_auth_string(d).expect("sas"),
        );
        assert_eq!(sa, sb);
        assert_eq!(sa.to_string().len(), d);
    }
    assert!(ka.short_auth_string(0).is_err());
    assert!(ka.short_auth_string(10).is_err());
}

#[test]
fn man_in_the_middle_changes_the_safety_code() {
    let mut rng = common::rng(4002);
    let (a, b) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    // Mallory replaces each side's key with one of her own.
    let (m1, m2) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    let (ab, bb, m1b, m2b) = (
        a.public_blob(),
        b.public_blob(),
        m1.public_blob(),
        m2.public_blob(),
    );
    let mut ka = a.finish(&m1b, b"call 2").expect("a");
    let mut kb = b.finish(&m2b, b"call 2").expect("b");
    let km1 = m1.finish(&ab, b"call 2").expect("m1");
    let km2 = m2.finish(&bb, b"call 2").expect("m2");
    // Mallory can decrypt each leg ...
    assert!(reads(&mut ka, MediaStream::Audio, &km1));
    assert!(reads(&mut kb, MediaStream::Audio, &km2));
    // ... but Alice and Bob see different codes, and different keys.
    assert_ne!(ka.safety_code(), kb.safety_code());
    assert!(!reads(&mut ka, MediaStream::Video, &kb));
    // The call id is bound too.
    let (c, d) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    let (cb, db) = (c.public_blob(), d.public_blob());
    let mut kc = c.finish(&db, b"call 3").expect("c");
    let kd = d.finish(&cb, b"call 3 (other)").expect("d");
    assert_ne!(kc.safety_code(), kd.safety_code());
    assert!(!reads(&mut kc, MediaStream::Audio, &kd));
}

/// Whether a frame of `stream` sent with `tx`'s keys opens with `rx`'s receiver.
fn reads(tx: &mut CallKeys, stream: MediaStream, rx: &CallKeys) -> bool {
    let suite = CipherSuite::default();
    let mut sender = tx.sender(stream, suite).expect("sender");
    let mut receiver = rx
        .receiver(stream, suite, Duration::from_secs(1))
        .expect("receiver");
    let (mut wire, mut out) = (Vec::with_capacity(64), Vec::with_capacity(64));
    sender
        .protect_into(&[], b"probe", &mut wire)
        .expect("protect");
    receiver
        .unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
        .is_ok()
}

#[test]
fn bad_peer_keys_are_refused() {
    let mut rng = common::rng(4003);
    let mk = |rng: &mut _| KeyAgreement::new(rng);
    let a = mk(&mut rng);
    let own = a.public_blob();
    assert_eq!(
        a.finish(&own, b"c").unwrap_err(),
        KeyAgreementError::Reflected
    );
    assert_eq!(
        mk(&mut rng).finish(&[1; 32], b"c").unwrap_err(),
        KeyAgreementError::BadLength(32)
    );
    let mut v2 = [0u8; 33];
    v2[0] = 2;
    assert_eq!(
        mk(&mut rng).finish(&v2, b"c").unwrap_err(),
        KeyAgreementError::BadVersion(2)
    );
    // Low-order points: zero and one.
    let mut zero = [0u8; 33];
    zero[0] = 1;
    assert_eq!(
        mk(&mut rng).finish(&zero, b"c").unwrap_err(),
        KeyAgreementError::NonContributory
    );
    let mut one = zero;
    one[1] = 1;
    assert_eq!(
        mk(&mut rng).finish(&one, b"c").unwrap_err(),
        KeyAgreementError::NonContributory
    );
    // None of these spends the key pair: after every bad blob, a good one still agrees.
    let (mut x, y) = (mk(&mut rng), mk(&mut rng));
    let good = y.public_blob();
    let mut bad_version = good;
    bad_version[0] = 9;
    for bad in [
        &bad_version[..],
        &good[..20],
        &zero[..],
        &one[..],
        &x.public_blob()[..],
    ] {
        assert!(x.agree(bad, b"c").is_err());
        assert!(!x.is_spent());
    }
    let kx = x
        .agree(&good, b"c")
        .expect("the pair survived the bad blobs");
    let ky = y.finish(&x.public_blob(), b"c").expect("y");
    assert_eq!(kx.safety_code(), ky.safety_code());
}

#[test]
fn derived_keys_protect_both_directions_and_rotate() {
    let mut rng = common::rng(4004);
    let (a, b) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    let (ab, bb) = (a.public_blob(), b.public_blob());
    let mut ka = a.finish(&bb, b"call 4").expect("a");
    let mut kb = b.finish(&ab, b"call 4").expect("b");
    let suite = CipherSuite::default();
    let grace = Duration::from_secs(1);
    let mut a_tx = ka.sender(MediaStream::Audio, suite).expect("sender");
    // One sender per (stream, epoch), ever.
    assert!(matches!(
        ka.sender(MediaStream::Audio, suite),
        Err(E2eeError::SenderTaken { .. })
    ));
    let mut b_rx = kb
        .receiver(MediaStream::Audio, suite, grace)
        .expect("receiver");
    let mut wire = Vec::with_capacity(128);
    let mut out = Vec::with_capacity(128);
    a_tx.protect_into(&[], b"hello bob", &mut wire)
        .expect("protect");
    b_rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
        .expect("bob reads");
    assert_eq!(out, b"hello bob");
    // Bob cannot read his own direction's frames with the receive key (keys differ).
    let mut b_tx = kb.sender(MediaStream::Audio, suite).expect("sender");
    b_tx.protect_into(&[], b"hello alice", &mut wire)
        .expect("protect");
    assert!(
        b_rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
            .is_err()
    );
    // Nor a video frame of Alice's with the audio receiver.
    let mut a_video = ka.sender(MediaStream::Video, suite).expect("video");
    a_video
        .protect_into(&[], b"video", &mut wire)
        .expect("protect");
    assert!(
        b_rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
            .is_err()
    );
    // Alice rotates her direction; Bob's receiver follows with no signalling.
    let mut next = ka.prepare_rotation().expect("prepare");
    let new_tx = next.sender(MediaStream::Audio, suite).expect("sender");
    assert_eq!(ka.commit_rotation(next).expect("commit"), 1);
    a_tx = new_tx;
    a_tx.protect_into(&[], b"epoch 1", &mut wire)
        .expect("protect");
    b_rx.unprotect_into(&[], &wire, &mut out, MediaTime::from_millis(10))
        .expect("bob reads epoch 1");
    assert_eq!(out, b"epoch 1");
    assert_eq!(b_rx.epoch(), 1);
}
