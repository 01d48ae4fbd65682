//! Whole-call simulation: two Parla endpoints in one process, each with its send and receive
//! pipelines, end-to-end encrypted after a real X25519 key agreement, talking over a simulated
//! network ([`network`], `parla-netsim`'s named conditions or a link trace), each with its
//! loudspeaker echoing into its own microphone through a room ([`parla_metrics::echo::room`]).
//! The talkers take turns ([`talk`]); the report ([`report`]) is measured from the signals and
//! the counters as the call goes ([`analysis`]), so memory stays flat in the call's length.
//!
//! - Simulated clock (default): both endpoints are sans-IO `MediaCore`s ticked every 10 ms as
//!   fast as the CPU allows; everything is seeded (the X25519 keys come from the OS).
//! - Real time ([`SimConfig::realtime`]): two threaded `Call`s in app-owned mode, paced by the
//!   wall clock.
//!
//! `parla call` is a thin front end over [`run`]; docs/CALL.md says what each figure means.
//!
//! # Example
//! ```no_run
//! let mut cfg = parla_sim::SimConfig::new("mobile-4g", 20.0)?;
//! cfg.seed = 7;
//! let report = parla_sim::run(&cfg)?;
//! print!("{}", parla_sim::report::summary(&report));
//! # Ok::<(), parla_sim::SimError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod analysis;
mod drive;
mod error;
pub mod link;
pub mod network;
pub mod report;
pub mod talk;
pub mod video;

pub use drive::{FRAME, SimConfig, run};
pub use error::SimError;
pub use link::LinkSpec;
pub use network::NetworkSpec;
pub use parla_video::pattern::Pattern;
pub use report::Report;
pub use talk::{Bundled, RATE};
pub use video::{SimVideo, pattern_name};
