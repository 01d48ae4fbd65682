//! The simulated network between the two endpoints: one per-packet trace per direction from
//! `parla-netsim` (a named condition of its registry, or a Mahimahi link trace pushed through its
//! bottleneck), replayed packet by packet, with optional tampering.
//!
//! A media packet takes the fate of the row of its send time in its direction's trace (rows are
//! one packet interval apart; packets sent closer together take consecutive rows, so with evenly
//! spaced packets the `n`-th packet takes row `n`): lost, or delivered (once or, for duplicates,
//! more than once) after the trace's one-way delay, measured from the moment the packet was
//! actually sent. RTCP packets take the fate of the last media packet's row.

use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use parla_netsim::PacketRecord;
use parla_netsim::link::LinkTrace;
use parla_netsim::model::{self, ModelConfig};
use parla_netsim::scenario::{self, LinkConfig, Scenario, ScenarioKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::SimError;

/// The help text listing every network name (the `fixedN` family and `parla-netsim`'s registry).
pub fn network_help() -> String {
    let mut s = String::from(
        "The simulated network, the same in both directions (independent seeds). Names:\n",
    );
    let mut line = |name: &str, about: &str, extra: &str| {
        s.push_str(&format!("  {name:<16} {about}{extra}\n"));
    };
    let all = scenario::scenarios();
    for (i, sc) in all.iter().enumerate() {
        let extra = match sc.kind {
            ScenarioKind::Link { .. } => " [needs the shared link traces]",
            _ => "",
        };
        line(sc.name, sc.about, extra);
        if i == 0 {
            line(scenario::FIXED.0, scenario::FIXED.1, "");
        }
    }
    s
}

/// Read a Mahimahi link trace file (at most 256 MiB).
///
/// # Errors
/// [`SimError::Io`] when it cannot be read, [`SimError::Network`] when it does not parse.
pub fn read_link_trace(path: &Path) -> Result<LinkTrace, SimError> {
    let io = |source| SimError::Io {
        what: "link trace",
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() >= 256 << 20 {
        return Err(SimError::Config(format!(
            "link trace '{}' is too large",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    Ok(LinkTrace::parse(&text)?)
}

/// Where a direction's trace comes from.
#[derive(Debug, Clone)]
pub enum NetworkSpec {
    /// A named condition of `parla-netsim`'s registry (link conditions need the shared traces).
    Named(Scenario),
    /// A Mahimahi link trace file through the bottleneck.
    Trace {
        /// The file.
        path: PathBuf,
        /// The bottleneck configuration.
        cfg: LinkConfig,
    },
}

impl NetworkSpec {
    /// Resolve a network name (`mobile-4g`, `fixed40`, `wifi-good`, ...).
    ///
    /// # Errors
    /// [`SimError::Config`] for an unknown name or a bad `fixedN`, listing the known names.
    pub fn named(name: &str) -> Result<Self, SimError> {
        match scenario::scenario(name) {
            Ok(s) => Ok(NetworkSpec::Named(s)),
            Err(e @ parla_netsim::error::NetsimError::InvalidParameter { .. }) => {
                Err(SimError::Config(format!("network '{name}': {e}")))
            }
            Err(_) => Err(SimError::Config(format!(
                "unknown network '{name}'; known: {} (see parla call --help)",
                known_names().join(", ")
            ))),
        }
    }

    /// Rows of one direction's trace for `seconds` of packets every `interval_ms`; link traces
    /// of named conditions are read from `shared/net-traces/`.
    ///
    /// # Errors
    /// [`SimError`] when a trace file is missing or bad, or the parameters are out of range.
    pub fn rows(
        &self,
        seconds: f64,
        interval_ms: u32,
        seed: u64,
        shared: &Path,
    ) -> Result<Vec<PacketRecord>, SimError> {
        let interval_ms = u64::from(interval_ms);
        let link_rows = |link: &LinkTrace, cfg: &LinkConfig| {
            let cfg = LinkConfig {
                interval_ms,
                ..*cfg
            };
            scenario::run_link(link, &cfg, seconds, seed)
        };
        Ok(match self {
            NetworkSpec::Named(s) => match &s.kind {
                ScenarioKind::Link { file, cfg } => {
                    let path = shared.join("net-traces").join(file);
                    if !path.exists() {
                        return Err(SimError::Config(format!(
                            "network '{}' needs the link trace {} (set PARLA_SHARED_DIR or --shared to the folder holding net-traces/)",
                            s.name,
                            path.display()
                        )));
                    }
                    link_rows(&read_link_trace(&path)?, cfg)?
                }
                ScenarioKind::Model(m) => {
                    let m = ModelConfig { interval_ms, ..*m };
                    model::generate(&m, seconds, seed)?
                }
                _ => {
                    return Err(SimError::Config(format!(
                        "network '{}': unsupported kind",
                        s.name
                    )));
                }
            },
            NetworkSpec::Trace { path, cfg } => link_rows(&read_link_trace(path)?, cfg)?,
        })
    }
}

fn known_names() -> Vec<String> {
    let mut v = vec![scenario::FIXED.0.to_string()];
    v.extend(scenario::scenarios().iter().map(|s| s.name.to_string()));
    v
}

/// A packet in flight.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InFlight {
    pub(crate) arrival_us: u64,
    pub(crate) order: u64,
    pub(crate) data: Vec<u8>,
    pub(crate) tampered: bool,
    pub(crate) rtcp: bool,
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Earliest arrival first (BinaryHeap is a max-heap).
        (other.arrival_us, other.order).cmp(&(self.arrival_us, self.order))
    }
}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What one direction of the network did, counted as it happened.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PathCounts {
    /// Packets handed to the network.
    pub sent: u64,
    /// Packets the network dropped (the trace's losses, bottleneck drops included).
    pub lost: u64,
    /// Extra copies the network delivered (duplicates).
    pub duplicates: u64,
    /// Copies delivered to the receiver by the end of the call.
    pub delivered: u64,
    /// Copies still in flight when the call ended.
    pub in_flight_at_end: u64,
    /// Packets that had a byte flipped (tampering).
    pub tampered: u64,
    /// Tampered copies delivered.
    pub tampered_delivered: u64,
    /// Mean one-way delay of the copies the network carried, ms.
    pub mean_delay_ms: f64,
    /// 95th percentile of the one-way delay, ms.
    pub p95_delay_ms: f64,
    /// Largest one-way delay, ms.
    pub max_delay_ms: f64,
    /// Median queueing delay: one-way delay minus the smallest one, ms.
    pub queue_p50_ms: f64,
    /// 95th percentile of the queueing delay, ms.
    pub queue_p95_ms: f64,
    /// RTCP packets among `sent` (reports and congestion-control feedback): each rides with
    /// the media, taking the fate of the last media packet's row. A media packet takes the row
    /// of its send time (so the trace's time follows the call's when packets are 40 or 60 ms
    /// long), or the next row when packets come closer together than the rows.
    pub rtcp: u64,
    /// RTCP copies among `delivered`.
    pub rtcp_delivered: u64,
    /// Video packets (first transmissions, the video payload type) among `lost`; 0 without
    /// video.
    pub video_lost: u64,
}

/// The payload type of video first transmissions the paths count ([`PathCounts::video_lost`]).
pub(crate) const VIDEO_PT: u8 = 96;

/// Whether `packet` is a video first transmission (RTP, payload type [`VIDEO_PT`]).
pub(crate) fn is_video(packet: &[u8]) -> bool {
    packet.len() >= 12 && packet[1] & 0x7f == VIDEO_PT && !parla_engine::is_rtcp(packet)
}

/// One direction of the network.
#[derive(Debug)]
pub struct NetPath {
    /// One-way delays per packet index (empty: lost).
    fates: Vec<Vec<u64>>,
    heap: BinaryHeap<InFlight>,
    order: u64,
    tamper_every: Option<u64>,
    rng: ChaCha8Rng,
    counts: PathCounts,
    /// The row the last media packet took (`None` before the first).
    last_row: Option<u64>,
    /// Media packets sent.
    media_sent: u64,
    /// When the first media packet was sent, us.
    first_send_us: u64,
    /// The rows' packet interval, us.
    interval_us: u64,
    /// One-way delay of every copy carried, us (8 bytes a packet: 1.4 MB for an hour of 20 ms
    /// packets).
    delays_us: Vec<u64>,
}

impl NetPath {
    /// A path replaying `rows` (grouped by sequence number), flipping a byte of the SFrame
    /// ciphertext in every `tamper_every`-th packet.
    pub fn new(rows: &[PacketRecord], tamper_every: Option<u64>, seed: u64) -> Self {
        let n = rows.iter().map(|r| r.seq + 1).max().unwrap_or(0) as usize;
        let interval_us = match rows {
            [a, b, ..] => b.send_us.saturating_sub(a.send_us).max(1),
            _ => 20_000,
        };
        let mut fates = vec![Vec::new(); n];
        for r in rows {
            if let (Some(a), Some(f)) = (r.arrival_us, fates.get_mut(r.seq as usize)) {
                f.push(a.saturating_sub(r.send_us));
            }
        }
        NetPath {
            fates,
            heap: BinaryHeap::new(),
            order: 0,
            tamper_every: tamper_every.filter(|&n| n > 0),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7a3f_0000),
            counts: PathCounts::default(),
            last_row: None,
            media_sent: 0,
            first_send_us: 0,
            interval_us,
            delays_us: Vec::new(),
        }
    }

    /// Send a packet at `now_us`.
    pub fn send(&mut self, packet: &[u8], now_us: u64) {
        let rtcp = parla_engine::is_rtcp(packet);
        let index = if rtcp {
            self.counts.rtcp += 1;
            self.last_row.unwrap_or(0)
        } else {
            // The row of the packet's send time (the trace's time follows the call's even when
            // packets grow to 40 or 60 ms), at least the row after the last one (packets sent
            // close together, as the real-time driver does, take consecutive rows).
            let row = match self.last_row {
                None => {
                    self.first_send_us = now_us;
                    0
                }
                Some(last) => {
                    let since = now_us.saturating_sub(self.first_send_us);
                    ((since + self.interval_us / 2) / self.interval_us).max(last + 1)
                }
            };
            self.last_row = Some(row);
            row
        };
        self.counts.sent += 1;
        let mut data = packet.to_vec();
        if !rtcp {
            self.media_sent += 1;
        }
        // Tampering targets media packets (every n-th of them; RTCP is left alone).
        let tampered = tamper_nth(
            self.tamper_every,
            !rtcp,
            self.media_sent,
            &mut self.rng,
            &mut data,
            &mut self.counts,
        );
        let fate = self.fates.get(index as usize).cloned().unwrap_or_default();
        if fate.is_empty() {
            self.counts.lost += 1;
            self.counts.video_lost += u64::from(is_video(packet));
            return;
        }
        self.counts.duplicates += fate.len() as u64 - 1;
        for d in fate {
            self.delays_us.push(d);
            self.order += 1;
            self.heap.push(InFlight {
                arrival_us: now_us + d,
                order: self.order,
                data: data.clone(),
                tampered,
                rtcp,
            });
        }
    }

    /// Hand every copy due by `now_us` to `deliver(data, arrival_us)`.
    pub fn deliver_due(&mut self, now_us: u64, deliver: impl FnMut(&[u8], u64)) {
        deliver_heap(&mut self.heap, &mut self.counts, now_us, deliver);
    }

    /// The counts at the end of the call.
    pub fn finish(&mut self) -> PathCounts {
        let mut c = self.counts;
        c.in_flight_at_end = self.heap.len() as u64;
        delay_figures(&mut c, &mut self.delays_us);
        c
    }
}

/// With `--tamper-every N`: tampers `data` (and counts it) when it is a media packet and the
/// `media_sent`-th of them is a multiple of N; returns whether it did.
pub(crate) fn tamper_nth(
    every: Option<u64>,
    media: bool,
    media_sent: u64,
    rng: &mut ChaCha8Rng,
    data: &mut [u8],
    counts: &mut PathCounts,
) -> bool {
    match every {
        Some(n) if media && media_sent.is_multiple_of(n) => {
            tamper_packet(rng, data);
            counts.tampered += 1;
            true
        }
        _ => false,
    }
}

/// Flip one byte after the RTP and SFrame headers (in the ciphertext or its tag), so that an
/// encrypted packet fails authentication; without encryption it corrupts the Opus payload.
pub(crate) fn tamper_packet(rng: &mut ChaCha8Rng, data: &mut [u8]) {
    let Ok(pkt) = parla_rtp::rtp::RtpPacket::parse(data) else {
        return;
    };
    let start = data.len() - pkt.payload.len();
    let hdr = parla_rtp::e2ee::parse_sframe_header(pkt.payload).map_or(0, |h| h.len);
    let from = (start + hdr).min(data.len().saturating_sub(1));
    let at = rng.random_range(from..data.len());
    let flip: u8 = rng.random_range(1..=255);
    data[at] ^= flip;
}

/// Pops every copy in `heap` due by `now_us`, counts it and hands it to `deliver`.
pub(crate) fn deliver_heap(
    heap: &mut BinaryHeap<InFlight>,
    counts: &mut PathCounts,
    now_us: u64,
    mut deliver: impl FnMut(&[u8], u64),
) {
    while heap.peek().is_some_and(|p| p.arrival_us <= now_us) {
        let Some(p) = heap.pop() else { break };
        counts.delivered += 1;
        if p.tampered {
            counts.tampered_delivered += 1;
        }
        if p.rtcp {
            counts.rtcp_delivered += 1;
        }
        deliver(&p.data, p.arrival_us);
    }
}

/// Fills the delay figures of `c` from the one-way delays `d` (µs; sorted here).
pub(crate) fn delay_figures(c: &mut PathCounts, d: &mut [u64]) {
    d.sort_unstable();
    if let Some(&max) = d.last() {
        c.mean_delay_ms = d.iter().sum::<u64>() as f64 / d.len() as f64 / 1000.0;
        c.p95_delay_ms = d[(d.len() * 95 / 100).min(d.len() - 1)] as f64 / 1000.0;
        c.max_delay_ms = max as f64 / 1000.0;
        let min = d[0];
        let q = |p: usize| (d[(d.len() * p / 100).min(d.len() - 1)] - min) as f64 / 1000.0;
        c.queue_p50_ms = q(50);
        c.queue_p95_ms = q(95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_through_the_netsim_registry() {
        assert!(
            matches!(NetworkSpec::named("mobile-4g"), Ok(NetworkSpec::Named(s)) if s.name == "mobile-4g")
        );
        let e = NetworkSpec::named("nope").unwrap_err().to_string();
        assert!(e.contains("mobile-4g") && e.contains("fixedN"), "{e}");
        let e = NetworkSpec::named("fixed-3").unwrap_err().to_string();
        assert!(e.contains("fixed-3") && e.contains("5000"), "{e}");
        let help = network_help();
        for name in ["mobile-4g", "fixedN", "wifi-good", "tmobile-lte"] {
            assert!(help.contains(name), "{help}");
        }
        // A link condition without the shared traces says where it looked.
        let spec = NetworkSpec::named("tmobile-lte").expect("known");
        let e = spec
            .rows(2.0, 20, 1, Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("PARLA_SHARED_DIR"), "{e}");
    }

    #[test]
    fn a_fixed_path_delivers_every_packet_after_its_delay() {
        let spec = NetworkSpec::named("fixed40").expect("fixed40");
        let rows = spec.rows(1.0, 10, 1, Path::new(".")).expect("rows");
        assert_eq!(rows.len(), 100);
        let mut path = NetPath::new(&rows, Some(3), 1);
        let mut got = Vec::new();
        for k in 0..100u64 {
            path.send(
                &[0x80, 0x60, 0, k as u8, 0, 0, 0, 0, 0, 0, 0, 1, 7, 7, 7],
                k * 10_000,
            );
            path.deliver_due(k * 10_000, |d, at| got.push((d.to_vec(), at)));
        }
        path.deliver_due(u64::MAX, |d, at| got.push((d.to_vec(), at)));
        let c = path.finish();
        assert_eq!((c.sent, c.lost, c.delivered, c.tampered), (100, 0, 100, 33));
        assert_eq!(c.max_delay_ms, 40.0);
        assert_eq!(got[5].1, 50_000 + 40_000);
        // Every third packet had a payload byte flipped, the others arrive intact.
        assert_eq!(got[0].0[12..], [7, 7, 7]);
        assert_ne!(got[2].0[12..], [7, 7, 7]);
    }
}
