//! One stats schema: the C mirror `ParlaCallStats` (in the generated header) has exactly the
//! fields of the engine's `CallStats` (read through its serde form, CPU stages flattened as
//! `cpu_<stage>`), so a field added to one and not the other fails here. The only exceptions
//! are named: `size` (the C struct's own) and `media_thread_allocs` (test builds only); the
//! `video` block is mirrored field for field by `ParlaVideoStats`.

use std::collections::BTreeSet;

use parla_engine::CallStats;

fn header_fields(name: &str) -> BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("include/parla.h");
    let header = std::fs::read_to_string(path).expect("read include/parla.h");
    let start = header
        .find(&format!("typedef struct {name} {{"))
        .expect("the struct in the header");
    let end = start
        + header[start..]
            .find(&format!("}} {name};"))
            .expect("its end");
    header[start..end]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| l.ends_with(';') && !l.starts_with('*') && !l.starts_with("/*"))
        .filter_map(|l| l.trim_end_matches(';').split_whitespace().last())
        .map(str::to_owned)
        .collect()
}

fn engine_fields() -> BTreeSet<String> {
    let v = serde_json::to_value(CallStats::default()).expect("serialize CallStats");
    let mut out = BTreeSet::new();
    for (k, val) in v.as_object().expect("an object") {
        if k == "video" {
            // Mirrored by `ParlaVideoStats` (below).
            continue;
        } else if k == "cpu" {
            for stage in val.as_object().expect("cpu stages").keys() {
                out.insert(format!("cpu_{stage}"));
            }
        } else {
            out.insert(k.clone());
        }
    }
    out
}

#[test]
fn the_c_mirror_has_exactly_the_engines_stats_fields() {
    let c: BTreeSet<String> = header_fields("ParlaCallStats")
        .into_iter()
        .filter(|f| f != "size")
        .collect();
    let rust: BTreeSet<String> = engine_fields()
        .into_iter()
        .filter(|f| f != "media_thread_allocs")
        .collect();
    assert!(c.len() > 40, "parsed too few C fields: {c:?}");
    let only_c: Vec<_> = c.difference(&rust).collect();
    let only_rust: Vec<_> = rust.difference(&c).collect();
    assert!(
        only_c.is_empty() && only_rust.is_empty(),
        "stats drift: only in ParlaCallStats {only_c:?}, only in CallStats {only_rust:?}"
    );
    // Per-stage CPU by name covers the same stages.
    let names: BTreeSet<String> = parla_engine::CpuStats::STAGE_NAMES
        .iter()
        .map(|n| format!("cpu_{n}"))
        .collect();
    assert!(names.is_subset(&rust), "{names:?}");
}

#[test]
fn the_c_video_mirror_has_exactly_the_engines_video_fields() {
    let c: BTreeSet<String> = header_fields("ParlaVideoStats")
        .into_iter()
        .filter(|f| f != "size")
        .collect();
    let v = serde_json::to_value(parla_engine::VideoStats::default()).expect("serialize");
    let rust: BTreeSet<String> = v.as_object().expect("an object").keys().cloned().collect();
    assert!(c.len() > 20, "parsed too few C fields: {c:?}");
    assert_eq!(
        c, rust,
        "video stats drift between ParlaVideoStats and VideoStats"
    );
}
