//! Replayable seeds: a test picks a default seed, `PARLA_TEST_SEED` overrides it, and the seed
//! used is printed (shown by the test runner when the test fails) so the failure can be rerun.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The environment variable that overrides every test's default seed.
pub const SEED_ENV: &str = "PARLA_TEST_SEED";

/// The seed for a test: `PARLA_TEST_SEED` if set to an integer, else `default`. Prints the seed
/// used and how to replay it.
pub fn seed(default: u64) -> u64 {
    let s = seed_from(std::env::var(SEED_ENV).ok().as_deref(), default);
    eprintln!("seed {s} (set {SEED_ENV} to replay)");
    s
}

/// The seed an override value gives: `value` parsed as an integer, else `default` (also when
/// `value` is not a number, so a typo does not silently pick 0).
pub fn seed_from(value: Option<&str>, default: u64) -> u64 {
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// A deterministic RNG from `seed` (ChaCha8: fast, and the same stream on every platform).
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// [`rng`] of [`seed`]`(default)`: the usual start of a seeded test.
pub fn seeded_rng(default: u64) -> ChaCha8Rng {
    rng(seed(default))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn override_wins_and_bad_values_fall_back() {
        assert_eq!(seed_from(None, 7), 7);
        assert_eq!(seed_from(Some("12345"), 7), 12_345);
        assert_eq!(seed_from(Some(" 9 "), 7), 9);
        assert_eq!(seed_from(Some("abc"), 7), 7);
        assert_eq!(seed_from(Some(""), 7), 7);
    }

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let mut r1 = rng(1);
        let b: Vec<u64> = (0..8).map(|_| r1.random()).collect();
        let mut r2 = rng(1);
        let c: Vec<u64> = (0..8).map(|_| r2.random()).collect();
        assert_eq!(b, c);
        let mut r3 = rng(2);
        assert_ne!(b, (0..8).map(|_| r3.random()).collect::<Vec<u64>>());
    }
}
