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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::skim_json;
    use crate::read::{Buffer, Chunk};

    /// Checks the invariant on `data`; returns how many lines the skim read.
    fn agrees(data: &[u8]) -> usize {
        let fields = FieldMap::default();
        let skip = |s: &str| s == "VPC";
        let mut seen = Vec::new();
        let mut skimmed = 0;
        walk(data, 7, &fields, &skip, &mut |line, bytes, r| {
            if let Some(r) = r {
                let alone = skim_json(bytes, &fields, &skip).expect("the line alone");
                assert_eq!(format!("{r:?}"), format!("{alone:?}"));
                skimmed += 1;
            }
            seen.push((line, bytes.to_vec()));
        });
        let chunk = Chunk {
            data: Buffer::from(data.to_vec()),
            first_line: 7,
            spans: None,
            newlines: Vec::new(),
        };
        let want: Vec<(u64, Vec<u8>)> = chunk.records().map(|(l, b)| (l, b.to_vec())).collect();
        assert_eq!(seen, want, "{}", String::from_utf8_lossy(data));
        skimmed
    }

    #[test]
    fn reads_each_line_that_is_one_object_and_hands_over_the_others() {
        let one = r#"{"trace_id":"a","service_type":"ECS","code":403}"#;
        let two = r#"{"trace_id":"b","service_type":"VPC"}"#;
        for (data, skimmed) in [
            (format!("{one}\n{two}\n"), 2),
            (format!("{one}\r\n\r\n  {two}  \t\r\n\n"), 2),
            (format!("\n\n{one}\n{two}"), 2),
            // Lines the general path reads: text after the object, another kind of value,
            // an object the skim leaves to serde, an access-log line, broken JSON.
            (format!("{one} x\n{two}\n"), 1),
            (format!("[{one}]\n{two}\n"), 1),
            (format!("{{\"s\":\"\\u0041\"}}\n{two}\n"), 1),
            (
                format!(
                    "10.0.0.1 - - [20/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5\n{one}"
                ),
                1,
            ),
            (format!("{{\"a\":\n{one}\n"), 1),
            // An object over two lines is two broken lines, as the general path sees it.
            ("{\"a\":\n1}\n".to_string(), 0),
            // White space JSON does not know, which `trim_ascii` takes off.
            (format!("\x0c{one}\n{two}\x0c\n{one}\x0b\n"), 1),
            (String::new(), 0),
            (" \n\t\n".to_string(), 0),
        ] {
            assert_eq!(agrees(data.as_bytes()), skimmed, "{data:?}");
        }
        // Invalid UTF-8 in a string: the general path reads the line.
        let mut bad = b"{\"s\":\"\xc3\x28\"}\n".to_vec();
        bad.extend_from_slice(one.as_bytes());
        assert_eq!(agrees(&bad), 1);
    }
}
