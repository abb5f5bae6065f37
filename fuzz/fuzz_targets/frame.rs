//! Framing never panics, and cutting the stream into tiny chunks finds exactly the records
//! (and skipped records, and the final error) that one large chunk finds, whether the
//! reader keeps where lines end or only counts them, also past the first 64 KiB (skipped
//! records then in line order, as errors.csv lists them). Reading the same bytes in one
//! pass, as JSON lines or as an array held whole, finds the records framing finds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use permtrail::parse::array::{self, Walked};
use permtrail::parse::{FieldMap, lines, skim_json};
use permtrail::read::frame::{FrameOptions, Framed, Framing, SNIFF_BYTES, frame_bytes};

fn run(data: &[u8], chunk_size: usize, forced: Option<Framing>, line_ends: bool) -> Framed {
    let options = FrameOptions {
        chunk_size,
        max_record_bytes: 4096,
        line_ends,
    };
    frame_bytes(data, options, forced)
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let forced = match selector % 4 {
        0 => None,
        1 => Some(Framing::Lines),
        2 => Some(Framing::Array),
        _ => Some(Framing::Document),
    };
    let chunk = 1 + (selector as usize / 4) % 17;
    let whole = run(data, 1 << 20, forced, true);
    let split = run(data, chunk, forced, selector >= 128);
    if forced != Some(Framing::Document) {
        assert_eq!(whole, split);
        // Framing reads 64 KiB at once to sniff, so a short input is one chunk whatever
        // the chunk size. For one input in 4, an over-long record first (one element of
        // an array, or one line) pushes it past that read; it is skipped quickly, where
        // 64 KiB of small records would cost many times a plain run under the fuzzer.
        if data.len() % 4 == 0 {
            let long = "x".repeat(SNIFF_BYTES);
            let filler = match forced {
                Some(Framing::Array) => format!("[\"{long}\","),
                _ => format!("{long}\n"),
            };
            let padded = [filler.as_bytes(), data].concat();
            assert_eq!(
                run(&padded, 1 << 20, forced, true).in_line_order(),
                run(&padded, chunk, forced, selector >= 128).in_line_order()
            );
        }
    }
    let fields = FieldMap::default();
    let skip = |s: &str| s.starts_with('V');
    match forced {
        Some(Framing::Lines) if whole.events.is_empty() && whole.error.is_none() => {
            // Framing drops a byte-order mark before the lines reach a worker.
            let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
            let mut seen = Vec::new();
            lines::walk(body, 1, &fields, &skip, &mut |line, bytes, skimmed| {
                if let Some(r) = skimmed {
                    let alone = skim_json(bytes, &fields, &skip).expect("the line alone");
                    assert_eq!(format!("{r:?}"), format!("{alone:?}"));
                }
                seen.push((line, bytes.to_vec()));
            });
            assert_eq!(seen, whole.records);
        }
        Some(Framing::Array) => {
            let mut seen = Vec::new();
            let walked = array::walk(data, &fields, &skip, 4096, &mut |line, bytes, _| {
                seen.push((line, bytes.to_vec()))
            });
            assert_eq!(whole.records[..seen.len()], seen[..]);
            match walked {
                Walked::Complete => {
                    assert_eq!(whole.records, seen);
                    assert!(whole.events.is_empty() && whole.error.is_none());
                }
                Walked::Stopped { records } => assert_eq!(records, seen.len()),
            }
        }
        _ => {}
    }
});
