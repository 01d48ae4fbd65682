//! Shared helpers of the `parla rtp --video` tests: a moving test clip written as Y4M, reading
//! decoded video back (Y4M or raw I420), PSNR against the clip, and GStreamer plugin checks.
#![allow(dead_code)]

use std::io::{BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use parla_codec::container::y4m::Y4mReader;
use parla_core::video::{PixelFormat, VideoFrame};

/// Clip size: small, so each test stays within a few seconds.
pub const W: u32 = 320;
/// Clip height.
pub const H: u32 = 240;
/// Frames in the clip (one second at 30 fps).
pub const FRAMES: usize = 30;
/// Frame rate of the clip.
pub const FPS: u32 = 30;

/// Bytes of one I420 frame of the clip.
pub fn frame_bytes() -> usize {
    (W * H * 3 / 2) as usize
}

/// The clip: I420 frames with smooth gradients scrolling sideways and a box moving
/// diagonally, so every frame differs from its neighbours (a decoded frame matches its own
/// source frame far better than the next one).
pub fn clip() -> Vec<Vec<u8>> {
    let (w, h) = (W as usize, H as usize);
    (0..FRAMES)
        .map(|i| {
            let mut f = vec![0u8; frame_bytes()];
            let (bx, by) = (20 + i * 6, 30 + i * 4);
            for y in 0..h {
                for x in 0..w {
                    let in_box = (bx..bx + 48).contains(&x) && (by..by + 48).contains(&y);
                    let g = ((x + i * 5) % 256) as f64 / 255.0;
                    let v = if in_box {
                        235.0
                    } else {
                        40.0 + 150.0 * (0.5 + 0.5 * (g * std::f64::consts::TAU).sin())
                            + (y as f64) * 0.1
                    };
                    f[y * w + x] = v as u8;
                }
            }
            let (cw, ch) = (w / 2, h / 2);
            for y in 0..ch {
                for x in 0..cw {
                    f[w * h + y * cw + x] = (96 + (x + i * 2) % 64) as u8;
                    f[w * h + cw * ch + y * cw + x] = (128 + (y + i) % 48) as u8;
                }
            }
            f
        })
        .collect()
}

/// Writes the clip as a Y4M file.
pub fn write_clip(path: &Path, frames: &[Vec<u8>]) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "YUV4MPEG2 W{W} H{H} F{FPS}:1 Ip A1:1 C420jpeg").unwrap();
    for f in frames {
        out.write_all(b"FRAME\n").unwrap();
        out.write_all(f).unwrap();
    }
    out.flush().unwrap();
}

/// The frames of a Y4M file (its size must be the clip's).
pub fn read_y4m(path: &Path) -> Vec<Vec<u8>> {
    let file =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut r = Y4mReader::new(BufReader::new(file))
        .unwrap_or_else(|e| panic!("{} is not Y4M: {e}", path.display()));
    let hd = *r.header();
    assert_eq!((hd.width, hd.height), (W, H), "{}: size", path.display());
    let mut frame = VideoFrame::new(PixelFormat::I420, W, H).unwrap();
    let mut frames = Vec::new();
    while r.read_frame(&mut frame).unwrap() {
        frames.push(frame.data().to_vec());
    }
    frames
}

/// The frames of a raw I420 file at the clip's size.
pub fn read_i420(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        bytes.len() % frame_bytes(),
        0,
        "{}: not whole {W}x{H} I420 frames",
        path.display()
    );
    bytes.chunks(frame_bytes()).map(<[u8]>::to_vec).collect()
}

/// PSNR (dB) of `b` against `a`, over all three planes.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let se: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = se / a.len() as f64;
    if mse == 0.0 {
        return 99.0;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// Checks that `got` holds every frame of the clip, in order: the count, and each frame's PSNR
/// against its own source frame at least `min_db` (a frame out of place scores far lower, the
/// content moves). Prints and returns (mean, min) PSNR.
pub fn check_frames(what: &str, source: &[Vec<u8>], got: &[Vec<u8>], min_db: f64) -> (f64, f64) {
    assert_eq!(
        got.len(),
        source.len(),
        "{what}: {} frames decoded for {} sent",
        got.len(),
        source.len()
    );
    let p: Vec<f64> = source.iter().zip(got).map(|(s, g)| psnr(s, g)).collect();
    let mean = p.iter().sum::<f64>() / p.len() as f64;
    let min = p.iter().copied().fold(f64::INFINITY, f64::min);
    // The next source frame, for scale: what a frame off by one would score.
    let shifted = psnr(&source[1], &got[0]);
    println!(
        "{what}: {} of {} frames, PSNR mean {mean:.2} dB, min {min:.2} dB (frame 0 against source frame 1: {shifted:.2} dB)",
        got.len(),
        source.len()
    );
    assert!(
        min >= min_db,
        "{what}: PSNR of a frame {min:.2} dB < {min_db} dB (per frame: {p:.1?})"
    );
    (mean, min)
}

/// The first of `elements` GStreamer has (by `gst-inspect-1.0`), or `None` after printing why
/// the test is skipped.
pub fn gst_element(elements: &[&'static str], test: &str) -> Option<&'static str> {
    let found = elements.iter().copied().find(|e| {
        Command::new("gst-inspect-1.0")
            .arg(e)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        println!(
            "SKIPPED {test}: none of the GStreamer elements {elements:?} is installed (run scripts/setup.sh)"
        );
    }
    found
}
