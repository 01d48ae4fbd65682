//! The Opus per-frame paths never touch the allocator after set-up (STYLE.md T1).
//!
//! The counting allocator sees Rust's global allocator; libopus itself does not call `malloc`
//! after `opus_*_create` (it works on its own state and the stack).
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

use parla_codec::opus::{
    FrameDuration, MAX_PACKET_BYTES, OpusDecoder, OpusEncoder, OpusEncoderConfig,
};
use parla_core::alloc_counter::{assert_no_alloc, is_installed};

#[global_allocator]
static A: parla_core::alloc_counter::CountingAllocator =
    parla_core::alloc_counter::CountingAllocator;

#[test]
fn opus_encode_decode_fec_conceal_do_not_allocate() {
    assert!(is_installed());
    for (rate, channels) in [(48_000, 1), (16_000, 1), (48_000, 2)] {
        let cfg = OpusEncoderConfig::voice(rate, channels)
            .fec(true, 10)
            .dtx(true);
        let mut enc = OpusEncoder::new(&cfg).unwrap();
        let mut dec = OpusDecoder::new(rate, channels).unwrap();
        let max = (rate / 1000 * 60) as usize * usize::from(channels);
        let pcm: Vec<f32> = (0..max)
            .map(|i| (i as f32 * 0.05).sin() * 0.3 * if i % 7000 < 3500 { 1.0 } else { 0.0 })
            .collect();
        let mut packet = [0u8; MAX_PACKET_BYTES];
        let mut next = [0u8; MAX_PACKET_BYTES];
        let mut out = vec![0.0f32; dec.max_frame_samples()];
        // Warm up.
        let p = enc
            .encode(&pcm[..enc.frame_samples()], &mut packet)
            .unwrap();
        dec.decode(&packet[..p.len], &mut out).unwrap();
        let frames = [
            FrameDuration::Ms10,
            FrameDuration::Ms20,
            FrameDuration::Ms40,
            FrameDuration::Ms60,
        ];
        for i in 0..400 {
            assert_no_alloc("opus per-frame paths", || {
                if i % 50 == 0 {
                    enc.set_frame(frames[(i / 50) % 4]);
                    enc.set_bitrate(16_000 + (i as u32 % 3) * 8_000).unwrap();
                    enc.set_complexity((i % 11) as u8).unwrap();
                    enc.set_fec(i % 100 == 0, 10).unwrap();
                    enc.set_dtx(i % 100 != 0).unwrap();
                }
                let n = enc.frame_samples();
                let p = enc.encode(&pcm[..n], &mut packet).unwrap();
                let q = enc.encode(&pcm[..n], &mut next).unwrap();
                let per_ch = n / usize::from(channels);
                match i % 4 {
                    0 => {
                        dec.decode(&packet[..p.len], &mut out).unwrap();
                    }
                    1 => {
                        dec.decode_fec(&next[..q.len], &mut out[..n]).unwrap();
                    }
                    2 => {
                        dec.conceal(&mut out[..n]).unwrap();
                    }
                    _ => {
                        let _ = dec.decode(&[0xff, 0xff, 0xff], &mut out);
                        assert_eq!(dec.packet_samples(&next[..q.len]).unwrap(), per_ch);
                    }
                }
            });
        }
    }
}
