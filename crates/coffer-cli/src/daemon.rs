//! `coffer serve` and `coffer plan run`: flags in, coffer-server's daemon
//! and runner out. SIGTERM and SIGINT stop both cleanly.

use anyhow::{Context, Result};
use clap::Subcommand;
use coffer_core::Cancel;
use coffer_server::catalog::JobState;
use coffer_server::config::Config;
use coffer_server::daemon::{self, DaemonOptions};
use coffer_server::schedule::SystemClock;
use coffer_server::state::StateDir;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{GlobalArgs, UsageError};

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

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the SIGTERM/SIGINT handlers and calls `on_stop` (on a thread
/// of its own) once one of them arrives. The handler only sets [`STOP`];
/// the watcher does the rest outside signal context.
pub(crate) fn on_stop_signal(on_stop: impl FnOnce() + Send + 'static) {
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    std::thread::spawn(move || {
        while !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        on_stop();
    });
}

/// Loads the configuration or reports its problems as a usage error (exit 2).
pub fn load_config(g: &GlobalArgs) -> Result<Config> {
    let path = crate::config_cmd::config_path(g, None);
    Config::load(&path).map_err(|errors| {
        let lines: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
        UsageError(format!(
            "{}\n{}: fix the configuration (coffer config check shows every problem)",
            lines.join("\n"),
            path.display()
        ))
        .into()
    })
}

/// `coffer serve`.
pub fn serve(g: &GlobalArgs, state_dir: Option<PathBuf>) -> Result<u8> {
    let mut config = load_config(g)?;
    if let Some(d) = state_dir {
        config.state_dir = d;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    on_stop_signal(move || s2.store(true, Ordering::SeqCst));
    let quiet = g.quiet;
    let json = g.json;
    let opts = DaemonOptions {
        clock: Arc::new(SystemClock),
        stop,
        log: Arc::new(move |line: &str| {
            if json {
                eprintln!(
                    "{}",
                    json!({"time": jiff::Timestamp::now().to_string(), "message": line})
                );
            } else if !quiet {
                eprintln!(
                    "{} {line}",
                    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
                );
            }
        }),
    };
    daemon::serve(config, opts).context("coffer serve")?;
    Ok(0)
}

/// `coffer plan run PLAN/RULE`.
pub fn plan(g: &GlobalArgs, cmd: PlanCmd, state_dir: Option<PathBuf>) -> Result<u8> {
    let PlanCmd::Run { rule, source } = cmd;
    let mut config = load_config(g)?;
    if let Some(d) = state_dir {
        config.state_dir = d;
    }
    let catalog = Arc::new(
        StateDir::new(config.state_dir.clone())
            .open_catalog()
            .context("opening the job catalog")?,
    );
    let cancel = Cancel::default();
    let c2 = cancel.clone();
    on_stop_signal(move || c2.cancel("coffer plan run was interrupted (SIGTERM or SIGINT)"));
    // COFFER_NOW (a `test-clock` build only, as for forget) moves "now" for
    // retention and the cold tier.
    let now = crate::retention::forced_now()?;
    let results = daemon::run_rule_now(
        &config,
        catalog,
        &rule,
        source.as_deref(),
        &cancel,
        now,
        coffer_server::catalog::Trigger::Cli,
    )
    .map_err(UsageError)?;
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
