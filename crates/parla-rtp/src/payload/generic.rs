//! Parla's payload format for end-to-end encrypted video frames.
//!
//! With SFrame over the whole encoded frame (RFC 9605 section 4.2, per-frame protection), the
//! payload formats of the codecs (RFC 6184 for H.264, RFC 7741 for VP8) cannot be used: they
//! cut the bitstream at NAL units or partitions, and the bitstream is ciphertext. Like the
//! "generic" packetization of RFC 9605 section 4.4 and the SFrame RTP payload format being
//! drafted in the AVTCORE working group, the protected frame is cut into equal-ish chunks,
//! each after a one-byte payload header:
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+
//! |S|K| V |  rsv  |
//! +-+-+-+-+-+-+-+-+
//! ```
//!
//! - `S`: this packet starts a frame.
//! - `K`: the frame is a keyframe (set on every packet of the frame).
//! - `V`: version, 0.
//! - `rsv`: reserved, 0 on send, ignored on receive.
//!
//! The RTP marker bit ends the frame. What a forwarding server (SFU) can still read without the
//! keys: frame boundaries, keyframes, sizes and the RTP header; not the codec, resolution or any
//! picture data. The flags are not authenticated by SFrame (only the frame is); a path attacker
//! who flips them can only make a receiver drop or mis-assemble a frame, which then fails SFrame
//! authentication, as dropping the packet would.

use crate::error::{ParseError, WriteError, room};
use crate::payload::PayloadChunk;
use crate::payload::assembler::{Depacketizer, FrameBuf};

/// Length of the payload header.
pub const GENERIC_HEADER_LEN: usize = 1;
const START: u8 = 0x80;
const KEY: u8 = 0x40;
const VERSION_MASK: u8 = 0x30;

/// Splits protected frames into payloads of at most `max_payload` bytes, each starting with the
/// header above. The chunks are balanced (their sizes differ by at most one byte), so no tiny
/// last packet is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenericPacketizer {
    max_payload: usize,
}

impl GenericPacketizer {
    /// A packetizer for payloads of at most `max_payload` bytes.
    ///
    /// # Errors
    /// [`parla_core::ConfigError::InvalidParameter`] if `max_payload` is below 16 bytes.
    pub fn new(max_payload: usize) -> Result<Self, parla_core::ConfigError> {
        if max_payload < 16 {
            return Err(parla_core::ConfigError::InvalidParameter {
                name: "max_payload",
                detail: format!("{max_payload} bytes is below the minimum of 16"),
            });
        }
        Ok(GenericPacketizer { max_payload })
    }

    /// The payloads of one protected frame.
    pub fn packetize<'a>(&self, frame: &'a [u8], keyframe: bool) -> GenericPayloads<'a> {
        let room = self.max_payload - GENERIC_HEADER_LEN;
        let packets = frame.len().div_ceil(room).max(1);
        GenericPayloads {
            frame,
            pos: 0,
            index: 0,
            packets,
            keyframe,
            done: frame.is_empty(),
        }
    }

    /// How many packets a frame of `len` bytes takes.
    pub fn packets_for(&self, len: usize) -> usize {
        len.div_ceil(self.max_payload - GENERIC_HEADER_LEN).max(1)
    }
}

/// The payloads of one frame; call [`next_into`](Self::next_into) until `None`.
#[derive(Debug, Clone)]
pub struct GenericPayloads<'a> {
    frame: &'a [u8],
    pos: usize,
    index: usize,
    packets: usize,
    keyframe: bool,
    done: bool,
}

impl GenericPayloads<'_> {
    /// Writes the next payload into `out`.
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// [`WriteError::BufferTooSmall`] if `out` is too short.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<Result<PayloadChunk, WriteError>> {
        // RT: no allocation.
        if self.done {
            return None;
        }
        // Balanced chunks: the first `extra` chunks get one byte more.
        let base = self.frame.len() / self.packets;
        let extra = self.frame.len() % self.packets;
        let take = base + usize::from(self.index < extra);
        if let Err(e) = room(out, GENERIC_HEADER_LEN + take) {
            return Some(Err(e));
        }
        out[0] = if self.pos == 0 { START } else { 0 } | if self.keyframe { KEY } else { 0 };
        out[1..=take].copy_from_slice(&self.frame[self.pos..self.pos + take]);
        self.pos += take;
        self.index += 1;
        self.done = self.index == self.packets;
        Some(Ok(PayloadChunk {
            len: GENERIC_HEADER_LEN + take,
            last: self.done,
        }))
    }
}

/// Takes protected frames out of RTP payloads (used by the frame assembler).
#[derive(Debug, Clone, Copy, Default)]
pub struct GenericDepacketizer;

fn header(payload: &[u8]) -> Option<u8> {
    payload
        .first()
        .copied()
        .filter(|h| h & VERSION_MASK == 0 && payload.len() > GENERIC_HEADER_LEN)
}

impl Depacketizer for GenericDepacketizer {
    fn is_frame_start(&self, payload: &[u8]) -> bool {
        header(payload).is_some_and(|h| h & START != 0)
    }

    fn is_keyframe(&self, payload: &[u8]) -> bool {
        header(payload).is_some_and(|h| h & (START | KEY) == START | KEY)
    }

    fn begin_frame(&mut self) {}

    fn depacketize(&mut self, payload: &[u8], out: &mut FrameBuf) -> Result<(), ParseError> {
        // RT: appends to a preallocated frame buffer.
        if header(payload).is_none() {
            return Err(ParseError::Malformed(
                "generic video payload: empty or unknown version",
            ));
        }
        out.push(&payload[GENERIC_HEADER_LEN..])
    }

    fn end_frame(&mut self) -> Result<(), ParseError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(p: &GenericPacketizer, frame: &[u8], key: bool) -> Vec<(Vec<u8>, bool)> {
        let mut it = p.packetize(frame, key);
        let mut buf = [0u8; 64];
        let mut out = Vec::new();
        while let Some(c) = it.next_into(&mut buf) {
            let c = c.unwrap();
            out.push((buf[..c.len].to_vec(), c.last));
        }
        out
    }

    #[test]
    fn round_trip_balanced_with_flags() {
        let p = GenericPacketizer::new(64).unwrap();
        let d = GenericDepacketizer;
        for len in [1usize, 62, 63, 64, 126, 127, 1000] {
            let frame: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for key in [false, true] {
                let pkts = split(&p, &frame, key);
                assert_eq!(pkts.len(), p.packets_for(len), "len {len}");
                let sizes: Vec<usize> = pkts.iter().map(|(b, _)| b.len()).collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1 && *hi <= 64, "{sizes:?}");
                assert!(pkts.last().unwrap().1);
                assert!(pkts[..pkts.len() - 1].iter().all(|(_, last)| !last));
                assert!(d.is_frame_start(&pkts[0].0));
                assert_eq!(d.is_keyframe(&pkts[0].0), key);
                let mut fb = FrameBuf::with_capacity(2000);
                let mut d = d;
                for (i, (b, _)) in pkts.iter().enumerate() {
                    assert_eq!(d.is_frame_start(b), i == 0);
                    d.depacketize(b, &mut fb).unwrap();
                }
                assert_eq!(fb.as_slice(), &frame[..]);
            }
        }
    }

    #[test]
    fn refuses_bad_input() {
        assert!(GenericPacketizer::new(15).is_err());
        let p = GenericPacketizer::new(64).unwrap();
        assert!(split(&p, &[], true).is_empty());
        let mut d = GenericDepacketizer;
        let mut fb = FrameBuf::with_capacity(10);
        assert!(d.depacketize(&[], &mut fb).is_err());
        assert!(d.depacketize(&[0x80], &mut fb).is_err());
        assert!(d.depacketize(&[0x90, 1, 2], &mut fb).is_err(), "version 1");
        assert!(!d.is_frame_start(&[0x90, 1]));
        assert!(
            d.depacketize(&[0x80; 20], &mut fb).is_err(),
            "overflows the buffer"
        );
        let mut it = p.packetize(&[1, 2, 3], false);
        assert!(it.next_into(&mut [0u8; 2]).unwrap().is_err());
    }
}
