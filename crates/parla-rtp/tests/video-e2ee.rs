//! End-to-end encrypted VP8: each frame is protected with SFrame before packetization, its
//! payload header left in the clear as authenticated metadata ([`vp8_unencrypted_prefix`]), so
//! the frame assembler still finds frame starts and keyframes; the receiver unprotects assembled
//! frames and gets the original bytes back, with loss and reordering on the way.
#![allow(clippy::disallowed_macros)] // tests print

mod common;

use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::e2ee::{CipherSuite, RejectReason, SframeReceiver, SframeSender, UnprotectError};
use parla_rtp::payload::assembler::{AssemblerConfig, AssemblerEvent, FrameAssembler};
use parla_rtp::payload::vp8::{Vp8Depacketizer, Vp8Packetizer, vp8_unencrypted_prefix};
use parla_rtp::rtp::{RtpHeader, RtpPacket, RtpPacketSpec};
use rand::Rng;
use rand::seq::SliceRandom;

#[test]
fn encrypted_vp8_survives_packetization_loss_and_reordering() {
    let mut rng = common::rng(8001);
    let key = b"video base key, 32 bytes long!!!";
    let suite = CipherSuite::default();
    let mut tx = SframeSender::new(suite, 4, key).expect("sender");
    let mut rx = SframeReceiver::new(Duration::from_secs(1));
    rx.add_key(suite, 4, key).expect("key");
    let mut pack = Vp8Packetizer::new(1188, 77).expect("packetizer");
    let cfg = AssemblerConfig {
        max_payload: 1188,
        max_frame_bytes: 300_000,
        ..Default::default()
    };
    let mut asm = FrameAssembler::new(Vp8Depacketizer, cfg).expect("assembler");

    let mut originals = Vec::new();
    let mut packets = Vec::new();
    let mut seq = 100u16;
    let mut protected = Vec::with_capacity(300_000);
    for i in 0..90u32 {
        let key_frame = i % 30 == 0;
        let size = rng.random_range(100..if key_frame { 200_000 } else { 20_000 });
        let mut frame: Vec<u8> = (0..size).map(|_| rng.random()).collect();
        frame[0] = if key_frame {
            frame[0] & !1
        } else {
            frame[0] | 1
        };
        let n = vp8_unencrypted_prefix(&frame);
        tx.protect_into(&frame[..n], &frame[n..], &mut protected)
            .expect("protect");
        assert_eq!(&protected[..n], &frame[..n], "prefix stays in the clear");
        assert_ne!(
            &protected[n..n + 16.min(size - n)],
            &frame[n..n + 16.min(size - n)]
        );
        let mut it = pack.packetize(&protected);
        let mut buf = [0u8; 1188];
        while let Some(c) = it.next_into(&mut buf) {
            let c = c.expect("payload");
            let spec = RtpPacketSpec {
                header: RtpHeader {
                    marker: c.last,
                    payload_type: 96,
                    sequence: seq,
                    timestamp: i * 3000,
                    ssrc: 9,
                },
                payload: &buf[..c.len],
                ..Default::default()
            };
            seq = seq.wrapping_add(1);
            let mut p = vec![0u8; 1200];
            let len = spec.write_to(&mut p).expect("write");
            p.truncate(len);
            packets.push((MediaTime::from_millis(u64::from(i) * 33), p));
        }
        originals.push((i * 3000, key_frame, frame));
    }
    // 1% loss, local reordering.
    packets.retain(|_| !rng.random_bool(0.01));
    for chunk in packets.chunks_mut(4) {
        chunk.shuffle(&mut rng);
    }
    let mut plain = Vec::with_capacity(300_000);
    let mut frame_out = Vec::with_capacity(300_000);
    let (mut ok, mut dropped) = (0, 0);
    let mut handle = |ev: AssemblerEvent<'_>, rx: &mut SframeReceiver| match ev {
        AssemblerEvent::Frame(f) => {
            let (_, key_frame, original) = originals
                .iter()
                .find(|(ts, _, _)| *ts == f.timestamp)
                .expect("known frame");
            assert_eq!(f.keyframe, *key_frame, "keyframe seen through encryption");
            let n = vp8_unencrypted_prefix(f.data);
            rx.unprotect_into(&f.data[..n], &f.data[n..], &mut plain, MediaTime::ZERO)
                .expect("authentic frame");
            frame_out.clear();
            frame_out.extend_from_slice(&f.data[..n]);
            frame_out.extend_from_slice(&plain);
            assert_eq!(&frame_out, original, "decrypted frame is bit-identical");
            // A forged clear prefix is caught.
            let mut forged = f.data[..n].to_vec();
            forged[0] ^= 0x80;
            let r = rx.unprotect_into(&forged, &f.data[n..], &mut plain, MediaTime::ZERO);
            assert!(matches!(
                r,
                Err(UnprotectError::Rejected(
                    RejectReason::Replay | RejectReason::Authentication
                ))
            ));
            ok += 1;
        }
        AssemblerEvent::Dropped(_) => dropped += 1,
    };
    for (t, p) in &packets {
        asm.insert(&RtpPacket::parse(p).expect("parse"), *t);
        while let Some(ev) = asm.poll(*t) {
            handle(ev, &mut rx);
        }
    }
    asm.finish();
    while let Some(ev) = asm.poll(MediaTime::from_millis(10_000)) {
        handle(ev, &mut rx);
    }
    println!("encrypted VP8: {ok} frames decrypted bit-identical, {dropped} drop events");
    assert!(ok > 60);
    assert_eq!(rx.stats().accepted, ok as u64);
}
