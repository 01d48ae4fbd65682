//! The pure-Rust backend: `sonora`, a port of the same WebRTC audio processing module (AEC3
//! only; it has no AECM).

use parla_core::{ConfigError, ProcessError};
use sonora::config::{
    AdaptiveDigital, EchoCanceller, GainController2, HighPassFilter, MaxProcessingRate, Pipeline,
};
use sonora::{AudioProcessing, Config, StreamConfig};

use super::{AecConfig, AecMode, AecStats, AecTuning, Backend};

/// One `sonora::AudioProcessing` configured for mono echo cancellation.
pub(super) struct SonoraAec {
    ap: AudioProcessing,
    stream: StreamConfig,
    /// The render path wants an output buffer; the far end is only analysed.
    render_scratch: Vec<f32>,
}

impl SonoraAec {
    pub(super) fn new(config: &AecConfig, mode: AecMode, rate: u32) -> Result<Self, ConfigError> {
        if mode != AecMode::Aec3 {
            return Err(ConfigError::InvalidParameter {
                name: "aec mode",
                detail: format!("the sonora backend implements AEC3 only, not {mode}"),
            });
        }
        if config.tuning != AecTuning::Library {
            // sonora 0.2 builds its EchoCanceller3Config inside `AudioProcessing` from the
            // library defaults; its public API takes none (only `transparent_mode`).
            return Err(ConfigError::InvalidParameter {
                name: "aec tuning",
                detail: format!(
                    "the sonora backend runs the library tuning only, not {}",
                    config.tuning
                ),
            });
        }
        let stream = StreamConfig::new(rate, 1);
        // Same settings as the C++ backend, which differ from sonora's defaults (high-pass on,
        // 32 kHz internal rate): 48 kHz internal rate, high-pass only when asked.
        let apm_config = Config {
            pipeline: Pipeline {
                maximum_internal_processing_rate: MaxProcessingRate::Rate48kHz,
                ..Pipeline::default()
            },
            high_pass_filter: config.high_pass.then(HighPassFilter::default),
            echo_canceller: Some(EchoCanceller {
                enforce_high_pass_filtering: false,
                ..EchoCanceller::default()
            }),
            gain_controller2: config.agc2.then(|| GainController2 {
                adaptive_digital: Some(AdaptiveDigital::default()),
                ..GainController2::default()
            }),
            ..Config::default()
        };
        let ap = AudioProcessing::builder()
            .config(apm_config)
            .capture_config(stream)
            .render_config(stream)
            .build();
        Ok(SonoraAec {
            ap,
            stream,
            render_scratch: vec![0.0; rate as usize / 100],
        })
    }
}

fn backend_error(e: sonora::Error) -> ProcessError {
    let code = match e {
        sonora::Error::InvalidSampleRate { .. } => -1,
        sonora::Error::InvalidChannelCount { .. } => -2,
        sonora::Error::ChannelMismatch { .. } => -3,
        sonora::Error::StreamParameterClamped => -4,
    };
    ProcessError::Backend { code }
}

impl Backend for SonoraAec {
    fn render(&mut self, far: &[f32]) -> Result<(), ProcessError> {
        // RT: no allocation (channel slices on the stack, preallocated scratch).
        self.ap
            .process_render_f32(&[far], &mut [&mut self.render_scratch[..]])
            .map_err(backend_error)
    }

    fn capture(
        &mut self,
        mic: &[f32],
        out: &mut [f32],
        delay_ms: Option<u16>,
    ) -> Result<(), ProcessError> {
        // RT: no allocation.
        if let Some(d) = delay_ms {
            // Clamping (above 500 ms) is reported as an error but the delay is still applied.
            let _ = self.ap.set_stream_delay_ms(i32::from(d));
        }
        self.ap
            .process_capture_f32(&[mic], &mut [out])
            .map_err(backend_error)
    }

    fn stats(&self) -> AecStats {
        let s = self.ap.statistics();
        AecStats {
            erl_db: s.echo_return_loss,
            erle_db: s.echo_return_loss_enhancement,
            delay_ms: s.delay_ms,
            divergent_filter_fraction: s.divergent_filter_fraction,
            residual_echo_likelihood: s.residual_echo_likelihood,
            voice_detected: None,
        }
    }

    fn reset(&mut self) {
        let s = self.stream;
        self.ap.initialize(s, s, s, s);
    }
}
