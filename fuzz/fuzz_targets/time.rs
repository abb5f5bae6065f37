//! Time parsing never panics, and a parsed time formats and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use permtrail::parse::time;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(ms) = time::parse(text)
    {
        let formatted = time::format(ms);
        if !formatted.is_empty() {
            assert_eq!(time::parse(&formatted), Some(ms), "{formatted}");
        }
    }
});
