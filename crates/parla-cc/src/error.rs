//! Error types of `parla-cc` (STYLE.md section 4).
//!
//! Per-packet errors are `Copy`, carry numbers and never allocate, so they can be returned on the
//! media thread. For every [`FeedbackError`] the caller does the same thing: drop the packet (it
//! is untrusted input), count it, go on; the estimator state is unchanged.

/// Why a feedback packet (transport-cc, RTCP, or its authentication trailer) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedbackError {
    /// The buffer ends before the structure it announces.
    #[error("truncated: needed {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// A field holds a value the format does not allow; the payload names the field.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The packet is not a transport-cc feedback (wrong version, packet type or format).
    #[error("not a transport-wide feedback packet")]
    NotTransportFeedback,
    /// The authentication tag did not verify (forged, mutated or truncated).
    #[error("authentication failed")]
    Authentication,
    /// The index was seen already or is older than the replay window.
    #[error("replayed index {0}")]
    Replayed(u32),
    /// The RTCP packet comes from a source this endpoint does not know.
    #[error("unknown source {0:#x}")]
    UnknownSource(u32),
}

/// Why a packet or report could not be written. Nothing useful was written; fix the arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The output buffer is smaller than the packet.
    #[error("output buffer too small: needed {needed} bytes, got {got}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// A field is outside what its wire format can carry; the payload names the field.
    #[error("{0} out of range for its wire format")]
    OutOfRange(&'static str),
    /// The packet has no header extension element with the configured id to rewrite.
    #[error("no transport-wide sequence number extension (id {0}) in the packet")]
    NoExtension(u8),
    /// The 31-bit authentication index is exhausted: derive new keys (a new call).
    #[error("authentication index exhausted")]
    IndexExhausted,
}

/// Why a component could not be built. Fix the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A parameter is out of its range; the payload names it and the range.
    #[error("invalid {name}: {detail}")]
    Invalid {
        /// The parameter.
        name: &'static str,
        /// What is allowed.
        detail: &'static str,
    },
}

pub(crate) fn need(buf: &[u8], needed: usize) -> Result<(), FeedbackError> {
    if buf.len() < needed {
        Err(FeedbackError::Truncated {
            needed,
            got: buf.len(),
        })
    } else {
        Ok(())
    }
}

pub(crate) fn room(out: &[u8], needed: usize) -> Result<(), WriteError> {
    if out.len() < needed {
        Err(WriteError::BufferTooSmall {
            needed,
            got: out.len(),
        })
    } else {
        Ok(())
    }
}
