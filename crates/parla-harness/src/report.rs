//! The report: `report.json` (everything, serde), `report.md` (tables: per-suite summary with
//! each peer next to Parla as ratios, per case, CPU per frame, scaling, regression) and PNG plots
//! (per-case quality bars, jitter delay over time, CPU-per-frame distributions).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::corpus::{SpeakerInfo, Suite};
use crate::regress::Comparison;
use crate::shard::{ShardInfo, ShardRun};
use crate::suites::{Degrade, OURS, Outcome};

/// A peer's availability in this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Peer name.
    pub name: String,
    /// Whether it ran.
    pub available: bool,
    /// Tool version, or why it was skipped.
    pub detail: String,
    /// Its command line.
    pub command: String,
}

/// Parallel scaling measured in this run: the same cases (Parla only) with 1 and 2 threads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scaling {
    /// Cases run each time.
    pub cases: usize,
    /// Wall time with a pool of 1 thread, seconds.
    pub jobs1_s: f64,
    /// Wall time with a pool of 2 threads, seconds.
    pub jobs2_s: f64,
    /// `jobs1_s / jobs2_s`.
    pub speedup: f64,
    /// Logical CPUs the OS reports.
    pub cpus: usize,
}

/// The largest per-stage p99.9 of Parla's 10 ms stages (every suite but codec): case, stage, µs.
pub fn worst_p999(outcomes: &[Outcome]) -> Option<(String, String, f64)> {
    outcomes
        .iter()
        .filter(|o| o.system == OURS && o.suite != "codec")
        .flat_map(|o| {
            o.cpu
                .iter()
                .map(move |c| (o.case.clone(), c.stage.clone(), c.p999_us))
        })
        .max_by(|a, b| a.2.total_cmp(&b.2))
}

fn write_race(s: &mut String, race: &crate::race::ProcessRace) {
    let med = |v: Vec<f64>| {
        let mut v = v;
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let opt = |x: Option<f64>, unit: &str| x.map_or("-".into(), |x| format!("{x:.2}{unit}"));
    let _ = writeln!(
        s,
        "\n## Whole-process race (chain): `parla process --far` against GStreamer webrtcdsp\n\n\
         {:.0} s file made of `{}`, {} alternating rounds after one unscored run of each; \
         ratio = GStreamer's time / Parla's per round (> 1: Parla faster), median of the rounds. \
         Whole processes (start-up and WAV files included).\n\n\
         - Parla: `{}`\n- GStreamer: `{}`\n\n\
         | system | median wall s | median CPU s | median peak RSS MiB |\n|---|---:|---:|---:|",
        race.seconds,
        race.case,
        race.parla.len(),
        race.parla_command,
        race.gst_command
    );
    for (name, runs) in [("parla", &race.parla), ("gst-webrtcdsp", &race.gst)] {
        let cpu: Vec<f64> = runs.iter().filter_map(|r| r.cpu_s).collect();
        let rss: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.max_rss_kib.map(|k| k as f64 / 1024.0))
            .collect();
        let _ = writeln!(
            s,
            "| {name} | {:.2} | {} | {} |",
            med(runs.iter().map(|r| r.wall_s).collect()),
            opt((!cpu.is_empty()).then(|| med(cpu)), ""),
            opt((!rss.is_empty()).then(|| med(rss)), "")
        );
    }
    let _ = writeln!(
        s,
        "\nRatio by wall time **{:.2}**, by CPU time **{}**.\n",
        race.wall_ratio,
        opt(race.cpu_ratio, "")
    );
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Corpus seed.
    pub seed: u64,
    /// Seconds per audio case.
    pub seconds: f64,
    /// Seconds per network case.
    pub network_seconds: f64,
    /// Seconds per simulated call (0 in reports written before the call suite existed).
    #[serde(default)]
    pub call_seconds: f64,
    /// Threads in the pool.
    pub jobs: usize,
    /// Logical CPUs the OS reports.
    pub cpus: usize,
    /// The deliberate degradation in force (the regression test hook), normally `none`.
    pub degrade: Degrade,
    /// Speech sources and their provenance.
    pub speakers: Vec<SpeakerInfo>,
    /// What the corpus left out and why.
    pub corpus_notes: Vec<String>,
    /// SHA-256 of each case's material.
    pub corpus_hashes: BTreeMap<String, String>,
    /// Peers and their status (empty without `--peers`).
    pub peers: Vec<PeerStatus>,
    /// Every system on every case.
    pub outcomes: Vec<Outcome>,
    /// Runs that failed.
    pub failures: Vec<Failure>,
    /// Wall time of the whole run (corpus, suites, peers), seconds.
    pub wall_s: f64,
    /// Parallel scaling, when asked for.
    pub scaling: Option<Scaling>,
    /// The chain suite's whole-process race against GStreamer, when asked for.
    #[serde(default)]
    pub process_race: Option<crate::race::ProcessRace>,
    /// The comparison with a baseline, when asked for.
    pub regression: Option<Comparison>,
    /// In a shard's report (`--shard K/N`): the slice it ran and of what.
    #[serde(default)]
    pub shard: Option<ShardInfo>,
    /// In a merged report: each shard's run (run-specific: pool, machine, wall time).
    #[serde(default)]
    pub shard_runs: Vec<ShardRun>,
}

/// A run that failed: a case's corpus generation, or one system on one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Case name.
    pub case: String,
    /// `parla`, a peer's name, or `corpus` (the case's material could not be generated).
    pub system: String,
    /// The error, with its causes.
    pub error: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}: {}", self.case, self.system, self.error)
    }
}

/// The figures shown per suite, in column order.
pub fn key_metrics(suite: &str) -> &'static [&'static str] {
    match suite {
        "ns" => &[
            "si_sdr_gain_db",
            "seg_snr_gain_db",
            "lsd_out_db",
            "pesq_wb_out",
            "stoi_out",
        ],
        "aec" => &[
            "erle_db",
            "si_sdr_gain_db",
            "dt_si_sdr_gain_db",
            "pesq_wb_out",
            "stoi_out",
        ],
        "chain" => &[
            "erle_db",
            "si_sdr_gain_db",
            "lsd_out_db",
            "pesq_wb_out",
            "stoi_out",
        ],
        "codec" => &["si_sdr_out_db", "lsd_out_db", "kbps"],
        "jitter" => &[
            "late_loss_pct",
            "concealed_pct",
            "mean_delay_ms",
            "p95_delay_ms",
            "hindsight_delay_ms",
        ],
        "resample" => &["si_sdr_out_db", "lsd_out_db"],
        "call" => &[
            "ab_m2e_median_ms",
            "ba_m2e_median_ms",
            "ab_concealed_pct",
            "ba_concealed_pct",
            "a_erle_db",
            "b_erle_db",
            "ab_e2ee_failures",
            "ba_e2ee_failures",
        ],
        "video" => &[
            "freeze_pct",
            "e2e_p50_ms",
            "psnr_mean_db",
            "skew_p5_ms",
            "skew_p95_ms",
            "skew_call_p95_ms",
            "recovered_pct",
            "in_time_pct",
            "m2e_median_ms",
        ],
        "cc" => &[
            "utilization_pct",
            "queue_p95_ms",
            "loss_pct",
            "convergence_ms",
            "drain_ms",
            "share_gap_pct",
        ],
        _ => &[],
    }
}

fn fmt(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.2}"),
        _ => "-".into(),
    }
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// One row of the summary: a system on one suite, over the cases both it and Parla ran.
#[derive(Debug, Clone)]
pub struct SummaryRow {
    /// Suite.
    pub suite: String,
    /// System.
    pub system: String,
    /// Cases.
    pub cases: usize,
    /// Mean of each key metric.
    pub means: Vec<Option<f64>>,
    /// Total wall time, seconds.
    pub wall_s: f64,
    /// Parla's total wall time on the same cases, seconds.
    pub ours_wall_s: f64,
}

impl SummaryRow {
    /// Throughput of Parla relative to this system on the same cases (`> 1`: Parla is faster).
    pub fn throughput_ratio(&self) -> f64 {
        self.wall_s / self.ours_wall_s.max(1e-12)
    }
}

/// The per-suite summary rows (Parla first in each suite).
pub fn summary(outcomes: &[Outcome]) -> Vec<SummaryRow> {
    let mut rows = Vec::new();
    for suite in Suite::ALL.map(Suite::as_str) {
        let ours: BTreeMap<&str, &Outcome> = outcomes
            .iter()
            .filter(|o| o.suite == suite && o.system == OURS)
            .map(|o| (o.case.as_str(), o))
            .collect();
        let mut systems: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.suite == suite)
            .map(|o| o.system.as_str())
            .collect();
        systems.sort_by_key(|s| (*s != OURS, *s));
        systems.dedup();
        for sys in systems {
            let mine: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| {
                    o.suite == suite && o.system == sys && ours.contains_key(o.case.as_str())
                })
                .collect();
            if mine.is_empty() {
                continue;
            }
            let keys = key_metrics(suite);
            rows.push(SummaryRow {
                suite: suite.to_string(),
                system: sys.to_string(),
                cases: mine.len(),
                means: keys
                    .iter()
                    .map(|k| mean(mine.iter().filter_map(|o| o.metrics.get(*k).copied())))
                    .collect(),
                wall_s: mine.iter().map(|o| o.wall_s).sum(),
                ours_wall_s: mine
                    .iter()
                    .filter_map(|o| ours.get(o.case.as_str()).map(|x| x.wall_s))
                    .sum(),
            });
        }
    }
    rows
}

/// The markdown report.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# parla bench report\n");
    let _ = writeln!(
        s,
        "Seed {}, {} s per audio case, {} s per network case, {} s per call, {} cases, pool of {} thread(s) on {} logical CPU(s), whole run {:.1} s{}.\n",
        r.seed,
        r.seconds,
        r.network_seconds,
        r.call_seconds,
        r.corpus_hashes.len(),
        r.jobs,
        r.cpus,
        r.wall_s,
        if r.degrade == Degrade::None {
            String::new()
        } else {
            format!(", DEGRADED BUILD ({:?}, test hook)", r.degrade)
        }
    );
    if let Some(sh) = &r.shard {
        let _ = writeln!(
            s,
            "Shard {} of a run split in {}: {} of the {} selected cases. Merge every shard's report.json with `parla bench merge` for the whole run's report.\n",
            sh.spec.index,
            sh.spec.count,
            sh.assigned.len(),
            sh.cases.len()
        );
    }
    if !r.shard_runs.is_empty() {
        let _ = writeln!(
            s,
            "Merged from {} shards (whole run = the sum of their wall times; pool and CPUs: the largest):\n\n| shard | cases | jobs | CPUs | wall s |\n|---|---:|---:|---:|---:|",
            r.shard_runs.len()
        );
        for x in &r.shard_runs {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.1} |",
                x.spec, x.cases, x.jobs, x.cpus, x.wall_s
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Summary per suite\n");
    let _ = writeln!(
        s,
        "Means over the cases each system ran (Parla on the same cases). Throughput ratio = the system's wall time / Parla's wall time on those cases (> 1: Parla is faster; peers' times include process start-up and WAV I/O). Δ = Parla minus the system.\n"
    );
    let rows = summary(&r.outcomes);
    for suite in Suite::ALL.map(Suite::as_str) {
        let sr: Vec<&SummaryRow> = rows.iter().filter(|x| x.suite == suite).collect();
        if sr.is_empty() {
            continue;
        }
        let keys = key_metrics(suite);
        let _ = writeln!(s, "### {suite}\n");
        let _ = write!(s, "| system | cases |");
        for k in keys {
            let _ = write!(s, " {k} |");
        }
        let _ = writeln!(s, " wall s | RTF | throughput ratio |");
        let _ = writeln!(s, "|---|---:|{}---:|---:|---:|", "---:|".repeat(keys.len()));
        let ours = sr.iter().find(|x| x.system == OURS);
        for x in &sr {
            let _ = write!(s, "| {} | {} |", x.system, x.cases);
            for (i, v) in x.means.iter().enumerate() {
                let delta = match (ours.and_then(|o| o.means[i]), v) {
                    (Some(o), Some(v)) if x.system != OURS => format!(" (Δ {:+.2})", o - v),
                    _ => String::new(),
                };
                let _ = write!(s, " {}{delta} |", fmt(*v));
            }
            let media: f64 = r
                .outcomes
                .iter()
                .filter(|o| o.suite == suite && o.system == x.system)
                .map(|o| o.media_s)
                .sum();
            let _ = writeln!(
                s,
                " {:.3} | {:.4} | {} |",
                x.wall_s,
                x.wall_s / media.max(1e-12),
                if x.system == OURS {
                    "1".to_string()
                } else {
                    format!("{:.1}", x.throughput_ratio())
                }
            );
        }
        let _ = writeln!(s);
    }
    if let Some(sc) = &r.scaling {
        let _ = writeln!(
            s,
            "## Parallel scaling\n\nParla alone on the same {} cases: 1 thread {:.2} s, 2 threads {:.2} s, speed-up {:.2}x ({} logical CPUs; the machine may be shared).\n",
            sc.cases, sc.jobs1_s, sc.jobs2_s, sc.speedup, sc.cpus
        );
    }
    if let Some(c) = &r.regression {
        let _ = writeln!(
            s,
            "## Regression check against {}\n\nTolerances: {} dB (dB metrics), {} percentage points (late loss, concealment), {} ms (delays). Compared {} values; {} better; {} new case(s); {} judged metric(s) missing; {} worse. Result: **{}**.\n",
            c.baseline,
            c.tolerance.db,
            c.tolerance.pct,
            c.tolerance.ms,
            c.compared,
            c.better,
            c.new_cases,
            c.missing,
            c.worse.len(),
            if c.passed() { "pass" } else { "FAIL" }
        );
        if !c.worse.is_empty() {
            let _ = writeln!(
                s,
                "| case | metric | baseline | now | tolerance |\n|---|---|---:|---:|---:|"
            );
            for w in &c.worse {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.3} | {:.3} | {} |",
                    w.case, w.metric, w.old, w.new, w.tolerance
                );
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(s, "## Per case\n");
    for suite in Suite::ALL.map(Suite::as_str) {
        let os: Vec<&Outcome> = r.outcomes.iter().filter(|o| o.suite == suite).collect();
        if os.is_empty() {
            continue;
        }
        let keys = key_metrics(suite);
        let _ = writeln!(s, "### {suite}\n");
        let _ = write!(s, "| case | system |");
        for k in keys {
            let _ = write!(s, " {k} |");
        }
        let _ = writeln!(s, " wall ms | RTF |");
        let _ = writeln!(s, "|---|---|{}---:|---:|", "---:|".repeat(keys.len()));
        for o in os {
            let _ = write!(s, "| {} | {} |", o.case, o.system);
            for k in keys {
                let _ = write!(s, " {} |", fmt(o.metrics.get(*k).copied()));
            }
            let _ = writeln!(s, " {:.1} | {:.4} |", o.wall_s * 1e3, o.rtf);
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "## CPU per call (Parla)\n\nMedian / p99 / p99.9 in µs per call of each stage (the send chain's per-stage histograms; `block (10 ms)` is one 10 ms push with its far end). Allocations on the real-time path: {}.\n",
        crate::suites::ALLOC_NOTE
    );
    let _ = writeln!(
        s,
        "| case | stage | calls | median µs | p99 µs | p99.9 µs |\n|---|---|---:|---:|---:|---:|"
    );
    for o in r.outcomes.iter().filter(|o| o.system == OURS) {
        for c in &o.cpu {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} | {:.1} | {:.1} |",
                o.case, c.stage, c.calls, c.median_us, c.p99_us, c.p999_us
            );
        }
    }
    if let Some((case, stage, p)) = worst_p999(&r.outcomes) {
        let _ = writeln!(
            s,
            "\nLargest p99.9 of a stage per 10 ms (every suite but codec, whose calls are 20 ms packets): **{p:.1} µs** ({stage}, {case}); {} the 1 ms budget.",
            if p < 1000.0 { "within" } else { "OVER" }
        );
    }
    if let Some(race) = &r.process_race {
        write_race(&mut s, race);
    }
    let _ = writeln!(
        s,
        "\n## Corpus\n\n| speaker | seconds | provenance |\n|---|---:|---|"
    );
    for sp in &r.speakers {
        let _ = writeln!(s, "| {} | {:.1} | {} |", sp.name, sp.seconds, sp.provenance);
    }
    for n in &r.corpus_notes {
        let _ = writeln!(s, "\n- {n}");
    }
    if !r.peers.is_empty() {
        let _ = writeln!(
            s,
            "\n## Peers\n\n| peer | status | command |\n|---|---|---|"
        );
        for p in &r.peers {
            let _ = writeln!(
                s,
                "| {} | {} | `{}` |",
                p.name,
                if p.available {
                    format!("ran ({})", p.detail)
                } else {
                    format!("skipped: {}", p.detail)
                },
                p.command
            );
        }
    }
    if !r.failures.is_empty() {
        let _ = writeln!(s, "\n## Failures\n");
        for f in &r.failures {
            let _ = writeln!(s, "- {f}");
        }
    }
    s
}

/// The text of a `report.json`, refusing files over 512 MiB.
pub(crate) fn read_report_text(path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(meta.len() < 512 << 20, "{} is too large", path.display());
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Write `report.json` and `report.md` into `dir`, and the plots (skipped with a note when no
/// font is installed). Returns the notes.
///
/// # Errors
/// When a file cannot be written.
pub fn write(r: &Report, dir: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(r)?)?;
    std::fs::write(dir.join("report.md"), markdown(r))?;
    let mut notes = Vec::new();
    match crate::plots::register_font() {
        Ok(()) => {
            crate::plots::quality(&r.outcomes, &dir.join("quality.png"))?;
            if r.outcomes.iter().any(|o| !o.series.is_empty()) {
                crate::plots::jitter(&r.outcomes, &dir.join("jitter_delay.png"))?;
            }
            if r.outcomes.iter().any(|o| !o.call_us.is_empty()) {
                crate::plots::cpu(&r.outcomes, &dir.join("cpu.png"))?;
            }
        }
        Err(e) => notes.push(format!("no plots: {e:#}")),
    }
    Ok(notes)
}
