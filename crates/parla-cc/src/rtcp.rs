//! RTCP for congestion control. Packet parsing and writing (SR, RR, report blocks) and the
//! per-source reception statistics (RFC 3550 A.3 loss, A.8 jitter, LSR/DLSR) live in
//! `parla_rtp::rtcp`; this module adds what the sender side of a call needs on top:
//!
//! - [`validate`]: the RFC 3550 A.2 validity check of a compound packet, or RFC 5506's
//!   reduced-size rules (a single non-report packet allowed);
//! - [`ReportInterval`]: when to send the next report (RFC 3550 6.2, 6.3 and A.7: 5% of the
//!   session bandwidth, a quarter of it for receivers when senders are few, randomized over
//!   [0.5, 1.5] and divided by e - 3/2, with the 5 s minimum halved for the first report, or
//!   the reduced minimum 360 / session kbit/s);
//! - [`RemoteReports`]: what the peer's report blocks say about our stream (RTT from LSR/DLSR,
//!   fraction lost, cumulative loss, jitter), to feed the estimator.

use parla_core::MediaTime;
use parla_rtp::rtcp::{RtcpPacket, parse_compound, round_trip_time};

use crate::error::FeedbackError;

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;

/// Which RTCP packets [`validate`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpMode {
    /// RFC 3550 compound packets only: the first is an SR or RR.
    Compound,
    /// RFC 5506: compound packets, or any single packet (feedback alone).
    ReducedSize,
}

/// Checks a received RTCP packet per RFC 3550 A.2 (version 2 everywhere, padding only in the
/// last packet, lengths adding up to the datagram, first packet an SR or RR) or RFC 5506;
/// returns the number of packets.
///
/// # Real-time safety
/// No allocation.
///
/// # Errors
/// [`FeedbackError::Malformed`] or [`FeedbackError::Truncated`].
pub fn validate(buf: &[u8], mode: RtcpMode) -> Result<usize, FeedbackError> {
    // RT: no allocation.
    let mut pos = 0usize;
    let mut count = 0usize;
    while pos < buf.len() {
        let rest = &buf[pos..];
        if rest.len() < 4 {
            return Err(FeedbackError::Truncated {
                needed: pos + 4,
                got: buf.len(),
            });
        }
        if rest[0] >> 6 != 2 {
            return Err(FeedbackError::Malformed("RTCP version"));
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if rest.len() < len {
            return Err(FeedbackError::Truncated {
                needed: pos + len,
                got: buf.len(),
            });
        }
        if rest[0] & 0x20 != 0 && pos + len != buf.len() {
            return Err(FeedbackError::Malformed("padding before the last packet"));
        }
        if count == 0 && mode == RtcpMode::Compound && rest[1] != PT_SR && rest[1] != PT_RR {
            return Err(FeedbackError::Malformed("first packet not SR or RR"));
        }
        pos += len;
        count += 1;
    }
    if count == 0 {
        return Err(FeedbackError::Truncated { needed: 4, got: 0 });
    }
    if mode == RtcpMode::ReducedSize && count > 1 && buf[1] != PT_SR && buf[1] != PT_RR {
        return Err(FeedbackError::Malformed(
            "compound packet not led by SR or RR",
        ));
    }
    // Every packet must also parse.
    for p in parse_compound(buf) {
        p.map_err(|_| FeedbackError::Malformed("RTCP packet body"))?;
    }
    Ok(count)
}

/// The RFC 3550 6.3 transmission interval with its randomization (A.7), deterministic from a
/// seed (a xorshift generator, enough to de-synchronize peers).
#[derive(Debug, Clone)]
pub struct ReportInterval {
    session_bps: f64,
    reduced_minimum: bool,
    avg_size: f64,
    initial: bool,
    rng: u64,
}

/// RFC 3550's minimum interval.
pub const MIN_INTERVAL_US: i64 = 5_000_000;

impl ReportInterval {
    /// An interval for a session of `session_bps` (all media of the call, bits per second). With
    /// `reduced_minimum` the minimum is 360 / session kbit/s seconds instead of 5 s (RFC 3550
    /// 6.2, allowed for unicast). `seed` drives the randomization.
    pub fn new(session_bps: u64, reduced_minimum: bool, seed: u64) -> Self {
        ReportInterval {
            session_bps: session_bps.max(1) as f64,
            reduced_minimum,
            avg_size: 128.0,
            initial: true,
            rng: seed | 1,
        }
    }

    /// The session bandwidth changed (the estimate moved).
    pub fn set_session_bps(&mut self, bps: u64) {
        self.session_bps = bps.max(1) as f64;
    }

    /// A report of `bytes` (with lower-layer headers) was sent or received: the running average
    /// size (`avg = 1/16 new + 15/16 avg`).
    pub fn on_report(&mut self, bytes: usize) {
        self.avg_size += (bytes as f64 - self.avg_size) / 16.0;
    }

    fn random_unit(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The deterministic interval (before randomization) for `members` participants of which
    /// `senders` send, with `we_sent` telling whether we are one of them, microseconds.
    pub fn deterministic_us(&self, members: u32, senders: u32, we_sent: bool) -> i64 {
        let rtcp_bps = 0.05 * self.session_bps;
        let members = f64::from(members.max(1));
        let senders = f64::from(senders.min(members as u32));
        let (n, bw) = if senders > 0.0 && senders <= 0.25 * members {
            if we_sent {
                (senders, 0.25 * rtcp_bps)
            } else {
                (members - senders, 0.75 * rtcp_bps)
            }
        } else {
            (members, rtcp_bps)
        };
        let t = self.avg_size * 8.0 * n / bw;
        let min_s = if self.reduced_minimum {
            360.0 / (self.session_bps / 1000.0)
        } else if self.initial {
            2.5
        } else {
            5.0
        };
        (t.max(min_s) * 1e6) as i64
    }

    /// The time to wait before the next report, microseconds: the deterministic interval times
    /// a uniform factor in [0.5, 1.5], divided by e - 3/2 (timer reconsideration's compensation).
    pub fn next_us(&mut self, members: u32, senders: u32, we_sent: bool) -> i64 {
        let td = self.deterministic_us(members, senders, we_sent) as f64;
        self.initial = false;
        let r = 0.5 + self.random_unit();
        (td * r / (std::f64::consts::E - 1.5)) as i64
    }
}

/// What the peer reported about our stream.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RemoteReport {
    /// Round-trip time from LSR/DLSR, microseconds, if the block echoed one of our SRs.
    pub rtt_us: Option<i64>,
    /// Fraction lost since the peer's previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter, RTP timestamp units.
    pub jitter: u32,
}

/// Reads the report blocks about our source from received (validated, authenticated) RTCP.
#[derive(Debug, Clone)]
pub struct RemoteReports {
    ssrc: u32,
    last: Option<RemoteReport>,
    reports: u64,
}

impl RemoteReports {
    /// Reads reports about our source `ssrc`.
    pub fn new(ssrc: u32) -> Self {
        RemoteReports {
            ssrc,
            last: None,
            reports: 0,
        }
    }

    /// Processes a compound packet received at `now`; returns the report block about us, if
    /// it holds one.
    ///
    /// # Real-time safety
    /// No allocation.
    pub fn on_rtcp(&mut self, buf: &[u8], now: MediaTime) -> Option<RemoteReport> {
        // RT: no allocation.
        let mut found = None;
        for pkt in parse_compound(buf) {
            let Ok(pkt) = pkt else { break };
            let blocks = match pkt {
                RtcpPacket::SenderReport { reports, .. } => reports,
                RtcpPacket::ReceiverReport { reports, .. } => reports,
                _ => continue,
            };
            for b in blocks.iter().filter(|b| b.ssrc == self.ssrc) {
                found = Some(RemoteReport {
                    rtt_us: round_trip_time(now, &b).map(|d| d.as_micros() as i64),
                    fraction_lost: b.fraction_lost,
                    cumulative_lost: b.cumulative_lost,
                    extended_highest_seq: b.extended_highest_seq,
                    jitter: b.jitter,
                });
            }
        }
        if let Some(r) = found {
            self.last = Some(r);
            self.reports += 1;
        }
        found
    }

    /// The latest report.
    pub fn last(&self) -> Option<RemoteReport> {
        self.last
    }

    /// Reports about us received.
    pub fn reports(&self) -> u64 {
        self.reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parla_rtp::rtcp::{
        ReceiveStats, SenderInfo, ntp_from_media_time, write_pli, write_rr, write_sr,
    };

    #[test]
    fn interval_follows_rfc3550() {
        // 64 kbit/s session, 2 members both sending: RTCP 3.2 kbit/s; 128-byte reports:
        // 2 x 1024 bits / 3200 = 0.64 s < 5 s minimum (2.5 s initially).
        let mut i = ReportInterval::new(64_000, false, 1);
        assert_eq!(i.deterministic_us(2, 2, true), 2_500_000);
        let first = i.next_us(2, 2, true);
        let lo = (2.5e6 * 0.5 / (std::f64::consts::E - 1.5)) as i64;
        let hi = (2.5e6 * 1.5 / (std::f64::consts::E - 1.5)) as i64;
        assert!((lo..=hi).contains(&first), "{first}");
        assert_eq!(i.deterministic_us(2, 2, true), 5_000_000);
        // Reduced minimum at 1 Mbit/s: 0.36 s; the bandwidth share gives 20 ms here.
        let r = ReportInterval::new(1_000_000, true, 1);
        assert_eq!(r.deterministic_us(2, 2, true), 360_000);
        // A big conference: 1000 receivers, 1 sender at 64 kbit/s: receivers share 75%.
        let c = ReportInterval::new(64_000, false, 1);
        let want = (128.0 * 8.0 * 999.0 / (0.75 * 3200.0) * 1e6) as i64;
        assert_eq!(c.deterministic_us(1000, 1, false), want);
        // Randomization spreads the draws.
        let mut s = ReportInterval::new(64_000, false, 9);
        let draws: Vec<i64> = (0..100).map(|_| s.next_us(2, 2, true)).collect();
        assert!(draws.iter().min() < draws.iter().max());
    }

    #[test]
    fn validate_compound_and_reduced_size() {
        let mut buf = [0u8; 256];
        let info = SenderInfo {
            ssrc: 1,
            ..Default::default()
        };
        let mut n = write_sr(&info, &[], &mut buf).unwrap();
        n += write_pli(1, 2, &mut buf[n..]).unwrap();
        assert_eq!(validate(&buf[..n], RtcpMode::Compound), Ok(2));
        let pli = write_pli(1, 2, &mut buf).unwrap();
        assert!(validate(&buf[..pli], RtcpMode::Compound).is_err());
        assert_eq!(validate(&buf[..pli], RtcpMode::ReducedSize), Ok(1));
        assert!(validate(&buf[..pli - 1], RtcpMode::ReducedSize).is_err());
        assert!(validate(&[], RtcpMode::ReducedSize).is_err());
    }

    #[test]
    fn rtt_and_loss_from_the_peer() {
        // We send an SR at 1.000 s; the peer receives it at 1.040 s, reports at 1.090 s; the
        // report arrives at 1.130 s: RTT 80 ms.
        let sr_at = MediaTime::from_millis(1000);
        let mut peer = ReceiveStats::new(0xabc, 48_000);
        for s in 0..10u16 {
            if s != 4 {
                peer.on_packet(
                    s,
                    u32::from(s) * 960,
                    MediaTime::from_millis(900 + u64::from(s) * 10),
                );
            }
        }
        peer.on_sender_report(ntp_from_media_time(sr_at), MediaTime::from_millis(1040));
        let block = peer.report_block(MediaTime::from_millis(1090)).unwrap();
        let mut buf = [0u8; 128];
        let n = write_rr(0x999, &[block], &mut buf).unwrap();
        let mut rr = RemoteReports::new(0xabc);
        let r = rr.on_rtcp(&buf[..n], MediaTime::from_millis(1130)).unwrap();
        assert!((r.rtt_us.unwrap() - 80_000).abs() < 100, "{r:?}");
        assert_eq!(r.cumulative_lost, 1);
        assert_eq!(r.fraction_lost, 25);
        assert_eq!(
            RemoteReports::new(5).on_rtcp(&buf[..n], MediaTime::ZERO),
            None
        );
    }
}
