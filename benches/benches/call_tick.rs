//! CPU per 10 ms of a call: the whole tick of both endpoints (send and receive: capture chain,
//! Opus encode, SFrame, RTP, jitter buffer, Opus decode, playout), for the default configuration
//! and a mobile one, and each stage of the tick on its own, on speech.
//!
//! ```text
//! cargo bench -p parla-benches --bench call_tick
//! scripts/bench-compare.sh REV          # the same benches on REV and on this tree, as ratios
//! ```
//!
//! Groups (one iteration each):
//! - `tick/{default,default_c9,default_c8,mobile,mobile_c6}`: one 10 ms tick of endpoint A and
//!   one of endpoint B, A's packets delivered to B and B's to A (so each endpoint encodes, sends,
//!   receives, decodes and plays out). `default` is the tree's `CallConfig::default()`;
//!   `default_c9` and `default_c8` set the Opus complexity explicitly (9: the default before
//!   issue 18; 8: what `parla_codec::opus::ComplexityPolicy` chooses on desktop at 32 kbps);
//!   `mobile` runs the devices at 16 kHz with the mobile echo canceller (AECM) and complexity 5
//!   (libwebrtc's mobile setting), `mobile_c6` at the mobile policy's 6.
//! - `stage/...`: one 10 ms frame (20 ms for Opus, the packet length) through one stage;
//!   `stage/sanitize/48k` is the input check (`parla_core::frame::sanitize_into`) on one
//!   48 kHz frame, which the echo canceller runs on both of its inputs every frame.
//!
//! Measurement: the CPU time of the benchmarking thread (Linux `CLOCK_THREAD_CPUTIME_ID`; wall
//! time elsewhere), not wall time: on a shared machine a preempted thread's wall time counts
//! the other processes' slices, its CPU time does not. Criterion prints it as a time.
//!
//! This file uses only APIs that also exist in older trees, so `scripts/bench-compare.sh` can copy
//! it into a worktree of an older revision and run both in one run.
#![allow(clippy::unwrap_used)]

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_codec::opus::{MAX_PACKET_BYTES, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use parla_core::frame::sanitize_into;
use parla_core::{FrameMeta, MediaTime};
use parla_dsp::aec::{AecConfig, AecMode, EchoCanceller};
use parla_dsp::ns::{NS_FRAME, NoiseSuppressor};
use parla_dsp::resample::{ResampleMode, StreamResampler};
use parla_dsp::{EchoStage, Stage};
use parla_engine::{CallConfig, KeyAgreement, MediaCore, StreamIds};
use parla_testkit::speech::{far_speech_48k, near_speech_48k};

#[path = "../common/cpu_clock.rs"]
mod cpu_clock;
use cpu_clock::thread_cpu_ns;

/// Criterion measurement: CPU time of the calling thread, in nanoseconds.
struct ThreadCpuTime {
    /// Formats values as times (both are nanoseconds).
    wall: WallTime,
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

fn cpu_time() -> Criterion<ThreadCpuTime> {
    Criterion::default().with_measurement(ThreadCpuTime { wall: WallTime })
}

/// `x` (48 kHz) at `rate`, through the chain's own resampler.
fn at_rate(x: &[f32], rate: u32) -> Vec<f32> {
    if rate == 48_000 {
        return x.to_vec();
    }
    let mut rs = StreamResampler::new(48_000, rate, 1, 480, ResampleMode::Fixed).unwrap();
    let mut out = Vec::with_capacity(x.len());
    let mut frame = vec![0.0; rate as usize / 100];
    for block in x.chunks_exact(480) {
        rs.push(block).unwrap();
        while rs.pull(&mut frame) {
            out.extend_from_slice(&frame);
        }
    }
    out
}

/// Two endpoints of one encrypted call with `cfg`, ticking in lockstep on speech.
struct Pair {
    a: MediaCore,
    b: MediaCore,
    mic_a: Vec<f32>,
    mic_b: Vec<f32>,
    spk: Vec<f32>,
    frame: usize,
    at: usize,
    t: u64,
    to_a: Vec<Vec<u8>>,
    to_b: Vec<Vec<u8>>,
}

impl Pair {
    fn new(cfg: &CallConfig) -> Self {
        let mut rng = rand::rng();
        let (ka, kb) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
        let (ba, bb) = (ka.public_blob(), kb.public_blob());
        let mut keys_a = ka.finish(&bb, b"bench").unwrap();
        let mut keys_b = kb.finish(&ba, b"bench").unwrap();
        let ids = |ssrc| StreamIds {
            ssrc,
            first_seq: 0,
            timestamp_offset: 0,
        };
        let frame = cfg.capture_rate as usize / 100;
        let mic_a = at_rate(&near_speech_48k(), cfg.capture_rate);
        let mut mic_b = at_rate(&far_speech_48k(), cfg.capture_rate);
        mic_b.truncate(mic_a.len());
        let frames = mic_a.len().min(mic_b.len()) / frame;
        let mut pair = Pair {
            a: MediaCore::new(cfg, Some(&mut keys_a), ids(1)).unwrap(),
            b: MediaCore::new(cfg, Some(&mut keys_b), ids(2)).unwrap(),
            mic_a: mic_a[..frames * frame].to_vec(),
            mic_b: mic_b[..frames * frame].to_vec(),
            spk: vec![0.0; cfg.playout_rate as usize / 100],
            frame,
            at: 0,
            t: 0,
            to_a: Vec::with_capacity(8),
            to_b: Vec::with_capacity(8),
        };
        // Past the jitter buffer's start and the echo canceller's first seconds.
        for _ in 0..300 {
            pair.tick();
        }
        pair
    }

    fn tick(&mut self) {
        let now = MediaTime::from_millis(self.t * 10);
        let (mic_a, mic_b) = (
            &self.mic_a[self.at..self.at + self.frame],
            &self.mic_b[self.at..self.at + self.frame],
        );
        for p in self.to_a.drain(..) {
            self.a.receive_packet(&p, now);
        }
        let to_b = &mut self.to_b;
        self.a
            .tick(now, mic_a, &mut self.spk, &mut |p| to_b.push(p.to_vec()))
            .unwrap();
        for p in self.to_b.drain(..) {
            self.b.receive_packet(&p, now);
        }
        let to_a = &mut self.to_a;
        self.b
            .tick(now, mic_b, &mut self.spk, &mut |p| to_a.push(p.to_vec()))
            .unwrap();
        self.t += 1;
        self.at += self.frame;
        if self.at + self.frame > self.mic_a.len() {
            self.at = 0;
        }
    }
}

fn ticks(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("tick");
    g.throughput(Throughput::Elements(1));
    let mobile = CallConfig {
        capture_rate: 16_000,
        playout_rate: 16_000,
        aec: AecMode::Mobile,
        complexity: 5,
        ..CallConfig::default()
    };
    // Explicit complexities, so the default's change shows in one run and in older trees (where
    // the policy and the new default do not exist): 9 was `CallConfig`'s default before issue
    // 18, 8 is the desktop policy's choice at 32 kbps.
    let default_c9 = CallConfig {
        complexity: 9,
        ..CallConfig::default()
    };
    let default_c8 = CallConfig {
        complexity: 8,
        ..CallConfig::default()
    };
    let mobile_c6 = CallConfig {
        complexity: 6,
        ..mobile
    };
    for (name, cfg) in [
        ("default", CallConfig::default()),
        ("default_c9", default_c9),
        ("default_c8", default_c8),
        ("mobile", mobile),
        ("mobile_c6", mobile_c6),
    ] {
        let mut pair = Pair::new(&cfg);
        g.bench_function(name, |b| b.iter(|| pair.tick()));
    }
    g.finish();
}

fn stages(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Elements(1));
    let near = near_speech_48k();
    let far = far_speech_48k();

    // Echo cancellers: one render plus one capture frame, far end leaking into the microphone.
    for (mode, rate) in [
        (AecMode::Aec3, 48_000u32),
        (AecMode::Aec3, 16_000),
        (AecMode::Mobile, 16_000),
    ] {
        let n = rate as usize / 100;
        let (near_r, far_r) = (at_rate(&near, rate), at_rate(&far, rate));
        let len = near_r.len().min(far_r.len()) / n * n;
        let mic: Vec<f32> = (0..len).map(|i| near_r[i] + 0.3 * far_r[i]).collect();
        let hint = (mode == AecMode::Mobile).then_some(0);
        let mut aec = EchoCanceller::new(AecConfig::new().mode(mode).stream_delay_ms(hint));
        aec.prepare(rate, n).unwrap();
        let mut out = vec![0.0; n];
        let mut meta = FrameMeta::default();
        let mut i = 0;
        let mut step = || {
            aec.process_render(&far_r[i..i + n]).unwrap();
            aec.process_into(&mic[i..i + n], &mut out, &mut meta)
                .unwrap();
            i = if i + 2 * n <= len { i + n } else { 0 };
        };
        for _ in 0..300 {
            step();
        }
        g.bench_function(
            BenchmarkId::new(format!("aec_{mode}"), format!("{}k", rate / 1000)),
            |b| b.iter(&mut step),
        );
    }

    // The input check every echo-canceller frame runs twice (far end and microphone) and the
    // gain stage once: NaN and infinities to 0, clamped to full scale, tiny values flushed.
    let mut out = vec![0.0; NS_FRAME];
    let mut i = 0;
    g.bench_function("sanitize/48k", |b| {
        b.iter(|| {
            let bad = sanitize_into(&near[i..i + NS_FRAME], &mut out);
            i = if i + 2 * NS_FRAME <= near.len() {
                i + NS_FRAME
            } else {
                0
            };
            bad
        })
    });

    // Noise suppression on noisy speech.
    let mut ns = NoiseSuppressor::new();
    ns.prepare(48_000, NS_FRAME).unwrap();
    let noisy: Vec<f32> = near
        .iter()
        .enumerate()
        .map(|(i, &x)| x + 0.02 * (((i * 7919) % 101) as f32 / 50.0 - 1.0))
        .collect();
    let mut out = vec![0.0; NS_FRAME];
    let mut meta = FrameMeta::default();
    let mut i = 0;
    g.bench_function("ns/48k", |b| {
        b.iter(|| {
            ns.process_into(&noisy[i..i + NS_FRAME], &mut out, &mut meta)
                .unwrap();
            i = if i + 2 * NS_FRAME <= noisy.len() {
                i + NS_FRAME
            } else {
                0
            };
        })
    });

    // Opus at the call's settings (48 kHz, 32 kbps, FEC for 10 % loss), 20 ms packets.
    let n = 960;
    for complexity in [4u8, 5, 6, 7, 8, 9] {
        let cfg = OpusEncoderConfig::voice(48_000, 1)
            .bitrate(32_000)
            .complexity(complexity)
            .fec(true, 10);
        let mut enc = OpusEncoder::new(&cfg).unwrap();
        let mut pkt = [0u8; MAX_PACKET_BYTES];
        let mut i = 0;
        g.bench_function(
            BenchmarkId::new("opus_encode_20ms", format!("c{complexity}")),
            |b| {
                b.iter(|| {
                    enc.encode(&near[i..i + n], &mut pkt).unwrap();
                    i = if i + 2 * n <= near.len() { i + n } else { 0 };
                })
            },
        );
    }
    let mut enc = OpusEncoder::new(&OpusEncoderConfig::voice(48_000, 1).fec(true, 10)).unwrap();
    let mut pkt = [0u8; MAX_PACKET_BYTES];
    let packets: Vec<Vec<u8>> = near
        .chunks_exact(n)
        .map(|f| {
            let p = enc.encode(f, &mut pkt).unwrap();
            pkt[..p.len].to_vec()
        })
        .collect();
    let mut dec = OpusDecoder::new(48_000, 1).unwrap();
    let mut pcm = vec![0.0; dec.max_frame_samples()];
    let mut i = 0;
    g.bench_function("opus_decode_20ms", |b| {
        b.iter(|| {
            dec.decode(&packets[i], &mut pcm).unwrap();
            i = (i + 1) % packets.len();
        })
    });

    // The resamplers a 16 kHz device adds (capture up to the processing rate, playout down).
    for (from, to) in [(16_000u32, 48_000u32), (48_000, 16_000)] {
        let x = at_rate(&near, from);
        let block = from as usize / 100;
        let mut rs = StreamResampler::new(from, to, 1, block, ResampleMode::Fixed).unwrap();
        let mut out = vec![0.0; to as usize / 100];
        let mut i = 0;
        g.bench_function(BenchmarkId::new("resample", format!("{from}->{to}")), |b| {
            b.iter(|| {
                rs.push(&x[i..i + block]).unwrap();
                while rs.pull(&mut out) {}
                i = if i + 2 * block <= x.len() {
                    i + block
                } else {
                    0
                };
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = cpu_time();
    targets = ticks, stages
}
criterion_main!(benches);
