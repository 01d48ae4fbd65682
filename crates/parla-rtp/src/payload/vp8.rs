//! VP8 over RTP (RFC 7741): the payload descriptor, a packetizer with a 15-bit picture id, and
//! keyframe detection from the VP8 payload header.

use crate::error::{ParseError, WriteError, need, room};
use crate::payload::PayloadChunk;
use crate::payload::assembler::{Depacketizer, FrameBuf};

/// The VP8 payload descriptor (RFC 7741 section 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp8Descriptor {
    /// N: the frame can be discarded without affecting others.
    pub non_reference: bool,
    /// S: this packet starts a VP8 partition.
    pub start_of_partition: bool,
    /// PID: partition index.
    pub partition_id: u8,
    /// Picture id (7 or 15 bits), if present.
    pub picture_id: Option<u16>,
    /// TL0PICIDX, if present.
    pub tl0_pic_idx: Option<u8>,
    /// Temporal layer index and layer sync bit, if present.
    pub tid: Option<(u8, bool)>,
    /// Temporal key frame index, if present.
    pub key_idx: Option<u8>,
}

impl Vp8Descriptor {
    /// Parses the descriptor at the start of `payload`; returns it and its length.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if the payload ends inside the descriptor.
    pub fn parse(payload: &[u8]) -> Result<(Self, usize), ParseError> {
        need(payload, 1)?;
        let b0 = payload[0];
        let mut d = Vp8Descriptor {
            non_reference: b0 & 0x20 != 0,
            start_of_partition: b0 & 0x10 != 0,
            partition_id: b0 & 0x07,
            ..Default::default()
        };
        let mut pos = 1;
        if b0 & 0x80 != 0 {
            need(payload, 2)?;
            let x = payload[1];
            pos = 2;
            if x & 0x80 != 0 {
                need(payload, pos + 1)?;
                let m = payload[pos];
                if m & 0x80 != 0 {
                    need(payload, pos + 2)?;
                    d.picture_id = Some(u16::from_be_bytes([m & 0x7f, payload[pos + 1]]));
                    pos += 2;
                } else {
                    d.picture_id = Some(u16::from(m & 0x7f));
                    pos += 1;
                }
            }
            if x & 0x40 != 0 {
                need(payload, pos + 1)?;
                d.tl0_pic_idx = Some(payload[pos]);
                pos += 1;
            }
            if x & 0x30 != 0 {
                need(payload, pos + 1)?;
                let b = payload[pos];
                if x & 0x20 != 0 {
                    d.tid = Some((b >> 6, b & 0x20 != 0));
                }
                if x & 0x10 != 0 {
                    d.key_idx = Some(b & 0x1f);
                }
                pos += 1;
            }
        }
        Ok((d, pos))
    }

    /// Bytes this descriptor takes.
    pub fn len(&self) -> usize {
        let ext = self.picture_id.is_some()
            || self.tl0_pic_idx.is_some()
            || self.tid.is_some()
            || self.key_idx.is_some();
        if !ext {
            return 1;
        }
        2 + match self.picture_id {
            Some(p) if p > 0x7f => 2,
            Some(_) => 1,
            None => 0,
        } + usize::from(self.tl0_pic_idx.is_some())
            + usize::from(self.tid.is_some() || self.key_idx.is_some())
    }

    /// Whether the descriptor has no fields beyond the first byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 1
    }

    /// Writes the descriptor at the start of `out`; returns its length. Picture ids above 127
    /// use the 15-bit form.
    ///
    /// # Errors
    /// [`WriteError`] if `out` is too short or a field is out of range.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, WriteError> {
        let len = self.len();
        room(out, len)?;
        if self.partition_id > 7 || self.picture_id.is_some_and(|p| p > 0x7fff) {
            return Err(WriteError::OutOfRange("VP8 descriptor field"));
        }
        out[0] = if len > 1 { 0x80 } else { 0 }
            | if self.non_reference { 0x20 } else { 0 }
            | if self.start_of_partition { 0x10 } else { 0 }
            | self.partition_id;
        if len == 1 {
            return Ok(1);
        }
        let mut x = 0u8;
        let mut pos = 2;
        if let Some(p) = self.picture_id {
            x |= 0x80;
            if p > 0x7f {
                out[pos..pos + 2].copy_from_slice(&(p | 0x8000).to_be_bytes());
                pos += 2;
            } else {
                out[pos] = p as u8;
                pos += 1;
            }
        }
        if let Some(t) = self.tl0_pic_idx {
            x |= 0x40;
            out[pos] = t;
            pos += 1;
        }
        if self.tid.is_some() || self.key_idx.is_some() {
            let mut b = 0;
            if let Some((tid, y)) = self.tid {
                x |= 0x20;
                b |= (tid & 3) << 6 | if y { 0x20 } else { 0 };
            }
            if let Some(k) = self.key_idx {
                x |= 0x10;
                b |= k & 0x1f;
            }
            out[pos] = b;
            pos += 1;
        }
        out[1] = x;
        Ok(pos)
    }
}

/// Bytes at the start of a VP8 frame that stay in the clear when the frame is end-to-end
/// encrypted: the 3-byte frame tag, plus the 7-byte start code and dimensions of a keyframe
/// (RFC 6386 9.1), as WebRTC's encoded transforms do. Packetizers and frame assemblers can then
/// still see keyframes; SFrame authenticates these bytes as metadata, so they cannot be altered.
///
/// ```
/// # use parla_rtp::payload::vp8::vp8_unencrypted_prefix;
/// assert_eq!(vp8_unencrypted_prefix(&[0x10; 100]), 10); // P bit clear: keyframe
/// assert_eq!(vp8_unencrypted_prefix(&[0x11; 100]), 3);
/// assert_eq!(vp8_unencrypted_prefix(&[0x10; 4]), 4);
/// ```
pub fn vp8_unencrypted_prefix(frame: &[u8]) -> usize {
    let n = match frame.first() {
        Some(b) if b & 1 == 0 => 10,
        Some(_) => 3,
        None => 0,
    };
    n.min(frame.len())
}

/// Splits VP8 frames into RTP payloads of at most `max_payload` bytes, each with a descriptor
/// carrying a 15-bit picture id (incremented per frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Packetizer {
    max_payload: usize,
    picture_id: u16,
}

impl Vp8Packetizer {
    /// A packetizer for payloads of at most `max_payload` bytes whose first frame gets
    /// `first_picture_id` (taken modulo 2^15).
    ///
    /// # Errors
    /// [`parla_core::ConfigError::InvalidParameter`] if `max_payload` is below 16 bytes.
    pub fn new(max_payload: usize, first_picture_id: u16) -> Result<Self, parla_core::ConfigError> {
        if max_payload < 16 {
            return Err(parla_core::ConfigError::InvalidParameter {
                name: "max_payload",
                detail: format!("{max_payload} bytes is below the minimum of 16"),
            });
        }
        Ok(Vp8Packetizer {
            max_payload,
            picture_id: first_picture_id & 0x7fff,
        })
    }

    /// The payloads of one encoded frame (all in partition 0, as for a single-partition encode).
    pub fn packetize<'a>(&mut self, frame: &'a [u8]) -> Vp8Payloads<'a> {
        let pid = self.picture_id;
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        Vp8Payloads {
            frame,
            pos: 0,
            max: self.max_payload,
            picture_id: pid,
            done: frame.is_empty(),
        }
    }
}

/// The payloads of one VP8 frame; call [`next_into`](Self::next_into) until `None`.
#[derive(Debug, Clone)]
pub struct Vp8Payloads<'a> {
    frame: &'a [u8],
    pos: usize,
    max: usize,
    picture_id: u16,
    done: bool,
}

impl Vp8Payloads<'_> {
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
        // X=1, S on the first packet, PID 0; I=1 with the 15-bit picture id (M=1), so the
        // descriptor is always 4 bytes.
        let hl = 4;
        let take = (self.max - hl).min(self.frame.len() - self.pos);
        if let Err(e) = room(out, hl + take) {
            return Some(Err(e));
        }
        out[0] = 0x80 | if self.pos == 0 { 0x10 } else { 0 };
        out[1] = 0x80;
        out[2..4].copy_from_slice(&(self.picture_id | 0x8000).to_be_bytes());
        out[hl..hl + take].copy_from_slice(&self.frame[self.pos..self.pos + take]);
        self.pos += take;
        self.done = self.pos == self.frame.len();
        Some(Ok(PayloadChunk {
            len: hl + take,
            last: self.done,
        }))
    }
}

/// Takes VP8 frames out of RTP payloads (used by the frame assembler).
#[derive(Debug, Clone, Copy, Default)]
pub struct Vp8Depacketizer;

impl Depacketizer for Vp8Depacketizer {
    fn is_frame_start(&self, payload: &[u8]) -> bool {
        matches!(Vp8Descriptor::parse(payload), Ok((d, _)) if d.start_of_partition && d.partition_id == 0)
    }

    fn is_keyframe(&self, payload: &[u8]) -> bool {
        // RFC 7741 4.3: P (bit 0 of the first payload header byte) is 0 for key frames; only
        // the first packet of a frame carries that header.
        match Vp8Descriptor::parse(payload) {
            Ok((d, hl)) if d.start_of_partition && d.partition_id == 0 => {
                payload.get(hl).is_some_and(|b| b & 1 == 0)
            }
            _ => false,
        }
    }

    fn begin_frame(&mut self) {}

    fn depacketize(&mut self, payload: &[u8], out: &mut FrameBuf) -> Result<(), ParseError> {
        // RT: appends to a preallocated frame buffer.
        let (_, hl) = Vp8Descriptor::parse(payload)?;
        if hl >= payload.len() {
            return Err(ParseError::Malformed("VP8 packet without payload"));
        }
        out.push(&payload[hl..])
    }

    fn end_frame(&mut self) -> Result<(), ParseError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_round_trip() {
        for d in [
            Vp8Descriptor::default(),
            Vp8Descriptor {
                start_of_partition: true,
                picture_id: Some(5),
                ..Default::default()
            },
            Vp8Descriptor {
                non_reference: true,
                partition_id: 3,
                picture_id: Some(0x1234),
                tl0_pic_idx: Some(9),
                tid: Some((2, true)),
                key_idx: Some(17),
                ..Default::default()
            },
        ] {
            let mut b = [0u8; 8];
            let n = d.write(&mut b).unwrap();
            assert_eq!(Vp8Descriptor::parse(&b[..n]).unwrap(), (d, n));
        }
    }

    #[test]
    fn picture_ids_and_keyframes() {
        let mut p = Vp8Packetizer::new(50, 0x7ffe).unwrap();
        let key = [0x10u8; 120]; // bit 0 clear: key frame
        let mut buf = [0u8; 64];
        let mut it = p.packetize(&key);
        let d = Vp8Depacketizer;
        let mut n = 0;
        while let Some(c) = it.next_into(&mut buf) {
            let c = c.unwrap();
            let (desc, _) = Vp8Descriptor::parse(&buf[..c.len]).unwrap();
            assert_eq!(desc.picture_id, Some(0x7ffe));
            assert_eq!(d.is_frame_start(&buf[..c.len]), n == 0);
            assert_eq!(d.is_keyframe(&buf[..c.len]), n == 0);
            n += 1;
        }
        assert_eq!(n, 3);
        let mut it = p.packetize(&[0x11]);
        let c = it.next_into(&mut buf).unwrap().unwrap();
        assert!(c.last && !d.is_keyframe(&buf[..c.len]));
        assert_eq!(
            Vp8Descriptor::parse(&buf[..c.len]).unwrap().0.picture_id,
            Some(0x7fff)
        );
        let mut it = p.packetize(&[0x11]);
        let c = it.next_into(&mut buf).unwrap().unwrap();
        assert_eq!(
            Vp8Descriptor::parse(&buf[..c.len]).unwrap().0.picture_id,
            Some(0)
        );
    }
}
