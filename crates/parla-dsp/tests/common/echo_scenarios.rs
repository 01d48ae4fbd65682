//! Shared by the `aec-*` tests: run an echo canceller over a seeded scenario from
//! `parla_metrics::echo::scenario` and measure it with `parla_metrics::echo`.
#![allow(dead_code, unused_imports)] // each test uses a subset

use parla_core::FrameMeta;
use parla_dsp::aec::{AecBackend, AecConfig, AecMode, AecTuning, EchoCanceller};
use parla_dsp::{EchoStage, Stage};
use parla_metrics::echo::scenario::{Room, Scenario};
use parla_metrics::echo::{EchoReport, EchoSignals, measure};

/// The settling time excluded from the figures (the acceptance figures are "after 2 s").
pub const SETTLE_S: f64 = 2.0;

/// The scenario seed: `PARLA_TEST_SEED` when set, else `default` (printed for a replay).
pub use parla_testkit::seed::seed;

/// The backends compiled into this build (each test runs on all of them).
pub fn backends() -> Vec<AecBackend> {
    AecBackend::available().collect()
}

/// Whether the `webrtc` backend (the only one running [`AecTuning::NearEnd`]) is in this build;
/// prints why a test is skipped when it is not.
pub fn near_end_tuning_available() -> bool {
    let ok = AecBackend::Webrtc.is_available();
    if !ok {
        println!("skipped: the near-end tuning needs the webrtc backend");
    }
    ok
}

/// The modes a backend implements.
pub fn modes(backend: AecBackend) -> Vec<AecMode> {
    match backend {
        AecBackend::Webrtc => vec![AecMode::Aec3, AecMode::Mobile, AecMode::Off],
        AecBackend::Sonora => vec![AecMode::Aec3, AecMode::Off],
    }
}

/// The AEC3 tunings a backend can run (sonora takes no `EchoCanceller3Config`).
pub fn tunings(backend: AecBackend) -> Vec<AecTuning> {
    match backend {
        AecBackend::Webrtc => vec![AecTuning::Library, AecTuning::NearEnd],
        AecBackend::Sonora => vec![AecTuning::Library],
    }
}

/// Where the human speech recordings of alsa-utils are (`scripts/setup.d/70-bench-peers.sh`
/// installs them): 48 kHz mono 16-bit WAVs of one voice naming loudspeaker positions.
pub const ALSA_SOUNDS: &str = "/usr/share/sounds/alsa";

fn read_wav(path: &std::path::Path) -> Option<Vec<f32>> {
    let wav = parla_testkit::read_wav(path).ok()?;
    (wav.channels == 1 && wav.rate == 48_000).then_some(wav.samples)
}

/// The recordings `names` placed one after another at `starts` (seconds) in a signal of `len`
/// samples at 48 kHz, scaled to an active-speech level of `dbfs`.
fn place(names: &[&str], starts: &[f64], len: usize, dbfs: f64) -> Option<Vec<f32>> {
    let clips: Vec<Vec<f32>> = names
        .iter()
        .map(|n| read_wav(&std::path::Path::new(ALSA_SOUNDS).join(format!("{n}.wav"))))
        .collect::<Option<_>>()?;
    let mut x = vec![0.0f32; len];
    for (k, &t) in starts.iter().enumerate() {
        let start = (t * 48_000.0) as usize;
        for (o, &v) in x.iter_mut().skip(start).zip(&clips[k % clips.len()]) {
            *o += v;
        }
    }
    let active: Vec<f32> = x
        .chunks(480)
        .filter(|c| parla_metrics::rms_db(c) > -50.0)
        .flatten()
        .copied()
        .collect();
    let g = 10f64.powf((dbfs - parla_metrics::rms_db(&active)) / 20.0) as f32;
    x.iter_mut().for_each(|v| *v *= g);
    Some(x)
}

/// Double talk on human speech at 48 kHz, 12 s: five alsa-utils recordings as the far end (one
/// every 1.7 s from 0.2 s, -20 dBFS), three others as the near end (one every 2.6 s from 3.1 s,
/// -28 dBFS), the far end through `room` (impulse response from `seed`). `None` (with a message)
/// when the recordings are not installed.
pub fn alsa_double_talk(room: &Room, seed: u64) -> Option<Scenario> {
    alsa_double_talk_from(room, seed, 3.0)
}

/// As [`alsa_double_talk`], with the near end starting at `near_from_s` + 0.1 s (four
/// recordings) and the far end going on until 9 s later.
pub fn alsa_double_talk_from(room: &Room, seed: u64, near_from_s: f64) -> Option<Scenario> {
    let secs = near_from_s + 9.0;
    let len = (secs * 48_000.0) as usize;
    let far_count = ((secs - 1.5) / 1.7).floor() as u32 + 1;
    let far_starts: Vec<f64> = (0..far_count).map(|i| 0.2 + f64::from(i) * 1.7).collect();
    let near_starts: Vec<f64> = (0..4)
        .map(|i| near_from_s + 0.1 + f64::from(i) * 2.6)
        .collect();
    let far = place(
        &[
            "Front_Center",
            "Front_Left",
            "Front_Right",
            "Rear_Center",
            "Rear_Left",
        ],
        &far_starts,
        len,
        -20.0,
    );
    let near = place(
        &["Side_Left", "Side_Right", "Rear_Right"],
        &near_starts,
        len,
        -28.0,
    );
    match (far, near) {
        (Some(far), Some(near)) => Some(Scenario::from_speech(48_000, far, near, room, None, seed)),
        _ => {
            println!("skipped: the alsa-utils recordings are not in {ALSA_SOUNDS}");
            None
        }
    }
}

/// Run `far` (reference) and `mic` through a canceller built from `config`, frame by frame
/// (render first, then capture), and return the output, the last frame's metadata and the
/// stage's latency in samples.
pub fn run(config: AecConfig, rate: u32, far: &[f32], mic: &[f32]) -> (Vec<f32>, FrameMeta, usize) {
    let n = rate as usize / 100;
    let mut aec = EchoCanceller::new(config);
    aec.prepare(rate, n).expect("prepare");
    let mut out = vec![0.0f32; mic.len() / n * n];
    let mut meta = FrameMeta::default();
    for ((f, m), o) in far
        .chunks_exact(n)
        .zip(mic.chunks_exact(n))
        .zip(out.chunks_exact_mut(n))
    {
        aec.process_render(f).expect("render");
        aec.process_into(m, o, &mut meta).expect("capture");
    }
    (out, meta, aec.latency_samples())
}

/// Run the canceller with `far` as its reference over scenario `s` and measure the result.
pub fn run_and_measure(config: AecConfig, s: &Scenario, far: &[f32]) -> EchoReport {
    let (out, _, latency) = run(config, s.rate, far, &s.mic);
    measure(
        EchoSignals {
            rate: s.rate,
            mic: &s.mic,
            out: &out,
            echo: &s.echo,
            near: &s.near,
            out_delay: latency,
        },
        SETTLE_S,
    )
}
