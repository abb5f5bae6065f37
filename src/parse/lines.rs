//! The records of a chunk of JSON lines read in one pass: where a line holds one JSON
//! object and nothing else, the skim that reads the object also finds where it ends, so
//! the chunk is not split into lines in a pass of its own. Any other line (blank lines
//! aside) is handed over whole for the caller's general path.

use super::{FieldMap, Skimmed, json_ws, skim_json_prefix};
use memchr::memchr;

/// Walks `data`, whole lines of which the first is line `first_line`, and calls `each`
/// for every line that is not blank, in order: its number, its bytes without the ASCII
/// white space around them, and what the skim read when the line is one object it could
/// read (`None`: the caller reads the line). Invariant: the lines and bytes are those
/// `Chunk::records` gives for `data`, and with `Some(r)` the bytes are an object for
/// which `skim_json` gives `r` as well.
/// `tests/properties.rs` holds it to this, on fixed cases and on generated input.
pub fn walk<'a>(
    data: &'a [u8],
    first_line: u64,
    fields: &FieldMap,
    skip: &dyn Fn(&str) -> bool,
    each: &mut dyn FnMut(u64, &'a [u8], Option<Skimmed<'a>>),
) {
    let (mut i, mut line) = (0, first_line);
    loop {
        // JSON's white space: any other is the general path's to trim.
        (i, line) = json_ws(data, i, line);
        let Some(&first) = data.get(i) else {
            return;
        };
        // An object over several lines is no record of JSON lines: the skim stops at the
        // line's end, so no line is read twice.
        if first == b'{'
            && let Some((skimmed, extent)) = skim_json_prefix(&data[i..], true, fields, skip)
        {
            let end = i + extent.end;
            // The white space `trim_ascii` takes off the line's end, then the line's end.
            let mut after = end;
            while let Some(b' ' | b'\t' | b'\r' | 0x0c) = data.get(after) {
                after += 1;
            }
            if matches!(data.get(after), None | Some(b'\n')) {
                each(line, &data[i..end], Some(skimmed));
                i = after;
                continue;
            }
        }
        let end = memchr(b'\n', &data[i..]).map_or(data.len(), |k| i + k);
        // What precedes `i` on this line is white space: trimmed, the line starts here.
        let bytes = data[i..end].trim_ascii();
        if !bytes.is_empty() {
            each(line, bytes, None);
        }
        i = end;
    }
}
