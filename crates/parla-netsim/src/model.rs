//! Seeded per-packet network models: Gilbert-Elliott bursty loss, Pareto or lognormal jitter,
//! delay spikes (handovers), reordering, duplication and sender clock drift.
//!
//! A model is a pure function of its configuration and a seed ([`generate`]); the same seed
//! gives the same trace on every machine (ChaCha8).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::NetsimError;
use crate::trace::PacketRecord;

/// The longest extra delay a jitter draw may add (a bound on heavy tails), milliseconds.
pub const MAX_JITTER_MS: f64 = 3_000.0;

/// Per-packet jitter: extra one-way delay above the base delay.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Jitter {
    /// No jitter.
    None,
    /// Shifted Pareto: `scale * (U^(-1/shape) - 1)`; heavy-tailed for small shapes.
    Pareto {
        /// Scale, milliseconds.
        scale_ms: f64,
        /// Shape (tail index), above 1 for a finite mean.
        shape: f64,
    },
    /// Lognormal with the given median and log-standard deviation.
    LogNormal {
        /// Median, milliseconds.
        median_ms: f64,
        /// Standard deviation of the logarithm.
        sigma: f64,
    },
}

/// Gilbert-Elliott two-state loss: a good and a bad state with their own loss probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from good to bad, per packet.
    pub p_good_to_bad: f64,
    /// Probability of moving from bad to good, per packet.
    pub p_bad_to_good: f64,
    /// Loss probability in the good state.
    pub loss_good: f64,
    /// Loss probability in the bad state.
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// No loss.
    pub const NONE: GilbertElliott = GilbertElliott {
        p_good_to_bad: 0.0,
        p_bad_to_good: 1.0,
        loss_good: 0.0,
        loss_bad: 0.0,
    };

    /// The long-run loss rate.
    pub fn mean_loss(&self) -> f64 {
        let denom = self.p_good_to_bad + self.p_bad_to_good;
        if denom <= 0.0 {
            return self.loss_good;
        }
        let pi_bad = self.p_good_to_bad / denom;
        (1.0 - pi_bad) * self.loss_good + pi_bad * self.loss_bad
    }
}

/// Delay spikes such as a cellular handover: the link stalls for a while and then delivers what
/// it held in a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spikes {
    /// Mean time between spikes (exponential), seconds.
    pub mean_interval_s: f64,
    /// Shortest stall, milliseconds.
    pub min_ms: f64,
    /// Longest stall, milliseconds.
    pub max_ms: f64,
}

/// A seeded per-packet model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelConfig {
    /// Constant propagation delay, milliseconds.
    pub base_delay_ms: f64,
    /// Jitter above the base delay.
    pub jitter: Jitter,
    /// Bursty loss.
    pub loss: GilbertElliott,
    /// Delay spikes, if any.
    pub spikes: Option<Spikes>,
    /// Probability that a packet is held back and overtaken by its followers.
    pub reorder_prob: f64,
    /// The longest extra delay of a reordered packet, milliseconds.
    pub reorder_max_ms: f64,
    /// Probability that a packet arrives twice.
    pub duplicate_prob: f64,
    /// Sender clock drift, parts per million (positive: the sender's clock runs slow, so packets
    /// come further apart than their timestamps say).
    pub drift_ppm: f64,
    /// Whether the network keeps order (a packet never overtakes an earlier one unless it is one
    /// of the explicitly reordered ones).
    pub fifo: bool,
    /// Packet interval on the sender's clock, milliseconds.
    pub interval_ms: u64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            base_delay_ms: 30.0,
            jitter: Jitter::None,
            loss: GilbertElliott::NONE,
            spikes: None,
            reorder_prob: 0.0,
            reorder_max_ms: 60.0,
            duplicate_prob: 0.0,
            drift_ppm: 0.0,
            fifo: true,
            interval_ms: 20,
        }
    }
}

fn check_prob(name: &'static str, p: f64) -> Result<(), NetsimError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(NetsimError::InvalidParameter {
            name,
            detail: "must be a probability in [0, 1]",
        })
    }
}

impl ModelConfig {
    /// Check every parameter.
    ///
    /// # Errors
    /// [`NetsimError::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<(), NetsimError> {
        check_prob("p_good_to_bad", self.loss.p_good_to_bad)?;
        check_prob("p_bad_to_good", self.loss.p_bad_to_good)?;
        check_prob("loss_good", self.loss.loss_good)?;
        check_prob("loss_bad", self.loss.loss_bad)?;
        check_prob("reorder_prob", self.reorder_prob)?;
        check_prob("duplicate_prob", self.duplicate_prob)?;
        if !(0.0..=10_000.0).contains(&self.base_delay_ms) {
            return Err(NetsimError::InvalidParameter {
                name: "base_delay_ms",
                detail: "must be in [0, 10000]",
            });
        }
        if !(-10_000.0..=10_000.0).contains(&self.drift_ppm) {
            return Err(NetsimError::InvalidParameter {
                name: "drift_ppm",
                detail: "must be in [-10000, 10000]",
            });
        }
        if self.interval_ms == 0 || self.interval_ms > 1000 {
            return Err(NetsimError::InvalidParameter {
                name: "interval_ms",
                detail: "must be in [1, 1000]",
            });
        }
        match self.jitter {
            Jitter::Pareto { scale_ms, shape } if !(scale_ms >= 0.0 && shape > 0.0) => {
                Err(NetsimError::InvalidParameter {
                    name: "jitter",
                    detail: "Pareto needs scale >= 0 and shape > 0",
                })
            }
            Jitter::LogNormal { median_ms, sigma } if !(median_ms >= 0.0 && sigma >= 0.0) => {
                Err(NetsimError::InvalidParameter {
                    name: "jitter",
                    detail: "lognormal needs median >= 0 and sigma >= 0",
                })
            }
            _ => Ok(()),
        }
    }
}

/// A standard normal draw (Box-Muller).
pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// An exponential draw with the given mean.
pub(crate) fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let u: f64 = rng.random::<f64>().max(1e-300);
    -mean * u.ln()
}

fn jitter_ms(rng: &mut ChaCha8Rng, j: Jitter) -> f64 {
    let v = match j {
        Jitter::None => 0.0,
        Jitter::Pareto { scale_ms, shape } => {
            let u: f64 = rng.random::<f64>().max(1e-12);
            scale_ms * (u.powf(-1.0 / shape) - 1.0)
        }
        Jitter::LogNormal { median_ms, sigma } => median_ms * (sigma * normal(rng)).exp(),
    };
    v.clamp(0.0, MAX_JITTER_MS)
}

/// Generate `seconds` of a stream with one packet per `interval_ms` through the model.
///
/// Rows come in sequence order: one row per received copy (a duplicate gives two rows) and one
/// row with no arrival per lost packet.
///
/// # Errors
/// [`NetsimError::InvalidParameter`] when the configuration does not validate or `seconds` is
/// above 24 hours.
pub fn generate(
    cfg: &ModelConfig,
    seconds: f64,
    seed: u64,
) -> Result<Vec<PacketRecord>, NetsimError> {
    cfg.validate()?;
    if !(0.0..=86_400.0).contains(&seconds) {
        return Err(NetsimError::InvalidParameter {
            name: "seconds",
            detail: "must be in [0, 86400]",
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = (seconds * 1000.0 / cfg.interval_ms as f64).floor() as u64;
    let mut out = Vec::with_capacity(n as usize + n as usize / 16);
    let mut bad = false;
    // Spike windows: [start, end) in receiver microseconds.
    let mut next_spike_us = cfg
        .spikes
        .map(|s| exponential(&mut rng, s.mean_interval_s * 1e6))
        .unwrap_or(f64::INFINITY);
    let mut spike_end_us = f64::NEG_INFINITY;
    let mut last_fifo_arrival = 0.0f64;
    for seq in 0..n {
        let send_us = seq * cfg.interval_ms * 1000;
        // The sender's clock runs at (1 - drift) of real time: its timestamps fall behind.
        let real_send = send_us as f64 * (1.0 + cfg.drift_ppm * 1e-6);
        if let Some(s) = cfg.spikes {
            while real_send >= next_spike_us {
                let len = s.min_ms + rng.random::<f64>() * (s.max_ms - s.min_ms).max(0.0);
                spike_end_us = next_spike_us + len * 1000.0;
                next_spike_us += len * 1000.0 + exponential(&mut rng, s.mean_interval_s * 1e6);
            }
        }
        // Gilbert-Elliott state step, then loss in that state.
        bad = if bad {
            rng.random::<f64>() >= cfg.loss.p_bad_to_good
        } else {
            rng.random::<f64>() < cfg.loss.p_good_to_bad
        };
        let p_loss = if bad {
            cfg.loss.loss_bad
        } else {
            cfg.loss.loss_good
        };
        let jitter = jitter_ms(&mut rng, cfg.jitter);
        let reordered = rng.random::<f64>() < cfg.reorder_prob;
        let reorder_extra = rng.random::<f64>() * cfg.reorder_max_ms;
        let duplicate = rng.random::<f64>() < cfg.duplicate_prob;
        let dup_extra = rng.random::<f64>() * 30.0;
        if rng.random::<f64>() < p_loss {
            out.push(PacketRecord {
                seq,
                send_us,
                arrival_us: None,
            });
            continue;
        }
        let mut arrival = real_send + (cfg.base_delay_ms + jitter) * 1000.0;
        if real_send < spike_end_us {
            // Held by the stalled link until the stall ends.
            arrival = arrival.max(spike_end_us + cfg.base_delay_ms * 1000.0);
        }
        if reordered {
            arrival += reorder_extra * 1000.0 + cfg.interval_ms as f64 * 1000.0;
        } else if cfg.fifo {
            arrival = arrival.max(last_fifo_arrival);
            last_fifo_arrival = arrival;
        }
        let arrival_us = arrival.round().max(0.0) as u64;
        out.push(PacketRecord {
            seq,
            send_us,
            arrival_us: Some(arrival_us),
        });
        if duplicate {
            out.push(PacketRecord {
                seq,
                send_us,
                arrival_us: Some(arrival_us + (dup_extra * 1000.0) as u64),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_lossy_as_configured() {
        let cfg = ModelConfig {
            loss: GilbertElliott {
                p_good_to_bad: 0.05,
                p_bad_to_good: 0.3,
                loss_good: 0.0,
                loss_bad: 0.7,
            },
            jitter: Jitter::LogNormal {
                median_ms: 5.0,
                sigma: 0.5,
            },
            ..ModelConfig::default()
        };
        let a = generate(&cfg, 200.0, 7).expect("valid");
        let b = generate(&cfg, 200.0, 7).expect("valid");
        assert_eq!(a, b);
        let lost = a.iter().filter(|r| r.arrival_us.is_none()).count() as f64;
        let rate = lost / a.len() as f64;
        let expect = cfg.loss.mean_loss();
        assert!((rate - expect).abs() < 0.03, "loss {rate} vs {expect}");
        // FIFO: arrivals never go backwards.
        let arr: Vec<u64> = a.iter().filter_map(|r| r.arrival_us).collect();
        assert!(arr.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn drift_stretches_arrivals() {
        let cfg = ModelConfig {
            drift_ppm: 1000.0,
            ..ModelConfig::default()
        };
        let a = generate(&cfg, 100.0, 1).expect("valid");
        let first = a[0].delay_us().expect("arrived");
        let last = a[a.len() - 1].delay_us().expect("arrived");
        // 1000 ppm over ~100 s is ~100 ms.
        assert!((last - first - 100_000).abs() < 1_000, "{}", last - first);
    }

    #[test]
    fn spikes_hold_packets() {
        let cfg = ModelConfig {
            spikes: Some(Spikes {
                mean_interval_s: 2.0,
                min_ms: 500.0,
                max_ms: 500.0,
            }),
            ..ModelConfig::default()
        };
        let a = generate(&cfg, 60.0, 3).expect("valid");
        let max = a.iter().filter_map(|r| r.delay_us()).max().unwrap_or(0);
        assert!(max >= 500_000, "max delay {max}");
    }

    #[test]
    fn rejects_bad_parameters() {
        let cfg = ModelConfig {
            reorder_prob: 2.0,
            ..ModelConfig::default()
        };
        assert!(generate(&cfg, 1.0, 0).is_err());
    }
}
