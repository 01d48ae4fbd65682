//! The C ABI from C: compiles `ffi/tests/*.c` and `samples/c/loopback_call.c` with the system C
//! compiler against the static library (`libparla_ffi.a`, which cargo builds next to the test
//! binaries because this crate's library has the `staticlib` crate type), runs them, and
//! checks their exit status and output. Each C test also runs built with AddressSanitizer
//! (`-fsanitize=address -fno-omit-frame-pointer`, leak detection on).
//!
//! `CC` selects the compiler (default `cc`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workspace_root() -> PathBuf {
    manifest_dir().join("..")
}

/// `<target>/<profile>`: where cargo put this test's dependencies' final artifacts.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/c_tests-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("profile directory")
        .to_path_buf()
}

/// The static library this test run built. `cargo test` compiles the library with all its
/// crate types but leaves the `staticlib` output in `<profile>/deps/`; `cargo build` also
/// copies it to `<profile>/`. The newer of the two is the current one.
fn static_lib() -> PathBuf {
    let candidates = [
        profile_dir().join("deps").join("libparla_ffi.a"),
        profile_dir().join("libparla_ffi.a"),
    ];
    let newest = candidates
        .iter()
        .filter_map(|p| {
            let modified = std::fs::metadata(p).and_then(|m| m.modified()).ok()?;
            Some((modified, p.clone()))
        })
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p);
    newest.unwrap_or_else(|| {
        panic!(
            "libparla_ffi.a is missing from {} and its deps/: it is built with the crate \
             (crate-type staticlib); run `cargo build -p parla-ffi`",
            profile_dir().display()
        )
    })
}

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("parla-ffi-c");
    std::fs::create_dir_all(&d).expect("create the C test output directory");
    d
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

/// The native libraries the static library needs (from build.rs, see there).
fn native_libs() -> Vec<&'static str> {
    env!("PARLA_NATIVE_LIBS").split_whitespace().collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Build {
    Plain,
    Asan,
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Compile and link `src` (a file in ffi/tests) against the static library.
fn build(src: &str, kind: Build) -> PathBuf {
    let name = src.trim_end_matches(".c");
    let exe = out_dir().join(match kind {
        Build::Plain => name.to_owned(),
        Build::Asan => format!("{name}-asan"),
    });
    let mut cmd = Command::new(cc());
    cmd.args(["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg(manifest_dir().join("tests").join(src))
        .arg("-o")
        .arg(&exe);
    if kind == Build::Asan {
        cmd.args(["-fsanitize=address", "-fno-omit-frame-pointer"]);
    }
    cmd.arg(static_lib()).args(native_libs());
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling {src} ({kind:?}) failed:\n{}",
        show(&out)
    );
    exe
}

/// Whether the compiler can build and run an ASan program here (checked once).
fn asan_works() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let dir = out_dir();
        let src = dir.join("asan_probe.c");
        let exe = dir.join("asan_probe");
        if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
            return false;
        }
        let built = Command::new(cc())
            .args(["-fsanitize=address", "-fno-omit-frame-pointer"])
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .output()
            .is_ok_and(|o| o.status.success());
        let ran = built
            && Command::new(&exe)
                .output()
                .is_ok_and(|o| o.status.success());
        if !ran {
            eprintln!(
                "SKIP: {} cannot build and run with -fsanitize=address here (install libasan)",
                cc()
            );
        }
        ran
    })
}

/// Run a built C test: it must exit 0 and print its "all checks passed" line.
fn run(exe: &Path, args: &[&Path], kind: Build) -> String {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    if kind == Build::Asan {
        let supp = manifest_dir().join("tests").join("lsan.supp");
        cmd.env(
            "ASAN_OPTIONS",
            "detect_leaks=1:abort_on_error=0:exitcode=86",
        )
        .env(
            "LSAN_OPTIONS",
            format!("suppressions={}:print_suppressions=1", supp.display()),
        );
    }
    let out = cmd.output().expect("run the C test");
    let text = show(&out);
    println!("{} ({kind:?}):\n{text}", exe.display());
    assert!(
        out.status.success(),
        "{} ({kind:?}) failed:\n{text}",
        exe.display()
    );
    assert!(
        !text.contains("ERROR: AddressSanitizer"),
        "ASan report:\n{text}"
    );
    assert!(
        !text.contains("ERROR: LeakSanitizer"),
        "LSan report:\n{text}"
    );
    text
}

fn run_c_test(src: &str, args: &[&Path]) {
    let exe = build(src, Build::Plain);
    let text = run(&exe, args, Build::Plain);
    assert!(text.contains("all checks passed"), "{text}");
    if asan_works() {
        let exe = build(src, Build::Asan);
        let text = run(&exe, args, Build::Asan);
        assert!(text.contains("all checks passed"), "{text}");
    }
}

fn speech() -> PathBuf {
    workspace_root()
        .join("samples")
        .join("near_speech_clean.wav")
}

#[test]
fn c_errors_every_entry_point_and_argument() {
    run_c_test("c_errors.c", &[]);
}

#[test]
fn c_lifecycle() {
    run_c_test("c_lifecycle.c", &[]);
}

#[test]
fn c_call_between_two_engines_carries_speech() {
    let wav = speech();
    let secs = PathBuf::from("3");
    run_c_test("c_call.c", &[&wav, &secs]);
}

/// E2EE over a call's life through the C ABI: commitments and short codes, stop/start of one
/// and both sides, rotations on both sides, no (key id, counter) twice on the wire. CI runs 30
/// rotations per side 0.25 s apart; `PARLA_C_E2EE_SPACING=2.5` runs the 2.5 s spacing
/// (about 80 s per build).
#[test]
fn c_e2ee_restarts_and_rotations() {
    let wav = speech();
    let rotations = PathBuf::from("30");
    let spacing =
        PathBuf::from(std::env::var("PARLA_C_E2EE_SPACING").unwrap_or_else(|_| "0.25".into()));
    run_c_test("c_e2ee.c", &[&wav, &rotations, &spacing]);
}

/// The app's threads: paced capture and playout threads per call, aligned to the same 10 ms
/// grid, with network and control threads beside them: no `PARLA_ERR_BUSY`
/// (`PARLA_C_THREADS_FRAMES` callbacks per audio thread, default 750: 3,000 in all).
#[test]
fn c_threads_capture_and_playout_never_busy() {
    let frames =
        PathBuf::from(std::env::var("PARLA_C_THREADS_FRAMES").unwrap_or_else(|_| "750".into()));
    run_c_test("c_threads.c", &[&frames]);
}

/// A video call through the C ABI: pattern frames with padded strides both ways, pictures
/// pulled and checked, a too-small buffer, a restart (`PARLA_C_VIDEO_SECONDS`, default 3).
#[test]
fn c_video_call_both_ways_and_a_restart() {
    let secs = PathBuf::from(std::env::var("PARLA_C_VIDEO_SECONDS").unwrap_or_else(|_| "3".into()));
    run_c_test("c_video.c", &[&secs]);
}

/// An app built against the first sized `ParlaCallStats` layout, run with this library.
#[test]
fn c_old_layout_app_runs_with_the_new_library() {
    run_c_test("c_old_layout.c", &[]);
}

/// The public functions the header declares.
fn header_functions() -> Vec<String> {
    let header = std::fs::read_to_string(manifest_dir().join("include").join("parla.h"))
        .expect("read include/parla.h");
    let mut names = Vec::new();
    for line in header.lines() {
        let Some(start) = line.find("parla_") else {
            continue;
        };
        let rest = &line[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if rest[end..].starts_with('(') && !line.trim_start().starts_with('*') {
            names.push(rest[..end].to_owned());
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_entry_point_is_in_the_error_test() {
    let names = header_functions();
    assert!(names.len() >= 20, "parsed too few functions: {names:?}");
    let table = std::fs::read_to_string(manifest_dir().join("tests").join("c_errors.c"))
        .expect("read c_errors.c");
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !table.contains(&format!("{n}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "entry points not exercised by tests/c_errors.c: {missing:?}"
    );
    println!("{} entry points, all in c_errors.c", names.len());
}

#[test]
fn header_compiles_alone_twice_as_c_and_cpp() {
    let src = manifest_dir().join("tests").join("c_header.c");
    let include = manifest_dir().join("include");
    let mut compilers = vec![(cc(), vec!["-std=c99", "-pedantic"])];
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    if Command::new(&cxx)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        compilers.push((cxx, vec!["-x", "c++", "-std=c++11", "-pedantic"]));
    } else {
        eprintln!("SKIP: no C++ compiler ({cxx}): the header is checked as C only");
    }
    for (compiler, flags) in compilers {
        let out = Command::new(&compiler)
            .args(&flags)
            .args(["-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I"])
            .arg(&include)
            .arg(&src)
            .output()
            .expect("run the compiler");
        assert!(
            out.status.success(),
            "{compiler} {flags:?}:\n{}",
            show(&out)
        );
    }
}

fn wav_stats(path: &Path) -> (u32, usize, f64) {
    let mut r = hound::WavReader::open(path).expect("open the sample's output WAV");
    let spec = r.spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (1, 16));
    let s: Vec<i16> = r.samples::<i16>().map(|x| x.expect("sample")).collect();
    let e = s
        .iter()
        .map(|&v| (f64::from(v) / 32768.0).powi(2))
        .sum::<f64>();
    let db = 10.0 * (e / s.len().max(1) as f64 + 1e-20).log10();
    (spec.sample_rate, s.len(), db)
}

#[test]
fn sample_builds_with_pkg_config_and_writes_what_b_heard() {
    let lib = static_lib();
    let pc_dir = profile_dir();
    assert!(pc_dir.join("parla.pc").exists() && pc_dir.join("parla-static.pc").exists());
    // Flags from the generated pkg-config file when pkg-config is here, else the same flags by
    // hand.
    // `libdir` points at where this run's static library is (see `static_lib`).
    let libdir = lib.parent().expect("library directory");
    let pkg = Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", &pc_dir)
        .arg(format!("--define-variable=libdir={}", libdir.display()))
        .args(["--cflags", "--libs", "parla-static"])
        .output();
    let flags: Vec<String> = match pkg {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            println!("pkg-config --cflags --libs parla-static: {text}");
            assert!(
                text.contains("libparla_ffi.a") && text.contains("-I"),
                "{text}"
            );
            text.split_whitespace().map(str::to_owned).collect()
        }
        other => {
            eprintln!(
                "SKIP pkg-config (not usable: {other:?}): linking with the same flags by hand"
            );
            let mut f = vec![format!("-I{}", manifest_dir().join("include").display())];
            f.push(lib.display().to_string());
            f.extend(native_libs().iter().map(|s| (*s).to_owned()));
            f
        }
    };
    // The shared-library variant resolves too.
    let shared = Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", &pc_dir)
        .args(["--libs", "parla"])
        .output();
    if let Ok(o) = shared
        && o.status.success()
    {
        assert!(String::from_utf8_lossy(&o.stdout).contains("-lparla_ffi"));
    }
    let exe = out_dir().join("loopback_call");
    let out = Command::new(cc())
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"])
        .arg(workspace_root().join("samples/c/loopback_call.c"))
        .arg("-o")
        .arg(&exe)
        .args(&flags)
        .output()
        .expect("run the C compiler");
    assert!(
        out.status.success(),
        "building the sample failed:\n{}",
        show(&out)
    );

    let heard = out_dir().join("heard_b.wav");
    let _ = std::fs::remove_file(&heard);
    let secs = 3.0;
    let out = Command::new(&exe)
        .arg(speech())
        .arg(&heard)
        .arg(secs.to_string())
        .output()
        .expect("run the sample");
    println!("{}", show(&out));
    assert!(out.status.success(), "the sample failed:\n{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(match)"), "safety codes: {text}");
    let (rate, n, db) = wav_stats(&heard);
    let (_, _, db_in) = wav_stats(&speech());
    println!(
        "{}: {rate} Hz, {n} samples ({:.2} s), {db:.1} dBFS (input file {db_in:.1} dBFS)",
        heard.display(),
        n as f64 / f64::from(rate)
    );
    assert_eq!(rate, 48_000);
    assert_eq!(
        n,
        (secs * 48_000.0) as usize,
        "the output is as long as the audio sent"
    );
    assert!(db > -45.0, "the output is silent: {db:.1} dBFS");
}
