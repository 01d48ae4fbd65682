//! Opus for calls: an encoder with the controls a call needs (bitrate, complexity, in-band FEC,
//! expected loss, DTX, frame duration, all changeable mid-stream) and a decoder with the three
//! operations a jitter buffer needs (decode a packet, decode the FEC copy that the next packet
//! carries of a lost one, conceal a missing packet), each writing into a caller buffer.
//!
//! Backed by the `opus` crate, which builds its own libopus 1.6 (about 2x cheaper per frame here
//! than Debian's libopus 1.3, 3x cheaper than going through libavcodec; see `docs/CODECS.md`) and
//! exposes every CTL a call needs.
//!
//! # Real-time safety
//! After construction, [`OpusEncoder::encode`], [`OpusDecoder::decode`],
//! [`OpusDecoder::decode_fec`], [`OpusDecoder::conceal`] and the `set_*` controls neither allocate
//! nor lock: the Rust side only checks lengths and calls libopus, which works on its own state and
//! the stack after `opus_*_create` (`tests/rt_no_alloc.rs` checks the Rust side with the counting
//! allocator).
//!
//! ```no_run
//! use parla_codec::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig, MAX_PACKET_BYTES};
//! let cfg = OpusEncoderConfig::voice(48_000, 1).bitrate(32_000).fec(true, 10).dtx(true);
//! let mut enc = OpusEncoder::new(&cfg).unwrap();
//! let mut dec = OpusDecoder::new(48_000, 1).unwrap();
//! let pcm = vec![0.0f32; enc.frame_samples()];
//! let mut packet = [0u8; MAX_PACKET_BYTES];
//! let mut out = vec![0.0f32; dec.max_frame_samples()];
//! let info = enc.encode(&pcm, &mut packet).unwrap();
//! // ... send packet[..info.len] unless info.discardable ...
//! let n = dec.decode(&packet[..info.len], &mut out).unwrap();
//! // On a loss, when the next packet is already here:
//! let n = dec.decode_fec(&packet[..info.len], &mut out[..n]).unwrap();
//! // ... or when it is not:
//! let n = dec.conceal(&mut out[..n]).unwrap();
//! ```

use std::time::Duration;

use parla_core::error::ConfigError;

mod complexity;
pub use complexity::{ComplexityPolicy, CpuPressure, Platform};

/// Largest Opus packet (RFC 6716 section 3.4: 120 ms of 1275-byte frames plus framing). A buffer
/// this large never makes [`OpusEncoder::encode`] fail for lack of room.
pub const MAX_PACKET_BYTES: usize = 4000;

/// Longest byte string the decoder considers (RFC 6716: 48 frames of at most 1275 bytes plus
/// framing); anything longer is an invalid packet.
pub const MAX_VALID_PACKET_BYTES: usize = 48 * 1275 + 2 * 48 + 2;

/// Longest audio one Opus packet can carry (RFC 6716: 120 ms).
pub const MAX_PACKET_DURATION: Duration = Duration::from_millis(120);

/// Rates libopus encodes and decodes at.
pub const OPUS_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// What the encoder is tuned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Application {
    /// Speech intelligibility first (VoIP): the default for calls.
    Voice,
    /// Fidelity to the input (music, general audio).
    Audio,
    /// Lowest algorithmic delay (CELT only, no speech mode, no FEC).
    LowDelay,
}

/// The widest audio band the encoder may code (`OPUS_SET_MAX_BANDWIDTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bandwidth {
    /// Up to 4 kHz.
    Narrow,
    /// Up to 6 kHz.
    Medium,
    /// Up to 8 kHz (SILK alone, 16 kHz internal rate).
    Wide,
    /// Up to 12 kHz.
    SuperWide,
    /// Up to 20 kHz (the default: the encoder picks the band from the bitrate).
    Full,
}

impl Bandwidth {
    fn backend(self) -> ::opus::Bandwidth {
        match self {
            Bandwidth::Narrow => ::opus::Bandwidth::Narrowband,
            Bandwidth::Medium => ::opus::Bandwidth::Mediumband,
            Bandwidth::Wide => ::opus::Bandwidth::Wideband,
            Bandwidth::SuperWide => ::opus::Bandwidth::Superwideband,
            Bandwidth::Full => ::opus::Bandwidth::Fullband,
        }
    }
}

/// Frame durations a call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameDuration {
    /// 10 ms.
    Ms10,
    /// 20 ms (the default).
    Ms20,
    /// 40 ms.
    Ms40,
    /// 60 ms.
    Ms60,
}

impl FrameDuration {
    /// The duration in milliseconds.
    pub const fn millis(self) -> u32 {
        match self {
            FrameDuration::Ms10 => 10,
            FrameDuration::Ms20 => 20,
            FrameDuration::Ms40 => 40,
            FrameDuration::Ms60 => 60,
        }
    }

    /// The duration for `ms` milliseconds.
    ///
    /// # Errors
    /// [`ConfigError::InvalidParameter`] unless `ms` is 10, 20, 40 or 60.
    pub fn from_millis(ms: u32) -> Result<Self, ConfigError> {
        match ms {
            10 => Ok(FrameDuration::Ms10),
            20 => Ok(FrameDuration::Ms20),
            40 => Ok(FrameDuration::Ms40),
            60 => Ok(FrameDuration::Ms60),
            _ => Err(ConfigError::InvalidParameter {
                name: "frame duration",
                detail: format!("{ms} ms (supported: 10, 20, 40, 60)"),
            }),
        }
    }
}

/// A per-frame Opus failure. `Copy`, numbers only: cheap on the real-time path.
///
/// What the caller can do next: [`OpusError::InvalidPacket`] means drop the packet and conceal
/// instead; the others are caller bugs (wrong buffer sizes or settings) that leave the codec state
/// unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpusError {
    /// The input PCM does not hold exactly one frame of the configured duration.
    #[error("wrong frame length: expected {expected} samples, got {got}")]
    WrongLength {
        /// Interleaved samples expected.
        expected: usize,
        /// Interleaved samples given.
        got: usize,
    },
    /// The output buffer cannot hold what the packet decodes to.
    #[error("output buffer too small: needed {needed} samples, got {got}")]
    BufferTooSmall {
        /// Interleaved samples needed.
        needed: usize,
        /// Interleaved samples available.
        got: usize,
    },
    /// The packet is empty, malformed or corrupt: discard it and conceal.
    #[error("invalid Opus packet")]
    InvalidPacket,
    /// A setting is out of its range.
    #[error("invalid setting {name}: {value}")]
    BadSetting {
        /// The setting.
        name: &'static str,
        /// The value refused.
        value: i32,
    },
    /// libopus returned another error code.
    #[error("libopus error {code}")]
    Backend {
        /// libopus's (negative) error code.
        code: i32,
    },
}

impl From<::opus::Error> for OpusError {
    fn from(e: ::opus::Error) -> Self {
        match e.code() {
            ::opus::ErrorCode::InvalidPacket => OpusError::InvalidPacket,
            ::opus::ErrorCode::BufferTooSmall => OpusError::BufferTooSmall { needed: 0, got: 0 },
            code => OpusError::Backend { code: code as i32 },
        }
    }
}

fn backend_config(e: ::opus::Error) -> ConfigError {
    ConfigError::Backend {
        backend: "libopus",
        detail: format!("{} failed: code {:?}", e.function(), e.code()),
    }
}

/// Encoder settings (a builder: start from [`OpusEncoderConfig::voice`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusEncoderConfig {
    /// Sample rate of the input PCM: 8, 12, 16, 24 or 48 kHz.
    pub rate: u32,
    /// 1 (mono) or 2 (stereo), interleaved.
    pub channels: u16,
    /// What the encoder is tuned for.
    pub application: Application,
    /// Audio per packet.
    pub frame: FrameDuration,
    /// Target bitrate in bits per second (6000..=510000).
    pub bitrate: u32,
    /// Encoder complexity 0..=10 (CPU against quality).
    pub complexity: u8,
    /// In-band forward error correction: each packet also carries a low-rate copy of the
    /// previous one, which the receiver decodes in place of a lost packet.
    pub fec: bool,
    /// Expected packet loss in percent (0..=100): how much of the bitrate FEC may use.
    pub expected_loss_percent: u8,
    /// Discontinuous transmission: in silence, send one comfort-noise update every 400 ms and
    /// 1-byte packets (that need not be sent) in between.
    pub dtx: bool,
    /// Variable bitrate (constrained, so the rate stays near the target over a second).
    pub vbr: bool,
    /// The widest band coded; below the bitrate's own choice it saves the CELT layer's work
    /// (`docs/PERFORMANCE.md` has the cost and PESQ-WB of each).
    pub max_bandwidth: Bandwidth,
}

impl OpusEncoderConfig {
    /// Speech defaults for a call: VoIP application, 20 ms, 32 kbps, complexity 9 (one below
    /// the maximum, as WebRTC uses on desktop), constrained VBR, FEC and DTX off.
    pub fn voice(rate: u32, channels: u16) -> Self {
        OpusEncoderConfig {
            rate,
            channels,
            application: Application::Voice,
            frame: FrameDuration::Ms20,
            bitrate: 32_000,
            complexity: 9,
            fec: false,
            expected_loss_percent: 0,
            dtx: false,
            vbr: true,
            max_bandwidth: Bandwidth::Full,
        }
    }

    /// Set the application.
    pub fn application(mut self, application: Application) -> Self {
        self.application = application;
        self
    }

    /// Set the frame duration.
    pub fn frame(mut self, frame: FrameDuration) -> Self {
        self.frame = frame;
        self
    }

    /// Set the target bitrate in bits per second.
    pub fn bitrate(mut self, bps: u32) -> Self {
        self.bitrate = bps;
        self
    }

    /// Set the complexity (0..=10).
    pub fn complexity(mut self, complexity: u8) -> Self {
        self.complexity = complexity;
        self
    }

    /// Turn in-band FEC on or off, with the loss rate (percent) it should protect against.
    pub fn fec(mut self, on: bool, expected_loss_percent: u8) -> Self {
        self.fec = on;
        self.expected_loss_percent = expected_loss_percent;
        self
    }

    /// Turn DTX on or off.
    pub fn dtx(mut self, on: bool) -> Self {
        self.dtx = on;
        self
    }

    /// Turn (constrained) VBR on, or off for CBR.
    pub fn vbr(mut self, on: bool) -> Self {
        self.vbr = on;
        self
    }

    /// Set the widest band coded.
    pub fn max_bandwidth(mut self, bandwidth: Bandwidth) -> Self {
        self.max_bandwidth = bandwidth;
        self
    }

    /// Interleaved samples in one input frame.
    pub fn frame_samples(&self) -> usize {
        (self.rate / 1000 * self.frame.millis()) as usize * usize::from(self.channels)
    }

    fn validate(&self) -> Result<::opus::Channels, ConfigError> {
        if !OPUS_RATES.contains(&self.rate) {
            return Err(ConfigError::UnsupportedRate {
                rate: self.rate,
                supported: "8000, 12000, 16000, 24000, 48000",
            });
        }
        let channels = channels_of(self.channels)?;
        check_bitrate(self.bitrate).map_err(setting_to_config)?;
        check_complexity(self.complexity).map_err(setting_to_config)?;
        check_loss(self.expected_loss_percent).map_err(setting_to_config)?;
        Ok(channels)
    }
}

fn channels_of(channels: u16) -> Result<::opus::Channels, ConfigError> {
    match channels {
        1 => Ok(::opus::Channels::Mono),
        2 => Ok(::opus::Channels::Stereo),
        _ => Err(ConfigError::UnsupportedChannels {
            channels,
            supported: "1, 2",
        }),
    }
}

fn setting_to_config(e: OpusError) -> ConfigError {
    match e {
        OpusError::BadSetting { name, value } => ConfigError::InvalidParameter {
            name,
            detail: format!("{value} is out of range"),
        },
        other => ConfigError::InvalidParameter {
            name: "opus",
            detail: other.to_string(),
        },
    }
}

fn check_bitrate(bps: u32) -> Result<i32, OpusError> {
    match i32::try_from(bps) {
        Ok(b) if (6_000..=510_000).contains(&b) => Ok(b),
        _ => Err(OpusError::BadSetting {
            name: "bitrate",
            value: i32::try_from(bps).unwrap_or(i32::MAX),
        }),
    }
}

fn check_complexity(c: u8) -> Result<i32, OpusError> {
    if c <= 10 {
        Ok(i32::from(c))
    } else {
        Err(OpusError::BadSetting {
            name: "complexity",
            value: i32::from(c),
        })
    }
}

fn check_loss(p: u8) -> Result<i32, OpusError> {
    if p <= 100 {
        Ok(i32::from(p))
    } else {
        Err(OpusError::BadSetting {
            name: "expected loss percent",
            value: i32::from(p),
        })
    }
}

/// What [`OpusEncoder::encode`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedPacket {
    /// Bytes written at the start of the output buffer.
    pub len: usize,
    /// Audio duration the packet carries.
    pub duration: Duration,
    /// Samples per channel the packet carries (at the encoder's rate).
    pub samples: usize,
    /// The encoder is in DTX (silence): this packet is either a comfort-noise update or a
    /// discardable 1-2 byte packet.
    pub in_dtx: bool,
    /// The packet carries no audio (a DTX packet of at most 2 bytes): a sender may skip it and
    /// the receiver conceals (libopus then produces comfort noise).
    pub discardable: bool,
}

/// An Opus encoder (one stream, mono or stereo).
pub struct OpusEncoder {
    enc: ::opus::Encoder,
    config: OpusEncoderConfig,
    lookahead: usize,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("config", &self.config)
            .finish()
    }
}

impl OpusEncoder {
    /// Create an encoder.
    ///
    /// # Errors
    /// [`ConfigError`] for an unsupported rate, channel count or out-of-range setting, or if
    /// libopus refuses to initialise.
    pub fn new(config: &OpusEncoderConfig) -> Result<Self, ConfigError> {
        let channels = config.validate()?;
        let app = match config.application {
            Application::Voice => ::opus::Application::Voip,
            Application::Audio => ::opus::Application::Audio,
            Application::LowDelay => ::opus::Application::LowDelay,
        };
        let mut enc = ::opus::Encoder::new(config.rate, channels, app).map_err(backend_config)?;
        if config.application == Application::Voice {
            enc.set_signal(::opus::Signal::Voice)
                .map_err(backend_config)?;
        }
        let lookahead = enc.get_lookahead().map_err(backend_config)?;
        let mut this = OpusEncoder {
            enc,
            config: config.clone(),
            lookahead: usize::try_from(lookahead).unwrap_or(0),
        };
        this.set_vbr(config.vbr).map_err(setting_to_config)?;
        this.set_bitrate(config.bitrate)
            .map_err(setting_to_config)?;
        this.set_complexity(config.complexity)
            .map_err(setting_to_config)?;
        this.set_fec(config.fec, config.expected_loss_percent)
            .map_err(setting_to_config)?;
        this.set_dtx(config.dtx).map_err(setting_to_config)?;
        this.set_max_bandwidth(config.max_bandwidth)
            .map_err(setting_to_config)?;
        Ok(this)
    }

    /// The current settings.
    pub fn config(&self) -> &OpusEncoderConfig {
        &self.config
    }

    /// Interleaved samples [`OpusEncoder::encode`] takes per call.
    pub fn frame_samples(&self) -> usize {
        self.config.frame_samples()
    }

    /// The encoder's lookahead in samples per channel: the decoded signal lags the input by this
    /// much.
    pub fn lookahead(&self) -> usize {
        self.lookahead
    }

    /// Encode one frame of interleaved PCM (`[-1, 1]`) into `out`.
    ///
    /// # Errors
    /// [`OpusError::WrongLength`] unless `pcm` holds exactly [`OpusEncoder::frame_samples`];
    /// [`OpusError::BufferTooSmall`] if `out` is empty; [`OpusError::Backend`] if libopus fails.
    ///
    /// # Real-time safety
    /// Allocation-free and lock-free.
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<EncodedPacket, OpusError> {
        // RT: length checks and one libopus call.
        let expected = self.frame_samples();
        if pcm.len() != expected {
            return Err(OpusError::WrongLength {
                expected,
                got: pcm.len(),
            });
        }
        if out.is_empty() {
            return Err(OpusError::BufferTooSmall { needed: 1, got: 0 });
        }
        let limit = out.len().min(MAX_PACKET_BYTES);
        let len = self.enc.encode_float(pcm, &mut out[..limit])?;
        let in_dtx = self.config.dtx && self.enc.get_in_dtx().unwrap_or(false);
        let samples = expected / usize::from(self.config.channels);
        Ok(EncodedPacket {
            len,
            duration: Duration::from_millis(u64::from(self.config.frame.millis())),
            samples,
            in_dtx,
            discardable: self.config.dtx && len <= 2,
        })
    }

    /// Change the target bitrate (bits per second, 6000..=510000). Takes effect on the next
    /// frame.
    ///
    /// # Errors
    /// [`OpusError::BadSetting`] out of range; [`OpusError::Backend`] if libopus refuses.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), OpusError> {
        // RT: one CTL.
        let b = check_bitrate(bps)?;
        self.enc.set_bitrate(::opus::Bitrate::Bits(b))?;
        self.config.bitrate = bps;
        Ok(())
    }

    /// Change the complexity (0..=10).
    ///
    /// # Errors
    /// [`OpusError::BadSetting`] out of range; [`OpusError::Backend`] if libopus refuses.
    pub fn set_complexity(&mut self, complexity: u8) -> Result<(), OpusError> {
        // RT: one CTL.
        let c = check_complexity(complexity)?;
        self.enc.set_complexity(c)?;
        self.config.complexity = complexity;
        Ok(())
    }

    /// Turn in-band FEC on or off and set the expected loss (percent, 0..=100). FEC needs a
    /// non-zero expected loss to be used.
    ///
    /// # Errors
    /// [`OpusError::BadSetting`] out of range; [`OpusError::Backend`] if libopus refuses.
    pub fn set_fec(&mut self, on: bool, expected_loss_percent: u8) -> Result<(), OpusError> {
        // RT: two CTLs.
        let p = check_loss(expected_loss_percent)?;
        self.enc.set_inband_fec(on)?;
        self.enc.set_packet_loss_perc(p)?;
        self.config.fec = on;
        self.config.expected_loss_percent = expected_loss_percent;
        Ok(())
    }

    /// Turn DTX on or off.
    ///
    /// # Errors
    /// [`OpusError::Backend`] if libopus refuses.
    pub fn set_dtx(&mut self, on: bool) -> Result<(), OpusError> {
        // RT: one CTL.
        self.enc.set_dtx(on)?;
        self.config.dtx = on;
        Ok(())
    }

    /// Change the widest band coded. Takes effect on the next frame.
    ///
    /// # Errors
    /// [`OpusError::Backend`] if libopus refuses.
    pub fn set_max_bandwidth(&mut self, bandwidth: Bandwidth) -> Result<(), OpusError> {
        // RT: one CTL.
        self.enc.set_max_bandwidth(bandwidth.backend())?;
        self.config.max_bandwidth = bandwidth;
        Ok(())
    }

    /// Turn constrained VBR on, or off for CBR.
    ///
    /// # Errors
    /// [`OpusError::Backend`] if libopus refuses.
    pub fn set_vbr(&mut self, on: bool) -> Result<(), OpusError> {
        // RT: two CTLs.
        self.enc.set_vbr(on)?;
        if on {
            self.enc.set_vbr_constraint(true)?;
        }
        self.config.vbr = on;
        Ok(())
    }

    /// Change the frame duration; the next [`OpusEncoder::encode`] takes frames of the new size.
    pub fn set_frame(&mut self, frame: FrameDuration) {
        // RT: plain store.
        self.config.frame = frame;
    }
}

/// An Opus decoder (one stream, mono or stereo) writing `f32` PCM into caller buffers.
pub struct OpusDecoder {
    dec: ::opus::Decoder,
    rate: u32,
    channels: u16,
    last_samples: usize,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .finish()
    }
}

impl OpusDecoder {
    /// Create a decoder producing `channels` channels at `rate` Hz (any Opus stream decodes at
    /// any of the [`OPUS_RATES`]).
    ///
    /// # Errors
    /// [`ConfigError`] for an unsupported rate or channel count, or if libopus refuses.
    pub fn new(rate: u32, channels: u16) -> Result<Self, ConfigError> {
        if !OPUS_RATES.contains(&rate) {
            return Err(ConfigError::UnsupportedRate {
                rate,
                supported: "8000, 12000, 16000, 24000, 48000",
            });
        }
        let ch = channels_of(channels)?;
        let dec = ::opus::Decoder::new(rate, ch).map_err(backend_config)?;
        Ok(OpusDecoder {
            dec,
            rate,
            channels,
            last_samples: (rate / 50) as usize,
        })
    }

    /// Output sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Output channel count.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Interleaved samples of the longest packet (120 ms): an output buffer this large never
    /// fails with [`OpusError::BufferTooSmall`].
    pub fn max_frame_samples(&self) -> usize {
        (self.rate / 1000 * 120) as usize * usize::from(self.channels)
    }

    /// Samples per channel of the last packet decoded (20 ms before the first): the usual size
    /// to conceal when the next packet is lost.
    pub fn last_packet_samples(&self) -> usize {
        self.last_samples
    }

    /// Samples per channel that `packet` decodes to, without decoding it.
    ///
    /// # Errors
    /// [`OpusError::InvalidPacket`] for an empty or malformed packet.
    pub fn packet_samples(&self, packet: &[u8]) -> Result<usize, OpusError> {
        // RT: header parse only.
        // Longer than any valid packet (RFC 6716: at most 48 frames of 1275 bytes plus
        // framing): refuse before libopus sees a length it cannot represent.
        if packet.is_empty() || packet.len() > MAX_VALID_PACKET_BYTES {
            return Err(OpusError::InvalidPacket);
        }
        ::opus::packet::get_nb_samples(packet, self.rate).map_err(|_| OpusError::InvalidPacket)
    }

    /// Decode `packet` into `out` (interleaved); returns the samples per channel written.
    ///
    /// # Errors
    /// [`OpusError::InvalidPacket`] for an empty, malformed or corrupt packet (conceal instead);
    /// [`OpusError::BufferTooSmall`] if `out` cannot hold the packet's duration.
    ///
    /// # Real-time safety
    /// Allocation-free and lock-free.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize, OpusError> {
        // RT: length checks and one libopus call.
        let n = self.packet_samples(packet)?;
        let needed = n * usize::from(self.channels);
        if out.len() < needed {
            return Err(OpusError::BufferTooSmall {
                needed,
                got: out.len(),
            });
        }
        let got = self.dec.decode_float(packet, &mut out[..needed], false)?;
        self.last_samples = got;
        Ok(got)
    }

    /// Recover a lost packet from the FEC data carried by the packet that followed it
    /// (`next_packet`). `out` must hold exactly the lost packet's duration (interleaved; a
    /// multiple of 2.5 ms, usually [`OpusDecoder::last_packet_samples`] per channel). Returns the
    /// samples per channel written. If `next_packet` carries no FEC data, libopus conceals
    /// instead, so the output is always usable. Call [`OpusDecoder::decode`] on `next_packet`
    /// afterwards as usual.
    ///
    /// # Errors
    /// [`OpusError::InvalidPacket`] for a malformed `next_packet`;
    /// [`OpusError::WrongLength`] if `out` is not a whole number of 2.5 ms frames.
    ///
    /// # Real-time safety
    /// Allocation-free and lock-free.
    pub fn decode_fec(&mut self, next_packet: &[u8], out: &mut [f32]) -> Result<usize, OpusError> {
        // RT: length checks and one libopus call.
        self.packet_samples(next_packet)?;
        self.check_conceal_len(out.len())?;
        let got = self.dec.decode_float(next_packet, out, true)?;
        Ok(got)
    }

    /// Conceal a missing packet (packet-loss concealment): fill `out` (interleaved, a multiple
    /// of 2.5 ms) with audio continuing what was decoded before, fading out over long losses
    /// (or comfort noise after DTX). Returns the samples per channel written.
    ///
    /// # Errors
    /// [`OpusError::WrongLength`] if `out` is empty, longer than 120 ms, or not a whole number of
    /// 2.5 ms frames.
    ///
    /// # Real-time safety
    /// Allocation-free and lock-free.
    pub fn conceal(&mut self, out: &mut [f32]) -> Result<usize, OpusError> {
        // RT: length checks and one libopus call.
        self.check_conceal_len(out.len())?;
        let got = self.dec.decode_float(&[], out, false)?;
        Ok(got)
    }

    fn check_conceal_len(&self, len: usize) -> Result<(), OpusError> {
        let ch = usize::from(self.channels);
        let quantum = (self.rate / 400) as usize * ch;
        if len == 0 || !len.is_multiple_of(quantum) || len > self.max_frame_samples() {
            let expected = (len / quantum).clamp(1, 48) * quantum;
            return Err(OpusError::WrongLength { expected, got: len });
        }
        Ok(())
    }

    /// Forget the stream (after a long gap or a stream change).
    ///
    /// # Errors
    /// [`OpusError::Backend`] if libopus refuses.
    pub fn reset(&mut self) -> Result<(), OpusError> {
        self.dec.reset_state()?;
        self.last_samples = (self.rate / 50) as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_configs() {
        assert!(OpusEncoder::new(&OpusEncoderConfig::voice(44_100, 1)).is_err());
        assert!(OpusEncoder::new(&OpusEncoderConfig::voice(48_000, 3)).is_err());
        assert!(OpusEncoder::new(&OpusEncoderConfig::voice(48_000, 1).bitrate(1000)).is_err());
        assert!(OpusEncoder::new(&OpusEncoderConfig::voice(48_000, 1).complexity(11)).is_err());
        assert!(OpusDecoder::new(22_050, 1).is_err());
        assert!(FrameDuration::from_millis(30).is_err());
    }

    #[test]
    fn frame_sizes_and_lengths() {
        for ms in [10, 20, 40, 60] {
            let cfg =
                OpusEncoderConfig::voice(16_000, 2).frame(FrameDuration::from_millis(ms).unwrap());
            let mut enc = OpusEncoder::new(&cfg).unwrap();
            let pcm = vec![0.1f32; enc.frame_samples()];
            let mut out = [0u8; MAX_PACKET_BYTES];
            let p = enc.encode(&pcm, &mut out).unwrap();
            assert_eq!(p.samples, 16 * ms as usize);
            let mut dec = OpusDecoder::new(48_000, 2).unwrap();
            assert_eq!(dec.packet_samples(&out[..p.len]).unwrap(), 48 * ms as usize);
            let mut pcm_out = vec![0.0; dec.max_frame_samples()];
            assert_eq!(
                dec.decode(&out[..p.len], &mut pcm_out).unwrap(),
                48 * ms as usize
            );
            assert!(matches!(
                enc.encode(&pcm[1..], &mut out),
                Err(OpusError::WrongLength { .. })
            ));
            assert!(matches!(
                dec.decode(&out[..p.len], &mut pcm_out[..10]),
                Err(OpusError::BufferTooSmall { .. })
            ));
        }
    }

    /// The widest band in a packet's TOC byte (RFC 6716 section 3.1): 0 narrow .. 4 full.
    fn toc_band(toc: u8) -> u8 {
        match toc >> 3 {
            c @ 0..=11 => c / 4,
            12..=13 => 3,
            14..=15 => 4,
            c => match (c - 16) / 4 {
                0 => 0,
                b => b + 1,
            },
        }
    }

    #[test]
    fn max_bandwidth_caps_the_coded_band() {
        // A chirp across 0-20 kHz at 64 kbps: unlimited, the encoder codes full band.
        let pcm: Vec<f32> = (0..48_000)
            .map(|i| {
                let t = i as f32 / 48_000.0;
                0.3 * (std::f32::consts::PI * 20_000.0 * t * t).sin()
            })
            .collect();
        let widest = |band: Bandwidth| {
            let cfg = OpusEncoderConfig::voice(48_000, 1)
                .bitrate(64_000)
                .max_bandwidth(band);
            let mut enc = OpusEncoder::new(&cfg).unwrap();
            let mut out = [0u8; MAX_PACKET_BYTES];
            pcm.chunks_exact(enc.frame_samples())
                .map(|f| {
                    let p = enc.encode(f, &mut out).unwrap();
                    toc_band(out[..p.len][0])
                })
                .max()
                .unwrap()
        };
        assert_eq!(widest(Bandwidth::Full), 4);
        assert_eq!(widest(Bandwidth::Wide), 2);
        assert_eq!(widest(Bandwidth::Narrow), 0);
        let mut enc = OpusEncoder::new(&OpusEncoderConfig::voice(48_000, 1)).unwrap();
        enc.set_max_bandwidth(Bandwidth::SuperWide).unwrap();
        assert_eq!(enc.config().max_bandwidth, Bandwidth::SuperWide);
    }

    #[test]
    fn conceal_lengths() {
        let mut dec = OpusDecoder::new(48_000, 1).unwrap();
        let mut out = vec![0.0; 5760];
        assert_eq!(dec.conceal(&mut out[..960]).unwrap(), 960);
        assert!(dec.conceal(&mut out[..100]).is_err());
        assert!(dec.conceal(&mut out[..0]).is_err());
        assert!(dec.decode(&[], &mut out).is_err());
    }
}
