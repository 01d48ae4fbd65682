//! `parla bench`: the benchmark harness. Runs the seeded corpus through Parla's suites (and,
//! with `--peers`, through GStreamer, ffmpeg, libspeexdsp and sox) in a pool of threads, writes
//! `report.json`, `report.md` and PNG plots, and optionally compares with an earlier report
//! (exit status 1 when a metric got worse beyond the tolerance). `--shard K/N` runs one slice of
//! the cases and `parla bench merge` combines the shard reports into the unsharded run's report.
//! The work is done by the `parla-harness` crate; see `docs/HARNESS.md`.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use parla_harness::corpus::{SpeechSet, Suite, default_shared_dir};
use parla_harness::regress::{Tolerance, compare, load_baseline};
use parla_harness::shard::{ShardSpec, load_report, merge};
use parla_harness::suites::Degrade;
use parla_harness::{Options, report};

/// Arguments of `parla bench`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `merge`: combine shard reports (otherwise: run the harness).
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Suites to run: ns, aec, chain, codec, jitter, resample, call, cc (all when none is given).
    pub suites: Vec<String>,
    /// Only cases whose name matches this glob (e.g. 'ns/pink-*'); repeatable.
    #[arg(long)]
    pub cases: Vec<String>,
    /// Threads in the pool (one engine instance per case).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Output folder for report.json, report.md and the plots.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Also run the peers (GStreamer, ffmpeg, libspeexdsp, sox) on the same cases.
    #[arg(long)]
    pub peers: bool,
    /// Corpus seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds per audio case.
    #[arg(long, default_value_t = 8.0)]
    pub seconds: f64,
    /// Seconds per network case.
    #[arg(long, default_value_t = 30.0)]
    pub network_seconds: f64,
    /// Seconds per simulated call (call suite).
    #[arg(long, default_value_t = parla_harness::corpus::DEFAULT_CALL_SECONDS)]
    pub call_seconds: f64,
    /// Use only the synthetic talkers (no espeak-ng, no alsa-utils recordings).
    #[arg(long)]
    pub synthetic_speech: bool,
    /// Shared data folder with net-traces/ (default: PARLA_SHARED_DIR, else ../shared next to
    /// the repository).
    #[arg(long)]
    pub shared: Option<PathBuf>,
    /// Also measure parallel scaling: Parla alone on the same cases with 1 and 2 threads.
    #[arg(long)]
    pub scaling: bool,
    /// Compare with an earlier report.json; exit 1 when a metric got worse.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Tolerances of the comparison: db=0.5,pct=0.2,ms=5 (any subset; a bare number sets db).
    #[arg(long, default_value = "db=0.5,pct=0.2,ms=5")]
    pub tolerance: String,
    /// Run only the K-th of N deterministic slices of the selected cases (1-based, e.g. 3/8)
    /// and write a shard report; `parla bench merge` combines all N.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// With the chain suite and --peers: time `parla process --far` against GStreamer's
    /// webrtcdsp AEC + NS chain as whole processes on one long file, N alternating rounds.
    #[arg(long, value_name = "N")]
    pub race: Option<usize>,
    /// Length of the race's file, seconds.
    #[arg(long, default_value_t = 128.0)]
    pub race_seconds: f64,
}

/// Subcommands of `parla bench`.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Merge the report.json of every shard of a run (`--shard K/N`, K = 1..N) into the report
    /// of the unsharded run: report.json, report.md and the quality plot in --out.
    Merge(MergeArgs),
}

/// Arguments of `parla bench merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shard reports (report.json of each shard, any order).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Output folder for the merged report.json, report.md and plots.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Compare the merged report with an earlier report.json; exit 1 when a metric got worse.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Tolerances of the comparison: db=0.5,pct=0.2,ms=5 (any subset; a bare number sets db).
    #[arg(long, default_value = "db=0.5,pct=0.2,ms=5")]
    pub tolerance: String,
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(Action::Merge(m)) = args.action {
        return run_merge(m);
    }
    anyhow::ensure!(
        (1..=256).contains(&args.jobs),
        "--jobs must be between 1 and 256"
    );
    let suites = args
        .suites
        .iter()
        .map(|s| Suite::parse(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tolerance = Tolerance::parse(&args.tolerance)?;
    let baseline = baseline(args.baseline.as_deref())?;
    let shard = args.shard.as_deref().map(ShardSpec::parse).transpose()?;
    let shared = args
        .shared
        .clone()
        .filter(|p| p.is_dir())
        .or_else(default_shared_dir);
    let opts = Options {
        suites,
        cases: args.cases,
        jobs: args.jobs,
        out: args.out.clone(),
        peers: args.peers,
        seed: args.seed,
        seconds: args.seconds,
        network_seconds: args.network_seconds,
        call_seconds: args.call_seconds,
        speech: if args.synthetic_speech {
            SpeechSet::Synthetic
        } else {
            SpeechSet::Auto
        },
        shared_dir: shared,
        scaling: args.scaling,
        progress: std::io::stderr().is_terminal(),
        degrade: Degrade::from_env()?,
        shard,
        race: match args.race {
            Some(runs) => {
                anyhow::ensure!(
                    (1..=100).contains(&runs) && (1.0..=3600.0).contains(&args.race_seconds),
                    "--race takes 1 to 100 rounds and --race-seconds 1 to 3600"
                );
                Some(parla_harness::RaceSpec {
                    parla: std::env::current_exe().context("finding the parla executable")?,
                    seconds: args.race_seconds,
                    runs,
                })
            }
            None => None,
        },
    };
    let rep = parla_harness::run(&opts)?;
    finish(rep, &args.out, baseline, tolerance)
}

/// The baseline's file name and Parla figures, when one is given.
type Baseline = Option<(String, BTreeMap<String, BTreeMap<String, f64>>)>;

fn baseline(path: Option<&Path>) -> anyhow::Result<Baseline> {
    Ok(match path {
        Some(p) => Some((p.display().to_string(), load_baseline(p)?)),
        None => None,
    })
}

/// `parla bench merge`.
fn run_merge(args: MergeArgs) -> anyhow::Result<()> {
    let tolerance = Tolerance::parse(&args.tolerance)?;
    let baseline = baseline(args.baseline.as_deref())?;
    let shards = args
        .shards
        .iter()
        .map(|p| load_report(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rep = merge(&shards).context("merging the shard reports")?;
    finish(rep, &args.out, baseline, tolerance)
}

/// Compare with the baseline (if any), write the report, print the summary, and fail when
/// every run failed or the regression check fails.
fn finish(
    mut rep: report::Report,
    out: &Path,
    baseline: Baseline,
    tolerance: Tolerance,
) -> anyhow::Result<()> {
    if let Some((name, base)) = &baseline {
        rep.regression = Some(compare(name, base, &rep.outcomes, tolerance));
    }
    let notes = report::write(&rep, out)
        .with_context(|| format!("writing the report to {}", out.display()))?;
    for n in notes {
        eprintln!("{n}");
    }
    print_summary(&rep);
    eprintln!(
        "{} outcomes, {} failures, {:.1} s; wrote {}",
        rep.outcomes.len(),
        rep.failures.len(),
        rep.wall_s,
        out.display()
    );
    if let Some(sh) = &rep.shard {
        eprintln!(
            "shard {}: {} of the {} selected cases; merge all {} shard reports with `parla bench merge`",
            sh.spec,
            sh.assigned.len(),
            sh.cases.len(),
            sh.spec.count
        );
    }
    anyhow::ensure!(
        rep.failures.is_empty() || !rep.outcomes.is_empty(),
        "every run failed"
    );
    if let Some(c) = &rep.regression {
        if !c.passed() {
            for w in &c.worse {
                eprintln!(
                    "worse: {} {}: {:.3} -> {:.3} (tolerance {})",
                    w.case, w.metric, w.old, w.new, w.tolerance
                );
            }
            anyhow::bail!(
                "regression: {} metric(s) got worse and {} went missing against {}",
                c.worse.len(),
                c.missing,
                c.baseline
            );
        }
        eprintln!(
            "regression check passed against {} ({} values)",
            c.baseline, c.compared
        );
    }
    Ok(())
}

fn print_summary(r: &report::Report) {
    for row in report::summary(&r.outcomes) {
        let keys = report::key_metrics(&row.suite);
        let figs: Vec<String> = keys
            .iter()
            .zip(&row.means)
            .map(|(k, v)| format!("{k} {}", v.map_or("-".into(), |v| format!("{v:.2}"))))
            .collect();
        println!(
            "{:<8} {:<18} {:>2} cases  {}  wall {:.2} s  throughput ratio {:.1}",
            row.suite,
            row.system,
            row.cases,
            figs.join(", "),
            row.wall_s,
            row.throughput_ratio()
        );
    }
    if let Some(s) = &r.scaling {
        println!(
            "scaling: 1 thread {:.2} s, 2 threads {:.2} s, speed-up {:.2}x",
            s.jobs1_s, s.jobs2_s, s.speedup
        );
    }
    if let Some((case, stage, p)) = report::worst_p999(&r.outcomes) {
        println!("largest per-stage p99.9 per 10 ms: {p:.1} us ({stage}, {case})");
    }
    if let Some(race) = &r.process_race {
        println!(
            "process race ({:.0} s file, {} rounds): gst-webrtcdsp / parla process = {:.2} by wall time, {} by CPU time",
            race.seconds,
            race.parla.len(),
            race.wall_ratio,
            race.cpu_ratio.map_or("-".into(), |c| format!("{c:.2}"))
        );
    }
}
