//! Shared helpers of the engine tests: key agreement, call drivers and measurements. The bundled
//! speech samples come from parla-testkit (re-exported here; seeds are `parla_testkit::seed`).
#![allow(dead_code, unused_imports, clippy::unwrap_used)] // each test uses a subset

use parla_engine::{CallKeys, KeyAgreement};
pub use parla_testkit::speech::{far_speech_48k, near_speech_48k};

pub use parla_engine::is_rtcp;

/// Keys for both ends of a call.
pub fn call_keys(call_id: &[u8]) -> (CallKeys, CallKeys) {
    let mut rng = rand::rng();
    let (a, b) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    let (ba, bb) = (a.public_blob(), b.public_blob());
    (
        a.finish(&bb, call_id).unwrap(),
        b.finish(&ba, call_id).unwrap(),
    )
}

/// Two media cores with agreed keys (A sends on SSRC 1, B on SSRC 2), for simulated-time tests.
pub fn core_pair(
    cfg: &parla_engine::CallConfig,
    call_id: &[u8],
) -> (parla_engine::MediaCore, parla_engine::MediaCore) {
    let (mut ka, mut kb) = call_keys(call_id);
    let ids = |ssrc| parla_engine::StreamIds {
        ssrc,
        first_seq: 1,
        timestamp_offset: 0,
    };
    (
        parla_engine::MediaCore::new(cfg, Some(&mut ka), ids(1)).unwrap(),
        parla_engine::MediaCore::new(cfg, Some(&mut kb), ids(2)).unwrap(),
    )
}

/// Drive two app-owned calls for `frames` ticks of 10 ms in real time: A's microphone plays
/// `mic_a` (then silence), B's is silent; packets move both ways through `link` (which may drop
/// or alter them; it sees each packet and returns whether to deliver it). Returns what B's
/// speaker played.
pub fn drive_pair(
    a: &parla_engine::Call,
    b: &parla_engine::Call,
    mic_a: &[f32],
    frames: usize,
    link: &mut dyn FnMut(&mut Vec<u8>) -> bool,
) -> Vec<f32> {
    use std::time::{Duration, Instant};
    let f = 480;
    let silence = vec![0.0f32; f];
    let mut spk = vec![0.0f32; f];
    let mut heard = Vec::with_capacity(frames * f);
    let mut buf = vec![0u8; parla_engine::MAX_WIRE_PACKET];
    let start = Instant::now();
    for i in 0..frames {
        let chunk = mic_a.get(i * f..(i + 1) * f).unwrap_or(&silence);
        a.push_capture(chunk).unwrap();
        b.push_capture(&silence).unwrap();
        for (from, to) in [(a, b), (b, a)] {
            while let Some(n) = from.poll_packet(&mut buf).unwrap() {
                let mut p = buf[..n].to_vec();
                if link(&mut p) {
                    to.receive_packet(&p);
                }
            }
        }
        b.pull_playout(&mut spk).unwrap();
        heard.extend_from_slice(&spk);
        a.pull_playout(&mut spk).unwrap();
        let next = start + Duration::from_millis(10 * (i as u64 + 1));
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    heard
}

/// Two calls with keys exchanged through their public blobs.
pub fn call_pair(cfg: parla_engine::CallConfig) -> (parla_engine::Call, parla_engine::Call) {
    let a = parla_engine::Call::new(cfg).unwrap();
    let b = parla_engine::Call::new(cfg).unwrap();
    a.set_peer_key(&b.local_public_key(), b"pair").unwrap();
    b.set_peer_key(&a.local_public_key(), b"pair").unwrap();
    (a, b)
}

/// Threads of this process (Linux: entries of /proc/self/task).
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// Resident set size of this process in KiB (Linux: /proc/self/statm).
pub fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// The delay of `heard` behind `sent` (both 48 kHz) in ms and the correlation at it, searched up
/// to `max_ms`, on 8 kHz averages of both (the direct search is quadratic).
pub fn delay_ms(sent: &[f32], heard: &[f32], max_ms: usize) -> (f64, f64) {
    let to_8k = |x: &[f32]| -> Vec<f32> {
        x.chunks_exact(6)
            .map(|c| c.iter().sum::<f32>() / 6.0)
            .collect()
    };
    let (lag, corr) =
        parla_metrics::signal::estimate_delay(&to_8k(sent), &to_8k(heard), max_ms * 8);
    (lag as f64 / 8.0, corr)
}

/// Median over 0.5 s windows of `heard` (with speech in them) of the best correlation with
/// `sent` at a delay of up to `max_ms`: robust to the jitter buffer's time stretching, which
/// moves the delay during a call and lowers a whole-signal correlation.
pub fn windowed_corr(sent: &[f32], heard: &[f32], max_ms: usize) -> f64 {
    let to_8k = |x: &[f32]| -> Vec<f32> {
        x.chunks_exact(6)
            .map(|c| c.iter().sum::<f32>() / 6.0)
            .collect()
    };
    let (s, h) = (to_8k(sent), to_8k(heard));
    let (win, max_lag) = (4_000, max_ms * 8);
    let mut corrs: Vec<f64> = Vec::new();
    let mut start = max_lag;
    while start + win <= h.len() && start <= s.len() {
        let w = &h[start..start + win];
        let energy: f64 = w.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / win as f64;
        if energy > 1e-5 {
            // `w` is `s` delayed by some lag: slide the reference (4-sample steps at 8 kHz).
            let mut best = f64::NEG_INFINITY;
            for lag in (0..=max_lag).step_by(4) {
                let r0 = start - lag;
                if r0 + win > s.len() {
                    continue;
                }
                let (_, c) = parla_metrics::signal::estimate_delay(&s[r0..r0 + win], w, 0);
                best = best.max(c);
            }
            corrs.push(best);
        }
        start += win;
    }
    if corrs.is_empty() {
        return 0.0;
    }
    corrs.sort_by(f64::total_cmp);
    corrs[corrs.len() / 2]
}
