//! Congestion control evaluation (issue 16): `parla cc eval`'s report and plots, and the `cc`
//! suite of `parla bench`. Both run `parla_cc::eval`'s standard scenarios with the estimator,
//! a fixed sender at the estimator's mean rate and the estimator off (docs/CONGESTION.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use parla_cc::eval::{self, Length, RunReport, Scenario};
use plotters::prelude::*;
use serde::Serialize;

use crate::plots::{COLORS, legend, register_font};
use crate::suites::Outcome;

/// `report.json` of `parla cc eval`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The seed (trace start offsets, cross traffic).
    pub seed: u64,
    /// One entry per scenario and sender (`estimator`, `fixed`, `off`, in that order).
    pub scenarios: Vec<RunReport>,
    /// Scenarios skipped, and why (a trace absent from the shared folder).
    pub notes: Vec<String>,
    /// Wall time of the runs, seconds.
    pub wall_s: f64,
}

/// Runs every standard scenario (`shared`: the shared data folder with `net-traces/`) with the
/// three senders, writes `report.json` and one PNG per scenario into `out`, and returns the
/// report. `progress` is called with each run's summary line.
///
/// # Errors
/// When a scenario fails to run or a file cannot be written.
pub fn eval(
    out: &Path,
    seed: u64,
    shared: Option<&Path>,
    length: Length,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<EvalReport> {
    let started = Instant::now();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (scenarios, notes) = eval::standard_scenarios(shared, length);
    for n in &notes {
        progress(n);
    }
    let mut runs = Vec::new();
    for s in &scenarios {
        let three = eval::run_all_senders(s, seed).map_err(anyhow::Error::msg)?;
        for r in &three {
            progress(&eval::summary_line(r));
        }
        let png = out.join(format!("{}.png", s.name));
        plot(s, &three, &png)?;
        runs.extend(three);
    }
    let report = EvalReport {
        seed,
        scenarios: runs,
        notes,
        wall_s: started.elapsed().as_secs_f64(),
    };
    let path = out.join("report.json");
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    Ok(report)
}

/// One scenario's plot: above, the capacity and each sender's rate (the estimator's per flow
/// when two flows share the link); below, each sender's queueing delay.
///
/// # Errors
/// When drawing fails.
pub fn plot(s: &Scenario, runs: &[RunReport], path: &Path) -> anyhow::Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, (1200, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(450);
    let x_max = s.seconds;
    let est = runs.iter().find(|r| r.sender == "estimator");
    let rate_max = runs
        .iter()
        .flat_map(|r| r.timeline.iter())
        .map(|t| t.capacity_bps.max(t.target_bps[0] + t.target_bps[1]))
        .fold(1.0, f64::max)
        / 1000.0
        * 1.1;
    let caption = format!("{}: rate (kbit/s) against capacity", s.name);
    let mut chart = panel(&top, &caption, x_max, rate_max, "kbit/s")?;
    let grey = RGBColor(150, 150, 150);
    if let Some(r) = runs.first() {
        chart
            .draw_series(LineSeries::new(
                r.timeline.iter().map(|t| (t.t_s, t.capacity_bps / 1000.0)),
                grey.stroke_width(1),
            ))?
            .label("capacity")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], grey));
    }
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    if let Some(e) = est {
        for flow in 0..s.flows {
            let label = if s.flows > 1 {
                format!("estimate, flow {}", flow + 1)
            } else {
                "estimate".to_string()
            };
            lines.push((
                label,
                e.timeline
                    .iter()
                    .filter(|t| t.target_bps[flow] > 0.0)
                    .map(|t| (t.t_s, t.target_bps[flow] / 1000.0))
                    .collect(),
            ));
        }
    }
    for r in runs.iter().filter(|r| r.sender != "estimator") {
        lines.push((
            format!("{} ({:.0} kbit/s)", r.sender, r.rate_bps / 1000.0),
            vec![(0.0, r.rate_bps / 1000.0), (x_max, r.rate_bps / 1000.0)],
        ));
    }
    for (i, (label, pts)) in lines.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(1)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
    }
    legend(&mut chart)?;
    let q_max = runs
        .iter()
        .map(|r| r.queue_delay_p95_ms)
        .filter(|v| v.is_finite())
        .fold(50.0, f64::max)
        * 1.5;
    let mut chart = panel(&bottom, "queueing delay (ms)", x_max, q_max, "ms")?;
    for (i, r) in runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                r.timeline.iter().map(|t| (t.t_s, t.queue_ms.min(q_max))),
                color.stroke_width(1),
            ))?
            .label(format!("{} (p95 {:.0} ms)", r.sender, r.queue_delay_p95_ms))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
    }
    legend(&mut chart)?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

type Panel<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One panel over time (seconds) from 0 to `y_max`, with its mesh drawn.
fn panel<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    caption: &str,
    x_max: f64,
    y_max: f64,
    y_desc: &str,
) -> anyhow::Result<Panel<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("s")
        .y_desc(y_desc)
        .label_style(("sans-serif", 11))
        .draw()?;
    Ok(chart)
}

/// The material of a `cc` suite case: the scenario and the seed.
#[derive(Debug, Clone, PartialEq)]
pub struct CcMaterial {
    /// The scenario (full length).
    pub scenario: Scenario,
    /// The run's seed.
    pub seed: u64,
}

/// The standard scenarios present for the `cc` suite (full length) and notes for the skipped.
pub fn suite_scenarios(shared: Option<&PathBuf>) -> (Vec<Scenario>, Vec<String>) {
    eval::standard_scenarios(shared.map(PathBuf::as_path), Length::Full)
}

/// Runs one `cc` case: the metrics of the estimator (`utilization_pct`, `queue_p50_ms`,
/// `queue_p95_ms`, `loss_pct`, for the step `convergence_ms`, `drain_ms`, `recovery_ms`, for two
/// flows `share_gap_pct` = |1 - share ratio| x 100), and the same with `fixed_` and `off_`
/// prefixes for the other senders.
///
/// # Errors
/// When the scenario cannot run.
pub fn run_case(m: &CcMaterial, o: &mut Outcome) -> anyhow::Result<()> {
    let started = Instant::now();
    let runs = eval::run_all_senders(&m.scenario, m.seed).map_err(anyhow::Error::msg)?;
    o.wall_s = started.elapsed().as_secs_f64();
    o.media_s = 3.0 * m.scenario.seconds;
    for r in &runs {
        let p = match r.sender {
            "estimator" => "",
            "fixed" => "fixed_",
            _ => "off_",
        };
        metrics(r, p, &mut o.metrics);
    }
    if let Some(e) = runs.first() {
        o.series = e.timeline.iter().map(|t| (t.t_s, t.queue_ms)).collect();
    }
    Ok(())
}

fn metrics(r: &RunReport, p: &str, m: &mut BTreeMap<String, f64>) {
    let mut put = |k: &str, v: Option<f64>| {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            m.insert(format!("{p}{k}"), v);
        }
    };
    put("rate_kbps", Some(r.rate_bps / 1000.0));
    put("utilization_pct", Some(100.0 * r.utilization));
    put("queue_p50_ms", Some(r.queue_delay_p50_ms));
    put("queue_p95_ms", Some(r.queue_delay_p95_ms));
    put("loss_pct", Some(r.loss_percent));
    put("convergence_ms", r.convergence_s.map(|s| 1000.0 * s));
    put("drain_ms", r.drain_s.map(|s| 1000.0 * s));
    put("recovery_ms", r.recovery_s.map(|s| 1000.0 * s));
    put(
        "share_gap_pct",
        r.share_ratio.map(|x| 100.0 * (1.0 - x).abs()),
    );
    put("feedback_rejected", Some(r.feedback_rejected as f64));
}
