//! Throughput of the hot parts, in bytes per second, on the generator's own output (the
//! mix of services, record shapes and denials that `compare.sh` scans end to end):
//! framing (record boundaries of lines, and of the same records as one JSON array, as in
//! CTS's OBS files), reading that array in one pass as an OBS file inflated whole is read
//! (each element skimmed where it lies), the same for JSON lines (each line's object
//! skimmed from its start), the skim's validating walk alone, reading records with the
//! skim as the scan did before the one-pass reading (other services' traces validated
//! and skipped, ECS traces read), serde_json validating the same records while building
//! nothing (a reference), reading them with serde (the fallback), classification, and
//! counting classified calls into a tally; parsing each access-log format; and decoding
//! gzip files the way the scan opens them (a large file streamed, a small one inflated
//! whole), in bytes of output.

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use permtrail::catalog;
use permtrail::classify::classify;
use permtrail::count::{Loc, Tally};
use permtrail::parse::access::{AccessFormat, parse as parse_access};
use permtrail::parse::array::{self, Walked};
use permtrail::parse::lines;
use permtrail::parse::{FieldMap, Skimmed, parse_json, skim_json};
use permtrail::read::frame::{FrameOptions, Framing, frame};
use permtrail::scan::other_service;
use std::hint::black_box;

// The generator is an example, not part of the library; the benchmarks take its records
// from the same code. Only `sample` is called from here, hence the allowance.
#[allow(dead_code)]
#[path = "../examples/generate.rs"]
mod generate;

/// Bytes of input per benchmark: enough records for a stable figure, few enough that the
/// whole run stays short.
const SAMPLE_BYTES: usize = 8 << 20;

/// Frames all of `input` in 4 MiB chunks; the bytes of the chunks, to keep the work.
fn frame_all(input: &[u8], framing: Framing) -> usize {
    let mut n = 0usize;
    let options = FrameOptions {
        chunk_size: 4 << 20,
        max_record_bytes: 64 << 20,
        line_ends: true,
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

/// The non-empty lines of `input`.
fn lines_of(input: &[u8]) -> Vec<&[u8]> {
    input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

fn jsonl(c: &mut Criterion) {
    let input = generate::sample(false, SAMPLE_BYTES);
    let fields = FieldMap::default();
    let catalog = catalog::builtin().expect("built-in catalog");
    let mut group = c.benchmark_group("jsonl");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(10);
    group.bench_function("frame", |b| {
        b.iter(|| black_box(frame_all(&input, Framing::Lines)))
    });
    // The same records as one array, one per line, as CTS writes its OBS files.
    let records = lines_of(&input);
    let mut array = b"[".to_vec();
    for (k, line) in records.iter().enumerate() {
        if k > 0 {
            array.extend_from_slice(b",\n");
        }
        array.extend_from_slice(line);
    }
    array.extend_from_slice(b"]\n");
    group.bench_function("frame_array", |b| {
        b.iter(|| black_box(frame_all(&array, Framing::Array)))
    });
    // The same array read as a small OBS file inflated whole is: each element skimmed
    // where it lies, the skim finding its end (framing and reading in one pass).
    group.bench_function("walk_array", |b| {
        b.iter(|| {
            let mut n = 0usize;
            let walked = array::walk(&array, &fields, &other_service, 64 << 20, &mut |_, _, r| {
                n += match r {
                    Skimmed::Record(r) => 2 + usize::from(r.status.is_some()),
                    Skimmed::Skipped => 1,
                }
            });
            assert_eq!(walked, Walked::Complete);
            black_box(n)
        })
    });
    // Records are cut once, here: the stages below are timed without the cutting (that
    // is `frame`'s figure).
    let per_record = |f: &mut dyn FnMut(&[u8]) -> usize| -> usize {
        records.iter().map(|record| f(record)).sum()
    };
    // The validating walk alone: every member handed to a callback that does nothing
    // (no field lookups, no record built).
    group.bench_function("walk", |b| {
        b.iter(|| {
            black_box(per_record(&mut |record| {
                let mut n = 0;
                let valid =
                    permtrail::parse::skim::members(record, |key, _, _| n += key.text.len());
                n + usize::from(valid.is_some())
            }))
        })
    });
    // The lines read in one pass, as a worker reads a chunk of JSON lines: each line's
    // object skimmed from its start, the skim finding its end (splitting and reading
    // together, to set against `frame` plus `skim`).
    group.bench_function("walk_lines", |b| {
        b.iter(|| {
            let mut n = 0usize;
            lines::walk(&input, 1, &fields, &other_service, &mut |_, _, r| {
                n += match r {
                    Some(Skimmed::Record(r)) => 2 + usize::from(r.status.is_some()),
                    Some(Skimmed::Skipped) => 1,
                    None => 0,
                }
            });
            black_box(n)
        })
    });
    // As the scan reads them: a trace naming another service is validated and skipped.
    group.bench_function("skim", |b| {
        b.iter(|| {
            black_box(per_record(
                &mut |record| match skim_json(record, &fields, &other_service) {
                    Some(Skimmed::Record(r)) => 2 + usize::from(r.status.is_some()),
                    Some(Skimmed::Skipped) => 1,
                    None => 0,
                },
            ))
        })
    });
    // A reference: serde_json checking the same records' syntax and building nothing.
    // (It checks less than the skim: serde_json does not check the UTF-8 of strings it
    // ignores.)
    group.bench_function("serde_validate", |b| {
        b.iter(|| {
            black_box(per_record(&mut |record| {
                usize::from(serde_json::from_slice::<serde::de::IgnoredAny>(record).is_ok())
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
    // Classification and counting alone, of the ECS records read once beforehand (the
    // figures are per byte of the whole input, as the scan sees them).
    let parsed: Vec<_> = records
        .iter()
        .filter_map(|record| match skim_json(record, &fields, &other_service) {
            Some(Skimmed::Record(r)) => Some(r),
            _ => None,
        })
        .collect();
    group.bench_function("classify", |b| {
        b.iter(|| {
            let n: usize = parsed
                .iter()
                .map(|r| classify(&catalog, r).actions.len())
                .sum();
            black_box(n)
        })
    });
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
}

/// Parsing `log`'s lines as `format`, in a group of its own.
fn access_bench(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    log: &str,
    format: AccessFormat,
) {
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let n = log
                .lines()
                .filter_map(|line| parse_access(line, format))
                .filter(|r| r.status.is_some())
                .count();
            black_box(n)
        })
    });
}

/// `text` repeated to about `SAMPLE_BYTES`.
fn repeated(text: &str) -> String {
    text.repeat(SAMPLE_BYTES / text.len().max(1) + 1)
}

fn access(c: &mut Criterion) {
    let apig = String::from_utf8(generate::sample(true, SAMPLE_BYTES)).expect("ASCII lines");
    let elb = repeated(&std::fs::read_to_string("samples/access/elb.log").expect("bundled"));
    let mut combined = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open("samples/access/combined.log.gz").expect("bundled"),
        ),
        &mut combined,
    )
    .expect("gzip sample");
    let combined = repeated(&combined);
    let mut group = c.benchmark_group("access");
    group.sample_size(10);
    access_bench(&mut group, "apig", &apig, AccessFormat::Apig);
    access_bench(&mut group, "elb", &elb, AccessFormat::Elb);
    access_bench(&mut group, "combined", &combined, AccessFormat::Combined);
    group.finish();
}

/// The mix of `bytes` bytes written gzipped to a file in `dir`, as `name`.
fn gzip_file(dir: &std::path::Path, name: &str, bytes: usize) -> (std::path::PathBuf, u64) {
    use std::io::Write;
    let input = generate::sample(false, bytes);
    let path = dir.join(name);
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).expect("temp file"),
        flate2::Compression::default(),
    );
    encoder.write_all(&input).expect("temp file");
    encoder.finish().expect("temp file");
    (path, input.len() as u64)
}

fn gzip(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    // Over `read`'s 8 MiB limit for inflating whole, so it is streamed; and one a CTS
    // OBS file's size, inflated whole.
    let stream = gzip_file(dir.path(), "stream.json.gz", 2 * SAMPLE_BYTES);
    let whole = gzip_file(dir.path(), "whole.json.gz", SAMPLE_BYTES / 2);
    let mut group = c.benchmark_group("gzip");
    group.sample_size(10);
    let mut buf = vec![0u8; 1 << 20];
    for (name, (path, decoded)) in [("stream", &stream), ("whole", &whole)] {
        let source = permtrail::read::Source {
            name: name.to_string(),
            path: Some(path.clone()),
        };
        group.throughput(Throughput::Bytes(*decoded));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut reader = permtrail::read::open(&source).expect("opens");
                // A file inflated whole is read where it lies, as the scan reads it.
                if let Some(data) = reader.whole() {
                    return black_box(data.len() as u64);
                }
                let mut n = 0u64;
                loop {
                    let k = std::io::Read::read(&mut reader, &mut buf).expect("decodes");
                    if k == 0 {
                        break;
                    }
                    n += k as u64;
                }
                assert_eq!(n, *decoded);
                black_box(n)
            })
        });
    }
    group.finish();
}

criterion_group!(pipeline, jsonl, access, gzip);
criterion_main!(pipeline);
