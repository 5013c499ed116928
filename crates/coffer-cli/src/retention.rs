//! `coffer forget`, `coffer vault lock|unlock|lock-status` and `coffer
//! snapshot hold|release|holds`: flags in, coffer-core's plan and records
//! out, printed as a table or JSON.
//!
//! Test-only: the environment variable `COFFER_NOW` (an RFC 3339 time) sets
//! the time these commands call "now" (snapshot ages, lock records, holds),
//! so end-to-end tests can drive a lock past its grace period. It is read
//! nowhere else and is not meant for production use.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use coffer_core::forget::ForgetItem;
use coffer_core::{
    execute_forget, plan_forget, ForgetOptions, GroupBy, Id, LockPolicy, RetentionPolicy,
    SnapshotFilter, Vault,
};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::json;

use crate::{vaults, FilterArgs, GlobalArgs, UsageError};

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
    dry_run: bool,
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

/// `coffer vault …`.
#[derive(Subcommand)]
pub enum VaultCmd {
    /// Lock the vault: governance mode, or compliance mode with --changeable-for-days
    Lock {
        /// The vault (overrides --vault)
        vault: Option<String>,
        /// Snapshots younger than this cannot be forgotten; rules keeping snapshots shorter fail
        #[arg(long, value_name = "N")]
        min_retention_days: u32,
        /// Rules keeping snapshots longer fail
        #[arg(long, value_name = "M")]
        max_retention_days: u32,
        /// Compliance mode: after D days (at least 3) nobody can change or remove the lock
        #[arg(long, value_name = "D")]
        changeable_for_days: Option<u32>,
    },
    /// Remove the vault lock (governance: any time; compliance: only during its grace period)
    Unlock {
        /// The vault (overrides --vault)
        vault: Option<String>,
    },
    /// Show the vault lock in force
    LockStatus {
        /// The vault (overrides --vault)
        vault: Option<String>,
    },
}

/// `coffer snapshot …`.
#[derive(Subcommand)]
pub enum SnapshotCmd {
    /// Place a legal hold on a snapshot: it cannot be forgotten until released
    Hold {
        /// Snapshot id prefix or `latest`
        id: String,
        /// Why (recorded with the hold)
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Release a snapshot's legal hold
    Release {
        /// Snapshot id prefix or `latest`
        id: String,
    },
    /// List legal holds
    Holds,
}

/// "Now": `COFFER_NOW` (test-only) or the clock.
pub(crate) fn now() -> Result<Timestamp> {
    match std::env::var("COFFER_NOW") {
        Ok(s) if !s.is_empty() => Ok(s.parse().map_err(|e| {
            UsageError(format!(
                "COFFER_NOW=`{s}` is not an RFC 3339 time such as 2026-12-01T00:00:00Z: {e}"
            ))
        })?),
        _ => Ok(Timestamp::now()),
    }
}

/// Who is acting, recorded in lock and hold records.
fn who() -> String {
    format!("{}@{}", coffer_sources::username(), coffer_core::hostname())
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
    let vault = vaults::open(g)?;
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
    let mut refusals = plan.refusals();
    if let Some(s) = &stats {
        refusals.extend(s.refused.iter().map(|r| r.message.clone()));
    }
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
                "dry run: would remove {removing} of {total} snapshots, keep {}",
                total - removing
            ),
            Some(s) => {
                println!(
                    "removed {} of {total} snapshots from {}, kept {}",
                    s.removed.len(),
                    vault.backend().location(),
                    total - s.removed.len()
                );
                if !s.removed.is_empty() {
                    println!("their data stays in the vault until `coffer prune`");
                }
            }
        }
    }
    if refusals.is_empty() {
        return Ok(0);
    }
    for r in &refusals {
        eprintln!("error: {r}");
    }
    Ok(1)
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

/// A copy of the global options with the positional vault, if given.
fn with_vault(g: &GlobalArgs, vault: Option<String>) -> GlobalArgs {
    GlobalArgs {
        vault: vault.or_else(|| g.vault.clone()),
        ..g.clone()
    }
}

/// `coffer vault …`.
pub fn vault(g: &GlobalArgs, c: VaultCmd) -> Result<u8> {
    match c {
        VaultCmd::Lock {
            vault,
            min_retention_days,
            max_retention_days,
            changeable_for_days,
        } => {
            let policy = LockPolicy {
                min_retention_days,
                max_retention_days,
                changeable_for_days,
            };
            policy.validate().map_err(|e| {
                UsageError(
                    e.replace("changeable_for_days = ", "--changeable-for-days ")
                        .replace("min_retention_days = ", "--min-retention-days ")
                        .replace("max_retention_days = ", "--max-retention-days "),
                )
            })?;
            let g = with_vault(g, vault);
            let now = now()?;
            let v = vaults::open(&g)?;
            let lock = v.set_lock(&policy, &who(), now)?;
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"vault": v.backend().location(), "lock": lock})
                    )?
                );
            } else if !g.quiet {
                println!(
                    "vault {} now has a {} lock: snapshots younger than {} days cannot be forgotten; rules must keep snapshots {}–{} days",
                    v.backend().location(),
                    lock.mode,
                    policy.min_retention_days,
                    policy.min_retention_days,
                    policy.max_retention_days
                );
                match lock.changeable_until {
                    Some(u) => println!(
                        "it can be changed or removed until {u:.0}; after that nobody can change or remove it"
                    ),
                    None => println!("it can be changed or removed at any time (governance mode)"),
                }
            }
            Ok(0)
        }
        VaultCmd::Unlock { vault } => {
            let g = with_vault(g, vault);
            let now = now()?;
            let v = vaults::open(&g)?;
            let removed = v.remove_lock(&who(), now)?;
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"vault": v.backend().location(), "removed": removed})
                    )?
                );
            } else if !g.quiet {
                println!(
                    "removed the {} of vault {}",
                    removed.describe(),
                    v.backend().location()
                );
            }
            Ok(0)
        }
        VaultCmd::LockStatus { vault } => {
            let g = with_vault(g, vault);
            let now = now()?;
            let v = vaults::open(&g)?;
            let state = v.lock_state()?;
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "vault": v.backend().location(),
                        "lock": state.lock,
                        "changeable": state.lock.as_ref().map(|l| l.changeable_at(now)),
                        "records": state.records,
                        "ignored": state.ignored,
                    }))?
                );
            } else {
                for w in &state.ignored {
                    eprintln!("warning: {w}");
                }
                match &state.lock {
                    None => println!("vault {}: no lock", v.backend().location()),
                    Some(l) => {
                        println!("vault {}: {}", v.backend().location(), l.describe());
                        match l.changeable_until {
                            None => println!("governance mode: can be changed or removed at any time; forget --bypass-governance overrides it"),
                            Some(u) if l.changeable_at(now) => println!("compliance mode: can be changed or removed until {u:.0}"),
                            Some(u) => println!("compliance mode: frozen since {u:.0}; nobody can change or remove it"),
                        }
                    }
                }
            }
            Ok(0)
        }
    }
}

/// Resolves a snapshot for hold/release; a full 64-hex id is taken as is
/// when the snapshot is gone, so a stale hold can still be released.
fn resolve(vault: &Vault, name: &str) -> Result<Id> {
    match vault.find_snapshot(name, &SnapshotFilter::default()) {
        Ok((id, _)) => Ok(id),
        Err(e) => match Id::parse(&name.to_ascii_lowercase()) {
            Some(id) if e.kind() == coffer_core::ErrorKind::NotFound => Ok(id),
            _ => Err(e.into()),
        },
    }
}

fn hold_json(h: &coffer_core::HoldRecord) -> serde_json::Value {
    json!({"snapshot": h.snapshot.to_hex(), "short_id": h.snapshot.short(), "reason": h.reason, "who": h.who, "created": h.created})
}

/// `coffer snapshot …`.
pub fn snapshot(g: &GlobalArgs, c: SnapshotCmd) -> Result<u8> {
    let v = vaults::open(g)?;
    match c {
        SnapshotCmd::Hold { id, reason } => {
            let now = now()?;
            let (sid, _) = v.find_snapshot(&id, &SnapshotFilter::default())?;
            let (h, new) = v.hold_snapshot(&sid, &reason, &who(), now)?;
            if g.json {
                let mut j = hold_json(&h);
                j["new"] = json!(new);
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else if !g.quiet {
                if new {
                    println!(
                        "placed a legal hold on snapshot {}: it cannot be forgotten until `coffer snapshot release {}`",
                        sid.short(),
                        sid.short()
                    );
                } else {
                    println!(
                        "snapshot {} is already held (since {} by {}{})",
                        sid.short(),
                        h.created,
                        h.who,
                        if h.reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", h.reason)
                        }
                    );
                }
            }
        }
        SnapshotCmd::Release { id } => {
            let sid = resolve(&v, &id)?;
            let h = v.release_snapshot(&sid)?;
            if g.json {
                println!("{}", serde_json::to_string_pretty(&hold_json(&h))?);
            } else if !g.quiet {
                println!(
                    "released the legal hold on snapshot {} (placed {} by {})",
                    sid.short(),
                    h.created,
                    h.who
                );
            }
        }
        SnapshotCmd::Holds => {
            let holds = v.holds()?;
            if g.json {
                let l: Vec<_> = holds.iter().map(hold_json).collect();
                println!("{}", serde_json::to_string_pretty(&l)?);
            } else {
                for h in &holds {
                    println!(
                        "{}  {}  {}  {}",
                        h.snapshot.short(),
                        h.created,
                        h.who,
                        h.reason
                    );
                }
                println!("{} legal holds", holds.len());
            }
        }
    }
    Ok(0)
}
