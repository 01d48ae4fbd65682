//! RTP retransmission (RFC 4588) in SSRC-multiplexing mode: a retransmitted packet travels on its
//! own SSRC and payload type, with its own sequence numbers, and carries the original sequence
//! number (OSN) in the first two bytes of its payload.
//!
//! [`wrap_rtx`] turns a packet as first sent (the bytes a send history kept) into its RTX form;
//! [`unwrap_rtx`] restores the original packet on the receiver. Both work on byte slices, write
//! into caller-supplied buffers and never allocate. The RTP timestamp, marker bit, CSRCs and
//! header extensions are carried over unchanged (RFC 4588 section 4); padding of the original is
//! not (it carries no media, section 4 allows removing it).

use crate::error::{ParseError, WriteError, room};
use crate::rtp::RtpPacket;

/// Length of the original sequence number at the start of an RTX payload.
pub const RTX_OSN_LEN: usize = 2;

/// The stream parameters of one RTX stream (the `apt` association of RFC 4588 section 8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtxMapping {
    /// SSRC of the original media stream.
    pub media_ssrc: u32,
    /// Payload type of the original media stream.
    pub media_payload_type: u8,
    /// SSRC of the retransmission stream.
    pub rtx_ssrc: u32,
    /// Payload type of the retransmission stream (an `rtx` payload type with `apt` pointing at
    /// the media payload type).
    pub rtx_payload_type: u8,
}

/// Length of the fixed header, CSRCs and header extension of a parsed packet.
fn header_len(buf: &[u8], pkt: &RtpPacket<'_>) -> usize {
    buf.len() - pkt.payload.len() - usize::from(pkt.padding)
}

/// Writes the RTX form of `original` (a complete, serialized media packet) into `out`, with
/// sequence number `rtx_seq`; returns its length (the original's length without padding, plus 2).
///
/// # Real-time safety
/// Parses and copies; no allocation.
///
/// # Errors
/// [`WriteError::OutOfRange`] if `original` is not a valid RTP packet or the mapping's payload
/// type is above 127; [`WriteError::BufferTooSmall`] if `out` is too short.
pub fn wrap_rtx(
    original: &[u8],
    map: &RtxMapping,
    rtx_seq: u16,
    out: &mut [u8],
) -> Result<usize, WriteError> {
    let pkt = RtpPacket::parse(original).map_err(|_| WriteError::OutOfRange("original packet"))?;
    if map.rtx_payload_type > 127 {
        return Err(WriteError::OutOfRange("RTX payload type"));
    }
    let hl = header_len(original, &pkt);
    let total = hl + RTX_OSN_LEN + pkt.payload.len();
    room(out, total)?;
    out[..hl].copy_from_slice(&original[..hl]);
    // Clear the padding bit: the padding is not carried over.
    out[0] &= !0x20;
    out[1] = (out[1] & 0x80) | map.rtx_payload_type;
    out[2..4].copy_from_slice(&rtx_seq.to_be_bytes());
    out[8..12].copy_from_slice(&map.rtx_ssrc.to_be_bytes());
    out[hl..hl + RTX_OSN_LEN].copy_from_slice(&pkt.header.sequence.to_be_bytes());
    out[hl + RTX_OSN_LEN..total].copy_from_slice(pkt.payload);
    Ok(total)
}

/// The original sequence number and the original payload of an RTX packet's payload.
///
/// # Real-time safety
/// Borrows; no allocation.
///
/// # Errors
/// [`ParseError::Truncated`] if the payload is shorter than the 2-byte OSN.
pub fn parse_rtx_payload(payload: &[u8]) -> Result<(u16, &[u8]), ParseError> {
    if payload.len() < RTX_OSN_LEN {
        return Err(ParseError::Truncated {
            needed: RTX_OSN_LEN,
            got: payload.len(),
        });
    }
    Ok((
        u16::from_be_bytes([payload[0], payload[1]]),
        &payload[RTX_OSN_LEN..],
    ))
}

/// Restores the original packet from an RTX packet `rtx` (serialized) into `out`: the media SSRC
/// and payload type of `map`, the OSN as sequence number; returns its length and the OSN.
///
/// # Real-time safety
/// Parses and copies; no allocation.
///
/// # Errors
/// [`ParseError`] if `rtx` is not a valid RTP packet, is not on `map`'s RTX SSRC and payload
/// type ([`ParseError::Malformed`]), has no OSN, or `out` is too short
/// ([`ParseError::Truncated`] naming the bytes needed).
pub fn unwrap_rtx(
    rtx: &[u8],
    map: &RtxMapping,
    out: &mut [u8],
) -> Result<(usize, u16), ParseError> {
    let pkt = RtpPacket::parse(rtx)?;
    if pkt.header.ssrc != map.rtx_ssrc || pkt.header.payload_type != map.rtx_payload_type {
        return Err(ParseError::Malformed("not on the RTX stream"));
    }
    if map.media_payload_type > 127 {
        return Err(ParseError::Malformed("media payload type"));
    }
    let (osn, media) = parse_rtx_payload(pkt.payload)?;
    let hl = header_len(rtx, &pkt);
    let total = hl + media.len();
    if out.len() < total {
        return Err(ParseError::Truncated {
            needed: total,
            got: out.len(),
        });
    }
    out[..hl].copy_from_slice(&rtx[..hl]);
    out[0] &= !0x20;
    out[1] = (out[1] & 0x80) | map.media_payload_type;
    out[2..4].copy_from_slice(&osn.to_be_bytes());
    out[8..12].copy_from_slice(&map.media_ssrc.to_be_bytes());
    out[hl..total].copy_from_slice(media);
    Ok((total, osn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{ExtensionElement, RtpHeader, RtpPacketSpec};

    const MAP: RtxMapping = RtxMapping {
        media_ssrc: 0x1111,
        media_payload_type: 96,
        rtx_ssrc: 0x2222,
        rtx_payload_type: 97,
    };

    fn original(padding: u8) -> Vec<u8> {
        let ext = [ExtensionElement {
            id: 3,
            data: &[1, 2, 3],
        }];
        let spec = RtpPacketSpec {
            header: RtpHeader {
                marker: true,
                payload_type: 96,
                sequence: 65_535,
                timestamp: 90_000,
                ssrc: 0x1111,
            },
            csrcs: &[5, 6],
            extensions: &ext,
            payload: b"media payload",
            padding,
        };
        let mut buf = vec![0u8; 200];
        let n = spec.write_to(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn wrap_then_unwrap_restores_the_packet() {
        for padding in [0, 4] {
            let orig = original(padding);
            let mut rtx = [0u8; 200];
            let n = wrap_rtx(&orig, &MAP, 7, &mut rtx).unwrap();
            let p = RtpPacket::parse(&rtx[..n]).unwrap();
            assert_eq!(p.header.ssrc, 0x2222);
            assert_eq!(p.header.payload_type, 97);
            assert_eq!(p.header.sequence, 7);
            assert_eq!(p.header.timestamp, 90_000);
            assert!(p.header.marker);
            assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![5, 6]);
            assert_eq!(p.extension_element(3), Some(&[1u8, 2, 3][..]));
            assert_eq!(
                parse_rtx_payload(p.payload).unwrap(),
                (65_535, &b"media payload"[..])
            );

            let mut back = [0u8; 200];
            let (m, osn) = unwrap_rtx(&rtx[..n], &MAP, &mut back).unwrap();
            assert_eq!(osn, 65_535);
            // Identical to the original without its padding.
            assert_eq!(&back[..m], &original(0)[..]);
        }
    }

    #[test]
    fn errors_not_panics() {
        let orig = original(0);
        let mut small = [0u8; 10];
        assert!(matches!(
            wrap_rtx(&orig, &MAP, 1, &mut small),
            Err(WriteError::BufferTooSmall { .. })
        ));
        assert!(wrap_rtx(&orig[..5], &MAP, 1, &mut [0u8; 100]).is_err());
        // A media packet is not an RTX packet.
        assert_eq!(
            unwrap_rtx(&orig, &MAP, &mut [0u8; 200]),
            Err(ParseError::Malformed("not on the RTX stream"))
        );
        // An RTX packet without an OSN.
        let spec = RtpPacketSpec {
            header: RtpHeader {
                payload_type: 97,
                ssrc: 0x2222,
                ..Default::default()
            },
            payload: &[9],
            ..Default::default()
        };
        let mut buf = [0u8; 40];
        let n = spec.write_to(&mut buf).unwrap();
        assert!(matches!(
            unwrap_rtx(&buf[..n], &MAP, &mut [0u8; 200]),
            Err(ParseError::Truncated { .. })
        ));
        let mut rtx = [0u8; 200];
        let n = wrap_rtx(&orig, &MAP, 7, &mut rtx).unwrap();
        assert!(matches!(
            unwrap_rtx(&rtx[..n], &MAP, &mut [0u8; 8]),
            Err(ParseError::Truncated { .. })
        ));
    }
}
