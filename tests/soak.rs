//! Test-sized soak (issue 6): about 200 MB of generated input (JSON lines, gzip CTS arrays
//! one record per line, compact gzip arrays, pretty-printed arrays), many projects and
//! users, with faults injected every few hundred records (invalid JSON, truncated records,
//! non-objects, over-long records under a low `--max-record-bytes`, repeated trace ids).
//! The generator keeps its own exact tally, and one run of the real binary must match it:
//! `projects.csv` and `denials.csv` byte for byte, the first 1,000 `errors.csv` rows, and
//! the summary's totals per reason. `PERMTRAIL_SOAK_MB` changes the size.

use chrono::DateTime;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MAX_RECORD_BYTES: usize = 4096;
/// A fault (or a repeated trace id) after every this many good records.
const FAULT_EVERY: u64 = 150;
const PROJECTS: u64 = 64;
const USERS: u64 = 300;
const BASE_TIME_MS: u64 = 1_763_632_800_000;

/// splitmix64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What one kind of generated trace is, and what permtrail must make of it.
struct Kind {
    weight: u64,
    trace_name: &'static str,
    body: &'static str,
    code: u16,
    /// `(action, cause, missing_permission)` of a denial.
    denial: Option<(&'static str, &'static str, &'static str)>,
    classified: bool,
}

const KINDS: [Kind; 7] = [
    Kind {
        weight: 40,
        trace_name: "startServer",
        body: r#"{"os-start":null}"#,
        code: 200,
        denial: None,
        classified: true,
    },
    Kind {
        weight: 15,
        trace_name: "startServer",
        body: r#"{"os-start":null}"#,
        code: 403,
        denial: Some((
            "ecs:servers:start",
            "missing_dependency",
            "ecs:servers:list",
        )),
        classified: true,
    },
    Kind {
        weight: 10,
        trace_name: "startServer",
        body: r#"{"os-start":null}"#,
        code: 403,
        denial: Some(("ecs:servers:start", "missing_action", "ecs:servers:start")),
        classified: true,
    },
    Kind {
        weight: 5,
        trace_name: "startServer",
        body: r#"{"os-start":null}"#,
        code: 403,
        denial: Some((
            "ecs:servers:start",
            "undocumented_dependency",
            "ims:images:list",
        )),
        classified: true,
    },
    Kind {
        weight: 10,
        trace_name: "stopServer",
        body: r#"{"os-stop":{}}"#,
        code: 403,
        denial: Some(("ecs:servers:stop", "missing_dependency", "ecs:servers:get")),
        classified: true,
    },
    Kind {
        weight: 10,
        trace_name: "startServer",
        body: r#"{"os-start":null}"#,
        code: 500,
        denial: None,
        classified: true,
    },
    Kind {
        weight: 10,
        trace_name: "listWidgets",
        body: r#"{}"#,
        code: 200,
        denial: None,
        classified: false,
    },
];

#[derive(Default)]
struct ProjectTally {
    records: u64,
    classified: u64,
    allowed: u64,
    denied: u64,
    failed: u64,
    dependency_denials: u64,
    first: Option<u64>,
    last: Option<u64>,
}

#[derive(Default)]
struct DenialTally {
    calls: u64,
    users: BTreeSet<u64>,
    first: Option<u64>,
    last: Option<u64>,
}

fn widen(range: (&mut Option<u64>, &mut Option<u64>), t: u64) {
    *range.0 = Some(range.0.map_or(t, |f| f.min(t)));
    *range.1 = Some(range.1.map_or(t, |l| l.max(t)));
}

#[derive(Default)]
struct Tally {
    projects: BTreeMap<String, ProjectTally>,
    denials: BTreeMap<(String, &'static str, &'static str, &'static str), DenialTally>,
    causes: BTreeMap<&'static str, u64>,
    records: u64,
    duplicates: u64,
    unclassified: u64,
    /// Every unreadable record, in the order permtrail lists them (input, then line).
    faults: Vec<(String, u64, &'static str)>,
}

/// One good trace: its compact and pretty-printed text.
struct Trace {
    compact: String,
    pretty: String,
}

struct Generator {
    rng: Rng,
    tally: Tally,
    project_ids: Vec<String>,
    next_id: u64,
    since_fault: u64,
    fault_turn: u64,
    last: Option<Trace>,
}

/// What to write next.
enum Item {
    Good(Trace),
    /// A repeat of the previous good trace: counted once, as a duplicate.
    Repeat,
    Fault(Fault),
}

#[derive(Clone, Copy)]
enum Fault {
    Garbage,
    Truncated,
    NotAnObject,
    TooLong,
}

impl Generator {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        let project_ids = (0..PROJECTS)
            .map(|_| format!("{:016x}{:016x}", rng.next(), rng.next()))
            .collect();
        Generator {
            rng,
            tally: Tally::default(),
            project_ids,
            next_id: 0,
            since_fault: 0,
            fault_turn: 0,
            last: None,
        }
    }

    /// A trace with fields in the given shape; `pad` adds a long message (over-long records).
    fn render(&mut self, pad: usize) -> (Trace, usize, String, u64, u64) {
        let total: u64 = KINDS.iter().map(|k| k.weight).sum();
        let mut pick = self.rng.below(total);
        let kind = KINDS
            .iter()
            .position(|k| {
                if pick < k.weight {
                    true
                } else {
                    pick -= k.weight;
                    false
                }
            })
            .expect("weights cover the range");
        let k = &KINDS[kind];
        let project = self.project_ids[self.rng.below(PROJECTS) as usize].clone();
        let user = self.rng.below(USERS);
        let time = BASE_TIME_MS + self.rng.below(30 * 86_400_000);
        self.next_id += 1;
        let id = format!("soak-{:08}-{:016x}", self.next_id, self.rng.next());
        // Accepted type variants: numeric strings for code and time, now and then.
        let code = if self.rng.below(4) == 0 {
            format!("\"{}\"", k.code)
        } else {
            k.code.to_string()
        };
        let time_text = if self.rng.below(4) == 0 {
            format!("\"{time}\"")
        } else {
            time.to_string()
        };
        let response = match k.denial {
            Some((_, _, named)) => format!(
                r#"{{"forbidden":{{"message":"Policy doesn't allow {named} to be performed.","code":403}}}}"#
            ),
            None if k.code >= 400 => r#"{"error":"internal"}"#.to_string(),
            None => r#"{"status":"ok"}"#.to_string(),
        };
        let ip = format!(
            "10.{}.{}.{}",
            self.rng.below(256),
            self.rng.below(256),
            self.rng.below(256)
        );
        let padding = "x".repeat(pad);
        let fields = [
            ("trace_id", format!("\"{id}\"")),
            ("trace_name", format!("\"{}\"", k.trace_name)),
            ("trace_rating", "\"normal\"".to_string()),
            ("code", code),
            ("time", time_text),
            ("project_id", format!("\"{project}\"")),
            (
                "user",
                format!(r#"{{"name":"user-{user:03}","id":"{user:032x}"}}"#),
            ),
            ("request", k.body.to_string()),
            ("response", response),
            ("source_ip", format!("\"{ip}\"")),
            ("note", format!("\"{padding}\"")),
        ];
        let compact = format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let pretty = format!(
            "  {{\n{}\n  }}",
            fields
                .iter()
                .map(|(k, v)| format!("    \"{k}\": {v}"))
                .collect::<Vec<_>>()
                .join(",\n")
        );
        (Trace { compact, pretty }, kind, project, user, time)
    }

    fn good(&mut self) -> Trace {
        let pad = self.rng.below(64) as usize;
        let (trace, kind, project, user, time) = self.render(pad);
        let k = &KINDS[kind];
        let t = &mut self.tally;
        t.records += 1;
        let p = t.projects.entry(project.clone()).or_default();
        p.records += 1;
        widen((&mut p.first, &mut p.last), time);
        if k.classified {
            p.classified += 1;
            match (k.denial, k.code) {
                (Some((action, cause, missing)), _) => {
                    p.denied += 1;
                    if cause == "missing_dependency" {
                        p.dependency_denials += 1;
                    }
                    *t.causes.entry(cause).or_default() += 1;
                    let d = t
                        .denials
                        .entry((project, action, cause, missing))
                        .or_default();
                    d.calls += 1;
                    d.users.insert(user);
                    widen((&mut d.first, &mut d.last), time);
                }
                (None, code) if code < 400 => p.allowed += 1,
                (None, _) => p.failed += 1,
            }
        } else {
            t.unclassified += 1;
        }
        trace
    }

    /// The next item: mostly good traces, a fault or repeat every [`FAULT_EVERY`].
    fn item(&mut self, faults: &[Fault]) -> Item {
        self.since_fault += 1;
        if self.since_fault < FAULT_EVERY || self.last.is_none() {
            let trace = self.good();
            self.last = Some(Trace {
                compact: trace.compact.clone(),
                pretty: trace.pretty.clone(),
            });
            return Item::Good(trace);
        }
        self.since_fault = 0;
        self.fault_turn += 1;
        let turn = self.fault_turn as usize % (faults.len() + 1);
        if turn == faults.len() {
            self.tally.duplicates += 1;
            Item::Repeat
        } else {
            Item::Fault(faults[turn])
        }
    }

    /// An over-long record: a valid trace, never counted.
    fn too_long(&mut self) -> Trace {
        let pad = MAX_RECORD_BYTES + 1 + self.rng.below(20_000) as usize;
        // Rendering draws from the generator but tallies nothing.
        self.next_id += 1;
        self.render(pad).0
    }

    fn fault(&mut self, input: &str, line: u64, reason: &'static str) {
        self.tally.faults.push((input.to_string(), line, reason));
    }
}

/// Writes JSON lines until `target` bytes.
fn write_lines(g: &mut Generator, path: &Path, input: &str, target: u64) -> u64 {
    let mut w = BufWriter::new(fs::File::create(path).expect("create"));
    let (mut bytes, mut line) = (0u64, 0u64);
    let faults = [
        Fault::Garbage,
        Fault::Truncated,
        Fault::NotAnObject,
        Fault::TooLong,
    ];
    while bytes < target {
        line += 1;
        let text = match g.item(&faults) {
            Item::Good(t) => t.compact,
            Item::Repeat => g.last.as_ref().expect("a trace before").compact.clone(),
            Item::Fault(Fault::Garbage) => {
                g.fault(input, line, "invalid_json");
                r#"{"trace_id": "garbage", oops}"#.to_string()
            }
            Item::Fault(Fault::Truncated) => {
                g.fault(input, line, "invalid_json");
                let t = g.too_long().compact;
                t[..200].to_string()
            }
            Item::Fault(Fault::NotAnObject) => {
                g.fault(input, line, "not_an_object");
                "42".to_string()
            }
            Item::Fault(Fault::TooLong) => {
                g.fault(input, line, "record_too_long");
                g.too_long().compact
            }
        };
        w.write_all(text.as_bytes()).expect("write");
        w.write_all(b"\n").expect("write");
        bytes += text.len() as u64 + 1;
    }
    w.flush().expect("flush");
    bytes
}

/// Writes one JSON array until `target` bytes: one record per line (CTS, compact), or
/// pretty-printed records over many lines, or (`single_line`) all on line 1 without faults.
fn write_array(
    g: &mut Generator,
    out: &mut dyn Write,
    input: &str,
    target: u64,
    pretty: bool,
    single_line: bool,
) -> u64 {
    let mut bytes = 0u64;
    let mut line = 1u64;
    let emit = |out: &mut dyn Write, text: &str, bytes: &mut u64| {
        out.write_all(text.as_bytes()).expect("write");
        *bytes += text.len() as u64;
    };
    emit(out, "[", &mut bytes);
    let faults: &[Fault] = if single_line {
        &[]
    } else {
        &[Fault::Garbage, Fault::NotAnObject, Fault::TooLong]
    };
    let mut first = true;
    while bytes < target {
        let sep = match (first, single_line) {
            (true, true) => "",
            (false, true) => ",",
            (true, false) => "\n",
            (false, false) => ",\n",
        };
        first = false;
        if !single_line {
            line += 1;
        }
        let pick = |t: &Trace| {
            if pretty {
                t.pretty.clone()
            } else {
                t.compact.clone()
            }
        };
        let text = match g.item(faults) {
            Item::Good(t) => pick(&t),
            Item::Repeat => pick(g.last.as_ref().expect("a trace before")),
            Item::Fault(Fault::Garbage) => {
                g.fault(input, line, "invalid_json");
                // Balanced, so the array framing holds, but not JSON.
                r#"{"trace_id":"garbage","code":tru}"#.to_string()
            }
            Item::Fault(Fault::NotAnObject) => {
                g.fault(input, line, "not_an_object");
                "\"just a string, [not] {an} object\"".to_string()
            }
            Item::Fault(Fault::TooLong) => {
                g.fault(input, line, "record_too_long");
                let t = g.too_long();
                pick(&t)
            }
            Item::Fault(Fault::Truncated) => unreachable!("not injected into arrays"),
        };
        emit(out, sep, &mut bytes);
        emit(out, &text, &mut bytes);
        line += text.matches('\n').count() as u64;
    }
    emit(out, if single_line { "]\n" } else { "\n]\n" }, &mut bytes);
    bytes
}

fn time_text(ms: Option<u64>) -> String {
    ms.map(|ms| {
        DateTime::from_timestamp_millis(ms as i64)
            .expect("in range")
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    })
    .unwrap_or_default()
}

fn expected_projects(t: &Tally) -> String {
    let mut s = String::from(
        "project_id,records,classified,allowed,denied,failed,dependency_denials,unclassified,first_seen,last_seen,inferred_dependency_denials\n",
    );
    for (id, p) in &t.projects {
        s += &format!(
            "{id},{},{},{},{},{},{},{},{},{},0\n",
            p.records,
            p.classified,
            p.allowed,
            p.denied,
            p.failed,
            p.dependency_denials,
            p.records - p.classified,
            time_text(p.first),
            time_text(p.last)
        );
    }
    s
}

fn expected_denials(t: &Tally) -> String {
    let mut s = String::from(
        "project_id,action,cause,missing_permission,calls,users,first_seen,last_seen\n",
    );
    for ((project, action, cause, missing), d) in &t.denials {
        s += &format!(
            "{project},{action},{cause},{missing},{},{},{},{}\n",
            d.calls,
            d.users.len(),
            time_text(d.first),
            time_text(d.last)
        );
    }
    s
}

/// `name n, name n` after `prefix` on a summary line, as a map.
fn summary_counts(stderr: &str, prefix: &str) -> BTreeMap<String, u64> {
    let line = stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in the summary:\n{stderr}"));
    let line = line.split(" (").next().expect("split has a first part");
    line.split(", ")
        .map(|part| {
            let (name, n) = part.rsplit_once(' ').expect("`name count`");
            (name.to_string(), n.parse().expect("a count"))
        })
        .collect()
}

#[test]
fn soak_counts_match_the_generators_tally() {
    let megabytes: u64 = std::env::var("PERMTRAIL_SOAK_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let total = megabytes << 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let soak = dir.path().join("soak");
    fs::create_dir_all(&soak).expect("mkdir");
    let started = Instant::now();
    let mut g = Generator::new(0x005e_ed0f_5041);
    let mut written = 0u64;
    let mut index = 0;
    // Shares of the input: lines 50%, gzip line arrays 20%, pretty 20%, compact gzip 10%,
    // interleaved so each kind of file sits among the others in walk order.
    let plan: [(&str, u64, u64); 4] = [
        ("lines.jsonl", total / 2 / 6, 6),
        ("cts.json.gz", total / 5 / 40, 40),
        ("pretty.json", total / 5 / 4, 4),
        ("obs.json.gz", total / 10 / 40, 40),
    ];
    let rounds = plan.iter().map(|p| p.2).max().expect("plan");
    for round in 0..rounds {
        for &(suffix, size, files) in &plan {
            if round * files / rounds != (round + 1) * files / rounds {
                let name = format!("{index:04}-{suffix}");
                index += 1;
                let input = format!("soak/{name}");
                let path = soak.join(&name);
                written += match suffix {
                    "lines.jsonl" => write_lines(&mut g, &path, &input, size),
                    "pretty.json" => {
                        let mut w = BufWriter::new(fs::File::create(&path).expect("create"));
                        let n = write_array(&mut g, &mut w, &input, size, true, false);
                        w.flush().expect("flush");
                        n
                    }
                    _ => {
                        let file = BufWriter::new(fs::File::create(&path).expect("create"));
                        let mut gz = GzEncoder::new(file, Compression::fast());
                        let single = suffix == "obs.json.gz";
                        let n = write_array(&mut g, &mut gz, &input, size, false, single);
                        gz.finish().expect("gzip").flush().expect("flush");
                        n
                    }
                };
            }
        }
    }
    let generated = started.elapsed();
    let t = &g.tally;

    let out = dir.path().join("out");
    let err_path = dir.path().join("stderr.txt");
    let run_started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_permtrail"))
        .current_dir(dir.path())
        .args(["scan", "-o"])
        .arg(&out)
        .args(["--max-record-bytes", &MAX_RECORD_BYTES.to_string(), "soak"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            fs::File::create(&err_path).expect("stderr file"),
        ))
        .spawn()
        .expect("the binary runs");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if run_started.elapsed() > Duration::from_secs(900) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("soak run still going after 900 s: killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let ran = run_started.elapsed();
    let stderr = fs::read_to_string(&err_path).expect("stderr");
    eprintln!(
        "soak: {:.1} MB in {index} files, {} records, {} faults, {} repeats; generated in {:.1} s, scanned in {:.1} s",
        written as f64 / 1e6,
        t.records,
        t.faults.len(),
        t.duplicates,
        generated.as_secs_f64(),
        ran.as_secs_f64()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    let report = |name: &str| {
        fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{stderr}"))
    };

    // Per project: records, outcomes, times.
    same_as_tally(
        "projects.csv",
        &report("projects.csv"),
        &expected_projects(t),
        &stderr,
    );
    // Per project, action, cause and missing permission.
    same_as_tally(
        "denials.csv",
        &report("denials.csv"),
        &expected_denials(t),
        &stderr,
    );
    let denied: u64 = t.causes.values().sum();
    assert_eq!(
        report("denied_calls.csv").lines().count() as u64 - 1,
        denied,
        "denied_calls.csv rows"
    );

    // errors.csv: the first 1,000 unreadable records by input and line.
    let errors = report("errors.csv");
    let mut rdr = csv::Reader::from_reader(errors.as_bytes());
    let got: Vec<(String, u64, String)> = rdr
        .records()
        .map(|r| {
            let r = r.expect("csv");
            (
                r[0].to_string(),
                r[1].parse().expect("line"),
                r[2].to_string(),
            )
        })
        .collect();
    let want: Vec<(String, u64, String)> = t
        .faults
        .iter()
        .take(1000)
        .map(|(i, l, r)| (i.clone(), *l, r.to_string()))
        .collect();
    if megabytes >= 200 {
        assert!(t.faults.len() > 1000, "the soak should exceed the row cap");
    }
    if got != want {
        let first = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "errors.csv ({} rows) differs from the first 1,000 faults at row {first}: got {:?}, want {:?}",
            got.len(),
            got.get(first),
            want.get(first)
        );
    }

    // The summary: totals over all faults, records, duplicates, causes.
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, r) in &t.faults {
        *reasons.entry(r.to_string()).or_default() += 1;
    }
    assert_eq!(
        summary_counts(&stderr, "unreadable records: "),
        reasons,
        "summary's unreadable records\n{stderr}"
    );
    let records_line = format!(
        "records {}: classified {} (allowed {}, denied {denied}, failed {}), unclassified {}",
        t.records,
        t.records - t.unclassified,
        t.projects.values().map(|p| p.allowed).sum::<u64>(),
        t.projects.values().map(|p| p.failed).sum::<u64>(),
        t.unclassified
    );
    assert!(
        stderr.contains(&records_line),
        "want `{records_line}`\n{stderr}"
    );
    let not_counted = format!(
        "not counted: 0 of other services, {} repeated traces, 0 outside the time range, 0 other projects, {} unreadable",
        t.duplicates,
        t.faults.len()
    );
    assert!(
        stderr.contains(&not_counted),
        "want `{not_counted}`\n{stderr}"
    );
    let causes = summary_counts(&stderr, "denials by cause: ");
    for (cause, n) in causes {
        assert_eq!(
            n,
            t.causes.get(cause.as_str()).copied().unwrap_or(0),
            "denials by cause: {cause}\n{stderr}"
        );
    }
}

/// Fails with the first differing lines when a report is not what the tally predicts.
fn same_as_tally(name: &str, got: &str, want: &str, stderr: &str) {
    if got != want {
        let diff: Vec<_> = got
            .lines()
            .zip(want.lines())
            .filter(|(a, b)| a != b)
            .take(5)
            .collect();
        panic!(
            "{name} differs from the tally ({} vs {} lines); first differences (got, want): {diff:#?}\n{stderr}",
            got.lines().count(),
            want.lines().count()
        );
    }
}
