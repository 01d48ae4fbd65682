//! `parla call`: the product's main job. Two call endpoints in one process, each with its send
//! and receive pipelines, end-to-end encrypted after a real X25519 key agreement, talking over a
//! simulated network, each with its loudspeaker echoing into its own microphone.
//!
//! - Default: both endpoints are sans-IO [`MediaCore`]s driven by a simulated clock in 10 ms
//!   ticks, as fast as the CPU allows; everything is seeded, so a seed reproduces the network,
//!   the rooms and the stream identifiers (the X25519 keys come from the OS random source).
//! - `--realtime`: two threaded [`Call`]s in app-owned mode, paced by the wall clock: a pacing
//!   loop pushes microphone and pulls speaker frames every 10 ms and moves packets through the
//!   same network every millisecond.
//!
//! The report's figures are all measured from the signals and the counters (see
//! `docs/CALL.md`): mouth-to-ear delay by correlating the talker's clean input with the
//! listener's speaker output, ERLE from each side's microphone and what it sends, loss and
//! concealment from the network and the receivers' counters.

mod analysis;
mod network;
mod room;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use parla_core::MediaTime;
use parla_engine::{
    AecMode, AecTuning, AudioMode, Call, CallConfig, CallKeys, CallStats, KeyAgreement, MediaCore,
    StageCpu, StreamIds,
};
use parla_netsim::PacketRecord;
use parla_netsim::scenario::LinkConfig;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use analysis::{DelayReport, EchoFigures, SendTap};
use network::{NetPath, NetworkSpec, PathCounts};
use room::{EchoPath, RoomConfig};

/// The processing and codec rate of the simulated devices.
const RATE: u32 = 48_000;
/// Samples per 10 ms.
const FRAME: usize = 480;

/// Arguments of `parla call`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The simulated network (see the list below).
    #[arg(long, default_value = network::DEFAULT_NETWORK, conflicts_with = "trace", long_help = network::network_help())]
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
    /// Output folder for heard_a.wav, heard_b.wav, report.json and report.txt.
    #[arg(long, default_value = "out/call")]
    pub out: PathBuf,
    /// Pace the call by the wall clock with two threaded engines (app-owned audio).
    #[arg(long)]
    pub realtime: bool,
    /// Echo canceller: aec3, mobile (AECM) or off.
    #[arg(long, default_value = "aec3")]
    pub aec: AecMode,
    /// AEC3 tuning: library (WebRTC's own, the default) or near-end (full duplex: keeps the
    /// near end while both talk; docs/AEC.md).
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
    /// The jitter buffer's low-delay preset.
    #[arg(long)]
    pub low_delay: bool,
    /// Where the shared data lives (link traces of named link networks; default:
    /// `PARLA_SHARED_DIR`, else `../shared`).
    #[arg(long)]
    pub shared: Option<PathBuf>,
    /// The clean speech of A's microphone.
    #[arg(long, default_value = "samples/near_speech_clean.wav")]
    pub talker_a: PathBuf,
    /// The clean speech of B's microphone.
    #[arg(long, default_value = "samples/far_speech_clean.wav")]
    pub talker_b: PathBuf,
}

/// CPU time of one stage per frame, microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Cpu {
    /// Median.
    pub median_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Frames (or packets) measured.
    pub frames: u64,
}

impl From<StageCpu> for Cpu {
    fn from(s: StageCpu) -> Self {
        Cpu {
            median_us: s.median_us,
            p99_us: s.p99_us,
            p999_us: s.p999_us,
            frames: s.frames,
        }
    }
}

/// One side's figures.
#[derive(Debug, Serialize)]
pub struct SideReport {
    /// "A" or "B".
    pub name: String,
    /// Echo figures.
    pub echo: EchoFigures,
    /// The simulated room's bulk echo delay (a parameter of the simulation, seeded), ms.
    pub room_bulk_delay_ms: f64,
    /// What the ERLE was measured on.
    pub erle_measured_on: String,
    /// The echo canceller's own delay estimate at the end, ms (-1: unknown).
    pub aec_delay_estimate_ms: i32,
    /// Packets the side sent.
    pub packets_sent: u64,
    /// CPU per stage (name, figures) in pipeline order.
    pub cpu: Vec<(String, Cpu)>,
}

/// What the listener's receive pipeline counted.
#[derive(Debug, Serialize)]
pub struct ReceiverReport {
    /// Packets handed to the listener.
    pub packets_received: u64,
    /// Packets that were not valid RTP for the call.
    pub packets_invalid: u64,
    /// Frames that authenticated.
    pub e2ee_accepted: u64,
    /// Frames rejected by authentication.
    pub e2ee_auth_failures: u64,
    /// Frames rejected as replays.
    pub e2ee_replays: u64,
    /// Frames with an unknown key.
    pub e2ee_unknown_key: u64,
    /// Frames with a malformed SFrame header.
    pub e2ee_malformed: u64,
    /// All rejected frames.
    pub e2ee_rejected: u64,
    /// Packets the jitter buffer declared lost.
    pub jitter_lost: u64,
    /// Packets that arrived too late to be played.
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Reordered arrivals.
    pub reordered: u64,
    /// Lost packets recovered from FEC.
    pub fec_recovered: u64,
    /// Samples played, 48 kHz.
    pub output_samples: u64,
    /// Concealed samples, 48 kHz.
    pub concealed_samples: u64,
    /// Concealed share of the played samples, percent.
    pub concealed_percent: f64,
    /// Concealment events.
    pub concealment_events: u64,
    /// Concealments of 150 ms or more.
    pub interruptions: u64,
    /// Mean packet wait in the jitter buffer as the engine reports it, ms (`CallStats`; the
    /// engine currently fills it only from a time-stamped jitter snapshot, see docs/CALL.md).
    pub jitter_mean_wait_ms: f64,
    /// 95th percentile packet wait, ms.
    pub jitter_p95_wait_ms: f64,
    /// The jitter buffer's target delay at the end, ms.
    pub jitter_target_ms: f64,
    /// The jitter buffer's delay at the end, ms.
    pub jitter_delay_ms: f64,
    /// The jitter buffer's delay (audio buffered), sampled every 10 ms: mean, ms.
    pub buffer_delay_mean_ms: f64,
    /// Its 95th percentile, ms.
    pub buffer_delay_p95_ms: f64,
    /// Its maximum, ms.
    pub buffer_delay_max_ms: f64,
}

impl ReceiverReport {
    fn with_buffer_delay(mut self, samples: &[f64]) -> Self {
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        if let Some(&max) = v.last() {
            self.buffer_delay_mean_ms = v.iter().sum::<f64>() / v.len() as f64;
            self.buffer_delay_p95_ms = v[(v.len() * 95 / 100).min(v.len() - 1)];
            self.buffer_delay_max_ms = max;
        }
        self
    }
}

impl From<&CallStats> for ReceiverReport {
    fn from(s: &CallStats) -> Self {
        let rejected =
            s.e2ee_auth_failures + s.e2ee_replays + s.e2ee_unknown_key + s.e2ee_malformed;
        ReceiverReport {
            packets_received: s.packets_received,
            packets_invalid: s.packets_invalid,
            e2ee_accepted: s.e2ee_accepted,
            e2ee_auth_failures: s.e2ee_auth_failures,
            e2ee_replays: s.e2ee_replays,
            e2ee_unknown_key: s.e2ee_unknown_key,
            e2ee_malformed: s.e2ee_malformed,
            e2ee_rejected: rejected,
            jitter_lost: s.packets_lost,
            late: s.packets_late,
            duplicates: s.packets_duplicate,
            reordered: s.packets_reordered,
            fec_recovered: s.fec_recovered,
            output_samples: s.output_samples,
            concealed_samples: s.concealed_samples,
            concealed_percent: if s.output_samples > 0 {
                100.0 * s.concealed_samples as f64 / s.output_samples as f64
            } else {
                0.0
            },
            concealment_events: s.concealment_events,
            interruptions: s.interruptions,
            jitter_mean_wait_ms: s.jitter_mean_wait_ms,
            jitter_p95_wait_ms: s.jitter_p95_wait_ms,
            jitter_target_ms: s.jitter_target_ms,
            jitter_delay_ms: s.jitter_delay_ms,
            buffer_delay_mean_ms: 0.0,
            buffer_delay_p95_ms: 0.0,
            buffer_delay_max_ms: 0.0,
        }
    }
}

/// One direction of the call (talker to listener).
#[derive(Debug, Serialize)]
pub struct DirectionReport {
    /// "A->B" or "B->A".
    pub name: String,
    /// Mouth-to-ear delay.
    pub mouth_to_ear: DelayReport,
    /// What the network did.
    pub network: PathCounts,
    /// What the listener's receive pipeline counted.
    pub receiver: ReceiverReport,
}

/// End-to-end encryption figures.
#[derive(Debug, Serialize)]
pub struct E2eeReport {
    /// Encryption on.
    pub enabled: bool,
    /// A's safety code.
    pub safety_code_a: Option<String>,
    /// B's safety code.
    pub safety_code_b: Option<String>,
    /// Whether the two codes are equal.
    pub safety_codes_match: bool,
}

/// The whole report (`report.json`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// "simulated" or "realtime".
    pub mode: String,
    /// The network condition.
    pub network: String,
    /// Seed.
    pub seed: u64,
    /// Call length, seconds.
    pub seconds: f64,
    /// Echo canceller mode.
    pub aec: String,
    /// AEC3 tuning ("library" or "near-end").
    pub aec_tuning: String,
    /// Opus bitrate.
    pub bitrate_bps: u32,
    /// Audio per packet, ms.
    pub frame_ms: u32,
    /// Noise suppression.
    pub noise_suppression: bool,
    /// Tamper period, if any.
    pub tamper_every: Option<u64>,
    /// Wall time of the call itself (analysis and files excluded), seconds.
    pub wall_seconds: f64,
    /// Wall time over call time (below 1: faster than real time).
    pub real_time_factor: f64,
    /// Encryption.
    pub e2ee: E2eeReport,
    /// A talks, B listens.
    pub a_to_b: DirectionReport,
    /// B talks, A listens.
    pub b_to_a: DirectionReport,
    /// Side A.
    pub side_a: SideReport,
    /// Side B.
    pub side_b: SideReport,
}

/// The clean speech of both talkers over the call: they take turns (A, then B starting 0.5 s
/// before A ends, then a 0.5 s pause), so there is far-end single talk on each side for ERLE and
/// a little double talk.
fn conversation(a: &[f32], b: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
    let overlap = RATE as usize / 2;
    let gap = RATE as usize / 2;
    let mut xa = vec![0.0f32; n];
    let mut xb = vec![0.0f32; n];
    let mut t = 0usize;
    while t < n {
        for (i, &v) in a.iter().enumerate() {
            if let Some(s) = xa.get_mut(t + i) {
                *s = v;
            }
        }
        t = (t + a.len()).saturating_sub(overlap);
        for (i, &v) in b.iter().enumerate() {
            if let Some(s) = xb.get_mut(t + i) {
                *s = v;
            }
        }
        t += b.len() + gap;
    }
    (xa, xb)
}

/// Read a talker file (48 kHz, mono or stereo).
fn read_talker(path: &Path, what: &str) -> anyhow::Result<Vec<f32>> {
    let audio = crate::wav::read(path, what)?;
    if audio.rate != RATE {
        bail!(
            "{what} file '{}' is {} Hz; parla call takes 48000 Hz talkers",
            path.display(),
            audio.rate
        );
    }
    Ok(audio.samples)
}

/// Everything one simulated endpoint's surroundings record.
struct Side {
    near: Vec<f32>,
    bulk_ms: f64,
    room: EchoPath,
    mic: Vec<f32>,
    echo: Vec<f32>,
    /// The side's jitter-buffer delay after each 10 ms, ms.
    jb_delay: Vec<f64>,
    speaker: Vec<f32>,
    tap: Option<SendTap>,
}

impl Side {
    fn new(near: Vec<f32>, seed: u64, tap: Option<SendTap>) -> Self {
        let imp = room::impulse(
            &RoomConfig {
                rate: RATE,
                erl_db: 10.0,
            },
            seed,
        );
        let n = near.len();
        Side {
            near,
            bulk_ms: imp.bulk as f64 * 1000.0 / f64::from(RATE),
            room: EchoPath::new(&imp.taps, FRAME),
            mic: Vec::with_capacity(n),
            jb_delay: Vec::with_capacity(n / FRAME),
            echo: Vec::with_capacity(n),
            speaker: Vec::with_capacity(n),
            tap,
        }
    }

    /// The microphone frame `k`: the near talker plus the echo of what the speaker played.
    fn mic_frame(&mut self, k: usize, out: &mut [f32]) {
        let near = &self.near[k * FRAME..(k + 1) * FRAME];
        let echo = self.room.next_echo();
        for ((o, n), e) in out.iter_mut().zip(near).zip(echo) {
            *o = n + e;
        }
        self.echo.extend_from_slice(echo);
        self.mic.extend_from_slice(out);
    }

    fn played(&mut self, spk: &[f32]) {
        self.room.push_played(spk);
        self.speaker.extend_from_slice(spk);
    }
}

/// What a run of either driver hands to the report.
struct Outcome {
    wall: f64,
    stats_a: CallStats,
    stats_b: CallStats,
    path_ab: PathCounts,
    path_ba: PathCounts,
    safety_a: Option<String>,
    safety_b: Option<String>,
}

struct Setup<'a> {
    cfg: CallConfig,
    ticks: usize,
    rows_ab: &'a [PacketRecord],
    rows_ba: &'a [PacketRecord],
    tamper: Option<u64>,
    seed: u64,
    call_id: Vec<u8>,
}

fn agree(call_id: &[u8]) -> anyhow::Result<(CallKeys, CallKeys)> {
    // Real ephemeral keys from the OS random source, exchanged in process.
    let mut rng = rand::rng();
    let (ka, kb) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    let (blob_a, blob_b) = (ka.public_blob(), kb.public_blob());
    let keys_a = ka.finish(&blob_b, call_id).context("key agreement (A)")?;
    let keys_b = kb.finish(&blob_a, call_id).context("key agreement (B)")?;
    Ok((keys_a, keys_b))
}

/// The simulated driver: two `MediaCore`s on a 10 ms simulated clock.
fn run_simulated(s: &Setup<'_>, a: &mut Side, b: &mut Side) -> anyhow::Result<Outcome> {
    let (keys, safety) = if s.cfg.e2ee {
        let (ka, kb) = agree(&s.call_id)?;
        let sa = ka.safety_code().to_string();
        let sb = kb.safety_code().to_string();
        (Some((ka, kb)), (Some(sa), Some(sb)))
    } else {
        (None, (None, None))
    };
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x5151);
    let (ids_a, ids_b) = (StreamIds::random(&mut rng), StreamIds::random(&mut rng));
    let mut keys = keys;
    let mut core_a = MediaCore::new(&s.cfg, keys.as_mut().map(|k| &mut k.0), ids_a)
        .context("cannot build endpoint A")?;
    let mut core_b = MediaCore::new(&s.cfg, keys.as_mut().map(|k| &mut k.1), ids_b)
        .context("cannot build endpoint B")?;
    // Each tap decodes what a side sends with the keys its peer receives with.
    a.tap = Some(SendTap::new(
        keys.as_ref().map(|k| &k.1),
        s.cfg.cipher_suite,
    )?);
    b.tap = Some(SendTap::new(
        keys.as_ref().map(|k| &k.0),
        s.cfg.cipher_suite,
    )?);
    drop(keys);
    let mut ab = NetPath::new(s.rows_ab, s.tamper, s.seed);
    let mut ba = NetPath::new(s.rows_ba, s.tamper, s.seed.wrapping_add(1));
    let mut mic = vec![0.0f32; FRAME];
    let mut spk = vec![0.0f32; FRAME];
    let mut out: Vec<Vec<u8>> = Vec::new();
    let started = Instant::now();
    for k in 0..s.ticks {
        let now_us = k as u64 * 10_000;
        let now = MediaTime::from_micros(now_us);
        ab.deliver_due(now_us, |d, at| {
            core_b.receive_packet(d, MediaTime::from_micros(at));
        });
        ba.deliver_due(now_us, |d, at| {
            core_a.receive_packet(d, MediaTime::from_micros(at));
        });
        for (side, core, path) in [
            (&mut *a, &mut core_a, &mut ab),
            (&mut *b, &mut core_b, &mut ba),
        ] {
            side.mic_frame(k, &mut mic);
            core.tick(now, &mic, &mut spk, &mut |p: &[u8]| out.push(p.to_vec()))
                .context("tick")?;
            side.played(&spk);
            side.jb_delay.push(core.jitter_stats().current_delay_ms);
            // The frame's samples exist at the end of the frame: that is when its packets leave.
            for p in out.drain(..) {
                if let Some(t) = side.tap.as_mut() {
                    t.push(&p);
                }
                path.send(&p, now_us + 10_000);
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    Ok(Outcome {
        wall,
        stats_a: core_a.stats(),
        stats_b: core_b.stats(),
        path_ab: ab.finish(),
        path_ba: ba.finish(),
        safety_a: safety.0,
        safety_b: safety.1,
    })
}

/// The real-time driver: two threaded `Call`s in app-owned mode, paced by the wall clock.
fn run_realtime(s: &Setup<'_>, a: &mut Side, b: &mut Side) -> anyhow::Result<Outcome> {
    let call_a = Call::new(s.cfg).context("cannot create call A")?;
    let call_b = Call::new(s.cfg).context("cannot create call B")?;
    if s.cfg.e2ee {
        call_a.set_peer_key(&call_b.local_public_key(), &s.call_id)?;
        call_b.set_peer_key(&call_a.local_public_key(), &s.call_id)?;
    }
    let safety_a = call_a.safety_code().map(|c| c.to_string());
    let safety_b = call_b.safety_code().map(|c| c.to_string());
    call_a.start(AudioMode::AppOwned)?;
    call_b.start(AudioMode::AppOwned)?;
    let mut ab = NetPath::new(s.rows_ab, s.tamper, s.seed);
    let mut ba = NetPath::new(s.rows_ba, s.tamper, s.seed.wrapping_add(1));
    let mut mic = vec![0.0f32; FRAME];
    let mut spk = vec![0.0f32; FRAME];
    let mut buf = vec![0u8; parla_engine::MAX_PACKET + 64];
    let started = Instant::now();
    let mut k = 0usize;
    let mut step = 0u64;
    let flush = Duration::from_millis(300);
    let end = Duration::from_millis(s.ticks as u64 * 10);
    loop {
        let now = started.elapsed();
        let now_us = now.as_micros() as u64;
        // Audio: every 10 ms, as an app's audio callback would.
        while k < s.ticks && now_us >= k as u64 * 10_000 {
            for (side, call) in [(&mut *a, &call_a), (&mut *b, &call_b)] {
                let _ = call.pull_playout(&mut spk);
                side.mic_frame(k, &mut mic);
                side.played(&spk);
                let _ = call.push_capture(&mic);
                side.jb_delay.push(call.stats().jitter_delay_ms);
            }
            k += 1;
        }
        // Network: every millisecond.
        for (call, path) in [(&call_a, &mut ab), (&call_b, &mut ba)] {
            while let Some(n) = call.poll_packet(&mut buf)? {
                path.send(&buf[..n], now_us);
            }
        }
        ab.deliver_due(now_us, |d, _| {
            call_b.receive_packet(d);
        });
        ba.deliver_due(now_us, |d, _| {
            call_a.receive_packet(d);
        });
        if k >= s.ticks && now > end + flush {
            break;
        }
        step += 1;
        let next = Duration::from_millis(step);
        if let Some(wait) = next.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    call_a.stop()?;
    call_b.stop()?;
    Ok(Outcome {
        wall,
        stats_a: call_a.stats(),
        stats_b: call_b.stats(),
        path_ab: ab.finish(),
        path_ba: ba.finish(),
        safety_a,
        safety_b,
    })
}

fn cpu_list(s: &CallStats) -> Vec<(String, Cpu)> {
    let c = &s.cpu;
    [
        ("resample_in", c.resample_in),
        ("echo", c.echo),
        ("noise", c.noise),
        ("encode", c.encode),
        ("encrypt", c.encrypt),
        ("decrypt", c.decrypt),
        ("playout", c.playout),
        ("tick", c.tick),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), Cpu::from(v)))
    .collect()
}

/// The network condition's name and trace rows for both directions.
fn network_rows(
    args: &Args,
    interval_ms: u32,
) -> anyhow::Result<(String, Vec<PacketRecord>, Vec<PacketRecord>)> {
    let shared = crate::cmd::netsim::shared_dir(args.shared.as_deref());
    let (name, spec) = match &args.trace {
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
    };
    // A margin past the call so that every packet has a row.
    let secs = args.seconds + 2.0;
    let ab = spec.rows(secs, interval_ms, args.seed.wrapping_mul(2), &shared)?;
    let ba = spec.rows(secs, interval_ms, args.seed.wrapping_mul(2) + 1, &shared)?;
    Ok((name, ab, ba))
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !(args.seconds.is_finite() && (1.0..=3600.0).contains(&args.seconds)) {
        bail!("--seconds must be between 1 and 3600, got {}", args.seconds);
    }
    if args.tamper_every == Some(0) {
        bail!("--tamper-every must be at least 1");
    }
    let cfg = CallConfig {
        aec: args.aec,
        aec_tuning: args.aec_tuning,
        e2ee: !args.no_e2ee,
        bitrate_bps: args.bitrate,
        frame_ms: args.frame_ms,
        noise_suppression: !args.no_ns,
        jitter_low_delay: args.low_delay,
        ..CallConfig::default()
    };
    cfg.validate().context("invalid call settings")?;
    let (network, rows_ab, rows_ba) = network_rows(&args, args.frame_ms)?;
    let talk_a = read_talker(&args.talker_a, "talker A")?;
    let talk_b = read_talker(&args.talker_b, "talker B")?;
    let ticks = (args.seconds * 100.0).round() as usize;
    let n = ticks * FRAME;
    let (near_a, near_b) = conversation(&talk_a, &talk_b, n);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output folder '{}'", args.out.display()))?;

    let mut a = Side::new(near_a, args.seed.wrapping_mul(31).wrapping_add(7), None);
    let mut b = Side::new(near_b, args.seed.wrapping_mul(31).wrapping_add(8), None);
    let setup = Setup {
        cfg,
        ticks,
        rows_ab: &rows_ab,
        rows_ba: &rows_ba,
        tamper: args.tamper_every,
        seed: args.seed,
        call_id: format!("parla-call-{}", args.seed).into_bytes(),
    };
    let o = if args.realtime {
        run_realtime(&setup, &mut a, &mut b)?
    } else {
        run_simulated(&setup, &mut a, &mut b)?
    };

    // B's speaker plays what A said and vice versa.
    let heard_a = &a.speaker;
    let heard_b = &b.speaker;
    crate::wav::write(
        &args.out.join("heard_a.wav"),
        heard_a,
        RATE,
        crate::wav::SampleFormat::Int(16),
    )?;
    crate::wav::write(
        &args.out.join("heard_b.wav"),
        heard_b,
        RATE,
        crate::wav::SampleFormat::Int(16),
    )?;
    let side = |name: &str, s: &Side, peer: &Side, stats: &CallStats| {
        // The send signal: decoded by the tap, or (real time, where the engine's keys stay
        // inside the calls) what the peer's speaker played.
        let (sent, on) = match s.tap.as_ref() {
            Some(t) => (&t.pcm, "sent packets, decoded before the network"),
            None => (
                &peer.speaker,
                "the peer's speaker output (network effects included)",
            ),
        };
        SideReport {
            name: name.to_string(),
            echo: analysis::echo_figures(RATE, &s.mic, &s.echo, &s.near, &s.speaker, sent),
            room_bulk_delay_ms: s.bulk_ms,
            erle_measured_on: on.to_string(),
            aec_delay_estimate_ms: stats.echo_delay_ms,
            packets_sent: stats.packets_sent,
            cpu: cpu_list(stats),
        }
    };
    let report = Report {
        mode: if args.realtime {
            "realtime"
        } else {
            "simulated"
        }
        .to_string(),
        network,
        seed: args.seed,
        seconds: ticks as f64 / 100.0,
        aec: cfg.aec.to_string(),
        aec_tuning: cfg.aec_tuning.to_string(),
        bitrate_bps: cfg.bitrate_bps,
        frame_ms: cfg.frame_ms,
        noise_suppression: cfg.noise_suppression,
        tamper_every: args.tamper_every,
        wall_seconds: o.wall,
        real_time_factor: o.wall / (ticks as f64 / 100.0),
        e2ee: E2eeReport {
            enabled: cfg.e2ee,
            safety_codes_match: o.safety_a.is_some() && o.safety_a == o.safety_b,
            safety_code_a: o.safety_a.clone(),
            safety_code_b: o.safety_b.clone(),
        },
        a_to_b: DirectionReport {
            name: "A->B".into(),
            mouth_to_ear: analysis::mouth_to_ear(&a.near, heard_b, RATE),
            network: o.path_ab,
            receiver: ReceiverReport::from(&o.stats_b).with_buffer_delay(&b.jb_delay),
        },
        b_to_a: DirectionReport {
            name: "B->A".into(),
            mouth_to_ear: analysis::mouth_to_ear(&b.near, heard_a, RATE),
            network: o.path_ba,
            receiver: ReceiverReport::from(&o.stats_a).with_buffer_delay(&a.jb_delay),
        },
        side_a: side("A", &a, &b, &o.stats_a),
        side_b: side("B", &b, &a, &o.stats_b),
    };
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(args.out.join("report.json"), json + "\n")
        .with_context(|| format!("cannot write {}", args.out.join("report.json").display()))?;
    let text = summary(&report);
    std::fs::write(args.out.join("report.txt"), &text)
        .with_context(|| format!("cannot write {}", args.out.join("report.txt").display()))?;
    print!("{text}");
    Ok(())
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}{unit}"))
}

/// The readable summary (`report.txt`).
fn summary(r: &Report) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "parla call: {} s, {} mode, network {}, seed {}, aec {} ({} tuning), Opus {} kbit/s in {} \
         ms packets{}",
        r.seconds,
        r.mode,
        r.network,
        r.seed,
        r.aec,
        r.aec_tuning,
        r.bitrate_bps / 1000,
        r.frame_ms,
        r.tamper_every
            .map_or(String::new(), |n| format!(", tampering every {n}th packet"))
    );
    let _ = writeln!(
        s,
        "wall time {:.2} s, real-time factor {:.3}",
        r.wall_seconds, r.real_time_factor
    );
    if r.e2ee.enabled {
        let _ = writeln!(
            s,
            "end-to-end encryption: on; safety codes {}",
            if r.e2ee.safety_codes_match {
                "MATCH"
            } else {
                "DIFFER"
            }
        );
        let _ = writeln!(s, "  A: {}", r.e2ee.safety_code_a.as_deref().unwrap_or("-"));
        let _ = writeln!(s, "  B: {}", r.e2ee.safety_code_b.as_deref().unwrap_or("-"));
    } else {
        let _ = writeln!(s, "end-to-end encryption: OFF");
    }
    for d in [&r.a_to_b, &r.b_to_a] {
        let m = &d.mouth_to_ear;
        let n = &d.network;
        let rx = &d.receiver;
        let _ = writeln!(s, "\n{}", d.name);
        let _ = writeln!(
            s,
            "  mouth-to-ear: median {} (p10 {}, p90 {}) over {}/{} windows, median corr {}; global {} (corr {})",
            opt(m.median_ms, " ms"),
            opt(m.p10_ms, " ms"),
            opt(m.p90_ms, " ms"),
            m.windows_used,
            m.windows_active,
            m.median_corr.map_or("n/a".into(), |c| format!("{c:.2}")),
            opt(m.global_ms, " ms"),
            m.global_corr.map_or("n/a".into(), |c| format!("{c:.2}")),
        );
        let _ = writeln!(
            s,
            "  network: {} sent, {} lost ({:.2}%), {} duplicated, {} delivered, {} in flight at the end; one-way delay mean {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            n.sent,
            n.lost,
            if n.sent > 0 {
                100.0 * n.lost as f64 / n.sent as f64
            } else {
                0.0
            },
            n.duplicates,
            n.delivered,
            n.in_flight_at_end,
            n.mean_delay_ms,
            n.p95_delay_ms,
            n.max_delay_ms
        );
        let _ = writeln!(
            s,
            "  jitter buffer: {} lost, {} late, {} FEC-recovered; delay mean {:.1} ms, p95 {:.1} ms, max {:.1} ms; target {:.1} ms at the end",
            rx.jitter_lost,
            rx.late,
            rx.fec_recovered,
            rx.buffer_delay_mean_ms,
            rx.buffer_delay_p95_ms,
            rx.buffer_delay_max_ms,
            rx.jitter_target_ms
        );
        let _ = writeln!(
            s,
            "  concealment: {} samples ({:.2}% of {}), {} events, {} interruptions",
            rx.concealed_samples,
            rx.concealed_percent,
            rx.output_samples,
            rx.concealment_events,
            rx.interruptions
        );
        let _ = writeln!(
            s,
            "  e2ee: {} accepted, {} rejected ({} authentication, {} replay, {} unknown key, {} malformed); {} invalid packets; tampered {} sent / {} delivered",
            rx.e2ee_accepted,
            rx.e2ee_rejected,
            rx.e2ee_auth_failures,
            rx.e2ee_replays,
            rx.e2ee_unknown_key,
            rx.e2ee_malformed,
            rx.packets_invalid,
            n.tampered,
            n.tampered_delivered
        );
    }
    for side in [&r.side_a, &r.side_b] {
        let e = &side.echo;
        let _ = writeln!(s, "\nside {}", side.name);
        let _ = writeln!(
            s,
            "  echo: room bulk delay {:.1} ms, ERL {}, ERLE {} over {} single-talk frames (on {}), send path {}; double talk {} frames, level change {}; AEC delay estimate {} ms",
            side.room_bulk_delay_ms,
            opt(e.room_erl_db, " dB"),
            opt(e.erle_db, " dB"),
            e.single_talk_frames,
            side.erle_measured_on,
            opt(e.send_path_delay_ms, " ms"),
            e.double_talk_frames,
            opt(e.double_talk_level_change_db, " dB"),
            side.aec_delay_estimate_ms
        );
        let _ = writeln!(
            s,
            "  CPU per frame (us): stage median / p99 / p99.9 (frames)"
        );
        for (name, c) in &side.cpu {
            if c.frames > 0 {
                let _ = writeln!(
                    s,
                    "    {name:<12} {:>8.1} {:>8.1} {:>8.1} ({})",
                    c.median_us, c.p99_us, c.p999_us, c.frames
                );
            }
        }
    }
    s
}
