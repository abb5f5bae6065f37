//! End-to-end tests for access-log inputs (APIG, ELB, combined) and for the inference that
//! explains denials without a message: the real binary on `samples/access` and on small
//! inputs written here.

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const A: &str = "7d1e4b2a9c3f4e5d8a6b1c0d2e3f4a5b";
const P: &str = "0123456789abcdef0123456789abcdef";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scan(dir: &Path, out: &Path, extra: &[&str]) -> Output {
    let out = out.to_str().expect("utf-8 temp path");
    let mut args = vec!["scan", "-q", "-o", out];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_permtrail"))
        .current_dir(dir)
        .args(&args)
        .output()
        .expect("the binary runs")
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .replace("\r\n", "\n")
}

/// denials.csv rows of one project as `action,cause,missing,calls`.
fn denials(out: &Path, project: &str) -> Vec<String> {
    read(out, "denials.csv")
        .lines()
        .filter(|l| l.starts_with(project))
        .map(|l| l.split(',').skip(1).take(4).collect::<Vec<_>>().join(","))
        .collect()
}

fn ok(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A 54-field (or 53-field) APIG line for project `P`.
fn apig(fields: usize, time: &str, method: &str, path: &str, status: u16, code: &str) -> String {
    let mut f: Vec<String> = [
        "10.0.0.7",
        "req-x",
        "api-1",
        P,
        "-",
        time,
        "0.01",
        method,
        "https",
        "ecs.example.com",
        path,
        "HTTP/1.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    f.push(status.to_string());
    while f.len() < 52 {
        f.push("-".into());
    }
    f.push(code.into());
    f.push("-".into());
    if fields == 53 {
        f.remove(8);
    }
    f.join(" ")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

#[test]
fn samples_resolve_some_denials_and_leave_others_unknown() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let output = scan(&root(), tmp.path(), &["samples/access"]);
    ok(&output);
    let rows = denials(tmp.path(), A);
    // Evidence after the denial: the allowed volume-attachment call at 10:20 proves
    // ecs:serverVolumes:use, the os-volumes denial at 10:01 lacks the EVS dependencies.
    assert!(
        rows.contains(&"ecs:serverVolumes:use,inferred_missing_dependency,evs:volumes:create|evs:volumes:delete|evs:volumes:get|evs:volumes:list,1".to_string()),
        "{rows:#?}"
    );
    assert!(
        rows.iter().any(|r| r.contains(",gateway_denied,,1")),
        "{rows:#?}"
    );
    assert!(
        rows.contains(&"ecs:networks:list,unknown,,1".to_string()),
        "{rows:#?}"
    );
    let union = denials(tmp.path(), "e5b0c3d8f1a24b6c9d7e0f1a2b3c4d5e");
    assert!(
        union.contains(&"ecs:cloudServers:reboot|ecs:cloudServers:start|ecs:cloudServers:stop,inferred_missing_action,ecs:cloudServers:reboot|ecs:cloudServers:start|ecs:cloudServers:stop,1".to_string()),
        "{union:#?}"
    );
    let policies = read(tmp.path(), "policies_inferred.json");
    assert!(
        policies.contains(A) && policies.contains("evs:volumes:list"),
        "{policies}"
    );
    assert_eq!(read(tmp.path(), "policies.json").trim(), "{}");
    let projects = read(tmp.path(), "projects.csv");
    assert!(
        projects
            .lines()
            .any(|l| l.starts_with(A) && l.ends_with(",1")),
        "{projects}"
    );
    assert_eq!(read(tmp.path(), "errors.csv"), "input,line,reason\n");
}

#[test]
fn apig_field_counts_quotes_and_time_layouts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = format!("/v2.1/{P}/servers/s1/tags");
    let cases = [
        (
            54,
            "[20/Nov/2026:10:00:00 +0000]",
            "2026-11-20T10:00:00.000Z",
        ),
        (
            53,
            "[20/Nov/2026:11:00:01 +0100]",
            "2026-11-20T10:00:01.000Z",
        ),
        (
            54,
            "\"20/Nov/2026:10:00:02 +0000\"",
            "2026-11-20T10:00:02.000Z",
        ),
        (53, "20/Nov/2026:10:00:03 +0000", "2026-11-20T10:00:03.000Z"),
        (54, "2026-11-20T10:00:04Z", "2026-11-20T10:00:04.000Z"),
        (
            53,
            "\"2026-11-20T12:00:05+02:00\"",
            "2026-11-20T10:00:05.000Z",
        ),
    ];
    let text: String = cases
        .iter()
        .map(|(n, t, _)| apig(*n, t, "GET", &path, 403, "-") + "\n")
        .collect();
    fs::write(dir.path().join("a.log"), text).expect("written");
    let out = dir.path().join("out");
    ok(&scan(dir.path(), &out, &["a.log"]));
    let calls = read(&out, "denied_calls.csv");
    for (i, (n, _, want)) in cases.iter().enumerate() {
        let row = format!(
            "{want},{P},,10.0.0.7,GET,{path},,ecs:servers:getTags,unknown,,req-x,a.log:{}",
            i + 1
        );
        assert!(calls.contains(&row), "{n} fields: {row}\n{calls}");
    }
    assert_eq!(read(&out, "errors.csv"), "input,line,reason\n");
}

#[test]
fn gateway_code_is_not_an_ecs_policy_denial() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = format!("/v2.1/{P}/servers/s1/tags");
    let text = [
        apig(
            54,
            "[20/Nov/2026:10:00:00 +0000]",
            "GET",
            &path,
            403,
            "APIG.0302",
        ),
        apig(
            53,
            "[20/Nov/2026:10:00:01 +0000]",
            "GET",
            &path,
            403,
            "apigw.0302",
        ),
        apig(
            54,
            "[20/Nov/2026:10:00:02 +0000]",
            "GET",
            &path,
            401,
            "APIG.0301",
        ),
    ]
    .join("\n");
    fs::write(dir.path().join("a.log"), text).expect("written");
    let out = dir.path().join("out");
    ok(&scan(dir.path(), &out, &["a.log"]));
    assert_eq!(denials(&out, P), ["ecs:servers:getTags,gateway_denied,,2"]);
    let projects = read(&out, "projects.csv");
    assert!(projects.contains(&format!("{P},3,3,0,2,1,")), "{projects}");
}

#[test]
fn gzip_and_plain_access_logs_give_identical_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["apig.log", "elb.log"] {
        fs::copy(
            root().join("samples/access").join(name),
            dir.path().join(name),
        )
        .expect("copied");
    }
    let mut plain = Vec::new();
    GzDecoder::new(&fs::read(root().join("samples/access/combined.log.gz")).expect("sample")[..])
        .read_to_end(&mut plain)
        .expect("sample is gzip");
    fs::write(dir.path().join("combined.log.gz"), &plain).expect("written");
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    ok(&scan(dir.path(), &a, &["."]));
    ok(&scan(&root(), &b, &["samples/access"]));
    // Input names differ (`./x` vs `samples/access/x`); everything else must not.
    let norm = |out: &Path, name: &str| {
        read(out, name)
            .replace("samples/access/", "")
            .replace("./", "")
    };
    for name in [
        "denials.csv",
        "denied_calls.csv",
        "projects.csv",
        "actions.csv",
    ] {
        assert_eq!(norm(&a, name), norm(&b, name), "{name}");
    }
    let gz = gzip(&plain);
    fs::write(dir.path().join("combined.log.gz"), gz).expect("written");
    let c = dir.path().join("c");
    ok(&scan(dir.path(), &c, &["."]));
    assert_eq!(norm(&a, "denials.csv"), norm(&c, "denials.csv"));
}

#[test]
fn forced_format_that_does_not_fit_names_file_and_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = root();
    let output = scan(
        &dir,
        tmp.path(),
        &["--format", "apig", "samples/access/elb.log"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("samples/access/elb.log:1"), "{stderr}");
    assert!(stderr.contains("--format apig"), "{stderr}");
    let errors = read(tmp.path(), "errors.csv");
    assert!(
        errors.contains("samples/access/elb.log,1,format_mismatch"),
        "{errors}"
    );
    // The same file with the right forced format is read whole.
    let output = scan(
        &dir,
        tmp.path(),
        &["--format", "elb", "samples/access/elb.log"],
    );
    ok(&output);
    assert_eq!(read(tmp.path(), "errors.csv"), "input,line,reason\n");
    // Blank lines before the first record are skipped when checking.
    let blank = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "\n\n{}",
        fs::read_to_string(dir.join("samples/access/elb.log")).expect("sample")
    );
    fs::write(blank.path().join("e.log"), text).expect("written");
    let output = scan(
        blank.path(),
        &blank.path().join("out"),
        &["--format", "combined", "e.log"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("e.log:3"));
}

#[test]
fn a_line_that_fits_no_format_is_reported_and_the_rest_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = format!("/v2.1/{P}/servers/s1/tags");
    let text = format!(
        "{}\nthis is not a log line\n{}\n",
        apig(54, "[20/Nov/2026:10:00:00 +0000]", "GET", &path, 200, "-"),
        apig(53, "[20/Nov/2026:10:00:01 +0000]", "GET", &path, 200, "-"),
    );
    fs::write(dir.path().join("a.log"), &text).expect("written");
    let out = dir.path().join("out");
    ok(&scan(dir.path(), &out, &["a.log"]));
    assert_eq!(
        read(&out, "errors.csv"),
        "input,line,reason\na.log,2,invalid_access_line\n"
    );
    let forced = dir.path().join("forced");
    ok(&scan(dir.path(), &forced, &["--format", "apig", "a.log"]));
    assert_eq!(
        read(&forced, "errors.csv"),
        "input,line,reason\na.log,2,invalid_access_line\n"
    );
    assert!(read(&out, "projects.csv").contains(&format!("{P},2,2,2,0,")));
}

/// Writes combined-log lines for user `alice` and returns the denials of project `P`.
fn infer(lines: &[(&str, &str, u16)]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let text: String = lines
        .iter()
        .enumerate()
        .map(|(i, (method, path, status))| {
            format!(
                "10.0.0.1 - alice [20/Nov/2026:10:{:02}:00 +0000] \"{method} /v2.1/{P}{path} HTTP/1.1\" {status} 10 \"-\" \"curl/8\"\n",
                i
            )
        })
        .collect();
    fs::write(dir.path().join("c.log"), text).expect("written");
    let out = dir.path().join("out");
    ok(&scan(dir.path(), &out, &["c.log"]));
    denials(&out, P)
}

#[test]
fn inference_uses_evidence_before_and_after_the_denial() {
    let denied = ("GET", "/os-volumes", 403);
    // ecs:serverVolumeAttachments:get depends on ecs:serverVolumes:use, so it proves it.
    let proof = ("GET", "/servers/s1/os-volume_attachments/v1", 200);
    let dependency = "ecs:serverVolumes:use,inferred_missing_dependency,evs:volumes:create|evs:volumes:delete|evs:volumes:get|evs:volumes:list,1";
    assert_eq!(infer(&[denied]), ["ecs:serverVolumes:use,unknown,,1"]);
    assert_eq!(infer(&[proof, denied]), [dependency]);
    assert_eq!(infer(&[denied, proof]), [dependency]);
    // Another user's evidence does not count.
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "10.0.0.1 - alice [20/Nov/2026:10:00:00 +0000] \"GET /v2.1/{P}/os-volumes HTTP/1.1\" 403 0\n\
         10.0.0.2 - bob [20/Nov/2026:10:01:00 +0000] \"GET /v2.1/{P}/servers/s1/os-volume_attachments/v1 HTTP/1.1\" 200 0\n"
    );
    fs::write(dir.path().join("c.log"), text).expect("written");
    let out = dir.path().join("out");
    ok(&scan(dir.path(), &out, &["c.log"]));
    assert_eq!(denials(&out, P), ["ecs:serverVolumes:use,unknown,,1"]);
}

#[test]
fn inference_of_a_missing_action_and_of_candidates() {
    // ecs:servers:get proven through the tags call; setTags needs only ecs:servers:get.
    let rows = infer(&[
        ("DELETE", "/servers/s1/tags/env", 403),
        ("GET", "/servers/s1/tags", 200),
    ]);
    assert_eq!(
        rows,
        ["ecs:servers:setTags,inferred_missing_action,ecs:servers:setTags,1"]
    );
    // Held action and dependencies: the evidence contradicts the denial, nothing to infer.
    let rows = infer(&[
        ("GET", "/servers/s1/tags", 200),
        ("GET", "/servers/s1/tags", 403),
    ]);
    assert_eq!(rows, ["ecs:servers:getTags,unknown,,1"]);
}

#[test]
fn all_formats_mixed_in_one_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["cts-lines.jsonl", "gateway.jsonl", "cts-pretty.json"] {
        fs::copy(root().join("samples").join(name), dir.path().join(name)).expect("copied");
    }
    for name in ["apig.log", "elb.log", "combined.log.gz"] {
        fs::copy(
            root().join("samples/access").join(name),
            dir.path().join(name),
        )
        .expect("copied");
    }
    // One file mixing a JSON request line with access-log lines.
    let path = format!("/v2.1/{P}/servers/s1/tags");
    let mixed = format!(
        "{}\n{{\"method\": \"GET\", \"path\": \"{path}\", \"status\": 200, \"project_id\": \"{P}\"}}\n10.0.0.1 - - [20/Nov/2026:10:00:00 +0000] \"GET {path} HTTP/1.1\" 200 1\n",
        apig(54, "[20/Nov/2026:10:00:00 +0000]", "GET", &path, 200, "-"),
    );
    fs::write(dir.path().join("mixed.log"), mixed).expect("written");
    let out = dir.path().join("out");
    ok(&scan(dir.path(), &out, &["."]));
    assert_eq!(read(&out, "errors.csv"), "input,line,reason\n");
    let projects = read(&out, "projects.csv");
    for project in [
        P,
        A,
        "4f2a6c8e0b1d4f3a5c7e9b1d3f5a7c9e",
        "e5b0c3d8f1a24b6c9d7e0f1a2b3c4d5e",
        "0a3f9c2e7b5d4e6f8a1b2c3d4e5f6a7b",
    ] {
        assert!(projects.contains(project), "{project} missing:\n{projects}");
    }
    assert!(projects.contains(&format!("{P},3,3,3,0,")), "{projects}");
    let calls = read(&out, "denied_calls.csv");
    assert!(calls.contains("combined.log.gz:1"), "{calls}");
    assert!(calls.contains("gateway.jsonl:"), "{calls}");
}
