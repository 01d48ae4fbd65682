//! A sliding replay window over SFrame counters (RFC 9605 section 9.3 leaves the window to the
//! application; RFC 3711's SRTP window is the model).

/// Counters this far below the highest one seen are still accepted (once each).
pub const REPLAY_WINDOW: u64 = 128;

/// Remembers which of the last [`REPLAY_WINDOW`] counters were seen. Check before decrypting,
/// record only after the frame authenticated, so forged frames cannot move the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    highest: Option<u64>,
    /// Bit `i` set: counter `highest - i` was seen.
    seen: u128,
}

impl ReplayWindow {
    /// An empty window.
    pub const fn new() -> Self {
        ReplayWindow {
            highest: None,
            seen: 0,
        }
    }

    /// Whether `counter` is fresh: newer than everything seen, or inside the window and unseen.
    pub fn is_fresh(&self, counter: u64) -> bool {
        let Some(h) = self.highest else {
            return true;
        };
        if counter > h {
            return true;
        }
        let age = h - counter;
        age < REPLAY_WINDOW && self.seen & (1u128 << age) == 0
    }

    /// Records an authenticated `counter`.
    pub fn record(&mut self, counter: u64) {
        match self.highest {
            None => {
                self.highest = Some(counter);
                self.seen = 1;
            }
            Some(h) if counter > h => {
                let shift = counter - h;
                self.seen = if shift >= REPLAY_WINDOW {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.highest = Some(counter);
            }
            Some(h) => {
                let age = h - counter;
                if age < REPLAY_WINDOW {
                    self.seen |= 1u128 << age;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_semantics() {
        let mut w = ReplayWindow::new();
        assert!(w.is_fresh(5));
        w.record(5);
        assert!(!w.is_fresh(5));
        assert!(w.is_fresh(3));
        w.record(3);
        assert!(!w.is_fresh(3));
        w.record(200);
        assert!(!w.is_fresh(5), "older than the window");
        assert!(w.is_fresh(200 - 127));
        assert!(!w.is_fresh(200 - 128));
        assert!(!w.is_fresh(200));
        assert!(w.is_fresh(201));
    }
}
