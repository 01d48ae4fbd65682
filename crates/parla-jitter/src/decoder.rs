//! The decoder interface the jitter buffer drives.
//!
//! It is shaped after Opus (RFC 6716) so that the Opus adapter in `parla-codec` maps onto it one
//! to one: a packet carries 10 to 60 ms (Opus allows 2.5-120 ms; the buffer takes anything up to
//! its configured `max_packet_ms`); [`AudioDecoder::decode_fec`] is `opus_decode(next, fec=1)`,
//! which recovers the *previous* packet from the in-band FEC (LBRR) data of the next one;
//! [`AudioDecoder::conceal`] is `opus_decode(NULL)` (packet loss concealment, lengths a multiple
//! of 2.5 ms: the buffer asks for 10 ms and 2.5 ms pieces); [`AudioDecoder::is_dtx`] spots
//! the 1-2 byte DTX frames Opus sends during silence, after which the buffer asks for
//! [`AudioDecoder::comfort_noise`] (for Opus again `opus_decode(NULL)`, which produces comfort
//! noise while in DTX) instead of concealment. Output is mono `f32` at the decoder's rate.
//!
//! All methods are called from the buffer's owner thread on the real-time path: an
//! implementation must not allocate, lock or do I/O in them.

/// A decoder error. Cheap to return on the real-time path. What the caller (the buffer) does:
/// it conceals the packet's duration instead and counts the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload is not a valid packet.
    #[error("malformed payload")]
    Malformed,
    /// The output buffer is too small for the packet.
    #[error("output too small: needed {needed}, got {got}")]
    BufferTooSmall {
        /// Samples needed.
        needed: usize,
        /// Samples provided.
        got: usize,
    },
    /// The codec library returned an error code.
    #[error("codec error {0}")]
    Backend(i32),
}

/// What the jitter buffer needs from an audio decoder (mono, `f32`).
pub trait AudioDecoder {
    /// Output sample rate in Hz.
    fn sample_rate(&self) -> u32;

    /// The duration of a packet in samples, from its payload alone (Opus: TOC byte and frame
    /// count). Called on insert.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] for a payload that cannot be a packet.
    fn packet_samples(&self, payload: &[u8]) -> Result<usize, DecodeError>;

    /// Whether the packet is a DTX (silence) frame: while the stream is in DTX, the buffer
    /// fills gaps with comfort noise rather than concealment.
    fn is_dtx(&self, payload: &[u8]) -> bool;

    /// Whether the packet carries in-band FEC data for the packet before it.
    fn has_fec(&self, payload: &[u8]) -> bool;

    /// Decode a packet into `out` (at least `packet_samples` long); returns the samples written.
    ///
    /// # Errors
    /// [`DecodeError`] when the packet cannot be decoded.
    fn decode(&mut self, payload: &[u8], out: &mut [f32]) -> Result<usize, DecodeError>;

    /// Recover the packet *before* `next_payload` from its FEC data, filling all of `out` (the
    /// buffer passes the missing packet's duration). Returns the samples written.
    ///
    /// # Errors
    /// [`DecodeError`] when there is no usable FEC data.
    fn decode_fec(&mut self, next_payload: &[u8], out: &mut [f32]) -> Result<usize, DecodeError>;

    /// Conceal a missing stretch of audio (packet loss concealment), filling all of `out`.
    ///
    /// # Errors
    /// [`DecodeError`] from the codec.
    fn conceal(&mut self, out: &mut [f32]) -> Result<(), DecodeError>;

    /// Comfort noise during DTX, filling all of `out`.
    ///
    /// # Errors
    /// [`DecodeError`] from the codec.
    fn comfort_noise(&mut self, out: &mut [f32]) -> Result<(), DecodeError>;
}
