//! Property tests for the parsers: no input makes them panic, framing a stream in chunks
//! of any size finds exactly the records one pass over the whole stream finds, the skim
//! of other services' records never disagrees with the full parse, and reading an array
//! held whole or a chunk of lines in one pass finds the records framing finds.

use permtrail::parse::array::{self, Walked};
use permtrail::parse::lines;
use permtrail::parse::{FieldMap, Skimmed, parse_json, skim_json, time};
use permtrail::read::frame::{FrameOptions, Framed, Framing, frame_bytes};
use permtrail::read::{Buffer, Chunk};
use proptest::prelude::*;

fn run(data: &[u8], chunk_size: usize, forced: Option<Framing>) -> Framed {
    let options = FrameOptions {
        chunk_size,
        max_record_bytes: 256,
        line_ends: true,
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

/// What `array::walk` reads of `data` against what framing it as an array finds: the
/// walk's records are the framer's first ones, all of them (and nothing skipped or
/// failed) when the walk completes.
fn walk_agrees_with_framing(data: &[u8]) -> Result<(), TestCaseError> {
    let fields = FieldMap::default();
    let mut seen = Vec::new();
    let walked = array::walk(
        data,
        &fields,
        &|s| s == "VPC",
        256,
        &mut |line, bytes, _| seen.push((line, bytes.to_vec())),
    );
    let Framed {
        records,
        events,
        error,
    } = run(data, 1 << 20, Some(Framing::Array));
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
    Ok(())
}

/// What `lines::walk` reads of `data` against the lines of a chunk holding it: the same
/// lines with the same numbers and bytes, and a line the skim read is one `skim_json`
/// reads alike.
fn lines_agree_with_the_chunk(data: &[u8]) -> Result<(), TestCaseError> {
    let fields = FieldMap::default();
    let skip = |s: &str| s == "VPC";
    let mut seen = Vec::new();
    let mut mismatch = None;
    lines::walk(data, 3, &fields, &skip, &mut |line, bytes, skimmed| {
        if let Some(r) = skimmed {
            let alone = skim_json(bytes, &fields, &skip).map(|a| format!("{a:?}"));
            if alone.as_deref() != Some(format!("{r:?}").as_str()) {
                mismatch = Some(line);
            }
        }
        seen.push((line, bytes.to_vec()));
    });
    let text = String::from_utf8_lossy(data);
    prop_assert_eq!(mismatch, None, "{}", text);
    let chunk = Chunk {
        data: Buffer::from(data.to_vec()),
        first_line: 3,
        spans: None,
        newlines: Vec::new(),
    };
    let want: Vec<(u64, Vec<u8>)> = chunk.records().map(|(l, b)| (l, b.to_vec())).collect();
    prop_assert_eq!(seen, want, "{}", text);
    Ok(())
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
        lines_agree_with_the_chunk(&data)?;
    }

    #[test]
    fn walking_jsonish_lines_finds_the_lines_of_the_chunk(data in jsonish()) {
        lines_agree_with_the_chunk(&data)?;
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
        walk_agrees_with_framing(&data)?;
    }

    #[test]
    fn walking_jsonish_text_finds_what_framing_finds(data in jsonish()) {
        let mut text = b"[".to_vec();
        text.extend_from_slice(&data);
        walk_agrees_with_framing(&text)?;
    }
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
