//! Opus cost per 20 ms frame: encode at 16 and 48 kHz for complexity 5 and 10, and decode.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_codec::opus::{MAX_PACKET_BYTES, OpusDecoder, OpusEncoder, OpusEncoderConfig};

/// A second of a voiced, vowel-like test signal (harmonics of a gliding pitch).
fn voiced(rate: u32) -> Vec<f32> {
    (0..rate as usize)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let f0 = 120.0 + 30.0 * (t * 3.0).sin();
            (1..12)
                .map(|h| (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32)
                .sum::<f32>()
                * 0.2
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("opus_encode_20ms");
    g.throughput(Throughput::Elements(1));
    for rate in [16_000u32, 48_000] {
        let pcm = voiced(rate);
        for complexity in [5u8, 10] {
            let cfg = OpusEncoderConfig::voice(rate, 1)
                .bitrate(32_000)
                .complexity(complexity);
            let mut enc = OpusEncoder::new(&cfg).expect("encoder");
            let n = enc.frame_samples();
            let mut out = [0u8; MAX_PACKET_BYTES];
            let mut i = 0;
            g.bench_function(
                BenchmarkId::new(format!("{}kHz", rate / 1000), format!("c{complexity}")),
                |b| {
                    b.iter(|| {
                        let start = (i % 50) * n;
                        i += 1;
                        enc.encode(&pcm[start..start + n], &mut out)
                            .expect("encode")
                    })
                },
            );
        }
    }
    g.finish();

    let mut g = c.benchmark_group("opus_decode_20ms");
    g.throughput(Throughput::Elements(1));
    for rate in [16_000u32, 48_000] {
        let pcm = voiced(rate);
        let mut enc =
            OpusEncoder::new(&OpusEncoderConfig::voice(rate, 1).bitrate(32_000)).expect("encoder");
        let n = enc.frame_samples();
        let mut buf = [0u8; MAX_PACKET_BYTES];
        let packets: Vec<Vec<u8>> = pcm
            .chunks_exact(n)
            .map(|f| {
                let p = enc.encode(f, &mut buf).expect("encode");
                buf[..p.len].to_vec()
            })
            .collect();
        let mut dec = OpusDecoder::new(rate, 1).expect("decoder");
        let mut out = vec![0.0f32; dec.max_frame_samples()];
        let mut i = 0;
        g.bench_function(
            BenchmarkId::new("decode", format!("{}kHz", rate / 1000)),
            |b| {
                b.iter(|| {
                    i += 1;
                    dec.decode(&packets[i % packets.len()], &mut out)
                        .expect("decode")
                })
            },
        );
        g.bench_function(
            BenchmarkId::new("conceal", format!("{}kHz", rate / 1000)),
            |b| b.iter(|| dec.conceal(&mut out[..n]).expect("conceal")),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
