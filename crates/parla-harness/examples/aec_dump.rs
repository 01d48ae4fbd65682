//! Research tool for the double-talk work (docs/AEC.md, "Where the near end is lost"): writes
//! the signals of the image-method echo cases (`aec/img-*`) and, optionally, the output of
//! WebRTC's AEC3 run directly with a configuration given on the command line, as raw
//! little-endian `f32` files for offline analysis (`scripts/aec-dt-analysis.py`).
//!
//! ```text
//! cargo run --release -p parla-harness --example aec_dump -- OUT_DIR 'aec/img-tune*' [LABEL=SPEC ...]
//! ```
//!
//! `SPEC` is `;`-separated `key=value` changes to the library's AEC3 configuration:
//! `refined` and `coarse` (filter lengths in 64-sample blocks), `open=1` (the suppressor made
//! transparent, so the output is close to the linear filter's), `stable=1`
//! (`linear_and_stable_echo_path`), `default_len` (reverberation decay), `max_l` / `max_h`
//! (ERLE caps). An empty spec is the library tuning. For each case `NAME.{far,echo,near,mic,
//! path}.f32` and `NAME.out-LABEL.f32` are written, and `index.json` lists cases and rates.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use parla_harness::corpus::{Corpus, CorpusConfig, Material, Suite};
use webrtc_audio_processing_sys as ffi;

fn write_f32(path: &Path, x: &[f32]) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for v in x {
        f.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

fn aec3_config(spec: &str) -> anyhow::Result<ffi::EchoCanceller3Config> {
    // SAFETY: no arguments; returns the library's default configuration by value.
    let mut c = unsafe { ffi::create_aec3_config() };
    for kv in spec.split(';').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').context("spec items are key=value")?;
        let x: f64 = v.parse().with_context(|| format!("{k}: not a number"))?;
        match k {
            "refined" => {
                c.filter.refined.length_blocks = x as usize;
                c.filter.refined_initial.length_blocks = x as usize;
            }
            "coarse" => {
                c.filter.coarse.length_blocks = x as usize;
                c.filter.coarse_initial.length_blocks = x as usize;
            }
            "open" if x > 0.0 => {
                for t in [
                    &mut c.suppressor.normal_tuning,
                    &mut c.suppressor.nearend_tuning,
                ] {
                    for m in [&mut t.mask_lf, &mut t.mask_hf] {
                        // The validator's upper limits (100).
                        m.enr_transparent = 99.0;
                        m.enr_suppress = 100.0;
                        m.emr_transparent = 100.0;
                    }
                    t.max_inc_factor = 100.0;
                    t.max_dec_factor_lf = 100.0;
                }
                c.erle.max_l = 1.0e3;
                c.erle.max_h = 1.0e3;
            }
            "open" => {}
            "stable" => c.echo_removal_control.linear_and_stable_echo_path = x > 0.0,
            "default_len" => c.ep_strength.default_len = x as f32,
            "max_l" => c.erle.max_l = x as f32,
            "max_h" => c.erle.max_h = x as f32,
            _ => anyhow::bail!("unknown spec key {k}"),
        }
    }
    // SAFETY: `c` is a valid configuration; the call only reads and clamps its fields.
    if !unsafe { ffi::validate_aec3_config(&mut c) } {
        eprintln!("spec {spec:?}: some values were clamped to AEC3's valid ranges");
    }
    Ok(c)
}

/// AEC3 over whole signals in 10 ms frames at `rate` (the far end first in each frame).
fn run_aec3(spec: &str, rate: u32, far: &[f32], mic: &[f32]) -> anyhow::Result<Vec<f32>> {
    let mut cfg = aec3_config(spec)?;
    let mut code = 0;
    // SAFETY: `cfg` lives until the call returns; `code` is a valid out-pointer.
    let raw = unsafe { ffi::create_audio_processing(&mut cfg, &mut code) };
    let guard = Apm(raw);
    anyhow::ensure!(
        !raw.is_null() && code == 0,
        "create_audio_processing: {code}"
    );
    let ap = guard.0;
    let apm = ffi::AudioProcessing_Config {
        pipeline: ffi::AudioProcessing_Config_Pipeline {
            maximum_internal_processing_rate: 48_000,
            multi_channel_render: false,
            multi_channel_capture: false,
            capture_downmix_method:
                ffi::AudioProcessing_Config_Pipeline_DownmixMethod_kAverageChannels,
        },
        echo_canceller: ffi::AudioProcessing_Config_EchoCanceller {
            enabled: true,
            mobile_mode: false,
            enforce_high_pass_filtering: false,
            export_linear_aec_output: false,
        },
        ..Default::default()
    };
    // SAFETY: `ap` is live; the config is fully initialised and only read.
    unsafe { ffi::set_config(ap, &apm) };
    let stream = ffi::StreamConfig::new(rate, 1);
    let n = (rate / 100) as usize;
    let mut out = vec![0.0f32; mic.len()];
    let mut frame = vec![0.0f32; n];
    let mut far_frame = vec![0.0f32; n];
    for s in (0..mic.len().saturating_sub(n - 1)).step_by(n) {
        far_frame.fill(0.0);
        let f = far.get(s..(s + n).min(far.len())).unwrap_or(&[]);
        far_frame[..f.len()].copy_from_slice(f);
        frame.copy_from_slice(&mic[s..s + n]);
        let render = [far_frame.as_ptr()];
        let capture = [frame.as_mut_ptr()];
        // SAFETY: `ap` is live; each channel pointer covers the `n` samples `stream` describes.
        let (a, b) = unsafe {
            (
                ffi::analyze_render_frame(ap, &stream, render.as_ptr()),
                ffi::process_capture_frame(ap, &stream, capture.as_ptr()),
            )
        };
        anyhow::ensure!(a == 0 && b == 0, "AEC3 frame failed: {a} {b}");
        out[s..s + n].copy_from_slice(&frame);
    }
    Ok(out)
}

/// Owns an `AudioProcessing` instance and deletes it when dropped.
struct Apm(*mut ffi::AudioProcessing);

impl Drop for Apm {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from `create_audio_processing` and is released once.
            unsafe { ffi::delete_audio_processing(self.0) };
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 2,
        "usage: aec_dump OUT_DIR CASE_PATTERN [LABEL=SPEC ...]"
    );
    let out = PathBuf::from(&args[0]);
    std::fs::create_dir_all(&out)?;
    let mut corpus = Corpus::new(CorpusConfig::new(1));
    corpus.select(&[Suite::Aec], &[args[1].clone()])?;
    let mut index = Vec::new();
    for case in &corpus.cases {
        let Material::Audio(sig) = corpus.generate(case)? else {
            continue;
        };
        let name = case.name.replace('/', "_");
        for (ext, x) in [
            ("far", &sig.far),
            ("echo", &sig.echo),
            ("near", &sig.near),
            ("mic", &sig.mic),
            ("path", &sig.echo_path),
        ] {
            write_f32(&out.join(format!("{name}.{ext}.f32")), x)?;
        }
        for item in &args[2..] {
            let (label, spec) = item.split_once('=').unwrap_or((item.as_str(), ""));
            let y = run_aec3(spec, sig.rate, &sig.far, &sig.mic)?;
            write_f32(&out.join(format!("{name}.out-{label}.f32")), &y)?;
        }
        index.push(serde_json::json!({"name": name, "rate": sig.rate, "len": sig.mic.len()}));
        eprintln!("{name}");
    }
    std::fs::write(
        out.join("index.json"),
        serde_json::to_string_pretty(&index)?,
    )?;
    Ok(())
}
