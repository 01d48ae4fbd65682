//! No allocation on the real-time paths of a running call: the app's audio calls, the packet
//! calls, and every step of the media thread after start (counted on that thread by the
//! engine's `_test-alloc` feature), including a key rotation mid-call.
#![allow(clippy::unwrap_used)]

#[global_allocator]
static A: parla_core::alloc_counter::CountingAllocator =
    parla_core::alloc_counter::CountingAllocator;

mod common;

use parla_core::alloc_counter::{assert_no_alloc, is_installed};
use parla_engine::{AudioMode, CallConfig};

#[test]
fn media_thread_and_app_audio_calls_do_not_allocate() {
    assert!(is_installed(), "the counting allocator must be installed");
    // The default configuration: AEC3, noise suppression, Opus with FEC, SFrame.
    let (a, b) = common::call_pair(CallConfig::default());
    a.start(AudioMode::AppOwned).unwrap();
    b.start(AudioMode::AppOwned).unwrap();
    let speech = common::near_speech_48k();
    let mut spk = vec![0.0f32; 480];
    let mut pkt = vec![0u8; parla_engine::MAX_WIRE_PACKET];
    let mut moved = 0;
    for (i, chunk) in speech.chunks_exact(480).take(200).enumerate() {
        assert_no_alloc("push_capture", || a.push_capture(chunk).unwrap());
        assert_no_alloc("push_capture_i16", || {
            b.push_capture_i16(&[0i16; 480]).unwrap()
        });
        assert_no_alloc("packets", || {
            for (from, to) in [(&a, &b), (&b, &a)] {
                while let Some(n) = from.poll_packet(&mut pkt).unwrap() {
                    to.receive_packet(&pkt[..n]);
                    moved += 1;
                }
            }
        });
        assert_no_alloc("pull_playout", || a.pull_playout(&mut spk).unwrap());
        assert_no_alloc("pull_playout_i16", || {
            let mut s16 = [0i16; 480];
            b.pull_playout_i16(&mut s16).unwrap()
        });
        if i == 100 {
            a.rotate_key().unwrap();
            b.rotate_key().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (sa, sb) = (a.stats(), b.stats());
    println!("packets moved {moved}; A {sa:?}\nB {sb:?}");
    assert!(moved > 150, "packets moved: {moved}");
    assert!(
        sa.ticks > 150 && sb.ticks > 150,
        "ticks {} {}",
        sa.ticks,
        sb.ticks
    );
    assert!(sb.e2ee_accepted > 50, "{sb:?}");
    assert_eq!(sa.key_epoch, 1);
    assert_eq!(sa.media_thread_allocs, 0, "A's media thread allocated");
    assert_eq!(sb.media_thread_allocs, 0, "B's media thread allocated");
    a.stop().unwrap();
    b.stop().unwrap();
}

#[test]
fn media_core_tick_receive_and_stats_do_not_allocate() {
    use parla_core::MediaTime;
    use parla_engine::{MediaCore, StreamIds};
    assert!(is_installed(), "the counting allocator must be installed");
    let cfg = CallConfig::default();
    let (mut ka, mut kb) = common::call_keys(b"core");
    let ids = StreamIds {
        ssrc: 7,
        first_seq: 1,
        timestamp_offset: 2,
    };
    let mut a = MediaCore::new(&cfg, Some(&mut ka), ids).unwrap();
    let mut b = MediaCore::new(&cfg, Some(&mut kb), ids).unwrap();
    let speech = common::near_speech_48k();
    let mut spk = vec![0.0f32; 480];
    let mut spk_b = vec![0.0f32; 480];
    let mut wire = vec![0u8; 2048];
    let mut wire_len = 0;
    let mut back = vec![0u8; 2048];
    let mut back_len = 0;
    for (i, chunk) in speech.chunks_exact(480).take(300).enumerate() {
        let now = MediaTime::from_millis(i as u64 * 10);
        let warm = i < 1;
        let run = |what: &str, f: &mut dyn FnMut()| {
            if warm {
                f();
            } else {
                assert_no_alloc(what, f);
            }
        };
        run("tick A", &mut || {
            a.tick(now, chunk, &mut spk, &mut |p| {
                wire[..p.len()].copy_from_slice(p);
                wire_len = p.len();
            })
            .unwrap();
        });
        if wire_len > 0 {
            run("receive B", &mut || {
                b.receive_packet(&wire[..wire_len], now)
            });
            wire_len = 0;
        }
        // B's RTCP (reports and transport feedback) goes back to A: congestion control's
        // receive side, the estimator and the audio adaptation run under the counter too.
        run("tick B", &mut || {
            b.tick(now, &[0.0; 480], &mut spk_b, &mut |p| {
                back[..p.len()].copy_from_slice(p);
                back_len = p.len();
            })
            .unwrap();
        });
        if back_len > 0 {
            run("receive A", &mut || {
                a.receive_packet(&back[..back_len], now)
            });
            back_len = 0;
        }
        run("stats", &mut || {
            std::hint::black_box(b.stats());
        });
    }
    assert!(b.stats().e2ee_accepted > 100);
    let sa = a.stats();
    assert!(
        sa.feedback_received > 5 && sa.rtcp_rejected == 0,
        "A used B's feedback: {} received, {} rejected",
        sa.feedback_received,
        sa.rtcp_rejected
    );
}
