//! Parla's congestion control, sans-IO: time is a number of microseconds passed in, nothing
//! here sleeps, spawns, reads a clock or opens a socket, and no per-packet or per-feedback path
//! allocates after construction (`tests/rt_no_alloc.rs`). See `docs/CONGESTION.md`.
//!
//! - [`twcc`]: transport-wide sequence numbers and feedback (parse, receiver-side recorder).
//! - [`estimator`]: the combined bandwidth estimator ([`delay`] trendline detector, [`rate`]
//!   AIMD / loss / acknowledged rate, [`probe`], [`alr`]).
//! - [`pacer`]: leaky-bucket pacer, audio first, probes and padding.
//! - [`allocator`]: bitrate allocator and the audio network adaptor (Opus settings).
//! - [`auth`]: authenticated feedback (HMAC trailer, replay window).
//! - [`rtcp`]: RTCP validity, report interval, the peer's reports (on `parla_rtp::rtcp`).
//!
//! # Send-side loop
//! ```no_run
//! use parla_cc::estimator::{BandwidthEstimator, CcConfig};
//! use parla_cc::pacer::{PacedPacket, Pacer, PacerConfig, PacerOutput, PacketKind};
//! # let now = 0i64;
//! let mut bwe = BandwidthEstimator::new(CcConfig::default()).unwrap();
//! let mut pacer = Pacer::new(PacerConfig::default(), bwe.target_bps()).unwrap();
//! pacer.enqueue(PacedPacket { id: 1, size: 120, kind: PacketKind::Audio });
//! loop {
//!     match pacer.poll(now) {
//!         PacerOutput::Send { packet, cluster } => {
//!             let _seq = bwe.on_packet_sent(now, packet.size, cluster);
//!             // stamp `_seq` (twcc::write_transport_seq) and send packet `packet.id`
//!         }
//!         PacerOutput::Padding { bytes, cluster } => {
//!             let _seq = bwe.on_packet_sent(now, bytes, cluster);
//!         }
//!         PacerOutput::Wait(_) | PacerOutput::Idle => break, // come back at the deadline
//!     }
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod allocator;
pub mod alr;
pub mod auth;
pub mod delay;
pub mod error;
pub mod estimator;
#[cfg(feature = "eval")]
pub mod eval;
pub mod pacer;
pub mod probe;
pub mod rate;
pub mod rtcp;
pub mod twcc;

pub use error::{ConfigError, FeedbackError, WriteError};
