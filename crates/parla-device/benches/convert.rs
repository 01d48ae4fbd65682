//! Cost of the per-callback conversion (what a device callback does besides copying into the
//! ring), for a 10 ms period at 48 kHz, by sample format and channel mapping.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use parla_device::convert::{capture_frames, playout_frames};
use parla_device::format::DeviceSample;

const FRAMES: usize = 480;

fn bench_format<T: DeviceSample>(c: &mut Criterion, name: &str) {
    let mut group = c.benchmark_group(format!("convert/{name}"));
    group.throughput(Throughput::Elements(FRAMES as u64));
    for (dev_ch, ring_ch) in [(1usize, 1usize), (2, 1), (2, 2)] {
        let device: Vec<T> = (0..FRAMES * dev_ch)
            .map(|i| T::from_f32(((i % 97) as f32 / 48.0) - 1.0))
            .collect();
        let mut ring = vec![0.0f32; FRAMES * ring_ch];
        group.bench_function(format!("capture {dev_ch}ch->{ring_ch}ch"), |b| {
            b.iter(|| capture_frames(black_box(&device), dev_ch, &mut ring, ring_ch))
        });
        let mut out = device.clone();
        group.bench_function(format!("playout {ring_ch}ch->{dev_ch}ch"), |b| {
            b.iter(|| playout_frames(black_box(&ring), ring_ch, &mut out, dev_ch))
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_format::<i16>(c, "i16");
    bench_format::<f32>(c, "f32");
    bench_format::<cpal::I24>(c, "i24");
    bench_format::<u8>(c, "u8");
}

criterion_group!(convert, benches);
criterion_main!(convert);
