//! Per-feedback cost of the send side: parse + authenticate + estimator update for one
//! transport-wide feedback packet covering 50 ms of traffic (20 and 100 packets).
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parla_cc::auth::FeedbackAuth;
use parla_cc::estimator::{BandwidthEstimator, CcConfig};
use parla_cc::twcc::{FeedbackRecorder, MAX_FEEDBACK_LEN, TwccFeedback};

fn feedback(c: &mut Criterion) {
    let mut g = c.benchmark_group("feedback");
    for packets in [20i64, 100] {
        g.throughput(Throughput::Elements(packets as u64));
        g.bench_with_input(
            BenchmarkId::new("auth+parse+estimate", packets),
            &packets,
            |b, &n| {
                let mut bwe = BandwidthEstimator::new(CcConfig::default()).expect("bwe");
                let mut rec = FeedbackRecorder::new(1, 2);
                let mut rx = FeedbackAuth::new(&[1; 32], &[2; 32]);
                let mut tx = FeedbackAuth::new(&[2; 32], &[1; 32]);
                let mut buf = [0u8; MAX_FEEDBACK_LEN + 16];
                let mut round = 0i64;
                b.iter(|| {
                    let t0 = round * 50_000;
                    for i in 0..n {
                        let t = t0 + i * 50_000 / n;
                        let s = bwe.on_packet_sent(t, 1200, None);
                        rec.on_packet(s, t + 30_000);
                    }
                    let len = rec.write_feedback(&mut buf).expect("write").expect("some");
                    let len = rx.protect(&mut buf, len).expect("protect");
                    let body = tx.unprotect(&buf[..len]).expect("auth");
                    let fb = TwccFeedback::parse(body).expect("parse");
                    bwe.on_transport_feedback(t0 + 45_000, &fb);
                    round += 1;
                    bwe.target_bps()
                });
            },
        );
    }
    g.finish();
}

criterion_group!(benches, feedback);
criterion_main!(benches);
