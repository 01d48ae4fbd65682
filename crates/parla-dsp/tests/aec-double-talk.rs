//! Double talk: while both ends talk, the output must be closer to the clean near-end speech
//! than the raw microphone (SI-SDR at least 6 dB better), and the near end must not be muted
//! (output level within 6 dB of the clean near-end level).
//!
//! Known failure (docs/AEC.md): with its default tuning, AEC3 (both backends, identical figures)
//! attenuates and distorts the near end during double talk on our synthetic material, so the
//! SI-SDR criterion fails in every case and the level criterion fails at 48 kHz. Those checks
//! are `#[ignore]`d with the measured figures; run them with `--ignored`. The level criterion
//! holds at 16 kHz and is checked in the normal suite.

#[path = "common/echo_scenarios.rs"]
mod echo_scenarios;

use echo_scenarios::{backends, run_and_measure, seed};
use parla_dsp::aec::{AecConfig, AecMode};
use parla_metrics::echo::scenario::{Room, ScenarioConfig};

fn check(rate: u32, room: Room, noise: Option<f64>, default_seed: u64, check_sdr: bool) {
    let seed = seed(default_seed);
    let mut cfg = ScenarioConfig::double_talk(rate, room, seed);
    cfg.seconds = 10.0;
    if let Some(db) = noise {
        cfg = cfg.with_noise(db);
    }
    let s = cfg.generate();
    for backend in backends() {
        let r = run_and_measure(
            AecConfig::new().backend(backend).mode(AecMode::Aec3),
            &s,
            &s.far,
        );
        let dt = r.double_talk.expect("double-talk frames after 2 s");
        println!(
            "{backend} aec3 {rate} Hz {} ms: double talk over {} frames: SI-SDR mic {:.1} dB -> \
             out {:.1} dB (gain {:.1} dB), level {:+.1} dB vs clean near end; ERLE {:.1} dB",
            room.bulk_delay_ms,
            dt.frames,
            dt.si_sdr_mic_db,
            dt.si_sdr_out_db,
            dt.si_sdr_gain_db(),
            dt.level_change_db(),
            r.erle_db.unwrap_or(f64::NAN),
        );
        assert!(dt.frames >= 150, "too few double-talk frames: {dt:?}");
        assert!(
            !check_sdr || dt.si_sdr_gain_db() >= 6.0,
            "{backend}: SI-SDR gain {:.1} dB < 6 dB (seed {seed}): {dt:?}",
            dt.si_sdr_gain_db()
        );
        assert!(
            dt.level_change_db().abs() <= 6.0,
            "{backend}: near end level changed by {:.1} dB (seed {seed}): {dt:?}",
            dt.level_change_db()
        );
    }
}

#[test]
#[ignore = "known failure: SI-SDR gain -4.1 dB, level -9.2 dB measured (docs/AEC.md)"]
fn aec3_48k_small_room_keeps_the_near_end() {
    check(48_000, Room::SMALL, None, 21, true);
}

#[test]
#[ignore = "known failure: SI-SDR gain 2.7 dB measured (docs/AEC.md)"]
fn aec3_48k_living_room_with_noise_keeps_the_near_end() {
    check(48_000, Room::LIVING_ROOM, Some(-60.0), 22, true);
}

#[test]
#[ignore = "known failure: SI-SDR gain -0.4 dB measured (docs/AEC.md)"]
fn aec3_16k_improves_si_sdr_in_double_talk() {
    check(16_000, Room::SMALL, None, 23, true);
}

#[test]
fn aec3_16k_does_not_mute_the_near_end() {
    check(16_000, Room::SMALL, None, 23, false);
}
