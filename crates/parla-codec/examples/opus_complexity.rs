//! Output of each Opus complexity on the bundled speech, for the complexity policy
//! (`docs/PERFORMANCE.md`): encodes `samples/*.wav` at 48 kHz with the call's settings (VoIP,
//! 20 ms, FEC for 10 % loss) at each bitrate and complexity, decodes, and writes the decoded speech
//! (aligned with the input) to OUT_DIR. `scripts/opus-complexity-pesq.py` scores the written files
//! with PESQ-WB; the cost of each complexity is the `stage/opus_encode_20ms` bench of
//! `benches/benches/call_tick.rs` (thread CPU time, robust on a shared machine).
//!
//! ```text
//! cargo run --release -p parla-codec --example opus_complexity -- OUT_DIR [BITRATE...]
//! ```
use std::path::PathBuf;

use parla_codec::opus::{MAX_PACKET_BYTES, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use parla_testkit::speech::sample_mono_at;
use parla_testkit::wav::write_wav;

const RATE: u32 = 48_000;
const FILES: [&str; 3] = [
    "near_speech_clean.wav",
    "far_speech_clean.wav",
    "noisy_speech_pink_5db.wav",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out_dir = PathBuf::from(
        args.next()
            .ok_or("usage: opus_complexity OUT_DIR [BITRATE...]")?,
    );
    let mut bitrates: Vec<u32> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if bitrates.is_empty() {
        bitrates = vec![12_000, 16_000, 24_000, 32_000];
    }
    std::fs::create_dir_all(&out_dir)?;
    for file in FILES {
        let pcm = sample_mono_at(file, RATE);
        for &bitrate in &bitrates {
            for complexity in 0..=10u8 {
                let cfg = OpusEncoderConfig::voice(RATE, 1)
                    .bitrate(bitrate)
                    .complexity(complexity)
                    .fec(true, 10);
                let decoded = round_trip(&cfg, &pcm)?;
                let stem = file.trim_end_matches(".wav");
                write_wav(
                    &out_dir.join(format!("{stem}.{bitrate}.c{complexity}.wav")),
                    &decoded,
                    RATE,
                )?;
            }
        }
    }
    Ok(())
}

/// Encode and decode `pcm`; returns the decoded signal trimmed to line up with the input.
fn round_trip(
    cfg: &OpusEncoderConfig,
    pcm: &[f32],
) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let mut enc = OpusEncoder::new(cfg)?;
    let mut dec = OpusDecoder::new(RATE, 1)?;
    let n = enc.frame_samples();
    let lookahead = enc.lookahead();
    let mut padded = pcm.to_vec();
    padded.resize((pcm.len() + lookahead).div_ceil(n) * n, 0.0);
    let mut packet = [0u8; MAX_PACKET_BYTES];
    let mut frame_out = vec![0.0f32; dec.max_frame_samples()];
    let mut out = Vec::with_capacity(padded.len());
    for frame in padded.chunks(n) {
        let p = enc.encode(frame, &mut packet)?;
        let got = dec.decode(&packet[..p.len], &mut frame_out)?;
        out.extend_from_slice(&frame_out[..got]);
    }
    out.drain(..lookahead.min(out.len()));
    out.truncate(pcm.len());
    Ok(out)
}
