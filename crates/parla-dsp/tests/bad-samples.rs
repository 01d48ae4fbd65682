//! Bad samples never kill a stage (issue 15, point 2): seeded bursts of NaN, +/-Inf,
//! subnormals, 1e30 and +/-3.0 (runs of 1 to 50 frames, `parla_testkit::bursts`) fed straight into
//! each stage of parla-dsp (not through the engine's sanitizer): the noise suppressor, the
//! resamplers, every echo canceller of the build (capture and render side), and the whole send
//! chain. Each stage must not panic, must give finite, bounded output once a burst is over, and
//! must recover: 1.0 to 1.5 s after each burst its output matches a twin instance that saw the
//! same signal without the bursts (level within 3 dB, correlation > 0.9; for the echo
//! cancellers, echo removal within 6 dB of the twin's, 12 dB for AECM, and near talk within
//! 3 dB, 4 dB for AECM, correlation > 0.85).
//!
//! `PARLA_TEST_SEED` replays a seed; `PARLA_BURST_SECS` makes the signals longer (more bursts).
#![allow(clippy::unwrap_used)]

use parla_testkit::bursts;
mod common;

use bursts::{Burst, check_bounded_after, corr, corrupt, schedule};
use parla_core::FrameMeta;
use parla_dsp::aec::{AecBackend, AecConfig, AecMode, EchoCanceller};
use parla_dsp::chain::{SendChain, SendChainConfig};
use parla_dsp::ns::NoiseSuppressor;
use parla_dsp::resample::{ResampleMode, StreamResampler};
use parla_dsp::{EchoStage, Stage};
use parla_metrics::signal::rms_db;

const RATE: u32 = 48_000;
const FRAME: usize = 480;
/// Recovery is measured from this many frames after each burst (1 s)...
const SETTLE: usize = 100;
/// ...over this many frames (0.5 s); the clean gap after each burst is `SETTLE + WINDOW`.
const WINDOW: usize = 50;
/// Output must stay within this once a burst is over (speech peaks near 0.5).
const BOUND: f32 = 2.0;

/// `name` from `samples/`, looped to `secs` seconds at 48 kHz.
fn speech(name: &str, secs: usize) -> Vec<f32> {
    let (x, rate) = common::read_sample(name);
    assert_eq!(rate, RATE, "{name}");
    x.iter()
        .copied()
        .cycle()
        .take(secs * RATE as usize)
        .collect()
}

fn secs(default: usize) -> usize {
    bursts::env_usize("PARLA_BURST_SECS", default)
}

/// Frames `[b.end() + SETTLE, b.end() + SETTLE + WINDOW)` of a signal cut in `frame`-sample
/// frames.
fn window<'a>(x: &'a [f32], frame: usize, b: &Burst) -> &'a [f32] {
    let from = (b.end() + SETTLE) * frame;
    &x[from..(from + WINDOW * frame).min(x.len())]
}

/// Asserts that after each burst, `out` matches `twin` (the same stage on the clean signal)
/// in level and shape; returns the worst (level difference, correlation) seen.
fn check_recovery(what: &str, out: &[f32], twin: &[f32], frame: usize, bs: &[Burst]) -> (f64, f64) {
    let mut worst = (0.0f64, 1.0f64);
    for (k, b) in bs.iter().enumerate() {
        let (o, t) = (window(out, frame, b), window(twin, frame, b));
        let (lo, lt) = (rms_db(o), rms_db(t));
        if lt < -55.0 {
            println!("{what}: burst {k} window is quiet ({lt:.1} dB), skipped");
            continue;
        }
        let c = corr(o, t);
        println!(
            "{what}: burst {k} {:?} x{} at {:.2} s: 1.0-1.5 s after, level {lo:.1} dB (twin {lt:.1}), correlation {c:.4}",
            b.kind,
            b.len,
            b.start as f64 / 100.0
        );
        assert!(
            (lo - lt).abs() < 3.0 && c > 0.9,
            "{what}: no recovery 1 s after burst {k} ({b:?}): level {lo:.1} dB vs twin {lt:.1} dB, correlation {c:.3}"
        );
        worst = (worst.0.max((lo - lt).abs()), worst.1.min(c));
    }
    worst
}

/// Runs `stage` over `input` frame by frame (no bursts are checked here).
fn run_stage(stage: &mut dyn Stage, input: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; input.len()];
    let mut meta = FrameMeta::default();
    for (i, o) in input.chunks_exact(FRAME).zip(out.chunks_exact_mut(FRAME)) {
        stage.process_into(i, o, &mut meta).unwrap();
    }
    out
}

#[test]
fn noise_suppressor_recovers_from_bursts() {
    let seed = bursts::seed(1501);
    let clean = speech("near_speech_clean.wav", secs(10));
    let bs = schedule(seed, clean.len() / FRAME, 50, SETTLE + WINDOW, 50);
    let bad = corrupt(&clean, FRAME, &bs, seed);
    for (strength, adaptive) in [(1.0, false), (0.5, false), (1.0, true), (0.5, true)] {
        let fresh = || {
            let mut ns = NoiseSuppressor::new();
            ns.set_strength(strength);
            ns.set_adaptive(adaptive);
            ns.prepare(RATE, FRAME).unwrap();
            ns
        };
        let out = run_stage(&mut fresh(), &bad);
        let twin = run_stage(&mut fresh(), &clean);
        let what = format!("ns strength {strength} adaptive {adaptive} (seed {seed})");
        // One frame of grace: the suppressor's delay is one frame.
        let during = check_bounded_after(&what, &out, FRAME, &bs, 1, BOUND);
        println!("{what}: peaks during the bursts {during:?}");
        let (dl, c) = check_recovery(&what, &out, &twin, FRAME, &bs);
        println!("{what}: worst level difference {dl:.2} dB, worst correlation {c:.4}");
    }
}

#[test]
fn resamplers_recover_from_bursts() {
    let seed = bursts::seed(1502);
    let clean = speech("near_speech_clean.wav", secs(8));
    let bs = schedule(seed, clean.len() / FRAME, 50, SETTLE + WINDOW, 50);
    let bad = corrupt(&clean, FRAME, &bs, seed);
    for mode in [ResampleMode::Fixed, ResampleMode::Adjustable] {
        for out_rate in [16_000u32, 32_000, 44_100] {
            let out_frame = out_rate as usize / 100;
            let run = |x: &[f32]| {
                let mut rs = StreamResampler::new(RATE, out_rate, 1, FRAME, mode).unwrap();
                let mut out = Vec::with_capacity(x.len());
                let mut chunk = vec![0.0; out_frame];
                for f in x.chunks_exact(FRAME) {
                    rs.push(f).unwrap();
                    // The output stays lined up frame for frame with the input (zeros until
                    // the first output is ready).
                    if !rs.pull(&mut chunk) {
                        chunk.fill(0.0);
                    }
                    out.extend_from_slice(&chunk);
                }
                (out, rs.delay_frames())
            };
            let (out, delay) = run(&bad);
            let (twin, _) = run(&clean);
            let what = format!("resampler {mode:?} 48000 -> {out_rate} (seed {seed})");
            // Grace: the resampler's delay plus one chunk of buffering.
            let grace = delay.div_ceil(out_frame) + 2;
            check_bounded_after(&what, &out, out_frame, &bs, grace, BOUND);
            // A FIR filter forgets a burst once it has passed: the output is the twin's again.
            for (k, b) in bs.iter().enumerate() {
                let (o, t) = (window(&out, out_frame, b), window(&twin, out_frame, b));
                let diff = o
                    .iter()
                    .zip(t)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(
                    diff < 1e-4,
                    "{what}: 1 s after burst {k} ({b:?}) the output differs from the twin's by {diff}"
                );
            }
            println!(
                "{what}: {} bursts, output equals the twin's (within 1e-4) 1 s after each",
                bs.len()
            );
        }
    }
}

/// Room echo of `far` for the echo canceller tests: 40 ms bulk delay, -10 dB, a short smear.
fn room_echo(far: &[f32]) -> Vec<f32> {
    let d = 40 * RATE as usize / 1000;
    let taps = [(0usize, 0.3f32), (37, 0.12), (211, -0.07), (640, 0.03)];
    (0..far.len())
        .map(|i| {
            taps.iter()
                .filter_map(|&(t, g)| i.checked_sub(d + t).map(|j| g * far[j]))
                .sum()
        })
        .collect()
}

/// The capture signal of the echo tests: `echo`, plus near speech only in the second half of
/// each recovery window (`in_b`), so the first half measures echo removal in far-end single
/// talk and the second half the near talker getting through.
fn echo_scene(secs: usize, bs: &[Burst]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let far: Vec<f32> = speech("far_speech_clean.wav", secs)
        .iter()
        .map(|v| v * 0.5)
        .collect();
    let near = speech("near_speech_clean.wav", secs);
    let echo = room_echo(&far);
    let mut mic = echo.clone();
    for b in bs {
        let from = (b.end() + SETTLE + WINDOW / 2) * FRAME;
        let to = ((b.end() + SETTLE + WINDOW) * FRAME).min(mic.len());
        for i in from..to {
            mic[i] += near[i];
        }
    }
    (far, mic, echo)
}

/// Runs an echo canceller over `far` and `mic` (render frame, then capture frame).
fn run_aec(cfg: AecConfig, far: &[f32], mic: &[f32]) -> Vec<f32> {
    let mut aec = EchoCanceller::new(cfg);
    aec.prepare(RATE, FRAME).unwrap();
    let mut out = vec![0.0; mic.len()];
    let mut meta = FrameMeta::default();
    for ((f, m), o) in far
        .chunks_exact(FRAME)
        .zip(mic.chunks_exact(FRAME))
        .zip(out.chunks_exact_mut(FRAME))
    {
        aec.process_render(f).unwrap();
        aec.process_into(m, o, &mut meta).unwrap();
    }
    out
}

/// Echo cancellers of the build, with bursts on the capture side or on the render side.
fn check_aec(render_side: bool, default_seed: u64) {
    let seed = bursts::seed(default_seed);
    let n = secs(12);
    let bs = schedule(seed, n * 100, 200, SETTLE + WINDOW, 50);
    let (far, mic, _) = echo_scene(n, &bs);
    let (bad_far, bad_mic) = if render_side {
        (corrupt(&far, FRAME, &bs, seed), mic.clone())
    } else {
        (far.clone(), corrupt(&mic, FRAME, &bs, seed))
    };
    let side = if render_side { "render" } else { "capture" };
    for backend in AecBackend::available() {
        for mode in [AecMode::Aec3, AecMode::Mobile] {
            if backend == AecBackend::Sonora && mode == AecMode::Mobile {
                continue; // sonora has no AECM
            }
            let cfg = AecConfig::new()
                .backend(backend)
                .mode(mode)
                .stream_delay_ms((mode == AecMode::Mobile).then_some(40));
            let out = run_aec(cfg, &bad_far, &bad_mic);
            let twin = run_aec(cfg, &far, &mic);
            let what = format!("{backend} {mode}, bursts on the {side} side (seed {seed})");
            let during = check_bounded_after(&what, &out, FRAME, &bs, 1, BOUND);
            println!("{what}: peaks during the bursts {during:?}");
            for (k, b) in bs.iter().enumerate() {
                // Far-end single talk: 1.0-1.25 s after the burst.
                let from = (b.end() + SETTLE) * FRAME;
                let a = from..from + WINDOW / 2 * FRAME;
                let erle = |o: &[f32]| rms_db(&mic[a.clone()]) - rms_db(&o[a.clone()]);
                let (e, et) = (erle(&out), erle(&twin));
                // Near talk over echo: 1.25-1.5 s after.
                let bw = a.end..a.end + WINDOW / 2 * FRAME;
                let (lo, lt) = (rms_db(&out[bw.clone()]), rms_db(&twin[bw.clone()]));
                let c = corr(&out[bw.clone()], &twin[bw.clone()]);
                println!(
                    "{what}: burst {k} {:?} x{} at {:.2} s: ERLE {e:.1} dB (twin {et:.1}), near talk {lo:.1} dB (twin {lt:.1}), correlation {c:.3}",
                    b.kind,
                    b.len,
                    b.start as f64 / 100.0
                );
                // AECM adapts slowly: after 380 ms of full-scale noise on the capture side it
                // was measured 10.7 dB short of its twin 1 s later (seed 1503), so it gets 12 dB.
                let slack = if mode == AecMode::Mobile { 12.0 } else { 6.0 };
                assert!(
                    e > et - slack,
                    "{what}: echo removal not back 1 s after burst {k} ({b:?}): ERLE {e:.1} dB, twin {et:.1} dB"
                );
                // The suppressor's decisions during near talk over echo are the part that
                // differs most from the twin's (0.897 after 50 ms of NaN reference, seed 1504).
                // AECM's slow re-adaptation leaves more echo under the near talk (3.1 dB more
                // after 400 ms of mixed bad reference samples, seed 1504): 4 dB for it.
                let tol = if mode == AecMode::Mobile { 4.0 } else { 3.0 };
                assert!(
                    (lo - lt).abs() < tol && c > 0.85,
                    "{what}: near talk not back 1.25 s after burst {k} ({b:?}): {lo:.1} dB vs twin {lt:.1} dB, correlation {c:.3}"
                );
            }
        }
    }
}

#[test]
fn echo_cancellers_recover_from_capture_bursts() {
    check_aec(false, 1503);
}

#[test]
fn echo_cancellers_recover_from_render_bursts() {
    check_aec(true, 1504);
}

#[test]
fn send_chain_recovers_from_bursts() {
    let seed = bursts::seed(1505);
    let n = secs(12);
    let bs = schedule(seed, n * 100, 200, SETTLE + WINDOW, 50);
    let (far, mic, _) = echo_scene(n, &bs);
    let bad = corrupt(&mic, FRAME, &bs, seed);
    let out_rate = 16_000u32;
    let out_frame = out_rate as usize / 100;
    for aec in [Some(AecMode::Aec3), None] {
        let run = |mic: &[f32]| {
            let cfg = SendChainConfig::new(RATE)
                .output_rate(out_rate)
                .noise_suppression(true);
            let mut chain = SendChain::new(cfg).unwrap();
            if let Some(mode) = aec {
                let ec = EchoCanceller::new(AecConfig::new().mode(mode));
                chain.set_echo_canceller(Box::new(ec)).unwrap();
            }
            let mut out = Vec::with_capacity(mic.len() / 3);
            let mut chunk = vec![0.0; out_frame];
            for (f, m) in far.chunks_exact(FRAME).zip(mic.chunks_exact(FRAME)) {
                chain.push_render(f).unwrap();
                chain.push_capture(m).unwrap();
                if !chain.pull(&mut chunk) {
                    chunk.fill(0.0);
                }
                out.extend_from_slice(&chunk);
            }
            (out, chain.latency_output_samples())
        };
        let (out, latency) = run(&bad);
        let (twin, _) = run(&mic);
        let what = format!("send chain, aec {aec:?}, ns on, 48 -> 16 kHz (seed {seed})");
        let grace = latency.div_ceil(out_frame) + 2;
        let during = check_bounded_after(&what, &out, out_frame, &bs, grace, BOUND);
        println!("{what}: peaks during the bursts {during:?}");
        let (dl, c) = check_recovery(&what, &out, &twin, out_frame, &bs);
        println!("{what}: worst level difference {dl:.2} dB, worst correlation {c:.4}");
    }
}
