//! Access-log lines of any shape never panic, whichever format is tried.
#![no_main]

use libfuzzer_sys::fuzz_target;
use permtrail::parse::access::{detect, parse_any};

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = detect(line);
        let _ = parse_any(line);
    }
});
