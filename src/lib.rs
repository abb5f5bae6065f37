//! permtrail: classify cloud audit-trail records into ECS IAM actions and explain denials.
//!
//! The pipeline, one module per verb: `read` finds inputs, decompresses and frames them;
//! `parse` turns records into borrowed `Record`s; `classify` maps a record to actions and a
//! denial cause with the `catalog`; `count` aggregates; `write` writes the reports. `scan`
//! is the glue, `cli` and `config` the command line.

pub mod bytes;
pub mod catalog;
pub mod catalog_cmd;
pub mod classify;
pub mod cli;
pub mod config;
pub mod count;
pub mod hint;
pub mod parse;
pub mod progress;
pub mod proven;
pub mod read;
pub mod runs;
pub mod scan;
pub mod seen;
pub mod summary;
pub mod write;

use clap::Parser;
use cli::{Cli, Command};
use std::io::Write;

/// Exit code when some input could not be read (the reports cover the rest).
pub const EXIT_INPUT_ERRORS: u8 = 2;

/// Exit code of a run stopped by SIGINT or SIGTERM (no reports written).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Exit code when the scan itself failed (a worker panicked): no reports written.
pub const EXIT_FAILED: u8 = 1;

/// Exit code of a command line that could not be read (an unknown option, a bad value):
/// the run did not start. (clap's own code would be 2, which here means unreadable input.)
pub const EXIT_USAGE: u8 = 1;

/// Runs the command line; returns the exit code (0, or 2 when some input was unreadable).
pub fn run() -> anyhow::Result<u8> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` come this way too, for stdout and success.
            let _ = e.print();
            return Ok(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match cli.command {
        Command::Scan(args) => {
            let config = config::scan_config(args)?;
            // First signal: stop reading and leave the previous reports as they are; a
            // second one ends the process at once.
            let _ = ctrlc::set_handler(|| {
                if scan::INTERRUPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
            });
            let Some(result) = unless_it_panics("the scan", || scan::scan(&config)) else {
                return Ok(EXIT_FAILED);
            };
            let mut result = result?;
            if scan::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
                eprintln!("permtrail: interrupted; reports left unchanged");
                return Ok(EXIT_INTERRUPTED);
            }
            let written = unless_it_panics("writing the reports", || {
                write::write_reports(
                    &config.out,
                    &mut result.tally,
                    &result.runs,
                    &config.catalog,
                    &result.inputs,
                    config.raw_csv,
                    config.progress,
                )
            });
            let Some(written) = written else {
                return Ok(EXIT_FAILED);
            };
            written?;
            if !config.quiet {
                eprint!("{}", summary::render(&result, &config.out));
            } else {
                for e in &result.file_errors {
                    eprintln!("permtrail: {}:{}: {}", e.input, e.line, e.reason);
                }
                for line in summary::limits_reached(&result.tally) {
                    eprintln!("permtrail: {line}");
                }
            }
            // The process is about to end, which gives all memory back at once: freeing
            // the tally's rows one by one (each project's maps of its own) took 50 ms of a
            // run over 100,000 projects. `runs` is still dropped, as that removes its files.
            std::mem::forget(std::mem::take(&mut result.tally));
            Ok(if result.file_errors.is_empty() {
                0
            } else {
                EXIT_INPUT_ERRORS
            })
        }
        Command::Catalog(command) => catalog_cmd::run(command),
    }
}

/// Runs `work`; after a panic in it (a bug), says on stderr that `what` failed and the
/// previous reports are left as they were, and returns `None`. Whatever `work` had
/// written is removed by its own guards as the panic unwinds.
fn unless_it_panics<T>(what: &str, work: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(done) => Some(done),
        Err(_) => {
            eprintln!("permtrail: internal error: {what} failed; reports left unchanged");
            None
        }
    }
}

/// Writes to stdout; a closed pipe (e.g. `| head`) ends quietly.
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// Advances a xorshift64 generator and returns its new state: a cheap, seeded,
    /// reproducible stream of test inputs. `state` must not be 0.
    pub fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }
}
