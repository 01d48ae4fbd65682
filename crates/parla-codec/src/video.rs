//! H.264 and VP8 for calls, through FFmpeg (`ffmpeg-next` over Debian's FFmpeg 5.1).
//!
//! - H.264 uses libx264 with `tune=zerolatency`, the constrained-baseline profile (no B-frames,
//!   no CABAC) and Annex-B output with SPS/PPS repeated before every keyframe, so any keyframe
//!   starts a decodable stream.
//! - VP8 uses libvpx in realtime mode (`deadline=realtime`, `cpu-used`, no lag in frames, error
//!   resilience on).
//!
//! Both run one frame in, at most one packet out, with no frame delay, in a send/receive pull
//! shape (STYLE.md S5): [`VideoEncoder::send_frame`] then [`VideoEncoder::receive_packet`] until
//! it returns `None`. Rate control follows the frames' timestamps (microseconds), so a camera
//! that changes its frame rate keeps the bitrate on target. The target frame rate is enforced by
//! dropping input frames that come too early ([`SendStatus::Dropped`]), as call encoders do.
//!
//! Encoded packets and decoded frames are allocated per frame: video is off the real-time audio
//! path (DESIGN.md), so this crate does not hold video to the no-allocation rule.
//!
//! ```no_run
//! use parla_codec::video::{VideoCodec, VideoDecoder, VideoEncoder, VideoEncoderConfig};
//! use parla_core::video::{PixelFormat, VideoFrame};
//! let cfg = VideoEncoderConfig::new(VideoCodec::Vp8, 640, 360).bitrate(500_000);
//! let mut enc = VideoEncoder::new(&cfg).unwrap();
//! let mut dec = VideoDecoder::new(VideoCodec::Vp8).unwrap();
//! let frame = VideoFrame::new(PixelFormat::Nv12, 1280, 720).unwrap(); // scaled inside
//! enc.request_keyframe();
//! enc.send_frame(&frame).unwrap();
//! while let Some(packet) = enc.receive_packet().unwrap() {
//!     dec.send_packet(&packet.data, packet.timestamp).unwrap();
//!     while let Some(decoded) = dec.receive_frame().unwrap() {
//!         // decoded.frame is I420; decoded.size_changed says a new size started here.
//!     }
//! }
//! ```

use ffmpeg_next::codec::{self, Id};
use ffmpeg_next::util::error::EAGAIN;
use ffmpeg_next::{Dictionary, Packet, Rational, decoder, encoder, format::Pixel, frame, picture};
use parla_core::MediaTime;
use parla_core::video::{PixelFormat, VideoFrame, check_size};

use crate::error::{ConfigError, VideoError};
use crate::ff;
use crate::scale::Scaler;

/// Largest packet [`VideoDecoder::send_packet`] accepts (16 MiB: far above any compressed
/// picture up to 8K); larger input is refused before it is copied.
pub const MAX_PACKET_BYTES: usize = 16 << 20;

/// Time base of the timestamps given to FFmpeg: microseconds, as [`MediaTime`].
const TIME_BASE: Rational = Rational(1, 1_000_000);

/// The video codecs Parla speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264 constrained baseline (libx264 to encode, FFmpeg's h264 to decode).
    H264,
    /// VP8 (libvpx to encode, FFmpeg's vp8 to decode).
    Vp8,
}

impl VideoCodec {
    fn id(self) -> Id {
        match self {
            VideoCodec::H264 => Id::H264,
            VideoCodec::Vp8 => Id::VP8,
        }
    }

    fn encoder_name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "libx264",
            VideoCodec::Vp8 => "libvpx",
        }
    }
}

/// Encoder settings (a builder: start from [`VideoEncoderConfig::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoEncoderConfig {
    /// Codec.
    pub codec: VideoCodec,
    /// Encoded width (input frames of other sizes are scaled).
    pub width: u32,
    /// Encoded height.
    pub height: u32,
    /// Target bitrate in bits per second.
    pub bitrate: u32,
    /// Target (maximum) frame rate in frames per second: earlier input frames are dropped.
    pub framerate: u32,
    /// Frames between automatic keyframes (0: only the first frame and requested ones).
    pub keyframe_interval: u32,
    /// Encoder threads (1 keeps a call's CPU use predictable; more help at 720p and up).
    pub threads: u32,
}

impl VideoEncoderConfig {
    /// Call defaults: 500 kbps, 30 fps, a keyframe every 10 s (300 frames), one thread.
    pub fn new(codec: VideoCodec, width: u32, height: u32) -> Self {
        VideoEncoderConfig {
            codec,
            width,
            height,
            bitrate: 500_000,
            framerate: 30,
            keyframe_interval: 300,
            threads: 1,
        }
    }

    /// Set the target bitrate (bits per second).
    pub fn bitrate(mut self, bps: u32) -> Self {
        self.bitrate = bps;
        self
    }

    /// Set the target frame rate.
    pub fn framerate(mut self, fps: u32) -> Self {
        self.framerate = fps;
        self
    }

    /// Set the keyframe interval in frames (0: no automatic keyframes).
    pub fn keyframe_interval(mut self, frames: u32) -> Self {
        self.keyframe_interval = frames;
        self
    }

    /// Set the encoder thread count.
    pub fn threads(mut self, threads: u32) -> Self {
        self.threads = threads;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_size(self.width, self.height)?;
        if !self.width.is_multiple_of(2) || !self.height.is_multiple_of(2) {
            return Err(ConfigError::InvalidParameter {
                name: "video size",
                detail: format!("{}x{}: encoders need even sizes", self.width, self.height),
            });
        }
        check_bitrate(self.bitrate).map_err(|_| ConfigError::InvalidParameter {
            name: "bitrate",
            detail: format!("{} (supported: 10000..=50000000)", self.bitrate),
        })?;
        if !(1..=120).contains(&self.framerate) {
            return Err(ConfigError::InvalidParameter {
                name: "framerate",
                detail: format!("{} (supported: 1..=120)", self.framerate),
            });
        }
        if !(1..=16).contains(&self.threads) {
            return Err(ConfigError::InvalidParameter {
                name: "threads",
                detail: format!("{} (supported: 1..=16)", self.threads),
            });
        }
        Ok(())
    }
}

fn check_bitrate(bps: u32) -> Result<(), VideoError> {
    if (10_000..=50_000_000).contains(&bps) {
        Ok(())
    } else {
        Err(VideoError::Backend { code: -22 })
    }
}

fn backend(e: ffmpeg_next::Error) -> ConfigError {
    ConfigError::Backend {
        backend: "FFmpeg",
        detail: e.to_string(),
    }
}

/// The H.264 VBV buffer, seconds at the target rate. It bounds every frame, and so the
/// keyframes: a keyframe takes at most about 90 % of it (x264's initial fill), here 0.18 s of
/// the rate, about 5.4 average frames at 30 fps. A keyframe's extra size is extra time to send
/// it at the pacer's rate, and the frames queued behind it wait as long: a larger buffer makes
/// keyframes sharper but each one a visible stall (measured at 720p, 1.5 Mbit/s: 73 kB with
/// half a second, 33 kB with 0.2 s; the delta frames' quality is the same).
const VBV_SECONDS: f64 = 0.2;

/// VP8 keyframes at most this many average frames (the same bound as H.264's VBV).
const KEYFRAME_MAX_FRAMES: u32 = 5;

/// The H.264 VBV buffer size for a bitrate, bits.
fn vbv_bits(bps: u32) -> u32 {
    (f64::from(bps) * VBV_SECONDS) as u32
}

/// Open an FFmpeg encoder with the call settings for `config`.
fn open_encoder(config: &VideoEncoderConfig) -> Result<encoder::video::Encoder, ConfigError> {
    let name = config.codec.encoder_name();
    let codec = encoder::find_by_name(name).ok_or(ConfigError::Backend {
        backend: "FFmpeg",
        detail: format!("encoder {name} is not available"),
    })?;
    let mut video = codec::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(backend)?;
    video.set_width(config.width);
    video.set_height(config.height);
    video.set_format(Pixel::YUV420P);
    video.set_time_base(TIME_BASE);
    video.set_frame_rate(Some(Rational(config.framerate as i32, 1)));
    video.set_bit_rate(config.bitrate as usize);
    video.set_max_b_frames(0);
    video.set_gop(if config.keyframe_interval == 0 {
        i32::MAX as u32
    } else {
        config.keyframe_interval
    });
    video.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Slice,
        count: config.threads as usize,
        ..Default::default()
    });
    let mut opts = Dictionary::new();
    match config.codec {
        VideoCodec::H264 => {
            // Capped CRF: quality-driven, capped by a VBV of VBV_SECONDS at the target
            // rate. x264 applies VBV changes at once (x264_encoder_reconfig), whereas its
            // ABR mode averages over the whole stream and takes many seconds to follow a
            // new target (measured: 425 kbps one second after a 300 -> 600 kbps change).
            opts.set("crf", "18");
            opts.set("maxrate", &config.bitrate.to_string());
            opts.set("bufsize", &vbv_bits(config.bitrate).to_string());
            opts.set("preset", "ultrafast");
            opts.set("tune", "zerolatency");
            opts.set("profile", "baseline");
            // A forced keyframe is an IDR (a clean random access point), not an open-GOP I.
            opts.set("forced-idr", "1");
        }
        VideoCodec::Vp8 => {
            // CBR (minrate = maxrate = bitrate), with a 1 s buffer, as WebRTC runs libvpx.
            opts.set("minrate", &config.bitrate.to_string());
            opts.set("maxrate", &config.bitrate.to_string());
            opts.set("bufsize", &config.bitrate.to_string());
            opts.set("deadline", "realtime");
            opts.set("cpu-used", "8");
            opts.set("lag-in-frames", "0");
            opts.set("error-resilient", "default");
            // Drop-frame off: every accepted frame produces a packet.
            opts.set("drop-threshold", "0");
            opts.set("undershoot-pct", "95");
            opts.set("overshoot-pct", "15");
            // A keyframe at most KEYFRAME_MAX_FRAMES average frames (rc_max_intra_bitrate_pct),
            // as H.264's VBV bounds it.
            opts.set("max-intra-rate", &(KEYFRAME_MAX_FRAMES * 100).to_string());
        }
    }
    video.open_as_with(codec, opts).map_err(backend)
}

/// Set `rc_buffer_size` (the VBV buffer, in bits) of an open encoder; `ffmpeg-next` has no
/// setter for it.
#[allow(unsafe_code)]
fn set_rc_buffer_size(enc: &mut encoder::video::Encoder, bits: u32) {
    let bits = i32::try_from(bits).unwrap_or(i32::MAX);
    // SAFETY: `as_mut_ptr` returns the AVCodecContext owned by `enc`, which is valid and open
    // for `enc`'s whole lifetime; `&mut` guarantees no FFmpeg call runs on it concurrently.
    // `rc_buffer_size` is a plain int that FFmpeg's libx264 wrapper reads before each frame
    // (reconfig_encoder), which is the documented way to change rate control mid-stream.
    unsafe {
        (*enc.as_mut_ptr()).rc_buffer_size = bits;
    }
}

/// What [`VideoEncoder::send_frame`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// The frame went to the encoder: call [`VideoEncoder::receive_packet`].
    Queued,
    /// The frame came earlier than the target frame rate allows and was dropped.
    Dropped,
}

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoPacket {
    /// The bitstream: an Annex-B access unit for H.264, a VP8 frame for VP8.
    pub data: Vec<u8>,
    /// Whether this is a keyframe (decodable on its own).
    pub keyframe: bool,
    /// The input frame's timestamp.
    pub timestamp: MediaTime,
}

/// A video encoder (H.264 or VP8).
pub struct VideoEncoder {
    enc: encoder::video::Encoder,
    config: VideoEncoderConfig,
    input: frame::Video,
    scaler: Scaler,
    scaled: VideoFrame,
    packet: Packet,
    force_keyframe: bool,
    reopen: bool,
    next_due: Option<u64>,
    last_pts: Option<i64>,
    flushed: bool,
}

impl std::fmt::Debug for VideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoEncoder")
            .field("config", &self.config)
            .finish()
    }
}

impl VideoEncoder {
    /// Open an encoder.
    ///
    /// # Errors
    /// [`ConfigError`] for out-of-range settings, or if FFmpeg lacks the encoder or refuses the
    /// settings.
    pub fn new(config: &VideoEncoderConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        ff::init()?;
        let enc = open_encoder(config)?;
        Ok(VideoEncoder {
            enc,
            config: config.clone(),
            input: frame::Video::new(Pixel::YUV420P, config.width, config.height),
            scaler: Scaler::new()?,
            scaled: VideoFrame::new(PixelFormat::I420, config.width, config.height)?,
            packet: Packet::empty(),
            force_keyframe: true,
            reopen: false,
            next_due: None,
            last_pts: None,
            flushed: false,
        })
    }

    /// The current settings.
    pub fn config(&self) -> &VideoEncoderConfig {
        &self.config
    }

    /// Make the next encoded frame a keyframe (after a decoder's request, e.g. RTCP PLI/FIR).
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Change the target bitrate; takes effect from the next frame. For VP8 this reopens the
    /// encoder (FFmpeg 5.1's libvpx wrapper cannot change the rate in place), so the next frame
    /// is a keyframe.
    ///
    /// # Errors
    /// [`VideoError::Backend`] for a rate outside 10 kbps..=50 Mbps.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), VideoError> {
        check_bitrate(bps)?;
        self.config.bitrate = bps;
        match self.config.codec {
            VideoCodec::H264 => {
                // FFmpeg's libx264 wrapper compares these fields with x264's parameters before
                // each frame and calls x264_encoder_reconfig when they differ.
                self.enc.set_bit_rate(bps as usize);
                self.enc.set_max_bit_rate(bps as usize);
                set_rc_buffer_size(&mut self.enc, vbv_bits(bps));
            }
            // FFmpeg 5.1's libvpx wrapper reads the rate only when it opens (measured: a change
            // of `bit_rate` has no effect), so the encoder is reopened at the next frame, which
            // then is a keyframe.
            VideoCodec::Vp8 => self.reopen = true,
        }
        Ok(())
    }

    /// Change the target frame rate (1..=120); frames arriving faster are dropped.
    ///
    /// # Errors
    /// [`VideoError::Backend`] for a rate outside 1..=120.
    pub fn set_framerate(&mut self, fps: u32) -> Result<(), VideoError> {
        if !(1..=120).contains(&fps) {
            return Err(VideoError::Backend { code: -22 });
        }
        self.config.framerate = fps;
        Ok(())
    }

    /// Decide whether a frame at `ts` fits the target frame rate.
    fn admit(&mut self, ts: u64) -> bool {
        let period = 1_000_000 / u64::from(self.config.framerate.max(1));
        let slack = period / 4;
        let due = match self.next_due {
            None => ts,
            Some(d) => d,
        };
        if ts + slack < due {
            return false;
        }
        let base = if ts > due + period { ts } else { due };
        self.next_due = Some(base + period);
        true
    }

    /// Offer a frame (any format and size: it is converted and scaled to the encoder's I420 at
    /// its size). Its `timestamp` must increase from frame to frame.
    ///
    /// # Errors
    /// [`VideoError::Eof`] after [`VideoEncoder::flush`]; [`VideoError::InvalidData`] for a
    /// timestamp that does not increase; [`VideoError::Backend`] if FFmpeg fails.
    pub fn send_frame(&mut self, frame: &VideoFrame) -> Result<SendStatus, VideoError> {
        if self.flushed {
            return Err(VideoError::Eof);
        }
        let ts = frame.timestamp.as_micros();
        let pts = i64::try_from(ts).map_err(|_| VideoError::InvalidData)?;
        if self.last_pts.is_some_and(|last| pts <= last) {
            return Err(VideoError::InvalidData);
        }
        if !self.admit(ts) {
            return Ok(SendStatus::Dropped);
        }
        self.last_pts = Some(pts);
        if std::mem::take(&mut self.reopen) {
            self.enc = open_encoder(&self.config).map_err(|_| VideoError::Backend { code: -1 })?;
        }
        if frame.format() == PixelFormat::I420
            && frame.width() == self.config.width
            && frame.height() == self.config.height
        {
            ff::copy_to_av(frame, &mut self.input)?;
        } else {
            self.scaler.run(frame, &mut self.scaled)?;
            ff::copy_to_av(&self.scaled, &mut self.input)?;
        }
        self.input.set_pts(Some(pts));
        let kind = if std::mem::take(&mut self.force_keyframe) {
            picture::Type::I
        } else {
            picture::Type::None
        };
        self.input.set_kind(kind);
        self.enc.send_frame(&self.input)?;
        Ok(SendStatus::Queued)
    }

    /// Take the next encoded packet, or `None` when the encoder needs another frame (or is
    /// drained after [`VideoEncoder::flush`]).
    ///
    /// # Errors
    /// [`VideoError::Backend`] if FFmpeg fails.
    pub fn receive_packet(&mut self) -> Result<Option<VideoPacket>, VideoError> {
        match self.enc.receive_packet(&mut self.packet) {
            Ok(()) => {
                let data = self.packet.data().unwrap_or(&[]).to_vec();
                let ts = self.packet.pts().unwrap_or(0).max(0) as u64;
                Ok(Some(VideoPacket {
                    data,
                    keyframe: self.packet.is_key(),
                    timestamp: MediaTime::from_micros(ts),
                }))
            }
            Err(ffmpeg_next::Error::Other { errno }) if errno == EAGAIN => Ok(None),
            Err(ffmpeg_next::Error::Eof) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// As [`VideoEncoder::receive_packet`], lending the packet's bytes to `f` (with its keyframe
    /// flag and timestamp) instead of copying them into a new `Vec`: no allocation per frame.
    /// Returns whether there was a packet.
    ///
    /// # Errors
    /// [`VideoError::Backend`] if FFmpeg fails.
    pub fn receive_packet_with(
        &mut self,
        f: &mut dyn FnMut(&[u8], bool, MediaTime),
    ) -> Result<bool, VideoError> {
        match self.enc.receive_packet(&mut self.packet) {
            Ok(()) => {
                let ts = self.packet.pts().unwrap_or(0).max(0) as u64;
                let key = self.packet.is_key();
                f(
                    self.packet.data().unwrap_or(&[]),
                    key,
                    MediaTime::from_micros(ts),
                );
                Ok(true)
            }
            Err(ffmpeg_next::Error::Other { errno }) if errno == EAGAIN => Ok(false),
            Err(ffmpeg_next::Error::Eof) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Signal the end of the stream; then drain with [`VideoEncoder::receive_packet`].
    ///
    /// # Errors
    /// [`VideoError::Backend`] if FFmpeg fails.
    pub fn flush(&mut self) -> Result<(), VideoError> {
        if !self.flushed {
            self.flushed = true;
            self.enc.send_eof()?;
        }
        Ok(())
    }
}

/// A decoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    /// The picture, I420.
    pub frame: VideoFrame,
    /// The picture's size differs from the previous one's (or it is the first): renderers and
    /// scalers must reconfigure.
    pub size_changed: bool,
}

/// A video decoder (H.264 Annex-B access units or VP8 frames, one per packet).
pub struct VideoDecoder {
    dec: decoder::Video,
    codec: VideoCodec,
    frame: frame::Video,
    scaler: Scaler,
    /// Scratch for NV12 pictures (hardware-style decoders) before conversion to I420.
    nv12: Option<VideoFrame>,
    last_size: Option<(u32, u32)>,
}

impl std::fmt::Debug for VideoDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoDecoder")
            .field("codec", &self.codec)
            .field("last_size", &self.last_size)
            .finish()
    }
}

impl VideoDecoder {
    /// Open a decoder.
    ///
    /// # Errors
    /// [`ConfigError::Backend`] if FFmpeg lacks the decoder.
    pub fn new(codec: VideoCodec) -> Result<Self, ConfigError> {
        ff::init()?;
        let c = decoder::find(codec.id()).ok_or(ConfigError::Backend {
            backend: "FFmpeg",
            detail: format!("no decoder for {codec:?}"),
        })?;
        let mut ctx = codec::Context::new_with_codec(c);
        // One frame in, one picture out, no frame threading delay.
        ctx.set_flags(codec::Flags::LOW_DELAY);
        ctx.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Slice,
            count: 1,
            ..Default::default()
        });
        let mut d = ctx.decoder();
        d.set_packet_time_base(TIME_BASE);
        let dec = d.open_as(c).map_err(backend)?.video().map_err(backend)?;
        Ok(VideoDecoder {
            dec,
            codec,
            frame: frame::Video::empty(),
            scaler: Scaler::new()?,
            nv12: None,
            last_size: None,
        })
    }

    /// The codec.
    pub fn codec(&self) -> VideoCodec {
        self.codec
    }

    /// Feed one packet (an H.264 access unit in Annex-B form, or one VP8 frame).
    ///
    /// # Errors
    /// [`VideoError::InvalidData`] for an empty, corrupt or undecodable packet, or one over
    /// [`MAX_PACKET_BYTES`] (drop it and request a keyframe); [`VideoError::Backend`] for other
    /// FFmpeg failures.
    pub fn send_packet(&mut self, data: &[u8], timestamp: MediaTime) -> Result<(), VideoError> {
        if data.is_empty() || data.len() > MAX_PACKET_BYTES {
            return Err(VideoError::InvalidData);
        }
        let mut packet = Packet::copy(data);
        packet.set_pts(i64::try_from(timestamp.as_micros()).ok());
        match self.dec.send_packet(&packet) {
            Ok(()) => Ok(()),
            Err(ffmpeg_next::Error::Other { errno }) if errno == EAGAIN => {
                Err(VideoError::Backend { code: -errno })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Take the next decoded picture, or `None` when the decoder needs another packet.
    ///
    /// # Errors
    /// [`VideoError::InvalidData`] if the picture is corrupt; [`VideoError::TooLarge`] for a
    /// picture over [`parla_core::video::MAX_DIMENSION`]; [`VideoError::Backend`] otherwise.
    pub fn receive_frame(&mut self) -> Result<Option<DecodedFrame>, VideoError> {
        let mut frame =
            VideoFrame::new(PixelFormat::I420, 16, 16).map_err(|_| VideoError::TooLarge {
                width: 16,
                height: 16,
            })?;
        Ok(self
            .receive_frame_into(&mut frame)?
            .map(|size_changed| DecodedFrame {
                frame,
                size_changed,
            }))
    }

    /// As [`VideoDecoder::receive_frame`], into `out` (reshaped to the picture's size and I420,
    /// keeping its buffer when it is large enough, so a reused frame does not allocate at a
    /// constant size). Returns `Some(size_changed)` when a picture was written.
    ///
    /// # Errors
    /// As [`VideoDecoder::receive_frame`]; `out`'s contents are unspecified after an error.
    pub fn receive_frame_into(&mut self, out: &mut VideoFrame) -> Result<Option<bool>, VideoError> {
        match self.dec.receive_frame(&mut self.frame) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Other { errno }) if errno == EAGAIN => return Ok(None),
            Err(ffmpeg_next::Error::Eof) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        if self.frame.is_corrupt() || self.frame.has_decode_errors() {
            return Err(VideoError::InvalidData);
        }
        let (w, h) = (self.frame.width(), self.frame.height());
        let too_large = |_| VideoError::TooLarge {
            width: w,
            height: h,
        };
        check_size(w, h).map_err(too_large)?;
        let ts = MediaTime::from_micros(self.frame.timestamp().unwrap_or(0).max(0) as u64);
        let keyframe = self.frame.is_key();
        out.reshape(PixelFormat::I420, w, h).map_err(too_large)?;
        match self.frame.format() {
            Pixel::YUV420P | Pixel::YUVJ420P => {
                ff::copy_from_av(&self.frame, PixelFormat::I420, out)?
            }
            Pixel::NV12 => {
                let nv12 = match self.nv12.as_mut() {
                    Some(f) => {
                        f.reshape(PixelFormat::Nv12, w, h).map_err(too_large)?;
                        f
                    }
                    None => self
                        .nv12
                        .insert(VideoFrame::new(PixelFormat::Nv12, w, h).map_err(too_large)?),
                };
                ff::copy_from_av(&self.frame, PixelFormat::Nv12, nv12)?;
                self.scaler.run(nv12, out)?;
            }
            _ => return Err(VideoError::InvalidData),
        }
        out.timestamp = ts;
        out.keyframe = keyframe;
        let size_changed = self.last_size != Some((w, h));
        self.last_size = Some((w, h));
        Ok(Some(size_changed))
    }

    /// Decode one packet into `out` (see [`VideoDecoder::receive_frame_into`]); returns
    /// `Some(size_changed)` when it produced a picture.
    ///
    /// # Errors
    /// As [`VideoDecoder::send_packet`] and [`VideoDecoder::receive_frame_into`].
    pub fn decode_into(
        &mut self,
        data: &[u8],
        timestamp: MediaTime,
        out: &mut VideoFrame,
    ) -> Result<Option<bool>, VideoError> {
        self.send_packet(data, timestamp)?;
        let mut last = None;
        while let Some(changed) = self.receive_frame_into(out)? {
            last = Some(changed || last.unwrap_or(false));
        }
        Ok(last)
    }

    /// Decode one packet and return the picture it produced, if any (a convenience over
    /// [`VideoDecoder::send_packet`] and [`VideoDecoder::receive_frame`] for decoders that
    /// output one picture per packet, as both are here).
    ///
    /// # Errors
    /// As [`VideoDecoder::send_packet`] and [`VideoDecoder::receive_frame`].
    pub fn decode(
        &mut self,
        data: &[u8],
        timestamp: MediaTime,
    ) -> Result<Option<DecodedFrame>, VideoError> {
        self.send_packet(data, timestamp)?;
        let mut last = None;
        while let Some(f) = self.receive_frame()? {
            last = Some(f);
        }
        Ok(last)
    }

    /// Signal the end of the stream; then drain with [`VideoDecoder::receive_frame`].
    ///
    /// # Errors
    /// [`VideoError::Backend`] if FFmpeg fails.
    pub fn flush(&mut self) -> Result<(), VideoError> {
        match self.dec.send_eof() {
            Ok(()) | Err(ffmpeg_next::Error::Eof) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
