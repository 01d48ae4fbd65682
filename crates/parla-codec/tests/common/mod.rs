//! Shared helpers for parla-codec's integration tests: seeded test material and tool checks
//! (seeds come from parla-testkit).
#![allow(dead_code, unused_imports)] // each test uses a subset

use std::process::Command;

use parla_core::MediaTime;
use parla_core::video::{PixelFormat, VideoFrame};
pub use parla_testkit::seed::{rng, seed};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Speech-like test material at `rate` Hz: a glottal pulse train (pitch gliding 90-220 Hz)
/// through three formant resonators that move every syllable (~180 ms), with a syllable
/// envelope, some breath noise and, if `pauses`, silent gaps between "words". Peak about -6 dBFS.
///
/// This is synthetic: it has speech's spectral envelope, pitch and rhythm, which is what the
/// codec's speech mode models, without needing a recording in the repository.
pub fn speech_like(rate: u32, seconds: f32, seed: u64, pauses: bool) -> Vec<f32> {
    let mut r = rng(seed);
    let n = (rate as f32 * seconds) as usize;
    let fs = rate as f32;
    let mut out = vec![0.0f32; n];
    let vowels: [[f32; 3]; 6] = [
        [730.0, 1090.0, 2440.0],
        [270.0, 2290.0, 3010.0],
        [530.0, 1840.0, 2480.0],
        [300.0, 870.0, 2240.0],
        [640.0, 1190.0, 2390.0],
        [440.0, 1020.0, 2240.0],
    ];
    let syl = (0.18 * fs) as usize;
    let mut phase = 0.0f32;
    let mut res = [[0.0f32; 2]; 3];
    let mut i = 0;
    let mut word_left = 3 + r.random_range(0..4);
    while i < n {
        let v = vowels[r.random_range(0..vowels.len())];
        let f0_start = r.random_range(90.0..220.0f32);
        let f0_end = (f0_start * r.random_range(0.8..1.25f32)).clamp(80.0, 260.0);
        let len = syl.min(n - i);
        for k in 0..len {
            let t = k as f32 / len as f32;
            let f0 = f0_start + (f0_end - f0_start) * t;
            phase += f0 / fs;
            let pulse = if phase >= 1.0 {
                phase -= 1.0;
                1.0
            } else {
                0.0
            };
            let noise = r.random_range(-1.0..1.0f32) * 0.02;
            let mut x = pulse + noise;
            let mut y = 0.0;
            for (j, st) in res.iter_mut().enumerate() {
                let bw = 80.0 + 40.0 * j as f32;
                let rr = (-std::f32::consts::PI * bw / fs).exp();
                let c = 2.0 * rr * (2.0 * std::f32::consts::PI * v[j] / fs).cos();
                let o = x * (1.0 - rr) + c * st[0] - rr * rr * st[1];
                st[1] = st[0];
                st[0] = o;
                y += o / (1.0 + j as f32);
                x = pulse + noise;
            }
            let env = (std::f32::consts::PI * t).sin().powf(0.5);
            out[i + k] = y * env;
        }
        i += len;
        word_left -= 1;
        if word_left == 0 {
            word_left = 3 + r.random_range(0..4);
            if pauses {
                i += (r.random_range(0.08..0.25f32) * fs) as usize;
            }
        }
    }
    let peak = out.iter().fold(0.0f32, |m, &x| m.max(x.abs())).max(1e-9);
    for x in &mut out {
        *x *= 0.5 / peak;
    }
    out
}

/// Speech-like material with long silences: `talk` seconds of speech then `quiet` seconds of
/// near-silence (-70 dBFS noise), repeated to `seconds`.
pub fn speech_with_silences(rate: u32, seconds: f32, talk: f32, quiet: f32, seed: u64) -> Vec<f32> {
    let speech = speech_like(rate, seconds, seed, true);
    let mut r = rng(seed ^ 0x5eed);
    let period = ((talk + quiet) * rate as f32) as usize;
    let talk_n = (talk * rate as f32) as usize;
    speech
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if i % period < talk_n {
                s
            } else {
                r.random_range(-1.0..1.0f32) * 0.0003
            }
        })
        .collect()
}

/// Whether `tool` (ffmpeg or ffprobe) runs; prints why a test is skipped when it does not.
pub fn have_tool(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "SKIPPED: the `{tool}` command-line tool is not installed (scripts/setup.sh installs it)"
        );
    }
    ok
}

/// A moving, textured test picture (I420): a diagonal gradient scrolling with time, a bouncing
/// box and per-frame sensor noise, so encoders have real work at every bitrate.
pub fn test_picture(w: u32, h: u32, index: u64, fps: u32, rng: &mut ChaCha8Rng) -> VideoFrame {
    let mut f = VideoFrame::new(PixelFormat::I420, w, h).expect("size");
    let (wu, hu) = (w as usize, h as usize);
    let shift = index as usize * 3;
    let bx = ((index as usize * 5) % wu.max(1)).min(wu.saturating_sub(wu / 6));
    let by = ((index as usize * 3) % hu.max(1)).min(hu.saturating_sub(hu / 6));
    {
        let y = f.plane_mut(0);
        for row in 0..hu {
            for col in 0..wu {
                let base = ((col + row + shift) % 256) as i32;
                let tex = if ((col / 8) + (row / 8)) % 2 == 0 {
                    20
                } else {
                    -20
                };
                let in_box = col >= bx && col < bx + wu / 6 && row >= by && row < by + hu / 6;
                let v = if in_box { 235 } else { base / 2 + 64 + tex };
                let noise = rng.random_range(-6..=6);
                y[row * wu + col] = (v + noise).clamp(0, 255) as u8;
            }
        }
    }
    let cw = wu.div_ceil(2);
    for p in 1..3 {
        let c = f.plane_mut(p);
        for (i, px) in c.iter_mut().enumerate() {
            let (row, col) = (i / cw, i % cw);
            *px = (128 + ((col + row * p + shift) % 64) as i32 - 32) as u8;
        }
    }
    f.timestamp = MediaTime::from_micros(index * 1_000_000 / u64::from(fps));
    f
}
