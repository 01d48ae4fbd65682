//! Writes the pkg-config files of the library being built (`target/<profile>/parla*.pc`, from
//! `parla.pc.in`, one pair per library variant, docs/FFI.md "Library variants"), copies the
//! header next to them (`target/<profile>/include/parla.h`) so the directory is a relocatable
//! bundle, bundles the abseil static libraries into `libparla_ffi.a`, and tells the crate's
//! tests the native libraries the static library needs.

use std::path::PathBuf;

/// What `libparla_ffi.a` needs from the system besides itself when the `video` feature is on:
/// FFmpeg's libraries (parla-codec's `video`), in link order, before the [`AUDIO_LIBS`].
/// From `cargo rustc -p parla-ffi --lib --crate-type staticlib -- --print native-static-libs`.
const VIDEO_LIBS: &str =
    "-lavutil -lavformat -lavfilter -lavdevice -lswscale -lswresample -lavcodec";

/// What the `devices` feature adds: ALSA (cpal, through parla-device), before [`AUDIO_LIBS`].
const DEVICE_LIBS: &str = "-lasound";

/// What every variant needs from the system: the C++, threading and math runtimes of the bundled
/// WebRTC audio processing and libopus. From the same command with `--no-default-features`,
/// less the abseil libraries, which are bundled into the static library (see [`ABSEIL`]).
/// `tests/c_tests.rs` links the C tests with the current build's list (`PARLA_NATIVE_LIBS`), so
/// a missing library fails there. Refresh the lists when a native dependency changes
/// (docs/FFI.md).
const AUDIO_LIBS: &str = "-lrt -lstdc++ -lgcc_s -lutil -lpthread -lm -ldl -lc";

/// The abseil static libraries the bundled WebRTC audio processing links (it asks for them by
/// name, not bundled). They are not a system library (scripts/setup.d/30-aec3.sh builds them into
/// a cache), so this crate bundles them into `libparla_ffi.a`: an app links no abseil itself.
const ABSEIL: [&str; 5] = [
    "absl_strings",
    "absl_base",
    "absl_raw_logging_internal",
    "absl_log_severity",
    "absl_spinlock_wait",
];

/// A library variant: the pkg-config names it is described by and the system libraries it needs.
struct Variant {
    /// Name of the shared-library file (`<name>.pc`); `<name>-static.pc` is the static one.
    name: &'static str,
    /// What it is, for the `Description` field.
    what: &'static str,
    /// The `-l` flags of the system libraries the static library needs.
    libs: String,
}

/// Where the abseil static libraries of the bundled WebRTC build are (scripts/env.sh puts their
/// pkg-config files on `PKG_CONFIG_PATH`).
fn abseil_dir() -> Option<String> {
    std::process::Command::new("pkg-config")
        .args(["--variable=libdir", "absl_base"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|d| !d.is_empty())
}

fn main() {
    println!("cargo:rerun-if-changed=parla.pc.in");
    println!("cargo:rerun-if-changed=include/parla.h");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    match abseil_dir() {
        Some(dir) => {
            println!("cargo:rustc-link-search=native={dir}");
            for lib in ABSEIL {
                println!("cargo:rustc-link-lib=static:+bundle={lib}");
            }
        }
        None => println!(
            "cargo:warning=abseil not found through pkg-config (source scripts/env.sh): \
             libparla_ffi.a will not contain it"
        ),
    }
    let full = Variant {
        name: "parla",
        what: "audio calls, device audio and FFmpeg video codecs; default features",
        libs: format!("{VIDEO_LIBS} {DEVICE_LIBS} {AUDIO_LIBS}"),
    };
    let audio = Variant {
        name: "parla-audio",
        what: "audio calls with app-owned audio, no FFmpeg, no ALSA; --no-default-features",
        libs: AUDIO_LIBS.to_owned(),
    };
    // The libraries this build needs (any feature combination), for the C tests.
    let feature = |f: &str| std::env::var_os(format!("CARGO_FEATURE_{f}")).is_some();
    let this: Vec<&str> = [
        (feature("VIDEO"), VIDEO_LIBS),
        (feature("DEVICES"), DEVICE_LIBS),
        (true, AUDIO_LIBS),
    ]
    .into_iter()
    .filter_map(|(on, libs)| on.then_some(libs))
    .collect();
    println!("cargo:rustc-env=PARLA_NATIVE_LIBS={}", this.join(" "));

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
    let include = libdir.join("include");
    if let Err(e) = std::fs::create_dir_all(&include)
        .and_then(|()| std::fs::copy(manifest.join("include/parla.h"), include.join("parla.h")))
    {
        println!(
            "cargo:warning=cannot copy parla.h to {}: {e}",
            include.display()
        );
    }
    // Both variants' files are written whatever this build is: each describes its variant (the
    // library in the directory is the one built last). `<name>.pc` links the shared library
    // (the static one with `--static`); `<name>-static.pc` always links the static library.
    for v in [&full, &audio] {
        let files = [
            (
                format!("{}.pc", v.name),
                "-L${libdir} -lparla_ffi".to_owned(),
                v.libs.as_str(),
            ),
            (
                format!("{}-static.pc", v.name),
                format!("${{libdir}}/libparla_ffi.a {}", v.libs),
                "",
            ),
        ];
        for (file, libs, private) in files {
            let pc = render(&template, v, &libs, private);
            if let Err(e) = std::fs::write(libdir.join(&file), pc) {
                println!("cargo:warning=cannot write {file}: {e}");
            }
        }
    }
}

fn render(template: &str, v: &Variant, libs: &str, private: &str) -> String {
    template
        .replace("@NAME@", v.name)
        .replace("@WHAT@", v.what)
        .replace("@LIBS@", libs)
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
        .replace("@NATIVE_LIBS@", private)
}
