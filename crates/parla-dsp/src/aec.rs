//! Acoustic echo cancellation: WebRTC's AEC3 (and the mobile AECM) behind the [`Stage`] and
//! [`EchoStage`] interfaces.
//!
//! # Backends
//! - `webrtc` (cargo feature, on by default): the C++ WebRTC audio processing module 2.x, built
//!   from the sources bundled in the `webrtc-audio-processing-sys` crate (AEC3 and AECM). Its
//!   build needs meson, cmake and abseil >= 20240722, which `scripts/setup.sh` provides. We call
//!   the `-sys` crate directly rather than its safe wrapper because the wrapper collects the
//!   channel pointers into a `Vec` on every frame, which would allocate on the real-time path.
//! - `sonora` (cargo feature): a pure-Rust port of the same module (AEC3 only, no AECM). It needs
//!   no C++ toolchain, which makes it the route to iOS and Android cross-builds.
//!
//! `docs/AEC.md` has the measured ERLE, double-talk figures and per-frame cost of each mode and
//! backend, and which backend to use on which platform.
//!
//! # Pairing rule (read this if echo "is not cancelled")
//! The canceller learns the echo path from the far-end frames it is given, so:
//! 1. Feed **every** far-end frame that the loudspeaker plays to
//!    [`EchoStage::process_render`], exactly once, in order, at the processing rate, after any
//!    volume or effect processing (what is played, not what was received).
//! 2. Feed every microphone frame to [`Stage::process_into`], in order.
//! 3. Interleave them one to one: render frame *n*, then capture frame *n*. The echo of render
//!    frame *n* must not arrive in a capture frame processed **before** render frame *n* was fed
//!    (the canceller cannot cancel what it has not seen). When the device callbacks run at
//!    different times, feed the render side first and keep the two streams in step; a jittering
//!    ratio (for example two renders, then two captures) is tolerated, a drifting one is not.
//! 4. The *stream delay* is the time from handing a frame to `process_render` until its echo is
//!    handed to `process_into` (playout buffer + acoustic path + capture buffer). AEC3 estimates
//!    it itself (up to several hundred ms); a hint ([`AecConfig::stream_delay_ms`] or
//!    [`EchoCanceller::set_stream_delay_ms`]) only gives it a starting point. AECM (mobile mode)
//!    has a short search range and relies on the hint: set it when the delay exceeds about 50 ms.
//! 5. Both sides use the prepared rate and 10 ms frames; resample the far end before feeding it.
//!
//! # Real-time safety
//! After [`Stage::prepare`], `process_render` and `process_into` neither allocate nor free on
//! the Rust side (`tests/rt_no_alloc_aec.rs` checks it with a counting allocator). The C++
//! backend takes its own uncontended internal mutexes per call; nothing waits on another thread.
//!
//! ```no_run
//! use parla_core::FrameMeta;
//! use parla_dsp::aec::{AecConfig, AecMode, EchoCanceller};
//! use parla_dsp::{EchoStage, Stage};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut aec = EchoCanceller::new(AecConfig::new().mode(AecMode::Aec3));
//! aec.prepare(48_000, 480)?;
//! let (far, mic, mut out) = (vec![0.0f32; 480], vec![0.0f32; 480], vec![0.0f32; 480]);
//! let mut meta = FrameMeta::default();
//! // Per 10 ms: the far-end frame being played, then the microphone frame.
//! aec.process_render(&far)?;
//! aec.process_into(&mic, &mut out, &mut meta)?;
//! # Ok(()) }
//! ```

#[cfg(feature = "sonora")]
mod sonora;
#[cfg(feature = "webrtc")]
#[allow(unsafe_code)]
mod webrtc;

use std::fmt;
use std::str::FromStr;

use parla_core::frame::{level_dbfs, sanitize_into};
use parla_core::{ConfigError, FrameMeta, ProcessError};

use crate::stage::{EchoStage, Stage, check_len};

/// The processing rates the echo canceller runs at.
pub const SUPPORTED_RATES: [u32; 3] = [16_000, 32_000, 48_000];

/// Which canceller runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AecMode {
    /// WebRTC's AEC3: adaptive filters with delay estimation and a residual echo suppressor.
    #[default]
    Aec3,
    /// WebRTC's AECM ("mobile"): cheaper, fixed-point, weaker; `webrtc` backend only.
    Mobile,
    /// No echo cancellation: the capture signal passes through unchanged.
    Off,
}

impl AecMode {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AecMode::Aec3 => "aec3",
            AecMode::Mobile => "mobile",
            AecMode::Off => "off",
        }
    }
}

impl fmt::Display for AecMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string was not a known mode or backend name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {got:?} (expected one of: {expected})")]
pub struct ParseNameError {
    what: &'static str,
    got: String,
    expected: &'static str,
}

impl FromStr for AecMode {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aec3" => Ok(AecMode::Aec3),
            "mobile" | "aecm" => Ok(AecMode::Mobile),
            "off" | "none" => Ok(AecMode::Off),
            _ => Err(ParseNameError {
                what: "echo canceller mode",
                got: s.to_owned(),
                expected: "aec3, mobile, off",
            }),
        }
    }
}

/// Which implementation of the WebRTC audio processing module runs the canceller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AecBackend {
    /// The C++ library (cargo feature `webrtc`).
    Webrtc,
    /// The pure-Rust port (cargo feature `sonora`).
    Sonora,
}

impl AecBackend {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AecBackend::Webrtc => "webrtc",
            AecBackend::Sonora => "sonora",
        }
    }

    /// Whether this build contains the backend (its cargo feature is on).
    pub fn is_available(self) -> bool {
        match self {
            AecBackend::Webrtc => cfg!(feature = "webrtc"),
            AecBackend::Sonora => cfg!(feature = "sonora"),
        }
    }

    /// The backends this build contains, preferred first.
    pub fn available() -> impl Iterator<Item = AecBackend> {
        [AecBackend::Webrtc, AecBackend::Sonora]
            .into_iter()
            .filter(|b| b.is_available())
    }
}

impl Default for AecBackend {
    /// The C++ library when built in, else the Rust port.
    fn default() -> Self {
        if cfg!(feature = "webrtc") || !cfg!(feature = "sonora") {
            AecBackend::Webrtc
        } else {
            AecBackend::Sonora
        }
    }
}

impl fmt::Display for AecBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AecBackend {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "webrtc" => Ok(AecBackend::Webrtc),
            "sonora" => Ok(AecBackend::Sonora),
            _ => Err(ParseNameError {
                what: "echo canceller backend",
                got: s.to_owned(),
                expected: "webrtc, sonora",
            }),
        }
    }
}

/// How AEC3 is tuned (its `EchoCanceller3Config`).
///
/// With the library's default 52 ms linear filter AEC3 removes only about 14-20 dB of the
/// project's small test room's echo linearly (its response outlasts the filter; measured through
/// the exported linear output, docs/AEC.md); the rest of its 30-65 dB ERLE comes from the
/// suppressor, which also attenuates the near end while both ends talk. The tunings differ in
/// how much of that work the linear filter does and how readily the suppressor lets the near
/// end through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AecTuning {
    /// WebRTC's default `EchoCanceller3Config`, as in the browsers (both backends).
    #[default]
    Library,
    /// Full duplex: keeps the near end in double talk (`webrtc` backend, AEC3 mode only: refused
    /// elsewhere rather than ignored). Changes to the library's configuration:
    /// - a refined linear filter of 26 blocks (104 ms) instead of 13 (52 ms), so more of a room's
    ///   echo is removed linearly; the coarse filter keeps its 13 blocks;
    /// - the ERLE the suppressor credits the linear filter with is capped at 16 (12 dB) in both
    ///   bands instead of 4 and 1.5, so it does not assume more residual echo than there is;
    /// - the dominant-near-end detector enters its near-end state when the estimated residual
    ///   echo (125-1875 Hz) is below 0.15 times the near-end power for 2 blocks (library: 0.25,
    ///   12 blocks); it leaves it 3 blocks (12 ms) after that stops holding (library: 49 blocks)
    ///   and at once when the echo estimate exceeds the near end (library: 10 times the near
    ///   end), so echo does not leak after the near end stops;
    /// - the detector is not used during AEC3's initial phase, before the linear filter has
    ///   converged (library: it is; there it gave false near-end states and 11-25 dB ERLE in
    ///   far-end single talk on 4 of 16 scenarios);
    /// - in the near-end state the suppressor is transparent unless the echo estimate exceeds
    ///   10 times the near end in a band (masking thresholds 10 and 20 instead of 0.1-1.1), and
    ///   its gain may change by up to 100x per block.
    ///
    /// Measured (docs/AEC.md): on a converged canceller the SI-SDR gain in double talk averages
    /// 8.0 dB over 11 scenarios (library: -1.0 dB) and 8.6 dB over 80 more, with the near-end
    /// level within 1 dB; far-end single-talk ERLE stays >= 30 dB in every asserted case but is
    /// lower than the library's (34.7-64.8 dB against 55.4-66.8 dB over 16 scenarios). The
    /// longer filter costs 0-12% more per frame (the `aec` bench).
    NearEnd,
    /// Full duplex for long room tails (laptops and desktops in rooms of RT60 0.3-0.6 s;
    /// `webrtc` backend, AEC3 mode only): the near-end tuning's suppressor and near-end detector
    /// (ERLE caps, detector, near-end masks and gain changes as in [`AecTuning::NearEnd`]) with
    /// - the library's 13-block (52 ms) refined filter: on image-method rooms the 26-block filter
    ///   of the near-end tuning lost up to 28 dB of single-talk ERLE against 13 blocks with the
    ///   same suppressor (the longer filter converges more slowly on speech);
    /// - the suppressor's reverberation model for the echo (normal) state decaying at 0.9 per
    ///   block (`ep_strength.default_len`, library 0.83): more of a long room's tail beyond the
    ///   filter is suppressed rather than leaked.
    ///
    /// Measured (docs/AEC.md, "Image-method rooms"; tuned on `aec/img-tune*` only): against the
    /// library tuning, single-talk ERLE within 0.5 dB or higher on every case (hold-out: 27-54 dB
    /// against 9-54 dB), near-end STOI 0.68 against 0.61 and SI-SDR gain in double talk +4.4
    /// against +1.8 dB on the hold-out set; PESQ-WB unchanged (about 1.1). It loses ERLE in a
    /// short noisy room (`chain/dt-d40-*`: 17.9 against 41.0 dB). Not the default: it
    /// still misses 35 dB ERLE in desktop rooms and speexdsp's PESQ-WB and STOI (docs/AEC.md).
    Duplex,
}

impl AecTuning {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AecTuning::Library => "library",
            AecTuning::NearEnd => "near-end",
            AecTuning::Duplex => "duplex",
        }
    }
}

impl fmt::Display for AecTuning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AecTuning {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "library" | "default" => Ok(AecTuning::Library),
            "near-end" | "nearend" => Ok(AecTuning::NearEnd),
            "duplex" => Ok(AecTuning::Duplex),
            _ => Err(ParseNameError {
                what: "echo canceller tuning",
                got: s.to_owned(),
                expected: "library, near-end, duplex",
            }),
        }
    }
}

/// How to build an [`EchoCanceller`] (a builder with chained setters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AecConfig {
    /// The canceller.
    pub mode: AecMode,
    /// The implementation.
    pub backend: AecBackend,
    /// Stream delay hint in ms (see the pairing rule in the module docs); `None` lets AEC3
    /// estimate the delay alone (AECM then assumes 0).
    pub stream_delay_ms: Option<u16>,
    /// Run the library's high-pass filter (about 80 Hz) on the capture signal.
    pub high_pass: bool,
    /// Run the library's AGC2 (adaptive digital gain and limiter) after the canceller.
    pub agc2: bool,
    /// AEC3's tuning (used in AEC3 mode; the near-end tuning is refused in mobile mode, and mode
    /// off runs no canceller).
    pub tuning: AecTuning,
}

impl AecConfig {
    /// AEC3 on the default backend with the library's tuning, no delay hint, no high-pass
    /// filter, no AGC2.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the mode.
    pub fn mode(mut self, mode: AecMode) -> Self {
        self.mode = mode;
        self
    }

    /// Set the backend.
    pub fn backend(mut self, backend: AecBackend) -> Self {
        self.backend = backend;
        self
    }

    /// Set the stream delay hint.
    pub fn stream_delay_ms(mut self, delay: Option<u16>) -> Self {
        self.stream_delay_ms = delay;
        self
    }

    /// Turn the high-pass filter on or off.
    pub fn high_pass(mut self, on: bool) -> Self {
        self.high_pass = on;
        self
    }

    /// Turn AGC2 on or off.
    pub fn agc2(mut self, on: bool) -> Self {
        self.agc2 = on;
        self
    }

    /// Set AEC3's tuning.
    pub fn tuning(mut self, tuning: AecTuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// Check the settings that depend on each other: a tuning other than the library's is
    /// AEC3's, so it is refused with the mobile canceller rather than ignored (mode off runs no
    /// canceller and ignores it). [`EchoCanceller`] checks this in `prepare`; a caller can check
    /// earlier.
    ///
    /// # Errors
    /// [`ConfigError::InvalidParameter`] naming the tuning.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tuning != AecTuning::Library && self.mode == AecMode::Mobile {
            return Err(ConfigError::InvalidParameter {
                name: "aec tuning",
                detail: format!(
                    "the {} tuning applies to aec3 only, not {}",
                    self.tuning, self.mode
                ),
            });
        }
        Ok(())
    }
}

/// What the library reports after a capture frame. Its own echo figures are estimates and were
/// seen to be wrong (a 16 ms delay for a true 60 ms); measure ERLE with
/// `parla_metrics::echo` instead.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AecStats {
    /// The library's echo return loss estimate, dB.
    pub erl_db: Option<f64>,
    /// The library's ERLE estimate, dB.
    pub erle_db: Option<f64>,
    /// The library's estimate of the echo path delay, ms.
    pub delay_ms: Option<i32>,
    /// Fraction of time the adaptive filter diverged, `[0, 1]`.
    pub divergent_filter_fraction: Option<f64>,
    /// Likelihood that residual echo remains in the output, `[0, 1]`.
    pub residual_echo_likelihood: Option<f64>,
    /// Whether the library detected voice in the capture frame, if it reports it.
    pub voice_detected: Option<bool>,
}

/// What each backend provides (both run mono 10 ms frames at the prepared rate).
trait Backend: Send {
    /// Analyse one far-end frame.
    fn render(&mut self, far: &[f32]) -> Result<(), ProcessError>;
    /// Cancel the echo in `mic` into `out` (same length), with the stream delay hint if any.
    fn capture(
        &mut self,
        mic: &[f32],
        out: &mut [f32],
        delay_ms: Option<u16>,
    ) -> Result<(), ProcessError>;
    /// The library's statistics after the last capture frame.
    fn stats(&self) -> AecStats;
    /// Forget the learned echo path and all signal history.
    fn reset(&mut self);
}

enum Engine {
    Unprepared,
    Off,
    Running(Box<dyn Backend>),
}

/// The echo-canceller stage: [`EchoStage::process_render`] takes the far-end reference,
/// [`Stage::process_into`] cancels its echo from the microphone signal.
///
/// Per capture frame it fills [`FrameMeta::level_dbfs`] (output level),
/// [`FrameMeta::echo_delay_ms`] and [`FrameMeta::echo_voice_detected`] (when the library reports
/// them); [`EchoCanceller::stats`] has the rest of what the library reports.
pub struct EchoCanceller {
    config: AecConfig,
    engine: Engine,
    rate: u32,
    frame_len: usize,
    stats: AecStats,
    /// The input frame made finite and in range (see `process_into`), sized in `prepare`.
    clean: Vec<f32>,
}

impl fmt::Debug for EchoCanceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoCanceller")
            .field("config", &self.config)
            .field("rate", &self.rate)
            .field("frame_len", &self.frame_len)
            .field("stats", &self.stats)
            .finish()
    }
}

impl EchoCanceller {
    /// A canceller with `config`; call [`Stage::prepare`] before processing.
    pub fn new(config: AecConfig) -> Self {
        EchoCanceller {
            config,
            engine: Engine::Unprepared,
            rate: 0,
            frame_len: 0,
            stats: AecStats::default(),
            clean: Vec::new(),
        }
    }

    /// The configuration it was built with (and the current delay hint).
    pub fn config(&self) -> &AecConfig {
        &self.config
    }

    /// The library's statistics after the last capture frame (all `None` in mode off).
    pub fn stats(&self) -> AecStats {
        self.stats
    }

    /// Change the stream delay hint, effective from the next capture frame.
    ///
    /// # Real-time safety
    /// Stores a number; callable between frames on the processing thread.
    pub fn set_stream_delay_ms(&mut self, delay: Option<u16>) {
        // RT: plain store.
        self.config.stream_delay_ms = delay;
    }
}

impl Stage for EchoCanceller {
    fn name(&self) -> &'static str {
        "aec"
    }

    fn prepare(&mut self, rate: u32, frame_len: usize) -> Result<(), ConfigError> {
        if !SUPPORTED_RATES.contains(&rate) {
            return Err(ConfigError::UnsupportedRate {
                rate,
                supported: "16000, 32000, 48000",
            });
        }
        if frame_len != rate as usize / 100 {
            return Err(ConfigError::InvalidParameter {
                name: "frame_len",
                detail: format!(
                    "the echo canceller runs 10 ms frames: {} samples at {rate} Hz, not {frame_len}",
                    rate / 100
                ),
            });
        }
        self.config.validate()?;
        self.engine = match self.config.mode {
            AecMode::Off => Engine::Off,
            mode => Engine::Running(make_backend(&self.config, mode, rate)?),
        };
        self.rate = rate;
        self.frame_len = frame_len;
        self.stats = AecStats::default();
        self.clean = vec![0.0; frame_len];
        Ok(())
    }

    /// Cancel the echo in one microphone frame.
    ///
    /// # Real-time safety
    /// Allocation-free after `prepare` (see the module docs).
    fn process_into(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        meta: &mut FrameMeta,
    ) -> Result<(), ProcessError> {
        // RT: no allocation, no blocking.
        check_len(self.frame_len, input.len())?;
        check_len(self.frame_len, output.len())?;
        match &mut self.engine {
            Engine::Unprepared => return Err(ProcessError::NotPrepared),
            Engine::Off => output.copy_from_slice(input),
            Engine::Running(b) => {
                // One NaN in either signal left WebRTC's AEC3 putting out NaN for good
                // (tests/bad-samples.rs): both signals go in finite and within full scale, and
                // should the library still put out something non-finite, it starts over.
                sanitize_into(input, &mut self.clean);
                b.capture(&self.clean, output, self.config.stream_delay_ms)?;
                // A fold without an early exit: it vectorizes, and output is rarely bad.
                if !output.iter().fold(true, |ok, v| ok & v.is_finite()) {
                    b.reset();
                    output.fill(0.0);
                }
                self.stats = b.stats();
                meta.echo_delay_ms = self.stats.delay_ms;
                meta.echo_voice_detected = self.stats.voice_detected;
            }
        }
        meta.level_dbfs = Some(level_dbfs(output));
        Ok(())
    }

    /// The delay the canceller adds, measured (by cross-correlation of a near-end-only signal
    /// through the stage, `tests/aec-latency.rs`): AEC3 frames its input in 4 ms blocks and
    /// delays it by two of them, plus the band-split filter bank's delay at 32 and 48 kHz.
    fn latency_samples(&self) -> usize {
        if matches!(self.engine, Engine::Running(_)) {
            latency_samples(self.config.mode, self.rate)
        } else {
            0
        }
    }

    fn reset(&mut self) {
        if let Engine::Running(b) = &mut self.engine {
            b.reset();
        }
        self.stats = AecStats::default();
    }
}

impl EchoStage for EchoCanceller {
    /// Feed one far-end frame (see the pairing rule in the module docs).
    ///
    /// # Real-time safety
    /// Allocation-free after `prepare` (see the module docs).
    fn process_render(&mut self, far: &[f32]) -> Result<(), ProcessError> {
        // RT: no allocation, no blocking.
        check_len(self.frame_len, far.len())?;
        match &mut self.engine {
            Engine::Unprepared => Err(ProcessError::NotPrepared),
            Engine::Off => Ok(()),
            Engine::Running(b) => {
                // As in `process_into`: the reference goes in finite and within full scale.
                sanitize_into(far, &mut self.clean);
                b.render(&self.clean)
            }
        }
    }
}

/// The output delay of `mode` at `rate` in samples (the same for both backends).
fn latency_samples(mode: AecMode, rate: u32) -> usize {
    match (mode, rate) {
        (AecMode::Off, _) => 0,
        (AecMode::Aec3, 16_000) => 128,
        (AecMode::Aec3, 32_000) => 260,
        (AecMode::Aec3, _) => 430,
        (AecMode::Mobile, 16_000) => 112,
        (AecMode::Mobile, 32_000) => 228,
        (AecMode::Mobile, _) => 382,
    }
}

fn make_backend(
    config: &AecConfig,
    mode: AecMode,
    rate: u32,
) -> Result<Box<dyn Backend>, ConfigError> {
    match config.backend {
        #[cfg(feature = "webrtc")]
        AecBackend::Webrtc => Ok(Box::new(webrtc::WebrtcAec::new(config, mode, rate)?)),
        #[cfg(feature = "sonora")]
        AecBackend::Sonora => Ok(Box::new(sonora::SonoraAec::new(config, mode, rate)?)),
        #[allow(unreachable_patterns)]
        other => Err(ConfigError::Backend {
            backend: other.as_str(),
            detail: format!(
                "not compiled in (enable the cargo feature `{}` of parla-dsp)",
                other.as_str()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in [AecMode::Aec3, AecMode::Mobile, AecMode::Off] {
            assert_eq!(m.as_str().parse::<AecMode>().unwrap(), m);
        }
        for b in [AecBackend::Webrtc, AecBackend::Sonora] {
            assert_eq!(b.as_str().parse::<AecBackend>().unwrap(), b);
        }
        for t in [AecTuning::Library, AecTuning::NearEnd, AecTuning::Duplex] {
            assert_eq!(t.as_str().parse::<AecTuning>().unwrap(), t);
        }
        assert!("loud".parse::<AecTuning>().is_err());
        assert!("aec2".parse::<AecMode>().is_err());
    }

    #[cfg(feature = "sonora")]
    #[test]
    fn sonora_rejects_the_near_end_tuning() {
        let cfg = AecConfig::new()
            .backend(AecBackend::Sonora)
            .tuning(AecTuning::NearEnd);
        assert!(matches!(
            EchoCanceller::new(cfg).prepare(48_000, 480),
            Err(ConfigError::InvalidParameter { .. })
        ));
        let mut aec = EchoCanceller::new(cfg.tuning(AecTuning::Library));
        aec.prepare(48_000, 480).unwrap();
    }

    #[cfg(feature = "webrtc")]
    #[test]
    fn the_near_end_tuning_needs_aec3() {
        let cfg = AecConfig::new()
            .backend(AecBackend::Webrtc)
            .mode(AecMode::Mobile)
            .tuning(AecTuning::NearEnd);
        assert!(matches!(
            cfg.validate(),
            Err(ConfigError::InvalidParameter { .. })
        ));
        assert!(matches!(
            EchoCanceller::new(cfg).prepare(16_000, 160),
            Err(ConfigError::InvalidParameter { .. })
        ));
        assert!(cfg.mode(AecMode::Off).validate().is_ok());
        for (mode, tuning) in [
            (AecMode::Mobile, AecTuning::Library),
            (AecMode::Aec3, AecTuning::NearEnd),
            (AecMode::Aec3, AecTuning::Duplex),
        ] {
            let mut aec = EchoCanceller::new(cfg.mode(mode).tuning(tuning));
            aec.prepare(16_000, 160).unwrap();
        }
    }

    #[test]
    fn rejects_bad_rates_and_frame_lengths() {
        let mut aec = EchoCanceller::new(AecConfig::new().mode(AecMode::Off));
        assert!(matches!(
            aec.prepare(44_100, 441),
            Err(ConfigError::UnsupportedRate { .. })
        ));
        assert!(matches!(
            aec.prepare(48_000, 960),
            Err(ConfigError::InvalidParameter { .. })
        ));
        let mut meta = FrameMeta::default();
        let mut out = [0.0; 480];
        assert_eq!(
            aec.process_into(&[0.0; 480], &mut out, &mut meta),
            Err(ProcessError::NotPrepared)
        );
        aec.prepare(48_000, 480).unwrap();
        assert!(matches!(
            aec.process_render(&[0.0; 479]),
            Err(ProcessError::WrongLength { .. })
        ));
        let input: Vec<f32> = (0..480).map(|i| i as f32 / 480.0).collect();
        aec.process_into(&input, &mut out, &mut meta).unwrap();
        assert_eq!(&out[..], &input[..]);
        assert!(meta.level_dbfs.is_some());
    }
}
