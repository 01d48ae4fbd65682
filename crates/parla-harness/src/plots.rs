//! PNG plots with plotters: per-case quality bars, jitter delay over time, CPU-per-call
//! distributions. Text is drawn with the DejaVu Sans font (Debian's fonts-dejavu-core, installed
//! by `scripts/setup.d/60-jitter-fonts.sh`).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context as _;
use plotters::prelude::*;

use crate::corpus::Suite;
use crate::suites::{OURS, Outcome};

static FONT: OnceLock<Result<(), String>> = OnceLock::new();

/// Register the plot font once per process.
///
/// # Errors
/// When DejaVuSans.ttf is missing or cannot be loaded.
pub fn register_font() -> anyhow::Result<()> {
    FONT.get_or_init(|| {
        let font =
            std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").map_err(|e| {
                format!(
                    "DejaVuSans.ttf not found ({e}); scripts/setup.d installs fonts-dejavu-core"
                )
            })?;
        let font: &'static [u8] = Box::leak(font.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, font)
            .map_err(|_| "cannot load the plot font".to_string())
    })
    .clone()
    .map_err(|e| anyhow::anyhow!(e))
}

pub(crate) const COLORS: [RGBColor; 6] = [
    RGBColor(0, 110, 200),
    RGBColor(220, 90, 0),
    RGBColor(0, 150, 70),
    RGBColor(150, 60, 170),
    RGBColor(120, 120, 120),
    RGBColor(200, 30, 60),
];

/// The legend of `chart`'s labelled series, in its upper right corner.
pub(crate) fn legend<'a, DB, CT>(chart: &mut ChartContext<'a, DB, CT>) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 11))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

/// The metric drawn per suite in the quality bars.
fn bar_metric(suite: &str) -> &'static str {
    match suite {
        "aec" => "erle_db",
        "jitter" => "mean_delay_ms",
        "call" => "ab_m2e_median_ms",
        "codec" | "resample" => "si_sdr_out_db",
        _ => "si_sdr_gain_db",
    }
}

/// Per-case quality bars: one panel per suite, one group of bars per case, one bar per system.
///
/// # Errors
/// When drawing fails.
pub fn quality(outcomes: &[Outcome], path: &Path) -> anyhow::Result<()> {
    let suites: Vec<&str> = Suite::ALL
        .map(Suite::as_str)
        .into_iter()
        .filter(|s| outcomes.iter().any(|o| o.suite == *s))
        .collect();
    let root =
        BitMapBackend::new(path, (1400, 360 * suites.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((suites.len().max(1), 1));
    for (suite, area) in suites.iter().zip(areas.iter()) {
        let metric = bar_metric(suite);
        let mut cases: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.suite == *suite)
            .map(|o| o.case.as_str())
            .collect();
        cases.dedup();
        let mut systems: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.suite == *suite)
            .map(|o| o.system.as_str())
            .collect();
        systems.sort_by_key(|s| (*s != OURS, *s));
        systems.dedup();
        let vals: Vec<f64> = outcomes
            .iter()
            .filter(|o| o.suite == *suite)
            .filter_map(|o| o.metrics.get(metric).copied())
            .collect();
        let lo = vals.iter().copied().fold(0.0f64, f64::min);
        let hi = vals.iter().copied().fold(1.0f64, f64::max);
        let pad = (hi - lo) * 0.1 + 0.5;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{suite}: {metric}"), ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..cases.len() as f64, (lo - pad)..(hi + pad))?;
        let labels = cases.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(cases.len() + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                labels
                    .get(i)
                    .map(|c| c.split('/').nth(1).unwrap_or(c).chars().take(18).collect())
                    .unwrap_or_default()
            })
            .label_style(("sans-serif", 10))
            .y_desc(metric)
            .draw()?;
        let w = 0.8 / systems.len().max(1) as f64;
        for (si, sys) in systems.iter().enumerate() {
            let color = COLORS[si % COLORS.len()];
            let bars: Vec<Rectangle<(f64, f64)>> = cases
                .iter()
                .enumerate()
                .filter_map(|(ci, c)| {
                    outcomes
                        .iter()
                        .find(|o| o.case == *c && o.system == *sys)
                        .and_then(|o| o.metrics.get(metric))
                        .map(|&v| {
                            let x0 = ci as f64 + 0.1 + si as f64 * w;
                            Rectangle::new([(x0, 0.0), (x0 + w * 0.9, v)], color.filled())
                        })
                })
                .collect();
            chart.draw_series(bars)?.label(*sys).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
            });
        }
        legend(&mut chart)?;
    }
    root.present().context("writing the quality plot")?;
    Ok(())
}

/// One panel of a delay-over-time grid ([`delay_grid`]).
#[derive(Debug, Clone)]
pub struct DelayPanel<'a> {
    /// The panel's caption.
    pub title: &'a str,
    /// Points drawn as small grey dots, for example each packet's network delay: `(s, ms)`.
    pub dots: &'a [(f64, f64)],
    /// Lines, each `(legend label, points)`; the legend is drawn when a label is not empty.
    pub lines: Vec<(&'a str, &'a [(f64, f64)])>,
}

/// Delay over time, one panel per entry of `panels` in a grid of three columns, each panel
/// `panel_height` pixels high, x in seconds and y (`y_desc`) in ms. The y range ends 20% above
/// the 99.5th percentile of the lines, so one outlier does not flatten the rest.
///
/// # Errors
/// When the font is missing or drawing fails.
pub fn delay_grid(
    panels: &[DelayPanel<'_>],
    y_desc: &str,
    panel_height: u32,
    path: &Path,
) -> anyhow::Result<()> {
    register_font()?;
    let cols = 3;
    let rows = panels.len().div_ceil(cols).max(1);
    let root = BitMapBackend::new(path, (1500, panel_height * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((rows, cols));
    for (p, area) in panels.iter().zip(areas.iter()) {
        let all_x = p.dots.iter().chain(p.lines.iter().flat_map(|l| l.1.iter()));
        let x_max = all_x.map(|q| q.0).fold(1.0, f64::max);
        let mut ys: Vec<f64> = p
            .lines
            .iter()
            .flat_map(|l| l.1.iter().map(|q| q.1))
            .collect();
        ys.sort_by(f64::total_cmp);
        let y_max = ys.get(ys.len() * 995 / 1000).copied().unwrap_or(100.0) * 1.2 + 10.0;
        let mut chart = ChartBuilder::on(area)
            .caption(p.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("send time s")
            .y_desc(y_desc)
            .label_style(("sans-serif", 11))
            .draw()?;
        chart.draw_series(
            p.dots
                .iter()
                .filter(|q| q.1 <= y_max)
                .map(|&q| Circle::new(q, 1, RGBColor(200, 200, 200).filled())),
        )?;
        for (i, &(label, points)) in p.lines.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let series = chart.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(1),
            ))?;
            if !label.is_empty() {
                series
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
            }
        }
        if p.lines.iter().any(|l| !l.0.is_empty()) {
            legend(&mut chart)?;
        }
    }
    root.present().context("writing the delay plot")?;
    Ok(())
}

/// Added delay over time of Parla's jitter buffer, one panel per network scenario, with the
/// best fixed delay in hindsight as a flat line.
///
/// # Errors
/// When drawing fails.
pub fn jitter(outcomes: &[Outcome], path: &Path) -> anyhow::Result<()> {
    let js: Vec<&Outcome> = outcomes.iter().filter(|o| !o.series.is_empty()).collect();
    let hindsight: Vec<Vec<(f64, f64)>> = js
        .iter()
        .map(|o| {
            let x_max = o.series.iter().map(|p| p.0).fold(1.0, f64::max);
            o.metrics
                .get("hindsight_delay_ms")
                .map_or_else(Vec::new, |&h| vec![(0.0, h), (x_max, h)])
        })
        .collect();
    let panels: Vec<DelayPanel<'_>> = js
        .iter()
        .zip(&hindsight)
        .map(|(o, h)| DelayPanel {
            title: &o.case,
            dots: &[],
            lines: vec![("", &o.series[..]), ("", &h[..])],
        })
        .collect();
    delay_grid(&panels, "added delay ms", 300, path)
}

/// Distribution of Parla's CPU time per call, one histogram per suite (all its cases merged).
///
/// # Errors
/// When drawing fails.
pub fn cpu(outcomes: &[Outcome], path: &Path) -> anyhow::Result<()> {
    let suites: Vec<&str> = Suite::ALL
        .map(Suite::as_str)
        .into_iter()
        .filter(|s| {
            outcomes
                .iter()
                .any(|o| o.suite == *s && o.system == OURS && !o.call_us.is_empty())
        })
        .collect();
    let root =
        BitMapBackend::new(path, (1000, 280 * suites.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((suites.len().max(1), 1));
    for (suite, area) in suites.iter().zip(areas.iter()) {
        let mut v: Vec<f64> = outcomes
            .iter()
            .filter(|o| o.suite == *suite && o.system == OURS)
            .flat_map(|o| o.call_us.iter().copied())
            .collect();
        v.sort_by(f64::total_cmp);
        let top = v
            .get((v.len() * 999 / 1000).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(1.0)
            .max(1.0);
        let bins = 60usize;
        let mut counts = vec![0u32; bins];
        for x in &v {
            let b = ((x / top) * bins as f64) as usize;
            counts[b.min(bins - 1)] += 1;
        }
        let y_max = counts.iter().copied().max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{suite}: CPU per call, {} calls (tail above p99.9 in the last bin)",
                    v.len()
                ),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..top, 0u32..y_max + y_max / 10 + 1)?;
        chart
            .configure_mesh()
            .x_desc("µs per call")
            .y_desc("calls")
            .label_style(("sans-serif", 11))
            .draw()?;
        let bw = top / bins as f64;
        chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
            Rectangle::new(
                [(i as f64 * bw, 0), ((i as f64 + 0.9) * bw, c)],
                COLORS[0].filled(),
            )
        }))?;
    }
    root.present().context("writing the CPU plot")?;
    Ok(())
}

/// One panel of [`video_call`]: a title, the y axis and its labelled lines.
struct LinePanel<'a> {
    title: String,
    y_desc: &'a str,
    lines: Vec<(&'a str, Vec<(f64, f64)>)>,
}

/// A video call over time (`parla call --video`'s `video.png`): for each direction (columns),
/// the target and sent bitrate, the picture height sent and the frames decoded per second.
///
/// # Errors
/// When the font is missing or drawing fails.
pub fn video_call(
    directions: &[(&str, &parla_sim::video::VideoReport)],
    path: &Path,
) -> anyhow::Result<()> {
    register_font()?;
    let mut rows: [Vec<LinePanel<'_>>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for &(name, v) in directions {
        let tl = &v.timeline;
        rows[0].push(LinePanel {
            title: format!("{name}: bitrate"),
            y_desc: "kbit/s",
            lines: vec![
                (
                    "target",
                    tl.iter()
                        .map(|s| (s.t_s, s.target_bps as f64 / 1e3))
                        .collect(),
                ),
                (
                    "sent",
                    tl.iter().map(|s| (s.t_s, s.sent_bps / 1e3)).collect(),
                ),
            ],
        });
        rows[1].push(LinePanel {
            title: format!("{name}: picture sent"),
            y_desc: "height px",
            lines: vec![(
                "",
                tl.iter().map(|s| (s.t_s, f64::from(s.height))).collect(),
            )],
        });
        rows[2].push(LinePanel {
            title: format!("{name}: decoded"),
            y_desc: "frames/s",
            lines: vec![(
                "",
                v.decoded_per_second
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (i as f64 + 1.0, f64::from(n)))
                    .collect(),
            )],
        });
    }
    let cols = directions.len().max(1);
    let root = BitMapBackend::new(path, (650 * cols as u32, 3 * 260)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((3, cols));
    for (p, area) in rows.iter().flatten().zip(areas.iter()) {
        let points = || p.lines.iter().flat_map(|l| l.1.iter());
        let x_max = points().map(|q| q.0).fold(1.0, f64::max);
        let y_max = points().map(|q| q.1).fold(1.0, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(&p.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("call time s")
            .y_desc(p.y_desc)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style(("sans-serif", 11))
            .draw()?;
        for (i, (label, points)) in p.lines.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let series = chart.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?;
            if !label.is_empty() {
                series
                    .label(*label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
            }
        }
        if p.lines.iter().any(|l| !l.0.is_empty()) {
            legend(&mut chart)?;
        }
    }
    root.present().context("writing the video plot")?;
    Ok(())
}
