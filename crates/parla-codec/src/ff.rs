//! Glue between [`VideoFrame`] and FFmpeg's frames (crate-private).

use std::sync::Once;

use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame;
use parla_core::video::{PixelFormat, VideoFrame};

use crate::error::{ConfigError, VideoError};

static INIT: Once = Once::new();

/// Initialise FFmpeg once per process and keep its logging quiet (errors only), so corrupt
/// input in tests and calls does not flood stderr.
pub(crate) fn init() -> Result<(), ConfigError> {
    let mut result = Ok(());
    INIT.call_once(|| {
        if let Err(e) = ffmpeg_next::init() {
            result = Err(ConfigError::Backend {
                backend: "FFmpeg",
                detail: e.to_string(),
            });
        }
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
    result
}

/// FFmpeg's name for a pixel format.
pub(crate) fn av_pixel(format: PixelFormat) -> Pixel {
    match format {
        PixelFormat::I420 => Pixel::YUV420P,
        PixelFormat::Nv12 => Pixel::NV12,
        PixelFormat::Rgba => Pixel::RGBA,
    }
}

/// Copy the planes of `src` into `dst` (an FFmpeg frame of the same format and size), row by
/// row because FFmpeg pads its rows.
pub(crate) fn copy_to_av(src: &VideoFrame, dst: &mut frame::Video) -> Result<(), VideoError> {
    if dst.width() != src.width()
        || dst.height() != src.height()
        || dst.format() != av_pixel(src.format())
    {
        return Err(VideoError::WrongFrame {
            expected_width: dst.width(),
            expected_height: dst.height(),
            width: src.width(),
            height: src.height(),
        });
    }
    let format = src.format();
    for p in 0..format.plane_count() {
        let row = src.stride(p);
        let rows = format.plane_rows(p, src.height());
        let av_stride = dst.stride(p);
        let plane = src.plane(p);
        let av = dst.data_mut(p);
        for r in 0..rows {
            let (Some(d), Some(s)) = (
                av.get_mut(r * av_stride..r * av_stride + row),
                plane.get(r * row..(r + 1) * row),
            ) else {
                return Err(VideoError::Backend { code: -1 });
            };
            d.copy_from_slice(s);
        }
    }
    Ok(())
}

/// Copy an FFmpeg frame of a format we know into `dst`, reshaping `dst` to its size (which
/// reuses `dst`'s buffer when it is large enough).
pub(crate) fn copy_from_av(
    src: &frame::Video,
    format: PixelFormat,
    dst: &mut VideoFrame,
) -> Result<(), VideoError> {
    let (w, h) = (src.width(), src.height());
    dst.reshape(format, w, h)
        .map_err(|_| VideoError::TooLarge {
            width: w,
            height: h,
        })?;
    for p in 0..format.plane_count() {
        let row = dst.stride(p);
        let rows = format.plane_rows(p, h);
        let av_stride = src.stride(p);
        let av = src.data(p);
        let plane = dst.plane_mut(p);
        for r in 0..rows {
            let (Some(d), Some(s)) = (
                plane.get_mut(r * row..(r + 1) * row),
                av.get(r * av_stride..r * av_stride + row),
            ) else {
                return Err(VideoError::Backend { code: -1 });
            };
            d.copy_from_slice(s);
        }
    }
    Ok(())
}
