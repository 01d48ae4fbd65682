//! Device sample formats, supported configuration ranges, the format a stream actually runs at,
//! and the conversions between device samples and Parla's `f32`.
//!
//! # Conversion convention
//! A signed integer sample `x` of `b` bits maps to `x / 2^(b-1)`, an unsigned one to
//! `(x - 2^(b-1)) / 2^(b-1)`; floats pass through. The way back multiplies by `2^(b-1)`, rounds to
//! nearest and saturates, after clamping the input to `[-1, 1]` (NaN becomes 0). So every 16-bit
//! value survives `i16 -> f32 -> i16` bit-exactly, and `+1.0` becomes the largest positive value
//! instead of wrapping. These are the conventions of ALSA's own `plug` conversions, which the
//! headless tests rely on to compare bit-exactly.
//!
//! The conversions are written here rather than taken from `dasp_sample` (which cpal re-exports)
//! because its float-to-integer conversions truncate toward zero and assume `s < 1.0`: its 24-bit
//! conversion wraps at `+1.0`, which DSP output can reach.

use cpal::{I24, U24};

/// A sample format a device can run at. Every linear PCM format cpal offers; the 1-bit DSD
/// formats are not supported and are left out of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SampleFormat {
    /// Signed 8-bit.
    I8,
    /// Signed 16-bit.
    I16,
    /// Signed 24-bit in a 32-bit container.
    I24,
    /// Signed 32-bit.
    I32,
    /// Signed 64-bit.
    I64,
    /// Unsigned 8-bit (origin 128).
    U8,
    /// Unsigned 16-bit (origin 32768).
    U16,
    /// Unsigned 24-bit in a 32-bit container (origin 2^23).
    U24,
    /// Unsigned 32-bit (origin 2^31).
    U32,
    /// Unsigned 64-bit (origin 2^63).
    U64,
    /// 32-bit float in `[-1, 1]`.
    F32,
    /// 64-bit float in `[-1, 1]`.
    F64,
}

impl SampleFormat {
    /// Every supported format, in the order listings use.
    pub const ALL: [SampleFormat; 12] = [
        SampleFormat::I8,
        SampleFormat::I16,
        SampleFormat::I24,
        SampleFormat::I32,
        SampleFormat::I64,
        SampleFormat::U8,
        SampleFormat::U16,
        SampleFormat::U24,
        SampleFormat::U32,
        SampleFormat::U64,
        SampleFormat::F32,
        SampleFormat::F64,
    ];

    /// Significant bits per sample (24 for the 24-bit formats).
    pub fn bits(self) -> u32 {
        match self {
            SampleFormat::I8 | SampleFormat::U8 => 8,
            SampleFormat::I16 | SampleFormat::U16 => 16,
            SampleFormat::I24 | SampleFormat::U24 => 24,
            SampleFormat::I32 | SampleFormat::U32 | SampleFormat::F32 => 32,
            SampleFormat::I64 | SampleFormat::U64 | SampleFormat::F64 => 64,
        }
    }

    /// The largest difference a round trip through this format may introduce for an `f32`
    /// sample in `[-1, 1]`: one step of the integer formats (`2^-(bits-1)`, at least the `f32`
    /// precision; half a step from rounding, a full one where the top saturates), zero for the
    /// float formats.
    pub fn precision(self) -> f32 {
        match self {
            SampleFormat::F32 | SampleFormat::F64 => 0.0,
            f => (1.0 / (1u64 << (f.bits() - 1)) as f64).max(f64::from(f32::EPSILON)) as f32,
        }
    }

    pub(crate) fn from_cpal(f: cpal::SampleFormat) -> Option<SampleFormat> {
        Some(match f {
            cpal::SampleFormat::I8 => SampleFormat::I8,
            cpal::SampleFormat::I16 => SampleFormat::I16,
            cpal::SampleFormat::I24 => SampleFormat::I24,
            cpal::SampleFormat::I32 => SampleFormat::I32,
            cpal::SampleFormat::I64 => SampleFormat::I64,
            cpal::SampleFormat::U8 => SampleFormat::U8,
            cpal::SampleFormat::U16 => SampleFormat::U16,
            cpal::SampleFormat::U24 => SampleFormat::U24,
            cpal::SampleFormat::U32 => SampleFormat::U32,
            cpal::SampleFormat::U64 => SampleFormat::U64,
            cpal::SampleFormat::F32 => SampleFormat::F32,
            cpal::SampleFormat::F64 => SampleFormat::F64,
            _ => return None,
        })
    }

    pub(crate) fn to_cpal(self) -> cpal::SampleFormat {
        match self {
            SampleFormat::I8 => cpal::SampleFormat::I8,
            SampleFormat::I16 => cpal::SampleFormat::I16,
            SampleFormat::I24 => cpal::SampleFormat::I24,
            SampleFormat::I32 => cpal::SampleFormat::I32,
            SampleFormat::I64 => cpal::SampleFormat::I64,
            SampleFormat::U8 => cpal::SampleFormat::U8,
            SampleFormat::U16 => cpal::SampleFormat::U16,
            SampleFormat::U24 => cpal::SampleFormat::U24,
            SampleFormat::U32 => cpal::SampleFormat::U32,
            SampleFormat::U64 => cpal::SampleFormat::U64,
            SampleFormat::F32 => cpal::SampleFormat::F32,
            SampleFormat::F64 => cpal::SampleFormat::F64,
        }
    }
}

impl std::fmt::Display for SampleFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            SampleFormat::I8 => "i8",
            SampleFormat::I16 => "i16",
            SampleFormat::I24 => "i24",
            SampleFormat::I32 => "i32",
            SampleFormat::I64 => "i64",
            SampleFormat::U8 => "u8",
            SampleFormat::U16 => "u16",
            SampleFormat::U24 => "u24",
            SampleFormat::U32 => "u32",
            SampleFormat::U64 => "u64",
            SampleFormat::F32 => "f32",
            SampleFormat::F64 => "f64",
        };
        f.write_str(s)
    }
}

/// How a device's buffer (callback) size may be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferRange {
    /// Any size from `min` to `max` frames.
    Frames {
        /// Smallest buffer in frames.
        min: u32,
        /// Largest buffer in frames.
        max: u32,
    },
    /// The host does not say; the device picks.
    Unknown,
}

/// One family of configurations a device supports: a format, a range of channel counts and a
/// range of rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigRange {
    /// The sample format.
    pub format: SampleFormat,
    /// Fewest channels.
    pub min_channels: u16,
    /// Most channels.
    pub max_channels: u16,
    /// Lowest rate in Hz.
    pub min_rate: u32,
    /// Highest rate in Hz.
    pub max_rate: u32,
    /// Buffer sizes for this family (of its smallest channel count).
    pub buffer: BufferRange,
}

impl ConfigRange {
    /// Whether this family contains the format, channel count and rate.
    pub fn contains(&self, format: SampleFormat, channels: u16, rate: u32) -> bool {
        self.format == format
            && (self.min_channels..=self.max_channels).contains(&channels)
            && (self.min_rate..=self.max_rate).contains(&rate)
    }

    /// Converts cpal's ranges, merging consecutive channel counts that share format and rates
    /// (ALSA's `plug` reports 64 channel counts per format otherwise). DSD ranges are dropped.
    pub(crate) fn from_cpal(
        ranges: impl Iterator<Item = cpal::SupportedStreamConfigRange>,
    ) -> Vec<ConfigRange> {
        let mut out: Vec<ConfigRange> = Vec::new();
        for r in ranges {
            let Some(format) = SampleFormat::from_cpal(r.sample_format()) else {
                continue;
            };
            let buffer = match *r.buffer_size() {
                cpal::SupportedBufferSize::Range { min, max } => BufferRange::Frames { min, max },
                cpal::SupportedBufferSize::Unknown => BufferRange::Unknown,
            };
            let ch = r.channels();
            if let Some(last) = out.last_mut()
                && last.format == format
                && last.min_rate == r.min_sample_rate()
                && last.max_rate == r.max_sample_rate()
                && last.max_channels.checked_add(1) == Some(ch)
            {
                last.max_channels = ch;
                continue;
            }
            out.push(ConfigRange {
                format,
                min_channels: ch,
                max_channels: ch,
                min_rate: r.min_sample_rate(),
                max_rate: r.max_sample_rate(),
                buffer,
            });
        }
        out
    }
}

/// The format a stream actually runs at, and the layout of its sample ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamFormat {
    /// The device rate in Hz, which is also the rate of the samples in the ring: the engine
    /// resamples from (capture) or to (playout) this rate.
    pub sample_rate: u32,
    /// Channels the device runs with.
    pub device_channels: u16,
    /// Channels of the interleaved `f32` frames in the ring (the callback maps between the two).
    pub ring_channels: u16,
    /// The device's sample format (converted to and from `f32` in the callback).
    pub sample_format: SampleFormat,
    /// The buffer size asked of the device in frames, if one was set.
    pub buffer_frames: Option<u32>,
}

/// A sample type a device callback can carry: conversion to and from Parla's `f32`.
///
/// See the [module docs](self) for the convention. Both directions are allocation-free and
/// branch-light, for use in the callback.
pub trait DeviceSample: cpal::SizedSample + Copy + Send + 'static {
    /// This sample as `f32` in `[-1, 1]`.
    fn to_f32(self) -> f32;
    /// The sample nearest to `v` (clamped to `[-1, 1]`; NaN becomes the origin).
    fn from_f32(v: f32) -> Self;
}

#[inline]
fn clamp_unit(v: f32) -> f32 {
    // NaN fails both comparisons of `clamp`'s contract, so map it to 0 first.
    if v.is_nan() { 0.0 } else { v.clamp(-1.0, 1.0) }
}

macro_rules! signed_sample {
    ($t:ty, $scale:expr) => {
        impl DeviceSample for $t {
            #[inline]
            fn to_f32(self) -> f32 {
                (self as f64 / $scale) as f32
            }
            #[inline]
            fn from_f32(v: f32) -> Self {
                // `as` saturates: +1.0 * scale becomes the type's maximum.
                (clamp_unit(v) as f64 * $scale).round() as $t
            }
        }
    };
}

macro_rules! unsigned_sample {
    ($t:ty, $signed:ty, $offset:expr) => {
        impl DeviceSample for $t {
            #[inline]
            fn to_f32(self) -> f32 {
                (self.wrapping_sub($offset) as $signed).to_f32()
            }
            #[inline]
            fn from_f32(v: f32) -> Self {
                (<$signed>::from_f32(v) as $t).wrapping_add($offset)
            }
        }
    };
}

signed_sample!(i8, 128.0);
signed_sample!(i16, 32_768.0);
signed_sample!(i32, 2_147_483_648.0);
signed_sample!(i64, 9_223_372_036_854_775_808.0);
unsigned_sample!(u8, i8, 0x80);
unsigned_sample!(u16, i16, 0x8000);
unsigned_sample!(u32, i32, 0x8000_0000);
unsigned_sample!(u64, i64, 0x8000_0000_0000_0000);

const I24_SCALE: f64 = 8_388_608.0;

impl DeviceSample for I24 {
    #[inline]
    fn to_f32(self) -> f32 {
        // Only the low 24 bits are significant; sign-extend them.
        let v = (self.inner() << 8) >> 8;
        (v as f64 / I24_SCALE) as f32
    }
    #[inline]
    fn from_f32(v: f32) -> Self {
        let x = (clamp_unit(v) as f64 * I24_SCALE).round() as i32;
        I24::new_unchecked(x.clamp(-8_388_608, 8_388_607))
    }
}

impl DeviceSample for U24 {
    #[inline]
    fn to_f32(self) -> f32 {
        let v = (self.inner() & 0x00ff_ffff) - 8_388_608;
        (v as f64 / I24_SCALE) as f32
    }
    #[inline]
    fn from_f32(v: f32) -> Self {
        U24::new_unchecked(I24::from_f32(v).inner() + 8_388_608)
    }
}

impl DeviceSample for f32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline]
    fn from_f32(v: f32) -> Self {
        clamp_unit(v)
    }
}

impl DeviceSample for f64 {
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline]
    fn from_f32(v: f32) -> Self {
        f64::from(clamp_unit(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_i16<T: DeviceSample>(fmt: SampleFormat) {
        for x in [i16::MIN, -12345, -1, 0, 1, 777, i16::MAX] {
            let v = f32::from(x) / 32768.0;
            let back = T::from_f32(v).to_f32();
            assert!(
                (back - v).abs() <= fmt.precision(),
                "{fmt}: {x} -> {v} -> {back}"
            );
        }
    }

    #[test]
    fn every_format_round_trips_16_bit_values_within_its_precision() {
        round_trip_i16::<i8>(SampleFormat::I8);
        round_trip_i16::<i16>(SampleFormat::I16);
        round_trip_i16::<I24>(SampleFormat::I24);
        round_trip_i16::<i32>(SampleFormat::I32);
        round_trip_i16::<i64>(SampleFormat::I64);
        round_trip_i16::<u8>(SampleFormat::U8);
        round_trip_i16::<u16>(SampleFormat::U16);
        round_trip_i16::<U24>(SampleFormat::U24);
        round_trip_i16::<u32>(SampleFormat::U32);
        round_trip_i16::<u64>(SampleFormat::U64);
        round_trip_i16::<f32>(SampleFormat::F32);
        round_trip_i16::<f64>(SampleFormat::F64);
    }

    #[test]
    fn sixteen_bit_is_bit_exact_and_wider_formats_are_exact_for_it() {
        for x in i16::MIN..=i16::MAX {
            let v = x.to_f32();
            assert_eq!(v, f32::from(x) / 32768.0);
            assert_eq!(i16::from_f32(v), x);
            assert_eq!(i32::from_f32(v), i32::from(x) << 16);
            assert_eq!(I24::from_f32(v).inner(), i32::from(x) << 8);
            assert_eq!(u16::from_f32(v), (x as u16) ^ 0x8000);
        }
    }

    #[test]
    fn full_scale_saturates_instead_of_wrapping() {
        assert_eq!(i16::from_f32(1.0), i16::MAX);
        assert_eq!(i16::from_f32(2.0), i16::MAX);
        assert_eq!(i16::from_f32(-1.0), i16::MIN);
        assert_eq!(I24::from_f32(1.0).inner(), 8_388_607);
        assert_eq!(I24::from_f32(-3.0).inner(), -8_388_608);
        assert_eq!(U24::from_f32(1.0).inner(), 16_777_215);
        assert_eq!(u8::from_f32(1.0), 255);
        assert_eq!(u8::from_f32(-1.0), 0);
        assert_eq!(i32::from_f32(1.0), i32::MAX);
        assert_eq!(u64::from_f32(-1.0), 0);
        assert_eq!(f32::from_f32(1.5), 1.0);
        assert_eq!(i16::from_f32(f32::NAN), 0);
        assert_eq!(u16::from_f32(f32::NAN), 0x8000);
    }

    #[test]
    fn unsigned_origins_map_to_zero() {
        assert_eq!(0x80u8.to_f32(), 0.0);
        assert_eq!(0x8000u16.to_f32(), 0.0);
        assert_eq!(U24::new_unchecked(8_388_608).to_f32(), 0.0);
        assert_eq!(0x8000_0000u32.to_f32(), 0.0);
        assert_eq!(0x8000_0000_0000_0000u64.to_f32(), 0.0);
        assert_eq!(0u16.to_f32(), -1.0);
    }

    #[test]
    fn cpal_format_mapping_round_trips() {
        for f in SampleFormat::ALL {
            assert_eq!(SampleFormat::from_cpal(f.to_cpal()), Some(f));
        }
        assert_eq!(SampleFormat::from_cpal(cpal::SampleFormat::DsdU8), None);
    }
}
