//! Seeded echo scenarios: far-end speech played into a synthetic room and picked up by the
//! microphone after a bulk delay, with or without near-end speech and background noise.
//!
//! Everything comes from one seed (see [`ScenarioConfig::seed`]), so a failing case can be
//! regenerated exactly. The room is [`super::room`]'s model (the same one the call simulation
//! runs online).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use super::room::{Room, Tap, convolve, impulse_response};
use super::speech::{Talker, synthesize};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScenarioConfig {
    /// Sample rate, Hz.
    pub rate: u32,
    /// Length, seconds.
    pub seconds: f64,
    /// The echo path.
    pub room: Room,
    /// Whether the near end talks (from [`ScenarioConfig::near_from_s`] on, in spurts that
    /// overlap the far end: double talk), or stays silent (far-end single talk only).
    pub near_talk: bool,
    /// When the near end starts talking, seconds (3 s by default).
    pub near_from_s: f64,
    /// Background noise level at the microphone in dBFS, or `None` for none.
    pub noise_dbfs: Option<f64>,
    /// Level of the far-end speech as played, dBFS (active speech).
    pub far_dbfs: f64,
    /// Level of the near-end speech at the microphone, dBFS (active speech).
    pub near_dbfs: f64,
    /// The seed every random choice derives from.
    pub seed: u64,
}

impl ScenarioConfig {
    /// Far-end single talk at `rate` through `room`, 8 s, no noise, seed `seed`.
    pub fn single_talk(rate: u32, room: Room, seed: u64) -> Self {
        ScenarioConfig {
            rate,
            seconds: 8.0,
            room,
            near_talk: false,
            near_from_s: 3.0,
            noise_dbfs: None,
            far_dbfs: -20.0,
            near_dbfs: -28.0,
            seed,
        }
    }

    /// Double talk from 3 s on, otherwise as [`ScenarioConfig::single_talk`].
    pub fn double_talk(rate: u32, room: Room, seed: u64) -> Self {
        ScenarioConfig {
            near_talk: true,
            ..Self::single_talk(rate, room, seed)
        }
    }

    /// The same scenario with background noise at `dbfs`.
    pub fn with_noise(self, dbfs: f64) -> Self {
        ScenarioConfig {
            noise_dbfs: Some(dbfs),
            ..self
        }
    }

    /// Generate the signals.
    pub fn generate(&self) -> Scenario {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let len = (self.seconds * f64::from(self.rate)) as usize;
        // Far end: talk spurts of 2-4 s separated by 0.3-0.7 s pauses.
        let mut far_spurts = Vec::new();
        let mut t = 0.2;
        while t < self.seconds - 0.5 {
            let end = (t + rng.random_range(2.0..4.0)).min(self.seconds - 0.2);
            far_spurts.push((t, end));
            t = end + rng.random_range(0.3..0.7);
        }
        let far = synthesize(
            self.rate,
            len,
            &far_spurts,
            Talker::LOW,
            self.far_dbfs,
            &mut rng,
        );
        let rir = impulse_response(self.rate, &self.room, &mut rng);
        let echo = convolve(&far, &rir);
        let near = if self.near_talk {
            // Near end: 1.2 s spurts from `near_from_s` on, every 2.5 s.
            let mut spurts = Vec::new();
            let mut t = self.near_from_s;
            while t + 0.6 < self.seconds {
                spurts.push((t, (t + 1.2).min(self.seconds - 0.1)));
                t += 2.5;
            }
            synthesize(
                self.rate,
                len,
                &spurts,
                Talker::HIGH,
                self.near_dbfs,
                &mut rng,
            )
        } else {
            vec![0.0; len]
        };
        let noise = match self.noise_dbfs {
            Some(db) => pink_noise(len, db, &mut rng),
            None => vec![0.0; len],
        };
        let mic = (0..len).map(|i| echo[i] + near[i] + noise[i]).collect();
        Scenario {
            rate: self.rate,
            far,
            echo,
            near,
            noise,
            mic,
        }
    }
}

/// The signals of one scenario, all mono at `rate` and of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Sample rate, Hz.
    pub rate: u32,
    /// The far-end signal as played by the loudspeaker: the echo canceller's reference.
    pub far: Vec<f32>,
    /// The echo of `far` at the microphone.
    pub echo: Vec<f32>,
    /// The clean near-end speech at the microphone (zeros without near-end talk).
    pub near: Vec<f32>,
    /// The background noise at the microphone (zeros without noise).
    pub noise: Vec<f32>,
    /// What the microphone records: `echo + near + noise`.
    pub mic: Vec<f32>,
}

impl Scenario {
    /// A scenario from given speech (for example recordings): `far` is played through a room
    /// impulse response drawn for `room` from `seed`, and `near` (cut or zero-padded to the length
    /// of `far`; empty for none) and optional noise at `noise_dbfs` are added at the microphone.
    /// The signals are used at the levels given.
    pub fn from_speech(
        rate: u32,
        far: Vec<f32>,
        mut near: Vec<f32>,
        room: &Room,
        noise_dbfs: Option<f64>,
        seed: u64,
    ) -> Scenario {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let len = far.len();
        let rir = impulse_response(rate, room, &mut rng);
        let echo = convolve(&far, &rir);
        near.resize(len, 0.0);
        let noise = match noise_dbfs {
            Some(db) => pink_noise(len, db, &mut rng),
            None => vec![0.0; len],
        };
        let mic = (0..len).map(|i| echo[i] + near[i] + noise[i]).collect();
        Scenario {
            rate,
            far,
            echo,
            near,
            noise,
            mic,
        }
    }
}

/// Noise with a spectrum falling towards high frequencies (white noise through a one-pole
/// low-pass, plus a white floor), at an RMS of `dbfs`.
fn pink_noise(len: usize, dbfs: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut lp = 0.0f32;
    let mut x: Vec<f32> = (0..len)
        .map(|_| {
            let w = rng.random_range(-1.0f32..1.0);
            lp = 0.95 * lp + 0.05 * w;
            4.0 * lp + 0.1 * w
        })
        .collect();
    let rms = (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / len.max(1) as f64).sqrt();
    if rms > 0.0 {
        let g = (10f64.powf(dbfs / 20.0) / rms) as f32;
        x.iter_mut().for_each(|v| *v *= g);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{estimate_delay, rms_db};

    #[test]
    fn echo_arrives_after_the_bulk_delay_with_the_room_gain() {
        let rate = 16_000;
        let room = Room {
            bulk_delay_ms: 100.0,
            ..Room::SMALL
        };
        let s = ScenarioConfig::single_talk(rate, room, 7).generate();
        let (lag, c) = estimate_delay(&s.far, &s.echo, 2000);
        assert_eq!(lag, 1600, "correlation {c}");
        let gain = rms_db(&s.echo) - rms_db(&s.far);
        assert!((gain - room.gain_db).abs() < 2.0, "{gain}");
        assert!(s.near.iter().all(|&v| v == 0.0));
        assert_eq!(s.mic, s.echo);
    }

    #[test]
    fn double_talk_adds_near_speech_and_noise() {
        let s = ScenarioConfig::double_talk(16_000, Room::SMALL, 3)
            .with_noise(-60.0)
            .generate();
        assert!(s.near[..3 * 16_000 - 1].iter().all(|&v| v == 0.0));
        assert!(rms_db(&s.near[3 * 16_000..4 * 16_000]) > -40.0);
        assert!((rms_db(&s.noise) + 60.0).abs() < 0.5);
        let again = ScenarioConfig::double_talk(16_000, Room::SMALL, 3)
            .with_noise(-60.0)
            .generate();
        assert_eq!(s, again);
    }

    #[test]
    fn the_near_end_starts_when_configured() {
        let mut cfg = ScenarioConfig::double_talk(16_000, Room::SMALL, 4);
        cfg.near_from_s = 6.0;
        cfg.seconds = 13.0;
        let s = cfg.generate();
        assert!(s.near[..6 * 16_000].iter().all(|&v| v == 0.0));
        assert!(rms_db(&s.near[6 * 16_000..7 * 16_000]) > -40.0);
        assert!(
            rms_db(&s.far[..6 * 16_000]) > -30.0,
            "the far end talks before"
        );
    }

    #[test]
    fn from_speech_mixes_the_echo_of_the_given_far_end_with_the_given_near_end() {
        let rate = 16_000;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let far: Vec<f32> = (0..32_000).map(|_| rng.random_range(-0.1..0.1)).collect();
        let near: Vec<f32> = (0..20_000).map(|i| (i as f32 * 0.3).sin() * 0.05).collect();
        let s = Scenario::from_speech(rate, far.clone(), near.clone(), &Room::SMALL, None, 5);
        assert_eq!(s.far, far);
        assert_eq!(s.near.len(), far.len());
        assert_eq!(&s.near[..20_000], &near[..]);
        assert!(s.near[20_000..].iter().all(|&v| v == 0.0));
        let (lag, _) = estimate_delay(&s.far, &s.echo, 2000);
        assert_eq!(lag, 640);
        assert!(
            s.mic
                .iter()
                .zip(&s.echo)
                .zip(&s.near)
                .all(|((m, e), n)| *m == e + n)
        );
    }
}
