//! The codec side of a call's video (what the video thread runs) allocates nothing per frame
//! after warm-up on the Rust side: encoding lends each packet's bytes (no `Vec` per packet) and
//! decoding writes into a reused picture. FFmpeg's own buffers come from its pools (C
//! allocations, not counted here). The media thread's side is counted by `video-call.rs` and
//! `rt_no_alloc.rs`.
#![allow(clippy::unwrap_used)]

#[global_allocator]
static A: parla_core::alloc_counter::CountingAllocator =
    parla_core::alloc_counter::CountingAllocator;

use parla_core::alloc_counter::count_allocations;
use parla_core::video::{PixelFormat, VideoFrame};
use parla_engine::VideoCodec;
use parla_engine::VideoEncoderCommand;
use parla_engine::video_codec::{VideoDecodeSide, VideoEncodeSide};
use parla_video::EncoderSettings;

const W: u32 = 320;
const H: u32 = 180;

#[test]
fn encode_and_decode_do_not_allocate_per_frame_after_warm_up() {
    for codec in [VideoCodec::H264, VideoCodec::Vp8] {
        let mut enc = VideoEncodeSide::new(codec, 1);
        enc.apply(VideoEncoderCommand {
            settings: EncoderSettings {
                width: W,
                height: H,
                fps: 30,
                bitrate_bps: 400_000,
            },
            keyframe: true,
        })
        .unwrap();
        let mut dec = VideoDecodeSide::new(codec).unwrap();
        let mut cam = VideoFrame::new(PixelFormat::I420, W, H).unwrap();
        let mut pic = VideoFrame::new(PixelFormat::I420, W, H).unwrap();
        let mut wire = Vec::with_capacity(1 << 20);
        let mut decoded = 0u32;
        let mut step = |i: u64, wire: &mut Vec<u8>, decoded: &mut u32| {
            parla_video::pattern::fill(&mut cam, i, 30);
            let mut got = None;
            enc.encode(&cam, &mut |data, _key, ts| {
                wire.clear();
                wire.extend_from_slice(data);
                got = Some(ts);
            })
            .unwrap();
            if let Some(ts) = got
                && dec.decode_into(wire, ts, &mut pic).unwrap().is_some()
            {
                *decoded += 1;
            }
        };
        for i in 0..15 {
            step(i, &mut wire, &mut decoded);
        }
        let ((), counts) = count_allocations(|| {
            for i in 15..45 {
                step(i, &mut wire, &mut decoded);
            }
        });
        assert!(decoded >= 40, "{codec:?}: {decoded} of 45 decoded");
        assert_eq!(
            counts.total(),
            0,
            "{codec:?}: allocations over 30 frames after warm-up: {counts:?}"
        );
    }
}
