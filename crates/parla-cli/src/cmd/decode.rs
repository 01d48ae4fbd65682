//! `parla decode`: decode a file the way a call's receiver would, optionally dropping packets
//! first (`--loss PERCENT --seed N`) to exercise FEC and concealment.
//!
//! Audio: Ogg Opus (`.opus`/`.ogg`) to WAV (32-bit float). Video: H.264 Annex-B (`.h264`/`.264`)
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

use super::encode::cpu_summary;

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

fn decode_opus(args: &Args) -> anyhow::Result<()> {
    let mut reader = OggOpusReader::new(BufReader::new(open(&args.input)?))?;
    let head = *reader.head();
    let mut packets = Vec::new();
    while let Some(p) = reader.next_packet()? {
        packets.push(p);
    }
    let end_granule = reader.last_granule();
    let lost = loss_pattern(packets.len(), args.loss, args.seed);
    let channels = u16::from(head.channels);
    let mut dec = OpusDecoder::new(args.rate, channels)?;
    let ch = usize::from(channels);
    let mut buf = vec![0.0f32; dec.max_frame_samples()];
    let mut out = Vec::new();
    let mut cpu = LatencyHistogram::new();
    let (mut nlost, mut recovered, mut concealed, mut errors) = (0, 0, 0, 0);
    for i in 0..packets.len() {
        let t = Instant::now();
        let frame = dec.last_packet_samples() * ch;
        let n = if !lost[i] {
            match dec.decode(&packets[i], &mut buf) {
                Ok(n) => n,
                Err(_) => {
                    errors += 1;
                    concealed += 1;
                    dec.conceal(&mut buf[..frame])?
                }
            }
        } else {
            nlost += 1;
            let next = packets
                .get(i + 1)
                .filter(|_| !lost.get(i + 1).copied().unwrap_or(true));
            match next {
                Some(next) if !args.no_fec => {
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
        out.extend_from_slice(&buf[..n * ch]);
    }
    // Drop the pre-skip and trim to the final granule position (both at 48 kHz).
    let ratio = 48_000 / u64::from(args.rate);
    let skip = (u64::from(head.pre_skip) / ratio) as usize * ch;
    let end = end_granule.map_or(out.len(), |g| (g / ratio) as usize * ch);
    let end = end.min(out.len());
    let audio = out.get(skip.min(end)..end).unwrap_or(&[]);
    let spec = hound::WavSpec {
        channels,
        sample_rate: args.rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::new(
        BufWriter::new(
            File::create(&args.output)
                .with_context(|| format!("creating {}", args.output.display()))?,
        ),
        spec,
    )?;
    for &s in audio {
        w.write_sample(s)?;
    }
    w.finalize()?;
    let seconds = audio.len() as f64 / ch as f64 / f64::from(args.rate);
    let bytes: usize = packets.iter().map(Vec::len).sum();
    println!(
        "decoded {} ({:.2} s, {} ch) to {} at {} Hz",
        args.input.display(),
        seconds,
        channels,
        args.output.display(),
        args.rate
    );
    println!(
        "packets: {} ({bytes} bytes, {:.1} kbps); dropped {nlost} ({:.1}%, seed {}): {recovered} recovered by FEC, {concealed} concealed; {errors} undecodable",
        packets.len(),
        bytes as f64 * 8.0 / seconds.max(1e-9) / 1000.0,
        100.0 * nlost as f64 / packets.len().max(1) as f64,
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
