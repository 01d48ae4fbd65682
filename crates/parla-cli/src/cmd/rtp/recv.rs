//! `parla rtp recv`: UDP -> RTP -> (SFrame) -> Opus decode / conceal -> WAV.
//!
//! Packets are played out in the order of their RTP timestamps as they arrive (no jitter
//! buffer: this is a tool for interop and for checking a stream, not a call): a packet whose
//! timestamp is ahead of the write position is preceded by Opus concealment for the gap; one
//! that ends at or behind it (late, duplicate or replayed) is dropped and counted; one that starts
//! behind it but reaches past it is decoded and only its new part written (counted as trimmed).
//!
//! With a key, every packet is authenticated before anything else looks at it: the SFrame AEAD
//! covers the frame and the RTP header fields used here (`rtp_aad`: payload type, marker,
//! sequence number, timestamp, SSRC). Packets that fail are dropped and counted and leave a gap
//! like a lost packet; their unauthenticated headers are never used, so the stream's SSRC is
//! fixed by the first frame that authenticates, not by the first packet that arrives. Each
//! sender run uses its own key id, adopted on its first authentic frame (`receive_keys`); a new
//! one (the sender restarted) becomes the stream played, continuing the WAV where it stands.
//!
//! The WAV is written as packets come in and finalized on every exit path (end of `--seconds`,
//! idle stream, Ctrl-C or an error).

use std::fs::File;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use parla_codec::opus::OpusDecoder;
use parla_core::MediaTime;
use parla_rtp::ParseError;
use parla_rtp::e2ee::{CipherSuite, RTP_AAD_LEN, rtp_aad};
use parla_rtp::payload::opus::{OPUS_CLOCK_RATE, OpusDepacketizer};

use super::key::{load_key, removed_key_flag};
use super::listen::{Listener, MAX_DATAGRAM, Next, Stop};
use super::receive_keys::ReceiveKeys;
use super::{VideoRecvArgs, is_dynamic_pt};

/// A timestamp jump (either way) larger than this many 48 kHz units (2 s) is taken as a new
/// stream position (the sender restarted or jumped): playout re-anchors instead of concealing
/// for the whole gap or dropping everything as late. This also bounds what one forged
/// timestamp can make us write.
const MAX_GAP_48K: u64 = 2 * OPUS_CLOCK_RATE as u64;

/// Arguments of `parla rtp recv`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to receive on; port 0 picks a free port. The bound address is printed first
    /// (`listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:5004")]
    pub listen: SocketAddr,
    /// File to write: WAV (mono, 32-bit float) for audio, Y4M (I420) with `--video`.
    #[arg(long)]
    pub output: PathBuf,
    /// Accept only this RTP payload type (default: any dynamic type, 96-127).
    #[arg(long)]
    pub pt: Option<u8>,
    /// Output sample rate (8000, 12000, 16000, 24000 or 48000).
    #[arg(long, default_value_t = 48_000)]
    pub rate: u32,
    /// The stream is SFrame-encrypted (RFC 9605, AES-128-GCM) under the base key in this file:
    /// 16-64 bytes as hexadecimal, surrounding whitespace ignored. Or set PARLA_E2EE_KEY to the
    /// hex key instead (not both). The sender's key id is learnt from the first frame that
    /// authenticates; a restarted sender's new key id is followed. Frames that do not
    /// authenticate are dropped and counted, never played.
    #[arg(long, value_name = "PATH")]
    pub e2ee_key_file: Option<PathBuf>,
    /// Removed (a key on the command line is visible in `ps` and shell history): refused with
    /// a message pointing to --e2ee-key-file and PARLA_E2EE_KEY.
    #[arg(long = "e2ee-key", hide = true, num_args = 0..=1)]
    pub removed_e2ee_key: Option<Option<String>>,
    /// Stop after this many seconds (wall clock from the start).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Stop when no packet came for this many milliseconds after the first one (0 = never).
    #[arg(long, default_value_t = 0)]
    pub idle_stop_ms: u64,
    /// Video options.
    #[command(flatten)]
    pub video: VideoRecvArgs,
}

/// Counters of the receive side.
#[derive(Debug, Default)]
struct Counters {
    malformed_rtp: u64,
    other_stream: u64,
    decoded: u64,
    decode_errors: u64,
    late: u64,
    trimmed: u64,
    resyncs: u64,
    concealed_samples: u64,
}

/// Decodes Opus packets into a WAV file in timestamp order, concealing gaps.
struct Playout {
    dec: OpusDecoder,
    wav: hound::WavWriter<BufWriter<File>>,
    pcm: Vec<f32>,
    /// 48 kHz RTP units per output sample.
    units: u64,
    /// Timestamp (48 kHz units) of the next sample to write; `None` before the first packet.
    next_ts: Option<u64>,
    written: u64,
}

impl Playout {
    fn write(&mut self, n: usize) -> anyhow::Result<()> {
        for &s in &self.pcm[..n] {
            self.wav.write_sample(s)?;
        }
        self.written += n as u64;
        Ok(())
    }

    /// Conceals `samples` output samples (a gap in the stream).
    fn conceal(&mut self, mut samples: usize, c: &mut Counters) -> anyhow::Result<()> {
        let rate = self.dec.rate() as usize;
        let quantum = rate / 400;
        let max = rate / 50;
        c.concealed_samples += samples as u64;
        while samples > 0 {
            let chunk = samples.min(max) / quantum * quantum;
            if chunk == 0 {
                // Less than 2.5 ms: libopus conceals whole 2.5 ms frames only.
                self.pcm[..samples].fill(0.0);
                self.write(samples)?;
                break;
            }
            let n = self.dec.conceal(&mut self.pcm[..chunk])?;
            self.write(n)?;
            samples -= chunk;
        }
        Ok(())
    }

    /// Plays one Opus packet whose first sample has RTP timestamp `ts`.
    fn push(&mut self, ts: u64, opus: &[u8], c: &mut Counters) -> anyhow::Result<()> {
        // Output samples at the start of this packet that were already written.
        let mut skip = 0;
        if let Some(next) = self.next_ts {
            if ts.abs_diff(next) > MAX_GAP_48K {
                c.resyncs += 1;
                self.dec.reset()?;
            } else if ts < next {
                // Late or duplicate, unless it reaches past the write position: then it overlaps
                // (GStreamer stamps the first packet one encoder lookahead early, RFC 7587
                // leaves pre-skip to signalling) and its new part is played.
                let end = self
                    .dec
                    .packet_samples(opus)
                    .map_or(ts, |n| ts + n as u64 * self.units);
                if end <= next {
                    c.late += 1;
                    return Ok(());
                }
                skip = ((next - ts) / self.units) as usize;
                c.trimmed += 1;
            } else if ts > next {
                self.conceal(((ts - next) / self.units) as usize, c)?;
            }
        }
        let n = match self.dec.decode(opus, &mut self.pcm) {
            Ok(n) => {
                c.decoded += 1;
                n
            }
            Err(_) => {
                c.decode_errors += 1;
                let n = self.dec.last_packet_samples();
                c.concealed_samples += n as u64;
                self.dec.conceal(&mut self.pcm[..n])?
            }
        };
        let skip = skip.min(n);
        self.pcm.copy_within(skip..n, 0);
        self.write(n - skip)?;
        self.next_ts = Some(ts + n as u64 * self.units);
        Ok(())
    }

    /// Follows a new stream (a restarted sender, with new timestamps): its first packet is
    /// played right after what was written.
    fn restart(&mut self) -> anyhow::Result<()> {
        self.dec.reset()?;
        self.next_ts = None;
        Ok(())
    }
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.removed_e2ee_key.is_some() {
        return Err(removed_key_flag());
    }
    if args.video.video {
        return super::video_recv::run(&args);
    }
    let key = load_key(args.e2ee_key_file.as_deref())?;
    if let Some(pt) = args.pt
        && !is_dynamic_pt(pt)
    {
        bail!("--pt must be a dynamic payload type (96-127), got {pt}");
    }
    let dec = OpusDecoder::new(args.rate, 1)?;
    let mut e2ee = key.map(|key| ReceiveKeys::new(CipherSuite::default(), key));
    let mut listener = Listener::bind(args.listen, args.seconds, args.idle_stop_ms)?;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: args.rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let wav = hound::WavWriter::create(&args.output, spec)
        .with_context(|| format!("cannot create output file '{}'", args.output.display()))?;
    let mut play = Playout {
        pcm: vec![0.0; dec.max_frame_samples()],
        units: u64::from(OPUS_CLOCK_RATE / args.rate),
        dec,
        wav,
        next_ts: None,
        written: 0,
    };
    listener.announce()?;

    let mut c = Counters::default();
    let mut depack = OpusDepacketizer::new(args.pt);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut plain = Vec::with_capacity(MAX_DATAGRAM + RTP_AAD_LEN);

    let result: anyhow::Result<Stop> = loop {
        let pkt = match listener.next_rtp(&mut buf) {
            Ok(Next::Packet(p)) => p,
            Ok(Next::Malformed) => {
                c.malformed_rtp += 1;
                continue;
            }
            Ok(Next::Stop(s)) => break Ok(s),
            Err(e) => break Err(e),
        };
        if !is_dynamic_pt(pkt.header.payload_type)
            || args.pt.is_some_and(|pt| pt != pkt.header.payload_type)
        {
            c.other_stream += 1;
            continue;
        }
        if let Some(keys) = e2ee.as_mut() {
            if pkt.payload.is_empty() {
                c.malformed_rtp += 1;
                continue;
            }
            let now = MediaTime::from_micros(listener.start.elapsed().as_micros() as u64);
            // Rejections are counted inside; the frame is dropped (a gap, like a lost packet).
            match keys.unprotect(&rtp_aad(&pkt.header), pkt.payload, &mut plain, now) {
                Err(e) => break Err(e),
                Ok(None) => continue,
                Ok(Some(a)) if a.new_sender => {
                    // A new sender run (key id, SSRC, sequence numbers, timestamps): follow it.
                    depack = OpusDepacketizer::new(args.pt);
                    if let Err(e) = play.restart() {
                        break Err(e);
                    }
                }
                Ok(Some(a)) if Some(a.key_id) != keys.current() => {
                    // The replaced run's frame in its grace period: authentic, but playout
                    // follows the current run.
                    c.other_stream += 1;
                    continue;
                }
                Ok(Some(_)) => {}
            }
        }
        let frame = match depack.depacketize(&pkt) {
            Ok(f) => f,
            Err(ParseError::Unsupported(_)) => {
                c.other_stream += 1;
                continue;
            }
            Err(_) => {
                c.malformed_rtp += 1;
                continue;
            }
        };
        // With a key, only authentic packets got here and `plain` holds the frame.
        let opus = if e2ee.is_some() {
            &plain[..]
        } else {
            frame.payload
        };
        if let Err(e) = play.push(frame.timestamp, opus, &mut c) {
            break Err(e);
        }
    };

    let written = play.written;
    let finalized = play
        .wav
        .finalize()
        .with_context(|| format!("cannot finish output file '{}'", args.output.display()));
    let stop = result?;
    finalized?;

    println!("{}", listener.summary());
    println!(
        "rtp: malformed {}, other stream (payload type or SSRC) {}",
        c.malformed_rtp, c.other_stream
    );
    if let Some(keys) = &e2ee {
        let s = keys.stats();
        let current = keys
            .current()
            .map_or_else(|| "none".to_string(), |k| format!("{k:#014x}"));
        println!(
            "e2ee: accepted {}, rejected {} (authentication {}, unknown key {}, replay {}, malformed {}, retired key {}); key ids adopted {}, current {current}",
            s.accepted,
            s.rejected(),
            s.authentication,
            s.unknown_key,
            s.replay,
            s.malformed,
            s.retired_key,
            keys.adopted()
        );
    }
    println!(
        "decoded: {} packets; concealed {:.1} ms; late or duplicate {}; overlapping (trimmed) {}; decode errors {}; resyncs {}",
        c.decoded,
        c.concealed_samples as f64 * 1000.0 / f64::from(args.rate),
        c.late,
        c.trimmed,
        c.decode_errors,
        c.resyncs
    );
    println!(
        "output: '{}' {:.3} s at {} Hz (stopped: {})",
        args.output.display(),
        written as f64 / f64::from(args.rate),
        args.rate,
        stop.as_str()
    );
    Ok(())
}
