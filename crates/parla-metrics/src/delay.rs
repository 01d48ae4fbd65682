//! Delay estimation by normalised cross-correlation: the one estimator of the project (reports,
//! the call simulation, the harness and the tests all use it).
//!
//! `delayed` is searched for `reference` at lags `0..=max_lag`. For each lag the raw correlation
//! `r[lag] = sum_i reference[i] * delayed[i + lag]` is computed by FFT, block by block over the
//! reference (so the transform size depends on `max_lag`, not on the signal length), and
//! normalised by the energies of the two signals over the samples that overlap at that lag:
//! `c = r / sqrt(E_ref(0..n) * E_delayed(lag..lag + n))` with `n = min(len_ref, len_delayed - lag)`.
//! Lags where either energy is below `1e-12` (silence) do not count. The result is the lag with
//! the largest `c` and `c` itself, in `[-1, 1]`; `(0, 0.0)` when no lag counts.
//!
//! Two front ends share the same correlation kernel and peak picking:
//! - [`estimate_delay`] (and [`Correlator::estimate`], which keeps its FFT plans between calls)
//!   on whole signals;
//! - [`DelayStream`], which takes the two signals piece by piece in near lockstep (as a call
//!   produces them) and holds only `O(max_lag)` samples, whatever the length of the signals. It
//!   gives the same answer as [`estimate_delay`] on the whole signals (tested).

use std::collections::VecDeque;
use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Energies at or below this count as silence.
const SILENCE: f64 = 1e-12;

/// The lag (in samples, `0..=max_lag`) by which `delayed` lags `reference`, found as the maximum
/// of their normalised cross-correlation (see the [module docs](self)). Returns the lag and the
/// correlation at it in `[-1, 1]`, or `(0, 0.0)` when either signal is silent.
///
/// Cost: `O((n + max_lag) log max_lag)` by FFT. To run many estimates with one `max_lag`, keep a
/// [`Correlator`].
pub fn estimate_delay(reference: &[f32], delayed: &[f32], max_lag: usize) -> (usize, f64) {
    Correlator::new(max_lag).estimate(reference, delayed)
}

/// Cross-correlation by blocks of the reference, with the FFT plans kept between calls.
pub struct Correlator {
    max_lag: usize,
    block: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    ifft: Arc<dyn ComplexToReal<f32>>,
    xa: Vec<f32>,
    ya: Vec<f32>,
    xs: Vec<Complex32>,
    ys: Vec<Complex32>,
    out: Vec<f32>,
    r: Vec<f64>,
}

impl std::fmt::Debug for Correlator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Correlator")
            .field("max_lag", &self.max_lag)
            .field("block", &self.block)
            .finish()
    }
}

impl Correlator {
    /// A correlator for lags `0..=max_lag`.
    pub fn new(max_lag: usize) -> Self {
        let block = (max_lag + 1).next_power_of_two().max(4096);
        let n = (block + max_lag).next_power_of_two();
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(n);
        let ifft = planner.plan_fft_inverse(n);
        Correlator {
            max_lag,
            block,
            xs: fft.make_output_vec(),
            ys: fft.make_output_vec(),
            out: ifft.make_output_vec(),
            xa: vec![0.0; n],
            ya: vec![0.0; n],
            fft,
            ifft,
            r: vec![0.0; max_lag + 1],
        }
    }

    /// The largest lag searched.
    pub fn max_lag(&self) -> usize {
        self.max_lag
    }

    /// The reference block length the kernel works on.
    pub fn block(&self) -> usize {
        self.block
    }

    /// [`estimate_delay`] with this correlator's `max_lag`.
    pub fn estimate(&mut self, reference: &[f32], delayed: &[f32]) -> (usize, f64) {
        let mut r = std::mem::take(&mut self.r);
        r.fill(0.0);
        for (k, x) in reference.chunks(self.block).enumerate() {
            let s = k * self.block;
            let y = delayed.get(s..).unwrap_or(&[]);
            self.accumulate(x, y, &mut r);
        }
        let px = prefix_energy(reference);
        let py = prefix_energy(delayed);
        let (nx, ny) = (reference.len(), delayed.len());
        let best = pick_peak(&r, nx, ny, |n| px[n], |a, b| py[b] - py[a]);
        self.r = r;
        best
    }

    /// Add `sum_i x[i] * y[i + lag]` to `r[lag]` for every lag (`x` at most one block long; `y`
    /// is read up to `x.len() + max_lag` samples, zero beyond its end).
    fn accumulate(&mut self, x: &[f32], y: &[f32], r: &mut [f64]) {
        if x.is_empty() || y.is_empty() {
            return;
        }
        let x = &x[..x.len().min(self.block)];
        let y = &y[..y.len().min(x.len() + self.max_lag)];
        self.xa.fill(0.0);
        self.xa[..x.len()].copy_from_slice(x);
        self.ya.fill(0.0);
        self.ya[..y.len()].copy_from_slice(y);
        // The buffers come from the plans, so the transforms cannot fail on length.
        let _ = self.fft.process(&mut self.xa, &mut self.xs);
        let _ = self.fft.process(&mut self.ya, &mut self.ys);
        for (a, b) in self.xs.iter_mut().zip(&self.ys) {
            *a = a.conj() * b;
        }
        // realfft wants real DC and Nyquist bins on the inverse transform.
        if let Some(f) = self.xs.first_mut() {
            f.im = 0.0;
        }
        if let Some(l) = self.xs.last_mut() {
            l.im = 0.0;
        }
        let _ = self.ifft.process(&mut self.xs, &mut self.out);
        let scale = 1.0 / self.out.len() as f64;
        for (acc, &v) in r.iter_mut().zip(&self.out) {
            *acc += f64::from(v) * scale;
        }
    }
}

fn prefix_energy(x: &[f32]) -> Vec<f64> {
    let mut p = Vec::with_capacity(x.len() + 1);
    let mut acc = 0.0f64;
    p.push(0.0);
    for &v in x {
        acc += f64::from(v) * f64::from(v);
        p.push(acc);
    }
    p
}

/// The best normalised lag from raw correlations `r`, given the signal lengths, the reference's
/// energy over its first `n` samples (`ex(n)`) and the delayed signal's energy over `a..b`
/// (`ey(a, b)`).
fn pick_peak(
    r: &[f64],
    nx: usize,
    ny: usize,
    ex: impl Fn(usize) -> f64,
    ey: impl Fn(usize, usize) -> f64,
) -> (usize, f64) {
    let mut best: Option<(usize, f64)> = None;
    for (lag, &dot) in r.iter().enumerate() {
        if lag >= ny {
            break;
        }
        let n = nx.min(ny - lag);
        let (rr, dd) = (ex(n), ey(lag, lag + n));
        if rr <= SILENCE || dd <= SILENCE {
            continue;
        }
        let c = (dot / (rr * dd).sqrt()).clamp(-1.0, 1.0);
        if best.is_none_or(|(_, b)| c > b) {
            best = Some((lag, c));
        }
    }
    best.unwrap_or((0, 0.0))
}

/// Prefix energies of the last samples of a stream: `value(k)` is the energy of samples `0..k`
/// for `k` within `keep` of the stream's length.
#[derive(Debug)]
struct PrefixTail {
    keep: usize,
    /// `p[j]` = energy of samples `0..start + j`.
    p: VecDeque<f64>,
    start: usize,
    total: f64,
}

impl PrefixTail {
    fn new(keep: usize) -> Self {
        let mut p = VecDeque::with_capacity(keep + 2);
        p.push_back(0.0);
        PrefixTail {
            keep,
            p,
            start: 0,
            total: 0.0,
        }
    }

    fn push(&mut self, x: &[f32]) {
        for &v in x {
            self.total += f64::from(v) * f64::from(v);
            self.p.push_back(self.total);
            if self.p.len() > self.keep + 1 {
                self.p.pop_front();
                self.start += 1;
            }
        }
    }

    /// Energy of `0..k`; `k` below the kept range is clamped to it (see [`DelayStream`]).
    fn value(&self, k: usize) -> f64 {
        let j = k.saturating_sub(self.start).min(self.p.len() - 1);
        self.p[j]
    }
}

/// [`estimate_delay`] over two signals that arrive piece by piece, holding `O(max_lag)` samples.
///
/// Push the reference and the delayed signal as they come ([`DelayStream::push_reference`],
/// [`DelayStream::push_delayed`]); [`DelayStream::result`] gives what [`estimate_delay`] would give
/// on the whole signals so far. The two streams must stay in near lockstep: the delayed stream
/// is held from the start of the reference block being filled, so it may run ahead by any
/// amount at the cost of memory, and the normalisation is exact while the two lengths differ by
/// at most `max_lag + block` samples (beyond that the energies of the oldest lags are clamped).
#[derive(Debug)]
pub struct DelayStream {
    corr: Correlator,
    r: Vec<f64>,
    /// The reference from the first sample not yet correlated on.
    x: Vec<f32>,
    /// The delayed signal from the same sample on.
    y: VecDeque<f32>,
    y_scratch: Vec<f32>,
    nx: usize,
    ny: usize,
    /// Energy prefix of the first `max_lag + 1` samples of the delayed signal.
    y_head: Vec<f64>,
    x_tail: PrefixTail,
    y_tail: PrefixTail,
}

impl DelayStream {
    /// A streaming estimator for lags `0..=max_lag`.
    pub fn new(max_lag: usize) -> Self {
        let corr = Correlator::new(max_lag);
        let keep = 2 * max_lag + corr.block() + 1;
        DelayStream {
            r: vec![0.0; max_lag + 1],
            x: Vec::with_capacity(corr.block()),
            y: VecDeque::new(),
            y_scratch: Vec::new(),
            nx: 0,
            ny: 0,
            y_head: vec![0.0],
            x_tail: PrefixTail::new(keep),
            y_tail: PrefixTail::new(keep),
            corr,
        }
    }

    /// Samples of the reference pushed so far.
    pub fn reference_len(&self) -> usize {
        self.nx
    }

    /// Samples of the delayed signal pushed so far.
    pub fn delayed_len(&self) -> usize {
        self.ny
    }

    /// More of the reference.
    pub fn push_reference(&mut self, x: &[f32]) {
        self.nx += x.len();
        self.x_tail.push(x);
        self.x.extend(x.iter().copied());
        self.flush();
    }

    /// More of the delayed signal.
    pub fn push_delayed(&mut self, y: &[f32]) {
        self.ny += y.len();
        self.y_tail.push(y);
        let head = self.corr.max_lag() + 1;
        for &v in y.iter().take(head.saturating_sub(self.y_head.len() - 1)) {
            let last = self.y_head.last().copied().unwrap_or(0.0);
            self.y_head.push(last + f64::from(v) * f64::from(v));
        }
        self.y.extend(y.iter().copied());
        self.flush();
    }

    /// Correlate every full reference block that the delayed signal covers.
    fn flush(&mut self) {
        let b = self.corr.block();
        let need = b + self.corr.max_lag();
        while self.x.len() >= b && self.y.len() >= need {
            self.y_scratch.clear();
            self.y_scratch.extend(self.y.iter().take(need));
            let x: Vec<f32> = self.x.drain(..b).collect();
            self.corr.accumulate(&x, &self.y_scratch, &mut self.r);
            self.y.drain(..b);
        }
    }

    /// The estimate over everything pushed so far: `(lag, correlation)`, as [`estimate_delay`].
    /// Pushing more afterwards is allowed.
    pub fn result(&mut self) -> (usize, f64) {
        // What is left is correlated into a copy so the stream can go on.
        let mut r = self.r.clone();
        let b = self.corr.block();
        let y: Vec<f32> = self.y.iter().copied().collect();
        let x = self.x.clone();
        for (k, xb) in x.chunks(b).enumerate() {
            let yb = y.get(k * b..).unwrap_or(&[]);
            self.corr.accumulate(xb, yb, &mut r);
        }
        let head = &self.y_head;
        let (xt, yt) = (&self.x_tail, &self.y_tail);
        let ey = |k: usize| head.get(k).copied().unwrap_or_else(|| yt.value(k));
        pick_peak(&r, self.nx, self.ny, |n| xt.value(n), |a, b| ey(b) - ey(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f32>() - 0.5).collect()
    }

    /// The definition, computed directly.
    fn direct(x: &[f32], y: &[f32], max_lag: usize) -> (usize, f64) {
        let mut best: Option<(usize, f64)> = None;
        for lag in 0..=max_lag.min(y.len().saturating_sub(1)) {
            let n = x.len().min(y.len() - lag);
            let (mut d, mut rr, mut dd) = (0.0f64, 0.0f64, 0.0f64);
            for i in 0..n {
                let (a, b) = (f64::from(x[i]), f64::from(y[i + lag]));
                d += a * b;
                rr += a * a;
                dd += b * b;
            }
            if rr <= SILENCE || dd <= SILENCE {
                continue;
            }
            let c = d / (rr * dd).sqrt();
            if best.is_none_or(|(_, b)| c > b) {
                best = Some((lag, c));
            }
        }
        best.unwrap_or((0, 0.0))
    }

    #[test]
    fn finds_a_known_delay_and_matches_the_direct_sum() {
        // Bursts of noise (speech-like on/off), then a copy 137 samples later at half level with
        // a little noise: several blocks long, so the block accumulation is exercised.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<f32> = (0..20_000)
            .map(|i| {
                if (i / 3000) % 2 == 0 {
                    rng.random::<f32>() - 0.5
                } else {
                    0.0
                }
            })
            .collect();
        let mut y = vec![0.0f32; 137];
        y.extend(
            x.iter()
                .map(|v| 0.5 * v + 0.02 * (rng.random::<f32>() - 0.5)),
        );
        let (lag, c) = estimate_delay(&x, &y, 400);
        assert_eq!(lag, 137);
        assert!(c > 0.99, "{c}");
        let (dl, dc) = direct(&x, &y, 400);
        assert_eq!(dl, lag);
        assert!((dc - c).abs() < 1e-4, "{dc} vs {c}");
        // Unrelated noise never reaches a high correlation.
        let (_, c) = estimate_delay(&x, &noise(20_000, 9), 400);
        assert!(c < 0.1, "{c}");
    }

    #[test]
    fn silence_and_edge_cases() {
        assert_eq!(estimate_delay(&[0.0; 100], &noise(200, 1), 50), (0, 0.0));
        assert_eq!(estimate_delay(&noise(100, 1), &[], 50), (0, 0.0));
        assert_eq!(estimate_delay(&[], &noise(100, 1), 50), (0, 0.0));
        // max_lag 0: the zero-lag correlation of a signal with itself.
        let x = noise(1000, 4);
        let (lag, c) = estimate_delay(&x, &x, 0);
        assert_eq!(lag, 0);
        assert!((c - 1.0).abs() < 1e-5, "{c}");
        // A delayed signal shorter than the largest lag: only the lags it covers count.
        let (lag, _) = estimate_delay(&x[..500], &x[..600], 5000);
        assert_eq!(lag, 0);
        // Inverted: the best correlation is the least negative one, never below -1.
        let neg: Vec<f32> = x.iter().map(|v| -v).collect();
        let (_, c) = estimate_delay(&x, &neg, 10);
        assert!((-1.0..0.2).contains(&c), "{c}");
    }

    #[test]
    fn matches_the_direct_sum_on_random_lengths() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for case in 0..20 {
            let nx = rng.random_range(1..9000);
            let ny = rng.random_range(1..9000);
            let max_lag = rng.random_range(0..3000);
            let x = noise(nx, case);
            let mut y = noise(ny, case + 100);
            let d = rng.random_range(0..=max_lag);
            for (i, v) in y.iter_mut().enumerate().skip(d) {
                *v += x.get(i - d).copied().unwrap_or(0.0);
            }
            let (fl, fc) = estimate_delay(&x, &y, max_lag);
            let (dl, dc) = direct(&x, &y, max_lag);
            assert!((fc - dc).abs() < 1e-4, "case {case}: {fc} vs {dc}");
            if (fc - dc).abs() < 1e-6 || fl == dl {
                continue;
            }
            // Two lags within rounding of each other may swap; their correlations may not differ.
            assert!((fc - dc).abs() < 1e-4, "case {case}: lag {fl} vs {dl}");
        }
    }

    #[test]
    fn the_stream_equals_the_whole_signal_estimate() {
        let rate = 8000;
        let max_lag = 1200;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x: Vec<f32> = (0..rate * 30)
            .map(|i| {
                if (i / 5000) % 3 != 2 {
                    rng.random::<f32>() - 0.5
                } else {
                    0.0
                }
            })
            .collect();
        let d = 777;
        let mut y = vec![0.0f32; d];
        y.extend(
            x.iter()
                .map(|v| 0.3 * v + 0.05 * (rng.random::<f32>() - 0.5)),
        );
        y.truncate(x.len() - 300);
        let whole = estimate_delay(&x, &y, max_lag);
        assert_eq!(whole.0, d);
        let mut s = DelayStream::new(max_lag);
        // Frames of 80 samples, the delayed stream lagging behind by up to 300 samples.
        let mut i = 0;
        let mut mid = None;
        while i < x.len() {
            let e = (i + 80).min(x.len());
            s.push_reference(&x[i..e]);
            s.push_delayed(&y[i.min(y.len())..e.min(y.len())]);
            if i == 80 * 1000 {
                let at = s.result();
                mid = Some((at, estimate_delay(&x[..e], &y[..e.min(y.len())], max_lag)));
            }
            i = e;
        }
        let ((ml, mc), (wl, wc)) = mid.expect("mid-call result");
        assert_eq!(ml, wl);
        assert!((mc - wc).abs() < 1e-6, "{mc} vs {wc}");
        let (lag, c) = s.result();
        assert_eq!(lag, whole.0);
        assert!((c - whole.1).abs() < 1e-6, "{c} vs {}", whole.1);
        assert_eq!((s.reference_len(), s.delayed_len()), (x.len(), y.len()));
    }
}
