//! Per-frame cost of the echo canceller: one 10 ms render frame plus one 10 ms capture frame,
//! for each mode and backend at 16 and 48 kHz, and AEC3's near-end tuning (a linear filter twice
//! as long) on the webrtc backend, on a converged canceller fed speech-like echo.
//!
//! `cargo bench -p parla-dsp --bench aec` (add `--features sonora` for the Rust backend).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_core::FrameMeta;
use parla_dsp::aec::{AecBackend, AecConfig, AecMode, AecTuning, EchoCanceller};
use parla_dsp::{EchoStage, Stage};
use parla_metrics::echo::scenario::{Room, ScenarioConfig};

fn render_plus_capture(c: &mut Criterion) {
    for rate in [16_000u32, 48_000] {
        let n = rate as usize / 100;
        let s = ScenarioConfig::double_talk(rate, Room::SMALL, 7).generate();
        let frames: Vec<(&[f32], &[f32])> =
            s.far.chunks_exact(n).zip(s.mic.chunks_exact(n)).collect();
        let mut group = c.benchmark_group(format!("aec_render_capture_10ms/{}k", rate / 1000));
        group.throughput(Throughput::Elements(1));
        for backend in AecBackend::available() {
            let runs = [
                (AecMode::Aec3, AecTuning::Library),
                (AecMode::Aec3, AecTuning::NearEnd),
                (AecMode::Mobile, AecTuning::Library),
                (AecMode::Off, AecTuning::Library),
            ];
            for (mode, tuning) in runs {
                let skip = match backend {
                    AecBackend::Sonora => mode == AecMode::Mobile || tuning != AecTuning::Library,
                    AecBackend::Webrtc => false,
                };
                if skip {
                    continue;
                }
                let hint = (mode == AecMode::Mobile).then_some(40);
                let cfg = AecConfig::new()
                    .backend(backend)
                    .mode(mode)
                    .tuning(tuning)
                    .stream_delay_ms(hint);
                let name = match tuning {
                    AecTuning::Library => mode.as_str().to_owned(),
                    other => format!("{mode}-{other}"),
                };
                let mut aec = EchoCanceller::new(cfg);
                if aec.prepare(rate, n).is_err() {
                    continue;
                }
                let mut out = vec![0.0f32; n];
                let mut meta = FrameMeta::default();
                // Converge first (3 s), then time frames cycling through the rest.
                let warm = 300.min(frames.len() / 2);
                for (f, m) in &frames[..warm] {
                    let _ = aec.process_render(f);
                    let _ = aec.process_into(m, &mut out, &mut meta);
                }
                let mut i = warm;
                group.bench_function(BenchmarkId::new(backend.as_str(), &name), |b| {
                    b.iter(|| {
                        let (f, m) = frames[i];
                        i = if i + 1 < frames.len() { i + 1 } else { warm };
                        aec.process_render(f).expect("render");
                        aec.process_into(m, &mut out, &mut meta).expect("capture");
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, render_plus_capture);
criterion_main!(benches);
