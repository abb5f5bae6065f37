//! Denied-call rows on disk: while scanning, a worker whose rows pass a limit sorts them and
//! writes them out as a run (a binary file in a temporary folder inside `--out`); when writing
//! the reports, all runs and the rows still in memory are merged in report order. So
//! `denied_calls.csv` can have millions of rows without holding them in memory. Nothing
//! here decides what a row says; that is `count`'s job.

use crate::classify::Cause;
use crate::count::{DeniedCall, Loc, TEXTS, Text};
use crate::read::Names;
use anyhow::{Context, Result};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Position of each input in name order, so rows compare by (time, input name, line) with
/// integers only. Invariant: `rank.len()` is the number of inputs.
#[derive(Debug, Clone)]
pub struct Order {
    rank: Vec<u32>,
}

impl Order {
    /// The order of `inputs` (names by input index).
    pub fn new(inputs: &Names) -> Order {
        let mut by_name: Vec<usize> = (0..inputs.len()).collect();
        by_name.sort_by(|a, b| inputs.get(*a).cmp(&inputs.get(*b)).then(a.cmp(b)));
        let mut rank = vec![0; inputs.len()];
        for (position, index) in by_name.into_iter().enumerate() {
            rank[index] = position as u32;
        }
        Order { rank }
    }

    /// The report order of a row: time (none first), then input name, then line.
    pub fn key(&self, row: &DeniedCall) -> Key {
        let rank = self
            .rank
            .get(row.loc.file as usize)
            .copied()
            .unwrap_or(u32::MAX);
        (row.time, rank, row.loc.line)
    }

    /// The report order of two rows: `key`, then their contents. Records of a one-line JSON
    /// array share time, input and line; without the contents their order would depend on
    /// which worker and run held them. Rows equal in both are equal in the report too.
    pub fn cmp(&self, a: &DeniedCall, b: &DeniedCall) -> std::cmp::Ordering {
        place(self.key(a), a, self.key(b), b)
    }
}

/// The report order of two rows with their `Order::key`s: the keys, then everything else
/// they say. The contents are gathered only on a tie: gathering them for every comparison
/// of a sort or merge was a tenth of a run where every record is a denial.
fn place(key_a: Key, a: &DeniedCall, key_b: Key, b: &DeniedCall) -> std::cmp::Ordering {
    key_a
        .cmp(&key_b)
        .then_with(|| contents(a).cmp(&contents(b)))
}

/// See `Order::key`.
type Key = (Option<i64>, u32, u64);

/// Everything a row says besides its place, as one comparable tuple.
type Contents<'r> = (
    [&'r str; 6],
    &'r [crate::catalog::ActionId],
    Cause,
    &'r str,
    &'r str,
    Option<u64>,
    bool,
);

/// See `Contents`.
fn contents(row: &DeniedCall) -> Contents<'_> {
    (
        row.texts(),
        &row.actions,
        row.cause,
        row.get(Text::Missing),
        row.get(Text::RequestId),
        row.dedupe,
        row.inferable,
    )
}

/// A source's next row in the merge heap, ordered as `Order::cmp` orders rows (the key is
/// computed once, on entry), then by source. The row is boxed so the heap moves a few
/// words rather than a whole row, and each source reuses its box for its next row.
struct Head {
    key: Key,
    row: Box<DeniedCall>,
    source: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Head) -> std::cmp::Ordering {
        place(self.key, &self.row, other.key, &other.row).then(self.source.cmp(&other.source))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Head {}

/// The runs written so far, each sorted by `order`, which the final merge uses too.
/// Dropping it removes their folder, whatever happened.
#[derive(Debug)]
pub struct Runs {
    dir: PathBuf,
    order: Order,
    paths: Mutex<Vec<PathBuf>>,
    /// Runs merged at once (`fan_in`).
    fan_in: usize,
}

impl Runs {
    /// Runs will live in a temporary folder inside `out`, created at the first spill, and
    /// hold rows in `order`.
    pub fn new(out: &Path, order: Order) -> Runs {
        Runs {
            dir: out.join(format!(".permtrail-runs-{}", std::process::id())),
            order,
            paths: Mutex::new(Vec::new()),
            fan_in: fan_in(),
        }
    }

    /// Sorts `rows` in report order and writes them as one run. Empties `rows` (also on
    /// an error) and keeps its capacity, for the caller to fill again without growing it.
    pub fn spill(&self, rows: &mut Vec<DeniedCall>) -> Result<()> {
        let result = self.write_run(rows);
        rows.clear();
        result
    }

    /// Sorts `rows` and writes them to the next run file.
    fn write_run(&self, rows: &mut [DeniedCall]) -> Result<()> {
        let order = &self.order;
        // The order is total (rows it calls equal are equal), so an unstable sort gives the
        // same runs without a stable sort's buffer of half the rows.
        rows.sort_unstable_by(|a, b| order.cmp(a, b));
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("failed to create {}", self.dir.display()))?;
        let mut paths = self.paths.lock().expect("no panics while holding the lock");
        let path = self.dir.join(format!("run-{:06}", paths.len()));
        let mut w = create(&path)?;
        for row in rows.iter() {
            write_row(&mut w, row)?;
        }
        w.flush()
            .with_context(|| format!("failed to write {}", path.display()))?;
        paths.push(path);
        Ok(())
    }

    /// How many runs were written.
    pub fn count(&self) -> usize {
        self.paths
            .lock()
            .expect("no panics while holding the lock")
            .len()
    }

    /// Merges every run with `memory` (any order) and passes the rows to `emit` in report
    /// order, keeping one row per de-duplication key: copies of one trace share its time,
    /// so the first copy in order (the smallest input and line) is kept. At most `fan_in()`
    /// runs are open at once: beyond that, the oldest are first merged into bigger runs,
    /// no more of them than it takes (`first_pass`).
    pub fn merge(
        &self,
        mut memory: Vec<DeniedCall>,
        emit: &mut dyn FnMut(DeniedCall) -> Result<()>,
    ) -> Result<()> {
        let order = &self.order;
        let mut paths = self
            .paths
            .lock()
            .expect("no panics while holding the lock")
            .clone();
        let mut passes = 0;
        while let Some(n) = first_pass(paths.len(), self.fan_in) {
            let batch: Vec<PathBuf> = paths.drain(..n).collect();
            let path = self.dir.join(format!("merged-{passes:06}"));
            passes += 1;
            let mut w = create(&path)?;
            let sources = batch.iter().map(|p| open(p)).collect::<Result<_>>()?;
            merge_sources(sources, order, false, &mut |row| {
                Ok(write_row(&mut w, &row)?)
            })?;
            w.flush()
                .with_context(|| format!("failed to write {}", path.display()))?;
            for done in batch {
                let _ = std::fs::remove_file(done);
            }
            paths.push(path);
        }
        memory.sort_unstable_by(|a, b| order.cmp(a, b));
        let mut sources: Vec<Source> = vec![Box::new(memory.into_iter().map(Ok))];
        for path in &paths {
            sources.push(open(path)?);
        }
        merge_sources(sources, order, true, emit)
    }
}

/// The most runs merged at once. Runs hold 10,000 rows per worker, so up to 2.5 million
/// rows merge straight into the report; each pass before that writes and reads its rows
/// once more (at 64, a fifth of a 2 GiB every-denial scan went to such passes).
const MAX_FAN_IN: usize = 256;

/// Read buffer per open run: the final merge holds up to `MAX_FAN_IN` of them at once.
const READ_BUFFER: usize = 16 << 10;

/// Runs merged at once: `MAX_FAN_IN`, or a quarter of the process's limit on open files
/// when that is lower (16 at least), so inputs, reports and the runs all fit under it;
/// 64 where the limit cannot be read (outside Linux).
fn fan_in() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").ok();
    fan_in_under(limits.as_deref().map(open_files_limit))
}

/// `fan_in` for a soft limit on open files (`Some(None)`: unlimited), or none known.
fn fan_in_under(limit: Option<Option<u64>>) -> usize {
    match limit {
        Some(Some(n)) => usize::try_from(n / 4)
            .unwrap_or(usize::MAX)
            .clamp(16, MAX_FAN_IN),
        Some(None) => MAX_FAN_IN,
        None => 64,
    }
}

/// The soft limit on open files in the text of `/proc/self/limits`: `None` for unlimited
/// or a line that cannot be read.
fn open_files_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// How many of `runs` runs to merge into one before the final merge, `None` when they
/// all fit in it: at most `fan_in`, and only as many as bring the count down to `fan_in`,
/// since every row in a pass is written and read once more.
fn first_pass(runs: usize, fan_in: usize) -> Option<usize> {
    (runs > fan_in).then(|| (runs - fan_in + 1).min(fan_in))
}

/// Rows in report order, from memory or from a run.
type Source = Box<dyn Iterator<Item = Result<DeniedCall>>>;

fn create(path: &Path) -> Result<BufWriter<File>> {
    let file =
        File::create(path).with_context(|| format!("failed to create {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 16, file))
}

fn open(path: &Path) -> Result<Source> {
    let file = File::open(path).with_context(|| format!("failed to read {}", path.display()))?;
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);
    let name = path.display().to_string();
    Ok(Box::new(std::iter::from_fn(move || {
        read_row(&mut reader)
            .with_context(|| format!("{name}: damaged run"))
            .transpose()
    })))
}

/// K-way merge of sorted `sources`; with `reduce`, one row per de-duplication key and time.
fn merge_sources(
    mut sources: Vec<Source>,
    order: &Order,
    reduce: bool,
    emit: &mut dyn FnMut(DeniedCall) -> Result<()>,
) -> Result<()> {
    let mut heap = BinaryHeap::new();
    for (source, rows) in sources.iter_mut().enumerate() {
        if let Some(row) = rows.next().transpose()? {
            heap.push(Reverse(Head {
                key: order.key(&row),
                row: Box::new(row),
                source,
            }));
        }
    }
    let mut group_time = None;
    let mut group_keys: HashSet<u64> = HashSet::new();
    while let Some(Reverse(Head {
        row: mut boxed,
        source,
        ..
    })) = heap.pop()
    {
        let row = match sources[source].next().transpose()? {
            Some(next) => {
                let row = std::mem::replace(&mut *boxed, next);
                heap.push(Reverse(Head {
                    key: order.key(&boxed),
                    row: boxed,
                    source,
                }));
                row
            }
            None => *boxed,
        };
        if reduce {
            if group_time != Some(row.time) {
                group_time = Some(row.time);
                group_keys.clear();
            }
            if row.dedupe.is_some_and(|k| !group_keys.insert(k)) {
                continue;
            }
        }
        emit(row)?;
    }
    Ok(())
}

impl Drop for Runs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// A run is a sequence of rows, each: time, location, the text fields in `Text` order,
// actions, cause, de-duplication key, inferable flag. Integers are little-endian, an absent
// one as a 0 byte and a present one as a 1 byte before it, strings as a u32 length and
// their bytes, actions as a u16 count and u16 ids, the cause by its name. Runs live only
// while one scan writes its reports, so the format needs no version. Binary rather than
// CSV: a bad day's millions of denials go through here twice, and CSV's quoting, parsing
// and UTF-8 checks on numbers were a tenth of such a run.

/// Appends `row` to a run.
fn write_row(w: &mut impl Write, row: &DeniedCall) -> std::io::Result<()> {
    fn text(w: &mut impl Write, s: &str) -> std::io::Result<()> {
        let len = u32::try_from(s.len()).map_err(std::io::Error::other)?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(s.as_bytes())
    }
    match row.time {
        Some(t) => {
            w.write_all(&[1])?;
            w.write_all(&t.to_le_bytes())?;
        }
        None => w.write_all(&[0])?,
    }
    w.write_all(&row.loc.file.to_le_bytes())?;
    w.write_all(&row.loc.line.to_le_bytes())?;
    for s in row.all_texts() {
        text(w, s)?;
    }
    let count = u16::try_from(row.actions.len()).map_err(std::io::Error::other)?;
    w.write_all(&count.to_le_bytes())?;
    for id in &row.actions {
        w.write_all(&id.to_le_bytes())?;
    }
    text(w, row.cause.as_str())?;
    match row.dedupe {
        Some(d) => {
            w.write_all(&[1])?;
            w.write_all(&d.to_le_bytes())?;
        }
        None => w.write_all(&[0])?,
    }
    w.write_all(&[u8::from(row.inferable)])
}

/// The next row of a run; `None` at its end. An error for a run cut short or damaged.
fn read_row(r: &mut impl BufRead) -> Result<Option<DeniedCall>> {
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    fn bytes<const N: usize>(r: &mut impl Read) -> Result<[u8; N]> {
        let mut b = [0; N];
        r.read_exact(&mut b)?;
        Ok(b)
    }
    /// Appends one text field to `into` (checked as UTF-8 by the caller).
    fn text_into(r: &mut impl Read, into: &mut Vec<u8>) -> Result<()> {
        let len = u32::from_le_bytes(bytes(r)?) as usize;
        // Read in pieces of at most 64 KiB, so a length that a damaged run has wrong
        // allocates no more than the bytes that are there. (`read_to_end` took a fifth
        // of the final merge, probing for the end of fields of a few bytes.)
        let mut left = len;
        while left > 0 {
            let start = into.len();
            let piece = left.min(1 << 16);
            into.resize(start + piece, 0);
            r.read_exact(&mut into[start..])
                .map_err(|_| anyhow::anyhow!("a text field is cut short"))?;
            left -= piece;
        }
        Ok(())
    }
    fn flag(r: &mut impl Read) -> Result<bool> {
        match bytes::<1>(r)? {
            [0] => Ok(false),
            [1] => Ok(true),
            [other] => anyhow::bail!("{other} is no flag"),
        }
    }
    let time = flag(r)?
        .then(|| bytes(r).map(i64::from_le_bytes))
        .transpose()?;
    let loc = Loc {
        file: u32::from_le_bytes(bytes(r)?),
        line: u64::from_le_bytes(bytes(r)?),
    };
    // Room for a typical row's fields at once, rather than growing field by field.
    let mut joined = Vec::with_capacity(256);
    let mut ends = [0; TEXTS];
    for end in &mut ends {
        text_into(r, &mut joined)?;
        *end = joined.len();
    }
    let count = u16::from_le_bytes(bytes(r)?);
    let actions = (0..count)
        .map(|_| bytes(r).map(u16::from_le_bytes))
        .collect::<Result<_>>()?;
    // The cause's name is read onto the end of the text fields and cut off again, so a row
    // needs no buffer of its own for it.
    text_into(r, &mut joined)?;
    let cause = std::str::from_utf8(&joined[ends[TEXTS - 1]..])?;
    let cause = Cause::parse(cause).context("unknown cause")?;
    joined.truncate(ends[TEXTS - 1]);
    let dedupe = flag(r)?
        .then(|| bytes(r).map(u64::from_le_bytes))
        .transpose()?;
    let inferable = flag(r)?;
    let joined = String::from_utf8(joined)?;
    let row = DeniedCall::from_joined(time, loc, (joined, ends), actions, cause, dedupe, inferable);
    Ok(Some(row.context("text fields out of order")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(time: Option<i64>, file: u32, line: u64, dedupe: Option<u64>) -> DeniedCall {
        with_texts(
            time,
            file,
            line,
            dedupe,
            ["p,\"q\"\nr", "", "", "", "", "", "", ""],
        )
    }

    fn with_texts(
        time: Option<i64>,
        file: u32,
        line: u64,
        dedupe: Option<u64>,
        texts: [&str; TEXTS],
    ) -> DeniedCall {
        DeniedCall::new(
            time,
            Loc { file, line },
            texts,
            vec![3, 7],
            Cause::Unknown,
            dedupe,
            true,
        )
    }

    fn merged(runs: &Runs, memory: Vec<DeniedCall>) -> Vec<(Option<i64>, u32, u64)> {
        let mut out = Vec::new();
        runs.merge(memory, &mut |r| {
            out.push((r.time, r.loc.file, r.loc.line));
            Ok(())
        })
        .expect("merges");
        out
    }

    #[test]
    fn rows_survive_a_round_trip() {
        let texts = [
            "with \"quotes\", commas\nand a newline, é",
            "user",
            "",
            "POST",
            "/v2.1/p/servers/s/action",
            "startServer",
            "req-1",
            "ecs:servers:list|ecs:servers:get",
        ];
        let mut rows = vec![
            row(Some(-5), 2, 9, Some(u64::MAX)),
            with_texts(None, 0, 1, None, texts),
        ];
        rows[1].actions = vec![3, 1, 65535];
        rows[1].inferable = false;
        let mut bytes = Vec::new();
        for r in &rows {
            write_row(&mut bytes, r).expect("writes");
        }
        let mut reader = &bytes[..];
        let mut back = Vec::new();
        while let Some(r) = read_row(&mut reader).expect("reads") {
            back.push(r);
        }
        assert_eq!(back, rows);
        // Cut anywhere inside a row, a run is damaged, not shorter.
        let first = {
            let mut one = Vec::new();
            write_row(&mut one, &rows[0]).expect("writes");
            one.len()
        };
        for cut in 1..first {
            assert!(read_row(&mut &bytes[..cut]).is_err(), "cut at {cut}");
        }
        // A damaged length claiming 4 GiB of text: an error, after reading what is there.
        let mut claim = vec![0u8; 1 + 4 + 8];
        claim.extend_from_slice(&u32::MAX.to_le_bytes());
        claim.extend_from_slice(b"abc");
        assert!(read_row(&mut &claim[..]).is_err());
    }

    #[test]
    fn runs_and_memory_merge_in_report_order_with_one_copy_per_trace() {
        let dir = tempfile::tempdir().expect("tmp");
        let inputs: Names = ["b.json", "a.json"].into_iter().collect();
        let runs = Runs::new(dir.path(), Order::new(&inputs));
        let mut rows = vec![row(Some(5), 0, 9, Some(7)), row(None, 0, 1, None)];
        let capacity = rows.capacity();
        runs.spill(&mut rows).expect("spills");
        // Emptied for the next rows, its memory kept.
        assert!(rows.is_empty() && rows.capacity() == capacity);
        runs.spill(&mut vec![
            row(Some(5), 1, 10, None),
            row(Some(1), 0, 2, Some(8)),
        ])
        .expect("spills");
        let memory = vec![row(Some(5), 1, 3, Some(7)), row(Some(5), 1, 9, None)];
        // Trace 7 keeps its copy in a.json (name order), line 9 comes before line 10.
        assert_eq!(
            merged(&runs, memory),
            [
                (None, 0, 1),
                (Some(1), 0, 2),
                (Some(5), 1, 3),
                (Some(5), 1, 9),
                (Some(5), 1, 10)
            ]
        );
        assert_eq!(runs.count(), 2);
        let folder = runs.dir.clone();
        assert!(folder.exists());
        drop(runs);
        assert!(!folder.exists(), "runs are removed");
    }

    #[test]
    fn rows_on_one_line_merge_in_one_order_however_they_are_split() {
        // The records of a one-line JSON array share time, input and line: only their
        // contents can order them, whichever runs and memory hold them.
        let inputs: Names = ["a.json"].into_iter().collect();
        let order = Order::new(&inputs);
        let rows: Vec<DeniedCall> = (0..12)
            .map(|i| {
                let user = format!("user-{}", (i * 7) % 12);
                let request = format!("req-{i}");
                let texts = ["p", &user, "", "", "", "", &request, ""];
                with_texts(Some(5), 0, 1, Some(100 + i), texts)
            })
            .collect();
        let users = |split: usize, reversed: bool| {
            let dir = tempfile::tempdir().expect("tmp");
            let runs = Runs::new(dir.path(), order.clone());
            let mut rows = rows.clone();
            if reversed {
                rows.reverse();
            }
            let memory = rows.split_off(split);
            for pair in rows.chunks(2) {
                runs.spill(&mut pair.to_vec()).expect("spills");
            }
            let mut out = Vec::new();
            runs.merge(memory, &mut |r| {
                out.push(r.get(Text::User).to_string());
                Ok(())
            })
            .expect("merges");
            out
        };
        let want = users(0, false);
        let mut sorted = want.clone();
        sorted.sort();
        assert_eq!(want, sorted, "ties are broken by the rows' contents");
        for split in [0, 3, 8, 12] {
            for reversed in [false, true] {
                assert_eq!(users(split, reversed), want, "split {split} {reversed}");
            }
        }
    }

    #[test]
    fn passes_merge_only_as_many_runs_as_the_final_merge_cannot_take() {
        const FAN_IN: usize = MAX_FAN_IN;
        assert_eq!(first_pass(0, FAN_IN), None);
        assert_eq!(first_pass(FAN_IN, FAN_IN), None);
        assert_eq!(first_pass(FAN_IN + 1, FAN_IN), Some(2));
        assert_eq!(first_pass(FAN_IN + 40, FAN_IN), Some(41));
        assert_eq!(first_pass(2 * FAN_IN - 1, FAN_IN), Some(FAN_IN));
        assert_eq!(first_pass(10 * FAN_IN, FAN_IN), Some(FAN_IN));
        // Passes over n runs, each replacing its batch by one run: how many rows (in
        // runs of one) are rewritten before the final merge.
        let rewritten = |mut n: usize| {
            let mut sizes: std::collections::VecDeque<usize> = (0..n).map(|_| 1).collect();
            let mut rows = 0;
            while let Some(k) = first_pass(n, FAN_IN) {
                let merged: usize = sizes.drain(..k).sum();
                rows += merged;
                sizes.push_back(merged);
                n = sizes.len();
            }
            assert!(n <= FAN_IN);
            rows
        };
        assert_eq!(rewritten(FAN_IN), 0);
        assert_eq!(rewritten(FAN_IN + 3), 4);
        assert_eq!(rewritten(3 * FAN_IN + 5), 2 * FAN_IN + 8);
    }

    #[test]
    fn the_fan_in_stays_well_under_the_open_file_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95442                95442                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(open_files_limit(limits), Some(1024));
        assert_eq!(fan_in_under(Some(open_files_limit(limits))), 256);
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(open_files_limit(unlimited), None);
        assert_eq!(fan_in_under(Some(None)), MAX_FAN_IN);
        // macOS-like and container-like low limits.
        assert_eq!(fan_in_under(Some(Some(256))), 64);
        assert_eq!(fan_in_under(Some(Some(20))), 16);
        assert_eq!(fan_in_under(None), 64);
        assert_eq!(open_files_limit("Max cpu time unlimited"), None);
        // Whatever this machine's limit, the fan-in fits a quarter of it or the floor.
        assert!((16..=MAX_FAN_IN).contains(&fan_in()));
    }

    #[test]
    fn many_runs_merge_in_passes_with_the_same_result() {
        let dir = tempfile::tempdir().expect("tmp");
        let inputs: Names = ["a.json"].into_iter().collect();
        let runs = Runs::new(dir.path(), Order::new(&inputs));
        let n = 3 * runs.fan_in + 5;
        for i in 0..n as u64 {
            // Each trace appears twice, in runs far apart, so passes must not lose the order.
            runs.spill(&mut vec![row(Some((i % 50) as i64), 0, i, Some(i % 97))])
                .expect("spills");
        }
        let got = merged(&runs, Vec::new());
        let mut want: Vec<(Option<i64>, u32, u64)> = (0..n as u64)
            .map(|i| (Some((i % 50) as i64), 0, i))
            .collect();
        want.sort();
        let mut kept = std::collections::HashSet::new();
        want.retain(|(t, _, line)| kept.insert((*t, line % 97)));
        assert_eq!(got, want);
        let left = std::fs::read_dir(&runs.dir).expect("dir").count();
        assert!(left <= runs.fan_in, "{left} runs left after the passes");
    }
}
