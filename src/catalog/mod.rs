//! The catalog: which IAM action(s) an ECS API call or CTS trace is, and what each action
//! depends on. `model` is the data, `text` its file format, `rst` the reader of the
//! official permission pages, `compiled` the lookup tables built once at start-up;
//! `builtin` is the catalog shipped in the binary.

pub mod compiled;
pub mod model;
pub mod rst;
pub mod text;

pub use compiled::{ActionId, Catalog, EipUse};

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
    let known: std::collections::HashSet<&str> = data
        .rows
        .iter()
        .flat_map(|r| r.actions.iter().map(String::as_str))
        .collect();
    let apis: std::collections::HashSet<&model::Api> =
        data.rows.iter().flat_map(|r| r.apis.iter()).collect();
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

/// One input of an import: a page or a directory of pages, and the revision it holds.
#[derive(Debug, Clone)]
pub struct ImportSource {
    pub path: std::path::PathBuf,
    pub revision: String,
}

/// Reads permission pages (RST, in `.rst` or `.txt` files; directories are read in name
/// order, pages without tables contribute nothing) into one catalog. Earlier sources win:
/// a later row is dropped when every API it lists already maps to the same actions.
/// Returns the catalog and the repairs made, as `file:line: message` warnings.
pub fn import(sources: &[ImportSource]) -> anyhow::Result<(model::CatalogData, Vec<String>)> {
    use anyhow::Context;
    let mut data = model::CatalogData::default();
    let mut warnings = Vec::new();
    let mut known: std::collections::HashSet<(model::Api, Vec<String>)> = Default::default();
    for source in sources {
        let files: Vec<std::path::PathBuf> = if source.path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&source.path)
                .with_context(|| format!("failed to read {}", source.path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "rst" || e == "txt"))
                .collect();
            files.sort();
            files
        } else {
            vec![source.path.clone()]
        };
        let mut added = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("failed to read {}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let page = rst::read_page(&name, &text, &source.revision)?;
            warnings.extend(page.warnings);
            for row in page.rows {
                let covered = row
                    .apis
                    .iter()
                    .all(|api| known.contains(&(api.clone(), row.actions.clone())));
                if !covered {
                    added.push(row);
                }
            }
        }
        for row in &added {
            for api in &row.apis {
                known.insert((api.clone(), row.actions.clone()));
            }
        }
        data.rows.extend(added);
    }
    let labels: Vec<String> = sources
        .iter()
        .map(|s| {
            let name = s
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("{} ({})", name, s.revision)
        })
        .collect();
    data.description = format!("imported from {}", labels.join(", then "));
    Ok((data, warnings))
}
