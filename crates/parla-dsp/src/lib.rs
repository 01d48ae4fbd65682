//! Parla's signal processing stages and the send chain.
//!
//! - [`stage`]: the [`Stage`] interface (`prepare` once, allocation-free `process_into` per
//!   10 ms frame) and [`EchoStage`] for stages that also take the far-end signal.
//! - [`ns`]: noise suppression (nnnoiseless) with voice-activity probability, strength, bypass.
//! - [`spectral`]: a statistical (Wiener, minimum-statistics) spectral noise suppressor, blended
//!   with RNNoise by the estimated SNR inside [`ns`].
//! - [`resample`]: streaming resampling (rubato), fixed-ratio and drift-adjustable.
//! - [`aec`]: acoustic echo cancellation (WebRTC AEC3/AECM through webrtc-audio-processing, or
//!   the pure-Rust sonora port), an [`EchoStage`].
//! - [`agc`]: WebRTC's high-pass filter and AGC2 (adaptive digital gain + limiter) as a stage.
//! - [`chain`]: [`SendChain`], which runs the stages in order on 10 ms frames between a
//!   device/file rate and the processing and output rates, with per-stage timing.
//!
//! # Example: clean a recording offline
//! ```no_run
//! use parla_dsp::chain::{SendChain, SendChainConfig};
//! # fn load() -> Vec<f32> { vec![0.0; 44_100] }
//! let mic: Vec<f32> = load(); // mono, 44.1 kHz
//! let mut chain = SendChain::new(SendChainConfig::new(44_100)).unwrap();
//! let cleaned = chain.process_offline(&mic, None).unwrap();
//! assert_eq!(cleaned.len(), mic.len());
//! ```
#![deny(missing_docs)]
// `unsafe` is allowed only in the modules that wrap the native audio processing library (the
// echo canceller's and the gain stage's `webrtc` submodules; STYLE.md F1).
#![deny(unsafe_code)]

pub mod aec;
pub mod agc;
pub mod chain;
pub mod ns;
pub mod resample;
pub mod spectral;
pub mod stage;

pub use chain::{OfflineBack, OfflineFront, OfflineRun, SendChain, SendChainConfig, SplitFrame};
pub use stage::{EchoStage, Stage};
