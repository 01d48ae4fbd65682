//! The send chain: device/file rate -> processing rate -> [echo cancel] -> noise suppress ->
//! output rate, on 10 ms frames, with per-stage CPU timing.
//!
//! ```text
//! mic (any rate, any block) -> resample_in -> 10 ms frames at the processing rate
//!     -> echo canceller (far-end reference from push_render) -> noise suppressor
//!     -> [high-pass filter + AGC2] -> ...
//!     -> resample_out (codec rate live, the input rate offline) -> pull
//! ```
//!
//! The chain is a streaming object: [`SendChain::push_capture`] accepts blocks of any size up to
//! the configured `max_block`, processes every 10 ms frame that becomes complete, and
//! [`SendChain::pull`] hands out the result in blocks of any size. Everything is sized in
//! [`SendChain::new`]; the push/pull path never allocates.
//!
//! Timing: when enabled, each stage is timed with the monotonic clock (`Instant::now`, a vDSO
//! read on Linux, no syscall) into a preallocated [`LatencyHistogram`].

use std::time::{Duration, Instant};

use parla_core::format::{AudioFormat, check_processing_rate};
use parla_core::frame::level_dbfs;
use parla_core::stats::LatencyHistogram;
use parla_core::{ConfigError, FrameMeta, MediaTime, ProcessError};

use crate::agc::{GainConfig, GainControl};
use crate::ns::NoiseSuppressor;
use crate::resample::{ResampleMode, StreamResampler};
use crate::stage::{EchoStage, Stage};

/// How to build a [`SendChain`]. A builder with chained setters; `new(rate)` gives the defaults:
/// 48 kHz processing, output at the input rate, noise suppression on at full strength, fixed-ratio
/// resampling, timing on, blocks of up to 100 ms.
#[derive(Debug, Clone, PartialEq)]
pub struct SendChainConfig {
    /// Rate of the signal pushed in (device or file rate).
    pub input_rate: u32,
    /// Rate the stages run at (16, 32 or 48 kHz; noise suppression needs 48 kHz).
    pub processing_rate: u32,
    /// Rate of the signal pulled out (the codec rate live; the input rate offline).
    pub output_rate: u32,
    /// Rate of the far-end (render) signal fed with [`SendChain::push_render`]: the playout
    /// rate, which may differ from the microphone's. `None`: the input rate.
    pub render_rate: Option<u32>,
    /// Largest block, in frames at the input rate, that one push accepts.
    pub max_block: usize,
    /// Run the noise suppressor.
    pub noise_suppression: bool,
    /// Noise-suppression strength in `[0, 1]`.
    pub ns_strength: f32,
    /// Blend RNNoise with the spectral suppressor by the estimated SNR (`ns` module docs);
    /// `false` (the default): RNNoise alone. Off by default because behind an echo canceller
    /// the blend lets the residual echo through that RNNoise removes (measured: the harness's
    /// `chain/dt-d40` ERLE fell from above 10 dB to below it); the `ns` suite turns it on.
    pub ns_adaptive: bool,
    /// High-pass filter and AGC2 after noise suppression ([`crate::agc`]); `None` (the default
    /// here, which keeps offline processing level-neutral) leaves the level alone. Calls should
    /// run `Some(GainConfig::default())` (both on, as libwebrtc does).
    pub gain: Option<GainConfig>,
    /// Resampler kind at both ends.
    pub resample_mode: ResampleMode,
    /// Record per-stage CPU time.
    pub timing: bool,
}

impl SendChainConfig {
    /// The defaults for input at `input_rate` Hz.
    pub fn new(input_rate: u32) -> Self {
        SendChainConfig {
            input_rate,
            processing_rate: parla_core::format::DEFAULT_PROCESSING_RATE,
            output_rate: input_rate,
            render_rate: None,
            max_block: (input_rate as usize / 10).max(1),
            noise_suppression: true,
            ns_strength: 1.0,
            ns_adaptive: false,
            gain: None,
            resample_mode: ResampleMode::Fixed,
            timing: true,
        }
    }

    /// Set the processing rate.
    pub fn processing_rate(mut self, rate: u32) -> Self {
        self.processing_rate = rate;
        self
    }

    /// Set the output rate.
    pub fn output_rate(mut self, rate: u32) -> Self {
        self.output_rate = rate;
        self
    }

    /// Set the far-end (render) rate; `None` means the input rate.
    pub fn render_rate(mut self, rate: Option<u32>) -> Self {
        self.render_rate = rate;
        self
    }

    /// Set the largest block one push accepts.
    pub fn max_block(mut self, frames: usize) -> Self {
        self.max_block = frames;
        self
    }

    /// Switch noise suppression on or off.
    pub fn noise_suppression(mut self, on: bool) -> Self {
        self.noise_suppression = on;
        self
    }

    /// Set the noise-suppression strength.
    pub fn ns_strength(mut self, strength: f32) -> Self {
        self.ns_strength = strength;
        self
    }

    /// Switch the SNR-driven noise-suppression blend on or off.
    pub fn ns_adaptive(mut self, on: bool) -> Self {
        self.ns_adaptive = on;
        self
    }

    /// Set the high-pass filter and AGC2 stage (`None`: off).
    pub fn gain(mut self, gain: Option<GainConfig>) -> Self {
        self.gain = gain;
        self
    }

    /// Set the resampler kind.
    pub fn resample_mode(mut self, mode: ResampleMode) -> Self {
        self.resample_mode = mode;
        self
    }

    /// Switch per-stage timing on or off.
    pub fn timing(mut self, on: bool) -> Self {
        self.timing = on;
        self
    }
}

/// CPU time spent in one stage.
#[derive(Debug, Clone)]
pub struct StageTiming {
    /// The stage's name.
    pub name: &'static str,
    /// Time per call: per 10 ms frame for stages, per push/pull for the resamplers.
    pub histogram: LatencyHistogram,
}

/// The send chain. See the module docs.
pub struct SendChain {
    cfg: SendChainConfig,
    frame_len: usize,
    front: Front,
    back: Back,
    frame_a: Vec<f32>,
    frame_b: Vec<f32>,
    /// Index 0: resample_in, then echo (if any): the front's [`Front::slots`]; then the
    /// stages, then resample_out, then total.
    timings: Vec<StageTiming>,
    frames: u64,
    last_meta: FrameMeta,
}

/// The chain's head: the input resampler and the echo canceller with its far-end resampler.
/// A pipelined offline run ([`SendChain::offline_split`]) runs it on one thread and [`Back`]
/// on another; a [`SendChain`] runs both in turn. One code path for both, so their output is
/// the same bit for bit.
struct Front {
    in_rs: StreamResampler,
    far_rs: Option<StreamResampler>,
    echo: Option<Box<dyn EchoStage>>,
    far_frame: Vec<f32>,
    render_underruns: u64,
}

impl Front {
    /// Timing slots the front records: resample_in, then the echo canceller if there is one.
    fn slots(&self) -> usize {
        1 + usize::from(self.echo.is_some())
    }

    /// Feed microphone audio to the input resampler, timed into `timings[0]`.
    fn push_capture(
        &mut self,
        mic: &[f32],
        timings: &mut [StageTiming],
        timing: bool,
    ) -> Result<(), ProcessError> {
        // RT: resampler push into preallocated buffers.
        let t0 = timing.then(Instant::now);
        self.in_rs.push(mic)?;
        if let Some(t0) = t0 {
            timings[T_RESAMPLE_IN].histogram.record(t0.elapsed());
        }
        Ok(())
    }

    /// Run the echo canceller (if any) on the frame in `a` (`b` is scratch; the result ends in
    /// `a`), pairing it with the next far-end frame, timed into `timings[1]`.
    fn process(
        &mut self,
        a: &mut Vec<f32>,
        b: &mut Vec<f32>,
        meta: &mut FrameMeta,
        timings: &mut [StageTiming],
        timing: bool,
    ) -> Result<(), ProcessError> {
        // RT: the echo canceller's process_render/process_into only.
        if let Some(echo) = self.echo.as_mut() {
            let t = timing.then(Instant::now);
            let got_far = self
                .far_rs
                .as_mut()
                .is_some_and(|rs| rs.pull(&mut self.far_frame));
            if !got_far {
                self.far_frame.fill(0.0);
                self.render_underruns += 1;
            }
            echo.process_render(&self.far_frame)?;
            echo.process_into(a, b, meta)?;
            std::mem::swap(a, b);
            if let Some(t) = t {
                timings[1].histogram.record(t.elapsed());
            }
        }
        Ok(())
    }
}

/// The chain's tail: the stages after the echo canceller and the output resampler.
struct Back {
    stages: Vec<Box<dyn Stage>>,
    out_rs: StreamResampler,
}

impl Back {
    /// Run the stages on the frame in `a` (`b` is scratch) and push the result into the output
    /// resampler, timed into `timings` (one slot per stage, then resample_out).
    fn process(
        &mut self,
        a: &mut Vec<f32>,
        b: &mut Vec<f32>,
        meta: &mut FrameMeta,
        timings: &mut [StageTiming],
        timing: bool,
    ) -> Result<(), ProcessError> {
        // RT: the stages' process_into and a resampler push only.
        let mut slot = 0;
        for stage in self.stages.iter_mut() {
            let t = timing.then(Instant::now);
            stage.process_into(a, b, meta)?;
            std::mem::swap(a, b);
            if let Some(t) = t {
                timings[slot].histogram.record(t.elapsed());
            }
            slot += 1;
        }
        meta.level_dbfs = Some(level_dbfs(a));
        let t = timing.then(Instant::now);
        self.out_rs.push(a)?;
        if let Some(t) = t {
            timings[slot].histogram.record(t.elapsed());
        }
        Ok(())
    }
}

impl std::fmt::Debug for SendChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendChain")
            .field("cfg", &self.cfg)
            .field("frames", &self.frames)
            .finish()
    }
}

const T_RESAMPLE_IN: usize = 0;

impl SendChain {
    /// Build and prepare the chain. Allocates everything it will use.
    ///
    /// # Errors
    /// [`ConfigError`] for an unsupported input, processing or output rate, noise suppression at
    /// a processing rate other than 48 kHz, or a zero block size.
    pub fn new(cfg: SendChainConfig) -> Result<Self, ConfigError> {
        AudioFormat::mono(cfg.input_rate)?;
        AudioFormat::mono(cfg.output_rate)?;
        check_processing_rate(cfg.processing_rate)?;
        if cfg.max_block == 0 {
            return Err(ConfigError::InvalidParameter {
                name: "max_block",
                detail: "must be at least one frame".into(),
            });
        }
        let frame_len = cfg.processing_rate as usize / 100;
        let in_rs = StreamResampler::new(
            cfg.input_rate,
            cfg.processing_rate,
            1,
            cfg.max_block,
            cfg.resample_mode,
        )?;
        let out_rs = StreamResampler::new(
            cfg.processing_rate,
            cfg.output_rate,
            1,
            frame_len,
            cfg.resample_mode,
        )?;
        let mut stages: Vec<Box<dyn Stage>> = Vec::new();
        if cfg.noise_suppression {
            let mut ns = NoiseSuppressor::new();
            ns.set_strength(cfg.ns_strength);
            ns.set_adaptive(cfg.ns_adaptive);
            ns.prepare(cfg.processing_rate, frame_len)?;
            stages.push(Box::new(ns));
        }
        if let Some(g) = cfg.gain {
            let mut gain = GainControl::new(g);
            gain.prepare(cfg.processing_rate, frame_len)?;
            stages.push(Box::new(gain));
        }
        let mut chain = SendChain {
            frame_len,
            front: Front {
                in_rs,
                far_rs: None,
                echo: None,
                far_frame: vec![0.0; frame_len],
                render_underruns: 0,
            },
            back: Back { stages, out_rs },
            frame_a: vec![0.0; frame_len],
            frame_b: vec![0.0; frame_len],
            timings: Vec::new(),
            frames: 0,
            last_meta: FrameMeta::default(),
            cfg,
        };
        chain.rebuild_timings();
        Ok(chain)
    }

    fn rebuild_timings(&mut self) {
        let mut names = vec!["resample_in"];
        if let Some(e) = &self.front.echo {
            names.push(e.name());
        }
        names.extend(self.back.stages.iter().map(|s| s.name()));
        names.push("resample_out");
        names.push("total");
        self.timings = names
            .into_iter()
            .map(|name| StageTiming {
                name,
                histogram: LatencyHistogram::new(),
            })
            .collect();
    }

    /// Put an echo canceller at the head of the chain (prepared here at the processing rate).
    /// The far-end signal is then fed with [`push_render`](Self::push_render) at the input rate.
    ///
    /// # Errors
    /// What the echo canceller's `prepare` returns.
    pub fn set_echo_canceller(&mut self, mut echo: Box<dyn EchoStage>) -> Result<(), ConfigError> {
        echo.prepare(self.cfg.processing_rate, self.frame_len)?;
        let render_rate = self.cfg.render_rate.unwrap_or(self.cfg.input_rate);
        AudioFormat::mono(render_rate)?;
        // A block of `max_block` input frames lasts as long as this many render frames.
        let render_block = (self.cfg.max_block as u64 * u64::from(render_rate))
            .div_ceil(u64::from(self.cfg.input_rate)) as usize;
        self.front.far_rs = Some(StreamResampler::new(
            render_rate,
            self.cfg.processing_rate,
            1,
            render_block.max(1),
            self.cfg.resample_mode,
        )?);
        self.front.echo = Some(echo);
        self.rebuild_timings();
        Ok(())
    }

    /// The configuration the chain was built with.
    pub fn config(&self) -> &SendChainConfig {
        &self.cfg
    }

    /// Samples per 10 ms frame at the processing rate.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Feed far-end (playout) audio at the render rate (the input rate unless
    /// [`SendChainConfig::render_rate`] says otherwise), mono. Each capture frame consumes one
    /// far-end frame before it is processed (render before capture, the echo canceller's pairing
    /// rule); push the far end that was played during a capture block before that block.
    /// Without an echo canceller this does nothing.
    ///
    /// # Real-time safety
    /// No allocation, lock or syscall.
    ///
    /// # Errors
    /// As [`StreamResampler::push`].
    pub fn push_render(&mut self, far: &[f32]) -> Result<(), ProcessError> {
        // RT: resampler push into preallocated buffers.
        self.front.push_render(far)
    }

    /// Feed microphone audio at the input rate, mono, at most `max_block` frames, and process
    /// every 10 ms frame that becomes complete. Returns the number of frames processed.
    ///
    /// # Real-time safety
    /// No allocation, lock or syscall (timing reads the vDSO monotonic clock).
    ///
    /// # Errors
    /// [`ProcessError`] from the resamplers or a stage; the chain stays usable.
    pub fn push_capture(&mut self, mic: &[f32]) -> Result<usize, ProcessError> {
        // RT: preallocated buffers, stages' process_into only.
        self.front
            .push_capture(mic, &mut self.timings, self.cfg.timing)?;
        self.process_ready()
    }

    /// Process every frame the input resampler has ready; returns how many.
    fn process_ready(&mut self) -> Result<usize, ProcessError> {
        let mut n = 0;
        while self.front.in_rs.pull(&mut self.frame_a) {
            self.process_frame()?;
            n += 1;
        }
        Ok(n)
    }

    fn process_frame(&mut self) -> Result<(), ProcessError> {
        let timing = self.cfg.timing;
        let start = timing.then(Instant::now);
        let mut meta = frame_meta(self.frames, self.frame_len, self.cfg.processing_rate);
        let (front_t, back_t) = self.timings.split_at_mut(self.front.slots());
        self.front.process(
            &mut self.frame_a,
            &mut self.frame_b,
            &mut meta,
            front_t,
            timing,
        )?;
        self.back.process(
            &mut self.frame_a,
            &mut self.frame_b,
            &mut meta,
            back_t,
            timing,
        )?;
        if let (Some(start), Some(total)) = (start, back_t.last_mut()) {
            total.histogram.record(start.elapsed());
        }
        self.last_meta = meta;
        self.frames += 1;
        Ok(())
    }

    /// Output samples ready to pull.
    pub fn available(&self) -> usize {
        self.back.out_rs.available()
    }

    /// Fill `out` with processed audio at the output rate if enough is ready; returns whether it
    /// did (nothing is consumed otherwise).
    ///
    /// # Real-time safety
    /// No allocation, lock or syscall.
    pub fn pull(&mut self, out: &mut [f32]) -> bool {
        // RT: a copy.
        self.back.out_rs.pull(out)
    }

    /// 10 ms frames processed so far.
    pub fn frames_processed(&self) -> u64 {
        self.frames
    }

    /// Capture frames that found no far-end frame and were paired with silence.
    pub fn render_underruns(&self) -> u64 {
        self.front.render_underruns
    }

    /// What the stages reported about the last frame.
    pub fn last_meta(&self) -> FrameMeta {
        self.last_meta
    }

    /// Per-stage CPU time so far, in chain order, then `total` per frame.
    pub fn timings(&self) -> &[StageTiming] {
        &self.timings
    }

    /// The chain's end-to-end delay in seconds: resamplers plus stage latencies.
    pub fn latency_seconds(&self) -> f64 {
        let proc = f64::from(self.cfg.processing_rate);
        let stage_samples: usize = self
            .back
            .stages
            .iter()
            .map(|s| s.latency_samples())
            .sum::<usize>()
            + self.front.echo.as_ref().map_or(0, |e| e.latency_samples());
        self.front.in_rs.delay() / proc
            + stage_samples as f64 / proc
            + self.back.out_rs.delay() / f64::from(self.cfg.output_rate)
    }

    /// The chain's delay in whole output samples (rounded).
    pub fn latency_output_samples(&self) -> usize {
        (self.latency_seconds() * f64::from(self.cfg.output_rate)).round() as usize
    }

    /// Offline: run a whole recording (and optionally its far end) through the chain and return
    /// the output aligned with the input (the chain's delay trimmed) with the length the input has
    /// at the output rate. Allocates (the whole output is held); not for the real-time path. For
    /// long recordings use [`offline`](Self::offline), which gives the same samples block by block
    /// in bounded memory.
    ///
    /// # Errors
    /// [`ProcessError`] from a stage.
    pub fn process_offline(
        &mut self,
        mic: &[f32],
        far: Option<&[f32]>,
    ) -> Result<Vec<f32>, ProcessError> {
        self.process_offline_with_progress(mic, far, &mut |_| {})
    }

    /// As [`process_offline`](Self::process_offline), calling `progress(input_frames_done)`
    /// after each block.
    ///
    /// # Errors
    /// [`ProcessError`] from a stage.
    pub fn process_offline_with_progress(
        &mut self,
        mic: &[f32],
        far: Option<&[f32]>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>, ProcessError> {
        let mut run = self.offline(mic.len());
        let mut out = Vec::with_capacity(run.output_len());
        let mut done = 0;
        while run.next_block_len() > 0 {
            let chunk = &mic[done..done + run.next_block_len()];
            // The far end's matching stretch, short (or empty) once the far end has ended.
            let far = far.map(|f| &f[done.min(f.len())..(done + chunk.len()).min(f.len())]);
            out.extend_from_slice(run.push(chunk, far)?);
            done += chunk.len();
            progress(done);
        }
        out.extend_from_slice(run.finish()?);
        Ok(out)
    }

    /// Offline, streaming: start running a recording of `input_len` frames at the input rate
    /// through the chain in blocks (see [`OfflineRun`]). The output comes out aligned with the
    /// input (the chain's delay trimmed), `output_len()` samples in all, sample for sample what
    /// [`process_offline`](Self::process_offline) returns for the same input; memory stays
    /// bounded by a few blocks whatever the recording's length. Not for the real-time path (its
    /// output buffer may grow on the first blocks).
    pub fn offline(&mut self, input_len: usize) -> OfflineRun<'_> {
        let (feed, aligner) = self.offline_parts(input_len);
        OfflineRun {
            feed,
            aligner,
            chain: self,
        }
    }

    /// Offline, streaming, in two halves that may run on two threads: the same run as
    /// [`offline`](Self::offline), with the chain split after the echo canceller. The
    /// [`OfflineFront`] feeds the input and runs the input resampler and the echo canceller,
    /// handing out one [`SplitFrame`] per 10 ms frame; the [`OfflineBack`] runs the rest of the
    /// stages and the output resampler on those frames, in the same order, and gives the aligned
    /// output. Both halves run the code a [`SendChain`] runs, so the output is the same bit for
    /// bit; the chain's counters and timings are updated as by [`offline`](Self::offline) (the
    /// `total` timing is the sum of both halves' time per frame).
    ///
    /// The caller moves the frames (and recycles them: [`OfflineFront::new_frame`] allocates,
    /// nothing else does). After the last block, flush the chain's delay: while the back is not
    /// [`is_complete`](OfflineBack::is_complete) once it has processed every frame sent so
    /// far, [`OfflineFront::push_silence`] one more block and send its frames.
    ///
    /// ```
    /// use parla_dsp::chain::{SendChain, SendChainConfig};
    /// let mic = vec![0.01f32; 4_800];
    /// let mut chain = SendChain::new(SendChainConfig::new(48_000)).unwrap();
    /// let (mut front, mut back) = chain.offline_split(mic.len());
    /// let mut frame = front.new_frame(); // several, recycled, when the halves are on two threads
    /// let mut out = Vec::new();
    /// while front.next_block_len() > 0 {
    ///     let (s, n) = (front.input_done(), front.next_block_len());
    ///     front.push(&mic[s..s + n], None).unwrap();
    ///     while front.next_frame(&mut frame).unwrap() {
    ///         out.extend_from_slice(back.push_frame(&mut frame).unwrap());
    ///     }
    /// }
    /// while !back.is_complete() && front.push_silence().unwrap() {
    ///     while front.next_frame(&mut frame).unwrap() {
    ///         out.extend_from_slice(back.push_frame(&mut frame).unwrap());
    ///     }
    /// }
    /// assert_eq!(out.len(), mic.len());
    /// ```
    pub fn offline_split(&mut self, input_len: usize) -> (OfflineFront<'_>, OfflineBack<'_>) {
        let (feed, aligner) = self.offline_parts(input_len);
        let timing = self.cfg.timing;
        let (front_t, back_t) = self.timings.split_at_mut(self.front.slots());
        let front = OfflineFront {
            front: &mut self.front,
            timings: front_t,
            timing,
            rate: self.cfg.processing_rate,
            frame_len: self.frame_len,
            frames: self.frames,
            feed,
            flushed: 0,
            scratch: vec![0.0; self.frame_len],
        };
        let back = OfflineBack {
            back: &mut self.back,
            timings: back_t,
            frames: &mut self.frames,
            last_meta: &mut self.last_meta,
            timing,
            frame_len: self.frame_len,
            aligner,
            scratch: vec![0.0; self.frame_len],
        };
        (front, back)
    }

    /// The input and output sides of an offline run of `input_len` frames.
    fn offline_parts(&self, input_len: usize) -> (Feed, Aligner) {
        let block = (self.cfg.input_rate as usize)
            .div_ceil(100)
            .min(self.cfg.max_block);
        let expected = (input_len as u64 * u64::from(self.cfg.output_rate))
            .div_ceil(u64::from(self.cfg.input_rate)) as usize;
        let skip = self.latency_output_samples();
        let feed = Feed {
            block,
            input_len,
            pushed: 0,
            zeros: vec![0.0; block],
        };
        let aligner = Aligner {
            expected,
            skip_left: skip,
            emitted: 0,
            out: Vec::with_capacity(4 * block + skip),
        };
        (feed, aligner)
    }
}

/// Metadata of the chain's frame number `frames`: its timestamp.
fn frame_meta(frames: u64, frame_len: usize, rate: u32) -> FrameMeta {
    FrameMeta {
        timestamp: MediaTime::from_samples(frames * frame_len as u64, rate),
        ..FrameMeta::default()
    }
}

impl Front {
    /// Feed one offline block: the far end's stretch (padded with silence to the microphone's
    /// length once the far end has ended), then the microphone.
    fn push_block(
        &mut self,
        mic: &[f32],
        far: Option<&[f32]>,
        zeros: &[f32],
        timings: &mut [StageTiming],
        timing: bool,
    ) -> Result<(), ProcessError> {
        if let Some(far) = far {
            self.push_render(far)?;
            if far.len() < mic.len() {
                // The far end ended first: pad with silence so pairing stays exact.
                self.push_render(&zeros[..mic.len() - far.len()])?;
            }
        }
        self.push_capture(mic, timings, timing)
    }

    /// Feed far-end audio (nothing without an echo canceller).
    fn push_render(&mut self, far: &[f32]) -> Result<(), ProcessError> {
        // RT: resampler push into preallocated buffers.
        match self.far_rs.as_mut() {
            Some(rs) => rs.push(far),
            None => Ok(()),
        }
    }
}

/// The input side of an offline run: the block lengths, and the silence that pads the far end
/// and flushes the chain.
struct Feed {
    block: usize,
    input_len: usize,
    pushed: usize,
    zeros: Vec<f32>,
}

impl Feed {
    fn next_block_len(&self) -> usize {
        self.block.min(self.input_len - self.pushed)
    }

    /// Check a block: `mic` is the next block (not empty), `far` no longer than `mic`.
    fn check(&self, mic: &[f32], far: Option<&[f32]>) -> Result<(), ProcessError> {
        let want = self.next_block_len();
        if mic.len() != want || mic.is_empty() {
            return Err(ProcessError::WrongLength {
                expected: want,
                got: mic.len(),
            });
        }
        match far {
            Some(far) if far.len() > mic.len() => Err(ProcessError::WrongLength {
                expected: mic.len(),
                got: far.len(),
            }),
            _ => Ok(()),
        }
    }

    /// Check that silence may be pushed: every microphone block has been.
    fn check_done(&self) -> Result<(), ProcessError> {
        match self.next_block_len() {
            0 => Ok(()),
            n => Err(ProcessError::WrongLength {
                expected: n,
                got: 0,
            }),
        }
    }
}

/// The output side of an offline run: drops the chain's delay and cuts the output at the
/// input's length.
struct Aligner {
    expected: usize,
    skip_left: usize,
    emitted: usize,
    out: Vec<f32>,
}

impl Aligner {
    fn is_complete(&self) -> bool {
        self.emitted >= self.expected
    }

    /// Move what `out_rs` has ready onto `out`: the first `skip` samples overall are the
    /// chain's delay and are dropped, and nothing past `expected` is kept.
    fn drain(&mut self, out_rs: &mut StreamResampler) {
        let n = out_rs.available();
        if n == 0 {
            return;
        }
        let start = self.out.len();
        self.out.resize(start + n, 0.0);
        out_rs.pull(&mut self.out[start..]);
        let drop = self.skip_left.min(n);
        self.skip_left -= drop;
        self.out.drain(start..start + drop);
        let keep = (self.out.len() - start).min(self.expected - self.emitted);
        self.out.truncate(start + keep);
        self.emitted += keep;
    }
}

/// A recording run through a [`SendChain`] block by block, in bounded memory (see
/// [`SendChain::offline`]).
///
/// Feed the microphone in blocks of exactly [`next_block_len`](Self::next_block_len) frames
/// with [`push`](Self::push), each with the far end's matching stretch if there is one, until
/// `next_block_len()` is 0; then call [`finish`](Self::finish) (or
/// [`push_silence`](Self::push_silence) until [`is_complete`](Self::is_complete)), which runs
/// silence through the chain until its delay is flushed. Each call returns the next stretch of
/// aligned output.
///
/// ```no_run
/// use parla_dsp::chain::{SendChain, SendChainConfig};
/// # fn read(_: &mut [f32]) {}
/// # fn write(_: &[f32]) {}
/// let mut chain = SendChain::new(SendChainConfig::new(48_000)).unwrap();
/// let mut run = chain.offline(48_000 * 3600); // an hour, from a file's header
/// let mut block = vec![0.0; run.next_block_len()];
/// while run.next_block_len() > 0 {
///     let n = run.next_block_len();
///     read(&mut block[..n]);
///     write(run.push(&block[..n], None).unwrap());
/// }
/// write(run.finish().unwrap());
/// ```
pub struct OfflineRun<'a> {
    chain: &'a mut SendChain,
    feed: Feed,
    aligner: Aligner,
}

impl std::fmt::Debug for OfflineRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineRun")
            .field("block", &self.feed.block)
            .field("input_len", &self.feed.input_len)
            .field("pushed", &self.feed.pushed)
            .field("emitted", &self.aligner.emitted)
            .finish()
    }
}

/// Blocks of silence [`OfflineRun::finish`] pushes at most while waiting for the chain's delayed
/// output (a chain that gives nothing back cannot loop forever).
const FLUSH_GUARD_BLOCKS: usize = 10_000;

impl OfflineRun<'_> {
    /// The block length: 10 ms at the input rate (at most the chain's `max_block`).
    pub fn block_len(&self) -> usize {
        self.feed.block
    }

    /// Frames the next [`push`](Self::push) must carry: a whole block, less at the end of the
    /// recording, 0 once it has all been pushed.
    pub fn next_block_len(&self) -> usize {
        self.feed.next_block_len()
    }

    /// Microphone frames pushed so far.
    pub fn input_done(&self) -> usize {
        self.feed.pushed
    }

    /// The whole output's length: the input's length at the output rate.
    pub fn output_len(&self) -> usize {
        self.aligner.expected
    }

    /// Run one block: `mic` is the next [`next_block_len`](Self::next_block_len) frames of the
    /// recording; `far`, when the recording has a far end, its frames over the same stretch
    /// (shorter or empty once the far end has ended: the rest is silence; longer is an error).
    /// Returns the aligned output this block completed (possibly empty).
    ///
    /// # Errors
    /// [`ProcessError::WrongLength`] when `mic` is not `next_block_len()` frames long or `far`
    /// is longer than `mic`; [`ProcessError`] from a stage.
    pub fn push(&mut self, mic: &[f32], far: Option<&[f32]>) -> Result<&[f32], ProcessError> {
        self.feed.check(mic, far)?;
        self.run_block(mic, far)?;
        self.feed.pushed += mic.len();
        Ok(&self.aligner.out)
    }

    /// Feed one block (checked) and process the frames it completes into `aligner.out`.
    fn run_block(&mut self, mic: &[f32], far: Option<&[f32]>) -> Result<(), ProcessError> {
        let chain = &mut *self.chain;
        chain.front.push_block(
            mic,
            far,
            &self.feed.zeros,
            &mut chain.timings,
            chain.cfg.timing,
        )?;
        chain.process_ready()?;
        self.aligner.out.clear();
        self.aligner.drain(&mut chain.back.out_rs);
        Ok(())
    }

    /// Whether the whole output ([`output_len`](Self::output_len) samples) has come out.
    pub fn is_complete(&self) -> bool {
        self.aligner.is_complete()
    }

    /// After the last block: run one block of silence (far end and microphone) through the
    /// chain to flush its delay, and return the aligned output it completed. Call it until
    /// [`is_complete`](Self::is_complete); [`finish`](Self::finish) does that in one call.
    ///
    /// # Errors
    /// [`ProcessError::WrongLength`] while microphone blocks are still due
    /// (`next_block_len() > 0`); [`ProcessError`] from a stage.
    pub fn push_silence(&mut self) -> Result<&[f32], ProcessError> {
        self.feed.check_done()?;
        let zeros = std::mem::take(&mut self.feed.zeros);
        let ran = self.run_block(&zeros, Some(&zeros));
        self.feed.zeros = zeros;
        ran?;
        Ok(&self.aligner.out)
    }

    /// After the last block: run silence through the chain until the output is complete (the
    /// chain's delay flushed) and return the rest of the aligned output.
    ///
    /// # Errors
    /// As [`push_silence`](Self::push_silence).
    pub fn finish(&mut self) -> Result<&[f32], ProcessError> {
        let mut rest = Vec::new();
        let mut guard = 0;
        while !self.is_complete() && guard < FLUSH_GUARD_BLOCKS {
            let got = self.push_silence()?;
            rest.extend_from_slice(got);
            guard += 1;
        }
        self.aligner.out = rest;
        Ok(&self.aligner.out)
    }
}

/// One 10 ms frame on its way from an [`OfflineFront`] to its [`OfflineBack`]: the echo
/// canceller's output, what the stages learned about it so far, and the front's time on it.
/// Made by [`OfflineFront::new_frame`] and meant to be recycled (moving it allocates nothing).
#[derive(Debug, Clone)]
pub struct SplitFrame {
    samples: Vec<f32>,
    meta: FrameMeta,
    front_time: Duration,
}

/// The first half of a pipelined offline run ([`SendChain::offline_split`]): the input, the
/// input resampler and the echo canceller.
pub struct OfflineFront<'a> {
    front: &'a mut Front,
    timings: &'a mut [StageTiming],
    timing: bool,
    rate: u32,
    frame_len: usize,
    frames: u64,
    feed: Feed,
    flushed: usize,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for OfflineFront<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineFront")
            .field("input_len", &self.feed.input_len)
            .field("pushed", &self.feed.pushed)
            .field("frames", &self.frames)
            .finish()
    }
}

impl OfflineFront<'_> {
    /// As [`OfflineRun::block_len`].
    pub fn block_len(&self) -> usize {
        self.feed.block
    }

    /// As [`OfflineRun::next_block_len`].
    pub fn next_block_len(&self) -> usize {
        self.feed.next_block_len()
    }

    /// As [`OfflineRun::input_done`].
    pub fn input_done(&self) -> usize {
        self.feed.pushed
    }

    /// A frame to carry this run's frames (allocates; make a few and recycle them).
    pub fn new_frame(&self) -> SplitFrame {
        SplitFrame {
            samples: vec![0.0; self.frame_len],
            meta: FrameMeta::default(),
            front_time: Duration::ZERO,
        }
    }

    /// Feed one block, as [`OfflineRun::push`]; the frames it completes then come out of
    /// [`next_frame`](Self::next_frame).
    ///
    /// # Errors
    /// As [`OfflineRun::push`].
    pub fn push(&mut self, mic: &[f32], far: Option<&[f32]>) -> Result<(), ProcessError> {
        self.feed.check(mic, far)?;
        self.front
            .push_block(mic, far, &self.feed.zeros, self.timings, self.timing)?;
        self.feed.pushed += mic.len();
        Ok(())
    }

    /// After the last block: feed one block of silence (far end and microphone), as
    /// [`OfflineRun::push_silence`]. Returns `false`, feeding nothing, once as many blocks as
    /// [`OfflineRun::finish`] pushes at most have been fed.
    ///
    /// # Errors
    /// As [`OfflineRun::push_silence`].
    pub fn push_silence(&mut self) -> Result<bool, ProcessError> {
        self.feed.check_done()?;
        if self.flushed >= FLUSH_GUARD_BLOCKS {
            return Ok(false);
        }
        let zeros = &self.feed.zeros;
        self.front
            .push_block(zeros, Some(zeros), zeros, self.timings, self.timing)?;
        self.flushed += 1;
        Ok(true)
    }

    /// Run the next frame the input has completed through the echo canceller into `frame`;
    /// `false` when no frame is ready (push the next block).
    ///
    /// # Errors
    /// [`ProcessError`] from the echo canceller.
    pub fn next_frame(&mut self, frame: &mut SplitFrame) -> Result<bool, ProcessError> {
        if !self.front.in_rs.pull(&mut frame.samples) {
            return Ok(false);
        }
        let start = self.timing.then(Instant::now);
        let mut meta = frame_meta(self.frames, self.frame_len, self.rate);
        self.front.process(
            &mut frame.samples,
            &mut self.scratch,
            &mut meta,
            self.timings,
            self.timing,
        )?;
        frame.meta = meta;
        frame.front_time = start.map_or(Duration::ZERO, |s| s.elapsed());
        self.frames += 1;
        Ok(true)
    }
}

/// The second half of a pipelined offline run ([`SendChain::offline_split`]): the stages after
/// the echo canceller, the output resampler and the aligned output.
pub struct OfflineBack<'a> {
    back: &'a mut Back,
    timings: &'a mut [StageTiming],
    frames: &'a mut u64,
    last_meta: &'a mut FrameMeta,
    timing: bool,
    frame_len: usize,
    aligner: Aligner,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for OfflineBack<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineBack")
            .field("expected", &self.aligner.expected)
            .field("emitted", &self.aligner.emitted)
            .field("frames", &self.frames)
            .finish()
    }
}

impl OfflineBack<'_> {
    /// As [`OfflineRun::output_len`].
    pub fn output_len(&self) -> usize {
        self.aligner.expected
    }

    /// As [`OfflineRun::is_complete`].
    pub fn is_complete(&self) -> bool {
        self.aligner.is_complete()
    }

    /// Run one frame from the front (in the order the front gave them) through the rest of the
    /// chain; returns the aligned output it completed (possibly empty).
    ///
    /// # Errors
    /// [`ProcessError::WrongLength`] for a frame of another length; [`ProcessError`] from a
    /// stage.
    pub fn push_frame(&mut self, frame: &mut SplitFrame) -> Result<&[f32], ProcessError> {
        crate::stage::check_len(self.frame_len, frame.samples.len())?;
        let start = self.timing.then(Instant::now);
        let mut meta = frame.meta;
        self.back.process(
            &mut frame.samples,
            &mut self.scratch,
            &mut meta,
            self.timings,
            self.timing,
        )?;
        if let (Some(start), Some(total)) = (start, self.timings.last_mut()) {
            total.histogram.record(start.elapsed() + frame.front_time);
        }
        *self.last_meta = meta;
        *self.frames += 1;
        self.aligner.out.clear();
        self.aligner.drain(&mut self.back.out_rs);
        Ok(&self.aligner.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_configs() {
        assert!(SendChain::new(SendChainConfig::new(12_345)).is_err());
        assert!(SendChain::new(SendChainConfig::new(48_000).processing_rate(44_100)).is_err());
        assert!(
            SendChain::new(SendChainConfig::new(48_000).processing_rate(16_000)).is_err(),
            "noise suppression needs 48 kHz"
        );
        assert!(
            SendChain::new(
                SendChainConfig::new(48_000)
                    .processing_rate(16_000)
                    .noise_suppression(false)
            )
            .is_ok()
        );
        assert!(SendChain::new(SendChainConfig::new(48_000).max_block(0)).is_err());
        assert!(SendChain::new(SendChainConfig::new(48_000).output_rate(7)).is_err());
    }

    /// The whole-file algorithm `process_offline_with_progress` had before it was built on
    /// [`OfflineRun`], kept verbatim as the reference the streaming run must match bit for bit.
    fn whole_file_reference(chain: &mut SendChain, mic: &[f32], far: Option<&[f32]>) -> Vec<f32> {
        let block = (chain.cfg.input_rate as usize)
            .div_ceil(100)
            .min(chain.cfg.max_block);
        let expected = (mic.len() as u64 * u64::from(chain.cfg.output_rate))
            .div_ceil(u64::from(chain.cfg.input_rate)) as usize;
        let skip = chain.latency_output_samples();
        let mut out = Vec::new();
        let zeros = vec![0.0; block];
        let drain = |chain: &mut SendChain, out: &mut Vec<f32>| {
            let n = chain.available();
            let start = out.len();
            out.resize(start + n, 0.0);
            chain.pull(&mut out[start..]);
        };
        for (i, chunk) in mic.chunks(block).enumerate() {
            if let Some(far) = far {
                let s = (i * block).min(far.len());
                let e = (s + chunk.len()).min(far.len());
                let mut f = &far[s..e];
                if f.len() < chunk.len() {
                    chain.push_render(f).unwrap();
                    f = &zeros[..chunk.len() - f.len()];
                }
                chain.push_render(f).unwrap();
            }
            chain.push_capture(chunk).unwrap();
            drain(chain, &mut out);
        }
        let mut guard = 0;
        while out.len() < expected + skip && guard < 10_000 {
            chain.push_render(&zeros).unwrap();
            chain.push_capture(&zeros).unwrap();
            drain(chain, &mut out);
            guard += 1;
        }
        let mut aligned = out.split_off(skip.min(out.len()));
        aligned.truncate(expected);
        aligned
    }

    /// A seeded test signal: a few tones and a noise floor, `secs` long.
    fn signal(rate: u32, secs: f64, seed: u32) -> Vec<f32> {
        let n = (f64::from(rate) * secs) as usize;
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let t = i as f32 / rate as f32;
                let noise = (state as f32 / u32::MAX as f32 - 0.5) * 0.02;
                0.2 * (2.0 * std::f32::consts::PI * (220.0 + 40.0 * seed as f32) * t).sin()
                    * (1.0 + (3.0 * t).sin())
                    / 2.0
                    + noise
            })
            .collect()
    }

    /// An echo stage that subtracts half the far end, so the far end's pairing shows in the
    /// output.
    struct HalfFar {
        far: Vec<f32>,
    }

    impl Stage for HalfFar {
        fn name(&self) -> &'static str {
            "half_far"
        }
        fn prepare(&mut self, _rate: u32, frame_len: usize) -> Result<(), ConfigError> {
            self.far = vec![0.0; frame_len];
            Ok(())
        }
        fn process_into(
            &mut self,
            input: &[f32],
            output: &mut [f32],
            _meta: &mut FrameMeta,
        ) -> Result<(), ProcessError> {
            for ((o, i), f) in output.iter_mut().zip(input).zip(&self.far) {
                *o = i - 0.5 * f;
            }
            Ok(())
        }
        fn latency_samples(&self) -> usize {
            0
        }
        fn reset(&mut self) {
            self.far.fill(0.0);
        }
    }

    impl EchoStage for HalfFar {
        fn process_render(&mut self, far: &[f32]) -> Result<(), ProcessError> {
            self.far.copy_from_slice(far);
            Ok(())
        }
    }

    #[test]
    fn streaming_run_matches_the_whole_file_algorithm_bit_for_bit() {
        // 44.1 kHz in (441-frame blocks, a resampler at each end), a mic that does not end on
        // a block boundary, and far ends shorter than, equal to and longer than the mic.
        let rate = 44_100;
        let mic = signal(rate, 1.37, 1);
        let far_long = signal(rate, 1.6, 2);
        for far in [None, Some(&far_long[..]), Some(&far_long[..30_000])] {
            for ns in [true, false] {
                let build = || {
                    let mut c =
                        SendChain::new(SendChainConfig::new(rate).noise_suppression(ns)).unwrap();
                    c.set_echo_canceller(Box::new(HalfFar { far: Vec::new() }))
                        .unwrap();
                    c
                };
                let mut a = build();
                let want = whole_file_reference(&mut a, &mic, far);
                let mut b = build();
                let mut run = b.offline(mic.len());
                assert_eq!(run.output_len(), mic.len());
                let mut got = Vec::new();
                while run.next_block_len() > 0 {
                    let (s, n) = (run.input_done(), run.next_block_len());
                    let f = far.map(|f| &f[s.min(f.len())..(s + n).min(f.len())]);
                    got.extend_from_slice(run.push(&mic[s..s + n], f).unwrap());
                }
                got.extend_from_slice(run.finish().unwrap());
                assert_eq!(got.len(), mic.len());
                assert!(
                    want.iter()
                        .zip(&got)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "ns {ns}, far {:?}: streaming output differs",
                    far.map(<[f32]>::len)
                );
                assert_eq!(want.len(), got.len());
                assert!(got.iter().any(|&x| x.abs() > 0.01), "output is not silence");
                // The wrapper gives the same samples too.
                let mut c = build();
                assert_eq!(c.process_offline(&mic, far).unwrap(), want);
            }
        }
    }

    /// Runs `mic` (and `far`) through `chain.offline_split` with the two halves on two threads
    /// (a bounded queue of `queue` recycled frames each way, the flush protocol of the docs).
    fn split_on_two_threads(
        chain: &mut SendChain,
        mic: &[f32],
        far: Option<&[f32]>,
        queue: usize,
    ) -> Vec<f32> {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::mpsc::sync_channel;
        let (mut front, mut back) = chain.offline_split(mic.len());
        let (to_back, from_front) = sync_channel::<SplitFrame>(queue);
        let (to_front, from_back) = sync_channel::<SplitFrame>(queue);
        let complete = AtomicBool::new(false);
        let mut free: Vec<SplitFrame> = (0..queue).map(|_| front.new_frame()).collect();
        let complete = &complete;
        std::thread::scope(|s| {
            let back = s.spawn(move || {
                let mut out = Vec::new();
                while let Ok(mut frame) = from_front.recv() {
                    out.extend_from_slice(back.push_frame(&mut frame).unwrap());
                    complete.store(back.is_complete(), Ordering::Release);
                    let _ = to_front.send(frame);
                }
                out
            });
            let send_ready = |front: &mut OfflineFront<'_>, free: &mut Vec<SplitFrame>| loop {
                let mut frame = free.pop().unwrap_or_else(|| from_back.recv().unwrap());
                if !front.next_frame(&mut frame).unwrap() {
                    free.push(frame);
                    return;
                }
                to_back.send(frame).unwrap();
            };
            while front.next_block_len() > 0 {
                let (s, n) = (front.input_done(), front.next_block_len());
                let f = far.map(|f| &f[s.min(f.len())..(s + n).min(f.len())]);
                front.push(&mic[s..s + n], f).unwrap();
                send_ready(&mut front, &mut free);
            }
            loop {
                while free.len() < queue {
                    free.push(from_back.recv().unwrap());
                }
                if complete.load(Ordering::Acquire) || !front.push_silence().unwrap() {
                    break;
                }
                send_ready(&mut front, &mut free);
            }
            drop(to_back);
            back.join().unwrap()
        })
    }

    #[test]
    fn split_run_on_two_threads_matches_the_one_thread_run_bit_for_bit() {
        let rate = 44_100;
        let mic = signal(rate, 1.37, 1);
        let far_long = signal(rate, 1.6, 2);
        for far in [None, Some(&far_long[..]), Some(&far_long[..30_000])] {
            for queue in [1, 4] {
                let build = || {
                    let mut c = SendChain::new(SendChainConfig::new(rate)).unwrap();
                    c.set_echo_canceller(Box::new(HalfFar { far: Vec::new() }))
                        .unwrap();
                    c
                };
                let mut a = build();
                let want = a.process_offline(&mic, far).unwrap();
                let mut b = build();
                let got = split_on_two_threads(&mut b, &mic, far, queue);
                assert_eq!(got.len(), want.len());
                let differ = want
                    .iter()
                    .zip(&got)
                    .filter(|(x, y)| x.to_bits() != y.to_bits())
                    .count();
                assert_eq!(differ, 0, "queue {queue}, far {:?}", far.map(<[f32]>::len));
                // The same frames were processed and timed, stage by stage.
                assert_eq!(a.frames_processed(), b.frames_processed());
                assert_eq!(a.render_underruns(), b.render_underruns());
                let counts = |c: &SendChain| -> Vec<(&str, u64)> {
                    c.timings()
                        .iter()
                        .map(|t| (t.name, t.histogram.count()))
                        .collect()
                };
                assert_eq!(counts(&a), counts(&b));
                assert_eq!(a.last_meta(), b.last_meta());
            }
        }
    }

    #[test]
    fn streaming_run_rejects_wrong_block_lengths() {
        let mut chain = SendChain::new(SendChainConfig::new(48_000)).unwrap();
        let mut run = chain.offline(1000);
        assert_eq!(run.next_block_len(), 480);
        assert!(matches!(
            run.push(&[0.0; 479], None),
            Err(ProcessError::WrongLength {
                expected: 480,
                got: 479
            })
        ));
        assert!(run.push(&[0.0; 480], Some(&[0.0; 481])).is_err());
        run.push(&[0.0; 480], None).unwrap();
        run.push(&[0.0; 480], None).unwrap();
        assert_eq!(run.next_block_len(), 40);
        run.push(&[0.0; 40], None).unwrap();
        assert_eq!(run.next_block_len(), 0);
        assert!(run.push(&[0.0; 1], None).is_err(), "past the end");
        assert!(run.push(&[], None).is_err(), "an empty block");
        let rest = run.finish().unwrap().len();
        assert!(rest > 0);
    }

    #[test]
    fn streaming_counts_frames_and_times_stages() {
        let mut chain = SendChain::new(SendChainConfig::new(44_100)).unwrap();
        let block = vec![0.01f32; 441];
        let mut frames = 0;
        for _ in 0..100 {
            frames += chain.push_capture(&block).unwrap();
        }
        // 1 s of input gives 100 frames, less what the input resampler still holds back.
        assert!((95..=100).contains(&frames), "{frames}");
        assert_eq!(chain.frames_processed(), frames as u64);
        let names: Vec<_> = chain.timings().iter().map(|t| t.name).collect();
        assert_eq!(names, ["resample_in", "ns", "resample_out", "total"]);
        assert_eq!(chain.timings()[1].histogram.count(), frames as u64);
        assert!(chain.last_meta().voice_probability.is_some());
        assert!(
            chain.push_capture(&vec![0.0; 4411]).is_err(),
            "over max_block"
        );
    }
}
