//! The catalog text format never panics, and whatever it accepts survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use permtrail::catalog::text::{parse, write};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(catalog) = parse("fuzz.catalog", text)
    {
        let again = parse("fuzz.catalog", &write(&catalog)).expect("written catalogs parse");
        assert_eq!(again, catalog);
    }
});
