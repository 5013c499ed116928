//! `coffer vault lock|unlock|lock-status|probe|extend-retention`: the vault
//! lock (governance or compliance immutability), as coffer-core's lock
//! records, printed as a table or JSON. `coffer vault usage` is in
//! `vault_usage`.
//!
//! `vault lock` on an S3 vault first probes the bucket
//! ([`coffer_storage::ObjectLockClient::probe`]) and refuses to call the
//! vault locked when the store does not enforce object lock, unless
//! `--software-only` says that coffer's own enforcement is enough; the lock
//! record says which it is.
//!
//! "Now" is [`crate::clock::now`].

use anyhow::Result;
use clap::Subcommand;
use coffer_core::LockPolicy;
use coffer_storage::{CheckStatus, Location, StoreProbe};
use jiff::Timestamp;
use serde_json::json;

use crate::args::GlobalArgs;
use crate::clock::now;
use crate::context;
use crate::context::{who, with_vault};
use crate::error::UsageError;
use crate::output::count;

/// `coffer vault …`.
#[derive(Subcommand)]
pub enum VaultCmd {
    /// Lock the vault: governance mode, or compliance mode with --changeable-for-days
    Lock {
        /// The vault (overrides --vault)
        #[arg(id = "vault_name", value_name = "VAULT")]
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
        #[arg(id = "vault_name", value_name = "VAULT")]
        vault: Option<String>,
    },
    /// Give every object the snapshots still need the S3 object lock retention they need
    ExtendRetention {
        /// The vault (overrides --vault)
        #[arg(id = "vault_name", value_name = "VAULT")]
        vault: Option<String>,
        /// Show what would be extended without changing anything
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove the vault lock (governance: any time; compliance: only during its grace period)
    Unlock {
        /// The vault (overrides --vault)
        #[arg(id = "vault_name", value_name = "VAULT")]
        vault: Option<String>,
    },
    /// Show the vault lock in force
    LockStatus {
        /// The vault (overrides --vault)
        #[arg(id = "vault_name", value_name = "VAULT")]
        vault: Option<String>,
    },
    /// Bytes per storage class, the share kept snapshots reference, and a monthly cost estimate
    Usage(crate::cmd::vault_usage::UsageArgs),
}

/// `coffer vault …`.
pub fn vault(g: &GlobalArgs, c: VaultCmd) -> Result<u8> {
    match c {
        VaultCmd::Usage(a) => crate::cmd::vault_usage::run(g, a),
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
                    e.to_string()
                        .replace("changeable_for_days = ", "--changeable-for-days ")
                        .replace("min_retention_days = ", "--min-retention-days ")
                        .replace("max_retention_days = ", "--max-retention-days "),
                )
            })?;
            let g = with_vault(g, vault);
            let now = now()?;
            let v = context::open(&g)?;
            let location = v.backend().location();
            let out = coffer_storage::lock_vault(
                &v,
                &context::target(&g).location,
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
                    "vault {location} now has a {} lock: snapshots younger than {} cannot be forgotten; rules must keep snapshots {}–{} days",
                    lock.mode,
                    count(policy.min_retention_days as u64, "day"),
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
            let v = context::open(&g)?;
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
            let v = context::open(&g)?;
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
    Ok(coffer_storage::probe_location(
        &context::target(g).location,
    )?)
}

/// `coffer vault probe`: 0 when the store enforces object lock, 3 when it
/// does not, 1 when a check could not be made.
fn probe_cmd(g: &GlobalArgs) -> Result<u8> {
    let location = Location::parse(&context::target(g).location)?.display();
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
    let v = context::open(g)?;
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
                "dry run: {} of {location} need {} retained{latest}",
                count(plan.snapshots as u64, "snapshot"),
                count(plan.objects.len() as u64, "object")
            ),
            Some(s) => println!(
                "{} of {location} need {} retained{latest}: extended {}, {} already retained long enough",
                count(plan.snapshots as u64, "snapshot"),
                count(plan.objects.len() as u64, "object"),
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
