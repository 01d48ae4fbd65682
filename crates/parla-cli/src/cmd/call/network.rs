//! The simulated network between the two endpoints: one per-packet trace per direction from
//! `parla-netsim` (a named condition or a Mahimahi link trace pushed through its bottleneck),
//! replayed packet by packet, with optional tampering.
//!
//! The `n`-th packet a side sends takes the fate of row `n` of its direction's trace: lost, or
//! delivered (once or, for duplicates, more than once) after the trace's one-way delay, measured
//! from the moment the packet was actually sent.

use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use parla_netsim::model::{GilbertElliott, Jitter, ModelConfig};
use parla_netsim::scenario::{self, LinkConfig, ScenarioKind};
use parla_netsim::{PacketRecord, model};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cmd::netsim::{read_link_trace, scenario_trace};

/// The default condition.
pub const DEFAULT_NETWORK: &str = "mobile-4g";

/// The conditions `parla call` adds to `parla-netsim`'s scenarios.
fn call_conditions() -> [(&'static str, &'static str); 2] {
    [
        (
            "mobile-4g",
            "4G/LTE-like: 45 ms one-way, lognormal jitter (median 6 ms), ~1.5% bursty loss",
        ),
        (
            "fixedN",
            "a constant N ms one way, no jitter, no loss (e.g. fixed40)",
        ),
    ]
}

/// The help text listing every network name.
pub fn network_help() -> String {
    let mut s = String::from(
        "The simulated network, the same in both directions (independent seeds). Names:\n",
    );
    for (n, about) in call_conditions() {
        s.push_str(&format!("  {n:<16} {about}\n"));
    }
    for sc in scenario::scenarios() {
        let extra = match sc.kind {
            ScenarioKind::Link { .. } => " [needs the shared link traces]",
            _ => "",
        };
        s.push_str(&format!("  {:<16} {}{extra}\n", sc.name, sc.about));
    }
    s
}

fn mobile_4g() -> ModelConfig {
    ModelConfig {
        base_delay_ms: 45.0,
        jitter: Jitter::LogNormal {
            median_ms: 6.0,
            sigma: 0.6,
        },
        loss: GilbertElliott {
            p_good_to_bad: 0.01,
            p_bad_to_good: 0.3,
            loss_good: 0.002,
            loss_bad: 0.4,
        },
        ..ModelConfig::default()
    }
}

/// Where a direction's trace comes from.
#[derive(Debug, Clone)]
pub enum NetworkSpec {
    /// A seeded model.
    Model(ModelConfig),
    /// A named link scenario of `parla-netsim` (needs the shared traces).
    Scenario(scenario::Scenario),
    /// A Mahimahi link trace file through the bottleneck.
    Trace {
        /// The file.
        path: PathBuf,
        /// The bottleneck configuration.
        cfg: LinkConfig,
    },
}

impl NetworkSpec {
    /// Resolve a `--network` name.
    pub fn named(name: &str) -> anyhow::Result<Self> {
        if name == "mobile-4g" {
            return Ok(NetworkSpec::Model(mobile_4g()));
        }
        if let Some(ms) = name.strip_prefix("fixed") {
            let ms: f64 = ms
                .parse()
                .ok()
                .filter(|v: &f64| (0.0..=5000.0).contains(v))
                .with_context(|| {
                    format!(
                        "network '{name}': fixedN needs N in milliseconds, 0 to 5000 (e.g. fixed40)"
                    )
                })?;
            return Ok(NetworkSpec::Model(ModelConfig {
                base_delay_ms: ms,
                ..ModelConfig::default()
            }));
        }
        match scenario::scenario(name) {
            Ok(s) => Ok(match s.kind {
                ScenarioKind::Model(m) => NetworkSpec::Model(m),
                _ => NetworkSpec::Scenario(s),
            }),
            Err(_) => bail!(
                "unknown network '{name}'; known: {} (see parla call --help)",
                known_names().join(", ")
            ),
        }
    }

    /// Rows of one direction's trace for `seconds` of packets every `interval_ms`.
    pub fn rows(
        &self,
        seconds: f64,
        interval_ms: u32,
        seed: u64,
        shared: &Path,
    ) -> anyhow::Result<Vec<PacketRecord>> {
        Ok(match self {
            NetworkSpec::Model(m) => {
                let m = ModelConfig {
                    interval_ms: u64::from(interval_ms),
                    ..*m
                };
                model::generate(&m, seconds, seed)?
            }
            NetworkSpec::Scenario(s) => {
                let mut s = *s;
                if let ScenarioKind::Link { file, cfg } = s.kind {
                    let path = shared.join("net-traces").join(file);
                    if !path.exists() {
                        bail!(
                            "network '{}' needs the link trace {} (set PARLA_SHARED_DIR or --shared to the folder holding net-traces/)",
                            s.name,
                            path.display()
                        );
                    }
                    s.kind = ScenarioKind::Link {
                        file,
                        cfg: LinkConfig {
                            interval_ms: u64::from(interval_ms),
                            ..cfg
                        },
                    };
                }
                scenario_trace(&s, shared, seconds, seed)?
            }
            NetworkSpec::Trace { path, cfg } => {
                let link = read_link_trace(path)?;
                let cfg = LinkConfig {
                    interval_ms: u64::from(interval_ms),
                    ..*cfg
                };
                scenario::run_link(&link, &cfg, seconds, seed)?
            }
        })
    }
}

fn known_names() -> Vec<String> {
    let mut v: Vec<String> = call_conditions()
        .iter()
        .map(|(n, _)| (*n).to_string())
        .collect();
    v.extend(scenario::scenarios().iter().map(|s| s.name.to_string()));
    v
}

/// A packet in flight.
#[derive(Debug, PartialEq, Eq)]
struct InFlight {
    arrival_us: u64,
    order: u64,
    data: Vec<u8>,
    tampered: bool,
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
    /// Packets that had a byte flipped (`--tamper-every`).
    pub tampered: u64,
    /// Tampered copies delivered.
    pub tampered_delivered: u64,
    /// Mean one-way delay of the copies the network carried, ms.
    pub mean_delay_ms: f64,
    /// 95th percentile of the one-way delay, ms.
    pub p95_delay_ms: f64,
    /// Largest one-way delay, ms.
    pub max_delay_ms: f64,
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
    delays_us: Vec<u64>,
}

impl NetPath {
    /// A path replaying `rows` (grouped by sequence number), flipping a byte of the SFrame
    /// ciphertext in every `tamper_every`-th packet.
    pub fn new(rows: &[PacketRecord], tamper_every: Option<u64>, seed: u64) -> Self {
        let n = rows.iter().map(|r| r.seq + 1).max().unwrap_or(0) as usize;
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
            delays_us: Vec::new(),
        }
    }

    /// Send a packet at `now_us`.
    pub fn send(&mut self, packet: &[u8], now_us: u64) {
        let index = self.counts.sent;
        self.counts.sent += 1;
        let mut data = packet.to_vec();
        let tampered = match self.tamper_every {
            Some(n) if (index + 1).is_multiple_of(n) => {
                self.tamper(&mut data);
                self.counts.tampered += 1;
                true
            }
            _ => false,
        };
        let fate = self.fates.get(index as usize).cloned().unwrap_or_default();
        if fate.is_empty() {
            self.counts.lost += 1;
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
            });
        }
    }

    /// Flip one byte after the RTP and SFrame headers (in the ciphertext or its tag), so that an
    /// encrypted packet fails authentication; without encryption it corrupts the Opus payload.
    fn tamper(&mut self, data: &mut [u8]) {
        let Ok(pkt) = parla_rtp::rtp::RtpPacket::parse(data) else {
            return;
        };
        let start = data.len() - pkt.payload.len();
        let hdr = parla_rtp::e2ee::parse_sframe_header(pkt.payload).map_or(0, |h| h.len);
        let from = (start + hdr).min(data.len().saturating_sub(1));
        let at = self.rng.random_range(from..data.len());
        let flip: u8 = self.rng.random_range(1..=255);
        data[at] ^= flip;
    }

    /// Hand every copy due by `now_us` to `deliver(data, arrival_us)`.
    pub fn deliver_due(&mut self, now_us: u64, mut deliver: impl FnMut(&[u8], u64)) {
        while self.heap.peek().is_some_and(|p| p.arrival_us <= now_us) {
            let Some(p) = self.heap.pop() else { break };
            self.counts.delivered += 1;
            if p.tampered {
                self.counts.tampered_delivered += 1;
            }
            deliver(&p.data, p.arrival_us);
        }
    }

    /// The counts at the end of the call.
    pub fn finish(&mut self) -> PathCounts {
        let mut c = self.counts;
        c.in_flight_at_end = self.heap.len() as u64;
        let mut d = self.delays_us.clone();
        d.sort_unstable();
        if !d.is_empty() {
            c.mean_delay_ms = d.iter().sum::<u64>() as f64 / d.len() as f64 / 1000.0;
            c.p95_delay_ms = d[(d.len() * 95 / 100).min(d.len() - 1)] as f64 / 1000.0;
            c.max_delay_ms = d[d.len() - 1] as f64 / 1000.0;
        }
        c
    }
}
