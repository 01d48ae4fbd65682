//! SFrame protect and unprotect per frame, by cipher suite and frame size (an Opus packet, a
//! video packet's worth, a video frame): Parla's layer (`ours`: sender and receiver, with the
//! replay window and accounting) next to the `sframe` crate's own frame API (`sframe`: encrypt
//! into and decrypt into a reused buffer, no replay window) in the same run. Key id 300 and
//! counters above 7 give both an extended header, as in a call.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_core::MediaTime;
use parla_rtp::e2ee::{CipherSuite, SframeReceiver, SframeSender};
use sframe::frame::{EncryptedFrameView, MediaFrameView, SingleUseCounter};
use sframe::key::{DecryptionKey, EncryptionKey};

const KEY_ID: u64 = 300;

fn sframe_suite(s: CipherSuite) -> Option<sframe::CipherSuite> {
    Some(match s {
        CipherSuite::AesCtr128HmacSha256_80 => sframe::CipherSuite::AesCtr128HmacSha256_80,
        CipherSuite::AesCtr128HmacSha256_64 => sframe::CipherSuite::AesCtr128HmacSha256_64,
        CipherSuite::AesCtr128HmacSha256_32 => sframe::CipherSuite::AesCtr128HmacSha256_32,
        CipherSuite::AesGcm128Sha256 => sframe::CipherSuite::AesGcm128Sha256,
        CipherSuite::AesGcm256Sha512 => sframe::CipherSuite::AesGcm256Sha512,
        _ => return None,
    })
}

fn sframe(c: &mut Criterion) {
    let key = [0x42u8; 32];
    for suite in [
        CipherSuite::AesGcm128Sha256,
        CipherSuite::AesGcm256Sha512,
        CipherSuite::AesCtr128HmacSha256_80,
        CipherSuite::AesCtr256HmacSha512_80,
    ] {
        let mut g = c.benchmark_group(format!("sframe_{suite:?}"));
        for size in [120usize, 1200, 50_000] {
            let frame = vec![0x33u8; size];
            g.throughput(Throughput::Bytes(size as u64));
            let mut tx =
                SframeSender::with_first_counter(suite, KEY_ID, &key, 1000).expect("sender");
            let mut out = Vec::with_capacity(size + 64);
            g.bench_with_input(BenchmarkId::new("protect/ours", size), &frame, |b, f| {
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
            g.bench_with_input(
                BenchmarkId::new("unprotect/ours", size),
                &frames,
                |b, frames| {
                    b.iter_batched_ref(
                        || {
                            let mut rx = SframeReceiver::new(Duration::from_secs(1));
                            rx.add_key(suite, KEY_ID, &key).expect("key");
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
                },
            );
            // The same through the `sframe` crate (suites 1-5 only).
            let Some(theirs) = sframe_suite(suite) else {
                continue;
            };
            let enc = EncryptionKey::derive_from(theirs, KEY_ID, &key).expect("key");
            let dec = DecryptionKey::derive_from(theirs, KEY_ID, &key).expect("key");
            let mut counter = 1000u64;
            let mut buf = Vec::with_capacity(size + 64);
            g.bench_with_input(BenchmarkId::new("protect/sframe", size), &frame, |b, f| {
                b.iter(|| {
                    counter += 1;
                    let mut ctr = SingleUseCounter::new(counter);
                    let view = MediaFrameView::try_new(&mut ctr, f).expect("view");
                    black_box(
                        view.encrypt_into(&enc, &mut buf)
                            .expect("encrypt")
                            .header()
                            .len(),
                    )
                })
            });
            let mut i = 0usize;
            g.bench_with_input(
                BenchmarkId::new("unprotect/sframe", size),
                &frames,
                |b, frames| {
                    b.iter(|| {
                        let f = &frames[i % frames.len()];
                        i += 1;
                        let view = EncryptedFrameView::try_new(f).expect("parse");
                        black_box(
                            view.decrypt_into(&dec, &mut buf)
                                .expect("decrypt")
                                .counter(),
                        )
                    })
                },
            );
        }
        g.finish();
    }
}

criterion_group!(benches, sframe);
criterion_main!(benches);
