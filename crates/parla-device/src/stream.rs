//! Capture and playout streams: a cpal stream whose callback converts between the device and a
//! sample ring, plus the control-side handle that starts, stops and recovers it.
//!
//! # Threads
//! - The *callback* runs on cpal's device thread. It only converts and copies between the device
//!   buffer and the ring, and counts (see "Real-time safety" on [`DeviceStream`]).
//! - The *error callback* runs on the same thread and pushes [`DeviceEvent`]s.
//! - The *control side* (the thread that owns the [`DeviceStream`]) opens, starts, stops and
//!   recovers. It may allocate, lock and wait.
//!
//! # Recovery keeps the ring
//! The ring end the callback uses lives in a small "home" slot whenever no stream exists. The
//! callback closure holds it while the stream runs and gives it back when the closure is dropped
//! (when cpal's device thread ends, or when building a stream fails). So `recover` can drop a
//! dead stream and hand the same ring end to a new one: the engine's end of the ring never
//! changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cpal::traits::{DeviceTrait, StreamTrait};
use parla_core::queue::{MessageQueue, SampleConsumer, SampleProducer, sample_ring};

use crate::config::{DeviceConfig, DeviceDefault, choose};
use crate::convert::{capture_frames, playout_frames};
use crate::error::DeviceError;
use crate::event::{DeviceEvent, DeviceEventKind, Direction, EventQueue, EventSink};
use crate::format::{ConfigRange, DeviceSample, SampleFormat, StreamFormat};
use crate::manager::{DeviceManager, DeviceSelector};

/// Frames converted per step inside a callback (the scratch buffer holds this many ring frames).
const CHUNK_FRAMES: usize = 1024;

/// Counters the callbacks update (relaxed atomics; read from any thread).
#[derive(Debug, Default)]
pub(crate) struct CallbackStats {
    callbacks: AtomicU64,
    frames: AtomicU64,
    format_mismatches: AtomicU64,
    #[cfg(feature = "_test-alloc")]
    allocs: AtomicU64,
}

impl CallbackStats {
    /// Runs `f`; with the test-only feature `_test-alloc`, counts the allocator calls it makes
    /// on this thread.
    #[inline]
    pub(crate) fn count<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "_test-alloc")]
        {
            let (out, counts) = parla_core::alloc_counter::count_allocations(f);
            self.allocs.fetch_add(counts.total(), Ordering::Relaxed);
            out
        }
        #[cfg(not(feature = "_test-alloc"))]
        {
            f()
        }
    }

    fn done(&self, frames: usize) {
        self.callbacks.fetch_add(1, Ordering::Relaxed);
        self.frames.fetch_add(frames as u64, Ordering::Relaxed);
    }
}

/// A snapshot of a stream's callback counters. Ring under- and overruns are counted by the
/// ring itself: read them from the engine's end (`SampleConsumer::stats` for capture overruns as
/// `dropped`, `SampleProducer::stats` for playout underruns as `underrun`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// Data callbacks run (across recoveries).
    pub callbacks: u64,
    /// Device frames converted.
    pub frames: u64,
    /// Callbacks skipped because the host passed another sample format than opened.
    pub format_mismatches: u64,
}

/// Where a ring end lives while a callback holds it: the end goes back to `home` on drop.
#[derive(Debug)]
struct RingHome<E> {
    end: Option<E>,
    home: MessageQueue<E>,
}

impl<E> Drop for RingHome<E> {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            // The home slot is empty while a callback holds the end, so nothing is displaced.
            let _ = self.home.push(end);
        }
    }
}

/// Everything a data callback owns.
#[derive(Debug)]
struct CallbackState<E> {
    ring: RingHome<E>,
    scratch: Box<[f32]>,
    dev_ch: usize,
    ring_ch: usize,
    stats: Arc<CallbackStats>,
    sink: EventSink,
    mismatch_reported: bool,
}

impl<E> CallbackState<E> {
    fn mismatch(&mut self) {
        // RT: atomics and one lock-free push of a Copy value (only for the first mismatch).
        self.stats.format_mismatches.fetch_add(1, Ordering::Relaxed);
        if !self.mismatch_reported {
            self.mismatch_reported = true;
            self.sink.report(DeviceEventKind::FormatMismatch);
        }
    }
}

fn capture_callback<T: DeviceSample>(
    mut st: CallbackState<SampleProducer>,
) -> impl FnMut(&cpal::Data, &cpal::InputCallbackInfo) + Send + 'static {
    move |data: &cpal::Data, _: &cpal::InputCallbackInfo| {
        // RT: converts the device buffer into the preallocated scratch and copies it into the
        // wait-free ring. No allocation, lock, syscall or logging.
        let stats = Arc::clone(&st.stats);
        stats.count(|| {
            let Some(samples) = data.as_slice::<T>() else {
                st.mismatch();
                return;
            };
            let CallbackState {
                ring,
                scratch,
                dev_ch,
                ring_ch,
                ..
            } = &mut st;
            let (dev_ch, ring_ch) = (*dev_ch, *ring_ch);
            let frames = samples.len() / dev_ch;
            if let Some(producer) = ring.end.as_mut() {
                let mut done = 0;
                while done < frames {
                    let n = capture_frames(&samples[done * dev_ch..], dev_ch, scratch, ring_ch);
                    if n == 0 {
                        break;
                    }
                    // A full ring keeps what fits and counts the rest as dropped (overrun).
                    producer.write(&scratch[..n * ring_ch]);
                    done += n;
                }
            }
            st.stats.done(frames);
        });
    }
}

fn playout_callback<T: DeviceSample>(
    mut st: CallbackState<SampleConsumer>,
) -> impl FnMut(&mut cpal::Data, &cpal::OutputCallbackInfo) + Send + 'static {
    move |data: &mut cpal::Data, _: &cpal::OutputCallbackInfo| {
        // RT: copies from the wait-free ring into the preallocated scratch and converts into the
        // device buffer. No allocation, lock, syscall or logging.
        let stats = Arc::clone(&st.stats);
        stats.count(|| {
            let Some(out) = data.as_slice_mut::<T>() else {
                st.mismatch();
                return;
            };
            let CallbackState {
                ring,
                scratch,
                dev_ch,
                ring_ch,
                ..
            } = &mut st;
            let (dev_ch, ring_ch) = (*dev_ch, *ring_ch);
            let frames = out.len() / dev_ch;
            match ring.end.as_mut() {
                Some(consumer) => {
                    let mut done = 0;
                    while done < frames {
                        let n = (frames - done).min(scratch.len() / ring_ch);
                        if n == 0 {
                            break;
                        }
                        // An empty ring yields silence, counted as underrun.
                        consumer.read(&mut scratch[..n * ring_ch]);
                        playout_frames(
                            &scratch[..n * ring_ch],
                            ring_ch,
                            &mut out[done * dev_ch..],
                            dev_ch,
                        );
                        done += n;
                    }
                }
                None => out.fill(T::from_f32(0.0)),
            }
            st.stats.done(frames);
        });
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for parla_core::queue::SampleProducer {}
    impl Sealed for parla_core::queue::SampleConsumer {}
}

/// The ring end a device callback holds: [`SampleProducer`] for capture, [`SampleConsumer`] for
/// playout. Sealed; it only selects the direction of a [`DeviceStream`].
pub trait RingEnd: sealed::Sealed + Send + Sized + 'static {
    /// The stream direction this end serves.
    const DIRECTION: Direction;
    #[doc(hidden)]
    fn build(
        device: &cpal::Device,
        config: cpal::StreamConfig,
        format: SampleFormat,
        state: CallbackStateOf<Self>,
        on_error: impl FnMut(cpal::Error) + Send + 'static,
    ) -> Result<cpal::Stream, cpal::Error>;
}

/// Opaque callback state (public only because [`RingEnd`] names it).
#[doc(hidden)]
#[derive(Debug)]
pub struct CallbackStateOf<E>(CallbackState<E>);

macro_rules! by_format {
    ($format:expr, |$t:ident| $body:expr) => {
        match $format {
            SampleFormat::I8 => {
                type $t = i8;
                $body
            }
            SampleFormat::I16 => {
                type $t = i16;
                $body
            }
            SampleFormat::I24 => {
                type $t = cpal::I24;
                $body
            }
            SampleFormat::I32 => {
                type $t = i32;
                $body
            }
            SampleFormat::I64 => {
                type $t = i64;
                $body
            }
            SampleFormat::U8 => {
                type $t = u8;
                $body
            }
            SampleFormat::U16 => {
                type $t = u16;
                $body
            }
            SampleFormat::U24 => {
                type $t = cpal::U24;
                $body
            }
            SampleFormat::U32 => {
                type $t = u32;
                $body
            }
            SampleFormat::U64 => {
                type $t = u64;
                $body
            }
            SampleFormat::F32 => {
                type $t = f32;
                $body
            }
            SampleFormat::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}

impl RingEnd for SampleProducer {
    const DIRECTION: Direction = Direction::Capture;
    fn build(
        device: &cpal::Device,
        config: cpal::StreamConfig,
        format: SampleFormat,
        state: CallbackStateOf<Self>,
        on_error: impl FnMut(cpal::Error) + Send + 'static,
    ) -> Result<cpal::Stream, cpal::Error> {
        by_format!(format, |T| device.build_input_stream_raw(
            config,
            format.to_cpal(),
            capture_callback::<T>(state.0),
            on_error,
            None
        ))
    }
}

impl RingEnd for SampleConsumer {
    const DIRECTION: Direction = Direction::Playout;
    fn build(
        device: &cpal::Device,
        config: cpal::StreamConfig,
        format: SampleFormat,
        state: CallbackStateOf<Self>,
        on_error: impl FnMut(cpal::Error) + Send + 'static,
    ) -> Result<cpal::Stream, cpal::Error> {
        by_format!(format, |T| device.build_output_stream_raw(
            config,
            format.to_cpal(),
            playout_callback::<T>(state.0),
            on_error,
            None
        ))
    }
}

/// A running (or paused) device stream and its control handle. Use the aliases
/// [`CaptureStream`] and [`PlayoutStream`].
///
/// Dropping it stops the device and joins cpal's device thread.
///
/// # Real-time safety
/// The data callback converts the device buffer to or from interleaved `f32` through a scratch
/// buffer allocated at open, and copies it into or out of the wait-free sample ring. It never
/// allocates, locks, makes a syscall or logs; a full capture ring drops what does not fit
/// (counted as `dropped`), an empty playout ring plays silence (counted as `underrun`). The
/// error callback only pushes `Copy` events on a lock-free queue. With the test-only feature
/// `_test-alloc` both callbacks count their allocator calls, and `tests/rt_no_alloc.rs` checks
/// that the count stays zero on real streams.
pub struct DeviceStream<E: RingEnd> {
    manager: DeviceManager,
    selector: DeviceSelector,
    config: DeviceConfig,
    home: MessageQueue<E>,
    events: EventQueue,
    lost: Arc<AtomicBool>,
    stats: Arc<CallbackStats>,
    stream: Option<cpal::Stream>,
    format: StreamFormat,
    device_id: String,
    fell_back: bool,
    playing: bool,
}

/// A microphone stream: the callback writes interleaved `f32` frames into the ring.
pub type CaptureStream = DeviceStream<SampleProducer>;
/// A speaker stream: the callback reads interleaved `f32` frames from the ring.
pub type PlayoutStream = DeviceStream<SampleConsumer>;

impl<E: RingEnd> std::fmt::Debug for DeviceStream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceStream")
            .field("direction", &E::DIRECTION)
            .field("device", &self.device_id)
            .field("format", &self.format)
            .field("fell_back", &self.fell_back)
            .field("playing", &self.playing)
            .field("running", &self.stream.is_some())
            .finish()
    }
}

impl CaptureStream {
    /// Opens the capture device `selector` names (paused; call [`DeviceStream::start`]). Returns
    /// the stream, the engine's end of the sample ring, and the event queue.
    ///
    /// The ring holds [`DeviceConfig::ring_duration`] of audio at the asked rate, in
    /// [`StreamFormat::ring_channels`] interleaved channels at [`StreamFormat::sample_rate`].
    ///
    /// # Errors
    /// [`DeviceError`] if neither the selected device nor (when allowed) the default could be
    /// opened; the error is the selected device's.
    pub fn open(
        selector: DeviceSelector,
        config: DeviceConfig,
    ) -> Result<(CaptureStream, SampleConsumer, EventQueue), DeviceError> {
        config.validate()?;
        let (producer, consumer) =
            sample_ring(config.ring_samples(config.sample_rate.unwrap_or(48_000)));
        let stream = DeviceStream::open_with(selector, config, producer)?;
        let events = stream.events.clone();
        Ok((stream, consumer, events))
    }
}

impl PlayoutStream {
    /// Opens the playout device `selector` names (paused: fill the ring, then call
    /// [`DeviceStream::start`]). Returns the stream, the engine's end of the sample ring, and the
    /// event queue.
    ///
    /// # Errors
    /// As [`CaptureStream::open`].
    pub fn open(
        selector: DeviceSelector,
        config: DeviceConfig,
    ) -> Result<(PlayoutStream, SampleProducer, EventQueue), DeviceError> {
        config.validate()?;
        let (producer, consumer) =
            sample_ring(config.ring_samples(config.sample_rate.unwrap_or(48_000)));
        let stream = DeviceStream::open_with(selector, config, consumer)?;
        let events = stream.events.clone();
        Ok((stream, producer, events))
    }
}

impl<E: RingEnd> DeviceStream<E> {
    fn open_with(
        selector: DeviceSelector,
        config: DeviceConfig,
        end: E,
    ) -> Result<Self, DeviceError> {
        let home = MessageQueue::new(1);
        let _ = home.push(end);
        let mut s = DeviceStream {
            manager: DeviceManager::new()?,
            selector,
            events: MessageQueue::new(config.event_capacity),
            config,
            home,
            lost: Arc::new(AtomicBool::new(false)),
            stats: Arc::new(CallbackStats::default()),
            stream: None,
            format: StreamFormat {
                sample_rate: 0,
                device_channels: 0,
                ring_channels: 0,
                sample_format: SampleFormat::F32,
                buffer_frames: None,
            },
            device_id: String::new(),
            fell_back: false,
            playing: false,
        };
        s.open_selected()?;
        Ok(s)
    }

    /// Opens the selected device, else (when allowed) the default one.
    fn open_selected(&mut self) -> Result<(), DeviceError> {
        let selector = self.selector.clone();
        match self.open_device(&selector) {
            Ok(()) => {
                self.fell_back = false;
                Ok(())
            }
            Err(e) if self.config.fallback_to_default && selector != DeviceSelector::Default => {
                self.open_device(&DeviceSelector::Default).map_err(|_| e)?;
                self.fell_back = true;
                let _ = self.events.push(DeviceEvent {
                    direction: E::DIRECTION,
                    kind: DeviceEventKind::FellBackToDefault,
                });
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn open_device(&mut self, selector: &DeviceSelector) -> Result<(), DeviceError> {
        let direction = E::DIRECTION;
        let device = self.manager.find(selector, direction)?;
        let id = device
            .id()
            .map(|id| id.id().to_owned())
            .unwrap_or_else(|_| String::from("?"));
        let backend = |op: &'static str, source: cpal::Error| DeviceError::Backend {
            op,
            direction,
            device: id.clone(),
            source,
        };
        let (ranges, default) = match direction {
            Direction::Capture => (
                device.supported_input_configs().map(ConfigRange::from_cpal),
                device.default_input_config(),
            ),
            Direction::Playout => (
                device
                    .supported_output_configs()
                    .map(ConfigRange::from_cpal),
                device.default_output_config(),
            ),
        };
        let ranges = ranges.map_err(|e| backend("querying configurations", e))?;
        let default = default.ok().map(|d| DeviceDefault {
            format: SampleFormat::from_cpal(d.sample_format()),
            channels: d.channels(),
            rate: d.sample_rate(),
        });
        let chosen = choose(&self.config, &ranges, default).ok_or(DeviceError::NoUsableConfig {
            direction,
            device: id.clone(),
        })?;
        let ring_ch = usize::from(self.config.ring_channels);
        let attempt = |buffer: Option<u32>| -> Result<cpal::Stream, DeviceError> {
            let end = self.home.pop().ok_or(DeviceError::RingLost(direction))?;
            let state = CallbackState {
                ring: RingHome {
                    end: Some(end),
                    home: self.home.clone(),
                },
                scratch: vec![0.0; CHUNK_FRAMES * ring_ch].into_boxed_slice(),
                dev_ch: usize::from(chosen.channels),
                ring_ch,
                stats: Arc::clone(&self.stats),
                sink: self.sink(),
                mismatch_reported: false,
            };
            let on_error = self.sink().error_callback(Arc::clone(&self.stats));
            let config = cpal::StreamConfig {
                channels: chosen.channels,
                sample_rate: chosen.rate,
                buffer_size: match buffer {
                    Some(f) => cpal::BufferSize::Fixed(f),
                    None => cpal::BufferSize::Default,
                },
            };
            // On failure cpal drops the callback, which returns the ring end home.
            E::build(
                &device,
                config,
                chosen.format,
                CallbackStateOf(state),
                on_error,
            )
            .map_err(|e| backend("opening a stream", e))
        };
        let (stream, buffer_frames) = match chosen.buffer_frames {
            Some(f) => match attempt(Some(f)) {
                Ok(s) => (s, Some(f)),
                Err(DeviceError::RingLost(d)) => return Err(DeviceError::RingLost(d)),
                // Some devices refuse a fixed buffer size: let them pick.
                Err(_) => (attempt(None)?, None),
            },
            None => (attempt(None)?, None),
        };
        self.stream = Some(stream);
        self.device_id = id;
        self.format = StreamFormat {
            sample_rate: chosen.rate,
            device_channels: chosen.channels,
            ring_channels: self.config.ring_channels,
            sample_format: chosen.format,
            buffer_frames,
        };
        Ok(())
    }

    fn sink(&self) -> EventSink {
        EventSink {
            direction: E::DIRECTION,
            queue: self.events.clone(),
            lost: Arc::clone(&self.lost),
        }
    }

    /// Starts (or resumes) the device callbacks.
    ///
    /// # Errors
    /// [`DeviceError::Backend`] if the host refuses; [`DeviceError::RingLost`] if no stream is
    /// open (a failed `recover`).
    pub fn start(&mut self) -> Result<(), DeviceError> {
        let stream = self
            .stream
            .as_ref()
            .ok_or(DeviceError::RingLost(E::DIRECTION))?;
        stream.play().map_err(|source| DeviceError::Backend {
            op: "starting",
            direction: E::DIRECTION,
            device: self.device_id.clone(),
            source,
        })?;
        self.playing = true;
        Ok(())
    }

    /// Pauses the device callbacks (not every host can; then the error says so). A callback
    /// already running when it returns may still complete: on ALSA one more period can reach
    /// the ring.
    ///
    /// # Errors
    /// As [`DeviceStream::start`].
    pub fn stop(&mut self) -> Result<(), DeviceError> {
        let stream = self
            .stream
            .as_ref()
            .ok_or(DeviceError::RingLost(E::DIRECTION))?;
        stream.pause().map_err(|source| DeviceError::Backend {
            op: "pausing",
            direction: E::DIRECTION,
            device: self.device_id.clone(),
            source,
        })?;
        self.playing = false;
        Ok(())
    }

    /// Whether the error callback reported that the stream stopped for good (disconnect or
    /// invalidation) and [`DeviceStream::recover`] has not yet succeeded.
    pub fn needs_recovery(&self) -> bool {
        self.lost.load(Ordering::Acquire) || self.stream.is_none()
    }

    /// Drops the current stream and opens a new one on the same ring: on the selected device,
    /// or (when allowed, and the selected one fails) on the default device. Restarts it if it
    /// was started. Pushes [`DeviceEventKind::Recovered`] (and `FellBackToDefault` when it fell
    /// back). Call it from the control side when an event [needs
    /// recovery](DeviceEventKind::needs_recovery); calling it on a healthy stream reopens it.
    ///
    /// The new stream may run at another rate or channel count: check the returned format. The
    /// ring keeps its layout ([`StreamFormat::ring_channels`]); samples of the old stream still
    /// in it are the engine's to skip (`SampleConsumer::skip_to_latest`).
    ///
    /// # Errors
    /// [`DeviceError`] if no device could be opened; the stream then stays closed and
    /// `recover` can be called again later.
    pub fn recover(&mut self) -> Result<StreamFormat, DeviceError> {
        // Dropping the cpal stream joins its device thread; the callback hands the ring end back.
        self.stream = None;
        self.open_selected()?;
        self.lost.store(false, Ordering::Release);
        if self.playing {
            self.start()?;
        }
        let _ = self.events.push(DeviceEvent {
            direction: E::DIRECTION,
            kind: DeviceEventKind::Recovered,
        });
        Ok(self.format)
    }

    /// The format the stream runs at (device rate, device and ring channels, sample format).
    pub fn format(&self) -> StreamFormat {
        self.format
    }

    /// The id of the device the stream runs on.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Whether the stream runs on the default device because the selected one failed.
    pub fn fell_back_to_default(&self) -> bool {
        self.fell_back
    }

    /// The event queue (the same one `open` returned).
    pub fn events(&self) -> &EventQueue {
        &self.events
    }

    /// The callback counters.
    pub fn stats(&self) -> StreamStats {
        StreamStats {
            callbacks: self.stats.callbacks.load(Ordering::Relaxed),
            frames: self.stats.frames.load(Ordering::Relaxed),
            format_mismatches: self.stats.format_mismatches.load(Ordering::Relaxed),
        }
    }

    /// Allocator calls made inside the data and error callbacks so far (test-only feature
    /// `_test-alloc`; zero unless the binary's global allocator is
    /// `parla_core::alloc_counter::CountingAllocator`).
    #[cfg(feature = "_test-alloc")]
    pub fn callback_allocs(&self) -> u64 {
        self.stats.allocs.load(Ordering::Relaxed)
    }
}
