//! Objective quality metrics, used by tests, the CLI reports and the benchmark harness.
//!
//! All functions take mono `f32` signals at one sample rate and are pure: SI-SDR, segmental
//! SNR, RMS level ([`signal`]), delay by cross-correlation, whole or streaming ([`delay`]), the log-spectral distance
//! ([`spectral`]) and echo return loss enhancement with double-talk figures ([`echo`]).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod delay;
pub mod echo;
pub mod signal;
pub mod spectral;

pub use delay::{Correlator, DelayStream, estimate_delay};
pub use signal::{align, rms_db, segmental_snr_db, si_sdr_db};
pub use spectral::log_spectral_distance_db;
