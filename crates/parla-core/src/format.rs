//! Audio formats and the 10 ms frame unit.

use crate::error::ConfigError;

/// Device and file rates Parla accepts at its edges.
pub const SUPPORTED_RATES: [u32; 7] = [8_000, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000];

/// Rates the send/receive chains process at internally (DESIGN.md: 48 kHz default).
pub const PROCESSING_RATES: [u32; 3] = [16_000, 32_000, 48_000];

/// The default processing rate.
pub const DEFAULT_PROCESSING_RATE: u32 = 48_000;

/// Largest channel count accepted at the edges (interleaved).
pub const MAX_CHANNELS: u16 = 2;

/// A PCM format: sample rate and channel count. Samples are `f32` in `[-1, 1]`, interleaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioFormat {
    rate: u32,
    channels: u16,
}

impl AudioFormat {
    /// A format at `rate` Hz with `channels` interleaved channels.
    ///
    /// # Errors
    /// [`ConfigError::UnsupportedRate`] unless `rate` is in [`SUPPORTED_RATES`];
    /// [`ConfigError::UnsupportedChannels`] unless `channels` is 1 or 2.
    pub fn new(rate: u32, channels: u16) -> Result<Self, ConfigError> {
        if !SUPPORTED_RATES.contains(&rate) {
            return Err(ConfigError::UnsupportedRate {
                rate,
                supported: "8000, 16000, 22050, 32000, 44100, 48000, 96000",
            });
        }
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(ConfigError::UnsupportedChannels {
                channels,
                supported: "1, 2",
            });
        }
        Ok(AudioFormat { rate, channels })
    }

    /// Mono at `rate`.
    ///
    /// # Errors
    /// As [`AudioFormat::new`].
    pub fn mono(rate: u32) -> Result<Self, ConfigError> {
        Self::new(rate, 1)
    }

    /// Sample rate in Hz.
    pub const fn rate(&self) -> u32 {
        self.rate
    }

    /// Channel count.
    pub const fn channels(&self) -> u16 {
        self.channels
    }

    /// Samples per channel in a 10 ms frame, rounded down (22.05 kHz has 220.5: such rates are
    /// only used at the edges, through a resampler, never as the frame rate of a chain).
    pub const fn frame_len(&self) -> usize {
        (self.rate / 100) as usize
    }

    /// Whether a 10 ms frame at this rate is a whole number of samples.
    pub const fn has_whole_frames(&self) -> bool {
        self.rate.is_multiple_of(100)
    }

    /// Interleaved samples in a 10 ms frame.
    pub const fn frame_samples(&self) -> usize {
        self.frame_len() * self.channels as usize
    }
}

/// Check that `rate` is one of the [`PROCESSING_RATES`].
///
/// # Errors
/// [`ConfigError::UnsupportedRate`] otherwise.
pub fn check_processing_rate(rate: u32) -> Result<(), ConfigError> {
    if PROCESSING_RATES.contains(&rate) {
        Ok(())
    } else {
        Err(ConfigError::UnsupportedRate {
            rate,
            supported: "16000, 32000, 48000",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths() {
        assert_eq!(AudioFormat::mono(48_000).unwrap().frame_len(), 480);
        assert_eq!(AudioFormat::new(44_100, 2).unwrap().frame_samples(), 882);
        assert!(!AudioFormat::mono(22_050).unwrap().has_whole_frames());
    }

    #[test]
    fn rejects_bad_formats() {
        assert!(matches!(
            AudioFormat::mono(12_345),
            Err(ConfigError::UnsupportedRate { rate: 12_345, .. })
        ));
        assert!(AudioFormat::new(48_000, 0).is_err());
        assert!(AudioFormat::new(48_000, 3).is_err());
        assert!(check_processing_rate(44_100).is_err());
        assert!(check_processing_rate(16_000).is_ok());
    }
}
