//! `coffer status` (each source's RPO/RTO status) and `coffer report` (the
//! compliance report): flags in, coffer-server's `health` and `report` out.
//!
//! In a `test-clock` build only, `COFFER_NOW` (an RFC 3339 time) sets "now",
//! as for forget (see `crate::retention::now`).

use anyhow::{Context, Result};
use clap::Args;
use coffer_server::catalog::{parse_since, Catalog};
use coffer_server::config::Config;
use coffer_server::health::{self, Status};
use coffer_server::report::{self, ReportFormat, SourceStatus};
use coffer_server::runner::Runner;
use coffer_server::state::StateDir;
use jiff::Timestamp;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use crate::{GlobalArgs, UsageError};

/// `coffer status`.
#[derive(Args)]
pub struct StatusArgs {
    /// The daemon's state directory (default: the configuration's state_dir)
    #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

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

fn parse_format(s: &str) -> Result<ReportFormat, String> {
    s.parse()
}

/// The configuration (with `state_dir` overridden) and its catalog.
fn open(g: &GlobalArgs, state_dir: Option<PathBuf>) -> Result<(Config, Arc<Catalog>)> {
    let mut config = crate::daemon::load_config(g)?;
    if let Some(d) = state_dir {
        config.state_dir = d;
    }
    let catalog = StateDir::new(config.state_dir.clone())
        .open_catalog()
        .with_context(|| format!("opening the job catalog in {}", config.state_dir.display()))?;
    Ok((config, Arc::new(catalog)))
}

fn ago(now: Timestamp, t: Option<Timestamp>) -> String {
    match t {
        Some(t) => format!("{} ago", short(now.duration_since(t).as_secs_f64())),
        None => "never".into(),
    }
}

/// A duration in one unit (`3d`, `5h`, `12m`, `40s`): exact when it is a
/// whole number of the unit, else the largest unit that gives at least 2.
fn short(secs: f64) -> String {
    let s = secs.max(0.0).round() as i64;
    for (unit, n) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if s >= n && (s % n == 0 || s >= 2 * n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

fn verdict(ok: Option<bool>, objective: Option<f64>) -> String {
    match objective {
        None => "-".into(),
        Some(o) => format!("{} ({})", Status::of(ok), short(o)),
    }
}

/// `coffer status`: evaluates each source's health now (storing it and
/// emitting events, as the daemon does) and prints it.
pub fn status(g: &GlobalArgs, a: StatusArgs) -> Result<u8> {
    let (config, catalog) = open(g, a.state_dir)?;
    let now = crate::retention::now()?;
    let runner = Runner::new(config.clone(), catalog.clone());
    let probe = health::wal_probe(|v| runner.vault(v));
    let healths = health::evaluate(&config, &catalog, now, &probe)
        .context("evaluating the sources' health")?;
    let rows: Vec<SourceStatus> = healths
        .into_iter()
        .map(|h| SourceStatus {
            status: Status::overall(&h),
            health: h,
        })
        .collect();
    if g.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    if rows.is_empty() {
        println!("no sources in {}", config.path.display());
        return Ok(0);
    }
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let h = &r.health;
            [
                h.source.clone(),
                r.status.to_string(),
                ago(now, h.newest_good_at),
                verdict(h.rpo_ok, h.rpo_seconds),
                h.last_restore_seconds
                    .map(short)
                    .unwrap_or_else(|| "-".into()),
                verdict(h.rto_ok, h.rto_seconds),
                h.wal_lag_seconds.map(short).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let head = [
        "SOURCE",
        "STATUS",
        "NEWEST BACKUP",
        "RPO",
        "LAST RESTORE",
        "RTO",
        "WAL LAG",
    ];
    let mut width = head.map(str::len);
    for row in &table {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(head.to_vec());
    for row in &table {
        line(row.iter().map(String::as_str).collect());
    }
    Ok(0)
}

/// `coffer report`: builds the compliance report and writes it.
pub fn report(g: &GlobalArgs, a: ReportArgs) -> Result<u8> {
    let now = crate::retention::now()?;
    let since = parse_since(&a.since, now).map_err(|e| UsageError(format!("--since: {e}")))?;
    let format = a.format.unwrap_or(if g.json {
        ReportFormat::Json
    } else {
        ReportFormat::Text
    });
    let (config, catalog) = open(g, a.state_dir)?;
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
