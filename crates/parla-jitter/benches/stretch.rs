//! Cost of one accelerate or expand of a 30 ms block, per sample rate.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_jitter::stretch::TimeStretcher;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("stretch");
    for rate in [16_000u32, 48_000] {
        let mut s = TimeStretcher::new(rate).expect("valid rate");
        let n = s.min_input_len();
        let x: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                (1..8)
                    .map(|h| (std::f32::consts::TAU * 140.0 * h as f32 * t).sin() / h as f32)
                    .sum::<f32>()
                    * 0.2
            })
            .collect();
        let mut out = vec![0.0f32; n + s.max_period()];
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("accelerate", rate), &x, |b, x| {
            b.iter(|| s.accelerate_into(x, &mut out, false).map(|r| r.written))
        });
        g.bench_with_input(BenchmarkId::new("expand", rate), &x, |b, x| {
            b.iter(|| s.expand_into(x, &mut out, false).map(|r| r.written))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
