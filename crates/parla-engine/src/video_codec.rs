//! The codec side of a call's video (feature `video`): encoding and decoding through
//! parla-codec (FFmpeg: libx264 / libvpx to encode, FFmpeg's decoders to decode). It runs off
//! the media thread — on the [`Call`](crate::Call)'s video thread, or in `parla call`'s loop —
//! and talks to [`MediaCore`](crate::MediaCore) only through encoded frames and
//! [`VideoEncoderCommand`]s, so audio never waits for a video encoder.

use parla_codec::video::{
    DecodedFrame, SendStatus, VideoDecoder, VideoEncoder, VideoEncoderConfig,
};
use parla_core::MediaTime;
use parla_core::video::VideoFrame;
use parla_video::EncoderSettings;

use crate::error::EngineError;
use crate::video::{VideoCodec, VideoEncoderCommand};

fn codec_of(c: VideoCodec) -> parla_codec::video::VideoCodec {
    match c {
        VideoCodec::H264 => parla_codec::video::VideoCodec::H264,
        VideoCodec::Vp8 => parla_codec::video::VideoCodec::Vp8,
    }
}

fn video_err(what: &'static str) -> impl Fn(parla_codec::VideoError) -> EngineError {
    move |e| EngineError::Video(format!("{what}: {e}"))
}

/// The encoder of a call's video, following the engine's [`VideoEncoderCommand`]s: the bitrate
/// changes in place; a new size or frame rate (a step of the balanced ladder) opens a new
/// encoder, whose first frame is a keyframe. Any input size and format is scaled to the
/// encoder's.
pub struct VideoEncodeSide {
    codec: VideoCodec,
    threads: u32,
    enc: Option<VideoEncoder>,
    settings: Option<EncoderSettings>,
    keyframe: bool,
    frames: u64,
}

impl std::fmt::Debug for VideoEncodeSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoEncodeSide")
            .field("codec", &self.codec)
            .field("settings", &self.settings)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl VideoEncodeSide {
    /// An encoder side for `codec` using `threads` encoder threads (1..=16); it opens on the
    /// first command.
    pub fn new(codec: VideoCodec, threads: u32) -> Self {
        VideoEncodeSide {
            codec,
            threads: threads.clamp(1, 16),
            enc: None,
            settings: None,
            keyframe: false,
            frames: 0,
        }
    }

    /// The settings encoded at now (`None` before the first command).
    pub fn settings(&self) -> Option<EncoderSettings> {
        self.settings
    }

    /// Follow a command from [`MediaCore::video_encoder_command`](crate::MediaCore::video_encoder_command).
    ///
    /// # Errors
    /// [`EngineError::Video`] if the encoder cannot open or take the new bitrate (the previous
    /// encoder, if any, is kept).
    pub fn apply(&mut self, cmd: VideoEncoderCommand) -> Result<(), EngineError> {
        let s = cmd.settings;
        let reopen = self
            .settings
            .is_none_or(|o| (o.width, o.height, o.fps) != (s.width, s.height, s.fps));
        if reopen || self.enc.is_none() {
            let cfg = VideoEncoderConfig::new(codec_of(self.codec), s.width, s.height)
                .bitrate(s.bitrate_bps.max(10_000))
                .framerate(s.fps)
                .keyframe_interval(0)
                .threads(self.threads);
            let enc = VideoEncoder::new(&cfg)
                .map_err(|e| EngineError::Video(format!("video encoder: {e}")))?;
            self.enc = Some(enc);
        } else if let Some(enc) = self.enc.as_mut()
            && self
                .settings
                .is_some_and(|o| o.bitrate_bps != s.bitrate_bps)
        {
            enc.set_bitrate(s.bitrate_bps.max(10_000))
                .map_err(video_err("video bitrate"))?;
        }
        self.settings = Some(s);
        self.keyframe |= cmd.keyframe;
        Ok(())
    }

    /// Encode one captured frame (its `timestamp` is the capture time and must increase);
    /// every encoded frame is passed to `out` as (bytes, keyframe, capture time). Frames above
    /// the commanded frame rate are skipped by the encoder.
    ///
    /// # Errors
    /// [`EngineError::WrongMode`] before the first command; [`EngineError::Video`] if the
    /// encoder fails or the timestamp does not increase.
    pub fn encode(
        &mut self,
        frame: &VideoFrame,
        out: &mut dyn FnMut(&[u8], bool, MediaTime),
    ) -> Result<(), EngineError> {
        let enc = self
            .enc
            .as_mut()
            .ok_or(EngineError::WrongMode("no encoder command yet"))?;
        if std::mem::take(&mut self.keyframe) {
            enc.request_keyframe();
        }
        if enc.send_frame(frame).map_err(video_err("video encode"))? == SendStatus::Dropped {
            return Ok(());
        }
        while let Some(p) = enc.receive_packet().map_err(video_err("video encode"))? {
            self.frames += 1;
            out(&p.data, p.keyframe, p.timestamp);
        }
        Ok(())
    }
}

/// The decoder of the peer's video.
pub struct VideoDecodeSide {
    dec: VideoDecoder,
}

impl std::fmt::Debug for VideoDecodeSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoDecodeSide").finish_non_exhaustive()
    }
}

impl VideoDecodeSide {
    /// A decoder for `codec`.
    ///
    /// # Errors
    /// [`EngineError::Video`] if FFmpeg has no decoder for it.
    pub fn new(codec: VideoCodec) -> Result<Self, EngineError> {
        let dec = VideoDecoder::new(codec_of(codec))
            .map_err(|e| EngineError::Video(format!("video decoder: {e}")))?;
        Ok(VideoDecodeSide { dec })
    }

    /// Decode one frame from [`MediaCore::poll_video_frame`](crate::MediaCore::poll_video_frame).
    /// On an error, tell the core ([`MediaCore::video_decode_error`](crate::MediaCore::video_decode_error)):
    /// it asks the peer for a keyframe.
    ///
    /// # Errors
    /// [`EngineError::Video`] if the decoder refuses the frame.
    pub fn decode(
        &mut self,
        data: &[u8],
        timestamp: MediaTime,
    ) -> Result<Option<DecodedFrame>, EngineError> {
        self.dec
            .decode(data, timestamp)
            .map_err(video_err("video decode"))
    }

    /// As [`decode`](Self::decode), into `out` (reshaped to the picture; its buffer is kept
    /// when large enough, so a reused frame does not allocate). Returns `Some(size_changed)`
    /// when a picture was written.
    ///
    /// # Errors
    /// [`EngineError::Video`] if the decoder refuses the frame.
    pub fn decode_into(
        &mut self,
        data: &[u8],
        timestamp: MediaTime,
        out: &mut VideoFrame,
    ) -> Result<Option<bool>, EngineError> {
        self.dec
            .decode_into(data, timestamp, out)
            .map_err(video_err("video decode"))
    }
}
