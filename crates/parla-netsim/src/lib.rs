//! Parla's network emulator (sans-IO, deterministic).
//!
//! It makes per-packet traces of a voice stream: for every packet, its send time and the arrival
//! time of each copy (none if it was lost). Two sources:
//! - [`model`]: seeded models with Gilbert-Elliott bursty loss, Pareto or lognormal jitter, delay
//!   spikes (handovers), reordering, duplication and sender clock drift;
//! - [`link`]: a bottleneck FIFO queue driven by a Mahimahi link trace (real cellular capacity)
//!   with optional bursty cross traffic, in [`scenario::run_link`].
//!
//! [`trace`] reads and writes the per-packet CSV (`seq,send_ts_us,arrival_ts_us`), and
//! [`scenario`] names the conditions the evaluation runs. Nothing here reads a clock, sleeps,
//! spawns or opens a socket: time is a number and randomness a seeded ChaCha8 stream, so a seed
//! reproduces a trace exactly. Reading files is the caller's job (the CLI, or tests that find the
//! shared traces through `PARLA_SHARED_DIR`).
//!
//! # Example
//! ```
//! use parla_netsim::{model::ModelConfig, model::generate, trace::to_csv};
//! let rows = generate(&ModelConfig::default(), 1.0, 42).unwrap();
//! assert_eq!(rows.len(), 50);
//! assert!(to_csv(&rows).starts_with("seq,send_ts_us,arrival_ts_us\n"));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod error;
pub mod link;
pub mod model;
pub mod scenario;
pub mod trace;

pub use error::NetsimError;
pub use trace::PacketRecord;
