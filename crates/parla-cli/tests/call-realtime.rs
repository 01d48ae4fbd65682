//! `parla call --realtime`: two threaded engines in app-owned mode, paced by the wall clock,
//! carry both talkers end to end (a short call; its length is real time by design).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
#[path = "call/common.rs"]
mod common;

#[test]
fn realtime_call_carries_audio_both_ways() {
    let json = common::call_ok(&["--realtime", "--network", "fixed40", "--seconds", "4"]).json;
    assert_eq!(json["mode"], "realtime");
    assert_eq!(json["e2ee"]["safety_codes_match"], true);
    // Paced by the clock: at least the call's length.
    assert!(json["wall_seconds"].as_f64().unwrap() >= 4.0);
    for d in ["a_to_b", "b_to_a"] {
        let rx = &json[d]["receiver"];
        let accepted = rx["e2ee_accepted"].as_u64().unwrap();
        // 4 s of 20 ms packets, less those in flight or queued at the end.
        assert!(accepted >= 150, "{d}: {accepted}");
        assert!(rx["output_samples"].as_u64().unwrap() > 0, "{d}");
    }
    // A talks from the start: B hears A.
    let m = &json["a_to_b"]["mouth_to_ear"];
    assert!(m["windows_used"].as_u64().unwrap() >= 1, "{m}");
}
