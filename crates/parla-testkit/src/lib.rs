//! Parla's shared test helpers, for the integration tests of every crate (a dev-dependency only;
//! never a dependency of a library or binary).
//!
//! - [`seed`]: replayable seeds (`PARLA_TEST_SEED` overrides a test's default, and the seed used
//!   is printed so a failure can be rerun) and seeded RNGs.
//! - [`data`]: where the workspace, its bundled `samples/` and the shared data folder
//!   (`../shared`, or `PARLA_SHARED_DIR`) are; [`data::shared`] prints a clear skip message when
//!   shared data is absent, so tests skip rather than fail on a machine without it.
//! - [`wav`]: WAV reading (integer or float, any channel count) and writing (16-bit mono), with
//!   errors that name the file.
//! - [`bursts`]: seeded bursts of bad samples (NaN, infinities, subnormals, huge and loud values)
//!   and the checks of recovery after them, for the bad-sample tests of every stage.
//! - [`speech`]: the bundled test speech (`samples/near_speech_clean.wav`,
//!   `samples/far_speech_clean.wav`, 48 kHz mono).
//!
//! Crate-specific helpers (packet drivers, device sandboxes, echo scenarios) stay in each
//! crate's `tests/`.
//!
//! # Example
//! ```no_run
//! use parla_testkit::{data, seed, speech};
//! let mut rng = seed::seeded_rng(42); // prints "seed 42 (set PARLA_TEST_SEED to replay)"
//! let talker = speech::near_speech_48k();
//! let Some(traces) = data::shared("net-traces") else { return }; // prints why it skips
//! # let _ = (&mut rng, talker, traces);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bursts;
pub mod data;
pub mod seed;
pub mod speech;
pub mod wav;

pub use wav::{Wav, WavError, read_wav, write_wav};
