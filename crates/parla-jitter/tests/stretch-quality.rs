//! The time stretcher keeps the pitch of voiced speech and adds no clicks when speeding it up or
//! slowing it down by 10-30%.
use parla_jitter::stretch::{CLICK_STEP_RATIO, TimeStretcher};

const RATE: u32 = 48_000;

/// A synthetic voiced signal: a glottal-like harmonic series whose f0 glides from `f0` to
/// `1.15 * f0`, with a 4 Hz syllable envelope and a little noise.
fn voiced(f0: f32, seconds: f32) -> Vec<f32> {
    let n = (seconds * RATE as f32) as usize;
    let mut phase = 0.0f32;
    let mut noise = 0x1234_5678u32;
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            let f = f0 * (1.0 + 0.15 * t / seconds);
            phase += std::f32::consts::TAU * f / RATE as f32;
            let env = 0.6 + 0.4 * (std::f32::consts::TAU * 4.0 * t).sin();
            let harm: f32 = (1..12)
                .map(|h| (phase * h as f32).sin() / (h as f32).powf(1.2))
                .sum();
            noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let w = ((noise >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.002;
            0.2 * env * harm + w
        })
        .collect()
}

/// Stretch `x` towards `ratio` (output length over input length): splice one period whenever
/// the output is ahead of (or behind) the target, copy 10 ms otherwise.
fn stretch(x: &[f32], ratio: f32) -> (Vec<f32>, usize) {
    let mut s = TimeStretcher::new(RATE).expect("valid rate");
    let block = s.min_input_len();
    let hop = RATE as usize / 100;
    let mut out = Vec::with_capacity(x.len() * 2);
    let mut buf = vec![0.0f32; block + s.max_period()];
    let mut pos = 0;
    let mut splices = 0;
    while pos + block <= x.len() {
        let produced = out.len() as f32;
        let target = pos as f32 * ratio;
        let input = &x[pos..pos + block];
        let r = if ratio < 1.0 && produced > target {
            s.accelerate_into(input, &mut buf, false).expect("sized")
        } else if ratio > 1.0 && produced < target {
            s.expand_into(input, &mut buf, false).expect("sized")
        } else {
            out.extend_from_slice(&x[pos..pos + hop]);
            pos += hop;
            continue;
        };
        if !r.stretched() {
            out.extend_from_slice(&x[pos..pos + hop]);
            pos += hop;
            continue;
        }
        splices += 1;
        // Keep only the spliced part: accelerate turned x[0..2T] into T samples, expand turned
        // x[0..T] into 2T; the rest of the block is the input unchanged.
        let t = r.period;
        if ratio < 1.0 {
            out.extend_from_slice(&buf[..t]);
            pos += 2 * t;
        } else {
            out.extend_from_slice(&buf[..2 * t]);
            pos += t;
        }
    }
    (out, splices)
}

/// f0 by autocorrelation over 40 ms windows, median over the signal.
fn median_f0(x: &[f32], from_hz: f32, to_hz: f32) -> f32 {
    let win = RATE as usize / 25;
    let (lo, hi) = (
        (RATE as f32 / to_hz) as usize,
        (RATE as f32 / from_hz) as usize,
    );
    let mut f0s = Vec::new();
    let mut p = 0;
    while p + win + hi < x.len() {
        let seg = &x[p..p + win];
        let mut best = (lo, f32::MIN);
        for lag in lo..=hi {
            let c: f32 = seg.iter().zip(&x[p + lag..]).map(|(a, b)| a * b).sum();
            if c > best.1 {
                best = (lag, c);
            }
        }
        f0s.push(RATE as f32 / best.0 as f32);
        p += win;
    }
    f0s.sort_by(f32::total_cmp);
    f0s[f0s.len() / 2]
}

fn max_step(x: &[f32]) -> f32 {
    x.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn pitch_kept_and_no_clicks_at_10_to_30_percent() {
    let x = voiced(140.0, 3.0);
    let f_in = median_f0(&x, 80.0, 300.0);
    let step_in = max_step(&x);
    for ratio in [0.7f32, 0.8, 0.9, 1.1, 1.2, 1.3] {
        let (y, splices) = stretch(&x, ratio);
        let achieved = y.len() as f32 / x.len() as f32;
        assert!(
            (achieved - ratio).abs() < 0.03,
            "ratio {ratio}: achieved {achieved}"
        );
        assert!(splices > 10, "ratio {ratio}: only {splices} splices");
        let f_out = median_f0(&y, 80.0, 300.0);
        assert!(
            (f_out / f_in - 1.0).abs() < 0.02,
            "ratio {ratio}: f0 {f_in} Hz became {f_out} Hz"
        );
        let step_out = max_step(&y);
        assert!(
            step_out <= CLICK_STEP_RATIO * step_in,
            "ratio {ratio}: click, step {step_out} vs input {step_in}"
        );
    }
}

#[test]
fn the_click_criterion_catches_a_naive_cut() {
    // Control: removing the same amount by cutting without a pitch-synchronous cross-fade
    // must fail the criterion, so the test above could fail.
    let x = voiced(140.0, 1.0);
    let mut y = x[..10_000].to_vec();
    y.extend_from_slice(&x[10_000 + 157..]);
    assert!(max_step(&y) > CLICK_STEP_RATIO * max_step(&x));
}

#[test]
fn resampled_pitch_would_be_caught() {
    // Control for the pitch check: plain resampling by 0.8 (dropping every fifth sample) raises
    // the pitch by 25%, which the f0 measure sees.
    let x = voiced(140.0, 2.0);
    let y: Vec<f32> = x
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 5 != 4)
        .map(|(_, v)| *v)
        .collect();
    let ratio = median_f0(&y, 80.0, 300.0) / median_f0(&x, 80.0, 300.0);
    assert!(ratio > 1.2, "{ratio}");
}
