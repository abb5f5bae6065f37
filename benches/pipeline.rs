//! Throughput of the hot parts, in bytes per second, on generated CTS-like JSON lines:
//! framing (record boundaries of lines, and of the same records as one JSON array, as in
//! CTS's OBS files), parsing into `Record`s with the validating skim (`skim`) and with
//! serde (`parse`), parsing plus classification, and counting classified calls into a
//! tally; and parsing the bundled APIG access log, repeated to about 8 MB.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use permtrail::catalog;
use permtrail::classify::classify;
use permtrail::count::{Loc, Tally};
use permtrail::parse::access::{AccessFormat, parse as parse_access};
use permtrail::parse::{FieldMap, Skimmed, parse_json, skim_json};
use permtrail::read::frame::{FrameOptions, Framing, frame};
use std::hint::black_box;

/// About 8 MB of traces: a mix of allowed, denied and non-ECS records, as JSON lines.
fn lines() -> Vec<u8> {
    let mut out = String::new();
    let mut i = 0u64;
    while out.len() < 8 << 20 {
        let (name, code, response) = match i % 5 {
            0 => (
                "startServer",
                403,
                r#"{"forbidden": {"message": "Policy doesn't allow ecs:servers:list to be performed.", "code": 403}}"#,
            ),
            1 => ("createBucket", 200, "null"),
            _ => ("stopServer", 200, r#""{\"result\": \"ok\"}""#),
        };
        out.push_str(&format!(
            r#"{{"trace_id": "{i:032x}", "trace_name": "{name}", "trace_rating": "normal", "trace_type": "ApiCall", "service_type": "ECS", "resource_type": "ecs", "resource_id": "srv-{i}", "source_ip": "10.0.0.{}", "time": {}, "user": {{"id": "u{}", "name": "user{}", "domain": {{"id": "d1", "name": "acme"}}}}, "request": {{"os-start": {{}}}}, "response": {response}, "code": {code}, "project_id": "{:032x}", "request_id": "r{i}"}}"#,
            i % 250,
            1763632800000u64 + i,
            i % 17,
            i % 17,
            i % 23,
        ));
        out.push('\n');
        i += 1;
    }
    out.into_bytes()
}

/// Frames all of `input` in 4 MiB chunks; the bytes of the chunks, to keep the work.
fn frame_all(input: &[u8], framing: Framing) -> usize {
    let mut n = 0usize;
    let options = FrameOptions {
        chunk_size: 4 << 20,
        max_record_bytes: 64 << 20,
    };
    frame(
        &mut &input[..],
        options,
        Some(framing),
        &mut |c| n += c.data.len(),
        &mut |_| (),
    )
    .expect("in memory");
    n
}

fn benches(c: &mut Criterion) {
    let input = lines();
    let fields = FieldMap::default();
    let catalog = catalog::builtin().expect("built-in catalog");
    let mut group = c.benchmark_group("jsonl");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(10);
    group.bench_function("frame", |b| {
        b.iter(|| black_box(frame_all(&input, Framing::Lines)))
    });
    // The same records as one array, one per line, as CTS writes its OBS files.
    let mut array = b"[".to_vec();
    for (k, line) in input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if k > 0 {
            array.extend_from_slice(b",\n");
        }
        array.extend_from_slice(line);
    }
    array.extend_from_slice(b"]\n");
    group.bench_function("frame_array", |b| {
        b.iter(|| black_box(frame_all(&array, Framing::Array)))
    });
    // Records are cut once, here: the stages below are timed without the cutting (that
    // is `frame`'s figure).
    let records: Vec<&[u8]> = input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let per_record = |f: &mut dyn FnMut(&[u8]) -> usize| -> usize {
        records.iter().map(|record| f(record)).sum()
    };
    group.bench_function("skim", |b| {
        b.iter(|| {
            black_box(per_record(
                &mut |record| match skim_json(record, &fields, &|_| false) {
                    Some(Skimmed::Record(r)) => usize::from(r.status.is_some()),
                    _ => 0,
                },
            ))
        })
    });
    // What a record of another service costs: validated and its service read, then
    // skipped (the predicate skips every service here).
    group.bench_function("skim_skipped", |b| {
        b.iter(|| {
            black_box(per_record(&mut |record| {
                usize::from(matches!(
                    skim_json(record, &fields, &|_| true),
                    Some(Skimmed::Skipped)
                ))
            }))
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| {
            black_box(per_record(&mut |record| {
                let mut n = 0;
                parse_json(record, &fields, &mut |_, r| {
                    n += usize::from(r.status.is_some())
                })
                .expect("valid");
                n
            }))
        })
    });
    group.bench_function("parse_and_classify", |b| {
        b.iter(|| {
            black_box(per_record(&mut |record| {
                let mut n = 0;
                parse_json(record, &fields, &mut |_, r| {
                    n += classify(&catalog, &r).actions.len();
                })
                .expect("valid");
                n
            }))
        })
    });
    // Aggregation alone: records parsed and classified once, then counted per iteration
    // into a fresh tally (with its evidence for inference and its denied-call rows).
    let parsed: Vec<_> = records
        .iter()
        .map(|record| {
            let mut out = None;
            parse_json(record, &fields, &mut |_, r| out = Some(r)).expect("valid");
            out.expect("one record per line")
        })
        .collect();
    let calls: Vec<_> = parsed.iter().map(|r| classify(&catalog, r)).collect();
    group.bench_function("count", |b| {
        b.iter(|| {
            let mut tally = Tally::default();
            for (k, (record, call)) in parsed.iter().zip(&calls).enumerate() {
                let loc = Loc {
                    file: 0,
                    line: k as u64 + 1,
                };
                tally.add(&catalog, record, call, loc, Some(k as u64), true);
            }
            black_box(tally.records)
        })
    });
    group.finish();

    let sample = std::fs::read_to_string("samples/access/apig.log").expect("bundled sample");
    let mut log = String::new();
    while log.len() < 8 << 20 {
        log.push_str(&sample);
    }
    let mut group = c.benchmark_group("apig");
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.sample_size(10);
    group.bench_function("parse", |b| {
        b.iter(|| {
            let n = log
                .lines()
                .filter_map(|line| parse_access(line, AccessFormat::Apig))
                .filter(|r| r.status.is_some())
                .count();
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
