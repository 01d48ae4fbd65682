//! Randomized robustness tests (stable-toolchain fuzzing, STYLE.md 6) for every parser a received
//! packet reaches: the RTP packet parser, RTP header extension blocks on their own (RFC 8285
//! one-byte and two-byte forms), RTCP compound packets (every packet type the parser knows), the
//! SFrame header parser, RTX unwrap and wrap (RFC 4588), the Opus, H.264 and VP8 depacketizers, the frame assembler (H.264 and
//! VP8, fed reordered, duplicated, lost and mutated packets with sequence-number jumps and
//! wraparound), SFrame unprotect and the key-agreement blob.
//!
//! Each test feeds at least `PARLA_FUZZ_CASES` inputs to its parser (default 100,000), counts the
//! cases it actually fed, prints the count and asserts it. No input may panic, overflow or loop;
//! valid inputs must round-trip exactly (so a parser that rejects everything fails too); no
//! mutated SFrame frame may be accepted; the assembler must not allocate after construction and
//! must only pass on complete frames within its configured limits, in order.
//!
//! How to run:
//!
//! ```text
//! # the default (CI) run, 100,000 cases per parser, debug build with overflow checks:
//! cargo test -p parla-rtp --test fuzz-parsers
//! # the same in release (scripts/test.sh runs this too):
//! cargo test --release --locked -p parla-rtp --test fuzz-parsers
//! # the long run, here 10 million cases per parser (use release; -- --nocapture shows counts):
//! PARLA_FUZZ_CASES=10000000 cargo test --release -p parla-rtp --test fuzz-parsers -- --nocapture
//! # another seed (each test prints the one it used; a failure is rerun with the same seed):
//! PARLA_TEST_SEED=12345 cargo test -p parla-rtp --test fuzz-parsers
//! ```
//!
//! `PARLA_FUZZ_CASES` must be at least 1,000: below that, the checks that both outcomes (accepted
//! and rejected) and every packet kind were reached are not meaningful.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

mod common;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use parla_core::MediaTime;
use parla_core::alloc_counter::{CountingAllocator, count_allocations, is_installed};
use parla_rtp::e2ee::{
    CipherSuite, KeyAgreement, MAX_HEADER_LEN, SframeReceiver, SframeSender, UnprotectError,
    parse_sframe_header, sframe_header_len, write_sframe_header,
};
use parla_rtp::payload::assembler::{
    AssemblerConfig, AssemblerEvent, Depacketizer, FrameAssembler, FrameBuf, InsertOutcome,
};
use parla_rtp::payload::h264::{H264Depacketizer, H264Packetizer};
use parla_rtp::payload::opus::{OpusDepacketizer, OpusPacketizer};
use parla_rtp::payload::vp8::{Vp8Depacketizer, Vp8Descriptor, Vp8Packetizer};
use parla_rtp::rtcp::{self, FirEntry, ReportBlock, RtcpPacket, SenderInfo};
use parla_rtp::rtp::{
    ExtensionElement, ExtensionForm, HeaderExtension, RtpHeader, RtpPacket, RtpPacketSpec,
    RtxMapping, unwrap_rtx, wrap_rtx,
};
use rand::Rng;
use rand_chacha::ChaCha20Rng;

// The assembler test checks that inserting and polling never allocate (bounded memory). The
// counter only counts on threads inside a counted region, so the other tests are unaffected.
#[global_allocator]
static A: CountingAllocator = CountingAllocator;

/// Cases per parser: `PARLA_FUZZ_CASES`, default 100,000 (see the module docs).
fn cases() -> usize {
    let n = match std::env::var("PARLA_FUZZ_CASES") {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .expect("PARLA_FUZZ_CASES must be a whole number"),
        Err(_) => 100_000,
    };
    assert!(n >= 1_000, "PARLA_FUZZ_CASES must be at least 1000");
    println!("{n} cases per parser (override with PARLA_FUZZ_CASES)");
    n
}

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

/// `len` random bytes.
fn random_bytes(rng: &mut ChaCha20Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.random()).collect()
}

/// Whether `part` lies inside `whole` (a parser's output borrows its input).
fn within(part: &[u8], whole: &[u8]) -> bool {
    let w = whole.as_ptr_range();
    let p = part.as_ptr_range();
    p.start >= w.start && p.end <= w.end
}

// ---------------------------------------------------------------------------------------------
// RTP packets

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

/// Writes `p` back out (the parsed fields, with the writer's choices for the rest).
fn rewrite_rtp(p: &RtpPacket<'_>) -> Vec<u8> {
    let csrcs: Vec<u32> = p.csrcs().collect();
    let ext: Vec<ExtensionElement<'_>> = p.extension.map_or(Vec::new(), |e| e.elements().collect());
    let spec = RtpPacketSpec {
        header: p.header,
        csrcs: &csrcs,
        extensions: &ext,
        payload: p.payload,
        padding: p.padding,
    };
    let mut buf = vec![0u8; 4096];
    let n = spec.write_to(&mut buf).expect("rewrite");
    buf.truncate(n);
    buf
}

#[test]
fn rtp_parser_survives_mutations() {
    let n = cases();
    let mut rng = common::rng(6001);
    let (mut fed, mut ok, mut err) = (0usize, 0usize, 0usize);
    while fed < n {
        let buf = if rng.random_ratio(1, 16) {
            let len = rng.random_range(0..64);
            let mut b = random_bytes(&mut rng, len);
            if let Some(b0) = b.first_mut() {
                *b0 = (*b0 & 0x3f) | 0x80; // version 2, so parsing goes past the first check
            }
            b
        } else {
            let b = random_rtp(&mut rng);
            // Oracle: a valid packet parses and writes back byte for byte.
            let p = RtpPacket::parse(&b).expect("valid packet");
            assert_eq!(rewrite_rtp(&p), b, "valid packet did not round-trip");
            let mut b = b;
            mutate(&mut rng, &mut b);
            b
        };
        fed += 1;
        match RtpPacket::parse(&buf) {
            Ok(p) => {
                ok += 1;
                assert!(within(p.payload, &buf));
                assert!(p.header.payload_type < 128);
                assert!(p.csrc_count() <= 15);
                assert_eq!(p.csrcs().count(), p.csrc_count());
                let ext_len = p.extension.map_or(0, |e| {
                    assert!(within(e.data, &buf) && e.data.len() % 4 == 0);
                    let mut used = 0;
                    for el in e.elements() {
                        assert!(within(el.data, e.data));
                        used += el.data.len() + 1;
                        assert_eq!(p.extension_element(el.id).map(|_| ()), Some(()));
                    }
                    assert!(used <= e.data.len());
                    4 + e.data.len()
                });
                // Every byte is accounted for: header, CSRCs, extension, payload, padding.
                assert_eq!(
                    12 + 4 * p.csrc_count() + ext_len + p.payload.len() + usize::from(p.padding),
                    buf.len()
                );
            }
            Err(_) => err += 1,
        }
    }
    println!("RTP: {fed} packets fed, {ok} parsed, {err} rejected");
    assert!(fed >= n);
    assert!(ok > 0 && err > 0, "mutations should hit both outcomes");
}

#[test]
fn rtx_wrap_unwrap_survive_mutations() {
    let n = cases();
    let mut rng = common::rng(6002);
    let map = RtxMapping {
        media_ssrc: 0x1111,
        media_payload_type: 96,
        rtx_ssrc: 0x2222,
        rtx_payload_type: 97,
    };
    let (mut fed, mut ok, mut err) = (0usize, 0usize, 0usize);
    let mut rtx = vec![0u8; 4096];
    let mut back = vec![0u8; 4096];
    while fed < n {
        let orig = random_rtp(&mut rng);
        // Oracle: a valid packet wraps and unwraps to itself (padding removed, media SSRC/PT).
        let len = wrap_rtx(&orig, &map, rng.random(), &mut rtx).expect("wrap a valid packet");
        let (m, osn) = unwrap_rtx(&rtx[..len], &map, &mut back).expect("unwrap");
        let (o, b) = (
            RtpPacket::parse(&orig).expect("valid"),
            RtpPacket::parse(&back[..m]).expect("restored packet parses"),
        );
        assert_eq!(osn, o.header.sequence);
        assert_eq!(b.payload, o.payload);
        assert_eq!(b.header.timestamp, o.header.timestamp);
        assert_eq!(b.header.marker, o.header.marker);
        assert_eq!((b.header.ssrc, b.header.payload_type), (0x1111, 96));
        // Mutated RTX packets: an error or a well-formed packet, never a panic.
        let mut bad = rtx[..len].to_vec();
        mutate(&mut rng, &mut bad);
        fed += 1;
        let out_len = rng.random_range(0..bad.len() + 8);
        match unwrap_rtx(&bad, &map, &mut back[..out_len]) {
            Ok((m, _)) => {
                ok += 1;
                assert!(m <= out_len);
                RtpPacket::parse(&back[..m]).expect("an unwrapped packet parses");
            }
            Err(_) => err += 1,
        }
        // Mutated originals: wrap refuses or writes a packet that parses.
        let mut bad = orig;
        mutate(&mut rng, &mut bad);
        if let Ok(m) = wrap_rtx(&bad, &map, 1, &mut rtx) {
            RtpPacket::parse(&rtx[..m]).expect("a wrapped packet parses");
        }
    }
    println!("RTX: {fed} packets fed, {ok} unwrapped, {err} rejected");
    assert!(fed >= n);
    assert!(ok > 0 && err > 0, "mutations should hit both outcomes");
}

// ---------------------------------------------------------------------------------------------
// RTP header extension blocks on their own

/// Extension elements as (id, data).
type Elements = Vec<(u8, Vec<u8>)>;

/// A valid RFC 8285 block of `form` built here (not by the crate's writer), with zero padding
/// between elements: (profile, block, elements as (id, data)).
fn random_ext_block(rng: &mut ChaCha20Rng, form: ExtensionForm) -> (u16, Vec<u8>, Elements) {
    let mut block = Vec::new();
    let mut els = Vec::new();
    for _ in 0..rng.random_range(0..6) {
        for _ in 0..rng.random_range(0..3) {
            if rng.random_ratio(1, 3) {
                block.push(0);
            }
        }
        let (id, len) = match form {
            ExtensionForm::OneByte => (rng.random_range(1..=14u8), rng.random_range(1..=16usize)),
            _ => (
                rng.random_range(1..=255u8),
                if rng.random_ratio(1, 16) {
                    rng.random_range(0..=255usize)
                } else {
                    rng.random_range(0..24usize)
                },
            ),
        };
        let data = random_bytes(rng, len);
        match form {
            ExtensionForm::OneByte => block.push((id << 4) | (len as u8 - 1)),
            _ => block.extend([id, len as u8]),
        }
        block.extend(&data);
        els.push((id, data));
    }
    while block.len() % 4 != 0 {
        block.push(0);
    }
    let profile = match form {
        ExtensionForm::OneByte => 0xBEDE,
        _ => 0x1000 | rng.random_range(0..16u16),
    };
    (profile, block, els)
}

/// Checks the elements of `ext` (validated or not) and returns how many there were.
fn check_elements(ext: &HeaderExtension<'_>) -> usize {
    let mut count = 0;
    let mut used = 0;
    for el in ext.elements() {
        count += 1;
        assert!(within(el.data, ext.data), "element outside its block");
        assert!(el.id != 0);
        match ext.form() {
            ExtensionForm::OneByte => {
                assert!((1..=14).contains(&el.id) && (1..=16).contains(&el.data.len()));
                used += 1 + el.data.len();
            }
            ExtensionForm::TwoByte => used += 2 + el.data.len(),
            ExtensionForm::Other => panic!("elements in an opaque block"),
        }
        assert!(used <= ext.data.len(), "elements take more than the block");
    }
    count
}

#[test]
fn rtp_extension_blocks_survive_mutations() {
    let n = cases();
    let mut rng = common::rng(6007);
    for form in [ExtensionForm::OneByte, ExtensionForm::TwoByte] {
        let (mut fed, mut ok, mut err, mut elements) = (0usize, 0usize, 0usize, 0usize);
        while fed < n {
            let (mut profile, mut block, els) = random_ext_block(&mut rng, form);
            // Oracle: a valid block parses and yields exactly its elements.
            let ext = HeaderExtension::parse(profile, &block).expect("valid block");
            assert_eq!(ext.form(), form);
            let got: Elements = ext.elements().map(|e| (e.id, e.data.to_vec())).collect();
            assert_eq!(got, els);
            if rng.random_ratio(1, 16) {
                let len = rng.random_range(0..40);
                block = random_bytes(&mut rng, len);
            } else {
                mutate(&mut rng, &mut block);
            }
            if rng.random_ratio(1, 16) {
                profile = match rng.random_range(0..3) {
                    0 => 0xBEDE,
                    1 => 0x1000 | rng.random_range(0..16u16),
                    _ => rng.random(),
                };
            }
            fed += 1;
            match HeaderExtension::parse(profile, &block) {
                Ok(e) => {
                    ok += 1;
                    assert!(within(e.data, &block));
                    elements += check_elements(&e);
                }
                Err(_) => err += 1,
            }
            // The iterator also runs on unvalidated blocks (the fields are public).
            check_elements(&HeaderExtension {
                profile,
                data: &block,
            });
        }
        println!(
            "extensions {form:?}: {fed} blocks fed, {ok} parsed ({elements} elements), {err} rejected"
        );
        assert!(fed >= n);
        assert!(ok > 0 && err > 0, "mutations should hit both outcomes");
    }
}

// ---------------------------------------------------------------------------------------------
// RTCP compound packets

/// The kinds of RTCP packet the parser tells apart.
const RTCP_KINDS: [&str; 6] = ["SR", "RR", "NACK", "PLI", "FIR", "other"];

fn rtcp_kind(p: &RtcpPacket<'_>) -> usize {
    match p {
        RtcpPacket::SenderReport { .. } => 0,
        RtcpPacket::ReceiverReport { .. } => 1,
        RtcpPacket::Nack(_) => 2,
        RtcpPacket::Pli { .. } => 3,
        RtcpPacket::Fir(_) => 4,
        _ => 5,
    }
}

/// A valid compound packet and the kinds of its packets, in order.
fn random_rtcp(rng: &mut ChaCha20Rng) -> (Vec<u8>, Vec<usize>) {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    let mut kinds = Vec::new();
    let mut block = || ReportBlock {
        ssrc: rng.random(),
        fraction_lost: rng.random(),
        cumulative_lost: rng.random_range(-0x80_0000..0x80_0000),
        extended_highest_seq: rng.random(),
        jitter: rng.random(),
        last_sr: rng.random(),
        delay_since_last_sr: rng.random(),
    };
    let blocks: Vec<ReportBlock> = (0..31).map(|_| block()).collect();
    for _ in 0..rng.random_range(1..5) {
        let kind = rng.random_range(0..6);
        kinds.push(kind);
        n += match kind {
            0 => rtcp::write_sr(
                &SenderInfo {
                    ssrc: rng.random(),
                    ntp: rng.random(),
                    rtp_timestamp: rng.random(),
                    packet_count: rng.random(),
                    octet_count: rng.random(),
                },
                &blocks[..rng.random_range(0..4)],
                &mut buf[n..],
            ),
            1 => rtcp::write_rr(
                rng.random(),
                &blocks[..rng.random_range(0..4)],
                &mut buf[n..],
            ),
            2 => {
                let base: u16 = rng.random();
                let lost: Vec<u16> = (0..rng.random_range(1..40))
                    .map(|_| base.wrapping_add(rng.random_range(0..200)))
                    .collect();
                rtcp::write_nack(rng.random(), rng.random(), &lost, &mut buf[n..])
            }
            3 => rtcp::write_pli(rng.random(), rng.random(), &mut buf[n..]),
            4 => {
                let entries: Vec<FirEntry> = (0..rng.random_range(1..4))
                    .map(|_| FirEntry {
                        ssrc: rng.random(),
                        seq_nr: rng.random(),
                    })
                    .collect();
                rtcp::write_fir(rng.random(), &entries, &mut buf[n..])
            }
            _ => {
                // SDES, BYE, APP, XR, another transport or payload-specific feedback message
                // (TWCC, REMB...), any of them padded.
                let (pt, count) = match rng.random_range(0..6) {
                    0 => (202, rng.random_range(0..32)),
                    1 => (203, rng.random_range(0..32)),
                    2 => (204, rng.random_range(0..32)),
                    3 => (207, 0),
                    4 => (205, [3, 15, 0, 31][rng.random_range(0..4)]),
                    _ => (206, [2, 3, 15, 31][rng.random_range(0..4)]),
                };
                let words = rng.random_range(0..12);
                let pad = if words > 0 && rng.random_bool(0.3) {
                    rng.random_range(1..=(4 * words).min(255))
                } else {
                    0
                };
                let total = 4 + 4 * words;
                let out = &mut buf[n..n + total];
                out[0] = 0x80 | if pad > 0 { 0x20 } else { 0 } | count;
                out[1] = pt;
                out[2..4].copy_from_slice(&(words as u16).to_be_bytes());
                for b in &mut out[4..] {
                    *b = rng.random();
                }
                if pad > 0 {
                    out[total - 1] = pad as u8;
                }
                Ok(total)
            }
        }
        .expect("fits");
    }
    buf.truncate(n);
    (buf, kinds)
}

#[test]
fn rtcp_parser_survives_mutations() {
    let n = cases();
    let mut rng = common::rng(6002);
    let (mut fed, mut errors) = (0usize, 0usize);
    let mut per_kind = [0usize; RTCP_KINDS.len()];
    while fed < n {
        let mut buf = if rng.random_ratio(1, 16) {
            let len = rng.random_range(0..80);
            random_bytes(&mut rng, len)
        } else {
            let (b, kinds) = random_rtcp(&mut rng);
            // Oracle: a valid compound parses completely, packet kinds in order.
            let got: Vec<usize> = rtcp::parse_compound(&b)
                .map(|p| rtcp_kind(&p.expect("valid RTCP")))
                .collect();
            assert_eq!(got, kinds);
            let mut b = b;
            mutate(&mut rng, &mut b);
            b
        };
        if rng.random_ratio(1, 8) && !buf.is_empty() {
            buf[0] = (buf[0] & 0x3f) | 0x80; // keep version 2 more often
        }
        fed += 1;
        let mut packets = 0;
        for p in rtcp::parse_compound(&buf) {
            packets += 1;
            assert!(
                packets <= buf.len() / 4 + 1,
                "RTCP iterator does not advance"
            );
            match p {
                Ok(p) => {
                    per_kind[rtcp_kind(&p)] += 1;
                    match p {
                        RtcpPacket::SenderReport { reports, .. }
                        | RtcpPacket::ReceiverReport { reports, .. } => {
                            assert!(reports.len() <= 31);
                            assert_eq!(reports.iter().count(), reports.len());
                        }
                        RtcpPacket::Nack(nack) => {
                            assert!(nack.lost().count() <= buf.len() / 4 * 17);
                        }
                        RtcpPacket::Fir(f) => {
                            assert!(f.entries().count() <= buf.len() / 8);
                        }
                        RtcpPacket::Other { body, .. } => assert!(within(body, &buf)),
                        _ => {}
                    }
                }
                Err(_) => errors += 1,
            }
        }
    }
    let parsed: usize = per_kind.iter().sum();
    println!("RTCP: {fed} compounds fed, {parsed} packets parsed, {errors} errors");
    for (kind, count) in RTCP_KINDS.iter().zip(per_kind) {
        println!("  {kind}: {count}");
        assert!(count > 0, "no mutated {kind} packet was parsed");
    }
    assert!(fed >= n);
    assert!(errors > 0, "mutations should hit both outcomes");
}

// ---------------------------------------------------------------------------------------------
// SFrame header

/// A random value of random magnitude (so every extended-field length is reached).
fn random_magnitude(rng: &mut ChaCha20Rng) -> u64 {
    match rng.random_range(0..=64) {
        0 => 0,
        bits => rng.random::<u64>() >> (64 - bits),
    }
}

/// The SFrame header of RFC 9605 4.3, decoded independently of the crate: (key id, counter,
/// length), or `None` if `data` ends inside the header.
fn reference_sframe_header(data: &[u8]) -> Option<(u64, u64, usize)> {
    let cfg = *data.first()?;
    let mut pos = 1;
    let mut field = |x: bool, v: u8| {
        if !x {
            return Some(u64::from(v));
        }
        let len = usize::from(v) + 1;
        let mut value = 0u64;
        for i in 0..len {
            value = (value << 8) | u64::from(*data.get(pos + i)?);
        }
        pos += len;
        Some(value)
    };
    let k = field(cfg & 0x80 != 0, (cfg >> 4) & 7)?;
    let c = field(cfg & 0x08 != 0, cfg & 7)?;
    Some((k, c, pos))
}

#[test]
fn sframe_header_parser_survives_mutations() {
    let n = cases();
    let mut rng = common::rng(6008);
    let (mut fed, mut ok, mut rejected, mut canonical) = (0usize, 0usize, 0usize, 0usize);
    let mut out = [0u8; MAX_HEADER_LEN];
    while fed < n {
        let mut data = if rng.random_ratio(1, 4) {
            let len = rng.random_range(0..=20);
            random_bytes(&mut rng, len)
        } else {
            let (k, c) = (random_magnitude(&mut rng), random_magnitude(&mut rng));
            let len = write_sframe_header(k, c, &mut out).expect("fits");
            let mut d = out[..len].to_vec();
            let body = rng.random_range(0..8);
            d.extend(random_bytes(&mut rng, body));
            // Oracle: a written header parses back.
            let h = parse_sframe_header(&d).expect("valid header");
            assert_eq!((h.key_id, h.counter, h.len), (k, c, len));
            if rng.random_ratio(3, 4) {
                mutate(&mut rng, &mut d);
            }
            d
        };
        if rng.random_ratio(1, 32) {
            data.truncate(rng.random_range(0..=data.len()));
        }
        fed += 1;
        let parsed = parse_sframe_header(&data);
        let expected = reference_sframe_header(&data);
        assert_eq!(
            parsed.map(|h| (h.key_id, h.counter, h.len)),
            expected,
            "header {data:02x?}"
        );
        let Some(h) = parsed else {
            rejected += 1;
            continue;
        };
        ok += 1;
        assert!(h.len <= data.len() && h.len <= MAX_HEADER_LEN);
        // Writing the parsed values back gives the shortest header for them, which parses back.
        let m = write_sframe_header(h.key_id, h.counter, &mut out).expect("fits MAX_HEADER_LEN");
        assert_eq!(m, sframe_header_len(h.key_id, h.counter));
        assert!(m <= h.len);
        let again = parse_sframe_header(&out[..m]).expect("written header");
        assert_eq!(
            (again.key_id, again.counter, again.len),
            (h.key_id, h.counter, m)
        );
        assert_eq!(
            write_sframe_header(h.key_id, h.counter, &mut out[..m - 1]),
            None
        );
        if m == h.len {
            canonical += 1;
            assert_eq!(
                &out[..m],
                &data[..m],
                "canonical header must be written identically"
            );
        }
    }
    println!("SFrame header: {fed} fed, {ok} parsed ({canonical} canonical), {rejected} truncated");
    assert!(fed >= n);
    assert!(ok > 0 && rejected > 0 && canonical > 0 && canonical < ok);
}

// ---------------------------------------------------------------------------------------------
// Opus depacketizer

#[test]
fn opus_depacketizer_survives_mutations() {
    let n = cases();
    let mut rng = common::rng(6009);
    let ssrc: u32 = rng.random();
    let mut seq: u16 = rng.random_range(65000..=65535);
    let mut tx = OpusPacketizer::new(ssrc, 111, seq, rng.random());
    let mut rx = OpusDepacketizer::new(Some(111));
    let mut buf = [0u8; 1500];
    let (mut fed, mut ok, mut err, mut clean) = (0usize, 0usize, 0usize, 0usize);
    while fed < n {
        if rng.random_ratio(1, 500) {
            // A sequence-number jump (a sender restart keeping its SSRC).
            seq = seq.wrapping_add(rng.random_range(100..40_000));
            tx = OpusPacketizer::new(ssrc, 111, seq, rng.random());
        }
        if rng.random_ratio(1, 50) {
            tx.skip(Duration::from_millis(rng.random_range(20..2000)));
        }
        let len = rng.random_range(1..400);
        let opus = random_bytes(&mut rng, len);
        let plen = tx
            .packetize(&opus, Duration::from_millis(20), &mut buf)
            .expect("packetize");
        seq = seq.wrapping_add(1);
        let mut pkt = buf[..plen].to_vec();
        // The first packet fixes the SSRC, so it is never mutated.
        let mutated = fed > 0 && rng.random_bool(0.5);
        if mutated {
            mutate(&mut rng, &mut pkt);
        }
        let Ok(p) = RtpPacket::parse(&pkt) else {
            assert!(mutated, "a valid Opus RTP packet did not parse");
            continue;
        };
        fed += 1;
        match rx.depacketize(&p) {
            Ok(f) => {
                ok += 1;
                assert!(!f.payload.is_empty() && f.payload == p.payload);
                assert_eq!(f.sequence as u16, p.header.sequence);
                assert_eq!(f.timestamp as u32, p.header.timestamp);
                assert_eq!(f.marker, p.header.marker);
                assert!(p.header.payload_type == 111 && p.header.ssrc == ssrc);
                if !mutated {
                    clean += 1;
                    assert_eq!(f.payload, &opus[..]);
                }
            }
            Err(e) => {
                assert!(mutated, "a valid Opus packet was rejected: {e}");
                err += 1;
            }
        }
    }
    println!("Opus: {fed} packets fed, {ok} accepted ({clean} unmutated), {err} rejected");
    assert!(fed >= n);
    assert!(ok > 0 && err > 0, "mutations should hit both outcomes");
}

// ---------------------------------------------------------------------------------------------
// H.264 and VP8: depacketizers and the frame assembler

/// A frame and its payloads as the packetizer made them.
struct TestFrame {
    /// What the depacketizer must rebuild.
    expected: Vec<u8>,
    keyframe: bool,
    /// Payloads and whether each is the last of the frame.
    payloads: Vec<(Vec<u8>, bool)>,
}

/// An H.264 access unit (AUD, SPS and PPS for keyframes, 1 to 3 slices) without zero bytes in
/// the NAL units, so the expected Annex B output is exact, packetized under `max_payload`.
fn h264_frame(rng: &mut ChaCha20Rng, max_payload: usize) -> TestFrame {
    let keyframe = rng.random_bool(0.2);
    let body = |rng: &mut ChaCha20Rng, len: usize| -> Vec<u8> {
        (0..len).map(|_| rng.random_range(1..=255u8)).collect()
    };
    let mut nals: Vec<Vec<u8>> = Vec::new();
    if rng.random_bool(0.3) {
        nals.push(vec![0x09, 0xf0]);
    }
    if keyframe {
        let l = rng.random_range(3..20);
        nals.push([vec![0x67], body(rng, l)].concat());
        let l = rng.random_range(1..6);
        nals.push([vec![0x68], body(rng, l)].concat());
    }
    for i in 0..rng.random_range(1..4) {
        let len = if rng.random_bool(0.1) {
            rng.random_range(1000..6000)
        } else {
            rng.random_range(1..600)
        };
        let mut nal = vec![if keyframe { 0x65 } else { 0x41 }];
        let mut b = body(rng, len);
        // first_mb_in_slice == 0 (a single 1 bit) only for the first slice.
        b[0] = if i == 0 {
            b[0] | 0x80
        } else {
            (b[0] & 0x7f).max(1)
        };
        nal.extend(b);
        nals.push(nal);
    }
    let mut au = Vec::new();
    let mut expected = Vec::new();
    for nal in &nals {
        if rng.random_bool(0.5) {
            au.extend([0, 0, 1]);
        } else {
            au.extend([0, 0, 0, 1]);
        }
        au.extend(nal);
        expected.extend([0, 0, 0, 1]);
        expected.extend(nal);
    }
    let p = H264Packetizer::new(max_payload).expect("packetizer");
    let mut it = p.packetize(&au);
    let mut buf = vec![0u8; max_payload];
    let mut payloads = Vec::new();
    while let Some(c) = it.next_into(&mut buf) {
        let c = c.expect("payload");
        payloads.push((buf[..c.len].to_vec(), c.last));
    }
    TestFrame {
        expected,
        keyframe,
        payloads,
    }
}

/// A VP8 frame (the P bit of its first byte clear for keyframes), packetized.
fn vp8_frame(rng: &mut ChaCha20Rng, p: &mut Vp8Packetizer, max_payload: usize) -> TestFrame {
    let keyframe = rng.random_bool(0.2);
    let len = if rng.random_bool(0.1) {
        rng.random_range(1000..6000)
    } else {
        rng.random_range(1..600)
    };
    let mut frame = random_bytes(rng, len);
    frame[0] = if keyframe {
        frame[0] & !1
    } else {
        frame[0] | 1
    };
    let mut it = p.packetize(&frame);
    let mut buf = vec![0u8; max_payload];
    let mut payloads = Vec::new();
    while let Some(c) = it.next_into(&mut buf) {
        let c = c.expect("payload");
        payloads.push((buf[..c.len].to_vec(), c.last));
    }
    TestFrame {
        expected: frame,
        keyframe,
        payloads,
    }
}

/// A payload format under test: its depacketizer and a frame generator.
trait Format {
    type D: Depacketizer + Default;
    const NAME: &'static str;
    fn frame(&mut self, rng: &mut ChaCha20Rng) -> TestFrame;
}

struct H264 {
    max_payload: usize,
}

impl Format for H264 {
    type D = H264Depacketizer;
    const NAME: &'static str = "H.264";
    fn frame(&mut self, rng: &mut ChaCha20Rng) -> TestFrame {
        if rng.random_ratio(1, 8) {
            self.max_payload = rng.random_range(16..1200);
        }
        h264_frame(rng, self.max_payload)
    }
}

struct Vp8 {
    p: Vp8Packetizer,
    max_payload: usize,
}

impl Format for Vp8 {
    type D = Vp8Depacketizer;
    const NAME: &'static str = "VP8";
    fn frame(&mut self, rng: &mut ChaCha20Rng) -> TestFrame {
        if rng.random_ratio(1, 8) {
            self.max_payload = rng.random_range(16..1200);
            self.p = Vp8Packetizer::new(self.max_payload, rng.random()).expect("packetizer");
        }
        vp8_frame(rng, &mut self.p, self.max_payload)
    }
}

fn h264() -> H264 {
    H264 { max_payload: 200 }
}

fn vp8() -> Vp8 {
    Vp8 {
        p: Vp8Packetizer::new(200, 0).expect("packetizer"),
        max_payload: 200,
    }
}

/// Damages the payload sequence of one frame: mutated, lost, duplicated, swapped, foreign or
/// random payloads.
fn damage(rng: &mut ChaCha20Rng, payloads: &mut Vec<Vec<u8>>) {
    for p in payloads.iter_mut() {
        if rng.random_bool(0.3) {
            mutate(rng, p);
        }
    }
    for _ in 0..rng.random_range(0..3) {
        let len = payloads.len();
        match rng.random_range(0..5) {
            0 if len > 0 => {
                payloads.remove(rng.random_range(0..len));
            }
            1 if len > 0 => {
                let p = payloads[rng.random_range(0..len)].clone();
                payloads.insert(rng.random_range(0..=len), p);
            }
            2 if len > 1 => payloads.swap(rng.random_range(0..len), rng.random_range(0..len)),
            3 => {
                let l = rng.random_range(0..40);
                let p = random_bytes(rng, l);
                payloads.insert(rng.random_range(0..=len), p);
            }
            _ => {}
        }
    }
}

/// Feeds whole frames, intact or damaged, to the depacketizer of `F` as the assembler does
/// (begin, every payload, end), into frame buffers of several sizes.
fn depacketizer_survives<F: Format>(mut format: F, seed: u64) {
    let n = cases();
    let mut rng = common::rng(seed);
    let mut d = F::D::default();
    let caps = [64usize, 1500, 8192, 32768];
    let mut bufs: Vec<FrameBuf> = caps.iter().map(|&c| FrameBuf::with_capacity(c)).collect();
    let (mut fed, mut accepted, mut frames, mut intact) = (0usize, 0usize, 0usize, 0usize);
    while fed < n {
        let f = format.frame(&mut rng);
        let mut payloads: Vec<Vec<u8>> = f.payloads.iter().map(|(p, _)| p.clone()).collect();
        let clean = rng.random_bool(0.25);
        if !clean {
            damage(&mut rng, &mut payloads);
        }
        let which = rng.random_range(0..caps.len());
        let (cap, out) = (caps[which], &mut bufs[which]);
        out.clear();
        d.begin_frame();
        let mut result = Ok(());
        let mut keyframe = false;
        for p in &payloads {
            fed += 1;
            keyframe |= d.is_keyframe(p);
            let _ = d.is_frame_start(p);
            // Keep feeding after an error: the depacketizer must stay sound whatever it is fed.
            let r = d.depacketize(p, out);
            if r.is_ok() {
                accepted += 1;
            }
            result = result.and(r);
            assert!(out.as_slice().len() <= cap, "frame outgrew its buffer");
        }
        result = result.and(d.end_frame());
        frames += 1;
        if clean {
            assert_eq!(keyframe, f.keyframe, "{}: keyframe detection", F::NAME);
            assert!(
                d.is_frame_start(&payloads[0]),
                "{}: frame start not seen",
                F::NAME
            );
            if f.expected.len() <= cap {
                intact += 1;
                assert!(
                    result.is_ok(),
                    "{}: intact frame rejected: {result:?}",
                    F::NAME
                );
                assert_eq!(out.as_slice(), &f.expected[..], "{}: intact frame", F::NAME);
            } else {
                assert!(result.is_err(), "{}: oversized frame accepted", F::NAME);
            }
        }
    }
    println!(
        "{} depacketizer: {fed} payloads fed in {frames} frames, {accepted} accepted, {intact} intact frames rebuilt exactly",
        F::NAME
    );
    assert!(fed >= n);
    assert!(intact > 0 && accepted < fed);
}

#[test]
fn h264_depacketizer_survives_mutations() {
    depacketizer_survives(h264(), 6003);
}

#[test]
fn vp8_depacketizer_survives_mutations() {
    depacketizer_survives(vp8(), 6004);
    // And the bare descriptor parser: written descriptors round-trip, mutated ones stay in
    // bounds.
    let n = cases();
    let mut rng = common::rng(6010);
    let mut parsed = 0;
    for _ in 0..n {
        let d = Vp8Descriptor {
            non_reference: rng.random(),
            start_of_partition: rng.random(),
            partition_id: rng.random_range(0..8),
            picture_id: rng.random_bool(0.7).then(|| rng.random_range(0..0x8000)),
            tl0_pic_idx: rng.random_bool(0.3).then(|| rng.random()),
            tid: rng
                .random_bool(0.3)
                .then(|| (rng.random_range(0..4), rng.random())),
            key_idx: rng.random_bool(0.3).then(|| rng.random_range(0..32)),
        };
        let mut b = vec![0u8; 8];
        let len = d.write(&mut b).expect("descriptor");
        b.truncate(len);
        assert_eq!(
            Vp8Descriptor::parse(&b).expect("valid descriptor"),
            (d, len)
        );
        mutate(&mut rng, &mut b);
        if let Ok((_, used)) = Vp8Descriptor::parse(&b) {
            parsed += 1;
            assert!(used <= b.len() && used <= 6);
        }
    }
    println!("VP8 descriptor: {n} mutated, {parsed} parsed");
    assert!(parsed > 0 && parsed < n);
}

/// One packet on its way to the assembler.
#[derive(Clone)]
struct Sent {
    /// Delivery order key: the send index plus a bounded random delay (the reordering).
    key: u64,
    frame: u64,
    /// Whether this is the first packet of its frame.
    first: bool,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: Vec<u8>,
}

impl PartialEq for Sent {
    fn eq(&self, o: &Self) -> bool {
        (self.key, self.frame, self.seq) == (o.key, o.frame, o.seq)
    }
}
impl Eq for Sent {}
impl PartialOrd for Sent {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Sent {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.key, self.frame, self.seq).cmp(&(o.key, o.frame, o.seq))
    }
}

/// What the test knows about a frame it sent (clean mode).
struct Tracked {
    ts: u32,
    expected: Vec<u8>,
    keyframe: bool,
    packets: usize,
    stored: usize,
    first_stored: bool,
    emitted: bool,
}

/// What one assembler run has seen so far.
#[derive(Default)]
struct Seen {
    /// Events come out in sequence order: the next one starts at or after this.
    next_expected_seq: u64,
    frames: usize,
    dropped: usize,
    /// H.264 frames passed on without their lost leading packet (see `check_events`).
    partial: usize,
    /// Insert outcomes: stored, duplicate, late, overflow, oversized.
    outcomes: [usize; 5],
}

/// The state of the simulated receiver.
struct Rx<'a, D: Depacketizer> {
    asm: FrameAssembler<D>,
    cfg: AssemblerConfig,
    window: u64,
    dirty: bool,
    now: MediaTime,
    tracked: &'a mut VecDeque<(u64, Tracked)>,
    by_ts: &'a HashMap<u32, u64>,
    seen: Seen,
}

impl<D: Depacketizer> Rx<'_, D> {
    /// Polls until nothing is ready and checks each event. Runs inside the allocation counter,
    /// so it only reads the tracking tables.
    fn check_events(&mut self) {
        let (window, dirty, max_frame) = (self.window, self.dirty, self.cfg.max_frame_bytes);
        let seen = &mut self.seen;
        let mut polls = 0u64;
        while let Some(ev) = self.asm.poll(self.now) {
            polls += 1;
            assert!(polls <= 4 * window + 100_000, "poll does not terminate");
            match ev {
                AssemblerEvent::Frame(f) => {
                    seen.frames += 1;
                    assert!(f.first_seq >= seen.next_expected_seq, "frame out of order");
                    assert!(f.first_seq <= f.last_seq && f.last_seq - f.first_seq < window);
                    assert!(f.data.len() <= max_frame, "frame over max_frame_bytes");
                    seen.next_expected_seq = f.last_seq + 1;
                    if dirty {
                        continue;
                    }
                    let id = *self
                        .by_ts
                        .get(&f.timestamp)
                        .expect("frame with an unknown timestamp");
                    let base = self.tracked.front().map_or(0, |(i, _)| *i);
                    let (_, t) = &mut self.tracked[(id - base) as usize];
                    assert_eq!(t.ts, f.timestamp);
                    assert!(!t.emitted, "frame passed on twice");
                    if f.data != &t.expected[..] {
                        // An H.264 access unit whose leading packet (AUD or parameter sets) was
                        // lost still has a frame start, its first slice, so the rest (whole NAL
                        // units) is passed on: the module docs define a frame's first packet by
                        // `is_frame_start`.
                        assert!(
                            !t.first_stored && t.expected.ends_with(f.data),
                            "frame {id} rebuilt wrongly"
                        );
                        seen.partial += 1;
                    }
                    assert_eq!(f.keyframe, t.keyframe);
                    t.emitted = true;
                }
                AssemblerEvent::Dropped(d) => {
                    seen.dropped += 1;
                    assert!(d.first_seq >= seen.next_expected_seq, "drop out of order");
                    assert!(d.first_seq < d.end_seq && d.end_seq - d.first_seq <= window);
                    assert_eq!(d.received + d.missing, d.end_seq - d.first_seq);
                    seen.next_expected_seq = d.end_seq;
                }
            }
        }
    }

    /// Delivers one packet at a slightly later time, then polls.
    fn deliver(&mut self, rng: &mut ChaCha20Rng, p: Sent) {
        self.now = self.now + Duration::from_micros(rng.random_range(0..3000));
        if self.dirty && rng.random_ratio(1, 2000) {
            self.now = self.now + Duration::from_millis(rng.random_range(100..2000));
        }
        let spec = RtpPacketSpec {
            header: RtpHeader {
                marker: p.marker,
                payload_type: 96,
                sequence: p.seq,
                timestamp: p.ts,
                ssrc: 1,
            },
            payload: &p.payload,
            ..Default::default()
        };
        let mut buf = [0u8; 1500];
        let len = spec.write_to(&mut buf).expect("fits");
        let pkt = RtpPacket::parse(&buf[..len]).expect("parse");
        let (outcome, counts) = count_allocations(|| {
            let o = self.asm.insert(&pkt, self.now);
            self.check_events();
            o
        });
        assert_eq!(counts.total(), 0, "the assembler allocated: {counts:?}");
        self.seen.outcomes[outcome as usize] += 1;
        if !self.dirty && outcome == InsertOutcome::Stored {
            let base = self.tracked.front().map_or(0, |(i, _)| *i);
            if p.frame >= base {
                let t = &mut self.tracked[(p.frame - base) as usize].1;
                t.stored += 1;
                t.first_stored |= p.first;
            }
        }
    }
}

/// Streams packetized frames through a network with bounded reordering, duplicates and loss
/// into a [`FrameAssembler`]. `dirty` adds mutated payloads, flipped marker bits, altered
/// timestamps, sequence-number jumps and restarts, and timing stalls.
///
/// Always checked: nothing panics or loops, `insert` and `poll` never allocate (memory stays
/// bounded), events come out in sequence order, and every frame and drop is within
/// `max_frame_bytes` and the packet window. In clean mode, additionally: every frame passed on
/// is a frame that was sent, and every frame whose packets were all stored is passed on.
fn assembler_survives<F: Format>(mut format: F, seed: u64, dirty: bool) {
    assert!(is_installed(), "the counting allocator must be installed");
    let n = cases();
    let mut rng = common::rng(seed);
    let max_packets = [16usize, 64, 100][rng.random_range(0..3)];
    let cfg = AssemblerConfig {
        max_packets,
        max_payload: 1200,
        max_frame_bytes: [2000, 8192][rng.random_range(0..2)],
        max_wait: Duration::from_millis(100),
    };
    let window = max_packets.next_power_of_two() as u64;
    let reorder = rng.random_range(1..12u64);
    let mut seq: u16 = rng.random_range(65000..=65535);
    let mut ts: u32 = rng.random_range(u32::MAX - 100_000..=u32::MAX);
    let mut net: BinaryHeap<Reverse<Sent>> = BinaryHeap::new();
    let mut tracked: VecDeque<(u64, Tracked)> = VecDeque::new();
    let mut by_ts: HashMap<u32, u64> = HashMap::new();
    let (mut sent_index, mut frame_id) = (0u64, 0u64);
    let (mut fed, mut jumps, mut must_emit_checked) = (0usize, 0usize, 0usize);
    let mut now = MediaTime::ZERO;
    let mut seen = Seen::default();
    let mut asm = Some(FrameAssembler::new(F::D::default(), cfg).expect("assembler"));

    while fed < n {
        let f = format.frame(&mut rng);
        if dirty && rng.random_ratio(1, 300) {
            jumps += 1;
            seq = if rng.random_bool(0.5) {
                seq.wrapping_add(rng.random_range(window as u16..40_000))
            } else {
                rng.random()
            };
        }
        ts = ts.wrapping_add(3000);
        if !dirty {
            by_ts.insert(ts, frame_id);
            tracked.push_back((
                frame_id,
                Tracked {
                    ts,
                    expected: f.expected.clone(),
                    keyframe: f.keyframe,
                    packets: f.payloads.len(),
                    stored: 0,
                    first_stored: false,
                    emitted: false,
                },
            ));
        }
        for (i, (payload, last)) in f.payloads.into_iter().enumerate() {
            let mut s = Sent {
                key: sent_index + rng.random_range(0..reorder),
                frame: frame_id,
                first: i == 0,
                seq,
                ts,
                marker: last,
                payload,
            };
            sent_index += 1;
            seq = seq.wrapping_add(1);
            if dirty {
                if rng.random_bool(0.1) {
                    mutate(&mut rng, &mut s.payload);
                    s.payload.truncate(1400); // sometimes over max_payload
                }
                if rng.random_ratio(1, 50) {
                    s.marker = !s.marker;
                }
                if rng.random_ratio(1, 50) {
                    s.ts ^= 1 << rng.random_range(0..32);
                }
            }
            if rng.random_ratio(1, 30) {
                continue; // lost
            }
            if rng.random_ratio(1, 30) {
                let mut d = s.clone();
                d.key += rng.random_range(0..2 * reorder);
                net.push(Reverse(d));
            }
            net.push(Reverse(s));
        }
        frame_id += 1;
        // Deliver what is due: everything whose delay has passed.
        let mut rx = Rx {
            asm: asm.take().expect("assembler"),
            cfg,
            window,
            dirty,
            now,
            tracked: &mut tracked,
            by_ts: &by_ts,
            seen: std::mem::take(&mut seen),
        };
        while net
            .peek()
            .is_some_and(|Reverse(p)| p.key + reorder <= sent_index)
        {
            let Some(Reverse(p)) = net.pop() else { break };
            fed += 1;
            rx.deliver(&mut rng, p);
        }
        (asm, now, seen) = (Some(rx.asm), rx.now, rx.seen);
        // Frames far behind can no longer change: check them and forget them.
        while tracked.len() > 4 * window as usize {
            let Some((id, t)) = tracked.pop_front() else {
                break;
            };
            by_ts.remove(&t.ts);
            check_complete_emitted(id, &t, &cfg, window, reorder);
            must_emit_checked += 1;
        }
    }
    let mut rx = Rx {
        asm: asm.take().expect("assembler"),
        cfg,
        window,
        dirty,
        now,
        tracked: &mut tracked,
        by_ts: &by_ts,
        seen,
    };
    while let Some(Reverse(p)) = net.pop() {
        fed += 1;
        rx.deliver(&mut rng, p);
    }
    rx.asm.finish();
    let (_, counts) = count_allocations(|| rx.check_events());
    assert_eq!(counts.total(), 0);
    let later = rx.now + Duration::from_secs(10);
    assert!(rx.asm.poll(later).is_none(), "events after finish");
    let mut missing = [0u16; 64];
    assert!(rx.asm.missing_seqs(&mut missing) <= 64);
    let st = rx.asm.stats();
    let seen = rx.seen;
    for (id, t) in &tracked {
        check_complete_emitted(*id, t, &cfg, window, reorder);
        must_emit_checked += 1;
    }
    println!(
        "{} assembler ({}, window {window}, max frame {} B, reorder {reorder}): {fed} packets \
         fed, {} frames ({} partial H.264 access units), {} drops, {jumps} seq jumps; insert \
         outcomes [stored, dup, late, overflow, oversized] = {:?}; {st:?}",
        F::NAME,
        if dirty { "damaged" } else { "clean" },
        cfg.max_frame_bytes,
        seen.frames,
        seen.partial,
        seen.dropped,
        seen.outcomes,
    );
    assert!(fed >= n);
    assert_eq!(st.frames as usize, seen.frames);
    assert!(seen.frames > 0 && seen.dropped > 0);
    if !dirty {
        assert!(must_emit_checked > 0);
    }
}

/// A frame whose packets were all stored must have been passed on if it fits the frame size
/// and, with the reordering margin, the packet window (a packet further than the window ahead
/// of a pending frame gives that frame up, as documented). A frame over the limits must not
/// have been passed on whole.
fn check_complete_emitted(id: u64, t: &Tracked, cfg: &AssemblerConfig, window: u64, reorder: u64) {
    let size_ok = t.expected.len() <= cfg.max_frame_bytes;
    if t.stored == t.packets && size_ok && t.packets as u64 + 3 * reorder <= window {
        assert!(
            t.emitted,
            "frame {id} arrived complete but was not passed on"
        );
    }
    if t.first_stored && (!size_ok || t.packets as u64 > window) {
        assert!(
            !t.emitted,
            "frame {id} is over the limits but was passed on"
        );
    }
}

#[test]
fn h264_assembler_survives_damaged_streams() {
    assembler_survives(h264(), 6011, true);
}

#[test]
fn vp8_assembler_survives_damaged_streams() {
    assembler_survives(vp8(), 6012, true);
}

#[test]
fn h264_assembler_rebuilds_clean_streams() {
    assembler_survives(h264(), 6013, false);
}

#[test]
fn vp8_assembler_rebuilds_clean_streams() {
    assembler_survives(vp8(), 6014, false);
}

// ---------------------------------------------------------------------------------------------
// SFrame unprotect and the key-agreement blob

#[test]
fn no_mutated_sframe_frame_is_accepted() {
    let n_cases = cases();
    let mut rng = common::rng(6005);
    let key = b"fuzzing base key, 32 bytes long!";
    let mut total = 0usize;
    for (suite, count) in [
        (CipherSuite::AesGcm128Sha256, n_cases),
        (CipherSuite::AesGcm256Sha512, n_cases / 10),
        (CipherSuite::AesCtr128HmacSha256_80, n_cases / 10),
        (CipherSuite::AesCtr128HmacSha256_64, n_cases / 10),
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
    assert!(total >= n_cases);
}

#[test]
fn key_blob_parser_survives_mutations() {
    let n = cases();
    let mut rng = common::rng(6006);
    let peer = KeyAgreement::new(&mut rng).public_blob();
    let mut agreed = 0usize;
    for i in 0..n {
        let mut blob = peer.to_vec();
        mutate(&mut rng, &mut blob);
        let ours = KeyAgreement::new(&mut rng);
        if ours.finish(&blob, &(i as u64).to_be_bytes()).is_ok() {
            agreed += 1;
        }
    }
    println!("key blobs: {n} mutated, {agreed} agreed (valid curve points)");
    assert!(
        agreed > 0 && agreed < n,
        "mutations should hit both outcomes"
    );
}
