//! `parla process`: run a recorded microphone file (and its far end) through the send chain
//! offline, exactly as the live send chain runs, and report the cost per stage.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use crossbeam_channel::{Receiver, Sender, bounded};
use parla_dsp::aec::{AecConfig, AecMode, AecTuning, EchoCanceller};
use parla_dsp::chain::{OfflineBack, OfflineFront, SendChain, SendChainConfig, SplitFrame};
use parla_dsp::resample::ResampleMode;
use serde::Serialize;

use crate::wav;

/// Arguments of `parla process`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The microphone recording (WAV: 8-96 kHz, 16/24/32-bit integer or 32-bit float, mono or
    /// stereo; stereo is downmixed). Default: the bundled samples/near_speech_clean.wav, built
    /// into the binary, so the demo runs from any directory.
    #[arg(long)]
    pub mic: Option<PathBuf>,
    /// The far-end (loudspeaker) signal played while the microphone recorded, same rate as --mic;
    /// its echo is cancelled from the microphone signal (see --aec).
    #[arg(long)]
    pub far: Option<PathBuf>,
    /// Where to write the processed signal (mono WAV at the input's rate).
    #[arg(long)]
    pub out: PathBuf,
    /// Processing rate in Hz (16000, 32000 or 48000; noise suppression needs 48000).
    #[arg(long, default_value_t = 48_000)]
    pub rate: u32,
    /// Switch noise suppression off.
    #[arg(long)]
    pub no_ns: bool,
    /// Noise-suppression strength, 0 (none) to 1 (full).
    #[arg(long, default_value_t = 1.0)]
    pub ns_strength: f32,
    /// Echo canceller run when --far is given: aec3 (WebRTC AEC3), mobile (AECM) or off.
    #[arg(long, default_value = "aec3")]
    pub aec: AecMode,
    /// AEC3 tuning: library (WebRTC's own, the default) or near-end (full duplex: a longer
    /// linear filter, keeps the near end while both talk) or duplex (the near-end suppressor
    /// with the library's filter); docs/AEC.md has the measured trade-offs.
    #[arg(long, default_value = "library")]
    pub aec_tuning: AecTuning,
    /// Hint for the echo path delay in milliseconds (optional; AEC3 estimates it itself).
    #[arg(long)]
    pub delay_ms: Option<u16>,
    /// Use the drift-adjustable resampler instead of the fixed-ratio one.
    #[arg(long)]
    pub adjustable_resampler: bool,
    /// Write a JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Threads to run the chain on: 1, or 2 (the input and the echo canceller on one, noise
    /// suppression, the output and the file writing on the other, with 10 ms frames handed
    /// over in batches through bounded queues; the output is byte for byte the same). Default:
    /// 2 when the machine has at least 2 cores and both the echo canceller and noise
    /// suppression run, else 1. Two threads take about the same CPU time, and less wall time
    /// when a second core is free.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub threads: Option<u8>,
}

/// 10 ms frames handed over at a time between the two threads of a pipelined run (fewer
/// hand-overs, fewer wake-ups: each one costs both threads some CPU).
const BATCH_FRAMES: usize = 8;
/// Batches in circulation between the two threads (so at most 320 ms of audio in flight).
const BATCHES: usize = 4;

/// CPU time of one stage, in microseconds per call.
#[derive(Debug, Serialize)]
pub struct StageReport {
    /// Stage name.
    pub name: String,
    /// Calls timed.
    pub calls: u64,
    /// Median.
    pub median_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Mean.
    pub mean_us: f64,
}

/// What `parla process` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Input file.
    pub mic: String,
    /// Far-end file, if any.
    pub far: Option<String>,
    /// Echo canceller mode (`off` without a far-end file).
    pub aec: String,
    /// Output file.
    pub out: String,
    /// Input (and output) rate.
    pub rate: u32,
    /// Channels in the input file (stereo is downmixed; the output is mono).
    pub input_channels: u16,
    /// Processing rate.
    pub processing_rate: u32,
    /// Input duration in seconds.
    pub seconds: f64,
    /// 10 ms frames processed.
    pub frames: u64,
    /// Chain delay compensated in the output, in milliseconds.
    pub chain_delay_ms: f64,
    /// Threads the chain ran on (1 or 2, `--threads`).
    pub threads: u8,
    /// Wall-clock processing time in seconds. One thread: the sum over blocks of the time
    /// spent in the chain (reading and writing files excluded). Two threads: the whole
    /// streaming run, reading and writing included (they overlap with the processing).
    pub wall_seconds: f64,
    /// Wall time over audio time (lower is better; 0.01 = 100x faster than real time).
    pub real_time_factor: f64,
    /// Per-stage time per call (with two threads, `total` is the sum of both threads' time
    /// per frame, waiting excluded).
    pub stages: Vec<StageReport>,
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.ns_strength) {
        bail!(
            "--ns-strength must be between 0 and 1, got {}",
            args.ns_strength
        );
    }
    let mic_name = match &args.mic {
        Some(p) => p.display().to_string(),
        None => format!("bundled {}", parla_sim::Bundled::Near.file_name()),
    };
    let mut mic = match &args.mic {
        Some(p) => wav::WavSource::open(p, "mic")?,
        None => wav::WavSource::from_samples(
            parla_sim::Bundled::Near.samples()?,
            parla_sim::RATE,
            wav::SampleFormat::Int(16),
            mic_name.clone(),
        ),
    };
    let mut far = match &args.far {
        Some(p) => {
            let far = wav::WavSource::open(p, "far-end")?;
            if far.rate != mic.rate {
                bail!(
                    "sample rates differ: mic '{}' is {} Hz but far-end '{}' is {} Hz; both must have the same rate",
                    mic_name,
                    mic.rate,
                    p.display(),
                    far.rate
                );
            }
            Some(far)
        }
        None => None,
    };
    if !args.no_ns && args.rate != 48_000 {
        bail!(
            "noise suppression runs at 48000 Hz only; use --rate 48000 or add --no-ns (got --rate {})",
            args.rate
        );
    }
    let cfg = SendChainConfig::new(mic.rate)
        .processing_rate(args.rate)
        .noise_suppression(!args.no_ns)
        .ns_strength(args.ns_strength)
        .resample_mode(if args.adjustable_resampler {
            ResampleMode::Adjustable
        } else {
            ResampleMode::Fixed
        });
    let mut chain = SendChain::new(cfg).context("cannot build the send chain")?;
    let aec = if far.is_some() {
        args.aec
    } else {
        AecMode::Off
    };
    if aec != AecMode::Off {
        let config = AecConfig::new()
            .mode(aec)
            .tuning(args.aec_tuning)
            .stream_delay_ms(args.delay_ms);
        chain
            .set_echo_canceller(Box::new(EchoCanceller::new(config)))
            .context("cannot start the echo canceller")?;
    }

    // The length comes from the WAV header, so the bar works while the file streams.
    let bar = indicatif::ProgressBar::new(mic.frames() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} processing [{bar:40}] {percent}% {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if mic.seconds() < 20.0 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let threads = args.threads.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if cores >= 2 && aec != AecMode::Off && !args.no_ns {
            2
        } else {
            1
        }
    });
    let mut out = wav::WavSink::create(&args.out, mic.rate, mic.format)?;
    let streamed = if threads >= 2 {
        stream_pipelined(&mut chain, &mut mic, far.as_mut(), &mut out, &bar)
    } else {
        stream(&mut chain, &mut mic, far.as_mut(), &mut out, &bar)
    };
    let wall = match streamed {
        Ok(wall) => wall,
        Err(e) => {
            // No half-written output is left behind (best effort: the run's error is the one
            // to report).
            drop(out);
            let _ = std::fs::remove_file(&args.out);
            return Err(e);
        }
    };
    bar.finish_and_clear();
    out.finish()?;
    let wall = wall.as_secs_f64();

    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let report = Report {
        mic: mic_name.clone(),
        far: args.far.as_ref().map(|p| p.display().to_string()),
        aec: aec.to_string(),
        out: args.out.display().to_string(),
        rate: mic.rate,
        input_channels: mic.channels,
        processing_rate: args.rate,
        seconds: mic.seconds(),
        frames: chain.frames_processed(),
        chain_delay_ms: chain.latency_seconds() * 1e3,
        threads,
        wall_seconds: wall,
        real_time_factor: wall / mic.seconds(),
        stages: chain
            .timings()
            .iter()
            .map(|t| StageReport {
                name: t.name.to_string(),
                calls: t.histogram.count(),
                median_us: us(t.histogram.quantile(0.5)),
                p99_us: us(t.histogram.quantile(0.99)),
                p999_us: us(t.histogram.quantile(0.999)),
                mean_us: us(t.histogram.mean()),
            })
            .collect(),
    };
    print_summary(&report);
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write report '{}'", path.display()))?;
    }
    Ok(())
}

/// Run the whole of `mic` (and `far`) through the chain block by block (10 ms at a time, so
/// memory does not grow with the file's length) into `out`; returns the time spent in the chain.
fn stream(
    chain: &mut SendChain,
    mic: &mut wav::WavSource,
    mut far: Option<&mut wav::WavSource>,
    out: &mut wav::WavSink,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<std::time::Duration> {
    let mut wall = std::time::Duration::ZERO;
    let mut run = chain.offline(mic.frames());
    let mut mic_block = vec![0.0f32; run.block_len()];
    let mut far_block = vec![0.0f32; run.block_len()];
    while run.next_block_len() > 0 {
        let n = run.next_block_len();
        let (mic, far) = read_block(mic, far.as_deref_mut(), &mut mic_block, &mut far_block, n)?;
        let started = Instant::now();
        let block = run.push(mic, far).context("processing failed")?;
        wall += started.elapsed();
        out.write(block)?;
        bar.set_position(run.input_done() as u64);
    }
    let started = Instant::now();
    let block = run.finish().context("processing failed")?;
    wall += started.elapsed();
    out.write(block)?;
    Ok(wall)
}

/// A pipelined run's first thread stopped because the second one did (whose error is the one
/// to report).
#[derive(Debug)]
struct BackGone;

impl std::fmt::Display for BackGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the noise-suppression thread stopped")
    }
}

impl std::error::Error for BackGone {}

/// As [`stream`], on two threads: this thread waits while one thread reads the files and runs
/// the input resampler and the echo canceller ([`OfflineFront`]) and another runs the rest of
/// the chain and writes the output ([`OfflineBack`]); [`BATCHES`] recycled batches of up to
/// [`BATCH_FRAMES`] 10 ms frames go back and forth over two bounded queues, so nothing is
/// allocated per frame and memory does not grow with the file. The output is the one-thread run's, byte for byte (the same
/// frames through the same code in the same order). Returns the wall time of the whole run.
/// An error in either thread stops both; a panic in either becomes an error.
fn stream_pipelined(
    chain: &mut SendChain,
    mic: &mut wav::WavSource,
    far: Option<&mut wav::WavSource>,
    out: &mut wav::WavSink,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<std::time::Duration> {
    let started = Instant::now();
    let (mut front, mut back) = chain.offline_split(mic.frames());
    let (to_back, from_front) = bounded::<Batch>(BATCHES);
    let (to_front, from_back) = bounded::<Batch>(BATCHES);
    let complete = AtomicBool::new(false);
    let complete = &complete;
    let (front_result, back_result) = std::thread::scope(|s| {
        let front = std::thread::Builder::new()
            .name("parla-process-aec".into())
            .spawn_scoped(s, move || {
                run_front(&mut front, mic, far, bar, to_back, from_back, complete)
            });
        let back = std::thread::Builder::new()
            .name("parla-process-ns".into())
            .spawn_scoped(s, move || {
                run_back(&mut back, out, from_front, to_front, complete)
            });
        (
            joined(front, "echo-canceller"),
            joined(back, "noise-suppression"),
        )
    });
    match (front_result, back_result) {
        // The first thread's own failure (a truncated file, a stage) is the cause.
        (Err(e), _) if !e.is::<BackGone>() => Err(e),
        (_, Err(e)) => Err(e),
        (Err(e), Ok(())) => Err(e),
        (Ok(()), Ok(())) => Ok(started.elapsed()),
    }
}

/// The result of a pipelined run's thread, a failure to start it or a panic turned into an
/// error.
fn joined(
    handle: std::io::Result<std::thread::ScopedJoinHandle<'_, anyhow::Result<()>>>,
    what: &str,
) -> anyhow::Result<()> {
    let handle = handle.with_context(|| format!("cannot start the {what} thread"))?;
    match handle.join() {
        Ok(result) => result,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            bail!("the {what} thread panicked: {msg}")
        }
    }
}

/// Frames handed from one thread of [`stream_pipelined`] to the other: the first `len` of
/// `frames` (which are recycled with the batch).
struct Batch {
    frames: Vec<SplitFrame>,
    len: usize,
}

/// The first thread of [`stream_pipelined`]: read the files block by block, run the echo
/// canceller, hand the frames on in batches; after the last block, flush the chain's delay one
/// block of silence at a time until the second thread has the whole output (the same blocks
/// the one-thread run pushes).
fn run_front(
    front: &mut OfflineFront<'_>,
    mic: &mut wav::WavSource,
    mut far: Option<&mut wav::WavSource>,
    bar: &indicatif::ProgressBar,
    to_back: Sender<Batch>,
    from_back: Receiver<Batch>,
    complete: &AtomicBool,
) -> anyhow::Result<()> {
    let mut free: Vec<Batch> = (0..BATCHES)
        .map(|_| Batch {
            frames: (0..BATCH_FRAMES).map(|_| front.new_frame()).collect(),
            len: 0,
        })
        .collect();
    let mut batch = free.pop().context("no batch")?;
    let mut mic_block = vec![0.0f32; front.block_len()];
    let mut far_block = vec![0.0f32; front.block_len()];
    // Hand `batch` over (if it holds frames) and take a free one.
    let send = |batch: &mut Batch, free: &mut Vec<Batch>| -> anyhow::Result<()> {
        if batch.len > 0 {
            let next = match free.pop() {
                Some(b) => b,
                None => from_back.recv().map_err(|_| BackGone)?,
            };
            to_back
                .send(std::mem::replace(batch, next))
                .map_err(|_| BackGone)?;
            batch.len = 0;
        }
        Ok(())
    };
    // Run the echo canceller on every frame the last block completed, sending full batches.
    let run_ready = |front: &mut OfflineFront<'_>, batch: &mut Batch, free: &mut Vec<Batch>| {
        while front
            .next_frame(&mut batch.frames[batch.len])
            .context("processing failed")?
        {
            batch.len += 1;
            if batch.len == BATCH_FRAMES {
                send(batch, free)?;
            }
        }
        anyhow::Ok(())
    };
    while front.next_block_len() > 0 {
        let n = front.next_block_len();
        let (mic, far) = read_block(mic, far.as_deref_mut(), &mut mic_block, &mut far_block, n)?;
        front.push(mic, far).context("processing failed")?;
        run_ready(front, &mut batch, &mut free)?;
        bar.set_position(front.input_done() as u64);
    }
    loop {
        send(&mut batch, &mut free)?;
        // Wait until the second thread has run every frame sent, then see if it needs more.
        while free.len() + 1 < BATCHES {
            free.push(from_back.recv().map_err(|_| BackGone)?);
        }
        if complete.load(Ordering::Acquire) || !front.push_silence().context("processing failed")? {
            return Ok(());
        }
        run_ready(front, &mut batch, &mut free)?;
    }
}

/// The second thread of [`stream_pipelined`]: run the rest of the chain on each frame, write
/// the aligned output, hand the batch back; ends when the first thread stops sending.
fn run_back(
    back: &mut OfflineBack<'_>,
    out: &mut wav::WavSink,
    from_front: Receiver<Batch>,
    to_front: Sender<Batch>,
    complete: &AtomicBool,
) -> anyhow::Result<()> {
    while let Ok(mut batch) = from_front.recv() {
        for frame in &mut batch.frames[..batch.len] {
            out.write(back.push_frame(frame).context("processing failed")?)?;
        }
        complete.store(back.is_complete(), Ordering::Release);
        // The first thread may have stopped already (an error it reports itself).
        let _ = to_front.send(batch);
    }
    Ok(())
}

/// Read the next `n` frames of `mic` into `mic_block` and of `far`, if any, into `far_block`;
/// returns them (the far end's stretch is short, or empty, once the far end has ended: the
/// chain pads it with silence).
fn read_block<'b>(
    mic: &mut wav::WavSource,
    far: Option<&mut wav::WavSource>,
    mic_block: &'b mut [f32],
    far_block: &'b mut [f32],
    n: usize,
) -> anyhow::Result<(&'b [f32], Option<&'b [f32]>)> {
    if mic.read(&mut mic_block[..n])? != n {
        bail!("the mic file ended before the length its header gives");
    }
    let far = match far {
        Some(f) => {
            let m = f.read(&mut far_block[..n])?;
            Some(&far_block[..m])
        }
        None => None,
    };
    Ok((&mic_block[..n], far))
}

fn print_summary(r: &Report) {
    println!(
        "processed {:.2} s of audio at {} Hz ({} frames of 10 ms at {} Hz), echo canceller {}, chain delay {:.2} ms (compensated), {} thread{}",
        r.seconds,
        r.rate,
        r.frames,
        r.processing_rate,
        r.aec,
        r.chain_delay_ms,
        r.threads,
        if r.threads == 1 { "" } else { "s" }
    );
    println!(
        "{:<14} {:>8} {:>10} {:>10} {:>10}",
        "stage", "calls", "median us", "p99 us", "p99.9 us"
    );
    for s in &r.stages {
        println!(
            "{:<14} {:>8} {:>10.1} {:>10.1} {:>10.1}",
            s.name, s.calls, s.median_us, s.p99_us, s.p999_us
        );
    }
    println!(
        "wall {:.3} s, real-time factor {:.4} ({:.0}x faster than real time)",
        r.wall_seconds,
        r.real_time_factor,
        1.0 / r.real_time_factor.max(1e-9)
    );
    println!("output written to {}", r.out);
}
