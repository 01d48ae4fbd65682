//! Two-party key agreement: ephemeral X25519 over the app's signalling, HKDF-SHA256 derivation of
//! one chain key per direction bound to both public keys and the call id, per-stream and
//! per-epoch SFrame keys, a commitment-based short authentication string and a full safety code.
//!
//! Protocol (both sides run the same code; there is no initiator):
//! 1. Each side creates a [`KeyAgreement`] (a fresh X25519 key pair). For the short
//!    authentication string it first sends [`KeyAgreement::commitment`] and waits for the
//!    peer's ([`KeyAgreement::receive_commitment`]); then it sends
//!    [`KeyAgreement::public_blob`] (version byte 1, then the 32-byte public key).
//! 2. Each side calls [`KeyAgreement::agree`] with the peer's blob and the call id. A blob that
//!    does not match the peer's commitment is refused. The secret is spent (and zeroized) only
//!    on success, so keys are ephemeral per call and a bad blob does not burn the key pair.
//! 3. `shared = X25519(own secret, peer public)`, refused if all-zero (a low-order peer key).
//!    `prk = HKDF-Extract(salt = "parla-e2ee-v2 call" || len32(call_id) || call_id, shared)`.
//!    The epoch-0 chain key of the direction X -> Y is
//!    `HKDF-Expand(prk, "parla-e2ee-v2 direction" || pub_X || pub_Y, 32)`; the chain key of
//!    epoch e + 1 is `HKDF-Expand(chain_e, "parla-e2ee-v2 ratchet", 32)` (one way).
//! 4. Per stream (audio, video) and epoch: base key `HKDF-Expand(chain_e, "parla-e2ee-v2 stream
//!    " || label)`, then RFC 9605's key schedule under key id `(epoch << 3) | (stream << 1) |
//!    role`. The side with the lexicographically smaller public key has role 0, the other 1.
//! 5. The short authentication string ([`CallKeys::short_auth_string`], 1-9 digits) is a hash of
//!    the call id and both key blobs (`short_auth_string`); with the commitments a man in the
//!    middle matches `k` digits with probability about 10^-k per attack.
//! 6. The safety code is SHA-512 over `"parla-safety-v1" || len32(call_id) || call_id ||
//!    pub_low || pub_high`; twelve 5-byte chunks, each taken modulo 100000, give 60 digits
//!    (about 199 bits), shown as 12 groups of 5 like Signal's safety numbers. Without
//!    commitments, only comparing (nearly) all of it resists a collision search.
//!
//! Rotation: each side moves its own sending direction on ([`CallKeys::prepare_rotation`],
//! [`CallKeys::commit_rotation`]); the peer's [`StreamReceiver`] follows by itself.

use hkdf::Hkdf;
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::aead::SframeKey;
use super::commitment::{
    COMMITMENT_BLOB_LEN, CommitmentError, SAS_MAX_DIGITS, SAS_MIN_DIGITS, ShortAuthString,
    check_commitment, commitment_blob, short_auth_string,
};
use super::session::SframeSender;
use super::stream::{MediaStream, StreamReceiver, call_key_id};
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
    /// The key pair was already used for a completed agreement.
    #[error("the key pair was already used")]
    Spent,
    /// A commitment is malformed, or the peer's key does not match its commitment (a man in
    /// the middle that changed its key after seeing ours: end the call).
    #[error("commitment: {0}")]
    Commitment(#[from] CommitmentError),
    /// The peer's commitment was already received.
    #[error("the peer's commitment was already received")]
    CommitmentAlreadySet,
    /// No commitment was exchanged, so there is no short authentication string.
    #[error("no commitment was exchanged: no short authentication string")]
    NoCommitment,
}

/// One side's ephemeral key pair for one call.
///
/// [`agree`](Self::agree) validates the peer's blob completely (length, version, reflection,
/// low-order point) before it spends the secret: a bad blob leaves the key pair usable for a
/// corrected one. On success the secret is dropped (zeroized): keys are ephemeral per call.
pub struct KeyAgreement {
    secret: Option<Box<StaticSecret>>,
    public: PublicKey,
    /// The peer's commitment, if it sent one before our key was revealed.
    peer_commitment: Option<[u8; COMMITMENT_BLOB_LEN]>,
}

impl std::fmt::Debug for KeyAgreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAgreement")
            .field("public", self.public.as_bytes())
            .field("spent", &self.secret.is_none())
            .finish_non_exhaustive()
    }
}

impl KeyAgreement {
    /// A fresh key pair from `rng` (pass `rand::rng()` in production; a seeded ChaCha in tests).
    pub fn new<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        let secret = Box::new(StaticSecret::from(*bytes));
        let public = PublicKey::from(secret.as_ref());
        KeyAgreement {
            secret: Some(secret),
            public,
            peer_commitment: None,
        }
    }

    /// Our commitment: send it to the peer first, and reveal [`public_blob`](Self::public_blob)
    /// only after the peer's commitment arrived
    /// ([`receive_commitment`](Self::receive_commitment)). See
    /// [`short_auth_string`](super::short_auth_string).
    pub fn commitment(&self) -> [u8; COMMITMENT_BLOB_LEN] {
        commitment_blob(&self.public_blob())
    }

    /// Records the peer's commitment. [`agree`](Self::agree) then refuses a peer key that does
    /// not match it, and the agreed keys offer a [`CallKeys::short_auth_string`].
    ///
    /// # Errors
    /// [`KeyAgreementError::Commitment`] for a malformed commitment;
    /// [`KeyAgreementError::CommitmentAlreadySet`] for a second one (nothing changes).
    pub fn receive_commitment(&mut self, commitment: &[u8]) -> Result<(), KeyAgreementError> {
        if self.peer_commitment.is_some() {
            return Err(KeyAgreementError::CommitmentAlreadySet);
        }
        if commitment.len() != COMMITMENT_BLOB_LEN {
            return Err(CommitmentError::BadLength(commitment.len()).into());
        }
        if commitment[0] != BLOB_VERSION {
            return Err(CommitmentError::BadVersion(commitment[0]).into());
        }
        let mut c = [0u8; COMMITMENT_BLOB_LEN];
        c.copy_from_slice(commitment);
        self.peer_commitment = Some(c);
        Ok(())
    }

    /// The blob to send to the peer through signalling.
    pub fn public_blob(&self) -> [u8; KEY_BLOB_LEN] {
        let mut b = [0u8; KEY_BLOB_LEN];
        b[0] = BLOB_VERSION;
        b[1..].copy_from_slice(self.public.as_bytes());
        b
    }

    /// Whether the secret was used up by a successful [`agree`](Self::agree).
    pub fn is_spent(&self) -> bool {
        self.secret.is_none()
    }

    /// Completes the exchange with the peer's blob for the call `call_id`, consuming the key
    /// pair (see [`agree`](Self::agree) to keep it on a bad blob).
    ///
    /// # Errors
    /// As [`agree`](Self::agree).
    pub fn finish(
        mut self,
        peer_blob: &[u8],
        call_id: &[u8],
    ) -> Result<CallKeys, KeyAgreementError> {
        self.agree(peer_blob, call_id)
    }

    /// Completes the exchange with the peer's blob for the call `call_id`. Every check runs
    /// before the secret is spent, so on an error the key pair stays usable; on success it is
    /// zeroized and later calls fail with [`KeyAgreementError::Spent`].
    ///
    /// # Errors
    /// [`KeyAgreementError`] for a malformed, reflected or low-order peer key, or a spent pair.
    pub fn agree(
        &mut self,
        peer_blob: &[u8],
        call_id: &[u8],
    ) -> Result<CallKeys, KeyAgreementError> {
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
        if let Some(c) = self.peer_commitment.as_ref() {
            // The key the peer committed to, or an attack (a key chosen after seeing ours).
            check_commitment(c, peer_blob)?;
        }
        let secret = self.secret.as_ref().ok_or(KeyAgreementError::Spent)?;
        let peer = PublicKey::from(peer_bytes);
        let shared = secret.diffie_hellman(&peer);
        if !shared.was_contributory() {
            return Err(KeyAgreementError::NonContributory);
        }
        let own = *self.public.as_bytes();
        let salt = labelled(b"parla-e2ee-v2 call", call_id);
        let hk = Hkdf::<Sha256>::new(Some(&salt), shared.as_bytes());
        let send = expand(&hk, b"parla-e2ee-v2 direction", &own, &peer_bytes);
        let recv = expand(&hk, b"parla-e2ee-v2 direction", &peer_bytes, &own);
        let feedback = Box::new([
            expand(&hk, FEEDBACK_LABEL, &own, &peer_bytes),
            expand(&hk, FEEDBACK_LABEL, &peer_bytes, &own),
        ]);
        let role = u8::from(own > peer_bytes);
        let (lo, hi) = if role == 0 {
            (own, peer_bytes)
        } else {
            (peer_bytes, own)
        };
        let sas = match self.peer_commitment {
            Some(_) => {
                let mut peer_full = [0u8; KEY_BLOB_LEN];
                peer_full.copy_from_slice(peer_blob);
                Some(
                    short_auth_string(call_id, &self.public_blob(), &peer_full, SAS_MAX_DIGITS)
                        .map_err(KeyAgreementError::Commitment)?,
                )
            }
            None => None,
        };
        // Spend the secret only now that everything succeeded.
        self.secret = None;
        Ok(CallKeys {
            send: Box::new(Chain::new(send, 0)),
            recv: Box::new(Chain::new(recv, 0)),
            role,
            safety: SafetyCode::compute(call_id, &lo, &hi),
            sas,
            feedback,
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

/// The chain key of the epoch after `chain`'s: `HKDF-Expand(chain, "parla-e2ee-v2 ratchet")`.
/// One way: a later chain key does not reveal an earlier one.
///
/// # Errors
/// [`E2eeError::KeyDerivation`] if HKDF refuses (never for these lengths): never a zero key.
pub(crate) fn ratchet(chain: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, E2eeError> {
    let hk = Hkdf::<Sha256>::from_prk(chain).map_err(|_| E2eeError::KeyDerivation(u64::MAX))?;
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(b"parla-e2ee-v2 ratchet", okm.as_mut())
        .map_err(|_| E2eeError::KeyDerivation(u64::MAX))?;
    Ok(okm)
}

/// The SFrame key of `stream`'s frames from the side with `role` at `epoch`, whose chain key is
/// `chain`: base key `HKDF-Expand(chain, "parla-e2ee-v2 stream" || label)`, then RFC 9605's
/// key schedule under the key id [`call_key_id`]. No allocation.
///
/// # Errors
/// [`E2eeError::KeyDerivation`]: never a zero key.
pub(crate) fn stream_key(
    suite: CipherSuite,
    chain: &[u8; 32],
    epoch: u32,
    stream: MediaStream,
    role: u8,
) -> Result<SframeKey, E2eeError> {
    let key_id = call_key_id(epoch, stream, role);
    let hk = Hkdf::<Sha256>::from_prk(chain).map_err(|_| E2eeError::KeyDerivation(key_id))?;
    let mut base = Zeroizing::new([0u8; 32]);
    hk.expand_multi_info(&[b"parla-e2ee-v2 stream ", stream.label()], base.as_mut())
        .map_err(|_| E2eeError::KeyDerivation(key_id))?;
    SframeKey::derive(suite, key_id, base.as_ref())
}

/// A direction's chain key and its epoch (boxed in [`CallKeys`], so moves do not copy it), and
/// which streams' senders of that epoch were handed out.
struct Chain {
    key: Zeroizing<[u8; 32]>,
    epoch: u32,
    /// Bit `i`: the sender of stream index `i` at this epoch was handed out.
    issued: u8,
}

impl Chain {
    fn new(key: Zeroizing<[u8; 32]>, epoch: u32) -> Self {
        Chain {
            key,
            epoch,
            issued: 0,
        }
    }

    /// The one sender of `stream` at this epoch, for the side with `role`.
    fn sender(
        &mut self,
        stream: MediaStream,
        role: u8,
        suite: CipherSuite,
    ) -> Result<SframeSender, E2eeError> {
        let bit = 1u8 << stream.index();
        if self.issued & bit != 0 {
            return Err(E2eeError::SenderTaken {
                key_id: call_key_id(self.epoch, stream, role),
            });
        }
        let key = stream_key(suite, &self.key, self.epoch, stream, role)?;
        self.issued |= bit;
        Ok(SframeSender::from_key(key))
    }
}

/// The keys of one two-party call: a chain key per direction, our role, and the safety code.
///
/// - **One owner per nonce space.** [`sender`](Self::sender) hands out at most one
///   [`SframeSender`] per stream and send epoch; a second request is refused
///   ([`E2eeError::SenderTaken`]). Keep a sender across a restart rather than asking again.
/// - **Rotation** moves this side's send direction one epoch on:
///   [`prepare_rotation`](Self::prepare_rotation) derives the next epoch and its senders without changing anything;
///   [`commit_rotation`](Self::commit_rotation) makes it current once the senders were handed to
///   the media path. Dropping a prepared rotation changes nothing, so a failed rotation leaves
///   both ends on the old epoch, and a retry derives the same epoch (whose senders never sent).
/// - **The peer follows by itself**: [`receiver`](Self::receiver) gives a [`StreamReceiver`]
///   that accepts the peer's next epochs as they appear, so each side rotates its own sending
///   direction and no signalling is needed for the other side's receiver.
///
/// Secrets are boxed and zeroized on drop; `Debug` shows no key material.
pub struct CallKeys {
    send: Box<Chain>,
    recv: Box<Chain>,
    role: u8,
    safety: SafetyCode,
    /// The 9-digit short authentication string, when the peer's commitment was checked.
    sas: Option<ShortAuthString>,
    /// Feedback authentication keys: [ours -> peer, peer -> ours] (see `feedback_keys`).
    feedback: Box<[Zeroizing<[u8; 32]>; 2]>,
}

/// HKDF-Expand label of the feedback authentication keys (distinct from the media labels).
const FEEDBACK_LABEL: &[u8] = b"parla-feedback-v1 direction";

impl std::fmt::Debug for CallKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallKeys")
            .field("role", &self.role)
            .field("send_epoch", &self.send.epoch)
            .field("safety", &self.safety)
            .finish_non_exhaustive()
    }
}

/// The next send epoch of a [`CallKeys`], prepared but not yet current (see
/// [`CallKeys::prepare_rotation`]).
pub struct PreparedRotation {
    chain: Box<Chain>,
    role: u8,
}

impl std::fmt::Debug for PreparedRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedRotation")
            .field("epoch", &self.chain.epoch)
            .finish_non_exhaustive()
    }
}

impl PreparedRotation {
    /// The epoch this rotation moves to.
    pub fn epoch(&self) -> u32 {
        self.chain.epoch
    }

    /// The sender of `stream` at the new epoch (once per stream).
    ///
    /// # Errors
    /// [`E2eeError::SenderTaken`] on a second request; derivation errors.
    pub fn sender(
        &mut self,
        stream: MediaStream,
        suite: CipherSuite,
    ) -> Result<SframeSender, E2eeError> {
        self.chain.sender(stream, self.role, suite)
    }
}

impl CallKeys {
    /// Our role: 0 for the side with the lexicographically smaller public key, else 1.
    pub fn role(&self) -> u8 {
        self.role
    }

    /// The current send epoch (0 after the exchange, +1 per committed rotation).
    pub fn epoch(&self) -> u32 {
        self.send.epoch
    }

    /// SFrame key id of `stream`'s frames this side sends at the current epoch.
    pub fn send_key_id(&self, stream: MediaStream) -> u64 {
        call_key_id(self.send.epoch, stream, self.role)
    }

    /// SFrame key id of `stream`'s frames this side receives at the peer's first epoch.
    pub fn recv_key_id(&self, stream: MediaStream) -> u64 {
        call_key_id(self.recv.epoch, stream, 1 - self.role)
    }

    /// The keys that authenticate congestion-control feedback (RTCP and transport-wide
    /// feedback, `parla-cc`'s `FeedbackAuth`): `(send, recv)`, where `send` authenticates what
    /// this side sends and equals the peer's `recv`. Derived at the agreement as
    /// `HKDF-Expand(prk, "parla-feedback-v1 direction" || pub_from || pub_to, 32)`, independent
    /// of the media keys and of their rotation.
    pub fn feedback_keys(&self) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
        (self.feedback[0].clone(), self.feedback[1].clone())
    }

    /// The full-transcript code both users can compare (60 digits; see [`SafetyCode`]).
    pub fn safety_code(&self) -> &SafetyCode {
        &self.safety
    }

    /// The commitment-based short authentication string of `digits` digits (1..=9; 6 is
    /// [`SAS_DEFAULT_DIGITS`](super::SAS_DEFAULT_DIGITS)): a man in the middle makes the two sides' strings agree with
    /// probability about 10^-digits. Available only when the peer's commitment was received
    /// before its key ([`KeyAgreement::receive_commitment`]) and our key was revealed after
    /// the peer's commitment arrived (the app's signalling order).
    ///
    /// # Errors
    /// [`KeyAgreementError::NoCommitment`] without a checked commitment;
    /// [`KeyAgreementError::Commitment`] for `digits` out of range.
    pub fn short_auth_string(&self, digits: usize) -> Result<ShortAuthString, KeyAgreementError> {
        let full = self.sas.ok_or(KeyAgreementError::NoCommitment)?;
        if !(SAS_MIN_DIGITS..=SAS_MAX_DIGITS).contains(&digits) {
            return Err(CommitmentError::BadDigits(digits).into());
        }
        Ok(full.truncated(digits))
    }

    /// The sender of `stream` at the current send epoch. Each (stream, epoch) has one sender,
    /// ever: keep it (across restarts too) and call this once.
    ///
    /// # Errors
    /// [`E2eeError::SenderTaken`] if it was handed out already; derivation errors.
    pub fn sender(
        &mut self,
        stream: MediaStream,
        suite: CipherSuite,
    ) -> Result<SframeSender, E2eeError> {
        self.send.sender(stream, self.role, suite)
    }

    /// A receiver of the peer's `stream` that follows the peer's epochs by itself (see
    /// [`StreamReceiver`]); the previous epoch's key is kept `grace` after the peer moved on.
    /// Each receiver has its own replay windows: use one per stream.
    ///
    /// # Errors
    /// Derivation errors.
    pub fn receiver(
        &self,
        stream: MediaStream,
        suite: CipherSuite,
        grace: std::time::Duration,
    ) -> Result<StreamReceiver, E2eeError> {
        StreamReceiver::new(
            suite,
            stream,
            1 - self.role,
            grace,
            self.recv.epoch,
            &self.recv.key,
        )
    }

    /// Derives the next send epoch without changing anything (see the type's docs). Take the
    /// new senders from it, hand them to the media path, then
    /// [`commit_rotation`](Self::commit_rotation).
    ///
    /// # Errors
    /// [`E2eeError::EpochOverflow`] after 2^32 - 1 rotations; derivation errors.
    pub fn prepare_rotation(&self) -> Result<PreparedRotation, E2eeError> {
        let epoch = self
            .send
            .epoch
            .checked_add(1)
            .ok_or(E2eeError::EpochOverflow)?;
        Ok(PreparedRotation {
            chain: Box::new(Chain::new(ratchet(&self.send.key)?, epoch)),
            role: self.role,
        })
    }

    /// Makes a prepared rotation current; the old chain key is zeroized.
    ///
    /// # Errors
    /// [`E2eeError::StaleRotation`] if `next` was not prepared from the current epoch (then
    /// nothing changes).
    pub fn commit_rotation(&mut self, next: PreparedRotation) -> Result<u32, E2eeError> {
        if Some(next.chain.epoch) != self.send.epoch.checked_add(1) || next.role != self.role {
            return Err(E2eeError::StaleRotation);
        }
        self.send = next.chain;
        Ok(self.send.epoch)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_keys_mirror_and_differ_from_media_keys() {
        let mut rng = rand::rng();
        let mut a = KeyAgreement::new(&mut rng);
        let mut b = KeyAgreement::new(&mut rng);
        let (ab, bb) = (a.public_blob(), b.public_blob());
        let ka = a.agree(&bb, b"call-1").expect("agree a");
        let kb = b.agree(&ab, b"call-1").expect("agree b");
        let (a_send, a_recv) = ka.feedback_keys();
        let (b_send, b_recv) = kb.feedback_keys();
        assert_eq!(*a_send, *b_recv);
        assert_eq!(*a_recv, *b_send);
        assert_ne!(*a_send, *a_recv);
        assert_ne!(*a_send, *ka.send.key, "not the media chain key");
        assert_ne!(*a_send, [0u8; 32]);
        // Another call id, other keys.
        let mut c = KeyAgreement::new(&mut rng);
        let mut d = KeyAgreement::new(&mut rng);
        let kc = c.agree(&d.public_blob(), b"call-2").expect("agree c");
        let _ = d.agree(&c.public_blob(), b"call-2");
        assert_ne!(*kc.feedback_keys().0, *a_send);
    }
}
