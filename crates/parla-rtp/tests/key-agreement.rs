//! Two-party key agreement: honest exchanges agree, a substituted key changes the safety code,
//! malformed and low-order peer keys are refused, and the derived keys protect a call end to end.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

mod common;

use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::e2ee::{CipherSuite, KeyAgreement, KeyAgreementError, SframeReceiver};

#[test]
fn honest_exchange_agrees() {
    let mut rng = common::rng(4001);
    for _ in 0..20 {
        let (a, b) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
        let (ab, bb) = (a.public_blob(), b.public_blob());
        let ka = a.finish(&bb, b"call 1").expect("a");
        let kb = b.finish(&ab, b"call 1").expect("b");
        assert_eq!(ka.safety_code(), kb.safety_code());
        assert_eq!(ka.send_base_key(), kb.recv_base_key());
        assert_eq!(ka.recv_base_key(), kb.send_base_key());
        assert_ne!(
            ka.send_base_key(),
            ka.recv_base_key(),
            "one key per direction"
        );
        assert_eq!(ka.send_key_id(), kb.recv_key_id());
        assert_ne!(ka.send_key_id(), kb.send_key_id());
        let code = ka.safety_code().to_string();
        assert_eq!(code.len(), 60 + 11);
        assert!(
            code.split(' ')
                .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
        );
        let (na, nb) = (ka.next_epoch(), kb.next_epoch());
        assert_eq!(na.send_base_key(), nb.recv_base_key());
        assert_ne!(na.send_base_key(), ka.send_base_key());
        assert_eq!(na.send_key_id(), ka.send_key_id() + 2);
    }
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
    let ka = a.finish(&m1b, b"call 2").expect("a");
    let kb = b.finish(&m2b, b"call 2").expect("b");
    let km1 = m1.finish(&ab, b"call 2").expect("m1");
    let km2 = m2.finish(&bb, b"call 2").expect("m2");
    // Mallory can decrypt each leg ...
    assert_eq!(km1.recv_base_key(), ka.send_base_key());
    assert_eq!(km2.recv_base_key(), kb.send_base_key());
    // ... but Alice and Bob see different codes, and different keys.
    assert_ne!(ka.safety_code(), kb.safety_code());
    assert_ne!(ka.send_base_key(), kb.recv_base_key());
    // The call id is bound too.
    let (c, d) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    let (cb, db) = (c.public_blob(), d.public_blob());
    let kc = c.finish(&db, b"call 3").expect("c");
    let kd = d.finish(&cb, b"call 3 (other)").expect("d");
    assert_ne!(kc.safety_code(), kd.safety_code());
    assert_ne!(kc.send_base_key(), kd.recv_base_key());
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
}

#[test]
fn derived_keys_protect_both_directions_and_rotate() {
    let mut rng = common::rng(4004);
    let (a, b) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    let (ab, bb) = (a.public_blob(), b.public_blob());
    let ka = a.finish(&bb, b"call 4").expect("a");
    let kb = b.finish(&ab, b"call 4").expect("b");
    let suite = CipherSuite::default();
    let mut a_tx = ka.sender(suite).expect("sender");
    let mut b_rx = SframeReceiver::new(Duration::from_secs(1));
    kb.install_receive_key(&mut b_rx, suite).expect("install");
    let mut wire = Vec::with_capacity(128);
    let mut out = Vec::with_capacity(128);
    a_tx.protect_into(&[], b"hello bob", &mut wire)
        .expect("protect");
    b_rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
        .expect("bob reads");
    assert_eq!(out, b"hello bob");
    // Bob cannot read his own direction's frames with the receive key (keys differ).
    let mut b_tx = kb.sender(suite).expect("sender");
    b_tx.protect_into(&[], b"hello alice", &mut wire)
        .expect("protect");
    assert!(
        b_rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
            .is_err()
    );
    // Epoch rotation.
    let (ka1, kb1) = (ka.next_epoch(), kb.next_epoch());
    kb1.install_receive_key(&mut b_rx, suite).expect("rotate");
    a_tx = ka1.sender(suite).expect("sender");
    a_tx.protect_into(&[], b"epoch 1", &mut wire)
        .expect("protect");
    b_rx.unprotect_into(&[], &wire, &mut out, MediaTime::ZERO)
        .expect("bob reads epoch 1");
    assert_eq!(out, b"epoch 1");
}
