//! The media threads' pool: media threads are kept and reused across calls instead of being
//! spawned and exited per call.
//!
//! Why: the noise suppressor's FFT library (nnnoiseless -> easyfft -> generic_singleton) keeps
//! its FFT planners in thread-local storage that it leaks on purpose (`Box::leak`): every new
//! thread that runs noise suppression leaves about 21 KiB behind (measured: +6.2 MiB over 300
//! short-lived threads, 0 with noise suppression off). A process that places calls for days
//! would grow without bound; with reused threads the cost is paid once per pool thread.
//!
//! At most [`MAX_IDLE`] idle threads are kept; more concurrent calls than that spawn extra
//! threads that exit when their call ends. A job that panics is reported to its waiter and the
//! thread stays usable.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, PoisonError};

/// Idle media threads kept for reuse.
pub const MAX_IDLE: usize = 4;

type Job = Box<dyn FnOnce() + Send + 'static>;
/// A job and where to report that it finished (`true`: it panicked).
type Work = (Job, Sender<bool>);

static IDLE: Mutex<Vec<Sender<Work>>> = Mutex::new(Vec::new());

/// The job run by [`run`] panicked (or its thread died).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a media thread job panicked")]
pub struct JobPanicked;

/// Waits for a job run by [`run`].
#[derive(Debug)]
pub struct JobHandle {
    done: Receiver<bool>,
}

impl JobHandle {
    /// Block until the job has returned.
    ///
    /// # Errors
    /// [`JobPanicked`] if it panicked (or its thread died).
    pub fn join(self) -> Result<(), JobPanicked> {
        match self.done.recv() {
            Ok(false) => Ok(()),
            _ => Err(JobPanicked),
        }
    }
}

/// Run `job` on an idle pool thread, or a new one.
///
/// # Errors
/// The OS error when a new thread cannot be spawned.
pub fn run(job: impl FnOnce() + Send + 'static) -> std::io::Result<JobHandle> {
    let (done_tx, done_rx) = channel();
    let mut job: Job = Box::new(job);
    loop {
        let idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let Some(worker) = idle else { break };
        match worker.send((job, done_tx.clone())) {
            Ok(()) => return Ok(JobHandle { done: done_rx }),
            // That thread has gone: take the job back and try the next one.
            Err(e) => job = e.0.0,
        }
    }
    let (tx, rx) = channel::<Work>();
    tx.send((job, done_tx))
        .map_err(|_| std::io::Error::other("pool channel closed"))?;
    std::thread::Builder::new()
        .name("parla-media".into())
        .spawn(move || worker(rx, tx))?;
    Ok(JobHandle { done: done_rx })
}

fn worker(rx: Receiver<Work>, me: Sender<Work>) {
    while let Ok((job, done)) = rx.recv() {
        let panicked = catch_unwind(AssertUnwindSafe(job)).is_err();
        // Back to the idle list before reporting, so that a caller that starts the next call
        // right after `join` finds this thread.
        let keep = {
            let mut idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE {
                idle.push(me.clone());
                true
            } else {
                false
            }
        };
        let _ = done.send(panicked);
        if !keep {
            return;
        }
    }
}

/// Idle threads in the pool now.
pub fn idle_threads() -> usize {
    IDLE.lock().unwrap_or_else(PoisonError::into_inner).len()
}
