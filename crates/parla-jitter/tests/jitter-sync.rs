//! Lip sync's two hooks: the RTP timestamp of the audio being played, and an extra delay that
//! the buffer reaches by time stretching and gives back the same way.
mod common;

use std::time::Duration;

use common::{InFlight, buffer, payload};
use parla_core::MediaTime;
use parla_jitter::Packet;

const RATE: u32 = 48_000;
const N: u64 = 960;
/// The sender's first timestamp: the stream wraps during the test.
const TS0: u32 = u32::MAX - 100_000;

/// Packet `k` of a 20 ms stream sent at `k * 20 ms`, arriving 30 ms later.
fn packet(k: u64) -> InFlight {
    InFlight {
        arrival_us: k * 20_000 + 30_000,
        k,
        seq: k as u16,
        ts: TS0.wrapping_add((k * N) as u32),
        payload: payload(k, N as usize, RATE, false),
    }
}

/// Drives `secs` of the stream; calls `each(now_us, jb)` after every 10 ms pull. Returns the
/// relative delay (now minus the capture time of the sample played) at the end, ms.
fn run(
    jb: &mut parla_jitter::JitterBuffer<parla_jitter::pcm::PcmDecoder>,
    from_ms: u64,
    to_ms: u64,
    mut each: impl FnMut(u64, &mut parla_jitter::JitterBuffer<parla_jitter::pcm::PcmDecoder>),
) -> f64 {
    let mut out = vec![0.0f32; jb.frame_len()];
    let mut rel = f64::NAN;
    for t in (from_ms..to_ms).step_by(10) {
        let now_us = t * 1000;
        // Packets due by now (one every 20 ms).
        if t >= 30 && (t - 30) % 20 == 0 {
            let p = packet((t - 30) / 20);
            jb.insert(
                Packet {
                    seq: p.seq,
                    timestamp: p.ts,
                    payload: &p.payload,
                },
                MediaTime::from_micros(p.arrival_us),
            )
            .expect("insert");
        }
        jb.pull(MediaTime::from_micros(now_us), &mut out)
            .expect("pull");
        if let Some(ts) = jb.played_timestamp() {
            // Sample `ts - TS0` was captured at (ts - TS0) / 48 ms.
            let cap_ms = f64::from(ts.wrapping_sub(TS0)) / 48.0;
            rel = t as f64 - cap_ms;
        }
        each(now_us, jb);
    }
    rel
}

#[test]
fn the_played_timestamp_tracks_the_playout_delay_and_an_extra_delay_is_reached_and_released() {
    let mut jb = buffer(RATE);
    assert_eq!(jb.played_timestamp(), None);
    let base = run(&mut jb, 0, 4_000, |_, _| {});
    // 30 ms network delay plus the buffer's own target: some tens of ms, stable.
    let own = jb.stats().target_delay_ms;
    assert!((30.0..150.0).contains(&base), "relative delay {base} ms");
    // The relative delay is the network delay plus the playout offset (within a frame).
    let expected = 30.0 + jb.playout_delay_ms(MediaTime::from_millis(3_990));
    assert!((base - expected).abs() <= 20.0, "{base} vs {expected}");

    jb.set_extra_delay(Duration::from_millis(120));
    assert_eq!(jb.extra_delay_us(), 120_000);
    let mut settled_at = None;
    let held = run(&mut jb, 4_000, 12_000, |now, jb| {
        let e = jb
            .offset_error_us(MediaTime::from_micros(now))
            .expect("playing");
        if settled_at.is_none() && e.abs() < 10_000 {
            settled_at = Some(now);
        }
    });
    assert!(
        (held - base - 120.0).abs() <= 15.0,
        "held {held} ms, before {base} ms"
    );
    assert!(settled_at.is_some());
    assert!((jb.stats().target_delay_ms - own - 120.0).abs() < 30.0);

    jb.set_extra_delay(Duration::ZERO);
    let released = run(&mut jb, 12_000, 20_000, |_, _| {});
    assert!((released - base).abs() <= 15.0, "{released} vs {base}");
    // Stretching, not gaps: nothing was lost or concealed on the way.
    assert_eq!(jb.stats().packets_lost, 0);
    // Clamped to one second.
    jb.set_extra_delay(Duration::from_secs(5));
    assert_eq!(jb.extra_delay_us(), 1_000_000);
}
