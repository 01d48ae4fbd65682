//! Errors of the simulation (STYLE.md section 4).

/// What went wrong while setting up or running a simulated call.
///
/// What the caller can do next: fix the settings or the files named; nothing is retried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A setting is out of range or inconsistent.
    #[error("{0}")]
    Config(String),
    /// The network condition could not be built.
    #[error("network: {0}")]
    Network(#[from] parla_netsim::error::NetsimError),
    /// A file could not be read or written.
    #[error("{what} '{path}': {source}")]
    Io {
        /// What the file is.
        what: &'static str,
        /// Its path.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A WAV file could not be read or written.
    #[error("{what}: {source}")]
    Wav {
        /// What the file is.
        what: String,
        /// The cause.
        #[source]
        source: hound::Error,
    },
    /// A Y4M video file could not be read or written.
    #[error("{what}: {source}")]
    Y4m {
        /// What the file is.
        what: String,
        /// The cause.
        #[source]
        source: y4m::Error,
    },
    /// A step of the call (building an endpoint, agreeing keys, ticking) failed.
    #[error("{what}: {source}")]
    Step {
        /// The step.
        what: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Names the step a fallible call belongs to.
pub(crate) trait StepContext<T> {
    /// Wrap the error as [`SimError::Step`].
    fn step(self, what: &'static str) -> Result<T, SimError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> StepContext<T> for Result<T, E> {
    fn step(self, what: &'static str) -> Result<T, SimError> {
        self.map_err(|e| SimError::Step {
            what,
            source: Box::new(e),
        })
    }
}
