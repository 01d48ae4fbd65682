//! Parla's benchmark harness, run by `parla bench` (see `docs/HARNESS.md` for the method; the
//! criterion benches of whole chains are the separate `parla-benches` package in `benches/`).
//!
//! - [`cc`]: congestion control evaluation (`parla cc eval`, the `cc` suite).
//! - [`video`]: the `video` suite, whole video calls over a reactive link (issue 17).
//! - [`corpus`]: the seeded corpus of call scenarios, generated in memory.
//! - [`suites`]: runs Parla's stages over the cases and scores them.
//! - [`peers`]: the same cases through GStreamer, ffmpeg, libspeexdsp and sox.
//! - [`report`]: `report.json`, `report.md` and the PNG plots.
//! - [`quality`]: PESQ-WB and STOI through the Python `pesq` and `pystoi` packages.
//! - [`regress`]: comparison with an earlier `report.json`.
//! - [`shard`]: `--shard K/N` slices and the merge of shard reports.
//! - [`race`]: the chain suite's whole-process race, `parla process --far` against GStreamer.
//! - [`plots`]: the PNG plots (also used by `parla jitter`).
//!
//! This crate uses anyhow (it is a tool, STYLE.md E5) and rayon (threads belong to the harness).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cc;
pub mod corpus;
pub mod peers;
pub mod plots;
pub mod quality;
pub mod race;
pub mod regress;
pub mod report;
pub mod room;
pub mod shard;
pub mod suites;
pub mod video;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use rayon::prelude::*;

use corpus::{Corpus, CorpusConfig, SpeechSet, Suite, material_hash};
use peers::Peer;
use report::{Failure, PeerStatus, Report, Scaling};
use shard::{ShardInfo, ShardSpec};
use suites::{Degrade, Outcome};

/// What `parla bench` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Suites to run (all when empty).
    pub suites: Vec<Suite>,
    /// Glob patterns on case names (all when empty).
    pub cases: Vec<String>,
    /// Threads in the pool.
    pub jobs: usize,
    /// Output folder.
    pub out: PathBuf,
    /// Run the peers too.
    pub peers: bool,
    /// Corpus seed.
    pub seed: u64,
    /// Seconds per audio case.
    pub seconds: f64,
    /// Seconds per network case.
    pub network_seconds: f64,
    /// Seconds per simulated call (call cases).
    pub call_seconds: f64,
    /// Speech sources.
    pub speech: SpeechSet,
    /// Shared data folder (real network traces).
    pub shared_dir: Option<PathBuf>,
    /// Measure `--jobs 1` against `--jobs 2` on the same cases (Parla only).
    pub scaling: bool,
    /// Show a progress bar (it is hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// The regression-test hook (normally [`Degrade::None`]).
    pub degrade: Degrade,
    /// Run only this slice of the selected cases (`--shard K/N`); `None` runs them all.
    pub shard: Option<ShardSpec>,
    /// The chain suite's whole-process race against GStreamer (`--race`), when asked for.
    pub race: Option<RaceSpec>,
}

/// What the whole-process race runs (see [`race`]).
#[derive(Debug, Clone)]
pub struct RaceSpec {
    /// The `parla` executable to time.
    pub parla: PathBuf,
    /// Length of the file, seconds.
    pub seconds: f64,
    /// Alternating rounds.
    pub runs: usize,
}

fn pool(n: usize) -> anyhow::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n.max(1))
        .build()
        .context("building the thread pool")
}

/// Build the corpus, run every selected case through Parla (and the peers), measure scaling if
/// asked, and return the report (not yet written; see [`report::write`]).
///
/// With [`Options::shard`], only that slice of the selected cases runs and the report is a
/// shard report (see [`shard`]); a shard may hold no case when there are more shards than cases.
///
/// # Errors
/// For bad options (`scaling` with `shard`), or when no case is selected.
pub fn run(opts: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut cfg = CorpusConfig::new(opts.seed);
    cfg.seconds = opts.seconds;
    cfg.network_seconds = opts.network_seconds;
    cfg.call_seconds = opts.call_seconds;
    cfg.speech = opts.speech;
    cfg.shared_dir = opts.shared_dir.clone();
    anyhow::ensure!(
        opts.seconds >= 0.5 && opts.seconds <= 600.0,
        "--seconds must be between 0.5 and 600"
    );
    anyhow::ensure!(
        opts.call_seconds >= 1.0 && opts.call_seconds <= 3600.0,
        "--call-seconds must be between 1 and 3600"
    );
    let mut corpus = Corpus::new(cfg);
    corpus.select(&opts.suites, &opts.cases)?;
    if let Err(why) = quality::python() {
        corpus.notes.push(why.to_string());
    }
    anyhow::ensure!(
        !corpus.cases.is_empty(),
        "no case matches the suites and --cases given"
    );
    let shard = match opts.shard {
        Some(spec) => {
            anyhow::ensure!(
                !opts.scaling && opts.race.is_none(),
                "--scaling and --race time one machine: run them without --shard"
            );
            let assigned = spec.assign(&corpus.cases);
            let info = ShardInfo {
                spec,
                cases: corpus.cases.iter().map(|c| c.name.clone()).collect(),
                assigned,
                peers: opts.peers,
            };
            let mine: std::collections::HashSet<&str> =
                info.assigned.iter().map(String::as_str).collect();
            corpus.cases.retain(|c| mine.contains(c.name.as_str()));
            Some(info)
        }
        None => None,
    };
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let work = opts.out.join(".peers");
    let mut peers: Vec<Peer> = Vec::new();
    let mut statuses = Vec::new();
    if opts.peers {
        std::fs::create_dir_all(&work)?;
        for p in Peer::ALL {
            if !corpus.cases.iter().any(|c| p.suites().contains(&c.suite)) {
                continue;
            }
            let st = p.probe(&work);
            match &st {
                Ok(_) => peers.push(p),
                Err(e) => eprintln!("peer {} skipped: {e}", p.name()),
            }
            statuses.push(PeerStatus {
                name: p.name().into(),
                available: st.is_ok(),
                detail: st.unwrap_or_else(|e| e),
                command: peers::describe(p).into(),
            });
        }
    }
    let bar = indicatif::ProgressBar::new(corpus.cases.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} bench [{bar:40}] {pos}/{len} {msg} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if !opts.progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    type CaseResult = (String, String, Vec<Outcome>, Vec<Failure>);
    let mut results: Vec<CaseResult> = pool(opts.jobs)?.install(|| {
        by_expected_cost(&corpus.cases)
            .par_iter()
            .with_max_len(1)
            .map(|case| {
                let mut outs = Vec::new();
                let mut fails = Vec::new();
                let fail = |system: &str, e: anyhow::Error| Failure {
                    case: case.name.clone(),
                    system: system.to_string(),
                    error: format!("{e:#}"),
                };
                let material = match corpus.generate(case) {
                    Ok(m) => m,
                    Err(e) => {
                        bar.inc(1);
                        return (
                            case.name.clone(),
                            String::new(),
                            outs,
                            vec![fail("corpus", e)],
                        );
                    }
                };
                let hash = material_hash(&material);
                match suites::run_ours(case, &material, opts.degrade) {
                    Ok(o) => outs.push(o),
                    Err(e) => fails.push(fail(suites::OURS, e)),
                }
                for p in peers.iter().filter(|p| p.suites().contains(&case.suite)) {
                    let r = tempfile::tempdir()
                        .context("temporary folder")
                        .and_then(|d| p.run(case, &material, d.path(), &work));
                    match r {
                        Ok(o) => outs.push(o),
                        Err(e) => fails.push(fail(p.name(), e)),
                    }
                }
                bar.set_message(case.name.clone());
                bar.inc(1);
                (case.name.clone(), hash, outs, fails)
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    let mut hashes = std::collections::BTreeMap::new();
    // Back to the corpus's order for the report (the pool ran the longest cases first).
    let position: std::collections::HashMap<&str, usize> = corpus
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    results.sort_by_key(|r| position.get(r.0.as_str()).copied().unwrap_or(usize::MAX));
    for (name, hash, o, f) in results {
        if !hash.is_empty() {
            hashes.insert(name, hash);
        }
        outcomes.extend(o);
        failures.extend(f);
    }
    for f in &failures {
        eprintln!("failed: {f}");
    }
    let scaling = if opts.scaling {
        Some(measure_scaling(&corpus, opts.degrade)?)
    } else {
        None
    };
    // After the cases, alone on the machine; only with the chain suite and GStreamer's webrtcdsp.
    let gst_ok = peers.contains(&Peer::GstWebrtcdsp);
    let process_race = match &opts.race {
        Some(spec) if corpus.cases.iter().any(|c| c.suite == Suite::Chain) => {
            if gst_ok {
                Some(race::process_race(
                    &corpus,
                    &spec.parla,
                    &work,
                    spec.seconds,
                    spec.runs,
                )?)
            } else {
                corpus.notes.push(
                    "process race skipped: it needs --peers and GStreamer's webrtcdsp".into(),
                );
                None
            }
        }
        _ => None,
    };
    Ok(Report {
        seed: opts.seed,
        seconds: opts.seconds,
        network_seconds: opts.network_seconds,
        call_seconds: opts.call_seconds,
        jobs: opts.jobs,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        degrade: opts.degrade,
        speakers: corpus.speakers.iter().map(|s| s.info()).collect(),
        corpus_notes: corpus.notes.clone(),
        corpus_hashes: hashes,
        peers: statuses,
        outcomes,
        failures,
        wall_s: started.elapsed().as_secs_f64(),
        scaling,
        process_race,
        regression: None,
        shard,
        shard_runs: Vec::new(),
    })
}

/// The cases, most expensive first (calls, then echo cases by reverberation time, then network
/// cases, then the rest), so that a pool does not end waiting on one long case started last (longest
/// processing time first scheduling).
pub(crate) fn by_expected_cost(cases: &[corpus::Case]) -> Vec<&corpus::Case> {
    let cost = |c: &corpus::Case| -> f64 {
        match &c.spec {
            corpus::CaseSpec::Echo {
                rt60_ms,
                change,
                image,
                ..
            } => {
                // Image-method cases are twice as long.
                let long = if change.is_some() || image.is_some() {
                    2.0
                } else {
                    1.0
                };
                1e6 + rt60_ms * long
            }
            corpus::CaseSpec::Network { .. } => 1e5,
            // A 20 s call (two endpoints, AEC3 + NS + Opus + SFrame each) takes about as long
            // as four 8 s echo cases.
            corpus::CaseSpec::Call { .. } => 2e6,
            // Three 60 s link simulations.
            corpus::CaseSpec::Cc { .. } => 1e6,
            // A 20 s call with video both ways (encode and decode in the call loop).
            corpus::CaseSpec::Video { .. } => 3e6,
            _ => 0.0,
        }
    };
    let mut v: Vec<&corpus::Case> = cases.iter().collect();
    v.sort_by(|a, b| cost(b).total_cmp(&cost(a)));
    v
}

/// Run Parla alone over the corpus's cases (corpus generation included) with a pool of 1 and
/// then 2 threads, and time each run.
///
/// # Errors
/// When a pool cannot be built.
pub fn measure_scaling(corpus: &Corpus, degrade: Degrade) -> anyhow::Result<Scaling> {
    let once = |threads: usize| -> anyhow::Result<f64> {
        let p = pool(threads)?;
        let t = Instant::now();
        p.install(|| {
            by_expected_cost(&corpus.cases)
                .par_iter()
                .with_max_len(1)
                .for_each(|case| {
                    if let Ok(m) = corpus.generate(case) {
                        let _ = suites::run_ours(case, &m, degrade);
                    }
                })
        });
        Ok(t.elapsed().as_secs_f64())
    };
    let jobs1_s = once(1)?;
    let jobs2_s = once(2)?;
    Ok(Scaling {
        cases: corpus.cases.len(),
        jobs1_s,
        jobs2_s,
        speedup: jobs1_s / jobs2_s.max(1e-9),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}
