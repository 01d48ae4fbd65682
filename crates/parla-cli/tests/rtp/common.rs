//! Shared helpers of the `parla rtp` tests: test audio, WAV I/O, child processes that are
//! killed when a test fails, and the comparison of decoded audio with what was sent.
//!
//! These tests run real processes over real loopback UDP in real time, so unlike the sans-IO
//! tests they wait for processes (bounded by timeouts, polling every 20 ms).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The environment variable `parla rtp` reads a key from.
pub const KEY_ENV: &str = "PARLA_E2EE_KEY";

/// The `parla` binary under test, without a key in its environment (unless a test adds one).
pub fn parla() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parla"));
    cmd.env_remove(KEY_ENV);
    cmd
}

/// Writes `hex` (with a trailing newline, as an editor would) to `dir/name` and returns the
/// path, for `--e2ee-key-file`.
pub fn key_file(dir: &Path, name: &str, hex: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{hex}\n")).unwrap();
    path
}

/// The SFrame key id in a summary line (`... key id 0x0123456789ab)` from `parla rtp send`,
/// `current 0x0123456789ab` from `parla rtp recv`), after `key`.
pub fn key_id_after(text: &str, key: &str) -> u64 {
    let i = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
        + key.len();
    let hex: String = text[i..]
        .trim_start_matches("0x")
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    u64::from_str_radix(&hex, 16).unwrap_or_else(|_| panic!("no key id after {key:?} in:\n{text}"))
}

/// Whether `tool` runs (`tool VERSION_FLAG`); prints why the test is skipped when not.
pub fn have_tool(tool: &str, version_flag: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIPPED {test}: `{tool}` is not installed (run scripts/setup.sh)");
    }
    ok
}

/// The first `seconds` of the recorded speech sample (48 kHz mono), from `samples/`.
pub fn speech(seconds: f64) -> (Vec<f32>, u32) {
    (parla_testkit::speech::near_speech_seconds(seconds), 48_000)
}

/// Writes mono 16-bit PCM.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) {
    parla_testkit::write_wav(path, samples, rate).unwrap_or_else(|e| panic!("{e}"));
}

/// Reads a WAV file (integer or float): the first channel's samples, the rate and the
/// channel count. Panics (fails the test) if the file is not a valid, complete WAV.
pub fn read_wav(path: &Path) -> (Vec<f32>, u32, u16) {
    let wav = parla_testkit::read_wav(path).unwrap_or_else(|e| panic!("not a valid WAV: {e}"));
    (wav.channel(0).unwrap_or_default(), wav.rate, wav.channels)
}

/// A child process that is killed (and reaped) when dropped, so a failing test leaves no
/// process behind.
pub struct Guard {
    pub child: Child,
    pub name: &'static str,
}

impl Guard {
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Guard {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Guard { child, name }
    }

    /// Waits up to `limit` for the process to exit; fails the test if it does not.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < end,
                "{} did not finish within {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process and returns its stdout and stderr; fails the test on a
    /// non-zero exit.
    pub fn finish(mut self, limit: Duration) -> String {
        let status = self.wait(limit);
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut o, &mut out).unwrap();
        }
        if let Some(mut e) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut err).unwrap();
        }
        assert!(
            status.success(),
            "{} failed ({status}): {err}\n{out}",
            self.name
        );
        out
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running `parla rtp recv` and the UDP port it listens on.
pub struct Receiver {
    pub guard: Guard,
    pub port: u16,
    stdout: BufReader<ChildStdout>,
}

impl Receiver {
    /// Starts `parla rtp recv --listen 127.0.0.1:0 --output OUTPUT EXTRA...` and reads the port
    /// it bound from its first line.
    pub fn start(output: &Path, extra: &[&str]) -> Receiver {
        let mut cmd = parla();
        cmd.args(["rtp", "recv", "--listen", "127.0.0.1:0", "--output"])
            .arg(output)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = Guard::spawn("parla rtp recv", &mut cmd);
        let mut stdout = BufReader::new(guard.child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on 127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line from parla rtp recv: {line:?}"))
            .parse()
            .unwrap();
        Receiver {
            guard,
            port,
            stdout,
        }
    }

    /// Waits for the receiver to stop by itself and returns its summary.
    pub fn finish(mut self, limit: Duration) -> String {
        let status = self.guard.wait(limit);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut out).unwrap();
        let mut err = String::new();
        if let Some(mut e) = self.guard.child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut err).unwrap();
        }
        assert!(
            status.success(),
            "parla rtp recv failed ({status}): {err}\n{out}"
        );
        out
    }
}

/// A free even UDP port on loopback whose odd neighbour (for RTCP) is free too.
pub fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p % 2 == 1 || p == u16::MAX {
            continue;
        }
        if UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free UDP port pair on loopback");
}

/// Waits up to `limit` for `path` to exist.
pub fn wait_for_file(path: &Path, limit: Duration) {
    let end = Instant::now() + limit;
    while !path.exists() {
        assert!(Instant::now() < end, "{} did not appear", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value after `key` in `text` (e.g. `number_after(s, "accepted ")`).
pub fn number_after(text: &str, key: &str) -> f64 {
    let i = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
        + key.len();
    let num: String = text[i..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse()
        .unwrap_or_else(|_| panic!("no number after {key:?} in:\n{text}"))
}

/// How `got` (decoded) matches `reference`: the lag of `got` behind it in samples, the
/// normalised correlation at that lag and the SI-SDR (dB) of the aligned signals.
pub fn compare(reference: &[f32], got: &[f32], max_lag: usize) -> (usize, f64, f64) {
    // The lag from the first second (the search costs n * max_lag).
    let head = reference.len().min(48_000);
    let (lag, corr) = parla_metrics::estimate_delay(&reference[..head], got, max_lag);
    let (r, g) = parla_metrics::align(reference, got, lag);
    (lag, corr, parla_metrics::si_sdr_db(r, g))
}

/// A fresh temporary folder.
pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().to_path_buf();
    (d, p)
}
