//! One module per subcommand.
pub mod jitter;
pub mod netsim;
pub mod process;
