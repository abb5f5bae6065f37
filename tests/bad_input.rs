//! Bad-input corpus (issue 6): every case is generated here, in a temp dir, and fed to the
//! real binary. Each test asserts what a user of a nightly job relies on: no panic, no
//! hang (the child is killed after a timeout), the bad part listed in `errors.csv` with its
//! file and line, every good record around it still counted, and the exit code the README
//! documents (`0` all input read, `2` some input unreadable). Where the README leaves the
//! outcome open (is a record with a bad byte counted or skipped?), the tests assert the
//! guarantee that holds either way: each record is counted or listed, never both, never
//! neither.

use flate2::Compression;
use flate2::write::GzEncoder;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a run may take before it counts as a hang.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A denied `startServer` whose message names `ecs:servers:list`: with the built-in
/// catalog one call of `ecs:servers:start`, cause `missing_dependency`, in project `p1`.
fn record(n: u32) -> String {
    format!(
        r#"{{"trace_id":"t{n}","trace_name":"startServer","code":403,"time":1763632800000,"project_id":"p1","user":{{"name":"u"}},"request":{{"os-start":null}},"response":{{"forbidden":{{"message":"Policy doesn't allow ecs:servers:list to be performed."}}}}}}"#
    )
}

/// Records `from..from + n` as JSON lines.
fn lines(from: u32, n: u32) -> String {
    (from..from + n).map(|i| record(i) + "\n").collect()
}

/// Records `from..from + n` as one compact JSON array, one record per line.
fn array(from: u32, n: u32) -> String {
    let items: Vec<String> = (from..from + n).map(record).collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("in memory");
    enc.finish().expect("in memory")
}

/// What one run left behind.
struct Run {
    code: Option<i32>,
    stderr: String,
    out: PathBuf,
}

/// Runs `permtrail scan -q -o out <args>` in `dir`, feeding `stdin` if given, and fails
/// the test on a hang (killed after [`TIMEOUT`]), a signal or a panic message.
fn scan(dir: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> Run {
    scan_with(dir, &["-q"], args, stdin)
}

fn scan_with(dir: &Path, flags: &[&str], args: &[&str], stdin: Option<Vec<u8>>) -> Run {
    let out = dir.join("out");
    let err_path = dir.join("stderr.txt");
    let err_file = fs::File::create(&err_path).expect("stderr file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_permtrail"));
    cmd.current_dir(dir)
        .arg("scan")
        .args(flags)
        .arg("-o")
        .arg(&out)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::from(err_file))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().expect("the binary runs");
    // Feed stdin from a thread so a child that stops reading cannot block the test.
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("piped");
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("permtrail {args:?} still running after {TIMEOUT:?}: killed (hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.signal().is_none(),
        "permtrail {args:?} killed by signal {:?} (stack overflow or abort?)\n{stderr}",
        status.signal()
    );
    assert!(
        !stderr.contains("panicked"),
        "permtrail {args:?} panicked:\n{stderr}"
    );
    assert_ne!(status.code(), Some(101), "panic exit code\n{stderr}");
    Run {
        code: status.code(),
        stderr,
        out,
    }
}

impl Run {
    fn report(&self, name: &str) -> String {
        fs::read_to_string(self.out.join(name)).unwrap_or_else(|e| {
            panic!(
                "{name} not written ({e}); exit {:?}\n{}",
                self.code, self.stderr
            )
        })
    }

    /// `(records, denied)` per project from `projects.csv`.
    fn projects(&self) -> BTreeMap<String, (u64, u64)> {
        self.report("projects.csv")
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let n = |i: usize| f[i].parse::<u64>().expect("a count");
                (f[0].to_string(), (n(1), n(4)))
            })
            .collect()
    }

    /// Records counted in any project.
    fn records(&self) -> u64 {
        self.projects().values().map(|p| p.0).sum()
    }

    /// `(input, line, reason)` rows of `errors.csv`.
    fn errors(&self) -> Vec<(String, u64, String)> {
        let text = self.report("errors.csv");
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        rdr.records()
            .map(|r| {
                let r = r.expect("errors.csv is CSV");
                (
                    r[0].to_string(),
                    r[1].parse().unwrap_or_else(|_| panic!("line of {r:?}")),
                    r[2].to_string(),
                )
            })
            .collect()
    }

    fn errors_of(&self, input: &str) -> Vec<(u64, String)> {
        self.errors()
            .into_iter()
            .filter(|e| e.0 == input)
            .map(|e| (e.1, e.2))
            .collect()
    }

    /// `file:line` of every denied call.
    fn denied_inputs(&self) -> Vec<String> {
        let text = self.report("denied_calls.csv");
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let header = rdr.headers().expect("header").clone();
        let col = header
            .iter()
            .position(|h| h == "input")
            .expect("input column");
        rdr.records()
            .map(|r| r.expect("csv")[col].to_string())
            .collect()
    }

    /// Asserts exactly `n` records, all of them the template's denial, in `p1`.
    fn assert_counted(&self, n: u64) {
        let projects = self.projects();
        assert_eq!(
            projects.get("p1").copied().unwrap_or((0, 0)),
            (n, n),
            "p1 (records, denied); projects: {projects:?}\nerrors: {:?}\n{}",
            self.errors(),
            self.stderr
        );
        let denials = self.report("denials.csv");
        let want = format!("p1,ecs:servers:start,missing_dependency,ecs:servers:list,{n},1,");
        assert!(n == 0 || denials.contains(&want), "want {want}\n{denials}");
    }

    fn assert_code(&self, want: i32) {
        assert_eq!(
            self.code,
            Some(want),
            "exit code; stderr:\n{}\nerrors.csv: {:?}",
            self.stderr,
            self.errors()
        );
    }

    fn assert_code_0_or_2(&self) {
        assert!(
            matches!(self.code, Some(0 | 2)),
            "exit code {:?}, want 0 or 2\n{}",
            self.code,
            self.stderr
        );
    }

    fn assert_no_errors(&self) {
        assert!(
            self.errors().is_empty(),
            "errors.csv: {:?}\n{}",
            self.errors(),
            self.stderr
        );
    }

    /// Asserts `errors.csv` has a row for `input` with one of `reasons`, and returns it.
    fn assert_error(&self, input: &str, reasons: &[&str]) -> (u64, String) {
        let rows = self.errors_of(input);
        rows.iter()
            .find(|(_, r)| reasons.contains(&r.as_str()))
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "no errors.csv row for {input} with a reason in {reasons:?}; rows: {:?}\nstderr:\n{}",
                    self.errors(),
                    self.stderr
                )
            })
    }

    fn assert_stderr_names(&self, what: &str) {
        assert!(
            self.stderr.contains(what),
            "stderr does not name {what}:\n{}",
            self.stderr
        );
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, bytes).expect("written");
}

/// The errors.csv reasons the README documents; each means the record was not counted.
/// Any other reason marks a record counted despite a problem.
const LOST_REASONS: [&str; 8] = [
    "invalid_json",
    "not_an_object",
    "invalid_access_line",
    "format_mismatch",
    "record_too_long",
    "trailing_data",
    "truncated",
    "read_error",
];

/// For records of uncertain fate at `weird` lines of `input` amid `good` template records:
/// every good record is a denied call at its own line; each weird record is either counted
/// or listed as lost, never both, never neither (it may also carry a row saying it was
/// counted despite a problem); those at `must_list` lines have an errors.csv row.
fn assert_each_counted_or_listed(
    run: &Run,
    input: &str,
    good: &[u64],
    weird: &[u64],
    must_list: &[u64],
) {
    let denied = run.denied_inputs();
    for line in good {
        let at = format!("{input}:{line}");
        assert!(
            denied.contains(&at),
            "good record at {at} not counted; denied calls {denied:?}\nerrors {:?}\n{}",
            run.errors(),
            run.stderr
        );
    }
    let rows = run.errors_of(input);
    for (line, reason) in &rows {
        assert!(
            weird.contains(line),
            "errors.csv lists {input}:{line} ({reason}), which is not one of the bad lines {weird:?}"
        );
    }
    for line in must_list {
        assert!(
            rows.iter().any(|r| r.0 == *line),
            "the bad record at {input}:{line} has no errors.csv row; rows {rows:?}"
        );
    }
    let lost = weird
        .iter()
        .filter(|l| {
            rows.iter()
                .any(|r| r.0 == **l && LOST_REASONS.contains(&r.1.as_str()))
        })
        .count() as u64;
    assert_eq!(
        run.records() + lost,
        (good.len() + weird.len()) as u64,
        "records counted ({}) + bad records listed as lost ({lost}) != records in {input}; errors {rows:?}\n{}",
        run.records(),
        run.stderr
    );
}

#[test]
fn truncated_gzip_exits_2_and_counts_the_other_file() {
    let dir = tmp();
    let whole = gzip(lines(1, 200).as_bytes());
    write(dir.path(), "cut.jsonl.gz", &whole[..whole.len() / 2]);
    write(dir.path(), "good.jsonl", lines(1000, 3));
    let run = scan(dir.path(), &["cut.jsonl.gz", "good.jsonl"], None);
    run.assert_code(2);
    run.assert_stderr_names("cut.jsonl.gz");
    let (line, _) = run.assert_error("cut.jsonl.gz", &["read_error"]);
    assert!(line >= 1, "a gzip error names the line it reached: {line}");
    // What was decompressed before the cut is counted, up to the last whole line.
    let records = run.records();
    assert!(
        (3..=3 + 200).contains(&records),
        "records {records}: good.jsonl must be counted"
    );
    let denied = run.denied_inputs();
    for line in 1..=3 {
        assert!(denied.contains(&format!("good.jsonl:{line}")), "{denied:?}");
    }
}

#[test]
fn gzip_with_trailing_garbage_keeps_the_member() {
    let dir = tmp();
    let mut bytes = gzip(lines(1, 4).as_bytes());
    bytes.extend_from_slice(b"\x00\x01garbage after the gzip member\n");
    write(dir.path(), "tail.jsonl.gz", bytes);
    write(dir.path(), "good.jsonl", lines(100, 2));
    let run = scan(dir.path(), &["tail.jsonl.gz", "good.jsonl"], None);
    run.assert_code_0_or_2();
    run.assert_counted(6);
    run.assert_error("tail.jsonl.gz", &["read_error", "trailing_data"]);
}

#[test]
fn multi_member_gzip_is_read_whole() {
    let dir = tmp();
    let mut bytes = gzip(lines(1, 3).as_bytes());
    bytes.extend(gzip(lines(4, 3).as_bytes()));
    write(dir.path(), "two.jsonl.gz", bytes);
    // Members are transport: a member boundary inside a record must not matter.
    let text = lines(10, 3);
    let cut = text.len() / 2;
    let mut split = gzip(&text.as_bytes()[..cut]);
    split.extend(gzip(&text.as_bytes()[cut..]));
    write(dir.path(), "split.jsonl.gz", split);
    // And two arrays, one per member.
    let mut arrays = gzip(array(20, 2).as_bytes());
    arrays.extend(gzip(array(22, 2).as_bytes()));
    write(dir.path(), "arrays.json.gz", arrays);
    let run = scan(
        dir.path(),
        &["two.jsonl.gz", "split.jsonl.gz", "arrays.json.gz"],
        None,
    );
    run.assert_code(0);
    run.assert_no_errors();
    run.assert_counted(6 + 3 + 4);
}

#[test]
fn zero_byte_files_are_empty_input() {
    let dir = tmp();
    write(dir.path(), "empty.json", b"");
    // Gzip is recognised by content, not by name: an empty `.gz` is an empty file.
    write(dir.path(), "empty.json.gz", b"");
    write(dir.path(), "good.jsonl", lines(1, 2));
    let run = scan(
        dir.path(),
        &["empty.json", "empty.json.gz", "good.jsonl"],
        None,
    );
    run.assert_code(0);
    run.assert_no_errors();
    run.assert_counted(2);
}

#[test]
fn gz_name_with_plain_json_is_read_by_content() {
    let dir = tmp();
    write(dir.path(), "plain.json.gz", array(1, 3));
    write(dir.path(), "lines.gz", lines(10, 2));
    let run = scan(dir.path(), &["plain.json.gz", "lines.gz"], None);
    run.assert_code(0);
    run.assert_no_errors();
    run.assert_counted(5);
}

#[test]
fn concatenated_json_arrays_in_one_file() {
    let dir = tmp();
    write(
        dir.path(),
        "two.json",
        format!("{}{}", array(1, 2), array(3, 3)),
    );
    write(
        dir.path(),
        "tight.json",
        format!("[{},{}][{}]", record(10), record(11), record(12)),
    );
    let run = scan(dir.path(), &["two.json", "tight.json"], None);
    run.assert_code(0);
    run.assert_no_errors();
    run.assert_counted(5 + 3);
}

#[test]
fn data_after_an_array_is_one_row_and_a_later_array_still_counts() {
    let dir = tmp();
    write(
        dir.path(),
        "junk.json",
        format!(
            "[{}]\n junk {{ here\n more junk\n[{}, {}]\n",
            record(1),
            record(2),
            record(3)
        ),
    );
    let run = scan(dir.path(), &["junk.json"], None);
    run.assert_code(0);
    assert_eq!(
        run.errors_of("junk.json"),
        [(2, "trailing_data".to_string())]
    );
    run.assert_counted(3);
}

#[test]
fn array_without_closing_bracket_exits_2_and_keeps_whole_records() {
    let dir = tmp();
    // Cut inside the third record, as a writer that died mid-file leaves it.
    let third = record(3);
    write(
        dir.path(),
        "cut.json",
        format!(
            "[\n{},\n{},\n{}",
            record(1),
            record(2),
            &third[..third.len() / 2]
        ),
    );
    // Cut right after a whole record: the array is still unclosed.
    write(
        dir.path(),
        "open.json",
        format!("[\n{},\n{}\n", record(10), record(11)),
    );
    write(dir.path(), "good.jsonl", lines(100, 1));
    let run = scan(dir.path(), &["cut.json", "open.json", "good.jsonl"], None);
    run.assert_code(2);
    run.assert_stderr_names("cut.json");
    run.assert_stderr_names("open.json");
    let (line, _) = run.assert_error("cut.json", &["truncated"]);
    assert!(line >= 1, "line {line}");
    run.assert_error("open.json", &["truncated"]);
    run.assert_counted(2 + 2 + 1);
}

/// A JSON line holding one string of `len` bytes, inside an otherwise valid record.
fn huge_record(len: usize) -> Vec<u8> {
    let head = br#"{"trace_id":"huge","trace_name":"startServer","code":403,"project_id":"p1","message":""#;
    let mut v = Vec::with_capacity(len + head.len() + 8);
    v.extend_from_slice(head);
    v.resize(v.len() + len, b'a');
    v.extend_from_slice(b"\"}");
    v
}

#[test]
fn record_of_100_mb_is_skipped_with_default_limit() {
    let dir = tmp();
    let mut bytes = lines(1, 2).into_bytes();
    bytes.extend(huge_record(100 << 20));
    bytes.push(b'\n');
    bytes.extend(lines(3, 2).into_bytes());
    write(dir.path(), "big.jsonl", bytes);
    let run = scan(dir.path(), &["big.jsonl"], None);
    run.assert_code(0);
    assert_eq!(
        run.errors(),
        vec![("big.jsonl".to_string(), 3, "record_too_long".to_string())]
    );
    run.assert_counted(4);
    assert!(run.denied_inputs().contains(&"big.jsonl:4".to_string()));
}

#[test]
fn max_record_bytes_skips_a_5kb_record_in_lines_and_arrays() {
    let dir = tmp();
    let big = String::from_utf8(huge_record(5000)).expect("ascii");
    write(
        dir.path(),
        "lines.jsonl",
        format!("{}{big}\n{}", lines(1, 1), lines(2, 1)),
    );
    write(
        dir.path(),
        "array.json",
        format!("[\n{},\n{big},\n{}\n]\n", record(10), record(11)),
    );
    let run = scan(
        dir.path(),
        &["--max-record-bytes", "1000", "lines.jsonl", "array.json"],
        None,
    );
    run.assert_code(0);
    // Rows come by input (command-line order) and line.
    assert_eq!(
        run.errors(),
        vec![
            ("lines.jsonl".to_string(), 2, "record_too_long".to_string()),
            ("array.json".to_string(), 3, "record_too_long".to_string()),
        ]
    );
    run.assert_counted(4);
}

#[test]
fn invalid_utf8_inside_a_string_never_drops_the_record_silently() {
    let dir = tmp();
    let mut bytes = lines(1, 1).into_bytes();
    bytes.extend(
        record(2)
            .replace(r#""name":"u""#, "\"name\":\"u\u{1}X\"")
            .into_bytes(),
    );
    // Replace the marker with bytes that are not UTF-8.
    let pos = bytes
        .windows(2)
        .position(|w| w == b"\x01X")
        .expect("marker");
    bytes[pos] = 0xff;
    bytes[pos + 1] = 0xfe;
    bytes.push(b'\n');
    bytes.extend(lines(3, 1).into_bytes());
    write(dir.path(), "utf8.jsonl", bytes);
    let run = scan(dir.path(), &["utf8.jsonl"], None);
    run.assert_code_0_or_2();
    assert_each_counted_or_listed(&run, "utf8.jsonl", &[1, 3], &[2], &[2]);
}

#[test]
fn invalid_utf8_between_records_is_listed() {
    let dir = tmp();
    let mut bytes = lines(1, 1).into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\xc0 not text\n");
    bytes.extend(lines(2, 1).into_bytes());
    write(dir.path(), "between.jsonl", bytes);
    let run = scan(dir.path(), &["between.jsonl"], None);
    run.assert_code_0_or_2();
    run.assert_counted(2);
    // One row, as a lost record: a second row saying it was counted would be false.
    assert_eq!(
        run.errors_of("between.jsonl"),
        vec![(2, "invalid_json".to_string())],
        "the garbage line is one lost record"
    );
}

#[test]
fn utf8_bom_is_ignored() {
    let dir = tmp();
    write(dir.path(), "bom.jsonl", format!("\u{feff}{}", lines(1, 2)));
    write(dir.path(), "bom.json", format!("\u{feff}{}", array(10, 2)));
    write(
        dir.path(),
        "bom.json.gz",
        gzip(format!("\u{feff}{}", array(20, 2)).as_bytes()),
    );
    let run = scan(dir.path(), &["bom.jsonl", "bom.json", "bom.json.gz"], None);
    run.assert_code(0);
    run.assert_no_errors();
    run.assert_counted(6);
    assert!(run.denied_inputs().contains(&"bom.jsonl:1".to_string()));
}

#[test]
fn crlf_line_ends() {
    let dir = tmp();
    write(dir.path(), "crlf.jsonl", lines(1, 3).replace('\n', "\r\n"));
    // Pretty-printed, as Windows tools write it.
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(&array(10, 2)).expect("valid"),
    )
    .expect("serialises");
    write(dir.path(), "crlf.json", pretty.replace('\n', "\r\n"));
    let run = scan(dir.path(), &["crlf.jsonl", "crlf.json"], None);
    run.assert_code(0);
    run.assert_no_errors();
    run.assert_counted(5);
    let denied = run.denied_inputs();
    for line in 1..=3 {
        assert!(denied.contains(&format!("crlf.jsonl:{line}")), "{denied:?}");
    }
}

#[test]
fn deeply_nested_json_does_not_overflow_the_stack() {
    let depth = 10_000;
    let closed = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let open = "[".repeat(depth);
    // An object nested this deep is still an object: counted (unclassified) or listed.
    let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let in_field = format!(
        r#"{{"trace_id":"deep","trace_name":"startServer","code":403,"project_id":"p1","request":{closed}}}"#
    );

    let dir = tmp();
    write(
        dir.path(),
        "deep.jsonl",
        format!(
            "{}{closed}\n{}{objects}\n{}{in_field}\n{}{open}\n{}",
            lines(1, 1),
            lines(2, 1),
            lines(3, 1),
            lines(4, 1),
            lines(5, 1),
        ),
    );
    let run = scan(dir.path(), &["deep.jsonl"], None);
    run.assert_code(0);
    let rows = run.errors_of("deep.jsonl");
    for line in [2, 8] {
        assert!(
            rows.iter().any(|e| e.0 == line),
            "nested array at line {line} must be listed: {rows:?}"
        );
    }
    assert_each_counted_or_listed(&run, "deep.jsonl", &[1, 3, 5, 7, 9], &[2, 4, 6, 8], &[2, 8]);

    // The same inside an array.
    let dir = tmp();
    write(
        dir.path(),
        "deep.json",
        format!(
            "[\n{},\n{closed},\n{objects},\n{}\n]\n",
            record(10),
            record(11)
        ),
    );
    let run = scan(dir.path(), &["deep.json"], None);
    run.assert_code(0);
    assert!(
        run.errors_of("deep.json").iter().any(|e| e.0 == 3),
        "nested array element at line 3 must be listed: {:?}",
        run.errors()
    );
    assert_each_counted_or_listed(&run, "deep.json", &[2, 5], &[3, 4], &[3]);

    // A file that is nothing but 10,000 opening brackets: an unclosed array.
    let dir = tmp();
    write(dir.path(), "open.json", &open);
    write(dir.path(), "good.jsonl", lines(20, 2));
    let run = scan(dir.path(), &["open.json", "good.jsonl"], None);
    run.assert_code(2);
    run.assert_error("open.json", &["truncated", "not_an_object", "invalid_json"]);
    run.assert_counted(2);
}

#[test]
fn duplicate_keys_never_drop_the_record_silently() {
    let dir = tmp();
    let dup = record(2).replacen(r#""code":403,"#, r#""code":200,"code":403,"#, 1);
    write(
        dir.path(),
        "dup.jsonl",
        format!("{}{dup}\n{}", lines(1, 1), lines(3, 1)),
    );
    let run = scan(dir.path(), &["dup.jsonl"], None);
    run.assert_code(0);
    assert_each_counted_or_listed(&run, "dup.jsonl", &[1, 3], &[2], &[]);
}

#[test]
fn numbers_too_large_for_their_field() {
    let dir = tmp();
    let variants = [
        record(2).replace(r#""code":403"#, r#""code":1e400"#),
        record(3).replace("1763632800000", "99999999999999999999999"),
        record(4).replace("1763632800000", "9223372036854775807"),
        record(5).replace("1763632800000", "-9223372036854775808"),
        record(6).replace("1763632800000", r#""99999999999999999999999""#),
        record(7).replace("1763632800000", "1e300"),
        record(8).replace(r#""code":403"#, r#""code":18446744073709551616"#),
        record(9).replace(r#""code":403"#, r#""code":-403"#),
    ];
    let mut text = lines(1, 1);
    for v in &variants {
        text.push_str(v);
        text.push('\n');
    }
    text.push_str(&lines(100, 1));
    write(dir.path(), "big-numbers.jsonl", text);
    let run = scan(dir.path(), &["big-numbers.jsonl"], None);
    run.assert_code(0);
    let weird: Vec<u64> = (2..2 + variants.len() as u64).collect();
    // Values no field can hold must be reported; i64::MAX / i64::MIN may read as some time.
    assert_each_counted_or_listed(
        &run,
        "big-numbers.jsonl",
        &[1, 2 + variants.len() as u64],
        &weird,
        &[2, 3, 6, 7, 8, 9],
    );
}

#[test]
fn code_that_is_not_a_number() {
    let dir = tmp();
    let bad = record(2).replace(r#""code":403"#, r#""code":"40x""#);
    write(
        dir.path(),
        "code.jsonl",
        format!("{}{bad}\n{}", lines(1, 1), lines(3, 1)),
    );
    let run = scan(dir.path(), &["code.jsonl"], None);
    run.assert_code(0);
    assert_each_counted_or_listed(&run, "code.jsonl", &[1, 3], &[2], &[2]);
}

#[test]
fn symlink_loop_exits_2_names_the_loop_and_reads_each_file_once() {
    let dir = tmp();
    write(dir.path(), "logs/a.jsonl", lines(1, 2));
    write(dir.path(), "logs/sub/b.jsonl", lines(10, 3));
    std::os::unix::fs::symlink(".", dir.path().join("logs/loop")).expect("symlink");
    std::os::unix::fs::symlink("..", dir.path().join("logs/sub/up")).expect("symlink");
    // `--no-dedupe`: a file read twice through the loop would count twice.
    let run = scan(dir.path(), &["--no-dedupe", "logs"], None);
    run.assert_code(2);
    run.assert_stderr_names("logs/loop");
    run.assert_stderr_names("logs/sub/up");
    run.assert_counted(5);
    let errors = run.errors();
    assert!(
        errors.iter().any(|e| e.0 == "logs/loop") && errors.iter().any(|e| e.0 == "logs/sub/up"),
        "README: unreadable inputs are named in errors.csv too; errors.csv: {errors:?}"
    );
}

#[test]
fn unreadable_file_exits_2_and_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp();
    write(dir.path(), "locked.jsonl", lines(1, 2));
    write(dir.path(), "good.jsonl", lines(10, 3));
    let locked = dir.path().join("locked.jsonl");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
    let blocked = fs::File::open(&locked).is_err();
    let run = scan(dir.path(), &["locked.jsonl", "good.jsonl"], None);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o644)).expect("chmod back");
    if !blocked {
        eprintln!(
            "notice: running as a user who can read a mode-000 file (root?): \
             the unreadable-file assertions are skipped"
        );
        run.assert_code(0);
        run.assert_counted(5);
        return;
    }
    run.assert_code(2);
    run.assert_stderr_names("locked.jsonl");
    run.assert_counted(3);
    run.assert_error("locked.jsonl", &["read_error"]);
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn fifo_inside_a_directory_does_not_hang() {
    let dir = tmp();
    write(dir.path(), "logs/a.jsonl", lines(1, 2));
    mkfifo(&dir.path().join("logs/pipe"));
    write(dir.path(), "logs/z.jsonl", lines(10, 1));
    let run = scan(dir.path(), &["logs"], None);
    run.assert_code_0_or_2();
    run.assert_counted(3);
}

#[test]
fn fifo_named_on_the_command_line_is_read() {
    let dir = tmp();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let writer = {
        let fifo = fifo.clone();
        // Blocks until permtrail opens the FIFO; left behind if it never does.
        std::thread::spawn(move || {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .expect("open fifo");
            f.write_all(lines(1, 3).as_bytes()).expect("written");
        })
    };
    let run = scan(dir.path(), &["pipe"], None);
    run.assert_code(0);
    run.assert_counted(3);
    writer.join().expect("writer done");
}

#[test]
fn stdin_input_with_a_bad_line() {
    let dir = tmp();
    let text = format!("{}{{\"trace_id\": broken\n{}", lines(1, 2), lines(3, 2));
    let run = scan(dir.path(), &["-"], Some(text.into_bytes()));
    run.assert_code(0);
    run.assert_counted(4);
    assert_eq!(
        run.errors(),
        vec![("<stdin>".to_string(), 3, "invalid_json".to_string())],
        "README: `-` is stdin"
    );
    assert!(run.denied_inputs().contains(&"<stdin>:4".to_string()));
}

#[test]
fn stdin_gzip_is_decompressed() {
    let dir = tmp();
    let run = scan(dir.path(), &["-"], Some(gzip(array(1, 3).as_bytes())));
    run.assert_code(0);
    run.assert_no_errors();
    run.assert_counted(3);
}

#[test]
fn empty_stdin() {
    let dir = tmp();
    let run = scan(dir.path(), &["-"], Some(Vec::new()));
    run.assert_code(0);
    run.assert_no_errors();
    run.assert_counted(0);
}

#[test]
fn summary_counts_unreadable_records() {
    let dir = tmp();
    write(
        dir.path(),
        "mixed.jsonl",
        format!("{}not json\n42\n{}", lines(1, 1), lines(2, 1)),
    );
    let run = scan_with(dir.path(), &[], &["mixed.jsonl"], None);
    run.assert_code(0);
    run.assert_counted(2);
    assert_eq!(
        run.errors(),
        vec![
            ("mixed.jsonl".to_string(), 2, "invalid_json".to_string()),
            ("mixed.jsonl".to_string(), 3, "not_an_object".to_string()),
        ]
    );
    assert!(
        run.stderr
            .contains("unreadable records: invalid_json 1, not_an_object 1"),
        "{}",
        run.stderr
    );
}

/// Records that push what follows past the bytes framing reads at once to sniff a file,
/// so that small chunks cut the bad parts anywhere.
const PAD: u32 = 400;

/// The cases above that framing meets (broken and over-long records, blank lines, CR LF,
/// bad UTF-8, deep nesting, a missing last newline, data after an array, an array never
/// closed, gzip members with garbage after them), each after `PAD` good records.
fn corpus_past_the_sniff(dir: &Path) {
    assert!(lines(1, PAD).len() > permtrail::read::frame::SNIFF_BYTES);
    let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    let long = String::from_utf8(huge_record(6000)).expect("ascii");
    write(
        dir,
        "lines.jsonl",
        format!(
            "{}{{broken json\n\n   \n{long}\r\n42\n{}\u{1}\n{{\"a\":{deep}}}\n{}",
            lines(1, PAD),
            lines(1000, 3).replace('\n', "\r\n"),
            lines(2000, PAD)
        ),
    );
    let mut bad_utf8 = lines(3000, PAD).into_bytes();
    bad_utf8.extend_from_slice(b"\xff\xfe not text\n");
    // A user name cut inside a two-byte character.
    let mut cut_char = record(3900).into_bytes();
    let at = cut_char
        .windows(3)
        .position(|w| w == b"\"u\"")
        .expect("user")
        + 2;
    cut_char.insert(at, 0xc3);
    bad_utf8.extend_from_slice(&cut_char);
    bad_utf8.extend_from_slice(b"\n");
    bad_utf8.extend_from_slice(lines(4000, 3).as_bytes());
    // The last line has no newline.
    bad_utf8.extend_from_slice(record(4100).as_bytes());
    write(dir, "utf8.jsonl", bad_utf8);
    let items: Vec<String> = (5000..5000 + PAD).map(record).collect();
    write(
        dir,
        "arrays.json",
        format!(
            "[\n{},\n{long},\n{}\n]\n]] trailing {{\n[{}, {}]\n",
            items.join(",\n"),
            record(5900),
            record(5901),
            record(5902)
        ),
    );
    write(
        dir,
        "pretty.json",
        format!(
            "[\n  {}\n]\n",
            items.join(",\n  ").replace(",\"", ",\n    \"")
        ),
    );
    write(
        dir,
        "cut.json",
        format!("[\n{},\n{}", items.join(",\n"), &record(6000)[..100]),
    );
    let mut members = gzip(lines(7000, PAD).as_bytes());
    members.extend(gzip(
        format!("{long}\nnot json\n{}", lines(7500, 5)).as_bytes(),
    ));
    members.extend_from_slice(b"garbage after the members");
    write(dir, "members.jsonl.gz", members);
    write(
        dir,
        "array.json.gz",
        gzip(format!("[{}]\n[{}]", items.join(","), record(8000)).as_bytes()),
    );
}

#[test]
fn bad_input_gives_the_same_reports_at_every_chunk_size_and_thread_count() {
    let dir = tmp();
    // Apart from the reports and the captured stderr, which the scans write beside it.
    corpus_past_the_sniff(&dir.path().join("in"));
    let reports = |run: &Run| -> Vec<String> {
        permtrail::write::REPORTS
            .iter()
            .map(|name| run.report(name))
            .collect()
    };
    let args = |jobs: &'static str, chunk: &'static str| {
        [
            "-j",
            jobs,
            "--chunk-size",
            chunk,
            "--max-record-bytes",
            "5000",
            "in",
        ]
    };
    let whole = scan(dir.path(), &args("1", "1G"), None);
    whole.assert_code(2);
    let errors = whole.report("errors.csv");
    for reason in [
        "invalid_json",
        "record_too_long",
        "trailing_data",
        "truncated",
    ] {
        assert!(errors.contains(reason), "{reason} missing:\n{errors}");
    }
    let expected = reports(&whole);
    for (jobs, chunk) in [("8", "97"), ("2", "1000"), ("3", "65543")] {
        // Into the same folder: the reports before were read already.
        let cut = scan(dir.path(), &args(jobs, chunk), None);
        assert_eq!(cut.code, whole.code, "-j{jobs} chunks of {chunk}");
        assert_eq!(reports(&cut), expected, "-j{jobs} chunks of {chunk}");
    }
}
