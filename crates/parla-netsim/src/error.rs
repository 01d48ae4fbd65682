//! Errors of the network emulator (STYLE.md section 4).

/// What went wrong while parsing a trace or building a scenario.
///
/// What the caller can do next: fix the input (file or parameters); nothing is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetsimError {
    /// A line of a trace file could not be parsed.
    #[error("line {line}: {detail}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        detail: &'static str,
    },
    /// The input is larger than the emulator accepts (untrusted input is bounded).
    #[error("trace too long: more than {limit} entries")]
    TooLong {
        /// The limit that was hit.
        limit: usize,
    },
    /// The trace holds no usable entry.
    #[error("empty trace")]
    Empty,
    /// A parameter is outside its valid range.
    #[error("invalid {name}: {detail}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        detail: &'static str,
    },
    /// No scenario has this name.
    #[error("unknown scenario {0:?}")]
    UnknownScenario(String),
}
