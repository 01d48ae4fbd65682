//! The small file formats Parla's tools and interop tests need.
//!
//! - `ogg_opus` (feature `opus`): Ogg Opus files (RFC 7845) over the `ogg` crate, which does the Ogg page layer
//!   (RFC 3533: CRC-32, lacing, page splitting and re-assembly) and is well kept and pure Rust;
//!   the Opus mapping on top (ID and comment headers, pre-skip, granule positions, end trimming)
//!   is ours.
//! - [`ivf`]: IVF, the VP8 test-stream container (a 32-byte header and 12-byte frame headers).
//! - [`annexb`]: H.264 Annex-B byte streams: start codes, NAL units and access-unit splitting.
//! - [`y4m`]: YUV4MPEG2 raw video (4:2:0), for test patterns and raw input/output.
//!
//! Readers treat files as untrusted: sizes are checked against limits before allocating, and
//! malformed input returns [`ContainerError`], never a panic.

pub mod annexb;
pub mod ivf;
#[cfg(feature = "opus")]
pub mod ogg_opus;
pub mod y4m;

/// A container read or write failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// Reading or writing the underlying file failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The data is not in the expected format.
    #[error("malformed {format} data: {what}")]
    Format {
        /// The container.
        format: &'static str,
        /// What is wrong.
        what: &'static str,
    },
    /// A size in the data is over the limit this reader accepts.
    #[error("{what} is {value}, over the limit of {max}")]
    Limit {
        /// What was measured.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The limit.
        max: u64,
    },
}
