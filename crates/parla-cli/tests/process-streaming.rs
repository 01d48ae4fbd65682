//! `parla process` streams its files (issue 18, point 3): the output it writes block by block
//! is sample for sample what the send chain gives for the whole recording at once, and input
//! that ends early or carries NaN fails or passes as before: a one-line error and no
//! half-written output, never a panic.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
use std::path::Path;
use std::process::{Command, Output};

use parla_dsp::aec::{AecConfig, AecMode, EchoCanceller};
use parla_dsp::chain::{SendChain, SendChainConfig};

fn parla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parla"))
        .args(args)
        .output()
        .expect("run parla")
}

fn float_spec(rate: u32, channels: u16) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    }
}

fn write_float(path: &Path, spec: hound::WavSpec, interleaved: &[f32]) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &v in interleaved {
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
}

fn read_float(path: &Path) -> Vec<f32> {
    hound::WavReader::open(path)
        .unwrap()
        .samples::<f32>()
        .map(Result::unwrap)
        .collect()
}

/// A seeded test signal: tones that come and go, with a little noise.
fn signal(rate: u32, secs: f64, f0: f32, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    (0..(f64::from(rate) * secs) as usize)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let t = i as f32 / rate as f32;
            let env = 0.5 + 0.5 * (2.0 * std::f32::consts::PI * 0.7 * t).sin();
            0.25 * env * (2.0 * std::f32::consts::PI * f0 * t).sin()
                + (state as f32 / u32::MAX as f32 - 0.5) * 0.01
        })
        .collect()
}

#[test]
fn streamed_output_is_the_whole_file_chains_output_bit_for_bit() {
    // 44.1 kHz (resamplers at both ends), a stereo microphone (the downmix happens while
    // streaming), a far end shorter than the microphone, AECM (deterministic and fast in debug
    // builds) and noise suppression.
    let dir = tempfile::tempdir().unwrap();
    let rate = 44_100;
    let left = signal(rate, 2.3, 300.0, 1);
    let right = signal(rate, 2.3, 410.0, 2);
    let far = signal(rate, 1.9, 520.0, 3);
    let mut mic = left.clone();
    for (i, m) in mic.iter_mut().enumerate() {
        *m = 0.8 * *m + 0.3 * far.get(i.wrapping_sub(2_000)).copied().unwrap_or(0.0);
    }
    let stereo: Vec<f32> = mic.iter().zip(&right).flat_map(|(&l, &r)| [l, r]).collect();
    let (mic_path, far_path, out_path) = (
        dir.path().join("mic.wav"),
        dir.path().join("far.wav"),
        dir.path().join("out.wav"),
    );
    write_float(&mic_path, float_spec(rate, 2), &stereo);
    write_float(&far_path, float_spec(rate, 1), &far);
    let out = parla(&[
        "process",
        "--mic",
        mic_path.to_str().unwrap(),
        "--far",
        far_path.to_str().unwrap(),
        "--aec",
        "mobile",
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = read_float(&out_path);

    // The same recording through the library's whole-file path.
    let downmix: Vec<f32> = stereo
        .chunks_exact(2)
        .map(|p| 0.5 * (p[0] + p[1]))
        .collect();
    let mut chain = SendChain::new(SendChainConfig::new(rate)).unwrap();
    chain
        .set_echo_canceller(Box::new(EchoCanceller::new(
            AecConfig::new().mode(AecMode::Mobile),
        )))
        .unwrap();
    let want = chain.process_offline(&downmix, Some(&far)).unwrap();
    assert_eq!(got.len(), want.len());
    let differ = got
        .iter()
        .zip(&want)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(differ, 0, "{differ} of {} samples differ", want.len());
    assert!(want.iter().any(|v| v.abs() > 0.01), "output is not silence");
}

#[test]
fn a_wav_shorter_than_its_header_is_a_one_line_error_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let (full, cut, out_path) = (
        dir.path().join("full.wav"),
        dir.path().join("cut.wav"),
        dir.path().join("out.wav"),
    );
    write_float(&full, float_spec(48_000, 1), &signal(48_000, 1.5, 300.0, 4));
    // Keep the header (which promises 1.5 s) and the first 0.5 s of samples.
    let bytes = std::fs::read(&full).unwrap();
    std::fs::write(&cut, &bytes[..44 + 4 * 24_000]).unwrap();
    for (mic, far) in [(&cut, &full), (&full, &cut)] {
        let out = parla(&[
            "process",
            "--mic",
            mic.to_str().unwrap(),
            "--far",
            far.to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("truncated or corrupt"), "{stderr}");
        assert!(
            !out_path.exists(),
            "a failed run must not leave a half-written output"
        );
    }
}

#[test]
fn nan_samples_are_processed_as_before_without_a_panic() {
    // The chain sanitizes non-finite input at its boundary (issue 15): the run succeeds and
    // the output is finite.
    let dir = tempfile::tempdir().unwrap();
    let mut x = signal(48_000, 1.0, 300.0, 5);
    x[1_000..1_200].fill(f32::NAN);
    x[30_000] = f32::INFINITY;
    let (mic_path, out_path) = (dir.path().join("nan.wav"), dir.path().join("out.wav"));
    write_float(&mic_path, float_spec(48_000, 1), &x);
    let out = parla(&[
        "process",
        "--mic",
        mic_path.to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let y = read_float(&out_path);
    assert_eq!(y.len(), x.len());
    assert!(y.iter().all(|v| v.is_finite()));
}
