//! The engine's errors (STYLE.md section 4): [`EngineError`] for set-up and control calls, which
//! may allocate; the media thread itself never returns errors, it counts them in
//! [`CallStats`](crate::CallStats).

use parla_core::ConfigError;

/// Why an engine call failed. What the caller can do next is said per variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A configuration value is out of range or a combination is unsupported: fix the config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// End-to-end encryption is on but the peer's public key has not been set yet: call
    /// `set_peer_key` first (or turn `e2ee` off for an unencrypted test call).
    #[error("end-to-end encryption needs the peer's public key before the call starts")]
    NoPeerKey,
    /// The peer's key blob was refused (wrong length, invalid or low-order point, our own key):
    /// ask the app's signalling for a fresh one.
    #[error("peer key refused: {0}")]
    PeerKey(#[from] parla_rtp::e2ee::KeyAgreementError),
    /// The peer key was already set for this call; a new exchange needs a new call.
    #[error("the peer key was already set")]
    PeerKeyAlreadySet,
    /// The jitter buffer refused its configuration.
    #[error(transparent)]
    Jitter(#[from] parla_jitter::JitterConfigError),
    /// An earlier `set_peer_key` with an invalid key consumed the ephemeral key pair: create a
    /// new call (with a new public key) and exchange keys again.
    #[error("the key agreement was spent by an invalid peer key; create a new call")]
    KeyAgreementSpent,
    /// Key derivation or installation failed.
    #[error("end-to-end encryption: {0}")]
    E2ee(#[from] parla_rtp::e2ee::E2eeError),
    /// The operation needs a running call (`start` first).
    #[error("the call is not running")]
    NotRunning,
    /// `start` on a call that already runs.
    #[error("the call is already running")]
    AlreadyRunning,
    /// The operation needs the other audio mode (app-owned push/pull on a device-mode call, or
    /// a device switch on an app-owned call).
    #[error("wrong audio mode: {0}")]
    WrongMode(&'static str),
    /// A buffer's length does not fit (e.g. interleaved frames not a multiple of the channel
    /// count, or a packet larger than the maximum).
    #[error("invalid length: {0}")]
    InvalidLength(&'static str),
    /// The media thread did not answer a control request in time (it is stuck or gone): stop
    /// the call.
    #[error("the media thread did not answer within {0} ms")]
    Timeout(u64),
    /// The control queue to the media thread is full (the media thread is not keeping up):
    /// nothing was changed; retry later.
    #[error("the control queue is full; nothing was changed")]
    ControlQueueFull,
    /// The media thread could not be started or has died.
    #[error("media thread: {0}")]
    Thread(String),
    /// The video encoder or decoder failed (feature `video`).
    #[error("video codec: {0}")]
    Video(String),
    /// An audio device could not be opened or restarted.
    #[error(transparent)]
    #[cfg(feature = "devices")]
    Device(#[from] parla_device::DeviceError),
    /// A socket operation of the UDP transport failed.
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
}
