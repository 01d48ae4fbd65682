//! `parla jitter eval` writes its markdown table and PNG plot (a short run on two seeded
//! scenarios so it stays fast; the full run is documented in docs/JITTER.md).
use std::process::Command;

#[test]
fn eval_writes_report_and_plot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_parla"))
        .args([
            "jitter",
            "eval",
            "--seconds",
            "8",
            "--only",
            "wifi",
            "--out-dir",
            dir.path().to_str().expect("utf-8 path"),
        ])
        .output()
        .expect("run parla");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report");
    for needle in [
        "| wifi-good | fixed-60 |",
        "| exp-average |",
        "| neteq-95 |",
        "| parla |",
        "wifi-congested",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    let png = std::fs::read(dir.path().join("delay.png")).expect("plot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "plot suspiciously small: {} bytes",
        png.len()
    );
}
