//! WAV reading and writing for tests (through `hound`), with errors that name the file.

use std::path::{Path, PathBuf};

/// A WAV file's samples as `f32` in [-1, 1): integer samples divided by 2^(bits - 1), float
/// samples as stored; interleaved when there are several channels.
#[derive(Debug, Clone, PartialEq)]
pub struct Wav {
    /// The samples, interleaved.
    pub samples: Vec<f32>,
    /// Sample rate, Hz.
    pub rate: u32,
    /// Channel count (at least 1).
    pub channels: u16,
}

impl Wav {
    /// Frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    /// The average of the channels, one sample per frame.
    pub fn mono(&self) -> Vec<f32> {
        let ch = usize::from(self.channels.max(1));
        self.samples
            .chunks_exact(ch)
            .map(|f| f.iter().sum::<f32>() / ch as f32)
            .collect()
    }

    /// Channel `index` (0 is the first), or `None` past the last channel.
    pub fn channel(&self, index: u16) -> Option<Vec<f32>> {
        (index < self.channels).then(|| {
            self.samples
                .iter()
                .skip(usize::from(index))
                .step_by(usize::from(self.channels))
                .copied()
                .collect()
        })
    }
}

/// A WAV file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("WAV file {}: {source}", path.display())]
pub struct WavError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong (I/O, format, truncated data).
    #[source]
    pub source: hound::Error,
}

/// Reads a whole WAV file (PCM integer of 8-32 bits, or 32-bit float; any channel count).
///
/// # Errors
/// [`WavError`] naming `path` if the file cannot be opened, is not a valid WAV or ends early.
pub fn read_wav(path: &Path) -> Result<Wav, WavError> {
    let err = |source| WavError {
        path: path.to_path_buf(),
        source,
    };
    let reader = hound::WavReader::open(path).map_err(err)?;
    let spec = reader.spec();
    let samples = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?
        }
    };
    Ok(Wav {
        samples,
        rate: spec.sample_rate,
        channels: spec.channels,
    })
}

/// Writes `samples` as a mono 16-bit PCM WAV at `rate`, rounding and clamping to full scale
/// (non-finite samples are written as 0).
///
/// # Errors
/// [`WavError`] naming `path` if the file cannot be created or written.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) -> Result<(), WavError> {
    let err = |source| WavError {
        path: path.to_path_buf(),
        source,
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for &s in samples {
        let v = if s.is_finite() {
            (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16
        } else {
            0
        };
        w.write_sample(v).map_err(err)?;
    }
    w.finalize().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_16_bit_round_trip_within_one_step() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.wav");
        let x: Vec<f32> = (0..480).map(|i| (i as f32 * 0.05).sin() * 0.7).collect();
        write_wav(&path, &x, 16_000).expect("write");
        let w = read_wav(&path).expect("read");
        assert_eq!((w.rate, w.channels, w.frames()), (16_000, 1, 480));
        for (a, b) in x.iter().zip(&w.samples) {
            // Written as round(x * 32767), read back over 32768: within two steps.
            assert!((a - b).abs() <= 2.0 / 32768.0, "{a} vs {b}");
        }
    }

    #[test]
    fn out_of_range_and_non_finite_samples_are_clamped_or_zeroed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.wav");
        write_wav(&path, &[2.0, -2.0, f32::NAN, f32::INFINITY], 8_000).expect("write");
        let w = read_wav(&path).expect("read");
        assert_eq!(w.samples, vec![32767.0 / 32768.0, -1.0, 0.0, 0.0]);
    }

    #[test]
    fn stereo_float_channels_and_mono() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("create");
        for (l, r) in [(0.5f32, -0.5f32), (0.25, 0.75)] {
            w.write_sample(l).expect("write");
            w.write_sample(r).expect("write");
        }
        w.finalize().expect("finalize");
        let wav = read_wav(&path).expect("read");
        assert_eq!(wav.frames(), 2);
        assert_eq!(wav.channel(0), Some(vec![0.5, 0.25]));
        assert_eq!(wav.channel(1), Some(vec![-0.5, 0.75]));
        assert_eq!(wav.channel(2), None);
        assert_eq!(wav.mono(), vec![0.0, 0.5]);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.wav");
        let e = read_wav(&missing).expect_err("absent file");
        assert!(e.to_string().contains("missing.wav"), "{e}");
        let junk = dir.path().join("junk.wav");
        std::fs::write(&junk, b"not a wav file at all").expect("write");
        let e = read_wav(&junk).expect_err("not a WAV");
        assert!(e.to_string().contains("junk.wav"), "{e}");
        let e =
            write_wav(&dir.path().join("no/such/dir/x.wav"), &[0.0], 8_000).expect_err("no folder");
        assert!(e.to_string().contains("x.wav"), "{e}");
    }
}
