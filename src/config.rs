//! Validation: turns parsed arguments into a `ScanConfig`, loading the catalog and
//! checking every value, so the core never sees clap or an invalid option.

use crate::catalog::{self, Catalog};
use crate::cli::{FormatArg, ScanArgs};
use crate::parse::access::AccessFormat;
use crate::parse::{Field, FieldMap, time};
use crate::read::frame::FrameOptions;
use crate::scan::{Format, ScanConfig};
use anyhow::{Context, Result, bail};

/// Loads the catalog `--catalog` names: text-format files, permission pages or directories
/// of pages, merged in order (earlier wins); the built-in catalog when `paths` is empty.
/// Body-key and trace rules default to the built-in ones (see `catalog::load`).
pub fn load_catalog(paths: &[std::path::PathBuf]) -> Result<Catalog> {
    catalog::load(paths)
}

/// A key no one knows before the run: std's hash keys, which it draws from the
/// operating system's randomness.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Validates `args` into a scan configuration.
pub fn scan_config(args: ScanArgs) -> Result<ScanConfig> {
    let catalog = load_catalog(&args.catalog)?;
    let bound = |name: &str, value: &Option<String>| -> Result<Option<time::Millis>> {
        value
            .as_deref()
            .map(|v| {
                time::parse_bound(v)
                    .with_context(|| format!("--{name} `{v}`: expected RFC 3339 or YYYY-MM-DD"))
            })
            .transpose()
    };
    let since = bound("since", &args.since)?;
    let until = bound("until", &args.until)?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        bail!("--since must be before --until");
    }
    let mut overrides = Vec::new();
    for spec in &args.fields {
        let Some((name, key)) = spec.split_once('=') else {
            bail!("--field `{spec}`: expected NAME=KEY");
        };
        let field = Field::by_name(name.trim())
            .with_context(|| format!("--field `{spec}`: unknown field name `{name}`"))?;
        if key.trim().is_empty() {
            bail!("--field `{spec}`: empty key");
        }
        overrides.push((field, key.trim().to_string()));
    }
    if args.chunk_size == 0 {
        bail!("--chunk-size must be at least 1");
    }
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Ok(ScanConfig {
        inputs: args.inputs,
        out: args.out,
        threads,
        catalog,
        since,
        until,
        projects: args.projects.into_iter().collect(),
        dedupe: !args.no_dedupe,
        format: match args.format {
            FormatArg::Auto => Format::Auto,
            FormatArg::Cts => Format::Cts,
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Apig => Format::Access(AccessFormat::Apig),
            FormatArg::Elb => Format::Access(AccessFormat::Elb),
            FormatArg::Combined => Format::Access(AccessFormat::Combined),
        },
        fields: FieldMap::new(&overrides),
        quiet: args.quiet,
        progress: crate::progress::Mode::for_stderr(
            args.quiet,
            std::time::Duration::from_secs(args.progress_every),
        ),
        raw_csv: args.raw_csv,
        rows_in_memory: args.rows_in_memory.max(1),
        max_unclassified_rows: args.max_unclassified_rows,
        max_projects: args.max_projects,
        limit_seed: args.limit_seed.unwrap_or_else(random_seed),
        fold_weight: args.fold_weight,
        skim: !args.full_parse,
        frame: FrameOptions {
            chunk_size: args.chunk_size,
            max_record_bytes: args.max_record_bytes.max(1),
            // The scan decides per file (`scan::read_source`).
            line_ends: true,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn config(args: &[&str]) -> Result<ScanConfig> {
        let mut argv = vec!["permtrail", "scan"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Scan(args) => scan_config(args),
            Command::Catalog(_) => unreachable!("scan was given"),
        }
    }

    #[test]
    fn options_are_validated() {
        let c = config(&[
            "--since",
            "2026-11-20",
            "--until",
            "2026-11-21T00:00:00Z",
            "x",
        ])
        .expect("valid");
        assert_eq!(c.until.zip(c.since).map(|(u, s)| u - s), Some(86_400_000));
        assert!(c.dedupe && !c.raw_csv);
        let error = |args: &[&str]| format!("{:#}", config(args).expect_err("refused"));
        assert!(error(&["--since", "2026-11-21", "--until", "2026-11-20", "x"]).contains("before"));
        assert!(error(&["--until", "tomorrow", "x"]).contains("--until"));
        assert!(error(&["--field", "nope=x", "x"]).contains("unknown field name"));
        assert!(error(&["--field", "path", "x"]).contains("NAME=KEY"));
        assert!(error(&["-j", "0", "x"]).contains("--threads"));
        assert!(error(&["--chunk-size", "0", "x"]).contains("--chunk-size"));
    }
}
