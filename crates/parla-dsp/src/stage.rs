//! The stage interface every 10 ms processing step implements.

use parla_core::{ConfigError, FrameMeta, ProcessError};

/// One processing step of a chain, run on mono 10 ms frames at the chain's processing rate.
///
/// Life cycle: [`Stage::prepare`] once (allocates, off the real-time path), then
/// [`Stage::process_into`] per frame (never allocates, locks or blocks).
pub trait Stage: Send {
    /// A short name for reports and timing tables (`"ns"`, `"aec"`).
    fn name(&self) -> &'static str;

    /// Size every buffer for frames of `frame_len` samples at `rate` Hz.
    ///
    /// # Errors
    /// [`ConfigError`] if the stage cannot run at that rate or frame length.
    fn prepare(&mut self, rate: u32, frame_len: usize) -> Result<(), ConfigError>;

    /// Process one frame: `input` and `output` both hold exactly the prepared `frame_len` samples.
    /// The stage may add what it learns to `meta`.
    ///
    /// # Real-time safety
    /// Implementations must not allocate, free, lock, block or make syscalls.
    ///
    /// # Errors
    /// [`ProcessError::NotPrepared`] before `prepare`; [`ProcessError::WrongLength`] for frames of
    /// another length.
    fn process_into(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        meta: &mut FrameMeta,
    ) -> Result<(), ProcessError>;

    /// The delay the stage adds to the signal, in samples at the prepared rate.
    fn latency_samples(&self) -> usize;

    /// Forget all signal history (as after a device switch), keeping the prepared sizes.
    fn reset(&mut self);
}

/// A stage that also needs the far-end (playout) signal: the echo canceller.
///
/// Pairing rule: for every 10 ms capture frame, the render frame that was played out at the same
/// time must have been passed to [`EchoStage::process_render`] first (render before capture).
pub trait EchoStage: Stage {
    /// Feed one 10 ms frame of the far-end reference (what the speaker plays), at the prepared rate.
    ///
    /// # Real-time safety
    /// As [`Stage::process_into`].
    ///
    /// # Errors
    /// As [`Stage::process_into`].
    fn process_render(&mut self, far: &[f32]) -> Result<(), ProcessError>;
}

/// Check that a frame has the prepared length (a helper for stage implementations).
///
/// # Errors
/// [`ProcessError::WrongLength`] when it does not, [`ProcessError::NotPrepared`] when
/// `expected` is zero.
pub fn check_len(expected: usize, got: usize) -> Result<(), ProcessError> {
    if expected == 0 {
        return Err(ProcessError::NotPrepared);
    }
    if got != expected {
        return Err(ProcessError::WrongLength { expected, got });
    }
    Ok(())
}
