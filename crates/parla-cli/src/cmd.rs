//! One module per subcommand.
pub mod bench;
pub mod call;
pub mod decode;
pub mod encode;
pub mod jitter;
pub mod netsim;
pub mod process;
pub mod rtp;
