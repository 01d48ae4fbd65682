//! `parla rtp send --video`: Y4M file or test pattern -> H.264 / VP8 -> RTP (RFC 6184 /
//! RFC 7741) -> UDP, one frame every frame interval, not encrypted.
//!
//! The first frame is encoded before the SDP is written, so an H.264 SDP carries the stream's
//! own `profile-level-id` and `sprop-parameter-sets` (the SPS and PPS are also repeated in band
//! before every keyframe). The RTP clock is 90 kHz from the frames' capture times; every packet
//! of a frame leaves at the frame's due time, the last one with the marker bit.

use std::fs::File;
use std::io::{BufReader, ErrorKind};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parla_codec::container::y4m::Y4mReader;
use parla_codec::video::{SendStatus, VideoCodec, VideoEncoder, VideoEncoderConfig, VideoPacket};
use parla_core::MediaTime;
use parla_core::video::{PixelFormat, VideoFrame};
use parla_rtp::payload::PayloadChunk;
use parla_rtp::payload::h264::{H264Packetizer, nal_units};
use parla_rtp::payload::vp8::Vp8Packetizer;
use parla_rtp::rtp::{RtpPacketSpec, RtpSequencer};
use parla_rtp::sdp::{VideoSdp, VideoSdpCodec};
use rand::Rng;

use super::is_dynamic_pt;
use super::key::KEY_ENV;
use super::send::{Args, connect, write_sdp};
use crate::cmd::encode::{parse_size, pattern_frame};

/// Largest RTP packet we build (fits any path MTU of 1280 and up with room to spare).
const MAX_PACKET: usize = 1200;
/// The fixed RTP header (no CSRCs or extensions here).
const RTP_HEADER: usize = 12;
/// The RTP clock of video (RFC 6184, RFC 7741).
const VIDEO_CLOCK: u64 = 90_000;

/// Where frames come from.
enum Source {
    Pattern {
        next: u64,
        total: u64,
        fps: u32,
    },
    Y4m {
        reader: Y4mReader<BufReader<File>>,
        left: Option<u64>,
    },
}

impl Source {
    /// Fills `frame` with the next frame; `false` at the end.
    fn next(&mut self, frame: &mut VideoFrame) -> anyhow::Result<bool> {
        match self {
            Source::Pattern { next, total, fps } => {
                if *next >= *total {
                    return Ok(false);
                }
                pattern_frame(frame, *next);
                frame.timestamp = MediaTime::from_micros(*next * 1_000_000 / u64::from(*fps));
                *next += 1;
                Ok(true)
            }
            Source::Y4m { reader, left } => {
                if *left == Some(0) {
                    return Ok(false);
                }
                if let Some(l) = left.as_mut() {
                    *l -= 1;
                }
                Ok(reader.read_frame(frame)?)
            }
        }
    }
}

/// The RTP payloads of one encoded frame, for either codec.
enum Packetizer {
    H264(H264Packetizer),
    Vp8(Vp8Packetizer),
}

impl Packetizer {
    /// Calls `emit` with each payload of `frame`, in order.
    fn each(
        &mut self,
        frame: &[u8],
        buf: &mut [u8],
        mut emit: impl FnMut(&[u8], PayloadChunk) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        // Two iterator types: one loop each.
        match self {
            Packetizer::H264(p) => {
                let mut it = p.packetize(frame);
                while let Some(c) = it.next_into(buf) {
                    let c = c?;
                    emit(&buf[..c.len], c)?;
                }
            }
            Packetizer::Vp8(p) => {
                let mut it = p.packetize(frame);
                while let Some(c) = it.next_into(buf) {
                    let c = c?;
                    emit(&buf[..c.len], c)?;
                }
            }
        }
        Ok(())
    }
}

/// The SPS and PPS of an H.264 access unit, if it has both.
fn parameter_sets(au: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (mut sps, mut pps) = (None, None);
    for nal in nal_units(au) {
        match nal[0] & 0x1f {
            7 if sps.is_none() => sps = Some(nal.to_vec()),
            8 if pps.is_none() => pps = Some(nal.to_vec()),
            _ => {}
        }
    }
    Some((sps?, pps?))
}

/// Run `parla rtp send --video`.
pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    let v = &args.video;
    if args.e2ee_key_file.is_some() || std::env::var_os(KEY_ENV).is_some() {
        bail!(
            "--video streams are not encrypted (they are for ffmpeg and GStreamer peers): drop --e2ee-key-file and unset {KEY_ENV}"
        );
    }
    let pt = args.pt.unwrap_or(96);
    if !is_dynamic_pt(pt) {
        bail!("--pt must be a dynamic payload type (96-127), got {pt}");
    }
    if !(1..=120).contains(&v.fps) {
        bail!("--fps must be 1-120, got {}", v.fps);
    }
    let codec = VideoCodec::from(v.codec);
    let (mut source, w, h, fps, what) = if let Some(path) = &v.video_input {
        let file = File::open(path)
            .with_context(|| format!("cannot open video input '{}'", path.display()))?;
        let reader = Y4mReader::new(BufReader::new(file))
            .with_context(|| format!("{}: not a 4:2:0 Y4M file", path.display()))?;
        let hd = *reader.header();
        let fps = (hd.fps_num / hd.fps_den.max(1)).clamp(1, 120);
        let src = Source::Y4m {
            reader,
            left: v.frames,
        };
        (src, hd.width, hd.height, fps, path.display().to_string())
    } else {
        let (w, h) = parse_size(v.pattern.as_deref().unwrap_or("640x360"))?;
        let src = Source::Pattern {
            next: 0,
            total: v.frames.unwrap_or(300),
            fps: v.fps,
        };
        (src, w, h, v.fps, "test pattern".to_string())
    };
    if w < 2 || h < 2 || w % 2 != 0 || h % 2 != 0 {
        bail!("{what}: the size must be even and at least 2x2 (4:2:0), got {w}x{h}");
    }
    let bitrate = args.bitrate.unwrap_or(500_000);
    let cfg = VideoEncoderConfig::new(codec, w, h)
        .bitrate(bitrate)
        .framerate(fps)
        .keyframe_interval(v.keyframe_interval);
    let mut enc = VideoEncoder::new(&cfg).with_context(|| {
        format!(
            "cannot encode {w}x{h} {codec:?} at {bitrate} bps (sizes 2x2 and up, 10 kbps to 50 Mbps)"
        )
    })?;

    let (socket, local) = connect(args.dest)?;
    let mut rng = rand::rng();
    let ssrc = args.ssrc.unwrap_or_else(|| rng.random());
    // Random first sequence number and timestamp (RFC 3550 5.1).
    let mut seq = RtpSequencer::new(ssrc, pt, rng.random(), rng.random());
    let max_payload = MAX_PACKET - RTP_HEADER;
    let mut pack = match codec {
        VideoCodec::H264 => Packetizer::H264(H264Packetizer::new(max_payload)?),
        VideoCodec::Vp8 => Packetizer::Vp8(Vp8Packetizer::new(
            max_payload,
            rng.random::<u16>() & 0x7fff,
        )?),
    };

    let mut frame = VideoFrame::new(PixelFormat::I420, w, h)?;
    let mut payload = [0u8; MAX_PACKET];
    let mut packet = [0u8; MAX_PACKET];
    let (mut read, mut dropped, mut frames, mut keyframes) = (0u64, 0u64, 0u64, 0u64);
    let (mut packets, mut bytes, mut media_bytes, mut refused) = (0u64, 0u64, 0u64, 0u64);
    // When the first frame is due (after the SDP and the start delay), and its capture time.
    let mut clock: Option<(Instant, u64)> = None;
    let mut late_max = Duration::ZERO;
    let mut last_ts = 0u64;
    let mut encoded: Vec<VideoPacket> = Vec::new();
    let mut ended = false;
    while !ended {
        if source.next(&mut frame)? {
            read += 1;
            if enc.send_frame(&frame)? == SendStatus::Dropped {
                dropped += 1;
            }
        } else {
            enc.flush()?;
            ended = true;
        }
        while let Some(p) = enc.receive_packet()? {
            encoded.push(p);
        }
        for p in encoded.drain(..) {
            let ts = p.timestamp.as_micros();
            let (start, t0) = match clock {
                Some(c) => c,
                None => {
                    if let Some(path) = &args.sdp {
                        let sdp_codec = match codec {
                            VideoCodec::H264 => {
                                let (sps, pps) = parameter_sets(&p.data).context(
                                    "the encoder's first frame has no SPS and PPS for the SDP",
                                )?;
                                VideoSdpCodec::H264 { sps, pps }
                            }
                            VideoCodec::Vp8 => VideoSdpCodec::Vp8,
                        };
                        let sdp = VideoSdp {
                            session_name: "parla".into(),
                            origin: local.ip(),
                            destination: args.dest.ip(),
                            port: args.dest.port(),
                            payload_type: pt,
                            codec: sdp_codec,
                            framerate: Some(fps),
                            ssrc: Some(ssrc),
                        };
                        write_sdp(path, &sdp.to_sdp())?;
                    }
                    if args.start_delay_ms > 0 {
                        std::thread::sleep(Duration::from_millis(args.start_delay_ms));
                    }
                    *clock.insert((Instant::now(), ts))
                }
            };
            // Pacing: the frame captured at `ts` leaves `ts - t0` after the first one.
            let due = start + Duration::from_micros(ts.saturating_sub(t0));
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            } else {
                late_max = late_max.max(now - due);
            }
            let rtp_time = (ts - t0.min(ts)) * VIDEO_CLOCK / 1_000_000;
            pack.each(&p.data, &mut payload, |body, chunk| {
                let header = seq.next_header(rtp_time, chunk.last, body.len());
                let n = RtpPacketSpec {
                    header,
                    payload: body,
                    ..Default::default()
                }
                .write_to(&mut packet)?;
                match socket.send(&packet[..n]) {
                    Ok(_) => {}
                    // Nobody listening yet (an ICMP port unreachable came back): the peer may
                    // start late, so keep sending, as a camera would.
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused += 1,
                    Err(e) => {
                        return Err(
                            anyhow::Error::new(e).context(format!("sending to {}", args.dest))
                        );
                    }
                }
                packets += 1;
                bytes += n as u64;
                Ok(())
            })?;
            frames += 1;
            keyframes += u64::from(p.keyframe);
            media_bytes += p.data.len() as u64;
            last_ts = ts;
        }
    }
    if frames == 0 {
        bail!("{what}: no frames to send");
    }
    let seconds = (last_ts - clock.map_or(0, |c| c.1)) as f64 / 1e6 + 1.0 / f64::from(fps);
    println!(
        "sent: {frames} frames ({keyframes} keyframes) in {packets} packets ({bytes} bytes) from {local} to {}; {refused} refused (nobody listening)",
        args.dest
    );
    println!(
        "stream: SSRC {ssrc:#010x}, payload type {pt}, {codec:?} {}x{} at {fps} fps from {what} ({read} frames read, {dropped} dropped by the encoder), {:.1} kbps for {:.1} kbps target, not encrypted",
        cfg.width,
        cfg.height,
        media_bytes as f64 * 8.0 / seconds / 1000.0,
        f64::from(bitrate) / 1000.0
    );
    println!(
        "pacing: {:.2} s wall clock, latest frame {:.1} ms behind schedule",
        clock.map_or(0.0, |c| c.0.elapsed().as_secs_f64()),
        late_max.as_secs_f64() * 1000.0
    );
    Ok(())
}
