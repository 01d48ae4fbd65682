//! Parla's SFrame AEAD layer (RFC 9605 sections 4.4.2 and 4.5): the key schedule and the
//! authenticated encryption of every cipher suite, in place in caller buffers.
//!
//! Built on RustCrypto primitive crates rather than the `sframe` crate (the reasons and the
//! evidence are in `docs/SECURITY.md`): `aes-gcm` for suites 4 and 5; `aes` + `ctr` + `hmac` +
//! `sha2` composed as RFC 9605 4.5.1 specifies for the AES-CTR-HMAC suites; `hkdf` for the key
//! schedule. Those crates are widely used, audited in parts (`aes-gcm`), constant-time in their
//! AES and GHASH backends, and zeroize their key schedules on drop (their `zeroize` features
//! are enabled in the workspace). What is ours is the composition the RFC defines, which the
//! RFC's known-answer tests check (`tests/sframe-vectors.rs`).
//!
//! Per frame nothing allocates: the AES key schedules, the GHASH key and the keyed HMAC states
//! are computed once per key, and a frame clones them on the stack.

use aes::{Aes128, Aes256};
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use ctr::CtrCore;
use ctr::cipher::{InnerIvInit, StreamCipher, StreamCipherCoreWrapper};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};
use zeroize::Zeroizing;

use super::{CipherSuite, E2eeError};

/// Nonce length of every suite (`Nn`), in bytes.
pub const NONCE_LEN: usize = 12;
/// The longest authentication tag of any suite (`Nt` of the GCM suites), in bytes.
pub const MAX_TAG_LEN: usize = 16;
/// The longest AEAD key of any suite (`Nk` of suites 6-8), in bytes.
pub const MAX_KEY_LEN: usize = 96;

/// Why an AEAD operation failed. Nothing secret is in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AeadError {
    /// The key is not `Nk` bytes long for the suite.
    #[error("AEAD key of {got} bytes, the suite needs {expected}")]
    KeyLength {
        /// `Nk` of the suite.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The tag buffer is not `Nt` bytes long for the suite.
    #[error("tag of {got} bytes, the suite uses {expected}")]
    TagLength {
        /// `Nt` of the suite.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The message is longer than the cipher can process under one nonce.
    #[error("message too long for one nonce")]
    TooLong,
    /// The tag did not verify. The buffer is left as it was (ciphertext).
    #[error("authentication failed")]
    Authentication,
}

/// The 32-bit big-endian counter mode of RFC 9605 4.5.1 (`nonce || 0x00000000` as the initial
/// counter block).
type Ctr32<B> = StreamCipherCoreWrapper<CtrCore<B, ctr::flavors::Ctr32BE>>;

/// Per-key cipher state, computed once when the key is installed.
enum Cipher {
    Gcm128(Aes128Gcm),
    Gcm256(Aes256Gcm),
    CtrHmac128 { aes: Aes128, mac: Hmac<Sha256> },
    CtrHmac256 { aes: Aes256, mac: Hmac<Sha512> },
}

/// An SFrame AEAD (`AEAD.Encrypt` / `AEAD.Decrypt` of RFC 9605 4.4.3 and 4.5) under one raw key
/// of `Nk` bytes: for the GCM suites the AES key, for the AES-CTR-HMAC suites the encryption key
/// (`Nka` bytes) followed by the authentication key (`Nh` bytes).
///
/// [`SframeKey`] derives one from a base key; this type also takes a raw key, which is how the
/// RFC's raw AES-CTR-HMAC known-answer tests reach the same code the call uses. Its `Debug`
/// output shows the suite only; the key schedules are zeroized on drop. It is not `Clone`, so
/// key material is not copied around.
pub struct SframeAead {
    suite: CipherSuite,
    cipher: Cipher,
}

impl std::fmt::Debug for SframeAead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SframeAead")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// Rejects `got` unless it is `expected`.
fn check_len(
    expected: usize,
    got: usize,
    err: fn(usize, usize) -> AeadError,
) -> Result<(), AeadError> {
    if expected == got {
        Ok(())
    } else {
        Err(err(expected, got))
    }
}

fn key_len_error(expected: usize, got: usize) -> AeadError {
    AeadError::KeyLength { expected, got }
}

fn tag_len_error(expected: usize, got: usize) -> AeadError {
    AeadError::TagLength { expected, got }
}

impl SframeAead {
    /// The AEAD of `suite` under the raw key `key` (`suite.key_len()` bytes).
    ///
    /// # Errors
    /// [`AeadError::KeyLength`] if `key` has the wrong length.
    pub fn new(suite: CipherSuite, key: &[u8]) -> Result<Self, AeadError> {
        check_len(suite.key_len(), key.len(), key_len_error)?;
        let bad = |_| key_len_error(suite.key_len(), key.len());
        let cipher = match suite {
            CipherSuite::AesGcm128Sha256 => {
                Cipher::Gcm128(Aes128Gcm::new_from_slice(key).map_err(bad)?)
            }
            CipherSuite::AesGcm256Sha512 => {
                Cipher::Gcm256(Aes256Gcm::new_from_slice(key).map_err(bad)?)
            }
            CipherSuite::AesCtr128HmacSha256_80
            | CipherSuite::AesCtr128HmacSha256_64
            | CipherSuite::AesCtr128HmacSha256_32 => {
                // derive_subkeys: enc_key = key[..Nka], auth_key = key[Nka..]
                let (enc, auth) = key.split_at(16);
                Cipher::CtrHmac128 {
                    aes: Aes128::new_from_slice(enc).map_err(bad)?,
                    mac: <Hmac<Sha256> as KeyInit>::new_from_slice(auth).map_err(bad)?,
                }
            }
            CipherSuite::AesCtr256HmacSha512_80
            | CipherSuite::AesCtr256HmacSha512_64
            | CipherSuite::AesCtr256HmacSha512_32 => {
                let (enc, auth) = key.split_at(32);
                Cipher::CtrHmac256 {
                    aes: Aes256::new_from_slice(enc).map_err(bad)?,
                    mac: <Hmac<Sha512> as KeyInit>::new_from_slice(auth).map_err(bad)?,
                }
            }
        };
        Ok(SframeAead { suite, cipher })
    }

    /// The cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Encrypts `buf` in place under `nonce`, authenticating `aad` with it, and writes the tag
    /// (`suite.tag_len()` bytes) to `tag`.
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// [`AeadError::TagLength`] if `tag` has the wrong length (nothing is encrypted then);
    /// [`AeadError::TooLong`] beyond 2^32 blocks (64 GiB).
    pub fn encrypt_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), AeadError> {
        // RT: stack only.
        check_len(self.suite.tag_len(), tag.len(), tag_len_error)?;
        match &self.cipher {
            Cipher::Gcm128(c) => {
                let t = c
                    .encrypt_inout_detached(&(*nonce).into(), aad, buf.into())
                    .map_err(|_| AeadError::TooLong)?;
                tag.copy_from_slice(&t);
            }
            Cipher::Gcm256(c) => {
                let t = c
                    .encrypt_inout_detached(&(*nonce).into(), aad, buf.into())
                    .map_err(|_| AeadError::TooLong)?;
                tag.copy_from_slice(&t);
            }
            Cipher::CtrHmac128 { aes, mac } => {
                ctr_xor(aes, nonce, buf)?;
                let full = tag_mac(mac.clone(), nonce, aad, buf, tag.len()).finalize();
                tag.copy_from_slice(&full.as_bytes()[..tag.len()]);
            }
            Cipher::CtrHmac256 { aes, mac } => {
                ctr_xor(aes, nonce, buf)?;
                let full = tag_mac(mac.clone(), nonce, aad, buf, tag.len()).finalize();
                tag.copy_from_slice(&full.as_bytes()[..tag.len()]);
            }
        }
        Ok(())
    }

    /// Verifies `tag` over `aad` and the ciphertext in `buf` under `nonce`, then decrypts `buf`
    /// in place. The tag comparison is constant-time. On any error `buf` holds what it held
    /// (never unauthenticated plaintext).
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// [`AeadError::Authentication`] if the tag does not verify, [`AeadError::TagLength`] if
    /// `tag` has the wrong length for the suite, [`AeadError::TooLong`] beyond 2^32 blocks.
    pub fn decrypt_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), AeadError> {
        // RT: stack only.
        check_len(self.suite.tag_len(), tag.len(), tag_len_error)?;
        match &self.cipher {
            Cipher::Gcm128(c) => {
                let t = tag.try_into().map_err(|_| tag_len_error(16, tag.len()))?;
                c.decrypt_inout_detached(&(*nonce).into(), aad, buf.into(), &t)
                    .map_err(|_| AeadError::Authentication)
            }
            Cipher::Gcm256(c) => {
                let t = tag.try_into().map_err(|_| tag_len_error(16, tag.len()))?;
                c.decrypt_inout_detached(&(*nonce).into(), aad, buf.into(), &t)
                    .map_err(|_| AeadError::Authentication)
            }
            Cipher::CtrHmac128 { aes, mac } => {
                // Encrypt-then-MAC: verify first (constant-time, `hmac`'s verify), then decrypt.
                tag_mac(mac.clone(), nonce, aad, buf, tag.len())
                    .verify_truncated_left(tag)
                    .map_err(|_| AeadError::Authentication)?;
                ctr_xor(aes, nonce, buf)
            }
            Cipher::CtrHmac256 { aes, mac } => {
                tag_mac(mac.clone(), nonce, aad, buf, tag.len())
                    .verify_truncated_left(tag)
                    .map_err(|_| AeadError::Authentication)?;
                ctr_xor(aes, nonce, buf)
            }
        }
    }
}

/// AES-CTR with `nonce || 0x00000000` as the initial counter block (RFC 9605 4.5.1); its own
/// inverse.
fn ctr_xor<B>(aes: &B, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> Result<(), AeadError>
where
    B: ctr::cipher::BlockCipherEncrypt<BlockSize = ctr::cipher::consts::U16> + Clone,
{
    let mut iv = [0u8; 16];
    iv[..NONCE_LEN].copy_from_slice(nonce);
    let mut ctr = Ctr32::<B>::from_core(CtrCore::inner_iv_init(aes.clone(), &iv.into()));
    ctr.try_apply_keystream(buf).map_err(|_| AeadError::TooLong)
}

/// `compute_tag` of RFC 9605 4.5.1, up to the truncation: HMAC over
/// `len(aad) || len(ct) || Nt` (8-byte big-endian each) `|| nonce || aad || ct`.
fn tag_mac<M: Mac>(mut mac: M, nonce: &[u8; NONCE_LEN], aad: &[u8], ct: &[u8], nt: usize) -> M {
    mac.update(&(aad.len() as u64).to_be_bytes());
    mac.update(&(ct.len() as u64).to_be_bytes());
    mac.update(&(nt as u64).to_be_bytes());
    mac.update(nonce);
    mac.update(aad);
    mac.update(ct);
    mac
}

/// The HKDF-Expand label of the SFrame key (RFC 9605 4.4.2):
/// `"SFrame 1.0 Secret key " || KID (8 bytes) || cipher suite (2 bytes)`, big-endian.
pub fn sframe_key_label(suite: CipherSuite, key_id: u64) -> [u8; 32] {
    label(b"SFrame 1.0 Secret key ", suite, key_id)
}

/// The HKDF-Expand label of the SFrame salt (RFC 9605 4.4.2):
/// `"SFrame 1.0 Secret salt " || KID (8 bytes) || cipher suite (2 bytes)`, big-endian.
pub fn sframe_salt_label(suite: CipherSuite, key_id: u64) -> [u8; 33] {
    label(b"SFrame 1.0 Secret salt ", suite, key_id)
}

fn label<const N: usize>(prefix: &[u8], suite: CipherSuite, key_id: u64) -> [u8; N] {
    let mut l = [0u8; N];
    let p = prefix.len();
    l[..p].copy_from_slice(prefix);
    l[p..p + 8].copy_from_slice(&key_id.to_be_bytes());
    l[p + 8..].copy_from_slice(&suite.id().to_be_bytes());
    l
}

/// One SFrame key: the AEAD under `sframe_key` and the nonce salt `sframe_salt`, both derived
/// from a base key and key id by the RFC 9605 4.4.2 key schedule.
///
/// Its `Debug` output shows the suite and key id only; the salt and key schedules are zeroized
/// on drop. Not `Clone`.
pub struct SframeKey {
    key_id: u64,
    aead: SframeAead,
    salt: Zeroizing<[u8; NONCE_LEN]>,
}

impl std::fmt::Debug for SframeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SframeKey")
            .field("suite", &self.aead.suite)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SframeKey {
    /// Runs the key schedule: `secret = HKDF-Extract("", base_key)`,
    /// `sframe_key = HKDF-Expand(secret, key label, Nk)`,
    /// `sframe_salt = HKDF-Expand(secret, salt label, Nn)`, with the suite's hash (SHA-256 for
    /// suites 1-4, SHA-512 for 5-8). Control side: runs HKDF, but does not allocate either.
    ///
    /// # Errors
    /// [`E2eeError::WeakBaseKey`] below 16 bytes of base key; [`E2eeError::KeyDerivation`] if
    /// HKDF refuses the output length (it cannot for these suites).
    pub fn derive(suite: CipherSuite, key_id: u64, base_key: &[u8]) -> Result<Self, E2eeError> {
        if base_key.len() < 16 {
            return Err(E2eeError::WeakBaseKey(base_key.len()));
        }
        let mut key = Zeroizing::new([0u8; MAX_KEY_LEN]);
        let key = &mut key[..suite.key_len()];
        let mut salt = Zeroizing::new([0u8; NONCE_LEN]);
        let key_label = sframe_key_label(suite, key_id);
        let salt_label = sframe_salt_label(suite, key_id);
        let failed = |_| E2eeError::KeyDerivation(key_id);
        if suite.uses_sha512() {
            let hk = Hkdf::<Sha512>::new(None, base_key);
            hk.expand(&key_label, key).map_err(failed)?;
            hk.expand(&salt_label, &mut salt[..]).map_err(failed)?;
        } else {
            let hk = Hkdf::<Sha256>::new(None, base_key);
            hk.expand(&key_label, key).map_err(failed)?;
            hk.expand(&salt_label, &mut salt[..]).map_err(failed)?;
        }
        let aead = SframeAead::new(suite, key).map_err(|_| E2eeError::KeyDerivation(key_id))?;
        Ok(SframeKey { key_id, aead, salt })
    }

    /// The key id.
    pub fn key_id(&self) -> u64 {
        self.key_id
    }

    /// The cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.aead.suite
    }

    /// The AEAD under this key's `sframe_key`.
    pub fn aead(&self) -> &SframeAead {
        &self.aead
    }

    /// The nonce of frame `counter`: the salt XOR the counter, right-aligned big-endian
    /// (RFC 9605 4.4.3). Nonces are not secret in the AEADs' security model, but are never sent.
    pub fn nonce(&self, counter: u64) -> [u8; NONCE_LEN] {
        let mut n = *self.salt;
        for (b, c) in n[NONCE_LEN - 8..].iter_mut().zip(counter.to_be_bytes()) {
            *b ^= c;
        }
        n
    }

    /// Encrypts frame `counter` in place (see [`SframeAead::encrypt_in_place`]).
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// As [`SframeAead::encrypt_in_place`].
    pub fn encrypt_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), AeadError> {
        // RT: stack only.
        self.aead
            .encrypt_in_place(&self.nonce(counter), aad, buf, tag)
    }

    /// Authenticates and decrypts frame `counter` in place (see
    /// [`SframeAead::decrypt_in_place`]).
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// As [`SframeAead::decrypt_in_place`].
    pub fn decrypt_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), AeadError> {
        // RT: stack only.
        self.aead
            .decrypt_in_place(&self.nonce(counter), aad, buf, tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_lengths_are_errors() {
        for suite in CipherSuite::ALL {
            let n = suite.key_len();
            for len in [0, n - 1, n + 1] {
                assert_eq!(
                    SframeAead::new(suite, &vec![7; len]).err(),
                    Some(AeadError::KeyLength {
                        expected: n,
                        got: len
                    })
                );
            }
            let aead = SframeAead::new(suite, &vec![7; n]).unwrap();
            let mut buf = [1u8; 40];
            let t = suite.tag_len();
            for bad in [0, t - 1, t + 1] {
                let mut tag = vec![0u8; bad];
                assert!(matches!(
                    aead.encrypt_in_place(&[0; 12], b"a", &mut buf, &mut tag),
                    Err(AeadError::TagLength { .. })
                ));
                assert!(matches!(
                    aead.decrypt_in_place(&[0; 12], b"a", &mut buf, &tag),
                    Err(AeadError::TagLength { .. })
                ));
            }
            assert_eq!(buf, [1u8; 40], "nothing encrypted on a length error");
        }
    }

    #[test]
    fn failed_decryption_leaves_the_ciphertext() {
        for suite in CipherSuite::ALL {
            let key = SframeKey::derive(suite, 5, &[3; 16]).unwrap();
            let mut buf = *b"some frame bytes";
            let mut tag = vec![0u8; suite.tag_len()];
            key.encrypt_in_place(9, b"hdr", &mut buf, &mut tag).unwrap();
            let ct = buf;
            tag[0] ^= 1;
            assert_eq!(
                key.decrypt_in_place(9, b"hdr", &mut buf, &tag),
                Err(AeadError::Authentication)
            );
            assert_eq!(buf, ct);
            tag[0] ^= 1;
            // Another counter is another nonce.
            assert!(key.decrypt_in_place(10, b"hdr", &mut buf, &tag).is_err());
            key.decrypt_in_place(9, b"hdr", &mut buf, &tag).unwrap();
            assert_eq!(&buf, b"some frame bytes");
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = SframeKey::derive(CipherSuite::default(), 1, &[0xab; 16]).unwrap();
        assert_eq!(
            format!("{key:?} {:?}", key.aead()),
            "SframeKey { suite: AesGcm128Sha256, key_id: 1, .. } \
             SframeAead { suite: AesGcm128Sha256, .. }"
        );
    }
}
