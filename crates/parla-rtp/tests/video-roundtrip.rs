//! H.264 and VP8 packetize -> lossy, reordering network -> assemble, at MTU 1200, for frames from
//! 100 bytes to 200 kB: complete frames come out bit-identical, incomplete ones are reported and
//! never passed on.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::payload::PayloadChunk;
use parla_rtp::payload::assembler::{
    AssemblerConfig, AssemblerEvent, Depacketizer, FrameAssembler,
};
use parla_rtp::payload::h264::{H264Depacketizer, H264Packetizer};
use parla_rtp::payload::vp8::{Vp8Depacketizer, Vp8Packetizer};
use parla_rtp::rtp::{RTP_HEADER_LEN, RtpHeader, RtpPacket, RtpPacketSpec};
use rand::Rng;
use rand::seq::SliceRandom;

const MTU: usize = 1200;
const MAX_PAYLOAD: usize = MTU - RTP_HEADER_LEN;

/// Random bytes without zeros (so no start code can appear inside a NAL unit).
fn nonzero(rng: &mut impl Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.random_range(1..=255u8)).collect()
}

/// An H.264 access unit of about `size` bytes in Annex B form and its expected reassembly
/// (every NAL behind a 4-byte start code).
fn h264_frame(rng: &mut impl Rng, size: usize, key: bool) -> Vec<u8> {
    let mut au = Vec::new();
    let push = |au: &mut Vec<u8>, header: u8, first: u8, body: Vec<u8>| {
        au.extend([0, 0, 0, 1, header, first]);
        au.extend(body);
    };
    let mut left = size.max(20);
    if key {
        push(&mut au, 0x67, 0x42, nonzero(rng, 8)); // SPS
        push(&mut au, 0x68, 0xce, nonzero(rng, 3)); // PPS
        left = left.saturating_sub(25);
    }
    let slices = rng.random_range(1..=4usize).min(left / 10).max(1);
    for i in 0..slices {
        let n = if i + 1 == slices {
            left
        } else {
            left / (slices - i)
        };
        left -= n;
        let header = if key { 0x65 } else { 0x41 };
        // first_mb_in_slice == 0 only in the first slice (its ue(v) code starts with a 1 bit).
        let first = if i == 0 { 0x88 } else { 0x1a };
        push(&mut au, header, first, nonzero(rng, n.max(4)));
    }
    au
}

fn vp8_frame(rng: &mut impl Rng, size: usize, key: bool) -> Vec<u8> {
    let mut f = nonzero(rng, size);
    f[0] = if key { f[0] & !1 } else { f[0] | 1 };
    f
}

struct Sent {
    data: Vec<u8>,
    timestamp: u32,
    key: bool,
}

#[derive(Default, Debug)]
struct Outcome {
    frames: usize,
    complete: usize,
    dropped_events: usize,
    lost_frames: usize,
    /// H.264 access units passed on without their lost leading packets (see `check`).
    partial: usize,
    /// Which frames were passed on.
    emitted: Vec<bool>,
}

impl Outcome {
    /// Without loss every frame is passed on, except that a frame just before a keyframe may be
    /// given up when its last packets were reordered behind the whole keyframe by more than
    /// `KEYFRAME_REORDER` (the keyframe makes it pointless).
    fn check_lossless(&self, frames: &[Sent]) {
        for (i, &e) in self.emitted.iter().enumerate() {
            assert!(
                e || frames.get(i + 1).is_some_and(|f| f.key),
                "no loss: frame {i} was not passed on and no keyframe follows it"
            );
        }
        let keys = frames.iter().filter(|f| f.key).count();
        assert!(self.complete + keys >= self.frames, "{self:?}");
    }
}

/// Sends `frames` through a network with `loss` and reordering; checks the assembler's output.
fn run<D: Depacketizer>(
    depack: D,
    frames: &[Sent],
    mut packetize: impl FnMut(&[u8], &mut dyn FnMut(PayloadChunk, &[u8])),
    rng: &mut impl Rng,
    loss: f64,
) -> Outcome {
    // Packetize everything, 30 frames per second.
    let mut packets: Vec<(MediaTime, Vec<u8>, usize)> = Vec::new();
    let mut seq: u16 = rng.random();
    for (fi, f) in frames.iter().enumerate() {
        let send_time = MediaTime::from_micros(fi as u64 * 33_333);
        let mut emit = |c: PayloadChunk, payload: &[u8]| {
            assert!(c.len <= MAX_PAYLOAD);
            let spec = RtpPacketSpec {
                header: RtpHeader {
                    marker: c.last,
                    payload_type: 96,
                    sequence: seq,
                    timestamp: f.timestamp,
                    ssrc: 7,
                },
                payload: &payload[..c.len],
                ..Default::default()
            };
            let mut buf = vec![0u8; MTU];
            let n = spec.write_to(&mut buf).expect("write");
            assert!(n <= MTU);
            buf.truncate(n);
            seq = seq.wrapping_add(1);
            packets.push((send_time, buf, fi));
        };
        packetize(&f.data, &mut emit);
    }
    // Loss, duplication, and jitter of up to 60 ms (which reorders).
    let mut arrivals: Vec<(MediaTime, Vec<u8>, usize)> = Vec::new();
    let mut delivered: BTreeMap<usize, usize> = BTreeMap::new();
    let mut per_frame: BTreeMap<usize, usize> = BTreeMap::new();
    for (t, p, fi) in packets {
        *per_frame.entry(fi).or_default() += 1;
        if rng.random_bool(loss) {
            continue;
        }
        *delivered.entry(fi).or_default() += 1;
        let copies = if rng.random_bool(0.01) { 2 } else { 1 };
        for _ in 0..copies {
            let at = t + Duration::from_micros(rng.random_range(0..60_000));
            arrivals.push((at, p.clone(), fi));
        }
    }
    arrivals.sort_by_key(|a| a.0);
    // Some packets swap with their neighbour regardless of time.
    for i in 1..arrivals.len() {
        if rng.random_bool(0.05) {
            arrivals.swap(i - 1, i);
        }
    }
    let fully_delivered: Vec<bool> = (0..frames.len())
        .map(|fi| delivered.get(&fi) == per_frame.get(&fi))
        .collect();

    let cfg = AssemblerConfig {
        max_payload: MAX_PAYLOAD,
        max_frame_bytes: 256 * 1024,
        max_wait: Duration::from_millis(100),
        ..Default::default()
    };
    let mut asm = FrameAssembler::new(depack, cfg).expect("assembler");
    let by_ts: BTreeMap<u32, usize> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (f.timestamp, i))
        .collect();
    let mut out = Outcome {
        frames: frames.len(),
        emitted: vec![false; frames.len()],
        ..Default::default()
    };
    let mut last_frame: Option<usize> = None;
    let mut check = |ev: AssemblerEvent<'_>, out: &mut Outcome| match ev {
        AssemblerEvent::Frame(f) => {
            let i = *by_ts.get(&f.timestamp).expect("known timestamp");
            if f.data == &frames[i].data[..] {
                assert!(
                    fully_delivered[i],
                    "frame {i} was passed on without all its packets"
                );
            } else {
                // An H.264 access unit whose leading packets were lost, or came after the
                // assembler gave the gap before them up, still has a frame start (a parameter
                // set or its first slice), so the rest, whole NAL units, is passed on: the
                // assembler's docs define a frame's first packet by `is_frame_start` (as
                // `fuzz-parsers.rs` checks). Nothing else may differ.
                assert!(
                    frames[i].data.ends_with(f.data),
                    "frame {i} must be bit-identical or an H.264 access unit's tail"
                );
                out.partial += 1;
            }
            assert_eq!(f.keyframe, frames[i].key, "keyframe flag of frame {i}");
            assert!(last_frame.is_none_or(|l| i > l), "frames in order");
            last_frame = Some(i);
            out.emitted[i] = true;
            out.complete += 1;
        }
        AssemblerEvent::Dropped(d) => {
            assert!(d.end_seq > d.first_seq);
            out.dropped_events += 1;
        }
    };
    let mut now = MediaTime::ZERO;
    for (at, p, _) in &arrivals {
        now = *at;
        let pkt = RtpPacket::parse(p).expect("parse");
        asm.insert(&pkt, now);
        while let Some(ev) = asm.poll(now) {
            check(ev, &mut out);
        }
    }
    asm.finish();
    while let Some(ev) = asm.poll(now + Duration::from_secs(1)) {
        check(ev, &mut out);
    }
    let lost = fully_delivered.iter().filter(|d| !**d).count();
    out.lost_frames = lost;
    // Every frame whose packets all arrived is passed on, except that a frame may be given up
    // while waiting for a neighbour's missing packets; and every frame with a lost packet is
    // reported dropped (a drop event may cover several frames).
    assert!(out.complete <= frames.len() - lost + out.partial);
    // ... and the assembler does not give up frames it could have completed (jitter here stays
    // below max_wait) beyond a few swallowed by a neighbour's drop.
    assert!(
        out.complete * 10 >= (frames.len() - lost) * 9,
        "complete {} of {} fully delivered",
        out.complete,
        frames.len() - lost
    );
    if lost > 0 {
        assert!(out.dropped_events > 0, "losses must be reported");
    }
    let st = asm.stats();
    assert_eq!(st.frames as usize, out.complete);
    // Only H.264 has starts inside a frame.
    assert!(out.partial <= out.lost_frames / 2, "{out:?}");
    out
}

fn sizes(rng: &mut impl Rng, n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = vec![100, 1199, 1200, 1201, 50_000, 200_000];
    while v.len() < n {
        // Log-uniform between 100 B and 200 kB.
        let e = rng.random_range((100f64).ln()..(200_000f64).ln());
        v.push(e.exp() as usize);
    }
    v.shuffle(rng);
    v
}

#[test]
fn h264_round_trip_with_loss_and_reordering() {
    let mut rng = common::rng(5001);
    let p = H264Packetizer::new(MAX_PAYLOAD).expect("packetizer");
    for loss in [0.0, 0.02, 0.1] {
        let frames: Vec<Sent> = sizes(&mut rng, 120)
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let key = i % 30 == 0;
                Sent {
                    data: h264_frame(&mut rng, n, key),
                    timestamp: 90_000 + i as u32 * 3000,
                    key,
                }
            })
            .collect();
        let o = run(
            H264Depacketizer::default(),
            &frames,
            |au, emit| {
                let mut it = p.packetize(au);
                let mut buf = vec![0u8; MAX_PAYLOAD];
                while let Some(c) = it.next_into(&mut buf) {
                    let c = c.expect("payload");
                    emit(c, &buf);
                }
            },
            &mut rng,
            loss,
        );
        println!("H.264 loss {loss}: {o:?}");
        if loss == 0.0 {
            o.check_lossless(&frames);
        } else {
            assert!(o.complete > 0);
        }
    }
}

#[test]
fn vp8_round_trip_with_loss_and_reordering() {
    let mut rng = common::rng(5002);
    let mut p = Vp8Packetizer::new(MAX_PAYLOAD, 1234).expect("packetizer");
    for loss in [0.0, 0.02, 0.1] {
        let frames: Vec<Sent> = sizes(&mut rng, 120)
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let key = i % 30 == 0;
                Sent {
                    data: vp8_frame(&mut rng, n, key),
                    timestamp: 5 + i as u32 * 3000,
                    key,
                }
            })
            .collect();
        let o = run(
            Vp8Depacketizer,
            &frames,
            |f, emit| {
                let mut it = p.packetize(f);
                let mut buf = vec![0u8; MAX_PAYLOAD];
                while let Some(c) = it.next_into(&mut buf) {
                    let c = c.expect("payload");
                    emit(c, &buf);
                }
            },
            &mut rng,
            loss,
        );
        println!("VP8 loss {loss}: {o:?}");
        // A VP8 frame start is its first packet: never a tail.
        assert_eq!(o.partial, 0);
        if loss == 0.0 {
            o.check_lossless(&frames);
        } else {
            assert!(o.complete > 0);
        }
    }
}
