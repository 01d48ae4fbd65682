//! Keys of `parla rtp send` and `parla rtp recv` never come from the command line: the removed
//! `--e2ee-key HEX` is refused (usage error, exit 2) with a message that says what to use and
//! why, without repeating the key; bad key files and `PARLA_E2EE_KEY` values give one clear
//! line and exit 1 before anything is sent or written, never a panic.
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

#[path = "rtp/common.rs"]
mod common;

use std::path::Path;
use std::process::Output;

use common::*;

const KEY: &str = "8f3a2b1c4d5e6f708192a3b4c5d6e7f8";

/// Runs `parla rtp send` or `recv` (`which`) with `args`, and `PARLA_E2EE_KEY` set to `env` if
/// given. The sender's input and the receiver's output are in `dir`.
fn run(which: &str, dir: &Path, args: &[&str], env: Option<&str>) -> Output {
    let mut cmd = parla();
    cmd.args(["rtp", which]);
    if which == "send" {
        cmd.arg("--input")
            .arg(dir.join("in.wav"))
            .args(["--dest", "127.0.0.1:9"]);
    } else {
        cmd.args(["--listen", "127.0.0.1:0", "--seconds", "0.1", "--output"])
            .arg(dir.join("out.wav"));
    }
    cmd.args(args);
    if let Some(v) = env {
        cmd.env(KEY_ENV, v);
    }
    cmd.output().unwrap()
}

/// One line on stderr, `parla: error: ...` containing every needle, with exit `code`.
fn assert_one_line_error(out: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("parla: error: "), "{stderr}");
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "expected '{needle}' in: {stderr}"
        );
    }
    stderr
}

#[test]
fn the_removed_key_flag_is_refused_and_says_what_to_use() {
    let (_d, dir) = tempdir();
    let joined = format!("--e2ee-key={KEY}");
    for which in ["send", "recv"] {
        for args in [
            &["--e2ee-key", KEY][..],
            &[joined.as_str()][..],
            &["--e2ee-key"][..],
        ] {
            let out = run(which, &dir, args, None);
            let err = assert_one_line_error(
                &out,
                2,
                &["--e2ee-key was removed", "--e2ee-key-file", KEY_ENV, "ps"],
            );
            assert!(!err.contains(KEY), "the key was repeated: {err}");
        }
    }
    assert!(!dir.join("out.wav").exists());
}

#[test]
fn bad_keys_give_one_clear_line() {
    let (_d, dir) = tempdir();
    let short = key_file(&dir, "short.hex", "0011223344556677");
    let not_hex = key_file(&dir, "nothex.hex", &"zz".repeat(16));
    let odd = key_file(&dir, "odd.hex", &KEY[1..]);
    let good = key_file(&dir, "good.hex", KEY);
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let missing = dir.join("missing.hex");
    let cases: Vec<(Vec<String>, Option<&str>, Vec<String>)> = vec![
        (
            vec!["--e2ee-key-file".into(), path(&short)],
            None,
            vec![
                format!("key file '{}'", short.display()),
                "16 to 64 bytes".into(),
                "got 8 bytes".into(),
            ],
        ),
        (
            vec!["--e2ee-key-file".into(), path(&not_hex)],
            None,
            vec!["must be hexadecimal".into()],
        ),
        (
            vec!["--e2ee-key-file".into(), path(&odd)],
            None,
            vec!["even number of digits".into()],
        ),
        (
            vec!["--e2ee-key-file".into(), path(&missing)],
            None,
            vec![
                format!("key file '{}'", missing.display()),
                "cannot open it".into(),
            ],
        ),
        (
            vec![],
            Some("0011"),
            vec![format!("{KEY_ENV} must hold a key of 16 to 64 bytes")],
        ),
        (
            vec![],
            Some(""),
            vec![format!("{KEY_ENV} must hold a key of 16 to 64 bytes")],
        ),
        (
            vec![],
            Some("not a key at all, but long enough to be one"),
            vec![format!("{KEY_ENV} must be hexadecimal")],
        ),
        (
            vec!["--e2ee-key-file".into(), path(&good)],
            Some(KEY),
            vec![
                "the key is given twice".into(),
                "--e2ee-key-file".into(),
                KEY_ENV.into(),
            ],
        ),
    ];
    for which in ["send", "recv"] {
        for (args, env, needles) in &cases {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
            let out = run(which, &dir, &args, *env);
            let err = assert_one_line_error(&out, 1, &needles);
            assert!(!err.contains(KEY), "the key was repeated: {err}");
        }
    }
    // The key is checked first: nothing was written.
    assert!(!dir.join("out.wav").exists());
}

#[test]
fn help_names_the_key_file_and_the_environment_variable_only() {
    for which in ["send", "recv"] {
        let out = parla().args(["rtp", which, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--e2ee-key-file <PATH>"), "{text}");
        assert!(text.contains(KEY_ENV), "{text}");
        assert!(!text.contains("--e2ee-key "), "{text}");
        assert!(!text.contains("<HEX>"), "{text}");
    }
}
