//! Parla's signal processing stages.
#![deny(missing_docs)]
// `unsafe` is allowed only in the module that wraps the native echo canceller (STYLE.md F1).
#![deny(unsafe_code)]

pub mod aec;
pub mod stage;

pub use stage::{EchoStage, Stage};
