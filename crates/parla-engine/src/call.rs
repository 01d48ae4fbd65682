//! [`Call`]: one call endpoint with its media thread, audio rings, packet queues and control.
//!
//! Threads and what they may do (DESIGN.md, STYLE.md section 2):
//! - **App audio thread** (app-owned mode): [`Call::push_capture`] / [`Call::pull_playout`] copy
//!   between the app's buffers and two wait-free sample rings. They never allocate, block or
//!   make syscalls; the rings' ends sit behind a `try_lock` that only fails (with
//!   [`AudioIo::Busy`]) if two threads call them at once, which is a caller bug.
//! - **Device callbacks** (device mode): cpal's callbacks do the same copies (`parla-device`).
//! - **Media thread** (one per call, taken from a small pool of reused threads: see
//!   [`pool`](crate::pool)): runs [`MediaCore::tick`] whenever 10 ms of microphone
//!   audio is in the capture ring, after inserting the packets that arrived; it publishes
//!   statistics every 50 ms on a lock-free queue. Between ticks it sleeps 1 ms (the only syscall
//!   it makes, outside the processing). With the test feature `_test-alloc` every step of it is
//!   counted by the counting allocator ([`CallStats::media_thread_allocs`]).
//! - **Network side** (the app's or [`UdpTransport`](crate::UdpTransport)'s thread):
//!   [`Call::receive_packet`] and [`Call::poll_packet`] use bounded lock-free queues; a full
//!   queue drops its oldest packet (counted).
//! - **Control side** (any other thread): start, stop, mute, bitrate, key agreement and
//!   rotation, stats. These may allocate and take the call's control locks, never waiting for
//!   the media thread. Key rotation derives the new sender on the control side and hands it over
//!   in one control message (a full queue refuses it: nothing changes); the replaced sender comes
//!   back to be dropped here. The only derivation on the media thread is the receiver following
//!   the peer's new epoch (HKDF and a key schedule, no allocation: `tests/rt_no_alloc.rs`).
//!   The encryption state and the outgoing RTP stream outlive a run: `stop` keeps them and the
//!   next `start` continues them, so counters continue and replay windows are kept.
//!
//! `Call` is `Send + Sync`: every method takes `&self`, so the C ABI can share one call between
//! the app's threads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parla_core::MediaTime;
use parla_core::queue::{MessageQueue, SampleConsumer, SampleProducer, sample_ring};
use parla_device::{CaptureStream, DeviceConfig, DeviceSelector, Direction, PlayoutStream};
use parla_rtp::e2ee::{
    CallKeys, E2eeError, KEY_BLOB_LEN, KeyAgreement, MediaStream, SafetyCode, SframeSender,
};

use crate::config::{CallConfig, MAX_PACKET};
use crate::error::EngineError;
use crate::events::{CallEvent, EVENT_QUEUE_LEN, EventWatch};
use crate::media::{E2eeParts, MediaCore, SendState, StreamIds};
use crate::stats::CallStats;

/// Bytes a queued packet can hold.
const PACKET_CAP: usize = MAX_PACKET + 64;
/// How long a control request waits for the media thread.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(2);
/// The media thread publishes statistics every this many ticks.
const STATS_EVERY: u64 = 5;

/// Where the call's audio comes from and goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioMode {
    /// The app owns the audio session (iOS VoiceProcessingIO, Android Oboe/AAudio): it pushes
    /// microphone frames with [`Call::push_capture`] and pulls speaker frames with
    /// [`Call::pull_playout`] from its own real-time callback.
    AppOwned,
    /// The engine opens the devices through cpal (desktop). Failed devices are reopened (the
    /// default device if the selected one is gone).
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
    /// Another thread is in push/pull at the same time (a caller bug: one audio thread only).
    #[error("another thread is using the audio rings")]
    Busy,
    /// The buffer is not a whole number of interleaved frames.
    #[error("buffer length is not a multiple of the channel count")]
    BadLength,
}

/// A packet in a queue (fixed size, moved by value: no allocation).
#[derive(Clone, Copy)]
struct PacketBuf {
    len: usize,
    arrival_us: u64,
    data: [u8; PACKET_CAP],
}

enum Control {
    Mute(bool),
    Bitrate(u32),
    /// Protect with this sender from now on (a key rotation); the old one comes back as
    /// [`Reply::OldSender`] to be dropped off the media thread.
    InstallSender(Box<SframeSender>),
    /// Device mode: use this capture ring from now on (a switched microphone).
    SwapMic(SampleConsumer),
    /// Device mode: use this playout ring from now on (a switched speaker).
    SwapSpeaker(SampleProducer),
}

/// The ring ends the media thread gave up after a device switch, to be dropped off the media
/// thread (dropping the last end of a ring frees its buffer).
enum OldRing {
    Mic(SampleConsumer),
    Speaker(SampleProducer),
}

/// A device switch request to the device thread, with where to answer.
type SwitchRequest = (
    Direction,
    DeviceSelector,
    mpsc::Sender<Result<(), EngineError>>,
);

enum Reply {
    /// A sender replaced by a rotation, to be dropped (zeroized, freed) on a control thread.
    OldSender(Box<SframeSender>),
}

/// State shared by the call handle and its threads.
struct Shared {
    incoming: MessageQueue<PacketBuf>,
    outgoing: MessageQueue<PacketBuf>,
    control: MessageQueue<Control>,
    replies: MessageQueue<Reply>,
    old_rings: MessageQueue<OldRing>,
    stats: MessageQueue<CallStats>,
    /// Events for the app (the call's queue, shared by every run).
    events: MessageQueue<CallEvent>,
    /// What the media thread hands back when it ends (even after a panic): the state the next
    /// start continues with.
    state_back: MessageQueue<SendState>,
    stop: AtomicBool,
    /// The media thread's processing panicked (it ended; the keys went back to the call).
    failed: AtomicBool,
    allocs: AtomicU64,
    device_events: AtomicU64,
    device_recoveries: AtomicU64,
    epoch: Instant,
}

impl Shared {
    fn now(&self) -> MediaTime {
        MediaTime::from_micros(self.epoch.elapsed().as_micros() as u64)
    }
}

/// The app's ends of the audio rings (app-owned mode).
struct AppAudio {
    mic: SampleProducer,
    speaker: SampleConsumer,
    channels: usize,
}

struct Running {
    media: crate::pool::JobHandle,
    devices: Option<JoinHandle<()>>,
    switch: Option<mpsc::Sender<SwitchRequest>>,
    shared: Arc<Shared>,
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
    shared: Mutex<Option<Arc<Shared>>>,
    audio: Mutex<Option<AppAudio>>,
    last_stats: Mutex<CallStats>,
    /// The send state between runs (encryption state and RTP stream), and when the call
    /// stopped.
    paused: Mutex<Option<(SendState, Instant)>>,
    events: MessageQueue<CallEvent>,
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
            shared: Mutex::new(None),
            audio: Mutex::new(None),
            last_stats: Mutex::new(CallStats::default()),
            paused: Mutex::new(None),
            events: MessageQueue::new(EVENT_QUEUE_LEN),
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
        let q = self.cfg.packet_queue;
        let shared = Arc::new(Shared {
            incoming: MessageQueue::new(q),
            outgoing: MessageQueue::new(q),
            control: MessageQueue::new(16),
            replies: MessageQueue::new(16),
            old_rings: MessageQueue::new(4),
            stats: MessageQueue::new(2),
            events: self.events.clone(),
            state_back: MessageQueue::new(1),
            stop: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            allocs: AtomicU64::new(0),
            device_events: AtomicU64::new(0),
            device_recoveries: AtomicU64::new(0),
            epoch: Instant::now(),
        });
        let mut cfg = self.cfg;
        let mut switch = None;
        let (io, devices) = match mode {
            AudioMode::AppOwned => {
                let ch = usize::from(cfg.channels);
                let ring = |rate: u32| (rate as usize * cfg.ring_ms as usize / 1000) * ch;
                let (mic_tx, mic_rx) = sample_ring(ring(cfg.capture_rate));
                let (mut spk_tx, spk_rx) = sample_ring(ring(cfg.playout_rate));
                prefill(&mut spk_tx, &cfg, ch);
                *lock(&self.audio) = Some(AppAudio {
                    mic: mic_tx,
                    speaker: spk_rx,
                    channels: ch,
                });
                (ThreadIo::new(&cfg, mic_rx, spk_tx, ch, ch), None)
            }
            AudioMode::Devices { capture, playout } => {
                let (opened, handle, switch_tx) =
                    open_devices(capture, playout, &cfg, Arc::clone(&shared))?;
                switch = Some(switch_tx);
                cfg.capture_rate = opened.capture_rate;
                cfg.playout_rate = opened.playout_rate;
                let mut spk_tx = opened.speaker;
                prefill(&mut spk_tx, &cfg, 1);
                let mut io = ThreadIo::new(&cfg, opened.mic, spk_tx, 1, 1);
                io.sample_clock = true;
                (io, Some(handle))
            }
        };
        let paused = lock(&self.paused).take();
        let built = build_core(&cfg, keys.keys.as_mut(), paused);
        drop(keys);
        let core = match built {
            Ok(c) => c,
            Err(e) => {
                shared.stop.store(true, Ordering::SeqCst);
                if let Some(d) = devices {
                    let _ = d.join();
                }
                *lock(&self.audio) = None;
                return Err(e);
            }
        };
        let thread_shared = Arc::clone(&shared);
        let media = crate::pool::run(move || media_loop(core, io, &thread_shared))
            .map_err(|e| EngineError::Thread(e.to_string()))?;
        *lock(&self.shared) = Some(Arc::clone(&shared));
        *run = Some(Running {
            media,
            devices,
            switch,
            shared,
        });
        Ok(())
    }

    /// Stop the media thread (and the devices) and wait for every thread the call used: the
    /// device thread is joined, the media thread has returned to the pool
    /// ([`pool`](crate::pool) says why media threads are reused). The call can be started
    /// again; the last statistics stay readable.
    ///
    /// # Errors
    /// [`EngineError::NotRunning`]; [`EngineError::Thread`] if a thread panicked.
    pub fn stop(&self) -> Result<(), EngineError> {
        // The run lock is held until the state is stored, so a rotation in between waits.
        let mut run = lock(&self.run);
        let Some(r) = run.take() else {
            return Err(EngineError::NotRunning);
        };
        r.shared.stop.store(true, Ordering::SeqCst);
        let media = r.media.join();
        let devices = r.devices.map(JoinHandle::join);
        self.refresh_stats(&r.shared);
        // Keep the send state for the next start. A rotation the media thread did not apply
        // before it ended is applied here, so its sender is not lost.
        if let Some(mut state) = r.shared.state_back.pop() {
            while let Some(msg) = r.shared.control.pop() {
                if let (Control::InstallSender(tx), Some(parts)) = (msg, state.e2ee.as_mut()) {
                    parts.tx = tx;
                }
            }
            *lock(&self.paused) = Some((state, Instant::now()));
        }
        drain_replies(&r.shared);
        *lock(&self.audio) = None;
        *lock(&self.shared) = None;
        let failed = r.shared.failed.load(Ordering::SeqCst);
        if failed || media.is_err() || matches!(devices, Some(Err(_))) {
            return Err(EngineError::Thread("a call thread panicked".into()));
        }
        Ok(())
    }

    fn shared(&self) -> Option<Arc<Shared>> {
        lock(&self.shared).clone()
    }

    /// Hand a packet received from the peer to the call (any thread). It takes the call's
    /// state lock for the moment of cloning a reference (never held across work), then pushes
    /// into a lock-free queue. Returns `false` if the call is not running or the packet is
    /// larger than the maximum (dropped).
    pub fn receive_packet(&self, data: &[u8]) -> bool {
        // A `try_lock` here dropped packets whenever `stats()` held the lock at that moment.
        let Some(shared) = self.shared() else {
            return false;
        };
        if data.len() > PACKET_CAP {
            return false;
        }
        let mut p = PacketBuf {
            len: data.len(),
            arrival_us: shared.now().as_micros(),
            data: [0; PACKET_CAP],
        };
        p.data[..data.len()].copy_from_slice(data);
        let _ = shared.incoming.push(p);
        true
    }

    /// Take the next packet to send, copying it into `out`; returns its length, or `None` when
    /// there is none (or the call is not running).
    ///
    /// # Errors
    /// [`EngineError::InvalidLength`] when `out` is smaller than the packet (the packet is
    /// dropped: size `out` for [`MAX_PACKET`] + 64 bytes).
    pub fn poll_packet(&self, out: &mut [u8]) -> Result<Option<usize>, EngineError> {
        let Some(shared) = self.shared() else {
            return Ok(None);
        };
        let Some(p) = shared.outgoing.pop() else {
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

    /// App-owned mode: push interleaved microphone samples (`channels` per frame, capture
    /// rate). Returns how many samples the ring took (the rest were dropped and counted).
    ///
    /// # Real-time safety
    /// Wait-free: a `try_lock` and a copy.
    ///
    /// # Errors
    /// [`AudioIo`].
    pub fn push_capture(&self, samples: &[f32]) -> Result<usize, AudioIo> {
        // RT: try_lock (never waits) and a wait-free ring write.
        let mut guard = self.audio.try_lock().map_err(|_| AudioIo::Busy)?;
        let audio = guard.as_mut().ok_or(AudioIo::NotRunning)?;
        if !samples.len().is_multiple_of(audio.channels) {
            return Err(AudioIo::BadLength);
        }
        Ok(audio.mic.write(samples))
    }

    /// As [`push_capture`](Self::push_capture) for 16-bit samples.
    ///
    /// # Errors
    /// [`AudioIo`].
    pub fn push_capture_i16(&self, samples: &[i16]) -> Result<usize, AudioIo> {
        // RT: converts through a stack buffer.
        let mut guard = self.audio.try_lock().map_err(|_| AudioIo::Busy)?;
        let audio = guard.as_mut().ok_or(AudioIo::NotRunning)?;
        if !samples.len().is_multiple_of(audio.channels) {
            return Err(AudioIo::BadLength);
        }
        let mut buf = [0.0f32; 256];
        let mut written = 0;
        for chunk in samples.chunks(buf.len()) {
            for (d, s) in buf.iter_mut().zip(chunk) {
                *d = f32::from(*s) / 32_768.0;
            }
            written += audio.mic.write(&buf[..chunk.len()]);
        }
        Ok(written)
    }

    /// App-owned mode: fill `out` with interleaved speaker samples (playout rate); what the ring
    /// lacks is silence (counted as underrun). Returns the samples that came from the ring.
    ///
    /// # Real-time safety
    /// Wait-free: a `try_lock` and a copy.
    ///
    /// # Errors
    /// [`AudioIo`] (then `out` is silence).
    pub fn pull_playout(&self, out: &mut [f32]) -> Result<usize, AudioIo> {
        // RT: try_lock (never waits) and a wait-free ring read.
        let Ok(mut guard) = self.audio.try_lock() else {
            out.fill(0.0);
            return Err(AudioIo::Busy);
        };
        let Some(audio) = guard.as_mut() else {
            out.fill(0.0);
            return Err(AudioIo::NotRunning);
        };
        if !out.len().is_multiple_of(audio.channels) {
            out.fill(0.0);
            return Err(AudioIo::BadLength);
        }
        Ok(audio.speaker.read(out))
    }

    /// As [`pull_playout`](Self::pull_playout) for 16-bit samples.
    ///
    /// # Errors
    /// [`AudioIo`] (then `out` is silence).
    pub fn pull_playout_i16(&self, out: &mut [i16]) -> Result<usize, AudioIo> {
        // RT: converts through a stack buffer.
        let Ok(mut guard) = self.audio.try_lock() else {
            out.fill(0);
            return Err(AudioIo::Busy);
        };
        let Some(audio) = guard.as_mut() else {
            out.fill(0);
            return Err(AudioIo::NotRunning);
        };
        if !out.len().is_multiple_of(audio.channels) {
            out.fill(0);
            return Err(AudioIo::BadLength);
        }
        let mut buf = [0.0f32; 256];
        let mut got = 0;
        for chunk in out.chunks_mut(buf.len()) {
            let b = &mut buf[..chunk.len()];
            got += audio.speaker.read(b);
            for (d, s) in chunk.iter_mut().zip(b.iter()) {
                *d = (s.clamp(-1.0, 1.0) * 32_767.0).round() as i16;
            }
        }
        Ok(got)
    }

    fn send_control(&self, msg: Control) -> Result<Arc<Shared>, EngineError> {
        let shared = self.shared().ok_or(EngineError::NotRunning)?;
        drain_replies(&shared);
        // A full queue refuses the new message (nothing queued is dropped).
        shared
            .control
            .try_push(msg)
            .map_err(|_| EngineError::ControlQueueFull)?;
        Ok(shared)
    }

    /// Mute or unmute the microphone (silence is sent while muted).
    ///
    /// # Errors
    /// [`EngineError::NotRunning`].
    pub fn set_muted(&self, muted: bool) -> Result<(), EngineError> {
        self.send_control(Control::Mute(muted)).map(|_| ())
    }

    /// Change the Opus bitrate (6000..=510000 bits per second).
    ///
    /// # Errors
    /// [`EngineError::Config`] out of range, [`EngineError::NotRunning`].
    pub fn set_bitrate(&self, bps: u32) -> Result<(), EngineError> {
        let cfg = CallConfig {
            bitrate_bps: bps,
            ..self.cfg
        };
        cfg.validate()?;
        self.send_control(Control::Bitrate(bps)).map(|_| ())
    }

    /// Device mode: move the microphone (`Direction::Capture`) or the speaker
    /// (`Direction::Playout`) to another device during the call. The new device is opened at
    /// the call's rate for that direction and started before the media thread is handed its
    /// ring; the old one is closed after. The call keeps running on the old device if the new
    /// one cannot be opened.
    ///
    /// # Errors
    /// [`EngineError::NotRunning`]; [`EngineError::WrongMode`] in app-owned mode;
    /// [`EngineError::Device`] if the device cannot be opened or started;
    /// [`EngineError::Config`] if it cannot run at the call's rate; [`EngineError::Timeout`] if
    /// the device or media thread does not answer.
    pub fn switch_device(
        &self,
        direction: Direction,
        selector: DeviceSelector,
    ) -> Result<(), EngineError> {
        let tx = {
            let run = lock(&self.run);
            let r = run.as_ref().ok_or(EngineError::NotRunning)?;
            r.switch
                .clone()
                .ok_or(EngineError::WrongMode("device switching needs device mode"))?
        };
        let (answer_tx, answer) = mpsc::channel();
        tx.send((direction, selector, answer_tx))
            .map_err(|_| EngineError::Thread("the device thread has ended".into()))?;
        let limit = 2 * CONTROL_TIMEOUT;
        answer
            .recv_timeout(limit)
            .map_err(|_| EngineError::Timeout(limit.as_millis() as u64))?
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
        if let Some(r) = run.as_ref() {
            drain_replies(&r.shared);
            let tx = Box::new(next.sender(MediaStream::Audio, suite)?);
            if r.shared
                .control
                .try_push(Control::InstallSender(tx))
                .is_err()
            {
                // Not delivered: the prepared sender is dropped unused; nothing changed.
                return Err(EngineError::ControlQueueFull);
            }
        } else if let Some((state, _)) = lock(&self.paused).as_mut()
            && let Some(parts) = state.e2ee.as_mut()
        {
            *parts.tx = next.sender(MediaStream::Audio, suite)?;
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
        self.events.pop()
    }

    fn refresh_stats(&self, shared: &Shared) {
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
    }

    /// The latest statistics (published by the media thread every 50 ms; after `stop`, the
    /// final ones).
    pub fn stats(&self) -> CallStats {
        if let Some(shared) = self.shared() {
            self.refresh_stats(&shared);
        }
        *lock(&self.last_stats)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn prefill(spk: &mut SampleProducer, cfg: &CallConfig, channels: usize) {
    let n = cfg.playout_rate as usize * cfg.playout_headroom_ms as usize / 1000 * channels;
    let zeros = vec![0.0f32; n];
    spk.write(&zeros);
}

/// The media thread's ends of the rings and its frame buffers.
struct ThreadIo {
    mic: SampleConsumer,
    speaker: SampleProducer,
    ch_in: usize,
    ch_out: usize,
    mic_buf: Vec<f32>,
    mic_mono: Vec<f32>,
    spk_mono: Vec<f32>,
    spk_buf: Vec<f32>,
    max_backlog: usize,
    /// Device mode: the capture device's sample clock is the call's clock (ticks count 10 ms
    /// of captured audio, packets are stamped when the media thread takes them). App-owned
    /// mode: the monotonic wall clock (packets stamped on arrival).
    sample_clock: bool,
    /// Ticks run so far (the sample clock in device mode; the statistics cadence in both).
    clock_ticks: u64,
    /// Turns the core's counters into events for the app.
    watch: EventWatch,
}

impl ThreadIo {
    fn new(
        cfg: &CallConfig,
        mic: SampleConsumer,
        speaker: SampleProducer,
        ch_in: usize,
        ch_out: usize,
    ) -> Self {
        let fin = cfg.capture_frame();
        let fout = cfg.playout_frame();
        ThreadIo {
            mic,
            speaker,
            ch_in,
            ch_out,
            mic_buf: vec![0.0; fin * ch_in],
            mic_mono: vec![0.0; fin],
            spk_mono: vec![0.0; fout],
            spk_buf: vec![0.0; fout * ch_out],
            // Capture that piles up beyond half the ring (the media thread was starved) is
            // dropped rather than adding delay for the rest of the call.
            max_backlog: fin * ch_in * (cfg.ring_ms as usize / 20).max(2),
            sample_clock: false,
            clock_ticks: 0,
            watch: EventWatch::default(),
        }
    }
}

impl ThreadIo {
    fn now(&self, shared: &Shared) -> MediaTime {
        if self.sample_clock {
            MediaTime::from_millis(self.clock_ticks * 10)
        } else {
            shared.now()
        }
    }
}

fn media_loop(mut core: MediaCore, mut io: ThreadIo, shared: &Shared) {
    // A resumed core keeps its counters: events only for what happens from now on.
    let (auth_failures, peer_epoch) = core.e2ee_watch();
    io.watch = EventWatch::start_at(auth_failures, peer_epoch);
    // Warm-up, outside the counted region: the first tick on a new thread lets the libraries
    // set up their per-thread state (measured: 46 allocations in the first tick on this
    // thread, none after). One silent frame goes into the send chain and its playout is
    // discarded; nothing is sent (an encoder needs at least two frames of 10 ms for a packet
    // of the default 20 ms; with 10 ms packets one packet of silence is sent).
    io.mic_mono.fill(0.0);
    let outgoing = &shared.outgoing;
    let _ = core.tick(io.now(shared), &io.mic_mono, &mut io.spk_mono, &mut |pkt| {
        queue_packet(outgoing, pkt);
    });
    // Nothing is allocated per step after this point (counted with `_test-alloc`). A panic in
    // a step ends the loop but not the call's keys: the state still goes back to the call.
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        while !shared.stop.load(Ordering::Acquire) {
            let (worked, allocs) = count(|| media_step(&mut core, &mut io, shared));
            if allocs > 0 {
                shared.allocs.fetch_add(allocs, Ordering::Relaxed);
            }
            if !worked {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }));
    if ran.is_err() {
        shared.failed.store(true, Ordering::SeqCst);
        let _ = shared.events.push(CallEvent::MediaFailed);
    }
    let _ = shared.stats.push(core.stats());
    let _ = shared.state_back.push(core.into_state());
}

/// Drops (zeroizes and frees) the senders the media thread replaced, on the calling thread.
fn drain_replies(shared: &Shared) {
    while let Some(Reply::OldSender(tx)) = shared.replies.pop() {
        drop(tx);
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
                keys.commit_rotation(next)?;
                let rx = keys.receiver(
                    MediaStream::Audio,
                    cfg.cipher_suite,
                    Duration::from_millis(u64::from(cfg.key_grace_ms)),
                )?;
                let parts = E2eeParts {
                    tx: Box::new(tx),
                    rx: Box::new(rx),
                };
                MediaCore::new_with(cfg, Some(parts), ids)
            }
            Err(e) => Err(e),
        },
        keys => MediaCore::new(cfg, keys, ids),
    }
}

#[cfg(feature = "_test-alloc")]
fn count(f: impl FnOnce() -> bool) -> (bool, u64) {
    let (r, c) = parla_core::alloc_counter::count_allocations(f);
    (r, c.total())
}

#[cfg(not(feature = "_test-alloc"))]
fn count(f: impl FnOnce() -> bool) -> (bool, u64) {
    (f(), 0)
}

/// One pass of the media thread; returns whether it did anything.
fn media_step(core: &mut MediaCore, io: &mut ThreadIo, shared: &Shared) -> bool {
    // RT: queue pops, ring copies and the core's preallocated processing.
    let mut worked = false;
    while let Some(msg) = shared.control.pop() {
        worked = true;
        match msg {
            Control::Mute(m) => core.set_muted(m),
            Control::Bitrate(b) => {
                // Validated on the control side, so this cannot fail with a message.
                let _ = core.set_bitrate(b);
            }
            Control::InstallSender(tx) => {
                // The replaced sender goes back to be freed off this thread.
                let old = match core.install_sender(tx) {
                    Ok(old) | Err(old) => old,
                };
                // Cannot displace anything: `rotate_key` drains the replies before each
                // message, so at most one per rotation in flight (16 control slots, 16 here).
                let _ = shared.replies.push(Reply::OldSender(old));
            }
            Control::SwapMic(ring) => {
                let old = std::mem::replace(&mut io.mic, ring);
                let _ = shared.old_rings.push(OldRing::Mic(old));
            }
            Control::SwapSpeaker(ring) => {
                let old = std::mem::replace(&mut io.speaker, ring);
                let _ = shared.old_rings.push(OldRing::Speaker(old));
            }
        }
    }
    let frame_in = io.mic_buf.len();
    if io.mic.available() > io.max_backlog {
        io.mic.skip_to_latest(frame_in);
    }
    loop {
        // Packets are taken before every tick, so their arrival times are as fresh as the
        // clock allows even when several ticks run back to back.
        worked |= take_packets(core, io, shared);
        if io.mic.available() < frame_in {
            break;
        }
        worked = true;
        io.mic.read(&mut io.mic_buf);
        downmix(&io.mic_buf, io.ch_in, &mut io.mic_mono);
        let now = io.now(shared);
        io.clock_ticks += 1;
        let outgoing = &shared.outgoing;
        let mut emit = |pkt: &[u8]| queue_packet(outgoing, pkt);
        if core
            .tick(now, &io.mic_mono, &mut io.spk_mono, &mut emit)
            .is_err()
        {
            io.spk_mono.fill(0.0);
        }
        upmix(&io.spk_mono, io.ch_out, &mut io.spk_buf);
        io.speaker.write(&io.spk_buf);
        let (auth_failures, peer_epoch) = core.e2ee_watch();
        for ev in io
            .watch
            .tick(auth_failures, peer_epoch)
            .into_iter()
            .flatten()
        {
            let _ = shared.events.push(ev);
        }
        if io.clock_ticks.is_multiple_of(STATS_EVERY) {
            let mut s = core.stats();
            s.capture_overrun_samples = io.mic.stats().dropped;
            s.playout_underrun_samples = io.speaker.stats().underrun;
            s.queue_drops += shared.incoming.stats().dropped + shared.outgoing.stats().dropped;
            let _ = shared.stats.push(s);
        }
    }
    worked
}

fn take_packets(core: &mut MediaCore, io: &ThreadIo, shared: &Shared) -> bool {
    // RT: queue pops and the core's preallocated receive path.
    let mut any = false;
    while let Some(p) = shared.incoming.pop() {
        any = true;
        let arrival = if io.sample_clock {
            io.now(shared)
        } else {
            MediaTime::from_micros(p.arrival_us)
        };
        core.receive_packet(&p.data[..p.len], arrival);
    }
    any
}

fn queue_packet(q: &MessageQueue<PacketBuf>, pkt: &[u8]) {
    // RT: a fixed-size copy into a lock-free queue.
    if pkt.len() <= PACKET_CAP {
        let mut b = PacketBuf {
            len: pkt.len(),
            arrival_us: 0,
            data: [0; PACKET_CAP],
        };
        b.data[..pkt.len()].copy_from_slice(pkt);
        let _ = q.push(b);
    }
}

fn downmix(inter: &[f32], ch: usize, mono: &mut [f32]) {
    if ch == 1 {
        mono.copy_from_slice(inter);
        return;
    }
    let scale = 1.0 / ch as f32;
    for (m, f) in mono.iter_mut().zip(inter.chunks_exact(ch)) {
        *m = f.iter().sum::<f32>() * scale;
    }
}

fn upmix(mono: &[f32], ch: usize, inter: &mut [f32]) {
    if ch == 1 {
        inter.copy_from_slice(mono);
        return;
    }
    for (f, m) in inter.chunks_exact_mut(ch).zip(mono) {
        f.fill(*m);
    }
}

struct OpenedDevices {
    mic: SampleConsumer,
    speaker: SampleProducer,
    capture_rate: u32,
    playout_rate: u32,
}

/// Open both devices on a device thread that owns the cpal streams (they are not `Send` on
/// every platform) and answers their events by reopening them, until the call stops.
fn open_devices(
    capture: DeviceSelector,
    playout: DeviceSelector,
    cfg: &CallConfig,
    shared: Arc<Shared>,
) -> Result<(OpenedDevices, JoinHandle<()>, mpsc::Sender<SwitchRequest>), EngineError> {
    let (tx, rx) = mpsc::sync_channel::<Result<OpenedDevices, EngineError>>(1);
    let (switch_tx, switch_rx) = mpsc::channel::<SwitchRequest>();
    let headroom_cfg = *cfg;
    let ring = Duration::from_millis(u64::from(cfg.ring_ms));
    let (cap_rate, play_rate) = (cfg.capture_rate, cfg.playout_rate);
    let handle = std::thread::Builder::new()
        .name("parla-devices".into())
        .spawn(move || {
            let cap_cfg = DeviceConfig::new()
                .sample_rate(Some(cap_rate))
                .ring_channels(1)
                .ring_duration(ring);
            let play_cfg = DeviceConfig::new()
                .sample_rate(Some(play_rate))
                .ring_channels(1)
                .ring_duration(ring);
            let opened =
                CaptureStream::open(capture, cap_cfg.clone()).and_then(|(mic, mic_ring, ev_in)| {
                    PlayoutStream::open(playout, play_cfg.clone()).map(|(spk, spk_ring, ev_out)| {
                        (mic, mic_ring, ev_in, spk, spk_ring, ev_out)
                    })
                });
            let (mut mic, mic_ring, mut ev_in, mut spk, spk_ring, mut ev_out) = match opened {
                Ok(o) => o,
                Err(e) => {
                    let _ = tx.send(Err(e.into()));
                    return;
                }
            };
            let started = mic.start().and_then(|()| spk.start());
            if let Err(e) = started {
                let _ = tx.send(Err(e.into()));
                return;
            }
            let _ = tx.send(Ok(OpenedDevices {
                mic: mic_ring,
                speaker: spk_ring,
                capture_rate: mic.format().sample_rate,
                playout_rate: spk.format().sample_rate,
            }));
            while !shared.stop.load(Ordering::Acquire) {
                while let Ok((direction, selector, answer)) = switch_rx.try_recv() {
                    let res = match direction {
                        Direction::Capture => {
                            let cfg = cap_cfg.clone().fallback_to_default(false);
                            switch_capture(&mut mic, &mut ev_in, selector, cfg, &shared)
                        }
                        Direction::Playout => {
                            let cfg = play_cfg.clone().fallback_to_default(false);
                            switch_playout(
                                &mut spk,
                                &mut ev_out,
                                selector,
                                cfg,
                                &headroom_cfg,
                                &shared,
                            )
                        }
                    };
                    let _ = answer.send(res);
                }
                let mut recover_mic = false;
                let mut recover_spk = false;
                while let Some(ev) = ev_in.pop() {
                    shared.device_events.fetch_add(1, Ordering::Relaxed);
                    recover_mic |= ev.kind.needs_recovery();
                }
                while let Some(ev) = ev_out.pop() {
                    shared.device_events.fetch_add(1, Ordering::Relaxed);
                    recover_spk |= ev.kind.needs_recovery();
                }
                if (recover_mic || mic.needs_recovery()) && mic.recover().is_ok() {
                    shared.device_recoveries.fetch_add(1, Ordering::Relaxed);
                }
                if (recover_spk || spk.needs_recovery()) && spk.recover().is_ok() {
                    shared.device_recoveries.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = mic.stop();
            let _ = spk.stop();
        })
        .map_err(|e| EngineError::Thread(e.to_string()))?;
    match rx.recv() {
        Ok(Ok(opened)) => Ok((opened, handle, switch_tx)),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(EngineError::Thread(
                "device thread ended during set-up".into(),
            ))
        }
    }
}

/// Wait for the media thread to give back the ring end a swap replaced, and drop it here.
fn collect_old_ring(shared: &Shared) -> Result<(), EngineError> {
    let deadline = Instant::now() + CONTROL_TIMEOUT;
    loop {
        if let Some(old) = shared.old_rings.pop() {
            // Freed here, on the device thread.
            match old {
                OldRing::Mic(ring) => drop(ring),
                OldRing::Speaker(ring) => drop(ring),
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(EngineError::Timeout(CONTROL_TIMEOUT.as_millis() as u64));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn same_rate(direction: Direction, new: u32, old: u32) -> Result<(), EngineError> {
    if new == old {
        return Ok(());
    }
    Err(EngineError::Config(
        parla_core::ConfigError::InvalidParameter {
            name: "device",
            detail: format!("the new {direction} device runs at {new} Hz, the call at {old} Hz"),
        },
    ))
}

/// Device thread: open `selector` as the new microphone at the call's capture rate, start it,
/// hand its ring to the media thread, then close the old one.
fn switch_capture(
    mic: &mut CaptureStream,
    events: &mut parla_device::EventQueue,
    selector: DeviceSelector,
    cfg: DeviceConfig,
    shared: &Shared,
) -> Result<(), EngineError> {
    let rate = mic.format().sample_rate;
    let (mut new, ring, new_events) = CaptureStream::open(selector, cfg.sample_rate(Some(rate)))?;
    same_rate(Direction::Capture, new.format().sample_rate, rate)?;
    new.start()?;
    shared
        .control
        .try_push(Control::SwapMic(ring))
        .map_err(|_| EngineError::ControlQueueFull)?;
    collect_old_ring(shared)?;
    let mut old = std::mem::replace(mic, new);
    let _ = old.stop();
    *events = new_events;
    Ok(())
}

/// Device thread: as [`switch_capture`] for the speaker; the new ring starts with the call's
/// playout headroom of silence.
fn switch_playout(
    spk: &mut PlayoutStream,
    events: &mut parla_device::EventQueue,
    selector: DeviceSelector,
    cfg: DeviceConfig,
    call_cfg: &CallConfig,
    shared: &Shared,
) -> Result<(), EngineError> {
    let rate = spk.format().sample_rate;
    let (mut new, mut ring, new_events) =
        PlayoutStream::open(selector, cfg.sample_rate(Some(rate)))?;
    same_rate(Direction::Playout, new.format().sample_rate, rate)?;
    prefill(&mut ring, call_cfg, 1);
    new.start()?;
    shared
        .control
        .try_push(Control::SwapSpeaker(ring))
        .map_err(|_| EngineError::ControlQueueFull)?;
    collect_old_ring(shared)?;
    let mut old = std::mem::replace(spk, new);
    let _ = old.stop();
    *events = new_events;
    Ok(())
}
