//! The `parla` command: Parla's offline jobs (process files, simulate calls, run the harness).
//!
//! Each subcommand lives in `cmd/<name>.rs` with an `Args` struct (clap) and a `run` function.
//! Errors are printed as one line, `parla: error: ...`, with a non-zero exit (2 for usage errors,
//! as clap uses for the ones it finds; 1 otherwise); nothing panics on bad input.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod wav;

/// Parla, a real-time audio/video call media engine: offline tools.
#[derive(Debug, Parser)]
#[command(name = "parla", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Place a simulated end-to-end encrypted call between two endpoints over a network model.
    Call(cmd::call::Args),
    /// Run a recorded microphone file (and far-end file) through the send chain.
    Process(cmd::process::Args),
    /// Encode a WAV file to Ogg Opus, or Y4M / a test pattern to H.264 or VP8.
    Encode(cmd::encode::Args),
    /// Decode Ogg Opus to WAV, or H.264 / VP8 to Y4M, optionally dropping packets first.
    Decode(cmd::decode::Args),
    /// Jitter buffer: replay a per-packet trace, or run the evaluation.
    Jitter(cmd::jitter::Args),
    /// Network emulator: generate a per-packet trace.
    Netsim(cmd::netsim::Args),
    /// Send or receive a live Opus RTP stream over UDP, optionally end-to-end encrypted.
    Rtp(cmd::rtp::Args),
    /// The benchmark harness: the corpus through every suite (and peers), with a report.
    Bench(cmd::bench::Args),
    /// Congestion control: the bandwidth estimator's evaluation over simulated links.
    Cc(cmd::cc::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Call(args) => cmd::call::run(args),
        Command::Process(args) => cmd::process::run(args),
        Command::Encode(args) => cmd::encode::run(args),
        Command::Decode(args) => cmd::decode::run(args),
        Command::Jitter(args) => cmd::jitter::run(args),
        Command::Netsim(args) => cmd::netsim::run(args),
        Command::Rtp(args) => cmd::rtp::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Cc(args) => cmd::cc::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parla: error: {e:#}");
            if e.downcast_ref::<cmd::UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
