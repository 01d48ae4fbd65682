//! Headless ALSA devices for the parla-device tests (no sound card needed).
//!
//! Each test runs its body in a child process of its own test binary, started with
//! `ALSA_CONFIG_PATH` pointing at a configuration this module writes into a temporary folder
//! (environment changes are process-wide, and cpal reads ALSA's configuration once). The
//! configuration has only ALSA's built-in plugins (`null`, `file`, `plug`, `asym`):
//! - `mic`: capture from `mic.raw` (raw S16_LE, 48 kHz mono) through `plug`, so any rate,
//!   channel count and sample format can be opened;
//! - `spk`: playback through `plug` into `speaker.raw` (raw S16_LE, 48 kHz mono);
//! - `default`: an `asym` of the two;
//! - `usb_mic`: like `mic` but from `usb.raw` (a second signal; deleting the file makes the
//!   device "disappear" for the next open);
//! - `missing_mic`: a capture device whose file does not exist (it cannot be opened);
//! - `mic_<format>` (and `mic_i16_x2`, stereo): capture straight from a file already in that
//!   sample format, with no `plug` in between, so the device hands cpal exactly those bytes and
//!   the conversion under test is Parla's own. (Through `plug`, alsa-lib 1.2.8's `file` plugin
//!   skips one period of the input file early in the stream whenever `plug` has to convert the
//!   format or channel count; without conversion it does not, so `mic` is used at S16 mono.)
//!
//! Streams on these devices run unpaced (hundreds of times faster than real time), and capture
//! repeats its last period after the end of the file, so the files are longer than the tests
//! read.
#![allow(dead_code, clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use parla_device::SampleFormat;

/// Set in the child process to the sandbox folder.
const CHILD_ENV: &str = "PARLA_DEVICE_SANDBOX";
/// Samples in each signal file (4 s at 48 kHz).
pub const SIGNAL_LEN: usize = 192_000;
/// The rate of the files.
pub const RATE: u32 = 48_000;

/// The folder a test's devices live in.
#[derive(Debug)]
pub struct Sandbox {
    pub dir: PathBuf,
}

impl Sandbox {
    /// The signal fed as the `mic` (and default) microphone.
    pub fn mic_signal(&self) -> Vec<i16> {
        signal(1)
    }
    /// The signal fed as the `usb_mic` microphone.
    pub fn usb_signal(&self) -> Vec<i16> {
        signal(2)
    }
    /// What the default speaker received so far (the file is complete once the stream is
    /// dropped).
    pub fn speaker(&self) -> Vec<i16> {
        read_raw(&self.dir.join("speaker.raw"))
    }
    pub fn usb_file(&self) -> PathBuf {
        self.dir.join("usb.raw")
    }
}

/// A deterministic full-range test signal with no zero sample (so silence inserted by
/// underruns can be told apart), from a 32-bit LCG seeded with `seed`.
pub fn signal(seed: u32) -> Vec<i16> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
    let mut out = Vec::with_capacity(SIGNAL_LEN);
    out.extend([i16::MIN, i16::MAX, -1, 1]);
    while out.len() < SIGNAL_LEN {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let s = (x >> 16) as i16;
        if s != 0 {
            out.push(s);
        }
    }
    out
}

fn write_raw(path: &Path, samples: &[i16]) {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, bytes).expect("write signal file");
}

fn read_raw(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The formats with a `mic_<format>` device, and how the signal is encoded for each (the
/// reference encoding, written with integer operations independent of the crate's code).
pub const FORMATS: [SampleFormat; 10] = [
    SampleFormat::I16,
    SampleFormat::F32,
    SampleFormat::I32,
    SampleFormat::I24,
    SampleFormat::F64,
    SampleFormat::U16,
    SampleFormat::U24,
    SampleFormat::U32,
    SampleFormat::I8,
    SampleFormat::U8,
];

/// `samples` encoded as raw little-endian `format`, each frame repeated over `channels`.
pub fn encode(samples: &[i16], format: SampleFormat, channels: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for &s in samples {
        let bytes: Vec<u8> = match format {
            SampleFormat::I8 => vec![(s >> 8) as u8],
            SampleFormat::U8 => vec![((s >> 8) as u8) ^ 0x80],
            SampleFormat::I16 => s.to_le_bytes().to_vec(),
            SampleFormat::U16 => ((s as u16) ^ 0x8000).to_le_bytes().to_vec(),
            SampleFormat::I24 => (i32::from(s) << 8).to_le_bytes().to_vec(),
            SampleFormat::U24 => ((i32::from(s) << 8) + 0x80_0000).to_le_bytes().to_vec(),
            SampleFormat::I32 => (i32::from(s) << 16).to_le_bytes().to_vec(),
            SampleFormat::U32 => (((i32::from(s) << 16) as u32) ^ 0x8000_0000)
                .to_le_bytes()
                .to_vec(),
            SampleFormat::F32 => (f32::from(s) / 32768.0).to_le_bytes().to_vec(),
            SampleFormat::F64 => (f64::from(s) / 32768.0).to_le_bytes().to_vec(),
            other => panic!("no reference encoding for {other}"),
        };
        for _ in 0..channels {
            out.extend_from_slice(&bytes);
        }
    }
    out
}

fn alsa_config(dir: &Path) -> String {
    let d = dir.display();
    let capture = |name: &str, infile: &str, desc: &str| {
        format!(
            "pcm.{name} {{\n  type plug\n  slave {{\n    pcm {{ type file slave.pcm \"nullpcm\" file \"/dev/null\" infile \"{d}/{infile}\" format \"raw\" }}\n    format S16_LE rate {RATE} channels 1\n  }}\n  hint {{ show on description \"{desc}\" }}\n}}\n"
        )
    };
    let mut c = String::from("pcm.nullpcm { type null }\n");
    c += &capture("mic", "mic.raw", "Parla test microphone");
    c += &capture("usb_mic", "usb.raw", "Parla removable microphone");
    c += &capture("missing_mic", "missing.raw", "Parla missing microphone");
    c += &format!(
        "pcm.spk {{\n  type plug\n  slave {{\n    pcm {{ type file slave.pcm \"nullpcm\" file \"{d}/speaker.raw\" format \"raw\" }}\n    format S16_LE rate {RATE} channels 1\n  }}\n  hint {{ show on description \"Parla test speaker\" }}\n}}\n"
    );
    c += "pcm.!default { type asym capture.pcm \"mic\" playback.pcm \"spk\" }\n";
    let raw = |name: &str| {
        format!(
            "pcm.{name} {{\n  type file\n  slave.pcm \"nullpcm\"\n  file \"/dev/null\"\n  infile \"{d}/{name}.raw\"\n  format \"raw\"\n  hint {{ show on description \"Parla {name}\" }}\n}}\n"
        )
    };
    for f in FORMATS {
        c += &raw(&format!("mic_{f}"));
    }
    c += &raw("mic_i16_x2");
    c
}

/// Runs `body` in a child process of this test binary with the headless ALSA configuration.
/// `test_name` must be the calling test's name (the child runs exactly that test). The child
/// gets `limit` to finish; its output is printed by the parent.
///
/// # Panics
/// If the child fails or runs out of time.
pub fn in_alsa_sandbox(test_name: &str, limit: Duration, body: impl FnOnce(&Sandbox)) {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        assert!(
            std::env::var_os("ALSA_CONFIG_PATH").is_some(),
            "the sandbox child needs ALSA_CONFIG_PATH"
        );
        body(&Sandbox { dir: dir.into() });
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    write_raw(&dir.join("mic.raw"), &signal(1));
    write_raw(&dir.join("usb.raw"), &signal(2));
    for f in FORMATS {
        std::fs::write(dir.join(format!("mic_{f}.raw")), encode(&signal(1), f, 1))
            .expect("write format file");
    }
    std::fs::write(
        dir.join("mic_i16_x2.raw"),
        encode(&signal(1), SampleFormat::I16, 2),
    )
    .expect("write stereo file");
    let conf = dir.join("asound.conf");
    std::fs::write(&conf, alsa_config(dir)).expect("write ALSA configuration");
    let log_path = dir.join("child.log");
    let log = std::fs::File::create(&log_path).expect("child log");
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env("ALSA_CONFIG_PATH", &conf)
        .env(CHILD_ENV, dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("start the sandbox child");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    println!("--- sandbox child output ---\n{output}--- end ---");
    match status {
        Some(s) => assert!(s.success(), "sandbox child failed ({s}); output above"),
        None => panic!("sandbox child ran longer than {limit:?}; output above"),
    }
    // The child must really have run the test (a misspelt name would run nothing).
    assert!(
        output.contains("1 passed"),
        "the child did not run exactly one test named {test_name}"
    );
}

/// Polls `cond` every millisecond until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// The largest absolute difference between `got` and the 16-bit `want` as f32.
pub fn max_error(got: &[f32], want: &[i16]) -> f32 {
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - f32::from(*w) / 32768.0).abs())
        .fold(0.0, f32::max)
}
