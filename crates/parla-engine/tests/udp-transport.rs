//! The optional UDP transport: two calls on loopback sockets, each with its network thread;
//! speech arrives and datagrams from a third address are dropped and counted.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parla_engine::{AecMode, AudioMode, CallConfig, UdpTransport};

#[test]
fn two_calls_talk_over_loopback_udp() {
    let cfg = CallConfig {
        aec: AecMode::Off,
        ..CallConfig::default()
    };
    let (a, b) = common::call_pair(cfg);
    let (a, b) = (Arc::new(a), Arc::new(b));
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    let sa = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sb = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (addr_a, addr_b) = (sa.local_addr().unwrap(), sb.local_addr().unwrap());
    let ta = UdpTransport::start(Arc::clone(&a), sa, addr_b).unwrap();
    let tb = UdpTransport::start(Arc::clone(&b), sb, addr_a).unwrap();
    assert_eq!(ta.local_addr(), addr_a);

    // A stranger sends junk to B: dropped and counted, never handed to the call.
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..5 {
        stranger.send_to(b"not from the peer", addr_b).unwrap();
    }

    let speech = common::near_speech_48k();
    let mic = &speech[..48_000 * 3];
    let silence = [0.0f32; 480];
    let mut spk = [0.0f32; 480];
    let mut heard = Vec::new();
    let start = Instant::now();
    for i in 0..300 {
        a.push_capture(&mic[i * 480..(i + 1) * 480]).unwrap();
        b.push_capture(&silence).unwrap();
        b.pull_playout(&mut spk).unwrap();
        heard.extend_from_slice(&spk);
        a.pull_playout(&mut spk).unwrap();
        let next = start + Duration::from_millis(10 * (i as u64 + 1));
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let (stats_a, stats_b) = (ta.stop(), tb.stop());
    let call_b = b.stats();
    println!("transport A {stats_a:?}\ntransport B {stats_b:?}\ncall B {call_b:?}");
    assert!(stats_a.sent >= 140, "{stats_a:?}");
    assert!(stats_b.received >= 140, "{stats_b:?}");
    assert_eq!(stats_b.foreign, 5, "{stats_b:?}");
    assert_eq!(call_b.packets_invalid, 0);
    assert!(call_b.e2ee_accepted >= 140, "{call_b:?}");
    let (delay, corr) = common::delay_ms(mic, &heard, 500);
    let wcorr = common::windowed_corr(mic, &heard, 300);
    println!("delay {delay:.1} ms corr {corr:.3}, windowed {wcorr:.3}");
    assert!(
        wcorr > 0.6,
        "B did not hear A over UDP: windowed corr {wcorr}"
    );
}
