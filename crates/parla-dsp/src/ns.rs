//! Noise suppression with nnnoiseless (a Rust port of RNNoise) and a statistical spectral
//! suppressor ([`crate::spectral`]), blended by the estimated SNR.
//!
//! RNNoise runs on 480-sample frames at 48 kHz, exactly one Parla frame at the default
//! processing rate, and reports a voice-activity probability per frame, which we pass on in
//! [`FrameMeta::voice_probability`].
//!
//! Adaptive blend (on by default, [`NoiseSuppressor::set_adaptive`]): RNNoise removes
//! non-stationary noise well at low SNR but distorts speech enough to lower the SI-SDR of fairly
//! clean speech (15 dB SNR and above); the spectral suppressor leaves speech bins nearly
//! untouched and is strong on stationary noise. Both run on every frame with the same one-frame
//! delay. The speech power (frames RNNoise calls voice) over the noise power (the mean power of
//! frames RNNoise calls noise, which sees clicks and babble; the spectral suppressor's
//! minimum-statistics estimate when there are none yet) gives an SNR estimate
//! ([`NoiseSuppressor::estimated_snr_db`]). The wet signal is `w * rnnoise + (1 - w) * spectral`
//! with `w` going from [`RNN_WEIGHT_MAX`] at or below [`BLEND_SNR_LOW_DB`] to 0 at or above
//! [`BLEND_SNR_HIGH_DB`]; then a share `d` of the dry signal is mixed back, from 0 at
//! [`DRY_SNR_LOW_DB`] to [`DRY_WEIGHT_MAX`] at [`DRY_SNR_HIGH_DB`], so fairly clean speech passes
//! (nearly) untouched. Until the first estimate (at most 1.2 s) the signal passes dry; the weights
//! then follow the estimate over about 200 ms. With the blend off, the wet signal is RNNoise's
//! alone. `docs/NS.md` has the measured figures.
//!
//! Strength: the output is `wet + m * (dry - wet)` with `m = d + (1 - d) * (1 - strength)`
//! (`m = 1 - strength` with the blend off), with the dry signal delayed to
//! line up with the denoised one, so `strength = 1` is full suppression and lower values cap the
//! attenuation at about `20 log10(1 - strength)` dB. Bypass outputs the delayed dry signal, so the
//! chain's delay does not change when suppression is switched on or off mid-call.

use nnnoiseless::DenoiseState;
use parla_core::{ConfigError, FrameMeta, ProcessError};

use crate::spectral::SpectralSuppressor;
use crate::stage::{Stage, check_len};

/// Estimated SNR (dB, speech frames over noise) at and below which RNNoise has its largest share.
pub const BLEND_SNR_LOW_DB: f32 = 5.0;
/// Estimated SNR (dB) at and above which only the spectral suppressor is used.
pub const BLEND_SNR_HIGH_DB: f32 = 14.0;
/// RNNoise's largest share of the blend.
pub const RNN_WEIGHT_MAX: f32 = 1.0;
/// Voice probability below which a frame updates the noise power.
const VAD_NOISE: f32 = 0.3;
/// Voice probability above which a frame updates the speech power.
const VAD_SPEECH: f32 = 0.5;
/// Estimated SNR (dB) above which the dry signal is mixed back in.
pub const DRY_SNR_LOW_DB: f32 = 11.0;
/// Estimated SNR (dB) at and above which the dry share is [`DRY_WEIGHT_MAX`].
pub const DRY_SNR_HIGH_DB: f32 = 17.0;
/// Largest share of the dry signal.
pub const DRY_WEIGHT_MAX: f32 = 1.0;
/// Per-frame smoothing of the speech and noise powers (about 0.2 s and 0.5 s).
const SPEECH_SMOOTHING: f32 = 0.95;
const NOISE_SMOOTHING: f32 = 0.98;
/// Frames after which the spectral suppressor's minimum-statistics noise estimate (a minimum over
/// 1.5 s, so still partly speech-biased at 1.2 s: earlier, it read babble at 20 dB SNR as about 12 dB) serves as the SNR estimate's noise when RNNoise has called too few frames noise.
const MINSTAT_FRAMES: u32 = 120;
/// Noise frames (by RNNoise's voice probability) needed before their power is the noise estimate.
const MIN_NOISE_FRAMES: u32 = 5;
/// Per-frame step of the blend weight towards its target (about 200 ms).
const WEIGHT_STEP: f32 = 0.05;

/// The only rate the suppressor runs at.
pub const NS_RATE: u32 = 48_000;
/// Its frame length in samples.
pub const NS_FRAME: usize = DenoiseState::FRAME_SIZE;
/// RNNoise's algorithmic delay: its overlap-add synthesis emits each frame one frame late.
pub const NS_LATENCY: usize = NS_FRAME;

/// Scale between Parla's `[-1, 1]` samples and the 16-bit range RNNoise expects.
const I16_SCALE: f32 = 32_768.0;

/// The noise-suppression stage.
pub struct NoiseSuppressor {
    state: Option<Box<DenoiseState<'static>>>,
    strength: f32,
    bypass: bool,
    adaptive: bool,
    spectral: SpectralSuppressor,
    spectral_out: Vec<f32>,
    scaled_in: Vec<f32>,
    /// The input with NaN as silence and everything within full scale: what the spectral
    /// stage, the SNR tracking and the dry path see (a 1e30 sample must not poison their
    /// state: tests/bad-samples.rs).
    clean_in: Vec<f32>,
    scaled_out: Vec<f32>,
    dry: Vec<f32>,
    frame_len: usize,
    speech_power: f32,
    noise_power: f32,
    rnn_weight: f32,
    dry_weight: f32,
    noise_frames: u32,
    frames: u32,
    weights_set: bool,
}

impl std::fmt::Debug for NoiseSuppressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseSuppressor")
            .field("strength", &self.strength)
            .field("bypass", &self.bypass)
            .field("adaptive", &self.adaptive)
            .field("prepared", &(self.frame_len != 0))
            .finish()
    }
}

impl Default for NoiseSuppressor {
    fn default() -> Self {
        Self::new()
    }
}

impl NoiseSuppressor {
    /// A suppressor at full strength, not yet prepared.
    pub fn new() -> Self {
        NoiseSuppressor {
            state: None,
            strength: 1.0,
            bypass: false,
            adaptive: false,
            spectral: SpectralSuppressor::new(),
            spectral_out: Vec::new(),
            scaled_in: Vec::new(),
            clean_in: Vec::new(),
            scaled_out: Vec::new(),
            dry: Vec::new(),
            frame_len: 0,
            speech_power: 0.0,
            noise_power: 0.0,
            rnn_weight: 0.0,
            dry_weight: 1.0,
            noise_frames: 0,
            frames: 0,
            weights_set: false,
        }
    }

    /// Switch the SNR-driven blend of RNNoise and the spectral suppressor on, or off (RNNoise
    /// alone, the default: behind an echo canceller the blend passes residual echo, see
    /// `SendChainConfig::ns_adaptive`). See the module docs.
    ///
    /// # Real-time safety
    /// A store; safe on the real-time path.
    pub fn set_adaptive(&mut self, on: bool) {
        // RT: a store.
        self.adaptive = on;
    }

    /// Whether the SNR-driven blend is on.
    pub fn adaptive(&self) -> bool {
        self.adaptive
    }

    /// The current SNR estimate in dB (speech frames over noise), `None` before speech was heard.
    pub fn estimated_snr_db(&self) -> Option<f32> {
        // The mean power of the frames RNNoise calls noise, once there are a few (it sees clicks
        // and babble, and does not take continuous speech for noise as a minimum over 1.5 s
        // can); else, after 1.2 s, the spectral suppressor's minimum-statistics estimate (at low
        // SNR RNNoise may call few frames noise); before that, no estimate.
        let noise = if self.noise_frames >= MIN_NOISE_FRAMES {
            self.noise_power
        } else if self.frames >= MINSTAT_FRAMES {
            self.spectral.noise_power()
        } else {
            return None;
        };
        (self.speech_power > 0.0 && noise > 0.0)
            .then(|| 10.0 * ((self.speech_power - noise).max(1e-12) / noise).log10())
    }

    /// RNNoise's current share of the blend, in `[0, 1]` (1 with the blend off).
    pub fn rnnoise_weight(&self) -> f32 {
        if self.adaptive { self.rnn_weight } else { 1.0 }
    }

    /// Update the speech and noise powers from one input frame and its voice probability, and
    /// move the blend weight towards the SNR's target.
    fn track_snr(&mut self, input: &[f32], vad: f32) {
        // RT: arithmetic.
        let e = input.iter().map(|&x| x * x).sum::<f32>() / input.len().max(1) as f32;
        if !e.is_finite() {
            return;
        }
        self.frames = self.frames.saturating_add(1);
        if vad < VAD_NOISE {
            self.noise_frames = self.noise_frames.saturating_add(1);
            self.noise_power = if self.noise_power == 0.0 {
                e
            } else {
                NOISE_SMOOTHING * self.noise_power + (1.0 - NOISE_SMOOTHING) * e
            };
        } else if vad > VAD_SPEECH {
            self.speech_power = if self.speech_power == 0.0 {
                e
            } else {
                SPEECH_SMOOTHING * self.speech_power + (1.0 - SPEECH_SMOOTHING) * e
            };
        }
        // Until the first estimate the signal passes dry (the defaults set in clear_tracking);
        // then the weights start at their targets and follow them over about 200 ms.
        let Some(snr) = self.estimated_snr_db() else {
            return;
        };
        let rnn = ((BLEND_SNR_HIGH_DB - snr) / (BLEND_SNR_HIGH_DB - BLEND_SNR_LOW_DB))
            .clamp(0.0, 1.0)
            * RNN_WEIGHT_MAX;
        let dry = ((snr - DRY_SNR_LOW_DB) / (DRY_SNR_HIGH_DB - DRY_SNR_LOW_DB)).clamp(0.0, 1.0)
            * DRY_WEIGHT_MAX;
        if self.weights_set {
            self.rnn_weight += WEIGHT_STEP * (rnn - self.rnn_weight);
            self.dry_weight += WEIGHT_STEP * (dry - self.dry_weight);
        } else {
            self.rnn_weight = rnn;
            self.dry_weight = dry;
            self.weights_set = true;
        }
    }

    /// Set the strength in `[0, 1]` (clamped): 1 is full suppression, 0 leaves the signal as is.
    ///
    /// # Real-time safety
    /// A store; safe on the real-time path.
    pub fn set_strength(&mut self, strength: f32) {
        // RT: a store.
        self.strength = if strength.is_finite() {
            strength.clamp(0.0, 1.0)
        } else {
            1.0
        };
    }

    /// The current strength.
    pub fn strength(&self) -> f32 {
        self.strength
    }

    /// Switch bypass on or off. The delay stays the same either way.
    ///
    /// # Real-time safety
    /// A store; safe on the real-time path.
    pub fn set_bypass(&mut self, bypass: bool) {
        // RT: a store.
        self.bypass = bypass;
    }
}

impl Stage for NoiseSuppressor {
    fn name(&self) -> &'static str {
        "ns"
    }

    fn prepare(&mut self, rate: u32, frame_len: usize) -> Result<(), ConfigError> {
        if rate != NS_RATE {
            return Err(ConfigError::UnsupportedRate {
                rate,
                supported: "48000 (RNNoise)",
            });
        }
        if frame_len != NS_FRAME {
            return Err(ConfigError::InvalidParameter {
                name: "frame_len",
                detail: format!(
                    "noise suppression needs {NS_FRAME}-sample frames, got {frame_len}"
                ),
            });
        }
        self.state = Some(DenoiseState::new());
        self.scaled_in = vec![0.0; NS_FRAME];
        self.clean_in = vec![0.0; NS_FRAME];
        self.scaled_out = vec![0.0; NS_FRAME];
        self.dry = vec![0.0; NS_LATENCY];
        self.spectral.prepare(rate, frame_len)?;
        self.spectral_out = vec![0.0; NS_FRAME];
        self.frame_len = frame_len;
        self.clear_tracking();
        Ok(())
    }

    fn process_into(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        meta: &mut FrameMeta,
    ) -> Result<(), ProcessError> {
        // RT: fixed-size arithmetic on buffers sized in prepare().
        check_len(self.frame_len, input.len())?;
        check_len(self.frame_len, output.len())?;
        let Some(state) = self.state.as_mut() else {
            return Err(ProcessError::NotPrepared);
        };
        if self.bypass {
            // Delayed dry: NS_LATENCY == frame_len, so the delay line is one whole frame.
            output.copy_from_slice(&self.dry);
            self.dry.copy_from_slice(input);
            meta.voice_probability = None;
            return Ok(());
        }
        for (s, &x) in self.scaled_in.iter_mut().zip(input) {
            // NaN passes `clamp` unchanged and sends RNNoise's FFT into an unreachable path (a
            // process abort, tests/bad-samples.rs): a NaN sample is taken as silence. Infinities
            // and huge values clamp to full scale.
            *s = if x.is_nan() {
                0.0
            } else {
                (x * I16_SCALE).clamp(-I16_SCALE, I16_SCALE - 1.0)
            };
        }
        for (c, &s) in self.clean_in.iter_mut().zip(&self.scaled_in) {
            *c = s / I16_SCALE;
        }
        let vad = state.process_frame(&mut self.scaled_out, &self.scaled_in);
        let vad = if vad.is_finite() {
            vad.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (w, d) = if self.adaptive {
            self.spectral
                .process_into(&self.clean_in, &mut self.spectral_out, meta)?;
            let clean = std::mem::take(&mut self.clean_in);
            self.track_snr(&clean, vad);
            self.clean_in = clean;
            (self.rnn_weight, self.dry_weight)
        } else {
            (1.0, 0.0)
        };
        // The user's strength scales what the blend removes.
        let mix = d + (1.0 - d) * (1.0 - self.strength);
        for (((o, &rnn), &spec), &dry) in output
            .iter_mut()
            .zip(&self.scaled_out)
            .zip(&self.spectral_out)
            .zip(&self.dry)
        {
            let rnn = rnn / I16_SCALE;
            let wet = if w >= 1.0 {
                rnn
            } else {
                spec + w * (rnn - spec)
            };
            *o = wet + mix * (dry - wet);
        }
        self.dry.copy_from_slice(&self.clean_in);
        meta.voice_probability = Some(vad);
        Ok(())
    }

    fn latency_samples(&self) -> usize {
        NS_LATENCY
    }

    fn reset(&mut self) {
        if self.frame_len != 0 {
            self.state = Some(DenoiseState::new());
            self.dry.fill(0.0);
            self.spectral.reset();
            self.clear_tracking();
        }
    }
}

impl NoiseSuppressor {
    fn clear_tracking(&mut self) {
        self.spectral_out.fill(0.0);
        self.speech_power = 0.0;
        self.noise_power = 0.0;
        self.rnn_weight = 0.0;
        self.dry_weight = 1.0;
        self.noise_frames = 0;
        self.frames = 0;
        self.weights_set = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_other_rates_and_unprepared_use() {
        let mut ns = NoiseSuppressor::new();
        let mut meta = FrameMeta::default();
        let mut out = [0.0; NS_FRAME];
        assert_eq!(
            ns.process_into(&[0.0; NS_FRAME], &mut out, &mut meta),
            Err(ProcessError::NotPrepared)
        );
        assert!(ns.prepare(16_000, 160).is_err());
        assert!(ns.prepare(48_000, 960).is_err());
        ns.prepare(48_000, NS_FRAME).unwrap();
        assert!(matches!(
            ns.process_into(&[0.0; 100], &mut out, &mut meta),
            Err(ProcessError::WrongLength { .. })
        ));
    }

    #[test]
    fn bypass_is_a_pure_delay_of_the_reported_latency() {
        let mut ns = NoiseSuppressor::new();
        ns.prepare(48_000, NS_FRAME).unwrap();
        ns.set_bypass(true);
        let mut meta = FrameMeta::default();
        let input: Vec<f32> = (0..NS_FRAME * 3).map(|i| (i as f32 * 0.01).sin()).collect();
        let mut out = vec![0.0; input.len()];
        for (i, o) in input.chunks(NS_FRAME).zip(out.chunks_mut(NS_FRAME)) {
            ns.process_into(i, o, &mut meta).unwrap();
        }
        assert_eq!(&out[NS_LATENCY..], &input[..input.len() - NS_LATENCY]);
        assert!(out[..NS_LATENCY].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn strength_is_clamped() {
        let mut ns = NoiseSuppressor::new();
        ns.set_strength(3.0);
        assert_eq!(ns.strength(), 1.0);
        ns.set_strength(-1.0);
        assert_eq!(ns.strength(), 0.0);
        ns.set_strength(f32::NAN);
        assert_eq!(ns.strength(), 1.0);
    }
}
