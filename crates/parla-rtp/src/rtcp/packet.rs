//! RTCP packet parsing (compound packets, borrowed) and writing.

use crate::error::{ParseError, WriteError, need, room};

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_RTPFB: u8 = 205;
const PT_PSFB: u8 = 206;
const FMT_NACK: u8 = 1;
const FMT_PLI: u8 = 1;
const FMT_FIR: u8 = 4;
const REPORT_BLOCK_LEN: usize = 24;

/// A reception report block (RFC 3550 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire: duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last sender report received (0 if none).
    pub last_sr: u32,
    /// Delay since that sender report, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn parse(b: &[u8]) -> ReportBlock {
        let lost = i32::from_be_bytes([b[5], b[6], b[7], 0]) >> 8;
        ReportBlock {
            ssrc: be32(&b[0..]),
            fraction_lost: b[4],
            cumulative_lost: lost,
            extended_highest_seq: be32(&b[8..]),
            jitter: be32(&b[12..]),
            last_sr: be32(&b[16..]),
            delay_since_last_sr: be32(&b[20..]),
        }
    }

    fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4] = self.fraction_lost;
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff);
        out[5..8].copy_from_slice(&lost.to_be_bytes()[1..4]);
        out[8..12].copy_from_slice(&self.extended_highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        out[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// The sender information of a sender report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// SSRC of the sender.
    pub ssrc: u32,
    /// 64-bit NTP timestamp of the report.
    pub ntp: u64,
    /// RTP timestamp of the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent so far.
    pub packet_count: u32,
    /// Payload octets sent so far.
    pub octet_count: u32,
}

/// Report blocks of an SR or RR, iterated from the borrowed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlocks<'a>(&'a [u8]);

impl<'a> ReportBlocks<'a> {
    /// The blocks, in order.
    pub fn iter(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        self.0
            .chunks_exact(REPORT_BLOCK_LEN)
            .map(ReportBlock::parse)
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.0.len() / REPORT_BLOCK_LEN
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A generic NACK (RFC 4585 6.2.1): lost sequence numbers as PID/BLP pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack<'a> {
    /// SSRC of the packet sender (the one asking).
    pub sender_ssrc: u32,
    /// SSRC of the media source the losses are in.
    pub media_ssrc: u32,
    items: &'a [u8],
}

impl<'a> Nack<'a> {
    /// The lost sequence numbers, in the order of the PID/BLP pairs.
    pub fn lost(&self) -> impl Iterator<Item = u16> + 'a {
        self.items.chunks_exact(4).flat_map(|c| {
            let pid = u16::from_be_bytes([c[0], c[1]]);
            let blp = u16::from_be_bytes([c[2], c[3]]);
            std::iter::once(pid).chain(
                (0..16u16)
                    .filter(move |i| blp & (1 << i) != 0)
                    .map(move |i| pid.wrapping_add(i + 1)),
            )
        })
    }
}

/// One FIR request (RFC 5104 4.3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirEntry {
    /// The media source asked for a decoder refresh.
    pub ssrc: u32,
    /// Command sequence number (incremented per new request).
    pub seq_nr: u8,
}

/// A full intra request with its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fir<'a> {
    /// SSRC of the packet sender.
    pub sender_ssrc: u32,
    entries: &'a [u8],
}

impl<'a> Fir<'a> {
    /// The requests, in order.
    pub fn entries(&self) -> impl Iterator<Item = FirEntry> + 'a {
        self.entries.chunks_exact(8).map(|c| FirEntry {
            ssrc: be32(c),
            seq_nr: c[4],
        })
    }
}

/// One packet of an RTCP compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpPacket<'a> {
    /// A sender report.
    SenderReport {
        /// The sender information.
        info: SenderInfo,
        /// Its reception report blocks.
        reports: ReportBlocks<'a>,
    },
    /// A receiver report.
    ReceiverReport {
        /// SSRC of the reporter.
        ssrc: u32,
        /// Its reception report blocks.
        reports: ReportBlocks<'a>,
    },
    /// A generic NACK.
    Nack(Nack<'a>),
    /// A picture loss indication.
    Pli {
        /// SSRC of the packet sender.
        sender_ssrc: u32,
        /// SSRC of the media source whose picture was lost.
        media_ssrc: u32,
    },
    /// A full intra request.
    Fir(Fir<'a>),
    /// Any other RTCP packet (SDES, BYE, APP, other feedback), left unparsed.
    Other {
        /// The packet type.
        packet_type: u8,
        /// The count/format field.
        count: u8,
        /// The body after the 4-byte common header, padding removed.
        body: &'a [u8],
    },
}

/// Iterates over the packets of a compound RTCP packet; yields an error (and then stops) at the
/// first malformed packet.
#[derive(Debug, Clone)]
pub struct RtcpIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Parses a compound RTCP packet lazily, borrowing `buf`.
///
/// # Real-time safety
/// No allocation.
pub fn parse_compound(buf: &[u8]) -> RtcpIter<'_> {
    RtcpIter {
        rest: buf,
        failed: false,
    }
}

impl<'a> Iterator for RtcpIter<'a> {
    type Item = Result<RtcpPacket<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = parse_one(self.rest);
        match r {
            Ok((pkt, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(pkt))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn parse_one(buf: &[u8]) -> Result<(RtcpPacket<'_>, usize), ParseError> {
    need(buf, 4)?;
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(ParseError::BadVersion(version));
    }
    let padding = buf[0] & 0x20 != 0;
    let count = buf[0] & 0x1f;
    let pt = buf[1];
    let len = (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1) * 4;
    need(buf, len)?;
    let mut body = &buf[4..len];
    if padding {
        let p = usize::from(*body.last().ok_or(ParseError::BadPadding(0))?);
        if p == 0 || p > body.len() {
            return Err(ParseError::BadPadding(p as u8));
        }
        body = &body[..body.len() - p];
    }
    let pkt = match pt {
        PT_SR => {
            need(body, 24 + REPORT_BLOCK_LEN * usize::from(count))?;
            let info = SenderInfo {
                ssrc: be32(body),
                ntp: (u64::from(be32(&body[4..])) << 32) | u64::from(be32(&body[8..])),
                rtp_timestamp: be32(&body[12..]),
                packet_count: be32(&body[16..]),
                octet_count: be32(&body[20..]),
            };
            let end = 24 + REPORT_BLOCK_LEN * usize::from(count);
            RtcpPacket::SenderReport {
                info,
                reports: ReportBlocks(&body[24..end]),
            }
        }
        PT_RR => {
            let end = 4 + REPORT_BLOCK_LEN * usize::from(count);
            need(body, end)?;
            RtcpPacket::ReceiverReport {
                ssrc: be32(body),
                reports: ReportBlocks(&body[4..end]),
            }
        }
        PT_RTPFB if count == FMT_NACK => {
            need(body, 8)?;
            let items = &body[8..];
            if items.is_empty() || !items.len().is_multiple_of(4) {
                return Err(ParseError::Malformed("NACK items"));
            }
            RtcpPacket::Nack(Nack {
                sender_ssrc: be32(body),
                media_ssrc: be32(&body[4..]),
                items,
            })
        }
        PT_PSFB if count == FMT_PLI => {
            need(body, 8)?;
            RtcpPacket::Pli {
                sender_ssrc: be32(body),
                media_ssrc: be32(&body[4..]),
            }
        }
        PT_PSFB if count == FMT_FIR => {
            need(body, 8)?;
            let entries = &body[8..];
            if entries.is_empty() || !entries.len().is_multiple_of(8) {
                return Err(ParseError::Malformed("FIR entries"));
            }
            RtcpPacket::Fir(Fir {
                sender_ssrc: be32(body),
                entries,
            })
        }
        _ => RtcpPacket::Other {
            packet_type: pt,
            count,
            body,
        },
    };
    Ok((pkt, len))
}

fn write_common(out: &mut [u8], count: u8, pt: u8, total: usize) {
    out[0] = 0x80 | count;
    out[1] = pt;
    out[2..4].copy_from_slice(&((total / 4 - 1) as u16).to_be_bytes());
}

/// Writes a sender report with up to 31 report blocks; returns its length.
///
/// # Real-time safety
/// Writes into `out`; no allocation.
///
/// # Errors
/// [`WriteError`] if there are more than 31 blocks or `out` is too short.
pub fn write_sr(
    info: &SenderInfo,
    blocks: &[ReportBlock],
    out: &mut [u8],
) -> Result<usize, WriteError> {
    if blocks.len() > 31 {
        return Err(WriteError::OutOfRange("report block count"));
    }
    let total = 28 + REPORT_BLOCK_LEN * blocks.len();
    room(out, total)?;
    write_common(out, blocks.len() as u8, PT_SR, total);
    out[4..8].copy_from_slice(&info.ssrc.to_be_bytes());
    out[8..16].copy_from_slice(&info.ntp.to_be_bytes());
    out[16..20].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
    out[20..24].copy_from_slice(&info.packet_count.to_be_bytes());
    out[24..28].copy_from_slice(&info.octet_count.to_be_bytes());
    for (i, b) in blocks.iter().enumerate() {
        b.write(&mut out[28 + i * REPORT_BLOCK_LEN..]);
    }
    Ok(total)
}

/// Writes a receiver report with up to 31 report blocks; returns its length.
///
/// # Real-time safety
/// Writes into `out`; no allocation.
///
/// # Errors
/// [`WriteError`] if there are more than 31 blocks or `out` is too short.
pub fn write_rr(ssrc: u32, blocks: &[ReportBlock], out: &mut [u8]) -> Result<usize, WriteError> {
    if blocks.len() > 31 {
        return Err(WriteError::OutOfRange("report block count"));
    }
    let total = 8 + REPORT_BLOCK_LEN * blocks.len();
    room(out, total)?;
    write_common(out, blocks.len() as u8, PT_RR, total);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    for (i, b) in blocks.iter().enumerate() {
        b.write(&mut out[8 + i * REPORT_BLOCK_LEN..]);
    }
    Ok(total)
}

/// Writes a generic NACK for `lost` (sequence numbers in any order; each is packed into the
/// PID/BLP pair of the nearest preceding PID within 16); returns its length.
///
/// # Real-time safety
/// Writes into `out`; no allocation.
///
/// # Errors
/// [`WriteError`] if `lost` is empty, the packet would exceed the RTCP length field, or `out`
/// is too short.
pub fn write_nack(
    sender_ssrc: u32,
    media_ssrc: u32,
    lost: &[u16],
    out: &mut [u8],
) -> Result<usize, WriteError> {
    if lost.is_empty() {
        return Err(WriteError::OutOfRange("NACK list (empty)"));
    }
    room(out, 16)?;
    let mut pos = 12;
    let mut i = 0;
    // Pack greedily in input order: a sequence number joins the current pair if it lies within
    // the 16 after its PID. Callers that sort the list get the tightest packing.
    while i < lost.len() {
        let pid = lost[i];
        let mut blp = 0u16;
        i += 1;
        while i < lost.len() {
            let d = lost[i].wrapping_sub(pid);
            if (1..=16).contains(&d) {
                blp |= 1 << (d - 1);
                i += 1;
            } else {
                break;
            }
        }
        room(out, pos + 4)?;
        out[pos..pos + 2].copy_from_slice(&pid.to_be_bytes());
        out[pos + 2..pos + 4].copy_from_slice(&blp.to_be_bytes());
        pos += 4;
    }
    if pos / 4 - 1 > usize::from(u16::MAX) {
        return Err(WriteError::OutOfRange("NACK length"));
    }
    write_common(out, FMT_NACK, PT_RTPFB, pos);
    out[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    out[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
    Ok(pos)
}

/// Writes a picture loss indication; returns its length (12).
///
/// # Real-time safety
/// Writes into `out`; no allocation.
///
/// # Errors
/// [`WriteError::BufferTooSmall`] if `out` is shorter than 12 bytes.
pub fn write_pli(sender_ssrc: u32, media_ssrc: u32, out: &mut [u8]) -> Result<usize, WriteError> {
    room(out, 12)?;
    write_common(out, FMT_PLI, PT_PSFB, 12);
    out[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    out[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
    Ok(12)
}

/// Writes a full intra request with `entries`; returns its length.
///
/// # Real-time safety
/// Writes into `out`; no allocation.
///
/// # Errors
/// [`WriteError`] if `entries` is empty or `out` is too short.
pub fn write_fir(
    sender_ssrc: u32,
    entries: &[FirEntry],
    out: &mut [u8],
) -> Result<usize, WriteError> {
    if entries.is_empty() || entries.len() > 8000 {
        return Err(WriteError::OutOfRange("FIR entry count"));
    }
    let total = 12 + 8 * entries.len();
    room(out, total)?;
    write_common(out, FMT_FIR, PT_PSFB, total);
    out[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    // The media source field is unused in FIR (RFC 5104 4.3.1.2) and set to 0.
    out[8..12].fill(0);
    for (i, e) in entries.iter().enumerate() {
        let p = 12 + 8 * i;
        out[p..p + 4].copy_from_slice(&e.ssrc.to_be_bytes());
        out[p + 4] = e.seq_nr;
        out[p + 5..p + 8].fill(0);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_round_trip() {
        let block = ReportBlock {
            ssrc: 9,
            fraction_lost: 25,
            cumulative_lost: -3,
            extended_highest_seq: 70_000,
            jitter: 123,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        };
        let info = SenderInfo {
            ssrc: 1,
            ntp: 0x0102_0304_0506_0708,
            rtp_timestamp: 48_000,
            packet_count: 50,
            octet_count: 4000,
        };
        let mut buf = [0u8; 256];
        let mut n = write_sr(&info, &[block], &mut buf).unwrap();
        n += write_rr(2, &[block, block], &mut buf[n..]).unwrap();
        n += write_nack(2, 1, &[100, 101, 116, 117, 500], &mut buf[n..]).unwrap();
        n += write_pli(2, 1, &mut buf[n..]).unwrap();
        n += write_fir(2, &[FirEntry { ssrc: 1, seq_nr: 7 }], &mut buf[n..]).unwrap();
        let pkts: Vec<_> = parse_compound(&buf[..n]).collect::<Result<_, _>>().unwrap();
        assert_eq!(pkts.len(), 5);
        match pkts[0] {
            RtcpPacket::SenderReport { info: i, reports } => {
                assert_eq!(i, info);
                assert_eq!(reports.iter().collect::<Vec<_>>(), vec![block]);
            }
            _ => panic!("not an SR"),
        }
        match pkts[1] {
            RtcpPacket::ReceiverReport { ssrc, reports } => {
                assert_eq!(ssrc, 2);
                assert_eq!(reports.len(), 2);
            }
            _ => panic!("not an RR"),
        }
        match pkts[2] {
            RtcpPacket::Nack(nack) => {
                assert_eq!(
                    nack.lost().collect::<Vec<_>>(),
                    vec![100, 101, 116, 117, 500]
                );
            }
            _ => panic!("not a NACK"),
        }
        assert_eq!(
            pkts[3],
            RtcpPacket::Pli {
                sender_ssrc: 2,
                media_ssrc: 1
            }
        );
        match pkts[4] {
            RtcpPacket::Fir(f) => {
                assert_eq!(
                    f.entries().collect::<Vec<_>>(),
                    vec![FirEntry { ssrc: 1, seq_nr: 7 }]
                );
            }
            _ => panic!("not a FIR"),
        }
    }

    #[test]
    fn malformed_stops_iteration() {
        // Length field claims more than is there.
        let bad = [0x80, 201, 0x00, 0x05, 0, 0, 0, 1];
        let mut it = parse_compound(&bad);
        assert!(matches!(it.next(), Some(Err(ParseError::Truncated { .. }))));
        assert!(it.next().is_none());
    }
}
