//! The video frame buffer: complete frames in, decodable frames out in order, each with the time
//! to render it.
//!
//! **Reference tracking.** Parla sends H.264 Constrained Baseline and VP8 without temporal
//! layers, so every delta frame references the frame before it. A frame is decodable when it is a
//! keyframe, or when it directly follows (in sequence numbers) a frame that was decodable. A frame
//! after a gap cannot be decoded until the next keyframe: it is dropped, and the buffer reports
//! that a keyframe is needed.
//!
//! **Render time.** The RTP timestamp is mapped to local time with the smallest offset
//! `arrival - timestamp` seen (the frame that came fastest), which rises slowly (0.1 ms per frame)
//! so a longer path is followed. The render time is that mapped time plus the target delay
//! (jitter estimate + decode time + render delay, given by the caller). A frame is released for
//! decoding at its render time minus decode time and render delay.
//!
//! **Skipping.** When a keyframe is already due while older frames are still waiting (the
//! receiver fell behind, for example after a stall), the older frames are dropped and decoding
//! resumes at the keyframe. When the buffer is full, a delta frame is dropped (and the chain
//! broken); a keyframe clears the buffer and is kept.
//!
//! Frames are copied into slots allocated at construction: no allocation per frame.

use std::time::Duration;

use parla_core::{ConfigError, MediaTime};
use parla_rtp::payload::assembler::AssembledFrame;
use parla_rtp::rtp::TimestampUnwrapper;

/// Settings of a [`FrameBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameBufferConfig {
    /// Frames held at most.
    pub slots: usize,
    /// Largest frame held, bytes.
    pub max_frame_bytes: usize,
    /// RTP clock rate (90 kHz for video).
    pub clock_rate: u32,
    /// Time the decoder needs per frame.
    pub decode_time: Duration,
    /// Time from decoded to displayed.
    pub render_delay: Duration,
}

impl Default for FrameBufferConfig {
    fn default() -> Self {
        FrameBufferConfig {
            slots: 32,
            max_frame_bytes: 1 << 20,
            clock_rate: 90_000,
            decode_time: Duration::from_millis(10),
            render_delay: Duration::from_millis(10),
        }
    }
}

/// What [`FrameBuffer::insert`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameInsert {
    /// Held until it is due.
    Queued,
    /// Dropped: it follows a gap and is not a keyframe (a keyframe is needed).
    NotDecodable,
    /// Dropped: the buffer was full (a keyframe is needed).
    Full,
    /// Dropped: larger than `max_frame_bytes`.
    TooLarge,
    /// Dropped: not newer than the frames already held or released.
    Old,
}

/// A frame released for decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyFrame<'a> {
    /// The frame's bytes (Annex B for H.264, the VP8 frame for VP8).
    pub data: &'a [u8],
    /// RTP timestamp.
    pub timestamp: u32,
    /// Whether it is a keyframe.
    pub keyframe: bool,
    /// Unwrapped sequence number of its first packet.
    pub first_seq: u64,
    /// Unwrapped sequence number of its last packet.
    pub last_seq: u64,
    /// When it completed (its last packet arrived).
    pub completed_at: MediaTime,
    /// When it should be displayed.
    pub render_time: MediaTime,
}

/// Counters of a [`FrameBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameBufferStats {
    /// Frames inserted.
    pub inserted: u64,
    /// Frames released for decoding.
    pub released: u64,
    /// Frames dropped as not decodable (after a gap).
    pub not_decodable: u64,
    /// Frames dropped because the buffer was full or they were too large or old.
    pub rejected: u64,
    /// Frames skipped to jump to a due keyframe.
    pub skipped: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    data: Vec<u8>,
    timestamp: u32,
    keyframe: bool,
    first_seq: u64,
    last_seq: u64,
    completed_at: MediaTime,
    render_time: MediaTime,
}

/// The frame buffer; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct FrameBuffer {
    cfg: FrameBufferConfig,
    slots: Vec<Slot>,
    head: usize,
    len: usize,
    /// Last sequence number of the newest frame accepted (or dropped as not decodable).
    last_seq: Option<u64>,
    chain_ok: bool,
    ts: TimestampUnwrapper,
    /// Smallest `arrival - timestamp` seen, microseconds (signed: the clocks are unrelated).
    offset_us: Option<i64>,
    last_render: MediaTime,
    stats: FrameBufferStats,
}

impl FrameBuffer {
    /// A buffer allocating its slots now.
    ///
    /// # Errors
    /// [`ConfigError::InvalidParameter`] for zero sizes or clock rate.
    pub fn new(cfg: FrameBufferConfig) -> Result<Self, ConfigError> {
        if cfg.slots == 0 || cfg.max_frame_bytes == 0 || cfg.clock_rate == 0 {
            return Err(ConfigError::InvalidParameter {
                name: "slots/max_frame_bytes/clock_rate",
                detail: "must be positive".into(),
            });
        }
        let slot = Slot {
            data: Vec::new(),
            timestamp: 0,
            keyframe: false,
            first_seq: 0,
            last_seq: 0,
            completed_at: MediaTime::ZERO,
            render_time: MediaTime::ZERO,
        };
        let mut slots = vec![slot; cfg.slots];
        for s in &mut slots {
            s.data = Vec::with_capacity(cfg.max_frame_bytes);
        }
        Ok(FrameBuffer {
            cfg,
            slots,
            head: 0,
            len: 0,
            last_seq: None,
            chain_ok: false,
            ts: TimestampUnwrapper::default(),
            offset_us: None,
            last_render: MediaTime::ZERO,
            stats: FrameBufferStats::default(),
        })
    }

    /// Marks the reference chain broken (frames were lost before reaching the buffer): delta
    /// frames are dropped until the next keyframe.
    pub fn break_chain(&mut self) {
        self.chain_ok = false;
    }

    /// Whether the buffer waits for a keyframe (the chain is broken).
    pub fn needs_keyframe(&self) -> bool {
        !self.chain_ok
    }

    /// Inserts a complete frame that completed at `now`; `target_delay` is the delay to add
    /// between the frame's earliest possible arrival and its render time (jitter + decode +
    /// render).
    ///
    /// # Real-time safety
    /// Copies into a preallocated slot; no allocation.
    pub fn insert(
        &mut self,
        frame: &AssembledFrame<'_>,
        now: MediaTime,
        target_delay: Duration,
    ) -> FrameInsert {
        if self.last_seq.is_some_and(|l| frame.first_seq <= l) {
            self.stats.rejected += 1;
            return FrameInsert::Old;
        }
        if frame.data.len() > self.cfg.max_frame_bytes {
            self.stats.rejected += 1;
            self.last_seq = Some(frame.last_seq);
            self.chain_ok = false;
            return FrameInsert::TooLarge;
        }
        let follows = self.last_seq.is_some_and(|l| frame.first_seq == l + 1);
        self.last_seq = Some(frame.last_seq);
        let decodable = frame.keyframe || (self.chain_ok && follows);
        if !decodable {
            self.chain_ok = false;
            self.stats.not_decodable += 1;
            return FrameInsert::NotDecodable;
        }
        if self.len == self.slots.len() {
            if frame.keyframe {
                self.stats.skipped += self.len as u64;
                self.len = 0;
            } else {
                self.chain_ok = false;
                self.stats.rejected += 1;
                return FrameInsert::Full;
            }
        }
        self.chain_ok = true;
        // Timestamp to local time.
        let ts_us = (self.ts.unwrap(frame.timestamp) as u128 * 1_000_000
            / u128::from(self.cfg.clock_rate)) as i64;
        let sample = now.as_micros() as i64 - ts_us;
        let offset = match self.offset_us {
            Some(o) => (o + 100).min(sample),
            None => sample,
        };
        self.offset_us = Some(offset);
        let local = MediaTime::from_micros((ts_us + offset).max(0) as u64);
        let render_time = (local + target_delay).max(self.last_render);
        self.last_render = render_time;

        let i = (self.head + self.len) % self.slots.len();
        let s = &mut self.slots[i];
        s.data.clear();
        s.data.extend_from_slice(frame.data);
        s.timestamp = frame.timestamp;
        s.keyframe = frame.keyframe;
        s.first_seq = frame.first_seq;
        s.last_seq = frame.last_seq;
        s.completed_at = now;
        s.render_time = render_time;
        self.len += 1;
        self.stats.inserted += 1;
        FrameInsert::Queued
    }

    fn release_at(&self, s: &Slot) -> MediaTime {
        s.render_time - (self.cfg.decode_time + self.cfg.render_delay)
    }

    /// The next frame due for decoding at `now`, in order; skips to a keyframe that is due
    /// while older frames wait.
    ///
    /// # Real-time safety
    /// No allocation.
    pub fn pop(&mut self, now: MediaTime) -> Option<ReadyFrame<'_>> {
        // The newest due keyframe, if any: everything before it is skipped.
        let n = self.slots.len();
        let mut skip_to = None;
        for k in 1..self.len {
            let s = &self.slots[(self.head + k) % n];
            if s.keyframe && self.release_at(s) <= now {
                skip_to = Some(k);
            }
        }
        if let Some(k) = skip_to {
            self.head = (self.head + k) % n;
            self.len -= k;
            self.stats.skipped += k as u64;
        }
        if self.len == 0 || self.release_at(&self.slots[self.head]) > now {
            return None;
        }
        let i = self.head;
        self.head = (self.head + 1) % n;
        self.len -= 1;
        self.stats.released += 1;
        let s = &self.slots[i];
        Some(ReadyFrame {
            data: &s.data,
            timestamp: s.timestamp,
            keyframe: s.keyframe,
            first_seq: s.first_seq,
            last_seq: s.last_seq,
            completed_at: s.completed_at,
            render_time: s.render_time,
        })
    }

    /// When the next held frame becomes due, if any.
    pub fn next_due(&self) -> Option<MediaTime> {
        (self.len > 0).then(|| self.release_at(&self.slots[self.head]))
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The counters.
    pub fn stats(&self) -> FrameBufferStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ts: u32, first: u64, last: u64, key: bool, data: &[u8]) -> AssembledFrame<'_> {
        AssembledFrame {
            timestamp: ts,
            first_seq: first,
            last_seq: last,
            keyframe: key,
            decodable: true,
            data,
        }
    }

    #[test]
    fn order_references_render_time_and_skipping() {
        let cfg = FrameBufferConfig {
            slots: 4,
            ..FrameBufferConfig::default()
        };
        let mut b = FrameBuffer::new(cfg).unwrap();
        let t = |ms| MediaTime::from_millis(ms);
        let d = Duration::from_millis(50);
        let ins = |b: &mut FrameBuffer, f: AssembledFrame<'_>, now| b.insert(&f, now, d);
        // A delta frame before any keyframe cannot be decoded.
        assert_eq!(
            ins(&mut b, frame(0, 1, 1, false, b"a"), t(1000)),
            FrameInsert::NotDecodable
        );
        assert!(b.needs_keyframe());
        assert_eq!(
            ins(&mut b, frame(3000, 2, 3, true, b"K"), t(1033)),
            FrameInsert::Queued
        );
        // 10 ms late: the offset stays at the first frame's (+0.1 ms).
        assert_eq!(
            ins(&mut b, frame(6000, 4, 4, false, b"b"), t(1076)),
            FrameInsert::Queued
        );
        // Render time: arrival of K + 50 ms; released 20 ms (decode + render) before.
        assert_eq!(b.next_due(), Some(t(1063)));
        assert!(b.pop(t(1062)).is_none());
        let f = b.pop(t(1063)).unwrap();
        assert_eq!((f.data, f.render_time), (&b"K"[..], t(1083)));
        let f = b.pop(t(1100)).unwrap();
        assert_eq!(f.data, b"b");
        assert_eq!(f.render_time, MediaTime::from_micros(1_116_433));
        // A gap (seq 5 missing): the next delta frame is dropped, a keyframe is needed.
        assert_eq!(
            ins(&mut b, frame(9000, 6, 6, false, b"c"), t(1110)),
            FrameInsert::NotDecodable
        );
        assert_eq!(
            ins(&mut b, frame(12000, 7, 7, false, b"d"), t(1140)),
            FrameInsert::NotDecodable
        );
        assert_eq!(
            ins(&mut b, frame(3000, 3, 3, true, b"x"), t(1150)),
            FrameInsert::Old
        );
        assert_eq!(
            ins(&mut b, frame(15000, 8, 8, true, b"K2"), t(1170)),
            FrameInsert::Queued
        );
        assert!(!b.needs_keyframe());
        // Frames waiting behind a due keyframe are skipped.
        b.insert(&frame(18000, 9, 9, false, b"e"), t(1200), d);
        b.insert(&frame(21000, 10, 10, true, b"K3"), t(1233), d);
        let f = b.pop(t(2000)).unwrap();
        assert_eq!(f.data, b"K3");
        assert_eq!(b.stats().skipped, 2);
        // Full: delta frames are refused, a keyframe clears.
        for i in 0..4u64 {
            assert_eq!(
                ins(
                    &mut b,
                    frame(24000 + i as u32 * 3000, 11 + i, 11 + i, false, b"f"),
                    t(1300)
                ),
                FrameInsert::Queued
            );
        }
        assert_eq!(
            ins(&mut b, frame(40000, 15, 15, false, b"g"), t(1400)),
            FrameInsert::Full
        );
        assert_eq!(
            ins(&mut b, frame(43000, 16, 16, true, b"K4"), t(1400)),
            FrameInsert::Queued
        );
        assert_eq!(b.len(), 1);
        assert_eq!(
            b.insert(&frame(46000, 17, 17, false, &[0; 2 << 20]), t(1400), d),
            FrameInsert::TooLarge
        );
    }
}
