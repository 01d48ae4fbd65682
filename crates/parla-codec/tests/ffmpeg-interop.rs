//! Independent checks against FFmpeg's command-line tools: our Ogg Opus, Annex-B H.264 and IVF
//! VP8 files decode in `ffmpeg`/`ffprobe` with the expected duration, frame count and size, and
//! our decoders decode what `ffmpeg` encodes. Skipped, with a message, where the tools are absent.
// Test code: a panic with its message is the failure report (STYLE.md E6, unwrap in tests).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;

use parla_codec::container::annexb;
use parla_codec::container::ivf::{IvfReader, IvfWriter};
use parla_codec::container::ogg_opus::{OggOpusReader, OggOpusWriter, OpusHead};
use parla_codec::opus::{MAX_PACKET_BYTES, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use parla_codec::video::{SendStatus, VideoCodec, VideoDecoder, VideoEncoder, VideoEncoderConfig};
use parla_core::MediaTime;
use parla_metrics::signal::si_sdr_db;

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn ffprobe(path: &Path, entries: &str, count: bool) -> String {
    let mut c = Command::new("ffprobe");
    c.args(["-v", "error"]);
    if count {
        c.arg("-count_frames");
    }
    c.args([
        "-show_entries",
        entries,
        "-of",
        "default=noprint_wrappers=1",
    ])
    .arg(path);
    String::from_utf8_lossy(&run(&mut c)).into_owned()
}

fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .to_string()
}

fn f32_samples(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn ffmpeg_plays_our_ogg_opus_with_the_right_duration() {
    if !common::have_tool("ffmpeg") || !common::have_tool("ffprobe") {
        return;
    }
    let seed = common::seed(30);
    let dir = tempfile::tempdir().unwrap();
    for rate in [16_000u32, 48_000] {
        let pcm = common::speech_like(rate, 3.37, seed, true);
        let mut enc = OpusEncoder::new(&OpusEncoderConfig::voice(rate, 1).bitrate(32_000)).unwrap();
        let path = dir.path().join(format!("speech{rate}.opus"));
        let scale = u64::from(48_000 / rate);
        let head = OpusHead {
            channels: 1,
            pre_skip: (enc.lookahead() as u64 * scale) as u16,
            input_rate: rate,
            output_gain: 0,
        };
        let mut w = OggOpusWriter::new(
            BufWriter::new(File::create(&path).unwrap()),
            head,
            1,
            "parla test",
        )
        .unwrap();
        let n = enc.frame_samples();
        let mut buf = [0u8; MAX_PACKET_BYTES];
        // Past the end, the lookahead's worth of silence so the whole input is decodable.
        let padded: Vec<f32> = pcm
            .iter()
            .copied()
            .chain(std::iter::repeat_n(0.0, enc.lookahead()))
            .collect();
        for chunk in padded.chunks(n) {
            let mut frame = vec![0.0; n];
            frame[..chunk.len()].copy_from_slice(chunk);
            let p = enc.encode(&frame, &mut buf).unwrap();
            w.write_packet(&buf[..p.len], p.samples as u64 * scale)
                .unwrap();
        }
        w.finish(Some(pcm.len() as u64 * scale))
            .unwrap()
            .flush()
            .unwrap();

        let info = ffprobe(
            &path,
            "stream=codec_name,sample_rate,channels,start_time,duration",
            false,
        );
        // ffprobe's stream duration is the last granule position over 48 kHz, which counts the
        // pre-skip too (ffmpeg's own Ogg Opus files show the same); what plays is that minus
        // the pre-skip, and the decoded length is checked below.
        let start: f64 = field(&info, "start_time").parse().unwrap();
        let duration: f64 = field(&info, "duration").parse().unwrap();
        let want = pcm.len() as f64 / f64::from(rate);
        let pre_skip = f64::from(head.pre_skip) / 48_000.0;
        eprintln!("{rate} Hz: ffprobe says {info:?}, input {want:.4} s");
        assert_eq!(field(&info, "codec_name"), "opus");
        assert!(start.abs() < 1e-6, "start {start}");
        assert!(
            (duration - pre_skip - want).abs() < 0.0005,
            "duration {duration} vs {want} + pre-skip"
        );

        // ffmpeg's own decoder produces the input's waveform, trimmed to the right length.
        let decoded = f32_samples(&run(Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "f32le", "-ac", "1", "-ar", &rate.to_string(), "-"])));
        eprintln!(
            "{rate} Hz: ffmpeg decoded {} samples for {} in",
            decoded.len(),
            pcm.len()
        );
        assert_eq!(
            decoded.len(),
            pcm.len(),
            "ffmpeg decodes exactly the input's length"
        );
        let len = decoded.len().min(pcm.len());
        let sdr = si_sdr_db(&pcm[..len], &decoded[..len]);
        eprintln!("{rate} Hz: ffmpeg-decoded SI-SDR {sdr:.1} dB");
        // The same threshold as our own round trip (opus-quality.rs explains it).
        assert!(sdr > 4.0, "{sdr}");
    }
}

#[test]
fn our_opus_decoder_decodes_ffmpeg_ogg_opus() {
    if !common::have_tool("ffmpeg") {
        return;
    }
    let seed = common::seed(31);
    let dir = tempfile::tempdir().unwrap();
    let pcm = common::speech_like(48_000, 2.5, seed, true);
    let raw = dir.path().join("in.f32");
    std::fs::write(
        &raw,
        pcm.iter()
            .flat_map(|s| s.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let path = dir.path().join("ffmpeg.opus");
    run(Command::new("ffmpeg")
        .args([
            "-v", "error", "-y", "-f", "f32le", "-ar", "48000", "-ac", "1", "-i",
        ])
        .arg(&raw)
        .args(["-c:a", "libopus", "-b:a", "48k"])
        .arg(&path));
    let mut r = OggOpusReader::new(File::open(&path).unwrap()).unwrap();
    let head = *r.head();
    let mut dec = OpusDecoder::new(48_000, 1).unwrap();
    let mut buf = vec![0.0; dec.max_frame_samples()];
    let mut out = Vec::new();
    while let Some(p) = r.next_packet().unwrap() {
        let n = dec.decode(&p, &mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    let end = r.last_granule().unwrap() as usize;
    out.truncate(end);
    out.drain(..usize::from(head.pre_skip));
    assert!(
        (out.len() as i64 - pcm.len() as i64).abs() < 48,
        "{} vs {}",
        out.len(),
        pcm.len()
    );
    let len = out.len().min(pcm.len());
    let sdr = si_sdr_db(&pcm[..len], &out[..len]);
    eprintln!("ffmpeg-encoded Ogg Opus, our decoder: SI-SDR {sdr:.1} dB");
    assert!(sdr > 10.0, "{sdr}");
}

/// Encode `frames` test pictures; write them with `sink`; return our decoder's pictures.
fn encode_stream(
    codec: VideoCodec,
    w: u32,
    h: u32,
    frames: u64,
    seed: u64,
    mut sink: impl FnMut(&[u8], MediaTime),
) -> Vec<Vec<u8>> {
    let mut enc =
        VideoEncoder::new(&VideoEncoderConfig::new(codec, w, h).bitrate(400_000)).unwrap();
    let mut dec = VideoDecoder::new(codec).unwrap();
    let mut r = common::rng(seed);
    let mut ours = Vec::new();
    for i in 0..frames {
        let f = common::test_picture(w, h, i, 30, &mut r);
        assert_eq!(enc.send_frame(&f).unwrap(), SendStatus::Queued);
        while let Some(p) = enc.receive_packet().unwrap() {
            sink(&p.data, p.timestamp);
            let d = dec.decode(&p.data, p.timestamp).unwrap().unwrap();
            ours.push(d.frame.data().to_vec());
        }
    }
    ours
}

fn ffmpeg_decode_yuv(path: &Path) -> Vec<u8> {
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]))
}

#[test]
fn ffmpeg_decodes_our_h264_and_vp8_streams() {
    if !common::have_tool("ffmpeg") || !common::have_tool("ffprobe") {
        return;
    }
    let seed = common::seed(32);
    let dir = tempfile::tempdir().unwrap();
    let (w, h, n) = (320u32, 240u32, 45u64);

    let h264 = dir.path().join("ours.h264");
    let mut file = BufWriter::new(File::create(&h264).unwrap());
    let ours = encode_stream(VideoCodec::H264, w, h, n, seed, |d, _| {
        file.write_all(d).unwrap()
    });
    file.flush().unwrap();
    drop(file);

    let ivf = dir.path().join("ours.ivf");
    let mut writer =
        IvfWriter::new(BufWriter::new(File::create(&ivf).unwrap()), *b"VP80", w, h).unwrap();
    let ours_vp8 = encode_stream(VideoCodec::Vp8, w, h, n, seed, |d, t| {
        writer.write_frame(d, t).unwrap()
    });
    writer.finish().unwrap().flush().unwrap();

    for (path, codec, ours) in [(&h264, "h264", ours), (&ivf, "vp8", ours_vp8)] {
        let info = ffprobe(
            path,
            "stream=codec_name,width,height,profile,nb_read_frames",
            true,
        );
        eprintln!("{codec}: {info:?}");
        assert_eq!(field(&info, "codec_name"), codec);
        assert_eq!(field(&info, "width"), w.to_string());
        assert_eq!(field(&info, "height"), h.to_string());
        assert_eq!(field(&info, "nb_read_frames"), n.to_string());
        if codec == "h264" {
            assert_eq!(field(&info, "profile"), "Constrained Baseline");
        }
        // Same pictures as our decoder, bit for bit.
        let theirs = ffmpeg_decode_yuv(path);
        assert_eq!(theirs.len(), ours.iter().map(Vec::len).sum::<usize>());
        assert!(
            theirs == ours.concat(),
            "{codec}: ffmpeg's pictures differ from ours"
        );
    }
}

#[test]
fn our_decoders_decode_ffmpeg_h264_and_vp8() {
    if !common::have_tool("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let n = 25;
    for (codec, file, args) in [
        // FFmpeg's defaults: High profile with B-frames, so pictures come out reordered and late.
        (
            VideoCodec::H264,
            "ff.h264",
            vec!["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        ),
        (
            VideoCodec::Vp8,
            "ff.ivf",
            vec!["-c:v", "libvpx", "-b:v", "500k"],
        ),
    ] {
        let path = dir.path().join(file);
        run(Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=352x288:rate=25",
            ])
            .args(["-frames:v", &n.to_string()])
            .args(&args)
            .arg(&path));
        let reference = ffmpeg_decode_yuv(&path);
        let mut dec = VideoDecoder::new(codec).unwrap();
        let mut pictures = Vec::new();
        let mut feed = |data: &[u8], t: MediaTime, dec: &mut VideoDecoder| {
            dec.send_packet(data, t).unwrap();
            while let Some(d) = dec.receive_frame().unwrap() {
                assert_eq!((d.frame.width(), d.frame.height()), (352, 288));
                pictures.push(d.frame.data().to_vec());
            }
        };
        match codec {
            VideoCodec::H264 => {
                let stream = std::fs::read(&path).unwrap();
                for (i, au) in annexb::access_units(&stream).iter().enumerate() {
                    feed(au, MediaTime::from_millis(i as u64 * 40), &mut dec);
                }
            }
            VideoCodec::Vp8 => {
                let mut r = IvfReader::new(File::open(&path).unwrap()).unwrap();
                assert_eq!(&r.header().fourcc, b"VP80");
                while let Some((data, t)) = r.next_frame().unwrap() {
                    feed(&data, t, &mut dec);
                }
            }
        }
        dec.flush().unwrap();
        while let Some(d) = dec.receive_frame().unwrap() {
            pictures.push(d.frame.data().to_vec());
        }
        eprintln!(
            "{codec:?}: decoded {} pictures of an ffmpeg stream",
            pictures.len()
        );
        assert_eq!(pictures.len(), n);
        assert!(
            pictures.concat() == reference,
            "{codec:?}: pictures differ from ffmpeg's"
        );
    }
}
