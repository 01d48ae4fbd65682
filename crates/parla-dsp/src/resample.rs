//! Streaming sample-rate conversion with rubato.
//!
//! [`StreamResampler`] takes blocks of any size (up to the `max_block` it was built for) and
//! hands out blocks of any size, buffering in between: the shape a device callback and a 10 ms
//! frame loop need. Two modes:
//! - [`ResampleMode::Fixed`]: rubato's synchronous FFT resampler. Fast and of high quality, for a
//!   fixed ratio (file processing, device rate to processing rate).
//! - [`ResampleMode::Adjustable`]: rubato's asynchronous sinc resampler, whose ratio can be nudged
//!   while running ([`StreamResampler::set_ratio_relative`]) to follow clock drift between two
//!   devices or between a sender and a receiver.
//!
//! Equal rates pass samples through untouched with no delay.
//!
//! Why rubato: it is the maintained Rust resampler with an allocation-free `process_into_buffer`,
//! runtime SIMD dispatch and both a fixed and an adjustable mode, so we do not write our own.

use parla_core::{ConfigError, ProcessError};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, Resampler, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

/// Which rubato resampler to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResampleMode {
    /// Fixed ratio, FFT based (default).
    #[default]
    Fixed,
    /// Adjustable ratio (within ±1%), sinc interpolation, for clock-drift correction.
    Adjustable,
}

/// The largest relative ratio change [`ResampleMode::Adjustable`] accepts (±1%, ten times the
/// worst clock drift seen in practice).
pub const MAX_RELATIVE_RATIO: f64 = 1.01;

/// Sinc filter length of the adjustable mode (rubato's default quality/cost balance is 256; 128
/// halves the cost and keeps the passband flat to well above the speech band).
const SINC_LEN: usize = 128;

/// A streaming resampler of interleaved `f32` audio.
pub struct StreamResampler {
    inner: Option<Box<dyn Resampler<f32>>>,
    mode: ResampleMode,
    in_rate: u32,
    out_rate: u32,
    channels: usize,
    max_block: usize,
    in_buf: Vec<f32>,
    in_len: usize,
    scratch: Vec<f32>,
    out_buf: Vec<f32>,
    out_start: usize,
    out_end: usize,
    dropped: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("in_rate", &self.in_rate)
            .field("out_rate", &self.out_rate)
            .field("channels", &self.channels)
            .field("delay", &self.delay())
            .finish()
    }
}

fn backend_error(e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Backend {
        backend: "rubato",
        detail: e.to_string(),
    }
}

impl StreamResampler {
    /// A resampler from `in_rate` to `out_rate` for `channels` interleaved channels, accepting
    /// blocks of up to `max_block` frames per [`push`](Self::push). Allocates all buffers here.
    ///
    /// # Errors
    /// [`ConfigError::InvalidParameter`] for a zero rate, channel count or block size;
    /// [`ConfigError::Backend`] if rubato rejects the ratio.
    pub fn new(
        in_rate: u32,
        out_rate: u32,
        channels: usize,
        max_block: usize,
        mode: ResampleMode,
    ) -> Result<Self, ConfigError> {
        if in_rate == 0 || out_rate == 0 {
            return Err(ConfigError::InvalidParameter {
                name: "rate",
                detail: format!("rates must be positive, got {in_rate} -> {out_rate}"),
            });
        }
        if channels == 0 || max_block == 0 {
            return Err(ConfigError::InvalidParameter {
                name: "channels/max_block",
                detail: format!("need at least one channel and frame, got {channels}/{max_block}"),
            });
        }
        // 10 ms of input per rubato call keeps the added delay small.
        let chunk = (in_rate as usize).div_ceil(100);
        let inner: Option<Box<dyn Resampler<f32>>> = if in_rate == out_rate {
            None
        } else {
            match mode {
                ResampleMode::Fixed => Some(Box::new(
                    Fft::<f32>::new(
                        in_rate as usize,
                        out_rate as usize,
                        chunk,
                        channels,
                        FixedSync::Input,
                    )
                    .map_err(backend_error)?,
                )),
                ResampleMode::Adjustable => {
                    let params = SincInterpolationParameters {
                        sinc_len: SINC_LEN,
                        f_cutoff: None,
                        oversampling_factor: 128,
                        interpolation: SincInterpolationType::Cubic,
                        window: WindowFunction::BlackmanHarris2,
                    };
                    Some(Box::new(
                        Async::<f32>::new_sinc(
                            f64::from(out_rate) / f64::from(in_rate),
                            MAX_RELATIVE_RATIO,
                            &params,
                            chunk,
                            channels,
                            FixedAsync::Input,
                        )
                        .map_err(backend_error)?,
                    ))
                }
            }
        };
        let (in_max, out_max) = match &inner {
            Some(r) => (r.input_frames_max(), r.output_frames_max()),
            None => (0, 0),
        };
        let ratio = f64::from(out_rate) / f64::from(in_rate) * MAX_RELATIVE_RATIO;
        // Output from one push: at most every chunk the push completes, plus one.
        let out_per_push = ((max_block + in_max) as f64 * ratio).ceil() as usize + out_max;
        Ok(StreamResampler {
            inner,
            mode,
            in_rate,
            out_rate,
            channels,
            max_block,
            in_buf: vec![0.0; (in_max + max_block) * channels],
            in_len: 0,
            scratch: vec![0.0; out_max * channels],
            // Room for a few pushes' output, so a consumer pulling in other block sizes never
            // forces a drop in steady state.
            out_buf: vec![0.0; 4 * (out_per_push + max_block) * channels],
            out_start: 0,
            out_end: 0,
            dropped: 0,
        })
    }

    /// Input rate in Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Output rate in Hz.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// The largest block (in frames) one [`push`](Self::push) accepts.
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// The delay the resampler adds, in output frames (fractional): an event at input frame `i`
    /// appears at output frame `i * out_rate / in_rate + delay()`.
    ///
    /// For the fixed (FFT) mode this is rubato's `output_delay`, which we measured to within half
    /// an output frame. For the adjustable (sinc) mode rubato 5.1 reports
    /// `floor(sinc_len / 2 * ratio)`, but a pulse comes out at `sinc_len / 2 * ratio - 1` (measured
    /// over every rate pair in `tests/resample-accuracy.rs`), so we report the measured form.
    pub fn delay(&self) -> f64 {
        match (&self.inner, self.mode) {
            (None, _) => 0.0,
            (Some(r), ResampleMode::Fixed) => r.output_delay() as f64,
            (Some(r), ResampleMode::Adjustable) => (SINC_LEN / 2) as f64 * r.resample_ratio() - 1.0,
        }
    }

    /// [`delay`](Self::delay) rounded to whole output frames.
    pub fn delay_frames(&self) -> usize {
        self.delay().round().max(0.0) as usize
    }

    /// Output frames ready to [`pull`](Self::pull).
    pub fn available(&self) -> usize {
        (self.out_end - self.out_start) / self.channels
    }

    /// Output samples dropped because nobody pulled them in time (see the queue policy in
    /// `parla_core::queue`: the oldest are dropped).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Feed interleaved input (at most [`max_block`](Self::max_block) frames).
    ///
    /// # Real-time safety
    /// No allocation, lock or syscall: all buffers were sized in [`new`](Self::new).
    ///
    /// # Errors
    /// [`ProcessError::BufferTooSmall`] for a block longer than `max_block`;
    /// [`ProcessError::WrongLength`] if it is not a whole number of frames.
    pub fn push(&mut self, input: &[f32]) -> Result<(), ProcessError> {
        // RT: copies and rubato's allocation-free process_into_buffer only.
        let ch = self.channels;
        if !input.len().is_multiple_of(ch) {
            return Err(ProcessError::WrongLength {
                expected: input.len() - input.len() % ch,
                got: input.len(),
            });
        }
        if input.len() > self.max_block * ch {
            return Err(ProcessError::BufferTooSmall {
                needed: input.len(),
                got: self.max_block * ch,
            });
        }
        let Some(inner) = self.inner.as_mut() else {
            Self::append(
                &mut self.out_buf,
                &mut self.out_start,
                &mut self.out_end,
                &mut self.dropped,
                input,
            );
            return Ok(());
        };
        // A non-finite sample would turn rubato's FFT spectrum into NaN, which its inverse
        // real FFT rejects with an error rubato unwraps (a panic, tests/bad-samples.rs): it is
        // taken as silence. Finite samples pass unchanged.
        for (d, &x) in self.in_buf[self.in_len..self.in_len + input.len()]
            .iter_mut()
            .zip(input)
        {
            *d = if x.is_finite() { x } else { 0.0 };
        }
        self.in_len += input.len();
        loop {
            let need = inner.input_frames_next();
            if self.in_len < need * ch {
                break;
            }
            let src = InterleavedSlice::new(&self.in_buf[..need * ch], ch, need)
                .map_err(|_| ProcessError::Backend { code: -1 })?;
            let out_frames = self.scratch.len() / ch;
            let mut dst = InterleavedSlice::new_mut(&mut self.scratch[..], ch, out_frames)
                .map_err(|_| ProcessError::Backend { code: -2 })?;
            let (read, written) = inner
                .process_into_buffer(&src, &mut dst, None)
                .map_err(|_| ProcessError::Backend { code: -3 })?;
            self.in_buf.copy_within(read * ch..self.in_len, 0);
            self.in_len -= read * ch;
            Self::append(
                &mut self.out_buf,
                &mut self.out_start,
                &mut self.out_end,
                &mut self.dropped,
                &self.scratch[..written * ch],
            );
        }
        Ok(())
    }

    fn append(buf: &mut [f32], start: &mut usize, end: &mut usize, dropped: &mut u64, s: &[f32]) {
        if s.len() > buf.len() {
            // Cannot happen with the sizes chosen in `new`; keep the newest that fit.
            *dropped += (s.len() - buf.len() + (*end - *start)) as u64;
            buf.copy_from_slice(&s[s.len() - buf.len()..]);
            *start = 0;
            *end = buf.len();
            return;
        }
        if *end + s.len() > buf.len() {
            // Compact, and if still short, drop the oldest.
            let live = *end - *start;
            let over = (live + s.len()).saturating_sub(buf.len());
            *dropped += over as u64;
            buf.copy_within(*start + over..*end, 0);
            *start = 0;
            *end = live - over;
        }
        buf[*end..*end + s.len()].copy_from_slice(s);
        *end += s.len();
    }

    /// Fill `out` (interleaved) if enough output is ready; returns whether it did. Nothing is
    /// consumed when it returns `false`.
    ///
    /// # Real-time safety
    /// No allocation, lock or syscall.
    pub fn pull(&mut self, out: &mut [f32]) -> bool {
        // RT: a copy out of the FIFO.
        if self.out_end - self.out_start < out.len() {
            return false;
        }
        out.copy_from_slice(&self.out_buf[self.out_start..self.out_start + out.len()]);
        self.out_start += out.len();
        if self.out_start == self.out_end {
            self.out_start = 0;
            self.out_end = 0;
        }
        true
    }

    /// Change the ratio relative to the nominal `out_rate / in_rate` (e.g. `1.0005` plays 500 ppm
    /// faster), in [`ResampleMode::Adjustable`]; the change is ramped over the next chunk.
    ///
    /// # Errors
    /// [`ProcessError::Backend`] in fixed mode, for equal rates, or outside ±1%.
    pub fn set_ratio_relative(&mut self, relative: f64) -> Result<(), ProcessError> {
        // RT: rubato only stores the new ratio.
        let Some(adj) = self.inner.as_mut().and_then(|r| r.as_adjustable()) else {
            return Err(ProcessError::Backend { code: -4 });
        };
        adj.set_resample_ratio_relative(relative, true)
            .map_err(|_| ProcessError::Backend { code: -5 })
    }

    /// Forget all buffered signal (as after a device switch).
    pub fn reset(&mut self) {
        if let Some(r) = self.inner.as_mut() {
            r.reset();
        }
        self.in_len = 0;
        self.out_start = 0;
        self.out_end = 0;
    }

    /// Offline convenience: resample a whole signal, trimming the delay so that the output lines
    /// up with the input and has `round(len * out_rate / in_rate)` frames. Allocates; not for the
    /// real-time path.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn process_all(&mut self, input: &[f32]) -> Result<Vec<f32>, ProcessError> {
        let ch = self.channels;
        let frames_in = input.len() / ch;
        let expected = (frames_in as u64 * u64::from(self.out_rate))
            .div_ceil(u64::from(self.in_rate)) as usize;
        let skip = self.delay_frames();
        let mut out = Vec::with_capacity((expected + skip) * ch);
        let mut block = vec![0.0; self.max_block * ch];
        let zeros = vec![0.0; self.max_block * ch];
        let drain = |s: &mut Self, out: &mut Vec<f32>| {
            let n = s.available();
            let start = out.len();
            out.resize(start + n * ch, 0.0);
            s.pull(&mut out[start..]);
        };
        for chunk in input.chunks(self.max_block * ch) {
            block[..chunk.len()].copy_from_slice(chunk);
            self.push(&block[..chunk.len()])?;
            drain(self, &mut out);
        }
        let mut guard = 0;
        while out.len() < (expected + skip) * ch && guard < 1000 {
            self.push(&zeros)?;
            drain(self, &mut out);
            guard += 1;
        }
        let start = (skip * ch).min(out.len());
        let mut trimmed = out.split_off(start);
        trimmed.truncate(expected * ch);
        Ok(trimmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passthrough_for_equal_rates() {
        let mut r = StreamResampler::new(48_000, 48_000, 1, 480, ResampleMode::Fixed).unwrap();
        assert_eq!(r.delay_frames(), 0);
        r.push(&[1.0, 2.0, 3.0]).unwrap();
        let mut out = [0.0; 2];
        assert!(r.pull(&mut out));
        assert_eq!(out, [1.0, 2.0]);
        assert!(!r.pull(&mut out));
        assert_eq!(r.available(), 1);
    }

    #[test]
    fn rejects_bad_blocks() {
        let mut r = StreamResampler::new(44_100, 48_000, 2, 441, ResampleMode::Fixed).unwrap();
        assert!(matches!(
            r.push(&[0.0; 3]),
            Err(ProcessError::WrongLength { .. })
        ));
        assert!(matches!(
            r.push(&[0.0; 2 * 442]),
            Err(ProcessError::BufferTooSmall { .. })
        ));
        assert!(r.set_ratio_relative(1.001).is_err(), "fixed mode");
        assert!(StreamResampler::new(0, 48_000, 1, 480, ResampleMode::Fixed).is_err());
        assert!(StreamResampler::new(48_000, 16_000, 0, 480, ResampleMode::Fixed).is_err());
    }

    #[test]
    fn adjustable_ratio_changes_output_count() {
        let mut r = StreamResampler::new(48_000, 16_000, 1, 480, ResampleMode::Adjustable).unwrap();
        assert!(r.set_ratio_relative(1.2).is_err(), "outside ±1%");
        r.set_ratio_relative(1.005).unwrap();
        let input = vec![0.1f32; 480];
        let mut produced = 0usize;
        let mut out = [0.0f32; 16];
        for _ in 0..200 {
            r.push(&input).unwrap();
            while r.pull(&mut out) {
                produced += out.len();
            }
        }
        // 2 s of input at 48 kHz -> 32000 frames at 16 kHz, +0.5% = 32160, less the delay.
        let expected = 32_160.0 - r.delay_frames() as f64;
        assert!(
            (produced as f64 - expected).abs() < 40.0,
            "produced {produced}, expected about {expected}"
        );
    }
}
