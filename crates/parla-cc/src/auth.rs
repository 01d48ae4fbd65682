//! Authenticated feedback: every RTCP or transport-wide feedback packet carries an SRTCP-like
//! trailer (RFC 3711 3.4 for the shape), so nobody on the path can throttle a call with forged
//! over-use, fake loss or replayed feedback.
//!
//! Trailer: `E|index` (4 bytes: the E bit is 0 because the body is not encrypted here — media
//! confidentiality is SFrame's job — and a 31-bit index), then a 10-byte tag:
//! `HMAC-SHA256(key, packet || E|index)` truncated to 80 bits, like SRTCP's default. The key is
//! per direction, from the call's key agreement (`CallKeys::feedback_keys` in `parla-rtp`:
//! HKDF with the label "parla-feedback-v1 direction"), so a packet cannot be reflected back to
//! its sender. The receiver checks the index against a 128-entry replay window before the tag,
//! records it only after the tag verified (forgeries cannot move the window), and counts every
//! rejection.

use hmac::{Hmac, KeyInit, Mac};
use parla_rtp::e2ee::ReplayWindow;
use sha2::Sha256;

use crate::error::{FeedbackError, WriteError, room};

/// Bytes of the index field.
pub const INDEX_LEN: usize = 4;
/// Bytes of the truncated tag.
pub const TAG_LEN: usize = 10;
/// Bytes the trailer adds to a packet.
pub const TRAILER_LEN: usize = INDEX_LEN + TAG_LEN;
/// The largest index (31 bits).
pub const MAX_INDEX: u32 = 0x7fff_ffff;

/// Rejection counters of a [`FeedbackAuth`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// Packets accepted.
    pub accepted: u64,
    /// Packets too short to carry a trailer and an RTCP header.
    pub truncated: u64,
    /// Packets whose tag did not verify.
    pub forged: u64,
    /// Packets whose index was seen before or is behind the window.
    pub replayed: u64,
}

/// Protects outgoing and verifies incoming feedback of one call.
pub struct FeedbackAuth {
    send: Hmac<Sha256>,
    recv: Hmac<Sha256>,
    next_index: u32,
    window: ReplayWindow,
    stats: AuthStats,
}

impl std::fmt::Debug for FeedbackAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedbackAuth")
            .field("next_index", &self.next_index)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl FeedbackAuth {
    /// An authenticator with this side's `send` key and the peer's (`recv`), 32 bytes each.
    pub fn new(send: &[u8; 32], recv: &[u8; 32]) -> Self {
        // HMAC pads a key shorter than the block with zeros (RFC 2104 2), so the padded
        // 64-byte block key gives the same MAC, through the infallible constructor.
        let mk = |k: &[u8; 32]| {
            let mut block = [0u8; 64];
            block[..32].copy_from_slice(k);
            <Hmac<Sha256> as KeyInit>::new(&block.into())
        };
        FeedbackAuth {
            send: mk(send),
            recv: mk(recv),
            next_index: 0,
            window: ReplayWindow::new(),
            stats: AuthStats::default(),
        }
    }

    /// Appends the trailer to the packet in `buf[..len]`; returns the new length.
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// [`WriteError::BufferTooSmall`] without room for the trailer;
    /// [`WriteError::IndexExhausted`] after 2^31 packets (derive new keys).
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, WriteError> {
        // RT: no allocation.
        room(buf, len + TRAILER_LEN)?;
        if self.next_index > MAX_INDEX {
            return Err(WriteError::IndexExhausted);
        }
        let idx = self.next_index.to_be_bytes();
        buf[len..len + INDEX_LEN].copy_from_slice(&idx);
        let mut mac = self.send.clone();
        mac.update(&buf[..len + INDEX_LEN]);
        let tag = mac.finalize().into_bytes();
        buf[len + INDEX_LEN..len + TRAILER_LEN].copy_from_slice(&tag[..TAG_LEN]);
        self.next_index += 1;
        Ok(len + TRAILER_LEN)
    }

    /// Verifies the trailer of a received packet; returns the packet without it.
    ///
    /// # Real-time safety
    /// No allocation.
    ///
    /// # Errors
    /// [`FeedbackError::Truncated`], [`FeedbackError::Replayed`] or
    /// [`FeedbackError::Authentication`]: drop the packet (it is counted).
    pub fn unprotect<'a>(&mut self, packet: &'a [u8]) -> Result<&'a [u8], FeedbackError> {
        // RT: no allocation.
        if packet.len() < 4 + TRAILER_LEN {
            self.stats.truncated += 1;
            return Err(FeedbackError::Truncated {
                needed: 4 + TRAILER_LEN,
                got: packet.len(),
            });
        }
        let body_len = packet.len() - TRAILER_LEN;
        let i = &packet[body_len..body_len + INDEX_LEN];
        let word = u32::from_be_bytes([i[0], i[1], i[2], i[3]]);
        let index = word & MAX_INDEX;
        if word & !MAX_INDEX != 0 {
            // The E bit: we never encrypt, so a set bit is a forgery.
            self.stats.forged += 1;
            return Err(FeedbackError::Authentication);
        }
        if !self.window.is_fresh(u64::from(index)) {
            self.stats.replayed += 1;
            return Err(FeedbackError::Replayed(index));
        }
        let mut mac = self.recv.clone();
        mac.update(&packet[..body_len + INDEX_LEN]);
        if mac
            .verify_truncated_left(&packet[body_len + INDEX_LEN..])
            .is_err()
        {
            self.stats.forged += 1;
            return Err(FeedbackError::Authentication);
        }
        self.window.record(u64::from(index));
        self.stats.accepted += 1;
        Ok(&packet[..body_len])
    }

    /// Counters.
    pub fn stats(&self) -> AuthStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_key_equals_rfc2104_key() {
        let key = [7u8; 32];
        let mut a = FeedbackAuth::new(&key, &key);
        let mut buf = [0u8; 32];
        let n = a.protect(&mut buf, 8).unwrap();
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        m.update(&buf[..12]);
        assert_eq!(&m.finalize().into_bytes()[..TAG_LEN], &buf[12..n]);
    }

    #[test]
    fn round_trip_replay_forgery_truncation() {
        let (ka, kb) = ([1u8; 32], [2u8; 32]);
        let mut a = FeedbackAuth::new(&ka, &kb);
        let mut b = FeedbackAuth::new(&kb, &ka);
        let mut buf = [0u8; 64];
        buf[..8].copy_from_slice(&[0x80, 201, 0, 1, 0, 0, 0, 7]);
        let n = a.protect(&mut buf, 8).unwrap();
        assert_eq!(n, 8 + TRAILER_LEN);
        assert_eq!(b.unprotect(&buf[..n]).unwrap(), &buf[..8]);
        assert_eq!(b.unprotect(&buf[..n]), Err(FeedbackError::Replayed(0)));
        let mut bad = buf;
        bad[3] ^= 1;
        // Index 0 was recorded: a mutated copy is a replay first; use a fresh index.
        let n2 = a.protect(&mut bad, 8).unwrap();
        bad[2] ^= 0x40;
        assert_eq!(b.unprotect(&bad[..n2]), Err(FeedbackError::Authentication));
        assert!(b.unprotect(&buf[..10]).is_err());
        // Reflection: a's packet fed back to a fails (direction keys differ).
        let n3 = a.protect(&mut buf, 8).unwrap();
        assert_eq!(a.unprotect(&buf[..n3]), Err(FeedbackError::Authentication));
        let s = b.stats();
        assert_eq!(
            (s.accepted, s.replayed, s.forged, s.truncated),
            (1, 1, 1, 1)
        );
    }
}
