//! The C++ backend: WebRTC's audio processing module 2.x through `webrtc-audio-processing-sys`
//! (its `bundled` build). All `unsafe` of the echo canceller lives in this file.

use std::ptr::NonNull;

use parla_core::{ConfigError, ProcessError};
use webrtc_audio_processing_sys as ffi;

use super::{AecConfig, AecMode, AecStats, AecTuning, Backend};

/// `webrtc::AudioProcessing::kNoError`.
const NO_ERROR: i32 = 0;

/// One `webrtc::AudioProcessing` instance configured for mono echo cancellation.
pub(super) struct WebrtcAec {
    ap: NonNull<ffi::AudioProcessing>,
    stream: ffi::StreamConfig,
    mode: AecMode,
}

// SAFETY: the wrapped `webrtc::AudioProcessing` may be used from any thread (its header
// documents it as thread-safe: render and capture calls take internal locks), and this type is
// the pointer's only owner. It is not `Sync`: all calls go through `&mut self`.
unsafe impl Send for WebrtcAec {}

impl WebrtcAec {
    pub(super) fn new(config: &AecConfig, mode: AecMode, rate: u32) -> Result<Self, ConfigError> {
        let mut code = 0;
        // `config.validate()` (run by `prepare`) has refused a non-library tuning with AECM.
        let mut aec3_config = match config.tuning {
            AecTuning::Library => None,
            AecTuning::NearEnd => Some(near_end_config(NEAR_END_FILTER_BLOCKS, None)?),
            AecTuning::Duplex => Some(near_end_config(
                LIBRARY_FILTER_BLOCKS,
                Some(DUPLEX_REVERB_DECAY),
            )?),
        };
        let config_ptr = aec3_config.as_mut().map_or(std::ptr::null_mut(), |c| {
            c as *mut ffi::EchoCanceller3Config
        });
        // SAFETY: `config_ptr` is null (the library's default AEC3 configuration) or points to a
        // valid configuration that lives until the end of this function; the callee validates it
        // and copies it into its echo-control factory. `code` is a valid out-pointer for the
        // duration of the call.
        let raw = unsafe { ffi::create_audio_processing(config_ptr, &mut code) };
        let Some(ap) = NonNull::new(raw).filter(|_| code == NO_ERROR) else {
            if let Some(p) = NonNull::new(raw) {
                // SAFETY: `p` came from `create_audio_processing` and is not used afterwards.
                unsafe { ffi::delete_audio_processing(p.as_ptr()) };
            }
            return Err(ConfigError::Backend {
                backend: "webrtc",
                detail: format!("create_audio_processing failed with code {code}"),
            });
        };
        let rate_i32 = i32::try_from(rate).map_err(|_| ConfigError::UnsupportedRate {
            rate,
            supported: "16000, 32000, 48000",
        })?;
        let aec = WebrtcAec {
            ap,
            stream: ffi::StreamConfig::new(rate, 1),
            mode,
        };
        let apm_config = ffi::AudioProcessing_Config {
            pipeline: ffi::AudioProcessing_Config_Pipeline {
                maximum_internal_processing_rate: rate_i32.max(32_000),
                multi_channel_render: false,
                multi_channel_capture: false,
                capture_downmix_method:
                    ffi::AudioProcessing_Config_Pipeline_DownmixMethod_kAverageChannels,
            },
            high_pass_filter: ffi::AudioProcessing_Config_HighPassFilter {
                enabled: config.high_pass,
                apply_in_full_band: true,
            },
            echo_canceller: ffi::AudioProcessing_Config_EchoCanceller {
                enabled: true,
                mobile_mode: mode == AecMode::Mobile,
                enforce_high_pass_filtering: false,
                export_linear_aec_output: false,
            },
            gain_controller2: ffi::AudioProcessing_Config_GainController2 {
                enabled: config.agc2,
                input_volume_controller:
                    ffi::AudioProcessing_Config_GainController2_InputVolumeController {
                        enabled: false,
                    },
                // The C++ defaults (bindgen's `Default` would zero them).
                adaptive_digital: ffi::AudioProcessing_Config_GainController2_AdaptiveDigital {
                    enabled: config.agc2,
                    headroom_db: 5.0,
                    max_gain_db: 50.0,
                    initial_gain_db: 15.0,
                    max_gain_change_db_per_second: 6.0,
                    max_output_noise_level_dbfs: -50.0,
                },
                fixed_digital: ffi::AudioProcessing_Config_GainController2_FixedDigital {
                    gain_db: 0.0,
                },
            },
            // Everything else off: noise suppression is its own stage in Parla's chain.
            ..Default::default()
        };
        // SAFETY: `aec.ap` is a live instance; the config is a valid, fully initialised struct
        // that the callee only reads during the call.
        unsafe { ffi::set_config(aec.ap.as_ptr(), &apm_config) };
        Ok(aec)
    }
}

impl Backend for WebrtcAec {
    fn render(&mut self, far: &[f32]) -> Result<(), ProcessError> {
        // RT: no allocation (one channel pointer on the stack).
        let channels: [*const f32; 1] = [far.as_ptr()];
        // SAFETY: `ap` is live; `channels` points to one channel of `far.len()` samples, which
        // the caller checked is exactly the 10 ms frame `stream` describes; the callee only
        // reads them during the call.
        let code =
            unsafe { ffi::analyze_render_frame(self.ap.as_ptr(), &self.stream, channels.as_ptr()) };
        if code == NO_ERROR {
            Ok(())
        } else {
            Err(ProcessError::Backend { code })
        }
    }

    fn capture(
        &mut self,
        mic: &[f32],
        out: &mut [f32],
        delay_ms: Option<u16>,
    ) -> Result<(), ProcessError> {
        // RT: no allocation (one channel pointer on the stack).
        out.copy_from_slice(mic);
        // AECM needs a delay on every frame; AEC3 uses one only as a starting point.
        let delay = match (self.mode, delay_ms) {
            (_, Some(d)) => Some(i32::from(d)),
            (AecMode::Mobile, None) => Some(0),
            _ => None,
        };
        let channels: [*mut f32; 1] = [out.as_mut_ptr()];
        // SAFETY: `ap` is live; `channels` points to one channel of `out.len()` samples (the
        // checked 10 ms frame `stream` describes), processed in place during the call and not
        // aliased elsewhere while `out` is mutably borrowed.
        let code = unsafe {
            if let Some(d) = delay {
                ffi::set_stream_delay_ms(self.ap.as_ptr(), d);
            }
            ffi::process_capture_frame(self.ap.as_ptr(), &self.stream, channels.as_ptr())
        };
        if code == NO_ERROR {
            Ok(())
        } else {
            Err(ProcessError::Backend { code })
        }
    }

    fn stats(&self) -> AecStats {
        // SAFETY: `ap` is live; the call returns a plain struct by value.
        let s = unsafe { ffi::get_stats(self.ap.as_ptr()) };
        AecStats {
            erl_db: s.echo_return_loss.into(),
            erle_db: s.echo_return_loss_enhancement.into(),
            delay_ms: s.delay_ms.into(),
            divergent_filter_fraction: s.divergent_filter_fraction.into(),
            residual_echo_likelihood: s.residual_echo_likelihood.into(),
            voice_detected: s.voice_detected.into(),
        }
    }

    fn reset(&mut self) {
        // SAFETY: `ap` is live; re-initialisation keeps the configuration.
        unsafe { ffi::initialize(self.ap.as_ptr()) };
    }
}

impl Drop for WebrtcAec {
    fn drop(&mut self) {
        // SAFETY: `ap` came from `create_audio_processing` and is released exactly once here.
        unsafe { ffi::delete_audio_processing(self.ap.as_ptr()) };
    }
}

/// Length of the refined linear filter of [`AecTuning::NearEnd`], in 64-sample blocks at 16 kHz
/// (104 ms; the library's default is 13 blocks, 52 ms).
const NEAR_END_FILTER_BLOCKS: usize = 26;

/// The library's refined filter length, kept by [`AecTuning::Duplex`].
const LIBRARY_FILTER_BLOCKS: usize = 13;

/// The echo state's reverberation decay per block of [`AecTuning::Duplex`] (library 0.83).
const DUPLEX_REVERB_DECAY: f32 = 0.9;

/// The library's default `EchoCanceller3Config` with the suppressor and detector changes of
/// [`AecTuning::NearEnd`] (documented there), a refined filter of `filter_blocks` and, when
/// given, the echo state's reverberation decay (`ep_strength.default_len`), checked by the
/// library's own validation.
fn near_end_config(
    filter_blocks: usize,
    reverb_decay: Option<f32>,
) -> Result<ffi::EchoCanceller3Config, ConfigError> {
    // SAFETY: no arguments; returns the library's default configuration by value (the
    // constructor's default member values are only visible on the C++ side).
    let mut c = unsafe { ffi::create_aec3_config() };
    // A refined filter covering more of a room's response, so the suppressor has less residual
    // echo to remove (the coarse filter stays at the library's 13 blocks: it converges faster).
    c.filter.refined.length_blocks = filter_blocks;
    c.filter.refined_initial.length_blocks = filter_blocks;
    if let Some(decay) = reverb_decay {
        c.ep_strength.default_len = decay;
    }
    // Trust the filter's measured ERLE up to 12 dB (library: 6 dB low band, 1.8 dB high band).
    c.erle.max_l = 16.0;
    c.erle.max_h = 16.0;
    let det = &mut c.suppressor.dominant_nearend_detection;
    det.enr_threshold = 0.15;
    det.trigger_threshold = 2;
    det.use_during_initial_phase = false;
    det.enr_exit_threshold = 1.0;
    det.hold_duration = 4;
    let near = &mut c.suppressor.nearend_tuning;
    for mask in [&mut near.mask_lf, &mut near.mask_hf] {
        mask.enr_transparent = 10.0;
        mask.enr_suppress = 20.0;
    }
    near.max_inc_factor = 100.0;
    near.max_dec_factor_lf = 100.0;
    // SAFETY: `c` is a valid configuration; the call only reads and clamps its fields.
    if unsafe { ffi::validate_aec3_config(&mut c) } {
        Ok(c)
    } else {
        Err(ConfigError::Backend {
            backend: "webrtc",
            detail: "the near-end or duplex AEC3 tuning is outside the library's valid ranges"
                .into(),
        })
    }
}
