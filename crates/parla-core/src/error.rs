//! Error types shared by the media crates (STYLE.md section 4).
//!
//! Construction ([`ConfigError`]) and per-frame processing ([`ProcessError`]) are separate: the
//! second is `Copy`, carries numbers only and never allocates, so it can be returned on the
//! real-time path.

/// An error raised while building or configuring a component (off the real-time path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The sample rate is not one Parla supports for this component.
    #[error("unsupported sample rate {rate} Hz (supported: {supported})")]
    UnsupportedRate {
        /// The rate asked for.
        rate: u32,
        /// A human-readable list of what is supported.
        supported: &'static str,
    },
    /// The channel count is not supported by this component.
    #[error("unsupported channel count {channels} (supported: {supported})")]
    UnsupportedChannels {
        /// The count asked for.
        channels: u16,
        /// A human-readable list of what is supported.
        supported: &'static str,
    },
    /// A parameter is outside its valid range.
    #[error("invalid {name}: {detail}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A backend library refused to initialise.
    #[error("{backend} failed to initialise: {detail}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// The backend's own message.
        detail: String,
    },
}

/// An error from processing one frame. Cheap to return from the real-time path.
///
/// What the caller can do next: every variant is a caller bug or a mismatch with what was
/// prepared; the frame is not processed and the output is left unspecified. Call `prepare`
/// again with the right sizes, or pass correctly sized buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// A buffer is smaller than the component needs.
    #[error("buffer too small: needed {needed} samples, got {got}")]
    BufferTooSmall {
        /// Samples needed.
        needed: usize,
        /// Samples provided.
        got: usize,
    },
    /// A frame does not have the length the component was prepared for.
    #[error("wrong frame length: expected {expected} samples, got {got}")]
    WrongLength {
        /// Samples per frame the component was prepared for.
        expected: usize,
        /// Samples provided.
        got: usize,
    },
    /// `process_into` was called before `prepare`.
    #[error("component used before prepare()")]
    NotPrepared,
    /// A backend library reported a numeric error code.
    #[error("backend error code {code}")]
    Backend {
        /// The backend's error code.
        code: i32,
    },
}

/// The umbrella error of `parla-core`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Building or configuring failed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Processing a frame failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
}
