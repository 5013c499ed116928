//! `coffer report`: the compliance report, from coffer-server's `report`.
//!
//! In a `test-clock` build only, `COFFER_NOW` (an RFC 3339 time) sets "now",
//! as for forget (see `crate::clock::now`).

use anyhow::{Context, Result};
use clap::Args;
use coffer_server::catalog::parse_since;
use coffer_server::report::{self, ReportFormat};
use coffer_server::runner::Runner;
use std::io::IsTerminal;
use std::path::PathBuf;

use crate::args::GlobalArgs;
use crate::error::UsageError;

/// `coffer report`.
#[derive(Args)]
pub struct ReportArgs {
    /// Output format: text, json, csv or html (default: text, or json with --json)
    #[arg(long, value_parser = parse_format)]
    format: Option<ReportFormat>,
    /// The period reported on: a span back from now (24h, 7d, 2w) or a time (2026-03-01, 2026-03-01T12:00:00Z; UTC)
    #[arg(long, default_value = "24h")]
    since: String,
    /// Write the report to this file instead of standard output
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The daemon's state directory (default: the configuration's state_dir)
    #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<ReportFormat, coffer_server::model::ServerError> {
    s.parse()
}

/// `coffer report`: builds the compliance report and writes it.
pub fn report(g: &GlobalArgs, a: ReportArgs) -> Result<u8> {
    let now = crate::clock::now()?;
    let since = parse_since(&a.since, now).map_err(|e| UsageError(format!("--since: {e}")))?;
    let format = a.format.unwrap_or(if g.json {
        ReportFormat::Json
    } else {
        ReportFormat::Text
    });
    let (config, catalog) = crate::context::config_and_catalog(g, a.state_dir)?;
    let runner = Runner::new(config.clone(), catalog.clone());
    let opener = |v: &str| runner.vault(v);
    let r = report::build(&config, &catalog, now, since, &opener)
        .context("building the compliance report")?;
    let body = r.render(format);
    match &a.output {
        Some(path) => {
            std::fs::write(path, body.as_bytes())
                .with_context(|| format!("writing the report to {}", path.display()))?;
            if !g.quiet && std::io::stderr().is_terminal() {
                eprintln!(
                    "report written to {}: {} passed, {} failed, {} not evaluated",
                    path.display(),
                    r.summary.pass,
                    r.summary.fail,
                    r.summary.not_evaluated
                );
            }
        }
        None => print!("{body}"),
    }
    Ok(0)
}
