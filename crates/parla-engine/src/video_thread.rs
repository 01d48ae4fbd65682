//! The video thread of a [`Call`](crate::Call) (feature `video`): encodes the app's frames and
//! decodes the peer's, off the media thread, talking to both ends only through
//! [`VideoShared`]'s queues.
//!
//! Not a real-time thread: the encoder and decoder (FFmpeg) allocate and may take tens of
//! milliseconds for a keyframe. It waits 2 ms when there is nothing to do.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parla_core::MediaTime;
use parla_core::video::{PixelFormat, VideoFrame};

use crate::video::VideoConfig;
use crate::video_codec::{VideoDecodeSide, VideoEncodeSide};
use crate::video_io::{Decoded, EncodedBuf, VideoFrameInfo, VideoShared};

/// Encoder threads: one core for the encoder leaves the other for audio and decoding on a
/// two-core phone.
const ENCODER_THREADS: u32 = 1;
/// The idle wait.
const IDLE: Duration = Duration::from_millis(2);

/// Freeze detection on the decoded side (the WebRTC statistics' definition).
struct FreezeWatch {
    interval_us: u64,
    last: Option<u64>,
}

impl FreezeWatch {
    fn new(fps: u32) -> Self {
        FreezeWatch {
            interval_us: 1_000_000 / u64::from(fps.max(1)),
            last: None,
        }
    }

    /// A frame was decoded at `now_us`; returns the gap when it ends a freeze.
    fn frame(&mut self, now_us: u64) -> Option<u64> {
        let gap = self.last.map(|l| now_us.saturating_sub(l));
        self.last = Some(now_us);
        let limit = (3 * self.interval_us).max(self.interval_us + 150_000);
        gap.filter(|&g| g > limit)
    }
}

/// Runs until `stop`: encoder commands and captured frames in, encoded frames out; assembled
/// frames in, decoded pictures out. `clock` is the call's clock (the media thread's).
pub(crate) fn video_loop(
    shared: &VideoShared,
    cfg: VideoConfig,
    stop: &AtomicBool,
    clock: &dyn Fn() -> MediaTime,
) {
    let c = &shared.counters;
    let mut enc = VideoEncodeSide::new(cfg.codec, ENCODER_THREADS);
    let mut dec = match VideoDecodeSide::new(cfg.codec) {
        Ok(d) => Some(d),
        Err(_) => {
            c.decode_errors.fetch_add(1, Ordering::Relaxed);
            None
        }
    };
    let mut freeze = FreezeWatch::new(cfg.fps);
    while !stop.load(Ordering::Acquire) {
        let mut worked = false;
        while let Some(cmd) = shared.commands.pop() {
            worked = true;
            if enc.apply(cmd).is_err() {
                c.encode_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(frame) = shared.raw.pop() {
            worked = true;
            if shared.congested.load(Ordering::Relaxed) {
                // The send side is congested: the encoder does not see this frame.
                c.congestion_skipped.fetch_add(1, Ordering::Relaxed);
            } else {
                encode_one(shared, &mut enc, &frame);
            }
            let _ = shared.raw_free.push(frame);
        }
        while let Some(mut b) = shared.received.pop() {
            worked = true;
            if let (Some(meta), Some(d)) = (b.meta.take(), dec.as_mut()) {
                let pic = match shared.decoded_free.pop() {
                    Some(f) => Ok(f),
                    // Resized by the decoder to the picture's size.
                    None => VideoFrame::new(PixelFormat::I420, 16, 16),
                };
                let Ok(mut pic) = pic else {
                    let _ = shared.received_free.push(b);
                    continue;
                };
                let ts = MediaTime::from_micros(meta.capture_us);
                match d.decode_into(&b.data[..meta.len], ts, &mut pic) {
                    Ok(Some(size_changed)) => {
                        c.decoded.fetch_add(1, Ordering::Relaxed);
                        if let Some(gap) = freeze.frame(clock().as_micros()) {
                            c.freezes.fetch_add(1, Ordering::Relaxed);
                            c.freeze_ms.fetch_add(gap / 1000, Ordering::Relaxed);
                        }
                        let info = VideoFrameInfo {
                            render_time: meta.render_time,
                            rtp_timestamp: meta.rtp_timestamp,
                            capture_us: meta.capture_us,
                            keyframe: meta.keyframe,
                            size_changed,
                        };
                        if let Some(old) = shared.decoded.push(Decoded { frame: pic, info }) {
                            c.display_dropped.fetch_add(1, Ordering::Relaxed);
                            let _ = shared.decoded_free.push(old.frame);
                        }
                    }
                    Ok(None) => {
                        let _ = shared.decoded_free.push(pic);
                    }
                    Err(_) => {
                        c.decode_errors.fetch_add(1, Ordering::Relaxed);
                        let _ = shared.decoded_free.push(pic);
                    }
                }
            }
            let _ = shared.received_free.push(b);
        }
        if !worked {
            std::thread::sleep(IDLE);
        }
    }
}

fn encode_one(shared: &VideoShared, enc: &mut VideoEncodeSide, frame: &VideoFrame) {
    let c = &shared.counters;
    if enc.settings().is_none() {
        // No command yet (the media thread sends the start settings on its first pass).
        c.capture_dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let r = enc.encode(frame, &mut |data, keyframe, capture| {
        let mut b = shared.encoded_free.pop().unwrap_or_else(|| EncodedBuf {
            data: Vec::new(),
            keyframe: false,
            capture: MediaTime::ZERO,
        });
        b.data.clear();
        b.data.extend_from_slice(data);
        b.keyframe = keyframe;
        b.capture = capture;
        c.encoded.fetch_add(1, Ordering::Relaxed);
        if let Some(old) = shared.encoded.push(b) {
            let _ = shared.encoded_free.push(old);
        }
    });
    if r.is_err() {
        c.encode_errors.fetch_add(1, Ordering::Relaxed);
    }
}
