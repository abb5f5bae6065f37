//! Hints to the CPU that change how fast the program runs, never what it computes.

/// Asks the CPU to fetch the cache line holding `at` ahead of its use. Any address will
/// do, a stale or dangling one included: nothing is read that the program sees.
#[inline(always)]
pub fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch cannot fault and its result is invisible to the program.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
