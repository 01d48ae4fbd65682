//! The call drivers: two endpoints on a simulated clock ([`MediaCore`]s ticked in 10 ms steps
//! as fast as the CPU allows) or in real time (two threaded [`Call`]s in app-owned mode, paced
//! by the wall clock), each with its room, its microphone and its analyses.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parla_core::MediaTime;
use parla_engine::{
    AudioMode, Call, CallConfig, CallKeys, CallStats, KeyAgreement, MediaCore, StreamIds,
};
use parla_metrics::echo::room::{EchoPath, Room, Tail, dense, impulse_response_with};
use parla_netsim::PacketRecord;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::analysis::{EchoAnalysis, MouthToEar, SendTap};
use crate::error::{SimError, StepContext as _};
use crate::link::{DirPath, LinkPath};
use crate::network::{NetPath, NetworkSpec, PathCounts};
use crate::report::{
    BweReport, BweSample, DirectionReport, E2eeReport, ReceiverReport, Report, SideReport, cpu_list,
};
use crate::talk::{Conversation, RATE, Who};
use crate::video::{VideoEnd, VideoReport};

/// Samples per 10 ms.
pub const FRAME: usize = 480;

/// Everything a simulated call needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The endpoints' settings (both ends alike).
    pub call: CallConfig,
    /// The network, the same in both directions (independent seeds).
    pub network: NetworkSpec,
    /// Its name in the report.
    pub network_name: String,
    /// Where the shared data lives (link traces of named link conditions).
    pub shared: PathBuf,
    /// Length of the call, seconds (1 to 3600).
    pub seconds: f64,
    /// Seed of the network, the rooms and the stream identifiers.
    pub seed: u64,
    /// Pace the call by the wall clock with two threaded engines.
    pub realtime: bool,
    /// Flip a byte in every N-th packet in flight (both directions).
    pub tamper_every: Option<u64>,
    /// A's clean speech (48 kHz mono, at least 1 s).
    pub talker_a: Vec<f32>,
    /// B's clean speech.
    pub talker_b: Vec<f32>,
    /// Where to write what A's speaker played (16-bit WAV, written as the call goes).
    pub heard_a: Option<PathBuf>,
    /// Where to write what B's speaker played.
    pub heard_b: Option<PathBuf>,
    /// A reactive link (capacity, delay, loss, queue) in both directions instead of `network`
    /// (independent seeds); `network_name` is ignored then.
    pub link: Option<crate::LinkSpec>,
    /// Video both ways (simulated time only): added to `call` as its `video`.
    pub video: Option<crate::SimVideo>,
}

impl SimConfig {
    /// A call of `seconds` over `network` with the bundled talkers and default endpoints.
    ///
    /// # Errors
    /// [`SimError`] for an unknown network or if the bundled speech does not decode.
    pub fn new(network: &str, seconds: f64) -> Result<Self, SimError> {
        Ok(SimConfig {
            call: CallConfig::default(),
            network: NetworkSpec::named(network)?,
            network_name: network.to_string(),
            shared: PathBuf::from("../shared"),
            seconds,
            seed: 1,
            realtime: false,
            tamper_every: None,
            talker_a: crate::talk::Bundled::Near.samples()?,
            talker_b: crate::talk::Bundled::Far.samples()?,
            heard_a: None,
            heard_b: None,
            link: None,
            video: None,
        })
    }
}

impl SimConfig {
    /// The per-packet traces the call replays, A to B and B to A: [`run`] builds the same ones
    /// (one row per packet of `call.frame_ms`, for the call plus a 2 s margin, seeded from
    /// `seed`), so a caller can hash or inspect exactly what the network will do.
    ///
    /// # Errors
    /// [`SimError`] when a trace file is missing or bad, or the parameters are out of range.
    pub fn network_rows(&self) -> Result<(Vec<PacketRecord>, Vec<PacketRecord>), SimError> {
        // A margin past the call so that every packet has a row.
        let secs = self.seconds + 2.0;
        let rows = |seed| {
            self.network
                .rows(secs, self.call.frame_ms, seed, &self.shared)
        };
        Ok((
            rows(self.seed.wrapping_mul(2))?,
            rows(self.seed.wrapping_mul(2) + 1)?,
        ))
    }
}

/// A WAV file written 10 ms at a time.
struct WavOut {
    path: PathBuf,
    w: hound::WavWriter<BufWriter<std::fs::File>>,
}

impl WavOut {
    fn create(path: &Path) -> Result<Self, SimError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let w = hound::WavWriter::create(path, spec).map_err(|source| SimError::Wav {
            what: format!("cannot create output file '{}'", path.display()),
            source,
        })?;
        Ok(WavOut {
            path: path.to_path_buf(),
            w,
        })
    }

    fn write(&mut self, x: &[f32]) -> Result<(), SimError> {
        for &s in x {
            let v = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
            self.w.write_sample(v).map_err(|source| SimError::Wav {
                what: format!("cannot write '{}'", self.path.display()),
                source,
            })?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), SimError> {
        let path = self.path;
        self.w.finalize().map_err(|source| SimError::Wav {
            what: format!("cannot finish output file '{}'", path.display()),
            source,
        })
    }
}

/// One endpoint's surroundings: its talker, room, microphone, speaker and analyses.
struct Side {
    who: Who,
    bulk_ms: f64,
    room: EchoPath,
    near: Vec<f32>,
    echo: Vec<f32>,
    mic: Vec<f32>,
    spk: Vec<f32>,
    /// The jitter-buffer delay after each 10 ms, ms (8 bytes per 10 ms: 2.9 MB an hour).
    jb_delay: Vec<f64>,
    /// Congestion control, one sample per second.
    bwe: Vec<BweSample>,
    /// Bytes sent (with IP/UDP) at the last sample.
    bytes_at_sample: u64,
    /// Bytes sent so far, with IP/UDP.
    sent_bytes: u64,
    echo_an: EchoAnalysis,
    tap: Option<SendTap>,
    wav: Option<WavOut>,
}

impl Side {
    fn new(
        who: Who,
        conv: &Conversation,
        n: usize,
        seed: u64,
        wav: Option<&Path>,
    ) -> Result<Self, SimError> {
        // The room: a bulk delay of 30-60 ms (loudspeaker-to-microphone distance plus the
        // device's buffering), RT60 200 ms over 150 ms with a dense tail, about 10 dB echo return
        // loss.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let room = Room {
            bulk_delay_ms: 30.0 + 30.0 * rng.random::<f64>(),
            rt60_ms: 200.0,
            length_ms: 150.0,
            gain_db: -10.0,
        };
        let taps = dense(&impulse_response_with(RATE, &room, Tail::Dense, &mut rng));
        let bulk = taps.iter().position(|&v| v != 0.0).unwrap_or(0);
        Ok(Side {
            who,
            bulk_ms: bulk as f64 * 1000.0 / f64::from(RATE),
            room: EchoPath::new(&taps, FRAME),
            near: vec![0.0; FRAME],
            echo: vec![0.0; FRAME],
            mic: vec![0.0; FRAME],
            spk: vec![0.0; FRAME],
            jb_delay: Vec::with_capacity(n / FRAME),
            bwe: Vec::new(),
            bytes_at_sample: 0,
            sent_bytes: 0,
            echo_an: EchoAnalysis::new(RATE, conv.peak_frame_db(who, n, FRAME)),
            tap: None,
            wav: wav.map(WavOut::create).transpose()?,
        })
    }

    /// The microphone frame `k`: the near talker plus the echo of what the speaker played.
    fn mic_frame(&mut self, conv: &Conversation, k: usize) {
        conv.fill(self.who, k * FRAME, &mut self.near);
        self.echo.copy_from_slice(self.room.next_echo());
        for ((o, n), e) in self.mic.iter_mut().zip(&self.near).zip(&self.echo) {
            *o = n + e;
        }
    }

    /// The speaker played `self.spk`.
    fn played(&mut self) -> Result<(), SimError> {
        self.room.push_played(&self.spk);
        self.echo_an
            .push_frame(&self.mic, &self.echo, &self.near, &self.spk);
        if let Some(w) = self.wav.as_mut() {
            w.write(&self.spk)?;
        }
        Ok(())
    }

    /// Counts a packet of `len` bytes this side sent (plus 28 bytes of IPv4/UDP, as congestion
    /// control counts them).
    fn count_sent(&mut self, len: usize) {
        self.sent_bytes += len as u64 + 28;
    }

    /// The once-a-second congestion-control sample at tick `k`.
    fn sample_bwe(&mut self, k: usize, s: &CallStats) {
        let bytes = self.sent_bytes - self.bytes_at_sample;
        self.bytes_at_sample = self.sent_bytes;
        self.bwe.push(BweSample {
            t_s: k as f64 / 100.0,
            estimate_bps: s.bwe_target_bps,
            sent_bps: bytes as f64 * 8.0,
            audio_bitrate_bps: s.audio_bitrate_bps,
            audio_fec: s.audio_fec,
            audio_expected_loss_percent: s.audio_expected_loss_percent,
            audio_frame_ms: s.audio_frame_ms,
            loss_percent: s.bwe_loss_percent,
        });
    }

    /// A packet this side sent, seen by its tap.
    fn tapped(&mut self, packet: &[u8], audio_pt: u8) {
        self.count_sent(packet.len());
        // RTCP and video carry no audio.
        if !is_audio(packet, audio_pt) {
            return;
        }
        if let Some(t) = self.tap.as_mut() {
            let pcm = t.decode(packet);
            self.echo_an.push_sent(pcm);
        }
    }
}

/// Whether `packet` is an RTP packet of the audio payload type `pt` (not RTCP, not video).
fn is_audio(packet: &[u8], pt: u8) -> bool {
    packet.len() > 1 && packet[1] & 0x7f == pt && !parla_engine::is_rtcp(packet)
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
    /// Video as A and B received it.
    video_ab: Option<VideoReport>,
    video_ba: Option<VideoReport>,
}

/// The two sides and the per-direction analyses, advanced together.
struct World {
    conv: Conversation,
    a: Side,
    b: Side,
    /// A talks, B listens; and the other way.
    ab: MouthToEar,
    ba: MouthToEar,
}

impl World {
    /// After both sides played tick `k`: the mouth-to-ear analyses.
    fn heard(&mut self, realtime: bool) {
        self.ab.push(&self.a.near, &self.b.spk);
        self.ba.push(&self.b.near, &self.a.spk);
        if realtime {
            // The keys stay inside the calls: what each side sent is what its peer played.
            self.a.echo_an.push_sent(&self.b.spk);
            self.b.echo_an.push_sent(&self.a.spk);
        }
    }
}

fn agree(call_id: &[u8]) -> Result<(CallKeys, CallKeys), SimError> {
    // Real ephemeral keys from the OS random source, exchanged in process.
    let mut rng = rand::rng();
    let (ka, kb) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    let (blob_a, blob_b) = (ka.public_blob(), kb.public_blob());
    let keys_a = ka.finish(&blob_b, call_id).step("key agreement (A)")?;
    let keys_b = kb.finish(&blob_a, call_id).step("key agreement (B)")?;
    Ok((keys_a, keys_b))
}

struct Setup<'a> {
    cfg: CallConfig,
    ticks: usize,
    ab: DirPath,
    ba: DirPath,
    video: Option<&'a crate::SimVideo>,
    /// The link's outage (start, end), ms.
    outage_ms: Option<(f64, f64)>,
    /// When the link's capacity steps, s.
    step_s: Option<f64>,
    seed: u64,
    call_id: &'a [u8],
}

/// The simulated driver: two `MediaCore`s on a 10 ms simulated clock.
fn run_simulated(mut s: Setup<'_>, w: &mut World) -> Result<Outcome, SimError> {
    let (mut keys, safety) = if s.cfg.e2ee {
        let (ka, kb) = agree(s.call_id)?;
        let sa = ka.safety_code().to_string();
        let sb = kb.safety_code().to_string();
        (Some((ka, kb)), (Some(sa), Some(sb)))
    } else {
        (None, (None, None))
    };
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x5151);
    let (ids_a, ids_b) = (StreamIds::random(&mut rng), StreamIds::random(&mut rng));
    let mut core_a = MediaCore::new(&s.cfg, keys.as_mut().map(|k| &mut k.0), ids_a)
        .step("cannot build endpoint A")?;
    let mut core_b = MediaCore::new(&s.cfg, keys.as_mut().map(|k| &mut k.1), ids_b)
        .step("cannot build endpoint B")?;
    // Each tap decodes what a side sends with the keys its peer receives with.
    w.a.tap = Some(SendTap::new(
        keys.as_ref().map(|k| &k.1),
        s.cfg.cipher_suite,
    )?);
    w.b.tap = Some(SendTap::new(
        keys.as_ref().map(|k| &k.0),
        s.cfg.cipher_suite,
    )?);
    drop(keys);
    let mut out: Vec<Vec<u8>> = Vec::new();
    let audio_pt = s.cfg.payload_type;
    // Video, or a reactive link: 1 ms steps (the pacer's and the link's grain); audio packets
    // leave at the end of their frame, everything else when made.
    let fine = s.video.is_some() || s.ab.is_link();
    let mut videos = match s.video {
        Some(v) => {
            let (mut a, mut b) = (
                VideoEnd::new(v, v.seen_by_a.as_deref())?,
                VideoEnd::new(v, v.seen_by_b.as_deref())?,
            );
            (a.outage_ms, b.outage_ms) = (s.outage_ms, s.outage_ms);
            (a.step_s, b.step_s) = (s.step_s, s.step_s);
            Some((a, b))
        }
        None => None,
    };
    // Audio packets waiting for the end of their frame: (send time µs, packet), per side.
    let mut pending: [Vec<(u64, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
    // The audio each side played at its last tick: (tick ms, the peer's RTP timestamp).
    let mut played: [Option<(u64, u32)>; 2] = [None, None];
    let step = if fine { 1 } else { 10 };
    let started = Instant::now();
    for ms in (0..s.ticks as u64 * 10).step_by(step) {
        let now_us = ms * 1000;
        let now = MediaTime::from_micros(now_us);
        for (q, path) in pending.iter_mut().zip([&mut s.ab, &mut s.ba]) {
            for (_, p) in q.extract_if(.., |(t, _)| *t <= now_us) {
                path.send(&p, now_us);
            }
        }
        s.ab.deliver_due(now_us, |d, at| {
            core_b.receive_packet(d, MediaTime::from_micros(at));
        });
        s.ba.deliver_due(now_us, |d, at| {
            core_a.receive_packet(d, MediaTime::from_micros(at));
        });
        if ms % 10 == 0 {
            let k = (ms / 10) as usize;
            for (i, side, core, path) in [
                (0, &mut w.a, &mut core_a, &mut s.ab),
                (1, &mut w.b, &mut core_b, &mut s.ba),
            ] {
                side.mic_frame(&w.conv, k);
                core.tick(now, &side.mic, &mut side.spk, &mut |p: &[u8]| {
                    out.push(p.to_vec());
                })
                .step("tick")?;
                side.played()?;
                side.jb_delay.push(core.jitter_stats().current_delay_ms);
                played[i] = core.audio_playout_timestamp().map(|ts| (ms, ts));
                // The frame's samples exist at the end of the frame: that is when its packets
                // leave.
                for p in out.drain(..) {
                    side.tapped(&p, audio_pt);
                    let audio = is_audio(&p, audio_pt);
                    if let Some(v) = videos.as_mut() {
                        if i == 0 {
                            v.0.note_sent(&p)
                        } else {
                            v.1.note_sent(&p)
                        }
                    }
                    if !fine {
                        path.send(&p, now_us + 10_000);
                    } else if audio {
                        pending[i].push((now_us + 10_000, p));
                    } else {
                        path.send(&p, now_us);
                    }
                }
                let sample = (k + 1).is_multiple_of(100);
                if sample || videos.is_some() {
                    let stats = core.stats();
                    if sample {
                        side.sample_bwe(k + 1, &stats);
                    }
                    if let Some(v) = videos.as_mut() {
                        let me = if i == 0 { &mut v.0 } else { &mut v.1 };
                        me.watch_requests(ms, &stats);
                        if sample {
                            me.sample((k + 1) as f64 / 100.0, &stats);
                        }
                    }
                }
            }
            w.heard(false);
        }
        if let Some((va, vb)) = videos.as_mut() {
            va.capture(ms, &mut core_a)?;
            vb.capture(ms, &mut core_b)?;
            for (side, core, path, v) in [
                (&mut w.a, &mut core_a, &mut s.ab, &mut *va),
                (&mut w.b, &mut core_b, &mut s.ba, &mut *vb),
            ] {
                core.poll_video(now, &mut |p: &[u8]| {
                    side.count_sent(p.len());
                    v.note_sent(p);
                    path.send(p, now_us);
                });
            }
            vb.receive(ms, &mut core_b, va, played[1], ids_a.timestamp_offset)?;
            va.receive(ms, &mut core_a, vb, played[0], ids_b.timestamp_offset)?;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let (stats_a, stats_b) = (core_a.stats(), core_b.stats());
    let (queue_ab, queue_ba) = (s.ab.queue_per_second_ms(), s.ba.queue_per_second_ms());
    let (path_ab, path_ba) = (s.ab.finish(), s.ba.finish());
    let (video_ab, video_ba) = match videos {
        Some((mut va, mut vb)) => {
            let ab = vb.report(&mut va, &stats_a, &stats_b, path_ab.video_lost, queue_ab)?;
            let ba = va.report(&mut vb, &stats_b, &stats_a, path_ba.video_lost, queue_ba)?;
            (Some(ab), Some(ba))
        }
        None => (None, None),
    };
    Ok(Outcome {
        wall,
        stats_a,
        stats_b,
        path_ab,
        path_ba,
        safety_a: safety.0,
        safety_b: safety.1,
        video_ab,
        video_ba,
    })
}

/// The real-time driver: two threaded `Call`s in app-owned mode, paced by the wall clock.
fn run_realtime(mut s: Setup<'_>, w: &mut World) -> Result<Outcome, SimError> {
    let call_a = Call::new(s.cfg).step("cannot create call A")?;
    let call_b = Call::new(s.cfg).step("cannot create call B")?;
    if s.cfg.e2ee {
        call_a
            .set_peer_key(&call_b.local_public_key(), s.call_id)
            .step("key agreement (A)")?;
        call_b
            .set_peer_key(&call_a.local_public_key(), s.call_id)
            .step("key agreement (B)")?;
    }
    let safety_a = call_a.safety_code().map(|c| c.to_string());
    let safety_b = call_b.safety_code().map(|c| c.to_string());
    call_a.start(AudioMode::AppOwned).step("start A")?;
    call_b.start(AudioMode::AppOwned).step("start B")?;
    let mut buf = vec![0u8; parla_engine::MAX_WIRE_PACKET];
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
            for (side, call) in [(&mut w.a, &call_a), (&mut w.b, &call_b)] {
                let _ = call.pull_playout(&mut side.spk);
                side.mic_frame(&w.conv, k);
                side.played()?;
                let _ = call.push_capture(&side.mic);
                let stats = call.stats();
                side.jb_delay.push(stats.jitter_delay_ms);
                if (k + 1).is_multiple_of(100) {
                    side.sample_bwe(k + 1, &stats);
                }
            }
            w.heard(true);
            k += 1;
        }
        // Network: every millisecond.
        for (side, call, path) in [
            (&mut w.a, &call_a, &mut s.ab),
            (&mut w.b, &call_b, &mut s.ba),
        ] {
            while let Some(n) = call.poll_packet(&mut buf).step("poll packet")? {
                side.count_sent(n);
                path.send(&buf[..n], now_us);
            }
        }
        s.ab.deliver_due(now_us, |d, _| {
            call_b.receive_packet(d);
        });
        s.ba.deliver_due(now_us, |d, _| {
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
    call_a.stop().step("stop A")?;
    call_b.stop().step("stop B")?;
    Ok(Outcome {
        wall,
        stats_a: call_a.stats(),
        stats_b: call_b.stats(),
        path_ab: s.ab.finish(),
        path_ba: s.ba.finish(),
        safety_a,
        safety_b,
        video_ab: None,
        video_ba: None,
    })
}

/// Place the call and measure it.
///
/// # Errors
/// [`SimError`] for bad settings, a network that cannot be built, an output file that cannot
/// be written, or an endpoint that fails.
pub fn run(cfg: &SimConfig) -> Result<Report, SimError> {
    if !(cfg.seconds.is_finite() && (1.0..=3600.0).contains(&cfg.seconds)) {
        return Err(SimError::Config(format!(
            "--seconds must be between 1 and 3600, got {}",
            cfg.seconds
        )));
    }
    if cfg.tamper_every == Some(0) {
        return Err(SimError::Config("--tamper-every must be at least 1".into()));
    }
    let mut call = cfg.call;
    if let Some(v) = &cfg.video {
        if cfg.realtime {
            return Err(SimError::Config(
                "--video runs in simulated time only (not with --realtime)".into(),
            ));
        }
        call.video = Some(v.config);
    }
    call.validate().step("invalid call settings")?;
    let (ab, ba) = match &cfg.link {
        Some(l) => (
            DirPath::Link(Box::new(LinkPath::new(
                l,
                cfg.seconds,
                cfg.tamper_every,
                cfg.seed,
            )?)),
            DirPath::Link(Box::new(LinkPath::new(
                l,
                cfg.seconds,
                cfg.tamper_every,
                cfg.seed.wrapping_add(1),
            )?)),
        ),
        None => {
            let (rows_ab, rows_ba) = cfg.network_rows()?;
            (
                DirPath::Replay(Box::new(NetPath::new(&rows_ab, cfg.tamper_every, cfg.seed))),
                DirPath::Replay(Box::new(NetPath::new(
                    &rows_ba,
                    cfg.tamper_every,
                    cfg.seed.wrapping_add(1),
                ))),
            )
        }
    };
    let conv = Conversation::new(cfg.talker_a.clone(), cfg.talker_b.clone())?;
    let ticks = (cfg.seconds * 100.0).round() as usize;
    let n = ticks * FRAME;
    let seed = |k: u64| cfg.seed.wrapping_mul(31).wrapping_add(k);
    let a = Side::new(Who::A, &conv, n, seed(7), cfg.heard_a.as_deref())?;
    let b = Side::new(Who::B, &conv, n, seed(8), cfg.heard_b.as_deref())?;
    let mut w = World {
        conv,
        a,
        b,
        ab: MouthToEar::new(RATE),
        ba: MouthToEar::new(RATE),
    };
    let call_id = format!("parla-call-{}", cfg.seed).into_bytes();
    let setup = Setup {
        cfg: call,
        ticks,
        ab,
        ba,
        video: cfg.video.as_ref(),
        outage_ms: cfg
            .link
            .and_then(|l| l.outage)
            .map(|(at, len)| (at * 1000.0, at * 1000.0 + len)),
        step_s: cfg.link.and_then(|l| l.step).map(|(at, _)| at),
        seed: cfg.seed,
        call_id: &call_id,
    };
    let o = if cfg.realtime {
        run_realtime(setup, &mut w)?
    } else {
        run_simulated(setup, &mut w)?
    };
    let World { a, b, ab, ba, .. } = w;
    let cc = cfg.call.congestion_control;
    let side = |name: &str,
                s: Side,
                stats: &CallStats,
                out_path: &PathCounts|
     -> Result<SideReport, SimError> {
        // The send signal: decoded by the tap, or (real time, where the engine's keys stay
        // inside the calls) what the peer's speaker played.
        let on = if s.tap.is_some() {
            "sent packets, decoded before the network"
        } else {
            "the peer's speaker output (network effects included)"
        };
        if let Some(wav) = s.wav {
            wav.finish()?;
        }
        Ok(SideReport {
            name: name.to_string(),
            echo: s.echo_an.finish(),
            room_bulk_delay_ms: s.bulk_ms,
            erle_measured_on: on.to_string(),
            aec_delay_estimate_ms: stats.echo_delay_ms,
            packets_sent: stats.packets_sent,
            cpu: cpu_list(stats),
            bwe: BweReport::new(stats, cc, s.bwe, out_path),
        })
    };
    let (jb_a, jb_b) = (a.jb_delay.clone(), b.jb_delay.clone());
    let (path_ab, path_ba) = (o.path_ab, o.path_ba);
    Ok(Report {
        mode: if cfg.realtime {
            "realtime"
        } else {
            "simulated"
        }
        .to_string(),
        network: cfg
            .link
            .as_ref()
            .map_or_else(|| cfg.network_name.clone(), |l| l.name()),
        seed: cfg.seed,
        seconds: ticks as f64 / 100.0,
        aec: cfg.call.aec.to_string(),
        aec_tuning: cfg.call.aec_tuning.to_string(),
        bitrate_bps: cfg.call.bitrate_bps,
        frame_ms: cfg.call.frame_ms,
        noise_suppression: cfg.call.noise_suppression,
        tamper_every: cfg.tamper_every,
        wall_seconds: o.wall,
        real_time_factor: o.wall / (ticks as f64 / 100.0),
        e2ee: E2eeReport {
            enabled: cfg.call.e2ee,
            safety_codes_match: o.safety_a.is_some() && o.safety_a == o.safety_b,
            safety_code_a: o.safety_a.clone(),
            safety_code_b: o.safety_b.clone(),
        },
        a_to_b: DirectionReport {
            name: "A->B".into(),
            mouth_to_ear: ab.finish(),
            network: path_ab,
            receiver: ReceiverReport::from(&o.stats_b).with_buffer_delay(&jb_b),
            video: o.video_ab,
        },
        b_to_a: DirectionReport {
            name: "B->A".into(),
            mouth_to_ear: ba.finish(),
            network: path_ba,
            receiver: ReceiverReport::from(&o.stats_a).with_buffer_delay(&jb_a),
            video: o.video_ba,
        },
        side_a: side("A", a, &o.stats_a, &path_ab)?,
        side_b: side("B", b, &o.stats_b, &path_ba)?,
    })
}
