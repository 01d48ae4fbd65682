//! Reordered, duplicated, late, lost and malformed packets in random patterns over many seeds:
//! the buffer never panics, never plays a packet twice or out of order, and never plays a
//! packet before it arrived.
mod common;

use std::collections::HashMap;

use common::{InFlight, buffer, drive, payload, seed};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn one_run(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rate = 16_000;
    let ms = [10u64, 20, 20, 40, 60][rng.random_range(0..5)];
    let n = (rate as u64 * ms / 1000) as usize;
    let count = 300u64;
    let seq0: u16 = rng.random();
    let ts0: u32 = rng.random();
    let loss = rng.random::<f64>() * 0.3;
    let dup = rng.random::<f64>() * 0.2;
    let jitter_ms = rng.random::<f64>() * 150.0;
    let late = rng.random::<f64>() * 0.05;
    let junk = rng.random::<f64>() * 0.05;
    let fec = rng.random::<bool>();
    let mut packets = Vec::new();
    let mut earliest: HashMap<i64, u64> = HashMap::new();
    for k in 0..count {
        if rng.random::<f64>() < loss {
            continue;
        }
        let copies = if rng.random::<f64>() < dup { 2 } else { 1 };
        for _ in 0..copies {
            let mut arrival =
                k * ms * 1000 + 30_000 + (rng.random::<f64>() * jitter_ms * 1000.0) as u64;
            if rng.random::<f64>() < late {
                arrival += rng.random_range(200_000..3_000_000);
            }
            let mut p = payload(k, n, rate, fec);
            if rng.random::<f64>() < junk {
                // Corrupt it: wrong length field or garbage.
                let cut = rng.random_range(0..p.len());
                p.truncate(cut);
            }
            let e = earliest.entry(k as i64).or_insert(u64::MAX);
            *e = (*e).min(arrival);
            packets.push(InFlight {
                arrival_us: arrival,
                k,
                seq: seq0.wrapping_add(k as u16),
                ts: ts0.wrapping_add((k * n as u64) as u32),
                payload: p,
            });
        }
    }
    let mut jb = buffer(rate);
    let mut last: Option<i64> = None;
    let mut first_ext: Option<i64> = None;
    let end = count * ms * 1000 + 4_000_000;
    drive(&mut jb, packets, end, |t, rep, _| {
        // Within a pull, later packets start later.
        assert!(
            rep.started().windows(2).all(|w| w[0].offset < w[1].offset),
            "seed {seed}: start offsets out of order: {:?}",
            rep.started()
        );
        for s in rep.started() {
            // Extended sequence numbers start at the first packet's raw value.
            let base =
                *first_ext.get_or_insert(s.seq - (s.seq - i64::from(seq0)).rem_euclid(65_536));
            let k = s.seq - base;
            assert!(
                last.is_none_or(|l| s.seq > l),
                "seed {seed}: packet {k} played after {last:?} (twice or out of order)"
            );
            last = Some(s.seq);
            if !s.fec {
                let arrived = earliest.get(&k).copied().unwrap_or(u64::MAX);
                assert!(
                    arrived <= t,
                    "seed {seed}: packet {k} played at {t} before it arrived at {arrived}"
                );
            }
        }
    });
    let st = jb.stats();
    assert!(st.packets_decoded > 0, "seed {seed}: nothing played");
}

#[test]
fn random_patterns_never_break_the_invariants() {
    let base = seed(0x5eed);
    for i in 0..120 {
        one_run(base.wrapping_add(i));
    }
}
