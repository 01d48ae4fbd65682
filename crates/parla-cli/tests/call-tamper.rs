//! Tampering in flight: every N-th packet gets a byte of its SFrame ciphertext flipped. The
//! receivers reject and count exactly the tampered packets that arrived, and the call goes on:
//! what each side hears still correlates with the other side's talker.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
#[path = "call/common.rs"]
mod common;

#[test]
fn tampered_packets_are_rejected_and_counted_while_the_call_continues() {
    let common::Finished { stdout, json, .. } = common::call_ok(&[
        "--network",
        "fixed40",
        "--seconds",
        "14",
        "--tamper-every",
        "7",
        "--seed",
        "5",
    ]);
    assert!(stdout.contains("tampering every 7th packet"), "{stdout}");
    for d in ["a_to_b", "b_to_a"] {
        let net = &json[d]["network"];
        let rx = &json[d]["receiver"];
        // Every 7th media packet (RTCP is not tampered with).
        let sent = net["sent"].as_u64().unwrap() - net["rtcp"].as_u64().unwrap();
        let tampered = net["tampered"].as_u64().unwrap();
        assert_eq!(tampered, sent / 7, "{d}");
        let delivered = net["tampered_delivered"].as_u64().unwrap();
        // Only packets still in flight at the end (40 ms: two or three) are not delivered.
        assert!(
            tampered - delivered <= net["in_flight_at_end"].as_u64().unwrap(),
            "{d}"
        );
        let auth = rx["e2ee_auth_failures"].as_u64().unwrap();
        assert!(auth > 0, "{d}");
        // Every tampered copy that arrived was rejected, and nothing else was.
        assert_eq!(
            rx["e2ee_rejected"].as_u64().unwrap(),
            delivered,
            "{d}: {rx}"
        );
        assert_eq!(
            auth, delivered,
            "{d}: flipped ciphertext fails authentication"
        );
        assert_eq!(
            rx["e2ee_accepted"].as_u64().unwrap(),
            net["delivered"].as_u64().unwrap()
                - net["rtcp_delivered"].as_u64().unwrap()
                - delivered,
            "{d}"
        );
        // The rejected packets are repaired from the next packet's FEC or concealed, and the
        // talker is still heard.
        let repaired =
            rx["fec_recovered"].as_u64().unwrap() + rx["concealment_events"].as_u64().unwrap();
        assert!(repaired > 0, "{d}: {rx}");
        let m = &json[d]["mouth_to_ear"];
        // B starts talking after A's 10.7 s turn: at least two 2 s windows each way.
        assert!(m["windows_used"].as_u64().unwrap() >= 2, "{d}: {m}");
        assert!(m["median_ms"].as_f64().unwrap() < 150.0, "{d}: {m}");
    }
}
