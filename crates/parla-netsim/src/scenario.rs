//! Named scenarios: seeded models and real link traces pushed through the bottleneck queue.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::NetsimError;
use crate::link::{Bottleneck, Delivery, LinkTrace};
use crate::model::{GilbertElliott, Jitter, ModelConfig, Spikes, exponential, generate};
use crate::trace::PacketRecord;

/// A voice stream through a bottleneck driven by a link trace, with optional cross traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Propagation delay added after the bottleneck, milliseconds.
    pub base_delay_ms: f64,
    /// Bytes of one voice packet on the wire (Opus at 32 kbit/s in 20 ms plus IP/UDP/RTP).
    pub voice_bytes: u32,
    /// Voice packet interval, milliseconds.
    pub interval_ms: u64,
    /// Cross traffic as a fraction of the link's mean capacity (Poisson 1500-byte packets,
    /// switched on and off in exponential periods so that it comes in bursts); 0 for none.
    pub cross_load: f64,
    /// Mean length of a cross-traffic on (and off) period, seconds.
    pub cross_period_s: f64,
    /// Drop-tail queue limit, packets.
    pub queue_limit: usize,
    /// Sender clock drift, parts per million.
    pub drift_ppm: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            base_delay_ms: 20.0,
            voice_bytes: 120,
            interval_ms: 20,
            cross_load: 0.25,
            cross_period_s: 2.0,
            queue_limit: 100,
            drift_ppm: 0.0,
        }
    }
}

const VOICE_TAG: u64 = 1 << 63;

/// Push `seconds` of a voice stream through the bottleneck over `trace`. The seed picks where in
/// the trace the call starts and drives the cross traffic. Rows come in sequence order.
///
/// # Errors
/// [`NetsimError::InvalidParameter`] for bad parameters.
pub fn run_link(
    trace: &LinkTrace,
    cfg: &LinkConfig,
    seconds: f64,
    seed: u64,
) -> Result<Vec<PacketRecord>, NetsimError> {
    if !(0.0..=86_400.0).contains(&seconds) {
        return Err(NetsimError::InvalidParameter {
            name: "seconds",
            detail: "must be in [0, 86400]",
        });
    }
    if !(0.0..=2.0).contains(&cfg.cross_load) || cfg.interval_ms == 0 {
        return Err(NetsimError::InvalidParameter {
            name: "cross_load",
            detail: "must be in [0, 2] with a non-zero interval",
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Start anywhere in the trace; the first 5 s carry cross traffic only (warm-up).
    let at_ms = (rng.random::<f64>() * trace.period_ms() as f64) as u64;
    let mut q = Bottleneck::starting_at(trace.clone(), cfg.queue_limit, at_ms)?;
    let start_us = 5_000_000u64;
    let n = (seconds * 1000.0 / cfg.interval_ms as f64).floor() as u64;
    let end_us = start_us + n * cfg.interval_ms * 1000;
    let cross_rate_per_us = cfg.cross_load * trace.mean_packets_per_ms() / 1000.0 * 2.0;
    let mut arrivals: Vec<Option<u64>> = vec![None; n as usize];
    let base_us = (cfg.base_delay_ms * 1000.0) as u64;
    let mut next_cross = f64::INFINITY;
    let mut cross_on = false;
    let mut switch_at = exponential(&mut rng, cfg.cross_period_s * 1e6);
    if cross_rate_per_us > 0.0 {
        cross_on = rng.random::<bool>();
        if cross_on {
            next_cross = exponential(&mut rng, 1.0 / cross_rate_per_us);
        }
    }
    let mut next_voice = 0u64;
    let mut cross_tag = 0u64;
    let mut deliver = |d: Delivery| {
        if d.tag & VOICE_TAG != 0 {
            let seq = (d.tag & !VOICE_TAG) as usize;
            if let Some(slot) = arrivals.get_mut(seq) {
                *slot = Some(d.at_us + base_us);
            }
        }
    };
    loop {
        let voice_at = if next_voice < n {
            let real = (next_voice * cfg.interval_ms * 1000) as f64 * (1.0 + cfg.drift_ppm * 1e-6);
            start_us as f64 + real
        } else {
            f64::INFINITY
        };
        let t = voice_at.min(next_cross).min(switch_at);
        if !t.is_finite() {
            break;
        }
        q.advance(t as u64, &mut deliver);
        if t == switch_at {
            cross_on = !cross_on && cross_rate_per_us > 0.0;
            switch_at = if (t as u64) < end_us {
                t + exponential(&mut rng, cfg.cross_period_s * 1e6)
            } else {
                f64::INFINITY
            };
            next_cross = if cross_on {
                t + exponential(&mut rng, 1.0 / cross_rate_per_us)
            } else {
                f64::INFINITY
            };
        } else if t == voice_at {
            q.enqueue(VOICE_TAG | next_voice, cfg.voice_bytes);
            next_voice += 1;
        } else {
            q.enqueue(cross_tag, 1500);
            cross_tag = (cross_tag + 1) & !VOICE_TAG;
            next_cross = if (t as u64) < end_us {
                t + exponential(&mut rng, 1.0 / cross_rate_per_us)
            } else {
                f64::INFINITY
            };
        }
    }
    // Drain what is still queued (a bounded wait: the trace repeats, so it always drains).
    q.advance(end_us + 120_000_000, &mut deliver);
    Ok(arrivals
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let seq = i as u64;
            let send_us = seq * cfg.interval_ms * 1000;
            PacketRecord {
                seq,
                send_us,
                arrival_us: a.map(|a| a.saturating_sub(start_us)),
            }
        })
        .collect())
}

/// How a named scenario makes its trace.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ScenarioKind {
    /// A seeded per-packet model.
    Model(ModelConfig),
    /// A link trace (path relative to the shared `net-traces/` folder) and the queue around it.
    Link {
        /// Path of the Mahimahi trace under `net-traces/`.
        file: &'static str,
        /// The bottleneck configuration.
        cfg: LinkConfig,
    },
}

/// A named network condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Short name used on the command line.
    pub name: &'static str,
    /// One line saying what it stands for.
    pub about: &'static str,
    /// How the trace is made.
    pub kind: ScenarioKind,
}

fn model(f: impl FnOnce(&mut ModelConfig)) -> ScenarioKind {
    let mut m = ModelConfig::default();
    f(&mut m);
    ScenarioKind::Model(m)
}

fn link(file: &'static str, f: impl FnOnce(&mut LinkConfig)) -> ScenarioKind {
    let mut c = LinkConfig::default();
    f(&mut c);
    ScenarioKind::Link { file, cfg: c }
}

/// The name and description of the constant-delay family `fixedN` (resolved by [`scenario`]).
pub const FIXED: (&str, &str) = (
    "fixedN",
    "a constant N ms one way, no jitter, no loss (e.g. fixed40)",
);

/// The largest `N` of `fixedN`, milliseconds.
pub const FIXED_MAX_MS: f64 = 5000.0;

/// The default condition of a simulated call (`parla call`).
pub const DEFAULT_SCENARIO: &str = "mobile-4g";

/// Every named scenario: seeded models first, then the real link traces (the `fixedN` family is
/// resolved by [`scenario`] and described by [`FIXED`]).
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "mobile-4g",
            about: "4G/LTE-like: 45 ms one-way, lognormal jitter (median 6 ms), ~1.5% bursty loss",
            kind: model(|m| {
                m.base_delay_ms = 45.0;
                m.jitter = Jitter::LogNormal {
                    median_ms: 6.0,
                    sigma: 0.6,
                };
                m.loss = GilbertElliott {
                    p_good_to_bad: 0.01,
                    p_bad_to_good: 0.3,
                    loss_good: 0.002,
                    loss_bad: 0.4,
                };
            }),
        },
        Scenario {
            name: "wifi-good",
            about: "home Wi-Fi: light lognormal jitter, rare short loss bursts",
            kind: model(|m| {
                m.base_delay_ms = 20.0;
                m.jitter = Jitter::LogNormal {
                    median_ms: 3.0,
                    sigma: 0.8,
                };
                m.loss = GilbertElliott {
                    p_good_to_bad: 0.005,
                    p_bad_to_good: 0.5,
                    loss_good: 0.0,
                    loss_bad: 0.5,
                };
            }),
        },
        Scenario {
            name: "wifi-congested",
            about: "busy Wi-Fi: heavy-tailed Pareto jitter, bursty loss, duplicates",
            kind: model(|m| {
                m.base_delay_ms = 30.0;
                m.jitter = Jitter::Pareto {
                    scale_ms: 6.0,
                    shape: 1.6,
                };
                m.loss = GilbertElliott {
                    p_good_to_bad: 0.02,
                    p_bad_to_good: 0.3,
                    loss_good: 0.002,
                    loss_bad: 0.6,
                };
                m.duplicate_prob = 0.01;
            }),
        },
        Scenario {
            name: "lte-handover",
            about: "LTE with 200-600 ms handover stalls and +1000 ppm sender drift",
            kind: model(|m| {
                m.base_delay_ms = 40.0;
                m.jitter = Jitter::LogNormal {
                    median_ms: 5.0,
                    sigma: 0.5,
                };
                m.spikes = Some(Spikes {
                    mean_interval_s: 8.0,
                    min_ms: 200.0,
                    max_ms: 600.0,
                });
                m.drift_ppm = 1000.0;
            }),
        },
        Scenario {
            name: "reorder-heavy",
            about: "multipath: independent lognormal jitter (reorders), 3% held-back, 2% duplicates",
            kind: model(|m| {
                m.base_delay_ms = 25.0;
                m.jitter = Jitter::LogNormal {
                    median_ms: 8.0,
                    sigma: 0.6,
                };
                m.fifo = false;
                m.reorder_prob = 0.03;
                m.duplicate_prob = 0.02;
            }),
        },
        Scenario {
            name: "drift-lossy",
            about: "-1000 ppm sender drift, moderate jitter, 3% bursty loss",
            kind: model(|m| {
                m.base_delay_ms = 30.0;
                m.jitter = Jitter::LogNormal {
                    median_ms: 4.0,
                    sigma: 0.7,
                };
                m.drift_ppm = -1000.0;
                m.loss = GilbertElliott {
                    p_good_to_bad: 0.01,
                    p_bad_to_good: 0.25,
                    loss_good: 0.0,
                    loss_bad: 0.75,
                };
            }),
        },
        Scenario {
            name: "satellite",
            about: "long base delay with Pareto jitter and bursty loss",
            kind: model(|m| {
                m.base_delay_ms = 300.0;
                m.jitter = Jitter::Pareto {
                    scale_ms: 10.0,
                    shape: 2.0,
                };
                m.loss = GilbertElliott {
                    p_good_to_bad: 0.01,
                    p_bad_to_good: 0.2,
                    loss_good: 0.0,
                    loss_bad: 0.5,
                };
            }),
        },
        Scenario {
            name: "random-loss10",
            about: "40 ms one-way, light jitter, 10% independent random loss (FEC and adaptation)",
            kind: model(|m| {
                m.base_delay_ms = 40.0;
                m.jitter = Jitter::LogNormal {
                    median_ms: 2.0,
                    sigma: 0.5,
                };
                m.loss = GilbertElliott {
                    p_good_to_bad: 0.0,
                    p_bad_to_good: 1.0,
                    loss_good: 0.10,
                    loss_bad: 0.10,
                };
            }),
        },
        Scenario {
            name: "tmobile-lte",
            about: "T-Mobile LTE downlink (Mahimahi) with bursty cross traffic",
            kind: link("mahimahi/TMobile-LTE-short.down", |_| {}),
        },
        Scenario {
            name: "verizon-lte",
            about: "Verizon LTE downlink (Mahimahi) with bursty cross traffic",
            kind: link("mahimahi/Verizon-LTE-short.down", |_| {}),
        },
        Scenario {
            name: "att-lte-driving",
            about: "AT&T LTE downlink while driving (Mahimahi) with bursty cross traffic",
            kind: link("mahimahi/ATT-LTE-driving.down", |_| {}),
        },
        Scenario {
            name: "tmobile-umts",
            about: "T-Mobile UMTS (3G) downlink while driving (Mahimahi), light cross traffic",
            kind: link("mahimahi/TMobile-UMTS-driving.down", |c| c.cross_load = 0.1),
        },
        Scenario {
            name: "verizon-evdo",
            about: "Verizon EV-DO downlink while driving (Mahimahi), light cross traffic",
            kind: link("mahimahi/Verizon-EVDO-driving.down", |c| c.cross_load = 0.1),
        },
        Scenario {
            name: "nyc-4g-times",
            about: "NYC 4G downlink, Times Square, shared cell (C2TCP) with bursty cross traffic",
            kind: link("c2tcp/downlink-4g-with-cross-times", |_| {}),
        },
        Scenario {
            name: "nyc-4g-subway",
            about: "NYC 4G downlink in the subway, shared cell (C2TCP) with bursty cross traffic",
            kind: link("c2tcp/downlink-4g-with-cross-subway.pps", |_| {}),
        },
    ]
}

/// The scenario with this name: one of [`scenarios`], or `fixedN` (a constant `N` ms one way,
/// `N` from 0 to [`FIXED_MAX_MS`], no jitter, no loss; its name reads `fixedN`).
///
/// # Errors
/// [`NetsimError::UnknownScenario`]; [`NetsimError::InvalidParameter`] for a `fixedN` whose `N`
/// is not a number of milliseconds in range.
pub fn scenario(name: &str) -> Result<Scenario, NetsimError> {
    if let Some(found) = scenarios().into_iter().find(|s| s.name == name) {
        return Ok(found);
    }
    let Some(ms) = name.strip_prefix("fixed") else {
        return Err(NetsimError::UnknownScenario(name.to_string()));
    };
    let ms: f64 = ms
        .parse()
        .ok()
        .filter(|v: &f64| (0.0..=FIXED_MAX_MS).contains(v))
        .ok_or(NetsimError::InvalidParameter {
            name: "fixedN",
            detail: "fixedN needs N in milliseconds, 0 to 5000 (e.g. fixed40)",
        })?;
    Ok(Scenario {
        name: FIXED.0,
        about: FIXED.1,
        kind: model(|m| m.base_delay_ms = ms),
    })
}

/// Make a seeded model scenario's trace (link scenarios need their trace: [`run_link`]).
///
/// # Errors
/// [`NetsimError::InvalidParameter`] for a link scenario or bad parameters.
pub fn generate_model(
    s: &Scenario,
    seconds: f64,
    seed: u64,
) -> Result<Vec<PacketRecord>, NetsimError> {
    match &s.kind {
        ScenarioKind::Model(m) => generate(m, seconds, seed),
        ScenarioKind::Link { .. } => Err(NetsimError::InvalidParameter {
            name: "scenario",
            detail: "a link scenario needs its link trace",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_models_generate() {
        let all = scenarios();
        assert!(all.len() >= 10);
        for (i, a) in all.iter().enumerate() {
            assert!(all[i + 1..].iter().all(|b| b.name != a.name));
            if let ScenarioKind::Model(_) = a.kind {
                let t = generate_model(a, 5.0, 1).expect("valid");
                assert!(t.len() >= 250, "{}", a.name);
            }
        }
        assert!(scenario("nope").is_err());
    }

    #[test]
    fn the_call_conditions_are_named_here() {
        // The default of `parla call`, with the figures its help text gives.
        let m = match scenario(DEFAULT_SCENARIO).expect("known").kind {
            ScenarioKind::Model(m) => m,
            k => panic!("{k:?}"),
        };
        assert_eq!(m.base_delay_ms, 45.0);
        let loss = m.loss.mean_loss();
        assert!((0.01..0.02).contains(&loss), "{loss}");
        // fixedN: a constant delay, nothing lost, in order.
        let s = scenario("fixed40").expect("fixed40");
        assert_eq!(s.name, "fixedN");
        let rows = generate_model(&s, 2.0, 3).expect("valid");
        assert_eq!(rows.len(), 100);
        assert!(rows.iter().all(|r| r.delay_us() == Some(40_000)));
        assert!(scenario("fixed0.5").is_ok());
        for bad in ["fixed", "fixed-1", "fixedx", "fixed5001", "fixedNaN"] {
            assert!(
                matches!(scenario(bad), Err(NetsimError::InvalidParameter { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn link_without_cross_traffic_is_fast_and_ordered() {
        // 1 opportunity per ms: a lone voice stream never queues.
        let text: String = (1..=1000).map(|i| format!("{i}\n")).collect();
        let t = LinkTrace::parse(&text).expect("valid");
        let cfg = LinkConfig {
            cross_load: 0.0,
            ..LinkConfig::default()
        };
        let rows = run_link(&t, &cfg, 10.0, 5).expect("valid");
        assert_eq!(rows.len(), 500);
        for r in &rows {
            let d = r.delay_us().expect("no loss without cross traffic");
            assert!((20_000..=21_000).contains(&d), "delay {d}");
        }
    }

    #[test]
    fn cross_traffic_adds_queueing_delay() {
        let text: String = (1..=1000).map(|i| format!("{i}\n")).collect();
        let t = LinkTrace::parse(&text).expect("valid");
        let cfg = LinkConfig {
            cross_load: 0.9,
            ..LinkConfig::default()
        };
        let rows = run_link(&t, &cfg, 30.0, 5).expect("valid");
        let max = rows.iter().filter_map(|r| r.delay_us()).max().unwrap_or(0);
        assert!(max > 30_000, "max delay {max}");
    }
}
