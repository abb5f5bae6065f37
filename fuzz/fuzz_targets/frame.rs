//! Framing never panics, and cutting the stream into tiny chunks finds exactly the records
//! (and skipped records, and the final error) that one large chunk finds, whether the
//! reader keeps where lines end or only counts them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use permtrail::read::frame::{FrameOptions, Framed, Framing, frame_bytes};

fn run(data: &[u8], chunk_size: usize, forced: Option<Framing>, line_ends: bool) -> Framed {
    let options = FrameOptions { chunk_size, max_record_bytes: 4096, line_ends };
    frame_bytes(data, options, forced)
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else { return };
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
    }
});
