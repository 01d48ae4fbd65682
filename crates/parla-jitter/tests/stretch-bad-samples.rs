//! Bad samples never kill the time stretcher (issue 15, point 2): seeded bursts of NaN,
//! +/-Inf, subnormals, 1e30 and +/-3.0 (`parla_testkit::bursts`) in the blocks it accelerates or
//! expands, forced or not. It must not panic, must write a sane length, and keeps no state, so
//! every clean block after a burst gives exactly what a fresh stretcher gives.
//!
//! `PARLA_TEST_SEED` replays a seed; `PARLA_BURST_SECS` makes the signal longer.
#![allow(clippy::unwrap_used)]

use parla_jitter::stretch::TimeStretcher;
use parla_testkit::bursts;

#[test]
fn time_stretcher_survives_bursts_and_forgets_them() {
    let seed = bursts::seed(1506);
    let (x, rate) = (parla_testkit::speech::near_speech_48k(), 48_000u32);
    let secs = bursts::env_usize("PARLA_BURST_SECS", 10);
    let clean: Vec<f32> = x
        .iter()
        .copied()
        .cycle()
        .take(secs * rate as usize)
        .collect();
    let frame = rate as usize / 100;
    let bs = bursts::schedule(seed, clean.len() / frame, 20, 30, 50);
    let bad = bursts::corrupt(&clean, frame, &bs, seed);
    let mut st = TimeStretcher::new(rate).unwrap();
    let block = st.min_input_len().max(3 * frame);
    let mut out = vec![0.0; block + st.max_period()];
    let mut fresh_out = out.clone();
    let (mut stretched, mut bad_blocks, mut clean_blocks) = (0, 0, 0);
    for (k, (b, c)) in bad
        .chunks_exact(block)
        .zip(clean.chunks_exact(block))
        .enumerate()
    {
        let force = k % 3 == 0;
        let is_bad = b.iter().zip(c).any(|(x, y)| x.to_bits() != y.to_bits());
        for expand in [false, true] {
            let r = if expand {
                st.expand_into(b, &mut out, force).unwrap()
            } else {
                st.accelerate_into(b, &mut out, force).unwrap()
            };
            let lo = block - st.max_period();
            let hi = block + st.max_period();
            assert!(
                (lo..=hi).contains(&r.written),
                "block {k}: wrote {} samples from {block} (seed {seed})",
                r.written
            );
            stretched += usize::from(r.stretched());
            if is_bad {
                bad_blocks += 1;
                continue;
            }
            // A clean block after any number of bad ones: exactly what a fresh stretcher does.
            let mut fresh = TimeStretcher::new(rate).unwrap();
            let rf = if expand {
                fresh.expand_into(b, &mut fresh_out, force).unwrap()
            } else {
                fresh.accelerate_into(b, &mut fresh_out, force).unwrap()
            };
            assert_eq!(r, rf, "block {k} (seed {seed})");
            assert_eq!(out[..r.written], fresh_out[..rf.written], "block {k}");
            assert!(
                out[..r.written]
                    .iter()
                    .all(|v| v.is_finite() && v.abs() <= 1.0)
            );
            clean_blocks += 1;
        }
    }
    println!(
        "stretcher (seed {seed}): {} bursts, {bad_blocks} bad and {clean_blocks} clean block runs, {stretched} stretched; every clean block equals a fresh stretcher's",
        bs.len()
    );
    assert!(bad_blocks > 0 && clean_blocks > 0);
}
