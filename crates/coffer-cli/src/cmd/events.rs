//! `coffer events`: recent events of the catalog (what notification sinks
//! are sent), oldest first.

use anyhow::Result;
use clap::Args;
use coffer_server::catalog::parse_since;
use coffer_server::events::{EventFilter, EventName, Severity};
use jiff::Timestamp;
use std::path::PathBuf;

use crate::args::GlobalArgs;

/// `coffer events`.
#[derive(Args)]
pub struct EventsArgs {
    /// The daemon's state directory (default: the configuration's state_dir, else the default state directory)
    #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Events since then: a span back from now (24h, 7d, 2w) or a time (2026-03-01, 2026-03-01T12:00:00Z; UTC)
    #[arg(long, default_value = "24h", value_parser = since)]
    since: Timestamp,
    /// Only events of these names (repeatable or comma-separated), e.g. BACKUP_JOB_FAILED,RPO_VIOLATED
    #[arg(long, value_delimiter = ',', value_parser = parse_name)]
    name: Vec<EventName>,
    /// Only events at least this severe: info, warning or error
    #[arg(long, value_parser = parse_severity)]
    severity: Option<Severity>,
    /// Only events of this source
    #[arg(long)]
    source: Option<String>,
    /// Show at most this many (the newest; 0: all)
    #[arg(long, default_value_t = 200)]
    limit: usize,
}

fn since(s: &str) -> Result<Timestamp, String> {
    parse_since(s, Timestamp::now()).map_err(|e| e.to_string())
}

fn parse_name(s: &str) -> Result<EventName, String> {
    s.parse()
        .map_err(|e: coffer_server::catalog::ParseError| e.to_string())
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
        .map_err(|e: coffer_server::catalog::ParseError| e.to_string())
}

/// Runs `coffer events`.
pub fn run(g: &GlobalArgs, a: EventsArgs) -> Result<u8> {
    let state = crate::context::resolve_state_dir(g, a.state_dir.as_deref())?;
    let Some(catalog) = crate::context::open_for_listing(g, &state)? else {
        return Ok(0);
    };
    let events = catalog.events(&EventFilter {
        since: Some(a.since),
        names: a.name,
        min_severity: a.severity,
        source: a.source,
        limit: (a.limit > 0).then_some(a.limit),
        ..EventFilter::default()
    })?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(0);
    }
    for e in &events {
        println!(
            "{}  {}",
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            coffer_server::notify::summary(e)
        );
    }
    if !g.quiet {
        println!(
            "{} since {} in {}",
            crate::output::count(events.len() as u64, "event"),
            a.since.strftime("%Y-%m-%d %H:%M:%S"),
            catalog.path().display()
        );
    }
    Ok(0)
}
