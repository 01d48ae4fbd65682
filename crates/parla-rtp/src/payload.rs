//! RTP payload formats and the receive-side frame assembler.
//!
//! - [`opus`]: RFC 7587, one Opus packet per RTP packet, 48 kHz RTP clock whatever the codec's
//!   internal rate.
//! - [`h264`]: RFC 6184 packetization-mode 1 (single NAL unit, STAP-A, FU-A) under an MTU limit.
//! - [`vp8`]: RFC 7741 payload descriptor with a 15-bit picture id and keyframe detection.
//! - [`generic`]: Parla's format for end-to-end encrypted video frames (frame start and
//!   keyframe flags before opaque SFrame ciphertext chunks).
//! - [`assembler`]: rebuilds complete frames from reordered, lossy packets and reports the
//!   frames it had to drop, the packets it misses and keyframe boundaries.
//!
//! Packetizers write into caller-supplied buffers (no allocation per packet): call
//! `next_into(&mut buf)` until it returns `None`; each call yields a [`PayloadChunk`].

pub mod assembler;
pub mod generic;
pub mod h264;
pub mod opus;
pub mod vp8;

/// One payload written by a packetizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadChunk {
    /// Bytes written at the start of the output buffer.
    pub len: usize,
    /// Whether this is the frame's last packet (set the RTP marker bit).
    pub last: bool,
}
