//! `parla bench` on a tiny corpus (one case per suite, seconds of audio, one 20 s call, the
//! constant-link congestion-control case): it writes
//! report.json, report.md and the plots, scores every suite, and the corpus hashes are the same
//! on a second run with the same seed.

use std::path::Path;
use std::process::Command;

fn bench(out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_parla"))
        .args([
            "bench",
            "--synthetic-speech",
            "--jobs",
            "2",
            "--seconds",
            "1.5",
        ])
        .args(["--network-seconds", "4", "--call-seconds", "20", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("run parla")
}

const CASES: [&str; 16] = [
    "--cases",
    "ns/pink-5db-48k*",
    "--cases",
    "aec/dt-d120*",
    "--cases",
    "codec/16k*",
    "--cases",
    "jitter/wifi-good",
    "--cases",
    "resample/44100-48000",
    "--cases",
    "chain/dt-d40*",
    "--cases",
    "call/fixed40",
    "--cases",
    "cc/constant-1mbps",
];

#[test]
fn writes_the_report_files_and_scores_every_suite() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = bench(dir.path(), &CASES);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for f in [
        "report.json",
        "report.md",
        "quality.png",
        "jitter_delay.png",
        "cpu.png",
    ] {
        let p = dir.path().join(f);
        assert!(
            p.metadata().map(|m| m.len() > 100).unwrap_or(false),
            "{f} missing or empty"
        );
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("json"),
    )
    .expect("parse");
    let outcomes = json["outcomes"].as_array().expect("outcomes");
    let metric = |case: &str, m: &str| -> f64 {
        outcomes
            .iter()
            .find(|o| {
                o["case"].as_str().is_some_and(|c| c.starts_with(case)) && o["system"] == "parla"
            })
            .and_then(|o| o["metrics"][m].as_f64())
            .unwrap_or_else(|| panic!("{case} {m} missing"))
    };
    // Noise suppression raises the segmental SNR of a 5 dB pink-noise case; the echo canceller
    // removes echo; the resampler keeps the spectrum; Opus at 16 kbps keeps it close; the
    // jitter buffer plays with little late loss on good Wi-Fi.
    assert!(metric("ns/pink-5db", "seg_snr_gain_db") > 1.0);
    assert!(metric("aec/dt-d120", "erle_db") > 10.0);
    assert!(metric("chain/dt-d40", "erle_db") > 10.0);
    assert!(metric("resample/44100-48000", "lsd_out_db") < 1.0);
    assert!(metric("codec/16k", "lsd_out_db") < 10.0);
    assert!(metric("jitter/wifi-good", "mean_delay_ms") > 0.0);
    assert!(metric("jitter/wifi-good", "late_loss_pct") < 5.0);
    // A whole call over a clean 40 ms path: both directions heard, echo removed at both ends,
    // every frame authenticated.
    assert!(metric("call/fixed40", "ab_m2e_median_ms") > 40.0);
    assert!(metric("call/fixed40", "ba_m2e_median_ms") > 40.0);
    assert!(metric("call/fixed40", "a_erle_db") > 10.0);
    assert!(metric("call/fixed40", "b_erle_db") > 10.0);
    assert_eq!(metric("call/fixed40", "ab_e2ee_failures"), 0.0);
    // Congestion control on the constant 1 Mbit/s link (the acceptance point), with
    // the fixed sender and the estimator off beside it, and every feedback authenticated.
    assert!(metric("cc/constant-1mbps", "utilization_pct") >= 85.0);
    assert!(metric("cc/constant-1mbps", "queue_p95_ms") <= 60.0);
    assert!(metric("cc/constant-1mbps", "off_utilization_pct") < 50.0);
    assert!(metric("cc/constant-1mbps", "fixed_rate_kbps") > 0.0);
    assert_eq!(metric("cc/constant-1mbps", "feedback_rejected"), 0.0);
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("md");
    for s in [
        "### ns",
        "### aec",
        "### chain",
        "### codec",
        "### jitter",
        "### resample",
        "### call",
        "### cc",
    ] {
        assert!(md.contains(s), "report.md lacks {s}");
    }
    assert!(md.contains("CPU per call"));

    // Same seed: the same corpus (hash of every case's samples or packets).
    let dir2 = tempfile::tempdir().expect("tmp");
    let out2 = bench(dir2.path(), &CASES);
    assert!(out2.status.success());
    let json2: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir2.path().join("report.json")).expect("json"),
    )
    .expect("parse");
    assert_eq!(json["corpus_hashes"], json2["corpus_hashes"]);
    assert_eq!(json["corpus_hashes"].as_object().map(|o| o.len()), Some(8));
}

#[test]
fn rejects_bad_arguments() {
    let dir = tempfile::tempdir().expect("tmp");
    for args in [
        &["nosuchsuite"][..],
        &["--jobs", "0"],
        &["--cases", "nothing-matches-this"],
        &["--tolerance", "db=x"],
        &["--call-seconds", "0.5"],
    ] {
        let out = bench(dir.path(), args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(String::from_utf8_lossy(&out.stderr).contains("error"));
    }
}
