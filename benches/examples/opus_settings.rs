//! PESQ-WB and encoder CPU of Opus settings on the harness corpus's speech (issue 18,
//! `docs/PERFORMANCE.md`): each speaker of `parla bench`'s pool (espeak-ng voices, the alsa-utils
//! recordings, the synthetic talkers; seed 1) is encoded with the call's settings (VoIP, 20 ms,
//! FEC for 10 % loss) and one setting changed, decoded at 48 kHz as the engine does, and scored
//! against the clean speech with the harness's PESQ-WB (`parla_harness::quality`).
//!
//! CPU: the thread CPU time of the encode calls only, per 20 ms packet, over all speakers;
//! `ROUNDS` rounds run the settings alternately and the ratio to complexity 9 is the median of
//! the per-round ratios (only ratios mean anything on a shared machine). The 16 kHz-input
//! setting is fed the speech resampled 48 -> 16 kHz beforehand; that resampler (about 1.8 us per
//! 10 ms in the chain) is not in its time.
//!
//! ```text
//! cargo run --release -p parla-benches --example opus_settings -- [ROUNDS] [BITRATE...]
//! ```
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;

use parla_codec::opus::{
    Application, Bandwidth, MAX_PACKET_BYTES, OpusDecoder, OpusEncoder, OpusEncoderConfig,
};
use parla_harness::corpus::{Corpus, CorpusConfig, resample};
use parla_harness::race::median;

const RATE: u32 = 48_000;

/// One setting: a name, the encoder's input rate and the config at a bitrate.
struct Setting {
    name: &'static str,
    rate: u32,
    config: fn(u32, u32) -> OpusEncoderConfig,
}

fn call(rate: u32, bitrate: u32, complexity: u8) -> OpusEncoderConfig {
    OpusEncoderConfig::voice(rate, 1)
        .bitrate(bitrate)
        .complexity(complexity)
        .fec(true, 10)
}

const SETTINGS: &[Setting] = &[
    Setting {
        name: "c9 (previous default)",
        rate: RATE,
        config: |r, b| call(r, b, 9),
    },
    Setting {
        name: "c8",
        rate: RATE,
        config: |r, b| call(r, b, 8),
    },
    Setting {
        name: "c7",
        rate: RATE,
        config: |r, b| call(r, b, 7),
    },
    Setting {
        name: "c6",
        rate: RATE,
        config: |r, b| call(r, b, 6),
    },
    Setting {
        name: "c5",
        rate: RATE,
        config: |r, b| call(r, b, 5),
    },
    Setting {
        name: "c8 no FEC",
        rate: RATE,
        config: |r, b| call(r, b, 8).fec(false, 10),
    },
    Setting {
        name: "c8 application audio",
        rate: RATE,
        config: |r, b| call(r, b, 8).application(Application::Audio),
    },
    Setting {
        name: "c8 max band wide",
        rate: RATE,
        config: |r, b| call(r, b, 8).max_bandwidth(Bandwidth::Wide),
    },
    Setting {
        name: "c8 max band superwide",
        rate: RATE,
        config: |r, b| call(r, b, 8).max_bandwidth(Bandwidth::SuperWide),
    },
    Setting {
        name: "c8 16 kHz input",
        rate: 16_000,
        config: |r, b| call(r, b, 8),
    },
    Setting {
        name: "c6 max band wide",
        rate: RATE,
        config: |r, b| call(r, b, 6).max_bandwidth(Bandwidth::Wide),
    },
    Setting {
        name: "c6 16 kHz input",
        rate: 16_000,
        config: |r, b| call(r, b, 6),
    },
];

#[path = "../common/cpu_clock.rs"]
mod cpu_clock;
use cpu_clock::thread_cpu_ns;

/// Encode `pcm` (at `cfg.rate`) and decode at 48 kHz; returns the decoded speech lined up with
/// the input, the encode CPU time in ns and the packet count.
fn round_trip(cfg: &OpusEncoderConfig, pcm: &[f32]) -> (Vec<f32>, u64, u64) {
    let mut enc = OpusEncoder::new(cfg).unwrap();
    let mut dec = OpusDecoder::new(RATE, 1).unwrap();
    let n = enc.frame_samples();
    let lookahead = enc.lookahead() * (RATE / cfg.rate) as usize;
    let mut padded = pcm.to_vec();
    padded.resize((pcm.len() + n).div_ceil(n) * n + n, 0.0);
    let mut packet = [0u8; MAX_PACKET_BYTES];
    let mut frame_out = vec![0.0f32; dec.max_frame_samples()];
    let mut out = Vec::with_capacity(padded.len() * (RATE / cfg.rate) as usize);
    let (mut cpu, mut packets) = (0, 0);
    for frame in padded.chunks(n) {
        let t = thread_cpu_ns();
        let p = enc.encode(frame, &mut packet).unwrap();
        cpu += thread_cpu_ns() - t;
        packets += 1;
        let got = dec.decode(&packet[..p.len], &mut frame_out).unwrap();
        out.extend_from_slice(&frame_out[..got]);
    }
    out.drain(..lookahead.min(out.len()));
    (out, cpu, packets)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let mut bitrates: Vec<u32> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if bitrates.is_empty() {
        bitrates = vec![32_000, 16_000];
    }
    parla_harness::quality::python().map_err(anyhow::Error::msg)?;
    let corpus = Corpus::new(CorpusConfig::new(1));
    let speakers = &corpus.speakers;
    let mut inputs: BTreeMap<u32, Vec<Vec<f32>>> = BTreeMap::new();
    for s in SETTINGS {
        if let std::collections::btree_map::Entry::Vacant(e) = inputs.entry(s.rate) {
            e.insert(
                speakers
                    .iter()
                    .map(|sp| resample(&sp.samples, RATE, s.rate))
                    .collect::<anyhow::Result<_>>()?,
            );
        }
    }
    let names: Vec<&str> = speakers.iter().map(|s| s.name.as_str()).collect();
    println!(
        "speakers: {} ({:.0} s in all)",
        names.join(", "),
        speakers.iter().map(|s| s.samples.len()).sum::<usize>() as f64 / f64::from(RATE)
    );
    for &bitrate in &bitrates {
        // PESQ-WB per setting (mean over speakers), from the first round's output.
        let mut decoded: Vec<Vec<Vec<f32>>> = Vec::new();
        // cpu[setting][round] = us per 20 ms packet.
        let mut cpu = vec![Vec::new(); SETTINGS.len()];
        for round in 0..rounds {
            for (i, s) in SETTINGS.iter().enumerate() {
                let cfg = (s.config)(s.rate, bitrate);
                let (mut ns, mut packets) = (0, 0);
                let mut outs = Vec::new();
                for pcm in &inputs[&s.rate] {
                    let (out, c, p) = round_trip(&cfg, pcm);
                    ns += c;
                    packets += p;
                    if round == 0 {
                        outs.push(out);
                    }
                }
                cpu[i].push(ns as f64 / packets as f64 / 1e3);
                if round == 0 {
                    decoded.push(outs);
                }
            }
        }
        let mut pesq = vec![Vec::new(); SETTINGS.len()];
        for (k, sp) in speakers.iter().enumerate() {
            let degraded: Vec<&[f32]> = decoded.iter().map(|d| d[k].as_slice()).collect();
            let scores = parla_harness::quality::pesq_stoi(&sp.samples, &degraded, RATE)
                .ok_or_else(|| anyhow::anyhow!("scoring {} failed", sp.name))?;
            for (i, (p, _)) in scores.into_iter().enumerate() {
                pesq[i].push(p.unwrap_or(f64::NAN));
            }
        }
        println!("\n{} kbit/s, {rounds} rounds", bitrate / 1000);
        println!(
            "| setting | PESQ-WB mean | - c9 | encode us / 20 ms | / c9 (median of rounds) | per speaker ({}) |",
            names.join(", ")
        );
        println!("|---|---:|---:|---:|---:|---|");
        let base_pesq = pesq[0].iter().sum::<f64>() / pesq[0].len() as f64;
        for (i, s) in SETTINGS.iter().enumerate() {
            let mean = pesq[i].iter().sum::<f64>() / pesq[i].len() as f64;
            let ratios: Vec<f64> = cpu[i].iter().zip(&cpu[0]).map(|(a, b)| a / b).collect();
            let per: Vec<String> = pesq[i].iter().map(|p| format!("{p:.3}")).collect();
            println!(
                "| {} | {mean:.3} | {:+.3} | {:.1} | {:.3} ({:.3}-{:.3}) | {} |",
                s.name,
                mean - base_pesq,
                median(cpu[i].clone()),
                median(ratios.clone()),
                ratios.iter().copied().fold(f64::INFINITY, f64::min),
                ratios.iter().copied().fold(0.0, f64::max),
                per.join(" ")
            );
        }
    }
    Ok(())
}
