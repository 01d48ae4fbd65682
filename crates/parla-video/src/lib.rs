//! Parla's video pipeline building blocks, sans-IO: no threads, sockets or clocks; time is passed
//! in as [`parla_core::MediaTime`], packets go in and out as byte slices, and every per-packet or
//! per-frame call works in memory allocated at construction (STYLE.md R2).
//!
//! Send side:
//! - [`history`]: the packet history answering NACKs (RTT-aware re-send limiting);
//! - [`keyframe`]: keyframe requests with a minimum interval (used by both ends);
//! - [`control`]: target bitrate to resolution and frame rate, "balanced" (resolution first).
//!
//! Receive side:
//! - [`nack`]: missing sequence numbers, retry timing, give-up;
//! - [`jitter`]: the frame-delay Kalman jitter estimator behind render times;
//! - [`frame_buffer`]: decodable order, reference tracking, render times, skipping;
//! - [`receiver`]: the pipeline tying them to parla-rtp's frame assembler, RTX and RTCP.
//!
//! The design and measured figures are in `docs/VIDEO.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod control;
pub mod frame_buffer;
pub mod history;
pub mod jitter;
pub mod keyframe;
pub mod nack;
pub mod pattern;
pub mod receiver;

pub use control::{ControlConfig, EncoderControl, EncoderSettings};
pub use frame_buffer::{FrameBuffer, FrameBufferConfig, FrameInsert, ReadyFrame};
pub use history::{HistoryConfig, Resend, SendHistory};
pub use jitter::{JitterConfig, JitterEstimator};
pub use keyframe::KeyframeLimiter;
pub use nack::{NackConfig, NackModule};
pub use receiver::{ReceiverConfig, ReceiverStats, VideoReceiver};
