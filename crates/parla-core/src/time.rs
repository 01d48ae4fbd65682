//! Media time: the clock that sans-IO components are driven by (STYLE.md S1, R7).

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in media time, in microseconds since an arbitrary epoch chosen by whoever drives the
/// component (a device callback's frame counter, a simulated clock, a packet's arrival time).
///
/// Components never read a clock themselves: the time is passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MediaTime(u64);

impl MediaTime {
    /// The epoch.
    pub const ZERO: MediaTime = MediaTime(0);

    /// A time `us` microseconds after the epoch.
    pub const fn from_micros(us: u64) -> Self {
        MediaTime(us)
    }

    /// A time `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        MediaTime(ms.saturating_mul(1000))
    }

    /// The time of sample `n` of a stream at `rate` Hz that started at the epoch.
    /// Returns [`MediaTime::ZERO`] for a zero rate.
    pub const fn from_samples(n: u64, rate: u32) -> Self {
        if rate == 0 {
            return MediaTime::ZERO;
        }
        MediaTime(((n as u128 * 1_000_000) / rate as u128) as u64)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Milliseconds since the epoch, as a float.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: MediaTime) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for MediaTime {
    type Output = MediaTime;
    fn add(self, rhs: Duration) -> MediaTime {
        MediaTime(self.0.saturating_add(rhs.as_micros() as u64))
    }
}

impl Sub<Duration> for MediaTime {
    type Output = MediaTime;
    fn sub(self, rhs: Duration) -> MediaTime {
        MediaTime(self.0.saturating_sub(rhs.as_micros() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_to_time() {
        assert_eq!(
            MediaTime::from_samples(480, 48_000),
            MediaTime::from_millis(10)
        );
        assert_eq!(
            MediaTime::from_samples(441, 44_100),
            MediaTime::from_millis(10)
        );
        assert_eq!(MediaTime::from_samples(1, 0), MediaTime::ZERO);
    }

    #[test]
    fn arithmetic_saturates() {
        let t = MediaTime::from_millis(5);
        assert_eq!(t - Duration::from_millis(10), MediaTime::ZERO);
        assert_eq!(
            (t + Duration::from_millis(10)).saturating_since(t),
            Duration::from_millis(10)
        );
        assert_eq!(
            t.saturating_since(MediaTime::from_millis(9)),
            Duration::ZERO
        );
    }
}
