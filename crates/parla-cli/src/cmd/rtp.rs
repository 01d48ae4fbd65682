//! `parla rtp send` / `parla rtp recv`: a live Opus RTP stream over UDP, optionally end-to-end
//! encrypted with SFrame (RFC 9605), that interoperates with other RTP implementations (ffmpeg,
//! GStreamer) when not encrypted.
//!
//! The protocol work (RTP, the Opus payload format, SFrame, the SDP text) is done by the sans-IO
//! crate `parla-rtp`; this module adds what a program needs around it: the UDP socket
//! (`std::net`), pacing by the wall clock, WAV files, the Opus codec (`parla-codec`) and Ctrl-C.
//! How to use the commands: `docs/RTP.md`.
//!
//! Keys: the base key comes from a file or the environment, never the command line (`key`);
//! each sender run protects under a fresh random key id, and the receiver adopts a key id on
//! its first authentic frame (`receive_keys`).

mod key;
mod receive_keys;
pub mod recv;
pub mod send;

/// Arguments of `parla rtp`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: RtpCommand,
}

/// The `parla rtp` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RtpCommand {
    /// Encode a WAV file to Opus and send it as an RTP stream, paced in real time; writes the
    /// SDP a peer (ffmpeg, GStreamer) needs to receive it.
    Send(send::Args),
    /// Receive an Opus RTP stream and decode it to a WAV file, concealing lost packets; stops
    /// on Ctrl-C, after `--seconds`, or when the stream goes idle (`--idle-stop-ms`).
    Recv(recv::Args),
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        RtpCommand::Send(a) => send::run(a),
        RtpCommand::Recv(a) => recv::run(a),
    }
}

/// Whether `pt` is a dynamic RTP payload type (RFC 3551: 96-127), the only kind Opus uses.
pub(crate) fn is_dynamic_pt(pt: u8) -> bool {
    (96..=127).contains(&pt)
}
