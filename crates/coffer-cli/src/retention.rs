//! `coffer forget`, `coffer vault lock|unlock|lock-status|probe|extend-retention`
//! and `coffer snapshot hold|release|holds`: flags in, coffer-core's plan and
//! records out, printed as a table or JSON.
//!
//! `vault lock` on an S3 vault first probes the bucket
//! ([`coffer_storage::ObjectLockClient::probe`]) and refuses to call the
//! vault locked when the store does not enforce object lock, unless
//! `--software-only` says that coffer's own enforcement is enough; the lock
//! record says which it is.
//!
//! "Now" is the system clock ([`now`]). Only a binary built with the cargo
//! feature `test-clock` (the test suite's; release builds never enable it)
//! reads the environment variable `COFFER_NOW` (an RFC 3339 time) as the
//! time these commands call "now" (snapshot ages, lock records, holds), so
//! end-to-end tests can drive a lock past its grace period. Without the
//! feature the variable is ignored entirely: no code reads it. On S3 the
//! store's clock is checked too (coffer-core's `clock`), so a forged time
//! cannot delete there even in a test build.

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

use coffer_storage::{CheckStatus, Location, StoreProbe};

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
        /// Record the lock although the store does not enforce object lock (coffer enforces it alone)
        #[arg(long)]
        software_only: bool,
    },
    /// Check what the store enforces: bucket versioning, object lock, a delete of a retained version
    Probe {
        /// The vault (overrides --vault)
        vault: Option<String>,
    },
    /// Give every object the snapshots still need the S3 object lock retention they need
    ExtendRetention {
        /// The vault (overrides --vault)
        vault: Option<String>,
        /// Show what would be extended without changing anything
        #[arg(long)]
        dry_run: bool,
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

/// "Now": the system clock, or `COFFER_NOW` in a `test-clock` build.
pub(crate) fn now() -> Result<Timestamp> {
    Ok(forced_now()?.unwrap_or_else(Timestamp::now))
}

/// The time `COFFER_NOW` forces, in a binary built with the `test-clock`
/// feature; always `None` otherwise (the variable is not even read).
#[cfg(feature = "test-clock")]
pub(crate) fn forced_now() -> Result<Option<Timestamp>> {
    match std::env::var("COFFER_NOW") {
        Ok(s) if !s.is_empty() => Ok(Some(s.parse().map_err(|e| {
            UsageError(format!(
                "COFFER_NOW=`{s}` is not an RFC 3339 time such as 2026-12-01T00:00:00Z: {e}"
            ))
        })?)),
        _ => Ok(None),
    }
}

/// The time `COFFER_NOW` forces, in a binary built with the `test-clock`
/// feature; always `None` otherwise (the variable is not even read).
#[cfg(not(feature = "test-clock"))]
pub(crate) fn forced_now() -> Result<Option<Timestamp>> {
    Ok(None)
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
    // Printed above; the audit trail records the refusals as the reason.
    Err(crate::audit::Reported {
        code: 1,
        reason: refusals.join("; "),
    }
    .into())
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
            software_only,
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
            let location = v.backend().location();
            let out = coffer_storage::lock_vault(
                &v,
                &vaults::target(&g).location,
                &policy,
                &who(),
                now,
                software_only,
            )?;
            let (lock, stats) = (out.lock, out.retention);
            let store_enforced = lock.store_enforced;
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "vault": location,
                        "lock": lock,
                        "enforcement": enforcement(store_enforced),
                        "retention": stats,
                    }))?
                );
            } else if !g.quiet {
                println!(
                    "vault {location} now has a {} lock: snapshots younger than {} days cannot be forgotten; rules must keep snapshots {}–{} days",
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
                println!("{}", enforcement_line(store_enforced, lock.mode));
                if let Some(s) = &stats {
                    println!(
                        "gave {} existing objects object lock retention ({} already had it)",
                        s.extended, s.unchanged
                    );
                }
            }
            Ok(0)
        }
        VaultCmd::Probe { vault } => probe_cmd(&with_vault(g, vault)),
        VaultCmd::ExtendRetention { vault, dry_run } => {
            extend_retention(&with_vault(g, vault), dry_run)
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
                if removed.store_enforced {
                    println!("objects already written keep their object lock retention until it ends; new objects get none");
                }
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
                        "enforcement": state.lock.as_ref().map(|l| enforcement(l.store_enforced)),
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
                        println!("{}", enforcement_line(l.store_enforced, l.mode));
                    }
                }
            }
            Ok(0)
        }
    }
}

/// `store+coffer` or `coffer-only`, for JSON.
fn enforcement(store_enforced: bool) -> &'static str {
    if store_enforced {
        "store+coffer"
    } else {
        "coffer-only"
    }
}

fn enforcement_line(store_enforced: bool, mode: coffer_core::LockMode) -> String {
    if store_enforced {
        format!(
            "enforced by the store (S3 Object Lock, {} retention on every object) and by coffer",
            mode.to_string().to_uppercase()
        )
    } else {
        "enforced by coffer only; the store does not enforce object lock".into()
    }
}

/// Probes the vault's store (no key needed; the vault need not exist).
fn probe_location(g: &GlobalArgs) -> Result<StoreProbe> {
    Ok(coffer_storage::probe_location(&vaults::target(g).location)?)
}

/// `coffer vault probe`: 0 when the store enforces object lock, 3 when it
/// does not, 1 when a check could not be made.
fn probe_cmd(g: &GlobalArgs) -> Result<u8> {
    let location = Location::parse(&vaults::target(g).location)?.display();
    let report = probe_location(g)?;
    let local_msg = "a local directory enforces nothing: coffer enforces the vault lock in software only, and anyone who can write the directory can delete the vault";
    let code = match &report {
        StoreProbe::Local => 3,
        StoreProbe::S3(r) if r.enforced => 0,
        StoreProbe::S3(r) if r.checks.iter().any(|c| c.status == CheckStatus::Error) => 1,
        StoreProbe::S3(_) => 3,
    };
    if g.json {
        let j = match &report {
            StoreProbe::Local => json!({
                "vault": location, "store": "local", "enforced": false, "checks": [], "notes": [local_msg],
            }),
            StoreProbe::S3(r) => json!({
                "vault": location, "store": "s3", "enforced": r.enforced, "checks": r.checks, "notes": r.notes,
            }),
        };
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(code);
    }
    match &report {
        StoreProbe::Local => println!("vault {location}: {local_msg}"),
        StoreProbe::S3(r) => {
            println!("vault {location}:");
            for c in &r.checks {
                let st = match c.status {
                    CheckStatus::Ok => "ok",
                    CheckStatus::NotEnforced => "not enforced",
                    CheckStatus::Error => "error",
                };
                println!("  {st:<13} {:<15} {}", c.name, c.detail);
            }
            for n in &r.notes {
                eprintln!("warning: {n}");
            }
            if r.enforced {
                println!("the store enforces object lock: `coffer vault lock` makes every object immutable at the store too");
            } else {
                println!(
                    "the store does NOT enforce object lock: enable versioning and object lock on the bucket \
                     (usually only possible when creating it), or lock with --software-only (enforced by coffer only)"
                );
            }
        }
    }
    Ok(code)
}

/// `coffer vault extend-retention`.
fn extend_retention(g: &GlobalArgs, dry_run: bool) -> Result<u8> {
    let v = vaults::open(g)?;
    let location = v.backend().location();
    let state = v.lock_state()?;
    let enforced = state.lock.as_ref().is_some_and(|l| l.store_enforced);
    if !enforced {
        let why = match &state.lock {
            None => "it has no lock",
            Some(_) => "its lock is enforced by coffer only",
        };
        if g.json {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({"vault": location, "store_enforced": false, "objects": 0})
                )?
            );
        } else if !g.quiet {
            println!("vault {location}: {why}, so no object needs object lock retention");
        }
        return Ok(0);
    }
    let plan = v.plan_store_retention(None, Timestamp::now())?;
    let stats = if dry_run {
        None
    } else {
        Some(v.extend_store_retention(&plan)?)
    };
    let missing = stats
        .as_ref()
        .map(|s| s.missing.clone())
        .unwrap_or_default();
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "vault": location,
                "store_enforced": true,
                "dry_run": dry_run,
                "mode": plan.mode,
                "snapshots": plan.snapshots,
                "objects": plan.objects.len(),
                "latest": plan.latest.map(|t| t.to_string()),
                "extended": stats.as_ref().map(|s| s.extended),
                "unchanged": stats.as_ref().map(|s| s.unchanged),
                "missing": missing,
            }))?
        );
    } else if !g.quiet {
        let latest = plan
            .latest
            .map(|t| format!(", the latest until {t:.0}"))
            .unwrap_or_default();
        match &stats {
            None => println!(
                "dry run: {} snapshots of {location} need {} objects retained{latest}",
                plan.snapshots,
                plan.objects.len()
            ),
            Some(s) => println!(
                "{} snapshots of {location} need {} objects retained{latest}: extended {}, {} already retained long enough",
                plan.snapshots,
                plan.objects.len(),
                s.extended,
                s.unchanged
            ),
        }
    }
    for m in &missing {
        eprintln!("warning: {m} is needed but missing from the store: run `coffer check`");
    }
    Ok(if missing.is_empty() { 0 } else { 3 })
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
