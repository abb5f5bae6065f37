//! The catalog: which IAM action(s) an ECS API call or CTS trace is, and what each action
//! depends on. `model` is the data, `text` its file format, `compiled` the lookup tables
//! built once at start-up; `builtin` is the catalog shipped in the binary.

pub mod compiled;
pub mod model;
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
