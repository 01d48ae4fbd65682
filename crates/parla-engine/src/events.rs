//! [`CallEvent`]: what a call tells the app without being asked, through a bounded lock-free
//! queue the media thread fills and the app drains ([`Call::poll_event`](crate::Call::poll_event)).
//! A full queue drops its oldest event.

/// Authentication failures in one second at or above this count raise
/// [`CallEvent::AuthFailures`]: a few corrupted packets are normal on some links, a stream of
/// them means someone injects packets or the peer uses other keys.
pub const AUTH_FAILURE_EVENT_PER_SECOND: u64 = 10;

/// Events the queue holds before it drops the oldest.
pub const EVENT_QUEUE_LEN: usize = 32;

/// Something the app may want to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// `count` frames failed authentication in the last second (at least
    /// [`AUTH_FAILURE_EVENT_PER_SECOND`]): packets are being forged, altered or injected, or the
    /// peer encrypts with other keys. Raised at most once per second while it lasts.
    AuthFailures {
        /// Failures in that second.
        count: u64,
    },
    /// The peer's sending keys moved to `epoch` (it rotated; our receiver followed).
    PeerRotated {
        /// The peer's new epoch.
        epoch: u32,
    },
    /// The media thread's processing failed (a panic) and the run ended; the call's keys and
    /// stream state were kept: `stop` (which reports the failure) and `start` again.
    MediaFailed,
    /// Congestion control's bandwidth estimate moved by a fifth or more since the last such
    /// event (checked every tick; the estimate moves with feedback): the rate the call may
    /// send now.
    BandwidthEstimate {
        /// The estimate, bits per second.
        bps: u64,
    },
    /// The audio adaptation changed the encoder's settings (from the estimate and the
    /// measured loss).
    AudioAdapted {
        /// Opus bitrate, bits per second.
        bitrate_bps: u32,
        /// In-band FEC on.
        fec: bool,
        /// Audio per packet, ms.
        frame_ms: u32,
    },
}

/// The estimate must move by at least this share for a [`CallEvent::BandwidthEstimate`].
pub const BANDWIDTH_EVENT_CHANGE: f64 = 0.2;

/// Turns the media thread's counters into events, once per tick (no allocation).
#[derive(Debug, Default)]
pub(crate) struct EventWatch {
    ticks: u64,
    failures_at_window_start: u64,
    peer_epoch: u32,
}

impl EventWatch {
    /// Called every 10 ms tick with the current totals; returns the events to raise.
    pub(crate) fn tick(&mut self, auth_failures: u64, peer_epoch: u32) -> [Option<CallEvent>; 2] {
        // RT: arithmetic only.
        let mut out = [None, None];
        if peer_epoch != self.peer_epoch {
            self.peer_epoch = peer_epoch;
            out[0] = Some(CallEvent::PeerRotated { epoch: peer_epoch });
        }
        self.ticks += 1;
        if self.ticks.is_multiple_of(100) {
            let count = auth_failures.saturating_sub(self.failures_at_window_start);
            self.failures_at_window_start = auth_failures;
            if count >= AUTH_FAILURE_EVENT_PER_SECOND {
                out[1] = Some(CallEvent::AuthFailures { count });
            }
        }
        out
    }

    /// Starts from the totals a resumed core already has (no event for the past).
    pub(crate) fn start_at(auth_failures: u64, peer_epoch: u32) -> Self {
        EventWatch {
            ticks: 0,
            failures_at_window_start: auth_failures,
            peer_epoch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_and_failure_bursts_raise_events() {
        let mut w = EventWatch::start_at(0, 0);
        assert_eq!(w.tick(0, 0), [None, None]);
        assert_eq!(
            w.tick(0, 1),
            [Some(CallEvent::PeerRotated { epoch: 1 }), None]
        );
        // Ticks 3-101: 9 failures in the first second (evaluated at tick 100): no event.
        for t in 3..=101 {
            assert_eq!(w.tick(9, 1), [None, None], "tick {t}");
        }
        // 10 more by the end of the second second (tick 200): one event, then quiet.
        for t in 102..200 {
            assert_eq!(w.tick(19, 1), [None, None], "tick {t}");
        }
        assert_eq!(
            w.tick(19, 1),
            [None, Some(CallEvent::AuthFailures { count: 10 })]
        );
        for t in 201..=300 {
            assert_eq!(w.tick(19, 1), [None, None], "tick {t}");
        }
    }
}
