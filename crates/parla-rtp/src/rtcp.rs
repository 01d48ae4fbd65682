//! RTCP (RFC 3550 section 6): sender and receiver reports, generic NACK (RFC 4585), PLI and FIR
//! (RFC 5104); and the statistics behind reports: loss fraction, cumulative loss, interarrival
//! jitter (RFC 3550 appendix A.8) and round-trip time.

pub mod packet;
pub mod stats;

pub use packet::{
    Fir, FirEntry, Nack, ReportBlock, RtcpIter, RtcpPacket, SenderInfo, parse_compound, write_fir,
    write_nack, write_pli, write_rr, write_sr,
};
pub use stats::{ReceiveStats, ntp_compact, ntp_from_media_time, round_trip_time};
