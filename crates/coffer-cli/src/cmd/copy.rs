//! `coffer copy`: copies snapshots into another vault (its own key and
//! storage). The work is [`coffer_core::copy_snapshots`]; this file parses
//! flags, opens the two vaults and prints.

use anyhow::{bail, Result};
use clap::Args;
use coffer_core::{copy_snapshots, CopyOptions, CopyStatus, Id};
use serde_json::json;
use std::path::PathBuf;

use crate::args::{FilterArgs, GlobalArgs};
use crate::context;
use crate::error::UsageError;
use crate::output::{count, human};

const TO_FLAGS: &str = "--to-key-file or --to-password-file (COFFER_TO_KEY_FILE, COFFER_TO_PASSWORD_FILE, COFFER_TO_PASSWORD)";

/// Flags of `coffer copy`.
#[derive(Args)]
pub struct CopyArgs {
    /// Snapshots to copy: id prefixes or `latest` (with the filters)
    snapshots: Vec<String>,
    /// Copy every snapshot matching the filters
    #[arg(long, conflicts_with = "snapshots")]
    all: bool,
    /// The destination vault (must exist): a directory, s3://bucket/prefix or a local vault name
    #[arg(long, env = "COFFER_TO_VAULT", value_name = "VAULT")]
    pub(crate) to: Option<String>,
    /// Key file that unlocks the destination vault
    #[arg(long, env = "COFFER_TO_KEY_FILE", value_name = "FILE")]
    to_key_file: Option<PathBuf>,
    /// File holding the destination vault's password
    #[arg(long, env = "COFFER_TO_PASSWORD_FILE", value_name = "FILE")]
    to_password_file: Option<PathBuf>,
    /// Add this tag to the copies (repeatable; comma-separated lists too)
    #[arg(long, value_name = "TAG")]
    add_tag: Vec<String>,
    /// zstd level in the destination (0 = none)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(0..=22))]
    compression: i32,
    /// Read and compare everything, write nothing to the destination
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Runs `coffer copy`.
pub fn run(g: &GlobalArgs, a: CopyArgs) -> Result<u8> {
    let Some(to) = a.to.as_deref().filter(|t| !t.is_empty()) else {
        bail!(UsageError(
            "copy needs a destination: --to VAULT (or COFFER_TO_VAULT)".into()
        ));
    };
    if a.snapshots.is_empty() && !a.all {
        bail!(UsageError(
            "copy needs snapshots: give ids, `latest`, or --all (with --host/--tag/--path to narrow it)"
                .into()
        ));
    }
    let src = context::open(g)?;
    let dst = context::open_other(
        g,
        to,
        a.to_key_file.as_deref(),
        a.to_password_file.as_deref(),
        TO_FLAGS,
    )?;
    let filter = a.filter.filter();
    let ids: Vec<Id> = if a.all {
        src.snapshots(&filter)?
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    } else {
        a.snapshots
            .iter()
            .map(|s| src.find_snapshot(s, &filter).map(|(id, _)| id))
            .collect::<Result<_, _>>()?
    };
    let opts = CopyOptions {
        compression_level: a.compression,
        tags: crate::args::tag_list(&a.add_tag),
        dry_run: a.dry_run,
        ..Default::default()
    };
    let stats = copy_snapshots(&src, &dst, &ids, &opts)?;
    for w in &stats.warnings {
        eprintln!("warning: {w}");
    }
    let failed = stats.count(CopyStatus::Failed);
    if g.json {
        let mut j = serde_json::to_value(&stats)?;
        j["source"] = json!(src.backend().location());
        j["destination"] = json!(dst.backend().location());
        j["dry_run"] = json!(a.dry_run);
        j["state"] = json!(stats.state());
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        for s in &stats.snapshots {
            let c = &s.counters;
            match s.status {
                CopyStatus::Copied if !g.quiet => println!(
                    "copied  {} -> {}: sent {} ({}, {} stored), skipped {} ({}) the destination had",
                    s.source.short(),
                    s.destination.map(|d| d.short()).unwrap_or_else(|| "(dry run)".into()),
                    count(c.blobs_sent, "blob"),
                    human(c.bytes_sent),
                    human(c.bytes_stored),
                    count(c.blobs_skipped, "blob"),
                    human(c.bytes_skipped)
                ),
                CopyStatus::Skipped if !g.quiet => println!(
                    "skipped {}: {}",
                    s.source.short(),
                    s.detail.as_deref().unwrap_or("")
                ),
                CopyStatus::Failed => eprintln!(
                    "error: copying snapshot {}: {}",
                    s.source.short(),
                    s.detail.as_deref().unwrap_or("")
                ),
                _ => {}
            }
        }
        if !g.quiet {
            let t = &stats.totals;
            println!(
                "{} copied, {} skipped, {} failed into {}; read {} from the source, sent {} ({}, {} stored), {} ({}) there already, {} reused{}",
                stats.count(CopyStatus::Copied),
                stats.count(CopyStatus::Skipped),
                failed,
                dst.backend().location(),
                human(t.bytes_read),
                count(t.blobs_sent, "blob"),
                human(t.bytes_sent),
                human(t.bytes_stored),
                count(t.blobs_skipped, "blob"),
                human(t.bytes_skipped),
                count(t.trees_reused, "subtree"),
                if a.dry_run { " (dry run: nothing written)" } else { "" }
            );
        }
    }
    if failed > 0 {
        let reason = format!(
            "{failed} of {} failed to copy ({}); copy again to resume: what was sent is kept",
            count(stats.snapshots.len() as u64, "snapshot"),
            stats.state()
        );
        eprintln!("error: {reason}");
        return Err(crate::audit::Reported { code: 1, reason }.into());
    }
    Ok(0)
}
