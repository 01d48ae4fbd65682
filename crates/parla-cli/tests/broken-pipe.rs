//! A reader that goes away (`parla cc eval | head`) stops the command quietly: no panic from
//! `println!` on EPIPE, a successful exit, nothing on standard error.
use std::process::{Command, Stdio};

#[test]
fn closed_stdout_pipe_exits_quietly() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    // The reader is gone before the command writes: its first line fails with EPIPE.
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_parla"))
        .args(["netsim", "--list"])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run parla");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {:?}, stderr: {stderr}",
        out.status
    );
    assert!(stderr.is_empty(), "stderr: {stderr}");
}

#[test]
fn open_stdout_pipe_still_prints() {
    // The same command with a reader prints its list (the hook changes nothing else).
    let out = Command::new(env!("CARGO_BIN_EXE_parla"))
        .args(["netsim", "--list"])
        .output()
        .expect("run parla");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 3);
}
