//! Progress during long runs on stderr. To a terminal: a status line redrawn in place a few
//! times a second while work goes on, and cleared when it ends, so the summary that follows
//! starts on a clean line. To anything else (a batch job's log): a plain line every
//! `--progress-every` seconds, so a run of hours shows it is alive and how fast it goes.
//! Nothing with `--quiet`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing (`--quiet`, or a log with `--progress-every 0`).
    Off,
    /// A line redrawn in place (stderr is a terminal).
    Redraw,
    /// A line of its own every so often (stderr is a file or a pipe).
    Lines(Duration),
}

impl Mode {
    /// The mode for this process's stderr: none with `quiet`; redrawn on a terminal;
    /// otherwise a line every `every` (none when it is zero).
    pub fn for_stderr(quiet: bool, every: Duration) -> Mode {
        run_start();
        Mode::choose(quiet, std::io::stderr().is_terminal(), every)
    }

    fn choose(quiet: bool, terminal: bool, every: Duration) -> Mode {
        match (quiet, terminal) {
            (true, _) => Mode::Off,
            (false, true) => Mode::Redraw,
            (false, false) if every.is_zero() => Mode::Off,
            (false, false) => Mode::Lines(every),
        }
    }
}

/// When the run started, for the seconds a log line gives: set when the mode is chosen,
/// so that the lines of every phase (walking, scanning, writing) count from one start.
fn run_start() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// How often `show` looks at `done`: the line is gone (or the last one written) soon after
/// the work ends.
const POLL: Duration = Duration::from_millis(50);

/// How often a terminal's line is redrawn; often in tests, so that a test's short work
/// sees it drawn even on a busy machine.
const REDRAW: Duration = Duration::from_millis(if cfg!(test) { 5 } else { 250 });

/// Writes `line()` to `out` as `mode` says until `done` is set: redrawn every `REDRAW` and
/// cleared at the end, or on a line of its own, with the seconds since the run started, every
/// interval. Write errors are ignored: progress must never stop the work.
fn show(mode: Mode, done: &AtomicBool, line: impl Fn() -> String, out: &mut impl Write) {
    let mut last = Instant::now();
    let every = match mode {
        Mode::Off => return,
        Mode::Redraw => REDRAW,
        Mode::Lines(every) => every,
    };
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(POLL.min(every));
        if last.elapsed() < every {
            continue;
        }
        last = Instant::now();
        let _ = match mode {
            Mode::Redraw => write!(out, "\r\x1b[2K{}", line()),
            _ => writeln!(
                out,
                "permtrail: {} s: {}",
                run_start().elapsed().as_secs(),
                line()
            ),
        };
        let _ = out.flush();
    }
    if mode == Mode::Redraw {
        let _ = write!(out, "\r\x1b[2K");
        let _ = out.flush();
    }
}

/// Shows `line()` on a thread of `scope` while the caller works, as `mode` says; the guard
/// it returns ends the showing when dropped, also while unwinding.
pub fn during<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    mode: Mode,
    done: &'scope AtomicBool,
    line: impl Fn() -> String + Send + 'scope,
) -> DoneOnDrop<'scope> {
    if mode != Mode::Off {
        scope.spawn(move || show(mode, done, line, &mut std::io::stderr()));
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
                    let _done = during(scope, Mode::Redraw, &done, String::new);
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

    /// What `show` writes in `mode` while work of `work` runs.
    fn shown(mode: Mode, work: Duration) -> String {
        let done = AtomicBool::new(false);
        let mut out = Vec::new();
        std::thread::scope(|scope| {
            let out = &mut out;
            let done = &done;
            scope.spawn(move || show(mode, done, || "3 / 7 files".to_string(), out));
            std::thread::sleep(work);
            done.store(true, Ordering::Release);
        });
        String::from_utf8(out).expect("text")
    }

    #[test]
    fn a_log_gets_plain_lines_and_a_terminal_a_line_redrawn() {
        // Intervals far below the work's length, so a busy machine still gets its lines.
        let log = shown(
            Mode::Lines(Duration::from_millis(20)),
            Duration::from_millis(400),
        );
        let lines: Vec<&str> = log.lines().collect();
        assert!(!lines.is_empty(), "{log:?}");
        assert!(log.ends_with('\n'), "{log:?}");
        for line in &lines {
            assert!(
                line.starts_with("permtrail: ") && line.ends_with(" s: 3 / 7 files"),
                "{line:?}"
            );
            assert!(!line.contains('\r') && !line.contains('\x1b'), "{line:?}");
        }
        let term = shown(Mode::Redraw, Duration::from_millis(400));
        assert!(term.starts_with("\r\x1b[2K3 / 7 files"), "{term:?}");
        assert!(
            term.ends_with("\r\x1b[2K") && !term.contains('\n'),
            "{term:?}"
        );
        assert_eq!(shown(Mode::Off, Duration::from_millis(100)), "");
    }

    #[test]
    fn the_mode_follows_quiet_the_terminal_and_the_interval() {
        let minute = Duration::from_secs(60);
        assert_eq!(Mode::choose(true, true, minute), Mode::Off);
        assert_eq!(Mode::choose(true, false, minute), Mode::Off);
        assert_eq!(Mode::choose(false, true, minute), Mode::Redraw);
        assert_eq!(Mode::choose(false, true, Duration::ZERO), Mode::Redraw);
        assert_eq!(Mode::choose(false, false, minute), Mode::Lines(minute));
        assert_eq!(Mode::choose(false, false, Duration::ZERO), Mode::Off);
    }
}
