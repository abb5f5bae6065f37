//! Reading any text as a permission page never panics: it yields rows or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use permtrail::catalog::rst::read_page;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = read_page("fuzz.rst", text, "fuzz");
    }
});
