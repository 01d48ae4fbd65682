//! What a stream asks of a device ([`DeviceConfig`]) and how that is matched against what the
//! device offers.

use std::time::Duration;

use crate::error::DeviceError;
use crate::format::{BufferRange, ConfigRange, SampleFormat};

/// How to open a capture or playout stream. A builder with chained setters; every field has a
/// default that suits a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    pub(crate) sample_rate: Option<u32>,
    pub(crate) ring_channels: u16,
    pub(crate) device_channels: Option<u16>,
    pub(crate) sample_format: Option<SampleFormat>,
    pub(crate) buffer_frames: Option<u32>,
    pub(crate) ring: Duration,
    pub(crate) event_capacity: usize,
    pub(crate) fallback_to_default: bool,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            sample_rate: Some(48_000),
            ring_channels: 1,
            device_channels: None,
            sample_format: None,
            buffer_frames: None,
            ring: Duration::from_millis(200),
            event_capacity: 32,
            fallback_to_default: true,
        }
    }
}

impl DeviceConfig {
    /// The default: 48 kHz preferred, mono ring, the device's own format, 10 ms buffers, a
    /// 200 ms ring, 32 events, fall back to the default device.
    pub fn new() -> Self {
        Self::default()
    }

    /// The device rate to ask for (default 48 kHz). `None` takes the device's default rate. If
    /// the device does not offer the rate, the nearest one it offers is used; the engine
    /// resamples from [`crate::StreamFormat::sample_rate`].
    pub fn sample_rate(mut self, rate: Option<u32>) -> Self {
        self.sample_rate = rate;
        self
    }

    /// Channels of the frames in the ring (default 1). The callback maps the device's channels
    /// to these, so the ring layout stays the same across device changes.
    pub fn ring_channels(mut self, channels: u16) -> Self {
        self.ring_channels = channels;
        self
    }

    /// Device channels to ask for (default: the ring's, if the device offers it, else the
    /// device's default).
    pub fn device_channels(mut self, channels: Option<u16>) -> Self {
        self.device_channels = channels;
        self
    }

    /// The device sample format to ask for (default: the device's default format).
    pub fn sample_format(mut self, format: Option<SampleFormat>) -> Self {
        self.sample_format = format;
        self
    }

    /// Device buffer (callback) size in frames (default: 10 ms at the device rate), clamped to
    /// what the device offers.
    pub fn buffer_frames(mut self, frames: Option<u32>) -> Self {
        self.buffer_frames = frames;
        self
    }

    /// How much audio the ring holds (default 200 ms).
    pub fn ring_duration(mut self, ring: Duration) -> Self {
        self.ring = ring;
        self
    }

    /// How many events the event queue holds before it drops the oldest (default 32).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Whether a named device that cannot be opened falls back to the default device (default
    /// true), both at open and in `recover`.
    pub fn fallback_to_default(mut self, fallback: bool) -> Self {
        self.fallback_to_default = fallback;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), DeviceError> {
        if self.ring_channels == 0 || self.ring_channels > 64 {
            return Err(DeviceError::InvalidConfig("ring channels must be 1..=64"));
        }
        if self.device_channels.is_some_and(|c| c == 0) {
            return Err(DeviceError::InvalidConfig(
                "device channels must be at least 1",
            ));
        }
        if self
            .sample_rate
            .is_some_and(|r| !(1_000..=768_000).contains(&r))
        {
            return Err(DeviceError::InvalidConfig(
                "sample rate must be 1 kHz..=768 kHz",
            ));
        }
        if self.ring < Duration::from_millis(1) || self.ring > Duration::from_secs(60) {
            return Err(DeviceError::InvalidConfig(
                "ring duration must be 1 ms..=60 s",
            ));
        }
        if self.buffer_frames.is_some_and(|f| f == 0 || f > 1 << 20) {
            return Err(DeviceError::InvalidConfig("buffer frames must be 1..=2^20"));
        }
        Ok(())
    }

    /// Ring capacity in samples for a stream at `rate`.
    pub(crate) fn ring_samples(&self, rate: u32) -> usize {
        let frames = (u128::from(rate) * self.ring.as_micros()).div_ceil(1_000_000);
        (frames as usize).max(1) * usize::from(self.ring_channels)
    }
}

/// The configuration chosen for a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chosen {
    pub format: SampleFormat,
    pub channels: u16,
    pub rate: u32,
    pub buffer_frames: Option<u32>,
}

/// The device default, as far as Parla can use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceDefault {
    pub format: Option<SampleFormat>,
    pub channels: u16,
    pub rate: u32,
}

/// Matches `cfg` against the device's `ranges`: the format first (asked, else the default, else
/// the first usable), then the channel count, then the rate (asked, else default; otherwise the
/// nearest offered), then the buffer size. `None` if the device offers nothing usable.
pub(crate) fn choose(
    cfg: &DeviceConfig,
    ranges: &[ConfigRange],
    default: Option<DeviceDefault>,
) -> Option<Chosen> {
    let has_format = |f: SampleFormat| ranges.iter().any(|r| r.format == f);
    let format = cfg
        .sample_format
        .filter(|f| has_format(*f))
        .or(default.and_then(|d| d.format).filter(|f| has_format(*f)))
        .or(ranges.first().map(|r| r.format))?;
    let of_format: Vec<&ConfigRange> = ranges.iter().filter(|r| r.format == format).collect();
    let has_channels = |c: u16| {
        of_format
            .iter()
            .any(|r| (r.min_channels..=r.max_channels).contains(&c))
    };
    let channels = [
        cfg.device_channels,
        Some(cfg.ring_channels),
        default.map(|d| d.channels),
    ]
    .into_iter()
    .flatten()
    .find(|c| has_channels(*c))
    .or(of_format.first().map(|r| r.min_channels))?;
    let usable: Vec<&&ConfigRange> = of_format
        .iter()
        .filter(|r| (r.min_channels..=r.max_channels).contains(&channels))
        .collect();
    let want = cfg
        .sample_rate
        .or(default.map(|d| d.rate))
        .unwrap_or(48_000);
    let (range, rate) = usable
        .iter()
        .map(|r| (r, want.clamp(r.min_rate, r.max_rate)))
        .min_by_key(|(_, rate)| rate.abs_diff(want))?;
    let buffer_frames = match range.buffer {
        BufferRange::Frames { min, max } => Some(
            cfg.buffer_frames
                .unwrap_or((rate / 100).max(1))
                .clamp(min, max.max(min)),
        ),
        BufferRange::Unknown => cfg.buffer_frames,
    };
    Some(Chosen {
        format,
        channels,
        rate,
        buffer_frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(format: SampleFormat, ch: (u16, u16), rate: (u32, u32)) -> ConfigRange {
        ConfigRange {
            format,
            min_channels: ch.0,
            max_channels: ch.1,
            min_rate: rate.0,
            max_rate: rate.1,
            buffer: BufferRange::Frames { min: 64, max: 8192 },
        }
    }

    #[test]
    fn asked_values_win_when_offered() {
        let ranges = [
            range(SampleFormat::I16, (1, 2), (8_000, 96_000)),
            range(SampleFormat::F32, (1, 8), (8_000, 96_000)),
        ];
        let cfg = DeviceConfig::new()
            .sample_format(Some(SampleFormat::F32))
            .ring_channels(2);
        let c = choose(&cfg, &ranges, None).unwrap();
        assert_eq!(
            c,
            Chosen {
                format: SampleFormat::F32,
                channels: 2,
                rate: 48_000,
                buffer_frames: Some(480)
            }
        );
    }

    #[test]
    fn a_fixed_44k1_stereo_s32_device_is_taken_as_it_is() {
        let ranges = [range(SampleFormat::I32, (2, 2), (44_100, 44_100))];
        let def = DeviceDefault {
            format: Some(SampleFormat::I32),
            channels: 2,
            rate: 44_100,
        };
        let c = choose(&DeviceConfig::new(), &ranges, Some(def)).unwrap();
        assert_eq!(
            c,
            Chosen {
                format: SampleFormat::I32,
                channels: 2,
                rate: 44_100,
                buffer_frames: Some(441)
            }
        );
    }

    #[test]
    fn default_format_and_nearest_rate_and_clamped_buffer() {
        let mut r = range(SampleFormat::U16, (1, 1), (8_000, 16_000));
        r.buffer = BufferRange::Frames {
            min: 256,
            max: 1024,
        };
        let ranges = [r, range(SampleFormat::I8, (1, 1), (8_000, 96_000))];
        let def = DeviceDefault {
            format: Some(SampleFormat::U16),
            channels: 1,
            rate: 16_000,
        };
        let c = choose(&DeviceConfig::new(), &ranges, Some(def)).unwrap();
        assert_eq!(
            (c.format, c.rate, c.buffer_frames),
            (SampleFormat::U16, 16_000, Some(256))
        );
    }

    #[test]
    fn nothing_usable_is_none_and_bad_configs_are_refused() {
        assert_eq!(choose(&DeviceConfig::new(), &[], None), None);
        assert!(DeviceConfig::new().ring_channels(0).validate().is_err());
        assert!(
            DeviceConfig::new()
                .sample_rate(Some(10))
                .validate()
                .is_err()
        );
        assert!(
            DeviceConfig::new()
                .ring_duration(Duration::ZERO)
                .validate()
                .is_err()
        );
        assert!(DeviceConfig::new().validate().is_ok());
        assert_eq!(DeviceConfig::new().ring_samples(48_000), 9_600);
    }
}
