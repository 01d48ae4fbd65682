//! One module per subcommand.
pub mod bench;
pub mod call;
pub mod cc;
pub mod decode;
pub mod encode;
pub mod jitter;
pub mod netsim;
pub mod process;
pub mod rtp;

/// A usage error found after parsing (for example a removed flag). `main` prints it as one
/// line like any error and exits with status 2, as clap does for the usage errors it finds.
#[derive(Debug)]
pub struct UsageError(
    /// The message, one line.
    pub String,
);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
