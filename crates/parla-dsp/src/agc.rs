//! Level: WebRTC's high-pass filter and AGC2 (adaptive digital gain + limiter) as a [`Stage`].
//!
//! The stage runs its own instance of the WebRTC audio processing module (the `webrtc` cargo
//! feature, the same bundled library as [`crate::aec`]) with only these two components enabled:
//! the capture path of that module is what libwebrtc runs in calls, so nothing of it is rewritten
//! here. In the send chain it comes after noise suppression (as in libwebrtc, where AGC2 follows
//! the noise suppressor, so the gain is not raised on noise).
//!
//! - **High-pass filter**: a second-order IIR with its corner near 80 Hz, removing rumble and
//!   handling noise.
//! - **Downward gain** (written here, `agc/down.rs`, before AGC2): AGC2's adaptive gain never
//!   goes below 0 dB, so a loud talker would keep its level; this slow gain (at most 0 dB) brings
//!   speech louder than [`GainConfig::max_speech_dbfs`] down to it, over about a second of
//!   speech, and holds in pauses. It also keeps an already clipped microphone signal below full
//!   scale. Part of `agc`.
//! - **AGC2 adaptive digital**: estimates the speech level with its own voice activity detector
//!   and raises or lowers a digital gain (at most [`GainConfig::max_gain_change_db_per_s`]) so that
//!   speech peaks reach `-headroom_db` dBFS; the gain is capped so that the estimated noise floor
//!   does not exceed [`GainConfig::max_output_noise_dbfs`] (noise is not pumped up in pauses).
//!   Its limiter keeps the output below full scale (a clipping talker does not clip).
//!
//! `docs/NS.md` ("Level: high-pass filter and AGC2") has the measured levels and per-frame cost.
//!
//! # Real-time safety
//! After [`Stage::prepare`], `process_into` does not allocate on the Rust side (one channel
//! pointer on the stack; `tests/rt_no_alloc.rs`); the C++ module processes the frame in place.

mod down;
#[cfg(feature = "webrtc")]
#[allow(unsafe_code)]
mod webrtc;

use parla_core::frame::sanitize_into;
use parla_core::{ConfigError, FrameMeta, ProcessError};

use crate::stage::{Stage, check_len};

/// The processing rates the stage runs at.
pub const SUPPORTED_RATES: [u32; 3] = [16_000, 32_000, 48_000];

/// Settings of the high-pass filter and AGC2. `GainConfig::default()` is the configuration
/// proposed for calls (both on).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GainConfig {
    /// Run the high-pass filter.
    pub high_pass: bool,
    /// Run AGC2 (adaptive digital gain and limiter).
    pub agc: bool,
    /// Speech peaks are brought to `-headroom_db` dBFS (speech RMS lands about 15 dB lower).
    pub headroom_db: f32,
    /// Largest gain AGC2 applies, dB.
    pub max_gain_db: f32,
    /// Gain at the start, before the speech level is known, dB.
    pub initial_gain_db: f32,
    /// Fastest gain change, dB per second.
    pub max_gain_change_db_per_s: f32,
    /// The gain is capped so that the estimated noise level stays at or below this, dBFS.
    pub max_output_noise_dbfs: f32,
    /// Speech louder than this (mean level of speech frames, dBFS) is brought down to it by
    /// the downward gain before AGC2 (AGC2 itself only raises).
    pub max_speech_dbfs: f32,
}

impl Default for GainConfig {
    fn default() -> Self {
        GainConfig {
            high_pass: true,
            agc: true,
            headroom_db: 1.0,
            max_gain_db: 40.0,
            initial_gain_db: 10.0,
            max_gain_change_db_per_s: 10.0,
            max_output_noise_dbfs: -50.0,
            max_speech_dbfs: -21.0,
        }
    }
}

impl GainConfig {
    /// Check the values are in the ranges the library accepts.
    ///
    /// # Errors
    /// [`ConfigError::InvalidParameter`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name: &'static str, detail: &str| {
            Err(ConfigError::InvalidParameter {
                name,
                detail: detail.into(),
            })
        };
        let ok = |v: f32, lo: f32, hi: f32| v.is_finite() && (lo..=hi).contains(&v);
        if !ok(self.headroom_db, 0.0, 30.0) {
            return bad("headroom_db", "must be within 0-30 dB");
        }
        if !ok(self.max_gain_db, 0.0, 60.0) {
            return bad("max_gain_db", "must be within 0-60 dB");
        }
        if !ok(self.initial_gain_db, 0.0, self.max_gain_db) {
            return bad("initial_gain_db", "must be within 0 and max_gain_db");
        }
        if !ok(self.max_gain_change_db_per_s, 0.1, 100.0) {
            return bad("max_gain_change_db_per_s", "must be within 0.1-100 dB/s");
        }
        if !ok(self.max_output_noise_dbfs, -90.0, 0.0) {
            return bad("max_output_noise_dbfs", "must be within -90-0 dBFS");
        }
        if !ok(self.max_speech_dbfs, -40.0, 0.0) {
            return bad("max_speech_dbfs", "must be within -40-0 dBFS");
        }
        Ok(())
    }
}

/// The high-pass filter and AGC2 stage. See the module docs.
pub struct GainControl {
    config: GainConfig,
    #[cfg(feature = "webrtc")]
    backend: Option<webrtc::WebrtcGain>,
    down: down::DownwardGain,
    frame_len: usize,
}

impl std::fmt::Debug for GainControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GainControl")
            .field("config", &self.config)
            .field("prepared", &(self.frame_len != 0))
            .finish()
    }
}

impl GainControl {
    /// A stage with `config`, not yet prepared.
    pub fn new(config: GainConfig) -> Self {
        GainControl {
            config,
            #[cfg(feature = "webrtc")]
            backend: None,
            down: down::DownwardGain::new(&config),
            frame_len: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GainConfig {
        &self.config
    }

    /// The downward gain applied to the last frame before AGC2, dB (0 unless the talker is
    /// louder than [`GainConfig::max_speech_dbfs`]).
    pub fn downward_gain_db(&self) -> f32 {
        self.down.gain_db()
    }
}

impl Stage for GainControl {
    fn name(&self) -> &'static str {
        "agc"
    }

    fn prepare(&mut self, rate: u32, frame_len: usize) -> Result<(), ConfigError> {
        self.config.validate()?;
        if !SUPPORTED_RATES.contains(&rate) {
            return Err(ConfigError::UnsupportedRate {
                rate,
                supported: "16000, 32000, 48000",
            });
        }
        if frame_len != rate as usize / 100 {
            return Err(ConfigError::InvalidParameter {
                name: "frame_len",
                detail: format!("the gain stage needs 10 ms frames, got {frame_len} samples"),
            });
        }
        #[cfg(feature = "webrtc")]
        {
            self.backend = Some(webrtc::WebrtcGain::new(&self.config, rate)?);
            self.down = down::DownwardGain::new(&self.config);
            self.frame_len = frame_len;
            Ok(())
        }
        #[cfg(not(feature = "webrtc"))]
        {
            Err(ConfigError::Backend {
                backend: "webrtc",
                detail: "the high-pass filter and AGC2 need the `webrtc` cargo feature".into(),
            })
        }
    }

    fn process_into(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        _meta: &mut FrameMeta,
    ) -> Result<(), ProcessError> {
        // RT: a copy and the library's in-place processing.
        check_len(self.frame_len, input.len())?;
        check_len(self.frame_len, output.len())?;
        #[cfg(feature = "webrtc")]
        {
            let Some(backend) = self.backend.as_mut() else {
                return Err(ProcessError::NotPrepared);
            };
            sanitize_into(input, output);
            if self.config.agc {
                self.down.process(output);
            }
            backend.process(output)
        }
        #[cfg(not(feature = "webrtc"))]
        {
            sanitize_into(input, output);
            Err(ProcessError::NotPrepared)
        }
    }

    fn latency_samples(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        #[cfg(feature = "webrtc")]
        if let Some(b) = self.backend.as_mut() {
            b.reset();
        }
        self.down = down::DownwardGain::new(&self.config);
    }
}
