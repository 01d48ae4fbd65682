//! Opus over RTP (RFC 7587).
//!
//! One Opus packet per RTP packet; the RTP clock is 48 kHz whatever rate the encoder runs at
//! (RFC 7587 section 4.1), so a 20 ms packet advances the timestamp by 960. The marker bit is set
//! on the first packet after a silence period (DTX), as for other audio formats.

use std::time::Duration;

use crate::error::{ParseError, WriteError};
use crate::rtp::{RtpPacket, RtpPacketSpec, RtpSequencer, SeqUnwrapper, TimestampUnwrapper};

/// The RTP clock rate of Opus, always 48 kHz.
pub const OPUS_CLOCK_RATE: u32 = 48_000;

/// RTP timestamp units (48 kHz samples) in `duration`, rounded down.
pub fn opus_rtp_samples(duration: Duration) -> u64 {
    (duration.as_micros() * u128::from(OPUS_CLOCK_RATE) / 1_000_000) as u64
}

/// Turns Opus packets into RTP packets, managing sequence numbers and timestamps.
#[derive(Debug, Clone)]
pub struct OpusPacketizer {
    seq: RtpSequencer,
    samples: u64,
    talkspurt_start: bool,
}

impl OpusPacketizer {
    /// A stream with the given SSRC and payload type whose first packet gets sequence number
    /// `first_seq` and timestamp `timestamp_offset` (both should be random, RFC 3550 5.1).
    pub fn new(ssrc: u32, payload_type: u8, first_seq: u16, timestamp_offset: u32) -> Self {
        OpusPacketizer {
            seq: RtpSequencer::new(ssrc, payload_type, first_seq, timestamp_offset),
            samples: 0,
            talkspurt_start: true,
        }
    }

    /// Writes one RTP packet carrying `opus` (one encoded Opus packet covering `duration`) into
    /// `out`; returns the packet length. The next packet's timestamp is advanced by `duration`.
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// [`WriteError`] if `opus` is empty or `out` is too small.
    pub fn packetize(
        &mut self,
        opus: &[u8],
        duration: Duration,
        out: &mut [u8],
    ) -> Result<usize, WriteError> {
        self.packetize_with(opus, duration, &[], out)
    }

    /// As [`packetize`](Self::packetize), with RFC 8285 header extension elements (e.g. a
    /// transport-wide sequence number placeholder the sender stamps when the packet leaves).
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// As [`packetize`](Self::packetize), and [`WriteError::OutOfRange`] for an element that
    /// cannot be encoded.
    pub fn packetize_with(
        &mut self,
        opus: &[u8],
        duration: Duration,
        extensions: &[crate::rtp::ExtensionElement<'_>],
        out: &mut [u8],
    ) -> Result<usize, WriteError> {
        // RT: writes into `out`, no allocation.
        if opus.is_empty() {
            return Err(WriteError::OutOfRange("Opus packet length (empty)"));
        }
        let spec = RtpPacketSpec {
            header: self
                .seq
                .next_header(self.samples, self.talkspurt_start, opus.len()),
            payload: opus,
            extensions,
            ..Default::default()
        };
        let n = spec.write_to(out)?;
        self.talkspurt_start = false;
        self.samples += opus_rtp_samples(duration);
        Ok(n)
    }

    /// Advances time by `duration` without sending (DTX or muted); the next packet starts a
    /// talkspurt and gets the marker bit.
    pub fn skip(&mut self, duration: Duration) {
        self.samples += opus_rtp_samples(duration);
        self.talkspurt_start = true;
    }

    /// The stream's sequence and counters (for sender reports).
    pub fn sequencer(&self) -> &RtpSequencer {
        &self.seq
    }

    /// The header the next [`packetize`](Self::packetize) will write (nothing moves): what an
    /// SFrame sender binds into the frame's authenticated data before packetizing
    /// ([`rtp_aad`](crate::e2ee::rtp_aad)).
    pub fn peek_header(&self) -> crate::rtp::RtpHeader {
        crate::rtp::RtpHeader {
            marker: self.talkspurt_start,
            payload_type: self.seq.payload_type(),
            sequence: self.seq.next_sequence(),
            timestamp: self.next_timestamp(),
            ssrc: self.seq.ssrc(),
        }
    }

    /// RTP timestamp the next packet will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.seq.rtp_timestamp(self.samples)
    }
}

/// One Opus packet taken from RTP, with its position in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusFrame<'a> {
    /// The Opus packet.
    pub payload: &'a [u8],
    /// Unwrapped (64-bit) sequence number.
    pub sequence: u64,
    /// Unwrapped (64-bit) RTP timestamp, 48 kHz units.
    pub timestamp: u64,
    /// Whether this packet starts a talkspurt.
    pub marker: bool,
}

/// Takes Opus packets out of RTP packets of one stream.
#[derive(Debug, Clone, Default)]
pub struct OpusDepacketizer {
    payload_type: Option<u8>,
    ssrc: Option<u32>,
    seq: SeqUnwrapper,
    ts: TimestampUnwrapper,
}

impl OpusDepacketizer {
    /// Accepts packets of `payload_type` only, or any payload type with `None`. The first
    /// accepted packet fixes the SSRC.
    pub fn new(payload_type: Option<u8>) -> Self {
        OpusDepacketizer {
            payload_type,
            ..Default::default()
        }
    }

    /// The SSRC the depacketizer locked to (the first packet's), if any.
    pub fn locked_ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// The Opus packet carried by `pkt`.
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// [`ParseError::Unsupported`] for another payload type or SSRC, [`ParseError::Malformed`]
    /// for an empty payload.
    pub fn depacketize<'a>(&mut self, pkt: &RtpPacket<'a>) -> Result<OpusFrame<'a>, ParseError> {
        // RT: no allocation.
        if self
            .payload_type
            .is_some_and(|pt| pt != pkt.header.payload_type)
        {
            return Err(ParseError::Unsupported("payload type"));
        }
        if self.ssrc.is_some_and(|s| s != pkt.header.ssrc) {
            return Err(ParseError::Unsupported("SSRC"));
        }
        if pkt.payload.is_empty() {
            return Err(ParseError::Malformed("empty Opus payload"));
        }
        self.ssrc = Some(pkt.header.ssrc);
        Ok(OpusFrame {
            payload: pkt.payload,
            sequence: self.seq.unwrap(pkt.header.sequence),
            timestamp: self.ts.unwrap(pkt.header.timestamp),
            marker: pkt.header.marker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_run_at_48k_and_marker_starts_talkspurts() {
        let mut p = OpusPacketizer::new(0xabc, 111, 100, 1000);
        let mut d = OpusDepacketizer::new(Some(111));
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        for i in 0..4 {
            if i == 2 {
                p.skip(Duration::from_millis(40));
            }
            let n = p
                .packetize(&[0xfc, i], Duration::from_millis(20), &mut buf)
                .unwrap();
            let pkt = RtpPacket::parse(&buf[..n]).unwrap();
            let f = d.depacketize(&pkt).unwrap();
            got.push((f.sequence, f.timestamp, f.marker, f.payload[1]));
        }
        assert_eq!(
            got,
            vec![
                (100, 1000, true, 0),
                (101, 1960, false, 1),
                (102, 1000 + 960 * 4, true, 2),
                (103, 1000 + 960 * 5, false, 3)
            ]
        );
        let mut other = [0u8; 64];
        let n = OpusPacketizer::new(0xabc, 96, 0, 0)
            .packetize(&[1], Duration::from_millis(20), &mut other)
            .unwrap();
        let pkt = RtpPacket::parse(&other[..n]).unwrap();
        assert_eq!(
            d.depacketize(&pkt),
            Err(ParseError::Unsupported("payload type"))
        );
    }
}
