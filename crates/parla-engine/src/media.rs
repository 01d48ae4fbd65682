//! [`MediaCore`]: the per-call media processing, sans-IO and clock-driven.
//!
//! One `tick` is 10 ms of the call, in the order the echo canceller's pairing rule needs:
//!
//! ```text
//! receive: packets (receive_packet, any time before the tick)
//!          -> RTP parse -> SFrame authenticate/decrypt -> jitter buffer insert
//! tick:    jitter buffer pull (decode, conceal, stretch) -> resample to the playout rate
//!          -> speaker frame out, and the same frame -> echo canceller's far-end reference
//!          mic frame in -> resample -> echo cancel -> noise suppress -> resample to 48 kHz
//!          -> Opus encode (every frame_ms) -> SFrame protect -> RTP packetize -> emit
//! ```
//!
//! The core owns no thread, socket or clock: the caller passes the time and moves packets. The
//! threaded [`Call`](crate::Call) drives it on its media thread; `parla call` drives two of them
//! through the network emulator as fast as the CPU allows. Everything is allocated in
//! [`MediaCore::new`]; `receive_packet` and `tick` never allocate, lock or make syscalls (the
//! timing reads the vDSO monotonic clock), which `tests/rt_no_alloc.rs` checks.

use std::time::{Duration, Instant};

use parla_cc::allocator::AudioSettings;
use parla_cc::auth::FeedbackAuth;
use parla_cc::twcc::TRANSPORT_SEQ_PLACEHOLDER;
use parla_codec::opus::{FrameDuration, OpusEncoder, OpusEncoderConfig};
use parla_core::MediaTime;
use parla_core::frame::{level_dbfs, sanitize_in_place, sanitize_into};
use parla_core::stats::LatencyHistogram;
use parla_dsp::aec::{AecConfig, AecMode, EchoCanceller};
use parla_dsp::resample::{ResampleMode, StreamResampler};
use parla_dsp::{SendChain, SendChainConfig};
use parla_jitter::opus::OpusAudioDecoder;
use parla_jitter::{JitterBuffer, JitterConfig, Packet};
use parla_rtp::e2ee::{
    CallKeys, MediaStream, SframeSender, StreamReceiver, UnprotectError, rtp_aad, split_call_key_id,
};
use parla_rtp::payload::opus::{OpusDepacketizer, OpusPacketizer};
use parla_rtp::rtp::{ExtensionElement, RtpPacket};

use crate::cc::{CallCc, CcAction, SendInfo, SendReport, TRANSPORT_SEQ_EXT_ID, is_rtcp};
use crate::config::{CallConfig, MAX_PACKET, MAX_WIRE_PACKET};
use crate::error::EngineError;
use crate::events::{BANDWIDTH_EVENT_CHANGE, CallEvent};
use crate::stats::{CallStats, CpuStats, StageCpu};
use crate::sync::{LipSync, sender_reports};
use crate::video::{VideoConfig, VideoEncoderCommand, VideoFrameOut, VideoIds, VideoPath};

/// The codec and jitter-buffer rate: Opus runs at 48 kHz whatever the device rate.
pub const CODEC_RATE: u32 = 48_000;

/// The identifiers of the stream a core sends (RFC 3550 section 5.1 wants them random).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamIds {
    /// Synchronization source.
    pub ssrc: u32,
    /// First sequence number.
    pub first_seq: u16,
    /// First RTP timestamp.
    pub timestamp_offset: u32,
}

impl StreamIds {
    /// Random identifiers from `rng` (the thread RNG in production, a seeded one in tests).
    pub fn random<R: rand::Rng + ?Sized>(rng: &mut R) -> Self {
        StreamIds {
            ssrc: rng.random(),
            first_seq: rng.random(),
            timestamp_offset: rng.random(),
        }
    }
}

/// The end-to-end encryption state of one endpoint's audio: its sender (the only owner of its
/// key's counter) and its receiver of the peer's audio (with its replay windows and the peer's
/// epoch). It outlives a [`MediaCore`]: a restarted call continues with the same state, so no
/// nonce is ever used twice and nothing of the earlier session can be replayed.
#[derive(Debug)]
pub struct E2eeParts {
    /// Our audio sender.
    pub tx: Box<SframeSender>,
    /// The receiver of the peer's audio.
    pub rx: Box<StreamReceiver>,
    /// The authenticator of congestion-control feedback (RTCP), under the call's feedback
    /// keys: its index and replay window continue across runs like the media keys' counters.
    pub feedback: Box<FeedbackAuth>,
    /// The video stream's sender and receiver (calls with video; `None` otherwise).
    pub video: Option<VideoKeys>,
}

/// The end-to-end encryption state of a call's video: its own keys in each direction
/// ([`MediaStream::Video`]), so audio and video never share a nonce space.
#[derive(Debug)]
pub struct VideoKeys {
    /// Our video sender.
    pub tx: Box<SframeSender>,
    /// The receiver of the peer's video.
    pub rx: Box<StreamReceiver>,
}

impl VideoKeys {
    /// Takes the video sender of the current epoch from `keys` and a receiver of the peer's
    /// video.
    ///
    /// # Errors
    /// [`EngineError::E2ee`] if the sender was already taken, or derivation fails.
    pub fn new(keys: &mut CallKeys, cfg: &CallConfig) -> Result<Self, EngineError> {
        Ok(VideoKeys {
            tx: Box::new(keys.sender(MediaStream::Video, cfg.cipher_suite)?),
            rx: Box::new(keys.receiver(
                MediaStream::Video,
                cfg.cipher_suite,
                Duration::from_millis(u64::from(cfg.key_grace_ms)),
            )?),
        })
    }
}

impl E2eeParts {
    /// Takes the audio sender of the current epoch from `keys` (once per epoch: see
    /// [`CallKeys::sender`]) and a receiver of the peer's audio; with video, the same for the
    /// video stream.
    ///
    /// # Errors
    /// [`EngineError::E2ee`] if the sender was already taken, or derivation fails.
    pub fn new(keys: &mut CallKeys, cfg: &CallConfig) -> Result<Self, EngineError> {
        let tx = keys.sender(MediaStream::Audio, cfg.cipher_suite)?;
        let rx = keys.receiver(
            MediaStream::Audio,
            cfg.cipher_suite,
            Duration::from_millis(u64::from(cfg.key_grace_ms)),
        )?;
        let video = match cfg.video {
            Some(_) => Some(VideoKeys::new(keys, cfg)?),
            None => None,
        };
        Ok(E2eeParts {
            tx: Box::new(tx),
            rx: Box::new(rx),
            feedback: feedback_auth(keys),
            video,
        })
    }
}

/// The feedback authenticator of a call's keys.
pub fn feedback_auth(keys: &CallKeys) -> Box<FeedbackAuth> {
    let (send, recv) = keys.feedback_keys();
    Box::new(FeedbackAuth::new(&send, &recv))
}

/// What a stopped [`MediaCore`] hands back for the next start of the same call
/// ([`MediaCore::into_state`], [`MediaCore::resume`]): the encryption state and the outgoing
/// stream's RTP state (SSRC, sequence numbers, timestamps continue).
#[derive(Debug)]
pub struct SendState {
    /// The encryption state (`None` when encryption is off).
    pub e2ee: Option<E2eeParts>,
    packetizer: OpusPacketizer,
    /// The counters so far: a resumed core continues them, so a call's counters only grow.
    counters: CallStats,
    /// The transport-wide sequence number of the next packet: it continues across runs, so the
    /// peer's feedback keeps reporting our packets after a restart.
    next_transport_seq: i64,
    /// The video stream's sequence numbers and timestamp origin (they continue like audio's).
    video_ids: Option<VideoIds>,
}

/// What one [`MediaCore::tick`] did, for callers that trace a call (the harness).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickReport {
    /// Packets emitted during this tick.
    pub packets_sent: u32,
    /// The jitter buffer concealed (expanded) during this tick.
    pub concealed: bool,
}

/// The per-call media processing (see the module docs).
pub struct MediaCore {
    cfg: CallConfig,
    chain: SendChain,
    echo_on: bool,
    enc: OpusEncoder,
    enc_pcm: Vec<f32>,
    /// The microphone frame after [`sanitize_into`].
    mic_clean: Vec<f32>,
    enc_out: Vec<u8>,
    protected: Vec<u8>,
    packet: Vec<u8>,
    tx: Option<Box<SframeSender>>,
    rx: Option<Box<StreamReceiver>>,
    /// Congestion control (`None` when off; with encryption on it holds the feedback
    /// authenticator).
    cc: Option<CallCc>,
    /// The feedback authenticator while congestion control is off (kept for the next run).
    spare_auth: Option<Box<FeedbackAuth>>,
    /// Congestion-control events not taken yet (estimate moved, audio adapted).
    cc_events: [Option<CallEvent>; 2],
    /// The estimate the last estimate event reported.
    reported_bps: u64,
    packetizer: OpusPacketizer,
    depack: OpusDepacketizer,
    plain: Vec<u8>,
    jitter: JitterBuffer<OpusAudioDecoder>,
    jb_frame: Vec<f32>,
    play_rs: Option<StreamResampler>,
    muted: bool,
    ssrc_changes: u64,
    last_now: MediaTime,
    stats: CallStats,
    h_encode: LatencyHistogram,
    h_encrypt: LatencyHistogram,
    h_decrypt: LatencyHistogram,
    h_playout: LatencyHistogram,
    h_tick: LatencyHistogram,
    /// The video path (calls with video).
    video: Option<Box<VideoPath>>,
    /// Our video sender and the receiver of the peer's video (video with encryption).
    vtx: Option<Box<SframeSender>>,
    vrx: Option<Box<StreamReceiver>>,
    /// Lip sync of the peer's audio and video (calls with video).
    sync: LipSync,
}

impl std::fmt::Debug for MediaCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaCore")
            .field("cfg", &self.cfg)
            .field("ticks", &self.stats.ticks)
            .field("e2ee", &self.tx.is_some())
            .finish()
    }
}

impl MediaCore {
    /// Build every stage of one call endpoint. With `cfg.e2ee` the call's keys (from the key
    /// agreement) are required: the audio sender of the current epoch is taken from them (see
    /// [`E2eeParts::new`]); without it `keys` is ignored.
    ///
    /// # Errors
    /// [`EngineError::Config`] for an invalid configuration, [`EngineError::NoPeerKey`] when
    /// encryption is on and `keys` is `None`, and the stages' own set-up errors.
    pub fn new(
        cfg: &CallConfig,
        keys: Option<&mut CallKeys>,
        ids: StreamIds,
    ) -> Result<Self, EngineError> {
        cfg.validate()?;
        let e2ee = if cfg.e2ee {
            let keys = keys.ok_or(EngineError::NoPeerKey)?;
            Some(E2eeParts::new(keys, cfg)?)
        } else {
            None
        };
        Self::new_with(cfg, e2ee, ids)
    }

    /// Build a core with encryption state made by the caller (`None` with encryption off).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn new_with(
        cfg: &CallConfig,
        e2ee: Option<E2eeParts>,
        ids: StreamIds,
    ) -> Result<Self, EngineError> {
        cfg.validate()?;
        if cfg.e2ee && e2ee.is_none() {
            return Err(EngineError::NoPeerKey);
        }
        let packetizer = OpusPacketizer::new(
            ids.ssrc,
            cfg.payload_type,
            ids.first_seq,
            ids.timestamp_offset,
        );
        Self::build(cfg, e2ee.filter(|_| cfg.e2ee), packetizer)
    }

    /// Build a core that continues a stopped one of the same call: the same encryption state
    /// (counters continue, replay windows are kept) and the same outgoing stream, whose RTP
    /// timestamps move on by `paused` (the receiver sees a pause in speech, as with DTX).
    ///
    /// # Errors
    /// As [`new`](Self::new); [`EngineError::NoPeerKey`] when encryption is on and the state
    /// has none.
    pub fn resume(
        cfg: &CallConfig,
        state: SendState,
        paused: Duration,
    ) -> Result<Self, EngineError> {
        cfg.validate()?;
        if cfg.e2ee && state.e2ee.is_none() {
            return Err(EngineError::NoPeerKey);
        }
        let mut packetizer = state.packetizer;
        packetizer.skip(paused);
        let mut core = Self::build(cfg, state.e2ee.filter(|_| cfg.e2ee), packetizer)?;
        core.stats = state.counters;
        if let (Some(v), Some(ids)) = (core.video.as_mut(), state.video_ids) {
            v.continue_ids(ids, paused);
        }
        if let Some(cc) = core.cc.as_mut() {
            cc.continue_transport_seq(state.next_transport_seq);
        }
        Ok(core)
    }

    /// Ends the core and returns what the next start of the same call continues with.
    pub fn into_state(self) -> SendState {
        // The core's own counters, with the jitter buffer's and the SSRC changes folded in
        // (those live in parts that do not outlive the run).
        let all = self.stats();
        let mut counters = self.stats;
        counters.packets_lost = all.packets_lost;
        counters.packets_late = all.packets_late;
        counters.packets_duplicate = all.packets_duplicate;
        counters.packets_reordered = all.packets_reordered;
        counters.fec_recovered = all.fec_recovered;
        counters.concealed_samples = all.concealed_samples;
        counters.concealment_events = all.concealment_events;
        counters.interruptions = all.interruptions;
        counters.output_samples = all.output_samples;
        counters.ssrc_changes = all.ssrc_changes;
        counters.audio_adaptations = all.audio_adaptations;
        counters.rtcp_sent = all.rtcp_sent;
        counters.rtcp_received = all.rtcp_received;
        counters.rtcp_rejected = all.rtcp_rejected;
        counters.feedback_sent = all.feedback_sent;
        counters.feedback_received = all.feedback_received;
        counters.video = all.video;
        let next_transport_seq = self.cc.as_ref().map_or(0, CallCc::next_transport_seq);
        let feedback = self.cc.and_then(CallCc::into_auth).or(self.spare_auth);
        let video = match (self.vtx, self.vrx) {
            (Some(tx), Some(rx)) => Some(VideoKeys { tx, rx }),
            _ => None,
        };
        let e2ee = match (self.tx, self.rx, feedback) {
            (Some(tx), Some(rx), Some(feedback)) => Some(E2eeParts {
                tx,
                rx,
                feedback,
                video,
            }),
            _ => None,
        };
        SendState {
            e2ee,
            packetizer: self.packetizer,
            counters,
            next_transport_seq,
            video_ids: self.video.as_ref().map(|v| v.ids()),
        }
    }

    fn build(
        cfg: &CallConfig,
        e2ee: Option<E2eeParts>,
        packetizer: OpusPacketizer,
    ) -> Result<Self, EngineError> {
        let (tx, rx, auth, vkeys) = match e2ee {
            Some(p) => (Some(p.tx), Some(p.rx), Some(p.feedback), p.video),
            None => (None, None, None, None),
        };
        if cfg.e2ee && cfg.video.is_some() && vkeys.is_none() {
            return Err(EngineError::NoPeerKey);
        }
        let (vtx, vrx) = match vkeys.filter(|_| cfg.video.is_some()) {
            Some(k) => (Some(k.tx), Some(k.rx)),
            None => (None, None),
        };
        let video = match cfg.video {
            Some(v) => {
                let seq = packetizer.sequencer();
                Some(Box::new(VideoPath::new(
                    v,
                    seq.ssrc,
                    seq.next_sequence(),
                    packetizer.next_timestamp(),
                )?))
            }
            None => None,
        };
        let (cc, spare_auth) = if cfg.congestion_control {
            (
                Some(CallCc::new(cfg, packetizer.sequencer().ssrc, auth)?),
                None,
            )
        } else {
            (None, auth)
        };
        let chain_cfg = SendChainConfig::new(cfg.capture_rate)
            .output_rate(CODEC_RATE)
            .render_rate(Some(cfg.playout_rate))
            .max_block(cfg.capture_frame())
            .noise_suppression(cfg.noise_suppression)
            .ns_strength(cfg.ns_strength)
            .gain(cfg.gain_config())
            .resample_mode(ResampleMode::Fixed);
        let mut chain = SendChain::new(chain_cfg)?;
        let echo_on = cfg.aec != AecMode::Off;
        if echo_on {
            let aec = AecConfig::new()
                .mode(cfg.aec)
                .tuning(cfg.aec_tuning)
                .stream_delay_ms(cfg.aec_delay_hint_ms);
            chain.set_echo_canceller(Box::new(EchoCanceller::new(aec)))?;
        }
        let frame = FrameDuration::from_millis(cfg.frame_ms)?;
        let enc_cfg = OpusEncoderConfig::voice(CODEC_RATE, 1)
            .frame(frame)
            .bitrate(cfg.bitrate_bps)
            .complexity(cfg.complexity)
            .fec(cfg.fec, cfg.expected_loss_percent)
            .dtx(cfg.dtx);
        let enc = OpusEncoder::new(&enc_cfg)?;
        // Room for the longest frame the audio adaptation may choose (60 ms).
        let enc_pcm = vec![0.0; CODEC_RATE as usize * 60 / 1000];
        let mut jcfg = JitterConfig::new(CODEC_RATE).start_delay_ms(cfg.jitter_start_delay_ms);
        if cfg.jitter_low_delay {
            jcfg = jcfg.low_delay();
        }
        jcfg = jcfg.slots(256, MAX_PACKET);
        let jitter = JitterBuffer::new(jcfg, OpusAudioDecoder::new(CODEC_RATE)?)?;
        let jb_frame = vec![0.0; jitter.frame_len()];
        let play_rs = if cfg.playout_rate == CODEC_RATE {
            None
        } else {
            Some(StreamResampler::new(
                CODEC_RATE,
                cfg.playout_rate,
                1,
                jb_frame.len(),
                ResampleMode::Fixed,
            )?)
        };
        let stats = CallStats {
            echo_delay_ms: -1,
            ..CallStats::default()
        };
        Ok(MediaCore {
            cfg: *cfg,
            chain,
            echo_on,
            enc,
            enc_pcm,
            mic_clean: vec![0.0; cfg.capture_frame()],
            enc_out: vec![0; MAX_PACKET],
            protected: Vec::with_capacity(MAX_WIRE_PACKET),
            packet: vec![0; MAX_WIRE_PACKET],
            tx,
            rx,
            cc,
            spare_auth,
            cc_events: [None; 2],
            reported_bps: 0,
            packetizer,
            depack: OpusDepacketizer::new(Some(cfg.payload_type)),
            plain: Vec::with_capacity(MAX_WIRE_PACKET),
            jitter,
            jb_frame,
            play_rs,
            muted: false,
            ssrc_changes: 0,
            last_now: MediaTime::ZERO,
            stats,
            h_encode: LatencyHistogram::new(),
            h_encrypt: LatencyHistogram::new(),
            h_decrypt: LatencyHistogram::new(),
            h_playout: LatencyHistogram::new(),
            h_tick: LatencyHistogram::new(),
            video,
            vtx,
            vrx,
            sync: LipSync::default(),
        })
    }

    /// The configuration the core was built with.
    pub fn config(&self) -> &CallConfig {
        &self.cfg
    }

    /// Hand a packet from the network to the receive side, stamped with its arrival time. Bad
    /// packets (not RTP, another payload type or SSRC, forged, replayed, too large) are dropped
    /// and counted; nothing a packet contains can make this panic or allocate.
    ///
    /// # Real-time safety
    /// No allocation, lock or syscall.
    pub fn receive_packet(&mut self, data: &[u8], arrival: MediaTime) {
        // RT: parse borrows `data`; decryption writes into a preallocated buffer.
        let t = Instant::now();
        self.stats.packets_received += 1;
        self.stats.bytes_received += data.len() as u64;
        if data.len() > MAX_WIRE_PACKET {
            self.stats.packets_invalid += 1;
            return;
        }
        if is_rtcp(data) {
            match self.cc.as_mut() {
                // Rejected packets (forged, replayed, malformed) are counted by `cc`.
                Some(cc) => {
                    if let Some(body) = cc.on_rtcp(data, arrival)
                        && let Some(v) = self.video.as_mut()
                    {
                        v.on_rtcp(body, arrival);
                        if let Some(rtt) = cc.rtt() {
                            v.set_rtt(rtt);
                        }
                        // The peer's sender reports (authenticated above) map its audio and
                        // video RTP times to its clock.
                        for (ssrc, ntp, rtp) in sender_reports(body) {
                            self.sync.on_sender_report(ssrc, ntp, rtp);
                        }
                    }
                }
                None => self.stats.packets_invalid += 1,
            }
            return;
        }
        let Ok(pkt) = RtpPacket::parse(data) else {
            self.stats.packets_invalid += 1;
            return;
        };
        if let Some(v) = self.video.as_mut()
            && v.is_video_pt(pkt.header.payload_type)
        {
            // Video is authenticated per frame (when its frame is due), not per packet.
            v.on_rtp(data, arrival);
            if let Some(cc) = self.cc.as_mut() {
                cc.on_video_received(arrival, data.len(), transport_seq(&pkt));
            }
            return;
        }
        if pkt.header.payload_type != self.cfg.payload_type {
            self.stats.packets_invalid += 1;
            return;
        }
        let payload: &[u8] = if self.cfg.e2ee {
            let Some(rx) = self.rx.as_mut() else {
                self.stats.e2ee_unknown_key += 1;
                return;
            };
            // The RTP fields the receive side acts on are authenticated with the frame.
            let aad = rtp_aad(&pkt.header);
            match rx.unprotect_into(&aad, pkt.payload, &mut self.plain, arrival) {
                Ok(u) => &self.plain[..u.len],
                Err(UnprotectError::Rejected(_)) => return, // counted by the receiver
                Err(_) => {
                    self.stats.packets_invalid += 1;
                    return;
                }
            }
        } else {
            pkt.payload
        };
        let mut plain_pkt = pkt;
        plain_pkt.payload = payload;
        if self.depack.depacketize(&plain_pkt).is_err() {
            // The SSRC is locked by the first packet. With encryption on, this packet
            // authenticated (its SSRC is in the AAD): the peer's stream really changed, so follow
            // it. A forged packet never gets here.
            if !self.cfg.e2ee || self.depack.locked_ssrc() == Some(pkt.header.ssrc) {
                self.stats.packets_invalid += 1;
                return;
            }
            self.depack = OpusDepacketizer::new(Some(self.cfg.payload_type));
            self.ssrc_changes += 1;
            if self.depack.depacketize(&plain_pkt).is_err() {
                self.stats.packets_invalid += 1;
                return;
            }
        }
        if let Some(v) = self.video.as_mut() {
            // The peer's audio stream is known (authenticated with e2ee): its video is taken.
            v.on_peer_audio_ssrc(pkt.header.ssrc);
        }
        let packet = Packet {
            seq: pkt.header.sequence,
            timestamp: pkt.header.timestamp,
            payload,
        };
        if self.jitter.insert(packet, arrival).is_err() {
            self.stats.packets_invalid += 1;
        }
        if let Some(cc) = self.cc.as_mut() {
            // Only packets that authenticated reach here: the feedback reports what really
            // arrived from the peer.
            let h = &pkt.header;
            let tseq = transport_seq(&pkt);
            cc.on_rtp_received(arrival, h.ssrc, h.sequence, h.timestamp, data.len(), tseq);
        }
        self.h_decrypt.record(t.elapsed());
    }

    /// Run 10 ms of the call at time `now`: fill `speaker` (mono, 10 ms at the playout rate)
    /// from the jitter buffer, use it as the echo canceller's reference, process `mic` (mono, 10
    /// ms at the capture rate) and pass every packet that becomes ready to `emit`.
    ///
    /// # Real-time safety
    /// No allocation, lock or syscall as long as `emit` does none.
    ///
    /// # Errors
    /// [`EngineError::InvalidLength`] when `mic` or `speaker` is not 10 ms long; stage errors are
    /// counted (the frame is replaced by silence), never returned.
    pub fn tick(
        &mut self,
        now: MediaTime,
        mic: &[f32],
        speaker: &mut [f32],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<TickReport, EngineError> {
        // RT: preallocated buffers only.
        if mic.len() != self.cfg.capture_frame() {
            return Err(EngineError::InvalidLength("mic frame is not 10 ms"));
        }
        if speaker.len() != self.cfg.playout_frame() {
            return Err(EngineError::InvalidLength("speaker frame is not 10 ms"));
        }
        let t = Instant::now();
        self.last_now = now;
        if let Some(rx) = self.rx.as_mut() {
            // Retired keys are zeroized on time even when no packet arrives.
            rx.expire(now);
        }
        let concealed = self.pull_playout(now, speaker);
        if self.video.is_some() {
            self.lip_sync(now);
        }
        // Playout never leaves full scale, and never carries NaN (a decoder or stretcher fault
        // must not reach the speaker or the echo canceller's reference).
        self.stats.playout_clamped_samples += sanitize_in_place(speaker) as u64;
        if self.echo_on && self.chain.push_render(speaker).is_err() {
            self.stats.echo_render_underruns += 1;
        }
        // Capture is sanitized at the boundary: one bad frame (NaN, Inf, 1e30) must not poison
        // the stages' state for the rest of the call (NaN made RNNoise's FFT hit an unreachable
        // path: a panic that ended the media thread).
        let mut mic_clean = std::mem::take(&mut self.mic_clean);
        self.stats.capture_sanitized_samples += sanitize_into(mic, &mut mic_clean) as u64;
        let packets_sent = self.push_capture(&mic_clean, emit);
        self.mic_clean = mic_clean;
        self.run_cc(now, emit);
        self.poll_video(now, emit);
        self.stats.ticks += 1;
        self.h_tick.record(t.elapsed());
        Ok(TickReport {
            packets_sent,
            concealed,
        })
    }

    /// Lip sync's part of a tick: the audio being played, and the holds moved.
    fn lip_sync(&mut self, now: MediaTime) {
        // RT: arithmetic on fixed fields.
        if let Some(ts) = self.jitter.played_timestamp() {
            self.sync
                .on_audio_played(now, self.depack.locked_ssrc(), ts);
        }
        if let Some(h) = self.sync.update(now, self.jitter.offset_error_us(now)) {
            self.jitter.set_extra_delay(h.audio);
            if let Some(v) = self.video.as_mut() {
                v.set_sync_delay(h.video);
            }
        }
    }

    fn pull_playout(&mut self, now: MediaTime, out: &mut [f32]) -> bool {
        let t = Instant::now();
        let mut concealed = false;
        match self.play_rs.as_mut() {
            None => concealed |= jitter_pull(&mut self.jitter, now, out),
            Some(rs) => {
                let mut tries = 0;
                while !rs.pull(out) {
                    tries += 1;
                    if tries > 3 {
                        out.fill(0.0);
                        break;
                    }
                    concealed |= jitter_pull(&mut self.jitter, now, &mut self.jb_frame);
                    if rs.push(&self.jb_frame).is_err() {
                        out.fill(0.0);
                        break;
                    }
                }
            }
        }
        self.stats.playout_level_dbfs = level_dbfs(out);
        self.h_playout.record(t.elapsed());
        concealed
    }

    fn push_capture(&mut self, mic: &[f32], emit: &mut dyn FnMut(&[u8])) -> u32 {
        if self.chain.push_capture(mic).is_err() {
            // The chain stays usable; the frame is lost and counted.
            self.stats.send_failures += 1;
        }
        let mut sent = 0;
        let frame = self.enc.frame_samples();
        while self.chain.available() >= frame {
            self.chain.pull(&mut self.enc_pcm[..frame]);
            if self.muted {
                self.enc_pcm[..frame].fill(0.0);
            }
            if self.encode_and_send(emit) {
                sent += 1;
            }
        }
        sent
    }

    fn encode_and_send(&mut self, emit: &mut dyn FnMut(&[u8])) -> bool {
        let t = Instant::now();
        let frame = self.enc.frame_samples();
        let Ok(pkt) = self.enc.encode(&self.enc_pcm[..frame], &mut self.enc_out) else {
            self.stats.send_failures += 1;
            return false;
        };
        self.h_encode.record(t.elapsed());
        if pkt.discardable && self.cfg.dtx {
            self.packetizer.skip(pkt.duration);
            return false;
        }
        let t = Instant::now();
        let opus = &self.enc_out[..pkt.len];
        let payload: &[u8] = match (self.cfg.e2ee, self.tx.as_mut()) {
            (true, Some(tx)) => {
                // Bind the header this packet will carry into the frame's AAD.
                let aad = rtp_aad(&self.packetizer.peek_header());
                if tx
                    .protect_with_aad(&aad, opus, &mut self.protected)
                    .is_err()
                {
                    self.stats.send_failures += 1;
                    return false;
                }
                &self.protected
            }
            (false, _) => opus,
            // Never send plaintext when encryption is on.
            (true, None) => {
                self.stats.send_failures += 1;
                return false;
            }
        };
        let ext = [ExtensionElement {
            id: TRANSPORT_SEQ_EXT_ID,
            data: &TRANSPORT_SEQ_PLACEHOLDER,
        }];
        let exts: &[ExtensionElement<'_>] = if self.cc.is_some() { &ext } else { &[] };
        let Ok(n) = self
            .packetizer
            .packetize_with(payload, pkt.duration, exts, &mut self.packet)
        else {
            self.stats.send_failures += 1;
            return false;
        };
        if let Some(cc) = self.cc.as_mut() {
            // Numbered in send order (the packet leaves now: audio is not paced).
            cc.on_rtp_sent(self.last_now, &mut self.packet[..n]);
        }
        self.h_encrypt.record(t.elapsed());
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += n as u64;
        emit(&self.packet[..n]);
        true
    }

    /// Congestion control's periodic work: feedback and reports out, audio settings in.
    fn run_cc(&mut self, now: MediaTime, emit: &mut dyn FnMut(&[u8])) {
        // RT: no allocation (encoder ctl calls at most every 500 ms).
        let Some(cc) = self.cc.as_mut() else { return };
        let seq = self.packetizer.sequencer();
        // The RTP time of the first sample of the frame this tick captured: the next packet's
        // timestamp plus what waits for the encoder before that frame.
        let rate = i64::from(self.enc.config().rate);
        let waiting = self.chain.available() as i64 - rate / 100;
        let ahead = waiting * i64::from(parla_rtp::payload::opus::OPUS_CLOCK_RATE) / rate;
        let info = SendReport {
            audio: SendInfo {
                ssrc: seq.ssrc,
                rtp_timestamp: self.packetizer.next_timestamp().wrapping_add(ahead as u32),
                packets: seq.packets(),
                octets: seq.octets(),
            },
            video: self.video.as_mut().map(|v| v.sender_info(now)),
        };
        while let Some(action) = cc.poll(now, info) {
            match action {
                CcAction::Send(n) => {
                    emit(cc.packet(n));
                }
                CcAction::Adapt(s) => {
                    apply_audio_settings(&mut self.enc, &self.cfg, s);
                    let e = self.enc.config();
                    self.cc_events[1] = Some(CallEvent::AudioAdapted {
                        bitrate_bps: e.bitrate,
                        fec: e.fec,
                        frame_ms: e.frame.millis(),
                    });
                }
            }
        }
        let bps = cc.target_bps();
        let last = self.reported_bps as f64;
        if (bps as f64 - last).abs() >= BANDWIDTH_EVENT_CHANGE * last {
            self.reported_bps = bps;
            self.cc_events[0] = Some(CallEvent::BandwidthEstimate { bps });
        }
    }

    /// Takes the congestion-control events raised since the last call (estimate, then audio
    /// settings).
    ///
    /// # Real-time safety
    /// Moves two small values.
    pub fn take_events(&mut self) -> [Option<CallEvent>; 2] {
        std::mem::take(&mut self.cc_events)
    }

    /// The video pacer and the video receiver's feedback at `now`: packets due are passed to
    /// `emit`. [`tick`](Self::tick) does this too; a driver that can wake more often than every
    /// 10 ms (the media thread: every millisecond) calls it in between, so video leaves paced
    /// rather than in 10 ms bursts. Nothing without video.
    ///
    /// # Real-time safety
    /// No allocation, lock or syscall as long as `emit` does none.
    pub fn poll_video(&mut self, now: MediaTime, emit: &mut dyn FnMut(&[u8])) {
        // RT: no allocation.
        let Some(v) = self.video.as_mut() else { return };
        if let Some(cc) = self.cc.as_ref() {
            v.set_target(cc.video_target_bps(), now);
        }
        let before = v.stats().bytes_sent;
        v.poll(now, self.cc.as_mut(), emit);
        let sent = v.stats().bytes_sent - before;
        self.stats.bytes_sent += sent;
    }

    /// Hands one encoded video frame (from the codec side: H.264 Annex B or a VP8 frame) to the
    /// send side, captured at `capture` on the app's clock: it is encrypted under the video key,
    /// packetized and queued for the pacer.
    ///
    /// # Real-time safety
    /// No allocation (the frame is copied into preallocated buffers).
    ///
    /// # Errors
    /// [`EngineError::WrongMode`] without video; [`EngineError::InvalidLength`] when the frame
    /// is empty, larger than [`MAX_VIDEO_FRAME`](crate::MAX_VIDEO_FRAME) or the pacer queue is
    /// full (the link cannot carry what the encoder makes: the frame is dropped, counted, and
    /// the next command asks for a keyframe).
    pub fn send_video_frame(
        &mut self,
        frame: &[u8],
        keyframe: bool,
        capture: MediaTime,
    ) -> Result<(), EngineError> {
        let Some(v) = self.video.as_mut() else {
            return Err(EngineError::WrongMode("the call has no video"));
        };
        let tx = match (self.cfg.e2ee, self.vtx.as_deref_mut()) {
            (true, Some(tx)) => Some(tx),
            (false, _) => None,
            // Never send plaintext when encryption is on.
            (true, None) => return Err(EngineError::NoPeerKey),
        };
        v.send_frame(
            frame,
            keyframe,
            capture,
            self.last_now,
            tx,
            self.cc.is_some(),
        )
        .map_err(EngineError::InvalidLength)
    }

    /// The next video frame due for decoding at `now`, authenticated and decrypted into `out`
    /// (give it [`MAX_VIDEO_FRAME`](crate::MAX_VIDEO_FRAME) bytes). Frames that fail
    /// authentication or do not fit are dropped, counted, and a keyframe is asked for.
    ///
    /// # Real-time safety
    /// No allocation.
    pub fn poll_video_frame(&mut self, now: MediaTime, out: &mut [u8]) -> Option<VideoFrameOut> {
        let v = self.video.as_mut()?;
        let f = v.poll_frame(now, self.vrx.as_deref_mut(), out)?;
        let ssrc = v.peer_media_ssrc();
        self.sync
            .on_video_rendered(f.render_time, ssrc, f.rtp_timestamp);
        Some(f)
    }

    /// The RTP timestamp (48 kHz, as the peer wrote it) of the first sample of the audio the
    /// last [`tick`](Self::tick) played; `None` before playout started. With the peer's
    /// timestamp origin it tells how long ago that audio was captured (what lip sync and the
    /// call simulator measure).
    pub fn audio_playout_timestamp(&self) -> Option<u32> {
        self.jitter.played_timestamp()
    }

    /// The codec side could not decode a frame from [`poll_video_frame`](Self::poll_video_frame):
    /// later delta frames are dropped until a keyframe, which is requested.
    pub fn video_decode_error(&mut self, now: MediaTime) {
        if let Some(v) = self.video.as_mut() {
            v.decode_error(now);
        }
    }

    /// What the video encoder should do next (new size, frame rate or bitrate from the
    /// congestion control; a keyframe), if anything changed since the last call. The first
    /// call returns the start settings with a keyframe. While transport feedback is silent (an
    /// outage) it asks for a keyframe every 100 ms, so that the first one across the returned
    /// link can be decoded without the repairs of the gap.
    pub fn video_encoder_command(&mut self) -> Option<VideoEncoderCommand> {
        let now = self.last_now;
        let silent = self.cc.as_ref().is_some_and(|c| c.feedback_silent(now));
        self.video.as_mut()?.encoder_command(now, silent)
    }

    /// Whether the frame captured now should be skipped rather than encoded, because the send
    /// side is congested: more unsent video is queued than the pacer sends in 100 ms (or two
    /// frame intervals), or the congestion window is full. Ask before encoding each captured
    /// frame; a `true` answer is counted (`VideoStats::frames_congestion_skipped`), and the
    /// encoder simply does not see the frame (its reference chain stays whole; a keyframe
    /// commanded waits for the next frame encoded). Never `true` for more than 1 s in a row.
    ///
    /// # Real-time safety
    /// Constant time.
    pub fn video_skip_capture(&mut self) -> bool {
        let now = self.last_now;
        let Some(v) = self.video.as_mut() else {
            return false;
        };
        let skip = v.send_congested(now, self.cc.as_ref());
        if skip {
            v.count_skipped(1);
        }
        skip
    }

    /// [`video_skip_capture`](Self::video_skip_capture)'s answer without counting (for the
    /// [`Call`](crate::Call)'s video thread, which counts what it skips itself).
    pub(crate) fn video_send_congested(&self) -> bool {
        self.video
            .as_ref()
            .is_some_and(|v| v.send_congested(self.last_now, self.cc.as_ref()))
    }

    /// The video configuration, if the call has video.
    pub fn video_config(&self) -> Option<&VideoConfig> {
        self.video.as_ref().map(|v| v.config())
    }

    /// Switch the video sender to `next` (rotation, like
    /// [`install_sender`](Self::install_sender)) and return the old one.
    ///
    /// # Errors
    /// `next` is handed back when the call has no encrypted video.
    pub fn install_video_sender(
        &mut self,
        next: Box<SframeSender>,
    ) -> Result<Box<SframeSender>, Box<SframeSender>> {
        match self.vtx.as_mut() {
            Some(tx) => Ok(std::mem::replace(tx, next)),
            None => Err(next),
        }
    }

    /// Mute or unmute the microphone (muted, silence is encoded so the far end hears a steady
    /// stream rather than concealment).
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// Whether the microphone is muted.
    pub fn muted(&self) -> bool {
        self.muted
    }

    /// Change the Opus bitrate.
    ///
    /// # Errors
    /// [`EngineError::Config`] for a bitrate out of range (nothing changes).
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), EngineError> {
        if !(6_000..=510_000).contains(&bps) {
            return Err(EngineError::Config(
                parla_core::ConfigError::InvalidParameter {
                    name: "bitrate_bps",
                    detail: format!("{bps} (6000..=510000)"),
                },
            ));
        }
        // RT: an encoder ctl call.
        match self.cc.as_mut() {
            // With congestion control the app's bitrate is the ceiling; the adaptation picks
            // the rate under it (applied at once when it is lower than the current one).
            Some(cc) => {
                cc.set_max_audio_bps(bps);
                self.cfg.bitrate_bps = bps;
                if bps < self.enc.config().bitrate {
                    let _ = self.enc.set_bitrate(bps);
                }
            }
            None => {
                if self.enc.set_bitrate(bps).is_ok() {
                    self.cfg.bitrate_bps = bps;
                }
            }
        }
        Ok(())
    }

    /// Switch the audio sender to `next` (a sender of a newer epoch, made on the control side
    /// from [`CallKeys::prepare_rotation`]) and return the old one, to be dropped off the
    /// media thread. The peer's receiver follows the new epoch by itself.
    ///
    /// # Real-time safety
    /// Moves two boxes; no allocation or deallocation.
    ///
    /// # Errors
    /// [`EngineError::WrongMode`] when encryption is off (`next` is handed back in the error
    /// path's `Err` so it is not dropped here).
    pub fn install_sender(
        &mut self,
        next: Box<SframeSender>,
    ) -> Result<Box<SframeSender>, Box<SframeSender>> {
        match self.tx.as_mut() {
            Some(tx) => Ok(std::mem::replace(tx, next)),
            None => Err(next),
        }
    }

    /// Frames that failed authentication so far, and the peer's current send epoch (both 0
    /// without encryption): what the media thread watches for events.
    ///
    /// # Real-time safety
    /// Reads two counters.
    pub fn e2ee_watch(&self) -> (u64, u32) {
        self.rx
            .as_ref()
            .map_or((0, 0), |rx| (rx.stats().authentication, rx.epoch()))
    }

    /// The epoch of the audio sender (0 without encryption).
    pub fn send_epoch(&self) -> u32 {
        self.tx
            .as_ref()
            .and_then(|tx| split_call_key_id(tx.key_id()))
            .map_or(0, |(e, _, _)| e)
    }

    /// The statistics so far.
    pub fn stats(&self) -> CallStats {
        let mut s = self.stats;
        let j = self.jitter.stats_at(self.last_now);
        // Counters add to those of earlier runs (`self.stats` holds them after a resume).
        s.packets_lost += j.packets_lost;
        s.packets_late += j.late_packets;
        s.packets_duplicate += j.duplicate_packets;
        s.packets_reordered += j.reordered_packets;
        s.fec_recovered += j.fec_recovered;
        s.concealed_samples += j.concealed_samples;
        s.concealment_events += j.concealment_events;
        s.interruptions += j.interruptions;
        s.output_samples += j.output_samples;
        s.jitter_delay_ms = j.current_delay_ms;
        s.jitter_target_ms = j.target_delay_ms;
        s.jitter_mean_wait_ms = j.mean_waiting_ms;
        s.jitter_p95_wait_ms = j.p95_waiting_ms;
        if let Some(rx) = self.rx.as_ref() {
            s.peer_key_epoch = rx.epoch();
            s.keys_expired = rx.expired_keys();
            let r = rx.stats();
            s.e2ee_accepted = r.accepted;
            s.e2ee_auth_failures = r.authentication;
            s.e2ee_replays = r.replay;
            s.e2ee_unknown_key += r.unknown_key + r.retired_key;
            s.e2ee_malformed = r.malformed;
        }
        let meta = self.chain.last_meta();
        s.send_level_dbfs = meta.level_dbfs.unwrap_or(-100.0);
        s.echo_delay_ms = meta.echo_delay_ms.unwrap_or(-1);
        s.echo_voice = meta.echo_voice_detected.unwrap_or(false);
        s.echo_render_underruns += self.chain.render_underruns();
        s.muted = self.muted;
        s.key_epoch = self.send_epoch();
        s.ssrc_changes += self.ssrc_changes;
        let e = self.enc.config();
        s.audio_bitrate_bps = e.bitrate;
        s.audio_fec = e.fec;
        s.audio_expected_loss_percent = u32::from(e.expected_loss_percent);
        s.audio_frame_ms = e.frame.millis();
        s.rtt_ms = -1.0;
        if let Some(cc) = self.cc.as_ref() {
            let c = cc.counters;
            let snap = cc.snapshot();
            s.bwe_target_bps = snap.target_bps;
            s.bwe_acked_bps = snap.acked_bps;
            s.bwe_loss_percent = snap.loss_fraction * 100.0;
            s.rtt_ms = snap.rtt_ms;
            s.remote_loss_percent = snap.remote_fraction_lost * 100.0;
            s.remote_jitter_ms = snap.remote_jitter_ms;
            // Counters add to those of earlier runs.
            s.audio_adaptations += c.adaptations;
            s.rtcp_sent += c.rtcp_sent;
            s.rtcp_received += c.rtcp_received;
            s.rtcp_rejected += c.rtcp_rejected;
            s.feedback_sent += c.feedback_sent;
            s.feedback_received += c.feedback_received;
        }
        s.cpu = self.cpu();
        if let Some(v) = self.video.as_ref() {
            s.video = v.stats();
            let h = self.sync.holds();
            s.video.av_skew_ms = self.sync.skew_ms().unwrap_or(0.0);
            s.video.av_skew_measurements = self.sync.measurements;
            (s.video.av_skew_min_ms, s.video.av_skew_max_ms) = self
                .sync
                .range_us
                .map_or((0.0, 0.0), |(lo, hi)| (lo as f64 / 1e3, hi as f64 / 1e3));
            s.video.sync_audio_hold_ms = h.audio.as_secs_f64() * 1e3;
            s.video.sync_video_hold_ms = h.video.as_secs_f64() * 1e3;
        }
        s
    }

    fn cpu(&self) -> CpuStats {
        let t = self.chain.timings();
        let mut i = 0;
        let resample_in = StageCpu::from_histogram(&t[i].histogram);
        i += 1;
        let echo = if self.echo_on {
            i += 1;
            StageCpu::from_histogram(&t[i - 1].histogram)
        } else {
            StageCpu::default()
        };
        let noise = if self.cfg.noise_suppression {
            StageCpu::from_histogram(&t[i].histogram)
        } else {
            StageCpu::default()
        };
        CpuStats {
            resample_in,
            echo,
            noise,
            encode: StageCpu::from_histogram(&self.h_encode),
            encrypt: StageCpu::from_histogram(&self.h_encrypt),
            decrypt: StageCpu::from_histogram(&self.h_decrypt),
            playout: StageCpu::from_histogram(&self.h_playout),
            tick: StageCpu::from_histogram(&self.h_tick),
        }
    }

    /// The send chain's processing delay (resamplers and stages), seconds.
    pub fn send_chain_latency(&self) -> f64 {
        self.chain.latency_seconds()
    }

    /// The jitter buffer's statistics (the full NetEq-style set) at the last tick.
    pub fn jitter_stats(&self) -> parla_jitter::JitterStats {
        self.jitter.stats_at(self.last_now)
    }
}

/// Opus rate under which FEC is not worth its bits, bits per second.
const FEC_MIN_BPS: u32 = 12_000;

/// Applies the audio adaptation's settings to the encoder, within what the app configured:
///
/// - the bitrate at most `cfg.bitrate_bps`;
/// - FEC: the configured FEC stays on (its redundancy recovers single losses, which bursty
///   mobile links have even at a low mean loss: measured on `mobile-4g`, turning it off at low
///   loss raised concealment from 1.0 % to 1.6 %) unless the rate is too low for it; the
///   adaptation adds it when loss appears; the expected loss follows the measured loss above
///   the configured floor, in 5 % steps;
/// - packet length: longer packets only at very low rates and low loss, to save header
///   overhead (as libwebrtc's frame length controller); never under loss (3 % or more), where a
///   lost 60 ms packet loses three times the audio (measured on `random-loss10`: 40/60 ms
///   packets raised concealment from 5.5 % to 9.1 %); never shorter than `cfg.frame_ms`;
/// - DTX only if `cfg.dtx`.
fn apply_audio_settings(enc: &mut OpusEncoder, cfg: &CallConfig, s: AudioSettings) {
    // RT: encoder ctl calls.
    let bitrate = s.bitrate_bps.min(cfg.bitrate_bps);
    let _ = enc.set_bitrate(bitrate);
    let fec = (cfg.fec && bitrate >= FEC_MIN_BPS) || s.fec;
    let floor = if cfg.fec {
        cfg.expected_loss_percent
    } else {
        0
    };
    let expected = if fec {
        s.expected_loss_percent
            .max(floor)
            .div_ceil(5)
            .saturating_mul(5)
            .min(50)
    } else {
        0
    };
    let _ = enc.set_fec(fec, expected);
    // The adaptor's FEC is off, or its expected loss low, only when the measured loss is low.
    let low_loss = !s.fec || s.expected_loss_percent < 3;
    let frame_ms = if low_loss && bitrate < FRAME_60_BELOW_BPS {
        60
    } else if low_loss && bitrate < FRAME_40_BELOW_BPS {
        40
    } else {
        20
    };
    if let Ok(f) = FrameDuration::from_millis(frame_ms.max(cfg.frame_ms)) {
        enc.set_frame(f);
    }
    if cfg.dtx != enc.config().dtx {
        let _ = enc.set_dtx(cfg.dtx);
    }
}

/// Opus rates under which packets grow to 60 and 40 ms, bits per second: only where 20 ms
/// headers would take most of the rate (measured with `parla call` on the cellular traces,
/// packets of 40/60 ms from 16/12 kbit/s down raised the mouth-to-ear delay by up to 100 ms
/// for no gain).
const FRAME_60_BELOW_BPS: u32 = 8_000;
/// See [`FRAME_60_BELOW_BPS`].
const FRAME_40_BELOW_BPS: u32 = 11_000;

/// The transport-wide sequence number of a packet, if it carries one.
fn transport_seq(pkt: &RtpPacket<'_>) -> Option<u16> {
    pkt.extension_element(TRANSPORT_SEQ_EXT_ID)
        .filter(|d| d.len() == 2)
        .map(|d| u16::from_be_bytes([d[0], d[1]]))
}

/// One 10 ms jitter-buffer pull into `out`; returns whether it concealed. On error the frame is
/// silence.
fn jitter_pull(jb: &mut JitterBuffer<OpusAudioDecoder>, now: MediaTime, out: &mut [f32]) -> bool {
    match jb.pull(now, out) {
        Ok(r) => matches!(r.action, parla_jitter::Action::Expand),
        Err(_) => {
            out.fill(0.0);
            false
        }
    }
}
