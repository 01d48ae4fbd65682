//! `parla rtp send` / `parla rtp recv` against independent RTP implementations: ffmpeg receives
//! our stream from the SDP we write, and we receive streams sent by ffmpeg and by GStreamer.
//! Each test checks the duration and that the audio is the audio that was sent (correlation and
//! SI-SDR after alignment). Skips (with a message) only when the peer tool is not installed.
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

#[path = "rtp/common.rs"]
mod common;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Seconds of speech sent in each test.
const SECONDS: f64 = 3.0;

/// Checks the decoded file against the reference and returns (duration, correlation, SI-SDR).
fn check_decoded(
    reference: &[f32],
    rate: u32,
    out: &std::path::Path,
    what: &str,
) -> (f64, f64, f64) {
    let (got, got_rate, _) = read_wav(out);
    assert_eq!(got_rate, rate, "{what}: output rate");
    let dur = got.len() as f64 / f64::from(rate);
    // Opus delays the signal by its lookahead (6.5 ms) plus any resampling: search 100 ms.
    let (lag, corr, sdr) = compare(reference, &got, rate as usize / 10);
    println!(
        "{what}: {:.3} s decoded for {SECONDS} s sent; lag {:.2} ms, correlation {corr:.3}, SI-SDR {sdr:.1} dB",
        dur,
        lag as f64 * 1000.0 / f64::from(rate)
    );
    assert!(
        corr > 0.9,
        "{what}: correlation {corr:.3} with what was sent"
    );
    assert!(
        sdr > 6.0,
        "{what}: SI-SDR {sdr:.1} dB against what was sent"
    );
    (dur, corr, sdr)
}

#[test]
fn ffmpeg_receives_our_stream_from_our_sdp() {
    if !have_tool(
        "ffmpeg",
        "-version",
        "ffmpeg_receives_our_stream_from_our_sdp",
    ) {
        return;
    }
    let (_d, dir) = tempdir();
    let (speech, rate) = speech(SECONDS);
    let input = dir.join("in.wav");
    write_wav(&input, &speech, rate);
    let sdp = dir.join("stream.sdp");
    let out = dir.join("ffmpeg.wav");
    let port = free_port_pair();

    // The sender writes the SDP, then waits 2.5 s for ffmpeg to start before the first packet.
    let sender = Guard::spawn(
        "parla rtp send",
        parla()
            .args(["rtp", "send", "--input"])
            .arg(&input)
            .args(["--dest", &format!("127.0.0.1:{port}"), "--sdp"])
            .arg(&sdp)
            .args(["--start-delay-ms", "2500"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    wait_for_file(&sdp, Duration::from_secs(10));
    let text = std::fs::read_to_string(&sdp).unwrap();
    assert!(text.contains("a=rtpmap:111 opus/48000/2"), "{text}");
    // `-rw_timeout`: ffmpeg ends 1.5 s after the last packet instead of waiting forever.
    let ffmpeg = Guard::spawn(
        "ffmpeg",
        Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-nostats"])
            .args([
                "-protocol_whitelist",
                "file,udp,rtp",
                "-rw_timeout",
                "1500000",
                "-i",
            ])
            .arg(&sdp)
            .args(["-ac", "1", "-ar", "48000", "-y"])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let summary = sender.finish(Duration::from_secs(20));
    println!("{summary}");
    assert!(summary.contains("sent: 150 packets"), "{summary}");
    ffmpeg.finish(Duration::from_secs(20));
    let (dur, _, _) = check_decoded(&speech, rate, &out, "ffmpeg from our SDP");
    assert!(
        (dur - SECONDS).abs() <= 0.05,
        "ffmpeg decoded {dur:.3} s of {SECONDS} s"
    );
}

#[test]
fn we_receive_an_ffmpeg_stream() {
    if !have_tool("ffmpeg", "-version", "we_receive_an_ffmpeg_stream") {
        return;
    }
    let (_d, dir) = tempdir();
    let (speech, rate) = speech(SECONDS);
    let input = dir.join("in.wav");
    write_wav(&input, &speech, rate);
    let out = dir.join("ours.wav");
    let rx = Receiver::start(&out, &["--idle-stop-ms", "1000", "--seconds", "30"]);
    // ffmpeg also sends RTCP: give it a socket of ours so it never hits a closed port.
    let rtcp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtcp_port = rtcp.local_addr().unwrap().port();
    let ffmpeg = Guard::spawn(
        "ffmpeg",
        Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-nostats",
                "-re",
                "-i",
            ])
            .arg(&input)
            .args(["-ac", "1", "-c:a", "libopus", "-b:a", "32k", "-f", "rtp"])
            .arg(format!("rtp://127.0.0.1:{}?rtcpport={rtcp_port}", rx.port))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    ffmpeg.finish(Duration::from_secs(20));
    let summary = rx.finish(Duration::from_secs(10));
    println!("{summary}");
    assert!(
        summary.contains("rtp: malformed 0, other stream (payload type or SSRC) 0"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "concealed 0.0 ms; late or duplicate 0; overlapping (trimmed) 0; decode errors 0"
        ),
        "{summary}"
    );
    // libopus in ffmpeg flushes its lookahead at the end: 150 or 151 packets for 3 s.
    let decoded = number_after(&summary, "decoded: ");
    assert!((150.0..=151.0).contains(&decoded), "{summary}");
    let (dur, _, _) = check_decoded(&speech, rate, &out, "we from ffmpeg");
    assert!(
        (dur - SECONDS).abs() <= 0.05,
        "we decoded {dur:.3} s of {SECONDS} s"
    );
}

#[test]
fn we_receive_a_gstreamer_stream() {
    if !have_tool(
        "gst-launch-1.0",
        "--version",
        "we_receive_a_gstreamer_stream",
    ) {
        return;
    }
    let (_d, dir) = tempdir();
    let (speech, rate) = speech(SECONDS);
    let input = dir.join("in.wav");
    write_wav(&input, &speech, rate);
    let out = dir.join("ours.wav");
    let rx = Receiver::start(
        &out,
        &["--idle-stop-ms", "1000", "--seconds", "30", "--pt", "96"],
    );
    // udpsink syncs to the pipeline clock: packets leave in real time.
    let gst = Guard::spawn(
        "gst-launch-1.0",
        Command::new("gst-launch-1.0")
            .arg("-q")
            .arg("filesrc")
            .arg(format!("location={}", input.display()))
            .args([
                "!",
                "wavparse",
                "!",
                "audioconvert",
                "!",
                "audioresample",
                "!",
            ])
            .args(["opusenc", "bitrate=32000", "!", "rtpopuspay", "pt=96", "!"])
            .args(["udpsink", "host=127.0.0.1", &format!("port={}", rx.port)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    gst.finish(Duration::from_secs(20));
    let summary = rx.finish(Duration::from_secs(10));
    println!("{summary}");
    assert!(
        summary.contains("rtp: malformed 0, other stream (payload type or SSRC) 0"),
        "{summary}"
    );
    // GStreamer stamps its first packet one encoder lookahead early: the second packet
    // overlaps it and is trimmed, not dropped; nothing is lost or concealed on loopback.
    assert!(
        summary.contains(
            "concealed 0.0 ms; late or duplicate 0; overlapping (trimmed) 1; decode errors 0"
        ),
        "{summary}"
    );
    let (dur, _, _) = check_decoded(&speech, rate, &out, "we from GStreamer");
    assert!(
        (dur - SECONDS).abs() <= 0.05,
        "we decoded {dur:.3} s of {SECONDS} s"
    );
}
