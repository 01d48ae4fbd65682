//! H.264 over RTP (RFC 6184), packetization-mode 1: single NAL unit packets, STAP-A aggregation
//! of small NAL units and FU-A fragmentation of large ones, under a payload size limit.
//!
//! Access units go in and come out in Annex B byte-stream form (start-code prefixed NAL units).

use crate::error::{ParseError, WriteError, room};
use crate::payload::PayloadChunk;
use crate::payload::assembler::{Depacketizer, FrameBuf};

const STAP_A: u8 = 24;
const FU_A: u8 = 28;
const NAL_IDR: u8 = 5;
const NAL_SLICE: u8 = 1;
const NAL_SEI: u8 = 6;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// The position of the next `00 00 01` at or after `from`: (first zero, first byte after).
fn find_start_code(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 2 < buf.len() {
        if buf[i + 2] > 1 {
            i += 3;
        } else if buf[i] == 0 && buf[i + 1] == 0 && buf[i + 2] == 1 {
            return Some((i, i + 3));
        } else {
            i += 1;
        }
    }
    None
}

/// The next non-empty NAL unit at or after `from` in an Annex B buffer, as a byte range with
/// trailing zero bytes (the next start code's leading zero) removed.
fn next_nal(au: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut pos = from;
    while pos < au.len() {
        let start = match find_start_code(au, pos) {
            Some((sc, after)) if au[pos..sc].iter().all(|&b| b == 0) => after,
            _ => pos,
        };
        let mut end = find_start_code(au, start).map_or(au.len(), |(sc, _)| sc);
        let next = end;
        while end > start && au[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            return Some((start, end));
        }
        pos = next.max(start);
        if pos == start && start >= au.len() {
            break;
        }
    }
    None
}

/// The NAL units of an Annex B access unit, in order, without their start codes (for example to
/// find the SPS and PPS a session description announces).
///
/// ```
/// # use parla_rtp::payload::h264::nal_units;
/// let au = [0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce];
/// let nals: Vec<&[u8]> = nal_units(&au).collect();
/// assert_eq!(nals, [&[0x67, 0x42][..], &[0x68, 0xce][..]]);
/// ```
pub fn nal_units(access_unit: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let (start, end) = next_nal(access_unit, pos)?;
        pos = end;
        Some(&access_unit[start..end])
    })
}

/// Splits Annex B access units into RTP payloads of at most `max_payload` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H264Packetizer {
    max_payload: usize,
}

impl H264Packetizer {
    /// A packetizer for payloads of at most `max_payload` bytes (the MTU minus the IP, UDP, RTP
    /// and SRTP/extension overhead).
    ///
    /// # Errors
    /// [`parla_core::ConfigError::InvalidParameter`] if `max_payload` is below 16 bytes.
    pub fn new(max_payload: usize) -> Result<Self, parla_core::ConfigError> {
        if max_payload < 16 {
            return Err(parla_core::ConfigError::InvalidParameter {
                name: "max_payload",
                detail: format!("{max_payload} bytes is below the minimum of 16"),
            });
        }
        Ok(H264Packetizer { max_payload })
    }

    /// The payloads of one access unit (Annex B: NAL units behind `00 00 01` or `00 00 00 01`).
    pub fn packetize<'a>(&self, access_unit: &'a [u8]) -> H264Payloads<'a> {
        H264Payloads {
            au: access_unit,
            max: self.max_payload,
            cur: next_nal(access_unit, 0),
            fu_offset: 0,
        }
    }
}

/// The payloads of one access unit; call [`next_into`](Self::next_into) until `None`.
#[derive(Debug, Clone)]
pub struct H264Payloads<'a> {
    au: &'a [u8],
    max: usize,
    cur: Option<(usize, usize)>,
    fu_offset: usize,
}

impl H264Payloads<'_> {
    /// Writes the next payload into `out`.
    ///
    /// # Real-time safety
    /// No allocation; scans the access unit for start codes once.
    ///
    /// # Errors
    /// [`WriteError::BufferTooSmall`] if `out` is shorter than the payload.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<Result<PayloadChunk, WriteError>> {
        // RT: no allocation.
        let (s, e) = self.cur?;
        let nal = &self.au[s..e];
        if self.fu_offset > 0 || nal.len() > self.max {
            return Some(self.fu_a(s, e, out));
        }
        // Aggregate following NAL units while they fit.
        let mut stap_len = 1 + 2 + nal.len();
        let mut count = 1;
        let mut end_of_group = e;
        let mut next = next_nal(self.au, e);
        while let Some((ns, ne)) = next {
            if stap_len + 2 + (ne - ns) > self.max {
                break;
            }
            stap_len += 2 + (ne - ns);
            count += 1;
            end_of_group = ne;
            next = next_nal(self.au, ne);
        }
        if count == 1 {
            if let Err(err) = room(out, nal.len()) {
                return Some(Err(err));
            }
            out[..nal.len()].copy_from_slice(nal);
            self.cur = next_nal(self.au, e);
            return Some(Ok(PayloadChunk {
                len: nal.len(),
                last: self.cur.is_none(),
            }));
        }
        if let Err(err) = room(out, stap_len) {
            return Some(Err(err));
        }
        let mut f_nri = 0u8;
        let mut pos = 1;
        let mut it = Some((s, e));
        while let Some((ns, ne)) = it {
            if ns >= end_of_group {
                break;
            }
            let n = &self.au[ns..ne];
            f_nri = (f_nri & 0x80) | (n[0] & 0x80) | (f_nri & 0x60).max(n[0] & 0x60);
            out[pos..pos + 2].copy_from_slice(&(n.len() as u16).to_be_bytes());
            out[pos + 2..pos + 2 + n.len()].copy_from_slice(n);
            pos += 2 + n.len();
            it = next_nal(self.au, ne);
        }
        out[0] = f_nri | STAP_A;
        self.cur = next;
        Some(Ok(PayloadChunk {
            len: pos,
            last: self.cur.is_none(),
        }))
    }

    fn fu_a(&mut self, s: usize, e: usize, out: &mut [u8]) -> Result<PayloadChunk, WriteError> {
        let nal = &self.au[s..e];
        let start = self.fu_offset == 0;
        let off = if start { 1 } else { self.fu_offset };
        let take = (self.max - 2).min(nal.len() - off);
        room(out, 2 + take)?;
        let end = off + take == nal.len();
        out[0] = (nal[0] & 0xe0) | FU_A;
        out[1] = if start { 0x80 } else { 0 } | if end { 0x40 } else { 0 } | (nal[0] & 0x1f);
        out[2..2 + take].copy_from_slice(&nal[off..off + take]);
        if end {
            self.fu_offset = 0;
            self.cur = next_nal(self.au, e);
        } else {
            self.fu_offset = off + take;
        }
        Ok(PayloadChunk {
            len: 2 + take,
            last: end && self.cur.is_none(),
        })
    }
}

/// Rebuilds Annex B access units from H.264 RTP payloads (used by the frame assembler).
#[derive(Debug, Clone, Copy, Default)]
pub struct H264Depacketizer {
    in_fu: bool,
}

/// Whether a NAL unit (type and the first byte after its header) can begin an access unit:
/// an access unit delimiter, SEI or parameter set, or a slice with `first_mb_in_slice == 0`
/// (whose exp-Golomb code is a single 1 bit).
fn starts_access_unit(nal_type: u8, first_body_byte: Option<u8>) -> bool {
    match nal_type {
        NAL_AUD | NAL_SEI | NAL_SPS | NAL_PPS => true,
        NAL_SLICE | NAL_IDR => first_body_byte.is_some_and(|b| b & 0x80 != 0),
        _ => false,
    }
}

impl Depacketizer for H264Depacketizer {
    fn is_frame_start(&self, payload: &[u8]) -> bool {
        let Some(&h) = payload.first() else {
            return false;
        };
        match h & 0x1f {
            STAP_A => {
                payload.len() > 3 && starts_access_unit(payload[3] & 0x1f, payload.get(4).copied())
            }
            FU_A => {
                payload.len() > 2
                    && payload[1] & 0x80 != 0
                    && starts_access_unit(payload[1] & 0x1f, payload.get(2).copied())
            }
            t => starts_access_unit(t, payload.get(1).copied()),
        }
    }

    fn is_keyframe(&self, payload: &[u8]) -> bool {
        let Some(&h) = payload.first() else {
            return false;
        };
        match h & 0x1f {
            STAP_A => {
                let mut pos = 1;
                while pos + 2 < payload.len() {
                    let size = usize::from(u16::from_be_bytes([payload[pos], payload[pos + 1]]));
                    if size == 0 || pos + 2 + size > payload.len() {
                        return false;
                    }
                    if payload[pos + 2] & 0x1f == NAL_IDR {
                        return true;
                    }
                    pos += 2 + size;
                }
                false
            }
            FU_A => payload.len() > 1 && payload[1] & 0x1f == NAL_IDR,
            t => t == NAL_IDR,
        }
    }

    fn begin_frame(&mut self) {
        self.in_fu = false;
    }

    fn depacketize(&mut self, payload: &[u8], out: &mut FrameBuf) -> Result<(), ParseError> {
        // RT: appends to a preallocated frame buffer.
        let Some(&h) = payload.first() else {
            return Err(ParseError::Malformed("empty H.264 payload"));
        };
        if h & 0x80 != 0 {
            return Err(ParseError::Malformed("H.264 forbidden_zero_bit"));
        }
        match h & 0x1f {
            1..=23 => {
                if self.in_fu {
                    return Err(ParseError::Malformed("FU-A interrupted"));
                }
                out.push(&START_CODE)?;
                out.push(payload)
            }
            STAP_A => {
                if self.in_fu {
                    return Err(ParseError::Malformed("FU-A interrupted"));
                }
                let mut pos = 1;
                if payload.len() < 3 {
                    return Err(ParseError::Malformed("STAP-A without NAL units"));
                }
                while pos < payload.len() {
                    if pos + 2 > payload.len() {
                        return Err(ParseError::Malformed("STAP-A size field"));
                    }
                    let size = usize::from(u16::from_be_bytes([payload[pos], payload[pos + 1]]));
                    if size == 0 || pos + 2 + size > payload.len() {
                        return Err(ParseError::Malformed("STAP-A NAL unit size"));
                    }
                    out.push(&START_CODE)?;
                    out.push(&payload[pos + 2..pos + 2 + size])?;
                    pos += 2 + size;
                }
                Ok(())
            }
            FU_A => {
                if payload.len() < 3 {
                    return Err(ParseError::Malformed("FU-A too short"));
                }
                let fu = payload[1];
                let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
                if start && end {
                    return Err(ParseError::Malformed("FU-A with both start and end"));
                }
                if start {
                    if self.in_fu {
                        return Err(ParseError::Malformed("FU-A restarted"));
                    }
                    out.push(&START_CODE)?;
                    out.push(&[(h & 0xe0) | (fu & 0x1f)])?;
                    self.in_fu = true;
                } else if !self.in_fu {
                    return Err(ParseError::Malformed("FU-A continuation without start"));
                }
                out.push(&payload[2..])?;
                if end {
                    self.in_fu = false;
                }
                Ok(())
            }
            _ => Err(ParseError::Unsupported(
                "H.264 packet type (only single NAL, STAP-A, FU-A)",
            )),
        }
    }

    fn end_frame(&mut self) -> Result<(), ParseError> {
        if self.in_fu {
            self.in_fu = false;
            return Err(ParseError::Malformed("FU-A not ended at end of frame"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(p: &H264Packetizer, au: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut it = p.packetize(au);
        let mut buf = [0u8; 2000];
        let mut v = Vec::new();
        while let Some(r) = it.next_into(&mut buf) {
            let c = r.unwrap();
            v.push((buf[..c.len].to_vec(), c.last));
        }
        v
    }

    #[test]
    fn finds_nal_units_with_both_start_codes() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 0x88,
        ];
        assert_eq!(next_nal(&au, 0), Some((4, 7)));
        assert_eq!(next_nal(&au, 7), Some((10, 12)));
        assert_eq!(next_nal(&au, 12), Some((16, 18)));
        assert_eq!(next_nal(&au, 18), None);
        assert_eq!(next_nal(&[0, 0, 1], 0), None);
        assert_eq!(next_nal(&[0x65, 1], 0), Some((0, 2)));
    }

    #[test]
    fn aggregates_small_and_fragments_large() {
        let p = H264Packetizer::new(100).unwrap();
        let mut au = vec![0, 0, 0, 1, 0x67, 0x42, 0x00];
        au.extend([0, 0, 1, 0x68, 0xce]);
        au.extend([0, 0, 1, 0x65, 0x88]);
        au.extend(std::iter::repeat_n(0xab, 250));
        let v = payloads(&p, &au);
        // STAP-A(SPS, PPS), then the IDR in FU-A fragments of at most 98 data bytes.
        assert_eq!(v[0].0[0] & 0x1f, STAP_A);
        assert!(v.len() == 4 && v.iter().all(|(b, _)| b.len() <= 100));
        assert_eq!(v.iter().filter(|(_, last)| *last).count(), 1);
        assert!(v[3].1);
        let mut d = H264Depacketizer::default();
        let mut out = FrameBuf::with_capacity(1000);
        assert!(d.is_frame_start(&v[0].0));
        assert!(d.is_keyframe(&v[1].0));
        for (b, _) in &v {
            d.depacketize(b, &mut out).unwrap();
        }
        d.end_frame().unwrap();
        let mut expected = vec![0, 0, 0, 1, 0x67, 0x42];
        expected.extend([0, 0, 0, 1, 0x68, 0xce]);
        expected.extend([0, 0, 0, 1, 0x65, 0x88]);
        expected.extend(std::iter::repeat_n(0xab, 250));
        // The trailing zero of the SPS is taken as part of the next 4-byte start code.
        assert_eq!(out.as_slice(), &expected[..]);
    }
}
