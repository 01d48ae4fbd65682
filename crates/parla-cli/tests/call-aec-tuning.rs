//! `parla call --aec-tuning`: the full-duplex near-end tuning reaches the engine and keeps the
//! near end while both talk, where the library tuning attenuates it, without giving up the echo
//! removal in single talk.
//!
//! Measured (seed 1, 12 s, side B, the side with double talk; docs/AEC.md): double-talk level
//! change -4.8 dB (library) / -0.7 dB (near-end), SI-SDR gain of the sent signal -15.2 / -6.5 dB
//! (it includes the codec and noise suppression), far-end single-talk ERLE 64.3 / 53.8 dB.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).

#[path = "call/common.rs"]
mod common;

/// Side B's echo figures of a 12 s call with `tuning`. AGC off: the level change and ERLE
/// compare the send signal's level with the microphone's, so AGC's gain (on by default, about
/// +4 dB on this talker) would be counted as the canceller's.
fn side_b_echo(tuning: &str) -> serde_json::Value {
    let common::Finished { json, stdout, .. } =
        common::call_ok(&["--seconds", "12", "--aec-tuning", tuning, "--no-agc"]);
    assert_eq!(json["aec_tuning"], tuning);
    assert!(stdout.contains(&format!("({tuning} tuning)")), "{stdout}");
    let echo = json["side_b"]["echo"].clone();
    println!("{tuning}: {echo}");
    assert!(echo["double_talk_frames"].as_u64().unwrap() >= 20, "{echo}");
    echo
}

#[test]
fn near_end_tuning_keeps_the_near_end_in_a_call() {
    let lib = side_b_echo("library");
    let near = side_b_echo("near-end");
    let f = |e: &serde_json::Value, k: &str| e[k].as_f64().unwrap();
    let (lib_level, near_level) = (
        f(&lib, "double_talk_level_change_db"),
        f(&near, "double_talk_level_change_db"),
    );
    assert!(near_level.abs() <= 3.0, "near-end level {near_level:.1} dB");
    assert!(
        near_level > lib_level + 2.0,
        "level {near_level:.1} dB (near-end) vs {lib_level:.1} dB (library)"
    );
    let (lib_gain, near_gain) = (
        f(&lib, "double_talk_si_sdr_gain_db"),
        f(&near, "double_talk_si_sdr_gain_db"),
    );
    assert!(
        near_gain > lib_gain + 3.0,
        "SI-SDR gain {near_gain:.1} dB (near-end) vs {lib_gain:.1} dB (library)"
    );
    let erle = f(&near, "erle_db");
    assert!(
        erle >= 30.0,
        "near-end tuning: single-talk ERLE {erle:.1} dB"
    );
}

#[test]
fn near_end_tuning_with_the_mobile_canceller_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::parla_call(&["--aec", "mobile", "--aec-tuning", "near-end"], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("aec_tuning") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(!dir.path().join("report.json").exists());
}
