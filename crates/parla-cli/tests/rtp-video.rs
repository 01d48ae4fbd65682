//! `parla rtp send --video` / `parla rtp recv --video` (H.264 and VP8 over RTP, not encrypted)
//! between Parla and itself, and against independent implementations: ffmpeg and GStreamer
//! receive and decode our stream (ffmpeg from the SDP we write), and we receive and decode
//! theirs. Each test sends a one-second 320x240 moving clip (30 frames) over loopback and checks
//! that every frame arrives, in order, with a sane PSNR against the clip; one more pair drops a
//! packet on the way and checks that the receiver waits for the next keyframe. Skips (with a
//! message) only when the peer tool or GStreamer plugin is not installed.
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

#[path = "rtp/common.rs"]
mod common;
#[path = "rtp/video.rs"]
mod video;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use video::*;

/// Lowest PSNR accepted for any frame at the bitrate used here (1 Mbps for 320x240: every
/// frame of the clip decodes at 44 dB and up with each encoder; a frame one place off scores
/// about 29.5 dB against its neighbour, which `check_frames` prints for scale).
const MIN_PSNR_DB: f64 = 35.0;

/// The two codecs: `--codec` value, ffmpeg encoder arguments, GStreamer caps encoding name.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Codec {
    H264,
    Vp8,
}

impl Codec {
    fn arg(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::Vp8 => "vp8",
        }
    }
}

/// Writes the clip to `dir/in.y4m` and returns it with the path.
fn clip_file(dir: &Path) -> (Vec<Vec<u8>>, std::path::PathBuf) {
    let frames = clip();
    let path = dir.join("in.y4m");
    write_clip(&path, &frames);
    (frames, path)
}

/// `parla rtp send --video` of the clip to `port`, with extra arguments.
fn sender(codec: Codec, input: &Path, port: u16, extra: &[&str]) -> Guard {
    Guard::spawn(
        "parla rtp send --video",
        parla()
            .args(["rtp", "send", "--video", "--codec", codec.arg()])
            .arg("--video-input")
            .arg(input)
            .args(["--bitrate", "1000000", "--dest"])
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

/// Checks the sender's summary: every frame sent, none refused.
fn check_sent(summary: &str) {
    println!("{summary}");
    assert!(
        summary.contains(&format!("sent: {FRAMES} frames")),
        "{summary}"
    );
    assert!(
        summary.contains("; 0 refused (nobody listening)"),
        "{summary}"
    );
}

/// Starts `parla rtp recv --video`, which stops 1 s after the stream ends.
fn receiver(codec: Codec, out: &Path) -> Receiver {
    Receiver::start(
        out,
        &[
            "--video",
            "--codec",
            codec.arg(),
            "--idle-stop-ms",
            "1000",
            "--seconds",
            "30",
        ],
    )
}

/// Checks our receiver's summary for a stream without loss and returns the decoded frames.
fn check_received(summary: &str, out: &Path, what: &str) -> Vec<Vec<u8>> {
    println!("{summary}");
    assert!(
        summary
            .contains("rtp: malformed 0, other stream (payload type or SSRC) 0; packets lost 0 of"),
        "{what}: {summary}"
    );
    assert!(
        summary.contains(&format!("decoded: {FRAMES} frames")),
        "{what}: {summary}"
    );
    assert!(summary.contains("decode errors 0"), "{what}: {summary}");
    read_y4m(out)
}

fn loopback(codec: Codec) {
    let (_d, dir) = tempdir();
    let (source, input) = clip_file(&dir);
    let out = dir.join("out.y4m");
    let rx = receiver(codec, &out);
    let summary = sender(codec, &input, rx.port, &[]).finish(Duration::from_secs(20));
    check_sent(&summary);
    let summary = rx.finish(Duration::from_secs(10));
    let got = check_received(&summary, &out, "loopback");
    check_frames(
        &format!("parla -> parla {codec:?}"),
        &source,
        &got,
        MIN_PSNR_DB,
    );
}

#[test]
fn loopback_h264() {
    loopback(Codec::H264);
}

#[test]
fn loopback_vp8() {
    loopback(Codec::Vp8);
}

/// A lost packet: a relay between `parla rtp send` and `parla rtp recv` drops the first packet
/// of frame `LOST`. With a keyframe every 10 frames, the receiver gives up that frame, skips the
/// frames that reference it and decodes again from the next keyframe (frame 20): it writes
/// frames 0-11 and 20-29 and nothing broken in between.
fn loss_waits_for_keyframe(codec: Codec) {
    const LOST: usize = 12;
    const NEXT_KEY: usize = 20;
    let (_d, dir) = tempdir();
    let (source, input) = clip_file(&dir);
    let out = dir.join("out.y4m");
    let rx = receiver(codec, &out);
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    relay
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    let rx_port = rx.port;
    // Forwards until the stream has been idle for 1.5 s; returns how many packets it dropped.
    let forward = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let (mut frames, mut last_ts, mut dropped) = (0usize, None, 0);
        while let Ok(n) = relay.recv(&mut buf) {
            let ts = u32::from_be_bytes(buf[4..8].try_into().unwrap());
            if last_ts != Some(ts) {
                last_ts = Some(ts);
                frames += 1;
                if frames == LOST + 1 {
                    dropped += 1;
                    continue;
                }
            }
            relay.send_to(&buf[..n], ("127.0.0.1", rx_port)).unwrap();
        }
        dropped
    });
    let summary = sender(codec, &input, relay_port, &["--keyframe-interval", "10"])
        .finish(Duration::from_secs(20));
    check_sent(&summary);
    assert!(summary.contains("(3 keyframes)"), "{summary}");
    assert_eq!(forward.join().unwrap(), 1, "the relay dropped one packet");
    let summary = rx.finish(Duration::from_secs(10));
    println!("{summary}");
    assert!(summary.contains("packets lost 1 of"), "{summary}");
    let kept = FRAMES - (NEXT_KEY - LOST);
    assert!(
        summary.contains(&format!("decoded: {kept} frames")),
        "{summary}"
    );
    assert!(summary.contains("decode errors 0"), "{summary}");
    // The gap: frame LOST given up as incomplete (or, if the dropped packet was all of it,
    // never seen) and the frames after it skipped until the keyframe.
    let dropped = number_after(&summary, "dropped incomplete ") as usize;
    let skipped = number_after(&summary, "skipped waiting for a keyframe ") as usize;
    assert!(dropped <= 1, "{summary}");
    assert_eq!(skipped, NEXT_KEY - LOST - 1, "{summary}");
    let expect: Vec<Vec<u8>> = source[..LOST]
        .iter()
        .chain(&source[NEXT_KEY..])
        .cloned()
        .collect();
    check_frames(
        &format!("parla -> relay dropping one packet -> parla {codec:?}"),
        &expect,
        &read_y4m(&out),
        MIN_PSNR_DB,
    );
}

#[test]
fn loss_waits_for_keyframe_h264() {
    loss_waits_for_keyframe(Codec::H264);
}

#[test]
fn loss_waits_for_keyframe_vp8() {
    loss_waits_for_keyframe(Codec::Vp8);
}

/// ffmpeg receives our stream from the SDP we write and decodes it to Y4M.
fn ffmpeg_receives(codec: Codec, test: &str) {
    if !have_tool("ffmpeg", "-version", test) {
        return;
    }
    let (_d, dir) = tempdir();
    let (source, input) = clip_file(&dir);
    let sdp = dir.join("stream.sdp");
    let out = dir.join("ffmpeg.y4m");
    let port = free_port_pair();
    // The sender writes the SDP after encoding the first frame, then waits 1.5 s for ffmpeg to
    // start before the first packet.
    let tx = sender(
        codec,
        &input,
        port,
        &["--sdp", sdp.to_str().unwrap(), "--start-delay-ms", "1500"],
    );
    wait_for_file(&sdp, Duration::from_secs(10));
    let text = std::fs::read_to_string(&sdp).unwrap();
    println!("{text}");
    match codec {
        Codec::H264 => assert!(
            text.contains(
                "a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42c0"
            ) && text.contains(";sprop-parameter-sets="),
            "{text}"
        ),
        Codec::Vp8 => assert!(text.contains("a=rtpmap:96 VP8/90000\r\n"), "{text}"),
    }
    // The SDP demuxer ends its input after `-listen_timeout` seconds without a packet (10 by
    // default; it must exceed the start delay). At that point ffmpeg flushes the decoder and
    // reads again if the flush gave a picture: a single-threaded decoder holds none back, so
    // VP8 ends after one timeout; H.264 after two (ffmpeg's H.264 parser ends an access unit
    // when the next one starts, not at the RTP marker bit, so the last picture comes out at the
    // first timeout).
    let ffmpeg = Guard::spawn(
        "ffmpeg",
        Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-nostats"])
            .args(["-protocol_whitelist", "file,udp,rtp"])
            .args(["-listen_timeout", "2", "-threads", "1", "-i"])
            .arg(&sdp)
            .args(["-fps_mode", "passthrough", "-pix_fmt", "yuv420p", "-y"])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    check_sent(&tx.finish(Duration::from_secs(20)));
    ffmpeg.finish(Duration::from_secs(20));
    let got = read_y4m(&out);
    check_frames(
        &format!("parla -> ffmpeg {codec:?}"),
        &source,
        &got,
        MIN_PSNR_DB,
    );
}

#[test]
fn ffmpeg_receives_our_h264() {
    ffmpeg_receives(Codec::H264, "ffmpeg_receives_our_h264");
}

#[test]
fn ffmpeg_receives_our_vp8() {
    ffmpeg_receives(Codec::Vp8, "ffmpeg_receives_our_vp8");
}

/// GStreamer receives our stream (caps given as a receiver configured from our SDP would) and
/// decodes it to raw I420.
fn gstreamer_receives(codec: Codec, test: &str) {
    if !have_tool("gst-launch-1.0", "--version", test) {
        return;
    }
    let Some(depay) = gst_element(
        &[match codec {
            Codec::H264 => "rtph264depay",
            Codec::Vp8 => "rtpvp8depay",
        }],
        test,
    ) else {
        return;
    };
    let decoders: &[&'static str] = match codec {
        Codec::H264 => &["openh264dec", "avdec_h264"],
        Codec::Vp8 => &["vp8dec"],
    };
    let Some(decoder) = gst_element(decoders, test) else {
        return;
    };
    let (_d, dir) = tempdir();
    let (source, input) = clip_file(&dir);
    let out = dir.join("gst.i420");
    let port = free_port_pair();
    let caps = format!(
        "application/x-rtp,media=video,clock-rate=90000,payload=96,encoding-name={}",
        match codec {
            Codec::H264 => "H264",
            Codec::Vp8 => "VP8",
        }
    );
    let parse = if codec == Codec::H264 {
        "h264parse !"
    } else {
        ""
    };
    // `-e`: on SIGINT the pipeline drains (EOS) before exiting, so the file is complete.
    let pipeline = format!(
        "udpsrc address=127.0.0.1 port={port} caps=\"{caps}\" ! {depay} ! {parse} {decoder} ! videoconvert ! video/x-raw,format=I420 ! filesink location={}",
        out.display()
    );
    let mut gst = Guard::spawn(
        "gst-launch-1.0",
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec gst-launch-1.0 -q -e {pipeline}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    // GStreamer binds its port within a second; the sender waits 1.5 s before the first packet
    // (a packet to a port not yet bound would be counted as refused, and the check fails).
    let tx = sender(codec, &input, port, &["--start-delay-ms", "1500"]);
    check_sent(&tx.finish(Duration::from_secs(20)));
    std::thread::sleep(Duration::from_millis(500));
    let pid = gst.child.id().to_string();
    let st = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(st.success(), "cannot interrupt gst-launch-1.0");
    gst.wait(Duration::from_secs(10));
    let got = read_i420(&out);
    check_frames(
        &format!("parla -> GStreamer {codec:?} ({decoder})"),
        &source,
        &got,
        MIN_PSNR_DB,
    );
}

#[test]
fn gstreamer_receives_our_h264() {
    gstreamer_receives(Codec::H264, "gstreamer_receives_our_h264");
}

#[test]
fn gstreamer_receives_our_vp8() {
    gstreamer_receives(Codec::Vp8, "gstreamer_receives_our_vp8");
}

/// We receive and decode a stream GStreamer encodes and payloads (`rtph264pay` / `rtpvp8pay`).
fn we_receive_gstreamer(codec: Codec, test: &str) {
    if !have_tool("gst-launch-1.0", "--version", test) {
        return;
    }
    let (encoders, pay): (&[&'static str], &[&'static str]) = match codec {
        Codec::H264 => (&["openh264enc", "x264enc"], &["rtph264pay"]),
        Codec::Vp8 => (&["vp8enc"], &["rtpvp8pay"]),
    };
    let (Some(encoder), Some(pay), Some(_)) = (
        gst_element(encoders, test),
        gst_element(pay, test),
        gst_element(&["y4mdec"], test),
    ) else {
        return;
    };
    let (_d, dir) = tempdir();
    let (source, input) = clip_file(&dir);
    let out = dir.join("ours.y4m");
    let rx = receiver(codec, &out);
    let enc = match encoder {
        // A keyframe every 30 frames; openh264 and x264 at 1 Mbps without frame skipping.
        "openh264enc" => "openh264enc bitrate=1000000 gop-size=30 complexity=high",
        "x264enc" => "x264enc bitrate=1000 key-int-max=30 tune=zerolatency speed-preset=veryfast",
        _ => "vp8enc target-bitrate=1000000 deadline=1 keyframe-max-dist=30",
    };
    let pay = if pay == "rtph264pay" {
        "rtph264pay config-interval=-1 pt=96"
    } else {
        "rtpvp8pay pt=96"
    };
    // `udpsink` syncs to the clip's timestamps: 30 frames a second, as a live source.
    let pipeline = format!(
        "filesrc location={} ! y4mdec ! videoconvert ! {enc} ! {pay} ! udpsink host=127.0.0.1 port={}",
        input.display(),
        rx.port
    );
    Guard::spawn(
        "gst-launch-1.0",
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec gst-launch-1.0 -q {pipeline}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .finish(Duration::from_secs(20));
    let summary = rx.finish(Duration::from_secs(10));
    let got = check_received(&summary, &out, test);
    check_frames(
        &format!("GStreamer ({encoder}) -> parla {codec:?}"),
        &source,
        &got,
        MIN_PSNR_DB,
    );
}

#[test]
fn we_receive_gstreamer_h264() {
    we_receive_gstreamer(Codec::H264, "we_receive_gstreamer_h264");
}

#[test]
fn we_receive_gstreamer_vp8() {
    we_receive_gstreamer(Codec::Vp8, "we_receive_gstreamer_vp8");
}

/// We receive and decode a stream ffmpeg encodes and payloads (its RTP muxer).
fn we_receive_ffmpeg(codec: Codec, test: &str) {
    if !have_tool("ffmpeg", "-version", test) {
        return;
    }
    let (_d, dir) = tempdir();
    let (source, input) = clip_file(&dir);
    let out = dir.join("ours.y4m");
    let rx = receiver(codec, &out);
    // ffmpeg also sends RTCP: give it a socket of ours so it never hits a closed port.
    let rtcp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtcp_port = rtcp.local_addr().unwrap().port();
    let enc: &[&str] = match codec {
        Codec::H264 => &[
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-tune",
            "zerolatency",
            "-g",
            "30",
        ],
        Codec::Vp8 => &[
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-g",
            "30",
        ],
    };
    Guard::spawn(
        "ffmpeg",
        Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-nostats"])
            .args(["-re", "-i"])
            .arg(&input)
            .args(enc)
            .args(["-b:v", "1M", "-pix_fmt", "yuv420p", "-f", "rtp"])
            .arg(format!(
                "rtp://127.0.0.1:{}?rtcpport={rtcp_port}&pkt_size=1200",
                rx.port
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .finish(Duration::from_secs(20));
    let summary = rx.finish(Duration::from_secs(10));
    let got = check_received(&summary, &out, test);
    check_frames(
        &format!("ffmpeg -> parla {codec:?}"),
        &source,
        &got,
        MIN_PSNR_DB,
    );
}

#[test]
fn we_receive_an_ffmpeg_h264_stream() {
    we_receive_ffmpeg(Codec::H264, "we_receive_an_ffmpeg_h264_stream");
}

#[test]
fn we_receive_an_ffmpeg_vp8_stream() {
    we_receive_ffmpeg(Codec::Vp8, "we_receive_an_ffmpeg_vp8_stream");
}
