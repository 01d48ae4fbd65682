//! Sharding: a small corpus (the cheapest suites, a second of audio per case) run whole and in
//! 3 shards gives, once the shard reports are written, read back and merged, exactly the whole
//! run's report apart from the run-specific fields; more shards than cases also merge (empty
//! shards), and shards that overlap, are missing or disagree on the corpus are refused.

mod common;

use parla_harness::corpus::Suite;
use parla_harness::report::Report;
use parla_harness::shard::{ShardSpec, load_report, merge, without_run_specific};
use parla_harness::{Options, run};

fn options(out: &std::path::Path, seed: u64, shard: Option<ShardSpec>) -> Options {
    Options {
        seed,
        shard,
        ..common::quick_options(
            out,
            vec![Suite::Codec, Suite::Resample, Suite::Jitter],
            &[
                "codec/*",
                "resample/*",
                "jitter/wifi-good",
                "jitter/satellite",
            ],
        )
    }
}

/// Run shard `k` of `n`, write its report.json as `parla bench` does, and read it back.
fn shard(dir: &std::path::Path, seed: u64, k: usize, n: usize) -> Report {
    let out = dir.join(format!("s{k}-{n}-{seed}"));
    let r = run(&options(&out, seed, Some(ShardSpec { index: k, count: n }))).expect("shard run");
    std::fs::create_dir_all(&out).expect("dir");
    let path = out.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&r).expect("json")).expect("write");
    load_report(&path).expect("read back")
}

fn json(r: &Report) -> serde_json::Value {
    serde_json::to_value(without_run_specific(r)).expect("json")
}

#[test]
fn three_shards_merge_into_the_unsharded_report() {
    let dir = tempfile::tempdir().expect("tmp");
    let whole = run(&options(&dir.path().join("whole"), 5, None)).expect("whole run");
    assert_eq!(
        whole.corpus_hashes.len(),
        9,
        "3 codec, 4 resample, 2 jitter"
    );
    assert!(whole.failures.is_empty(), "{:?}", whole.failures);

    let shards: Vec<Report> = [3, 1, 2].map(|k| shard(dir.path(), 5, k, 3)).into();
    for s in &shards {
        let info = s.shard.as_ref().expect("a shard report");
        assert_eq!(info.cases.len(), 9);
        assert!((3..=3).contains(&info.assigned.len()), "{info:?}");
    }
    let merged = merge(&shards).expect("merge");
    assert_eq!(json(&merged), json(&whole));
    // Same order, case by case (what the JSON equality implies, said plainly).
    let cases = |r: &Report| -> Vec<String> {
        r.outcomes
            .iter()
            .map(|o| format!("{}/{}", o.case, o.system))
            .collect()
    };
    assert_eq!(cases(&merged), cases(&whole));
    assert_eq!(merged.shard_runs.len(), 3);
    assert_eq!(merged.shard_runs.iter().map(|s| s.cases).sum::<usize>(), 9);
    // The run-specific fields are really the ones that differ between two runs: a second
    // whole run is equal to the first once they are cleared, and differs in wall times.
    let again = run(&options(&dir.path().join("again"), 5, None)).expect("whole run");
    assert_eq!(json(&again), json(&whole));

    // Refused: a missing shard, a shard twice, an unsharded report, another corpus seed, a
    // different split, an outcome moved to a shard that was not assigned its case.
    let err = |r: &[Report]| format!("{:#}", merge(r).expect_err("must be refused"));
    let e = err(&shards[..2]);
    assert!(e.contains("missing: 2/3"), "{e}");
    let e = err(&[
        shards[0].clone(),
        shards[1].clone(),
        shards[1].clone(),
        shards[2].clone(),
    ]);
    assert!(e.contains("given twice"), "{e}");
    let e = err(&[shards[0].clone(), whole.clone()]);
    assert!(e.contains("not a shard report"), "{e}");
    let other_seed = shard(dir.path(), 6, 2, 3);
    let e = err(&[shards[0].clone(), shards[1].clone(), other_seed]);
    assert!(e.contains("corpus seed"), "{e}");
    let other_split = shard(dir.path(), 5, 2, 4);
    let e = err(&[shards[0].clone(), other_split, shards[2].clone()]);
    assert!(e.contains("shard count"), "{e}");
    let mut moved = shards.clone();
    let o = moved[0].outcomes.pop().expect("an outcome");
    moved[1].outcomes.push(o);
    let e = err(&moved);
    assert!(e.contains("not assigned"), "{e}");
    assert!(err(&[]).contains("no shard"));
}

#[test]
fn more_shards_than_cases_leaves_empty_shards_that_still_merge() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut opts = options(&dir.path().join("whole"), 9, None);
    opts.suites = vec![Suite::Resample];
    opts.cases = vec!["resample/*".into()];
    let whole = run(&opts).expect("whole");
    assert_eq!(whole.outcomes.len(), 4);
    let shards: Vec<Report> = (1..=6)
        .map(|k| {
            let mut o = opts.clone();
            o.shard = Some(ShardSpec { index: k, count: 6 });
            run(&o).expect("shard")
        })
        .collect();
    assert_eq!(shards.iter().filter(|s| s.outcomes.is_empty()).count(), 2);
    assert_eq!(json(&merge(&shards).expect("merge")), json(&whole));
}

#[test]
fn scaling_is_refused_in_a_shard() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut o = options(dir.path(), 1, Some(ShardSpec { index: 1, count: 2 }));
    o.scaling = true;
    let e = run(&o).expect_err("refused");
    assert!(format!("{e:#}").contains("--scaling"), "{e:#}");
}
