//! WAV reading and writing for the CLI, with the checks a user needs: clear one-line errors for
//! files that are missing, not WAV, empty, or in a format Parla does not take.
//!
//! hound does the parsing (a small, well-kept WAV crate: PCM 8-32 bit and 32-bit float), so we
//! only add validation, conversion to `f32` and the stereo downmix. [`WavSource`] and
//! [`WavSink`] read and write block by block, so `parla process` runs in memory that does not
//! grow with the file's length; [`read`] takes a whole (short) file at once.
//!
//! Speed: hound decodes and encodes one sample per call (a buffered 2-4 byte read or write,
//! a format dispatch and a `Result` per sample), which cost about as much as Parla's whole chain
//! glue in `parla process` (docs/PERFORMANCE.md). So once hound has parsed and checked the
//! header, the common layouts (32-bit float; 16-, 24- and 32-bit integer in containers of that
//! width) are read as whole blocks of bytes and converted in one loop, and [`WavSink`] writes
//! hound's own header bytes followed by whole blocks of samples: the same samples and the same
//! file bytes as hound's per-sample path (the tests below compare them), at a fraction of the
//! instructions. Other layouts (8-bit, 24 bits in 4-byte containers) keep hound's path.

use std::io::{Seek as _, Write as _};
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

/// Size of the file buffers (reads and writes reach the OS in blocks this large).
const IO_BUFFER: usize = 1 << 16;

enum Input {
    /// A layout hound decodes sample by sample.
    File(hound::WavReader<std::io::BufReader<std::fs::File>>),
    /// A layout read as raw little-endian bytes (the reader is at the next sample).
    Raw {
        reader: std::io::BufReader<std::fs::File>,
        layout: RawLayout,
        bytes: Vec<u8>,
    },
    Memory(Vec<f32>),
}

/// The sample layouts read and written as whole blocks of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawLayout {
    F32,
    I16,
    I24,
    I32,
}

impl RawLayout {
    /// The layout of `format` stored in `bytes_per_sample`-byte containers, if it is one of
    /// the block-converted ones.
    fn of(format: SampleFormat, bytes_per_sample: u16) -> Option<RawLayout> {
        match (format, bytes_per_sample) {
            (SampleFormat::Float, 4) => Some(RawLayout::F32),
            (SampleFormat::Int(16), 2) => Some(RawLayout::I16),
            (SampleFormat::Int(24), 3) => Some(RawLayout::I24),
            (SampleFormat::Int(32), 4) => Some(RawLayout::I32),
            _ => None,
        }
    }

    fn width(self) -> usize {
        match self {
            RawLayout::I16 => 2,
            RawLayout::I24 => 3,
            RawLayout::F32 | RawLayout::I32 => 4,
        }
    }
}

/// The bytes per sample (block align / channels, as hound computes it) of the WAV file whose
/// header `reader` holds up to `data_start`, the first byte of its samples: hound has checked
/// the header, but does not expose this. `None` when no `fmt ` chunk is found before
/// `data_start` (then hound's own path reads the file).
fn bytes_per_sample<R: std::io::Read + std::io::Seek>(
    reader: &mut R,
    data_start: u64,
) -> std::io::Result<Option<u16>> {
    use std::io::SeekFrom;
    let mut header = vec![0u8; usize::try_from(data_start).unwrap_or(0)];
    reader.seek(SeekFrom::Start(0))?;
    reader.read_exact(&mut header)?;
    reader.seek(SeekFrom::Start(data_start))?;
    let le16 = |b: &[u8], at: usize| b.get(at..at + 2).map(|x| u16::from_le_bytes([x[0], x[1]]));
    let le32 = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize)
    };
    // "RIFF", size, "WAVE", then chunks: id, size, body (padded to an even length).
    let mut at = 12;
    while let (Some(id), Some(len)) = (header.get(at..at + 4), le32(&header, at + 4)) {
        if id == b"fmt " {
            let body = at + 8;
            return Ok(match (le16(&header, body + 2), le16(&header, body + 12)) {
                (Some(channels), Some(align)) if channels > 0 => Some(align / channels),
                _ => None,
            });
        }
        at = at + 8 + len + (len & 1);
    }
    Ok(None)
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
        let unreadable = |e: std::io::Error| {
            anyhow::anyhow!("cannot read {what} file '{}' ({e})", path.display())
        };
        // hound has parsed and checked the header and stands at the first sample.
        let mut inner = reader.into_inner();
        let data_start = inner.stream_position().map_err(unreadable)?;
        let layout = bytes_per_sample(&mut inner, data_start)
            .map_err(unreadable)?
            .and_then(|b| RawLayout::of(format, b));
        let input = match layout {
            Some(layout) => Input::Raw {
                reader: std::io::BufReader::with_capacity(IO_BUFFER, inner.into_inner()),
                layout,
                bytes: Vec::new(),
            },
            None => {
                // hound's per-sample path, from the start again.
                inner
                    .seek(std::io::SeekFrom::Start(0))
                    .map_err(unreadable)?;
                Input::File(hound::WavReader::new(inner).map_err(|e| {
                    anyhow::anyhow!(
                        "{what} file '{}' is not a readable WAV file ({e})",
                        path.display()
                    )
                })?)
            }
        };
        Ok(WavSource {
            input,
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
            Input::Raw {
                reader,
                layout,
                bytes,
            } => {
                let width = layout.width();
                bytes.resize(n * ch * width, 0);
                read_fully(reader, bytes).map_err(|e| {
                    anyhow::anyhow!(
                        "{} is truncated or corrupt ({})",
                        self.name,
                        hound::Error::IoError(e)
                    )
                })?;
                let dst: &mut [f32] = if ch == 1 {
                    &mut out[..n]
                } else {
                    self.interleaved.resize(n * ch, 0.0);
                    &mut self.interleaved
                };
                // The conversions of hound's per-sample path (`read_le_*`, then as below).
                match layout {
                    RawLayout::F32 => {
                        for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
                            *d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        }
                        // One pass without an early exit (it vectorizes); where only on failure.
                        if !dst.iter().fold(true, |ok, d| ok & d.is_finite()) {
                            let i = dst.iter().position(|d| !d.is_finite()).unwrap_or(0);
                            let at = (self.done + i / ch) as f64 / f64::from(self.rate);
                            bail!(
                                "{} has a non-finite sample ({}) at {at:.3} s; only finite samples can be processed",
                                self.name,
                                dst[i]
                            );
                        }
                    }
                    RawLayout::I16 => {
                        let scale = 1.0 / 32_768.0;
                        for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(2)) {
                            *d = i32::from(i16::from_le_bytes([b[0], b[1]])) as f32 * scale;
                        }
                    }
                    RawLayout::I24 => {
                        let scale = 1.0 / 8_388_608.0;
                        for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(3)) {
                            // Sign-extended from bit 23.
                            let v = i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8;
                            *d = v as f32 * scale;
                        }
                    }
                    RawLayout::I32 => {
                        let scale = 1.0 / 2_147_483_648.0;
                        for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
                            *d = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 * scale;
                        }
                    }
                }
                if ch == 2 {
                    for (o, p) in out[..n].iter_mut().zip(self.interleaved.chunks_exact(2)) {
                        *o = 0.5 * (p[0] + p[1]);
                    }
                }
            }
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

/// Encode `samples` into `bytes` (`W` bytes each, `bytes.len() == W * samples.len()`).
fn encode<const W: usize>(bytes: &mut [u8], samples: &[f32], f: impl Fn(f32) -> [u8; W]) {
    for (b, &s) in bytes.chunks_exact_mut(W).zip(samples) {
        b.copy_from_slice(&f(s));
    }
}

/// Fill `buf` from `reader`, failing as hound does on a file that ends early (an error of kind
/// `Other`, "Failed to read enough bytes.", not `UnexpectedEof`), so the messages stay the same.
fn read_fully<R: std::io::Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<()> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => {
                return Err(std::io::Error::other("Failed to read enough bytes."));
            }
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A mono WAV file written block by block (integers are clipped, not wrapped). Call
/// [`finish`](Self::finish) at the end: it writes the final sizes into the header.
///
/// The header is hound's (`hound::WavWriter` writes it into memory), the samples are encoded a
/// block at a time as hound encodes them one by one, and [`finish`](Self::finish) fills in the
/// two sizes as hound's `finalize` does: the file is byte for byte the one hound would write.
pub struct WavSink {
    file: std::io::BufWriter<std::fs::File>,
    /// Bytes of the header (the data chunk's size field is its last four).
    header_len: u32,
    /// Bytes of samples written so far.
    data_bytes: u64,
    encoding: RawLayout,
    int_max: Option<f32>,
    bytes: Vec<u8>,
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
        let (bits, sample_format, encoding) = match format {
            SampleFormat::Float => (32, hound::SampleFormat::Float, RawLayout::F32),
            // 8-bit WAV is unsigned and rarely wanted: write 16-bit instead.
            SampleFormat::Int(8 | 16) => (16, hound::SampleFormat::Int, RawLayout::I16),
            SampleFormat::Int(24) => (24, hound::SampleFormat::Int, RawLayout::I24),
            SampleFormat::Int(_) => (32, hound::SampleFormat::Int, RawLayout::I32),
        };
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format,
        };
        let cannot = || format!("cannot create output file '{}'", path.display());
        // hound's header for this spec, with both sizes 0 (an empty file's).
        let mut header = std::io::Cursor::new(Vec::new());
        hound::WavWriter::new(&mut header, spec)
            .and_then(hound::WavWriter::finalize)
            .with_context(cannot)?;
        let header = header.into_inner();
        let file = std::fs::File::create(path).with_context(cannot)?;
        let mut file = std::io::BufWriter::with_capacity(IO_BUFFER, file);
        file.write_all(&header).with_context(cannot)?;
        Ok(WavSink {
            file,
            header_len: header.len() as u32,
            data_bytes: 0,
            encoding,
            int_max: (sample_format == hound::SampleFormat::Int)
                .then(|| ((1i64 << (bits - 1)) - 1) as f32),
            bytes: Vec::new(),
            path: path.to_path_buf(),
        })
    }

    /// Append `samples`.
    ///
    /// # Errors
    /// When writing fails or the file would pass WAV's 4 GiB limit.
    pub fn write(&mut self, samples: &[f32]) -> anyhow::Result<()> {
        let path = self.path.display();
        let width = self.encoding.width();
        let data_bytes = self.data_bytes + (samples.len() * width) as u64;
        if data_bytes + u64::from(self.header_len) > u64::from(u32::MAX) {
            bail!("cannot write output file '{path}' (a WAV file holds at most 4 GiB)");
        }
        self.bytes.resize(samples.len() * width, 0);
        let max = self.int_max.unwrap_or(0.0);
        // Integers: rounded and clipped, then the low bytes, little-endian (the value fits).
        let int = |s: f32| (s * (max + 1.0)).round().clamp(-max - 1.0, max) as i32;
        match self.encoding {
            RawLayout::F32 => encode(&mut self.bytes, samples, f32::to_le_bytes),
            RawLayout::I16 => encode(&mut self.bytes, samples, |s| {
                let b = int(s).to_le_bytes();
                [b[0], b[1]]
            }),
            RawLayout::I24 => encode(&mut self.bytes, samples, |s| {
                let b = int(s).to_le_bytes();
                [b[0], b[1], b[2]]
            }),
            RawLayout::I32 => encode(&mut self.bytes, samples, |s| int(s).to_le_bytes()),
        }
        self.file
            .write_all(&self.bytes)
            .map_err(|e| anyhow::anyhow!("cannot write output file '{path}' ({e})"))?;
        self.data_bytes = data_bytes;
        Ok(())
    }

    /// Write the header's final sizes and close the file.
    ///
    /// # Errors
    /// When writing fails.
    pub fn finish(mut self) -> anyhow::Result<()> {
        let path = self.path.display();
        let data_bytes = self.data_bytes as u32;
        // As hound's `finalize`: the RIFF size (the file less its first 8 bytes) at byte 4, the
        // data chunk's size in the header's last 4 bytes.
        let riff = data_bytes + self.header_len - 8;
        let result = (|| -> std::io::Result<()> {
            self.file.seek(std::io::SeekFrom::Start(4))?;
            self.file.write_all(&riff.to_le_bytes())?;
            self.file
                .seek(std::io::SeekFrom::Start(u64::from(self.header_len) - 4))?;
            self.file.write_all(&data_bytes.to_le_bytes())?;
            self.file.flush()
        })();
        result.with_context(|| format!("cannot finish output file '{path}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded signal in [-1.2, 1.2] (so integer output clips), with exact zeros and full
    /// scale among it.
    fn signal(n: usize, seed: u32) -> Vec<f32> {
        use rand::Rng as _;
        let mut rng = parla_testkit::seed::rng(u64::from(seed));
        (0..n)
            .map(|i| match i % 97 {
                0 => 0.0,
                1 => 1.0,
                2 => -1.0,
                _ => rng.random_range(-1.2f32..1.2),
            })
            .collect()
    }

    /// Write `x` (interleaved) with hound, one sample at a time.
    fn write_hound(path: &Path, spec: hound::WavSpecEx, x: &[f32]) {
        let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut w = hound::WavWriter::new_with_spec_ex(f, spec).unwrap();
        let bits = spec.spec.bits_per_sample;
        for &v in x {
            match spec.spec.sample_format {
                hound::SampleFormat::Float => w.write_sample(v).unwrap(),
                hound::SampleFormat::Int => {
                    let max = ((1i64 << (bits - 1)) - 1) as f32;
                    let q = (v * (max + 1.0)).round().clamp(-max - 1.0, max) as i32;
                    if bits == 8 {
                        w.write_sample(q as i8).unwrap();
                    } else {
                        w.write_sample(q).unwrap();
                    }
                }
            }
        }
        w.finalize().unwrap();
    }

    /// The samples hound's per-sample iterator gives, made mono and scaled as `read` does.
    fn read_hound(path: &Path) -> Vec<f32> {
        let mut r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        let x: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
                r.samples::<i32>()
                    .map(|s| s.unwrap() as f32 * scale)
                    .collect()
            }
        };
        if spec.channels == 2 {
            x.chunks_exact(2).map(|p| 0.5 * (p[0] + p[1])).collect()
        } else {
            x
        }
    }

    fn spec_ex(channels: u16, bits: u16, bytes: u16, float: bool) -> hound::WavSpecEx {
        hound::WavSpecEx {
            spec: hound::WavSpec {
                channels,
                sample_rate: 48_000,
                bits_per_sample: bits,
                sample_format: if float {
                    hound::SampleFormat::Float
                } else {
                    hound::SampleFormat::Int
                },
            },
            bytes_per_sample: bytes,
        }
    }

    #[test]
    fn block_reads_give_hounds_samples_in_every_layout() {
        let dir = tempfile::tempdir().unwrap();
        let layouts = [
            (1, 32, 4, true, true),
            (2, 32, 4, true, true),
            (1, 16, 2, false, true),
            (2, 16, 2, false, true),
            (1, 24, 3, false, true),
            (2, 24, 3, false, true),
            (1, 32, 4, false, true),
            // hound's own path: 8-bit, and 24 bits in 4-byte containers.
            (1, 8, 1, false, false),
            (1, 24, 4, false, false),
        ];
        for (i, &(channels, bits, bytes, float, raw)) in layouts.iter().enumerate() {
            let path = dir.path().join(format!("{i}.wav"));
            let x = signal(5003 * usize::from(channels), i as u32 + 1);
            write_hound(&path, spec_ex(channels, bits, bytes, float), &x);
            let want = read_hound(&path);
            let mut src = WavSource::open(&path, "mic").unwrap();
            assert_eq!(matches!(src.input, Input::Raw { .. }), raw, "layout {i}");
            assert_eq!(src.frames(), want.len());
            let mut got = Vec::new();
            let mut block = vec![0.0; 480];
            // Odd block lengths, so blocks straddle the file's buffer.
            for len in [1, 479, 480, 17].into_iter().cycle() {
                if src.remaining() == 0 {
                    break;
                }
                let n = src.read(&mut block[..len]).unwrap();
                got.extend_from_slice(&block[..n]);
            }
            assert_eq!(got.len(), want.len(), "layout {i}");
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "layout {i}: samples differ from hound's"
            );
        }
    }

    #[test]
    fn a_truncated_file_fails_with_hounds_error() {
        let dir = tempfile::tempdir().unwrap();
        let (full, cut) = (dir.path().join("full.wav"), dir.path().join("cut.wav"));
        write_hound(&full, spec_ex(1, 32, 4, true), &signal(1000, 3));
        let bytes = std::fs::read(&full).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
        let mut r = hound::WavReader::open(&cut).unwrap();
        let hound_err = r
            .samples::<f32>()
            .find_map(Result::err)
            .unwrap()
            .to_string();
        let mut src = WavSource::open(&cut, "mic").unwrap();
        let mut block = vec![0.0; 1000];
        let err = src.read(&mut block).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "mic file '{}' is truncated or corrupt ({hound_err})",
                cut.display()
            )
        );
    }

    #[test]
    fn the_sink_writes_the_file_hound_writes() {
        let dir = tempfile::tempdir().unwrap();
        let x = signal(7001, 9);
        let formats = [
            (SampleFormat::Float, spec_ex(1, 32, 4, true)),
            (SampleFormat::Int(8), spec_ex(1, 16, 2, false)),
            (SampleFormat::Int(16), spec_ex(1, 16, 2, false)),
            (SampleFormat::Int(24), spec_ex(1, 24, 3, false)),
            (SampleFormat::Int(32), spec_ex(1, 32, 4, false)),
        ];
        for (i, (format, spec)) in formats.into_iter().enumerate() {
            let (ours, theirs) = (
                dir.path().join(format!("ours{i}.wav")),
                dir.path().join(format!("theirs{i}.wav")),
            );
            let mut sink = WavSink::create(&ours, 48_000, format).unwrap();
            for chunk in x.chunks(480) {
                sink.write(chunk).unwrap();
            }
            sink.write(&[]).unwrap();
            sink.finish().unwrap();
            write_hound(&theirs, spec, &x);
            assert_eq!(
                std::fs::read(&ours).unwrap(),
                std::fs::read(&theirs).unwrap(),
                "{format:?}"
            );
        }
        // An empty output is hound's empty file too.
        let (ours, theirs) = (dir.path().join("e1.wav"), dir.path().join("e2.wav"));
        WavSink::create(&ours, 48_000, SampleFormat::Float)
            .unwrap()
            .finish()
            .unwrap();
        write_hound(&theirs, spec_ex(1, 32, 4, true), &[]);
        assert_eq!(
            std::fs::read(&ours).unwrap(),
            std::fs::read(&theirs).unwrap()
        );
    }
}
