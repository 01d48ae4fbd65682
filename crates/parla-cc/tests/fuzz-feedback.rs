//! Randomized robustness (stable-toolchain fuzzing, STYLE.md 6): random and mutated bytes into
//! the transport-wide feedback parser, the RTCP validity check and report reader, the
//! authentication check and the estimator. Nothing may panic; mutated or replayed
//! authenticated feedback is always rejected and leaves the estimate unchanged.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print

use parla_cc::auth::FeedbackAuth;
use parla_cc::estimator::{BandwidthEstimator, CcConfig};
use parla_cc::rtcp::{RemoteReports, RtcpMode, validate};
use parla_cc::twcc::{FeedbackRecorder, MAX_FEEDBACK_LEN, TwccFeedback};
use parla_core::MediaTime;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn seed() -> u64 {
    parla_testkit::seed::seed(16)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(fb) = TwccFeedback::parse(&bytes) {
            prop_assert!(fb.packets().count() <= usize::from(fb.status_count));
        }
        let _ = validate(&bytes, RtcpMode::Compound);
        let _ = validate(&bytes, RtcpMode::ReducedSize);
        let _ = RemoteReports::new(1).on_rtcp(&bytes, MediaTime::from_millis(5));
        let mut auth = FeedbackAuth::new(&[1; 32], &[2; 32]);
        prop_assert!(auth.unprotect(&bytes).is_err());
    }
}

/// A valid feedback packet with a header that says "transport-cc", then mutated: parsing never
/// panics and the estimator never panics on what parses.
#[test]
fn mutated_feedback_into_the_estimator() {
    let mut rng = ChaCha20Rng::seed_from_u64(seed());
    let mut bwe = BandwidthEstimator::new(CcConfig::default()).unwrap();
    let mut rec = FeedbackRecorder::new(1, 2);
    let mut buf = [0u8; MAX_FEEDBACK_LEN];
    let mut parsed = 0;
    for round in 0..2000i64 {
        for i in 0..10 {
            let s = bwe.on_packet_sent(round * 100_000 + i * 1000, 1000, None);
            if rng.random_bool(0.9) {
                rec.on_packet(s, round * 100_000 + i * 1000 + rng.random_range(0..50_000));
            }
        }
        let Some(n) = rec.write_feedback(&mut buf).unwrap() else {
            continue;
        };
        let mut m = buf[..n].to_vec();
        for _ in 0..rng.random_range(0..4) {
            let i = rng.random_range(4..m.len());
            m[i] ^= rng.random::<u8>();
        }
        if rng.random_bool(0.2) {
            m.truncate(rng.random_range(0..m.len()));
        }
        if let Ok(fb) = TwccFeedback::parse(&m) {
            parsed += 1;
            bwe.on_transport_feedback(round * 100_000 + 60_000, &fb);
        }
    }
    println!("parsed {parsed} of 2000 mutated packets");
    assert!(parsed > 100);
    assert!(bwe.target_bps() >= 30_000);
}

/// 10,000 mutated or replayed authenticated feedback packets: all rejected, estimate unchanged.
#[test]
fn forged_and_replayed_feedback_rejected_estimate_unchanged() {
    let mut rng = ChaCha20Rng::seed_from_u64(seed());
    let (k1, k2) = ([5u8; 32], [6u8; 32]);
    let mut rx = FeedbackAuth::new(&k1, &k2); // the media receiver, writing feedback
    let mut tx = FeedbackAuth::new(&k2, &k1); // the media sender, checking it
    let mut bwe = BandwidthEstimator::new(CcConfig::default()).unwrap();
    let mut rec = FeedbackRecorder::new(1, 2);
    let mut genuine = Vec::new();
    let mut buf = [0u8; MAX_FEEDBACK_LEN + 16];
    for round in 0..20i64 {
        for i in 0..10 {
            let s = bwe.on_packet_sent(round * 50_000 + i * 5000, 1000, None);
            rec.on_packet(s, 20_000 + round * 50_000 + i * 5000);
        }
        let n = rec.write_feedback(&mut buf).unwrap().unwrap();
        let n = rx.protect(&mut buf, n).unwrap();
        let body = tx.unprotect(&buf[..n]).unwrap();
        let fb = TwccFeedback::parse(body).unwrap();
        bwe.on_transport_feedback(40_000 + round * 50_000, &fb);
        genuine.push(buf[..n].to_vec());
    }
    let before = (bwe.target_bps(), bwe.stats());
    let accepted_before = tx.stats().accepted;
    for k in 0..10_000 {
        let mut m = genuine[rng.random_range(0..genuine.len())].clone();
        match k % 3 {
            0 => {} // replay as is
            1 => {
                let i = rng.random_range(0..m.len());
                m[i] ^= 1 << rng.random_range(0..8);
            }
            _ => {
                let cut = rng.random_range(0..m.len());
                m.truncate(cut);
            }
        }
        if let Ok(body) = tx.unprotect(&m)
            && let Ok(fb) = TwccFeedback::parse(body)
        {
            bwe.on_transport_feedback(2_000_000, &fb);
        }
    }
    let s = tx.stats();
    println!("{s:?}");
    assert_eq!(
        s.accepted, accepted_before,
        "no forged or replayed packet accepted"
    );
    assert_eq!(s.forged + s.replayed + s.truncated, 10_000);
    assert_eq!((bwe.target_bps(), bwe.stats()), before);
}
