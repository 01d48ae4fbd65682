//! Peers: the same cases through the tools people would otherwise use, as subprocesses on
//! temporary WAV files, timed (wall time of the subprocess, start to exit, so process start-up
//! and file I/O are included) and scored with the same metrics as Parla.
//!
//! Each peer checks that its tool is present ([`Peer::probe`]) and is skipped with the printed
//! reason otherwise. The exact command lines are in [`Peer::run`] and `docs/HARNESS.md`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;

use crate::corpus::{Case, CaseSpec, Material, Signals, Suite};
use crate::suites::{Outcome, score};

/// The C source of the libspeexdsp peer, compiled by the harness.
const SPEEX_SRC: &str = include_str!("../peers/speexdsp_aec.c");

/// A peer system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// GStreamer `webrtcdsp` (+ `webrtcechoprobe` for the far end): Debian's
    /// webrtc-audio-processing 0.3 (the older AEC, not AEC3) and its noise suppressor.
    GstWebrtcdsp,
    /// ffmpeg's `afftdn` FFT denoiser (defaults).
    FfmpegAfftdn,
    /// libspeexdsp: MDF echo canceller + preprocessor, through
    /// `crates/parla-harness/peers/speexdsp_aec.c`.
    Speexdsp,
    /// GStreamer `audioresample` (default quality).
    GstAudioresample,
    /// ffmpeg `aresample` (swresample defaults).
    FfmpegAresample,
    /// sox `rate` (its default, high quality).
    Sox,
    /// GStreamer `opusenc` + `opusdec` (Debian's libopus).
    GstOpus,
    /// ffmpeg `libopus` encoder, then ffmpeg's decoder.
    FfmpegLibopus,
}

impl Peer {
    /// Every peer.
    pub const ALL: [Peer; 8] = [
        Peer::GstWebrtcdsp,
        Peer::FfmpegAfftdn,
        Peer::Speexdsp,
        Peer::GstAudioresample,
        Peer::FfmpegAresample,
        Peer::Sox,
        Peer::GstOpus,
        Peer::FfmpegLibopus,
    ];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Peer::GstWebrtcdsp => "gst-webrtcdsp",
            Peer::FfmpegAfftdn => "ffmpeg-afftdn",
            Peer::Speexdsp => "speexdsp",
            Peer::GstAudioresample => "gst-audioresample",
            Peer::FfmpegAresample => "ffmpeg-aresample",
            Peer::Sox => "sox",
            Peer::GstOpus => "gst-opus",
            Peer::FfmpegLibopus => "ffmpeg-libopus",
        }
    }

    /// The suites the peer runs in.
    pub fn suites(self) -> &'static [Suite] {
        match self {
            Peer::GstWebrtcdsp | Peer::Speexdsp => &[Suite::Ns, Suite::Aec, Suite::Chain],
            Peer::FfmpegAfftdn => &[Suite::Ns],
            Peer::GstAudioresample | Peer::FfmpegAresample | Peer::Sox => &[Suite::Resample],
            Peer::GstOpus | Peer::FfmpegLibopus => &[Suite::Codec],
        }
    }

    /// Check the tool is usable; `Err(reason)` when it is not. The speexdsp peer is compiled
    /// here into `work` (the system C compiler against libspeexdsp).
    ///
    /// # Errors
    /// The reason the peer cannot run.
    pub fn probe(self, work: &Path) -> Result<String, String> {
        let ok = |cmd: &mut Command| {
            cmd.output().map_err(|e| format!("{e}")).and_then(|o| {
                if o.status.success() {
                    Ok(String::from_utf8_lossy(&o.stdout).to_string())
                } else {
                    Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
                }
            })
        };
        let gst = |el: &str| {
            ok(Command::new("gst-inspect-1.0").arg(el))
                .map(|_| gst_version())
                .map_err(|e| format!("gst-inspect-1.0 {el} failed: {e}"))
        };
        let ff = |what: &str, name: &str| {
            ok(Command::new("ffmpeg").args(["-hide_banner", what]))
                .map_err(|e| format!("ffmpeg not usable: {e}"))
                .and_then(|s| {
                    if s.lines().any(|l| l.split_whitespace().nth(1) == Some(name)) {
                        Ok(crate::corpus::tool_version("ffmpeg", "-version").unwrap_or_default())
                    } else {
                        Err(format!("ffmpeg has no {name}"))
                    }
                })
        };
        match self {
            Peer::GstWebrtcdsp => gst("webrtcdsp").and(gst("webrtcechoprobe")),
            Peer::GstAudioresample => gst("audioresample"),
            Peer::GstOpus => gst("opusenc").and(gst("opusdec")),
            Peer::FfmpegAfftdn => ff("-filters", "afftdn"),
            Peer::FfmpegAresample => ff("-filters", "aresample"),
            Peer::FfmpegLibopus => ff("-encoders", "libopus"),
            Peer::Sox => crate::corpus::tool_version("sox", "--version")
                .ok_or_else(|| "sox not found".to_string()),
            Peer::Speexdsp => {
                let src = work.join("speexdsp_aec.c");
                std::fs::write(&src, SPEEX_SRC).map_err(|e| format!("writing {src:?}: {e}"))?;
                let bin = speex_bin(work);
                ok(Command::new("cc")
                    .arg("-O2")
                    .arg(&src)
                    .arg("-lspeexdsp")
                    .arg("-o")
                    .arg(&bin))
                .map_err(|e| {
                    format!("cc speexdsp_aec.c -lspeexdsp failed (libspeexdsp-dev?): {e}")
                })?;
                Ok(format!(
                    "libspeexdsp {} (compiled with cc -O2)",
                    dpkg_version("libspeexdsp1").unwrap_or_else(|| "?".into())
                ))
            }
        }
    }

    /// Run the peer on one case in `dir` (a fresh temporary folder) and score it.
    ///
    /// # Errors
    /// When the tool fails or its output cannot be read.
    pub fn run(
        self,
        case: &Case,
        m: &Material,
        dir: &Path,
        work: &Path,
    ) -> anyhow::Result<Outcome> {
        let Material::Audio(sig) = m else {
            anyhow::bail!("peers run on audio cases only");
        };
        let rate = sig.rate;
        let mic = dir.join("mic.wav");
        write_wav(&mic, &sig.mic, rate)?;
        let out = dir.join("out.wav");
        let far = dir.join("far.wav");
        let has_far = matches!(case.spec, CaseSpec::Echo { .. });
        if has_far {
            write_wav(&far, &sig.far, rate)?;
        }
        let ns = case.suite != Suite::Aec;
        // webrtcdsp runs at 8/16/32/48 kHz: 44.1 kHz goes through 48 kHz.
        let dsp_rate = if rate == 16_000 { 16_000 } else { 48_000 };
        let s = |p: &Path| p.display().to_string();
        let mut cmds: Vec<Vec<String>> = Vec::new();
        let out_rate = if sig.out_rate != 0 {
            sig.out_rate
        } else {
            rate
        };
        match self {
            Peer::GstWebrtcdsp => {
                let conv = format!(
                    "wavparse ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate={dsp_rate},channels=1"
                );
                let back = format!(
                    "audioconvert ! audioresample ! audio/x-raw,format=F32LE,rate={rate},channels=1 ! wavenc ! filesink location={}",
                    s(&out)
                );
                let dsp = format!(
                    "webrtcdsp{} echo-cancel={has_far} noise-suppression={ns} gain-control=false high-pass-filter=false delay-agnostic=true",
                    if has_far { " probe=probe0" } else { "" }
                );
                let mut p = String::new();
                if has_far {
                    p.push_str(&format!(
                        "filesrc location={} ! {conv} ! webrtcechoprobe name=probe0 ! fakesink sync=false ",
                        s(&far)
                    ));
                }
                p.push_str(&format!("filesrc location={} ! {conv} ! {dsp} ! {back}", s(&mic)));
                cmds.push(gst_cmd(&p));
            }
            Peer::FfmpegAfftdn => cmds.push(ff_cmd(&[
                "-i",
                &s(&mic),
                "-af",
                "afftdn",
                "-c:a",
                "pcm_f32le",
                &s(&out),
            ])),
            Peer::Speexdsp => {
                let mic_raw = dir.join("mic.raw");
                write_raw_s16(&mic_raw, &sig.mic)?;
                let far_arg = if has_far {
                    let p = dir.join("far.raw");
                    write_raw_s16(&p, &sig.far)?;
                    s(&p)
                } else {
                    "-".into()
                };
                cmds.push(vec![
                    s(&speex_bin(work)),
                    rate.to_string(),
                    "500".into(),
                    if ns { "1" } else { "0" }.into(),
                    s(&mic_raw),
                    far_arg,
                    s(&dir.join("out.raw")),
                ]);
            }
            Peer::GstAudioresample => cmds.push(gst_cmd(&format!(
                "filesrc location={} ! wavparse ! audioconvert ! audioresample ! audio/x-raw,format=F32LE,rate={out_rate},channels=1 ! wavenc ! filesink location={}",
                s(&mic),
                s(&out)
            ))),
            Peer::FfmpegAresample => cmds.push(ff_cmd(&[
                "-i",
                &s(&mic),
                "-af",
                &format!("aresample={out_rate}"),
                "-c:a",
                "pcm_f32le",
                &s(&out),
            ])),
            Peer::Sox => cmds.push(vec![
                "sox".into(),
                s(&mic),
                "-e".into(),
                "floating-point".into(),
                "-b".into(),
                "32".into(),
                s(&out),
                "rate".into(),
                out_rate.to_string(),
            ]),
            Peer::GstOpus => {
                let CaseSpec::Codec { bitrate, .. } = case.spec else {
                    anyhow::bail!("not a codec case");
                };
                cmds.push(gst_cmd(&format!(
                    "filesrc location={} ! wavparse ! audioconvert ! audioresample ! opusenc bitrate={bitrate} audio-type=voice frame-size=20 ! opusdec ! audioconvert ! audioresample ! audio/x-raw,format=F32LE,rate={rate},channels=1 ! wavenc ! filesink location={}",
                    s(&mic),
                    s(&out)
                )));
            }
            Peer::FfmpegLibopus => {
                let CaseSpec::Codec { bitrate, .. } = case.spec else {
                    anyhow::bail!("not a codec case");
                };
                let ogg = dir.join("enc.ogg");
                cmds.push(ff_cmd(&[
                    "-i",
                    &s(&mic),
                    "-c:a",
                    "libopus",
                    "-b:a",
                    &bitrate.to_string(),
                    "-application",
                    "voip",
                    "-frame_duration",
                    "20",
                    "-ac",
                    "1",
                    &s(&ogg),
                ]));
                cmds.push(ff_cmd(&[
                    "-i",
                    &s(&ogg),
                    "-ar",
                    &rate.to_string(),
                    "-c:a",
                    "pcm_f32le",
                    &s(&out),
                ]));
            }
        }
        let started = Instant::now();
        for c in &cmds {
            let (prog, args) = c.split_first().context("empty command")?;
            let o = Command::new(prog)
                .args(args)
                .output()
                .with_context(|| format!("running {prog}"))?;
            anyhow::ensure!(
                o.status.success(),
                "{} failed ({}): {}",
                c.join(" "),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        let wall_s = started.elapsed().as_secs_f64();
        let output = if self == Peer::Speexdsp {
            read_raw_s16(&dir.join("out.raw"))?
        } else {
            let bytes =
                std::fs::read(&out).with_context(|| format!("reading {}", out.display()))?;
            let (x, r) = crate::corpus::read_wav_mono(&bytes)?;
            anyhow::ensure!(
                r == out_rate,
                "{} wrote {r} Hz, expected {out_rate}",
                self.name()
            );
            x
        };
        let mut o = Outcome {
            case: case.name.clone(),
            suite: case.suite.as_str().to_string(),
            system: self.name().to_string(),
            metrics: Default::default(),
            wall_s,
            media_s: sig.mic.len() as f64 / f64::from(rate),
            rtf: 0.0,
            cpu: Vec::new(),
            allocations: "not applicable (external process)".into(),
            call_us: Vec::new(),
            series: Vec::new(),
        };
        if let CaseSpec::Codec { .. } = case.spec
            && self == Peer::FfmpegLibopus
        {
            let len = std::fs::metadata(dir.join("enc.ogg"))?.len();
            o.metrics
                .insert("kbps".into(), len as f64 * 8.0 / o.media_s / 1000.0);
        }
        let mut output = output;
        output.resize(expected_len(sig), 0.0);
        score(case, sig, &output, &mut o.metrics);
        crate::suites::finish(&mut o);
        Ok(o)
    }
}

fn expected_len(sig: &Signals) -> usize {
    if sig.out_rate != 0 {
        sig.expected.len()
    } else {
        sig.mic.len()
    }
}

fn speex_bin(work: &Path) -> PathBuf {
    work.join("speexdsp_aec")
}

fn gst_cmd(pipeline: &str) -> Vec<String> {
    let mut v = vec!["gst-launch-1.0".to_string(), "-q".into()];
    v.extend(pipeline.split_whitespace().map(str::to_string));
    v
}

fn ff_cmd(args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

fn gst_version() -> String {
    crate::corpus::tool_version("gst-launch-1.0", "--version").unwrap_or_default()
}

fn dpkg_version(pkg: &str) -> Option<String> {
    let o = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", pkg])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).to_string())
}

/// The command line of a peer, for the docs and the report (placeholders for the files).
pub fn describe(p: Peer) -> &'static str {
    match p {
        Peer::GstWebrtcdsp => {
            "gst-launch-1.0 filesrc location=far.wav ! wavparse ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=R,channels=1 ! webrtcechoprobe name=probe0 ! fakesink sync=false  filesrc location=mic.wav ! (same caps) ! webrtcdsp probe=probe0 echo-cancel=E noise-suppression=N gain-control=false high-pass-filter=false delay-agnostic=true ! audioconvert ! audioresample ! F32LE at the case rate ! wavenc ! filesink (R = 16000 for 16 kHz cases, else 48000)"
        }
        Peer::FfmpegAfftdn => "ffmpeg -i mic.wav -af afftdn -c:a pcm_f32le out.wav",
        Peer::Speexdsp => {
            "speexdsp_aec RATE 500 DENOISE mic.raw far.raw|- out.raw (10 ms frames, 500 ms tail, preprocessor with the echo state)"
        }
        Peer::GstAudioresample => {
            "gst-launch-1.0 filesrc ! wavparse ! audioconvert ! audioresample ! audio/x-raw,format=F32LE,rate=TO ! wavenc ! filesink"
        }
        Peer::FfmpegAresample => "ffmpeg -i in.wav -af aresample=TO -c:a pcm_f32le out.wav",
        Peer::Sox => "sox in.wav -e floating-point -b 32 out.wav rate TO",
        Peer::GstOpus => {
            "gst-launch-1.0 filesrc ! wavparse ! audioconvert ! audioresample ! opusenc bitrate=B audio-type=voice frame-size=20 ! opusdec ! audioconvert ! audioresample ! F32LE at the case rate ! wavenc ! filesink"
        }
        Peer::FfmpegLibopus => {
            "ffmpeg -i in.wav -c:a libopus -b:a B -application voip -frame_duration 20 -ac 1 enc.ogg; ffmpeg -i enc.ogg -ar RATE -c:a pcm_f32le out.wav"
        }
    }
}

/// Write mono 32-bit float WAV.
///
/// # Errors
/// On I/O errors.
pub fn write_wav(path: &Path, x: &[f32], rate: u32) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for &v in x {
        w.write_sample(v)?;
    }
    w.finalize()?;
    Ok(())
}

fn write_raw_s16(path: &Path, x: &[f32]) -> anyhow::Result<()> {
    let bytes: Vec<u8> = x
        .iter()
        .flat_map(|&v| ((v.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes())
        .collect();
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn read_raw_s16(path: &Path) -> anyhow::Result<Vec<f32>> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(b.chunks_exact(2)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect())
}
