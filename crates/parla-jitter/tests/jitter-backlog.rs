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

/// `count` 20 ms packets over a 40-48 ms link; `release(send_us)` is when a stall that holds
/// the packet sent at `send_us` lets it go, if any (the packet then arrives 40 ms later).
fn link(
    rate: u32,
    n: u64,
    count: u64,
    seed: u64,
    release: impl Fn(u64) -> Option<u64>,
) -> Vec<InFlight> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|k| {
            let send = k * 20_000;
            let mut arrival = send + 40_000 + rng.random_range(0..8_000);
            if let Some(end) = release(send) {
                arrival = arrival.max(end + 40_000);
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

/// 30 s with one 500 ms stall from `spike_at`.
fn stalled(rate: u32, n: u64, spike_at: u64, seed: u64) -> Vec<InFlight> {
    link(rate, n, 1500, seed, |send| {
        (spike_at..spike_at + 500_000)
            .contains(&send)
            .then_some(spike_at + 500_000)
    })
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

#[test]
fn delay_cap_gives_up_on_a_stall_beyond_it() {
    let rate = 16_000;
    let n = 320;
    let spike_at = 15_000_000u64;
    let packets = stalled(rate, n, spike_at, seed(23));
    let arrival: Vec<u64> = packets.iter().map(|p| p.arrival_us).collect();
    let mut jb = JitterBuffer::new(
        JitterConfig::new(rate).max_delay_ms(100.0),
        PcmDecoder::new(rate).expect("rate"),
    )
    .expect("config");
    let (mut peak, mut before) = (0.0f64, 0.0f64);
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
        let d = jb.playout_delay_ms(parla_core::MediaTime::from_micros(t));
        if (5_000_000..spike_at).contains(&t) {
            before = before.max(d);
        }
        if (spike_at..spike_at + 2_000_000).contains(&t) {
            peak = peak.max(d);
        }
    });
    let st = jb.stats();
    let dropped = st.late_packets + st.flushed_packets;
    // Nothing is lost while the delay stays under the cap; the 500 ms stall (25 packets) is
    // given up beyond it.
    assert!(before < 100.0, "delay {before} ms before the stall");
    assert!(
        (10..=27).contains(&dropped),
        "dropped {dropped} packets: {st:?}"
    );
    assert!(
        peak < 100.0 + 30.0,
        "the delay reached {peak} ms (cap 100 ms)"
    );
}

/// 60 s with a 400 ms stall every `every_s` seconds.
fn periodic_stalls(rate: u32, n: u64, every_s: u64, seed: u64) -> Vec<InFlight> {
    let period = every_s * 1_000_000;
    link(rate, n, 3000, seed, |send| {
        let phase = send % period;
        (send >= period && phase < 400_000).then_some(send - phase + 400_000)
    })
}

#[test]
fn stall_regime_engages_only_on_a_link_that_stalls_often() {
    let rate = 16_000;
    let n = 320;
    let run = |every_s: u64| {
        let mut jb = JitterBuffer::new(
            JitterConfig::new(rate).stall_regime(60.0, 0.04),
            PcmDecoder::new(rate).expect("rate"),
        )
        .expect("config");
        drive(
            &mut jb,
            periodic_stalls(rate, n, every_s, seed(25)),
            62_000_000,
            |_, _, _| {},
        );
        let st = jb.stats();
        st.late_packets + st.flushed_packets
    };
    // A 400 ms stall every 2 s: about 10 of every 100 packets arrive more than 200 ms late,
    // above the 4% threshold, so the stalls are given up beyond 60 ms.
    let often = run(2);
    assert!(
        often > 100,
        "dropped {often} packets on a link stalling every 2 s"
    );
    // Every 20 s: about 1%; the buffer waits the stalls out and loses nothing.
    let rare = run(20);
    assert_eq!(
        rare, 0,
        "dropped {rare} packets on a link stalling every 20 s"
    );
}
