//! One module per subcommand.
pub mod process;
