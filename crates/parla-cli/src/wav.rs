//! WAV reading and writing for the CLI, with the checks a user needs: clear one-line errors for
//! files that are missing, not WAV, empty, or in a format Parla does not take.
//!
//! hound does the parsing (a small, well-kept WAV crate: PCM 8-32 bit and 32-bit float), so we
//! only add validation, conversion to `f32` and the stereo downmix.

use std::path::Path;

use anyhow::{Context, bail};
use parla_core::format::SUPPORTED_RATES;

/// The sample format a WAV file was stored in, kept so output can be written the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// Integer PCM of this many bits.
    Int(u16),
    /// 32-bit IEEE float.
    Float,
}

/// A decoded WAV file: mono `f32` samples in [-1, 1] (stereo is downmixed).
#[derive(Debug, Clone)]
pub struct Audio {
    /// Mono samples.
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub rate: u32,
    /// Channels in the file (before the downmix).
    pub channels: u16,
    /// How the file stored its samples.
    pub format: SampleFormat,
}

impl Audio {
    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate)
    }
}

/// Read `path` (`what` names it in errors: "mic", "far-end").
pub fn read(path: &Path, what: &str) -> anyhow::Result<Audio> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open {what} file '{}'", path.display()))?;
    let reader = hound::WavReader::new(std::io::BufReader::new(file)).map_err(|e| {
        anyhow::anyhow!(
            "{what} file '{}' is not a readable WAV file ({e})",
            path.display()
        )
    })?;
    let spec = reader.spec();
    if !SUPPORTED_RATES.contains(&spec.sample_rate) {
        bail!(
            "{what} file '{}' has an unsupported sample rate of {} Hz (supported: 8000, 16000, 22050, 32000, 44100, 48000, 96000)",
            path.display(),
            spec.sample_rate
        );
    }
    if spec.channels == 0 || spec.channels > 2 {
        bail!(
            "{what} file '{}' has {} channels; only mono and stereo are supported",
            path.display(),
            spec.channels
        );
    }
    let format = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => SampleFormat::Float,
        (hound::SampleFormat::Int, b @ (8 | 16 | 24 | 32)) => SampleFormat::Int(b),
        (f, b) => bail!(
            "{what} file '{}' uses an unsupported sample format ({b}-bit {f:?}); use 16/24/32-bit integer or 32-bit float",
            path.display()
        ),
    };
    if reader.len() == 0 {
        bail!("{what} file '{}' contains no audio samples", path.display());
    }
    let channels = spec.channels;
    let interleaved: Vec<f32> = match format {
        SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| {
                anyhow::anyhow!(
                    "{what} file '{}' is truncated or corrupt ({e})",
                    path.display()
                )
            })?,
        SampleFormat::Int(bits) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{what} file '{}' is truncated or corrupt ({e})",
                        path.display()
                    )
                })?
        }
    };
    let samples = if channels == 2 {
        interleaved
            .chunks_exact(2)
            .map(|p| 0.5 * (p[0] + p[1]))
            .collect()
    } else {
        interleaved
    };
    if samples.is_empty() {
        bail!("{what} file '{}' contains no audio samples", path.display());
    }
    Ok(Audio {
        samples,
        rate: spec.sample_rate,
        channels,
        format,
    })
}

/// Write mono `samples` to `path` at `rate` in `format` (integers are clipped, not wrapped).
pub fn write(path: &Path, samples: &[f32], rate: u32, format: SampleFormat) -> anyhow::Result<()> {
    let (bits, sample_format) = match format {
        SampleFormat::Float => (32, hound::SampleFormat::Float),
        // 8-bit WAV is unsigned and rarely wanted: write 16-bit instead.
        SampleFormat::Int(8) => (16, hound::SampleFormat::Int),
        SampleFormat::Int(b) => (b, hound::SampleFormat::Int),
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot create output file '{}'", path.display()))?;
    match sample_format {
        hound::SampleFormat::Float => {
            for &s in samples {
                w.write_sample(s)?;
            }
        }
        hound::SampleFormat::Int => {
            let max = ((1i64 << (bits - 1)) - 1) as f32;
            for &s in samples {
                w.write_sample((s * (max + 1.0)).round().clamp(-max - 1.0, max) as i32)?;
            }
        }
    }
    w.finalize()
        .with_context(|| format!("cannot finish output file '{}'", path.display()))?;
    Ok(())
}
