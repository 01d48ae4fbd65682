//! The buffer with the real Opus decoder (libopus through `parla_codec::opus`): loss with
//! in-band FEC recovery, DTX with comfort noise, and 10-60 ms frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::HashSet;

use common::{seed, voice};
use parla_codec::opus::{FrameDuration, MAX_PACKET_BYTES, OpusEncoder, OpusEncoderConfig};
use parla_core::MediaTime;
use parla_jitter::opus::OpusAudioDecoder;
use parla_jitter::{Action, JitterBuffer, JitterConfig, JitterStats, Packet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const RATE: u32 = 16_000;

/// One encoded packet: stream index, payload, whether libopus marked it discardable (DTX).
struct Encoded {
    k: u64,
    payload: Vec<u8>,
    discardable: bool,
}

/// Encode `count` packets of `ms` of the synthetic voice (silence where `silent(k)`).
fn encode(ms: u32, count: u64, fec: bool, dtx: bool, silent: impl Fn(u64) -> bool) -> Vec<Encoded> {
    let cfg = OpusEncoderConfig::voice(RATE, 1)
        .frame(FrameDuration::from_millis(ms).unwrap())
        .fec(fec, if fec { 20 } else { 0 })
        .dtx(dtx);
    let mut enc = OpusEncoder::new(&cfg).unwrap();
    let n = enc.frame_samples();
    let mut buf = [0u8; MAX_PACKET_BYTES];
    (0..count)
        .map(|k| {
            let pcm: Vec<f32> = (0..n as u64)
                .map(|i| {
                    if silent(k) {
                        0.0
                    } else {
                        voice(k * n as u64 + i, RATE)
                    }
                })
                .collect();
            let p = enc.encode(&pcm, &mut buf).unwrap();
            Encoded {
                k,
                payload: buf[..p.len].to_vec(),
                discardable: p.discardable,
            }
        })
        .collect()
}

/// What a run saw.
struct Run {
    stats: JitterStats,
    /// Stream indices in the order their first sample played, with the FEC flag.
    played: Vec<(u64, bool)>,
    actions: HashSet<String>,
    /// Mean square of the output while packets played normally.
    energy: f64,
}

/// Send `packets` (index `k`, payload) with arrival times, pull every 10 ms to the end.
fn run(ms: u32, sent: &[(u64, u64, &[u8])], end_us: u64) -> Run {
    let mut jb = JitterBuffer::new(
        JitterConfig::new(RATE),
        OpusAudioDecoder::new(RATE).unwrap(),
    )
    .unwrap();
    let spp = u64::from(RATE * ms / 1000);
    let mut order: Vec<&(u64, u64, &[u8])> = sent.iter().collect();
    order.sort_by_key(|p| (p.1, p.0));
    let mut out = vec![0.0f32; jb.frame_len()];
    let mut r = Run {
        stats: JitterStats::default(),
        played: Vec::new(),
        actions: HashSet::new(),
        energy: 0.0,
    };
    let (mut e_sum, mut e_n) = (0.0f64, 0usize);
    let mut next = 0;
    let mut t = order.first().map_or(0, |p| p.1);
    let base_seq = 65_500u64;
    while t <= end_us {
        while next < order.len() && order[next].1 <= t {
            let (k, arrival, payload) = *order[next];
            next += 1;
            let _ = jb.insert(
                Packet {
                    seq: ((k + base_seq) & 0xffff) as u16,
                    timestamp: (k * spp) as u32,
                    payload,
                },
                MediaTime::from_micros(arrival),
            );
        }
        let rep = jb.pull(MediaTime::from_micros(t), &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite() && v.abs() <= 4.0));
        for s in rep.started() {
            let k = (s.seq - base_seq as i64) as u64;
            r.played.push((k, s.fec));
        }
        if rep.action == Action::Normal {
            e_sum += out.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
            e_n += out.len();
        }
        r.actions.insert(format!("{:?}", rep.action));
        t += 10_000;
    }
    r.stats = jb.stats();
    r.energy = e_sum / e_n.max(1) as f64;
    r
}

/// Every packet plays at most once, in order.
fn assert_in_order(played: &[(u64, bool)]) {
    for w in played.windows(2) {
        assert!(w[0].0 < w[1].0, "played out of order or twice: {w:?}");
    }
}

#[test]
fn lbrr_flag_matches_the_encoder_setting() {
    for ms in [10, 20, 40, 60] {
        let with = encode(ms, 50, true, false, |_| false);
        let without = encode(ms, 50, false, false, |_| false);
        let dec = OpusAudioDecoder::new(RATE).unwrap();
        use parla_jitter::AudioDecoder as _;
        // libopus codes LBRR data for speech-active frames only, so not every packet carries
        // it; a misread bit would flag about half the packets of the stream without FEC.
        let flagged = with[5..].iter().filter(|p| dec.has_fec(&p.payload)).count();
        assert!(
            flagged * 2 > 45,
            "{ms} ms with FEC: {flagged} of 45 flagged"
        );
        assert!(
            without.iter().all(|p| !dec.has_fec(&p.payload)),
            "{ms} ms without FEC"
        );
    }
}

#[test]
fn frame_sizes_play_every_packet_once_in_order() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed(61));
    for ms in [10u32, 20, 40, 60] {
        let count = 6000 / u64::from(ms);
        let pk = encode(ms, count, false, false, |_| false);
        // Jitter up to 40 ms with reordering, no loss.
        let sent: Vec<(u64, u64, &[u8])> = pk
            .iter()
            .map(|p| {
                let arrival = p.k * u64::from(ms) * 1000 + 20_000 + rng.random_range(0..40_000);
                (p.k, arrival, p.payload.as_slice())
            })
            .collect();
        let end = count * u64::from(ms) * 1000 + 500_000;
        let r = run(ms, &sent, end);
        assert_in_order(&r.played);
        // A packet held back past the gap it left is declared lost after the buffer waited
        // for it (and dropped late when it comes): rare, never more than 1%.
        let late = r.stats.late_packets + r.stats.flushed_packets;
        assert!(late * 100 <= count, "{ms} ms: {late} late of {count}");
        assert_eq!(
            r.stats.packets_decoded + late,
            count,
            "{ms} ms: {:?}",
            r.stats
        );
        assert!(r.energy > 1e-3, "{ms} ms: decoded audio is silent");
    }
}

#[test]
fn fec_recovers_isolated_losses() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed(62));
    for ms in [20u32, 60] {
        let count = 9000 / u64::from(ms);
        let pk = encode(ms, count, true, false, |_| false);
        let mut lost = HashSet::new();
        let mut sent = Vec::new();
        for p in &pk {
            // Isolated losses (never two in a row, never the first packets).
            if p.k > 5 && !lost.contains(&(p.k - 1)) && rng.random_bool(0.1) {
                lost.insert(p.k);
                continue;
            }
            let arrival = p.k * u64::from(ms) * 1000 + 30_000 + rng.random_range(0..10_000);
            sent.push((p.k, arrival, p.payload.as_slice()));
        }
        assert!(lost.len() > 5);
        let end = count * u64::from(ms) * 1000 + 500_000;
        let r = run(ms, &sent, end);
        assert_in_order(&r.played);
        let recovered: HashSet<u64> = r.played.iter().filter(|p| p.1).map(|p| p.0).collect();
        assert!(
            recovered.is_subset(&lost),
            "{ms} ms: FEC marked a packet that was not lost"
        );
        // Every lost packet whose successor carries LBRR data comes back from FEC.
        let dec = OpusAudioDecoder::new(RATE).unwrap();
        use parla_jitter::AudioDecoder as _;
        let recoverable: HashSet<u64> = lost
            .iter()
            .copied()
            .filter(|&k| {
                pk.get(k as usize + 1)
                    .is_some_and(|p| dec.has_fec(&p.payload))
            })
            .collect();
        assert!(recoverable.len() * 3 > lost.len(), "{ms} ms: too few LBRR");
        assert!(
            recoverable.is_subset(&recovered),
            "{ms} ms: recovered {recovered:?} of recoverable {recoverable:?}: {:?}",
            r.stats
        );
        assert_eq!(r.stats.fec_recovered, recovered.len() as u64);
    }
}

#[test]
fn dtx_plays_comfort_noise_not_concealment() {
    let ms = 20u32;
    // 2 s of voice, 3 s of silence, 2 s of voice.
    let silent = |k: u64| (100..250).contains(&k);
    let pk = encode(ms, 350, false, true, silent);
    let skipped = pk.iter().filter(|p| p.discardable).count();
    assert!(skipped > 50, "the encoder did not enter DTX");
    // Sequence numbers stay contiguous over the gaps, as an RTP sender's do.
    // The sender sends the first DTX packet after audio (so the receiver knows DTX began) and
    // skips the repeats.
    let sent_pk: Vec<&Encoded> = pk
        .iter()
        .enumerate()
        .filter(|(i, p)| !p.discardable || *i == 0 || !pk[i - 1].discardable)
        .map(|(_, p)| p)
        .collect();
    let mut jb = JitterBuffer::new(
        JitterConfig::new(RATE),
        OpusAudioDecoder::new(RATE).unwrap(),
    )
    .unwrap();
    let spp = u64::from(RATE * ms / 1000);
    let mut out = vec![0.0f32; jb.frame_len()];
    let mut next = 0;
    let mut t = 20_000u64;
    let mut cng_pulls = 0;
    let mut expand_in_silence = 0;
    // Up to just after the last packet (concealment after the stream ends is no interruption).
    while t <= 350 * 20_000 + 60_000 {
        while next < sent_pk.len() && sent_pk[next].k * 20_000 + 20_000 <= t {
            let p = sent_pk[next];
            let _ = jb.insert(
                Packet {
                    seq: next as u16,
                    timestamp: (p.k * spp) as u32,
                    payload: &p.payload,
                },
                MediaTime::from_micros(p.k * 20_000 + 20_000),
            );
            next += 1;
        }
        let rep = jb.pull(MediaTime::from_micros(t), &mut out).unwrap();
        let media_ms = (t - 20_000) / 1000;
        if (2_200..4_800).contains(&media_ms) {
            match rep.action {
                Action::ComfortNoise => cng_pulls += 1,
                Action::Expand => expand_in_silence += 1,
                _ => {}
            }
        }
        t += 10_000;
    }
    let st = jb.stats();
    assert!(cng_pulls > 100, "comfort noise pulls {cng_pulls}: {st:?}");
    assert!(
        expand_in_silence <= 5,
        "concealment during DTX: {expand_in_silence} pulls"
    );
    assert_eq!(st.interruptions, 0, "{st:?}");
    // The talk spurt after the silence plays.
    assert!(st.packets_decoded as usize >= sent_pk.len() - 2, "{st:?}");
}
