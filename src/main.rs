//! The `permtrail` binary: turns the result of `permtrail::run` into an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    pin_mmap_threshold();
    match permtrail::run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("permtrail: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// glibc raises its mmap threshold each time a large block is freed, so once the first
/// chunk buffers are released, later multi-megabyte buffers come from the heap arenas,
/// which fragment and stay resident. A fixed threshold keeps large buffers mapped and gives
/// them back when freed: an 8 GiB scan peaks at about 120 MiB instead of 170 MiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pin_mmap_threshold() {
    // SAFETY: `mallopt` only sets an allocator parameter; it is called once, before any
    // other thread exists, with a documented parameter and value.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin_mmap_threshold() {}
