//! RTP (RFC 3550): packets that borrow their input buffer, header extensions (RFC 8285),
//! sequence-number and timestamp unwrapping, and the sender-side sequence/timestamp state.

pub mod extension;
pub mod packet;
pub mod seq;

pub use extension::{ExtensionElement, ExtensionForm, HeaderExtension};
pub use packet::{RTP_HEADER_LEN, RtpHeader, RtpPacket, RtpPacketSpec};
pub use seq::{RtpSequencer, SeqUnwrapper, TimestampUnwrapper};
