//! The bundled test speech (`samples/`, see `samples/PROVENANCE.md`): synthesized speech at
//! 48 kHz mono, part of the repository, so tests that use it never skip.

use crate::data::sample_path;
use crate::wav::{Wav, WavError, read_wav};

/// The near-end talker, `samples/near_speech_clean.wav`.
pub const NEAR_SPEECH: &str = "near_speech_clean.wav";
/// The far-end talker, `samples/far_speech_clean.wav`.
pub const FAR_SPEECH: &str = "far_speech_clean.wav";

/// Bundled sample `name` (a file in `samples/`).
///
/// # Errors
/// [`WavError`] naming the file if it is absent or not a valid WAV.
pub fn sample(name: &str) -> Result<Wav, WavError> {
    read_wav(&sample_path(name))
}

/// Bundled sample `name` as mono samples, checked to be at `rate`.
///
/// # Panics
/// With a message naming the file if it cannot be read or is not at `rate` (a broken checkout:
/// the samples are part of the repository).
pub fn sample_mono_at(name: &str, rate: u32) -> Vec<f32> {
    let wav = sample(name).unwrap_or_else(|e| panic!("bundled test speech: {e}"));
    assert_eq!(wav.rate, rate, "sample rate of samples/{name}");
    wav.mono()
}

/// The near-end talker at 48 kHz, mono.
///
/// # Panics
/// As [`sample_mono_at`].
pub fn near_speech_48k() -> Vec<f32> {
    sample_mono_at(NEAR_SPEECH, 48_000)
}

/// The far-end talker at 48 kHz, mono.
///
/// # Panics
/// As [`sample_mono_at`].
pub fn far_speech_48k() -> Vec<f32> {
    sample_mono_at(FAR_SPEECH, 48_000)
}

/// The first `seconds` of the near-end talker at 48 kHz (all of it if shorter).
///
/// # Panics
/// As [`sample_mono_at`].
pub fn near_speech_seconds(seconds: f64) -> Vec<f32> {
    let mut x = near_speech_48k();
    x.truncate((seconds.max(0.0) * 48_000.0) as usize);
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_talkers_are_48k_mono_speech_and_differ() {
        let near = near_speech_48k();
        let far = far_speech_48k();
        assert!(near.len() > 48_000 && far.len() > 48_000);
        let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        assert!(rms(&near) > 0.01 && rms(&far) > 0.01);
        assert!(
            near.iter()
                .chain(&far)
                .all(|v| v.is_finite() && v.abs() <= 1.0)
        );
        assert_ne!(near[..48_000], far[..48_000]);
        assert_eq!(near_speech_seconds(0.5).len(), 24_000);
    }

    #[test]
    fn a_missing_sample_is_an_error_naming_it() {
        let e = sample("no_such_sample.wav").expect_err("absent");
        assert!(e.to_string().contains("no_such_sample.wav"), "{e}");
    }
}
