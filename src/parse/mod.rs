//! Record formats: turns one JSON record (a CTS trace or a generic request trace), or one
//! access-log line (`access`), into a `Record` that borrows from the input buffer. Framing (where records start and end) is
//! `read`'s job; deciding what a record means is `classify`'s.

pub mod access;
pub mod array;
pub mod json;
pub mod lines;
pub mod skim;
pub mod time;

use json::{as_str, as_text, is_null};
use rustc_hash::FxHashMap as HashMap;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The fields permtrail reads from a record, whatever the input calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Method,
    Path,
    Status,
    Project,
    User,
    UserName,
    UserId,
    Time,
    Request,
    Response,
    RequestId,
    SourceIp,
    TraceId,
    TraceName,
    TraceRating,
    Message,
    ResourceUrl,
    Service,
}

const FIELD_COUNT: usize = 18;

impl Field {
    /// The names accepted by `--field NAME=KEY`.
    pub const NAMES: [(&'static str, Field); FIELD_COUNT] = [
        ("method", Field::Method),
        ("path", Field::Path),
        ("status", Field::Status),
        ("project", Field::Project),
        ("user", Field::User),
        ("user_name", Field::UserName),
        ("user_id", Field::UserId),
        ("time", Field::Time),
        ("request", Field::Request),
        ("response", Field::Response),
        ("request_id", Field::RequestId),
        ("source_ip", Field::SourceIp),
        ("trace_id", Field::TraceId),
        ("trace_name", Field::TraceName),
        ("trace_rating", Field::TraceRating),
        ("message", Field::Message),
        ("resource_url", Field::ResourceUrl),
        ("service", Field::Service),
    ];

    /// Looks a field up by its `--field` name.
    pub fn by_name(name: &str) -> Option<Field> {
        Field::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// Default keys, best first. A dotted key is a flat key with a dot or a nested path.
    pub fn default_keys(self) -> &'static [&'static str] {
        match self {
            Field::Method => &[
                "method",
                "request_method",
                "http_method",
                "http.method",
                "http.request.method",
            ],
            Field::Path => &[
                "path",
                "uri",
                "url",
                "request_uri",
                "router_uri",
                "url.path",
                "http.target",
                "http.url",
            ],
            Field::Status => &[
                "status",
                "status_code",
                "http_status",
                "code",
                "http.status_code",
                "http.response.status_code",
            ],
            Field::Project => &["project_id", "tenant_id", "project"],
            Field::User => &["user"],
            Field::UserName => &["user_name"],
            Field::UserId => &["user_id"],
            Field::Time => &[
                "time",
                "timestamp",
                "@timestamp",
                "start_time",
                "record_time",
            ],
            Field::Request => &["request", "request_body"],
            Field::Response => &["response", "response_body"],
            Field::RequestId => &["request_id"],
            Field::SourceIp => &["source_ip", "remote_addr", "client_ip"],
            Field::TraceId => &["trace_id"],
            Field::TraceName => &["trace_name"],
            Field::TraceRating => &["trace_rating"],
            Field::Message => &["message"],
            Field::ResourceUrl => &["resource_url"],
            Field::Service => &["service_type"],
        }
    }
}

/// Which keys feed which field, compiled once per run. Invariant: priorities within a
/// field are unique, lower is better.
#[derive(Debug, Clone)]
pub struct FieldMap {
    /// What each read key feeds. The envelope markers have an entry too, maybe with no
    /// target.
    targets: Vec<Vec<Target>>,
    /// Keys of up to 16 bytes, packed (`pack`): looked up for every member of every
    /// record, so without comparing strings. See `ShortKeys`.
    short: ShortKeys,
    /// Longer keys.
    long: HashMap<String, u32>,
}

/// (field, priority, remaining nested path) of one key.
type Target = (Field, u8, Vec<String>);

/// Keys read whatever `--field` says: they tell a trace from an envelope.
const MARKERS: [&str; 4] = ["cts", "traces", "trace_id", "trace_name"];

impl Default for FieldMap {
    fn default() -> Self {
        FieldMap::new(&[])
    }
}

impl FieldMap {
    /// The default keys, with `overrides` replacing a field's keys by one key each.
    pub fn new(overrides: &[(Field, String)]) -> FieldMap {
        let mut by_key: std::collections::BTreeMap<String, Vec<Target>> = Default::default();
        for marker in MARKERS {
            by_key.entry(marker.to_string()).or_default();
        }
        for (_, field) in Field::NAMES {
            let keys: Vec<String> = match overrides.iter().find(|(f, _)| *f == field) {
                Some((_, key)) => vec![key.clone()],
                None => field.default_keys().iter().map(|k| k.to_string()).collect(),
            };
            for (prio, key) in keys.iter().enumerate() {
                // Flat form first: `http.method` may be a key with a dot in it.
                by_key
                    .entry(key.clone())
                    .or_default()
                    .push((field, (2 * prio) as u8, Vec::new()));
                if let Some((head, rest)) = key.split_once('.') {
                    by_key.entry(head.to_string()).or_default().push((
                        field,
                        (2 * prio + 1) as u8,
                        rest.split('.').map(str::to_string).collect(),
                    ));
                }
            }
        }
        let (mut all, mut short, mut long) = (Vec::new(), Vec::new(), HashMap::default());
        for (key, targets) in by_key {
            let index = all.len() as u32;
            let flat = match targets.as_slice() {
                [(field, prio, rest)] if rest.is_empty() && key != "cts" && key != "traces" => {
                    Some(Flat {
                        field: *field,
                        prio: *prio,
                        trace: key == "trace_id" || key == "trace_name",
                    })
                }
                _ => None,
            };
            all.push(targets);
            match pack(&key) {
                Some(packed) => short.push((packed, Found { index, flat })),
                None => {
                    long.insert(key, index);
                }
            };
        }
        FieldMap {
            targets: all,
            short: ShortKeys::new(&short),
            long,
        }
    }

    /// What `key` feeds; `None` for a key nothing reads. The tests' reference for
    /// `lookup_key`, which the readers use.
    #[cfg(test)]
    fn lookup(&self, key: &str) -> Option<&[Target]> {
        let index = match pack(key) {
            Some(packed) => self.short.get(packed).map(|found| found.index),
            None => self.long.get(key).copied(),
        };
        index.map(|i| self.targets[i as usize].as_slice())
    }

    /// What `key` feeds, `None` for a key nothing reads (most members of a trace); a key
    /// that feeds one field directly comes back as that field. The skim hands keys over
    /// with their first 16 bytes read already (`skim::Key`).
    #[inline(always)]
    fn lookup_key(&self, key: skim::Key) -> Option<Feed<'_>> {
        let index = match key.text.len() {
            n @ 0..=16 => {
                let found = self.short.get((key.head(), n as u8))?;
                if let Some(flat) = found.flat {
                    return Some(Feed::Flat(flat));
                }
                found.index
            }
            _ => *self.long.get(key.text)?,
        };
        Some(Feed::Targets(&self.targets[index as usize]))
    }
}

/// An open-addressing table of packed keys, at most a quarter full: most members of a
/// trace are read by no field, and their lookup ends at the first, empty, slot. (A
/// general hash map hashed each of the key's three parts and probed a group of slots.)
#[derive(Debug, Clone)]
struct ShortKeys {
    /// (key, what it feeds), `EMPTY` as the index of a free slot; the length is a power
    /// of two.
    slots: Box<[(Packed, Found)]>,
}

/// What a short key feeds: its index into `FieldMap::targets`, and the one field it feeds
/// directly when that is all it does (most keys read: `trace_id`, `code`, `time`, ...), so
/// that taking its value follows no pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    index: u32,
    flat: Option<Flat>,
}

/// A key whose only target is one field, with no nested path, and which is no envelope
/// marker other than a trace's own keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flat {
    field: Field,
    prio: u8,
    /// `trace_id` or `trace_name`: the object is a trace, not an envelope.
    trace: bool,
}

/// What `FieldMap::lookup_key` found.
enum Feed<'m> {
    Flat(Flat),
    Targets(&'m [Target]),
}

const EMPTY: u32 = u32::MAX;

const FREE: Found = Found {
    index: EMPTY,
    flat: None,
};

impl Default for ShortKeys {
    fn default() -> Self {
        ShortKeys::new(&[])
    }
}

impl ShortKeys {
    fn new(keys: &[(Packed, Found)]) -> ShortKeys {
        let len = (4 * keys.len()).next_power_of_two().max(64);
        let mut table = ShortKeys {
            slots: vec![((0, 0), FREE); len].into_boxed_slice(),
        };
        for &(key, found) in keys {
            let mut slot = table.slot(key);
            while table.slots[slot].1.index != EMPTY {
                slot = (slot + 1) & (len - 1);
            }
            table.slots[slot] = (key, found);
        }
        table
    }

    /// The home slot of `key`: its parts mixed by one multiplication.
    #[inline]
    fn slot(&self, (head, len): Packed) -> usize {
        let (low, high) = (head as u64, (head >> 64) as u64);
        let mixed =
            (low ^ high.rotate_left(29) ^ u64::from(len) << 56).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (mixed >> 32) as usize & (self.slots.len() - 1)
    }

    #[inline]
    fn get(&self, key: Packed) -> Option<Found> {
        let mut slot = self.slot(key);
        loop {
            let (k, found) = self.slots[slot];
            if found.index == EMPTY {
                return None;
            }
            if k == key {
                return Some(found);
            }
            slot = (slot + 1) & (self.slots.len() - 1);
        }
    }
}

/// A key of up to 16 bytes as (its bytes as a little-endian number, zero past its end;
/// its length): `bytes::head16`, which the skim reads from the record in one load. The
/// length tells apart keys that differ only by trailing NUL bytes.
fn pack(key: &str) -> Option<Packed> {
    let n = key.len();
    (n <= 16).then(|| (crate::bytes::head16(key.as_bytes(), 0, n), n as u8))
}

/// See `pack`.
type Packed = (u128, u8);

/// One request as read from the input. Strings borrow from the input buffer unless they
/// had escapes. `None` means the record did not carry the field (or carried null/"").
#[derive(Debug, Default, Clone)]
pub struct Record<'a> {
    pub time: Option<time::Millis>,
    pub method: Option<Cow<'a, str>>,
    pub path: Option<Cow<'a, str>>,
    pub status: Option<u16>,
    /// The status field held something that is not an HTTP status (e.g. `"40x"`).
    pub bad_status: bool,
    /// The time field held something that is no known time layout, or is out of range.
    pub bad_time: bool,
    pub project: Option<Cow<'a, str>>,
    pub user: Option<Cow<'a, str>>,
    pub request: Option<Cow<'a, str>>,
    pub response: Option<Cow<'a, str>>,
    pub request_id: Option<Cow<'a, str>>,
    pub source_ip: Option<Cow<'a, str>>,
    pub trace_id: Option<Cow<'a, str>>,
    pub trace_name: Option<Cow<'a, str>>,
    pub trace_rating: Option<Cow<'a, str>>,
    pub message: Option<Cow<'a, str>>,
    pub resource_url: Option<Cow<'a, str>>,
    /// The cloud service that recorded the trace (`service_type`, e.g. `ECS`, `OBS`).
    pub service: Option<Cow<'a, str>>,
    /// API Gateway's own error code (`apig_err_code` of an APIG access log, e.g.
    /// `APIG.0302`); only access logs carry it.
    pub gateway_code: Option<Cow<'a, str>>,
}

/// Why a record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BadRecord {
    /// Not valid JSON.
    InvalidJson,
    /// Not UTF-8 (callers may repair the bytes and try again).
    InvalidUtf8,
    /// Valid JSON, but not an object.
    NotAnObject,
    /// A line of a file read as an access log that fits no access-log format.
    InvalidAccessLine,
}

impl BadRecord {
    /// The reason as written to errors.csv.
    pub fn as_str(self) -> &'static str {
        match self {
            BadRecord::InvalidJson | BadRecord::InvalidUtf8 => "invalid_json",
            BadRecord::NotAnObject => "not_an_object",
            BadRecord::InvalidAccessLine => "invalid_access_line",
        }
    }
}

/// Receives each record with the byte offset where its JSON starts in the parsed slice.
pub type Emit<'e, 'a> = dyn FnMut(usize, Record<'a>) + 'e;

/// Reads one JSON value holding a record, calling `emit` for every record inside: a trace,
/// a CTS API page's `traces`, or a trigger event's `cts`. Returns how many it emitted.
pub fn parse_json<'a>(
    bytes: &'a [u8],
    fields: &FieldMap,
    emit: &mut Emit<'_, 'a>,
) -> Result<usize, BadRecord> {
    let text = std::str::from_utf8(bytes).map_err(|_| BadRecord::InvalidUtf8)?;
    parse_value(text, bytes.as_ptr() as usize, fields, emit)
}

/// Reads one JSON value `text` (a record or an envelope) in a single pass over its members.
fn parse_value<'a>(
    text: &'a str,
    base: usize,
    fields: &FieldMap,
    emit: &mut Emit<'_, 'a>,
) -> Result<usize, BadRecord> {
    let mut de = serde_json::Deserializer::from_str(text);
    let members = match serde::de::DeserializeSeed::deserialize(Members { fields }, &mut de)
        .and_then(|m| de.end().map(|()| m))
    {
        Ok(members) => members,
        // Rare: tell valid JSON that is no object from invalid JSON.
        Err(_) => {
            return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Ok(_) => BadRecord::NotAnObject,
                Err(_) => BadRecord::InvalidJson,
            });
        }
    };
    // Envelopes: only when the object is not itself a trace.
    if let Some(envelope) = members.envelope() {
        // A `cts` object holds one trace, a `traces` array many.
        if envelope.starts_with('{') {
            return parse_value(envelope, base, fields, emit);
        }
        let items: Vec<&'a RawValue> =
            serde_json::from_str(envelope).map_err(|_| BadRecord::InvalidJson)?;
        let mut n = 0;
        for item in items {
            n += parse_value(item.get(), base, fields, emit)?;
        }
        return Ok(n);
    }
    emit(text.as_ptr() as usize - base, record_from(&members.best));
    Ok(1)
}

/// The members of one record object that matter: the best value found for each field (as
/// its JSON text), and what marks an envelope. Members no field reads are never captured.
struct Captured<'a> {
    /// Per field: the priority of the key it came from, the value's JSON text, and
    /// whether the skim found that value to be a string without escapes
    /// (`plain_content`).
    best: [Option<(u8, &'a str, bool)>; FIELD_COUNT],
    is_trace: bool,
    cts: Option<&'a str>,
    traces: Option<&'a str>,
    /// Whether the record is known to be `Skipped` whatever its other members hold: it is
    /// a trace, and its service (from the best key there is for it) is one to skip. The
    /// members after that are only validated by the skim, not looked up: most traces of a
    /// trail belong to other services, and CTS writes `service_type` near the start.
    skipped: Decided,
}

/// What `Captured::member` knows of whether the record is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decided {
    /// Not yet known.
    Open,
    /// Skipped, whatever follows.
    Skipped,
    /// Its service is known and is not skipped: nothing to ask again.
    Kept,
}

impl<'a> Captured<'a> {
    /// Takes one member the skim handed over, if any field reads its key.
    #[inline(always)]
    fn member(
        &mut self,
        fields: &FieldMap,
        skip: &dyn Fn(&str) -> bool,
        key: skim::Key<'a>,
        value: &'a str,
        plain: bool,
    ) {
        if self.skipped == Decided::Skipped {
            return;
        }
        if let Some(feed) = fields.lookup_key(key) {
            self.feed(feed, key.text, value, plain);
            // Settled once nothing later in the record can change it: it is a trace (so no
            // envelope, whatever else it holds), and its service came from a key of the
            // best priority (a later one cannot replace it).
            if self.skipped == Decided::Open
                && self.is_trace
                && let Some((0, service, plain)) = self.best[Field::Service as usize]
            {
                self.skipped = decided(service, plain, skip);
            }
        }
    }

    /// What the skim made of a record once all its members were taken: `None` for an
    /// envelope (serde reads those), `Skipped` for a service `skip` accepts.
    fn skimmed(&self, skip: &dyn Fn(&str) -> bool) -> Option<Skimmed<'a>> {
        let decision = match self.skipped {
            Decided::Open => {
                if self.envelope().is_some() {
                    return None;
                }
                self.best[Field::Service as usize].map_or(Decided::Kept, |(_, service, plain)| {
                    decided(service, plain, skip)
                })
            }
            // A trace, whose final service was asked about already.
            settled => settled,
        };
        Some(match decision {
            Decided::Skipped => Skimmed::Skipped,
            _ => Skimmed::Record(Box::new(record_from(&self.best))),
        })
    }

    fn new() -> Captured<'a> {
        Captured {
            best: [None; FIELD_COUNT],
            is_trace: false,
            cts: None,
            traces: None,
            skipped: Decided::Open,
        }
    }

    /// Takes one member that `targets` (from `FieldMap::lookup_key`) says is read, keeping per
    /// field the value of its best key (the first such member on a tie).
    fn take(&mut self, targets: &[Target], key: &str, value: &'a str, plain: bool) {
        match key {
            "trace_id" | "trace_name" => self.is_trace = true,
            "cts" if self.cts.is_none() => self.cts = Some(value),
            "traces" if self.traces.is_none() => self.traces = Some(value),
            _ => {}
        }
        for (field, prio, rest) in targets {
            let slot = &mut self.best[*field as usize];
            if slot.is_some_and(|(p, _, _)| p <= *prio) {
                continue;
            }
            // What a nested value holds is not known: it is looked at again.
            let (found, plain) = if rest.is_empty() {
                (Some(value), plain)
            } else {
                (nested(value, rest), false)
            };
            // A value of the wrong shape (e.g. `url` as an object) leaves room for the
            // next key.
            if let Some(v) = found.filter(|v| usable(*field, v)) {
                *slot = Some((*prio, v, plain));
            }
        }
    }

    /// Takes one member as `FieldMap::lookup_key` said it is read.
    #[inline(always)]
    fn feed(&mut self, feed: Feed, key: &str, value: &'a str, plain: bool) {
        match feed {
            Feed::Flat(flat) => self.take_flat(flat, value, plain),
            Feed::Targets(targets) => self.take(targets, key, value, plain),
        }
    }

    /// `take` of a member whose key feeds one field directly: the same outcome.
    #[inline(always)]
    fn take_flat(&mut self, flat: Flat, value: &'a str, plain: bool) {
        self.is_trace |= flat.trace;
        let slot = &mut self.best[flat.field as usize];
        if slot.is_some_and(|(p, _, _)| p <= flat.prio) {
            return;
        }
        if usable(flat.field, value) {
            *slot = Some((flat.prio, value, plain));
        }
    }

    /// The inner object (`cts`) or array (`traces`) when this object is an envelope rather
    /// than a trace.
    fn envelope(&self) -> Option<&'a str> {
        if self.is_trace {
            return None;
        }
        self.cts
            .filter(|v| v.starts_with('{'))
            .or_else(|| self.traces.filter(|v| v.starts_with('[')))
    }
}

/// Whether a record whose final service is the JSON text `service` is skipped. Out of
/// line and marked cold: `Captured::member` runs it at most once a record, and its code
/// for every other member stays small.
#[cold]
#[inline(never)]
fn decided(service: &str, plain: bool, skip: &dyn Fn(&str) -> bool) -> Decided {
    match scalar_known(service, plain) {
        Some(service) if skip(&service) => Decided::Skipped,
        _ => Decided::Kept,
    }
}

/// Deserializes a record object straight into `Captured`, one pass, no member list.
struct Members<'f> {
    fields: &'f FieldMap,
}

impl<'de> serde::de::DeserializeSeed<'de> for Members<'_> {
    type Value = Captured<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Members<'_> {
    type Value = Captured<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Captured::new();
        while let Some(key) = map.next_key::<json::CowStr<'de>>()? {
            let key = key.0;
            let Some(feed) = self.fields.lookup_key(skim::Key::of(&key)) else {
                // Most members of a trace are read by no field: skip without capturing.
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            };
            let value: &'de RawValue = map.next_value()?;
            // serde does not say how a string was written: each is looked at again.
            out.feed(feed, &key, value.get(), false);
        }
        Ok(out)
    }
}

/// What the skim made of one JSON record.
#[derive(Debug)]
pub enum Skimmed<'a> {
    /// The record, exactly as `parse_json` would read it. Boxed: the enum is moved three
    /// times on its way to the caller, each move a copy of its whole size, for the
    /// skipped traces of other services too; an allocation per kept record costs less.
    Record(Box<Record<'a>>),
    /// A record whose service the caller asked to skip; nothing else was read from it.
    Skipped,
}

/// Reads one JSON record with the validating skim (`skim::members`) instead of serde, much
/// faster; `None` when the skim is unsure (escapes it leaves to serde, an envelope, invalid
/// input), and the caller uses `parse_json`. A record whose service `skip` accepts comes
/// back as `Skipped` without its other fields being read. Invariant: for any bytes, a
/// `Record` here equals the one `parse_json` emits (a property test and a fuzz target
/// compare them).
pub fn skim_json<'a>(
    bytes: &'a [u8],
    fields: &FieldMap,
    skip: &dyn Fn(&str) -> bool,
) -> Option<Skimmed<'a>> {
    let mut captured = Captured::new();
    skim::members(bytes, |key, value, plain| {
        captured.member(fields, skip, key, value, plain)
    })?;
    captured.skimmed(skip)
}

/// `skim_json` of the object that opens `bytes` and ends inside it (an element of an
/// array held whole, a line of JSON lines), with where it ends: `Some((r, extent))` only
/// when `skim_json(&bytes[..extent.end])` gives `r`. With `within_line`, only an object
/// that ends before the first line feed (`skim::members_prefix`).
pub fn skim_json_prefix<'a>(
    bytes: &'a [u8],
    within_line: bool,
    fields: &FieldMap,
    skip: &dyn Fn(&str) -> bool,
) -> Option<(Skimmed<'a>, skim::Extent)> {
    let mut captured = Captured::new();
    let extent = skim::members_prefix(bytes, within_line, |key, value, plain| {
        captured.member(fields, skip, key, value, plain)
    })?;
    Some((captured.skimmed(skip)?, extent))
}

/// JSON white space from `i` on, counting line feeds from `line`: (where it ends, the line
/// there). The one-pass readings step between records with it.
fn json_ws(data: &[u8], mut i: usize, mut line: u64) -> (usize, u64) {
    while let Some(&c @ (b' ' | b'\t' | b'\n' | b'\r')) = data.get(i) {
        line += u64::from(c == b'\n');
        i += 1;
    }
    (i, line)
}

/// The value at `path` (keys of nested objects) inside the JSON value `raw`, which the
/// skim or serde has read (so it is valid JSON).
fn nested<'a>(raw: &'a str, path: &[String]) -> Option<&'a str> {
    path.iter()
        .try_fold(raw, |current, key| json::member_of_valid(current, key))
}

/// Parses an HTTP status from a number or numeric string (`raw`, plain as for
/// `str_known`); `Err` for anything else that is not null or empty.
fn status_of(raw: &str, plain: bool) -> Result<Option<u16>, ()> {
    let digits: Cow<str> = match str_known(raw, plain) {
        Some(s) => s,
        None if raw == "null" => return Ok(None),
        None => Cow::Borrowed(raw),
    };
    let digits = digits.trim();
    if digits.is_empty() {
        return Ok(None);
    }
    match digits.parse::<u16>() {
        Ok(n) if (100..=999).contains(&n) => Ok(Some(n)),
        _ => Err(()),
    }
}

/// The time in `raw`, whose string content (`str_known`) is `text`: a string in any
/// layout `time::parse` reads, else epoch milliseconds as a number.
fn time_of(raw: &str, text: Option<&str>) -> Option<time::Millis> {
    match text {
        Some(s) => time::parse(s),
        None => time::from_epoch(raw.parse().ok()?),
    }
}

/// The content of the JSON text `raw` when the skim found it to be a string without
/// escapes (`plain`): the text between its quotes, as is, without a second look for a
/// backslash (which took every text field of every ECS trace). `None` when not `plain`.
fn plain_content(raw: &str, plain: bool) -> Option<&str> {
    plain.then(|| &raw[1..raw.len() - 1])
}

/// `json::as_str` of `raw`, which the skim says is a string without escapes when `plain`.
fn str_known(raw: &str, plain: bool) -> Option<Cow<'_, str>> {
    match plain_content(raw, plain) {
        Some(s) => Some(Cow::Borrowed(s)),
        None => as_str(raw),
    }
}

/// `scalar` of `raw`, which the skim says is a string without escapes when `plain`.
fn scalar_known(raw: &str, plain: bool) -> Option<Cow<'_, str>> {
    match plain_content(raw, plain) {
        Some(s) => (!s.is_empty()).then_some(Cow::Borrowed(s)),
        None => scalar(raw),
    }
}

/// A scalar as text: strings as their content, numbers as written.
fn scalar(raw: &str) -> Option<Cow<'_, str>> {
    match raw.as_bytes().first() {
        Some(b'"') => as_str(raw).filter(|s| !s.is_empty()),
        Some(b'{') | Some(b'[') | Some(b'n') | None => None,
        Some(_) => Some(Cow::Borrowed(raw)),
    }
}

/// The user of a CTS-style object (`name`, else `id`) or a plain string. A string holding
/// JSON is read as that object.
fn user_of(raw: &str) -> Option<Cow<'_, str>> {
    if raw.starts_with('{') {
        // The object itself, read by the skim or serde already: it is valid JSON.
        return user_in(raw, true);
    }
    let text = as_text(raw)?;
    if !text.trim_start().starts_with('{') {
        return Some(text);
    }
    // JSON inside a string: nothing has checked it yet.
    match text {
        Cow::Borrowed(obj) => user_in(obj, false),
        Cow::Owned(obj) => user_in(&obj, false).map(|s| Cow::Owned(s.into_owned())),
    }
}

/// The identity in the object text `object` (see `user_of`). `valid` says it is known to
/// be valid JSON: the walk may then stop at the first usable `name`, as nothing after it
/// can change the answer, where text not yet checked is read to its end.
fn user_in(object: &str, valid: bool) -> Option<Cow<'_, str>> {
    // The skim reads the object without building anything; repeated members keep the
    // first, as serde's fallback below does.
    // Each value with what the skim said of its escapes (`plain_content`).
    let mut found: [Option<(&str, bool)>; 3] = [None; 3];
    let mut take = |key: skim::Key<'_>, value, plain| {
        let slot = match key.text {
            "name" => 0,
            "user_name" => 1,
            "id" => 2,
            _ => return std::ops::ControlFlow::Continue(()),
        };
        let (first, plain) = *found[slot].get_or_insert((value, plain));
        if valid && slot == 0 && scalar_known(first, plain).is_some() {
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    };
    let skimmed = if valid {
        skim::leading_members_of_valid(object, take)
    } else {
        skim::members_of_text(object, |key, value, plain| {
            let _ = take(key, value, plain);
        })
    };
    if skimmed.is_some() {
        return found
            .into_iter()
            .flatten()
            .find_map(|(value, plain)| scalar_known(value, plain));
    }
    user_in_serde(object)
}

/// `user_in` by serde, for what the skim is unsure of: the first member of each
/// identity key, as the skim keeps.
fn user_in_serde(object: &str) -> Option<Cow<'_, str>> {
    let members = json::members_by_serde(object)?;
    ["name", "user_name", "id"]
        .iter()
        .find_map(|k| json::member(&members, k).and_then(scalar))
}

fn record_from<'a>(best: &[Option<(u8, &'a str, bool)>; FIELD_COUNT]) -> Record<'a> {
    let get = |f: Field| best[f as usize].map(|(_, raw, plain)| (raw, plain));
    let text = |f: Field| get(f).and_then(|(raw, plain)| scalar_known(raw, plain));
    let body = |f: Field| {
        get(f).and_then(|(raw, plain)| match plain_content(raw, plain) {
            Some(s) => json::nonblank(Cow::Borrowed(s)),
            None => as_text(raw),
        })
    };
    let status = get(Field::Status).map(|(raw, plain)| status_of(raw, plain));
    let (status, bad_status) = match status {
        Some(Ok(s)) => (s, false),
        Some(Err(())) => (None, true),
        None => (None, false),
    };
    let raw_time = get(Field::Time)
        .map(|(raw, plain)| (raw, str_known(raw, plain)))
        .filter(|(_, text)| text.as_ref().is_none_or(|s| !s.trim().is_empty()));
    let time = raw_time
        .as_ref()
        .and_then(|(raw, text)| time_of(raw, text.as_deref()));
    Record {
        time,
        bad_time: raw_time.is_some() && time.is_none(),
        method: text(Field::Method),
        path: text(Field::Path),
        status,
        bad_status,
        project: text(Field::Project),
        user: get(Field::User)
            .and_then(|(raw, _)| user_of(raw))
            .or_else(|| text(Field::UserName))
            .or_else(|| text(Field::UserId)),
        request: body(Field::Request),
        response: body(Field::Response),
        request_id: text(Field::RequestId),
        source_ip: text(Field::SourceIp),
        trace_id: text(Field::TraceId),
        trace_name: text(Field::TraceName),
        trace_rating: text(Field::TraceRating),
        message: body(Field::Message),
        resource_url: text(Field::ResourceUrl),
        service: text(Field::Service),
        gateway_code: None,
    }
}

fn usable(field: Field, value: &str) -> bool {
    if is_null(value) {
        return false;
    }
    let first = value.as_bytes().first().copied();
    match field {
        Field::User | Field::Request | Field::Response | Field::Message => true,
        _ => !matches!(first, Some(b'{') | Some(b'[')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_find_every_key_they_hold_and_no_other() {
        // Enough keys that home slots collide and probes run on past them.
        let keys: Vec<String> = (0..300).map(|i| format!("key_{i}")).collect();
        let packed: Vec<(Packed, Found)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let found = Found {
                    index: i as u32,
                    flat: None,
                };
                (pack(k).expect("short"), found)
            })
            .collect();
        let table = ShortKeys::new(&packed);
        let mut homes: Vec<usize> = packed.iter().map(|(k, _)| table.slot(*k)).collect();
        homes.sort_unstable();
        homes.dedup();
        assert!(homes.len() < keys.len(), "no two keys share a home slot");
        for (key, index) in &packed {
            assert_eq!(table.get(*key), Some(*index));
        }
        for absent in ["key_300", "key_-1", "kez_1", "", "key_1 "] {
            assert_eq!(table.get(pack(absent).expect("short")), None, "{absent}");
        }
        assert_eq!(ShortKeys::default().get(pack("time").expect("short")), None);
    }

    #[test]
    fn keys_feeding_one_field_directly_are_found_as_that_field() {
        let overridden = FieldMap::new(&[(Field::Project, "tenant".to_string())]);
        for map in [FieldMap::default(), overridden] {
            let mut keys: Vec<&str> = Field::NAMES
                .iter()
                .flat_map(|(_, f)| f.default_keys().iter().copied())
                .chain(MARKERS)
                .chain(["tenant", "http", "url", "nothing"])
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let mut flat = 0;
            for key in keys {
                let skimmed = format!(r#"{{"{key}":1}}"#);
                let mut got = None;
                skim::members(skimmed.as_bytes(), |k, _, _| got = Some(map.lookup_key(k)))
                    .expect("valid");
                let targets = map.lookup(key);
                match got.expect("one member") {
                    Some(Feed::Flat(f)) => {
                        flat += 1;
                        assert_eq!(targets, Some(&[(f.field, f.prio, Vec::new())][..]), "{key}");
                        assert_eq!(f.trace, key == "trace_id" || key == "trace_name", "{key}");
                    }
                    Some(Feed::Targets(t)) => {
                        assert_eq!(Some(t), targets, "{key}");
                        // Long keys are looked up by name and always come back so.
                        let single_flat = matches!(t, [(_, _, rest)] if rest.is_empty());
                        let kept = key == "cts" || key == "traces" || key.len() > 16;
                        assert!(!single_flat || kept, "{key}");
                    }
                    None => assert_eq!(targets, None, "{key}"),
                }
            }
            assert!(flat > 10, "most keys are read directly");
        }
    }

    fn one(text: &str) -> Record<'_> {
        let mut out = Vec::new();
        let n = parse_json(text.as_bytes(), &FieldMap::default(), &mut |_, r| {
            out.push(r)
        })
        .expect("parses");
        assert_eq!(n, 1);
        out.pop().expect("one record")
    }

    #[test]
    fn cts_type_variants() {
        let cases: &[(&str, Option<u16>, Option<&str>)] = &[
            (
                r#"{"code": 403, "user": {"name": "alice", "id": "u1"}}"#,
                Some(403),
                Some("alice"),
            ),
            (
                r#"{"code": "403", "user": "{\"id\": \"u1\"}"}"#,
                Some(403),
                Some("u1"),
            ),
            (r#"{"user": ""}"#, None, None),
            (r#"{"code": null, "user": null}"#, None, None),
            (r#"{"code": "", "user": "bob"}"#, None, Some("bob")),
            (
                r#"{"user": {"name": "first", "name": "second"}}"#,
                None,
                Some("first"),
            ),
            (
                r#"{"user": {"id": 7, "domain": {"name": "acme"}}}"#,
                None,
                Some("7"),
            ),
        ];
        for (text, status, user) in cases {
            let r = one(text);
            assert_eq!(r.status, *status, "{text}");
            assert_eq!(r.user.as_deref(), *user, "{text}");
            assert!(!r.bad_status);
        }
        assert!(one(r#"{"code": "40x"}"#).bad_status);
        assert!(one(r#"{"code": 70000}"#).bad_status);
    }

    #[test]
    fn bodies_as_object_string_or_empty() {
        let r = one(r#"{"request": {"os-start": null}, "response": "{\"forbidden\": {}}"}"#);
        assert_eq!(r.request.as_deref(), Some(r#"{"os-start": null}"#));
        assert_eq!(r.response.as_deref(), Some(r#"{"forbidden": {}}"#));
        let r = one(r#"{"request": "", "response": null, "message": "free text"}"#);
        assert_eq!((r.request, r.response), (None, None));
        assert_eq!(r.message.as_deref(), Some("free text"));
    }

    #[test]
    fn generic_names_flat_and_nested() {
        let r = one(
            r#"{"http": {"request": {"method": "get"}, "response": {"status_code": 403}},
                "url": {"path": "/v2.1/p/servers"}, "tenant_id": "p", "user_name": "u"}"#,
        );
        assert_eq!(r.method.as_deref(), Some("get"));
        assert_eq!(r.status, Some(403));
        assert_eq!(r.path.as_deref(), Some("/v2.1/p/servers"));
        assert_eq!(r.project.as_deref(), Some("p"));
        assert_eq!(r.user.as_deref(), Some("u"));
        let r = one(r#"{"http.method": "PUT", "status_code": "404", "uri": "/a"}"#);
        assert_eq!(
            (r.method.as_deref(), r.status, r.path.as_deref()),
            (Some("PUT"), Some(404), Some("/a"))
        );
    }

    #[test]
    fn overrides_replace_default_keys() {
        let map = FieldMap::new(&[(Field::Path, "req.target".into())]);
        let mut out = Vec::new();
        parse_json(
            br#"{"path": "/no", "req": {"target": "/yes"}}"#,
            &map,
            &mut |_, r| out.push(r.path.map(|p| p.into_owned())),
        )
        .expect("parses");
        assert_eq!(out, [Some("/yes".to_string())]);
    }

    #[test]
    fn packed_keys_differ_when_keys_differ() {
        let mut seen = std::collections::HashMap::new();
        // Every key over two letters up to 16 bytes, where overlapping reads coincide most.
        for len in 0..=16u32 {
            for bits in 0..(1u32 << len.min(12)) {
                let key: String = (0..len)
                    .map(|i| if bits >> (i % 12) & 1 == 1 { 'b' } else { 'a' })
                    .collect();
                let packed = pack(&key).expect("short key");
                if let Some(other) = seen.insert(packed, key.clone()) {
                    assert_eq!(other, key, "two keys packed alike");
                }
            }
        }
        assert_eq!(pack("http.response.status_code"), None);
        let map = FieldMap::default();
        assert!(map.lookup("service_type").is_some());
        assert!(map.lookup("http.response.status_code").is_some());
        assert!(map.lookup("service_typ").is_none());
        assert!(map.lookup("").is_none());
    }

    #[test]
    fn envelope_keys_still_count_after_a_skipped_service() {
        let map = FieldMap::default();
        let vpc = |s: &str| s == "VPC";
        let skimmed = |text: &str| match skim_json(text.as_bytes(), &map, &vpc) {
            None => "serde",
            Some(Skimmed::Skipped) => "skipped",
            Some(Skimmed::Record(_)) => "record",
        };
        // Envelope keys after the service still make an envelope (serde reads it)...
        let inner = r#"[{"trace_id":"a","service_type":"ECS"}]"#;
        assert_eq!(
            skimmed(&format!(r#"{{"service_type":"VPC","traces":{inner}}}"#)),
            "serde"
        );
        assert_eq!(
            skimmed(r#"{"service_type":"VPC","cts":{"trace_id":"b"}}"#),
            "serde"
        );
        // ...unless a trace key says the object is a trace, before or after them.
        assert_eq!(
            skimmed(r#"{"service_type":"VPC","cts":{},"trace_name":"x"}"#),
            "skipped"
        );
        assert_eq!(
            skimmed(r#"{"trace_id":"t","service_type":"VPC","cts":{}}"#),
            "skipped"
        );
        // The first of two service keys decides; the rest is still validated.
        assert_eq!(
            skimmed(r#"{"service_type":"VPC","service_type":"ECS"}"#),
            "skipped"
        );
        assert_eq!(
            skimmed(r#"{"service_type":"ECS","service_type":"VPC"}"#),
            "record"
        );
        assert_eq!(skimmed(r#"{"service_type":"VPC","n":[1,}"#), "serde");
        assert_eq!(skimmed(r#"{"service_type":"VPC","n":1} x"#), "serde");
        // Decided as soon as it is a trace of a skipped service: what follows is still
        // validated, and cannot make it an envelope.
        assert_eq!(
            skimmed(r#"{"trace_id":"t","service_type":"VPC","n":[1,}"#),
            "serde"
        );
        assert_eq!(
            skimmed(r#"{"trace_id":"t","service_type":"VPC","cts":{"trace_id":"b"}}"#),
            "skipped"
        );
        assert_eq!(
            skimmed(r#"{"service_type":"VPC","traces":[],"trace_id":"t"}"#),
            "skipped"
        );
    }

    #[test]
    fn a_service_from_a_lesser_key_is_not_final() {
        // A dotted key is looked for flat first, then as a path: the nested value stands
        // only until a flat one comes.
        let map = FieldMap::new(&[(Field::Service, "meta.svc".into())]);
        let vpc = |s: &str| s == "VPC";
        let skimmed = |text: &str| match skim_json(text.as_bytes(), &map, &vpc) {
            None => "serde".to_string(),
            Some(Skimmed::Skipped) => "skipped".to_string(),
            Some(Skimmed::Record(r)) => format!("{:?}", r.service),
        };
        assert_eq!(
            skimmed(r#"{"trace_id":"t","meta":{"svc":"VPC"},"meta.svc":"ECS"}"#),
            r#"Some("ECS")"#
        );
        assert_eq!(
            skimmed(r#"{"trace_id":"t","meta":{"svc":"ECS"},"meta.svc":"VPC"}"#),
            "skipped"
        );
        assert_eq!(
            skimmed(r#"{"trace_id":"t","meta.svc":"VPC","meta":{"svc":"ECS"}}"#),
            "skipped"
        );
    }

    #[test]
    fn skim_leaves_escaped_keys_to_serde() {
        // `\/` decodes to `/`: the skim would see a different key than serde does.
        let map = FieldMap::new(&[(Field::Path, "a/b".into())]);
        let text = br#"{"a\/b": "/v2.1/p/servers"}"#;
        assert!(skim_json(text, &map, &|_| false).is_none());
        let mut paths = Vec::new();
        parse_json(text, &map, &mut |_, r| {
            paths.push(r.path.map(|p| p.into_owned()))
        })
        .expect("parses");
        assert_eq!(paths, [Some("/v2.1/p/servers".to_string())]);
    }

    #[test]
    fn user_objects_read_alike_by_skim_and_serde() {
        for object in [
            r#"{"id":"u1","name":"alice","domain":{"id":"d","name":"acme"}}"#,
            r#"{"name":null,"user_name":"bob","id":"u2"}"#,
            r#"{"name":"","id":"u3"}"#,
            r#"{"name":"first","name":"second"}"#,
            r#"{"id":7}"#,
            r#"{"na\u006de":"escaped key","id":"u4"}"#,
            r#"{"name":"caf\u00e9"}"#,
            r#"{"name":["x"],"id":"u5"}"#,
            r#" {"user_name" : "spaced"} "#,
            r#"{"name":"unclosed"#,
            r#"{}"#,
        ] {
            same_user_either_way(object);
        }
        for valid in [false, true] {
            assert_eq!(
                user_in(r#"{"name":"first","name":"second"}"#, valid).as_deref(),
                Some("first")
            );
        }
        // And objects pieced together at random, mostly valid, some broken.
        let keys = [
            r#""name""#,
            r#""user_name""#,
            r#""id""#,
            r#""domain""#,
            r#""n\u0061me""#,
            r#""nam\"e""#,
        ];
        let values = [
            r#""alice""#,
            r#""b\"ob""#,
            "null",
            "17",
            r#""""#,
            r#"{"name":"x"}"#,
            "[1]",
            r#""é""#,
            r#""caf\u00e9""#,
            "tru",
        ];
        let junk = [",", " ", ":", "}", "{", "\"", "\\"];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| (crate::testing::xorshift(&mut state) >> 33) as usize % n;
        let mut named = 0;
        for _ in 0..20_000 {
            let members: Vec<String> = (0..next(5))
                .map(|_| format!("{}:{}", keys[next(keys.len())], values[next(values.len())]))
                .collect();
            let mut object = format!("{{{}}}", members.join(","));
            if next(4) == 0 {
                let at = next(object.len() + 1);
                if object.is_char_boundary(at) {
                    object.insert_str(at, junk[next(junk.len())]);
                }
            }
            named += usize::from(same_user_either_way(&object));
        }
        assert!(named > 200, "only {named} objects named a user");
    }

    /// Checks that `user_in` reads `object` as serde does, and, when it is valid JSON,
    /// also when told so (the walk may then stop early); whether it named a user.
    fn same_user_either_way(object: &str) -> bool {
        let user = user_in(object, false);
        assert_eq!(user, user_in_serde(object), "{object}");
        if serde_json::from_str::<serde::de::IgnoredAny>(object).is_ok() {
            assert_eq!(user_in(object, true), user, "{object} (valid)");
        }
        user.is_some()
    }

    #[test]
    fn envelopes() {
        let mut n = 0;
        let text =
            br#"{"meta_data": {"count": 2}, "traces": [{"trace_id": "a"}, {"trace_id": "b"}]}"#;
        assert_eq!(
            parse_json(text, &FieldMap::default(), &mut |_, _| n += 1),
            Ok(2)
        );
        let text = br#"{"cts": {"trace_id": "a", "trace_name": "startServer"}}"#;
        let mut names = Vec::new();
        parse_json(text, &FieldMap::default(), &mut |_, r| {
            names.push(r.trace_name.map(|s| s.into_owned()))
        })
        .expect("parses");
        assert_eq!(names, [Some("startServer".to_string())]);
        assert_eq!(
            parse_json(b"[1]", &FieldMap::default(), &mut |_, _| ()),
            Err(BadRecord::NotAnObject)
        );
        assert_eq!(
            parse_json(b"{", &FieldMap::default(), &mut |_, _| ()),
            Err(BadRecord::InvalidJson)
        );
        // Members no field reads are skipped, but still validated.
        for bad in [
            &br#"{"unread": tru}"#[..],
            br#"{"unread": [1,}"#,
            br#"{"trace_id": "a"} x"#,
        ] {
            assert_eq!(
                parse_json(bad, &FieldMap::default(), &mut |_, _| ()),
                Err(BadRecord::InvalidJson),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
