//! Video through two media cores in simulated time: A encodes a moving test pattern (libx264
//! or libvpx through the engine's codec side), the core encrypts it under the video key,
//! packetizes and paces it; the link delays it and drops video packets; B's core repairs with
//! NACK -> RTX, releases frames at their render time, authenticates and decrypts them, and
//! the codec side decodes them. Audio runs beside it in the same ticks.
#![allow(clippy::unwrap_used)]

mod common;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use parla_core::MediaTime;
use parla_core::video::VideoFrame;
use parla_engine::video_codec::{VideoDecodeSide, VideoEncodeSide};
use parla_engine::{
    AecMode, CallConfig, MAX_VIDEO_FRAME, MediaCore, StreamIds, VideoCodec, VideoConfig,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const W: u32 = 320;
const H: u32 = 180;
const FPS: u64 = 30;

fn pattern(i: u64) -> VideoFrame {
    parla_video::pattern::frame(W, H, i, FPS as u32).unwrap()
}

fn psnr_y(a: &VideoFrame, b: &VideoFrame) -> f64 {
    let (pa, pb) = (a.plane(0), b.plane(0));
    let (sa, sb) = (a.stride(0), b.stride(0));
    let mut se = 0.0f64;
    for row in 0..H as usize {
        for col in 0..W as usize {
            let d = f64::from(pa[row * sa + col]) - f64::from(pb[row * sb + col]);
            se += d * d;
        }
    }
    let mse = se / f64::from(W * H);
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

/// One direction: fixed delay, a loss rate on video packets only (payload types 96/97).
struct Link {
    delay_ms: u64,
    video_loss: f64,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(u64, u64, Vec<u8>)>>,
    n: u64,
    dropped: u64,
    outage: Option<(u64, u64)>,
}

impl Link {
    fn new(delay_ms: u64, video_loss: f64, seed: u64) -> Self {
        Link {
            delay_ms,
            video_loss,
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            n: 0,
            dropped: 0,
            outage: None,
        }
    }

    fn send(&mut self, now_ms: u64, p: &[u8]) {
        let video = p.len() > 1 && matches!(p[1] & 0x7f, 96 | 97) && !parla_engine::is_rtcp(p);
        if self.outage.is_some_and(|(a, b)| (a..b).contains(&now_ms)) {
            self.dropped += 1;
            return;
        }
        if video && self.rng.random::<f64>() < self.video_loss {
            self.dropped += 1;
            return;
        }
        self.n += 1;
        self.queue
            .push(Reverse((now_ms + self.delay_ms, self.n, p.to_vec())));
    }

    fn deliver(&mut self, now_ms: u64, to: &mut MediaCore) {
        while self
            .queue
            .peek()
            .is_some_and(|Reverse((t, _, _))| *t <= now_ms)
        {
            let Reverse((t, _, p)) = self.queue.pop().unwrap();
            to.receive_packet(&p, MediaTime::from_millis(t));
        }
    }
}

struct Outcome {
    sent: u64,
    decoded: u64,
    psnr: Vec<f64>,
    max_gap_ms: u64,
    first_after_outage_ms: Option<u64>,
    a: parla_engine::CallStats,
    b: parla_engine::CallStats,
}

fn run(codec: VideoCodec, seconds: u64, loss: f64, outage: Option<(u64, u64)>) -> Outcome {
    let mut video = VideoConfig::new(codec, W, H, FPS as u32);
    video.start_bitrate_bps = 500_000;
    video.max_bitrate_bps = 600_000;
    let cfg = CallConfig {
        aec: AecMode::Off,
        noise_suppression: false,
        video: Some(video),
        ..CallConfig::default()
    };
    let (mut ka, mut kb) = common::call_keys(b"video-core");
    let ids = |s| StreamIds {
        ssrc: s,
        first_seq: 65_000,
        timestamp_offset: 4_000_000_000,
    };
    let mut a = MediaCore::new(&cfg, Some(&mut ka), ids(0x1000)).unwrap();
    let mut b = MediaCore::new(&cfg, Some(&mut kb), ids(0x2000)).unwrap();
    let mut enc = VideoEncodeSide::new(codec, 1);
    let mut dec = VideoDecodeSide::new(codec).unwrap();
    let (mut ab, mut ba) = (Link::new(50, loss, 7), Link::new(50, loss, 8));
    ab.outage = outage;
    let f = cfg.capture_frame();
    let (mic, mut spk) = (vec![0.0f32; f], vec![0.0f32; f]);
    let mut buf = vec![0u8; MAX_VIDEO_FRAME];
    let mut out = Outcome {
        sent: 0,
        decoded: 0,
        psnr: Vec::new(),
        max_gap_ms: 0,
        first_after_outage_ms: None,
        a: Default::default(),
        b: Default::default(),
    };
    let mut first_ts: Option<u32> = None;
    let mut last_shown: Option<u64> = None;
    let mut next_frame = 0u64;
    for ms in 0..seconds * 1000 {
        let now = MediaTime::from_millis(ms);
        ab.deliver(ms, &mut b);
        ba.deliver(ms, &mut a);
        if ms % 10 == 0 {
            a.tick(now, &mic, &mut spk, &mut |p| ab.send(ms, p))
                .unwrap();
            b.tick(now, &mic, &mut spk, &mut |p| ba.send(ms, p))
                .unwrap();
        }
        if next_frame * 1000 / FPS <= ms {
            while let Some(cmd) = a.video_encoder_command() {
                enc.apply(cmd).unwrap();
            }
            let mut frames = Vec::new();
            enc.encode(&pattern(next_frame), &mut |d, k, t| {
                frames.push((d.to_vec(), k, t))
            })
            .unwrap();
            for (d, k, t) in frames {
                a.send_video_frame(&d, k, t).unwrap();
                out.sent += 1;
            }
            next_frame += 1;
        }
        a.poll_video(now, &mut |p| ab.send(ms, p));
        b.poll_video(now, &mut |p| ba.send(ms, p));
        while let Some(fr) = b.poll_video_frame(now, &mut buf) {
            match dec.decode(&buf[..fr.len], MediaTime::from_micros(fr.capture_us)) {
                Ok(Some(pic)) => {
                    out.decoded += 1;
                    // The first frame decoded is frame 0 (the stream's first keyframe).
                    let first = *first_ts.get_or_insert(fr.rtp_timestamp);
                    let ticks = u64::from(fr.rtp_timestamp.wrapping_sub(first));
                    let idx = (ticks * FPS + 45_000) / 90_000;
                    out.psnr.push(psnr_y(&pattern(idx), &pic.frame));
                    if let Some(l) = last_shown {
                        out.max_gap_ms = out.max_gap_ms.max(ms - l);
                    }
                    if let Some((_, end)) = outage
                        && ms >= end
                        && out.first_after_outage_ms.is_none()
                    {
                        out.first_after_outage_ms = Some(ms - end);
                    }
                    last_shown = Some(ms);
                }
                Ok(None) => {}
                Err(_) => b.video_decode_error(now),
            }
        }
    }
    out.a = a.stats();
    out.b = b.stats();
    out
}

fn report(name: &str, o: &Outcome) {
    let mean = o.psnr.iter().sum::<f64>() / o.psnr.len().max(1) as f64;
    println!(
        "{name}: sent {} decoded {} mean PSNR-Y {mean:.1} dB, longest gap {} ms, first after outage {:?} ms\n  A video {:?}\n  B video {:?}",
        o.sent, o.decoded, o.max_gap_ms, o.first_after_outage_ms, o.a.video, o.b.video
    );
}

#[test]
fn h264_over_a_lossy_link_is_repaired_and_decoded() {
    let o = run(VideoCodec::H264, 4, 0.02, None);
    report("h264 2% loss", &o);
    let (a, b) = (o.a.video, o.b.video);
    assert!(o.sent >= 115, "frames sent {}", o.sent);
    // Every frame but those still in flight at the end (receive delay ~200 ms + 50 ms) and
    // at most two whose retransmission also got lost.
    assert!(o.decoded + 2 + 9 >= o.sent, "{} of {}", o.decoded, o.sent);
    assert!(b.frames_dropped <= 2, "{b:?}");
    let mean = o.psnr.iter().sum::<f64>() / o.psnr.len() as f64;
    assert!(mean > 30.0, "mean PSNR {mean:.1} dB");
    assert!(a.rtx_sent > 0 && b.rtx_received > 0, "{a:?} {b:?}");
    assert!(b.packets_recovered > 0 && b.nacks_sent > 0);
    assert_eq!(b.frames_auth_failed, 0);
    assert_eq!(o.a.rtcp_rejected + o.b.rtcp_rejected, 0);
    // Audio kept flowing beside it.
    assert!(o.b.packets_received > a.packets_sent);
    assert!(o.b.concealment_events < 5, "{:?}", o.b);
}

#[test]
fn vp8_recovers_from_an_outage_with_a_keyframe_or_retransmissions() {
    let o = run(VideoCodec::Vp8, 4, 0.0, Some((1500, 2000)));
    report("vp8 outage", &o);
    // The outage's 15 frames and those in flight at the end are missing.
    assert!(
        o.decoded + 15 + 9 + 3 >= o.sent,
        "{} of {}",
        o.decoded,
        o.sent
    );
    let mean = o.psnr.iter().sum::<f64>() / o.psnr.len() as f64;
    assert!(mean > 30.0, "mean PSNR {mean:.1} dB");
    let after = o.first_after_outage_ms.unwrap();
    // The floor is one RTT (100 ms) plus the first packet's one-way trip; allow two frames.
    assert!(
        after <= 100 + 50 + 67,
        "first frame {after} ms after the link returned"
    );
    assert_eq!(o.b.video.frames_auth_failed, 0);
}

#[test]
fn a_tampered_video_frame_is_refused_and_repaired_with_a_keyframe() {
    // Flip one byte of every 50th video packet in flight: its frame fails authentication
    // (never decoded), a keyframe is requested and the stream continues.
    let mut video = VideoConfig::new(VideoCodec::H264, W, H, FPS as u32);
    video.max_bitrate_bps = 600_000;
    let cfg = CallConfig {
        aec: AecMode::Off,
        noise_suppression: false,
        video: Some(video),
        ..CallConfig::default()
    };
    let (mut ka, mut kb) = common::call_keys(b"video-tamper");
    let mut a = MediaCore::new(&cfg, Some(&mut ka), StreamIds::random(&mut rand::rng())).unwrap();
    let mut b = MediaCore::new(&cfg, Some(&mut kb), StreamIds::random(&mut rand::rng())).unwrap();
    let mut enc = VideoEncodeSide::new(VideoCodec::H264, 1);
    let mut dec = VideoDecodeSide::new(VideoCodec::H264).unwrap();
    let f = cfg.capture_frame();
    let (mic, mut spk) = (vec![0.0f32; f], vec![0.0f32; f]);
    let mut buf = vec![0u8; MAX_VIDEO_FRAME];
    let (mut to_b, mut to_a): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
    let mut video_pkts = 0u64;
    let mut decoded = 0u64;
    for ms in 0..3000u64 {
        let now = MediaTime::from_millis(ms);
        for p in to_b.drain(..) {
            b.receive_packet(&p, now);
        }
        for p in to_a.drain(..) {
            a.receive_packet(&p, now);
        }
        let mut send_ab = |p: &[u8]| {
            let mut p = p.to_vec();
            if !parla_engine::is_rtcp(&p) && p[1] & 0x7f == 96 {
                video_pkts += 1;
                if video_pkts.is_multiple_of(50) {
                    let last = p.len() - 1;
                    p[last] ^= 1;
                }
            }
            to_b.push(p);
        };
        if ms % 10 == 0 {
            a.tick(now, &mic, &mut spk, &mut send_ab).unwrap();
            b.tick(now, &mic, &mut spk, &mut |p| to_a.push(p.to_vec()))
                .unwrap();
        }
        if ms * FPS % 1000 < FPS {
            while let Some(cmd) = a.video_encoder_command() {
                enc.apply(cmd).unwrap();
            }
            let mut frames = Vec::new();
            enc.encode(&pattern(ms * FPS / 1000), &mut |d, k, t| {
                frames.push((d.to_vec(), k, t))
            })
            .unwrap();
            for (d, k, t) in frames {
                a.send_video_frame(&d, k, t).unwrap();
            }
        }
        a.poll_video(now, &mut send_ab);
        b.poll_video(now, &mut |p| to_a.push(p.to_vec()));
        while let Some(fr) = b.poll_video_frame(now, &mut buf) {
            match dec.decode(&buf[..fr.len], MediaTime::from_micros(fr.capture_us)) {
                Ok(Some(_)) => decoded += 1,
                Ok(None) => {}
                Err(_) => b.video_decode_error(now),
            }
        }
    }
    let (sa, sb) = (a.stats().video, b.stats().video);
    println!("tamper: decoded {decoded}; A {sa:?}\nB {sb:?}");
    assert!(sb.frames_auth_failed > 0, "{sb:?}");
    assert!(
        sa.keyframe_requests_received > 0 && sa.keyframes_sent > 1,
        "{sa:?}"
    );
    assert!(
        decoded * 100 >= sa.frames_sent * 60,
        "{decoded} of {}",
        sa.frames_sent
    );
}
