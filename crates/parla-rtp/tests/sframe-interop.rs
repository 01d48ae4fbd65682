//! Interop of our SFrame layer with an independent implementation, the `sframe` crate: for every
//! RFC 9605 suite (1-5) and many random frames (seeded: sizes, metadata, key ids, counters and
//! base keys), frames protected by our [`SframeSender`] are unprotected by `sframe`, frames
//! protected by `sframe` are unprotected by our [`SframeReceiver`], and both produce the same
//! bytes (SFrame is deterministic given key, key id and counter).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

mod common;

use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::e2ee::{
    CipherSuite, RejectReason, SframeReceiver, SframeSender, UnprotectError, sframe_header_len,
};
use rand::Rng;
use sframe::frame::{EncryptedFrameView, MediaFrameView, SingleUseCounter};
use sframe::key::{DecryptionKey, EncryptionKey};

/// Frames per suite.
const FRAMES: usize = 400;

fn sframe_suite(s: CipherSuite) -> sframe::CipherSuite {
    match s {
        CipherSuite::AesCtr128HmacSha256_80 => sframe::CipherSuite::AesCtr128HmacSha256_80,
        CipherSuite::AesCtr128HmacSha256_64 => sframe::CipherSuite::AesCtr128HmacSha256_64,
        CipherSuite::AesCtr128HmacSha256_32 => sframe::CipherSuite::AesCtr128HmacSha256_32,
        CipherSuite::AesGcm128Sha256 => sframe::CipherSuite::AesGcm128Sha256,
        CipherSuite::AesGcm256Sha512 => sframe::CipherSuite::AesGcm256Sha512,
        other => panic!("{other:?} is not in the sframe crate"),
    }
}

#[test]
fn ours_and_sframe_crate_interoperate_both_ways() {
    let mut rng = common::rng(9605);
    let mut checked = 0;
    for suite in CipherSuite::RFC9605 {
        for i in 0..FRAMES {
            let base: Vec<u8> = (0..rng.random_range(16..=64))
                .map(|_| rng.random())
                .collect();
            // Small and large key ids and counters, so every header length occurs.
            let kid = match i % 3 {
                0 => rng.random_range(0..8),
                1 => rng.random_range(0..1 << 16),
                _ => rng.random::<u64>() >> rng.random_range(0..64),
            };
            let ctr = match i % 4 {
                0 => rng.random_range(0..8),
                1 => rng.random_range(0..1 << 24),
                _ => rng.random::<u64>() >> rng.random_range(1..64),
            };
            let size = match i % 5 {
                0 => rng.random_range(1..16),
                1..=3 => rng.random_range(16..1500),
                _ => rng.random_range(1500..20_000),
            };
            let frame: Vec<u8> = (0..size).map(|_| rng.random()).collect();
            let meta: Vec<u8> = (0..rng.random_range(0..24)).map(|_| rng.random()).collect();
            let ctx = format!(
                "suite {suite:?} kid {kid} ctr {ctr} size {size} meta {}",
                meta.len()
            );

            // Ours -> sframe.
            let mut tx = SframeSender::with_first_counter(suite, kid, &base, ctr).expect("sender");
            let mut ours = Vec::with_capacity(size + 64);
            tx.protect_into(&meta, &frame, &mut ours).expect("protect");
            let dec = DecryptionKey::derive_from(sframe_suite(suite), kid, &base).expect("key");
            let view = EncryptedFrameView::try_with_meta_data(&ours[meta.len()..], &meta)
                .unwrap_or_else(|e| panic!("{ctx}: sframe parse: {e}"));
            let plain = view
                .decrypt(&dec)
                .unwrap_or_else(|e| panic!("{ctx}: sframe decrypt of ours: {e}"));
            assert_eq!(plain.payload(), &frame[..], "{ctx}");

            // Sframe -> ours.
            let enc = EncryptionKey::derive_from(sframe_suite(suite), kid, &base).expect("key");
            let mut counter = SingleUseCounter::new(ctr);
            let mut theirs = Vec::new();
            MediaFrameView::try_with_meta_data(&mut counter, &frame, &meta)
                .expect("view")
                .encrypt_into(&enc, &mut theirs)
                .expect("sframe encrypt");
            assert_eq!(theirs, ours, "{ctx}: same bytes");
            let mut rx = SframeReceiver::new(Duration::from_secs(1));
            rx.add_key(suite, kid, &base).expect("key");
            let mut out = Vec::with_capacity(size + 64);
            let u = rx
                .unprotect_into(&meta, &theirs[meta.len()..], &mut out, MediaTime::ZERO)
                .unwrap_or_else(|e| panic!("{ctx}: our unprotect of sframe's: {e}"));
            assert_eq!((u.key_id, u.counter), (kid, ctr), "{ctx}");
            assert_eq!(out, frame, "{ctx}");

            // A tampered frame of theirs is refused by ours, and of ours by theirs.
            let mut bad = theirs[meta.len()..].to_vec();
            let last = bad.len() - 1;
            bad[rng.random_range(sframe_header_len(kid, ctr)..=last)] ^=
                1 << rng.random_range(0..8);
            let mut rx = SframeReceiver::new(Duration::from_secs(1));
            rx.add_key(suite, kid, &base).expect("key");
            assert_eq!(
                rx.unprotect_into(&meta, &bad, &mut out, MediaTime::ZERO),
                Err(UnprotectError::Rejected(RejectReason::Authentication)),
                "{ctx}"
            );
            let view = EncryptedFrameView::try_with_meta_data(&bad, &meta).expect("parse");
            assert!(
                view.decrypt(&dec).is_err(),
                "{ctx}: sframe accepted a tampered frame"
            );
            checked += 1;
        }
    }
    println!("interop frames checked (both directions, suites 1-5): {checked}");
    assert_eq!(checked, FRAMES * CipherSuite::RFC9605.len());
}
