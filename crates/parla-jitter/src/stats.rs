//! NetEq-like statistics of the jitter buffer.

/// Counters and levels, read on the control side with
/// [`JitterBuffer::stats`](crate::JitterBuffer::stats). Rates are fractions of the output
/// samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Audio waiting now: decoded samples not yet played plus the packets in the buffer, ms.
    pub current_delay_ms: f64,
    /// The target buffer level: target playout offset above the fastest recent packet, ms.
    pub target_delay_ms: f64,
    /// The playout offset now, above the fastest recent packet, ms.
    pub playout_delay_ms: f64,
    /// Packets accepted into the buffer.
    pub packets_inserted: u64,
    /// Packets decoded and played.
    pub packets_decoded: u64,
    /// Missing packets recovered from the next packet's FEC data.
    pub fec_recovered: u64,
    /// Packets declared lost (never arrived in time, concealed or skipped).
    pub packets_lost: u64,
    /// Packets that arrived after their playout slot and were dropped.
    pub late_packets: u64,
    /// Duplicate copies dropped.
    pub duplicate_packets: u64,
    /// Packets that arrived after a packet with a higher sequence number.
    pub reordered_packets: u64,
    /// Packets that arrived in time but were discarded by the backlog bound (too far behind
    /// the target after a stall; [`crate::JitterConfig::max_backlog_ms`]). Late loss is
    /// `late_packets + flushed_packets`.
    pub flushed_packets: u64,
    /// Packets dropped because every slot was taken (the oldest goes).
    pub overflow_discards: u64,
    /// Payloads refused (too large or malformed).
    pub rejected_packets: u64,
    /// Sequence or timestamp discontinuities the buffer re-based over.
    pub timestamp_jumps: u64,
    /// Decoder errors (the packet was concealed instead).
    pub decode_errors: u64,
    /// Samples handed out by `pull` while playing.
    pub output_samples: u64,
    /// Samples of concealment (expand) played.
    pub concealed_samples: u64,
    /// Concealment events (a run of expand pulls counts once).
    pub concealment_events: u64,
    /// Concealment runs of 150 ms or more.
    pub interruptions: u64,
    /// Samples of comfort noise played during DTX.
    pub comfort_noise_samples: u64,
    /// Samples removed by accelerate and fast accelerate.
    pub accelerated_samples: u64,
    /// Samples added by preemptive expand.
    pub preemptive_samples: u64,
    /// Pulls that accelerated.
    pub accelerate_events: u64,
    /// Pulls that preemptively expanded.
    pub preemptive_events: u64,
    /// Mean time a packet waited in the buffer before decoding, ms.
    pub mean_waiting_ms: f64,
    /// 95th percentile of that waiting time, ms (1 ms resolution).
    pub p95_waiting_ms: f64,
}

impl JitterStats {
    fn rate(n: u64, d: u64) -> f64 {
        if d == 0 { 0.0 } else { n as f64 / d as f64 }
    }

    /// Concealed samples over output samples.
    pub fn expand_rate(&self) -> f64 {
        Self::rate(self.concealed_samples, self.output_samples)
    }

    /// Removed samples over output samples.
    pub fn accelerate_rate(&self) -> f64 {
        Self::rate(self.accelerated_samples, self.output_samples)
    }

    /// Preemptively added samples over output samples.
    pub fn preemptive_rate(&self) -> f64 {
        Self::rate(self.preemptive_samples, self.output_samples)
    }
}

/// Waiting-time histogram: 1 ms buckets up to 4 s.
#[derive(Debug, Clone)]
pub(crate) struct WaitingTimes {
    buckets: Vec<u32>,
    count: u64,
    sum_us: u64,
}

impl WaitingTimes {
    pub(crate) fn new() -> Self {
        WaitingTimes {
            buckets: vec![0; 4000],
            count: 0,
            sum_us: 0,
        }
    }

    pub(crate) fn record(&mut self, us: u64) {
        let b = ((us / 1000) as usize).min(self.buckets.len() - 1);
        self.buckets[b] = self.buckets[b].saturating_add(1);
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }

    pub(crate) fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.count as f64 / 1000.0
        }
    }

    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        let want = (q * self.count as f64).ceil() as u64;
        let mut acc = 0u64;
        for (i, &c) in self.buckets.iter().enumerate() {
            acc += u64::from(c);
            if acc >= want.max(1) {
                return (i + 1) as f64;
            }
        }
        0.0
    }
}
