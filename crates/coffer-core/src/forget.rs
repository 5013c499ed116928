//! Forget: remove snapshots by a retention policy or by id, honouring legal
//! holds, the vault lock and each snapshot's `retain_until`.
//!
//! Split into [`plan_forget`] (reads only) and [`execute_forget`] (deletes),
//! so `--dry-run`, the HTTP preview and the real run share one decision.
//!
//! Protection, whatever the options:
//! - a held snapshot is kept;
//! - with a vault lock, a snapshot younger than the lock's
//!   `min_retention_days` is kept (compliance: always; governance: unless
//!   `bypass_governance`);
//! - a snapshot's own `retain_until` keeps it until then (under a
//!   compliance lock always; otherwise unless `bypass_governance`).
//!
//! A policy whose retention is shorter than a lock's minimum is refused as a
//! whole (unless it bypasses a governance lock), before anything is planned.
//!
//! Executing deletes only `snapshots/` objects; the data they referenced is
//! removed later by prune. Right before each delete the protections are
//! checked again against freshly read holds and lock records, so a hold or
//! lock placed after the plan was made still wins.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

use crate::backend::ObjectKind;
use crate::clock::{check_store_clock, Skew};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::lock::{fmt_days, snapshot_protections, HoldRecord, LockMode, VaultLock};
use crate::retention::{
    plan_removal, plan_retention, ser_ts, Candidate, Decision, GroupBy, Protection, RetentionPolicy,
};
use crate::snapshot::{Snapshot, SnapshotFilter};
use crate::vault::Vault;

/// What to forget.
#[derive(Debug, Clone)]
pub struct ForgetOptions {
    /// The retention policy (ignored when `ids` is not empty; giving both
    /// is refused).
    pub policy: RetentionPolicy,
    /// Which snapshots the policy applies to.
    pub filter: SnapshotFilter,
    /// Forget exactly these snapshots (instead of a policy).
    pub ids: Vec<Id>,
    /// How snapshots are grouped for the policy's counts.
    pub group_by: GroupBy,
    /// Ignore governance-mode protections (a governance lock's minimum and
    /// `retain_until` without a compliance lock). Never affects holds or a
    /// compliance lock.
    pub bypass_governance: bool,
    /// The time the plan calls "now" (ages, period of the newest snapshot,
    /// whether a protection is over).
    pub now: Timestamp,
    /// The calendar of the policy's periods.
    pub time_zone: TimeZone,
}

impl Default for ForgetOptions {
    /// Keep everything, all snapshots, default grouping, now, the system's
    /// time zone.
    fn default() -> Self {
        ForgetOptions {
            policy: RetentionPolicy::default(),
            filter: SnapshotFilter::default(),
            ids: Vec::new(),
            group_by: GroupBy::default(),
            bypass_governance: false,
            now: Timestamp::now(),
            time_zone: TimeZone::system(),
        }
    }
}

/// One snapshot in a forget plan.
#[derive(Debug, Clone, Serialize)]
pub struct ForgetItem {
    /// The decision (id, time, group, keep, reasons).
    #[serde(flatten)]
    pub decision: Decision,
    /// The snapshot's host.
    pub hostname: String,
    /// Its paths.
    pub paths: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its source kind.
    pub kind: String,
    /// Its own `retain_until`, as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<String>,
    /// The legal hold on it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldRecord>,
    /// The protections in force at the plan's "now".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protections: Vec<Protection>,
    /// The snapshot's stored time when it does not parse (the decision's
    /// `time` is then the epoch, for ordering only): such a snapshot's age
    /// is unknown, so it is protected ([`protections_of`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unparsable_time: Option<String>,
}

impl ForgetItem {
    /// Whether the plan removes it.
    pub fn removes(&self) -> bool {
        !self.decision.keep
    }

    /// Why this snapshot cannot be removed and what would be needed, when
    /// a hold or protection keeps it; `None` otherwise.
    pub fn refusal(&self) -> Option<String> {
        refusal(&self.decision.id, self.hold.as_ref(), &self.protections)
    }
}

/// A message naming the snapshot, what keeps it and what would be needed.
fn refusal(id: &Id, hold: Option<&HoldRecord>, protections: &[Protection]) -> Option<String> {
    if hold.is_none() && protections.is_empty() {
        return None;
    }
    let mut why = Vec::new();
    let mut need = Vec::new();
    if let Some(h) = hold {
        why.push(format!(
            "it is under a legal hold since {} by {}{}",
            h.created,
            if h.who.is_empty() { "?" } else { &h.who },
            if h.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", h.reason)
            }
        ));
        need.push(format!(
            "release the hold with `coffer snapshot release {}`",
            id.short()
        ));
    }
    for p in protections {
        if p.until == Timestamp::MAX {
            why.push(p.what.clone());
        } else {
            why.push(format!("{} until {:.0}", p.what, p.until));
        }
    }
    let latest_absolute = protections
        .iter()
        .filter(|p| p.absolute)
        .map(|p| p.until)
        .max();
    if latest_absolute == Some(Timestamp::MAX) {
        need.push(
            "nothing can: a compliance lock keeps a snapshot whose age is unknown for good".into(),
        );
    } else if let Some(u) = latest_absolute {
        need.push(format!(
            "wait until {u:.0}: a compliance lock cannot be overridden by any option"
        ));
    } else if !protections.is_empty() {
        need.push("rerun with --bypass-governance to override the governance protection".into());
    }
    Some(format!(
        "snapshot {} cannot be forgotten: {}; {}",
        id.short(),
        why.join("; "),
        need.join(", and ")
    ))
}

/// What [`plan_forget`] decided.
#[derive(Debug, Clone, Serialize)]
pub struct ForgetPlan {
    /// Every snapshot considered, grouped, newest first within a group.
    pub items: Vec<ForgetItem>,
    /// The policy applied (`None` when snapshots were named by id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<RetentionPolicy>,
    /// The vault lock in force when planning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<VaultLock>,
    /// Lock records that were ignored (see [`crate::lock::LockState`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lock_warnings: Vec<String>,
    /// Whether governance protections were bypassed.
    pub bypass_governance: bool,
    /// The plan's "now"; execution checks protections at this time too.
    #[serde(serialize_with = "ser_ts")]
    pub now: Timestamp,
    /// The time zone of the policy's periods.
    pub time_zone: String,
}

impl ForgetPlan {
    /// The snapshots the plan removes.
    pub fn to_remove(&self) -> impl Iterator<Item = &ForgetItem> {
        self.items.iter().filter(|i| i.removes())
    }

    /// Named snapshots (explicit ids) that a hold or protection keeps: one
    /// message each. A policy's kept snapshots are not refusals.
    pub fn refusals(&self) -> Vec<String> {
        if self.policy.is_some() {
            return Vec::new();
        }
        self.items
            .iter()
            .filter(|i| i.decision.keep)
            .filter_map(ForgetItem::refusal)
            .collect()
    }
}

/// A snapshot the execution did not delete, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The snapshot.
    pub id: Id,
    /// What keeps it and what would be needed.
    pub message: String,
}

/// What [`execute_forget`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForgetStats {
    /// Snapshots deleted.
    pub removed: Vec<Id>,
    /// Snapshots the plan kept.
    pub kept: usize,
    /// Snapshots the plan would remove, but a hold or protection found at
    /// the re-check kept (placed after the plan was made).
    pub refused: Vec<Refusal>,
}

/// The protections of a snapshot whose stored time is `time`. A time that
/// does not parse is damage, never the epoch: the snapshot's age is
/// unknown, so it is protected for good (absolutely under a compliance
/// lock; otherwise until `--bypass-governance` forgets it by id), and no
/// policy or lock ever takes it for old.
pub fn protections_of(
    lock: Option<&VaultLock>,
    time: &str,
    retain_until: Option<Timestamp>,
    bypass_governance: bool,
) -> Vec<Protection> {
    match time.parse::<Timestamp>() {
        Ok(t) => snapshot_protections(lock, t, retain_until, bypass_governance),
        Err(_) => {
            let compliance = lock.is_some_and(|l| l.mode == LockMode::Compliance);
            // The lock's own protection would run from the epoch (long over);
            // `retain_until` still counts.
            let mut out =
                snapshot_protections(lock, Timestamp::UNIX_EPOCH, retain_until, bypass_governance);
            if compliance || !bypass_governance {
                out.push(Protection {
                    until: Timestamp::MAX,
                    what: format!(
                        "its time `{}` does not parse, so its age is unknown (kept{})",
                        time.escape_debug(),
                        if compliance {
                            ""
                        } else {
                            "; --bypass-governance forgets it by id"
                        }
                    ),
                    absolute: compliance,
                });
            }
            out
        }
    }
}

/// Plans a forget: reads snapshots, holds and the lock; writes nothing.
pub fn plan_forget(vault: &Vault, opts: &ForgetOptions) -> Result<ForgetPlan> {
    let explicit = !opts.ids.is_empty();
    if explicit && !opts.policy.keeps_everything() {
        return Err(Error::InvalidInput(
            "forget takes either snapshot ids or a retention policy, not both".into(),
        ));
    }
    if !explicit && opts.policy.keeps_everything() {
        return Err(Error::InvalidInput(
            "forget needs a retention policy (--keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, \
             --keep-yearly, --delete-after-days) or snapshot ids"
                .into(),
        ));
    }
    if opts.policy.removes_everything() {
        return Err(Error::InvalidInput(format!(
            "the policy `{}` keeps no snapshot at all: give a count of at least 1 (or forget snapshots by id)",
            opts.policy
        )));
    }
    let lock_state = vault.lock_state()?;
    let lock = lock_state.lock.clone();
    if let (Some(l), Some(days), false) = (&lock, opts.policy.retention_days(), explicit) {
        let min = l.policy.min_retention_days;
        let bypassed = l.mode == LockMode::Governance && opts.bypass_governance;
        if days < min as f64 && !bypassed {
            return Err(Error::InvalidInput(format!(
                "retention policy `{}` keeps snapshots for {} days, below the minimum retention of {min} days of vault {}'s {}: \
                 give a policy that keeps snapshots at least {min} days (for example --delete-after-days {min}){}",
                opts.policy,
                fmt_days(days),
                vault.backend().location(),
                l.describe(),
                if l.mode == LockMode::Governance {
                    ", or rerun with --bypass-governance"
                } else {
                    "; a compliance lock cannot be bypassed"
                }
            )));
        }
    }
    let snaps: Vec<(Id, Snapshot)> = if explicit {
        let mut seen = HashSet::new();
        let mut v = Vec::new();
        for id in &opts.ids {
            if seen.insert(*id) {
                v.push((*id, vault.load_snapshot(id)?));
            }
        }
        v
    } else {
        vault.snapshots(&opts.filter)?
    };
    let holds: HashMap<Id, HoldRecord> = vault
        .holds()?
        .into_iter()
        .map(|h| (h.snapshot, h))
        .collect();
    let candidates: Vec<Candidate> = snaps
        .iter()
        .map(|(id, s)| Candidate {
            id: *id,
            time: s.timestamp(),
            group: opts.group_by.key(s),
            held: holds.contains_key(id),
            protections: protections_of(
                lock.as_ref(),
                &s.time,
                s.retain_until_timestamp(),
                opts.bypass_governance,
            ),
        })
        .collect();
    let decisions = if explicit {
        plan_removal(&candidates, opts.now)
    } else {
        plan_retention(&candidates, &opts.policy, opts.now, &opts.time_zone)
    };
    let by_id: HashMap<Id, (&Snapshot, &Candidate)> = snaps
        .iter()
        .zip(&candidates)
        .map(|((id, s), c)| (*id, (s, c)))
        .collect();
    let items = decisions
        .into_iter()
        .map(|d| {
            let (s, c) = by_id[&d.id];
            ForgetItem {
                hostname: s.hostname.clone(),
                paths: s.paths.clone(),
                tags: s.tags.clone(),
                kind: s.source.kind.clone(),
                retain_until: s.retain_until.clone(),
                hold: holds.get(&d.id).cloned(),
                protections: c
                    .protections
                    .iter()
                    .filter(|p| opts.now < p.until)
                    .cloned()
                    .collect(),
                unparsable_time: s.time.parse::<Timestamp>().is_err().then(|| s.time.clone()),
                decision: d,
            }
        })
        .collect();
    Ok(ForgetPlan {
        items,
        policy: (!explicit).then(|| opts.policy.clone()),
        lock,
        lock_warnings: lock_state.ignored,
        bypass_governance: opts.bypass_governance,
        now: opts.now,
        time_zone: opts
            .time_zone
            .iana_name()
            .unwrap_or("local time")
            .to_string(),
    })
}

/// Deletes the snapshots `plan` removes, re-checking holds, the lock and
/// `retain_until` right before each delete (at the plan's "now" and with its
/// `bypass_governance`). Refused as a whole when the plan's "now" is ahead
/// of the store's clock ([`crate::clock`]). A snapshot already gone counts
/// as removed, so a plan can be executed again after an interruption.
pub fn execute_forget(vault: &Vault, plan: &ForgetPlan) -> Result<ForgetStats> {
    let mut stats = ForgetStats {
        kept: plan.items.iter().filter(|i| i.decision.keep).count(),
        ..Default::default()
    };
    // Ages were judged at the plan's "now": on a store with a clock of its
    // own, that time must not be ahead of the store's.
    if plan.to_remove().next().is_some() {
        check_store_clock(vault, plan.now, Skew::Ahead, "forget snapshots")?;
    }
    let mut lock_cache = HashMap::new();
    for item in plan.to_remove() {
        let id = item.decision.id;
        let lock = vault.lock_state_cached(&mut lock_cache)?.lock;
        let hold = vault.hold_of(&id)?;
        let retain_until = item
            .retain_until
            .as_ref()
            .map(|s| s.parse().unwrap_or(Timestamp::MAX));
        let time = match &item.unparsable_time {
            Some(t) => t.clone(),
            None => item.decision.time.to_string(),
        };
        let protections: Vec<Protection> =
            protections_of(lock.as_ref(), &time, retain_until, plan.bypass_governance)
                .into_iter()
                .filter(|p| plan.now < p.until)
                .collect();
        if let Some(message) = refusal(&id, hold.as_ref(), &protections) {
            stats.refused.push(Refusal { id, message });
            continue;
        }
        vault
            .backend()
            .delete(&ObjectKind::Snapshot.path(&id))
            .map_err(|e| vault.storage_err(e))?;
        stats.removed.push(id);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Secret;
    use crate::lock::LockPolicy;
    use crate::test_backend::Mem;
    use crate::vault::InitOptions;
    use jiff::SignedDuration;
    use std::sync::Arc;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn vault() -> Vault {
        Vault::init(
            Arc::new(Mem::default()),
            &Secret::KeyFile([7; 32]),
            &InitOptions::default(),
        )
        .unwrap()
    }

    fn snap(v: &Vault, time: Timestamp, host: &str, retain_until: Option<&str>) -> Id {
        // Built from JSON, as a reader would, so fields added later with
        // defaults need no change here.
        let mut j = serde_json::json!({
            "version": 1, "time": time.to_string(), "tree": Id::default(),
            "paths": ["/data"], "hostname": host, "username": "u",
            "source": {"kind": "files"}, "program_version": "test",
        });
        if let Some(r) = retain_until {
            j["retain_until"] = r.into();
        }
        v.save_snapshot(&serde_json::from_value::<Snapshot>(j).unwrap())
            .unwrap()
    }

    /// One snapshot a day at noon for `days` days before `now`, oldest first.
    fn daily(v: &Vault, now: Timestamp, days: i64) -> Vec<Id> {
        (0..days)
            .rev()
            .map(|d| snap(v, now - SignedDuration::from_hours(24 * d + 12), "h", None))
            .collect()
    }

    fn opts(now: Timestamp, f: impl FnOnce(&mut ForgetOptions)) -> ForgetOptions {
        let mut o = ForgetOptions {
            now,
            time_zone: TimeZone::UTC,
            ..Default::default()
        };
        f(&mut o);
        o
    }

    fn remaining(v: &Vault) -> usize {
        v.list(ObjectKind::Snapshot).unwrap().len()
    }

    const NOW: &str = "2026-12-01T00:00:00Z";

    #[test]
    fn policy_plan_then_execute() {
        let v = vault();
        let now = ts(NOW);
        let ids = daily(&v, now, 10);
        snap(&v, now - SignedDuration::from_hours(30), "other", None);
        let o = opts(now, |o| o.policy.keep_last = Some(3));
        let plan = plan_forget(&v, &o).unwrap();
        // Two groups: "other" keeps its only snapshot.
        assert_eq!(plan.items.len(), 11);
        assert_eq!(plan.to_remove().count(), 7);
        assert!(plan.refusals().is_empty());
        // Planning wrote nothing; executing removes exactly the plan.
        assert_eq!(remaining(&v), 11);
        let stats = execute_forget(&v, &plan).unwrap();
        assert_eq!(stats.removed.len(), 7);
        assert_eq!(stats.kept, 4);
        assert_eq!(remaining(&v), 4);
        for id in &ids[7..] {
            v.load_snapshot(id).unwrap();
        }
        // Executing again is harmless.
        assert_eq!(execute_forget(&v, &plan).unwrap().removed.len(), 7);
    }

    #[test]
    fn holds_survive_and_release() {
        let v = vault();
        let now = ts(NOW);
        let ids = daily(&v, now, 5);
        let (h, new) = v
            .hold_snapshot(&ids[0], "audit 42", "me@here", now)
            .unwrap();
        assert!(new && h.reason == "audit 42");
        let (_, new) = v.hold_snapshot(&ids[0], "again", "me@here", now).unwrap();
        assert!(!new);
        assert_eq!(v.holds().unwrap().len(), 1);
        let plan = plan_forget(&v, &opts(now, |o| o.policy.keep_last = Some(1))).unwrap();
        let held = plan.items.iter().find(|i| i.decision.id == ids[0]).unwrap();
        assert!(held.decision.keep && held.decision.reasons.contains(&"held".to_string()));
        execute_forget(&v, &plan).unwrap();
        assert_eq!(remaining(&v), 2);
        // Named explicitly, still refused, with the way out in the message.
        let plan = plan_forget(&v, &opts(now, |o| o.ids = vec![ids[0]])).unwrap();
        let r = plan.refusals();
        assert_eq!(r.len(), 1);
        assert!(
            r[0].contains("legal hold") && r[0].contains("coffer snapshot release"),
            "{}",
            r[0]
        );
        // Even bypassing governance.
        let plan = plan_forget(
            &v,
            &opts(now, |o| {
                o.ids = vec![ids[0]];
                o.bypass_governance = true;
            }),
        )
        .unwrap();
        assert_eq!(plan.to_remove().count(), 0);
        v.release_snapshot(&ids[0]).unwrap();
        assert!(v.release_snapshot(&ids[0]).is_err());
        let plan = plan_forget(&v, &opts(now, |o| o.ids = vec![ids[0]])).unwrap();
        assert_eq!(execute_forget(&v, &plan).unwrap().removed, vec![ids[0]]);
        assert!(
            v.hold_snapshot(&ids[0], "", "", now).is_err(),
            "gone snapshot"
        );
    }

    /// A snapshot whose stored time does not parse is never taken for old
    /// (issue 14): no policy removes it, a compliance lock keeps it for
    /// good, and without a lock only `--bypass-governance` by id forgets it.
    #[test]
    fn unparsable_snapshot_time_is_protected_not_epoch() {
        let v = vault();
        let now = ts(NOW);
        let old = snap(&v, now - SignedDuration::from_hours(24 * 400), "h", None);
        let mut j = serde_json::to_value(v.load_snapshot(&old).unwrap()).unwrap();
        j["time"] = "yesterday-ish".into();
        let bad = v
            .save_snapshot(&serde_json::from_value::<Snapshot>(j).unwrap())
            .unwrap();
        let young = snap(&v, now - SignedDuration::from_hours(1), "h", None);
        let plan = plan_forget(&v, &opts(now, |o| o.policy.delete_after_days = Some(30))).unwrap();
        let removed: Vec<Id> = plan.to_remove().map(|i| i.decision.id).collect();
        assert_eq!(removed, vec![old]);
        let item = plan.items.iter().find(|i| i.decision.id == bad).unwrap();
        assert_eq!(item.unparsable_time.as_deref(), Some("yesterday-ish"));
        assert!(
            item.decision
                .reasons
                .iter()
                .any(|r| r.contains("does not parse")),
            "{:?}",
            item.decision.reasons
        );
        execute_forget(&v, &plan).unwrap();
        assert_eq!(remaining(&v), 2);
        // By id, refused with the way out.
        let plan = plan_forget(&v, &opts(now, |o| o.ids = vec![bad])).unwrap();
        let r = plan.refusals();
        assert!(
            r.len() == 1
                && r[0].contains("`yesterday-ish` does not parse")
                && r[0].contains("--bypass-governance"),
            "{r:?}"
        );
        // Under a compliance lock nothing removes it.
        v.set_lock(
            &LockPolicy {
                min_retention_days: 1,
                max_retention_days: 100,
                changeable_for_days: Some(3),
            },
            "admin",
            now - SignedDuration::from_hours(1),
        )
        .unwrap();
        let bypass = |o: &mut ForgetOptions| {
            o.ids = vec![bad];
            o.bypass_governance = true;
        };
        let plan = plan_forget(&v, &opts(now, bypass)).unwrap();
        assert_eq!(plan.to_remove().count(), 0);
        assert!(
            plan.refusals()[0].contains("nothing can"),
            "{:?}",
            plan.refusals()
        );
        // A plan made before the lock is re-checked at execution.
        let min = SignedDuration::from_mins;
        v.remove_lock("admin", now - min(30)).unwrap();
        let plan = plan_forget(&v, &opts(now, bypass)).unwrap();
        assert_eq!(plan.to_remove().count(), 1);
        v.set_lock(
            &LockPolicy {
                min_retention_days: 1,
                max_retention_days: 100,
                changeable_for_days: Some(3),
            },
            "admin",
            now - min(20),
        )
        .unwrap();
        let stats = execute_forget(&v, &plan).unwrap();
        assert!(stats.removed.is_empty() && stats.refused.len() == 1);
        // Without a lock, bypassing governance forgets it by id.
        v.remove_lock("admin", now - min(10)).unwrap();
        let plan = plan_forget(&v, &opts(now, bypass)).unwrap();
        assert_eq!(execute_forget(&v, &plan).unwrap().removed, vec![bad]);
        v.load_snapshot(&young).unwrap();
    }

    #[test]
    fn hold_placed_after_planning_wins() {
        let v = vault();
        let now = ts(NOW);
        let ids = daily(&v, now, 3);
        let plan = plan_forget(&v, &opts(now, |o| o.policy.keep_last = Some(1))).unwrap();
        v.hold_snapshot(&ids[0], "late", "me", now).unwrap();
        let stats = execute_forget(&v, &plan).unwrap();
        assert_eq!(stats.removed, vec![ids[1]]);
        assert_eq!(stats.refused.len(), 1);
        assert_eq!(stats.refused[0].id, ids[0]);
    }

    #[test]
    fn governance_lock_keeps_young_snapshots_unless_bypassed() {
        let v = vault();
        let now = ts(NOW);
        let ids = daily(&v, now, 10);
        v.set_lock(
            &LockPolicy {
                min_retention_days: 5,
                max_retention_days: 100,
                changeable_for_days: None,
            },
            "admin",
            now - SignedDuration::from_hours(1),
        )
        .unwrap();
        // A rule's retention is checked against the stored lock's bounds.
        let short = RetentionPolicy {
            keep_daily: Some(3),
            ..Default::default()
        };
        let e = v
            .check_retention_against_lock(&short)
            .unwrap_err()
            .to_string();
        assert!(e.contains("below the lock's minimum of 5 days"), "{e}");
        let fits = RetentionPolicy {
            delete_after_days: Some(30),
            ..Default::default()
        };
        v.check_retention_against_lock(&fits).unwrap();
        // A policy below the minimum is refused as a whole.
        let e = plan_forget(&v, &opts(now, |o| o.policy.delete_after_days = Some(2))).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("below the minimum retention of 5 days")
                && m.contains("--bypass-governance"),
            "{m}"
        );
        // keep_last has no duration: the lock keeps the young ones.
        let plan = plan_forget(&v, &opts(now, |o| o.policy.keep_last = Some(1))).unwrap();
        // Snapshots are 0.5, 1.5, … 9.5 days old: 0.5..4.5 are protected.
        assert_eq!(plan.to_remove().count(), 5);
        let young = plan.items.iter().find(|i| i.decision.id == ids[8]).unwrap();
        assert!(young
            .decision
            .reasons
            .iter()
            .any(|r| r.starts_with("locked (governance) until")));
        // Bypassing governance removes them.
        let plan = plan_forget(
            &v,
            &opts(now, |o| {
                o.policy.keep_last = Some(1);
                o.bypass_governance = true;
            }),
        )
        .unwrap();
        assert_eq!(plan.to_remove().count(), 9);
        // The governance lock can be removed at any time.
        v.remove_lock("admin", now).unwrap();
        assert!(v.lock_state().unwrap().lock.is_none());
        assert!(v
            .remove_lock("admin", now + SignedDuration::from_secs(1))
            .is_err());
    }

    #[test]
    fn compliance_lock_and_retain_until_are_absolute() {
        let v = vault();
        let now = ts(NOW);
        let ids = daily(&v, now, 10);
        let retained = snap(
            &v,
            now - SignedDuration::from_hours(24 * 40),
            "h",
            Some("2027-01-01T00:00:00Z"),
        );
        let set_at = now - SignedDuration::from_hours(24 * 5);
        v.set_lock(
            &LockPolicy {
                min_retention_days: 5,
                max_retention_days: 100,
                changeable_for_days: Some(3),
            },
            "admin",
            set_at,
        )
        .unwrap();
        let e = plan_forget(
            &v,
            &opts(now, |o| {
                o.policy.delete_after_days = Some(2);
                o.bypass_governance = true;
            }),
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot be bypassed"), "{e}");
        let plan = plan_forget(
            &v,
            &opts(now, |o| {
                o.policy.keep_last = Some(1);
                o.bypass_governance = true;
            }),
        )
        .unwrap();
        let mut removed: Vec<Id> = plan.to_remove().map(|i| i.decision.id).collect();
        removed.sort();
        let mut expect = ids[..5].to_vec();
        expect.sort();
        assert_eq!(removed, expect);
        let r = plan
            .items
            .iter()
            .find(|i| i.decision.id == retained)
            .unwrap();
        assert!(r.decision.keep);
        assert!(r
            .decision
            .reasons
            .iter()
            .any(|x| x.starts_with("retained (compliance) until 2027-01-01")));
        // Explicitly named: refused with the date to wait for.
        let plan = plan_forget(
            &v,
            &opts(now, |o| {
                o.ids = vec![ids[9], retained];
                o.bypass_governance = true;
            }),
        )
        .unwrap();
        let r = plan.refusals();
        assert_eq!(r.len(), 2);
        assert!(
            r.iter().all(|m| m.contains("cannot be overridden")),
            "{r:?}"
        );
        // Past its grace period (set 5 days ago, changeable for 3), the lock
        // can be neither changed nor removed.
        let e = v.remove_lock("admin", now).unwrap_err().to_string();
        assert!(e.contains("only until") && e.contains("compliance"), "{e}");
        let e = v
            .set_lock(
                &LockPolicy {
                    min_retention_days: 1,
                    max_retention_days: 100,
                    changeable_for_days: None,
                },
                "admin",
                now,
            )
            .unwrap_err();
        assert!(e.to_string().contains("nobody can change it now"), "{e}");
    }

    #[test]
    fn compliance_lock_changeable_during_grace_period() {
        let v = vault();
        let t0 = ts(NOW);
        let p = LockPolicy {
            min_retention_days: 7,
            max_retention_days: 30,
            changeable_for_days: Some(3),
        };
        let l = v.set_lock(&p, "a", t0).unwrap();
        assert_eq!(l.changeable_until, Some(ts("2026-12-04T00:00:00Z")));
        // Two days in: still changeable; the new record starts a new grace period.
        let t1 = t0 + SignedDuration::from_hours(48);
        v.remove_lock("a", t1).unwrap();
        assert!(v.lock_state().unwrap().lock.is_none());
        let l = v
            .set_lock(&p, "a", t1 + SignedDuration::from_secs(1))
            .unwrap();
        assert!(l.changeable_at(t1 + SignedDuration::from_hours(24)));
        // A record backdated before the newest one is refused.
        let e = v.remove_lock("a", t0).unwrap_err();
        assert!(e.to_string().contains("clock"), "{e}");
        // D < 3 refused.
        let e = v
            .set_lock(
                &LockPolicy {
                    changeable_for_days: Some(2),
                    ..p.clone()
                },
                "a",
                t1 + SignedDuration::from_hours(1),
            )
            .unwrap_err();
        assert!(e.to_string().contains("at least 3 days"), "{e}");
    }

    #[test]
    fn record_written_after_grace_period_is_ignored() {
        // A client that ignores the rules (or a bad clock) wrote a removal
        // after the compliance lock froze: replaying the records skips it.
        let v = vault();
        let t0 = ts(NOW);
        v.set_lock(
            &LockPolicy {
                min_retention_days: 7,
                max_retention_days: 30,
                changeable_for_days: Some(3),
            },
            "a",
            t0,
        )
        .unwrap();
        let rogue = crate::lock::LockRecord {
            version: 1,
            created: (t0 + SignedDuration::from_hours(24 * 10)).to_string(),
            policy: LockPolicy {
                min_retention_days: 0,
                max_retention_days: 0,
                changeable_for_days: None,
            },
            mode: LockMode::Governance,
            changeable_until: None,
            removes: true,
            who: "rogue".into(),
            store_enforced: None,
        };
        v.save_object(ObjectKind::Lock, &serde_json::to_vec(&rogue).unwrap())
            .unwrap();
        let st = v.lock_state().unwrap();
        assert_eq!(st.records, 2);
        assert_eq!(st.lock.unwrap().mode, LockMode::Compliance);
        assert_eq!(st.ignored.len(), 1);
        assert!(st.ignored[0].contains("rogue"));
    }

    #[test]
    fn retain_until_without_lock_is_governance() {
        let v = vault();
        let now = ts(NOW);
        let r = snap(
            &v,
            now - SignedDuration::from_hours(24 * 40),
            "h",
            Some("2026-12-10T00:00:00Z"),
        );
        snap(&v, now - SignedDuration::from_hours(1), "h", None);
        let plan = plan_forget(&v, &opts(now, |o| o.policy.keep_last = Some(1))).unwrap();
        assert_eq!(plan.to_remove().count(), 0);
        let kept = plan.items.iter().find(|i| i.decision.id == r).unwrap();
        assert_eq!(
            kept.decision.reasons,
            vec![
                "not kept by any rule",
                "retained until 2026-12-10T00:00:00Z"
            ]
        );
        let plan = plan_forget(
            &v,
            &opts(now, |o| {
                o.policy.keep_last = Some(1);
                o.bypass_governance = true;
            }),
        )
        .unwrap();
        assert_eq!(plan.to_remove().count(), 1);
        // After the date it goes without bypass.
        let later = ts("2026-12-11T00:00:00Z");
        let plan = plan_forget(&v, &opts(later, |o| o.policy.keep_last = Some(1))).unwrap();
        assert_eq!(plan.to_remove().count(), 1);
    }

    #[test]
    fn bad_requests() {
        let v = vault();
        let now = ts(NOW);
        let ids = daily(&v, now, 2);
        assert!(plan_forget(&v, &opts(now, |_| {})).is_err());
        assert!(plan_forget(
            &v,
            &opts(now, |o| {
                o.ids = vec![ids[0]];
                o.policy.keep_last = Some(1);
            })
        )
        .is_err());
        let e = plan_forget(&v, &opts(now, |o| o.policy.keep_daily = Some(0))).unwrap_err();
        assert!(e.to_string().contains("keeps no snapshot"), "{e}");
        let e = plan_forget(&v, &opts(now, |o| o.ids = vec![Id([9; 32])])).unwrap_err();
        assert!(matches!(e.kind(), crate::ErrorKind::NotFound), "{e}");
    }

    #[test]
    fn damaged_hold_object_is_reported() {
        let v = vault();
        let now = ts(NOW);
        let ids = daily(&v, now, 2);
        v.hold_snapshot(&ids[0], "", "", now).unwrap();
        // A hold object copied under another snapshot's hold name.
        let bytes = v.backend().read(&v.hold_path(&ids[0])).unwrap();
        v.backend().write(&v.hold_path(&ids[1]), bytes).unwrap();
        let e = v.holds().unwrap_err().to_string();
        assert!(
            e.contains("not stored under that snapshot's hold name"),
            "{e}"
        );
    }
}
