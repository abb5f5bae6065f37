//! Classification: a pure function from a `Record` and the catalog to the call's candidate
//! actions, its project, its outcome (allowed, denied, failed) and, for a denial, its cause.
//! No I/O and no counting here.

use crate::catalog::compiled::{CompiledRule, Endpoint, segments};
use crate::catalog::{ActionId, Catalog, EipUse};
use crate::parse::Record;
use crate::parse::json::{member, member_of_valid, members_of};
use memchr::memmem;
use std::borrow::Cow;
use std::sync::LazyLock;

/// What became of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Status below 400, or a CTS trace rated `normal` without a status.
    Allowed,
    /// Status 403, or no status and a policy-denial message or code in the response.
    Denied,
    /// Status 400 or above, not a denial (401 is authentication, so it lands here).
    Failed,
    /// No status and nothing else that tells.
    Unknown,
}

/// Why a denied, classified call was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// The named action is the called action.
    MissingAction,
    /// The named action is a documented dependency of the called action.
    MissingDependency,
    /// The named action is neither: the documentation misses a dependency.
    UndocumentedDependency,
    /// API Gateway refused the call (`APIG.03xx` / `APIGW.03xx`) before ECS saw it: not an
    /// ECS policy denial.
    GatewayDenied,
    /// No action named; the run's allowed calls prove the action but not all dependencies.
    InferredMissingDependency,
    /// No action named; the run's allowed calls prove every dependency but not the action.
    InferredMissingAction,
    /// No action named, and the evidence does not decide.
    Unknown,
}

impl Cause {
    /// The spelling used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::MissingAction => "missing_action",
            Cause::MissingDependency => "missing_dependency",
            Cause::UndocumentedDependency => "undocumented_dependency",
            Cause::GatewayDenied => "gateway_denied",
            Cause::InferredMissingDependency => "inferred_missing_dependency",
            Cause::InferredMissingAction => "inferred_missing_action",
            Cause::Unknown => "unknown",
        }
    }

    /// The cause spelled as in reports.
    pub fn parse(text: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Every cause, in report order.
    pub const ALL: [Cause; 7] = [
        Cause::MissingAction,
        Cause::MissingDependency,
        Cause::UndocumentedDependency,
        Cause::GatewayDenied,
        Cause::InferredMissingDependency,
        Cause::InferredMissingAction,
        Cause::Unknown,
    ];
}

/// Everything classification says about one record. Invariant: `actions` is sorted and
/// without repeats; it is empty when the record matched no catalog action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call<'r> {
    pub actions: Vec<ActionId>,
    pub project: Option<Cow<'r, str>>,
    /// Method and normalised path used for matching, when the record had them.
    pub method: Option<Cow<'r, str>>,
    pub path: Option<Cow<'r, str>>,
    /// On a shared path, the body key that no action claims (e.g. `confirmResize`).
    pub unclaimed_key: Option<String>,
    pub outcome: Outcome,
    /// For a denial: the cause and the action the denial message named.
    pub cause: Option<Cause>,
    pub missing: Option<String>,
    /// An `unknown` denial that the run's evidence may explain later (`count::Tally::infer`):
    /// false for account restrictions (`Ecs.0066`-`Ecs.0071`), which are not IAM policy.
    pub inferable: bool,
}

/// Drops scheme and host of a full URL, the query string and fragment. Segment splitting
/// (which collapses `//` and a trailing slash) is left to `segments`.
pub fn strip_url(url: &str) -> &str {
    // Byte searches (all the bytes sought are ASCII): `str::find` with a `&str` pattern
    // builds a two-way searcher per call, a twentieth of reading an access log.
    let b = url.as_bytes();
    let scheme = memchr::memchr_iter(b':', b).find(|&i| b[i + 1..].starts_with(b"//"));
    let url = match scheme {
        Some(i) => {
            let rest = &url[i + 3..];
            memchr::memchr(b'/', rest.as_bytes()).map_or("/", |j| &rest[j..])
        }
        None => url,
    };
    let end = memchr::memchr2(b'?', b'#', url.as_bytes()).unwrap_or(url.len());
    &url[..end]
}

/// Finds `Method: POST Url=/v2.1/...` in a CTS message.
fn method_url_in(message: &str) -> Option<(&str, &str)> {
    let m = message.find("Method:")?;
    let method = message[m + 7..].split_whitespace().next()?;
    let method = method.trim_end_matches(',');
    let u = message.find("Url=")?;
    let url = message[u + 4..].split([' ', ',', '\t', '"']).next()?;
    (url.starts_with('/') || url.contains("://")).then_some((method, url))
}

/// The action named by `Policy doesn't allow <action> to be performed` (also `does not`)
/// anywhere in `text`.
pub fn named_action(text: &str) -> Option<&str> {
    // Built once: a searcher per call cost more than the search in short messages.
    static ALLOW: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"allow "));
    for pos in ALLOW.find_iter(text.as_bytes()) {
        let before = &text[..pos];
        let negated = ["doesn't ", "does not ", "doesn\\u0027t ", "doesn’t "]
            .iter()
            .any(|n| before.ends_with(n));
        if !negated {
            continue;
        }
        let rest = &text[pos + 6..];
        let word = rest
            .split(|c: char| c.is_whitespace() || c == '"' || c == '\\' || c == ',')
            .next()
            .unwrap_or("");
        let word = word.trim_end_matches(['.', ';']);
        if crate::catalog::model::is_action(word) {
            return Some(word);
        }
    }
    None
}

const DENIAL_CODES: [&[u8]; 6] = [
    b"pdp.0001",
    b"iam.0003",
    b"apig.0302",
    b"apigw.0302",
    b"ecs.0003",
    b"ecs.0110",
];

/// `APIG.03xx` / `APIGW.03xx` (any case): API Gateway's own authorization refusals.
pub fn is_gateway_denial(code: &str) -> bool {
    let upper = code.trim().to_ascii_uppercase();
    let digits = upper
        .strip_prefix("APIGW.")
        .or_else(|| upper.strip_prefix("APIG."));
    digits.is_some_and(|d| {
        d.len() == 4 && d.starts_with("03") && d.bytes().all(|b| b.is_ascii_digit())
    })
}

/// `Ecs.0066`-`Ecs.0071`: account restrictions (frozen, in arrears, ...), not IAM policy, so
/// no evidence about permissions can explain them.
fn has_restriction_code(text: &str) -> bool {
    static PREFIX: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"ecs.00"));
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    PREFIX.find_iter(bytes).any(|at| {
        matches!(
            bytes.get(at + 6..at + 8),
            Some([b'6', b'6'..=b'9']) | Some([b'7', b'0' | b'1'])
        )
    })
}

fn has_denial_code(text: &str) -> bool {
    static CODES: LazyLock<Vec<memmem::Finder<'static>>> =
        LazyLock::new(|| DENIAL_CODES.iter().map(memmem::Finder::new).collect());
    let lower = text.to_ascii_lowercase();
    CODES
        .iter()
        .any(|code| code.find(lower.as_bytes()).is_some())
}

/// The request body's facts that classification needs.
struct Body<'b> {
    /// Top-level members (key, value's JSON text), as `members_of` reads them; empty when
    /// there is no body or it is not an object. Kept whole rather than copied into a list
    /// of keys: a second list cost an allocation and its free per ECS trace.
    members: Vec<(Cow<'b, str>, &'b str)>,
    batch: bool,
    eip: EipUse,
}

impl Body<'_> {
    /// The top-level keys, in body order.
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(k, _)| k.as_ref())
    }
}

fn body_of(text: Option<&str>) -> Body<'_> {
    let mut body = Body {
        members: Vec::new(),
        batch: false,
        eip: EipUse::Unknown,
    };
    let Some(members) = text.and_then(members_of) else {
        return body;
    };
    let is_array = |v: &str| v.starts_with('[');
    // The nested objects are read only as far as the member looked for, and build nothing:
    // the values `members_of` hands over are valid JSON.
    body.batch = member(&members, "servers").is_some_and(is_array)
        || members
            .iter()
            .any(|(_, v)| member_of_valid(v, "servers").is_some_and(is_array));
    let server = member(&members, "server");
    let publicip = server.and_then(|s| member_of_valid(s, "publicip"));
    let given = |key| {
        publicip
            .and_then(|p| member_of_valid(p, key))
            .is_some_and(|v| v != "null")
    };
    body.eip = match server {
        Some(_) if given("id") => EipUse::Existing,
        Some(_) if given("eip") => EipUse::New,
        Some(_) => EipUse::None,
        None => EipUse::Unknown,
    };
    body.members = members;
    body
}

/// The request body, parsed only when classification needs it: most records (most of them
/// not even ECS calls) never do.
struct LazyBody<'b> {
    text: Option<&'b str>,
    parsed: std::cell::OnceCell<Body<'b>>,
}

impl<'b> LazyBody<'b> {
    fn new(text: Option<&'b str>) -> LazyBody<'b> {
        LazyBody {
            text,
            parsed: std::cell::OnceCell::new(),
        }
    }

    fn get(&self) -> &Body<'b> {
        self.parsed.get_or_init(|| body_of(self.text))
    }
}

/// Picks among an endpoint's candidates by body key. Returns the candidates left, or the
/// key no candidate claims.
fn by_body_key<'c>(
    catalog: &Catalog,
    candidates: &'c [ActionId],
    body: &LazyBody,
) -> Result<Cow<'c, [ActionId]>, String> {
    let keyed = candidates
        .iter()
        .any(|a| !catalog.actions[*a as usize].body_keys.is_empty());
    if candidates.len() < 2 || !keyed {
        return Ok(Cow::Borrowed(candidates));
    }
    let body = body.get();
    if body.members.is_empty() {
        return Ok(Cow::Borrowed(candidates));
    }
    let chosen: Vec<ActionId> = candidates
        .iter()
        .copied()
        .filter(|a| {
            let keys = &catalog.actions[*a as usize].body_keys;
            body.keys().any(|k| keys.iter().any(|b| b == k))
        })
        .collect();
    if chosen.is_empty() {
        Err(body.members[0].0.to_string())
    } else {
        Ok(Cow::Owned(chosen))
    }
}

fn project_in<'r>(endpoint: &Endpoint, segs: &[&'r str]) -> Option<&'r str> {
    endpoint.project_segment.and_then(|i| segs.get(i).copied())
}

/// A project id at the usual place of an unmatched API path (`/v2.1/<project>/...`).
fn project_guess<'r>(segs: &[&'r str]) -> Option<&'r str> {
    let version = segs.first()?;
    let id = segs.get(1)?;
    let looks_versioned =
        version.starts_with('v') && version[1..].starts_with(|c: char| c.is_ascii_digit());
    (looks_versioned && id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(*id)
}

/// Classifies one record against the catalog.
pub fn classify<'r>(catalog: &Catalog, record: &'r Record<'r>) -> Call<'r> {
    let mut method: Option<Cow<'r, str>> = record.method.as_deref().map(Cow::Borrowed);
    let mut path: Option<&'r str> = record.path.as_deref().map(strip_url);
    if path.is_none() {
        if let Some((m, u)) = record.message.as_deref().and_then(method_url_in) {
            method = Some(Cow::Borrowed(m));
            path = Some(strip_url(u));
        } else if let Some(url) = record.resource_url.as_deref() {
            let stripped = strip_url(url);
            if stripped.starts_with('/') {
                path = Some(stripped);
            }
        }
    }
    let body = LazyBody::new(record.request.as_deref());
    let mut actions: Vec<ActionId> = Vec::new();
    let mut project: Option<&'r str> = None;
    let mut unclaimed_key = None;
    let mut matched = false;
    if let Some(p) = path {
        // Paths have a handful of segments: keep them on the stack.
        let mut few = [""; 16];
        let mut count = 0;
        for (slot, seg) in few.iter_mut().zip(segments(p)) {
            *slot = seg;
            count += 1;
        }
        let many: Vec<&str>;
        let segs: &[&str] = if count < few.len() {
            &few[..count]
        } else {
            many = segments(p).collect();
            &many
        };
        // At most one endpoint for a known method, any number without.
        let (one, any);
        let endpoints: &[&Endpoint] = match method.as_deref() {
            Some(m) => {
                one = catalog.match_path(m, segs);
                one.as_slice()
            }
            None => {
                any = catalog.match_path_any_method(segs);
                &any
            }
        };
        for endpoint in endpoints {
            matched = true;
            project = project.or_else(|| project_in(endpoint, segs));
            match by_body_key(catalog, &endpoint.actions, &body) {
                Ok(list) => actions.extend(list.iter()),
                Err(key) => unclaimed_key = Some(key),
            }
        }
        if !matched {
            project = project_guess(segs);
        }
    }
    if !matched && let Some(name) = record.trace_name.as_deref() {
        for rule in catalog.trace_rules(name) {
            match rule {
                CompiledRule::Fixed(list) => actions.extend(list),
                CompiledRule::Batch(list) if body.get().batch => actions.extend(list),
                CompiledRule::Single(list) if !body.get().batch => actions.extend(list),
                CompiledRule::Api(index) => {
                    let endpoint = &catalog.endpoints[*index];
                    match by_body_key(catalog, &endpoint.actions, &body) {
                        Ok(list) => actions.extend(list.iter()),
                        Err(key) => unclaimed_key = Some(key),
                    }
                }
                _ => {}
            }
        }
    }
    actions.sort_unstable();
    actions.dedup();
    if !actions.is_empty() {
        unclaimed_key = None;
    }

    let response = record.response.as_deref();
    let message = record.message.as_deref();
    // Only a denial (or a call whose status does not say) can use the named action: most
    // calls are allowed, and their response bodies need no search.
    let named_in = || {
        response
            .and_then(named_action)
            .or_else(|| message.and_then(named_action))
    };
    let gateway = record
        .gateway_code
        .as_deref()
        .is_some_and(is_gateway_denial);
    let (outcome, named) = match record.status {
        Some(403) => (Outcome::Denied, named_in()),
        None if gateway => (Outcome::Denied, named_in()),
        Some(s) if s < 400 => (Outcome::Allowed, None),
        Some(_) => (Outcome::Failed, None),
        None => {
            let named = named_in();
            let outcome = if named.is_some()
                || response.is_some_and(has_denial_code)
                || message.is_some_and(has_denial_code)
            {
                Outcome::Denied
            } else {
                match record.trace_rating.as_deref() {
                    Some("normal") => Outcome::Allowed,
                    Some(_) => Outcome::Failed,
                    None => Outcome::Unknown,
                }
            };
            (outcome, named.filter(|_| outcome == Outcome::Denied))
        }
    };
    let mut cause = None;
    if outcome == Outcome::Denied && !actions.is_empty() {
        cause = Some(match named {
            None if gateway => Cause::GatewayDenied,
            None => Cause::Unknown,
            Some(n) => match catalog.action_id(n).filter(|id| actions.contains(id)) {
                Some(id) => {
                    actions = vec![id];
                    Cause::MissingAction
                }
                None => {
                    let narrowed: Vec<ActionId> = actions
                        .iter()
                        .copied()
                        .filter(|a| catalog.depends_on(*a, n, body.get().eip))
                        .collect();
                    if narrowed.is_empty() {
                        Cause::UndocumentedDependency
                    } else {
                        actions = narrowed;
                        Cause::MissingDependency
                    }
                }
            },
        });
    }
    let project = project
        .map(Cow::Borrowed)
        .or_else(|| record.project.as_deref().map(Cow::Borrowed));
    Call {
        actions,
        project,
        method,
        path: path.map(Cow::Borrowed),
        unclaimed_key,
        outcome,
        cause,
        missing: named.map(str::to_string),
        inferable: cause == Some(Cause::Unknown)
            && !response.is_some_and(has_restriction_code)
            && !message.is_some_and(has_restriction_code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_stripped() {
        assert_eq!(
            strip_url("https://ecs.example.com/v2.1/p/servers?limit=1"),
            "/v2.1/p/servers"
        );
        assert_eq!(strip_url("/v2/p/servers/#x"), "/v2/p/servers/");
        assert_eq!(strip_url("http://host"), "/");
        assert_eq!(strip_url("/a:b/c://d/e?f"), "/e");
    }

    proptest::proptest! {
        #[test]
        fn strip_url_agrees_with_its_definition(
            url in proptest::collection::vec(
                proptest::sample::select(vec![":", "/", "?", "#", "a", "é", "://"]),
                0..16,
            )
        ) {
            let url = url.concat();
            fn by_definition(url: &str) -> &str {
                let url = match url.find("://") {
                    Some(i) => {
                        let rest = &url[i + 3..];
                        rest.find('/').map_or("/", |j| &rest[j..])
                    }
                    None => url,
                };
                &url[..url.find(['?', '#']).unwrap_or(url.len())]
            }
            proptest::prop_assert_eq!(strip_url(&url), by_definition(&url));
        }
    }

    #[test]
    fn message_method_url() {
        let m = "createDockerConfig, Method: POST Url=/v2/manage/utils/secret, Reason:";
        assert_eq!(method_url_in(m), Some(("POST", "/v2/manage/utils/secret")));
        assert_eq!(method_url_in("nothing here"), None);
    }

    #[test]
    fn denial_messages() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"forbidden": {"message": "Policy doesn't allow ecs:servers:list to be performed.", "code": 403}}"#,
                Some("ecs:servers:list"),
            ),
            (
                "Policy does not allow ecs:cloudServers:start to be performed.",
                Some("ecs:cloudServers:start"),
            ),
            (
                r#"{\"error\": {\"message\": \"Policy doesn't allow iam:users:get to be performed.\"}}"#,
                Some("iam:users:get"),
            ),
            ("Policy doesn't allow %(actions)s to be performed.", None),
            ("Policy allows ecs:servers:list", None),
        ];
        for (text, want) in cases {
            assert_eq!(named_action(text), *want, "{text}");
        }
        assert!(has_denial_code(r#"{"error_code": "ECS.0110"}"#));
        assert!(!has_denial_code(r#"{"error_code": "Ecs.0005"}"#));
    }

    #[test]
    fn body_facts() {
        let b = body_of(Some(r#"{"os-start": {"servers": [{"id": "x"}]}}"#));
        assert!(b.batch);
        assert_eq!(b.keys().collect::<Vec<_>>(), ["os-start"]);
        assert_eq!(
            body_of(Some(r#"{"server": {"publicip": {"eip": {}}}}"#)).eip,
            EipUse::New
        );
        assert_eq!(
            body_of(Some(r#"{"server": {"publicip": {"id": "e"}}}"#)).eip,
            EipUse::Existing
        );
        assert_eq!(
            body_of(Some(r#"{"server": {"name": "n"}}"#)).eip,
            EipUse::None
        );
        assert_eq!(body_of(None).eip, EipUse::Unknown);
        assert!(!body_of(Some(r#"{"os-start": null}"#)).batch);
    }

    fn names(catalog: &Catalog, ids: &[ActionId]) -> Vec<String> {
        ids.iter().map(|id| catalog.name(*id).to_string()).collect()
    }

    fn record<'a>(
        method: Option<&'a str>,
        path: Option<&'a str>,
        trace: Option<&'a str>,
        body: Option<&'a str>,
    ) -> Record<'a> {
        Record {
            method: method.map(Cow::Borrowed),
            path: path.map(Cow::Borrowed),
            trace_name: trace.map(Cow::Borrowed),
            request: body.map(Cow::Borrowed),
            ..Record::default()
        }
    }

    const P: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn api_calls_with_and_without_deciding_bodies() {
        let c = crate::catalog::builtin().expect("built-in catalog");
        let action = format!("/v2.1/{P}/servers/s1/action");
        let cases: &[(&str, &str, Option<&str>, &[&str])] = &[
            (
                "POST",
                &action,
                Some(r#"{"os-start": null}"#),
                &["ecs:servers:start"],
            ),
            (
                "post",
                &action,
                Some(r#"{"reboot": {"type": "SOFT"}}"#),
                &["ecs:servers:reboot"],
            ),
            (
                "POST",
                &action,
                Some(r#"{"removeSecurityGroup": {"name": "x"}}"#),
                &["ecs:securityGroups:use"],
            ),
            ("POST", &action, Some(r#"{"confirmResize": null}"#), &[]),
            (
                "GET",
                &format!("https://ecs.example.com/v2/{P}/servers/detail?limit=1"),
                None,
                &["ecs:servers:list"],
            ),
            (
                "GET",
                &format!("/v2//{P}/servers/abc/"),
                None,
                &["ecs:servers:get"],
            ),
            (
                "GET",
                &format!("/v1/{P}/cloudservers/s1/block_device/v1"),
                None,
                &[
                    "ecs:cloudServers:get",
                    "ecs:cloudServers:showServerBlockDevice",
                ],
            ),
            (
                "POST",
                &format!("/v1/{P}/cloudservers/action"),
                Some(r#"{"os-stop": {"servers": []}}"#),
                &["ecs:cloudServers:stop"],
            ),
            ("DELETE", &format!("/v1/{P}/nothing"), None, &[]),
        ];
        for (method, path, body, want) in cases {
            let r = record(Some(method), Some(path), None, *body);
            let call = classify(&c, &r);
            assert_eq!(names(&c, &call.actions), *want, "{method} {path} {body:?}");
            if !want.is_empty() {
                assert_eq!(call.project.as_deref(), Some(P));
            }
        }
        let r = record(Some("POST"), Some(&action), None, None);
        assert_eq!(
            classify(&c, &r).actions.len(),
            9,
            "no body: every candidate of the shared path"
        );
        let r = record(
            Some("POST"),
            Some(&action),
            None,
            Some(r#"{"confirmResize": null}"#),
        );
        assert_eq!(
            classify(&c, &r).unclaimed_key.as_deref(),
            Some("confirmResize")
        );
    }

    #[test]
    fn trace_names() {
        let c = crate::catalog::builtin().expect("built-in catalog");
        let cases: &[(&str, Option<&str>, &[&str])] = &[
            (
                "startServer",
                Some(r#"{"os-start": {"servers": [{"id": "a"}]}}"#),
                &["ecs:cloudServers:start"],
            ),
            (
                "startServer",
                Some(r#"{"os-start": {}}"#),
                &["ecs:servers:start"],
            ),
            ("startServer", None, &["ecs:servers:start"]),
            (
                "stopServer",
                Some(r#"{"os-stop": {"servers": []}}"#),
                &["ecs:cloudServers:stop"],
            ),
            (
                "operateServer",
                Some(r#"{"lock": null}"#),
                &["ecs:servers:lock"],
            ),
            ("changeOsV2", None, &["ecs:cloudServers:changeOS"]),
            ("reinstallOs", None, &["ecs:cloudServers:rebuild"]),
            (
                "deleteServer",
                None,
                &["ecs:cloudServers:deleteServers", "ecs:servers:delete"],
            ),
            (
                "createServer",
                Some(r#"{"server": {"publicip": {"id": "e"}}}"#),
                &["ecs:cloudServers:createServers"],
            ),
            ("createBucket", None, &[]),
        ];
        for (trace, body, want) in cases {
            let r = record(None, None, Some(trace), *body);
            assert_eq!(
                names(&c, &classify(&c, &r).actions),
                *want,
                "{trace} {body:?}"
            );
        }
        // A method and URL in the message win over the trace name.
        let r = Record {
            trace_name: Some(Cow::Borrowed("startServer")),
            message: Some(Cow::Owned(format!(
                "x, Method: DELETE Url=/v2.1/{P}/servers/s1, Reason:"
            ))),
            ..Record::default()
        };
        assert_eq!(names(&c, &classify(&c, &r).actions), ["ecs:servers:delete"]);
    }

    fn denied(
        c: &Catalog,
        r: &mut Record<'static>,
        response: &'static str,
    ) -> (Vec<String>, Option<Cause>) {
        r.response = Some(Cow::Borrowed(response));
        let call = classify(c, r);
        (names(c, &call.actions), call.cause)
    }

    #[test]
    fn long_paths_are_read_whole() {
        let c = crate::catalog::builtin().expect("built-in catalog");
        // Sixteen segments and more leave the stack buffer for a vector: the same answers.
        for extra in [13, 14, 15, 30] {
            let tail = "/x".repeat(extra);
            let path = format!("/v2.1/{P}/servers{tail}");
            let r = record(Some("GET"), Some(&path), None, None);
            let call = classify(&c, &r);
            assert!(call.actions.is_empty(), "{path}");
            assert_eq!(call.project.as_deref(), Some(P), "{path}");
        }
        let path = format!("/v2.1/{P}/servers/detail");
        let r = record(Some("GET"), Some(&path), None, None);
        assert_eq!(names(&c, &classify(&c, &r).actions), ["ecs:servers:list"]);
    }

    #[test]
    fn gateway_codes_and_restrictions() {
        let c = crate::catalog::builtin().expect("built-in catalog");
        // status, gateway code, response -> outcome, cause, inferable
        type Case<'a> = (
            Option<u16>,
            Option<&'a str>,
            Option<&'a str>,
            Outcome,
            Option<Cause>,
            bool,
        );
        let cases: &[Case] = &[
            (
                Some(403),
                Some("APIG.0302"),
                None,
                Outcome::Denied,
                Some(Cause::GatewayDenied),
                false,
            ),
            (
                None,
                Some("apigw.0306"),
                None,
                Outcome::Denied,
                Some(Cause::GatewayDenied),
                false,
            ),
            (
                Some(401),
                Some("APIG.0301"),
                None,
                Outcome::Failed,
                None,
                false,
            ),
            (None, Some("APIG.0101"), None, Outcome::Unknown, None, false),
            (
                Some(403),
                None,
                None,
                Outcome::Denied,
                Some(Cause::Unknown),
                true,
            ),
            (
                Some(403),
                None,
                Some(r#"{"error": {"code": "Ecs.0066"}}"#),
                Outcome::Denied,
                Some(Cause::Unknown),
                false,
            ),
        ];
        for (status, code, response, outcome, cause, inferable) in cases {
            let mut r = record(Some("GET"), Some("/v2.1/p/servers/s1/tags"), None, None);
            r.status = *status;
            r.gateway_code = code.map(Cow::Borrowed);
            r.response = response.map(Cow::Borrowed);
            let call = classify(&c, &r);
            assert_eq!(
                (call.outcome, call.cause, call.inferable),
                (*outcome, *cause, *inferable),
                "{status:?} {code:?} {response:?}"
            );
        }
        for n in 66..=71 {
            assert!(has_restriction_code(&format!("x ECS.00{n} y")), "{n}");
            assert!(
                has_restriction_code(&format!("ecs.0010 then Ecs.00{n}")),
                "{n}"
            );
        }
        for text in [
            "Ecs.0065", "Ecs.0072", "Ecs.0060", "Ecs.0006", "Ecs.006", "ecs.00",
        ] {
            assert!(!has_restriction_code(text), "{text}");
        }
        // Only a denial carries the action its message names.
        let mut r = record(Some("GET"), Some("/v2.1/p/servers/s1/tags"), None, None);
        r.status = Some(200);
        r.response = Some(Cow::Borrowed(
            "Policy doesn't allow ecs:servers:get to be performed.",
        ));
        assert_eq!(classify(&c, &r).missing, None);
        r.status = None;
        r.trace_rating = Some(Cow::Borrowed("warning"));
        let call = classify(&c, &r);
        assert_eq!(call.outcome, Outcome::Denied);
        assert_eq!(call.missing.as_deref(), Some("ecs:servers:get"));
        assert!(is_gateway_denial(" APIG.0302"));
        assert!(!is_gateway_denial("APIG.302"));
        assert!(!is_gateway_denial("IAM.0302"));
    }

    #[test]
    fn denial_causes() {
        let c = crate::catalog::builtin().expect("built-in catalog");
        let deny = |a: &str| -> &'static str {
            Box::leak(format!("{{\"forbidden\": {{\"message\": \"Policy doesn't allow {a} to be performed.\"}}}}").into_boxed_str())
        };
        let mut r = record(
            Some("POST"),
            Some("/v2.1/p/servers/s/action"),
            None,
            Some(r#"{"os-stop": {}}"#),
        );
        r.status = Some(403);
        assert_eq!(
            denied(&c, &mut r, deny("ecs:servers:get")),
            (
                vec!["ecs:servers:stop".into()],
                Some(Cause::MissingDependency)
            )
        );
        assert_eq!(
            denied(&c, &mut r, deny("ecs:servers:stop")),
            (vec!["ecs:servers:stop".into()], Some(Cause::MissingAction))
        );
        assert_eq!(
            denied(&c, &mut r, deny("ims:images:get")).1,
            Some(Cause::UndocumentedDependency)
        );
        assert_eq!(denied(&c, &mut r, "{}").1, Some(Cause::Unknown));
        // Without a body every candidate is kept; the named action picks or narrows them.
        r.request = None;
        assert_eq!(
            denied(&c, &mut r, deny("ecs:servers:lock")),
            (vec!["ecs:servers:lock".into()], Some(Cause::MissingAction))
        );
        let (actions, cause) = denied(&c, &mut r, deny("ims:images:update"));
        assert_eq!(
            (actions, cause),
            (
                vec![
                    "ecs:servers:createImage".into(),
                    "ecs:servers:rebuild".into()
                ],
                Some(Cause::MissingDependency)
            )
        );
        // The EIP variant the body selects is the only conditional dependency.
        let mut r = record(
            Some("POST"),
            Some("/v1/p/cloudservers"),
            None,
            Some(r#"{"server": {"publicip": {"eip": {"iptype": "5_bgp"}}}}"#),
        );
        r.status = Some(403);
        assert_eq!(
            denied(&c, &mut r, deny("vpc:publicIps:create")).1,
            Some(Cause::MissingDependency)
        );
        assert_eq!(
            denied(&c, &mut r, deny("vpc:publicIps:update")).1,
            Some(Cause::UndocumentedDependency)
        );
    }

    #[test]
    fn outcomes() {
        let c = crate::catalog::builtin().expect("built-in catalog");
        let base = || record(Some("GET"), Some("/v2/p/servers"), None, None);
        let outcome = |r: Record| classify(&c, &r).outcome;
        assert_eq!(
            outcome(Record {
                status: Some(401),
                ..base()
            }),
            Outcome::Failed
        );
        assert_eq!(
            outcome(Record {
                status: Some(204),
                ..base()
            }),
            Outcome::Allowed
        );
        assert_eq!(outcome(base()), Outcome::Unknown);
        assert_eq!(
            outcome(Record {
                trace_rating: Some(Cow::Borrowed("normal")),
                ..base()
            }),
            Outcome::Allowed
        );
        assert_eq!(
            outcome(Record {
                trace_rating: Some(Cow::Borrowed("warning")),
                ..base()
            }),
            Outcome::Failed
        );
        let coded = Record {
            response: Some(Cow::Borrowed(r#"{"error_code": "ECS.0110"}"#)),
            ..base()
        };
        assert_eq!(outcome(coded), Outcome::Denied);
        let bad_params = Record {
            status: Some(400),
            response: Some(Cow::Borrowed(r#"{"error_code": "Ecs.0005"}"#)),
            ..base()
        };
        assert_eq!(outcome(bad_params), Outcome::Failed);
    }
}
