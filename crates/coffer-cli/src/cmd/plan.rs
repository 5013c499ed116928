//! `coffer plan run`: flags in, coffer-server's runner out, and for each
//! job what a backup prints (with --json: the jobs as `coffer jobs show`
//! prints them). SIGTERM and SIGINT stop it cleanly.

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
use crate::output::data_line;
use crate::progress::{ProgressView, Work};
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

/// A progress line that is cleared when dropped (a job's backup ended).
struct Drawn(Option<ProgressView>);

impl Drop for Drawn {
    fn drop(&mut self) {
        if let Some(v) = self.0.take() {
            v.finish();
        }
    }
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
    // On a terminal, each backup's progress line (as `coffer backup`).
    let g2 = g.clone();
    let watch: coffer_server::rule_run::Watch = Arc::new(move |p| {
        Box::new(Drawn(Some(ProgressView::start(
            &g2,
            p.clone(),
            Work::Backup,
        ))))
    });
    let results = daemon::run_rule_now(
        &config,
        catalog.clone(),
        &rule,
        coffer_server::rule_run::RunNow {
            only_source: source.as_deref(),
            cancel: &cancel,
            now,
            trigger: coffer_server::catalog::Trigger::Cli,
            watch: Some(watch),
        },
    )?;
    // The jobs' notifications, as the daemon would send them (and any
    // left before): also when no daemon runs (a CronJob).
    crate::notify::deliver(&config, &catalog, cancel.reason().is_some());
    let mut code = 0;
    let mut out = Vec::new();
    let mut failed = Vec::new();
    let now = jiff::Timestamp::now();
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
        // The job as recorded (its times, counters, names); the outcome
        // alone if the catalog cannot give it back.
        let job = catalog.get_job(*id).ok();
        if g.json {
            out.push(match &job {
                Some(j) => crate::cmd::jobs::job_json(j, now),
                None => json!({"id": id.0, "state": o.state.to_string(), "reason": o.reason,
                               "error": o.error, "snapshot_ids": o.snapshot_ids}),
            });
        } else if !g.quiet || o.state != JobState::Completed {
            println!("{}", job_line(id.0, o, job.as_ref(), now));
        }
    }
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    // The run's jobs and a heartbeat into the vaults, as the daemon writes
    // them (a CronJob's run leaves the same evidence); a failure is a
    // warning, the jobs stand.
    let flushed = coffer_server::fleet::flush(&config, &catalog, "plan run", now, &|name| {
        coffer_server::runner::open_vault(&config, name)
    });
    for w in flushed.warnings() {
        eprintln!("warning: {w}");
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

/// What `plan run` prints for a backup job: its id and state, the rule and
/// source, then what a backup prints (the snapshots, read, added and
/// stored, how long) or why it did not complete, e.g.
///
/// `job 60 COMPLETED (p/nightly, source docs): read 5.0 MiB in 2.1s (2.4
/// MiB/s), added 4.0 MiB (1.2 MiB stored); snapshot 1a2b3c4d saved in vault
/// main`
fn job_line(
    id: i64,
    o: &coffer_server::catalog::JobOutcome,
    job: Option<&coffer_server::catalog::Job>,
    now: jiff::Timestamp,
) -> String {
    let mut line = format!("job {id} {}", o.state);
    let Some(j) = job else {
        let why = o.reason.as_deref().or(o.error.as_deref()).unwrap_or("");
        if !why.is_empty() {
            line.push_str(&format!(": {why}"));
        }
        return line;
    };
    let mut what = vec![match (&j.plan, &j.rule) {
        (Some(p), Some(r)) => format!("{p}/{r}"),
        (_, Some(r)) => r.clone(),
        (Some(p), None) => p.clone(),
        (None, None) => "-".into(),
    }];
    if let Some(s) = &j.source {
        what.push(format!("source {s}"));
    }
    line.push_str(&format!(" ({})", what.join(", ")));
    let mut parts = Vec::new();
    let c = &j.counters;
    if !j.snapshot_ids.is_empty() || c.bytes_read > 0 {
        parts.push(data_line(
            c.bytes_read,
            None,
            None,
            j.duration(now).map(|d| d.as_secs_f64()),
            c.bytes_added,
            c.bytes_stored,
        ));
    }
    if !j.snapshot_ids.is_empty() {
        let short: Vec<&str> = j
            .snapshot_ids
            .iter()
            .map(|s| s.get(..8).unwrap_or(s))
            .collect();
        let mut saved = format!(
            "{} {} saved",
            if short.len() == 1 {
                "snapshot"
            } else {
                "snapshots"
            },
            short.join(", ")
        );
        if let Some(v) = &j.vault {
            saved.push_str(&format!(" in vault {v}"));
        }
        parts.push(saved);
    }
    if let Some(why) = o.error.as_deref().or(o.reason.as_deref()) {
        parts.push(why.to_string());
    }
    if !parts.is_empty() {
        line.push_str(": ");
        line.push_str(&parts.join("; "));
    }
    line
}
