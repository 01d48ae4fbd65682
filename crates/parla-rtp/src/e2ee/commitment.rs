//! Commitments to public key blobs and a short authentication string (SAS), after ZRTP
//! (RFC 6189 sections 4.4.1.1 and 5.1): pure functions, the app runs the protocol.
//!
//! Why: the [`SafetyCode`](super::SafetyCode) is a hash of both public keys, and the keys are
//! new every call. A man in the middle who sees both honest keys before it forwards its own only
//! needs the compared digits of the two hashes to agree, which is a collision search it can run
//! offline (about `10^k` tries for `k` compared digits). Commitments take that freedom away.
//!
//! # Protocol
//! Both sides run the same steps over the app's signalling; there is no initiator.
//! 1. **Commit.** Each side creates its [`KeyAgreement`](super::KeyAgreement) and sends
//!    [`commitment_blob`] of its [`public_blob`](super::KeyAgreement::public_blob) (version
//!    byte 1, then SHA-256 over `"parla-commit-v1" || key_blob`). It does not send its key yet.
//! 2. **Reveal.** A side sends its key blob only after it has received the peer's commitment.
//!    The app must enforce this order: these functions cannot see it.
//! 3. **Check.** On receiving the peer's key blob, each side runs [`check_commitment`] with the
//!    commitment received in step 1 and aborts on any error; then it calls
//!    [`KeyAgreement::finish`](super::KeyAgreement::finish) with that blob.
//! 4. **Compare.** Both sides compute [`short_auth_string`] over the call id and the two key
//!    blobs (the order does not matter), show it, and the users read the digits to each other
//!    by voice. Equal digits: the call is not intercepted (with the probability below).
//!    **Different digits mean a man in the middle: the app must end the call** (and must not
//!    offer to continue it encrypted with these keys).
//!
//! # Why `k` digits bound a man in the middle to about `10^-k` per attack
//! The attacker holds key `M1` towards A and `M2` towards B, and wins if
//! `SAS(A, M1) == SAS(M2, B)`. Each honest side reveals its key only after it holds the
//! attacker's commitment to the key the attacker will use towards it, so when the second honest
//! key (say A's) is revealed, both of the attacker's keys are already fixed (a changed key fails
//! [`check_commitment`]). A's key is fresh and hidden until then, and the SAS is a hash of both
//! sides' keys, so `SAS(A, M1)` is a uniformly random `k`-digit value the attacker could not
//! steer, and it equals the already fixed `SAS(M2, B)` with probability about `10^-k`. Trying
//! many candidate keys before committing does not help: nothing the attacker can compute before
//! the reveal depends on A's key (`tests/sas-commitment.rs` simulates this, and the old
//! protocol shape without commitments for contrast).
//!
//! The commitment has no nonce: the committed blob holds a fresh X25519 public key, so the
//! commitment hides it; SHA-256's collision resistance makes it binding.

use sha2::{Digest, Sha256};

use super::key_agreement::KEY_BLOB_LEN;

/// Length of a commitment blob: a version byte (1), then a 32-byte SHA-256 digest.
pub const COMMITMENT_BLOB_LEN: usize = 33;
/// The version byte of commitment blobs and of the key blobs they commit to.
const VERSION: u8 = 1;
const COMMIT_LABEL: &[u8] = b"parla-commit-v1";
const SAS_LABEL: &[u8] = b"parla-sas-v1";

/// The fewest digits a [`ShortAuthString`] can have.
pub const SAS_MIN_DIGITS: usize = 1;
/// The most digits a [`ShortAuthString`] can have (it must fit a `u32`).
pub const SAS_MAX_DIGITS: usize = 9;
/// The suggested number of digits: a man in the middle goes unnoticed with probability about
/// `10^-6` per attack.
pub const SAS_DEFAULT_DIGITS: usize = 6;

/// Why a commitment check or a short authentication string failed.
///
/// A failed [`check_commitment`] means the peer revealed a key other than the one it committed
/// to (or sent a malformed blob): abort the call setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitmentError {
    /// A blob has the wrong length: a commitment must have [`COMMITMENT_BLOB_LEN`] bytes and a
    /// key blob [`KEY_BLOB_LEN`].
    #[error("blob has {0} bytes, expected 33")]
    BadLength(usize),
    /// A blob has an unknown version byte.
    #[error("blob version {0} is not supported")]
    BadVersion(u8),
    /// The key blob is not the one the commitment was made to.
    #[error("key blob does not match the peer's commitment")]
    Mismatch,
    /// A short authentication string was asked for with a number of digits outside
    /// [`SAS_MIN_DIGITS`]`..=`[`SAS_MAX_DIGITS`].
    #[error("{0} SAS digits requested, expected 1 to 9")]
    BadDigits(usize),
}

/// The commitment to send before revealing `key_blob`: version byte 1, then
/// SHA-256 over `"parla-commit-v1" || key_blob`.
///
/// The protocol: each side sends the commitment to its
/// [`public_blob`](super::KeyAgreement::public_blob) first, sends the blob itself only after the
/// peer's commitment has arrived (the app enforces this order), checks the peer's blob with
/// [`check_commitment`] (any error: abort), and then both users compare
/// [`short_auth_string`] by voice. With the order kept, a man in the middle goes unnoticed with
/// probability about `10^-k` for `k` compared digits, because both of its keys are fixed before
/// the second honest key is revealed.
pub fn commitment_blob(key_blob: &[u8; KEY_BLOB_LEN]) -> [u8; COMMITMENT_BLOB_LEN] {
    let mut h = Sha256::new();
    h.update(COMMIT_LABEL);
    h.update(key_blob);
    let digest = h.finalize();
    let mut out = [0u8; COMMITMENT_BLOB_LEN];
    out[0] = VERSION;
    out[1..].copy_from_slice(&digest);
    out
}

/// Checks that the peer's revealed `key_blob` is the one its earlier `commitment` was made to.
///
/// Checks the commitment's length and version, then the key blob's length and version, then
/// compares the digests in constant time (every byte is compared, with no early exit).
///
/// # Errors
/// [`CommitmentError::BadLength`] or [`CommitmentError::BadVersion`] for a malformed commitment
/// or key blob (the commitment is checked first), [`CommitmentError::Mismatch`] if the key
/// blob is not the committed one.
pub fn check_commitment(commitment: &[u8], key_blob: &[u8]) -> Result<(), CommitmentError> {
    let commitment: &[u8; COMMITMENT_BLOB_LEN] = commitment
        .try_into()
        .map_err(|_| CommitmentError::BadLength(commitment.len()))?;
    if commitment[0] != VERSION {
        return Err(CommitmentError::BadVersion(commitment[0]));
    }
    let key_blob: &[u8; KEY_BLOB_LEN] = key_blob
        .try_into()
        .map_err(|_| CommitmentError::BadLength(key_blob.len()))?;
    if key_blob[0] != VERSION {
        return Err(CommitmentError::BadVersion(key_blob[0]));
    }
    let expected = commitment_blob(key_blob);
    let diff = commitment
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    // black_box keeps the compiler from turning the fold into an early-exit comparison.
    if std::hint::black_box(diff) == 0 {
        Ok(())
    } else {
        Err(CommitmentError::Mismatch)
    }
}

/// A short authentication string: `digits` decimal digits for the users to read to each other.
///
/// [`Display`](std::fmt::Display) shows it zero-padded to [`digits`](Self::digits) digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortAuthString {
    value: u32,
    digits: u8,
}

impl ShortAuthString {
    /// The value, below `10^digits`.
    pub fn value(&self) -> u32 {
        self.value
    }

    /// The number of digits shown.
    pub fn digits(&self) -> usize {
        usize::from(self.digits)
    }

    /// The last `digits` digits (`digits` at most this string's own).
    pub(crate) fn truncated(self, digits: usize) -> ShortAuthString {
        let d = digits.min(usize::from(self.digits)) as u8;
        ShortAuthString {
            value: self.value % 10u32.pow(u32::from(d)),
            digits: d,
        }
    }
}

impl std::fmt::Display for ShortAuthString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:0width$}", self.value, width = self.digits())
    }
}

/// The short authentication string of the call `call_id` between the key blobs `blob_a` and
/// `blob_b`, with `digits` digits.
///
/// Symmetric: both sides get the same string whichever blob they pass first. The blobs are
/// ordered (`lo`, `hi`) lexicographically, then the string is the first 8 bytes of
/// SHA-256 over `"parla-sas-v1" || u32be(len(call_id)) || call_id || lo || hi`, read as a
/// big-endian `u64`, modulo `10^digits` (the modulo bias is below `10^9 / 2^64`, about
/// `5e-11`). The `k`-digit string is the last `k` digits of the 9-digit one. A call id longer
/// than `u32::MAX` bytes has its length written modulo `2^32`, as in the key agreement.
///
/// Only meaningful for blobs whose [commitments](commitment_blob) were exchanged before either
/// blob was revealed, and checked with [`check_commitment`]. The users read the digits to each
/// other by voice; **different digits mean a man in the middle, and the app must end the call.**
///
/// # Errors
/// [`CommitmentError::BadDigits`] if `digits` is outside
/// [`SAS_MIN_DIGITS`]`..=`[`SAS_MAX_DIGITS`].
pub fn short_auth_string(
    call_id: &[u8],
    blob_a: &[u8; KEY_BLOB_LEN],
    blob_b: &[u8; KEY_BLOB_LEN],
    digits: usize,
) -> Result<ShortAuthString, CommitmentError> {
    if !(SAS_MIN_DIGITS..=SAS_MAX_DIGITS).contains(&digits) {
        return Err(CommitmentError::BadDigits(digits));
    }
    let (lo, hi) = if blob_a <= blob_b {
        (blob_a, blob_b)
    } else {
        (blob_b, blob_a)
    };
    let mut h = Sha256::new();
    h.update(SAS_LABEL);
    // Truncation only for call ids over 4 GiB, which signalling cannot carry (same encoding as
    // the key agreement's labels).
    h.update((call_id.len() as u32).to_be_bytes());
    h.update(call_id);
    h.update(lo);
    h.update(hi);
    let digest = h.finalize();
    let first8 = digest
        .iter()
        .take(8)
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    // digits <= 9, so the modulus and the value fit a u32 and the casts are exact.
    let modulus = 10u64.pow(digits as u32);
    Ok(ShortAuthString {
        value: (first8 % modulus) as u32,
        digits: digits as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(fill: u8) -> [u8; KEY_BLOB_LEN] {
        let mut b = [fill; KEY_BLOB_LEN];
        b[0] = VERSION;
        b
    }

    #[test]
    fn commitment_round_trip() {
        for fill in [0u8, 7, 0xff] {
            let key = blob(fill);
            let c = commitment_blob(&key);
            assert_eq!(c.len(), COMMITMENT_BLOB_LEN);
            assert_eq!(c[0], VERSION);
            assert_eq!(check_commitment(&c, &key), Ok(()));
        }
        // The digest is SHA-256 over the label and the blob, as documented.
        let key = blob(3);
        let mut h = Sha256::new();
        h.update(b"parla-commit-v1");
        h.update(key);
        assert_eq!(commitment_blob(&key)[1..], h.finalize()[..]);
    }

    #[test]
    fn commitment_to_another_blob_fails() {
        let (k1, mut k2) = (blob(1), blob(1));
        k2[KEY_BLOB_LEN - 1] ^= 1; // one bit differs
        assert_eq!(
            check_commitment(&commitment_blob(&k1), &k2),
            Err(CommitmentError::Mismatch)
        );
        let mut c = commitment_blob(&k1);
        c[1] ^= 0x80; // a tampered digest
        assert_eq!(check_commitment(&c, &k1), Err(CommitmentError::Mismatch));
    }

    #[test]
    fn bad_length_and_version() {
        let key = blob(9);
        let c = commitment_blob(&key);
        assert_eq!(
            check_commitment(&c[..32], &key),
            Err(CommitmentError::BadLength(32))
        );
        assert_eq!(
            check_commitment(&[], &key),
            Err(CommitmentError::BadLength(0))
        );
        let mut long = c.to_vec();
        long.push(0);
        assert_eq!(
            check_commitment(&long, &key),
            Err(CommitmentError::BadLength(34))
        );
        assert_eq!(
            check_commitment(&c, &key[..10]),
            Err(CommitmentError::BadLength(10))
        );
        let mut c2 = c;
        c2[0] = 2;
        assert_eq!(
            check_commitment(&c2, &key),
            Err(CommitmentError::BadVersion(2))
        );
        // A key blob with another version, even with a commitment over exactly those bytes.
        let mut k2 = key;
        k2[0] = 0;
        assert_eq!(
            check_commitment(&commitment_blob(&k2), &k2),
            Err(CommitmentError::BadVersion(0))
        );
        // The commitment is checked first.
        assert_eq!(
            check_commitment(&c2, &[0u8; 5]),
            Err(CommitmentError::BadVersion(2))
        );
    }

    #[test]
    fn sas_is_symmetric() {
        for (x, y) in [(1u8, 2u8), (200, 3), (5, 5)] {
            let (a, b) = (blob(x), blob(y));
            for d in SAS_MIN_DIGITS..=SAS_MAX_DIGITS {
                assert_eq!(
                    short_auth_string(b"call", &a, &b, d),
                    short_auth_string(b"call", &b, &a, d)
                );
            }
        }
    }

    #[test]
    fn sas_depends_on_call_id_and_keys() {
        let (a, b, c) = (blob(1), blob(2), blob(3));
        let s = |id: &[u8], x, y| short_auth_string(id, x, y, SAS_MAX_DIGITS).unwrap();
        assert_ne!(s(b"call 1", &a, &b), s(b"call 2", &a, &b));
        assert_ne!(s(b"", &a, &b), s(b"call 1", &a, &b));
        assert_ne!(s(b"call 1", &a, &b), s(b"call 1", &a, &c));
    }

    #[test]
    fn sas_matches_documented_hash() {
        let (a, b) = (blob(0x20), blob(0x10)); // b < a: the hash takes b first
        let mut h = Sha256::new();
        h.update(b"parla-sas-v1");
        h.update(6u32.to_be_bytes());
        h.update(b"call 7");
        h.update(b);
        h.update(a);
        let d = h.finalize();
        let v = u64::from_be_bytes(d[..8].try_into().unwrap());
        for digits in SAS_MIN_DIGITS..=SAS_MAX_DIGITS {
            let sas = short_auth_string(b"call 7", &a, &b, digits).unwrap();
            assert_eq!(u64::from(sas.value()), v % 10u64.pow(digits as u32));
            assert_eq!(sas.digits(), digits);
        }
    }

    #[test]
    fn digits_bounds() {
        let (a, b) = (blob(1), blob(2));
        for bad in [0, SAS_MAX_DIGITS + 1, 20, usize::MAX] {
            assert_eq!(
                short_auth_string(b"c", &a, &b, bad),
                Err(CommitmentError::BadDigits(bad))
            );
        }
        for d in SAS_MIN_DIGITS..=SAS_MAX_DIGITS {
            let s = short_auth_string(b"c", &a, &b, d).unwrap();
            assert!(u64::from(s.value()) < 10u64.pow(d as u32));
        }
        assert!(short_auth_string(b"c", &a, &b, SAS_DEFAULT_DIGITS).is_ok());
    }

    #[test]
    fn display_pads_with_zeros() {
        let s = ShortAuthString {
            value: 42,
            digits: 6,
        };
        assert_eq!(s.to_string(), "000042");
        let z = ShortAuthString {
            value: 0,
            digits: 1,
        };
        assert_eq!(z.to_string(), "0");
        let full = ShortAuthString {
            value: 123_456_789,
            digits: 9,
        };
        assert_eq!(full.to_string(), "123456789");
        // Every computed string shows exactly its number of digits.
        let (a, b) = (blob(4), blob(5));
        for d in SAS_MIN_DIGITS..=SAS_MAX_DIGITS {
            let text = short_auth_string(b"c", &a, &b, d).unwrap().to_string();
            assert_eq!(text.len(), d);
            assert!(text.bytes().all(|c| c.is_ascii_digit()));
        }
    }
}
