//! Unwrapping of RTP sequence numbers (16 bits) and timestamps (32 bits) into `i64`.

/// Unwraps a wrapping counter of `BITS` bits into a monotonic-ish `i64`: each new value is placed
/// at the nearest distance from the previous one (RFC 3550 appendix A.1 in spirit).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unwrapper<const BITS: u32> {
    last: Option<i64>,
}

impl<const BITS: u32> Unwrapper<BITS> {
    /// A fresh unwrapper: the first value maps to itself.
    pub const fn new() -> Self {
        Unwrapper { last: None }
    }

    /// Forget the history.
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// Unwrap `raw` (only its low `BITS` bits are used).
    pub fn unwrap(&mut self, raw: u64) -> i64 {
        let modulus = 1i64 << BITS;
        let raw = (raw & (modulus as u64 - 1)) as i64;
        let v = match self.last {
            None => raw,
            Some(last) => {
                let mut d = (raw - last).rem_euclid(modulus);
                if d >= modulus / 2 {
                    d -= modulus;
                }
                last + d
            }
        };
        // Keep the newest position as the reference only when it moves forward, so one old
        // reordered value does not drag the reference back.
        if self.last.is_none_or(|l| v > l) {
            self.last = Some(v);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_both_ways() {
        let mut u = Unwrapper::<16>::new();
        assert_eq!(u.unwrap(65_534), 65_534);
        assert_eq!(u.unwrap(65_535), 65_535);
        assert_eq!(u.unwrap(0), 65_536);
        assert_eq!(u.unwrap(65_535), 65_535);
        assert_eq!(u.unwrap(2), 65_538);
        let mut t = Unwrapper::<32>::new();
        assert_eq!(t.unwrap(u32::MAX as u64 - 479), u32::MAX as i64 - 479);
        assert_eq!(t.unwrap(480), (1i64 << 32) + 480);
    }
}
