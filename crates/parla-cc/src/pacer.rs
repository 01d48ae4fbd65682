//! The pacer: spreads packets over time at a multiple of the target rate (a leaky bucket with
//! a bounded burst), sends audio first, runs probe clusters (media packets, or padding when
//! there is no media) and sends padding when asked.
//!
//! The pacer holds packet handles (`id`, size, kind), not bytes: the engine keeps the bytes and
//! sends the packet whose id comes out of [`Pacer::poll`]. Queues are allocated once; when one is
//! full the oldest packet is dropped and counted (STYLE.md R6).
//!
//! # Drive loop (sans-IO)
//! Enqueue packets and set rates at any time, then call [`Pacer::poll`] with the current time
//! until it returns [`PacerOutput::Wait`] or [`PacerOutput::Idle`]; call again at the deadline or
//! when something new is enqueued.

use std::collections::VecDeque;

use crate::error::ConfigError;
use crate::probe::ProbeCluster;

/// What a packet carries; decides its priority (audio first, then retransmissions, then video).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// Audio: sent at once, ahead of everything.
    Audio,
    /// A retransmission: ahead of new video.
    Retransmission,
    /// Video or other bulk media.
    Video,
}

/// A packet handle waiting in the pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacedPacket {
    /// The engine's handle of the packet.
    pub id: u64,
    /// Bytes on the wire.
    pub size: u32,
    /// What it carries.
    pub kind: PacketKind,
}

/// What the pacer wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacerOutput {
    /// Send this packet now (stamp its transport sequence number first).
    Send {
        /// The packet.
        packet: PacedPacket,
        /// The probe cluster it belongs to, if it is part of a probe.
        cluster: Option<u16>,
    },
    /// Send a padding packet of this many bytes now (for a probe, or padding rate).
    Padding {
        /// Bytes on the wire.
        bytes: u32,
        /// The probe cluster it belongs to, if any.
        cluster: Option<u16>,
    },
    /// Nothing to send before this time (microseconds); call again then, or on enqueue.
    Wait(i64),
    /// Nothing queued and no padding asked: call again on enqueue.
    Idle,
}

/// Pacer settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacerConfig {
    /// The pacing rate as a multiple of the target rate (libwebrtc uses 2.5).
    pub pacing_factor: f64,
    /// The longest burst after an idle period, microseconds of the pacing rate.
    pub burst_us: i64,
    /// If the queue would take longer than this to drain, the pacer speeds up to drain it in
    /// this time, microseconds.
    pub max_queue_time_us: i64,
    /// Packets each queue holds (audio, and the rest).
    pub queue_capacity: usize,
    /// Size of a padding packet, bytes.
    pub padding_size: u32,
}

impl Default for PacerConfig {
    fn default() -> Self {
        PacerConfig {
            pacing_factor: 2.5,
            burst_us: 5_000,
            max_queue_time_us: 2_000_000,
            queue_capacity: 1024,
            padding_size: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ActiveProbe {
    cluster: ProbeCluster,
    sent_bytes: u64,
    sent_packets: u32,
    budget: f64,
    last_us: i64,
}

/// Counters of a pacer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacerStats {
    /// Packets dropped because a queue was full (the oldest goes).
    pub dropped: u64,
    /// Packets sent.
    pub sent: u64,
    /// Padding bytes asked for.
    pub padding_bytes: u64,
    /// Probe clusters completed.
    pub probes_done: u64,
}

/// The pacer.
#[derive(Debug, Clone)]
pub struct Pacer {
    cfg: PacerConfig,
    audio: VecDeque<PacedPacket>,
    media: VecDeque<PacedPacket>,
    media_bytes: u64,
    target_bps: f64,
    padding_bps: f64,
    budget: f64,
    padding_budget: f64,
    last_us: Option<i64>,
    probe: Option<ActiveProbe>,
    probes: [Option<ProbeCluster>; 4],
    stats: PacerStats,
}

impl Pacer {
    /// A pacer for a target rate of `target_bps`.
    ///
    /// # Errors
    /// [`ConfigError`] for a non-positive factor, burst or queue capacity.
    pub fn new(cfg: PacerConfig, target_bps: u64) -> Result<Self, ConfigError> {
        if !(cfg.pacing_factor.is_finite() && cfg.pacing_factor >= 1.0) {
            return Err(ConfigError::Invalid {
                name: "pacing_factor",
                detail: "must be finite and at least 1",
            });
        }
        if cfg.burst_us <= 0 || cfg.queue_capacity == 0 || cfg.max_queue_time_us <= 0 {
            return Err(ConfigError::Invalid {
                name: "burst_us, max_queue_time_us, queue_capacity",
                detail: "must be positive",
            });
        }
        if !(100..=1500).contains(&cfg.padding_size) {
            return Err(ConfigError::Invalid {
                name: "padding_size",
                detail: "must be 100..=1500 bytes",
            });
        }
        Ok(Pacer {
            cfg,
            audio: VecDeque::with_capacity(cfg.queue_capacity),
            media: VecDeque::with_capacity(cfg.queue_capacity),
            media_bytes: 0,
            target_bps: target_bps as f64,
            padding_bps: 0.0,
            budget: 0.0,
            padding_budget: 0.0,
            last_us: None,
            probe: None,
            probes: [None; 4],
            stats: PacerStats::default(),
        })
    }

    /// Sets the target rate (the pacing rate is this times the pacing factor) and the padding
    /// rate (0 for none), bits per second.
    pub fn set_rates(&mut self, target_bps: u64, padding_bps: u64) {
        self.target_bps = target_bps as f64;
        self.padding_bps = padding_bps as f64;
    }

    /// Queues a probe cluster; it runs when the previous one is done.
    pub fn add_probe(&mut self, cluster: ProbeCluster) {
        if let Some(s) = self.probes.iter_mut().find(|s| s.is_none()) {
            *s = Some(cluster);
        }
    }

    /// Whether a probe is running or queued.
    pub fn probing(&self) -> bool {
        self.probe.is_some() || self.probes.iter().any(Option::is_some)
    }

    /// Queues a packet. When its queue is full, the oldest packet is dropped and counted.
    ///
    /// # Real-time safety
    /// Constant time, no allocation (the queues never grow past their capacity).
    pub fn enqueue(&mut self, packet: PacedPacket) {
        // RT: no allocation.
        let cap = self.cfg.queue_capacity;
        let q = if packet.kind == PacketKind::Audio {
            &mut self.audio
        } else {
            &mut self.media
        };
        if q.len() >= cap
            && let Some(old) = q.pop_front()
        {
            self.stats.dropped += 1;
            if old.kind != PacketKind::Audio {
                self.media_bytes -= u64::from(old.size);
            }
        }
        if packet.kind == PacketKind::Audio {
            self.audio.push_back(packet);
        } else {
            // Retransmissions go ahead of queued video.
            if packet.kind == PacketKind::Retransmission {
                let pos = self
                    .media
                    .iter()
                    .position(|p| p.kind == PacketKind::Video)
                    .unwrap_or(self.media.len());
                self.media.insert(pos, packet);
            } else {
                self.media.push_back(packet);
            }
            self.media_bytes += u64::from(packet.size);
        }
    }

    /// Packets waiting (audio and media).
    pub fn queued(&self) -> usize {
        self.audio.len() + self.media.len()
    }

    /// Bytes of media (non-audio) waiting.
    pub fn queued_media_bytes(&self) -> u64 {
        self.media_bytes
    }

    /// How long the media queue takes to drain at the pacing rate, microseconds.
    pub fn expected_queue_us(&self) -> i64 {
        let r = self.pacing_bps();
        if r <= 0.0 {
            return 0;
        }
        (self.media_bytes as f64 * 8e6 / r) as i64
    }

    /// Counters.
    pub fn stats(&self) -> PacerStats {
        self.stats
    }

    fn pacing_bps(&self) -> f64 {
        self.target_bps * self.cfg.pacing_factor
    }

    fn effective_bps(&self) -> f64 {
        let drain = self.media_bytes as f64 * 8e6 / self.cfg.max_queue_time_us as f64;
        self.pacing_bps().max(drain).max(1.0)
    }

    /// What to do at `now_us`. Call repeatedly until [`PacerOutput::Wait`] or
    /// [`PacerOutput::Idle`].
    ///
    /// # Real-time safety
    /// Constant time, no allocation.
    pub fn poll(&mut self, now_us: i64) -> PacerOutput {
        // RT: constant time, no allocation.
        let rate = self.effective_bps();
        let last = *self.last_us.get_or_insert(now_us);
        let dt = (now_us - last).max(0) as f64;
        self.last_us = Some(now_us.max(last));
        let burst = (rate * self.cfg.burst_us as f64 / 8e6).max(1500.0);
        self.budget = (self.budget + rate * dt / 8e6).min(burst);
        let pad_burst = (self.padding_bps * self.cfg.burst_us as f64 / 8e6).max(1500.0);
        self.padding_budget = (self.padding_budget + self.padding_bps * dt / 8e6).min(pad_burst);

        if let Some(p) = self.audio.pop_front() {
            self.budget -= f64::from(p.size);
            self.stats.sent += 1;
            return PacerOutput::Send {
                packet: p,
                cluster: None,
            };
        }
        if self.probe.is_none()
            && let Some(i) = self.probes.iter().position(Option::is_some)
        {
            let c = self.probes[i].take();
            self.probes[i..].rotate_left(1);
            self.probe = c.map(|cluster| ActiveProbe {
                cluster,
                sent_bytes: 0,
                sent_packets: 0,
                budget: 0.0,
                last_us: now_us,
            });
        }
        if let Some(mut pr) = self.probe {
            let prate = (pr.cluster.bps as f64).max(1.0);
            pr.budget = (pr.budget + prate * (now_us - pr.last_us).max(0) as f64 / 8e6).min(1500.0);
            pr.last_us = now_us;
            if pr.budget < 0.0 {
                self.probe = Some(pr);
                return PacerOutput::Wait(now_us + (-pr.budget * 8e6 / prate).ceil() as i64);
            }
            let out = if let Some(p) = self.media.pop_front() {
                self.media_bytes -= u64::from(p.size);
                self.stats.sent += 1;
                pr.budget -= f64::from(p.size);
                pr.sent_bytes += u64::from(p.size);
                PacerOutput::Send {
                    packet: p,
                    cluster: Some(pr.cluster.id),
                }
            } else {
                let left = u64::from(pr.cluster.min_bytes).saturating_sub(pr.sent_bytes);
                let bytes = (left as u32).clamp(200, self.cfg.padding_size);
                pr.budget -= f64::from(bytes);
                pr.sent_bytes += u64::from(bytes);
                self.stats.padding_bytes += u64::from(bytes);
                PacerOutput::Padding {
                    bytes,
                    cluster: Some(pr.cluster.id),
                }
            };
            pr.sent_packets += 1;
            if pr.sent_packets >= pr.cluster.min_packets
                && pr.sent_bytes >= u64::from(pr.cluster.min_bytes)
            {
                self.probe = None;
                self.stats.probes_done += 1;
            } else {
                self.probe = Some(pr);
            }
            return out;
        }
        if !self.media.is_empty() {
            if self.budget >= 0.0
                && let Some(p) = self.media.pop_front()
            {
                self.media_bytes -= u64::from(p.size);
                self.budget -= f64::from(p.size);
                self.stats.sent += 1;
                return PacerOutput::Send {
                    packet: p,
                    cluster: None,
                };
            }
            return PacerOutput::Wait(
                now_us + ((-self.budget).max(1.0) * 8e6 / rate).ceil() as i64,
            );
        }
        if self.padding_bps > 0.0 {
            if self.padding_budget >= 0.0 {
                let bytes = self.cfg.padding_size;
                self.padding_budget -= f64::from(bytes);
                self.stats.padding_bytes += u64::from(bytes);
                return PacerOutput::Padding {
                    bytes,
                    cluster: None,
                };
            }
            return PacerOutput::Wait(
                now_us + ((-self.padding_budget).max(1.0) * 8e6 / self.padding_bps).ceil() as i64,
            );
        }
        PacerOutput::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(p: &mut Pacer, from: i64, to: i64) -> Vec<(i64, PacerOutput)> {
        let mut out = vec![];
        let mut now = from;
        while now <= to {
            match p.poll(now) {
                PacerOutput::Wait(t) => now = t.max(now + 1),
                PacerOutput::Idle => break,
                o => out.push((now, o)),
            }
        }
        out
    }

    #[test]
    fn paces_at_factor_times_target_and_audio_first() {
        // Target 400 kbit/s, factor 2.5: 1 Mbit/s = 125 bytes/ms.
        let mut p = Pacer::new(PacerConfig::default(), 400_000).unwrap();
        for i in 0..100 {
            p.enqueue(PacedPacket {
                id: i,
                size: 1250,
                kind: PacketKind::Video,
            });
        }
        p.enqueue(PacedPacket {
            id: 1000,
            size: 100,
            kind: PacketKind::Audio,
        });
        let sent = drain(&mut p, 0, 2_000_000);
        assert!(matches!(sent[0].1, PacerOutput::Send { packet, .. } if packet.id == 1000));
        assert_eq!(sent.len(), 101);
        let last = sent.last().unwrap().0;
        // 100 x 1250 bytes at 125 bytes/ms: about 1 s (minus the initial burst).
        assert!((950_000..=1_010_000).contains(&last), "{last}");
    }

    #[test]
    fn probe_sends_padding_at_probe_rate() {
        let mut p = Pacer::new(PacerConfig::default(), 100_000).unwrap();
        p.add_probe(ProbeCluster {
            id: 7,
            bps: 2_000_000,
            min_packets: 5,
            min_bytes: 3750,
        });
        let sent = drain(&mut p, 0, 1_000_000);
        assert!(sent.len() >= 5);
        assert!(sent.iter().all(|(_, o)| matches!(
            o,
            PacerOutput::Padding {
                cluster: Some(7),
                ..
            }
        )));
        let bytes: u32 = sent
            .iter()
            .map(|(_, o)| match o {
                PacerOutput::Padding { bytes, .. } => *bytes,
                _ => 0,
            })
            .sum();
        assert!(bytes >= 3750);
        assert!(!p.probing());
        assert_eq!(p.stats().probes_done, 1);
    }

    #[test]
    fn full_queue_drops_oldest() {
        let cfg = PacerConfig {
            queue_capacity: 2,
            ..Default::default()
        };
        let mut p = Pacer::new(cfg, 100_000).unwrap();
        for id in 0..3 {
            p.enqueue(PacedPacket {
                id,
                size: 100,
                kind: PacketKind::Video,
            });
        }
        assert_eq!(p.stats().dropped, 1);
        assert_eq!(p.queued_media_bytes(), 200);
        assert!(matches!(p.poll(0), PacerOutput::Send { packet, .. } if packet.id == 1));
        assert!(
            Pacer::new(
                PacerConfig {
                    pacing_factor: 0.5,
                    ..cfg
                },
                1
            )
            .is_err()
        );
    }
}
