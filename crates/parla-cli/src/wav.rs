//! WAV reading and writing for the CLI, with the checks a user needs: clear one-line errors for
//! files that are missing, not WAV, empty, or in a format Parla does not take.
//!
//! hound does the parsing (a small, well-kept WAV crate: PCM 8-32 bit and 32-bit float), so we
//! only add validation, conversion to `f32` and the stereo downmix. [`WavSource`] and
//! [`WavSink`] read and write block by block, so `parla process` runs in memory that does not
//! grow with the file's length; [`read`] takes a whole (short) file at once.

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
}

/// Read the whole of `path` (`what` names it in errors: "mic", "far-end"). For long files use
/// [`WavSource`], which reads the same samples block by block.
pub fn read(path: &Path, what: &str) -> anyhow::Result<Audio> {
    let mut src = WavSource::open(path, what)?;
    // Grown block by block, not sized from the header: a header may claim more than the file
    // holds (the read then fails at the missing part).
    let mut samples = Vec::new();
    let mut block = vec![0.0; 48_000];
    while src.remaining() > 0 {
        let n = src.read(&mut block)?;
        samples.extend_from_slice(&block[..n]);
    }
    Ok(Audio {
        samples,
        rate: src.rate,
    })
}

/// A WAV file (or samples already in memory) read block by block as mono `f32` in [-1, 1]
/// (stereo is downmixed): memory stays at one block whatever the file's length. The checks
/// and errors are [`read`]'s; a file shorter than its header says, or a NaN or infinite
/// sample in a float file, fails at the block that reaches it.
pub struct WavSource {
    input: Input,
    /// Sample rate in Hz.
    pub rate: u32,
    /// Channels in the file (before the downmix).
    pub channels: u16,
    /// How the file stored its samples.
    pub format: SampleFormat,
    frames: usize,
    done: usize,
    interleaved: Vec<f32>,
    name: String,
}

enum Input {
    File(hound::WavReader<std::io::BufReader<std::fs::File>>),
    Memory(Vec<f32>),
}

impl std::fmt::Debug for WavSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSource")
            .field("name", &self.name)
            .field("rate", &self.rate)
            .field("frames", &self.frames)
            .field("done", &self.done)
            .finish()
    }
}

impl WavSource {
    /// Open `path` and check its header (`what` names it in errors: "mic", "far-end").
    ///
    /// # Errors
    /// One-line errors for a missing or unreadable file, a file that is not WAV, an unsupported
    /// rate, channel count or sample format, and a file without samples.
    pub fn open(path: &Path, what: &str) -> anyhow::Result<WavSource> {
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
        let frames = reader.len() as usize / usize::from(spec.channels);
        if frames == 0 {
            bail!("{what} file '{}' contains no audio samples", path.display());
        }
        Ok(WavSource {
            input: Input::File(reader),
            rate: spec.sample_rate,
            channels: spec.channels,
            format,
            frames,
            done: 0,
            interleaved: Vec::new(),
            name: format!("{what} file '{}'", path.display()),
        })
    }

    /// Mono samples already in memory (`format` is what an output copying it should use).
    pub fn from_samples(
        samples: Vec<f32>,
        rate: u32,
        format: SampleFormat,
        name: String,
    ) -> WavSource {
        WavSource {
            frames: samples.len(),
            input: Input::Memory(samples),
            rate,
            channels: 1,
            format,
            done: 0,
            interleaved: Vec::new(),
            name,
        }
    }

    /// Frames (mono samples after the downmix) in the whole file, from its header.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Frames not read yet.
    pub fn remaining(&self) -> usize {
        self.frames - self.done
    }

    /// Duration of the whole file in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.rate)
    }

    /// Fill the start of `out` with the next frames; returns how many (fewer than `out.len()`
    /// only at the end of the file).
    ///
    /// # Errors
    /// When the file is truncated or corrupt, or holds a NaN or infinite sample.
    pub fn read(&mut self, out: &mut [f32]) -> anyhow::Result<usize> {
        let n = out.len().min(self.remaining());
        let ch = usize::from(self.channels);
        match &mut self.input {
            Input::Memory(samples) => out[..n].copy_from_slice(&samples[self.done..self.done + n]),
            Input::File(reader) => {
                let corrupt = |e: hound::Error| {
                    anyhow::anyhow!("{} is truncated or corrupt ({e})", self.name)
                };
                let dst: &mut [f32] = if ch == 1 {
                    &mut out[..n]
                } else {
                    self.interleaved.resize(n * ch, 0.0);
                    &mut self.interleaved
                };
                match self.format {
                    SampleFormat::Float => {
                        for (i, (d, s)) in dst.iter_mut().zip(reader.samples::<f32>()).enumerate() {
                            *d = s.map_err(corrupt)?;
                            if !d.is_finite() {
                                let at = (self.done + i / ch) as f64 / f64::from(self.rate);
                                bail!(
                                    "{} has a non-finite sample ({}) at {at:.3} s; only finite samples can be processed",
                                    self.name,
                                    *d
                                );
                            }
                        }
                    }
                    SampleFormat::Int(bits) => {
                        let scale = 1.0 / (1u64 << (bits - 1)) as f32;
                        for (d, s) in dst.iter_mut().zip(reader.samples::<i32>()) {
                            *d = s.map_err(corrupt)? as f32 * scale;
                        }
                    }
                }
                if ch == 2 {
                    for (o, p) in out[..n].iter_mut().zip(self.interleaved.chunks_exact(2)) {
                        *o = 0.5 * (p[0] + p[1]);
                    }
                }
            }
        }
        self.done += n;
        Ok(n)
    }
}

/// A mono WAV file written block by block (integers are clipped, not wrapped). Call
/// [`finish`](Self::finish) at the end: it writes the final sizes into the header.
pub struct WavSink {
    writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    int_max: Option<f32>,
    path: std::path::PathBuf,
}

impl std::fmt::Debug for WavSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink").field("path", &self.path).finish()
    }
}

impl WavSink {
    /// Create `path` for mono audio at `rate` in `format` (8-bit is written as 16-bit).
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &Path, rate: u32, format: SampleFormat) -> anyhow::Result<WavSink> {
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
        let writer = hound::WavWriter::create(path, spec)
            .with_context(|| format!("cannot create output file '{}'", path.display()))?;
        Ok(WavSink {
            writer,
            int_max: (sample_format == hound::SampleFormat::Int)
                .then(|| ((1i64 << (bits - 1)) - 1) as f32),
            path: path.to_path_buf(),
        })
    }

    /// Append `samples`.
    ///
    /// # Errors
    /// When writing fails (or the file would pass WAV's 4 GiB limit).
    pub fn write(&mut self, samples: &[f32]) -> anyhow::Result<()> {
        let err = |e| anyhow::anyhow!("cannot write output file '{}' ({e})", self.path.display());
        match self.int_max {
            None => {
                for &s in samples {
                    self.writer.write_sample(s).map_err(err)?;
                }
            }
            Some(max) => {
                for &s in samples {
                    let v = (s * (max + 1.0)).round().clamp(-max - 1.0, max) as i32;
                    self.writer.write_sample(v).map_err(err)?;
                }
            }
        }
        Ok(())
    }

    /// Write the header's final sizes and close the file.
    ///
    /// # Errors
    /// When writing fails.
    pub fn finish(self) -> anyhow::Result<()> {
        self.writer
            .finalize()
            .with_context(|| format!("cannot finish output file '{}'", self.path.display()))
    }
}
