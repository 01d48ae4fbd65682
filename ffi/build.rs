//! Writes `parla.pc` (pkg-config) for the library being built next to it in the target
//! directory (`target/<profile>/parla.pc`), from `parla.pc.in`, and tells the crate's tests the
//! native libraries the static library needs.

use std::path::{Path, PathBuf};

/// What `libparla_ffi.a` needs from the system besides itself, in link order: FFmpeg's codec
/// libraries (parla-codec), ALSA (cpal), and the C++, threading and math runtimes of the bundled
/// WebRTC audio processing and libopus. The list comes from
/// `cargo rustc -p parla-ffi --lib --crate-type staticlib -- --print native-static-libs`;
/// `tests/c_tests.rs` links the C tests with exactly this list, so a missing library fails
/// there. The abseil static libraries depend on each other, hence the linker group. Refresh
/// the list when a native dependency changes (docs/FFI.md).
const NATIVE_LIBS: &str = "-lavutil -lavformat -lavfilter -lavdevice -lswscale -lswresample \
     -lavcodec -Wl,--start-group -labsl_strings -labsl_base -labsl_raw_logging_internal \
     -labsl_log_severity -labsl_spinlock_wait -Wl,--end-group -lrt -lstdc++ -lasound -lgcc_s \
     -lutil -lpthread -lm -ldl -lc";

/// Where the abseil static libraries of the bundled WebRTC build are (scripts/setup.d/30-aec3.sh
/// puts them in the cache and scripts/env.sh on `PKG_CONFIG_PATH`): a `-L` flag, or nothing.
fn abseil_dir() -> String {
    std::process::Command::new("pkg-config")
        .args(["--variable=libdir", "absl_base"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|d| !d.is_empty())
        .map_or_else(String::new, |d| format!("-L{d} "))
}

fn main() {
    println!("cargo:rerun-if-changed=parla.pc.in");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let native = format!("{}{}", abseil_dir(), NATIVE_LIBS);
    println!("cargo:rustc-env=PARLA_NATIVE_LIBS={native}");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    // OUT_DIR is <target>/<profile>/build/parla-ffi-<hash>/out: the library lands in
    // <target>/<profile>.
    let Some(libdir) = out.ancestors().nth(3) else {
        return;
    };
    let Ok(template) = std::fs::read_to_string(manifest.join("parla.pc.in")) else {
        println!("cargo:warning=parla.pc.in is missing: parla.pc not written");
        return;
    };
    let include = manifest.join("include");
    // parla.pc links the shared library by default (the static one with `--static`);
    // parla-static.pc always links the static library.
    let files = [
        (
            "parla.pc",
            "-L${libdir} -lparla_ffi".to_owned(),
            native.as_str(),
        ),
        (
            "parla-static.pc",
            format!("${{libdir}}/libparla_ffi.a {native}"),
            "",
        ),
    ];
    for (name, libs, private) in files {
        let pc = render(&template, libdir, &include, &libs, private);
        if let Err(e) = std::fs::write(libdir.join(name), pc) {
            println!("cargo:warning=cannot write {name}: {e}");
        }
    }
}

fn render(template: &str, libdir: &Path, includedir: &Path, libs: &str, private: &str) -> String {
    template
        .replace("@LIBS@", libs)
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
        .replace("@LIBDIR@", &libdir.display().to_string())
        .replace("@INCLUDEDIR@", &includedir.display().to_string())
        .replace("@NATIVE_LIBS@", private)
}
