//! H.264 and VP8 encoder/decoder behaviour: forced keyframes, bitrate changes and tracking,
//! frame-rate limiting, size changes, format conversion on input.
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

mod common;

use parla_codec::video::{SendStatus, VideoCodec, VideoDecoder, VideoEncoder, VideoEncoderConfig};
use parla_core::MediaTime;
use parla_core::video::{PixelFormat, VideoFrame};

const CODECS: [VideoCodec; 2] = [VideoCodec::H264, VideoCodec::Vp8];

fn encode_one(enc: &mut VideoEncoder, f: &VideoFrame) -> Vec<parla_codec::video::VideoPacket> {
    let mut out = Vec::new();
    if enc.send_frame(f).expect("send") == SendStatus::Queued {
        while let Some(p) = enc.receive_packet().expect("receive") {
            out.push(p);
        }
    }
    out
}

#[test]
fn forced_keyframe_is_the_next_encoded_frame() {
    let seed = common::seed(20);
    for codec in CODECS {
        let cfg = VideoEncoderConfig::new(codec, 320, 240).keyframe_interval(0);
        let mut enc = VideoEncoder::new(&cfg).unwrap();
        let mut dec = VideoDecoder::new(codec).unwrap();
        let mut r = common::rng(seed);
        let mut keys = Vec::new();
        for i in 0..40 {
            if i == 17 || i == 31 {
                enc.request_keyframe();
            }
            let f = common::test_picture(320, 240, i, 30, &mut r);
            let packets = encode_one(&mut enc, &f);
            assert_eq!(
                packets.len(),
                1,
                "{codec:?}: one packet per frame, no delay"
            );
            let p = &packets[0];
            assert_eq!(p.timestamp, f.timestamp);
            if p.keyframe {
                keys.push(i);
            }
            let d = dec
                .decode(&p.data, p.timestamp)
                .unwrap()
                .expect("a picture per packet");
            assert_eq!(d.frame.keyframe, p.keyframe);
            assert_eq!(d.size_changed, i == 0);
            assert_eq!((d.frame.width(), d.frame.height()), (320, 240));
        }
        assert_eq!(keys, vec![0, 17, 31], "{codec:?}");
    }
}

#[test]
fn keyframe_interval_is_kept() {
    let seed = common::seed(21);
    for codec in CODECS {
        let cfg = VideoEncoderConfig::new(codec, 160, 120).keyframe_interval(10);
        let mut enc = VideoEncoder::new(&cfg).unwrap();
        let mut r = common::rng(seed);
        let keys: Vec<u64> = (0..35)
            .filter(|&i| {
                let f = common::test_picture(160, 120, i, 30, &mut r);
                encode_one(&mut enc, &f)[0].keyframe
            })
            .collect();
        assert_eq!(keys, vec![0, 10, 20, 30], "{codec:?}");
    }
}

/// Average kbps of the packets in `[from, to)` frames.
fn kbps(sizes: &[usize], from: usize, to: usize, fps: f64) -> f64 {
    sizes[from..to].iter().sum::<usize>() as f64 * 8.0 * fps / (to - from) as f64 / 1000.0
}

#[test]
fn bitrate_changes_take_effect_within_a_second_and_average_on_target() {
    let seed = common::seed(22);
    let fps = 30;
    let mut results = Vec::new();
    for codec in CODECS {
        let cfg = VideoEncoderConfig::new(codec, 320, 240)
            .bitrate(300_000)
            .framerate(fps)
            .keyframe_interval(0);
        let mut enc = VideoEncoder::new(&cfg).unwrap();
        let mut r = common::rng(seed);
        let mut sizes = Vec::new();
        let mut keys = Vec::new();
        for i in 0..600u64 {
            if i == 300 {
                enc.set_bitrate(600_000).unwrap();
            }
            let f = common::test_picture(320, 240, i, fps, &mut r);
            let p = encode_one(&mut enc, &f);
            sizes.push(p.iter().map(|p| p.data.len()).sum::<usize>());
            if p.iter().any(|p| p.keyframe) {
                keys.push(i);
            }
        }
        // VP8 reopens its encoder on a rate change (FFmpeg 5.1 cannot change it in place), so
        // the change costs a keyframe there; x264 changes in place.
        let want: Vec<u64> = match codec {
            VideoCodec::H264 => vec![0],
            VideoCodec::Vp8 => vec![0, 300],
        };
        assert_eq!(keys, want, "{codec:?}");
        let fpsf = f64::from(fps);
        let a = kbps(&sizes, 0, 300, fpsf);
        let b = kbps(&sizes, 300, 600, fpsf);
        let first_s = kbps(&sizes, 300, 330, fpsf);
        let second = kbps(&sizes, 330, 360, fpsf);
        eprintln!(
            "{codec:?}: 300 kbps for 10 s -> {a:.0}; 600 kbps for 10 s -> {b:.0}; first 1 s after the change {first_s:.0}, second 1 s {second:.0}"
        );
        results.push((codec, a, b, first_s, second));
    }
    for (codec, a, b, first_s, second) in results {
        // "Takes effect within 1 s": the first second after the change is already on target.
        assert!(
            (first_s / 600.0 - 1.0).abs() < 0.15,
            "{codec:?}: {first_s:.0} kbps in the first 1 s"
        );
        assert!(
            (a / 300.0 - 1.0).abs() < 0.15,
            "{codec:?}: {a:.0} kbps for 300"
        );
        assert!(
            (b / 600.0 - 1.0).abs() < 0.15,
            "{codec:?}: {b:.0} kbps for 600"
        );
        assert!(
            (second / 600.0 - 1.0).abs() < 0.15,
            "{codec:?}: {second:.0} kbps 1 s after"
        );
    }
}

#[test]
fn framerate_limit_drops_early_frames() {
    let seed = common::seed(23);
    for codec in CODECS {
        let cfg = VideoEncoderConfig::new(codec, 160, 120).framerate(30);
        let mut enc = VideoEncoder::new(&cfg).unwrap();
        let mut r = common::rng(seed);
        let mut queued = 0;
        for i in 0..60 {
            if i == 30 {
                enc.set_framerate(15).unwrap();
            }
            let f = common::test_picture(160, 120, i, 30, &mut r);
            if !encode_one(&mut enc, &f).is_empty() {
                queued += 1;
            }
        }
        assert_eq!(queued, 30 + 15, "{codec:?}");
        // Timestamps must increase.
        let mut f = common::test_picture(160, 120, 0, 30, &mut r);
        f.timestamp = MediaTime::ZERO;
        assert!(enc.send_frame(&f).is_err());
    }
}

#[test]
fn input_of_any_format_and_size_is_scaled_and_size_changes_are_reported() {
    let seed = common::seed(24);
    for codec in CODECS {
        let mut dec = VideoDecoder::new(codec).unwrap();
        let mut r = common::rng(seed);
        let mut changes = Vec::new();
        for (k, (w, h)) in [(320u32, 240u32), (640, 360)].into_iter().enumerate() {
            let mut enc = VideoEncoder::new(&VideoEncoderConfig::new(codec, w, h)).unwrap();
            for i in 0..5u64 {
                let src = common::test_picture(333, 211, i, 30, &mut r);
                let mut nv12 = VideoFrame::new(PixelFormat::Nv12, 333, 211).unwrap();
                parla_codec::scale::Scaler::new()
                    .unwrap()
                    .run(&src, &mut nv12)
                    .unwrap();
                nv12.timestamp = MediaTime::from_millis(k as u64 * 1000 + i * 33);
                for p in encode_one(&mut enc, &nv12) {
                    let d = dec.decode(&p.data, p.timestamp).unwrap().expect("picture");
                    assert_eq!((d.frame.width(), d.frame.height()), (w, h));
                    if d.size_changed {
                        changes.push((w, h));
                    }
                }
            }
        }
        assert_eq!(changes, vec![(320, 240), (640, 360)], "{codec:?}");
    }
}
