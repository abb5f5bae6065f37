//! End-to-end tests: run the real `permtrail` binary on fixture inputs and compare its
//! reports with golden files (`UPDATE_GOLDEN=1 cargo test` rewrites them after a reviewed
//! change).

use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use permtrail::read::frame::SNIFF_BYTES;
use permtrail::write::REPORTS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn permtrail(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_permtrail"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn reports(dir: &Path) -> Vec<(String, String)> {
    REPORTS
        .iter()
        .map(|name| {
            let text = fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name.to_string(), text)
        })
        .collect()
}

/// Temporary report files and spilled runs are hidden entries of `--out`: none may remain.
fn assert_no_temporary_files(out: &Path) {
    let leftovers: Vec<_> = fs::read_dir(out)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|name| name.to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "left behind in {}: {leftovers:?}",
        out.display()
    );
}

fn scan(dir: &Path, out: &Path, extra: &[&str]) -> Output {
    let out = out.to_str().expect("utf-8 temp path");
    let mut args = vec!["scan", "-q", "-o", out];
    args.extend_from_slice(extra);
    permtrail(dir, &args)
}

#[test]
fn a_bad_command_line_exits_1_not_2_which_means_unreadable_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    for (extra, names) in [
        (&["--bogus", "x"][..], "--bogus"),
        (&["--chunk-size", "1.5M", "x"][..], "1.5M"),
        (&["--threads", "many", "x"][..], "many"),
        (&["--progress-every", "soon", "x"][..], "soon"),
        (&[][..], "<INPUT>"),
    ] {
        let output = scan(dir.path(), &out, extra);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.contains(names), "{extra:?}: {stderr}");
        assert!(!out.exists(), "no reports from {extra:?}");
    }
    let help = permtrail(dir.path(), &["scan", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--chunk-size"));
    // Sizes with suffixes are read; the run starts and finds its one input missing.
    let sized = scan(
        dir.path(),
        &out,
        &[
            "--chunk-size",
            "64K",
            "--max-record-bytes",
            "1M",
            "missing.jsonl",
        ],
    );
    assert_eq!(sized.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&sized.stderr).contains("missing.jsonl"));
}

#[test]
fn samples_match_golden_reports() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let output = scan(&root(), tmp.path(), &["samples"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let golden = root().join("tests/golden/samples");
    for (name, text) in reports(tmp.path()) {
        let path = golden.join(&name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            fs::create_dir_all(&golden).expect("golden dir");
            fs::write(&path, &text).expect("golden written");
            continue;
        }
        let want = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(text, want, "{name} differs from {}", path.display());
    }
}

#[test]
fn samples_cover_every_cause_and_dedupe() {
    let tmp = tempfile::tempdir().expect("temp dir");
    scan(&root(), tmp.path(), &["samples"]);
    let denials = fs::read_to_string(tmp.path().join("denied_calls.csv")).expect("report");
    for cause in [
        "missing_action",
        "missing_dependency",
        "undocumented_dependency",
        "unknown",
    ] {
        assert!(
            denials.contains(&format!(",{cause},")),
            "no {cause} in samples"
        );
    }
    // The duplicated trace is one row with dedupe, two without.
    let count = |dir: &Path| {
        fs::read_to_string(dir.join("denied_calls.csv"))
            .expect("report")
            .lines()
            .count()
    };
    let tmp2 = tempfile::tempdir().expect("temp dir");
    scan(&root(), tmp2.path(), &["--no-dedupe", "samples"]);
    assert_eq!(count(tmp2.path()), count(tmp.path()) + 1);
}

#[test]
fn thread_count_and_chunk_size_do_not_change_reports() {
    let input = tempfile::tempdir().expect("temp dir");
    copy_samples_enlarged(input.path());
    let one = tempfile::tempdir().expect("temp dir");
    let many = tempfile::tempdir().expect("temp dir");
    let a = scan(
        input.path(),
        one.path(),
        &["-j1", "--chunk-size", "1073741824", "samples"],
    );
    let b = scan(
        input.path(),
        many.path(),
        &["-j8", "--chunk-size", "64", "samples"],
    );
    assert!(a.status.success() && b.status.success());
    assert_eq!(reports(one.path()), reports(many.path()));
}

#[test]
fn unclassified_rows_past_the_limit_add_up_in_one_last_row() {
    let (all, few, few_many) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let read = |dir: &Path| csv_rows(dir, "unclassified.csv");
    let calls = |rows: &[Vec<String>]| -> (u64, u64) {
        rows.iter().fold((0, 0), |(c, d), r| {
            (
                c + r[3].parse::<u64>().unwrap(),
                d + r[4].parse::<u64>().unwrap(),
            )
        })
    };
    let unlimited = scan(&root(), all.path(), &["samples"]);
    assert!(unlimited.status.success());
    // With --quiet, nothing on stderr when no limit was reached.
    assert_eq!(String::from_utf8_lossy(&unlimited.stderr), "");
    let whole = read(all.path());
    assert!(
        whole.len() > 3,
        "the samples have unclassified rows to drop"
    );
    // One worker and many tiny chunks on eight: the same rows kept either way (with the
    // same key of the hash that chooses them; each run draws its own otherwise).
    let limit = ["--max-unclassified-rows", "2", "--limit-seed", "7"];
    let a = scan(
        &root(),
        few.path(),
        &[&["-j1"][..], &limit, &["samples"]].concat(),
    );
    let b = scan(
        &root(),
        few_many.path(),
        &[&["-j8", "--chunk-size", "64"][..], &limit, &["samples"]].concat(),
    );
    assert!(a.status.success() && b.status.success());
    let cut = read(few.path());
    // Even with --quiet, the run says its report holds less detail than the input had.
    let said = String::from_utf8_lossy(&a.stderr);
    let pooled = cut[2][3].clone();
    assert_eq!(
        said,
        format!(
            "permtrail: unclassified.csv: {pooled} calls ({} denied) of rows beyond \
             --max-unclassified-rows 2 are in its last row\n",
            cut[2][4]
        )
    );
    assert_eq!(cut, read(few_many.path()));
    assert_eq!(cut.len(), 3, "two rows and the one beyond: {cut:?}");
    let last = &cut[2];
    assert_eq!(last[1], "(calls of rows beyond --max-unclassified-rows)");
    // Nothing lost: the rows kept are rows of the whole report, and all calls add up.
    assert!(cut[..2].iter().all(|row| whole.contains(row)));
    assert_eq!(calls(&cut), calls(&whole));
    // The other reports do not change.
    let others = |dir: &Path| -> Vec<(String, String)> {
        reports(dir)
            .into_iter()
            .filter(|(name, _)| name != "unclassified.csv")
            .collect()
    };
    assert_eq!(others(all.path()), others(few.path()));
}

/// A report's rows after the header, each as its fields.
fn csv_rows(dir: &Path, name: &str) -> Vec<Vec<String>> {
    csv::Reader::from_path(dir.join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .records()
        .map(|row| row.expect("a CSV row").iter().map(String::from).collect())
        .collect()
}

#[test]
fn projects_past_the_limit_add_up_in_one_last_row() {
    const POOLED: &str = "(projects beyond --max-projects)";
    let all = tempfile::tempdir().expect("temp dir");
    assert!(scan(&root(), all.path(), &["samples"]).status.success());
    let whole = |name: &str| csv_rows(all.path(), name);
    let projects = whole("projects.csv");
    assert!(projects.len() >= 4, "the samples have projects to pool");
    let json = |dir: &Path, name: &str| -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&fs::read_to_string(dir.join(name)).expect(name)).expect(name)
    };
    let number = |field: &str| field.parse::<u64>().expect("a count");
    // Denied calls whose inferred cause is lost because their project was pooled.
    let mut uninferred = 0;
    for limit in 1..projects.len() {
        let (few, few_many) = (
            tempfile::tempdir().expect("temp dir"),
            tempfile::tempdir().expect("temp dir"),
        );
        let limit_arg = limit.to_string();
        // The same key of the choosing hash in both runs: each run draws its own otherwise.
        let limit_args = [
            "--max-projects",
            limit_arg.as_str(),
            "--limit-seed",
            "7",
            "samples",
        ];
        let a = scan(&root(), few.path(), &[&["-j1"][..], &limit_args].concat());
        let b = scan(
            &root(),
            few_many.path(),
            &[&["-j8", "--chunk-size", "64"][..], &limit_args].concat(),
        );
        assert!(a.status.success() && b.status.success());
        // The same projects kept however the work was split.
        assert_eq!(
            reports(few.path()),
            reports(few_many.path()),
            "limit {limit}"
        );
        let cut = |name: &str| csv_rows(few.path(), name);

        let rows = cut("projects.csv");
        assert_eq!(rows.len(), limit + 1, "limit {limit}: {rows:?}");
        let (kept, last) = (&rows[..limit], &rows[limit]);
        assert_eq!(last[0], POOLED);
        assert!(kept.iter().all(|row| projects.contains(row)));
        let is_kept = |id: &str| kept.iter().any(|row| row[0] == id);
        let pooled: Vec<&Vec<String>> = projects.iter().filter(|r| !is_kept(&r[0])).collect();
        // records, classified, allowed, denied, failed, dependency denials, unclassified.
        for column in 1..=7 {
            let sum: u64 = pooled.iter().map(|row| number(&row[column])).sum();
            assert_eq!(number(&last[column]), sum, "limit {limit}, column {column}");
        }
        assert_eq!(
            last[10], "0",
            "the pooled projects' denials are not inferred"
        );

        // actions.csv: kept projects' rows as they were, the pooled ones' summed per action.
        let per_action = |rows: &[Vec<String>], pooled: &dyn Fn(&str) -> bool| {
            let mut sums = std::collections::BTreeMap::<String, Vec<u64>>::new();
            for row in rows.iter().filter(|row| pooled(&row[0])) {
                let sum = sums.entry(row[1].clone()).or_insert_with(|| vec![0; 4]);
                for (s, field) in sum.iter_mut().zip(&row[2..]) {
                    *s += number(field);
                }
            }
            sums
        };
        let (actions, actions_cut) = (whole("actions.csv"), cut("actions.csv"));
        let kept_rows = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
            rows.iter()
                .filter(|row| is_kept(&row[0]))
                .cloned()
                .collect()
        };
        assert_eq!(kept_rows(&actions), kept_rows(&actions_cut));
        assert_eq!(
            per_action(&actions, &|id| !is_kept(id)),
            per_action(&actions_cut, &|id| id == POOLED),
        );

        // denials.csv: kept projects' rows as they were; the pooled calls all counted.
        let (denials, denials_cut) = (whole("denials.csv"), cut("denials.csv"));
        assert_eq!(kept_rows(&denials), kept_rows(&denials_cut));
        let calls = |rows: &[Vec<String>], pooled: &dyn Fn(&str) -> bool| -> u64 {
            rows.iter()
                .filter(|row| pooled(&row[0]))
                .map(|row| number(&row[4]))
                .sum()
        };
        assert_eq!(
            calls(&denials, &|id| !is_kept(id)),
            calls(&denials_cut, &|id| id == POOLED)
        );

        // denied_calls.csv keeps every call under its own project; only the pooled
        // projects' inferred causes fall back to unknown.
        let (calls_whole, calls_cut) = (whole("denied_calls.csv"), cut("denied_calls.csv"));
        assert_eq!(calls_whole.len(), calls_cut.len());
        for (w, c) in calls_whole.iter().zip(&calls_cut) {
            if is_kept(&w[1]) || !w[8].starts_with("inferred_") {
                assert_eq!(w, c, "limit {limit}");
            } else {
                uninferred += 1;
                assert_eq!((c[8].as_str(), c[9].as_str()), ("unknown", ""));
                // Time, project, user, address, method, path, trace name; request and input.
                assert_eq!((&w[..7], &w[10..12]), (&c[..7], &c[10..12]));
            }
        }

        // Policies only for the projects kept, as they were.
        for name in ["policies.json", "policies_inferred.json"] {
            let mut expected = json(all.path(), name);
            expected.retain(|id, _| is_kept(id));
            assert_eq!(json(few.path(), name), expected, "limit {limit}: {name}");
        }
        for name in ["unclassified.csv", "errors.csv"] {
            assert_eq!(whole(name), cut(name), "limit {limit}: {name}");
        }
    }
    assert!(
        uninferred > 0,
        "some limit pools a project whose denials were inferred"
    );
    // Other keys choose other projects, so ids cannot be made up to rank first.
    let kept = |seed: &str| -> Vec<String> {
        let out = tempfile::tempdir().expect("temp dir");
        let args = ["--max-projects", "2", "--limit-seed", seed, "samples"];
        assert!(scan(&root(), out.path(), &args).status.success());
        let rows = csv_rows(out.path(), "projects.csv");
        rows[..2].iter().map(|row| row[0].clone()).collect()
    };
    let choices: std::collections::BTreeSet<Vec<String>> = ["1", "2", "3", "4", "5", "6"]
        .into_iter()
        .map(kept)
        .collect();
    assert!(choices.len() > 1, "six keys, one choice: {choices:?}");
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(bytes), &mut out)
        .expect("valid gzip");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("in memory");
    enc.finish().expect("in memory")
}

/// Copies `samples/` into `dir/samples` under the same names, so reports (which name
/// inputs) compare byte for byte. `each` gets a file's decoded bytes and whether it was
/// gzipped, and gives the bytes to write and whether to gzip them.
fn copy_samples_with(dir: &Path, each: impl Fn(Vec<u8>, bool) -> (Vec<u8>, bool)) {
    for entry in walk(&root().join("samples")) {
        let target = dir.join(entry.strip_prefix(root()).expect("under root"));
        fs::create_dir_all(target.parent().expect("has parent")).expect("mkdir");
        let bytes = fs::read(&entry).expect("readable");
        let compressed = bytes.starts_with(&[0x1f, 0x8b]);
        let plain = if compressed { gunzip(&bytes) } else { bytes };
        let (out, compress) = each(plain, compressed);
        fs::write(&target, if compress { gzip(&out) } else { out }).expect("written");
    }
}

/// The samples with every file gzipped or every file plain.
fn copy_samples(dir: &Path, compress: bool) {
    copy_samples_with(dir, |plain, _| (plain, compress));
}

/// The samples with each file's content repeated to well past framing's first read
/// (arrays follow one another, lines run on; gzip stays gzip), so that scans with small
/// chunks really cut every file into many.
fn copy_samples_enlarged(dir: &Path) {
    copy_samples_with(dir, |mut plain, compressed| {
        if !plain.ends_with(b"\n") {
            plain.push(b'\n');
        }
        let copies = (3 * SNIFF_BYTES).div_ceil(plain.len());
        (plain.repeat(copies), compressed)
    });
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn gzip_and_plain_inputs_give_identical_reports() {
    let (gz, plain) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    copy_samples(gz.path(), true);
    copy_samples(plain.path(), false);
    let (out_gz, out_plain) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    assert!(
        scan(gz.path(), out_gz.path(), &["samples"])
            .status
            .success()
    );
    assert!(
        scan(plain.path(), out_plain.path(), &["samples"])
            .status
            .success()
    );
    assert_eq!(reports(out_gz.path()), reports(out_plain.path()));
    // And both equal the reports of the mixed originals.
    let out_orig = tempfile::tempdir().expect("tmp");
    scan(&root(), out_orig.path(), &["samples"]);
    assert_eq!(reports(out_plain.path()), reports(out_orig.path()));
}

const DENIED_START: &str = r#"{"trace_id":"t1","trace_name":"startServer","code":403,"time":1763632800000,"project_id":"p1","user":{"name":"alice"},"request":{"os-start":null},"response":{"forbidden":{"message":"Policy doesn't allow ecs:servers:list to be performed.","code":403}}}"#;

#[test]
fn truncated_gzip_is_reported_and_the_rest_still_counted() {
    let dir = tempfile::tempdir().expect("tmp");
    let whole = gzip(format!("[{DENIED_START},{DENIED_START}]").as_bytes());
    fs::write(dir.path().join("cut.json.gz"), &whole[..whole.len() / 2]).expect("written");
    fs::write(
        dir.path().join("good.jsonl"),
        format!("{}\n", DENIED_START.replace("t1", "t2")),
    )
    .expect("written");
    let out = dir.path().join("out");
    let output = scan(dir.path(), &out, &["cut.json.gz", "good.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cut.json.gz"), "{stderr}");
    let denials = fs::read_to_string(out.join("denials.csv")).expect("report");
    assert!(
        denials.contains("p1,ecs:servers:start,missing_dependency,ecs:servers:list,1,1,"),
        "{denials}"
    );
    let errors = fs::read_to_string(out.join("errors.csv")).expect("report");
    assert!(
        errors
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("cut.json.gz,")),
        "{errors}"
    );
}

#[test]
fn filters_by_time_and_project() {
    let dir = tempfile::tempdir().expect("tmp");
    let other = DENIED_START
        .replace("\"p1\"", "\"p2\"")
        .replace("t1", "t3")
        .replace("1763632800000", "1763719200000");
    fs::write(
        dir.path().join("in.jsonl"),
        format!("{DENIED_START}\n{other}\n"),
    )
    .expect("written");
    let out = dir.path().join("out");
    assert!(
        scan(dir.path(), &out, &["--project", "p2", "in.jsonl"])
            .status
            .success()
    );
    let projects = fs::read_to_string(out.join("projects.csv")).expect("report");
    assert_eq!(projects.lines().count(), 2, "{projects}");
    assert!(projects.contains("\np2,1,1,0,1,0,1,0,"), "{projects}");
    assert!(
        scan(dir.path(), &out, &["--until", "2025-11-21", "in.jsonl"])
            .status
            .success()
    );
    let projects = fs::read_to_string(out.join("projects.csv")).expect("report");
    assert!(
        projects.contains("\np1,") && !projects.contains("\np2,"),
        "{projects}"
    );
    let bad = scan(dir.path(), &out, &["--since", "yesterday", "in.jsonl"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since"));
}

#[test]
fn stdin_and_field_overrides() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let line = r#"{"req":{"verb":"GET","target":"/v2.1/0123456789abcdef0123456789abcdef/servers/detail"},"status":403,"response":"Policy doesn't allow ecs:servers:get to be performed."}"#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_permtrail"))
        .current_dir(dir.path())
        .args([
            "scan",
            "-q",
            "-o",
            "out",
            "--field",
            "method=req.verb",
            "--field",
            "path=req.target",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(line.as_bytes())
        .expect("written");
    assert!(child.wait().expect("exits").success());
    let denials = fs::read_to_string(out.join("denials.csv")).expect("report");
    assert!(
        denials.contains("0123456789abcdef0123456789abcdef,ecs:servers:list,missing_dependency,ecs:servers:get,1,0,"),
        "{denials}"
    );
    let calls = fs::read_to_string(out.join("denied_calls.csv")).expect("report");
    assert!(calls.contains(",<stdin>:1,"), "{calls}");
}

#[test]
fn reports_replace_previous_ones_whole() {
    let dir = tempfile::tempdir().expect("tmp");
    fs::write(dir.path().join("in.jsonl"), format!("{DENIED_START}\n")).expect("written");
    let out = dir.path().join("out");
    fs::create_dir_all(&out).expect("mkdir");
    fs::write(out.join("denials.csv"), "stale").expect("written");
    assert!(scan(dir.path(), &out, &["in.jsonl"]).status.success());
    assert!(
        fs::read_to_string(out.join("denials.csv"))
            .expect("report")
            .starts_with("project_id,")
    );
    assert_no_temporary_files(&out);
}

#[test]
fn missing_input_exits_2_and_still_writes_reports() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let output = scan(dir.path(), &out, &["nope.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope.json"));
    assert!(out.join("projects.csv").exists());
}

#[test]
fn reports_are_safe_to_open_in_a_spreadsheet() {
    let dir = tempfile::tempdir().expect("tmp");
    let hostile = DENIED_START
        .replace(
            r#"{"name":"alice"}"#,
            r#"{"name":"=HYPERLINK(\"http://x\")"}"#,
        )
        .replace(
            r#""project_id":"p1""#,
            r#""project_id":"p1","request_id":"a\nb,c""#,
        );
    fs::write(dir.path().join("in.jsonl"), format!("{hostile}\n")).expect("written");
    let out = dir.path().join("out");
    assert!(scan(dir.path(), &out, &["in.jsonl"]).status.success());
    let calls = fs::read_to_string(out.join("denied_calls.csv")).expect("report");
    assert_eq!(calls.lines().count(), 2, "one header, one row: {calls}");
    assert!(
        calls.contains(r#","'=HYPERLINK(""http://x"")","#),
        "{calls}"
    );
    assert!(calls.contains(r#","a\nb,c","#), "{calls}");
    assert!(
        scan(dir.path(), &out, &["--raw-csv", "in.jsonl"])
            .status
            .success()
    );
    let raw = fs::read_to_string(out.join("denied_calls.csv")).expect("report");
    assert!(raw.contains(r#","=HYPERLINK(""http://x"")","#), "{raw}");
}

#[test]
fn interrupted_run_keeps_previous_reports_and_exits_130() {
    for signal in ["-INT", "-TERM"] {
        interrupt_with(signal);
    }
}

fn interrupt_with(signal: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    fs::create_dir_all(&out).expect("mkdir");
    fs::write(out.join("denials.csv"), "previous\n").expect("written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_permtrail"))
        .current_dir(dir.path())
        .args(["scan", "-q", "-o", "out", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut stdin = child.stdin.take().expect("piped");
    writeln!(stdin, "{DENIED_START}").expect("written");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    // The blocked read returns with this line; the next read sees the interruption.
    let _ = writeln!(stdin, "{DENIED_START}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "no exit after SIGINT");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(stdin);
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        fs::read_to_string(out.join("denials.csv")).expect("kept"),
        "previous\n"
    );
    assert!(!out.join("projects.csv").exists());
}

#[test]
fn regression_same_trace_id_with_different_content_is_not_a_duplicate() {
    // Before, the first copy a thread happened to see was counted, so reports depended on
    // thread timing when two different records shared a trace id.
    let dir = tempfile::tempdir().expect("tmp");
    let other = DENIED_START
        .replace("\"p1\"", "\"p2\"")
        .replace("ecs:servers:list", "ecs:servers:start");
    let lines = format!("{DENIED_START}\n{other}\n{DENIED_START}\n");
    fs::write(dir.path().join("a.jsonl"), &lines).expect("written");
    fs::write(dir.path().join("b.jsonl"), &lines).expect("written");
    let (one, many) = (dir.path().join("one"), dir.path().join("many"));
    assert!(
        scan(dir.path(), &one, &["-j1", "a.jsonl", "b.jsonl"])
            .status
            .success()
    );
    assert!(
        scan(
            dir.path(),
            &many,
            &["-j4", "--chunk-size", "8", "a.jsonl", "b.jsonl"]
        )
        .status
        .success()
    );
    assert_eq!(reports(&one), reports(&many));
    let projects = fs::read_to_string(one.join("projects.csv")).expect("report");
    assert!(projects.contains("\np1,1,1,0,1,0,1,0,"), "{projects}");
    assert!(projects.contains("\np2,1,1,0,1,0,0,0,"), "{projects}");
}

/// Scans the samples, enlarged so that small chunks cut them, with the default settings and
/// with `args`, asserting that the reports are the same; returns the second report folder.
fn same_reports_as_default(args: &[&str]) -> tempfile::TempDir {
    let (input, default, other) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    copy_samples_enlarged(input.path());
    assert!(
        scan(input.path(), default.path(), &["samples"])
            .status
            .success()
    );
    let args: Vec<&str> = args.iter().copied().chain(["samples"]).collect();
    let output = scan(input.path(), other.path(), &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(reports(default.path()), reports(other.path()));
    other
}

#[test]
fn denied_rows_spilled_to_disk_give_the_same_reports() {
    let disk = same_reports_as_default(&["--rows-in-memory", "1", "-j2", "--chunk-size", "256"]);
    assert_no_temporary_files(disk.path());
}

#[test]
fn tallies_folded_after_every_chunk_give_the_same_reports() {
    same_reports_as_default(&["--fold-weight", "0", "-j2", "--chunk-size", "256"]);
}

/// Scans one denied call into an `out` that holds a previous `denials.csv`, with the fault
/// injection `fault` set and `args` added; checks that the run exits 1 saying `says`, that
/// the previous report is kept and that nothing else is left in `out`.
fn a_failed_run_keeps_previous_reports(fault: &str, args: &[&str], says: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    fs::write(dir.path().join("in.jsonl"), format!("{DENIED_START}\n")).expect("written");
    let out = dir.path().join("out");
    fs::create_dir_all(&out).expect("mkdir");
    fs::write(out.join("denials.csv"), "previous\n").expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_permtrail"))
        .current_dir(dir.path())
        .env(fault, "1")
        .args(["scan", "-q", "-o", "out", "in.jsonl"])
        .args(args)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
    assert!(stderr.contains("reports left unchanged"), "{stderr}");
    assert_eq!(
        fs::read_to_string(out.join("denials.csv")).expect("kept"),
        "previous\n"
    );
    let left: Vec<_> = fs::read_dir(&out)
        .expect("out")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, ["denials.csv"], "only the previous report is left");
}

#[test]
fn a_panicking_worker_exits_1_and_keeps_previous_reports() {
    a_failed_run_keeps_previous_reports("PERMTRAIL_INJECT_PANIC", &["-j2"], "the scan failed");
}

#[test]
fn a_panic_while_writing_exits_1_keeps_previous_reports_and_no_staging_folder() {
    a_failed_run_keeps_previous_reports(
        "PERMTRAIL_INJECT_WRITE_PANIC",
        &[],
        "writing the reports failed",
    );
}

/// Lines that test the skim of other services' records: plain and escaped keys, repeated
/// service keys, odd values, envelopes, escapes, control characters, invalid JSON and
/// invalid UTF-8, each next to ECS traces that are counted.
fn skim_edge_cases() -> Vec<u8> {
    let p = "0a3f9c2e7b5d4e6f8a1b2c3d4e5f6a7b";
    let ecs = r#""service_type":"ECS","trace_name":"startServer","request":{"os-start":{}},"code":403,"response":{"forbidden":{"message":"Policy doesn't allow ecs:servers:list to be performed.","code":403}}"#;
    let lines = [
        format!(r#"{{"trace_id":"{{i}}-a","project_id":"{p}",{ecs}}}"#),
        format!(
            r#"{{"trace_id":"{{i}}-b","project_id":"{p}","service_type":"VPC","trace_name":"createVpc","code":403}}"#
        ),
        format!(
            r#"{{"trace_id":"{{i}}-c","project_id":"{p}","service_type":"vpc","request":"{{\"vpc\":{{\"name\":\"a\\tb\"}}}}","code":"200"}}"#
        ),
        format!(
            r#"{{"trace_id":"{{i}}-d","project_id":"{p}","service\u005ftype":"OBS","trace_name":"createBucket","code":200}}"#
        ),
        format!(
            r#"{{"trace_id":"{{i}}-e","project_id":"{p}","service_type":"E\u0043S","trace_name":"stopServer","code":200}}"#
        ),
        format!(
            r#"{{"trace_id":"{{i}}-f","project_id":"{p}","service_type":"EVS","service_type":"ECS","trace_name":"stopServer","code":200}}"#
        ),
        format!(
            r#"{{"trace_id":"{{i}}-g","project_id":"{p}","service_type":"","trace_name":"stopServer","code":200}}"#
        ),
        format!(
            r#"{{"trace_id":"{{i}}-h","project_id":"{p}","service_type":7,"trace_name":"rebootServer","code":"40x"}}"#
        ),
        format!(
            r#"{{"trace_id":"{{i}}-i","project_id":"{p}","service_type":"IAM","code":200,"x":tru}}"#
        ),
        format!(
            r#"{{"trace_id":"{{i}}-j","project_id":"{p}","service_type":"IAM","code":200,"x":01}}"#
        ),
        format!(r#"{{"trace_id":"{{i}}-k","project_id":"{p}","service_type":"IAM","code":200}} x"#),
        format!(
            "{{\"trace_id\":\"{{i}}-l\",\"project_id\":\"{p}\",\"service_type\":\"IAM\",\"s\":\"raw\ttab\"}}"
        ),
        format!(
            r#"{{"traces":[{{"trace_id":"{{i}}-m","request_id":"envelope-{{i}}","project_id":"{p}",{ecs}}}],"service_type":"VPC"}}"#
        ),
        format!(r#"{{"cts":{{"trace_id":"{{i}}-n","project_id":"{p}","service_type":"OBS"}}}}"#),
        format!(
            r#"{{"trace_id":"{{i}}-o","project_id":"{p}","service_type":"VPC","code":"40x","time":"yesterday"}}"#
        ),
        format!(
            r#"{{"trace_id":"{{i}}-b","project_id":"{p}","service_type":"VPC","trace_name":"createVpc","code":403}}"#
        ),
        format!(r#"{{"trace_id":"{{i}}-p","project_id":"{p}","service_type":"VPC","s":"\ud800"}}"#),
    ];
    let mut out = Vec::new();
    for i in 0..40 {
        for line in &lines {
            out.extend_from_slice(line.replace("{i}", &i.to_string()).as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(
            b"{\"trace_id\":\"bad-utf8\",\"service_type\":\"VPC\",\"s\":\"\xff\"}\n",
        );
    }
    out
}

#[test]
fn skimming_other_services_leaves_every_report_identical() {
    let dir = tempfile::tempdir().expect("tmp");
    copy_samples(dir.path(), false);
    fs::write(
        dir.path().join("samples/skim-edges.jsonl"),
        skim_edge_cases(),
    )
    .expect("write");
    let (skimmed, full) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let a = scan(
        dir.path(),
        skimmed.path(),
        &["-j2", "--chunk-size", "700", "samples"],
    );
    let b = scan(dir.path(), full.path(), &["--full-parse", "samples"]);
    assert!(a.status.success() && b.status.success());
    assert_eq!(reports(skimmed.path()), reports(full.path()));
    // The edge cases reached every report that matters: counted ECS denials, unreadable
    // records, and none of the other services' traces as unclassified.
    let all = reports(full.path());
    let text = |name: &str| &all.iter().find(|(n, _)| n == name).expect(name).1;
    assert!(text("errors.csv").contains("invalid_json"));
    assert!(text("errors.csv").contains("invalid_utf8_replaced"));
    assert!(text("denied_calls.csv").contains(",envelope-39,"));
    assert!(!text("unclassified.csv").contains("createVpc"));
    assert!(!text("unclassified.csv").contains("createBucket"));
}

#[test]
fn records_of_a_pretty_printed_page_keep_their_own_lines() {
    let dir = tempfile::tempdir().expect("tmp");
    let trace = |id: &str| {
        format!(
            "    {{\n      \"trace_id\": \"{id}\",\n      \"trace_name\": \"startServer\",\n      \"service_type\": \"ECS\",\n      \"project_id\": \"p1\",\n      \"request\": {{\"os-start\": {{}}}},\n      \"code\": 403\n    }}"
        )
    };
    let page = format!(
        "{{\n  \"meta_data\": {{\"count\": 3}},\n  \"traces\": [\n{},\n{},\n{}\n  ]\n}}\n",
        trace("a"),
        trace("b"),
        trace("c")
    );
    fs::write(dir.path().join("page.json"), page).expect("write");
    let out = tempfile::tempdir().expect("tmp");
    assert!(
        scan(dir.path(), out.path(), &["page.json"])
            .status
            .success()
    );
    let rows = fs::read_to_string(out.path().join("denied_calls.csv")).expect("report");
    // Each trace is 8 lines long and the first opens on line 4.
    for line in [4, 12, 20] {
        assert!(
            rows.contains(&format!("page.json:{line},")),
            "line {line}:\n{rows}"
        );
    }
}

/// A small `.json.gz` array is read as it is inflated, the skim finding where each element
/// ends. Where that walk stops (an element the skim leaves to serde, one too long, text
/// after the array, an array that does not end), framing takes over and passes over the
/// records already counted: the reports are those of a full parse, whatever the stop.
#[test]
fn arrays_read_whole_count_each_record_once_wherever_the_walk_stops() {
    let dir = tempfile::tempdir().expect("tmp");
    let trace = |id: &str| {
        format!(
            r#"{{"trace_id":"{id}","trace_name":"startServer","service_type":"ECS","project_id":"p1","user":{{"name":"u1"}},"request":{{"os-start":{{}}}},"code":403,"time":1795132800000}}"#
        )
    };
    let other = r#"{"trace_id":"v","service_type":"VPC","code":200}"#;
    let long = format!(
        r#"{{"trace_id":"long","service_type":"VPC","pad":"{}"}}"#,
        "x".repeat(5000)
    );
    let files = [
        (
            "complete",
            format!("[{},\n{other},\n{}]\n", trace("a1"), trace("a2")),
        ),
        (
            "escape",
            format!(
                "[{},\n{{\"trace_id\":\"\\u0065\",\"service_type\":\"ECS\",\"trace_name\":\"startServer\",\"project_id\":\"p1\",\"request\":{{\"os-start\":{{}}}},\"code\":403}},\n{}]",
                trace("b1"),
                trace("b2")
            ),
        ),
        (
            "long",
            format!("[{},\n{long},\n{}]", trace("c1"), trace("c2")),
        ),
        (
            "trailing",
            format!("[{},\n{}]\n[{}] x", trace("d1"), trace("d2"), trace("d3")),
        ),
        (
            "unclosed",
            format!("[{},\n{other},\n{}", trace("e1"), trace("e2")),
        ),
        (
            "bad",
            format!("[{},\n{{\"trace_id\":tru}},\n{}]", trace("f1"), trace("f2")),
        ),
    ];
    for (name, text) in &files {
        fs::write(
            dir.path().join(format!("{name}.json.gz")),
            gzip(text.as_bytes()),
        )
        .expect("write");
    }
    let (walked, full) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    // Without de-duplication a record counted twice would show in every count.
    let limit = ["--no-dedupe", "--max-record-bytes", "4K"];
    let a = scan(
        dir.path(),
        walked.path(),
        &[&limit[..], &["-j2", "."]].concat(),
    );
    let b = scan(
        dir.path(),
        full.path(),
        &[&limit[..], &["--full-parse", "."]].concat(),
    );
    assert_eq!(a.status.code(), b.status.code());
    assert_eq!(reports(walked.path()), reports(full.path()));
    // Each denied trace once, on its own line, before and after each stop.
    let rows = fs::read_to_string(walked.path().join("denied_calls.csv")).expect("report");
    for (file, id, line) in [
        ("complete", "a1", 1),
        ("complete", "a2", 3),
        ("escape", "b1", 1),
        ("escape", "e", 2),
        ("escape", "b2", 3),
        ("long", "c1", 1),
        ("long", "c2", 3),
        ("trailing", "d2", 2),
        ("bad", "f2", 3),
    ] {
        let cell = format!("./{file}.json.gz:{line},");
        let found = rows.lines().filter(|r| r.contains(&cell)).count();
        assert_eq!(found, 1, "{file} {id} line {line}:\n{rows}");
    }
    let errors = fs::read_to_string(walked.path().join("errors.csv")).expect("report");
    for expected in ["./long.json.gz,2,record_too_long", "./bad.json.gz,2,"] {
        assert!(errors.contains(expected), "{expected}:\n{errors}");
    }
}
