//! Regression mode: compare Parla's figures with an earlier `report.json`, case by case and
//! metric by metric, each with a direction (higher or lower is better) and a tolerance.
//!
//! Only quality figures are compared (CPU and wall time vary with the machine's load and are
//! reported, not judged). A metric "got worse" when it moved in the bad direction by more than
//! its tolerance. Failure counters ([`must_be_zero`]: the call suite's E2EE failures and a
//! safety-code mismatch) fail whenever they are not zero, whatever the baseline says.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::suites::{OURS, Outcome};

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Higher is better.
    Higher,
    /// Lower is better.
    Lower,
}

/// The unit class a tolerance applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Decibels.
    Db,
    /// Percent (percentage points).
    Pct,
    /// Milliseconds.
    Ms,
}

/// Direction and unit of the compared metrics; others (levels, lags, bitrates) are not judged.
pub fn judged(metric: &str) -> Option<(Better, Unit)> {
    Some(match metric {
        "erle_db" | "si_sdr_out_db" | "si_sdr_gain_db" | "dt_si_sdr_gain_db" | "seg_snr_out_db"
        | "seg_snr_gain_db" => (Better::Higher, Unit::Db),
        "lsd_out_db" => (Better::Lower, Unit::Db),
        "late_loss_pct" | "concealed_pct" => (Better::Lower, Unit::Pct),
        "mean_delay_ms" | "p95_delay_ms" => (Better::Lower, Unit::Ms),
        // The call suite: per side (a_, b_) and per direction (ab_, ba_).
        "a_erle_db" | "b_erle_db" => (Better::Higher, Unit::Db),
        "ab_concealed_pct" | "ba_concealed_pct" => (Better::Lower, Unit::Pct),
        "ab_m2e_median_ms" | "ba_m2e_median_ms" | "ab_m2e_p90_ms" | "ba_m2e_p90_ms" => {
            (Better::Lower, Unit::Ms)
        }
        // The cc suite (the estimator's figures; fixed_ and off_ are references).
        "utilization_pct" => (Better::Higher, Unit::Pct),
        "loss_pct" | "share_gap_pct" => (Better::Lower, Unit::Pct),
        "queue_p50_ms" | "queue_p95_ms" | "convergence_ms" | "drain_ms" | "recovery_ms" => {
            (Better::Lower, Unit::Ms)
        }
        _ => return None,
    })
}

/// Counters that must be zero in every run (a failure whatever the baseline): E2EE failures in
/// either direction of a call (frames rejected other than replays of copies the network
/// duplicated), and safety codes that differ.
pub fn must_be_zero(metric: &str) -> bool {
    matches!(
        metric,
        "ab_e2ee_failures" | "ba_e2ee_failures" | "e2ee_code_mismatch" | "feedback_rejected"
    )
}

/// Tolerances per unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// dB metrics (default 0.5 dB).
    pub db: f64,
    /// Percent metrics (default 0.2 percentage point).
    pub pct: f64,
    /// Delay metrics (default 5 ms).
    pub ms: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            db: 0.5,
            pct: 0.2,
            ms: 5.0,
        }
    }
}

impl Tolerance {
    /// Parse `db=0.5,pct=0.2,ms=5` (any subset; a bare number sets `db`).
    ///
    /// # Errors
    /// For a malformed list.
    pub fn parse(s: &str) -> anyhow::Result<Tolerance> {
        let mut t = Tolerance::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or(("db", part));
            let v: f64 = v
                .parse()
                .with_context(|| format!("tolerance {part:?}: not a number"))?;
            anyhow::ensure!(v.is_finite() && v >= 0.0, "tolerance {part:?} must be >= 0");
            match k {
                "db" => t.db = v,
                "pct" => t.pct = v,
                "ms" => t.ms = v,
                _ => anyhow::bail!("tolerance key {k:?}: expected db, pct or ms"),
            }
        }
        Ok(t)
    }

    fn of(&self, u: Unit) -> f64 {
        match u {
            Unit::Db => self.db,
            Unit::Pct => self.pct,
            Unit::Ms => self.ms,
        }
    }
}

/// One metric that got worse.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Worse {
    /// Case name.
    pub case: String,
    /// Metric name.
    pub metric: String,
    /// Baseline value.
    pub old: f64,
    /// This run's value.
    pub new: f64,
    /// The tolerance it exceeded.
    pub tolerance: f64,
}

/// The result of a comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// The baseline file.
    pub baseline: String,
    /// The tolerances used.
    pub tolerance: Tolerance,
    /// Metric values compared.
    pub compared: usize,
    /// Parla cases of this run that the baseline lacks.
    pub new_cases: usize,
    /// Judged metrics that the baseline has and this run lacks.
    pub missing: usize,
    /// Metrics that got worse beyond the tolerance.
    pub worse: Vec<Worse>,
    /// Metrics that got better beyond the tolerance.
    pub better: usize,
}

impl Comparison {
    /// Whether the run passes (nothing got worse, nothing judged went missing).
    pub fn passed(&self) -> bool {
        self.worse.is_empty() && self.missing == 0
    }
}

/// The baseline's Parla figures, by case then metric, from a `report.json`.
///
/// # Errors
/// When the file cannot be read or parsed.
pub fn load_baseline(
    path: &std::path::Path,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, f64>>> {
    #[derive(Deserialize)]
    struct Partial {
        outcomes: Vec<Outcome>,
    }
    let text = crate::report::read_report_text(path)?;
    let p: Partial =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(p.outcomes
        .into_iter()
        .filter(|o| o.system == OURS)
        .map(|o| (o.case, o.metrics))
        .collect())
}

/// Compare this run's Parla outcomes with the baseline.
pub fn compare(
    baseline_name: &str,
    baseline: &BTreeMap<String, BTreeMap<String, f64>>,
    outcomes: &[Outcome],
    tolerance: Tolerance,
) -> Comparison {
    let mut c = Comparison {
        baseline: baseline_name.to_string(),
        tolerance,
        compared: 0,
        new_cases: 0,
        missing: 0,
        worse: Vec::new(),
        better: 0,
    };
    for o in outcomes.iter().filter(|o| o.system == OURS) {
        for (name, &v) in o.metrics.iter().filter(|(k, _)| must_be_zero(k)) {
            if v != 0.0 {
                c.worse.push(Worse {
                    case: o.case.clone(),
                    metric: name.clone(),
                    old: baseline
                        .get(&o.case)
                        .and_then(|m| m.get(name))
                        .copied()
                        .unwrap_or(0.0),
                    new: v,
                    tolerance: 0.0,
                });
            }
        }
        let Some(old) = baseline.get(&o.case) else {
            c.new_cases += 1;
            continue;
        };
        for (name, &old_v) in old {
            let Some((better, unit)) = judged(name) else {
                if must_be_zero(name) && !o.metrics.contains_key(name) {
                    c.missing += 1;
                }
                continue;
            };
            let Some(&new_v) = o.metrics.get(name) else {
                c.missing += 1;
                continue;
            };
            c.compared += 1;
            let tol = tolerance.of(unit);
            let delta = match better {
                Better::Higher => old_v - new_v,
                Better::Lower => new_v - old_v,
            };
            if delta > tol {
                c.worse.push(Worse {
                    case: o.case.clone(),
                    metric: name.clone(),
                    old: old_v,
                    new: new_v,
                    tolerance: tol,
                });
            } else if -delta > tol {
                c.better += 1;
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(case: &str, metrics: &[(&str, f64)]) -> Outcome {
        Outcome {
            case: case.into(),
            suite: "ns".into(),
            system: OURS.into(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            wall_s: 1.0,
            media_s: 1.0,
            rtf: 1.0,
            cpu: Vec::new(),
            allocations: String::new(),
            call_us: Vec::new(),
            series: Vec::new(),
        }
    }

    #[test]
    fn worse_beyond_tolerance_fails_and_within_passes() {
        let base: BTreeMap<_, _> = [(
            "a".to_string(),
            [
                ("si_sdr_gain_db".to_string(), 10.0),
                ("late_loss_pct".to_string(), 1.0),
                ("lag_ms".to_string(), 3.0),
            ]
            .into_iter()
            .collect(),
        )]
        .into_iter()
        .collect();
        let t = Tolerance::default();
        let same = compare(
            "b",
            &base,
            &[outcome(
                "a",
                &[
                    ("si_sdr_gain_db", 9.6),
                    ("late_loss_pct", 1.1),
                    ("lag_ms", 40.0),
                ],
            )],
            t,
        );
        assert!(same.passed(), "{same:?}");
        assert_eq!(same.compared, 2);
        let worse = compare(
            "b",
            &base,
            &[outcome(
                "a",
                &[("si_sdr_gain_db", 9.0), ("late_loss_pct", 1.0)],
            )],
            t,
        );
        assert!(!worse.passed());
        assert_eq!(worse.worse.len(), 1);
        assert_eq!(worse.worse[0].metric, "si_sdr_gain_db");
        let missing = compare("b", &base, &[outcome("a", &[("late_loss_pct", 1.0)])], t);
        assert!(!missing.passed());
        let better = compare(
            "b",
            &base,
            &[outcome(
                "a",
                &[("si_sdr_gain_db", 12.0), ("late_loss_pct", 0.0)],
            )],
            t,
        );
        assert!(better.passed());
        assert_eq!(better.better, 2);
    }

    #[test]
    fn call_metrics_are_judged_and_any_e2ee_failure_fails() {
        let m = |v: &[(&str, f64)]| -> BTreeMap<String, f64> {
            v.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let good = [
            ("ab_m2e_median_ms", 130.0),
            ("ba_concealed_pct", 1.0),
            ("a_erle_db", 50.0),
            ("ab_e2ee_failures", 0.0),
            ("ab_e2ee_accepted", 900.0),
        ];
        let base: BTreeMap<_, _> = [("call/x".to_string(), m(&good))].into_iter().collect();
        let t = Tolerance::default();
        let run = |v: &[(&str, f64)]| {
            let mut o = outcome("call/x", v);
            o.suite = "call".into();
            compare("b", &base, &[o], t)
        };
        let same = run(&good);
        assert!(same.passed(), "{same:?}");
        assert_eq!(same.compared, 3, "accepted frames are reported, not judged");
        for (metric, bad) in [
            ("ab_m2e_median_ms", 136.0),
            ("ba_concealed_pct", 1.3),
            ("a_erle_db", 49.0),
            ("ab_e2ee_failures", 1.0),
        ] {
            let mut v = good.to_vec();
            v.iter_mut().find(|(k, _)| *k == metric).expect("known").1 = bad;
            let c = run(&v);
            assert_eq!(c.worse.len(), 1, "{metric}: {c:?}");
            assert_eq!(c.worse[0].metric, metric);
        }
        // A rejection fails even when the baseline had as many, and in a case it lacks.
        let mut o = outcome("call/new", &[("ba_e2ee_failures", 3.0)]);
        o.suite = "call".into();
        let c = compare("b", &base, &[o], t);
        assert_eq!((c.new_cases, c.worse.len()), (1, 1), "{c:?}");
        let c = run(&good[..3]);
        assert_eq!(c.missing, 1, "the rejection counter went missing: {c:?}");
    }

    #[test]
    fn tolerance_lists_parse() {
        let t = Tolerance::parse("db=1,ms=10").expect("parse");
        assert_eq!((t.db, t.pct, t.ms), (1.0, 0.2, 10.0));
        assert_eq!(Tolerance::parse("0.25").expect("parse").db, 0.25);
        assert!(Tolerance::parse("db=x").is_err());
        assert!(Tolerance::parse("foo=1").is_err());
        assert!(Tolerance::parse("db=-1").is_err());
    }
}
