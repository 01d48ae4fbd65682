//! Controls that show the measurement is honest: with an unrelated far-end reference (the wrong
//! signal), or with the canceller off, no ERLE is claimed, while the same scenario with the right
//! reference does show it.

#[path = "common/echo_scenarios.rs"]
mod echo_scenarios;

use echo_scenarios::{backends, run_and_measure, seed, tunings};
use parla_dsp::aec::{AecConfig, AecMode};
use parla_metrics::echo::scenario::{Room, ScenarioConfig};

#[test]
fn unrelated_reference_gives_no_erle() {
    let seed = seed(31);
    let s = ScenarioConfig::single_talk(48_000, Room::SMALL, seed).generate();
    // Another talker's speech with the same level and timing statistics, from another seed.
    let unrelated = ScenarioConfig::single_talk(48_000, Room::SMALL, seed ^ 0x5eed)
        .generate()
        .far;
    for (backend, tuning) in backends()
        .into_iter()
        .flat_map(|b| tunings(b).into_iter().map(move |t| (b, t)))
    {
        let cfg = AecConfig::new()
            .backend(backend)
            .mode(AecMode::Aec3)
            .tuning(tuning);
        let right = run_and_measure(cfg, &s, &s.far).erle_db.expect("frames");
        let wrong = run_and_measure(cfg, &s, &unrelated)
            .erle_db
            .expect("frames");
        println!(
            "{backend} {tuning}: ERLE {right:.1} dB with the right reference, {wrong:.1} dB with an \
             unrelated one"
        );
        assert!(
            wrong < 6.0,
            "{backend}: {wrong:.1} dB ERLE claimed with an unrelated reference (seed {seed})"
        );
        assert!(
            right >= 30.0,
            "{backend}: right reference gave {right:.1} dB (seed {seed})"
        );
    }
}

#[test]
fn silent_reference_gives_no_erle() {
    let seed = seed(32);
    let s = ScenarioConfig::single_talk(16_000, Room::SMALL, seed).generate();
    let silence = vec![0.0f32; s.far.len()];
    for backend in backends() {
        let cfg = AecConfig::new().backend(backend).mode(AecMode::Aec3);
        let erle = run_and_measure(cfg, &s, &silence).erle_db.expect("frames");
        println!("{backend}: ERLE {erle:.1} dB with a silent reference");
        assert!(erle.abs() < 3.0, "{backend}: {erle:.1} dB (seed {seed})");
    }
}

#[test]
fn mode_off_passes_the_microphone_through() {
    let seed = seed(33);
    let s = ScenarioConfig::double_talk(16_000, Room::SMALL, seed).generate();
    for backend in backends() {
        let cfg = AecConfig::new().backend(backend).mode(AecMode::Off);
        let (out, _, _) = echo_scenarios::run(cfg, s.rate, &s.far, &s.mic);
        assert_eq!(&out[..], &s.mic[..out.len()]);
        let r = run_and_measure(cfg, &s, &s.far);
        assert!(r.erle_db.expect("frames").abs() < 1e-9);
        assert!(r.double_talk.expect("double talk").si_sdr_gain_db().abs() < 1e-9);
    }
}
