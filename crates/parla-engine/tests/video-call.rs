//! A video call through the `Call` API, in real time on two app-owned calls: the app pushes
//! camera frames and pulls decoded pictures while audio flows; the video thread encodes and
//! decodes off the media thread, whose steps stay allocation-free; the call survives a stop,
//! a restart, a key rotation and an outage; misuse gets clear errors.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions
mod common;

use std::time::{Duration, Instant};

use parla_core::video::{PixelFormat, VideoFrame};
use parla_engine::{AecMode, AudioMode, Call, CallConfig, VideoCodec, VideoConfig, VideoIo};

const W: u32 = 320;
const H: u32 = 180;
const FPS: u32 = 30;

fn cfg() -> CallConfig {
    let mut video = VideoConfig::new(VideoCodec::H264, W, H, FPS);
    video.max_bitrate_bps = 600_000;
    CallConfig {
        aec: AecMode::Off,
        noise_suppression: false,
        video: Some(video),
        ..CallConfig::default()
    }
}

/// Per direction: pictures pulled, and the last one.
struct Seen {
    pulled: u64,
    last: VideoFrame,
}

/// Runs both calls for `ms` of real time: 10 ms audio ticks, a camera frame every 33 ms on
/// both sides, packets moved both ways, pictures pulled.
fn run(a: &Call, b: &Call, ms: u64, first_index: u64) -> (Seen, Seen) {
    run_link(a, b, ms, first_index, true)
}

/// As [`run`]; with `deliver` false the packets are polled and dropped (an outage both ways).
fn run_link(a: &Call, b: &Call, ms: u64, first_index: u64, deliver: bool) -> (Seen, Seen) {
    let f = 480;
    let silence = vec![0.0f32; f];
    let mut spk = vec![0.0f32; f];
    let mut buf = vec![0u8; parla_engine::MAX_WIRE_PACKET];
    let mut cam = VideoFrame::new(PixelFormat::I420, W, H).unwrap();
    let mut seen = [a, b].map(|_| Seen {
        pulled: 0,
        last: VideoFrame::new(PixelFormat::I420, 16, 16).unwrap(),
    });
    let start = Instant::now();
    let mut next_frame = 0u64;
    for i in 0..ms / 10 {
        let t = i * 10;
        if t * u64::from(FPS) >= next_frame * 1000 {
            parla_video::pattern::fill(&mut cam, first_index + next_frame, FPS);
            a.push_video_frame(&cam).unwrap();
            b.push_video_frame(&cam).unwrap();
            next_frame += 1;
        }
        for call in [a, b] {
            call.push_capture(&silence).unwrap();
        }
        for (from, to) in [(a, b), (b, a)] {
            while let Some(n) = from.poll_packet(&mut buf).unwrap() {
                if deliver {
                    to.receive_packet(&buf[..n]);
                }
            }
        }
        for (k, call) in [a, b].into_iter().enumerate() {
            call.pull_playout(&mut spk).unwrap();
            while let Some(info) = call.pull_video_frame(&mut seen[k].last).unwrap() {
                assert!(!info.size_changed || seen[k].pulled == 0 || info.keyframe);
                seen[k].pulled += 1;
            }
        }
        let next = start + Duration::from_millis(t + 10);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let [sa, sb] = seen;
    (sa, sb)
}

fn psnr_y(a: &VideoFrame, b: &VideoFrame) -> f64 {
    let mse = a
        .plane(0)
        .iter()
        .zip(b.plane(0))
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.plane(0).len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}

/// The best Y PSNR of `pic` against the pattern pictures `range` (which one it is depends on
/// the delay).
fn best_psnr(pic: &VideoFrame, range: std::ops::Range<u64>) -> f64 {
    range
        .map(|i| psnr_y(pic, &parla_video::pattern::frame(W, H, i, FPS).unwrap()))
        .fold(0.0, f64::max)
}

#[test]
fn video_flows_both_ways_off_the_media_thread_and_survives_a_restart() {
    let (a, b) = common::call_pair(cfg());
    // Before the start: a clear error, nothing queued.
    let cam = parla_video::pattern::frame(W, H, 0, FPS).unwrap();
    assert_eq!(a.push_video_frame(&cam), Err(VideoIo::NotRunning));
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    let (sa, sb) = run(&a, &b, 3000, 0);
    let (va, vb) = (a.stats().video, b.stats().video);
    eprintln!(
        "A: pulled {} {va:?}\nB: pulled {} {vb:?}",
        sa.pulled, sb.pulled
    );
    for (seen, mine, peer) in [(&sa, &va, &vb), (&sb, &vb, &va)] {
        // 90 frames pushed by the peer in 3 s; the first ones wait for the key exchange
        // (the video receiver locks on the peer's authenticated audio) and the keyframe.
        assert!(peer.frames_captured >= 85, "{peer:?}");
        assert!(peer.frames_encoded >= 60, "{peer:?}");
        assert!(mine.frames_decoded >= 50, "{mine:?}");
        assert!(seen.pulled >= 40, "pulled {}", seen.pulled);
        assert_eq!((seen.last.width(), seen.last.height()), (W, H));
        assert_eq!(mine.decode_errors, 0, "{mine:?}");
        assert_eq!(mine.frames_auth_failed, 0, "{mine:?}");
        let q = best_psnr(&seen.last, 0..95);
        assert!(q > 30.0, "the last picture matches no sent one: {q:.1} dB");
    }
    // The media threads never allocated, video included (the encoder and decoder allocate
    // on the video thread).
    assert_eq!(a.stats().media_thread_allocs, 0);
    assert_eq!(b.stats().media_thread_allocs, 0);
    // Audio kept flowing beside the video.
    assert!(b.stats().e2ee_accepted > 100, "{:?}", b.stats());

    // Stop and start A again: the video resumes (a new encoder opens with a keyframe; B's
    // receiver follows the same stream).
    a.stop().unwrap();
    assert_eq!(a.push_video_frame(&cam), Err(VideoIo::NotRunning));
    let decoded_before = b.stats().video.frames_decoded;
    let synced_before = b.stats().video.av_skew_measurements;
    a.start(AudioMode::AppOwned).unwrap();
    let (_, sb2) = run(&a, &b, 1000, 200);
    // B's lip sync goes on measuring (every 250 ms): A's video timestamps continue from where
    // they stopped. (When they went back to the first run's origin, B released every frame
    // late and measured once in this second, then never again.)
    let synced_restart = b.stats().video.av_skew_measurements;
    assert!(
        synced_restart >= synced_before + 2,
        "lip sync measured {synced_before} -> {synced_restart} across A's restart"
    );
    // A rotates its keys mid-call: the audio and video senders move to the next epoch together
    // and B's receivers follow without a refused frame.
    a.rotate_key().unwrap();
    let decoded_at_rotation = b.stats().video.frames_decoded;
    let (_, sb3) = run(&a, &b, 1000, 230);
    let vb2 = b.stats().video;
    assert!(
        vb2.av_skew_measurements >= synced_restart + 2,
        "lip sync measured {synced_restart} -> {} after the rotation",
        vb2.av_skew_measurements
    );
    assert!(vb2.frames_decoded >= decoded_at_rotation + 15, "{vb2:?}");
    assert_eq!(vb2.frames_auth_failed, 0, "{vb2:?}");
    assert!(b.stats().peer_key_epoch > 0, "{:?}", b.stats());
    let sb2 = Seen {
        pulled: sb2.pulled + sb3.pulled,
        last: sb3.last,
    };
    eprintln!("after restart: B pulled {} {vb2:?}", sb2.pulled);
    assert!(vb2.frames_decoded >= decoded_before + 30, "{vb2:?}");
    let q = best_psnr(&sb2.last, 200..262);
    assert!(
        q > 30.0,
        "after the restart B shows a stale picture: {q:.1} dB"
    );
    a.stop().unwrap();
    b.stop().unwrap();
}

#[test]
fn a_call_without_video_refuses_frames() {
    let cfg = CallConfig {
        video: None,
        ..cfg()
    };
    let (a, b) = common::call_pair(cfg);
    a.start(AudioMode::AppOwned).unwrap();
    let cam = parla_video::pattern::frame(W, H, 0, FPS).unwrap();
    assert_eq!(a.push_video_frame(&cam), Err(VideoIo::NoVideo));
    let mut out = VideoFrame::new(PixelFormat::I420, 16, 16).unwrap();
    assert_eq!(a.pull_video_frame(&mut out), Err(VideoIo::NoVideo));
    a.stop().unwrap();
    drop(b);
}

#[test]
fn a_failed_media_thread_with_video_is_reported_and_a_restart_brings_the_video_back() {
    let (a, b) = common::call_pair(cfg());
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    let _ = run(&a, &b, 1500, 0);
    let decoded_before = b.stats().video.frames_decoded;
    assert!(decoded_before >= 15, "{:?}", b.stats().video);
    a.fail_media_thread().unwrap();
    // The app's video calls report the failure within a few ticks.
    let cam = parla_video::pattern::frame(W, H, 100, FPS).unwrap();
    let t = Instant::now();
    while a.push_video_frame(&cam) != Err(VideoIo::Failed) {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "push_video_frame never reported the failure"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut out = VideoFrame::new(PixelFormat::I420, 16, 16).unwrap();
    assert_eq!(a.pull_video_frame(&mut out), Err(VideoIo::Failed));
    let mut events = Vec::new();
    while let Some(e) = a.poll_event() {
        events.push(e);
    }
    assert!(
        events.contains(&parla_engine::CallEvent::MediaFailed),
        "{events:?}"
    );
    assert!(a.stop().is_err(), "stop reports the failed run");
    // Recover: the same call starts again; its video thread and encoder come back and B
    // decodes A's new pictures (no frame refused by authentication).
    a.start(AudioMode::AppOwned).unwrap();
    let (_, sb) = run(&a, &b, 2000, 300);
    let vb = b.stats().video;
    eprintln!("after recovery: B pulled {} {vb:?}", sb.pulled);
    assert!(vb.frames_decoded >= decoded_before + 25, "{vb:?}");
    assert_eq!(vb.frames_auth_failed, 0, "{vb:?}");
    let q = best_psnr(&sb.last, 300..362);
    assert!(
        q > 30.0,
        "after recovery B shows a stale picture: {q:.1} dB"
    );
    assert_eq!(a.stats().media_thread_allocs, 0);
    a.stop().unwrap();
    b.stop().unwrap();
}

/// An 800 ms outage both ways (the app's transport delivers nothing): each sender's transport
/// feedback goes silent, so it makes keyframes of its own (one every 100 ms once the silence
/// passes 300 ms, where only the receiver's request after the outage would make one), and the
/// pictures come back when the link does.
#[test]
fn during_an_outage_the_sender_makes_keyframes_and_the_pictures_come_back() {
    let (a, b) = common::call_pair(cfg());
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    let _ = run(&a, &b, 2000, 0);
    let keyframes = a.stats().video.keyframes_sent;
    let decoded = b.stats().video.frames_decoded;
    assert!(decoded >= 20, "{:?}", b.stats().video);
    let _ = run_link(&a, &b, 800, 60, false);
    let during = a.stats().video.keyframes_sent - keyframes;
    let (_, sb) = run(&a, &b, 1500, 84);
    let (va, vb) = (a.stats().video, b.stats().video);
    eprintln!(
        "A: {during} keyframes during the outage {va:?}\nB: pulled {} {vb:?}",
        sb.pulled
    );
    assert!(
        during >= 3,
        "{during} keyframes while the feedback was silent: {va:?}"
    );
    assert!(vb.frames_decoded >= decoded + 30, "{vb:?}");
    assert_eq!(vb.frames_auth_failed, 0, "{vb:?}");
    let q = best_psnr(&sb.last, 84..140);
    assert!(
        q > 30.0,
        "after the outage B shows a stale picture: {q:.1} dB"
    );
    a.stop().unwrap();
    b.stop().unwrap();
}
