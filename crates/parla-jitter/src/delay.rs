//! Target-delay estimation from packet arrival statistics.
//!
//! Every policy sees, for each new packet, its arrival time and its *relative delay*
//! `r = arrival - media_time(timestamp)` (one-way delay plus an unknown constant clock offset
//! plus sender drift), and answers a *target playout offset*: the `r` a packet may have and
//! still be played. The buffer steers its playout offset (receiver time minus media time of the
//! audio being played) towards that target with time stretching.
//!
//! - [`DelayPolicy::Histogram`] is the NetEq-family estimator (WebRTC `DelayManager`): the
//!   delay of each packet relative to the fastest packet of a sliding window goes into a
//!   histogram with exponential forgetting, and the target is the fastest delay plus a quantile.
//!   [`HistogramTuning::neteq`] is the NetEq-style baseline (20 ms buckets, forgetting 0.983 per
//!   packet, 95th percentile, 2 s window, as in libwebrtc's defaults).
//!   [`HistogramTuning::parla`] is our default, which adds: 1 ms buckets (NetEq's 20 ms
//!   buckets round the target up by 10 ms on average); spike awareness after Moon, Kurose and
//!   Towsley (1998): a packet far above the current quantile is a spike, which the buffer rides
//!   out by waiting (no loss), so it enters the histogram with a small weight rather than
//!   inflating the target for the next seconds; and a bounded relaxation rate (fast reaction
//!   upwards, slow downwards) so a quiet second does not pull the target under the jitter that
//!   was there just before.
//! - [`DelayPolicy::ExpAverage`] is the RFC 3550-era estimator of Ramjee, Kurose, Towsley and
//!   Schulzrinne (1994), algorithm 1: `d = a d + (1-a) n`, `v = a v + (1-a) |d - n|`, target
//!   `d + k v` with `a = 0.998002`, `k = 4`. The paper applies it at talk-spurt starts; with
//!   continuous speech the buffer applies it by time stretching like the others.

use crate::error::JitterConfigError;

/// Tuning of the histogram estimator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramTuning {
    /// Quantile of the relative-delay distribution to cover (0.5-0.999).
    pub quantile: f64,
    /// Forgetting factor per packet (0.9-0.9999).
    pub forget: f64,
    /// Histogram bucket width, milliseconds.
    pub bucket_ms: f64,
    /// Highest relative delay the histogram holds, milliseconds (larger values land in the last
    /// bucket).
    pub range_ms: f64,
    /// Window over which the fastest packet is the reference, milliseconds.
    pub window_ms: f64,
    /// Added to the quantile, milliseconds.
    pub margin_ms: f64,
    /// Weight of a spike packet in the histogram (1 = like any other; NetEq uses 1).
    pub spike_weight: f64,
    /// A packet is a spike when its relative delay exceeds `spike_factor * quantile +
    /// spike_min_ms`.
    pub spike_factor: f64,
    /// See `spike_factor`, milliseconds.
    pub spike_min_ms: f64,
    /// Fastest downward movement of the target, milliseconds per second (infinite: none).
    pub relax_ms_per_s: f64,
}

impl HistogramTuning {
    /// The NetEq-style baseline.
    pub const fn neteq() -> Self {
        HistogramTuning {
            quantile: 0.95,
            forget: 0.983,
            bucket_ms: 20.0,
            range_ms: 2000.0,
            window_ms: 2000.0,
            margin_ms: 0.0,
            spike_weight: 1.0,
            spike_factor: 1.0,
            spike_min_ms: f64::INFINITY,
            relax_ms_per_s: f64::INFINITY,
        }
    }

    /// Parla's default (tuned on the evaluation scenarios, see docs/JITTER.md).
    pub const fn parla() -> Self {
        HistogramTuning {
            quantile: 0.95,
            forget: 0.983,
            bucket_ms: 1.0,
            range_ms: 2000.0,
            window_ms: 2000.0,
            margin_ms: 10.0,
            spike_weight: 0.1,
            spike_factor: 2.0,
            spike_min_ms: 60.0,
            relax_ms_per_s: f64::INFINITY,
        }
    }
}

impl HistogramTuning {
    /// The low-delay variant of [`HistogramTuning::parla`]: the 85th percentile of the
    /// relative delay instead of the 95th (the quantile is the late-loss budget of the
    /// estimate), for use with a backlog bound ([`crate::JitterConfig::low_delay`]).
    pub const fn parla_low_delay() -> Self {
        HistogramTuning {
            quantile: 0.85,
            ..HistogramTuning::parla()
        }
    }
}

/// Which estimator sets the target.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum DelayPolicy {
    /// Relative-delay histogram with a quantile (NetEq family, and Parla's default).
    Histogram(HistogramTuning),
    /// Exponential average and mean deviation (Ramjee et al. 1994, algorithm 1).
    ExpAverage {
        /// Smoothing factor per packet.
        alpha: f64,
        /// Deviations added to the mean.
        k: f64,
    },
}

impl DelayPolicy {
    /// Parla's default.
    pub const fn parla() -> Self {
        DelayPolicy::Histogram(HistogramTuning::parla())
    }

    /// The NetEq-style 95th-percentile histogram baseline.
    pub const fn neteq() -> Self {
        DelayPolicy::Histogram(HistogramTuning::neteq())
    }

    /// The Ramjee algorithm 1 baseline.
    pub const fn exp_average() -> Self {
        DelayPolicy::ExpAverage {
            alpha: 0.998_002,
            k: 4.0,
        }
    }
}

impl Default for DelayPolicy {
    fn default() -> Self {
        DelayPolicy::parla()
    }
}

const WINDOW_CAP: usize = 1024;
/// A packet more than this above the fastest recent packet counts as stalled, ms.
pub const STALL_MS: f64 = 200.0;
/// Memory of the stalled-packet fraction, packets (30 s of 20 ms packets).
pub const STALL_MEMORY_PACKETS: f64 = 1500.0;

/// The estimator state. Preallocated; [`DelayManager::update`] never allocates.
#[derive(Debug, Clone)]
pub struct DelayManager {
    policy: DelayPolicy,
    hist: Vec<f64>,
    count: u64,
    ring: Vec<(i64, i64)>,
    ring_head: usize,
    ring_len: usize,
    d: f64,
    v: f64,
    target_us: Option<i64>,
    base_us: i64,
    quantile_us: i64,
    last_arrival_us: i64,
    spikes: u64,
    stall_frac: f64,
    min_margin_us: i64,
    extra_us: i64,
}

impl DelayManager {
    /// A fresh estimator.
    ///
    /// # Errors
    /// [`JitterConfigError::InvalidParameter`] for out-of-range tuning.
    pub fn new(policy: DelayPolicy) -> Result<Self, JitterConfigError> {
        let bad = |name, detail| Err(JitterConfigError::InvalidParameter { name, detail });
        let buckets = match policy {
            DelayPolicy::Histogram(t) => {
                if !(0.5..=0.9999).contains(&t.quantile) {
                    return bad("quantile", "must be in [0.5, 0.9999]");
                }
                if !(0.5..1.0).contains(&t.forget) {
                    return bad("forget", "must be in [0.5, 1)");
                }
                if !(t.bucket_ms >= 0.1 && t.range_ms >= t.bucket_ms && t.range_ms <= 10_000.0) {
                    return bad("bucket_ms", "need 0.1 <= bucket <= range <= 10000");
                }
                if !(t.window_ms > 0.0 && t.spike_weight >= 0.0 && t.relax_ms_per_s > 0.0) {
                    return bad(
                        "window_ms",
                        "window, spike weight and relaxation must be positive",
                    );
                }
                (t.range_ms / t.bucket_ms).ceil() as usize
            }
            DelayPolicy::ExpAverage { alpha, k } => {
                if !(0.0..1.0).contains(&alpha) || !(0.0..=20.0).contains(&k) {
                    return bad("alpha", "alpha in [0, 1) and k in [0, 20]");
                }
                1
            }
        };
        Ok(DelayManager {
            policy,
            hist: vec![0.0; buckets],
            count: 0,
            ring: vec![(0, 0); WINDOW_CAP],
            ring_head: 0,
            ring_len: 0,
            d: 0.0,
            v: 0.0,
            target_us: None,
            base_us: 0,
            quantile_us: 0,
            last_arrival_us: 0,
            spikes: 0,
            stall_frac: 0.0,
            min_margin_us: 0,
            extra_us: 0,
        })
    }

    /// Forget everything (a new stream).
    pub fn reset(&mut self) {
        self.hist.iter_mut().for_each(|h| *h = 0.0);
        self.count = 0;
        self.ring_len = 0;
        self.target_us = None;
        self.d = 0.0;
        self.v = 0.0;
        self.stall_frac = 0.0;
    }

    /// The target playout offset in the units of `r` (microseconds), once a packet was seen:
    /// the estimate plus the extra delay ([`set_extra_us`](Self::set_extra_us)).
    pub fn target_us(&self) -> Option<i64> {
        self.target_us.map(|t| t.saturating_add(self.extra_us))
    }

    /// A delay added on top of the estimate, microseconds (clamped at zero): lip sync holds
    /// audio back this much when the video it goes with is later. Kept across
    /// [`reset`](Self::reset).
    pub fn set_extra_us(&mut self, us: i64) {
        self.extra_us = us.max(0);
    }

    /// The extra delay ([`set_extra_us`](Self::set_extra_us)), microseconds.
    pub fn extra_us(&self) -> i64 {
        self.extra_us
    }

    /// The reference (fastest recent relative delay), microseconds.
    pub fn base_us(&self) -> i64 {
        self.base_us
    }

    /// The fraction of recent packets that arrived more than [`STALL_MS`] after the fastest
    /// recent packet (an exponential average over about [`STALL_MEMORY_PACKETS`] packets, a
    /// plain mean before that many were seen); zero for the exponential average.
    pub fn stall_fraction(&self) -> f64 {
        self.stall_frac
    }

    /// Sets a floor on the histogram's margin above the quantile, microseconds, from the next
    /// packet on (the buffer raises it to one packet duration while packets are lost and the
    /// stream carries FEC, so the packet after a loss arrives in time to repair it; zero: the
    /// tuning's margin alone). The exponential average has no margin and ignores it.
    pub fn set_min_margin_us(&mut self, us: i64) {
        self.min_margin_us = us.max(0);
    }

    /// The margin floor ([`set_min_margin_us`](Self::set_min_margin_us)), microseconds.
    pub fn min_margin_us(&self) -> i64 {
        self.min_margin_us
    }

    /// Packets classified as spikes so far.
    pub fn spikes(&self) -> u64 {
        self.spikes
    }

    /// Feed one packet: its arrival time, its media (send) time and its relative delay
    /// `arrival - media`, microseconds. The window of the fastest-packet reference runs over
    /// media time, as NetEq's delay history does, so an outage (no arrivals) does not empty it.
    ///
    /// # Real-time safety
    /// No allocation: the histogram and window ring are preallocated.
    pub fn update(&mut self, arrival_us: i64, media_us: i64, r_us: i64) {
        // RT: fixed arrays only.
        let dt_s = if self.count == 0 {
            0.0
        } else {
            (arrival_us - self.last_arrival_us).max(0) as f64 * 1e-6
        };
        self.last_arrival_us = arrival_us;
        match self.policy {
            DelayPolicy::ExpAverage { alpha, k } => {
                let n = r_us as f64;
                if self.count == 0 {
                    self.d = n;
                    self.v = 0.0;
                } else {
                    self.d = alpha * self.d + (1.0 - alpha) * n;
                    self.v = alpha * self.v + (1.0 - alpha) * (self.d - n).abs();
                }
                self.count += 1;
                self.target_us = Some((self.d + k * self.v).round() as i64);
            }
            DelayPolicy::Histogram(t) => {
                // Sliding-window minimum of r.
                let idx = (self.ring_head + self.ring_len) % WINDOW_CAP;
                if self.ring_len == WINDOW_CAP {
                    self.ring_head = (self.ring_head + 1) % WINDOW_CAP;
                } else {
                    self.ring_len += 1;
                }
                self.ring[idx] = (media_us, r_us);
                let horizon = media_us - (t.window_ms * 1000.0) as i64;
                while self.ring_len > 1 && self.ring[self.ring_head].0 < horizon {
                    self.ring_head = (self.ring_head + 1) % WINDOW_CAP;
                    self.ring_len -= 1;
                }
                let mut base = i64::MAX;
                for i in 0..self.ring_len {
                    base = base.min(self.ring[(self.ring_head + i) % WINDOW_CAP].1);
                }
                self.base_us = base;
                let rel_ms = (r_us - base) as f64 / 1000.0;
                let stalled = if rel_ms > STALL_MS { 1.0 } else { 0.0 };
                let k = (1.0 / (self.count as f64 + 1.0)).max(1.0 / STALL_MEMORY_PACKETS);
                self.stall_frac += k * (stalled - self.stall_frac);
                let bucket = ((rel_ms / t.bucket_ms) as usize).min(self.hist.len() - 1);
                let q_ms = self.quantile_us as f64 / 1000.0;
                let spike = self.count > 50 && rel_ms > t.spike_factor * q_ms + t.spike_min_ms;
                if spike {
                    self.spikes += 1;
                }
                let w = if spike { t.spike_weight } else { 1.0 };
                // NetEq's start-up: forget fast while the histogram is young.
                let f = t.forget.min(1.0 - 2.0 / (self.count as f64 + 2.0));
                let a = (1.0 - f) * w;
                if a > 0.0 {
                    for h in self.hist.iter_mut() {
                        *h *= 1.0 - a;
                    }
                    self.hist[bucket] += a;
                }
                self.count += 1;
                let total: f64 = self.hist.iter().sum();
                let mut acc = 0.0;
                let mut q_bucket = self.hist.len() - 1;
                for (i, h) in self.hist.iter().enumerate() {
                    acc += h;
                    if acc >= t.quantile * total {
                        q_bucket = i;
                        break;
                    }
                }
                self.quantile_us = ((q_bucket + 1) as f64 * t.bucket_ms * 1000.0) as i64;
                let margin = ((t.margin_ms * 1000.0) as i64).max(self.min_margin_us);
                let fresh = base + self.quantile_us + margin;
                let target = match self.target_us {
                    Some(old) if fresh < old && t.relax_ms_per_s.is_finite() => {
                        let floor = old - (t.relax_ms_per_s * 1000.0 * dt_s) as i64;
                        fresh.max(floor)
                    }
                    _ => fresh,
                };
                self.target_us = Some(target);
            }
        }
    }

    /// The quantile part of the target (relative to the base), microseconds; zero for the
    /// exponential average.
    pub fn quantile_us(&self) -> i64 {
        self.quantile_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_tracks_a_quantile() {
        let mut m = DelayManager::new(DelayPolicy::Histogram(HistogramTuning {
            spike_min_ms: f64::INFINITY,
            relax_ms_per_s: f64::INFINITY,
            margin_ms: 0.0,
            ..HistogramTuning::parla()
        }))
        .expect("valid");
        // Relative delays uniform over 0..=99 ms, repeating.
        for i in 0..2000i64 {
            let r = (i * 37 % 100) * 1000;
            m.update(i * 20_000 + r, i * 20_000, r);
        }
        let t = m.target_us().expect("seen packets");
        assert!((90_000..=101_000).contains(&t), "target {t}");
    }

    #[test]
    fn exp_average_follows_mean_plus_deviation() {
        let mut m = DelayManager::new(DelayPolicy::exp_average()).expect("valid");
        for i in 0..20_000i64 {
            let r = 50_000 + if i % 2 == 0 { 10_000 } else { -10_000 };
            m.update(i * 20_000 + r, i * 20_000, r);
        }
        let t = m.target_us().expect("seen");
        // mean 50 ms, mean deviation about 10 ms: about 90 ms.
        assert!((80_000..=100_000).contains(&t), "target {t}");
    }

    #[test]
    fn rejects_bad_tuning() {
        assert!(
            DelayManager::new(DelayPolicy::Histogram(HistogramTuning {
                quantile: 1.5,
                ..HistogramTuning::parla()
            }))
            .is_err()
        );
    }
}
