//! Device events: what cpal's error callback reports, as small `Copy` values on a bounded
//! [`MessageQueue`] that the control side polls.
//!
//! # Real-time safety
//! The error callback runs on the device's thread. It maps cpal's error kind to a
//! [`DeviceEventKind`] and pushes a `Copy` event on a preallocated lock-free queue: no allocation,
//! lock, syscall or logging of ours (cpal frees its own error value when the callback returns).
//! When the queue is full the oldest event is dropped and counted (`MessageQueue::stats`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parla_core::queue::MessageQueue;

/// Capture (microphone) or playout (speaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Audio from a device into Parla.
    Capture,
    /// Audio from Parla to a device.
    Playout,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Capture => "capture",
            Direction::Playout => "playout",
        })
    }
}

/// What happened to a device stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceEventKind {
    /// The device under- or overran; the host restarted it and the stream goes on.
    Xrun,
    /// The device is gone (unplugged, driver reset). The stream has stopped: call `recover`.
    Disconnected,
    /// The stream's configuration is no longer valid. The stream has stopped: call `recover`.
    Invalidated,
    /// The host moved the stream to another device by itself (it goes on; the format may have
    /// changed, so check `format()`).
    Rerouted,
    /// The host refused real-time priority for the callback thread (glitches are likelier).
    RealtimeDenied,
    /// The callback was handed samples of a format other than the one opened (a host bug); the
    /// period was skipped (for playout: left as the host filled it).
    FormatMismatch,
    /// Any other host error; the stream may go on.
    Other,
    /// Sent by the control side: the stream was opened on the default device because the
    /// selected one could not be opened.
    FellBackToDefault,
    /// Sent by the control side: `recover` opened a new stream on the same ring.
    Recovered,
}

impl DeviceEventKind {
    /// Whether the stream is dead and must be reopened with `recover`.
    pub fn needs_recovery(self) -> bool {
        matches!(
            self,
            DeviceEventKind::Disconnected | DeviceEventKind::Invalidated
        )
    }

    /// The event kind for an error cpal reported.
    pub fn from_cpal(kind: cpal::ErrorKind) -> Self {
        match kind {
            cpal::ErrorKind::Xrun => DeviceEventKind::Xrun,
            cpal::ErrorKind::DeviceNotAvailable => DeviceEventKind::Disconnected,
            cpal::ErrorKind::StreamInvalidated => DeviceEventKind::Invalidated,
            cpal::ErrorKind::DeviceChanged => DeviceEventKind::Rerouted,
            cpal::ErrorKind::RealtimeDenied => DeviceEventKind::RealtimeDenied,
            _ => DeviceEventKind::Other,
        }
    }
}

/// One device event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceEvent {
    /// Which stream it concerns.
    pub direction: Direction,
    /// What happened.
    pub kind: DeviceEventKind,
}

/// The queue a stream reports its events on. Cloning shares it.
pub type EventQueue = MessageQueue<DeviceEvent>;

/// The state the error callback shares with the control side.
#[derive(Debug)]
pub(crate) struct EventSink {
    pub(crate) direction: Direction,
    pub(crate) queue: EventQueue,
    /// Set when an event that needs recovery was reported; cleared by a successful recovery.
    pub(crate) lost: Arc<AtomicBool>,
}

impl EventSink {
    /// Reports `kind`.
    ///
    /// # Real-time safety
    /// Lock-free push of a `Copy` value; no allocation.
    pub(crate) fn report(&self, kind: DeviceEventKind) {
        // RT: an atomic store and a lock-free push of a Copy value.
        if kind.needs_recovery() {
            self.lost.store(true, Ordering::Release);
        }
        // A displaced (oldest) event is a Copy value: dropping it frees nothing.
        let _ = self.queue.push(DeviceEvent {
            direction: self.direction,
            kind,
        });
    }

    /// The closure handed to cpal as the stream's error callback.
    pub(crate) fn error_callback(
        self,
        stats: Arc<crate::stream::CallbackStats>,
    ) -> impl FnMut(cpal::Error) + Send + 'static {
        move |err: cpal::Error| {
            // RT: runs on the device thread; maps and pushes, nothing else.
            stats.count(|| self.report(DeviceEventKind::from_cpal(err.kind())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::CallbackStats;

    #[test]
    fn error_callback_reports_cpal_errors_as_events_and_marks_lost_streams() {
        let queue = EventQueue::new(2);
        let lost = Arc::new(AtomicBool::new(false));
        let sink = EventSink {
            direction: Direction::Capture,
            queue: queue.clone(),
            lost: Arc::clone(&lost),
        };
        let mut cb = sink.error_callback(Arc::new(CallbackStats::default()));
        cb(cpal::Error::new(cpal::ErrorKind::Xrun));
        assert!(!lost.load(Ordering::Acquire));
        cb(cpal::Error::with_message(
            cpal::ErrorKind::DeviceNotAvailable,
            "Device disconnected",
        ));
        assert!(lost.load(Ordering::Acquire));
        let e = |kind| DeviceEvent {
            direction: Direction::Capture,
            kind,
        };
        assert_eq!(queue.pop(), Some(e(DeviceEventKind::Xrun)));
        assert_eq!(queue.pop(), Some(e(DeviceEventKind::Disconnected)));
        // A full queue drops the oldest event and counts it.
        for _ in 0..3 {
            cb(cpal::Error::new(cpal::ErrorKind::StreamInvalidated));
        }
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.stats().dropped, 1);
    }

    #[test]
    fn kinds_that_stop_the_stream_need_recovery() {
        use cpal::ErrorKind as K;
        let map = |k| DeviceEventKind::from_cpal(k);
        assert!(map(K::DeviceNotAvailable).needs_recovery());
        assert!(map(K::StreamInvalidated).needs_recovery());
        for k in [
            K::Xrun,
            K::DeviceChanged,
            K::RealtimeDenied,
            K::BackendError,
            K::DeviceBusy,
        ] {
            assert!(!map(k).needs_recovery(), "{k:?}");
        }
        assert_eq!(map(K::DeviceChanged), DeviceEventKind::Rerouted);
    }
}
