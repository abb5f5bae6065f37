//! Lookup tables built once from `CatalogData`: a path trie per HTTP method, actions by id
//! with their dependencies and body keys, and trace-name rules. Immutable after `compile`;
//! every lookup is a pure function of its inputs.

use super::model::{Api, CatalogData, Condition, Scope, TraceRule};
use super::text::CatalogError;
// The maps by name hold the catalog's own names and are never filled from input, so a
// fixed hash cannot be made to collide by a trace: rustc-hash, where std's SipHash was
// 1% of the instructions spent on an ECS trace (a lookup per trace name and per named
// action).
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// Index of an action in `Catalog::actions`. Ids follow the sorted action names, so sorting
/// ids sorts names.
pub type ActionId = u16;

/// Everything the catalog knows about one action, merged over all rows that name it.
#[derive(Debug, Clone, Default)]
pub struct ActionInfo {
    pub name: String,
    /// Unconditional dependencies, sorted, without repeats.
    pub depends: Vec<String>,
    /// Dependencies that apply only under a condition (sorted by condition).
    pub variants: Vec<(Condition, Vec<String>)>,
    /// Top-level request body keys that select this action on a shared path.
    pub body_keys: Vec<String>,
    /// Indexes into `Catalog::data.rows` of the rows naming this action.
    pub rows: Vec<usize>,
    /// Supported unless some row says otherwise; `Unknown` when no row says.
    pub enterprise_project: Scope,
    /// This action's index in `Catalog::permissions`.
    pub permission: usize,
    /// `depends` as a bit set over `Catalog::permissions` (see `PermSet`).
    pub depends_set: PermSet,
}

/// A set of permissions as bits over `Catalog::permissions`: a few machine words, so the
/// evidence of allowed calls is recorded with word operations instead of string hashing.
pub type PermSet = Vec<u64>;

/// One API template and the actions it may be.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub api: Api,
    /// Candidate actions, sorted by id.
    pub actions: Vec<ActionId>,
    /// Position of the first `{project_id}` segment in the template, if any.
    pub project_segment: Option<usize>,
}

#[derive(Debug, Default)]
struct Node {
    literal: Vec<(String, usize)>,
    param: Option<usize>,
    endpoint: Option<usize>,
}

/// A compiled catalog. Invariant: every action id in endpoints and rules is valid.
#[derive(Debug)]
pub struct Catalog {
    pub data: CatalogData,
    pub actions: Vec<ActionInfo>,
    pub endpoints: Vec<Endpoint>,
    /// Every permission the catalog names (actions and dependencies), sorted: the index
    /// space of `PermSet`.
    pub permissions: Vec<String>,
    by_name: HashMap<String, ActionId>,
    /// Trie nodes; `roots` maps an upper-case method to its root node.
    nodes: Vec<Node>,
    roots: Vec<(String, usize)>,
    trace_rules: HashMap<String, Vec<CompiledRule>>,
}

/// A trace-name rule with action names resolved to ids (and API rules to endpoints).
#[derive(Debug, Clone)]
pub enum CompiledRule {
    Fixed(Vec<ActionId>),
    Batch(Vec<ActionId>),
    Single(Vec<ActionId>),
    Api(usize),
}

/// Splits a path into segments, ignoring empty ones (so `//` collapses and a trailing
/// slash is dropped).
pub fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn is_param(segment: &str) -> bool {
    segment.len() > 2 && segment.starts_with('{') && segment.ends_with('}')
}

impl Catalog {
    /// Builds the lookup tables; fails when a rule names an action no row has, or an API
    /// rule names a template no row has.
    pub fn compile(data: CatalogData) -> Result<Catalog, CatalogError> {
        let err = |message: String| CatalogError {
            file: "catalog".into(),
            line: 0,
            column: 0,
            message,
        };
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for row in &data.rows {
            names.extend(row.actions.iter().map(String::as_str));
        }
        let by_name: HashMap<String, ActionId> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), i as ActionId))
            .collect();
        if by_name.len() > ActionId::MAX as usize {
            return Err(err("too many distinct actions".into()));
        }
        let mut actions: Vec<ActionInfo> = names
            .iter()
            .map(|n| ActionInfo {
                name: n.to_string(),
                ..ActionInfo::default()
            })
            .collect();
        let mut endpoint_actions: BTreeMap<Api, BTreeSet<ActionId>> = BTreeMap::new();
        let mut deps: Vec<BTreeSet<String>> = vec![BTreeSet::new(); actions.len()];
        let mut variants: Vec<BTreeMap<Condition, BTreeSet<String>>> =
            vec![BTreeMap::new(); actions.len()];
        for (index, row) in data.rows.iter().enumerate() {
            for action in &row.actions {
                let id = by_name[action];
                let info = &mut actions[id as usize];
                info.rows.push(index);
                info.enterprise_project = match (info.enterprise_project, row.enterprise_project) {
                    (Scope::NotSupported, _) | (_, Scope::NotSupported) => Scope::NotSupported,
                    (Scope::Supported, _) | (_, Scope::Supported) => Scope::Supported,
                    _ => Scope::Unknown,
                };
                deps[id as usize].extend(row.depends.iter().cloned());
                for (condition, list) in &row.variants {
                    variants[id as usize]
                        .entry(*condition)
                        .or_default()
                        .extend(list.iter().cloned());
                }
                for api in &row.apis {
                    endpoint_actions.entry(api.clone()).or_default().insert(id);
                }
            }
        }
        let mut permissions: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
        for set in &deps {
            permissions.extend(set.iter().cloned());
        }
        let permissions: Vec<String> = permissions.into_iter().collect();
        let index = |name: &str| {
            permissions
                .binary_search_by(|p| p.as_str().cmp(name))
                .expect("every name was added to permissions")
        };
        let words = permissions.len().div_ceil(64);
        for (id, info) in actions.iter_mut().enumerate() {
            info.depends = std::mem::take(&mut deps[id]).into_iter().collect();
            info.variants = std::mem::take(&mut variants[id])
                .into_iter()
                .map(|(c, list)| (c, list.into_iter().collect()))
                .collect();
            info.permission = index(&info.name);
            info.depends_set = vec![0; words];
            for d in &info.depends {
                let i = index(d);
                info.depends_set[i / 64] |= 1 << (i % 64);
            }
        }
        for (action, key) in &data.body_keys {
            let id = *by_name
                .get(action)
                .ok_or_else(|| err(format!("body key `{key}` names unknown action `{action}`")))?;
            let keys = &mut actions[id as usize].body_keys;
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        let mut catalog = Catalog {
            actions,
            endpoints: Vec::new(),
            permissions,
            by_name,
            nodes: Vec::new(),
            roots: Vec::new(),
            trace_rules: HashMap::default(),
            data: CatalogData::default(),
        };
        // The native API answers under both /v2 and /v2.1; the pages usually list both, and
        // where a row lists only one (a typo or an omission) the other still means the same.
        let twins: Vec<(Api, BTreeSet<ActionId>)> = endpoint_actions
            .iter()
            .filter_map(|(api, ids)| {
                let twin = if let Some(rest) = api.template.strip_prefix("/v2.1/") {
                    format!("/v2/{rest}")
                } else {
                    format!("/v2.1/{}", api.template.strip_prefix("/v2/")?)
                };
                let twin = Api {
                    method: api.method.clone(),
                    template: twin,
                };
                Some((twin, ids.clone()))
            })
            .collect();
        for (twin, ids) in twins {
            endpoint_actions.entry(twin).or_default().extend(ids);
        }
        for (api, ids) in endpoint_actions {
            let project_segment = segments(&api.template).position(|s| s == "{project_id}");
            let index = catalog.endpoints.len();
            catalog.insert(&api, index);
            catalog.endpoints.push(Endpoint {
                api,
                actions: ids.into_iter().collect(),
                project_segment,
            });
        }
        for (name, rule) in &data.trace_rules {
            let ids = |list: &Vec<String>| -> Result<Vec<ActionId>, CatalogError> {
                let mut ids = list
                    .iter()
                    .map(|a| {
                        catalog.by_name.get(a).copied().ok_or_else(|| {
                            err(format!("trace rule `{name}` names unknown action `{a}`"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                ids.sort_unstable();
                ids.dedup();
                Ok(ids)
            };
            let compiled = match rule {
                TraceRule::Fixed(a) => CompiledRule::Fixed(ids(a)?),
                TraceRule::Batch(a) => CompiledRule::Batch(ids(a)?),
                TraceRule::Single(a) => CompiledRule::Single(ids(a)?),
                TraceRule::Api(api) => CompiledRule::Api(
                    catalog
                        .endpoints
                        .iter()
                        .position(|e| e.api == *api)
                        .ok_or_else(|| {
                            err(format!("trace rule `{name}` names unknown API `{api}`"))
                        })?,
                ),
            };
            catalog
                .trace_rules
                .entry(name.clone())
                .or_default()
                .push(compiled);
        }
        catalog.data = data;
        Ok(catalog)
    }

    fn insert(&mut self, api: &Api, endpoint: usize) {
        let root = match self.roots.iter().find(|(m, _)| *m == api.method) {
            Some((_, root)) => *root,
            None => {
                self.nodes.push(Node::default());
                self.roots.push((api.method.clone(), self.nodes.len() - 1));
                self.nodes.len() - 1
            }
        };
        let mut node = root;
        for segment in segments(&api.template) {
            let next = if is_param(segment) {
                self.nodes[node].param
            } else {
                self.nodes[node]
                    .literal
                    .iter()
                    .find(|(s, _)| s == segment)
                    .map(|(_, n)| *n)
            };
            node = match next {
                Some(n) => n,
                None => {
                    self.nodes.push(Node::default());
                    let n = self.nodes.len() - 1;
                    if is_param(segment) {
                        self.nodes[node].param = Some(n);
                    } else {
                        self.nodes[node].literal.push((segment.to_string(), n));
                    }
                    n
                }
            };
        }
        self.nodes[node].endpoint = Some(endpoint);
    }

    /// Finds the endpoint for a method (any case) and a normalised path's segments. Where
    /// several templates match, the one with a literal at the first differing segment wins.
    pub fn match_path(&self, method: &str, segs: &[&str]) -> Option<&Endpoint> {
        let root = self
            .roots
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))?
            .1;
        self.walk(root, segs).map(|i| &self.endpoints[i])
    }

    /// Every endpoint matching the path under any method, in method order.
    pub fn match_path_any_method(&self, segs: &[&str]) -> Vec<&Endpoint> {
        self.roots
            .iter()
            .filter_map(|(_, root)| self.walk(*root, segs))
            .map(|i| &self.endpoints[i])
            .collect()
    }

    fn walk(&self, node: usize, segs: &[&str]) -> Option<usize> {
        let Some((first, rest)) = segs.split_first() else {
            return self.nodes[node].endpoint;
        };
        let n = &self.nodes[node];
        if let Some((_, child)) = n.literal.iter().find(|(s, _)| s == first)
            && let Some(found) = self.walk(*child, rest)
        {
            return Some(found);
        }
        n.param.and_then(|child| self.walk(child, rest))
    }

    /// The id of an action name, if the catalog has it.
    pub fn action_id(&self, name: &str) -> Option<ActionId> {
        self.by_name.get(name).copied()
    }

    /// The action's name. Panics only on an id this catalog did not hand out.
    pub fn name(&self, id: ActionId) -> &str {
        &self.actions[id as usize].name
    }

    /// The rules for a trace name, empty when there are none.
    pub fn trace_rules(&self, trace_name: &str) -> &[CompiledRule] {
        self.trace_rules
            .get(trace_name)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether `dependency` is among the action's dependencies under `eip` (None: the body
    /// did not say, so every conditional dependency counts).
    pub fn depends_on(&self, id: ActionId, dependency: &str, eip: EipUse) -> bool {
        let info = &self.actions[id as usize];
        info.depends.iter().any(|d| d == dependency)
            || info
                .variants
                .iter()
                .any(|(c, list)| eip.includes(*c) && list.iter().any(|d| d == dependency))
    }
}

/// What the request body says about EIPs, for the conditional dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EipUse {
    /// No body (or not an object): any variant may apply.
    Unknown,
    /// The body requests no EIP: no variant applies.
    None,
    New,
    Existing,
}

impl EipUse {
    /// Whether dependencies under `condition` apply.
    pub fn includes(self, condition: Condition) -> bool {
        match self {
            EipUse::Unknown => true,
            EipUse::None => false,
            EipUse::New => condition == Condition::NewEip,
            EipUse::Existing => condition == Condition::ExistingEip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::text;

    fn catalog() -> Catalog {
        let data = text::parse(
            "t",
            "row a:1\n  api GET /v2/{project_id}/servers/{server_id}\n  action ecs:servers:get\n\
row a:2\n  api GET /v2/{project_id}/servers/detail\n  action ecs:servers:list\n  depends ecs:servers:get\n\
row a:3\n  api POST /v2/{project_id}/servers/{server_id}/action\n  action ecs:servers:start\n  depends ecs:servers:list\n\
row a:4\n  api POST /v2/{project_id}/servers/{server_id}/action\n  action ecs:servers:stop\n\
row a:5\n  api POST /v1/{project_id}/cloudservers\n  action ecs:cloudServers:createServers\n  depends.new_eip vpc:publicIps:create\n\
body ecs:servers:start os-start\ntrace startServer single ecs:servers:start\n",
        )
        .expect("valid");
        Catalog::compile(data).expect("compiles")
    }

    fn segs(p: &str) -> Vec<&str> {
        segments(p).collect()
    }

    #[test]
    fn literal_beats_parameter() {
        let c = catalog();
        let e = c
            .match_path("get", &segs("/v2/p/servers/detail"))
            .expect("match");
        assert_eq!(e.api.template, "/v2/{project_id}/servers/detail");
        let e = c
            .match_path("GET", &segs("/v2/p/servers/abc"))
            .expect("match");
        assert_eq!(e.api.template, "/v2/{project_id}/servers/{server_id}");
        assert_eq!(e.project_segment, Some(1));
        assert!(c.match_path("DELETE", &segs("/v2/p/servers/abc")).is_none());
        assert!(c.match_path("GET", &segs("/v2/p/servers")).is_none());
    }

    #[test]
    fn shared_path_has_all_candidates_sorted() {
        let c = catalog();
        let e = c
            .match_path("POST", &segs("/v2/p/servers/s/action"))
            .expect("match");
        let names: Vec<&str> = e.actions.iter().map(|a| c.name(*a)).collect();
        assert_eq!(names, ["ecs:servers:start", "ecs:servers:stop"]);
        assert_eq!(
            c.actions[c.action_id("ecs:servers:start").expect("known") as usize].body_keys,
            ["os-start"]
        );
    }

    #[test]
    fn conditional_dependencies() {
        let c = catalog();
        let id = c
            .action_id("ecs:cloudServers:createServers")
            .expect("known");
        assert!(c.depends_on(id, "vpc:publicIps:create", EipUse::New));
        assert!(c.depends_on(id, "vpc:publicIps:create", EipUse::Unknown));
        assert!(!c.depends_on(id, "vpc:publicIps:create", EipUse::Existing));
        assert!(!c.depends_on(id, "vpc:publicIps:create", EipUse::None));
    }

    #[test]
    fn unknown_rule_action_is_an_error() {
        let data = text::parse(
            "t",
            "row a:1\n  api GET /x\n  action ecs:a:b\ntrace t fixed ecs:a:c\n",
        )
        .expect("parses");
        let e = Catalog::compile(data).unwrap_err();
        assert!(e.message.contains("ecs:a:c"), "{e}");
    }
}
