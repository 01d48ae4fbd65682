//! `parla rtp recv` fed hostile datagrams (random bytes, truncated headers, empty datagrams,
//! garbage Opus, wild timestamp jumps, other payload types and SSRCs): it never fails, counts
//! what it drops, and writes a valid WAV whose length stays bounded. Genuine encrypted packets
//! whose RTP header a relay rewrote (timestamp, marker) fail authentication and are never
//! played.
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

#[path = "rtp/common.rs"]
mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;
use rand::{Rng, SeedableRng};

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

#[test]
fn hostile_datagrams_are_counted_and_do_not_lock_out_the_real_stream() {
    let mut rng = parla_testkit::seed::seeded_rng(7);
    let (_d, dir) = tempdir();
    let out = dir.join("out.wav");
    let key = key_file(&dir, "key.hex", &"11".repeat(16));
    let key = key.to_str().unwrap();
    let rx = Receiver::start(
        &out,
        &[
            "--idle-stop-ms",
            "700",
            "--seconds",
            "30",
            "--e2ee-key-file",
            key,
        ],
    );
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.connect(("127.0.0.1", rx.port)).unwrap();
    let mut sent = 0u32;
    // 1 ms apart, so a receiver starved of CPU on a busy machine drops few of them.
    let mut send = |d: &[u8]| {
        tx.send(d).unwrap();
        sent += 1;
        std::thread::sleep(Duration::from_millis(1));
    };
    // First a forged packet of a dynamic payload type: it must not lock the SSRC.
    send(&rtp(111, 1, 2, 3, &[0u8; 40]));
    send(&[]);
    for len in 1..12 {
        send(&vec![0x80; len]);
    }
    for _ in 0..100 {
        let len = rng.random_range(0..1500);
        let d: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        send(&d);
    }
    // One stream's SSRC, wild timestamps and garbage payloads (SFrame-looking or not).
    let ssrc = 0x1234_5678;
    for i in 0..200u16 {
        let ts = match i % 4 {
            0 => u32::from(i) * 960,
            1 => rng.random(),
            2 => u32::MAX - u32::from(i),
            _ => u32::from(i) * 960 + rng.random_range(0..100_000),
        };
        let len = rng.random_range(1..400);
        let payload: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let pt = if i % 10 == 9 { 0 } else { 96 };
        let s = if i % 7 == 6 { ssrc + 1 } else { ssrc };
        send(&rtp(pt, i, ts, s, &payload));
    }
    // Then the real, encrypted stream (1 s): all of it authenticates and plays.
    let (speech, rate) = speech(1.0);
    let input = dir.join("in.wav");
    write_wav(&input, &speech, rate);
    let sender = Guard::spawn(
        "parla rtp send",
        parla()
            .args(["rtp", "send", "--input"])
            .arg(&input)
            .args(["--dest", &format!("127.0.0.1:{}", rx.port)])
            .args(["--e2ee-key-file", key])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    sender.finish(Duration::from_secs(20));
    sent += 50;
    let summary = rx.finish(Duration::from_secs(20));
    println!("{summary}");
    // Loopback may drop datagrams under load, so the counts are bounded, not exact.
    let received = number_after(&summary, "received: ");
    assert!(received > 0.0 && received <= f64::from(sent), "{summary}");
    assert!(number_after(&summary, "rtp: malformed ") > 0.0, "{summary}");
    assert!(
        number_after(&summary, "other stream (payload type or SSRC) ") > 0.0,
        "{summary}"
    );
    // Garbage never authenticates; the real stream does, in full.
    assert_eq!(number_after(&summary, "e2ee: accepted "), 50.0, "{summary}");
    assert!(number_after(&summary, ", rejected ") > 0.0, "{summary}");
    assert_eq!(number_after(&summary, "decoded: "), 50.0, "{summary}");
    let (got, _, _) = read_wav(&out);
    assert_eq!(
        got.len(),
        speech.len(),
        "only the authentic second is written"
    );
}

#[test]
fn rewritten_rtp_headers_fail_authentication_and_are_never_played() {
    let (_d, dir) = tempdir();
    let out = dir.join("out.wav");
    let key = key_file(&dir, "key.hex", &"22".repeat(16));
    let key = key.to_str().unwrap();
    let rx = Receiver::start(
        &out,
        &[
            "--idle-stop-ms",
            "700",
            "--seconds",
            "30",
            "--e2ee-key-file",
            key,
        ],
    );
    // A relay between sender and receiver: it forwards every packet, and ahead of some it sends
    // a copy with a rewritten header: the timestamp moved 0.5 s ahead (which would write half
    // a second of concealment if believed), or the marker bit flipped.
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    relay
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let fwd = UdpSocket::bind("127.0.0.1:0").unwrap();
    fwd.connect(("127.0.0.1", rx.port)).unwrap();
    let (speech, rate) = speech(1.0);
    let input = dir.join("in.wav");
    write_wav(&input, &speech, rate);
    let sender = Guard::spawn(
        "parla rtp send",
        parla()
            .args(["rtp", "send", "--input"])
            .arg(&input)
            .args(["--dest", &relay.local_addr().unwrap().to_string()])
            .args(["--e2ee-key-file", key])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    let mut buf = [0u8; 2048];
    let mut rewritten = 0;
    for i in 0..50 {
        let n = relay.recv(&mut buf).unwrap();
        let mut copy = buf[..n].to_vec();
        match i % 5 {
            1 => {
                let ts = u32::from_be_bytes(copy[4..8].try_into().unwrap());
                copy[4..8].copy_from_slice(&ts.wrapping_add(24_000).to_be_bytes());
            }
            3 => copy[1] ^= 0x80,
            _ => {}
        }
        if copy[..] != buf[..n] {
            fwd.send(&copy).unwrap();
            rewritten += 1;
        }
        fwd.send(&buf[..n]).unwrap();
    }
    sender.finish(Duration::from_secs(20));
    let summary = rx.finish(Duration::from_secs(20));
    println!("{summary}");
    assert_eq!(rewritten, 20);
    // Every rewritten copy fails authentication; every genuine packet (sent after its copy, so
    // a failed frame does not burn its counter) plays.
    assert_eq!(number_after(&summary, "e2ee: accepted "), 50.0, "{summary}");
    assert_eq!(number_after(&summary, ", rejected "), 20.0, "{summary}");
    assert_eq!(
        number_after(&summary, "(authentication "),
        20.0,
        "{summary}"
    );
    assert_eq!(number_after(&summary, "decoded: "), 50.0, "{summary}");
    assert_eq!(number_after(&summary, "concealed "), 0.0, "{summary}");
    let (got, _, _) = read_wav(&out);
    assert_eq!(got.len(), speech.len(), "no gap, no extra audio");
}

#[test]
fn garbage_opus_with_wild_timestamps_writes_a_bounded_wav() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (_d, dir) = tempdir();
    let out = dir.join("out.wav");
    let rx = Receiver::start(&out, &["--idle-stop-ms", "700", "--seconds", "30"]);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.connect(("127.0.0.1", rx.port)).unwrap();
    let n = 150u16;
    for i in 0..n {
        let ts = if i % 3 == 1 {
            rng.random()
        } else {
            u32::from(i) * 960
        };
        let len = rng.random_range(1..300);
        let payload: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        tx.send(&rtp(111, i, ts, 42, &payload)).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let summary = rx.finish(Duration::from_secs(20));
    println!("{summary}");
    let (got, rate, _) = read_wav(&out);
    // Each packet writes at most one 120 ms packet plus a gap of at most 2 s before it.
    let bound = f64::from(n) * 2.12;
    let dur = got.len() as f64 / f64::from(rate);
    assert!(dur <= bound, "{dur} s written for {n} packets");
    assert!(got.iter().all(|s| s.is_finite()));
    assert!(number_after(&summary, "resyncs ") > 0.0, "{summary}");
}
