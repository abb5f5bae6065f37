//! Property tests for the parsers: no input makes them panic, framing a stream in chunks
//! of any size finds exactly the records one pass over the whole stream finds, the skim
//! of other services' records never disagrees with the full parse, and reading an array
//! held whole or a chunk of lines in one pass finds the records framing finds.

use permtrail::parse::array::{self, Walked};
use permtrail::parse::lines;
use permtrail::parse::{FieldMap, Skimmed, parse_json, skim_json, time};
use permtrail::read::frame::{FrameOptions, Framed, Framing, SNIFF_BYTES, frame_bytes};
use permtrail::read::{Buffer, Chunk};
use proptest::prelude::*;

fn run(data: &[u8], chunk_size: usize, forced: Option<Framing>) -> Framed {
    run_with(data, chunk_size, forced, true)
}

/// `run`, the reader keeping where lines end (`line_ends`) or only counting them (for a
/// worker that finds the ends itself): the next chunk's first line comes from either.
fn run_with(data: &[u8], chunk_size: usize, forced: Option<Framing>, line_ends: bool) -> Framed {
    let options = FrameOptions {
        chunk_size,
        max_record_bytes: 256,
        line_ends,
    };
    frame_bytes(data, options, forced)
}

/// `data` after `filler`, which is longer than framing's first read: `data` then arrives
/// in chunks.
fn past_sniff(filler: &str, data: &[u8]) -> Vec<u8> {
    assert!(filler.len() > SNIFF_BYTES);
    [filler.as_bytes(), data].concat()
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

/// One member of a trace, drawn from the shapes that could fool a skim: the service key
/// spelled plainly, escaped or twice; odd service values; envelope keys; bodies with
/// escapes, control characters and nesting; numbers and literals valid and not.
fn member() -> impl Strategy<Value = String> {
    let fixed = [
        r#""service_type":"VPC""#,
        r#""service_type":"ECS""#,
        r#""service_type":"ecs""#,
        r#""service_type":"""#,
        r#""service_type":5"#,
        r#""service_type":null"#,
        r#""service_type":"V\"PC""#,
        r#""service_type":"E\u0043S""#,
        r#""service\u005ftype":"OBS""#,
        r#""traces":[{"trace_id":"a","service_type":"ECS"}]"#,
        r#""cts":{"trace_id":"b"}"#,
        r#""trace_id":"t1""#,
        r#""code":403"#,
        r#""code":"40x""#,
        r#""time":1.5e+3"#,
        r#""n":-0.0E-1"#,
        r#""n":01"#,
        r#""n":1."#,
        r#""b":tru"#,
        r#""b":[true,false,null,{},[]]"#,
        r#""request":"{\"os-start\":{}}""#,
        r#""request":{"servers":[{"id":"x"}]}"#,
        "\"s\":\"tab\\there\"",
        "\"s\":\"raw\ttab\"",
        r#""s":"bad \q escape""#,
        r#""s":"\ud800""#,
        r#""s":"\uZZ12""#,
        r#""s":"é ü 中""#,
        r#""user":{"name":"a","name":"b"}"#,
        r#""user":"{\"id\":\"u1\",\"name\":\"bob\"}""#,
        r#""user_name":"carol""#,
        r#""code":"403""#,
        r#""code":null"#,
        r#""status":500"#,
        r#""http_status":"404""#,
        r#""time":"2026/11/20 11:07:28 GMT+08:00""#,
        r#""time":1795132800000"#,
        r#""record_time":"1795132800001""#,
        r#""time":"soon""#,
        r#""project_id":"0a3f9c2e7b5d4e6f8a1b2c3d4e5f6a7b""#,
        r#""project_id":"other""#,
        r#""trace_name":"startServer""#,
        r#""trace_rating":"warning""#,
        r#""response":{"forbidden":{"message":"Policy doesn't allow ecs:servers:list to be performed.","code":403}}"#,
        r#""message":"x, Method: POST Url=/v2/p/servers/s/action, Reason:""#,
        r#""resource_url":"/v2.1/p/servers/s""#,
        r#""http":{"request":{"method":"post"},"response":{"status_code":403}}"#,
        r#""url":{"path":"/v2.1/p/servers/s/action"}"#,
        r#""url":"https://ecs.example/v2.1/p/servers""#,
        r#""method":"GET""#,
        r#""http.method":"PUT""#,
        r#""source_ip":"10.0.0.1""#,
        r#""request_id":"r-1""#,
    ];
    let deep = |n: usize| format!(r#""deep":{}1{}"#, "[".repeat(n), "]".repeat(n));
    let mut all: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
    all.extend([deep(70), deep(130)]);
    proptest::sample::select(all)
}

/// A record of such members, joined with or without whitespace, sometimes followed by
/// more bytes, with one byte changed or cut off.
fn record() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(member(), 0..6),
        proptest::sample::select(vec!["", " \r\n", "}", " x", ",{}"]),
        any::<bool>(),
        proptest::option::of((any::<proptest::sample::Index>(), any::<u8>())),
        proptest::option::of(any::<proptest::sample::Index>()),
    )
        .prop_map(|(members, after, spaced, change, cut)| {
            let sep = if spaced { " ,\n\t" } else { "," };
            let mut bytes = format!("{{{}}}{after}", members.join(sep)).into_bytes();
            if let Some((at, byte)) = change {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
            if let Some(at) = cut {
                bytes.truncate(at.index(bytes.len() + 1));
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn skim_agrees_with_the_full_parse(bytes in record()) {
        let fields = FieldMap::default();
        let skip = |service: &str| service == "VPC";
        if let Some(skimmed) = skim_json(&bytes, &fields, &skip) {
            let mut records = Vec::new();
            let parsed = parse_json(&bytes, &fields, &mut |_, r| records.push(r));
            prop_assert_eq!(parsed, Ok(1), "{}", String::from_utf8_lossy(&bytes));
            match skimmed {
                Skimmed::Record(record) => {
                    prop_assert_eq!(format!("{record:?}"), format!("{:?}", records[0]));
                }
                Skimmed::Skipped => prop_assert_eq!(records[0].service.as_deref(), Some("VPC")),
            }
        }
    }
}

/// What `array::walk` reads of `data`: (line, bytes) of each record it hands over, and how
/// far it got.
fn walked(data: &[u8], max_record_bytes: usize) -> (Vec<(u64, Vec<u8>)>, Walked) {
    let fields = FieldMap::default();
    let mut seen = Vec::new();
    let walked = array::walk(
        data,
        &fields,
        &|s| s == "VPC",
        max_record_bytes,
        &mut |line, bytes, _| seen.push((line, bytes.to_vec())),
    );
    (seen, walked)
}

/// What `array::walk` reads of `data` against what framing it as an array with the same
/// record limit finds: the walk's records are the framer's first ones, all of them (and
/// nothing skipped or failed) when the walk completes. Returns how far the walk got.
fn walk_agrees_with_framing(data: &[u8], max_record_bytes: usize) -> Result<Walked, TestCaseError> {
    let (seen, walked) = walked(data, max_record_bytes);
    let options = FrameOptions {
        chunk_size: 1 << 20,
        max_record_bytes,
        line_ends: true,
    };
    let Framed {
        records,
        events,
        error,
    } = frame_bytes(data, options, Some(Framing::Array));
    let text = String::from_utf8_lossy(data);
    prop_assert!(records.len() >= seen.len(), "{}", text);
    prop_assert_eq!(&records[..seen.len()], &seen[..], "{}", text);
    match walked {
        Walked::Complete => {
            prop_assert_eq!(&records, &seen, "{}", text);
            prop_assert!(events.is_empty() && error.is_none(), "{}", text);
        }
        Walked::Stopped { records } => prop_assert_eq!(records, seen.len(), "{}", text),
    }
    Ok(walked)
}

/// What `lines::walk` reads of `data` (lines numbered from `first_line`) against the lines
/// of a chunk holding it: the same lines with the same numbers and bytes, and a line the
/// skim read is one `skim_json` reads alike. Returns how many lines the skim read.
fn lines_agree_with_the_chunk(data: &[u8], first_line: u64) -> Result<usize, TestCaseError> {
    let fields = FieldMap::default();
    let skip = |s: &str| s == "VPC";
    let mut seen = Vec::new();
    let mut mismatch = None;
    let mut skimmed_lines = 0;
    lines::walk(
        data,
        first_line,
        &fields,
        &skip,
        &mut |line, bytes, skimmed| {
            if let Some(r) = skimmed {
                skimmed_lines += 1;
                let alone = skim_json(bytes, &fields, &skip).map(|a| format!("{a:?}"));
                if alone.as_deref() != Some(format!("{r:?}").as_str()) {
                    mismatch = Some(line);
                }
            }
            seen.push((line, bytes.to_vec()));
        },
    );
    let text = String::from_utf8_lossy(data);
    prop_assert_eq!(mismatch, None, "{}", text);
    let chunk = Chunk {
        data: Buffer::from(data.to_vec()),
        first_line,
        spans: None,
        newlines: Vec::new(),
    };
    let want: Vec<(u64, Vec<u8>)> = chunk.records().map(|(l, b)| (l, b.to_vec())).collect();
    prop_assert_eq!(seen, want, "{}", text);
    Ok(skimmed_lines)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn walking_lines_finds_the_lines_of_the_chunk(
        records in proptest::collection::vec(record(), 0..8),
        seps in proptest::collection::vec(
            proptest::sample::select(vec!["\n", "\r\n", "\n\n", " \n ", "\x0c\n", "\t", ""]), 8),
    ) {
        let mut data = Vec::new();
        for (k, record) in records.iter().enumerate() {
            data.extend_from_slice(record);
            data.extend_from_slice(seps[k].as_bytes());
        }
        lines_agree_with_the_chunk(&data, 3)?;
    }

    #[test]
    fn walking_jsonish_lines_finds_the_lines_of_the_chunk(data in jsonish()) {
        lines_agree_with_the_chunk(&data, 3)?;
    }

    #[test]
    fn walking_an_array_finds_what_framing_finds(
        elements in proptest::collection::vec(record(), 0..8),
        seps in proptest::collection::vec(
            proptest::sample::select(vec![",", " , ", ",\n  ", "\r\n,\t", " ", ""]), 8),
        close in proptest::sample::select(vec!["]", "]\n", " ] x", "][]", "", ",]"]),
        cut in proptest::option::of(any::<proptest::sample::Index>()),
    ) {
        let mut data = b"\n[".to_vec();
        for (k, element) in elements.iter().enumerate() {
            if k > 0 {
                data.extend_from_slice(seps[k].as_bytes());
            }
            data.extend_from_slice(element);
        }
        data.extend_from_slice(close.as_bytes());
        if let Some(at) = cut {
            data.truncate(at.index(data.len() + 1));
        }
        walk_agrees_with_framing(&data, 256)?;
    }

    #[test]
    fn walking_jsonish_text_finds_what_framing_finds(data in jsonish()) {
        let mut text = b"[".to_vec();
        text.extend_from_slice(&data);
        walk_agrees_with_framing(&text, 256)?;
    }
}

proptest! {
    #[test]
    fn array_framing_ignores_chunk_size(data in jsonish(), chunk in 1usize..40) {
        prop_assert_eq!(run(&data, 1 << 20, Some(Framing::Array)), run(&data, chunk, Some(Framing::Array)));
        // One over-long element first: skipped, and quick to frame in a debug build.
        let data = past_sniff(&format!("[\"{}\",", "x".repeat(SNIFF_BYTES)), &data);
        prop_assert_eq!(
            run(&data, 1 << 20, Some(Framing::Array)).in_line_order(),
            run(&data, chunk + 16, Some(Framing::Array)).in_line_order()
        );
    }

    #[test]
    fn line_framing_ignores_chunk_size(data in jsonish(), chunk in 1usize..40) {
        prop_assert_eq!(run(&data, 1 << 20, Some(Framing::Lines)), run(&data, chunk, Some(Framing::Lines)));
        // One over-long line first: skipped, and quick to frame in a debug build.
        let data = past_sniff(&format!("{}\n", "x".repeat(SNIFF_BYTES)), &data);
        prop_assert_eq!(run(&data, 1 << 20, Some(Framing::Lines)), run(&data, chunk + 16, Some(Framing::Lines)));
    }

    #[test]
    fn line_numbers_agree_whether_line_ends_are_kept_or_counted(
        lengths in proptest::collection::vec(0usize..600, 0..12),
        end in any::<bool>(),
        chunk in 16usize..700,
    ) {
        // Lines on both sides of the 256-byte limit, so some are skipped as too long, after
        // more than the 64 KiB framing reads at once to sniff: the rest arrives in chunks.
        let mut lines = lengths.iter().map(|&n| "x".repeat(n)).collect::<Vec<_>>().join("\n");
        if end {
            lines.push('\n');
        }
        let data = past_sniff(&"short line\n".repeat(SNIFF_BYTES / 10), lines.as_bytes());
        let found = run_with(&data, chunk, Some(Framing::Lines), true);
        prop_assert_eq!(&found, &run_with(&data, chunk, Some(Framing::Lines), false));
        let skipped = lengths.iter().filter(|&&n| n > 256).count();
        prop_assert_eq!(found.events.len(), skipped);
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
        assert_eq!(
            walk_agrees_with_framing(data.as_bytes(), 1 << 20).unwrap(),
            Walked::Complete,
            "{data}"
        );
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
            walk_agrees_with_framing(data.as_bytes(), 1 << 20).unwrap(),
            Walked::Stopped { records },
            "{data}"
        );
    }
    // Invalid UTF-8 in a string, checked in that string alone.
    let mut bad = format!("[{ok},{{\"s\":\"").into_bytes();
    bad.extend_from_slice(b"\xc3\x28\"}]");
    assert_eq!(
        walk_agrees_with_framing(&bad, 1 << 20).unwrap(),
        Walked::Stopped { records: 1 }
    );
}

#[test]
fn elements_at_the_record_limit_are_left_to_the_framer() {
    let long = format!(r#"{{"trace_id":"{}"}}"#, "x".repeat(100));
    let data = format!(r#"[{{"a":1}},{long},{{"b":2}}]"#);
    assert_eq!(
        walk_agrees_with_framing(data.as_bytes(), long.len()).unwrap(),
        Walked::Stopped { records: 1 }
    );
    assert_eq!(
        walk_agrees_with_framing(data.as_bytes(), long.len() + 1).unwrap(),
        Walked::Complete
    );
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
            format!("10.0.0.1 - - [20/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5\n{one}"),
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
        assert_eq!(
            lines_agree_with_the_chunk(data.as_bytes(), 7).unwrap(),
            skimmed,
            "{data:?}"
        );
    }
    // Invalid UTF-8 in a string: the general path reads the line.
    let mut bad = b"{\"s\":\"\xc3\x28\"}\n".to_vec();
    bad.extend_from_slice(one.as_bytes());
    assert_eq!(lines_agree_with_the_chunk(&bad, 7).unwrap(), 1);
}
