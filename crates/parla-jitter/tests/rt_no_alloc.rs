//! `insert` and `pull` never allocate after set-up (STYLE.md T1), through loss, duplicates,
//! reordering, FEC, DTX, concealment and time stretching.
mod common;

use common::payload;
use parla_core::MediaTime;
use parla_jitter::pcm;
use parla_jitter::{Action, JitterBuffer, JitterConfig, Packet, pcm::PcmDecoder};

#[global_allocator]
static A: parla_core::alloc_counter::CountingAllocator =
    parla_core::alloc_counter::CountingAllocator;

#[test]
fn insert_and_pull_do_not_allocate() {
    let st = run_pcm(JitterConfig::new(48_000));
    assert_eq!(st.flushed_packets, 0, "{st:?}");
}

/// The same with a playout-delay cap: the stalls are given up beyond it (late drops and
/// backlog flushes), still without allocating.
#[test]
fn insert_and_pull_with_a_delay_cap_do_not_allocate() {
    let st = run_pcm(JitterConfig::new(48_000).max_delay_ms(100.0));
    assert!(st.flushed_packets + st.late_packets > 0, "{st:?}");
}

fn run_pcm(cfg: JitterConfig) -> parla_jitter::JitterStats {
    assert!(parla_core::alloc_counter::is_installed());
    let rate = cfg.sample_rate;
    let n = 960;
    let count = 1500u64;
    // Payloads are made before the measured region (that is the sender's side).
    let payloads: Vec<Vec<u8>> = (0..count)
        .map(|k| {
            if k == 700 {
                let mut p = Vec::new();
                pcm::encode_dtx(n, &mut p);
                p
            } else {
                payload(k, n, rate, true)
            }
        })
        .collect();
    let mut jb = JitterBuffer::new(cfg, PcmDecoder::new(rate).expect("rate")).expect("config");
    let mut out = vec![0.0f32; jb.frame_len()];
    // Arrival pattern: jitter sawtooth, a 300 ms stall every 5 s, loss, duplicates, reordering.
    let mut events: Vec<(u64, u64)> = Vec::new();
    for k in 0..count {
        // Packet 700 is a DTX frame; the sender then stays silent until 720 (sequence numbers
        // stay contiguous, timestamps jump), as Opus DTX does.
        if k % 37 == 5 || (701..720).contains(&k) {
            continue;
        }
        let mut arrival = k * 20_000 + 30_000 + (k % 9) * 6_000;
        if k % 250 < 15 {
            arrival = arrival.max((k / 250) * 250 * 20_000 + 300_000 + 30_000);
        }
        if k % 41 == 7 {
            arrival += 45_000;
        }
        events.push((arrival, k));
        if k % 23 == 0 {
            events.push((arrival + 15_000, k));
        }
    }
    events.sort();
    let mut actions = std::collections::HashSet::new();
    let mut next = 0;
    let mut t = 0u64;
    let warm_up = 2_000_000;
    while next < events.len() {
        let measured = t >= warm_up;
        let mut step = || {
            while next < events.len() && events[next].0 <= t {
                let (arrival, k) = events[next];
                let _ = jb.insert(
                    Packet {
                        seq: (if k >= 720 { k - 19 } else { k } as u16).wrapping_add(65_000),
                        timestamp: (k * n as u64) as u32,
                        payload: &payloads[k as usize],
                    },
                    MediaTime::from_micros(arrival),
                );
                next += 1;
            }
            jb.pull(MediaTime::from_micros(t), &mut out).expect("sized")
        };
        let rep = if measured {
            parla_core::alloc_counter::assert_no_alloc("insert + pull", step)
        } else {
            step()
        };
        actions.insert(format!("{:?}", rep.action));
        t += 10_000;
    }
    // The measured region went through the interesting paths.
    for a in [
        Action::Normal,
        Action::Expand,
        Action::Merge,
        Action::Accelerate,
        Action::ComfortNoise,
    ] {
        assert!(
            actions.contains(&format!("{a:?}")),
            "never saw {a:?}: {actions:?}"
        );
    }
    let st = jb.stats();
    assert!(
        st.fec_recovered > 0 && st.duplicate_packets > 0 && st.reordered_packets > 0,
        "{st:?}"
    );
    st
}

/// The same through the real Opus decoder: 20 ms packets with FEC and DTX, loss (FEC
/// recovery), jitter, a stall (concealment, merge, backlog), duplicates and reordering.
#[cfg(feature = "opus")]
#[test]
fn insert_and_pull_through_opus_do_not_allocate() {
    use parla_codec::opus::{MAX_PACKET_BYTES, OpusEncoder, OpusEncoderConfig};
    use parla_jitter::opus::OpusAudioDecoder;

    assert!(parla_core::alloc_counter::is_installed());
    let rate = 48_000;
    let n = 960;
    let count = 1200u64;
    // The sender's side, before the measured region: voice with a silent stretch (DTX).
    let cfg = OpusEncoderConfig::voice(rate, 1).fec(true, 20).dtx(true);
    let mut enc = OpusEncoder::new(&cfg).expect("encoder");
    let mut buf = [0u8; MAX_PACKET_BYTES];
    let mut packets: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut prev_discardable = false;
    for k in 0..count {
        let silent = (600..700).contains(&k);
        let pcm: Vec<f32> = (0..n as u64)
            .map(|i| {
                if silent {
                    0.0
                } else {
                    common::voice(k * n as u64 + i, rate)
                }
            })
            .collect();
        let p = enc.encode(&pcm, &mut buf).expect("encode");
        // The first DTX packet after audio is sent, repeats are skipped.
        if !p.discardable || !prev_discardable {
            packets.push((k, buf[..p.len].to_vec()));
        }
        prev_discardable = p.discardable;
    }
    let mut jb = JitterBuffer::new(
        JitterConfig::new(rate),
        OpusAudioDecoder::new(rate).expect("rate"),
    )
    .expect("config");
    let mut out = vec![0.0f32; jb.frame_len()];
    let mut events: Vec<(u64, usize)> = Vec::new();
    for (i, (k, _)) in packets.iter().enumerate() {
        if k % 29 == 11 {
            continue;
        }
        let mut arrival = k * 20_000 + 30_000 + (k % 7) * 7_000;
        if k % 300 < 12 {
            arrival = arrival.max((k / 300) * 300 * 20_000 + 250_000 + 30_000);
        }
        if k % 43 == 9 {
            arrival += 45_000;
        }
        events.push((arrival, i));
        if k % 31 == 0 {
            events.push((arrival + 15_000, i));
        }
    }
    events.sort();
    let mut actions = std::collections::HashSet::new();
    let mut next = 0;
    let mut t = 0u64;
    let warm_up = 2_000_000;
    while next < events.len() {
        let measured = t >= warm_up;
        let mut step = || {
            while next < events.len() && events[next].0 <= t {
                let (arrival, i) = events[next];
                let (k, payload) = &packets[i];
                let _ = jb.insert(
                    Packet {
                        seq: (i as u16).wrapping_add(65_000),
                        timestamp: (k * n as u64) as u32,
                        payload,
                    },
                    MediaTime::from_micros(arrival),
                );
                next += 1;
            }
            jb.pull(MediaTime::from_micros(t), &mut out).expect("sized")
        };
        let rep = if measured {
            parla_core::alloc_counter::assert_no_alloc("insert + pull (Opus)", step)
        } else {
            step()
        };
        actions.insert(format!("{:?}", rep.action));
        t += 10_000;
    }
    for a in [
        Action::Normal,
        Action::Expand,
        Action::Merge,
        Action::Accelerate,
        Action::ComfortNoise,
    ] {
        assert!(
            actions.contains(&format!("{a:?}")),
            "never saw {a:?}: {actions:?}"
        );
    }
    let st = jb.stats();
    assert!(
        st.fec_recovered > 0 && st.duplicate_packets > 0 && st.reordered_packets > 0,
        "{st:?}"
    );
}
