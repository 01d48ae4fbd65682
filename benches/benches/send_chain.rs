//! Per-10 ms-frame cost of the send chain's stages: noise suppression, each resampler mode at the
//! rate pairs a call uses, and the whole chain. Throughput is reported in frames.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_core::FrameMeta;
use parla_dsp::Stage;
use parla_dsp::chain::{SendChain, SendChainConfig};
use parla_dsp::ns::{NS_FRAME, NoiseSuppressor};
use parla_dsp::resample::{ResampleMode, StreamResampler};

fn signal(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.3 * (i as f32 * 0.031).sin() + 0.05 * (((i * 7919) % 101) as f32 / 50.0 - 1.0))
        .collect()
}

fn noise_suppression(c: &mut Criterion) {
    let mut g = c.benchmark_group("ns");
    g.throughput(Throughput::Elements(1));
    let mut ns = NoiseSuppressor::new();
    ns.prepare(48_000, NS_FRAME).expect("prepare");
    let input = signal(NS_FRAME);
    let mut out = vec![0.0; NS_FRAME];
    let mut meta = FrameMeta::default();
    g.bench_function("48k_10ms", |b| {
        b.iter(|| {
            ns.process_into(&input, &mut out, &mut meta)
                .expect("process")
        })
    });
    g.finish();
}

fn resamplers(c: &mut Criterion) {
    let mut g = c.benchmark_group("resample");
    g.throughput(Throughput::Elements(1));
    for (a, b_rate) in [
        (44_100u32, 48_000u32),
        (48_000, 16_000),
        (16_000, 48_000),
        (96_000, 48_000),
    ] {
        for mode in [ResampleMode::Fixed, ResampleMode::Adjustable] {
            let block = a as usize / 100;
            let mut r = StreamResampler::new(a, b_rate, 1, block, mode).expect("resampler");
            let input = signal(block);
            let mut out = vec![0.0; b_rate as usize / 100];
            g.bench_function(
                BenchmarkId::new(format!("{mode:?}"), format!("{a}->{b_rate}")),
                |b| {
                    b.iter(|| {
                        r.push(&input).expect("push");
                        while r.pull(&mut out) {}
                    })
                },
            );
        }
    }
    g.finish();
}

fn whole_chain(c: &mut Criterion) {
    let mut g = c.benchmark_group("send_chain");
    g.throughput(Throughput::Elements(1));
    for rate in [16_000u32, 44_100, 48_000] {
        let mut chain = SendChain::new(SendChainConfig::new(rate).timing(false)).expect("chain");
        let block = rate as usize / 100;
        let input = signal(block);
        let mut out = vec![0.0; block];
        g.bench_function(BenchmarkId::new("10ms", rate), |b| {
            b.iter(|| {
                chain.push_capture(&input).expect("push");
                while chain.pull(&mut out) {}
            })
        });
    }
    g.finish();
}

criterion_group!(benches, noise_suppression, resamplers, whole_chain);
criterion_main!(benches);
