//! The time stretcher never allocates once built (STYLE.md T1).
use parla_jitter::stretch::TimeStretcher;

#[global_allocator]
static A: parla_core::alloc_counter::CountingAllocator =
    parla_core::alloc_counter::CountingAllocator;

#[test]
fn stretch_does_not_allocate() {
    assert!(parla_core::alloc_counter::is_installed());
    for rate in [16_000u32, 48_000] {
        let mut s = TimeStretcher::new(rate).expect("valid rate");
        let n = s.min_input_len();
        let x: Vec<f32> = (0..n * 4)
            .map(|i| (i as f32 * 0.031).sin() * 0.3 + (i as f32 * 0.11).sin() * 0.05)
            .collect();
        let mut out = vec![0.0f32; n + s.max_period()];
        // Warm up.
        s.accelerate_into(&x[..n], &mut out, false).expect("sized");
        for k in 0..1000 {
            let start = k % (3 * n);
            let block = &x[start..start + n - (k % 7)];
            parla_core::alloc_counter::assert_no_alloc("stretch", || {
                s.accelerate_into(block, &mut out, k % 2 == 0)
                    .expect("sized");
                s.expand_into(block, &mut out, k % 3 == 0).expect("sized");
                s.find_period(block)
            });
        }
    }
}
