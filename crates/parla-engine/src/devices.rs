//! Device mode (feature `devices`): the call's device thread owns the cpal streams (they are
//! not `Send` on every platform), reopens failed devices, and switches devices on request.
//!
//! A switch never waits for the media thread: the new device is opened and started, its ring
//! end goes to the media thread in one control message, and the old device is closed at once.
//! The ring end the media thread gives up comes back on the replies queue and is dropped by
//! whichever control-side thread drains it next (this thread drains it every 20 ms). So a media
//! thread that is slow, stalled or gone can delay the switch's effect but never strand a ring:
//! the call works on the new device as soon as the media thread runs again.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use parla_core::queue::{SampleConsumer, SampleProducer};
use parla_device::{
    CaptureStream, DeviceConfig, DeviceSelector, Direction, EventQueue, PlayoutStream,
};

use crate::config::CallConfig;
use crate::error::EngineError;
use crate::rt::{Control, Shared};

/// A device switch request to the device thread, with where to answer.
pub(crate) type SwitchRequest = (
    Direction,
    DeviceSelector,
    mpsc::Sender<Result<(), EngineError>>,
);

/// The devices opened for a run.
pub(crate) struct OpenedDevices {
    pub(crate) mic: SampleConsumer,
    pub(crate) speaker: SampleProducer,
    pub(crate) capture_rate: u32,
    pub(crate) playout_rate: u32,
}

/// The device thread of a run, and where to send it switch requests.
pub(crate) struct DeviceThread {
    pub(crate) handle: JoinHandle<()>,
    pub(crate) switch: mpsc::Sender<SwitchRequest>,
}

/// Open both devices on a device thread that owns the cpal streams and answers their events by
/// reopening them, until the call stops.
pub(crate) fn open_devices(
    capture: DeviceSelector,
    playout: DeviceSelector,
    cfg: &CallConfig,
    shared: Arc<Shared>,
) -> Result<(OpenedDevices, DeviceThread), EngineError> {
    let (tx, rx) = mpsc::sync_channel::<Result<OpenedDevices, EngineError>>(1);
    let (switch_tx, switch_rx) = mpsc::channel::<SwitchRequest>();
    let call_cfg = *cfg;
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
                            switch_playout(&mut spk, &mut ev_out, selector, cfg, &call_cfg, &shared)
                        }
                    };
                    let _ = answer.send(res);
                }
                crate::call::drain_replies(&shared);
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
        Ok(Ok(opened)) => Ok((
            opened,
            DeviceThread {
                handle,
                switch: switch_tx,
            },
        )),
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
/// hand its ring to the media thread, then close the old one (no waiting: see the module docs).
fn switch_capture(
    mic: &mut CaptureStream,
    events: &mut EventQueue,
    selector: DeviceSelector,
    cfg: DeviceConfig,
    shared: &Shared,
) -> Result<(), EngineError> {
    let rate = mic.format().sample_rate;
    let (mut new, ring, new_events) = CaptureStream::open(selector, cfg.sample_rate(Some(rate)))?;
    same_rate(Direction::Capture, new.format().sample_rate, rate)?;
    new.start()?;
    // A full queue refuses the ring: the new device is closed, the call stays on the old one.
    shared
        .control
        .try_push(Control::SwapMic(ring))
        .map_err(|_| EngineError::ControlQueueFull)?;
    let mut old = std::mem::replace(mic, new);
    let _ = old.stop();
    *events = new_events;
    Ok(())
}

/// Device thread: as [`switch_capture`] for the speaker; the new ring starts with the call's
/// playout headroom of silence.
fn switch_playout(
    spk: &mut PlayoutStream,
    events: &mut EventQueue,
    selector: DeviceSelector,
    cfg: DeviceConfig,
    call_cfg: &CallConfig,
    shared: &Shared,
) -> Result<(), EngineError> {
    let rate = spk.format().sample_rate;
    let (mut new, mut ring, new_events) =
        PlayoutStream::open(selector, cfg.sample_rate(Some(rate)))?;
    same_rate(Direction::Playout, new.format().sample_rate, rate)?;
    crate::call::prefill(&mut ring, call_cfg, 1);
    new.start()?;
    shared
        .control
        .try_push(Control::SwapSpeaker(ring))
        .map_err(|_| EngineError::ControlQueueFull)?;
    let mut old = std::mem::replace(spk, new);
    let _ = old.stop();
    *events = new_events;
    Ok(())
}
