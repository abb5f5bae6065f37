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
pub fn walk<'a>(
    data: &'a [u8],
    fields: &FieldMap,
    skip: &dyn Fn(&str) -> bool,
    max_record_bytes: usize,
    each: &mut dyn FnMut(u64, &'a [u8], Skimmed<'a>),
) -> Walked {
    let mut i = if data.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    // JSON's white space only: the framer decides what anything else means.
    let ws = |i, line| json_ws(data, i, line);
    let mut line;
    (i, line) = ws(i, 1);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::frame::{FrameOptions, Framing, frame_bytes};

    fn walked(data: &[u8], max: usize) -> (Vec<(u64, Vec<u8>)>, Walked) {
        let fields = FieldMap::default();
        let mut seen = Vec::new();
        let result = walk(
            data,
            &fields,
            &|s| s == "VPC",
            max,
            &mut |line, bytes, _| seen.push((line, bytes.to_vec())),
        );
        (seen, result)
    }

    /// Checks the module invariant on `data` against the framer; returns the walk's result.
    fn agrees(data: &[u8], max: usize) -> Walked {
        let (seen, result) = walked(data, max);
        let options = FrameOptions {
            chunk_size: 1 << 20,
            max_record_bytes: max,
            line_ends: true,
        };
        let framed = frame_bytes(data, options, Some(Framing::Array));
        assert!(
            framed.records.len() >= seen.len() && framed.records[..seen.len()] == seen[..],
            "{}",
            String::from_utf8_lossy(data)
        );
        if result == Walked::Complete {
            assert_eq!(framed.records, seen, "{}", String::from_utf8_lossy(data));
            assert!(framed.events.is_empty() && framed.error.is_none());
        } else {
            assert_eq!(
                result,
                Walked::Stopped {
                    records: seen.len()
                }
            );
        }
        result
    }

    #[test]
    fn reads_compact_and_pretty_arrays_whole() {
        let one = r#"{"trace_id":"a","service_type":"ECS","code":403}"#;
        let two = r#"{"trace_id":"b","service_type":"VPC","s":"x,]}\"y"}"#;
        for data in [
            format!("[{one},{two}]"),
            format!("\u{feff}\n\n[\n  {one},\n  {two}\n]\n"),
            format!("[ {one} ,\r\n\t{two} ]  "),
            "[]".to_string(),
            " [ ] \n".to_string(),
            format!("[{}]", [one; 50].join(",\n")),
            format!("[{{\n\"trace_id\": \"c\",\n\"n\": [1,\n2]\n}},\n{two}]"),
        ] {
            assert_eq!(agrees(data.as_bytes(), 1 << 20), Walked::Complete, "{data}");
        }
        let (seen, _) = walked(b"[\n{\"a\":1},\n\n{\n\"b\":2}]", 1 << 20);
        let lines: Vec<u64> = seen.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn leaves_anything_unusual_to_the_framer() {
        let ok = r#"{"trace_id":"a"}"#;
        for (data, records) in [
            // What the skim is unsure of or refuses: the walk stops at that element.
            (format!(r#"[{ok},{{"s":"\u0041"}},{ok}]"#), 1),
            (format!(r#"[{ok},{{"s\"":1}}]"#), 1),
            (format!(r#"[{ok},{{"cts":{{"trace_id":"x"}}}}]"#), 1),
            (
                format!("[{ok},{{\"s\":\"\u{e9}\u{65e5}\"}},{{\"t\":\"\\u00e9\"}}]"),
                2,
            ),
            (format!("[{ok},{{\"x\":tru}}]"), 1),
            // Elements that are not objects, a missing comma, a trailing comma.
            (format!("[{ok},[1],{ok}]"), 1),
            (format!("[{ok},\"s\"]"), 1),
            (format!("[{ok} {ok}]"), 1),
            (format!("[{ok},]"), 1),
            // What follows the array, and arrays that do not end.
            (format!("[{ok}][{ok}]"), 1),
            (format!("[{ok}] x"), 1),
            (format!("[{ok}"), 1),
            (format!("[{ok},"), 1),
            (format!("[{ok},{{\"a\":"), 1),
            // White space JSON does not know, and no array at all.
            (format!("[{ok},\x0c{ok}]"), 1),
            (ok.to_string(), 0),
            (String::new(), 0),
        ] {
            assert_eq!(
                agrees(data.as_bytes(), 1 << 20),
                Walked::Stopped { records },
                "{data}"
            );
        }
        // Invalid UTF-8 in a string, checked in that string alone.
        let mut bad = format!("[{ok},{{\"s\":\"").into_bytes();
        bad.extend_from_slice(b"\xc3\x28\"}]");
        assert_eq!(agrees(&bad, 1 << 20), Walked::Stopped { records: 1 });
    }

    #[test]
    fn elements_at_the_record_limit_are_left_to_the_framer() {
        let long = format!(r#"{{"trace_id":"{}"}}"#, "x".repeat(100));
        let data = format!(r#"[{{"a":1}},{long},{{"b":2}}]"#);
        assert_eq!(
            agrees(data.as_bytes(), long.len()),
            Walked::Stopped { records: 1 }
        );
        assert_eq!(agrees(data.as_bytes(), long.len() + 1), Walked::Complete);
    }
}
