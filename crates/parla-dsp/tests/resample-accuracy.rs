//! Every device rate to every processing rate and back: a sine keeps its frequency and level,
//! and the delay the resampler reports is the delay measured on a pulse (to within one output
//! sample period).
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
mod common;

use parla_core::format::{PROCESSING_RATES, SUPPORTED_RATES};
use parla_dsp::resample::{ResampleMode, StreamResampler};

fn pairs() -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for &dev in &SUPPORTED_RATES {
        for &proc in &PROCESSING_RATES {
            if dev != proc {
                v.push((dev, proc));
                v.push((proc, dev));
            }
        }
    }
    v
}

/// Stream `input` through in uneven blocks, pulling uneven blocks, as a device loop would.
fn stream(r: &mut StreamResampler, input: &[f32]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut pos = 0;
    let sizes = [r.max_block(), 7, r.max_block() / 2 + 1, 1];
    let mut k = 0;
    let mut buf = [0.0f32; 97];
    while pos < input.len() {
        let n = sizes[k % sizes.len()].min(input.len() - pos);
        r.push(&input[pos..pos + n]).unwrap();
        pos += n;
        k += 1;
        let want = 1 + (k * 13) % buf.len();
        while r.pull(&mut buf[..want]) {
            out.extend_from_slice(&buf[..want]);
        }
    }
    let rest = r.available();
    let mut tail = vec![0.0; rest];
    assert!(r.pull(&mut tail));
    out.extend_from_slice(&tail);
    out
}

fn frequency_by_zero_crossings(x: &[f32], rate: u32) -> f64 {
    let mut first = None;
    let mut last = 0.0;
    let mut count = 0usize;
    for i in 1..x.len() {
        if x[i - 1] < 0.0 && x[i] >= 0.0 {
            let frac = f64::from(-x[i - 1]) / f64::from(x[i] - x[i - 1]);
            let t = (i - 1) as f64 + frac;
            if first.is_none() {
                first = Some(t);
            } else {
                count += 1;
            }
            last = t;
        }
    }
    count as f64 * f64::from(rate) / (last - first.unwrap_or(last))
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn sine_keeps_frequency_and_level_for_every_rate_pair() {
    for mode in [ResampleMode::Fixed, ResampleMode::Adjustable] {
        for (a, b) in pairs() {
            let freq = 997.0;
            let amp = 0.5f32;
            let input = common::sine(freq, amp, a, a as usize); // 1 s
            let mut r = StreamResampler::new(a, b, 1, a as usize / 100 + 1, mode).unwrap();
            let out = stream(&mut r, &input);
            // Judge the steady middle: skip the delay and start-up, and the end.
            let d = r.delay_frames();
            let steady = &out[d + b as usize / 10..d + b as usize * 8 / 10];
            let f = frequency_by_zero_crossings(steady, b);
            let level_db = 20.0 * (rms(steady) / (f64::from(amp) / 2f64.sqrt())).log10();
            assert!(
                (f - freq).abs() < 0.5,
                "{mode:?} {a}->{b}: frequency {f:.3} Hz, expected {freq}"
            );
            assert!(
                level_db.abs() < 0.5,
                "{mode:?} {a}->{b}: level changed by {level_db:.3} dB"
            );
        }
    }
}

/// A smooth pulse (Gaussian, well inside every band) centred on input sample `centre`.
fn pulse(rate: u32, n: usize, centre: f64) -> Vec<f32> {
    let sigma = f64::from(rate) * 0.0006; // 0.6 ms: energy below about 1 kHz
    (0..n)
        .map(|i| (-((i as f64 - centre) / sigma).powi(2) / 2.0).exp() as f32)
        .collect()
}

fn peak(x: &[f32]) -> f64 {
    let (i, _) = x
        .iter()
        .enumerate()
        .skip(1)
        .take(x.len() - 2)
        .fold((1, f32::MIN), |m, (i, &v)| if v > m.1 { (i, v) } else { m });
    // Parabolic interpolation around the maximum.
    let (y0, y1, y2) = (f64::from(x[i - 1]), f64::from(x[i]), f64::from(x[i + 1]));
    let den = y0 - 2.0 * y1 + y2;
    i as f64
        + if den.abs() > 1e-12 {
            0.5 * (y0 - y2) / den
        } else {
            0.0
        }
}

#[test]
fn reported_delay_matches_measured_delay() {
    for mode in [ResampleMode::Fixed, ResampleMode::Adjustable] {
        for (a, b) in pairs() {
            let centre = f64::from(a) * 0.1234; // 123.4 ms in
            let input = pulse(a, a as usize / 2, centre);
            let mut r = StreamResampler::new(a, b, 1, a as usize / 100 + 1, mode).unwrap();
            let out = stream(&mut r, &input);
            let measured = peak(&out) - centre * f64::from(b) / f64::from(a);
            let reported = r.delay();
            assert!(
                (measured - reported).abs() < 1.0,
                "{mode:?} {a}->{b}: reported delay {reported} frames, measured {measured:.2}"
            );
        }
    }
}

#[test]
fn process_all_lines_up_with_the_input() {
    let input = pulse(44_100, 44_100, 10_000.0);
    let mut r = StreamResampler::new(44_100, 48_000, 1, 4410, ResampleMode::Fixed).unwrap();
    let out = r.process_all(&input).unwrap();
    assert_eq!(out.len(), 48_000);
    let p = peak(&out);
    let expected = 10_000.0 * 48_000.0 / 44_100.0;
    assert!(
        (p - expected).abs() < 1.0,
        "peak at {p}, expected {expected}"
    );
}
