//! The crate's error types (STYLE.md section 4).
//!
//! Construction errors are [`parla_core::ConfigError`]. Per-frame errors are `Copy` and carry
//! numbers only: `crate::opus::OpusError` for audio (feature `opus`), `VideoError` for video
//! and scaling (feature `video`). [`Error`] wraps them all for callers that want one type.

pub use parla_core::ConfigError;

#[cfg(feature = "opus")]
pub use crate::opus::OpusError;

/// A per-frame video or scaling failure.
///
/// What the caller can do next: [`VideoError::InvalidData`] means the input was corrupt or
/// undecodable: drop it, keep the decoder, and ask the sender for a keyframe. The others are
/// caller bugs or a broken backend.
#[cfg(feature = "video")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// Corrupt or undecodable input (or a decoded picture the decoder flagged as corrupt).
    #[error("corrupt or undecodable video data")]
    InvalidData,
    /// A frame does not have the size or format the component was set up for.
    #[error("wrong frame: expected {expected_width}x{expected_height}, got {width}x{height}")]
    WrongFrame {
        /// Width expected.
        expected_width: u32,
        /// Height expected.
        expected_height: u32,
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
    },
    /// A decoded picture is larger than [`parla_core::video::MAX_DIMENSION`].
    #[error("decoded picture too large: {width}x{height}")]
    TooLarge {
        /// Width decoded.
        width: u32,
        /// Height decoded.
        height: u32,
    },
    /// The encoder or decoder was flushed and takes no more input.
    #[error("end of stream")]
    Eof,
    /// FFmpeg returned another error code.
    #[error("FFmpeg error {code}")]
    Backend {
        /// FFmpeg's (negative) error code.
        code: i32,
    },
}

#[cfg(feature = "video")]
impl From<ffmpeg_next::Error> for VideoError {
    fn from(e: ffmpeg_next::Error) -> Self {
        match e {
            ffmpeg_next::Error::InvalidData
            | ffmpeg_next::Error::Bug
            | ffmpeg_next::Error::Bug2 => VideoError::InvalidData,
            ffmpeg_next::Error::Eof => VideoError::Eof,
            other => VideoError::Backend {
                code: i32::from(other),
            },
        }
    }
}

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Building or configuring failed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An Opus frame failed.
    #[cfg(feature = "opus")]
    #[error(transparent)]
    Opus(#[from] OpusError),
    /// A video frame failed.
    #[cfg(feature = "video")]
    #[error(transparent)]
    Video(#[from] VideoError),
    /// Reading or writing a file format failed.
    #[error(transparent)]
    Container(#[from] crate::container::ContainerError),
}
