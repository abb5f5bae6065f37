//! The one-screen human summary printed to stderr after a scan.

use crate::classify::Cause;
use crate::scan::ScanResult;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Formats the summary: input volume and speed, outcomes, denials by cause, the projects
/// with most denials, unreadable records by reason, and file errors.
pub fn render(result: &ScanResult, out: &Path) -> String {
    let t = &result.tally;
    let secs = result.elapsed.as_secs_f64().max(1e-9);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "permtrail: {} inputs ({} gzip), {:.1} MB in {:.2} s ({:.0} MB/s)",
        result.inputs.len(),
        result.gzip_files,
        result.bytes as f64 / 1e6,
        secs,
        result.bytes as f64 / 1e6 / secs
    );
    let (mut classified, mut allowed, mut denied, mut failed) = (0, 0, 0, 0);
    let mut causes: BTreeMap<Cause, u64> = BTreeMap::new();
    for p in t.projects.all() {
        classified += p.stats.classified;
        allowed += p.stats.allowed;
        denied += p.stats.denied;
        failed += p.stats.failed;
        for (key, d) in &p.denials {
            *causes.entry(key.cause).or_default() += d.calls;
        }
    }
    let _ = writeln!(
        s,
        "  records {}: classified {classified} (allowed {allowed}, denied {denied}, failed {failed}), unclassified {}",
        t.records,
        t.records - classified
    );
    for line in limits_reached(t) {
        let _ = writeln!(s, "  {line}");
    }
    let kept = |reason: &str| crate::count::KEPT_REASONS.contains(&reason);
    let skipped: u64 = t
        .error_counts
        .iter()
        .filter(|(r, _)| !kept(r))
        .map(|(_, n)| n)
        .sum();
    let _ = writeln!(
        s,
        "  not counted: {} of other services, {} repeated traces, {} outside the time range, {} other projects, {} unreadable",
        t.other_services, t.duplicates, t.out_of_time, t.other_projects, skipped
    );
    let mut by_project: Vec<(u64, &str)> = Vec::new();
    for (name, p) in t.projects.rows() {
        if p.stats.denied > 0 {
            by_project.push((p.stats.denied, name));
        }
    }
    let causes: Vec<String> = Cause::ALL
        .iter()
        .map(|c| format!("{} {}", c.as_str(), causes.get(c).copied().unwrap_or(0)))
        .collect();
    let _ = writeln!(s, "  denials by cause: {}", causes.join(", "));
    by_project.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    if !by_project.is_empty() {
        let top: Vec<String> = by_project
            .iter()
            .take(5)
            .map(|(n, p)| format!("{p} {n}"))
            .collect();
        let _ = writeln!(s, "  top projects by denials: {}", top.join(", "));
    }
    for (label, keep) in [
        ("unreadable records", false),
        ("records counted despite a problem", true),
    ] {
        let reasons: Vec<String> = t
            .error_counts
            .iter()
            .filter(|(r, _)| kept(r) == keep)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        if !reasons.is_empty() {
            let _ = writeln!(s, "  {label}: {} (see errors.csv)", reasons.join(", "));
        }
    }
    for e in &result.file_errors {
        let _ = writeln!(s, "  error: {}:{}: {}", e.input, e.line, e.reason);
    }
    let _ = writeln!(s, "  reports in {}", out.display());
    s
}

/// What the row limits pooled into the last row of a report, one line each (none when no
/// limit was reached). Said even with `--quiet`: such a run's reports hold less detail
/// than the input had.
pub fn limits_reached(t: &crate::count::Tally) -> Vec<String> {
    let mut lines = Vec::new();
    let (rows, projects) = (&t.unclassified.beyond, &t.projects.beyond.stats);
    for (report, count, what, denied, beyond, limit) in [
        (
            "unclassified.csv",
            rows.calls,
            "calls",
            rows.denied,
            "rows beyond --max-unclassified-rows",
            t.unclassified.limit(),
        ),
        (
            "projects.csv",
            projects.records,
            "records",
            projects.denied,
            "projects beyond --max-projects",
            t.projects.limit(),
        ),
    ] {
        if count > 0 {
            lines.push(format!(
                "{report}: {count} {what} ({denied} denied) of {beyond} {limit} are in its last row"
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::{Loc, Tally};
    use crate::scan::{FileError, ScanResult};
    use std::time::Duration;

    #[test]
    fn summary_names_causes_problems_and_file_errors() {
        let mut tally = Tally::default();
        (tally.records, tally.duplicates) = (8, 1);
        // Five records of projects past --max-projects, and calls past the unclassified rows.
        let pooled = &mut tally.projects.beyond.stats;
        (pooled.records, pooled.classified, pooled.denied) = (5, 5, 2);
        (
            tally.unclassified.beyond.calls,
            tally.unclassified.beyond.denied,
        ) = (4, 1);
        tally.error(Loc { file: 0, line: 2 }, "invalid_json");
        tally.error(Loc { file: 0, line: 3 }, crate::count::INVALID_STATUS);
        let dir = tempfile::tempdir().expect("tmp");
        let inputs: crate::read::Names = ["a.json"].into_iter().collect();
        let result = ScanResult {
            tally,
            runs: crate::runs::Runs::new(dir.path(), crate::runs::Order::new(&inputs)),
            inputs,
            bytes: 2_000_000,
            gzip_files: 0,
            elapsed: Duration::from_secs(1),
            file_errors: vec![FileError {
                input: "b.json.gz".into(),
                line: 7,
                reason: "read_error: unexpected end of file".into(),
            }],
        };
        let text = render(&result, Path::new("out"));
        assert!(text.contains("2.0 MB in 1.00 s (2 MB/s)"), "{text}");
        assert!(text.contains("1 repeated traces"), "{text}");
        assert!(text.contains(", 1 unreadable"), "{text}");
        assert!(
            text.contains("unreadable records: invalid_json 1"),
            "{text}"
        );
        assert!(
            text.contains("records counted despite a problem: invalid_status 1"),
            "{text}"
        );
        assert!(text.contains("missing_dependency 0"), "{text}");
        assert!(text.contains("error: b.json.gz:7: read_error"), "{text}");
        // The pooled projects count in the totals, and are named as pooled, not as a project.
        assert!(
            text.contains("records 8: classified 5 (allowed 0, denied 2"),
            "{text}"
        );
        assert!(
            text.contains("projects.csv: 5 records (2 denied) of projects beyond --max-projects 100000 are in its last row"),
            "{text}"
        );
        assert!(
            text.contains("unclassified.csv: 4 calls (1 denied) of rows beyond --max-unclassified-rows 10000 are in its last row"),
            "{text}"
        );
        assert!(!text.contains("top projects"), "{text}");
    }
}
