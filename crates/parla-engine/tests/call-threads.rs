//! Two threaded calls in app-owned mode, in real time: audio flows end to end encrypted, the
//! safety codes match, control messages (mute, bitrate, key rotation) take effect mid-call, and
//! tampered packets are rejected while the call continues.
#![allow(clippy::unwrap_used)]

mod common;

use parla_engine::{AecMode, AudioMode, CallConfig, EngineError};
use parla_metrics::signal::rms_db;

fn cfg() -> CallConfig {
    CallConfig {
        aec: AecMode::Off,
        ..CallConfig::default()
    }
}

#[test]
fn app_owned_call_carries_speech_and_obeys_control() {
    let (a, b) = common::call_pair(cfg());
    assert_eq!(a.safety_code(), b.safety_code());
    assert!(a.safety_code().is_some());
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    let speech = common::near_speech_48k();
    let mic = &speech[..48_000 * 4];
    // 4 s of speech; key rotation on both sides after 2 s.
    let heard1 = common::drive_pair(&a, &b, &mic[..96_000], 200, &mut |_| true);
    a.rotate_key().unwrap();
    b.rotate_key().unwrap();
    let heard2 = common::drive_pair(&a, &b, &mic[96_000..], 200, &mut |_| true);
    let sa = a.stats();
    let sb = b.stats();
    println!("A: {sa:?}\nB: {sb:?}");
    let heard: Vec<f32> = heard1.into_iter().chain(heard2).collect();
    let (delay, corr) = common::delay_ms(mic, &heard, 500);
    let wcorr = common::windowed_corr(mic, &heard, 300);
    println!("delay {delay:.1} ms corr {corr:.3}, windowed {wcorr:.3}");
    // Time stretching by the jitter buffer moves the delay during the call and lowers the
    // whole-signal correlation; the windowed one follows it. An unrelated talker is the control.
    let unrelated = common::windowed_corr(&common::far_speech_48k()[..mic.len()], &heard, 300);
    println!("unrelated talker windowed corr {unrelated:.3}");
    assert!(
        wcorr > 0.6 && wcorr > 2.0 * unrelated,
        "B did not hear A: windowed corr {wcorr} (whole-signal {corr})"
    );
    let level = rms_db(&heard) - rms_db(mic);
    assert!(
        level.abs() < 10.0,
        "heard level {level:.1} dB off the sent level"
    );
    assert_eq!(sa.key_epoch, 1);
    assert_eq!(sb.key_epoch, 1);
    assert_eq!(sb.e2ee_auth_failures, 0, "{sb:?}");
    assert!(sb.e2ee_accepted >= 150, "{sb:?}");
    assert!(sa.ticks >= 350, "{sa:?}");

    // Mute: A's stream stays (silence is encoded) and B hears silence.
    a.set_muted(true);
    a.set_bitrate(16_000).unwrap();
    assert!(matches!(a.set_bitrate(1), Err(EngineError::Config(_))));
    let muted = common::drive_pair(&a, &b, &mic[..96_000], 150, &mut |_| true);
    let tail = &muted[48_000..];
    println!("muted level {:.1} dB", rms_db(tail));
    assert!(
        rms_db(tail) < -60.0,
        "muted but heard {:.1} dB",
        rms_db(tail)
    );
    assert!(a.stats().muted);
    a.stop().unwrap();
    b.stop().unwrap();
    assert!(matches!(a.stop(), Err(EngineError::NotRunning)));

    // A restart after a key rotation runs on the rotated keys (epoch 1) on both sides.
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    a.set_muted(false);
    let again = common::drive_pair(&a, &b, &mic[..96_000], 150, &mut |_| true);
    let sb = b.stats();
    println!("after restart: B {sb:?}");
    assert_eq!(sb.key_epoch, 1);
    assert_eq!(sb.e2ee_auth_failures + sb.e2ee_unknown_key, 0, "{sb:?}");
    assert!(sb.e2ee_accepted >= 60, "{sb:?}");
    assert!(common::windowed_corr(&mic[..96_000], &again, 300) > 0.6);
}

#[test]
fn tampered_packets_in_flight_are_rejected_and_counted() {
    let (a, b) = common::call_pair(cfg());
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    let speech = common::near_speech_48k();
    let mic = &speech[..48_000 * 3];
    let mut n = 0usize;
    let mut tampered = 0u64;
    let heard = common::drive_pair(&a, &b, mic, 300, &mut |p| {
        if common::is_rtcp(p) {
            return true;
        }
        n += 1;
        if n.is_multiple_of(7) {
            let i = p.len() - 3;
            p[i] ^= 0x01;
            tampered += 1;
        }
        true
    });
    let sb = b.stats();
    let sa = a.stats();
    println!("tampered {tampered}; B {sb:?}");
    let rejected = sb.e2ee_auth_failures + sa.e2ee_auth_failures;
    // A packet still queued when the drive ends is neither accepted nor rejected.
    assert!(
        rejected + 4 >= tampered && rejected <= tampered,
        "{rejected} of {tampered}"
    );
    let wcorr = common::windowed_corr(mic, &heard, 300);
    println!("windowed corr {wcorr:.3}");
    assert!(
        wcorr > 0.5,
        "the call did not continue: windowed corr {wcorr}"
    );
}

#[test]
fn start_needs_the_peer_key_and_bad_keys_are_refused() {
    let a = parla_engine::Call::new(cfg()).unwrap();
    assert!(matches!(
        a.start(AudioMode::AppOwned),
        Err(EngineError::NoPeerKey)
    ));
    assert!(matches!(
        a.set_peer_key(&[1, 2, 3], b"x"),
        Err(EngineError::PeerKey(_))
    ));
    assert!(matches!(
        a.set_peer_key(&a.local_public_key(), b"x"),
        Err(EngineError::PeerKey(_))
    ));
    // After refusals for length and reflection the agreement still works.
    let b = parla_engine::Call::new(cfg()).unwrap();
    a.set_peer_key(&b.local_public_key(), b"x").unwrap();
    assert!(matches!(
        a.set_peer_key(&b.local_public_key(), b"x"),
        Err(EngineError::PeerKeyAlreadySet)
    ));
    assert!(matches!(
        a.push_capture(&[0.0; 480]),
        Err(parla_engine::AudioIo::NotRunning)
    ));
    let unencrypted = parla_engine::Call::new(CallConfig {
        e2ee: false,
        ..cfg()
    })
    .unwrap();
    unencrypted.start(AudioMode::AppOwned).unwrap();
    assert!(matches!(
        unencrypted.start(AudioMode::AppOwned),
        Err(EngineError::AlreadyRunning)
    ));
    assert!(matches!(
        unencrypted.rotate_key(),
        Err(EngineError::WrongMode(_))
    ));
    assert!(matches!(unencrypted.push_capture(&[0.0; 7]), Ok(7)));
}
