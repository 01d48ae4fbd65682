//! Parla's benchmarks: criterion benches of the send chain and its stages live in `benches/`
//! (run `cargo bench -p parla-benches`). See `benches/README.md` for the method.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
