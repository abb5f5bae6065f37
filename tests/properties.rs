//! Property tests for the parsers: no input makes them panic, and framing a stream in
//! chunks of any size finds exactly the records one pass over the whole stream finds.

use permtrail::parse::{FieldMap, parse_json, time};
use permtrail::read::frame::{FrameOptions, Framed, Framing, frame_bytes};
use proptest::prelude::*;

fn run(data: &[u8], chunk_size: usize, forced: Option<Framing>) -> Framed {
    let options = FrameOptions {
        chunk_size,
        max_record_bytes: 256,
    };
    frame_bytes(data, options, forced)
}

/// JSON-ish text: braces, brackets, quotes, escapes, commas and newlines in any order.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'{'),
            Just(b'}'),
            Just(b'['),
            Just(b']'),
            Just(b'"'),
            Just(b'\\'),
            Just(b','),
            Just(b'\n'),
            Just(b' '),
            Just(b'a'),
            Just(b'1'),
        ],
        0..600,
    )
}

proptest! {
    #[test]
    fn array_framing_ignores_chunk_size(data in jsonish(), chunk in 1usize..40) {
        prop_assert_eq!(run(&data, 1 << 20, Some(Framing::Array)), run(&data, chunk, Some(Framing::Array)));
    }

    #[test]
    fn line_framing_ignores_chunk_size(data in jsonish(), chunk in 1usize..40) {
        prop_assert_eq!(run(&data, 1 << 20, Some(Framing::Lines)), run(&data, chunk, Some(Framing::Lines)));
    }

    #[test]
    fn arrays_of_records_lose_none(n in 0usize..30, pretty in any::<bool>(), chunk in 1usize..64) {
        let items: Vec<String> = (0..n).map(|i| format!("{{\"trace_id\": \"t{i}\", \"s\": \"a,]}}\\\"\"}}")).collect();
        let sep = if pretty { ",\n  " } else { "," };
        let text = format!("[{}]", items.join(sep));
        let Framed { records, events, error } = run(text.as_bytes(), chunk, None);
        prop_assert_eq!(records.len(), n);
        prop_assert!(events.is_empty() && error.is_none());
    }

    #[test]
    fn record_parsing_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_json(&data, &FieldMap::default(), &mut |_, _| ());
    }

    #[test]
    fn times_round_trip(ms in -62_167_219_200_000i64..253_402_300_799_999) {
        prop_assert_eq!(time::parse(&time::format(ms)), Some(ms));
    }
}
