//! Helpers shared by the harness's integration tests.

use parla_harness::Options;
use parla_harness::corpus::{SpeechSet, Suite};
use parla_harness::suites::Degrade;

/// A quick, deterministic run of `suites` on `cases` into `out`: synthetic speech, 1 s signals,
/// 3 s network traces, 20 s calls (both talkers get a turn), the seeded network models only (no
/// shared data, so the case list is the same with or without it), 2 jobs, no peers, no degrade,
/// unsharded. Tests change what they vary with struct update syntax.
pub fn quick_options(out: &std::path::Path, suites: Vec<Suite>, cases: &[&str]) -> Options {
    Options {
        suites,
        cases: cases.iter().map(|c| (*c).to_string()).collect(),
        jobs: 2,
        out: out.to_path_buf(),
        peers: false,
        seed: 3,
        seconds: 1.0,
        network_seconds: 3.0,
        call_seconds: 20.0,
        speech: SpeechSet::Synthetic,
        shared_dir: None,
        scaling: false,
        progress: false,
        degrade: Degrade::None,
        shard: None,
        race: None,
    }
}
