//! Video cost per frame: H.264 and VP8 encode and decode at 360p and 720p (one thread, the
//! encoder defaults), plus NV12 -> I420 conversion of a camera frame.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_codec::scale::Scaler;
use parla_codec::video::{VideoCodec, VideoDecoder, VideoEncoder, VideoEncoderConfig};
use parla_core::MediaTime;
use parla_core::video::{PixelFormat, VideoFrame};

/// `count` frames of a moving pattern with a little noise.
fn frames(w: u32, h: u32, count: u64) -> Vec<VideoFrame> {
    let mut seed = 0x1234_5678u32;
    (0..count)
        .map(|i| {
            let mut f = VideoFrame::new(PixelFormat::I420, w, h).expect("frame");
            let wu = w as usize;
            for (k, px) in f.plane_mut(0).iter_mut().enumerate() {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let (row, col) = (k / wu, k % wu);
                *px = (((col + row + i as usize * 4) % 200) as u32 + 20 + (seed >> 29)) as u8;
            }
            f.timestamp = MediaTime::from_micros(i * 33_333);
            f
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for (label, w, h, bitrate) in [
        ("360p", 640u32, 360u32, 800_000u32),
        ("720p", 1280, 720, 1_500_000),
    ] {
        let input = frames(w, h, 60);
        let mut g = c.benchmark_group(format!("video_{label}"));
        g.throughput(Throughput::Elements(1));
        g.sample_size(20);
        for codec in [VideoCodec::H264, VideoCodec::Vp8] {
            let cfg = VideoEncoderConfig::new(codec, w, h).bitrate(bitrate);
            let mut enc = VideoEncoder::new(&cfg).expect("encoder");
            let mut packets = Vec::new();
            let mut i = 0u64;
            let mut ts = 0u64;
            g.bench_function(BenchmarkId::new("encode", format!("{codec:?}")), |b| {
                b.iter(|| {
                    let mut f = input[(i % 60) as usize].clone();
                    i += 1;
                    ts += 33_334;
                    f.timestamp = MediaTime::from_micros(ts);
                    enc.send_frame(&f).expect("send");
                    while let Some(p) = enc.receive_packet().expect("receive") {
                        if packets.len() < 60 {
                            packets.push(p);
                        }
                    }
                })
            });
            // Decode a stream that starts with a keyframe, restarting at the end.
            let mut fresh = VideoEncoder::new(&cfg).expect("encoder");
            let stream: Vec<_> = input
                .iter()
                .flat_map(|f| {
                    fresh.send_frame(f).expect("send");
                    std::iter::from_fn(|| fresh.receive_packet().expect("receive"))
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut dec = VideoDecoder::new(codec).expect("decoder");
            let mut k = 0usize;
            g.bench_function(BenchmarkId::new("decode", format!("{codec:?}")), |b| {
                b.iter(|| {
                    let p = &stream[k % stream.len()];
                    k += 1;
                    dec.decode(&p.data, p.timestamp).expect("decode")
                })
            });
        }
        let mut scaler = Scaler::new().expect("scaler");
        let mut nv12 = VideoFrame::new(PixelFormat::Nv12, w, h).expect("frame");
        scaler.run(&input[0], &mut nv12).expect("to nv12");
        let mut out = VideoFrame::new(PixelFormat::I420, w, h).expect("frame");
        g.bench_function(BenchmarkId::new("scale", "nv12_to_i420"), |b| {
            b.iter(|| scaler.run(&nv12, &mut out).expect("scale"))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
