//! Randomized robustness tests (stable-toolchain fuzzing, STYLE.md 6): at least 100,000 mutated
//! inputs per parser that sees network or signalling data. No input may panic, and no mutated
//! SFrame frame may be accepted. Seeded; `PARLA_TEST_SEED` overrides the seed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

mod common;

use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::e2ee::{CipherSuite, KeyAgreement, SframeReceiver, SframeSender, UnprotectError};
use parla_rtp::payload::assembler::{
    AssemblerConfig, AssemblerEvent, Depacketizer, FrameAssembler, FrameBuf,
};
use parla_rtp::payload::h264::{H264Depacketizer, H264Packetizer};
use parla_rtp::payload::opus::OpusDepacketizer;
use parla_rtp::payload::vp8::{Vp8Depacketizer, Vp8Descriptor, Vp8Packetizer};
use parla_rtp::rtcp::{self, FirEntry, ReportBlock, RtcpPacket, SenderInfo};
use parla_rtp::rtp::{ExtensionElement, RtpHeader, RtpPacket, RtpPacketSpec};
use rand::Rng;
use rand_chacha::ChaCha20Rng;

const PER_PARSER: usize = 100_000;

/// Applies 1 to 4 random mutations: bit flips, random or boundary bytes, truncation, extension,
/// or a duplicated slice.
fn mutate(rng: &mut ChaCha20Rng, buf: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..=4) {
        let len = buf.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                buf[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                buf[i] = rng.random();
            }
            2 if len > 0 => {
                let i = rng.random_range(0..len);
                buf[i] = [0, 1, 0x7f, 0x80, 0xff][rng.random_range(0..5)];
            }
            3 => {
                let n = rng.random_range(0..=len);
                buf.truncate(n);
            }
            4 => {
                for _ in 0..rng.random_range(1..16) {
                    buf.push(rng.random());
                }
            }
            5 if len > 1 => {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..len);
                let at = rng.random_range(0..=len);
                let piece = buf[a..=b].to_vec();
                buf.splice(at..at, piece);
            }
            _ if len > 0 => {
                let i = rng.random_range(0..len);
                buf[i] = buf[i].wrapping_add(1);
            }
            _ => buf.push(rng.random()),
        }
    }
}

fn random_rtp(rng: &mut ChaCha20Rng) -> Vec<u8> {
    let csrcs: Vec<u32> = (0..rng.random_range(0..4)).map(|_| rng.random()).collect();
    let datas: Vec<Vec<u8>> = (0..rng.random_range(0..4))
        .map(|_| (0..rng.random_range(0..20)).map(|_| rng.random()).collect())
        .collect();
    let ext: Vec<ExtensionElement<'_>> = datas
        .iter()
        .map(|d| ExtensionElement {
            id: rng.random_range(1..=255),
            data: d,
        })
        .collect();
    let ext: Vec<_> = ext
        .into_iter()
        .filter(|e| !e.data.is_empty() || e.id > 14)
        .collect();
    let payload: Vec<u8> = (0..rng.random_range(0..200))
        .map(|_| rng.random())
        .collect();
    let spec = RtpPacketSpec {
        header: RtpHeader {
            marker: rng.random(),
            payload_type: rng.random_range(0..128),
            sequence: rng.random(),
            timestamp: rng.random(),
            ssrc: rng.random(),
        },
        csrcs: &csrcs,
        extensions: &ext,
        payload: &payload,
        padding: if rng.random_bool(0.2) {
            rng.random_range(1..8)
        } else {
            0
        },
    };
    let mut buf = vec![0u8; 2048];
    let n = spec.write_to(&mut buf).expect("valid spec");
    buf.truncate(n);
    buf
}

#[test]
fn rtp_parser_survives_mutations() {
    let mut rng = common::rng(6001);
    let mut opus = OpusDepacketizer::new(None);
    let (mut ok, mut err) = (0usize, 0usize);
    for _ in 0..PER_PARSER {
        let mut buf = random_rtp(&mut rng);
        mutate(&mut rng, &mut buf);
        match RtpPacket::parse(&buf) {
            Ok(p) => {
                ok += 1;
                assert!(p.payload.len() <= buf.len());
                assert!(p.csrc_count() <= 15);
                let _ = p.csrcs().count();
                if let Some(e) = p.extension {
                    for el in e.elements() {
                        assert!(el.data.len() <= e.data.len());
                    }
                }
                let _ = opus.depacketize(&p);
            }
            Err(_) => err += 1,
        }
    }
    println!("RTP: {PER_PARSER} mutated packets, {ok} parsed, {err} rejected");
    assert_eq!(ok + err, PER_PARSER);
    assert!(ok > 0 && err > 0, "mutations should hit both outcomes");
}

fn random_rtcp(rng: &mut ChaCha20Rng) -> Vec<u8> {
    let mut buf = vec![0u8; 1500];
    let mut n = 0;
    let block = ReportBlock {
        ssrc: rng.random(),
        fraction_lost: rng.random(),
        cumulative_lost: rng.random_range(-100..100),
        extended_highest_seq: rng.random(),
        jitter: rng.random(),
        last_sr: rng.random(),
        delay_since_last_sr: rng.random(),
    };
    for _ in 0..rng.random_range(1..4) {
        n += match rng.random_range(0..5) {
            0 => rtcp::write_sr(
                &SenderInfo {
                    ssrc: rng.random(),
                    ntp: rng.random(),
                    ..Default::default()
                },
                &vec![block; rng.random_range(0..3)],
                &mut buf[n..],
            ),
            1 => rtcp::write_rr(
                rng.random(),
                &vec![block; rng.random_range(0..3)],
                &mut buf[n..],
            ),
            2 => {
                let lost: Vec<u16> = (0..rng.random_range(1..30))
                    .map(|_| rng.random_range(0..100))
                    .collect();
                rtcp::write_nack(1, 2, &lost, &mut buf[n..])
            }
            3 => rtcp::write_pli(1, 2, &mut buf[n..]),
            _ => rtcp::write_fir(
                1,
                &[FirEntry {
                    ssrc: 3,
                    seq_nr: rng.random(),
                }],
                &mut buf[n..],
            ),
        }
        .expect("fits");
    }
    buf.truncate(n);
    buf
}

#[test]
fn rtcp_parser_survives_mutations() {
    let mut rng = common::rng(6002);
    let (mut packets, mut errors) = (0usize, 0usize);
    for _ in 0..PER_PARSER {
        let mut buf = random_rtcp(&mut rng);
        mutate(&mut rng, &mut buf);
        for p in rtcp::parse_compound(&buf) {
            match p {
                Ok(RtcpPacket::SenderReport { reports, .. })
                | Ok(RtcpPacket::ReceiverReport { reports, .. }) => {
                    assert!(reports.iter().count() <= 31);
                    packets += 1;
                }
                Ok(RtcpPacket::Nack(n)) => {
                    assert!(n.lost().count() <= buf.len() * 17 / 4);
                    packets += 1;
                }
                Ok(RtcpPacket::Fir(f)) => {
                    let _ = f.entries().count();
                    packets += 1;
                }
                Ok(_) => packets += 1,
                Err(_) => errors += 1,
            }
        }
    }
    println!("RTCP: {PER_PARSER} mutated compounds, {packets} packets parsed, {errors} errors");
    assert!(packets > 0 && errors > 0);
}

/// Mutated payloads of `packetize`d frames, fed straight to the depacketizer and, as RTP
/// packets with random sequence numbers and markers, to an assembler.
fn depacketizer_survives<D: Depacketizer>(
    rng: &mut ChaCha20Rng,
    mut depack: D,
    asm_depack: D,
    mut make: impl FnMut(&mut ChaCha20Rng) -> Vec<Vec<u8>>,
    name: &str,
) {
    let cfg = AssemblerConfig {
        max_packets: 64,
        max_payload: 1500,
        max_frame_bytes: 8192,
        max_wait: Duration::from_millis(50),
    };
    let mut asm = FrameAssembler::new(asm_depack, cfg).expect("assembler");
    let mut frame = FrameBuf::with_capacity(8192);
    let (mut n, mut accepted, mut events) = (0usize, 0usize, 0usize);
    let mut seq: u16 = rng.random();
    let mut now = MediaTime::ZERO;
    while n < PER_PARSER {
        for mut payload in make(rng) {
            mutate(rng, &mut payload);
            n += 1;
            depack.begin_frame();
            frame.clear();
            let _ = depack.is_frame_start(&payload);
            let _ = depack.is_keyframe(&payload);
            if depack.depacketize(&payload, &mut frame).is_ok() {
                accepted += 1;
            }
            let _ = depack.end_frame();
            assert!(frame.as_slice().len() <= 8192);
            seq = seq.wrapping_add(rng.random_range(0..3));
            let spec = RtpPacketSpec {
                header: RtpHeader {
                    marker: rng.random_bool(0.3),
                    payload_type: 96,
                    sequence: seq,
                    timestamp: u32::from(seq / 4),
                    ssrc: 1,
                },
                payload: &payload,
                ..Default::default()
            };
            let mut buf = vec![0u8; 2048];
            let len = spec.write_to(&mut buf).expect("fits");
            let pkt = RtpPacket::parse(&buf[..len]).expect("parse");
            now = now + Duration::from_millis(rng.random_range(0..20));
            asm.insert(&pkt, now);
            while let Some(ev) = asm.poll(now) {
                if let AssemblerEvent::Frame(f) = ev {
                    assert!(f.data.len() <= 8192 && f.first_seq <= f.last_seq);
                }
                events += 1;
            }
        }
    }
    let mut missing = [0u16; 64];
    assert!(asm.missing_seqs(&mut missing) <= 64);
    println!("{name}: {n} mutated payloads, {accepted} depacketized, {events} assembler events");
    assert!(n >= PER_PARSER);
}

#[test]
fn h264_depacketizer_survives_mutations() {
    let mut rng = common::rng(6003);
    let p = H264Packetizer::new(200).expect("packetizer");
    depacketizer_survives(
        &mut rng,
        H264Depacketizer::default(),
        H264Depacketizer::default(),
        |rng| {
            let mut au = Vec::new();
            for _ in 0..rng.random_range(1..4) {
                au.extend([0, 0, 0, 1, [0x67, 0x68, 0x65, 0x41][rng.random_range(0..4)]]);
                let n = rng.random_range(1..400);
                au.extend((0..n).map(|_| rng.random_range(1..=255u8)));
            }
            let mut it = p.packetize(&au);
            let mut buf = [0u8; 200];
            let mut v = Vec::new();
            while let Some(c) = it.next_into(&mut buf) {
                let c = c.expect("payload");
                v.push(buf[..c.len].to_vec());
            }
            v
        },
        "H.264",
    );
}

#[test]
fn vp8_depacketizer_survives_mutations() {
    let mut rng = common::rng(6004);
    let mut p = Vp8Packetizer::new(200, 0).expect("packetizer");
    depacketizer_survives(
        &mut rng,
        Vp8Depacketizer,
        Vp8Depacketizer,
        |rng| {
            let f: Vec<u8> = (0..rng.random_range(1..600))
                .map(|_| rng.random())
                .collect();
            let mut it = p.packetize(&f);
            let mut buf = [0u8; 200];
            let mut v = Vec::new();
            while let Some(c) = it.next_into(&mut buf) {
                let c = c.expect("payload");
                v.push(buf[..c.len].to_vec());
            }
            v
        },
        "VP8",
    );
    // And the bare descriptor parser.
    for _ in 0..PER_PARSER {
        let mut b: Vec<u8> = (0..rng.random_range(0..8)).map(|_| rng.random()).collect();
        mutate(&mut rng, &mut b);
        if let Ok((_, n)) = Vp8Descriptor::parse(&b) {
            assert!(n <= b.len());
        }
    }
}

#[test]
fn no_mutated_sframe_frame_is_accepted() {
    let mut rng = common::rng(6005);
    let key = b"fuzzing base key, 32 bytes long!";
    let mut total = 0usize;
    for (suite, count) in [
        (CipherSuite::AesGcm128Sha256, PER_PARSER),
        (CipherSuite::AesGcm256Sha512, 10_000),
        (CipherSuite::AesCtr128HmacSha256_80, 10_000),
        (CipherSuite::AesCtr128HmacSha256_64, 10_000),
    ] {
        let mut tx = SframeSender::new(suite, 7, key).expect("sender");
        let mut rx = SframeReceiver::new(Duration::from_secs(1));
        rx.add_key(suite, 7, key).expect("key");
        let mut wire = Vec::with_capacity(2048);
        let mut out = Vec::with_capacity(4096);
        let mut n = 0;
        while n < count {
            let len = rng.random_range(0..300);
            let frame: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            tx.protect_into(&[], &frame, &mut wire).expect("protect");
            let legit = wire.clone();
            // Mutations first (the receiver has not seen this counter: only the tag protects it).
            for _ in 0..20 {
                let mut bad = legit.clone();
                mutate(&mut rng, &mut bad);
                if bad == legit {
                    continue;
                }
                n += 1;
                match rx.unprotect_into(&[], &bad, &mut out, MediaTime::ZERO) {
                    Err(e) => {
                        assert!(matches!(e, UnprotectError::Rejected(_)), "{e:?}");
                        assert!(out.is_empty());
                    }
                    Ok(u) => panic!("{suite:?}: forged frame accepted: {u:?}"),
                }
            }
            rx.unprotect_into(&[], &legit, &mut out, MediaTime::ZERO)
                .expect("legit frame");
            assert_eq!(out, frame);
        }
        let st = rx.stats();
        assert_eq!(st.rejected() as usize, n, "every rejection counted");
        println!("SFrame {suite:?}: {n} mutated frames, all rejected: {st:?}");
        total += n;
    }
    assert!(total >= PER_PARSER);
}

#[test]
fn key_blob_parser_survives_mutations() {
    let mut rng = common::rng(6006);
    let peer = KeyAgreement::new(&mut rng).public_blob();
    let mut agreed = 0usize;
    for i in 0..PER_PARSER {
        let mut blob = peer.to_vec();
        mutate(&mut rng, &mut blob);
        let ours = KeyAgreement::new(&mut rng);
        if ours.finish(&blob, &(i as u64).to_be_bytes()).is_ok() {
            agreed += 1;
        }
    }
    println!("key blobs: {PER_PARSER} mutated, {agreed} agreed (valid curve points)");
}
