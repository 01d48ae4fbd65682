//! Acceptance: real cpal streams on headless ALSA devices (see `common`). A known signal fed as
//! the microphone arrives in the capture ring bit-exactly (or within the sample format's
//! precision), and samples written to the playout ring arrive in the speaker file, at every
//! linear sample format ALSA offers and with channel mapping.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and wait

mod common;

use std::time::Duration;

use common::{FORMATS, RATE, in_alsa_sandbox, max_error, wait_until};
use parla_device::{CaptureStream, DeviceConfig, DeviceSelector, PlayoutStream, SampleFormat};

const LIMIT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(10);

#[test]
fn microphone_file_arrives_in_the_capture_ring() {
    in_alsa_sandbox("microphone_file_arrives_in_the_capture_ring", LIMIT, |sb| {
        let want = sb.mic_signal();
        let n = RATE as usize; // 1 s of the 4 s file
        let mut failures = Vec::new();
        for (format, device_channels) in FORMATS
            .iter()
            .map(|f| (*f, 1u16))
            .chain([(SampleFormat::I16, 2)])
        {
            let config = DeviceConfig::new()
                .sample_format(Some(format))
                .device_channels(Some(device_channels))
                .ring_duration(Duration::from_secs(2))
                .fallback_to_default(false);
            let name = match device_channels {
                1 => format!("mic_{format}"),
                _ => format!("mic_{format}_x{device_channels}"),
            };
            let (mut mic, mut ring, events) =
                CaptureStream::open(DeviceSelector::Name(name.clone()), config).expect("open mic");
            assert_eq!(mic.device_id(), name);
            let fmt = mic.format();
            assert_eq!(fmt.sample_format, format);
            assert_eq!(fmt.sample_rate, RATE);
            assert_eq!(fmt.device_channels, device_channels);
            assert_eq!(fmt.ring_channels, 1);
            assert!(!mic.fell_back_to_default());
            mic.start().expect("start");
            assert!(
                wait_until(WAIT, || ring.available() >= n),
                "{format}: only {} samples arrived",
                ring.available()
            );
            let stats = mic.stats();
            drop(mic);
            let mut got = vec![0.0f32; n];
            assert_eq!(ring.read(&mut got), n);
            let err = max_error(&got, &want[..n]);
            if err > format.precision() {
                let bad: Vec<(usize, f32, i16)> = got
                    .iter()
                    .zip(&want)
                    .enumerate()
                    .filter(|(_, (g, w))| {
                        (**g - f32::from(**w) / 32768.0).abs() > format.precision()
                    })
                    .take(6)
                    .map(|(i, (g, w))| (i, *g * 32768.0, *w))
                    .collect();
                println!("{format}: first differences (index, got x 32768, want): {bad:?}");
            }
            let exact = got
                .iter()
                .zip(&want)
                .all(|(g, w)| *g == f32::from(*w) / 32768.0);
            println!(
                "capture {format} x{device_channels}: {n} samples, max error {err:e} (bit-exact: \
                 {exact}), {} callbacks, {} frames, ring overrun {} samples, buffer {:?}",
                stats.callbacks,
                stats.frames,
                ring.stats().dropped,
                fmt.buffer_frames
            );
            if err > format.precision() || (format.bits() >= 16 && !exact) {
                failures.push(format!("{format} x{device_channels}: error {err}"));
            }
            assert_eq!(events.pop(), None, "no device event expected");
        }
        assert!(failures.is_empty(), "{failures:?}");
    });
}

#[test]
fn playout_ring_arrives_in_the_speaker_file() {
    in_alsa_sandbox("playout_ring_arrives_in_the_speaker_file", LIMIT, |sb| {
        let signal = sb.mic_signal();
        let n = RATE as usize / 2; // 0.5 s
        let want: Vec<f32> = signal[..n]
            .iter()
            .map(|s| f32::from(*s) / 32768.0)
            .collect();
        for (format, device_channels, ring_channels) in FORMATS
            .iter()
            .map(|f| (*f, 1u16, 1u16))
            .chain([(SampleFormat::I16, 2, 1), (SampleFormat::F32, 1, 2)])
        {
            let config = DeviceConfig::new()
                .sample_format(Some(format))
                .device_channels(Some(device_channels))
                .ring_channels(ring_channels)
                .ring_duration(Duration::from_secs(1));
            let (mut spk, mut ring, events) =
                PlayoutStream::open(DeviceSelector::Default, config).expect("open default speaker");
            let fmt = spk.format();
            assert_eq!((fmt.sample_format, fmt.sample_rate), (format, RATE));
            assert_eq!(
                (fmt.device_channels, fmt.ring_channels),
                (device_channels, ring_channels)
            );
            // Prefill before starting, so the file starts with the signal.
            let interleaved: Vec<f32> = want
                .iter()
                .flat_map(|s| std::iter::repeat_n(*s, usize::from(ring_channels)))
                .collect();
            assert_eq!(ring.write(&interleaved), interleaved.len());
            let capacity = ring.free() + interleaved.len();
            spk.start().expect("start");
            // Drained, and callbacks went on past it (so every period reached the file).
            assert!(
                wait_until(WAIT, || ring.free() == capacity
                    && ring.stats().underrun > 4096),
                "{format}: the playout ring was not drained"
            );
            let stats = spk.stats();
            drop(spk); // closes the file
            let file = sb.speaker();
            let start = file
                .iter()
                .position(|s| *s != 0)
                .expect("signal in speaker file");
            assert!(file.len() >= start + n, "{format}: speaker file too short");
            let got: Vec<f32> = file[start..start + n]
                .iter()
                .map(|s| f32::from(*s) / 32768.0)
                .collect();
            let err = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs())
                .fold(0.0f32, f32::max);
            println!(
                "playout {format} ring x{ring_channels} -> device x{device_channels}: {n} samples \
                 at file offset {start}, max error {err:e}, {} callbacks, ring underrun {} \
                 samples",
                stats.callbacks,
                ring.stats().underrun
            );
            assert_eq!(start, 0, "{format}: the prefilled signal starts the file");
            assert!(err <= format.precision(), "{format}: error {err}");
            assert_eq!(events.pop(), None, "no device event expected");
        }
    });
}

#[test]
fn microphone_to_speaker_through_both_rings() {
    in_alsa_sandbox("microphone_to_speaker_through_both_rings", LIMIT, |sb| {
        let signal = sb.mic_signal();
        let n = RATE as usize; // 1 s
        // S16 mono: what the default microphone's `plug` passes through unconverted (see
        // `common`); the speaker converts from the device's default format.
        let mic_config = DeviceConfig::new()
            .sample_format(Some(SampleFormat::I16))
            .ring_duration(Duration::from_secs(2));
        let (mut mic, mut mic_ring, _) =
            CaptureStream::open(DeviceSelector::Default, mic_config).expect("open mic");
        let (mut spk, mut spk_ring, _) =
            PlayoutStream::open(DeviceSelector::Default, DeviceConfig::new())
                .expect("open speaker");
        mic.start().expect("start mic");
        spk.start().expect("start speaker");
        // The control loop an engine runs, minus the processing: 10 ms at a time, mic -> speaker.
        let mut frame = [0.0f32; 480];
        let mut moved = 0;
        let ok = wait_until(WAIT, || {
            while moved < n && mic_ring.available() >= frame.len() && spk_ring.free() >= frame.len()
            {
                mic_ring.read(&mut frame);
                spk_ring.write(&frame);
                moved += frame.len();
            }
            moved >= n
        });
        assert!(ok, "moved only {moved} samples");
        assert!(
            wait_until(WAIT, || spk_ring.free() == 9_600),
            "speaker ring not drained"
        );
        let underrun = spk_ring.stats().underrun;
        assert!(wait_until(WAIT, || spk_ring.stats().underrun > underrun + 4096));
        drop(spk);
        drop(mic);
        // The unpaced speaker plays silence whenever the loop falls behind; the signal has no
        // zero sample, so dropping zeros recovers what was played.
        let played: Vec<i16> = sb.speaker().into_iter().filter(|s| *s != 0).collect();
        println!(
            "loopback: {moved} samples moved, {} non-silent samples in the speaker file, capture \
             overrun {} samples, playout underrun {} samples",
            played.len(),
            mic_ring.stats().dropped,
            spk_ring.stats().underrun
        );
        assert!(played.len() >= n);
        if played[..n] != signal[..n] {
            let first = played.iter().zip(&signal).position(|(a, b)| a != b);
            let i = first.unwrap_or(0);
            println!(
                "first difference at {i}: {:?} vs {:?}",
                &played[i..i + 8],
                &signal[i..i + 8]
            );
        }
        assert!(
            played[..n] == signal[..n],
            "the speaker got the microphone bit-exactly"
        );
    });
}
