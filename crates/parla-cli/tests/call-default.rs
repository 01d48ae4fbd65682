//! `parla call` with its default settings (the README's demo command) on the bundled samples:
//! both heard files, the JSON and text reports, measured delay, loss and concealment, and
//! matching safety codes.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
#[path = "call/common.rs"]
mod common;

#[test]
fn default_call_writes_both_sides_and_a_measured_report() {
    let common::Finished { dir, stdout, json } = common::call_ok(&[]);
    assert!(stdout.contains("mouth-to-ear"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("report.txt")).unwrap(),
        stdout
    );
    for name in ["heard_a.wav", "heard_b.wav"] {
        let r = hound::WavReader::open(dir.path().join(name)).unwrap();
        assert_eq!(r.spec().sample_rate, 48_000);
        assert_eq!(r.duration(), 20 * 48_000, "{name}");
    }
    assert_eq!(json["network"], "mobile-4g");
    assert_eq!(json["e2ee"]["enabled"], true);
    assert_eq!(json["e2ee"]["safety_codes_match"], true);
    let code = json["e2ee"]["safety_code_a"].as_str().unwrap();
    assert_eq!(
        code.chars().filter(char::is_ascii_digit).count(),
        60,
        "{code}"
    );
    for d in ["a_to_b", "b_to_a"] {
        let dir = &json[d];
        let m2e = dir["mouth_to_ear"]["median_ms"].as_f64().unwrap();
        // At least the network's 45 ms base delay plus a 20 ms packet; well under 400 ms.
        assert!((65.0..400.0).contains(&m2e), "{d}: {m2e}");
        assert!(
            dir["mouth_to_ear"]["windows_used"].as_u64().unwrap() >= 3,
            "{d}"
        );
        let net = &dir["network"];
        // RTCP (reports and congestion-control feedback) travels beside the 50 media packets
        // a second.
        let rtcp = net["rtcp"].as_u64().unwrap();
        let sent = net["sent"].as_u64().unwrap() - rtcp;
        assert!((990..=1001).contains(&sent), "{d}: {sent} packets in 20 s");
        assert!(
            (40..200).contains(&rtcp),
            "{d}: {rtcp} RTCP packets in 20 s"
        );
        let lost = net["lost"].as_u64().unwrap();
        // The mobile condition loses some packets, and the receiver saw exactly the rest.
        assert!(lost > 0 && lost < sent / 10, "{d}: lost {lost}");
        let rx = &dir["receiver"];
        assert_eq!(
            rx["packets_received"].as_u64().unwrap(),
            net["delivered"].as_u64().unwrap(),
            "{d}"
        );
        assert_eq!(rx["e2ee_rejected"].as_u64().unwrap(), 0, "{d}");
        assert!(
            rx["concealed_samples"].as_u64().unwrap() > 0,
            "{d}: losses are concealed"
        );
        let pct = rx["concealed_percent"].as_f64().unwrap();
        assert!(pct > 0.0 && pct < 20.0, "{d}: {pct}");
        assert!(rx["jitter_target_ms"].as_f64().unwrap() > 0.0, "{d}");
        assert!(rx["buffer_delay_mean_ms"].as_f64().unwrap() > 0.0, "{d}");
    }
    for side in ["side_a", "side_b"] {
        let echo = &json[side]["echo"];
        let erl = echo["room_erl_db"].as_f64().unwrap();
        assert!((5.0..20.0).contains(&erl), "{side}: ERL {erl}");
        // AEC3 removes far more than the room's loss in far-end single talk.
        let erle = echo["erle_db"].as_f64().unwrap();
        assert!(erle > 10.0, "{side}: ERLE {erle}");
        assert!(echo["single_talk_frames"].as_u64().unwrap() > 50, "{side}");
        let cpu = json[side]["cpu"].as_array().unwrap();
        let tick = cpu.iter().find(|c| c[0] == "tick").unwrap();
        assert!(
            tick[1]["frames"].as_u64().unwrap() == 2000,
            "{side}: {tick}"
        );
        assert!(tick[1]["median_us"].as_f64().unwrap() > 0.0, "{side}");
        // Congestion control ran: feedback both ways, all of it authentic, an estimate.
        let bwe = &json[side]["bwe"];
        assert_eq!(bwe["enabled"], true);
        assert!(
            bwe["feedback_received"].as_u64().unwrap() > 20,
            "{side}: {bwe}"
        );
        assert_eq!(bwe["rtcp_rejected"].as_u64().unwrap(), 0, "{side}");
        assert!(
            bwe["final_estimate_bps"].as_u64().unwrap() > 20_000,
            "{side}"
        );
        assert!(
            bwe["rtt_ms"].as_f64().unwrap() > 90.0,
            "{side}: two 45 ms legs"
        );
        assert_eq!(bwe["timeline"].as_array().unwrap().len(), 20, "{side}");
    }
    assert!(json["real_time_factor"].as_f64().unwrap() > 0.0);
}
