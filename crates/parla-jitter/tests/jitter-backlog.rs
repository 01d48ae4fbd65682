//! The backlog bound (`JitterConfig::max_backlog_ms`, the low-delay preset): after a 500 ms
//! stall the buffer does not play the backlog; packets too far behind are dropped as late (or
//! flushed) and the delay is back near the target at once. Every packet still plays at most
//! once, in order, never before it arrived.
mod common;

use common::{InFlight, drive, payload, seed};
use parla_jitter::pcm::PcmDecoder;
use parla_jitter::{JitterBuffer, JitterConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn stalled(rate: u32, n: u64, spike_at: u64, seed: u64) -> Vec<InFlight> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..1500u64)
        .map(|k| {
            let send = k * 20_000;
            let mut arrival = send + 40_000 + rng.random_range(0..8_000);
            if (spike_at..spike_at + 500_000).contains(&send) {
                arrival = arrival.max(spike_at + 500_000 + 40_000);
            }
            InFlight {
                arrival_us: arrival,
                k,
                seq: k as u16,
                ts: (k * n) as u32,
                payload: payload(k, n as usize, rate, false),
            }
        })
        .collect()
}

#[test]
fn low_delay_preset_drops_the_backlog_of_a_stall() {
    let rate = 16_000;
    let n = 320;
    let spike_at = 15_000_000u64;
    let packets = stalled(rate, n, spike_at, seed(21));
    let arrival: Vec<u64> = packets.iter().map(|p| p.arrival_us).collect();
    let mut jb = JitterBuffer::new(
        JitterConfig::new(rate).low_delay(),
        PcmDecoder::new(rate).expect("rate"),
    )
    .expect("config");
    let mut peak = 0.0f64;
    let mut last: Option<i64> = None;
    drive(&mut jb, packets, 29_000_000, |t, rep, jb| {
        for s in rep.started() {
            assert!(last.is_none_or(|l| s.seq > l), "out of order or twice");
            last = Some(s.seq);
            assert!(
                arrival[s.seq as usize] <= t + 10_000,
                "played before arrival"
            );
        }
        if (spike_at + 600_000..spike_at + 2_000_000).contains(&t) {
            let s = jb.stats_at(parla_core::MediaTime::from_micros(t));
            peak = peak.max(s.playout_delay_ms - s.target_delay_ms);
        }
    });
    let st = jb.stats();
    let dropped = st.late_packets + st.flushed_packets;
    // The stall held 25 packets; most of them are older than the bound allows.
    assert!(
        (10..=27).contains(&dropped),
        "dropped {dropped} packets: {st:?}"
    );
    assert!(
        peak < 60.0 + 30.0,
        "the delay stayed {peak} ms above target after the stall"
    );
}

#[test]
fn default_keeps_every_packet_of_a_stall() {
    let rate = 16_000;
    let n = 320;
    let spike_at = 15_000_000u64;
    let packets = stalled(rate, n, spike_at, seed(21));
    let mut jb = JitterBuffer::new(
        JitterConfig::new(rate),
        PcmDecoder::new(rate).expect("rate"),
    )
    .expect("config");
    let mut peak = 0.0f64;
    drive(&mut jb, packets, 29_000_000, |t, _, jb| {
        if (spike_at + 600_000..spike_at + 2_000_000).contains(&t) {
            let s = jb.stats_at(parla_core::MediaTime::from_micros(t));
            peak = peak.max(s.playout_delay_ms - s.target_delay_ms);
        }
    });
    let st = jb.stats();
    assert_eq!(st.late_packets + st.flushed_packets, 0, "{st:?}");
    assert!(
        peak > 300.0,
        "the default did not wait out the stall: {peak} ms"
    );
}
