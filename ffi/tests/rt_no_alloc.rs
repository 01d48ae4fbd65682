//! The real-time entry points of the C ABI (`parla_call_push_capture_*`,
//! `parla_call_pull_playout_*`) and the packet entry points never allocate once the call runs.

use std::ptr;

use parla_ffi::*;

#[global_allocator]
static A: parla_core::alloc_counter::CountingAllocator =
    parla_core::alloc_counter::CountingAllocator;

#[test]
fn audio_and_packet_entry_points_do_not_allocate() {
    assert!(parla_core::alloc_counter::is_installed());
    let cfg = ParlaCallConfig {
        e2ee: false,
        ..ParlaCallConfig::default()
    };
    let mut call: *mut ParlaCall = ptr::null_mut();
    // SAFETY: valid pointers for the duration of each call; `call` is freed once at the end.
    unsafe {
        assert_eq!(parla_call_new(&cfg, &mut call), PARLA_OK);
        assert_eq!(
            parla_call_start(call, PARLA_AUDIO_MODE_APP_OWNED, ptr::null(), ptr::null()),
            PARLA_OK
        );
        let mic_f = [0.1f32; 480];
        let mic_i = [1000i16; 480];
        let mut spk_f = [0.0f32; 480];
        let mut spk_i = [0i16; 480];
        let mut buf = [0u8; PARLA_MAX_PACKET];
        let mut len = 0usize;
        let packet = [0x80u8, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 1, 2, 3, 4];
        let mut step = |i: usize| {
            let n = 48 * (1 + i % 10); // 1..10 ms
            let s1 = parla_call_push_capture_f32(call, mic_f.as_ptr(), n);
            let s2 = parla_call_push_capture_i16(call, mic_i.as_ptr(), n);
            let s3 = parla_call_pull_playout_f32(call, spk_f.as_mut_ptr(), n);
            let s4 = parla_call_pull_playout_i16(call, spk_i.as_mut_ptr(), n);
            let s5 = parla_call_receive_packet(call, packet.as_ptr(), packet.len());
            let s6 = parla_call_poll_packet(call, buf.as_mut_ptr(), buf.len(), &mut len);
            // Errors on the RT path set no message (which would allocate).
            let s7 = parla_call_push_capture_f32(call, mic_f.as_ptr(), usize::MAX);
            [s1, s2, s3, s4, s5, s6, s7]
        };
        for i in 0..20 {
            step(i);
        }
        for i in 0..1000 {
            let s =
                parla_core::alloc_counter::assert_no_alloc("C ABI audio/packet calls", || step(i));
            assert!(
                s[..4].iter().all(|&x| x == PARLA_OK || x == PARLA_PARTIAL),
                "{s:?}"
            );
            assert_eq!(s[4], PARLA_OK);
            assert!(s[5] == PARLA_OK || s[5] == PARLA_NO_PACKET);
            assert_eq!(s[6], PARLA_ERR_INVALID_ARG);
        }
        parla_call_free(call);
    }
}
