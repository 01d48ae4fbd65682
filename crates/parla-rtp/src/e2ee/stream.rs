//! Per-stream keys of a two-party call: the key id layout, and [`StreamReceiver`], which follows
//! the peer's key epochs by itself.
//!
//! Every (direction, stream, epoch) has its own SFrame key: the direction's chain key of that
//! epoch is expanded with the stream's label into the stream's base key, and the SFrame key id
//! `(epoch << 3) | (stream << 1) | role` names it (RFC 9605's key schedule then binds the key id
//! into the key and nonce salt). So audio and video of one side, the two sides, and any two
//! epochs never share a nonce space.

use std::time::Duration;

use parla_core::MediaTime;
use zeroize::Zeroizing;

use super::aead::SframeKey;
use super::header::parse_sframe_header;
use super::key_agreement::{ratchet, stream_key};
use super::replay::ReplayWindow;
use super::session::{
    OpenError, RejectReason, RejectStats, UnprotectError, Unprotected, open_frame, settle,
};
use super::{CipherSuite, E2eeError};

/// How many epochs past the next one a [`StreamReceiver`] derives forward to follow a peer that
/// rotated several times while none of its frames arrived. Bounds the work a frame with a
/// far-future key id can cause (one HKDF step per epoch).
pub const MAX_EPOCH_SKIP: u32 = 16;

/// A media stream of a call. Each has its own keys in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaStream {
    /// The call's audio (Opus).
    Audio,
    /// The call's camera video.
    Video,
}

impl MediaStream {
    /// Every stream, in index order.
    pub const ALL: [MediaStream; 2] = [MediaStream::Audio, MediaStream::Video];

    /// The stream's index in the key id (0..4; 2 and 3 are reserved).
    pub fn index(self) -> u8 {
        match self {
            MediaStream::Audio => 0,
            MediaStream::Video => 1,
        }
    }

    /// The stream with index `i`, if any.
    pub fn from_index(i: u8) -> Option<MediaStream> {
        MediaStream::ALL.into_iter().find(|s| s.index() == i)
    }

    /// The derivation label of the stream's base keys.
    pub(crate) fn label(self) -> &'static [u8] {
        match self {
            MediaStream::Audio => b"audio",
            MediaStream::Video => b"video",
        }
    }
}

/// The SFrame key id of `stream`'s frames sent by the side with `role` (0 or 1) at `epoch`.
pub fn call_key_id(epoch: u32, stream: MediaStream, role: u8) -> u64 {
    (u64::from(epoch) << 3) | (u64::from(stream.index()) << 1) | u64::from(role & 1)
}

/// The (epoch, stream index, role) a call key id names, or `None` if the epoch does not fit.
pub fn split_call_key_id(key_id: u64) -> Option<(u32, u8, u8)> {
    let epoch = u32::try_from(key_id >> 3).ok()?;
    Some((epoch, ((key_id >> 1) & 3) as u8, (key_id & 1) as u8))
}

/// One epoch's key in a [`StreamReceiver`].
#[derive(Debug)]
struct EpochKey {
    epoch: u32,
    key: Option<SframeKey>,
    window: ReplayWindow,
}

impl EpochKey {
    fn empty() -> Self {
        EpochKey {
            epoch: 0,
            key: None,
            window: ReplayWindow::new(),
        }
    }
}

/// Receives one stream of the peer's frames and follows the peer's key epochs without being told.
///
/// It holds three keys: the previous epoch's (only during its grace period), the current one
/// and the next one, plus the chain key of the next epoch, from which later keys are derived.
/// When the first frame under the next epoch (or up to [`MAX_EPOCH_SKIP`] epochs later)
/// authenticates, that epoch becomes current, the old current key retires `grace` later (or at
/// once if it is older), and the key after it is derived. So:
/// - the receive key of an epoch is always installed before the peer's sender can use it
///   (rotation is atomic from the receiver's side: no gap, no lost frame);
/// - a one-sided rotation is followed with no signalling, any number of times (bounded state);
/// - the previous key is zeroized `grace` after the switch, by [`expire`](Self::expire) even
///   when no frame arrives; a frame under an epoch older than the previous one is refused as
///   [`RejectReason::RetiredKey`];
/// - nothing changes before a frame authenticates, so forged key ids cannot move it.
///
/// Derivation on an epoch change runs on the caller's thread (the media thread in the engine):
/// HKDF and the AES key schedule, a few microseconds, no allocation.
pub struct StreamReceiver {
    suite: CipherSuite,
    stream: MediaStream,
    peer_role: u8,
    grace: Duration,
    prev: EpochKey,
    prev_until: Option<MediaTime>,
    cur: EpochKey,
    next: EpochKey,
    /// The chain key of `next.epoch` (epoch keys after it are derived from it).
    chain: Zeroizing<[u8; 32]>,
    stats: RejectStats,
    epoch_changes: u64,
    expired_keys: u64,
}

impl std::fmt::Debug for StreamReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReceiver")
            .field("stream", &self.stream)
            .field("epoch", &self.cur.epoch)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl StreamReceiver {
    /// A receiver of `stream` from the peer with `peer_role`, starting at `epoch` whose chain
    /// key is `chain` (control side: derives two keys).
    pub(crate) fn new(
        suite: CipherSuite,
        stream: MediaStream,
        peer_role: u8,
        grace: Duration,
        epoch: u32,
        chain: &[u8; 32],
    ) -> Result<Self, E2eeError> {
        let next_epoch = epoch.checked_add(1).ok_or(E2eeError::EpochOverflow)?;
        let next_chain = ratchet(chain)?;
        Ok(StreamReceiver {
            suite,
            stream,
            peer_role,
            grace,
            prev: EpochKey::empty(),
            prev_until: None,
            cur: EpochKey {
                epoch,
                key: Some(stream_key(suite, chain, epoch, stream, peer_role)?),
                window: ReplayWindow::new(),
            },
            next: EpochKey {
                epoch: next_epoch,
                key: Some(stream_key(
                    suite,
                    &next_chain,
                    next_epoch,
                    stream,
                    peer_role,
                )?),
                window: ReplayWindow::new(),
            },
            chain: next_chain,
            stats: RejectStats::default(),
            epoch_changes: 0,
            expired_keys: 0,
        })
    }

    /// The stream.
    pub fn stream(&self) -> MediaStream {
        self.stream
    }

    /// The peer's current epoch as seen here (the newest one a frame authenticated under).
    pub fn epoch(&self) -> u32 {
        self.cur.epoch
    }

    /// How many times the current epoch moved forward.
    pub fn epoch_changes(&self) -> u64 {
        self.epoch_changes
    }

    /// Previous-epoch keys zeroized at the end of their grace period.
    pub fn expired_keys(&self) -> u64 {
        self.expired_keys
    }

    /// Keys held: current and next, plus the previous one during its grace period.
    pub fn live_keys(&self) -> usize {
        usize::from(self.prev.key.is_some())
            + usize::from(self.cur.key.is_some())
            + usize::from(self.next.key.is_some())
    }

    /// The counters.
    pub fn stats(&self) -> RejectStats {
        self.stats
    }

    /// Zeroizes the previous epoch's key once its grace period ended at `now`, whether or not
    /// a frame arrives. Call it regularly (the engine does every 10 ms tick).
    ///
    /// # Real-time safety
    /// No allocation.
    pub fn expire(&mut self, now: MediaTime) {
        // RT: one comparison, maybe a zeroizing drop in place.
        if self.prev_until.is_some_and(|until| now >= until) {
            self.prev.key = None;
            self.prev_until = None;
            self.expired_keys += 1;
        }
    }

    /// Authenticates and decrypts one SFrame ciphertext `data` received at `now`, with the
    /// `aad` the sender authenticated with it (e.g. [`rtp_aad`](super::rtp_aad) of the packet's
    /// RTP header; `&[]` for none). On success `out` holds the plaintext; on any rejection `out`
    /// is empty, the reason is counted and no key or window state changes.
    ///
    /// # Real-time safety
    /// No allocation as long as `out.capacity()` is at least `aad.len() + data.len()`. A frame
    /// under a new epoch costs up to [`MAX_EPOCH_SKIP`] + 2 HKDF steps and a key schedule.
    ///
    /// # Errors
    /// [`UnprotectError::Rejected`] with the reason, or [`UnprotectError::BufferTooSmall`].
    pub fn unprotect_into(
        &mut self,
        aad: &[u8],
        data: &[u8],
        out: &mut Vec<u8>,
        now: MediaTime,
    ) -> Result<Unprotected, UnprotectError> {
        // RT: stack, the receiver's own slots and `out` only.
        out.clear();
        self.expire(now);
        let res = self.open(aad, data, out, now);
        settle(&mut self.stats, res, out)
    }

    fn open(
        &mut self,
        aad: &[u8],
        data: &[u8],
        out: &mut Vec<u8>,
        now: MediaTime,
    ) -> Result<Unprotected, OpenError> {
        let header = parse_sframe_header(data).ok_or(RejectReason::Malformed)?;
        let (key_id, counter) = (header.key_id, header.counter);
        let (epoch, stream, role) = split_call_key_id(key_id).ok_or(RejectReason::UnknownKey)?;
        if stream != self.stream.index() || role != self.peer_role {
            return Err(RejectReason::UnknownKey.into());
        }
        let len = if epoch == self.cur.epoch {
            open_slot(&mut self.cur, &header, aad, data, out)?
        } else if epoch == self.next.epoch {
            let len = open_slot(&mut self.next, &header, aad, data, out)?;
            let promoted = std::mem::replace(&mut self.next, EpochKey::empty());
            self.advance(promoted, now);
            len
        } else if epoch < self.cur.epoch {
            if epoch != self.prev.epoch {
                return Err(RejectReason::RetiredKey.into());
            }
            open_slot(&mut self.prev, &header, aad, data, out)?
        } else if epoch - self.next.epoch <= MAX_EPOCH_SKIP {
            self.open_ahead(epoch, &header, aad, data, out, now)?
        } else {
            return Err(RejectReason::UnknownKey.into());
        };
        Ok(Unprotected {
            key_id,
            counter,
            len,
        })
    }

    /// Tries a frame under an epoch past the next one: derives forward on a copy of the chain
    /// and adopts the result only if the frame authenticates.
    fn open_ahead(
        &mut self,
        epoch: u32,
        header: &super::SframeHeaderInfo,
        aad: &[u8],
        data: &[u8],
        out: &mut Vec<u8>,
        now: MediaTime,
    ) -> Result<usize, OpenError> {
        let Ok(chain) = chain_at(&self.chain, self.next.epoch, epoch) else {
            return Err(RejectReason::UnknownKey.into());
        };
        let Ok(key) = stream_key(self.suite, &chain, epoch, self.stream, self.peer_role) else {
            return Err(RejectReason::UnknownKey.into());
        };
        let mut slot = EpochKey {
            epoch,
            key: Some(key),
            window: ReplayWindow::new(),
        };
        let len = open_slot(&mut slot, header, aad, data, out)?;
        self.chain = chain;
        self.advance(slot, now);
        Ok(len)
    }

    /// Makes `new` (whose chain key is `self.chain`) the current epoch: the current key retires
    /// after the grace period, the next epoch's key is derived.
    fn advance(&mut self, new: EpochKey, now: MediaTime) {
        let old = std::mem::replace(&mut self.cur, new);
        // An older previous key (two switches within one grace period) retires now.
        if self.prev.key.is_some() {
            self.expired_keys += 1;
        }
        self.prev = old;
        self.prev_until = Some(now + self.grace);
        self.epoch_changes += 1;
        // The chain key of the new current epoch is in `self.chain`; move it one step on.
        let next_epoch = self.cur.epoch.checked_add(1);
        let next = next_epoch.and_then(|e| {
            let chain = ratchet(&self.chain).ok()?;
            let key = stream_key(self.suite, &chain, e, self.stream, self.peer_role).ok()?;
            Some((e, chain, key))
        });
        self.next = match next {
            Some((e, chain, key)) => {
                self.chain = chain;
                EpochKey {
                    epoch: e,
                    key: Some(key),
                    window: ReplayWindow::new(),
                }
            }
            // Epoch space exhausted (or a derivation failure): no next key; frames under
            // later epochs are refused as unknown.
            None => EpochKey {
                epoch: self.cur.epoch,
                key: None,
                window: ReplayWindow::new(),
            },
        };
    }
}

/// The chain key of epoch `to` from the chain key of epoch `from` (`to >= from`).
fn chain_at(chain: &[u8; 32], from: u32, to: u32) -> Result<Zeroizing<[u8; 32]>, E2eeError> {
    let mut c = Zeroizing::new(*chain);
    for _ in from..to {
        c = ratchet(&c)?;
    }
    Ok(c)
}

/// Opens a frame under `slot`'s key; a slot whose key was zeroized refuses it as retired.
fn open_slot(
    slot: &mut EpochKey,
    header: &super::SframeHeaderInfo,
    aad: &[u8],
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, OpenError> {
    let key = slot.key.as_ref().ok_or(RejectReason::RetiredKey)?;
    open_frame(
        key,
        &mut slot.window,
        header.len,
        header.counter,
        aad,
        data,
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_split_back() {
        for epoch in [0, 1, 7, u32::MAX] {
            for s in MediaStream::ALL {
                for role in 0..2 {
                    let id = call_key_id(epoch, s, role);
                    assert_eq!(split_call_key_id(id), Some((epoch, s.index(), role)));
                }
            }
        }
        assert_eq!(split_call_key_id(u64::MAX), None);
    }
}
