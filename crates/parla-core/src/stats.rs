//! An allocation-free latency histogram for per-stage CPU timing on the real-time path.
//!
//! Log-linear buckets (64 per power of two, so about 1.6% resolution) from 1 ns to about 18 minutes
//! in a fixed array: recording is a few integer operations and never allocates. Quantiles
//! (median, p99, p99.9) are read on the control side.

use std::time::Duration;

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
const MAX_EXP: u32 = 40;
const BUCKETS: usize = SUB + (MAX_EXP - SUB_BITS + 1) as usize * SUB;

/// A histogram of durations.
#[derive(Clone)]
pub struct LatencyHistogram {
    counts: Box<[u32; BUCKETS]>,
    total: u64,
    sum_ns: u128,
    max_ns: u64,
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.total)
            .field("median", &self.quantile(0.5))
            .field("max", &self.max())
            .finish()
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let exp = (63 - ns.leading_zeros()).min(MAX_EXP);
    let sub = ((ns >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    SUB + (exp - SUB_BITS) as usize * SUB + sub
}

fn bucket_low(b: usize) -> u64 {
    if b < SUB {
        return b as u64;
    }
    let exp = (b - SUB) / SUB + SUB_BITS as usize;
    let sub = (b - SUB) % SUB;
    ((SUB + sub) as u64) << (exp - SUB_BITS as usize)
}

impl LatencyHistogram {
    /// An empty histogram (allocates its bucket array once, here).
    pub fn new() -> Self {
        LatencyHistogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }

    /// Record one duration.
    ///
    /// # Real-time safety
    /// No allocation, no lock, no syscall.
    pub fn record(&mut self, d: Duration) {
        // RT: integer arithmetic on a preallocated array.
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let b = bucket_of(ns).min(BUCKETS - 1);
        self.counts[b] = self.counts[b].saturating_add(1);
        self.total += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Number of recorded durations.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q`-quantile (`q` in `[0, 1]`), as the lower edge of its bucket; zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Duration::from_nanos(bucket_low(b).min(self.max_ns));
            }
        }
        Duration::from_nanos(self.max_ns)
    }

    /// The mean duration; zero when empty.
    pub fn mean(&self) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((self.sum_ns / u128::from(self.total)) as u64)
    }

    /// The largest recorded duration.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    /// The sum of all recorded durations.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(u64::try_from(self.sum_ns).unwrap_or(u64::MAX))
    }

    /// Forget everything recorded.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
        self.sum_ns = 0;
        self.max_ns = 0;
    }

    /// Add another histogram's counts to this one.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.total += other.total;
        self.sum_ns += other.sum_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut prev = 0;
        for ns in [
            0u64,
            1,
            63,
            64,
            65,
            100,
            1_000,
            12_345,
            1_000_000,
            987_654_321,
        ] {
            let b = bucket_of(ns);
            assert!(b >= prev);
            prev = b;
            let low = bucket_low(b);
            assert!(low <= ns, "{ns}: low {low}");
            assert!(ns - low <= ns / 64 + 1, "{ns}: low {low}");
        }
    }

    #[test]
    fn quantiles_of_a_uniform_spread() {
        let mut h = LatencyHistogram::new();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let med = h.quantile(0.5).as_secs_f64() * 1e6;
        assert!((med - 500.0).abs() < 10.0, "median {med}");
        let p99 = h.quantile(0.99).as_secs_f64() * 1e6;
        assert!((p99 - 990.0).abs() < 20.0, "p99 {p99}");
        assert_eq!(h.max(), Duration::from_micros(1000));
        assert_eq!(h.count(), 1000);
        let mean = h.mean().as_secs_f64() * 1e6;
        assert!((mean - 500.5).abs() < 0.01);
        let mut g = LatencyHistogram::new();
        g.merge(&h);
        assert_eq!(g.quantile(0.5), h.quantile(0.5));
        g.clear();
        assert_eq!(g.count(), 0);
        assert_eq!(g.quantile(0.5), Duration::ZERO);
    }
}
