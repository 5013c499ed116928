//! `coffer verify`: a vault's structure and data checked as a `verify` job
//! recorded in the catalog (coffer-server's `verify` module does the work).

use anyhow::{bail, Result};
use clap::Args;
use coffer_core::Cancel;
use coffer_server::catalog::{Catalog, JobState, Trigger};
use coffer_server::runner::Runner;
use coffer_server::state::StateDir;
use coffer_server::verify::{self, VerifyData, VerifyRun, COVERAGE_WINDOW};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

use crate::args::GlobalArgs;
use crate::error::UsageError;
use crate::output::print_damage;

/// `coffer verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// A vault of the configuration file, by name (it wins over --vault; without it: --vault / COFFER_VAULT, unlocked as for other commands)
    #[arg(id = "vault_name", value_name = "VAULT")]
    pub(crate) vault_name: Option<String>,
    /// Read and verify every pack
    #[arg(long, conflicts_with = "read_data_subset")]
    read_data: bool,
    /// Read a share of the packs, least recently verified first (`5%`), or part n of m (`1/4`)
    #[arg(long, value_name = "SUBSET")]
    read_data_subset: Option<String>,
    /// Run the [[verify]] entry NAME of the configuration file now
    #[arg(long, value_name = "NAME", conflicts_with_all = ["vault_name", "read_data", "read_data_subset"])]
    pub(crate) rule: Option<String>,
    /// The state directory holding the job catalog (default: the configuration's state_dir)
    #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
}

fn open_catalog(dir: StateDir) -> Result<Arc<Catalog>> {
    Ok(Arc::new(crate::context::open_catalog(&dir)?))
}

/// Runs `coffer verify`.
pub fn run(g: &GlobalArgs, a: VerifyArgs) -> Result<u8> {
    let data = match (&a.read_data_subset, a.read_data) {
        (Some(s), _) => VerifyData::parse_subset(s)
            .map_err(|m| UsageError(format!("--read-data-subset {m}")))?,
        (None, true) => VerifyData::All,
        (None, false) => VerifyData::Structure,
    };
    let now = crate::clock::now()?;
    let cancel = Cancel::default();
    let c2 = cancel.clone();
    crate::signal::on_stop_signal(move || {
        c2.cancel("coffer verify was interrupted (SIGTERM or SIGINT)")
    });
    let (name, run) = if a.vault_name.is_some() || a.rule.is_some() {
        // A configuration vault's name (or entry) wins over --vault and
        // COFFER_VAULT, which may be set in the environment for other
        // commands.
        let config = crate::context::config_with_state_dir(g, a.state_dir)?;
        let catalog = open_catalog(StateDir::new(config.state_dir.clone()))?;
        let runner = Runner::new(config.clone(), catalog.clone());
        if let Some(rule) = &a.rule {
            let Some(entry) = config.verify_entry(rule) else {
                let known: Vec<&str> = config.verify.iter().map(|v| v.name.as_str()).collect();
                bail!(UsageError(format!(
                    "no [[verify]] entry `{rule}` in {} (entries: {})",
                    config.path.display(),
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            let id =
                catalog.create_job(&verify::new_job(&entry.vault, Some(rule), Trigger::Cli))?;
            let data = entry.data;
            (
                entry.vault.clone(),
                (verify::run_entry(&runner, entry, id, &cancel, now), data),
            )
        } else {
            let name = a.vault_name.expect("a vault name");
            if config.vault(&name).is_none() {
                let known: Vec<&str> = config.vaults.iter().map(|v| v.name.as_str()).collect();
                bail!(UsageError(format!(
                    "vault `{name}` is not in {} (vaults: {}); give a vault name of the configuration, or --vault DIR|s3://… with its key",
                    config.path.display(),
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                )));
            }
            let id = catalog.create_job(&verify::new_job(&name, None, Trigger::Cli))?;
            let vault = runner.vault(&name);
            let run = verify::run_job(&catalog, id, &name, vault, data, &cancel, now);
            (name, (run, data))
        }
    } else {
        // As `coffer jobs`: --state-dir, else an explicitly given
        // configuration's state_dir, else the default.
        let state = crate::context::resolve_state_dir(g, a.state_dir.as_deref())?;
        let t = crate::context::target(g);
        let name = t.name.clone().unwrap_or_else(|| t.location.clone());
        let vault = crate::context::open_for_job(g)?;
        let catalog = open_catalog(state)?;
        let id = catalog.create_job(&verify::new_job(&name, None, Trigger::Cli))?;
        let run = verify::run_job(&catalog, id, &name, vault, data, &cancel, now);
        (name, (run, data))
    };
    let (run, data) = run;
    print(g, &name, data, &run)?;
    // SKIPPED: the vault is sound and empty (nothing to verify yet).
    if matches!(run.outcome.state, JobState::Completed | JobState::Skipped) {
        return Ok(0);
    }
    // Printed above; the audit trail records why.
    let o = &run.outcome;
    let why = o.error.as_deref().or(o.reason.as_deref()).unwrap_or("");
    Err(crate::audit::Reported {
        code: 1,
        reason: format!("verify job {} {}: {why}", run.job.0, o.state),
    }
    .into())
}

fn print(g: &GlobalArgs, vault: &str, data: VerifyData, run: &VerifyRun) -> Result<()> {
    let o = &run.outcome;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "job": run.job.0,
                "vault": vault,
                "state": o.state.to_string(),
                "error": o.error,
                "reason": o.reason,
                "details": run.details,
                "problems": run.report.as_ref().map(|r| &r.problems),
            }))?
        );
        if !matches!(o.state, JobState::Completed | JobState::Skipped) {
            eprintln!(
                "error: verify job {} of vault {vault} {}: {}",
                run.job.0,
                o.state,
                o.error.as_deref().or(o.reason.as_deref()).unwrap_or("")
            );
        }
        return Ok(());
    }
    if let Some(r) = &run.report {
        print_damage(&r.problems);
    }
    match (&run.details, o.state) {
        (Some(d), JobState::Completed) => {
            if !g.quiet {
                println!(
                    "job {} COMPLETED: vault {vault} verified ({}): {} of {} read ({}); coverage {}% of the packs within {} days; no damage",
                    run.job.0,
                    data.describe(),
                    d.packs_read,
                    crate::output::count(d.packs_total, "pack"),
                    crate::output::human(d.bytes_read),
                    d.coverage_percent,
                    COVERAGE_WINDOW.as_hours() / 24,
                );
            }
        }
        (Some(_), JobState::Skipped) => {
            if !g.quiet {
                println!(
                    "job {} SKIPPED: {}",
                    run.job.0,
                    o.reason.as_deref().unwrap_or("nothing to verify")
                );
            }
        }
        (Some(d), state) => {
            println!(
                "job {} {state}: vault {vault} is damaged: {}; snapshots affected: {}",
                run.job.0,
                crate::output::count(d.damaged.len() as u64, "damaged object"),
                if d.affected_snapshots.is_empty() {
                    "none".to_string()
                } else {
                    d.affected_snapshots.join(", ")
                }
            );
            eprintln!(
                "error: vault {vault} is damaged: {}, {} affected (verify job {})",
                crate::output::count(d.damaged.len() as u64, "damaged object"),
                crate::output::count(d.affected_snapshots.len() as u64, "snapshot"),
                run.job.0
            );
        }
        (None, state) => {
            eprintln!(
                "error: verify job {} of vault {vault} {state}: {}",
                run.job.0,
                o.error.as_deref().or(o.reason.as_deref()).unwrap_or("")
            );
        }
    }
    Ok(())
}
