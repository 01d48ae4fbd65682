//! With the sender's clock off by +-1000 ppm for 10 minutes (600 ms of drift either way) the
//! playout delay stays bounded: time stretching absorbs the drift.
mod common;

use common::{InFlight, buffer, drive, payload, seed};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn run(ppm: f64) {
    let rate = 16_000;
    let n = 320u64;
    let count = 30_000u64; // 10 minutes of 20 ms packets
    let mut rng = ChaCha8Rng::seed_from_u64(seed(21));
    let one = payload(0, n as usize, rate, false);
    let mut send_real = vec![0u64; count as usize];
    let packets: Vec<InFlight> = (0..count)
        .map(|k| {
            let real = (k as f64 * 20_000.0 * (1.0 + ppm * 1e-6)) as u64;
            send_real[k as usize] = real;
            InFlight {
                arrival_us: real + 30_000 + rng.random_range(0..10_000),
                k,
                seq: k as u16,
                ts: (k * n) as u32,
                payload: one.clone(),
            }
        })
        .collect();
    let mut jb = buffer(rate);
    let mut worst = 0.0f64;
    let mut played = 0u64;
    drive(&mut jb, packets, count * 20_000 + 2_000_000, |t, rep, _| {
        for s in rep.started() {
            let k = s.seq as usize;
            let delay = (t as f64 - send_real[k] as f64) / 1000.0;
            if k > 100 {
                worst = worst.max(delay);
            }
            played += 1;
        }
    });
    let st = jb.stats();
    assert!(
        played >= count - 10,
        "{ppm} ppm: played {played} of {count}"
    );
    assert!(worst < 120.0, "{ppm} ppm: delay grew to {worst} ms");
    assert_eq!(st.late_packets, 0, "{ppm} ppm: {st:?}");
    // Drift of 1000 ppm is 1 ms per second: the stretcher has to do about that much.
    let expected = 0.6 * rate as f64;
    let done = if ppm > 0.0 {
        st.preemptive_samples
    } else {
        st.accelerated_samples
    } as f64;
    assert!(
        done > 0.5 * expected,
        "{ppm} ppm: stretched only {done} samples"
    );
}

#[test]
fn plus_1000_ppm_for_10_minutes() {
    run(1000.0);
}

#[test]
fn minus_1000_ppm_for_10_minutes() {
    run(-1000.0);
}
