//! The real cellular link traces in `<shared>/net-traces/` parse, and a voice stream through
//! the bottleneck over each of them comes out causal, in order (FIFO) and deterministic.
//! Skips with a message when the shared folder is absent.
use std::path::PathBuf;

use parla_netsim::link::LinkTrace;
use parla_netsim::scenario::{LinkConfig, ScenarioKind, run_link, scenarios};

fn shared() -> Option<PathBuf> {
    parla_testkit::data::shared("net-traces")
}

#[test]
fn every_link_scenario_runs_on_its_real_trace() {
    let Some(dir) = shared() else { return };
    for s in scenarios() {
        let ScenarioKind::Link { file, cfg } = s.kind else {
            continue;
        };
        let text = std::fs::read_to_string(dir.join(file)).expect("trace readable");
        let link = LinkTrace::parse(&text).expect("valid Mahimahi trace");
        assert!(link.mean_packets_per_ms() > 0.0, "{file}");
        let a = run_link(&link, &cfg, 20.0, 9).expect("runs");
        let b = run_link(&link, &cfg, 20.0, 9).expect("runs");
        assert_eq!(a, b, "{file}: not deterministic");
        assert_eq!(a.len(), 1000, "{file}");
        let mut last = 0;
        for r in &a {
            if let Some(arr) = r.arrival_us {
                let d = arr as i64 - r.send_us as i64;
                assert!(
                    d >= (cfg.base_delay_ms * 1000.0) as i64,
                    "{file}: delay {d} below base"
                );
                assert!(arr >= last, "{file}: FIFO order broken");
                last = arr;
            }
        }
    }
}

#[test]
fn voice_alone_on_an_lte_trace_sees_little_queueing() {
    let Some(dir) = shared() else { return };
    let text = std::fs::read_to_string(dir.join("mahimahi/Verizon-LTE-short.down")).expect("trace");
    let link = LinkTrace::parse(&text).expect("valid");
    let cfg = LinkConfig {
        cross_load: 0.0,
        ..LinkConfig::default()
    };
    let rows = run_link(&link, &cfg, 30.0, 1).expect("runs");
    let mut d: Vec<i64> = rows.iter().filter_map(|r| r.delay_us()).collect();
    d.sort_unstable();
    // A 48 kbit/s stream on an LTE link mostly waits only for the next delivery opportunity.
    assert!(d[d.len() / 2] < 40_000, "median {} us", d[d.len() / 2]);
}
