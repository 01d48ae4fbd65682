//! Error types of `parla-rtp` (STYLE.md section 4).
//!
//! Per-packet errors ([`ParseError`], [`WriteError`]) are `Copy`, carry numbers rather than
//! strings and never allocate, so they can be returned on the media thread. What the caller can do
//! next is the same for every parse error: drop the packet (it is untrusted input) and count it.

/// Why a packet, payload or header could not be parsed. The input is left untouched; discard it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer ends before the structure it announces.
    #[error("truncated: needed {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The version field is not 2 (RFC 3550).
    #[error("unsupported version {0}")]
    BadVersion(u8),
    /// The padding count is zero or larger than the packet allows.
    #[error("invalid padding count {0}")]
    BadPadding(u8),
    /// A field holds a value the format does not allow; the payload names the field.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The payload uses a packetization this implementation does not accept (for example
    /// STAP-B or MTAP in H.264, which packetization-mode 1 does not use).
    #[error("unsupported {0}")]
    Unsupported(&'static str),
}

/// Why a packet could not be written. Nothing useful was written; fix the arguments.
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
    /// A field is outside the range its wire format can carry; the payload names the field.
    #[error("{0} out of range for its wire format")]
    OutOfRange(&'static str),
}

/// The umbrella error of `parla-rtp`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Parsing untrusted input failed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Writing a packet failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Setting up or using end-to-end encryption failed.
    #[error(transparent)]
    E2ee(#[from] crate::e2ee::E2eeError),
    /// A frame was rejected by the end-to-end decryption.
    #[error(transparent)]
    Unprotect(#[from] crate::e2ee::UnprotectError),
    /// The key agreement failed.
    #[error(transparent)]
    KeyAgreement(#[from] crate::e2ee::KeyAgreementError),
    /// A component was configured with invalid parameters.
    #[error(transparent)]
    Config(#[from] parla_core::ConfigError),
}

/// Checks that `buf` holds at least `needed` bytes.
#[inline]
pub(crate) fn need(buf: &[u8], needed: usize) -> Result<(), ParseError> {
    if buf.len() < needed {
        Err(ParseError::Truncated {
            needed,
            got: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// Checks that `out` can take `needed` bytes.
#[inline]
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
