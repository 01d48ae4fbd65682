//! Shared helpers of the parla-rtp integration tests.
#![allow(dead_code, unused_imports)] // each test uses a subset

pub use parla_testkit::seed::seed;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// A seeded RNG (see [`seed`]; ChaCha20, the stream these tests were written against).
pub fn rng(default_seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed(default_seed))
}

/// Decodes a lowercase hex string.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
