//! `parla call`: the product's main job. Two call endpoints in one process, end-to-end
//! encrypted, over a simulated network, each with its loudspeaker echoing into its own
//! microphone. The simulation and its measurements are `parla-sim`'s; this command parses the
//! arguments, runs it, writes the report files and prints the summary (docs/CALL.md).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use parla_engine::{AecMode, AecTuning, CallConfig, VideoConfig};
use parla_netsim::scenario::LinkConfig;
use parla_sim::{Bundled, LinkSpec, NetworkSpec, Pattern, SimConfig, SimVideo};

/// Arguments of `parla call`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The simulated network (see the list below).
    #[arg(long, default_value = parla_netsim::scenario::DEFAULT_SCENARIO, conflicts_with = "trace", long_help = parla_sim::network::network_help())]
    pub network: String,
    /// A Mahimahi link trace (one delivery opportunity per line, in ms) to push both directions
    /// through, instead of --network.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// With --trace: propagation delay added after the bottleneck, ms.
    #[arg(long, default_value_t = 20.0)]
    pub base_delay_ms: f64,
    /// With --trace: bursty cross traffic as a fraction of the link's mean capacity (0 for none).
    #[arg(long, default_value_t = 0.25)]
    pub cross_load: f64,
    /// Length of the call, seconds of audio.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Seed of the network, the rooms and the stream identifiers.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder for heard_a.wav, heard_b.wav, report.json and report.txt (and with
    /// --video, video.png: bitrate, picture size and decoded frames per second over the call).
    #[arg(long, default_value = "out/call")]
    pub out: PathBuf,
    /// Pace the call by the wall clock with two threaded engines (app-owned audio).
    #[arg(long)]
    pub realtime: bool,
    /// Echo canceller: aec3, mobile (AECM) or off.
    #[arg(long, default_value = "aec3")]
    pub aec: AecMode,
    /// AEC3 tuning: library (WebRTC's own, the default) or near-end (full duplex: keeps the
    /// near end while both talk) or duplex (the near-end suppressor with the library's
    /// filter); docs/AEC.md.
    #[arg(long, default_value = "library")]
    pub aec_tuning: AecTuning,
    /// Switch end-to-end encryption off (no key agreement).
    #[arg(long)]
    pub no_e2ee: bool,
    /// Flip a byte in every N-th packet in flight (both directions).
    #[arg(long)]
    pub tamper_every: Option<u64>,
    /// Opus bitrate, bits per second.
    #[arg(long, default_value_t = 32_000)]
    pub bitrate: u32,
    /// Audio per packet, ms (10, 20, 40 or 60).
    #[arg(long, default_value_t = 20)]
    pub frame_ms: u32,
    /// Switch noise suppression off.
    #[arg(long)]
    pub no_ns: bool,
    /// Switch automatic gain control off (AGC2 and the downward gain; docs/NS.md).
    #[arg(long)]
    pub no_agc: bool,
    /// Switch the send side's high-pass filter off.
    #[arg(long)]
    pub no_high_pass: bool,
    /// Switch congestion control off: no RTCP or transport feedback, the Opus bitrate, FEC
    /// (10 % expected loss) and packet length stay as configured (the fixed sender).
    #[arg(long)]
    pub no_cc: bool,
    /// The jitter buffer's low-delay preset.
    #[arg(long)]
    pub low_delay: bool,
    /// Where the shared data lives (link traces of named link networks; default:
    /// `PARLA_SHARED_DIR`, else `../shared`).
    #[arg(long)]
    pub shared: Option<PathBuf>,
    /// The clean speech of A's microphone (48 kHz WAV; default: the bundled
    /// samples/near_speech_clean.wav, built into the binary).
    #[arg(long)]
    pub talker_a: Option<PathBuf>,
    /// The clean speech of B's microphone (48 kHz WAV; default: the bundled
    /// samples/far_speech_clean.wav, built into the binary).
    #[arg(long)]
    pub talker_b: Option<PathBuf>,
    /// A reactive link in both directions instead of --network: a drop-tail bottleneck that
    /// fills with what the call sends, e.g. "rate=1500k,delay=40,loss=2%,step=10:300k,
    /// outage=5:500" (keys: rate, delay, loss, queue, step, outage).
    #[arg(long, conflicts_with = "trace")]
    pub link: Option<String>,
    /// Video both ways (simulated time): a moving test pattern or --video-input, encoded,
    /// encrypted, paced, repaired and decoded by the engine; the report gets a `video` block per
    /// direction.
    #[arg(long)]
    pub video: bool,
    /// Video codec.
    #[arg(long, value_enum, default_value_t = crate::cmd::rtp::CodecArg::H264, requires = "video")]
    pub video_codec: crate::cmd::rtp::CodecArg,
    /// Largest video size, WIDTHxHEIGHT (even; the engine may send less on a slow link).
    #[arg(long, default_value = "640x360", requires = "video")]
    pub video_size: String,
    /// Video frame rate.
    #[arg(long, default_value_t = 30, requires = "video")]
    pub video_fps: u32,
    /// The most the video may use, kbit/s.
    #[arg(long, default_value_t = 2500, requires = "video")]
    pub video_max_kbps: u32,
    /// The video bitrate to start at, kbit/s (default: the engine's).
    #[arg(long, requires = "video")]
    pub video_start_kbps: Option<u32>,
    /// A Y4M file (8-bit 4:2:0) both sides send instead of the test pattern (looped).
    #[arg(long, requires = "video")]
    pub video_input: Option<PathBuf>,
    /// The moving test pattern without --video-input: `pan` (the background pans as a camera
    /// sees it; quality is scored on this) or `stress` (a still checkerboard over a scrolling
    /// gradient: no motion compensation predicts it, a rate-control stress test).
    #[arg(long, value_enum, default_value_t = PatternArg::Pan, requires = "video", conflicts_with = "video_input")]
    pub video_pattern: PatternArg,
    /// Write what each side saw as Y4M (seen_by_a.y4m, seen_by_b.y4m in --out; large: 1.4 MB a
    /// frame at 720p).
    #[arg(long, requires = "video")]
    pub video_out: bool,
}

impl From<crate::cmd::rtp::CodecArg> for parla_engine::VideoCodec {
    fn from(c: crate::cmd::rtp::CodecArg) -> Self {
        match c {
            crate::cmd::rtp::CodecArg::H264 => parla_engine::VideoCodec::H264,
            crate::cmd::rtp::CodecArg::Vp8 => parla_engine::VideoCodec::Vp8,
        }
    }
}

/// `--video-pattern`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PatternArg {
    /// The background pans under a travelling box.
    Pan,
    /// A still checkerboard over a scrolling gradient.
    Stress,
}

impl From<PatternArg> for Pattern {
    fn from(p: PatternArg) -> Self {
        match p {
            PatternArg::Pan => Pattern::Pan,
            PatternArg::Stress => Pattern::Stress,
        }
    }
}

/// The video of the call, from the arguments.
fn video(args: &Args) -> anyhow::Result<Option<SimVideo>> {
    if !args.video {
        return Ok(None);
    }
    let (w, h) = crate::cmd::encode::parse_size(&args.video_size)
        .with_context(|| format!("--video-size '{}'", args.video_size))?;
    let mut config = VideoConfig::new(args.video_codec.into(), w, h, args.video_fps);
    config.max_bitrate_bps = args.video_max_kbps.saturating_mul(1000);
    if let Some(k) = args.video_start_kbps {
        config.start_bitrate_bps = k.saturating_mul(1000);
    }
    config.start_bitrate_bps = config.start_bitrate_bps.min(config.max_bitrate_bps);
    if let Some(p) = &args.video_input
        && !p.is_file()
    {
        bail!("video input file '{}' not found", p.display());
    }
    let seen = |name: &str| args.video_out.then(|| args.out.join(name));
    Ok(Some(SimVideo {
        config,
        input: args.video_input.clone(),
        pattern: args.video_pattern.into(),
        seen_by_a: seen("seen_by_a.y4m"),
        seen_by_b: seen("seen_by_b.y4m"),
    }))
}

/// A talker's speech: the file given, else the bundled recording.
fn talker(path: Option<&Path>, bundled: Bundled, what: &str) -> anyhow::Result<Vec<f32>> {
    let Some(path) = path else {
        return Ok(bundled.samples()?);
    };
    let audio = crate::wav::read(path, what)?;
    if audio.rate != parla_sim::RATE {
        bail!(
            "{what} file '{}' is {} Hz; parla call takes 48000 Hz talkers",
            path.display(),
            audio.rate
        );
    }
    Ok(audio.samples)
}

/// The network condition's name and how to make its traces.
fn network(args: &Args) -> anyhow::Result<(String, NetworkSpec)> {
    Ok(match &args.trace {
        Some(path) => {
            if !path.is_file() {
                bail!("link trace file '{}' not found", path.display());
            }
            if !(0.0..=10_000.0).contains(&args.base_delay_ms) {
                bail!("--base-delay-ms must be between 0 and 10000");
            }
            (
                format!("trace {}", path.display()),
                NetworkSpec::Trace {
                    path: path.clone(),
                    cfg: LinkConfig {
                        base_delay_ms: args.base_delay_ms,
                        cross_load: args.cross_load,
                        ..LinkConfig::default()
                    },
                },
            )
        }
        None => (args.network.clone(), NetworkSpec::named(&args.network)?),
    })
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let call = CallConfig {
        aec: args.aec,
        aec_tuning: args.aec_tuning,
        e2ee: !args.no_e2ee,
        bitrate_bps: args.bitrate,
        frame_ms: args.frame_ms,
        noise_suppression: !args.no_ns,
        agc: !args.no_agc,
        high_pass: !args.no_high_pass,
        jitter_low_delay: args.low_delay,
        congestion_control: !args.no_cc,
        ..CallConfig::default()
    };
    call.validate().context("invalid call settings")?;
    let (network_name, network) = network(&args)?;
    let link = args.link.as_deref().map(LinkSpec::parse).transpose()?;
    let video = video(&args)?;
    if video.is_some() && args.no_cc {
        bail!(
            "--video needs congestion control (the allocator drives the video encoder): drop --no-cc"
        );
    }
    let cfg = SimConfig {
        call,
        network,
        network_name,
        shared: crate::cmd::netsim::shared_dir(args.shared.as_deref()),
        seconds: args.seconds,
        seed: args.seed,
        realtime: args.realtime,
        tamper_every: args.tamper_every,
        talker_a: talker(args.talker_a.as_deref(), Bundled::Near, "talker A")?,
        talker_b: talker(args.talker_b.as_deref(), Bundled::Far, "talker B")?,
        heard_a: Some(args.out.join("heard_a.wav")),
        heard_b: Some(args.out.join("heard_b.wav")),
        link,
        video,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output folder '{}'", args.out.display()))?;
    let report = parla_sim::run(&cfg)?;
    let json = serde_json::to_string_pretty(&report)?;
    let path = args.out.join("report.json");
    std::fs::write(&path, json + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    let directions: Vec<(&str, &parla_sim::video::VideoReport)> = [
        ("A to B", report.a_to_b.video.as_ref()),
        ("B to A", report.b_to_a.video.as_ref()),
    ]
    .into_iter()
    .filter_map(|(n, v)| Some((n, v?)))
    .collect();
    if !directions.is_empty() {
        let path = args.out.join("video.png");
        parla_harness::plots::video_call(&directions, &path)
            .with_context(|| format!("cannot draw {}", path.display()))?;
    }
    let text = parla_sim::report::summary(&report);
    let path = args.out.join("report.txt");
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    print!("{text}");
    Ok(())
}
