//! Video in the call: the sans-IO part that runs inside [`MediaCore`](crate::MediaCore) on the
//! media thread (docs/VIDEO.md, "In the engine").
//!
//! ```text
//! send:    encoded frame (from the codec side) -> SFrame (video key, AAD = SSRC, RTP
//!          timestamp, keyframe flag) -> Parla's generic payload (parla_rtp::payload::generic)
//!          -> RTP with the transport-wide sequence extension -> send history -> pacer queue
//!          tick / poll_video: pacer (leaky bucket, RTX first) -> transport seq stamped -> emit
//!          RTCP in: NACK -> history -> RTX (RFC 4588) -> pacer; PLI/FIR -> keyframe limiter
//!          every 500 ms: the allocator's video share -> EncoderControl (balanced ladder)
//! receive: RTP/RTX of the peer's video -> VideoReceiver (NACK module, assembler, jitter
//!          estimator, frame buffer) -> frame due -> SFrame authenticate + decrypt -> out
//!          to the codec side for decoding; NACK / PLI out through the call's RTCP (MAC'd)
//! ```
//!
//! Encoding and decoding are not here: they run off the media thread (the [`Call`]'s video
//! thread, or `parla call`'s codec side), which hands encoded frames in with
//! [`MediaCore::send_video_frame`](crate::MediaCore::send_video_frame) and takes decodable ones
//! with [`MediaCore::poll_video_frame`](crate::MediaCore::poll_video_frame). Everything here is
//! allocated at set-up; no call allocates.
//!
//! Stream identities: the video SSRC is the audio SSRC + 1 and its RTX SSRC + 2. The receiver
//! takes the peer's video only once the peer's audio SSRC is known from an *authenticated*
//! audio packet, so an attacker cannot lock the receiver onto a forged stream.
//!
//! [`Call`]: crate::Call

use std::collections::VecDeque;
use std::time::Duration;

use parla_cc::twcc::TRANSPORT_SEQ_PLACEHOLDER;
use parla_core::{ConfigError, MediaTime};
use parla_rtp::e2ee::{SframeSender, StreamReceiver, UnprotectError};
use parla_rtp::payload::generic::{GenericDepacketizer, GenericPacketizer};
use parla_rtp::rtcp::{RtcpPacket, parse_compound};
use parla_rtp::rtp::{ExtensionElement, RtpHeader, RtpPacketSpec, RtxMapping, wrap_rtx};
use parla_video::{
    ControlConfig, EncoderControl, EncoderSettings, HistoryConfig, KeyframeLimiter, ReceiverConfig,
    Resend, SendHistory, VideoReceiver,
};

use crate::cc::{CallCc, SendInfo, TRANSPORT_SEQ_EXT_ID};

/// The RTP clock of video, Hz.
pub const VIDEO_CLOCK: u32 = 90_000;
/// The largest RTP payload of a video packet (header byte + ciphertext chunk): with the RTP
/// header, the transport sequence extension and RTX's 2 bytes it stays far under an Ethernet MTU.
pub const VIDEO_MAX_PAYLOAD: usize = 1200;
/// The largest encoded frame the call carries, bytes (a 1080p keyframe at high quality fits).
pub const MAX_VIDEO_FRAME: usize = 1 << 20;
/// Packets the pacer queue holds at most (the send history holds 2048, so a queued packet is
/// always still in it).
const PACER_QUEUE: usize = 1024;
/// Retransmissions waiting at most.
const RTX_QUEUE: usize = 256;
/// The pacer sends at this multiple of the target (libwebrtc's pacing factor), but no faster
/// than the call's estimate unless a keyframe or a retransmission waits
/// (`VideoPath::pacing_rate`).
const PACING_FACTOR: f64 = 2.5;
/// The pacer's queue drains within this time at least (the rate rises to do so).
const PACER_DRAIN: f64 = 0.5;
/// The longest burst the pacer lets out after idling, seconds of the pacing rate.
const MAX_BURST_S: f64 = 0.005;
/// Captured frames are skipped (not encoded) while the pacer holds more unsent video than it
/// sends in this time at its present rate (never less than two frame intervals), or while the
/// congestion window is full: under congestion the frame rate drops for a moment instead of
/// every later frame waiting behind the backlog (`VideoPath::send_congested`).
const MAX_SEND_QUEUE_S: f64 = 0.1;
/// Captures are never skipped for longer than this in a row: the receiver keeps getting a
/// frame at least this often, whatever the congestion.
const MAX_SKIP: Duration = Duration::from_millis(1000);
/// While transport feedback is silent (an outage), a keyframe at least this often: the first
/// one to cross the returned link is decodable at once, a round trip before the repairs of the
/// gap (or a keyframe the receiver asks for) could arrive.
const OUTAGE_KEYFRAME_EVERY: Duration = Duration::from_millis(100);
/// Each retransmission is sent a second time this much later. The receiver holds frames for
/// one round of repair (an RTT and margins), so a retransmission that is lost too makes its
/// frame late; a copy makes that the chance of losing both (0.04 % at 2 % random loss instead
/// of 2 %), for as many extra bytes as there are retransmissions. Only while the loss is not
/// congestion's: not while the pacer has a backlog, nor while the transport feedback shows a
/// standing queue (`CallCc::queue_standing`; the copy would only add to it).
const RTX_COPY_AFTER: Duration = Duration::from_millis(10);
/// Video packets kept while the peer's stream is not known yet (the first video packets
/// usually arrive before the first audio packet, which carries 20 ms of audio).
const PRELOCK_PACKETS: usize = 64;
/// Largest video packet kept before the lock.
const PRELOCK_PACKET: usize = VIDEO_MAX_PAYLOAD + 128;
/// Bytes of the per-frame AAD: SSRC, RTP timestamp, keyframe flag.
const FRAME_AAD_LEN: usize = 9;

/// The video codecs a call can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum VideoCodec {
    /// H.264 Constrained Baseline (libx264): the default, decoded in hardware on every phone.
    H264,
    /// VP8 (libvpx).
    Vp8,
}

/// The video of a call ([`CallConfig::video`](crate::CallConfig::video)): what is captured
/// and the limits the congestion control moves within. Start from [`VideoConfig::new`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoConfig {
    /// Codec (both ends must use the same).
    pub codec: VideoCodec,
    /// Capture width, and the largest encoded width (even, 16..=3840).
    pub width: u32,
    /// Capture height, and the largest encoded height (even, 16..=2160).
    pub height: u32,
    /// Capture frame rate, and the largest encoded one (1..=60).
    pub fps: u32,
    /// The video bitrate never goes below this, bits per second (the frame rate and size drop
    /// first).
    pub min_bitrate_bps: u32,
    /// The video bitrate at the start, before the estimate knows the link.
    pub start_bitrate_bps: u32,
    /// The video bitrate never exceeds this.
    pub max_bitrate_bps: u32,
    /// RTP payload type of the video (dynamic, 96..=127, not the audio's).
    pub payload_type: u8,
    /// RTP payload type of its retransmissions (RFC 4588 `rtx`, `apt` = `payload_type`).
    pub rtx_payload_type: u8,
}

impl VideoConfig {
    /// H.264 at `width` x `height`, `fps`, 100 kbit/s to 2.5 Mbit/s starting at 500 kbit/s,
    /// payload types 96 (video) and 97 (RTX).
    pub fn new(codec: VideoCodec, width: u32, height: u32, fps: u32) -> Self {
        VideoConfig {
            codec,
            width,
            height,
            fps,
            min_bitrate_bps: 100_000,
            start_bitrate_bps: 500_000,
            max_bitrate_bps: 2_500_000,
            payload_type: 96,
            rtx_payload_type: 97,
        }
    }

    /// Checks every field (see each field's range).
    ///
    /// # Errors
    /// [`ConfigError::InvalidParameter`] naming the first bad field.
    pub fn validate(&self, audio_payload_type: u8) -> Result<(), ConfigError> {
        let bad =
            |name: &'static str, detail: String| ConfigError::InvalidParameter { name, detail };
        if !(16..=3840).contains(&self.width) || !self.width.is_multiple_of(2) {
            return Err(bad(
                "video.width",
                format!("{} (even, 16..=3840)", self.width),
            ));
        }
        if !(16..=2160).contains(&self.height) || !self.height.is_multiple_of(2) {
            return Err(bad(
                "video.height",
                format!("{} (even, 16..=2160)", self.height),
            ));
        }
        if !(1..=60).contains(&self.fps) {
            return Err(bad("video.fps", format!("{} (1..=60)", self.fps)));
        }
        if self.min_bitrate_bps < 30_000
            || self.min_bitrate_bps > self.start_bitrate_bps
            || self.start_bitrate_bps > self.max_bitrate_bps
            || self.max_bitrate_bps > 8_000_000
        {
            return Err(bad(
                "video bitrates",
                format!(
                    "min {} <= start {} <= max {} (30000..=8000000)",
                    self.min_bitrate_bps, self.start_bitrate_bps, self.max_bitrate_bps
                ),
            ));
        }
        for (name, pt) in [
            ("video.payload_type", self.payload_type),
            ("video.rtx_payload_type", self.rtx_payload_type),
        ] {
            // 64..=95 would collide with RTCP (RFC 5761) once the marker bit is set.
            if !(96..=127).contains(&pt) || pt == audio_payload_type {
                return Err(bad(
                    name,
                    format!("{pt} (96..=127, distinct from the audio's {audio_payload_type})"),
                ));
            }
        }
        if self.payload_type == self.rtx_payload_type {
            return Err(bad(
                "video.rtx_payload_type",
                "equals video.payload_type".into(),
            ));
        }
        Ok(())
    }

    fn control(&self) -> ControlConfig {
        ControlConfig::new(self.width, self.height, self.fps)
    }
}

/// What the codec side should do before encoding the next frame
/// ([`MediaCore::video_encoder_command`](crate::MediaCore::video_encoder_command)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoEncoderCommand {
    /// Size, frame rate and bitrate to encode at (from the congestion control's share for
    /// video and the balanced ladder: resolution steps down before frame rate).
    pub settings: EncoderSettings,
    /// Encode the next frame as a keyframe (the peer asked, through the keyframe limiter, or a
    /// frame had to be dropped).
    pub keyframe: bool,
}

/// A frame ready for decoding ([`MediaCore::poll_video_frame`](crate::MediaCore::poll_video_frame)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFrameOut {
    /// Bytes of the encoded frame written at the start of the caller's buffer.
    pub len: usize,
    /// Whether it is a keyframe.
    pub keyframe: bool,
    /// Its RTP timestamp (90 kHz).
    pub rtp_timestamp: u32,
    /// The peer's capture time on the peer's media clock, microseconds (the RTP timestamp
    /// unwrapped; differences between frames are exact).
    pub capture_us: u64,
    /// When it should be shown, on this side's clock (the frame buffer's render time).
    pub render_time: MediaTime,
}

/// Video counters of a call (part of [`CallStats`](crate::CallStats)).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VideoStats {
    /// Encoded frames handed in and sent.
    pub frames_sent: u64,
    /// Frames refused on the send side (pacer queue full, too large, encryption failed); a
    /// keyframe follows.
    pub frames_send_dropped: u64,
    /// Captured frames not encoded because the send side was congested: more unsent video
    /// queued than the pacer sends in 100 ms (or two frame intervals), or the congestion
    /// window full. The frame rate drops for a moment instead of the delay growing; never for
    /// more than 1 s in a row.
    pub frames_congestion_skipped: u64,
    /// Keyframes sent.
    pub keyframes_sent: u64,
    /// Video RTP packets sent (first transmissions).
    pub packets_sent: u64,
    /// Video bytes sent (first transmissions and RTX).
    pub bytes_sent: u64,
    /// Retransmissions sent (RTX).
    pub rtx_sent: u64,
    /// NACKed packets the peer asked for.
    pub nacked_by_peer: u64,
    /// Keyframe requests (PLI/FIR) from the peer.
    pub keyframe_requests_received: u64,
    /// Packets waiting in the pacer now.
    pub pacer_queue_packets: u64,
    /// Video target from the congestion control, bits per second.
    pub target_bps: u64,
    /// Encoded width now.
    pub width: u32,
    /// Encoded height now.
    pub height: u32,
    /// Encoded frame rate now.
    pub fps: u32,
    /// Video packets received (media and RTX).
    pub packets_received: u64,
    /// Packets received before the peer's stream was known (the first 64 are kept and taken
    /// when it is).
    pub packets_before_lock: u64,
    /// RTX packets received.
    pub rtx_received: u64,
    /// Missing packets that arrived later (RTX or late).
    pub packets_recovered: u64,
    /// Frames completed by the assembler.
    pub frames_received: u64,
    /// Frames that authenticated and were handed out for decoding.
    pub frames_decodable: u64,
    /// Frames dropped (not decodable, given up, refused).
    pub frames_dropped: u64,
    /// Frames that failed SFrame authentication.
    pub frames_auth_failed: u64,
    /// Frames the decoder refused (reported by the codec side).
    pub decode_errors: u64,
    /// Keyframe requests sent.
    pub keyframes_requested: u64,
    /// NACK packets sent.
    pub nacks_sent: u64,
    /// The receive side's target delay (jitter + retransmission budget), ms.
    pub receive_delay_ms: f64,
    /// Frames the app pushed ([`Call::push_video_frame`](crate::Call::push_video_frame)).
    pub frames_captured: u64,
    /// Pushed frames dropped before encoding (the encoder was behind; the newest frame wins).
    pub frames_capture_dropped: u64,
    /// Frames the encoder produced.
    pub frames_encoded: u64,
    /// Encoder failures (open, bitrate change or encode).
    pub encode_errors: u64,
    /// Frames decoded and handed towards the app.
    pub frames_decoded: u64,
    /// Decoded frames replaced by a newer one before the app pulled them.
    pub frames_display_dropped: u64,
    /// Freezes of the decoded video: a gap between decoded frames longer than
    /// max(3 x frame interval, frame interval + 150 ms), as in the WebRTC statistics.
    pub freezes: u64,
    /// Total time in those gaps, ms.
    pub freeze_ms: u64,
    /// Lip sync's current estimate of the skew between the peer's video and audio as played
    /// here, ms: video's delay (capture to render) minus audio's (capture to playout), from the
    /// peer's sender reports. Positive: audio leads; negative: audio lags. 0 until measured
    /// (`av_skew_measurements`).
    pub av_skew_ms: f64,
    /// Skew measurements made (every 500 ms once both streams are mapped).
    pub av_skew_measurements: u64,
    /// The lowest skew measured (unfiltered), ms.
    pub av_skew_min_ms: f64,
    /// The highest skew measured (unfiltered), ms.
    pub av_skew_max_ms: f64,
    /// How long lip sync holds the peer's audio back for its video, ms.
    pub sync_audio_hold_ms: f64,
    /// How long lip sync holds the peer's video back for its audio, ms.
    pub sync_video_hold_ms: f64,
    /// The peer's frames released for decoding after their release time (they completed late,
    /// typically waiting for a retransmission that needed a second round trip).
    pub frames_late: u64,
    /// Recovered packets (`packets_recovered`) whose frame was released late: the repair
    /// missed its frame's deadline.
    pub recovered_late: u64,
    /// The most a frame was released after its release time, ms.
    pub max_late_ms: f64,
}

/// `us` microseconds in ticks of the video RTP clock (wrapping, as RTP timestamps do).
fn rtp_ticks(us: u64) -> u32 {
    (u128::from(us) * u128::from(VIDEO_CLOCK) / 1_000_000) as u32
}

/// The identifiers of our video stream that continue across runs of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VideoIds {
    next_seq: u16,
    rtx_seq: u16,
    ts_offset: u32,
    /// The RTP timestamp of the run's last frame (none sent: `None`).
    last_ts: Option<u32>,
}

/// The video path of one call endpoint.
pub(crate) struct VideoPath {
    cfg: VideoConfig,
    // Send side.
    ssrc: u32,
    next_seq: u16,
    ts_offset: u32,
    rtx: RtxMapping,
    rtx_seq: u16,
    packetizer: GenericPacketizer,
    history: SendHistory,
    queue: VecDeque<u16>,
    rtx_queue: VecDeque<u16>,
    /// Retransmissions to send once more, and when ([`RTX_COPY_AFTER`]).
    rtx_copies: VecDeque<(u16, MediaTime)>,
    queued_bytes: usize,
    /// The last packet of the newest keyframe still in the pacer queue: until it leaves, the
    /// pacer runs at [`PACING_FACTOR`] x the video target even above the estimate.
    key_last: Option<u16>,
    /// The first packet of the newest keyframe handed to the pacer: retransmissions of packets
    /// before it are not sent (the receiver gives frames before a complete keyframe up).
    key_first: Option<u16>,
    /// When the last encoded frame was handed in (`MAX_SKIP` counts from it).
    last_frame_in: Option<MediaTime>,
    /// The RTP timestamp of the last frame sent (what the next run continues from).
    last_ts: Option<u32>,
    /// After [`continue_ids`](Self::continue_ids): the timestamp the first time the run gives
    /// gets.
    resume_at: Option<u32>,
    budget: f64,
    last_pace: Option<MediaTime>,
    target_bps: u64,
    control: EncoderControl,
    pending_settings: Option<EncoderSettings>,
    limiter: KeyframeLimiter,
    keyframe_due: bool,
    /// When the last keyframe for an outage was asked of the encoder.
    outage_key: Option<MediaTime>,
    protected: Vec<u8>,
    chunk: Vec<u8>,
    out: Vec<u8>,
    // Receive side.
    rx: VideoReceiver<GenericDepacketizer>,
    peer_locked: bool,
    /// Packets that arrived before the lock: bytes, then (length, arrival) per packet.
    prelock: Vec<u8>,
    prelock_meta: Vec<(usize, MediaTime)>,
    /// The RTT the call's reports measured (100 ms until then).
    rtt: Duration,
    plain: Vec<u8>,
    rtcp: Vec<u8>,
    stats: VideoStats,
}

impl std::fmt::Debug for VideoPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoPath")
            .field("ssrc", &self.ssrc)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The per-frame AAD: what the receiver rebuilds from the frame's packets.
fn frame_aad(ssrc: u32, ts: u32, keyframe: bool) -> [u8; FRAME_AAD_LEN] {
    let mut a = [0u8; FRAME_AAD_LEN];
    a[..4].copy_from_slice(&ssrc.to_be_bytes());
    a[4..8].copy_from_slice(&ts.to_be_bytes());
    a[8] = u8::from(keyframe);
    a
}

/// The video SSRC of a side whose audio SSRC is `audio`, and its RTX SSRC.
pub(crate) fn video_ssrcs(audio: u32) -> (u32, u32) {
    (audio.wrapping_add(1), audio.wrapping_add(2))
}

impl VideoPath {
    /// Allocates everything. `audio_ssrc`, `first_seq` and `ts_offset` come from the audio
    /// stream's random identifiers.
    pub(crate) fn new(
        cfg: VideoConfig,
        audio_ssrc: u32,
        first_seq: u16,
        ts_offset: u32,
    ) -> Result<Self, ConfigError> {
        let (ssrc, rtx_ssrc) = video_ssrcs(audio_ssrc);
        let rtx = RtxMapping {
            media_ssrc: ssrc,
            media_payload_type: cfg.payload_type,
            rtx_ssrc,
            rtx_payload_type: cfg.rtx_payload_type,
        };
        let mut rcfg = ReceiverConfig::new(0, ssrc);
        rcfg.assembler.max_payload = VIDEO_MAX_PAYLOAD + 16;
        rcfg.assembler.max_frame_bytes = MAX_VIDEO_FRAME + 64;
        rcfg.buffer.max_frame_bytes = MAX_VIDEO_FRAME + 64;
        let mut control = EncoderControl::new(cfg.control())?;
        let start = control.update(cfg.start_bitrate_bps, MediaTime::ZERO);
        Ok(VideoPath {
            cfg,
            ssrc,
            next_seq: first_seq ^ 0x5a5a,
            ts_offset: ts_offset ^ 0x5a5a_5a5a,
            rtx,
            rtx_seq: first_seq ^ 0xa5a5,
            packetizer: GenericPacketizer::new(VIDEO_MAX_PAYLOAD)?,
            history: SendHistory::new(HistoryConfig {
                capacity: 2048,
                max_packet: VIDEO_MAX_PAYLOAD + 64,
                ..HistoryConfig::default()
            })?,
            queue: VecDeque::with_capacity(PACER_QUEUE),
            rtx_queue: VecDeque::with_capacity(RTX_QUEUE),
            rtx_copies: VecDeque::with_capacity(RTX_QUEUE),
            queued_bytes: 0,
            key_last: None,
            key_first: None,
            last_frame_in: None,
            last_ts: None,
            resume_at: None,
            budget: 0.0,
            last_pace: None,
            target_bps: u64::from(cfg.start_bitrate_bps),
            pending_settings: Some(start.unwrap_or_else(|| control.current())),
            control,
            limiter: KeyframeLimiter::new(Duration::from_millis(300)),
            keyframe_due: true,
            outage_key: None,
            protected: Vec::with_capacity(MAX_VIDEO_FRAME + 64),
            chunk: vec![0; VIDEO_MAX_PAYLOAD],
            out: vec![0; VIDEO_MAX_PAYLOAD + 128],
            rx: VideoReceiver::new(GenericDepacketizer, rcfg)?,
            peer_locked: false,
            prelock: vec![0; PRELOCK_PACKETS * PRELOCK_PACKET],
            prelock_meta: Vec::with_capacity(PRELOCK_PACKETS),
            rtt: Duration::from_millis(100),
            plain: Vec::with_capacity(MAX_VIDEO_FRAME + 64),
            rtcp: vec![0; 1200],
            stats: VideoStats::default(),
        })
    }

    /// The identifiers to continue with in the next run.
    pub(crate) fn ids(&self) -> VideoIds {
        VideoIds {
            next_seq: self.next_seq,
            rtx_seq: self.rtx_seq,
            ts_offset: self.ts_offset,
            last_ts: self.last_ts,
        }
    }

    /// Continues the identifiers of an earlier run, `paused` after it stopped. A run's clock
    /// starts again at zero (a `Call`'s does), so the timestamps are re-anchored at the first
    /// time the new run gives ([`rtp_ts`](Self::rtp_ts)): that moment carries the last frame's
    /// timestamp plus the pause. Taken from the old clock instead, they went back by the
    /// whole earlier run, and the peer's frame buffer (which follows a later arrival by 0.1 ms
    /// a frame) released every frame late for minutes, with lip sync blind.
    pub(crate) fn continue_ids(&mut self, ids: VideoIds, paused: Duration) {
        self.next_seq = ids.next_seq;
        self.rtx_seq = ids.rtx_seq;
        self.ts_offset = ids.ts_offset;
        self.last_ts = ids.last_ts;
        self.resume_at = ids.last_ts.map(|t| {
            t.wrapping_add(rtp_ticks(paused.as_micros() as u64))
                .wrapping_add(1)
        });
    }

    /// The RTP timestamp of what is captured at `t`: on the run clock, from the offset (after
    /// [`continue_ids`](Self::continue_ids), anchored at the first time asked for).
    fn rtp_ts(&mut self, t: MediaTime) -> u32 {
        let ticks = rtp_ticks(t.as_micros());
        if let Some(at) = self.resume_at.take() {
            self.ts_offset = at.wrapping_sub(ticks);
        }
        self.ts_offset.wrapping_add(ticks)
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &VideoConfig {
        &self.cfg
    }

    /// Whether `pt` is one of the video payload types.
    pub(crate) fn is_video_pt(&self, pt: u8) -> bool {
        pt == self.cfg.payload_type || pt == self.cfg.rtx_payload_type
    }

    /// The peer's audio SSRC became known (or changed) through an authenticated packet: its
    /// video is now taken.
    pub(crate) fn on_peer_audio_ssrc(&mut self, audio_ssrc: u32) {
        let (media, rtx) = video_ssrcs(audio_ssrc);
        if self.peer_locked && self.rx.media_ssrc() == media {
            return;
        }
        self.rx.set_stream(
            media,
            Some(RtxMapping {
                media_ssrc: media,
                media_payload_type: self.cfg.payload_type,
                rtx_ssrc: rtx,
                rtx_payload_type: self.cfg.rtx_payload_type,
            }),
        );
        self.peer_locked = true;
        // The packets that came first: those of the peer's stream go in now, in arrival order.
        for i in 0..self.prelock_meta.len() {
            let (len, at) = self.prelock_meta[i];
            let at_byte = i * PRELOCK_PACKET;
            self.rx.on_rtp(&self.prelock[at_byte..at_byte + len], at);
        }
        self.prelock_meta.clear();
    }

    /// An RTP packet of the peer's video (media or RTX).
    pub(crate) fn on_rtp(&mut self, data: &[u8], arrival: MediaTime) {
        // RT: the receiver's preallocated state only.
        if !self.peer_locked {
            self.stats.packets_before_lock += 1;
            let i = self.prelock_meta.len();
            if i < PRELOCK_PACKETS && data.len() <= PRELOCK_PACKET {
                self.prelock[i * PRELOCK_PACKET..i * PRELOCK_PACKET + data.len()]
                    .copy_from_slice(data);
                self.prelock_meta.push((data.len(), arrival));
            }
            return;
        }
        self.rx.on_rtp(data, arrival);
    }

    /// An authenticated RTCP compound from the peer: NACKs, PLIs and FIRs about our video.
    pub(crate) fn on_rtcp(&mut self, body: &[u8], now: MediaTime) {
        // RT: borrowed parsing; bounded queues.
        for p in parse_compound(body) {
            let Ok(p) = p else { break };
            match p {
                RtcpPacket::Nack(n) if n.media_ssrc == self.ssrc => {
                    for seq in n.lost() {
                        self.stats.nacked_by_peer += 1;
                        if self.superseded(seq) {
                            // Superseded by a keyframe sent since.
                            continue;
                        }
                        if self.rtx_queue.len() < RTX_QUEUE && !self.rtx_queue.contains(&seq) {
                            self.rtx_queue.push_back(seq);
                        }
                    }
                }
                RtcpPacket::Pli { media_ssrc, .. } if media_ssrc == self.ssrc => {
                    self.keyframe_request(now);
                }
                RtcpPacket::Fir(f) if f.entries().any(|e| e.ssrc == self.ssrc) => {
                    self.keyframe_request(now);
                }
                _ => {}
            }
        }
    }

    fn keyframe_request(&mut self, now: MediaTime) {
        self.stats.keyframe_requests_received += 1;
        if self.limiter.request(now) {
            self.keyframe_due = true;
        }
    }

    /// The round-trip time from the call's RTCP reports.
    pub(crate) fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
        self.rx.set_rtt(rtt);
    }

    /// The congestion control's share for video.
    pub(crate) fn set_target(&mut self, bps: u64, now: MediaTime) {
        let bps = bps.clamp(
            u64::from(self.cfg.min_bitrate_bps),
            u64::from(self.cfg.max_bitrate_bps),
        );
        self.target_bps = bps;
        let before = self.control.current();
        let changed = self.control.update(bps as u32, now);
        let now_settings = changed.unwrap_or_else(|| self.control.current());
        if changed.is_some() || now_settings.bitrate_bps != before.bitrate_bps {
            self.pending_settings = Some(now_settings);
        }
    }

    /// What the encoder should do next, if anything changed.
    ///
    /// `feedback_silent`: whether the call's transport feedback has gone silent (an outage),
    /// which asks for a keyframe every [`OUTAGE_KEYFRAME_EVERY`].
    pub(crate) fn encoder_command(
        &mut self,
        now: MediaTime,
        feedback_silent: bool,
    ) -> Option<VideoEncoderCommand> {
        if self.limiter.poll(now) {
            self.keyframe_due = true;
        }
        if feedback_silent
            && self
                .outage_key
                .is_none_or(|t| now.saturating_since(t) >= OUTAGE_KEYFRAME_EVERY)
        {
            self.outage_key = Some(now);
            self.keyframe_due = true;
        }
        if self.pending_settings.is_none() && !self.keyframe_due {
            return None;
        }
        let settings = self
            .pending_settings
            .take()
            .unwrap_or_else(|| self.control.current());
        let keyframe = std::mem::take(&mut self.keyframe_due);
        Some(VideoEncoderCommand { settings, keyframe })
    }

    /// Whether the packet `seq` (already sent) came before the newest keyframe handed to the
    /// pacer, which makes its retransmission pointless.
    fn superseded(&self, seq: u16) -> bool {
        self.key_first
            .is_some_and(|k| self.next_seq.wrapping_sub(seq) > self.next_seq.wrapping_sub(k))
    }

    /// Protects and packetizes one encoded frame into the pacer queue.
    pub(crate) fn send_frame(
        &mut self,
        frame: &[u8],
        keyframe: bool,
        capture: MediaTime,
        now: MediaTime,
        tx: Option<&mut SframeSender>,
        use_tseq: bool,
    ) -> Result<(), &'static str> {
        // RT: preallocated buffers; the queues never grow past their capacity.
        let refuse = |s: &mut Self, why| {
            s.stats.frames_send_dropped += 1;
            s.keyframe_due = true;
            Err(why)
        };
        if frame.is_empty() || frame.len() > MAX_VIDEO_FRAME {
            return refuse(self, "video frame empty or larger than MAX_VIDEO_FRAME");
        }
        let ts = self.rtp_ts(capture);
        self.last_ts = Some(ts);
        let mut protected = std::mem::take(&mut self.protected);
        let payload: &[u8] = match tx {
            Some(tx) => {
                let aad = frame_aad(self.ssrc, ts, keyframe);
                if tx.protect_with_aad(&aad, frame, &mut protected).is_err() {
                    self.protected = protected;
                    return refuse(self, "video frame encryption failed");
                }
                &protected
            }
            None => frame,
        };
        self.last_frame_in = Some(now);
        let n = self.packetizer.packets_for(payload.len());
        if self.queue.len() + n > PACER_QUEUE {
            self.protected = protected;
            // The link cannot carry what the encoder makes: drop, and restart the chain.
            return refuse(self, "pacer queue full");
        }
        let ext = [ExtensionElement {
            id: TRANSPORT_SEQ_EXT_ID,
            data: &TRANSPORT_SEQ_PLACEHOLDER,
        }];
        let exts: &[ExtensionElement<'_>] = if use_tseq { &ext } else { &[] };
        if keyframe {
            // Repairs of the frames before a keyframe are of no use any more: the receiver
            // hands the keyframe on as soon as it is complete and gives up what came before.
            // Every packet queued for retransmission was sent before this keyframe.
            self.key_first = Some(self.next_seq);
            self.rtx_queue.clear();
            self.rtx_copies.clear();
        } else if self
            .key_first
            .is_some_and(|k| self.next_seq.wrapping_sub(k) >= 1 << 15)
        {
            // Half the sequence space since: too old to compare with (and long out of the
            // send history).
            self.key_first = None;
        }
        let mut chunks = self.packetizer.packetize(payload, keyframe);
        while let Some(Ok(c)) = chunks.next_into(&mut self.chunk) {
            let seq = self.next_seq;
            self.next_seq = seq.wrapping_add(1);
            let spec = RtpPacketSpec {
                header: RtpHeader {
                    marker: c.last,
                    payload_type: self.cfg.payload_type,
                    sequence: seq,
                    timestamp: ts,
                    ssrc: self.ssrc,
                },
                payload: &self.chunk[..c.len],
                extensions: exts,
                ..Default::default()
            };
            if let Ok(len) = spec.write_to(&mut self.out)
                && self.history.store(&self.out[..len], now)
            {
                self.queue.push_back(seq);
                self.queued_bytes += len;
                if keyframe {
                    self.key_last = Some(seq);
                }
            }
        }
        self.protected = protected;
        self.stats.frames_sent += 1;
        self.stats.keyframes_sent += u64::from(keyframe);
        if keyframe {
            self.limiter.keyframe_seen(now);
        }
        Ok(())
    }

    /// The pacer and the receive side's feedback: packets due are passed to `emit`; RTCP
    /// (NACK, PLI) is sealed by `cc` (authenticated) before it leaves.
    pub(crate) fn poll(
        &mut self,
        now: MediaTime,
        mut cc: Option<&mut CallCc>,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        // RT: no allocation.
        self.pace(now, cc.as_deref_mut(), emit);
        if let Ok(n) = self.rx.poll_rtcp(now, &mut self.rtcp)
            && n > 0
            && let Some(cc) = cc
            && let Some(sealed) = cc.seal_external(&self.rtcp[..n])
        {
            emit(sealed);
        }
    }

    /// The pacing rate, bits per second: [`PACING_FACTOR`] x the video target, which lets a
    /// frame out in well under a frame interval. Above the call's whole estimate (`cap_bps`)
    /// that only moves the frame's queue into the bottleneck, where audio waits behind it, so
    /// the rate is held to the estimate, except while a keyframe or a retransmission waits (the
    /// first keyframe, a recovery after an outage, a repair are due as soon as possible, and the
    /// estimate may still be its start value or cut by a stall). Either way at least the rate
    /// that drains the queue within [`PACER_DRAIN`].
    fn pacing_rate(&self, cap_bps: Option<u64>) -> f64 {
        self.capped_rate(cap_bps)
            .max(self.queued_bytes as f64 * 8.0 / PACER_DRAIN)
    }

    /// [`pacing_rate`](Self::pacing_rate) without the drain floor.
    fn capped_rate(&self, cap_bps: Option<u64>) -> f64 {
        let mut rate = self.target_bps as f64 * PACING_FACTOR;
        if self.key_last.is_none()
            && self.rtx_queue.is_empty()
            && let Some(e) = cap_bps
        {
            rate = rate.min((e as f64).max(self.target_bps as f64));
        }
        rate
    }

    /// Whether a frame captured at `now` should be skipped rather than encoded: the pacer holds
    /// more unsent video than it sends in [`MAX_SEND_QUEUE_S`] at its rate without the drain
    /// floor (or two frame intervals, if longer), or the congestion window is full. Not when
    /// no frame has been handed in for [`MAX_SKIP`] (nor before the first), so the receiver
    /// still gets one at least that often. A keyframe due waits like any frame: sent into the
    /// backlog it would come no sooner.
    ///
    /// # Real-time safety
    /// Constant time.
    pub(crate) fn send_congested(&self, now: MediaTime, cc: Option<&CallCc>) -> bool {
        let Some(last) = self.last_frame_in else {
            return false;
        };
        if now.saturating_since(last) >= MAX_SKIP {
            return false;
        }
        let fps = self.control.current().fps.max(1);
        let limit_s = MAX_SEND_QUEUE_S.max(2.0 / f64::from(fps));
        let rate = self.capped_rate(cc.map(CallCc::target_bps)).max(1.0);
        self.queued_bytes as f64 * 8.0 / rate > limit_s || cc.is_some_and(|c| c.window_full(now))
    }

    /// Counts `n` captured frames skipped by [`send_congested`](Self::send_congested).
    pub(crate) fn count_skipped(&mut self, n: u64) {
        self.stats.frames_congestion_skipped += n;
    }

    fn pace(&mut self, now: MediaTime, mut cc: Option<&mut CallCc>, emit: &mut dyn FnMut(&[u8])) {
        let rate_bps = self.pacing_rate(cc.as_deref().map(CallCc::target_bps));
        let elapsed = self
            .last_pace
            .map_or(0.0, |t| now.saturating_since(t).as_secs_f64());
        self.last_pace = Some(now);
        let cap = (rate_bps / 8.0 * MAX_BURST_S).max(2.0 * VIDEO_MAX_PAYLOAD as f64);
        self.budget = (self.budget + elapsed * rate_bps / 8.0).min(cap);
        let rtt = self.rx_rtt();
        while self.budget > 0.0 {
            if cc.as_deref().is_some_and(|c| c.window_full(now)) {
                // The congestion window is full: video waits for feedback.
                break;
            }
            // Retransmissions first: their frames are the oldest; a copy when it is due.
            let rtx = match self.rtx_copies.front() {
                Some(&(seq, at)) if at <= now => {
                    self.rtx_copies.pop_front();
                    Some((seq, true))
                }
                _ => self.rtx_queue.pop_front().map(|seq| (seq, false)),
            };
            let len = if let Some((seq, copy)) = rtx {
                let p = if copy {
                    let congested = cc.as_deref().is_some_and(CallCc::queue_standing);
                    match self.history.get(seq) {
                        Some(p) if self.queue.is_empty() && !congested => p,
                        // Gone from the history, or congestion: no copy.
                        _ => continue,
                    }
                } else {
                    match self.history.resend(seq, now, rtt) {
                        Resend::Packet(p) => p,
                        _ => continue,
                    }
                };
                let Ok(n) = wrap_rtx(p, &self.rtx, self.rtx_seq, &mut self.out) else {
                    continue;
                };
                self.rtx_seq = self.rtx_seq.wrapping_add(1);
                self.stats.rtx_sent += 1;
                if !copy && self.rtx_copies.len() < RTX_QUEUE {
                    self.rtx_copies.push_back((seq, now + RTX_COPY_AFTER));
                }
                n
            } else if let Some(seq) = self.queue.pop_front() {
                if self.key_last == Some(seq) {
                    self.key_last = None;
                }
                let Some(p) = self.history.get(seq) else {
                    continue;
                };
                let n = p.len();
                self.out[..n].copy_from_slice(p);
                self.queued_bytes = self.queued_bytes.saturating_sub(n);
                self.stats.packets_sent += 1;
                n
            } else {
                break;
            };
            if let Some(cc) = cc.as_deref_mut() {
                cc.on_rtp_sent(now, &mut self.out[..len]);
            }
            self.budget -= len as f64;
            self.stats.bytes_sent += len as u64;
            emit(&self.out[..len]);
        }
        if self.queue.is_empty() && self.rtx_queue.is_empty() {
            // No credit is saved up while idle beyond one burst.
            self.budget = self.budget.min(cap);
        }
    }

    fn rx_rtt(&self) -> Duration {
        self.rtt
    }

    /// The next frame due for decoding: authenticated and decrypted into `out`.
    pub(crate) fn poll_frame(
        &mut self,
        now: MediaTime,
        mut sframe: Option<&mut StreamReceiver>,
        out: &mut [u8],
    ) -> Option<VideoFrameOut> {
        // RT: preallocated buffers only.
        loop {
            let media_ssrc = self.rx.media_ssrc();
            let f = self.rx.poll_frame(now)?;
            let (ts, key, render) = (f.timestamp, f.keyframe, f.render_time);
            let ok = match sframe.as_deref_mut() {
                Some(rx) => {
                    let aad = frame_aad(media_ssrc, ts, key);
                    match rx.unprotect_into(&aad, f.data, &mut self.plain, now) {
                        Ok(u) if u.len <= out.len() => {
                            out[..u.len].copy_from_slice(&self.plain[..u.len]);
                            Some(u.len)
                        }
                        Ok(_) | Err(UnprotectError::BufferTooSmall { .. }) => None,
                        Err(_) => {
                            self.stats.frames_auth_failed += 1;
                            None
                        }
                    }
                }
                None if f.data.len() <= out.len() => {
                    out[..f.data.len()].copy_from_slice(f.data);
                    Some(f.data.len())
                }
                None => None,
            };
            match ok {
                Some(len) => {
                    self.stats.frames_decodable += 1;
                    return Some(VideoFrameOut {
                        len,
                        keyframe: key,
                        rtp_timestamp: ts,
                        capture_us: u64::from(ts) * 1_000_000 / u64::from(VIDEO_CLOCK),
                        render_time: render,
                    });
                }
                // A frame that cannot be used breaks the chain: a keyframe is asked for.
                None => self.rx.on_decode_error(now),
            }
        }
    }

    /// Our video stream's sender-report view at `now`: the RTP timestamp a frame captured now
    /// would carry.
    pub(crate) fn sender_info(&mut self, now: MediaTime) -> SendInfo {
        SendInfo {
            ssrc: self.ssrc,
            rtp_timestamp: self.rtp_ts(now),
            packets: self.stats.packets_sent,
            octets: self.stats.bytes_sent,
        }
    }

    /// The peer's video SSRC, once its audio has authenticated.
    pub(crate) fn peer_media_ssrc(&self) -> Option<u32> {
        self.peer_locked.then(|| self.rx.media_ssrc())
    }

    /// Holds frames this much longer (lip sync).
    pub(crate) fn set_sync_delay(&mut self, d: Duration) {
        self.rx.set_extra_delay(d);
    }

    /// The codec side could not decode a frame handed out.
    pub(crate) fn decode_error(&mut self, now: MediaTime) {
        self.stats.decode_errors += 1;
        self.rx.on_decode_error(now);
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> VideoStats {
        let r = self.rx.stats();
        let cur = self.control.current();
        VideoStats {
            pacer_queue_packets: self.queue.len() as u64,
            target_bps: self.target_bps,
            width: cur.width,
            height: cur.height,
            fps: cur.fps,
            packets_received: r.packets,
            rtx_received: r.rtx_received,
            packets_recovered: r.recovered,
            frames_received: r.frames_received,
            frames_dropped: r.frames_dropped,
            keyframes_requested: r.keyframes_requested,
            nacks_sent: r.nacks_sent,
            receive_delay_ms: self.rx.target_delay().as_secs_f64() * 1e3,
            frames_late: r.frames_late,
            recovered_late: r.recovered_late,
            max_late_ms: r.max_late_us as f64 / 1e3,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 640x360 path with a 1 Mbit/s video target.
    fn path() -> VideoPath {
        let cfg = VideoConfig::new(VideoCodec::H264, 640, 360, 30);
        let mut v = VideoPath::new(cfg, 0x1234, 100, 5000).unwrap();
        v.set_target(1_000_000, MediaTime::ZERO);
        v
    }

    /// Paces every millisecond for `ms`, without congestion control; returns packets sent.
    fn drain(v: &mut VideoPath, from_ms: u64, ms: u64) -> usize {
        let mut sent = 0;
        for t in from_ms..from_ms + ms {
            v.poll(MediaTime::from_millis(t), None, &mut |_| sent += 1);
        }
        sent
    }

    #[test]
    fn pacing_holds_to_the_cap_except_for_keyframes_and_retransmissions() {
        let mut v = path();
        let t0 = MediaTime::ZERO;
        // Without congestion control: 2.5 x the target.
        assert_eq!(v.pacing_rate(None), 2.5e6);
        // A delta frame is held to the cap, but never below the video target.
        v.send_frame(&[1u8; 3000], false, t0, t0, None, true)
            .unwrap();
        assert_eq!(v.pacing_rate(Some(1_200_000)), 1.2e6);
        assert_eq!(v.pacing_rate(Some(500_000)), 1e6);
        // A keyframe in the queue: 2.5 x the target until its last packet has left.
        v.send_frame(&[2u8; 6000], true, t0, t0, None, true)
            .unwrap();
        assert_eq!(v.pacing_rate(Some(1_200_000)), 2.5e6);
        assert!(drain(&mut v, 0, 100) >= 8);
        assert!(v.queue.is_empty());
        assert_eq!(v.pacing_rate(Some(1_200_000)), 1.2e6);
        // A retransmission waiting lifts the cap too.
        v.rtx_queue.push_back(v.next_seq.wrapping_sub(1));
        assert_eq!(v.pacing_rate(Some(1_200_000)), 2.5e6);
        assert_eq!(drain(&mut v, 100, 10), 1);
        assert_eq!(v.pacing_rate(Some(1_200_000)), 1.2e6);
    }

    /// A NACK for `seqs` of `v`'s stream, as the peer sends it.
    fn nack(v: &VideoPath, seqs: &[u16]) -> Vec<u8> {
        let mut out = vec![0u8; 200];
        let n = parla_rtp::rtcp::write_nack(9, v.ssrc, seqs, &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn a_resumed_run_continues_the_timestamps_from_where_they_stopped() {
        let ms = MediaTime::from_millis;
        let mut v = path();
        // The first run's last frame, captured 3 s into it.
        v.send_frame(&[1u8; 100], true, ms(3_000), ms(3_000), None, true)
            .unwrap();
        let last = v.ids().last_ts.unwrap();
        // The next run, 200 ms later, on a clock that starts at zero again.
        let mut w = path();
        w.continue_ids(v.ids(), Duration::from_millis(200));
        let info = w.sender_info(ms(0));
        assert_eq!(info.rtp_timestamp, last.wrapping_add(18_000 + 1));
        // Frames go on from that anchor at the clock rate.
        w.send_frame(&[1u8; 100], true, ms(40), ms(40), None, true)
            .unwrap();
        assert_eq!(w.ids().last_ts, Some(last.wrapping_add(18_000 + 1 + 3_600)));
        // A run that sent nothing has nothing to continue: the offset carries over as it was.
        let mut x = path();
        x.continue_ids(path().ids(), Duration::from_secs(1));
        assert_eq!(
            x.sender_info(ms(10)).rtp_timestamp,
            path().sender_info(ms(10)).rtp_timestamp
        );
    }

    #[test]
    fn each_retransmission_is_sent_again_10_ms_later_unless_congested_or_superseded() {
        let ms = MediaTime::from_millis;
        let mut v = path();
        let first = v.next_seq;
        v.send_frame(&[1u8; 3000], false, ms(0), ms(0), None, true)
            .unwrap();
        drain(&mut v, 0, 50);
        let rtx = |v: &VideoPath| v.stats().rtx_sent;
        // Asked for once: sent at once, and its copy 10 ms later.
        v.on_rtcp(&nack(&v, &[first]), ms(50));
        assert_eq!(drain(&mut v, 50, 1), 1);
        assert_eq!(drain(&mut v, 51, 9), 0);
        assert_eq!(drain(&mut v, 60, 1), 1);
        assert_eq!(drain(&mut v, 61, 100), 0);
        assert_eq!(rtx(&v), 2);
        // The copy is due while a 30 kB frame waits in the pacer (about 100 ms at 2.5 Mbit/s):
        // no copy.
        v.on_rtcp(&nack(&v, &[first + 1]), ms(200));
        drain(&mut v, 200, 1);
        v.send_frame(&[1u8; 30_000], false, ms(201), ms(201), None, true)
            .unwrap();
        drain(&mut v, 201, 300);
        assert_eq!(rtx(&v), 3);
        // A keyframe queued before the copy is due: the copy is dropped with the repairs.
        v.on_rtcp(&nack(&v, &[first + 2]), ms(600));
        drain(&mut v, 600, 1);
        v.send_frame(&[2u8; 3000], true, ms(605), ms(605), None, true)
            .unwrap();
        drain(&mut v, 601, 300);
        assert_eq!(rtx(&v), 4);
    }

    #[test]
    fn packets_before_a_keyframe_are_not_retransmitted() {
        let t0 = MediaTime::ZERO;
        let mut v = path();
        let first = v.next_seq;
        // Two delta frames of 3 packets each, sent.
        for _ in 0..2 {
            v.send_frame(&[1u8; 3000], false, t0, t0, None, true)
                .unwrap();
        }
        drain(&mut v, 0, 50);
        // The peer asks for two of them: both queued for retransmission.
        v.on_rtcp(&nack(&v, &[first, first + 4]), t0);
        assert_eq!(v.rtx_queue.len(), 2);
        // A keyframe is queued: the repairs of what came before it are dropped...
        let key = v.next_seq;
        v.send_frame(&[2u8; 3000], true, t0, t0, None, true)
            .unwrap();
        assert!(v.rtx_queue.is_empty());
        // ...and later requests for them are not answered; for the keyframe's own, they are.
        v.on_rtcp(&nack(&v, &[first + 1, key - 1, key, key + 2]), t0);
        assert_eq!(
            v.rtx_queue.iter().copied().collect::<Vec<_>>(),
            [key, key + 2]
        );
        assert_eq!(v.stats().nacked_by_peer, 6);
        // Across the sequence-number wrap too.
        let mut w = path();
        w.next_seq = 65534;
        w.send_frame(&[1u8; 3000], false, t0, t0, None, true)
            .unwrap();
        w.send_frame(&[2u8; 3000], true, t0, t0, None, true)
            .unwrap();
        drain(&mut w, 0, 50);
        w.on_rtcp(&nack(&w, &[65534, 0, 1, 2]), t0);
        assert_eq!(w.rtx_queue.iter().copied().collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn while_feedback_is_silent_a_keyframe_is_asked_for_every_100_ms() {
        let ms = MediaTime::from_millis;
        let mut v = path();
        // The start settings come with the first keyframe; then nothing is due.
        assert!(v.encoder_command(ms(0), false).is_some_and(|c| c.keyframe));
        assert!(v.encoder_command(ms(10), false).is_none());
        // Feedback goes silent (an outage): a keyframe now and every 100 ms after.
        let keyframes = (20..=420)
            .step_by(10)
            .filter(|&t| v.encoder_command(ms(t), true).is_some_and(|c| c.keyframe))
            .count();
        assert_eq!(keyframes, 5);
        // Feedback is back: none.
        assert!(
            (430..=1000)
                .step_by(10)
                .all(|t| v.encoder_command(ms(t), false).is_none())
        );
    }

    #[test]
    fn captures_are_skipped_while_the_unsent_queue_is_long_but_never_for_long() {
        let ms = MediaTime::from_millis;
        let mut v = path();
        // Nothing sent yet: never skip the first frame.
        assert!(!v.send_congested(ms(0), None));
        // 10 kB at 2.5 x 1 Mbit/s leaves in 32 ms: under 100 ms.
        v.send_frame(&[1u8; 10_000], false, ms(0), ms(0), None, true)
            .unwrap();
        assert!(!v.send_congested(ms(0), None));
        // 50 kB take 160 ms: skip.
        v.send_frame(&[1u8; 40_000], false, ms(0), ms(0), None, true)
            .unwrap();
        assert!(v.send_congested(ms(0), None));
        // Paced for 100 ms, about 19 kB (60 ms) are left: encode again.
        drain(&mut v, 0, 100);
        assert!(!v.send_congested(ms(100), None));
        // A backlog that does not drain (nothing paces it) skips captures for 1 s at most.
        v.send_frame(&[1u8; 50_000], false, ms(100), ms(100), None, true)
            .unwrap();
        assert!(v.send_congested(ms(1099), None));
        assert!(!v.send_congested(ms(1100), None));
        // The counter is the caller's (MediaCore or the video thread).
        assert_eq!(v.stats().frames_congestion_skipped, 0);
        v.count_skipped(2);
        assert_eq!(v.stats().frames_congestion_skipped, 2);
    }
}
