//! The adaptive audio jitter buffer.

use parla_core::MediaTime;

use crate::decoder::AudioDecoder;
use crate::delay::{DelayManager, DelayPolicy};
use crate::error::{InsertError, JitterConfigError, PullError};
use crate::seq::Unwrapper;
use crate::stats::{JitterStats, WaitingTimes};
use crate::stretch::TimeStretcher;

/// A sequence jump larger than this (in packets) is a stream discontinuity.
const MAX_SEQ_JUMP: i64 = 1000;
/// How many packet starts a pull can report.
pub const MAX_STARTED: usize = 8;
const START_MARKS: usize = 64;
/// Concealment of at least this long counts as an interruption, ms.
pub const INTERRUPTION_MS: u64 = 150;
/// The default backlog bound ([`JitterConfig::max_backlog_ms`]): none (a stall is waited out
/// and its packets are played, accelerated). See docs/JITTER.md for the trade-off.
pub const DEFAULT_MAX_BACKLOG_MS: f64 = f64::INFINITY;
/// The backlog bound of the low-delay preset ([`JitterConfig::low_delay`]), ms (tuned on the
/// evaluation with seed 1, docs/JITTER.md).
pub const LOW_DELAY_MAX_BACKLOG_MS: f64 = 60.0;
/// The default playout-delay cap ([`JitterConfig::max_delay_ms`]), ms.
pub const DEFAULT_MAX_DELAY_MS: f64 = f64::INFINITY;
/// The default backlog bound in the stall regime ([`JitterConfig::stall_regime_backlog_ms`]),
/// ms: off.
pub const DEFAULT_STALL_REGIME_BACKLOG_MS: f64 = f64::INFINITY;
/// The default stalled-packet fraction that starts the stall regime
/// ([`JitterConfig::stall_regime_fraction`]).
pub const DEFAULT_STALL_REGIME_FRACTION: f64 = 0.04;

/// The default loss fraction above which the buffer waits for FEC
/// ([`JitterConfig::fec_wait_loss`]).
pub const DEFAULT_FEC_WAIT_LOSS: f64 = 0.02;
/// The loss fraction under which the FEC wait ends again (hysteresis).
const FEC_WAIT_OFF_LOSS: f64 = 0.01;
/// Memory of the loss and FEC averages, packets (5 s of 20 ms packets).
const LOSS_MEMORY_PACKETS: f64 = 250.0;
/// A stream carries FEC when more than this share of recent packets has FEC data (Opus codes
/// it in active speech only).
const FEC_PRESENT_FRACTION: f64 = 0.1;

/// Configuration (a builder with chained setters).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// Output and decoder sample rate, Hz (mono).
    pub sample_rate: u32,
    /// Packet slots, allocated at construction.
    pub max_packets: usize,
    /// Bytes per slot: larger payloads are refused.
    pub max_payload: usize,
    /// Longest packet accepted, ms (Opus: up to 60 ms for speech, 120 ms at most).
    pub max_packet_ms: u32,
    /// The target-delay estimator.
    pub policy: DelayPolicy,
    /// Delay from the first packet's arrival to the start of playout, ms.
    pub start_delay_ms: u32,
    /// Accelerate when the playout offset is this far above the target, ms.
    pub accelerate_above_ms: f64,
    /// Fast-accelerate (forced, up to two periods per pull) this far above the target, ms.
    pub fast_accelerate_above_ms: f64,
    /// Preemptively expand when the playout offset is this far below the target, ms.
    pub expand_below_ms: f64,
    /// Backlog bound, ms: when the playout offset is more than this above the target (after
    /// a stall the buffer waited out by concealing), queued packets are discarded (counted in
    /// [`JitterStats::flushed_packets`]) to get back to the target at once instead of
    /// accelerating through the backlog. Infinite: never discard, always accelerate.
    pub max_backlog_ms: f64,
    /// Playout-delay cap, ms: the largest playout offset above the fastest recent packet (the
    /// delay estimator's base) the buffer waits up to during a stall. Beyond it (and beyond the
    /// target) it stops waiting: the playout point moves on with the concealment and a queued
    /// backlog is discarded down to the target, exactly as for
    /// [`max_backlog_ms`](Self::max_backlog_ms). Infinite: no cap (wait out every stall).
    pub max_delay_ms: f64,
    /// Backlog bound in the stall regime, ms: while more than
    /// [`stall_regime_fraction`](Self::stall_regime_fraction) of the recent packets arrived
    /// more than [`crate::delay::STALL_MS`] after the fastest recent packet
    /// ([`DelayManager::stall_fraction`](crate::delay::DelayManager::stall_fraction)), the
    /// buffer waits at most this long above the target, as with
    /// [`max_backlog_ms`](Self::max_backlog_ms). Infinite: no stall regime.
    pub stall_regime_backlog_ms: f64,
    /// The stalled-packet fraction above which the stall regime applies (0-1).
    pub stall_regime_fraction: f64,
    /// Waiting for FEC: while more than this fraction of the recent packets is missing (an
    /// average over about 5 s, off again under 1 %) and the stream carries in-band FEC, the
    /// target's margin above the delay quantile is at least one packet duration, so that when a
    /// packet is lost the next one, which carries its FEC data, has arrived by the time the
    /// lost one is due (NetEq decides late enough for the same reason). Costs that much delay
    /// while it lasts. Infinite: never.
    pub fec_wait_loss: f64,
}

impl JitterConfig {
    /// Defaults at `sample_rate`: 256 slots of 4000 bytes, packets up to 120 ms, Parla's
    /// delay policy.
    pub fn new(sample_rate: u32) -> Self {
        JitterConfig {
            sample_rate,
            max_packets: 256,
            max_payload: 4000,
            max_packet_ms: 120,
            policy: DelayPolicy::parla(),
            start_delay_ms: 40,
            accelerate_above_ms: 10.0,
            fast_accelerate_above_ms: 80.0,
            expand_below_ms: 3.0,
            max_backlog_ms: DEFAULT_MAX_BACKLOG_MS,
            max_delay_ms: DEFAULT_MAX_DELAY_MS,
            stall_regime_backlog_ms: DEFAULT_STALL_REGIME_BACKLOG_MS,
            stall_regime_fraction: DEFAULT_STALL_REGIME_FRACTION,
            fec_wait_loss: DEFAULT_FEC_WAIT_LOSS,
        }
    }

    /// The low-delay preset: [`HistogramTuning::parla_low_delay`] (85th percentile) and a
    /// backlog bound of [`LOW_DELAY_MAX_BACKLOG_MS`]. It accepts some late loss (packets too far
    /// behind after a stall are dropped) for much less delay on bursty links, like a fixed
    /// buffer; the default instead loses almost nothing late. See docs/JITTER.md.
    ///
    /// [`HistogramTuning::parla_low_delay`]: crate::HistogramTuning::parla_low_delay
    pub fn low_delay(mut self) -> Self {
        self.policy = DelayPolicy::Histogram(crate::HistogramTuning::parla_low_delay());
        self.max_backlog_ms = LOW_DELAY_MAX_BACKLOG_MS;
        self
    }

    /// Set the backlog bound ([`JitterConfig::max_backlog_ms`]).
    pub fn max_backlog_ms(mut self, ms: f64) -> Self {
        self.max_backlog_ms = ms;
        self
    }

    /// Set the playout-delay cap ([`JitterConfig::max_delay_ms`]).
    pub fn max_delay_ms(mut self, ms: f64) -> Self {
        self.max_delay_ms = ms;
        self
    }

    /// Set the stall regime ([`JitterConfig::stall_regime_backlog_ms`] and
    /// [`JitterConfig::stall_regime_fraction`]); an infinite bound turns it off.
    pub fn stall_regime(mut self, backlog_ms: f64, fraction: f64) -> Self {
        self.stall_regime_backlog_ms = backlog_ms;
        self.stall_regime_fraction = fraction;
        self
    }

    /// Set the loss fraction that starts waiting for FEC ([`JitterConfig::fec_wait_loss`]);
    /// infinite turns it off.
    pub fn fec_wait_loss(mut self, loss: f64) -> Self {
        self.fec_wait_loss = loss;
        self
    }

    /// Set the delay policy.
    pub fn policy(mut self, policy: DelayPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Set the slot count and size.
    pub fn slots(mut self, max_packets: usize, max_payload: usize) -> Self {
        self.max_packets = max_packets;
        self.max_payload = max_payload;
        self
    }

    /// Set the start-up delay.
    pub fn start_delay_ms(mut self, ms: u32) -> Self {
        self.start_delay_ms = ms;
        self
    }
}

/// One incoming packet (borrowed; the buffer copies the payload into a slot).
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp at the decoder's sample rate.
    pub timestamp: u32,
    /// Codec payload.
    pub payload: &'a [u8],
}

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored for playout.
    Inserted {
        /// It arrived after a packet with a higher sequence number.
        reordered: bool,
    },
    /// A copy of a packet already seen: dropped.
    Duplicate,
    /// Its playout slot has passed: dropped (and counted).
    Late,
}

/// The operation of one 10 ms pull (NetEq's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Not started yet: silence.
    Idle,
    /// Decoded audio as it is.
    Normal,
    /// One pitch period removed.
    Accelerate,
    /// Forced removal of up to two periods (far above target).
    FastAccelerate,
    /// One pitch period added to decoded audio.
    PreemptiveExpand,
    /// Concealment: no packet to play.
    Expand,
    /// Decoded audio after concealment, cross-faded in.
    Merge,
    /// Comfort noise during DTX.
    ComfortNoise,
}

/// A packet whose first sample is played by this pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Started {
    /// Extended sequence number (unwrapped).
    pub seq: i64,
    /// Offset of its first sample within the pulled frame.
    pub offset: usize,
    /// Its audio was recovered from the next packet's FEC data.
    pub fec: bool,
}

/// What one pull did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullReport {
    /// The main operation.
    pub action: Action,
    started: [Started; MAX_STARTED],
    n_started: usize,
    /// Packets declared lost in this pull (first and last extended sequence number).
    pub lost: Option<(i64, i64)>,
    /// The missing packet being concealed, when known.
    pub concealed_seq: Option<i64>,
    /// Packets discarded by the backlog bound in this pull (first and last extended sequence
    /// number of the skipped range; sequence numbers in it that never arrived are counted
    /// lost, the others flushed).
    pub flushed: Option<(i64, i64)>,
    /// Samples added (positive) or removed (negative) by time stretching.
    pub stretched: i64,
}

impl PullReport {
    fn new(action: Action) -> Self {
        PullReport {
            action,
            started: [Started::default(); MAX_STARTED],
            n_started: 0,
            lost: None,
            concealed_seq: None,
            flushed: None,
            stretched: 0,
        }
    }

    /// The packets whose first sample this pull played, in playout order.
    pub fn started(&self) -> &[Started] {
        &self.started[..self.n_started]
    }
}

#[derive(Debug, Clone)]
struct Slot {
    seq: i64,
    ts: i64,
    dur: usize,
    arrival_us: i64,
    len: usize,
    data: Box<[u8]>,
}

#[derive(Debug, Clone, Copy)]
struct LastInsert {
    seq: i64,
    ts: i64,
    dur: usize,
    dtx: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct StartMark {
    seq: i64,
    pos: usize,
    fec: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Waiting { start_at_us: i64 },
    Playing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Decode,
    Fec,
    /// Jump over the missing packets; with `fec`, over all but the last one, which the first
    /// queued packet's FEC data then repairs.
    Skip {
        fec: bool,
    },
    Cng,
    Expand(Option<i64>),
}

/// Which sequence numbers were seen recently (duplicate detection over 1024 packets).
#[derive(Debug, Clone, Copy)]
struct SeenWindow {
    bits: [u64; 16],
    highest: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    New,
    Duplicate,
    TooOld,
}

impl SeenWindow {
    const SPAN: i64 = 1024;

    fn bit(seq: i64) -> (usize, u64) {
        let i = seq.rem_euclid(Self::SPAN) as usize;
        (i / 64, 1u64 << (i % 64))
    }

    fn check(&mut self, seq: i64) -> Seen {
        match self.highest {
            None => {
                self.highest = Some(seq);
            }
            Some(h) if seq > h => {
                if seq - h >= Self::SPAN {
                    self.bits = [0; 16];
                } else {
                    for s in h + 1..=seq {
                        let (w, m) = Self::bit(s);
                        self.bits[w] &= !m;
                    }
                }
                self.highest = Some(seq);
            }
            Some(h) if h - seq >= Self::SPAN => return Seen::TooOld,
            Some(_) => {
                let (w, m) = Self::bit(seq);
                if self.bits[w] & m != 0 {
                    return Seen::Duplicate;
                }
            }
        }
        let (w, m) = Self::bit(seq);
        self.bits[w] |= m;
        Seen::New
    }
}

/// The adaptive jitter buffer: packets in with [`insert`](Self::insert), 10 ms of audio out
/// with [`pull`](Self::pull).
///
/// It has one owner (the media thread); all storage is allocated in [`new`](Self::new), so
/// `insert` and `pull` never allocate. See the crate docs for the algorithm.
#[derive(Debug)]
pub struct JitterBuffer<D: AudioDecoder> {
    cfg: JitterConfig,
    decoder: D,
    stretcher: TimeStretcher,
    rate: i64,
    frame: usize,
    overlap: usize,
    max_packet: usize,
    slots: Vec<Slot>,
    order: Vec<u16>,
    free: Vec<u16>,
    seq_unwrap: Unwrapper<16>,
    ts_unwrap: Unwrapper<32>,
    seq_shift: i64,
    ts_shift: i64,
    seen: SeenWindow,
    last_insert: Option<LastInsert>,
    highest_seq: Option<i64>,
    anchor_ts: Option<i64>,
    state: State,
    decoded_end_ts: i64,
    last_seq: i64,
    last_was_dtx: bool,
    future: Vec<f32>,
    fut_len: usize,
    tail_len: usize,
    decode_buf: Vec<f32>,
    stretch_out: Vec<f32>,
    expand_wait: usize,
    conceal_run: usize,
    marks: [StartMark; START_MARKS],
    n_marks: usize,
    delay: DelayManager,
    stats: JitterStats,
    waiting: WaitingTimes,
    /// Average share of missing sequence numbers (per sequence number).
    loss_avg: f64,
    /// Average share of packets carrying FEC data.
    fec_avg: f64,
    /// Waiting for FEC ([`JitterConfig::fec_wait_loss`]).
    fec_wait: bool,
}

impl<D: AudioDecoder> JitterBuffer<D> {
    /// Build a buffer around `decoder`. Allocates every slot and buffer here.
    ///
    /// # Errors
    /// [`JitterConfigError`] for out-of-range settings or a decoder at another rate.
    pub fn new(cfg: JitterConfig, decoder: D) -> Result<Self, JitterConfigError> {
        let bad = |name, detail| Err(JitterConfigError::InvalidParameter { name, detail });
        if decoder.sample_rate() != cfg.sample_rate {
            return Err(JitterConfigError::RateMismatch {
                decoder: decoder.sample_rate(),
                config: cfg.sample_rate,
            });
        }
        if !cfg.sample_rate.is_multiple_of(400) {
            return bad(
                "sample_rate",
                "must be a multiple of 400 Hz (2.5 ms in whole samples)",
            );
        }
        if !(2..=4096).contains(&cfg.max_packets) {
            return bad("max_packets", "must be in [2, 4096]");
        }
        if !(1..=65_536).contains(&cfg.max_payload) {
            return bad("max_payload", "must be in [1, 65536]");
        }
        if !(10..=120).contains(&cfg.max_packet_ms) {
            return bad("max_packet_ms", "must be in [10, 120]");
        }
        // Each check names the field it refuses (NaN fails every comparison).
        let limits = [
            ("accelerate_above_ms", cfg.accelerate_above_ms >= 0.0),
            (
                "fast_accelerate_above_ms",
                cfg.fast_accelerate_above_ms >= cfg.accelerate_above_ms,
            ),
            ("expand_below_ms", cfg.expand_below_ms >= 0.0),
            ("max_backlog_ms", cfg.max_backlog_ms >= 0.0),
            ("max_delay_ms", cfg.max_delay_ms >= 0.0),
            (
                "stall_regime_backlog_ms",
                cfg.stall_regime_backlog_ms >= 0.0,
            ),
            (
                "stall_regime_fraction",
                (0.0..=1.0).contains(&cfg.stall_regime_fraction),
            ),
            ("fec_wait_loss", cfg.fec_wait_loss >= 0.0),
        ];
        if let Some((name, _)) = limits.iter().find(|(_, ok)| !ok) {
            return bad(
                name,
                "thresholds must be non-negative, ordered (fast accelerate >= accelerate) and \
                 fractions in [0, 1]",
            );
        }
        let stretcher = TimeStretcher::new(cfg.sample_rate).map_err(|_| {
            JitterConfigError::InvalidParameter {
                name: "sample_rate",
                detail: "must be in [8000, 96000]",
            }
        })?;
        let rate = cfg.sample_rate as usize;
        let frame = rate / 100;
        let overlap = rate / 400;
        let max_packet = rate * cfg.max_packet_ms as usize / 1000;
        let max_lag = stretcher.max_period();
        let cap = max_packet + 2 * (2 * max_lag + frame) + 2 * overlap + max_lag + 2 * frame;
        let slots = (0..cfg.max_packets)
            .map(|_| Slot {
                seq: 0,
                ts: 0,
                dur: 0,
                arrival_us: 0,
                len: 0,
                data: vec![0u8; cfg.max_payload].into_boxed_slice(),
            })
            .collect();
        Ok(JitterBuffer {
            delay: DelayManager::new(cfg.policy)?,
            cfg,
            decoder,
            stretcher,
            rate: rate as i64,
            frame,
            overlap,
            max_packet,
            slots,
            order: Vec::with_capacity(cfg.max_packets),
            free: (0..cfg.max_packets as u16).rev().collect(),
            seq_unwrap: Unwrapper::new(),
            ts_unwrap: Unwrapper::new(),
            seq_shift: 0,
            ts_shift: 0,
            seen: SeenWindow {
                bits: [0; 16],
                highest: None,
            },
            last_insert: None,
            highest_seq: None,
            anchor_ts: None,
            state: State::Idle,
            decoded_end_ts: 0,
            last_seq: 0,
            last_was_dtx: false,
            future: vec![0.0; cap],
            fut_len: 0,
            tail_len: 0,
            decode_buf: vec![0.0; max_packet],
            stretch_out: vec![0.0; 2 * max_lag + max_lag + frame],
            expand_wait: 0,
            conceal_run: 0,
            marks: [StartMark::default(); START_MARKS],
            n_marks: 0,
            stats: JitterStats::default(),
            waiting: WaitingTimes::new(),
            loss_avg: 0.0,
            fec_avg: 0.0,
            fec_wait: false,
        })
    }

    /// Samples per 10 ms frame: the length `pull` fills.
    pub fn frame_len(&self) -> usize {
        self.frame
    }

    /// The decoder.
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    fn media_us(&self, ts: i64) -> i64 {
        let anchor = self.anchor_ts.unwrap_or(ts);
        (ts - anchor) * 1_000_000 / self.rate
    }

    /// The playout offset: receiver time minus media time at the end of the decoded audio.
    fn offset_us(&self, now_us: i64) -> i64 {
        now_us + self.fut_len as i64 * 1_000_000 / self.rate - self.media_us(self.decoded_end_ts)
    }

    /// The offset the next packet has to meet: it is decoded one pull (10 ms) before the
    /// decoded audio runs out, so that much less than [`offset_us`](Self::offset_us). This is
    /// what is steered towards the target.
    fn effective_offset_us(&self, now_us: i64) -> i64 {
        self.offset_us(now_us) - 10_000
    }

    /// Insert a packet that arrived at `arrival`.
    ///
    /// # Errors
    /// [`InsertError`] for a payload that is too large or malformed (counted, dropped).
    ///
    /// # Real-time safety
    /// No allocation, lock or I/O: the payload is copied into a preallocated slot.
    pub fn insert(
        &mut self,
        packet: Packet<'_>,
        arrival: MediaTime,
    ) -> Result<InsertOutcome, InsertError> {
        // RT: copies into preallocated slots; fixed-size bookkeeping.
        let len = packet.payload.len();
        if len > self.cfg.max_payload {
            self.stats.rejected_packets += 1;
            return Err(InsertError::TooLarge {
                len,
                max: self.cfg.max_payload,
            });
        }
        let dur = match self.decoder.packet_samples(packet.payload) {
            Ok(n) if n > 0 && n <= self.max_packet => n,
            _ => {
                self.stats.rejected_packets += 1;
                return Err(InsertError::Malformed);
            }
        };
        let dtx = self.decoder.is_dtx(packet.payload);
        let arrival_us = arrival.as_micros().min(i64::MAX as u64) as i64;
        let mut seq = self.seq_unwrap.unwrap(u64::from(packet.seq)) + self.seq_shift;
        let mut ts = self.ts_unwrap.unwrap(u64::from(packet.timestamp)) + self.ts_shift;
        if let Some(last) = self.last_insert {
            let dseq = seq - last.seq;
            let predicted = last.ts + dseq * last.dur as i64;
            let limit = if last.dtx { 10 * self.rate } else { self.rate };
            if dseq.abs() > MAX_SEQ_JUMP || (ts - predicted).abs() > limit {
                // A discontinuity (sender restart, timestamp jump): continue the timeline
                // right after the newest packet seen.
                let (new_seq, new_ts) = (last.seq + 1, last.ts + last.dur as i64);
                self.seq_shift += new_seq - seq;
                self.ts_shift += new_ts - ts;
                seq = new_seq;
                ts = new_ts;
                self.stats.timestamp_jumps += 1;
            }
        }
        if self.last_insert.is_none_or(|l| seq > l.seq) {
            self.last_insert = Some(LastInsert { seq, ts, dur, dtx });
        }
        match self.seen.check(seq) {
            Seen::New => {}
            Seen::Duplicate => {
                self.stats.duplicate_packets += 1;
                return Ok(InsertOutcome::Duplicate);
            }
            Seen::TooOld => {
                self.stats.late_packets += 1;
                return Ok(InsertOutcome::Late);
            }
        }
        let reordered = self.highest_seq.is_some_and(|h| seq < h);
        if reordered {
            self.stats.reordered_packets += 1;
        }
        self.track_loss(seq, dur, self.decoder.has_fec(packet.payload));
        self.highest_seq = Some(self.highest_seq.map_or(seq, |h| h.max(seq)));
        if self.anchor_ts.is_none() {
            self.anchor_ts = Some(ts);
        }
        let media = self.media_us(ts);
        self.delay.update(arrival_us, media, arrival_us - media);
        match self.state {
            State::Playing if ts + dur as i64 <= self.decoded_end_ts => {
                self.stats.late_packets += 1;
                return Ok(InsertOutcome::Late);
            }
            State::Idle => {
                self.state = State::Waiting {
                    start_at_us: arrival_us + i64::from(self.cfg.start_delay_ms) * 1000,
                };
            }
            _ => {}
        }
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                // Full: the oldest packet goes (drop-oldest, counted).
                let oldest = self.order.remove(0);
                self.stats.overflow_discards += 1;
                oldest
            }
        };
        let slot = &mut self.slots[idx as usize];
        slot.seq = seq;
        slot.ts = ts;
        slot.dur = dur;
        slot.arrival_us = arrival_us;
        slot.len = len;
        slot.data[..len].copy_from_slice(packet.payload);
        let slots = &self.slots;
        let pos = self
            .order
            .iter()
            .rposition(|&o| {
                let s = &slots[o as usize];
                (s.ts, s.seq) < (ts, seq)
            })
            .map_or(0, |p| p + 1);
        self.order.insert(pos, idx);
        self.stats.packets_inserted += 1;
        Ok(InsertOutcome::Inserted { reordered })
    }

    /// Updates the loss and FEC averages with a new packet (`seq`, `dur` samples) and sets the
    /// delay estimator's margin floor while waiting for FEC ([`JitterConfig::fec_wait_loss`]).
    /// A packet that fills an earlier gap (reordered) counts as one arrival; its gap was
    /// counted as loss.
    fn track_loss(&mut self, seq: i64, dur: usize, fec: bool) {
        // RT: constant time.
        let missing = self
            .highest_seq
            .map_or(0, |h| (seq - h - 1).clamp(0, MAX_SEQ_JUMP)) as i32;
        let k = 1.0 / LOSS_MEMORY_PACKETS;
        // `missing` lost sequence numbers and one arrival.
        let keep = (1.0 - k).powi(missing);
        self.loss_avg = self.loss_avg * keep + (1.0 - keep);
        self.loss_avg *= 1.0 - k;
        self.fec_avg += k * (f64::from(u8::from(fec)) - self.fec_avg);
        let fec_present = self.fec_avg > FEC_PRESENT_FRACTION;
        self.fec_wait = fec_present
            && if self.fec_wait {
                self.loss_avg > FEC_WAIT_OFF_LOSS.min(self.cfg.fec_wait_loss)
            } else {
                self.loss_avg > self.cfg.fec_wait_loss
            };
        let floor = if self.fec_wait {
            dur as i64 * 1_000_000 / self.rate
        } else {
            0
        };
        self.delay.set_min_margin_us(floor);
    }

    fn next_step(&self, now_us: i64) -> Step {
        let de = self.decoded_end_ts;
        let Some(&first) = self.order.first() else {
            return if self.last_was_dtx {
                Step::Cng
            } else {
                Step::Expand(None)
            };
        };
        let s = &self.slots[first as usize];
        if s.ts <= de {
            return Step::Decode;
        }
        let gap = (s.ts - de) as usize;
        if s.seq <= self.last_seq + 1 {
            // Nothing is missing: a timestamp gap (DTX or a pause) is filled with comfort noise;
            // a gap shorter than a frame is skipped.
            return if gap >= self.frame {
                Step::Cng
            } else {
                Step::Decode
            };
        }
        if s.seq == self.last_seq + 2
            && gap <= self.max_packet
            && self.decoder.has_fec(&s.data[..s.len])
        {
            return Step::Fec;
        }
        // A burst: the first queued packet's FEC covers the last missing one, so only the
        // ones before it are concealed (then skipped), not the whole gap.
        let fec = gap > s.dur && s.dur <= self.max_packet && self.decoder.has_fec(&s.data[..s.len]);
        let conceal = if fec { gap - s.dur } else { gap };
        let conceal_us = conceal as i64 * 1_000_000 / self.rate;
        let excess = self
            .delay
            .target_us()
            .map_or(0, |t| self.effective_offset_us(now_us) - t);
        if self.expand_wait >= conceal || excess >= conceal_us {
            Step::Skip { fec }
        } else {
            Step::Expand(Some(self.last_seq + 1))
        }
    }

    fn push_mark(&mut self, seq: i64, pos: usize, fec: bool) {
        if self.n_marks == START_MARKS {
            self.marks.copy_within(1.., 0);
            self.n_marks -= 1;
        }
        self.marks[self.n_marks] = StartMark { seq, pos, fec };
        self.n_marks += 1;
    }

    /// Append `n` samples of `decode_buf`, cross-fading over a concealment tail if there is one.
    fn append_decoded(&mut self, n: usize) -> usize {
        let start = self.fut_len;
        let n = n.min(self.future.len() - start);
        let ov = self.tail_len.min(n);
        for i in 0..ov {
            let w = (i + 1) as f32 / (ov + 1) as f32;
            self.future[start + i] = self.future[start + i] * (1.0 - w) + self.decode_buf[i] * w;
        }
        self.future[start + ov..start + n].copy_from_slice(&self.decode_buf[ov..n]);
        self.fut_len += n;
        self.tail_len = 0;
        start
    }

    fn end_conceal_run(&mut self) {
        self.conceal_run = 0;
        self.expand_wait = 0;
    }

    fn decode_first(&mut self, now_us: i64) {
        if self.order.is_empty() {
            return;
        }
        let idx = self.order.remove(0) as usize;
        self.free.push(idx as u16);
        let (seq, ts, dur, arrival_us, len) = {
            let s = &self.slots[idx];
            (s.seq, s.ts, s.dur, s.arrival_us, s.len)
        };
        let payload = &self.slots[idx].data[..len];
        let dtx = self.decoder.is_dtx(payload);
        let out = &mut self.decode_buf[..dur];
        match self.decoder.decode(payload, out) {
            Ok(n) if n >= dur => {}
            Ok(n) => out[n..].fill(0.0),
            Err(_) => {
                self.stats.decode_errors += 1;
                if self.decoder.conceal(out).is_err() {
                    out.fill(0.0);
                }
            }
        }
        let pos = self.append_decoded(dur);
        self.push_mark(seq, pos, false);
        self.waiting
            .record(now_us.saturating_sub(arrival_us).max(0) as u64);
        self.stats.packets_decoded += 1;
        self.decoded_end_ts = ts + dur as i64;
        self.last_seq = seq;
        self.last_was_dtx = dtx;
        self.end_conceal_run();
    }

    fn decode_fec(&mut self) {
        let Some(&first) = self.order.first() else {
            return;
        };
        let s = &self.slots[first as usize];
        let gap = ((s.ts - self.decoded_end_ts) as usize).min(self.max_packet);
        let payload = &s.data[..s.len];
        let ts = s.ts;
        let out = &mut self.decode_buf[..gap];
        if self.decoder.decode_fec(payload, out).is_err() {
            self.stats.decode_errors += 1;
            if self.decoder.conceal(out).is_err() {
                out.fill(0.0);
            }
        }
        let pos = self.append_decoded(gap);
        let seq = self.last_seq + 1;
        self.push_mark(seq, pos, true);
        self.stats.fec_recovered += 1;
        self.decoded_end_ts = ts;
        self.last_seq = seq;
        self.last_was_dtx = false;
        self.end_conceal_run();
    }

    /// Produce one frame of concealment or comfort noise, keeping an overlap tail for the
    /// cross-fade into whatever comes next.
    fn synth(&mut self, cng: bool) {
        let had = self.tail_len;
        self.fut_len += had;
        self.tail_len = 0;
        let req = if had > 0 {
            self.frame
        } else {
            self.frame + self.overlap
        };
        let end = (self.fut_len + req).min(self.future.len());
        let buf = &mut self.future[self.fut_len..end];
        let res = if cng {
            self.decoder.comfort_noise(buf)
        } else {
            self.decoder.conceal(buf)
        };
        if res.is_err() {
            buf.fill(0.0);
            self.stats.decode_errors += 1;
        }
        let got = end - self.fut_len;
        let tail = self.overlap.min(got);
        self.fut_len += got - tail;
        self.tail_len = tail;
    }

    /// A short concealment tail to cross-fade from, when jumping over a gap without concealing.
    fn ensure_tail(&mut self) {
        if self.tail_len > 0 {
            return;
        }
        let end = (self.fut_len + self.overlap).min(self.future.len());
        let buf = &mut self.future[self.fut_len..end];
        if self.decoder.conceal(buf).is_err() {
            buf.fill(0.0);
        }
        self.tail_len = end - self.fut_len;
    }

    /// Decode ahead while the next packet is due, until `want` samples are ready.
    fn decode_ahead(&mut self, want: usize, now_us: i64) {
        while self.fut_len < want {
            match self.order.first() {
                Some(&f) if self.slots[f as usize].ts <= self.decoded_end_ts => {
                    self.decode_first(now_us)
                }
                _ => break,
            }
        }
    }

    fn shift_marks(&mut self, from: usize, by: i64) {
        for m in &mut self.marks[..self.n_marks] {
            if m.pos >= from {
                m.pos = (m.pos as i64 + by).max(0) as usize;
            }
        }
    }

    /// The highest playout offset the buffer waits up to, if bounded: the target plus the
    /// backlog bound, or the estimator's base plus the delay cap, whichever is lower, but never
    /// below the target.
    fn wait_limit_us(&self) -> Option<i64> {
        let target = self.delay.target_us()?;
        let mut limit = i64::MAX;
        if self.cfg.max_backlog_ms.is_finite() {
            limit = limit.min(target.saturating_add((self.cfg.max_backlog_ms * 1000.0) as i64));
        }
        if self.cfg.stall_regime_backlog_ms.is_finite()
            && self.delay.stall_fraction() > self.cfg.stall_regime_fraction
        {
            let bound = (self.cfg.stall_regime_backlog_ms * 1000.0) as i64;
            limit = limit.min(target.saturating_add(bound));
        }
        if self.cfg.max_delay_ms.is_finite() {
            let cap = self
                .delay
                .base_us()
                .saturating_add((self.cfg.max_delay_ms * 1000.0) as i64);
            limit = limit.min(cap.max(target));
        }
        (limit < i64::MAX).then_some(limit)
    }

    /// Whether the playout offset is above the wait limit ([`Self::wait_limit_us`]).
    fn over_backlog(&self, now_us: i64) -> bool {
        self.wait_limit_us()
            .is_some_and(|limit| self.effective_offset_us(now_us) > limit)
    }

    /// The backlog bound and delay cap: when the offset is above the wait limit, skip to the
    /// newest queued packet that does not take the offset below the target, discarding the
    /// queued packets before it (NetEq discards packets older than its playout point in the
    /// same way instead of playing a long backlog).
    fn flush_backlog(&mut self, now_us: i64, rep: &mut PullReport) {
        // RT: walks the preallocated queue.
        let (Some(target), Some(limit)) = (self.delay.target_us(), self.wait_limit_us()) else {
            return;
        };
        let offset = self.effective_offset_us(now_us);
        if offset <= limit || self.order.len() < 2 {
            return;
        }
        let excess = offset - target;
        let want_ts = self.decoded_end_ts + excess * self.rate / 1_000_000;
        // The newest queued packet starting at or before `want_ts`.
        let slots = &self.slots;
        let Some(keep) = self
            .order
            .iter()
            .rposition(|&o| slots[o as usize].ts <= want_ts)
        else {
            return;
        };
        if keep == 0 {
            return;
        }
        let s = &self.slots[self.order[keep] as usize];
        let (seq, ts) = (s.seq, s.ts);
        if ts <= self.decoded_end_ts {
            return;
        }
        let first = self.last_seq + 1;
        let dropped = keep as u64;
        for i in 0..keep {
            let idx = self.order[i];
            self.free.push(idx);
        }
        self.order.drain(..keep);
        self.stats.flushed_packets += dropped;
        self.stats.packets_lost += ((seq - first).max(0) as u64).saturating_sub(dropped);
        rep.flushed = Some((first, seq - 1));
        self.decoded_end_ts = ts;
        self.last_seq = seq - 1;
        self.ensure_tail();
        self.expand_wait = 0;
    }

    fn stretch(&mut self, now_us: i64, rep: &mut PullReport) {
        let Some(target) = self.delay.target_us() else {
            return;
        };
        let min_t = self.rate as usize / 400;
        let max_t = self.stretcher.max_period();
        for round in 0..2 {
            let excess = self.effective_offset_us(now_us) - target;
            let ms = |v: f64| (v * 1000.0) as i64;
            let fast = excess > ms(self.cfg.fast_accelerate_above_ms);
            let accelerate = excess > ms(self.cfg.accelerate_above_ms);
            let expand = excess < -ms(self.cfg.expand_below_ms);
            if round == 1 && !fast {
                return;
            }
            if !(accelerate || expand) {
                return;
            }
            // Accelerate removes at most the excess (never undershooting the target); expand
            // may overshoot by up to just under the accelerate threshold (no oscillation).
            let room_us = if accelerate {
                excess.unsigned_abs()
            } else {
                excess.unsigned_abs()
                    + (ms(self.cfg.accelerate_above_ms) as u64).saturating_sub(1000)
            };
            let amount = (room_us as usize * self.rate as usize / 1_000_000).clamp(min_t, max_t);
            self.decode_ahead(2 * amount + self.frame, now_us);
            if accelerate {
                // Keep a frame to play after removing up to half the window.
                let l = (2 * amount)
                    .min(2 * self.fut_len.saturating_sub(self.frame))
                    .min(self.fut_len);
                if l < 2 * min_t {
                    return;
                }
                let Ok(r) = self.stretcher.accelerate_into(
                    &self.future[..l],
                    &mut self.stretch_out[..l],
                    fast,
                ) else {
                    return;
                };
                if !r.stretched() {
                    return;
                }
                let t = r.period;
                self.future[..l - t].copy_from_slice(&self.stretch_out[..l - t]);
                self.future
                    .copy_within(l..self.fut_len + self.tail_len, l - t);
                self.fut_len -= t;
                // Positions map monotonically: [0, 2T) was squeezed into [0, T).
                for m in &mut self.marks[..self.n_marks] {
                    m.pos = if m.pos < 2 * t { m.pos / 2 } else { m.pos - t };
                }
                self.stats.accelerated_samples += t as u64;
                self.stats.accelerate_events += 1;
                rep.action = if fast {
                    Action::FastAccelerate
                } else {
                    Action::Accelerate
                };
                rep.stretched -= t as i64;
            } else {
                let l = (2 * amount).min(self.fut_len);
                if l < 2 * min_t || self.fut_len + self.tail_len + max_t > self.future.len() {
                    return;
                }
                let Ok(r) = self.stretcher.expand_into(
                    &self.future[..l],
                    &mut self.stretch_out[..l + max_t],
                    false,
                ) else {
                    return;
                };
                if !r.stretched() {
                    return;
                }
                let t = r.period;
                self.future
                    .copy_within(l..self.fut_len + self.tail_len, l + t);
                self.future[..l + t].copy_from_slice(&self.stretch_out[..l + t]);
                self.fut_len += t;
                self.shift_marks(t, t as i64);
                self.stats.preemptive_samples += t as u64;
                self.stats.preemptive_events += 1;
                rep.action = Action::PreemptiveExpand;
                rep.stretched += t as i64;
                return;
            }
        }
    }

    /// Produce the next 10 ms of audio at receiver time `now` into `out`, and say what was done.
    /// Insert every packet that arrived up to `now` first.
    ///
    /// # Errors
    /// [`PullError::WrongLength`] when `out` is not [`frame_len`](Self::frame_len) long.
    ///
    /// # Real-time safety
    /// No allocation, lock or I/O: decoding, concealment and stretching work in buffers sized
    /// at construction.
    pub fn pull(&mut self, now: MediaTime, out: &mut [f32]) -> Result<PullReport, PullError> {
        // RT: preallocated buffers only.
        if out.len() != self.frame {
            return Err(PullError::WrongLength {
                expected: self.frame,
                got: out.len(),
            });
        }
        let now_us = now.as_micros().min(i64::MAX as u64) as i64;
        match self.state {
            State::Idle => {
                out.fill(0.0);
                return Ok(PullReport::new(Action::Idle));
            }
            State::Waiting { start_at_us } => {
                let Some(&first) = self.order.first() else {
                    out.fill(0.0);
                    return Ok(PullReport::new(Action::Idle));
                };
                if now_us < start_at_us {
                    out.fill(0.0);
                    return Ok(PullReport::new(Action::Idle));
                }
                let s = &self.slots[first as usize];
                self.decoded_end_ts = s.ts;
                self.last_seq = s.seq - 1;
                self.state = State::Playing;
            }
            State::Playing => {}
        }
        let mut rep = PullReport::new(Action::Normal);
        if self.fut_len < self.frame {
            self.flush_backlog(now_us, &mut rep);
        }
        let mut guard = 0;
        while self.fut_len < self.frame && guard < 64 {
            guard += 1;
            match self.next_step(now_us) {
                Step::Decode => {
                    if self.conceal_run > 0 || self.tail_len > 0 {
                        rep.action = Action::Merge;
                    }
                    self.decode_first(now_us);
                }
                Step::Fec => {
                    if self.conceal_run > 0 {
                        rep.action = Action::Merge;
                    }
                    self.decode_fec();
                }
                Step::Skip { fec } => {
                    if let Some(&f) = self.order.first() {
                        let s = &self.slots[f as usize];
                        // With `fec`, stop one packet short: the next step decodes its FEC.
                        let (seq, ts) = if fec {
                            (s.seq - 1, s.ts - s.dur as i64)
                        } else {
                            (s.seq, s.ts)
                        };
                        let first_lost = self.last_seq + 1;
                        if seq > first_lost {
                            self.stats.packets_lost += (seq - first_lost) as u64;
                            rep.lost = Some((first_lost, seq - 1));
                        }
                        self.decoded_end_ts = ts;
                        self.last_seq = seq - 1;
                        self.ensure_tail();
                        self.expand_wait = 0;
                    }
                }
                Step::Cng => {
                    self.synth(true);
                    self.decoded_end_ts += self.frame as i64;
                    self.stats.comfort_noise_samples += self.frame as u64;
                    rep.action = Action::ComfortNoise;
                }
                Step::Expand(missing) => {
                    self.synth(false);
                    if missing.is_none() && self.over_backlog(now_us) {
                        // Waiting longer would take the delay past the backlog bound: the
                        // playout point moves on with the concealment, and packets older than
                        // it are dropped as late when they arrive.
                        self.decoded_end_ts += self.frame as i64;
                    }
                    if self.conceal_run == 0 {
                        self.stats.concealment_events += 1;
                    }
                    let before = self.conceal_run as u64;
                    self.conceal_run += self.frame;
                    self.expand_wait += self.frame;
                    let limit = INTERRUPTION_MS * self.rate as u64 / 1000;
                    if before < limit && self.conceal_run as u64 >= limit {
                        self.stats.interruptions += 1;
                    }
                    self.stats.concealed_samples += self.frame as u64;
                    rep.action = Action::Expand;
                    rep.concealed_seq = missing;
                }
            }
        }
        if matches!(rep.action, Action::Normal | Action::Merge) {
            self.stretch(now_us, &mut rep);
        }
        let f = self.frame;
        out.copy_from_slice(&self.future[..f]);
        self.future.copy_within(f..self.fut_len + self.tail_len, 0);
        self.fut_len -= f;
        // Report the packets that started playing in this frame.
        let mut kept = 0;
        for i in 0..self.n_marks {
            let m = self.marks[i];
            if m.pos < f {
                if rep.n_started < MAX_STARTED {
                    rep.started[rep.n_started] = Started {
                        seq: m.seq,
                        offset: m.pos,
                        fec: m.fec,
                    };
                    rep.n_started += 1;
                }
            } else {
                self.marks[kept] = StartMark {
                    pos: m.pos - f,
                    ..m
                };
                kept += 1;
            }
        }
        self.n_marks = kept;
        self.stats.output_samples += f as u64;
        Ok(rep)
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats;
        let ms = |samples: usize| samples as f64 * 1000.0 / self.rate as f64;
        let queued: usize = self.order.iter().map(|&o| self.slots[o as usize].dur).sum();
        s.current_delay_ms = ms(self.fut_len + queued);
        let base = self.delay.base_us();
        if let Some(t) = self.delay.target_us() {
            s.target_delay_ms = (t - base) as f64 / 1000.0;
        }
        s
    }

    /// The playout offset above the fastest recent packet at `now`, ms (what [`stats`]
    /// reports as `playout_delay_ms` when given the time).
    ///
    /// [`stats`]: Self::stats
    pub fn playout_delay_ms(&self, now: MediaTime) -> f64 {
        let now_us = now.as_micros().min(i64::MAX as u64) as i64;
        (self.effective_offset_us(now_us) - self.delay.base_us()) as f64 / 1000.0
    }

    /// Statistics including the playout delay at `now` and the waiting-time figures.
    pub fn stats_at(&self, now: MediaTime) -> JitterStats {
        let mut s = self.stats();
        s.playout_delay_ms = self.playout_delay_ms(now);
        s.mean_waiting_ms = self.waiting.mean_ms();
        s.p95_waiting_ms = self.waiting.quantile_ms(0.95);
        s
    }

    /// The current target playout offset (in the units of arrival minus media time), µs.
    pub fn target_offset_us(&self) -> Option<i64> {
        self.delay.target_us()
    }

    /// Holds playout this much longer than the delay estimate asks for (lip sync: audio waits
    /// for the video it goes with). The buffer moves to the new target by time stretching, as
    /// for any change of target; zero (the default) removes the hold. Clamped to 0..=1 s.
    ///
    /// # Real-time safety
    /// Sets one field.
    pub fn set_extra_delay(&mut self, extra: std::time::Duration) {
        let us = extra.as_micros().min(1_000_000) as i64;
        self.delay.set_extra_us(us);
    }

    /// The hold set by [`set_extra_delay`](Self::set_extra_delay), µs.
    pub fn extra_delay_us(&self) -> i64 {
        self.delay.extra_us()
    }

    /// After a [`pull`](Self::pull) at `now`: the playout offset still to go before the target
    /// is reached, as the next pull (10 ms later) will see it, µs (positive: the buffer is below
    /// its target and will stretch; `None` before playout started).
    pub fn offset_error_us(&self, now: MediaTime) -> Option<i64> {
        let next_us = (now.as_micros().min(i64::MAX as u64 / 2) as i64) + 10_000;
        let t = self.delay.target_us()?;
        matches!(self.state, State::Playing).then(|| t - self.effective_offset_us(next_us))
    }

    /// The RTP timestamp (as the sender wrote it) of the first sample of the frame the last
    /// [`pull`](Self::pull) at `now` handed out, i.e. of the sample being played at `now`;
    /// `None` before playout started. Timestamps are in the stream's clock (the buffer's
    /// sample rate). Lip sync maps it to the sender's capture time with its sender reports.
    pub fn played_timestamp(&self) -> Option<u32> {
        matches!(self.state, State::Playing).then(|| {
            let ts = self.decoded_end_ts - (self.fut_len + self.frame) as i64 - self.ts_shift;
            ts as u32
        })
    }

    /// Whether the buffer is waiting for FEC ([`JitterConfig::fec_wait_loss`]): loss is being
    /// seen and the stream carries FEC, so the target's margin is at least one packet.
    pub fn waiting_for_fec(&self) -> bool {
        self.fec_wait
    }

    /// Packets waiting in the buffer.
    pub fn packets_buffered(&self) -> usize {
        self.order.len()
    }
}
