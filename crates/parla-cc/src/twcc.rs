//! Transport-wide congestion control on the wire
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01).
//!
//! - The transport-wide sequence number header extension (RFC 8285 one-byte form, 2 bytes of
//!   data): [`read_transport_seq`], [`write_transport_seq`] (rewrites it in place when the pacer
//!   sends, so the number follows the send order) and [`TRANSPORT_SEQ_PLACEHOLDER`].
//! - The feedback packet (RTCP RTPFB, FMT 15): [`TwccFeedback::parse`] borrows and validates a
//!   packet once and then iterates its packets without allocating; [`FeedbackRecorder`] is the
//!   receiver side, which records arrivals and writes feedback packets.
//!
//! Wire format (after the 4-byte RTCP header and the two SSRCs): base sequence number (16),
//! packet status count (16), reference time (24, signed, units of 64 ms), feedback packet count
//! (8), packet status chunks (16 bits each: run length `0|S(2)|len(13)`, or status vector
//! `1|0|14 x 1-bit` / `1|1|7 x 2-bit`), then one receive delta per received packet (1 byte,
//! unsigned, for "small delta", 2 bytes signed for "large delta", units of 250 us), padded to
//! 32 bits. Symbols: 0 not received, 1 small delta, 2 large or negative delta, 3 reserved.

use parla_rtp::rtp::RtpPacket;

use crate::error::{FeedbackError, WriteError, need, room};

/// RTCP packet type of transport-layer feedback (RFC 4585).
pub const PT_RTPFB: u8 = 205;
/// Feedback message type of transport-wide feedback.
pub const FMT_TWCC: u8 = 15;
/// The data of a transport sequence number element before the pacer stamps it.
pub const TRANSPORT_SEQ_PLACEHOLDER: [u8; 2] = [0, 0];
/// Receive deltas are multiples of this many microseconds.
pub const DELTA_TICK_US: i64 = 250;
/// The reference time is a multiple of this many microseconds.
pub const REFERENCE_TICK_US: i64 = 64_000;
/// The most packets one feedback packet written by [`FeedbackRecorder`] reports.
pub const MAX_PACKETS_PER_FEEDBACK: usize = 1024;
/// The largest feedback packet [`FeedbackRecorder`] writes (header, chunks, 2-byte deltas).
pub const MAX_FEEDBACK_LEN: usize =
    20 + 2 * MAX_PACKETS_PER_FEEDBACK + 2 * MAX_PACKETS_PER_FEEDBACK;

/// The transport-wide sequence number carried by `packet` in the extension element `id`.
///
/// # Real-time safety
/// Parses the header in place; no allocation.
pub fn read_transport_seq(packet: &[u8], id: u8) -> Option<u16> {
    // RT: no allocation.
    let p = RtpPacket::parse(packet).ok()?;
    let d = p.extension_element(id)?;
    (d.len() == 2).then(|| u16::from_be_bytes([d[0], d[1]]))
}

/// Writes `seq` into the existing transport-wide sequence number element `id` of `packet` (the
/// packet was built with [`TRANSPORT_SEQ_PLACEHOLDER`] as the element's data).
///
/// # Real-time safety
/// Parses the header and writes two bytes; no allocation.
///
/// # Errors
/// [`WriteError::NoExtension`] if the packet does not parse or has no 2-byte element `id`.
pub fn write_transport_seq(packet: &mut [u8], id: u8, seq: u16) -> Result<(), WriteError> {
    // RT: no allocation.
    let offset = {
        let p = RtpPacket::parse(packet).map_err(|_| WriteError::NoExtension(id))?;
        let d = p
            .extension_element(id)
            .filter(|d| d.len() == 2)
            .ok_or(WriteError::NoExtension(id))?;
        d.as_ptr() as usize - packet.as_ptr() as usize
    };
    packet[offset..offset + 2].copy_from_slice(&seq.to_be_bytes());
    Ok(())
}

/// How one packet fared, as the feedback says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackPacket {
    /// Transport-wide sequence number (16 bits, as on the wire).
    pub seq: u16,
    /// Arrival time on the receiver's clock in microseconds, relative to the receiver's epoch
    /// (reference time x 64 ms plus the deltas); `None` if it was not received.
    pub arrival_us: Option<i64>,
}

/// A validated transport-wide feedback packet, borrowing its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwccFeedback<'a> {
    /// SSRC of the feedback's sender.
    pub sender_ssrc: u32,
    /// SSRC of the media source (unused by transport-wide feedback; informational).
    pub media_ssrc: u32,
    /// Sequence number of the first packet reported.
    pub base_seq: u16,
    /// Number of packets reported.
    pub status_count: u16,
    /// Reference time in units of 64 ms (24-bit signed on the wire).
    pub reference_time: i32,
    /// Feedback packet counter (wraps at 256), to detect lost feedback.
    pub fb_count: u8,
    chunks: &'a [u8],
    deltas: &'a [u8],
}

fn symbol_at(chunk: u16, i: usize) -> (u8, usize) {
    // Returns (symbol of the i-th entry in the chunk, entries in the chunk).
    if chunk & 0x8000 == 0 {
        (((chunk >> 13) & 3) as u8, usize::from(chunk & 0x1fff))
    } else if chunk & 0x4000 == 0 {
        (((chunk >> (13 - i.min(13))) & 1) as u8, 14)
    } else {
        (((chunk >> (12 - 2 * i.min(6))) & 3) as u8, 7)
    }
}

impl<'a> TwccFeedback<'a> {
    /// Parses and validates one RTCP packet (header included) as transport-wide feedback.
    /// Trailing bytes after the RTCP length are ignored (the caller splits compound packets).
    ///
    /// # Real-time safety
    /// Borrows `buf`; no allocation; work linear in the packet length.
    ///
    /// # Errors
    /// [`FeedbackError`] for anything that is not a well-formed feedback packet.
    pub fn parse(buf: &'a [u8]) -> Result<Self, FeedbackError> {
        // RT: no allocation.
        need(buf, 4)?;
        if buf[0] >> 6 != 2 || buf[1] != PT_RTPFB || buf[0] & 0x1f != FMT_TWCC {
            return Err(FeedbackError::NotTransportFeedback);
        }
        let len = (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1) * 4;
        need(buf, len)?;
        let mut body = &buf[4..len];
        if buf[0] & 0x20 != 0 {
            let p = usize::from(*body.last().ok_or(FeedbackError::Malformed("padding"))?);
            if p == 0 || p > body.len() {
                return Err(FeedbackError::Malformed("padding"));
            }
            body = &body[..body.len() - p];
        }
        need(body, 16)?;
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let base_seq = u16::from_be_bytes([body[8], body[9]]);
        let status_count = u16::from_be_bytes([body[10], body[11]]);
        if status_count == 0 {
            return Err(FeedbackError::Malformed("packet status count"));
        }
        let reference_time = i32::from_be_bytes([body[12], body[13], body[14], 0]) >> 8;
        let rest = &body[16..];
        // Walk the chunks to find where the deltas start and how many bytes they take.
        let mut covered = 0usize;
        let mut pos = 0usize;
        let mut delta_bytes = 0usize;
        while covered < usize::from(status_count) {
            need(rest, pos + 2)?;
            let chunk = u16::from_be_bytes([rest[pos], rest[pos + 1]]);
            pos += 2;
            let (_, n) = symbol_at(chunk, 0);
            if n == 0 {
                return Err(FeedbackError::Malformed("empty run length"));
            }
            let take = n.min(usize::from(status_count) - covered);
            if chunk & 0x8000 == 0 {
                let s = (chunk >> 13) & 3;
                if s == 3 {
                    return Err(FeedbackError::Malformed("reserved status symbol"));
                }
                delta_bytes += take * usize::from(s);
            } else {
                for i in 0..take {
                    let (s, _) = symbol_at(chunk, i);
                    if s == 3 {
                        return Err(FeedbackError::Malformed("reserved status symbol"));
                    }
                    delta_bytes += usize::from(s);
                }
            }
            covered += take;
        }
        need(rest, pos + delta_bytes)?;
        Ok(TwccFeedback {
            sender_ssrc: be32(body),
            media_ssrc: be32(&body[4..]),
            base_seq,
            status_count,
            reference_time,
            fb_count: body[15],
            chunks: &rest[..pos],
            deltas: &rest[pos..pos + delta_bytes],
        })
    }

    /// The reported packets in sequence order, with arrival times.
    ///
    /// # Real-time safety
    /// No allocation.
    pub fn packets(&self) -> FeedbackPackets<'a> {
        FeedbackPackets {
            chunks: self.chunks,
            deltas: self.deltas,
            seq: self.base_seq,
            left: self.status_count,
            chunk_pos: 0,
            in_chunk: 0,
            chunk_len: 0,
            chunk: 0,
            delta_pos: 0,
            time_us: i64::from(self.reference_time) * REFERENCE_TICK_US,
        }
    }
}

/// Iterator over the packets of a [`TwccFeedback`].
#[derive(Debug, Clone)]
pub struct FeedbackPackets<'a> {
    chunks: &'a [u8],
    deltas: &'a [u8],
    seq: u16,
    left: u16,
    chunk_pos: usize,
    in_chunk: usize,
    chunk_len: usize,
    chunk: u16,
    delta_pos: usize,
    time_us: i64,
}

impl Iterator for FeedbackPackets<'_> {
    type Item = FeedbackPacket;

    fn next(&mut self) -> Option<FeedbackPacket> {
        if self.left == 0 {
            return None;
        }
        if self.in_chunk == self.chunk_len {
            let c = self.chunks.get(self.chunk_pos..self.chunk_pos + 2)?;
            self.chunk = u16::from_be_bytes([c[0], c[1]]);
            self.chunk_pos += 2;
            self.chunk_len = symbol_at(self.chunk, 0).1;
            self.in_chunk = 0;
        }
        let (sym, _) = symbol_at(self.chunk, self.in_chunk);
        self.in_chunk += 1;
        let arrival_us = match sym {
            1 => {
                let d = *self.deltas.get(self.delta_pos)?;
                self.delta_pos += 1;
                self.time_us += i64::from(d) * DELTA_TICK_US;
                Some(self.time_us)
            }
            2 => {
                let d = self.deltas.get(self.delta_pos..self.delta_pos + 2)?;
                self.delta_pos += 2;
                self.time_us += i64::from(i16::from_be_bytes([d[0], d[1]])) * DELTA_TICK_US;
                Some(self.time_us)
            }
            _ => None,
        };
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.left -= 1;
        Some(FeedbackPacket { seq, arrival_us })
    }
}

/// Receiver side of transport-wide feedback: records the arrival time of every packet with a
/// transport sequence number and writes feedback packets covering what arrived since the last
/// one.
///
/// Memory is allocated once in [`new`](Self::new) (a ring of [`FeedbackRecorder::WINDOW`]
/// arrival slots); recording and writing never allocate. Packets more than `WINDOW` behind the
/// newest, or arriving after they were reported, are counted in [`late`](Self::late) and
/// otherwise ignored.
#[derive(Debug, Clone)]
pub struct FeedbackRecorder {
    sender_ssrc: u32,
    media_ssrc: u32,
    arrivals: Box<[i64]>,
    /// Unwrapped sequence number of the first packet not yet reported.
    next_report: Option<i64>,
    highest: Option<i64>,
    fb_count: u8,
    late: u64,
    symbols: Box<[u8]>,
}

const NOT_RECEIVED: i64 = i64::MIN;

impl FeedbackRecorder {
    /// Arrival slots kept (a power of two).
    pub const WINDOW: usize = 4096;

    /// A recorder whose feedback packets carry `sender_ssrc` and `media_ssrc`.
    pub fn new(sender_ssrc: u32, media_ssrc: u32) -> Self {
        FeedbackRecorder {
            sender_ssrc,
            media_ssrc,
            arrivals: vec![NOT_RECEIVED; Self::WINDOW].into_boxed_slice(),
            next_report: None,
            highest: None,
            fb_count: 0,
            late: 0,
            symbols: vec![0; MAX_PACKETS_PER_FEEDBACK].into_boxed_slice(),
        }
    }

    fn unwrap(&self, seq: u16) -> i64 {
        match self.highest {
            None => i64::from(seq),
            Some(h) => {
                let d = i64::from(seq.wrapping_sub(h as u16) as i16);
                h + d
            }
        }
    }

    /// Records that the packet with transport sequence number `seq` arrived at `arrival_us`
    /// (the receiver's clock, microseconds, non-negative).
    ///
    /// # Real-time safety
    /// Constant time except when the sequence jumps forward (clears the skipped slots, at most
    /// [`WINDOW`](Self::WINDOW)); no allocation.
    pub fn on_packet(&mut self, seq: u16, arrival_us: i64) {
        // RT: no allocation.
        let s = self.unwrap(seq);
        let mask = Self::WINDOW as i64 - 1;
        match self.highest {
            None => {
                self.highest = Some(s);
                self.next_report = Some(s);
            }
            Some(h) if s > h => {
                let clear_from = (h + 1).max(s - Self::WINDOW as i64 + 1);
                for q in clear_from..s {
                    self.arrivals[(q & mask) as usize] = NOT_RECEIVED;
                }
                self.highest = Some(s);
                if let Some(n) = self.next_report
                    && s - n >= Self::WINDOW as i64
                {
                    // Unreported packets fell out of the ring: they are never reported.
                    self.next_report = Some(s - Self::WINDOW as i64 + 1);
                }
            }
            Some(h) => {
                let stale = h - s >= Self::WINDOW as i64;
                if stale || self.next_report.is_some_and(|n| s < n) {
                    self.late += 1;
                    return;
                }
            }
        }
        self.arrivals[(s & mask) as usize] = arrival_us.max(0);
    }

    /// Packets that arrived too late to be reported (after their feedback, or far behind).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Whether packets arrived that no feedback has reported yet.
    pub fn has_pending(&self) -> bool {
        matches!((self.next_report, self.highest), (Some(n), Some(h)) if n <= h)
    }

    /// Writes one feedback packet covering the packets not reported yet (at most
    /// [`MAX_PACKETS_PER_FEEDBACK`]; call again while [`has_pending`](Self::has_pending)).
    /// Returns its length, or `None` when there is nothing to report.
    ///
    /// # Real-time safety
    /// No allocation; work linear in the packets reported.
    ///
    /// # Errors
    /// [`WriteError::BufferTooSmall`] if `out` is shorter than the packet (then nothing is
    /// marked reported); [`MAX_FEEDBACK_LEN`] bytes always suffice.
    pub fn write_feedback(&mut self, out: &mut [u8]) -> Result<Option<usize>, WriteError> {
        // RT: no allocation.
        let (Some(first), Some(highest)) = (self.next_report, self.highest) else {
            return Ok(None);
        };
        if first > highest {
            return Ok(None);
        }
        let mask = Self::WINDOW as i64 - 1;
        let at = |q: i64| self.arrivals[(q & mask) as usize];
        // The reference time: the first received packet's arrival, floored to 64 ms.
        let mut q = first;
        while at(q) == NOT_RECEIVED {
            q += 1;
        }
        let ref_ticks = at(q) / REFERENCE_TICK_US;
        let mut time = ref_ticks * REFERENCE_TICK_US;
        // Decide the symbols; stop early where a delta does not fit in 16 bits.
        let mut count = 0usize;
        let mut last_received = first;
        while first + (count as i64) <= highest && count < MAX_PACKETS_PER_FEEDBACK {
            let a = at(first + count as i64);
            let sym = if a == NOT_RECEIVED {
                0
            } else {
                let ticks = (a - time) / DELTA_TICK_US;
                if !(i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&ticks) {
                    break;
                }
                time += ticks * DELTA_TICK_US;
                last_received = first + count as i64;
                if (0..=255).contains(&ticks) { 1 } else { 2 }
            };
            self.symbols[count] = sym;
            count += 1;
        }
        // Do not end on lost packets: they may still arrive and go into the next feedback.
        count = (last_received - first + 1) as usize;
        let symbols = &self.symbols[..count];
        let delta_bytes: usize = symbols.iter().map(|&s| usize::from(s)).sum();
        // Count the chunks first, to check the room.
        let mut chunks = 0usize;
        let mut i = 0;
        while i < count {
            i += next_chunk(&symbols[i..]).1;
            chunks += 1;
        }
        let unpadded = 20 + 2 * chunks + delta_bytes;
        let total = unpadded.div_ceil(4) * 4;
        room(out, total)?;
        out[0] = 0x80 | FMT_TWCC;
        if total != unpadded {
            out[0] |= 0x20;
        }
        out[1] = PT_RTPFB;
        out[2..4].copy_from_slice(&((total / 4 - 1) as u16).to_be_bytes());
        out[4..8].copy_from_slice(&self.sender_ssrc.to_be_bytes());
        out[8..12].copy_from_slice(&self.media_ssrc.to_be_bytes());
        out[12..14].copy_from_slice(&(first as u16).to_be_bytes());
        out[14..16].copy_from_slice(&(count as u16).to_be_bytes());
        out[16..19].copy_from_slice(&(ref_ticks as i32).to_be_bytes()[1..4]);
        out[19] = self.fb_count;
        let mut pos = 20;
        let mut i = 0;
        while i < count {
            let (chunk, n) = next_chunk(&symbols[i..]);
            out[pos..pos + 2].copy_from_slice(&chunk.to_be_bytes());
            pos += 2;
            i += n;
        }
        let mut time = ref_ticks * REFERENCE_TICK_US;
        for (k, &s) in symbols.iter().enumerate() {
            if s == 0 {
                continue;
            }
            let ticks = (at(first + k as i64) - time) / DELTA_TICK_US;
            time += ticks * DELTA_TICK_US;
            if s == 1 {
                out[pos] = ticks as u8;
                pos += 1;
            } else {
                out[pos..pos + 2].copy_from_slice(&(ticks as i16).to_be_bytes());
                pos += 2;
            }
        }
        out[pos..total].fill(0);
        if total != unpadded {
            out[total - 1] = (total - unpadded) as u8;
        }
        self.fb_count = self.fb_count.wrapping_add(1);
        self.next_report = Some(first + count as i64);
        Ok(Some(total))
    }
}

/// The chunk that encodes the start of `symbols`, and how many symbols it covers.
fn next_chunk(symbols: &[u8]) -> (u16, usize) {
    let first = symbols[0];
    let run = symbols
        .iter()
        .take_while(|&&s| s == first)
        .count()
        .min(0x1fff);
    let one_bit = symbols.iter().take(14).all(|&s| s <= 1);
    if run >= 14 || (run >= 7 && !one_bit) || run == symbols.len() && run >= 7 {
        return ((u16::from(first) << 13) | run as u16, run);
    }
    if one_bit {
        let n = symbols.len().min(14);
        let mut c = 0x8000u16;
        for (i, &s) in symbols[..n].iter().enumerate() {
            c |= u16::from(s) << (13 - i);
        }
        if n < 14 && symbols[..n].iter().all(|&s| s == first) {
            return ((u16::from(first) << 13) | n as u16, n);
        }
        (c, n)
    } else {
        let n = symbols.len().min(7);
        let mut c = 0xc000u16;
        for (i, &s) in symbols[..n].iter().enumerate() {
            c |= u16::from(s) << (12 - 2 * i);
        }
        (c, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parla_rtp::rtp::{ExtensionElement, RtpHeader, RtpPacketSpec};

    #[test]
    fn extension_rewritten_in_place() {
        let ext = [ExtensionElement {
            id: 5,
            data: &TRANSPORT_SEQ_PLACEHOLDER,
        }];
        let spec = RtpPacketSpec {
            header: RtpHeader {
                sequence: 9,
                ssrc: 1,
                payload_type: 111,
                ..Default::default()
            },
            csrcs: &[],
            extensions: &ext,
            payload: &[1, 2, 3],
            padding: 0,
        };
        let mut buf = [0u8; 64];
        let n = spec.write_to(&mut buf).unwrap();
        assert_eq!(read_transport_seq(&buf[..n], 5), Some(0));
        write_transport_seq(&mut buf[..n], 5, 0xbeef).unwrap();
        assert_eq!(read_transport_seq(&buf[..n], 5), Some(0xbeef));
        assert_eq!(read_transport_seq(&buf[..n], 6), None);
        assert_eq!(
            write_transport_seq(&mut buf[..n], 6, 1),
            Err(WriteError::NoExtension(6))
        );
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.payload, &[1, 2, 3]);
    }

    fn round_trip(arrivals: &[(u16, i64)]) -> Vec<FeedbackPacket> {
        let mut r = FeedbackRecorder::new(1, 2);
        for &(s, a) in arrivals {
            r.on_packet(s, a);
        }
        let mut out = vec![];
        let mut buf = [0u8; MAX_FEEDBACK_LEN];
        while let Some(n) = r.write_feedback(&mut buf).unwrap() {
            let fb = TwccFeedback::parse(&buf[..n]).unwrap();
            assert_eq!(fb.sender_ssrc, 1);
            out.extend(fb.packets());
        }
        out
    }

    #[test]
    fn feedback_round_trip_with_loss_reorder_and_large_deltas() {
        // Small deltas, a loss run, a big gap (large delta), reordering (negative delta), wrap.
        let mut arr = vec![];
        let mut t = 1_000_000i64;
        for i in 0..40u16 {
            let seq = 65_520u16.wrapping_add(i);
            t += 1_000 + i64::from(i % 3) * 250;
            if (10..25).contains(&i) {
                continue;
            }
            if i == 30 {
                t += 300_000;
            }
            arr.push((seq, t));
        }
        arr.swap(20, 21);
        let got = round_trip(&arr);
        assert_eq!(got.len(), 40);
        let ref_base = (arr[0].1 / REFERENCE_TICK_US) * REFERENCE_TICK_US;
        for p in &got {
            let want = arr.iter().find(|a| a.0 == p.seq).map(|a| a.1);
            match (want, p.arrival_us) {
                (Some(w), Some(g)) => {
                    // Quantized to 250 us against the running sum.
                    assert!((w - g).abs() < 250 || g >= ref_base, "{w} {g}");
                    assert!((w - g).abs() < 250, "seq {} want {w} got {g}", p.seq);
                }
                (None, None) => {}
                other => panic!("seq {}: {other:?}", p.seq),
            }
        }
    }

    #[test]
    fn long_runs_split_into_several_packets() {
        let arr: Vec<(u16, i64)> = (0..3000u16)
            .map(|s| (s, 10_000 + i64::from(s) * 500))
            .collect();
        let got = round_trip(&arr);
        assert_eq!(got.len(), 3000);
        assert!(got.iter().all(|p| p.arrival_us.is_some()));
    }

    #[test]
    fn late_packets_are_counted() {
        let mut r = FeedbackRecorder::new(1, 2);
        r.on_packet(10, 1000);
        r.on_packet(11, 2000);
        let mut buf = [0u8; MAX_FEEDBACK_LEN];
        assert!(r.write_feedback(&mut buf).unwrap().is_some());
        assert_eq!(r.write_feedback(&mut buf).unwrap(), None);
        r.on_packet(9, 3000);
        assert_eq!(r.late(), 1);
        let mut tiny = [0u8; 8];
        r.on_packet(12, 4000);
        assert!(r.write_feedback(&mut tiny).is_err());
        assert!(r.has_pending());
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            TwccFeedback::parse(&[0x80, 200, 0, 0]),
            Err(FeedbackError::NotTransportFeedback)
        );
        // Header says 5 words, status count 100 but no chunks.
        let mut b = [0u8; 20];
        b[0] = 0x8f;
        b[1] = 205;
        b[3] = 4;
        b[14] = 0;
        b[15] = 100;
        assert!(TwccFeedback::parse(&b).is_err());
    }
}
