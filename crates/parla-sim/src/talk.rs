//! The talkers: the bundled speech (embedded in the library, so a demo runs from any directory)
//! and the turn-taking conversation both ends speak, computed sample by sample rather than
//! stored.

use crate::SimError;

/// The simulation's rate, Hz.
pub const RATE: u32 = 48_000;

/// `samples/near_speech_clean.wav` (espeak-ng, 48 kHz mono 16-bit; `samples/PROVENANCE.md`).
static NEAR_WAV: &[u8] = include_bytes!("../../../samples/near_speech_clean.wav");
/// `samples/far_speech_clean.wav`.
static FAR_WAV: &[u8] = include_bytes!("../../../samples/far_speech_clean.wav");

/// One of the speech recordings bundled with Parla.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bundled {
    /// `samples/near_speech_clean.wav` (10.7 s): talker A of `parla call` by default.
    Near,
    /// `samples/far_speech_clean.wav` (6.8 s): talker B of `parla call` by default.
    Far,
}

impl Bundled {
    /// The file name it was bundled from.
    pub fn file_name(self) -> &'static str {
        match self {
            Bundled::Near => "near_speech_clean.wav",
            Bundled::Far => "far_speech_clean.wav",
        }
    }

    /// The WAV file's bytes.
    pub fn wav_bytes(self) -> &'static [u8] {
        match self {
            Bundled::Near => NEAR_WAV,
            Bundled::Far => FAR_WAV,
        }
    }

    /// The samples (mono, 48 kHz, in [-1, 1]).
    ///
    /// # Errors
    /// [`SimError::Wav`] if the embedded file does not decode (a broken build).
    pub fn samples(self) -> Result<Vec<f32>, SimError> {
        let wav = |source| SimError::Wav {
            what: format!("bundled {}", self.file_name()),
            source,
        };
        let r = hound::WavReader::new(std::io::Cursor::new(self.wav_bytes())).map_err(wav)?;
        let spec = r.spec();
        let scale = 1.0 / (1i64 << (spec.bits_per_sample.max(1) - 1)) as f32;
        let ch = usize::from(spec.channels.max(1));
        let inter: Vec<f32> = r
            .into_samples::<i32>()
            .map(|s| s.map(|v| v as f32 * scale))
            .collect::<Result<_, _>>()
            .map_err(wav)?;
        Ok(inter
            .chunks(ch)
            .map(|c| c.iter().sum::<f32>() / ch as f32)
            .collect())
    }
}

/// Shortest talker recording accepted, samples (1 s): the turn taking below needs each turn
/// to outlast the 0.5 s overlap.
pub const MIN_TALKER: usize = RATE as usize;

/// The clean speech of both talkers over a call: they take turns (A, then B starting 0.5 s
/// before A ends, then a 0.5 s pause, A again...), so each side has far-end single talk (for
/// ERLE) and a little double talk. Periodic, so any sample is computed on demand.
#[derive(Debug, Clone)]
pub struct Conversation {
    a: Vec<f32>,
    b: Vec<f32>,
    /// Where B's first turn starts.
    b_offset: usize,
    period: usize,
}

/// Which talker of a [`Conversation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Talker A.
    A,
    /// Talker B.
    B,
}

impl Conversation {
    /// The conversation of two recordings (48 kHz mono).
    ///
    /// # Errors
    /// [`SimError::Config`] for a recording shorter than [`MIN_TALKER`].
    pub fn new(a: Vec<f32>, b: Vec<f32>) -> Result<Self, SimError> {
        for (name, t) in [("A", &a), ("B", &b)] {
            if t.len() < MIN_TALKER {
                return Err(SimError::Config(format!(
                    "talker {name} is {:.2} s long; a talker needs at least 1 s of speech",
                    t.len() as f64 / f64::from(RATE)
                )));
            }
        }
        let overlap = RATE as usize / 2;
        let gap = RATE as usize / 2;
        let b_offset = a.len() - overlap;
        let period = b_offset + b.len() + gap;
        Ok(Conversation {
            a,
            b,
            b_offset,
            period,
        })
    }

    /// Fill `out` with `who`'s clean speech from sample `start` on.
    pub fn fill(&self, who: Who, start: usize, out: &mut [f32]) {
        let (src, offset) = match who {
            Who::A => (&self.a, 0),
            Who::B => (&self.b, self.b_offset),
        };
        for (i, o) in out.iter_mut().enumerate() {
            let t = start + i;
            *o = if t < offset {
                0.0
            } else {
                src.get((t - offset) % self.period).copied().unwrap_or(0.0)
            };
        }
    }

    /// The level of `who`'s loudest whole frame of `frame` samples over the first `n` samples,
    /// dBFS (what [`parla_metrics::echo::peak_frame_db`] gives on the stored signal).
    pub fn peak_frame_db(&self, who: Who, n: usize, frame: usize) -> f64 {
        let mut buf = vec![0.0f32; frame];
        let mut peak = -200.0f64;
        let mut start = 0;
        while start + frame <= n {
            self.fill(who, start, &mut buf);
            peak = peak.max(parla_metrics::rms_db(&buf));
            start += frame;
        }
        peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conversation as it used to be built: two whole signals.
    fn stored(a: &[f32], b: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
        let overlap = RATE as usize / 2;
        let mut xa = vec![0.0f32; n];
        let mut xb = vec![0.0f32; n];
        let mut t = 0usize;
        while t < n {
            for (i, &v) in a.iter().enumerate() {
                if let Some(s) = xa.get_mut(t + i) {
                    *s = v;
                }
            }
            t = (t + a.len()).saturating_sub(overlap);
            for (i, &v) in b.iter().enumerate() {
                if let Some(s) = xb.get_mut(t + i) {
                    *s = v;
                }
            }
            t += b.len() + overlap;
        }
        (xa, xb)
    }

    #[test]
    fn bundled_speech_decodes_and_the_turns_match_the_stored_conversation() {
        let a = Bundled::Near.samples().expect("near");
        let b = Bundled::Far.samples().expect("far");
        assert!(
            (10.0..11.5).contains(&(a.len() as f64 / 48_000.0)),
            "{}",
            a.len()
        );
        assert!(
            (6.0..7.5).contains(&(b.len() as f64 / 48_000.0)),
            "{}",
            b.len()
        );
        let n = 48_000 * 45;
        let (xa, xb) = stored(&a, &b, n);
        let c = Conversation::new(a, b).expect("long enough");
        let mut got = vec![0.0f32; n];
        c.fill(Who::A, 0, &mut got);
        assert_eq!(got, xa);
        // Piece by piece from an odd start.
        c.fill(Who::B, 0, &mut got[..12_345]);
        c.fill(Who::B, 12_345, &mut got[12_345..]);
        assert_eq!(got, xb);
        assert_eq!(
            c.peak_frame_db(Who::B, n, 480),
            parla_metrics::echo::peak_frame_db(&xb, 480)
        );
    }

    #[test]
    fn short_talkers_are_refused() {
        let e = Conversation::new(vec![0.1; 100], vec![0.1; 48_000]).unwrap_err();
        assert!(e.to_string().contains("talker A"), "{e}");
    }
}
