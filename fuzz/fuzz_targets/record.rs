//! Parsing any bytes as a record never panics, nor does classifying what comes out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use permtrail::catalog::{self, Catalog};
use permtrail::classify::classify;
use permtrail::parse::{FieldMap, parse_json};
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| catalog::builtin().expect("built-in catalog"))
}

fuzz_target!(|data: &[u8]| {
    let fields = FieldMap::default();
    let _ = parse_json(data, &fields, &mut |_, record| {
        let _ = classify(catalog(), &record);
    });
});
