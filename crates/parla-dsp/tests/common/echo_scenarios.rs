//! Shared by the `aec-*` tests: run an echo canceller over a seeded scenario from
//! `parla_metrics::echo::scenario` and measure it with `parla_metrics::echo`.
#![allow(dead_code)]

use parla_core::FrameMeta;
use parla_dsp::aec::{AecBackend, AecConfig, AecMode, EchoCanceller};
use parla_dsp::{EchoStage, Stage};
use parla_metrics::echo::scenario::Scenario;
use parla_metrics::echo::{EchoReport, EchoSignals, measure};

/// The settling time excluded from the figures (the acceptance figures are "after 2 s").
pub const SETTLE_S: f64 = 2.0;

/// The scenario seed: `PARLA_TEST_SEED` when set, else `default`. Tests print it on failure.
pub fn seed(default: u64) -> u64 {
    std::env::var("PARLA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The backends compiled into this build (each test runs on all of them).
pub fn backends() -> Vec<AecBackend> {
    AecBackend::available().collect()
}

/// The modes a backend implements.
pub fn modes(backend: AecBackend) -> Vec<AecMode> {
    match backend {
        AecBackend::Webrtc => vec![AecMode::Aec3, AecMode::Mobile, AecMode::Off],
        AecBackend::Sonora => vec![AecMode::Aec3, AecMode::Off],
    }
}

/// Run `far` (reference) and `mic` through a canceller built from `config`, frame by frame
/// (render first, then capture), and return the output, the last frame's metadata and the
/// stage's latency in samples.
pub fn run(config: AecConfig, rate: u32, far: &[f32], mic: &[f32]) -> (Vec<f32>, FrameMeta, usize) {
    let n = rate as usize / 100;
    let mut aec = EchoCanceller::new(config);
    aec.prepare(rate, n).expect("prepare");
    let mut out = vec![0.0f32; mic.len() / n * n];
    let mut meta = FrameMeta::default();
    for ((f, m), o) in far
        .chunks_exact(n)
        .zip(mic.chunks_exact(n))
        .zip(out.chunks_exact_mut(n))
    {
        aec.process_render(f).expect("render");
        aec.process_into(m, o, &mut meta).expect("capture");
    }
    (out, meta, aec.latency_samples())
}

/// Run the canceller with `far` as its reference over scenario `s` and measure the result.
pub fn run_and_measure(config: AecConfig, s: &Scenario, far: &[f32]) -> EchoReport {
    let (out, _, latency) = run(config, s.rate, far, &s.mic);
    measure(
        EchoSignals {
            rate: s.rate,
            mic: &s.mic,
            out: &out,
            echo: &s.echo,
            near: &s.near,
            out_delay: latency,
        },
        SETTLE_S,
    )
}
