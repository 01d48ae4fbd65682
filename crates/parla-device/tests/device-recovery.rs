//! Device failures on headless ALSA devices (see `common`): a named device that cannot be
//! opened falls back to the default one; a device that disappears is replaced by the default one
//! through `recover`, on the same ring; a playing stream stays playing across `recover`.
//!
//! What the headless setup cannot do: make a running ALSA stream fail (the `file` plugin
//! swallows its read and write errors), so cpal's error callback is exercised by the unit tests
//! in `src/event.rs` with real `cpal::Error` values, and `recover` is called here the way the
//! engine calls it when an event needs recovery.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and wait

mod common;

use std::time::Duration;

use common::{in_alsa_sandbox, max_error, wait_until};
use parla_device::{
    CaptureStream, DeviceConfig, DeviceError, DeviceEvent, DeviceEventKind, DeviceSelector,
    Direction, SampleFormat,
};

const LIMIT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(10);
const N: usize = 4_800; // 100 ms

fn config() -> DeviceConfig {
    // S16 mono: what the test microphones pass through unconverted (see `common`).
    DeviceConfig::new()
        .sample_format(Some(SampleFormat::I16))
        .ring_duration(Duration::from_millis(500))
}

fn drain(events: &parla_device::EventQueue) -> Vec<DeviceEventKind> {
    std::iter::from_fn(|| events.pop())
        .map(|e: DeviceEvent| {
            assert_eq!(e.direction, Direction::Capture);
            e.kind
        })
        .collect()
}

#[test]
fn unusable_named_device_falls_back_to_the_default() {
    in_alsa_sandbox(
        "unusable_named_device_falls_back_to_the_default",
        LIMIT,
        |sb| {
            for name in ["missing_mic", "no_such_device"] {
                let (mut mic, mut ring, events) =
                    CaptureStream::open(DeviceSelector::Name(name.into()), config())
                        .expect("fell back");
                assert!(mic.fell_back_to_default(), "{name}");
                assert_eq!(mic.device_id(), "default");
                assert_eq!(drain(&events), [DeviceEventKind::FellBackToDefault]);
                mic.start().expect("start");
                assert!(wait_until(WAIT, || ring.available() >= N));
                drop(mic);
                let mut got = vec![0.0; N];
                ring.read(&mut got);
                let err = max_error(&got, &sb.mic_signal()[..N]);
                println!("{name}: fell back to default, {N} samples, max error {err:e}");
                assert_eq!(err, 0.0, "the default microphone's signal arrived");
            }
            // Without fallback the caller sees why.
            let strict = config().fallback_to_default(false);
            match CaptureStream::open(DeviceSelector::Name("missing_mic".into()), strict.clone()) {
                Err(DeviceError::Backend {
                    direction, device, ..
                }) => {
                    assert_eq!(
                        (direction, device.as_str()),
                        (Direction::Capture, "missing_mic")
                    );
                }
                other => panic!("expected a backend error, got {other:?}"),
            }
            match CaptureStream::open(DeviceSelector::Name("no_such_device".into()), strict) {
                Err(DeviceError::NotFound { name, .. }) => assert_eq!(name, "no_such_device"),
                other => panic!("expected NotFound, got {other:?}"),
            }
        },
    );
}

#[test]
fn disappeared_device_is_replaced_by_the_default_on_the_same_ring() {
    in_alsa_sandbox(
        "disappeared_device_is_replaced_by_the_default_on_the_same_ring",
        LIMIT,
        |sb| {
            let (mut mic, mut ring, events) =
                CaptureStream::open(DeviceSelector::Name("usb_mic".into()), config())
                    .expect("open usb_mic");
            assert_eq!(mic.device_id(), "usb_mic");
            assert!(!mic.fell_back_to_default() && !mic.needs_recovery());
            mic.start().expect("start");
            assert!(wait_until(WAIT, || ring.available() >= N));
            mic.stop().expect("stop");
            let mut got = vec![0.0; N];
            ring.read(&mut got);
            assert_eq!(
                max_error(&got, &sb.usb_signal()[..N]),
                0.0,
                "usb_mic's signal"
            );

            // The device goes away (on ALSA: its file is gone, so it can no longer be opened).
            std::fs::remove_file(sb.usb_file()).expect("unplug usb_mic");
            let format = mic.recover().expect("recovered on the default device");
            assert_eq!(mic.device_id(), "default");
            assert!(mic.fell_back_to_default() && !mic.needs_recovery());
            assert_eq!((format.sample_rate, format.ring_channels), (48_000, 1));
            assert_eq!(
                drain(&events),
                [
                    DeviceEventKind::FellBackToDefault,
                    DeviceEventKind::Recovered
                ]
            );
            // What is left in the ring belongs to the old device (a callback already running
            // when `stop` returned may have added a period): the engine skips it. The new stream
            // is paused, as the old one was, so nothing new arrives until it is started.
            ring.skip_to_latest(0);
            assert_eq!(ring.available(), 0);
            mic.start().expect("start again");
            assert!(wait_until(WAIT, || ring.available() >= N));
            drop(mic);
            ring.read(&mut got);
            let err = max_error(&got, &sb.mic_signal()[..N]);
            println!("after recovery: {N} samples from the default microphone, max error {err:e}");
            assert_eq!(
                err, 0.0,
                "the same consumer now gets the default microphone"
            );
        },
    );
}

#[test]
fn recover_keeps_a_playing_stream_playing() {
    in_alsa_sandbox("recover_keeps_a_playing_stream_playing", LIMIT, |_sb| {
        let (mut mic, mut ring, _events) =
            CaptureStream::open(DeviceSelector::Default, config()).expect("open");
        mic.start().expect("start");
        assert!(wait_until(WAIT, || mic.stats().callbacks > 10));
        for round in 0..3 {
            mic.recover().expect("recover");
            assert!(!mic.fell_back_to_default());
            let before = mic.stats().callbacks;
            ring.skip_to_latest(0);
            assert!(
                wait_until(WAIT, || mic.stats().callbacks > before + 10
                    && ring.available() > 0),
                "round {round}: callbacks stopped after recover"
            );
        }
        println!("3 recoveries, {} callbacks in all", mic.stats().callbacks);
    });
}
