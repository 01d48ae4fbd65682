//! Parla's stages over the corpus: one fresh engine instance per case, scored with
//! `parla-metrics` and timed per 10 ms frame.
//!
//! What is timed: for the audio suites, each call that processes one 10 ms block (the chain's
//! `push_capture` with its `push_render`, the resampler's `push` + `pull`, the codec's encode +
//! decode of one 20 ms packet), with the monotonic clock, after the engine was built; the
//! per-stage figures come from the send chain's own per-stage histograms. Wall time of a case
//! covers the whole processing loop (not signal generation, not scoring).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context as _;
use parla_codec::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
use parla_dsp::aec::{AecConfig, AecTuning, EchoCanceller};
use parla_dsp::chain::{SendChain, SendChainConfig};
use parla_dsp::resample::{ResampleMode, StreamResampler};
use parla_jitter::DelayPolicy;
use parla_jitter::replay::{self, ReplayConfig, TracePacket};
use parla_metrics::echo::{EchoSignals, measure};
use parla_metrics::{estimate_delay, log_spectral_distance_db, segmental_snr_db, si_sdr_db};
use serde::{Deserialize, Serialize};

use crate::corpus::{CallMaterial, Case, CaseSpec, Material, Signals, Suite};

/// Name of our system in reports.
pub const OURS: &str = "parla";

/// A deliberate degradation of Parla's configuration, for testing the regression mode (the
/// test hook): environment variable `PARLA_BENCH_DEGRADE` = `ns-off` (noise suppression off in
/// the ns and chain suites), `ns-rnnoise` (RNNoise alone, without the SNR-driven blend with the
/// spectral suppressor: the suppressor before issue 19), `opus-6k` (Opus at 6 kbps in the codec suite), `call-aec-off` (no
/// echo canceller at either end of the call suite's calls) or `call-tamper` (a byte flipped in
/// every 25th packet in flight in the call suite: authentication failures and concealment).
/// Two values are variants rather than degradations: `aec-near-end` and `aec-duplex` run the aec
/// and chain suites' AEC3 with [`AecTuning::NearEnd`] or [`AecTuning::Duplex`] instead of the
/// default tuning, so the tunings can be scored on the same seeded corpus (docs/AEC.md,
/// "Image-method rooms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Degrade {
    /// The normal configuration.
    #[default]
    None,
    /// Noise suppression off.
    NsOff,
    /// RNNoise alone (no SNR-driven blend).
    NsRnnoise,
    /// Opus bitrate 6 kbps.
    Opus6k,
    /// Calls without echo cancellation.
    CallAecOff,
    /// Calls with every 25th packet tampered with in flight.
    CallTamper,
    /// The aec and chain suites with the near-end AEC3 tuning (a variant, not a degradation).
    AecNearEnd,
    /// The aec and chain suites with the duplex AEC3 tuning (a variant, not a degradation).
    AecDuplex,
}

impl Degrade {
    /// Read `PARLA_BENCH_DEGRADE`.
    ///
    /// # Errors
    /// For an unknown value.
    pub fn from_env() -> anyhow::Result<Degrade> {
        match std::env::var("PARLA_BENCH_DEGRADE").ok().as_deref() {
            None | Some("") | Some("none") => Ok(Degrade::None),
            Some("ns-off") => Ok(Degrade::NsOff),
            Some("ns-rnnoise") => Ok(Degrade::NsRnnoise),
            Some("opus-6k") => Ok(Degrade::Opus6k),
            Some("call-aec-off") => Ok(Degrade::CallAecOff),
            Some("call-tamper") => Ok(Degrade::CallTamper),
            Some("aec-near-end") => Ok(Degrade::AecNearEnd),
            Some("aec-duplex") => Ok(Degrade::AecDuplex),
            Some(o) => anyhow::bail!(
                "PARLA_BENCH_DEGRADE={o:?}: expected ns-off, ns-rnnoise, opus-6k, call-aec-off, call-tamper, aec-near-end or aec-duplex"
            ),
        }
    }
}

/// CPU time of one stage per call, microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cpu {
    /// Stage name (`total` is the whole frame).
    pub stage: String,
    /// Calls timed.
    pub calls: u64,
    /// Median.
    pub median_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
}

/// The result of one system on one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// Case name.
    pub case: String,
    /// Suite.
    pub suite: String,
    /// `parla` or the peer's name.
    pub system: String,
    /// Quality metrics by name (see `docs/HARNESS.md`).
    pub metrics: BTreeMap<String, f64>,
    /// Wall time of the processing, seconds (peers: the subprocess, start to exit).
    pub wall_s: f64,
    /// Audio (or network) seconds processed.
    pub media_s: f64,
    /// `wall_s / media_s`.
    pub rtf: f64,
    /// Per-stage CPU time per call (ours only).
    pub cpu: Vec<Cpu>,
    /// Allocations on the real-time path: what was measured, or why not.
    pub allocations: String,
    /// Per-call CPU time samples, µs (for the distribution plot; not in the JSON).
    #[serde(skip)]
    pub call_us: Vec<f64>,
    /// `(time s, added delay ms)` of played packets (jitter; for the plot; not in the JSON).
    #[serde(skip)]
    pub series: Vec<(f64, f64)>,
}

/// What the harness can say about allocations: the `parla` binary does not install the counting
/// allocator (it is a test-only feature of `parla-core`), so the harness does not count them;
/// each real-time crate proves zero allocations in its `tests/rt_no_alloc.rs`.
pub const ALLOC_NOTE: &str = "not measured by the harness (no counting allocator in the binary); see each crate's tests/rt_no_alloc.rs";

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Median, p99 and p99.9 of per-call samples (µs).
pub fn cpu_from_samples(stage: &str, samples: &[f64]) -> Cpu {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    Cpu {
        stage: stage.to_string(),
        calls: s.len() as u64,
        median_us: quantile(&s, 0.5),
        p99_us: quantile(&s, 0.99),
        p999_us: quantile(&s, 0.999),
    }
}

fn chain_cpu(chain: &SendChain) -> Vec<Cpu> {
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    chain
        .timings()
        .iter()
        .map(|t| Cpu {
            stage: t.name.to_string(),
            calls: t.histogram.count(),
            median_us: us(t.histogram.quantile(0.5)),
            p99_us: us(t.histogram.quantile(0.99)),
            p999_us: us(t.histogram.quantile(0.999)),
        })
        .collect()
}

/// The lag (0..=`max_ms`) that best lines `out` up with `reference`, found on a one-second window
/// where the reference is loudest.
pub fn output_lag(reference: &[f32], out: &[f32], rate: u32, max_ms: u32) -> usize {
    let win = (rate as usize).min(reference.len());
    let max_lag = (rate * max_ms / 1000) as usize;
    if win == 0 || out.len() <= max_lag {
        return 0;
    }
    // The loudest one-second window (stepped by half a second).
    let step = (win / 2).max(1);
    let mut best = (0usize, -1.0f64);
    let mut s = 0;
    while s + win <= reference.len() {
        let e: f64 = reference[s..s + win]
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum();
        if e > best.1 {
            best = (s, e);
        }
        s += step;
    }
    let s = best.0;
    let end = (s + win + max_lag).min(out.len());
    if end <= s {
        return 0;
    }
    estimate_delay(&reference[s..s + win], &out[s..end], max_lag).0
}

/// Score an audio output against a case's signals and put the figures in `m`. `out` is the
/// system's output at the case rate (or the output rate for resample cases), in any alignment
/// within 60 ms late.
pub fn score(case: &Case, sig: &Signals, out: &[f32], m: &mut BTreeMap<String, f64>) {
    let rate = if sig.out_rate != 0 {
        sig.out_rate
    } else {
        sig.rate
    };
    let lsd_frame = if rate <= 16_000 { 512 } else { 1024 };
    let seg = rate as usize / 50;
    let target: &[f32] = match case.spec {
        CaseSpec::Resample { .. } => &sig.expected,
        _ => &sig.near,
    };
    if target.is_empty() {
        // Far-end single talk: only echo figures.
        let r = measure(
            EchoSignals {
                rate,
                mic: &sig.mic,
                out,
                echo: &sig.echo,
                near: &[],
                out_delay: 0,
            },
            settle_s(sig),
        );
        if let Some(e) = r.erle_db {
            m.insert("erle_db".into(), e);
        }
        return;
    }
    // Lags from -LEAD_MS to 60 ms are searched: the output is delayed by LEAD_MS first, so a
    // system whose output comes out slightly early is lined up too.
    let lead = (rate * LEAD_MS / 1000) as usize;
    let padded: Vec<f32> = std::iter::repeat_n(0.0, lead)
        .chain(out.iter().copied())
        .collect();
    let lag = output_lag(target, &padded, rate, 60 + LEAD_MS);
    m.insert(
        "lag_ms".into(),
        (lag as f64 - lead as f64) * 1000.0 / f64::from(rate),
    );
    let out = padded.get(lag..).unwrap_or(&[]);
    let n = target.len().min(out.len());
    let (t, o) = (&target[..n], &out[..n]);
    match case.spec {
        CaseSpec::Noisy { .. } => {
            let mic = &sig.mic[..n];
            let (si, so) = (si_sdr_db(t, mic), si_sdr_db(t, o));
            m.insert("si_sdr_in_db".into(), si);
            m.insert("si_sdr_out_db".into(), so);
            m.insert("si_sdr_gain_db".into(), so - si);
            let (gi, go) = (segmental_snr_db(t, mic, seg), segmental_snr_db(t, o, seg));
            m.insert("seg_snr_out_db".into(), go);
            m.insert("seg_snr_gain_db".into(), go - gi);
            m.insert(
                "lsd_in_db".into(),
                log_spectral_distance_db(t, mic, lsd_frame),
            );
            put_quality(m, t, &[("in", mic), ("out", o)], rate);
            m.insert(
                "lsd_out_db".into(),
                log_spectral_distance_db(t, o, lsd_frame),
            );
        }
        CaseSpec::Echo { .. } => {
            let r = measure(
                EchoSignals {
                    rate,
                    mic: &sig.mic[..n],
                    out: o,
                    echo: &sig.echo[..n],
                    near: t,
                    out_delay: 0,
                },
                settle_s(sig),
            );
            if let Some(e) = r.erle_db {
                m.insert("erle_db".into(), e);
            }
            if let Some(dt) = r.double_talk {
                m.insert("dt_si_sdr_gain_db".into(), dt.si_sdr_gain_db());
                m.insert("dt_level_change_db".into(), dt.level_change_db());
            }
            // Over the near end's part of the file (from 40 % on): SI-SDR against the clean
            // near-end speech, microphone vs output.
            let start = n * 2 / 5;
            let mic = &sig.mic[start..n];
            let (si, so) = (
                si_sdr_db(&t[start..], mic),
                si_sdr_db(&t[start..], &o[start..]),
            );
            m.insert("si_sdr_out_db".into(), so);
            m.insert("si_sdr_gain_db".into(), so - si);
            m.insert(
                "lsd_out_db".into(),
                log_spectral_distance_db(&t[start..], &o[start..], lsd_frame),
            );
            put_quality(m, &t[start..], &[("in", mic), ("out", &o[start..])], rate);
        }
        CaseSpec::Codec { .. } | CaseSpec::Resample { .. } => {
            m.insert("si_sdr_out_db".into(), si_sdr_db(t, o));
            m.insert("seg_snr_out_db".into(), segmental_snr_db(t, o, seg));
            m.insert(
                "lsd_out_db".into(),
                log_spectral_distance_db(t, o, lsd_frame),
            );
        }
        CaseSpec::Network { .. }
        | CaseSpec::Call { .. }
        | CaseSpec::Cc { .. }
        | CaseSpec::Video { .. } => {}
    }
}

/// PESQ-WB and STOI of each `(label, signal)` against `target` as `pesq_wb_{label}` and
/// `stoi_{label}`, when the Python packages are installed ([`crate::quality`]).
fn put_quality(m: &mut BTreeMap<String, f64>, target: &[f32], sigs: &[(&str, &[f32])], rate: u32) {
    let degraded: Vec<&[f32]> = sigs.iter().map(|&(_, s)| s).collect();
    let Some(scores) = crate::quality::pesq_stoi(target, &degraded, rate) else {
        return;
    };
    for (&(label, _), (pesq, stoi)) in sigs.iter().zip(scores) {
        if let Some(p) = pesq {
            m.insert(format!("pesq_wb_{label}"), p);
        }
        if let Some(s) = stoi {
            m.insert(format!("stoi_{label}"), s);
        }
    }
}

/// How early (ms) an output may be and still be lined up by [`score`].
const LEAD_MS: u32 = 5;

fn settle_s(sig: &Signals) -> f64 {
    let secs = sig.mic.len() as f64 / f64::from(sig.rate.max(1));
    (secs * 0.25).min(2.0)
}

/// Run Parla on one case and score it.
///
/// # Errors
/// When an engine cannot be built or fails.
pub fn run_ours(case: &Case, material: &Material, degrade: Degrade) -> anyhow::Result<Outcome> {
    let mut o = Outcome {
        case: case.name.clone(),
        suite: case.suite.as_str().to_string(),
        system: OURS.to_string(),
        metrics: BTreeMap::new(),
        wall_s: 0.0,
        media_s: 0.0,
        rtf: 0.0,
        cpu: Vec::new(),
        allocations: ALLOC_NOTE.to_string(),
        call_us: Vec::new(),
        series: Vec::new(),
    };
    match (material, &case.spec) {
        (Material::Audio(sig), CaseSpec::Noisy { .. }) => {
            let cfg = SendChainConfig::new(sig.rate)
                .noise_suppression(degrade != Degrade::NsOff)
                .ns_adaptive(degrade != Degrade::NsRnnoise);
            let chain = SendChain::new(cfg)?;
            let out = drive_chain(chain, sig, None, &mut o)?;
            score(case, sig, &out, &mut o.metrics);
        }
        (Material::Audio(sig), CaseSpec::Echo { .. }) => {
            let ns = case.suite == Suite::Chain && degrade != Degrade::NsOff;
            let proc = if ns || sig.rate != 16_000 {
                48_000
            } else {
                16_000
            };
            let cfg = SendChainConfig::new(sig.rate)
                .processing_rate(proc)
                .noise_suppression(ns)
                // Behind the echo canceller RNNoise alone: the SNR blend passes residual echo
                // (SendChainConfig::ns_adaptive).
                .ns_adaptive(false);
            let mut chain = SendChain::new(cfg)?;
            let aec = match degrade {
                Degrade::AecNearEnd => AecConfig::new().tuning(AecTuning::NearEnd),
                Degrade::AecDuplex => AecConfig::new().tuning(AecTuning::Duplex),
                _ => AecConfig::new(),
            };
            chain
                .set_echo_canceller(Box::new(EchoCanceller::new(aec)))
                .context("starting the echo canceller")?;
            let out = drive_chain(chain, sig, Some(&sig.far), &mut o)?;
            score(case, sig, &out, &mut o.metrics);
        }
        (Material::Audio(sig), CaseSpec::Codec { bitrate, .. }) => {
            let bitrate = if degrade == Degrade::Opus6k {
                6_000
            } else {
                *bitrate
            };
            let out = drive_opus(sig, bitrate, &mut o)?;
            score(case, sig, &out, &mut o.metrics);
        }
        (Material::Audio(sig), CaseSpec::Resample { from, to }) => {
            let out = drive_resampler(&sig.mic, *from, *to, &mut o)?;
            score(case, sig, &out, &mut o.metrics);
        }
        (Material::Network(rows), CaseSpec::Network { .. }) => {
            run_jitter(rows, &mut o)?;
        }
        (Material::Call(m), CaseSpec::Call { .. }) => {
            run_call(m, degrade, &mut o)?;
        }
        (Material::Cc(m), CaseSpec::Cc { .. }) => {
            crate::cc::run_case(m, &mut o)?;
        }
        (Material::Video(m), CaseSpec::Video { .. }) => {
            crate::video::run_case(m, &mut o)?;
        }
        _ => anyhow::bail!("case {} has the wrong material", case.name),
    }
    finish(&mut o);
    Ok(o)
}

/// Every `CALL_TAMPER_EVERY`-th packet is tampered with under [`Degrade::CallTamper`].
const CALL_TAMPER_EVERY: u64 = 25;

/// One simulated call (`parla-sim`, simulated clock) and its figures: per direction (`ab_`: A
/// talks, B listens; `ba_`) the mouth-to-ear delay, concealment, the network's and the jitter
/// buffer's losses and the E2EE counters (`_e2ee_failures`: rejected frames other than replays
/// of copies the network duplicated); per side (`a_`, `b_`) the ERLE; per side and stage the
/// engine's CPU histograms (`A encode`, ...). The wall time is the call's (two endpoints).
fn run_call(m: &CallMaterial, degrade: Degrade, o: &mut Outcome) -> anyhow::Result<()> {
    let mut cfg = m.sim_config()?;
    if degrade == Degrade::CallAecOff {
        cfg.call.aec = parla_engine::AecMode::Off;
    }
    if degrade == Degrade::CallTamper {
        cfg.tamper_every = Some(CALL_TAMPER_EVERY);
    }
    let r = parla_sim::run(&cfg).with_context(|| format!("call over {}", m.network))?;
    o.wall_s = r.wall_seconds;
    o.media_s = r.seconds;
    let mut put = |k: String, v: Option<f64>| {
        if let Some(v) = v {
            o.metrics.insert(k, v);
        }
    };
    for (p, d) in [("ab", &r.a_to_b), ("ba", &r.b_to_a)] {
        let (me, rx, net) = (&d.mouth_to_ear, &d.receiver, &d.network);
        put(format!("{p}_m2e_median_ms"), me.median_ms);
        put(format!("{p}_m2e_p10_ms"), me.p10_ms);
        put(format!("{p}_m2e_p90_ms"), me.p90_ms);
        put(format!("{p}_m2e_windows"), Some(me.windows_used as f64));
        put(format!("{p}_concealed_pct"), Some(rx.concealed_percent));
        put(
            format!("{p}_concealment_events"),
            Some(rx.concealment_events as f64),
        );
        put(format!("{p}_interruptions"), Some(rx.interruptions as f64));
        put(
            format!("{p}_network_loss_pct"),
            Some(100.0 * net.lost as f64 / net.sent.max(1) as f64),
        );
        put(format!("{p}_jitter_lost"), Some(rx.jitter_lost as f64));
        put(format!("{p}_late"), Some(rx.late as f64));
        put(
            format!("{p}_buffer_delay_mean_ms"),
            Some(rx.buffer_delay_mean_ms),
        );
        put(format!("{p}_e2ee_accepted"), Some(rx.e2ee_accepted as f64));
        put(
            format!("{p}_e2ee_auth_failures"),
            Some(rx.e2ee_auth_failures as f64),
        );
        put(format!("{p}_e2ee_replays"), Some(rx.e2ee_replays as f64));
        put(format!("{p}_e2ee_rejected"), Some(rx.e2ee_rejected as f64));
        put(
            format!("{p}_network_duplicates"),
            Some(net.duplicates as f64),
        );
        // A copy the network duplicated is rightly rejected as a replay; anything else that
        // was rejected is a failure.
        let failures = rx.e2ee_auth_failures
            + rx.e2ee_unknown_key
            + rx.e2ee_malformed
            + rx.e2ee_replays.saturating_sub(net.duplicates);
        put(format!("{p}_e2ee_failures"), Some(failures as f64));
    }
    put(
        "e2ee_code_mismatch".into(),
        Some(if r.e2ee.safety_codes_match { 0.0 } else { 1.0 }),
    );
    for (p, side) in [("a", &r.side_a), ("b", &r.side_b)] {
        put(format!("{p}_erle_db"), side.echo.erle_db);
        put(
            format!("{p}_erle_frames"),
            Some(side.echo.single_talk_frames as f64),
        );
        for (stage, c) in side.cpu.iter().filter(|(_, c)| c.frames > 0) {
            o.cpu.push(Cpu {
                stage: format!("{} {stage}", side.name),
                calls: c.frames,
                median_us: c.median_us,
                p99_us: c.p99_us,
                p999_us: c.p999_us,
            });
        }
    }
    Ok(())
}

/// Fill in the real-time factor and drop non-finite figures (JSON has no NaN; a metric that
/// could not be computed is absent).
pub fn finish(o: &mut Outcome) {
    o.rtf = if o.media_s > 0.0 {
        o.wall_s / o.media_s
    } else {
        0.0
    };
    o.metrics.retain(|_, v| v.is_finite());
    for c in &mut o.cpu {
        for v in [&mut c.median_us, &mut c.p99_us, &mut c.p999_us] {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
    }
}

/// Push the whole signal in 10 ms blocks (the far end first) through the chain's offline run
/// (`SendChain::offline`, what `parla process` streams files through), timing each block;
/// return the output lined up with the input (the chain's reported delay trimmed).
fn drive_chain(
    mut chain: SendChain,
    sig: &Signals,
    far: Option<&[f32]>,
    o: &mut Outcome,
) -> anyhow::Result<Vec<f32>> {
    let mut run = chain.offline(sig.mic.len());
    let mut out = Vec::with_capacity(run.output_len());
    let mut times = Vec::with_capacity(sig.mic.len() / run.block_len() + 16);
    let started = Instant::now();
    while run.next_block_len() > 0 {
        let (s, n) = (run.input_done(), run.next_block_len());
        let f = far.map(|f| &f[s.min(f.len())..(s + n).min(f.len())]);
        let t = Instant::now();
        let got = run.push(&sig.mic[s..s + n], f)?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        out.extend_from_slice(got);
    }
    // The chain's delay: blocks of silence until the output is complete.
    let mut guard = 0;
    while !run.is_complete() && guard < 1_000 {
        let t = Instant::now();
        let got = run.push_silence()?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        out.extend_from_slice(got);
        guard += 1;
    }
    drop(run);
    o.wall_s = started.elapsed().as_secs_f64();
    o.media_s = sig.mic.len() as f64 / f64::from(sig.rate);
    o.cpu = chain_cpu(&chain);
    o.cpu.push(cpu_from_samples("block (10 ms)", &times));
    o.call_us = times;
    out.resize(sig.mic.len(), 0.0);
    Ok(out)
}

fn drive_opus(sig: &Signals, bitrate: u32, o: &mut Outcome) -> anyhow::Result<Vec<f32>> {
    let cfg = OpusEncoderConfig::voice(sig.rate, 1).bitrate(bitrate);
    let mut enc = OpusEncoder::new(&cfg)?;
    let mut dec = OpusDecoder::new(sig.rate, 1)?;
    let frame = cfg.frame_samples();
    let mut pkt = vec![0u8; 1500];
    let mut pcm = vec![0.0f32; dec.max_frame_samples()];
    let mut out = Vec::with_capacity(sig.mic.len() + 2 * frame);
    let mut times = Vec::new();
    let mut bytes = 0usize;
    let padded: Vec<f32> = sig
        .mic
        .iter()
        .copied()
        .chain(std::iter::repeat_n(0.0, 2 * frame))
        .collect();
    let started = Instant::now();
    for chunk in padded.chunks_exact(frame) {
        let t = Instant::now();
        let p = enc.encode(chunk, &mut pkt)?;
        let n = dec.decode(&pkt[..p.len], &mut pcm)?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        bytes += p.len;
        out.extend_from_slice(&pcm[..n]);
    }
    o.wall_s = started.elapsed().as_secs_f64();
    o.media_s = sig.mic.len() as f64 / f64::from(sig.rate);
    o.metrics
        .insert("kbps".into(), bytes as f64 * 8.0 / o.media_s / 1000.0);
    o.cpu = vec![cpu_from_samples("encode+decode (20 ms)", &times)];
    o.call_us = times;
    Ok(out)
}

fn drive_resampler(x: &[f32], from: u32, to: u32, o: &mut Outcome) -> anyhow::Result<Vec<f32>> {
    let block = (from as usize).div_ceil(100);
    let mut r = StreamResampler::new(from, to, 1, block, ResampleMode::Fixed)?;
    let skip = r.delay_frames();
    let expected = (x.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let mut out = vec![0.0f32; expected + skip + 4 * (to as usize / 100 + 1)];
    let mut written = 0;
    let zeros = vec![0.0f32; block];
    let mut times = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    while written < expected + skip {
        let s = i * block;
        let b = x.get(s..(s + block).min(x.len())).unwrap_or(&[]);
        let b = if b.is_empty() { &zeros[..] } else { b };
        let t = Instant::now();
        r.push(b)?;
        let n = r.available().min(out.len() - written);
        if n > 0 && r.pull(&mut out[written..written + n]) {
            written += n;
        }
        times.push(t.elapsed().as_secs_f64() * 1e6);
        i += 1;
        if i > x.len() / block + 1000 {
            break;
        }
    }
    o.wall_s = started.elapsed().as_secs_f64();
    o.media_s = x.len() as f64 / f64::from(from);
    o.cpu = vec![cpu_from_samples("push+pull (10 ms)", &times)];
    o.call_us = times;
    out.truncate(written);
    let mut aligned = out.split_off(skip.min(out.len()));
    aligned.truncate(expected);
    Ok(aligned)
}

fn run_jitter(rows: &[parla_netsim::PacketRecord], o: &mut Outcome) -> anyhow::Result<()> {
    let n = rows.iter().map(|r| r.seq + 1).max().unwrap_or(0) as usize;
    let pk: Vec<TracePacket> = rows
        .iter()
        .filter_map(|r| {
            r.arrival_us.map(|a| TracePacket {
                seq: r.seq,
                send_us: r.send_us,
                arrival_us: a,
            })
        })
        .collect();
    let cfg = ReplayConfig::new(DelayPolicy::parla());
    let started = Instant::now();
    let out = replay::replay(&pk, n, &cfg)?;
    o.wall_s = started.elapsed().as_secs_f64();
    let m = replay::metrics(&pk, n, &out.play_us, out.stats.expand_rate());
    o.media_s = n as f64 * 0.02;
    o.metrics
        .insert("late_loss_pct".into(), m.late_loss * 100.0);
    o.metrics
        .insert("network_loss_pct".into(), m.network_loss * 100.0);
    o.metrics
        .insert("concealed_pct".into(), m.concealment * 100.0);
    o.metrics.insert("mean_delay_ms".into(), m.mean_delay_ms);
    o.metrics.insert("p95_delay_ms".into(), m.p95_delay_ms);
    o.metrics
        .insert("hindsight_delay_ms".into(), m.hindsight_delay_ms);
    o.metrics.insert(
        "delay_over_hindsight_ms".into(),
        m.mean_delay_ms - m.hindsight_delay_ms,
    );
    let per_packet_us = o.wall_s * 1e6 / n.max(1) as f64;
    // The replay is one call over the whole trace: only its mean per packet is known.
    o.cpu = vec![Cpu {
        stage: "replay, mean per 20 ms packet".into(),
        calls: n as u64,
        median_us: per_packet_us,
        p99_us: per_packet_us,
        p999_us: per_packet_us,
    }];
    let mut send = vec![0u64; n];
    for p in &pk {
        if let Some(s) = send.get_mut(p.seq as usize) {
            *s = p.send_us;
        }
    }
    o.series = out
        .play_us
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.map(|p| (send[i] as f64 / 1e6, (p as f64 - send[i] as f64) / 1000.0))
        })
        .collect();
    Ok(())
}
