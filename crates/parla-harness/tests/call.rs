//! The call suite: two simulated calls (a clean fixed path and `parla call`'s default network)
//! give the per-direction and per-side figures; the run is deterministic (two shards merge into
//! exactly the whole run's report); the regression mode passes against itself and fails on a
//! call without echo cancellation and on a call whose packets are tampered with; the trace-driven
//! network is left out with a note when the shared traces are absent.

mod common;

use parla_harness::corpus::{Corpus, CorpusConfig, SpeechSet, Suite};
use parla_harness::regress::{Tolerance, compare, load_baseline};
use parla_harness::report::Report;
use parla_harness::shard::{ShardSpec, merge, without_run_specific};
use parla_harness::suites::Degrade;
use parla_harness::{Options, run};

const CASES: [&str; 2] = ["call/fixed40", "call/mobile-4g"];

fn options(out: &std::path::Path, cases: &[&str], degrade: Degrade) -> Options {
    Options {
        degrade,
        ..common::quick_options(out, vec![Suite::Call], cases)
    }
}

fn json(r: &Report) -> serde_json::Value {
    serde_json::to_value(without_run_specific(r)).expect("json")
}

fn metric(r: &Report, case: &str, name: &str) -> f64 {
    let o = r
        .outcomes
        .iter()
        .find(|o| o.case == case)
        .unwrap_or_else(|| panic!("no outcome for {case}"));
    *o.metrics
        .get(name)
        .unwrap_or_else(|| panic!("{case}: no {name} in {:?}", o.metrics))
}

#[test]
fn call_suite_scores_calls_merges_shards_and_catches_degraded_calls() {
    let dir = tempfile::tempdir().expect("tmp");
    let whole = run(&options(&dir.path().join("whole"), &CASES, Degrade::None)).expect("run");
    assert!(whole.failures.is_empty(), "{:?}", whole.failures);
    assert_eq!(whole.outcomes.len(), 2);
    assert_eq!(whole.call_seconds, 20.0);
    for case in CASES {
        for d in ["ab", "ba"] {
            let m2e = metric(&whole, case, &format!("{d}_m2e_median_ms"));
            // One way 40-45 ms on the network, 20 ms packets, the jitter buffer and the codec.
            assert!((60.0..300.0).contains(&m2e), "{case} {d}: {m2e} ms");
            assert!(metric(&whole, case, &format!("{d}_m2e_p90_ms")) >= m2e);
            let accepted = metric(&whole, case, &format!("{d}_e2ee_accepted"));
            assert!(accepted > 900.0, "{case} {d}: {accepted} frames");
            for zero in ["e2ee_auth_failures", "e2ee_failures"] {
                assert_eq!(metric(&whole, case, &format!("{d}_{zero}")), 0.0);
            }
            let pct = metric(&whole, case, &format!("{d}_concealed_pct"));
            assert!((0.0..20.0).contains(&pct), "{case} {d}: {pct} %");
        }
        for side in ["a", "b"] {
            let erle = metric(&whole, case, &format!("{side}_erle_db"));
            assert!(erle > 20.0, "{case} side {side}: ERLE {erle} dB");
        }
        assert_eq!(metric(&whole, case, "e2ee_code_mismatch"), 0.0);
        let o = whole
            .outcomes
            .iter()
            .find(|o| o.case == case)
            .expect("case");
        assert_eq!(o.media_s, 20.0);
        for stage in ["A encode", "A encrypt", "B decrypt", "B playout"] {
            let c = o.cpu.iter().find(|c| c.stage == stage);
            assert!(
                c.is_some_and(|c| c.calls > 0),
                "{case}: {stage} in {:?}",
                o.cpu
            );
        }
    }
    // A clean fixed path conceals nothing; mobile-4g loses packets and conceals some.
    assert_eq!(metric(&whole, "call/fixed40", "ab_concealed_pct"), 0.0);
    assert_eq!(metric(&whole, "call/fixed40", "ab_network_loss_pct"), 0.0);
    assert!(metric(&whole, "call/mobile-4g", "ab_network_loss_pct") > 0.0);
    assert!(metric(&whole, "call/mobile-4g", "ab_concealed_pct") > 0.0);

    // Two shards, one call each, merge into exactly the whole run (the calls are deterministic).
    let shards: Vec<Report> = [2, 1]
        .map(|k| {
            let mut o = options(&dir.path().join(format!("s{k}")), &CASES, Degrade::None);
            o.shard = Some(ShardSpec { index: k, count: 2 });
            let r = run(&o).expect("shard");
            assert_eq!(r.outcomes.len(), 1);
            r
        })
        .into();
    assert_eq!(json(&merge(&shards).expect("merge")), json(&whole));

    // Regression: the run against itself passes; without echo cancellation ERLE drops on both
    // sides; with tampered packets the E2EE failures count (and concealment rises).
    let base_path = dir.path().join("whole/report.json");
    parla_harness::report::write(&whole, &dir.path().join("whole")).expect("write");
    let base = load_baseline(&base_path).expect("baseline");
    let t = Tolerance::default();
    let same = compare("whole", &base, &whole.outcomes, t);
    assert!(same.passed(), "{same:?}");
    assert!(same.compared >= 2 * 8, "{same:?}");
    let degraded = |d: Degrade, name: &str| {
        let r = run(&options(&dir.path().join(name), &CASES[..1], d)).expect("degraded run");
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        let c = compare("whole", &base, &r.outcomes, t);
        assert!(!c.passed(), "{name}: {c:?}");
        let mut worse: Vec<String> = c.worse.iter().map(|w| w.metric.clone()).collect();
        worse.sort();
        worse
    };
    let worse = degraded(Degrade::CallAecOff, "aec-off");
    for m in ["a_erle_db", "b_erle_db"] {
        assert!(worse.iter().any(|w| w == m), "{worse:?}");
    }
    let worse = degraded(Degrade::CallTamper, "tamper");
    for m in ["ab_e2ee_failures", "ba_e2ee_failures", "ab_concealed_pct"] {
        assert!(worse.iter().any(|w| w == m), "{worse:?}");
    }
}

#[test]
fn the_trace_driven_call_is_skipped_with_a_note_without_the_shared_traces() {
    let mut cfg = CorpusConfig::new(1);
    cfg.speech = SpeechSet::Synthetic;
    let mut corpus = Corpus::new(cfg);
    corpus.select(&[Suite::Call], &[]).expect("select");
    let names: Vec<&str> = corpus.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["call/mobile-4g", "call/fixed40", "call/wifi-congested"]
    );
    assert!(
        corpus
            .notes
            .iter()
            .any(|n| n.starts_with("call/tmobile-lte:") && n.contains("not found")),
        "{:?}",
        corpus.notes
    );
}
