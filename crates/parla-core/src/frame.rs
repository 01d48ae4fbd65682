//! Audio frames: 10 ms of interleaved `f32` samples with their media time and metadata.

use crate::error::ProcessError;
use crate::format::AudioFormat;
use crate::time::MediaTime;

/// The most interleaved samples one frame can hold: 10 ms of stereo at 96 kHz.
pub const MAX_FRAME_SAMPLES: usize = 960 * 2;

/// What the stages learned about a frame while processing it. Plain data, `Copy`, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FrameMeta {
    /// Media time of the frame's first sample.
    pub timestamp: MediaTime,
    /// Voice-activity probability in `[0, 1]` from the noise suppressor, if it ran.
    pub voice_probability: Option<f32>,
    /// RMS level of the frame after the last stage, in dBFS (`-inf` for silence is clamped to
    /// -120), if a stage measured it.
    pub level_dbfs: Option<f32>,
    /// Whether the echo canceller judged the frame to contain near-end speech, if it ran and
    /// reports that.
    pub echo_voice_detected: Option<bool>,
    /// The echo canceller's estimate of the echo path delay in milliseconds, if it reports one.
    pub echo_delay_ms: Option<i32>,
}

/// One frame of interleaved audio held inline, so it can cross a lock-free queue by value
/// without allocating.
#[derive(Clone, Copy)]
pub struct AudioFrame {
    samples: [f32; MAX_FRAME_SAMPLES],
    len: usize,
    format: AudioFormat,
    /// What the stages learned about this frame.
    pub meta: FrameMeta,
}

impl std::fmt::Debug for AudioFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioFrame")
            .field("len", &self.len)
            .field("format", &self.format)
            .field("meta", &self.meta)
            .finish()
    }
}

impl AudioFrame {
    /// A silent 10 ms frame in `format` (length [`AudioFormat::frame_samples`]).
    pub fn silent(format: AudioFormat, timestamp: MediaTime) -> Self {
        AudioFrame {
            samples: [0.0; MAX_FRAME_SAMPLES],
            len: format.frame_samples().min(MAX_FRAME_SAMPLES),
            format,
            meta: FrameMeta {
                timestamp,
                ..FrameMeta::default()
            },
        }
    }

    /// A frame holding a copy of `samples` (interleaved, in `format`).
    ///
    /// # Errors
    /// [`ProcessError::BufferTooSmall`] if `samples` is longer than [`MAX_FRAME_SAMPLES`];
    /// [`ProcessError::WrongLength`] if it is not a whole number of sample frames.
    pub fn from_samples(
        format: AudioFormat,
        timestamp: MediaTime,
        samples: &[f32],
    ) -> Result<Self, ProcessError> {
        if samples.len() > MAX_FRAME_SAMPLES {
            return Err(ProcessError::BufferTooSmall {
                needed: samples.len(),
                got: MAX_FRAME_SAMPLES,
            });
        }
        if !samples.len().is_multiple_of(format.channels() as usize) {
            return Err(ProcessError::WrongLength {
                expected: samples.len() - samples.len() % format.channels() as usize,
                got: samples.len(),
            });
        }
        let mut frame = AudioFrame::silent(format, timestamp);
        frame.samples[..samples.len()].copy_from_slice(samples);
        frame.len = samples.len();
        Ok(frame)
    }

    /// The frame's format.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Interleaved samples.
    pub fn samples(&self) -> &[f32] {
        &self.samples[..self.len]
    }

    /// Interleaved samples, mutable.
    pub fn samples_mut(&mut self) -> &mut [f32] {
        &mut self.samples[..self.len]
    }

    /// Samples per channel.
    pub fn frames(&self) -> usize {
        self.len / self.format.channels() as usize
    }
}

/// Samples smaller than this in magnitude (but not zero) are flushed to zero by [`sanitize_into`]:
/// far below 24-bit resolution, and denormal-range values cost some CPUs dearly in the stages.
pub const FLUSH_BELOW: f32 = 1e-30;

/// Copies `input` into `out` (the same length) made safe for the stages: NaN and infinities
/// become 0, values beyond full scale are clamped to `[-1, 1]`, tiny values (below
/// [`FLUSH_BELOW`], denormals included) become 0. Returns how many samples were not finite or
/// out of range (flushed tiny values are not counted: they are harmless input).
///
/// # Real-time safety
/// No allocation; one pass.
pub fn sanitize_into(input: &[f32], out: &mut [f32]) -> usize {
    // RT: one pass over stack slices.
    let mut bad = 0;
    for (o, &x) in out.iter_mut().zip(input) {
        let (v, was_bad) = clean(x);
        *o = v;
        bad += usize::from(was_bad);
    }
    bad
}

/// One sample made safe, and whether it was not finite or out of range.
///
/// Written without branches (comparisons and selects only) so that the loops above vectorize:
/// the branchy form cost about 14 instructions per sample. It gives the same bits as
/// [`clean_reference`] for every input (tests below).
#[inline(always)]
fn clean(x: f32) -> (f32, bool) {
    let a = x.abs();
    // NaN fails every comparison, so it is not finite.
    let finite = a <= f32::MAX;
    let bad = !finite | (a > 1.0);
    let v = x.clamp(-1.0, 1.0);
    let v = if finite && a >= FLUSH_BELOW { v } else { 0.0 };
    (v, bad)
}

/// The plain statement of what [`clean`] computes, kept as the tests' reference.
#[cfg(test)]
fn clean_reference(x: f32) -> (f32, bool) {
    if !x.is_finite() {
        (0.0, true)
    } else if x.abs() > 1.0 {
        (x.clamp(-1.0, 1.0), true)
    } else if x.abs() < FLUSH_BELOW {
        (0.0, false)
    } else {
        (x, false)
    }
}

/// [`sanitize_into`] in place.
///
/// # Real-time safety
/// No allocation; one pass.
pub fn sanitize_in_place(samples: &mut [f32]) -> usize {
    // RT: one pass.
    let mut bad = 0;
    for x in samples.iter_mut() {
        let (v, was_bad) = clean(*x);
        *x = v;
        bad += usize::from(was_bad);
    }
    bad
}

/// RMS level of `samples` in dBFS, clamped to -120 dB for silence.
pub fn level_dbfs(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return -120.0;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (energy / samples.len() as f64).sqrt();
    if rms <= 1e-6 {
        -120.0
    } else {
        (20.0 * rms.log10()) as f32
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sanitize_cleans_bad_samples_and_counts_them() {
        let input = [
            0.5,
            f32::NAN,
            f32::INFINITY,
            -1e30,
            1.5,
            1e-40,
            -0.25,
            f32::NEG_INFINITY,
        ];
        let mut out = [9.0; 8];
        assert_eq!(super::sanitize_into(&input, &mut out), 5);
        assert_eq!(out, [0.5, 0.0, 0.0, -1.0, 1.0, 0.0, -0.25, 0.0]);
        let mut again = input;
        assert_eq!(super::sanitize_in_place(&mut again), 5);
        assert_eq!(again, out);
    }

    use super::*;

    #[test]
    fn branchless_clean_gives_the_reference_bits_for_every_kind_of_input() {
        // Every exponent with a spread of mantissas, both signs (NaNs with payloads,
        // infinities, denormals, both zeros, the thresholds and their neighbours included),
        // then the loops themselves on a block of them.
        let mut bits: Vec<u32> = Vec::new();
        for exp in 0..=255u32 {
            for m in [
                0, 1, 2, 0x3f_ffff, 0x40_0000, 0x7f_fffe, 0x7f_ffff, 0x12_3457,
            ] {
                bits.push((exp << 23) | m);
                bits.push(0x8000_0000 | (exp << 23) | m);
            }
        }
        for x in [FLUSH_BELOW, 1.0f32] {
            for d in [-1i32, 0, 1] {
                let b = (x.to_bits() as i32 + d) as u32;
                bits.extend([b, b | 0x8000_0000]);
            }
        }
        let mut state = 0x9e37_79b9u32;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            bits.push(state);
        }
        let input: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
        let mut want_bad = 0;
        let want: Vec<f32> = input
            .iter()
            .map(|&x| {
                let (v, bad) = clean_reference(x);
                want_bad += usize::from(bad);
                v
            })
            .collect();
        for (&x, &w) in input.iter().zip(&want) {
            let (v, bad) = clean(x);
            assert_eq!(v.to_bits(), w.to_bits(), "input bits {:#010x}", x.to_bits());
            assert_eq!(
                bad,
                clean_reference(x).1,
                "input bits {:#010x}",
                x.to_bits()
            );
        }
        let mut out = vec![0.0; input.len()];
        assert_eq!(sanitize_into(&input, &mut out), want_bad);
        assert!(
            out.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        let mut in_place = input.clone();
        assert_eq!(sanitize_in_place(&mut in_place), want_bad);
        assert!(
            in_place
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    #[test]
    fn frame_round_trip() {
        let fmt = AudioFormat::new(48_000, 2).unwrap();
        let data: Vec<f32> = (0..960).map(|i| i as f32 / 960.0).collect();
        let f = AudioFrame::from_samples(fmt, MediaTime::from_millis(20), &data).unwrap();
        assert_eq!(f.samples(), &data[..]);
        assert_eq!(f.frames(), 480);
        assert_eq!(f.meta.timestamp, MediaTime::from_millis(20));
    }

    #[test]
    fn frame_rejects_bad_lengths() {
        let fmt = AudioFormat::new(48_000, 2).unwrap();
        assert!(matches!(
            AudioFrame::from_samples(fmt, MediaTime::ZERO, &[0.0; 3]),
            Err(ProcessError::WrongLength { .. })
        ));
        assert!(matches!(
            AudioFrame::from_samples(fmt, MediaTime::ZERO, &[0.0; MAX_FRAME_SAMPLES + 2]),
            Err(ProcessError::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn levels() {
        assert_eq!(level_dbfs(&[0.0; 480]), -120.0);
        assert!((level_dbfs(&[1.0; 480])).abs() < 1e-6);
        assert!((level_dbfs(&[0.5, -0.5]) + 6.0206).abs() < 1e-3);
    }
}
