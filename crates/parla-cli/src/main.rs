//! The `parla` command: Parla's offline jobs (process files, simulate calls, run the harness).
//!
//! Each subcommand lives in `cmd/<name>.rs` with an `Args` struct (clap) and a `run` function.
//! Errors are printed as one line, `parla: error: ...`, with a non-zero exit (2 for usage errors,
//! as clap uses for the ones it finds; 1 otherwise); nothing panics on bad input. When the
//! reader of standard output goes away (`parla cc eval | head`), the command stops quietly
//! with success, as Unix tools do, instead of panicking in `println!` ([`quiet_on_broken_pipe`]).

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

/// The message `println!` panics with when it cannot write to standard output.
const STDOUT_PANIC: &str = "failed printing to stdout";

/// Whether an error is, or was caused by, a write to a pipe whose reader has gone (EPIPE).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Rust ignores SIGPIPE, so a write to a closed pipe fails with EPIPE, and `println!` panics
/// on it. This hook turns that one panic into a quiet successful exit (the reader took what it
/// wanted, as with `head`); any other panic goes to the default hook. Errors returned with
/// EPIPE (`writeln!` on a locked stdout) are handled in [`main`] by [`is_broken_pipe`].
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        let epipe = std::io::Error::from_raw_os_error(EPIPE).to_string();
        if msg.starts_with(STDOUT_PANIC) && msg.contains(&epipe) {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The OS error number of a write to a closed pipe (EPIPE on Unix, ERROR_NO_DATA on Windows).
#[cfg(not(windows))]
const EPIPE: i32 = 32;
/// See the Unix value.
#[cfg(windows)]
const EPIPE: i32 = 232;

fn main() -> ExitCode {
    quiet_on_broken_pipe();
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
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
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
