//! The receiver's NACK module (RFC 4585 generic NACK): which sequence numbers are missing, when to
//! ask for them, and when to give up.
//!
//! A gap in the sequence numbers adds the missing ones to a bounded list. Each is asked for first
//! after `reorder_delay` (a packet merely reordered needs no NACK), then again every round-trip
//! time plus `retry_margin` (an earlier request or its retransmission may still be in flight),
//! at most `max_retries` times; then it is given up and a keyframe is wanted, since the frame it
//! belongs to, and every frame predicted from it, cannot be decoded. If the list overflows (a
//! long outage), it is cleared and a keyframe is wanted too: the packets would come too late.
//! The same shape as libwebrtc's NACK module, written from RFC 4585 and its description.
//!
//! Two additions of ours:
//! - **A copy of each first request**, `repeat_delay` after it (not counted as a retry). A lost
//!   NACK otherwise costs a whole round trip (the next request goes one RTT later), and at 2 %
//!   loss on the feedback path that is half of the repairs that miss their frame's deadline
//!   with one RTT of budget. The copy costs one small RTCP packet per loss; the sender's history
//!   refuses the duplicate (it re-sends a packet at most once per 3/4 RTT).
//! - **No reordering wait after a silence.** Packets resuming after a silence of at least
//!   `outage_gap` with a gap are not reordered: the gap is asked for at once.

use std::time::Duration;

use parla_core::{ConfigError, MediaTime};
use parla_rtp::rtp::SeqUnwrapper;

/// Settings of a [`NackModule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackConfig {
    /// Missing packets tracked at most.
    pub max_missing: usize,
    /// Wait before the first request for a packet.
    pub reorder_delay: Duration,
    /// Added to the round-trip time between requests for the same packet.
    pub retry_margin: Duration,
    /// Requests per packet before it is given up.
    pub max_retries: u8,
    /// Packets further back than this behind the newest are given up.
    pub max_age_packets: u64,
    /// A copy of each first request goes this long after it (against a lost NACK); `None`:
    /// no copy.
    pub repeat_delay: Option<Duration>,
    /// A gap found by a packet arriving at least this long after the one before is asked for
    /// at once, without `reorder_delay` (the link was down; nothing is merely reordered).
    pub outage_gap: Duration,
}

impl Default for NackConfig {
    fn default() -> Self {
        NackConfig {
            max_missing: 1000,
            reorder_delay: Duration::from_millis(5),
            retry_margin: Duration::from_millis(5),
            max_retries: 10,
            max_age_packets: 10_000,
            repeat_delay: Some(Duration::from_millis(5)),
            outage_gap: Duration::from_millis(250),
        }
    }
}

/// Counters of a [`NackModule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NackStats {
    /// Packets found missing.
    pub missing: u64,
    /// Sequence numbers requested (counting repeats).
    pub requested: u64,
    /// Missing packets that arrived later (retransmitted or reordered).
    pub recovered: u64,
    /// Missing packets given up.
    pub given_up: u64,
    /// Times the list overflowed and was cleared.
    pub overflows: u64,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    seq: u64,
    detected: MediaTime,
    last_sent: Option<MediaTime>,
    /// When the copy of the first request is due.
    repeat_at: Option<MediaTime>,
    retries: u8,
}

/// What [`NackModule::on_packet`] learned about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketNews {
    /// Its unwrapped sequence number.
    pub seq: u64,
    /// It was missing (a NACK had been or would have been sent for it).
    pub recovered: bool,
    /// Time from the gap's detection to its arrival, for a recovered packet.
    pub recovery_time: Option<Duration>,
}

/// Missing-packet tracking and request timing; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct NackModule {
    cfg: NackConfig,
    unwrap: SeqUnwrapper,
    highest: Option<u64>,
    last_arrival: Option<MediaTime>,
    list: Vec<Missing>,
    keyframe_wanted: bool,
    stats: NackStats,
}

impl NackModule {
    /// A module allocating its list now.
    ///
    /// # Errors
    /// [`ConfigError::InvalidParameter`] for `max_missing` or `max_retries` of 0.
    pub fn new(cfg: NackConfig) -> Result<Self, ConfigError> {
        if cfg.max_missing == 0 || cfg.max_retries == 0 {
            return Err(ConfigError::InvalidParameter {
                name: "max_missing/max_retries",
                detail: "must be at least 1".into(),
            });
        }
        Ok(NackModule {
            cfg,
            unwrap: SeqUnwrapper::default(),
            highest: None,
            last_arrival: None,
            list: Vec::with_capacity(cfg.max_missing),
            keyframe_wanted: false,
            stats: NackStats::default(),
        })
    }

    /// Records a media packet (original or restored from RTX) arriving at `now`.
    ///
    /// # Real-time safety
    /// No allocation (the list has its capacity from construction).
    pub fn on_packet(&mut self, seq: u16, now: MediaTime) -> PacketNews {
        let s = self.unwrap.unwrap(seq);
        let after_silence = self
            .last_arrival
            .is_some_and(|t| now.saturating_since(t) >= self.cfg.outage_gap);
        self.last_arrival = Some(now);
        // After a silence the gap is asked for at once: detected a reordering delay earlier.
        let detected = if after_silence {
            now - self.cfg.reorder_delay
        } else {
            now
        };
        let mut news = PacketNews {
            seq: s,
            recovered: false,
            recovery_time: None,
        };
        match self.highest {
            None => self.highest = Some(s),
            Some(h) if s > h => {
                let gap = s - h - 1;
                if gap as usize + self.list.len() > self.cfg.max_missing {
                    self.overflow();
                } else {
                    for m in h + 1..s {
                        self.list.push(Missing {
                            seq: m,
                            detected,
                            last_sent: None,
                            repeat_at: None,
                            retries: 0,
                        });
                    }
                    self.stats.missing += gap;
                }
                self.highest = Some(s);
            }
            Some(_) => {
                if let Ok(i) = self.list.binary_search_by_key(&s, |m| m.seq) {
                    let m = self.list.remove(i);
                    self.stats.recovered += 1;
                    news.recovered = true;
                    news.recovery_time = Some(now.saturating_since(m.detected));
                }
            }
        }
        news
    }

    fn overflow(&mut self) {
        self.list.clear();
        self.stats.overflows += 1;
        self.keyframe_wanted = true;
    }

    /// Stops asking for packets before `seq` (unwrapped): a keyframe from `seq` on makes them
    /// useless, or the frame buffer has given their frames up.
    pub fn forget_before(&mut self, seq: u64) {
        self.list.retain(|m| m.seq >= seq);
    }

    /// Writes the sequence numbers to request now into `out` (in ascending order, as the
    /// NACK writer packs tightest) and returns how many; gives up packets past `max_retries` or
    /// `max_age_packets`. `rtt` is the current round-trip time.
    ///
    /// # Real-time safety
    /// No allocation.
    pub fn poll(&mut self, now: MediaTime, rtt: Duration, out: &mut [u16]) -> usize {
        let highest = self.highest.unwrap_or(0);
        let (cfg, stats) = (self.cfg, &mut self.stats);
        let mut gave_up = false;
        self.list.retain(|m| {
            let old = highest.saturating_sub(m.seq) > cfg.max_age_packets;
            let tired = m.retries >= cfg.max_retries
                && m.last_sent
                    .is_some_and(|t| now.saturating_since(t) >= rtt + cfg.retry_margin);
            if old || tired {
                stats.given_up += 1;
                gave_up = true;
            }
            !(old || tired)
        });
        if gave_up {
            self.keyframe_wanted = true;
        }
        let mut n = 0;
        for m in &mut self.list {
            if n == out.len() {
                break;
            }
            let due = match m.last_sent {
                None => now.saturating_since(m.detected) >= cfg.reorder_delay,
                Some(t) => {
                    m.retries < cfg.max_retries && now.saturating_since(t) >= rtt + cfg.retry_margin
                }
            };
            if due {
                m.repeat_at = if m.last_sent.is_none() {
                    cfg.repeat_delay.map(|d| now + d)
                } else {
                    None
                };
                m.last_sent = Some(now);
                m.retries += 1;
                out[n] = m.seq as u16;
                n += 1;
            } else if m.repeat_at.is_some_and(|t| t <= now) {
                // The copy of the first request: not a retry.
                m.repeat_at = None;
                out[n] = m.seq as u16;
                n += 1;
            }
        }
        self.stats.requested += n as u64;
        n
    }

    /// The earliest time a request may become due (for the driver's timer), if any is pending.
    pub fn next_due(&self, rtt: Duration) -> Option<MediaTime> {
        self.list
            .iter()
            .map(|m| match (m.last_sent, m.repeat_at) {
                (None, _) => m.detected + self.cfg.reorder_delay,
                (Some(_), Some(r)) => r,
                (Some(t), None) => t + rtt + self.cfg.retry_margin,
            })
            .min()
    }

    /// Whether packets were given up since the last call (the decoder will need a keyframe);
    /// clears the flag.
    pub fn take_keyframe_wanted(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_wanted)
    }

    /// Packets currently missing.
    pub fn missing_now(&self) -> usize {
        self.list.len()
    }

    /// The counters.
    pub fn stats(&self) -> NackStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_retries_recovery_and_give_up() {
        let cfg = NackConfig {
            max_retries: 2,
            repeat_delay: None,
            ..NackConfig::default()
        };
        let mut n = NackModule::new(NackConfig {
            reorder_delay: Duration::ZERO,
            ..cfg
        })
        .unwrap();
        let t = |ms| MediaTime::from_millis(ms);
        let rtt = Duration::from_millis(100);
        let mut out = [0u16; 16];
        n.on_packet(65_533, t(0));
        // 65534, 65535, 0 are lost (across the wrap).
        n.on_packet(1, t(10));
        assert_eq!(n.poll(t(10), rtt, &mut out), 3);
        assert_eq!(&out[..3], &[65_534, 65_535, 0]);
        assert_eq!(n.poll(t(50), rtt, &mut out), 0, "one RTT between requests");
        assert_eq!(n.next_due(rtt), Some(t(115)));
        let news = n.on_packet(65_535, t(60));
        assert!(news.recovered);
        assert_eq!(news.recovery_time, Some(Duration::from_millis(50)));
        assert_eq!(n.poll(t(115), rtt, &mut out), 2);
        assert!(!n.take_keyframe_wanted());
        // Two requests made: given up one RTT after the last.
        assert_eq!(n.poll(t(200), rtt, &mut out), 0);
        assert_eq!(n.poll(t(220), rtt, &mut out), 0);
        assert!(n.take_keyframe_wanted());
        assert_eq!(n.missing_now(), 0);
        let s = n.stats();
        assert_eq!(
            (s.missing, s.requested, s.recovered, s.given_up),
            (3, 5, 1, 2)
        );
        // A duplicate or an old packet is not a recovery.
        assert!(!n.on_packet(1, t(230)).recovered);
        // Overflow: a jump past max_missing clears and wants a keyframe.
        n.on_packet(5000, t(300));
        assert_eq!(n.missing_now(), 0);
        assert!(n.take_keyframe_wanted());
        // forget_before drops requests a keyframe made pointless.
        n.on_packet(5010, t(310));
        n.forget_before(5008 + 65_536);
        assert_eq!(n.missing_now(), 2, "5008 and 5009 still wanted");
    }

    #[test]
    fn a_first_request_is_copied_once_and_a_gap_after_a_silence_is_asked_at_once() {
        let mut n = NackModule::new(NackConfig::default()).unwrap();
        let t = |ms| MediaTime::from_millis(ms);
        let rtt = Duration::from_millis(100);
        let mut out = [0u16; 16];
        n.on_packet(10, t(1000));
        n.on_packet(12, t(1001));
        // Reordering delay (5 ms) first.
        assert_eq!(n.poll(t(1004), rtt, &mut out), 0);
        assert_eq!(n.poll(t(1006), rtt, &mut out), 1);
        assert_eq!(out[0], 11);
        // The copy 5 ms later, once; then the retry one RTT + 5 ms after the first request.
        assert_eq!(n.next_due(rtt), Some(t(1011)));
        assert_eq!(n.poll(t(1010), rtt, &mut out), 0);
        assert_eq!(n.poll(t(1011), rtt, &mut out), 1);
        assert_eq!(out[0], 11);
        assert_eq!(n.next_due(rtt), Some(t(1111)));
        assert_eq!(n.poll(t(1110), rtt, &mut out), 0);
        assert_eq!(n.poll(t(1111), rtt, &mut out), 1);
        // A retry has no copy.
        assert_eq!(n.poll(t(1200), rtt, &mut out), 0);
        assert_eq!(n.next_due(rtt), Some(t(1216)));
        assert_eq!(n.stats().requested, 3);
        // 300 ms of silence, then a gap: asked for at the same instant.
        n.on_packet(20, t(1500));
        assert_eq!(
            n.poll(t(1500), rtt, &mut out),
            8,
            "13..=19 and the retry of 11"
        );
        assert_eq!(&out[..8], &[11, 13, 14, 15, 16, 17, 18, 19]);
    }
}
