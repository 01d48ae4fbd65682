//! The WebRTC audio processing module configured for level only: its high-pass filter and AGC2
//! (adaptive digital gain + limiter), echo cancellation off. All `unsafe` of [`super`] lives here.

use std::ptr::NonNull;

use parla_core::{ConfigError, ProcessError};
use webrtc_audio_processing_sys as ffi;

use super::GainConfig;

/// `webrtc::AudioProcessing::kNoError`.
const NO_ERROR: i32 = 0;

/// One `webrtc::AudioProcessing` instance with only the high-pass filter and AGC2 enabled.
pub(super) struct WebrtcGain {
    ap: NonNull<ffi::AudioProcessing>,
    stream: ffi::StreamConfig,
}

// SAFETY: the wrapped `webrtc::AudioProcessing` may be used from any thread (its header documents
// it as thread-safe), and this type is the pointer's only owner; all calls go through `&mut self`.
unsafe impl Send for WebrtcGain {}

impl WebrtcGain {
    pub(super) fn new(config: &GainConfig, rate: u32) -> Result<Self, ConfigError> {
        let mut code = 0;
        // SAFETY: a null configuration selects the library's default AEC3 configuration (unused:
        // the echo canceller stays disabled); `code` is a valid out-pointer during the call.
        let raw = unsafe { ffi::create_audio_processing(std::ptr::null_mut(), &mut code) };
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
        let gain = WebrtcGain {
            ap,
            stream: ffi::StreamConfig::new(rate, 1),
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
            gain_controller2: ffi::AudioProcessing_Config_GainController2 {
                enabled: config.agc,
                input_volume_controller:
                    ffi::AudioProcessing_Config_GainController2_InputVolumeController {
                        enabled: false,
                    },
                adaptive_digital: ffi::AudioProcessing_Config_GainController2_AdaptiveDigital {
                    enabled: config.agc,
                    headroom_db: config.headroom_db,
                    max_gain_db: config.max_gain_db,
                    initial_gain_db: config.initial_gain_db,
                    max_gain_change_db_per_second: config.max_gain_change_db_per_s,
                    max_output_noise_level_dbfs: config.max_output_noise_dbfs,
                },
                fixed_digital: ffi::AudioProcessing_Config_GainController2_FixedDigital {
                    gain_db: 0.0,
                },
            },
            // Echo cancellation, noise suppression and the rest stay off (`Default` zeroes them).
            ..Default::default()
        };
        // SAFETY: `gain.ap` is live; the config is a valid, fully initialised struct that the
        // callee only reads during the call.
        unsafe { ffi::set_config(gain.ap.as_ptr(), &apm_config) };
        Ok(gain)
    }

    pub(super) fn process(&mut self, frame: &mut [f32]) -> Result<(), ProcessError> {
        // RT: no allocation (one channel pointer on the stack).
        let channels: [*mut f32; 1] = [frame.as_mut_ptr()];
        // SAFETY: `ap` is live; `channels` points to one channel of `frame.len()` samples (the
        // checked 10 ms frame `stream` describes), processed in place during the call and not
        // aliased elsewhere while `frame` is mutably borrowed.
        let code = unsafe {
            ffi::process_capture_frame(self.ap.as_ptr(), &self.stream, channels.as_ptr())
        };
        if code == NO_ERROR {
            Ok(())
        } else {
            Err(ProcessError::Backend { code })
        }
    }

    pub(super) fn reset(&mut self) {
        // SAFETY: `ap` is live; re-initialisation keeps the configuration.
        unsafe { ffi::initialize(self.ap.as_ptr()) };
    }
}

impl Drop for WebrtcGain {
    fn drop(&mut self) {
        // SAFETY: `ap` came from `create_audio_processing` and is released exactly once here.
        unsafe { ffi::delete_audio_processing(self.ap.as_ptr()) };
    }
}
