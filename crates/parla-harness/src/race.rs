//! The chain suite's whole-process race (`parla bench chain --peers --race N`): `parla process
//! --far` (AEC3 + noise suppression at 48 kHz) against GStreamer's `webrtcdsp` AEC + NS chain
//! (the same pipeline as the chain suite's gst-webrtcdsp peer) on one long file, both as whole
//! processes (start-up, reading and writing WAV files included), run alternately.
//!
//! The file is the first 48 kHz chain case of the corpus (double talk with noise and a room
//! echo), repeated to the asked length. Each run times the process's wall time and, through
//! `/usr/bin/time` when installed, its CPU time (user + system) and peak memory. One unscored
//! run of each comes first (page cache, dynamic loading); then `runs` rounds, the order
//! alternating between rounds. The ratio of a round is GStreamer's time over Parla's (> 1:
//! Parla is faster); the report gives the median of the rounds' ratios, by wall and by CPU time.
//! `parla process` runs its default there: two threads (echo canceller, noise suppression) on
//! a machine with at least two cores, so its wall time depends on a second core being free,
//! and its CPU time counts both threads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::corpus::{CaseSpec, Corpus, Material, Suite};
use crate::peers::write_wav;

/// The rate both processes run at.
const RATE: u32 = 48_000;

/// One process run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct RunTime {
    /// Wall time, seconds.
    pub wall_s: f64,
    /// User + system CPU time, seconds (`None` without `/usr/bin/time`).
    pub cpu_s: Option<f64>,
    /// Peak resident memory, KiB (`None` without `/usr/bin/time`).
    pub max_rss_kib: Option<u64>,
}

/// The race's result (run-specific, like every timing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessRace {
    /// The case the file was made of.
    pub case: String,
    /// Length of the file, seconds.
    pub seconds: f64,
    /// Parla's command (placeholders for the files).
    pub parla_command: String,
    /// GStreamer's command (placeholders for the files).
    pub gst_command: String,
    /// Parla's scored runs, in order.
    pub parla: Vec<RunTime>,
    /// GStreamer's scored runs, in order.
    pub gst: Vec<RunTime>,
    /// Median over rounds of GStreamer's wall time / Parla's (> 1: Parla is faster).
    pub wall_ratio: f64,
    /// Median over rounds of GStreamer's CPU time / Parla's, when measured.
    pub cpu_ratio: Option<f64>,
}

/// The median of `v` (NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn gst_pipeline(mic: &Path, far: &Path, out: &Path) -> Vec<String> {
    let conv = format!(
        "wavparse ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate={RATE},channels=1"
    );
    let pipeline = format!(
        "filesrc location={} ! {conv} ! webrtcechoprobe name=probe0 ! fakesink sync=false \
         filesrc location={} ! {conv} ! webrtcdsp probe=probe0 echo-cancel=true noise-suppression=true gain-control=false high-pass-filter=false delay-agnostic=true \
         ! audioconvert ! audioresample ! audio/x-raw,format=F32LE,rate={RATE},channels=1 ! wavenc ! filesink location={}",
        far.display(),
        mic.display(),
        out.display()
    );
    let mut v = vec!["gst-launch-1.0".to_string(), "-q".into()];
    v.extend(pipeline.split_whitespace().map(str::to_string));
    v
}

fn parla_args(parla: &Path, mic: &Path, far: &Path, out: &Path) -> Vec<String> {
    [
        parla.display().to_string(),
        "process".into(),
        "--mic".into(),
        mic.display().to_string(),
        "--far".into(),
        far.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ]
    .into()
}

/// Run `args` as a whole process, timed.
fn time_run(args: &[String], dir: &Path) -> anyhow::Result<RunTime> {
    let time_bin = Path::new("/usr/bin/time");
    let stats = dir.join("time.txt");
    let mut cmd = if time_bin.exists() {
        let mut c = Command::new(time_bin);
        c.arg("-f").arg("%U %S %M").arg("-o").arg(&stats).args(args);
        c
    } else {
        let mut c = Command::new(&args[0]);
        c.args(&args[1..]);
        c
    };
    let t = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("starting {}", args[0]))?;
    let wall_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "{} failed ({}): {}",
        args[0],
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let (mut cpu_s, mut max_rss_kib) = (None, None);
    if time_bin.exists() {
        let text = std::fs::read_to_string(&stats).unwrap_or_default();
        let f: Vec<&str> = text
            .lines()
            .last()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if let [u, s, m] = f[..] {
            cpu_s = u
                .parse::<f64>()
                .ok()
                .zip(s.parse::<f64>().ok())
                .map(|(u, s)| u + s);
            max_rss_kib = m.parse().ok();
        }
    }
    Ok(RunTime {
        wall_s,
        cpu_s,
        max_rss_kib,
    })
}

/// Run the race: `runs` alternating rounds on a `seconds`-long file in `work`, with `parla` the
/// `parla` executable. The corpus must hold a 48 kHz chain case (the default corpus does).
///
/// # Errors
/// When there is no such case, a file cannot be written, or a process fails.
pub fn process_race(
    corpus: &Corpus,
    parla: &Path,
    work: &Path,
    seconds: f64,
    runs: usize,
) -> anyhow::Result<ProcessRace> {
    anyhow::ensure!(runs >= 1, "the race needs at least one round");
    let case = corpus
        .cases
        .iter()
        .find(|c| c.suite == Suite::Chain && matches!(c.spec, CaseSpec::Echo { rate: RATE, .. }))
        .context("no 48 kHz chain case in the selection for the process race")?;
    let Material::Audio(sig) = corpus.generate(case)? else {
        anyhow::bail!("{} is not an audio case", case.name);
    };
    let len = (seconds * f64::from(RATE)) as usize;
    let tile = |x: &[f32]| -> Vec<f32> { x.iter().copied().cycle().take(len).collect() };
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let mic = work.join("race-mic.wav");
    let far = work.join("race-far.wav");
    write_wav(&mic, &tile(&sig.mic), RATE)?;
    write_wav(&far, &tile(&sig.far), RATE)?;
    let out_parla = work.join("race-parla.wav");
    let out_gst = work.join("race-gst.wav");
    let parla_cmd = parla_args(parla, &mic, &far, &out_parla);
    let gst_cmd = gst_pipeline(&mic, &far, &out_gst);
    // Unscored first runs: page cache, dynamic loading, GStreamer's plugin registry.
    time_run(&parla_cmd, work)?;
    time_run(&gst_cmd, work)?;
    let (mut p, mut g) = (Vec::new(), Vec::new());
    for round in 0..runs {
        if round % 2 == 0 {
            p.push(time_run(&parla_cmd, work)?);
            g.push(time_run(&gst_cmd, work)?);
        } else {
            g.push(time_run(&gst_cmd, work)?);
            p.push(time_run(&parla_cmd, work)?);
        }
    }
    for f in [&mic, &far, &out_parla, &out_gst, &work.join("time.txt")] {
        let _ = std::fs::remove_file(f);
    }
    let wall_ratio = median(p.iter().zip(&g).map(|(p, g)| g.wall_s / p.wall_s).collect());
    let cpu: Vec<f64> = p
        .iter()
        .zip(&g)
        .filter_map(|(p, g)| Some(g.cpu_s? / p.cpu_s?.max(1e-9)))
        .collect();
    Ok(ProcessRace {
        case: case.name.clone(),
        seconds,
        parla_command: "parla process --mic MIC.wav --far FAR.wav --out OUT.wav".into(),
        gst_command: gst_pipeline(
            &PathBuf::from("MIC.wav"),
            &PathBuf::from("FAR.wav"),
            &PathBuf::from("OUT.wav"),
        )
        .join(" "),
        parla: p,
        gst: g,
        wall_ratio,
        cpu_ratio: (cpu.len() == runs).then(|| median(cpu)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn gst_pipeline_names_both_files_and_the_dsp() {
        let v = gst_pipeline(Path::new("m.wav"), Path::new("f.wav"), Path::new("o.wav"));
        let s = v.join(" ");
        assert!(s.contains("location=m.wav") && s.contains("location=f.wav"));
        assert!(s.contains("webrtcdsp probe=probe0 echo-cancel=true noise-suppression=true"));
        assert!(s.ends_with("filesink location=o.wav"));
    }
}
