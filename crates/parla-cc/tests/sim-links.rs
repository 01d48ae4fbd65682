//! The proof of the estimator: the evaluation module (`parla_cc::eval`, the same code as
//! `parla cc eval` and the harness's `cc` suite) over the standard scenarios, shortened
//! ([`Length::Short`]: 24 s, the step 8 s per piece) so the test stays fast in debug builds;
//! the full 60 s runs are `parla cc eval`'s (docs/CONGESTION.md has their figures).
//!
//! `cargo test -p parla-cc --test sim-links -- --nocapture` prints the figures.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

use parla_cc::eval::{Length, RunReport, Scenario, run_all_senders, standard_scenarios};

fn scenario(name: &str) -> Option<Scenario> {
    let shared = parla_testkit::data::shared_dir();
    let (all, notes) = standard_scenarios(Some(&shared), Length::Short);
    for n in notes {
        println!("{n}");
    }
    all.into_iter().find(|s| s.name == name)
}

fn runs(s: &Scenario) -> [RunReport; 3] {
    let r = run_all_senders(s, 1).expect("run");
    for x in &r {
        println!("{}", parla_cc::eval::summary_line(x));
        assert_eq!(x.feedback_rejected, 0, "{}", x.name);
    }
    r
}

#[test]
fn constant_1mbps_link() {
    let [cc, _fixed, off] = runs(&scenario("constant-1mbps").expect("scenario"));
    assert!(cc.utilization >= 0.85, "utilization {}", cc.utilization);
    assert!(
        cc.queue_delay_p95_ms <= 60.0,
        "p95 {}",
        cc.queue_delay_p95_ms
    );
    assert!(cc.loss_percent < 1.0, "loss {}", cc.loss_percent);
    // Without the estimator the sender stays at its start rate.
    assert!(off.utilization < 0.35, "off {}", off.utilization);
}

#[test]
fn step_2mbps_500kbps_2mbps() {
    let [cc, fixed, _off] = runs(&scenario("step-2m-500k-2m").expect("scenario"));
    let conv = cc.convergence_s.expect("converged");
    let drain = cc.drain_s.expect("drained");
    let rec = cc.recovery_s.expect("recovered");
    assert!(conv <= 5.0, "converged after {conv}");
    assert!(drain <= 2.0, "drained after {drain}");
    assert!(rec <= 10.0, "recovered after {rec}");
    assert!(cc.utilization >= 0.7, "{}", cc.utilization);
    // The fixed sender at the same mean rate overloads the 500 kbit/s piece.
    assert!(
        cc.queue_delay_p95_ms < fixed.queue_delay_p95_ms,
        "{} vs {}",
        cc.queue_delay_p95_ms,
        fixed.queue_delay_p95_ms
    );
}

#[test]
fn two_flows_share() {
    let [cc, ..] = runs(&scenario("two-flows-2mbps").expect("scenario"));
    let share = cc.share_ratio.expect("two flows");
    assert!((0.7..=1.3).contains(&share), "share ratio {share}");
    assert!(cc.utilization >= 0.8, "{}", cc.utilization);
}

#[test]
fn cellular_traces_with_cross_traffic() {
    let mut ran = 0;
    for file in parla_cc::eval::TRACES {
        let name = format!("trace-{}", file.replace('.', "-"));
        let Some(s) = scenario(&name) else {
            println!("cellular_traces: {file} absent, skipped (set PARLA_SHARED_DIR)");
            continue;
        };
        let [cc, fixed, _off] = runs(&s);
        // 24 s of a trace can be one outage that no sender avoids: a margin here; the 60 s
        // runs (`full_length`, `parla cc eval`) are held to "no worse" exactly.
        assert!(
            cc.queue_delay_p95_ms <= 1.25 * fixed.queue_delay_p95_ms,
            "{name}: p95 {} vs fixed {}",
            cc.queue_delay_p95_ms,
            fixed.queue_delay_p95_ms
        );
        assert!(
            cc.loss_percent <= fixed.loss_percent + 1.0,
            "{name}: loss {} vs fixed {}",
            cc.loss_percent,
            fixed.loss_percent
        );
        ran += 1;
    }
    if ran == 0 {
        println!("cellular_traces: no traces found; nothing measured");
    }
}

/// `CC_EVAL_DUMP=<scenario> cargo test -p parla-cc --test sim-links dump -- --ignored
/// --nocapture`: the estimator's timeline, once a second (seed `CC_EVAL_SEED`, default 1).
#[test]
#[ignore]
fn dump() {
    let name = std::env::var("CC_EVAL_DUMP").unwrap_or_else(|_| "step-2m-500k-2m".into());
    let length = if std::env::var_os("CC_EVAL_FULL").is_some() {
        Length::Full
    } else {
        Length::Short
    };
    let shared = parla_testkit::data::shared_dir();
    let (all, _) = standard_scenarios(Some(&shared), length);
    let s = all.into_iter().find(|s| s.name == name).expect("scenario");
    let seed = std::env::var("CC_EVAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let r = parla_cc::eval::run(&s, parla_cc::eval::SenderKind::Estimator, seed).expect("run");
    println!("{}", parla_cc::eval::summary_line(&r));
    for t in r.timeline.iter().step_by(5) {
        println!(
            "t {:>5.1}  cap {:>6.0}  target {:>6.0} {:>6.0}  queue {:>6.1}",
            t.t_s,
            t.capacity_bps / 1e3,
            t.target_bps[0] / 1e3,
            t.target_bps[1] / 1e3,
            t.queue_ms
        );
    }
}

/// The standard scenarios at full length (notes on skipped traces printed).
fn full_scenarios() -> Vec<Scenario> {
    let shared = parla_testkit::data::shared_dir();
    let (all, notes) = standard_scenarios(Some(&shared), Length::Full);
    for n in notes {
        println!("{n}");
    }
    all
}

/// The full-length runs (as `parla cc eval`; seed `CC_EVAL_SEED`, default 1; only the
/// scenarios whose name contains `CC_EVAL_ONLY`, if set): `cargo test --release -p parla-cc
/// --test sim-links full_length -- --ignored --nocapture`.
#[test]
#[ignore]
fn full_length() {
    let all = full_scenarios();
    let seed = std::env::var("CC_EVAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let only = std::env::var("CC_EVAL_ONLY").unwrap_or_default();
    for s in all.iter().filter(|s| s.name.contains(&only)) {
        let [cc, fixed, off] = run_all_senders(s, seed).expect("run");
        for r in [&cc, &fixed, &off] {
            println!("{}", parla_cc::eval::summary_line(r));
        }
        // Issue 16's acceptance.
        match s.name.as_str() {
            "constant-1mbps" => {
                assert!(cc.utilization >= 0.85 && cc.queue_delay_p95_ms <= 60.0);
            }
            "step-2m-500k-2m" => {
                assert!(cc.convergence_s.is_some_and(|t| t <= 5.0));
                assert!(cc.drain_s.is_some_and(|t| t <= 2.0));
                assert!(cc.recovery_s.is_some_and(|t| t <= 10.0));
            }
            "two-flows-2mbps" => {
                assert!(cc.share_ratio.is_some_and(|x| (0.7..=1.3).contains(&x)));
            }
            // The traces: compared in docs/CONGESTION.md over several seeds (not met on all).
            _ => {}
        }
    }
}

/// The traces against fixed senders at rates chosen independently of the estimator's mean
/// (`SWEEP_FACTORS` x it), over seeds `CC_EVAL_SEEDS` (`A..B`, default `1..5`), scenarios whose
/// name contains `CC_EVAL_ONLY` (default `trace-`): `cargo test --release -p parla-cc --test
/// sim-links fixed_rate_sweep -- --ignored --nocapture` (the same lines as `parla cc eval
/// --fixed-sweep`). Prints each run and three verdicts: against the fixed sender at the same
/// mean rate (issue 16's wording), against the fixed senders' curve read at the estimator's
/// utilization (the same delivered bytes), and whether any fixed rate dominates the estimator.
/// docs/CONGESTION.md has the figures; nothing is asserted here.
#[test]
#[ignore]
fn fixed_rate_sweep() {
    let all = full_scenarios();
    let seeds = std::env::var("CC_EVAL_SEEDS").unwrap_or_else(|_| "1..5".into());
    let (a, b) = seeds.split_once("..").unwrap_or((&seeds, &seeds));
    let (a, b): (u64, u64) = (a.parse().expect("seed"), b.parse().expect("seed"));
    let only = std::env::var("CC_EVAL_ONLY").unwrap_or_else(|_| "trace-".into());
    for s in all.iter().filter(|s| s.name.contains(&only)) {
        for seed in a..=b {
            let c = parla_cc::eval::SweepComparison::run(s, seed).expect("run");
            for line in c.lines() {
                println!("{line}");
            }
        }
    }
}
