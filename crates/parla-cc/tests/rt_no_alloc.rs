//! The per-packet and per-feedback paths never touch the allocator after construction
//! (STYLE.md R2, T1): sending (numbering, pacing), recording arrivals, writing and parsing
//! feedback, authenticating it, the estimator update, RTCP validation and report reading, the
//! allocator and the audio adaptor.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print

use parla_cc::allocator::{AudioAdaptor, BitrateAllocator, StreamLimits};
use parla_cc::auth::FeedbackAuth;
use parla_cc::estimator::{BandwidthEstimator, CcConfig};
use parla_cc::pacer::{PacedPacket, Pacer, PacerConfig, PacerOutput, PacketKind};
use parla_cc::rtcp::{RemoteReports, RtcpMode, validate};
use parla_cc::twcc::{FeedbackRecorder, MAX_FEEDBACK_LEN, TwccFeedback};
use parla_core::MediaTime;
use parla_core::alloc_counter::{assert_no_alloc, is_installed};
use parla_rtp::rtcp::{ReceiveStats, write_rr};

#[global_allocator]
static A: parla_core::alloc_counter::CountingAllocator =
    parla_core::alloc_counter::CountingAllocator;

#[test]
fn cc_paths_do_not_allocate() {
    assert!(is_installed());
    let mut bwe = BandwidthEstimator::new(CcConfig::default()).unwrap();
    let mut pacer = Pacer::new(PacerConfig::default(), 300_000).unwrap();
    let mut rec = FeedbackRecorder::new(1, 2);
    let mut rx_auth = FeedbackAuth::new(&[1; 32], &[2; 32]);
    let mut tx_auth = FeedbackAuth::new(&[2; 32], &[1; 32]);
    let mut reports = RemoteReports::new(7);
    let mut stats = ReceiveStats::new(7, 48_000);
    let alloc = BitrateAllocator {
        audio: StreamLimits {
            min_bps: 16_000,
            max_bps: 64_000,
            priority: 1,
        },
        video: Some(StreamLimits {
            min_bps: 150_000,
            max_bps: 2_000_000,
            priority: 2,
        }),
    };
    let mut adaptor = AudioAdaptor::new();
    let mut fb = [0u8; MAX_FEEDBACK_LEN + 32];
    let mut rtcp = [0u8; 256];
    let mut step = |round: i64| {
        let t0 = round * 50_000;
        for i in 0..20i64 {
            pacer.enqueue(PacedPacket {
                id: (round * 20 + i) as u64,
                size: if i == 0 { 120 } else { 1200 },
                kind: if i == 0 {
                    PacketKind::Audio
                } else {
                    PacketKind::Video
                },
            });
        }
        while let Some(p) = bwe.take_probe() {
            pacer.add_probe(p);
        }
        pacer.set_rates(bwe.target_bps(), 0);
        let mut now = t0;
        for _ in 0..200 {
            match pacer.poll(now) {
                PacerOutput::Send { packet, cluster } => {
                    let s = bwe.on_packet_sent(now, packet.size, cluster);
                    if !s.is_multiple_of(13) {
                        rec.on_packet(s, now + 30_000);
                    }
                }
                PacerOutput::Padding { bytes, cluster } => {
                    let s = bwe.on_packet_sent(now, bytes, cluster);
                    rec.on_packet(s, now + 30_000);
                }
                PacerOutput::Wait(t) => now = t.min(t0 + 49_000).max(now + 100),
                PacerOutput::Idle => break,
            }
        }
        while let Some(n) = rec.write_feedback(&mut fb).unwrap() {
            let n = rx_auth.protect(&mut fb, n).unwrap();
            let body = tx_auth.unprotect(&fb[..n]).unwrap();
            let parsed = TwccFeedback::parse(body).unwrap();
            bwe.on_transport_feedback(t0 + 45_000, &parsed);
        }
        bwe.on_tick(t0 + 49_000);
        stats.on_packet(
            round as u16,
            (round * 960) as u32,
            MediaTime::from_micros(t0 as u64),
        );
        let block = stats
            .report_block(MediaTime::from_micros(t0 as u64))
            .unwrap();
        let n = write_rr(9, &[block], &mut rtcp).unwrap();
        validate(&rtcp[..n], RtcpMode::Compound).unwrap();
        let _ = reports.on_rtcp(&rtcp[..n], MediaTime::from_micros(t0 as u64));
        let a = alloc.allocate(bwe.target_bps());
        let _ = adaptor.update(a.audio_bps, bwe.loss_fraction());
    };
    for r in 0..50 {
        step(r); // warm-up
    }
    assert_no_alloc("cc send, feedback and adaptation path", || {
        for r in 50..1050 {
            step(r);
        }
    });
    assert!(bwe.stats().feedbacks >= 1000);
}
