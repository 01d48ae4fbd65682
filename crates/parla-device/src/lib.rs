//! Parla's audio devices: capture and playout through cpal, for the engine's device mode.
//!
//! - [`DeviceManager`]: list devices with their default flags and supported rates, channel
//!   counts and sample formats.
//! - [`CaptureStream`] / [`PlayoutStream`]: open a device by name or the default, at whatever
//!   rate and sample format it offers. The callback converts to or from interleaved `f32` and
//!   copies into or out of a [`parla_core::queue::sample_ring`]; the engine holds the other end
//!   and resamples from or to the reported [`StreamFormat::sample_rate`].
//! - [`DeviceEvent`]s (xruns, disconnects, ...) arrive on a bounded
//!   [`MessageQueue`](parla_core::queue::MessageQueue) from cpal's error callback; the control
//!   side answers a dead stream with [`DeviceStream::recover`], which reopens the device (or the
//!   default one) on the same ring.
//!
//! The design, the thread and callback rules and the headless test method are in
//! `docs/DEVICE.md`. This is the only crate that uses cpal; it needs no `unsafe` of its own.
//!
//! # Example: the control loop around a capture stream
//! ```no_run
//! use parla_device::{CaptureStream, DeviceConfig, DeviceSelector};
//!
//! let config = DeviceConfig::new().sample_rate(Some(48_000)).ring_channels(1);
//! let (mut mic, mut ring, events) = CaptureStream::open(DeviceSelector::Default, config)?;
//! let format = mic.format(); // the device's actual rate: resample from it
//! mic.start()?;
//! let mut frame = vec![0.0f32; format.sample_rate as usize / 100 * usize::from(format.ring_channels)];
//! loop {
//!     // Media thread: take 10 ms when it is there (the ring counts overruns).
//!     if ring.available() >= frame.len() {
//!         ring.read(&mut frame);
//!         // ... echo cancel, encode ...
//!     }
//!     // Control side: answer device events.
//!     while let Some(event) = events.pop() {
//!         if event.kind.needs_recovery() {
//!             let _new_format = mic.recover()?; // same ring, maybe another rate
//!         }
//!     }
//! #   break;
//! }
//! # Ok::<(), parla_device::DeviceError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod config;
pub mod convert;
pub mod error;
pub mod event;
pub mod format;
pub mod manager;
pub mod stream;

pub use config::DeviceConfig;
pub use error::DeviceError;
pub use event::{DeviceEvent, DeviceEventKind, Direction, EventQueue};
pub use format::{BufferRange, ConfigRange, SampleFormat, StreamFormat};
pub use manager::{DeviceInfo, DeviceManager, DeviceSelector};
pub use stream::{CaptureStream, DeviceStream, PlayoutStream, RingEnd, StreamStats};
