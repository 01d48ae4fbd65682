//! FEC recovery, DTX comfort noise, frame sizes 10-60 ms, sequence/timestamp wrap and jumps,
//! late and duplicate accounting, malformed payloads.
mod common;

use common::{InFlight, buffer, drive, payload};
use parla_core::MediaTime;
use parla_jitter::{Action, InsertError, InsertOutcome, Packet, pcm};

fn stream(count: u64, n: u64, rate: u32, fec: bool, skip: &[u64]) -> Vec<InFlight> {
    (0..count)
        .filter(|k| !skip.contains(k))
        .map(|k| InFlight {
            arrival_us: k * n * 1_000_000 / rate as u64 + 30_000,
            k,
            seq: (k as u16).wrapping_add(65_530),
            ts: ((k * n) as u32).wrapping_add(u32::MAX - 5_000),
            payload: payload(k, n as usize, rate, fec),
        })
        .collect()
}

#[test]
fn fec_recovers_a_single_loss_without_concealment() {
    let mut jb = buffer(16_000);
    let mut fec_seen = false;
    drive(
        &mut jb,
        stream(200, 320, 16_000, true, &[100]),
        4_000_000,
        |_, rep, _| {
            fec_seen |= rep.started().iter().any(|s| s.fec);
        },
    );
    let st = jb.stats();
    assert!(fec_seen);
    assert_eq!(st.fec_recovered, 1, "{st:?}");
    assert_eq!(st.packets_lost, 0, "{st:?}");
}

#[test]
fn without_fec_a_loss_is_concealed_and_counted() {
    let mut jb = buffer(16_000);
    drive(
        &mut jb,
        stream(200, 320, 16_000, false, &[100, 150, 151]),
        4_000_000,
        |_, _, _| {},
    );
    let st = jb.stats();
    assert_eq!(st.packets_lost, 3, "{st:?}");
    assert!(
        st.concealed_samples > 0 && st.concealment_events >= 2,
        "{st:?}"
    );
}

#[test]
fn every_frame_size_plays_in_order_without_loss() {
    for ms in [10u64, 20, 40, 60] {
        let rate = 16_000;
        let n = rate as u64 * ms / 1000;
        let count = 6000 / ms;
        let mut jb = buffer(rate);
        let mut played = Vec::new();
        drive(
            &mut jb,
            stream(count, n, rate, false, &[]),
            count * ms * 1000 + 1_000_000,
            |_, rep, _| {
                played.extend(rep.started().iter().map(|s| s.seq));
            },
        );
        let st = jb.stats();
        assert_eq!(played.len() as u64, count, "{ms} ms: {st:?}");
        assert!(played.windows(2).all(|w| w[1] == w[0] + 1), "{ms} ms");
        assert_eq!(
            st.packets_lost + st.late_packets + st.timestamp_jumps,
            0,
            "{ms} ms: {st:?}"
        );
    }
}

#[test]
fn dtx_gap_is_comfort_noise_not_concealment() {
    let rate = 16_000;
    let n = 320u64;
    // 50 packets, a DTX frame, 1 s of silence (no packets, timestamps jump), 50 more packets.
    let mut packets = Vec::new();
    for k in 0..101u64 {
        let (ts_k, p) = match k {
            0..50 => (k, payload(k, n as usize, rate, false)),
            50 => {
                let mut p = Vec::new();
                pcm::encode_dtx(n as usize, &mut p);
                (k, p)
            }
            _ => (k + 50, payload(k, n as usize, rate, false)),
        };
        packets.push(InFlight {
            arrival_us: ts_k * 20_000 + 30_000,
            k,
            seq: k as u16,
            ts: (ts_k * n) as u32,
            payload: p,
        });
    }
    let mut jb = buffer(rate);
    let (mut cng, mut expand, mut done) = (0, 0, false);
    drive(&mut jb, packets, 4_000_000, |_, rep, _| {
        // Count until the last packet plays (after it the stream has ended).
        if done {
            return;
        }
        match rep.action {
            Action::ComfortNoise => cng += 1,
            Action::Expand => expand += 1,
            _ => {}
        }
        done = rep.started().iter().any(|s| s.seq == 100);
    });
    let st = jb.stats();
    assert!(done, "{st:?}");
    assert!(cng >= 90, "comfort noise pulls {cng}: {st:?}");
    assert_eq!(expand, 0, "{st:?}");
    assert_eq!(st.packets_decoded, 101, "{st:?}");
    assert_eq!(st.timestamp_jumps, 0, "{st:?}");
}

#[test]
fn a_timestamp_jump_rebases_and_playback_goes_on() {
    let rate = 16_000;
    let n = 320u64;
    let mut packets = stream(300, n, rate, false, &[]);
    for p in packets.iter_mut().skip(150) {
        // The sender's timestamps leap by an hour and its sequence numbers by 30000.
        p.ts = p.ts.wrapping_add(3600 * rate);
        p.seq = p.seq.wrapping_add(30_000);
    }
    let mut jb = buffer(rate);
    let mut played = 0;
    drive(&mut jb, packets, 7_000_000, |_, rep, _| {
        played += rep.started().len()
    });
    let st = jb.stats();
    assert_eq!(st.timestamp_jumps, 1, "{st:?}");
    assert_eq!(played, 300, "{st:?}");
    assert_eq!(st.late_packets + st.packets_lost, 0, "{st:?}");
}

#[test]
fn late_duplicate_and_malformed_packets_are_refused_and_counted() {
    let rate = 16_000;
    let mut jb = buffer(rate);
    let mut out = vec![0.0f32; jb.frame_len()];
    let p0 = payload(0, 320, rate, false);
    let p1 = payload(1, 320, rate, false);
    let ins = |jb: &mut parla_jitter::JitterBuffer<_>, seq: u16, p: &[u8], t: u64| {
        jb.insert(
            Packet {
                seq,
                timestamp: u32::from(seq) * 320,
                payload: p,
            },
            MediaTime::from_micros(t),
        )
    };
    assert_eq!(
        ins(&mut jb, 0, &p0, 0),
        Ok(InsertOutcome::Inserted { reordered: false })
    );
    assert_eq!(ins(&mut jb, 0, &p0, 1_000), Ok(InsertOutcome::Duplicate));
    for i in 0..20u64 {
        jb.pull(MediaTime::from_micros(i * 10_000), &mut out)
            .expect("sized");
    }
    // Packet 1 is due at 40 ms + 20 ms; it comes 200 ms later, after its slot was concealed
    // and skipped past packet 2.
    let p2 = payload(2, 320, rate, false);
    assert!(matches!(
        ins(&mut jb, 2, &p2, 150_000),
        Ok(InsertOutcome::Inserted { .. })
    ));
    for i in 20..40u64 {
        jb.pull(MediaTime::from_micros(i * 10_000), &mut out)
            .expect("sized");
    }
    assert_eq!(ins(&mut jb, 1, &p1, 400_000), Ok(InsertOutcome::Late));
    assert!(matches!(
        ins(&mut jb, 3, &[0, 1], 400_000),
        Err(InsertError::Malformed)
    ));
    let huge = vec![0u8; 10_000];
    assert!(matches!(
        ins(&mut jb, 3, &huge, 400_000),
        Err(InsertError::TooLarge { .. })
    ));
    assert!(
        jb.pull(MediaTime::from_micros(400_000), &mut out[..5])
            .is_err()
    );
    let st = jb.stats();
    assert_eq!(
        (st.late_packets, st.duplicate_packets, st.rejected_packets),
        (1, 1, 2),
        "{st:?}"
    );
}

#[test]
fn each_bad_threshold_is_refused_by_name() {
    use parla_jitter::JitterConfig;
    use parla_jitter::error::JitterConfigError;
    let rate = 16_000;
    let base = JitterConfig::new(rate);
    let cases: [(&str, JitterConfig); 8] = [
        (
            "accelerate_above_ms",
            JitterConfig {
                accelerate_above_ms: -1.0,
                ..base
            },
        ),
        (
            "fast_accelerate_above_ms",
            JitterConfig {
                fast_accelerate_above_ms: base.accelerate_above_ms - 1.0,
                ..base
            },
        ),
        (
            "expand_below_ms",
            JitterConfig {
                expand_below_ms: f64::NAN,
                ..base
            },
        ),
        ("max_backlog_ms", base.max_backlog_ms(-5.0)),
        ("max_delay_ms", base.max_delay_ms(-5.0)),
        ("stall_regime_backlog_ms", base.stall_regime(-1.0, 0.04)),
        ("stall_regime_fraction", base.stall_regime(60.0, 1.5)),
        ("stall_regime_fraction", base.stall_regime(60.0, f64::NAN)),
    ];
    for (field, cfg) in cases {
        let err = parla_jitter::JitterBuffer::new(cfg, pcm::PcmDecoder::new(rate).expect("rate"))
            .err()
            .unwrap_or_else(|| panic!("{field}: a bad value was accepted"));
        assert!(
            matches!(err, JitterConfigError::InvalidParameter { name, .. } if name == field),
            "{field}: {err:?}"
        );
    }
    // The defaults and the documented presets are accepted.
    for cfg in [base, base.low_delay(), base.stall_regime(60.0, 0.04)] {
        assert!(
            parla_jitter::JitterBuffer::new(cfg, pcm::PcmDecoder::new(rate).expect("rate")).is_ok()
        );
    }
}
