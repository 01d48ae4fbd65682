//! The `video` suite of `parla bench` (issue 17): whole video calls through `parla-sim` over
//! its reactive link (`--link`), one case per acceptance condition. Each case's figures come
//! from the call's `video` report block (docs/CALL.md) for A to B, plus the audio mouth-to-ear
//! delay of the same direction.

use std::time::Instant;

use parla_engine::{CallConfig, VideoCodec, VideoConfig};
use parla_sim::{LinkSpec, Pattern, SimConfig, SimVideo};

use crate::suites::Outcome;

/// One video scenario: the link, the video and the call length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoScenario {
    /// Case name without the suite (`720p-1500k-40ms`, ...).
    pub name: &'static str,
    /// The link, in `--link` syntax.
    pub link: &'static str,
    /// Codec.
    pub codec: VideoCodec,
    /// Largest size.
    pub width: u32,
    /// Largest size.
    pub height: u32,
    /// The most the video may use, bits per second.
    pub max_bps: u32,
    /// Call length, seconds.
    pub seconds: f64,
}

/// The scenarios, one per acceptance condition of issue 17.
pub const SCENARIOS: [VideoScenario; 4] = [
    VideoScenario {
        name: "720p-1500k-40ms",
        link: "rate=2500k,delay=40",
        codec: VideoCodec::H264,
        width: 1280,
        height: 720,
        max_bps: 1_500_000,
        seconds: 20.0,
    },
    VideoScenario {
        name: "loss2-rtt100",
        link: "rate=2500k,delay=50,loss=2%",
        codec: VideoCodec::H264,
        width: 640,
        height: 360,
        max_bps: 1_500_000,
        seconds: 20.0,
    },
    VideoScenario {
        name: "outage-500ms",
        link: "rate=2500k,delay=50,outage=10:500",
        codec: VideoCodec::Vp8,
        width: 640,
        height: 360,
        max_bps: 1_500_000,
        seconds: 20.0,
    },
    VideoScenario {
        name: "step-1m-300k",
        link: "rate=1000k,delay=40,step=10:300k",
        codec: VideoCodec::H264,
        width: 640,
        height: 360,
        max_bps: 1_500_000,
        seconds: 25.0,
    },
];

/// The material of a `video` case: the scenario, the seed and the talkers.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoMaterial {
    /// The scenario.
    pub scenario: VideoScenario,
    /// The call's seed.
    pub seed: u64,
    /// Talker A's clean speech, 48 kHz.
    pub talker_a: Vec<f32>,
    /// Talker B's clean speech, 48 kHz.
    pub talker_b: Vec<f32>,
}

impl VideoMaterial {
    /// The simulation's configuration for this case (the engine's defaults plus the video).
    ///
    /// # Errors
    /// For a link the simulator refuses.
    pub fn sim_config(&self) -> anyhow::Result<SimConfig> {
        let s = &self.scenario;
        let mut video = VideoConfig::new(s.codec, s.width, s.height, 30);
        video.max_bitrate_bps = s.max_bps;
        video.start_bitrate_bps = video.start_bitrate_bps.min(s.max_bps);
        Ok(SimConfig {
            call: CallConfig::default(),
            network: parla_sim::NetworkSpec::named("fixed40")?,
            network_name: String::new(),
            shared: Default::default(),
            seconds: s.seconds,
            seed: self.seed,
            realtime: false,
            tamper_every: None,
            talker_a: self.talker_a.clone(),
            talker_b: self.talker_b.clone(),
            heard_a: None,
            heard_b: None,
            link: Some(LinkSpec::parse(s.link)?),
            video: Some(SimVideo {
                config: video,
                input: None,
                pattern: Pattern::Pan,
                seen_by_a: None,
                seen_by_b: None,
            }),
        })
    }
}

/// Runs one `video` case. Metrics (A to B): `freeze_pct`, `longest_gap_ms`, `e2e_p50_ms`,
/// `e2e_p95_ms`, `psnr_mean_db`, `psnr_p5_db`, `skew_p5_ms`, `skew_p95_ms` (the second half of
/// the call), `skew_call_p95_ms` (the whole call), `recovered_pct` (lost video packets
/// recovered by retransmission), `in_time_pct` (recovered before their frame was due),
/// `skipped_frames` (captures the sender skipped under congestion),
/// `decoded_pct` (frames decoded of those sent), `keyframe_recovery_ms`,
/// `outage_first_frame_ms` (with an outage), `queue_back_s` and `queue_settled_s` (with a
/// capacity step: seconds until the link's queueing delay is back under 100 ms, and until it
/// stays there), `m2e_median_ms` (audio) and `final_kbps`
/// (video sent in the last second); the series is the video sent per second, kbit/s.
///
/// # Errors
/// When the call cannot run.
pub fn run_case(m: &VideoMaterial, o: &mut Outcome) -> anyhow::Result<()> {
    let cfg = m.sim_config()?;
    let started = Instant::now();
    let r = parla_sim::run(&cfg)?;
    o.wall_s = started.elapsed().as_secs_f64();
    o.media_s = 2.0 * m.scenario.seconds;
    let d = &r.a_to_b;
    let v = d
        .video
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the call has no video report"))?;
    let mut put = |k: &str, x: Option<f64>| {
        if let Some(x) = x.filter(|x| x.is_finite()) {
            o.metrics.insert(k.to_string(), x);
        }
    };
    put("freeze_pct", Some(v.freeze_time_percent));
    put("longest_gap_ms", Some(v.longest_gap_ms));
    put("e2e_p50_ms", Some(v.e2e_delay_ms.median));
    put("e2e_p95_ms", Some(v.e2e_delay_ms.p95));
    put("psnr_mean_db", Some(v.psnr_db.mean));
    put("psnr_p5_db", Some(v.psnr_db.p5));
    put("skew_p5_ms", Some(v.av_skew_second_half_ms.p5));
    put("skew_p95_ms", Some(v.av_skew_second_half_ms.p95));
    put("skew_call_p95_ms", Some(v.av_skew_ms.p95));
    put("recovered_pct", Some(v.packets_recovered_percent));
    put("in_time_pct", Some(v.packets_recovered_in_time_percent));
    put("skipped_frames", Some(v.frames_skipped_congested as f64));
    put(
        "decoded_pct",
        (v.frames_sent > 0).then(|| 100.0 * v.frames_decoded as f64 / v.frames_sent as f64),
    );
    put("keyframe_recovery_ms", Some(v.keyframe_recovery_ms));
    put("outage_first_frame_ms", v.first_frame_after_outage_ms);
    put("queue_back_s", v.queue_back_under_after_step_s);
    put("queue_settled_s", v.queue_settled_after_step_s);
    put("m2e_median_ms", d.mouth_to_ear.median_ms);
    put("final_kbps", v.timeline.last().map(|s| s.sent_bps / 1000.0));
    o.series = v
        .timeline
        .iter()
        .map(|s| (s.t_s, s.sent_bps / 1000.0))
        .collect();
    Ok(())
}
