//! Sharded runs: `--shard K/N` runs the K-th of N deterministic slices of the selected cases,
//! and [`merge`] combines the N shard reports into exactly the report of the unsharded run.
//!
//! The slices: the selected cases in the corpus's order are sorted by expected cost (the same
//! longest-first order the thread pool uses; a stable sort, so ties keep the corpus's order),
//! and the case at position `p` of that order goes to shard `p mod N + 1`. Every shard so gets
//! a similar mix of long and short cases, and the assignment depends only on the case list,
//! which depends only on the corpus seed, the options and the installed material (the same
//! binary and the same machine image give the same list on every machine).
//!
//! A shard report carries a [`ShardInfo`]: the whole selection, its own cases, and whether peers
//! ran. [`merge`] checks that the shards agree on the corpus and the options, that their cases
//! partition the selection (no overlap, nothing missing), and puts every outcome and failure
//! back in the corpus's order. Fields that are inherently run-specific (wall-clock timing, the
//! pool size, the CPU count) are listed in [`without_run_specific`]; apart from those, the merged
//! report equals the unsharded one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::corpus::Case;
use crate::peers::Peer;
use crate::report::Report;

/// Which slice of the work a run does: shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// 1-based shard index, `1..=count`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

/// The most shards a run may be split into.
pub const MAX_SHARDS: usize = 100_000;

impl ShardSpec {
    /// Parse `K/N` (`1 <= K <= N <= 100000`).
    ///
    /// # Errors
    /// For anything else.
    pub fn parse(s: &str) -> anyhow::Result<ShardSpec> {
        let (k, n) = s
            .split_once('/')
            .with_context(|| format!("--shard {s:?}: expected K/N, e.g. 2/8"))?;
        let k: usize = k
            .trim()
            .parse()
            .with_context(|| format!("--shard {s:?}: K is not a whole number"))?;
        let n: usize = n
            .trim()
            .parse()
            .with_context(|| format!("--shard {s:?}: N is not a whole number"))?;
        anyhow::ensure!(
            (1..=MAX_SHARDS).contains(&n),
            "--shard {s:?}: N must be between 1 and {MAX_SHARDS}"
        );
        anyhow::ensure!(
            (1..=n).contains(&k),
            "--shard {s:?}: K must be between 1 and N (shards are numbered from 1)"
        );
        Ok(ShardSpec { index: k, count: n })
    }

    /// The names of this shard's cases among `cases` (the whole selection, in the corpus's
    /// order), in the corpus's order. May be empty when there are more shards than cases.
    pub fn assign(&self, cases: &[Case]) -> Vec<String> {
        let mine: HashSet<&str> = crate::by_expected_cost(cases)
            .into_iter()
            .enumerate()
            .filter(|(p, _)| p % self.count + 1 == self.index)
            .map(|(_, c)| c.name.as_str())
            .collect();
        cases
            .iter()
            .filter(|c| mine.contains(c.name.as_str()))
            .map(|c| c.name.clone())
            .collect()
    }
}

impl std::fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a shard report says about its slice (absent from unsharded and merged reports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// Which shard.
    pub spec: ShardSpec,
    /// Every case of the selection (all shards), in the corpus's order.
    pub cases: Vec<String>,
    /// This shard's cases, in the corpus's order.
    pub assigned: Vec<String>,
    /// Whether the run was asked to run the peers (`--peers`).
    pub peers: bool,
}

/// The run-specific record of one shard in a merged report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRun {
    /// Which shard.
    pub spec: ShardSpec,
    /// Cases it ran.
    pub cases: usize,
    /// Threads in its pool.
    pub jobs: usize,
    /// Logical CPUs of its machine.
    pub cpus: usize,
    /// Its wall time, seconds.
    pub wall_s: f64,
}

/// Read a report (`report.json`) from a file.
///
/// # Errors
/// When the file cannot be read, is over 512 MiB, or is not a report.
pub fn load_report(path: &Path) -> anyhow::Result<Report> {
    let text = crate::report::read_report_text(path)?;
    serde_json::from_str(&text).with_context(|| format!("parsing {} as a report", path.display()))
}

/// Fail unless `a` and `b` (a field of two shards) are equal.
fn same<T: PartialEq + Serialize>(what: &str, a: (&str, &T), b: (&str, &T)) -> anyhow::Result<()> {
    if a.1 == b.1 {
        return Ok(());
    }
    let show = |v: &T| {
        let s = serde_json::to_string(v).unwrap_or_default();
        if s.len() > 200 {
            format!("{}...", s.chars().take(200).collect::<String>())
        } else {
            s
        }
    };
    anyhow::bail!(
        "shards {} and {} disagree on {what} ({} vs {}): they must run the same binary with the same corpus and options",
        a.0,
        b.0,
        show(a.1),
        show(b.1)
    )
}

/// Merge shard reports (any order) into the report of the unsharded run.
///
/// The merged report has no `shard`, no `regression` (the caller compares with a baseline, as
/// an unsharded run does) and no `scaling` (shards do not measure it); `jobs` and `cpus` are the
/// largest of the shards', `wall_s` the sum of their wall times (machine time), and
/// `shard_runs` lists each shard's run.
///
/// # Errors
/// When a report is not a shard report; when shards overlap, are missing or are split
/// differently (`N`); when they disagree on the corpus (seed, durations, speakers, notes, case
/// list), the options (peers, degradation) or a peer's status; when an outcome or failure
/// belongs to a case its shard was not assigned.
pub fn merge(shards: &[Report]) -> anyhow::Result<Report> {
    anyhow::ensure!(!shards.is_empty(), "no shard report to merge");
    let mut infos = Vec::with_capacity(shards.len());
    for (i, r) in shards.iter().enumerate() {
        let info = r.shard.as_ref().with_context(|| {
            format!(
                "report {} of {} is not a shard report (it was not run with --shard K/N)",
                i + 1,
                shards.len()
            )
        })?;
        infos.push(info);
    }
    let label = |i: usize| infos[i].spec.to_string();
    let first = &shards[0];
    let l0 = label(0);
    for (i, r) in shards.iter().enumerate().skip(1) {
        let li = label(i);
        let (a, b) = (l0.as_str(), li.as_str());
        same(
            "the shard count N",
            (a, &infos[0].spec.count),
            (b, &infos[i].spec.count),
        )?;
        same("the corpus seed", (a, &first.seed), (b, &r.seed))?;
        same("--seconds", (a, &first.seconds), (b, &r.seconds))?;
        same(
            "--network-seconds",
            (a, &first.network_seconds),
            (b, &r.network_seconds),
        )?;
        same(
            "--call-seconds",
            (a, &first.call_seconds),
            (b, &r.call_seconds),
        )?;
        same("the degradation hook", (a, &first.degrade), (b, &r.degrade))?;
        same("--peers", (a, &infos[0].peers), (b, &infos[i].peers))?;
        same(
            "the speech sources",
            (a, &speakers_key(first)),
            (b, &speakers_key(r)),
        )?;
        same(
            "the corpus notes",
            (a, &first.corpus_notes),
            (b, &r.corpus_notes),
        )?;
        same(
            "the selected cases",
            (a, &infos[0].cases),
            (b, &infos[i].cases),
        )?;
    }
    let count = infos[0].spec.count;
    let mut by_index: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, info) in infos.iter().enumerate() {
        if let Some(j) = by_index.insert(info.spec.index, i) {
            anyhow::bail!(
                "shard {} is given twice (reports {} and {}): shards overlap",
                info.spec,
                j + 1,
                i + 1
            );
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|k| !by_index.contains_key(k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "shard(s) missing: {} (merge needs all {count})",
        missing.join(", ")
    );

    // The shards' cases must partition the selection.
    let cases = &infos[0].cases;
    let position: HashMap<&str, usize> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut owner: Vec<Option<usize>> = vec![None; cases.len()];
    for (i, info) in infos.iter().enumerate() {
        for c in &info.assigned {
            let p = *position.get(c.as_str()).with_context(|| {
                format!(
                    "shard {} ran case {c}, which is not in the selection",
                    label(i)
                )
            })?;
            if let Some(j) = owner[p] {
                anyhow::bail!(
                    "case {c} is in shards {} and {}: shards overlap",
                    label(j),
                    label(i)
                );
            }
            owner[p] = Some(i);
        }
    }
    if let Some(p) = owner.iter().position(Option::is_none) {
        anyhow::bail!("case {} is in no shard", cases[p]);
    }

    // Outcomes and failures back in the corpus's order (a stable sort: within a case, the
    // shard's own order, Parla first and then the peers).
    let place = |i: usize, case: &str, what: &str| -> anyhow::Result<usize> {
        match position.get(case) {
            Some(&p) if owner[p] == Some(i) => Ok(p),
            _ => anyhow::bail!(
                "shard {} has {what} for case {case}, which it was not assigned",
                label(i)
            ),
        }
    };
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    let mut hashes = BTreeMap::new();
    // Each peer once (the first shard that probed it), the same status in every shard.
    let mut peers: Vec<(usize, crate::report::PeerStatus)> = Vec::new();
    for (i, r) in shards.iter().enumerate() {
        for o in &r.outcomes {
            outcomes.push((place(i, &o.case, "an outcome")?, o.clone()));
        }
        for f in &r.failures {
            failures.push((place(i, &f.case, "a failure")?, f.clone()));
        }
        for (case, h) in &r.corpus_hashes {
            place(i, case, "a corpus hash")?;
            hashes.insert(case.clone(), h.clone());
        }
        for p in &r.peers {
            match peers.iter().find(|(_, q)| q.name == p.name) {
                Some((j, q)) => same(&format!("peer {}", p.name), (&label(*j), q), (&label(i), p))?,
                None => peers.push((i, p.clone())),
            }
        }
    }
    outcomes.sort_by_key(|(p, _)| *p);
    failures.sort_by_key(|(p, _)| *p);
    let rank = |name: &str| {
        Peer::ALL
            .iter()
            .position(|p| p.name() == name)
            .unwrap_or(usize::MAX)
    };
    peers.sort_by_key(|(_, p)| rank(&p.name));

    let mut order: Vec<usize> = (0..shards.len()).collect();
    order.sort_by_key(|&i| infos[i].spec.index);
    Ok(Report {
        seed: first.seed,
        seconds: first.seconds,
        network_seconds: first.network_seconds,
        call_seconds: first.call_seconds,
        jobs: shards.iter().map(|r| r.jobs).max().unwrap_or(1),
        cpus: shards.iter().map(|r| r.cpus).max().unwrap_or(1),
        degrade: first.degrade,
        speakers: first.speakers.clone(),
        corpus_notes: first.corpus_notes.clone(),
        corpus_hashes: hashes,
        peers: peers.into_iter().map(|(_, p)| p).collect(),
        outcomes: outcomes.into_iter().map(|(_, o)| o).collect(),
        failures: failures.into_iter().map(|(_, f)| f).collect(),
        wall_s: shards.iter().map(|r| r.wall_s).sum(),
        scaling: None,
        process_race: None,
        regression: None,
        shard: None,
        shard_runs: order
            .into_iter()
            .map(|i| ShardRun {
                spec: infos[i].spec,
                cases: infos[i].assigned.len(),
                jobs: shards[i].jobs,
                cpus: shards[i].cpus,
                wall_s: shards[i].wall_s,
            })
            .collect(),
    })
}

/// The speakers as compared between shards (name, provenance, duration).
fn speakers_key(r: &Report) -> Vec<(String, String, f64)> {
    r.speakers
        .iter()
        .map(|s| (s.name.clone(), s.provenance.clone(), s.seconds))
        .collect()
}

/// The report without the fields that are inherently run-specific, which differ between two
/// runs of the same corpus (and between a merged and an unsharded report). Cleared:
/// - `wall_s` (the whole run), `jobs` (pool size), `cpus` (the machine), `scaling` and
///   `process_race` (timed),
///   `shard_runs` (each shard's pool, machine and wall time), and `shard` (set only in a
///   shard's own report);
/// - in every outcome: `wall_s`, `rtf`, and the per-stage CPU figures `median_us`, `p99_us`,
///   `p999_us` (the call counts stay: they are deterministic).
///
/// Everything else (the corpus, its hashes, every quality metric, peers, failures, the
/// regression comparison) is deterministic for one binary, seed and machine image.
pub fn without_run_specific(r: &Report) -> Report {
    let mut r = r.clone();
    r.wall_s = 0.0;
    r.jobs = 0;
    r.cpus = 0;
    r.scaling = None;
    r.process_race = None;
    r.shard_runs.clear();
    r.shard = None;
    for o in &mut r.outcomes {
        o.wall_s = 0.0;
        o.rtf = 0.0;
        for c in &mut o.cpu {
            c.median_us = 0.0;
            c.p99_us = 0.0;
            c.p999_us = 0.0;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{Corpus, CorpusConfig, SpeechSet};

    #[test]
    fn shard_specs_parse_and_bad_ones_are_refused() {
        assert_eq!(
            ShardSpec::parse("3/8").expect("parse"),
            ShardSpec { index: 3, count: 8 }
        );
        assert_eq!(
            ShardSpec::parse(" 1 / 1 ").expect("parse").to_string(),
            "1/1"
        );
        for bad in [
            "0/3", "4/3", "3", "a/3", "1/b", "1/0", "-1/3", "1/100001", "",
        ] {
            let e = ShardSpec::parse(bad).expect_err(bad);
            assert!(format!("{e:#}").contains("--shard"), "{bad}: {e:#}");
        }
    }

    #[test]
    fn shards_partition_the_cases_evenly_and_mix_the_suites() {
        let mut cfg = CorpusConfig::new(4);
        cfg.speech = SpeechSet::Synthetic;
        let corpus = Corpus::new(cfg);
        let all: Vec<&str> = corpus.cases.iter().map(|c| c.name.as_str()).collect();
        for n in [1, 2, 3, 7, all.len(), all.len() + 5] {
            let parts: Vec<Vec<String>> = (1..=n)
                .map(|k| ShardSpec { index: k, count: n }.assign(&corpus.cases))
                .collect();
            let mut seen: Vec<&str> = parts.iter().flatten().map(String::as_str).collect();
            assert_eq!(seen.len(), all.len(), "n = {n}: no case twice");
            seen.sort_unstable();
            let mut want = all.clone();
            want.sort_unstable();
            assert_eq!(seen, want, "n = {n}: every case once");
            let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
            let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
            assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{sizes:?}");
            // Each part keeps the corpus's order.
            for p in &parts {
                let pos: Vec<usize> = p
                    .iter()
                    .map(|c| all.iter().position(|a| a == c).expect("known"))
                    .collect();
                assert!(pos.windows(2).all(|w| w[0] < w[1]));
            }
        }
        // Longest first, dealt round: with 2 shards each gets half the echo cases (the longest)
        // and some of the short ones.
        let echo = |c: &String| c.starts_with("aec/") || c.starts_with("chain/");
        let total = corpus.cases.iter().filter(|c| echo(&c.name)).count();
        for k in 1..=2 {
            let part = ShardSpec { index: k, count: 2 }.assign(&corpus.cases);
            assert_eq!(
                part.iter().filter(|c| echo(c)).count(),
                total / 2,
                "{part:?}"
            );
            assert!(part.iter().any(|c| c.starts_with("ns/")), "{part:?}");
        }
    }
}
