//! `coffer jobs list | show`: read the job catalog of a state directory.

use anyhow::Result;
use clap::{Args, Subcommand};
use coffer_server::catalog::{
    format_time, parse_since, Catalog, Job, JobEvent, JobFilter, JobId, JobKind, JobState,
};
use coffer_server::state::StateDir;
use jiff::Timestamp;
use serde_json::json;
use std::path::PathBuf;

use crate::args::GlobalArgs;
use crate::context::open_for_listing;
use crate::error::UsageError;
use crate::output::{count, duration, human, table};

/// `coffer jobs`.
#[derive(Args)]
pub struct JobsArgs {
    /// The daemon's state directory (default: /var/lib/coffer for root, else $XDG_STATE_HOME/coffer or ~/.local/state/coffer)
    #[arg(long, global = true, env = "COFFER_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: JobsCmd,
}

#[derive(Subcommand)]
enum JobsCmd {
    /// List jobs, newest first
    List(ListArgs),
    /// Show one job with all its events
    Show {
        /// The job's id (as `coffer jobs list` shows it)
        id: String,
    },
}

#[derive(Args)]
struct ListArgs {
    /// Only jobs in these states (repeatable or comma-separated): CREATED, PENDING, RUNNING, COMPLETED, PARTIAL, FAILED, EXPIRED, ABORTED, SKIPPED
    #[arg(long, value_delimiter = ',', value_parser = parse_state)]
    state: Vec<JobState>,
    /// Only jobs of these kinds (repeatable or comma-separated): backup, copy, restore, restore-test, verify, prune, forget
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    kind: Vec<JobKind>,
    /// Only jobs of this plan
    #[arg(long)]
    plan: Option<String>,
    /// Only jobs of this rule
    #[arg(long)]
    rule: Option<String>,
    /// Only jobs of this source
    #[arg(long)]
    source: Option<String>,
    /// Only jobs created since then: a span back from now (24h, 7d, 2w) or a time (2026-03-01, 2026-03-01T12:00:00Z; UTC)
    #[arg(long, value_parser = since)]
    since: Option<Timestamp>,
    /// Show at most this many jobs (0: all)
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

fn parse_state(s: &str) -> Result<JobState, String> {
    s.parse()
        .map_err(|e: coffer_server::catalog::ParseError| e.to_string())
}

fn parse_kind(s: &str) -> Result<JobKind, String> {
    s.parse()
        .map_err(|e: coffer_server::catalog::ParseError| e.to_string())
}

fn since(s: &str) -> Result<Timestamp, String> {
    parse_since(s, Timestamp::now()).map_err(|e| e.to_string())
}

/// Runs `coffer jobs …`.
pub fn run(g: &GlobalArgs, a: JobsArgs) -> Result<u8> {
    // Without --state-dir, an explicitly given configuration's state_dir.
    let state = crate::context::resolve_state_dir(g, a.state_dir.as_deref())?;
    match a.cmd {
        JobsCmd::List(l) => list(g, &state, l),
        JobsCmd::Show { id } => {
            let id: JobId = id
                .parse()
                .map_err(|e: coffer_server::catalog::ParseError| UsageError(e.to_string()))?;
            show(g, &state, id)
        }
    }
}

fn list(g: &GlobalArgs, state: &StateDir, l: ListArgs) -> Result<u8> {
    let Some(catalog) = open_for_listing(g, state)? else {
        return Ok(0);
    };
    let filter = JobFilter {
        states: l.state,
        kinds: l.kind,
        plan: l.plan,
        rule: l.rule,
        source: l.source,
        vault: None,
        since: l.since,
        // One more than asked, to tell whether the list was cut.
        limit: (l.limit > 0).then_some(l.limit + 1),
    };
    let mut jobs = catalog.list_jobs(&filter)?;
    let cut = l.limit > 0 && jobs.len() > l.limit;
    jobs.truncate(if l.limit > 0 { l.limit } else { jobs.len() });
    let now = Timestamp::now();
    if g.json {
        let v: Vec<_> = jobs.iter().map(|j| job_json(j, now)).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.kind.to_string(),
                j.state.to_string(),
                plan_rule(j),
                j.source.clone().unwrap_or_else(|| "-".into()),
                short_time(j.created_at),
                j.duration(now).map(duration).unwrap_or_else(|| "-".into()),
                if j.counters.bytes_added > 0 || j.state == JobState::Completed {
                    human(j.counters.bytes_added)
                } else {
                    "-".into()
                },
                note(j),
            ]
        })
        .collect();
    let header = [
        "ID",
        "KIND",
        "STATE",
        "PLAN/RULE",
        "SOURCE",
        "CREATED (UTC)",
        "DURATION",
        "ADDED",
        "NOTE",
    ];
    for l in table(&header, &rows) {
        println!("{l}");
    }
    if !g.quiet {
        println!(
            "{} in {}{}",
            count(jobs.len() as u64, "job"),
            catalog.path().display(),
            if cut {
                format!(" (the newest {}; --limit 0 shows all)", l.limit)
            } else {
                String::new()
            }
        );
    }
    Ok(0)
}

fn show(g: &GlobalArgs, state: &StateDir, id: JobId) -> Result<u8> {
    let catalog: Catalog = state.open_existing_catalog()?;
    let job = catalog.get_job(id)?;
    let events = catalog.job_events(id)?;
    let now = Timestamp::now();
    if g.json {
        let mut v = job_json(&job, now);
        v["events"] = serde_json::to_value(&events)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("job {}: {} {}", job.id, job.kind, job.state);
    let field = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            println!("  {:<13}{v}", format!("{name}:"));
        }
    };
    field(
        "plan/rule",
        (job.plan.is_some() || job.rule.is_some()).then(|| plan_rule(&job)),
    );
    field("source", job.source.clone());
    field(
        "vault",
        job.vault.clone().map(|v| match &job.destination_vault {
            Some(d) => format!("{v} -> {d}"),
            None => v,
        }),
    );
    field("trigger", Some(job.trigger.to_string()));
    field("scheduled", job.scheduled_at.map(long_time));
    field("start by", job.start_deadline.map(long_time));
    field("complete by", job.complete_deadline.map(long_time));
    field("created", Some(long_time(job.created_at)));
    field("started", job.started_at.map(long_time));
    field(
        "finished",
        job.finished_at.map(|t| match job.duration(now) {
            Some(d) => format!("{} (took {})", long_time(t), duration(d)),
            None => long_time(t),
        }),
    );
    if job.finished_at.is_none() {
        field("running for", job.duration(now).map(duration));
    }
    field("runner", Some(format!("{} (pid {})", job.host, job.pid)));
    let c = &job.counters;
    if c != &Default::default() {
        field(
            "data",
            Some(format!(
                "{} read, {} added, {} stored",
                human(c.bytes_read),
                human(c.bytes_added),
                human(c.bytes_stored)
            )),
        );
        field(
            "files",
            Some(format!(
                "{} new, {} changed, {} unmodified",
                c.files_new, c.files_changed, c.files_unmodified
            )),
        );
    }
    field("warnings", (c.warnings > 0).then(|| c.warnings.to_string()));
    field(
        "snapshots",
        (!job.snapshot_ids.is_empty()).then(|| job.snapshot_ids.join(", ")),
    );
    field("reason", job.reason.clone());
    field("error", job.error.clone());
    if let Some(d) = &job.details {
        field("details", Some(d.to_string()));
    }
    println!("events:");
    for e in &events {
        println!("  {}", event_line(e));
    }
    Ok(0)
}

/// The job as JSON, with its duration in seconds.
pub(crate) fn job_json(j: &Job, now: Timestamp) -> serde_json::Value {
    let mut v = serde_json::to_value(j).unwrap_or_else(|_| json!({}));
    v["duration_seconds"] = json!(j.duration(now).map(|d| d.as_secs_f64()));
    v
}

fn event_line(e: &JobEvent) -> String {
    let what = match e.state {
        Some(s) => s.to_string(),
        None => e.level.to_string(),
    };
    format!("{}  {what:<9}  {}", long_time(e.at), e.message)
}

fn plan_rule(j: &Job) -> String {
    match (&j.plan, &j.rule) {
        (Some(p), Some(r)) => format!("{p}/{r}"),
        (Some(p), None) => p.clone(),
        (None, Some(r)) => format!("-/{r}"),
        (None, None) => "-".into(),
    }
}

/// What a table row needs to say besides its columns: the error, the
/// reason, or the snapshots written.
fn note(j: &Job) -> String {
    let text = match (&j.error, &j.reason) {
        (Some(e), _) => e.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) if !j.snapshot_ids.is_empty() => {
            let short: Vec<&str> = j
                .snapshot_ids
                .iter()
                .map(|s| s.get(..8).unwrap_or(s))
                .collect();
            format!("snapshot {}", short.join(", "))
        }
        (None, None) => String::new(),
    };
    let first = text.lines().next().unwrap_or("");
    if first.chars().count() > 70 {
        format!("{}…", first.chars().take(69).collect::<String>())
    } else {
        first.to_string()
    }
}

fn short_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

fn long_time(t: Timestamp) -> String {
    // The catalog's own form, so that a time can be pasted into --since.
    format_time(t)
}
