//! Waiting for FEC: under random loss with FEC in the stream, the target's margin grows to one
//! packet, so the packet after a loss (which carries its FEC) is there when the lost one is
//! due, and most losses are repaired without concealment; without loss, or without FEC, the
//! target stays where it was.
mod common;

use common::{InFlight, drive, payload, seed};
use parla_jitter::pcm::PcmDecoder;
use parla_jitter::{JitterBuffer, JitterConfig, JitterStats};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const RATE: u32 = 16_000;
const MS: u64 = 20;
/// The end of the runs: before the last packet is due, so the silence after the stream does
/// not count as concealment.
const END_US: u64 = 29_900_000;

/// 30 s of 20 ms packets: `loss` independent random loss, 30 ms one way plus up to 6 ms of
/// uniform jitter (like the `random-loss10` call scenario); the first packet arrives with
/// `first_us` of the jitter (where the buffer starts in the delay's range).
fn stream(seed: u64, loss: f64, fec: bool, first_us: u64) -> Vec<InFlight> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = (RATE as u64 * MS / 1000) as usize;
    let mut out = Vec::new();
    for k in 0..1500u64 {
        let lost = rng.random::<f64>() < loss && k > 0;
        let jitter = if k == 0 {
            first_us
        } else {
            rng.random_range(0..6_000)
        };
        if !lost {
            out.push(InFlight {
                arrival_us: k * MS * 1000 + 30_000 + jitter,
                k,
                seq: k as u16,
                ts: (k * n as u64) as u32,
                payload: payload(k, n, RATE, fec),
            });
        }
    }
    out
}

/// What a run measured: the statistics at the end and at 10 s, the mean target above the base
/// (ms) over the last 20 s, and whether it waited for FEC then.
struct Run {
    end: JitterStats,
    at_10s: JitterStats,
    target_ms: f64,
    waited: bool,
}

fn run(cfg: JitterConfig, packets: Vec<InFlight>) -> Run {
    let mut jb = JitterBuffer::new(cfg, PcmDecoder::new(RATE).expect("rate")).expect("config");
    let (mut sum, mut n, mut waited, mut at_10s) = (0.0, 0u32, false, None);
    drive(&mut jb, packets, END_US, |t, _, jb| {
        if t > 10_000_000 {
            at_10s.get_or_insert(jb.stats());
            sum += jb.stats().target_delay_ms;
            n += 1;
            waited |= jb.waiting_for_fec();
        }
    });
    Run {
        end: jb.stats(),
        at_10s: at_10s.expect("ran past 10 s"),
        target_ms: sum / f64::from(n),
        waited,
    }
}

#[test]
fn random_loss_with_fec_is_repaired_in_time() {
    let s = seed(16);
    let base = JitterConfig::new(RATE);
    let n = RATE as u64 * MS / 1000;
    // Whether the packet after a loss is there in time without the wait depends on where in
    // the delay's range the buffer started (it stretches only out of a dead band around the
    // target): five starts, summed.
    let (mut off_sum, mut on_sum, mut out_sum) = (0u64, 0u64, 0u64);
    for first_us in [0, 1_500, 3_000, 4_500, 6_000] {
        let packets = stream(s, 0.1, true, first_us);
        let sent = packets.last().map_or(0, |p| p.k + 1);
        let missing = sent - packets.len() as u64;
        // The packets due before the run's end (29.9 s).
        let missing_due = 1490 - packets.iter().filter(|p| p.k < 1490).count() as u64;
        let off_run = run(base.fec_wait_loss(f64::INFINITY), packets.clone());
        let on_run = run(base, packets);
        let (off, on) = (&off_run.end, &on_run.end);
        let (off_target, on_target) = (off_run.target_ms, on_run.target_ms);
        let pct = |st: &JitterStats| 100.0 * st.concealed_samples as f64 / st.output_samples as f64;
        eprintln!(
            "seed {s}, first packet +{first_us} us: {missing} of {sent} missing; without the \
             wait: target {off_target:.1} ms, fec {}, lost {}, concealed {:.2} %; with it: \
             target {on_target:.1} ms, fec {}, lost {}, concealed {:.2} %",
            off.fec_recovered,
            off.packets_lost,
            pct(off),
            on.fec_recovered,
            on.packets_lost,
            pct(on)
        );
        assert!(!off_run.waited && on_run.waited);
        // The margin grew to one packet (from the tuning's 10 ms to 20 ms).
        assert!(
            on_target > off_target + 5.0 && on_target < off_target + 15.0,
            "target {off_target:.1} -> {on_target:.1} ms"
        );
        // Every missing packet due by the run's end is either repaired from FEC or lost (and
        // concealed), in both.
        for st in [off, on] {
            let seen = st.fec_recovered + st.packets_lost;
            assert!(
                (missing_due..=missing).contains(&seen),
                "{missing_due}: {st:?}"
            );
            assert!(st.fec_recovered > 4 * st.packets_lost, "{st:?}");
        }
        // Once waiting (after the start-up, while the loss average passes 2 %), what is
        // concealed is the unrepairable packets (the first of each burst), nothing spent
        // waiting for the packet that carries the FEC.
        let (st0, st1) = (&on_run.at_10s, on);
        let lost = st1.packets_lost - st0.packets_lost;
        let concealed = st1.concealed_samples - st0.concealed_samples;
        // (One 10 ms frame of slack: a run of concealment can straddle the 10 s mark.)
        assert!(
            concealed <= lost * n + n / 2,
            "{concealed} samples concealed for {lost} lost packets"
        );
        assert!(on.concealed_samples <= off.concealed_samples);
        off_sum += off.concealed_samples;
        on_sum += on.concealed_samples;
        out_sum += on.output_samples;
    }
    // Without it, that wait was most of the concealment.
    let pct = |c: u64| 100.0 * c as f64 / out_sum as f64;
    assert!(
        on_sum * 10 < off_sum * 7,
        "concealed {:.2} % -> {:.2} %",
        pct(off_sum),
        pct(on_sum)
    );
}

#[test]
fn a_burst_of_two_conceals_one_packet_and_repairs_the_other() {
    let n = (RATE as u64 * MS / 1000) as usize;
    for fec in [true, false] {
        // Packets 100 and 101 of a steady stream are lost; 102 carries FEC of 101.
        let packets: Vec<InFlight> = (0..200u64)
            .filter(|k| !(100..102).contains(k))
            .map(|k| InFlight {
                arrival_us: k * MS * 1000 + 30_000,
                k,
                seq: k as u16,
                ts: (k * n as u64) as u32,
                payload: payload(k, n, RATE, fec),
            })
            .collect();
        let mut jb = common::buffer(RATE);
        drive(&mut jb, packets, 3_900_000, |_, _, _| {});
        let st = jb.stats();
        let (repaired, lost) = if fec { (1, 1) } else { (0, 2) };
        assert_eq!(
            (st.fec_recovered, st.packets_lost),
            (repaired, lost),
            "fec {fec}: {st:?}"
        );
        assert_eq!(st.concealed_samples, lost * n as u64, "fec {fec}: {st:?}");
    }
}

#[test]
fn no_wait_without_loss_or_without_fec() {
    let s = seed(16);
    let base = JitterConfig::new(RATE);
    for (loss, fec) in [(0.0, true), (0.1, false), (0.002, true)] {
        let on = run(base, stream(s, loss, fec, 3_000));
        let off = run(
            base.fec_wait_loss(f64::INFINITY),
            stream(s, loss, fec, 3_000),
        );
        assert!(!on.waited, "loss {loss}, fec {fec}: waited");
        // Nothing else changes: the same playout.
        assert_eq!(on.end, off.end, "loss {loss}, fec {fec}");
    }
}
