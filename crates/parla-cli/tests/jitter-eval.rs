//! `parla jitter eval` writes its markdown table and PNG plot (a short run on two seeded
//! scenarios so it stays fast; the full run is documented in docs/JITTER.md).
use std::process::Command;

/// `parla jitter eval ARGS... --out-dir DIR` into a new temporary folder; panics with its stderr
/// unless it succeeds. Returns the folder and `report.md`.
fn eval(args: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_parla"))
        .args(["jitter", "eval"])
        .args(args)
        .arg("--out-dir")
        .arg(dir.path())
        .output()
        .expect("run parla");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report");
    (dir, md)
}

#[test]
fn eval_writes_report_and_plot() {
    let (dir, md) = eval(&["--seconds", "8", "--only", "wifi"]);
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

#[test]
fn eval_reports_quality_and_matched_late_loss() {
    let (_dir, md) = eval(&["--seconds", "6", "--only", "wifi-good", "--frontier"]);
    for needle in [
        "| R | MOS |",
        "higher R on",
        "median R",
        "Matched late loss",
        "| wifi-good | fixed-60 |",
        "at neteq-95's late loss, parla has lower mean delay on",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    // Every table row of the main table carries an R and a MOS in range.
    let rows: Vec<&str> = md
        .lines()
        .take_while(|l| !l.starts_with("\"beats\""))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| scenario"))
        .collect();
    assert_eq!(rows.len(), 4, "{md}");
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let mos: f64 = cells[cells.len() - 1].parse().expect("MOS");
        assert!((1.0..=4.5).contains(&mos), "{row}");
    }
}
