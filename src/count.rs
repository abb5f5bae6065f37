//! Aggregation: folds classified records into a `Tally`, and merges tallies. `merge` is
//! associative and commutative, and every field is either a sum, a min/max, a set union or a
//! list that `write` sorts, so reports never depend on thread count or chunk size.

use crate::catalog::ActionId;
use crate::classify::{Call, Cause, Outcome};
use crate::parse::Record;
use crate::parse::time::Millis;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many error rows are kept for errors.csv (the smallest by file and line).
pub const MAX_ERROR_ROWS: usize = 1000;

/// Where a record starts: index of its input in the run's input list, and its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    pub file: u32,
    pub line: u64,
}

fn widen(range: &mut Option<(Millis, Millis)>, time: Option<Millis>) {
    if let Some(t) = time {
        *range = Some(match *range {
            Some((a, b)) => (a.min(t), b.max(t)),
            None => (t, t),
        });
    }
}

fn join(a: Option<(Millis, Millis)>, b: Option<(Millis, Millis)>) -> Option<(Millis, Millis)> {
    match (a, b) {
        (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
        (x, None) | (None, x) => x,
    }
}

/// One row of projects.csv. `seen` is the (first, last) record time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectStats {
    pub records: u64,
    pub classified: u64,
    pub allowed: u64,
    pub denied: u64,
    pub failed: u64,
    pub dependency_denials: u64,
    pub seen: Option<(Millis, Millis)>,
}

/// One row of actions.csv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls: u64,
    pub allowed: u64,
    pub denied: u64,
    pub failed: u64,
}

/// One row of denials.csv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenialStats {
    pub calls: u64,
    pub users: BTreeSet<String>,
    pub seen: Option<(Millis, Millis)>,
}

/// One row of unclassified.csv; `example` is the smallest original path (or trace
/// resource) seen, so it does not depend on processing order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnclassifiedStats {
    pub calls: u64,
    pub denied: u64,
    pub example: String,
}

/// Key of a denials.csv row within a project: actions, cause, missing permission.
pub type DenialKey = (Vec<ActionId>, Cause, String);

/// Everything counted for one project.
#[derive(Debug, Clone, Default)]
pub struct ProjectTally {
    pub stats: ProjectStats,
    pub actions: HashMap<Vec<ActionId>, CallStats>,
    pub denials: HashMap<DenialKey, DenialStats>,
}

/// One row of denied_calls.csv. `dedupe` is the trace-id hash when the record had one, so
/// copies of one trace can be reduced to one row at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedCall {
    pub time: Option<Millis>,
    pub loc: Loc,
    pub project: String,
    pub user: String,
    pub source_ip: String,
    pub method: String,
    pub path: String,
    pub trace_name: String,
    pub actions: Vec<ActionId>,
    pub cause: Cause,
    pub missing: String,
    pub request_id: String,
    pub dedupe: Option<u64>,
}

/// A record that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ErrorRow {
    pub loc: Loc,
    pub reason: String,
}

/// The aggregate of any set of records. Invariant: `errors` holds at most
/// `MAX_ERROR_ROWS` rows, the smallest by location of all errors counted.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Records read (after de-duplication and filters).
    pub records: u64,
    /// Records dropped as repeats of a trace id already counted.
    pub duplicates: u64,
    /// Records outside `--since`/`--until` or without a time while a bound is set.
    pub out_of_time: u64,
    /// Records of projects not selected by `--project`.
    pub other_projects: u64,
    pub projects: HashMap<String, ProjectTally>,
    pub unclassified: HashMap<(String, String, String), UnclassifiedStats>,
    pub denied_calls: Vec<DeniedCall>,
    pub errors: Vec<ErrorRow>,
    pub error_counts: BTreeMap<String, u64>,
}

/// Replaces id-like segments (numbers, UUIDs, hex runs of 16 or more) with `{id}`.
pub fn path_template(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for segment in crate::catalog::compiled::segments(path) {
        out.push('/');
        let hexish = segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        let digits = segment.bytes().filter(u8::is_ascii_hexdigit).count();
        if segment.bytes().all(|b| b.is_ascii_digit()) || (hexish && digits >= 16) {
            out.push_str("{id}");
        } else {
            out.push_str(segment);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

impl Tally {
    /// Counts a record that could not be read; keeps the row if it is among the first
    /// `MAX_ERROR_ROWS` by location.
    pub fn error(&mut self, loc: Loc, reason: &str) {
        *self.error_counts.entry(reason.to_string()).or_default() += 1;
        self.errors.push(ErrorRow {
            loc,
            reason: reason.to_string(),
        });
        if self.errors.len() >= 2 * MAX_ERROR_ROWS {
            self.trim_errors();
        }
    }

    fn trim_errors(&mut self) {
        self.errors.sort_unstable();
        self.errors.truncate(MAX_ERROR_ROWS);
    }

    /// Counts one classified record. `counted` is false for a repeat of a trace id already
    /// counted: it adds only its denied_calls row (reduced to one later).
    pub fn add(
        &mut self,
        record: &Record,
        call: &Call,
        loc: Loc,
        dedupe: Option<u64>,
        counted: bool,
    ) {
        let project = call.project.as_deref().unwrap_or("unknown");
        if call.outcome == Outcome::Denied
            && let Some(cause) = call.cause
        {
            self.denied_calls.push(DeniedCall {
                time: record.time,
                loc,
                project: project.to_string(),
                user: record.user.as_deref().unwrap_or("").to_string(),
                source_ip: record.source_ip.as_deref().unwrap_or("").to_string(),
                method: call
                    .method
                    .as_deref()
                    .map(str::to_ascii_uppercase)
                    .unwrap_or_default(),
                path: call.path.as_deref().unwrap_or("").to_string(),
                trace_name: record.trace_name.as_deref().unwrap_or("").to_string(),
                actions: call.actions.clone(),
                cause,
                missing: call.missing.clone().unwrap_or_default(),
                request_id: record.request_id.as_deref().unwrap_or("").to_string(),
                dedupe,
            });
        }
        if !counted {
            self.duplicates += 1;
            return;
        }
        self.records += 1;
        let tally = match self.projects.get_mut(project) {
            Some(t) => t,
            None => self.projects.entry(project.to_string()).or_default(),
        };
        let stats = &mut tally.stats;
        stats.records += 1;
        widen(&mut stats.seen, record.time);
        let denied = call.outcome == Outcome::Denied;
        if call.actions.is_empty() {
            let method = call
                .method
                .as_deref()
                .map(str::to_ascii_uppercase)
                .unwrap_or_default();
            let mut template = call.path.as_deref().map(path_template).unwrap_or_default();
            if let Some(key) = &call.unclaimed_key {
                template.push_str(&format!(" (body: {key})"));
            }
            let trace = record.trace_name.as_deref().unwrap_or("").to_string();
            let example = call
                .path
                .as_deref()
                .or(record.resource_url.as_deref())
                .unwrap_or("");
            let row = self
                .unclassified
                .entry((method, template, trace))
                .or_default();
            if row.calls == 0 || example < row.example.as_str() {
                row.example = example.to_string();
            }
            row.calls += 1;
            row.denied += u64::from(denied);
            return;
        }
        stats.classified += 1;
        let (allowed, failed) = (
            call.outcome == Outcome::Allowed,
            call.outcome == Outcome::Failed,
        );
        stats.allowed += u64::from(allowed);
        stats.denied += u64::from(denied);
        stats.failed += u64::from(failed);
        let row = match tally.actions.get_mut(&call.actions) {
            Some(r) => r,
            None => tally.actions.entry(call.actions.clone()).or_default(),
        };
        row.calls += 1;
        row.allowed += u64::from(allowed);
        row.denied += u64::from(denied);
        row.failed += u64::from(failed);
        if let (true, Some(cause)) = (denied, call.cause) {
            if cause == Cause::MissingDependency {
                stats.dependency_denials += 1;
            }
            let key = (
                call.actions.clone(),
                cause,
                call.missing.clone().unwrap_or_default(),
            );
            let row = tally.denials.entry(key).or_default();
            row.calls += 1;
            widen(&mut row.seen, record.time);
            if let Some(user) = record.user.as_deref()
                && !row.users.contains(user)
            {
                row.users.insert(user.to_string());
            }
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: Tally) {
        self.records += other.records;
        self.duplicates += other.duplicates;
        self.out_of_time += other.out_of_time;
        self.other_projects += other.other_projects;
        for (name, theirs) in other.projects {
            let mine = self.projects.entry(name).or_default();
            let (a, b) = (&mut mine.stats, theirs.stats);
            a.records += b.records;
            a.classified += b.classified;
            a.allowed += b.allowed;
            a.denied += b.denied;
            a.failed += b.failed;
            a.dependency_denials += b.dependency_denials;
            a.seen = join(a.seen, b.seen);
            for (key, b) in theirs.actions {
                let a = mine.actions.entry(key).or_default();
                a.calls += b.calls;
                a.allowed += b.allowed;
                a.denied += b.denied;
                a.failed += b.failed;
            }
            for (key, b) in theirs.denials {
                let a = mine.denials.entry(key).or_default();
                a.calls += b.calls;
                a.users.extend(b.users);
                a.seen = join(a.seen, b.seen);
            }
        }
        for (key, b) in other.unclassified {
            let a = self.unclassified.entry(key).or_default();
            if a.calls == 0 || (b.calls > 0 && b.example < a.example) {
                a.example = b.example;
            }
            a.calls += b.calls;
            a.denied += b.denied;
        }
        self.denied_calls.extend(other.denied_calls);
        for (reason, n) in other.error_counts {
            *self.error_counts.entry(reason).or_default() += n;
        }
        self.errors.extend(other.errors);
        if self.errors.len() > MAX_ERROR_ROWS {
            self.trim_errors();
        }
    }

    /// Final clean-up before writing: errors trimmed and sorted.
    pub fn finish(&mut self) {
        self.trim_errors();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            path_template(
                "/v2.1/0123456789abcdef0123456789abcdef/servers/1b2f4c3e-0000-4000-8000-00000000abcd/action"
            ),
            "/v2.1/{id}/servers/{id}/action"
        );
        assert_eq!(path_template("/v1/p/orders/123/"), "/v1/p/orders/{id}");
        assert_eq!(path_template("/v2/deadbeef/x"), "/v2/deadbeef/x");
        assert_eq!(path_template(""), "/");
    }

    #[test]
    fn errors_keep_the_smallest_locations() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        for line in (0..1500).rev() {
            a.error(Loc { file: 1, line }, "invalid_json");
            b.error(Loc { file: 0, line }, "invalid_json");
        }
        a.merge(b);
        a.finish();
        assert_eq!(a.errors.len(), MAX_ERROR_ROWS);
        assert_eq!(a.errors[0].loc, Loc { file: 0, line: 0 });
        assert_eq!(a.errors[MAX_ERROR_ROWS - 1].loc, Loc { file: 0, line: 999 });
        assert_eq!(a.error_counts["invalid_json"], 3000);
    }
}
