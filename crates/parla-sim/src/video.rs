//! Video in a simulated call (`parla call --video`): each endpoint captures a moving test
//! pattern ([`parla_video::pattern`]) or a Y4M file, encodes it with the engine's codec side
//! following its core's commands, and hands the frames to its `MediaCore`; the peer's core
//! releases frames at their render time (or late, after a late repair), and they are decoded
//! and scored here:
//!
//! - freezes as in the WebRTC statistics (a gap between rendered frames over
//!   max(3 x the average frame interval, the average + 150 ms));
//! - end-to-end delay, capture to display (the render time, or the release when the receiver
//!   released the frame late);
//! - keyframe recovery: from a keyframe request of the receiver to the next keyframe rendered;
//! - PSNR (Y) of each decoded picture against the picture sent (scaled to the decoded size
//!   with Parla's scaler when the sender stepped down the ladder; a lower bound then);
//! - the audio/video skew as it really was: video's capture-to-display delay minus the delay of
//!   the audio being played (from its RTP timestamp and the sender's timestamp origin), beside
//!   the engine's own lip-sync estimate.
//!
//! Encoding and decoding take no simulated time: the delays are the network's and the
//! receiver's buffering.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use parla_codec::scale::Scaler;
use parla_core::{MediaTime, PixelFormat, VideoFrame};
use parla_engine::video_codec::{VideoDecodeSide, VideoEncodeSide};
use parla_engine::{CallStats, MAX_VIDEO_FRAME, MediaCore, VideoConfig};
use parla_video::pattern::Pattern;
use serde::Serialize;

use crate::SimError;
use crate::error::StepContext as _;

/// Source frames kept for scoring (about 2.7 s at 30 fps: longer than any receive delay).
const RING: usize = 80;

/// The video of a simulated call (both sides alike).
#[derive(Debug, Clone)]
pub struct SimVideo {
    /// Codec, largest size, frame rate and bitrates.
    pub config: VideoConfig,
    /// A Y4M file (8-bit 4:2:0) both sides capture, looped; `None`: the moving test pattern.
    pub input: Option<PathBuf>,
    /// The moving test pattern drawn when there is no `input`.
    pub pattern: Pattern,
    /// Where to write what A saw (B's video), as Y4M at the configured size.
    pub seen_by_a: Option<PathBuf>,
    /// Where to write what B saw.
    pub seen_by_b: Option<PathBuf>,
}

/// The queueing delay a link has settled under after a capacity step, ms (issue 17: "back
/// under 100 ms within 5 s").
pub const QUEUE_SETTLED_MS: f64 = 100.0;

/// After a step at `at_s`, from the per-second queueing delays `queue_ms` (seconds with
/// nothing delivered count neither way): seconds from the step to the end of the first second
/// after it under `limit_ms`, and seconds until every later second is under it (`None`: there
/// is no such second, or the last measured one is not under it).
fn queue_after(queue_ms: &[Option<f64>], at_s: f64, limit_ms: f64) -> (Option<f64>, Option<f64>) {
    let first = at_s.floor() as usize;
    let seconds = || queue_ms.iter().enumerate().skip(first);
    let back_under = seconds()
        .skip(1)
        .find(|(_, q)| q.is_some_and(|q| q < limit_ms))
        .map(|(i, _)| (i + 1) as f64 - at_s);
    let settled = match seconds().rfind(|(_, q)| q.is_some_and(|q| q >= limit_ms)) {
        None => Some(0.0),
        Some((i, _)) if queue_ms[i + 1..].iter().any(Option::is_some) => {
            Some((i + 1) as f64 - at_s)
        }
        Some(_) => None,
    };
    (back_under, settled)
}

/// The name of a test pattern in reports and on the command line.
pub fn pattern_name(p: Pattern) -> &'static str {
    match p {
        Pattern::Pan => "pan",
        Pattern::Stress => "stress",
    }
}

/// One second of a side's video sending.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VideoSample {
    /// Seconds into the call.
    pub t_s: f64,
    /// The allocator's video target, bits per second.
    pub target_bps: u64,
    /// Video sent in the last second (RTP, first transmissions and retransmissions), bits per
    /// second.
    pub sent_bps: f64,
    /// Encoded width, pixels.
    pub width: u32,
    /// Encoded height, pixels.
    pub height: u32,
    /// Encoded frame rate.
    pub fps: u32,
    /// Packets waiting in the sender's pacer at the sample.
    pub pacer_queue_packets: u64,
}

/// A distribution's median and 95th percentile.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MedianP95 {
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// Mean and 5th percentile.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MeanP5 {
    /// Mean.
    pub mean: f64,
    /// 5th percentile.
    pub p5: f64,
}

/// 5th and 95th percentiles.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct P5P95 {
    /// 5th percentile.
    pub p5: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// One direction's video (`video` in the report).
#[derive(Debug, Clone, Serialize)]
pub struct VideoReport {
    /// What the sender captured: `pattern:pan`, `pattern:stress` or the Y4M file's name.
    pub picture: String,
    /// Frames the sender encoded and sent.
    pub frames_sent: u64,
    /// Frames the receiver decoded.
    pub frames_decoded: u64,
    /// Freezes (WebRTC's definition, above).
    pub freezes: u64,
    /// Time frozen over the time from the first to the last frame rendered, percent.
    pub freeze_time_percent: f64,
    /// The longest gap between rendered frames, ms.
    pub longest_gap_ms: f64,
    /// Capture to display, ms: to the render time, or to the release when the receiver
    /// released the frame late.
    pub e2e_delay_ms: MedianP95,
    /// The longest time from a keyframe request to the next keyframe rendered, ms (0: none
    /// requested).
    pub keyframe_recovery_ms: f64,
    /// Keyframe requests of the receiver, and those still unanswered at the end.
    pub keyframes_requested: u64,
    /// See `keyframes_requested`.
    pub keyframe_requests_unanswered: u64,
    /// PSNR of the decoded pictures (Y), dB.
    pub psnr_db: MeanP5,
    /// Pictures scored, and those among them decoded at a lower size than sent.
    pub frames_scored: u64,
    /// See `frames_scored`.
    pub frames_scored_rescaled: u64,
    /// The true audio/video skew over the call, ms: video's capture-to-display delay minus the
    /// delay of the audio being played (positive: audio leads).
    pub av_skew_ms: P5P95,
    /// The same over the last half of the call.
    pub av_skew_second_half_ms: P5P95,
    /// The engine's lip-sync estimate at the end, ms, and the holds it applied.
    pub engine_av_skew_ms: f64,
    /// See `engine_av_skew_ms`.
    pub sync_audio_hold_ms: f64,
    /// See `engine_av_skew_ms`.
    pub sync_video_hold_ms: f64,
    /// Video first transmissions the network lost.
    pub packets_lost: u64,
    /// Share of those recovered by retransmission, percent (100 when none was lost).
    pub packets_recovered_percent: f64,
    /// Share of the lost packets recovered before their frame was due (its release for
    /// decoding), percent (100 when none was lost).
    pub packets_recovered_in_time_percent: f64,
    /// Frames the receiver released after their release time (a repair came late), and the
    /// most one was late, ms.
    pub frames_late: u64,
    /// See `frames_late`.
    pub max_late_ms: f64,
    /// Captured frames the sender skipped, not encoded, because its send side was congested.
    pub frames_skipped_congested: u64,
    /// Retransmission and repair counters of the receiver.
    pub nacks_sent: u64,
    /// See `nacks_sent`.
    pub rtx_received: u64,
    /// See `nacks_sent`.
    pub packets_recovered: u64,
    /// Encoder failures of the sender (open, bitrate change, encode).
    pub encode_errors: u64,
    /// Frames the receiver's frame buffer dropped (never decodable in time).
    pub frames_dropped: u64,
    /// Frames refused by authentication.
    pub frames_auth_failed: u64,
    /// The sender's keyframes.
    pub keyframes_sent: u64,
    /// The sender's video, one sample per second.
    pub timeline: Vec<VideoSample>,
    /// Frames the receiver decoded in each second of the call.
    pub decoded_per_second: Vec<u32>,
    /// With a link outage: from the link's return to the first frame captured during or after
    /// the outage that was decoded, ms (`None`: no outage, or none decoded).
    pub first_frame_after_outage_ms: Option<f64>,
    /// The link's queueing delay in each second of the call (this direction), ms: the largest
    /// one-way delay of the packets sent in that second minus the call's smallest; `null` for
    /// a second with nothing delivered.
    pub queue_delay_per_second_ms: Vec<Option<f64>>,
    /// With a capacity step: seconds from the step to the end of the first second after it
    /// whose queueing delay is under [`QUEUE_SETTLED_MS`] (`null`: none is).
    pub queue_back_under_after_step_s: Option<f64>,
    /// With a capacity step: seconds from the step until the queueing delay stays under
    /// [`QUEUE_SETTLED_MS`] for every later second of the call (`null`: it never does).
    pub queue_settled_after_step_s: Option<f64>,
}

/// Where the pictures come from.
enum Source {
    Pattern { pattern: Pattern, frame: VideoFrame },
    Y4m { path: PathBuf, frame: VideoFrame },
}

impl Source {
    fn open(cfg: &SimVideo) -> Result<Self, SimError> {
        let (w, h) = (cfg.config.width, cfg.config.height);
        match &cfg.input {
            None => Ok(Source::Pattern {
                pattern: cfg.pattern,
                frame: VideoFrame::new(PixelFormat::I420, w, h)
                    .map_err(|e| SimError::Config(format!("video size: {e}")))?,
            }),
            Some(path) => {
                let (dw, dh) = y4m_size(path)?;
                Ok(Source::Y4m {
                    path: path.clone(),
                    frame: VideoFrame::new(PixelFormat::I420, dw, dh)
                        .map_err(|e| SimError::Config(format!("video input size: {e}")))?,
                })
            }
        }
    }
}

/// Opens a Y4M file and checks it is 8-bit 4:2:0 of an even size.
fn y4m_open(path: &Path) -> Result<y4m::Decoder<BufReader<File>>, SimError> {
    let f = File::open(path).map_err(|source| SimError::Io {
        what: "video input",
        path: path.to_path_buf(),
        source,
    })?;
    let d = y4m::decode(BufReader::new(f)).map_err(|source| SimError::Y4m {
        what: format!(
            "video input '{}' is not a readable Y4M file",
            path.display()
        ),
        source,
    })?;
    use y4m::Colorspace as C;
    if !matches!(
        d.get_colorspace(),
        C::C420 | C::C420jpeg | C::C420paldv | C::C420mpeg2
    ) {
        return Err(SimError::Config(format!(
            "video input '{}': colorspace {:?}; 8-bit 4:2:0 is supported",
            path.display(),
            d.get_colorspace()
        )));
    }
    if d.get_width() % 2 != 0 || d.get_height() % 2 != 0 {
        return Err(SimError::Config(format!(
            "video input '{}' is {}x{}: width and height must be even",
            path.display(),
            d.get_width(),
            d.get_height()
        )));
    }
    Ok(d)
}

fn y4m_size(path: &Path) -> Result<(u32, u32), SimError> {
    let d = y4m_open(path)?;
    Ok((d.get_width() as u32, d.get_height() as u32))
}

/// Reads Y4M pictures in a loop (the file restarts at its end).
struct Y4mIn {
    dec: y4m::Decoder<BufReader<File>>,
}

impl Y4mIn {
    fn read_into(&mut self, path: &Path, out: &mut VideoFrame) -> Result<(), SimError> {
        for attempt in 0..2 {
            match self.dec.read_frame() {
                Ok(f) => {
                    let planes = [f.get_y_plane(), f.get_u_plane(), f.get_v_plane()];
                    for (p, src) in planes.iter().enumerate() {
                        let dst = out.plane_mut(p);
                        let n = dst.len().min(src.len());
                        dst[..n].copy_from_slice(&src[..n]);
                    }
                    return Ok(());
                }
                Err(y4m::Error::EOF) if attempt == 0 => self.dec = y4m_open(path)?,
                Err(source) => {
                    return Err(SimError::Y4m {
                        what: format!("video input '{}'", path.display()),
                        source,
                    });
                }
            }
        }
        Err(SimError::Config(format!(
            "video input '{}' holds no picture",
            path.display()
        )))
    }
}

/// Writes pictures as Y4M at one size (others are scaled to it).
struct Y4mOut {
    path: PathBuf,
    enc: y4m::Encoder<BufWriter<File>>,
    frame: VideoFrame,
    scaler: Scaler,
}

impl Y4mOut {
    fn create(path: &Path, w: u32, h: u32, fps: u32) -> Result<Self, SimError> {
        let f = File::create(path).map_err(|source| SimError::Io {
            what: "video output",
            path: path.to_path_buf(),
            source,
        })?;
        let enc = y4m::encode(w as usize, h as usize, y4m::Ratio::new(fps as usize, 1))
            .with_colorspace(y4m::Colorspace::C420jpeg)
            .write_header(BufWriter::new(f))
            .map_err(|source| SimError::Y4m {
                what: format!("cannot write '{}'", path.display()),
                source,
            })?;
        Ok(Y4mOut {
            path: path.to_path_buf(),
            enc,
            frame: VideoFrame::new(PixelFormat::I420, w, h)
                .map_err(|e| SimError::Config(format!("video size: {e}")))?,
            scaler: Scaler::new().map_err(|e| SimError::Config(format!("scaler: {e}")))?,
        })
    }

    fn write(&mut self, pic: &VideoFrame) -> Result<(), SimError> {
        let same = (pic.width(), pic.height()) == (self.frame.width(), self.frame.height())
            && pic.format() == PixelFormat::I420;
        let src = if same {
            pic
        } else {
            self.scaler
                .run(pic, &mut self.frame)
                .map_err(|e| SimError::Config(format!("scaling a picture for Y4M: {e}")))?;
            &self.frame
        };
        let (w, h) = (src.width() as usize, src.height() as usize);
        let packed = |p: usize, pw: usize, ph: usize| -> Vec<u8> {
            let s = src.stride(p);
            let plane = src.plane(p);
            (0..ph)
                .flat_map(|r| plane[r * s..r * s + pw].iter().copied())
                .collect()
        };
        let (y, u, v) = (
            packed(0, w, h),
            packed(1, w.div_ceil(2), h.div_ceil(2)),
            packed(2, w.div_ceil(2), h.div_ceil(2)),
        );
        self.enc
            .write_frame(&y4m::Frame::new([&y, &u, &v], None))
            .map_err(|source| SimError::Y4m {
                what: format!("cannot write '{}'", self.path.display()),
                source,
            })
    }
}

/// Y PSNR of two I420 pictures of the same size (`None` when the sizes differ).
fn psnr_y(a: &VideoFrame, b: &VideoFrame) -> Option<f64> {
    if (a.width(), a.height()) != (b.width(), b.height()) {
        return None;
    }
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (pa, pb) = (a.plane(0), b.plane(0));
    let (sa, sb) = (a.stride(0), b.stride(0));
    let mut se = 0u64;
    for row in 0..h {
        let (ra, rb) = (&pa[row * sa..row * sa + w], &pb[row * sb..row * sb + w]);
        for (x, y) in ra.iter().zip(rb) {
            let d = i64::from(*x) - i64::from(*y);
            se += (d * d) as u64;
        }
    }
    let mse = se as f64 / (w * h) as f64;
    Some(if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    })
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// What one side measured of the peer's video.
#[derive(Debug, Default)]
struct RxMetrics {
    decoded: u64,
    e2e_ms: Vec<f64>,
    psnr: Vec<f64>,
    rescaled: u64,
    /// (render ms, true skew ms) per frame.
    skew: Vec<(f64, f64)>,
    first_render: Option<f64>,
    last_render: Option<f64>,
    avg_gap: Option<f64>,
    freezes: u64,
    freeze_ms: f64,
    longest_gap: f64,
    /// Keyframe requests seen, and when the oldest unanswered one was made.
    kf_requests: u64,
    waiting_since: Option<f64>,
    recovery_max: f64,
    per_second: Vec<u32>,
    after_outage: Option<f64>,
}

/// One endpoint's video: its capture and encoder, and its decoder and scoring of the peer's.
pub(crate) struct VideoEnd {
    fps: u32,
    enc: VideoEncodeSide,
    dec: VideoDecodeSide,
    source: Source,
    y4m_in: Option<Y4mIn>,
    next_frame: u64,
    /// Source pictures by frame index (`index % RING`).
    ring: Vec<Option<(u64, VideoFrame)>>,
    video_pt: u8,
    /// RTP timestamp of this side's first video frame, and when it was captured (ms).
    first: Option<(u32, f64)>,
    /// Capture ms of this side's frames by index.
    capture_ms: Vec<f64>,
    buf: Vec<u8>,
    picture: VideoFrame,
    reference: Option<VideoFrame>,
    scaler: Scaler,
    y4m_out: Option<Y4mOut>,
    rx: RxMetrics,
    timeline: Vec<VideoSample>,
    bytes_at_sample: u64,
    encode_errors: u64,
    /// The link's outage (start, end), ms.
    pub(crate) outage_ms: Option<(f64, f64)>,
    /// When the link's capacity steps, s.
    pub(crate) step_s: Option<f64>,
    /// What this side captures, for the report (`VideoReport::picture`).
    picture_name: String,
}

impl VideoEnd {
    /// A side capturing `cfg`'s source, writing what it sees to `seen` (Y4M) if given.
    pub(crate) fn new(cfg: &SimVideo, seen: Option<&Path>) -> Result<Self, SimError> {
        let c = &cfg.config;
        let source = Source::open(cfg)?;
        let y4m_in = match &cfg.input {
            Some(p) => Some(Y4mIn { dec: y4m_open(p)? }),
            None => None,
        };
        Ok(VideoEnd {
            fps: c.fps.max(1),
            enc: VideoEncodeSide::new(c.codec, 1),
            dec: VideoDecodeSide::new(c.codec).step("video decoder")?,
            source,
            y4m_in,
            next_frame: 0,
            ring: (0..RING).map(|_| None).collect(),
            video_pt: c.payload_type,
            first: None,
            capture_ms: Vec::new(),
            buf: vec![0; MAX_VIDEO_FRAME],
            picture: VideoFrame::new(PixelFormat::I420, 2, 2)
                .map_err(|e| SimError::Config(e.to_string()))?,
            reference: None,
            scaler: Scaler::new().map_err(|e| SimError::Config(format!("scaler: {e}")))?,
            y4m_out: seen
                .map(|p| Y4mOut::create(p, c.width, c.height, c.fps))
                .transpose()?,
            rx: RxMetrics::default(),
            timeline: Vec::new(),
            bytes_at_sample: 0,
            encode_errors: 0,
            outage_ms: None,
            step_s: None,
            picture_name: match &cfg.input {
                Some(p) => p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                None => format!("pattern:{}", pattern_name(cfg.pattern)),
            },
        })
    }

    /// At `ms`: captures, encodes and hands over the frame due, if one is.
    pub(crate) fn capture(&mut self, ms: u64, core: &mut MediaCore) -> Result<(), SimError> {
        if self.next_frame * 1000 / u64::from(self.fps) > ms {
            return Ok(());
        }
        let index = self.next_frame;
        self.next_frame += 1;
        while let Some(cmd) = core.video_encoder_command() {
            if self.enc.apply(cmd).is_err() {
                self.encode_errors += 1;
            }
        }
        let now = MediaTime::from_millis(ms);
        let frame = match &mut self.source {
            Source::Pattern { pattern, frame } => {
                pattern.fill(frame, index, self.fps);
                frame
            }
            Source::Y4m { path, frame } => {
                if let Some(r) = self.y4m_in.as_mut() {
                    r.read_into(path, frame)?;
                }
                frame
            }
        };
        frame.timestamp = now;
        // Keep the picture for scoring.
        let slot = &mut self.ring[(index as usize) % RING];
        match slot {
            Some((i, f)) if (f.width(), f.height()) == (frame.width(), frame.height()) => {
                *i = index;
                f.plane_mut(0).copy_from_slice(frame.plane(0));
                f.plane_mut(1).copy_from_slice(frame.plane(1));
                f.plane_mut(2).copy_from_slice(frame.plane(2));
            }
            _ => *slot = Some((index, frame.clone())),
        }
        self.capture_ms.push(ms as f64);
        if core.video_skip_capture() {
            // The send side is congested: this frame is not encoded (counted by the core).
            return Ok(());
        }
        let mut out: Vec<(Vec<u8>, bool)> = Vec::new();
        if self
            .enc
            .encode(frame, &mut |d, k, _| out.push((d.to_vec(), k)))
            .is_err()
        {
            self.encode_errors += 1;
        }
        for (d, k) in out {
            // A refused frame is counted by the core; the next command asks for a keyframe.
            let _ = core.send_video_frame(&d, k, now);
        }
        Ok(())
    }

    /// A packet this side sent: the first video packet gives the stream's timestamp origin.
    pub(crate) fn note_sent(&mut self, packet: &[u8]) {
        if self.first.is_none()
            && packet.len() >= 12
            && packet[1] & 0x7f == self.video_pt
            && !parla_engine::is_rtcp(packet)
        {
            let ts = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
            // The first frame captured is frame 0.
            self.first = Some((ts, self.capture_ms.first().copied().unwrap_or(0.0)));
        }
    }

    /// Once a second: a sample of this side's sending.
    pub(crate) fn sample(&mut self, t_s: f64, s: &CallStats) {
        let v = &s.video;
        let bytes = v.bytes_sent - self.bytes_at_sample;
        self.bytes_at_sample = v.bytes_sent;
        self.timeline.push(VideoSample {
            t_s,
            target_bps: v.target_bps,
            sent_bps: bytes as f64 * 8.0,
            width: v.width,
            height: v.height,
            fps: v.fps,
            pacer_queue_packets: v.pacer_queue_packets,
        });
    }

    /// Every tick: the receiver's keyframe requests (for the recovery time).
    pub(crate) fn watch_requests(&mut self, ms: u64, s: &CallStats) {
        let n = s.video.keyframes_requested;
        if n > self.rx.kf_requests {
            self.rx.kf_requests = n;
            self.rx.waiting_since.get_or_insert(ms as f64);
        }
    }

    /// At `ms`: the peer's frames due are decoded and scored. `peer` is the sending side;
    /// `audio` the audio this side played at its last tick (tick ms, the peer's RTP
    /// timestamp) and `peer_audio_ts0` the peer's first audio timestamp (captured at 0 ms).
    pub(crate) fn receive(
        &mut self,
        ms: u64,
        core: &mut MediaCore,
        peer: &VideoEnd,
        audio: Option<(u64, u32)>,
        peer_audio_ts0: u32,
    ) -> Result<(), SimError> {
        let now = MediaTime::from_millis(ms);
        while let Some(fr) = core.poll_video_frame(now, &mut self.buf) {
            let capture = MediaTime::from_micros(fr.capture_us);
            match self
                .dec
                .decode_into(&self.buf[..fr.len], capture, &mut self.picture)
            {
                Ok(Some(_)) => {}
                Ok(None) => continue,
                Err(_) => {
                    core.video_decode_error(now);
                    continue;
                }
            }
            // Shown when it is released: at its render time, or later when the receiver released
            // it late (a repair that came after the frame was due). The driver polls every
            // millisecond, so a frame released within the tick of its render time keeps it.
            let render = (fr.render_time.as_micros() as f64 / 1000.0).max(ms as f64 - 1.0);
            self.rx.decoded += 1;
            let sec = (ms / 1000) as usize;
            if self.rx.per_second.len() <= sec {
                self.rx.per_second.resize(sec + 1, 0);
            }
            self.rx.per_second[sec] += 1;
            if let Some(w) = self.y4m_out.as_mut() {
                w.write(&self.picture)?;
            }
            // Freezes, as in the WebRTC statistics.
            if let Some(last) = self.rx.last_render {
                let gap = (render - last).max(0.0);
                let avg = self.rx.avg_gap.unwrap_or(1000.0 / f64::from(self.fps));
                if gap > (3.0 * avg).max(avg + 150.0) {
                    self.rx.freezes += 1;
                    self.rx.freeze_ms += gap;
                } else {
                    self.rx.avg_gap = Some(avg + 0.1 * (gap - avg));
                }
                self.rx.longest_gap = self.rx.longest_gap.max(gap);
            }
            self.rx.first_render.get_or_insert(render);
            self.rx.last_render = Some(render);
            if fr.keyframe
                && let Some(t) = self.rx.waiting_since.take()
            {
                self.rx.recovery_max = self.rx.recovery_max.max(render - t);
            }
            let Some((ts0, _)) = peer.first else { continue };
            let ticks = f64::from(fr.rtp_timestamp.wrapping_sub(ts0));
            let index = (ticks * f64::from(peer.fps) / 90_000.0).round() as usize;
            let Some(&cap) = peer.capture_ms.get(index) else {
                continue;
            };
            if let Some((from, to)) = self.outage_ms
                && cap >= from
                && ms as f64 >= to
            {
                self.rx.after_outage.get_or_insert(ms as f64 - to);
            }
            let video_delay = render - cap;
            self.rx.e2e_ms.push(video_delay);
            if let Some((tick, ts)) = audio {
                let audio_delay = tick as f64 - f64::from(ts.wrapping_sub(peer_audio_ts0)) / 48.0;
                self.rx.skew.push((render, video_delay - audio_delay));
            }
            if let Some((i, sent)) = &peer.ring[index % RING]
                && *i == index as u64
            {
                let q = match psnr_y(sent, &self.picture) {
                    Some(q) => Some(q),
                    None => {
                        // The sender stepped down the ladder: against the sent picture scaled
                        // to the decoded size.
                        self.rx.rescaled += 1;
                        let (w, h) = (self.picture.width(), self.picture.height());
                        let r = match self.reference.take() {
                            Some(r) if (r.width(), r.height()) == (w, h) => r,
                            _ => VideoFrame::new(PixelFormat::I420, w, h)
                                .map_err(|e| SimError::Config(e.to_string()))?,
                        };
                        let mut r = r;
                        let q = self
                            .scaler
                            .run(sent, &mut r)
                            .ok()
                            .and_then(|()| psnr_y(&r, &self.picture));
                        self.reference = Some(r);
                        q
                    }
                };
                self.rx.psnr.extend(q);
            }
        }
        Ok(())
    }

    /// The report of the peer's video as this side received it. `sender` is the peer's
    /// statistics, `mine` this side's.
    pub(crate) fn report(
        &mut self,
        peer: &mut VideoEnd,
        sender: &CallStats,
        mine: &CallStats,
        lost: u64,
        queue_ms: Vec<Option<f64>>,
    ) -> Result<VideoReport, SimError> {
        if let Some(w) = self.y4m_out.take() {
            drop(w);
        }
        let rx = &mut self.rx;
        let span = match (rx.first_render, rx.last_render) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => 0.0,
        };
        let mut psnr = rx.psnr.clone();
        let mut e2e = rx.e2e_ms.clone();
        let all: Vec<f64> = rx.skew.iter().map(|x| x.1).collect();
        let half_t = rx
            .skew
            .last()
            .map_or(0.0, |l| rx.skew.first().map_or(0.0, |f| (f.0 + l.0) / 2.0));
        let half: Vec<f64> = rx
            .skew
            .iter()
            .filter(|x| x.0 >= half_t)
            .map(|x| x.1)
            .collect();
        let p5p95 = |v: &[f64]| {
            let mut v = v.to_vec();
            P5P95 {
                p5: quantile(&mut v, 0.05),
                p95: quantile(&mut v, 0.95),
            }
        };
        let v = &mine.video;
        let (back_under, settled) = self.step_s.map_or((None, None), |at| {
            queue_after(&queue_ms, at, QUEUE_SETTLED_MS)
        });
        Ok(VideoReport {
            picture: peer.picture_name.clone(),
            frames_sent: sender.video.frames_sent,
            frames_decoded: rx.decoded,
            freezes: rx.freezes,
            freeze_time_percent: if span > 0.0 {
                100.0 * rx.freeze_ms / span
            } else {
                0.0
            },
            longest_gap_ms: rx.longest_gap,
            e2e_delay_ms: MedianP95 {
                median: quantile(&mut e2e, 0.5),
                p95: quantile(&mut e2e, 0.95),
            },
            keyframe_recovery_ms: rx.recovery_max,
            keyframes_requested: rx.kf_requests,
            keyframe_requests_unanswered: u64::from(rx.waiting_since.is_some()),
            psnr_db: MeanP5 {
                mean: if psnr.is_empty() {
                    0.0
                } else {
                    psnr.iter().sum::<f64>() / psnr.len() as f64
                },
                p5: quantile(&mut psnr, 0.05),
            },
            frames_scored: rx.psnr.len() as u64,
            frames_scored_rescaled: rx.rescaled,
            av_skew_ms: p5p95(&all),
            av_skew_second_half_ms: p5p95(&half),
            engine_av_skew_ms: v.av_skew_ms,
            sync_audio_hold_ms: v.sync_audio_hold_ms,
            sync_video_hold_ms: v.sync_video_hold_ms,
            packets_lost: lost,
            packets_recovered_percent: if lost == 0 {
                100.0
            } else {
                100.0 * v.packets_recovered as f64 / lost as f64
            },
            packets_recovered_in_time_percent: if lost == 0 {
                100.0
            } else {
                100.0 * v.packets_recovered.saturating_sub(v.recovered_late) as f64 / lost as f64
            },
            frames_late: v.frames_late,
            max_late_ms: v.max_late_ms,
            frames_skipped_congested: sender.video.frames_congestion_skipped,
            nacks_sent: v.nacks_sent,
            rtx_received: v.rtx_received,
            packets_recovered: v.packets_recovered,
            encode_errors: peer.encode_errors,
            frames_dropped: v.frames_dropped,
            frames_auth_failed: v.frames_auth_failed,
            keyframes_sent: sender.video.keyframes_sent,
            timeline: std::mem::take(&mut peer.timeline),
            decoded_per_second: std::mem::take(&mut rx.per_second),
            first_frame_after_outage_ms: rx.after_outage,
            queue_back_under_after_step_s: back_under,
            queue_settled_after_step_s: settled,
            queue_delay_per_second_ms: queue_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_back_under_and_settles_after_the_last_second_over_the_limit() {
        let q = |v: &[f64]| {
            v.iter()
                .map(|&x| (x >= 0.0).then_some(x))
                .collect::<Vec<_>>()
        };
        // Over 100 ms in seconds 10 and 12 (11 had nothing delivered): settled from 13 s.
        let queue = q(&[5.0; 10]
            .iter()
            .copied()
            .chain([300.0, -1.0, 150.0, 40.0, 20.0])
            .collect::<Vec<_>>());
        // Back under it in second 13 (3 s after the step at 10.0 s plus that second): 4 s.
        assert_eq!(queue_after(&queue, 10.0, 100.0), (Some(4.0), Some(3.0)));
        // Never over it after a step at 13.0 s.
        assert_eq!(queue_after(&queue, 13.0, 100.0), (Some(2.0), Some(0.0)));
        // Still over it at the end: never back, never settled.
        let queue = q(&[5.0, 5.0, 200.0]);
        assert_eq!(queue_after(&queue, 1.0, 100.0), (None, None));
    }

    #[test]
    fn psnr_and_quantiles() {
        let a = parla_video::pattern::frame(32, 16, 3, 30).expect("frame");
        assert_eq!(psnr_y(&a, &a), Some(99.0));
        let mut b = a.clone();
        b.plane_mut(0)[0] = b.plane(0)[0].wrapping_add(16);
        let q = psnr_y(&a, &b).expect("same size");
        // One pixel off by 16 in 512: MSE 0.5.
        assert!((q - 10.0 * (255.0f64 * 255.0 / 0.5).log10()).abs() < 1e-9);
        let c = parla_video::pattern::frame(16, 16, 3, 30).expect("frame");
        assert_eq!(psnr_y(&a, &c), None);
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&mut v, 0.5), 3.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }

    #[test]
    fn y4m_written_is_read_back_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.y4m");
        let mut w = Y4mOut::create(&path, 32, 16, 30).expect("create");
        let f0 = parla_video::pattern::frame(32, 16, 0, 30).expect("frame");
        let f1 = parla_video::pattern::frame(64, 32, 1, 30).expect("frame");
        w.write(&f0).expect("write");
        // Another size is scaled to the file's.
        w.write(&f1).expect("write scaled");
        drop(w);
        assert_eq!(y4m_size(&path).expect("size"), (32, 16));
        let mut r = Y4mIn {
            dec: y4m_open(&path).expect("open"),
        };
        let mut got = VideoFrame::new(PixelFormat::I420, 32, 16).expect("frame");
        r.read_into(&path, &mut got).expect("read");
        assert_eq!(psnr_y(&got, &f0), Some(99.0));
        r.read_into(&path, &mut got).expect("read");
        // The file loops.
        r.read_into(&path, &mut got).expect("read again");
        assert_eq!(psnr_y(&got, &f0), Some(99.0));
        let bad = dir.path().join("bad.y4m");
        std::fs::write(&bad, b"not a y4m file\n").expect("write");
        let e = y4m_open(&bad).err().expect("refused").to_string();
        assert!(e.contains("not a readable Y4M"), "{e}");
        let e = y4m_open(&dir.path().join("missing.y4m"))
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("video input"), "{e}");
    }
}
