//! The catalog's own text format: a person can read and edit it, and `write` / `parse`
//! round-trip exactly. Reading RST pages lives in `rst`; matching lives in `compiled`.
//!
//! ```text
//! # comment
//! description ECS permissions, current revision
//!
//! row ecs_status_management.rst:14
//!   revision current
//!   permission Starting an ECS (native OpenStack API)
//!   api POST /v2/{project_id}/servers/{server_id}/action
//!   action ecs:servers:start
//!   depends ecs:servers:list
//!   depends.new_eip vpc:publicIps:create
//!   iam_project supported
//!   enterprise_project not_supported
//!
//! body ecs:servers:start os-start
//! trace startServer batch ecs:cloudServers:start
//! trace startServer single ecs:servers:start
//! trace deleteServer fixed ecs:cloudServers:deleteServers ecs:servers:delete
//! trace operateServer api POST /v2.1/{project_id}/servers/{server_id}/action
//! ```
//! Indented lines belong to the `row` above them; unindented lines start a new item.

use super::model::{Api, CatalogData, Condition, Row, Scope, TraceRule, is_action};
use std::fmt::Write as _;

/// A catalog file that cannot be read, with the place that is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    /// The file as the user named it (or a label such as `catalog` for compiled data).
    pub file: String,
    /// 1-based line; 0 when the error concerns the whole catalog.
    pub line: usize,
    /// 1-based column in chars; 0 when unknown (then not shown).
    pub column: usize,
    /// What is wrong, for people.
    pub message: String,
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for CatalogError {}

/// Parses one `METHOD /path` API line; the method is upper-cased.
pub fn parse_api(text: &str) -> Option<Api> {
    let mut parts = text.split_whitespace();
    let method = parts.next()?;
    let template = parts.next()?;
    if parts.next().is_some()
        || !method.bytes().all(|b| b.is_ascii_alphabetic())
        || !template.starts_with('/')
    {
        return None;
    }
    Some(Api {
        method: method.to_ascii_uppercase(),
        template: template.to_string(),
    })
}

/// Parses a catalog in the text format; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<CatalogData, CatalogError> {
    let mut data = CatalogData::default();
    let err = |line: usize, message: String| CatalogError {
        file: file.to_string(),
        line,
        column: 0,
        message,
    };
    let actions = |line: usize, words: &[&str]| -> Result<Vec<String>, CatalogError> {
        if words.is_empty() {
            return Err(err(line, "expected at least one action".into()));
        }
        words
            .iter()
            .map(|w| {
                if is_action(w) {
                    Ok(w.to_string())
                } else {
                    Err(err(
                        line,
                        format!("`{w}` is not an action (service:resource:operation)"),
                    ))
                }
            })
            .collect()
    };
    let mut row: Option<(usize, Row)> = None;
    let finish = |row: Option<(usize, Row)>, data: &mut CatalogData| -> Result<(), CatalogError> {
        if let Some((line, row)) = row {
            if row.apis.is_empty() {
                return Err(err(line, "row has no `api` line".into()));
            }
            if row.actions.is_empty() {
                return Err(err(line, "row has no `action` line".into()));
            }
            data.rows.push(row);
        }
        Ok(())
    };
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (keyword, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        let rest = rest.trim();
        let indented = raw.starts_with([' ', '\t']);
        if indented {
            let Some((_, current)) = row.as_mut() else {
                return Err(err(line, "indented line outside a `row`".into()));
            };
            match keyword {
                "revision" => current.revision = rest.to_string(),
                "permission" => current.permission = rest.to_string(),
                "api" => {
                    let api = parse_api(rest).ok_or_else(|| {
                        err(line, format!("expected `METHOD /path`, got `{rest}`"))
                    })?;
                    if !current.apis.contains(&api) {
                        current.apis.push(api);
                    }
                }
                "action" => {
                    for a in actions(line, &rest.split_whitespace().collect::<Vec<_>>())? {
                        if !current.actions.contains(&a) {
                            current.actions.push(a);
                        }
                    }
                }
                "depends" => current
                    .depends
                    .extend(actions(line, &rest.split_whitespace().collect::<Vec<_>>())?),
                "iam_project" | "enterprise_project" => {
                    let scope = Scope::parse(rest)
                        .ok_or_else(|| err(line, format!("unknown scope `{rest}`")))?;
                    if keyword == "iam_project" {
                        current.iam_project = scope;
                    } else {
                        current.enterprise_project = scope;
                    }
                }
                other => {
                    let condition = other
                        .strip_prefix("depends.")
                        .and_then(Condition::parse)
                        .ok_or_else(|| err(line, format!("unknown row field `{other}`")))?;
                    let deps = actions(line, &rest.split_whitespace().collect::<Vec<_>>())?;
                    match current.variants.iter_mut().find(|(c, _)| *c == condition) {
                        Some((_, list)) => list.extend(deps),
                        None => current.variants.push((condition, deps)),
                    }
                }
            }
            continue;
        }
        finish(row.take(), &mut data)?;
        let words: Vec<&str> = rest.split_whitespace().collect();
        match keyword {
            "description" => data.description = rest.to_string(),
            "row" => {
                row = Some((
                    line,
                    Row {
                        source: rest.to_string(),
                        ..Row::default()
                    },
                ))
            }
            "body" => match words.as_slice() {
                [action, key] if is_action(action) => {
                    data.body_keys.push((action.to_string(), key.to_string()))
                }
                _ => return Err(err(line, "expected `body <action> <key>`".into())),
            },
            "trace" => {
                let (name, kind, tail) = match words.as_slice() {
                    [name, kind, tail @ ..] => (*name, *kind, tail),
                    _ => return Err(err(line, "expected `trace <name> <kind> ...`".into())),
                };
                let rule = match kind {
                    "fixed" => TraceRule::Fixed(actions(line, tail)?),
                    "batch" => TraceRule::Batch(actions(line, tail)?),
                    "single" => TraceRule::Single(actions(line, tail)?),
                    "api" => TraceRule::Api(
                        parse_api(&tail.join(" "))
                            .ok_or_else(|| err(line, "expected `api METHOD /path`".into()))?,
                    ),
                    other => {
                        return Err(err(
                            line,
                            format!("unknown trace rule `{other}` (fixed, batch, single, api)"),
                        ));
                    }
                };
                data.trace_rules.push((name.to_string(), rule));
            }
            other => return Err(err(line, format!("unknown item `{other}`"))),
        }
    }
    finish(row.take(), &mut data)?;
    Ok(data)
}

/// Writes a catalog in the text format; `parse(write(c)) == c` for every valid catalog.
pub fn write(data: &CatalogData) -> String {
    let mut out = String::new();
    out.push_str("# permtrail catalog: permission rows, then body keys and trace-name rules.\n");
    if !data.description.is_empty() {
        let _ = writeln!(out, "description {}", data.description);
    }
    for row in &data.rows {
        let _ = writeln!(out, "\nrow {}", row.source);
        if !row.revision.is_empty() {
            let _ = writeln!(out, "  revision {}", row.revision);
        }
        if !row.permission.is_empty() {
            let _ = writeln!(out, "  permission {}", row.permission);
        }
        for api in &row.apis {
            let _ = writeln!(out, "  api {api}");
        }
        for action in &row.actions {
            let _ = writeln!(out, "  action {action}");
        }
        for dep in &row.depends {
            let _ = writeln!(out, "  depends {dep}");
        }
        for (condition, deps) in &row.variants {
            for dep in deps {
                let _ = writeln!(out, "  depends.{} {dep}", condition.as_str());
            }
        }
        if row.iam_project != Scope::Unknown {
            let _ = writeln!(out, "  iam_project {}", row.iam_project.as_str());
        }
        if row.enterprise_project != Scope::Unknown {
            let _ = writeln!(
                out,
                "  enterprise_project {}",
                row.enterprise_project.as_str()
            );
        }
    }
    if !data.body_keys.is_empty() {
        out.push('\n');
        for (action, key) in &data.body_keys {
            let _ = writeln!(out, "body {action} {key}");
        }
    }
    if !data.trace_rules.is_empty() {
        out.push('\n');
        for (name, rule) in &data.trace_rules {
            let _ = match rule {
                TraceRule::Fixed(a) => writeln!(out, "trace {name} fixed {}", a.join(" ")),
                TraceRule::Batch(a) => writeln!(out, "trace {name} batch {}", a.join(" ")),
                TraceRule::Single(a) => writeln!(out, "trace {name} single {}", a.join(" ")),
                TraceRule::Api(api) => writeln!(out, "trace {name} api {api}"),
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "description test\n\
row a.rst:3\n  revision current\n  permission Creating ECSs\n  api POST /v1/{project_id}/cloudservers\n  action ecs:cloudServers:createServers\n  depends.new_eip vpc:publicIps:create\n  depends.existing_eip vpc:publicIps:update\n  enterprise_project supported\n\
row a.rst:9\n  api GET /v1/{project_id}/cloudservers/{server_id}/block_device/{volume_id}\n  action ecs:cloudServers:get ecs:cloudServers:showServerBlockDevice\n\
body ecs:cloudServers:createServers server\n\
trace startServer batch ecs:cloudServers:start\n\
trace operateServer api POST /v2.1/{project_id}/servers/{server_id}/action\n";

    #[test]
    fn parses_and_round_trips() {
        let data = parse("t.catalog", SAMPLE).expect("valid sample");
        assert_eq!(data.rows.len(), 2);
        assert_eq!(data.rows[0].variants.len(), 2);
        assert_eq!(data.rows[0].enterprise_project, Scope::Supported);
        assert_eq!(data.rows[1].actions.len(), 2);
        assert_eq!(data.trace_rules.len(), 2);
        let again = parse("t.catalog", &write(&data)).expect("written catalog parses");
        assert_eq!(again, data);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("x.catalog", "row a:1\n  api GET /x\n  action nope\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().starts_with("x.catalog:3:"), "{e}");
        let e = parse("x.catalog", "row a:1\n  action ecs:a:b\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (1, "row has no `api` line"));
        let e = parse("x.catalog", "  api GET /x\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("x.catalog", "trace x wild ecs:a:b\n").unwrap_err();
        assert!(e.message.contains("unknown trace rule"), "{e}");
    }
}
