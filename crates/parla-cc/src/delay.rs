//! Delay-based over-use detection (draft-ietf-rmcat-gcc-02 section 5, in the trendline form of
//! libwebrtc's goog_cc): packets are grouped into bursts sent within 5 ms ([`InterArrival`]),
//! the one-way delay variation between groups is accumulated, smoothed and fitted with a line
//! over the last 20 groups ([`Trendline`]), and the slope, scaled, is compared with an adaptive
//! threshold to decide over-use, under-use or normal ([`OveruseDetector`]).
//!
//! All state is fixed-size: no allocation after construction.

/// What the delay trend says about the bottleneck queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BandwidthUsage {
    /// The queue is stable.
    #[default]
    Normal,
    /// The queue is growing: the sender is over the capacity.
    Overusing,
    /// The queue is draining.
    Underusing,
}

/// Packets whose send times are within this of their group's first are one group.
pub const GROUP_SEND_SPAN_US: i64 = 5_000;
/// A packet arriving within this of the previous one, with a negative delay variation, joins
/// its group (a burst released by the network at once).
const BURST_ARRIVAL_US: i64 = 5_000;
/// A burst never spans more than this.
const MAX_BURST_US: i64 = 100_000;
/// Arrival deltas beyond this reset the grouping (a stall or a clock jump).
const ARRIVAL_JUMP_US: i64 = 3_000_000;

#[derive(Debug, Clone, Copy, Default)]
struct Group {
    first_send: i64,
    last_send: i64,
    first_arrival: i64,
    last_arrival: i64,
    size: u64,
    valid: bool,
}

impl Group {
    /// A group opened by one packet.
    fn starting(send_us: i64, arrival_us: i64, size: u32) -> Self {
        Group {
            first_send: send_us,
            last_send: send_us,
            first_arrival: arrival_us,
            last_arrival: arrival_us,
            size: u64::from(size),
            valid: true,
        }
    }
}

/// The change between two consecutive packet groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupDelta {
    /// Send-time difference, microseconds.
    pub send_us: i64,
    /// Arrival-time difference, microseconds.
    pub arrival_us: i64,
    /// Arrival time of the newer group's last packet (receiver clock), microseconds.
    pub arrival_time_us: i64,
}

/// Groups packets into 5 ms send bursts and yields the delta between completed groups.
#[derive(Debug, Clone, Default)]
pub struct InterArrival {
    current: Group,
    previous: Group,
}

impl InterArrival {
    /// A fresh grouper.
    pub fn new() -> Self {
        Self::default()
    }

    fn belongs_to_current(&self, send: i64, arrival: i64) -> bool {
        let c = &self.current;
        if send - c.first_send <= GROUP_SEND_SPAN_US {
            return true;
        }
        // A burst: it arrived right after the previous packet and ahead of its send spacing.
        let arrival_delta = arrival - c.last_arrival;
        let send_delta = send - c.last_send;
        let propagation = arrival_delta - send_delta;
        propagation < 0
            && arrival_delta <= BURST_ARRIVAL_US
            && arrival - c.first_arrival < MAX_BURST_US
    }

    /// Adds a received packet (in arrival order) sent at `send_us` (sender clock) that arrived
    /// at `arrival_us` (receiver clock). Returns the delta between the two last complete groups
    /// when this packet starts a new group.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn add(&mut self, send_us: i64, arrival_us: i64, size: u32) -> Option<GroupDelta> {
        // RT: constant time.
        if !self.current.valid {
            self.current = Group::starting(send_us, arrival_us, size);
            return None;
        }
        if send_us < self.current.first_send {
            // Reordered across groups: ignore (its group was closed).
            return None;
        }
        if self.belongs_to_current(send_us, arrival_us) {
            let c = &mut self.current;
            c.last_send = c.last_send.max(send_us);
            c.last_arrival = c.last_arrival.max(arrival_us);
            c.size += u64::from(size);
            return None;
        }
        let mut out = None;
        if self.previous.valid {
            let d = GroupDelta {
                send_us: self.current.last_send - self.previous.last_send,
                arrival_us: self.current.last_arrival - self.previous.last_arrival,
                arrival_time_us: self.current.last_arrival,
            };
            if d.arrival_us.abs() > ARRIVAL_JUMP_US || d.arrival_us < 0 {
                // A clock jump or heavy reordering: start over.
                *self = Self::default();
                return self.add(send_us, arrival_us, size);
            }
            out = Some(d);
        }
        self.previous = self.current;
        self.current = Group::starting(send_us, arrival_us, size);
        out
    }
}

/// Window of the linear fit, in groups.
pub const TRENDLINE_WINDOW: usize = 20;
const SMOOTHING: f64 = 0.9;
const THRESHOLD_GAIN: f64 = 4.0;

/// The smoothed accumulated delay variation and its least-squares slope over the last
/// [`TRENDLINE_WINDOW`] groups.
#[derive(Debug, Clone)]
pub struct Trendline {
    first_arrival: Option<i64>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    /// (arrival time since the first, ms; smoothed delay, ms), ring.
    points: [(f64, f64); TRENDLINE_WINDOW],
    len: usize,
    head: usize,
    deltas: u32,
    slope: f64,
}

impl Default for Trendline {
    fn default() -> Self {
        Trendline {
            first_arrival: None,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            points: [(0.0, 0.0); TRENDLINE_WINDOW],
            len: 0,
            head: 0,
            deltas: 0,
            slope: 0.0,
        }
    }
}

impl Trendline {
    /// Adds a group delta; returns the modified trend (slope x min(deltas, 60) x gain), the
    /// quantity the detector compares with its threshold, once the window is full.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn update(&mut self, d: &GroupDelta) -> Option<f64> {
        // RT: constant time.
        let first = *self.first_arrival.get_or_insert(d.arrival_time_us);
        let variation_ms = (d.arrival_us - d.send_us) as f64 / 1000.0;
        self.deltas = self.deltas.saturating_add(1).min(1000);
        self.accumulated_ms += variation_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let x = (d.arrival_time_us - first) as f64 / 1000.0;
        self.points[self.head] = (x, self.smoothed_ms);
        self.head = (self.head + 1) % TRENDLINE_WINDOW;
        self.len = (self.len + 1).min(TRENDLINE_WINDOW);
        if self.len < TRENDLINE_WINDOW {
            return None;
        }
        let n = self.len as f64;
        let (sx, sy) = self
            .points
            .iter()
            .fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
        let (mx, my) = (sx / n, sy / n);
        let (mut num, mut den) = (0.0, 0.0);
        for p in &self.points {
            num += (p.0 - mx) * (p.1 - my);
            den += (p.0 - mx) * (p.0 - mx);
        }
        if den > 0.0 {
            self.slope = num / den;
        }
        Some(self.slope * f64::from(self.deltas.min(60)) * THRESHOLD_GAIN)
    }

    /// The last fitted slope (ms of queueing delay per ms).
    pub fn slope(&self) -> f64 {
        self.slope
    }
}

const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;
const OVERUSE_TIME_MS: f64 = 10.0;
const MAX_ADAPT_OFFSET_MS: f64 = 15.0;

/// The over-use detector with the adaptive threshold of draft-ietf-rmcat-gcc-02 5.4.
#[derive(Debug, Clone)]
pub struct OveruseDetector {
    threshold: f64,
    last_update_us: Option<i64>,
    overuse_time_ms: Option<f64>,
    overuse_count: u32,
    prev_trend: f64,
    state: BandwidthUsage,
}

impl Default for OveruseDetector {
    fn default() -> Self {
        OveruseDetector {
            threshold: 12.5,
            last_update_us: None,
            overuse_time_ms: None,
            overuse_count: 0,
            prev_trend: 0.0,
            state: BandwidthUsage::Normal,
        }
    }
}

impl OveruseDetector {
    /// Feeds the modified trend at `now_us` (the group's arrival time) after a group delta
    /// `send_delta_ms` apart; returns the new state.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn detect(
        &mut self,
        trend: f64,
        raw_slope: f64,
        send_delta_ms: f64,
        now_us: i64,
    ) -> BandwidthUsage {
        // RT: constant time.
        if trend > self.threshold {
            let t = match self.overuse_time_ms {
                None => send_delta_ms / 2.0,
                Some(t) => t + send_delta_ms,
            };
            self.overuse_time_ms = Some(t);
            self.overuse_count += 1;
            if t > OVERUSE_TIME_MS && self.overuse_count > 1 && raw_slope >= self.prev_trend {
                self.overuse_time_ms = Some(0.0);
                self.overuse_count = 0;
                self.state = BandwidthUsage::Overusing;
            }
        } else if trend < -self.threshold {
            self.overuse_time_ms = None;
            self.overuse_count = 0;
            self.state = BandwidthUsage::Underusing;
        } else {
            self.overuse_time_ms = None;
            self.overuse_count = 0;
            self.state = BandwidthUsage::Normal;
        }
        self.prev_trend = raw_slope;
        self.adapt_threshold(trend, now_us);
        self.state
    }

    fn adapt_threshold(&mut self, trend: f64, now_us: i64) {
        let last = *self.last_update_us.get_or_insert(now_us);
        let a = trend.abs();
        if a > self.threshold + MAX_ADAPT_OFFSET_MS {
            // A spike (a route change, a radio stall): do not adapt to it.
            self.last_update_us = Some(now_us);
            return;
        }
        let k = if a < self.threshold { K_DOWN } else { K_UP };
        let dt_ms = ((now_us - last) as f64 / 1000.0).clamp(0.0, 100.0);
        self.threshold = (self.threshold + k * (a - self.threshold) * dt_ms).clamp(6.0, 600.0);
        self.last_update_us = Some(now_us);
    }

    /// The current threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The current state.
    pub fn state(&self) -> BandwidthUsage {
        self.state
    }
}

/// The three stages in a row: grouping, trendline, detector.
#[derive(Debug, Clone, Default)]
pub struct DelayDetector {
    inter_arrival: InterArrival,
    trendline: Trendline,
    detector: OveruseDetector,
}

impl DelayDetector {
    /// A fresh detector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one received packet (in arrival order); returns the state after it.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn on_packet(&mut self, send_us: i64, arrival_us: i64, size: u32) -> BandwidthUsage {
        // RT: constant time.
        if let Some(d) = self.inter_arrival.add(send_us, arrival_us, size)
            && let Some(trend) = self.trendline.update(&d)
        {
            return self.detector.detect(
                trend,
                self.trendline.slope(),
                d.send_us as f64 / 1000.0,
                d.arrival_time_us,
            );
        }
        self.detector.state()
    }

    /// The current state.
    pub fn state(&self) -> BandwidthUsage {
        self.detector.state()
    }

    /// The detector's adaptive threshold.
    pub fn threshold(&self) -> f64 {
        self.detector.threshold()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_send_time() {
        let mut ia = InterArrival::new();
        // Packets every 2 ms: groups of 3 (0,2,4), (6,8,10)... delta 6 ms apart.
        let mut deltas = vec![];
        for i in 0..20i64 {
            if let Some(d) = ia.add(i * 2_000, 50_000 + i * 2_000, 1000) {
                deltas.push(d);
            }
        }
        assert!(!deltas.is_empty());
        for d in &deltas {
            assert_eq!(d.send_us, d.arrival_us);
        }
    }

    fn run(rate_send_us: i64, rate_serve_us: i64, n: i64) -> BandwidthUsage {
        // Packets sent every `rate_send_us`, served by a link taking `rate_serve_us` each.
        let mut det = DelayDetector::new();
        let mut link_free = 0i64;
        let mut state = BandwidthUsage::Normal;
        let mut seen_over = false;
        for i in 0..n {
            let send = i * rate_send_us;
            let arrival = send.max(link_free) + rate_serve_us + 20_000;
            link_free = send.max(link_free) + rate_serve_us;
            state = det.on_packet(send, arrival, 1200);
            seen_over |= state == BandwidthUsage::Overusing;
        }
        if seen_over {
            BandwidthUsage::Overusing
        } else {
            state
        }
    }

    #[test]
    fn detects_overuse_only_when_queue_grows() {
        // Sending faster than the link serves: overuse.
        assert_eq!(run(6_000, 7_000, 300), BandwidthUsage::Overusing);
        // Slower: normal.
        assert_eq!(run(8_000, 7_000, 300), BandwidthUsage::Normal);
    }
}
