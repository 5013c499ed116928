//! `coffer status`: each source's RPO/RTO status, from coffer-server's
//! `health`.
//!
//! In a `test-clock` build only, `COFFER_NOW` (an RFC 3339 time) sets "now",
//! as for forget (see `crate::clock::now`).

use anyhow::{Context, Result};
use clap::Args;
use coffer_server::health::{self, Status};
use coffer_server::report::SourceStatus;
use coffer_server::runner::Runner;
use jiff::Timestamp;
use std::path::PathBuf;

use crate::args::GlobalArgs;

/// `coffer status`.
#[derive(Args)]
pub struct StatusArgs {
    /// The daemon's state directory (default: the configuration's state_dir)
    #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Every host that writes into the configured vaults, from their fleet
    /// records: when each was last heard of, and its sources against RPO
    /// and RTO
    #[arg(long)]
    fleet: bool,
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
    let (config, catalog) = crate::context::config_and_catalog(g, a.state_dir)?;
    let now = crate::clock::now()?;
    if a.fleet {
        return fleet(g, &config, &catalog, now);
    }
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
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let h = &r.health;
            vec![
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
    for l in crate::output::table(&head, &cells) {
        println!("{l}");
    }
    Ok(0)
}

/// `coffer status --fleet`: reads every configured vault's fleet records
/// (storing the status and raising HOST_SILENT / RPO_VIOLATED once per
/// episode, as the daemon does) and prints each host and source.
fn fleet(
    g: &GlobalArgs,
    config: &coffer_server::config::Config,
    catalog: &coffer_server::catalog::Catalog,
    now: Timestamp,
) -> Result<u8> {
    use coffer_server::fleet::view;
    let open = |name: &str| coffer_server::runner::open_vault(config, name);
    let st = view::read(config, &mut Default::default(), now, &open);
    view::episodes(config, catalog, &st, now).context("storing the fleet status")?;
    for (v, e) in &st.unreadable {
        eprintln!("warning: the fleet records of vault `{v}` could not be read: {e}");
    }
    for d in st.damaged.iter().chain(&st.rejected) {
        eprintln!("warning: ignored {d}");
    }
    if g.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(0);
    }
    if st.hosts.is_empty() {
        println!(
            "no fleet records in the vaults of {}",
            config.path.display()
        );
        return Ok(0);
    }
    let mut cells = Vec::new();
    for h in &st.hosts {
        let state = if h.silent { "SILENT" } else { "OK" };
        let seen = ago(now, Some(h.last_seen));
        let agent = h.agent.clone().unwrap_or_else(|| "-".into());
        if h.sources.is_empty() {
            cells.push(vec![
                h.host.clone(),
                state.into(),
                seen.clone(),
                agent.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for s in &h.sources {
            cells.push(vec![
                h.host.clone(),
                state.into(),
                seen.clone(),
                agent.clone(),
                s.source.clone(),
                ago(now, s.newest_good_at),
                verdict(s.rpo_ok, s.rpo_secs.map(|x| x as f64)),
                s.last_restore_secs.map(short).unwrap_or_else(|| "-".into()),
                verdict(s.rto_ok, s.rto_secs.map(|x| x as f64)),
            ]);
        }
    }
    let head = [
        "HOST",
        "STATE",
        "LAST SEEN",
        "AGENT",
        "SOURCE",
        "NEWEST BACKUP",
        "RPO",
        "LAST RESTORE",
        "RTO",
    ];
    for l in crate::output::table(&head, &cells) {
        println!("{l}");
    }
    Ok(0)
}
