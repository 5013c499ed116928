//! Planning a forget: [`plan_forget`] reads snapshots, holds and the lock,
//! writes nothing, and decides for each snapshot whether it is removed and
//! why. A policy whose retention is shorter than a lock's minimum is refused
//! as a whole (unless it bypasses a governance lock), before anything is
//! planned. A held snapshot, and one a lock or its own `retain_until`
//! protects, is kept.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::lock::legal_hold::HoldRecord;
use crate::format::lock::vault_lock::{fmt_days, snapshot_protections, LockMode, VaultLock};
use crate::format::snapshot::{Snapshot, SnapshotFilter};
use crate::ops::retention::group_by::GroupBy;
use crate::ops::retention::plan::{
    plan_removal, plan_retention, ser_ts, Candidate, Decision, Protection,
};
use crate::ops::retention::policy::RetentionPolicy;
use crate::vault::handle::Vault;

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
pub(super) fn refusal(
    id: &Id,
    hold: Option<&HoldRecord>,
    protections: &[Protection],
) -> Option<String> {
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

    /// Every refusal of a forget: the plan's ([`Self::refusals`]) and, once
    /// executed, what the execution found protected by then (`stats`).
    pub fn all_refusals(&self, stats: Option<&super::ForgetStats>) -> Vec<String> {
        let mut out = self.refusals();
        if let Some(s) = stats {
            out.extend(s.refused.iter().map(|r| r.message.clone()));
        }
        out
    }
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
