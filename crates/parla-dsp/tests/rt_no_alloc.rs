//! The whole send chain, after warm-up, neither allocates nor frees per frame, at every supported
//! input rate (STYLE.md T1). Its own test binary: the counting allocator is process-wide.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test (STYLE.md E6).
use parla_core::alloc_counter::{CountingAllocator, assert_no_alloc, is_installed};
use parla_core::format::SUPPORTED_RATES;
use parla_dsp::chain::{SendChain, SendChainConfig};
use parla_dsp::resample::ResampleMode;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

fn run(rate: u32, mode: ResampleMode) {
    let cfg = SendChainConfig::new(rate).resample_mode(mode);
    let max_block = cfg.max_block;
    let mut chain = SendChain::new(cfg).unwrap();
    let input: Vec<f32> = (0..max_block)
        .map(|i| 0.3 * (i as f32 * 0.031).sin() + 0.01 * ((i * 7919) % 101) as f32 / 101.0)
        .collect();
    let mut out = vec![0.0f32; max_block * 2];
    // Warm-up: every buffer reaches its working size.
    for _ in 0..20 {
        chain.push_capture(&input[..rate as usize / 100]).unwrap();
        while chain.pull(&mut out[..64]) {}
    }
    // Varying block sizes up to max_block, as device callbacks deliver them.
    let sizes = [
        rate as usize / 100,
        max_block,
        1,
        max_block / 3,
        rate as usize / 200 + 3,
    ];
    let frames = assert_no_alloc("send chain push/pull", || {
        let mut frames = 0;
        let mut k = 0;
        while frames < 1000 {
            let n = sizes[k % sizes.len()];
            frames += chain.push_capture(&input[..n]).unwrap();
            let want = 1 + (k * 37) % 480;
            while chain.pull(&mut out[..want]) {}
            k += 1;
        }
        frames
    });
    assert!(frames >= 1000);
}

#[test]
fn send_chain_does_not_allocate_per_frame() {
    assert!(is_installed(), "the counting allocator must be active");
    for &rate in &SUPPORTED_RATES {
        run(rate, ResampleMode::Fixed);
        run(rate, ResampleMode::Adjustable);
    }
}

#[test]
fn the_guard_catches_an_allocation() {
    assert!(is_installed());
    let (_, counts) = parla_core::alloc_counter::count_allocations(|| {
        drop(std::hint::black_box(vec![1u8; 10]));
    });
    assert!(counts.allocs >= 1 && counts.deallocs >= 1);
}
