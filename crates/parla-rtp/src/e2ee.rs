//! End-to-end encryption of media frames with SFrame (RFC 9605), and the two-party key agreement
//! that feeds it.
//!
//! - [`KeyAgreement`] runs an X25519 exchange over the app's signalling (byte blobs in and out),
//!   with an optional commitment round that gives a short authentication string
//!   ([`CallKeys::short_auth_string`]: k digits hold against a man in the middle at about
//!   10^-k), and a full [`SafetyCode`].
//! - [`CallKeys`] derives one key per direction, stream ([`MediaStream`]) and epoch, and hands
//!   out exactly one [`SframeSender`] per stream and epoch (one owner per nonce space). Each side
//!   rotates its own sending direction ([`CallKeys::prepare_rotation`] then
//!   [`CallKeys::commit_rotation`]: nothing changes until the commit, so a failed rotation
//!   leaves both ends on the old epoch).
//! - [`StreamReceiver`] receives one of the peer's streams and follows its epochs by itself
//!   (the next epoch's key is always installed first; the previous one is zeroized a grace
//!   period after the switch, with or without frames), so rotations are unlimited and a
//!   one-sided rotation needs no signalling. It rejects forged, replayed, truncated and
//!   unknown-key frames and counts each rejection by reason ([`RejectStats`]).
//! - [`rtp_aad`] binds the RTP header fields the receiver acts on (payload type, marker,
//!   sequence number, timestamp, SSRC) into the AEAD, so a relay cannot rewrite them.
//! - [`SframeReceiver`] is the general multi-sender receiver with explicit key management
//!   (`parla rtp recv`, conferences).
//!
//! Video: protect each encoded frame before packetization. For VP8, pass the frame's first
//! [`vp8_unencrypted_prefix`](crate::payload::vp8::vp8_unencrypted_prefix) bytes as metadata so
//! they stay readable (authenticated, not encrypted) for the frame assembler's keyframe detection
//! (`tests/video-e2ee.rs`). H.264 needs NAL-aware protection (NAL headers in the clear) that is
//! not implemented yet.
//!
//! The SFrame format and AEADs are Parla's own layer over RustCrypto primitive crates
//! ([`SframeAead`], [`SframeKey`]: the RFC 9605 key schedule, AES-GCM, and AES-CTR with
//! truncated HMAC composed as section 4.5.1 specifies), in place in caller buffers with no
//! allocation per frame. Every RFC 9605 known-answer test runs through it
//! (`tests/sframe-vectors.rs`), and it interoperates with the `sframe` crate in both directions
//! (`tests/sframe-interop.rs`). Why not the `sframe` crate itself, and the threat model:
//! `docs/SECURITY.md`.
//!
//! # Example
//! ```
//! use parla_core::MediaTime;
//! use parla_rtp::e2ee::{CipherSuite, KeyAgreement, MediaStream, rtp_aad};
//! use parla_rtp::rtp::RtpHeader;
//! use std::time::Duration;
//!
//! let mut rng = rand::rng();
//! let (mut alice, mut bob) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
//! // Commitments first, through the app's signalling; keys only after the peer's commitment.
//! let (a_commit, b_commit) = (alice.commitment(), bob.commitment());
//! alice.receive_commitment(&b_commit).unwrap();
//! bob.receive_commitment(&a_commit).unwrap();
//! let (a_blob, b_blob) = (alice.public_blob(), bob.public_blob());
//! let mut a = alice.agree(&b_blob, b"call-42").unwrap();
//! let b = bob.agree(&a_blob, b"call-42").unwrap();
//! // The users compare six digits out loud.
//! assert_eq!(a.short_auth_string(6).unwrap(), b.short_auth_string(6).unwrap());
//!
//! let suite = CipherSuite::default();
//! let mut tx = a.sender(MediaStream::Audio, suite).unwrap();
//! let mut rx = b.receiver(MediaStream::Audio, suite, Duration::from_secs(2)).unwrap();
//!
//! let header = RtpHeader { marker: true, payload_type: 111, sequence: 7, timestamp: 960, ssrc: 42 };
//! let (mut wire, mut plain) = (Vec::with_capacity(1500), Vec::with_capacity(1500));
//! tx.protect_with_aad(&rtp_aad(&header), b"opus packet", &mut wire).unwrap();
//! rx.unprotect_into(&rtp_aad(&header), &wire, &mut plain, MediaTime::ZERO).unwrap();
//! assert_eq!(plain, b"opus packet");
//! ```

mod aead;
mod commitment;
mod header;
mod key_agreement;
#[cfg(feature = "_nonce-ledger")]
pub mod ledger;
mod replay;
mod rtp_aad;
mod session;
mod stream;

pub use aead::{
    AeadError, MAX_KEY_LEN, MAX_TAG_LEN, NONCE_LEN, SframeAead, SframeKey, sframe_key_label,
    sframe_salt_label,
};
pub use commitment::{
    COMMITMENT_BLOB_LEN, CommitmentError, SAS_DEFAULT_DIGITS, SAS_MAX_DIGITS, SAS_MIN_DIGITS,
    ShortAuthString, check_commitment, commitment_blob, short_auth_string,
};
pub use header::{
    MAX_HEADER_LEN, SframeHeaderInfo, parse_sframe_header, sframe_header_len, write_sframe_header,
};
pub use key_agreement::{
    CallKeys, KEY_BLOB_LEN, KeyAgreement, KeyAgreementError, PreparedRotation, SAFETY_CODE_DIGITS,
    SafetyCode,
};
pub use replay::{REPLAY_WINDOW, ReplayWindow};
pub use rtp_aad::{RTP_AAD_LEN, rtp_aad};
pub use session::{
    MAX_KEYS, ProtectError, RejectReason, RejectStats, SframeReceiver, SframeSender,
    UnprotectError, Unprotected,
};
pub use stream::{MAX_EPOCH_SKIP, MediaStream, StreamReceiver, call_key_id, split_call_key_id};

/// SFrame cipher suites (RFC 9605 section 4.5), and the AES-256-CTR-HMAC suites of the SFrame
/// working group's test vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CipherSuite {
    /// AES-128-GCM with SHA-256 key derivation, 128-bit tag (suite 0x0004). The default.
    #[default]
    AesGcm128Sha256,
    /// AES-256-GCM with SHA-512 key derivation, 128-bit tag (suite 0x0005).
    AesGcm256Sha512,
    /// AES-128-CTR with HMAC-SHA256, 80-bit tag (suite 0x0001).
    AesCtr128HmacSha256_80,
    /// AES-128-CTR with HMAC-SHA256, 64-bit tag (suite 0x0002).
    AesCtr128HmacSha256_64,
    /// AES-128-CTR with HMAC-SHA256, 32-bit tag (suite 0x0003). A forgery succeeds with
    /// probability 2^-32 per attempt: use only where every byte counts.
    AesCtr128HmacSha256_32,
    /// AES-256-CTR with HMAC-SHA512 and SHA-512 key derivation, 80-bit tag (id 0x0006).
    /// Not registered by RFC 9605: the id is the one of the SFrame working group's test vectors
    /// (`test-vectors-aes256.json`); use it only where both ends are known to agree.
    AesCtr256HmacSha512_80,
    /// AES-256-CTR with HMAC-SHA512, 64-bit tag (id 0x0007; not registered by RFC 9605, see
    /// [`AesCtr256HmacSha512_80`](Self::AesCtr256HmacSha512_80)).
    AesCtr256HmacSha512_64,
    /// AES-256-CTR with HMAC-SHA512, 32-bit tag (id 0x0008; not registered by RFC 9605, see
    /// [`AesCtr256HmacSha512_80`](Self::AesCtr256HmacSha512_80)).
    AesCtr256HmacSha512_32,
}

impl CipherSuite {
    /// Every suite, in identifier order (1-5 from RFC 9605, then 6-8).
    pub const ALL: [CipherSuite; 8] = [
        CipherSuite::AesCtr128HmacSha256_80,
        CipherSuite::AesCtr128HmacSha256_64,
        CipherSuite::AesCtr128HmacSha256_32,
        CipherSuite::AesGcm128Sha256,
        CipherSuite::AesGcm256Sha512,
        CipherSuite::AesCtr256HmacSha512_80,
        CipherSuite::AesCtr256HmacSha512_64,
        CipherSuite::AesCtr256HmacSha512_32,
    ];

    /// The five suites RFC 9605 registers (IANA ids 1-5).
    pub const RFC9605: [CipherSuite; 5] = [
        CipherSuite::AesCtr128HmacSha256_80,
        CipherSuite::AesCtr128HmacSha256_64,
        CipherSuite::AesCtr128HmacSha256_32,
        CipherSuite::AesGcm128Sha256,
        CipherSuite::AesGcm256Sha512,
    ];

    /// The cipher suite identifier (the IANA one for suites 1-5).
    pub fn id(self) -> u16 {
        match self {
            CipherSuite::AesCtr128HmacSha256_80 => 1,
            CipherSuite::AesCtr128HmacSha256_64 => 2,
            CipherSuite::AesCtr128HmacSha256_32 => 3,
            CipherSuite::AesGcm128Sha256 => 4,
            CipherSuite::AesGcm256Sha512 => 5,
            CipherSuite::AesCtr256HmacSha512_80 => 6,
            CipherSuite::AesCtr256HmacSha512_64 => 7,
            CipherSuite::AesCtr256HmacSha512_32 => 8,
        }
    }

    /// The suite with identifier `id`, if supported.
    pub fn from_id(id: u16) -> Option<CipherSuite> {
        CipherSuite::ALL.into_iter().find(|s| s.id() == id)
    }

    /// Authentication tag length in bytes (`Nt`).
    pub fn tag_len(self) -> usize {
        match self {
            CipherSuite::AesGcm128Sha256 | CipherSuite::AesGcm256Sha512 => 16,
            CipherSuite::AesCtr128HmacSha256_80 | CipherSuite::AesCtr256HmacSha512_80 => 10,
            CipherSuite::AesCtr128HmacSha256_64 | CipherSuite::AesCtr256HmacSha512_64 => 8,
            CipherSuite::AesCtr128HmacSha256_32 | CipherSuite::AesCtr256HmacSha512_32 => 4,
        }
    }

    /// AEAD key length in bytes (`Nk`): the AES key for GCM; for AES-CTR-HMAC the AES key
    /// (`Nka`) followed by the HMAC key (`Nh`).
    pub fn key_len(self) -> usize {
        match self {
            CipherSuite::AesGcm128Sha256 => 16,
            CipherSuite::AesGcm256Sha512 => 32,
            CipherSuite::AesCtr128HmacSha256_80
            | CipherSuite::AesCtr128HmacSha256_64
            | CipherSuite::AesCtr128HmacSha256_32 => 16 + 32,
            CipherSuite::AesCtr256HmacSha512_80
            | CipherSuite::AesCtr256HmacSha512_64
            | CipherSuite::AesCtr256HmacSha512_32 => 32 + 64,
        }
    }

    /// Whether the key schedule (and the HMAC) uses SHA-512 rather than SHA-256.
    pub(crate) fn uses_sha512(self) -> bool {
        !matches!(
            self,
            CipherSuite::AesGcm128Sha256
                | CipherSuite::AesCtr128HmacSha256_80
                | CipherSuite::AesCtr128HmacSha256_64
                | CipherSuite::AesCtr128HmacSha256_32
        )
    }
}

/// An error setting up or managing SFrame keys (control side, off the media path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum E2eeError {
    /// Key derivation from the base key failed.
    #[error("SFrame key derivation failed for key id {0}")]
    KeyDerivation(u64),
    /// A key with this id is already installed (reusing a key id would reset its replay window).
    #[error("key id {0} is already installed")]
    DuplicateKeyId(u64),
    /// No key with this id is installed.
    #[error("no key with id {0}")]
    UnknownKeyId(u64),
    /// The receiver holds its maximum number of live keys.
    #[error("too many keys (at most {max})")]
    TooManyKeys {
        /// The limit.
        max: usize,
    },
    /// The base key is too short to be a secret.
    #[error("base key of {0} bytes is shorter than 16")]
    WeakBaseKey(usize),
    /// The key id was retired: its counters were used, so it is never installed again.
    #[error("key id {0} was retired and cannot be installed again")]
    RetiredKeyId(u64),
    /// The sender of this key id was already handed out: one sender per nonce space.
    #[error("the sender of key id {key_id} was already handed out (one sender per key)")]
    SenderTaken {
        /// The key id.
        key_id: u64,
    },
    /// The key epoch cannot move further (2^32 - 1 rotations).
    #[error("key epoch exhausted")]
    EpochOverflow,
    /// A prepared rotation does not follow the current epoch (it was prepared before another
    /// rotation was committed).
    #[error("the prepared rotation is stale")]
    StaleRotation,
}
