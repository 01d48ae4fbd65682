//! Errors of the jitter buffer (STYLE.md section 4).

/// An error building a jitter buffer (off the real-time path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JitterConfigError {
    /// A parameter is out of range.
    #[error("invalid {name}: {detail}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        detail: &'static str,
    },
    /// The decoder's sample rate differs from the configured one.
    #[error("decoder runs at {decoder} Hz but the buffer is configured for {config} Hz")]
    RateMismatch {
        /// The decoder's rate.
        decoder: u32,
        /// The configured rate.
        config: u32,
    },
}

/// Why a packet was refused by [`insert`](crate::JitterBuffer::insert). Cheap (`Copy`, no
/// allocation). What the caller can do next: nothing; the packet is discarded and counted, and the
/// buffer goes on (untrusted input never breaks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The payload is larger than the slots (configured `max_payload`).
    #[error("payload of {len} bytes exceeds the {max}-byte slots")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// The slot size.
        max: usize,
    },
    /// The decoder could not parse the payload (or its duration is out of range).
    #[error("malformed payload")]
    Malformed,
}

/// A misuse of [`pull`](crate::JitterBuffer::pull). `Copy`; the caller fixes its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// The output slice is not exactly one 10 ms frame.
    #[error("output must be {expected} samples (10 ms), got {got}")]
    WrongLength {
        /// Samples per 10 ms at the configured rate.
        expected: usize,
        /// Samples given.
        got: usize,
    },
}
