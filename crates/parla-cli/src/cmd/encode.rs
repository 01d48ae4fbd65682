//! `parla encode`: encode a file the way a call would.
//!
//! Audio: a WAV file (8, 12, 16, 24 or 48 kHz, mono or stereo) to Ogg Opus (`.opus`/`.ogg`),
//! read one Opus frame at a time (memory does not grow with the file's length).
//! Video: a Y4M file, or a generated moving test pattern, to H.264 Annex-B (`.h264`/`.264`) or
//! VP8 IVF (`.ivf`). Prints a summary: packets, achieved bitrate, CPU time per frame.
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use parla_codec::container::ivf::IvfWriter;
use parla_codec::container::ogg_opus::{OggOpusWriter, OpusHead};
use parla_codec::container::y4m::Y4mReader;
use parla_codec::opus::{FrameDuration, MAX_PACKET_BYTES, OpusEncoder, OpusEncoderConfig};
use parla_codec::video::{SendStatus, VideoCodec, VideoEncoder, VideoEncoderConfig};
use parla_core::MediaTime;
use parla_core::stats::LatencyHistogram;
use parla_core::video::{PixelFormat, VideoFrame};

/// Arguments of `parla encode`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input: a WAV file (audio) or a Y4M file (video). Omit with `--pattern`.
    #[arg(long, required_unless_present = "pattern")]
    pub input: Option<PathBuf>,
    /// Encode a generated moving test pattern of this size (e.g. 640x360) instead of a file.
    #[arg(long, conflicts_with = "input")]
    pub pattern: Option<String>,
    /// Frames of test pattern to generate (at `--fps`).
    #[arg(long, default_value_t = 300)]
    pub frames: u64,
    /// Frame rate of the test pattern.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Output: `.opus`/`.ogg` (Opus), `.h264`/`.264` (H.264 Annex-B) or `.ivf` (VP8).
    #[arg(long)]
    pub output: PathBuf,
    /// Target bitrate in bits per second (default 32000 for Opus, 500000 for video).
    #[arg(long)]
    pub bitrate: Option<u32>,
    /// Opus frame duration in ms (10, 20, 40, 60).
    #[arg(long, default_value_t = 20)]
    pub frame_ms: u32,
    /// Opus complexity (0-10).
    #[arg(long, default_value_t = 9)]
    pub complexity: u8,
    /// Opus in-band FEC.
    #[arg(long)]
    pub fec: bool,
    /// Packet loss (percent) the Opus FEC should protect against.
    #[arg(long, default_value_t = 10)]
    pub expected_loss: u8,
    /// Opus DTX (discontinuous transmission in silence).
    #[arg(long)]
    pub dtx: bool,
    /// Video keyframe interval in frames (0: first frame only).
    #[arg(long, default_value_t = 300)]
    pub keyframe_interval: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Opus,
    Video(VideoCodec),
}

fn kind_of(path: &Path) -> anyhow::Result<Kind> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "opus" | "ogg" => Kind::Opus,
        "h264" | "264" => Kind::Video(VideoCodec::H264),
        "ivf" => Kind::Video(VideoCodec::Vp8),
        _ => bail!(
            "{}: unknown output type (use .opus, .ogg, .h264, .264 or .ivf)",
            path.display()
        ),
    })
}

/// Median and p99 of per-frame CPU times, as text.
pub(crate) fn cpu_summary(h: &LatencyHistogram) -> String {
    format!(
        "median {:.1} us, p99 {:.1} us, max {:.1} us over {} frames",
        h.quantile(0.5).as_secs_f64() * 1e6,
        h.quantile(0.99).as_secs_f64() * 1e6,
        h.max().as_secs_f64() * 1e6,
        h.count()
    )
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    match kind_of(&args.output)? {
        Kind::Opus => encode_opus(&args),
        Kind::Video(codec) => encode_video(&args, codec),
    }
}

fn encode_opus(args: &Args) -> anyhow::Result<()> {
    let input = args
        .input
        .as_ref()
        .context("Opus output needs a WAV --input")?;
    let mut reader =
        hound::WavReader::open(input).with_context(|| format!("opening {}", input.display()))?;
    let spec = reader.spec();
    // Interleaved samples in the file, from its header: the file is read frame by frame.
    let in_len = reader.len() as usize;
    let int_scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
    let cfg = OpusEncoderConfig::voice(spec.sample_rate, spec.channels)
        .bitrate(args.bitrate.unwrap_or(32_000))
        .complexity(args.complexity)
        .frame(FrameDuration::from_millis(args.frame_ms)?)
        .fec(args.fec, args.expected_loss)
        .dtx(args.dtx);
    let mut enc = OpusEncoder::new(&cfg).with_context(|| {
        format!(
            "{}: Opus takes 8/12/16/24/48 kHz mono or stereo; resample first",
            input.display()
        )
    })?;
    let scale = u64::from(48_000 / spec.sample_rate);
    let head = OpusHead {
        channels: spec.channels as u8,
        pre_skip: u16::try_from(enc.lookahead() as u64 * scale)?,
        input_rate: spec.sample_rate,
        output_gain: 0,
    };
    let out = BufWriter::new(
        File::create(&args.output)
            .with_context(|| format!("creating {}", args.output.display()))?,
    );
    // A failed run removes its half-written output.
    let mut guard = RemoveOnError(Some(args.output.clone()));
    let mut w = OggOpusWriter::new(out, head, 0x5041_524c, "parla")?;
    let n = enc.frame_samples();
    let mut frame = vec![0.0f32; n];
    let mut packet = [0u8; MAX_PACKET_BYTES];
    let mut cpu = LatencyHistogram::new();
    let (mut bytes, mut packets, mut discardable) = (0usize, 0usize, 0usize);
    // Encode the lookahead's worth of silence past the end too, so the decoder can output
    // the whole input (the Ogg end trimming then cuts exactly at its end).
    let tail = enc.lookahead() * usize::from(spec.channels);
    let total = in_len + tail;
    let corrupt =
        |e: hound::Error| anyhow::anyhow!("{} is truncated or corrupt ({e})", input.display());
    for start in (0..total).step_by(n) {
        frame.fill(0.0);
        if start < in_len {
            let dst = &mut frame[..n.min(in_len - start)];
            match spec.sample_format {
                hound::SampleFormat::Float => {
                    for (d, s) in dst.iter_mut().zip(reader.samples::<f32>()) {
                        *d = s.map_err(corrupt)?;
                    }
                }
                hound::SampleFormat::Int => {
                    for (d, s) in dst.iter_mut().zip(reader.samples::<i32>()) {
                        *d = s.map_err(corrupt)? as f32 * int_scale;
                    }
                }
            }
        }
        let t = Instant::now();
        let p = enc.encode(&frame, &mut packet)?;
        cpu.record(t.elapsed());
        w.write_packet(&packet[..p.len], p.samples as u64 * scale)?;
        bytes += p.len;
        packets += 1;
        discardable += usize::from(p.discardable);
    }
    let frames_per_ch = in_len / usize::from(spec.channels);
    w.finish(Some(frames_per_ch as u64 * scale))?.flush()?;
    guard.0 = None;
    let seconds = frames_per_ch as f64 / f64::from(spec.sample_rate);
    println!(
        "encoded {} ({:.2} s, {} Hz, {} ch) to {}",
        input.display(),
        seconds,
        spec.sample_rate,
        spec.channels,
        args.output.display()
    );
    println!("packets: {packets} ({discardable} DTX packets a sender would skip), {bytes} bytes");
    println!(
        "bitrate: {:.1} kbps achieved for {:.1} kbps target",
        bytes as f64 * 8.0 / seconds.max(1e-9) / 1000.0,
        f64::from(cfg.bitrate) / 1000.0
    );
    println!("CPU per {} ms frame: {}", args.frame_ms, cpu_summary(&cpu));
    Ok(())
}

/// Removes the file it names when dropped, unless disarmed (set to `None`) first: a run that
/// fails part-way leaves no half-written output behind.
pub(crate) struct RemoveOnError(pub(crate) Option<PathBuf>);

impl Drop for RemoveOnError {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            // Best effort: the run's own error is the one to report.
            let _ = std::fs::remove_file(p);
        }
    }
}

pub(crate) fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s
        .split_once('x')
        .context("--pattern takes WIDTHxHEIGHT, e.g. 640x360")?;
    Ok((w.parse()?, h.parse()?))
}

/// A moving test pattern: colour bars scrolling sideways, a bouncing box and a frame counter
/// band, so the encoder has motion and edges to code.
pub(crate) fn pattern_frame(frame: &mut VideoFrame, index: u64) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let bars: [(u8, u8, u8); 8] = [
        (235, 128, 128),
        (210, 16, 146),
        (170, 166, 16),
        (145, 54, 34),
        (106, 202, 222),
        (81, 90, 240),
        (41, 240, 110),
        (16, 128, 128),
    ];
    let shift = (index as usize * 4) % w.max(1);
    let bw = (w / 8).max(1);
    let (bx, by) = (
        (index as usize * 7) % w.saturating_sub(w / 8).max(1),
        (index as usize * 5) % h.saturating_sub(h / 8).max(1),
    );
    let cw = w.div_ceil(2);
    for row in 0..h {
        for col in 0..w {
            let bar = bars[((col + shift) / bw) % 8];
            let in_box = col >= bx && col < bx + w / 8 && row >= by && row < by + h / 8;
            let luma = if in_box {
                ((index * 16) % 220 + 16) as u8
            } else {
                bar.0
            };
            frame.plane_mut(0)[row * w + col] = luma;
            if row % 2 == 0 && col % 2 == 0 {
                let ci = (row / 2) * cw + col / 2;
                frame.plane_mut(1)[ci] = bar.1;
                frame.plane_mut(2)[ci] = bar.2;
            }
        }
    }
}

/// Fills the next frame; `false` at the end of the input.
type FrameSource = Box<dyn FnMut(&mut VideoFrame) -> anyhow::Result<bool>>;

fn encode_video(args: &Args, codec: VideoCodec) -> anyhow::Result<()> {
    let mut source: FrameSource;
    let (w, h, fps);
    if let Some(p) = &args.pattern {
        (w, h) = parse_size(p)?;
        fps = args.fps;
        let total = args.frames;
        let mut i = 0u64;
        source = Box::new(move |f: &mut VideoFrame| {
            if i >= total {
                return Ok(false);
            }
            pattern_frame(f, i);
            f.timestamp = MediaTime::from_micros(i * 1_000_000 / u64::from(fps.max(1)));
            i += 1;
            Ok(true)
        });
    } else {
        let input = args.input.as_ref().context("give --input or --pattern")?;
        let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
        let mut reader = Y4mReader::new(BufReader::new(file))
            .with_context(|| format!("{}: not a 4:2:0 Y4M file", input.display()))?;
        let hd = *reader.header();
        w = hd.width;
        h = hd.height;
        fps = (hd.fps_num / hd.fps_den.max(1)).max(1);
        source = Box::new(move |f: &mut VideoFrame| Ok(reader.read_frame(f)?));
    }
    let cfg = VideoEncoderConfig::new(codec, w & !1, h & !1)
        .bitrate(args.bitrate.unwrap_or(500_000))
        .framerate(fps)
        .keyframe_interval(args.keyframe_interval);
    let mut enc = VideoEncoder::new(&cfg)?;
    let out = BufWriter::new(
        File::create(&args.output)
            .with_context(|| format!("creating {}", args.output.display()))?,
    );
    enum Sink {
        AnnexB(BufWriter<File>),
        Ivf(IvfWriter<BufWriter<File>>),
    }
    let mut sink = match codec {
        VideoCodec::H264 => Sink::AnnexB(out),
        VideoCodec::Vp8 => Sink::Ivf(IvfWriter::new(out, *b"VP80", cfg.width, cfg.height)?),
    };
    let mut frame = VideoFrame::new(PixelFormat::I420, w, h)?;
    let mut cpu = LatencyHistogram::new();
    let (mut frames, mut packets, mut keys, mut bytes) = (0u64, 0u64, 0u64, 0usize);
    let mut last_ts = MediaTime::ZERO;
    let mut write = |p: parla_codec::video::VideoPacket, sink: &mut Sink| -> anyhow::Result<()> {
        packets += 1;
        keys += u64::from(p.keyframe);
        bytes += p.data.len();
        match sink {
            Sink::AnnexB(f) => f.write_all(&p.data)?,
            Sink::Ivf(f) => f.write_frame(&p.data, p.timestamp)?,
        }
        Ok(())
    };
    while source(&mut frame)? {
        frames += 1;
        last_ts = frame.timestamp;
        let t = Instant::now();
        let status = enc.send_frame(&frame)?;
        let mut got = Vec::new();
        if status == SendStatus::Queued {
            while let Some(p) = enc.receive_packet()? {
                got.push(p);
            }
        }
        cpu.record(t.elapsed());
        for p in got {
            write(p, &mut sink)?;
        }
    }
    enc.flush()?;
    while let Some(p) = enc.receive_packet()? {
        write(p, &mut sink)?;
    }
    match sink {
        Sink::AnnexB(mut f) => f.flush()?,
        Sink::Ivf(f) => f.finish()?.flush()?,
    }
    let seconds = (last_ts.as_micros() as f64 / 1e6 + 1.0 / f64::from(fps)).max(1e-9);
    println!(
        "encoded {frames} frames ({w}x{h}, {fps} fps, {seconds:.2} s) as {codec:?} to {}",
        args.output.display()
    );
    println!("packets: {packets} ({keys} keyframes), {bytes} bytes");
    println!(
        "bitrate: {:.1} kbps achieved for {:.1} kbps target",
        bytes as f64 * 8.0 / seconds / 1000.0,
        f64::from(cfg.bitrate) / 1000.0
    );
    println!("CPU per frame: {}", cpu_summary(&cpu));
    Ok(())
}
