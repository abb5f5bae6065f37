//! The status line on stderr during long runs: redrawn in place a few times a second
//! while work goes on, and cleared when it ends, so the summary that follows starts on a
//! clean line. Callers show it only when stderr is a terminal and `--quiet` is off.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Whether to show the status line: not with `--quiet`, and only to a terminal (a log
/// file would fill with redrawn lines).
pub fn wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// Redraws `line()` every 250 ms until `done` is set, then clears it. Checks `done` every
/// 50 ms, so the line is gone soon after the work ends.
fn show(done: &AtomicBool, line: impl Fn() -> String) {
    let mut last = Instant::now();
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50));
        if last.elapsed() < Duration::from_millis(250) {
            continue;
        }
        last = Instant::now();
        eprint!("\r\x1b[2K{}", line());
    }
    eprint!("\r\x1b[2K");
}

/// Shows `line()` on a thread of `scope` while the caller works, when `wanted`; the guard
/// it returns ends the line when dropped, also while unwinding.
pub fn during<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    wanted: bool,
    done: &'scope AtomicBool,
    line: impl Fn() -> String + Send + 'scope,
) -> DoneOnDrop<'scope> {
    if wanted {
        scope.spawn(move || show(done, line));
    }
    DoneOnDrop(done)
}

/// Sets its flag when dropped, also while unwinding from a panic: a scope that runs `show`
/// on one of its threads waits for it, and would wait forever if the work panicked before
/// saying it was done.
pub struct DoneOnDrop<'a>(&'a AtomicBool);

impl Drop for DoneOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_the_work_still_ends_the_status_line() {
        // On a thread of its own, so that a scope waiting forever fails the test instead
        // of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let done = AtomicBool::new(false);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                std::thread::scope(|scope| {
                    let _done = during(scope, true, &done, String::new);
                    panic!("the work failed");
                })
            }));
            let _ = tx.send((result.is_err(), done.load(Ordering::Acquire)));
        });
        let (panicked, done) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the scope ended");
        assert!(panicked);
        assert!(done);
    }
}
