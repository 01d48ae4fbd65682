//! How a call is configured: one flat, `Copy` structure with documented defaults, so that the C
//! ABI can mirror it field by field.

use parla_core::ConfigError;
use parla_dsp::aec::{AecConfig, AecMode, AecTuning};
use parla_dsp::agc::GainConfig;
use parla_rtp::e2ee::CipherSuite;

/// The Opus payload type Parla sends by default (a dynamic payload type, RFC 3551).
pub const DEFAULT_PAYLOAD_TYPE: u8 = 111;

/// Largest RTP packet the engine sends or accepts, bytes (an Ethernet MTU minus IP/UDP headers,
/// rounded down).
pub const MAX_PACKET: usize = 1400;
/// The largest packet on the wire the call sends or takes: [`MAX_PACKET`] of RTP payload room
/// plus 64 bytes for the RTP header, its extensions and the SFrame header and tag. The one
/// constant every buffer, queue and check uses (the C ABI's `PARLA_MAX_PACKET`).
pub const MAX_WIRE_PACKET: usize = MAX_PACKET + 64;

/// The configuration of one call. Start from [`CallConfig::default`] (48 kHz mono audio, Opus 20
/// ms at 32 kbps with in-band FEC, AEC3, noise suppression, SFrame AES-128-GCM) and change what
/// differs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallConfig {
    /// Rate of the microphone audio (device rate, or the rate the app pushes), Hz.
    pub capture_rate: u32,
    /// Rate of the speaker audio (device rate, or the rate the app pulls), Hz.
    pub playout_rate: u32,
    /// Interleaved channels of the app's capture and playout buffers (1 or 2); the engine
    /// processes mono (capture is down-mixed, playout duplicated).
    pub channels: u16,
    /// Opus bitrate, bits per second (6000..=510000).
    pub bitrate_bps: u32,
    /// Audio per packet, ms: 10, 20, 40 or 60.
    pub frame_ms: u32,
    /// Opus complexity 0..=10.
    pub complexity: u8,
    /// Opus in-band FEC (the jitter buffer recovers a lost packet from the next one).
    pub fec: bool,
    /// The loss rate the FEC is sized for, percent.
    pub expected_loss_percent: u8,
    /// Opus discontinuous transmission in silence.
    pub dtx: bool,
    /// Echo cancellation mode.
    pub aec: AecMode,
    /// AEC3's tuning: the library's (default) or the full-duplex near-end tuning, which keeps
    /// the near end while both talk at some cost in single-talk echo removal (docs/AEC.md).
    /// The near-end tuning needs `aec` = AEC3 and the `webrtc` backend.
    pub aec_tuning: AecTuning,
    /// Optional hint of the echo path delay for the echo canceller, ms.
    pub aec_delay_hint_ms: Option<u16>,
    /// Noise suppression on the send side.
    pub noise_suppression: bool,
    /// Noise suppression strength in `[0, 1]`.
    pub ns_strength: f32,
    /// The high-pass filter (corner near 80 Hz) on the send side, after noise suppression:
    /// removes rumble and handling noise. Default on, as in libwebrtc's calls
    /// ([`parla_dsp::agc`], docs/NS.md).
    pub high_pass: bool,
    /// Automatic gain control on the send side (WebRTC's AGC2 adaptive digital gain and
    /// limiter, with a slow downward gain for loud talkers): speech arrives near -20 dBFS
    /// whether the talker is soft or loud, never clips, and noise in pauses is not raised.
    /// Default on ([`parla_dsp::agc`], docs/NS.md).
    pub agc: bool,
    /// The jitter buffer's low-delay preset (accepts some late loss for less delay).
    pub jitter_low_delay: bool,
    /// Delay from the first packet to the start of playout, ms.
    pub jitter_start_delay_ms: u32,
    /// End-to-end encryption with SFrame. On by default; off only for tests and interop with
    /// plain RTP peers.
    pub e2ee: bool,
    /// SFrame cipher suite.
    pub cipher_suite: CipherSuite,
    /// How long the previous key stays accepted after the peer's first frame under a new key, ms.
    pub key_grace_ms: u32,
    /// RTP payload type of the Opus stream (both directions).
    pub payload_type: u8,
    /// Capacity of the incoming and outgoing packet queues, packets. A full queue drops the
    /// oldest packet (counted).
    pub packet_queue: usize,
    /// Capacity of the capture and playout rings, ms of audio.
    pub ring_ms: u32,
    /// Playout ring level the media thread keeps in app-owned and device mode, ms: the headroom
    /// against scheduling jitter of the media thread, added to the mouth-to-ear delay.
    pub playout_headroom_ms: u32,
    /// Congestion control (docs/CONGESTION.md): RTCP sender/receiver reports and transport-wide
    /// feedback (authenticated under the call's keys when `e2ee` is on), a delay- and
    /// loss-based bandwidth estimate, and the audio adaptation that follows it: the Opus
    /// bitrate (at most `bitrate_bps`, which becomes the ceiling), FEC and expected loss from
    /// the measured loss, and 20/40/60 ms packets under heavy loss or low rates (never shorter
    /// than `frame_ms`; DTX only if `dtx`). Both ends should agree: a peer without it ignores
    /// the extension and counts the RTCP packets as invalid. Default on.
    pub congestion_control: bool,
    /// Video (docs/VIDEO.md, "In the engine"): `None` (the default) for an audio-only call.
    /// With video the call sends the app's frames (encoded off the media thread) under their
    /// own SFrame key, paced, with NACK/RTX and keyframe requests, at the congestion control's
    /// share for video; video needs `congestion_control` (its feedback rides on the call's
    /// authenticated RTCP).
    pub video: Option<crate::video::VideoConfig>,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            capture_rate: 48_000,
            playout_rate: 48_000,
            channels: 1,
            bitrate_bps: 32_000,
            frame_ms: 20,
            complexity: 8, // ComplexityPolicy desktop choice (docs/PERFORMANCE.md)
            fec: true,
            expected_loss_percent: 10,
            dtx: false,
            aec: AecMode::Aec3,
            aec_tuning: AecTuning::Library,
            aec_delay_hint_ms: None,
            noise_suppression: true,
            ns_strength: 1.0,
            high_pass: true,
            agc: true,
            jitter_low_delay: false,
            jitter_start_delay_ms: 40,
            e2ee: true,
            cipher_suite: CipherSuite::AesGcm128Sha256,
            key_grace_ms: 2_000,
            payload_type: DEFAULT_PAYLOAD_TYPE,
            packet_queue: 128,
            ring_ms: 200,
            playout_headroom_ms: 20,
            congestion_control: true,
            video: None,
        }
    }
}

fn invalid(name: &'static str, detail: String) -> ConfigError {
    ConfigError::InvalidParameter { name, detail }
}

/// The capture and playout rates a call accepts, Hz: the rates the processing chain supports
/// that have a whole number of samples per 10 ms (22050 Hz does not).
pub const CALL_RATES: [u32; 6] = [8_000, 16_000, 32_000, 44_100, 48_000, 96_000];

impl CallConfig {
    /// Check every field; the engine calls this before building anything.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, rate) in [
            ("capture_rate", self.capture_rate),
            ("playout_rate", self.playout_rate),
        ] {
            if !CALL_RATES.contains(&rate) {
                return Err(invalid(
                    name,
                    format!("{rate} Hz (one of {CALL_RATES:?}: whole 10 ms frames)"),
                ));
            }
        }
        if !(1..=2).contains(&self.channels) {
            return Err(invalid("channels", format!("{} (1 or 2)", self.channels)));
        }
        if !(6_000..=510_000).contains(&self.bitrate_bps) {
            return Err(invalid(
                "bitrate_bps",
                format!("{} (6000..=510000)", self.bitrate_bps),
            ));
        }
        parla_codec::opus::FrameDuration::from_millis(self.frame_ms)?;
        AecConfig::new()
            .mode(self.aec)
            .tuning(self.aec_tuning)
            .validate()
            .map_err(|e| invalid("aec_tuning", e.to_string()))?;
        if self.complexity > 10 {
            return Err(invalid(
                "complexity",
                format!("{} (0..=10)", self.complexity),
            ));
        }
        if self.expected_loss_percent > 100 {
            return Err(invalid(
                "expected_loss_percent",
                format!("{} (0..=100)", self.expected_loss_percent),
            ));
        }
        if !(0.0..=1.0).contains(&self.ns_strength) {
            return Err(invalid(
                "ns_strength",
                format!("{} (0..=1)", self.ns_strength),
            ));
        }
        if self.jitter_start_delay_ms > 1_000 {
            return Err(invalid(
                "jitter_start_delay_ms",
                format!("{} (0..=1000)", self.jitter_start_delay_ms),
            ));
        }
        if self.payload_type > 127 {
            return Err(invalid(
                "payload_type",
                format!("{} (0..=127)", self.payload_type),
            ));
        }
        if !(4..=4096).contains(&self.packet_queue) {
            return Err(invalid(
                "packet_queue",
                format!("{} (4..=4096)", self.packet_queue),
            ));
        }
        if !(40..=2_000).contains(&self.ring_ms) {
            return Err(invalid("ring_ms", format!("{} (40..=2000)", self.ring_ms)));
        }
        if self.playout_headroom_ms > self.ring_ms / 2 {
            return Err(invalid(
                "playout_headroom_ms",
                format!("{} (at most half of ring_ms)", self.playout_headroom_ms),
            ));
        }
        if let Some(v) = &self.video {
            v.validate(self.payload_type)?;
            if !self.congestion_control {
                return Err(invalid(
                    "video",
                    "video needs congestion_control (NACK, PLI and the bitrate come from it)"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The send chain's level stage for these settings: `None` when both the high-pass filter
    /// and AGC are off, otherwise the call defaults ([`GainConfig::default`]) with each of the
    /// two switched as configured.
    pub fn gain_config(&self) -> Option<GainConfig> {
        (self.high_pass || self.agc).then(|| GainConfig {
            high_pass: self.high_pass,
            agc: self.agc,
            ..GainConfig::default()
        })
    }

    /// Samples per 10 ms at the capture rate (mono).
    pub fn capture_frame(&self) -> usize {
        self.capture_rate as usize / 100
    }

    /// Samples per 10 ms at the playout rate (mono).
    pub fn playout_frame(&self) -> usize {
        self.playout_rate as usize / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_pass_and_agc_map_to_the_gain_stage() {
        let on = CallConfig::default().gain_config().expect("on by default");
        assert!(on.high_pass && on.agc);
        let hp_only = CallConfig {
            agc: false,
            ..Default::default()
        }
        .gain_config()
        .expect("the high-pass filter alone");
        assert!(hp_only.high_pass && !hp_only.agc);
        let off = CallConfig {
            high_pass: false,
            agc: false,
            ..Default::default()
        };
        assert_eq!(off.gain_config(), None);
    }

    #[test]
    fn defaults_validate_and_each_bad_field_is_named() {
        assert!(CallConfig::default().validate().is_ok());
        let bad: [(&str, CallConfig); 7] = [
            (
                "capture",
                CallConfig {
                    capture_rate: 12_345,
                    ..Default::default()
                },
            ),
            (
                "channels",
                CallConfig {
                    channels: 3,
                    ..Default::default()
                },
            ),
            (
                "bitrate_bps",
                CallConfig {
                    bitrate_bps: 100,
                    ..Default::default()
                },
            ),
            (
                "frame",
                CallConfig {
                    frame_ms: 25,
                    ..Default::default()
                },
            ),
            (
                "aec_tuning",
                CallConfig {
                    aec: AecMode::Mobile,
                    aec_tuning: AecTuning::NearEnd,
                    ..Default::default()
                },
            ),
            (
                "ns_strength",
                CallConfig {
                    ns_strength: 2.0,
                    ..Default::default()
                },
            ),
            (
                "packet_queue",
                CallConfig {
                    packet_queue: 0,
                    ..Default::default()
                },
            ),
        ];
        for (name, cfg) in bad {
            let err = cfg.validate().expect_err(name).to_string();
            assert!(!err.is_empty(), "{name}: {err}");
            if name == "aec_tuning" {
                assert!(
                    err.contains("aec_tuning") && err.contains("mobile"),
                    "{err}"
                );
            }
        }
    }
}
