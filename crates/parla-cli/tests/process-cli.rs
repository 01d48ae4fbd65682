//! `parla process` end to end: the bundled sample, other WAV formats, and every kind of bad input
//! (one-line error, non-zero exit, never a panic). The command streams its files (issue 18,
//! point 3): what it writes block by block is sample for sample what the send chain gives for
//! the whole recording at once, and a failed run leaves no half-written output.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
use std::path::Path;
use std::process::{Command, Output};

use parla_dsp::aec::{AecConfig, AecMode, EchoCanceller};
use parla_dsp::chain::{SendChain, SendChainConfig};
use parla_testkit::data::sample_path as sample;

fn parla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parla"))
        .args(args)
        .output()
        .expect("run parla")
}

/// Run parla and check that it succeeded.
fn parla_ok(args: &[&str]) -> Output {
    let out = parla(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The JSON report `parla process --report` wrote.
fn read_report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
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
    let out = parla_ok(&[
        "process",
        "--mic",
        input.to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("real-time factor"), "{stdout}");
    assert!(stdout.contains("ns"), "{stdout}");
    let a = hound::WavReader::open(&input).unwrap();
    let b = hound::WavReader::open(&out_path).unwrap();
    assert_eq!(a.spec().sample_rate, b.spec().sample_rate);
    let frame = a.spec().sample_rate / 100;
    assert!(a.duration().abs_diff(b.duration()) <= frame);
    let json = read_report(&report);
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

/// A 44.1 kHz stereo microphone (2.3 s) with the echo of a shorter far end (1.9 s), written to
/// `mic44.wav` and `far44.wav` in `dir`; returns the interleaved microphone and the far end.
fn echo_at_44k(dir: &Path) -> (Vec<f32>, Vec<f32>) {
    let rate = 44_100;
    let left = signal(rate, 2.3, 300.0, 1);
    let right = signal(rate, 2.3, 410.0, 2);
    let far = signal(rate, 1.9, 520.0, 3);
    let mut mic = left;
    for (i, m) in mic.iter_mut().enumerate() {
        *m = 0.8 * *m + 0.3 * far.get(i.wrapping_sub(2_000)).copied().unwrap_or(0.0);
    }
    let stereo: Vec<f32> = mic.iter().zip(&right).flat_map(|(&l, &r)| [l, r]).collect();
    write_float(&dir.join("mic44.wav"), spec(rate, 2, 32, true), &stereo);
    write_float(&dir.join("far44.wav"), spec(rate, 1, 32, true), &far);
    (stereo, far)
}

#[test]
fn streamed_output_is_the_whole_file_chains_output_bit_for_bit() {
    // 44.1 kHz (resamplers at both ends), a stereo microphone (the downmix happens while
    // streaming), a far end shorter than the microphone, AECM (deterministic and fast in debug
    // builds) and noise suppression.
    let dir = tempfile::tempdir().unwrap();
    let rate = 44_100;
    let (stereo, far) = echo_at_44k(dir.path());
    let (mic_path, far_path, out_path) = (
        dir.path().join("mic44.wav"),
        dir.path().join("far44.wav"),
        dir.path().join("out.wav"),
    );
    parla_ok(&[
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
    write_float(
        &full,
        spec(48_000, 1, 32, true),
        &signal(48_000, 1.5, 300.0, 4),
    );
    // Keep the header (which promises 1.5 s) and the first 0.5 s of samples.
    let bytes = std::fs::read(&full).unwrap();
    std::fs::write(&cut, &bytes[..44 + 4 * 24_000]).unwrap();
    // Both ways: one thread, and two (the file is read on the echo canceller's thread while
    // the other one writes the output).
    for threads in ["1", "2"] {
        for (mic, far) in [(&cut, &full), (&full, &cut)] {
            let out = parla(&[
                "process",
                "--mic",
                mic.to_str().unwrap(),
                "--far",
                far.to_str().unwrap(),
                "--threads",
                threads,
                "--out",
                out_path.to_str().unwrap(),
            ]);
            assert_one_line_error(&out, "truncated or corrupt");
            assert!(
                !out_path.exists(),
                "--threads {threads}: a failed run must not leave a half-written output"
            );
        }
    }
}

#[test]
fn two_threads_write_the_same_bytes_as_one() {
    // The bundled near-end speech with the bundled far end's echo mixed in, AEC3 and noise
    // suppression (what `--threads` defaults to two for), and the 44.1 kHz stereo case of the
    // streaming test with AECM (resamplers at both ends).
    let dir = tempfile::tempdir().unwrap();
    echo_at_44k(dir.path());
    let (mic44, far44) = (dir.path().join("mic44.wav"), dir.path().join("far44.wav"));
    let near = read_mono(&sample("near_speech_clean.wav"));
    let far48 = read_mono(&sample("far_speech_clean.wav"));
    let mut mic48 = near[..near.len().min(5 * 48_000)].to_vec();
    for (i, m) in mic48.iter_mut().enumerate() {
        *m = 0.5 * *m + 0.4 * far48.get(i.wrapping_sub(4_800)).copied().unwrap_or(0.0);
    }
    let mic48_path = dir.path().join("mic48.wav");
    write_mono(&mic48_path, &mic48);
    let far48_path = sample("far_speech_clean.wav");
    for (mic, far, aec) in [
        (&mic48_path, &far48_path, "aec3"),
        (&mic44, &far44, "mobile"),
    ] {
        let mut written = Vec::new();
        for threads in ["1", "2"] {
            let out_path = dir.path().join(format!("out-{aec}-{threads}.wav"));
            let report = dir.path().join(format!("report-{aec}-{threads}.json"));
            parla_ok(&[
                "process",
                "--mic",
                mic.to_str().unwrap(),
                "--far",
                far.to_str().unwrap(),
                "--aec",
                aec,
                "--threads",
                threads,
                "--out",
                out_path.to_str().unwrap(),
                "--report",
                report.to_str().unwrap(),
            ]);
            let json = read_report(&report);
            assert_eq!(json["threads"].as_u64(), Some(threads.parse().unwrap()));
            let calls: Vec<(String, u64)> = json["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap().to_string(),
                        s["calls"].as_u64().unwrap(),
                    )
                })
                .collect();
            written.push((
                std::fs::read(&out_path).unwrap(),
                json["frames"].as_u64().unwrap(),
                json["chain_delay_ms"].as_f64().unwrap(),
                calls,
            ));
        }
        let (one, two) = (&written[0], &written[1]);
        assert!(one.0.len() > 44 + 4 * 48_000, "{aec}: output too short");
        assert!(one.0 == two.0, "{aec}: the two-thread output differs");
        assert_eq!(one.1, two.1, "{aec}: frames processed");
        assert_eq!(one.2, two.2, "{aec}: chain delay");
        assert_eq!(one.3, two.3, "{aec}: stage calls");
    }
}

#[test]
fn threads_other_than_one_or_two_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.wav");
    for bad in ["0", "3", "two"] {
        let out = parla(&[
            "process",
            "--threads",
            bad,
            "--out",
            out_path.to_str().unwrap(),
        ]);
        assert!(!out.status.success(), "--threads {bad} was accepted");
        assert!(!out_path.exists());
    }
}

#[test]
fn nan_or_infinite_samples_are_a_one_line_error_and_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.wav");
    for (what, bad) in [("NaN", f32::NAN), ("inf", f32::INFINITY)] {
        let mut x = signal(48_000, 1.0, 300.0, 5);
        x[30_000] = bad;
        let mic_path = dir.path().join(format!("{what}.wav"));
        write_float(&mic_path, spec(48_000, 1, 32, true), &x);
        let out = parla(&[
            "process",
            "--mic",
            mic_path.to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
        ]);
        assert_one_line_error(&out, &format!("non-finite sample ({what}) at 0.625 s"));
        assert!(
            !out_path.exists(),
            "a failed run must not leave a half-written output"
        );
    }
}
