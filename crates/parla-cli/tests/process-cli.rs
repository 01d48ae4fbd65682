//! `parla process` end to end: the bundled sample, other WAV formats, and every kind of bad input
//! (one-line error, non-zero exit, never a panic).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
use std::path::Path;
use std::process::{Command, Output};

use parla_testkit::data::sample_path as sample;

fn parla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parla"))
        .args(args)
        .output()
        .expect("run parla")
}

fn write_wav(path: &Path, spec: hound::WavSpec, frames: usize) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames * spec.channels as usize {
        let v = (i as f32 * 0.05).sin() * 0.3;
        match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, _) => w.write_sample(v).unwrap(),
            (_, bits) => w
                .write_sample((v * (1i64 << (bits - 1)) as f32) as i32)
                .unwrap(),
        }
    }
    w.finalize().unwrap();
}

fn spec(rate: u32, channels: u16, bits: u16, float: bool) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    }
}

/// The command failed with exit code 1 and a single `parla: error:` line containing `needle`.
fn assert_one_line_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("parla: error: "), "{stderr}");
    assert!(
        lines[0].contains(needle),
        "expected '{needle}' in: {stderr}"
    );
}

#[test]
fn bundled_sample_gives_a_wav_of_the_same_duration_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("clean.wav");
    let report = dir.path().join("report.json");
    let input = sample("noisy_speech_white_5db.wav");
    let out = parla(&[
        "process",
        "--mic",
        input.to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("real-time factor"), "{stdout}");
    assert!(stdout.contains("ns"), "{stdout}");
    let a = hound::WavReader::open(&input).unwrap();
    let b = hound::WavReader::open(&out_path).unwrap();
    assert_eq!(a.spec().sample_rate, b.spec().sample_rate);
    let frame = a.spec().sample_rate / 100;
    assert!(a.duration().abs_diff(b.duration()) <= frame);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(json["frames"].as_u64().unwrap() > 1000);
    assert!(json["stages"].as_array().unwrap().len() >= 3);
}

#[test]
fn stereo_24bit_and_float_inputs_at_other_rates_work() {
    let dir = tempfile::tempdir().unwrap();
    for (i, s) in [
        spec(44_100, 2, 24, false),
        spec(22_050, 1, 32, true),
        spec(8_000, 1, 16, false),
        spec(96_000, 2, 32, false),
    ]
    .into_iter()
    .enumerate()
    {
        let input = dir.path().join(format!("in{i}.wav"));
        let output = dir.path().join(format!("out{i}.wav"));
        let frames = s.sample_rate as usize; // 1 s
        write_wav(&input, s, frames);
        let out = parla(&[
            "process",
            "--mic",
            input.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{s:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = hound::WavReader::open(&output).unwrap();
        assert_eq!(r.spec().sample_rate, s.sample_rate);
        assert_eq!(r.spec().channels, 1);
        assert!((r.duration() as usize).abs_diff(frames) <= s.sample_rate as usize / 100);
    }
}

#[test]
fn missing_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = parla(&[
        "process",
        "--mic",
        "/nonexistent/mic.wav",
        "--out",
        dir.path().join("o.wav").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "cannot open mic file '/nonexistent/mic.wav'");
}

#[test]
fn not_a_wav_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("notes.wav");
    std::fs::write(&bogus, "this is not audio").unwrap();
    let out = parla(&[
        "process",
        "--mic",
        bogus.to_str().unwrap(),
        "--out",
        dir.path().join("o.wav").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "is not a readable WAV file");
}

#[test]
fn zero_length_wav_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.wav");
    write_wav(&empty, spec(48_000, 1, 16, false), 0);
    let out = parla(&[
        "process",
        "--mic",
        empty.to_str().unwrap(),
        "--out",
        dir.path().join("o.wav").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "contains no audio samples");
}

#[test]
fn unsupported_formats_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            spec(12_345, 1, 16, false),
            "unsupported sample rate of 12345 Hz",
        ),
        (spec(48_000, 3, 16, false), "has 3 channels"),
    ];
    for (i, (s, needle)) in cases.into_iter().enumerate() {
        let p = dir.path().join(format!("bad{i}.wav"));
        write_wav(&p, s, 480);
        let out = parla(&[
            "process",
            "--mic",
            p.to_str().unwrap(),
            "--out",
            dir.path().join("o.wav").to_str().unwrap(),
        ]);
        assert_one_line_error(&out, needle);
    }
}

#[test]
fn mismatched_mic_and_far_rates_are_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    let far = dir.path().join("far.wav");
    write_wav(&mic, spec(48_000, 1, 16, false), 4800);
    write_wav(&far, spec(16_000, 1, 16, false), 1600);
    let out = parla(&[
        "process",
        "--mic",
        mic.to_str().unwrap(),
        "--far",
        far.to_str().unwrap(),
        "--out",
        dir.path().join("o.wav").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "sample rates differ");
}

#[test]
fn noise_suppression_at_16k_processing_needs_no_ns() {
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    write_wav(&mic, spec(16_000, 1, 16, false), 1600);
    let o = dir.path().join("o.wav");
    let args = [
        "process",
        "--mic",
        mic.to_str().unwrap(),
        "--out",
        o.to_str().unwrap(),
        "--rate",
        "16000",
    ];
    assert_one_line_error(&parla(&args), "noise suppression runs at 48000 Hz only");
    let mut ok = args.to_vec();
    ok.push("--no-ns");
    assert!(parla(&ok).status.success());
}

/// Energy of `x` from sample `from` on.
fn energy(x: &[f32], from: usize) -> f64 {
    x[from.min(x.len())..]
        .iter()
        .map(|&v| f64::from(v).powi(2))
        .sum()
}

fn read_mono(path: &Path) -> Vec<f32> {
    hound::WavReader::open(path)
        .unwrap()
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

fn write_mono(path: &Path, x: &[f32]) {
    let mut w = hound::WavWriter::create(path, spec(48_000, 1, 16, false)).unwrap();
    for &v in x {
        w.write_sample((v * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn far_end_echo_is_cancelled_and_aec_off_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let far_path = sample("far_speech_clean.wav");
    let far = read_mono(&far_path);
    // The microphone hears the loudspeaker 50 ms later at half level (no near-end talker).
    let delay = 2400;
    let mut mic = vec![0.0f32; far.len()];
    for i in delay..far.len() {
        mic[i] = 0.5 * far[i - delay];
    }
    let mic_path = dir.path().join("mic.wav");
    write_mono(&mic_path, &mic);
    let from = 2 * 48_000; // ERLE after the first 2 s, as the issue measures it
    let mut erle = Vec::new();
    for (mode, tuning) in [
        ("aec3", "library"),
        ("aec3", "near-end"),
        ("off", "library"),
    ] {
        let out_path = dir.path().join(format!("out_{mode}_{tuning}.wav"));
        let out = parla(&[
            "process",
            "--mic",
            mic_path.to_str().unwrap(),
            "--far",
            far_path.to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
            "--aec",
            mode,
            "--aec-tuning",
            tuning,
            "--no-ns",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cleaned = read_mono(&out_path);
        assert_eq!(cleaned.len(), mic.len());
        let e = 10.0 * (energy(&mic, from) / energy(&cleaned, from).max(1e-12)).log10();
        eprintln!("--aec {mode} --aec-tuning {tuning}: echo reduced by {e:.1} dB after 2 s");
        erle.push(e);
    }
    for (e, tuning) in erle[..2].iter().zip(["library", "near-end"]) {
        assert!(*e >= 20.0, "AEC3 ({tuning}) removed only {e:.1} dB of echo");
    }
    assert!(
        erle[2].abs() < 1.0,
        "with --aec off the echo must stay: {:.1} dB",
        erle[2]
    );
}

#[test]
fn unknown_aec_mode_or_tuning_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mic = sample("near_speech_clean.wav");
    let out_path = dir.path().join("o.wav");
    for (flag, value, what) in [
        ("--aec", "loud", "echo canceller mode"),
        ("--aec-tuning", "gentle", "echo canceller tuning"),
    ] {
        let out = parla(&[
            "process",
            "--mic",
            mic.to_str().unwrap(),
            "--far",
            mic.to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
            flag,
            value,
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag}: clap usage error");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(what), "{flag}: {stderr}");
    }
}
