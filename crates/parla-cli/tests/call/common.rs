//! Shared by the `call-*` tests: run `parla call` from the workspace root (where the bundled
//! samples are) into a temporary folder.
#![allow(dead_code)] // Each test file uses its own subset.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root: `parla call` finds `samples/` from there.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `parla call ARGS... --out OUT` run from the workspace root; whatever it returns.
pub fn parla_call(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parla"))
        .current_dir(root())
        .arg("call")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run parla")
}

/// A finished successful call: its output folder, standard output and JSON report.
pub struct Finished {
    /// The output folder (removed when this is dropped).
    pub dir: tempfile::TempDir,
    /// What `parla call` printed (the text report).
    pub stdout: String,
    /// `report.json`.
    pub json: serde_json::Value,
}

/// `parla call ARGS...` into a new temporary folder; panics with its stderr unless it succeeds.
pub fn call_ok(args: &[&str]) -> Finished {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = parla_call(args, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "parla call {args:?} failed: {stderr}");
    let report = std::fs::read_to_string(dir.path().join("report.json")).expect("report.json");
    let json = serde_json::from_str(&report).expect("report.json is JSON");
    Finished {
        dir,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        json,
    }
}
