//! `parla netsim` writes a per-packet trace and `parla jitter replay` turns it into a playout
//! schedule in exactly the documented format; the schedule is parsed back and checked for
//! causality (no packet plays before it arrived), uniqueness and order.
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn parla(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_parla"))
        .args(args)
        .output()
        .expect("run parla");
    assert!(
        out.status.success(),
        "parla {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_schedule(trace: &Path, schedule: &Path) -> usize {
    let trace = std::fs::read_to_string(trace).expect("trace");
    let mut lines = trace.lines();
    assert_eq!(lines.next(), Some("seq,send_ts_us,arrival_ts_us"));
    let mut first_arrival: HashMap<i64, u64> = HashMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 3, "{l}");
        if !f[2].is_empty() {
            let seq: i64 = f[0].parse().expect("seq");
            let a: u64 = f[2].parse().expect("arrival");
            let e = first_arrival.entry(seq).or_insert(a);
            *e = (*e).min(a);
        }
    }
    let text = std::fs::read_to_string(schedule).expect("schedule");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("play_ts_us,seq_or_minus1,action"));
    let mut last_t = 0u64;
    let mut last_played: Option<i64> = None;
    let mut played = 0;
    let mut seen = std::collections::HashSet::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 3, "bad row {l:?}");
        let t: u64 = f[0].parse().expect("play_ts_us");
        let seq: i64 = f[1].parse().expect("seq_or_minus1");
        assert!(seq >= -1, "{l}");
        assert!(t >= last_t, "rows out of time order at {l}");
        last_t = t;
        match f[2] {
            "normal" | "accelerated" => {
                let arrived = first_arrival.get(&seq).copied();
                assert!(
                    arrived.is_some_and(|a| a <= t),
                    "packet {seq} played at {t} but arrived at {arrived:?}"
                );
                assert!(seen.insert(seq), "packet {seq} played twice");
                assert!(
                    last_played.is_none_or(|p| seq > p),
                    "packet {seq} out of order"
                );
                last_played = Some(seq);
                played += 1;
            }
            "expanded" | "concealed" => {}
            "dropped_late" => {
                assert!(
                    first_arrival.contains_key(&seq),
                    "dropped {seq} never arrived"
                );
            }
            other => panic!("unknown action {other:?}"),
        }
    }
    played
}

#[test]
fn replay_schedule_is_well_formed_and_causal() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (scenario, seed) in [
        ("reorder-heavy", "3"),
        ("lte-handover", "4"),
        ("wifi-congested", "5"),
    ] {
        let trace = dir.path().join(format!("{scenario}.csv"));
        let schedule = dir.path().join(format!("{scenario}-schedule.csv"));
        let stats = dir.path().join(format!("{scenario}.json"));
        parla(&[
            "netsim",
            "--scenario",
            scenario,
            "--seconds",
            "30",
            "--seed",
            seed,
            "--out",
            trace.to_str().expect("utf-8 path"),
        ]);
        parla(&[
            "jitter",
            "replay",
            "--trace",
            trace.to_str().expect("utf-8 path"),
            "--schedule",
            schedule.to_str().expect("utf-8 path"),
            "--stats",
            stats.to_str().expect("utf-8 path"),
        ]);
        let played = check_schedule(&trace, &schedule);
        assert!(
            played > 1200,
            "{scenario}: only {played} of 1500 packets played"
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("json");
        assert!(
            json["mean_delay_ms"].as_f64().is_some_and(|d| d > 0.0),
            "{json}"
        );
        assert!(
            json["buffer"]["packets_decoded"]
                .as_u64()
                .is_some_and(|n| n > 1200)
        );
    }
}

#[test]
fn replay_rejects_a_bad_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("bad.csv");
    std::fs::write(&trace, "seq,send_ts_us,arrival_ts_us\n1,oops,\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_parla"))
        .args([
            "jitter",
            "replay",
            "--trace",
            trace.to_str().expect("utf-8 path"),
            "--schedule",
            dir.path().join("s.csv").to_str().expect("utf-8 path"),
        ])
        .output()
        .expect("run parla");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("parla: error:"));
}
