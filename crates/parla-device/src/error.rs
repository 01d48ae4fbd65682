//! Errors of opening, listing and recovering devices (STYLE.md section 4). All of them happen
//! on the control side; the callbacks never return errors, they count and report events.

use crate::event::Direction;

/// What went wrong with a device, and what the caller can do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The audio host (ALSA, CoreAudio, WASAPI, ...) could not be initialised. Fatal for device
    /// mode: use app-owned audio instead.
    #[error("audio host unavailable: {0}")]
    HostUnavailable(String),
    /// No device has this name. Pick another one from `DeviceManager::list`, or the default.
    #[error("no {direction} device named {name:?}")]
    NotFound {
        /// The direction asked for.
        direction: Direction,
        /// The name asked for.
        name: String,
    },
    /// The host has no default device for this direction (nothing plugged in). Retry later.
    #[error("no default {0} device")]
    NoDefault(Direction),
    /// The device offers no configuration Parla can use (for example DSD only).
    #[error("{direction} device {device:?} offers no usable configuration")]
    NoUsableConfig {
        /// The direction asked for.
        direction: Direction,
        /// The device's id.
        device: String,
    },
    /// A configuration value is out of range (see the message).
    #[error("invalid device configuration: {0}")]
    InvalidConfig(&'static str),
    /// The host refused an operation on the device (busy, gone, unsupported, ...). Recoverable
    /// by trying another device or later.
    #[error("{op} failed on {direction} device {device:?}: {source}")]
    Backend {
        /// What was being done.
        op: &'static str,
        /// The direction.
        direction: Direction,
        /// The device's id.
        device: String,
        /// The host's error.
        #[source]
        source: cpal::Error,
    },
    /// The sample ring did not come back from the previous stream during recovery (a bug: the
    /// stream must be opened again with a new ring).
    #[error("the sample ring of the {0} stream was lost during recovery")]
    RingLost(Direction),
}
