//! `parla netsim`: generate a per-packet trace from a named scenario or a Mahimahi link trace.
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use parla_netsim::scenario::{self, LinkConfig, ScenarioKind};
use parla_netsim::{PacketRecord, trace};
use parla_sim::network::read_link_trace;

/// Arguments of `parla netsim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A named scenario (`--list` shows them).
    #[arg(long, conflicts_with = "link_trace")]
    pub scenario: Option<String>,
    /// A Mahimahi link trace to push a voice stream through (default queue and cross traffic).
    #[arg(long)]
    pub link_trace: Option<PathBuf>,
    /// Seconds of 20 ms packets.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// Seed of the model or the cross traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the CSV trace.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where the shared data lives (default: `PARLA_SHARED_DIR`, else `../shared` from the
    /// current directory).
    #[arg(long)]
    pub shared: Option<PathBuf>,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
}

/// The shared data folder: the flag, else `PARLA_SHARED_DIR`, else `../shared`.
pub fn shared_dir(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("PARLA_SHARED_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared"))
}

/// Make the trace of a named scenario.
pub fn scenario_trace(
    s: &scenario::Scenario,
    shared: &Path,
    seconds: f64,
    seed: u64,
) -> anyhow::Result<Vec<PacketRecord>> {
    Ok(match &s.kind {
        ScenarioKind::Link { file, cfg } => {
            let link = read_link_trace(&shared.join("net-traces").join(file))?;
            scenario::run_link(&link, cfg, seconds, seed)?
        }
        _ => scenario::generate_model(s, seconds, seed)?,
    })
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list {
        for s in scenario::scenarios() {
            let kind = match s.kind {
                ScenarioKind::Link { file, .. } => format!("link trace {file}"),
                _ => "seeded model".to_string(),
            };
            println!("{:<18} {} ({kind})", s.name, s.about);
        }
        return Ok(());
    }
    let shared = shared_dir(args.shared.as_deref());
    let rows = match (&args.scenario, &args.link_trace) {
        (Some(name), _) => {
            scenario_trace(&scenario::scenario(name)?, &shared, args.seconds, args.seed)?
        }
        (None, Some(path)) => {
            let link = read_link_trace(path)?;
            scenario::run_link(&link, &LinkConfig::default(), args.seconds, args.seed)?
        }
        (None, None) => anyhow::bail!("give --scenario NAME or --link-trace FILE (or --list)"),
    };
    let out = args.out.context("--out is required")?;
    std::fs::write(&out, trace::to_csv(&rows))
        .with_context(|| format!("writing {}", out.display()))?;
    let lost = rows.iter().filter(|r| r.arrival_us.is_none()).count();
    eprintln!(
        "wrote {} rows ({} lost) to {}",
        rows.len(),
        lost,
        out.display()
    );
    Ok(())
}
