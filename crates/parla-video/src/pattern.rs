//! A moving test picture for tests, benches and `parla call --video`.
//!
//! A scrolling diagonal gradient with a checkerboard and a travelling bright box: motion,
//! edges and flat areas for the encoder, and a picture whose every frame differs so a frozen
//! or repeated frame shows up in PSNR.

use parla_core::{ConfigError, MediaTime, PixelFormat, VideoFrame};

/// Fills `frame` (I420, any size of at least 5x5) with picture number `index` and stamps it at
/// `index / fps` seconds. Writes in place: no allocation. Other pixel formats are left as they are.
pub fn fill(frame: &mut VideoFrame, index: u64, fps: u32) {
    if frame.format() != PixelFormat::I420 {
        return;
    }
    let (wu, hu) = (frame.width() as usize, frame.height() as usize);
    let shift = index as usize * 2;
    let (boxw, boxh) = (wu / 5, hu / 5);
    let bx = (index as usize * 4) % (wu - boxw).max(1);
    let by = (index as usize * 2) % (hu - boxh).max(1);
    let y = frame.plane_mut(0);
    for row in 0..hu {
        for col in 0..wu {
            let in_box = (bx..bx + boxw).contains(&col) && (by..by + boxh).contains(&row);
            let check = if (col / 16 + row / 16) % 2 == 0 {
                24
            } else {
                0
            };
            y[row * wu + col] = if in_box {
                235
            } else {
                (40 + (col + row + shift) % 160 + check) as u8
            };
        }
    }
    let cw = wu.div_ceil(2);
    for p in 1..3 {
        for (k, px) in frame.plane_mut(p).iter_mut().enumerate() {
            *px = (96 + ((k % cw) + (k / cw) * p + shift) % 64) as u8;
        }
    }
    frame.timestamp = MediaTime::from_micros(index * 1_000_000 / u64::from(fps.max(1)));
}

/// A new I420 frame of `width` x `height` holding picture number `index` (see [`fill`]).
///
/// # Errors
/// When the size is not a valid frame size (see [`VideoFrame::new`]).
pub fn frame(width: u32, height: u32, index: u64, fps: u32) -> Result<VideoFrame, ConfigError> {
    let mut f = VideoFrame::new(PixelFormat::I420, width, height)?;
    fill(&mut f, index, fps);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_differ_and_carry_their_time() {
        let a = frame(64, 36, 0, 30).unwrap();
        let b = frame(64, 36, 1, 30).unwrap();
        assert_ne!(a.plane(0), b.plane(0));
        assert_eq!(b.timestamp, MediaTime::from_micros(33_333));
    }
}
