//! Whatever the bytes, a record the skim reads is the record the full parse reads, and a
//! record it skips for its service is one the full parse reads with that service. Read as
//! the first element of an array held whole, the same bytes give the same record, and
//! where the skim says the element ends it reads exactly that element alone, whose line
//! feeds it counted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use permtrail::parse::{FieldMap, Skimmed, parse_json, skim_json, skim_json_prefix};

fuzz_target!(|data: &[u8]| {
    let fields = FieldMap::default();
    let skip = |service: &str| service.starts_with('V');
    if let Some(skimmed) = skim_json(data, &fields, &skip) {
        let mut records = Vec::new();
        let parsed = parse_json(data, &fields, &mut |_, r| records.push(r));
        assert_eq!(parsed, Ok(1));
        match skimmed {
            Skimmed::Record(record) => {
                assert_eq!(format!("{record:?}"), format!("{:?}", records[0]))
            }
            Skimmed::Skipped => assert!(records[0].service.as_deref().is_some_and(skip)),
        }
    }
    let within_line = data.first().is_some_and(|b| b % 2 == 1);
    if let Some((prefix, extent)) = skim_json_prefix(data, within_line, &fields, &skip) {
        let element = &data[..extent.end];
        let alone = skim_json(element, &fields, &skip).expect("the element alone");
        assert_eq!(format!("{prefix:?}"), format!("{alone:?}"));
        let newlines = element.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(extent.newlines, newlines as u64);
        assert!(!within_line || newlines == 0);
    }
});
