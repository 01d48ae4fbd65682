//! One module per subcommand.
pub mod decode;
pub mod encode;
pub mod process;
pub mod rtp;
