//! RFC 9605 known-answer tests, read at test time from `<shared>/test-vectors/sframe/`, all run
//! through the code a call uses:
//!
//! - `header`: parsed by our allocation-free parser (the receiver's) and written by our header
//!   writer (the sender's); the `sframe` crate's parser is checked as well;
//! - `aes_ctr_hmac`, `aes_256_ctr_hmac` (raw AEAD: key, nonce, AAD): encrypted and decrypted by
//!   our [`SframeAead`], the AEAD under every [`SframeKey`] the sender and receiver hold;
//! - `sframe`, `sframe_aes_256_ctr_hmac` (full SFrame, suites 1-8): the key schedule's
//!   intermediate values recomputed independently with `hkdf` and compared with the vector, our
//!   labels and nonce compared with the vector, then the frame encrypted by our [`SframeSender`]
//!   and decrypted by our [`SframeReceiver`], byte for byte.
//!
//! Every vector in a present file runs: a kind of vector this test does not know, or a suite it
//! cannot run, fails the test. Counts are printed per kind.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

mod common;

use hkdf::Hkdf;
use parla_core::MediaTime;
use parla_rtp::e2ee::{
    AeadError, CipherSuite, SframeAead, SframeKey, SframeReceiver, SframeSender, UnprotectError,
    parse_sframe_header, sframe_header_len, sframe_key_label, sframe_salt_label,
    write_sframe_header,
};
use serde_json::Value;
use sha2::{Sha256, Sha512};
use std::time::Duration;

use common::hex;

fn load(name: &str) -> Option<Value> {
    let path = parla_testkit::data::shared(&format!("test-vectors/sframe/{name}"))?;
    let text = std::fs::read_to_string(&path).expect("readable test vectors");
    Some(serde_json::from_str(&text).expect("valid JSON"))
}

fn u64_of(v: &Value, k: &str) -> u64 {
    v[k].as_u64().expect("integer field")
}

fn hex_of(v: &Value, k: &str) -> Vec<u8> {
    hex(v[k].as_str().expect("hex field"))
}

fn suite_of(v: &Value) -> CipherSuite {
    let id = u64_of(v, "cipher_suite");
    u16::try_from(id)
        .ok()
        .and_then(CipherSuite::from_id)
        .unwrap_or_else(|| panic!("cipher suite {id} is not supported: vector not run"))
}

/// Runs every kind of vector in `tv` and returns `(kind, count)` per kind; panics on a kind it
/// does not know.
fn run_file(tv: &Value) -> Vec<(String, usize)> {
    let obj = tv.as_object().expect("top-level object");
    let mut counts = Vec::new();
    for (kind, list) in obj {
        let list = list.as_array().expect("array of vectors");
        for v in list {
            match kind.as_str() {
                "header" => header(v),
                "aes_ctr_hmac" | "aes_256_ctr_hmac" => raw_aead(v),
                "sframe" | "sframe_aes_256_ctr_hmac" => full_sframe(v),
                other => panic!("unknown kind of vector {other:?}: not run"),
            }
        }
        assert!(!list.is_empty(), "{kind}: empty");
        counts.push((kind.clone(), list.len()));
    }
    counts
}

fn header(v: &Value) {
    let (kid, ctr, enc) = (u64_of(v, "kid"), u64_of(v, "ctr"), hex_of(v, "encoded"));
    // Our allocation-free parser (the receiver's) ...
    let ours = parse_sframe_header(&enc).expect("parse");
    assert_eq!(
        (ours.key_id, ours.counter, ours.len),
        (kid, ctr, enc.len()),
        "{enc:?}"
    );
    assert!(parse_sframe_header(&enc[..enc.len() - 1]).is_none() || enc.len() == 1);
    // ... our writer (the sender's) ...
    let mut buf = [0u8; 17];
    let n = write_sframe_header(kid, ctr, &mut buf).expect("write");
    assert_eq!(&buf[..n], &enc[..], "encode kid {kid} ctr {ctr}");
    assert_eq!(sframe_header_len(kid, ctr), enc.len());
    // ... and the `sframe` crate's parser agrees.
    let h = sframe::header::SframeHeader::deserialize(&enc).expect("parse");
    assert_eq!(
        (h.key_id(), h.counter()),
        (kid, ctr),
        "sframe parse {enc:?}"
    );
}

fn raw_aead(v: &Value) {
    let suite = suite_of(v);
    let id = suite.id();
    let (key, nonce, aad, pt, ct) = (
        hex_of(v, "key"),
        hex_of(v, "nonce"),
        hex_of(v, "aad"),
        hex_of(v, "pt"),
        hex_of(v, "ct"),
    );
    // derive_subkeys: the key is enc_key || auth_key.
    let mut split = hex_of(v, "enc_key");
    split.extend(hex_of(v, "auth_key"));
    assert_eq!(key, split, "enc_key || auth_key, suite {id}");
    let nonce: [u8; 12] = nonce.try_into().expect("12-byte nonce");
    let aead = SframeAead::new(suite, &key).expect("key");
    let t = suite.tag_len();
    assert_eq!(ct.len(), pt.len() + t, "tag length, suite {id}");
    // Encrypt.
    let mut buf = pt.clone();
    let mut tag = vec![0u8; t];
    aead.encrypt_in_place(&nonce, &aad, &mut buf, &mut tag)
        .expect("encrypt");
    buf.extend(&tag);
    assert_eq!(buf, ct, "ciphertext, suite {id}");
    // Decrypt.
    let (body, tag) = ct.split_at(pt.len());
    let mut buf = body.to_vec();
    aead.decrypt_in_place(&nonce, &aad, &mut buf, tag)
        .expect("decrypt");
    assert_eq!(buf, pt, "plaintext, suite {id}");
    // Any flipped bit of the tag, the AAD or the ciphertext is refused.
    for bit in [0, 7, 8 * t - 1] {
        let mut bad = tag.to_vec();
        bad[bit / 8] ^= 1 << (bit % 8);
        let mut buf = body.to_vec();
        assert_eq!(
            aead.decrypt_in_place(&nonce, &aad, &mut buf, &bad),
            Err(AeadError::Authentication)
        );
        assert_eq!(buf, body, "no plaintext on failure");
    }
    let mut bad_aad = aad.clone();
    bad_aad[0] ^= 0x80;
    let mut buf = body.to_vec();
    assert!(
        aead.decrypt_in_place(&nonce, &bad_aad, &mut buf, tag)
            .is_err()
    );
    buf[3] ^= 4;
    assert!(aead.decrypt_in_place(&nonce, &aad, &mut buf, tag).is_err());
}

/// Recomputes the RFC 9605 4.4.2 key schedule with `hkdf` (independently of our code) and checks
/// every intermediate value of the vector, then our labels and our nonce.
fn check_key_schedule(v: &Value, suite: CipherSuite) {
    let id = suite.id();
    let (kid, ctr) = (u64_of(v, "kid"), u64_of(v, "ctr"));
    let base = hex_of(v, "base_key");
    let key_label = hex_of(v, "sframe_key_label");
    let salt_label = hex_of(v, "sframe_salt_label");
    // "SFrame 1.0 Secret key " / "salt " || KID (8 bytes) || cipher suite (2 bytes)
    let mut expected = b"SFrame 1.0 Secret key ".to_vec();
    expected.extend(kid.to_be_bytes());
    expected.extend(id.to_be_bytes());
    assert_eq!(key_label, expected, "key label, suite {id}");
    assert_eq!(
        sframe_key_label(suite, kid)[..],
        key_label[..],
        "our key label"
    );
    assert_eq!(
        sframe_salt_label(suite, kid)[..],
        salt_label[..],
        "our salt label"
    );
    let key_len = hex_of(v, "sframe_key").len();
    assert_eq!(key_len, suite.key_len(), "Nk, suite {id}");
    let salt_len = hex_of(v, "sframe_salt").len();
    let (secret, key, salt) = if hex_of(v, "sframe_secret").len() == 64 {
        let (prk, hk) = Hkdf::<Sha512>::extract(None, &base);
        let mut key = vec![0u8; key_len];
        let mut salt = vec![0u8; salt_len];
        hk.expand(&key_label, &mut key).expect("expand");
        hk.expand(&salt_label, &mut salt).expect("expand");
        (prk.to_vec(), key, salt)
    } else {
        let (prk, hk) = Hkdf::<Sha256>::extract(None, &base);
        let mut key = vec![0u8; key_len];
        let mut salt = vec![0u8; salt_len];
        hk.expand(&key_label, &mut key).expect("expand");
        hk.expand(&salt_label, &mut salt).expect("expand");
        (prk.to_vec(), key, salt)
    };
    assert_eq!(secret, hex_of(v, "sframe_secret"), "secret, suite {id}");
    assert_eq!(key, hex_of(v, "sframe_key"), "key, suite {id}");
    assert_eq!(salt, hex_of(v, "sframe_salt"), "salt, suite {id}");
    // Our key schedule's nonce = salt XOR counter (right-aligned).
    let ours = SframeKey::derive(suite, kid, &base).expect("derive");
    assert_eq!(
        ours.nonce(ctr).to_vec(),
        hex_of(v, "nonce"),
        "nonce, suite {id}"
    );
    // And the raw key from the vector in our AEAD gives the vector's ciphertext too.
    let aead = SframeAead::new(suite, &key).expect("key");
    let (meta, pt, ct, aad) = (
        hex_of(v, "metadata"),
        hex_of(v, "pt"),
        hex_of(v, "ct"),
        hex_of(v, "aad"),
    );
    let h = sframe_header_len(kid, ctr);
    let mut expected_aad = ct[..h].to_vec();
    expected_aad.extend(&meta);
    assert_eq!(aad, expected_aad, "aad = header || metadata, suite {id}");
    let mut buf = pt.clone();
    let mut tag = vec![0u8; suite.tag_len()];
    let nonce: [u8; 12] = hex_of(v, "nonce").try_into().expect("nonce");
    aead.encrypt_in_place(&nonce, &aad, &mut buf, &mut tag)
        .expect("encrypt");
    buf.extend(tag);
    assert_eq!(&buf[..], &ct[h..], "raw-key ciphertext, suite {id}");
}

fn full_sframe(v: &Value) {
    let suite = suite_of(v);
    check_key_schedule(v, suite);
    let id = suite.id();
    let (kid, ctr) = (u64_of(v, "kid"), u64_of(v, "ctr"));
    let (base, meta, pt, ct) = (
        hex_of(v, "base_key"),
        hex_of(v, "metadata"),
        hex_of(v, "pt"),
        hex_of(v, "ct"),
    );
    // Encrypt with our sender: metadata || ciphertext.
    let mut tx = SframeSender::with_first_counter(suite, kid, &base, ctr).expect("sender");
    let mut out = Vec::with_capacity(256);
    tx.protect_into(&meta, &pt, &mut out).expect("protect");
    assert_eq!(&out[..meta.len()], &meta[..]);
    assert_eq!(&out[meta.len()..], &ct[..], "ciphertext, suite {id}");
    // Decrypt with our receiver.
    let mut rx = SframeReceiver::new(Duration::from_secs(1));
    rx.add_key(suite, kid, &base).expect("key");
    let mut plain = Vec::with_capacity(256);
    let u = rx
        .unprotect_into(&meta, &ct, &mut plain, MediaTime::ZERO)
        .expect("unprotect");
    assert_eq!((u.key_id, u.counter), (kid, ctr));
    assert_eq!(plain, pt, "plaintext, suite {id}");
    // And the vector's ciphertext under other metadata is refused.
    let mut rx = SframeReceiver::new(Duration::from_secs(1));
    rx.add_key(suite, kid, &base).expect("key");
    assert!(matches!(
        rx.unprotect_into(b"other", &ct, &mut plain, MediaTime::ZERO),
        Err(UnprotectError::Rejected(_))
    ));
    assert!(plain.is_empty());
}

#[test]
fn rfc9605_vectors() {
    let Some(tv) = load("test-vectors.json") else {
        return;
    };
    let counts = run_file(&tv);
    for (kind, n) in &counts {
        println!("test-vectors.json: {kind}: {n} passed");
    }
    let kinds: Vec<&str> = counts.iter().map(|(k, _)| k.as_str()).collect();
    for k in ["header", "aes_ctr_hmac", "sframe"] {
        assert!(kinds.contains(&k), "kind {k} missing from the file");
    }
    // Every suite of the full vectors: 1-5.
    let suites: Vec<u16> = tv["sframe"]
        .as_array()
        .expect("sframe")
        .iter()
        .map(|v| suite_of(v).id())
        .collect();
    println!("test-vectors.json: full SFrame suites {suites:?}");
    assert_eq!(suites, vec![1, 2, 3, 4, 5]);
}

#[test]
fn aes256_ctr_hmac_vectors() {
    let Some(tv) = load("test-vectors-aes256.json") else {
        return;
    };
    let counts = run_file(&tv);
    for (kind, n) in &counts {
        println!("test-vectors-aes256.json: {kind}: {n} passed");
    }
    let suites: Vec<u16> = tv["sframe_aes_256_ctr_hmac"]
        .as_array()
        .expect("sframe_aes_256_ctr_hmac")
        .iter()
        .map(|v| suite_of(v).id())
        .collect();
    println!("test-vectors-aes256.json: full SFrame suites {suites:?}");
    assert_eq!(suites, vec![6, 7, 8]);
}
