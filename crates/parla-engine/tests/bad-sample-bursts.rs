//! Bad samples never kill a call (issue 15, point 2), with bursts: A's microphone gets seeded
//! runs of 1 to 50 frames of NaN, +/-Inf, subnormals, 1e30 and +/-3.0, or those mixed into the
//! speech (`parla_testkit::bursts`), over about 10 s, with every echo canceller mode
//! and noise suppression on and off. After each burst B hears A's speech again within 1 s (its
//! playout level 1.0-1.5 s after the burst against the level before it, and against a twin
//! call whose microphone was clean); B's playout is never non-finite or beyond full scale; A
//! counts exactly the bad samples it was given (`capture_sanitized_samples`).
//!
//! The matrix runs the media core in simulated time; one pair of real calls (media threads,
//! app-owned audio, paced in real time) runs the default configuration.
//! `PARLA_TEST_SEED` replays a seed; `PARLA_BURST_SECS` makes the calls longer.
#![allow(clippy::unwrap_used)]

use parla_testkit::bursts;
mod common;

use bursts::{Burst, count_bad};
use parla_core::MediaTime;
use parla_engine::{AecMode, AudioMode, CallConfig};
use parla_metrics::signal::rms_db;

/// 10 ms at 48 kHz.
const FRAME: usize = 480;
/// B's level is measured from this many frames after each burst (1 s)...
const SETTLE: usize = 100;
/// ...over this many (0.5 s).
const WINDOW: usize = 50;

/// A's microphone: the near-end speech looped to `secs` seconds, with bursts from 1 s on.
fn burst_mic(seed: u64, secs: usize) -> (Vec<f32>, Vec<f32>, Vec<Burst>) {
    let speech = common::near_speech_48k();
    let clean: Vec<f32> = speech.iter().copied().cycle().take(secs * 48_000).collect();
    let bs = bursts::schedule(seed, clean.len() / FRAME, 100, SETTLE + WINDOW, 50);
    let bad = bursts::corrupt(&clean, FRAME, &bs, seed);
    (clean, bad, bs)
}

/// A talks to B in simulated time (no loss); returns what B played and A's stats.
fn run(cfg: &CallConfig, mic: &[f32]) -> (Vec<f32>, parla_engine::CallStats) {
    let (mut a, mut b) = common::core_pair(cfg, b"bad sample bursts");
    let silence = vec![0.0; FRAME];
    let (mut spk_a, mut spk_b) = (vec![0.0; FRAME], vec![0.0; FRAME]);
    let mut heard = Vec::with_capacity(mic.len());
    let mut out = Vec::new();
    for (i, m) in mic.chunks_exact(FRAME).enumerate() {
        let now = MediaTime::from_millis(i as u64 * 10);
        a.tick(now, m, &mut spk_a, &mut |p| out.push(p.to_vec()))
            .unwrap();
        for p in out.drain(..) {
            b.receive_packet(&p, now);
        }
        b.tick(now, &silence, &mut spk_b, &mut |_| {}).unwrap();
        heard.extend_from_slice(&spk_b);
    }
    (heard, a.stats())
}

/// B's playout is finite and within full scale throughout.
fn check_playout(what: &str, heard: &[f32]) {
    if let Some(i) = heard.iter().position(|x| !x.is_finite() || x.abs() > 1.0) {
        panic!("{what}: B played {} at {:.3} s", heard[i], i as f64 / 48e3);
    }
}

/// Frames `[from, from + WINDOW)` of `x`.
fn level(x: &[f32], from: usize) -> f64 {
    let to = ((from + WINDOW) * FRAME).min(x.len());
    rms_db(&x[from * FRAME..to])
}

#[test]
fn bursts_never_silence_the_sender() {
    let seed = bursts::seed(1510);
    let (clean, mic, bs) = burst_mic(seed, bursts::env_usize("PARLA_BURST_SECS", 10));
    let expected = count_bad(&mic) as u64;
    println!(
        "{} bursts, {expected} bad samples: {:?}",
        bs.len(),
        bs.iter()
            .map(|b| (b.start, b.len, b.kind))
            .collect::<Vec<_>>()
    );
    for aec in [AecMode::Aec3, AecMode::Mobile, AecMode::Off] {
        for ns in [true, false] {
            let cfg = CallConfig {
                aec,
                noise_suppression: ns,
                ..CallConfig::default()
            };
            let what = format!("{aec:?} ns {ns} (seed {seed})");
            let (heard, sa) = run(&cfg, &mic);
            let (twin, _) = run(&cfg, &clean);
            check_playout(&what, &heard);
            assert_eq!(sa.capture_sanitized_samples, expected, "{what}");
            assert!(sa.send_level_dbfs.is_finite(), "{what}: {sa:?}");
            for (k, b) in bs.iter().enumerate() {
                // Before: the 0.5 s before the burst (or from the start of the clean gap).
                let before = level(&heard, b.start.saturating_sub(WINDOW));
                let after = level(&heard, b.end() + SETTLE);
                let after_twin = level(&twin, b.end() + SETTLE);
                println!(
                    "{what}: burst {k} {:?} x{} at {:.2} s: B hears {before:.1} dB before, {after:.1} dB 1.0-1.5 s after (twin {after_twin:.1})",
                    b.kind,
                    b.len,
                    b.start as f64 / 100.0
                );
                if after_twin < -45.0 {
                    continue; // a pause in the speech
                }
                // 6 dB: AGC (on by default) takes a loud burst as loud speech, and AGC2's gain
                // comes back at most 10 dB/s, after its level estimate (measured: 3.6 dB below
                // the twin 1 s after an 18-frame +/-3.0 burst, seed 1510, AEC3 with NS off;
                // the same with the Parla-written downward gain bypassed, so it is AGC2's).
                assert!(
                    (after - after_twin).abs() < 6.0 && after > before - 10.0,
                    "{what}: B does not hear A 1 s after burst {k} ({b:?}): {after:.1} dB, {before:.1} dB before, twin {after_twin:.1} dB"
                );
            }
        }
    }
}

/// The same through two real calls (their media threads, app-owned audio, real time), the
/// default configuration (AEC3, noise suppression on), 6 s.
#[test]
fn bursts_through_real_calls() {
    let seed = bursts::seed(1511);
    let (_, mic, bs) = burst_mic(seed, bursts::env_usize("PARLA_BURST_SECS", 6));
    let expected = count_bad(&mic) as u64;
    let (a, b) = common::call_pair(CallConfig::default());
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    let frames = mic.len() / FRAME;
    let heard = common::drive_pair(&a, &b, &mic, frames, &mut |_| true);
    // The media thread counts what it has processed; give it the last frames.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while a.stats().capture_sanitized_samples < expected && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let sa = a.stats();
    a.stop().unwrap();
    b.stop().unwrap();
    check_playout("real calls", &heard);
    assert_eq!(sa.capture_sanitized_samples, expected, "{sa:?}");
    let mut heard_after = Vec::new();
    for (k, bu) in bs.iter().enumerate() {
        let before = level(&heard, bu.start.saturating_sub(WINDOW));
        // Real time adds the media thread's and the jitter buffer's delay: still within 1.5 s.
        let after = level(&heard, bu.end() + SETTLE);
        println!(
            "real calls (seed {seed}): burst {k} {:?} x{} at {:.2} s: B hears {before:.1} dB before, {after:.1} dB 1.0-1.5 s after",
            bu.kind,
            bu.len,
            bu.start as f64 / 100.0
        );
        heard_after.push(after);
    }
    // Speech pauses can fall into a window; most windows must carry A's speech.
    let loud = heard_after.iter().filter(|&&l| l > -45.0).count();
    assert!(
        loud * 2 > heard_after.len(),
        "B hears A after only {loud} of {} bursts: {heard_after:?}",
        heard_after.len()
    );
}
