//! Congestion control in the call: what [`MediaCore`](crate::MediaCore) runs on top of
//! `parla-cc`'s sans-IO pieces (docs/CONGESTION.md).
//!
//! ```text
//! send:    Opus packet -> RTP with the transport-wide sequence number extension
//!          -> estimator.on_packet_sent (numbered in send order)
//! receive: authenticated RTP -> FeedbackRecorder (arrival per transport sequence number)
//!                            -> ReceiveStats (RFC 3550 loss, jitter, LSR for the report)
//! tick:    feedback due -> transport-cc feedback packet + authentication trailer -> emit
//!          report due   -> SR (or RR) with our report block + trailer -> emit
//!          every 500 ms -> target -> BitrateAllocator -> AudioAdaptor -> Opus settings
//! RTCP in: trailer verified (forged / replayed / truncated counted and dropped) -> validity
//!          check -> transport feedback -> estimator; SR -> LSR; report block -> RTT, loss
//! ```
//!
//! RTCP shares the packet queues with RTP (RFC 5761 multiplexing: the second byte of an RTCP
//! packet is 192..=223). With encryption on every RTCP packet carries a MAC under the call's
//! feedback keys (`CallKeys::feedback_keys`) and an index in a replay window, so nobody on the
//! path can fake loss or delay to throttle the call; with encryption off (tests, plain-RTP
//! interop) RTCP is plain. The transport-wide sequence number is only recorded from packets
//! that authenticated.
//!
//! Everything is allocated in [`CallCc::new`]; every method here is allocation-free.

use parla_cc::allocator::{AudioAdaptor, AudioSettings, BitrateAllocator, StreamLimits};
use parla_cc::auth::{FeedbackAuth, TRAILER_LEN};
use parla_cc::estimator::{BandwidthEstimator, CcConfig, PROBE_GATE_QUEUE_US};
use parla_cc::rtcp::{RemoteReports, ReportInterval, RtcpMode, validate};
use parla_cc::twcc::{
    FMT_TWCC, FeedbackRecorder, MAX_FEEDBACK_LEN, PT_RTPFB, TwccFeedback, write_transport_seq,
};
use parla_core::MediaTime;
use parla_rtp::rtcp::{
    ReceiveStats, ReportBlock, SenderInfo, ntp_from_media_time, write_rr, write_sr,
};

use crate::config::{CallConfig, MAX_WIRE_PACKET};
use crate::error::EngineError;

/// The RFC 8285 one-byte extension id of the transport-wide sequence number on Parla's audio
/// packets (`a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01`).
pub const TRANSPORT_SEQ_EXT_ID: u8 = 3;

/// Bytes below RTP on the wire (IPv4 20 + UDP 8), counted in the estimator's packet sizes.
const LOWER_HEADERS: u32 = 28;
/// Bytes of one Parla audio packet besides the Opus payload: IPv4/UDP, RTP header, the
/// transport sequence number extension and the SFrame header and tag (AES-GCM, about 20 bytes).
pub const AUDIO_PACKET_OVERHEAD: u32 = LOWER_HEADERS + 12 + 8 + 20;
/// The audio adaptation runs this often, microseconds.
const ADAPT_EVERY_US: i64 = 500_000;
/// Transport feedback is sent at most this often...
const FEEDBACK_MIN_US: i64 = 50_000;
/// ...and at least this often while packets arrive, microseconds.
const FEEDBACK_MAX_US: i64 = 250_000;
/// Share of the received rate transport feedback may use (libwebrtc uses 5 %).
const FEEDBACK_SHARE: f64 = 0.05;
/// The estimate's ceiling for a call: audio only for now (video will raise it).
const MAX_ESTIMATE_BPS: u64 = 10_000_000;
/// An estimate this far below the one of the last allocation re-allocates at once (between the
/// 500 ms adaptations): the video's share, and with it the encoder and the pacer, follow a
/// falling link within a feedback interval rather than up to half a second later.
const FALL_REALLOCATE: f64 = 0.9;
/// The congestion window holds the estimate's worth of this long beyond the smallest RTT
/// measured: the feedback interval (at most 250 ms) and a queue allowance, microseconds.
const CWND_EXTRA_US: i64 = 250_000;
/// The congestion window never shrinks below this, bytes (a few full-size packets).
const CWND_MIN_BYTES: u64 = 6_000;
/// The congestion window applies only while transport feedback came in within this time,
/// microseconds (more than the longest feedback interval, [`FEEDBACK_MAX_US`]).
const CWND_FEEDBACK_US: i64 = 300_000;

/// The congestion-control figures of a call (part of [`CallStats`](crate::CallStats)).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct CcCounters {
    pub(crate) rtcp_sent: u64,
    pub(crate) rtcp_received: u64,
    pub(crate) rtcp_rejected: u64,
    pub(crate) feedback_sent: u64,
    pub(crate) feedback_received: u64,
    pub(crate) adaptations: u64,
}

/// What the tick-side poll asks the caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CcAction {
    /// An RTCP packet is ready in the buffer (length).
    Send(usize),
    /// Apply these audio settings to the encoder.
    Adapt(AudioSettings),
}

/// The sender's view for an SR.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendInfo {
    pub(crate) ssrc: u32,
    /// The RTP timestamp of what is captured at the report's time (lip sync maps it).
    pub(crate) rtp_timestamp: u32,
    pub(crate) packets: u64,
    pub(crate) octets: u64,
}

/// What the sender reports carry: audio, and video when the call sends it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendReport {
    pub(crate) audio: SendInfo,
    /// The video stream (an SR of its own in the same compound packet, for lip sync).
    pub(crate) video: Option<SendInfo>,
}

/// Congestion control of one call endpoint (see the module docs).
pub(crate) struct CallCc {
    bwe: BandwidthEstimator,
    alloc: BitrateAllocator,
    adaptor: AudioAdaptor,
    recorder: FeedbackRecorder,
    /// The peer's stream: its SSRC and reception statistics.
    recv: Option<(u32, ReceiveStats)>,
    remote: RemoteReports,
    interval: ReportInterval,
    auth: Option<Box<FeedbackAuth>>,
    next_report_us: i64,
    last_feedback_us: Option<i64>,
    next_adapt_us: i64,
    received_bytes_window: u64,
    window_start_us: i64,
    rx_rate_bps: f64,
    sent_since_report: bool,
    /// Whether a sender report for our audio / video stream has gone out
    /// ([`report_owed`](Self::report_owed)).
    audio_reported: bool,
    video_reported: bool,
    out: Box<[u8]>,
    pub(crate) counters: CcCounters,
    video_bps: u64,
    /// The estimate the last allocation split.
    allocated_bps: u64,
    last_rtt_us: Option<i64>,
    /// The smallest RTT the reports measured, microseconds.
    min_rtt_us: Option<i64>,
    /// When the last transport feedback arrived, microseconds.
    last_feedback_rx_us: Option<i64>,
}

impl std::fmt::Debug for CallCc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCc")
            .field("target_bps", &self.bwe.target_bps())
            .field("counters", &self.counters)
            .finish()
    }
}

/// The audio limits for the allocator from the app's bitrate (the ceiling).
fn audio_limits(max_opus_bps: u32) -> StreamLimits {
    // The overhead per second at the longest frames (60 ms) sits on top of Opus's minimum.
    let overhead_60 = u64::from(AUDIO_PACKET_OVERHEAD) * 8 * 1000 / 60;
    let overhead_20 = u64::from(AUDIO_PACKET_OVERHEAD) * 8 * 1000 / 20;
    StreamLimits {
        min_bps: 6_000 + overhead_60,
        max_bps: u64::from(max_opus_bps) + overhead_20,
        priority: 1,
    }
}

impl CallCc {
    /// Congestion control for a call with `cfg`, our stream `ssrc`, authenticating with `auth`
    /// (`None`: plain RTCP, encryption off).
    ///
    /// # Errors
    /// [`EngineError::Config`] if the estimator refuses the limits (not expected: they are
    /// ordered by construction).
    pub(crate) fn new(
        cfg: &CallConfig,
        ssrc: u32,
        auth: Option<Box<FeedbackAuth>>,
    ) -> Result<Self, EngineError> {
        let audio = audio_limits(cfg.bitrate_bps);
        let video = cfg.video;
        let video_limits = video.map(|v| StreamLimits {
            min_bps: v.min_bitrate_bps.into(),
            max_bps: v.max_bitrate_bps.into(),
            priority: 1,
        });
        let start = audio.max_bps + video.map_or(0, |v| u64::from(v.start_bitrate_bps));
        let bwe = BandwidthEstimator::new(CcConfig {
            min_bps: audio.min_bps,
            start_bps: start,
            max_bps: MAX_ESTIMATE_BPS,
            // Audio alone sends no padding: nothing to probe with.
            probing: false,
        })
        .map_err(|e| {
            EngineError::Config(parla_core::ConfigError::InvalidParameter {
                name: "congestion_control",
                detail: e.to_string(),
            })
        })?;
        let adaptor = AudioAdaptor::starting_at(AudioSettings {
            bitrate_bps: cfg.bitrate_bps.min(parla_cc::allocator::OPUS_MAX_BPS),
            fec: cfg.fec,
            expected_loss_percent: cfg.expected_loss_percent,
            frame_ms: cfg.frame_ms.max(20),
            dtx: cfg.dtx,
        });
        Ok(CallCc {
            bwe,
            alloc: BitrateAllocator {
                audio,
                video: video_limits,
            },
            adaptor,
            recorder: FeedbackRecorder::new(ssrc, 0),
            recv: None,
            remote: RemoteReports::new(ssrc),
            interval: ReportInterval::new(start, false, u64::from(ssrc)),
            auth,
            next_report_us: 0,
            last_feedback_us: None,
            next_adapt_us: ADAPT_EVERY_US,
            received_bytes_window: 0,
            window_start_us: 0,
            rx_rate_bps: 0.0,
            sent_since_report: false,
            audio_reported: false,
            video_reported: false,
            out: vec![0; MAX_FEEDBACK_LEN + TRAILER_LEN].into_boxed_slice(),
            counters: CcCounters::default(),
            last_rtt_us: None,
            min_rtt_us: None,
            last_feedback_rx_us: None,
            video_bps: video.map_or(0, |v| v.start_bitrate_bps.into()),
            allocated_bps: start,
        })
    }

    /// The authenticator, handed back at the end of a run (its index and replay window
    /// continue in the next run).
    pub(crate) fn into_auth(self) -> Option<Box<FeedbackAuth>> {
        self.auth
    }

    /// The transport-wide sequence number the next packet gets (kept across runs).
    pub(crate) fn next_transport_seq(&self) -> i64 {
        self.bwe.next_transport_seq()
    }

    /// Continues the transport-wide sequence of an earlier run.
    pub(crate) fn continue_transport_seq(&mut self, next: i64) {
        self.bwe.continue_transport_seq(next);
    }

    /// The app changed the bitrate: the audio ceiling follows.
    pub(crate) fn set_max_audio_bps(&mut self, bps: u32) {
        self.alloc.audio = audio_limits(bps);
    }

    /// An RTP packet of ours (`packet`, built with the extension placeholder) leaves at `now`:
    /// numbers it in send order.
    ///
    /// # Real-time safety
    /// No allocation.
    pub(crate) fn on_rtp_sent(&mut self, now: MediaTime, packet: &mut [u8]) {
        // RT: constant time.
        let size = packet.len() as u32 + LOWER_HEADERS;
        let seq = self.bwe.on_packet_sent(us(now), size, None);
        // The packet was built with the element: this cannot fail.
        let _ = write_transport_seq(packet, TRANSPORT_SEQ_EXT_ID, seq);
        self.sent_since_report = true;
    }

    /// An RTP packet of the peer authenticated (`transport_seq` from its extension, if any).
    ///
    /// # Real-time safety
    /// No allocation.
    pub(crate) fn on_rtp_received(
        &mut self,
        arrival: MediaTime,
        ssrc: u32,
        seq: u16,
        rtp_ts: u32,
        wire_len: usize,
        transport_seq: Option<u16>,
    ) {
        // RT: constant time (a sequence jump clears at most the recorder's window).
        if let Some(t) = transport_seq {
            self.recorder.on_packet(t, us(arrival));
        }
        let stats = match self.recv.as_mut() {
            Some((s, r)) if *s == ssrc => r,
            // A new stream (the peer restarted or changed SSRC): its statistics start over.
            _ => &mut self.recv.insert((ssrc, ReceiveStats::new(ssrc, 48_000))).1,
        };
        stats.on_packet(seq, rtp_ts, arrival);
        self.received_bytes_window += wire_len as u64 + u64::from(LOWER_HEADERS);
    }

    /// A video packet of the peer arrived (media or RTX; it is authenticated per frame, not per
    /// packet): its transport sequence number goes to the feedback, its size to the received
    /// rate. The RFC 3550 report statistics stay the audio stream's.
    ///
    /// # Real-time safety
    /// No allocation.
    pub(crate) fn on_video_received(
        &mut self,
        arrival: MediaTime,
        wire_len: usize,
        transport_seq: Option<u16>,
    ) {
        if let Some(t) = transport_seq {
            self.recorder.on_packet(t, us(arrival));
        }
        self.received_bytes_window += wire_len as u64 + u64::from(LOWER_HEADERS);
    }

    /// An RTCP packet arrived: verify, validate and use it. Returns the authenticated body
    /// (without the trailer) for the other RTCP users (video's NACK / PLI), `None` if it was
    /// rejected.
    ///
    /// # Real-time safety
    /// No allocation.
    pub(crate) fn on_rtcp<'a>(&mut self, data: &'a [u8], now: MediaTime) -> Option<&'a [u8]> {
        // RT: MAC verification and borrowed parsing.
        let body = match self.auth.as_mut() {
            Some(a) => match a.unprotect(data) {
                Ok(b) => b,
                Err(_) => {
                    self.counters.rtcp_rejected += 1;
                    return None;
                }
            },
            None => data,
        };
        if validate(body, RtcpMode::ReducedSize).is_err() {
            self.counters.rtcp_rejected += 1;
            return None;
        }
        self.counters.rtcp_received += 1;
        let now_us = us(now);
        let mut pos = 0;
        while pos + 4 <= body.len() {
            let len = (usize::from(u16::from_be_bytes([body[pos + 2], body[pos + 3]])) + 1) * 4;
            let pkt = &body[pos..(pos + len).min(body.len())];
            pos += len;
            match (pkt[1], pkt[0] & 0x1f) {
                (PT_RTPFB, FMT_TWCC) => {
                    if let Ok(fb) = TwccFeedback::parse(pkt) {
                        self.counters.feedback_received += 1;
                        self.bwe.on_transport_feedback(now_us, &fb);
                        self.last_feedback_rx_us = Some(now_us);
                    }
                }
                (200, _) if pkt.len() >= 16 => {
                    // A sender report: remember its NTP time for our report's LSR/DLSR.
                    let ssrc = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
                    let ntp = u64::from_be_bytes([
                        pkt[8], pkt[9], pkt[10], pkt[11], pkt[12], pkt[13], pkt[14], pkt[15],
                    ]);
                    if let Some((_, r)) = self.recv.as_mut().filter(|(s, _)| *s == ssrc) {
                        r.on_sender_report(ntp, now);
                    }
                }
                _ => {}
            }
        }
        if let Some(rep) = self.remote.on_rtcp(body, now) {
            if let Some(rtt) = rep.rtt_us {
                self.bwe.on_rtt(rtt);
                self.last_rtt_us = Some(rtt);
                self.min_rtt_us = Some(self.min_rtt_us.map_or(rtt, |m| m.min(rtt)));
            }
            self.bwe.on_receiver_report_loss(now_us, rep.fraction_lost);
        }
        Some(body)
    }

    /// Seals an RTCP packet made elsewhere (the video receiver's NACK / PLI) like our own:
    /// copied into the output buffer, the authentication trailer added; `None` if it does not
    /// fit.
    ///
    /// # Real-time safety
    /// No allocation.
    pub(crate) fn seal_external(&mut self, body: &[u8]) -> Option<&[u8]> {
        if body.len() > MAX_FEEDBACK_LEN {
            return None;
        }
        self.out[..body.len()].copy_from_slice(body);
        let n = self.seal(body.len())?;
        Some(&self.out[..n])
    }

    /// The round-trip time the reports measured, if any.
    pub(crate) fn rtt(&self) -> Option<std::time::Duration> {
        self.last_rtt_us
            .map(|r| std::time::Duration::from_micros(r.max(0) as u64))
    }

    /// Whether the congestion window is full at `now`: the bytes in flight (sent, and neither
    /// acknowledged nor reported lost by transport feedback) exceed the estimate times the
    /// smallest RTT plus [`CWND_EXTRA_US`] (at least [`CWND_MIN_BYTES`]). The video pacer
    /// waits while it is (audio does not): when the feedback lags (it crosses a congested
    /// reverse path) or the estimate falls under what is already queued at the bottleneck,
    /// video stops adding to the queue (libwebrtc's congestion window).
    ///
    /// Never before an RTT was measured, and not once no feedback came for
    /// [`CWND_FEEDBACK_US`]: that is an outage, which the estimator's stall cut answers, and
    /// video that keeps leaving shows the receiver the moment the link is back (its
    /// keyframe request then comes a round trip sooner than if video waited for feedback).
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub(crate) fn window_full(&self, now: MediaTime) -> bool {
        // RT: constant time.
        let Some(rtt) = self.min_rtt_us else {
            return false;
        };
        if self
            .last_feedback_rx_us
            .is_none_or(|t| us(now) - t > CWND_FEEDBACK_US)
        {
            return false;
        }
        let window = (self.bwe.target_bps() as f64 * (rtt + CWND_EXTRA_US) as f64 / 8e6) as u64;
        self.bwe.in_flight_bytes() > window.max(CWND_MIN_BYTES)
    }

    /// Whether transport feedback, after some came, has been silent for longer than
    /// [`CWND_FEEDBACK_US`]: an outage (of the path or of its reverse).
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub(crate) fn feedback_silent(&self, now: MediaTime) -> bool {
        self.last_feedback_rx_us
            .is_some_and(|t| us(now) - t > CWND_FEEDBACK_US)
    }

    /// Whether the last transport feedback showed a standing queue above
    /// [`PROBE_GATE_QUEUE_US`] (the limit probes wait on): the path is congested.
    pub(crate) fn queue_standing(&self) -> bool {
        self.bwe.queue_delay_us() > PROBE_GATE_QUEUE_US
    }

    /// The video's share of the estimate at the last adaptation (0 without video).
    pub(crate) fn video_target_bps(&self) -> u64 {
        self.video_bps
    }

    /// Called every tick: returns the next thing to do (call again until `None`). An RTCP
    /// packet to send is in [`packet`](Self::packet).
    ///
    /// # Real-time safety
    /// No allocation.
    pub(crate) fn poll(&mut self, now: MediaTime, info: SendReport) -> Option<CcAction> {
        // RT: constant time plus writing one packet.
        let now_us = us(now);
        self.update_rx_rate(now_us);
        if self.feedback_due(now_us)
            && let Some(n) = self.write_feedback()
        {
            self.last_feedback_us = Some(now_us);
            return Some(CcAction::Send(n));
        }
        if now_us >= self.next_report_us || self.report_owed(&info) {
            let n = self.write_report(now, info);
            self.interval.set_session_bps(self.bwe.target_bps());
            self.next_report_us = now_us + self.interval.next_us(2, 2, self.sent_since_report);
            self.sent_since_report = false;
            if let Some(n) = n {
                self.interval.on_report(n + LOWER_HEADERS as usize);
                return Some(CcAction::Send(n));
            }
        }
        if now_us >= self.next_adapt_us {
            self.next_adapt_us = now_us + ADAPT_EVERY_US;
            self.bwe.on_tick(now_us);
            let target = self.bwe.target_bps();
            let a = self.alloc.allocate(target);
            self.video_bps = a.video_bps;
            self.allocated_bps = target;
            if let Some(s) = self.adaptor.update(a.audio_bps, self.bwe.loss_fraction()) {
                self.counters.adaptations += 1;
                return Some(CcAction::Adapt(s));
            }
        } else if self.alloc.video.is_some() {
            // A falling estimate reaches the video at once; audio keeps its 500 ms cadence
            // (Opus settings changes are audible), rises wait for the next adaptation.
            let target = self.bwe.target_bps();
            if (target as f64) < FALL_REALLOCATE * self.allocated_bps as f64 {
                self.video_bps = self.alloc.allocate(target).video_bps;
                self.allocated_bps = target;
            }
        }
        None
    }

    /// The packet the last [`CcAction::Send`] refers to.
    pub(crate) fn packet(&self, len: usize) -> &[u8] {
        &self.out[..len]
    }

    fn update_rx_rate(&mut self, now_us: i64) {
        let span = now_us - self.window_start_us;
        if span >= 500_000 {
            let bps = self.received_bytes_window as f64 * 8e6 / span as f64;
            self.rx_rate_bps = 0.5 * self.rx_rate_bps + 0.5 * bps;
            self.received_bytes_window = 0;
            self.window_start_us = now_us;
        }
    }

    fn feedback_due(&self, now_us: i64) -> bool {
        if !self.recorder.has_pending() {
            return false;
        }
        // About 5 % of the received rate for feedback of ~80 bytes on the wire, in
        // [FEEDBACK_MIN_US, FEEDBACK_MAX_US].
        let bits = 80.0 * 8.0;
        let wanted = if self.rx_rate_bps > 0.0 {
            (bits / (FEEDBACK_SHARE * self.rx_rate_bps) * 1e6) as i64
        } else {
            FEEDBACK_MAX_US
        };
        let every = wanted.clamp(FEEDBACK_MIN_US, FEEDBACK_MAX_US);
        self.last_feedback_us.is_none_or(|t| now_us - t >= every)
    }

    fn write_feedback(&mut self) -> Option<usize> {
        let n = self.recorder.write_feedback(&mut self.out).ok()??;
        let n = self.seal(n)?;
        self.counters.feedback_sent += 1;
        Some(n)
    }

    /// Whether a stream has started sending but had no sender report yet. The peer's lip sync
    /// cannot place a stream in time before its first SR, and the RFC 3550 interval would
    /// hold that SR back up to 3.75 s after the call starts (the first report, at once, is
    /// only a receiver report: nothing has been sent yet), with audio and video out of step
    /// all that while. So each stream's first SR goes out with the next poll after its first
    /// packet, as RFC 4585 lets feedback go early: at most two extra RTCP packets a call.
    fn report_owed(&self, report: &SendReport) -> bool {
        (!self.audio_reported && self.sent_since_report)
            || (!self.video_reported && report.video.is_some_and(|v| v.packets > 0))
    }

    fn write_report(&mut self, now: MediaTime, report: SendReport) -> Option<usize> {
        let block: Option<ReportBlock> = self.recv.as_mut().and_then(|(_, r)| r.report_block(now));
        let blocks = block.as_slice();
        let ntp = ntp_from_media_time(now);
        let sender = |i: SendInfo| SenderInfo {
            ssrc: i.ssrc,
            ntp,
            rtp_timestamp: i.rtp_timestamp,
            packet_count: i.packets as u32,
            octet_count: i.octets as u32,
        };
        let info = report.audio;
        let video = report.video.filter(|v| v.packets > 0);
        // Marked even if the packet cannot be written, so a failure is not retried every tick.
        self.audio_reported |= self.sent_since_report;
        self.video_reported |= video.is_some();
        let mut n = if self.sent_since_report {
            write_sr(&sender(info), blocks, &mut self.out).ok()?
        } else {
            write_rr(info.ssrc, blocks, &mut self.out).ok()?
        };
        if let Some(v) = video {
            // Video's own SR in the same compound packet: the same NTP time, video's RTP time.
            n += write_sr(&sender(v), &[], &mut self.out[n..]).ok()?;
        }
        self.seal(n)
    }

    /// Adds the authentication trailer; `None` if the packet would not fit a queue slot.
    fn seal(&mut self, n: usize) -> Option<usize> {
        let n = match self.auth.as_mut() {
            Some(a) => a.protect(&mut self.out, n).ok()?,
            None => n,
        };
        if n > MAX_WIRE_PACKET {
            return None;
        }
        self.counters.rtcp_sent += 1;
        Some(n)
    }

    /// The current estimate, bits per second.
    pub(crate) fn target_bps(&self) -> u64 {
        self.bwe.target_bps()
    }

    /// What the statistics show.
    pub(crate) fn snapshot(&self) -> CcSnapshot {
        let remote = self.remote.last();
        CcSnapshot {
            target_bps: self.bwe.target_bps(),
            acked_bps: self.bwe.acked_bps().unwrap_or(0),
            rtt_ms: self.last_rtt_us.map_or(-1.0, |r| r as f64 / 1000.0),
            loss_fraction: self.bwe.loss_fraction(),
            remote_fraction_lost: remote.map_or(0.0, |r| f64::from(r.fraction_lost) / 256.0),
            remote_jitter_ms: remote.map_or(0.0, |r| f64::from(r.jitter) / 48.0),
        }
    }
}

/// A copy of the figures for [`CallStats`](crate::CallStats).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CcSnapshot {
    pub(crate) target_bps: u64,
    pub(crate) acked_bps: u64,
    pub(crate) rtt_ms: f64,
    pub(crate) loss_fraction: f64,
    pub(crate) remote_fraction_lost: f64,
    pub(crate) remote_jitter_ms: f64,
}

fn us(t: MediaTime) -> i64 {
    t.as_micros() as i64
}

/// Whether a packet on the call's queues is RTCP (RFC 5761 section 4: the second byte of an
/// RTCP packet, its packet type, is 192..=223; an RTP payload type there is not allowed).
/// RTCP and RTP share the call's packet path; tools that read the wire use this to tell them
/// apart.
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 2 && (192..=223).contains(&data[1])
}

#[cfg(test)]
mod tests {
    use parla_cc::twcc::TRANSPORT_SEQ_PLACEHOLDER;
    use parla_rtp::rtp::{ExtensionElement, RtpHeader, RtpPacketSpec};

    use super::*;
    use crate::video::{VideoCodec, VideoConfig};

    /// A video-sized RTP packet carrying the transport sequence placeholder.
    fn packet(seq: u16) -> Vec<u8> {
        let payload = [0u8; 1000];
        let ext = [ExtensionElement {
            id: TRANSPORT_SEQ_EXT_ID,
            data: &TRANSPORT_SEQ_PLACEHOLDER,
        }];
        let spec = RtpPacketSpec {
            header: RtpHeader {
                marker: false,
                payload_type: 96,
                sequence: seq,
                timestamp: 0,
                ssrc: 7,
            },
            payload: &payload,
            extensions: &ext,
            ..Default::default()
        };
        let mut out = vec![0u8; 1200];
        let n = spec.write_to(&mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn the_window_fills_with_unacknowledged_bytes_only_while_feedback_comes() {
        let ms = MediaTime::from_millis;
        let cfg = CallConfig {
            video: Some(VideoConfig::new(VideoCodec::H264, 640, 360, 30)),
            ..CallConfig::default()
        };
        let mut cc = CallCc::new(&cfg, 7, None).unwrap();
        // 60 packets of ~1 kB in flight (the start estimate, ~0.55 Mbit/s, holds about 20 kB
        // over 50 ms + 250 ms).
        for seq in 0..60 {
            cc.on_rtp_sent(ms(0), &mut packet(seq));
        }
        // No RTT measured yet: never full.
        assert!(!cc.window_full(ms(10)));
        cc.min_rtt_us = Some(50_000);
        assert!(!cc.window_full(ms(10)), "no feedback yet: never full");
        // Feedback acknowledging the first 10 packets: 50 kB are still in flight.
        let mut rec = FeedbackRecorder::new(9, 7);
        for seq in 0..10 {
            rec.on_packet(seq, 20_000 + i64::from(seq) * 1000);
        }
        let mut buf = [0u8; MAX_FEEDBACK_LEN];
        let n = rec.write_feedback(&mut buf).unwrap().unwrap();
        assert!(cc.on_rtcp(&buf[..n], ms(60)).is_some());
        assert!(cc.bwe.in_flight_bytes() > 40_000);
        assert!(cc.window_full(ms(60)));
        // No feedback for more than 300 ms is an outage: video is let go.
        assert!(cc.window_full(ms(360)));
        assert!(!cc.window_full(ms(361)));
        // Feedback for all but the last 5 packets: under the window again.
        for seq in 10..55 {
            rec.on_packet(seq, 30_000 + i64::from(seq) * 1000);
        }
        let n = rec.write_feedback(&mut buf).unwrap().unwrap();
        assert!(cc.on_rtcp(&buf[..n], ms(400)).is_some());
        assert!(cc.bwe.in_flight_bytes() < 6_000);
        assert!(!cc.window_full(ms(400)));
    }

    #[test]
    fn each_streams_first_sender_report_goes_out_with_its_first_packet() {
        let ms = MediaTime::from_millis;
        let cfg = CallConfig {
            video: Some(VideoConfig::new(VideoCodec::H264, 640, 360, 30)),
            ..CallConfig::default()
        };
        let mut cc = CallCc::new(&cfg, 7, None).unwrap();
        let info = |audio: u64, video: u64| SendReport {
            audio: SendInfo {
                ssrc: 7,
                rtp_timestamp: 0,
                packets: audio,
                octets: 0,
            },
            video: Some(SendInfo {
                ssrc: 8,
                rtp_timestamp: 0,
                packets: video,
                octets: 0,
            }),
        };
        // The SSRCs of the sender reports sent by polling at `t`, `None` if no RTCP was sent.
        let poll = |cc: &mut CallCc, t: u64, i: SendReport| {
            let mut srs = None;
            while let Some(a) = cc.poll(ms(t), i) {
                if let CcAction::Send(n) = a {
                    let got: Vec<u32> = crate::sync::sender_reports(cc.packet(n))
                        .map(|r| r.0)
                        .collect();
                    srs.get_or_insert_with(Vec::new).extend(got);
                }
            }
            srs
        };
        // The call's first report goes at once: nothing sent, so no SR in it.
        assert_eq!(poll(&mut cc, 0, info(0, 0)), Some(vec![]));
        assert_eq!(poll(&mut cc, 10, info(0, 0)), None);
        // The first audio packet: audio's SR follows at once, not after the RFC 3550 interval.
        cc.on_rtp_sent(ms(20), &mut packet(0));
        assert_eq!(poll(&mut cc, 20, info(1, 0)), Some(vec![7]));
        assert_eq!(poll(&mut cc, 30, info(2, 0)), None);
        // Then video's first packet: its SR (with audio's) at once.
        cc.on_rtp_sent(ms(40), &mut packet(1));
        assert_eq!(poll(&mut cc, 40, info(3, 1)), Some(vec![7, 8]));
        // After that, reports keep the interval (at least 0.5 x 2.5 s / 1.22 later).
        for t in (50..1_000).step_by(10) {
            cc.on_rtp_sent(ms(t), &mut packet(t as u16));
            assert_eq!(poll(&mut cc, t, info(t, t)), None, "at {t} ms");
        }
    }
}
