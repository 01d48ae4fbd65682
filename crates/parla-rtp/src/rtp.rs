//! RTP (RFC 3550): packets that borrow their input buffer, header extensions (RFC 8285),
//! sequence-number and timestamp unwrapping, the sender-side sequence/timestamp state, and a
//! bounded per-SSRC table for receive state.

pub mod extension;
pub mod packet;
pub mod seq;
pub mod ssrc;

pub use extension::{ExtensionElement, ExtensionForm, HeaderExtension};
pub use packet::{RTP_HEADER_LEN, RtpHeader, RtpPacket, RtpPacketSpec};
pub use seq::{RtpSequencer, SeqUnwrapper, TimestampUnwrapper};
pub use ssrc::{SsrcTable, SsrcTableFull};
