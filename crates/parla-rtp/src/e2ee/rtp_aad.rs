//! The RTP header fields a receiver acts on, bound into the SFrame AEAD as authenticated data
//! (RFC 9605 section 4.4.3 allows any metadata there; section 9.4 discusses what stays
//! unauthenticated otherwise).
//!
//! The jitter buffer orders and times frames by sequence number and timestamp, the marker bit
//! starts talkspurts, the payload type picks the decoder and the SSRC names the stream. With
//! these fields in the AAD, a relay that rewrites any of them (to move authentic frames earlier
//! or later, splice streams, or inflate the receiver's jitter estimate) makes the frame fail
//! authentication. The fields are not sent twice: the sender computes the AAD from the header it
//! is about to write, the receiver from the header it parsed.
//!
//! Not covered: CSRCs, padding and header extensions (hop-by-hop data a relay may legitimately
//! change, such as transport-wide sequence numbers; Parla's feedback carries its own MAC).

use crate::rtp::RtpHeader;

/// Length of the RTP AAD: a version byte, payload type, marker, sequence number (2), timestamp
/// (4) and SSRC (4).
pub const RTP_AAD_LEN: usize = 13;
const RTP_AAD_VERSION: u8 = 1;

/// The authenticated data for a frame sent in an RTP packet with header `h`.
///
/// # Real-time safety
/// Stack only.
pub fn rtp_aad(h: &RtpHeader) -> [u8; RTP_AAD_LEN] {
    // RT: stack only.
    let mut a = [0u8; RTP_AAD_LEN];
    a[0] = RTP_AAD_VERSION;
    a[1] = h.payload_type & 0x7f;
    a[2] = u8::from(h.marker);
    a[3..5].copy_from_slice(&h.sequence.to_be_bytes());
    a[5..9].copy_from_slice(&h.timestamp.to_be_bytes());
    a[9..13].copy_from_slice(&h.ssrc.to_be_bytes());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_changes_the_aad() {
        let h = RtpHeader {
            marker: false,
            payload_type: 111,
            sequence: 1000,
            timestamp: 48_000,
            ssrc: 0xdead_beef,
        };
        let base = rtp_aad(&h);
        let variants = [
            RtpHeader { marker: true, ..h },
            RtpHeader {
                payload_type: 110,
                ..h
            },
            RtpHeader {
                sequence: 1001,
                ..h
            },
            RtpHeader {
                timestamp: 48_001,
                ..h
            },
            RtpHeader { ssrc: 1, ..h },
        ];
        for v in variants {
            assert_ne!(rtp_aad(&v), base, "{v:?}");
        }
    }
}
