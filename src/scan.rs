//! The scan pipeline's glue: reads every input (files in parallel, each file's chunks in
//! parallel), parses, classifies and counts records, then writes the reports. JSON lines
//! are read in one pass (`parse::lines`), and so is a small gzip file inflated whole where
//! it can be (`parse::array`), without chunks. Each file's first line decides whether its
//! lines are JSON or an access-log format; the run's evidence then explains denials
//! without a message (`Tally::infer`) before writing. Memory is bounded by the number of
//! chunks in flight (`2 × threads + 2`) and one inflated file per thread, plus the
//! distinct keys counted.

use crate::catalog::Catalog;
use crate::classify::{self, Outcome};
use crate::count::{Loc, Tally};
use crate::parse::access::{self, AccessFormat};
use crate::parse::array::{self, Walked};
use crate::parse::{self, BadRecord, FieldMap, Skimmed, time::Millis};
use crate::read::frame::{self, Event, FrameOptions, Framing};
use crate::read::{self, Chunk, Source};
use crate::runs::{Order, Runs};
use crate::seen::{Seen, record_key};
use memchr::{memchr, memchr_iter};
use rayon::prelude::*;
use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Which record formats to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Sniff each file.
    Auto,
    /// CTS traces: arrays, JSON lines, API pages, trigger events.
    Cts,
    /// One JSON record per line, never an array or a multi-line document.
    Jsonl,
    /// An access-log format for every line; a file whose first line does not fit is refused.
    Access(AccessFormat),
}

/// How the lines of one file are read, decided once per file from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// JSON; under `--format auto` a line that is not JSON may still be an access-log line.
    Json,
    /// This access-log format; under `--format auto` a line that does not fit it is tried
    /// against the others and as JSON.
    Access(AccessFormat),
}

/// A validated scan request; the core never sees the command line.
#[derive(Debug)]
pub struct ScanConfig {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub threads: usize,
    pub catalog: Catalog,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// Empty: every project.
    pub projects: HashSet<String>,
    pub dedupe: bool,
    pub format: Format,
    pub fields: FieldMap,
    pub quiet: bool,
    /// How progress is shown on stderr (`--quiet`, `--progress-every`, a terminal or not).
    pub progress: crate::progress::Mode,
    pub frame: FrameOptions,
    /// Write CSV fields exactly as read (no spreadsheet neutralisation).
    pub raw_csv: bool,
    /// Denied-call rows a worker keeps in memory before writing them to a sorted run.
    pub rows_in_memory: usize,
    /// Most rows of unclassified.csv (`count::Unclassified`, which reads 0 as 1).
    pub max_unclassified_rows: usize,
    /// Most project rows (`count::Projects`, which reads 0 as 1).
    pub max_projects: usize,
    /// Key of the hashes that choose the rows kept under those two limits.
    pub limit_seed: u64,
    /// Entries (see `Tally::weight`) a worker's tally may hold before it is folded into
    /// the shared one (with more than one worker). Each fold leaves the worker's maps
    /// to fill again with keys the shared tally may hold too, so the default (about
    /// 10-20 MB) is above what an ordinary day's traces reach.
    pub fold_weight: usize,
    /// Read JSON records with the validating skim (`parse::skim_json`) where it is sure,
    /// instead of serde everywhere; reports are identical either way.
    pub skim: bool,
}

impl ScanConfig {
    /// An empty tally with this scan's limits: every worker's, the shared one, and each
    /// that replaces a folded one.
    fn tally(&self) -> Tally {
        Tally::with_limits(
            self.max_unclassified_rows,
            self.max_projects,
            self.limit_seed,
        )
    }
}

/// A file that could not be read to its end.
#[derive(Debug, Clone)]
pub struct FileError {
    pub input: String,
    pub line: u64,
    pub reason: String,
}

/// The result of a scan, for the summary and the exit code.
#[derive(Debug)]
pub struct ScanResult {
    pub tally: Tally,
    /// Denied-call rows spilled to disk; `tally.denied_calls` holds the rest.
    pub runs: Runs,
    pub inputs: read::Names,
    pub bytes: u64,
    pub gzip_files: u64,
    pub elapsed: Duration,
    pub file_errors: Vec<FileError>,
}

struct Shared<'c> {
    config: &'c ScanConfig,
    seen: Seen,
    bytes: AtomicU64,
    in_flight: AtomicUsize,
    /// One tally per worker thread, merged at the end.
    tallies: Vec<Mutex<Tally>>,
    /// Where a worker's tally goes when its big maps pass `ScanConfig::fold_weight`: on a day
    /// of many distinct denials, each worker would otherwise hold most groups and user
    /// sets a second time until the end.
    folded: Mutex<Tally>,
    /// Denied-call rows beyond `ScanConfig::rows_in_memory` per worker go to disk.
    runs: Runs,
    spill_error: Mutex<Option<anyhow::Error>>,
}

impl Shared<'_> {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        let slot = rayon::current_thread_index().unwrap_or(0) % self.tallies.len();
        self.tallies[slot]
            .lock()
            .expect("no panics while holding the lock")
    }
}

fn process_record(shared: &Shared, tally: &mut Tally, record: &parse::Record, loc: Loc) {
    let config = shared.config;
    if record.bad_status {
        tally.error(loc, crate::count::INVALID_STATUS);
    }
    if record.bad_time {
        tally.error(loc, crate::count::INVALID_TIME);
    }
    if config.since.is_some() || config.until.is_some() {
        let inside = record.time.is_some_and(|t| {
            config.since.is_none_or(|s| t >= s) && config.until.is_none_or(|u| t < u)
        });
        if !inside {
            tally.out_of_time += 1;
            return;
        }
    }
    let dedupe = if config.dedupe {
        record.trace_id.as_deref().map(|id| record_key(id, record))
    } else {
        None
    };
    // Classifying takes long enough for the id's slot to arrive meanwhile.
    if let Some(key) = dedupe {
        shared.seen.prefetch(key);
    }
    let call = classify::classify(&config.catalog, record);
    if !config.projects.is_empty()
        && !call
            .project
            .as_deref()
            .is_some_and(|p| config.projects.contains(p))
    {
        tally.other_projects += 1;
        return;
    }
    let counted = dedupe.is_none_or(|h| shared.seen.first(h));
    if !counted && call.outcome != Outcome::Denied {
        tally.duplicates += 1;
        return;
    }
    tally.add(&config.catalog, record, &call, loc, dedupe, counted);
}

/// True for a service other than ECS: its traces are counted, never classified.
pub fn other_service(service: &str) -> bool {
    !service.eq_ignore_ascii_case("ECS")
}

/// Reads one line of a line-framed file as `kind` says; `Err` when it fits nothing.
fn process_line(
    shared: &Shared,
    tally: &mut Tally,
    kind: LineKind,
    bytes: &[u8],
    loc: Loc,
) -> Result<(), BadRecord> {
    let auto = shared.config.format == Format::Auto;
    let json_like = matches!(bytes.first(), Some(b'{') | Some(b'['));
    let access_record = |format: Option<AccessFormat>| {
        let text = simdutf8::basic::from_utf8(bytes).ok()?;
        match format {
            Some(f) => access::parse(text, f),
            None => access::parse_any(text).map(|(_, r)| r),
        }
    };
    let record = match kind {
        LineKind::Access(f) => match access_record(Some(f)) {
            Some(r) => Some(r),
            None if auto && json_like => None,
            None if auto => Some(access_record(None).ok_or(BadRecord::InvalidAccessLine)?),
            None => return Err(BadRecord::InvalidAccessLine),
        },
        LineKind::Json if auto && !json_like => access_record(None),
        LineKind::Json => None,
    };
    match record {
        Some(r) => process_record(shared, tally, &r, loc),
        None => process_json(shared, tally, bytes, loc)?,
    }
    Ok(())
}

fn process_json(
    shared: &Shared,
    tally: &mut Tally,
    bytes: &[u8],
    loc: Loc,
) -> Result<(), BadRecord> {
    if shared.config.skim {
        // Escapes, envelopes and invalid input: serde decides.
        if let Some(skimmed) = parse::skim_json(bytes, &shared.config.fields, &other_service) {
            count_skimmed(shared, tally, skimmed, loc);
            return Ok(());
        }
    }
    let mut records = Vec::new();
    match parse::parse_json(bytes, &shared.config.fields, &mut |offset, r| {
        records.push((offset, r))
    }) {
        Ok(_) => {}
        Err(BadRecord::InvalidUtf8) => {
            // Keep the record, read with U+FFFD for the bad bytes, and list it; when even
            // the repaired text is no JSON the caller lists it as that instead.
            let fixed = String::from_utf8_lossy(bytes).into_owned();
            process_json(shared, tally, fixed.as_bytes(), loc)?;
            tally.error(loc, crate::count::INVALID_UTF8);
            return Ok(());
        }
        Err(bad) => return Err(bad),
    }
    // Records of an envelope come in input order: count the lines between neighbours
    // only, not from the start each time (a page may hold thousands).
    let (mut counted_to, mut line) = (0, loc.line);
    for (offset, record) in records {
        if offset < counted_to {
            (counted_to, line) = (0, loc.line);
        }
        line += memchr_iter(b'\n', &bytes[counted_to..offset]).count() as u64;
        counted_to = offset;
        // The same rule as the skim applies above (`Skimmed::Skipped`).
        if record.service.as_deref().is_some_and(other_service) {
            tally.other_services += 1;
            continue;
        }
        let loc = Loc {
            file: loc.file,
            line,
        };
        process_record(shared, tally, &record, loc);
    }
    Ok(())
}

/// One chunk in flight; dropping it gives the slot back.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Fault injection for the tests (debug builds only): with `PERMTRAIL_INJECT_PANIC` set,
/// every worker panics, so a test can check what a failed scan leaves behind.
#[cfg(debug_assertions)]
fn inject_panic() {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("PERMTRAIL_INJECT_PANIC").is_some()) {
        panic!("injected fault (PERMTRAIL_INJECT_PANIC)");
    }
}

/// Counts a chunk's records into this worker's tally, then gives the chunk's buffer back
/// for reuse and spills the tally's denied-call rows when they pass the limit.
fn process_chunk(shared: &Shared, file: u32, kind: LineKind, chunk: Chunk) {
    #[cfg(debug_assertions)]
    inject_panic();
    // The slot is this worker's own, so holding it for the whole chunk blocks no one and
    // saves merging a per-chunk tally.
    let mut slot = shared.tally();
    let tally = &mut *slot;
    // Lines may be access-log records; array elements and documents are always JSON.
    let lines = chunk.spans.is_none();
    if lines && one_pass_lines(shared.config, kind) {
        // JSON lines in one pass: the skim finds where each line's object ends.
        let config = shared.config;
        parse::lines::walk(
            &chunk.data,
            chunk.first_line,
            &config.fields,
            &other_service,
            &mut |line, bytes, skimmed| {
                let loc = Loc { file, line };
                match skimmed {
                    Some(skimmed) => count_skimmed(shared, tally, skimmed, loc),
                    None => {
                        if let Err(bad) = process_line(shared, tally, kind, bytes, loc) {
                            tally.error(loc, bad.as_str());
                        }
                    }
                }
            },
        );
    } else {
        for (line, bytes) in chunk.records() {
            let loc = Loc { file, line };
            let result = if lines {
                process_line(shared, tally, kind, bytes, loc)
            } else {
                process_json(shared, tally, bytes, loc)
            };
            if let Err(bad) = result {
                tally.error(loc, bad.as_str());
            }
        }
    }
    read::give_buffer(chunk.data);
    settle(shared, slot);
}

/// Whether a file's lines, read as `kind`, are read in one pass (`parse::lines`): its
/// reader then need not keep where each line ends.
fn one_pass_lines(config: &ScanConfig, kind: LineKind) -> bool {
    kind == LineKind::Json && config.skim
}

/// Counts a record the skim read: a trace of another service only as that.
fn count_skimmed(shared: &Shared, tally: &mut Tally, skimmed: Skimmed, loc: Loc) {
    match skimmed {
        Skimmed::Skipped => tally.other_services += 1,
        Skimmed::Record(record) => process_record(shared, tally, &record, loc),
    }
}

/// After a worker counted a piece of input: folds its tally into the shared one when its
/// maps have grown past the limit, and spills its denied-call rows when there are enough.
fn settle(shared: &Shared, mut slot: std::sync::MutexGuard<'_, Tally>) {
    // One worker has no copies to save: folding would only hold its maps twice.
    if shared.tallies.len() > 1 && slot.weight() > shared.config.fold_weight {
        // The rows stay: they are spilled per worker, below.
        let mut part = std::mem::replace(&mut *slot, shared.config.tally());
        slot.denied_calls = std::mem::take(&mut part.denied_calls);
        shared
            .folded
            .lock()
            .expect("no panics while holding the lock")
            .merge(part);
    }
    if slot.denied_calls.len() >= shared.config.rows_in_memory {
        // Spilled in place, so the rows keep their capacity: grown anew after every spill,
        // they were a fresh mapping to fault in each time (60% of a bad day's page faults).
        // The slot is this worker's own; holding it while writing blocks no one.
        if let Err(e) = shared.runs.spill(&mut slot.denied_calls) {
            let mut first = shared
                .spill_error
                .lock()
                .expect("no panics while holding the lock");
            first.get_or_insert(e);
        }
    }
}

/// Bytes read ahead to find a file's first line.
const HEAD_BYTES: usize = 64 * 1024;

/// The first non-blank line in `head` (after a UTF-8 BOM), trimmed, and its 1-based
/// number.
fn first_line(head: &[u8]) -> Option<(u64, &[u8])> {
    let head = frame::without_bom(head);
    // A blank line holds only ASCII white space, so the first line that is not blank is
    // the one with the first other byte. Its end is found with memchr: this runs for every
    // file, and in an OBS file (one JSON array on one line) that line is the whole head.
    // Splitting the head a byte at a time was a fifth of scanning a tree of small files.
    let first = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let end = memchr(b'\n', &head[first..]).map_or(head.len(), |i| first + i);
    let number = 1 + memchr_iter(b'\n', &head[..first]).count() as u64;
    Some((number, head[first..end].trim_ascii_end()))
}

/// How to read a file whose first line is `line`, or why a forced format refuses it.
fn line_kind(format: Format, line: &[u8]) -> Result<LineKind, String> {
    // Only access-log lines are read as text: a JSON file's first line can be all of it.
    let text = || std::str::from_utf8(line).unwrap_or("");
    match format {
        Format::Access(f) if access::parse(text(), f).is_some() => Ok(LineKind::Access(f)),
        Format::Access(f) => Err(format!(
            "format_mismatch: --format {} expects {}; this line is not one",
            f.as_str(),
            f.expected()
        )),
        Format::Auto if !matches!(line.first(), Some(b'{') | Some(b'[')) => {
            Ok(access::detect(text()).map_or(LineKind::Json, LineKind::Access))
        }
        _ => Ok(LineKind::Json),
    }
}

/// Counts the records of a JSON array held whole in memory (`data`, a small gzip file
/// inflated in one call) as they are skimmed, without framing it into chunks first. Up to
/// where the walk stopped, this counts exactly what framing and `process_chunk` would:
/// see `array::walk`.
fn process_whole_array(shared: &Shared, file: u32, data: &[u8]) -> Walked {
    #[cfg(debug_assertions)]
    inject_panic();
    let config = shared.config;
    let mut slot = shared.tally();
    let tally = &mut *slot;
    let walked = array::walk(
        data,
        &config.fields,
        &other_service,
        config.frame.max_record_bytes,
        &mut |line, _, skimmed| count_skimmed(shared, tally, skimmed, Loc { file, line }),
    );
    settle(shared, slot);
    walked
}

/// Reads one input, handing its chunks to the pool. Returns the file's error, if any.
fn read_source<'s>(
    scope: &rayon::Scope<'s>,
    shared: &'s Shared<'s>,
    file: u32,
    source: &Source,
    gzip: &AtomicU64,
) -> Option<FileError> {
    let config = shared.config;
    let fail = |line: u64, reason: String| FileError {
        input: source.name.clone(),
        line,
        reason,
    };
    let reader = match read::open(source) {
        Ok(r) => r,
        Err(e) => {
            shared
                .tally()
                .error(Loc { file, line: 0 }, "unreadable_input");
            return Some(fail(0, format!("{e:#}")));
        }
    };
    if reader.is_gzip() {
        gzip.fetch_add(1, Ordering::Relaxed);
    }
    let forced = match config.format {
        Format::Jsonl | Format::Access(_) => Some(Framing::Lines),
        _ => None,
    };
    // Records the walk below counted, which framing will find first and pass over.
    let mut counted = 0;
    if let Some(data) = reader.whole()
        && config.skim
        && forced.is_none()
        && !INTERRUPTED.load(Ordering::Relaxed)
    {
        match process_whole_array(shared, file, data) {
            Walked::Complete => {
                // As framing counts them: without a byte-order mark.
                let bytes = frame::without_bom(data).len();
                shared.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                return None;
            }
            Walked::Stopped { records } => counted = records,
        }
    }
    let mut reader = Interruptible(reader);
    // The first line decides how this file's lines are read; it is read ahead and put back.
    let mut head = Vec::new();
    // A read error this early is replayed after the head, so framing reports it at the
    // right line and the records before it still count.
    let early = read::fill(&mut reader, &mut head, HEAD_BYTES).err();
    let kind = match first_line(&head) {
        None => LineKind::Json,
        Some((line, text)) => match line_kind(config.format, text) {
            Ok(kind) => kind,
            Err(reason) => {
                shared.tally().error(Loc { file, line }, "format_mismatch");
                return Some(fail(line, reason));
            }
        },
    };
    let rest: Box<dyn Read + Send> = match early {
        Some(e) => Box::new(read::Failed(Some(e))),
        None => Box::new(reader),
    };
    let mut reader = std::io::Cursor::new(head).chain(rest);
    let limit = chunks_in_flight(rayon::current_num_threads());
    let options = FrameOptions {
        // JSON lines read in one pass find each line's end as they are skimmed.
        line_ends: !one_pass_lines(config, kind),
        ..config.frame
    };
    let mut events = Vec::new();
    let result = frame::frame(
        &mut reader,
        options,
        forced,
        &mut |mut chunk| {
            shared
                .bytes
                .fetch_add(chunk.data.len() as u64, Ordering::Relaxed);
            if counted > 0
                && let Some(spans) = &mut chunk.spans
            {
                let k = counted.min(spans.len());
                spans.drain(..k);
                counted -= k;
            }
            if shared.in_flight.load(Ordering::Acquire) >= limit {
                // Enough is queued: parse this chunk here rather than read further ahead.
                // (Yielding to rayon instead could start reading yet another file on this
                // thread, each holding its buffers: memory would grow with the file count.)
                process_chunk(shared, file, kind, chunk);
                return;
            }
            shared.in_flight.fetch_add(1, Ordering::AcqRel);
            scope.spawn(move |_| {
                // Released even if the work panics, so the reader never waits forever.
                let _slot = InFlight(&shared.in_flight);
                process_chunk(shared, file, kind, chunk);
            });
        },
        &mut |event| events.push(event),
    );
    {
        let mut tally = shared.tally();
        for Event::Skipped { line, reason } in events {
            tally.error(Loc { file, line }, reason);
        }
        if let Err(e) = &result {
            tally.error(Loc { file, line: e.line }, e.reason);
        }
    }
    result
        .err()
        .map(|e| fail(e.line, format!("{}: {}", e.reason, e.detail)))
}

/// How many chunks the readers queue for the workers before counting one themselves, with
/// `threads` workers: enough that no worker waits for a reader.
fn chunks_in_flight(threads: usize) -> usize {
    2 * threads + 2
}

/// Set by the SIGINT/SIGTERM handler: readers stop at their next read and the run ends
/// without writing reports.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// A reader that fails once the run is interrupted, so every file stops promptly.
struct Interruptible<R>(R);

impl<R: Read> Read for Interruptible<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if INTERRUPTED.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("interrupted"));
        }
        self.0.read(buf)
    }
}

/// Runs a whole scan: discovery, reading, counting. Writing is left to the caller.
pub fn scan(config: &ScanConfig) -> anyhow::Result<ScanResult> {
    let start = Instant::now();
    let show_progress = config.progress;
    // A tree of many thousands of files takes a while to walk (on a network file system,
    // much longer): say how far it is.
    let (found, walked) = (AtomicUsize::new(0), AtomicBool::new(false));
    let (mut sources, walk_errors) = std::thread::scope(|threads| {
        let _walked = crate::progress::during(threads, show_progress, &walked, || {
            let found = found.load(Ordering::Relaxed);
            format!("finding inputs: {found} files")
        });
        read::discover(&config.inputs, &found)
    });
    let files = sources.len();
    // Paths that could not be walked get input indexes after the readable ones, so
    // errors.csv can name them (line 0: the input as a whole).
    let mut walk_rows = Vec::new();
    let mut file_errors: Vec<FileError> = Vec::new();
    for e in walk_errors {
        walk_rows.push((
            Loc {
                file: sources.names.len() as u32,
                line: 0,
            },
            e.code,
        ));
        sources.names.push(&e.name);
        file_errors.push(FileError {
            input: e.name,
            line: 0,
            reason: e.reason,
        });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads.max(1))
        .build()?;
    // Besides the queued chunks, each thread holds its reader's buffer and a chunk it counts.
    let threads = pool.current_num_threads();
    read::keep_buffers(chunks_in_flight(threads) + 2 * threads);
    let shared = Shared {
        config,
        seen: Seen::default(),
        bytes: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        folded: Mutex::new(config.tally()),
        tallies: (0..config.threads.max(1))
            .map(|_| Mutex::new(config.tally()))
            .collect(),
        runs: Runs::new(&config.out, Order::new(&sources.names)),
        spill_error: Mutex::new(None),
    };
    let gzip = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let files_done = AtomicUsize::new(0);
    let errors: Mutex<Vec<FileError>> = Mutex::new(Vec::new());
    std::thread::scope(|threads| {
        let _done = crate::progress::during(threads, show_progress, &done, || {
            progress_line(&shared, &files_done, files, start)
        });
        pool.install(|| {
            rayon::scope(|scope| {
                let sources = &sources;
                // Every file a task another thread can take. Left to itself, rayon runs a
                // range of files on one thread without offering the rest, and a thread
                // done early waits at the end: a file read whole in one pass offers no
                // chunks to take instead (11% of a two-thread scan of an OBS tree).
                (0..files)
                    .into_par_iter()
                    .with_max_len(1)
                    .for_each(|index| {
                        let source = sources.source(index);
                        if let Some(e) = read_source(scope, &shared, index as u32, &source, &gzip) {
                            errors
                                .lock()
                                .expect("no panics while holding the lock")
                                .push(e);
                        }
                        files_done.fetch_add(1, Ordering::Relaxed);
                    });
            });
        });
    });
    let mut errors = errors
        .into_inner()
        .expect("no panics while holding the lock");
    errors.sort_by(|a, b| a.input.cmp(&b.input));
    file_errors.extend(errors);
    if let Some(e) = shared
        .spill_error
        .into_inner()
        .expect("no panics while holding the lock")
    {
        return Err(e.context("failed to keep denied-call rows on disk"));
    }
    // The de-duplication table is done with: free it before the tallies are merged, which
    // is when memory peaks.
    drop(shared.seen);
    // Merged into the heaviest (`Tally::weight`), so its maps are not rebuilt (they can be
    // the biggest thing held: pending inference groups grow with projects × users ×
    // actions).
    let mut tallies: Vec<Tally> = shared
        .tallies
        .into_iter()
        .chain([shared.folded])
        .map(|slot| slot.into_inner().expect("no panics while holding the lock"))
        .collect();
    tallies.sort_by_key(|t| std::cmp::Reverse(t.weight()));
    let mut tallies = tallies.into_iter();
    let mut tally = tallies.next().unwrap_or_default();
    for other in tallies {
        tally.merge(other);
    }
    for (loc, code) in walk_rows {
        tally.error(loc, code);
    }
    tally.finish();
    tally.infer(&config.catalog);
    Ok(ScanResult {
        tally,
        runs: shared.runs,
        inputs: sources.names,
        bytes: shared.bytes.load(Ordering::Relaxed),
        gzip_files: gzip.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
        file_errors,
    })
}

/// The scan's status line: files done, bytes read and speed so far.
fn progress_line(
    shared: &Shared,
    files_done: &AtomicUsize,
    files: usize,
    start: Instant,
) -> String {
    let bytes = shared.bytes.load(Ordering::Relaxed) as f64;
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    format!(
        "{} / {} files, {:.1} MB, {:.0} MB/s",
        files_done.load(Ordering::Relaxed),
        files,
        bytes / 1e6,
        bytes / 1e6 / secs
    )
}

#[cfg(test)]
mod tests {
    use super::first_line;
    use proptest::prelude::*;

    /// `first_line` as it is defined: split at every newline, trim each line, take the
    /// first with anything left.
    fn by_definition(head: &[u8]) -> Option<(u64, &[u8])> {
        let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        (1..)
            .zip(head.split(|b| *b == b'\n'))
            .map(|(n, l)| (n, l.trim_ascii()))
            .find(|(_, l)| !l.is_empty())
    }

    #[test]
    fn first_line_skips_blank_lines_and_a_bom() {
        assert_eq!(first_line(b""), None);
        assert_eq!(first_line(b" \n\t\r\n\x0c"), None);
        assert_eq!(
            first_line(b"\n\r\n  {\"a\":1}  \r\nnext"),
            Some((3, &b"{\"a\":1}"[..]))
        );
        assert_eq!(first_line(b"\xEF\xBB\xBF[1,2]"), Some((1, &b"[1,2]"[..])));
        // A vertical tab is not ASCII white space: its line is not blank.
        assert_eq!(first_line(b"\n\x0b\n"), Some((2, &b"\x0b"[..])));
    }

    proptest! {
        #[test]
        fn first_line_agrees_with_its_definition(
            head in proptest::collection::vec(
                proptest::sample::select(vec![
                    b' ', b'\t', b'\n', b'\r', 0x0c, 0x0b, b'a', b'{', 0xEF, 0xBB, 0xBF,
                ]),
                0..48,
            )
        ) {
            prop_assert_eq!(first_line(&head), by_definition(&head));
        }
    }
}
