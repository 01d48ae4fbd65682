//! Per-packet traces: one row per received copy of a packet, or one row with no arrival for a
//! lost packet.
//!
//! CSV with the header `seq,send_ts_us,arrival_ts_us`; send times are on the sender's clock,
//! 20 ms apart from 0 for a voice stream, arrival times on the receiver's clock, so
//! `arrival - send` is the one-way delay (plus any clock offset and drift).

use std::fmt::Write as _;

use crate::error::NetsimError;

/// The most rows [`parse_csv`] accepts (one hour of 20 ms packets, each duplicated, with room).
pub const MAX_ROWS: usize = 1_000_000;

/// The CSV header line.
pub const HEADER: &str = "seq,send_ts_us,arrival_ts_us";

/// One row of a per-packet trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRecord {
    /// Sender sequence number (not wrapped: the trace counts from 0).
    pub seq: u64,
    /// Send time on the sender's clock, microseconds.
    pub send_us: u64,
    /// Arrival time on the receiver's clock, microseconds; `None` if this packet was lost.
    pub arrival_us: Option<u64>,
}

impl PacketRecord {
    /// One-way delay in microseconds (`arrival - send`), `None` for a lost packet. Negative values
    /// are possible when the receiver's clock is behind.
    pub fn delay_us(&self) -> Option<i64> {
        self.arrival_us.map(|a| a as i64 - self.send_us as i64)
    }
}

/// Parse a per-packet trace. Rows may come in any order; blank lines are skipped.
///
/// # Errors
/// [`NetsimError::Parse`] for a malformed line or a missing header, [`NetsimError::TooLong`] past
/// [`MAX_ROWS`] rows, [`NetsimError::Empty`] when there is no row.
pub fn parse_csv(text: &str) -> Result<Vec<PacketRecord>, NetsimError> {
    let mut lines = text.lines().enumerate();
    let header_ok = lines
        .next()
        .map(|(_, l)| l.trim() == HEADER)
        .unwrap_or(false);
    if !header_ok {
        return Err(NetsimError::Parse {
            line: 1,
            detail: "expected the header seq,send_ts_us,arrival_ts_us",
        });
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if out.len() >= MAX_ROWS {
            return Err(NetsimError::TooLong { limit: MAX_ROWS });
        }
        let mut f = line.split(',');
        let bad = |detail| NetsimError::Parse {
            line: i + 1,
            detail,
        };
        let seq = f
            .next()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or(bad("bad seq"))?;
        let send_us = f
            .next()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or(bad("bad send_ts_us"))?;
        let arrival = f.next().ok_or(bad("missing arrival_ts_us column"))?.trim();
        let arrival_us = if arrival.is_empty() {
            None
        } else {
            Some(
                arrival
                    .parse::<u64>()
                    .map_err(|_| bad("bad arrival_ts_us"))?,
            )
        };
        if f.next().is_some() {
            return Err(bad("too many columns"));
        }
        out.push(PacketRecord {
            seq,
            send_us,
            arrival_us,
        });
    }
    if out.is_empty() {
        return Err(NetsimError::Empty);
    }
    Ok(out)
}

/// Write a per-packet trace as CSV (header included), rows in the given order.
pub fn to_csv(records: &[PacketRecord]) -> String {
    let mut s = String::with_capacity(32 * (records.len() + 1));
    s.push_str(HEADER);
    s.push('\n');
    for r in records {
        // Writing to a String cannot fail.
        let _ = match r.arrival_us {
            Some(a) => writeln!(s, "{},{},{}", r.seq, r.send_us, a),
            None => writeln!(s, "{},{},", r.seq, r.send_us),
        };
    }
    s
}

/// The received copies of a trace sorted by arrival time (ties by sequence number): the order in
/// which a receiver sees them.
pub fn arrivals_in_order(records: &[PacketRecord]) -> Vec<PacketRecord> {
    let mut v: Vec<PacketRecord> = records
        .iter()
        .filter(|r| r.arrival_us.is_some())
        .copied()
        .collect();
    v.sort_by_key(|r| (r.arrival_us, r.seq));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let rows = vec![
            PacketRecord {
                seq: 0,
                send_us: 0,
                arrival_us: Some(40_000),
            },
            PacketRecord {
                seq: 1,
                send_us: 20_000,
                arrival_us: None,
            },
        ];
        let text = to_csv(&rows);
        assert_eq!(parse_csv(&text), Ok(rows));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_csv("").is_err());
        assert!(parse_csv("seq,send_ts_us,arrival_ts_us\n1,x,3\n").is_err());
        assert!(parse_csv("seq,send_ts_us,arrival_ts_us\n1,2,3,4\n").is_err());
        assert_eq!(
            parse_csv("seq,send_ts_us,arrival_ts_us\n"),
            Err(NetsimError::Empty)
        );
    }
}
