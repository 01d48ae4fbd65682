//! RTP cost per packet: parse and write (audio- and video-sized payloads), Opus/H.264/VP8
//! packetizing, and the frame assembler's insert + poll.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_core::MediaTime;
use parla_rtp::payload::assembler::{AssemblerConfig, FrameAssembler};
use parla_rtp::payload::h264::{H264Depacketizer, H264Packetizer};
use parla_rtp::payload::opus::OpusPacketizer;
use parla_rtp::payload::vp8::Vp8Packetizer;
use parla_rtp::rtp::{ExtensionElement, RtpHeader, RtpPacket, RtpPacketSpec};

const MAX_PAYLOAD: usize = 1188;

fn packet(payload_len: usize) -> Vec<u8> {
    let payload = vec![0x5a; payload_len];
    let ext = [ExtensionElement {
        id: 1,
        data: &[0x80],
    }];
    let spec = RtpPacketSpec {
        header: RtpHeader {
            marker: true,
            payload_type: 111,
            sequence: 7,
            timestamp: 960,
            ssrc: 1,
        },
        extensions: &ext,
        payload: &payload,
        ..Default::default()
    };
    let mut buf = vec![0u8; 1500];
    let n = spec.write_to(&mut buf).expect("write");
    buf.truncate(n);
    buf
}

fn rtp_parse_write(c: &mut Criterion) {
    let mut g = c.benchmark_group("rtp_per_packet");
    g.throughput(Throughput::Elements(1));
    for len in [160usize, MAX_PAYLOAD] {
        let p = packet(len);
        g.bench_with_input(BenchmarkId::new("parse", len), &p, |b, p| {
            b.iter(|| {
                let pkt = RtpPacket::parse(black_box(p)).expect("parse");
                black_box(pkt.extension_element(1));
            })
        });
        let payload = vec![0x5a; len];
        let mut out = [0u8; 1500];
        g.bench_with_input(BenchmarkId::new("write", len), &payload, |b, payload| {
            b.iter(|| {
                let spec = RtpPacketSpec {
                    header: RtpHeader::default(),
                    payload: black_box(payload),
                    ..Default::default()
                };
                black_box(spec.write_to(&mut out).expect("write"))
            })
        });
    }
    let mut opus = OpusPacketizer::new(1, 111, 0, 0);
    let frame = [0x78u8; 120];
    let mut out = [0u8; 1500];
    g.bench_function("opus_packetize_20ms", |b| {
        b.iter(|| {
            black_box(
                opus.packetize(black_box(&frame), Duration::from_millis(20), &mut out)
                    .expect("packetize"),
            )
        })
    });
    g.finish();
}

fn video_packetize(c: &mut Criterion) {
    let mut g = c.benchmark_group("video_packetize");
    for size in [5_000usize, 50_000] {
        let mut au = vec![0u8, 0, 0, 1, 0x65, 0x88];
        au.extend(std::iter::repeat_n(0x5a, size));
        let p = H264Packetizer::new(MAX_PAYLOAD).expect("packetizer");
        let packets = size.div_ceil(MAX_PAYLOAD - 2) as u64;
        g.throughput(Throughput::Elements(packets));
        let mut out = [0u8; MAX_PAYLOAD];
        g.bench_with_input(BenchmarkId::new("h264_frame_bytes", size), &au, |b, au| {
            b.iter(|| {
                let mut it = p.packetize(au);
                while let Some(c) = it.next_into(&mut out) {
                    black_box(c.expect("payload"));
                }
            })
        });
        let frame = vec![0x10u8; size];
        let mut v = Vp8Packetizer::new(MAX_PAYLOAD, 0).expect("packetizer");
        g.bench_with_input(BenchmarkId::new("vp8_frame_bytes", size), &frame, |b, f| {
            b.iter(|| {
                let mut it = v.packetize(f);
                while let Some(c) = it.next_into(&mut out) {
                    black_box(c.expect("payload"));
                }
            })
        });
    }
    g.finish();
}

fn assembler(c: &mut Criterion) {
    let mut g = c.benchmark_group("assembler");
    let size = 50_000;
    let mut au = vec![0u8, 0, 0, 1, 0x65, 0x88];
    au.extend(std::iter::repeat_n(0x5a, size));
    let p = H264Packetizer::new(MAX_PAYLOAD).expect("packetizer");
    let mut payloads = Vec::new();
    let mut it = p.packetize(&au);
    let mut buf = [0u8; MAX_PAYLOAD];
    while let Some(c) = it.next_into(&mut buf) {
        let c = c.expect("payload");
        payloads.push((buf[..c.len].to_vec(), c.last));
    }
    g.throughput(Throughput::Elements(payloads.len() as u64));
    let cfg = AssemblerConfig {
        max_payload: MAX_PAYLOAD,
        ..Default::default()
    };
    let mut asm = FrameAssembler::new(H264Depacketizer::default(), cfg).expect("assembler");
    let mut seq = 0u16;
    let mut ts = 0u32;
    let mut pkt = [0u8; 1500];
    g.bench_function("h264_50kB_insert_poll", |b| {
        b.iter(|| {
            ts = ts.wrapping_add(3000);
            for (payload, last) in &payloads {
                let spec = RtpPacketSpec {
                    header: RtpHeader {
                        marker: *last,
                        payload_type: 96,
                        sequence: seq,
                        timestamp: ts,
                        ssrc: 1,
                    },
                    payload,
                    ..Default::default()
                };
                seq = seq.wrapping_add(1);
                let n = spec.write_to(&mut pkt).expect("write");
                asm.insert(
                    &RtpPacket::parse(&pkt[..n]).expect("parse"),
                    MediaTime::ZERO,
                );
            }
            while let Some(ev) = asm.poll(MediaTime::ZERO) {
                black_box(ev);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, rtp_parse_write, video_packetize, assembler);
criterion_main!(benches);
