//! `parla rtp send`: WAV -> Opus -> (SFrame) -> RTP -> UDP, one 20 ms packet every 20 ms.
//!
//! With a key, every run protects under a fresh random 48-bit key id from counter 0: RFC 9605's
//! key schedule binds the key id into the frame key and nonce salt, so two runs with the same
//! base key never share a nonce. The RTP header fields the receiver acts on are authenticated
//! with each frame (`rtp_aad`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parla_codec::opus::{OpusEncoder, OpusEncoderConfig};
use parla_rtp::e2ee::{CipherSuite, SframeSender, rtp_aad};
use parla_rtp::payload::opus::OpusPacketizer;
use parla_rtp::sdp::OpusSdp;
use rand::Rng;

use super::key::{load_key, removed_key_flag};
use super::{VideoSendArgs, is_dynamic_pt};
use crate::wav;

/// Audio per packet.
const PTIME: Duration = Duration::from_millis(20);
/// Largest RTP packet we build (fits any path MTU of 1280 and up with room to spare).
const MAX_PACKET: usize = 1200;
/// Largest Opus packet asked of the encoder (leaves room for the RTP and SFrame headers).
const MAX_OPUS: usize = 1000;

/// Arguments of `parla rtp send`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// WAV file to send (mono or stereo, downmixed; 8, 12, 16, 24 or 48 kHz). Not with `--video`.
    #[arg(long, required_unless_present = "video", conflicts_with = "video")]
    pub input: Option<PathBuf>,
    /// Where to send the stream, e.g. 127.0.0.1:5004.
    #[arg(long)]
    pub dest: SocketAddr,
    /// Write the stream's SDP here (for `ffmpeg -protocol_whitelist file,udp,rtp -i FILE`).
    #[arg(long)]
    pub sdp: Option<PathBuf>,
    /// RTP payload type (dynamic, 96-127); default 111 for Opus, 96 for video.
    #[arg(long)]
    pub pt: Option<u8>,
    /// RTP SSRC (random if not given).
    #[arg(long)]
    pub ssrc: Option<u32>,
    /// Target bitrate in bits per second; default 32000 for Opus, 500000 for video.
    #[arg(long)]
    pub bitrate: Option<u32>,
    /// Encrypt every Opus frame end to end with SFrame (RFC 9605, AES-128-GCM) under the base
    /// key in this file: 16-64 bytes as hexadecimal, surrounding whitespace ignored. Or set
    /// PARLA_E2EE_KEY to the hex key instead (not both). Each run uses a fresh random key id,
    /// printed in the summary. Peers without the key cannot decode the stream.
    #[arg(long, value_name = "PATH")]
    pub e2ee_key_file: Option<PathBuf>,
    /// Removed (a key on the command line is visible in `ps` and shell history): refused with
    /// a message pointing to --e2ee-key-file and PARLA_E2EE_KEY.
    #[arg(long = "e2ee-key", hide = true, num_args = 0..=1)]
    pub removed_e2ee_key: Option<Option<String>>,
    /// Wait this long after writing the SDP before sending the first packet (time for the
    /// receiver to start).
    #[arg(long, default_value_t = 0)]
    pub start_delay_ms: u64,
    /// Video options.
    #[command(flatten)]
    pub video: VideoSendArgs,
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.removed_e2ee_key.is_some() {
        return Err(removed_key_flag());
    }
    if args.video.video {
        return super::video_send::run(&args);
    }
    let key = load_key(args.e2ee_key_file.as_deref())?;
    let pt = args.pt.unwrap_or(111);
    if !is_dynamic_pt(pt) {
        bail!("--pt must be a dynamic payload type (96-127), got {pt}");
    }
    let bitrate = args.bitrate.unwrap_or(32_000);
    let input = args.input.as_ref().context("--input is required")?;
    let audio = wav::read(input, "input")?;
    let cfg = OpusEncoderConfig::voice(audio.rate, 1).bitrate(bitrate);
    let mut enc = OpusEncoder::new(&cfg).with_context(|| {
        format!(
            "{}: Opus takes 8/12/16/24/48 kHz audio and 6000-510000 bps; resample first or change --bitrate",
            input.display()
        )
    })?;
    let mut rng = rand::rng();
    // A never-used key id per run (48 random bits: two runs collide with probability 2^-48), so
    // counter 0 starts a fresh nonce space.
    let mut e2ee = match &key {
        Some(key) => Some(SframeSender::new(
            CipherSuite::default(),
            rng.random::<u64>() >> 16,
            key,
        )?),
        None => None,
    };
    drop(key);

    let (socket, local) = connect(args.dest)?;

    let ssrc = args.ssrc.unwrap_or_else(|| rng.random());
    // Random first sequence number and timestamp (RFC 3550 5.1).
    let mut pack = OpusPacketizer::new(ssrc, pt, rng.random(), rng.random());
    if let Some(path) = &args.sdp {
        let sdp = OpusSdp {
            session_name: "parla".into(),
            origin: local.ip(),
            destination: args.dest.ip(),
            port: args.dest.port(),
            payload_type: pt,
            stereo: false,
            ptime_ms: PTIME.as_millis() as u32,
            inband_fec: false,
            ssrc: Some(ssrc),
        };
        write_sdp(path, &sdp.to_sdp())?;
    }
    if args.start_delay_ms > 0 {
        std::thread::sleep(Duration::from_millis(args.start_delay_ms));
    }

    let frame = enc.frame_samples();
    let mut pcm = vec![0.0f32; frame];
    let mut opus = [0u8; MAX_OPUS];
    let mut protected = Vec::with_capacity(MAX_OPUS + 64);
    let mut packet = [0u8; MAX_PACKET];
    let (mut packets, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    let mut late_max = Duration::ZERO;
    for (i, chunk) in audio.samples.chunks(frame).enumerate() {
        // The last frame is padded with silence.
        pcm[..chunk.len()].copy_from_slice(chunk);
        pcm[chunk.len()..].fill(0.0);
        let encoded = enc.encode(&pcm, &mut opus)?;
        let payload = &opus[..encoded.len];
        let payload = match e2ee.as_mut() {
            Some(tx) => {
                // The header fields the packet will carry are authenticated with the frame.
                let aad = rtp_aad(&pack.peek_header());
                tx.protect_with_aad(&aad, payload, &mut protected)
                    .map_err(|e| anyhow::anyhow!("SFrame protection failed: {e}"))?;
                &protected[..]
            }
            None => payload,
        };
        let n = pack.packetize(payload, encoded.duration, &mut packet)?;
        // Pacing: packet i leaves at start + i * 20 ms.
        let due = start + PTIME * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else {
            late_max = late_max.max(now - due);
        }
        socket
            .send(&packet[..n])
            .with_context(|| format!("sending to {}", args.dest))?;
        packets += 1;
        bytes += n as u64;
    }
    let seconds = packets as f64 * PTIME.as_secs_f64();
    println!(
        "sent: {packets} packets ({seconds:.2} s of audio, {bytes} bytes) from {local} to {}",
        args.dest
    );
    let e2ee = match &e2ee {
        Some(tx) => format!("SFrame AES-128-GCM (key id {:#014x})", tx.key_id()),
        None => "not encrypted".into(),
    };
    println!(
        "stream: SSRC {ssrc:#010x}, payload type {pt}, Opus {} Hz mono at {bitrate} bps, {e2ee}",
        audio.rate,
    );
    println!(
        "pacing: {:.2} s wall clock, latest packet {:.1} ms behind schedule",
        start.elapsed().as_secs_f64(),
        late_max.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// A UDP socket connected to `dest` (bound to the unspecified address of its family) and its
/// local address.
pub(super) fn connect(dest: SocketAddr) -> anyhow::Result<(UdpSocket, SocketAddr)> {
    let bind: SocketAddr = match dest.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket =
        UdpSocket::bind(bind).with_context(|| format!("cannot bind a UDP socket on {bind}"))?;
    socket
        .connect(dest)
        .with_context(|| format!("cannot send to {dest}"))?;
    let local = socket.local_addr()?;
    Ok((socket, local))
}

/// Writes the SDP text to `path`: to a temporary file first, then renamed, so a peer polling
/// for the file never reads half of it.
pub(super) fn write_sdp(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("sdp.part");
    std::fs::write(&tmp, text)
        .with_context(|| format!("cannot write SDP file '{}'", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot write SDP file '{}'", path.display()))?;
    Ok(())
}
