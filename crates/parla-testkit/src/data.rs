//! Where test data is: the workspace, its bundled `samples/`, and the shared data folder that
//! lives next to the repository (`../shared`, DESIGN.md), which tests must not assume present.

use std::path::{Path, PathBuf};

/// The environment variable naming the shared data folder (default: `<workspace>/../shared`).
pub const SHARED_ENV: &str = "PARLA_SHARED_DIR";

/// The workspace root (the folder of the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // This crate is `<workspace>/crates/parla-testkit`.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bundled samples folder, `<workspace>/samples`.
pub fn samples_dir() -> PathBuf {
    workspace_root().join("samples")
}

/// The path of bundled sample `name` (whether or not it exists).
pub fn sample_path(name: &str) -> PathBuf {
    samples_dir().join(name)
}

/// The shared data folder: `PARLA_SHARED_DIR` if set, else `<workspace>/../shared`.
pub fn shared_dir() -> PathBuf {
    shared_dir_from(std::env::var_os(SHARED_ENV).map(PathBuf::from))
}

/// The shared data folder an override gives: `dir` if set, else `<workspace>/../shared`.
pub fn shared_dir_from(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| workspace_root().join("../shared"))
}

/// `relative` inside the shared data folder if it exists (file or folder); otherwise `None`,
/// after printing why the test skips. Use as
/// `let Some(path) = shared("test-vectors/sframe/x.json") else { return };`.
pub fn shared(relative: &str) -> Option<PathBuf> {
    found_or_skip(shared_dir().join(relative))
}

/// `path` if it exists, else `None` after printing a skip message naming it and how to point
/// the tests at the shared data folder.
pub fn found_or_skip(path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (shared test data; set {SHARED_ENV} to the shared data folder)",
            path.display()
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_is_the_workspace() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml"))
            .expect("the workspace manifest");
        assert!(manifest.contains("[workspace]"));
        assert!(samples_dir().is_dir());
        assert!(sample_path("near_speech_clean.wav").is_file());
    }

    #[test]
    fn shared_dir_override_and_default() {
        assert_eq!(
            shared_dir_from(Some(PathBuf::from("/data/x"))),
            PathBuf::from("/data/x")
        );
        assert!(shared_dir_from(None).ends_with("../shared"));
    }

    #[test]
    fn absent_data_is_a_skip_present_data_is_found() {
        let missing = workspace_root().join("no-such-file-for-the-testkit");
        assert_eq!(found_or_skip(missing), None);
        let present = workspace_root().join("Cargo.toml");
        assert_eq!(found_or_skip(present.clone()), Some(present));
    }
}
