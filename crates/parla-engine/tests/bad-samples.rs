//! Bad samples never kill a call (issue 15, point 2): one capture frame of NaN, +Inf or 1e30,
//! with every echo canceller mode and noise suppression on and off, and the far end hears the
//! talker again within 1 s; the bad samples are counted; playout never leaves full scale.
#![allow(clippy::unwrap_used)]

mod common;

use parla_core::MediaTime;
use parla_engine::{AecMode, CallConfig};
use parla_metrics::signal::rms_db;

/// A talks (speech) to B for 4 s in simulated time; at 2 s one 10 ms capture frame is `bad`.
/// Returns B's playout level (dB) over 1.6-2.0 s (before) and over 2.6-3.0 s (0.6-1 s after
/// the bad frame, past the jitter buffer's delay), and both sides' stats.
fn run(cfg: &CallConfig, bad: f32) -> (f64, f64, parla_engine::CallStats, parla_engine::CallStats) {
    let (mut a, mut b) = common::core_pair(cfg, b"bad samples");
    let f = cfg.capture_frame();
    let speech = common::near_speech_48k();
    let silence = vec![0.0; f];
    let (mut spk_a, mut spk_b) = (vec![0.0; f], vec![0.0; f]);
    let mut heard = Vec::new();
    for i in 0..400usize {
        let now = MediaTime::from_millis(i as u64 * 10);
        let mut mic = speech[(i * f) % (speech.len() - f)..][..f].to_vec();
        if i == 200 {
            mic.fill(bad);
        }
        let mut out = Vec::new();
        a.tick(now, &mic, &mut spk_a, &mut |p| out.push(p.to_vec()))
            .unwrap();
        for p in out {
            b.receive_packet(&p, now);
        }
        b.tick(now, &silence, &mut spk_b, &mut |_| {}).unwrap();
        assert!(spk_b.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
        heard.extend_from_slice(&spk_b);
    }
    let window = |from_ms: usize| rms_db(&heard[from_ms * 48..(from_ms + 400) * 48]);
    (window(1_600), window(2_600), a.stats(), b.stats())
}

#[test]
fn one_bad_capture_frame_never_silences_the_sender() {
    for aec in [AecMode::Aec3, AecMode::Mobile, AecMode::Off] {
        for ns in [true, false] {
            for bad in [f32::NAN, f32::INFINITY, 1e30] {
                let cfg = CallConfig {
                    aec,
                    noise_suppression: ns,
                    ..CallConfig::default()
                };
                let (before, after, sa, _) = run(&cfg, bad);
                println!(
                    "{aec:?} ns {ns} {bad:e}: B hears {before:.1} dB before, {after:.1} dB 0.6-1 s after; A sanitized {} samples, send level {:.1} dBFS",
                    sa.capture_sanitized_samples, sa.send_level_dbfs
                );
                assert_eq!(sa.capture_sanitized_samples, cfg.capture_frame() as u64);
                assert!(sa.send_level_dbfs.is_finite(), "{sa:?}");
                assert!(
                    after > before - 10.0 && after > -50.0,
                    "{aec:?} ns {ns} {bad}: B hears {after:.1} dB after, {before:.1} dB before"
                );
            }
        }
    }
}
