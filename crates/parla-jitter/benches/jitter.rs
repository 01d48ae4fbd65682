//! Cost of one insert plus one 10 ms pull (two pulls per 20 ms packet), per sample rate, in
//! steady playout with jitter that keeps the buffer stretching now and then.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_core::MediaTime;
use parla_jitter::{JitterBuffer, JitterConfig, Packet, pcm};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("jitter_insert_pull_10ms");
    for rate in [16_000u32, 48_000] {
        let n = rate as usize / 50;
        let payloads: Vec<Vec<u8>> = (0..50)
            .map(|k| {
                let x: Vec<f32> = (0..n)
                    .map(|i| {
                        let t = (k * n + i) as f32 / rate as f32;
                        (std::f32::consts::TAU * 130.0 * t).sin() * 0.3
                    })
                    .collect();
                let mut p = Vec::new();
                pcm::encode(&x, Some(&x), &mut p);
                p
            })
            .collect();
        let dec = pcm::PcmDecoder::new(rate).expect("rate");
        let mut jb = JitterBuffer::new(JitterConfig::new(rate), dec).expect("config");
        let mut out = vec![0.0f32; jb.frame_len()];
        let mut seq = 0u64;
        let mut now = 0u64;
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("pcm", rate), |b| {
            b.iter(|| {
                // One packet per two pulls; a 0-30 ms sawtooth of jitter.
                if now.is_multiple_of(20_000) {
                    let p = &payloads[(seq % 50) as usize];
                    let jitter = (seq % 7) * 5_000;
                    let _ = jb.insert(
                        Packet {
                            seq: seq as u16,
                            timestamp: (seq * n as u64) as u32,
                            payload: p,
                        },
                        MediaTime::from_micros(now + jitter),
                    );
                    seq += 1;
                }
                let r = jb.pull(MediaTime::from_micros(now + 30_000), &mut out);
                now += 10_000;
                r.map(|r| r.stretched)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
