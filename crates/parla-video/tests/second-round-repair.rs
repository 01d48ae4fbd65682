//! A frame whose repair needs a second request round (its first retransmission was lost) waits
//! for it instead of being given up with every frame after it: the assembler's wait follows the
//! round-trip time (2.5 RTTs, at least the configured 300 ms). The late frame is counted
//! (`frames_late`, `recovered_late`).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::payload::vp8::{Vp8Depacketizer, Vp8Packetizer};
use parla_rtp::rtp::{RtpHeader, RtpPacketSpec};
use parla_video::{ReceiverConfig, ReceiverStats, VideoReceiver};

/// 60 VP8 frames at 30 fps (a keyframe first), three packets each: (send ms, packet).
fn stream() -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut p = Vp8Packetizer::new(1100, 0).unwrap();
    let mut seq = 100u16;
    for i in 0..60u64 {
        let mut frame = vec![(i % 251) as u8 + 1; 2500];
        frame[0] = if i == 0 { 0x10 } else { 0x11 };
        let mut it = p.packetize(&frame);
        let mut chunks = Vec::new();
        let mut buf = [0u8; 1200];
        while let Some(c) = it.next_into(&mut buf) {
            let c = c.unwrap();
            chunks.push((buf[..c.len].to_vec(), c.last));
        }
        for (payload, last) in chunks {
            let spec = RtpPacketSpec {
                header: RtpHeader {
                    marker: last,
                    payload_type: 96,
                    sequence: seq,
                    timestamp: (i * 3000) as u32,
                    ssrc: 1,
                },
                payload: &payload,
                ..Default::default()
            };
            let mut b = vec![0u8; 1300];
            let n = spec.write_to(&mut b).unwrap();
            b.truncate(n);
            out.push((i * 33, b));
            seq = seq.wrapping_add(1);
        }
    }
    out
}

/// Runs the stream through a receiver with round-trip time `rtt`; the middle packet of frame 3
/// is lost and arrives `repair_after` after the frame's first packet. Returns the counters and
/// the frames released.
fn run(rtt: Duration, repair_after: Duration) -> (ReceiverStats, u64) {
    let packets = stream();
    let lost = 3 * 3 + 1;
    let repair_at = packets[lost].0 + repair_after.as_millis() as u64;
    let mut rx = VideoReceiver::new(Vp8Depacketizer, ReceiverConfig::new(1, 9)).unwrap();
    rx.set_rtt(rtt);
    let mut rtcp = [0u8; 1500];
    let mut released = 0;
    for ms in 0..3000u64 {
        let now = MediaTime::from_millis(ms);
        for (i, (at, p)) in packets.iter().enumerate() {
            if (*at == ms && i != lost) || (i == lost && ms == repair_at) {
                rx.on_rtp(p, now);
            }
        }
        rx.poll_rtcp(now, &mut rtcp).unwrap();
        while rx.poll_frame(now).is_some() {
            released += 1;
        }
    }
    (rx.stats(), released)
}

#[test]
fn a_repair_within_two_and_a_half_rtts_is_waited_for() {
    // 200 ms RTT: the frame waits 500 ms; its packet comes after 450 ms (a second round).
    let (s, released) = run(Duration::from_millis(200), Duration::from_millis(450));
    assert_eq!(s.frames_dropped, 0, "{s:?}");
    assert_eq!(released, 60, "{s:?}");
    assert_eq!(s.keyframes_requested, 0, "{s:?}");
    assert_eq!(s.recovered, 1, "{s:?}");
    assert!(s.frames_late >= 1, "{s:?}");
    assert_eq!(s.recovered_late, 1, "{s:?}");
    assert!(s.max_late_us > 0, "{s:?}");
}

#[test]
fn a_repair_later_than_the_wait_gives_the_frame_up_and_asks_for_a_keyframe() {
    // 100 ms RTT: the wait is the configured 300 ms; the same 450 ms repair is too late, and
    // the frames after it (no keyframe comes in this test) are dropped.
    let (s, released) = run(Duration::from_millis(100), Duration::from_millis(450));
    assert!(s.frames_dropped > 50, "{s:?}");
    assert_eq!(released, 3, "{s:?}");
    assert!(s.keyframes_requested >= 1, "{s:?}");
    assert_eq!(s.frames_late, 0, "{s:?}");
}
