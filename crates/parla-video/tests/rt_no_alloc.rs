//! The per-packet and per-frame paths of the video pipeline never touch the allocator after
//! construction and warm-up (STYLE.md R2): storing sent packets, answering NACKs from the
//! history, RTX wrapping, the encoder-control policy and keyframe limiter on the send side; RTP
//! and RTX in, NACK/PLI out, frame assembly, the frame buffer, the jitter estimator and frame
//! release on the receive side, for H.264 and VP8 streams with packet loss.
#![allow(
    clippy::disallowed_macros,
    clippy::disallowed_methods,
    clippy::unwrap_used
)]

use std::time::Duration;

use parla_core::MediaTime;
use parla_core::alloc_counter::{assert_no_alloc, is_installed};
use parla_rtp::WriteError;
use parla_rtp::payload::PayloadChunk;
use parla_rtp::payload::assembler::Depacketizer;
use parla_rtp::payload::h264::{H264Depacketizer, H264Packetizer};
use parla_rtp::payload::vp8::{Vp8Depacketizer, Vp8Packetizer};
use parla_rtp::rtcp::{RtcpPacket, parse_compound};
use parla_rtp::rtp::{RtpHeader, RtpPacketSpec, RtxMapping, wrap_rtx};
use parla_video::{
    ControlConfig, EncoderControl, HistoryConfig, KeyframeLimiter, ReceiverConfig, Resend,
    SendHistory, VideoReceiver,
};

#[global_allocator]
static A: parla_core::alloc_counter::CountingAllocator =
    parla_core::alloc_counter::CountingAllocator;

const MAP: RtxMapping = RtxMapping {
    media_ssrc: 1,
    media_payload_type: 96,
    rtx_ssrc: 2,
    rtx_payload_type: 97,
};

/// Serialized RTP packets of `frames` frames (a keyframe every 60), 30 fps, made before the
/// measured region.
fn stream(payloads: impl Fn(u64, bool) -> Vec<Vec<u8>>, frames: u64) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut seq = 65_000u16;
    for i in 0..frames {
        let key = i % 60 == 0;
        let ps = payloads(i, key);
        let n = ps.len();
        for (k, p) in ps.iter().enumerate() {
            let spec = RtpPacketSpec {
                header: RtpHeader {
                    marker: k + 1 == n,
                    payload_type: 96,
                    sequence: seq,
                    timestamp: (i * 3000) as u32,
                    ssrc: 1,
                },
                payload: p,
                ..Default::default()
            };
            let mut b = vec![0u8; 1300];
            let len = spec.write_to(&mut b).unwrap();
            b.truncate(len);
            out.push((i * 33, b));
            seq = seq.wrapping_add(1);
        }
    }
    out
}

/// The payloads a packetizer's `next_into` yields.
fn collect(
    mut next: impl FnMut(&mut [u8]) -> Option<Result<PayloadChunk, WriteError>>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1200];
    while let Some(c) = next(&mut buf) {
        out.push(buf[..c.unwrap().len].to_vec());
    }
    out
}

fn run<D: Depacketizer>(depack: D, packets: &[(u64, Vec<u8>)]) {
    let mut rx = VideoReceiver::new(depack, {
        let mut c = ReceiverConfig::new(1, 9);
        c.rtx = Some(MAP);
        c
    })
    .unwrap();
    rx.set_rtt(Duration::from_millis(40));
    let mut history = SendHistory::new(HistoryConfig::default()).unwrap();
    let mut control = EncoderControl::new(ControlConfig::new(1280, 720, 30)).unwrap();
    let mut kf = KeyframeLimiter::new(Duration::from_millis(300));
    let mut rtcp = [0u8; 1500];
    let mut rtx = [0u8; 1500];
    let mut rtx_seq = 0u16;
    let mut ready = 0u64;
    let mut step = |i: usize, rx: &mut VideoReceiver<D>, ready: &mut u64| {
        let (ms, ref p) = packets[i];
        let now = MediaTime::from_millis(ms + 1000);
        history.store(p, now);
        control.update(300_000 + (i as u32 % 7) * 100_000, now);
        kf.poll(now);
        // Every 23rd packet is lost on its first transmission.
        if i % 23 != 5 {
            rx.on_rtp(p, now);
        }
        let later = now + Duration::from_millis(20);
        let n = rx.poll_rtcp(later, &mut rtcp).unwrap();
        for pkt in parse_compound(&rtcp[..n]) {
            match pkt.unwrap() {
                RtcpPacket::Nack(nack) => {
                    for s in nack.lost() {
                        if let Resend::Packet(orig) =
                            history.resend(s, later, Duration::from_millis(40))
                        {
                            let m = wrap_rtx(orig, &MAP, rtx_seq, &mut rtx).unwrap();
                            rtx_seq = rtx_seq.wrapping_add(1);
                            rx.on_rtp(&rtx[..m], later);
                        }
                    }
                }
                RtcpPacket::Pli { .. } => {
                    kf.request(later);
                }
                _ => {}
            }
        }
        while let Some(f) = rx.poll_frame(later + Duration::from_millis(400)) {
            assert!(!f.data.is_empty());
            *ready += 1;
        }
    };
    let warm = packets.len() / 3;
    for i in 0..warm {
        step(i, &mut rx, &mut ready);
    }
    assert_no_alloc("video send and receive paths", || {
        for i in warm..packets.len() {
            step(i, &mut rx, &mut ready);
        }
    });
    let s = rx.stats();
    println!("{s:?}, {} frames released", ready);
    assert!(
        s.rtx_received > 10 && s.recovered > 10 && ready > 250,
        "{s:?}"
    );
}

#[test]
fn video_paths_do_not_allocate() {
    assert!(is_installed());
    let vp8 = stream(
        |i, key| {
            let mut frame = vec![(i % 251) as u8 + 1; if key { 9000 } else { 2500 }];
            frame[0] = if key { 0x10 } else { 0x11 };
            let mut p = Vp8Packetizer::new(1100, 0).unwrap();
            let mut it = p.packetize(&frame);
            collect(|b| it.next_into(b))
        },
        300,
    );
    run(Vp8Depacketizer, &vp8);
    let h264 = stream(
        |i, key| {
            let mut au = vec![0, 0, 0, 1];
            if key {
                au.extend([
                    0x67, 0x42, 1, 2, 3, 0, 0, 0, 1, 0x68, 0xce, 4, 0, 0, 0, 1, 0x65, 0x88,
                ]);
            } else {
                au.extend([0x41, 0x88]);
            }
            au.extend(std::iter::repeat_n(
                (i % 250) as u8 + 1,
                if key { 9000 } else { 2500 },
            ));
            let p = H264Packetizer::new(1100).unwrap();
            let mut it = p.packetize(&au);
            collect(|b| it.next_into(b))
        },
        300,
    );
    run(H264Depacketizer::default(), &h264);
}
