//! PESQ-WB and STOI through Python: the `pesq` package (a wrapper of the ITU-T P.862 reference
//! code, wide-band mode P.862.2) and `pystoi` (Taal et al. 2011), run by
//! `peers/speech_quality.py` on raw float files. `scripts/setup.d/75-bench-quality.sh` installs
//! both in a virtual environment in the cache folder; the interpreter is taken from
//! `PARLA_QUALITY_PYTHON`, else that environment, else `python3`, and probed once per process.
//! When none imports both packages, [`pesq_stoi`] returns `None` and the report notes why.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The scoring script, written next to the inputs at each call.
const SCRIPT: &str = include_str!("../peers/speech_quality.py");

/// The interpreter that imports `pesq` and `pystoi`.
///
/// # Errors
/// Why there is none (a message for the report's notes).
pub fn python() -> Result<&'static PathBuf, &'static str> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PY.get_or_init(|| {
        let cache = std::env::var_os("PARLA_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("parla")))
            .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/parla")));
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(p) = std::env::var_os("PARLA_QUALITY_PYTHON") {
            candidates.push(p.into());
        }
        if let Some(c) = cache {
            candidates.push(c.join("quality-venv/bin/python"));
        }
        candidates.push("python3".into());
        candidates
            .into_iter()
            .find(|py| {
                Command::new(py)
                    .args(["-c", "import pesq, pystoi, scipy"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .ok_or_else(|| {
                "PESQ-WB/STOI not measured: no Python with the pesq and pystoi packages \
                 (run scripts/setup.d/75-bench-quality.sh)"
                    .to_string()
            })
    })
    .as_ref()
    .map_err(String::as_str)
}

/// PESQ-WB and STOI of one signal: either is `None` when the measure fails.
pub type Scores = (Option<f64>, Option<f64>);

/// PESQ-WB (MOS-LQO, 1.04-4.64) and STOI (0-1) of each of `degraded` against `reference`, all mono
/// at `rate` and lined up; a measure is `None` when it fails (PESQ needs speech it can find), and
/// the whole is `None` without a usable interpreter. One interpreter start for all of them.
pub fn pesq_stoi(reference: &[f32], degraded: &[&[f32]], rate: u32) -> Option<Vec<Scores>> {
    let py = python().ok()?;
    let dir = tempfile::tempdir().ok()?;
    let write = |name: &str, x: &[f32]| {
        let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).ok().map(|()| p)
    };
    let script = dir.path().join("speech_quality.py");
    std::fs::write(&script, SCRIPT).ok()?;
    let mut cmd = Command::new(py);
    cmd.arg(&script)
        .arg(rate.to_string())
        .arg(write("ref.f32", reference)?);
    for (i, d) in degraded.iter().enumerate() {
        cmd.arg(write(&format!("deg{i}.f32"), d)?);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let scores: Vec<Scores> = text
        .lines()
        .map(|line| {
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| v.is_finite())
            };
            (field("pesq_wb="), field("stoi="))
        })
        .collect();
    (scores.len() == degraded.len()).then_some(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_speech_scores_high_and_noise_lowers_it() {
        if let Err(why) = python() {
            eprintln!("skipped: {why}");
            return;
        }
        let rate = 16_000;
        use parla_metrics::echo::speech::{Talker, synthesize};
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let speech = synthesize(rate, 64_000, &[(0.3, 3.7)], Talker::LOW, -26.0, &mut rng);
        let (p, s) = pesq_stoi(&speech, &[&speech], rate).expect("scored")[0];
        assert!(p.expect("pesq") > 4.0, "{p:?}");
        assert!(s.expect("stoi") > 0.99, "{s:?}");
        let mut x = 12345u32;
        let noisy: Vec<f32> = speech
            .iter()
            .map(|&v| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                v + 0.05 * ((x >> 16) as f32 / 32_768.0 - 1.0)
            })
            .collect();
        let (pn, sn) = pesq_stoi(&speech, &[&noisy], rate).expect("scored")[0];
        assert!(pn.expect("pesq") < p.unwrap() - 0.5, "{pn:?}");
        assert!(sn.expect("stoi") < s.unwrap(), "{sn:?}");
    }
}
