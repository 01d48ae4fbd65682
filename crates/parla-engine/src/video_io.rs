//! The hand-offs of a call's video between the app, the video thread and the media thread.
//!
//! ```text
//!  app ── push_video_frame ──> raw ──> video thread: encode ──> encoded ──> media thread:
//!                                                                          SFrame, packetize,
//!                                                                          pace, NACK/RTX
//!  app <── pull_video_frame ── decoded <── video thread: decode <── received <── media thread:
//!                                                                     assemble, frame buffer,
//!                                                                     decrypt
//! ```
//!
//! Every queue is a bounded [`MessageQueue`] and every buffer goes back to a free list after
//! use, so after the first frames of each size nothing is allocated per frame on either side.
//! The media thread only pops, copies into preallocated buffers and pushes ([`media_video_step`]):
//! audio never waits for the encoder or the decoder, which run on the video thread
//! (`video_thread`, feature `video`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parla_core::MediaTime;
use parla_core::queue::MessageQueue;
use parla_core::video::VideoFrame;

use crate::media::MediaCore;
use crate::video::{MAX_VIDEO_FRAME, VideoEncoderCommand, VideoFrameOut, VideoStats};

/// Captured frames waiting for the encoder: the newest wins (a frame waiting longer than two
/// frame intervals is stale for a call).
const RAW_QUEUE: usize = 2;
/// Encoded frames waiting for the media thread.
const ENCODED_QUEUE: usize = 8;
/// Assembled frames waiting for the decoder (each buffer holds up to [`MAX_VIDEO_FRAME`]).
const RECEIVED_QUEUE: usize = 4;
/// Decoded frames waiting for the app: the newest wins.
const DECODED_QUEUE: usize = 3;
/// Encoder commands waiting for the video thread.
const COMMAND_QUEUE: usize = 8;

/// An encoded frame on its way to the media thread.
pub(crate) struct EncodedBuf {
    pub(crate) data: Vec<u8>,
    pub(crate) keyframe: bool,
    pub(crate) capture: MediaTime,
}

/// An assembled, decrypted frame on its way to the decoder.
pub(crate) struct ReceivedBuf {
    pub(crate) data: Vec<u8>,
    pub(crate) meta: Option<VideoFrameOut>,
}

/// What comes with a decoded picture from [`Call::pull_video_frame`](crate::Call::pull_video_frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFrameInfo {
    /// When the frame buffer meant it to be shown, on the call's clock (microseconds since
    /// the run started). Frames are released when due: show a pulled frame at once.
    pub render_time: MediaTime,
    /// The frame's RTP timestamp (90 kHz).
    pub rtp_timestamp: u32,
    /// The peer's capture time on the peer's media clock, microseconds.
    pub capture_us: u64,
    /// The frame was a keyframe.
    pub keyframe: bool,
    /// The picture's size differs from the previous one's (renderers reconfigure).
    pub size_changed: bool,
}

/// A decoded picture on its way to the app.
pub(crate) struct Decoded {
    pub(crate) frame: VideoFrame,
    pub(crate) info: VideoFrameInfo,
}

/// Counters of the app and video-thread side (the media side's are in [`VideoStats`]).
#[derive(Default)]
pub(crate) struct VideoCounters {
    pub(crate) captured: AtomicU64,
    pub(crate) capture_dropped: AtomicU64,
    pub(crate) encoded: AtomicU64,
    pub(crate) encode_errors: AtomicU64,
    pub(crate) decoded: AtomicU64,
    pub(crate) display_dropped: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) freezes: AtomicU64,
    pub(crate) freeze_ms: AtomicU64,
    /// Captured frames the video thread skipped because the send side was congested.
    pub(crate) congestion_skipped: AtomicU64,
}

/// The queues and counters of one call's video (kept across runs; emptied at each start).
pub(crate) struct VideoShared {
    pub(crate) raw: MessageQueue<VideoFrame>,
    pub(crate) raw_free: MessageQueue<VideoFrame>,
    pub(crate) encoded: MessageQueue<EncodedBuf>,
    pub(crate) encoded_free: MessageQueue<EncodedBuf>,
    pub(crate) commands: MessageQueue<VideoEncoderCommand>,
    pub(crate) received: MessageQueue<ReceivedBuf>,
    pub(crate) received_free: MessageQueue<ReceivedBuf>,
    pub(crate) decoded: MessageQueue<Decoded>,
    pub(crate) decoded_free: MessageQueue<VideoFrame>,
    pub(crate) counters: VideoCounters,
    /// Set by the media thread at each pass: the send side is congested, so the video thread
    /// skips captured frames instead of encoding them
    /// ([`MediaCore::video_skip_capture`](crate::MediaCore::video_skip_capture)).
    pub(crate) congested: AtomicBool,
}

impl VideoShared {
    /// Empty queues; the receive buffers are allocated here, once per call.
    pub(crate) fn new() -> Self {
        let received_free = MessageQueue::new(RECEIVED_QUEUE);
        for _ in 0..RECEIVED_QUEUE {
            let _ = received_free.try_push(ReceivedBuf {
                data: vec![0; MAX_VIDEO_FRAME],
                meta: None,
            });
        }
        VideoShared {
            raw: MessageQueue::new(RAW_QUEUE),
            raw_free: MessageQueue::new(RAW_QUEUE + 2),
            encoded: MessageQueue::new(ENCODED_QUEUE),
            encoded_free: MessageQueue::new(ENCODED_QUEUE),
            commands: MessageQueue::new(COMMAND_QUEUE),
            received: MessageQueue::new(RECEIVED_QUEUE),
            received_free,
            decoded: MessageQueue::new(DECODED_QUEUE),
            decoded_free: MessageQueue::new(DECODED_QUEUE + 2),
            counters: VideoCounters::default(),
            congested: AtomicBool::new(false),
        }
    }

    /// Empties the queues between runs (their frames are stale), keeping every buffer.
    pub(crate) fn reset(&self) {
        while let Some(f) = self.raw.pop() {
            let _ = self.raw_free.push(f);
        }
        while let Some(b) = self.encoded.pop() {
            let _ = self.encoded_free.push(b);
        }
        while self.commands.pop().is_some() {}
        while let Some(b) = self.received.pop() {
            let _ = self.received_free.push(b);
        }
        while let Some(d) = self.decoded.pop() {
            let _ = self.decoded_free.push(d.frame);
        }
        self.congested.store(false, Ordering::Relaxed);
    }

    /// Adds the app- and video-thread-side counters to `v`.
    pub(crate) fn fill_stats(&self, v: &mut VideoStats) {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        v.frames_captured = get(&c.captured);
        v.frames_capture_dropped = get(&c.capture_dropped);
        v.frames_encoded = get(&c.encoded);
        v.encode_errors = get(&c.encode_errors);
        v.frames_decoded = get(&c.decoded);
        v.frames_display_dropped = get(&c.display_dropped);
        v.freezes = get(&c.freezes);
        v.freeze_ms = get(&c.freeze_ms);
        v.frames_congestion_skipped += get(&c.congestion_skipped);
    }

    /// App side: a copy of `frame` into a pooled buffer, stamped `capture`, queued for the
    /// encoder (the oldest waiting frame is dropped, and counted, when the encoder is behind).
    pub(crate) fn push_frame(&self, frame: &VideoFrame, capture: MediaTime) {
        let mut f = match self.raw_free.pop() {
            Some(mut f) => {
                // Keeps the buffer when it is large enough: no allocation at a constant size.
                if f.reshape(frame.format(), frame.width(), frame.height())
                    .is_err()
                {
                    f = frame.clone();
                }
                f
            }
            None => frame.clone(),
        };
        // Same format and size after the reshape, so the copy cannot fail.
        let _ = f.copy_from(frame);
        f.timestamp = capture;
        f.keyframe = false;
        self.counters.captured.fetch_add(1, Ordering::Relaxed);
        if let Some(old) = self.raw.push(f) {
            self.counters
                .capture_dropped
                .fetch_add(1, Ordering::Relaxed);
            let _ = self.raw_free.push(old);
        }
    }

    /// App side: the next decoded picture, swapped into `out` (whose old buffer is kept for
    /// reuse).
    pub(crate) fn pull_frame(&self, out: &mut VideoFrame) -> Option<VideoFrameInfo> {
        let mut d = self.decoded.pop()?;
        std::mem::swap(out, &mut d.frame);
        let _ = self.decoded_free.push(d.frame);
        Some(d.info)
    }
}

/// The media thread's side of a call's video: what it has seen of the video thread.
pub(crate) struct MediaVideo {
    decode_errors_seen: u64,
}

impl MediaVideo {
    pub(crate) fn new(shared: &VideoShared) -> Self {
        MediaVideo {
            decode_errors_seen: shared.counters.decode_errors.load(Ordering::Relaxed),
        }
    }
}

/// One pass of the media thread's video work: encoder commands out, encoded frames in (SFrame,
/// packetization, pacing), assembled frames out to the decoder, decode errors in (a keyframe
/// request). Returns whether anything moved.
pub(crate) fn media_video_step(
    core: &mut MediaCore,
    state: &mut MediaVideo,
    shared: &VideoShared,
    now: MediaTime,
    emit: &mut dyn FnMut(&[u8]),
) -> bool {
    // RT: queue pops and pushes, copies into preallocated buffers, the core's video path.
    let mut worked = false;
    while let Some(cmd) = core.video_encoder_command() {
        worked = true;
        let _ = shared.commands.push(cmd);
    }
    while let Some(b) = shared.encoded.pop() {
        worked = true;
        // A frame the core refuses (too large, no key yet) is counted there.
        let _ = core.send_video_frame(&b.data, b.keyframe, b.capture);
        let _ = shared.encoded_free.push(b);
    }
    core.poll_video(now, emit);
    shared
        .congested
        .store(core.video_send_congested(), Ordering::Relaxed);
    while let Some(mut b) = shared.received_free.pop() {
        match core.poll_video_frame(now, &mut b.data) {
            Some(meta) => {
                worked = true;
                b.meta = Some(meta);
                if let Some(old) = shared.received.push(b) {
                    // Cannot happen (as many buffers as slots); keep the buffer anyway.
                    let _ = shared.received_free.push(old);
                }
            }
            None => {
                let _ = shared.received_free.push(b);
                break;
            }
        }
    }
    let errors = shared.counters.decode_errors.load(Ordering::Relaxed);
    if errors != state.decode_errors_seen {
        state.decode_errors_seen = errors;
        core.video_decode_error(now);
        worked = true;
    }
    worked
}
