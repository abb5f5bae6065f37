//! Deterministic generator of realistic permtrail inputs of any size, for benchmarks.
//!
//! `--kind jsonl` writes CTS traces as JSON lines (optionally gzip), `--kind obs` a CTS OBS
//! tree of many `.json.gz` array files with a `Digest/` folder, `--kind apig` API Gateway
//! access-log lines. The same seed and options give byte-identical output whatever the
//! number of threads. Next to the output, `<out>.tally.json` says what was written:
//! records, unique records, ECS records, denied records by intended cause, and the expected
//! `denials.csv` rows summed over projects, so a scan can be checked against it.
//!
//! `--decode-only PATH...` only decompresses the given files (directories walked, hidden
//! entries and `Digest/` skipped) on `--threads` threads (default 2) and prints bytes/s:
//! the ceiling for a scan of the same gzip files with the same backend.
//!
//! Not part of the `scan` command; run as
//! `cargo run --release --example generate -- --kind jsonl --out x.jsonl --bytes 1G`.

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use flate2::Compression;
use flate2::write::GzEncoder;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// CTS traces as JSON lines in one file (20% of ECS records in generic method/path form).
    Jsonl,
    /// A CTS OBS tree of gzip files, each one compact JSON array, plus a Digest/ folder.
    Obs,
    /// API Gateway access-log lines (54 fields).
    Apig,
}

/// Writes deterministic, realistic permtrail inputs.
#[derive(Debug, Parser)]
struct Args {
    /// What to write.
    #[arg(long, value_enum, default_value = "jsonl")]
    kind: Kind,
    /// Output file (jsonl, apig) or directory (obs).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Approximate total size of the uncompressed records (suffixes K, M, G: powers of 1024).
    #[arg(long, default_value = "100M", value_parser = parse_bytes)]
    bytes: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of distinct projects (10 to 100,000).
    #[arg(long, default_value_t = 200)]
    projects: u32,
    /// Number of distinct IAM users.
    #[arg(long, default_value_t = 500)]
    users: u32,
    /// Share of ECS calls that are denied.
    #[arg(long, default_value_t = 0.05)]
    denial_rate: f64,
    /// Share of records that are ECS calls (the others are OBS/VPC/EVS/IAM traces).
    #[arg(long, default_value_t = 0.3)]
    ecs_share: f64,
    /// gzip the JSON-lines or APIG output (one stream, fast compression).
    #[arg(long)]
    gzip: bool,
    /// Uncompressed bytes per OBS file (suffixes K, M, G).
    #[arg(long, default_value = "4M", value_parser = parse_bytes)]
    file_bytes: u64,
    /// Worker threads for generation (default: all cores) or for --decode-only (default 2).
    #[arg(long)]
    threads: Option<usize>,
    /// Only decompress these files or directories and print bytes/s; nothing is generated.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    decode_only: Vec<PathBuf>,
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s
        .trim()
        .trim_end_matches(['B', 'b'])
        .trim_end_matches(['i', 'I']);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        Some('T' | 't') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("not a size: {s:?} (e.g. 100M, 1G, 4096)"))?;
    Ok((n * mult as f64) as u64)
}

// ---------------------------------------------------------------------------------------
// PRNG: splitmix64, one independent stream per block (so blocks can run in parallel).

#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        // Start each stream at a hashed point of the splitmix sequence: plain `seed ^ k*G`
        // starts would make stream k+1 the same sequence as stream k shifted by one.
        let mut h = Rng(stream);
        let start = h.next();
        let mut r = Rng(seed ^ start);
        r.0 = r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut Vec<u8>, mut v: u64, digits: usize) {
    let start = out.len();
    out.resize(start + digits, b'0');
    for i in (0..digits).rev() {
        out[start + i] = HEX[(v & 15) as usize];
        v >>= 4;
    }
}

fn push_uuid(out: &mut Vec<u8>, rng: &mut Rng) {
    let (a, b) = (rng.next(), rng.next());
    push_hex(out, a >> 32, 8);
    out.push(b'-');
    push_hex(out, (a >> 16) & 0xffff, 4);
    out.push(b'-');
    push_hex(out, 0x4000 | (a & 0x0fff), 4);
    out.push(b'-');
    push_hex(out, 0x8000 | (b >> 48 & 0x3fff), 4);
    out.push(b'-');
    push_hex(out, b & 0xffff_ffff_ffff, 12);
}

fn push_u64(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_2(out: &mut Vec<u8>, v: u64) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// `s` as the inside of a JSON string (escapes `"` and `\`; inputs hold no control chars).
fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &c in s {
        if c == b'"' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
}

// ---------------------------------------------------------------------------------------
// Calendar (UTC, proleptic Gregorian) without chrono in the hot loop.

/// 2026-11-20T00:00:00Z in epoch milliseconds.
const BASE_MS: u64 = 1_795_132_800_000;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

struct Civil {
    year: u64,
    month: u64,
    day: u64,
    hour: u64,
    min: u64,
    sec: u64,
}

fn civil(ms: u64) -> Civil {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year: year as u64,
        month: month as u64,
        day: day as u64,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
    }
}

// ---------------------------------------------------------------------------------------
// What a record is meant to be, and the tally of it.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    MissingAction,
    MissingDependency,
    UndocumentedDependency,
    /// API Gateway refused the call (`APIG.0302`); APIG lines only.
    GatewayDenied,
    /// No action named. permtrail may refine these from the run's allowed calls
    /// (`inferred_missing_action` / `inferred_missing_dependency`); the sum must match.
    Unknown,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Cause::MissingAction => "missing_action",
            Cause::MissingDependency => "missing_dependency",
            Cause::UndocumentedDependency => "undocumented_dependency",
            Cause::GatewayDenied => "gateway_denied",
            Cause::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Default, Clone, Serialize)]
struct Tally {
    kind: String,
    seed: u64,
    /// Uncompressed bytes of records written (with separators).
    bytes: u64,
    /// Bytes on disk (compressed size for gzip output).
    file_bytes: u64,
    files: u64,
    /// Records written, repeats included.
    records: u64,
    /// Records after removing repeats of a trace_id.
    unique: u64,
    /// Exact repeats of an earlier trace (same trace_id).
    duplicates: u64,
    /// Unique ECS calls (CTS traces and generic request records).
    ecs: u64,
    ecs_cts: u64,
    ecs_generic: u64,
    ecs_apig: u64,
    /// ECS calls meant to match no catalog action (e.g. body key `confirmResize`).
    ecs_unclassified: u64,
    /// ECS calls that failed without being denied (400/404/409/500).
    ecs_failed: u64,
    /// Unique non-ECS traces (OBS/VPC/EVS/IAM), and how many of them are 403s.
    non_ecs: u64,
    non_ecs_403: u64,
    /// Unique denied ECS calls, and by intended cause.
    denied: u64,
    denied_by_cause: BTreeMap<String, u64>,
    /// Written records (repeats included) whose `code` field is 403 or "403": what a
    /// `code == 403` query (DuckDB, jq) counts.
    code_403_records: u64,
    /// Expected `denials.csv` rows summed over projects: "action,cause,missing_permission" -> calls.
    denials: BTreeMap<String, u64>,
}

impl Tally {
    fn merge(&mut self, o: &Tally) {
        self.bytes += o.bytes;
        self.file_bytes += o.file_bytes;
        self.files += o.files;
        self.records += o.records;
        self.unique += o.unique;
        self.duplicates += o.duplicates;
        self.ecs += o.ecs;
        self.ecs_cts += o.ecs_cts;
        self.ecs_generic += o.ecs_generic;
        self.ecs_apig += o.ecs_apig;
        self.ecs_unclassified += o.ecs_unclassified;
        self.ecs_failed += o.ecs_failed;
        self.non_ecs += o.non_ecs;
        self.non_ecs_403 += o.non_ecs_403;
        self.denied += o.denied;
        self.code_403_records += o.code_403_records;
        for (k, v) in &o.denied_by_cause {
            *self.denied_by_cause.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.denials {
            *self.denials.entry(k.clone()).or_default() += v;
        }
    }

    fn deny(&mut self, action: &str, cause: Cause, missing: &str) {
        self.denied += 1;
        *self
            .denied_by_cause
            .entry(cause.as_str().to_string())
            .or_default() += 1;
        *self
            .denials
            .entry(format!("{action},{},{missing}", cause.as_str()))
            .or_default() += 1;
    }
}

// ---------------------------------------------------------------------------------------
// The generator proper.

struct World {
    projects: Vec<[u8; 32]>,
    users: Vec<(String, [u8; 32])>,
    domain: [u8; 32],
    denial_rate: f64,
    ecs_share: f64,
    seed: u64,
}

fn hex32(rng: &mut Rng) -> [u8; 32] {
    let mut v = Vec::with_capacity(32);
    push_hex(&mut v, rng.next(), 16);
    push_hex(&mut v, rng.next(), 16);
    v.try_into().expect("32 hex digits")
}

const FIRST: [&str; 16] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil",
];
const ROLE: [&str; 6] = ["ops", "dev", "ci", "sre", "audit", "admin"];

impl World {
    fn new(a: &Args) -> World {
        let mut rng = Rng::new(a.seed, u64::MAX);
        let projects = (0..a.projects.clamp(1, 1_000_000))
            .map(|_| hex32(&mut rng))
            .collect();
        let users = (0..a.users.max(1))
            .map(|i| {
                let name = format!(
                    "{}.{}{}",
                    FIRST[i as usize % FIRST.len()],
                    ROLE[(i as usize / FIRST.len()) % ROLE.len()],
                    i as usize / (FIRST.len() * ROLE.len())
                );
                (name, hex32(&mut rng))
            })
            .collect();
        World {
            projects,
            users,
            domain: hex32(&mut rng),
            denial_rate: a.denial_rate,
            ecs_share: a.ecs_share,
            seed: a.seed,
        }
    }
}

/// An ECS call to generate: trace name or API, body, expected action, dependencies.
struct Call {
    trace_name: &'static str,
    /// Request body JSON (may be empty = no body).
    body: String,
    /// Expected action (candidates sorted, joined with `|`) for a denial that does not narrow.
    action: &'static str,
    /// The action named by a `missing_action` denial, and the action it resolves to.
    named: &'static str,
    /// (named dependency, action the record resolves to) for `missing_dependency`.
    dep: Option<(&'static str, &'static str)>,
    /// Whether the call matches no catalog action (never denied then).
    unclassified: bool,
    api_version: &'static str,
}

fn servers_array(rng: &mut Rng) -> String {
    let n = 1 + rng.below(3);
    let mut v = Vec::new();
    v.extend_from_slice(b"[");
    for i in 0..n {
        if i > 0 {
            v.push(b',');
        }
        v.extend_from_slice(b"{\"id\":\"");
        push_uuid(&mut v, rng);
        v.extend_from_slice(b"\"}");
    }
    v.push(b']');
    String::from_utf8(v).expect("ascii")
}

fn ecs_trace_call(rng: &mut Rng) -> Call {
    let single = |trace_name, body: &str, action, dep| Call {
        trace_name,
        body: body.to_string(),
        action,
        named: action,
        dep,
        unclassified: false,
        api_version: "v2.1",
    };
    match rng.below(20) {
        0 | 1 => single(
            "startServer",
            r#"{"os-start":{}}"#,
            "ecs:servers:start",
            Some(("ecs:servers:list", "ecs:servers:start")),
        ),
        2 | 3 => single(
            "stopServer",
            r#"{"os-stop":{"type":"SOFT"}}"#,
            "ecs:servers:stop",
            Some(("ecs:servers:get", "ecs:servers:stop")),
        ),
        4 => single(
            "rebootServer",
            r#"{"reboot":{"type":"SOFT"}}"#,
            "ecs:servers:reboot",
            Some(("ecs:servers:list", "ecs:servers:reboot")),
        ),
        5 | 6 => {
            let (name, key, action) = *rng.pick(&[
                ("startServer", "os-start", "ecs:cloudServers:start"),
                ("stopServer", "os-stop", "ecs:cloudServers:stop"),
                ("rebootServer", "reboot", "ecs:cloudServers:reboot"),
            ]);
            let extra = if key == "os-start" {
                ""
            } else {
                r#","type":"HARD""#
            };
            Call {
                body: format!(r#"{{"{key}":{{"servers":{}{extra}}}}}"#, servers_array(rng)),
                api_version: "v1",
                ..single(name, "", action, None)
            }
        }
        7 => single(
            "operateServer",
            r#"{"os-start":{}}"#,
            "ecs:servers:start",
            Some(("ecs:servers:list", "ecs:servers:start")),
        ),
        8 => single(
            "operateServer",
            r#"{"reboot":{"type":"SOFT"}}"#,
            "ecs:servers:reboot",
            Some(("ecs:servers:get", "ecs:servers:reboot")),
        ),
        9 => Call {
            unclassified: true,
            ..single("operateServer", r#"{"confirmResize":null}"#, "", None)
        },
        10 | 11 => {
            let (publicip, dep) = match rng.below(3) {
                0 => (
                    r#","publicip":{"eip":{"iptype":"5_bgp","bandwidth":{"size":10,"sharetype":"PER"}}}"#
                        .to_string(),
                    Some(("vpc:publicIps:create", "ecs:cloudServers:createServers")),
                ),
                1 => {
                    let mut v = b",\"publicip\":{\"id\":\"".to_vec();
                    push_uuid(&mut v, rng);
                    v.extend_from_slice(b"\"}");
                    (
                        String::from_utf8(v).expect("ascii"),
                        Some(("vpc:publicIps:update", "ecs:cloudServers:createServers")),
                    )
                }
                _ => (String::new(), None),
            };
            let mut vpc = Vec::new();
            push_uuid(&mut vpc, rng);
            let vpc = String::from_utf8(vpc).expect("ascii");
            Call {
                body: format!(
                    r#"{{"server":{{"availability_zone":"eu-de-01","name":"web-{}","imageRef":"{vpc}","flavorRef":"s3.medium.2","root_volume":{{"volumetype":"SSD","size":40}},"vpcid":"{vpc}","nics":[{{"subnet_id":"{vpc}"}}]{publicip},"count":1}}}}"#,
                    rng.below(1000)
                ),
                api_version: "v1",
                ..single("createServer", "", "ecs:cloudServers:createServers", dep)
            }
        }
        12 => Call {
            named: "ecs:servers:delete",
            api_version: "v1",
            ..single(
                "deleteServer",
                r#"{"delete_publicip":true,"delete_volume":true}"#,
                "ecs:cloudServers:deleteServers|ecs:servers:delete",
                None,
            )
        },
        13 => Call {
            named: "ecs:cloudServers:attach",
            api_version: "v1",
            ..single(
                "attachVolume",
                r#"{"volumeAttachment":{"volumeId":"b2a43c1e-4f1d-4b8a-9c8e-5d2f1e0a3b7c","device":"/dev/vdb"}}"#,
                "ecs:cloudServers:attach|ecs:serverVolumeAttachments:create",
                Some(("evs:volumes:use", "ecs:cloudServers:attach")),
            )
        },
        14 | 15 => Call {
            api_version: "v1",
            ..single(
                "updateMetadata",
                r#"{"metadata":{"owner":"ops","env":"prod","cost_center":"cc-4711"}}"#,
                "ecs:cloudServers:updateMetadata",
                None,
            )
        },
        16 | 17 => Call {
            api_version: "v2",
            ..single(
                "changeOs",
                r#"{"os-change":{"keyname":"ops-key","imageid":"1189efbf-d48b-46ad-a823-94b942e2a000","mode":"withStopServer"}}"#,
                "ecs:cloudServers:changeOS",
                None,
            )
        },
        _ => Call {
            api_version: "v2",
            ..single(
                "reinstallOs",
                r#"{"os-reinstall":{"keyname":"ops-key","mode":"withStopServer"}}"#,
                "ecs:cloudServers:rebuild",
                None,
            )
        },
    }
}

/// Unrelated actions named by `undocumented_dependency` denials (dependencies of none of
/// the generated calls).
const UNDOCUMENTED: [&str; 3] = ["ims:images:get", "kms:cmk:list", "ces:metricData:list"];

/// A denial body naming `action` (JSON).
fn denial_body(rng: &mut Rng, action: &str) -> String {
    match rng.below(4) {
        0 | 1 => format!(
            r#"{{"forbidden":{{"message":"Policy doesn't allow {action} to be performed.","code":403}}}}"#
        ),
        2 => format!(
            r#"{{"error":{{"code":"Ecs.0110","message":"Policy does not allow {action} to be performed."}}}}"#
        ),
        _ => format!(
            r#"{{"error_msg":"Policy doesn't allow {action} to be performed.","error_code":"IAM.0003"}}"#
        ),
    }
}

/// A denial body that names no action; `strong` ones are denials by their code alone
/// (needed when the record has no status).
fn anonymous_denial_body(rng: &mut Rng, strong: bool) -> &'static str {
    match (strong, rng.below(3)) {
        (true, 0) => {
            r#"{"error":{"code":"Ecs.0110","message":"Insufficient permissions for the operation."}}"#
        }
        (true, _) => r#"{"error_code":"Pdp.0001","error_msg":"Authorization failed."}"#,
        (false, 0) => {
            r#"{"error_code":"Ecs.0066","error_msg":"The account is restricted. Contact customer service."}"#
        }
        (false, 1) => "",
        (false, _) => {
            r#"{"error":{"code":"Ecs.0110","message":"Insufficient permissions for the operation."}}"#
        }
    }
}

/// The denial chosen for an ECS call: (cause, resolved action, named permission, body).
fn pick_denial(rng: &mut Rng, call: &Call, strong: bool) -> (Cause, &'static str, String, String) {
    loop {
        match rng.below(4) {
            0 => {
                let named = call.named;
                return (
                    Cause::MissingAction,
                    named,
                    named.to_string(),
                    denial_body(rng, named),
                );
            }
            1 => {
                let Some((dep, resolved)) = call.dep else {
                    continue;
                };
                return (
                    Cause::MissingDependency,
                    resolved,
                    dep.to_string(),
                    denial_body(rng, dep),
                );
            }
            2 => {
                let u = *rng.pick(&UNDOCUMENTED);
                return (
                    Cause::UndocumentedDependency,
                    call.action,
                    u.to_string(),
                    denial_body(rng, u),
                );
            }
            _ => {
                return (
                    Cause::Unknown,
                    call.action,
                    String::new(),
                    anonymous_denial_body(rng, strong).to_string(),
                );
            }
        }
    }
}

/// A record's fields before they are written in some key order: (key, raw JSON value).
struct Fields {
    vals: Vec<u8>,
    keys: Vec<(&'static str, usize, usize)>,
}

impl Fields {
    fn new() -> Fields {
        Fields {
            vals: Vec::with_capacity(1024),
            keys: Vec::with_capacity(32),
        }
    }
    fn clear(&mut self) {
        self.vals.clear();
        self.keys.clear();
    }
    fn raw(&mut self, key: &'static str, f: impl FnOnce(&mut Vec<u8>)) {
        let start = self.vals.len();
        f(&mut self.vals);
        self.keys.push((key, start, self.vals.len()));
    }
    fn str(&mut self, key: &'static str, s: &[u8]) {
        self.raw(key, |v| {
            v.push(b'"');
            v.extend_from_slice(s);
            v.push(b'"');
        });
    }
    /// A JSON value as an object, or (sometimes) as a string holding that JSON.
    fn json(&mut self, key: &'static str, json: &str, as_string: bool) {
        self.raw(key, |v| {
            if as_string {
                v.push(b'"');
                push_escaped(v, json.as_bytes());
                v.push(b'"');
            } else {
                v.extend_from_slice(json.as_bytes());
            }
        });
    }
    /// Writes `{...}` in a key order chosen by `order` (0: as added, 1: reversed, 2: rotated).
    fn write(&self, out: &mut Vec<u8>, order: u64) {
        out.push(b'{');
        let n = self.keys.len();
        for i in 0..n {
            let j = match order {
                0 => i,
                1 => n - 1 - i,
                _ => (i + n / 2) % n,
            };
            let (k, s, e) = self.keys[j];
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(&self.vals[s..e]);
        }
        out.push(b'}');
    }
}

const NON_ECS: [(&str, &str, &str, &str); 12] = [
    ("OBS", "bucket", "createBucket", "obs:bucket:CreateBucket"),
    ("OBS", "bucket", "deleteBucket", "obs:bucket:DeleteBucket"),
    (
        "OBS",
        "bucket",
        "setBucketPolicy",
        "obs:bucket:PutBucketPolicy",
    ),
    ("VPC", "vpc", "createVpc", "vpc:vpcs:create"),
    ("VPC", "subnet", "updateSubnet", "vpc:subnets:update"),
    ("VPC", "eip", "deletePublicip", "vpc:publicIps:delete"),
    ("EVS", "volume", "createVolume", "evs:volumes:create"),
    ("EVS", "volume", "extendVolume", "evs:volumes:extend"),
    ("EVS", "volume", "deleteVolume", "evs:volumes:delete"),
    ("IAM", "user", "login", "iam:users:login"),
    ("IAM", "user", "createUser", "iam:users:createUser"),
    (
        "IAM",
        "credential",
        "createCredential",
        "iam:credentials:createCredential",
    ),
];

const NAMES: [&str; 8] = [
    "prod-web",
    "prod-db",
    "stag-web",
    "prod-k8s-node",
    "stag-bastion",
    "ci-runner",
    "dev-box",
    "prod-cache",
];
const IPS: [&str; 6] = [
    "80.158.12.34",
    "80.158.12.35",
    "164.30.2.8",
    "192.168.10.24",
    "10.0.4.51",
    "100.125.4.17",
];

/// One block of records: its own RNG stream, so blocks can be made in parallel.
struct Block<'w> {
    w: &'w World,
    rng: Rng,
    f: Fields,
    tally: Tally,
    /// The last trace written and not yet repeated: where it starts and ends in the
    /// output, and whether its own `code` is 403 (a body may hold a 403 of its own).
    last_trace: Option<(usize, usize, bool)>,
}

impl<'w> Block<'w> {
    fn new(w: &'w World, stream: u64) -> Block<'w> {
        Block {
            w,
            rng: Rng::new(w.seed, stream),
            f: Fields::new(),
            tally: Tally::default(),
            last_trace: None,
        }
    }

    fn push_time(&mut self, ms: u64) {
        match self.rng.below(6) {
            0 | 1 => self.f.raw("time", |v| push_u64(v, ms)),
            2 => self.f.raw("time", |v| {
                v.push(b'"');
                push_u64(v, ms);
                v.push(b'"');
            }),
            3 | 4 => {
                // CTS console layout in UTC+8.
                let c = civil(ms + 8 * 3_600_000);
                self.f.raw("time", |v| {
                    v.push(b'"');
                    push_u64(v, c.year);
                    v.push(b'/');
                    push_2(v, c.month);
                    v.push(b'/');
                    push_2(v, c.day);
                    v.push(b' ');
                    push_2(v, c.hour);
                    v.push(b':');
                    push_2(v, c.min);
                    v.push(b':');
                    push_2(v, c.sec);
                    v.extend_from_slice(b" GMT+08:00\"");
                });
            }
            _ => {
                let c = civil(ms + 8 * 3_600_000);
                self.f.raw("time", |v| {
                    v.push(b'"');
                    v.extend_from_slice(MONTHS[c.month as usize - 1].as_bytes());
                    v.push(b' ');
                    push_2(v, c.day);
                    v.extend_from_slice(b", ");
                    push_u64(v, c.year);
                    v.push(b' ');
                    push_2(v, c.hour);
                    v.push(b':');
                    push_2(v, c.min);
                    v.push(b':');
                    push_2(v, c.sec);
                    v.extend_from_slice(b" GMT+08:00\"");
                });
            }
        }
    }

    fn push_user(&mut self, user: usize) {
        let (name, id) = &self.w.users[user];
        let mut u = Vec::with_capacity(160);
        u.extend_from_slice(b"{\"id\":\"");
        u.extend_from_slice(id);
        u.extend_from_slice(b"\",\"name\":\"");
        u.extend_from_slice(name.as_bytes());
        u.extend_from_slice(b"\",\"domain\":{\"id\":\"");
        u.extend_from_slice(&self.w.domain);
        u.extend_from_slice(b"\",\"name\":\"acme-eu\"}}");
        let as_string = self.rng.chance(0.25);
        self.f
            .json("user", std::str::from_utf8(&u).expect("ascii"), as_string);
    }

    /// Common trace fields; returns nothing, adds to `self.f`.
    fn trace_common(&mut self, project: usize, ms: u64, service: &str, resource_type: &str) {
        let rng = &mut self.rng;
        let mut id = Vec::with_capacity(36);
        push_uuid(&mut id, rng);
        self.f.str("trace_id", &id);
        self.f.str(
            "trace_type",
            rng.pick(&["ApiCall", "ConsoleAction", "ApiCall"])
                .as_bytes(),
        );
        self.f.str("service_type", service.as_bytes());
        self.f.str("resource_type", resource_type.as_bytes());
        id.clear();
        push_uuid(&mut id, rng);
        self.f.str("resource_id", &id);
        let name = format!("{}-{:02}", rng.pick(&NAMES), rng.below(40));
        self.f.str("resource_name", name.as_bytes());
        self.f.str("source_ip", rng.pick(&IPS).as_bytes());
        self.push_time(ms);
        let rt = ms + 100 + self.rng.below(900);
        self.f.raw("record_time", |v| push_u64(v, rt));
        let users = self.w.users.len() as u64;
        let user = self.rng.below(users) as usize;
        self.push_user(user);
        let rng = &mut self.rng;
        id.clear();
        push_hex(&mut id, rng.next(), 16);
        push_hex(&mut id, rng.next(), 16);
        self.f
            .str("request_id", if rng.chance(0.1) { b"" } else { &id });
        self.f.str("project_id", &self.w.projects[project]);
        self.f.str("domain_id", &self.w.domain);
        let region = if rng.chance(0.8) { "eu-de" } else { "eu-nl" };
        let endpoint = format!(
            "https://{}.{region}.otc.t-systems.com",
            service.to_ascii_lowercase()
        );
        self.f.str("endpoint", endpoint.as_bytes());
        let loc = format!("{region}-0{}", 1 + rng.below(3));
        self.f.str("location_info", loc.as_bytes());
        if rng.chance(0.5) {
            self.f.str("tracker_name", b"system");
        }
        if rng.chance(0.3) {
            self.f.str("x_forwarded_for", rng.pick(&IPS).as_bytes());
        }
    }

    /// HTTP status written as `code`: number, string, or absent (then the rating decides).
    fn push_code(&mut self, code: u16, absent_ok: bool) -> bool {
        let r = self.rng.below(10);
        if absent_ok && r == 0 {
            return false;
        }
        if r < 4 {
            self.f.raw("code", |v| {
                v.push(b'"');
                push_u64(v, u64::from(code));
                v.push(b'"');
            });
        } else {
            self.f.raw("code", |v| push_u64(v, u64::from(code)));
        }
        if code == 403 {
            self.tally.code_403_records += 1;
        }
        true
    }

    fn ecs_trace(&mut self, project: usize, ms: u64) {
        self.tally.ecs += 1;
        self.tally.ecs_cts += 1;
        let call = ecs_trace_call(&mut self.rng);
        self.trace_common(project, ms, "ECS", "ecs");
        self.f.str("trace_name", call.trace_name.as_bytes());
        self.f.str("api_version", call.api_version.as_bytes());
        let body_as_string = self.rng.chance(0.3);
        self.f.json("request", &call.body, body_as_string);
        let denied = !call.unclassified && self.rng.chance(self.w.denial_rate);
        if denied {
            // The code may be absent: the rating and a denial in the response decide then.
            let rated = self.rng.chance(0.1);
            let (cause, action, missing, body) = pick_denial(&mut self.rng, &call, rated);
            self.tally.deny(action, cause, &missing);
            if rated {
                self.f.str(
                    "trace_rating",
                    self.rng.pick(&["warning", "incident"]).as_bytes(),
                );
            } else {
                self.f.str("trace_rating", b"warning");
                self.push_code(403, false);
            }
            let as_string = self.rng.chance(0.4);
            if body.is_empty() {
                self.f.raw("response", |v| v.extend_from_slice(b"null"));
            } else {
                self.f.json("response", &body, as_string);
            }
        } else if self.rng.chance(0.02) {
            if call.unclassified {
                self.tally.ecs_unclassified += 1;
            } else {
                self.tally.ecs_failed += 1;
            }
            self.f.str("trace_rating", b"warning");
            self.push_code(400, false);
            self.f.json(
                "response",
                r#"{"error":{"code":"Ecs.0005","message":"Invalid parameter."}}"#,
                self.rng.chance(0.5),
            );
        } else {
            if call.unclassified {
                self.tally.ecs_unclassified += 1;
            }
            self.f.str("trace_rating", b"normal");
            let code = *self.rng.pick(&[200u16, 202, 200]);
            self.push_code(code, true);
            if self.rng.chance(0.5) {
                self.f.raw("response", |v| v.extend_from_slice(b"null"));
            } else {
                self.f.json(
                    "response",
                    r#"{"job_id":"ff8080828ba7c91a018bb4f3e5a10c2d"}"#,
                    self.rng.chance(0.5),
                );
            }
        }
        if self.rng.chance(0.1) {
            let m = format!("{}, Reason:", call.trace_name);
            self.f.str("message", m.as_bytes());
        }
    }

    fn other_trace(&mut self, project: usize, ms: u64) {
        self.tally.non_ecs += 1;
        let &(service, rtype, name, action) = self.rng.pick(&NON_ECS);
        self.trace_common(project, ms, service, rtype);
        self.f.str("trace_name", name.as_bytes());
        self.f.str("api_version", b"v1");
        let body = format!(
            r#"{{"{rtype}":{{"name":"{}-{}","description":"managed by terraform","tags":[{{"key":"env","value":"prod"}}]}}}}"#,
            rtype,
            self.rng.below(10_000)
        );
        let s = self.rng.chance(0.3);
        self.f.json("request", &body, s);
        if self.rng.chance(self.w.denial_rate) {
            self.tally.non_ecs_403 += 1;
            self.f.str("trace_rating", b"warning");
            self.push_code(403, false);
            let b = denial_body(&mut self.rng, action);
            let s = self.rng.chance(0.4);
            self.f.json("response", &b, s);
        } else {
            self.f.str("trace_rating", b"normal");
            self.push_code(200, false);
            self.f.raw("response", |v| v.extend_from_slice(b"null"));
        }
    }

    /// A generic request record (method, path, status) for an ECS call.
    fn ecs_generic(&mut self, project: usize, ms: u64) {
        self.tally.ecs += 1;
        self.tally.ecs_generic += 1;
        let p = std::str::from_utf8(&self.w.projects[project]).expect("ascii");
        let mut sid = Vec::new();
        push_uuid(&mut sid, &mut self.rng);
        let sid = String::from_utf8(sid).expect("ascii");
        let (method, path, body, call) = match self.rng.below(6) {
            0 => (
                "POST",
                format!("/v2.1/{p}/servers/{sid}/action"),
                r#"{"os-stop":{"type":"SOFT"}}"#,
                (
                    "ecs:servers:stop",
                    Some(("ecs:servers:list", "ecs:servers:stop")),
                ),
            ),
            1 => (
                "POST",
                format!("/v2/{p}/servers/{sid}/action"),
                r#"{"reboot":{"type":"HARD"}}"#,
                (
                    "ecs:servers:reboot",
                    Some(("ecs:servers:get", "ecs:servers:reboot")),
                ),
            ),
            2 => (
                "GET",
                format!("/v2/{p}/servers/detail?limit=50"),
                "",
                (
                    "ecs:servers:list",
                    Some(("ecs:servers:get", "ecs:servers:list")),
                ),
            ),
            3 => (
                "GET",
                format!("/v1/{p}/cloudservers/{sid}"),
                "",
                ("ecs:cloudServers:showServer", None),
            ),
            4 => (
                "DELETE",
                format!("/v2.1/{p}/servers/{sid}"),
                "",
                ("ecs:servers:delete", None),
            ),
            _ => (
                "POST",
                format!("/v1/{p}/cloudservers/action"),
                r#"{"os-start":{"servers":[{"id":"0db317d9-4c8e-4fa3-969a-73bf4c83cf3b"}]}}"#,
                ("ecs:cloudServers:start", None),
            ),
        };
        let call = Call {
            trace_name: "",
            body: body.to_string(),
            action: call.0,
            named: call.0,
            dep: call.1,
            unclassified: false,
            api_version: "",
        };
        let c = civil(ms);
        self.f.raw("timestamp", |v| {
            v.push(b'"');
            push_u64(v, c.year);
            v.push(b'-');
            push_2(v, c.month);
            v.push(b'-');
            push_2(v, c.day);
            v.push(b'T');
            push_2(v, c.hour);
            v.push(b':');
            push_2(v, c.min);
            v.push(b':');
            push_2(v, c.sec);
            v.push(b'.');
            let m = ms % 1000;
            push_u64(v, m / 100);
            push_2(v, m % 100);
            v.extend_from_slice(b"Z\"");
        });
        let mut rid = Vec::new();
        push_hex(&mut rid, self.rng.next(), 16);
        push_hex(&mut rid, self.rng.next(), 16);
        self.f.str("request_id", &rid);
        self.f.str("client_ip", self.rng.pick(&IPS).as_bytes());
        let alt = self.rng.chance(0.5);
        self.f.str(
            if alt { "request_method" } else { "method" },
            method.as_bytes(),
        );
        self.f
            .str(if alt { "uri" } else { "path" }, path.as_bytes());
        let denied = self.rng.chance(self.w.denial_rate);
        let status: u16 = if denied {
            403
        } else {
            *self.rng.pick(&[200u16, 202, 200, 204])
        };
        if alt {
            self.f.raw("status_code", |v| {
                v.push(b'"');
                push_u64(v, u64::from(status));
                v.push(b'"');
            });
        } else {
            self.f.raw("status", |v| push_u64(v, u64::from(status)));
        }
        self.f.str("project_id", p.as_bytes());
        let users = self.w.users.len() as u64;
        let u = self.rng.below(users) as usize;
        let name = self.w.users[u].0.clone();
        self.f.str("user_name", name.as_bytes());
        let lat = 20 + self.rng.below(900);
        self.f.raw("latency_ms", |v| push_u64(v, lat));
        self.f.str("upstream", b"ecs-api-2");
        if !body.is_empty() {
            self.f.json("request_body", body, false);
        }
        if denied {
            let (cause, action, missing, resp) = pick_denial(&mut self.rng, &call, false);
            self.tally.deny(action, cause, &missing);
            if !resp.is_empty() {
                self.f.json("response_body", &resp, false);
            }
        }
    }

    /// Appends one JSON record to `out`; returns whether it is a trace (has a trace_id).
    fn json_record(&mut self, out: &mut Vec<u8>, ms: u64, generic_share: f64, service: Service) {
        self.f.clear();
        let project = self.rng.below(self.w.projects.len() as u64) as usize;
        let start = out.len();
        let code_403_before = self.tally.code_403_records;
        let ecs = match service {
            Service::Mixed => self.rng.chance(self.w.ecs_share),
            Service::Ecs => true,
            Service::Other => false,
        };
        let trace = if ecs && self.rng.chance(generic_share) {
            self.ecs_generic(project, ms);
            false
        } else if ecs {
            self.ecs_trace(project, ms);
            true
        } else {
            self.other_trace(project, ms);
            true
        };
        let order = self.rng.below(3);
        self.f.write(out, order);
        self.tally.records += 1;
        self.tally.unique += 1;
        if trace {
            let own_403 = self.tally.code_403_records > code_403_before;
            self.last_trace = Some((start, out.len(), own_403));
        }
    }

    /// Sometimes repeats the last trace of this block exactly (at-least-once delivery).
    fn maybe_duplicate(&mut self, out: &mut Vec<u8>, sep: &[u8]) {
        if let Some((s, e, own_403)) = self.last_trace
            && self.rng.chance(0.001)
        {
            out.extend_from_slice(sep);
            out.extend_from_within(s..e);
            self.tally.records += 1;
            self.tally.duplicates += 1;
            // A repeat of a 403 record is still counted by a code==403 query. Its own code
            // decides, not a `"code":403` inside a denial's response body.
            if own_403 {
                self.tally.code_403_records += 1;
            }
            self.last_trace = None;
        }
    }

    fn apig_line(&mut self, out: &mut Vec<u8>, ms: u64) {
        let project = self.rng.below(self.w.projects.len() as u64) as usize;
        let p = std::str::from_utf8(&self.w.projects[project]).expect("ascii");
        let ecs = self.rng.chance(self.w.ecs_share);
        let mut sid = Vec::new();
        push_uuid(&mut sid, &mut self.rng);
        let sid = std::str::from_utf8(&sid).expect("ascii").to_string();
        let (method, host, uri, action) = if ecs {
            match self.rng.below(5) {
                0 => (
                    "GET",
                    "ecs",
                    format!("/v2.1/{p}/servers/detail"),
                    "ecs:servers:list",
                ),
                1 => (
                    "GET",
                    "ecs",
                    format!("/v1/{p}/cloudservers/{sid}"),
                    "ecs:cloudServers:showServer",
                ),
                2 => (
                    "DELETE",
                    "ecs",
                    format!("/v2/{p}/servers/{sid}"),
                    "ecs:servers:delete",
                ),
                3 => (
                    "POST",
                    "ecs",
                    format!("/v1/{p}/cloudservers/{sid}/metadata"),
                    "ecs:cloudServers:updateMetadata",
                ),
                _ => (
                    "PUT",
                    "ecs",
                    format!("/v2.1/{p}/servers/{sid}"),
                    "ecs:servers:update",
                ),
            }
        } else {
            match self.rng.below(3) {
                0 => ("GET", "vpc", format!("/v1/{p}/vpcs?limit=100"), ""),
                1 => ("POST", "evs", format!("/v2/{p}/cloudvolumes"), ""),
                _ => ("GET", "obs", "/acme-cts-logs?list-type=2".to_string(), ""),
            }
        };
        let denied = self.rng.chance(self.w.denial_rate);
        if ecs {
            self.tally.ecs += 1;
            self.tally.ecs_apig += 1;
        } else {
            self.tally.non_ecs += 1;
            if denied {
                self.tally.non_ecs_403 += 1;
            }
        }
        let status: u16 = if denied {
            403
        } else {
            *self.rng.pick(&[200u16, 200, 202, 204])
        };
        // APIG.0302 for gateway-level denials; others are the backend's 403.
        let err = if denied && self.rng.chance(0.5) {
            "APIG.0302"
        } else {
            "-"
        };
        if ecs && denied {
            let cause = if err == "-" {
                Cause::Unknown
            } else {
                Cause::GatewayDenied
            };
            self.tally.deny(action, cause, "");
        }
        let c = civil(ms);
        let rng = &mut self.rng;
        let o = out;
        o.extend_from_slice(rng.pick(&IPS).as_bytes());
        o.push(b' ');
        push_hex(o, rng.next(), 16);
        push_hex(o, rng.next(), 16);
        o.push(b' ');
        push_hex(o, rng.next(), 16);
        push_hex(o, rng.next(), 16);
        o.push(b' ');
        o.extend_from_slice(p.as_bytes());
        o.extend_from_slice(b" - [");
        push_2(o, c.day);
        o.push(b'/');
        o.extend_from_slice(MONTHS[c.month as usize - 1].as_bytes());
        o.push(b'/');
        push_u64(o, c.year);
        o.push(b':');
        push_2(o, c.hour);
        o.push(b':');
        push_2(o, c.min);
        o.push(b':');
        push_2(o, c.sec);
        o.extend_from_slice(b" +0000] 0.0");
        push_2(o, rng.below(100));
        o.push(b' ');
        o.extend_from_slice(method.as_bytes());
        o.extend_from_slice(b" https ");
        o.extend_from_slice(host.as_bytes());
        o.extend_from_slice(b".eu-de.otc.t-systems.com ");
        o.extend_from_slice(uri.as_bytes());
        o.extend_from_slice(b" HTTP/1.1 ");
        push_u64(o, u64::from(status));
        o.push(b' ');
        push_u64(o, 200 + rng.below(4000));
        o.push(b' ');
        push_u64(o, 200 + rng.below(2000));
        o.extend_from_slice(
            b" \"python-openstackclient/6.2.0 keystoneauth1/5.1.2\" - 100.125.4.17:443 ",
        );
        o.extend_from_slice(uri.as_bytes());
        o.push(b' ');
        push_u64(o, u64::from(status));
        // Fields 21..=48: timings, region, counters, mostly `-`.
        o.extend_from_slice(
            b" 0.029 0.001 0.028 - - - - - eu-de - 1 0 - - - - - - - - - - - - - - - -",
        );
        o.extend_from_slice(b" upstream - https ");
        push_hex(o, rng.next(), 16);
        push_hex(o, rng.next(), 16);
        o.push(b' ');
        o.extend_from_slice(err.as_bytes());
        o.extend_from_slice(b" -");
        self.tally.records += 1;
        self.tally.unique += 1;
    }
}

#[derive(Debug, Clone, Copy)]
enum Service {
    Mixed,
    Ecs,
    Other,
}

/// Records per block: enough work per task, small enough to keep memory low.
const BLOCK_BYTES: usize = 4 << 20;
/// Milliseconds between consecutive records.
const STEP_MS: u64 = 37;

/// Block `b` of a JSON-lines (or, for `Kind::Apig`, APIG) output: lines until `per_block`
/// bytes are reached. Records per block are not known in advance, so each block's times
/// start a fixed span (enough for its records at ~700 bytes) after the block before.
fn line_block(kind: Kind, world: &World, b: u64, per_block: usize) -> (Vec<u8>, Tally) {
    let block_span_ms = (per_block as u64 / 700 + 1) * STEP_MS;
    let mut blk = Block::new(world, b);
    let mut out = Vec::with_capacity(per_block + 4096);
    let mut ms = BASE_MS + b * block_span_ms;
    while out.len() < per_block {
        match kind {
            Kind::Apig => blk.apig_line(&mut out, ms),
            _ => {
                blk.json_record(&mut out, ms, 0.2, Service::Mixed);
                blk.maybe_duplicate(&mut out, b"\n");
            }
        }
        out.push(b'\n');
        ms += 1 + blk.rng.below(2 * STEP_MS);
    }
    blk.tally.bytes = out.len() as u64;
    (out, blk.tally)
}

/// The first block of what `--kind jsonl` (or `apig`, `apig == true`) writes with every
/// other option at its default, cut to about `bytes`: the input of the criterion
/// benchmarks (`benches/pipeline.rs` includes this file as a module), so that they time
/// the same mix of services, shapes and denials as the end-to-end comparison.
pub fn sample(apig: bool, bytes: usize) -> Vec<u8> {
    let kind = if apig { Kind::Apig } else { Kind::Jsonl };
    let args = Args::try_parse_from(["generate"]).expect("the defaults parse");
    let world = World::new(&args);
    line_block(kind, &world, 0, bytes).0
}

/// Generates JSON lines (or APIG lines) block by block in parallel, written in order.
fn write_lines(args: &Args, world: &World, out_path: &Path) -> Result<Tally> {
    let file = File::create(out_path)
        .with_context(|| format!("failed to create {}", out_path.display()))?;
    let buf = BufWriter::with_capacity(1 << 20, file);
    let mut sink: Box<dyn Write> = if args.gzip {
        Box::new(GzEncoder::new(buf, Compression::fast()))
    } else {
        Box::new(buf)
    };
    let blocks = args.bytes.div_ceil(BLOCK_BYTES as u64).max(1);
    let per_block = (args.bytes / blocks).max(1) as usize;
    let mut total = Tally::default();
    let batch = rayon::current_num_threads() as u64 * 2;
    let mut b0 = 0;
    while b0 < blocks {
        let b1 = (b0 + batch).min(blocks);
        let made: Vec<(Vec<u8>, Tally)> = (b0..b1)
            .into_par_iter()
            .map(|b| line_block(args.kind, world, b, per_block))
            .collect();
        for (bytes, t) in made {
            sink.write_all(&bytes)
                .with_context(|| format!("failed to write {}", out_path.display()))?;
            total.merge(&t);
        }
        b0 = b1;
    }
    sink.flush()?;
    drop(sink);
    total.files = 1;
    total.file_bytes = fs::metadata(out_path)?.len();
    Ok(total)
}

const OBS_SERVICES: [&str; 4] = ["OBS", "VPC", "EVS", "IAM"];

/// Writes a CTS OBS tree: one gzip JSON array per (service, 5-minute cycle).
fn write_obs(args: &Args, world: &World, root: &Path) -> Result<Tally> {
    let files = args.bytes.div_ceil(args.file_bytes.max(1024)).max(1);
    let per_file = (args.bytes / files).max(1) as usize;
    let tally = (0..files)
        .into_par_iter()
        .map(|f| -> Result<Tally> {
            let mut blk = Block::new(world, f);
            // Four services write a file per cycle; a cycle is 5 minutes.
            let cycle = f / 4;
            let start_ms = BASE_MS + cycle * 300_000;
            let ecs = blk.rng.chance(world.ecs_share);
            let service = if ecs {
                "ECS"
            } else {
                *blk.rng.pick(&OBS_SERVICES)
            };
            let region = if f % 5 == 4 { "eu-nl" } else { "eu-de" };
            let c = civil(start_ms + 300_000);
            let dir = root.join(format!(
                "CloudTraces/{region}/{}/{}/{}/system/{service}",
                c.year, c.month, c.day
            ));
            fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            let mut name = format!(
                "{service}_CloudTrace_{region}_{}-{:02}-{:02}T{:02}-{:02}-{:02}Z_",
                c.year, c.month, c.day, c.hour, c.min, c.sec
            )
            .into_bytes();
            push_hex(&mut name, blk.rng.next(), 16);
            name.extend_from_slice(b".json.gz");
            let path = dir.join(String::from_utf8(name).expect("ascii"));
            let mut out = Vec::with_capacity(per_file + 4096);
            out.push(b'[');
            let step = (300_000 / (per_file as u64 / 800).max(1)).max(1);
            let mut ms = start_ms;
            let which = if ecs { Service::Ecs } else { Service::Other };
            let mut first = true;
            while out.len() < per_file {
                if !first {
                    out.push(b',');
                }
                first = false;
                blk.json_record(&mut out, ms, 0.0, which);
                blk.maybe_duplicate(&mut out, b",");
                ms += 1 + blk.rng.below(2 * step);
            }
            out.push(b']');
            let file = File::create(&path)
                .with_context(|| format!("failed to create {}", path.display()))?;
            let mut gz = GzEncoder::new(BufWriter::new(file), Compression::fast());
            gz.write_all(&out)
                .and_then(|_| gz.finish().and_then(|mut w| w.flush()))
                .with_context(|| format!("failed to write {}", path.display()))?;
            blk.tally.bytes = out.len() as u64;
            blk.tally.file_bytes = fs::metadata(&path)?.len();
            blk.tally.files = 1;
            Ok(blk.tally)
        })
        .try_reduce(Tally::default, |mut a, b| {
            a.merge(&b);
            Ok(a)
        })?;
    // One hourly digest file (not traces: a scan must skip the Digest/ folder).
    let c = civil(BASE_MS + 3_600_000);
    let dir = root.join(format!(
        "CloudTraces/eu-de/{}/{}/{}/system/Digest/ECS",
        c.year, c.month, c.day
    ));
    fs::create_dir_all(&dir)?;
    let stamp = format!(
        "{}-{:02}-{:02}T{:02}-00-00Z",
        c.year, c.month, c.day, c.hour
    );
    let digest = format!(
        r#"{{"project_id":"{}","digest_start_time":"{stamp}","digest_end_time":"{stamp}","digest_bucket":"acme-cts-logs","digest_signature_algorithm":"SHA256withRSA","digest_end":false,"log_files":[{{"object":"ECS_CloudTrace_eu-de_{stamp}_0000000000000000.json.gz","hash_value":"2327346e833efcd6b2e7b3f0a4df8ebb","hash_algorithm":"SHA-256"}}]}}"#,
        std::str::from_utf8(&world.projects[0]).expect("ascii")
    );
    let path = dir.join(format!("ECS_CloudTrace-Digest_eu-de_{stamp}.json.gz"));
    let mut gz = GzEncoder::new(File::create(&path)?, Compression::fast());
    gz.write_all(digest.as_bytes())?;
    gz.finish()?;
    Ok(tally)
}

/// Files under `paths` as a scan would read them: hidden entries and Digest/ skipped.
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let meta = fs::metadata(p).with_context(|| format!("failed to open {}", p.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with('.') || name == "Digest" {
                    continue;
                }
                walk(&e, out)?;
            }
        } else {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    Ok(out)
}

fn decode_only(paths: &[PathBuf], threads: usize) -> Result<()> {
    let files = collect_files(paths)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let t0 = Instant::now();
    let (input, output) = pool.install(|| {
        files
            .par_iter()
            // One output buffer per thread, not per file: a fresh megabyte per file cost
            // more than inflating a tree of small files.
            .map_init(
                || vec![0u8; 1 << 20],
                |buf, p| -> Result<(u64, u64)> {
                    let input = std::fs::metadata(p)
                        .with_context(|| format!("failed to open {}", p.display()))?
                        .len();
                    // The scan's own decoders, so this is the limit for the same backend.
                    let source = permtrail::read::Source {
                        name: p.display().to_string(),
                        path: Some(p.clone()),
                    };
                    let mut reader = permtrail::read::open(&source)?;
                    let mut total = 0u64;
                    loop {
                        let n = reader
                            .read(buf)
                            .with_context(|| format!("failed to decode {}", p.display()))?;
                        if n == 0 {
                            break;
                        }
                        total += n as u64;
                    }
                    Ok((input, total))
                },
            )
            .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))
    })?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "decoded {} files: {input} bytes in, {output} bytes out, {secs:.3} s, {:.1} MB/s of output, {threads} threads",
        files.len(),
        output as f64 / secs / 1e6
    );
    println!("decode_only_seconds={secs:.6} decode_only_output_bytes={output}");
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !args.decode_only.is_empty() {
        return decode_only(&args.decode_only, args.threads.unwrap_or(2).max(1));
    }
    if !(10..=100_000).contains(&args.projects) {
        bail!("--projects must be between 10 and 100000");
    }
    if !(0.0..=1.0).contains(&args.denial_rate) || !(0.0..=1.0).contains(&args.ecs_share) {
        bail!("--denial-rate and --ecs-share are shares between 0 and 1");
    }
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()?;
    }
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(match args.kind {
            Kind::Jsonl if args.gzip => "cts.jsonl.gz",
            Kind::Jsonl => "cts.jsonl",
            Kind::Obs => "obs",
            Kind::Apig if args.gzip => "apig.log.gz",
            Kind::Apig => "apig.log",
        })
    });
    let world = World::new(&args);
    let t0 = Instant::now();
    let mut tally = match args.kind {
        Kind::Jsonl | Kind::Apig => write_lines(&args, &world, &out)?,
        Kind::Obs => write_obs(&args, &world, &out)?,
    };
    let secs = t0.elapsed().as_secs_f64();
    tally.kind = format!("{:?}", args.kind).to_lowercase();
    tally.seed = args.seed;
    let mut tally_path = out.clone().into_os_string();
    tally_path.push(".tally.json");
    let tally_path = PathBuf::from(tally_path);
    let json = serde_json::to_string_pretty(&tally)?;
    fs::write(&tally_path, json + "\n")
        .with_context(|| format!("failed to write {}", tally_path.display()))?;
    eprintln!(
        "wrote {} ({} records, {} files, {:.1} MB uncompressed, {:.1} MB on disk) in {secs:.2} s: {:.0} MB/s; tally in {}",
        out.display(),
        tally.records,
        tally.files,
        tally.bytes as f64 / 1e6,
        tally.file_bytes as f64 / 1e6,
        tally.bytes as f64 / secs / 1e6,
        tally_path.display()
    );
    Ok(())
}
