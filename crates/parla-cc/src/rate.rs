//! Rate control after draft-ietf-rmcat-gcc-02 section 5.5 and libwebrtc's goog_cc: the
//! acknowledged (delivered) bitrate ([`AckedRate`]), the AIMD controller driven by the delay
//! detector ([`AimdRateControl`]) and the loss-based controller ([`LossController`]).
//! Fixed-size state; no allocation after construction.

use crate::delay::BandwidthUsage;

const BUCKET_US: i64 = 50_000;
const BUCKETS: usize = 10;

/// The delivered bitrate over the last 500 ms of arrival time, from acknowledged packets.
#[derive(Debug, Clone, Default)]
pub struct AckedRate {
    /// (bucket index, bytes) per slot.
    buckets: [(i64, u64); BUCKETS],
    first_us: Option<i64>,
    latest_us: i64,
}

impl AckedRate {
    /// Adds a received packet of `size` bytes that arrived at `arrival_us`.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn add(&mut self, arrival_us: i64, size: u32) {
        // RT: constant time.
        let first = *self.first_us.get_or_insert(arrival_us);
        let _ = first;
        self.latest_us = self.latest_us.max(arrival_us);
        let b = arrival_us.div_euclid(BUCKET_US);
        let slot = &mut self.buckets[b.rem_euclid(BUCKETS as i64) as usize];
        if slot.0 != b {
            *slot = (b, 0);
        }
        slot.1 += u64::from(size);
    }

    /// The rate in bits per second, once 150 ms of arrivals were seen.
    pub fn bps(&self) -> Option<f64> {
        let first = self.first_us?;
        let now_b = self.latest_us.div_euclid(BUCKET_US);
        let span_us = (self.latest_us - first + BUCKET_US).min(BUCKET_US * BUCKETS as i64);
        if span_us < 150_000 {
            return None;
        }
        let oldest = now_b - BUCKETS as i64 + 1;
        let bytes: u64 = self
            .buckets
            .iter()
            .filter(|(b, _)| *b >= oldest && *b <= now_b)
            .map(|(_, n)| n)
            .sum();
        // The newest bucket is partly filled: measure up to the latest arrival.
        let elapsed = span_us - (BUCKET_US - (self.latest_us.rem_euclid(BUCKET_US) + 1));
        Some(bytes as f64 * 8.0 * 1e6 / elapsed.max(1) as f64)
    }
}

/// Estimate of the link capacity from the acknowledged rate at each decrease, with deviation.
#[derive(Debug, Clone, Copy, Default)]
struct LinkCapacity {
    estimate: Option<f64>,
    var: f64,
}

impl LinkCapacity {
    fn update(&mut self, sample: f64) {
        let est = match self.estimate {
            None => sample,
            Some(e) => 0.95 * e + 0.05 * sample,
        };
        // Normalized per kbit/s.
        let norm = (est / 1000.0).max(1.0);
        let dev_kbps = (est - sample) / 1000.0;
        self.var = (0.95 * self.var + 0.05 * dev_kbps * dev_kbps / norm).clamp(0.4, 2.5);
        self.estimate = Some(est);
    }
    /// The deviation, bits per second: sqrt(var x estimate) with the estimate in kbit/s (the
    /// normalized variance is per kbit/s, as in GCC; in bit/s the band would be 30x narrower
    /// and the additive-increase region never reached).
    fn deviation(&self) -> f64 {
        self.estimate
            .map_or(0.0, |e| (self.var * e / 1000.0).sqrt() * 1000.0)
    }
    fn upper(&self) -> Option<f64> {
        self.estimate.map(|e| e + 3.0 * self.deviation())
    }
    fn lower(&self) -> Option<f64> {
        self.estimate.map(|e| e - 3.0 * self.deviation())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RateState {
    Hold,
    Increase,
    Decrease,
}

/// The multiplicative decrease factor on over-use.
pub const BETA: f64 = 0.85;

/// Additive-increase, multiplicative-decrease rate control on the delay detector's state.
#[derive(Debug, Clone)]
pub struct AimdRateControl {
    rate: f64,
    min: f64,
    max: f64,
    state: RateState,
    capacity: LinkCapacity,
    last_change_us: Option<i64>,
    last_decrease_us: Option<i64>,
    rtt_us: i64,
    decreased_once: bool,
    queue_delay_us: i64,
}

/// A standing queue above this holds increases, microseconds.
pub const HOLD_QUEUE_US: i64 = 60_000;
/// The increase per second, at least, after 2 s of an empty queue with no decrease.
pub const CALM_INCREASE_BPS: f64 = 150_000.0;
/// A standing queue below this counts as empty, microseconds.
pub const EMPTY_QUEUE_US: i64 = 10_000;
/// A standing queue above this that does not shrink counts as over-use, microseconds.
pub const DRAIN_TRIGGER_US: i64 = 100_000;
/// A decrease with a standing queue cuts deeper, to drain it within about this time.
pub const DRAIN_US: i64 = 1_500_000;

impl AimdRateControl {
    /// Starts at `start` bits per second, kept within `[min, max]`.
    pub fn new(start: f64, min: f64, max: f64) -> Self {
        AimdRateControl {
            rate: start.clamp(min, max),
            min,
            max,
            state: RateState::Hold,
            capacity: LinkCapacity::default(),
            last_change_us: None,
            last_decrease_us: None,
            rtt_us: 200_000,
            decreased_once: false,
            queue_delay_us: 0,
        }
    }

    /// The standing queueing delay measured from feedback (microseconds): above
    /// [`HOLD_QUEUE_US`] the rate does not increase, and an over-use decrease cuts below
    /// [`BETA`] x acked so the queue drains within about [`DRAIN_US`].
    pub fn set_queue_delay(&mut self, queue_us: i64) {
        self.queue_delay_us = queue_us.max(0);
    }

    /// The current estimate, bits per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Whether an over-use decrease happened yet (before it, probing may move the rate freely).
    pub fn decreased_once(&self) -> bool {
        self.decreased_once
    }

    /// Whether the rate is within the link capacity estimate's band (additive increase), or
    /// the last over-use decrease is less than 4 s old: the network pushed back recently.
    pub fn near_capacity(&self, now_us: i64) -> bool {
        if self
            .last_decrease_us
            .is_some_and(|t| now_us - t < 4_000_000)
        {
            return true;
        }
        self.capacity
            .lower()
            .is_some_and(|lo| self.rate >= lo.max(0.0))
            && self.capacity.upper().is_some_and(|u| self.rate <= u)
    }

    /// Whether the queue stayed empty (< [`EMPTY_QUEUE_US`]) with no decrease for 2 s: the
    /// link has room the rate has not found yet.
    pub fn calm(&self, now_us: i64) -> bool {
        self.queue_delay_us < EMPTY_QUEUE_US
            && self
                .last_decrease_us
                .is_none_or(|t| now_us - t >= 2_000_000)
    }

    /// The round-trip time used for the increase response.
    pub fn set_rtt(&mut self, rtt_us: i64) {
        self.rtt_us = rtt_us.clamp(1_000, 10_000_000);
    }

    /// Sets the estimate directly (a probe result), within the bounds.
    pub fn set_rate(&mut self, bps: f64, now_us: i64) {
        self.rate = bps.clamp(self.min, self.max);
        self.last_change_us = Some(now_us);
        if self.capacity.upper().is_some_and(|u| self.rate > u) {
            self.capacity = LinkCapacity::default();
        }
    }

    /// Whether an over-use now may decrease again: the previous decrease is one RTT (10-200 ms)
    /// old, or the rate is far above what is delivered.
    fn may_decrease(&self, now_us: i64, acked: Option<f64>) -> bool {
        let wait = self.rtt_us.clamp(10_000, 200_000);
        match self.last_decrease_us {
            None => true,
            Some(t) => now_us - t >= wait || acked.is_some_and(|a| self.rate > 2.0 * a),
        }
    }

    /// Updates the rate with the detector's `usage` at `now_us` (sender clock) given the
    /// delivered rate `acked` (bits per second, if known). Returns the new rate.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn update(&mut self, usage: BandwidthUsage, acked: Option<f64>, now_us: i64) -> f64 {
        // RT: constant time.
        let last = *self.last_change_us.get_or_insert(now_us);
        // A standing queue that is not shrinking is over-use too, even when the delay no
        // longer rises (a full drop-tail buffer).
        // And a rising delay trend without a standing queue is jitter (bursty radio links),
        // not over-use.
        let usage = if usage == BandwidthUsage::Normal && self.queue_delay_us > DRAIN_TRIGGER_US {
            BandwidthUsage::Overusing
        } else if usage == BandwidthUsage::Overusing && self.queue_delay_us < EMPTY_QUEUE_US {
            BandwidthUsage::Normal
        } else {
            usage
        };
        match usage {
            BandwidthUsage::Overusing => {
                if self.state != RateState::Decrease || self.may_decrease(now_us, acked) {
                    self.state = RateState::Decrease;
                }
            }
            BandwidthUsage::Underusing => self.state = RateState::Hold,
            BandwidthUsage::Normal => {
                if self.state == RateState::Hold || self.state == RateState::Decrease {
                    self.state = RateState::Increase;
                }
            }
        }
        let dt_us = (now_us - last).clamp(0, 1_000_000);
        if let (Some(a), Some(u)) = (acked, self.capacity.upper())
            && a > u
        {
            // Delivered more than the capacity estimate allows: it is stale.
            self.capacity = LinkCapacity::default();
        }
        let mut new = self.rate;
        match self.state {
            RateState::Hold => {}
            RateState::Increase if self.queue_delay_us > HOLD_QUEUE_US => {}
            RateState::Increase => {
                let near = self
                    .capacity
                    .lower()
                    .is_some_and(|lo| self.rate >= lo.max(0.0));
                if near {
                    new += self.additive_increase(dt_us);
                } else {
                    // 8 %/s; once the queue stayed empty for 2 s after a decrease, at least
                    // CALM_INCREASE_BPS per second more (the same for every flow: an absolute
                    // step keeps flows sharing a link converging to equal shares).
                    let calm = self.calm(now_us);
                    let floor = if calm { CALM_INCREASE_BPS } else { 1000.0 };
                    let alpha = 1.08f64.powf(dt_us as f64 / 1e6);
                    new += (self.rate * (alpha - 1.0)).max(floor * dt_us as f64 / 1e6);
                }
                if let Some(a) = acked {
                    // Never run far ahead of what the network delivers.
                    new = new.min((1.5 * a + 10_000.0).max(self.rate));
                }
            }
            RateState::Decrease => {
                if self.may_decrease(now_us, acked) {
                    let base = acked.unwrap_or(self.rate);
                    // Sending at (1 - q / DRAIN) x the delivered rate drains a standing queue
                    // of q in about DRAIN.
                    let drain = 1.0 - self.queue_delay_us as f64 / DRAIN_US as f64;
                    let mut d = drain.clamp(0.5, BETA) * base;
                    if d > self.rate
                        && let Some(c) = self.capacity.estimate
                    {
                        d = BETA * c;
                    }
                    new = d.min(self.rate);
                    if let Some(a) = acked {
                        // Delivered far below the capacity estimate (the link changed or
                        // another flow took its share): start the estimate afresh.
                        if self.capacity.lower().is_some_and(|lo| a < lo) {
                            self.capacity = LinkCapacity::default();
                        }
                        self.capacity.update(a);
                    }
                    self.last_decrease_us = Some(now_us);
                    self.decreased_once = true;
                }
                self.state = RateState::Hold;
            }
        }
        self.rate = new.clamp(self.min, self.max);
        self.last_change_us = Some(now_us);
        self.rate
    }

    fn additive_increase(&self, dt_us: i64) -> f64 {
        // About one packet per response time (RTT + 100 ms), the packet sized for 30 fps.
        let bits_per_frame = self.rate / 30.0;
        let packets = (bits_per_frame / (8.0 * 1200.0)).ceil().max(1.0);
        let packet_bits = bits_per_frame / packets;
        let response_s = (self.rtt_us + 100_000) as f64 / 1e6;
        let per_s = (packet_bits / response_s).max(4_000.0);
        per_s * dt_us as f64 / 1e6
    }
}

/// Loss below this lets the loss-based rate grow.
pub const LOSS_LOW: f64 = 0.02;
/// Loss above this decreases the loss-based rate.
pub const LOSS_HIGH: f64 = 0.10;

/// The loss-based controller (GCC's sender side): below 2% loss the rate may grow 8% per
/// second (it never holds the delay-based estimate back), above 10% it drops by half the loss
/// fraction, at most once per 300 ms + RTT; in between it holds.
#[derive(Debug, Clone)]
pub struct LossController {
    rate: f64,
    min: f64,
    max: f64,
    last_update_us: Option<i64>,
    last_decrease_us: Option<i64>,
    rtt_us: i64,
    loss: f64,
}

impl LossController {
    /// Starts at `start` bits per second within `[min, max]`.
    pub fn new(start: f64, min: f64, max: f64) -> Self {
        LossController {
            rate: start.clamp(min, max),
            min,
            max,
            last_update_us: None,
            last_decrease_us: None,
            rtt_us: 200_000,
            loss: 0.0,
        }
    }

    /// The round-trip time, microseconds.
    pub fn set_rtt(&mut self, rtt_us: i64) {
        self.rtt_us = rtt_us.clamp(1_000, 10_000_000);
    }

    /// Resets the rate (a probe result).
    pub fn set_rate(&mut self, bps: f64) {
        self.rate = bps.clamp(self.min, self.max);
    }

    /// The last loss fraction fed in.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// The loss-based rate, bits per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Feeds a loss fraction (0-1) measured over the last interval at `now_us`, with the
    /// current delay-based estimate; returns the loss-based rate.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn update(&mut self, loss: f64, delay_based: f64, now_us: i64) -> f64 {
        self.update_with(loss, delay_based, now_us, true)
    }

    /// [`update`](Self::update), saying whether the loss came with a standing queue
    /// (`congestion`); without one, loss above [`LOSS_LOW`] holds the rate (no decrease, no
    /// growth): random or radio loss says nothing about the capacity.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn update_with(
        &mut self,
        loss: f64,
        delay_based: f64,
        now_us: i64,
        congestion: bool,
    ) -> f64 {
        // RT: constant time.
        let loss = if loss.is_finite() {
            loss.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.loss = loss;
        let last = *self.last_update_us.get_or_insert(now_us);
        let dt_s = ((now_us - last) as f64 / 1e6).clamp(0.0, 1.0);
        if loss < LOSS_LOW {
            self.rate = (self.rate * 1.08f64.powf(dt_s) + 1000.0 * dt_s).max(delay_based);
        } else if loss > LOSS_HIGH && congestion {
            let wait = 300_000 + self.rtt_us;
            if self.last_decrease_us.is_none_or(|t| now_us - t >= wait) {
                self.rate = self.rate.min(delay_based) * (1.0 - 0.5 * loss);
                self.last_decrease_us = Some(now_us);
            }
        }
        self.rate = self.rate.clamp(self.min, self.max);
        self.last_update_us = Some(now_us);
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acked_rate_measures_delivery() {
        let mut a = AckedRate::default();
        // 1000 bytes every 8 ms = 1 Mbit/s.
        for i in 0..200i64 {
            a.add(1_000_000 + i * 8_000, 1000);
        }
        let r = a.bps().unwrap();
        assert!((r - 1e6).abs() < 0.05e6, "{r}");
    }

    #[test]
    fn aimd_increases_then_decreases_to_beta_times_acked() {
        let mut c = AimdRateControl::new(300_000.0, 30_000.0, 5e6);
        // A small standing queue: not calm, not draining.
        c.set_queue_delay(20_000);
        let mut t = 0;
        for _ in 0..50 {
            t += 100_000;
            c.update(BandwidthUsage::Normal, Some(1e6), t);
        }
        // 5 s at 8 %/s: 300 kbit/s x 1.08^5 = 441 kbit/s.
        assert!((430_000.0..450_000.0).contains(&c.rate()), "{}", c.rate());
        t += 100_000;
        let r = c.update(BandwidthUsage::Overusing, Some(400_000.0), t);
        assert!((r - 0.85 * 400_000.0).abs() < 1.0, "{r}");
    }

    #[test]
    fn calm_growth_and_standing_queue() {
        let mut c = AimdRateControl::new(300_000.0, 30_000.0, 5e6);
        let mut t = 0;
        // An empty queue and no decrease yet: at least CALM_INCREASE_BPS per second.
        for _ in 0..20 {
            t += 100_000;
            c.update(BandwidthUsage::Normal, Some(2e6), t);
        }
        assert!(
            c.rate() >= 300_000.0 + 1.9 * CALM_INCREASE_BPS,
            "{}",
            c.rate()
        );
        // A standing queue above HOLD_QUEUE_US holds the rate ...
        let held = c.rate();
        c.set_queue_delay(HOLD_QUEUE_US + 10_000);
        t += 100_000;
        assert_eq!(c.update(BandwidthUsage::Normal, Some(2e6), t), held);
        // ... and one above DRAIN_TRIGGER_US is over-use: the cut is deeper than BETA x acked,
        // to drain 600 ms of queue in about DRAIN_US.
        c.set_queue_delay(600_000);
        t += 100_000;
        let r = c.update(BandwidthUsage::Normal, Some(500_000.0), t);
        let want = (1.0 - 600_000.0 / DRAIN_US as f64) * 500_000.0;
        assert!((r - want).abs() < 1.0, "{r} vs {want}");
    }

    #[test]
    fn loss_controller_bands() {
        let mut l = LossController::new(1e6, 10_000.0, 5e6);
        assert!(l.update(0.0, 1e6, 0) >= 1e6);
        let r = l.update(0.2, 1e6, 1_000_000);
        assert!((r - 0.9e6).abs() < 1.0, "{r}");
        // Held: not yet 300 ms + RTT later.
        assert_eq!(l.update(0.2, 1e6, 1_100_000), r);
        assert_eq!(l.update(0.05, 1e6, 2_000_000), r);
        assert!(l.update(f64::NAN, 0.0, 3_000_000) > r);
        // The same loss without a standing queue holds the rate: no cut, no growth.
        let mut l = LossController::new(1e6, 10_000.0, 5e6);
        assert_eq!(l.update_with(0.2, 1e6, 0, false), 1e6);
        assert_eq!(l.update_with(0.2, 1e6, 1_000_000, false), 1e6);
        assert!(l.update_with(0.2, 1e6, 2_000_000, true) < 1e6);
    }
}
