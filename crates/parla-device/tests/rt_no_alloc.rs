//! The capture and playout callbacks never touch the allocator (STYLE.md R2, T1), counted
//! inside the callbacks on cpal's own device thread (feature `_test-alloc`), on real streams of
//! the headless ALSA devices (see `common`), at several sample formats and channel mappings,
//! from the very first callback.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and wait

mod common;

use std::time::Duration;

use common::{in_alsa_sandbox, wait_until};
use parla_core::alloc_counter::is_installed;
use parla_device::{CaptureStream, DeviceConfig, DeviceSelector, PlayoutStream, SampleFormat};

#[global_allocator]
static A: parla_core::alloc_counter::CountingAllocator =
    parla_core::alloc_counter::CountingAllocator;

const CALLBACKS: u64 = 1_000;

#[test]
fn device_callbacks_do_not_allocate() {
    in_alsa_sandbox(
        "device_callbacks_do_not_allocate",
        Duration::from_secs(60),
        |_sb| {
            assert!(is_installed(), "the counting allocator must be installed");
            // Counting is per thread; it must also see allocations on a thread that is not the
            // test's own, as cpal's device thread is.
            let seen = std::thread::spawn(|| {
                parla_core::alloc_counter::count_allocations(|| std::hint::black_box(vec![1u8; 64]))
                    .1
                    .allocs
            })
            .join()
            .expect("thread");
            assert!(seen > 0, "allocations on another thread are counted");
            let cases = [
                (SampleFormat::I16, 1, 1),
                (SampleFormat::F32, 2, 1),
                (SampleFormat::I24, 1, 2),
                (SampleFormat::U8, 2, 2),
            ];
            for (format, device_channels, ring_channels) in cases {
                let config = DeviceConfig::new()
                    .sample_format(Some(format))
                    .device_channels(Some(device_channels))
                    .ring_channels(ring_channels);
                let (mut mic, mut mic_ring, _) =
                    CaptureStream::open(DeviceSelector::Default, config.clone()).expect("open mic");
                let (mut spk, mut spk_ring, _) =
                    PlayoutStream::open(DeviceSelector::Default, config).expect("open speaker");
                mic.start().expect("start mic");
                spk.start().expect("start speaker");
                // The engine's side keeps moving samples so both rings see data, overruns and
                // underruns while the callbacks run.
                let mut frame = vec![0.0f32; 480 * usize::from(ring_channels)];
                let ok = wait_until(Duration::from_secs(20), || {
                    if mic_ring.available() >= frame.len() {
                        mic_ring.read(&mut frame);
                        spk_ring.write(&frame);
                    }
                    mic.stats().callbacks >= CALLBACKS && spk.stats().callbacks >= CALLBACKS
                });
                assert!(
                    ok,
                    "{format}: too few callbacks: {:?} {:?}",
                    mic.stats(),
                    spk.stats()
                );
                let (mic_stats, spk_stats) = (mic.stats(), spk.stats());
                let (mic_allocs, spk_allocs) = (mic.callback_allocs(), spk.callback_allocs());
                drop(mic);
                drop(spk);
                println!(
                    "{format} device x{device_channels} ring x{ring_channels}: capture {} callbacks \
                 ({} frames) {mic_allocs} allocator calls, overrun {} samples; playout {} \
                 callbacks ({} frames) {spk_allocs} allocator calls, underrun {} samples",
                    mic_stats.callbacks,
                    mic_stats.frames,
                    mic_ring.stats().dropped,
                    spk_stats.callbacks,
                    spk_stats.frames,
                    spk_ring.stats().underrun
                );
                assert_eq!(mic_allocs, 0, "{format}: the capture callback allocated");
                assert_eq!(spk_allocs, 0, "{format}: the playout callback allocated");
            }
        },
    );
}
