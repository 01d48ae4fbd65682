//! The per-callback work: device samples <-> interleaved `f32` ring frames, with channel mapping.
//!
//! Channel mapping (device channels `d`, ring channels `r`):
//! - capture: `r == 1` takes the mean of the `d` device channels; otherwise ring channel `c` takes
//!   device channel `c` when it exists, device channel 0 when the device is mono, else silence.
//! - playout: a mono ring feeds every device channel; a mono device gets the mean of the ring
//!   channels; otherwise device channel `c` takes ring channel `c`, or silence when the ring has
//!   fewer channels.
//!
//! # Real-time safety
//! Everything here is plain arithmetic over slices the caller owns: no allocation, lock, syscall
//! or logging.

use crate::format::DeviceSample;

/// Converts whole device frames from `src` (`dev_ch` interleaved channels) into `dst` (`ring_ch`
/// interleaved channels). Converts `min(src frames, dst frames)` frames and returns that count.
///
/// # Real-time safety
/// Allocation-free and lock-free.
pub fn capture_frames<T: DeviceSample>(
    src: &[T],
    dev_ch: usize,
    dst: &mut [f32],
    ring_ch: usize,
) -> usize {
    // RT: arithmetic over caller-owned slices only.
    if dev_ch == 0 || ring_ch == 0 {
        return 0;
    }
    let frames = (src.len() / dev_ch).min(dst.len() / ring_ch);
    let (src, dst) = (&src[..frames * dev_ch], &mut dst[..frames * ring_ch]);
    if dev_ch == ring_ch {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.to_f32();
        }
    } else if ring_ch == 1 {
        let inv = 1.0 / dev_ch as f32;
        for (d, frame) in dst.iter_mut().zip(src.chunks_exact(dev_ch)) {
            *d = frame.iter().map(|s| s.to_f32()).sum::<f32>() * inv;
        }
    } else {
        for (out, frame) in dst.chunks_exact_mut(ring_ch).zip(src.chunks_exact(dev_ch)) {
            for (c, d) in out.iter_mut().enumerate() {
                *d = match frame.get(c) {
                    Some(s) => s.to_f32(),
                    None if dev_ch == 1 => frame[0].to_f32(),
                    None => 0.0,
                };
            }
        }
    }
    frames
}

/// Converts whole ring frames from `src` (`ring_ch` interleaved `f32` channels) into `dst`
/// (`dev_ch` interleaved device channels). Converts `min(src frames, dst frames)` frames and
/// returns that count.
///
/// # Real-time safety
/// Allocation-free and lock-free.
pub fn playout_frames<T: DeviceSample>(
    src: &[f32],
    ring_ch: usize,
    dst: &mut [T],
    dev_ch: usize,
) -> usize {
    // RT: arithmetic over caller-owned slices only.
    if dev_ch == 0 || ring_ch == 0 {
        return 0;
    }
    let frames = (src.len() / ring_ch).min(dst.len() / dev_ch);
    let (src, dst) = (&src[..frames * ring_ch], &mut dst[..frames * dev_ch]);
    if dev_ch == ring_ch {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = T::from_f32(*s);
        }
    } else if ring_ch == 1 {
        for (frame, s) in dst.chunks_exact_mut(dev_ch).zip(src) {
            frame.fill(T::from_f32(*s));
        }
    } else if dev_ch == 1 {
        let inv = 1.0 / ring_ch as f32;
        for (d, frame) in dst.iter_mut().zip(src.chunks_exact(ring_ch)) {
            *d = T::from_f32(frame.iter().sum::<f32>() * inv);
        }
    } else {
        for (out, frame) in dst.chunks_exact_mut(dev_ch).zip(src.chunks_exact(ring_ch)) {
            for (c, d) in out.iter_mut().enumerate() {
                *d = T::from_f32(frame.get(c).copied().unwrap_or(0.0));
            }
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_layout_converts_every_sample() {
        let src: Vec<i16> = vec![0, 16384, -16384, i16::MIN];
        let mut dst = [9.0f32; 4];
        assert_eq!(capture_frames(&src, 2, &mut dst, 2), 2);
        assert_eq!(dst, [0.0, 0.5, -0.5, -1.0]);
        let mut back = [0i16; 4];
        assert_eq!(playout_frames(&dst, 2, &mut back, 2), 2);
        assert_eq!(back.to_vec(), src);
    }

    #[test]
    fn stereo_device_to_mono_ring_averages() {
        let src: Vec<f32> = vec![0.5, 0.25, -1.0, 1.0, 0.2, 0.2];
        let mut dst = [0.0f32; 3];
        assert_eq!(capture_frames(&src, 2, &mut dst, 1), 3);
        assert_eq!(dst, [0.375, 0.0, 0.2]);
    }

    #[test]
    fn mono_device_to_stereo_ring_duplicates_and_wider_gets_silence() {
        let src: Vec<i16> = vec![16384, -8192];
        let mut dst = [9.0f32; 4];
        capture_frames(&src, 1, &mut dst, 2);
        assert_eq!(dst, [0.5, 0.5, -0.25, -0.25]);
        let src4: Vec<f32> = vec![0.1, 0.2, 0.3, 0.4];
        let mut dst3 = [9.0f32; 3];
        assert_eq!(capture_frames(&src4, 2, &mut dst3, 3), 1);
        assert_eq!(dst3, [0.1, 0.2, 0.0]);
    }

    #[test]
    fn playout_channel_maps() {
        let mono = [0.5f32, -0.5];
        let mut st = [0i16; 4];
        playout_frames(&mono, 1, &mut st, 2);
        assert_eq!(st, [16384, 16384, -16384, -16384]);
        let stereo = [0.5f32, 0.25, -1.0, 1.0];
        let mut m = [0.0f32; 2];
        playout_frames(&stereo, 2, &mut m, 1);
        assert_eq!(m, [0.375, 0.0]);
        let mut four = [9.0f32; 4];
        playout_frames(&stereo[..2], 2, &mut four, 4);
        assert_eq!(four, [0.5, 0.25, 0.0, 0.0]);
    }

    #[test]
    fn partial_frames_and_zero_channels_are_ignored() {
        let src: Vec<i16> = vec![1, 2, 3];
        let mut dst = [0.0f32; 8];
        assert_eq!(capture_frames(&src, 2, &mut dst, 2), 1);
        assert_eq!(capture_frames(&src, 0, &mut dst, 2), 0);
        let mut out = [0i16; 3];
        assert_eq!(playout_frames(&dst, 2, &mut out, 2), 1);
        assert_eq!(playout_frames(&dst, 2, &mut out, 0), 0);
    }
}
