//! Video frames: tightly packed I420, NV12 or RGBA planes with a size and a media timestamp.
//!
//! Camera frames arrive as NV12 on mobile and as I420 from most software sources; the encoders
//! take I420; apps usually render RGBA. A [`VideoFrame`] owns one buffer holding all its planes
//! back to back with no row padding (the stride of a plane is its row width in bytes), so it can be
//! written to or read from a file or a C buffer with one copy.
//!
//! Chroma planes of odd-sized 4:2:0 frames are rounded up (`(width + 1) / 2`).
//!
//! ```
//! use parla_core::video::{PixelFormat, VideoFrame};
//! let f = VideoFrame::new(PixelFormat::I420, 640, 360).unwrap();
//! assert_eq!(f.plane(0).len(), 640 * 360);
//! assert_eq!(f.plane(1).len(), 320 * 180);
//! assert_eq!(f.data().len(), 640 * 360 * 3 / 2);
//! ```

use crate::error::{ConfigError, ProcessError};
use crate::time::MediaTime;

/// The largest width or height accepted (8K). Bounds the memory a frame can take when the size
/// comes from untrusted input (a file header, a decoded stream).
pub const MAX_DIMENSION: u32 = 8192;

/// How the pixels of a frame are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Planar 4:2:0 YUV: a Y plane, then a U plane and a V plane at half size in each direction.
    I420,
    /// Semi-planar 4:2:0 YUV: a Y plane, then one plane of interleaved U/V pairs at half size.
    Nv12,
    /// Packed 8-bit red, green, blue, alpha: one plane of 4 bytes per pixel.
    Rgba,
}

impl PixelFormat {
    /// Number of planes.
    pub const fn plane_count(self) -> usize {
        match self {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            PixelFormat::Rgba => 1,
        }
    }

    /// Bytes per row (the stride) of `plane` for a frame `width` pixels wide, or 0 for a plane
    /// that does not exist.
    pub const fn plane_stride(self, plane: usize, width: u32) -> usize {
        let w = width as usize;
        let cw = w.div_ceil(2);
        match (self, plane) {
            (PixelFormat::I420, 0) | (PixelFormat::Nv12, 0) => w,
            (PixelFormat::I420, 1) | (PixelFormat::I420, 2) => cw,
            (PixelFormat::Nv12, 1) => cw * 2,
            (PixelFormat::Rgba, 0) => w * 4,
            _ => 0,
        }
    }

    /// Rows of `plane` for a frame `height` pixels high, or 0 for a plane that does not exist.
    pub const fn plane_rows(self, plane: usize, height: u32) -> usize {
        let h = height as usize;
        match (self, plane) {
            (_, 0) => h,
            (PixelFormat::I420, 1) | (PixelFormat::I420, 2) | (PixelFormat::Nv12, 1) => {
                h.div_ceil(2)
            }
            _ => 0,
        }
    }

    /// Bytes of `plane`.
    pub const fn plane_len(self, plane: usize, width: u32, height: u32) -> usize {
        self.plane_stride(plane, width) * self.plane_rows(plane, height)
    }

    /// Bytes of a whole frame (all planes, packed).
    pub const fn frame_len(self, width: u32, height: u32) -> usize {
        self.plane_len(0, width, height)
            + self.plane_len(1, width, height)
            + self.plane_len(2, width, height)
    }
}

/// Check a frame size against [`MAX_DIMENSION`].
///
/// # Errors
/// [`ConfigError::InvalidParameter`] for a zero or too large width or height.
pub fn check_size(width: u32, height: u32) -> Result<(), ConfigError> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(ConfigError::InvalidParameter {
            name: "video size",
            detail: format!("{width}x{height} (each side must be 1..={MAX_DIMENSION})"),
        });
    }
    Ok(())
}

/// One picture: its planes, size, format and media time.
#[derive(Clone, PartialEq, Eq)]
pub struct VideoFrame {
    format: PixelFormat,
    width: u32,
    height: u32,
    data: Vec<u8>,
    /// Media time at which the picture was captured (or is to be shown).
    pub timestamp: MediaTime,
    /// Whether the picture was decoded from (or is to be encoded as) a keyframe, where known.
    pub keyframe: bool,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFrame")
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("timestamp", &self.timestamp)
            .field("keyframe", &self.keyframe)
            .finish()
    }
}

impl VideoFrame {
    /// A black frame (Y = 16, chroma = 128 for YUV; opaque black for RGBA) at time zero.
    ///
    /// # Errors
    /// As [`check_size`].
    pub fn new(format: PixelFormat, width: u32, height: u32) -> Result<Self, ConfigError> {
        check_size(width, height)?;
        let mut frame = VideoFrame {
            format,
            width,
            height,
            data: vec![0; format.frame_len(width, height)],
            timestamp: MediaTime::ZERO,
            keyframe: false,
        };
        frame.fill_black();
        Ok(frame)
    }

    /// A frame holding a copy of `data`: the planes packed back to back, as
    /// [`VideoFrame::data`] returns them.
    ///
    /// # Errors
    /// As [`check_size`]; [`ConfigError::InvalidParameter`] if `data` has the wrong length.
    pub fn from_packed(
        format: PixelFormat,
        width: u32,
        height: u32,
        data: &[u8],
        timestamp: MediaTime,
    ) -> Result<Self, ConfigError> {
        check_size(width, height)?;
        let len = format.frame_len(width, height);
        if data.len() != len {
            return Err(ConfigError::InvalidParameter {
                name: "frame data",
                detail: format!(
                    "{} bytes, a {width}x{height} {format:?} frame has {len}",
                    data.len()
                ),
            });
        }
        Ok(VideoFrame {
            format,
            width,
            height,
            data: data.to_vec(),
            timestamp,
            keyframe: false,
        })
    }

    /// Change the frame's format and size, keeping its buffer when it is large enough (so a
    /// frame reused at a constant size never allocates). The pixel contents are unspecified
    /// afterwards.
    ///
    /// # Errors
    /// As [`check_size`]; the frame is left unchanged.
    pub fn reshape(
        &mut self,
        format: PixelFormat,
        width: u32,
        height: u32,
    ) -> Result<(), ConfigError> {
        check_size(width, height)?;
        self.format = format;
        self.width = width;
        self.height = height;
        self.data.resize(format.frame_len(width, height), 0);
        Ok(())
    }

    /// Set every pixel to black.
    pub fn fill_black(&mut self) {
        match self.format {
            PixelFormat::I420 | PixelFormat::Nv12 => {
                let y = self.format.plane_len(0, self.width, self.height);
                self.data[..y].fill(16);
                self.data[y..].fill(128);
            }
            PixelFormat::Rgba => {
                for px in self.data.chunks_exact_mut(4) {
                    px.copy_from_slice(&[0, 0, 0, 255]);
                }
            }
        }
    }

    /// Pixel format.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes per row of `plane` (0 for a plane the format does not have).
    pub fn stride(&self, plane: usize) -> usize {
        self.format.plane_stride(plane, self.width)
    }

    fn plane_range(&self, plane: usize) -> std::ops::Range<usize> {
        let mut start = 0;
        for p in 0..plane.min(3) {
            start += self.format.plane_len(p, self.width, self.height);
        }
        let len = if plane < self.format.plane_count() {
            self.format.plane_len(plane, self.width, self.height)
        } else {
            0
        };
        let start = start.min(self.data.len());
        start..(start + len).min(self.data.len())
    }

    /// The bytes of `plane` (empty for a plane the format does not have).
    pub fn plane(&self, plane: usize) -> &[u8] {
        let r = self.plane_range(plane);
        &self.data[r]
    }

    /// The bytes of `plane`, mutable (empty for a plane the format does not have).
    pub fn plane_mut(&mut self, plane: usize) -> &mut [u8] {
        let r = self.plane_range(plane);
        &mut self.data[r]
    }

    /// All planes, packed back to back.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// All planes, packed back to back, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Copy `src` into this frame, which must have the same format and size. Never allocates.
    ///
    /// # Errors
    /// [`ProcessError::WrongLength`] if the sizes or formats differ.
    pub fn copy_from(&mut self, src: &VideoFrame) -> Result<(), ProcessError> {
        if src.format != self.format || src.width != self.width || src.height != self.height {
            return Err(ProcessError::WrongLength {
                expected: self.data.len(),
                got: src.data.len(),
            });
        }
        self.data.copy_from_slice(&src.data);
        self.timestamp = src.timestamp;
        self.keyframe = src.keyframe;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_layouts() {
        let f = VideoFrame::new(PixelFormat::Nv12, 5, 3).unwrap();
        assert_eq!(f.stride(0), 5);
        assert_eq!(f.stride(1), 6);
        assert_eq!(f.plane(0).len(), 15);
        assert_eq!(f.plane(1).len(), 12);
        assert!(f.plane(2).is_empty());
        assert_eq!(f.data().len(), 27);
        let f = VideoFrame::new(PixelFormat::I420, 5, 3).unwrap();
        assert_eq!(f.plane(1).len(), 6);
        assert_eq!(f.plane(2).len(), 6);
        assert!(f.plane(0).iter().all(|&b| b == 16));
        assert!(f.plane(2).iter().all(|&b| b == 128));
        let f = VideoFrame::new(PixelFormat::Rgba, 2, 2).unwrap();
        assert_eq!(
            f.data(),
            &[0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]
        );
    }

    #[test]
    fn rejects_bad_sizes_and_lengths() {
        assert!(VideoFrame::new(PixelFormat::I420, 0, 10).is_err());
        assert!(VideoFrame::new(PixelFormat::I420, MAX_DIMENSION + 1, 10).is_err());
        assert!(
            VideoFrame::from_packed(PixelFormat::I420, 4, 4, &[0; 23], MediaTime::ZERO).is_err()
        );
        assert!(
            VideoFrame::from_packed(PixelFormat::I420, 4, 4, &[0; 24], MediaTime::ZERO).is_ok()
        );
    }

    #[test]
    fn reshape_and_copy() {
        let mut a = VideoFrame::new(PixelFormat::I420, 4, 4).unwrap();
        let b = VideoFrame::new(PixelFormat::Rgba, 4, 4).unwrap();
        assert!(a.copy_from(&b).is_err());
        a.reshape(PixelFormat::Rgba, 4, 4).unwrap();
        a.copy_from(&b).unwrap();
        assert_eq!(a, b);
        assert!(a.reshape(PixelFormat::Rgba, 0, 4).is_err());
        assert_eq!(a.width(), 4);
    }
}
