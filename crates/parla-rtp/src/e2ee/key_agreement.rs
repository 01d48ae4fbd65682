//! Two-party key agreement: ephemeral X25519 over the app's signalling, HKDF-SHA256 derivation of
//! one base key per direction bound to both public keys and the call id, and a safety code for
//! the users to compare.
//!
//! Protocol (both sides run the same code; there is no initiator):
//! 1. Each side creates a [`KeyAgreement`] (a fresh X25519 key pair) and sends
//!    [`KeyAgreement::public_blob`] (version byte 1, then the 32-byte public key) through the
//!    app's signalling.
//! 2. Each side calls [`KeyAgreement::finish`] with the peer's blob and the call id. The secret is
//!    consumed (and zeroized on drop), so keys are ephemeral per call.
//! 3. `shared = X25519(own secret, peer public)`, refused if all-zero (a low-order peer key).
//!    `prk = HKDF-Extract(salt = "parla-e2ee-v1 call" || len32(call_id) || call_id, shared)`.
//!    The base key for frames sent by X to Y is
//!    `HKDF-Expand(prk, "parla-e2ee-v1 media" || pub_X || pub_Y, 32)`.
//! 4. The side with the lexicographically smaller public key has role 0, the other role 1; the
//!    SFrame key id of the frames a side sends is `2 * epoch + role`.
//! 5. The safety code is SHA-512 over `"parla-safety-v1" || len32(call_id) || call_id ||
//!    pub_low || pub_high`; twelve 5-byte chunks, each taken modulo 100000, give 60 digits
//!    (about 199 bits), shown as 12 groups of 5 like Signal's safety numbers. A man in the
//!    middle holds a different key pair towards each side, so the two sides compute codes over
//!    different public keys and the codes differ.
//!
//! [`CallKeys::next_epoch`] rotates both directions without a new exchange by expanding the
//! current base keys (`"parla-e2ee-v1 ratchet"`); the old ones are zeroized when dropped.

use hkdf::Hkdf;
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::session::{SframeReceiver, SframeSender};
use super::{CipherSuite, E2eeError};

/// Length of a public key blob: a version byte and a 32-byte X25519 public key.
pub const KEY_BLOB_LEN: usize = 33;
const BLOB_VERSION: u8 = 1;
/// Digits in a safety code.
pub const SAFETY_CODE_DIGITS: usize = 60;

/// Why a key agreement failed. The call must not start encrypted with these keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyAgreementError {
    /// The peer's blob does not have [`KEY_BLOB_LEN`] bytes.
    #[error("peer key blob has {0} bytes, expected 33")]
    BadLength(usize),
    /// The peer's blob has an unknown version.
    #[error("peer key blob version {0} is not supported")]
    BadVersion(u8),
    /// The peer sent our own public key back (a reflection).
    #[error("peer key equals our own key")]
    Reflected,
    /// The shared secret is all zero: the peer's key is a low-order point.
    #[error("peer key is a low-order point")]
    NonContributory,
}

/// One side's ephemeral key pair for one call.
pub struct KeyAgreement {
    secret: StaticSecret,
    public: PublicKey,
}

impl std::fmt::Debug for KeyAgreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAgreement")
            .field("public", self.public.as_bytes())
            .finish_non_exhaustive()
    }
}

impl KeyAgreement {
    /// A fresh key pair from `rng` (pass `rand::rng()` in production; a seeded ChaCha in tests).
    pub fn new<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        let secret = StaticSecret::from(*bytes);
        let public = PublicKey::from(&secret);
        KeyAgreement { secret, public }
    }

    /// The blob to send to the peer through signalling.
    pub fn public_blob(&self) -> [u8; KEY_BLOB_LEN] {
        let mut b = [0u8; KEY_BLOB_LEN];
        b[0] = BLOB_VERSION;
        b[1..].copy_from_slice(self.public.as_bytes());
        b
    }

    /// Completes the exchange with the peer's blob for the call `call_id`.
    ///
    /// # Errors
    /// [`KeyAgreementError`] for a malformed, reflected or low-order peer key.
    pub fn finish(self, peer_blob: &[u8], call_id: &[u8]) -> Result<CallKeys, KeyAgreementError> {
        if peer_blob.len() != KEY_BLOB_LEN {
            return Err(KeyAgreementError::BadLength(peer_blob.len()));
        }
        if peer_blob[0] != BLOB_VERSION {
            return Err(KeyAgreementError::BadVersion(peer_blob[0]));
        }
        let mut peer_bytes = [0u8; 32];
        peer_bytes.copy_from_slice(&peer_blob[1..]);
        if peer_bytes == *self.public.as_bytes() {
            return Err(KeyAgreementError::Reflected);
        }
        let peer = PublicKey::from(peer_bytes);
        let shared = self.secret.diffie_hellman(&peer);
        if !shared.was_contributory() {
            return Err(KeyAgreementError::NonContributory);
        }
        let own = *self.public.as_bytes();
        let salt = labelled(b"parla-e2ee-v1 call", call_id);
        let hk = Hkdf::<Sha256>::new(Some(&salt), shared.as_bytes());
        let send = expand(&hk, b"parla-e2ee-v1 media", &own, &peer_bytes);
        let recv = expand(&hk, b"parla-e2ee-v1 media", &peer_bytes, &own);
        let role = u8::from(own > peer_bytes);
        let (lo, hi) = if role == 0 {
            (own, peer_bytes)
        } else {
            (peer_bytes, own)
        };
        Ok(CallKeys {
            send,
            recv,
            role,
            epoch: 0,
            safety: SafetyCode::compute(call_id, &lo, &hi),
        })
    }
}

fn labelled(label: &[u8], call_id: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(label.len() + 4 + call_id.len());
    v.extend_from_slice(label);
    v.extend_from_slice(&(call_id.len() as u32).to_be_bytes());
    v.extend_from_slice(call_id);
    v
}

fn expand(hk: &Hkdf<Sha256>, label: &[u8], from: &[u8; 32], to: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 8160, so expansion cannot fail.
    let _ = hk.expand_multi_info(&[label, from, to], okm.as_mut());
    okm
}

/// The keys of one two-party call: a base key per direction, the key ids, and the safety code.
pub struct CallKeys {
    send: Zeroizing<[u8; 32]>,
    recv: Zeroizing<[u8; 32]>,
    role: u8,
    epoch: u32,
    safety: SafetyCode,
}

impl std::fmt::Debug for CallKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallKeys")
            .field("role", &self.role)
            .field("epoch", &self.epoch)
            .field("safety", &self.safety)
            .finish_non_exhaustive()
    }
}

impl CallKeys {
    /// Base key for frames this side sends.
    pub fn send_base_key(&self) -> &[u8; 32] {
        &self.send
    }

    /// Base key for frames this side receives.
    pub fn recv_base_key(&self) -> &[u8; 32] {
        &self.recv
    }

    /// SFrame key id of frames this side sends.
    pub fn send_key_id(&self) -> u64 {
        2 * u64::from(self.epoch) + u64::from(self.role)
    }

    /// SFrame key id of frames this side receives.
    pub fn recv_key_id(&self) -> u64 {
        2 * u64::from(self.epoch) + u64::from(1 - self.role)
    }

    /// The key epoch (0 after the exchange, +1 per [`next_epoch`](Self::next_epoch)).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The code both users compare.
    pub fn safety_code(&self) -> &SafetyCode {
        &self.safety
    }

    /// The keys of the next epoch, derived from these (both sides derive the same).
    pub fn next_epoch(&self) -> CallKeys {
        let ratchet = |k: &[u8; 32]| {
            let hk = Hkdf::<Sha256>::from_prk(k).ok();
            let mut okm = Zeroizing::new([0u8; 32]);
            if let Some(hk) = hk {
                let _ = hk.expand(b"parla-e2ee-v1 ratchet", okm.as_mut());
            }
            okm
        };
        CallKeys {
            send: ratchet(&self.send),
            recv: ratchet(&self.recv),
            role: self.role,
            epoch: self.epoch + 1,
            safety: self.safety.clone(),
        }
    }

    /// An SFrame sender for this side's frames.
    ///
    /// # Errors
    /// [`E2eeError`] if key derivation fails.
    pub fn sender(&self, suite: CipherSuite) -> Result<SframeSender, E2eeError> {
        SframeSender::new(suite, self.send_key_id(), self.send.as_ref())
    }

    /// Installs the receive key of this epoch into `rx` (as a new key at epoch 0, as the
    /// successor of the previous epoch's key otherwise).
    ///
    /// # Errors
    /// [`E2eeError`] from the receiver.
    pub fn install_receive_key(
        &self,
        rx: &mut SframeReceiver,
        suite: CipherSuite,
    ) -> Result<(), E2eeError> {
        if self.epoch == 0 {
            rx.add_key(suite, self.recv_key_id(), self.recv.as_ref())
        } else {
            rx.rotate_key(
                suite,
                self.recv_key_id() - 2,
                self.recv_key_id(),
                self.recv.as_ref(),
            )
        }
    }
}

/// A 60-digit safety code, shown as 12 groups of 5 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SafetyCode([u32; 12]);

impl SafetyCode {
    fn compute(call_id: &[u8], lo: &[u8; 32], hi: &[u8; 32]) -> Self {
        let mut h = Sha512::new();
        h.update(labelled(b"parla-safety-v1", call_id));
        h.update(lo);
        h.update(hi);
        let d = h.finalize();
        let mut groups = [0u32; 12];
        for (i, g) in groups.iter_mut().enumerate() {
            let c = &d[i * 5..i * 5 + 5];
            let v = c.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            *g = (v % 100_000) as u32;
        }
        SafetyCode(groups)
    }

    /// The 12 groups of 5 digits.
    pub fn groups(&self) -> [u32; 12] {
        self.0
    }
}

impl std::fmt::Display for SafetyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, g) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{g:05}")?;
        }
        Ok(())
    }
}
