//! Shared helpers of the jitter buffer's integration tests.
#![allow(dead_code, unused_imports)] // each test uses a subset

use parla_core::MediaTime;
use parla_jitter::pcm::{self, PcmDecoder};
use parla_jitter::{JitterBuffer, JitterConfig, Packet, PullReport};

/// The test seed: `PARLA_TEST_SEED` overrides `default` (printed for a replay).
pub use parla_testkit::seed::seed;

/// Synthetic voiced audio: sample `i` of the stream.
pub fn voice(i: u64, rate: u32) -> f32 {
    let t = i as f32 / rate as f32;
    let env = 0.6 + 0.4 * (std::f32::consts::TAU * 3.0 * t).sin();
    (1..5)
        .map(|h| (std::f32::consts::TAU * 130.0 * h as f32 * t).sin() / h as f32)
        .sum::<f32>()
        * 0.25
        * env
}

/// The PCM payload of packet `k` of `n` samples (with FEC of packet `k - 1` when `fec`).
pub fn payload(k: u64, n: usize, rate: u32, fec: bool) -> Vec<u8> {
    let cur: Vec<f32> = (0..n as u64)
        .map(|i| voice(k * n as u64 + i, rate))
        .collect();
    let mut out = Vec::new();
    if fec && k > 0 {
        let prev: Vec<f32> = (0..n as u64)
            .map(|i| voice((k - 1) * n as u64 + i, rate))
            .collect();
        pcm::encode(&cur, Some(&prev), &mut out);
    } else {
        pcm::encode(&cur, None, &mut out);
    }
    out
}

/// A packet on its way: when it arrives and what it carries.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// Arrival time, µs.
    pub arrival_us: u64,
    /// Stream index (not wrapped).
    pub k: u64,
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Payload.
    pub payload: Vec<u8>,
}

/// A buffer at `rate` with the default configuration.
pub fn buffer(rate: u32) -> JitterBuffer<PcmDecoder> {
    JitterBuffer::new(
        JitterConfig::new(rate),
        PcmDecoder::new(rate).expect("rate"),
    )
    .expect("config")
}

/// Drive `jb` with `packets` (any order), pulling every 10 ms from the first arrival until
/// `end_us`; `on_pull(now_us, report, jb)` sees every pull. Packets are inserted before the
/// pull at or after their arrival.
pub fn drive(
    jb: &mut JitterBuffer<PcmDecoder>,
    mut packets: Vec<InFlight>,
    end_us: u64,
    mut on_pull: impl FnMut(u64, &PullReport, &JitterBuffer<PcmDecoder>),
) {
    packets.sort_by_key(|p| (p.arrival_us, p.k));
    let mut out = vec![0.0f32; jb.frame_len()];
    let mut t = packets.first().map_or(0, |p| p.arrival_us);
    let mut next = 0;
    while t <= end_us {
        while next < packets.len() && packets[next].arrival_us <= t {
            let p = &packets[next];
            let _ = jb.insert(
                Packet {
                    seq: p.seq,
                    timestamp: p.ts,
                    payload: &p.payload,
                },
                MediaTime::from_micros(p.arrival_us),
            );
            next += 1;
        }
        let rep = jb
            .pull(MediaTime::from_micros(t), &mut out)
            .expect("frame sized");
        assert!(out.iter().all(|v| v.is_finite()), "non-finite output");
        on_pull(t, &rep, jb);
        t += 10_000;
    }
}
