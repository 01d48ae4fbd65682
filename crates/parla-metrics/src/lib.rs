//! Objective quality metrics, used by tests, the CLI reports and the benchmark harness.
//!
//! All functions take mono `f32` signals at one sample rate and are pure.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod echo;
pub mod signal;

pub use signal::{align, estimate_delay, rms_db, segmental_snr_db, si_sdr_db};
