//! `parla rtp send` -> `parla rtp recv` over loopback UDP with SFrame end-to-end encryption:
//! the right key (from a key file or `PARLA_E2EE_KEY`) decodes the audio; a wrong key rejects
//! and counts every frame and plays nothing; two sender runs with one key use different key
//! ids and both play, the receiver adopting the second. Also: Ctrl-C (SIGINT) stops `recv`
//! with a valid WAV.
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

#[path = "rtp/common.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const KEY: &str = "8f3a2b1c4d5e6f708192a3b4c5d6e7f8";
const WRONG_KEY: &str = "8f3a2b1c4d5e6f708192a3b4c5d6e7f9";
/// Seconds of speech sent in each test.
const SECONDS: f64 = 2.0;
/// 20 ms packets in `SECONDS`.
const PACKETS: f64 = SECONDS * 50.0;

/// Sends `input` to the receiver's port with `extra` arguments (and `PARLA_E2EE_KEY` set to
/// `env_key` if given) and returns the sender summary.
fn send_with(input: &Path, port: u16, extra: &[&str], env_key: Option<&str>) -> String {
    let mut cmd = parla();
    cmd.args(["rtp", "send", "--input"])
        .arg(input)
        .args(["--dest", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(key) = env_key {
        cmd.env(KEY_ENV, key);
    }
    Guard::spawn("parla rtp send", &mut cmd).finish(Duration::from_secs(20))
}

fn send(input: &Path, port: u16, extra: &[&str]) -> String {
    send_with(input, port, extra, None)
}

fn speech_file(dir: &Path, seconds: f64) -> (Vec<f32>, u32, std::path::PathBuf) {
    let (speech, rate) = speech(seconds);
    let input = dir.join("in.wav");
    write_wav(&input, &speech, rate);
    (speech, rate, input)
}

/// Checks that `got` is `speech` decoded (correlation and SI-SDR after alignment).
fn assert_is_speech(speech: &[f32], got: &[f32], rate: u32) {
    let (lag, corr, sdr) = compare(speech, got, rate as usize / 10);
    println!("lag {lag} samples, correlation {corr:.3}, SI-SDR {sdr:.1} dB");
    assert!(
        corr > 0.9 && sdr > 6.0,
        "correlation {corr:.3}, SI-SDR {sdr:.1} dB"
    );
}

#[test]
fn encrypted_round_trip_with_the_key_in_a_file_and_in_the_environment() {
    let (_d, dir) = tempdir();
    let (speech, rate, input) = speech_file(&dir, SECONDS);
    let key = key_file(&dir, "key.hex", KEY);
    let out = dir.join("out.wav");
    // The receiver reads the key file, the sender the environment.
    let rx = Receiver::start(
        &out,
        &[
            "--e2ee-key-file",
            key.to_str().unwrap(),
            "--idle-stop-ms",
            "1000",
            "--seconds",
            "30",
        ],
    );
    let sent = send_with(&input, rx.port, &[], Some(KEY));
    assert!(sent.contains("SFrame AES-128-GCM (key id 0x"), "{sent}");
    let summary = rx.finish(Duration::from_secs(10));
    println!("{sent}{summary}");
    assert_eq!(
        number_after(&summary, "e2ee: accepted "),
        PACKETS,
        "{summary}"
    );
    assert_eq!(number_after(&summary, ", rejected "), 0.0, "{summary}");
    assert_eq!(number_after(&summary, "key ids adopted "), 1.0, "{summary}");
    assert_eq!(
        key_id_after(&summary, ", current "),
        key_id_after(&sent, "(key id "),
        "the receiver learnt the sender's key id"
    );
    assert_eq!(number_after(&summary, "decoded: "), PACKETS, "{summary}");
    let (got, _, _) = read_wav(&out);
    let dur = got.len() as f64 / f64::from(rate);
    assert!(
        (dur - SECONDS).abs() < 0.001,
        "decoded {dur:.3} s of {SECONDS} s"
    );
    assert_is_speech(&speech, &got, rate);
}

#[test]
fn wrong_key_rejects_every_frame_and_plays_nothing() {
    let (_d, dir) = tempdir();
    let (_, _, input) = speech_file(&dir, SECONDS);
    let key = key_file(&dir, "key.hex", KEY);
    let wrong = key_file(&dir, "wrong.hex", WRONG_KEY);
    let out = dir.join("out.wav");
    let rx = Receiver::start(
        &out,
        &[
            "--e2ee-key-file",
            wrong.to_str().unwrap(),
            "--idle-stop-ms",
            "1000",
            "--seconds",
            "30",
        ],
    );
    send(&input, rx.port, &["--e2ee-key-file", key.to_str().unwrap()]);
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
    // No frame authenticated, so no key id was adopted.
    assert!(
        summary.contains("key ids adopted 0, current none"),
        "{summary}"
    );
    assert_eq!(number_after(&summary, "decoded: "), 0.0, "{summary}");
    // A valid WAV holding no audio at all: nothing that failed authentication was played.
    let (got, _, _) = read_wav(&out);
    assert!(got.is_empty(), "{} samples written", got.len());
}

#[test]
fn two_sender_runs_with_one_key_use_different_key_ids_and_both_play() {
    // One second per run keeps the test as short as the others.
    let seconds = 1.0;
    let packets = seconds * 50.0;
    let (_d, dir) = tempdir();
    let (speech, rate, input) = speech_file(&dir, seconds);
    let key = key_file(&dir, "key.hex", KEY);
    let key = key.to_str().unwrap();
    let out = dir.join("out.wav");
    let rx = Receiver::start(
        &out,
        &[
            "--e2ee-key-file",
            key,
            "--idle-stop-ms",
            "2000",
            "--seconds",
            "30",
        ],
    );
    let first = send(&input, rx.port, &["--e2ee-key-file", key]);
    let second = send(&input, rx.port, &["--e2ee-key-file", key]);
    let summary = rx.finish(Duration::from_secs(10));
    println!("{first}{second}{summary}");
    let (id1, id2) = (
        key_id_after(&first, "(key id "),
        key_id_after(&second, "(key id "),
    );
    // Same key, different key ids: RFC 9605 derives a different key and salt for each, so the
    // second run's counters from 0 reuse no nonce of the first.
    assert_ne!(id1, id2, "two runs used the same key id");
    assert_eq!(
        number_after(&summary, "e2ee: accepted "),
        2.0 * packets,
        "{summary}"
    );
    assert_eq!(number_after(&summary, ", rejected "), 0.0, "{summary}");
    assert_eq!(number_after(&summary, "key ids adopted "), 2.0, "{summary}");
    assert_eq!(key_id_after(&summary, ", current "), id2, "{summary}");
    assert_eq!(
        number_after(&summary, "decoded: "),
        2.0 * packets,
        "{summary}"
    );
    // The second run continues the WAV where the first ended: both seconds of speech, no gap.
    let (got, _, _) = read_wav(&out);
    assert_eq!(got.len(), 2 * speech.len(), "{summary}");
    assert_is_speech(&speech, &got[..speech.len()], rate);
    assert_is_speech(&speech, &got[speech.len()..], rate);
}

#[test]
fn ctrl_c_stops_recv_with_a_valid_wav() {
    let (_d, dir) = tempdir();
    let (_, rate, input) = speech_file(&dir, SECONDS);
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
