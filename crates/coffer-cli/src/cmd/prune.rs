//! `coffer prune`: flags and output. The prune runs as a job through
//! `coffer_server::prune::run_job`, as the daemon's `[[prune]]` entries do,
//! so it is recorded in the catalog of the state directory (with its
//! report, and the PRUNE_* events); the work is `coffer_core::prune`.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use coffer_core::PruneReport;
use coffer_server::catalog::Trigger;

use crate::args::GlobalArgs;
use crate::context;
use crate::error::UsageError;
use crate::output::{count, human};

/// Flags of `coffer prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Show what would be deleted and repacked, and the bytes it would free; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Repack packs whose used bytes are below PCT percent of their size (0 turns repacking off)
    #[arg(long, value_name = "PCT", default_value_t = 50.0)]
    pub repack_below: f64,
    /// Repack at most PCT percent of the vault's data-pack bytes in this run (the emptiest packs first); the rest waits for the next prune
    #[arg(long, value_name = "PCT", default_value_t = 100.0)]
    pub max_repack_percent: f64,
    /// The state directory whose catalog records the prune job (default: the configuration's state_dir)
    #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,
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
    if !(0.0..=100.0).contains(&a.max_repack_percent) {
        bail!(UsageError(format!(
            "--max-repack-percent {} is not a percentage: give 0 (repack no data pack) to 100 (no limit)",
            a.max_repack_percent
        )));
    }
    let t = context::target(g);
    let opts =
        coffer_server::prune::options(&t.location, a.repack_below, a.max_repack_percent, a.dry_run);
    let name = t.name.clone().unwrap_or_else(|| t.location.clone());
    let vault = context::open_for_job(g)?;
    let state = context::resolve_state_dir(g, a.state_dir.as_deref())?;
    let report = match context::open_catalog(&state) {
        Ok(catalog) => {
            let job = coffer_server::prune::new_job(&name, None, Trigger::Cli);
            let id = catalog.create_job(&job)?;
            let run = coffer_server::prune::run_job(&catalog, id, &name, vault, &opts);
            run.report.ok_or_else(|| {
                anyhow!(run
                    .outcome
                    .error
                    .unwrap_or_else(|| "the prune failed".into()))
            })?
        }
        // The catalog is a record, not a condition: the prune still runs.
        Err(e) => {
            eprintln!(
                "warning: {}; the prune runs without a job record",
                crate::error::message(&e)
            );
            let vault = vault.map_err(|e| anyhow!(e))?;
            coffer_core::prune(&vault, &opts).with_context(|| format!("prune of vault `{name}`"))?
        }
    };
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
            "{}, {} ({})",
            count(r.snapshots as u64, "snapshot"),
            count(r.packs as u64, "pack"),
            human(r.bytes)
        );
        println!(
            "condemned{}: {} ({}), {} ({}), {} repacked ({}, {} copied into {} of {})",
            if r.dry_run { " (dry run)" } else { "" },
            count(r.packs_unused as u64, "unused pack"),
            human(r.bytes_unused),
            count(r.packs_unreferenced as u64, "unreferenced pack"),
            human(r.bytes_unreferenced),
            count(r.packs_repacked as u64, "pack"),
            human(r.bytes_repacked),
            count(r.blobs_copied, "blob"),
            count(r.packs_written as u64, "new pack"),
            human(r.bytes_written),
        );
        if r.packs_retention_extended > 0 {
            println!(
                "{} given the object lock retention their newest snapshot needs",
                count(r.packs_retention_extended as u64, "new pack")
            );
        }
        if r.packs_spared > 0 {
            println!(
                "{} kept: snapshots written since their plan use them",
                count(r.packs_spared as u64, "condemned pack")
            );
        }
        if r.sessions_removed > 0 || r.tmp_files_removed > 0 {
            println!(
                "{}removed {} and {}",
                would,
                count(r.sessions_removed as u64, "dead session object"),
                count(r.tmp_files_removed as u64, "temporary file")
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
            "deferred: plan {} ({}, {}) waits for {}; run prune again once they end",
            d.plan.short(),
            count(d.packs as u64, "pack"),
            human(d.bytes),
            who.join(", ")
        );
    }
    // The same lines the prune job records (coffer_server::prune).
    for line in coffer_server::prune::skipped_lines(r) {
        println!("skipped: {line}");
    }
    if r.packs_repack_deferred > 0 {
        println!(
            "deferred: {} to repack ({}) left for the next prune by --max-repack-percent (this run's budget: {} of data packs)",
            count(r.packs_repack_deferred as u64, "pack"),
            human(r.bytes_repack_deferred),
            human(r.repack_budget.unwrap_or_default())
        );
    }
    if let Some(why) = &r.stopped {
        println!("stopped early: {why}");
    }
    println!(
        "{}deleted {} ({}), rewrote {}; freed {}",
        would,
        count(r.packs_deleted as u64, "pack"),
        human(r.bytes_deleted),
        count(r.index_objects_rewritten as u64, "index object"),
        human(r.bytes_freed)
    );
}
