//! Bad arguments to `parla call` give one clear error line and exit code 1, never a panic.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
#[path = "call/common.rs"]
mod common;

use common::parla_call;
use std::process::{Command, Output};

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
fn bad_arguments_give_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cases: [(&[&str], &str); 7] = [
        (
            &["--trace", "/nonexistent/link.trace"],
            "link trace file '/nonexistent/link.trace' not found",
        ),
        (
            &["--network", "carrier-pigeon"],
            "unknown network 'carrier-pigeon'",
        ),
        (
            &["--network", "fixedfast"],
            "fixedN needs N in milliseconds",
        ),
        (&["--seconds", "0"], "--seconds must be between 1 and 3600"),
        (
            &["--tamper-every", "0"],
            "--tamper-every must be at least 1",
        ),
        (&["--frame-ms", "25"], "invalid call settings"),
        (
            &["--talker-a", "/nonexistent/a.wav"],
            "cannot open talker A file",
        ),
    ];
    for (args, needle) in cases {
        let o = parla_call(args, &out);
        assert_one_line_error(&o, needle);
    }
    // A link trace that is not a Mahimahi trace.
    let bad = dir.path().join("bad.trace");
    std::fs::write(&bad, "10\nnot a number\n").unwrap();
    let o = parla_call(&["--trace", bad.to_str().unwrap()], &out);
    assert_one_line_error(&o, "line 2");
    // No output was written for any of them.
    assert!(!out.join("report.json").exists());
}

#[test]
fn help_lists_the_network_names() {
    let o = Command::new(env!("CARGO_BIN_EXE_parla"))
        .args(["call", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    for name in [
        "mobile-4g",
        "fixedN",
        "wifi-good",
        "lte-handover",
        "tmobile-lte",
    ] {
        assert!(text.contains(name), "{name} missing from: {text}");
    }
}
