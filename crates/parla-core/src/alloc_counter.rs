//! A counting global allocator for tests of the real-time rules (STYLE.md T1).
//!
//! A test binary installs [`CountingAllocator`] as its global allocator, then wraps the code that
//! must not allocate in [`count_allocations`] (or [`assert_no_alloc`]). Counting is per thread, so
//! other test threads do not disturb the result; keep such tests in their own test binary
//! (`tests/rt_no_alloc.rs`) because the global allocator is process-wide.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: parla_core::alloc_counter::CountingAllocator =
//!     parla_core::alloc_counter::CountingAllocator;
//!
//! let (_, counts) = parla_core::alloc_counter::count_allocations(|| stage.process_into(&a, &mut b));
//! assert_eq!(counts.total(), 0);
//! ```
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static DEALLOCS: Cell<u64> = const { Cell::new(0) };
    static REALLOCS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting the calls made on a thread while it is inside a counted region.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

fn bump(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    // `try_with` because the allocator may run while thread-locals are being torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = counter.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is upheld exactly as `System` upholds it. The counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump(&DEALLOCS);
        // SAFETY: forwarded unchanged; `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS);
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(&REALLOCS);
        // SAFETY: forwarded unchanged; `ptr` came from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocator calls counted in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllocCounts {
    /// `alloc` and `alloc_zeroed` calls.
    pub allocs: u64,
    /// `dealloc` calls.
    pub deallocs: u64,
    /// `realloc` calls.
    pub reallocs: u64,
}

impl AllocCounts {
    /// All calls together.
    pub fn total(&self) -> u64 {
        self.allocs + self.deallocs + self.reallocs
    }
}

/// Run `f` on this thread and count the allocator calls it makes (on this thread only).
///
/// Only meaningful in a binary whose global allocator is [`CountingAllocator`]; elsewhere the
/// counts stay zero, so tests should first check [`is_installed`].
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, AllocCounts) {
    let read = || AllocCounts {
        allocs: ALLOCS.with(Cell::get),
        deallocs: DEALLOCS.with(Cell::get),
        reallocs: REALLOCS.with(Cell::get),
    };
    let before = read();
    let was_on = COUNTING.with(|c| c.replace(true));
    let out = f();
    COUNTING.with(|c| c.set(was_on));
    let after = read();
    (
        out,
        AllocCounts {
            allocs: after.allocs - before.allocs,
            deallocs: after.deallocs - before.deallocs,
            reallocs: after.reallocs - before.reallocs,
        },
    )
}

/// Run `f` and panic (after it returns) if it touched the allocator on this thread.
///
/// # Panics
/// If `f` allocated, freed or reallocated, naming `what` and the counts.
pub fn assert_no_alloc<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let (out, counts) = count_allocations(f);
    assert_eq!(
        counts.total(),
        0,
        "{what}: the real-time path touched the allocator: {counts:?}"
    );
    out
}

/// Whether [`CountingAllocator`] is the global allocator of this binary (it checks by counting a
/// deliberate allocation). Tests assert this so that they cannot pass vacuously.
pub fn is_installed() -> bool {
    let (_, counts) = count_allocations(|| std::hint::black_box(Box::new(7u64)));
    counts.allocs > 0
}
