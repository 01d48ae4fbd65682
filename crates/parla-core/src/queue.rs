//! Lock-free hand-offs between threads, with documented full and empty policies (STYLE.md R4, R6).
//!
//! Two kinds, chosen for what each carries:
//! - [`sample_ring`]: a single-producer single-consumer ring of `f32` samples between a device
//!   callback and the media thread, built on `rtrb` (wait-free, bounded, and it reads and writes
//!   whole slices, which a queue of single elements cannot do cheaply).
//! - [`MessageQueue`]: a bounded queue of messages (control commands, frames, packets) built on
//!   `crossbeam_queue::ArrayQueue`, whose `force_push` lets the producer drop the oldest entry
//!   when full without waiting.
//!
//! Policies:
//! - `MessageQueue` when full: the oldest message is dropped, returned to the producer, and
//!   counted in [`QueueStats::dropped`]. The newest data wins, which bounds latency.
//! - Sample ring when full: in an SPSC ring only the consumer may advance the read position, so
//!   the producer cannot drop the oldest samples; it writes what fits and counts the rest as
//!   overrun ([`QueueStats::dropped`], in samples). The consumer bounds latency itself with
//!   [`SampleConsumer::skip_to_latest`].
//! - Sample ring when empty: the consumer fills the missing part with silence and counts it as
//!   underrun ([`QueueStats::underrun`], in samples).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

/// Counters shared by both ends of a queue. All relaxed atomics: safe to read from any thread.
#[derive(Debug, Default)]
pub struct QueueCounters {
    pushed: AtomicU64,
    dropped: AtomicU64,
    underrun: AtomicU64,
}

/// A snapshot of a queue's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Items (messages or samples) offered by the producer.
    pub pushed: u64,
    /// Items dropped because the queue was full.
    pub dropped: u64,
    /// Items the consumer asked for but the queue did not have (samples only).
    pub underrun: u64,
}

impl QueueCounters {
    fn snapshot(&self) -> QueueStats {
        QueueStats {
            pushed: self.pushed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            underrun: self.underrun.load(Ordering::Relaxed),
        }
    }
}

/// A bounded multi-producer multi-consumer message queue that drops the oldest message when full.
///
/// Cloning shares the same queue.
///
/// # Real-time safety
/// `push` and `pop` never block, lock or allocate. A message dropped by `push` is handed back
/// to the caller, so a real-time producer can pass it to a collector instead of freeing it.
#[derive(Debug)]
pub struct MessageQueue<T> {
    inner: Arc<(ArrayQueue<T>, QueueCounters)>,
}

impl<T> Clone for MessageQueue<T> {
    fn clone(&self) -> Self {
        MessageQueue {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> MessageQueue<T> {
    /// A queue holding at most `capacity` messages (at least one).
    pub fn new(capacity: usize) -> Self {
        MessageQueue {
            inner: Arc::new((ArrayQueue::new(capacity.max(1)), QueueCounters::default())),
        }
    }

    /// Push `msg`. If the queue was full, the oldest message is removed, counted as dropped and
    /// returned.
    pub fn push(&self, msg: T) -> Option<T> {
        // RT: lock-free, no allocation.
        let (q, c) = &*self.inner;
        c.pushed.fetch_add(1, Ordering::Relaxed);
        let displaced = q.force_push(msg);
        if displaced.is_some() {
            c.dropped.fetch_add(1, Ordering::Relaxed);
        }
        displaced
    }

    /// Push `msg` unless the queue is full; a full queue hands `msg` back unchanged (nothing
    /// is dropped). For control messages, whose sender must know whether they were delivered.
    ///
    /// # Errors
    /// `Err(msg)` when the queue is full.
    pub fn try_push(&self, msg: T) -> Result<(), T> {
        // RT: lock-free, no allocation.
        let (q, c) = &*self.inner;
        q.push(msg)?;
        c.pushed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Take the oldest message, if any.
    pub fn pop(&self) -> Option<T> {
        // RT: lock-free, no allocation.
        self.inner.0.pop()
    }

    /// Messages waiting now.
    pub fn len(&self) -> usize {
        self.inner.0.len()
    }

    /// Whether no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.inner.0.is_empty()
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.inner.0.capacity()
    }

    /// The counters so far.
    pub fn stats(&self) -> QueueStats {
        self.inner.1.snapshot()
    }
}

/// Create a sample ring holding at most `capacity` samples; returns its two ends.
pub fn sample_ring(capacity: usize) -> (SampleProducer, SampleConsumer) {
    let (p, c) = rtrb::RingBuffer::new(capacity.max(1));
    let counters = Arc::new(QueueCounters::default());
    (
        SampleProducer {
            inner: p,
            counters: Arc::clone(&counters),
        },
        SampleConsumer { inner: c, counters },
    )
}

/// The writing end of a sample ring. Owned by exactly one thread at a time.
#[derive(Debug)]
pub struct SampleProducer {
    inner: rtrb::Producer<f32>,
    counters: Arc<QueueCounters>,
}

impl SampleProducer {
    /// Write as many of `samples` as fit; the rest are counted as dropped. Returns how many were
    /// written.
    ///
    /// # Real-time safety
    /// Wait-free: no lock, no allocation, no syscall.
    pub fn write(&mut self, samples: &[f32]) -> usize {
        // RT: wait-free copy into the ring.
        self.counters
            .pushed
            .fetch_add(samples.len() as u64, Ordering::Relaxed);
        let n = samples.len().min(self.inner.slots());
        if let Ok(mut chunk) = self.inner.write_chunk(n) {
            let (a, b) = chunk.as_mut_slices();
            a.copy_from_slice(&samples[..a.len()]);
            b.copy_from_slice(&samples[a.len()..a.len() + b.len()]);
            chunk.commit_all();
        }
        let dropped = samples.len() - n;
        if dropped > 0 {
            self.counters
                .dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        n
    }

    /// Free space in samples.
    pub fn free(&self) -> usize {
        self.inner.slots()
    }

    /// The counters so far.
    pub fn stats(&self) -> QueueStats {
        self.counters.snapshot()
    }
}

/// The reading end of a sample ring. Owned by exactly one thread at a time.
#[derive(Debug)]
pub struct SampleConsumer {
    inner: rtrb::Consumer<f32>,
    counters: Arc<QueueCounters>,
}

impl SampleConsumer {
    /// Fill `out` from the ring; what the ring lacks is filled with silence and counted as
    /// underrun. Returns how many samples came from the ring.
    ///
    /// # Real-time safety
    /// Wait-free: no lock, no allocation, no syscall.
    pub fn read(&mut self, out: &mut [f32]) -> usize {
        // RT: wait-free copy out of the ring.
        let n = self.read_available(out);
        if n < out.len() {
            out[n..].fill(0.0);
            self.counters
                .underrun
                .fetch_add((out.len() - n) as u64, Ordering::Relaxed);
        }
        n
    }

    /// Copy up to `out.len()` available samples into `out` without padding; returns the count.
    ///
    /// # Real-time safety
    /// Wait-free.
    pub fn read_available(&mut self, out: &mut [f32]) -> usize {
        // RT: wait-free copy out of the ring.
        let n = out.len().min(self.inner.slots());
        if let Ok(chunk) = self.inner.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            out[..a.len()].copy_from_slice(a);
            out[a.len()..a.len() + b.len()].copy_from_slice(b);
            chunk.commit_all();
        }
        n
    }

    /// Samples waiting.
    pub fn available(&self) -> usize {
        self.inner.slots()
    }

    /// Discard the oldest samples so that at most `keep` remain; the discarded ones are counted
    /// as dropped. Returns how many were discarded. This is how the consumer keeps latency
    /// bounded after the producer ran ahead.
    ///
    /// # Real-time safety
    /// Wait-free.
    pub fn skip_to_latest(&mut self, keep: usize) -> usize {
        // RT: wait-free index move.
        let avail = self.inner.slots();
        if avail <= keep {
            return 0;
        }
        let skip = avail - keep;
        if let Ok(chunk) = self.inner.read_chunk(skip) {
            chunk.commit_all();
        }
        self.counters
            .dropped
            .fetch_add(skip as u64, Ordering::Relaxed);
        skip
    }

    /// The counters so far.
    pub fn stats(&self) -> QueueStats {
        self.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_queue_drops_oldest_and_counts() {
        let q = MessageQueue::new(2);
        assert_eq!(q.push(1), None);
        assert_eq!(q.push(2), None);
        assert_eq!(q.push(3), Some(1));
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.pop(), None);
        let s = q.stats();
        assert_eq!((s.pushed, s.dropped), (3, 1));
    }

    #[test]
    fn sample_ring_overrun_and_underrun_are_counted() {
        let (mut p, mut c) = sample_ring(4);
        assert_eq!(p.write(&[1.0, 2.0, 3.0]), 3);
        assert_eq!(p.write(&[4.0, 5.0, 6.0]), 1);
        let mut out = [9.0; 6];
        assert_eq!(c.read(&mut out), 4);
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 0.0, 0.0]);
        let s = c.stats();
        assert_eq!((s.pushed, s.dropped, s.underrun), (6, 2, 2));
    }

    #[test]
    fn sample_ring_wraps_and_skips() {
        let (mut p, mut c) = sample_ring(5);
        let mut out = [0.0; 3];
        for round in 0..10 {
            let base = round as f32 * 3.0;
            assert_eq!(p.write(&[base, base + 1.0, base + 2.0]), 3);
            assert_eq!(c.read(&mut out), 3);
            assert_eq!(out, [base, base + 1.0, base + 2.0]);
        }
        p.write(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(c.skip_to_latest(2), 3);
        let mut two = [0.0; 2];
        c.read(&mut two);
        assert_eq!(two, [4.0, 5.0]);
    }

    #[test]
    fn sample_ring_across_threads_keeps_order() {
        let (mut p, mut c) = sample_ring(64);
        let n = 100_000usize;
        let writer = std::thread::spawn(move || {
            let mut i = 0usize;
            while i < n {
                let end = (i + 7).min(n);
                let chunk: Vec<f32> = (i..end).map(|v| v as f32).collect();
                let mut off = 0;
                while off < chunk.len() {
                    off += p.write(&chunk[off..]).min(chunk.len() - off);
                    if off < chunk.len() {
                        std::thread::yield_now();
                    }
                }
                i = end;
            }
        });
        let mut next = 0usize;
        let mut buf = [0.0f32; 16];
        while next < n {
            let got = c.read_available(&mut buf);
            for &v in &buf[..got] {
                assert_eq!(v as usize, next);
                next += 1;
            }
            if got == 0 {
                std::thread::yield_now();
            }
        }
        writer.join().unwrap();
    }
}
