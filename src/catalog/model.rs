//! The catalog's plain data: permission rows as the documentation states them, plus the
//! project's own classification rules (body keys, trace names). Nothing here matches
//! requests; `compiled` turns these rows into lookup tables.

use std::fmt;

/// Whether a permission can be granted through an IAM project or an enterprise project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Scope {
    /// The page does not say (the 4-column revision has no scope columns).
    #[default]
    Unknown,
    /// The page says `Supported`.
    Supported,
    /// The page says `Not supported`.
    NotSupported,
}

impl Scope {
    /// The catalog/CSV spelling: `supported`, `not_supported`, or empty when unknown.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Unknown => "",
            Scope::Supported => "supported",
            Scope::NotSupported => "not_supported",
        }
    }

    /// Parses the catalog spelling and the documentation's (`Supported`, `Not supported`).
    pub fn parse(text: &str) -> Option<Scope> {
        match text.trim().to_ascii_lowercase().replace(' ', "_").as_str() {
            "" | "unknown" | "-" => Some(Scope::Unknown),
            "supported" => Some(Scope::Supported),
            "not_supported" => Some(Scope::NotSupported),
            _ => None,
        }
    }
}

/// A condition under which extra dependencies apply, decided from the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    /// `server.publicip.eip` present: a new EIP is assigned.
    NewEip,
    /// `server.publicip.id` present: an existing EIP is bound.
    ExistingEip,
}

impl Condition {
    /// The catalog spelling (`new_eip`, `existing_eip`).
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::NewEip => "new_eip",
            Condition::ExistingEip => "existing_eip",
        }
    }

    /// Parses the catalog spelling.
    pub fn parse(text: &str) -> Option<Condition> {
        match text {
            "new_eip" => Some(Condition::NewEip),
            "existing_eip" => Some(Condition::ExistingEip),
            _ => None,
        }
    }

    /// Recognises the documentation's variant captions ("Assigning a New EIP", ...).
    pub fn from_caption(caption: &str) -> Option<Condition> {
        let c = caption.to_ascii_lowercase();
        if c.contains("new eip") {
            Some(Condition::NewEip)
        } else if c.contains("existing eip") {
            Some(Condition::ExistingEip)
        } else {
            None
        }
    }
}

/// One `METHOD /path/template` line of a row. The method is upper case; the template
/// starts with `/` and has no query string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Api {
    /// Upper-case HTTP method, e.g. `POST`.
    pub method: String,
    /// Path with `{name}` parameters, e.g. `/v2.1/{project_id}/servers/{server_id}/action`.
    pub template: String,
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.template)
    }
}

/// One row of a permission table. Invariant: `apis` and `actions` are non-empty and free of
/// repeats; `depends` lists the unconditional dependencies, `variants` the conditional ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    /// Where the row came from: `page.rst:line` of its first line in the table.
    pub source: String,
    /// Documentation revision label, e.g. `current` or `seed`.
    pub revision: String,
    /// The "Permission" title, without the `:ref:` markup.
    pub permission: String,
    /// The APIs the row documents, in page order.
    pub apis: Vec<Api>,
    /// The actions each of those APIs needs (usually one; all apply together).
    pub actions: Vec<String>,
    /// Dependencies needed whatever the request body says, in page order.
    pub depends: Vec<String>,
    /// Dependencies needed only under a condition, per condition in page order.
    pub variants: Vec<(Condition, Vec<String>)>,
    /// Whether the permission can be granted through an IAM project.
    pub iam_project: Scope,
    /// Whether the permission can be granted through an enterprise project.
    pub enterprise_project: Scope,
}

/// How a CTS trace name maps to actions when the trace carries no method and URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceRule {
    /// Always these candidate actions.
    Fixed(Vec<String>),
    /// These actions when the request body holds a `servers` array (the v1 batch API).
    Batch(Vec<String>),
    /// These actions when it does not (the native API acting on one server).
    Single(Vec<String>),
    /// Classify as this API call, using the trace's request body.
    Api(Api),
}

/// A catalog as data: rows, body keys per action, trace-name rules. Invariant: rule and
/// body-key actions name actions of some row (checked when compiled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogData {
    /// Human label of what the catalog holds (e.g. which documentation revision).
    pub description: String,
    /// Permission rows, in the order they were read.
    pub rows: Vec<Row>,
    /// (action, top-level request body key) pairs, used on paths shared by several actions.
    pub body_keys: Vec<(String, String)>,
    /// (trace name, rule) pairs, in file order; several rules may share a trace name.
    pub trace_rules: Vec<(String, TraceRule)>,
}

/// True when `text` looks like an IAM action `service:resource:operation`.
pub fn is_action(text: &str) -> bool {
    let mut parts = text.split(':');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'*')
        })
    };
    ok(parts.next()) && ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_shape() {
        assert!(is_action("ecs:servers:list"));
        assert!(is_action("ecs:cloudServers:showServerBlockDevice"));
        assert!(!is_action("ecs:servers"));
        assert!(!is_action("ecs:servers:list:x"));
        assert!(!is_action("``-``"));
        assert!(!is_action("-  Assigning a New EIP"));
    }

    #[test]
    fn scope_spellings() {
        assert_eq!(Scope::parse("Not supported"), Some(Scope::NotSupported));
        assert_eq!(Scope::parse("Supported"), Some(Scope::Supported));
        assert_eq!(Scope::parse("not_supported"), Some(Scope::NotSupported));
        assert_eq!(Scope::parse("maybe"), None);
    }
}
