//! `coffer plan run`: flags in, coffer-server's runner out. SIGTERM and
//! SIGINT stop it cleanly.

use anyhow::Result;
use clap::Subcommand;
use coffer_core::Cancel;
use coffer_server::catalog::JobState;
use coffer_server::daemon::{self};
use coffer_server::state::StateDir;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

use crate::args::GlobalArgs;
use crate::context::{config_with_state_dir, open_catalog};
use crate::signal::on_stop_signal;

/// `coffer plan …`.
#[derive(Subcommand)]
pub enum PlanCmd {
    /// Run one rule now (every source it selects, one after the other), with or without a daemon
    Run {
        /// The rule, as PLAN/RULE
        rule: String,
        /// Only this source of the rule
        #[arg(long)]
        source: Option<String>,
    },
}

/// `coffer plan run PLAN/RULE`.
pub fn plan(g: &GlobalArgs, cmd: PlanCmd, state_dir: Option<PathBuf>) -> Result<u8> {
    let PlanCmd::Run { rule, source } = cmd;
    let config = config_with_state_dir(g, state_dir)?;
    let catalog = Arc::new(open_catalog(&StateDir::new(config.state_dir.clone()))?);
    let cancel = Cancel::default();
    let c2 = cancel.clone();
    on_stop_signal(move || c2.cancel("coffer plan run was interrupted (SIGTERM or SIGINT)"));
    // COFFER_NOW (a `test-clock` build only, as for forget) moves "now" for
    // retention and the cold tier.
    let now = crate::clock::forced_now()?;
    let results = daemon::run_rule_now(
        &config,
        catalog,
        &rule,
        source.as_deref(),
        &cancel,
        now,
        coffer_server::catalog::Trigger::Cli,
    )?;
    let mut code = 0;
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for (id, o) in &results {
        let why = o.reason.as_deref().or(o.error.as_deref()).unwrap_or("");
        match o.state {
            JobState::Completed => {}
            JobState::Partial => code = code.max(3),
            _ => {
                code = 1;
                failed.push(format!("job {} {}: {why}", id.0, o.state));
            }
        }
        if g.json {
            out.push(
                json!({"job": id.0, "state": o.state.to_string(), "reason": o.reason,
                            "error": o.error, "snapshots": o.snapshot_ids}),
            );
        } else if !g.quiet || o.state != JobState::Completed {
            println!(
                "job {} {}{}{}",
                id.0,
                o.state,
                if why.is_empty() { "" } else { ": " },
                why
            );
        }
    }
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    if code == 1 {
        // Printed above; the audit trail records why.
        return Err(crate::audit::Reported {
            code,
            reason: failed.join("; "),
        }
        .into());
    }
    Ok(code)
}
