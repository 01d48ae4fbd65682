//! Which Opus complexity to run at: by platform, by bitrate, and lowered under CPU pressure.
//!
//! The encoder's complexity (0..=10) trades CPU for quality, and the trade is not linear: the
//! expensive analysis (pitch search, prediction and the MDCT-domain searches) is switched on in
//! steps, and at call bitrates most of the quality arrives well below 10. The policy follows the
//! shape libwebrtc's Opus encoder uses (a per-platform default, a higher setting below a low
//! bitrate threshold with hysteresis so the setting does not flap as the bandwidth estimate moves)
//! and adds steps down when the device reports CPU pressure (a phone that throttles, a desktop
//! encoding video beside the call). `docs/PERFORMANCE.md` has the measured cost and PESQ-WB of
//! each complexity that the defaults come from.
//!
//! ```
//! use parla_codec::opus::{ComplexityPolicy, CpuPressure, Platform};
//! let mut policy = ComplexityPolicy::for_platform(Platform::Desktop);
//! let c = policy.update(32_000, CpuPressure::Normal);
//! assert_eq!(c, policy.complexity());
//! // Under pressure the setting drops; the caller applies it with `OpusEncoder::set_complexity`.
//! assert!(policy.update(32_000, CpuPressure::Critical) < c);
//! ```

/// The kind of device the call runs on: sets the base complexity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Laptops and desktops: mains power or a large battery, fast cores.
    Desktop,
    /// Phones and tablets: battery, slower and throttled cores.
    Mobile,
}

impl Platform {
    /// The platform this build targets: [`Platform::Mobile`] on Android and iOS, otherwise
    /// [`Platform::Desktop`].
    pub const fn current() -> Self {
        if cfg!(any(target_os = "android", target_os = "ios")) {
            Platform::Mobile
        } else {
            Platform::Desktop
        }
    }
}

/// How hard the device's CPU is pressed, as the application or an OS signal reports it
/// (thermal state, battery saver, a missed audio deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum CpuPressure {
    /// No pressure: the platform's normal setting.
    #[default]
    Normal,
    /// Some pressure (thermal "serious", battery saver): two steps down.
    High,
    /// Deadlines are being missed (thermal "critical"): the floor.
    Critical,
}

/// The complexity policy's settings and its state (the hysteresis needs the last decision).
///
/// Build one per encoder with [`ComplexityPolicy::for_platform`], call
/// [`ComplexityPolicy::update`] whenever the target bitrate or the CPU pressure changes, and apply
/// the result with `OpusEncoder::set_complexity` when it differs from the encoder's current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplexityPolicy {
    /// Complexity at normal bitrates and no CPU pressure.
    pub normal: u8,
    /// Complexity below [`low_rate_threshold_bps`](Self::low_rate_threshold_bps): at low rates
    /// each bit counts more and the encoder costs less per frame, so a higher setting pays.
    pub low_rate: u8,
    /// Bitrate below which [`low_rate`](Self::low_rate) applies, bits per second.
    pub low_rate_threshold_bps: u32,
    /// Half-width of the hysteresis band around the threshold, bits per second: the low-rate
    /// setting starts below `threshold - window` and ends above `threshold + window`.
    pub hysteresis_bps: u32,
    /// Complexity under [`CpuPressure::Critical`] (and the floor of every step down).
    pub floor: u8,
    low_rate_active: bool,
    current: u8,
}

/// Bitrate threshold of the low-rate setting, bits per second (libwebrtc uses the same point).
const LOW_RATE_THRESHOLD_BPS: u32 = 12_500;
/// Hysteresis half-width around the threshold, bits per second.
const HYSTERESIS_BPS: u32 = 1_500;
/// Steps down under [`CpuPressure::High`].
const HIGH_PRESSURE_STEPS: u8 = 2;

impl ComplexityPolicy {
    /// The defaults for `platform`, from the PESQ-WB and CPU measurements in
    /// `docs/PERFORMANCE.md`:
    /// - desktop: 8 at every bitrate. Complexity 9 and 10 change only CELT's searches and
    ///   scored the same PESQ-WB as 8 at 10, 24 and 32 kbps (lower at 16 kbps), at a few percent
    ///   more CPU;
    /// - mobile: 6, and 8 below 12.5 kbps. 6 scores as 7 (7 adds only the tonality analysis) and
    ///   about 0.2 above 5 at 32 kbps for a few percent more CPU; at low rates the frames are
    ///   cheaper and 8 gains most;
    /// - under [`CpuPressure::High`] two steps down (desktop 6, mobile 4), under
    ///   [`CpuPressure::Critical`] 4: the cheapest setting before the drop at 3 and below
    ///   (4 scores as 5).
    pub fn for_platform(platform: Platform) -> Self {
        match platform {
            Platform::Desktop => Self::new(8, 8, 4),
            Platform::Mobile => Self::new(6, 8, 4),
        }
    }

    /// A policy with explicit settings (each clamped to 0..=10, `floor` to at most `normal`),
    /// the default threshold (12.5 kbps) and hysteresis (1.5 kbps).
    pub fn new(normal: u8, low_rate: u8, floor: u8) -> Self {
        let normal = normal.min(10);
        ComplexityPolicy {
            normal,
            low_rate: low_rate.min(10),
            low_rate_threshold_bps: LOW_RATE_THRESHOLD_BPS,
            hysteresis_bps: HYSTERESIS_BPS,
            floor: floor.min(normal),
            low_rate_active: false,
            current: normal,
        }
    }

    /// The complexity the last [`update`](Self::update) chose (the normal setting before the
    /// first).
    pub fn complexity(&self) -> u8 {
        self.current
    }

    /// Choose the complexity for the current target bitrate and CPU pressure, remembering the
    /// low-rate decision for the hysteresis. Returns the new setting (also in
    /// [`complexity`](Self::complexity)).
    ///
    /// # Real-time safety
    /// Arithmetic only; safe on the media thread.
    pub fn update(&mut self, bitrate_bps: u32, pressure: CpuPressure) -> u8 {
        // RT: arithmetic only.
        let low_start = self
            .low_rate_threshold_bps
            .saturating_sub(self.hysteresis_bps);
        let low_end = self
            .low_rate_threshold_bps
            .saturating_add(self.hysteresis_bps);
        if bitrate_bps < low_start {
            self.low_rate_active = true;
        } else if bitrate_bps > low_end {
            self.low_rate_active = false;
        }
        let base = if self.low_rate_active {
            self.low_rate
        } else {
            self.normal
        };
        self.current = match pressure {
            CpuPressure::Normal => base,
            CpuPressure::High => base.saturating_sub(HIGH_PRESSURE_STEPS).max(self.floor),
            CpuPressure::Critical => self.floor,
        };
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desktop_and_mobile_defaults_differ_and_pressure_lowers() {
        let mut d = ComplexityPolicy::for_platform(Platform::Desktop);
        let mut m = ComplexityPolicy::for_platform(Platform::Mobile);
        let dn = d.update(32_000, CpuPressure::Normal);
        let mn = m.update(32_000, CpuPressure::Normal);
        assert!(mn < dn, "mobile {mn} should be below desktop {dn}");
        // Mobile raises its setting at low rates.
        assert!(m.update(8_000, CpuPressure::Normal) > mn);
        let dh = d.update(32_000, CpuPressure::High);
        let dc = d.update(32_000, CpuPressure::Critical);
        assert!(dc < dh && dh < dn, "{dn} > {dh} > {dc}");
        assert_eq!(dc, d.floor);
        // Pressure gone: back to normal.
        assert_eq!(d.update(32_000, CpuPressure::Normal), dn);
    }

    #[test]
    fn low_rates_raise_the_setting_with_hysteresis() {
        let mut p = ComplexityPolicy::new(5, 8, 1);
        assert_eq!(p.update(32_000, CpuPressure::Normal), 5);
        // Inside the band from above: no change yet.
        assert_eq!(p.update(12_000, CpuPressure::Normal), 5);
        // Below the band: low-rate setting.
        assert_eq!(p.update(10_000, CpuPressure::Normal), 8);
        // Back inside the band: stays on the low-rate setting.
        assert_eq!(p.update(13_500, CpuPressure::Normal), 8);
        // Above the band: normal again.
        assert_eq!(p.update(14_500, CpuPressure::Normal), 5);
    }

    #[test]
    fn settings_are_clamped_and_never_below_the_floor() {
        let mut p = ComplexityPolicy::new(40, 99, 50);
        assert_eq!(p.normal, 10);
        assert_eq!(p.low_rate, 10);
        assert_eq!(p.floor, 10);
        let mut q = ComplexityPolicy::new(3, 3, 2);
        assert_eq!(q.update(32_000, CpuPressure::High), 2);
        assert_eq!(p.update(6_000, CpuPressure::Critical), 10);
    }
}
