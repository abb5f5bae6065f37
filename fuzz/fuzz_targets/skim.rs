//! Whatever the bytes, the skim names a service only when the full parse reads the same
//! bytes as exactly one record with that service.
#![no_main]

use libfuzzer_sys::fuzz_target;
use permtrail::parse::{FieldMap, parse_json, skim};

fuzz_target!(|data: &[u8]| {
    if let Some(service) = skim::service(data, b"service_type") {
        let mut seen = Vec::new();
        let parsed = parse_json(data, &FieldMap::default(), &mut |_, r| {
            seen.push(r.service.map(|s| s.into_owned()))
        });
        assert_eq!(parsed, Ok(1));
        assert_eq!(seen, [Some(service.to_string())]);
    }
});
