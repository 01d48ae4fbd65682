//! Parla's foundation: what every other crate speaks.
//!
//! - [`format`](mod@format): sample rates, channel counts and the 10 ms frame unit.
//! - [`frame`]: audio frames with their media timestamp and per-frame metadata.
//! - [`time`]: [`MediaTime`], the microsecond clock every sans-IO crate is driven by.
//! - [`queue`]: the lock-free hand-offs between threads (a sample ring and a message queue)
//!   with their full/empty policies and counters.
//! - [`stats`]: an allocation-free latency histogram for per-stage CPU timing.
//! - [`video`]: video frames (I420, NV12, RGBA planes) with their size and media time.
//! - [`error`]: the construction and processing error types.
//! - `alloc_counter` (feature `_test-alloc`, tests only): a counting allocator that proves a
//!   region of code neither allocates nor frees.
//!
//! # Example: a 10 ms frame at 48 kHz
//! ```
//! use parla_core::format::AudioFormat;
//! let fmt = AudioFormat::new(48_000, 1).unwrap();
//! assert_eq!(fmt.frame_len(), 480);
//! ```
#![deny(missing_docs)]
// The lock-free queue wrappers are safe code; only the test allocator needs `unsafe`.
#![cfg_attr(not(feature = "_test-alloc"), forbid(unsafe_code))]

#[cfg(feature = "_test-alloc")]
pub mod alloc_counter;
pub mod error;
pub mod format;
pub mod frame;
pub mod queue;
pub mod stats;
pub mod time;
pub mod video;

pub use error::{ConfigError, Error, ProcessError};
pub use format::AudioFormat;
pub use frame::{AudioFrame, FrameMeta};
pub use time::MediaTime;
pub use video::{PixelFormat, VideoFrame};
