//! The command line, described with clap; nothing here acts. `config` turns it into a
//! validated `ScanConfig`.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Explain denied ECS calls in Open Telekom Cloud / Huawei Cloud audit logs.
///
/// permtrail classifies every request of CTS traces and request logs into its documented
/// ECS IAM action, finds the calls that were denied, tells whether a missing dependency
/// permission caused it, and writes CSV reports per project.
#[derive(Debug, Parser)]
#[command(name = "permtrail", version = VERSION, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What `--version` prints after the name: the package version, marked when this is the
/// profile-guided build of `scripts/build-pgo.sh` (which sets `PERMTRAIL_PGO_BUILD` while
/// compiling it), so that a job's log tells which build ran.
pub const VERSION: &str = match option_env!("PERMTRAIL_PGO_BUILD") {
    Some(_) => concat!(env!("CARGO_PKG_VERSION"), " (profile-guided build)"),
    None => env!("CARGO_PKG_VERSION"),
};

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan logs and write reports.
    Scan(ScanArgs),
    /// Work with permission catalogs.
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

/// `permtrail catalog` subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Read official permission pages (RST) into the permtrail catalog format.
    ///
    /// Inputs are pages or directories of pages (permtrail catalog files are accepted too;
    /// each file's format is detected by content), in priority order: a row of a later
    /// input is dropped when an earlier one already maps its APIs to the same actions.
    Import {
        /// Pages or directories of pages.
        #[arg(required = true, value_name = "PAGE|DIR")]
        inputs: Vec<PathBuf>,
        /// Revision label per input, in order; the last one repeats (default `current`).
        #[arg(long = "revision", value_name = "LABEL")]
        revisions: Vec<String>,
        /// Output file (default: standard output).
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List every API and action of a catalog with dependencies, body keys and sources.
    ///
    /// One line per (method, path template, action), sorted. Dependencies are joined with
    /// `|`; conditional ones carry their condition (`new_eip:vpc:publicIps:create`). Body
    /// keys are shown where they choose among several actions of one path.
    List {
        /// Catalog to list (repeatable, as for `scan`; default: the built-in catalog).
        #[arg(long = "catalog", value_name = "PATH")]
        catalog: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: crate::catalog_cmd::OutputFormat,
    },
    /// Explain which action(s) a request maps to, or what an action depends on.
    ///
    /// With METHOD and PATH: the matched template, the candidate actions, the body key
    /// that chose among them, the source rows and each action's dependencies, exactly as
    /// `scan` classifies the request. With `--action`: the action's dependencies (with
    /// `--transitive`, expanded through the actions the catalog knows), the rows listing
    /// it and the actions that depend on it.
    Explain {
        /// HTTP method of the request, e.g. POST.
        #[arg(required_unless_present = "action", conflicts_with = "action")]
        method: Option<String>,
        /// Request path or URL, e.g. /v2.1/<project>/servers/<id>/action.
        #[arg(required_unless_present = "action")]
        path: Option<String>,
        /// Request body (JSON), e.g. '{"os-stop": {}}'.
        #[arg(long, value_name = "JSON", conflicts_with = "action")]
        body: Option<String>,
        /// Explain this action instead of a request.
        #[arg(long, value_name = "ACTION")]
        action: Option<String>,
        /// With --action: expand dependencies that are themselves catalog actions.
        #[arg(long, requires = "action")]
        transitive: bool,
        /// Catalog to use (repeatable, as for `scan`; default: the built-in catalog).
        #[arg(long = "catalog", value_name = "PATH")]
        catalog: Vec<PathBuf>,
    },
    /// Show rows and dependencies added, removed or changed between two catalogs.
    ///
    /// Keyed by (method, path template, action); dependencies are compared as sets. Each
    /// side is a catalog file, a page or a directory of pages.
    Diff {
        /// The old catalog.
        #[arg(value_name = "A")]
        a: PathBuf,
        /// The new catalog.
        #[arg(value_name = "B")]
        b: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: crate::catalog_cmd::OutputFormat,
    },
}

/// Record formats for `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Detect per file.
    Auto,
    /// CTS traces (arrays, JSON lines, API pages, trigger events).
    Cts,
    /// Generic JSON lines, one request per line.
    Jsonl,
    /// API Gateway access log (54 fields, or 53 without `scheme`).
    Apig,
    /// Elastic Load Balance access log.
    Elb,
    /// nginx/Apache "combined" (or "common") access log.
    Combined,
}

/// Options of `permtrail scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories to read (`-` for stdin); directories are walked recursively.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Directory for the reports.
    #[arg(short, long, value_name = "DIR", default_value = "permtrail-report")]
    pub out: PathBuf,
    /// Worker threads of the scan (default: all cores); the reports are then written on a
    /// thread each.
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,
    /// Catalog to use instead of the built-in one (repeatable; earlier inputs win).
    ///
    /// A permtrail catalog file, an official permission page (RST grid tables, `.rst` or
    /// `.txt`) or a directory of them; the format is detected by content. Rows read from
    /// pages get the revision label `imported`. Body-key and trace rules are the built-in
    /// ones unless a catalog file brings its own.
    #[arg(long = "catalog", value_name = "PATH")]
    pub catalog: Vec<PathBuf>,
    /// Only records at or after this time (RFC 3339, or YYYY-MM-DD in UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records before this time (RFC 3339, or YYYY-MM-DD in UTC).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this project (repeatable).
    #[arg(long = "project", value_name = "ID")]
    pub projects: Vec<String>,
    /// Count every record, even repeats of a trace_id.
    #[arg(long)]
    pub no_dedupe: bool,
    /// Record format; `auto` detects it per file.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    /// Read a field from another key, e.g. `path=req.target` (repeatable). Names: method,
    /// path, status, project, user, user_name, user_id, time, request, response,
    /// request_id, source_ip, trace_id, trace_name, trace_rating, message, resource_url,
    /// service.
    #[arg(long = "field", value_name = "NAME=KEY")]
    pub fields: Vec<String>,
    /// Denied-call rows each worker keeps in memory before sorting them into a run on disk
    /// (inside --out, removed at the end).
    #[arg(long, value_name = "ROWS", default_value_t = 10_000, hide = true)]
    pub rows_in_memory: usize,
    /// Entries of inference groups, evidence and denial users a worker holds before it
    /// folds them into the shared tally (with more than one worker).
    #[arg(long, value_name = "ENTRIES", default_value_t = 250_000, hide = true)]
    pub fold_weight: usize,
    /// Parse every record in full, also those of other services, instead of skimming
    /// them. Reports are the same either way; this is slower.
    #[arg(long, hide = true)]
    pub full_parse: bool,
    /// Write CSV fields exactly as read. By default a field starting with `=`, `+`, `-`,
    /// `@`, tab or CR gets a leading `'` and control characters are escaped, so reports are
    /// safe to open in a spreadsheet.
    #[arg(long)]
    pub raw_csv: bool,
    /// No progress line and no summary; unreadable inputs, and reports whose last row pools
    /// what a row limit turned away, are still named.
    #[arg(short, long)]
    pub quiet: bool,
    /// When stderr is not a terminal (a batch job's log), write a progress line every this
    /// many seconds (0: never); a terminal gets one line redrawn in place instead.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub progress_every: u64,
    /// Bytes read per chunk of work (a number, or with K, M or G: powers of 1024).
    #[arg(long, value_name = "BYTES", default_value = "1M", value_parser = byte_size)]
    pub chunk_size: usize,
    /// Records longer than this are skipped and listed in errors.csv (a number, or with K,
    /// M or G).
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = byte_size)]
    pub max_record_bytes: usize,
    /// Most rows of unclassified.csv (at least 1); the calls of all further distinct rows
    /// are counted in its last row. Bounds memory when a log holds endless made-up paths
    /// (scanners).
    #[arg(long, value_name = "ROWS", default_value_t = crate::count::MAX_UNCLASSIFIED_ROWS)]
    pub max_unclassified_rows: usize,
    /// Most project rows (at least 1); the calls of all further projects are counted in
    /// one last row of projects.csv, actions.csv and denials.csv. Bounds memory when a log
    /// holds endless made-up project ids in request paths.
    #[arg(long, value_name = "PROJECTS", default_value_t = crate::count::MAX_PROJECTS)]
    pub max_projects: usize,
    /// Key of the hash that chooses which projects and unclassified rows keep rows of their
    /// own once --max-projects or --max-unclassified-rows is reached. Random in every run,
    /// so that no one can make up ids that push the real ones out; set it to get the same
    /// choice in every run.
    #[arg(long, value_name = "N")]
    pub limit_seed: Option<u64>,
}

/// A size in bytes: a whole number, optionally followed by `K`, `M` or `G` (powers of
/// 1024, either case, with an optional `iB` or `B`), as in `512K` or `64MiB`.
fn byte_size(text: &str) -> Result<usize, String> {
    let upper = text.trim().to_ascii_uppercase();
    let number = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, shift) = match number.char_indices().last() {
        Some((at, 'K')) => (&number[..at], 10),
        Some((at, 'M')) => (&number[..at], 20),
        Some((at, 'G')) => (&number[..at], 30),
        _ => (number, 0),
    };
    let refuse = || format!("not a size in bytes: {text:?} (e.g. 4096, 512K, 1M, 2G)");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse());
    }
    let n: usize = digits.parse().map_err(|_| refuse())?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size too large: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_version_printed_is_the_packages_with_the_build_marked() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")), "{VERSION}");
        assert_eq!(
            Cli::command().render_version().trim_end(),
            format!("permtrail {VERSION}")
        );
        // `.ci/run` checks the mark on the binary `scripts/build-pgo.sh` makes.
    }

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_take_binary_suffixes_and_refuse_anything_else() {
        for (text, bytes) in [
            ("4096", 4096),
            ("512K", 512 << 10),
            ("1m", 1 << 20),
            ("64MiB", 64 << 20),
            ("2GB", 2 << 30),
            (" 3k ", 3 << 10),
            ("0", 0),
        ] {
            assert_eq!(byte_size(text), Ok(bytes), "{text}");
        }
        for text in [
            "",
            "M",
            "1.5M",
            "-1",
            "1T",
            "1 M",
            "x1",
            "1KK",
            "99999999999999999999G",
        ] {
            assert!(byte_size(text).is_err(), "{text}");
        }
        let cli = Cli::try_parse_from(["permtrail", "scan", "--chunk-size", "256K", "x"])
            .expect("parses");
        let Command::Scan(args) = cli.command else {
            panic!("a scan");
        };
        assert_eq!(
            (args.chunk_size, args.max_record_bytes),
            (256 << 10, 64 << 20)
        );
    }
}
