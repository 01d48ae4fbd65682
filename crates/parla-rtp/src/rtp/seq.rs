//! Sequence numbers and timestamps: unwrapping to 64 bits on receive, generating on send.

/// Extends 16-bit RTP sequence numbers to 64 bits, choosing for each input the value closest to
/// the highest one seen so far (so reordering within half the number space is handled, and
/// wrap-arounds count up).
///
/// Values never go below zero: a packet that would unwrap below zero early in a stream is taken
/// as a forward jump instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqUnwrapper {
    highest: Option<u64>,
}

impl SeqUnwrapper {
    /// A fresh unwrapper.
    pub const fn new() -> Self {
        SeqUnwrapper { highest: None }
    }

    /// The unwrapped value of `seq`, updating the highest value seen.
    pub fn unwrap(&mut self, seq: u16) -> u64 {
        let v = self.peek(seq);
        if self.highest.is_none_or(|h| v > h) {
            self.highest = Some(v);
        }
        v
    }

    /// The unwrapped value of `seq` without updating the state.
    pub fn peek(&self, seq: u16) -> u64 {
        unwrap_near(self.highest, u64::from(seq), 1 << 16)
    }

    /// The highest unwrapped value seen, if any.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

/// Extends 32-bit RTP timestamps to 64 bits, like [`SeqUnwrapper`] does for sequence numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimestampUnwrapper {
    highest: Option<u64>,
}

impl TimestampUnwrapper {
    /// A fresh unwrapper.
    pub const fn new() -> Self {
        TimestampUnwrapper { highest: None }
    }

    /// The unwrapped value of `ts`, updating the highest value seen.
    pub fn unwrap(&mut self, ts: u32) -> u64 {
        let v = unwrap_near(self.highest, u64::from(ts), 1 << 32);
        if self.highest.is_none_or(|h| v > h) {
            self.highest = Some(v);
        }
        v
    }
}

/// The value congruent to `value` modulo `modulus` closest to `reference`, never negative.
fn unwrap_near(reference: Option<u64>, value: u64, modulus: u64) -> u64 {
    let Some(r) = reference else { return value };
    let half = modulus / 2;
    let base = r - r % modulus;
    let candidates = [
        base.checked_sub(modulus).map(|b| b + value),
        Some(base + value),
        base.checked_add(modulus).map(|b| b + value),
    ];
    let mut best = base + value;
    let mut best_d = u64::MAX;
    for c in candidates.into_iter().flatten() {
        let d = c.abs_diff(r);
        if d < best_d || (d == best_d && d == half && c > best) {
            best = c;
            best_d = d;
        }
    }
    best
}

/// Sender-side state of one RTP stream: SSRC, payload type, the next sequence number and the
/// mapping from media time to the RTP clock.
///
/// Sequence numbers and the timestamp origin should start at random values (RFC 3550 5.1);
/// the caller passes them in so this stays deterministic in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpSequencer {
    /// Synchronization source of the stream.
    pub ssrc: u32,
    /// Payload type of the stream.
    pub payload_type: u8,
    next_seq: u16,
    timestamp_offset: u32,
    packets: u64,
    octets: u64,
}

impl RtpSequencer {
    /// A stream starting at sequence number `first_seq` whose RTP timestamp for media sample 0
    /// is `timestamp_offset`.
    pub const fn new(ssrc: u32, payload_type: u8, first_seq: u16, timestamp_offset: u32) -> Self {
        RtpSequencer {
            ssrc,
            payload_type,
            next_seq: first_seq,
            timestamp_offset,
            packets: 0,
            octets: 0,
        }
    }

    /// The header for the next packet, whose media starts at `samples` (in the RTP clock)
    /// since the start of the stream; takes a sequence number and counts the payload octets
    /// (for sender reports).
    pub fn next_header(
        &mut self,
        samples: u64,
        marker: bool,
        payload_len: usize,
    ) -> crate::rtp::RtpHeader {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.packets += 1;
        self.octets += payload_len as u64;
        crate::rtp::RtpHeader {
            marker,
            payload_type: self.payload_type,
            sequence: seq,
            timestamp: self.rtp_timestamp(samples),
            ssrc: self.ssrc,
        }
    }

    /// The RTP timestamp of media sample `samples` (RTP clock units since stream start).
    pub fn rtp_timestamp(&self, samples: u64) -> u32 {
        self.timestamp_offset.wrapping_add(samples as u32)
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The stream's payload type.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// The sequence number the next packet will get.
    pub fn next_sequence(&self) -> u16 {
        self.next_seq
    }

    /// Packets sent so far (for the sender report's packet count).
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Payload octets sent so far (for the sender report's octet count).
    pub fn octets(&self) -> u64 {
        self.octets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwraps_across_wrap_and_reorder() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.unwrap(65534), 65534);
        assert_eq!(u.unwrap(65535), 65535);
        assert_eq!(u.unwrap(1), 65537);
        assert_eq!(u.unwrap(0), 65536);
        assert_eq!(u.unwrap(65533), 65533);
        assert_eq!(u.unwrap(2), 65538);
        assert_eq!(u.highest(), Some(65538));
        // Early reordering across zero never goes negative.
        let mut v = SeqUnwrapper::new();
        assert_eq!(v.unwrap(1), 1);
        assert_eq!(v.unwrap(65535), 65535);
    }

    #[test]
    fn timestamps_unwrap() {
        let mut t = TimestampUnwrapper::new();
        assert_eq!(t.unwrap(u32::MAX - 959), u64::from(u32::MAX - 959));
        assert_eq!(t.unwrap(0), 1 << 32);
        assert_eq!(t.unwrap(960), (1 << 32) + 960);
    }

    #[test]
    fn sequencer_wraps() {
        let mut s = RtpSequencer::new(5, 111, 65535, u32::MAX - 100);
        let a = s.next_header(0, true, 10);
        let b = s.next_header(960, false, 20);
        assert_eq!((a.sequence, b.sequence), (65535, 0));
        assert_eq!(b.timestamp, 859);
        assert_eq!((s.packets(), s.octets()), (2, 30));
    }
}
