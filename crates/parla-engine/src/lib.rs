//! Parla's call engine: what an app embeds to place an end-to-end encrypted call.
//!
//! - [`MediaCore`]: the media processing of one call endpoint, sans-IO and clock-driven: the
//!   send pipeline (echo cancel -> noise suppress -> resample -> Opus -> SFrame -> RTP) and the
//!   receive pipeline (RTP -> SFrame -> jitter buffer -> decode/conceal -> resample -> playout,
//!   which is also the echo canceller's far-end reference), one 10 ms [`tick`](MediaCore::tick)
//!   at a time. `parla call` drives two of them through the network emulator.
//! - [`Call`]: a `MediaCore` on its own media thread, with lock-free rings to the audio side
//!   (app-owned push/pull, or cpal devices through `parla-device`), bounded packet queues to the
//!   network side, control by messages (mute, bitrate, key rotation, stop), the X25519 key
//!   agreement and the safety code, and [`CallStats`].
//! - [`UdpTransport`]: an optional network thread between a UDP socket and a call.
//!
//! The thread rules are in [`call`]'s docs and `docs/ENGINE.md`.
//!
//! # Example: two calls in one process, app-owned audio, packets moved by hand
//! ```no_run
//! use parla_engine::{AudioMode, Call, CallConfig};
//!
//! let (a, b) = (Call::new(CallConfig::default())?, Call::new(CallConfig::default())?);
//! a.set_peer_key(&b.local_public_key(), b"call-1")?;
//! b.set_peer_key(&a.local_public_key(), b"call-1")?;
//! assert_eq!(a.safety_code(), b.safety_code());
//! a.start(AudioMode::AppOwned)?;
//! b.start(AudioMode::AppOwned)?;
//! let mut buf = [0u8; 1500];
//! let mic = [0.0f32; 480];
//! let mut speaker = [0.0f32; 480];
//! // From the app's audio callback, every 10 ms:
//! a.push_capture(&mic)?;
//! a.pull_playout(&mut speaker)?;
//! // From the app's network side:
//! while let Some(n) = a.poll_packet(&mut buf)? {
//!     b.receive_packet(&buf[..n]);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod call;
mod cc;
pub mod config;
#[cfg(feature = "devices")]
mod devices;
pub mod error;
pub mod events;
pub mod media;
pub mod pool;
mod rt;
pub mod stats;
mod sync;
pub mod transport;
pub mod video;
#[cfg(feature = "video")]
pub mod video_codec;
mod video_io;
#[cfg(feature = "video")]
mod video_thread;

pub use call::{AudioIo, AudioMode, Call, VideoIo};
pub use cc::{AUDIO_PACKET_OVERHEAD, TRANSPORT_SEQ_EXT_ID, is_rtcp};
pub use config::{CALL_RATES, CallConfig, DEFAULT_PAYLOAD_TYPE, MAX_PACKET, MAX_WIRE_PACKET};
pub use error::EngineError;
pub use events::CallEvent;
pub use media::{CODEC_RATE, MediaCore, StreamIds, TickReport};
#[cfg(feature = "devices")]
pub use parla_device::{DeviceSelector, Direction};
pub use parla_dsp::aec::{AecMode, AecTuning};
pub use parla_rtp::e2ee::{CallKeys, CipherSuite, KEY_BLOB_LEN, KeyAgreement, SafetyCode};
pub use stats::{CallStats, CpuStats, StageCpu};
pub use transport::{TransportStats, UdpTransport};
pub use video::{
    MAX_VIDEO_FRAME, VideoCodec, VideoConfig, VideoEncoderCommand, VideoFrameOut, VideoStats,
};
pub use video_io::VideoFrameInfo;
