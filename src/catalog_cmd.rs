//! `permtrail catalog`: import, list, explain and diff permission catalogs. One function
//! per subcommand; the catalog logic itself lives in `catalog`.

use crate::catalog;
use crate::cli::CatalogCommand;
use crate::write_stdout;
use anyhow::Context;

/// Runs one `catalog` subcommand; returns the exit code.
pub fn run(command: CatalogCommand) -> anyhow::Result<u8> {
    match command {
        CatalogCommand::Import {
            inputs,
            revisions,
            out,
        } => {
            let sources: Vec<catalog::ImportSource> = inputs
                .iter()
                .enumerate()
                .map(|(i, path)| catalog::ImportSource {
                    path: path.clone(),
                    revision: revisions
                        .get(i)
                        .or(revisions.last())
                        .cloned()
                        .unwrap_or_else(|| "current".into()),
                })
                .collect();
            let (data, warnings) = catalog::import(&sources)?;
            for w in &warnings {
                eprintln!("permtrail: warning: {w}");
            }
            let text = catalog::text::write(&data);
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("failed to write {}", path.display()))?,
                None => write_stdout(text.as_bytes())?,
            }
            Ok(0)
        }
    }
}
