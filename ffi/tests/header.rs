//! The committed header `ffi/include/parla.h` must be what cbindgen generates from the current
//! sources (STYLE.md F9): this test regenerates it in memory and fails when they differ.
//! Refresh the header with `PARLA_UPDATE_HEADER=1 cargo test -p parla-ffi --test header`.

use std::path::PathBuf;

#[test]
fn committed_header_is_up_to_date() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src").join("lib.rs"))
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    let path = dir.join("include").join("parla.h");
    if std::env::var_os("PARLA_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/parla.h");
        println!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()))
            + 1;
        panic!(
            "ffi/include/parla.h is stale (first difference at line {line}).\n\
             Regenerate it with:\n    PARLA_UPDATE_HEADER=1 cargo test -p parla-ffi --test header\n\
             and commit the result."
        );
    }
}
