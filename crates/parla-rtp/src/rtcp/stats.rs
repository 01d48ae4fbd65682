//! Reception statistics for RTCP reports (RFC 3550 appendix A.3 and A.8) and round-trip time.

use std::time::Duration;

use parla_core::MediaTime;

use crate::rtcp::packet::ReportBlock;
use crate::rtp::SeqUnwrapper;

/// The 64-bit NTP timestamp for a media time, taking the media-time epoch as NTP time zero.
///
/// Only differences matter for RTT (the peer echoes the middle 32 bits back), so the engine may
/// use any consistent epoch; to publish wall-clock NTP for lip sync, add the epoch's NTP time.
pub fn ntp_from_media_time(t: MediaTime) -> u64 {
    let us = t.as_micros();
    let secs = us / 1_000_000;
    let frac = ((us % 1_000_000) << 32) / 1_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp (the "compact" form used in LSR and DLSR).
pub fn ntp_compact(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Round-trip time from a report block received at `now` about a stream whose sender reports we
/// stamped with [`ntp_from_media_time`] (RFC 3550 6.4.1: `A - LSR - DLSR`).
///
/// Returns `None` when the block carries no LSR, or when the result would be negative (a clock
/// mismatch or a forged block).
pub fn round_trip_time(now: MediaTime, block: &ReportBlock) -> Option<Duration> {
    if block.last_sr == 0 {
        return None;
    }
    let a = ntp_compact(ntp_from_media_time(now));
    let rtt = a
        .wrapping_sub(block.last_sr)
        .wrapping_sub(block.delay_since_last_sr);
    if rtt >= 0x8000_0000 {
        return None;
    }
    Some(Duration::from_micros((u64::from(rtt) * 1_000_000) >> 16))
}

/// What a receiver knows about one incoming RTP stream, for its reception report block.
///
/// Allocation-free; call [`on_packet`](Self::on_packet) for every RTP packet (duplicates
/// included, as RFC 3550 counts them) and [`report_block`](Self::report_block) when a report is
/// due.
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    ssrc: u32,
    clock_rate: u32,
    seq: SeqUnwrapper,
    base_seq: Option<u64>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    jitter_q4: u64,
    last_transit: Option<u32>,
    last_sr: Option<(u32, MediaTime)>,
}

impl ReceiveStats {
    /// Statistics for the stream `ssrc` whose RTP clock runs at `clock_rate` Hz.
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        ReceiveStats {
            ssrc,
            clock_rate: clock_rate.max(1),
            seq: SeqUnwrapper::new(),
            base_seq: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter_q4: 0,
            last_transit: None,
            last_sr: None,
        }
    }

    /// Records a packet with sequence number `seq` and RTP timestamp `rtp_ts` that arrived at
    /// `arrival`.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn on_packet(&mut self, seq: u16, rtp_ts: u32, arrival: MediaTime) {
        // RT: constant time, no allocation.
        let s = self.seq.unwrap(seq);
        self.base_seq = Some(self.base_seq.map_or(s, |b| b.min(s)));
        self.received += 1;
        let arrival_rtp =
            ((u128::from(arrival.as_micros()) * u128::from(self.clock_rate)) / 1_000_000) as u32;
        let transit = arrival_rtp.wrapping_sub(rtp_ts);
        if let Some(prev) = self.last_transit {
            let d = u64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            // RFC 3550 A.8, integer form: J += |D| - J/16 with J scaled by 16.
            self.jitter_q4 = (self.jitter_q4 + d).saturating_sub((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Records a sender report from this stream's source (for LSR/DLSR).
    pub fn on_sender_report(&mut self, ntp: u64, arrival: MediaTime) {
        self.last_sr = Some((ntp_compact(ntp), arrival));
    }

    /// Packets expected so far (highest minus first sequence number, plus one).
    pub fn expected(&self) -> u64 {
        match (self.base_seq, self.seq.highest()) {
            (Some(b), Some(h)) => h - b + 1,
            _ => 0,
        }
    }

    /// Packets received so far (duplicates included).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative loss: expected minus received (negative with duplicates).
    pub fn cumulative_lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in RTP timestamp units.
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }

    /// Interarrival jitter as a duration.
    pub fn jitter_duration(&self) -> Duration {
        Duration::from_micros(u64::from(self.jitter()) * 1_000_000 / u64::from(self.clock_rate))
    }

    /// The report block for a report sent at `now`, or `None` before the first packet.
    /// Starts a new interval for the loss fraction.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn report_block(&mut self, now: MediaTime) -> Option<ReportBlock> {
        let highest = self.seq.highest()?;
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let d = now.saturating_since(at);
                (
                    lsr,
                    ((d.as_micros() << 16) / 1_000_000).min(u128::from(u32::MAX)) as u32,
                )
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            extended_highest_seq: highest as u32,
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr: dlsr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_fraction_and_cumulative() {
        let mut s = ReceiveStats::new(7, 48_000);
        // 10 packets expected (0..=9), 2 lost (3 and 7).
        for seq in (0u16..10).filter(|s| *s != 3 && *s != 7) {
            s.on_packet(
                seq,
                u32::from(seq) * 960,
                MediaTime::from_millis(u64::from(seq) * 20),
            );
        }
        let b = s.report_block(MediaTime::from_millis(200)).unwrap();
        assert_eq!(b.cumulative_lost, 2);
        assert_eq!(b.fraction_lost, (2 * 256 / 10) as u8);
        assert_eq!(b.extended_highest_seq, 9);
        assert_eq!(b.jitter, 0, "perfectly paced packets have no jitter");
        // Next interval: no loss.
        for seq in 10u16..20 {
            s.on_packet(
                seq,
                u32::from(seq) * 960,
                MediaTime::from_millis(u64::from(seq) * 20),
            );
        }
        let b = s.report_block(MediaTime::from_millis(400)).unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 2));
    }

    #[test]
    fn jitter_converges_to_alternating_delay() {
        // Arrival alternates between +0 and +10 ms: |D| = 480 units each packet; J -> 480.
        let mut s = ReceiveStats::new(7, 48_000);
        for i in 0u64..2000 {
            let extra = if i % 2 == 0 { 0 } else { 10 };
            s.on_packet(
                i as u16,
                (i * 960) as u32,
                MediaTime::from_millis(i * 20 + extra),
            );
        }
        let j = s.jitter();
        assert!((470..=480).contains(&j), "jitter {j}");
        assert_eq!(
            s.jitter_duration(),
            Duration::from_micros(u64::from(j) * 1_000_000 / 48_000)
        );
    }

    #[test]
    fn rtt_from_lsr_dlsr() {
        let sr_sent = MediaTime::from_millis(1_000);
        let ntp = ntp_from_media_time(sr_sent);
        // The peer got the SR 30 ms later and held it 50 ms before reporting; the report takes
        // 30 ms back: RTT 60 ms.
        let mut peer = ReceiveStats::new(1, 90_000);
        peer.on_packet(0, 0, MediaTime::from_millis(1_000));
        peer.on_sender_report(ntp, MediaTime::from_millis(1_030));
        let block = peer.report_block(MediaTime::from_millis(1_080)).unwrap();
        let rtt = round_trip_time(MediaTime::from_millis(1_110), &block).unwrap();
        assert!(
            rtt.abs_diff(Duration::from_millis(60)) < Duration::from_micros(100),
            "{rtt:?}"
        );
        assert_eq!(
            round_trip_time(MediaTime::from_millis(1_110), &ReportBlock::default()),
            None
        );
    }
}
