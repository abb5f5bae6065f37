//! The catalog: which IAM action(s) an ECS API call or CTS trace is, and what each action
//! depends on. `model` is the data, `text` its file format, `rst` the reader of the
//! official permission pages, `compiled` the lookup tables built once at start-up;
//! `builtin` is the catalog shipped in the binary, `import` / `load` read catalogs from
//! files (either format, detected by content) and merge them. Matching requests is
//! `classify`'s job, the `permtrail catalog` subcommands live in `catalog_cmd`.

pub mod compiled;
pub mod model;
pub mod rst;
pub mod text;

pub use compiled::{ActionId, Catalog, EipUse};

use anyhow::Context;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The permission rows shipped in the binary (see the file's header for their source).
pub const BUILTIN_ROWS: &str = include_str!("../../catalog/ecs.catalog");
/// The project's own body-key and trace-name rules, attached to any catalog's rows.
pub const BUILTIN_RULES: &str = include_str!("../../catalog/rules.catalog");

/// Adds the built-in rules to `data` when it has none of its own, keeping only rules whose
/// actions the data has (so a smaller catalog still compiles).
pub fn with_builtin_rules(mut data: model::CatalogData) -> model::CatalogData {
    if !data.body_keys.is_empty() || !data.trace_rules.is_empty() {
        return data;
    }
    let rules = text::parse("rules.catalog", BUILTIN_RULES).expect("built-in rules are valid");
    let known: HashSet<&str> = data
        .rows
        .iter()
        .flat_map(|r| r.actions.iter().map(String::as_str))
        .collect();
    let apis: HashSet<&model::Api> = data.rows.iter().flat_map(|r| r.apis.iter()).collect();
    let body_keys = rules
        .body_keys
        .into_iter()
        .filter(|(a, _)| known.contains(a.as_str()))
        .collect();
    let trace_rules = rules
        .trace_rules
        .into_iter()
        .filter(|(_, rule)| match rule {
            model::TraceRule::Fixed(a)
            | model::TraceRule::Batch(a)
            | model::TraceRule::Single(a) => a.iter().all(|a| known.contains(a.as_str())),
            model::TraceRule::Api(api) => apis.contains(api),
        })
        .collect();
    data.body_keys = body_keys;
    data.trace_rules = trace_rules;
    data
}

/// The built-in catalog, compiled. Fails only if the shipped data is broken (a test
/// guards against that).
pub fn builtin() -> Result<Catalog, text::CatalogError> {
    let data = text::parse("ecs.catalog", BUILTIN_ROWS)?;
    Catalog::compile(with_builtin_rules(data))
}

/// Revision label of rows read from permission pages by `load` (`--catalog`): a page does
/// not say which documentation revision it is, so it gets this neutral label.
pub const LOADED_REVISION: &str = "imported";

/// The two formats a catalog file can be in, told apart by content, not by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// The permtrail text format (`text`): `row` / `description` / `body` / `trace` items.
    Text,
    /// Official permission pages: reStructuredText grid tables (`rst`).
    Pages,
}

/// Tells a catalog file's format from its text. A line opening with `+-`, `+=` or `|`
/// (after blanks) belongs to a grid table, so pages; otherwise an unindented `row`,
/// `description`, `body` or `trace` item means the text format; anything else reads as a
/// page without tables.
pub fn detect(text: &str) -> InputFormat {
    let mut items = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("+-") || trimmed.starts_with("+=") || trimmed.starts_with('|') {
            return InputFormat::Pages;
        }
        let keyword = line.split_whitespace().next().unwrap_or("");
        items |= !line.starts_with(char::is_whitespace)
            && matches!(keyword, "row" | "description" | "body" | "trace");
    }
    if items {
        InputFormat::Text
    } else {
        InputFormat::Pages
    }
}

/// One input of an import: a catalog file, a page, or a directory of them, and the revision
/// label its pages' rows get (rows of text-format files keep their own).
#[derive(Debug, Clone)]
pub struct ImportSource {
    /// A file or directory; a directory stands for its `.rst`, `.txt`, `.catalog` files.
    pub path: PathBuf,
    /// Revision label for rows read from pages, e.g. `current` or `seed`.
    pub revision: String,
}

/// The files a source stands for: itself, or a directory's `.rst`, `.txt` and `.catalog`
/// files (not recursive) in name order, so the merge order never depends on the file system.
fn source_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let failed = || format!("failed to read {}", path.display());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).with_context(failed)? {
        let file = entry.with_context(failed)?.path();
        let wanted = file
            .extension()
            .is_some_and(|e| e == "rst" || e == "txt" || e == "catalog");
        if wanted && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// One file's contents in the format `detect` finds, plus the page reader's repair warnings.
fn read_file(
    path: &Path,
    revision: &str,
) -> anyhow::Result<(InputFormat, model::CatalogData, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let shown = path.display().to_string();
    let format = detect(&text);
    match format {
        InputFormat::Text => Ok((format, text::parse(&shown, &text)?, Vec::new())),
        InputFormat::Pages => {
            // `Row::source` names the page by file name only, so a catalog does not depend
            // on where the pages were checked out; errors name the path the user gave.
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let page = rst::read_page(&name, &text, revision)
                .map_err(|e| text::CatalogError { file: shown, ..e })?;
            let data = model::CatalogData {
                rows: page.rows,
                ..model::CatalogData::default()
            };
            Ok((format, data, page.warnings))
        }
    }
}

/// Reads catalog inputs (text-format files, permission pages, directories of either; each
/// file's format detected by content) into one catalog. Earlier sources win: a later row is
/// dropped when every API it lists already maps to the same actions. Body keys and trace
/// rules of text-format inputs are kept in input order without repeats. A source that brings
/// neither rows nor rules is an error, so a wrong path never passes as an empty catalog.
/// Returns the catalog and the repairs made, as `file:line: message` warnings.
pub fn import(sources: &[ImportSource]) -> anyhow::Result<(model::CatalogData, Vec<String>)> {
    let mut data = model::CatalogData::default();
    let mut warnings = Vec::new();
    let mut known: HashSet<(model::Api, Vec<String>)> = HashSet::new();
    let mut labels = Vec::new();
    for source in sources {
        let mut added = Vec::new();
        let mut pages = false;
        let mut brought = false;
        for file in source_files(&source.path)? {
            let (format, part, notes) = read_file(&file, &source.revision)?;
            pages |= format == InputFormat::Pages;
            brought |=
                !part.rows.is_empty() || !part.body_keys.is_empty() || !part.trace_rules.is_empty();
            warnings.extend(notes);
            // Within one source every row counts (a page may list an API twice on purpose,
            // e.g. under two permission titles); only earlier sources can cover a row.
            for row in part.rows {
                let covered = row
                    .apis
                    .iter()
                    .all(|api| known.contains(&(api.clone(), row.actions.clone())));
                if !covered {
                    added.push(row);
                    continue;
                }
                // The current pages dropped the scope columns an older revision had; a scope
                // is assumed unchanged until a page says otherwise, so fill the gaps.
                for earlier in data.rows.iter_mut().filter(|r| {
                    r.actions == row.actions && r.apis.iter().any(|a| row.apis.contains(a))
                }) {
                    let mut filled = false;
                    if earlier.iam_project == model::Scope::Unknown
                        && row.iam_project != model::Scope::Unknown
                    {
                        earlier.iam_project = row.iam_project;
                        filled = true;
                    }
                    if earlier.enterprise_project == model::Scope::Unknown
                        && row.enterprise_project != model::Scope::Unknown
                    {
                        earlier.enterprise_project = row.enterprise_project;
                        filled = true;
                    }
                    if filled {
                        warnings.push(format!(
                            "{}: scope columns taken from {}",
                            earlier.source, row.source
                        ));
                    }
                }
            }
            for key in part.body_keys {
                if !data.body_keys.contains(&key) {
                    data.body_keys.push(key);
                }
            }
            for rule in part.trace_rules {
                if !data.trace_rules.contains(&rule) {
                    data.trace_rules.push(rule);
                }
            }
        }
        if !brought {
            anyhow::bail!(
                "{}: no permission rows or rules found (neither RST grid tables nor permtrail catalog items)",
                source.path.display()
            );
        }
        for row in &added {
            for api in &row.apis {
                known.insert((api.clone(), row.actions.clone()));
            }
        }
        data.rows.extend(added);
        let name = source
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.path.display().to_string());
        labels.push(if pages {
            format!("{} ({})", name, source.revision)
        } else {
            name
        });
    }
    data.description = format!("imported from {}", labels.join(", then "));
    Ok((data, warnings))
}

/// The catalog data `load` compiles: the built-in rows and rules when `paths` is empty,
/// otherwise `import` of the paths in order (pages labelled `LOADED_REVISION`, repair
/// warnings dropped: `catalog import` shows them) with the built-in rules attached when the
/// inputs bring none. Fails when the inputs hold no permission row.
pub fn load_data(paths: &[PathBuf]) -> anyhow::Result<model::CatalogData> {
    if paths.is_empty() {
        return Ok(with_builtin_rules(text::parse(
            "ecs.catalog",
            BUILTIN_ROWS,
        )?));
    }
    let sources: Vec<ImportSource> = paths
        .iter()
        .map(|path| ImportSource {
            path: path.clone(),
            revision: LOADED_REVISION.to_string(),
        })
        .collect();
    let (data, _repairs) = import(&sources)?;
    if data.rows.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!("no permission rows in {}", shown.join(", "));
    }
    Ok(with_builtin_rules(data))
}

/// Loads and compiles the catalog that `--catalog` names (see `load_data`); the built-in
/// catalog when `paths` is empty. Errors name the file and line at fault.
pub fn load(paths: &[PathBuf]) -> anyhow::Result<Catalog> {
    Ok(Catalog::compile(load_data(paths)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page with one grid table: a header and `rows`, columns as wide as their text.
    fn page_with(rows: &[[&str; 4]]) -> String {
        let header = ["Permission", "API", "Action", "Dependencies"];
        let widths: Vec<usize> = (0..4)
            .map(|k| {
                rows.iter()
                    .chain([&header])
                    .map(|r| r[k].len())
                    .max()
                    .unwrap_or(0)
                    + 2
            })
            .collect();
        let border = |fill: &str| {
            let cells: Vec<String> = widths.iter().map(|w| fill.repeat(*w)).collect();
            format!("+{}+\n", cells.join("+"))
        };
        let line = |cells: &[&str; 4]| {
            let cells: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!(" {c:<width$}", width = w - 1))
                .collect();
            format!("|{}|\n", cells.join("|"))
        };
        let mut text = format!(
            "Title\n=====\n\n{}{}{}",
            border("-"),
            line(&header),
            border("=")
        );
        for row in rows {
            text.push_str(&line(row));
            text.push_str(&border("-"));
        }
        text
    }

    /// Line 1 title, 4 top border, 5 header, 6 separator, 7 the row.
    fn page() -> String {
        page_with(&[[
            "Stop",
            "POST /v2.1/{project_id}/servers/{id}/action",
            "ecs:servers:stop",
            "ecs:servers:list",
        ]])
    }

    #[test]
    fn formats_are_told_by_content() {
        assert_eq!(detect(&page()), InputFormat::Pages);
        assert_eq!(detect(BUILTIN_ROWS), InputFormat::Text);
        assert_eq!(detect(BUILTIN_RULES), InputFormat::Text);
        assert_eq!(detect("# only\n  a comment\n"), InputFormat::Pages);
        assert_eq!(
            detect(":original_name: x\n\n| a line block\n"),
            InputFormat::Pages
        );
        // A permission title that starts like an item is indented, so not an item.
        assert_eq!(detect("Title\n  row of things\n"), InputFormat::Pages);
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("temp file written");
        path
    }

    #[test]
    fn empty_paths_load_the_builtin_catalog() {
        let data = load_data(&[]).expect("built-in data");
        assert_eq!(
            data,
            with_builtin_rules(text::parse("ecs.catalog", BUILTIN_ROWS).expect("valid"))
        );
        assert!(load(&[]).is_ok());
    }

    #[test]
    fn pages_and_text_files_merge_earlier_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let rst = write(dir.path(), "status.rst", &page());
        let text = write(
            dir.path(),
            "own.txt",
            "row own:1\n  api POST /v2.1/{project_id}/servers/{id}/action\n  action ecs:servers:stop\n  depends ecs:servers:get\n",
        );
        let data = load_data(&[rst.clone(), text.clone()]).expect("loads");
        // The text row maps the same API to the same action: covered, dropped.
        assert_eq!(data.rows.len(), 1);
        assert_eq!(data.rows[0].source, "status.rst:7");
        assert_eq!(data.rows[0].revision, LOADED_REVISION);
        assert_eq!(
            data.description,
            "imported from status.rst (imported), then own.txt"
        );
        // Built-in rules were attached, filtered to the one known action.
        assert_eq!(
            data.body_keys,
            [("ecs:servers:stop".to_string(), "os-stop".to_string())]
        );
        let data = load_data(&[text, rst]).expect("loads");
        assert_eq!(data.rows.len(), 1);
        assert_eq!(data.rows[0].source, "own:1");
        assert_eq!(data.rows[0].depends, ["ecs:servers:get"]);
    }

    #[test]
    fn own_rules_replace_the_builtin_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(
            dir.path(),
            "own.catalog",
            "row own:1\n  api POST /x/{id}/action\n  action ecs:servers:stop\nbody ecs:servers:stop halt\n",
        );
        let catalog = load(&[dir.path().to_path_buf()]).expect("a directory loads");
        let id = catalog.action_id("ecs:servers:stop").expect("known");
        assert_eq!(catalog.actions[id as usize].body_keys, ["halt"]);
    }

    #[test]
    fn errors_name_the_path_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bad = write(
            dir.path(),
            "bad.rst",
            &page().replace("ecs:servers:stop", "ecs-servers-stop"),
        );
        let e = load(std::slice::from_ref(&bad)).expect_err("malformed page");
        let shown = format!("{e:#}");
        assert!(
            shown.starts_with(&format!("{}:7:", bad.display())),
            "{shown}"
        );
        let bad = write(
            dir.path(),
            "bad.catalog",
            "row a:1\n  api GET /x\n  action nope\n",
        );
        let e = load(std::slice::from_ref(&bad)).expect_err("malformed catalog");
        assert!(
            format!("{e:#}").starts_with(&format!("{}:3:", bad.display())),
            "{e:#}"
        );
        let empty = write(dir.path(), "index.rst", "Index\n=====\n\nno tables here\n");
        let e = load(&[empty]).expect_err("no rows");
        assert!(format!("{e:#}").contains("no permission rows"), "{e:#}");
        let e = load(&[dir.path().join("missing.rst")]).expect_err("missing file");
        assert!(format!("{e:#}").contains("missing.rst"), "{e:#}");
    }
}
