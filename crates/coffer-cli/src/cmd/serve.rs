//! `coffer serve`: flags in, coffer-server's daemon out. SIGTERM and
//! SIGINT stop it cleanly.

use anyhow::{Context, Result};
use coffer_server::daemon::{self, DaemonOptions};
use coffer_server::schedule::SystemClock;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::args::GlobalArgs;
use crate::context::load_config_checked;
use crate::signal::on_stop_signal;

/// `coffer serve`.
pub fn serve(g: &GlobalArgs, state_dir: Option<PathBuf>) -> Result<u8> {
    let (mut config, warnings) = load_config_checked(g)?;
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
    // What will fail at run time as this machine stands (`coffer config
    // check` says the same): said once at the start, not at each run.
    for w in &warnings {
        (opts.log)(&format!("warning: {w}"));
    }
    daemon::serve(config, opts).context("coffer serve")?;
    Ok(0)
}
