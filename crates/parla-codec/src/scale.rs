//! Pixel format conversion and scaling between I420, NV12 and RGBA at any size, through
//! FFmpeg's swscale (well kept, SIMD-optimised, and already linked for the video codecs).
//!
//! A [`Scaler`] keeps its swscale context and staging frames between calls and rebuilds them
//! only when the input or output format or size changes, so converting a stream of same-sized
//! frames does not allocate after the first frame.
//!
//! ```no_run
//! use parla_codec::scale::Scaler;
//! use parla_core::video::{PixelFormat, VideoFrame};
//! let camera = VideoFrame::new(PixelFormat::Nv12, 1280, 720).unwrap();
//! let mut out = VideoFrame::new(PixelFormat::I420, 640, 360).unwrap();
//! let mut scaler = Scaler::new().unwrap();
//! scaler.run(&camera, &mut out).unwrap();
//! ```

use ffmpeg_next::frame;
use ffmpeg_next::software::scaling::{Context, Flags};
use parla_core::video::{PixelFormat, VideoFrame};

use crate::error::{ConfigError, VideoError};
use crate::ff;

type Key = (PixelFormat, u32, u32, PixelFormat, u32, u32);

/// A cached swscale conversion from one format and size to another.
pub struct Scaler {
    state: Option<(Key, Context, frame::Video, frame::Video)>,
    flags: Flags,
}

impl std::fmt::Debug for Scaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scaler")
            .field("key", &self.state.as_ref().map(|s| s.0))
            .finish()
    }
}

impl Scaler {
    /// A scaler using bilinear filtering (a good speed/quality balance for camera frames).
    ///
    /// # Errors
    /// [`ConfigError::Backend`] if FFmpeg fails to initialise.
    pub fn new() -> Result<Self, ConfigError> {
        ff::init()?;
        Ok(Scaler {
            state: None,
            flags: Flags::BILINEAR,
        })
    }

    /// Convert and scale `src` into `dst`, which keeps its format and size (set them with
    /// [`VideoFrame::reshape`]). Timestamp and keyframe flag are copied.
    ///
    /// # Errors
    /// [`VideoError::Backend`] if swscale refuses the conversion.
    pub fn run(&mut self, src: &VideoFrame, dst: &mut VideoFrame) -> Result<(), VideoError> {
        let key = (
            src.format(),
            src.width(),
            src.height(),
            dst.format(),
            dst.width(),
            dst.height(),
        );
        if key.0 == key.3 && key.1 == key.4 && key.2 == key.5 {
            dst.copy_from(src)
                .map_err(|_| VideoError::Backend { code: -1 })?;
            return Ok(());
        }
        if self.state.as_ref().map(|s| s.0) != Some(key) {
            let ctx = Context::get(
                ff::av_pixel(key.0),
                key.1,
                key.2,
                ff::av_pixel(key.3),
                key.4,
                key.5,
                self.flags,
            )?;
            let input = frame::Video::new(ff::av_pixel(key.0), key.1, key.2);
            let output = frame::Video::new(ff::av_pixel(key.3), key.4, key.5);
            self.state = Some((key, ctx, input, output));
        }
        let Some((_, ctx, input, output)) = self.state.as_mut() else {
            return Err(VideoError::Backend { code: -1 });
        };
        ff::copy_to_av(src, input)?;
        ctx.run(input, output)?;
        ff::copy_from_av(output, key.3, dst)?;
        dst.timestamp = src.timestamp;
        dst.keyframe = src.keyframe;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> VideoFrame {
        let mut f = VideoFrame::new(PixelFormat::Rgba, w, h).unwrap();
        let data = f.data_mut();
        for y in 0..h as usize {
            for x in 0..w as usize {
                let i = (y * w as usize + x) * 4;
                data[i] = (x * 255 / w as usize) as u8;
                data[i + 1] = (y * 255 / h as usize) as u8;
                data[i + 2] = 128;
                data[i + 3] = 255;
            }
        }
        f
    }

    #[test]
    fn round_trips_through_every_format_and_odd_sizes() {
        let mut s = Scaler::new().unwrap();
        let src = gradient(64, 48);
        for fmt in [PixelFormat::I420, PixelFormat::Nv12] {
            let mut yuv = VideoFrame::new(fmt, 64, 48).unwrap();
            s.run(&src, &mut yuv).unwrap();
            let mut back = VideoFrame::new(PixelFormat::Rgba, 64, 48).unwrap();
            s.run(&yuv, &mut back).unwrap();
            let err: f64 = src
                .data()
                .iter()
                .zip(back.data())
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
                .sum::<f64>()
                / src.data().len() as f64;
            // 4:2:0 subsampling of a smooth gradient: a few code values of error on average.
            assert!(err < 4.0, "{fmt:?}: mean abs error {err}");
        }
        // Arbitrary (odd) sizes in both directions.
        let mut small = VideoFrame::new(PixelFormat::Nv12, 33, 17).unwrap();
        s.run(&src, &mut small).unwrap();
        assert_eq!((small.width(), small.height()), (33, 17));
        let mut big = VideoFrame::new(PixelFormat::I420, 101, 77).unwrap();
        s.run(&small, &mut big).unwrap();
        assert_eq!(big.data().len(), PixelFormat::I420.frame_len(101, 77));
        // The gradient survives: the left column is darker in red than the right one.
        let mut rgba = VideoFrame::new(PixelFormat::Rgba, 101, 77).unwrap();
        s.run(&big, &mut rgba).unwrap();
        let row = &rgba.data()[40 * 101 * 4..41 * 101 * 4];
        assert!(row[4] + 100 < row[100 * 4], "{} vs {}", row[4], row[400]);
    }
}
