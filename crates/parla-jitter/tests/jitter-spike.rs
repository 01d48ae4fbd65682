//! After a 500 ms delay spike the buffer level returns to its target, and no packet of the spike
//! is lost: the buffer conceals while it waits and then accelerates back.
mod common;

use common::{InFlight, buffer, drive, payload, seed};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn level_returns_to_target_after_a_500_ms_spike() {
    let rate = 16_000;
    let n = 320;
    let mut rng = ChaCha8Rng::seed_from_u64(seed(11));
    let spike_at = 20_000_000u64;
    let packets: Vec<InFlight> = (0..2000u64)
        .map(|k| {
            let send = k * 20_000;
            let mut arrival = send + 40_000 + rng.random_range(0..8_000);
            // The link stalls for 500 ms and then delivers what it held.
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
        .collect();
    let mut jb = buffer(rate);
    let mut before = Vec::new();
    let mut peak = 0.0f64;
    let mut after = Vec::new();
    drive(&mut jb, packets, 40_000_000, |t, _, jb| {
        let now = parla_core::MediaTime::from_micros(t);
        let s = jb.stats_at(now);
        let excess = s.playout_delay_ms - s.target_delay_ms;
        if (15_000_000..spike_at).contains(&t) {
            before.push(excess);
        }
        if (spike_at..spike_at + 2_000_000).contains(&t) {
            peak = peak.max(s.playout_delay_ms);
        }
        if (spike_at + 4_000_000..spike_at + 6_000_000).contains(&t) {
            after.push(excess);
        }
    });
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        peak > 400.0,
        "the spike did not raise the delay: peak {peak} ms"
    );
    let (b, a) = (mean(&before), mean(&after));
    assert!(b.abs() < 15.0, "not at target before the spike: {b} ms off");
    assert!(
        a.abs() < 15.0,
        "not back at target 4 s after the spike: {a} ms off"
    );
    let st = jb.stats();
    assert_eq!(st.late_packets, 0, "{st:?}");
    assert_eq!(st.packets_lost, 0, "{st:?}");
    assert!(st.accelerated_samples > 0);
}
