//! Parla's signal processing stages.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod stage;
pub mod stretch;

pub use stage::{EchoStage, Stage};
