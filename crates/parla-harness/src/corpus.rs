//! The corpus: seeded, deterministic call scenarios generated in memory at run time.
//!
//! Nothing big is stored: speech comes from espeak-ng (rendered at run time when the tool is
//! installed), from the human recordings that Debian's alsa-utils installs under
//! `/usr/share/sounds/alsa`, and always from the seeded synthetic speech generator of
//! `parla-metrics`. Noise (white, pink, babble, keyboard clicks), echo paths (sparse synthetic
//! room impulse responses of varied RT60 and bulk delay, one with a path change mid-file), device
//! rates (16, 44.1, 48 kHz) and network traces (`parla-netsim`'s seeded models and, when the
//! shared data folder is present, its real link traces) are derived from the corpus seed and the
//! case name, so any case can be regenerated alone and the whole corpus is identical for one seed
//! on one machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use parla_dsp::resample::{ResampleMode, StreamResampler};
use parla_metrics::echo::scenario::{Room, Tap, convolve, impulse_response};
use parla_metrics::echo::speech::{Talker, synthesize};

use crate::room::{ShoeboxRoom, convolve_dense, image_response};
use parla_netsim::PacketRecord;
use parla_netsim::scenario::{self, ScenarioKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The rate speech sources are kept at; cases at other rates resample from it.
pub const POOL_RATE: u32 = 48_000;

/// The networks of the call suite, in report order: `parla call`'s default, a clean fixed path,
/// a lossy and jittery one, and a real link trace (listed only when the shared traces are
/// present).
pub const CALL_NETWORKS: [&str; 4] = [
    scenario::DEFAULT_SCENARIO,
    "fixed40",
    "wifi-congested",
    "tmobile-lte",
];

/// Seconds per simulated call by default: as `parla call`, long enough for both bundled talkers
/// to have a turn (A speaks 10.7 s, then B 6.8 s), so both directions have a mouth-to-ear delay
/// and both sides an ERLE (the send-path delay settles after 5 s of a side's own speech).
pub const DEFAULT_CALL_SECONDS: f64 = 20.0;

/// Sentences for espeak-ng (from the Harvard sentences, IEEE 1969, public domain).
const SENTENCES: [&str; 6] = [
    "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well. These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls. The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck. The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us. A large size in stockings is hard to sell.",
    "The boy was there when the sun rose. A rod is used to catch pink salmon.",
];

/// espeak-ng voices used when the tool is present (name, voice argument).
const ESPEAK_VOICES: [(&str, &str); 3] = [
    ("espeak-en-us-m", "en-us"),
    ("espeak-en-us-f", "en-us+f3"),
    ("espeak-en-gb-scotland-m", "en-gb-scotland"),
];

/// The alsa-utils speech recordings (one male speaker naming channel positions).
const ALSA_FILES: [&str; 8] = [
    "Front_Center.wav",
    "Front_Left.wav",
    "Front_Right.wav",
    "Rear_Center.wav",
    "Rear_Left.wav",
    "Rear_Right.wav",
    "Side_Left.wav",
    "Side_Right.wav",
];

/// Where the speech sources come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpeechSet {
    /// espeak-ng voices and the alsa-utils recordings when present, plus synthetic talkers.
    #[default]
    Auto,
    /// Only the seeded synthetic talkers (no external tool or file: the same on every machine).
    Synthetic,
}

/// How to build the corpus.
#[derive(Debug, Clone)]
pub struct CorpusConfig {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Seconds of audio per audio case.
    pub seconds: f64,
    /// Seconds of network per jitter case.
    pub network_seconds: f64,
    /// Seconds per simulated call (call cases).
    pub call_seconds: f64,
    /// The shared data folder with `net-traces/` (real link traces), if any.
    pub shared_dir: Option<PathBuf>,
    /// Where the speech comes from.
    pub speech: SpeechSet,
}

impl CorpusConfig {
    /// The default corpus for `seed`: 8 s audio cases, 30 s network cases, 20 s calls.
    pub fn new(seed: u64) -> Self {
        CorpusConfig {
            seed,
            seconds: 8.0,
            network_seconds: 30.0,
            call_seconds: DEFAULT_CALL_SECONDS,
            shared_dir: None,
            speech: SpeechSet::Auto,
        }
    }
}

/// One speech source at [`POOL_RATE`].
#[derive(Debug, Clone)]
pub struct Speaker {
    /// Short name used in case names.
    pub name: String,
    /// Where it comes from (tool and version, file, or generator).
    pub provenance: String,
    /// Mono samples at [`POOL_RATE`], peak-normalised speech with its natural pauses.
    pub samples: Vec<f32>,
}

/// Provenance line of a speaker, for the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpeakerInfo {
    /// Speaker name.
    pub name: String,
    /// Where it comes from.
    pub provenance: String,
    /// Seconds of material.
    pub seconds: f64,
}

impl Speaker {
    /// The report line.
    pub fn info(&self) -> SpeakerInfo {
        SpeakerInfo {
            name: self.name.clone(),
            provenance: self.provenance.clone(),
            seconds: self.samples.len() as f64 / f64::from(POOL_RATE),
        }
    }
}

/// Which suite a case belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// Noise suppression on noisy near-end speech.
    Ns,
    /// Echo cancellation alone (noise suppression off).
    Aec,
    /// The whole send chain: echo cancellation and noise suppression.
    Chain,
    /// Opus encode and decode.
    Codec,
    /// The jitter buffer over network traces.
    Jitter,
    /// Sample-rate conversion.
    Resample,
    /// Whole simulated calls (`parla-sim`) over several networks.
    Call,
    /// Congestion control: `parla_cc::eval`'s scenarios (estimator, fixed sender, estimator off).
    Cc,
    /// Video calls (`parla-sim` with video over its reactive link), one case per acceptance
    /// condition of issue 17.
    Video,
}

impl Suite {
    /// Every suite, in report order.
    pub const ALL: [Suite; 9] = [
        Suite::Ns,
        Suite::Aec,
        Suite::Chain,
        Suite::Codec,
        Suite::Jitter,
        Suite::Resample,
        Suite::Call,
        Suite::Cc,
        Suite::Video,
    ];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::Ns => "ns",
            Suite::Aec => "aec",
            Suite::Chain => "chain",
            Suite::Codec => "codec",
            Suite::Jitter => "jitter",
            Suite::Resample => "resample",
            Suite::Call => "call",
            Suite::Cc => "cc",
            Suite::Video => "video",
        }
    }

    /// Parse a suite name.
    ///
    /// # Errors
    /// When the name is not one of [`Suite::ALL`].
    pub fn parse(s: &str) -> anyhow::Result<Suite> {
        Suite::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .with_context(|| {
                let all: Vec<&str> = Suite::ALL.iter().map(|x| x.as_str()).collect();
                format!("unknown suite {s:?} ({})", all.join(", "))
            })
    }
}

/// A background noise type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseKind {
    /// Flat spectrum, stationary.
    White,
    /// 1/f spectrum, stationary.
    Pink,
    /// A sum of four speech streams from other speakers.
    Babble,
    /// Keyboard-like clicks in typing bursts (non-stationary).
    Keyboard,
}

impl NoiseKind {
    fn as_str(self) -> &'static str {
        match self {
            NoiseKind::White => "white",
            NoiseKind::Pink => "pink",
            NoiseKind::Babble => "babble",
            NoiseKind::Keyboard => "keyboard",
        }
    }
}

/// What a case contains.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CaseSpec {
    /// Near-end speech plus noise at an SNR.
    Noisy {
        /// Device rate, Hz.
        rate: u32,
        /// Index of the near-end speaker in the pool.
        speaker: usize,
        /// Noise type.
        noise: NoiseKind,
        /// Speech-to-noise ratio, dB.
        snr_db: f64,
    },
    /// Far-end speech through an echo path, optionally with near-end speech (double talk from
    /// 40 % of the file on) and noise.
    Echo {
        /// Device rate, Hz.
        rate: u32,
        /// Far-end speaker index.
        far: usize,
        /// Near-end speaker index, when the near end talks.
        near: Option<usize>,
        /// Bulk delay, ms.
        delay_ms: f64,
        /// Reverberation time, ms.
        rt60_ms: f64,
        /// A second path (bulk delay ms, RT60 ms) from the middle of the file on.
        change: Option<(f64, f64)>,
        /// Noise type and SNR against the near-end speech (or the echo when no near end).
        noise: Option<(NoiseKind, f64)>,
        /// An image-method room instead of the sparse synthetic response (`delay_ms` is then the
        /// device's bulk delay before the acoustic path, `rt60_ms` the room's): the file is twice
        /// the usual length, so the canceller has converged when the near end joins at 40 %.
        #[serde(skip_serializing_if = "Option::is_none")]
        image: Option<ImageRoom>,
    },
    /// Clean speech for the codec.
    Codec {
        /// Rate, Hz.
        rate: u32,
        /// Speaker index.
        speaker: usize,
        /// Opus target bitrate, bits per second.
        bitrate: u32,
    },
    /// A network scenario of `parla-netsim`.
    Network {
        /// Scenario name.
        scenario: String,
    },
    /// A band-limited multi-tone signal known exactly at both rates.
    Resample {
        /// Input rate, Hz.
        from: u32,
        /// Output rate, Hz.
        to: u32,
    },
    /// A whole simulated call (`parla-sim`): two endpoints with the bundled talkers (A: the near
    /// recording, B: the far one) over a network of `parla-netsim`'s registry, both directions.
    Call {
        /// Network name (`mobile-4g`, `fixed40`, ...).
        network: String,
    },
    /// A congestion-control scenario of `parla_cc::eval` (`constant-1mbps`, ...).
    Cc {
        /// Scenario name.
        scenario: String,
    },
    /// A video call scenario of [`crate::video::SCENARIOS`].
    Video {
        /// Scenario name.
        scenario: String,
    },
}

/// Which set an image-method echo case belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomSet {
    /// Cases settings may be tuned on (`aec/img-tune-*`).
    Tune,
    /// Hold-out cases, never tuned on (`aec/img-hold-*`): other rooms, speakers and SERs.
    Hold,
}

/// A laptop or desktop in a shoebox room, simulated by the image method (`room.rs`). The
/// positions are drawn from the case seed: the microphone on a desk, the loudspeaker
/// `distance_m` away from it, slightly below.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ImageRoom {
    /// Tuning or hold-out set.
    pub set: RoomSet,
    /// Room size (x, y, z), metres.
    pub dims: [f64; 3],
    /// Loudspeaker-to-microphone distance, metres.
    pub distance_m: f64,
    /// Near-end to echo power ratio over the double-talk part, dB (double-talk cases).
    pub ser_db: f64,
}

/// One case of the corpus.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// Unique name, `suite/...`.
    pub name: String,
    /// The suite it belongs to.
    pub suite: Suite,
    /// What it contains.
    pub spec: CaseSpec,
}

/// The generated signals of an audio case (all mono, sample-aligned, equal length).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Rate of the signals, Hz.
    pub rate: u32,
    /// What the microphone records (the system's input).
    pub mic: Vec<f32>,
    /// The far-end signal played by the loudspeaker (echo cases), else empty.
    pub far: Vec<f32>,
    /// The echo component at the microphone (echo cases), else empty.
    pub echo: Vec<f32>,
    /// The clean near-end speech at the microphone (the target), empty when none.
    pub near: Vec<f32>,
    /// The noise component, empty when none.
    pub noise: Vec<f32>,
    /// For resample cases: the exact signal at the output rate.
    pub expected: Vec<f32>,
    /// For resample cases: the output rate.
    pub out_rate: u32,
    /// For image-method echo cases: the echo path (bulk delay, then the room's response) that
    /// made `echo` from `far`, for research tools (`examples/aec_dump.rs`); else empty.
    pub echo_path: Vec<f32>,
}

/// A generated case: audio signals or a network trace.
#[derive(Debug, Clone, PartialEq)]
pub enum Material {
    /// Audio signals.
    Audio(Signals),
    /// A per-packet network trace (20 ms packets).
    Network(Vec<PacketRecord>),
    /// What `parla-sim` needs to replay a call deterministically.
    Call(Box<CallMaterial>),
    /// A congestion-control scenario and its seed.
    Cc(Box<crate::cc::CcMaterial>),
    /// A video call scenario, its seed and the talkers.
    Video(Box<crate::video::VideoMaterial>),
}

/// The inputs of a simulated call case (everything but the endpoints' settings, which are the
/// engine's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct CallMaterial {
    /// Network name of `parla-netsim`'s registry.
    pub network: String,
    /// The call's seed (network, rooms, stream identifiers): the case seed.
    pub seed: u64,
    /// Call length, seconds.
    pub seconds: f64,
    /// The shared data folder (link traces).
    pub shared: PathBuf,
    /// Talker A's clean speech, 48 kHz.
    pub talker_a: Vec<f32>,
    /// Talker B's clean speech, 48 kHz.
    pub talker_b: Vec<f32>,
    /// The per-packet traces the call replays, A to B and B to A (`SimConfig::network_rows`).
    pub rows: (Vec<PacketRecord>, Vec<PacketRecord>),
}

impl CallMaterial {
    /// The simulation's configuration for this call with the engine's default settings.
    ///
    /// # Errors
    /// For an unknown network.
    pub fn sim_config(&self) -> anyhow::Result<parla_sim::SimConfig> {
        Ok(parla_sim::SimConfig {
            call: parla_engine::CallConfig::default(),
            network: parla_sim::NetworkSpec::named(&self.network)?,
            network_name: self.network.clone(),
            shared: self.shared.clone(),
            seconds: self.seconds,
            seed: self.seed,
            realtime: false,
            tamper_every: None,
            talker_a: self.talker_a.clone(),
            talker_b: self.talker_b.clone(),
            heard_a: None,
            heard_b: None,
            link: None,
            video: None,
        })
    }
}

/// The corpus: the speaker pool and the case list.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The configuration it was built from.
    pub config: CorpusConfig,
    /// Speech sources.
    pub speakers: Vec<Speaker>,
    /// Every case, in suite order.
    pub cases: Vec<Case>,
    /// Why some material was left out (missing tools or files).
    pub notes: Vec<String>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The seed of one case: the corpus seed mixed with the case name.
pub fn case_seed(seed: u64, name: &str) -> u64 {
    fnv1a(name.as_bytes()) ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Resample a whole signal (offline) with Parla's fixed-ratio resampler.
///
/// # Errors
/// When the resampler rejects the rates.
pub fn resample(x: &[f32], from: u32, to: u32) -> anyhow::Result<Vec<f32>> {
    if from == to {
        return Ok(x.to_vec());
    }
    let block = (from as usize).div_ceil(100);
    let mut r = StreamResampler::new(from, to, 1, block, ResampleMode::Fixed)
        .with_context(|| format!("resampler {from} -> {to}"))?;
    Ok(r.process_all(x)?)
}

fn normalise_peak(x: &mut [f32], peak: f32) {
    let m = x.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
    if m > 0.0 {
        let g = peak / m;
        x.iter_mut().for_each(|v| *v *= g);
    }
}

/// Decode a WAV file held in memory to mono `f32` (channels averaged) and its rate.
///
/// # Errors
/// For a malformed file.
pub fn read_wav_mono(bytes: &[u8]) -> anyhow::Result<(Vec<f32>, u32)> {
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes))?;
    let spec = r.spec();
    anyhow::ensure!(spec.channels >= 1, "no channels");
    let ch = usize::from(spec.channels);
    let raw: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(8, 32) - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()?
        }
    };
    let mono = raw
        .chunks(ch)
        .map(|c| c.iter().sum::<f32>() / ch as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// The version line of a tool (`tool --version`), if it runs.
pub fn tool_version(tool: &str, arg: &str) -> Option<String> {
    let out = Command::new(tool).arg(arg).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// A WAV written to a pipe (espeak-ng `--stdout`) cannot seek back to fill in its sizes: it
/// carries placeholders. Set the RIFF and `data` chunk sizes from the bytes actually there.
fn fix_streamed_wav_sizes(wav: &mut [u8]) {
    if wav.len() < 12 || &wav[0..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return;
    }
    let riff = u32::try_from(wav.len() - 8).unwrap_or(u32::MAX);
    wav[4..8].copy_from_slice(&riff.to_le_bytes());
    let mut pos = 12;
    while pos + 8 <= wav.len() {
        let size = u32::from_le_bytes([wav[pos + 4], wav[pos + 5], wav[pos + 6], wav[pos + 7]]);
        if &wav[pos..pos + 4] == b"data" {
            let actual = u32::try_from(wav.len() - pos - 8).unwrap_or(u32::MAX);
            wav[pos + 4..pos + 8].copy_from_slice(&actual.to_le_bytes());
            return;
        }
        pos += 8 + size as usize + (size as usize & 1);
    }
}

fn espeak(voice: &str, text: &str) -> anyhow::Result<Vec<f32>> {
    let out = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "155", "--stdout", text])
        .output()
        .context("running espeak-ng")?;
    anyhow::ensure!(out.status.success(), "espeak-ng failed: {}", out.status);
    let mut wav = out.stdout;
    fix_streamed_wav_sizes(&mut wav);
    let (x, rate) = read_wav_mono(&wav).context("reading espeak-ng's WAV")?;
    resample(&x, rate, POOL_RATE)
}

fn build_speakers(cfg: &CorpusConfig, notes: &mut Vec<String>) -> Vec<Speaker> {
    let mut speakers = Vec::new();
    if cfg.speech == SpeechSet::Auto {
        match tool_version("espeak-ng", "--version") {
            Some(version) => {
                for (name, voice) in ESPEAK_VOICES {
                    let mut all = Vec::new();
                    let mut failed = None;
                    for s in SENTENCES {
                        match espeak(voice, s) {
                            Ok(x) => {
                                all.extend_from_slice(&x);
                                all.extend(std::iter::repeat_n(0.0, POOL_RATE as usize / 4));
                            }
                            Err(e) => failed = Some(format!("{e:#}")),
                        }
                    }
                    if let Some(e) = failed {
                        notes.push(format!("espeak-ng voice {voice} skipped: {e}"));
                        continue;
                    }
                    normalise_peak(&mut all, 0.9);
                    speakers.push(Speaker {
                        name: name.to_string(),
                        provenance: format!(
                            "espeak-ng voice {voice}, rate 155 wpm, six Harvard sentences, rendered at run time ({version})"
                        ),
                        samples: all,
                    });
                }
            }
            None => notes.push("espeak-ng not found: no espeak voices in the corpus".into()),
        }
        let dir = Path::new("/usr/share/sounds/alsa");
        let mut all = Vec::new();
        for f in ALSA_FILES {
            if let Ok(bytes) = std::fs::read(dir.join(f))
                && let Ok((x, rate)) = read_wav_mono(&bytes)
                && let Ok(x) = resample(&x, rate, POOL_RATE)
            {
                all.extend_from_slice(&x);
                all.extend(std::iter::repeat_n(0.0, POOL_RATE as usize / 5));
            }
        }
        if all.is_empty() {
            notes.push(
                "/usr/share/sounds/alsa/*.wav not found (Debian package alsa-utils): no human recordings in the corpus"
                    .into(),
            );
        } else {
            normalise_peak(&mut all, 0.9);
            speakers.push(Speaker {
                name: "alsa-human".into(),
                provenance: "human speech recordings from Debian's alsa-utils, /usr/share/sounds/alsa/{Front,Rear,Side}_*.wav, concatenated".into(),
                samples: all,
            });
        }
    }
    for (i, (name, talker)) in [("synth-low", Talker::LOW), ("synth-high", Talker::HIGH)]
        .into_iter()
        .enumerate()
    {
        let mut rng = ChaCha8Rng::seed_from_u64(case_seed(cfg.seed, name));
        let secs = 12.0;
        let mut spurts = Vec::new();
        let mut t = 0.1;
        while t < secs - 0.5 {
            let end: f64 = (t + rng.random_range(1.5f64..3.0)).min(secs - 0.1);
            spurts.push((t, end));
            t = end + rng.random_range(0.3..0.6);
        }
        let mut x = synthesize(
            POOL_RATE,
            (secs * f64::from(POOL_RATE)) as usize,
            &spurts,
            talker,
            -20.0,
            &mut rng,
        );
        normalise_peak(&mut x, 0.9);
        speakers.push(Speaker {
            name: name.into(),
            provenance: format!(
                "parla-metrics synthetic speech (source-filter model), talker {i}, seeded from the corpus seed"
            ),
            samples: x,
        });
    }
    speakers
}

impl Corpus {
    /// Build the speaker pool and the case list (the signals are generated per case, later).
    pub fn new(config: CorpusConfig) -> Corpus {
        let mut notes = Vec::new();
        let speakers = build_speakers(&config, &mut notes);
        let cases = case_list(&config, speakers.len(), &mut notes);
        Corpus {
            config,
            speakers,
            cases,
            notes,
        }
    }

    /// Keep only the cases whose name matches one of the glob `patterns` (all when empty) and
    /// whose suite is in `suites` (all when empty).
    ///
    /// # Errors
    /// For an invalid pattern.
    pub fn select(&mut self, suites: &[Suite], patterns: &[String]) -> anyhow::Result<()> {
        let pats = patterns
            .iter()
            .map(|p| glob::Pattern::new(p).with_context(|| format!("bad --cases pattern {p:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.cases.retain(|c| {
            (suites.is_empty() || suites.contains(&c.suite))
                && (pats.is_empty() || pats.iter().any(|p| p.matches(&c.name)))
        });
        Ok(())
    }

    /// Generate one case's material.
    ///
    /// # Errors
    /// When a resampler or a network trace fails (a missing trace file is an error here; the
    /// case list only holds traces whose files exist).
    pub fn generate(&self, case: &Case) -> anyhow::Result<Material> {
        let mut rng = ChaCha8Rng::seed_from_u64(case_seed(self.config.seed, &case.name));
        let secs = self.config.seconds;
        Ok(match &case.spec {
            CaseSpec::Noisy {
                rate,
                speaker,
                noise,
                snr_db,
            } => {
                let len = (secs * f64::from(*rate)) as usize;
                let near = self.speech(*speaker, *rate, len, &mut rng)?;
                let mut n = self.noise(*noise, *rate, len, Some(*speaker), &mut rng)?;
                scale_to_snr(&near, &mut n, *snr_db);
                let mic = near.iter().zip(&n).map(|(a, b)| a + b).collect();
                Material::Audio(Signals {
                    rate: *rate,
                    mic,
                    near,
                    noise: n,
                    ..Signals::default()
                })
            }
            CaseSpec::Echo {
                rate,
                far,
                near,
                delay_ms,
                rt60_ms,
                change,
                noise,
                image,
            } => {
                let secs = if image.is_some() { 2.0 * secs } else { secs };
                let len = (secs * f64::from(*rate)) as usize;
                let far_sig = self.speech(*far, *rate, len, &mut rng)?;
                let far_sig: Vec<f32> = far_sig.iter().map(|v| v * 0.3).collect();
                let room = |d: f64, rt: f64| Room {
                    bulk_delay_ms: d,
                    rt60_ms: rt,
                    length_ms: (rt * 0.8).clamp(60.0, 400.0),
                    gain_db: -6.0,
                };
                let (mut echo, echo_path) = match image {
                    Some(img) => {
                        let rir = image_path(img, *rate, *delay_ms, *rt60_ms, &mut rng);
                        (convolve_dense(&far_sig, &rir, *rate), rir)
                    }
                    None => {
                        let rir1: Vec<Tap> =
                            impulse_response(*rate, &room(*delay_ms, *rt60_ms), &mut rng);
                        (convolve(&far_sig, &rir1), Vec::new())
                    }
                };
                if let Some((d2, rt2)) = change {
                    let rir2 = impulse_response(*rate, &room(*d2, *rt2), &mut rng);
                    let echo2 = convolve(&far_sig, &rir2);
                    let mid = len / 2;
                    echo[mid..].copy_from_slice(&echo2[mid..]);
                }
                let near_sig = match near {
                    Some(s) => {
                        let mut x = self.speech(*s, *rate, len, &mut rng)?;
                        // The near end joins at 40 % of the file: single talk before, double after.
                        let start = len * 2 / 5;
                        x[..start].fill(0.0);
                        match image {
                            // The near end at the case's SER against the echo.
                            Some(img) => scale_to_snr(&echo[start..], &mut x[start..], -img.ser_db),
                            None => x.iter_mut().for_each(|v| *v *= 0.15),
                        }
                        x
                    }
                    None => Vec::new(),
                };
                let mut mic = echo.clone();
                let mut n_sig = Vec::new();
                if let Some((kind, snr)) = noise {
                    let mut n = self.noise(*kind, *rate, len, *near, &mut rng)?;
                    let against = if near_sig.is_empty() {
                        &echo
                    } else {
                        &near_sig
                    };
                    scale_to_snr(against, &mut n, *snr);
                    mic.iter_mut().zip(&n).for_each(|(m, v)| *m += v);
                    n_sig = n;
                }
                mic.iter_mut().zip(&near_sig).for_each(|(m, v)| *m += v);
                Material::Audio(Signals {
                    rate: *rate,
                    mic,
                    far: far_sig,
                    echo,
                    near: near_sig,
                    noise: n_sig,
                    echo_path,
                    ..Signals::default()
                })
            }
            CaseSpec::Codec { rate, speaker, .. } => {
                let len = (secs * f64::from(*rate)) as usize;
                let near = self.speech(*speaker, *rate, len, &mut rng)?;
                Material::Audio(Signals {
                    rate: *rate,
                    mic: near.clone(),
                    near,
                    ..Signals::default()
                })
            }
            CaseSpec::Resample { from, to } => {
                let tones = multitone(&mut rng, (*from).min(*to));
                let mic = render_tones(&tones, *from, secs);
                let expected = render_tones(&tones, *to, secs);
                Material::Audio(Signals {
                    rate: *from,
                    mic,
                    expected,
                    out_rate: *to,
                    ..Signals::default()
                })
            }
            CaseSpec::Network { scenario: name } => {
                let s = scenario::scenario(name)?;
                let seed = case_seed(self.config.seed, &case.name);
                let secs = self.config.network_seconds;
                let rows = match &s.kind {
                    ScenarioKind::Link { file, cfg } => {
                        let dir = self
                            .config
                            .shared_dir
                            .as_deref()
                            .context("no shared data folder")?;
                        let path = dir.join("net-traces").join(file);
                        let meta = std::fs::metadata(&path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        anyhow::ensure!(meta.len() < 256 << 20, "{} is too large", path.display());
                        let text = std::fs::read_to_string(&path)?;
                        let link = parla_netsim::link::LinkTrace::parse(&text)
                            .with_context(|| format!("parsing {}", path.display()))?;
                        scenario::run_link(&link, cfg, secs, seed)?
                    }
                    _ => scenario::generate_model(&s, secs, seed)?,
                };
                Material::Network(rows)
            }
            CaseSpec::Call { network } => {
                let mut m = CallMaterial {
                    network: network.clone(),
                    seed: case_seed(self.config.seed, &case.name),
                    seconds: self.config.call_seconds,
                    shared: self.config.shared_dir.clone().unwrap_or_default(),
                    talker_a: parla_sim::Bundled::Near.samples()?,
                    talker_b: parla_sim::Bundled::Far.samples()?,
                    rows: (Vec::new(), Vec::new()),
                };
                m.rows = m.sim_config()?.network_rows()?;
                Material::Call(Box::new(m))
            }
            CaseSpec::Cc { scenario } => {
                let (all, _) = crate::cc::suite_scenarios(self.config.shared_dir.as_ref());
                let scenario = all
                    .into_iter()
                    .find(|s| &s.name == scenario)
                    .with_context(|| format!("cc scenario {scenario} is not available"))?;
                Material::Cc(Box::new(crate::cc::CcMaterial {
                    scenario,
                    seed: case_seed(self.config.seed, &case.name),
                }))
            }
            CaseSpec::Video { scenario } => {
                let scenario = *crate::video::SCENARIOS
                    .iter()
                    .find(|s| s.name == scenario)
                    .with_context(|| format!("video scenario {scenario} is not known"))?;
                Material::Video(Box::new(crate::video::VideoMaterial {
                    scenario,
                    seed: case_seed(self.config.seed, &case.name),
                    talker_a: parla_sim::Bundled::Near.samples()?,
                    talker_b: parla_sim::Bundled::Far.samples()?,
                }))
            }
        })
    }

    /// `len` samples of speaker `idx` at `rate`, from a random offset, looped.
    fn speech(
        &self,
        idx: usize,
        rate: u32,
        len: usize,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<Vec<f32>> {
        let src = &self
            .speakers
            .get(idx % self.speakers.len().max(1))
            .context("empty speaker pool")?
            .samples;
        anyhow::ensure!(!src.is_empty(), "empty speaker");
        let need = (len as u64 * u64::from(POOL_RATE)).div_ceil(u64::from(rate)) as usize + 64;
        let start = rng.random_range(0..src.len());
        let x: Vec<f32> = src.iter().cycle().skip(start).take(need).copied().collect();
        let mut y = resample(&x, POOL_RATE, rate)?;
        y.resize(len, 0.0);
        Ok(y)
    }

    fn noise(
        &self,
        kind: NoiseKind,
        rate: u32,
        len: usize,
        except: Option<usize>,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<Vec<f32>> {
        Ok(match kind {
            NoiseKind::White => (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect(),
            NoiseKind::Pink => pink(len, rng),
            NoiseKind::Babble => {
                let mut out = vec![0.0f32; len];
                let n = self.speakers.len();
                let others: Vec<usize> = (0..n).filter(|&i| Some(i) != except).collect();
                for k in 0..4 {
                    let idx = others.get(k % others.len().max(1)).copied().unwrap_or(0);
                    let s = self.speech(idx, rate, len, rng)?;
                    out.iter_mut().zip(&s).for_each(|(o, v)| *o += v);
                }
                out
            }
            NoiseKind::Keyboard => keyboard(len, rate, rng),
        })
    }
}

/// Scale `noise` so that `power(signal) / power(noise)` is `snr_db`.
fn scale_to_snr(signal: &[f32], noise: &mut [f32], snr_db: f64) {
    let p =
        |x: &[f32]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len().max(1) as f64;
    let (ps, pn) = (p(signal), p(noise));
    if ps > 0.0 && pn > 0.0 {
        let g = (ps / pn / 10f64.powf(snr_db / 10.0)).sqrt() as f32;
        noise.iter_mut().for_each(|v| *v *= g);
    }
}

/// The echo path of an image-method room: the device's bulk delay, then the room's response
/// (as long as its RT60, at most 600 ms), scaled to an echo path gain of -6 dB in energy.
fn image_path(
    img: &ImageRoom,
    rate: u32,
    delay_ms: f64,
    rt60_ms: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let [x, y, z] = img.dims;
    let mic = [
        rng.random_range(0.3 * x..0.7 * x),
        rng.random_range(0.5..1.2f64.min(y - 0.5)),
        rng.random_range(0.75..1.15f64.min(z - 0.3)),
    ];
    let az = rng.random_range(0.0..std::f64::consts::TAU);
    let drop = rng.random_range(0.1..0.4f64);
    let h = img.distance_m * (1.0 - drop * drop).sqrt();
    let source = [
        (mic[0] + h * az.cos()).clamp(0.1, x - 0.1),
        (mic[1] + h * az.sin()).clamp(0.1, y - 0.1),
        (mic[2] - img.distance_m * drop).clamp(0.1, z - 0.1),
    ];
    let room = ShoeboxRoom {
        dims: img.dims,
        source,
        mic,
        rt60_s: rt60_ms / 1000.0,
    };
    let mut rir = vec![0.0f32; (delay_ms * f64::from(rate) / 1000.0) as usize];
    rir.extend(image_response(&room, rate, (rt60_ms / 1000.0).min(0.6)));
    let energy: f64 = rir.iter().map(|v| f64::from(*v).powi(2)).sum();
    if energy > 0.0 {
        let g = (0.25 / energy).sqrt() as f32;
        rir.iter_mut().for_each(|v| *v *= g);
    }
    rir
}

/// Pink noise (Paul Kellet's economy filter of white noise: -3 dB per octave within 0.5 dB).
fn pink(len: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
    (0..len)
        .map(|_| {
            let w = rng.random_range(-1.0f32..1.0);
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            b0 + b1 + b2 + w * 0.1848
        })
        .collect()
}

/// Keyboard clicks: typing bursts of 1-3 s with 6-10 keystrokes per second, each a 4-8 ms
/// decaying noise burst with a resonant body, separated by 0.5-1.5 s pauses (non-stationary).
fn keyboard(len: usize, rate: u32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let fs = f64::from(rate);
    let mut out = vec![0.0f32; len];
    let mut t = rng.random_range(0.0..0.5);
    let total = len as f64 / fs;
    while t < total {
        let burst_end = t + rng.random_range(1.0..3.0);
        while t < burst_end.min(total) {
            let at = (t * fs) as usize;
            let dur = (rng.random_range(0.004..0.008) * fs) as usize;
            let amp = rng.random_range(0.4f32..1.0);
            let tau = dur as f32 / 3.0;
            let mut lp = 0.0f32;
            for i in 0..dur {
                let Some(o) = out.get_mut(at + i) else { break };
                let w = rng.random_range(-1.0f32..1.0);
                lp = 0.6 * lp + 0.4 * w;
                *o += amp * lp * (-(i as f32) / tau).exp();
            }
            t += 1.0 / rng.random_range(6.0..10.0);
        }
        t = burst_end + rng.random_range(0.5..1.5);
    }
    out
}

/// `(frequency Hz, amplitude, phase)` of a multi-tone test signal below 0.42 of `min_rate`.
fn multitone(rng: &mut ChaCha8Rng, min_rate: u32) -> Vec<(f64, f64, f64)> {
    let top = 0.42 * f64::from(min_rate);
    (0..24)
        .map(|_| {
            (
                rng.random_range(60.0..top),
                rng.random_range(0.01..0.04),
                rng.random_range(0.0..std::f64::consts::TAU),
            )
        })
        .collect()
}

fn render_tones(tones: &[(f64, f64, f64)], rate: u32, secs: f64) -> Vec<f32> {
    let n = (secs * f64::from(rate)) as usize;
    let fs = f64::from(rate);
    (0..n)
        .map(|i| {
            let t = i as f64 / fs;
            tones
                .iter()
                .map(|&(f, a, p)| a * (std::f64::consts::TAU * f * t + p).sin())
                .sum::<f64>() as f32
        })
        .collect()
}

/// For a link scenario whose trace file is not in the shared folder, the note saying that
/// `case` was skipped.
fn missing_trace(cfg: &CorpusConfig, s: &scenario::Scenario, case: &str) -> Option<String> {
    let ScenarioKind::Link { file, .. } = &s.kind else {
        return None;
    };
    let present = cfg
        .shared_dir
        .as_deref()
        .is_some_and(|d| d.join("net-traces").join(file).is_file());
    (!present).then(|| {
        format!("{case}: link trace net-traces/{file} not found (set PARLA_SHARED_DIR), skipped")
    })
}

fn case_list(cfg: &CorpusConfig, n_speakers: usize, notes: &mut Vec<String>) -> Vec<Case> {
    let mut cases = Vec::new();
    let sp = |i: usize| i % n_speakers.max(1);
    // Noise suppression: four noise types at four SNRs, at 48 kHz, plus two other device rates.
    let mut k = 0;
    for noise in [
        NoiseKind::White,
        NoiseKind::Pink,
        NoiseKind::Babble,
        NoiseKind::Keyboard,
    ] {
        for snr in [0.0, 5.0, 15.0, 20.0] {
            cases.push(Case {
                name: format!("ns/{}-{}db-48k-s{}", noise.as_str(), snr as i32, sp(k)),
                suite: Suite::Ns,
                spec: CaseSpec::Noisy {
                    rate: 48_000,
                    speaker: sp(k),
                    noise,
                    snr_db: snr,
                },
            });
            k += 1;
        }
    }
    for (rate, noise) in [(16_000, NoiseKind::Pink), (44_100, NoiseKind::Babble)] {
        cases.push(Case {
            name: format!("ns/{}-5db-{}k-s{}", noise.as_str(), rate / 1000, sp(k)),
            suite: Suite::Ns,
            spec: CaseSpec::Noisy {
                rate,
                speaker: sp(k),
                noise,
                snr_db: 5.0,
            },
        });
        k += 1;
    }
    // Echo: rooms of varied RT60 and bulk delay, device rates, single and double talk, a path
    // change mid-file. The same cases run in the aec suite (AEC alone) and, with noise, in chain.
    let rooms = [
        (40.0, 150.0, 16_000u32, false, None),
        (120.0, 300.0, 48_000, true, None),
        (200.0, 600.0, 44_100, true, None),
        (60.0, 250.0, 48_000, true, Some((160.0, 450.0))),
    ];
    for (i, &(d, rt, rate, dt, change)) in rooms.iter().enumerate() {
        let far = sp(i + 1);
        let near = dt.then(|| sp(i + 3));
        let tag = if change.is_some() { "-change" } else { "" };
        let talk = if dt { "dt" } else { "st" };
        cases.push(Case {
            name: format!(
                "aec/{talk}-d{}-rt{}{tag}-{}k",
                d as u32,
                rt as u32,
                rate / 1000
            ),
            suite: Suite::Aec,
            spec: CaseSpec::Echo {
                rate,
                far,
                near,
                delay_ms: d,
                rt60_ms: rt,
                change,
                noise: None,
                image: None,
            },
        });
        let noise = [
            NoiseKind::Pink,
            NoiseKind::Babble,
            NoiseKind::Keyboard,
            NoiseKind::White,
        ][i % 4];
        cases.push(Case {
            name: format!(
                "chain/dt-d{}-rt{}{tag}-{}-10db-{}k",
                d as u32,
                rt as u32,
                noise.as_str(),
                rate / 1000
            ),
            suite: Suite::Chain,
            spec: CaseSpec::Echo {
                rate,
                far,
                near: Some(sp(i + 3)),
                delay_ms: d,
                rt60_ms: rt,
                change,
                noise: Some((noise, 10.0)),
                image: None,
            },
        });
    }
    // Image-method rooms (room.rs), laptops (loudspeaker 0.12-0.25 m from the microphone) and
    // desktops (0.5-0.7 m), RT60 300-600 ms, converged double talk at several SERs and far-end
    // single talk. Two sets with different rooms, speakers (pool indices) and SERs: settings
    // are tuned on `img-tune` only; `img-hold` is the hold-out set (docs/AEC.md).
    // (set, rate, far, near, dims, rt60 ms, distance m, bulk delay ms, SER dB)
    #[allow(clippy::type_complexity)]
    let image_rooms: [(
        RoomSet,
        u32,
        usize,
        Option<usize>,
        [f64; 3],
        f64,
        f64,
        f64,
        f64,
    ); 10] = [
        (
            RoomSet::Tune,
            16_000,
            0,
            Some(1),
            [4.0, 3.5, 2.7],
            350.0,
            0.15,
            30.0,
            0.0,
        ),
        (
            RoomSet::Tune,
            48_000,
            4,
            Some(0),
            [5.0, 4.0, 2.8],
            500.0,
            0.6,
            60.0,
            -5.0,
        ),
        (
            RoomSet::Tune,
            48_000,
            1,
            Some(4),
            [3.2, 3.0, 2.5],
            300.0,
            0.2,
            40.0,
            5.0,
        ),
        (
            RoomSet::Tune,
            16_000,
            0,
            Some(4),
            [6.0, 4.5, 3.0],
            600.0,
            0.5,
            80.0,
            0.0,
        ),
        (
            RoomSet::Tune,
            48_000,
            1,
            None,
            [4.5, 3.6, 2.7],
            450.0,
            0.25,
            50.0,
            0.0,
        ),
        (
            RoomSet::Hold,
            48_000,
            2,
            Some(3),
            [4.6, 3.8, 2.6],
            450.0,
            0.12,
            40.0,
            -3.0,
        ),
        (
            RoomSet::Hold,
            16_000,
            5,
            Some(2),
            [3.6, 3.2, 2.7],
            400.0,
            0.5,
            70.0,
            3.0,
        ),
        (
            RoomSet::Hold,
            48_000,
            3,
            Some(5),
            [5.5, 4.2, 2.9],
            550.0,
            0.7,
            100.0,
            0.0,
        ),
        (
            RoomSet::Hold,
            16_000,
            2,
            Some(3),
            [4.2, 3.3, 2.5],
            320.0,
            0.2,
            30.0,
            -6.0,
        ),
        (
            RoomSet::Hold,
            16_000,
            5,
            None,
            [5.0, 3.9, 2.8],
            580.0,
            0.4,
            60.0,
            0.0,
        ),
    ];
    for (i, &(set, rate, far, near, dims, rt, dist, d, ser)) in image_rooms.iter().enumerate() {
        let set_name = match set {
            RoomSet::Tune => "tune",
            RoomSet::Hold => "hold",
        };
        let talk = match near {
            Some(_) => format!("dt-ser{ser}"),
            None => "st".to_string(),
        };
        cases.push(Case {
            name: format!(
                "aec/img-{set_name}{}-{talk}-rt{}-{}cm-{}k",
                i % 5 + 1,
                rt as u32,
                (dist * 100.0).round() as u32,
                rate / 1000
            ),
            suite: Suite::Aec,
            spec: CaseSpec::Echo {
                rate,
                far: sp(far),
                near: near.map(sp),
                delay_ms: d,
                rt60_ms: rt,
                change: None,
                noise: None,
                image: Some(ImageRoom {
                    set,
                    dims,
                    distance_m: dist,
                    ser_db: ser,
                }),
            },
        });
    }
    // Codec: two bitrates, two rates.
    for (i, (rate, bitrate)) in [(48_000u32, 32_000u32), (48_000, 16_000), (16_000, 16_000)]
        .into_iter()
        .enumerate()
    {
        cases.push(Case {
            name: format!("codec/{}k-{}kbps-s{}", rate / 1000, bitrate / 1000, sp(i)),
            suite: Suite::Codec,
            spec: CaseSpec::Codec {
                rate,
                speaker: sp(i),
                bitrate,
            },
        });
    }
    // Jitter: every netsim scenario; link traces only when their file is present.
    for s in scenario::scenarios() {
        let name = format!("jitter/{}", s.name);
        if let Some(note) = missing_trace(cfg, &s, &name) {
            notes.push(note);
            continue;
        }
        cases.push(Case {
            name,
            suite: Suite::Jitter,
            spec: CaseSpec::Network {
                scenario: s.name.to_string(),
            },
        });
    }
    // Whole calls: a few networks; the link trace only when its file is present.
    for network in CALL_NETWORKS {
        let name = format!("call/{network}");
        if let Some(note) = scenario::scenario(network)
            .ok()
            .and_then(|s| missing_trace(cfg, &s, &name))
        {
            notes.push(note);
            continue;
        }
        cases.push(Case {
            name,
            suite: Suite::Call,
            spec: CaseSpec::Call {
                network: network.to_string(),
            },
        });
    }
    // Congestion control: the synthetic links, and the cellular traces whose files are present.
    let (synthetic, _) = parla_cc::eval::standard_scenarios(None, parla_cc::eval::Length::Full);
    let mut cc_names: Vec<String> = synthetic.into_iter().map(|s| s.name).collect();
    for file in parla_cc::eval::TRACES {
        let name = format!("trace-{}", file.replace('.', "-"));
        let present = cfg
            .shared_dir
            .as_deref()
            .is_some_and(|d| d.join("net-traces/mahimahi").join(file).is_file());
        if present {
            cc_names.push(name);
        } else {
            notes.push(format!(
                "cc/{name}: link trace net-traces/mahimahi/{file} not found (set PARLA_SHARED_DIR), skipped"
            ));
        }
    }
    for scenario in cc_names {
        cases.push(Case {
            name: format!("cc/{scenario}"),
            suite: Suite::Cc,
            spec: CaseSpec::Cc { scenario },
        });
    }
    // Video calls: one case per acceptance condition.
    for s in crate::video::SCENARIOS {
        cases.push(Case {
            name: format!("video/{}", s.name),
            suite: Suite::Video,
            spec: CaseSpec::Video {
                scenario: s.name.to_string(),
            },
        });
    }
    // Resampling: the rate pairs a call uses.
    for (from, to) in [
        (44_100u32, 48_000u32),
        (48_000, 16_000),
        (16_000, 48_000),
        (48_000, 44_100),
    ] {
        cases.push(Case {
            name: format!("resample/{from}-{to}"),
            suite: Suite::Resample,
            spec: CaseSpec::Resample { from, to },
        });
    }
    cases
}

fn hash_f32(h: &mut Sha256, x: &[f32]) {
    h.update((x.len() as u64).to_le_bytes());
    for v in x {
        h.update(v.to_le_bytes());
    }
}

fn hash_rows(h: &mut Sha256, rows: &[PacketRecord]) {
    for r in rows {
        h.update(r.seq.to_le_bytes());
        h.update(r.send_us.to_le_bytes());
        h.update(r.arrival_us.map_or(u64::MAX, |a| a).to_le_bytes());
    }
}

/// SHA-256 of a case's material (every sample of every signal, or every packet record), hex.
pub fn material_hash(m: &Material) -> String {
    let mut h = Sha256::new();
    match m {
        Material::Audio(s) => {
            h.update(s.rate.to_le_bytes());
            h.update(s.out_rate.to_le_bytes());
            for x in [&s.mic, &s.far, &s.echo, &s.near, &s.noise, &s.expected] {
                hash_f32(&mut h, x);
            }
        }
        Material::Network(rows) => hash_rows(&mut h, rows),
        Material::Call(c) => {
            h.update((c.network.len() as u64).to_le_bytes());
            h.update(c.network.as_bytes());
            h.update(c.seed.to_le_bytes());
            h.update(c.seconds.to_le_bytes());
            hash_f32(&mut h, &c.talker_a);
            hash_f32(&mut h, &c.talker_b);
            for rows in [&c.rows.0, &c.rows.1] {
                h.update((rows.len() as u64).to_le_bytes());
                hash_rows(&mut h, rows);
            }
        }
        Material::Video(v) => {
            h.update((v.scenario.name.len() as u64).to_le_bytes());
            h.update(v.scenario.name.as_bytes());
            h.update(v.scenario.link.as_bytes());
            h.update(v.seed.to_le_bytes());
            h.update(v.scenario.seconds.to_le_bytes());
            hash_f32(&mut h, &v.talker_a);
            hash_f32(&mut h, &v.talker_b);
        }
        Material::Cc(c) => {
            h.update((c.scenario.name.len() as u64).to_le_bytes());
            h.update(c.scenario.name.as_bytes());
            h.update(c.seed.to_le_bytes());
            h.update(c.scenario.seconds.to_le_bytes());
            if let parla_cc::eval::Capacity::Trace { trace, .. } = &c.scenario.capacity {
                for t in trace.opportunities() {
                    h.update(t.to_le_bytes());
                }
            }
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The shared data folder: `PARLA_SHARED_DIR`, else `<repository>/../shared` (this crate lives in
/// `crates/parla-harness/`, two levels below the repository).
pub fn default_shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PARLA_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.is_dir().then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_wav_sizes_are_repaired() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 22_050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut buf, spec).expect("writer");
            for i in 0..1000i16 {
                w.write_sample(i * 7).expect("sample");
            }
            w.finalize().expect("finalize");
        }
        let mut wav = buf.into_inner();
        // What a writer to a pipe leaves: placeholder sizes.
        wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let data = wav
            .windows(4)
            .position(|w| w == b"data")
            .expect("data chunk");
        wav[data + 4..data + 8].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        assert!(
            read_wav_mono(&wav).is_err(),
            "the broken header must fail as is"
        );
        fix_streamed_wav_sizes(&mut wav);
        let (x, rate) = read_wav_mono(&wav).expect("repaired");
        assert_eq!((x.len(), rate), (1000, 22_050));
        assert!((x[999] - 999.0 * 7.0 / 32_768.0).abs() < 1e-6);
    }

    fn small(seed: u64) -> Corpus {
        let mut cfg = CorpusConfig::new(seed);
        cfg.seconds = 1.0;
        cfg.network_seconds = 2.0;
        cfg.speech = SpeechSet::Synthetic;
        Corpus::new(cfg)
    }

    fn hashes(c: &Corpus) -> Vec<String> {
        c.cases
            .iter()
            .map(|k| material_hash(&c.generate(k).expect("generate")))
            .collect()
    }

    #[test]
    fn same_seed_same_corpus_other_seed_other_corpus() {
        let a = hashes(&small(7));
        let b = hashes(&small(7));
        assert_eq!(a, b);
        let c = hashes(&small(8));
        // Every case changes with the seed.
        for (x, y) in a.iter().zip(&c) {
            assert_ne!(x, y);
        }
    }

    #[test]
    fn snr_and_echo_delay_are_as_specified() {
        let c = small(3);
        let case = c
            .cases
            .iter()
            .find(|k| k.name.starts_with("ns/pink-5db-48k"))
            .expect("case");
        let Material::Audio(s) = c.generate(case).expect("gen") else {
            panic!("audio")
        };
        let p = |x: &[f32]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        let snr = 10.0 * (p(&s.near) / p(&s.noise)).log10();
        assert!((snr - 5.0).abs() < 1e-3, "{snr}");
        let case = c
            .cases
            .iter()
            .find(|k| k.name.starts_with("aec/st-d40"))
            .expect("case");
        let Material::Audio(s) = c.generate(case).expect("gen") else {
            panic!("audio")
        };
        let (lag, _) = parla_metrics::estimate_delay(&s.far, &s.echo, 16_000 / 5);
        assert_eq!(lag, 640, "40 ms at 16 kHz");
    }

    #[test]
    fn image_room_cases_have_their_set_ser_and_delay() {
        let c = small(5);
        let img: Vec<&Case> = c
            .cases
            .iter()
            .filter(|k| k.name.starts_with("aec/img-"))
            .collect();
        let tune = img.iter().filter(|k| k.name.contains("-tune")).count();
        let hold = img.iter().filter(|k| k.name.contains("-hold")).count();
        assert_eq!((tune, hold), (5, 5));
        // Hold-out set: 16 kHz, SER -6 dB, 30 ms bulk delay + 20 cm of air.
        let case = img
            .iter()
            .find(|k| k.name.starts_with("aec/img-hold4-dt-ser-6"))
            .expect("case");
        let Material::Audio(s) = c.generate(case).expect("gen") else {
            panic!("audio")
        };
        // Twice the usual length; the near end from 40 % on.
        assert_eq!(s.mic.len(), 32_000);
        let start = s.mic.len() * 2 / 5;
        assert!(s.near[..start].iter().all(|&v| v == 0.0));
        let p = |x: &[f32]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        let ser = 10.0 * (p(&s.near[start..]) / p(&s.echo[start..])).log10();
        assert!((ser + 6.0).abs() < 1e-3, "{ser}");
        let (lag, _) = parla_metrics::estimate_delay(&s.far, &s.echo, 16_000 / 5);
        // 30 ms of buffers plus the acoustic path (0.2 m: about 9 samples), give or take the
        // early reflections that beat the direct sound in the correlation.
        assert!((480..=520).contains(&lag), "lag {lag}");
        // The echo path that made the echo comes with it (research tools read it): -6 dB of
        // energy, starting with the bulk delay, and the far end through it is the echo.
        let energy = p(&s.echo_path);
        assert!((energy - 0.25).abs() < 1e-3, "{energy}");
        assert!(s.echo_path[..470].iter().all(|&v| v == 0.0));
        assert_eq!(convolve_dense(&s.far, &s.echo_path, 16_000), s.echo);
    }
}
