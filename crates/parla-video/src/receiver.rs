//! The receive pipeline of one video stream: RTP packets (media and RTX) in; NACK and
//! PLI/FIR RTCP out; frames ready for decoding, with render times, out.
//!
//! `on_rtp` restores RTX packets (RFC 4588), tells the [`NackModule`] about every packet, feeds
//! parla-rtp's [`FrameAssembler`] and moves complete frames into the [`FrameBuffer`], updating
//! the [`JitterEstimator`] with frames that needed no retransmission. `poll_rtcp` writes the
//! NACK for the packets due and a PLI (or FIR) when a keyframe is needed. `poll_frame` releases
//! the next frame due for decoding.
//!
//! A keyframe is requested (at most once per `min_keyframe_interval`, and not sooner than one
//! round-trip time after the previous request) when a frame cannot become decodable in time:
//! - the NACK module gave a packet up (retries exhausted, too old, or the missing list
//!   overflowed after an outage);
//! - the assembler gave a frame up (its missing packets did not come within `max_wait`), so the
//!   reference chain is broken;
//! - a frame arrived that follows a gap and is not a keyframe;
//! - packets keep arriving but no frame has become decodable for `keyframe_timeout`.

use std::time::Duration;

use parla_core::{ConfigError, MediaTime};
use parla_rtp::WriteError;
use parla_rtp::payload::assembler::{
    AssemblerConfig, AssemblerEvent, Depacketizer, FrameAssembler,
};
use parla_rtp::rtcp::{FirEntry, write_fir, write_nack, write_pli};
use parla_rtp::rtp::{RtpPacket, RtxMapping, unwrap_rtx};

use crate::frame_buffer::{FrameBuffer, FrameBufferConfig, FrameInsert, ReadyFrame};
use crate::jitter::{JitterConfig, JitterEstimator};
use crate::keyframe::KeyframeLimiter;
use crate::nack::{NackConfig, NackModule};

/// Most sequence numbers put into one NACK.
pub const MAX_NACK_ITEMS: usize = 256;

/// Remembered recent recoveries (to leave frames that needed one out of the jitter estimate).
const RECOVERED_RING: usize = 64;

/// Settings of a [`VideoReceiver`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceiverConfig {
    /// SSRC of the media stream.
    pub media_ssrc: u32,
    /// Our SSRC, as the sender of RTCP feedback.
    pub local_ssrc: u32,
    /// The RTX stream, if retransmissions come on one.
    pub rtx: Option<RtxMapping>,
    /// The frame assembler (its `max_wait` bounds how long a frame waits for retransmissions).
    pub assembler: AssemblerConfig,
    /// The NACK module.
    pub nack: NackConfig,
    /// The frame buffer.
    pub buffer: FrameBufferConfig,
    /// The jitter estimator.
    pub jitter: JitterConfig,
    /// Least time between keyframe requests (raised to the RTT when that is longer).
    pub min_keyframe_interval: Duration,
    /// Packets arriving without a decodable frame for this long: request a keyframe.
    pub keyframe_timeout: Duration,
    /// Ask with FIR (RFC 5104) instead of PLI (RFC 4585).
    pub use_fir: bool,
    /// After a packet loss, for this long the target delay includes what a retransmission
    /// needs, so it can arrive before its frame is due; on a link that stays clean the delay
    /// then drops to the jitter alone. A clean link never pays for retransmissions: the frame
    /// with the first lost packet completes when its retransmission arrives and is released
    /// late once (the frames after it are then scheduled with the larger delay).
    pub loss_memory: Duration,
    /// Packets resuming after a silence at least this long, with packets missing: a keyframe is
    /// requested at once, in parallel with the NACKs (an outage; whichever repairs first wins).
    /// The gap of an outage is not a packet loss for `loss_memory`: it says nothing of the
    /// link's random loss, and the frames after it (a keyframe the sender sent while the link
    /// was down, or the one asked for) would otherwise be held a round trip longer.
    pub outage_gap: Duration,
}

impl ReceiverConfig {
    /// Defaults for a media SSRC.
    pub fn new(media_ssrc: u32, local_ssrc: u32) -> Self {
        ReceiverConfig {
            media_ssrc,
            local_ssrc,
            rtx: None,
            assembler: AssemblerConfig {
                max_wait: Duration::from_millis(300),
                ..AssemblerConfig::default()
            },
            nack: NackConfig::default(),
            buffer: FrameBufferConfig::default(),
            jitter: JitterConfig::default(),
            min_keyframe_interval: Duration::from_millis(200),
            keyframe_timeout: Duration::from_millis(1000),
            use_fir: false,
            loss_memory: Duration::from_secs(10),
            outage_gap: Duration::from_millis(250),
        }
    }
}

/// Counters of a [`VideoReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiverStats {
    /// Media packets received (originals and restored RTX).
    pub packets: u64,
    /// RTX packets received and restored.
    pub rtx_received: u64,
    /// Packets that were missing and then arrived (by RTX or late).
    pub recovered: u64,
    /// RTP or RTX packets that did not parse or belong to no known stream.
    pub rejected: u64,
    /// Complete frames out of the assembler.
    pub frames_received: u64,
    /// Frames released for decoding.
    pub frames_ready: u64,
    /// Frames dropped: given up by the assembler (drop events), not decodable, refused by or
    /// skipped in the frame buffer.
    pub frames_dropped: u64,
    /// Keyframe requests sent (PLI or FIR).
    pub keyframes_requested: u64,
    /// NACK packets sent.
    pub nacks_sent: u64,
    /// Sequence numbers requested in them.
    pub nacked_packets: u64,
    /// Frames the decoder refused (reported through `on_decode_error`).
    pub decode_errors: u64,
    /// Frames released after their release time (they completed late, typically waiting for a
    /// retransmission that needed a second round trip).
    pub frames_late: u64,
    /// Recovered packets (`recovered`) whose frame was released late: the repair missed its
    /// frame's deadline.
    pub recovered_late: u64,
    /// The most a frame was released after its release time, microseconds.
    pub max_late_us: u64,
}

/// One video stream's receive pipeline; see the [module docs](self).
#[derive(Debug)]
pub struct VideoReceiver<D> {
    cfg: ReceiverConfig,
    asm: FrameAssembler<D>,
    nack: NackModule,
    buf: FrameBuffer,
    jitter: JitterEstimator,
    kf: KeyframeLimiter,
    rtt: Duration,
    scratch: Vec<u8>,
    nack_items: Vec<u16>,
    recovered: [u64; RECOVERED_RING],
    recovered_n: usize,
    want_keyframe: bool,
    first_packet: Option<MediaTime>,
    silence: Duration,
    frame_interval_us: f64,
    last_frame_ts: Option<u32>,
    last_loss: Option<MediaTime>,
    last_packet: Option<MediaTime>,
    last_progress: Option<MediaTime>,
    extra_delay: Duration,
    stats: ReceiverStats,
}

impl<D: Depacketizer> VideoReceiver<D> {
    /// A receiver for the payload format `depack`, allocating all its memory now.
    ///
    /// # Errors
    /// [`ConfigError`] if a part's configuration is invalid.
    pub fn new(depack: D, cfg: ReceiverConfig) -> Result<Self, ConfigError> {
        Ok(VideoReceiver {
            asm: FrameAssembler::new(depack, cfg.assembler)?,
            nack: NackModule::new(cfg.nack)?,
            buf: FrameBuffer::new(cfg.buffer)?,
            jitter: JitterEstimator::new(cfg.jitter),
            kf: KeyframeLimiter::new(cfg.min_keyframe_interval),
            rtt: Duration::from_millis(100),
            scratch: vec![0; cfg.assembler.max_payload + 100],
            nack_items: vec![0; MAX_NACK_ITEMS],
            recovered: [u64::MAX; RECOVERED_RING],
            recovered_n: 0,
            want_keyframe: false,
            first_packet: None,
            silence: Duration::ZERO,
            frame_interval_us: 0.0,
            last_frame_ts: None,
            last_loss: None,
            last_packet: None,
            last_progress: None,
            extra_delay: Duration::ZERO,
            stats: ReceiverStats::default(),
            cfg,
        })
    }

    /// The media SSRC and RTX stream this receiver takes (when they are learnt after
    /// construction, e.g. from an authenticated stream of the same peer). Packets of other
    /// SSRCs are rejected. Changing them mid-stream does not reset the receiver: the new
    /// stream's sequence numbers look like a jump, the NACK list overflows and a keyframe is
    /// requested, as after an outage.
    pub fn set_stream(&mut self, media_ssrc: u32, rtx: Option<RtxMapping>) {
        self.cfg.media_ssrc = media_ssrc;
        self.cfg.rtx = rtx;
    }

    /// The media SSRC this receiver takes.
    pub fn media_ssrc(&self) -> u32 {
        self.cfg.media_ssrc
    }

    /// Sets the round-trip time (from RTCP reports): it paces NACK retries and keyframe requests,
    /// and an incomplete frame waits at least 2.5 RTTs for its retransmissions (the assembler's
    /// `max_wait` when that is longer): time for a second request round (the first request or
    /// its retransmission lost) before the frame and every frame after it, until a keyframe,
    /// are given up. A keyframe requested instead could not come sooner than one RTT plus its
    /// own transmission.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
        self.asm
            .set_max_wait(self.cfg.assembler.max_wait.max(rtt * 5 / 2));
        self.kf
            .set_min_interval(self.cfg.min_keyframe_interval.max(rtt));
    }

    /// Takes an RTP packet of the media or the RTX stream that arrived at `now`. Packets of other
    /// streams and malformed packets are counted and ignored.
    ///
    /// # Real-time safety
    /// No allocation.
    pub fn on_rtp(&mut self, datagram: &[u8], now: MediaTime) {
        let Ok(pkt) = RtpPacket::parse(datagram) else {
            self.stats.rejected += 1;
            return;
        };
        let silence = self.last_packet.map(|t| now.saturating_since(t));
        self.last_packet = Some(now);
        if self.first_packet.is_none() {
            self.first_packet = Some(now);
        }
        self.silence = silence.unwrap_or(Duration::ZERO);
        if let Some(map) = self.cfg.rtx.filter(|m| m.rtx_ssrc == pkt.header.ssrc) {
            let mut scratch = std::mem::take(&mut self.scratch);
            match unwrap_rtx(datagram, &map, &mut scratch) {
                Ok((n, _)) => {
                    self.stats.rtx_received += 1;
                    if let Ok(p) = RtpPacket::parse(&scratch[..n]) {
                        self.on_media(&p, now);
                    }
                }
                Err(_) => self.stats.rejected += 1,
            }
            self.scratch = scratch;
        } else if pkt.header.ssrc == self.cfg.media_ssrc {
            self.on_media(&pkt, now);
        } else {
            self.stats.rejected += 1;
        }
    }

    fn on_media(&mut self, pkt: &RtpPacket<'_>, now: MediaTime) {
        self.stats.packets += 1;
        let missing_before = self.nack.stats().missing + self.nack.stats().overflows;
        let news = self.nack.on_packet(pkt.header.sequence, now);
        if self.nack.stats().missing + self.nack.stats().overflows > missing_before {
            if self.silence >= self.cfg.outage_gap {
                self.want_keyframe = true;
            } else {
                self.last_loss = Some(now);
            }
        }
        if news.recovered {
            self.stats.recovered += 1;
            self.recovered[self.recovered_n % RECOVERED_RING] = news.seq;
            self.recovered_n += 1;
        }
        self.asm.insert(pkt, now);
        self.drain_assembler(now);
    }

    fn drain_assembler(&mut self, now: MediaTime) {
        let target = self.target_delay();
        while let Some(ev) = self.asm.poll(now) {
            match ev {
                AssemblerEvent::Frame(f) => {
                    self.stats.frames_received += 1;
                    if let Some(prev) = self.last_frame_ts {
                        let d = f.timestamp.wrapping_sub(prev) as i32;
                        if d > 0 {
                            let us = f64::from(d) * 1e6 / f64::from(self.cfg.buffer.clock_rate);
                            self.frame_interval_us = if self.frame_interval_us == 0.0 {
                                us
                            } else {
                                0.9 * self.frame_interval_us + 0.1 * us.min(1e6)
                            };
                        }
                    }
                    self.last_frame_ts = Some(f.timestamp);
                    let retransmitted = self
                        .recovered
                        .iter()
                        .any(|&s| s >= f.first_seq && s <= f.last_seq);
                    if !retransmitted {
                        self.jitter
                            .on_frame(now, f.timestamp, f.data.len(), f.keyframe);
                    }
                    match self.buf.insert(&f, now, target) {
                        FrameInsert::Queued => {
                            self.last_progress = Some(now);
                            if f.keyframe {
                                // Older packets are of no use any more.
                                self.nack.forget_before(f.first_seq);
                                self.kf.keyframe_seen(now);
                                self.want_keyframe = false;
                            }
                        }
                        FrameInsert::Old => self.stats.frames_dropped += 1,
                        _ => {
                            self.stats.frames_dropped += 1;
                            self.want_keyframe = true;
                        }
                    }
                }
                AssemblerEvent::Dropped(d) => {
                    self.stats.frames_dropped += 1;
                    self.buf.break_chain();
                    self.nack.forget_before(d.end_seq);
                    self.want_keyframe = true;
                }
            }
        }
    }

    /// The delay from a frame's earliest arrival to its render time: jitter estimate, decode
    /// time and render delay, plus (while packet loss, not an outage, is recent, `loss_memory`) what a
    /// retransmission needs: one round-trip time, the NACK reordering delay and retry margin,
    /// and one frame interval (the loss of a frame's last packet shows only when the next frame
    /// starts).
    pub fn target_delay(&self) -> Duration {
        self.own_target_delay() + self.extra_delay
    }

    /// Holds frames this much longer than [`target_delay`](Self::target_delay) would without
    /// it (lip sync: video waits for the audio it goes with). Applies to frames completed from
    /// now on; zero (the default) removes the hold. Clamped to 0..=1 s.
    ///
    /// # Real-time safety
    /// Sets one field.
    pub fn set_extra_delay(&mut self, extra: Duration) {
        self.extra_delay = extra.min(Duration::from_secs(1));
    }

    /// The hold set by [`set_extra_delay`](Self::set_extra_delay).
    pub fn extra_delay(&self) -> Duration {
        self.extra_delay
    }

    /// The target delay without the lip-sync hold.
    fn own_target_delay(&self) -> Duration {
        let base =
            self.jitter.jitter() + self.cfg.buffer.decode_time + self.cfg.buffer.render_delay;
        let lossy = self.last_loss.is_some_and(|t| {
            self.last_packet
                .is_some_and(|now| now.saturating_since(t) < self.cfg.loss_memory)
        });
        if lossy {
            base + self.rtt
                + self.cfg.nack.retry_margin
                + self.cfg.nack.reorder_delay
                + Duration::from_micros(self.frame_interval_us as u64)
        } else {
            base
        }
    }

    /// Writes the feedback due at `now` into `out` as compound RTCP (a NACK for the packets due,
    /// then a PLI or FIR if a keyframe is needed and allowed); returns its length (0: nothing to
    /// send). Call on a timer (see [`next_wakeup`](Self::next_wakeup)) and after packets.
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// [`WriteError::BufferTooSmall`] if `out` cannot hold the feedback (1,100 bytes always
    /// can).
    pub fn poll_rtcp(&mut self, now: MediaTime, out: &mut [u8]) -> Result<usize, WriteError> {
        // Frames the assembler gave up on a timer.
        self.drain_assembler(now);
        if self.nack.take_keyframe_wanted() {
            self.want_keyframe = true;
        }
        // Packets keep coming but nothing has become decodable for `keyframe_timeout`.
        let stalled = match (self.last_packet, self.last_progress.or(self.first_packet)) {
            (Some(last), Some(progress)) => {
                now.saturating_since(last) < self.cfg.keyframe_timeout
                    && now.saturating_since(progress) >= self.cfg.keyframe_timeout
            }
            _ => false,
        };
        // Still waiting for the keyframe asked for: ask again (paced by the limiter, at least
        // one RTT apart), in case the request or the keyframe was lost.
        if stalled || (self.buf.needs_keyframe() && self.kf.granted() > 0) {
            self.want_keyframe = true;
        }
        let mut len = 0;
        let n = self.nack.poll(now, self.rtt, &mut self.nack_items);
        if n > 0 {
            len += write_nack(
                self.cfg.local_ssrc,
                self.cfg.media_ssrc,
                &self.nack_items[..n],
                out,
            )?;
            self.stats.nacks_sent += 1;
            self.stats.nacked_packets += n as u64;
        }
        let send_kf = if self.want_keyframe {
            self.want_keyframe = false;
            self.kf.request(now)
        } else {
            self.kf.poll(now)
        };
        if send_kf {
            len += if self.cfg.use_fir {
                let e = FirEntry {
                    ssrc: self.cfg.media_ssrc,
                    seq_nr: self.kf.fir_seq(),
                };
                write_fir(self.cfg.local_ssrc, &[e], &mut out[len..])?
            } else {
                write_pli(self.cfg.local_ssrc, self.cfg.media_ssrc, &mut out[len..])?
            };
            self.stats.keyframes_requested += 1;
            // A stall restarts its clock at each request.
            self.last_progress = Some(now);
        }
        Ok(len)
    }

    /// Reports that the decoder refused a frame released by [`poll_frame`](Self::poll_frame)
    /// (a reference it needs is missing, for example the parameter sets in a lost first packet
    /// of the stream, which no NACK can ask for): delta frames are dropped until a keyframe,
    /// which is requested.
    pub fn on_decode_error(&mut self, _now: MediaTime) {
        self.stats.decode_errors += 1;
        self.buf.break_chain();
        self.want_keyframe = true;
    }

    /// The next frame due for decoding at `now`.
    ///
    /// # Real-time safety
    /// No allocation.
    pub fn poll_frame(&mut self, now: MediaTime) -> Option<ReadyFrame<'_>> {
        let f = self.buf.pop(now)?;
        let release = f.render_time - (self.cfg.buffer.decode_time + self.cfg.buffer.render_delay);
        if f.completed_at > release {
            self.stats.frames_late += 1;
            self.stats.recovered_late += self
                .recovered
                .iter()
                .filter(|&&s| s >= f.first_seq && s <= f.last_seq)
                .count() as u64;
            let late = f.completed_at.saturating_since(release).as_micros() as u64;
            self.stats.max_late_us = self.stats.max_late_us.max(late);
        }
        self.stats.frames_ready += 1;
        Some(f)
    }

    /// The earliest time `poll_rtcp` or `poll_frame` may have something to do.
    pub fn next_wakeup(&self) -> Option<MediaTime> {
        let a = self.nack.next_due(self.rtt);
        let b = self.buf.next_due();
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The counters (frame-buffer skips and refusals included in `frames_dropped`).
    pub fn stats(&self) -> ReceiverStats {
        let mut s = self.stats;
        s.frames_dropped += self.buf.stats().skipped;
        s
    }

    /// The jitter estimator (for reports).
    pub fn jitter(&self) -> &JitterEstimator {
        &self.jitter
    }

    /// The NACK module (for reports).
    pub fn nack(&self) -> &NackModule {
        &self.nack
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parla_rtp::payload::generic::GenericDepacketizer;
    use parla_rtp::rtp::{RtpHeader, RtpPacketSpec};

    /// One-packet frames of the generic payload, 30 per second.
    fn packet(seq: u16) -> Vec<u8> {
        let payload = [0x80 | if seq == 1 { 0x40 } else { 0 }, 1, 2, 3];
        let spec = RtpPacketSpec {
            header: RtpHeader {
                marker: true,
                sequence: seq,
                timestamp: u32::from(seq) * 3000,
                ssrc: 7,
                ..Default::default()
            },
            payload: &payload,
            ..Default::default()
        };
        let mut out = vec![0u8; 64];
        let n = spec.write_to(&mut out).unwrap();
        out.truncate(n);
        out
    }

    fn receiver() -> VideoReceiver<GenericDepacketizer> {
        let mut r = VideoReceiver::new(GenericDepacketizer, ReceiverConfig::new(7, 9)).unwrap();
        r.set_rtt(Duration::from_millis(100));
        r
    }

    /// Random loss makes the frames wait for retransmissions; the gap of an outage does not.
    #[test]
    fn only_random_loss_adds_the_retransmission_budget() {
        let ms = MediaTime::from_millis;
        let mut lossy = receiver();
        let mut outage = receiver();
        for seq in 1..=10u16 {
            let at = ms(33 * u64::from(seq));
            lossy.on_rtp(&packet(seq), at);
            outage.on_rtp(&packet(seq), at);
        }
        let clean = lossy.target_delay();
        assert_eq!(outage.target_delay(), clean);
        // Packet 11 lost at random: 12 arrives on time.
        lossy.on_rtp(&packet(12), ms(33 * 12));
        assert!(
            lossy.target_delay() >= clean + Duration::from_millis(100),
            "{:?} vs {clean:?}",
            lossy.target_delay()
        );
        // 15 packets lost in a 500 ms outage: the next arrives after the silence.
        outage.on_rtp(&packet(26), ms(33 * 26));
        assert_eq!(outage.target_delay(), clean);
        assert_eq!(outage.nack().stats().missing, 15);
    }
}
