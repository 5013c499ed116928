//! `coffer restore-test …`: flags in, `coffer_server::restore_test` out.

use anyhow::{Context, Result};
use clap::Subcommand;
use coffer_core::Cancel;
use coffer_server::catalog::{JobFilter, JobKind, Trigger};
use coffer_server::records::{CheckStatus, RestoreTestDetails, Validation};
use coffer_server::restore_test::{self, RestoreTestError};
use coffer_server::state::StateDir;
use serde_json::json;
use std::path::PathBuf;

use crate::args::GlobalArgs;
use crate::error::UsageError;

/// `coffer restore-test …`.
#[derive(Subcommand)]
pub enum RestoreTestCmd {
    /// Run a [[restore_test]] of the configuration now (exit 0 when its validation is SUCCESSFUL, 1 otherwise: FAILED, TIMED_OUT, or SKIPPED when the vault holds no snapshot of the source yet)
    Run {
        /// The restore test's name
        name: String,
        /// The daemon's state directory (default: the configuration's state_dir)
        #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Show recent restore-test results from the catalog
    List {
        /// Only this restore test
        #[arg(long)]
        name: Option<String>,
        /// At most this many (newest first)
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// The daemon's state directory (default: the configuration's state_dir)
        #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
}

fn secs(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into())
}

fn validation(v: Validation) -> &'static str {
    match v {
        Validation::Successful => "SUCCESSFUL",
        Validation::Failed => "FAILED",
        Validation::TimedOut => "TIMED_OUT",
        Validation::Skipped => "SKIPPED",
    }
}

/// Runs a `coffer restore-test` command.
pub fn run(g: &GlobalArgs, cmd: RestoreTestCmd) -> Result<u8> {
    match cmd {
        RestoreTestCmd::Run { name, state_dir } => {
            let config = crate::context::config_with_state_dir(g, state_dir)?;
            let catalog = crate::context::open_catalog(&StateDir::new(config.state_dir.clone()))?;
            let cancel = Cancel::default();
            let c2 = cancel.clone();
            crate::signal::on_stop_signal(move || {
                c2.cancel("coffer restore-test run was interrupted (SIGTERM or SIGINT)")
            });
            let (id, d) = match restore_test::run(&config, &catalog, &name, Trigger::Cli, &cancel) {
                Ok(r) => r,
                Err(e @ RestoreTestError::NotFound { .. }) => {
                    return Err(UsageError(e.to_string()).into())
                }
                Err(e) => return Err(e).context(format!("restore test `{name}`")),
            };
            let job = catalog.get_job(id).context("reading the job back")?;
            if g.json {
                let mut v = d.to_json();
                v["job"] = json!(id.0);
                v["state"] = json!(job.state.to_string());
                v["source"] = json!(job.source);
                v["error"] = json!(job.error.as_deref().or(job.reason.as_deref()));
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                if !g.quiet || d.validation != Validation::Successful {
                    for c in &d.checks {
                        let status = match c.status {
                            CheckStatus::Passed => "ok  ",
                            CheckStatus::Failed => "FAIL",
                            CheckStatus::Skipped => "skip",
                        };
                        println!("{status} {}: {}", c.name, c.detail);
                    }
                }
                let why = job.error.as_deref().or(job.reason.as_deref());
                if d.validation == Validation::Skipped {
                    println!(
                        "restore test {} (job {}): SKIPPED: {}",
                        d.test,
                        id.0,
                        why.unwrap_or("nothing to test")
                    );
                } else {
                    println!(
                    "restore test {} (job {}): {} {}; snapshot {} of {}; restore {}, validation {}{}",
                    d.test,
                    id.0,
                    validation(d.validation),
                    job.state,
                    d.snapshot.as_deref().map(|s| &s[..s.len().min(8)]).unwrap_or("-"),
                    job.source.as_deref().unwrap_or("-"),
                    secs(d.restore_seconds),
                    secs(d.validation_seconds),
                    why.map(|w| format!("\n{w}")).unwrap_or_default()
                );
                }
            }
            if d.validation == Validation::Successful {
                return Ok(0);
            }
            // Printed above; the audit trail records why. A SKIPPED test
            // (no snapshot yet) exits 1 too: nothing was shown to restore.
            let why = job.error.as_deref().or(job.reason.as_deref()).unwrap_or("");
            let verdict = if d.validation == Validation::Skipped {
                "SKIPPED".to_string()
            } else {
                format!("{} {}", validation(d.validation), job.state)
            };
            Err(crate::audit::Reported {
                code: 1,
                reason: format!("restore test {} (job {}): {verdict}: {why}", d.test, id.0),
            }
            .into())
        }
        RestoreTestCmd::List {
            name,
            limit,
            state_dir,
        } => {
            let config = crate::context::config_with_state_dir(g, state_dir)?;
            let catalog = crate::context::open_catalog(&StateDir::new(config.state_dir.clone()))?;
            let jobs = catalog
                .list_jobs(&JobFilter {
                    kinds: vec![JobKind::RestoreTest],
                    ..Default::default()
                })
                .context("listing restore-test jobs")?;
            let rows: Vec<_> = jobs
                .iter()
                .filter_map(|j| {
                    let d = RestoreTestDetails::of(j);
                    let test = d.as_ref().map(|d| d.test.clone());
                    if name.is_some() && test != name {
                        return None;
                    }
                    Some((j, d))
                })
                .take(limit)
                .collect();
            if g.json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(j, d)| {
                        json!({"job": j.id.0, "state": j.state.to_string(), "source": j.source,
                               "vault": j.vault, "created_at": j.created_at.to_string(),
                               "finished_at": j.finished_at.map(|t| t.to_string()),
                               "error": j.error, "details": d.as_ref().map(|d| d.to_json())})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{:>6}  {:<20}  {:<16}  {:<10}  {:<8}  {:>8}  {:>8}  when",
                    "job", "test", "source", "validation", "snapshot", "restore", "validate"
                );
                for (j, d) in &rows {
                    println!(
                        "{:>6}  {:<20}  {:<16}  {:<10}  {:<8}  {:>8}  {:>8}  {}",
                        j.id.0,
                        d.as_ref().map(|d| d.test.as_str()).unwrap_or("-"),
                        j.source.as_deref().unwrap_or("-"),
                        d.as_ref()
                            .map(|d| validation(d.validation))
                            .unwrap_or(j.state.as_str()),
                        d.as_ref()
                            .and_then(|d| d.snapshot.as_deref())
                            .map(|s| &s[..s.len().min(8)])
                            .unwrap_or("-"),
                        secs(d.as_ref().and_then(|d| d.restore_seconds)),
                        secs(d.as_ref().and_then(|d| d.validation_seconds)),
                        j.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
                    );
                }
                println!("{} restore tests", rows.len());
            }
            Ok(0)
        }
    }
}
