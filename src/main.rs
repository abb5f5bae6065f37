//! The `permtrail` binary: turns the result of `permtrail::run` into an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match permtrail::run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("permtrail: {e:#}");
            ExitCode::from(1)
        }
    }
}
