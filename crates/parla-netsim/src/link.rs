//! A bottleneck FIFO queue driven by a Mahimahi link trace.
//!
//! A Mahimahi trace has one line per delivery opportunity: the millisecond at which the link can
//! carry one 1500-byte packet (1504 bytes on the wire). The file repeats when it ends. The queue
//! here works like Mahimahi's link queue: at each opportunity up to [`MTU_BYTES`] leave the head
//! of the FIFO (a packet larger than what is left waits for the next opportunity, keeping the
//! bytes already sent), and a packet is delivered when its last byte has left. Arrivals find a
//! drop-tail queue of bounded length.
//!
//! The queue is clock-driven and sans-IO: [`Bottleneck::enqueue`] at a time, then
//! [`Bottleneck::advance`] to a time, which hands out deliveries.

use std::collections::VecDeque;

use crate::error::NetsimError;

/// Bytes one delivery opportunity carries.
pub const MTU_BYTES: u32 = 1504;

/// The most opportunities a link trace may hold.
pub const MAX_OPPORTUNITIES: usize = 20_000_000;

/// A parsed Mahimahi link trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTrace {
    /// Opportunity times in milliseconds, non-decreasing.
    opportunities: Vec<u64>,
    /// The period after which the trace repeats, milliseconds (the last timestamp, at least 1).
    period_ms: u64,
}

impl LinkTrace {
    /// Parse the text of a Mahimahi trace (one non-negative integer per line).
    ///
    /// # Errors
    /// [`NetsimError::Parse`] for a non-number or a timestamp going backwards,
    /// [`NetsimError::TooLong`] past [`MAX_OPPORTUNITIES`], [`NetsimError::Empty`] when empty.
    pub fn parse(text: &str) -> Result<Self, NetsimError> {
        let mut opportunities = Vec::new();
        let mut last = 0u64;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if opportunities.len() >= MAX_OPPORTUNITIES {
                return Err(NetsimError::TooLong {
                    limit: MAX_OPPORTUNITIES,
                });
            }
            let t: u64 = line.parse().map_err(|_| NetsimError::Parse {
                line: i + 1,
                detail: "not a millisecond timestamp",
            })?;
            if t < last {
                return Err(NetsimError::Parse {
                    line: i + 1,
                    detail: "timestamp goes backwards",
                });
            }
            last = t;
            opportunities.push(t);
        }
        if opportunities.is_empty() {
            return Err(NetsimError::Empty);
        }
        Ok(LinkTrace {
            opportunities,
            period_ms: last.max(1),
        })
    }

    /// A trace of piecewise-constant capacity: `(until_s, bits_per_second)` pieces in order,
    /// each from the previous piece's end (the first from 0) until `until_s` seconds, with one
    /// [`MTU_BYTES`] opportunity every `MTU_BYTES * 8 / bps` seconds.
    ///
    /// # Errors
    /// [`NetsimError::InvalidParameter`] for no pieces, a rate that is not positive and finite
    /// (or under 1 kbit/s), or ends that are not finite or go backwards;
    /// [`NetsimError::TooLong`] past [`MAX_OPPORTUNITIES`].
    pub fn piecewise(pieces: &[(f64, f64)]) -> Result<Self, NetsimError> {
        let bad = |detail| NetsimError::InvalidParameter {
            name: "pieces",
            detail,
        };
        if pieces.is_empty() {
            return Err(bad("no capacity pieces"));
        }
        let mut opportunities = Vec::new();
        let (mut t_ms, mut from) = (0.0f64, 0.0f64);
        for &(until, bps) in pieces {
            if !(bps.is_finite() && bps >= 1000.0) {
                return Err(bad("a rate must be at least 1000 bit/s and finite"));
            }
            if !until.is_finite() || until < from {
                return Err(bad("piece ends must be finite and in order"));
            }
            let gap_ms = f64::from(MTU_BYTES) * 8.0 * 1000.0 / bps;
            t_ms = t_ms.max(from * 1000.0);
            while t_ms < until * 1000.0 {
                if opportunities.len() >= MAX_OPPORTUNITIES {
                    return Err(NetsimError::TooLong {
                        limit: MAX_OPPORTUNITIES,
                    });
                }
                opportunities.push(t_ms.floor() as u64);
                t_ms += gap_ms;
            }
            from = until;
        }
        let last = *opportunities
            .last()
            .ok_or(bad("the pieces hold no opportunity"))?;
        Ok(LinkTrace {
            opportunities,
            period_ms: last.max(1),
        })
    }

    /// The period after which the trace repeats, in milliseconds.
    pub fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// Mean capacity in packets (of [`MTU_BYTES`]) per millisecond.
    pub fn mean_packets_per_ms(&self) -> f64 {
        self.opportunities.len() as f64 / self.period_ms as f64
    }

    /// The opportunity times, in milliseconds, of one period.
    pub fn opportunities(&self) -> &[u64] {
        &self.opportunities
    }
}

/// A packet delivered by the bottleneck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The caller's tag given at [`Bottleneck::enqueue`].
    pub tag: u64,
    /// Delivery time (the opportunity at which its last byte left), microseconds.
    pub at_us: u64,
}

#[derive(Debug, Clone, Copy)]
struct Queued {
    tag: u64,
    bytes_left: u32,
}

/// The FIFO bottleneck queue.
#[derive(Debug, Clone)]
pub struct Bottleneck {
    trace: LinkTrace,
    queue: VecDeque<Queued>,
    limit_packets: usize,
    /// Index of the next opportunity within the period, and how many periods have passed.
    next_index: usize,
    periods: u64,
    offset_ms: u64,
    dropped: u64,
}

impl Bottleneck {
    /// A queue over `trace` holding at most `limit_packets` packets (drop-tail).
    ///
    /// # Errors
    /// [`NetsimError::InvalidParameter`] for a zero limit.
    pub fn new(trace: LinkTrace, limit_packets: usize) -> Result<Self, NetsimError> {
        Self::starting_at(trace, limit_packets, 0)
    }

    /// Like [`Bottleneck::new`], but time 0 of the queue is millisecond `start_ms` of the trace
    /// (modulo its period).
    ///
    /// # Errors
    /// [`NetsimError::InvalidParameter`] for a zero limit.
    pub fn starting_at(
        trace: LinkTrace,
        limit_packets: usize,
        start_ms: u64,
    ) -> Result<Self, NetsimError> {
        if limit_packets == 0 {
            return Err(NetsimError::InvalidParameter {
                name: "limit_packets",
                detail: "must be at least 1",
            });
        }
        let offset_ms = start_ms % trace.period_ms;
        let next_index = trace.opportunities.partition_point(|&t| t < offset_ms);
        let mut b = Bottleneck {
            trace,
            queue: VecDeque::with_capacity(limit_packets.min(65_536)),
            limit_packets,
            next_index,
            periods: 0,
            offset_ms,
            dropped: 0,
        };
        if b.next_index == b.trace.opportunities.len() {
            b.next_index = 0;
            b.periods = 1;
        }
        Ok(b)
    }

    fn next_opportunity_us(&self) -> u64 {
        let ms = self.periods * self.trace.period_ms + self.trace.opportunities[self.next_index];
        ms.saturating_sub(self.offset_ms) * 1000
    }

    /// Serve every opportunity up to and including `now_us`, calling `deliver` for each packet
    /// whose last byte left.
    pub fn advance(&mut self, now_us: u64, mut deliver: impl FnMut(Delivery)) {
        loop {
            let at_us = self.next_opportunity_us();
            if at_us > now_us {
                return;
            }
            let mut budget = MTU_BYTES;
            while budget > 0 {
                let Some(head) = self.queue.front_mut() else {
                    break;
                };
                if head.bytes_left <= budget {
                    budget -= head.bytes_left;
                    let tag = head.tag;
                    self.queue.pop_front();
                    deliver(Delivery { tag, at_us });
                } else {
                    head.bytes_left -= budget;
                    budget = 0;
                }
            }
            self.next_index += 1;
            if self.next_index == self.trace.opportunities.len() {
                self.next_index = 0;
                self.periods += 1;
            }
        }
    }

    /// Offer a packet of `bytes` at the current time (after [`Bottleneck::advance`] to it).
    /// Returns false when the queue is full and the packet was dropped.
    pub fn enqueue(&mut self, tag: u64, bytes: u32) -> bool {
        if self.queue.len() >= self.limit_packets {
            self.dropped += 1;
            return false;
        }
        self.queue.push_back(Queued {
            tag,
            bytes_left: bytes.max(1),
        });
        true
    }

    /// Packets dropped at the tail so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Packets waiting now.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piecewise_trace_carries_each_piece_s_rate() {
        // 1.2 Mbit/s for 2 s, then 300 kbit/s until 4 s: 100 then 25 opportunities a second.
        let t = LinkTrace::piecewise(&[(2.0, 1_203_200.0), (4.0, 300_800.0)]).expect("valid");
        let first = t.opportunities().iter().filter(|&&o| o < 2000).count();
        let second = t.opportunities().len() - first;
        assert_eq!((first, second), (200, 50));
        assert!(LinkTrace::piecewise(&[]).is_err());
        assert!(LinkTrace::piecewise(&[(1.0, 0.0)]).is_err());
        assert!(LinkTrace::piecewise(&[(2.0, 1e6), (1.0, 1e6)]).is_err());
        assert!(LinkTrace::piecewise(&[(f64::NAN, 1e6)]).is_err());
    }

    #[test]
    fn parses_and_rejects() {
        let t = LinkTrace::parse("1\n1\n5\n").expect("valid");
        assert_eq!(t.period_ms(), 5);
        assert_eq!(t.opportunities().len(), 3);
        assert!(LinkTrace::parse("3\n2\n").is_err());
        assert!(LinkTrace::parse("a\n").is_err());
        assert!(LinkTrace::parse("\n").is_err());
    }

    #[test]
    fn fifo_and_partial_delivery() {
        // One opportunity every 10 ms.
        let t = LinkTrace::parse("10\n20\n30\n40\n").expect("valid");
        let mut b = Bottleneck::new(t, 10).expect("valid");
        assert!(b.enqueue(1, 1500));
        assert!(b.enqueue(2, 100));
        assert!(b.enqueue(3, 3000));
        let mut got = Vec::new();
        b.advance(1_000_000, |d| got.push(d));
        assert_eq!(
            got,
            vec![
                Delivery {
                    tag: 1,
                    at_us: 10_000
                },
                Delivery {
                    tag: 2,
                    at_us: 20_000
                },
                Delivery {
                    tag: 3,
                    at_us: 40_000
                },
            ]
        );
    }

    #[test]
    fn drop_tail() {
        let t = LinkTrace::parse("1000\n").expect("valid");
        let mut b = Bottleneck::new(t, 2).expect("valid");
        assert!(b.enqueue(1, 100));
        assert!(b.enqueue(2, 100));
        assert!(!b.enqueue(3, 100));
        assert_eq!(b.dropped(), 1);
    }
}
