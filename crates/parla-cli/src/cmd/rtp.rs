//! `parla rtp send` / `parla rtp recv`: a live Opus RTP stream over UDP, optionally end-to-end
//! encrypted with SFrame (RFC 9605), that interoperates with other RTP implementations (ffmpeg,
//! GStreamer) when not encrypted.
//!
//! The protocol work (RTP, the Opus payload format, SFrame, the SDP text) is done by the sans-IO
//! crate `parla-rtp`; this module adds what a program needs around it: the UDP socket
//! (`std::net`), pacing by the wall clock, WAV files, the Opus codec (`parla-codec`) and Ctrl-C.
//! How to use the commands: `docs/RTP.md`.
//!
//! With `--video` the commands carry an unencrypted H.264 (RFC 6184) or VP8 (RFC 7741) stream
//! instead, for interop with ffmpeg and GStreamer (`video_send`, `video_recv`).
//!
//! Keys: the base key comes from a file or the environment, never the command line (`key`);
//! each sender run protects under a fresh random key id, and the receiver adopts a key id on
//! its first authentic frame (`receive_keys`).

mod key;
mod listen;
mod receive_keys;
pub mod recv;
pub mod send;
mod video_recv;
mod video_send;

use std::path::PathBuf;

use parla_codec::video::VideoCodec;

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
    /// Encode a WAV file to Opus (or, with `--video`, a Y4M file or test pattern to H.264 or
    /// VP8) and send it as an RTP stream, paced in real time; writes the SDP a peer (ffmpeg,
    /// GStreamer) needs to receive it.
    Send(send::Args),
    /// Receive an Opus RTP stream and decode it to a WAV file, concealing lost packets (or, with
    /// `--video`, an H.264 or VP8 stream to a Y4M file); stops on Ctrl-C, after `--seconds`, or
    /// when the stream goes idle (`--idle-stop-ms`).
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

/// The video codecs of `--codec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodecArg {
    /// H.264 constrained baseline (RFC 6184, packetization-mode 1).
    H264,
    /// VP8 (RFC 7741).
    Vp8,
}

impl From<CodecArg> for VideoCodec {
    fn from(c: CodecArg) -> Self {
        match c {
            CodecArg::H264 => VideoCodec::H264,
            CodecArg::Vp8 => VideoCodec::Vp8,
        }
    }
}

/// The video options of `parla rtp send`.
#[derive(Debug, clap::Args)]
pub struct VideoSendArgs {
    /// Send video instead of audio (not encrypted: for ffmpeg and GStreamer peers). The source
    /// is `--video-input` or a moving test pattern (`--pattern`).
    #[arg(long)]
    pub video: bool,
    /// Video codec.
    #[arg(long, value_enum, default_value_t = CodecArg::H264, requires = "video")]
    pub codec: CodecArg,
    /// Y4M file to send (4:2:0), at its own frame rate.
    #[arg(
        long,
        value_name = "FILE.y4m",
        requires = "video",
        conflicts_with = "pattern"
    )]
    pub video_input: Option<PathBuf>,
    /// Size of the moving test pattern sent when there is no `--video-input` (WIDTHxHEIGHT).
    #[arg(long, requires = "video")]
    pub pattern: Option<String>,
    /// Frames to send: the test pattern's length (default 300), or the first frames of
    /// `--video-input` (default: all).
    #[arg(long, requires = "video")]
    pub frames: Option<u64>,
    /// Frame rate of the test pattern.
    #[arg(long, default_value_t = 30, requires = "video")]
    pub fps: u32,
    /// Frames between keyframes (a receiver that joins late, or lost a packet, waits at most
    /// this long for a picture: there is no RTCP keyframe request here).
    #[arg(long, default_value_t = 60, requires = "video")]
    pub keyframe_interval: u32,
}

/// The video options of `parla rtp recv`.
#[derive(Debug, clap::Args)]
pub struct VideoRecvArgs {
    /// Receive video (H.264 or VP8, not encrypted) and write Y4M to `--output`.
    #[arg(long)]
    pub video: bool,
    /// Video codec of the stream (RTP does not say; the sender's SDP does).
    #[arg(long, value_enum, default_value_t = CodecArg::H264, requires = "video")]
    pub codec: CodecArg,
    /// Frame rate written in the Y4M header (frames are written in order, one per decoded
    /// picture).
    #[arg(long, default_value_t = 30, requires = "video")]
    pub fps: u32,
}
