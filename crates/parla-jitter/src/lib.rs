//! Parla's adaptive audio jitter buffer (sans-IO, clock-driven).
//!
//! Packets go in with [`JitterBuffer::insert`] and the time they arrived; 10 ms of audio comes
//! out with [`JitterBuffer::pull`] at the receiver time of the pull, with a [`PullReport`]
//! saying what was done (NetEq's operations: normal, accelerate, fast accelerate, preemptive
//! expand, expand, merge, comfort noise). It never reads a clock, sleeps or spawns: time is an
//! argument, so a call is reproducible from a trace.
//!
//! # How it works
//! - **Storage**: packets sit in slots preallocated at construction (count and payload size in
//!   [`JitterConfig`]); the decoded-but-unplayed audio sits in a fixed buffer. `insert` and
//!   `pull` never allocate (tested with the counting allocator in `tests/rt_no_alloc.rs`).
//! - **Order and accounting**: sequence numbers and timestamps are unwrapped ([`seq`]);
//!   duplicates are found in a 1024-packet window; a packet whose playout slot has passed is
//!   dropped and counted as late; a sequence or timestamp discontinuity (sender restart, a jump
//!   of over 1 s, or over 10 s after DTX) re-bases the stream so the timeline continues.
//! - **Target delay** ([`delay`]): each packet's relative delay feeds an estimator that sets a
//!   target playout offset; the default is a NetEq-family histogram with a quantile, with 1 ms
//!   resolution, spike awareness and a bounded relaxation rate.
//! - **Per 10 ms** the buffer decodes the due packet; if it is missing it recovers it from the
//!   next packet's FEC, or conceals (expand) while the gap lasts and then skips to the next
//!   packet (merge, with a cross-fade); with an empty buffer it keeps concealing, which raises
//!   the delay instead of losing the packets of a delay spike, unless a wait limit is set (a
//!   backlog bound [`JitterConfig::max_backlog_ms`] as in the low-delay preset
//!   [`JitterConfig::low_delay`], a delay cap [`JitterConfig::max_delay_ms`], or a bound that
//!   applies only on links that stall often, [`JitterConfig::stall_regime`]): then packets too
//!   far behind the target are dropped as late. During DTX it plays comfort noise.
//!   Between those, it keeps the playout offset near the target: accelerate by one pitch period
//!   above the target, fast accelerate far above it, preemptive expand below it, using the
//!   pitch-synchronous stretcher of [`stretch`].
//! - **Decoder**: any [`AudioDecoder`]; the trait is shaped for Opus (10-60 ms packets, in-band
//!   FEC, DTX and comfort noise). The Opus adapter is `opus::OpusAudioDecoder` (feature
//!   `opus`, off by default: it links libopus through parla-codec); [`pcm`] is a simple
//!   deterministic PCM payload for tests and tools that need exact, codec-free audio.
//!
//! # Features
//! - `opus` (off by default): the Opus adapter `opus::OpusAudioDecoder`, through parla-codec
//!   with only its `opus` feature (libopus; never FFmpeg). Without it the crate is pure Rust
//!   with no native dependency: the buffer, the delay estimators, the time stretcher and the
//!   PCM payload need none.
//!
//! # Example: the owner's loop
//! ```no_run
//! use parla_core::MediaTime;
//! use parla_jitter::{JitterBuffer, JitterConfig, Packet, pcm::PcmDecoder};
//!
//! let decoder = PcmDecoder::new(48_000).unwrap();
//! let mut jb = JitterBuffer::new(JitterConfig::new(48_000), decoder).unwrap();
//! let mut out = vec![0.0f32; jb.frame_len()];
//! # let incoming: Vec<(u16, u32, Vec<u8>, MediaTime)> = Vec::new();
//! # let now = MediaTime::ZERO;
//! // Every 10 ms on the media thread: insert what arrived, then pull.
//! for (seq, timestamp, payload, arrival) in &incoming {
//!     let _ = jb.insert(Packet { seq: *seq, timestamp: *timestamp, payload }, *arrival);
//! }
//! let report = jb.pull(now, &mut out).unwrap();
//! println!("{:?}, delay {} ms", report.action, jb.stats().current_delay_ms);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod buffer;
pub mod decoder;
pub mod delay;
pub mod error;
#[cfg(feature = "opus")]
pub mod opus;
pub mod pcm;
pub mod replay;
pub mod seq;
pub mod stats;
pub mod stretch;

pub use buffer::{Action, InsertOutcome, JitterBuffer, JitterConfig, Packet, PullReport, Started};
pub use decoder::{AudioDecoder, DecodeError};
pub use delay::{DelayPolicy, HistogramTuning};
pub use error::{InsertError, JitterConfigError, PullError};
pub use stats::JitterStats;
