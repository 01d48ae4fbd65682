//! `parla cc eval`: the congestion controller's evaluation (issue 16): the standard link
//! scenarios with the estimator, a fixed sender at its mean rate and the estimator off;
//! `report.json` and one PNG per scenario (docs/CONGESTION.md).
use std::path::PathBuf;

use parla_cc::eval::Length;

use crate::cmd::netsim::shared_dir;

/// Arguments of `parla cc`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to run.
    #[command(subcommand)]
    pub command: CcCommand,
}

/// `parla cc` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CcCommand {
    /// Run the evaluation scenarios and write report.json and the plots.
    Eval(EvalArgs),
}

/// Arguments of `parla cc eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Output folder (`report.json`, one `<scenario>.png` per scenario).
    #[arg(long, default_value = "cc-eval")]
    pub out: PathBuf,
    /// Seed of the trace start offsets and the cross traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Shortened runs (24-28 s instead of 60 s per scenario), as in the tests.
    #[arg(long)]
    pub short: bool,
    /// Where the shared data lives (default: `PARLA_SHARED_DIR`, else `../shared` from the
    /// current directory).
    #[arg(long)]
    pub shared: Option<PathBuf>,
    /// Also compare the estimator on the link traces with fixed senders at 0.5-3x its mean
    /// rate (read at the same utilization; does any fixed rate do better on all of
    /// utilization, delay and loss?): printed and written to `fixed-sweep.json`.
    #[arg(long)]
    pub fixed_sweep: bool,
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        CcCommand::Eval(a) => eval(a),
    }
}

fn eval(a: EvalArgs) -> anyhow::Result<()> {
    let shared = shared_dir(a.shared.as_deref());
    let length = if a.short { Length::Short } else { Length::Full };
    let report = parla_harness::cc::eval(&a.out, a.seed, Some(&shared), length, |line| {
        println!("{line}");
    })?;
    println!(
        "{} runs in {:.1} s; wrote {}",
        report.scenarios.len(),
        report.wall_s,
        a.out.join("report.json").display()
    );
    if a.fixed_sweep {
        let (scenarios, _) = parla_cc::eval::standard_scenarios(Some(&shared), length);
        let mut all = Vec::new();
        for s in scenarios.iter().filter(|s| s.name.starts_with("trace-")) {
            let c =
                parla_cc::eval::SweepComparison::run(s, a.seed).map_err(|e| anyhow::anyhow!(e))?;
            for line in c.lines() {
                println!("{line}");
            }
            all.push(c);
        }
        let path = a.out.join("fixed-sweep.json");
        std::fs::write(&path, serde_json::to_string_pretty(&all)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
