//! Bandwidth probing: the controller that decides when to probe and at which rate
//! ([`ProbeController`]: at start, exponentially while results keep up, after a large drop, and
//! periodically while application-limited), and the estimator that turns a cluster's
//! feedback into a rate ([`ProbeEstimator`]). Fixed-size state.

/// A burst of packets the pacer sends at `bps` to test for spare capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeCluster {
    /// Identifier carried by the cluster's packets (in the send history) and their feedback.
    pub id: u16,
    /// Probe rate, bits per second.
    pub bps: u64,
    /// At least this many packets.
    pub min_packets: u32,
    /// At least this many bytes (the rate over [`PROBE_DURATION_US`]).
    pub min_bytes: u32,
}

/// A probe lasts at least this long at its rate.
pub const PROBE_DURATION_US: i64 = 15_000;
/// A probe has at least this many packets.
pub const PROBE_MIN_PACKETS: u32 = 5;
const MAX_PENDING: usize = 4;
const MAX_CLUSTERS: usize = 8;
const FURTHER_FRACTION: f64 = 0.7;
const DROP_THRESHOLD: f64 = 0.66;
const DROP_WINDOW_US: i64 = 5_000_000;
const RECOVERY_FRACTION: f64 = 0.85;
const ALR_PROBE_INTERVAL_US: i64 = 5_000_000;
const RESULT_TIMEOUT_US: i64 = 1_000_000;
const GROWTH_WINDOW_US: i64 = 2_000_000;

/// Decides when and how fast to probe.
#[derive(Debug, Clone)]
pub struct ProbeController {
    max_bps: f64,
    next_id: u16,
    pending: [Option<ProbeCluster>; MAX_PENDING],
    /// Exponential probing: keep going while a result reaches this rate (bps).
    further_min: Option<f64>,
    waiting_since_us: Option<i64>,
    started: bool,
    /// The estimate before the last big drop, and when it happened.
    before_drop: Option<(f64, i64)>,
    last_estimate: f64,
    last_probe_us: Option<i64>,
    recovery_done: bool,
    growth_mark: Option<(i64, f64)>,
    /// A standing queue is seen: no new probes (they would measure the queue).
    standing_queue: bool,
}

impl ProbeController {
    /// A controller that never probes above `max_bps`.
    pub fn new(max_bps: f64) -> Self {
        ProbeController {
            max_bps,
            next_id: 1,
            pending: [None; MAX_PENDING],
            further_min: None,
            waiting_since_us: None,
            started: false,
            before_drop: None,
            last_estimate: 0.0,
            last_probe_us: None,
            recovery_done: true,
            growth_mark: None,
            standing_queue: false,
        }
    }

    fn push(&mut self, bps: f64, now_us: i64) {
        let bps = bps.min(self.max_bps).max(1.0);
        let min_bytes = (bps * PROBE_DURATION_US as f64 / 8e6).ceil() as u32;
        let c = ProbeCluster {
            id: self.next_id,
            bps: bps as u64,
            min_packets: PROBE_MIN_PACKETS,
            min_bytes,
        };
        self.next_id = self.next_id.wrapping_add(1).max(1);
        if let Some(slot) = self.pending.iter_mut().find(|s| s.is_none()) {
            *slot = Some(c);
        }
        self.last_probe_us = Some(now_us);
        self.waiting_since_us = Some(now_us);
    }

    /// Whether the path holds a standing queue now: while it does, no recovery, growth or ALR
    /// probe starts, and exponential probing stops (a probe sent into a queue adds to it and
    /// measures the queue's drain rate, not spare capacity).
    pub fn set_standing_queue(&mut self, standing: bool) {
        self.standing_queue = standing;
    }

    /// The next cluster to hand to the pacer, if any.
    pub fn take_cluster(&mut self) -> Option<ProbeCluster> {
        let i = self.pending.iter().position(Option::is_some)?;
        let c = self.pending[i].take();
        // Keep the queue in order.
        self.pending[i..].rotate_left(1);
        c
    }

    /// Call on every estimate change and periodically, with whether the sender is
    /// application-limited and whether the rate control works near a known link capacity
    /// (then growth probing is off). May queue probe clusters.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn update(&mut self, estimate: f64, alr: bool, near_capacity: bool, now_us: i64) {
        // RT: constant time.
        if !self.started {
            self.started = true;
            self.last_estimate = estimate;
            // Initial exponential probing: 3x and 6x the start rate.
            self.push(3.0 * estimate, now_us);
            self.push(6.0 * estimate, now_us);
            self.further_min = Some(FURTHER_FRACTION * 6.0 * estimate);
            return;
        }
        if self
            .waiting_since_us
            .is_some_and(|t| now_us - t > RESULT_TIMEOUT_US)
        {
            self.waiting_since_us = None;
            self.further_min = None;
        }
        if estimate < DROP_THRESHOLD * self.last_estimate {
            self.before_drop = Some((self.last_estimate, now_us));
            self.recovery_done = false;
        }
        self.last_estimate = estimate;
        if let Some((before, at)) = self.before_drop
            && !self.recovery_done
            && now_us - at <= DROP_WINDOW_US
            && now_us - at >= 1_000_000
            && self.waiting_since_us.is_none()
            && !self.standing_queue
        {
            // Fast recovery: one probe at 85% of the rate before the drop, a second after it.
            self.recovery_done = true;
            if RECOVERY_FRACTION * before > estimate {
                self.push(RECOVERY_FRACTION * before, now_us);
            }
        }
        // Steady growth for 2 s without push-back: the capacity is far above; look ahead with
        // a probe at twice the estimate rather than climbing 8% per second.
        let (mark_at, mark) = *self.growth_mark.get_or_insert((now_us, estimate));
        if estimate < mark || near_capacity {
            self.growth_mark = Some((now_us, estimate));
        } else if now_us - mark_at >= GROWTH_WINDOW_US {
            self.growth_mark = Some((now_us, estimate));
            if estimate > 1.1 * mark
                && !self.standing_queue
                && self.waiting_since_us.is_none()
                && self
                    .last_probe_us
                    .is_none_or(|t| now_us - t >= GROWTH_WINDOW_US)
            {
                self.push(2.0 * estimate, now_us);
                return;
            }
        }
        if alr
            && !self.standing_queue
            && self.waiting_since_us.is_none()
            && self
                .last_probe_us
                .is_none_or(|t| now_us - t >= ALR_PROBE_INTERVAL_US)
        {
            self.push(2.0 * estimate, now_us);
        }
    }

    /// A probe produced `result_bps`: continue exponentially if it kept up.
    pub fn on_probe_result(&mut self, result_bps: f64, now_us: i64) {
        if let Some(min) = self.further_min.take()
            && result_bps >= min
            && result_bps < self.max_bps
            && !self.standing_queue
        {
            self.push(2.0 * result_bps, now_us);
            self.further_min = Some(FURTHER_FRACTION * 2.0 * result_bps);
            return;
        }
        self.waiting_since_us = None;
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ClusterStats {
    id: u16,
    packets: u32,
    first_send: i64,
    last_send: i64,
    last_send_size: u32,
    first_arrival: i64,
    first_arrival_size: u32,
    last_arrival: i64,
    bytes: u64,
    updated_us: i64,
}

/// Turns feedback on probe packets into a rate: the lower of the send and the receive rate of
/// the cluster, and 95% of the receive rate if that is well below the send rate (the link
/// was saturated).
#[derive(Debug, Clone, Default)]
pub struct ProbeEstimator {
    clusters: [Option<ClusterStats>; MAX_CLUSTERS],
}

impl ProbeEstimator {
    /// Adds a received probe packet; returns a rate once the cluster has enough packets.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn on_packet(
        &mut self,
        cluster: u16,
        send_us: i64,
        arrival_us: i64,
        size: u32,
        now_us: i64,
    ) -> Option<f64> {
        // RT: constant time.
        // Forget clusters older than 1 s.
        for c in self.clusters.iter_mut() {
            if c.is_some_and(|s| now_us - s.updated_us > 1_000_000) {
                *c = None;
            }
        }
        let idx = match self
            .clusters
            .iter()
            .position(|c| c.is_some_and(|s| s.id == cluster))
        {
            Some(i) => i,
            None => {
                let i = self
                    .clusters
                    .iter()
                    .position(Option::is_none)
                    .unwrap_or_else(|| {
                        // Evict the stalest.
                        let mut oldest = 0;
                        for (i, c) in self.clusters.iter().enumerate() {
                            if let (Some(a), Some(b)) = (c, self.clusters[oldest])
                                && a.updated_us < b.updated_us
                            {
                                oldest = i;
                            }
                        }
                        oldest
                    });
                self.clusters[i] = Some(ClusterStats {
                    id: cluster,
                    first_send: send_us,
                    last_send: send_us,
                    first_arrival: arrival_us,
                    last_arrival: arrival_us,
                    last_send_size: size,
                    first_arrival_size: size,
                    ..Default::default()
                });
                i
            }
        };
        let s = self.clusters[idx].as_mut()?;
        s.packets += 1;
        s.bytes += u64::from(size);
        s.updated_us = now_us;
        if send_us < s.first_send {
            s.first_send = send_us;
        }
        if send_us >= s.last_send {
            s.last_send = send_us;
            s.last_send_size = size;
        }
        if arrival_us < s.first_arrival {
            s.first_arrival = arrival_us;
            s.first_arrival_size = size;
        }
        s.last_arrival = s.last_arrival.max(arrival_us);
        if s.packets < PROBE_MIN_PACKETS * 4 / 5 {
            return None;
        }
        let send_span = s.last_send - s.first_send;
        let recv_span = s.last_arrival - s.first_arrival;
        if send_span <= 0 || recv_span <= 0 || send_span > 1_000_000 || recv_span > 1_000_000 {
            return None;
        }
        let send_bps = (s.bytes - u64::from(s.last_send_size)) as f64 * 8e6 / send_span as f64;
        let recv_bps = (s.bytes - u64::from(s.first_arrival_size)) as f64 * 8e6 / recv_span as f64;
        if recv_bps > 2.0 * send_bps {
            // Compressed on arrival beyond plausibility: not a measurement.
            return None;
        }
        if recv_bps < 0.9 * send_bps {
            Some(0.95 * recv_bps)
        } else {
            Some(send_bps.min(recv_bps))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_probes_then_further() {
        let mut p = ProbeController::new(10e6);
        p.update(300_000.0, false, false, 0);
        let a = p.take_cluster().unwrap();
        let b = p.take_cluster().unwrap();
        assert_eq!((a.bps, b.bps), (900_000, 1_800_000));
        assert!(a.min_bytes > 0 && b.id != a.id);
        assert!(p.take_cluster().is_none());
        p.on_probe_result(1_700_000.0, 100_000);
        assert_eq!(p.take_cluster().unwrap().bps, 3_400_000);
        p.on_probe_result(1_000_000.0, 200_000);
        assert!(p.take_cluster().is_none());
    }

    #[test]
    fn recovery_probe_after_drop() {
        let mut p = ProbeController::new(10e6);
        p.update(1e6, false, false, 0);
        while p.take_cluster().is_some() {}
        p.on_probe_result(0.0, 0);
        p.update(1e6, false, false, 2_000_000);
        p.update(0.5e6, false, false, 2_100_000);
        assert!(p.take_cluster().is_none(), "not at once");
        p.update(0.5e6, false, false, 3_200_000);
        assert_eq!(p.take_cluster().unwrap().bps, 850_000);
    }

    #[test]
    fn estimator_saturated_link() {
        let mut e = ProbeEstimator::default();
        // Sent at 2 Mbps (1000 B every 4 ms), received at 1 Mbps (every 8 ms).
        let mut r = None;
        for i in 0..6i64 {
            r = e.on_packet(1, i * 4_000, 50_000 + i * 8_000, 1000, 100_000);
        }
        let r = r.unwrap();
        assert!((r - 0.95e6).abs() < 0.01e6, "{r}");
    }
}
