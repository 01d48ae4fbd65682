//! Cost of one 10 ms tick of a call endpoint (send and receive), per configuration.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use parla_core::MediaTime;
use parla_engine::{AecMode, CallConfig, KeyAgreement, MediaCore, StreamIds};

fn tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_tick");
    for (name, aec, ns) in [
        ("full_aec3_ns", AecMode::Aec3, true),
        ("no_aec_ns", AecMode::Off, true),
        ("codec_e2ee_only", AecMode::Off, false),
    ] {
        let cfg = CallConfig {
            aec,
            noise_suppression: ns,
            ..CallConfig::default()
        };
        let mut rng = rand::rng();
        let (ka, kb) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
        let (ba, bb) = (ka.public_blob(), kb.public_blob());
        let mut keys_a = ka.finish(&bb, b"bench").unwrap();
        let mut keys_b = kb.finish(&ba, b"bench").unwrap();
        let ids = StreamIds {
            ssrc: 1,
            first_seq: 0,
            timestamp_offset: 0,
        };
        let mut a = MediaCore::new(&cfg, Some(&mut keys_a), ids).unwrap();
        let mut b = MediaCore::new(&cfg, Some(&mut keys_b), ids).unwrap();
        let mic: Vec<f32> = (0..480).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let mut spk = vec![0.0f32; 480];
        let mut spk_b = vec![0.0f32; 480];
        let mut packets: Vec<Vec<u8>> = Vec::with_capacity(4);
        let mut t = 0u64;
        g.bench_function(name, |bench| {
            bench.iter(|| {
                let now = MediaTime::from_millis(t * 10);
                a.tick(now, &mic, &mut spk, &mut |p| packets.push(p.to_vec()))
                    .unwrap();
                for p in packets.drain(..) {
                    b.receive_packet(&p, now);
                }
                b.tick(now, &mic, &mut spk_b, &mut |_| {}).unwrap();
                t += 1;
            });
        });
    }
    g.finish();
}

criterion_group!(benches, tick);
criterion_main!(benches);
