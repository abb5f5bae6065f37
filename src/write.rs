//! Reports: turns a finished `Tally` into the CSV and JSON files of `--out`. Rows are
//! sorted as documented; files are written under temporary names in `--out` and renamed
//! into place only when all of them are complete, so a failed run never leaves a
//! half-written report.

use crate::catalog::{ActionId, Catalog};
use crate::count::{DeniedCall, ProjectTally, Span, Tally, Text};
use crate::parse::time;
use crate::read::Names;
use crate::runs::Runs;
use anyhow::{Context, Result};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Names of the report files, in the order they are moved into place.
pub const REPORTS: [&str; 8] = [
    "denials.csv",
    "denied_calls.csv",
    "projects.csv",
    "actions.csv",
    "unclassified.csv",
    "policies.json",
    "policies_inferred.json",
    "errors.csv",
];

fn names(catalog: &Catalog, ids: &[ActionId]) -> String {
    let mut out = String::new();
    names_into(catalog, ids, &mut out);
    out
}

/// `names`, appended to `out`.
fn names_into(catalog: &Catalog, ids: &[ActionId], out: &mut String) {
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        out.push_str(catalog.name(*id));
    }
}

/// The enterprise-project scope shared by all `ids`, empty when unknown or mixed.
fn enterprise_scope(catalog: &Catalog, ids: &[ActionId]) -> &'static str {
    let mut scopes = ids
        .iter()
        .map(|id| catalog.actions[*id as usize].enterprise_project);
    match scopes.next() {
        Some(first) if scopes.all(|s| s == first) => first.as_str(),
        _ => "",
    }
}

/// Makes a field safe to open in a spreadsheet: a leading `=`, `+`, `-`, `@`, tab or
/// carriage return (which spreadsheets read as a formula) gets a `'` in front, and control
/// characters are written as escapes (`\n`, `\r`, `\u{1b}`) so no field can break a row
/// for tools that split on line ends.
pub fn neutralise(field: &str) -> Cow<'_, str> {
    let formula = matches!(
        field.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    // Printable ASCII, most fields, holds no control character: no need to decode it. The
    // check folds every byte, without stopping early, so that it runs many bytes a step:
    // it was the largest part of writing a bad day's millions of rows.
    let printable = field
        .bytes()
        .fold(true, |all, b| all & (b.wrapping_sub(0x20) < 0x5f));
    let control = !printable && field.chars().any(|c| c.is_control() && c != '\t');
    if !formula && !control {
        return Cow::Borrowed(field);
    }
    let mut out = String::with_capacity(field.len() + 2);
    if formula {
        out.push('\'');
    }
    for c in field.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A file written by a thread of its own, so that the kernel's copy of the bytes into the
/// page cache overlaps with making the next ones: that copy was a quarter of writing a bad
/// day's denied_calls.csv (hundreds of MB), on one core while the other idled. Bytes go
/// over in blocks of `BLOCK`, at most two waiting. `finish` waits for the thread and
/// returns its first error; dropping without it waits too, and loses only the error.
struct Background {
    block: Vec<u8>,
    to_thread: Option<SyncSender<Vec<u8>>>,
    /// Blocks the thread has written, for reuse.
    spare: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

const BLOCK: usize = 1 << 20;

impl Background {
    fn new(mut file: fs::File) -> Background {
        let (to_thread, blocks) = sync_channel::<Vec<u8>>(2);
        // Room for every block there can be (two waiting, one being written, one being
        // filled), so giving one back never blocks.
        let (give_back, spare) = sync_channel::<Vec<u8>>(4);
        let thread = std::thread::spawn(move || {
            for mut block in blocks {
                file.write_all(&block)?;
                block.clear();
                let _ = give_back.try_send(block);
            }
            Ok(())
        });
        Background {
            block: Vec::with_capacity(BLOCK),
            to_thread: Some(to_thread),
            spare,
            thread: Some(thread),
        }
    }

    /// Hands the filled block to the thread.
    fn send(&mut self) -> std::io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK));
        let full = std::mem::replace(&mut self.block, next);
        let sent = match &self.to_thread {
            Some(to_thread) => to_thread.send(full).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The thread has stopped, which it does only on an error: that is the answer.
        Err(self
            .join()
            .err()
            .unwrap_or_else(|| std::io::Error::other("the report writer stopped")))
    }

    /// Lets the thread finish what it was given, and returns how it ended.
    fn join(&mut self) -> std::io::Result<()> {
        self.to_thread = None;
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => Ok(()),
        }
    }

    /// Writes what is left and waits until every byte has been handed to the file.
    fn finish(mut self) -> std::io::Result<()> {
        self.send()?;
        self.join()
    }
}

impl Write for Background {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.block.len() + data.len() > BLOCK {
            self.send()?;
        }
        self.block.extend_from_slice(data);
        Ok(data.len())
    }

    /// Hands over what is buffered; `finish` is what waits for it to be written.
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // A report given up on is removed with its folder: let the thread finish first.
        if !std::thread::panicking() {
            let _ = self.join();
        }
    }
}

/// A CSV report writer that neutralises every field unless `raw`.
struct Report {
    inner: csv::Writer<Background>,
    raw: bool,
    path: PathBuf,
}

impl Report {
    fn create(path: &Path, raw: bool) -> Result<Report> {
        let file = fs::File::create(path)
            .with_context(|| format!("failed to create {}", path.display()))?;
        Ok(Report {
            inner: csv::WriterBuilder::new().from_writer(Background::new(file)),
            raw,
            path: path.to_path_buf(),
        })
    }

    fn write_record<I, F>(&mut self, fields: I) -> Result<()>
    where
        I: IntoIterator<Item = F>,
        F: AsRef<str>,
    {
        // Field by field: a field needs no copy unless neutralising changes it.
        for field in fields {
            let field = field.as_ref();
            if self.raw {
                self.inner.write_field(field)?;
            } else {
                self.inner.write_field(neutralise(field).as_ref())?;
            }
        }
        self.inner.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Writes out every row and waits until the file has them all.
    fn finish(self) -> Result<()> {
        let failed = || format!("failed to write {}", self.path.display());
        let file = self
            .inner
            .into_inner()
            .map_err(|e| anyhow::Error::new(e.into_error()))
            .with_context(failed)?;
        file.finish().with_context(failed)
    }
}

/// The `input` column of a denied call, `name:line`, appended to `out`.
fn input_into(inputs: &Names, file: u32, line: u64, out: &mut String) {
    use std::fmt::Write as _;
    let name = inputs.get(file as usize).unwrap_or("?");
    out.push_str(name);
    // Writing into a String cannot fail.
    let _ = write!(out, ":{line}");
}

/// Writes every report into `out` (created if missing). `inputs` names input files by index;
/// `raw` turns off the spreadsheet neutralisation of CSV fields; `progress` says how to show
/// the denied-call rows written so far. The denied-call rows are moved out of
/// `tally` and merged with those spilled to `runs` (they can be millions; the rest of the
/// tally is left as it was).
pub fn write_reports(
    out: &Path,
    tally: &mut Tally,
    runs: &Runs,
    catalog: &Catalog,
    inputs: &Names,
    raw: bool,
    progress: crate::progress::Mode,
) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("failed to create {}", out.display()))?;
    let staging = Staging(out.join(format!(".permtrail-tmp-{}", std::process::id())));
    let staging = &staging.0;
    fs::create_dir_all(staging)
        .with_context(|| format!("failed to create {}", staging.display()))?;
    let memory = std::mem::take(&mut tally.denied_calls);
    let job = ReportJob {
        dir: staging,
        tally,
        catalog,
        inputs,
        raw,
    };
    write_all(&job, memory, runs, progress)?;
    for name in REPORTS {
        let (from, to): (PathBuf, PathBuf) = (staging.join(name), out.join(name));
        fs::rename(&from, &to)
            .with_context(|| format!("failed to move {} into place", to.display()))?;
    }
    Ok(())
}

/// The folder reports are written into before they are moved into place; removed when
/// dropped, whether the writing succeeded, failed or panicked.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One custom policy per project granting the distinct `actions`, sorted.
fn write_policies(path: &Path, policies: BTreeMap<&str, Vec<&str>>) -> Result<()> {
    let mut doc = serde_json::Map::new();
    for (project, mut actions) in policies {
        actions.sort_unstable();
        actions.dedup();
        doc.insert(
            project.to_string(),
            serde_json::json!({
                "Version": "1.1",
                "Statement": [{"Effect": "Allow", "Action": actions}],
            }),
        );
    }
    let file =
        fs::File::create(path).with_context(|| format!("failed to create {}", path.display()))?;
    // serde_json writes token by token: unbuffered, that is a system call per token.
    let mut file = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut file, &serde_json::Value::Object(doc))?;
    file.write_all(b"\n")?;
    file.flush()?;
    Ok(())
}

/// What every report is written from, and where to.
struct ReportJob<'a> {
    dir: &'a Path,
    tally: &'a Tally,
    catalog: &'a Catalog,
    inputs: &'a Names,
    raw: bool,
}

/// Writes every report. denied_calls.csv, the one that can have millions of rows, is
/// written on a thread of its own while `write_aggregates` writes the others (each on a
/// thread too); as `progress` says, one more thread shows how many of its rows are written.
fn write_all(
    job: &ReportJob,
    memory: Vec<DeniedCall>,
    runs: &Runs,
    progress: crate::progress::Mode,
) -> Result<()> {
    let written = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let _done = crate::progress::during(scope, progress, &done, || {
            let rows = written.load(Ordering::Relaxed);
            format!("writing reports: {rows} denied-call rows")
        });
        let calls = scope.spawn(|| write_denied_calls(job, memory, runs, &written));
        let others = write_aggregates(job);
        let calls = calls
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        others.and(calls)
    })
}

/// denied_calls.csv: every denied call in report order, inference applied. `written`
/// counts the rows as they go out.
fn write_denied_calls(
    job: &ReportJob,
    memory: Vec<DeniedCall>,
    runs: &Runs,
    written: &AtomicU64,
) -> Result<()> {
    let (tally, catalog, inputs) = (job.tally, job.catalog, job.inputs);
    let mut w = Report::create(&job.dir.join("denied_calls.csv"), job.raw)?;
    // Fault injection for the tests (debug builds only): a panic while writing.
    #[cfg(debug_assertions)]
    if std::env::var_os("PERMTRAIL_INJECT_WRITE_PANIC").is_some() {
        panic!("injected fault (PERMTRAIL_INJECT_WRITE_PANIC)");
    }
    w.write_record([
        "time",
        "project_id",
        "user",
        "source_ip",
        "method",
        "path",
        "trace_name",
        "action",
        "cause",
        "missing_permission",
        "request_id",
        "input",
        "enterprise_project",
    ])?;
    // Built fields are written into buffers kept across rows: a bad day has millions.
    let (mut when, mut actions, mut input) = (String::new(), String::new(), String::new());
    let mut rows = 0u64;
    runs.merge(memory, &mut |mut row| {
        tally.resolve(catalog, &mut row);
        when.clear();
        if let Some(t) = row.time {
            time::format_into(t, &mut when);
        }
        actions.clear();
        names_into(catalog, &row.actions, &mut actions);
        input.clear();
        input_into(inputs, row.loc.file, row.loc.line, &mut input);
        w.write_record([
            &when,
            row.get(Text::Project),
            row.get(Text::User),
            row.get(Text::SourceIp),
            row.get(Text::Method),
            row.get(Text::Path),
            row.get(Text::TraceName),
            &actions,
            row.cause.as_str(),
            row.get(Text::Missing),
            row.get(Text::RequestId),
            &input,
            enterprise_scope(catalog, &row.actions),
        ])?;
        // This thread is the only writer: a plain store, not a locked add per row.
        rows += 1;
        written.store(rows, Ordering::Relaxed);
        Ok(())
    })?;
    w.finish()?;
    Ok(())
}

/// The path template of unclassified.csv's last row when a run had more distinct
/// unclassified calls than `--max-unclassified-rows`: their calls in one row.
const BEYOND_UNCLASSIFIED_ROWS: &str = "(calls of rows beyond --max-unclassified-rows)";

/// The project_id of the last row of projects.csv, actions.csv and denials.csv when a run
/// has more projects than `--max-projects`: the pooled counts of the projects not kept.
const BEYOND_PROJECTS: &str = "(projects beyond --max-projects)";

/// The rows of projects.csv, actions.csv and denials.csv, by project: the kept projects by
/// name, then the pooled ones as one more project (which `policies` leaves out).
type ProjectRows<'a> = Vec<(&'a str, &'a ProjectTally)>;

/// What the aggregate reports share: the projects in report order, and each action list's
/// names as its number in `Tally::lists` reads (joined once, not once per row).
struct Aggregates<'a> {
    projects: ProjectRows<'a>,
    list_names: Vec<String>,
}

impl<'a> Aggregates<'a> {
    fn new(tally: &'a Tally, catalog: &Catalog) -> Aggregates<'a> {
        let mut projects: ProjectRows = tally.projects.rows().collect();
        projects.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let beyond = &tally.projects.beyond;
        if beyond.stats.records > 0 {
            projects.push((BEYOND_PROJECTS, beyond));
        }
        let list_names = tally
            .lists
            .values()
            .iter()
            .map(|ids| names(catalog, ids))
            .collect();
        Aggregates {
            projects,
            list_names,
        }
    }

    fn list(&self, number: u32) -> &str {
        &self.list_names[number as usize]
    }
}

/// Every report but denied_calls.csv, built from the aggregates, each file on a thread of
/// its own: with a hundred thousand projects, projects.csv and actions.csv have hundreds
/// of thousands of rows, and one after the other they held the run's end on one core.
fn write_aggregates(job: &ReportJob) -> Result<()> {
    let shared = Aggregates::new(job.tally, job.catalog);
    let shared = &shared;
    std::thread::scope(|scope| {
        let writers = [
            scope.spawn(|| write_denials(job, shared)),
            scope.spawn(|| write_actions(job, shared)),
            scope.spawn(|| write_unclassified(job).and_then(|()| write_errors(job))),
        ];
        let projects = write_projects(job, shared);
        writers
            .into_iter()
            .map(|writer| {
                writer
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .fold(projects, Result::and)
    })
}

/// The `first_seen` and `last_seen` columns of `range` into `out`, both empty when the
/// row has no record time.
fn seen_into(range: Span, out: &mut [String; 2]) {
    out[0].clear();
    out[1].clear();
    if let Some((first, last)) = range.get() {
        time::format_into(first, &mut out[0]);
        time::format_into(last, &mut out[1]);
    }
}

/// denials.csv, and both policy files, which are made from its rows.
fn write_denials(job: &ReportJob, shared: &Aggregates) -> Result<()> {
    let tally = job.tally;
    let beyond = &tally.projects.beyond;
    let mut w = Report::create(&job.dir.join("denials.csv"), job.raw)?;
    w.write_record([
        "project_id",
        "action",
        "cause",
        "missing_permission",
        "calls",
        "users",
        "first_seen",
        "last_seen",
    ])?;
    let mut policies: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut inferred: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let (mut numbers, mut when) = ([itoa::Buffer::new(); 2], <[String; 2]>::default());
    let mut rows = Vec::new();
    for &(project, t) in &shared.projects {
        rows.clear();
        rows.extend(t.denials.iter().map(|(key, stats)| {
            (
                shared.list(key.list),
                key.cause.as_str(),
                tally.missing_texts.get(key.missing).as_str(),
                stats,
            )
        }));
        rows.sort_unstable_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        for &(action, cause, missing, stats) in &rows {
            seen_into(stats.seen, &mut when);
            let [calls, users] = &mut numbers;
            w.write_record([
                project,
                action,
                cause,
                missing,
                calls.format(stats.calls),
                users.format(stats.users.len()),
                &when[0],
                &when[1],
            ])?;
            if std::ptr::eq(t, beyond) {
                continue;
            }
            if cause == "missing_dependency" && !missing.is_empty() {
                policies.entry(project).or_default().push(missing);
            }
            if cause == "inferred_missing_dependency" {
                let list = inferred.entry(project).or_default();
                list.extend(missing.split('|').filter(|m| !m.is_empty()));
            }
        }
    }
    w.finish()?;
    write_policies(&job.dir.join("policies.json"), policies)?;
    write_policies(&job.dir.join("policies_inferred.json"), inferred)
}

/// projects.csv: one row a project.
fn write_projects(job: &ReportJob, shared: &Aggregates) -> Result<()> {
    let mut w = Report::create(&job.dir.join("projects.csv"), job.raw)?;
    w.write_record([
        "project_id",
        "records",
        "classified",
        "allowed",
        "denied",
        "failed",
        "dependency_denials",
        "unclassified",
        "first_seen",
        "last_seen",
        "inferred_dependency_denials",
    ])?;
    let (mut numbers, mut when) = ([itoa::Buffer::new(); 8], <[String; 2]>::default());
    for &(project, t) in &shared.projects {
        let s = &t.stats;
        seen_into(s.seen, &mut when);
        let [
            records,
            classified,
            allowed,
            denied,
            failed,
            dependency,
            unclassified,
            inferred,
        ] = &mut numbers;
        w.write_record([
            project,
            records.format(s.records),
            classified.format(s.classified),
            allowed.format(s.allowed),
            denied.format(s.denied),
            failed.format(s.failed),
            dependency.format(s.dependency_denials),
            unclassified.format(s.records - s.classified),
            &when[0],
            &when[1],
            inferred.format(s.inferred_dependency_denials),
        ])?;
    }
    w.finish()
}

/// actions.csv: one row a project and action list.
fn write_actions(job: &ReportJob, shared: &Aggregates) -> Result<()> {
    let mut w = Report::create(&job.dir.join("actions.csv"), job.raw)?;
    w.write_record([
        "project_id",
        "action",
        "calls",
        "allowed",
        "denied",
        "failed",
    ])?;
    let mut numbers = [itoa::Buffer::new(); 4];
    let mut rows = Vec::new();
    for &(project, t) in &shared.projects {
        rows.clear();
        rows.extend(t.actions.iter().map(|(list, s)| (shared.list(*list), s)));
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for &(action, s) in &rows {
            let [calls, allowed, denied, failed] = &mut numbers;
            w.write_record([
                project,
                action,
                calls.format(s.calls),
                allowed.format(s.allowed),
                denied.format(s.denied),
                failed.format(s.failed),
            ])?;
        }
    }
    w.finish()
}

/// unclassified.csv: the most called first, and the pooled row last.
fn write_unclassified(job: &ReportJob) -> Result<()> {
    let tally = job.tally;
    let mut w = Report::create(&job.dir.join("unclassified.csv"), job.raw)?;
    w.write_record([
        "method",
        "path_template",
        "trace_name",
        "calls",
        "denied",
        "example",
    ])?;
    let mut rows: Vec<_> = tally.unclassified.rows().collect();
    rows.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then_with(|| a.0.cmp(b.0)));
    for (key, s) in rows {
        w.write_record([
            key.method(),
            key.template(),
            key.trace(),
            &s.calls.to_string(),
            &s.denied.to_string(),
            &s.example,
        ])?;
    }
    let beyond = &tally.unclassified.beyond;
    if beyond.calls > 0 {
        // No path template starts with anything but `/`: this row cannot be taken for one.
        w.write_record([
            "",
            BEYOND_UNCLASSIFIED_ROWS,
            "",
            &beyond.calls.to_string(),
            &beyond.denied.to_string(),
            "",
        ])?;
    }
    w.finish()
}

/// errors.csv: the unreadable records kept, by location.
fn write_errors(job: &ReportJob) -> Result<()> {
    let mut w = Report::create(&job.dir.join("errors.csv"), job.raw)?;
    w.write_record(["input", "line", "reason"])?;
    for e in &job.tally.errors {
        let name = job.inputs.get(e.loc.file as usize).unwrap_or("?");
        w.write_record([name, &e.loc.line.to_string(), &e.reason])?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_files_get_every_byte_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("out");
        let mut w = Background::new(fs::File::create(&path).expect("create"));
        let mut want = Vec::new();
        // Pieces of every size around the block size, several blocks in all.
        for k in 0..400usize {
            let len = (k * 7919) % (BLOCK / 40) + usize::from(k % 50 == 0) * BLOCK;
            let piece: Vec<u8> = (0..len).map(|i| (i + k) as u8).collect();
            w.write_all(&piece).expect("buffered");
            if k % 97 == 0 {
                w.flush().expect("handed over");
            }
            want.extend_from_slice(&piece);
        }
        assert!(want.len() > 4 * BLOCK);
        w.finish().expect("written");
        assert!(fs::read(&path).expect("read") == want);
    }

    #[test]
    fn background_write_errors_reach_the_caller() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("read-only");
        fs::write(&path, b"").expect("create");
        // A file opened for reading only: every write fails.
        let mut small = Background::new(fs::File::open(&path).expect("open"));
        small.write_all(b"a row\n").expect("only buffered");
        assert!(small.finish().is_err());
        // Several blocks: the error comes back from a later write once the thread has
        // stopped, or else from `finish`.
        let mut big = Background::new(fs::File::open(&path).expect("open"));
        let block = vec![b'x'; BLOCK];
        let failed_early = (0..8).any(|_| big.write_all(&block).is_err());
        assert!(failed_early || big.finish().is_err());
    }

    #[test]
    fn fields_are_neutralised() {
        let cases = [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\\rx"),
            ("a\nb", "a\\nb"),
            ("esc\u{1b}[31m", "esc\\u{1b}[31m"),
            ("ecs:servers:list", "ecs:servers:list"),
            ("a-b=c", "a-b=c"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(neutralise(input), want, "{input:?}");
        }
    }
}
