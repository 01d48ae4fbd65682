//! The per-packet and per-frame paths never touch the allocator (STYLE.md R2, T1): RTP and RTCP
//! parse and write, Opus/H.264/VP8 packetizing, the frame assembler, reception statistics, and
//! SFrame protect/unprotect (accepting and rejecting) through our AEAD layer, every suite.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

use std::time::Duration;

use parla_core::MediaTime;
use parla_core::alloc_counter::{assert_no_alloc, is_installed};
use parla_rtp::e2ee::{
    AeadError, CipherSuite, RejectReason, SframeAead, SframeReceiver, SframeSender, UnprotectError,
};
use parla_rtp::payload::assembler::{AssemblerConfig, AssemblerEvent, FrameAssembler};
use parla_rtp::payload::h264::{H264Depacketizer, H264Packetizer};
use parla_rtp::payload::opus::{OpusDepacketizer, OpusPacketizer};
use parla_rtp::payload::vp8::{Vp8Depacketizer, Vp8Packetizer};
use parla_rtp::rtcp::{self, ReceiveStats, RtcpPacket, SenderInfo};
use parla_rtp::rtp::{ExtensionElement, RtpHeader, RtpPacket, RtpPacketSpec, SsrcTable};

#[global_allocator]
static A: parla_core::alloc_counter::CountingAllocator =
    parla_core::alloc_counter::CountingAllocator;

#[test]
fn audio_path_with_e2ee_does_not_allocate() {
    assert!(is_installed());
    let key = [9u8; 32];
    let mut tx = SframeSender::new(CipherSuite::default(), 300, &key).expect("sender");
    let mut rx = SframeReceiver::new(Duration::from_secs(1));
    rx.add_key(CipherSuite::default(), 300, &key).expect("key");
    let mut pack = OpusPacketizer::new(5, 111, 0, 0);
    let mut depack = OpusDepacketizer::new(Some(111));
    let mut stats = ReceiveStats::new(5, 48_000);
    let mut sources = SsrcTable::new(4, Duration::from_secs(5));
    let mut protected = Vec::with_capacity(1500);
    let mut plain = Vec::with_capacity(1500);
    let mut packet = [0u8; 1500];
    let mut rtcp_buf = [0u8; 1500];
    let opus = [0x78u8; 160];
    let ext_data = [1u8, 2, 3];
    let ext = [ExtensionElement {
        id: 3,
        data: &ext_data,
    }];
    let mut frame = |i: u64| {
        let now = MediaTime::from_millis(i * 20);
        tx.protect_into(&[], &opus[..40 + (i as usize % 120)], &mut protected)
            .expect("protect");
        let n = pack
            .packetize(&protected, Duration::from_millis(20), &mut packet)
            .expect("packetize");
        let pkt = RtpPacket::parse(&packet[..n]).expect("parse");
        stats.on_packet(pkt.header.sequence, pkt.header.timestamp, now);
        sources
            .get_or_insert_with(pkt.header.ssrc ^ (i as u32 % 8), now, || {
                ReceiveStats::new(pkt.header.ssrc, 48_000)
            })
            .map(|s| s.on_packet(pkt.header.sequence, pkt.header.timestamp, now))
            .ok();
        let f = depack.depacketize(&pkt).expect("depacketize");
        rx.unprotect_into(&[], f.payload, &mut plain, now)
            .expect("unprotect");
        // A replay is rejected without allocating, too.
        assert!(rx.unprotect_into(&[], f.payload, &mut plain, now).is_err());
        // A packet with a header extension, written and parsed.
        let spec = RtpPacketSpec {
            header: RtpHeader::default(),
            extensions: &ext,
            payload: &opus,
            ..Default::default()
        };
        let n = spec.write_to(&mut packet).expect("write");
        let p = RtpPacket::parse(&packet[..n]).expect("parse");
        assert_eq!(p.extension_element(3), Some(&ext_data[..]));
        // RTCP: a report and a NACK, written and parsed.
        let block = stats.report_block(now).expect("block");
        let info = SenderInfo {
            ssrc: 5,
            ntp: rtcp::ntp_from_media_time(now),
            ..Default::default()
        };
        let mut m = rtcp::write_sr(&info, &[block], &mut rtcp_buf).expect("sr");
        m += rtcp::write_nack(1, 5, &[1, 2, 40], &mut rtcp_buf[m..]).expect("nack");
        for p in rtcp::parse_compound(&rtcp_buf[..m]) {
            if let Ok(RtcpPacket::Nack(nack)) = p {
                assert_eq!(nack.lost().count(), 3);
            }
        }
    };
    for i in 0..50 {
        frame(i);
    }
    for i in 50..1050 {
        assert_no_alloc("audio frame", || frame(i));
    }
}

/// Parla's SFrame AEAD layer, every suite (1-8): protect, unprotect (accept), and rejections
/// (replay, forged tag) through the sender and receiver, and the raw AEAD's encrypt, decrypt and
/// refusal, over 1000 frames of varying size after a warm-up.
#[test]
fn sframe_aead_every_suite_does_not_allocate() {
    assert!(is_installed());
    let key = [0x5au8; 32];
    for suite in CipherSuite::ALL {
        let mut tx = SframeSender::new(suite, 7, &key).expect("sender");
        let mut rx = SframeReceiver::new(Duration::from_secs(1));
        rx.add_key(suite, 7, &key).expect("key");
        let aead = SframeAead::new(suite, &vec![0x33u8; suite.key_len()]).expect("aead");
        let mut wire = Vec::with_capacity(4096);
        let mut plain = Vec::with_capacity(4096);
        let mut forged = [0u8; 4096];
        let mut raw = [0u8; 3000];
        let mut tag = [0u8; 16];
        let tag = &mut tag[..suite.tag_len()];
        let meta = [1u8, 2, 3];
        let frame = [0x11u8; 3000];
        let mut run = |i: usize| {
            let size = 1 + (i * 37) % 2999;
            let n = tx
                .protect_into(&meta, &frame[..size], &mut wire)
                .expect("protect");
            let sf = &wire[meta.len()..n];
            // A forged copy (last tag byte changed) is refused before the real frame arrives.
            let f = &mut forged[..sf.len()];
            f.copy_from_slice(sf);
            f[sf.len() - 1] ^= 0x40;
            assert_eq!(
                rx.unprotect_into(&meta, f, &mut plain, MediaTime::ZERO),
                Err(UnprotectError::Rejected(RejectReason::Authentication))
            );
            let u = rx
                .unprotect_into(&meta, sf, &mut plain, MediaTime::ZERO)
                .expect("unprotect");
            assert_eq!(u.len, size);
            assert_eq!(
                rx.unprotect_into(&meta, sf, &mut plain, MediaTime::ZERO),
                Err(UnprotectError::Rejected(RejectReason::Replay))
            );
            let nonce = [i as u8; 12];
            let buf = &mut raw[..size];
            aead.encrypt_in_place(&nonce, &meta, buf, tag)
                .expect("encrypt");
            tag[0] ^= 1;
            assert_eq!(
                aead.decrypt_in_place(&nonce, &meta, buf, tag),
                Err(AeadError::Authentication)
            );
            tag[0] ^= 1;
            aead.decrypt_in_place(&nonce, &meta, buf, tag)
                .expect("decrypt");
        };
        for i in 0..20 {
            run(i);
        }
        for i in 20..1020 {
            assert_no_alloc("SFrame AEAD frame", || run(i));
        }
        assert_eq!(rx.stats().accepted, 1020, "{suite:?}");
    }
}

#[test]
fn video_path_does_not_allocate() {
    assert!(is_installed());
    let h264 = H264Packetizer::new(1188).expect("packetizer");
    let mut vp8 = Vp8Packetizer::new(1188, 0).expect("packetizer");
    let cfg = AssemblerConfig {
        max_payload: 1188,
        max_frame_bytes: 64 * 1024,
        ..Default::default()
    };
    let mut asm_h264 = FrameAssembler::new(H264Depacketizer::default(), cfg).expect("asm");
    let mut asm_vp8 = FrameAssembler::new(Vp8Depacketizer, cfg).expect("asm");
    let mut au = vec![0u8, 0, 0, 1, 0x65, 0x88];
    au.extend(std::iter::repeat_n(0x5a, 20_000));
    au.extend([0, 0, 0, 1, 0x41, 0x1a, 1, 2, 3]); // a second slice (first_mb_in_slice > 0)
    let vp8_frame = vec![0x10u8; 9_000];
    let mut payload = [0u8; 1188];
    let mut packet = [0u8; 1200];
    let (mut seq, mut vp8_seq) = (0u16, 1000u16);
    let mut missing = [0u16; 32];
    let mut frames = 0;
    let mut run = |i: u32, frames: &mut u32| {
        let now = MediaTime::from_millis(u64::from(i) * 33);
        let mut it = h264.packetize(&au);
        while let Some(c) = it.next_into(&mut payload) {
            let c = c.expect("payload");
            let spec = RtpPacketSpec {
                header: RtpHeader {
                    marker: c.last,
                    payload_type: 96,
                    sequence: seq,
                    timestamp: i * 3000,
                    ssrc: 1,
                },
                payload: &payload[..c.len],
                ..Default::default()
            };
            seq = seq.wrapping_add(1);
            let n = spec.write_to(&mut packet).expect("write");
            asm_h264.insert(&RtpPacket::parse(&packet[..n]).expect("parse"), now);
        }
        while let Some(ev) = asm_h264.poll(now) {
            if let AssemblerEvent::Frame(f) = ev {
                assert_eq!(f.data.len(), au.len());
                *frames += 1;
            }
        }
        let mut it = vp8.packetize(&vp8_frame);
        let mut first = true;
        while let Some(c) = it.next_into(&mut payload) {
            let c = c.expect("payload");
            let spec = RtpPacketSpec {
                header: RtpHeader {
                    marker: c.last,
                    payload_type: 97,
                    sequence: vp8_seq,
                    timestamp: i * 3000,
                    ssrc: 2,
                },
                payload: &payload[..c.len],
                ..Default::default()
            };
            vp8_seq = vp8_seq.wrapping_add(1);
            // Drop the first packet of every 10th frame: the drop path is exercised too.
            if !(first && i.is_multiple_of(10)) {
                let n = spec.write_to(&mut packet).expect("write");
                asm_vp8.insert(&RtpPacket::parse(&packet[..n]).expect("parse"), now);
            }
            first = false;
        }
        while asm_vp8.poll(now).is_some() {}
        let _ = asm_vp8.missing_seqs(&mut missing);
    };
    for i in 0..20 {
        run(i, &mut frames);
    }
    for i in 20..1020 {
        assert_no_alloc("video frame", || run(i, &mut frames));
    }
    assert_eq!(frames, 1020);
    assert!(asm_vp8.stats().dropped_incomplete > 0);
}

#[test]
fn stream_receiver_follows_epochs_without_allocating() {
    // The receive path of a call: RTP AAD, unprotect, epoch changes (key derivation on the
    // media thread), skips ahead, expiry. Senders and rotations are made on the control side
    // (outside the guard), as the engine does.
    use parla_rtp::e2ee::{KeyAgreement, MediaStream, rtp_aad};
    let mut rng = rand::rng();
    let (a, b) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    let (ab, bb) = (a.public_blob(), b.public_blob());
    let mut ka = a.finish(&bb, b"rt").expect("a");
    let kb = b.finish(&ab, b"rt").expect("b");
    let suite = CipherSuite::default();
    let mut tx = ka.sender(MediaStream::Audio, suite).expect("sender");
    let mut rx = kb
        .receiver(MediaStream::Audio, suite, Duration::from_millis(100))
        .expect("receiver");
    let mut pack = OpusPacketizer::new(5, 111, 0, 0);
    let (mut protected, mut plain) = (Vec::with_capacity(1500), Vec::with_capacity(1500));
    let mut packet = [0u8; 1500];
    let opus = [0x55u8; 120];
    for round in 0..60u64 {
        // Rotate on the control side (allocates: boxes), 1 or 3 epochs at once.
        for _ in 0..(1 + 2 * (round % 2)) {
            let mut next = ka.prepare_rotation().expect("prepare");
            tx = next.sender(MediaStream::Audio, suite).expect("sender");
            ka.commit_rotation(next).expect("commit");
        }
        for i in 0..10u64 {
            let now = MediaTime::from_millis((round * 10 + i) * 20);
            let aad = rtp_aad(&pack.peek_header());
            tx.protect_with_aad(&aad, &opus, &mut protected)
                .expect("protect");
            let n = pack
                .packetize(&protected, Duration::from_millis(20), &mut packet)
                .expect("packetize");
            let ((), allocs) = assert_no_alloc_count(|| {
                let pkt = RtpPacket::parse(&packet[..n]).expect("parse");
                rx.expire(now);
                rx.unprotect_into(&rtp_aad(&pkt.header), pkt.payload, &mut plain, now)
                    .expect("unprotect");
            });
            assert_eq!(allocs, 0, "round {round} frame {i}");
        }
    }
    assert_eq!(rx.epoch(), ka.epoch());
    assert_eq!(rx.stats().accepted, 600);
}

fn assert_no_alloc_count(f: impl FnOnce()) -> ((), u64) {
    let ((), c) = parla_core::alloc_counter::count_allocations(f);
    ((), c.total())
}
