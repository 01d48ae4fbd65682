//! `parla rtp send` -> `parla rtp recv` over loopback UDP with SFrame end-to-end encryption:
//! the right key decodes the audio; a wrong key rejects and counts every frame and plays
//! nothing. Also: Ctrl-C (SIGINT) stops `recv` with a valid WAV.
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

#[path = "rtp/common.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const KEY: &str = "8f3a2b1c4d5e6f708192a3b4c5d6e7f8";
const WRONG_KEY: &str = "8f3a2b1c4d5e6f708192a3b4c5d6e7f9";
/// Seconds of speech sent in each test.
const SECONDS: f64 = 2.0;
/// 20 ms packets in `SECONDS`.
const PACKETS: f64 = SECONDS * 50.0;

/// Sends `input` to the receiver's port with `extra` arguments and returns the sender summary.
fn send(input: &std::path::Path, port: u16, extra: &[&str]) -> String {
    let sender = Guard::spawn(
        "parla rtp send",
        parla()
            .args(["rtp", "send", "--input"])
            .arg(input)
            .args(["--dest", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    sender.finish(Duration::from_secs(20))
}

fn speech_file(dir: &std::path::Path) -> (Vec<f32>, u32, std::path::PathBuf) {
    let (speech, rate) = speech(SECONDS);
    let input = dir.join("in.wav");
    write_wav(&input, &speech, rate);
    (speech, rate, input)
}

#[test]
fn encrypted_round_trip_decodes_the_audio() {
    let (_d, dir) = tempdir();
    let (speech, rate, input) = speech_file(&dir);
    let out = dir.join("out.wav");
    let rx = Receiver::start(
        &out,
        &[
            "--e2ee-key",
            KEY,
            "--idle-stop-ms",
            "1000",
            "--seconds",
            "30",
        ],
    );
    let sent = send(&input, rx.port, &["--e2ee-key", KEY]);
    assert!(sent.contains("SFrame AES-128-GCM"), "{sent}");
    let summary = rx.finish(Duration::from_secs(10));
    println!("{sent}{summary}");
    assert_eq!(
        number_after(&summary, "e2ee: accepted "),
        PACKETS,
        "{summary}"
    );
    assert_eq!(number_after(&summary, ", rejected "), 0.0, "{summary}");
    assert_eq!(number_after(&summary, "decoded: "), PACKETS, "{summary}");
    let (got, _, _) = read_wav(&out);
    let dur = got.len() as f64 / f64::from(rate);
    assert!(
        (dur - SECONDS).abs() < 0.001,
        "decoded {dur:.3} s of {SECONDS} s"
    );
    let (lag, corr, sdr) = compare(&speech, &got, rate as usize / 10);
    println!("lag {lag} samples, correlation {corr:.3}, SI-SDR {sdr:.1} dB");
    assert!(
        corr > 0.9 && sdr > 6.0,
        "correlation {corr:.3}, SI-SDR {sdr:.1} dB"
    );
}

#[test]
fn wrong_key_rejects_every_frame_and_plays_nothing() {
    let (_d, dir) = tempdir();
    let (_, _, input) = speech_file(&dir);
    let out = dir.join("out.wav");
    let rx = Receiver::start(
        &out,
        &[
            "--e2ee-key",
            WRONG_KEY,
            "--idle-stop-ms",
            "1000",
            "--seconds",
            "30",
        ],
    );
    send(&input, rx.port, &["--e2ee-key", KEY]);
    let summary = rx.finish(Duration::from_secs(10));
    println!("{summary}");
    assert_eq!(number_after(&summary, "received: "), PACKETS, "{summary}");
    assert_eq!(number_after(&summary, "e2ee: accepted "), 0.0, "{summary}");
    assert_eq!(number_after(&summary, ", rejected "), PACKETS, "{summary}");
    assert_eq!(
        number_after(&summary, "(authentication "),
        PACKETS,
        "{summary}"
    );
    assert_eq!(number_after(&summary, "decoded: "), 0.0, "{summary}");
    // A valid WAV holding no audio at all: nothing that failed authentication was played.
    let (got, _, _) = read_wav(&out);
    assert!(
        got.iter().all(|&s| s == 0.0),
        "{} samples written",
        got.len()
    );
    assert!(got.is_empty(), "{} samples written", got.len());
}

#[test]
fn ctrl_c_stops_recv_with_a_valid_wav() {
    let (_d, dir) = tempdir();
    let (_, rate, input) = speech_file(&dir);
    let out = dir.join("out.wav");
    // No --seconds or idle stop: only the signal ends it.
    let mut rx = Receiver::start(&out, &[]);
    send(&input, rx.port, &[]);
    let pid = rx.guard.child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    rx.guard.wait(Duration::from_secs(10));
    let summary = rx.finish(Duration::from_secs(1));
    println!("{summary}");
    assert!(summary.contains("(stopped: interrupted)"), "{summary}");
    let (got, got_rate, ch) = read_wav(&out);
    assert_eq!((got_rate, ch), (rate, 1));
    let dur = got.len() as f64 / f64::from(rate);
    assert!(
        (dur - SECONDS).abs() < 0.001,
        "decoded {dur:.3} s of {SECONDS} s"
    );
}
