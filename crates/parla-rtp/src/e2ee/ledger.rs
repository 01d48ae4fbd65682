//! A test-build ledger of every nonce used (feature `_nonce-ledger`, enabled by the test builds
//! of the crates that run calls): each protected frame records its (key, key id, counter); a
//! repeat is counted. Tests assert [`repeats`] is zero after they ran, so any code path that
//! reuses a nonce fails the suite.
//!
//! The table is a fixed array of 2^22 atomic slots in static memory (lock-free inserts, no
//! allocation, so it runs on the media thread inside the allocation-counting tests too). Each
//! entry is a 64-bit fingerprint of the key's salt, key id and counter; two different nonces
//! collide with probability about 2^-64 per pair. When the table is three-quarters full, later
//! frames are counted in [`untracked`] instead of recorded.

use std::sync::atomic::{AtomicU64, Ordering};

use super::aead::SframeKey;

const SLOTS: usize = 1 << 22;
static TABLE: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static USED: AtomicU64 = AtomicU64::new(0);
static REPEATS: AtomicU64 = AtomicU64::new(0);
static RECORDED: AtomicU64 = AtomicU64::new(0);
static UNTRACKED: AtomicU64 = AtomicU64::new(0);

/// SplitMix64's finalizer: a bijective mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Records the nonce of frame `counter` under `key` (called by `SframeSender` after each
/// successful encryption).
pub(crate) fn record(key: &SframeKey, counter: u64) {
    // The nonce is salt XOR counter: fingerprint the salt (through nonce(0)), key id, counter.
    let salt = key.nonce(0);
    let mut h = mix(key.key_id() ^ 0x5bd1_e995);
    for chunk in salt.chunks(8) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        h = mix(h ^ u64::from_le_bytes(b));
    }
    let fp = mix(h ^ counter) | 1; // never 0, the empty-slot marker
    if USED.load(Ordering::Relaxed) >= (SLOTS as u64 / 4) * 3 {
        UNTRACKED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut i = (fp as usize) & (SLOTS - 1);
    loop {
        match TABLE[i].compare_exchange(0, fp, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                USED.fetch_add(1, Ordering::Relaxed);
                RECORDED.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(existing) if existing == fp => {
                REPEATS.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(_) => i = (i + 1) & (SLOTS - 1),
        }
    }
}

/// Nonces used more than once in this process so far (must stay 0).
pub fn repeats() -> u64 {
    REPEATS.load(Ordering::Relaxed)
}

/// Distinct nonces recorded so far.
pub fn recorded() -> u64 {
    RECORDED.load(Ordering::Relaxed)
}

/// Frames protected after the table filled up (not checked).
pub fn untracked() -> u64 {
    UNTRACKED.load(Ordering::Relaxed)
}
