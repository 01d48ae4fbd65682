//! `parla decode`: decode a file the way a call's receiver would, optionally dropping packets
//! first (`--loss PERCENT --seed N`) to exercise FEC and concealment.
//!
//! Audio: Ogg Opus (`.opus`/`.ogg`) to WAV (32-bit float), packet by packet (memory does not
//! grow with the file's length). Video: H.264 Annex-B (`.h264`/`.264`)
//! or VP8 IVF (`.ivf`) to Y4M. Prints a summary: packets, lost, recovered by FEC, concealed,
//! decode errors, CPU time per frame.
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use parla_codec::container::annexb;
use parla_codec::container::ivf::IvfReader;
use parla_codec::container::ogg_opus::OggOpusReader;
use parla_codec::container::y4m::{Y4mHeader, Y4mWriter};
use parla_codec::opus::OpusDecoder;
use parla_codec::video::{VideoCodec, VideoDecoder};
use parla_core::MediaTime;
use parla_core::stats::LatencyHistogram;
use rand::{Rng, SeedableRng};

use super::encode::{RemoveOnError, cpu_summary};

/// Arguments of `parla decode`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input: `.opus`/`.ogg`, `.h264`/`.264` or `.ivf`.
    #[arg(long)]
    pub input: PathBuf,
    /// Output: WAV for Opus input, Y4M for video input.
    #[arg(long)]
    pub output: PathBuf,
    /// Drop this percentage of packets (uniformly at random) before decoding.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Seed of the loss pattern.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Do not use the FEC data of the next packet to recover a lost one (conceal instead).
    #[arg(long)]
    pub no_fec: bool,
    /// Output rate for Opus (8000, 12000, 16000, 24000, 48000).
    #[arg(long, default_value_t = 48_000)]
    pub rate: u32,
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !(0.0..=100.0).contains(&args.loss) {
        bail!("--loss must be a percentage between 0 and 100");
    }
    let ext = args
        .input
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "opus" | "ogg" => decode_opus(&args),
        "h264" | "264" => decode_video(&args, VideoCodec::H264),
        "ivf" => decode_video(&args, VideoCodec::Vp8),
        _ => bail!(
            "{}: unknown input type (use .opus, .ogg, .h264, .264 or .ivf)",
            args.input.display()
        ),
    }
}

fn loss_pattern(n: usize, percent: f64, seed: u64) -> Vec<bool> {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| r.random_bool(percent / 100.0)).collect()
}

fn open(path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("opening {}", path.display()))
}

/// A stream of packets read one ahead, each with its place in the loss pattern: the seeded
/// generator draws one decision per packet in file order, the pattern [`loss_pattern`] gives.
struct LossyPackets<R: std::io::Read + std::io::Seek> {
    reader: OggOpusReader<R>,
    rng: rand_chacha::ChaCha8Rng,
    percent: f64,
    next: Option<(Vec<u8>, bool)>,
}

impl<R: std::io::Read + std::io::Seek> LossyPackets<R> {
    fn new(reader: OggOpusReader<R>, percent: f64, seed: u64) -> anyhow::Result<Self> {
        let mut s = LossyPackets {
            reader,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            percent,
            next: None,
        };
        s.next = s.read()?;
        Ok(s)
    }

    fn read(&mut self) -> anyhow::Result<Option<(Vec<u8>, bool)>> {
        Ok(match self.reader.next_packet()? {
            Some(p) => Some((p, self.rng.random_bool(self.percent / 100.0))),
            None => None,
        })
    }

    /// The next packet and whether it is dropped; the one after it stays readable with `peek`.
    fn pop(&mut self) -> anyhow::Result<Option<(Vec<u8>, bool)>> {
        let cur = self.next.take();
        if cur.is_some() {
            self.next = self.read()?;
        }
        Ok(cur)
    }

    fn peek(&self) -> Option<&(Vec<u8>, bool)> {
        self.next.as_ref()
    }
}

fn decode_opus(args: &Args) -> anyhow::Result<()> {
    let reader = OggOpusReader::new(BufReader::new(open(&args.input)?))?;
    let head = *reader.head();
    let mut packets = LossyPackets::new(reader, args.loss, args.seed)?;
    let channels = u16::from(head.channels);
    let mut dec = OpusDecoder::new(args.rate, channels)?;
    let ch = usize::from(channels);
    let mut buf = vec![0.0f32; dec.max_frame_samples()];
    let spec = hound::WavSpec {
        channels,
        sample_rate: args.rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let file = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    // A failed run removes its half-written output (the guard outlives the writer).
    let mut guard = RemoveOnError(Some(args.output.clone()));
    let mut w = hound::WavWriter::new(BufWriter::new(file), spec)?;
    // Drop the pre-skip and trim at the final granule position (both at 48 kHz). The final
    // one is known only at the end, so decoded samples are held until a page's granule
    // position says they are inside the stream (granule positions never decrease): the
    // held samples are at most about a page's worth.
    let ratio = 48_000 / u64::from(args.rate);
    let skip = (u64::from(head.pre_skip) / ratio) as usize * ch;
    let mut held: std::collections::VecDeque<f32> = std::collections::VecDeque::new();
    // Samples (interleaved) decoded so far, and the first of them still held.
    let (mut decoded, mut written) = (0usize, 0usize);
    let mut cpu = LatencyHistogram::new();
    let (mut npackets, mut bytes) = (0usize, 0usize);
    let (mut nlost, mut recovered, mut concealed, mut errors) = (0, 0, 0, 0);
    while let Some((packet, lost)) = packets.pop()? {
        npackets += 1;
        bytes += packet.len();
        let t = Instant::now();
        let frame = dec.last_packet_samples() * ch;
        let n = if !lost {
            match dec.decode(&packet, &mut buf) {
                Ok(n) => n,
                Err(_) => {
                    errors += 1;
                    concealed += 1;
                    dec.conceal(&mut buf[..frame])?
                }
            }
        } else {
            nlost += 1;
            match packets.peek().filter(|(_, next_lost)| !next_lost) {
                Some((next, _)) if !args.no_fec => {
                    // The lost packet's duration: assume the next packet's (streams keep one
                    // frame size in practice).
                    let len = dec.packet_samples(next).map(|n| n * ch).unwrap_or(frame);
                    recovered += 1;
                    dec.decode_fec(next, &mut buf[..len])?
                }
                _ => {
                    concealed += 1;
                    dec.conceal(&mut buf[..frame])?
                }
            }
        };
        cpu.record(t.elapsed());
        held.extend(&buf[..n * ch]);
        decoded += n * ch;
        // Everything before the last page's granule position is inside the stream.
        let safe = packets
            .reader
            .last_granule()
            .map_or(0, |g| ((g / ratio) as usize).saturating_mul(ch))
            .min(decoded);
        while written < safe {
            let s = held.pop_front().unwrap_or(0.0);
            if written >= skip {
                w.write_sample(s)?;
            }
            written += 1;
        }
    }
    let end = packets
        .reader
        .last_granule()
        .map_or(decoded, |g| ((g / ratio) as usize).saturating_mul(ch))
        .min(decoded);
    if written > end {
        bail!(
            "{}: corrupt Ogg Opus stream (a page's granule position is past the stream's end)",
            args.input.display()
        );
    }
    for s in held.drain(..end - written) {
        if written >= skip {
            w.write_sample(s)?;
        }
        written += 1;
    }
    w.finalize()?;
    guard.0 = None;
    let audio_len = end.saturating_sub(skip);
    let seconds = audio_len as f64 / ch as f64 / f64::from(args.rate);
    println!(
        "decoded {} ({:.2} s, {} ch) to {} at {} Hz",
        args.input.display(),
        seconds,
        channels,
        args.output.display(),
        args.rate
    );
    println!(
        "packets: {npackets} ({bytes} bytes, {:.1} kbps); dropped {nlost} ({:.1}%, seed {}): {recovered} recovered by FEC, {concealed} concealed; {errors} undecodable",
        bytes as f64 * 8.0 / seconds.max(1e-9) / 1000.0,
        100.0 * nlost as f64 / npackets.max(1) as f64,
        args.seed
    );
    println!("CPU per packet: {}", cpu_summary(&cpu));
    Ok(())
}

fn decode_video(args: &Args, codec: VideoCodec) -> anyhow::Result<()> {
    let mut packets: Vec<(Vec<u8>, MediaTime)> = Vec::new();
    match codec {
        VideoCodec::H264 => {
            let stream = std::fs::read(&args.input)
                .with_context(|| format!("reading {}", args.input.display()))?;
            for (i, au) in annexb::access_units(&stream).into_iter().enumerate() {
                packets.push((au, MediaTime::from_micros(i as u64 * 33_333)));
            }
        }
        VideoCodec::Vp8 => {
            let mut r = IvfReader::new(BufReader::new(open(&args.input)?))?;
            while let Some(f) = r.next_frame()? {
                packets.push(f);
            }
        }
    }
    let lost = loss_pattern(packets.len(), args.loss, args.seed);
    let mut dec = VideoDecoder::new(codec)?;
    let mut cpu = LatencyHistogram::new();
    let mut writer: Option<Y4mWriter<BufWriter<File>>> = None;
    let (mut frames, mut nlost, mut errors, mut size_changes) = (0u64, 0u64, 0u64, 0u64);
    let mut handle = |d: parla_codec::video::DecodedFrame,
                      writer: &mut Option<Y4mWriter<BufWriter<File>>>|
     -> anyhow::Result<()> {
        frames += 1;
        if d.size_changed {
            size_changes += 1;
        }
        if writer.is_none() || d.size_changed {
            if writer.is_some() {
                bail!("the stream changes size mid-way; Y4M holds one size");
            }
            let out = File::create(&args.output)
                .with_context(|| format!("creating {}", args.output.display()))?;
            *writer = Some(Y4mWriter::new(
                BufWriter::new(out),
                Y4mHeader {
                    width: d.frame.width(),
                    height: d.frame.height(),
                    fps_num: 30,
                    fps_den: 1,
                },
            )?);
        }
        if let Some(w) = writer.as_mut() {
            w.write_frame(&d.frame)?;
        }
        Ok(())
    };
    for (i, (data, ts)) in packets.iter().enumerate() {
        if lost[i] {
            nlost += 1;
            continue;
        }
        let t = Instant::now();
        let mut got = Vec::new();
        match dec.send_packet(data, *ts) {
            Ok(()) => loop {
                match dec.receive_frame() {
                    Ok(Some(d)) => got.push(d),
                    Ok(None) => break,
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            },
            Err(_) => errors += 1,
        }
        cpu.record(t.elapsed());
        for d in got {
            handle(d, &mut writer)?;
        }
    }
    dec.flush()?;
    while let Ok(Some(d)) = dec.receive_frame() {
        handle(d, &mut writer)?;
    }
    if let Some(w) = writer {
        w.finish()?;
    } else {
        bail!("no picture could be decoded");
    }
    println!(
        "decoded {} ({codec:?}) to {}: {frames} pictures, {size_changes} size change(s)",
        args.input.display(),
        args.output.display()
    );
    println!(
        "packets: {}; dropped {nlost} (seed {}); {errors} decode errors",
        packets.len(),
        args.seed
    );
    println!("CPU per packet: {}", cpu_summary(&cpu));
    Ok(())
}
