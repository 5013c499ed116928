//! `coffer forget`: removes snapshots by a retention policy or by id,
//! explaining each decision (coffer-core's plan, then its execution; their
//! data goes with prune). "Now" is [`crate::clock::now`].

use anyhow::{bail, Context, Result};
use clap::Args;
use coffer_core::forget::ForgetItem;
use coffer_core::Id;
use coffer_core::{execute_forget, plan_forget, ForgetOptions, GroupBy, RetentionPolicy};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::json;

use crate::args::FilterArgs;
use crate::args::GlobalArgs;
use crate::clock::now;
use crate::context;
use crate::error::UsageError;
use crate::output::count;

/// `coffer forget`.
#[derive(Args)]
pub struct ForgetArgs {
    /// Snapshots to forget (id prefixes or `latest`); without them, the policy decides
    ids: Vec<String>,
    /// Keep the newest N snapshots
    #[arg(long, value_name = "N")]
    keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours that have one
    #[arg(long, value_name = "N")]
    keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days that have one
    #[arg(long, value_name = "N")]
    keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N ISO weeks that have one
    #[arg(long, value_name = "N")]
    keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months that have one
    #[arg(long, value_name = "N")]
    keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the last N years that have one
    #[arg(long, value_name = "N")]
    keep_yearly: Option<u32>,
    /// Remove every snapshot older than N days, whatever the counts say
    #[arg(long, value_name = "N")]
    delete_after_days: Option<u32>,
    /// Apply the counts per group of these fields: host, kind, paths, tags (comma-separated; "" for one group)
    #[arg(long, value_name = "FIELDS", default_value = "host,kind,paths")]
    group_by: String,
    /// Time zone of hours, days, weeks, months and years (IANA name); default: the system's
    #[arg(long, value_name = "TZ")]
    time_zone: Option<String>,
    /// Show the plan without removing anything
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Also remove snapshots that only a governance lock or a snapshot's retain_until protects
    #[arg(long)]
    bypass_governance: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

impl ForgetArgs {
    fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_yearly: self.keep_yearly,
            delete_after_days: self.delete_after_days,
        }
    }
}

fn local(tz: &TimeZone, t: Timestamp) -> String {
    tz.to_datetime(t).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// `coffer forget`.
pub fn forget(g: &GlobalArgs, a: ForgetArgs) -> Result<u8> {
    let policy = a.policy();
    if a.ids.is_empty() && policy.keeps_everything() {
        bail!(UsageError(
            "forget needs snapshot ids or a retention policy: --keep-last N, --keep-hourly N, --keep-daily N, \
             --keep-weekly N, --keep-monthly N, --keep-yearly N or --delete-after-days N"
                .into()
        ));
    }
    if !a.ids.is_empty() && !policy.keeps_everything() {
        bail!(UsageError(
            "forget takes snapshot ids or a retention policy, not both: run it twice".into()
        ));
    }
    if policy.removes_everything() {
        bail!(UsageError(format!(
            "the policy `{policy}` keeps no snapshot at all: give a count of at least 1 (or forget snapshots by id)"
        )));
    }
    let group_by: GroupBy = a
        .group_by
        .parse()
        .map_err(|e: String| UsageError(format!("--group-by: {e}")))?;
    let tz = match &a.time_zone {
        Some(name) => TimeZone::get(name).map_err(|e| {
            UsageError(format!(
                "--time-zone {name}: {e} (give an IANA name such as Europe/Berlin or UTC)"
            ))
        })?,
        None => TimeZone::system(),
    };
    let now = now()?;
    let vault = context::open(g)?;
    let filter = a.filter.filter();
    let mut ids = Vec::new();
    for name in &a.ids {
        ids.push(vault.find_snapshot(name, &filter)?.0);
    }
    let opts = ForgetOptions {
        policy,
        filter,
        ids,
        group_by,
        bypass_governance: a.bypass_governance,
        now,
        time_zone: tz.clone(),
    };
    let plan = plan_forget(&vault, &opts)
        .with_context(|| format!("forget in vault {}", vault.backend().location()))?;
    let stats = if a.dry_run {
        None
    } else {
        Some(execute_forget(&vault, &plan)?)
    };
    let refusals = plan.all_refusals(stats.as_ref());
    let total = plan.items.len();
    let removing = plan.to_remove().count();
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "vault": vault.backend().location(),
                "dry_run": a.dry_run,
                "plan": plan,
                "removed": stats.as_ref().map(|s| s.removed.iter().map(Id::to_hex).collect::<Vec<_>>()),
                "refused": refusals,
            }))?
        );
    } else if !g.quiet {
        if let Some(l) = &plan.lock {
            println!("vault lock: {}", l.describe());
        }
        let mut group: Option<&str> = None;
        for item in &plan.items {
            if group != Some(item.decision.group.as_str()) {
                group = Some(&item.decision.group);
                println!(
                    "{}",
                    if item.decision.group.is_empty() {
                        "all snapshots".to_string()
                    } else {
                        item.decision.group.clone()
                    }
                );
            }
            print_item(item, &tz, stats.as_ref().map(|s| &s.refused[..]));
        }
        for w in &plan.lock_warnings {
            eprintln!("warning: {w}");
        }
        match &stats {
            None => println!(
                "dry run: would remove {removing} of {}, keep {}",
                count(total as u64, "snapshot"),
                total - removing
            ),
            Some(s) => {
                println!(
                    "removed {} of {} from {}, kept {}",
                    s.removed.len(),
                    count(total as u64, "snapshot"),
                    vault.backend().location(),
                    total - s.removed.len()
                );
                if !s.removed.is_empty() {
                    println!("their data stays in the vault until `coffer prune`");
                }
            }
        }
    }
    crate::audit::refusals(&refusals)
}

fn print_item(item: &ForgetItem, tz: &TimeZone, refused: Option<&[coffer_core::forget::Refusal]>) {
    let d = &item.decision;
    let action = if refused.is_some_and(|r| r.iter().any(|r| r.id == d.id)) {
        "refused"
    } else if d.keep {
        "keep"
    } else {
        "remove"
    };
    println!(
        "  {action:<7} {}  {}  {:<10}  {}",
        d.id.short(),
        local(tz, d.time),
        item.tags.join(","),
        d.reasons.join(", ")
    );
}
