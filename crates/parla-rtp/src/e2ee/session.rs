//! SFrame senders and receivers: key state, replay protection and rejection accounting around
//! Parla's SFrame AEAD layer ([`SframeKey`]).

use std::time::Duration;

use parla_core::MediaTime;

use super::aead::SframeKey;
use super::header::{MAX_HEADER_LEN, parse_sframe_header, write_sframe_header};
use super::replay::ReplayWindow;
use super::{CipherSuite, E2eeError};

/// Keys a receiver holds at most (live and retired), e.g. one current and one rotating key for
/// each of four senders.
pub const MAX_KEYS: usize = 8;

/// Why a protect call failed. Nothing was sent; the counter was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtectError {
    /// The output buffer's capacity is below what the protected frame needs (the buffer is never
    /// grown, so the media path does not allocate).
    #[error("output capacity too small: needed {needed} bytes, got {got}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Capacity available.
        got: usize,
    },
    /// The key's frame counter is used up: rotate the key.
    #[error("frame counter exhausted: rotate the key")]
    CounterExhausted,
    /// The cipher reported a failure.
    #[error("encryption failed")]
    Encryption,
}

/// Protects frames under one key: one owner per nonce space.
///
/// A sender is the only holder of its (key, key id) pair's counter: it is not `Clone`, its key
/// material lives in a box (moves copy a pointer, not the key schedule) and is zeroized when the
/// sender is dropped. In a call, senders come from [`CallKeys::sender`](super::CallKeys::sender),
/// which hands out exactly one per stream and key epoch; keep the sender across a restart (its
/// counter continues) instead of making a new one.
#[derive(Debug)]
pub struct SframeSender {
    key: Box<SframeKey>,
    counter: u64,
}

impl SframeSender {
    /// A sender using `base_key` (at least 16 bytes of secret) under `key_id`, from counter 0.
    ///
    /// Only for a base key that is used for this key id by no other sender, ever (e.g. a fresh
    /// key id per run: `parla rtp send` draws a random one). Call keys give out senders through
    /// [`CallKeys::sender`](super::CallKeys::sender) instead.
    ///
    /// # Errors
    /// [`E2eeError`] if the base key is too short or key derivation fails.
    pub fn new(suite: CipherSuite, key_id: u64, base_key: &[u8]) -> Result<Self, E2eeError> {
        Self::with_first_counter(suite, key_id, base_key, 0)
    }

    /// A sender whose first frame gets counter `first_counter`, for resuming a key whose earlier
    /// counters were used: counters must never repeat under one key (a repeated counter repeats
    /// the nonce).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_first_counter(
        suite: CipherSuite,
        key_id: u64,
        base_key: &[u8],
        first_counter: u64,
    ) -> Result<Self, E2eeError> {
        Ok(SframeSender {
            key: Box::new(SframeKey::derive(suite, key_id, base_key)?),
            counter: first_counter,
        })
    }

    /// A sender under an already derived key, from counter 0 (crate-internal: call keys).
    pub(crate) fn from_key(key: SframeKey) -> Self {
        SframeSender {
            key: Box::new(key),
            counter: 0,
        }
    }

    /// The key id frames are protected under.
    pub fn key_id(&self) -> u64 {
        self.key.key_id()
    }

    /// The counter the next frame gets.
    pub fn next_counter(&self) -> u64 {
        self.counter
    }

    /// The cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.key.suite()
    }

    /// The most bytes protection adds to a frame (header plus tag).
    pub fn max_overhead(&self) -> usize {
        MAX_HEADER_LEN + self.key.suite().tag_len()
    }

    /// Protects `frame`, authenticating `metadata` with it (pass `&[]` for none); `out` receives
    /// `metadata` followed by the SFrame ciphertext (header, encrypted frame, tag). Returns the
    /// length written.
    ///
    /// # Real-time safety
    /// No allocation as long as `out.capacity()` suffices (it is never grown).
    ///
    /// # Errors
    /// [`ProtectError`]; on error nothing usable is in `out`.
    pub fn protect_into(
        &mut self,
        metadata: &[u8],
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, ProtectError> {
        // RT: no allocation while `out` has the capacity.
        self.protect_inner(metadata, true, frame, out)
    }

    /// Protects `frame` and authenticates `aad` with it without sending `aad`: `out` receives
    /// the SFrame ciphertext only (header, encrypted frame, tag). The receiver must rebuild the
    /// same `aad` from what it received (RFC 9605 section 4.4.3 "metadata"), e.g. the RTP header
    /// fields from [`rtp_aad`](super::rtp_aad). Returns the length written.
    ///
    /// # Real-time safety
    /// No allocation as long as `out.capacity()` is at least `aad.len()` plus the frame and
    /// [`max_overhead`](Self::max_overhead) (it is never grown).
    ///
    /// # Errors
    /// [`ProtectError`]; on error nothing usable is in `out`.
    pub fn protect_with_aad(
        &mut self,
        aad: &[u8],
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, ProtectError> {
        // RT: no allocation while `out` has the capacity.
        self.protect_inner(aad, false, frame, out)
    }

    fn protect_inner(
        &mut self,
        metadata: &[u8],
        keep_metadata: bool,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, ProtectError> {
        if self.counter == u64::MAX {
            return Err(ProtectError::CounterExhausted);
        }
        let mut header = [0u8; MAX_HEADER_LEN];
        let h = write_sframe_header(self.key.key_id(), self.counter, &mut header)
            .ok_or(ProtectError::Encryption)?;
        let (m, t) = (metadata.len(), self.key.suite().tag_len());
        let needed = m + h + frame.len() + t;
        if out.capacity() < needed {
            return Err(ProtectError::BufferTooSmall {
                needed,
                got: out.capacity(),
            });
        }
        // Lay out header || metadata (the AAD, RFC 9605 4.4.3) || frame || tag, encrypt in
        // place, then either swap the front to the wire order metadata || header, or drop the
        // metadata (authenticated, not sent).
        out.clear();
        out.extend_from_slice(&header[..h]);
        out.extend_from_slice(metadata);
        out.extend_from_slice(frame);
        out.resize(needed, 0);
        let (aad, rest) = out.split_at_mut(h + m);
        let (body, tag) = rest.split_at_mut(frame.len());
        if self
            .key
            .encrypt_in_place(self.counter, aad, body, tag)
            .is_err()
        {
            out.clear();
            return Err(ProtectError::Encryption);
        }
        #[cfg(feature = "_nonce-ledger")]
        super::ledger::record(&self.key, self.counter);
        if keep_metadata {
            out[..h + m].rotate_left(h);
        } else {
            out.copy_within(h + m.., h);
            out.truncate(needed - m);
        }
        self.counter += 1;
        Ok(out.len())
    }
}

/// Why a received frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The SFrame header does not parse, or the frame is shorter than its header and tag.
    Malformed,
    /// No key with the frame's key id was ever installed.
    UnknownKey,
    /// The frame's key was retired (rotated out after its grace period, or removed).
    RetiredKey,
    /// The counter was seen before, or is older than the replay window.
    Replay,
    /// The tag did not verify: the frame was forged, corrupted or truncated, or the sender used
    /// different key material.
    Authentication,
}

/// Counts of accepted and rejected frames, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RejectStats {
    /// Frames that authenticated and were returned.
    pub accepted: u64,
    /// [`RejectReason::Malformed`] rejections.
    pub malformed: u64,
    /// [`RejectReason::UnknownKey`] rejections.
    pub unknown_key: u64,
    /// [`RejectReason::RetiredKey`] rejections.
    pub retired_key: u64,
    /// [`RejectReason::Replay`] rejections.
    pub replay: u64,
    /// [`RejectReason::Authentication`] rejections.
    pub authentication: u64,
}

impl RejectStats {
    /// All rejections.
    pub fn rejected(&self) -> u64 {
        self.malformed + self.unknown_key + self.retired_key + self.replay + self.authentication
    }

    pub(crate) fn bump(&mut self, r: RejectReason) {
        let c = match r {
            RejectReason::Malformed => &mut self.malformed,
            RejectReason::UnknownKey => &mut self.unknown_key,
            RejectReason::RetiredKey => &mut self.retired_key,
            RejectReason::Replay => &mut self.replay,
            RejectReason::Authentication => &mut self.authentication,
        };
        *c += 1;
    }
}

/// Why an unprotect call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnprotectError {
    /// The frame was rejected and counted; drop it (and conceal).
    #[error("frame rejected: {0:?}")]
    Rejected(RejectReason),
    /// The output buffer's capacity is too small (a caller bug; the frame was not counted and its
    /// replay state is untouched, so it can be retried with a larger buffer).
    #[error("output capacity too small: needed {needed} bytes, got {got}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Capacity available.
        got: usize,
    },
}

/// An accepted frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unprotected {
    /// Key id it was protected under (identifies the sender).
    pub key_id: u64,
    /// Its SFrame counter.
    pub counter: u64,
    /// Length of the plaintext now in the output buffer.
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyState {
    Active,
    Retiring { until: MediaTime },
    Retired,
}

#[derive(Debug)]
struct KeySlot {
    key_id: u64,
    /// `None` once retired: the key schedule and salt are zeroized (dropped) at retirement.
    key: Option<SframeKey>,
    window: ReplayWindow,
    state: KeyState,
    /// The key this one replaces; it starts retiring when this key is first used.
    replaces: Option<u64>,
}

/// Why [`open_frame`] refused a frame.
pub(crate) enum OpenError {
    Rejected(RejectReason),
    BufferTooSmall { needed: usize, got: usize },
}

impl From<RejectReason> for OpenError {
    fn from(r: RejectReason) -> Self {
        OpenError::Rejected(r)
    }
}

/// Checks freshness, authenticates and decrypts one frame (`data`: header, ciphertext, tag,
/// with the header already parsed as `header_len` bytes and `counter`) under `key`, with
/// `metadata` as the rest of the AAD. On success the plaintext is in `out` and `window` records
/// the counter; on failure `out` is empty and nothing changed.
///
/// # Real-time safety
/// No allocation while `out.capacity() >= metadata.len() + data.len()`.
pub(crate) fn open_frame(
    key: &SframeKey,
    window: &mut ReplayWindow,
    header_len: usize,
    counter: u64,
    metadata: &[u8],
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, OpenError> {
    // RT: stack and `out` only.
    out.clear();
    let body = data.len() - header_len;
    let tag_len = key.suite().tag_len();
    if body < tag_len {
        return Err(RejectReason::Malformed.into());
    }
    if !window.is_fresh(counter) {
        return Err(RejectReason::Replay.into());
    }
    let needed = metadata.len() + data.len();
    if out.capacity() < needed {
        return Err(OpenError::BufferTooSmall {
            needed,
            got: out.capacity(),
        });
    }
    // AAD = header || metadata (RFC 9605 4.4.3), followed by ciphertext || tag, decrypted in
    // place.
    out.extend_from_slice(&data[..header_len]);
    out.extend_from_slice(metadata);
    out.extend_from_slice(&data[header_len..]);
    let aad_len = header_len + metadata.len();
    let plain = body - tag_len;
    let (aad, rest) = out.split_at_mut(aad_len);
    let (ciphertext, tag) = rest.split_at_mut(plain);
    if key.decrypt_in_place(counter, aad, ciphertext, tag).is_err() {
        out.clear();
        return Err(RejectReason::Authentication.into());
    }
    window.record(counter);
    // Keep the plaintext only.
    out.copy_within(aad_len..aad_len + plain, 0);
    out.truncate(plain);
    Ok(plain)
}

/// Holds the keys of every sender in a call and unprotects their frames.
///
/// Key management (`add_key`, `rotate_key`, `retire_key`) derives keys: call it from the
/// control side. [`unprotect_into`](Self::unprotect_into) and [`expire`](Self::expire) are the
/// per-frame path. A two-party call uses [`StreamReceiver`](super::StreamReceiver) instead,
/// which follows the peer's key epochs by itself.
///
/// Lifecycle of a key: installed (`add_key`, or `rotate_key` as the successor of another) ->
/// active -> retiring once its successor authenticated a frame -> retired `grace` later (or at
/// once with `retire_key`). Retirement zeroizes the key; the slot is reused by the next key, so
/// any number of rotations fits in [`MAX_KEYS`] slots as long as at most `MAX_KEYS` are live at
/// once.
#[derive(Debug)]
pub struct SframeReceiver {
    slots: Vec<KeySlot>,
    grace: Duration,
    stats: RejectStats,
}

impl SframeReceiver {
    /// A receiver with no keys; rotated-out keys stay valid for `grace` after the first frame
    /// under their successor authenticates.
    pub fn new(grace: Duration) -> Self {
        SframeReceiver {
            slots: Vec::with_capacity(MAX_KEYS),
            grace,
            stats: RejectStats::default(),
        }
    }

    fn find(&self, key_id: u64) -> Option<usize> {
        self.slots.iter().position(|s| s.key_id == key_id)
    }

    fn insert(&mut self, slot: KeySlot) -> Result<(), E2eeError> {
        if let Some(i) = self.find(slot.key_id) {
            if self.slots[i].state == KeyState::Retired {
                // A retired key id never comes back: its counters were used.
                return Err(E2eeError::RetiredKeyId(slot.key_id));
            }
            return Err(E2eeError::DuplicateKeyId(slot.key_id));
        }
        if self.slots.len() < MAX_KEYS {
            self.slots.push(slot);
            return Ok(());
        }
        // Reuse the slot of a retired key.
        match self.slots.iter().position(|s| s.state == KeyState::Retired) {
            Some(i) => {
                self.slots[i] = slot;
                Ok(())
            }
            None => Err(E2eeError::TooManyKeys { max: MAX_KEYS }),
        }
    }

    fn derive(
        suite: CipherSuite,
        key_id: u64,
        base_key: &[u8],
        replaces: Option<u64>,
    ) -> Result<KeySlot, E2eeError> {
        Ok(KeySlot {
            key_id,
            key: Some(SframeKey::derive(suite, key_id, base_key)?),
            window: ReplayWindow::new(),
            state: KeyState::Active,
            replaces,
        })
    }

    /// Installs the key of a new sender.
    ///
    /// # Errors
    /// [`E2eeError`] for a duplicate or retired key id, a full key table or a failed derivation.
    pub fn add_key(
        &mut self,
        suite: CipherSuite,
        key_id: u64,
        base_key: &[u8],
    ) -> Result<(), E2eeError> {
        let slot = Self::derive(suite, key_id, base_key, None)?;
        self.insert(slot)
    }

    /// Installs `new_key_id` as the successor of `old_key_id`. Both are accepted until `grace`
    /// after the first frame under the new key authenticates; then the old one is retired.
    ///
    /// # Errors
    /// [`E2eeError::UnknownKeyId`] if `old_key_id` is not installed, and as
    /// [`add_key`](Self::add_key).
    pub fn rotate_key(
        &mut self,
        suite: CipherSuite,
        old_key_id: u64,
        new_key_id: u64,
        base_key: &[u8],
    ) -> Result<(), E2eeError> {
        if self.find(old_key_id).is_none() {
            return Err(E2eeError::UnknownKeyId(old_key_id));
        }
        let slot = Self::derive(suite, new_key_id, base_key, Some(old_key_id))?;
        self.insert(slot)
    }

    /// Retires a key now (a sender left, or a key is known to be compromised): it is zeroized,
    /// and its frames are rejected as [`RejectReason::RetiredKey`] from then on.
    ///
    /// # Errors
    /// [`E2eeError::UnknownKeyId`] if no such key is installed.
    pub fn retire_key(&mut self, key_id: u64) -> Result<(), E2eeError> {
        let i = self.find(key_id).ok_or(E2eeError::UnknownKeyId(key_id))?;
        retire(&mut self.slots[i]);
        Ok(())
    }

    /// Retires (and zeroizes) every key whose grace period has ended by `now`, whether or not
    /// a frame arrives. Call it regularly (the engine does every 10 ms tick).
    ///
    /// # Real-time safety
    /// No allocation: dropping a key zeroizes memory inside the receiver.
    pub fn expire(&mut self, now: MediaTime) {
        // RT: a pass over at most MAX_KEYS slots.
        for slot in &mut self.slots {
            if let KeyState::Retiring { until } = slot.state
                && now >= until
            {
                retire(slot);
            }
        }
    }

    /// Whether `key_id` is installed and not retired at `now`.
    pub fn is_live(&self, key_id: u64, now: MediaTime) -> bool {
        self.find(key_id)
            .is_some_and(|i| match self.slots[i].state {
                KeyState::Active => true,
                KeyState::Retiring { until } => now < until,
                KeyState::Retired => false,
            })
    }

    /// Keys installed and not retired (live or in their grace period), at the last call.
    pub fn live_keys(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state != KeyState::Retired)
            .count()
    }

    /// The counters.
    pub fn stats(&self) -> RejectStats {
        self.stats
    }

    /// Authenticates and decrypts one SFrame ciphertext `data` received at `now`, with the
    /// `metadata` the sender authenticated alongside it (`&[]` for none). On success `out` holds
    /// the plaintext; on any rejection `out` is empty, the reason is counted, and no state
    /// changes (replay windows and key rotation only move after authentication).
    ///
    /// # Real-time safety
    /// No allocation as long as `out.capacity()` is at least `metadata.len() + data.len()`.
    ///
    /// # Errors
    /// [`UnprotectError::Rejected`] with the reason, or [`UnprotectError::BufferTooSmall`].
    pub fn unprotect_into(
        &mut self,
        metadata: &[u8],
        data: &[u8],
        out: &mut Vec<u8>,
        now: MediaTime,
    ) -> Result<Unprotected, UnprotectError> {
        // RT: no allocation while `out` has the capacity.
        out.clear();
        self.expire(now);
        let res = self.open(metadata, data, out, now);
        settle(&mut self.stats, res, out)
    }

    fn open(
        &mut self,
        metadata: &[u8],
        data: &[u8],
        out: &mut Vec<u8>,
        now: MediaTime,
    ) -> Result<Unprotected, OpenError> {
        let header = parse_sframe_header(data).ok_or(RejectReason::Malformed)?;
        let i = self.find(header.key_id).ok_or(RejectReason::UnknownKey)?;
        let slot = &mut self.slots[i];
        let key = slot
            .key
            .as_ref()
            .filter(|_| slot.state != KeyState::Retired)
            .ok_or(RejectReason::RetiredKey)?;
        let len = open_frame(
            key,
            &mut slot.window,
            header.len,
            header.counter,
            metadata,
            data,
            out,
        )?;
        // Authentic: now the state may move.
        if let Some(old) = self.slots[i].replaces.take()
            && let Some(j) = self.find(old)
            && self.slots[j].state == KeyState::Active
        {
            self.slots[j].state = KeyState::Retiring {
                until: now + self.grace,
            };
        }
        Ok(Unprotected {
            key_id: header.key_id,
            counter: header.counter,
            len,
        })
    }
}

/// Counts the outcome of an unprotect in `stats` and turns it into the public result; on a
/// rejection `out` is left empty.
pub(crate) fn settle(
    stats: &mut RejectStats,
    res: Result<Unprotected, OpenError>,
    out: &mut Vec<u8>,
) -> Result<Unprotected, UnprotectError> {
    match res {
        Ok(u) => {
            stats.accepted += 1;
            Ok(u)
        }
        Err(OpenError::Rejected(r)) => {
            out.clear();
            stats.bump(r);
            Err(UnprotectError::Rejected(r))
        }
        Err(OpenError::BufferTooSmall { needed, got }) => {
            Err(UnprotectError::BufferTooSmall { needed, got })
        }
    }
}

/// Retires a slot: the key material is dropped (zeroized), the id stays known as retired.
fn retire(slot: &mut KeySlot) {
    slot.state = KeyState::Retired;
    slot.key = None;
    slot.replaces = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_every_suite_with_metadata() {
        for suite in CipherSuite::ALL {
            let mut tx = SframeSender::new(suite, 3, KEY).unwrap();
            let mut rx = SframeReceiver::new(Duration::from_secs(1));
            rx.add_key(suite, 3, KEY).unwrap();
            let mut wire = Vec::with_capacity(256);
            let mut plain = Vec::with_capacity(256);
            for i in 0..3u8 {
                let n = tx.protect_into(b"hdr", &[i; 40], &mut wire).unwrap();
                assert!(n <= 3 + 40 + tx.max_overhead());
                assert_eq!(&wire[..3], b"hdr");
                // Other metadata: the tag does not verify, and nothing moves.
                assert_eq!(
                    rx.unprotect_into(b"HDR", &wire[3..], &mut plain, MediaTime::ZERO),
                    Err(UnprotectError::Rejected(RejectReason::Authentication))
                );
                assert!(plain.is_empty());
                let u = rx
                    .unprotect_into(b"hdr", &wire[3..], &mut plain, MediaTime::ZERO)
                    .unwrap();
                assert_eq!((u.key_id, u.counter), (3, u64::from(i)));
                assert_eq!(plain, vec![i; 40]);
                // The same frame again is a replay.
                assert_eq!(
                    rx.unprotect_into(b"hdr", &wire[3..], &mut plain, MediaTime::ZERO),
                    Err(UnprotectError::Rejected(RejectReason::Replay))
                );
            }
        }
    }

    #[test]
    fn small_buffers_are_refused_not_grown() {
        let mut tx = SframeSender::new(CipherSuite::default(), 1, KEY).unwrap();
        let mut out = Vec::with_capacity(10);
        assert!(matches!(
            tx.protect_into(&[], &[0; 20], &mut out),
            Err(ProtectError::BufferTooSmall { .. })
        ));
        assert!(matches!(
            SframeSender::new(CipherSuite::default(), 1, b"short"),
            Err(E2eeError::WeakBaseKey(5))
        ));
    }
}
