//! SFrame protect and unprotect per frame, by cipher suite and frame size (an Opus packet, a
//! video packet's worth, a video frame).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_core::MediaTime;
use parla_rtp::e2ee::{CipherSuite, SframeReceiver, SframeSender};

fn sframe(c: &mut Criterion) {
    let key = [0x42u8; 32];
    for suite in [
        CipherSuite::AesGcm128Sha256,
        CipherSuite::AesGcm256Sha512,
        CipherSuite::AesCtr128HmacSha256_80,
    ] {
        let mut g = c.benchmark_group(format!("sframe_{suite:?}"));
        for size in [120usize, 1200, 50_000] {
            let frame = vec![0x33u8; size];
            g.throughput(Throughput::Bytes(size as u64));
            let mut tx = SframeSender::new(suite, 1, &key).expect("sender");
            let mut out = Vec::with_capacity(size + 64);
            g.bench_with_input(BenchmarkId::new("protect", size), &frame, |b, f| {
                b.iter(|| black_box(tx.protect_into(&[], f, &mut out).expect("protect")))
            });
            // Unprotect: a fresh receiver per batch so the replay window accepts every frame.
            let mut wire = Vec::with_capacity(size + 64);
            let frames: Vec<Vec<u8>> = (0..1000)
                .map(|_| {
                    tx.protect_into(&[], &frame, &mut wire).expect("protect");
                    wire.clone()
                })
                .collect();
            let mut plain = Vec::with_capacity(size + 64);
            g.bench_with_input(BenchmarkId::new("unprotect", size), &frames, |b, frames| {
                b.iter_batched_ref(
                    || {
                        let mut rx = SframeReceiver::new(Duration::from_secs(1));
                        rx.add_key(suite, 1, &key).expect("key");
                        (rx, 0usize)
                    },
                    |(rx, i)| {
                        let f = &frames[*i % frames.len()];
                        *i += 1;
                        black_box(
                            rx.unprotect_into(&[], f, &mut plain, MediaTime::ZERO)
                                .expect("unprotect"),
                        )
                    },
                    criterion::BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

criterion_group!(benches, sframe);
criterion_main!(benches);
