//! The receive-side frame assembler: RTP packets of a video stream in (in any order, with loss
//! and duplicates), complete frames out, in order.
//!
//! A frame is passed on only when every packet from its first (recognised by the payload
//! format: [`Depacketizer::is_frame_start`]) to its last (the RTP marker bit) is present and
//! depacketizes cleanly. Everything else is reported as dropped, never as a frame. A pending
//! frame is given up when a later frame has started and the pending one has waited `max_wait`
//! (time for a retransmission to arrive), once a complete keyframe following it has been held
//! for [`KEYFRAME_REORDER`] (nothing before the keyframe is needed any more), when the packet
//! window overflows, or at
//! [`FrameAssembler::finish`].
//!
//! All memory (packet slots and the frame buffer) is allocated at construction; `insert` and
//! `poll` never allocate (STYLE.md R2), which `tests/rt_no_alloc.rs` checks.

use std::time::Duration;

use parla_core::{ConfigError, MediaTime};

use crate::error::ParseError;
use crate::rtp::{RtpPacket, SeqUnwrapper};

/// How long a complete keyframe must have been held before it ends the wait for an incomplete
/// frame before it: the incomplete frame's packets may only be reordered. The same 5 ms the
/// receiver's NACK module allows for reordering before it asks for a packet (each millisecond
/// here delays the first picture after an outage by as much).
pub const KEYFRAME_REORDER: Duration = Duration::from_millis(5);

/// A payload format the assembler can rebuild frames of.
pub trait Depacketizer {
    /// Whether `payload` is the first packet of a frame.
    fn is_frame_start(&self, payload: &[u8]) -> bool;
    /// Whether `payload` shows that its frame is a keyframe.
    fn is_keyframe(&self, payload: &[u8]) -> bool;
    /// Called before the first packet of each frame.
    fn begin_frame(&mut self);
    /// Appends the media bytes of one packet, in order, to `out`.
    ///
    /// # Errors
    /// [`ParseError`] if the payload is malformed or the frame outgrows `out`.
    fn depacketize(&mut self, payload: &[u8], out: &mut FrameBuf) -> Result<(), ParseError>;
    /// Called after the last packet of each frame.
    ///
    /// # Errors
    /// [`ParseError`] if the frame ended in an inconsistent state (an unfinished FU-A).
    fn end_frame(&mut self) -> Result<(), ParseError>;
}

/// A frame buffer with a fixed capacity that never reallocates.
#[derive(Debug, Clone)]
pub struct FrameBuf {
    buf: Vec<u8>,
    overflowed: bool,
}

impl FrameBuf {
    /// A buffer for frames of at most `max` bytes.
    pub fn with_capacity(max: usize) -> Self {
        FrameBuf {
            buf: Vec::with_capacity(max),
            overflowed: false,
        }
    }

    /// Appends `bytes`.
    ///
    /// # Errors
    /// [`ParseError::Malformed`] if the frame would exceed the capacity (nothing is appended).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        if self.buf.len() + bytes.len() > self.buf.capacity() {
            self.overflowed = true;
            return Err(ParseError::Malformed("frame larger than max_frame_bytes"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The bytes so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Empties the buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.overflowed = false;
    }
}

/// Sizes and timing of a [`FrameAssembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssemblerConfig {
    /// Packets held at most (rounded up to a power of two); packets further ahead than this of
    /// the oldest pending one overflow the window.
    pub max_packets: usize,
    /// Largest RTP payload accepted.
    pub max_payload: usize,
    /// Largest frame rebuilt.
    pub max_frame_bytes: usize,
    /// How long an incomplete frame waits for missing packets once a later frame has started.
    pub max_wait: Duration,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            max_packets: 1024,
            max_payload: 1500,
            max_frame_bytes: 1 << 20,
            max_wait: Duration::from_millis(200),
        }
    }
}

/// What happened to an inserted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored until its frame is complete.
    Stored,
    /// A copy of a packet already held; ignored.
    Duplicate,
    /// Older than the frames already passed on or dropped; ignored.
    Late,
    /// Too far ahead of the oldest pending packet; ignored, and the pending frame will be given up.
    Overflow,
    /// Payload larger than `max_payload`; ignored.
    Oversized,
}

/// A complete frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssembledFrame<'a> {
    /// RTP timestamp of the frame.
    pub timestamp: u32,
    /// Unwrapped sequence number of its first packet.
    pub first_seq: u64,
    /// Unwrapped sequence number of its last packet.
    pub last_seq: u64,
    /// Whether it is a keyframe (a point where decoding can start).
    pub keyframe: bool,
    /// Whether every frame since the last keyframe arrived; if not, the decoder lacks a
    /// reference and the receiver should ask for a keyframe (PLI/FIR).
    pub decodable: bool,
    /// The frame's bytes (Annex B for H.264, the VP8 frame for VP8).
    pub data: &'a [u8],
}

/// Why frames were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Packets were missing.
    Incomplete,
    /// All packets arrived but the payloads were inconsistent.
    Malformed,
    /// The frame exceeded `max_frame_bytes`.
    TooLarge,
}

/// A range of sequence numbers given up: one or more frames that were not passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedFrames {
    /// RTP timestamp of the first packet held in the range, if any was held.
    pub timestamp: Option<u32>,
    /// First unwrapped sequence number of the range.
    pub first_seq: u64,
    /// One past the last unwrapped sequence number of the range.
    pub end_seq: u64,
    /// Packets of the range that had arrived.
    pub received: u64,
    /// Packets of the range that had not.
    pub missing: u64,
    /// Why.
    pub reason: DropReason,
}

/// What [`FrameAssembler::poll`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssemblerEvent<'a> {
    /// A complete frame, in order.
    Frame(AssembledFrame<'a>),
    /// Frames given up.
    Dropped(DroppedFrames),
}

/// Counters of a [`FrameAssembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AssemblerStats {
    /// Packets stored.
    pub packets: u64,
    /// Duplicate packets ignored.
    pub duplicates: u64,
    /// Late packets ignored.
    pub late: u64,
    /// Packets ignored because the window was full.
    pub overflow: u64,
    /// Packets ignored for being larger than `max_payload`.
    pub oversized: u64,
    /// Complete frames passed on.
    pub frames: u64,
    /// Of which keyframes.
    pub keyframes: u64,
    /// Drop events for missing packets.
    pub dropped_incomplete: u64,
    /// Drop events for malformed or oversized frames.
    pub dropped_malformed: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    used: bool,
    seq: u64,
    ts: u32,
    marker: bool,
    start: bool,
    arrival: MediaTime,
    len: usize,
    data: Box<[u8]>,
}

enum Scan {
    Complete(u64),
    Pending { hopeless: bool },
}

/// Rebuilds frames of one video stream; see the [module docs](self).
#[derive(Debug)]
pub struct FrameAssembler<D> {
    depack: D,
    cfg: AssemblerConfig,
    slots: Vec<Slot>,
    mask: u64,
    unwrap: SeqUnwrapper,
    next_seq: Option<u64>,
    highest: Option<u64>,
    emitted: bool,
    /// One past the last sequence number passed on or dropped: nothing before it is taken again.
    handed_on: u64,
    overflowed: bool,
    finishing: bool,
    broken: bool,
    frame: FrameBuf,
    stats: AssemblerStats,
}

impl<D: Depacketizer> FrameAssembler<D> {
    /// An assembler for the payload format `depack`, allocating all its memory now.
    ///
    /// # Errors
    /// [`ConfigError::InvalidParameter`] for zero sizes or more than 32768 packets.
    pub fn new(depack: D, cfg: AssemblerConfig) -> Result<Self, ConfigError> {
        if cfg.max_packets == 0 || cfg.max_packets > 1 << 15 {
            return Err(ConfigError::InvalidParameter {
                name: "max_packets",
                detail: format!("{} is outside 1..=32768", cfg.max_packets),
            });
        }
        if cfg.max_payload == 0 || cfg.max_frame_bytes == 0 {
            return Err(ConfigError::InvalidParameter {
                name: "max_payload/max_frame_bytes",
                detail: "must be non-zero".into(),
            });
        }
        let n = cfg.max_packets.next_power_of_two();
        let slots = (0..n)
            .map(|_| Slot {
                used: false,
                seq: 0,
                ts: 0,
                marker: false,
                start: false,
                arrival: MediaTime::ZERO,
                len: 0,
                data: vec![0u8; cfg.max_payload].into_boxed_slice(),
            })
            .collect();
        Ok(FrameAssembler {
            depack,
            cfg,
            slots,
            mask: n as u64 - 1,
            unwrap: SeqUnwrapper::new(),
            next_seq: None,
            highest: None,
            emitted: false,
            handed_on: 0,
            overflowed: false,
            finishing: false,
            broken: false,
            frame: FrameBuf::with_capacity(cfg.max_frame_bytes),
            stats: AssemblerStats::default(),
        })
    }

    fn idx(&self, seq: u64) -> usize {
        (seq & self.mask) as usize
    }

    fn slot(&self, seq: u64) -> Option<&Slot> {
        let s = &self.slots[self.idx(seq)];
        (s.used && s.seq == seq).then_some(s)
    }

    /// Inserts a packet that arrived at `now`.
    ///
    /// # Real-time safety
    /// Copies the payload into a preallocated slot; no allocation.
    pub fn insert(&mut self, pkt: &RtpPacket<'_>, now: MediaTime) -> InsertOutcome {
        // RT: no allocation.
        if pkt.payload.len() > self.cfg.max_payload {
            self.stats.oversized += 1;
            return InsertOutcome::Oversized;
        }
        let seq = self.unwrap.unwrap(pkt.header.sequence);
        let start = self.depack.is_frame_start(pkt.payload);
        if self.emitted && seq < self.handed_on {
            // Already passed on or given up. Without this check a late frame start arriving
            // while the window is unanchored (after a sequence jump) would move the assembler
            // back over frames it already reported.
            self.stats.late += 1;
            return InsertOutcome::Late;
        }
        // A frame start can anchor the window only within the window of the newest packet
        // held, so that `poll` never scans more than the window.
        let can_anchor = start
            && self
                .highest
                .is_none_or(|h| seq + self.slots.len() as u64 > h);
        match self.next_seq {
            Some(n) if seq < n => {
                if !self.emitted && can_anchor {
                    self.next_seq = Some(seq);
                } else {
                    self.stats.late += 1;
                    return InsertOutcome::Late;
                }
            }
            Some(n) if seq >= n + self.slots.len() as u64 => {
                if self.highest.is_some_and(|h| h >= n) {
                    // Packets are pending: give them up at the next poll, drop this one.
                    self.overflowed = true;
                    self.stats.overflow += 1;
                    return InsertOutcome::Overflow;
                }
                // Nothing pending: the sequence jumped (a long outage or a sender restart).
                // Start over from here; the decoder needs a keyframe.
                self.next_seq = start.then_some(seq);
                self.broken = true;
            }
            None if can_anchor => self.next_seq = Some(seq),
            None if start => {
                // Far behind the newest packet held.
                self.stats.late += 1;
                return InsertOutcome::Late;
            }
            _ => {}
        }
        let i = self.idx(seq);
        let slot = &mut self.slots[i];
        if slot.used && slot.seq == seq {
            self.stats.duplicates += 1;
            return InsertOutcome::Duplicate;
        }
        if slot.used && self.next_seq.is_some_and(|n| slot.seq >= n) && slot.seq > seq {
            // A newer packet holds the slot (only possible before the window is anchored).
            self.stats.overflow += 1;
            return InsertOutcome::Overflow;
        }
        slot.used = true;
        slot.seq = seq;
        slot.ts = pkt.header.timestamp;
        slot.marker = pkt.header.marker;
        slot.start = start;
        slot.arrival = now;
        slot.len = pkt.payload.len();
        slot.data[..pkt.payload.len()].copy_from_slice(pkt.payload);
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        self.stats.packets += 1;
        InsertOutcome::Stored
    }

    fn scan(&self, start: u64, highest: u64) -> Scan {
        let Some(first) = self.slot(start) else {
            return Scan::Pending { hopeless: false };
        };
        if !first.start {
            return Scan::Pending { hopeless: true };
        }
        let ts = first.ts;
        let mut s = start;
        loop {
            let Some(slot) = self.slot(s) else {
                return Scan::Pending { hopeless: false };
            };
            if slot.ts != ts {
                // The previous packet ended the frame without a marker bit.
                return if slot.start {
                    Scan::Complete(s - 1)
                } else {
                    Scan::Pending { hopeless: true }
                };
            }
            if slot.marker {
                return Scan::Complete(s);
            }
            if s >= highest {
                return Scan::Pending { hopeless: false };
            }
            s += 1;
        }
    }

    /// The first held frame start after `after` that belongs to another frame.
    fn next_start(&self, after: u64, highest: u64) -> Option<u64> {
        let ts = self.slot(after).map(|s| s.ts);
        (after + 1..=highest).find(|&s| {
            self.slot(s)
                .is_some_and(|slot| slot.start && Some(slot.ts) != ts)
        })
    }

    /// When the first complete keyframe held that starts at or after `from` was completed (the
    /// arrival of its last packet to come). Scans at most the packet window.
    fn complete_keyframe_from(&self, from: u64, highest: u64) -> Option<MediaTime> {
        let mut s = from;
        while s <= highest {
            if self.slot(s).is_some_and(|x| x.start)
                && let Scan::Complete(last) = self.scan(s, highest)
            {
                let packets = (s..=last).filter_map(|k| self.slot(k));
                if packets
                    .clone()
                    .any(|x| self.depack.is_keyframe(&x.data[..x.len]))
                {
                    return packets.map(|x| x.arrival).max();
                }
                s = last + 1;
            } else {
                s += 1;
            }
        }
        None
    }

    /// The next event, if one is ready at `now`: a complete frame, or frames given up. Call
    /// until it returns `None` after each insert.
    ///
    /// # Real-time safety
    /// Scans at most the packet window; no allocation.
    pub fn poll(&mut self, now: MediaTime) -> Option<AssemblerEvent<'_>> {
        // RT: no allocation.
        let start = self.next_seq?;
        let highest = self.highest?;
        if start > highest {
            return None;
        }
        match self.scan(start, highest) {
            Scan::Complete(last) => Some(self.emit(start, last)),
            Scan::Pending { hopeless } => {
                let next = self.next_start(start, highest);
                // How long the gap has been known: from its oldest packet held or, when none
                // of it arrived (a whole frame lost, e.g. a one-packet frame), from the arrival
                // of the next frame's first packet. (Without the second the wait never ran out
                // and the assembler stalled until its window overflowed.)
                let oldest = (start..next.unwrap_or(highest + 1))
                    .filter_map(|s| self.slot(s).map(|x| x.arrival))
                    .min()
                    .or_else(|| next.and_then(|n| self.slot(n)).map(|x| x.arrival))
                    .unwrap_or(now);
                // A complete keyframe later on makes the pending frame pointless (after an
                // outage it can come long before the repairs of the gap): give it up now. The
                // complete frames between are still passed on (not decodable), the incomplete
                // ones given up the same way at the next polls.
                // Not before it has been complete for `KEYFRAME_REORDER`: the pending frame's
                // last packets may only have been reordered behind it.
                let keyframe = next
                    .and_then(|n| self.complete_keyframe_from(n, highest))
                    .is_some_and(|at| now.saturating_since(at) >= KEYFRAME_REORDER);
                let give_up = self.finishing
                    || self.overflowed
                    || keyframe
                    || (next.is_some()
                        && (hopeless || now.saturating_since(oldest) >= self.cfg.max_wait));
                if !give_up {
                    return None;
                }
                self.overflowed = false;
                let end = next.unwrap_or(highest + 1);
                Some(AssemblerEvent::Dropped(self.drop_range(
                    start,
                    end,
                    DropReason::Incomplete,
                )))
            }
        }
    }

    fn clear_range(&mut self, start: u64, end: u64) {
        for s in start..end {
            let i = self.idx(s);
            if self.slots[i].seq == s {
                self.slots[i].used = false;
            }
        }
    }

    fn drop_range(&mut self, start: u64, end: u64, reason: DropReason) -> DroppedFrames {
        let mut received = 0;
        let mut timestamp = None;
        for s in start..end {
            if let Some(slot) = self.slot(s) {
                received += 1;
                timestamp = timestamp.or(Some(slot.ts));
            }
        }
        self.clear_range(start, end);
        self.next_seq = Some(end);
        self.handed_on = end;
        self.emitted = true;
        self.broken = true;
        match reason {
            DropReason::Incomplete => self.stats.dropped_incomplete += 1,
            _ => self.stats.dropped_malformed += 1,
        }
        DroppedFrames {
            timestamp,
            first_seq: start,
            end_seq: end,
            received,
            missing: (end - start) - received,
            reason,
        }
    }

    fn emit(&mut self, start: u64, last: u64) -> AssemblerEvent<'_> {
        self.frame.clear();
        self.depack.begin_frame();
        let mut keyframe = false;
        let mut result = Ok(());
        let mut ts = 0;
        for s in start..=last {
            let i = self.idx(s);
            let slot = &self.slots[i];
            let payload = &slot.data[..slot.len];
            if s == start {
                ts = slot.ts;
            }
            keyframe |= self.depack.is_keyframe(payload);
            if result.is_ok() {
                result = self.depack.depacketize(payload, &mut self.frame);
            }
        }
        let end = self.depack.end_frame();
        if result.is_ok() {
            result = end;
        }
        if result.is_err() {
            let reason = if self.frame.overflowed {
                DropReason::TooLarge
            } else {
                DropReason::Malformed
            };
            return AssemblerEvent::Dropped(self.drop_range(start, last + 1, reason));
        }
        self.clear_range(start, last + 1);
        self.next_seq = Some(last + 1);
        self.handed_on = last + 1;
        self.emitted = true;
        let decodable = keyframe || !self.broken;
        if keyframe {
            self.broken = false;
            self.stats.keyframes += 1;
        }
        self.stats.frames += 1;
        AssemblerEvent::Frame(AssembledFrame {
            timestamp: ts,
            first_seq: start,
            last_seq: last,
            keyframe,
            decodable,
            data: self.frame.as_slice(),
        })
    }

    /// Writes the low 16 bits of the missing sequence numbers between the oldest pending packet
    /// and the newest one into `out` (for a NACK); returns how many were written.
    pub fn missing_seqs(&self, out: &mut [u16]) -> usize {
        let (Some(start), Some(highest)) = (self.next_seq, self.highest) else {
            return 0;
        };
        let mut n = 0;
        for s in start..highest {
            if n == out.len() {
                break;
            }
            if self.slot(s).is_none() {
                out[n] = s as u16;
                n += 1;
            }
        }
        n
    }

    /// Whether a frame was lost since the last keyframe (send a PLI or FIR).
    pub fn needs_keyframe(&self) -> bool {
        self.broken
    }

    /// Changes how long an incomplete frame waits for missing packets once a later frame has
    /// started (for a receiver that follows the round-trip time: a retransmission cannot
    /// arrive sooner than one RTT after it was asked for).
    pub fn set_max_wait(&mut self, max_wait: Duration) {
        self.cfg.max_wait = max_wait;
    }

    /// Ends the stream: from now on `poll` gives up whatever cannot be completed.
    pub fn finish(&mut self) {
        self.finishing = true;
    }

    /// The counters.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::vp8::{Vp8Depacketizer, Vp8Packetizer};
    use crate::rtp::{RtpHeader, RtpPacketSpec};

    fn send(
        asm: &mut FrameAssembler<Vp8Depacketizer>,
        p: &mut Vp8Packetizer,
        seq: &mut u16,
        ts: u32,
        frame: &[u8],
    ) -> Vec<(bool, usize)> {
        let mut it = p.packetize(frame);
        let mut buf = [0u8; 100];
        let mut pkt = [0u8; 200];
        while let Some(c) = it.next_into(&mut buf) {
            let c = c.unwrap();
            let spec = RtpPacketSpec {
                header: RtpHeader {
                    marker: c.last,
                    sequence: *seq,
                    timestamp: ts,
                    ..Default::default()
                },
                payload: &buf[..c.len],
                ..Default::default()
            };
            *seq = seq.wrapping_add(1);
            let n = spec.write_to(&mut pkt).unwrap();
            asm.insert(&RtpPacket::parse(&pkt[..n]).unwrap(), MediaTime::ZERO);
        }
        let mut out = Vec::new();
        while let Some(ev) = asm.poll(MediaTime::ZERO) {
            if let AssemblerEvent::Frame(f) = ev {
                out.push((f.keyframe, f.data.len()));
            }
        }
        out
    }

    fn insert_one(
        asm: &mut FrameAssembler<Vp8Depacketizer>,
        seq: u16,
        ts: u32,
        start: bool,
        marker: bool,
    ) -> InsertOutcome {
        insert_at(asm, (seq, ts, start, marker, false), MediaTime::ZERO)
    }

    /// Inserts a one-byte VP8 packet `(seq, ts, start, marker, keyframe)` arriving at `at`.
    fn insert_at(
        asm: &mut FrameAssembler<Vp8Depacketizer>,
        p: (u16, u32, bool, bool, bool),
        at: MediaTime,
    ) -> InsertOutcome {
        let (seq, ts, start, marker, key) = p;
        // P (bit 0 of the VP8 payload header) is 0 for keyframes, 1 for delta frames.
        let payload = [
            if start { 0x10 } else { 0x00 },
            if key { 0xaa } else { 0xab },
        ];
        let spec = RtpPacketSpec {
            header: RtpHeader {
                marker,
                sequence: seq,
                timestamp: ts,
                ..Default::default()
            },
            payload: &payload,
            ..Default::default()
        };
        let mut pkt = [0u8; 64];
        let n = spec.write_to(&mut pkt).unwrap();
        asm.insert(&RtpPacket::parse(&pkt[..n]).unwrap(), at)
    }

    fn events(asm: &mut FrameAssembler<Vp8Depacketizer>) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        while let Some(ev) = asm.poll(MediaTime::ZERO) {
            out.push(match ev {
                AssemblerEvent::Frame(f) => (f.first_seq, f.last_seq + 1),
                AssemblerEvent::Dropped(d) => (d.first_seq, d.end_seq),
            });
        }
        out
    }

    /// Found by `tests/fuzz-parsers.rs`: after a sequence jump to a packet that does not start a
    /// frame, a late frame start from before the jump re-anchored the assembler behind what it
    /// had already passed on, and the next drop covered thousands of sequence numbers (already
    /// reported ones included), scanning far more than the packet window.
    #[test]
    fn a_late_start_after_a_jump_does_not_move_back() {
        let cfg = AssemblerConfig {
            max_packets: 16,
            max_payload: 100,
            max_frame_bytes: 1000,
            max_wait: Duration::from_millis(10),
        };
        let mut asm = FrameAssembler::new(Vp8Depacketizer, cfg).unwrap();
        assert_eq!(
            insert_one(&mut asm, 1000, 0, true, true),
            InsertOutcome::Stored
        );
        assert_eq!(events(&mut asm), vec![(1000, 1001)]);
        // Jump far ahead to a packet in the middle of a frame: the window is unanchored.
        assert_eq!(
            insert_one(&mut asm, 9000, 90, false, false),
            InsertOutcome::Stored
        );
        assert!(events(&mut asm).is_empty());
        // A frame start from before what was passed on is late...
        assert_eq!(
            insert_one(&mut asm, 990, 1, true, true),
            InsertOutcome::Late
        );
        // ...and so is one after it but far behind the newest packet held.
        assert_eq!(
            insert_one(&mut asm, 2000, 2, true, true),
            InsertOutcome::Late
        );
        assert!(events(&mut asm).is_empty());
        // A start near the newest packet anchors the window as before.
        assert_eq!(
            insert_one(&mut asm, 9002, 91, true, true),
            InsertOutcome::Stored
        );
        asm.finish();
        let ev = events(&mut asm);
        assert_eq!(ev, vec![(9002, 9003)]);
        assert_eq!(asm.stats().late, 2);
    }

    /// Found with `parla call --video` on a 1 Mbit/s -> 300 kbit/s step: at a low bitrate
    /// every frame is one packet; when one was lost and never repaired, nothing of the gap was
    /// held, the wait was measured from `now` and never ran out, and no frame came out until
    /// the packet window overflowed (tens of seconds).
    #[test]
    fn a_lost_one_packet_frame_is_given_up_after_the_wait() {
        let cfg = AssemblerConfig {
            max_packets: 1024,
            max_payload: 100,
            max_frame_bytes: 1000,
            max_wait: Duration::from_millis(100),
        };
        let mut asm = FrameAssembler::new(Vp8Depacketizer, cfg).unwrap();
        let at = |ms| MediaTime::from_millis(ms);
        let insert = |asm: &mut FrameAssembler<Vp8Depacketizer>, seq: u16, ms: u64| {
            let payload = [0x10, 0xab];
            let spec = RtpPacketSpec {
                header: RtpHeader {
                    marker: true,
                    sequence: seq,
                    timestamp: u32::from(seq) * 3000,
                    ..Default::default()
                },
                payload: &payload,
                ..Default::default()
            };
            let mut pkt = [0u8; 64];
            let n = spec.write_to(&mut pkt).unwrap();
            asm.insert(&RtpPacket::parse(&pkt[..n]).unwrap(), at(ms));
        };
        let frames = |asm: &mut FrameAssembler<Vp8Depacketizer>, ms: u64| {
            let mut n = (0, 0);
            while let Some(ev) = asm.poll(at(ms)) {
                match ev {
                    AssemblerEvent::Frame(_) => n.0 += 1,
                    AssemblerEvent::Dropped(_) => n.1 += 1,
                }
            }
            n
        };
        insert(&mut asm, 1, 0);
        assert_eq!(frames(&mut asm, 0), (1, 0));
        // Packet 2 (a whole frame) is lost; 3.. arrive every 33 ms.
        for (k, seq) in (3..8u16).enumerate() {
            let ms = 66 + 33 * k as u64;
            insert(&mut asm, seq, ms);
            let (f, d) = frames(&mut asm, ms);
            if ms < 66 + 100 {
                // Still waiting for a retransmission of packet 2.
                assert_eq!((f, d), (0, 0), "at {ms} ms");
            } else {
                // Given up 100 ms after frame 3 started; 3.. come out.
                assert!(d <= 1 && f >= 1, "at {ms} ms: {f} frames, {d} drops");
            }
        }
        assert_eq!(asm.stats().frames, 6);
        assert_eq!(asm.stats().dropped_incomplete, 1);
    }

    /// After an outage the gap's repairs come a round trip after the link returns, while a
    /// keyframe the sender sent meanwhile may already be whole: it is handed on once it has
    /// been complete for `KEYFRAME_REORDER`, and the frames before it are given up without
    /// waiting for `max_wait`.
    #[test]
    fn a_complete_keyframe_ends_the_wait_for_the_gap_before_it() {
        let cfg = AssemblerConfig {
            max_packets: 64,
            max_payload: 100,
            max_frame_bytes: 1000,
            max_wait: Duration::from_secs(10),
        };
        let mut asm = FrameAssembler::new(Vp8Depacketizer, cfg).unwrap();
        let ms = MediaTime::from_millis;
        let put = insert_at;
        let events_at = |asm: &mut FrameAssembler<Vp8Depacketizer>, at| {
            let mut got = Vec::new();
            while let Some(ev) = asm.poll(at) {
                got.push(match ev {
                    AssemblerEvent::Frame(f) => {
                        (f.first_seq, f.last_seq + 1, f.keyframe, f.decodable)
                    }
                    AssemblerEvent::Dropped(d) => (d.first_seq, d.end_seq, false, false),
                });
            }
            got
        };
        put(&mut asm, (1, 0, true, true, true), ms(0));
        assert_eq!(events_at(&mut asm, ms(0)), [(1, 2, true, true)]);
        // Frame 2 (seq 2..=3) lost its last packet; frame 3 (seq 4) is complete but a delta.
        put(&mut asm, (2, 1, true, false, false), ms(10));
        put(&mut asm, (4, 2, true, true, false), ms(20));
        assert!(
            events_at(&mut asm, ms(100)).is_empty(),
            "a delta frame does not end the wait"
        );
        // A keyframe starts (seq 5, 6) but is not complete yet: still waiting.
        put(&mut asm, (5, 3, true, false, true), ms(100));
        assert!(
            events_at(&mut asm, ms(200)).is_empty(),
            "nor an incomplete keyframe"
        );
        // Its last packet arrives: nothing yet (frame 2's packet may only be reordered)...
        put(&mut asm, (6, 3, false, true, false), ms(200));
        let complete = ms(200) + KEYFRAME_REORDER;
        assert!(events_at(&mut asm, complete - Duration::from_millis(1)).is_empty());
        // ...then frame 2 is given up, frame 3 passed on (not decodable), the keyframe comes
        // out, long before `max_wait`.
        assert_eq!(
            events_at(&mut asm, complete),
            [
                (2, 4, false, false),
                (4, 5, false, false),
                (5, 7, true, true)
            ]
        );
        // The missing packet's late retransmission is late now.
        assert_eq!(
            put(&mut asm, (3, 1, false, true, false), complete),
            InsertOutcome::Late
        );
        assert_eq!(asm.stats().dropped_incomplete, 1);
        assert_eq!(asm.stats().keyframes, 2);
    }

    #[test]
    fn recovers_from_a_sequence_jump() {
        let cfg = AssemblerConfig {
            max_packets: 16,
            max_payload: 100,
            max_frame_bytes: 1000,
            max_wait: Duration::from_millis(10),
        };
        let mut asm = FrameAssembler::new(Vp8Depacketizer, cfg).unwrap();
        let mut p = Vp8Packetizer::new(100, 0).unwrap();
        let mut seq = 65000;
        assert_eq!(
            send(&mut asm, &mut p, &mut seq, 0, &[0u8; 250]),
            vec![(true, 250)]
        );
        seq = seq.wrapping_add(5000);
        let got = send(&mut asm, &mut p, &mut seq, 3000, &[1u8; 150]);
        assert_eq!(got, vec![(false, 150)]);
        assert!(asm.needs_keyframe(), "frames were lost in the jump");
        assert_eq!(
            send(&mut asm, &mut p, &mut seq, 6000, &[0u8; 50]),
            vec![(true, 50)]
        );
        assert!(!asm.needs_keyframe());
    }
}
