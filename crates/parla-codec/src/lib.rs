//! Parla's codecs: the end of the send chain and the start of the receive chain.
//!
//! - [`opus`]: Opus encoder and decoder for calls (FEC, DTX, concealment, bitrate changes),
//!   through libopus 1.6 (the `opus` crate). Allocation-free per frame after construction.
//! - [`video`]: H.264 (libx264) and VP8 (libvpx) encoders and decoders through FFmpeg
//!   (`ffmpeg-next`): low-latency settings, bitrate and framerate changes mid-stream, forced
//!   keyframes, size changes and corrupt input reported rather than crashing.
//! - [`scale`]: swscale conversion and scaling between I420, NV12 and RGBA at any size.
//! - [`container`]: the small file formats the tools and the interop tests need: Ogg Opus
//!   (RFC 7845), IVF, H.264 Annex-B access units, Y4M.
//! - [`error`]: error types.
//!
//! This is the only crate that touches libopus and FFmpeg, so it is where their `unsafe` lives:
//! one field write that `ffmpeg-next` has no setter for (the VBV buffer size, see `video.rs`).
//! Everything else goes through the safe APIs of `opus` and `ffmpeg-next`.
//!
//! # Example: one 20 ms Opus frame through encoder and decoder
//! ```no_run
//! use parla_codec::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig, MAX_PACKET_BYTES};
//! let mut enc = OpusEncoder::new(&OpusEncoderConfig::voice(48_000, 1)).unwrap();
//! let mut dec = OpusDecoder::new(48_000, 1).unwrap();
//! let mut packet = [0u8; MAX_PACKET_BYTES];
//! let mut pcm = vec![0.0f32; dec.max_frame_samples()];
//! let info = enc.encode(&vec![0.0; enc.frame_samples()], &mut packet).unwrap();
//! let n = dec.decode(&packet[..info.len], &mut pcm).unwrap();
//! assert_eq!(n, 960);
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod container;
pub mod error;
mod ff;
pub mod opus;
pub mod scale;
pub mod video;

pub use error::{Error, OpusError, VideoError};
