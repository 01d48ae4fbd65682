//! Acceptance: over a 40 ms network with no loss, the median mouth-to-ear delay measured by
//! correlating each talker's input with the listener's speaker output is under 150 ms both ways,
//! and the safety codes match. The normal suite runs 20 s; the full 60 s call is `#[ignore]`d
//! because in a debug build on the shared 2-core machine it took 197 s (run it with
//! `cargo test -p parla-cli --test call-fixed40 -- --ignored`, or the release command in
//! docs/CALL.md).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
#[path = "call/common.rs"]
mod common;

#[test]
fn twenty_second_call_over_fixed40_is_under_150_ms_mouth_to_ear() {
    check(20);
}

#[test]
#[ignore = "60 s of call in a debug build: 197 s measured on the loaded 2-core machine (97 s of call loop)"]
fn sixty_second_call_over_fixed40_is_under_150_ms_mouth_to_ear() {
    check(60);
}

fn check(seconds: u32) {
    let secs = seconds.to_string();
    let common::Finished { stdout, json, .. } =
        common::call_ok(&["--network", "fixed40", "--seconds", &secs]);
    println!("{stdout}");
    assert_eq!(json["e2ee"]["safety_codes_match"], true);
    assert_eq!(json["seconds"], f64::from(seconds));
    for d in ["a_to_b", "b_to_a"] {
        let m = &json[d]["mouth_to_ear"];
        let median = m["median_ms"].as_f64().unwrap();
        // The network alone takes 40 ms and a packet holds 20 ms of audio.
        assert!((60.0..150.0).contains(&median), "{d}: median {median} ms");
        assert!(
            m["windows_used"].as_u64().unwrap() >= u64::from(seconds / 4),
            "{d}: {m}"
        );
        let net = &json[d]["network"];
        assert_eq!(net["lost"], 0, "{d}");
        assert_eq!(net["mean_delay_ms"], 40.0, "{d}");
        let rx = &json[d]["receiver"];
        assert_eq!(rx["late"], 0, "{d}");
        assert_eq!(rx["e2ee_rejected"], 0, "{d}");
        assert_eq!(rx["interruptions"], 0, "{d}");
    }
}
