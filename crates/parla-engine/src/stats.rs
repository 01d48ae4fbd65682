//! What a call reports: one plain `Copy` structure of numbers, published by the media thread
//! every 50 ms. It is the one stats schema: the C ABI's `ParlaCallStats` mirrors it field by
//! field (a test in parla-ffi fails when the two drift apart), `parla call`'s report and the
//! harness read it, and with the feature `serde` it serializes (field names as here, CPU per
//! stage under `cpu.<stage>`). Per-stage CPU is also available by name ([`CpuStats::stages`]).

use std::time::Duration;

use parla_core::stats::LatencyHistogram;

/// CPU time of one stage per 10 ms frame, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StageCpu {
    /// Median.
    pub median_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Frames measured.
    pub frames: u64,
}

impl StageCpu {
    /// Summarise a histogram.
    pub fn from_histogram(h: &LatencyHistogram) -> Self {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        StageCpu {
            median_us: us(h.quantile(0.5)),
            p99_us: us(h.quantile(0.99)),
            p999_us: us(h.quantile(0.999)),
            frames: h.count(),
        }
    }
}

/// Per-stage CPU time per 10 ms frame. Stages that are off report zero frames.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CpuStats {
    /// Capture resampling to the processing rate.
    pub resample_in: StageCpu,
    /// Echo cancellation (render + capture).
    pub echo: StageCpu,
    /// Noise suppression.
    pub noise: StageCpu,
    /// Opus encoding (per encoded packet, not per 10 ms).
    pub encode: StageCpu,
    /// SFrame protection and RTP packetization (per packet).
    pub encrypt: StageCpu,
    /// RTP parsing, SFrame authentication/decryption and jitter-buffer insertion (per packet).
    pub decrypt: StageCpu,
    /// Jitter-buffer pull: decoding, concealment, time stretching, playout resampling.
    pub playout: StageCpu,
    /// A whole 10 ms tick of the media thread (send and receive).
    pub tick: StageCpu,
}

impl CpuStats {
    /// The stages' names in pipeline order (the keys of [`stages`](Self::stages)).
    pub const STAGE_NAMES: [&'static str; 8] = [
        "resample_in",
        "echo",
        "noise",
        "encode",
        "encrypt",
        "decrypt",
        "playout",
        "tick",
    ];

    /// Every stage by name, in pipeline order.
    pub fn stages(&self) -> [(&'static str, StageCpu); 8] {
        let v = [
            self.resample_in,
            self.echo,
            self.noise,
            self.encode,
            self.encrypt,
            self.decrypt,
            self.playout,
            self.tick,
        ];
        let mut out = [("", StageCpu::default()); 8];
        for (o, (n, s)) in out.iter_mut().zip(Self::STAGE_NAMES.into_iter().zip(v)) {
            *o = (n, s);
        }
        out
    }

    /// One stage by its name (`None` for a name that is not a stage).
    pub fn stage(&self, name: &str) -> Option<StageCpu> {
        self.stages()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
    }
}

/// The statistics of one call. All counters start at zero when the call is created and only
/// grow, across stop and start; levels, delays and CPU timings are the latest run's.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CallStats {
    /// 10 ms ticks the media thread has run.
    pub ticks: u64,
    /// Packets sent (handed to the network side).
    pub packets_sent: u64,
    /// Payload bytes sent, RTP headers included.
    pub bytes_sent: u64,
    /// Packets handed to the engine by the network side ([`Call`](crate::Call): every packet
    /// given to `receive_packet` while the call ran, also those a full queue dropped, which
    /// `queue_drops` counts too).
    pub packets_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Packets that are not RTP, carry another payload type or SSRC, or are too large.
    pub packets_invalid: u64,
    /// Frames that authenticated and decrypted.
    pub e2ee_accepted: u64,
    /// Frames rejected: authentication failure (forged, corrupted, truncated, wrong key).
    pub e2ee_auth_failures: u64,
    /// Frames rejected: replayed or too old.
    pub e2ee_replays: u64,
    /// Frames rejected: unknown or retired key.
    pub e2ee_unknown_key: u64,
    /// Frames rejected: malformed SFrame header.
    pub e2ee_malformed: u64,
    /// Packets dropped because a packet queue was full (incoming and outgoing).
    pub queue_drops: u64,
    /// Packets the jitter buffer declared lost.
    pub packets_lost: u64,
    /// Packets that arrived too late to be played.
    pub packets_late: u64,
    /// Duplicates dropped.
    pub packets_duplicate: u64,
    /// Packets that arrived out of order.
    pub packets_reordered: u64,
    /// Lost packets recovered from the next packet's FEC.
    pub fec_recovered: u64,
    /// Samples (at 48 kHz) produced by concealment.
    pub concealed_samples: u64,
    /// Concealment events.
    pub concealment_events: u64,
    /// Concealments of 150 ms or more.
    pub interruptions: u64,
    /// Samples (at 48 kHz) the jitter buffer played out.
    pub output_samples: u64,
    /// The jitter buffer's current delay, ms.
    pub jitter_delay_ms: f64,
    /// The jitter buffer's target delay, ms.
    pub jitter_target_ms: f64,
    /// Mean packet waiting time in the jitter buffer, ms.
    pub jitter_mean_wait_ms: f64,
    /// 95th percentile of the packet waiting time, ms.
    pub jitter_p95_wait_ms: f64,
    /// Level of the last processed microphone 10 ms (after echo cancellation and noise
    /// suppression), dBFS. While muted it keeps reading the microphone; silence is sent.
    pub send_level_dbfs: f32,
    /// Level of the last played 10 ms, dBFS.
    pub playout_level_dbfs: f32,
    /// The echo canceller's delay estimate, ms (-1 when unknown or off).
    pub echo_delay_ms: i32,
    /// The echo canceller saw near-end voice in the last frame.
    pub echo_voice: bool,
    /// Capture frames that had no far-end reference frame (paired with silence).
    pub echo_render_underruns: u64,
    /// Capture samples dropped because the capture ring was full.
    pub capture_overrun_samples: u64,
    /// Playout samples missing (silence played) because the playout ring was empty.
    pub playout_underrun_samples: u64,
    /// Device events seen (device mode): xruns, disconnects, errors.
    pub device_events: u64,
    /// Device streams reopened after a failure (device mode).
    pub device_recoveries: u64,
    /// Microphone muted.
    pub muted: bool,
    /// The current send key epoch (increments with each key rotation).
    pub key_epoch: u32,
    /// The peer's send key epoch as seen here (the receiver follows the peer's rotations).
    pub peer_key_epoch: u32,
    /// The peer's old keys zeroized at the end of their grace period.
    pub keys_expired: u64,
    /// Times the peer's stream changed SSRC (accepted only from authenticated packets).
    pub ssrc_changes: u64,
    /// Capture samples that were not finite or beyond full scale, replaced (NaN, Inf -> 0) or
    /// clamped to [-1, 1] before the send chain.
    pub capture_sanitized_samples: u64,
    /// Playout samples that were not finite or beyond full scale, clamped before the speaker.
    pub playout_clamped_samples: u64,
    /// Frames not sent because a send stage failed (encoder, encryption, packetizer, a
    /// capture frame the send chain refused); separate from queue drops.
    pub send_failures: u64,
    /// The media thread failed (its processing panicked) and the run ended; `stop` and
    /// `start` recover the call.
    pub media_failed: bool,
    /// Congestion control's bandwidth estimate (its target rate for everything the call
    /// sends), bits per second; 0 when congestion control is off.
    pub bwe_target_bps: u64,
    /// The send rate the peer's transport feedback acknowledged, bits per second (0 before
    /// any feedback).
    pub bwe_acked_bps: u64,
    /// Our packets lost on the way, from the peer's transport feedback, percent (recent).
    pub bwe_loss_percent: f64,
    /// Round-trip time from RTCP (LSR/DLSR), ms; -1 before the first measurement.
    pub rtt_ms: f64,
    /// Loss the peer reported about our stream in its last RTCP report, percent.
    pub remote_loss_percent: f64,
    /// Interarrival jitter the peer reported about our stream, ms.
    pub remote_jitter_ms: f64,
    /// The Opus encoder's current bitrate, bits per second (chosen by the audio adaptation
    /// under the configured ceiling when congestion control is on).
    pub audio_bitrate_bps: u32,
    /// The encoder's in-band FEC is on.
    pub audio_fec: bool,
    /// The loss the encoder's FEC is sized for, percent.
    pub audio_expected_loss_percent: u32,
    /// Audio per packet, ms (20-60 under the audio adaptation).
    pub audio_frame_ms: u32,
    /// Times the audio adaptation changed the encoder's settings.
    pub audio_adaptations: u64,
    /// RTCP packets sent (reports and transport feedback).
    pub rtcp_sent: u64,
    /// RTCP packets received that authenticated and were valid.
    pub rtcp_received: u64,
    /// RTCP packets rejected: forged, replayed, truncated or malformed (with encryption on,
    /// feedback that does not carry the call's MAC never reaches the estimator).
    pub rtcp_rejected: u64,
    /// Transport-wide feedback packets sent.
    pub feedback_sent: u64,
    /// Transport-wide feedback packets received and used by the estimator.
    pub feedback_received: u64,
    /// CPU time per stage.
    pub cpu: CpuStats,
    /// Allocator calls counted on the media thread after its set-up (only counted in builds with
    /// the test feature `_test-alloc`; always zero otherwise).
    pub media_thread_allocs: u64,
    /// Video (zero in audio-only calls): send, pacer, retransmission and receive counters.
    pub video: crate::video::VideoStats,
}
