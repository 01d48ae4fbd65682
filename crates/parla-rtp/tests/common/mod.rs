//! Shared helpers of the parla-rtp integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The test seed: `PARLA_TEST_SEED` if set, else `default`. Printed so a failure can be rerun.
pub fn seed(default: u64) -> u64 {
    let s = std::env::var("PARLA_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    println!("seed {s} (override with PARLA_TEST_SEED)");
    s
}

/// A seeded RNG (see [`seed`]).
pub fn rng(default_seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed(default_seed))
}

/// The shared data folder: `PARLA_SHARED_DIR`, else `<workspace>/../shared`.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("PARLA_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// Decodes a lowercase hex string.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
