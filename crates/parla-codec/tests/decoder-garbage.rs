//! Untrusted input: random garbage, truncated and bit-flipped packets fed to every decoder
//! return errors and never panic (randomized over many seeds).
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

mod common;

use parla_codec::container::annexb;
use parla_codec::opus::{MAX_PACKET_BYTES, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use parla_codec::video::{VideoCodec, VideoDecoder, VideoEncoder, VideoEncoderConfig};
use parla_core::MediaTime;
use rand::Rng;

fn garbage(r: &mut impl Rng, max: usize) -> Vec<u8> {
    let len = r.random_range(1..max);
    (0..len).map(|_| r.random()).collect()
}

#[test]
fn video_decoders_reject_garbage_without_panicking() {
    let base = common::seed(10);
    for codec in [VideoCodec::H264, VideoCodec::Vp8] {
        // Valid packets to corrupt.
        let mut enc = VideoEncoder::new(&VideoEncoderConfig::new(codec, 160, 120)).unwrap();
        let mut pr = common::rng(base);
        let mut valid = Vec::new();
        for i in 0..6 {
            enc.send_frame(&common::test_picture(160, 120, i, 30, &mut pr))
                .unwrap();
            while let Some(p) = enc.receive_packet().unwrap() {
                valid.push(p);
            }
        }
        let mut errors = 0;
        let mut fresh_pictures = 0;
        let seeds = 200;
        for s in 0..seeds {
            let mut r = common::rng(base.wrapping_add(s));
            // Pure garbage on a fresh decoder: an error (or, at worst, nothing), never a picture.
            let mut dec = VideoDecoder::new(codec).unwrap();
            let g = garbage(&mut r, 4000);
            match dec.decode(&g, MediaTime::ZERO) {
                Err(_) => errors += 1,
                Ok(Some(_)) => fresh_pictures += 1,
                Ok(None) => {}
            }
            // A keyframe, then garbage, truncated and bit-flipped packets: no panic, and the
            // decoder keeps working (a fresh keyframe decodes again).
            let _ = dec.decode(&valid[0].data, MediaTime::ZERO);
            for k in 0..5u64 {
                let mut p = valid[r.random_range(0..valid.len())].data.clone();
                match r.random_range(0..3) {
                    0 => p = garbage(&mut r, 2000),
                    1 => p.truncate(r.random_range(0..p.len())),
                    _ => {
                        for _ in 0..r.random_range(1..20) {
                            let i = r.random_range(0..p.len());
                            p[i] ^= 1 << r.random_range(0..8);
                        }
                    }
                }
                let _ = dec.decode(&p, MediaTime::from_millis(k * 33));
            }
            let again = dec.decode(&valid[0].data, MediaTime::from_millis(500));
            assert!(
                matches!(again, Ok(Some(_))),
                "{codec:?} seed {}: the decoder did not recover on a keyframe: {again:?}",
                base.wrapping_add(s)
            );
        }
        eprintln!(
            "{codec:?}: {errors}/{seeds} garbage packets on a fresh decoder returned errors, {fresh_pictures} pictures"
        );
        assert_eq!(fresh_pictures, 0, "{codec:?} made a picture out of garbage");
        let mut dec = VideoDecoder::new(codec).unwrap();
        let huge = vec![0u8; parla_codec::video::MAX_PACKET_BYTES + 1];
        assert!(dec.send_packet(&huge, MediaTime::ZERO).is_err());
        assert!(dec.send_packet(&[], MediaTime::ZERO).is_err());
        assert!(
            errors * 10 >= seeds as usize * 9,
            "{codec:?}: only {errors}/{seeds} errors"
        );
        assert!(annexb::access_units(&garbage(&mut common::rng(base), 500)).len() < 500);
    }
}

#[test]
fn opus_decoder_rejects_garbage_without_panicking() {
    let base = common::seed(11);
    let mut enc = OpusEncoder::new(&OpusEncoderConfig::voice(48_000, 2)).unwrap();
    let mut packet = [0u8; MAX_PACKET_BYTES];
    let pcm = vec![0.1f32; enc.frame_samples()];
    let p = enc.encode(&pcm, &mut packet).unwrap();
    let valid = packet[..p.len].to_vec();
    let mut dec = OpusDecoder::new(48_000, 2).unwrap();
    let mut out = vec![0.0f32; dec.max_frame_samples()];
    let mut errors = 0;
    let n = 5000;
    for s in 0..n {
        let mut r = common::rng(base.wrapping_add(s));
        let g = garbage(&mut r, 1500);
        match dec.decode(&g, &mut out) {
            Ok(k) => assert!(k * 2 <= out.len()),
            Err(_) => errors += 1,
        }
        let _ = dec.decode_fec(&g, &mut out[..1920]);
        // Output buffers of every size, too.
        let len = r.random_range(0..out.len());
        let _ = dec.decode(&valid, &mut out[..len]);
        let _ = dec.conceal(&mut out[..len]);
    }
    // Opus has no checksum: some random byte strings are valid packets. Most are not.
    eprintln!("Opus: {errors}/{n} garbage packets returned errors");
    assert!(errors > n as usize / 4);
    assert!(dec.decode(&[], &mut out).is_err());
    assert!(dec.decode(&vec![0x08; 1 << 20], &mut out).is_err());
    assert_eq!(dec.decode(&valid, &mut out).unwrap(), 960);
}
