//! The SFrame keys of `parla rtp recv`: each run of `parla rtp send` protects under its own
//! random key id (a fresh nonce space per run), so the receiver learns the key id from the
//! frames, safely.
//!
//! A frame under a key id the receiver does not hold is tried under a key derived for that key
//! id in a separate [`SframeReceiver`]; the key id is adopted only if the frame authenticates.
//! A frame that does not authenticate installs nothing and is counted (as an authentication
//! failure: it failed under the only base key we have). Policy when a new key id authenticates
//! (the sender restarted): at most two key ids are live. The new one becomes current; the one
//! it replaces is retired [`GRACE`] after the new one's first frame (`rotate_key` semantics);
//! one still in its grace period from an earlier change is retired at once. A key id retired in
//! this run is never adopted again, so replaying an earlier run of this receiver's lifetime
//! cannot switch back to it.

use std::time::Duration;

use anyhow::Context;
use parla_core::MediaTime;
use parla_rtp::e2ee::{
    CipherSuite, RejectStats, SframeReceiver, UnprotectError, parse_sframe_header,
};
use zeroize::Zeroizing;

/// How long the key id a new sender replaced stays valid (for its frames still in flight).
pub(crate) const GRACE: Duration = Duration::from_secs(2);
/// Most key ids adopted in one run (each needs an authentic frame under a new key id, i.e. one
/// run of a sender holding the key); beyond it new key ids are refused as unknown keys, so
/// memory stays bounded.
const MAX_KEY_IDS: usize = 1024;

/// A frame that authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// The key id it was protected under.
    pub key_id: u64,
    /// Whether this frame made its key id current: the first frame of a new sender run.
    pub new_sender: bool,
}

/// The receiver's keys for one base key: adopts each sender run's key id on its first
/// authentic frame.
#[derive(Debug)]
pub(crate) struct ReceiveKeys {
    suite: CipherSuite,
    base_key: Zeroizing<Vec<u8>>,
    /// The adopted key ids' keys, replay windows and rotation state.
    rx: SframeReceiver,
    /// Rejections decided here, for frames `rx` was not asked about (unknown or forgotten key
    /// ids).
    own: RejectStats,
    current: Option<u64>,
    previous: Option<u64>,
    /// Every key id adopted in this run, in order.
    adopted: Vec<u64>,
}

impl ReceiveKeys {
    /// Keys derived from `base_key` (at least 16 bytes) for `suite`; none adopted yet.
    pub(crate) fn new(suite: CipherSuite, base_key: Zeroizing<Vec<u8>>) -> Self {
        ReceiveKeys {
            suite,
            base_key,
            rx: SframeReceiver::new(GRACE),
            own: RejectStats::default(),
            current: None,
            previous: None,
            adopted: Vec::new(),
        }
    }

    /// The key id of the current sender, once one authenticated.
    pub(crate) fn current(&self) -> Option<u64> {
        self.current
    }

    /// How many key ids (sender runs) were adopted.
    pub(crate) fn adopted(&self) -> usize {
        self.adopted.len()
    }

    /// Key ids live at the last call (current and, in its grace period, previous).
    #[cfg(test)]
    fn live_keys(&self) -> usize {
        self.rx.live_keys()
    }

    /// Accepted frames and rejections by reason.
    pub(crate) fn stats(&self) -> RejectStats {
        let (a, b) = (self.rx.stats(), self.own);
        RejectStats {
            accepted: a.accepted + b.accepted,
            malformed: a.malformed + b.malformed,
            unknown_key: a.unknown_key + b.unknown_key,
            retired_key: a.retired_key + b.retired_key,
            replay: a.replay + b.replay,
            authentication: a.authentication + b.authentication,
        }
    }

    /// Authenticates and decrypts the SFrame ciphertext `data` received at `now`, with the
    /// authenticated data `aad` (the RTP header fields). On success `out` holds the plaintext;
    /// `Ok(None)` is a rejected frame (counted, `out` empty, nothing installed).
    ///
    /// # Errors
    /// `out` is smaller than `aad` plus `data` (a caller bug), or key derivation failed.
    pub(crate) fn unprotect(
        &mut self,
        aad: &[u8],
        data: &[u8],
        out: &mut Vec<u8>,
        now: MediaTime,
    ) -> anyhow::Result<Option<Accepted>> {
        self.rx.expire(now);
        let key_id = match parse_sframe_header(data) {
            // Unparsable: the receiver rejects and counts it as malformed.
            None => return self.open(aad, data, out, now, false),
            Some(h) => h.key_id,
        };
        if self.adopted.contains(&key_id) {
            if !self.rx.is_live(key_id, now) {
                // Retired (its slot in `rx` may hold another key by now).
                out.clear();
                self.own.retired_key += 1;
                return Ok(None);
            }
            return self.open(aad, data, out, now, false);
        }
        if self.adopted.len() >= MAX_KEY_IDS {
            out.clear();
            self.own.unknown_key += 1;
            return Ok(None);
        }
        // A key id never seen: try it in a separate receiver; nothing is installed unless the
        // frame authenticates.
        let mut trial = SframeReceiver::new(GRACE);
        trial
            .add_key(self.suite, key_id, &self.base_key)
            .context("SFrame key derivation")?;
        match trial.unprotect_into(aad, data, out, now) {
            Ok(_) => {}
            Err(UnprotectError::Rejected(_)) => {
                let t = trial.stats();
                self.own.malformed += t.malformed;
                self.own.authentication += t.authentication;
                self.own.replay += t.replay;
                self.own.unknown_key += t.unknown_key;
                self.own.retired_key += t.retired_key;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        // Authentic: a new sender run. At most two live key ids: the one before the current is
        // retired now, the current one `GRACE` after this frame (`rotate_key`).
        if let Some(p) = self.previous.take()
            && self.rx.is_live(p, now)
        {
            self.rx.retire_key(p)?;
        }
        match self.current {
            Some(c) => self.rx.rotate_key(self.suite, c, key_id, &self.base_key)?,
            None => self.rx.add_key(self.suite, key_id, &self.base_key)?,
        }
        self.previous = self.current.replace(key_id);
        self.adopted.push(key_id);
        // Through `rx` again: it records the counter in the new key's replay window, counts the
        // frame and starts the replaced key's grace period.
        self.open(aad, data, out, now, true)
    }

    /// Unprotects with the adopted keys.
    fn open(
        &mut self,
        aad: &[u8],
        data: &[u8],
        out: &mut Vec<u8>,
        now: MediaTime,
        new_sender: bool,
    ) -> anyhow::Result<Option<Accepted>> {
        match self.rx.unprotect_into(aad, data, out, now) {
            Ok(u) => Ok(Some(Accepted {
                key_id: u.key_id,
                new_sender,
            })),
            Err(UnprotectError::Rejected(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use parla_rtp::e2ee::SframeSender;

    const KEY: &[u8] = b"0123456789abcdef";
    const AAD: &[u8] = b"rtp header";

    fn keys() -> ReceiveKeys {
        ReceiveKeys::new(CipherSuite::default(), Zeroizing::new(KEY.to_vec()))
    }

    fn frame(tx: &mut SframeSender, aad: &[u8], n: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        tx.protect_with_aad(aad, &[n; 30], &mut out).unwrap();
        out
    }

    fn at(ms: u64) -> MediaTime {
        MediaTime::from_micros(ms * 1000)
    }

    #[test]
    fn a_sender_run_is_adopted_on_its_first_authentic_frame_only() {
        let mut k = keys();
        let mut plain = Vec::with_capacity(512);
        let mut tx = SframeSender::new(CipherSuite::default(), 0xabc_def0_1234, KEY).unwrap();
        let mut wrong = SframeSender::new(CipherSuite::default(), 77, b"another key 1234").unwrap();
        // Forged, wrong-key, rewritten-header and truncated frames install nothing.
        let f = frame(&mut wrong, AAD, 1);
        assert_eq!(k.unprotect(AAD, &f, &mut plain, at(0)).unwrap(), None);
        let f = frame(&mut tx, AAD, 2);
        assert_eq!(
            k.unprotect(b"rtp HEADER", &f, &mut plain, at(0)).unwrap(),
            None
        );
        assert_eq!(
            k.unprotect(AAD, &f[..f.len() - 1], &mut plain, at(0))
                .unwrap(),
            None
        );
        assert_eq!(k.unprotect(AAD, &[], &mut plain, at(0)).unwrap(), None);
        assert!(plain.is_empty());
        assert_eq!((k.current(), k.adopted(), k.live_keys()), (None, 0, 0));
        let s = k.stats();
        assert_eq!((s.accepted, s.authentication, s.malformed), (0, 3, 1));
        // The genuine frame (its counter unused so far) is adopted, then the stream goes on.
        let a = k.unprotect(AAD, &f, &mut plain, at(1)).unwrap().unwrap();
        assert_eq!((a.key_id, a.new_sender), (0xabc_def0_1234, true));
        assert_eq!(plain, [2; 30]);
        let g = frame(&mut tx, AAD, 3);
        let a = k.unprotect(AAD, &g, &mut plain, at(2)).unwrap().unwrap();
        assert!(!a.new_sender);
        // A replay is refused by the adopted key's window.
        assert_eq!(k.unprotect(AAD, &g, &mut plain, at(3)).unwrap(), None);
        let s = k.stats();
        assert_eq!((s.accepted, s.replay, s.rejected()), (2, 1, 5));
        assert_eq!((k.current(), k.adopted()), (Some(0xabc_def0_1234), 1));
    }

    #[test]
    fn a_restarted_sender_takes_over_and_the_old_key_id_retires_after_the_grace_period() {
        let mut k = keys();
        let mut plain = Vec::with_capacity(512);
        let suite = CipherSuite::default();
        let mut run1 = SframeSender::new(suite, 1111, KEY).unwrap();
        let mut run2 = SframeSender::new(suite, 2222, KEY).unwrap();
        let mut run3 = SframeSender::new(suite, 3333, KEY).unwrap();
        let late1 = frame(&mut run1, AAD, 0);
        let f = frame(&mut run1, AAD, 1);
        assert!(
            k.unprotect(AAD, &f, &mut plain, at(0))
                .unwrap()
                .unwrap()
                .new_sender
        );
        let f = frame(&mut run2, AAD, 2);
        let a = k.unprotect(AAD, &f, &mut plain, at(1000)).unwrap().unwrap();
        assert_eq!((a.key_id, a.new_sender), (2222, true));
        assert_eq!((k.current(), k.live_keys()), (Some(2222), 2));
        // Run 1's frames in flight still authenticate during the grace period...
        let a = k
            .unprotect(AAD, &late1, &mut plain, at(1500))
            .unwrap()
            .unwrap();
        assert_eq!((a.key_id, a.new_sender), (1111, false));
        // ...and are refused after it, with the key zeroized.
        let f = frame(&mut run1, AAD, 3);
        assert_eq!(k.unprotect(AAD, &f, &mut plain, at(3001)).unwrap(), None);
        assert_eq!((k.live_keys(), k.stats().retired_key), (1, 1));
        // A third run within run 2's use: run 2 stays in its grace period, at most two live.
        let f = frame(&mut run3, AAD, 4);
        assert!(
            k.unprotect(AAD, &f, &mut plain, at(4000))
                .unwrap()
                .unwrap()
                .new_sender
        );
        assert_eq!(
            (k.current(), k.live_keys(), k.adopted()),
            (Some(3333), 2, 3)
        );
        // Run 1 (retired) is never adopted again, even replayed as if new.
        let f = frame(&mut run1, AAD, 5);
        assert_eq!(k.unprotect(AAD, &f, &mut plain, at(4001)).unwrap(), None);
        assert_eq!(k.current(), Some(3333));
        // A fourth run while run 2 is still in its grace period retires run 2 at once.
        let mut run4 = SframeSender::new(suite, 4444, KEY).unwrap();
        let f = frame(&mut run4, AAD, 6);
        assert!(
            k.unprotect(AAD, &f, &mut plain, at(4100))
                .unwrap()
                .unwrap()
                .new_sender
        );
        assert_eq!(k.live_keys(), 2);
        let f = frame(&mut run2, AAD, 7);
        assert_eq!(k.unprotect(AAD, &f, &mut plain, at(4101)).unwrap(), None);
        assert_eq!(k.stats().retired_key, 3);
    }

    #[test]
    fn many_sender_runs_keep_the_key_table_small() {
        let mut k = keys();
        let mut plain = Vec::with_capacity(512);
        for run in 0..40u64 {
            let mut tx = SframeSender::new(CipherSuite::default(), 1000 + run, KEY).unwrap();
            for i in 0..3 {
                let f = frame(&mut tx, AAD, i);
                let now = at(run * 100 + u64::from(i));
                assert!(k.unprotect(AAD, &f, &mut plain, now).unwrap().is_some());
            }
            assert!(k.live_keys() <= 2);
        }
        assert_eq!(
            (k.adopted(), k.stats().accepted, k.stats().rejected()),
            (40, 120, 0)
        );
    }
}
