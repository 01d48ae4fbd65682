//! [`Call`]: one call endpoint with its media thread, audio endpoints, packet queues and control.
//!
//! Threads and what they may do (DESIGN.md, STYLE.md section 2, `docs/REALTIME.md`); the
//! control side and the processor are separate types, after Firewheel: [`Call`] is the control
//! handle, the media thread owns a [`MediaCore`] and the ring ends, and they meet only in
//! lock-free queues and atomics (the private module `rt`).
//! - **App audio threads** (app-owned mode): [`Call::push_capture`] (the capture thread) and
//!   [`Call::pull_playout`] (the playout thread) each own one end of a wait-free ring, passed
//!   like a token: the two directions share nothing, so paced capture and playout callbacks
//!   never get [`AudioIo::Busy`] (only two threads calling the *same* direction at once do).
//!   They never allocate, block or make syscalls.
//! - **Device callbacks** (device mode, feature `devices`): cpal's callbacks do the same copies
//!   (`parla-device`); a device thread owns the streams.
//! - **Media thread** (one per call, taken from a small pool of reused threads: see
//!   [`pool`](crate::pool)): runs [`MediaCore::tick`] whenever 10 ms of microphone audio is in
//!   the capture ring, after inserting the packets that arrived; it publishes statistics every
//!   50 ms on a lock-free queue. Between ticks it sleeps 1 ms (the only syscall it makes,
//!   outside the processing). With the test feature `_test-alloc` every step of it is counted by
//!   the counting allocator ([`CallStats::media_thread_allocs`]). If its processing panics, the
//!   run ends, its state goes back to the call, and the call reports it: push/pull return
//!   [`AudioIo::Failed`], [`CallStats::media_failed`] is set, a [`CallEvent::MediaFailed`] is
//!   queued; `stop` then `start` recovers.
//! - **Network side** (the app's or [`UdpTransport`](crate::UdpTransport)'s thread):
//!   [`Call::receive_packet`] and [`Call::poll_packet`] are lock-free (bounded queues that live
//!   as long as the call; a full queue drops its oldest packet, counted).
//! - **Control side** (any other thread): start, stop, mute, bitrate, key agreement and
//!   rotation, device switches, stats. These may allocate and take the call's control locks,
//!   never waiting for the media thread. Mute and bitrate are atomics the media thread reads
//!   every pass (never refused, kept across runs). Key rotation derives the new sender on the
//!   control side and hands it over in one control message (a full queue refuses it: nothing
//!   changes); a device switch hands over the new ring the same way. What the media thread
//!   replaces (an old sender, an old ring end) comes back on a queue and is freed by the next
//!   control call. The only derivation on the media thread is the receiver following the peer's
//!   new epoch (HKDF and a key schedule, no allocation: `tests/rt_no_alloc.rs`). The encryption
//!   state and the outgoing RTP stream outlive a run: `stop` keeps them and the next `start`
//!   continues them, so counters continue and replay windows are kept.
//!
//! - **Video thread** (calls with [`CallConfig::video`], feature `video`): encodes the frames
//!   the app pushes with [`Call::push_video_frame`] and decodes the peer's, handing them over
//!   bounded queues of pooled buffers (`video_io`): the media thread only encrypts,
//!   packetizes, paces and reassembles, so audio never waits for a video codec. Decoded
//!   pictures are pulled with [`Call::pull_video_frame`] when they are due for display.
//!
//! `Call` is `Send + Sync`: every method takes `&self`, so the C ABI can share one call between
//! the app's threads.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use parla_core::queue::{MessageQueue, SampleProducer, sample_ring};
use parla_core::video::VideoFrame;
#[cfg(feature = "devices")]
use parla_device::{DeviceSelector, Direction};
use parla_rtp::e2ee::{CallKeys, E2eeError, KEY_BLOB_LEN, KeyAgreement, MediaStream, SafetyCode};

use crate::config::CallConfig;
use crate::error::EngineError;
use crate::events::{CallEvent, EVENT_QUEUE_LEN};
use crate::media::{E2eeParts, MediaCore, SendState, StreamIds};
use crate::rt::{Control, PACKET_CAP, PacketBuf, Reply, Shared, ThreadIo, with_end};
use crate::stats::CallStats;

/// How long a device switch waits for the device thread's answer (opening a device).
#[cfg(feature = "devices")]
const SWITCH_TIMEOUT: Duration = Duration::from_secs(4);
/// How long `stop` waits for an app audio thread to hand back a ring end it is using.
const END_RETURN_TIMEOUT: Duration = Duration::from_secs(1);

/// Where the call's audio comes from and goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioMode {
    /// The app owns the audio session (iOS VoiceProcessingIO, Android Oboe/AAudio): it pushes
    /// microphone frames with [`Call::push_capture`] and pulls speaker frames with
    /// [`Call::pull_playout`] from its own real-time callback.
    AppOwned,
    /// The engine opens the devices through cpal (desktop; feature `devices`). Failed devices
    /// are reopened (the default device if the selected one is gone).
    #[cfg(feature = "devices")]
    Devices {
        /// The microphone.
        capture: DeviceSelector,
        /// The speaker.
        playout: DeviceSelector,
    },
}

/// Why an app-owned audio call did not move samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AudioIo {
    /// The call is not running in app-owned mode.
    #[error("the call is not running in app-owned mode")]
    NotRunning,
    /// Another thread is pushing (or pulling) at the same time: a caller bug, one capture
    /// thread and one playout thread per call. Capture and playout never block each other.
    #[error("another thread is using this direction's ring")]
    Busy,
    /// The media thread failed (its processing panicked): the run is over; `stop` and `start`
    /// recover the call.
    #[error("the call's media thread failed; stop and start the call")]
    Failed,
    /// The buffer is not a whole number of interleaved frames.
    #[error("buffer length is not a multiple of the channel count")]
    BadLength,
}

/// Why a video frame could not be pushed or pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VideoIo {
    /// The call was configured without video ([`CallConfig::video`] is `None`).
    #[error("the call has no video")]
    NoVideo,
    /// The call is not running.
    #[error("the call is not running")]
    NotRunning,
    /// The media thread failed: `stop` and `start` recover the call.
    #[error("the call's media thread failed; stop and start the call")]
    Failed,
}

struct Running {
    media: crate::pool::JobHandle,
    /// The video thread, when the call has video.
    video: Option<crate::pool::JobHandle>,
    #[cfg(feature = "devices")]
    devices: Option<crate::devices::DeviceThread>,
}

struct Keys {
    agreement: Option<KeyAgreement>,
    keys: Option<CallKeys>,
}

/// One call endpoint (see the module docs).
pub struct Call {
    cfg: CallConfig,
    local_key: [u8; KEY_BLOB_LEN],
    keys: Mutex<Keys>,
    run: Mutex<Option<Running>>,
    shared: Arc<Shared>,
    last_stats: Mutex<CallStats>,
    /// The send state between runs (encryption state and RTP stream), and when the call
    /// stopped.
    paused: Mutex<Option<(SendState, Instant)>>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("cfg", &self.cfg)
            .field("running", &self.is_running())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind: keep going.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Call {
    /// A call with `cfg` (validated here) and a fresh X25519 key pair for the key agreement.
    ///
    /// # Errors
    /// [`EngineError::Config`] for an invalid configuration.
    pub fn new(cfg: CallConfig) -> Result<Self, EngineError> {
        cfg.validate()?;
        let agreement = KeyAgreement::new(&mut rand::rng());
        Ok(Call {
            cfg,
            local_key: agreement.public_blob(),
            keys: Mutex::new(Keys {
                agreement: Some(agreement),
                keys: None,
            }),
            run: Mutex::new(None),
            shared: Arc::new(Shared::new(&cfg, MessageQueue::new(EVENT_QUEUE_LEN))),
            last_stats: Mutex::new(CallStats::default()),
            paused: Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CallConfig {
        &self.cfg
    }

    /// Our public key blob, to send to the peer through the app's signalling.
    pub fn local_public_key(&self) -> [u8; KEY_BLOB_LEN] {
        self.local_key
    }

    /// Finish the key agreement with the peer's public key blob and the call id both sides
    /// agreed on (any bytes, e.g. the signalling's call identifier).
    ///
    /// # Errors
    /// [`EngineError::PeerKey`] for a blob that is not a valid key: for a wrong length or our
    /// own key the agreement stays usable for a corrected blob; for an invalid point (a forged
    /// low-order key) the key pair is spent and the call must be recreated
    /// ([`EngineError::KeyAgreementSpent`] from then on). [`EngineError::PeerKeyAlreadySet`] if
    /// it was already done.
    pub fn set_peer_key(&self, peer_blob: &[u8], call_id: &[u8]) -> Result<(), EngineError> {
        let mut k = lock(&self.keys);
        if k.keys.is_some() {
            return Err(EngineError::PeerKeyAlreadySet);
        }
        let Some(agreement) = k.agreement.as_mut() else {
            return Err(EngineError::KeyAgreementSpent);
        };
        // Every check runs before the key pair is spent: a bad blob leaves it usable.
        let keys = agreement.agree(peer_blob, call_id)?;
        k.agreement = None;
        k.keys = Some(keys);
        Ok(())
    }

    /// The safety code both users can compare (after [`set_peer_key`](Self::set_peer_key)).
    pub fn safety_code(&self) -> Option<SafetyCode> {
        lock(&self.keys)
            .keys
            .as_ref()
            .map(|k| k.safety_code().clone())
    }

    /// Whether the media thread runs.
    pub fn is_running(&self) -> bool {
        lock(&self.run).is_some()
    }

    /// Start the media thread (and the devices in device mode).
    ///
    /// # Errors
    /// [`EngineError::AlreadyRunning`], [`EngineError::NoPeerKey`] (encryption on, no peer key
    /// yet), device errors, set-up errors of the stages.
    pub fn start(&self, mode: AudioMode) -> Result<(), EngineError> {
        let mut run = lock(&self.run);
        if run.is_some() {
            return Err(EngineError::AlreadyRunning);
        }
        let mut keys = lock(&self.keys);
        if self.cfg.e2ee && keys.keys.is_none() {
            return Err(EngineError::NoPeerKey);
        }
        if self.cfg.video.is_some() && !cfg!(feature = "video") {
            return Err(EngineError::Video(
                "this build has no video codecs (feature `video`)".into(),
            ));
        }
        let shared = &self.shared;
        // A clean run: nothing left over from the last one (its packets are stale, a device
        // ring swap that did not happen has no device any more).
        drain_replies(shared);
        if let Some(v) = shared.video.as_ref() {
            v.reset();
        }
        while shared.incoming.pop().is_some() {}
        while shared.control.pop().is_some() {}
        shared.stop.store(false, Ordering::SeqCst);
        shared.failed.store(false, Ordering::SeqCst);
        shared.start_clock();
        let mut cfg = self.cfg;
        cfg.bitrate_bps = shared.bitrate_bps.load(Ordering::SeqCst);
        #[cfg(feature = "devices")]
        let mut devices = None;
        let io = match mode {
            AudioMode::AppOwned => self.open_app_audio(&cfg),
            #[cfg(feature = "devices")]
            AudioMode::Devices { capture, playout } => {
                let (opened, thread) =
                    crate::devices::open_devices(capture, playout, &cfg, Arc::clone(shared))?;
                devices = Some(thread);
                cfg.capture_rate = opened.capture_rate;
                cfg.playout_rate = opened.playout_rate;
                let mut spk_tx = opened.speaker;
                prefill(&mut spk_tx, &cfg, 1);
                let mut io = ThreadIo::new(&cfg, opened.mic, spk_tx, 1, 1);
                io.sample_clock = true;
                io
            }
        };
        let paused = lock(&self.paused).take();
        let built = build_core(&cfg, keys.keys.as_mut(), paused);
        drop(keys);
        #[cfg_attr(not(feature = "devices"), allow(unused_mut))]
        let mut undo = || {
            shared.stop.store(true, Ordering::SeqCst);
            self.close_app_audio();
            #[cfg(feature = "devices")]
            if let Some(d) = devices.take() {
                let _ = d.handle.join();
            }
        };
        let core = match built {
            Ok(c) => c,
            Err(e) => {
                undo();
                return Err(e);
            }
        };
        let mut io = io;
        io.video = shared.video.as_ref().map(crate::video_io::MediaVideo::new);
        shared.running.store(true, Ordering::SeqCst);
        let video = match self.start_video_thread() {
            Ok(v) => v,
            Err(e) => {
                shared.running.store(false, Ordering::SeqCst);
                undo();
                return Err(e);
            }
        };
        let thread_shared = Arc::clone(shared);
        let media = match crate::pool::run(move || crate::rt::media_loop(core, io, &thread_shared))
        {
            Ok(m) => m,
            Err(e) => {
                shared.running.store(false, Ordering::SeqCst);
                undo();
                if let Some(v) = video {
                    let _ = v.join();
                }
                return Err(EngineError::Thread(e.to_string()));
            }
        };
        *run = Some(Running {
            media,
            video,
            #[cfg(feature = "devices")]
            devices,
        });
        Ok(())
    }

    /// The video thread of a run (calls with video); it ends with the run's `stop` flag.
    #[cfg(feature = "video")]
    fn start_video_thread(&self) -> Result<Option<crate::pool::JobHandle>, EngineError> {
        let Some(vcfg) = self.cfg.video else {
            return Ok(None);
        };
        let shared = Arc::clone(&self.shared);
        crate::pool::run(move || {
            if let Some(v) = shared.video.as_ref() {
                crate::video_thread::video_loop(v, vcfg, &shared.stop, &|| shared.now());
            }
        })
        .map(Some)
        .map_err(|e| EngineError::Thread(e.to_string()))
    }

    #[cfg(not(feature = "video"))]
    fn start_video_thread(&self) -> Result<Option<crate::pool::JobHandle>, EngineError> {
        Ok(None)
    }

    /// App-owned mode: new rings for the run, their app ends handed out (see the module docs).
    fn open_app_audio(&self, cfg: &CallConfig) -> ThreadIo {
        let ch = usize::from(cfg.channels);
        let ring = |rate: u32| (rate as usize * cfg.ring_ms as usize / 1000) * ch;
        let (mic_tx, mic_rx) = sample_ring(ring(cfg.capture_rate));
        let (mut spk_tx, spk_rx) = sample_ring(ring(cfg.playout_rate));
        prefill(&mut spk_tx, cfg, ch);
        let s = &self.shared;
        // An end an app thread kept past the last stop's wait may have come back since.
        while s.mic_end.pop().is_some() {}
        while s.speaker_end.pop().is_some() {}
        let _ = s.mic_end.try_push(mic_tx);
        let _ = s.speaker_end.try_push(spk_rx);
        s.app_audio.store(true, Ordering::SeqCst);
        ThreadIo::new(cfg, mic_rx, spk_tx, ch, ch)
    }

    /// Takes the app ends back (waiting, bounded, for an app thread in push/pull to return its
    /// end), so app threads get [`AudioIo::NotRunning`] from now on.
    fn close_app_audio(&self) {
        let s = &self.shared;
        if !s.app_audio.swap(false, Ordering::SeqCst) {
            return;
        }
        let deadline = Instant::now() + END_RETURN_TIMEOUT;
        let (mut mic, mut spk) = (false, false);
        while !(mic && spk) && Instant::now() < deadline {
            mic |= s.mic_end.pop().is_some();
            spk |= s.speaker_end.pop().is_some();
            if !(mic && spk) {
                std::thread::yield_now();
            }
        }
    }

    /// Stop the media thread (and the devices) and wait for every thread the call used: the
    /// device thread is joined, the media thread has returned to the pool
    /// ([`pool`](crate::pool) says why media threads are reused). The call can be started
    /// again; the statistics stay readable and continue from where they were.
    ///
    /// # Errors
    /// [`EngineError::NotRunning`]; [`EngineError::Thread`] if a thread panicked (the media
    /// thread's failure was also reported by push/pull, the stats and an event).
    pub fn stop(&self) -> Result<(), EngineError> {
        // The run lock is held until the state is stored, so a rotation in between waits.
        let mut run = lock(&self.run);
        let Some(r) = run.take() else {
            return Err(EngineError::NotRunning);
        };
        let shared = &self.shared;
        shared.running.store(false, Ordering::SeqCst);
        self.close_app_audio();
        shared.stop.store(true, Ordering::SeqCst);
        let media = r.media.join();
        let video_ok = r.video.is_none_or(|v| v.join().is_ok());
        #[cfg(feature = "devices")]
        let devices_ok = r.devices.is_none_or(|d| d.handle.join().is_ok());
        #[cfg(not(feature = "devices"))]
        let devices_ok = true;
        self.refresh_stats();
        // Keep the send state for the next start. A rotation the media thread did not apply
        // before it ended is applied here, so its sender is not lost.
        if let Some(mut state) = shared.state_back.pop() {
            while let Some(msg) = shared.control.pop() {
                if let (Control::InstallSender(tx, vtx), Some(parts)) = (msg, state.e2ee.as_mut()) {
                    parts.tx = tx;
                    if let (Some(vtx), Some(v)) = (vtx, parts.video.as_mut()) {
                        v.tx = vtx;
                    }
                }
            }
            *lock(&self.paused) = Some((state, Instant::now()));
        }
        drain_replies(shared);
        let failed = shared.failed.load(Ordering::SeqCst);
        if failed || media.is_err() || !devices_ok || !video_ok {
            return Err(EngineError::Thread("a call thread panicked".into()));
        }
        Ok(())
    }

    /// Hand a packet received from the peer to the call (any thread; lock-free: a copy into a
    /// bounded queue whose oldest packet is dropped, and counted, when it is full). Returns
    /// `false` if the call is not running or the packet is larger than
    /// [`MAX_WIRE_PACKET`](crate::MAX_WIRE_PACKET) bytes (dropped).
    pub fn receive_packet(&self, data: &[u8]) -> bool {
        // RT-safe: an atomic load, a clock read and a lock-free push.
        let s = &self.shared;
        if !s.running.load(Ordering::Acquire) || data.len() > PACKET_CAP {
            return false;
        }
        s.received.fetch_add(1, Ordering::Relaxed);
        let _ = s.incoming.push(PacketBuf::new(data, s.now().as_micros()));
        true
    }

    /// Take the next packet to send, copying it into `out`; returns its length, or `None` when
    /// there is none (any thread; lock-free).
    ///
    /// # Errors
    /// [`EngineError::InvalidLength`] when `out` is smaller than the packet (the packet is
    /// dropped: size `out` for [`MAX_WIRE_PACKET`](crate::MAX_WIRE_PACKET) bytes).
    pub fn poll_packet(&self, out: &mut [u8]) -> Result<Option<usize>, EngineError> {
        let Some(p) = self.shared.outgoing.pop() else {
            return Ok(None);
        };
        if out.len() < p.len {
            return Err(EngineError::InvalidLength(
                "output buffer smaller than the packet",
            ));
        }
        out[..p.len].copy_from_slice(&p.data[..p.len]);
        Ok(Some(p.len))
    }

    fn video_shared(&self) -> Result<&crate::video_io::VideoShared, VideoIo> {
        let s = &self.shared;
        let v = s.video.as_ref().ok_or(VideoIo::NoVideo)?;
        if s.failed.load(Ordering::Relaxed) {
            Err(VideoIo::Failed)
        } else if !s.running.load(Ordering::Relaxed) {
            Err(VideoIo::NotRunning)
        } else {
            Ok(v)
        }
    }

    /// Push a captured camera frame (I420, NV12 or RGBA, any size: it is scaled to the size
    /// the congestion control chose) from the app's capture thread. The frame is copied into a
    /// pooled buffer (no allocation at a constant size) and stamped with the call's clock now,
    /// which is its capture time for lip sync: push frames as soon as they are captured. When
    /// the encoder is behind, the oldest waiting frame is dropped (counted in
    /// [`VideoStats::frames_capture_dropped`](crate::VideoStats::frames_capture_dropped)).
    /// Lock-free; never waits for the encoder.
    ///
    /// # Errors
    /// [`VideoIo`].
    pub fn push_video_frame(&self, frame: &VideoFrame) -> Result<(), VideoIo> {
        let v = self.video_shared()?;
        v.push_frame(frame, self.shared.now());
        Ok(())
    }

    /// Take the next decoded picture of the peer's video, due for display now: it is swapped
    /// into `out` (I420, resized as needed; `out`'s old buffer is reused for a later picture,
    /// so pulling into the same frame allocates nothing at a constant size). `None` when no
    /// new picture is due; a picture the app did not pull before the next one was decoded is
    /// dropped and counted. Lock-free.
    ///
    /// # Errors
    /// [`VideoIo`].
    pub fn pull_video_frame(
        &self,
        out: &mut VideoFrame,
    ) -> Result<Option<crate::VideoFrameInfo>, VideoIo> {
        let v = self.video_shared()?;
        Ok(v.pull_frame(out))
    }

    /// Why the app ends cannot be used right now, if they cannot.
    fn audio_state(&self) -> Result<(), AudioIo> {
        let s = &self.shared;
        if s.failed.load(Ordering::Relaxed) {
            Err(AudioIo::Failed)
        } else if !s.app_audio.load(Ordering::Relaxed) {
            Err(AudioIo::NotRunning)
        } else {
            Ok(())
        }
    }

    /// The app end was not in its slot: another thread of the same direction has it, or the
    /// run just ended.
    fn end_missing(&self) -> AudioIo {
        self.audio_state().err().unwrap_or(AudioIo::Busy)
    }

    fn check_len(&self, len: usize) -> Result<(), AudioIo> {
        self.audio_state()?;
        if len.is_multiple_of(usize::from(self.cfg.channels)) {
            Ok(())
        } else {
            Err(AudioIo::BadLength)
        }
    }

    /// App-owned mode: push interleaved microphone samples (`channels` per frame, capture
    /// rate) from the app's capture thread. Returns how many samples the ring took (the rest
    /// were dropped and counted).
    ///
    /// # Real-time safety
    /// Wait-free in practice: atomics, a lock-free take and return of the ring end, a copy.
    /// Never blocks on the playout direction.
    ///
    /// # Errors
    /// [`AudioIo`].
    pub fn push_capture(&self, samples: &[f32]) -> Result<usize, AudioIo> {
        self.check_len(samples.len())?;
        with_end(&self.shared.mic_end, |mic| mic.write(samples)).ok_or_else(|| self.end_missing())
    }

    /// As [`push_capture`](Self::push_capture) for 16-bit samples.
    ///
    /// # Errors
    /// [`AudioIo`].
    pub fn push_capture_i16(&self, samples: &[i16]) -> Result<usize, AudioIo> {
        // RT: converts through a stack buffer.
        self.check_len(samples.len())?;
        with_end(&self.shared.mic_end, |mic| {
            let mut buf = [0.0f32; 256];
            let mut written = 0;
            for chunk in samples.chunks(buf.len()) {
                for (d, s) in buf.iter_mut().zip(chunk) {
                    *d = f32::from(*s) / 32_768.0;
                }
                written += mic.write(&buf[..chunk.len()]);
            }
            written
        })
        .ok_or_else(|| self.end_missing())
    }

    /// App-owned mode: fill `out` with interleaved speaker samples (playout rate) from the
    /// app's playout thread; what the ring lacks is silence (counted as underrun). Returns the
    /// samples that came from the ring.
    ///
    /// # Real-time safety
    /// As [`push_capture`](Self::push_capture); never blocks on the capture direction.
    ///
    /// # Errors
    /// [`AudioIo`] (then `out` is silence).
    pub fn pull_playout(&self, out: &mut [f32]) -> Result<usize, AudioIo> {
        let r = self.check_len(out.len()).and_then(|()| {
            with_end(&self.shared.speaker_end, |spk| spk.read(out))
                .ok_or_else(|| self.end_missing())
        });
        if r.is_err() {
            out.fill(0.0);
        }
        r
    }

    /// As [`pull_playout`](Self::pull_playout) for 16-bit samples.
    ///
    /// # Errors
    /// [`AudioIo`] (then `out` is silence).
    pub fn pull_playout_i16(&self, out: &mut [i16]) -> Result<usize, AudioIo> {
        // RT: converts through a stack buffer.
        let r = self.check_len(out.len()).and_then(|()| {
            with_end(&self.shared.speaker_end, |spk| {
                let mut buf = [0.0f32; 256];
                let mut got = 0;
                for chunk in out.chunks_mut(buf.len()) {
                    let b = &mut buf[..chunk.len()];
                    got += spk.read(b);
                    for (d, s) in chunk.iter_mut().zip(b.iter()) {
                        *d = (s.clamp(-1.0, 1.0) * 32_767.0).round() as i16;
                    }
                }
                got
            })
            .ok_or_else(|| self.end_missing())
        });
        if r.is_err() {
            out.fill(0);
        }
        r
    }

    /// Mute or unmute the microphone: silence is encoded and sent while muted, so the far end
    /// hears a steady stream, and the send level reads silence. Works in any state (before a
    /// start, it applies from the start; it is kept across stop and start). Never blocks.
    pub fn set_muted(&self, muted: bool) {
        self.shared.muted.store(muted, Ordering::Relaxed);
    }

    /// Whether the microphone is muted (as set by [`set_muted`](Self::set_muted)).
    pub fn is_muted(&self) -> bool {
        self.shared.muted.load(Ordering::Relaxed)
    }

    /// Change the Opus bitrate (6000..=510000 bits per second). Works in any state (kept
    /// across stop and start); the media thread applies it before its next tick. Never blocks.
    /// With congestion control on (the default) it is the ceiling: the audio adaptation picks
    /// the rate under it (a lower ceiling applies at once, a higher one as the estimate allows).
    ///
    /// # Errors
    /// [`EngineError::Config`] out of range (nothing changes).
    pub fn set_bitrate(&self, bps: u32) -> Result<(), EngineError> {
        let cfg = CallConfig {
            bitrate_bps: bps,
            ..self.cfg
        };
        cfg.validate()?;
        self.shared.bitrate_bps.store(bps, Ordering::Relaxed);
        Ok(())
    }

    /// Device mode: move the microphone (`Direction::Capture`) or the speaker
    /// (`Direction::Playout`) to another device during the call. The new device is opened at
    /// the call's rate for that direction and started, its ring is handed to the media thread
    /// in one message, and the old device is closed; nothing waits for the media thread, so a
    /// stalled media thread cannot strand the switch (it uses the new device when it runs
    /// again). The call keeps running on the old device if the new one cannot be opened.
    ///
    /// # Errors
    /// [`EngineError::NotRunning`]; [`EngineError::WrongMode`] in app-owned mode;
    /// [`EngineError::Device`] if the device cannot be opened or started;
    /// [`EngineError::Config`] if it cannot run at the call's rate;
    /// [`EngineError::ControlQueueFull`] if the media thread has 16 messages waiting (nothing
    /// changed); [`EngineError::Timeout`] if the device thread does not answer within 4 s
    /// (opening the device hangs; the switch then completes or fails on its own, either way
    /// the call keeps a working device).
    #[cfg(feature = "devices")]
    pub fn switch_device(
        &self,
        direction: Direction,
        selector: DeviceSelector,
    ) -> Result<(), EngineError> {
        let tx = {
            let run = lock(&self.run);
            let r = run.as_ref().ok_or(EngineError::NotRunning)?;
            r.devices
                .as_ref()
                .map(|d| d.switch.clone())
                .ok_or(EngineError::WrongMode("device switching needs device mode"))?
        };
        drain_replies(&self.shared);
        let (answer_tx, answer) = std::sync::mpsc::channel();
        tx.send((direction, selector, answer_tx))
            .map_err(|_| EngineError::Thread("the device thread has ended".into()))?;
        answer
            .recv_timeout(SWITCH_TIMEOUT)
            .map_err(|_| EngineError::Timeout(SWITCH_TIMEOUT.as_millis() as u64))?
    }

    /// Rotate this side's sending keys to the next epoch. The peer's receiver follows by itself
    /// (it always holds the next epoch's key), so no signalling is needed for the call to keep
    /// working; for forward secrecy in both directions the app asks the peer to rotate too.
    ///
    /// Atomic: the new sender is derived here (on the caller's thread) and handed to the media
    /// thread in one message; if the message cannot be delivered, nothing changes (the call
    /// stays on the old epoch) and a retry derives the same next epoch, whose sender never
    /// sent. Works on a running or stopped call (a stopped call starts again on the new epoch).
    /// Unlimited: old keys retire on their own.
    ///
    /// # Errors
    /// [`EngineError::NoPeerKey`] before the key agreement, [`EngineError::WrongMode`] when
    /// encryption is off, [`EngineError::ControlQueueFull`] if the media thread is not keeping
    /// up (nothing changed), [`EngineError::E2ee`] when the epochs are used up.
    pub fn rotate_key(&self) -> Result<(), EngineError> {
        if !self.cfg.e2ee {
            return Err(EngineError::WrongMode("key rotation needs e2ee on"));
        }
        // Lock order as in `start`: run, then keys, then the paused state. Holding the run lock
        // keeps a concurrent start/stop from moving the state in between.
        let run = lock(&self.run);
        let mut k = lock(&self.keys);
        let keys = k.keys.as_mut().ok_or(EngineError::NoPeerKey)?;
        let mut next = keys.prepare_rotation()?;
        let suite = self.cfg.cipher_suite;
        if run.is_some() {
            drain_replies(&self.shared);
            let tx = Box::new(next.sender(MediaStream::Audio, suite)?);
            let vtx = match self.cfg.video {
                Some(_) => Some(Box::new(next.sender(MediaStream::Video, suite)?)),
                None => None,
            };
            if self
                .shared
                .control
                .try_push(Control::InstallSender(tx, vtx))
                .is_err()
            {
                // Not delivered: the prepared sender is dropped unused; nothing changed.
                return Err(EngineError::ControlQueueFull);
            }
        } else if let Some((state, _)) = lock(&self.paused).as_mut()
            && let Some(parts) = state.e2ee.as_mut()
        {
            *parts.tx = next.sender(MediaStream::Audio, suite)?;
            if let Some(v) = parts.video.as_mut() {
                *v.tx = next.sender(MediaStream::Video, suite)?;
            }
        }
        // Never started: the next start takes the new epoch's sender.
        keys.commit_rotation(next)?;
        Ok(())
    }

    /// The commitment to our public key, for the short authentication string: send it to the
    /// peer before our key, and send our key ([`local_public_key`](Self::local_public_key))
    /// only after the peer's commitment arrived
    /// ([`set_peer_commitment`](Self::set_peer_commitment)).
    pub fn local_commitment(&self) -> [u8; parla_rtp::e2ee::COMMITMENT_BLOB_LEN] {
        parla_rtp::e2ee::commitment_blob(&self.local_key)
    }

    /// Records the peer's commitment (before its key). Then [`set_peer_key`](Self::set_peer_key)
    /// refuses a key that does not match it, and [`short_auth_string`](Self::short_auth_string)
    /// becomes available.
    ///
    /// # Errors
    /// [`EngineError::PeerKey`] for a malformed or second commitment;
    /// [`EngineError::PeerKeyAlreadySet`] after the key agreement.
    pub fn set_peer_commitment(&self, commitment: &[u8]) -> Result<(), EngineError> {
        let mut k = lock(&self.keys);
        if k.keys.is_some() {
            return Err(EngineError::PeerKeyAlreadySet);
        }
        let agreement = k.agreement.as_mut().ok_or(EngineError::KeyAgreementSpent)?;
        agreement.receive_commitment(commitment)?;
        Ok(())
    }

    /// The commitment-based short authentication string of `digits` digits (1..=9), after a key
    /// agreement that exchanged commitments first: the users compare it out loud; a man in the
    /// middle matches it with probability about 10^-digits.
    ///
    /// # Errors
    /// [`EngineError::NoPeerKey`] before the key agreement; [`EngineError::PeerKey`] without
    /// commitments or for `digits` out of range.
    pub fn short_auth_string(
        &self,
        digits: usize,
    ) -> Result<parla_rtp::e2ee::ShortAuthString, EngineError> {
        let k = lock(&self.keys);
        let keys = k.keys.as_ref().ok_or(EngineError::NoPeerKey)?;
        Ok(keys.short_auth_string(digits)?)
    }

    /// The next event for the app, if any (any thread; wait-free). Events are kept across
    /// stop and start; a full queue (32) drops the oldest.
    pub fn poll_event(&self) -> Option<CallEvent> {
        self.shared.events.pop()
    }

    /// Test builds (feature `_test-hooks`): make the media thread stall for `d` (it sleeps when
    /// it takes this message), to test control that times out while it does not answer.
    ///
    /// # Errors
    /// [`EngineError::ControlQueueFull`].
    #[cfg(feature = "_test-hooks")]
    pub fn stall_media_thread(&self, d: Duration) -> Result<(), EngineError> {
        self.shared
            .control
            .try_push(Control::Stall(d))
            .map_err(|_| EngineError::ControlQueueFull)
    }

    /// Test builds (feature `_test-hooks`): make the media thread's processing panic, to test
    /// how a failed call is reported and recovered.
    ///
    /// # Errors
    /// [`EngineError::ControlQueueFull`].
    #[cfg(feature = "_test-hooks")]
    pub fn fail_media_thread(&self) -> Result<(), EngineError> {
        self.shared
            .control
            .try_push(Control::Panic)
            .map_err(|_| EngineError::ControlQueueFull)
    }

    fn refresh_stats(&self) {
        let shared = &self.shared;
        drain_replies(shared);
        let mut last = lock(&self.last_stats);
        while let Some(s) = shared.stats.pop() {
            *last = s;
        }
        last.queue_drops = last
            .queue_drops
            .max(shared.incoming.stats().dropped + shared.outgoing.stats().dropped);
        last.media_thread_allocs = shared.allocs.load(Ordering::Relaxed);
        last.device_events = shared.device_events.load(Ordering::Relaxed);
        last.device_recoveries = shared.device_recoveries.load(Ordering::Relaxed);
        last.media_failed = shared.failed.load(Ordering::Relaxed);
        if let Some(v) = shared.video.as_ref() {
            v.fill_stats(&mut last.video);
        }
        // Every packet handed over, also those the full queue dropped (in `queue_drops`).
        last.packets_received = shared.received.load(Ordering::Relaxed);
    }

    /// The latest statistics (published by the media thread every 50 ms; after `stop`, the
    /// final ones). Counters continue across stop and start.
    pub fn stats(&self) -> CallStats {
        self.refresh_stats();
        *lock(&self.last_stats)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Fills the start of a playout ring with the call's headroom of silence.
pub(crate) fn prefill(spk: &mut SampleProducer, cfg: &CallConfig, channels: usize) {
    let n = cfg.playout_rate as usize * cfg.playout_headroom_ms as usize / 1000 * channels;
    let zeros = vec![0.0f32; n];
    spk.write(&zeros);
}

/// Drops (zeroizes and frees) what the media thread replaced, on the calling (control-side)
/// thread.
pub(crate) fn drain_replies(shared: &Shared) {
    while let Some(reply) = shared.replies.pop() {
        match reply {
            Reply::Sender(tx) => drop(tx),
            #[cfg(feature = "devices")]
            Reply::Mic(ring) => drop(ring),
            #[cfg(feature = "devices")]
            Reply::Speaker(ring) => drop(ring),
        }
    }
}

/// The media core for a start: continuing the paused state of an earlier run, or new (taking
/// the current epoch's sender from the keys). If an earlier run's state was lost (its thread
/// died before handing it back), the sender of its epoch is gone with it, so a new epoch is
/// used: a counter is never reused.
fn build_core(
    cfg: &CallConfig,
    keys: Option<&mut CallKeys>,
    paused: Option<(SendState, Instant)>,
) -> Result<MediaCore, EngineError> {
    if let Some((state, at)) = paused {
        return MediaCore::resume(cfg, state, at.elapsed());
    }
    let ids = StreamIds::random(&mut rand::rng());
    match keys {
        Some(keys) if cfg.e2ee => match E2eeParts::new(keys, cfg) {
            Ok(parts) => MediaCore::new_with(cfg, Some(parts), ids),
            Err(EngineError::E2ee(E2eeError::SenderTaken { .. })) => {
                let mut next = keys.prepare_rotation()?;
                let tx = next.sender(MediaStream::Audio, cfg.cipher_suite)?;
                let next_video = match cfg.video {
                    Some(_) => Some(next.sender(MediaStream::Video, cfg.cipher_suite)?),
                    None => None,
                };
                keys.commit_rotation(next)?;
                let rx = keys.receiver(
                    MediaStream::Audio,
                    cfg.cipher_suite,
                    Duration::from_millis(u64::from(cfg.key_grace_ms)),
                )?;
                let video = match cfg.video {
                    Some(_) => Some(crate::media::VideoKeys {
                        tx: Box::new(next_video.ok_or(EngineError::NoPeerKey)?),
                        rx: Box::new(keys.receiver(
                            MediaStream::Video,
                            cfg.cipher_suite,
                            Duration::from_millis(u64::from(cfg.key_grace_ms)),
                        )?),
                    }),
                    None => None,
                };
                let parts = E2eeParts {
                    tx: Box::new(tx),
                    rx: Box::new(rx),
                    feedback: crate::media::feedback_auth(keys),
                    video,
                };
                MediaCore::new_with(cfg, Some(parts), ids)
            }
            Err(e) => Err(e),
        },
        keys => MediaCore::new(cfg, keys, ids),
    }
}
