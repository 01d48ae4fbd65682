//! Seeded bursts of bad samples (issue 15, point 2), shared by the bad-sample tests of
//! parla-dsp, parla-codec, parla-jitter (the time stretcher) and parla-engine: runs of 1 to 50 frames of
//! NaN, +/-Inf, subnormals, huge values (1e30) or loud ones (+/-3.0), or those mixed sample by
//! sample into the signal, with clean gaps in between so each recovery can be measured.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a burst is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every sample NaN.
    Nan,
    /// Every sample +Inf.
    PosInf,
    /// Every sample -Inf.
    NegInf,
    /// Subnormals (+/-1e-40): finite and in range, but poison for recursive filters' speed.
    Subnormal,
    /// +/-1e30, random signs.
    Huge,
    /// +/-3.0, random signs (about +9.5 dBFS of full-band noise).
    Loud,
    /// The clean signal with a random half of its samples replaced by any of the above.
    Mixed,
}

/// All kinds, in the order the schedule draws from.
pub const KINDS: [Kind; 7] = [
    Kind::Nan,
    Kind::PosInf,
    Kind::NegInf,
    Kind::Subnormal,
    Kind::Huge,
    Kind::Loud,
    Kind::Mixed,
];

/// One burst: `len` frames from frame `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// First bad frame.
    pub start: usize,
    /// Frames.
    pub len: usize,
    /// What it is made of.
    pub kind: Kind,
}

impl Burst {
    /// The first frame after the burst.
    pub fn end(&self) -> usize {
        self.start + self.len
    }
}

/// The seed: `PARLA_TEST_SEED` if set, else `default`; printed so a failure can be replayed.
pub use crate::seed::seed;

/// A usize from the environment variable `name`, else `default` (the knobs for longer runs).
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bursts in `frames` frames: the first starts at or after `first`, each lasts 1 to `max_len`
/// frames and is followed by at least `gap` clean frames (the recovery window); every kind
/// appears once before any repeats (while there is room).
pub fn schedule(seed: u64, frames: usize, first: usize, gap: usize, max_len: usize) -> Vec<Burst> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut bursts = Vec::new();
    let mut at = first + rng.random_range(0..10);
    loop {
        let len = rng.random_range(1..=max_len);
        if at + len + gap > frames {
            break;
        }
        let kind = KINDS[(bursts.len() + (seed as usize)) % KINDS.len()];
        bursts.push(Burst {
            start: at,
            len,
            kind,
        });
        at += len + gap + rng.random_range(0..20);
    }
    bursts
}

/// A bad sample of `kind` (for [`Kind::Mixed`], of a random other kind).
fn bad_sample(kind: Kind, rng: &mut ChaCha8Rng) -> f32 {
    let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
    match kind {
        Kind::Nan => f32::NAN,
        Kind::PosInf => f32::INFINITY,
        Kind::NegInf => f32::NEG_INFINITY,
        Kind::Subnormal => sign * 1e-40,
        Kind::Huge => sign * 1e30,
        Kind::Loud => sign * 3.0,
        Kind::Mixed => bad_sample(KINDS[rng.random_range(0..KINDS.len() - 1)], rng),
    }
}

/// `clean` with the `bursts` written in (frames of `frame_len` samples).
pub fn corrupt(clean: &[f32], frame_len: usize, bursts: &[Burst], seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xbad5);
    let mut x = clean.to_vec();
    for b in bursts {
        let end = (b.end() * frame_len).min(x.len());
        for v in &mut x[b.start * frame_len..end] {
            if b.kind != Kind::Mixed || rng.random::<bool>() {
                *v = bad_sample(b.kind, &mut rng);
            }
        }
    }
    x
}

/// Samples an engine's capture boundary counts as bad (`parla_core::frame::sanitize_into`:
/// not finite, or beyond full scale; subnormals are flushed without being counted).
pub fn count_bad(x: &[f32]) -> usize {
    x.iter().filter(|v| !v.is_finite() || v.abs() > 1.0).count()
}

/// Normalized correlation of `a` and `b` at lag 0.
pub fn corr(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa * bb <= 0.0 {
        return 0.0;
    }
    ab / (aa * bb).sqrt()
}

/// The largest magnitude in `x`, NaN if any sample is NaN.
pub fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, &v| {
        if v.is_nan() || m.is_nan() {
            f32::NAN
        } else {
            m.max(v.abs())
        }
    })
}

/// Checks, for every burst, that `out` (frames of `frame_len` samples lined up with the input)
/// is finite and within `bound` from `grace` frames after the burst to the next burst.
/// Returns, per burst, the peak during the burst (NaN when it let NaN through).
///
/// # Panics
/// When the check fails (this is a test assertion), naming `what`, the burst and the peak.
pub fn check_bounded_after(
    what: &str,
    out: &[f32],
    frame_len: usize,
    bursts: &[Burst],
    grace: usize,
    bound: f32,
) -> Vec<f32> {
    let frames = out.len() / frame_len;
    let mut during = Vec::new();
    for (k, b) in bursts.iter().enumerate() {
        let next = bursts.get(k + 1).map_or(frames, |n| n.start);
        let from = (b.end() + grace).min(next);
        let window = &out[from * frame_len..next * frame_len];
        let p = peak(window);
        assert!(
            p.is_finite() && p <= bound,
            "{what}: after burst {k} ({b:?}) the output peaks at {p} (bound {bound}) \
             between frames {from} and {next}"
        );
        during.push(peak(
            &out[b.start * frame_len..(b.end() * frame_len).min(out.len())],
        ));
    }
    during
}
