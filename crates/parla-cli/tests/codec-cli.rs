//! `parla encode` / `parla decode` end to end on small files.
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn parla(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_parla"))
        .args(args)
        .output()
        .expect("run parla");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "parla {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn wav_to_ogg_opus_and_back_with_loss() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    let rate = 16_000u32;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    let n = rate as usize * 3;
    for i in 0..n {
        let t = i as f32 / rate as f32;
        // Voiced "speech" for 1 s, silence for 1 s, voiced again.
        let on = if (1.0..2.0).contains(&t) { 0.0 } else { 1.0 };
        let s: f32 = (1..8)
            .map(|h| (2.0 * std::f32::consts::PI * 140.0 * h as f32 * t).sin() / h as f32)
            .sum();
        w.write_sample((s * 6000.0 * on) as i16).unwrap();
    }
    w.finalize().unwrap();
    let opus = dir.path().join("out.opus");
    let summary = parla(&[
        "encode",
        "--input",
        p(&wav),
        "--output",
        p(&opus),
        "--bitrate",
        "24000",
        "--frame-ms",
        "20",
        "--fec",
        "--dtx",
    ]);
    assert!(summary.contains("packets: 151"), "{summary}");
    assert!(summary.contains("kbps achieved"), "{summary}");
    assert!(summary.contains("CPU per 20 ms frame"), "{summary}");

    let back = dir.path().join("back.wav");
    let summary = parla(&[
        "decode",
        "--input",
        p(&opus),
        "--output",
        p(&back),
        "--loss",
        "20",
        "--seed",
        "7",
        "--rate",
        "16000",
    ]);
    assert!(summary.contains("recovered by FEC"), "{summary}");
    let r = hound::WavReader::open(&back).unwrap();
    assert_eq!(r.spec().sample_rate, rate);
    // The Ogg end trimming gives back exactly the input length.
    assert_eq!(r.len() as usize, n);
    // Same loss with the same seed: same summary (reproducible).
    let again = parla(&[
        "decode",
        "--input",
        p(&opus),
        "--output",
        p(&back),
        "--loss",
        "20",
        "--seed",
        "7",
        "--rate",
        "16000",
    ]);
    let dropped = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("packets:"))
            .map(str::to_string)
    };
    assert_eq!(dropped(&summary), dropped(&again));
}

#[test]
fn test_pattern_to_h264_and_vp8_and_back_to_y4m() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["h264", "ivf"] {
        let coded = dir.path().join(format!("pattern.{ext}"));
        let summary = parla(&[
            "encode",
            "--pattern",
            "320x240",
            "--frames",
            "40",
            "--output",
            p(&coded),
            "--bitrate",
            "300000",
            "--keyframe-interval",
            "20",
        ]);
        assert!(summary.contains("encoded 40 frames"), "{summary}");
        assert!(summary.contains("(2 keyframes)"), "{summary}");
        let y4m = dir.path().join(format!("back-{ext}.y4m"));
        let summary = parla(&["decode", "--input", p(&coded), "--output", p(&y4m)]);
        assert!(summary.contains("40 pictures"), "{summary}");
        // Re-encode the decoded Y4M: the Y4M path works both ways.
        let again = dir.path().join(format!("again.{ext}"));
        let summary = parla(&["encode", "--input", p(&y4m), "--output", p(&again)]);
        assert!(summary.contains("encoded 40 frames (320x240"), "{summary}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_parla"))
        .args([
            "decode",
            "--input",
            "/nonexistent.ivf",
            "--output",
            "/tmp/x.y4m",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn truncated_input_is_a_one_line_error_and_leaves_no_output() {
    // `parla encode` reads its WAV frame by frame and `parla decode` its Ogg file packet by
    // packet: input that ends before its header says (or mid-page) fails with one line, never
    // a panic, and the half-written output is removed.
    let dir = tempfile::tempdir().unwrap();
    let (wav, cut_wav, opus, cut_opus, out) = (
        dir.path().join("in.wav"),
        dir.path().join("cut.wav"),
        dir.path().join("in.opus"),
        dir.path().join("cut.opus"),
        dir.path().join("out"),
    );
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..32_000 {
        w.write_sample(((i as f32 * 0.07).sin() * 8_000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    let bytes = std::fs::read(&wav).unwrap();
    std::fs::write(&cut_wav, &bytes[..bytes.len() / 2]).unwrap();
    parla(&["encode", "--input", p(&wav), "--output", p(&opus)]);
    let bytes = std::fs::read(&opus).unwrap();
    std::fs::write(&cut_opus, &bytes[..bytes.len() * 2 / 3]).unwrap();
    for (cmd, input, output, needle) in [
        (
            "encode",
            &cut_wav,
            out.with_extension("opus"),
            "truncated or corrupt",
        ),
        ("decode", &cut_opus, out.with_extension("wav"), "corrupt"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_parla"))
            .args([cmd, "--input", p(input), "--output", p(&output)])
            .output()
            .expect("run parla");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {stderr}");
        assert!(!stderr.contains("panicked"), "{cmd}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{cmd}: {stderr}");
        assert!(stderr.contains(needle), "{cmd}: {stderr}");
        assert!(!output.exists(), "{cmd} left a half-written output");
    }
}
