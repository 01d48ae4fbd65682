//! The combined send-side bandwidth estimator: send history, transport-wide feedback in,
//! target rate out. It runs the delay-based detector and AIMD controller, the loss-based
//! controller, the acknowledged-rate estimate, probing and ALR detection, and takes the lower of
//! the delay- and loss-based rates.
//!
//! # Drive loop (sans-IO)
//! ```no_run
//! use parla_cc::estimator::{BandwidthEstimator, CcConfig};
//! use parla_cc::twcc::TwccFeedback;
//! # fn now() -> i64 { 0 }
//! # let feedback_bytes = [0u8; 0];
//! let mut bwe = BandwidthEstimator::new(CcConfig::default()).unwrap();
//! // On every packet the pacer releases: number it, stamp the number in its header, send it.
//! let seq = bwe.on_packet_sent(now(), 1200, None);
//! // On every authenticated transport-wide feedback packet:
//! if let Ok(fb) = TwccFeedback::parse(&feedback_bytes) {
//!     bwe.on_transport_feedback(now(), &fb);
//! }
//! // Periodically (every 25-100 ms) and after feedback:
//! bwe.on_tick(now());
//! let target = bwe.target_bps(); // -> bitrate allocator, pacer
//! while let Some(probe) = bwe.take_probe() { /* pacer.add_probe(probe) */ }
//! ```

use crate::alr::AlrDetector;
use crate::delay::{BandwidthUsage, DelayDetector};
use crate::error::ConfigError;
use crate::probe::{ProbeCluster, ProbeController, ProbeEstimator};
use crate::rate::{AckedRate, AimdRateControl, LossController};
use crate::twcc::TwccFeedback;

/// Estimator settings (bits per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CcConfig {
    /// The estimate never goes below this.
    pub min_bps: u64,
    /// The rate to start at.
    pub start_bps: u64,
    /// The estimate never goes above this.
    pub max_bps: u64,
    /// Whether to probe (at start, after drops, in ALR).
    pub probing: bool,
}

impl Default for CcConfig {
    fn default() -> Self {
        CcConfig {
            min_bps: 30_000,
            start_bps: 300_000,
            max_bps: 10_000_000,
            probing: true,
        }
    }
}

/// Sent packets remembered for feedback (a power of two).
pub const HISTORY: usize = 8192;

#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: i64,
    send_us: i64,
    size: u32,
    cluster: u16,
    acked: bool,
    /// Bytes sent up to and including this packet.
    cum_bytes: u64,
}

/// Counters of the estimator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CcStats {
    /// Feedback packets processed.
    pub feedbacks: u64,
    /// Packets reported received.
    pub received: u64,
    /// Packets reported lost (first report).
    pub lost: u64,
    /// Feedback entries for packets not in the history (too old, or never sent).
    pub unknown: u64,
    /// Over-use decreases.
    pub overuses: u64,
    /// Probe results applied.
    pub probe_results: u64,
    /// Decreases because nothing sent was acknowledged for a while (an outage).
    pub stalls: u64,
    /// Loss updates above 2 % read as not congestion (the standing queue stayed empty), which
    /// held the loss-based rate instead of cutting it.
    pub non_congestion_losses: u64,
}

/// The bandwidth estimator (see the module docs).
#[derive(Debug, Clone)]
pub struct BandwidthEstimator {
    cfg: CcConfig,
    history: Box<[Sent]>,
    next_seq: i64,
    delay: DelayDetector,
    aimd: AimdRateControl,
    loss: LossController,
    acked: AckedRate,
    probes: ProbeController,
    probe_est: ProbeEstimator,
    alr: AlrDetector,
    /// Loss accounting since the last loss update.
    window_received: u32,
    window_lost: u32,
    window_start_us: Option<i64>,
    /// The largest standing queue ([`Self::queue_delay_us`]) seen since the last loss update.
    window_queue_us: i64,
    /// Arrival clock offset: receiver time minus sender time at the first feedback (only
    /// differences matter; this keeps numbers small).
    target: f64,
    last_usage: BandwidthUsage,
    stats: CcStats,
    rtt_us: i64,
    /// Sorted (send-order) scratch of one feedback's received packets.
    scratch: Box<[(i64, i64, u32, u16)]>,
    /// Base one-way delay (arrival minus send, in the two clocks): the minimum per second of
    /// arrival time over the last [`BASE_DELAY_SECONDS`] seconds.
    base_delay: [(i64, i64); BASE_DELAY_SECONDS],
    /// The standing queueing delay: the smallest delay above the base among the last
    /// feedback's packets, microseconds.
    queue_delay_us: i64,
    /// Send time of the newest packet reported received, microseconds.
    newest_acked_send_us: Option<i64>,
    /// Send time of the newest packet sent, microseconds.
    newest_sent_us: i64,
    /// The last decrease for a stall ([`STALL_US`]), microseconds.
    last_stall_cut_us: Option<i64>,
    /// Bytes sent so far.
    sent_bytes: u64,
    /// The highest transport sequence number a feedback reported (received or lost).
    highest_reported: i64,
}

/// Nothing sent in the last this long (beyond one RTT) acknowledged while packets keep leaving:
/// the path stalled (a radio outage, or a queue seconds long), microseconds.
pub const STALL_US: i64 = 500_000;
/// Each [`STALL_US`] of a stall cuts the delay-based rate by this factor.
pub const STALL_CUT: f64 = 0.5;

/// A standing queue above this holds probing ([`ProbeController::set_standing_queue`]),
/// microseconds.
pub const PROBE_GATE_QUEUE_US: i64 = 30_000;

/// Seconds of arrival time over which the base (propagation) delay is the minimum.
pub const BASE_DELAY_SECONDS: usize = 16;

impl BandwidthEstimator {
    /// A new estimator.
    ///
    /// # Errors
    /// [`ConfigError`] unless `0 < min <= start <= max`.
    pub fn new(cfg: CcConfig) -> Result<Self, ConfigError> {
        if cfg.min_bps == 0 || cfg.min_bps > cfg.start_bps || cfg.start_bps > cfg.max_bps {
            return Err(ConfigError::Invalid {
                name: "min_bps, start_bps, max_bps",
                detail: "need 0 < min <= start <= max",
            });
        }
        let (min, start, max) = (cfg.min_bps as f64, cfg.start_bps as f64, cfg.max_bps as f64);
        Ok(BandwidthEstimator {
            cfg,
            history: vec![
                Sent {
                    seq: -1,
                    send_us: 0,
                    size: 0,
                    cluster: 0,
                    acked: false,
                    cum_bytes: 0,
                };
                HISTORY
            ]
            .into_boxed_slice(),
            next_seq: 0,
            delay: DelayDetector::new(),
            aimd: AimdRateControl::new(start, min, max),
            loss: LossController::new(start, min, max),
            acked: AckedRate::default(),
            probes: ProbeController::new(max),
            probe_est: ProbeEstimator::default(),
            alr: AlrDetector::new(start),
            window_received: 0,
            window_lost: 0,
            window_start_us: None,
            window_queue_us: 0,
            target: start,
            last_usage: BandwidthUsage::Normal,
            stats: CcStats::default(),
            rtt_us: 200_000,
            scratch: vec![(0, 0, 0, 0); crate::twcc::MAX_PACKETS_PER_FEEDBACK].into_boxed_slice(),
            base_delay: [(i64::MIN, i64::MAX); BASE_DELAY_SECONDS],
            queue_delay_us: 0,
            newest_acked_send_us: None,
            newest_sent_us: 0,
            last_stall_cut_us: None,
            sent_bytes: 0,
            highest_reported: -1,
        })
    }

    /// Records a packet of `size` bytes (on the wire) sent at `now_us`, part of probe `cluster`
    /// if any; returns the transport-wide sequence number to stamp into it.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn on_packet_sent(&mut self, now_us: i64, size: u32, cluster: Option<u16>) -> u16 {
        // RT: constant time.
        let seq = self.next_seq;
        self.next_seq += 1;
        self.sent_bytes += u64::from(size);
        self.history[(seq as usize) & (HISTORY - 1)] = Sent {
            seq,
            send_us: now_us,
            size,
            cluster: cluster.unwrap_or(0),
            acked: false,
            cum_bytes: self.sent_bytes,
        };
        self.alr.on_sent(size, now_us);
        self.newest_sent_us = self.newest_sent_us.max(now_us);
        seq as u16
    }

    fn unwrap_seq(&self, seq: u16) -> i64 {
        let last = self.next_seq - 1;
        last + i64::from(seq.wrapping_sub(last as u16) as i16)
    }

    /// Bytes in flight: sent after the newest packet any feedback reported (received or lost),
    /// so neither acknowledged nor declared lost yet. Packets whose feedback was lost count
    /// until a later feedback reports a newer packet; at most the history's packets count.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn in_flight_bytes(&self) -> u64 {
        // RT: constant time.
        let oldest = (self.next_seq - HISTORY as i64).max(-1);
        let from = self.highest_reported.max(oldest);
        if from < 0 {
            return self.sent_bytes;
        }
        let slot = &self.history[(from as usize) & (HISTORY - 1)];
        if slot.seq == from {
            self.sent_bytes - slot.cum_bytes
        } else {
            // The slot was reused (not expected past `oldest`): count the whole history.
            self.sent_bytes
                - self.history[(self.next_seq as usize) & (HISTORY - 1)]
                    .cum_bytes
                    .min(self.sent_bytes)
        }
    }

    /// The transport-wide sequence number (unwrapped) the next sent packet gets.
    pub fn next_transport_seq(&self) -> i64 {
        self.next_seq
    }

    /// Numbers the next packets from `next` on: a restarted sender continues its transport
    /// sequence, so the peer's feedback recorder (which still runs) keeps reporting it. Call
    /// before sending anything.
    pub fn continue_transport_seq(&mut self, next: i64) {
        self.next_seq = next.max(0);
    }

    /// Processes one (authenticated) transport-wide feedback packet received at `now_us`.
    ///
    /// # Real-time safety
    /// No allocation; work linear in the packets reported.
    pub fn on_transport_feedback(&mut self, now_us: i64, fb: &TwccFeedback<'_>) {
        // RT: no allocation.
        self.stats.feedbacks += 1;
        let mut n = 0usize;
        for p in fb.packets() {
            let seq = self.unwrap_seq(p.seq);
            let slot = &mut self.history[(seq.rem_euclid(HISTORY as i64)) as usize];
            if seq < 0 || slot.seq != seq {
                self.stats.unknown += 1;
                continue;
            }
            self.highest_reported = self.highest_reported.max(seq);
            match p.arrival_us {
                Some(a) if !slot.acked => {
                    slot.acked = true;
                    self.window_received += 1;
                    self.stats.received += 1;
                    if n < self.scratch.len() {
                        self.scratch[n] = (slot.send_us, a, slot.size, slot.cluster);
                        n += 1;
                    }
                }
                None if !slot.acked => {
                    // Reported lost; a later report may still say received.
                    self.window_lost += 1;
                    self.stats.lost += 1;
                    slot.acked = true;
                }
                _ => {}
            }
        }
        let results = &mut self.scratch[..n];
        results.sort_unstable_by_key(|r| (r.1, r.0));
        let mut usage = self.delay.state();
        let mut probe_result: Option<f64> = None;
        let mut feedback_min = i64::MAX;
        for &(send, arrival, _, _) in results.iter() {
            self.newest_acked_send_us =
                Some(self.newest_acked_send_us.map_or(send, |t| t.max(send)));
            let d = arrival.saturating_sub(send);
            feedback_min = feedback_min.min(d);
            let sec = arrival.div_euclid(1_000_000);
            let slot = &mut self.base_delay[sec.rem_euclid(BASE_DELAY_SECONDS as i64) as usize];
            if slot.0 != sec {
                *slot = (sec, d);
            } else {
                slot.1 = slot.1.min(d);
            }
        }
        if feedback_min != i64::MAX {
            let newest = results.last().map_or(0, |r| r.1.div_euclid(1_000_000));
            let base = self
                .base_delay
                .iter()
                .filter(|(sec, _)| {
                    (0..BASE_DELAY_SECONDS as i64).contains(&newest.saturating_sub(*sec))
                })
                .map(|&(_, d)| d)
                .min()
                .unwrap_or(feedback_min);
            self.queue_delay_us = feedback_min.saturating_sub(base).max(0);
            self.aimd.set_queue_delay(self.queue_delay_us);
            self.window_queue_us = self.window_queue_us.max(self.queue_delay_us);
        }
        for &(send, arrival, size, cluster) in results.iter() {
            self.acked.add(arrival, size);
            usage = self.delay.on_packet(send, arrival, size);
            if cluster != 0
                && let Some(r) = self
                    .probe_est
                    .on_packet(cluster, send, arrival, size, now_us)
            {
                probe_result = Some(probe_result.map_or(r, |p: f64| p.max(r)));
            }
        }
        let acked = self.acked.bps();
        let before = self.aimd.rate();
        if let Some(r) = probe_result {
            self.stats.probe_results += 1;
            self.probes.on_probe_result(r, now_us);
            // A probe that ran into a standing queue measured the queue, not spare capacity.
            if r > before
                && usage != BandwidthUsage::Overusing
                && self.queue_delay_us <= crate::rate::HOLD_QUEUE_US
            {
                self.aimd.set_rate(r, now_us);
                self.loss.set_rate(r.max(self.loss.rate()));
            }
        }
        let rate = self.aimd.update(usage, acked, now_us);
        if usage == BandwidthUsage::Overusing && rate < before {
            self.stats.overuses += 1;
        }
        self.last_usage = usage;
        // Loss over at least 20 packets or 1 s of feedback. Loss while the standing queue
        // stayed empty is not our queue overflowing (a lossy radio, random loss on the path):
        // it holds the loss-based rate instead of cutting it (the delay-based rate answers
        // congestion that drops packets before any queue forms).
        let start = *self.window_start_us.get_or_insert(now_us);
        let total = self.window_received + self.window_lost;
        if total >= 20 || (now_us - start >= 1_000_000 && total > 0) {
            let frac = f64::from(self.window_lost) / f64::from(total);
            let congestion = self.window_queue_us >= crate::rate::EMPTY_QUEUE_US;
            if !congestion && frac > crate::rate::LOSS_LOW {
                self.stats.non_congestion_losses += 1;
            }
            self.loss.update_with(frac, rate, now_us, congestion);
            self.window_received = 0;
            self.window_lost = 0;
            self.window_start_us = Some(now_us);
            self.window_queue_us = self.queue_delay_us;
        }
        self.update_target(now_us);
    }

    /// Feeds a loss fraction from an RTCP receiver report (0-255 in 1/256), for streams without
    /// transport-wide feedback.
    pub fn on_receiver_report_loss(&mut self, now_us: i64, fraction_lost: u8) {
        let delay_based = self.aimd.rate();
        self.loss
            .update(f64::from(fraction_lost) / 256.0, delay_based, now_us);
        self.update_target(now_us);
    }

    /// The round-trip time (from RTCP), microseconds.
    pub fn on_rtt(&mut self, rtt_us: i64) {
        self.rtt_us = rtt_us.clamp(1_000, 10_000_000);
        self.aimd.set_rtt(self.rtt_us);
        self.loss.set_rtt(self.rtt_us);
    }

    /// Periodic update (every 25-100 ms): probing decisions.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn on_tick(&mut self, now_us: i64) {
        // RT: constant time.
        self.check_stall(now_us);
        self.update_target(now_us);
    }

    /// A stall: packets keep leaving but none sent in the last [`STALL_US`] + RTT was
    /// acknowledged (the feedback of a link in outage stops, or reports only old packets).
    /// Waiting for the delay or loss signal would keep filling the bottleneck for the whole
    /// outage (its queue then drops at the tail, or delivers seconds late), so the rate is cut
    /// by [`STALL_CUT`] each [`STALL_US`] it lasts, as libwebrtc's congestion window pushes the
    /// encoder back when data in flight stops being acknowledged. Only once feedback has been
    /// seen (a peer without feedback never stalls this way).
    fn check_stall(&mut self, now_us: i64) {
        let Some(acked) = self.newest_acked_send_us else {
            return;
        };
        let silent = now_us - acked - self.rtt_us;
        let sending = self.newest_sent_us > acked;
        let due = self
            .last_stall_cut_us
            .is_none_or(|t| now_us - t >= STALL_US);
        if sending && silent > STALL_US && due {
            let rate = self.aimd.rate();
            self.aimd.set_rate(rate * STALL_CUT, now_us);
            self.last_stall_cut_us = Some(now_us);
            self.stats.stalls += 1;
        }
    }

    fn update_target(&mut self, now_us: i64) {
        let t = self
            .aimd
            .rate()
            .min(self.loss.rate())
            .clamp(self.cfg.min_bps as f64, self.cfg.max_bps as f64);
        self.target = t;
        self.alr.set_estimate(t);
        if self.cfg.probing {
            self.probes
                .set_standing_queue(self.queue_delay_us > PROBE_GATE_QUEUE_US);
            self.probes.update(
                t,
                self.alr.alr_since().is_some(),
                // Growth probes also when the queue stayed empty: the link has room.
                self.aimd.near_capacity(now_us) && !self.aimd.calm(now_us),
                now_us,
            );
        }
    }

    /// The next probe cluster for the pacer, if probing wants one.
    pub fn take_probe(&mut self) -> Option<ProbeCluster> {
        if !self.cfg.probing {
            return None;
        }
        self.probes.take_cluster()
    }

    /// The target send rate, bits per second.
    pub fn target_bps(&self) -> u64 {
        self.target as u64
    }

    /// The delay-based estimate, bits per second.
    pub fn delay_based_bps(&self) -> u64 {
        self.aimd.rate() as u64
    }

    /// The loss-based estimate, bits per second.
    pub fn loss_based_bps(&self) -> u64 {
        self.loss.rate() as u64
    }

    /// The delivered rate from feedback, bits per second.
    pub fn acked_bps(&self) -> Option<u64> {
        self.acked.bps().map(|r| r as u64)
    }

    /// The last loss fraction measured from feedback (0-1).
    pub fn loss_fraction(&self) -> f64 {
        self.loss.loss()
    }

    /// The standing queueing delay seen in the last feedback (the smallest one-way delay of its
    /// packets above the base delay of the last 16 s), microseconds.
    pub fn queue_delay_us(&self) -> i64 {
        self.queue_delay_us
    }

    /// The delay detector's last state.
    pub fn usage(&self) -> BandwidthUsage {
        self.last_usage
    }

    /// Whether the sender is application-limited.
    pub fn in_alr(&self) -> bool {
        self.alr.alr_since().is_some()
    }

    /// Counters.
    pub fn stats(&self) -> CcStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twcc::{FeedbackRecorder, MAX_FEEDBACK_LEN};

    #[test]
    fn rejects_bad_config() {
        let bad = CcConfig {
            min_bps: 0,
            ..Default::default()
        };
        assert!(BandwidthEstimator::new(bad).is_err());
    }

    #[test]
    fn feedback_from_unknown_or_duplicate_packets_changes_nothing_twice() {
        let mut bwe = BandwidthEstimator::new(CcConfig::default()).unwrap();
        let mut rec = FeedbackRecorder::new(1, 2);
        for i in 0..10 {
            let s = bwe.on_packet_sent(i * 10_000, 1000, None);
            rec.on_packet(s, 5_000_000 + i * 10_000);
        }
        let mut buf = [0u8; MAX_FEEDBACK_LEN];
        let n = rec.write_feedback(&mut buf).unwrap().unwrap();
        let fb = TwccFeedback::parse(&buf[..n]).unwrap();
        bwe.on_transport_feedback(200_000, &fb);
        bwe.on_transport_feedback(210_000, &fb);
        assert_eq!(bwe.stats().received, 10);
        assert_eq!(bwe.stats().feedbacks, 2);
    }

    /// Sends 1200-byte packets every 10 ms from `from_us` to `to_us`; the receiver sees them
    /// 30 ms later unless `outage` covers their send time; feedback every 100 ms, 30 ms back.
    fn drive(
        bwe: &mut BandwidthEstimator,
        rec: &mut FeedbackRecorder,
        from_us: i64,
        to_us: i64,
        lost: impl Fn(i64) -> bool,
    ) {
        let mut buf = [0u8; MAX_FEEDBACK_LEN];
        let mut t = from_us;
        while t < to_us {
            let s = bwe.on_packet_sent(t, 1200, None);
            if !lost(t) {
                rec.on_packet(s, t + 30_000);
            }
            if t % 100_000 == 0 && rec.has_pending() {
                let n = rec.write_feedback(&mut buf).unwrap().unwrap();
                let fb = TwccFeedback::parse(&buf[..n]).unwrap();
                bwe.on_transport_feedback(t + 60_000, &fb);
            }
            bwe.on_tick(t);
            t += 10_000;
        }
    }

    /// An estimator without probing and a 60 ms RTT, and the peer's recorder, for [`drive`].
    fn unprobed() -> (BandwidthEstimator, FeedbackRecorder) {
        let cfg = CcConfig {
            probing: false,
            ..Default::default()
        };
        let mut bwe = BandwidthEstimator::new(cfg).unwrap();
        bwe.on_rtt(60_000);
        (bwe, FeedbackRecorder::new(1, 2))
    }

    #[test]
    fn a_stall_cuts_the_rate_and_a_steady_link_does_not() {
        let (mut steady, mut rec) = unprobed();
        drive(&mut steady, &mut rec, 0, 4_000_000, |_| false);
        assert_eq!(steady.stats().stalls, 0);
        let (mut bwe, mut rec) = unprobed();
        drive(&mut bwe, &mut rec, 0, 2_000_000, |_| false);
        let before = bwe.target_bps();
        // Two seconds in which nothing arrives.
        drive(&mut bwe, &mut rec, 2_000_000, 4_000_000, |_| true);
        assert!(bwe.stats().stalls >= 2, "{:?}", bwe.stats());
        assert!(
            bwe.target_bps() < before / 2,
            "{before} -> {}",
            bwe.target_bps()
        );
    }

    #[test]
    fn in_flight_counts_what_no_feedback_reported_yet() {
        let mut bwe = BandwidthEstimator::new(CcConfig::default()).unwrap();
        let mut rec = FeedbackRecorder::new(1, 2);
        assert_eq!(bwe.in_flight_bytes(), 0);
        let seqs: Vec<u16> = (0..10)
            .map(|i| bwe.on_packet_sent(i * 10_000, 1000 + i as u32, None))
            .collect();
        assert_eq!(
            bwe.in_flight_bytes(),
            (0..10).map(|i| 1000 + i).sum::<u64>()
        );
        // Packets 0..=5 arrive, 3 is lost: everything up to 5 is reported (3 as lost).
        for (i, &s) in seqs.iter().enumerate().take(6) {
            if i != 3 {
                rec.on_packet(s, 1_000_000 + i as i64 * 10_000);
            }
        }
        let mut buf = [0u8; MAX_FEEDBACK_LEN];
        let n = rec.write_feedback(&mut buf).unwrap().unwrap();
        bwe.on_transport_feedback(200_000, &TwccFeedback::parse(&buf[..n]).unwrap());
        assert_eq!(
            bwe.in_flight_bytes(),
            (6..10).map(|i| 1000 + i).sum::<u64>()
        );
        // 6..=8 never arrive; the next feedback reports 9 (and them as lost): nothing is left.
        rec.on_packet(seqs[9], 1_100_000);
        let n = rec.write_feedback(&mut buf).unwrap().unwrap();
        bwe.on_transport_feedback(300_000, &TwccFeedback::parse(&buf[..n]).unwrap());
        assert_eq!(bwe.in_flight_bytes(), 0);
        bwe.on_packet_sent(310_000, 1200, None);
        assert_eq!(bwe.in_flight_bytes(), 1200);
    }

    #[test]
    fn random_loss_without_a_queue_holds_the_loss_based_rate() {
        let (mut bwe, mut rec) = unprobed();
        // Every 8th packet lost (12.5 %), the others 30 ms on their way: no queue.
        drive(&mut bwe, &mut rec, 0, 6_000_000, |t| t / 10_000 % 8 == 3);
        let st = bwe.stats();
        assert!(st.non_congestion_losses >= 5, "{st:?}");
        assert!(bwe.loss_fraction() > 0.1, "{}", bwe.loss_fraction());
        // Held at the start rate (it would have been cut by 6 % per update as congestion).
        assert!(bwe.loss_based_bps() >= 300_000, "{}", bwe.loss_based_bps());
        assert!(bwe.target_bps() >= 300_000, "{}", bwe.target_bps());
    }
}
