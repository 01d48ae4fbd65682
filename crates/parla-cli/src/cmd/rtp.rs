//! `parla rtp send` / `parla rtp recv`: a live Opus RTP stream over UDP, optionally end-to-end
//! encrypted with SFrame (RFC 9605), that interoperates with other RTP implementations (ffmpeg,
//! GStreamer) when not encrypted.
//!
//! The protocol work (RTP, the Opus payload format, SFrame, the SDP text) is done by the sans-IO
//! crate `parla-rtp`; this module adds what a program needs around it: the UDP socket
//! (`std::net`), pacing by the wall clock, WAV files, the Opus codec (`parla-codec`) and Ctrl-C.
//! How to use the commands: `docs/RTP.md`.

use anyhow::bail;

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

/// Shortest accepted SFrame base key in bytes (what `parla-rtp` requires).
const MIN_KEY_BYTES: usize = 16;
/// Longest accepted base key in bytes.
const MAX_KEY_BYTES: usize = 64;

/// Parses an end-to-end encryption base key given as hexadecimal (16 to 64 bytes).
pub(crate) fn parse_key(hex: &str) -> anyhow::Result<Vec<u8>> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) {
        bail!("--e2ee-key must be hexadecimal with an even number of digits");
    }
    let n = hex.len() / 2;
    if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&n) {
        bail!(
            "--e2ee-key must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes ({} to {} hex digits), got {n} bytes",
            2 * MIN_KEY_BYTES,
            2 * MAX_KEY_BYTES
        );
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    hex.as_bytes()
        .chunks_exact(2)
        .map(|p| match (digit(p[0]), digit(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => bail!("--e2ee-key must be hexadecimal (0-9, a-f)"),
        })
        .collect()
}

/// Whether `pt` is a dynamic RTP payload type (RFC 3551: 96-127), the only kind Opus uses.
pub(crate) fn is_dynamic_pt(pt: u8) -> bool {
    (96..=127).contains(&pt)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_parse_from_hex_and_bad_ones_are_refused() {
        assert_eq!(
            parse_key("000102030405060708090a0B0c0D0e0F").unwrap(),
            (0u8..16).collect::<Vec<_>>()
        );
        assert!(parse_key("0001").is_err());
        assert!(parse_key("000102030405060708090a0b0c0d0e0").is_err());
        assert!(parse_key("000102030405060708090a0b0c0d0e0g").is_err());
        assert!(parse_key(&"ab".repeat(65)).is_err());
        assert_eq!(parse_key(&"ab".repeat(64)).unwrap().len(), 64);
    }
}
