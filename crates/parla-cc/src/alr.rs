//! Application-limited region detection: the sender is sending well below the estimate (audio
//! only, a static screen), so the estimate is not being tested and must not be trusted to grow
//! by itself. A budget fills at 65% of the estimate and empties with each packet sent; when
//! more than 80% of it is unused the sender is application-limited, below 50% it is not.

const BUDGET_FRACTION: f64 = 0.65;
const WINDOW_US: f64 = 500_000.0;
const START_RATIO: f64 = 0.8;
const STOP_RATIO: f64 = 0.5;

/// The ALR detector.
#[derive(Debug, Clone)]
pub struct AlrDetector {
    budget_bytes: f64,
    rate_bps: f64,
    last_us: Option<i64>,
    alr_since_us: Option<i64>,
}

impl AlrDetector {
    /// A detector for an estimate of `estimate_bps`.
    pub fn new(estimate_bps: f64) -> Self {
        AlrDetector {
            budget_bytes: 0.0,
            rate_bps: estimate_bps * BUDGET_FRACTION,
            last_us: None,
            alr_since_us: None,
        }
    }

    fn max_bytes(&self) -> f64 {
        self.rate_bps * WINDOW_US / 8e6
    }

    /// The estimate changed.
    pub fn set_estimate(&mut self, estimate_bps: f64) {
        self.rate_bps = estimate_bps * BUDGET_FRACTION;
    }

    /// A packet of `size` bytes was sent at `now_us`.
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn on_sent(&mut self, size: u32, now_us: i64) {
        // RT: constant time.
        let last = *self.last_us.get_or_insert(now_us);
        let dt = ((now_us - last) as f64).clamp(0.0, 2_000_000.0);
        let max = self.max_bytes();
        self.budget_bytes = (self.budget_bytes + self.rate_bps * dt / 8e6).min(max);
        self.budget_bytes = (self.budget_bytes - f64::from(size)).max(-max);
        self.last_us = Some(now_us);
        let ratio = if max > 0.0 {
            self.budget_bytes / max
        } else {
            0.0
        };
        if ratio > START_RATIO && self.alr_since_us.is_none() {
            self.alr_since_us = Some(now_us);
        } else if ratio < STOP_RATIO {
            self.alr_since_us = None;
        }
    }

    /// Since when the sender has been application-limited, if it is.
    pub fn alr_since(&self) -> Option<i64> {
        self.alr_since_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_only_is_alr_full_rate_is_not() {
        let mut a = AlrDetector::new(1e6);
        // 100 bytes every 20 ms = 40 kbit/s against 650 kbit/s of budget.
        for i in 0..100 {
            a.on_sent(100, i * 20_000);
        }
        assert!(a.alr_since().is_some());
        // 1 Mbit/s: 1250 bytes every 10 ms.
        for i in 0..200 {
            a.on_sent(1250, 2_000_000 + i * 10_000);
        }
        assert!(a.alr_since().is_none());
    }
}
