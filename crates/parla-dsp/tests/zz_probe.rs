#[path = "common/echo_scenarios.rs"]
mod echo_scenarios;
use parla_dsp::aec::{AecConfig, AecMode, AecBackend};
use parla_metrics::echo::scenario::{Room, ScenarioConfig};
use parla_metrics::echo::*;
use parla_metrics::*;

#[test]
fn probe() {
    let s = ScenarioConfig::double_talk(16_000, Room::SMALL, 23).generate();
    let n = 160;
    let eo = frames_above(&s.echo, n, ACTIVE_BELOW_PEAK_DB);
    let no = frames_above(&s.near, n, ACTIVE_BELOW_PEAK_DB);
    let line = |v: &Vec<bool>| v.iter().map(|&b| if b {'#'} else {'.'}).collect::<String>();
    println!("echo {}", line(&eo));
    println!("near {}", line(&no));
    for b in [AecBackend::Sonora] {
        let silence = vec![0.0; s.far.len()];
        let (out, _) = echo_scenarios::run(AecConfig::new().backend(b).mode(AecMode::Aec3), 16000, &silence, &s.near);
        println!("{b}: near only: delay {:?}, si-sdr {:.1}, lvl {:.1} vs {:.1}", estimate_delay(&s.near, &out, 400), si_sdr_db(&s.near, &out), rms_db(&out), rms_db(&s.near));
    }
}
