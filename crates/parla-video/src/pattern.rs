//! Moving test pictures for tests, benches and `parla call --video`.
//!
//! Two pictures, both a diagonal gradient with a checkerboard and a travelling bright box, every
//! frame different so a frozen or repeated frame shows up in PSNR:
//! - [`Pattern::Pan`]: the background moves as one (a camera pan, 2 pixels a frame) under the
//!   box. Motion compensation predicts it, as it predicts a camera's picture: the pattern
//!   `parla call --video` scores quality on by default.
//! - [`Pattern::Stress`] ([`fill`]): the checkerboard stands still while the gradient under it
//!   scrolls, and the chroma scrolls at its own speed. No block motion predicts that sum, so
//!   every frame is coded almost as new (x264 runs it near QP 50 at 720p and 1.5 Mbit/s): a
//!   stress test of rate control, not of picture quality.

use parla_core::{ConfigError, MediaTime, PixelFormat, VideoFrame};

/// Which moving picture to draw (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pattern {
    /// The whole background pans, with the box travelling over it: camera-like motion.
    #[default]
    Pan,
    /// A scrolling gradient under a still checkerboard: a rate-control stress test.
    Stress,
}

impl Pattern {
    /// Fills `frame` (I420, at least 5x5) with picture number `index` of this pattern and
    /// stamps it at `index / fps` seconds. Writes in place: no allocation. Other pixel formats
    /// are left as they are.
    pub fn fill(self, frame: &mut VideoFrame, index: u64, fps: u32) {
        draw(frame, index, fps, self);
    }

    /// A new I420 frame of `width` x `height` holding picture number `index` of this pattern.
    ///
    /// # Errors
    /// When the size is not a valid frame size (see [`VideoFrame::new`]).
    pub fn frame(
        self,
        width: u32,
        height: u32,
        index: u64,
        fps: u32,
    ) -> Result<VideoFrame, ConfigError> {
        let mut f = VideoFrame::new(PixelFormat::I420, width, height)?;
        self.fill(&mut f, index, fps);
        Ok(f)
    }
}

/// The box's place and size in picture `index`: (x, y, width, height).
fn travelling_box(wu: usize, hu: usize, index: u64) -> (usize, usize, usize, usize) {
    let (boxw, boxh) = (wu / 5, hu / 5);
    let bx = (index as usize * 4) % (wu - boxw).max(1);
    let by = (index as usize * 2) % (hu - boxh).max(1);
    (bx, by, boxw, boxh)
}

/// [`Pattern::Stress`]: fills `frame` (I420, any size of at least 5x5) with picture number
/// `index` and stamps it at `index / fps` seconds. Writes in place: no allocation. Other pixel
/// formats are left as they are.
pub fn fill(frame: &mut VideoFrame, index: u64, fps: u32) {
    draw(frame, index, fps, Pattern::Stress);
}

/// Both patterns: the gradient scrolls 2 pixels a frame in both. In the pan the checkerboard
/// and the chroma move with it (the whole background moves as one); in the stress pattern the
/// checkerboard stands still and the chroma scrolls twice as fast.
fn draw(frame: &mut VideoFrame, index: u64, fps: u32, pattern: Pattern) {
    if frame.format() != PixelFormat::I420 {
        return;
    }
    let (wu, hu) = (frame.width() as usize, frame.height() as usize);
    let shift = index as usize * 2;
    let (check_shift, chroma_shift) = match pattern {
        Pattern::Pan => (shift, shift / 2),
        Pattern::Stress => (0, shift),
    };
    let (bx, by, boxw, boxh) = travelling_box(wu, hu, index);
    let y = frame.plane_mut(0);
    for row in 0..hu {
        for col in 0..wu {
            let in_box = (bx..bx + boxw).contains(&col) && (by..by + boxh).contains(&row);
            let check = if ((col + check_shift) / 16 + row / 16).is_multiple_of(2) {
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
            *px = (96 + ((k % cw) + (k / cw) * p + chroma_shift) % 64) as u8;
        }
    }
    frame.timestamp = MediaTime::from_micros(index * 1_000_000 / u64::from(fps.max(1)));
}

/// A new I420 frame of `width` x `height` holding picture number `index` of the stress pattern
/// (see [`fill`]).
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

    #[test]
    fn the_pan_moves_the_background_as_one() {
        // Away from the box, picture n+1 is picture n moved 2 pixels to the left.
        let a = Pattern::Pan.frame(640, 360, 10, 30).unwrap();
        let b = Pattern::Pan.frame(640, 360, 11, 30).unwrap();
        let (ya, yb) = (a.plane(0), b.plane(0));
        let row = 340;
        for i in [10, 11] {
            let (_, by, _, bh) = travelling_box(640, 360, i);
            assert!(
                row >= by + bh,
                "row {row} is clear of the box in picture {i}"
            );
        }
        for col in 0..600 {
            assert_eq!(yb[row * 640 + col], ya[row * 640 + col + 2], "col {col}");
        }
        assert_ne!(ya, yb);
        // The stress pattern does not move as one.
        let c = Pattern::Stress.frame(640, 360, 10, 30).unwrap();
        let d = Pattern::Stress.frame(640, 360, 11, 30).unwrap();
        let same =
            (0..600).all(|col| d.plane(0)[row * 640 + col] == c.plane(0)[row * 640 + col + 2]);
        assert!(!same);
    }
}
