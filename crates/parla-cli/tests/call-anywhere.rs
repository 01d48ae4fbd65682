//! `parla call` with its defaults works from any directory: the bundled talkers are built into
//! the binary, so an empty folder (no `samples/`) is enough. Explicit talker files still work.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
#[path = "call/common.rs"]
mod common;

use std::process::Command;

#[test]
fn default_call_runs_from_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let out = Command::new(env!("CARGO_BIN_EXE_parla"))
        .current_dir(dir.path())
        .args(["call", "--seconds", "3", "--out", "here"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("here/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["network"], "mobile-4g");
    for name in ["heard_a.wav", "heard_b.wav"] {
        let r = hound::WavReader::open(dir.path().join("here").join(name)).unwrap();
        assert_eq!(r.duration(), 3 * 48_000, "{name}");
    }
    // A talked first: B heard A's bundled speech.
    assert!(
        json["a_to_b"]["mouth_to_ear"]["windows_used"]
            .as_u64()
            .unwrap()
            >= 1,
        "{json}"
    );
}

#[test]
fn explicit_talker_files_are_used() {
    // The bundled files given by path (from the workspace root) give the same conversation;
    // a 44.1 kHz talker is refused by name.
    let f = common::call_ok(&[
        "--seconds",
        "3",
        "--talker-a",
        "samples/far_speech_clean.wav",
        "--talker-b",
        "samples/near_speech_clean.wav",
    ]);
    assert!(
        f.json["a_to_b"]["mouth_to_ear"]["windows_used"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("t44.wav");
    let ramp: Vec<f32> = (0..44_100 * 2)
        .map(|i| ((i % 100) * 100) as f32 / 32_768.0)
        .collect();
    parla_testkit::wav::write_wav(&wav, &ramp, 44_100).unwrap();
    let out = common::parla_call(&["--talker-b", wav.to_str().unwrap()], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("talker B") && stderr.contains("48000"),
        "{stderr}"
    );
}

#[test]
fn process_demo_runs_from_an_empty_directory() {
    // Without --mic, `parla process` runs the bundled near-end speech.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_parla"))
        .current_dir(dir.path())
        .args(["process", "--out", "clean.wav"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r = hound::WavReader::open(dir.path().join("clean.wav")).unwrap();
    assert_eq!(r.spec().sample_rate, 48_000);
    assert!(r.duration() > 48_000 * 10, "{}", r.duration());
}
