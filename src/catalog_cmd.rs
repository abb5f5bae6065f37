//! `permtrail catalog`: import, list, explain and diff permission catalogs. Each subcommand
//! is a function that returns its output as text, so tests call it without a process; `run`
//! only loads catalogs and prints. Reading, merging and compiling catalogs lives in
//! `catalog`; matching a request lives in `classify`, which `explain` calls rather than
//! imitates, so an explanation can never disagree with `scan`.

use crate::catalog::model::{Api, CatalogData, Condition, Scope};
use crate::catalog::{self, ActionId, Catalog};
use crate::classify;
use crate::cli::CatalogCommand;
use crate::parse::Record;
use crate::write_stdout;
use anyhow::{Context, bail};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Output formats of `catalog list` and `catalog diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// CSV with a header line (RFC 4180 quoting).
    Csv,
    /// Columns aligned with blanks, for reading; empty cells show as `-`.
    Table,
}

/// Runs one `catalog` subcommand; returns the exit code (0; errors are returned instead).
pub fn run(command: CatalogCommand) -> anyhow::Result<u8> {
    let text = match command {
        CatalogCommand::Import {
            inputs,
            revisions,
            out,
        } => {
            let text = import(&inputs, &revisions)?;
            if let Some(path) = out {
                std::fs::write(&path, text)
                    .with_context(|| format!("failed to write {}", path.display()))?;
                return Ok(0);
            }
            text
        }
        CatalogCommand::List { catalog, format } => list(&catalog::load(&catalog)?, format)?,
        CatalogCommand::Explain {
            method,
            path,
            body,
            action,
            transitive,
            catalog,
        } => {
            let catalog = catalog::load(&catalog)?;
            match (action, method, path) {
                (Some(action), _, _) => explain_action(&catalog, &action, transitive)?,
                (None, Some(method), Some(path)) => {
                    let explained = explain_request(&catalog, &method, &path, body.as_deref())?;
                    render_request(&catalog, &explained)
                }
                // clap requires METHOD and PATH unless --action is given.
                _ => bail!("expected METHOD and PATH, or --action"),
            }
        }
        CatalogCommand::Diff { a, b, format } => {
            let old = catalog::load(std::slice::from_ref(&a))?;
            let new = catalog::load(std::slice::from_ref(&b))?;
            render_diff(&diff(&old.data, &new.data), format)?
        }
    };
    write_stdout(text.as_bytes())?;
    Ok(0)
}

/// `catalog import`: reads `inputs` (revision label per input, the last one repeating,
/// default `current`), prints repair warnings to stderr and returns the catalog text.
pub fn import(inputs: &[PathBuf], revisions: &[String]) -> anyhow::Result<String> {
    let sources: Vec<catalog::ImportSource> = inputs
        .iter()
        .enumerate()
        .map(|(i, path)| catalog::ImportSource {
            path: path.clone(),
            revision: revisions
                .get(i)
                .or(revisions.last())
                .cloned()
                .unwrap_or_else(|| "current".into()),
        })
        .collect();
    let (data, warnings) = catalog::import(&sources)?;
    for w in &warnings {
        eprintln!("permtrail: warning: {w}");
    }
    Ok(catalog::text::write(&data))
}

/// One (method, path template, action) of a catalog, merged over the rows that list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The method and path template.
    pub api: Api,
    /// The action the rows name for that API.
    pub action: String,
    /// Unconditional dependencies in row order, then conditional ones spelled
    /// `condition:action` (`new_eip:vpc:publicIps:create`); no repeats.
    pub depends: Vec<String>,
    /// Supported unless a row says otherwise; `Unknown` when no row says.
    pub enterprise_project: Scope,
    /// Revision labels of the rows, in row order, without repeats.
    pub revisions: Vec<String>,
    /// `page:line` of every row listing this API with this action, in row order.
    pub sources: Vec<String>,
}

/// A conditional dependency as `list` and `diff` spell it.
fn conditional(condition: Condition, action: &str) -> String {
    format!("{}:{action}", condition.as_str())
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

/// The catalog's entries, sorted by (method, template, action), one per such triple.
pub fn entries(data: &CatalogData) -> Vec<Entry> {
    let mut by_key: BTreeMap<(&str, &str, &str), Entry> = BTreeMap::new();
    for row in &data.rows {
        for api in &row.apis {
            for action in &row.actions {
                let entry = by_key
                    .entry((&api.method, &api.template, action))
                    .or_insert_with(|| Entry {
                        api: api.clone(),
                        action: action.clone(),
                        depends: Vec::new(),
                        enterprise_project: Scope::Unknown,
                        revisions: Vec::new(),
                        sources: Vec::new(),
                    });
                for dep in &row.depends {
                    push_unique(&mut entry.depends, dep);
                }
                for (condition, deps) in &row.variants {
                    for dep in deps {
                        push_unique(&mut entry.depends, &conditional(*condition, dep));
                    }
                }
                // Same rule as the compiled catalog: one "not supported" row is enough.
                entry.enterprise_project = match (entry.enterprise_project, row.enterprise_project)
                {
                    (Scope::NotSupported, _) | (_, Scope::NotSupported) => Scope::NotSupported,
                    (Scope::Supported, _) | (_, Scope::Supported) => Scope::Supported,
                    _ => Scope::Unknown,
                };
                if !row.revision.is_empty() {
                    push_unique(&mut entry.revisions, &row.revision);
                }
                push_unique(&mut entry.sources, &row.source);
            }
        }
    }
    by_key.into_values().collect()
}

/// Writes `rows` under `header` as CSV or as an aligned table. Every row has as many cells
/// as the header.
fn render(format: OutputFormat, header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<String> {
    match format {
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(header)?;
            for row in rows {
                w.write_record(row)?;
            }
            let bytes = w.into_inner().context("failed to write CSV")?;
            Ok(String::from_utf8(bytes).context("CSV of UTF-8 cells is UTF-8")?)
        }
        OutputFormat::Table => {
            let cell = |c: &str| {
                if c.is_empty() {
                    "-".to_string()
                } else {
                    c.to_string()
                }
            };
            let lines: Vec<Vec<String>> =
                std::iter::once(header.iter().map(|h| h.to_string()).collect())
                    .chain(rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()))
                    .collect();
            let widths: Vec<usize> = (0..header.len())
                .map(|k| {
                    lines
                        .iter()
                        .map(|l| l[k].chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let mut out = String::new();
            for line in &lines {
                let mut text = String::new();
                for (k, c) in line.iter().enumerate() {
                    let _ = write!(text, "{c:<width$}  ", width = widths[k]);
                }
                out.push_str(text.trim_end());
                out.push('\n');
            }
            Ok(out)
        }
    }
}

/// `catalog list`: every entry of the catalog with dependencies (joined `|`), the body keys
/// that select the action on that path (empty where the path has one action, since a key
/// there chooses nothing), enterprise-project scope, revisions and sources.
pub fn list(catalog: &Catalog, format: OutputFormat) -> anyhow::Result<String> {
    let rows: Vec<Vec<String>> = entries(&catalog.data)
        .into_iter()
        .map(|e| {
            let shared = catalog
                .endpoints
                .iter()
                .any(|p| p.api == e.api && p.actions.len() > 1);
            let keys = match catalog.action_id(&e.action) {
                Some(id) if shared => catalog.actions[id as usize].body_keys.join("|"),
                _ => String::new(),
            };
            vec![
                e.api.method,
                e.api.template,
                e.action,
                e.depends.join("|"),
                keys,
                e.enterprise_project.as_str().to_string(),
                e.revisions.join("|"),
                e.sources.join("|"),
            ]
        })
        .collect();
    render(
        format,
        &[
            "method",
            "path",
            "action",
            "dependencies",
            "body_keys",
            "enterprise_project",
            "revision",
            "source",
        ],
        &rows,
    )
}

/// How `classify` read one request, with what explains its choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestExplanation {
    /// The method as given, upper-cased.
    pub method: String,
    /// The path as given, with scheme, host and query dropped.
    pub path: String,
    /// The template that matched, if any.
    pub template: Option<Api>,
    /// The project id found in the path.
    pub project: Option<String>,
    /// Every action of the matched template, sorted by id.
    pub candidates: Vec<ActionId>,
    /// Top-level keys of the request body.
    pub body_keys: Vec<String>,
    /// For a choice among several candidates: each chosen action and the key that chose it.
    pub chosen_by: Vec<(ActionId, String)>,
    /// A body key that selects none of the candidates (the request stays unclassified).
    pub unclaimed_key: Option<String>,
    /// What `classify` returns: the request's actions, sorted by id; empty if unclassified.
    pub actions: Vec<ActionId>,
    /// Templates matching the path under other methods, when the method matched none.
    pub other_methods: Vec<Api>,
}

/// Classifies a synthetic request of `method`, `path` and optional JSON `body` with
/// `classify::classify`, and collects what explains the result. Fails only on a body that
/// is not JSON.
pub fn explain_request(
    catalog: &Catalog,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<RequestExplanation> {
    let mut body_keys = Vec::new();
    if let Some(text) = body {
        let value: serde_json::Value =
            serde_json::from_str(text).with_context(|| format!("--body is not JSON: {text}"))?;
        if let serde_json::Value::Object(map) = value {
            body_keys = map.keys().cloned().collect();
        }
    }
    let record = Record {
        method: Some(Cow::Borrowed(method)),
        path: Some(Cow::Borrowed(path)),
        request: body.map(Cow::Borrowed),
        ..Record::default()
    };
    let call = classify::classify(catalog, &record);
    let stripped = classify::strip_url(path);
    let segs: Vec<&str> = catalog::compiled::segments(stripped).collect();
    let endpoint = catalog.match_path(method, &segs);
    let candidates = endpoint.map(|e| e.actions.clone()).unwrap_or_default();
    let chosen_by = if candidates.len() > 1 && call.actions.len() < candidates.len() {
        call.actions
            .iter()
            .filter_map(|id| {
                let keys = &catalog.actions[*id as usize].body_keys;
                body_keys
                    .iter()
                    .find(|k| keys.contains(k))
                    .map(|k| (*id, k.clone()))
            })
            .collect()
    } else {
        Vec::new()
    };
    let other_methods = if endpoint.is_none() {
        catalog
            .match_path_any_method(&segs)
            .into_iter()
            .map(|e| e.api.clone())
            .collect()
    } else {
        Vec::new()
    };
    Ok(RequestExplanation {
        method: method.to_ascii_uppercase(),
        path: stripped.to_string(),
        template: endpoint.map(|e| e.api.clone()),
        project: call.project.map(Cow::into_owned),
        candidates,
        body_keys,
        chosen_by,
        unclaimed_key: call.unclaimed_key,
        actions: call.actions,
        other_methods,
    })
}

/// Width of the label column of `explain` output; labels are at most one char shorter.
const LABEL: usize = 12;

fn labelled(out: &mut String, label: &str, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        let shown = if i == 0 { label } else { "" };
        let _ = writeln!(out, "{shown:<LABEL$}{v}");
    }
}

/// `values`, or a lone `-` when there are none (an empty dependency list is news too).
fn or_dash(values: Vec<String>) -> Vec<String> {
    if values.is_empty() {
        vec!["-".to_string()]
    } else {
        values
    }
}

/// An action's dependencies as classification uses them (merged over its rows, sorted),
/// conditional ones spelled `condition:action`.
fn action_depends(catalog: &Catalog, id: ActionId) -> Vec<(Option<Condition>, String)> {
    let info = &catalog.actions[id as usize];
    let mut deps: Vec<(Option<Condition>, String)> =
        info.depends.iter().map(|d| (None, d.clone())).collect();
    for (condition, list) in &info.variants {
        deps.extend(list.iter().map(|d| (Some(*condition), d.clone())));
    }
    deps
}

fn spelled(dep: &(Option<Condition>, String)) -> String {
    match dep.0 {
        Some(c) => conditional(c, &dep.1),
        None => dep.1.clone(),
    }
}

/// `page:line (revision) permission` of a row, for explanations.
fn row_line(catalog: &Catalog, index: usize) -> String {
    let row = &catalog.data.rows[index];
    let mut text = row.source.clone();
    if !row.revision.is_empty() {
        let _ = write!(text, " ({})", row.revision);
    }
    if !row.permission.is_empty() {
        let _ = write!(text, " {}", row.permission);
    }
    text
}

/// Renders a request explanation for people: the match, the choice, then per action its
/// source rows, dependencies and enterprise-project scope.
pub fn render_request(catalog: &Catalog, e: &RequestExplanation) -> String {
    let mut out = String::new();
    labelled(&mut out, "request", &[format!("{} {}", e.method, e.path)]);
    let Some(template) = &e.template else {
        labelled(
            &mut out,
            "result",
            &["unclassified: no API of the catalog matches".into()],
        );
        let others: Vec<String> = e.other_methods.iter().map(Api::to_string).collect();
        labelled(&mut out, "only under", &others);
        return out;
    };
    labelled(&mut out, "template", &[template.to_string()]);
    if let Some(project) = &e.project {
        labelled(&mut out, "project", std::slice::from_ref(project));
    }
    let candidates: Vec<String> = e
        .candidates
        .iter()
        .map(|id| {
            let keys = &catalog.actions[*id as usize].body_keys;
            if e.candidates.len() > 1 && !keys.is_empty() {
                format!("{} (body key {})", catalog.name(*id), keys.join("|"))
            } else {
                catalog.name(*id).to_string()
            }
        })
        .collect();
    labelled(&mut out, "candidates", &candidates);
    let keyed = e
        .candidates
        .iter()
        .any(|id| !catalog.actions[*id as usize].body_keys.is_empty());
    // Unkeyed candidates are one row's actions, all needed: no body key has a say there.
    if e.candidates.len() > 1 && keyed {
        let choice: Vec<String> = if let Some(key) = &e.unclaimed_key {
            vec![format!("`{key}` selects none of the candidates")]
        } else if !e.chosen_by.is_empty() {
            e.chosen_by
                .iter()
                .map(|(id, key)| format!("`{key}` -> {}", catalog.name(*id)))
                .collect()
        } else if e.body_keys.is_empty() {
            vec!["no body: every candidate is kept".into()]
        } else {
            vec!["no body key decides: every candidate is kept".into()]
        };
        labelled(&mut out, "body key", &choice);
    }
    let result: Vec<String> = if e.actions.is_empty() {
        vec!["unclassified".into()]
    } else {
        e.actions
            .iter()
            .map(|id| catalog.name(*id).to_string())
            .collect()
    };
    labelled(&mut out, "result", &result);
    for id in &e.actions {
        let info = &catalog.actions[*id as usize];
        let _ = writeln!(out, "\n{}", info.name);
        let rows: Vec<String> = info
            .rows
            .iter()
            .filter(|i| catalog.data.rows[**i].apis.contains(template))
            .map(|i| row_line(catalog, *i))
            .collect();
        labelled(&mut out, "  row", &rows);
        let deps: Vec<String> = action_depends(catalog, *id).iter().map(spelled).collect();
        labelled(&mut out, "  depends", &or_dash(deps));
        if info.enterprise_project != Scope::Unknown {
            labelled(
                &mut out,
                "  scope",
                &[format!(
                    "enterprise project {}",
                    info.enterprise_project.as_str()
                )],
            );
        }
    }
    out
}

/// What a node of a dependency closure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosureNote {
    /// A catalog action, expanded here: its dependencies follow one level deeper.
    Action,
    /// Not an action of the catalog (another service, or an action no row lists): a leaf.
    Other,
    /// A catalog action already expanded earlier in the closure.
    Repeated,
    /// A catalog action being expanded above this node: following it would loop.
    Cycle,
}

/// One dependency in a closure, as listed depth first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosureNode {
    /// 1 for a direct dependency, 2 for a dependency of one, and so on.
    pub depth: usize,
    /// The dependency's action name.
    pub name: String,
    /// The condition under which the parent needs it, if any.
    pub condition: Option<Condition>,
    /// Whether it was expanded, and if not, why.
    pub note: ClosureNote,
}

/// The transitive dependencies of `id`, depth first; siblings in name order, conditional
/// ones after the others (the compiled catalog's order). Each catalog action is expanded
/// once; a cycle ends at the action that closes it, so the result is always finite.
pub fn closure(catalog: &Catalog, id: ActionId) -> Vec<ClosureNode> {
    fn visit(
        catalog: &Catalog,
        id: ActionId,
        depth: usize,
        stack: &mut Vec<ActionId>,
        done: &mut HashSet<ActionId>,
        out: &mut Vec<ClosureNode>,
    ) {
        for (condition, name) in action_depends(catalog, id) {
            let target = catalog.action_id(&name);
            let note = match target {
                None => ClosureNote::Other,
                Some(d) if stack.contains(&d) => ClosureNote::Cycle,
                Some(d) if done.contains(&d) => ClosureNote::Repeated,
                Some(_) => ClosureNote::Action,
            };
            out.push(ClosureNode {
                depth,
                name,
                condition,
                note,
            });
            if let (ClosureNote::Action, Some(d)) = (note, target) {
                stack.push(d);
                visit(catalog, d, depth + 1, stack, done, out);
                stack.pop();
                done.insert(d);
            }
        }
    }
    let mut out = Vec::new();
    visit(
        catalog,
        id,
        1,
        &mut vec![id],
        &mut HashSet::from([id]),
        &mut out,
    );
    out
}

/// `catalog explain --action`: the action's rows, dependencies (with `transitive`, its
/// closure as a tree plus the flat set) and the rows that list it as a dependency. Fails
/// when the catalog knows the name neither as an action nor as a dependency.
pub fn explain_action(catalog: &Catalog, name: &str, transitive: bool) -> anyhow::Result<String> {
    let needed_by: Vec<String> = catalog
        .data
        .rows
        .iter()
        .filter_map(|row| {
            let plain = row.depends.iter().any(|d| d == name);
            let condition = row
                .variants
                .iter()
                .find(|(_, list)| list.iter().any(|d| d == name))
                .map(|(c, _)| *c);
            if !plain && condition.is_none() {
                return None;
            }
            let when = match (plain, condition) {
                (false, Some(c)) => format!(" [{}]", c.as_str()),
                _ => String::new(),
            };
            Some(format!("{} ({}){when}", row.actions.join(" "), row.source))
        })
        .collect();
    let id = catalog.action_id(name);
    if id.is_none() && needed_by.is_empty() {
        bail!("`{name}` is neither an action nor a dependency in the catalog");
    }
    let mut out = String::new();
    labelled(&mut out, "action", &[name.to_string()]);
    match id {
        None => labelled(
            &mut out,
            "rows",
            &["none: no row lists it as its action".into()],
        ),
        Some(id) => {
            let info = &catalog.actions[id as usize];
            let rows: Vec<String> = info
                .rows
                .iter()
                .map(|i| {
                    let apis: Vec<String> = catalog.data.rows[*i]
                        .apis
                        .iter()
                        .map(Api::to_string)
                        .collect();
                    format!("{}: {}", row_line(catalog, *i), apis.join(", "))
                })
                .collect();
            labelled(&mut out, "rows", &rows);
            if info.enterprise_project != Scope::Unknown {
                labelled(
                    &mut out,
                    "scope",
                    &[format!(
                        "enterprise project {}",
                        info.enterprise_project.as_str()
                    )],
                );
            }
            if !info.body_keys.is_empty() {
                labelled(&mut out, "body keys", &[info.body_keys.join("|")]);
            }
            let deps: Vec<String> = if transitive {
                closure(catalog, id)
                    .iter()
                    .map(|n| {
                        let mut text = format!("{}{}", "  ".repeat(n.depth - 1), n.name);
                        if let Some(c) = n.condition {
                            let _ = write!(text, " [{}]", c.as_str());
                        }
                        match n.note {
                            ClosureNote::Repeated => text.push_str(" (expanded above)"),
                            ClosureNote::Cycle => text.push_str(" (cycle)"),
                            ClosureNote::Action | ClosureNote::Other => {}
                        }
                        text
                    })
                    .collect()
            } else {
                action_depends(catalog, id).iter().map(spelled).collect()
            };
            let label = if transitive { "closure" } else { "depends" };
            labelled(&mut out, label, &or_dash(deps));
            if transitive {
                let all: BTreeSet<String> = closure(catalog, id)
                    .into_iter()
                    .map(|n| n.name)
                    .filter(|n| n != name)
                    .collect();
                let all: Vec<String> = all.into_iter().collect();
                labelled(&mut out, "all", &[format!("{} actions", all.len())]);
                labelled(&mut out, "", &all);
            }
        }
    }
    if !needed_by.is_empty() {
        labelled(&mut out, "needed by", &needed_by);
    }
    Ok(out)
}

/// Kind of a `catalog diff` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Only in the second catalog.
    Added,
    /// Only in the first catalog.
    Removed,
    /// In both, with different dependency sets.
    Changed,
}

impl Change {
    /// The spelling in diff output.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }
}

/// One difference between two catalogs. Invariant: `depends_a` is empty when added,
/// `depends_b` when removed; both are in `Entry::depends` spelling and order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// Added, removed or changed.
    pub change: Change,
    /// The method and path template of the entry.
    pub api: Api,
    /// The action of the entry.
    pub action: String,
    /// Dependencies in the first catalog.
    pub depends_a: Vec<String>,
    /// Dependencies in the second catalog.
    pub depends_b: Vec<String>,
}

/// The entries added, removed or changed from `a` to `b`, sorted by (method, template,
/// action). Dependencies compare as sets: a reordered cell is no change. Revisions, sources
/// and scopes are not compared (two revisions always differ there).
pub fn diff(a: &CatalogData, b: &CatalogData) -> Vec<DiffLine> {
    let key = |e: &Entry| (e.api.clone(), e.action.clone());
    let old: BTreeMap<(Api, String), Entry> =
        entries(a).into_iter().map(|e| (key(&e), e)).collect();
    let new: BTreeMap<(Api, String), Entry> =
        entries(b).into_iter().map(|e| (key(&e), e)).collect();
    let keys: BTreeSet<&(Api, String)> = old.keys().chain(new.keys()).collect();
    let set = |deps: &[String]| -> BTreeSet<String> { deps.iter().cloned().collect() };
    keys.into_iter()
        .filter_map(|k| {
            let (change, depends_a, depends_b) = match (old.get(k), new.get(k)) {
                (None, Some(n)) => (Change::Added, Vec::new(), n.depends.clone()),
                (Some(o), None) => (Change::Removed, o.depends.clone(), Vec::new()),
                (Some(o), Some(n)) if set(&o.depends) != set(&n.depends) => {
                    (Change::Changed, o.depends.clone(), n.depends.clone())
                }
                _ => return None,
            };
            Some(DiffLine {
                change,
                api: k.0.clone(),
                action: k.1.clone(),
                depends_a,
                depends_b,
            })
        })
        .collect()
}

/// `catalog diff` output: columns `change,method,path,action,dependencies_a,dependencies_b`.
pub fn render_diff(lines: &[DiffLine], format: OutputFormat) -> anyhow::Result<String> {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|d| {
            vec![
                d.change.as_str().to_string(),
                d.api.method.clone(),
                d.api.template.clone(),
                d.action.clone(),
                d.depends_a.join("|"),
                d.depends_b.join("|"),
            ]
        })
        .collect();
    render(
        format,
        &[
            "change",
            "method",
            "path",
            "action",
            "dependencies_a",
            "dependencies_b",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::text;

    fn compile(text: &str) -> Catalog {
        let data = text::parse("t.catalog", text).expect("valid test catalog");
        Catalog::compile(data).expect("compiles")
    }

    const SMALL: &str = "\
row s.rst:1
  revision current
  permission Stopping
  api POST /v2/{project_id}/servers/{server_id}/action
  api POST /v2.1/{project_id}/servers/{server_id}/action
  action ecs:servers:stop
  depends ecs:servers:list
  depends ecs:servers:get
  enterprise_project not_supported
row s.rst:2
  api POST /v2.1/{project_id}/servers/{server_id}/action
  action ecs:servers:start
row s.rst:3
  api GET /v2.1/{project_id}/servers/{server_id}
  action ecs:servers:get
  depends ecs:servers:list
row s.rst:4
  api POST /v1/{project_id}/cloudservers
  action ecs:cloudServers:createServers
  depends.new_eip vpc:publicIps:create
  depends.existing_eip vpc:publicIps:update
row s.rst:5
  api GET /v1/{project_id}/cloudservers/{server_id}/block_device/{volume_id}
  action ecs:cloudServers:get ecs:cloudServers:showServerBlockDevice
body ecs:servers:stop os-stop
body ecs:servers:start os-start
";

    const PROJECT: &str = "0123456789abcdef0123456789abcdef";

    fn names(c: &Catalog, ids: &[ActionId]) -> Vec<String> {
        ids.iter().map(|id| c.name(*id).to_string()).collect()
    }

    #[test]
    fn entries_merge_rows_and_spell_conditions() {
        let c = compile(SMALL);
        let all = entries(&c.data);
        let keys: Vec<(&str, &str, &str)> = all
            .iter()
            .map(|e| {
                (
                    e.api.method.as_str(),
                    e.api.template.as_str(),
                    e.action.as_str(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(keys.len(), 7);
        let create = all
            .iter()
            .find(|e| e.action == "ecs:cloudServers:createServers")
            .expect("listed");
        assert_eq!(
            create.depends,
            [
                "new_eip:vpc:publicIps:create",
                "existing_eip:vpc:publicIps:update"
            ]
        );
        let stop = all
            .iter()
            .find(|e| e.action == "ecs:servers:stop")
            .expect("listed");
        assert_eq!(stop.depends, ["ecs:servers:list", "ecs:servers:get"]);
        assert_eq!(stop.enterprise_project, Scope::NotSupported);
        assert_eq!(stop.revisions, ["current"]);
    }

    #[test]
    fn list_shows_body_keys_only_where_they_choose() {
        let c = compile(SMALL);
        let csv = list(&c, OutputFormat::Csv).expect("lists");
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "method,path,action,dependencies,body_keys,enterprise_project,revision,source"
        );
        assert_eq!(lines.len(), 8);
        assert!(csv.contains(
            "POST,/v2.1/{project_id}/servers/{server_id}/action,ecs:servers:stop,ecs:servers:list|ecs:servers:get,os-stop,not_supported,current,s.rst:1\n"
        ));
        // /v2 and /v2.1 are one API for matching, so on /v2 too the key chooses.
        assert!(csv.contains(
            "POST,/v2/{project_id}/servers/{server_id}/action,ecs:servers:stop,ecs:servers:list|ecs:servers:get,os-stop,not_supported,current,s.rst:1\n"
        ));
        let mut sorted = lines[1..].to_vec();
        sorted.sort();
        assert_eq!(sorted, lines[1..]);
    }

    #[test]
    fn table_columns_are_aligned() {
        let text = render(
            OutputFormat::Table,
            &["a", "bb"],
            &[
                vec!["xyz".into(), String::new()],
                vec!["é".into(), "1".into()],
            ],
        )
        .expect("renders");
        assert_eq!(text, "a    bb\nxyz  -\né    1\n");
    }

    #[test]
    fn explain_request_follows_classify() {
        let c = compile(SMALL);
        let path = format!("/v2.1/{PROJECT}/servers/srv-1/action?x=1");
        let e = explain_request(&c, "post", &path, Some(r#"{"os-stop": {}}"#)).expect("explains");
        assert_eq!(
            e.template.as_ref().map(Api::to_string).as_deref(),
            Some("POST /v2.1/{project_id}/servers/{server_id}/action")
        );
        assert_eq!(e.project.as_deref(), Some(PROJECT));
        assert_eq!(
            names(&c, &e.candidates),
            ["ecs:servers:start", "ecs:servers:stop"]
        );
        assert_eq!(names(&c, &e.actions), ["ecs:servers:stop"]);
        assert_eq!(e.chosen_by.len(), 1);
        assert_eq!(e.chosen_by[0].1, "os-stop");
        let shown = render_request(&c, &e);
        assert!(
            shown.contains("body key    `os-stop` -> ecs:servers:stop\n"),
            "{shown}"
        );
        assert!(
            shown.contains("  row       s.rst:1 (current) Stopping\n"),
            "{shown}"
        );
        assert!(
            shown.contains("  depends   ecs:servers:get\n            ecs:servers:list\n"),
            "{shown}"
        );

        let e = explain_request(&c, "POST", &path, None).expect("explains");
        assert_eq!(
            names(&c, &e.actions),
            ["ecs:servers:start", "ecs:servers:stop"]
        );
        assert!(render_request(&c, &e).contains("no body: every candidate is kept"));

        let e = explain_request(&c, "POST", &path, Some(r#"{"confirmResize": null}"#))
            .expect("explains");
        assert!(e.actions.is_empty());
        assert_eq!(e.unclaimed_key.as_deref(), Some("confirmResize"));
        assert!(render_request(&c, &e).contains("result      unclassified\n"));

        let e = explain_request(&c, "DELETE", &path, None).expect("explains");
        assert!(e.template.is_none());
        assert_eq!(e.other_methods.len(), 1);
        assert!(render_request(&c, &e).contains("only under  POST /v2.1/"));

        assert!(explain_request(&c, "POST", &path, Some("{not json")).is_err());
    }

    #[test]
    fn explain_request_keeps_both_actions_of_one_row() {
        let c = compile(SMALL);
        let path = format!("/v1/{PROJECT}/cloudservers/srv-1/block_device/vol-1");
        let e = explain_request(&c, "GET", &path, None).expect("explains");
        assert_eq!(
            names(&c, &e.actions),
            [
                "ecs:cloudServers:get",
                "ecs:cloudServers:showServerBlockDevice"
            ]
        );
        assert!(e.chosen_by.is_empty());
    }

    #[test]
    fn closure_expands_catalog_actions_once_and_stops_at_cycles() {
        let c = compile(
            "row a:1\n  api GET /a\n  action x:a:a\n  depends x:b:b\n  depends x:c:c\n\
row a:2\n  api GET /b\n  action x:b:b\n  depends x:a:a\n  depends x:c:c\n  depends vpc:ports:get\n\
row a:3\n  api GET /c\n  action x:c:c\n  depends.new_eip vpc:publicIps:create\n",
        );
        let id = c.action_id("x:a:a").expect("known");
        let nodes: Vec<(usize, String, ClosureNote)> = closure(&c, id)
            .into_iter()
            .map(|n| (n.depth, n.name, n.note))
            .collect();
        let want = [
            (1, "x:b:b", ClosureNote::Action),
            (2, "vpc:ports:get", ClosureNote::Other),
            (2, "x:a:a", ClosureNote::Cycle),
            (2, "x:c:c", ClosureNote::Action),
            (3, "vpc:publicIps:create", ClosureNote::Other),
            (1, "x:c:c", ClosureNote::Repeated),
        ];
        let want: Vec<(usize, String, ClosureNote)> = want
            .iter()
            .map(|(d, n, note)| (*d, n.to_string(), *note))
            .collect();
        assert_eq!(nodes, want);
        let shown = explain_action(&c, "x:a:a", true).expect("explains");
        assert!(
            shown.contains("      vpc:publicIps:create [new_eip]\n"),
            "{shown}"
        );
        assert!(shown.contains("(cycle)"), "{shown}");
        assert!(shown.contains("all         4 actions\n"), "{shown}");
    }

    #[test]
    fn explain_action_lists_rows_and_dependents() {
        let c = compile(SMALL);
        let shown = explain_action(&c, "ecs:servers:stop", false).expect("explains");
        assert!(
            shown.starts_with(
                "action      ecs:servers:stop\nrows        s.rst:1 (current) Stopping: POST /v2/"
            ),
            "{shown}"
        );
        assert!(
            shown.contains("depends     ecs:servers:get\n            ecs:servers:list\n"),
            "{shown}"
        );
        let shown = explain_action(&c, "ecs:servers:list", false).expect("a dependency only");
        assert!(shown.contains("rows        none"), "{shown}");
        assert!(
            shown.contains(
                "needed by   ecs:servers:stop (s.rst:1)\n            ecs:servers:get (s.rst:3)\n"
            ),
            "{shown}"
        );
        let shown =
            explain_action(&c, "vpc:publicIps:create", false).expect("a conditional dependency");
        assert!(
            shown.contains("ecs:cloudServers:createServers (s.rst:4) [new_eip]"),
            "{shown}"
        );
        assert!(explain_action(&c, "ecs:nothing:here", false).is_err());
    }

    #[test]
    fn diff_reports_added_removed_and_changed_dependency_sets() {
        let old = compile(SMALL);
        let new_text = SMALL
            .replace("  depends ecs:servers:get\n  enterprise", "  enterprise")
            .replace("row s.rst:2\n  api POST /v2.1/", "row s.rst:2\n  api POST /v2/")
            .replace("  depends.existing_eip vpc:publicIps:update\n", "  depends.new_eip vpc:publicIps:create\n  depends.existing_eip vpc:publicIps:update\n");
        let new = compile(&new_text);
        let lines = diff(&old.data, &new.data);
        let csv = render_diff(&lines, OutputFormat::Csv).expect("renders");
        assert_eq!(
            csv,
            "change,method,path,action,dependencies_a,dependencies_b\n\
removed,POST,/v2.1/{project_id}/servers/{server_id}/action,ecs:servers:start,,\n\
changed,POST,/v2.1/{project_id}/servers/{server_id}/action,ecs:servers:stop,ecs:servers:list|ecs:servers:get,ecs:servers:list\n\
added,POST,/v2/{project_id}/servers/{server_id}/action,ecs:servers:start,,\n\
changed,POST,/v2/{project_id}/servers/{server_id}/action,ecs:servers:stop,ecs:servers:list|ecs:servers:get,ecs:servers:list\n"
        );
        assert!(diff(&old.data, &old.data).is_empty());
    }
}
