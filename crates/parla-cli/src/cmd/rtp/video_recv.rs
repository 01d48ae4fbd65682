//! `parla rtp recv --video`: UDP -> RTP -> frame assembly (H.264 RFC 6184 or VP8 RFC 7741) ->
//! decode -> Y4M, not encrypted.
//!
//! The stream is the first one seen with an accepted payload type (its SSRC is then fixed).
//! parla-rtp's `FrameAssembler` rebuilds frames from reordered packets and gives up a frame
//! whose packets did not all come within `MAX_WAIT` of a later frame starting. There is no RTCP
//! back to the sender here (ffmpeg's and GStreamer's payloaders do not listen for it), so after a
//! lost packet frames are skipped until the sender's next periodic keyframe rather than decoded
//! with a broken reference; with no loss every frame is decoded.
//!
//! Decoded pictures are written in order to the Y4M file at the size of the first one (later
//! sizes are scaled to it and counted). The file is finished on every exit path.

use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use anyhow::{Context, bail};
use parla_codec::VideoError;
use parla_codec::container::y4m::{Y4mHeader, Y4mWriter};
use parla_codec::scale::Scaler;
use parla_codec::video::{VideoCodec, VideoDecoder};
use parla_core::MediaTime;
use parla_core::video::{PixelFormat, VideoFrame};
use parla_rtp::payload::assembler::{
    AssembledFrame, AssemblerConfig, AssemblerEvent, AssemblerStats, Depacketizer, DropReason,
    FrameAssembler,
};
use parla_rtp::payload::h264::H264Depacketizer;
use parla_rtp::payload::vp8::Vp8Depacketizer;
use parla_rtp::rtp::{SeqUnwrapper, TimestampUnwrapper};

use super::is_dynamic_pt;
use super::key::KEY_ENV;
use super::listen::{Listener, MAX_DATAGRAM, Next, Stop};
use super::recv::Args;

/// How long an incomplete frame waits for reordered packets once a later frame has started.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// The RTP clock of video.
const VIDEO_CLOCK: u64 = 90_000;

/// Counters of the receive side.
#[derive(Debug, Default)]
struct Counters {
    malformed_rtp: u64,
    other_stream: u64,
    frames_dropped: u64,
    frames_malformed: u64,
    skipped: u64,
    decoded: u64,
    decode_errors: u64,
    resized: u64,
}

/// Decodes assembled frames and writes the pictures to the Y4M file.
struct Output {
    dec: VideoDecoder,
    /// The output file until the first picture gives the Y4M header its size.
    file: Option<File>,
    fps: u32,
    y4m: Option<Y4mWriter<BufWriter<File>>>,
    size: (u32, u32),
    scaler: Option<Scaler>,
    scaled: Option<VideoFrame>,
    /// Waiting for a keyframe (at the start, and after a frame was lost).
    need_keyframe: bool,
    ts: TimestampUnwrapper,
    first_ts: Option<u64>,
}

impl Output {
    /// A frame was given up: what follows lacks its reference until the next keyframe.
    fn lost(&mut self) {
        self.need_keyframe = true;
    }

    fn frame(&mut self, f: &AssembledFrame<'_>, c: &mut Counters) -> anyhow::Result<()> {
        if f.keyframe {
            self.need_keyframe = false;
        }
        if self.need_keyframe || !f.decodable {
            c.skipped += 1;
            return Ok(());
        }
        let ts = self.ts.unwrap(f.timestamp);
        let t0 = *self.first_ts.get_or_insert(ts);
        let pts = MediaTime::from_micros(ts.saturating_sub(t0) * 1_000_000 / VIDEO_CLOCK);
        match self.dec.send_packet(f.data, pts) {
            Ok(()) => {}
            Err(VideoError::InvalidData) => {
                c.decode_errors += 1;
                self.need_keyframe = true;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        self.drain(c)
    }

    /// Writes the pictures the decoder has ready.
    fn drain(&mut self, c: &mut Counters) -> anyhow::Result<()> {
        loop {
            let d = match self.dec.receive_frame() {
                Ok(Some(d)) => d,
                Ok(None) => return Ok(()),
                Err(VideoError::InvalidData) => {
                    c.decode_errors += 1;
                    self.need_keyframe = true;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            c.decoded += 1;
            let pic = &d.frame;
            if let Some(file) = self.file.take() {
                let header = Y4mHeader {
                    width: pic.width(),
                    height: pic.height(),
                    fps_num: self.fps,
                    fps_den: 1,
                };
                self.size = (pic.width(), pic.height());
                self.y4m = Some(Y4mWriter::new(BufWriter::new(file), header)?);
            }
            let Some(y4m) = self.y4m.as_mut() else {
                return Ok(());
            };
            if (pic.width(), pic.height()) == self.size {
                y4m.write_frame(pic)?;
            } else {
                c.resized += 1;
                let scaler = match &mut self.scaler {
                    Some(s) => s,
                    None => self.scaler.insert(Scaler::new()?),
                };
                let scaled = match &mut self.scaled {
                    Some(s) => s,
                    None => self.scaled.insert(VideoFrame::new(
                        PixelFormat::I420,
                        self.size.0,
                        self.size.1,
                    )?),
                };
                scaler.run(pic, scaled)?;
                y4m.write_frame(scaled)?;
            }
        }
    }
}

/// The sequence numbers seen, for the loss count.
#[derive(Debug, Default)]
struct SeqRange {
    unwrap: SeqUnwrapper,
    lowest: Option<u64>,
    packets: u64,
}

impl SeqRange {
    fn add(&mut self, seq: u16) {
        let s = self.unwrap.unwrap(seq);
        self.lowest = Some(self.lowest.map_or(s, |l| l.min(s)));
        self.packets += 1;
    }

    /// Packets expected from the lowest to the highest sequence number seen (RFC 3550 A.3).
    fn expected(&self) -> u64 {
        match (self.lowest, self.unwrap.highest()) {
            (Some(l), Some(h)) => h - l + 1,
            _ => 0,
        }
    }
}

/// Passes the assembler's events on to the output.
fn drain<D: Depacketizer>(
    asm: &mut FrameAssembler<D>,
    now: MediaTime,
    out: &mut Output,
    c: &mut Counters,
) -> anyhow::Result<()> {
    while let Some(ev) = asm.poll(now) {
        match ev {
            AssemblerEvent::Frame(f) => out.frame(&f, c)?,
            AssemblerEvent::Dropped(d) => {
                match d.reason {
                    DropReason::Incomplete => c.frames_dropped += 1,
                    DropReason::Malformed | DropReason::TooLarge => c.frames_malformed += 1,
                }
                out.lost();
            }
        }
    }
    Ok(())
}

/// Receives with one payload format until a stop condition, then hands on what the assembler
/// still holds.
fn receive<D: Depacketizer>(
    args: &Args,
    depack: D,
    listener: &mut Listener,
    out: &mut Output,
    c: &mut Counters,
) -> (anyhow::Result<Stop>, AssemblerStats, SeqRange) {
    let mut seqs = SeqRange::default();
    let cfg = AssemblerConfig {
        max_packets: 4096,
        max_payload: MAX_DATAGRAM,
        max_frame_bytes: 8 << 20,
        max_wait: MAX_WAIT,
    };
    let mut asm = match FrameAssembler::new(depack, cfg) {
        Ok(a) => a,
        Err(e) => return (Err(e.into()), AssemblerStats::default(), seqs),
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut ssrc: Option<u32> = None;
    let result = loop {
        let pkt = match listener.next_rtp(&mut buf) {
            Ok(Next::Packet(p)) => p,
            Ok(Next::Malformed) => {
                c.malformed_rtp += 1;
                continue;
            }
            Ok(Next::Stop(s)) => break Ok(s),
            Err(e) => break Err(e),
        };
        let h = pkt.header;
        if !is_dynamic_pt(h.payload_type)
            || args.pt.is_some_and(|pt| pt != h.payload_type)
            || *ssrc.get_or_insert(h.ssrc) != h.ssrc
        {
            c.other_stream += 1;
            continue;
        }
        seqs.add(h.sequence);
        let now = MediaTime::from_micros(listener.start.elapsed().as_micros() as u64);
        asm.insert(&pkt, now);
        if let Err(e) = drain(&mut asm, now, out, c) {
            break Err(e);
        }
    };
    // Frames still complete are passed on; incomplete ones are given up.
    asm.finish();
    let now = MediaTime::from_micros(listener.start.elapsed().as_micros() as u64);
    let result = match (result, drain(&mut asm, now, out, c)) {
        (Ok(stop), Ok(())) => Ok(stop),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
    };
    (result, asm.stats(), seqs)
}

/// Run `parla rtp recv --video`.
pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    if args.e2ee_key_file.is_some() || std::env::var_os(KEY_ENV).is_some() {
        bail!(
            "--video streams are not encrypted (they come from ffmpeg and GStreamer peers): drop --e2ee-key-file and unset {KEY_ENV}"
        );
    }
    if let Some(pt) = args.pt
        && !is_dynamic_pt(pt)
    {
        bail!("--pt must be a dynamic payload type (96-127), got {pt}");
    }
    let fps = args.video.fps;
    if !(1..=120).contains(&fps) {
        bail!("--fps must be 1-120, got {fps}");
    }
    let codec = VideoCodec::from(args.video.codec);
    let dec = VideoDecoder::new(codec)?;
    let mut listener = Listener::bind(args.listen, args.seconds, args.idle_stop_ms)?;
    // Created now so that a bad path fails before anything is received; the Y4M header
    // (which needs the picture size) is written with the first picture.
    let file = File::create(&args.output)
        .with_context(|| format!("cannot create output file '{}'", args.output.display()))?;
    let mut out = Output {
        dec,
        file: Some(file),
        fps,
        y4m: None,
        size: (0, 0),
        scaler: None,
        scaled: None,
        need_keyframe: true,
        ts: TimestampUnwrapper::new(),
        first_ts: None,
    };
    listener.announce()?;

    let mut c = Counters::default();
    let (result, stats, seqs) = match codec {
        VideoCodec::H264 => receive(
            args,
            H264Depacketizer::default(),
            &mut listener,
            &mut out,
            &mut c,
        ),
        VideoCodec::Vp8 => receive(args, Vp8Depacketizer, &mut listener, &mut out, &mut c),
    };
    // The decoder's last pictures, then the file, whatever ended the loop.
    let flushed = out
        .dec
        .flush()
        .map_err(anyhow::Error::from)
        .and_then(|()| out.drain(&mut c));
    let finished = match out.y4m.take() {
        Some(w) => w
            .finish()
            .map_err(anyhow::Error::from)
            .and_then(|mut f| Ok(std::io::Write::flush(&mut f)?)),
        None => Ok(()),
    }
    .with_context(|| format!("cannot finish output file '{}'", args.output.display()));
    let stop = result?;
    flushed?;
    finished?;

    let expected = seqs.expected();
    let unique = seqs.packets.saturating_sub(stats.duplicates);
    println!("{}", listener.summary());
    println!(
        "rtp: malformed {}, other stream (payload type or SSRC) {}; packets lost {} of {expected} expected, duplicates {}, late {}",
        c.malformed_rtp,
        c.other_stream,
        expected.saturating_sub(unique),
        stats.duplicates,
        stats.late
    );
    println!(
        "frames: received {} ({} keyframes), dropped incomplete {}, malformed {}, skipped waiting for a keyframe {}",
        stats.frames, stats.keyframes, c.frames_dropped, c.frames_malformed, c.skipped
    );
    println!(
        "decoded: {} frames ({codec:?}), decode errors {}, scaled to the first size {}",
        c.decoded, c.decode_errors, c.resized
    );
    println!(
        "output: '{}' {} frames {}x{} at {fps} fps (stopped: {})",
        args.output.display(),
        c.decoded,
        out.size.0,
        out.size.1,
        stop.as_str()
    );
    Ok(())
}
