//! Catalog tests: `--catalog` on `scan`, the `permtrail catalog` subcommands, and the
//! built-in catalog checked against its source pages and its own rows. Tests that read the
//! reference pages (`../shared/reference`, or `$PERMTRAIL_REFERENCE`) skip with a notice
//! when they are absent, as in a fresh clone.

use permtrail::catalog::model::{Api, CatalogData};
use permtrail::catalog::{self, Catalog, text};
use permtrail::catalog_cmd::explain_request;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";

/// A native stop of one server, denied for `ecs:servers:get`.
const STOP_DENIED_FOR_GET: &str = r#"{"method":"POST","path":"/v2.1/0123456789abcdef0123456789abcdef/servers/s1/action","status":403,"request":{"os-stop":{}},"response":{"forbidden":{"message":"Policy doesn't allow ecs:servers:get to be performed.","code":403}},"user_name":"u"}"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/catalog").join(name)
}

/// The reference directory, or `None` (after saying so) when it is not there.
fn reference() -> Option<PathBuf> {
    let root = std::env::var("PERMTRAIL_REFERENCE")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference").into());
    let root = PathBuf::from(root);
    if root.join("ecs-permission-pages").is_dir() && root.join("seed").is_dir() {
        Some(root)
    } else {
        eprintln!("skipping: reference pages {} not found", root.display());
        None
    }
}

fn seed(reference: &Path) -> PathBuf {
    reference.join("seed/000_e421c603b8e18766.txt")
}

fn permtrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_permtrail"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn stdout_of(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

/// Scans one JSONL record with `catalog_args` and returns the denials' cause column.
fn denial_causes(catalog_args: &[&str]) -> Vec<String> {
    let tmp = tempfile::tempdir().expect("temp dir");
    let input = tmp.path().join("calls.jsonl");
    fs::write(&input, format!("{STOP_DENIED_FOR_GET}\n")).expect("input written");
    let out = tmp.path().join("report");
    let mut args = vec!["scan", "-q", "-o", path_arg(&out)];
    args.extend_from_slice(catalog_args);
    args.push(path_arg(&input));
    let output = permtrail(&args);
    stdout_of(&output);
    let mut reader = csv::Reader::from_path(out.join("denials.csv")).expect("denials.csv");
    let cause = reader
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "cause")
        .expect("a cause column");
    reader
        .records()
        .map(|r| r.expect("a CSV record")[cause].to_string())
        .collect()
}

#[test]
fn seed_catalog_turns_a_documented_dependency_into_an_undocumented_one() {
    assert_eq!(denial_causes(&[]), ["missing_dependency"]);
    let Some(reference) = reference() else { return };
    // The seed revision: stop depends on ecs:servers:list only.
    let seed = seed(&reference);
    assert_eq!(
        denial_causes(&["--catalog", path_arg(&seed)]),
        ["undocumented_dependency"]
    );
    // A directory of pages works too, and the current pages document the dependency.
    let pages = reference.join("ecs-permission-pages");
    assert_eq!(
        denial_causes(&["--catalog", path_arg(&pages)]),
        ["missing_dependency"]
    );
}

#[test]
fn text_catalog_is_detected_by_content_and_repeatable() {
    let own = fixture("stop-only.catalog");
    assert_eq!(
        denial_causes(&["--catalog", path_arg(&own)]),
        ["undocumented_dependency"]
    );
    // Earlier wins row by row; the built-in row also lists stop on both paths with the
    // same action, so it is covered and dropped.
    let builtin = root().join("catalog/ecs.catalog");
    assert_eq!(
        denial_causes(&["--catalog", path_arg(&own), "--catalog", path_arg(&builtin)]),
        ["undocumented_dependency"]
    );
    assert_eq!(
        denial_causes(&["--catalog", path_arg(&builtin), "--catalog", path_arg(&own)]),
        ["missing_dependency"]
    );
}

#[test]
fn malformed_catalogs_fail_with_file_and_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let input = tmp.path().join("calls.jsonl");
    fs::write(&input, format!("{STOP_DENIED_FOR_GET}\n")).expect("input written");
    let cases = [
        (fixture("ragged.rst"), "ragged.rst:11:19: `|` at column 19"),
        (
            fixture("bad.catalog"),
            "bad.catalog:6: `stop-the-server` is not an action",
        ),
    ];
    for (catalog, want) in &cases {
        let out = tmp.path().join("report");
        let scan = permtrail(&[
            "scan",
            "-q",
            "-o",
            path_arg(&out),
            "--catalog",
            path_arg(catalog),
            path_arg(&input),
        ]);
        let list = permtrail(&["catalog", "list", "--catalog", path_arg(catalog)]);
        for output in [scan, list] {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains(want), "`{want}` not in: {stderr}");
            assert!(output.stdout.is_empty());
        }
        assert!(!out.exists(), "no reports from a run without a catalog");
    }
    let empty = tempfile::tempdir().expect("temp dir");
    let output = permtrail(&["catalog", "list", "--catalog", path_arg(empty.path())]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no permission rows"));
}

#[test]
fn import_reproduces_the_builtin_catalog() {
    let Some(reference) = reference() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("ecs.catalog");
    let output = permtrail(&[
        "catalog",
        "import",
        path_arg(&reference.join("ecs-permission-pages")),
        path_arg(&reference.join("seed")),
        "--revision",
        "current",
        "--revision",
        "seed",
        "-o",
        path_arg(&out),
    ]);
    stdout_of(&output);
    let imported = fs::read_to_string(&out).expect("imported catalog");
    // Not assert_eq on the whole text: a one-line drift should show as one line.
    let builtin = catalog::BUILTIN_ROWS;
    for (n, (a, b)) in imported.lines().zip(builtin.lines()).enumerate() {
        assert_eq!(
            a,
            b,
            "catalog/ecs.catalog line {} differs from its pages",
            n + 1
        );
    }
    assert_eq!(
        imported, builtin,
        "catalog/ecs.catalog differs from its pages"
    );
}

/// Rows counted without the reader: every `+-` border closes a row except each table's top
/// border, and each table has one `+=` header separator.
fn border_count(path: &Path) -> usize {
    let files: Vec<PathBuf> = if path.is_dir() {
        fs::read_dir(path)
            .expect("readable dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "rst" || e == "txt"))
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    files
        .iter()
        .map(|f| {
            let text = fs::read_to_string(f).expect("readable page");
            let starts = |p: &str| {
                text.lines()
                    .filter(|l| l.trim_start().starts_with(p))
                    .count()
            };
            starts("+-") - starts("+=")
        })
        .sum()
}

#[test]
fn pages_import_to_91_rows_and_the_seed_to_11() {
    let Some(reference) = reference() else { return };
    for (input, rows) in [
        (reference.join("ecs-permission-pages"), 91),
        (seed(&reference), 11),
    ] {
        let text = stdout_of(&permtrail(&["catalog", "import", path_arg(&input)]));
        let imported = text.lines().filter(|l| l.starts_with("row ")).count();
        assert_eq!(imported, rows, "{}", input.display());
        assert_eq!(border_count(&input), rows, "{}", input.display());
    }
}

/// A concrete path for a template: `{project_id}` becomes a project id, other parameters
/// ids like `server-1` (never a literal segment of any template).
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some("project_id") => PROJECT.to_string(),
                Some(name) => format!("{}-1", name.trim_end_matches("_id")),
                None => s.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn builtin() -> Catalog {
    catalog::builtin().expect("the built-in catalog compiles")
}

fn rules() -> CatalogData {
    text::parse("rules.catalog", catalog::BUILTIN_RULES).expect("built-in rules parse")
}

/// Classifies `method path` with an optional body through `catalog explain`'s own function
/// (which calls `classify`); returns the action names.
fn actions_of(c: &Catalog, api: &Api, path: &str, body: Option<&str>) -> Vec<String> {
    let e = explain_request(c, &api.method, path, body).expect("valid body");
    if api.template.contains("{project_id}") && !e.actions.is_empty() {
        assert_eq!(e.project.as_deref(), Some(PROJECT), "{api}");
    }
    e.actions.iter().map(|id| c.name(*id).to_string()).collect()
}

/// The request that should select `row`'s actions on `api`: a body with the action's key
/// when other rows share the API (they need the key to tell apart), none otherwise.
fn request_for(data: &CatalogData, rules: &CatalogData, row: usize, api: &Api) -> Option<String> {
    let sharing: BTreeSet<&String> = data
        .rows
        .iter()
        .filter(|r| r.apis.contains(api))
        .flat_map(|r| r.actions.iter())
        .collect();
    let own = &data.rows[row].actions;
    if sharing.len() == own.len() {
        return None;
    }
    assert_eq!(own.len(), 1, "a shared path's row names one action: {api}");
    let key = rules
        .body_keys
        .iter()
        .find(|(a, _)| *a == own[0])
        .map(|(_, k)| k)
        .unwrap_or_else(|| panic!("{} shares {api} but has no body key", own[0]));
    Some(format!(r#"{{"{key}": {{}}}}"#))
}

/// `/v2` paths of `/v2.1` rows that do not classify like the `/v2.1` path. Matching treats
/// `/v2` and `/v2.1` as one API, so even the resize row (which lists `/v2.1` twice, a
/// documentation typo) and `remote-consoles` (listed under `/v2.1` only) classify: the
/// list must stay empty.
const KNOWN_V2_GAPS: [&str; 0] = [];

#[test]
fn every_builtin_row_classifies_to_its_actions() {
    let c = builtin();
    let rules = rules();
    let mut checked = 0;
    let mut v2_gaps = Vec::new();
    for (index, row) in c.data.rows.iter().enumerate() {
        let mut want: Vec<String> = row.actions.clone();
        want.sort();
        for api in &row.apis {
            let body = request_for(&c.data, &rules, index, api);
            let got = actions_of(&c, api, &concrete(&api.template), body.as_deref());
            assert_eq!(got, want, "{} {api} body {body:?}", row.source);
            checked += 1;
            if let Some(rest) = api.template.strip_prefix("/v2.1/") {
                let v2 = Api {
                    method: api.method.clone(),
                    template: format!("/v2/{rest}"),
                };
                let got = actions_of(&c, &v2, &concrete(&v2.template), body.as_deref());
                if got != want {
                    v2_gaps.push(format!("{} {v2} {}", row.source, want.join(" ")));
                }
            }
        }
    }
    assert!(checked >= 140, "only {checked} APIs checked");
    assert_eq!(v2_gaps, KNOWN_V2_GAPS);
}

#[test]
fn rows_with_two_actions_keep_both_as_candidates() {
    let c = builtin();
    let api = Api {
        method: "GET".into(),
        template: "/v1/{project_id}/cloudservers/{server_id}/block_device/{volume_id}".into(),
    };
    assert_eq!(
        actions_of(&c, &api, &concrete(&api.template), None),
        [
            "ecs:cloudServers:get",
            "ecs:cloudServers:showServerBlockDevice"
        ]
    );
}

#[test]
fn every_body_key_selects_its_action() {
    let c = builtin();
    for (action, key) in rules().body_keys {
        let id = c
            .action_id(&action)
            .expect("a body key names a catalog action");
        let shared: Vec<&Api> = c
            .endpoints
            .iter()
            .filter(|e| e.actions.len() > 1 && e.actions.contains(&id))
            .map(|e| &e.api)
            .collect();
        assert!(!shared.is_empty(), "{action} `{key}` is on no shared path");
        for api in shared {
            let body = format!(r#"{{"{key}": null}}"#);
            let got = actions_of(&c, api, &concrete(&api.template), Some(&body));
            assert_eq!(got, [action.as_str()], "{api} `{key}`");
        }
    }
}

#[test]
fn diff_of_seed_and_current_shows_the_stop_change() {
    let Some(reference) = reference() else { return };
    let text = stdout_of(&permtrail(&[
        "catalog",
        "diff",
        path_arg(&reference.join("seed")),
        path_arg(&reference.join("ecs-permission-pages")),
    ]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "change,method,path,action,dependencies_a,dependencies_b"
    );
    for want in [
        "changed,POST,/v2.1/{project_id}/servers/{server_id}/action,ecs:servers:stop,ecs:servers:list,ecs:servers:list|ecs:servers:get",
        "added,POST,/v1/{project_id}/cloudservers/{server_id}/migrate,ecs:cloudServers:migrate,,",
        "removed,POST,/v1/{project_id}/cloudservers/{server_id}/changeos,ecs:cloudServers:changeOS,,",
    ] {
        assert!(lines.contains(&want), "`{want}` not in:\n{text}");
    }
    let keys: Vec<(&str, &str, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let mut f = l.split(',').skip(1);
            (
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        keys, sorted,
        "diff lines are sorted by method, path, action"
    );
    // Same catalog on both sides: only the header.
    let seed = path_arg(&seed(&reference)).to_string();
    let same = stdout_of(&permtrail(&["catalog", "diff", &seed, &seed]));
    assert_eq!(same.lines().count(), 1, "{same}");
}

#[test]
fn list_has_one_line_per_api_and_action() {
    let c = builtin();
    let entries: BTreeSet<(String, String, String)> = c
        .data
        .rows
        .iter()
        .flat_map(|r| {
            r.apis.iter().flat_map(move |a| {
                r.actions
                    .iter()
                    .map(move |x| (a.method.clone(), a.template.clone(), x.clone()))
            })
        })
        .collect();
    let text = stdout_of(&permtrail(&["catalog", "list"]));
    assert_eq!(text.lines().count(), entries.len() + 1);
    assert!(text.contains(
        "POST,/v1/{project_id}/cloudservers,ecs:cloudServers:createServers,new_eip:vpc:publicIps:create|existing_eip:vpc:publicIps:update,"
    ), "{text}");
    assert!(text.contains(
        "POST,/v2.1/{project_id}/servers/{server_id}/action,ecs:servers:stop,ecs:servers:list|ecs:servers:get,os-stop,not_supported,current,ecs_status_management.rst:23\n"
    ), "{text}");
    let table = stdout_of(&permtrail(&["catalog", "list", "--format", "table"]));
    assert_eq!(table.lines().count(), entries.len() + 1);
    let at = |line: &str| line.find("ecs:").expect("an action column");
    let columns: BTreeSet<usize> = table.lines().skip(1).map(at).collect();
    assert_eq!(columns.len(), 1, "the action column is aligned");
}

#[test]
fn explain_names_template_key_rows_and_dependencies() {
    let path = format!("/v2.1/{PROJECT}/servers/srv-1/action");
    let text = stdout_of(&permtrail(&[
        "catalog",
        "explain",
        "POST",
        &path,
        "--body",
        r#"{"os-stop": {}}"#,
    ]));
    for want in [
        "template    POST /v2.1/{project_id}/servers/{server_id}/action\n",
        "body key    `os-stop` -> ecs:servers:stop\n",
        "result      ecs:servers:stop\n",
        "  row       ecs_status_management.rst:23 (current) Stopping an ECS (native OpenStack API)\n",
        "  depends   ecs:servers:get\n            ecs:servers:list\n",
    ] {
        assert!(text.contains(want), "`{want}` not in:\n{text}");
    }
    let text = stdout_of(&permtrail(&[
        "catalog",
        "explain",
        "--action",
        "ecs:servers:stop",
        "--transitive",
    ]));
    assert!(text.contains("closure     ecs:servers:get\n"), "{text}");
    assert!(text.contains("(cycle)"), "{text}");
    let output = permtrail(&["catalog", "explain", "--action", "ecs:no:such"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`ecs:no:such`"));
    let output = permtrail(&["catalog", "explain", "POST", &path, "--body", "{"]);
    assert_eq!(output.status.code(), Some(1));
}
