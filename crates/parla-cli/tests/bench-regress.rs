//! Regression mode: a run compared with its own report passes; the same run on a deliberately
//! degraded configuration (the `PARLA_BENCH_DEGRADE` test hook: noise suppression off, Opus at
//! 6 kbps) fails with a non-zero exit status and names the metrics that got worse.

use std::path::Path;
use std::process::Command;

fn bench(out: &Path, degrade: &str, baseline: Option<&Path>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_parla"));
    c.args(["bench", "ns", "codec", "--synthetic-speech", "--jobs", "2"])
        .args([
            "--seconds",
            "1.5",
            "--cases",
            "ns/babble-5db-48k*",
            "--cases",
            "codec/48k-32kbps*",
        ])
        .arg("--out")
        .arg(out)
        .env("PARLA_BENCH_DEGRADE", degrade);
    if let Some(b) = baseline {
        c.arg("--baseline").arg(b);
    }
    c.output().expect("run parla")
}

#[test]
fn passes_against_itself_and_fails_on_a_degraded_build() {
    let base = tempfile::tempdir().expect("tmp");
    let out = bench(base.path(), "none", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let baseline = base.path().join("report.json");

    let same = tempfile::tempdir().expect("tmp");
    let out = bench(same.path(), "none", Some(&baseline));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("regression check passed"), "{err}");

    for (hook, metric) in [("ns-off", "ns/babble"), ("opus-6k", "codec/48k")] {
        let bad = tempfile::tempdir().expect("tmp");
        let out = bench(bad.path(), hook, Some(&baseline));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{hook}: should fail\n{err}");
        assert!(err.contains("regression:"), "{err}");
        assert!(err.contains(&format!("worse: {metric}")), "{hook}: {err}");
        let md = std::fs::read_to_string(bad.path().join("report.md")).expect("md");
        assert!(md.contains("Result: **FAIL**"));
    }
}
