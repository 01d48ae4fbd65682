//! `parla bench --shard K/N` and `parla bench merge`: three shard runs of a small corpus merge
//! into the unsharded run's report.json (apart from the run-specific fields), the regression
//! mode works on the merged report (as the run and as the baseline), and bad shard arguments or
//! mismatched shard reports fail with a message, never a panic.

use std::path::Path;
use std::process::{Command, Output};

use parla_harness::report::Report;
use parla_harness::shard::{load_report, without_run_specific};

const SELECTION: [&str; 14] = [
    "codec",
    "resample",
    "jitter",
    "--synthetic-speech",
    "--seconds",
    "1",
    "--network-seconds",
    "3",
    "--cases",
    "codec/*",
    "--cases",
    "resample/*",
    "--cases",
    "jitter/wifi-good",
];

fn parla(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parla"))
        .args(args)
        .args(paths)
        .output()
        .expect("run parla")
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

fn failed(out: &Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(what), "expected {what:?} in: {err}");
    err
}

fn bench(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["bench"];
    args.extend(SELECTION);
    args.extend(extra);
    args.push("--out");
    parla(&args, &[out])
}

fn comparable(r: &Report) -> serde_json::Value {
    serde_json::to_value(without_run_specific(r)).expect("json")
}

#[test]
fn shards_merge_into_the_unsharded_report_and_regression_mode_works_on_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    ok(&bench(&d.join("whole"), &[]));
    let mut shards = Vec::new();
    for k in 1..=3 {
        let p = d.join(format!("s{k}"));
        let err = ok(&bench(&p, &["--shard", &format!("{k}/3")]));
        assert!(err.contains(&format!("shard {k}/3:")), "{err}");
        let md = std::fs::read_to_string(p.join("report.md")).expect("md");
        assert!(md.contains(&format!("Shard {k} of a run split in 3")));
        shards.push(p.join("report.json"));
    }
    let s = |i: usize| shards[i].as_path();
    let merged = d.join("merged");
    ok(&parla(
        &["bench", "merge", "--out"],
        &[&merged, s(2), s(0), s(1)],
    ));
    let whole = load_report(&d.join("whole/report.json")).expect("whole");
    let m = load_report(&merged.join("report.json")).expect("merged");
    assert_eq!(comparable(&m), comparable(&whole));
    assert_eq!(whole.corpus_hashes.len(), 8);
    assert_eq!(m.shard_runs.len(), 3);
    let md = std::fs::read_to_string(merged.join("report.md")).expect("md");
    assert!(md.contains("Merged from 3 shards"), "{md}");

    // Regression mode: the merged run against the unsharded baseline, the unsharded run
    // against the merged report as baseline, and a degraded merged run fails.
    let err = ok(&parla(
        &["bench", "merge", "--baseline"],
        &[
            &d.join("whole/report.json"),
            Path::new("--out"),
            &d.join("m2"),
            s(0),
            s(1),
            s(2),
        ],
    ));
    assert!(err.contains("regression check passed"), "{err}");
    let err = ok(&bench(&d.join("again"), &["--baseline", &path(&merged)]));
    assert!(err.contains("regression check passed"), "{err}");
    let again = load_report(&d.join("again/report.json")).expect("again");
    let m2 = load_report(&d.join("m2/report.json")).expect("m2");
    let (a, b) = (
        again.regression.expect("compared"),
        m2.regression.expect("compared"),
    );
    assert_eq!((a.compared, a.worse.len()), (b.compared, b.worse.len()));
    assert!(a.compared > 20, "{}", a.compared);
    let bad = d.join("bad");
    for k in 1..=2 {
        let out = Command::new(env!("CARGO_BIN_EXE_parla"))
            .arg("bench")
            .args(SELECTION)
            .args(["--shard", &format!("{k}/2"), "--out"])
            .arg(bad.join(k.to_string()))
            .env("PARLA_BENCH_DEGRADE", "opus-6k")
            .output()
            .expect("run");
        ok(&out);
    }
    let err = failed(
        &parla(
            &["bench", "merge", "--baseline"],
            &[
                &merged.join("report.json"),
                Path::new("--out"),
                &bad.join("merged"),
                &bad.join("1/report.json"),
                &bad.join("2/report.json"),
            ],
        ),
        "regression:",
    );
    assert!(err.contains("worse: codec/"), "{err}");

    // Refused merges: a shard missing, a shard twice, an unsharded report, shards of another
    // corpus (seed) or another split (N), a file that is not a report.
    let m = ["bench", "merge", "--out"];
    let x = d.join("x");
    failed(&parla(&m, &[&x, s(0), s(1)]), "missing: 3/3");
    failed(&parla(&m, &[&x, s(0), s(1), s(1), s(2)]), "given twice");
    failed(
        &parla(&m, &[&x, s(0), &d.join("whole/report.json")]),
        "not a shard report",
    );
    ok(&bench(&d.join("seed2"), &["--shard", "2/3", "--seed", "2"]));
    failed(
        &parla(&m, &[&x, s(0), &d.join("seed2/report.json"), s(2)]),
        "corpus seed",
    );
    failed(
        &parla(&m, &[&x, s(0), &bad.join("2/report.json"), s(2)]),
        "shard count",
    );
    failed(&parla(&m, &[&x, &merged.join("report.md")]), "as a report");
    failed(&parla(&m, &[&x, &d.join("nothing.json")]), "reading");
}

fn path(p: &Path) -> String {
    p.join("report.json").display().to_string()
}

#[test]
fn bad_shard_arguments_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    for spec in ["0/3", "4/3", "3", "x/3", "1/0"] {
        failed(&bench(dir.path(), &["--shard", spec]), "--shard");
    }
    failed(
        &bench(dir.path(), &["--shard", "1/2", "--scaling"]),
        "--scaling",
    );
    // merge needs at least one report.
    let out = parla(&["bench", "merge"], &[]);
    assert!(!out.status.success());
}
