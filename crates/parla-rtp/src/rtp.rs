//! RTP (RFC 3550): packets that borrow their input buffer, header extensions (RFC 8285),
//! sequence-number and timestamp unwrapping, the sender-side sequence/timestamp state, and a
//! bounded per-SSRC table for receive state; RTX retransmission (RFC 4588).

pub mod extension;
pub mod packet;
pub mod rtx;
pub mod seq;
pub mod ssrc;

pub use extension::{ExtensionElement, ExtensionForm, HeaderExtension};
pub use packet::{RTP_HEADER_LEN, RtpHeader, RtpPacket, RtpPacketSpec};
pub use rtx::{RTX_OSN_LEN, RtxMapping, parse_rtx_payload, unwrap_rtx, wrap_rtx};
pub use seq::{RtpSequencer, SeqUnwrapper, TimestampUnwrapper};
pub use ssrc::{SsrcTable, SsrcTableFull};
