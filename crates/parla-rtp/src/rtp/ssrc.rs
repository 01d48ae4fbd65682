//! Per-source state keyed by SSRC, with a fixed capacity: SSRCs come from the network, so a flood
//! of spoofed sources must not grow memory.

use std::time::Duration;

use parla_core::MediaTime;

/// Why a source could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("SSRC table full ({capacity} sources, none idle)")]
pub struct SsrcTableFull {
    /// The table's capacity.
    pub capacity: usize,
}

/// Per-SSRC state (`T`, e.g. [`crate::rtcp::ReceiveStats`]) for at most `capacity` sources.
/// A new source replaces the one idle longest once that one has been silent for `idle_timeout`
/// (RFC 3550 6.3.5 times out members after five report intervals).
#[derive(Debug, Clone)]
pub struct SsrcTable<T> {
    entries: Vec<(u32, MediaTime, T)>,
    capacity: usize,
    idle_timeout: Duration,
}

impl<T> SsrcTable<T> {
    /// An empty table, its memory allocated now.
    pub fn new(capacity: usize, idle_timeout: Duration) -> Self {
        SsrcTable {
            entries: Vec::with_capacity(capacity),
            capacity,
            idle_timeout,
        }
    }

    /// The state of `ssrc` seen at `now`, created with `make` if it is new.
    ///
    /// # Real-time safety
    /// No allocation (the table never grows past its preallocated capacity); replacing an idle
    /// source drops its state, which must not own heap memory for this to hold.
    ///
    /// # Errors
    /// [`SsrcTableFull`] if the table is full and no source is idle.
    pub fn get_or_insert_with(
        &mut self,
        ssrc: u32,
        now: MediaTime,
        make: impl FnOnce() -> T,
    ) -> Result<&mut T, SsrcTableFull> {
        // RT: linear scan of a small preallocated table.
        if let Some(i) = self.entries.iter().position(|e| e.0 == ssrc) {
            self.entries[i].1 = now;
            return Ok(&mut self.entries[i].2);
        }
        if self.entries.len() < self.capacity {
            self.entries.push((ssrc, now, make()));
            let last = self.entries.len() - 1;
            return Ok(&mut self.entries[last].2);
        }
        let idle = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.1)
            .filter(|(_, e)| now.saturating_since(e.1) >= self.idle_timeout)
            .map(|(i, _)| i);
        match idle {
            Some(i) => {
                self.entries[i] = (ssrc, now, make());
                Ok(&mut self.entries[i].2)
            }
            None => Err(SsrcTableFull {
                capacity: self.capacity,
            }),
        }
    }

    /// The state of `ssrc`, if known.
    pub fn get(&self, ssrc: u32) -> Option<&T> {
        self.entries.iter().find(|e| e.0 == ssrc).map(|e| &e.2)
    }

    /// Forgets `ssrc` (an RTCP BYE); returns its state.
    pub fn remove(&mut self, ssrc: u32) -> Option<T> {
        let i = self.entries.iter().position(|e| e.0 == ssrc)?;
        Some(self.entries.swap_remove(i).2)
    }

    /// The sources and their state.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut T)> {
        self.entries.iter_mut().map(|e| (e.0, &mut e.2))
    }

    /// Number of sources held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no source is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_with_idle_eviction() {
        let mut t = SsrcTable::new(2, Duration::from_secs(5));
        let s = MediaTime::from_millis;
        *t.get_or_insert_with(1, s(0), || 10).unwrap() += 1;
        t.get_or_insert_with(2, s(1000), || 20).unwrap();
        assert_eq!(t.get(1), Some(&11));
        // Full, nobody idle: refused.
        assert_eq!(
            t.get_or_insert_with(3, s(2000), || 30),
            Err(SsrcTableFull { capacity: 2 })
        );
        // Source 1 idle for 5 s: replaced.
        assert_eq!(t.get_or_insert_with(3, s(5000), || 30), Ok(&mut 30));
        assert_eq!(t.get(1), None);
        assert_eq!(t.remove(2), Some(20));
        assert_eq!(t.len(), 1);
        assert_eq!(t.iter_mut().map(|(s, _)| s).collect::<Vec<_>>(), vec![3]);
    }
}
