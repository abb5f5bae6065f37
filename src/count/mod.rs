//! Aggregation: folds classified records into a `Tally`, and merges tallies. `merge` is
//! associative and commutative, and every field is either a sum, a min/max, a set union or a
//! list that `write` sorts, so reports never depend on thread count or chunk size.
//!
//! Denials that name no action are held back as `pending` (grouped by project, user and
//! candidates) next to the permissions allowed calls `proven`; `infer` resolves them once
//! the whole run is counted, because evidence after a denial counts as much as before.
//!
//! Project rows and unclassified rows, which whoever sends requests can multiply, are kept
//! to a limit by `bounded`.

use crate::catalog::{ActionId, Catalog};
use crate::classify::{Call, Cause, Outcome};
use crate::parse::Record;
use crate::parse::time::Millis;
use crate::proven::{Held, INLINE_WORDS, Proven};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

mod bounded;
pub use bounded::{
    LIMIT_SEED, MAX_PROJECTS, MAX_UNCLASSIFIED_ROWS, Projects, Unclassified, UnclassifiedKey,
    UnclassifiedStats,
};

/// errors.csv reason for a record read with its invalid UTF-8 bytes replaced (still counted).
pub const INVALID_UTF8: &str = "invalid_utf8_replaced";
/// errors.csv reason for a status that is no HTTP status, e.g. `"40x"` (record still counted).
pub const INVALID_STATUS: &str = "invalid_status";
/// errors.csv reason for a time that is none of the known layouts or out of range (record
/// still counted, without a time).
pub const INVALID_TIME: &str = "invalid_time";
/// Reasons whose records were counted all the same; every other reason is a lost record.
pub const KEPT_REASONS: [&str; 3] = [INVALID_UTF8, INVALID_STATUS, INVALID_TIME];

/// How many error rows are kept for errors.csv (the smallest by file and line).
pub const MAX_ERROR_ROWS: usize = 1000;

/// Where a record starts: index of its input in the run's input list, and its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    pub file: u32,
    pub line: u64,
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
    /// Denied with cause `inferred_missing_dependency` (set by `Tally::infer`).
    pub inferred_dependency_denials: u64,
    pub seen: Span,
}

/// One row of actions.csv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls: u64,
    pub allowed: u64,
    pub denied: u64,
    pub failed: u64,
}

impl std::ops::AddAssign for CallStats {
    fn add_assign(&mut self, other: CallStats) {
        self.calls += other.calls;
        self.allowed += other.allowed;
        self.denied += other.denied;
        self.failed += other.failed;
    }
}

/// One row of denials.csv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenialStats {
    pub calls: u64,
    /// Distinct users, as their numbers in the tally's `UserIndex` (of 64-bit hashes: only
    /// their count is reported; collisions about n²/2⁶⁵).
    pub users: UserSet,
    pub seen: Span,
}

/// Users a `UserSet` keeps inline.
const FEW_USERS: usize = 3;

/// The distinct users of a denials.csv row, as `UserIndex` numbers: up to `FEW_USERS`
/// inline, more in a set of their own. Most rows of a bad day have one or two users, and a
/// set for each (an allocation of some 100 bytes) was most of a row's memory.
#[derive(Debug, Clone)]
pub enum UserSet {
    /// `users[..len]`, distinct.
    Few { len: u8, users: [u32; FEW_USERS] },
    /// More than `FEW_USERS`.
    Many(Box<HashSet<u32>>),
}

impl Default for UserSet {
    fn default() -> UserSet {
        UserSet::Few {
            len: 0,
            users: [0; FEW_USERS],
        }
    }
}

impl UserSet {
    /// Adds `user`; true when it was not in the set yet.
    pub fn insert(&mut self, user: u32) -> bool {
        match self {
            UserSet::Few { len, users } => {
                let n = usize::from(*len);
                if users[..n].contains(&user) {
                    return false;
                }
                if n < FEW_USERS {
                    users[n] = user;
                    *len += 1;
                } else {
                    let mut many: HashSet<u32> = users.iter().copied().collect();
                    many.insert(user);
                    *self = UserSet::Many(Box::new(many));
                }
                true
            }
            UserSet::Many(many) => many.insert(user),
        }
    }

    /// Whether `user` is in the set.
    pub fn contains(&self, user: u32) -> bool {
        match self {
            UserSet::Few { len, users } => users[..usize::from(*len)].contains(&user),
            UserSet::Many(many) => many.contains(&user),
        }
    }

    /// Number of distinct users.
    pub fn len(&self) -> usize {
        match self {
            UserSet::Few { len, .. } => usize::from(*len),
            UserSet::Many(many) => many.len(),
        }
    }

    /// Whether the set has no user.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The users, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (few, many) = match self {
            UserSet::Few { len, users } => (&users[..usize::from(*len)], None),
            UserSet::Many(many) => (&[][..], Some(many.iter())),
        };
        few.iter().chain(many.into_iter().flatten()).copied()
    }
}

/// Equal when they hold the same users, in whatever order or form.
impl PartialEq for UserSet {
    fn eq(&self, other: &UserSet) -> bool {
        self.len() == other.len() && self.iter().all(|u| other.contains(u))
    }
}

impl Eq for UserSet {}

/// Users (as `who` hashes) numbered in the order a tally first meets them, for the user
/// sets of denial rows: a set of `u32` takes about half the memory of one of hashes, and
/// on a day when most calls are denied those sets hold millions of (row, user) pairs.
/// Numbers belong to one tally; `Tally::merge` renumbers the other's.
#[derive(Debug, Clone, Default)]
pub struct UserIndex {
    numbers: HashMap<u64, u32>,
    hashes: Vec<u64>,
}

impl UserIndex {
    /// The number of the user with this hash, given a new one if it has none yet.
    pub fn number(&mut self, hash: u64) -> u32 {
        *self.numbers.entry(hash).or_insert_with(|| {
            self.hashes.push(hash);
            u32::try_from(self.hashes.len() - 1).expect("fewer than 2³² distinct users")
        })
    }
}

/// A map keyed by text that whoever sends a request can choose: the project segment of a
/// request path, an unclassified call's path. Its hash takes a random key per map
/// (foldhash), so keys crafted to collide under a fixed hash (the one of the other maps,
/// whose keys are numbers or this program's own 64-bit hashes) cannot make each insert
/// walk all the others.
pub type OpenMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// How a `ProjectTally` from one tally is read in another: the numbers of its action
/// lists, missing permission texts and users, as the other tally's.
enum Renumbering {
    /// Both rows belong to one tally.
    Same,
    /// By number in the row's tally: the number in the other.
    Into {
        lists: Vec<u32>,
        missing_texts: Vec<u32>,
        users: Vec<u32>,
    },
}

impl Renumbering {
    fn list(&self, n: u32) -> u32 {
        match self {
            Renumbering::Same => n,
            Renumbering::Into { lists, .. } => lists[n as usize],
        }
    }

    fn missing_text(&self, n: u32) -> u32 {
        match self {
            Renumbering::Same => n,
            Renumbering::Into { missing_texts, .. } => missing_texts[n as usize],
        }
    }

    fn user(&self, n: u32) -> u32 {
        match self {
            Renumbering::Same => n,
            Renumbering::Into { users, .. } => users[n as usize],
        }
    }
}

/// Key of a denials.csv row within a project: the numbers of its action list (in
/// `Tally::lists`) and of its missing permission text (in `Tally::missing_texts`), and its
/// cause. Twelve bytes and no allocation: a bad day with many projects has a row for
/// nearly every denial, and a key of a list and a string of their own (three allocations
/// with the user set) made a row some 270 bytes. Numbers belong to one tally;
/// `Tally::merge` renumbers the other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DenialKey {
    pub list: u32,
    pub missing: u32,
    pub cause: Cause,
}

/// Key of denials waiting for inference: the (project, candidate actions) scope as a
/// `scope_key`, and the user as a `who` key. Hashes rather than names and lists, so that
/// the groups (which grow with projects × users × actions) cost two words each and no
/// allocation; `Tally::scopes` maps a scope back to its project and actions.
pub type PendingKey = (u64, u64);

/// A project's `who` key and an `actions_key` as one 64-bit key (XXH3 of both), for
/// `PendingKey`. Distinct scopes collide with probability about n²/2⁶⁵.
pub fn scope_key(project: u64, actions: u64) -> u64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&project.to_le_bytes());
    bytes[8..].copy_from_slice(&actions.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// A list of candidate actions as a 64-bit key (XXH3, like `who`), for `scope_key`.
pub fn actions_key(actions: &[ActionId]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    for id in actions {
        h.update(&id.to_le_bytes());
    }
    h.digest()
}

/// A project or user name as a 64-bit key (`seen::stable_hash`); 0 for an empty name (an
/// unknown user). Distinct names collide with probability about n²/2⁶⁵.
pub fn who(name: &str) -> u64 {
    if name.is_empty() {
        0
    } else {
        crate::seen::stable_hash(name)
    }
}

/// Counted `unknown` denials of one `PendingKey`, before inference: 24 bytes, so that a
/// group's table entry is 40 (there can be hundreds of thousands).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingStats {
    pub calls: u64,
    pub seen: Span,
}

/// The (first, last) record time of a report row: 16 bytes (`Option<(Millis, Millis)>`
/// takes 24, and a tally holds one per inference group), empty as (`Millis::MAX`,
/// `Millis::MIN`), which no widening leaves in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    first: Millis,
    last: Millis,
}

impl Default for Span {
    fn default() -> Self {
        Span {
            first: Millis::MAX,
            last: Millis::MIN,
        }
    }
}

impl Span {
    /// Takes in `time`, if there is one.
    pub fn widen(&mut self, time: Option<Millis>) {
        if let Some(t) = time {
            self.first = self.first.min(t);
            self.last = self.last.max(t);
        }
    }

    /// Takes in every time of `other`.
    pub fn join(&mut self, other: Span) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }

    /// (first, last), `None` when no time was taken in.
    pub fn get(self) -> Option<(Millis, Millis)> {
        (self.first <= self.last).then_some((self.first, self.last))
    }
}

/// How many maps `PendingGroups` is split into.
const PENDING_SHARDS: usize = 16;

/// The inference groups of a tally, split over `PENDING_SHARDS` maps by the key's top
/// bits. A map grows by doubling and holds its old and new arrays while it does; when
/// every call is denied this is the largest map a tally holds, and split, only a
/// sixteenth of it is doubled at a time.
#[derive(Debug, Clone, Default)]
pub struct PendingGroups {
    shards: [HashMap<PendingKey, PendingStats>; PENDING_SHARDS],
}

impl PendingGroups {
    /// The group of `key`, made empty if new.
    pub fn entry(&mut self, key: PendingKey) -> &mut PendingStats {
        // The key's parts are hashes already: their top bits are as good as any.
        let shard = ((key.0 ^ key.1) >> 60) as usize % PENDING_SHARDS;
        self.shards[shard].entry(key).or_default()
    }

    /// Keeps only the groups for which `keep` says true (it may change them).
    pub fn retain(&mut self, mut keep: impl FnMut(&PendingKey, &mut PendingStats) -> bool) {
        for shard in &mut self.shards {
            shard.retain(|key, group| keep(key, group));
        }
    }

    /// The number of groups.
    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Whether there is no group.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }
}

impl IntoIterator for PendingGroups {
    type Item = (PendingKey, PendingStats);
    type IntoIter =
        std::iter::Flatten<std::array::IntoIter<HashMap<PendingKey, PendingStats>, PENDING_SHARDS>>;

    /// Every group, shard by shard; each shard's array is freed once it is read.
    fn into_iter(self) -> Self::IntoIter {
        self.shards.into_iter().flatten()
    }
}

/// The project and candidate actions of inference groups (`PendingKey`'s scope).
#[derive(Debug, Clone)]
pub struct Scope {
    /// The project's `who` key, as the evidence is keyed.
    pub project_key: u64,
    pub project: String,
    pub actions: Vec<ActionId>,
}

/// What inference concluded for one `PendingKey`: the (possibly narrowed) actions, the
/// cause and the missing permissions joined with `|`.
pub type Verdict = (Vec<ActionId>, Cause, String);

/// Everything counted for one project.
#[derive(Debug, Clone, Default)]
pub struct ProjectTally {
    pub stats: ProjectStats,
    /// The `actions.csv` rows, by the number of their action list in `Tally::lists`.
    pub actions: HashMap<u32, CallStats>,
    pub denials: HashMap<DenialKey, DenialStats>,
}

impl ProjectTally {
    /// Adds `other`'s counts and rows to this one's, its numbers read by `numbers`.
    fn join(&mut self, other: ProjectTally, numbers: &Renumbering) {
        let (a, b) = (&mut self.stats, other.stats);
        a.records += b.records;
        a.classified += b.classified;
        a.allowed += b.allowed;
        a.denied += b.denied;
        a.failed += b.failed;
        a.dependency_denials += b.dependency_denials;
        a.inferred_dependency_denials += b.inferred_dependency_denials;
        a.seen.join(b.seen);
        for (list, b) in other.actions {
            *self.actions.entry(numbers.list(list)).or_default() += b;
        }
        for (key, b) in other.denials {
            let key = DenialKey {
                list: numbers.list(key.list),
                missing: numbers.missing_text(key.missing),
                cause: key.cause,
            };
            let a = self.denials.entry(key).or_default();
            a.calls += b.calls;
            for n in b.users.iter() {
                a.users.insert(numbers.user(n));
            }
            a.seen.join(b.seen);
        }
    }
}

/// Values a tally keys its rows by (action lists, missing permission texts), each kept once
/// and numbered in the order the tally first meets it. A row is then keyed by a `u32`
/// instead of a value of its own: with many projects, those values (an allocation per row,
/// in every worker) were much of a project's memory. Numbers belong to one tally;
/// `Tally::merge` renumbers the other's.
#[derive(Debug, Clone)]
pub struct Numbering<T> {
    numbers: HashMap<T, u32>,
    values: Vec<T>,
}

impl<T> Default for Numbering<T> {
    fn default() -> Numbering<T> {
        Numbering {
            numbers: HashMap::default(),
            values: Vec::new(),
        }
    }
}

impl<T: std::hash::Hash + Eq + Clone> Numbering<T> {
    /// The number of `value`, given a new one if it has none yet.
    pub fn number<B>(&mut self, value: &B) -> u32
    where
        T: std::borrow::Borrow<B>,
        B: std::hash::Hash + Eq + ToOwned<Owned = T> + ?Sized,
    {
        if let Some(&n) = self.numbers.get(value) {
            return n;
        }
        let n = u32::try_from(self.values.len()).expect("fewer than 2³² distinct values");
        self.values.push(value.to_owned());
        self.numbers.insert(value.to_owned(), n);
        n
    }

    /// The value numbered `number` (which `number` gave).
    pub fn get(&self, number: u32) -> &T {
        &self.values[number as usize]
    }

    /// Every value, in the order of their numbers.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// For each of `other`'s numbers, the number of its value here (numbered here when
    /// new): how a merge maps another tally's keys onto this one's.
    pub fn renumber(&mut self, other: &Numbering<T>) -> Vec<u32> {
        other.values.iter().map(|v| self.number(v)).collect()
    }
}

/// The action lists of a tally's `actions.csv` and denials.csv rows.
pub type ActionLists = Numbering<Vec<ActionId>>;

/// The text fields of a `DeniedCall`, in the order a row keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    Project,
    User,
    SourceIp,
    Method,
    Path,
    TraceName,
    RequestId,
    /// Last, so that inference can replace it in place.
    Missing,
}

/// How many `Text` fields a row has.
pub const TEXTS: usize = 8;

/// One row of denied_calls.csv. `dedupe` is the trace-id hash when the record had one, so
/// copies of one trace can be reduced to one row at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedCall {
    pub time: Option<Millis>,
    pub loc: Loc,
    /// The `Text` fields joined in their order; field k ends at `ends[k]`. One allocation
    /// instead of eight: a bad day has millions of rows, each built, written to a run,
    /// read back and written out.
    text: String,
    ends: [usize; TEXTS],
    pub actions: Vec<ActionId>,
    pub cause: Cause,
    pub dedupe: Option<u64>,
    /// An `unknown` denial that `Tally::infer` may re-explain.
    pub inferable: bool,
}

impl DeniedCall {
    /// A row whose text fields are `texts`, in `Text` order.
    pub fn new(
        time: Option<Millis>,
        loc: Loc,
        texts: [&str; TEXTS],
        actions: Vec<ActionId>,
        cause: Cause,
        dedupe: Option<u64>,
        inferable: bool,
    ) -> DeniedCall {
        let mut text = String::with_capacity(texts.iter().map(|t| t.len()).sum());
        let mut ends = [0; TEXTS];
        for (end, field) in ends.iter_mut().zip(texts) {
            text.push_str(field);
            *end = text.len();
        }
        // Whole fields pushed in order: the ends rise to the end on char boundaries, so
        // the checks `from_joined` makes on a run's bytes are not repeated per row here.
        DeniedCall {
            time,
            loc,
            text,
            ends,
            actions,
            cause,
            dedupe,
            inferable,
        }
    }

    /// A row from its text fields already joined (`text`, field k ending at `ends[k]`), as
    /// a run gives them back; `None` unless the ends rise to `text`'s end on char
    /// boundaries.
    pub fn from_joined(
        time: Option<Millis>,
        loc: Loc,
        (text, ends): (String, [usize; TEXTS]),
        actions: Vec<ActionId>,
        cause: Cause,
        dedupe: Option<u64>,
        inferable: bool,
    ) -> Option<DeniedCall> {
        let rising = ends.windows(2).all(|w| w[0] <= w[1]);
        let bounded = ends.iter().all(|&e| text.is_char_boundary(e));
        (rising && bounded && ends[TEXTS - 1] == text.len()).then_some(DeniedCall {
            time,
            loc,
            text,
            ends,
            actions,
            cause,
            dedupe,
            inferable,
        })
    }

    /// One text field.
    pub fn get(&self, field: Text) -> &str {
        let k = field as usize;
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.text[start..self.ends[k]]
    }

    /// Every text field, in `Text` order.
    pub fn all_texts(&self) -> [&str; TEXTS] {
        [
            Text::Project,
            Text::User,
            Text::SourceIp,
            Text::Method,
            Text::Path,
            Text::TraceName,
            Text::RequestId,
            Text::Missing,
        ]
        .map(|field| self.get(field))
    }

    /// The row's free-text fields in report order: project, user, source IP, method, path,
    /// trace name.
    pub fn texts(&self) -> [&str; 6] {
        let all = self.all_texts();
        [all[0], all[1], all[2], all[3], all[4], all[5]]
    }

    /// Replaces the missing permission (what inference concluded).
    pub fn set_missing(&mut self, missing: &str) {
        self.text.truncate(self.ends[Text::Missing as usize - 1]);
        self.text.push_str(missing);
        self.ends[Text::Missing as usize] = self.text.len();
    }
}

/// A call's method as reports write it, in upper case; borrowed when it already is.
fn method_of<'c>(call: &'c Call) -> Cow<'c, str> {
    match call.method.as_deref() {
        Some(m) if m.bytes().any(|b| b.is_ascii_lowercase()) => Cow::Owned(m.to_ascii_uppercase()),
        Some(m) => Cow::Borrowed(m),
        None => Cow::Borrowed(""),
    }
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
    /// Records whose `service_type` names a service other than ECS (repeats included).
    pub other_services: u64,
    pub projects: Projects,
    /// The action lists the projects' `actions` and `denials` rows are keyed by.
    pub lists: ActionLists,
    /// The missing permission texts the projects' `denials` rows are keyed by.
    pub missing_texts: Numbering<String>,
    pub unclassified: Unclassified,
    pub denied_calls: Vec<DeniedCall>,
    pub errors: Vec<ErrorRow>,
    pub error_counts: BTreeMap<String, u64>,
    /// Evidence for inference; bounded by distinct (project, user, permission) triples.
    pub proven: Proven,
    /// Inferable `unknown` denials not yet in `projects[..].denials`; empty after `infer`.
    pub pending: PendingGroups,
    /// What each `scope_key` in `pending` stands for: a few per project, where the groups
    /// are per user as well.
    pub scopes: HashMap<u64, Scope>,
    /// What `infer` concluded per pending group, as an index into `verdict_list`;
    /// `resolve` applies it to rows. Groups share the few distinct verdicts.
    pub verdicts: HashMap<PendingKey, u32>,
    /// The distinct verdicts, in the order `infer` first reached them.
    pub verdict_list: Vec<Verdict>,
    /// (denial row, user) pairs added to the rows' user sets, for `weight` (summed by
    /// `merge`, so a merged tally may count a pair more than once).
    user_pairs: usize,
    /// The numbers of the users in the rows' user sets.
    users: UserIndex,
    /// Scratch for the key of an `unclassified` row, reused between records; nothing is
    /// kept in it between calls.
    unclassified_key: UnclassifiedKey,
}

/// Appends `path` to `out` with id-like segments (numbers, UUIDs, hex runs of 16 or more)
/// replaced by `{id}`.
pub fn path_template(path: &str, out: &mut String) {
    let start = out.len();
    for segment in crate::catalog::compiled::segments(path) {
        out.push('/');
        // One pass over the segment for all three questions.
        let (mut decimal, mut hexish, mut hex_digits) = (true, true, 0usize);
        for b in segment.bytes() {
            let hex = b.is_ascii_hexdigit();
            decimal &= b.is_ascii_digit();
            hexish &= hex || b == b'-';
            hex_digits += usize::from(hex);
        }
        if decimal || (hexish && hex_digits >= 16) {
            out.push_str("{id}");
        } else {
            out.push_str(segment);
        }
    }
    if out.len() == start {
        out.push('/');
    }
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
        catalog: &Catalog,
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
            let row = DeniedCall::new(
                record.time,
                loc,
                [
                    project,
                    record.user.as_deref().unwrap_or(""),
                    record.source_ip.as_deref().unwrap_or(""),
                    &method_of(call),
                    call.path.as_deref().unwrap_or(""),
                    record.trace_name.as_deref().unwrap_or(""),
                    record.request_id.as_deref().unwrap_or(""),
                    call.missing.as_deref().unwrap_or(""),
                ],
                call.actions.clone(),
                cause,
                dedupe,
                call.inferable,
            );
            self.denied_calls.push(row);
        }
        if !counted {
            self.duplicates += 1;
            return;
        }
        self.records += 1;
        let mut kept = true;
        let tally = match self.projects.get_mut(project) {
            Some(t) => t,
            None => {
                let pooled;
                (kept, pooled) = self.projects.admit(project);
                self.pool_pending(&pooled);
                match self.projects.get_mut(project) {
                    Some(t) => t,
                    None => &mut self.projects.beyond,
                }
            }
        };
        let stats = &mut tally.stats;
        stats.records += 1;
        stats.seen.widen(record.time);
        let denied = call.outcome == Outcome::Denied;
        if call.actions.is_empty() {
            // The key is built in buffers kept between records, and copied only for a new
            // row: most records of an access log in front of many services land here.
            let key = &mut self.unclassified_key;
            let template = |out: &mut String| {
                if let Some(path) = call.path.as_deref() {
                    path_template(path, out);
                }
                if let Some(body) = &call.unclaimed_key {
                    out.push_str(" (body: ");
                    out.push_str(body);
                    out.push(')');
                }
            };
            key.fill(
                &method_of(call),
                template,
                record.trace_name.as_deref().unwrap_or(""),
            );
            let example = call
                .path
                .as_deref()
                .or(record.resource_url.as_deref())
                .unwrap_or("");
            self.unclassified.count(key, example, denied);
            return;
        }
        stats.classified += 1;
        // A pooled project's calls prove nothing anyone reads: its denials are not inferred.
        if call.outcome == Outcome::Allowed && kept {
            let user = record.user.as_deref().unwrap_or("");
            prove(&mut self.proven, catalog, project, user, &call.actions);
        }
        let (allowed, failed) = (
            call.outcome == Outcome::Allowed,
            call.outcome == Outcome::Failed,
        );
        stats.allowed += u64::from(allowed);
        stats.denied += u64::from(denied);
        stats.failed += u64::from(failed);
        let list = self.lists.number(&call.actions);
        let row = tally.actions.entry(list).or_default();
        *row += CallStats {
            calls: 1,
            allowed: u64::from(allowed),
            denied: u64::from(denied),
            failed: u64::from(failed),
        };
        if let (true, Some(cause)) = (denied, call.cause) {
            if cause == Cause::MissingDependency {
                stats.dependency_denials += 1;
            }
            if call.inferable && kept {
                let user = record.user.as_deref().unwrap_or("");
                let project_key = who(project);
                let scope = scope_key(project_key, actions_key(&call.actions));
                self.scopes.entry(scope).or_insert_with(|| Scope {
                    project_key,
                    project: project.to_string(),
                    actions: call.actions.clone(),
                });
                let row = self.pending.entry((scope, who(user)));
                row.calls += 1;
                row.seen.widen(record.time);
                return;
            }
            let key = DenialKey {
                list,
                missing: self
                    .missing_texts
                    .number(call.missing.as_deref().unwrap_or("")),
                cause,
            };
            let row = tally.denials.entry(key).or_default();
            row.calls += 1;
            row.seen.widen(record.time);
            // An empty name is no user, as in the rows `infer` and `pool_pending` fill from
            // groups keyed by `who`, where it is 0: a pooled project's `unknown` row gets
            // calls from both ways, and must count the same users whichever came first.
            if let Some(user) = record.user.as_deref().filter(|u| !u.is_empty()) {
                let number = self.users.number(who(user));
                self.user_pairs += usize::from(row.users.insert(number));
            }
        }
    }

    /// Moves the inference groups of the pooled projects (by `who` key) into `beyond`'s
    /// denials as `unknown`, as their calls would have been counted had they been pooled
    /// from the start, and forgets their scopes.
    fn pool_pending(&mut self, pooled: &HashSet<u64>) {
        if pooled.is_empty() {
            return;
        }
        let Tally {
            pending,
            scopes,
            projects,
            lists,
            missing_texts,
            users,
            ..
        } = self;
        let missing = missing_texts.number("");
        pending.retain(|key, group| {
            let scope = scopes.get(&key.0).expect("every pending scope is kept");
            if !pooled.contains(&scope.project_key) {
                return true;
            }
            let key_of_row = DenialKey {
                list: lists.number(&scope.actions),
                missing,
                cause: Cause::Unknown,
            };
            let row = projects.beyond.denials.entry(key_of_row).or_default();
            row.calls += group.calls;
            row.seen.join(group.seen);
            if key.1 != 0 {
                row.users.insert(users.number(key.1));
            }
            false
        });
        scopes.retain(|_, scope| !pooled.contains(&scope.project_key));
    }

    /// The entries of the maps that can grow large (inference groups, evidence, the users
    /// of denial rows), cheap to ask after every chunk: the scan folds a worker's tally
    /// into a shared one when it passes a bound, so the maps are not held once per worker,
    /// and merges the others into the heaviest at the end, so its maps are not rebuilt.
    pub fn weight(&self) -> usize {
        self.pending.len() + self.proven.len() + self.user_pairs
    }

    /// Adds `other`'s counts, rows and evidence to this tally.
    pub fn merge(&mut self, other: Tally) {
        self.records += other.records;
        self.user_pairs += other.user_pairs;
        self.duplicates += other.duplicates;
        self.out_of_time += other.out_of_time;
        self.other_projects += other.other_projects;
        self.other_services += other.other_services;
        // Their user numbers, as this tally's.
        let renumbered: Vec<u32> = other
            .users
            .hashes
            .iter()
            .map(|hash| self.users.number(*hash))
            .collect();
        // Their action list and missing text numbers, as this tally's.
        let numbers = Renumbering::Into {
            lists: self.lists.renumber(&other.lists),
            missing_texts: self.missing_texts.renumber(&other.missing_texts),
            users: renumbered,
        };
        // The projects this pools have inference groups here and in `other.pending`:
        // they move once both are merged, below.
        let pooled = self.projects.merge(other.projects, &numbers);
        self.unclassified.merge(other.unclassified);
        self.denied_calls.extend(other.denied_calls);
        self.proven.merge(other.proven);
        for (key, parts) in other.scopes {
            self.scopes.entry(key).or_insert(parts);
        }
        for (key, b) in other.pending {
            let a = self.pending.entry(key);
            a.calls += b.calls;
            a.seen.join(b.seen);
        }
        self.pool_pending(&pooled);
        for (reason, n) in other.error_counts {
            *self.error_counts.entry(reason).or_default() += n;
        }
        self.errors.extend(other.errors);
        if self.errors.len() > MAX_ERROR_ROWS {
            self.trim_errors();
        }
    }

    /// Final clean-up before writing: errors trimmed and sorted, unclassified rows and
    /// projects cut to their limits.
    pub fn finish(&mut self) {
        self.trim_errors();
        self.unclassified.finish();
        let pooled = self.projects.finish();
        self.pool_pending(&pooled);
    }

    /// An empty tally that keeps at most `unclassified` rows of unclassified.csv and
    /// `projects` project rows, chosen by hashes keyed with `seed`.
    pub fn with_limits(unclassified: usize, projects: usize, seed: u64) -> Tally {
        Tally {
            unclassified: Unclassified::with_limit(unclassified, seed),
            projects: Projects::with_limit(projects, seed),
            ..Tally::default()
        }
    }

    /// Resolves the pending `unknown` denials against the whole run's evidence: moves them
    /// into the denials rows with their inferred cause, and rewrites their denied_calls
    /// rows. Call once, after every tally is merged.
    pub fn infer(&mut self, catalog: &Catalog) {
        self.proven.settle();
        let mut verdicts: HashMap<PendingKey, u32> = HashMap::default();
        let mut verdict_list: Vec<Verdict> = Vec::new();
        let mut verdict_ids: HashMap<Verdict, u32> = HashMap::default();
        // The denials.csv row key of each verdict, by its number.
        let mut verdict_keys: Vec<DenialKey> = Vec::new();
        // Each group's (project, user) pair, with its key and counts.
        let mut pending: Vec<((u64, u64), PendingKey, PendingStats)> =
            std::mem::take(&mut self.pending)
                .into_iter()
                .map(|(key, stats)| {
                    let scope = self
                        .scopes
                        .get(&key.0)
                        .expect("every pending scope is kept");
                    ((scope.project_key, key.1), key, stats)
                })
                .collect();
        // Sorted, the groups of one (project, user) are neighbours: their permissions are
        // worked out once and only the current pair's are kept.
        pending.sort_unstable_by_key(|g| (g.0, g.1));
        let mut current: Option<((u64, u64), HashSet<String>)> = None;
        for (pair, key, pending) in pending {
            if current.as_ref().is_none_or(|(p, _)| *p != pair) {
                let held = self
                    .proven
                    .get(pair.0, pair.1)
                    .map(|set| held_by(catalog, set))
                    .unwrap_or_default();
                current = Some((pair, held));
            }
            let held = current.as_ref().map(|(_, held)| held);
            let scope = self
                .scopes
                .get(&key.0)
                .expect("every pending scope is kept");
            let verdict = infer_cause(catalog, held, &scope.actions);
            // Each distinct verdict is numbered, and its row key built, once.
            let id = *verdict_ids.entry(verdict).or_insert_with_key(|verdict| {
                verdict_keys.push(DenialKey {
                    list: self.lists.number(&verdict.0),
                    missing: self.missing_texts.number(&verdict.2),
                    cause: verdict.1,
                });
                verdict_list.push(verdict.clone());
                u32::try_from(verdict_list.len() - 1).expect("fewer verdicts than groups")
            });
            let row_key = verdict_keys[id as usize];
            let tally = self.projects.row_mut(&scope.project);
            if row_key.cause == Cause::InferredMissingDependency {
                tally.stats.inferred_dependency_denials += pending.calls;
            }
            let row = tally.denials.entry(row_key).or_default();
            row.calls += pending.calls;
            row.seen.join(pending.seen);
            // The same hash as every other row's users: see `who`.
            if key.1 != 0 {
                row.users.insert(self.users.number(key.1));
            }
            verdicts.insert(key, id);
        }
        self.verdicts = verdicts;
        self.verdict_list = verdict_list;
    }

    /// Gives a denied-call row the cause `infer` found for its group. Rows are resolved as
    /// they are written, as some may be on disk (see `runs`).
    pub fn resolve(&self, catalog: &Catalog, row: &mut DeniedCall) {
        if row.cause != Cause::Unknown
            || !row.inferable
            || self.projects.is_beyond(row.get(Text::Project))
        {
            return;
        }
        let (project, user) = (who(row.get(Text::Project)), who(row.get(Text::User)));
        let key = (scope_key(project, actions_key(&row.actions)), user);
        let inferred;
        let (actions, cause, missing) = match self.verdicts.get(&key) {
            Some(&id) => &self.verdict_list[id as usize],
            // Only a repeat of a trace counted elsewhere can miss its group.
            None => {
                let held = self
                    .proven
                    .get(project, user)
                    .map(|set| held_by(catalog, set))
                    .unwrap_or_default();
                inferred = infer_cause(catalog, Some(&held), &row.actions);
                &inferred
            }
        };
        row.actions.clone_from(actions);
        row.cause = *cause;
        row.set_missing(missing);
    }
}

/// Records what an allowed call proves its caller held: its action when it had a single
/// candidate, and the unconditional dependencies every candidate shares.
fn prove(proven: &mut Proven, catalog: &Catalog, project: &str, user: &str, actions: &[ActionId]) {
    let Some((first, rest)) = actions.split_first() else {
        return;
    };
    let (project, user) = (who(project), who(user));
    let info = &catalog.actions[*first as usize];
    // The inline words go through the queue; any past them (large catalogs only) at once.
    let mut inline = [0; INLINE_WORDS];
    let mut add = |w: usize, bits: u64| match inline.get_mut(w) {
        Some(word) => *word |= bits,
        None => proven.add_word(project, user, w, bits),
    };
    for (w, first_word) in info.depends_set.iter().enumerate() {
        let shared = rest.iter().fold(*first_word, |acc, a| {
            acc & catalog.actions[*a as usize].depends_set[w]
        });
        add(w, shared);
    }
    if rest.is_empty() {
        add(info.permission / 64, 1 << (info.permission % 64));
    }
    proven.add(project, user, inline);
}

/// The permissions in a bit set, by name.
pub fn held_by(catalog: &Catalog, set: &Held) -> HashSet<String> {
    catalog
        .permissions
        .iter()
        .enumerate()
        .filter(|(i, _)| set.contains(*i))
        .map(|(_, name)| name.clone())
        .collect()
}

/// The inference rule for one denial of `candidates` by a caller who held `held`. Per
/// candidate: action held but some unconditional dependency not -> missing dependency;
/// every dependency held but not the action -> missing action; else no verdict. Candidates
/// without a verdict drop out; if the rest agree, the result is their kind with the union
/// of what they miss, otherwise `unknown` with the candidates unchanged.
pub fn infer_cause(
    catalog: &Catalog,
    held: Option<&HashSet<String>>,
    candidates: &[ActionId],
) -> Verdict {
    let has = |p: &str| held.is_some_and(|h| h.contains(p));
    let mut kinds: BTreeSet<Cause> = BTreeSet::new();
    let mut actions = Vec::new();
    let mut missing: BTreeSet<&str> = BTreeSet::new();
    for id in candidates {
        let info = &catalog.actions[*id as usize];
        let unproven: Vec<&str> = info
            .depends
            .iter()
            .map(String::as_str)
            .filter(|d| !has(d))
            .collect();
        match (has(&info.name), unproven.is_empty()) {
            (true, false) => {
                kinds.insert(Cause::InferredMissingDependency);
                missing.extend(unproven);
            }
            (false, true) => {
                kinds.insert(Cause::InferredMissingAction);
                missing.insert(&info.name);
            }
            _ => continue,
        }
        actions.push(*id);
    }
    match (kinds.len(), kinds.first()) {
        (1, Some(kind)) => {
            let missing: Vec<&str> = missing.into_iter().collect();
            (actions, *kind, missing.join("|"))
        }
        _ => (candidates.to_vec(), Cause::Unknown, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_hold_every_time_they_take_in_and_groups_stay_small() {
        let mut span = Span::default();
        assert_eq!(span.get(), None);
        span.widen(None);
        assert_eq!(span.get(), None);
        span.widen(Some(5));
        assert_eq!(span.get(), Some((5, 5)));
        span.widen(Some(-3));
        assert_eq!(span.get(), Some((-3, 5)));
        let mut other = Span::default();
        other.join(span);
        assert_eq!(other.get(), Some((-3, 5)));
        other.join(Span::default());
        assert_eq!(other.get(), Some((-3, 5)));
        // The sentinels' own values are times like any other.
        for t in [Millis::MIN, Millis::MAX] {
            let mut edge = Span::default();
            edge.widen(Some(t));
            assert_eq!(edge.get(), Some((t, t)));
        }
        assert_eq!(std::mem::size_of::<(PendingKey, PendingStats)>(), 40);
    }

    #[test]
    fn maps_of_outsider_keys_hash_with_a_key_of_their_own() {
        use std::hash::BuildHasher;
        // Under a fixed hash every tally (and every run) would place a key alike, so keys
        // made to collide ahead of time would collide in every scan.
        let (a, b) = (Tally::default(), Tally::default());
        let project = "0123456789abcdef0123456789abcdef";
        assert_ne!(
            a.projects.rows.hasher().hash_one(project),
            b.projects.rows.hasher().hash_one(project)
        );
        let call = UnclassifiedKey::new("GET", "/v1/x", "");
        assert_ne!(
            a.unclassified.rows.hasher().hash_one(&call),
            b.unclassified.rows.hasher().hash_one(&call)
        );
    }

    /// What a finished, inferred tally says about its projects, in its own terms: per
    /// kept project and for the pooled ones, the stats, the action rows and the denial
    /// rows, with numbers turned back into the values they stand for.
    type ProjectOutcome = (ProjectStats, Vec<(Vec<ActionId>, CallStats)>, Vec<String>);

    fn project_outcome(tally: &Tally, row: &ProjectTally) -> ProjectOutcome {
        let mut actions: Vec<(Vec<ActionId>, CallStats)> = row
            .actions
            .iter()
            .map(|(list, stats)| (tally.lists.get(*list).clone(), stats.clone()))
            .collect();
        actions.sort_by(|a, b| a.0.cmp(&b.0));
        let mut denials: Vec<String> = row
            .denials
            .iter()
            .map(|(key, d)| {
                format!(
                    "{:?} {:?} {} {} {} {:?}",
                    tally.lists.get(key.list),
                    key.cause,
                    tally.missing_texts.get(key.missing),
                    d.calls,
                    d.users.len(),
                    d.seen.get()
                )
            })
            .collect();
        denials.sort();
        (row.stats.clone(), actions, denials)
    }

    #[test]
    fn project_rows_beyond_the_limit_are_the_same_whatever_the_order() {
        check_project_limit(400, 50, 3, LIMIT_SEED, 4);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// The same, for any number of projects (fewer than the limit too), any limit,
        /// split and key.
        #[test]
        fn project_rows_beyond_any_limit_are_those_of_lowest_rank(
            projects in 1usize..120,
            limit in 1usize..50,
            parts in 1usize..5,
            seed: u64,
        ) {
            check_project_limit(projects, limit, parts, seed, 2);
        }
    }

    /// Counts five calls for each of `projects` projects in a tally without a limit, and in
    /// `rounds` orders over `parts` tallies of `limit` projects merged as the scan merges
    /// its workers; checks that the latter keep the `limit` projects of lowest rank under
    /// `seed`, each as the former has it, pool the others' calls, and agree in every round.
    fn check_project_limit(projects: usize, limit: usize, parts: usize, seed: u64, rounds: usize) {
        let catalog = crate::catalog::builtin().expect("built-in catalog");
        let action = |name: &str| ids(&catalog, &[name]);
        let (start, list) = (action("ecs:servers:start"), action("ecs:servers:list"));
        // Per project: an allowed list (evidence), an allowed start, a denial naming the
        // missing permission, and two denials naming none (inferable), by two users.
        let mut calls: Vec<(String, String, i64, Outcome, Vec<ActionId>, bool)> = Vec::new();
        for p in 0..projects {
            let project = format!("{p:032x}");
            for (k, (outcome, actions, inferable)) in [
                (Outcome::Allowed, &list, false),
                (Outcome::Allowed, &start, false),
                (Outcome::Denied, &start, false),
                (Outcome::Denied, &start, true),
                (Outcome::Denied, &start, true),
            ]
            .into_iter()
            .enumerate()
            {
                // Some callers with an empty name, which counts as no user.
                let user = match (p + k) % 4 {
                    0 => String::new(),
                    u => format!("u{u}"),
                };
                let time = (p * 10 + k) as i64;
                calls.push((
                    project.clone(),
                    user,
                    time,
                    outcome,
                    actions.clone(),
                    inferable,
                ));
            }
        }
        let count = |tally: &mut Tally,
                     (project, user, time, outcome, actions, inferable): &(
            String,
            String,
            i64,
            Outcome,
            Vec<ActionId>,
            bool,
        )| {
            let record = Record {
                user: Some(Cow::Borrowed(user.as_str())),
                time: Some(*time),
                ..Record::default()
            };
            let denied = *outcome == Outcome::Denied;
            let call = Call {
                actions: actions.clone(),
                project: Some(Cow::Borrowed(project.as_str())),
                method: None,
                path: None,
                unclaimed_key: None,
                outcome: *outcome,
                cause: denied.then_some(if *inferable {
                    Cause::Unknown
                } else {
                    Cause::MissingDependency
                }),
                missing: (denied && !*inferable).then(|| "ecs:servers:list".to_string()),
                inferable: *inferable,
            };
            tally.add(&catalog, &record, &call, Loc::default(), None, true);
            assert!(tally.projects.rows.len() <= tally.projects.prune_at());
        };
        let outcome = |mut tally: Tally| {
            tally.finish();
            tally.infer(&catalog);
            let mut kept: Vec<(String, ProjectOutcome)> = tally
                .projects
                .rows()
                .map(|(name, row)| (name.to_string(), project_outcome(&tally, row)))
                .collect();
            kept.sort_by(|a, b| a.0.cmp(&b.0));
            let mut rows = tally.denied_calls.clone();
            for row in &mut rows {
                tally.resolve(&catalog, row);
            }
            let mut causes: Vec<(String, Cause)> = rows
                .iter()
                .map(|row| (row.get(Text::Project).to_string(), row.cause))
                .collect();
            causes.sort();
            (
                kept,
                project_outcome(&tally, &tally.projects.beyond),
                causes,
            )
        };
        // The whole run without a limit, and the projects that must be kept.
        let mut unlimited = Tally::default();
        for call in &calls {
            count(&mut unlimited, call);
        }
        let (everything, _, _) = outcome(unlimited);
        let mut by_rank: Vec<&String> = everything.iter().map(|(name, _)| name).collect();
        by_rank.sort_by_key(|name| Projects::rank(seed, name));
        let chosen: BTreeSet<&String> = by_rank[..limit.min(projects)].iter().copied().collect();
        let pooled = (projects - chosen.len()) as u64;
        let mut first = None;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..rounds {
            let mut shuffled = calls.clone();
            if round > 0 {
                for i in (1..shuffled.len()).rev() {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    shuffled.swap(i, (state >> 33) as usize % (i + 1));
                }
            }
            // Split over tallies merged as the scan merges its workers.
            let mut tallies: Vec<Tally> = (0..parts)
                .map(|_| Tally::with_limits(10, limit, seed))
                .collect();
            for (i, call) in shuffled.iter().enumerate() {
                count(&mut tallies[i * parts / shuffled.len()], call);
            }
            let mut merged = tallies.remove(0);
            for part in tallies {
                merged.merge(part);
                // No row above the threshold either side had: they are pooled at once.
                let projects = &merged.projects;
                assert!(projects.rows().all(|(name, _)| !projects.is_beyond(name)));
                assert!(projects.rows.len() <= projects.prune_at());
            }
            let result = outcome(merged);
            // The chosen projects, each exactly as in the run without a limit.
            let kept: Vec<&(String, ProjectOutcome)> = everything
                .iter()
                .filter(|(name, _)| chosen.contains(name))
                .collect();
            assert_eq!(result.0.iter().collect::<Vec<_>>(), kept, "round {round}");
            // The others' calls pooled, their denials naming nothing left unknown.
            let beyond = &result.1.0;
            assert_eq!(beyond.records, 5 * pooled);
            assert_eq!(beyond.denied, 3 * pooled);
            assert!(result.2.iter().all(|(project, cause)| {
                chosen.contains(project) || *cause != Cause::InferredMissingAction
            }));
            assert!(
                result
                    .2
                    .iter()
                    .any(|(_, c)| *c == Cause::InferredMissingAction),
                "kept projects' denials are inferred"
            );
            match &first {
                None => first = Some(result),
                Some(first) => assert_eq!(first, &result, "round {round}"),
            }
        }
    }

    #[test]
    fn numbered_values_keep_their_numbers_and_are_found_by_borrowed_forms() {
        let mut texts: Numbering<String> = Numbering::default();
        let a = texts.number("ecs:servers:list");
        let b = texts.number("");
        assert_ne!(a, b);
        assert_eq!(texts.number("ecs:servers:list"), a);
        assert_eq!(texts.get(a), "ecs:servers:list");
        assert_eq!(texts.values(), ["ecs:servers:list", ""]);
        let mut lists: ActionLists = Numbering::default();
        let one = lists.number(&[1, 2][..]);
        assert_eq!(lists.number(&vec![1, 2]), one);
        assert_ne!(lists.number(&[2, 1][..]), one);
        assert_eq!(lists.get(one), &[1, 2]);
    }

    #[test]
    fn user_sets_hold_each_user_once_inline_and_past_it() {
        let mut set = UserSet::default();
        assert!(set.is_empty());
        let mut want = std::collections::BTreeSet::new();
        for (k, user) in [7, 3, 7, 9, 3, 11, 12, 7, 0, 11, 40, 41]
            .into_iter()
            .enumerate()
        {
            assert_eq!(set.insert(user), want.insert(user), "insert #{k} of {user}");
            assert_eq!(set.len(), want.len());
            let mut got: Vec<u32> = set.iter().collect();
            got.sort();
            assert_eq!(got, want.iter().copied().collect::<Vec<_>>());
            assert!(want.iter().all(|u| set.contains(*u)) && !set.contains(1000));
        }
        assert!(matches!(set, UserSet::Many(_)));
        // Equal by their users, whatever the order or form.
        let (mut few, mut reversed) = (UserSet::default(), UserSet::default());
        for u in [1, 2] {
            few.insert(u);
        }
        for u in [2, 1] {
            reversed.insert(u);
        }
        assert_eq!(few, reversed);
        let many = UserSet::Many(Box::new([1, 2].into_iter().collect()));
        assert_eq!(few, many);
        reversed.insert(3);
        assert_ne!(few, reversed);
        assert_eq!(std::mem::size_of::<UserSet>(), 16);
        assert_eq!(std::mem::size_of::<(DenialKey, DenialStats)>(), 56);
    }

    #[test]
    fn merged_denial_rows_renumber_lists_texts_and_users() {
        let (mut a, mut b) = (Tally::default(), Tally::default());
        // The shared user, list and text have other numbers in each tally.
        for (tally, hashes, texts) in [
            (&mut a, [10u64, 20], ["", "ecs:servers:list"]),
            (&mut b, [20, 30], ["ecs:servers:list", ""]),
        ] {
            let numbers: Vec<u32> = hashes.iter().map(|h| tally.users.number(*h)).collect();
            let other = tally.lists.number(&[5][..]);
            let list = tally.lists.number(&[1][..]);
            assert_ne!(other, list);
            for t in texts {
                tally.missing_texts.number(t);
            }
            let key = DenialKey {
                list,
                missing: tally.missing_texts.number("ecs:servers:list"),
                cause: Cause::MissingDependency,
            };
            let project = tally.projects.row_mut("p");
            let row = project.denials.entry(key).or_default();
            row.calls += 1;
            for n in numbers {
                row.users.insert(n);
            }
        }
        a.merge(b);
        let rows = &a.projects.rows[&b"p"[..]].row.denials;
        assert_eq!(rows.len(), 1);
        let (key, row) = rows.iter().next().expect("one row");
        assert_eq!(a.lists.get(key.list), &[1]);
        assert_eq!(a.missing_texts.get(key.missing), "ecs:servers:list");
        assert_eq!((row.calls, row.users.len()), (2, 3));
        assert_eq!(a.users.hashes, [10, 20, 30]);
    }

    #[test]
    fn merged_action_rows_keep_their_lists_whatever_the_numbering() {
        let (mut a, mut b) = (Tally::default(), Tally::default());
        // [1] is number 0 in one tally and 1 in the other.
        for (tally, lists) in [
            (&mut a, [vec![1], vec![2, 3]]),
            (&mut b, [vec![2, 3], vec![1]]),
        ] {
            for (i, list) in lists.iter().enumerate() {
                let n = tally.lists.number(list);
                assert_eq!(tally.lists.number(list), n, "a list keeps its number");
                let project = tally.projects.row_mut("p");
                project.actions.entry(n).or_default().calls += 1 + i as u64;
            }
        }
        a.merge(b);
        let rows: BTreeMap<Vec<ActionId>, u64> = a.projects.rows[&b"p"[..]]
            .row
            .actions
            .iter()
            .map(|(n, s)| (a.lists.get(*n).to_vec(), s.calls))
            .collect();
        assert_eq!(
            rows,
            BTreeMap::from([(vec![1], 1 + 2), (vec![2, 3], 2 + 1)])
        );
    }

    #[test]
    fn pending_groups_count_and_hand_back_every_group() {
        let mut groups = PendingGroups::default();
        assert!(groups.is_empty());
        for k in 0..1000u64 {
            let key = (k.wrapping_mul(0x9e37_79b9_7f4a_7c15), k % 7);
            groups.entry(key).calls += 1;
            groups.entry(key).calls += 1;
        }
        assert_eq!(groups.len(), 1000);
        let all: Vec<_> = groups.into_iter().collect();
        assert_eq!(all.len(), 1000);
        assert!(all.iter().all(|(_, stats)| stats.calls == 2));
    }

    #[test]
    fn denied_rows_keep_their_text_fields_apart() {
        let texts = ["p", "", "é", "POST", "/x", "t", "r", "m1"];
        let mut row = DeniedCall::new(
            None,
            Loc::default(),
            texts,
            vec![1],
            Cause::Unknown,
            None,
            true,
        );
        assert_eq!(row.all_texts(), texts);
        row.set_missing("ecs:servers:list|ecs:servers:get");
        assert_eq!(
            row.all_texts(),
            [
                "p",
                "",
                "é",
                "POST",
                "/x",
                "t",
                "r",
                "ecs:servers:list|ecs:servers:get"
            ]
        );
        row.set_missing("");
        assert_eq!(row.get(Text::Missing), "");
        assert_eq!(row.texts(), ["p", "", "é", "POST", "/x", "t"]);
        // Joined fields from a run: ends must rise to the end on char boundaries.
        let joined = |text: &str, ends: [usize; TEXTS]| {
            DeniedCall::from_joined(
                None,
                Loc::default(),
                (text.into(), ends),
                vec![],
                Cause::Unknown,
                None,
                false,
            )
        };
        assert!(joined("aé", [1, 1, 1, 1, 1, 1, 1, 3]).is_some());
        assert!(
            joined("aé", [2, 2, 2, 2, 2, 2, 2, 3]).is_none(),
            "inside a char"
        );
        assert!(joined("aé", [1, 0, 1, 1, 1, 1, 1, 3]).is_none(), "falling");
        assert!(
            joined("aé", [1, 1, 1, 1, 1, 1, 1, 1]).is_none(),
            "short of the end"
        );
        assert!(
            joined("aé", [1, 1, 1, 1, 1, 1, 1, 9]).is_none(),
            "past the end"
        );
    }

    #[test]
    fn reports_write_methods_in_upper_case() {
        let catalog = crate::catalog::builtin().expect("built-in catalog");
        let record = Record::default();
        let call = |method: &'static str, actions: Vec<ActionId>| Call {
            actions,
            project: Some(Cow::Borrowed("p")),
            method: Some(Cow::Borrowed(method)),
            path: Some(Cow::Borrowed("/v2.1/p/unknown")),
            unclaimed_key: None,
            outcome: Outcome::Denied,
            cause: Some(Cause::Unknown),
            missing: None,
            inferable: false,
        };
        let mut tally = Tally::default();
        tally.add(
            &catalog,
            &record,
            &call("post", vec![]),
            Loc::default(),
            None,
            true,
        );
        tally.add(
            &catalog,
            &record,
            &call("Get", vec![1]),
            Loc::default(),
            None,
            true,
        );
        let methods: Vec<&str> = tally
            .denied_calls
            .iter()
            .map(|row| row.get(Text::Method))
            .collect();
        assert_eq!(methods, ["POST", "GET"]);
        let keys: Vec<&str> = tally.unclassified.rows().map(|(k, _)| k.method()).collect();
        assert_eq!(keys, ["POST"]);
        assert!(matches!(
            method_of(&call("PUT", vec![])),
            Cow::Borrowed("PUT")
        ));
    }

    #[test]
    fn templates() {
        let template = |path: &str| {
            // Appended after what the buffer holds.
            let mut out = String::from("x");
            path_template(path, &mut out);
            out.split_off(1)
        };
        assert_eq!(template("/a/0123456789abcdeg/-/"), "/a/0123456789abcdeg/-");
        assert_eq!(template("//12//"), "/{id}");
        assert_eq!(
            template(
                "/v2.1/0123456789abcdef0123456789abcdef/servers/1b2f4c3e-0000-4000-8000-00000000abcd/action"
            ),
            "/v2.1/{id}/servers/{id}/action"
        );
        assert_eq!(template("/v1/p/orders/123/"), "/v1/p/orders/{id}");
        assert_eq!(template("/v2/deadbeef/x"), "/v2/deadbeef/x");
        assert_eq!(template(""), "/");
    }

    fn ids(c: &Catalog, names: &[&str]) -> Vec<ActionId> {
        let mut v: Vec<ActionId> = names
            .iter()
            .map(|n| c.action_id(n).expect("built-in action"))
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn inference_per_candidate_and_union() {
        let c = crate::catalog::builtin().expect("built-in catalog");
        let native = [
            "ecs:securityGroups:use",
            "ecs:servers:createImage",
            "ecs:servers:lock",
            "ecs:servers:reboot",
            "ecs:servers:rebuild",
            "ecs:servers:resize",
            "ecs:servers:start",
            "ecs:servers:stop",
            "ecs:servers:unlock",
        ];
        let held =
            |names: &[&str]| -> HashSet<String> { names.iter().map(|s| s.to_string()).collect() };
        // held, candidates -> actions, cause, missing
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], Cause, &'a str);
        let cases: &[Case] = &[
            // Candidates whose dependencies are all held and whose action is not.
            (
                &["ecs:servers:list", "ecs:servers:get"],
                &native,
                &[
                    "ecs:servers:lock",
                    "ecs:servers:reboot",
                    "ecs:servers:start",
                    "ecs:servers:stop",
                    "ecs:servers:unlock",
                ],
                Cause::InferredMissingAction,
                "ecs:servers:lock|ecs:servers:reboot|ecs:servers:start|ecs:servers:stop|ecs:servers:unlock",
            ),
            // Held actions, missing dependencies: the union of what each misses.
            (
                &["ecs:servers:start", "ecs:servers:stop"],
                &["ecs:servers:start", "ecs:servers:stop"],
                &["ecs:servers:start", "ecs:servers:stop"],
                Cause::InferredMissingDependency,
                "ecs:servers:get|ecs:servers:list",
            ),
            (
                &["ecs:servers:start"],
                &["ecs:servers:start"],
                &["ecs:servers:start"],
                Cause::InferredMissingDependency,
                "ecs:servers:list",
            ),
            // stop says "dependency", start says "action": the evidence disagrees.
            (
                &["ecs:servers:stop", "ecs:servers:list"],
                &["ecs:servers:start", "ecs:servers:stop"],
                &["ecs:servers:start", "ecs:servers:stop"],
                Cause::Unknown,
                "",
            ),
            // Everything held: the denial is not explained by these permissions.
            (
                &["ecs:servers:start", "ecs:servers:list"],
                &["ecs:servers:start"],
                &["ecs:servers:start"],
                Cause::Unknown,
                "",
            ),
            // Nothing held.
            (
                &[],
                &["ecs:servers:stop"],
                &["ecs:servers:stop"],
                Cause::Unknown,
                "",
            ),
        ];
        for (have, candidates, want_actions, want_cause, want_missing) in cases {
            let h = held(have);
            let got = infer_cause(&c, Some(&h), &ids(&c, candidates));
            assert_eq!(
                got,
                (ids(&c, want_actions), *want_cause, want_missing.to_string()),
                "held {have:?}, candidates {candidates:?}"
            );
        }
    }

    #[test]
    fn allowed_calls_prove_action_and_shared_dependencies() {
        let c = crate::catalog::builtin().expect("built-in catalog");
        let mut proven = Proven::default();
        prove(&mut proven, &c, "p", "u", &ids(&c, &["ecs:servers:stop"]));
        prove(
            &mut proven,
            &c,
            "p",
            "v",
            &ids(&c, &["ecs:servers:start", "ecs:servers:stop"]),
        );
        proven.settle();
        let u = held_by(&c, proven.get(who("p"), who("u")).expect("proven"));
        let mut u: Vec<&String> = u.iter().collect();
        u.sort();
        assert_eq!(
            u,
            ["ecs:servers:get", "ecs:servers:list", "ecs:servers:stop"]
        );
        // Two candidates prove only the dependency both need, not either action.
        let v = held_by(&c, proven.get(who("p"), who("v")).expect("proven"));
        let v: Vec<&String> = v.iter().collect();
        assert_eq!(v, ["ecs:servers:list"]);
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
