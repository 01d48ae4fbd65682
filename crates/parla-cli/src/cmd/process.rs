//! `parla process`: the send chain over files.
use std::path::PathBuf;

/// Arguments of `parla process`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The microphone recording (WAV).
    #[arg(long)]
    pub mic: PathBuf,
    /// Where to write the processed signal (WAV, at the input's rate).
    #[arg(long)]
    pub out: PathBuf,
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::bail!("not built yet: {}", args.mic.display())
}
