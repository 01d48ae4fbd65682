//! Parla's codecs: the end of the send chain and the start of the receive chain.
//!
//! - `opus` (feature `opus`): Opus encoder and decoder for calls (FEC, DTX, concealment,
//!   bitrate changes), through libopus 1.6 (the `opus` crate). Allocation-free per frame after
//!   construction.
//! - `video` (feature `video`): H.264 (libx264) and VP8 (libvpx) encoders and decoders through
//!   FFmpeg (`ffmpeg-next`): low-latency settings, bitrate and framerate changes mid-stream,
//!   forced keyframes, size changes and corrupt input reported rather than crashing.
//! - `scale` (feature `video`): swscale conversion and scaling between I420, NV12 and RGBA at
//!   any size.
//! - [`container`]: the small file formats the tools and the interop tests need: Ogg Opus
//!   (RFC 7845, feature `opus`), IVF, H.264 Annex-B access units, Y4M (pure Rust, always built).
//! - [`error`]: error types.
//!
//! This is the only crate that touches libopus and FFmpeg, so it is where their `unsafe` lives:
//! one field write that `ffmpeg-next` has no setter for (the VBV buffer size, see `video.rs`).
//! Everything else goes through the safe APIs of `opus` and `ffmpeg-next`.
//!
//! # Features
//! Both are on by default.
//! - `opus`: the `opus` module and `container::ogg_opus` (libopus, built from source by the
//!   `opus` crate; the Ogg page layer is pure Rust). An audio-only build uses
//!   `default-features = false, features = ["opus"]` and links no FFmpeg.
//! - `video`: the `video` and `scale` modules and `VideoError` (FFmpeg's libavcodec, libavutil
//!   and libswscale, and through them libx264 and libvpx). FFmpeg is linked only with it.
//!
//! # Example: one 20 ms Opus frame through encoder and decoder
//! ```no_run
//! # #[cfg(feature = "opus")] {
//! use parla_codec::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig, MAX_PACKET_BYTES};
//! let mut enc = OpusEncoder::new(&OpusEncoderConfig::voice(48_000, 1)).unwrap();
//! let mut dec = OpusDecoder::new(48_000, 1).unwrap();
//! let mut packet = [0u8; MAX_PACKET_BYTES];
//! let mut pcm = vec![0.0f32; dec.max_frame_samples()];
//! let info = enc.encode(&vec![0.0; enc.frame_samples()], &mut packet).unwrap();
//! let n = dec.decode(&packet[..info.len], &mut pcm).unwrap();
//! assert_eq!(n, 960);
//! # }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod container;
pub mod error;
#[cfg(feature = "video")]
mod ff;
#[cfg(feature = "opus")]
pub mod opus;
#[cfg(feature = "video")]
pub mod scale;
#[cfg(feature = "video")]
pub mod video;

pub use error::Error;
#[cfg(feature = "opus")]
pub use error::OpusError;
#[cfg(feature = "video")]
pub use error::VideoError;
