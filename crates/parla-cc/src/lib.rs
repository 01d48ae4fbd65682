//! Parla's congestion control, sans-IO.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod allocator;
pub mod alr;
pub mod auth;
pub mod delay;
pub mod error;
pub mod estimator;
pub mod pacer;
pub mod probe;
pub mod rate;
pub mod rtcp;
pub mod twcc;

pub use error::{ConfigError, FeedbackError, WriteError};
