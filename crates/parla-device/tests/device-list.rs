//! Listing devices on headless ALSA devices (see `common`): default flags, names, and the
//! rates, channel counts and sample formats each device offers.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print

mod common;

use std::time::Duration;

use common::in_alsa_sandbox;
use parla_device::{DeviceManager, SampleFormat};

#[test]
fn lists_default_and_named_devices_with_their_configurations() {
    in_alsa_sandbox(
        "lists_default_and_named_devices_with_their_configurations",
        Duration::from_secs(60),
        |_sb| {
            let manager = DeviceManager::new().expect("host");
            let devices = manager.list().expect("list");
            for d in &devices {
                println!(
                    "{:>14} {:<28} default in/out {}/{}, {} input and {} output ranges",
                    d.id,
                    d.name,
                    d.is_default_input,
                    d.is_default_output,
                    d.input.len(),
                    d.output.len()
                );
            }
            let default = &devices[0];
            assert_eq!(default.id, "default");
            assert!(default.is_default_input && default.is_default_output);
            // `plug` offers every linear format at 1..=64 channels and any rate.
            for f in [SampleFormat::I16, SampleFormat::F32, SampleFormat::U8] {
                assert!(
                    default.input.iter().any(|r| r.contains(f, 1, 48_000)),
                    "{f}"
                );
                assert!(
                    default.input.iter().any(|r| r.contains(f, 2, 44_100)),
                    "{f}"
                );
                assert!(
                    default.output.iter().any(|r| r.contains(f, 1, 16_000)),
                    "{f}"
                );
            }
            let mic = devices.iter().find(|d| d.id == "mic").expect("mic listed");
            assert_eq!(mic.name, "Parla test microphone");
            assert!(!mic.is_default_input);
            // A device that cannot be opened is listed with nothing to offer.
            let missing = devices
                .iter()
                .find(|d| d.id == "missing_mic")
                .expect("listed");
            assert!(missing.input.is_empty());
            let inputs = manager.input_devices().expect("inputs");
            assert!(inputs.iter().any(|d| d.id == "mic"));
            assert!(!inputs.iter().any(|d| d.id == "missing_mic"));
            assert!(
                manager
                    .output_devices()
                    .expect("outputs")
                    .iter()
                    .any(|d| d.id == "spk")
            );
        },
    );
}
