//! The real-time side of a [`Call`](crate::Call): the state the call's threads share, the media
//! thread's loop, and the app audio thread's endpoints.
//!
//! Everything here runs on the media thread or an app/device audio thread, so it never
//! allocates, locks, logs or makes a system call (the media thread's 1 ms idle sleep is the one
//! exception, marked below). `clippy.toml` lists the disallowed methods (locks, sleeps, spawns);
//! this module does not allow them except where a comment says why. The control side (`call.rs`)
//! owns everything that may wait.
//!
//! # The app audio endpoints
//! In app-owned mode the app's capture thread and playout thread each own one end of a ring.
//! The end is passed like a token through a one-slot lock-free queue: `push_capture` takes the
//! capture end, writes, and puts it back; `pull_playout` does the same with the playout end. The
//! two directions never share anything, so two paced audio threads never see
//! [`AudioIo::Busy`](crate::AudioIo::Busy) (only two threads pushing *at once* do, a caller
//! bug). No mutex: a token that is out is simply not there for a second caller.
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use parla_core::MediaTime;
use parla_core::queue::{MessageQueue, SampleConsumer, SampleProducer};
use parla_rtp::e2ee::SframeSender;

use crate::config::{CallConfig, MAX_WIRE_PACKET};
use crate::events::{CallEvent, EventWatch};
use crate::media::{MediaCore, SendState};
use crate::stats::CallStats;

/// Bytes a queued packet can hold.
pub(crate) const PACKET_CAP: usize = MAX_WIRE_PACKET;
/// The media thread publishes statistics every this many ticks.
const STATS_EVERY: u64 = 5;

/// A packet in a queue (fixed size, moved by value: no allocation).
#[derive(Clone, Copy)]
pub(crate) struct PacketBuf {
    pub(crate) len: usize,
    pub(crate) arrival_us: u64,
    pub(crate) data: [u8; PACKET_CAP],
}

impl PacketBuf {
    /// A copy of `pkt` (at most [`PACKET_CAP`] bytes: the caller checks).
    pub(crate) fn new(pkt: &[u8], arrival_us: u64) -> Self {
        let mut b = PacketBuf {
            len: pkt.len(),
            arrival_us,
            data: [0; PACKET_CAP],
        };
        b.data[..pkt.len()].copy_from_slice(pkt);
        b
    }
}

/// Messages from the control side to the media thread. Mute and bitrate are not messages: they
/// are atomics the media thread reads every pass (they can never be refused or lost).
pub(crate) enum Control {
    /// Protect with these senders (audio, and video in calls with video) from now on (a key
    /// rotation, one message so both streams move together); the old ones come back as
    /// [`Reply::Sender`]s to be dropped off the media thread.
    InstallSender(Box<SframeSender>, Option<Box<SframeSender>>),
    /// Device mode: use this capture ring from now on (a switched microphone).
    #[cfg(feature = "devices")]
    SwapMic(SampleConsumer),
    /// Device mode: use this playout ring from now on (a switched speaker).
    #[cfg(feature = "devices")]
    SwapSpeaker(SampleProducer),
    /// Test builds: the media thread stops working for this long (to force control timeouts).
    #[cfg(feature = "_test-hooks")]
    Stall(std::time::Duration),
    /// Test builds: the media thread's processing panics (to test failure reporting).
    #[cfg(feature = "_test-hooks")]
    Panic,
}

/// What the media thread replaced and gives back, to be freed off it.
pub(crate) enum Reply {
    /// A sender replaced by a rotation, to be dropped (zeroized, freed) on a control thread.
    Sender(Box<SframeSender>),
    /// The capture ring end a device switch replaced.
    #[cfg(feature = "devices")]
    Mic(SampleConsumer),
    /// The playout ring end a device switch replaced.
    #[cfg(feature = "devices")]
    Speaker(SampleProducer),
}

/// State shared by the call handle and its threads. It lives as long as the call (not one
/// run), so the app's threads reach it without a lock: packets, audio endpoints, mute and
/// bitrate work the same before, during and after a run.
pub(crate) struct Shared {
    pub(crate) incoming: MessageQueue<PacketBuf>,
    pub(crate) outgoing: MessageQueue<PacketBuf>,
    pub(crate) control: MessageQueue<Control>,
    pub(crate) replies: MessageQueue<Reply>,
    pub(crate) stats: MessageQueue<CallStats>,
    /// Events for the app.
    pub(crate) events: MessageQueue<CallEvent>,
    /// What the media thread hands back when it ends (even after a panic): the state the next
    /// start continues with.
    pub(crate) state_back: MessageQueue<SendState>,
    /// App-owned mode: the capture ring's app end (a token: see the module docs).
    pub(crate) mic_end: MessageQueue<SampleProducer>,
    /// App-owned mode: the playout ring's app end.
    pub(crate) speaker_end: MessageQueue<SampleConsumer>,
    /// A run is on (the media thread takes packets).
    pub(crate) running: AtomicBool,
    /// The run is in app-owned mode (the audio endpoints are handed out).
    pub(crate) app_audio: AtomicBool,
    /// Tells the media thread (and the device thread) to end.
    pub(crate) stop: AtomicBool,
    /// The media thread's processing panicked: the run ended, its state went back to the call.
    pub(crate) failed: AtomicBool,
    /// Microphone muted (read by the media thread every pass).
    pub(crate) muted: AtomicBool,
    /// The Opus bitrate wanted (validated on the control side; applied by the media thread).
    pub(crate) bitrate_bps: AtomicU32,
    pub(crate) allocs: AtomicU64,
    pub(crate) device_events: AtomicU64,
    pub(crate) device_recoveries: AtomicU64,
    /// Packets handed to `receive_packet` while running (also those a full queue dropped).
    pub(crate) received: AtomicU64,
    /// Capture samples dropped by the rings of earlier runs.
    pub(crate) overrun_before: AtomicU64,
    /// Playout samples missing from the rings of earlier runs.
    pub(crate) underrun_before: AtomicU64,
    /// The video queues, when the call has video.
    pub(crate) video: Option<crate::video_io::VideoShared>,
    created: Instant,
    /// When the current run started, microseconds after `created` (the run's clock origin).
    run_start_us: AtomicU64,
}

impl Shared {
    /// The shared state of a call with `cfg`.
    pub(crate) fn new(cfg: &CallConfig, events: MessageQueue<CallEvent>) -> Self {
        let q = cfg.packet_queue;
        Shared {
            incoming: MessageQueue::new(q),
            outgoing: MessageQueue::new(q),
            control: MessageQueue::new(16),
            // Room for every control message's reply plus the run's end.
            replies: MessageQueue::new(32),
            stats: MessageQueue::new(2),
            events,
            state_back: MessageQueue::new(1),
            mic_end: MessageQueue::new(1),
            speaker_end: MessageQueue::new(1),
            running: AtomicBool::new(false),
            app_audio: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            muted: AtomicBool::new(false),
            bitrate_bps: AtomicU32::new(cfg.bitrate_bps),
            allocs: AtomicU64::new(0),
            device_events: AtomicU64::new(0),
            device_recoveries: AtomicU64::new(0),
            received: AtomicU64::new(0),
            overrun_before: AtomicU64::new(0),
            underrun_before: AtomicU64::new(0),
            video: cfg.video.map(|_| crate::video_io::VideoShared::new()),
            created: Instant::now(),
            run_start_us: AtomicU64::new(0),
        }
    }

    fn since_created_us(&self) -> u64 {
        self.created.elapsed().as_micros() as u64
    }

    /// Marks now as the run's clock origin (control side, before the media thread starts).
    pub(crate) fn start_clock(&self) {
        self.run_start_us
            .store(self.since_created_us(), Ordering::SeqCst);
    }

    /// The run's clock: microseconds since the run started.
    pub(crate) fn now(&self) -> MediaTime {
        let origin = self.run_start_us.load(Ordering::Relaxed);
        MediaTime::from_micros(self.since_created_us().saturating_sub(origin))
    }
}

/// The media thread's ends of the rings and its frame buffers.
pub(crate) struct ThreadIo {
    pub(crate) mic: SampleConsumer,
    pub(crate) speaker: SampleProducer,
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
    pub(crate) sample_clock: bool,
    /// Ticks run so far (the sample clock in device mode; the statistics cadence in both).
    clock_ticks: u64,
    /// The bitrate the core runs at.
    bitrate_bps: u32,
    /// The media thread's side of the call's video, when it has video.
    pub(crate) video: Option<crate::video_io::MediaVideo>,
    /// Turns the core's counters into events for the app.
    watch: EventWatch,
}

impl ThreadIo {
    pub(crate) fn new(
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
            bitrate_bps: cfg.bitrate_bps,
            video: None,
            watch: EventWatch::default(),
        }
    }

    fn now(&self, shared: &Shared) -> MediaTime {
        if self.sample_clock {
            MediaTime::from_millis(self.clock_ticks * 10)
        } else {
            shared.now()
        }
    }
}

/// The media thread: runs until `shared.stop`, then hands the state back (also after a panic
/// in the processing, which is reported as a failed call).
pub(crate) fn media_loop(mut core: MediaCore, mut io: ThreadIo, shared: &Shared) {
    // A resumed core keeps its counters: events only for what happens from now on.
    let (auth_failures, peer_epoch) = core.e2ee_watch();
    io.watch = EventWatch::start_at(auth_failures, peer_epoch);
    // Warm-up, outside the counted region: the first tick on a new thread lets the libraries
    // set up their per-thread state (measured: 46 allocations in the first tick on this
    // thread, none after). One silent frame goes into the send chain and its playout is
    // discarded; nothing is sent (an encoder needs at least two frames of 10 ms for a packet
    // of the default 20 ms; with 10 ms packets one packet of silence is sent).
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
                // The one syscall of the media thread: an idle wait between ticks.
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }));
    if ran.is_err() {
        shared.failed.store(true, Ordering::SeqCst);
        let _ = shared.events.push(CallEvent::MediaFailed);
    }
    let _ = shared.stats.push(ring_stats(core.stats(), &io, shared));
    shared
        .overrun_before
        .fetch_add(io.mic.stats().dropped, Ordering::SeqCst);
    shared
        .underrun_before
        .fetch_add(io.speaker.stats().underrun, Ordering::SeqCst);
    let _ = shared.state_back.push(core.into_state());
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

/// Applies the control messages and the mute/bitrate wishes; returns whether anything came.
fn apply_control(core: &mut MediaCore, io: &mut ThreadIo, shared: &Shared) -> bool {
    // RT: queue pops, atomics and encoder ctl calls.
    let mut worked = false;
    let muted = shared.muted.load(Ordering::Relaxed);
    if muted != core.muted() {
        core.set_muted(muted);
    }
    let bps = shared.bitrate_bps.load(Ordering::Relaxed);
    if bps != io.bitrate_bps {
        io.bitrate_bps = bps;
        // Validated on the control side, so this cannot fail with a message.
        let _ = core.set_bitrate(bps);
    }
    while let Some(msg) = shared.control.pop() {
        worked = true;
        // Every reply has room: at most 16 control messages are in flight and the control
        // side drains the replies before sending more (32 slots).
        let reply = match msg {
            Control::InstallSender(tx, vtx) => {
                if let Some(vtx) = vtx {
                    let (Ok(old) | Err(old)) = core.install_video_sender(vtx);
                    let _ = shared.replies.push(Reply::Sender(old));
                }
                match core.install_sender(tx) {
                    Ok(old) | Err(old) => Reply::Sender(old),
                }
            }
            #[cfg(feature = "devices")]
            Control::SwapMic(ring) => Reply::Mic(std::mem::replace(&mut io.mic, ring)),
            #[cfg(feature = "devices")]
            Control::SwapSpeaker(ring) => Reply::Speaker(std::mem::replace(&mut io.speaker, ring)),
            #[cfg(feature = "_test-hooks")]
            Control::Stall(d) => {
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(d);
                continue;
            }
            #[cfg(feature = "_test-hooks")]
            Control::Panic => panic!("test hook: the media thread fails"),
        };
        let _ = shared.replies.push(reply);
    }
    worked
}

/// One pass of the media thread; returns whether it did anything.
fn media_step(core: &mut MediaCore, io: &mut ThreadIo, shared: &Shared) -> bool {
    // RT: queue pops, ring copies and the core's preallocated processing.
    let mut worked = apply_control(core, io, shared);
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
            .chain(core.take_events())
            .flatten()
        {
            let _ = shared.events.push(ev);
        }
        if io.clock_ticks.is_multiple_of(STATS_EVERY) {
            let _ = shared.stats.push(ring_stats(core.stats(), io, shared));
        }
    }
    let now = io.now(shared);
    if let (Some(vs), Some(mv)) = (shared.video.as_ref(), io.video.as_mut()) {
        let outgoing = &shared.outgoing;
        worked |= crate::video_io::media_video_step(core, mv, vs, now, &mut |pkt| {
            queue_packet(outgoing, pkt);
        });
    }
    worked
}

/// The core's statistics with the rings' and queues' counters (of this run and the earlier
/// ones).
fn ring_stats(mut s: CallStats, io: &ThreadIo, shared: &Shared) -> CallStats {
    s.capture_overrun_samples =
        shared.overrun_before.load(Ordering::Relaxed) + io.mic.stats().dropped;
    s.playout_underrun_samples =
        shared.underrun_before.load(Ordering::Relaxed) + io.speaker.stats().underrun;
    s.queue_drops += shared.incoming.stats().dropped + shared.outgoing.stats().dropped;
    s
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
        let _ = q.push(PacketBuf::new(pkt, 0));
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

/// Runs `f` with the app end held in `slot` (a token: see the module docs), putting it back
/// after. `None` when the end is not there (not running, or another thread holds it).
pub(crate) fn with_end<T, R>(slot: &MessageQueue<T>, f: impl FnOnce(&mut T) -> R) -> Option<R> {
    // RT: a lock-free pop and push of a small value.
    let mut end = slot.pop()?;
    let r = f(&mut end);
    // Cannot fail: the slot holds one token and we had it.
    let _ = slot.try_push(end);
    Some(r)
}
