//! The rows whose number an outsider can drive without end, bounded: `unclassified.csv`'s
//! rows (one per distinct path a scanner makes up) and the project rows (one per project
//! id in a request path). Each keeps the rows of lowest rank under a hash keyed per run
//! (`RankLimit`) and pools the calls of all others in one last row, so that which rows are
//! kept depends neither on the order of the input nor on the number of threads.

use super::{HashSet, OpenMap, ProjectTally, Renumbering, who};

/// One row of unclassified.csv; `example` is the smallest original path (or trace
/// resource) seen, so it does not depend on processing order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnclassifiedStats {
    pub calls: u64,
    pub denied: u64,
    pub example: String,
    /// The row's `Unclassified::rank`.
    rank: u64,
}

impl UnclassifiedStats {
    /// Counts one call, keeping the smallest example.
    fn add(&mut self, example: &str, denied: bool) {
        if self.calls == 0 || example < self.example.as_str() {
            self.example = example.to_string();
        }
        self.add_counts(1, u64::from(denied));
    }

    /// Adds `other`'s calls to this row of the same key, keeping the smallest example.
    fn join(&mut self, other: UnclassifiedStats) {
        if self.calls == 0 || (other.calls > 0 && other.example < self.example) {
            self.example = other.example;
        }
        self.add_counts(other.calls, other.denied);
    }

    fn add_counts(&mut self, calls: u64, denied: u64) {
        self.calls += calls;
        self.denied += denied;
    }
}

/// The key of an unclassified.csv row: method, path template and trace name, in one
/// buffer: a row holds one allocation for its key, not three, and a lookup hashes and
/// compares one string. Invariant: `method_end <= template_end <= text.len()`, both on
/// char boundaries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UnclassifiedKey {
    text: String,
    method_end: usize,
    template_end: usize,
}

impl UnclassifiedKey {
    /// The key of these three parts.
    pub fn new(method: &str, template: &str, trace: &str) -> UnclassifiedKey {
        let mut key = UnclassifiedKey::default();
        key.fill(method, |out| out.push_str(template), trace);
        key
    }

    /// Makes this the key of `method`, the template `template` appends to the buffer it is
    /// handed, and `trace`, reusing the buffer (the key is built for every such line).
    pub fn fill(&mut self, method: &str, template: impl FnOnce(&mut String), trace: &str) {
        self.text.clear();
        self.text.push_str(method);
        self.method_end = self.text.len();
        template(&mut self.text);
        self.template_end = self.text.len();
        self.text.push_str(trace);
    }

    /// The request method (empty when the record had none).
    pub fn method(&self) -> &str {
        &self.text[..self.method_end]
    }

    /// The path template, with an unclaimed body key after it when there was one.
    pub fn template(&self) -> &str {
        &self.text[self.method_end..self.template_end]
    }

    /// The trace name (empty for a request without one).
    pub fn trace(&self) -> &str {
        &self.text[self.template_end..]
    }

    fn parts(&self) -> (&str, &str, &str) {
        (self.method(), self.template(), self.trace())
    }
}

impl Ord for UnclassifiedKey {
    /// By method, then template, then trace name (the report's order on equal calls).
    fn cmp(&self, other: &UnclassifiedKey) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl PartialOrd for UnclassifiedKey {
    fn partial_cmp(&self, other: &UnclassifiedKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Rows kept by default (`--max-unclassified-rows`).
pub const MAX_UNCLASSIFIED_ROWS: usize = 10_000;

/// The rows of unclassified.csv, bounded. An access log in front of an open gateway
/// records every path a scanner tries, and each distinct one was a row: a million bot
/// requests to made-up paths held 440 MB. So a run keeps at most `limit` rows, and counts
/// the calls of all others in `beyond` (the report's last row).
///
/// Which rows are kept does not depend on the order records arrive in, nor on how the
/// work was split between workers: the `limit` rows of lowest `rank` among all distinct
/// keys, and every call of those rows is counted (see `RankLimit`). Invariant: no row
/// ranks above the bound's threshold; the calls of a key ranking above it go to `beyond`.
#[derive(Debug, Clone)]
pub struct Unclassified {
    pub(super) rows: OpenMap<UnclassifiedKey, UnclassifiedStats>,
    /// Calls and denials of the rows not kept (`example` unused).
    pub beyond: UnclassifiedStats,
    bound: RankLimit,
}

/// The bound `Unclassified` and `Projects` share: of all distinct keys a run meets, keep
/// the `limit` of lowest rank. Invariant: `threshold` only falls, and it is at least the
/// `limit`-th lowest rank of all keys, as the `limit`-th lowest rank of any subset of them
/// is at least that; so a key ranking above it is never among those kept, and one ranking
/// below it can be kept with every call of its own.
#[derive(Debug, Clone, Copy)]
struct RankLimit {
    threshold: u64,
    limit: usize,
    /// Key of the rank's hash; one per run (see `LIMIT_SEED`).
    seed: u64,
}

impl RankLimit {
    /// Nothing turned away yet; at most `limit` (at least 1) kept.
    fn new(limit: usize, seed: u64) -> RankLimit {
        RankLimit {
            threshold: u64::MAX,
            limit: limit.max(1),
            seed,
        }
    }

    /// Whether a key of this rank is turned away (for good).
    fn beyond(&self, rank: u64) -> bool {
        rank > self.threshold
    }

    /// Lowers the threshold to the `limit`-th lowest of `ranks`, the ranks of the keys
    /// held; false when they are no more than the limit.
    fn lower(&mut self, mut ranks: Vec<u64>) -> bool {
        if ranks.len() <= self.limit {
            return false;
        }
        let (_, &mut kth, _) = ranks.select_nth_unstable(self.limit - 1);
        self.threshold = self.threshold.min(kth);
        true
    }

    /// Takes the lower threshold and limit of `other`, of the same run; true when the
    /// threshold fell.
    fn join(&mut self, other: RankLimit) -> bool {
        debug_assert_eq!(self.seed, other.seed, "merged rows rank alike");
        self.limit = self.limit.min(other.limit);
        let fell = other.threshold < self.threshold;
        self.threshold = self.threshold.min(other.threshold);
        fell
    }
}

/// The key of the hashes that rank rows for keeping (`Unclassified::rank`,
/// `Projects::rank`) when nothing else sets one: a scan takes a random key per run (or
/// `--limit-seed`), so that no one can craft keys that rank first; tests and tools that
/// build tallies by hand share this one.
pub const LIMIT_SEED: u64 = 0;

impl Default for Unclassified {
    fn default() -> Unclassified {
        Unclassified::with_limit(MAX_UNCLASSIFIED_ROWS, LIMIT_SEED)
    }
}

impl Unclassified {
    /// No rows yet; at most `limit` (at least 1) at the end, chosen by a hash keyed with
    /// `seed` (tallies merged into each other must share it).
    pub fn with_limit(limit: usize, seed: u64) -> Unclassified {
        Unclassified {
            rows: OpenMap::default(),
            beyond: UnclassifiedStats::default(),
            bound: RankLimit::new(limit, seed),
        }
    }

    /// The most rows kept at the end.
    pub fn limit(&self) -> usize {
        self.bound.limit
    }

    /// The rows kept so far (all of them once `finish` ran).
    pub fn rows(&self) -> impl Iterator<Item = (&UnclassifiedKey, &UnclassifiedStats)> {
        self.rows.iter()
    }

    /// Orders keys for keeping, lowest first, by the key alone: calls of the API (a trace's
    /// name, or a path whose first segment is a version such as `v2` or `v2.1`) before
    /// anything else, then by a hash of the key keyed with `seed`. A scanner's made-up
    /// paths are mostly of the second kind, so they give way first; and as the key is new
    /// in every run, no one can make up paths that rank before the others.
    fn rank(&self, key: &UnclassifiedKey) -> u64 {
        let (method, template, trace) = key.parts();
        let api = !trace.is_empty() || {
            let b = template.as_bytes();
            b.len() > 2 && b[0] == b'/' && b[1] == b'v' && b[2].is_ascii_digit()
        };
        let mut h = xxhash_rust::xxh3::xxh3_64_with_seed(method.as_bytes(), self.bound.seed);
        for part in [template, trace] {
            h = xxhash_rust::xxh3::xxh3_64_with_seed(part.as_bytes(), h);
        }
        (u64::from(!api) << 63) | (h >> 1)
    }

    /// Counts one call of `key` (denied or not, `example` its original path) in its row,
    /// or in `beyond` when the key is beyond the limit.
    pub fn count(&mut self, key: &UnclassifiedKey, example: &str, denied: bool) {
        if let Some(row) = self.rows.get_mut(key) {
            row.add(example, denied);
            return;
        }
        let rank = self.rank(key);
        if !self.bound.beyond(rank) && self.rows.len() >= self.prune_at() {
            self.prune();
        }
        if self.bound.beyond(rank) {
            self.beyond.add_counts(1, u64::from(denied));
            return;
        }
        let mut row = UnclassifiedStats {
            rank,
            ..Default::default()
        };
        row.add(example, denied);
        self.rows.insert(key.clone(), row);
    }

    /// Rows held before `prune` runs: twice the limit, so each row is looked at a bounded
    /// number of times on average (saturating, like `Projects::prune_at`).
    fn prune_at(&self) -> usize {
        self.bound.limit.saturating_mul(2)
    }

    /// Adds `other`'s rows and the calls beyond its limit.
    pub fn merge(&mut self, other: Unclassified) {
        self.beyond
            .add_counts(other.beyond.calls, other.beyond.denied);
        // Keys above either threshold were turned away somewhere: none may stay a row.
        if self.bound.join(other.bound) {
            self.drop_above_threshold();
        }
        for (key, b) in other.rows {
            if self.bound.beyond(b.rank) {
                self.beyond.add_counts(b.calls, b.denied);
                continue;
            }
            let a = self.rows.entry(key).or_insert_with(|| UnclassifiedStats {
                rank: b.rank,
                ..Default::default()
            });
            a.join(b);
        }
        if self.rows.len() >= self.prune_at() {
            self.prune();
        }
    }

    /// Keeps the `limit` rows of lowest rank (more only on equal ranks), before the rows
    /// are read.
    pub fn finish(&mut self) {
        if self.rows.len() > self.bound.limit {
            self.prune();
        }
    }

    /// Lowers `threshold` to the `limit`-th lowest rank held and moves the rows above it
    /// into `beyond`. Runs when the rows reach twice the limit, so each row is looked at a
    /// bounded number of times on average.
    fn prune(&mut self) {
        if self
            .bound
            .lower(self.rows.values().map(|r| r.rank).collect())
        {
            self.drop_above_threshold();
        }
    }

    fn drop_above_threshold(&mut self) {
        let (bound, beyond) = (self.bound, &mut self.beyond);
        self.rows.retain(|_, row| {
            let keep = !bound.beyond(row.rank);
            if !keep {
                beyond.add_counts(row.calls, row.denied);
            }
            keep
        });
    }
}

/// Project rows kept by default (`--max-projects`).
pub const MAX_PROJECTS: usize = 100_000;

/// Bytes of a name `ProjectName` keeps in place: the most that fit its 40 bytes with the
/// variant and length (every project id has 32).
const INLINE_NAME: usize = 38;

/// A project's name as the key of its row, held in the row's own table slot when short
/// (every project id is): with a `String` key, comparing a record's project with a slot's
/// went to memory of its own, one more cache miss for each record of a run over many
/// projects. Keyed, hashed and compared as its bytes (`Borrow<[u8]>`); always UTF-8, as it
/// is made from a `&str`.
#[derive(Clone)]
pub(super) struct ProjectName(NameRepr);

#[derive(Clone)]
enum NameRepr {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    Boxed(Box<[u8]>),
}

impl ProjectName {
    fn new(name: &str) -> ProjectName {
        let text = name.as_bytes();
        ProjectName(match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE_NAME => {
                let mut bytes = [0; INLINE_NAME];
                bytes[..text.len()].copy_from_slice(text);
                NameRepr::Inline { len, bytes }
            }
            _ => NameRepr::Boxed(text.into()),
        })
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            NameRepr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            NameRepr::Boxed(bytes) => bytes,
        }
    }

    /// The name; read for reports and pooling, never in the per-record lookup.
    pub(super) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("made from a str")
    }
}

impl std::borrow::Borrow<[u8]> for ProjectName {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::hash::Hash for ProjectName {
    // As its bytes, so that a lookup by `&[u8]` finds it (`Borrow`'s contract).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for ProjectName {
    fn eq(&self, other: &ProjectName) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ProjectName {}

impl std::fmt::Debug for ProjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// The rows of projects.csv (and the project parts of actions.csv and denials.csv),
/// bounded. A project is mostly the project segment of a request path, which in an access
/// log is whatever the caller sent: a flood of requests with ever new project ids made a
/// row each, several hundred bytes with its table slot. So a run keeps at most `limit` projects and pools the counts
/// of all others in `beyond`, which the reports write as one last row.
///
/// As with `Unclassified`, which projects are kept does not depend on the order of the
/// records nor on how the work was split: the `limit` projects of lowest `rank` among all
/// distinct ones, each with every one of its calls (see `RankLimit`). Invariant: no row
/// ranks above the bound's threshold; a project ranking above it is pooled.
/// The denials of a pooled project that name no action are not inferred (see
/// `Tally::infer`): they stay `unknown`, in `beyond` and in denied_calls.csv alike.
#[derive(Debug, Clone)]
pub struct Projects {
    pub(super) rows: OpenMap<ProjectName, RankedRow>,
    /// The pooled counts of the projects not kept.
    pub beyond: ProjectTally,
    bound: RankLimit,
}

/// A kept project's row with its `Projects::rank`, worked out once when the row is made:
/// a flood of made-up projects prunes the rows again and again, and ranking every name
/// anew each time was a quarter of such a run.
#[derive(Debug, Clone)]
pub(super) struct RankedRow {
    rank: u64,
    pub(super) row: ProjectTally,
}

impl Default for Projects {
    fn default() -> Projects {
        Projects::with_limit(MAX_PROJECTS, LIMIT_SEED)
    }
}

impl Projects {
    /// No rows yet; at most `limit` (at least 1) at the end, chosen by a hash keyed with
    /// `seed` (tallies merged into each other must share it).
    pub fn with_limit(limit: usize, seed: u64) -> Projects {
        Projects {
            rows: OpenMap::default(),
            beyond: ProjectTally::default(),
            bound: RankLimit::new(limit, seed),
        }
    }

    /// The most rows kept at the end.
    pub fn limit(&self) -> usize {
        self.bound.limit
    }

    /// The projects kept so far (all of them once `Tally::finish` ran), by name.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &ProjectTally)> {
        self.rows
            .iter()
            .map(|(name, ranked)| (name.as_str(), &ranked.row))
    }

    /// The rows of the kept projects and then the pooled one: every project's counts once.
    pub fn all(&self) -> impl Iterator<Item = &ProjectTally> {
        self.rows
            .values()
            .map(|ranked| &ranked.row)
            .chain([&self.beyond])
    }

    /// Orders projects for keeping, lowest first, by the name alone: names shaped like a
    /// project id (32 hex digits, as every project id is) and `unknown` (the calls without
    /// a project) before anything else, then by a hash of the name keyed with `seed`. A
    /// scanner's path segments are mostly of the second kind, so they give way first; and
    /// as the key is new in every run, no one can make up ids that rank before the real
    /// ones and push them all out with a few requests each.
    pub(super) fn rank(seed: u64, name: &str) -> u64 {
        // Every byte looked at, without stopping early, so the check runs many a step.
        let hex = |id: &[u8; 32]| id.iter().fold(true, |all, b| all & b.is_ascii_hexdigit());
        let id_like = <&[u8; 32]>::try_from(name.as_bytes()).is_ok_and(hex) || name == "unknown";
        let hash = xxhash_rust::xxh3::xxh3_64_with_seed(name.as_bytes(), seed);
        (u64::from(!id_like) << 63) | (hash >> 1)
    }

    /// This run's `rank` of a name.
    fn rank_of(&self, name: &str) -> u64 {
        Projects::rank(self.bound.seed, name)
    }

    /// Whether a project of this name is pooled in `beyond` (for good: the threshold only
    /// falls).
    pub fn is_beyond(&self, name: &str) -> bool {
        self.bound.beyond(self.rank_of(name))
    }

    /// The row of a kept project.
    pub(super) fn get_mut(&mut self, name: &str) -> Option<&mut ProjectTally> {
        self.rows
            .get_mut(name.as_bytes())
            .map(|ranked| &mut ranked.row)
    }

    /// Makes a row for a project not among the rows, unless it ranks above the threshold,
    /// which the rows reaching `prune_at` may lower first. Returns whether it has a row,
    /// and the `who` keys of the projects that pruning pooled.
    pub(super) fn admit(&mut self, name: &str) -> (bool, HashSet<u64>) {
        let rank = self.rank_of(name);
        let pooled = if !self.bound.beyond(rank) && self.rows.len() >= self.prune_at() {
            self.prune()
        } else {
            HashSet::default()
        };
        let kept = !self.bound.beyond(rank);
        if kept {
            let row = ProjectTally::default();
            self.rows
                .insert(ProjectName::new(name), RankedRow { rank, row });
        }
        (kept, pooled)
    }

    /// Adds the rows and pooled counts of `other`, a tally of the same run whose numbers
    /// `numbers` reads, under the lower of both thresholds and limits. Returns the `who`
    /// keys of the projects pooled on the way.
    pub(super) fn merge(&mut self, other: Projects, numbers: &Renumbering) -> HashSet<u64> {
        // Rows above either threshold were turned away somewhere: none may stay a row,
        // and `other`'s go straight to `beyond`, as `Unclassified::merge` does.
        self.bound.join(other.bound);
        let mut pooled = self.pool_above_threshold();
        for (name, theirs) in other.rows {
            let rank = theirs.rank;
            if self.bound.beyond(rank) {
                pooled.insert(who(name.as_str()));
                self.beyond.join(theirs.row, numbers);
                continue;
            }
            let row = ProjectTally::default();
            let mine = self.rows.entry(name).or_insert(RankedRow { rank, row });
            mine.row.join(theirs.row, numbers);
        }
        self.beyond.join(other.beyond, numbers);
        if self.rows.len() >= self.prune_at() {
            pooled.extend(self.prune());
        }
        pooled
    }

    /// Keeps the `limit` rows of lowest rank before the rows are read; returns the `who`
    /// keys of the projects that pools.
    pub(super) fn finish(&mut self) -> HashSet<u64> {
        if self.rows.len() > self.bound.limit {
            self.prune()
        } else {
            HashSet::default()
        }
    }

    /// The row of a kept project, made empty if it has none yet.
    pub(super) fn row_mut(&mut self, name: &str) -> &mut ProjectTally {
        if !self.rows.contains_key(name.as_bytes()) {
            let rank = self.rank_of(name);
            let row = ProjectTally::default();
            self.rows
                .insert(ProjectName::new(name), RankedRow { rank, row });
        }
        &mut self.rows.get_mut(name.as_bytes()).expect("just made").row
    }

    /// Rows held before `prune` runs: a quarter above the limit, so each row is ranked a
    /// bounded number of times on average while the rows stay close to the limit.
    pub(super) fn prune_at(&self) -> usize {
        // Saturating: a limit near `usize::MAX` means no limit, not one that wraps around.
        self.bound
            .limit
            .saturating_add(self.bound.limit.div_ceil(4))
    }

    /// Lowers `threshold` to the `limit`-th lowest rank held and pools the rows above it;
    /// returns their `who` keys.
    fn prune(&mut self) -> HashSet<u64> {
        if self
            .bound
            .lower(self.rows.values().map(|r| r.rank).collect())
        {
            self.pool_above_threshold()
        } else {
            HashSet::default()
        }
    }

    /// Pools every row ranking above `threshold` into `beyond`; returns their `who` keys.
    fn pool_above_threshold(&mut self) -> HashSet<u64> {
        let mut pooled = HashSet::default();
        if self.bound.threshold == u64::MAX {
            return pooled;
        }
        let (bound, beyond) = (self.bound, &mut self.beyond);
        self.rows.retain(|name, ranked| {
            let keep = !bound.beyond(ranked.rank);
            if !keep {
                pooled.insert(who(name.as_str()));
                beyond.join(std::mem::take(&mut ranked.row), &Renumbering::Same);
            }
            keep
        });
        pooled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_of_any_length_are_kept_whole_and_found_by_their_bytes() {
        let mut rows: OpenMap<ProjectName, usize> = OpenMap::default();
        let mut names = Vec::new();
        for len in [
            0,
            1,
            31,
            32,
            INLINE_NAME - 1,
            INLINE_NAME,
            INLINE_NAME + 1,
            255,
            256,
            300,
        ] {
            // Names that differ only in their last byte, on either side of the inline size.
            for last in ['a', 'b', 'é'] {
                let mut name = "x".repeat(len.saturating_sub(last.len_utf8()));
                name.push(last);
                names.push(name);
            }
        }
        names.sort();
        names.dedup();
        for (i, name) in names.iter().enumerate() {
            let key = ProjectName::new(name);
            assert_eq!(key.as_str(), name);
            assert_eq!(format!("{key:?}"), format!("{name:?}"));
            assert!(rows.insert(key, i).is_none(), "{name:?} is new");
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(rows.get(name.as_bytes()), Some(&i), "{name:?}");
        }
        assert_eq!(rows.get(&b"y"[..]), None);
    }

    #[test]
    fn project_ids_and_unknown_rank_before_other_names() {
        let id = "0123456789abcdef0123456789ABCDEF";
        for seed in [0, 1, u64::MAX] {
            for other in [
                "wp-admin",
                "login.php",
                "0123456789abcdef",
                "{project_id}",
                "",
            ] {
                assert!(
                    Projects::rank(seed, id) < Projects::rank(seed, other),
                    "{other}"
                );
                assert!(Projects::rank(seed, "unknown") < Projects::rank(seed, other));
            }
        }
    }

    #[test]
    fn unclassified_keys_keep_their_three_parts_apart() {
        // One buffer holds the three parts: keys whose parts join to the same text are
        // still different rows, and keys order by their parts, not by the joined text.
        let (a, b) = (
            UnclassifiedKey::new("GET", "/x", ""),
            UnclassifiedKey::new("GE", "T/x", ""),
        );
        assert_eq!((a.method(), a.template(), a.trace()), ("GET", "/x", ""));
        assert_eq!((b.method(), b.template(), b.trace()), ("GE", "T/x", ""));
        assert_ne!(a, b);
        let c = UnclassifiedKey::new("GET", "/x/", "");
        let d = UnclassifiedKey::new("GET", "/x", "/");
        assert_ne!(c, d);
        assert_eq!(d.trace(), "/");
        // "A" < "A!" decides, though "Ab" > "A!a" as joined text.
        assert!(UnclassifiedKey::new("A", "b", "") < UnclassifiedKey::new("A!", "a", ""));
        let mut rows = Unclassified::default();
        for key in [&a, &b, &c, &d, &a] {
            rows.count(key, key.template(), false);
        }
        let mut calls: Vec<(String, u64)> = rows
            .rows()
            .map(|(k, r)| {
                (
                    format!("{}|{}|{}", k.method(), k.template(), k.trace()),
                    r.calls,
                )
            })
            .collect();
        calls.sort();
        assert_eq!(
            calls,
            [
                ("GET|/x/|".to_string(), 1),
                ("GET|/x|".to_string(), 2),
                ("GET|/x|/".to_string(), 1),
                ("GE|T/x|".to_string(), 1),
            ]
        );
        // Refilling a key reuses its buffer and leaves nothing of the old parts.
        let mut key = UnclassifiedKey::new("DELETE", "/a/long/template", "someTrace");
        key.fill("GET", |out| out.push_str("/x"), "");
        assert_eq!(key, a);
    }

    #[test]
    fn a_limit_near_the_largest_number_is_no_limit() {
        // Twice or a quarter more of such a limit wrapped around to a small number, and
        // every new key then ranked all the rows again.
        let mut rows = Unclassified::with_limit(usize::MAX, LIMIT_SEED);
        let projects = Projects::with_limit(usize::MAX, LIMIT_SEED);
        assert_eq!(rows.prune_at(), usize::MAX);
        assert_eq!(projects.prune_at(), usize::MAX);
        for k in 0..100 {
            let key = UnclassifiedKey::new("GET", &format!("/p{k}"), "");
            rows.count(&key, key.template(), false);
        }
        rows.finish();
        assert_eq!((rows.rows().count(), rows.beyond.calls), (100, 0));
    }

    #[test]
    fn unclassified_rows_beyond_the_limit_are_the_same_whatever_the_order() {
        // 4,000 distinct keys, a tenth of them API calls, each seen 1 to 4 times, one call in
        // three denied; kept to 300 rows, counted in orders and splits that prune at
        // different moments.
        let mut state = 0x0dd5;
        let mut next = || crate::testing::xorshift(&mut state);
        let mut calls: Vec<(UnclassifiedKey, bool)> = Vec::new();
        for k in 0..4_000u64 {
            let key = if k % 10 == 0 {
                UnclassifiedKey::new("GET", &format!("/v2/{{id}}/thing{k}"), "")
            } else {
                UnclassifiedKey::new("GET", &format!("/scan{k}/login"), "")
            };
            for _ in 0..1 + next() % 4 {
                calls.push((key.clone(), next() % 3 == 0));
            }
        }
        let limit = 300;
        let count = |u: &mut Unclassified, (key, denied): &(UnclassifiedKey, bool)| {
            u.count(key, key.template(), *denied);
            assert!(u.rows.len() <= 2 * limit, "bounded while counting");
        };
        let outcome = |mut u: Unclassified| {
            u.finish();
            let mut rows: Vec<(UnclassifiedKey, u64, u64)> = u
                .rows()
                .map(|(k, r)| (k.clone(), r.calls, r.denied))
                .collect();
            rows.sort();
            (rows, u.beyond.calls, u.beyond.denied)
        };
        // Expected: the 300 keys of lowest rank, every call of theirs counted.
        let mut exact: std::collections::BTreeMap<UnclassifiedKey, (u64, u64)> = Default::default();
        for (key, denied) in &calls {
            let e = exact.entry(key.clone()).or_default();
            e.0 += 1;
            e.1 += u64::from(*denied);
        }
        let mut by_rank: Vec<&UnclassifiedKey> = exact.keys().collect();
        // Any key of the hash will do, as long as every part shares it.
        let seed = 0x5eed;
        let ranker = Unclassified::with_limit(limit, seed);
        by_rank.sort_by_key(|k| ranker.rank(k));
        let mut want_rows: Vec<(UnclassifiedKey, u64, u64)> = by_rank[..limit]
            .iter()
            .map(|k| ((*k).clone(), exact[*k].0, exact[*k].1))
            .collect();
        want_rows.sort();
        let kept: (u64, u64) = want_rows.iter().fold((0, 0), |a, r| (a.0 + r.1, a.1 + r.2));
        let total: (u64, u64) = exact.values().fold((0, 0), |a, e| (a.0 + e.0, a.1 + e.1));
        let want = (want_rows, total.0 - kept.0, total.1 - kept.1);
        // Every API key ranks before every other: all 400 would fit a limit of 400.
        assert!(
            want.0
                .iter()
                .all(|(k, ..)| k.template().starts_with("/v2/"))
        );
        for round in 0..6 {
            // A shuffled order, split over three workers merged in a rotating order.
            let mut order = calls.clone();
            for i in (1..order.len()).rev() {
                order.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            let mut parts: Vec<Unclassified> = (0..3)
                .map(|_| Unclassified::with_limit(limit, seed))
                .collect();
            for (i, call) in order.iter().enumerate() {
                count(&mut parts[(i + round) % 3], call);
            }
            parts.rotate_left(round % 3);
            let mut all = parts.remove(0);
            for part in parts {
                all.merge(part);
            }
            assert_eq!(outcome(all), want, "round {round}");
        }
    }
}
