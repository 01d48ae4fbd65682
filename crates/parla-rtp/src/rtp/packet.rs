//! RTP packet parsing and writing (RFC 3550 section 5.1).

use crate::error::{ParseError, WriteError, need, room};
use crate::rtp::extension::{ExtensionElement, HeaderExtension};

/// Length of the fixed RTP header.
pub const RTP_HEADER_LEN: usize = 12;
/// The only RTP version there is.
const VERSION: u8 = 2;

/// The fixed fields of an RTP header that a sender chooses per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct RtpHeader {
    /// The marker bit: last packet of a video frame, first packet of a talkspurt for audio.
    pub marker: bool,
    /// Payload type (0..=127).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp in the payload format's clock.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
}

/// A parsed RTP packet borrowing the buffer it was parsed from (STYLE.md S4): parsing never
/// allocates and never panics, whatever the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The fixed header fields.
    pub header: RtpHeader,
    csrc: &'a [u8],
    /// The header extension, if the X bit was set.
    pub extension: Option<HeaderExtension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// Number of padding bytes that followed the payload (0 if the P bit was clear).
    pub padding: u8,
}

impl<'a> RtpPacket<'a> {
    /// Parses `buf` as one RTP packet.
    ///
    /// # Real-time safety
    /// Borrows `buf`; no allocation, constant work per header byte.
    ///
    /// # Errors
    /// [`ParseError`] if the buffer is not a well-formed RTP packet (wrong version, truncated
    /// header, CSRC list or extension, invalid padding or a malformed RFC 8285 extension block).
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        // RT: no allocation.
        need(buf, RTP_HEADER_LEN)?;
        let b0 = buf[0];
        let version = b0 >> 6;
        if version != VERSION {
            return Err(ParseError::BadVersion(version));
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = usize::from(b0 & 0x0f);
        let b1 = buf[1];
        let header = RtpHeader {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7f,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        };
        let mut pos = RTP_HEADER_LEN;
        let csrc_end = pos + 4 * csrc_count;
        need(buf, csrc_end)?;
        let csrc = &buf[pos..csrc_end];
        pos = csrc_end;

        let extension = if has_extension {
            need(buf, pos + 4)?;
            let profile = u16::from_be_bytes([buf[pos], buf[pos + 1]]);
            let words = usize::from(u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]));
            let start = pos + 4;
            let end = start + 4 * words;
            need(buf, end)?;
            pos = end;
            Some(HeaderExtension::parse(profile, &buf[start..end])?)
        } else {
            None
        };

        let mut end = buf.len();
        let mut padding = 0;
        if has_padding {
            let count = buf[end - 1];
            if count == 0 || usize::from(count) > end - pos {
                return Err(ParseError::BadPadding(count));
            }
            padding = count;
            end -= usize::from(count);
        }
        Ok(RtpPacket {
            header,
            csrc,
            extension,
            payload: &buf[pos..end],
            padding,
        })
    }

    /// Number of contributing sources.
    pub fn csrc_count(&self) -> usize {
        self.csrc.len() / 4
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.csrc
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The extension element with `id`, if the packet carries one (RFC 8285).
    pub fn extension_element(&self, id: u8) -> Option<&'a [u8]> {
        self.extension
            .as_ref()?
            .elements()
            .find(|e| e.id == id)
            .map(|e| e.data)
    }
}

/// Everything needed to write one RTP packet; [`RtpPacketSpec::write_to`] serializes it into a
/// caller-supplied buffer without allocating.
#[derive(Debug, Clone, Copy, Default)]
pub struct RtpPacketSpec<'a> {
    /// The fixed header fields.
    pub header: RtpHeader,
    /// Contributing sources (at most 15).
    pub csrcs: &'a [u32],
    /// Header extension elements (RFC 8285). The one-byte form is used when every id is in
    /// 1..=14 and every element is 1..=16 bytes long, otherwise the two-byte form.
    pub extensions: &'a [ExtensionElement<'a>],
    /// The payload.
    pub payload: &'a [u8],
    /// Padding bytes to append (0 for none).
    pub padding: u8,
}

impl RtpPacketSpec<'_> {
    /// Length of the serialized packet.
    ///
    /// # Errors
    /// [`WriteError::OutOfRange`] if a field cannot be encoded (too many CSRCs, an extension
    /// element too long or with id 0, or an extension block longer than 65535 words).
    pub fn encoded_len(&self) -> Result<usize, WriteError> {
        if self.csrcs.len() > 15 {
            return Err(WriteError::OutOfRange("CSRC count"));
        }
        if self.header.payload_type > 127 {
            return Err(WriteError::OutOfRange("payload type"));
        }
        let ext = HeaderExtension::encoded_len(self.extensions)?;
        Ok(RTP_HEADER_LEN
            + 4 * self.csrcs.len()
            + ext
            + self.payload.len()
            + usize::from(self.padding))
    }

    /// Writes the packet at the start of `out` and returns its length.
    ///
    /// # Real-time safety
    /// Writes into `out`; no allocation.
    ///
    /// # Errors
    /// As [`encoded_len`](Self::encoded_len), and [`WriteError::BufferTooSmall`] if `out` is too short.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, WriteError> {
        // RT: no allocation.
        let total = self.encoded_len()?;
        room(out, total)?;
        let h = &self.header;
        out[0] = (VERSION << 6)
            | if self.padding > 0 { 0x20 } else { 0 }
            | if self.extensions.is_empty() { 0 } else { 0x10 }
            | self.csrcs.len() as u8;
        out[1] = if h.marker { 0x80 } else { 0 } | h.payload_type;
        out[2..4].copy_from_slice(&h.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&h.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&h.ssrc.to_be_bytes());
        let mut pos = RTP_HEADER_LEN;
        for c in self.csrcs {
            out[pos..pos + 4].copy_from_slice(&c.to_be_bytes());
            pos += 4;
        }
        pos += HeaderExtension::write(self.extensions, &mut out[pos..])?;
        out[pos..pos + self.payload.len()].copy_from_slice(self.payload);
        pos += self.payload.len();
        if self.padding > 0 {
            let p = usize::from(self.padding);
            out[pos..pos + p - 1].fill(0);
            out[pos + p - 1] = self.padding;
            pos += p;
        }
        debug_assert_eq!(pos, total);
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_csrcs_extension_and_padding() {
        let ext = [
            ExtensionElement {
                id: 1,
                data: &[0xaa],
            },
            ExtensionElement {
                id: 14,
                data: &[1, 2, 3, 4, 5],
            },
        ];
        let spec = RtpPacketSpec {
            header: RtpHeader {
                marker: true,
                payload_type: 111,
                sequence: 65535,
                timestamp: 0xdead_beef,
                ssrc: 0x1234_5678,
            },
            csrcs: &[7, 8],
            extensions: &ext,
            payload: b"hello",
            padding: 3,
        };
        let mut buf = [0u8; 128];
        let n = spec.write_to(&mut buf).unwrap();
        assert_eq!(n, spec.encoded_len().unwrap());
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.header, spec.header);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![7, 8]);
        assert_eq!(p.payload, b"hello");
        assert_eq!(p.padding, 3);
        assert_eq!(p.extension_element(1), Some(&[0xaa][..]));
        assert_eq!(p.extension_element(14), Some(&[1, 2, 3, 4, 5][..]));
        assert_eq!(p.extension_element(2), None);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            RtpPacket::parse(&[0x80; 11]),
            Err(ParseError::Truncated { .. })
        ));
        let mut pkt = [0u8; 12];
        pkt[0] = 0x40;
        assert_eq!(RtpPacket::parse(&pkt), Err(ParseError::BadVersion(1)));
        pkt[0] = 0xa0; // padding bit, padding count 0
        assert_eq!(RtpPacket::parse(&pkt), Err(ParseError::BadPadding(0)));
        pkt[0] = 0x81; // one CSRC announced, none present
        assert!(RtpPacket::parse(&pkt).is_err());
        let spec = RtpPacketSpec {
            payload: b"x",
            ..Default::default()
        };
        let mut small = [0u8; 12];
        assert_eq!(
            spec.write_to(&mut small),
            Err(WriteError::BufferTooSmall {
                needed: 13,
                got: 12
            })
        );
    }
}
