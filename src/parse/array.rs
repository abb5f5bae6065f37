//! The records of a JSON array held whole in memory (a CTS file inflated in one call), read
//! in one pass: the skim that reads each element also finds where it ends, so the array is
//! not framed in a pass of its own first, nor copied into chunks. Whatever the skim leaves
//! (an element it is unsure of, one too long, anything but white space after the array)
//! stops the walk. The caller then frames the buffer as usual and passes over the records
//! the walk has read already.

use super::{FieldMap, Skimmed, json_ws, skim_json_prefix};

/// How far `walk` got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walked {
    /// Every record was read, and nothing else is in the buffer.
    Complete,
    /// The walk read the first `records` records, then met something it leaves to the
    /// framer.
    Stopped { records: usize },
}

/// Reads the records of the JSON array in `data` (after an optional UTF-8 BOM and white
/// space), handing each to `each` with the line it starts on, its bytes and what the skim
/// read. Invariant: the records handed over are the first ones (all of them when
/// `Complete`) that `frame::frame` finds in `data` as an array, with the same lines and
/// bytes; with `Complete`, framing finds no other record, no skipped one and no error.
/// Elements of `max_record_bytes` or more are left to the framer, which skips them.
/// `tests/properties.rs` holds it to this, on fixed cases and on generated input.
pub fn walk<'a>(
    data: &'a [u8],
    fields: &FieldMap,
    skip: &dyn Fn(&str) -> bool,
    max_record_bytes: usize,
    each: &mut dyn FnMut(u64, &'a [u8], Skimmed<'a>),
) -> Walked {
    let data = crate::read::frame::without_bom(data);
    // JSON's white space only: the framer decides what anything else means.
    let ws = |i, line| json_ws(data, i, line);
    let (mut i, mut line) = ws(0, 1);
    if data.get(i) != Some(&b'[') {
        return Walked::Stopped { records: 0 };
    }
    i += 1;
    let mut records = 0;
    loop {
        (i, line) = ws(i, line);
        match data.get(i) {
            Some(b'{') => {}
            Some(b']') if records == 0 => {
                i += 1;
                break;
            }
            _ => return Walked::Stopped { records },
        }
        let Some((skimmed, extent)) = skim_json_prefix(&data[i..], false, fields, skip) else {
            return Walked::Stopped { records };
        };
        if extent.end >= max_record_bytes {
            return Walked::Stopped { records };
        }
        each(line, &data[i..i + extent.end], skimmed);
        records += 1;
        // The skim counted the element's line feeds: the bytes are looked at once.
        (i, line) = ws(i + extent.end, line + extent.newlines);
        match data.get(i) {
            Some(b',') => i += 1,
            Some(b']') => {
                i += 1;
                break;
            }
            _ => return Walked::Stopped { records },
        }
    }
    if ws(i, line).0 == data.len() {
        Walked::Complete
    } else {
        Walked::Stopped { records }
    }
}
