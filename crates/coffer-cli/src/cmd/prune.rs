//! `coffer prune`: flags and output; the work is `coffer_core::prune`.

use anyhow::{bail, Context, Result};
use clap::Args;
use coffer_core::{PruneOptions, PruneReport};

use crate::args::GlobalArgs;
use crate::context;
use crate::error::UsageError;
use crate::output::human;

/// Flags of `coffer prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Show what would be deleted and repacked, and the bytes it would free; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Repack packs whose used bytes are below PCT percent of their size (0 turns repacking off)
    #[arg(long, value_name = "PCT", default_value_t = 50.0)]
    pub repack_below: f64,
}

/// Runs `coffer prune`. Exit code 3 when something was skipped (a pack
/// that could not be repacked, a damaged plan).
pub fn run(g: &GlobalArgs, a: PruneArgs) -> Result<u8> {
    if !(0.0..=100.0).contains(&a.repack_below) {
        bail!(UsageError(format!(
            "--repack-below {} is not a percentage: give 0 to 100",
            a.repack_below
        )));
    }
    let t = context::target(g);
    let local_dir = match coffer_storage::Location::parse(&t.location) {
        Ok(coffer_storage::Location::Local(p)) => Some(p),
        _ => None,
    };
    let vault = context::open(g)?;
    let opts = PruneOptions {
        repack_below: a.repack_below / 100.0,
        dry_run: a.dry_run,
        local_dir,
        ..Default::default()
    };
    let report = coffer_core::prune(&vault, &opts)
        .with_context(|| format!("prune of vault {}", vault.backend().location()))?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report, g.quiet);
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    Ok(if report.warnings.is_empty() { 0 } else { 3 })
}

fn print_human(r: &PruneReport, quiet: bool) {
    let would = if r.dry_run { "would be " } else { "" };
    if !quiet {
        println!(
            "{} snapshots, {} packs ({})",
            r.snapshots,
            r.packs,
            human(r.bytes)
        );
        println!(
            "condemned{}: {} unused packs ({}), {} unreferenced packs ({}), {} packs repacked ({}, {} blobs copied into {} new packs of {})",
            if r.dry_run { " (dry run)" } else { "" },
            r.packs_unused,
            human(r.bytes_unused),
            r.packs_unreferenced,
            human(r.bytes_unreferenced),
            r.packs_repacked,
            human(r.bytes_repacked),
            r.blobs_copied,
            r.packs_written,
            human(r.bytes_written),
        );
        if r.packs_spared > 0 {
            println!(
                "{} condemned packs kept: snapshots written since their plan use them",
                r.packs_spared
            );
        }
        if r.sessions_removed > 0 || r.tmp_files_removed > 0 {
            println!(
                "{}removed {} dead session objects and {} temporary files",
                would, r.sessions_removed, r.tmp_files_removed
            );
        }
    }
    for d in &r.plans_deferred {
        let who: Vec<String> = d
            .sessions
            .iter()
            .map(|s| {
                format!(
                    "{} on {} pid {} started {}",
                    match s.kind {
                        coffer_core::SessionKind::Backup => "backup",
                        coffer_core::SessionKind::Prune => "prune",
                    },
                    s.host,
                    s.pid,
                    s.started
                )
            })
            .collect();
        println!(
            "deferred: plan {} ({} packs, {}) waits for {}; run prune again once they end",
            d.plan.short(),
            d.packs,
            human(d.bytes),
            who.join(", ")
        );
    }
    println!(
        "{}deleted {} packs ({}), rewrote {} index objects; freed {}",
        would,
        r.packs_deleted,
        human(r.bytes_deleted),
        r.index_objects_rewritten,
        human(r.bytes_freed)
    );
}
