//! `coffer wal-push` and `coffer wal-fetch`: PostgreSQL's archive_command and
//! restore_command.

use anyhow::{Context, Result};
use coffer_core::wal::PutOutcome;
use coffer_sources::wal::{self, FetchOutcome};
use serde_json::json;

use crate::args::GlobalArgs;
use crate::sources::usage;

/// `coffer wal-push PATH`: archives one WAL file; exits 0 only once it is durable.
pub fn wal_push(g: &GlobalArgs, path: &std::path::Path) -> Result<u8> {
    let vault = crate::context::open(g)?;
    let (name, outcome) = wal::push(&vault, path)
        .map_err(usage)
        .with_context(|| format!("archiving WAL file {} failed", path.display()))?;
    let (already, stored) = match outcome {
        PutOutcome::Stored { stored } => (false, stored),
        PutOutcome::AlreadyArchived => (true, 0),
    };
    if g.json {
        println!(
            "{}",
            json!({"wal_file": name, "already_archived": already, "stored_bytes": stored})
        );
    } else if !g.quiet {
        if already {
            println!("WAL file {name} was already archived with identical content");
        } else {
            println!(
                "archived WAL file {name} ({} stored)",
                crate::output::human(stored)
            );
        }
    }
    Ok(0)
}

/// `coffer wal-fetch NAME DEST`: exit 1 and nothing written when the vault lacks it.
pub fn wal_fetch(g: &GlobalArgs, name: &str, dest: &std::path::Path) -> Result<u8> {
    let vault = crate::context::open(g)?;
    match wal::fetch(&vault, name, dest)
        .map_err(usage)
        .with_context(|| format!("fetching WAL file {name} to {}", dest.display()))?
    {
        FetchOutcome::Written(n) => {
            if g.json {
                println!(
                    "{}",
                    json!({"wal_file": name, "bytes": n, "written_to": dest})
                );
            } else if !g.quiet {
                println!(
                    "fetched WAL file {name} to {} ({})",
                    dest.display(),
                    crate::output::human(n)
                );
            }
            Ok(0)
        }
        FetchOutcome::Missing => {
            // PostgreSQL asks for files past the end of the archive at the end
            // of every recovery: one quiet line, exit 1.
            if g.json {
                println!("{}", json!({"wal_file": name, "missing": true}));
            }
            eprintln!(
                "WAL file {name} is not in vault {}",
                vault.backend().location()
            );
            Ok(1)
        }
    }
}
