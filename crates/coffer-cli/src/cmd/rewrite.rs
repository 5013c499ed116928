//! `coffer rewrite`: replaces file-tree snapshots by copies without the
//! paths `--exclude` names (the globs of `coffer backup --exclude`), and
//! forgets the originals, so the excluded data leaves the vault at the
//! next prune (coffer-core's plan, then its execution). "Now" is
//! [`crate::clock::now`].

use anyhow::{bail, Context, Result};
use clap::Args;
use coffer_core::{
    execute_rewrite, plan_rewrite, BackupOptions, RewriteAction, RewriteItem, RewriteOptions,
    RewriteStats,
};
use coffer_sources::filter::Patterns;
use serde_json::json;
use std::path::{Path, PathBuf};

use crate::args::{FilterArgs, GlobalArgs};
use crate::clock::now;
use crate::context;
use crate::error::UsageError;
use crate::output::{count, human};

/// `coffer rewrite`.
#[derive(Args)]
pub struct RewriteArgs {
    /// Snapshots to rewrite (id prefixes or `latest`)
    ids: Vec<String>,
    /// Rewrite every snapshot the filter (--host, --tag, --path) selects; stream snapshots are left alone
    #[arg(long, conflicts_with = "ids")]
    all: bool,
    /// Leave out entries matching this glob, as `coffer backup --exclude` does (repeatable)
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Read exclude globs from a file, one a line, `#` comments (repeatable)
    #[arg(long, value_name = "FILE")]
    exclude_file: Vec<PathBuf>,
    /// Show what would go without changing anything
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Also rewrite snapshots that only a governance lock or their retain_until protects
    #[arg(long)]
    bypass_governance: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

/// `coffer rewrite`.
pub fn rewrite(g: &GlobalArgs, a: RewriteArgs) -> Result<u8> {
    if a.ids.is_empty() && !a.all {
        bail!(UsageError(
            "rewrite needs snapshot ids (or `latest`), or --all for every snapshot the filter selects".into()
        ));
    }
    // A bad glob is the user's to fix (exit 2), as any other bad option.
    let patterns = Patterns::with_files(a.exclude.clone(), &a.exclude_file, "--exclude").map_err(
        |e| match e.kind() {
            coffer_core::ErrorKind::InvalidInput => anyhow::Error::new(UsageError(e.to_string())),
            _ => anyhow::Error::new(e),
        },
    )?;
    if patterns.is_empty() {
        bail!(UsageError(
            "rewrite needs what to leave out: --exclude GLOB or --exclude-file FILE (the globs of `coffer backup --exclude`)"
                .into()
        ));
    }
    let now = now()?;
    let vault = context::open(g)?;
    let location = vault.backend().location();
    let filter = a.filter.filter();
    let mut ids = Vec::new();
    for name in &a.ids {
        ids.push(vault.find_snapshot(name, &filter)?.0);
    }
    let exclude = |p: &Path| patterns.matches(p);
    let opts = RewriteOptions {
        ids,
        filter,
        exclude: &exclude,
        bypass_governance: a.bypass_governance,
        now,
    };
    let plan =
        plan_rewrite(&vault, &opts).with_context(|| format!("rewrite in vault {location}"))?;
    let stats = if a.dry_run {
        None
    } else {
        Some(
            execute_rewrite(&vault, &plan, &BackupOptions::default())
                .with_context(|| format!("rewrite in vault {location}"))?,
        )
    };
    let refusals = match &stats {
        Some(s) => s.refused.clone(),
        None => plan.refusals(),
    };
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "vault": location,
                "dry_run": a.dry_run,
                "plan": plan,
                "rewritten": stats.as_ref().map(|s| &s.rewritten),
                "refused": refusals,
            }))?
        );
    } else if !g.quiet {
        if let Some(l) = &plan.lock {
            println!("vault lock: {}", l.describe());
        }
        for item in &plan.items {
            print_item(item, stats.as_ref());
        }
        for w in &plan.lock_warnings {
            eprintln!("warning: {w}");
        }
        let n = plan.to_rewrite().count();
        let left = plan.items.len() - n;
        match &stats {
            _ if !refusals.is_empty() && stats.as_ref().is_none_or(|s| s.rewritten.is_empty()) => {
                println!("nothing changed in {location}")
            }
            None => println!(
                "dry run: would rewrite {} of {}, leave {left} alone",
                n,
                count(plan.items.len() as u64, "snapshot")
            ),
            Some(s) if s.rewritten.is_empty() => {
                println!("nothing matches: no snapshot in {location} changed")
            }
            Some(s) => {
                println!(
                    "rewrote {} in {location}, left {left} alone",
                    count(s.rewritten.len() as u64, "snapshot")
                );
                println!("the removed data stays in the vault until `coffer prune`");
            }
        }
    }
    crate::audit::refusals(&refusals)
}

fn print_item(item: &RewriteItem, stats: Option<&RewriteStats>) {
    let head = format!(
        "snapshot {}  {}  {}  {}",
        item.id.short(),
        item.time,
        item.hostname,
        item.paths.join(" ")
    );
    match item.action {
        RewriteAction::Unchanged => println!("{head}: nothing matches, left alone"),
        RewriteAction::Skipped => println!(
            "{head}: a {} snapshot (one stream, not a file tree), left alone",
            item.kind
        ),
        RewriteAction::Rewrite => {
            println!("{head}");
            for r in &item.removed {
                println!(
                    "  - {}  ({}, {})",
                    r.path,
                    count(r.files, "file"),
                    human(r.bytes)
                );
            }
            let done = stats.and_then(|s| s.rewritten.iter().find(|r| r.original == item.id));
            match done {
                Some(r) => println!(
                    "  {} -> {}: removed {}, {}{}",
                    r.original.short(),
                    r.new.short(),
                    count(r.files, "file"),
                    human(r.bytes),
                    if r.forgotten {
                        ""
                    } else {
                        " (the original was kept: see the error below)"
                    }
                ),
                None => println!(
                    "  {} {}, {}",
                    if stats.is_some() || item.refusal.is_some() {
                        "would have removed"
                    } else {
                        "would remove"
                    },
                    count(item.files, "file"),
                    human(item.bytes)
                ),
            }
        }
    }
}
