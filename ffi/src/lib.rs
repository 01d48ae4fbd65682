//! Parla's C ABI: what iOS, Android and desktop apps call to place an end-to-end encrypted call.
//!
//! The header is `ffi/include/parla.h`, generated from this crate by cbindgen (the `header`
//! test fails when it is stale and says how to refresh it). `docs/FFI.md` covers ownership,
//! threads, the error model, status codes and how to build and link (static, dynamic,
//! pkg-config).
//!
//! Layers (STYLE.md F2): each `extern "C"` function is a short shim that checks its pointers
//! and turns them into references or slices (module `ptr`), then calls a safe Rust function that
//! returns `Result<_, Failure>`, which calls the engine ([`parla_engine::Call`]). Every entry
//! point runs inside `catch_unwind`: a panic becomes [`PARLA_ERR_PANIC`] and never crosses the
//! ABI.
//!
//! Handles: [`ParlaCall`] is opaque, created by [`parla_call_new`] and released by
//! [`parla_call_free`]. It is thread-safe: every function but `parla_call_free` may be called
//! from any thread at the same time, with one rule for the real-time pair
//! (`parla_call_push_capture_*` / `parla_call_pull_playout_*`): one audio thread at a time.
//!
//! # Example (the same calls from C are in `samples/c/loopback_call.c`)
//! ```no_run
//! use parla_ffi::*;
//! use std::ptr;
//!
//! let mut cfg = ParlaCallConfig::default();
//! // SAFETY: every pointer below is valid for the duration of each call.
//! unsafe {
//!     parla_call_config_default(&mut cfg);
//!     cfg.e2ee = false;
//!     let mut call: *mut ParlaCall = ptr::null_mut();
//!     assert_eq!(parla_call_new(&cfg, &mut call), PARLA_OK);
//!     assert_eq!(
//!         parla_call_start(call, PARLA_AUDIO_MODE_APP_OWNED, ptr::null(), ptr::null()),
//!         PARLA_OK
//!     );
//!     let mic = [0.0f32; 480];
//!     let mut speaker = [0.0f32; 480];
//!     parla_call_push_capture_f32(call, mic.as_ptr(), mic.len());
//!     parla_call_pull_playout_f32(call, speaker.as_mut_ptr(), speaker.len());
//!     let mut buf = [0u8; PARLA_MAX_PACKET];
//!     let mut len = 0usize;
//!     while parla_call_poll_packet(call, buf.as_mut_ptr(), buf.len(), &mut len) == PARLA_OK {
//!         // send buf[..len] to the peer
//!     }
//!     parla_call_free(call);
//! }
//! ```
#![deny(missing_docs)]

mod ptr;

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use parla_core::video::{PixelFormat, VideoFrame};
#[cfg(feature = "devices")]
use parla_engine::DeviceSelector;
use parla_engine::{
    AecMode, AecTuning, AudioIo, AudioMode, Call, CallConfig, CallEvent, CallStats, CipherSuite,
    CpuStats, EngineError, KEY_BLOB_LEN, MAX_WIRE_PACKET, StageCpu, VideoCodec, VideoConfig,
    VideoFrameInfo, VideoIo, VideoStats,
};

/// A status code: 0 is success, > 0 a non-error state, < 0 an error.
/// [`parla_status_str`] names each one.
pub type ParlaStatus = i32;

/// Success.
pub const PARLA_OK: ParlaStatus = 0;
/// `parla_call_poll_packet`: no packet is waiting (not an error).
pub const PARLA_NO_PACKET: ParlaStatus = 1;
/// Audio push/pull moved fewer samples than asked: the capture ring was full (the rest were
/// dropped) or the playout ring ran short (the rest is silence). Both are counted in the stats.
pub const PARLA_PARTIAL: ParlaStatus = 2;
/// `parla_call_poll_event`: no event is waiting (not an error).
pub const PARLA_NO_EVENT: ParlaStatus = 3;
/// A required pointer argument was NULL.
pub const PARLA_ERR_NULL_ARG: ParlaStatus = -1;
/// An argument is out of range (a length, a mode, a rate...).
pub const PARLA_ERR_INVALID_ARG: ParlaStatus = -2;
/// The call configuration is invalid (the handle's or the thread's last error names the field).
pub const PARLA_ERR_INVALID_CONFIG: ParlaStatus = -3;
/// An output buffer is too small.
pub const PARLA_ERR_BUFFER_TOO_SMALL: ParlaStatus = -4;
/// The call is not running (`parla_call_start` first) or runs in the other audio mode.
pub const PARLA_ERR_NOT_RUNNING: ParlaStatus = -5;
/// `parla_call_start` on a running call.
pub const PARLA_ERR_ALREADY_RUNNING: ParlaStatus = -6;
/// End-to-end encryption needs the peer's public key first (`parla_call_set_peer_key`).
pub const PARLA_ERR_NO_PEER_KEY: ParlaStatus = -7;
/// The key agreement failed: the peer key was refused, was already set, or an invalid key
/// spent the key pair (then create a new call).
pub const PARLA_ERR_KEY_AGREEMENT: ParlaStatus = -8;
/// The operation needs another mode (e.g. key rotation with encryption off).
pub const PARLA_ERR_WRONG_MODE: ParlaStatus = -9;
/// Two threads pushed (or two pulled) on one call at the same moment (capture and playout never
/// conflict), or the media thread's control queue is full (`parla_call_rotate_key`: nothing
/// changed, retry).
pub const PARLA_ERR_BUSY: ParlaStatus = -10;
/// An audio device could not be opened.
pub const PARLA_ERR_DEVICE: ParlaStatus = -11;
/// The device thread did not answer in time (opening a device hangs); the call keeps working.
pub const PARLA_ERR_TIMEOUT: ParlaStatus = -12;
/// A panic was caught at the ABI boundary (a bug in Parla: please report it with the last
/// error message).
pub const PARLA_ERR_PANIC: ParlaStatus = -13;
/// Any other internal failure (thread creation, socket, encryption set-up).
pub const PARLA_ERR_INTERNAL: ParlaStatus = -14;
/// The call's media thread failed (its processing panicked) and the run ended; the keys and
/// the stream were kept: `parla_call_stop` then `parla_call_start` recover the call. Returned by
/// push/pull until then (also reported by `ParlaCallStats::media_failed` and
/// `PARLA_EVENT_MEDIA_FAILED`).
pub const PARLA_ERR_MEDIA_FAILED: ParlaStatus = -15;

/// `parla_call_start` mode: the app owns the audio session and pushes/pulls samples.
pub const PARLA_AUDIO_MODE_APP_OWNED: i32 = 0;
/// `parla_call_start` mode: the engine opens the capture and playout devices.
pub const PARLA_AUDIO_MODE_DEVICES: i32 = 1;

/// `ParlaCallConfig::aec_mode`: WebRTC's AEC3 (the default).
pub const PARLA_AEC_AEC3: i32 = 0;
/// `ParlaCallConfig::aec_mode`: WebRTC's mobile echo canceller (AECM), cheaper and weaker.
pub const PARLA_AEC_MOBILE: i32 = 1;
/// `ParlaCallConfig::aec_mode`: no echo cancellation.
pub const PARLA_AEC_OFF: i32 = 2;

/// `ParlaCallConfig::aec_tuning`: WebRTC's own AEC3 configuration (the default): the most echo
/// removed in single talk, the near end attenuated while both talk.
pub const PARLA_AEC_TUNING_LIBRARY: i32 = 0;
/// `ParlaCallConfig::aec_tuning`: full duplex: a longer linear filter and an easier near-end
/// detector keep the near end while both talk, at some cost in single-talk echo removal (AEC3
/// only; refused with `PARLA_AEC_MOBILE`).
pub const PARLA_AEC_TUNING_NEAR_END: i32 = 1;
/// `ParlaCallConfig::aec_tuning`: the near-end tuning's suppressor and detector with the
/// library's filter length and a stronger tail suppression: more near end kept in double talk
/// than the library tuning with single-talk echo removal at least as high in the measured rooms
/// (docs/AEC.md, "Image-method rooms"), but less in short noisy rooms (AEC3 only).
pub const PARLA_AEC_TUNING_DUPLEX: i32 = 2;

/// `ParlaCallConfig::cipher_suite`: SFrame AES-128-GCM with SHA-256 (the default).
pub const PARLA_CIPHER_AES_GCM_128_SHA256: i32 = 0;
/// `ParlaCallConfig::cipher_suite`: SFrame AES-256-GCM with SHA-512.
pub const PARLA_CIPHER_AES_GCM_256_SHA512: i32 = 1;
/// `ParlaCallConfig::cipher_suite`: SFrame AES-128-CTR with HMAC-SHA256, 80-bit tag.
pub const PARLA_CIPHER_AES_CTR_128_HMAC_SHA256_80: i32 = 2;
/// `ParlaCallConfig::cipher_suite`: SFrame AES-128-CTR with HMAC-SHA256, 64-bit tag.
pub const PARLA_CIPHER_AES_CTR_128_HMAC_SHA256_64: i32 = 3;
/// `ParlaCallConfig::cipher_suite`: SFrame AES-128-CTR with HMAC-SHA256, 32-bit tag (weak).
pub const PARLA_CIPHER_AES_CTR_128_HMAC_SHA256_32: i32 = 4;

/// Bytes of a public key blob (`parla_call_local_public_key`, `parla_call_set_peer_key`).
pub const PARLA_KEY_BLOB_LEN: usize = 33;
/// Bytes of a commitment blob (`parla_call_local_commitment`).
pub const PARLA_COMMITMENT_LEN: usize = 33;
/// Bytes a safety code needs as text: 12 groups of 5 digits separated by spaces, plus the
/// terminating NUL.
pub const PARLA_SAFETY_CODE_LEN: usize = 72;
/// A buffer of this many bytes holds any packet `parla_call_poll_packet` returns; larger
/// packets are refused by `parla_call_receive_packet`.
pub const PARLA_MAX_PACKET: usize = 1464;

const _: () = assert!(PARLA_KEY_BLOB_LEN == KEY_BLOB_LEN);
const _: () = assert!(PARLA_MAX_PACKET == MAX_WIRE_PACKET);

/// The configuration of a call: a plain struct that carries its size. Set `size`, fill it
/// with [`parla_call_config_default`], change what differs, and pass it to [`parla_call_new`]
/// (which copies it):
///
/// ```c
/// ParlaCallConfig cfg = { .size = sizeof cfg };
/// parla_call_config_default(&cfg);
/// ```
///
/// Fields are only ever appended. A library newer than the app's header reads only the fields
/// the app's struct has (newer ones take their defaults); an older library refuses a newer
/// app's struct only if a field it does not know is set (non-zero).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ParlaCallConfig {
    /// `sizeof(ParlaCallConfig)` as the app was compiled: set it before any call that takes
    /// the struct (the library reads and writes only that many bytes).
    pub size: u32,
    /// Rate of the microphone audio (the rate the app pushes, or the device rate), Hz: 8000,
    /// 16000, 32000, 44100, 48000 or 96000 (others, e.g. 22050 or 24000, are refused with a
    /// message naming the field). Default 48000.
    pub capture_rate: u32,
    /// Rate of the speaker audio (the rate the app pulls, or the device rate), Hz: as
    /// `capture_rate`. Default 48000.
    pub playout_rate: u32,
    /// Interleaved channels of the app's capture and playout buffers: 1 or 2. Default 1.
    pub channels: u32,
    /// Opus bitrate, bits per second, 6000..=510000. Default 32000.
    pub bitrate_bps: u32,
    /// Audio per packet, ms: 10, 20, 40 or 60. Default 20.
    pub frame_ms: u32,
    /// Opus complexity 0..=10. Default 8.
    pub complexity: u32,
    /// Opus in-band forward error correction. Default true.
    pub fec: bool,
    /// The loss rate FEC is sized for, percent (0..=100). Default 10.
    pub expected_loss_percent: u32,
    /// Opus discontinuous transmission in silence. Default false.
    pub dtx: bool,
    /// Echo cancellation: `PARLA_AEC_AEC3` (default), `PARLA_AEC_MOBILE` or `PARLA_AEC_OFF`.
    pub aec_mode: i32,
    /// Hint of the echo path delay, ms, or -1 for none (default).
    pub aec_delay_hint_ms: i32,
    /// Noise suppression on the send side. Default true.
    pub noise_suppression: bool,
    /// Noise suppression strength in [0, 1]. Default 1.
    pub ns_strength: f32,
    /// The jitter buffer's low-delay preset. Default false.
    pub jitter_low_delay: bool,
    /// Delay from the first packet to the start of playout, ms (0..=1000). Default 40.
    pub jitter_start_delay_ms: u32,
    /// End-to-end encryption (SFrame). Default true; off only for tests and plain-RTP peers.
    pub e2ee: bool,
    /// SFrame cipher suite, one of `PARLA_CIPHER_*`. Default `PARLA_CIPHER_AES_GCM_128_SHA256`.
    pub cipher_suite: i32,
    /// How long the previous key stays accepted after a key rotation, ms. Default 2000.
    pub key_grace_ms: u32,
    /// RTP payload type (0..=127). Default 111.
    pub payload_type: u32,
    /// Capacity of the incoming and outgoing packet queues, packets (4..=4096). Default 128.
    pub packet_queue: u32,
    /// Capacity of the capture and playout rings, ms (40..=2000). Default 200.
    pub ring_ms: u32,
    /// Playout ring level kept against scheduling jitter, ms (at most half of `ring_ms`).
    /// Default 20.
    pub playout_headroom_ms: u32,
    /// AEC3's tuning: `PARLA_AEC_TUNING_LIBRARY` (default), `PARLA_AEC_TUNING_NEAR_END` or
    /// `PARLA_AEC_TUNING_DUPLEX`.
    pub aec_tuning: i32,
    /// Turns congestion control off (layout version 2). Default false: the call sends RTCP
    /// reports and transport-wide feedback (authenticated under the call's keys), estimates
    /// the bandwidth, and adapts the Opus bitrate (at most `bitrate_bps`), FEC, expected loss
    /// and packet length to it and to the measured loss (docs/CONGESTION.md). Like every
    /// appended field, zero is the default.
    pub congestion_control_off: bool,
    /// Padding after `congestion_control_off`, made explicit so that the version 3 fields
    /// start past the version 2 struct (whose padding an app may leave uninitialised). Ignored.
    pub reserved_v2: [u8; 3],
    /// Turns the send side's high-pass filter off (layout version 3). Default false: a
    /// second-order filter with its corner near 80 Hz removes rumble and handling noise
    /// (docs/NS.md). Zero is the default.
    pub high_pass_off: bool,
    /// Turns automatic gain control off (layout version 3). Default false: WebRTC's AGC2 and a
    /// slow downward gain bring speech near -20 dBFS, whether the talker is soft or loud, with
    /// a limiter against clipping and the gain held in pauses (docs/NS.md). Zero is the
    /// default.
    pub agc_off: bool,
}

impl Default for ParlaCallConfig {
    fn default() -> Self {
        ParlaCallConfig::from_engine(&CallConfig::default())
    }
}

// SAFETY: `#[repr(C)]`, `Copy`, starts with the `u32` size; integers, floats and C `bool`s.
unsafe impl ptr::SizedStruct for ParlaCallConfig {
    // Version 1 ended before `congestion_control_off`, version 2 before `high_pass_off`.
    const OLDER_SIZES: &'static [usize] = &[CONFIG_V1_SIZE, CONFIG_V2_SIZE];
    const NAME: &'static str = "ParlaCallConfig";
}

/// `ParlaCallConfig` as first laid out with a size (version 1), before
/// `congestion_control_off`.
const CONFIG_V1_SIZE: usize = std::mem::offset_of!(ParlaCallConfig, congestion_control_off);
/// `ParlaCallConfig` version 2, before `high_pass_off` (`congestion_control_off` and its
/// padding, now `reserved_v2`).
const CONFIG_V2_SIZE: usize = std::mem::offset_of!(ParlaCallConfig, high_pass_off);

/// `ParlaCallStats` as first laid out with a size (version 1), before `media_failed`.
const STATS_V1_SIZE: usize = std::mem::offset_of!(ParlaCallStats, media_failed);
/// `ParlaCallStats` version 2, before the congestion-control fields.
const STATS_V2_SIZE: usize = std::mem::offset_of!(ParlaCallStats, bwe_target_bps);

// SAFETY: `#[repr(C)]`, `Copy`, starts with the `u32` size; integers and floats.
unsafe impl ptr::SizedStruct for ParlaCallStats {
    const OLDER_SIZES: &'static [usize] = &[STATS_V1_SIZE, STATS_V2_SIZE];
    const NAME: &'static str = "ParlaCallStats";
}

fn aec_code(m: AecMode) -> i32 {
    match m {
        AecMode::Aec3 => PARLA_AEC_AEC3,
        AecMode::Mobile => PARLA_AEC_MOBILE,
        AecMode::Off => PARLA_AEC_OFF,
    }
}

fn aec_tuning_code(t: AecTuning) -> i32 {
    match t {
        AecTuning::Library => PARLA_AEC_TUNING_LIBRARY,
        AecTuning::NearEnd => PARLA_AEC_TUNING_NEAR_END,
        AecTuning::Duplex => PARLA_AEC_TUNING_DUPLEX,
    }
}

fn cipher_code(s: CipherSuite) -> i32 {
    match s {
        CipherSuite::AesGcm128Sha256 => PARLA_CIPHER_AES_GCM_128_SHA256,
        CipherSuite::AesGcm256Sha512 => PARLA_CIPHER_AES_GCM_256_SHA512,
        CipherSuite::AesCtr128HmacSha256_80 => PARLA_CIPHER_AES_CTR_128_HMAC_SHA256_80,
        CipherSuite::AesCtr128HmacSha256_64 => PARLA_CIPHER_AES_CTR_128_HMAC_SHA256_64,
        CipherSuite::AesCtr128HmacSha256_32 => PARLA_CIPHER_AES_CTR_128_HMAC_SHA256_32,
        // A suite added to the engine but not to the C ABI yet: not a valid C value, so
        // `parla_call_new` refuses it rather than silently picking another suite.
        _ => -1,
    }
}

impl ParlaCallConfig {
    fn from_engine(c: &CallConfig) -> Self {
        ParlaCallConfig {
            size: size_of::<ParlaCallConfig>() as u32,
            capture_rate: c.capture_rate,
            playout_rate: c.playout_rate,
            channels: u32::from(c.channels),
            bitrate_bps: c.bitrate_bps,
            frame_ms: c.frame_ms,
            complexity: u32::from(c.complexity),
            fec: c.fec,
            expected_loss_percent: u32::from(c.expected_loss_percent),
            dtx: c.dtx,
            aec_mode: aec_code(c.aec),
            aec_delay_hint_ms: c.aec_delay_hint_ms.map_or(-1, i32::from),
            noise_suppression: c.noise_suppression,
            ns_strength: c.ns_strength,
            jitter_low_delay: c.jitter_low_delay,
            jitter_start_delay_ms: c.jitter_start_delay_ms,
            e2ee: c.e2ee,
            cipher_suite: cipher_code(c.cipher_suite),
            key_grace_ms: c.key_grace_ms,
            payload_type: u32::from(c.payload_type),
            packet_queue: u32::try_from(c.packet_queue).unwrap_or(u32::MAX),
            ring_ms: c.ring_ms,
            playout_headroom_ms: c.playout_headroom_ms,
            aec_tuning: aec_tuning_code(c.aec_tuning),
            congestion_control_off: !c.congestion_control,
            reserved_v2: [0; 3],
            high_pass_off: !c.high_pass,
            agc_off: !c.agc,
        }
    }

    /// The engine's configuration, or which field does not fit (the engine validates ranges).
    fn to_engine(self) -> Result<CallConfig, Failure> {
        let narrow = |name: &str, v: u32, max: u32| {
            if v > max {
                Err(Failure::new(
                    PARLA_ERR_INVALID_CONFIG,
                    format!("invalid {name}: {v} (at most {max})"),
                ))
            } else {
                Ok(v)
            }
        };
        let aec = match self.aec_mode {
            PARLA_AEC_AEC3 => AecMode::Aec3,
            PARLA_AEC_MOBILE => AecMode::Mobile,
            PARLA_AEC_OFF => AecMode::Off,
            v => {
                return Err(Failure::new(
                    PARLA_ERR_INVALID_CONFIG,
                    format!("invalid aec_mode: {v} (a PARLA_AEC_* value)"),
                ));
            }
        };
        let aec_tuning = match self.aec_tuning {
            PARLA_AEC_TUNING_LIBRARY => AecTuning::Library,
            PARLA_AEC_TUNING_NEAR_END => AecTuning::NearEnd,
            PARLA_AEC_TUNING_DUPLEX => AecTuning::Duplex,
            v => {
                return Err(Failure::new(
                    PARLA_ERR_INVALID_CONFIG,
                    format!("invalid aec_tuning: {v} (a PARLA_AEC_TUNING_* value)"),
                ));
            }
        };
        let cipher_suite = match self.cipher_suite {
            PARLA_CIPHER_AES_GCM_128_SHA256 => CipherSuite::AesGcm128Sha256,
            PARLA_CIPHER_AES_GCM_256_SHA512 => CipherSuite::AesGcm256Sha512,
            PARLA_CIPHER_AES_CTR_128_HMAC_SHA256_80 => CipherSuite::AesCtr128HmacSha256_80,
            PARLA_CIPHER_AES_CTR_128_HMAC_SHA256_64 => CipherSuite::AesCtr128HmacSha256_64,
            PARLA_CIPHER_AES_CTR_128_HMAC_SHA256_32 => CipherSuite::AesCtr128HmacSha256_32,
            v => {
                return Err(Failure::new(
                    PARLA_ERR_INVALID_CONFIG,
                    format!("invalid cipher_suite: {v} (a PARLA_CIPHER_* value)"),
                ));
            }
        };
        let aec_delay_hint_ms = match self.aec_delay_hint_ms {
            -1 => None,
            v => Some(u16::try_from(v).map_err(|_| {
                Failure::new(
                    PARLA_ERR_INVALID_CONFIG,
                    format!("invalid aec_delay_hint_ms: {v} (-1 or 0..=65535)"),
                )
            })?),
        };
        if !self.ns_strength.is_finite() {
            return Err(Failure::new(
                PARLA_ERR_INVALID_CONFIG,
                "invalid ns_strength: not a finite number".into(),
            ));
        }
        let cfg = CallConfig {
            capture_rate: self.capture_rate,
            playout_rate: self.playout_rate,
            channels: narrow("channels", self.channels, u32::from(u16::MAX))? as u16,
            bitrate_bps: self.bitrate_bps,
            frame_ms: self.frame_ms,
            complexity: narrow("complexity", self.complexity, 10)? as u8,
            fec: self.fec,
            expected_loss_percent: narrow("expected_loss_percent", self.expected_loss_percent, 100)?
                as u8,
            dtx: self.dtx,
            aec,
            aec_tuning,
            aec_delay_hint_ms,
            noise_suppression: self.noise_suppression,
            ns_strength: self.ns_strength,
            jitter_low_delay: self.jitter_low_delay,
            jitter_start_delay_ms: self.jitter_start_delay_ms,
            e2ee: self.e2ee,
            cipher_suite,
            key_grace_ms: self.key_grace_ms,
            payload_type: narrow("payload_type", self.payload_type, 127)? as u8,
            packet_queue: self.packet_queue as usize,
            ring_ms: self.ring_ms,
            playout_headroom_ms: self.playout_headroom_ms,
            congestion_control: !self.congestion_control_off,
            high_pass: !self.high_pass_off,
            agc: !self.agc_off,
            // Video through the C ABI is not exposed yet (issue 17).
            video: None,
        };
        cfg.validate()
            .map_err(|e| Failure::new(PARLA_ERR_INVALID_CONFIG, e.to_string()))?;
        Ok(cfg)
    }
}

/// CPU time of one processing stage per frame, microseconds.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ParlaStageCpu {
    /// Median.
    pub median_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Frames measured (0 when the stage is off).
    pub frames: u64,
}

impl From<StageCpu> for ParlaStageCpu {
    fn from(s: StageCpu) -> Self {
        let StageCpu {
            median_us,
            p99_us,
            p999_us,
            frames,
        } = s;
        ParlaStageCpu {
            median_us,
            p99_us,
            p999_us,
            frames,
        }
    }
}

/// The statistics of a call: a plain struct that carries its size, filled by
/// [`parla_call_get_stats`] (`ParlaCallStats st = { .size = sizeof st };`). Counters start at
/// zero when the call is created and only grow (across stop and start); levels and delays are
/// the latest values. Fields are only ever appended: the library writes only the fields the
/// app's struct has, and zeros in the fields of a newer app's struct that it does not know.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ParlaCallStats {
    /// `sizeof(ParlaCallStats)` as the app was compiled: set it before the call (the library
    /// writes only that many bytes and leaves this field as it is).
    pub size: u32,
    /// 10 ms ticks the media thread has run.
    pub ticks: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Bytes sent, RTP headers included.
    pub bytes_sent: u64,
    /// Packets handed to the call by `parla_call_receive_packet`.
    pub packets_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Packets that are not RTP, carry another payload type or SSRC, or are too large.
    pub packets_invalid: u64,
    /// Frames that authenticated and decrypted.
    pub e2ee_accepted: u64,
    /// Frames rejected by authentication (forged, corrupted, truncated, wrong key).
    pub e2ee_auth_failures: u64,
    /// Frames rejected as replayed or too old.
    pub e2ee_replays: u64,
    /// Frames rejected for an unknown or retired key.
    pub e2ee_unknown_key: u64,
    /// Frames rejected for a malformed SFrame header.
    pub e2ee_malformed: u64,
    /// Packets dropped because a packet queue was full.
    pub queue_drops: u64,
    /// Packets the jitter buffer declared lost.
    pub packets_lost: u64,
    /// Packets that arrived too late to be played.
    pub packets_late: u64,
    /// Duplicate packets dropped.
    pub packets_duplicate: u64,
    /// Packets that arrived out of order.
    pub packets_reordered: u64,
    /// Lost packets recovered from FEC.
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
    /// Level of the last processed microphone 10 ms, dBFS (while muted it keeps reading the
    /// microphone; silence is sent).
    pub send_level_dbfs: f32,
    /// Level of the last played 10 ms, dBFS.
    pub playout_level_dbfs: f32,
    /// The echo canceller's delay estimate, ms (-1 when unknown or off).
    pub echo_delay_ms: i32,
    /// The echo canceller saw near-end voice in the last frame.
    pub echo_voice: bool,
    /// Capture frames without a far-end reference frame.
    pub echo_render_underruns: u64,
    /// Capture samples dropped because the capture ring was full.
    pub capture_overrun_samples: u64,
    /// Playout samples missing (silence played) because the playout ring was empty.
    pub playout_underrun_samples: u64,
    /// Device events seen (device mode).
    pub device_events: u64,
    /// Device streams reopened after a failure (device mode).
    pub device_recoveries: u64,
    /// Microphone muted.
    pub muted: bool,
    /// The current send key epoch (increments with each key rotation).
    pub key_epoch: u32,
    /// CPU per 10 ms frame: capture resampling.
    pub cpu_resample_in: ParlaStageCpu,
    /// CPU per 10 ms frame: echo cancellation.
    pub cpu_echo: ParlaStageCpu,
    /// CPU per 10 ms frame: noise suppression.
    pub cpu_noise: ParlaStageCpu,
    /// CPU per encoded packet: Opus encoding.
    pub cpu_encode: ParlaStageCpu,
    /// CPU per packet: SFrame protection and RTP packetization.
    pub cpu_encrypt: ParlaStageCpu,
    /// CPU per packet: RTP parsing, SFrame decryption, jitter-buffer insertion.
    pub cpu_decrypt: ParlaStageCpu,
    /// CPU per 10 ms: jitter-buffer pull, decoding, concealment, playout resampling.
    pub cpu_playout: ParlaStageCpu,
    /// CPU per 10 ms: a whole tick of the media thread.
    pub cpu_tick: ParlaStageCpu,
    /// The peer's send key epoch as seen here (the receiver follows the peer's rotations).
    pub peer_key_epoch: u32,
    /// The peer's old keys zeroized at the end of their grace period.
    pub keys_expired: u64,
    /// Times the peer's stream changed SSRC (accepted only from authenticated packets).
    pub ssrc_changes: u64,
    /// Frames not sent because a send stage failed (encoder, encryption, packetizer).
    pub send_failures: u64,
    /// Capture samples that were NaN, infinite or beyond full scale (replaced or clamped).
    pub capture_sanitized_samples: u64,
    /// Playout samples that were NaN, infinite or beyond full scale (clamped).
    pub playout_clamped_samples: u64,
    /// 1 when the media thread failed and the run ended (`PARLA_ERR_MEDIA_FAILED`); stop and
    /// start recover the call.
    pub media_failed: i32,
    /// Congestion control's bandwidth estimate, bits per second (0 when it is off). Fields from
    /// here on: layout version 3.
    pub bwe_target_bps: u64,
    /// The send rate the peer's transport feedback acknowledged, bits per second.
    pub bwe_acked_bps: u64,
    /// Our packets lost on the way (transport feedback, recent), percent.
    pub bwe_loss_percent: f64,
    /// Round-trip time from RTCP, ms; -1 before the first measurement.
    pub rtt_ms: f64,
    /// Loss the peer reported about our stream in its last RTCP report, percent.
    pub remote_loss_percent: f64,
    /// Interarrival jitter the peer reported about our stream, ms.
    pub remote_jitter_ms: f64,
    /// The Opus encoder's current bitrate, bits per second.
    pub audio_bitrate_bps: u32,
    /// The encoder's in-band FEC is on.
    pub audio_fec: bool,
    /// The loss the encoder's FEC is sized for, percent.
    pub audio_expected_loss_percent: u32,
    /// Audio per packet, ms.
    pub audio_frame_ms: u32,
    /// Times the audio adaptation changed the encoder's settings.
    pub audio_adaptations: u64,
    /// RTCP packets sent (reports and transport feedback).
    pub rtcp_sent: u64,
    /// RTCP packets received that authenticated and were valid.
    pub rtcp_received: u64,
    /// RTCP packets rejected (forged, replayed, truncated, malformed).
    pub rtcp_rejected: u64,
    /// Transport-wide feedback packets sent.
    pub feedback_sent: u64,
    /// Transport-wide feedback packets received and used.
    pub feedback_received: u64,
}

impl From<CallStats> for ParlaCallStats {
    fn from(s: CallStats) -> Self {
        // Destructured without `..`: a field added to `CallStats` or `CpuStats` fails to compile
        // here until the C mirror has it too (or is told to skip it, as below).
        let CallStats {
            ticks,
            packets_sent,
            bytes_sent,
            packets_received,
            bytes_received,
            packets_invalid,
            e2ee_accepted,
            e2ee_auth_failures,
            e2ee_replays,
            e2ee_unknown_key,
            e2ee_malformed,
            queue_drops,
            packets_lost,
            packets_late,
            packets_duplicate,
            packets_reordered,
            fec_recovered,
            concealed_samples,
            concealment_events,
            interruptions,
            output_samples,
            jitter_delay_ms,
            jitter_target_ms,
            jitter_mean_wait_ms,
            jitter_p95_wait_ms,
            send_level_dbfs,
            playout_level_dbfs,
            echo_delay_ms,
            echo_voice,
            echo_render_underruns,
            capture_overrun_samples,
            playout_underrun_samples,
            device_events,
            device_recoveries,
            muted,
            key_epoch,
            peer_key_epoch,
            keys_expired,
            ssrc_changes,
            send_failures,
            capture_sanitized_samples,
            playout_clamped_samples,
            cpu:
                CpuStats {
                    resample_in: cpu_resample_in,
                    echo: cpu_echo,
                    noise: cpu_noise,
                    encode: cpu_encode,
                    encrypt: cpu_encrypt,
                    decrypt: cpu_decrypt,
                    playout: cpu_playout,
                    tick: cpu_tick,
                },
            // Only counted in test builds (`_test-alloc`); not part of the C ABI.
            media_thread_allocs: _,
            // Video counters reach the C ABI with the video entry points (issue 17).
            video: _,
            media_failed,
            bwe_target_bps,
            bwe_acked_bps,
            bwe_loss_percent,
            rtt_ms,
            remote_loss_percent,
            remote_jitter_ms,
            audio_bitrate_bps,
            audio_fec,
            audio_expected_loss_percent,
            audio_frame_ms,
            audio_adaptations,
            rtcp_sent,
            rtcp_received,
            rtcp_rejected,
            feedback_sent,
            feedback_received,
        } = s;
        ParlaCallStats {
            size: size_of::<ParlaCallStats>() as u32,
            ticks,
            packets_sent,
            bytes_sent,
            packets_received,
            bytes_received,
            packets_invalid,
            e2ee_accepted,
            e2ee_auth_failures,
            e2ee_replays,
            e2ee_unknown_key,
            e2ee_malformed,
            queue_drops,
            packets_lost,
            packets_late,
            packets_duplicate,
            packets_reordered,
            fec_recovered,
            concealed_samples,
            concealment_events,
            interruptions,
            output_samples,
            jitter_delay_ms,
            jitter_target_ms,
            jitter_mean_wait_ms,
            jitter_p95_wait_ms,
            send_level_dbfs,
            playout_level_dbfs,
            echo_delay_ms,
            echo_voice,
            echo_render_underruns,
            capture_overrun_samples,
            playout_underrun_samples,
            device_events,
            device_recoveries,
            muted,
            key_epoch,
            cpu_resample_in: cpu_resample_in.into(),
            cpu_echo: cpu_echo.into(),
            cpu_noise: cpu_noise.into(),
            cpu_encode: cpu_encode.into(),
            cpu_encrypt: cpu_encrypt.into(),
            cpu_decrypt: cpu_decrypt.into(),
            cpu_playout: cpu_playout.into(),
            cpu_tick: cpu_tick.into(),
            peer_key_epoch,
            keys_expired,
            ssrc_changes,
            send_failures,
            capture_sanitized_samples,
            playout_clamped_samples,
            media_failed: i32::from(media_failed),
            bwe_target_bps,
            bwe_acked_bps,
            bwe_loss_percent,
            rtt_ms,
            remote_loss_percent,
            remote_jitter_ms,
            audio_bitrate_bps,
            audio_fec,
            audio_expected_loss_percent,
            audio_frame_ms,
            audio_adaptations,
            rtcp_sent,
            rtcp_received,
            rtcp_rejected,
            feedback_sent,
            feedback_received,
        }
    }
}

/// A failed call: the status and the detail for the last-error slot. The detail is only
/// rendered to text when it is stored, so the real-time entry points can fail without
/// allocating.
#[derive(Debug)]
struct Failure {
    status: ParlaStatus,
    detail: Detail,
}

#[derive(Debug)]
enum Detail {
    /// The named pointer argument was NULL.
    Null(&'static str),
    /// A length does not fit a buffer.
    TooLong(usize),
    /// Any other message.
    Text(String),
}

impl Failure {
    fn new(status: ParlaStatus, message: String) -> Self {
        Failure {
            status,
            detail: Detail::Text(message),
        }
    }

    fn null(what: &'static str) -> Self {
        Failure {
            status: PARLA_ERR_NULL_ARG,
            detail: Detail::Null(what),
        }
    }

    fn too_long(len: usize) -> Self {
        Failure {
            status: PARLA_ERR_INVALID_ARG,
            detail: Detail::TooLong(len),
        }
    }

    fn arg(message: String) -> Self {
        Failure::new(PARLA_ERR_INVALID_ARG, message)
    }

    fn message(self) -> String {
        match self.detail {
            Detail::Null(what) => format!("{what} is NULL"),
            Detail::TooLong(len) => format!("length {len} is too large for a buffer"),
            Detail::Text(t) => t,
        }
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::Config(_) => PARLA_ERR_INVALID_CONFIG,
            EngineError::NoPeerKey => PARLA_ERR_NO_PEER_KEY,
            EngineError::PeerKey(_)
            | EngineError::PeerKeyAlreadySet
            | EngineError::KeyAgreementSpent => PARLA_ERR_KEY_AGREEMENT,
            EngineError::NotRunning => PARLA_ERR_NOT_RUNNING,
            EngineError::AlreadyRunning => PARLA_ERR_ALREADY_RUNNING,
            EngineError::WrongMode(_) => PARLA_ERR_WRONG_MODE,
            EngineError::InvalidLength(_) => PARLA_ERR_INVALID_ARG,
            EngineError::Timeout(_) => PARLA_ERR_TIMEOUT,
            EngineError::ControlQueueFull => PARLA_ERR_BUSY,
            #[cfg(feature = "devices")]
            EngineError::Device(_) => PARLA_ERR_DEVICE,
            _ => PARLA_ERR_INTERNAL,
        };
        Failure::new(status, e.to_string())
    }
}

fn audio_status(e: AudioIo) -> ParlaStatus {
    match e {
        AudioIo::NotRunning => PARLA_ERR_NOT_RUNNING,
        AudioIo::Busy => PARLA_ERR_BUSY,
        AudioIo::BadLength => PARLA_ERR_INVALID_ARG,
        AudioIo::Failed => PARLA_ERR_MEDIA_FAILED,
    }
}

/// The host's send callback and its user data (see [`parla_call_set_send_callback`]).
struct SendCallback {
    send: unsafe extern "C" fn(user_data: *mut c_void, data: *const u8, len: usize),
    destroy: ParlaDestroyFn,
    user_data: *mut c_void,
}

// SAFETY: the app promises (in the callback's documentation) that `user_data` may be used
// from the call's send thread and destroyed from any thread; the pointer is only passed back to
// the app's own functions, never dereferenced here.
unsafe impl Send for SendCallback {}

impl Drop for SendCallback {
    fn drop(&mut self) {
        if let Some(destroy) = self.destroy {
            // SAFETY: the app registered `destroy` for exactly this `user_data`, and it is
            // called once, when the callback is replaced or the call is freed.
            unsafe { destroy(self.user_data) };
        }
    }
}

/// The send thread of a call with a send callback: polls the outgoing queue and hands each
/// packet to the callback.
struct SendPump {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<SendCallback>,
}

/// How often the send thread looks for packets when the queue is empty.
const SEND_POLL: Duration = Duration::from_millis(2);

/// A call handle (opaque in C). Created by [`parla_call_new`], freed by [`parla_call_free`].
pub struct ParlaCall {
    call: Arc<Call>,
    last_error: Mutex<CString>,
    sender: Mutex<Option<SendPump>>,
    video: VideoScratch,
}

impl std::fmt::Debug for ParlaCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParlaCall")
            .field("call", &self.call)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn to_cstring(msg: String) -> CString {
    CString::new(msg).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|&b| b != 0);
        CString::new(bytes).unwrap_or_default()
    })
}

impl ParlaCall {
    /// A new handle, owned by the caller (freed by `parla_call_free`).
    fn boxed(call: Call) -> *mut ParlaCall {
        Box::into_raw(Box::new(ParlaCall {
            call: Arc::new(call),
            last_error: Mutex::new(CString::default()),
            sender: Mutex::new(None),
            video: VideoScratch::default(),
        }))
    }

    fn set_error(&self, msg: String) {
        *lock(&self.last_error) = to_cstring(msg);
    }

    /// Ends the send thread and returns its callback (to be dropped, calling `destroy`, by the
    /// caller). Called from inside the callback (the send thread itself), the thread cannot be
    /// joined: it is told to end and drops the callback itself after the callback returns.
    fn stop_sender(&self) -> Option<SendCallback> {
        let pump = lock(&self.sender).take()?;
        pump.stop.store(true, Ordering::Release);
        if pump.thread.thread().id() == std::thread::current().id() {
            return None;
        }
        pump.thread.join().ok()
    }
}

thread_local! {
    /// The last error of a call that has no handle to hold it (`parla_call_new`).
    static THREAD_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_thread_error(msg: String) {
    THREAD_ERROR.with(|e| *e.borrow_mut() = to_cstring(msg));
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let what = p
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic");
    format!("panic in Parla: {what}")
}

/// Runs `f` behind the panic barrier; failures go to the thread's last error.
fn guard_global(f: impl FnOnce() -> Result<ParlaStatus, Failure>) -> ParlaStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(status)) => status,
        Ok(Err(fail)) => {
            let status = fail.status;
            set_thread_error(fail.message());
            status
        }
        Err(p) => {
            set_thread_error(panic_message(p.as_ref()));
            PARLA_ERR_PANIC
        }
    }
}

/// Runs `f` on the call behind the panic barrier; failures go to the handle's last error.
///
/// # Safety
/// `call` is NULL or a live handle from [`parla_call_new`].
unsafe fn guard_call(
    call: *const ParlaCall,
    f: impl FnOnce(&ParlaCall) -> Result<ParlaStatus, Failure>,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller.
    let Some(c) = (unsafe { call.as_ref() }) else {
        return PARLA_ERR_NULL_ARG;
    };
    match catch_unwind(AssertUnwindSafe(|| f(c))) {
        Ok(Ok(status)) => status,
        Ok(Err(fail)) => {
            let status = fail.status;
            c.set_error(fail.message());
            status
        }
        Err(p) => {
            let msg = panic_message(p.as_ref());
            // The error slot's lock is never held while running user code, so this cannot
            // deadlock; a poisoned lock is recovered.
            let _ = catch_unwind(AssertUnwindSafe(|| c.set_error(msg)));
            PARLA_ERR_PANIC
        }
    }
}

/// Runs a real-time entry point: NULL check and panic barrier only, no last-error message
/// (which would allocate and lock).
///
/// # Safety
/// `call` is NULL or a live handle from [`parla_call_new`].
unsafe fn guard_rt(
    call: *const ParlaCall,
    f: impl FnOnce(&ParlaCall) -> ParlaStatus,
) -> ParlaStatus {
    // RT: a NULL check and catch_unwind (which costs nothing unless something panics).
    // SAFETY: forwarded from the caller.
    let Some(c) = (unsafe { call.as_ref() }) else {
        return PARLA_ERR_NULL_ARG;
    };
    catch_unwind(AssertUnwindSafe(|| f(c))).unwrap_or(PARLA_ERR_PANIC)
}

static VERSION: &CStr = {
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    }
};

/// The library's version as text, e.g. `"0.1.0"`.
///
/// Ownership: the string is static; do not free it. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn parla_version() -> *const c_char {
    VERSION.as_ptr()
}

/// The library's version as numbers.
///
/// Returns `PARLA_OK`, or `PARLA_ERR_NULL_ARG` if any pointer is NULL (nothing is written then).
///
/// # Safety
/// Each non-NULL pointer points to a writable `uint32_t`, borrowed for the call only.
/// Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_version_numbers(
    major: *mut u32,
    minor: *mut u32,
    patch: *mut u32,
) -> ParlaStatus {
    guard_global(|| {
        // SAFETY: the caller guarantees each pointer is NULL or writable.
        let ma = unsafe { major.as_mut() };
        // SAFETY: as above.
        let mi = unsafe { minor.as_mut() };
        // SAFETY: as above.
        let pa = unsafe { patch.as_mut() };
        let (Some(ma), Some(mi), Some(pa)) = (ma, mi, pa) else {
            return Err(Failure::null("a version pointer"));
        };
        let num = |s: &str| s.parse::<u32>().unwrap_or(0);
        *ma = num(env!("CARGO_PKG_VERSION_MAJOR"));
        *mi = num(env!("CARGO_PKG_VERSION_MINOR"));
        *pa = num(env!("CARGO_PKG_VERSION_PATCH"));
        Ok(PARLA_OK)
    })
}

/// A static, human-readable name for a status code (e.g. `"PARLA_ERR_NULL_ARG: a required
/// pointer argument was NULL"`); unknown codes give `"unknown status"`.
///
/// Ownership: the string is static; do not free it. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn parla_status_str(status: ParlaStatus) -> *const c_char {
    let s: &'static CStr = match status {
        PARLA_OK => c"PARLA_OK: success",
        PARLA_NO_PACKET => c"PARLA_NO_PACKET: no packet is waiting",
        PARLA_PARTIAL => c"PARLA_PARTIAL: fewer samples were moved than asked",
        PARLA_NO_EVENT => c"PARLA_NO_EVENT: no event is waiting",
        PARLA_NO_FRAME => c"PARLA_NO_FRAME: no video picture is due",
        PARLA_ERR_NULL_ARG => c"PARLA_ERR_NULL_ARG: a required pointer argument was NULL",
        PARLA_ERR_INVALID_ARG => c"PARLA_ERR_INVALID_ARG: an argument is out of range",
        PARLA_ERR_INVALID_CONFIG => c"PARLA_ERR_INVALID_CONFIG: the call configuration is invalid",
        PARLA_ERR_BUFFER_TOO_SMALL => c"PARLA_ERR_BUFFER_TOO_SMALL: an output buffer is too small",
        PARLA_ERR_NOT_RUNNING => c"PARLA_ERR_NOT_RUNNING: the call is not running in this mode",
        PARLA_ERR_ALREADY_RUNNING => c"PARLA_ERR_ALREADY_RUNNING: the call is already running",
        PARLA_ERR_NO_PEER_KEY => c"PARLA_ERR_NO_PEER_KEY: the peer's public key is not set",
        PARLA_ERR_KEY_AGREEMENT => c"PARLA_ERR_KEY_AGREEMENT: the key agreement failed",
        PARLA_ERR_WRONG_MODE => c"PARLA_ERR_WRONG_MODE: the operation needs another mode",
        PARLA_ERR_BUSY => {
            c"PARLA_ERR_BUSY: another thread is in the same audio direction, or the control queue is full"
        }
        PARLA_ERR_DEVICE => c"PARLA_ERR_DEVICE: an audio device could not be opened",
        PARLA_ERR_TIMEOUT => c"PARLA_ERR_TIMEOUT: the device thread did not answer in time",
        PARLA_ERR_PANIC => c"PARLA_ERR_PANIC: a panic was caught at the ABI boundary",
        PARLA_ERR_INTERNAL => c"PARLA_ERR_INTERNAL: internal failure",
        PARLA_ERR_MEDIA_FAILED => {
            c"PARLA_ERR_MEDIA_FAILED: the media thread failed; stop and start the call"
        }
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// The message of the last failure on this thread of a function that has no call handle to
/// hold it: `parla_call_new`, `parla_call_config_default`, `parla_version_numbers` (`""` if
/// none). Functions with a call handle write to `parla_call_last_error` instead.
///
/// Ownership: the string belongs to the library and stays valid until the next failure of one
/// of those functions on the same thread; copy it to keep it. Threads: per thread.
#[unsafe(no_mangle)]
pub extern "C" fn parla_last_error() -> *const c_char {
    // The buffer lives in a thread-local that is only replaced by a later failure on this
    // thread, so the pointer stays valid as documented.
    THREAD_ERROR.with(|e| e.borrow().as_ptr())
}

/// Fill `cfg` with the default configuration (48 kHz mono, Opus 20 ms at 32 kbps with FEC,
/// AEC3, noise suppression, SFrame AES-128-GCM). Set `cfg->size = sizeof *cfg` first; the
/// size is kept. Change fields afterwards as needed.
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` or `PARLA_ERR_INVALID_ARG` (`size` is not the size
/// of any `ParlaCallConfig` layout, e.g. 0; `parla_last_error()` says which). Sets the thread's
/// last error on failure.
///
/// # Safety
/// `cfg` is NULL or points to a writable `ParlaCallConfig` of `cfg->size` bytes, borrowed for
/// the call only. Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_config_default(cfg: *mut ParlaCallConfig) -> ParlaStatus {
    guard_global(|| {
        // SAFETY: the caller guarantees `cfg` is NULL or writable.
        unsafe { ptr::write_sized(cfg, ParlaCallConfig::default()) }?;
        Ok(PARLA_OK)
    })
}

/// Create a call with a copy of `cfg` and a fresh key pair. On success `*out_call` receives the
/// handle; on failure it is set to NULL and `parla_last_error()` says why (e.g. which config
/// field is out of range). Only the fields `cfg->size` covers are read; newer fields take
/// their defaults.
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG`, `PARLA_ERR_INVALID_ARG` (`cfg->size` is not the size
/// of any `ParlaCallConfig` layout) or `PARLA_ERR_INVALID_CONFIG` (a field is out of range, or
/// a newer app set a field this library does not know).
///
/// # Safety
/// `cfg` is NULL or points to a readable, initialised `ParlaCallConfig` of `cfg->size` bytes
/// (borrowed for the call only); `out_call` is NULL or writable. Ownership: the caller owns the new handle and
/// releases it with `parla_call_free`. Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_new(
    cfg: *const ParlaCallConfig,
    out_call: *mut *mut ParlaCall,
) -> ParlaStatus {
    guard_global(|| {
        // SAFETY: the caller guarantees `out_call` is NULL or writable.
        let out = unsafe { out_call.as_mut() }.ok_or_else(|| Failure::null("out_call"))?;
        *out = std::ptr::null_mut();
        // SAFETY: the caller guarantees `cfg` is NULL or readable for its `size`.
        let cfg = unsafe { ptr::read_sized(cfg, ParlaCallConfig::default()) }?;
        *out = ParlaCall::boxed(Call::new(cfg.to_engine()?)?);
        Ok(PARLA_OK)
    })
}

/// Stop the call if it runs (joining its threads), drop the send callback (calling its
/// `destroy`), and free the handle. `parla_call_free(NULL)` does nothing.
///
/// # Safety
/// `call` is NULL or a handle from `parla_call_new` that was not freed yet. Ownership: the
/// handle is invalid afterwards. Threads: any thread, but no other thread may use the handle
/// during or after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_free(call: *mut ParlaCall) {
    if call.is_null() {
        return;
    }
    // SAFETY: the caller hands back ownership of a handle made by `Box::into_raw`.
    let boxed = unsafe { Box::from_raw(call) };
    let _ = catch_unwind(AssertUnwindSafe(move || {
        drop(boxed.stop_sender());
        let _ = boxed.call.stop();
        drop(boxed);
    }));
}

/// The message of the last failure on this handle (`""` if none yet). The real-time audio
/// functions do not set it (their status says all).
///
/// Ownership: the string belongs to the handle and stays valid until the next failing call on
/// this handle (from any thread) or `parla_call_free`; copy it to keep it. Returns NULL if
/// `call` is NULL. Threads: any thread; with several threads failing on one handle at once use
/// `parla_call_last_error_copy`.
///
/// # Safety
/// `call` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_last_error(call: *const ParlaCall) -> *const c_char {
    // SAFETY: the caller guarantees `call` is NULL or live.
    let Some(c) = (unsafe { call.as_ref() }) else {
        return std::ptr::null();
    };
    catch_unwind(AssertUnwindSafe(|| lock(&c.last_error).as_ptr())).unwrap_or(std::ptr::null())
}

/// Copy the last failure's message on this handle into `buf` (NUL-terminated, truncated to
/// `len - 1` bytes).
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG`, or `PARLA_ERR_INVALID_ARG` for `len == 0`.
///
/// # Safety
/// `call` is NULL or a live handle; `buf` is NULL or writable for `len` bytes (borrowed for the
/// call only). Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_last_error_copy(
    call: *const ParlaCall,
    buf: *mut c_char,
    len: usize,
) -> ParlaStatus {
    // The copy must not overwrite the error it copies, so no `guard_call` here.
    // SAFETY: the caller guarantees `call` is NULL or live.
    let Some(c) = (unsafe { call.as_ref() }) else {
        return PARLA_ERR_NULL_ARG;
    };
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees `buf` is NULL or writable for `len` bytes.
        match unsafe { ptr::slice_mut(buf.cast::<u8>(), len) } {
            Ok(out) if !out.is_empty() => {
                let msg = lock(&c.last_error);
                ptr::write_cstr(out, msg.to_bytes());
                PARLA_OK
            }
            Ok(_) => PARLA_ERR_INVALID_ARG,
            Err(f) => f.status,
        }
    }))
    .unwrap_or(PARLA_ERR_PANIC)
}

/// Copies `blob` to the front of `out`, or fails with `PARLA_ERR_BUFFER_TOO_SMALL` naming
/// `what`.
fn copy_blob(out: &mut [u8], blob: &[u8], what: &str) -> Result<ParlaStatus, Failure> {
    let len = out.len();
    let dst = out.get_mut(..blob.len()).ok_or_else(|| {
        Failure::new(
            PARLA_ERR_BUFFER_TOO_SMALL,
            format!("{what} buffer has {len} bytes, needs {}", blob.len()),
        )
    })?;
    dst.copy_from_slice(blob);
    Ok(PARLA_OK)
}

/// Copy our public key blob (`PARLA_KEY_BLOB_LEN` bytes) into `buf`, to send to the peer
/// through the app's signalling.
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` or `PARLA_ERR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `call` is NULL or a live handle; `buf` is NULL or writable for `len` bytes (borrowed for the
/// call only). Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_local_public_key(
    call: *const ParlaCall,
    buf: *mut u8,
    len: usize,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            copy_blob(ptr::slice_mut(buf, len)?, &c.call.local_public_key(), "key")
        })
    }
}

/// Finish the key agreement with the peer's public key blob and the call id both apps agreed on
/// (any bytes, at least one). Afterwards the safety code is available and the call may start
/// with end-to-end encryption.
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG`, `PARLA_ERR_INVALID_ARG` (empty call id) or
/// `PARLA_ERR_KEY_AGREEMENT` (wrong length, our own key, an invalid point, or already set; for
/// an invalid point the key pair is spent and a new call is needed).
///
/// # Safety
/// `call` is NULL or a live handle; `peer_key` is NULL or readable for `peer_key_len` bytes;
/// `call_id` is NULL or readable for `call_id_len` bytes. Both are borrowed for the call only.
/// Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_set_peer_key(
    call: *const ParlaCall,
    peer_key: *const u8,
    peer_key_len: usize,
    call_id: *const u8,
    call_id_len: usize,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            let key = ptr::slice(peer_key, peer_key_len)?;
            let id = ptr::slice(call_id, call_id_len)?;
            if id.is_empty() {
                return Err(Failure::arg("call_id is empty".into()));
            }
            c.call.set_peer_key(key, id)?;
            Ok(PARLA_OK)
        })
    }
}

/// Copy the commitment to our public key (`PARLA_COMMITMENT_LEN` bytes) into `buf`. For the
/// short authentication string, send it to the peer first, and send our public key
/// (`parla_call_local_public_key`) only after the peer's commitment arrived
/// (`parla_call_set_peer_commitment`).
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` or `PARLA_ERR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `call` is NULL or a live handle; `buf` is NULL or writable for `len` bytes (borrowed for the
/// call only). Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_local_commitment(
    call: *const ParlaCall,
    buf: *mut u8,
    len: usize,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            copy_blob(
                ptr::slice_mut(buf, len)?,
                &c.call.local_commitment(),
                "commitment",
            )
        })
    }
}

/// Record the peer's commitment (received before its public key). `parla_call_set_peer_key`
/// then refuses a key that does not match it (`PARLA_ERR_KEY_AGREEMENT`: a man in the middle;
/// end the call), and `parla_call_short_auth_string` becomes available.
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` or `PARLA_ERR_KEY_AGREEMENT` (malformed, a second
/// commitment, or after the key agreement).
///
/// # Safety
/// `call` is NULL or a live handle; `commitment` is NULL or readable for `len` bytes (borrowed
/// for the call only). Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_set_peer_commitment(
    call: *const ParlaCall,
    commitment: *const u8,
    len: usize,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            let data = ptr::slice(commitment, len)?;
            c.call.set_peer_commitment(data)?;
            Ok(PARLA_OK)
        })
    }
}

/// Write the commitment-based short authentication string of `digits` digits (1 to 9; 6 is a
/// good default) into `*out` (as a number: show it zero-padded to `digits` digits). Both users
/// read it out loud; a man in the middle makes them match with probability about
/// 10^-`digits`. Needs commitments exchanged before the keys (`parla_call_local_commitment`,
/// `parla_call_set_peer_commitment`).
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG`, `PARLA_ERR_NO_PEER_KEY` (before
/// `parla_call_set_peer_key`) or `PARLA_ERR_KEY_AGREEMENT` (no commitments were exchanged, or
/// `digits` out of range).
///
/// # Safety
/// `call` is NULL or a live handle; `out` is NULL or writable. Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_short_auth_string(
    call: *const ParlaCall,
    digits: u32,
    out: *mut u32,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            let out = out.as_mut().ok_or_else(|| Failure::null("out"))?;
            let sas = c.call.short_auth_string(digits as usize)?;
            *out = sas.value();
            Ok(PARLA_OK)
        })
    }
}

/// Write the safety code as text (12 groups of 5 digits separated by spaces, NUL-terminated;
/// `PARLA_SAFETY_CODE_LEN` bytes with the NUL) into `buf`. Both users compare it to detect a
/// man in the middle.
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG`, `PARLA_ERR_BUFFER_TOO_SMALL` or
/// `PARLA_ERR_NO_PEER_KEY` (before `parla_call_set_peer_key`).
///
/// # Safety
/// `call` is NULL or a live handle; `buf` is NULL or writable for `len` bytes (borrowed for the
/// call only). Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_safety_code(
    call: *const ParlaCall,
    buf: *mut c_char,
    len: usize,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            let out = ptr::slice_mut(buf.cast::<u8>(), len)?;
            if out.len() < PARLA_SAFETY_CODE_LEN {
                return Err(Failure::new(
                    PARLA_ERR_BUFFER_TOO_SMALL,
                    format!("safety code buffer has {len} bytes, needs {PARLA_SAFETY_CODE_LEN}"),
                ));
            }
            let code = c.call.safety_code().ok_or_else(|| {
                Failure::new(
                    PARLA_ERR_NO_PEER_KEY,
                    "no safety code before parla_call_set_peer_key".into(),
                )
            })?;
            ptr::write_cstr(out, code.to_string().as_bytes());
            Ok(PARLA_OK)
        })
    }
}

/// Start the call: its media thread, and in `PARLA_AUDIO_MODE_DEVICES` the capture and playout
/// devices (by id or name; NULL for the default device). In `PARLA_AUDIO_MODE_APP_OWNED` the
/// device names must be NULL. With `e2ee` on, `parla_call_set_peer_key` must come first. A
/// stopped call can be started again.
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG`, `PARLA_ERR_INVALID_ARG` (unknown mode, device
/// names in app-owned mode, names not UTF-8), `PARLA_ERR_ALREADY_RUNNING`,
/// `PARLA_ERR_NO_PEER_KEY`, `PARLA_ERR_DEVICE` or `PARLA_ERR_INTERNAL`.
///
/// # Safety
/// `call` is NULL or a live handle; each device name is NULL or a NUL-terminated string,
/// borrowed for the call only. Threads: any thread (control side).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_start(
    call: *const ParlaCall,
    mode: i32,
    capture_device: *const c_char,
    playout_device: *const c_char,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            let capture = ptr::opt_str(capture_device)?;
            let playout = ptr::opt_str(playout_device)?;
            #[cfg(feature = "devices")]
            let select = |n: Option<&str>| {
                n.map_or(DeviceSelector::Default, |s| {
                    DeviceSelector::Name(s.to_owned())
                })
            };
            let mode = match mode {
                PARLA_AUDIO_MODE_APP_OWNED => {
                    if capture.is_some() || playout.is_some() {
                        return Err(Failure::arg(
                            "device names given in app-owned mode (pass NULL)".into(),
                        ));
                    }
                    AudioMode::AppOwned
                }
                #[cfg(feature = "devices")]
                PARLA_AUDIO_MODE_DEVICES => AudioMode::Devices {
                    capture: select(capture),
                    playout: select(playout),
                },
                #[cfg(not(feature = "devices"))]
                PARLA_AUDIO_MODE_DEVICES => {
                    return Err(Failure::new(
                        PARLA_ERR_WRONG_MODE,
                        "this library was built without device support (feature `devices`): \
                         use PARLA_AUDIO_MODE_APP_OWNED"
                            .into(),
                    ));
                }
                m => return Err(Failure::arg(format!("unknown audio mode {m}"))),
            };
            c.call.start(mode)?;
            Ok(PARLA_OK)
        })
    }
}

/// Stop the call and join its media (and device) threads. Statistics stay readable. A send
/// callback stays registered (its thread idles until the next start; `parla_call_free` or
/// removing the callback ends it).
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` or `PARLA_ERR_NOT_RUNNING`.
///
/// # Safety
/// `call` is NULL or a live handle. Threads: any thread (control side); blocks until the
/// threads have ended.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_stop(call: *const ParlaCall) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            c.call.stop()?;
            Ok(PARLA_OK)
        })
    }
}

/// Pull with a NULL call: silence in `out` all the same (a speaker callback never plays stale
/// memory), and `PARLA_ERR_NULL_ARG`.
///
/// # Safety
/// `out` is NULL or writable for `n` values.
unsafe fn silence_without_call<T: Copy + Default>(out: *mut T, n: usize) -> ParlaStatus {
    // RT: a fill of the caller's buffer.
    // SAFETY: forwarded from the caller.
    if let Ok(s) = unsafe { ptr::slice_mut(out, n) } {
        s.fill(T::default());
    }
    PARLA_ERR_NULL_ARG
}

fn moved(done: usize, asked: usize) -> ParlaStatus {
    if done < asked {
        PARLA_PARTIAL
    } else {
        PARLA_OK
    }
}

/// App-owned mode: push `n` interleaved microphone samples (`channels` per frame, capture
/// rate, float in [-1, 1]). Push about every 10 ms from the app's audio callback.
///
/// Returns `PARLA_OK`, `PARLA_PARTIAL` (the capture ring was full: the rest was dropped and
/// counted), `PARLA_ERR_NULL_ARG`, `PARLA_ERR_INVALID_ARG` (`n` not a multiple of the channel
/// count, or a length that cannot be a buffer), `PARLA_ERR_NOT_RUNNING`, `PARLA_ERR_BUSY` (another
/// thread is pushing at the same moment) or `PARLA_ERR_MEDIA_FAILED`. Sets no last-error
/// message.
///
/// Real-time safe: never blocks, allocates or makes a system call.
///
/// # Safety
/// `call` is NULL or a live handle; `samples` is NULL or readable for `n` floats (borrowed for
/// the call only). Threads: one audio thread at a time per call (a second one concurrently gets
/// `PARLA_ERR_BUSY`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_push_capture_f32(
    call: *const ParlaCall,
    samples: *const f32,
    n: usize,
) -> ParlaStatus {
    // RT: a pointer check and the engine's wait-free ring write.
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_rt(call, |c| match ptr::slice(samples, n) {
            Ok(s) => c
                .call
                .push_capture(s)
                .map_or_else(audio_status, |d| moved(d, n)),
            Err(f) => f.status,
        })
    }
}

/// As `parla_call_push_capture_f32` for 16-bit samples.
///
/// # Safety
/// `call` is NULL or a live handle; `samples` is NULL or readable for `n` values (borrowed for
/// the call only). Threads: one audio thread at a time per call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_push_capture_i16(
    call: *const ParlaCall,
    samples: *const i16,
    n: usize,
) -> ParlaStatus {
    // RT: a pointer check and the engine's wait-free ring write.
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_rt(call, |c| match ptr::slice(samples, n) {
            Ok(s) => c
                .call
                .push_capture_i16(s)
                .map_or_else(audio_status, |d| moved(d, n)),
            Err(f) => f.status,
        })
    }
}

/// App-owned mode: fill `out` with `n` interleaved speaker samples (playout rate, float).
/// What the playout ring lacks is silence. Pull about every 10 ms from the app's audio
/// callback.
///
/// Returns `PARLA_OK`, `PARLA_PARTIAL` (part of `out` is silence: underrun, counted),
/// `PARLA_ERR_NULL_ARG`, `PARLA_ERR_INVALID_ARG`, `PARLA_ERR_NOT_RUNNING`, `PARLA_ERR_BUSY` or
/// `PARLA_ERR_MEDIA_FAILED`
/// (on these errors `out` is silence when it is not NULL). Sets no last-error message.
///
/// Real-time safe: never blocks, allocates or makes a system call.
///
/// # Safety
/// `call` is NULL or a live handle; `out` is NULL or writable for `n` floats (borrowed for the
/// call only). Threads: one audio thread at a time per call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_pull_playout_f32(
    call: *const ParlaCall,
    out: *mut f32,
    n: usize,
) -> ParlaStatus {
    // RT: a pointer check and the engine's wait-free ring read.
    if call.is_null() {
        // SAFETY: forwarded from the caller's guarantees.
        return unsafe { silence_without_call(out, n) };
    }
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_rt(call, |c| match ptr::slice_mut(out, n) {
            Ok(s) => c
                .call
                .pull_playout(s)
                .map_or_else(audio_status, |d| moved(d, n)),
            Err(f) => f.status,
        })
    }
}

/// As `parla_call_pull_playout_f32` for 16-bit samples.
///
/// # Safety
/// `call` is NULL or a live handle; `out` is NULL or writable for `n` values (borrowed for the
/// call only). Threads: one audio thread at a time per call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_pull_playout_i16(
    call: *const ParlaCall,
    out: *mut i16,
    n: usize,
) -> ParlaStatus {
    // RT: a pointer check and the engine's wait-free ring read.
    if call.is_null() {
        // SAFETY: forwarded from the caller's guarantees.
        return unsafe { silence_without_call(out, n) };
    }
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_rt(call, |c| match ptr::slice_mut(out, n) {
            Ok(s) => c
                .call
                .pull_playout_i16(s)
                .map_or_else(audio_status, |d| moved(d, n)),
            Err(f) => f.status,
        })
    }
}

/// Hand a packet received from the peer to the call (it is copied).
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG`, `PARLA_ERR_INVALID_ARG` (empty or larger than
/// `PARLA_MAX_PACKET`) or `PARLA_ERR_NOT_RUNNING`. Forged or malformed packets are accepted
/// here and rejected (and counted) by the media thread. Sets no last-error message.
///
/// Wait-free: never blocks or allocates; a full incoming queue drops its oldest packet
/// (counted).
///
/// # Safety
/// `call` is NULL or a live handle; `data` is NULL or readable for `len` bytes (borrowed for the
/// call only). Threads: any thread (the app's network side).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_receive_packet(
    call: *const ParlaCall,
    data: *const u8,
    len: usize,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_rt(call, |c| match ptr::slice(data, len) {
            Ok([]) => PARLA_ERR_INVALID_ARG,
            Ok(d) if d.len() > PARLA_MAX_PACKET => PARLA_ERR_INVALID_ARG,
            Ok(d) => {
                if c.call.receive_packet(d) {
                    PARLA_OK
                } else {
                    PARLA_ERR_NOT_RUNNING
                }
            }
            Err(f) => f.status,
        })
    }
}

/// Take the next packet to send to the peer: it is copied into `buf` and its length written to
/// `*out_len`.
///
/// Returns `PARLA_OK`, `PARLA_NO_PACKET` (none waiting, or the call is not running; `*out_len`
/// is 0), `PARLA_ERR_NULL_ARG`, or `PARLA_ERR_BUFFER_TOO_SMALL` (the packet did not fit and was
/// dropped: size `buf` for `PARLA_MAX_PACKET`). Sets no last-error message.
///
/// Wait-free: never blocks or allocates. With a send callback registered the callback's thread
/// takes the packets and this function mostly returns `PARLA_NO_PACKET`.
///
/// # Safety
/// `call` is NULL or a live handle; `buf` is NULL or writable for `cap` bytes; `out_len` is
/// NULL or writable. All are borrowed for the call only. Threads: any thread (the app's network
/// side).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_poll_packet(
    call: *const ParlaCall,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_rt(call, |c| {
            let Some(len_out) = out_len.as_mut() else {
                return PARLA_ERR_NULL_ARG;
            };
            *len_out = 0;
            match ptr::slice_mut(buf, cap) {
                Ok(out) => match c.call.poll_packet(out) {
                    Ok(Some(n)) => {
                        *len_out = n;
                        PARLA_OK
                    }
                    Ok(None) => PARLA_NO_PACKET,
                    Err(_) => PARLA_ERR_BUFFER_TOO_SMALL,
                },
                Err(f) => f.status,
            }
        })
    }
}

/// A send callback: called with each packet to send to the peer. `data` is valid for `len`
/// bytes during the call only (copy it). It runs on the call's send thread (named
/// `parla-send`), never on the audio or media thread; it should not block for long (packets
/// queue up meanwhile, and a full queue drops the oldest).
pub type ParlaSendFn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, data: *const u8, len: usize)>;

/// Releases the user data of a callback. Called exactly once per registration: from the thread
/// that replaces or removes the callback (`parla_call_set_send_callback`) or frees the call
/// (`parla_call_free`), before that function returns; when the callback is replaced or removed
/// from inside itself, on the send thread just after the callback returns. Stopping a call
/// does not release it (the callback stays registered for the next start).
pub type ParlaDestroyFn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

fn spawn_sender(call: Arc<Call>, cb: SendCallback) -> Result<SendPump, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("parla-send".into())
        .spawn(move || {
            let mut buf = [0u8; PARLA_MAX_PACKET];
            while !thread_stop.load(Ordering::Acquire) {
                match call.poll_packet(&mut buf) {
                    // SAFETY: the app registered `send` for `user_data`; `buf` holds `n` bytes
                    // for the duration of the call.
                    Ok(Some(n)) => unsafe { (cb.send)(cb.user_data, buf.as_ptr(), n) },
                    _ => std::thread::sleep(SEND_POLL),
                }
            }
            cb
        })
        .map_err(|e| Failure::new(PARLA_ERR_INTERNAL, format!("send thread: {e}")))?;
    Ok(SendPump { stop, thread })
}

fn restart_sender(c: &ParlaCall, cb: SendCallback) -> Result<(), Failure> {
    let pump = spawn_sender(Arc::clone(&c.call), cb)?;
    *lock(&c.sender) = Some(pump);
    Ok(())
}

/// Register a send callback (or remove it with `send == NULL`): a thread of the call then
/// takes every outgoing packet and calls `send(user_data, data, len)`, instead of the app
/// polling with `parla_call_poll_packet`. The previous callback's `destroy` (if any) is called
/// before this returns. `destroy` (may be NULL) is called with `user_data` when the callback
/// is replaced or removed or the call is freed (`ParlaDestroyFn` says on which thread).
///
/// The callback may call back into the API (poll, stats, mute, rotate, and this function: a
/// callback that removes or replaces itself gets `PARLA_OK` at once, and its `destroy` runs
/// after it returns). It must not free the call from inside itself.
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` (`call` NULL) or `PARLA_ERR_INTERNAL` (the thread
/// could not start; `destroy` has been called then).
///
/// # Safety
/// `call` is NULL or a live handle; `send` and `destroy` are NULL or valid functions for as long
/// as they stay registered; `user_data` is passed back unchanged and must be usable from the
/// callback's thread. Threads: any thread (control side).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_set_send_callback(
    call: *const ParlaCall,
    send: ParlaSendFn,
    user_data: *mut c_void,
    destroy: ParlaDestroyFn,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            drop(c.stop_sender());
            if let Some(send) = send {
                restart_sender(
                    c,
                    SendCallback {
                        send,
                        destroy,
                        user_data,
                    },
                )?;
            }
            Ok(PARLA_OK)
        })
    }
}

/// Mute (`muted != 0`) or unmute the microphone: silence is sent while muted. Works in any state
/// (before a start it applies from the start; kept across stop and start).
///
/// Returns `PARLA_OK` or `PARLA_ERR_NULL_ARG`.
///
/// # Safety
/// `call` is NULL or a live handle. Threads: any thread (control side; never blocks).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_set_muted(call: *const ParlaCall, muted: i32) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            c.call.set_muted(muted != 0);
            Ok(PARLA_OK)
        })
    }
}

/// Change the Opus bitrate, bits per second (6000..=510000). Works in any state (before a start
/// it applies from the start; kept across stop and start); a running call's media thread applies
/// it before its next tick. With congestion control on (the default) it is the ceiling: the
/// audio adaptation picks the rate under it (a lower ceiling applies at once, a higher one as
/// the bandwidth estimate allows).
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` or `PARLA_ERR_INVALID_CONFIG` (out of range).
///
/// # Safety
/// `call` is NULL or a live handle. Threads: any thread (control side; never blocks).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_set_bitrate(
    call: *const ParlaCall,
    bitrate_bps: u32,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            c.call.set_bitrate(bitrate_bps)?;
            Ok(PARLA_OK)
        })
    }
}

/// Rotate this side's sending keys to the next epoch. The peer's receiver follows by itself
/// (no signalling needed for the call to keep working); for forward secrecy in both directions
/// the app asks the peer to rotate too. Atomic: on any error nothing changed and the call stays
/// on the old epoch; a retry is safe. Unlimited: old keys retire `key_grace_ms` after the peer
/// switched. Works on a running call, and on a created or stopped one (the next start uses
/// the new epoch).
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG`, `PARLA_ERR_NO_PEER_KEY` (before
/// `parla_call_set_peer_key`), `PARLA_ERR_WRONG_MODE` (e2ee off) or `PARLA_ERR_BUSY` (the media
/// thread's control queue is full: nothing changed, retry later).
///
/// # Safety
/// `call` is NULL or a live handle. Threads: any thread (control side; never waits for the
/// media thread).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_rotate_key(call: *const ParlaCall) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            c.call.rotate_key()?;
            Ok(PARLA_OK)
        })
    }
}

/// `ParlaCallEvent::kind`: `value` frames failed authentication in the last second (at least
/// 10): packets are being forged, altered or injected, or the peer uses other keys. Raised at
/// most once per second while it lasts.
pub const PARLA_EVENT_AUTH_FAILURES: i32 = 1;
/// `ParlaCallEvent::kind`: the peer's sending keys moved to epoch `value` (it rotated; this
/// side followed by itself).
pub const PARLA_EVENT_PEER_ROTATED: i32 = 2;
/// `ParlaCallEvent::kind`: the media thread's processing failed and the run ended (`value` 0);
/// the keys were kept: call `parla_call_stop` (it reports the failure) and start again.
pub const PARLA_EVENT_MEDIA_FAILED: i32 = 3;
/// `ParlaCallEvent::kind`: congestion control's bandwidth estimate moved by a fifth or more;
/// `value` is the estimate in bits per second.
pub const PARLA_EVENT_BANDWIDTH: i32 = 4;
/// `ParlaCallEvent::kind`: the audio adaptation changed the encoder's settings; `value` is the
/// new Opus bitrate in bits per second (FEC and packet length in `ParlaCallStats`).
pub const PARLA_EVENT_AUDIO_ADAPTED: i32 = 5;

/// An event of a call (`parla_call_poll_event`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ParlaCallEvent {
    /// `PARLA_EVENT_*`.
    pub kind: i32,
    /// The event's number (see each kind).
    pub value: u64,
}

impl From<CallEvent> for ParlaCallEvent {
    fn from(e: CallEvent) -> Self {
        match e {
            CallEvent::AuthFailures { count } => ParlaCallEvent {
                kind: PARLA_EVENT_AUTH_FAILURES,
                value: count,
            },
            CallEvent::PeerRotated { epoch } => ParlaCallEvent {
                kind: PARLA_EVENT_PEER_ROTATED,
                value: u64::from(epoch),
            },
            CallEvent::MediaFailed => ParlaCallEvent {
                kind: PARLA_EVENT_MEDIA_FAILED,
                value: 0,
            },
            CallEvent::BandwidthEstimate { bps } => ParlaCallEvent {
                kind: PARLA_EVENT_BANDWIDTH,
                value: bps,
            },
            CallEvent::AudioAdapted { bitrate_bps, .. } => ParlaCallEvent {
                kind: PARLA_EVENT_AUDIO_ADAPTED,
                value: u64::from(bitrate_bps),
            },
            // Kinds added later are reported as "media failed" only if they mean it; none do
            // yet. The engine's enum is non-exhaustive.
            _ => ParlaCallEvent::default(),
        }
    }
}

/// Take the next event of the call into `*out`. Events are kept across stop and start; the
/// queue holds the newest 32.
///
/// Returns `PARLA_OK` (an event in `*out`), `PARLA_NO_EVENT` or `PARLA_ERR_NULL_ARG`.
///
/// # Safety
/// `call` is NULL or a live handle; `out` is NULL or writable. Threads: any thread; wait-free.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_poll_event(
    call: *const ParlaCall,
    out: *mut ParlaCallEvent,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            let out = out.as_mut().ok_or_else(|| Failure::null("out"))?;
            Ok(match c.call.poll_event() {
                Some(e) => {
                    *out = e.into();
                    PARLA_OK
                }
                None => PARLA_NO_EVENT,
            })
        })
    }
}

/// Copy the latest statistics (published by the media thread every 50 ms; after a stop, the
/// final ones) into `*out`. Set `out->size = sizeof *out` first: only that many bytes are
/// written (an older app's struct gets the fields it knows; a newer app's unknown fields are
/// zeroed), and `size` is kept. Counters continue across stop and start.
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` or `PARLA_ERR_INVALID_ARG` (`size` is not the size
/// of any `ParlaCallStats` layout, e.g. 0).
///
/// # Safety
/// `call` is NULL or a live handle; `out` is NULL or writable for `out->size` bytes (borrowed
/// for the call only). Threads: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_get_stats(
    call: *const ParlaCall,
    out: *mut ParlaCallStats,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            ptr::write_sized(out, c.call.stats().into())?;
            Ok(PARLA_OK)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Video (issue 17): a call with video, frames in and out, video statistics.
// ---------------------------------------------------------------------------------------------

/// `parla_call_pull_video_frame`: no new picture is due (not an error).
pub const PARLA_NO_FRAME: ParlaStatus = 4;

/// `ParlaVideoConfig::codec`: H.264 Constrained Baseline (libx264; the default).
pub const PARLA_VIDEO_CODEC_H264: i32 = 0;
/// `ParlaVideoConfig::codec`: VP8 (libvpx).
pub const PARLA_VIDEO_CODEC_VP8: i32 = 1;

/// `parla_call_push_video_frame`'s `format`: planar 4:2:0 YUV (Y, U, V planes).
pub const PARLA_PIXEL_I420: i32 = 0;
/// `parla_call_push_video_frame`'s `format`: semi-planar 4:2:0 YUV (Y, interleaved UV).
pub const PARLA_PIXEL_NV12: i32 = 1;
/// `parla_call_push_video_frame`'s `format`: packed 8-bit RGBA (one plane).
pub const PARLA_PIXEL_RGBA: i32 = 2;

/// A call's video (`parla_call_new_video`). Fill it with `parla_video_config_default` and
/// change what you need; `size` must be `sizeof(ParlaVideoConfig)`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParlaVideoConfig {
    /// `sizeof(ParlaVideoConfig)`: set by `parla_video_config_default`.
    pub size: u32,
    /// `PARLA_VIDEO_CODEC_H264` (default) or `PARLA_VIDEO_CODEC_VP8`.
    pub codec: i32,
    /// The largest encoded size, pixels (even, 16..=3840; default 640). Pushed frames of any
    /// size are scaled to the size the congestion control allows, at most this.
    pub width: u32,
    /// The largest encoded height, pixels (even, 16..=2160; default 360).
    pub height: u32,
    /// The highest frame rate (1..=60; default 30).
    pub fps: u32,
    /// The bitrate the video never goes under, bit/s (>= 30000; default 100000).
    pub min_bitrate_bps: u32,
    /// The bitrate at the start, bit/s (default 500000).
    pub start_bitrate_bps: u32,
    /// The ceiling, bit/s (<= 8000000; default 2500000).
    pub max_bitrate_bps: u32,
    /// The RTP payload type of the video (96..=127, not the audio's; default 96).
    pub payload_type: u32,
    /// The RTP payload type of retransmissions (RFC 4588; default 97).
    pub rtx_payload_type: u32,
}

impl Default for ParlaVideoConfig {
    fn default() -> Self {
        let v = VideoConfig::new(VideoCodec::H264, 640, 360, 30);
        ParlaVideoConfig {
            size: size_of::<ParlaVideoConfig>() as u32,
            codec: PARLA_VIDEO_CODEC_H264,
            width: v.width,
            height: v.height,
            fps: v.fps,
            min_bitrate_bps: v.min_bitrate_bps,
            start_bitrate_bps: v.start_bitrate_bps,
            max_bitrate_bps: v.max_bitrate_bps,
            payload_type: u32::from(v.payload_type),
            rtx_payload_type: u32::from(v.rtx_payload_type),
        }
    }
}

// SAFETY: `#[repr(C)]`, `Copy`, starts with the `u32` size; integers only.
unsafe impl ptr::SizedStruct for ParlaVideoConfig {
    const OLDER_SIZES: &'static [usize] = &[];
    const NAME: &'static str = "ParlaVideoConfig";
}

impl ParlaVideoConfig {
    fn to_engine(self) -> Result<VideoConfig, Failure> {
        let codec = match self.codec {
            PARLA_VIDEO_CODEC_H264 => VideoCodec::H264,
            PARLA_VIDEO_CODEC_VP8 => VideoCodec::Vp8,
            v => {
                return Err(Failure::new(
                    PARLA_ERR_INVALID_CONFIG,
                    format!("invalid video codec: {v} (a PARLA_VIDEO_CODEC_* value)"),
                ));
            }
        };
        let pt = |name: &str, v: u32| {
            u8::try_from(v).map_err(|_| {
                Failure::new(
                    PARLA_ERR_INVALID_CONFIG,
                    format!("invalid {name}: {v} (96..=127)"),
                )
            })
        };
        let mut v = VideoConfig::new(codec, self.width, self.height, self.fps);
        v.min_bitrate_bps = self.min_bitrate_bps;
        v.start_bitrate_bps = self.start_bitrate_bps;
        v.max_bitrate_bps = self.max_bitrate_bps;
        v.payload_type = pt("video payload_type", self.payload_type)?;
        v.rtx_payload_type = pt("video rtx_payload_type", self.rtx_payload_type)?;
        Ok(v)
    }
}

/// What comes with a picture from `parla_call_pull_video_frame`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParlaVideoFrameInfo {
    /// The picture's width, pixels (also set when the buffers were too small).
    pub width: u32,
    /// The picture's height, pixels.
    pub height: u32,
    /// When the frame buffer meant it to be shown, microseconds on the call's clock (since
    /// the run started). Pictures are released when due: show a pulled picture at once.
    pub render_time_us: u64,
    /// The peer's capture time on the peer's media clock, microseconds.
    pub capture_us: u64,
    /// The frame's RTP timestamp (90 kHz).
    pub rtp_timestamp: u32,
    /// The picture was a keyframe.
    pub keyframe: bool,
    /// Its size differs from the previous picture's (renderers reconfigure).
    pub size_changed: bool,
}

/// The video counters of a call (`parla_call_get_video_stats`); `size` must be
/// `sizeof(ParlaVideoStats)`. All zero for a call without video. The same fields as the
/// engine's `VideoStats` (checked by `tests/stats-schema.rs`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ParlaVideoStats {
    /// `sizeof(ParlaVideoStats)`, set by the app.
    pub size: u32,
    /// The encoded width now, pixels.
    pub width: u32,
    /// The encoded height now, pixels.
    pub height: u32,
    /// The encoded frame rate now.
    pub fps: u32,
    /// The video's share of the bandwidth estimate now, bit/s.
    pub target_bps: u64,
    /// Frames the app pushed.
    pub frames_captured: u64,
    /// Pushed frames dropped because the encoder was behind.
    pub frames_capture_dropped: u64,
    /// Frames encoded.
    pub frames_encoded: u64,
    /// Encoder failures (open, bitrate change or encode).
    pub encode_errors: u64,
    /// Frames sent (encrypted and packetized).
    pub frames_sent: u64,
    /// Encoded frames not sent (too large, no key, the pacer queue full).
    pub frames_send_dropped: u64,
    /// Keyframes sent.
    pub keyframes_sent: u64,
    /// Video packets sent (media and retransmissions).
    pub packets_sent: u64,
    /// Video bytes sent.
    pub bytes_sent: u64,
    /// Retransmissions sent (RTX).
    pub rtx_sent: u64,
    /// Packets the peer asked to be retransmitted.
    pub nacked_by_peer: u64,
    /// Keyframe requests (PLI/FIR) received from the peer.
    pub keyframe_requests_received: u64,
    /// Packets waiting in the pacer now.
    pub pacer_queue_packets: u64,
    /// The peer's video packets received.
    pub packets_received: u64,
    /// The peer's video packets received before its stream was authenticated.
    pub packets_before_lock: u64,
    /// Retransmissions received.
    pub rtx_received: u64,
    /// Lost packets recovered by retransmission.
    pub packets_recovered: u64,
    /// The peer's frames assembled.
    pub frames_received: u64,
    /// The peer's frames decrypted and handed to the decoder.
    pub frames_decodable: u64,
    /// The peer's frames dropped (never decodable in time).
    pub frames_dropped: u64,
    /// The peer's frames that failed authentication (SFrame).
    pub frames_auth_failed: u64,
    /// Decoder failures.
    pub decode_errors: u64,
    /// The peer's frames decoded.
    pub frames_decoded: u64,
    /// Decoded pictures replaced by a newer one before the app pulled them.
    pub frames_display_dropped: u64,
    /// Freezes: gaps between decoded frames over max(3 frame intervals, 1 interval + 150 ms).
    pub freezes: u64,
    /// Time in those gaps, ms.
    pub freeze_ms: u64,
    /// Keyframes requested from the peer.
    pub keyframes_requested: u64,
    /// NACK packets sent.
    pub nacks_sent: u64,
    /// The receive side's target delay (jitter and retransmission budget), ms.
    pub receive_delay_ms: f64,
    /// Lip sync's estimate of the skew between the peer's video and audio as played here, ms:
    /// video's capture-to-render delay minus audio's capture-to-playout delay. Positive: audio
    /// leads; negative: audio lags. 0 until measured.
    pub av_skew_ms: f64,
    /// Skew measurements made (every 500 ms once both streams are mapped).
    pub av_skew_measurements: u64,
    /// The lowest skew measured (unfiltered), ms.
    pub av_skew_min_ms: f64,
    /// The highest skew measured (unfiltered), ms.
    pub av_skew_max_ms: f64,
    /// How long lip sync holds the peer's audio back for its video, ms.
    pub sync_audio_hold_ms: f64,
    /// How long lip sync holds the peer's video back for its audio, ms.
    pub sync_video_hold_ms: f64,
    /// Captured frames not encoded because the send side was congested (more unsent video
    /// than the pacer sends in 100 ms, or the congestion window full); never for more than 1 s
    /// in a row.
    pub frames_congestion_skipped: u64,
    /// The peer's frames released for decoding after their release time (a repair came late).
    pub frames_late: u64,
    /// Recovered packets whose frame was released late.
    pub recovered_late: u64,
    /// The most a frame was released after its release time, ms.
    pub max_late_ms: f64,
}

/// `ParlaVideoStats` before the lip-sync fields (`av_skew_ms` on).
const VIDEO_STATS_V1_SIZE: usize = std::mem::offset_of!(ParlaVideoStats, av_skew_ms);
/// `ParlaVideoStats` before the congestion and lateness fields (`frames_congestion_skipped`
/// on).
const VIDEO_STATS_V2_SIZE: usize = std::mem::offset_of!(ParlaVideoStats, frames_congestion_skipped);

// SAFETY: `#[repr(C)]`, `Copy`, starts with the `u32` size; integers and floats.
unsafe impl ptr::SizedStruct for ParlaVideoStats {
    const OLDER_SIZES: &'static [usize] = &[VIDEO_STATS_V1_SIZE, VIDEO_STATS_V2_SIZE];
    const NAME: &'static str = "ParlaVideoStats";
}

impl From<VideoStats> for ParlaVideoStats {
    fn from(v: VideoStats) -> Self {
        // Destructured without `..`: a field added to `VideoStats` fails to compile here until
        // the C mirror has it too.
        let VideoStats {
            width,
            height,
            fps,
            target_bps,
            frames_captured,
            frames_capture_dropped,
            frames_encoded,
            encode_errors,
            frames_sent,
            frames_send_dropped,
            frames_congestion_skipped,
            keyframes_sent,
            packets_sent,
            bytes_sent,
            rtx_sent,
            nacked_by_peer,
            keyframe_requests_received,
            pacer_queue_packets,
            packets_received,
            packets_before_lock,
            rtx_received,
            packets_recovered,
            frames_received,
            frames_decodable,
            frames_dropped,
            frames_auth_failed,
            decode_errors,
            frames_decoded,
            frames_display_dropped,
            freezes,
            freeze_ms,
            keyframes_requested,
            nacks_sent,
            receive_delay_ms,
            av_skew_ms,
            av_skew_measurements,
            av_skew_min_ms,
            av_skew_max_ms,
            sync_audio_hold_ms,
            sync_video_hold_ms,
            frames_late,
            recovered_late,
            max_late_ms,
        } = v;
        ParlaVideoStats {
            size: size_of::<ParlaVideoStats>() as u32,
            width,
            height,
            fps,
            target_bps,
            frames_captured,
            frames_capture_dropped,
            frames_encoded,
            encode_errors,
            frames_sent,
            frames_send_dropped,
            frames_congestion_skipped,
            keyframes_sent,
            packets_sent,
            bytes_sent,
            rtx_sent,
            nacked_by_peer,
            keyframe_requests_received,
            pacer_queue_packets,
            packets_received,
            packets_before_lock,
            rtx_received,
            packets_recovered,
            frames_received,
            frames_decodable,
            frames_dropped,
            frames_auth_failed,
            decode_errors,
            frames_decoded,
            frames_display_dropped,
            freezes,
            freeze_ms,
            keyframes_requested,
            nacks_sent,
            receive_delay_ms,
            av_skew_ms,
            av_skew_measurements,
            av_skew_min_ms,
            av_skew_max_ms,
            sync_audio_hold_ms,
            sync_video_hold_ms,
            frames_late,
            recovered_late,
            max_late_ms,
        }
    }
}

/// The app threads' video scratch of a call handle: one frame to copy pushes into, one to
/// pull into (with a picture kept back when the app's buffers were too small).
#[derive(Debug, Default)]
struct VideoScratch {
    push: Mutex<Option<VideoFrame>>,
    pull: Mutex<(Option<VideoFrame>, Option<VideoFrameInfo>)>,
}

fn video_status(e: VideoIo) -> Failure {
    let status = match e {
        VideoIo::NoVideo => PARLA_ERR_WRONG_MODE,
        VideoIo::NotRunning => PARLA_ERR_NOT_RUNNING,
        VideoIo::Failed => PARLA_ERR_MEDIA_FAILED,
    };
    Failure::new(status, e.to_string())
}

/// Fill `*cfg` with the video defaults (H.264, 640x360 at 30 fps, 100 kbit/s..2.5 Mbit/s
/// starting at 500 kbit/s, payload types 96 and 97).
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` or `PARLA_ERR_INVALID_ARG` (`cfg->size` is not
/// `sizeof(ParlaVideoConfig)`).
///
/// # Safety
/// `cfg` is NULL or points to a writable `ParlaVideoConfig` of `cfg->size` bytes. Threads: any
/// thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_video_config_default(cfg: *mut ParlaVideoConfig) -> ParlaStatus {
    guard_global(|| {
        // SAFETY: the caller guarantees `cfg` is NULL or writable.
        unsafe { ptr::write_sized(cfg, ParlaVideoConfig::default()) }?;
        Ok(PARLA_OK)
    })
}

/// As `parla_call_new`, for a call with video as well as audio (`video`). Video needs
/// congestion control (on by default); its stream has its own SFrame key and the audio's SSRC
/// + 1. The encoder and decoder run on a video thread of the call, never on the media thread.
///
/// Returns as `parla_call_new`; `PARLA_ERR_INVALID_CONFIG` also for an invalid `video` field
/// (the thread's last error names it).
///
/// # Safety
/// `cfg` and `video` are NULL or point to readable, initialised structs of their `size` bytes
/// (borrowed for the call only); `out_call` is NULL or writable. Ownership and threads as
/// `parla_call_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_new_video(
    cfg: *const ParlaCallConfig,
    video: *const ParlaVideoConfig,
    out_call: *mut *mut ParlaCall,
) -> ParlaStatus {
    guard_global(|| {
        // SAFETY: the caller guarantees `out_call` is NULL or writable.
        let out = unsafe { out_call.as_mut() }.ok_or_else(|| Failure::null("out_call"))?;
        *out = std::ptr::null_mut();
        // SAFETY: the caller guarantees `cfg` is NULL or readable for its `size`.
        let cfg = unsafe { ptr::read_sized(cfg, ParlaCallConfig::default()) }?;
        // SAFETY: the caller guarantees `video` is NULL or readable for its `size`.
        let video = unsafe { ptr::read_sized(video, ParlaVideoConfig::default()) }?;
        let mut engine = cfg.to_engine()?;
        engine.video = Some(video.to_engine()?);
        engine
            .validate()
            .map_err(|e| Failure::new(PARLA_ERR_INVALID_CONFIG, e.to_string()))?;
        *out = ParlaCall::boxed(Call::new(engine)?);
        Ok(PARLA_OK)
    })
}

/// Push a captured camera frame: `format` is a `PARLA_PIXEL_*` value; `plane0..2` and
/// `stride0..2` are the planes and their bytes per row (I420: Y, U, V; NV12: Y, UV and
/// `plane2` NULL; RGBA: `plane0` only). The pixels are copied (the buffers may be reused at
/// once) and the frame is stamped with the call's clock now, its capture time for lip sync:
/// push as soon as the camera delivers. Any size (even width and height, up to 3840x2160) is
/// scaled to the encoder's. When the encoder is behind, the oldest waiting frame is dropped
/// and counted (`ParlaVideoStats::frames_capture_dropped`).
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` (a plane the format has is NULL),
/// `PARLA_ERR_INVALID_ARG` (format, size or a stride shorter than a row),
/// `PARLA_ERR_WRONG_MODE` (the call has no video), `PARLA_ERR_NOT_RUNNING` or
/// `PARLA_ERR_MEDIA_FAILED`; the handle's last error says why.
///
/// Not for a real-time audio thread: it copies a whole picture and takes the handle's push
/// lock (uncontended with one camera thread). No allocation at a constant size.
///
/// # Safety
/// `call` is NULL or a live handle; each plane the format has is NULL or readable for
/// `stride * (rows - 1) + row bytes` bytes (borrowed for the call only). Threads: any thread;
/// one camera thread per call is the intended use.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn parla_call_push_video_frame(
    call: *const ParlaCall,
    format: i32,
    width: u32,
    height: u32,
    plane0: *const u8,
    stride0: usize,
    plane1: *const u8,
    stride1: usize,
    plane2: *const u8,
    stride2: usize,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            let format = match format {
                PARLA_PIXEL_I420 => PixelFormat::I420,
                PARLA_PIXEL_NV12 => PixelFormat::Nv12,
                PARLA_PIXEL_RGBA => PixelFormat::Rgba,
                v => return Err(Failure::arg(format!("invalid pixel format: {v}"))),
            };
            if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
                return Err(Failure::arg(format!(
                    "odd frame size {width}x{height}: width and height must be even"
                )));
            }
            let planes = [(plane0, stride0), (plane1, stride1), (plane2, stride2)];
            let mut slot = lock(&c.video.push);
            let frame = match slot.as_mut() {
                Some(f) => {
                    f.reshape(format, width, height)
                        .map_err(|e| Failure::arg(e.to_string()))?;
                    f
                }
                None => slot.insert(
                    VideoFrame::new(format, width, height)
                        .map_err(|e| Failure::arg(e.to_string()))?,
                ),
            };
            for (p, &(src, stride)) in planes.iter().enumerate().take(format.plane_count()) {
                let row = format.plane_stride(p, width);
                let rows = format.plane_rows(p, height);
                if stride < row {
                    return Err(Failure::arg(format!(
                        "stride{p} {stride} is shorter than a row ({row} bytes)"
                    )));
                }
                let len = stride
                    .checked_mul(rows - 1)
                    .and_then(|n| n.checked_add(row))
                    .ok_or_else(|| Failure::too_long(stride))?;
                let src = ptr::slice(src, len)?;
                let dst = frame.plane_mut(p);
                for r in 0..rows {
                    dst[r * row..(r + 1) * row].copy_from_slice(&src[r * stride..r * stride + row]);
                }
            }
            c.call.push_video_frame(frame).map_err(video_status)?;
            Ok(PARLA_OK)
        })
    }
}

/// Take the next picture of the peer's video that is due for display, as I420 into the app's
/// planes (`y`: `y_stride * max_height` bytes, `u` and `v`: `uv_stride * ceil(max_height / 2)`
/// bytes each, with `y_stride >= max_width` and `uv_stride >= ceil(max_width / 2)`), and its
/// details into `*info`. When the picture is larger than `max_width` x `max_height`, nothing
/// is written but `info->width`/`height`, `PARLA_ERR_BUFFER_TOO_SMALL` is returned and the
/// picture is kept for the next pull. A picture not pulled before the next one is decoded is
/// dropped (counted).
///
/// Returns `PARLA_OK` (a picture), `PARLA_NO_FRAME`, `PARLA_ERR_NULL_ARG`,
/// `PARLA_ERR_INVALID_ARG` (strides shorter than `max_width` needs),
/// `PARLA_ERR_BUFFER_TOO_SMALL`, `PARLA_ERR_WRONG_MODE` (no video), `PARLA_ERR_NOT_RUNNING` or
/// `PARLA_ERR_MEDIA_FAILED`.
///
/// Not for a real-time audio thread (it copies a picture under the handle's pull lock). No
/// allocation at a constant size.
///
/// # Safety
/// `call` is NULL or a live handle; `y`, `u`, `v` are NULL or writable for the sizes above;
/// `info` is NULL or writable. Threads: any thread; one render thread per call is the
/// intended use.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn parla_call_pull_video_frame(
    call: *const ParlaCall,
    y: *mut u8,
    y_stride: usize,
    u: *mut u8,
    v: *mut u8,
    uv_stride: usize,
    max_width: u32,
    max_height: u32,
    info: *mut ParlaVideoFrameInfo,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            let info = info.as_mut().ok_or_else(|| Failure::null("info"))?;
            let (mw, mh) = (max_width as usize, max_height as usize);
            if mw == 0 || mh == 0 || y_stride < mw || uv_stride < mw.div_ceil(2) {
                return Err(Failure::arg(format!(
                    "buffers of {max_width}x{max_height} with strides {y_stride}/{uv_stride}: \
                     need a non-zero size and strides of at least the width / half the width"
                )));
            }
            let y_len = y_stride
                .checked_mul(mh)
                .ok_or_else(|| Failure::too_long(y_stride))?;
            let uv_len = uv_stride
                .checked_mul(mh.div_ceil(2))
                .ok_or_else(|| Failure::too_long(uv_stride))?;
            let planes = [
                (ptr::slice_mut(y, y_len)?, y_stride),
                (ptr::slice_mut(u, uv_len)?, uv_stride),
                (ptr::slice_mut(v, uv_len)?, uv_stride),
            ];
            let mut slot = lock(&c.video.pull);
            let (frame, pending) = &mut *slot;
            let frame = match frame {
                Some(f) => f,
                None => frame.insert(
                    VideoFrame::new(PixelFormat::I420, 16, 16)
                        .map_err(|e| Failure::arg(e.to_string()))?,
                ),
            };
            let got = match pending.take() {
                Some(i) => i,
                None => match c.call.pull_video_frame(frame).map_err(video_status)? {
                    Some(i) => i,
                    None => return Ok(PARLA_NO_FRAME),
                },
            };
            let (w, h) = (frame.width(), frame.height());
            *info = ParlaVideoFrameInfo {
                width: w,
                height: h,
                render_time_us: got.render_time.as_micros(),
                capture_us: got.capture_us,
                rtp_timestamp: got.rtp_timestamp,
                keyframe: got.keyframe,
                size_changed: got.size_changed,
            };
            if w > max_width || h > max_height {
                *pending = Some(got);
                return Err(Failure::new(
                    PARLA_ERR_BUFFER_TOO_SMALL,
                    format!("a {w}x{h} picture does not fit {max_width}x{max_height}"),
                ));
            }
            for (p, (dst, stride)) in planes.into_iter().enumerate() {
                let row = PixelFormat::I420.plane_stride(p, w);
                let src = frame.plane(p);
                for r in 0..PixelFormat::I420.plane_rows(p, h) {
                    dst[r * stride..r * stride + row].copy_from_slice(&src[r * row..(r + 1) * row]);
                }
            }
            Ok(PARLA_OK)
        })
    }
}

/// Copy the video counters into `*out` (all zero for a call without video). Set
/// `out->size = sizeof *out` first.
///
/// Returns `PARLA_OK`, `PARLA_ERR_NULL_ARG` or `PARLA_ERR_INVALID_ARG` (wrong `size`).
///
/// # Safety
/// `call` is NULL or a live handle; `out` is NULL or writable for `out->size` bytes. Threads:
/// any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn parla_call_get_video_stats(
    call: *const ParlaCall,
    out: *mut ParlaVideoStats,
) -> ParlaStatus {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe {
        guard_call(call, |c| {
            ptr::write_sized(out, c.call.stats().video.into())?;
            Ok(PARLA_OK)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
mod config_layout_tests {
    use super::*;

    /// A caller's config of `size` bytes (a current struct's prefix) followed by `tail` bytes
    /// of what its memory holds after it, read the way `parla_call_new` reads it.
    fn read_as(size: usize, cfg: ParlaCallConfig, tail: u8) -> Result<CallConfig, Failure> {
        #[repr(C, align(8))]
        struct Buf([u8; 256]);
        let mut buf = Buf([tail; 256]);
        // SAFETY: `cfg` is `size_of::<ParlaCallConfig>()` bytes, within the 256-byte buffer,
        // and `size` is at most that.
        unsafe {
            std::ptr::copy_nonoverlapping((&raw const cfg).cast::<u8>(), buf.0.as_mut_ptr(), size);
        }
        buf.0[..4].copy_from_slice(&(size as u32).to_ne_bytes());
        // SAFETY: the buffer is aligned for the struct and readable for `size` bytes.
        let read = unsafe { ptr::read_sized(buf.0.as_ptr().cast(), ParlaCallConfig::default()) }?;
        read.to_engine()
    }

    #[test]
    fn layouts_v1_v2_v3_read_high_pass_and_agc() {
        assert_eq!(CONFIG_V1_SIZE, 96);
        assert_eq!(CONFIG_V2_SIZE, 100);
        assert_eq!(size_of::<ParlaCallConfig>(), 104);
        let off = ParlaCallConfig {
            congestion_control_off: true,
            high_pass_off: true,
            agc_off: true,
            ..ParlaCallConfig::default()
        };
        // Version 1 and 2 apps: what follows their struct (0xFF here, including version 2's
        // padding) is not read; high-pass filter and AGC take their defaults (on).
        let v1 = read_as(CONFIG_V1_SIZE, off, 0xFF).unwrap();
        assert!(v1.high_pass && v1.agc && v1.congestion_control);
        let mut v2_bytes = off;
        v2_bytes.reserved_v2 = [0xA5; 3]; // an uninitialised padding in a version 2 app
        let v2 = read_as(CONFIG_V2_SIZE, v2_bytes, 0x01).unwrap();
        assert!(v2.high_pass && v2.agc && !v2.congestion_control);
        // Version 3: read in full; zero (the default) is on.
        let v3 = read_as(size_of::<ParlaCallConfig>(), off, 0).unwrap();
        assert!(!v3.high_pass && !v3.agc);
        let agc_only = ParlaCallConfig {
            high_pass_off: true,
            ..ParlaCallConfig::default()
        };
        let v3 = read_as(size_of::<ParlaCallConfig>(), agc_only, 0).unwrap();
        assert!(!v3.high_pass && v3.agc);
        assert_eq!(
            v3.gain_config().map(|g| (g.high_pass, g.agc)),
            Some((false, true))
        );
        let dflt = ParlaCallConfig::default();
        assert!(!dflt.high_pass_off && !dflt.agc_off && dflt.reserved_v2 == [0; 3]);
        // A size between version 2 and 3 is no layout.
        assert!(read_as(CONFIG_V2_SIZE + 2, dflt, 0).is_err());
    }

    #[test]
    fn a_video_stats_v1_app_gets_its_256_bytes_written_and_nothing_after() {
        assert_eq!(VIDEO_STATS_V1_SIZE, 256);
        assert_eq!(VIDEO_STATS_V2_SIZE, 304);
        assert_eq!(size_of::<ParlaVideoStats>(), 336);
        #[repr(C, align(8))]
        struct Buf([u8; 352]);
        let mut buf = Buf([0x5A; 352]);
        let v = ParlaVideoStats::from(VideoStats {
            frames_sent: 7,
            receive_delay_ms: 1.5,
            av_skew_ms: 3.0,
            frames_late: 2,
            ..VideoStats::default()
        });
        for older in [VIDEO_STATS_V2_SIZE, VIDEO_STATS_V1_SIZE] {
            buf.0.fill(0x5A);
            buf.0[..4].copy_from_slice(&(older as u32).to_ne_bytes());
            // SAFETY: the buffer is aligned and writable for its 352 bytes (more than `size`).
            unsafe { ptr::write_sized(buf.0.as_mut_ptr().cast::<ParlaVideoStats>(), v) }.unwrap();
            assert!(buf.0[older..].iter().all(|&b| b == 0x5A), "{older}");
        }
        // SAFETY: the buffer holds a struct prefix of 256 bytes, the rest is plain bytes.
        let got = unsafe { std::ptr::read(buf.0.as_ptr().cast::<ParlaVideoStats>()) };
        assert_eq!((got.frames_sent, got.receive_delay_ms), (7, 1.5));
        // An unknown size in between is refused.
        buf.0[..4].copy_from_slice(&260u32.to_ne_bytes());
        // SAFETY: as above.
        let refused = unsafe { ptr::write_sized(buf.0.as_mut_ptr().cast::<ParlaVideoStats>(), v) };
        assert!(refused.is_err());
    }

    #[test]
    fn a_version_2_app_gets_its_100_bytes_written_and_nothing_after() {
        #[repr(C, align(8))]
        struct Buf([u8; 128]);
        let mut buf = Buf([0x5A; 128]);
        buf.0[..4].copy_from_slice(&(CONFIG_V2_SIZE as u32).to_ne_bytes());
        // SAFETY: the buffer is aligned and writable for its 128 bytes (more than `size`).
        let status = unsafe { parla_call_config_default(buf.0.as_mut_ptr().cast()) };
        assert_eq!(status, PARLA_OK);
        assert!(buf.0[CONFIG_V2_SIZE..].iter().all(|&b| b == 0x5A));
        // `congestion_control_off` (false) and the explicit padding were written.
        assert!(
            buf.0[CONFIG_V1_SIZE..CONFIG_V2_SIZE]
                .iter()
                .all(|&b| b == 0)
        );
    }
}
