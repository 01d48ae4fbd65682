//! Keyframe requests with a minimum interval.
//!
//! The same limiter serves both ends. The sender passes PLI/FIR requests through it before
//! forcing a keyframe, so a burst of requests (several receivers, or one receiver repeating its
//! request while the keyframe is in flight) costs one keyframe. The receiver passes its own
//! decisions through it before sending a PLI, with an interval of at least one round-trip time
//! (a keyframe asked for cannot arrive sooner). A request refused as too early is remembered and
//! granted by [`KeyframeLimiter::poll`] once the interval has passed, so no request is lost.

use std::time::Duration;

use parla_core::MediaTime;

/// Rate-limits keyframe requests; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct KeyframeLimiter {
    min_interval: Duration,
    last: Option<MediaTime>,
    pending: bool,
    granted: u64,
    deferred: u64,
    fir_seq: u8,
}

impl KeyframeLimiter {
    /// A limiter granting at most one request per `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        KeyframeLimiter {
            min_interval,
            last: None,
            pending: false,
            granted: 0,
            deferred: 0,
            fir_seq: 0,
        }
    }

    /// Changes the minimum interval (for example to follow the round-trip time).
    pub fn set_min_interval(&mut self, min_interval: Duration) {
        self.min_interval = min_interval;
    }

    /// The current minimum interval.
    pub fn min_interval(&self) -> Duration {
        self.min_interval
    }

    /// Asks for a keyframe at `now`: `true` if it should be produced (sender) or requested
    /// (receiver) now; `false` if it is deferred until [`poll`](Self::poll) grants it.
    pub fn request(&mut self, now: MediaTime) -> bool {
        if self.allowed(now) {
            self.grant(now);
            true
        } else {
            if !self.pending {
                self.deferred += 1;
            }
            self.pending = true;
            false
        }
    }

    /// Grants a deferred request once the interval has passed; call from the timer.
    pub fn poll(&mut self, now: MediaTime) -> bool {
        if self.pending && self.allowed(now) {
            self.grant(now);
            true
        } else {
            false
        }
    }

    /// Records a keyframe that happened without a request (a periodic one, or a keyframe that
    /// arrived at the receiver): it satisfies any deferred request and restarts the interval.
    pub fn keyframe_seen(&mut self, now: MediaTime) {
        self.pending = false;
        self.last = Some(now);
    }

    /// Whether a deferred request is waiting.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Requests granted so far.
    pub fn granted(&self) -> u64 {
        self.granted
    }

    /// Requests deferred so far (each deferral counted once until granted).
    pub fn deferred(&self) -> u64 {
        self.deferred
    }

    /// The command sequence number for the FIR of the request just granted (RFC 5104 4.3.1.2:
    /// incremented for each new request, not for repetitions).
    pub fn fir_seq(&self) -> u8 {
        self.fir_seq
    }

    fn allowed(&self, now: MediaTime) -> bool {
        self.last
            .is_none_or(|l| now.saturating_since(l) >= self.min_interval)
    }

    fn grant(&mut self, now: MediaTime) {
        self.pending = false;
        self.last = Some(now);
        self.granted += 1;
        self.fir_seq = self.fir_seq.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_collapse_and_deferred_requests_are_granted() {
        let mut k = KeyframeLimiter::new(Duration::from_millis(300));
        let t = |ms| MediaTime::from_millis(ms);
        assert!(k.request(t(1000)));
        assert_eq!(k.fir_seq(), 1);
        assert!(!k.request(t(1100)));
        assert!(!k.request(t(1200)));
        assert!(!k.poll(t(1299)));
        assert!(k.poll(t(1300)));
        assert!(!k.poll(t(1700)), "granted once");
        assert_eq!((k.granted(), k.deferred(), k.fir_seq()), (2, 1, 2));
        // A keyframe seen meanwhile satisfies a deferred request.
        assert!(!k.request(t(1400)));
        k.keyframe_seen(t(1450));
        assert!(!k.poll(t(2000)));
        assert!(!k.request(t(1500)));
        assert!(k.request(t(1750)));
    }
}
