//! A simple deterministic PCM payload: the reference codec for tests, the replay tool and the
//! evaluation until the Opus adapter lands (it exercises the same paths: variable packet
//! durations, in-band FEC of the previous packet, DTX).
//!
//! Payload layout (little endian):
//! - audio: `0u8`, `n: u16`, `n` samples as `i16`, `m: u16`, then `m` FEC bytes: the previous
//!   packet at quarter resolution in time (every 4th sample) and 8 bits (`i8`, scaled by 127);
//! - DTX: `1u8`, `n: u16`: `n` samples of silence described only by its level (comfort noise).
//!
//! [`PcmDecoder::conceal`] repeats the last pitch period of what it decoded (found with
//! [`crate::stretch::TimeStretcher::find_period`]) with a fading gain, the classic
//! periodic-extension PLC (ITU-T G.711 Appendix I in spirit).

use crate::decoder::{AudioDecoder, DecodeError};
use crate::stretch::TimeStretcher;

const KIND_AUDIO: u8 = 0;
const KIND_DTX: u8 = 1;
/// FEC keeps every `FEC_DECIMATION`-th sample of the previous packet.
pub const FEC_DECIMATION: usize = 4;
/// The longest packet the PCM payload describes, samples.
pub const MAX_SAMPLES: usize = 65_535;
/// Comfort-noise level (peak amplitude).
const CN_LEVEL: f32 = 0.002;

/// Encode one packet of audio, with the previous packet's audio as FEC if given.
/// Allocates: test and tool side only.
pub fn encode(samples: &[f32], fec_prev: Option<&[f32]>, out: &mut Vec<u8>) {
    out.clear();
    let n = samples.len().min(MAX_SAMPLES);
    out.push(KIND_AUDIO);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    for s in &samples[..n] {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    match fec_prev {
        Some(prev) => {
            let m = prev.len().div_ceil(FEC_DECIMATION).min(MAX_SAMPLES);
            out.extend_from_slice(&(m as u16).to_le_bytes());
            for s in prev.iter().step_by(FEC_DECIMATION).take(m) {
                out.push((s.clamp(-1.0, 1.0) * 127.0).round() as i8 as u8);
            }
        }
        None => out.extend_from_slice(&0u16.to_le_bytes()),
    }
}

/// Encode a DTX packet standing for `n` samples of silence.
pub fn encode_dtx(n: usize, out: &mut Vec<u8>) {
    out.clear();
    out.push(KIND_DTX);
    out.extend_from_slice(&(n.min(MAX_SAMPLES) as u16).to_le_bytes());
}

struct Parsed<'a> {
    dtx: bool,
    n: usize,
    pcm: &'a [u8],
    fec: &'a [u8],
}

fn parse(p: &[u8]) -> Result<Parsed<'_>, DecodeError> {
    let (&kind, rest) = p.split_first().ok_or(DecodeError::Malformed)?;
    if rest.len() < 2 {
        return Err(DecodeError::Malformed);
    }
    let n = u16::from_le_bytes([rest[0], rest[1]]) as usize;
    if n == 0 {
        return Err(DecodeError::Malformed);
    }
    let rest = &rest[2..];
    match kind {
        KIND_DTX if rest.is_empty() => Ok(Parsed {
            dtx: true,
            n,
            pcm: &[],
            fec: &[],
        }),
        KIND_AUDIO => {
            if rest.len() < 2 * n + 2 {
                return Err(DecodeError::Malformed);
            }
            let (pcm, rest) = rest.split_at(2 * n);
            let m = u16::from_le_bytes([rest[0], rest[1]]) as usize;
            let fec = &rest[2..];
            if fec.len() != m {
                return Err(DecodeError::Malformed);
            }
            Ok(Parsed {
                dtx: false,
                n,
                pcm,
                fec,
            })
        }
        _ => Err(DecodeError::Malformed),
    }
}

fn remember(history: &mut [f32], x: &[f32]) {
    let h = history.len();
    if x.len() >= h {
        history.copy_from_slice(&x[x.len() - h..]);
    } else {
        history.copy_within(x.len().., 0);
        history[h - x.len()..].copy_from_slice(x);
    }
}

/// The PCM decoder.
#[derive(Debug, Clone)]
pub struct PcmDecoder {
    rate: u32,
    history: Vec<f32>,
    period: usize,
    phase: usize,
    gain: f32,
    concealing: bool,
    pitch: TimeStretcher,
    noise: u32,
}

impl PcmDecoder {
    /// A decoder at `rate` Hz (8-96 kHz). Allocates its history here.
    ///
    /// # Errors
    /// [`parla_core::ConfigError`] for an unsupported rate.
    pub fn new(rate: u32) -> Result<Self, parla_core::ConfigError> {
        let pitch = TimeStretcher::new(rate)?;
        Ok(PcmDecoder {
            rate,
            history: vec![0.0; pitch.min_input_len()],
            period: 0,
            phase: 0,
            gain: 1.0,
            concealing: false,
            pitch,
            noise: 0x2545_f491,
        })
    }

    fn next_noise(&mut self) -> f32 {
        self.noise = self
            .noise
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        ((self.noise >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 2.0 * CN_LEVEL
    }
}

impl AudioDecoder for PcmDecoder {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn packet_samples(&self, payload: &[u8]) -> Result<usize, DecodeError> {
        parse(payload).map(|p| p.n)
    }

    fn is_dtx(&self, payload: &[u8]) -> bool {
        parse(payload).map(|p| p.dtx).unwrap_or(false)
    }

    fn has_fec(&self, payload: &[u8]) -> bool {
        parse(payload).map(|p| !p.fec.is_empty()).unwrap_or(false)
    }

    fn decode(&mut self, payload: &[u8], out: &mut [f32]) -> Result<usize, DecodeError> {
        // RT: parsing borrows the payload; no allocation.
        let p = parse(payload)?;
        if out.len() < p.n {
            return Err(DecodeError::BufferTooSmall {
                needed: p.n,
                got: out.len(),
            });
        }
        if p.dtx {
            for o in &mut out[..p.n] {
                *o = self.next_noise();
            }
        } else {
            for (o, b) in out[..p.n].iter_mut().zip(p.pcm.chunks_exact(2)) {
                *o = i16::from_le_bytes([b[0], b[1]]) as f32 / 32767.0;
            }
        }
        self.concealing = false;
        self.gain = 1.0;
        remember(&mut self.history, &out[..p.n]);
        Ok(p.n)
    }

    fn decode_fec(&mut self, next_payload: &[u8], out: &mut [f32]) -> Result<usize, DecodeError> {
        // RT: linear interpolation of the coarse copy; no allocation.
        let p = parse(next_payload)?;
        if p.fec.is_empty() {
            return Err(DecodeError::Malformed);
        }
        let m = p.fec.len();
        let at = |i: usize| (p.fec[i.min(m - 1)] as i8) as f32 / 127.0;
        for (i, o) in out.iter_mut().enumerate() {
            let pos = i as f32 / FEC_DECIMATION as f32;
            let k = pos as usize;
            let frac = pos - k as f32;
            *o = at(k) * (1.0 - frac) + at(k + 1) * frac;
        }
        self.concealing = false;
        self.gain = 1.0;
        remember(&mut self.history, out);
        Ok(out.len())
    }

    fn conceal(&mut self, out: &mut [f32]) -> Result<(), DecodeError> {
        // RT: periodic extension of the preallocated history.
        if !self.concealing {
            let (t, _) = self.pitch.find_period(&self.history);
            self.period = if t == 0 { self.history.len() / 2 } else { t };
            self.phase = 0;
            self.concealing = true;
        }
        let h = self.history.len();
        let t = self.period.max(1);
        // Fade to silence over about 100 ms of concealment.
        let step = 1.0 / (0.1 * self.rate as f32);
        for o in out.iter_mut() {
            *o = self.history[h - t + self.phase % t] * self.gain;
            self.phase += 1;
            self.gain = (self.gain - step).max(0.0);
        }
        Ok(())
    }

    fn comfort_noise(&mut self, out: &mut [f32]) -> Result<(), DecodeError> {
        for o in out.iter_mut() {
            *o = self.next_noise();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_fec_and_dtx() {
        let x: Vec<f32> = (0..960).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        let prev: Vec<f32> = (0..960).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
        let mut p = Vec::new();
        encode(&x, Some(&prev), &mut p);
        let mut d = PcmDecoder::new(48_000).expect("rate");
        assert_eq!(d.packet_samples(&p), Ok(960));
        assert!(d.has_fec(&p));
        assert!(!d.is_dtx(&p));
        let mut out = vec![0.0; 960];
        assert_eq!(d.decode(&p, &mut out), Ok(960));
        assert!(out.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-4));
        assert_eq!(d.decode_fec(&p, &mut out), Ok(960));
        assert!(out.iter().zip(&prev).all(|(a, b)| (a - b).abs() < 0.02));
        encode_dtx(960, &mut p);
        assert!(d.is_dtx(&p));
        assert_eq!(d.decode(&p, &mut out), Ok(960));
        assert!(out.iter().all(|v| v.abs() <= CN_LEVEL));
    }

    #[test]
    fn malformed_never_panics() {
        let d = PcmDecoder::new(16_000).expect("rate");
        for p in [
            &[][..],
            &[0],
            &[0, 1, 0],
            &[0, 0, 0, 0, 0],
            &[7, 1, 0],
            &[1, 1, 0, 9],
            &[0, 1, 0, 0, 0, 5, 0],
        ] {
            assert!(d.packet_samples(p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn conceal_continues_the_period_and_fades() {
        let mut d = PcmDecoder::new(16_000).expect("rate");
        let x: Vec<f32> = (0..320)
            .map(|i| (std::f32::consts::TAU * 200.0 * i as f32 / 16_000.0).sin() * 0.5)
            .collect();
        let mut p = Vec::new();
        encode(&x, None, &mut p);
        let mut out = vec![0.0; 320];
        d.decode(&p, &mut out).expect("valid");
        let mut c = vec![0.0; 160];
        d.conceal(&mut c).expect("conceal");
        // Continues the sine: the first concealed sample follows the last decoded one.
        let next = (std::f32::consts::TAU * 200.0 * 320.0 / 16_000.0).sin() * 0.5;
        assert!((c[0] - next).abs() < 0.05, "{} vs {next}", c[0]);
        for _ in 0..20 {
            d.conceal(&mut c).expect("conceal");
        }
        assert!(c.iter().all(|v| v.abs() < 1e-6));
    }
}
