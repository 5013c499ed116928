//! The vault lock (AWS Backup Vault Lock semantics): its policy, the
//! write-once [`LockRecord`]s under `locks/`, and the replay that finds the
//! lock in force (see the module doc of [`crate::lock`]).
//!
//! A record written when a compliance lock was no longer changeable is
//! ignored and reported; a compliance lock's grace period is judged by this
//! machine's clock and by the store's ([`crate::clock`]).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::backend::{ObjectKind, WriteRetention};
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::ops::retention::plan::{add_days, ser_ts, Protection};
use crate::vault::handle::Vault;

/// The shortest grace period of a compliance lock, in days (AWS Backup's
/// minimum for `ChangeableForDays`): time to notice and undo a mistake.
pub const MIN_CHANGEABLE_DAYS: u32 = 3;

/// Governance or compliance mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// An admin can change or remove the lock; `--bypass-governance` deletes.
    Governance,
    /// After the grace period nobody can change or remove the lock, and no
    /// snapshot younger than its retention can be deleted.
    Compliance,
}

impl std::fmt::Display for LockMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LockMode::Governance => "governance",
            LockMode::Compliance => "compliance",
        })
    }
}

/// A vault lock as configured: retention bounds and, for compliance mode, the
/// grace period during which the lock can still be changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockPolicy {
    /// Snapshots younger than this cannot be deleted; a rule whose retention
    /// is shorter fails.
    pub min_retention_days: u32,
    /// A rule whose retention is longer fails.
    pub max_retention_days: u32,
    /// Compliance mode with this grace period (at least 3 days); absent:
    /// governance mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changeable_for_days: Option<u32>,
}

impl LockPolicy {
    /// The mode this policy makes.
    pub fn mode(&self) -> LockMode {
        if self.changeable_for_days.is_some() {
            LockMode::Compliance
        } else {
            LockMode::Governance
        }
    }

    /// Checks the policy itself: the minimum is not above the maximum, and
    /// a compliance grace period is at least [`MIN_CHANGEABLE_DAYS`]. On
    /// failure, says what to give instead.
    pub fn validate(&self) -> crate::Result<()> {
        if self.min_retention_days > self.max_retention_days {
            return Err(Error::InvalidInput(format!(
                "min_retention_days = {} is above max_retention_days = {}: give a minimum no larger than the maximum",
                self.min_retention_days, self.max_retention_days
            )));
        }
        if let Some(d) = self.changeable_for_days {
            if d < MIN_CHANGEABLE_DAYS {
                return Err(Error::InvalidInput(format!(
                    "changeable_for_days = {d} is too short: a compliance lock needs a grace period of at least {MIN_CHANGEABLE_DAYS} days \
                     (during it the lock can still be changed or removed); give {MIN_CHANGEABLE_DAYS} or more, or leave it out for governance mode"
                )));
            }
        }
        Ok(())
    }
}

/// `7`, or `0.08` for fractions of a day.
pub(crate) fn fmt_days(d: f64) -> String {
    if d.fract() == 0.0 {
        format!("{d:.0}")
    } else {
        format!("{d:.2}")
    }
}

impl LockPolicy {
    /// Checks that a rule's retention lies within the lock's bounds, as AWS
    /// Backup does for a recovery point's lifecycle: the retention must keep
    /// every snapshot at least `min_retention_days`, and must not keep any
    /// longer than `max_retention_days`. On failure, says why.
    pub fn check_retention(&self, policy: &crate::RetentionPolicy) -> crate::Result<()> {
        // delete_after_days decides the retention when set, so one value
        // within the bounds always fixes it.
        let fix = format!(
            "set delete_after_days between {} and {}",
            self.min_retention_days, self.max_retention_days
        );
        match policy.retention_days() {
            None => Err(Error::InvalidInput(format!(
                "the retention keeps snapshots indefinitely (no delete_after_days), beyond the lock's maximum of {} days: {fix}",
                self.max_retention_days
            ))),
            Some(d) if d < self.min_retention_days as f64 => Err(Error::InvalidInput(format!(
                "the retention keeps snapshots for {} days, below the lock's minimum of {} days: {fix}",
                fmt_days(d),
                self.min_retention_days
            ))),
            Some(d) if d > self.max_retention_days as f64 => Err(Error::InvalidInput(format!(
                "the retention keeps snapshots for {} days, beyond the lock's maximum of {} days: {fix}",
                fmt_days(d),
                self.max_retention_days
            ))),
            Some(_) => Ok(()),
        }
    }
}

/// One stored lock record (`locks/<id>`, sealed JSON). Readers ignore
/// unknown fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Record format version (1).
    pub version: u32,
    /// When it was written (RFC 3339); orders the records.
    pub created: String,
    /// The lock it sets; for a removal, the lock it removes.
    pub policy: LockPolicy,
    /// The policy's mode, spelled out for readers.
    pub mode: LockMode,
    /// Compliance mode: `created` plus `changeable_for_days` (RFC 3339);
    /// from then on the lock can no longer be changed or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changeable_until: Option<String>,
    /// Whether this record removes the lock instead of setting one.
    #[serde(default)]
    pub removes: bool,
    /// Who wrote it (`user@host`).
    #[serde(default)]
    pub who: String,
    /// Whether the store enforces the lock too (S3 Object Lock, checked by
    /// a probe when the lock was set). Absent in records written before
    /// this field existed: enforced by coffer only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_enforced: Option<bool>,
}

/// The lock in force on a vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VaultLock {
    /// The record that set it.
    pub record: Id,
    /// Its bounds.
    pub policy: LockPolicy,
    /// Its mode.
    pub mode: LockMode,
    /// When it was set.
    #[serde(serialize_with = "ser_ts")]
    pub created: Timestamp,
    /// Compliance mode: until when it can be changed or removed.
    #[serde(serialize_with = "ser_opt_ts")]
    pub changeable_until: Option<Timestamp>,
    /// Who set it.
    pub who: String,
    /// Whether the store enforces it too (S3 Object Lock); otherwise only
    /// coffer does.
    pub store_enforced: bool,
}

pub(super) fn ser_opt_ts<S: serde::Serializer>(
    t: &Option<Timestamp>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(t),
        None => s.serialize_none(),
    }
}

impl VaultLock {
    /// Whether the lock can still be changed or removed at `now`.
    pub fn changeable_at(&self, now: Timestamp) -> bool {
        match self.changeable_until {
            None => true,
            Some(u) => now < u,
        }
    }

    /// `compliance lock (min 7, max 365 days, set 2026-… by root@web1)`.
    pub fn describe(&self) -> String {
        format!(
            "{} lock (min {}, max {} days, set {:.0} by {})",
            self.mode,
            self.policy.min_retention_days,
            self.policy.max_retention_days,
            self.created,
            if self.who.is_empty() { "?" } else { &self.who }
        )
    }
}

/// What the stored lock records say.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LockState {
    /// The lock in force, if any.
    pub lock: Option<VaultLock>,
    /// How many records there are.
    pub records: usize,
    /// When the newest record (valid or not) was written: a new record must
    /// be later, or the replay order would not be the order of writing.
    #[serde(serialize_with = "ser_opt_ts")]
    pub newest: Option<Timestamp>,
    /// Records that were ignored because they tried to change or remove a
    /// compliance lock after its grace period, one line each.
    pub ignored: Vec<String>,
}

/// The protections a vault lock and a snapshot's own `retain_until` give a
/// snapshot taken at `time`. Governance protections (the governance lock's
/// minimum, and `retain_until` without a compliance lock) are left out when
/// `bypass_governance`; compliance ones never are. Protections that are over
/// at "now" are included: the caller decides with its own clock.
pub fn snapshot_protections(
    lock: Option<&VaultLock>,
    time: Timestamp,
    retain_until: Option<Timestamp>,
    bypass_governance: bool,
) -> Vec<Protection> {
    let compliance = lock.is_some_and(|l| l.mode == LockMode::Compliance);
    let mut out = Vec::new();
    if let Some(l) = lock {
        if compliance || !bypass_governance {
            out.push(Protection {
                until: add_days(time, l.policy.min_retention_days),
                what: format!("locked ({})", l.mode),
                absolute: compliance,
            });
        }
    }
    if let Some(u) = retain_until {
        if compliance || !bypass_governance {
            out.push(Protection {
                until: u,
                what: if compliance {
                    "retained (compliance)".into()
                } else {
                    "retained".into()
                },
                absolute: compliance,
            });
        }
    }
    out
}

/// Parses a stored RFC 3339 time, naming the object on failure.
fn parse_time(s: &str, object: &str, field: &str) -> Result<Timestamp> {
    s.parse().map_err(|e| {
        Error::damaged(
            object.to_string(),
            format!("{field} `{s}` is not an RFC 3339 time: {e}"),
        )
    })
}

impl Vault {
    /// Reads every lock record and replays them (see the module doc).
    /// A damaged record fails the call: without it the lock in force is
    /// unknown, and destructive operations must not guess.
    pub fn lock_state(&self) -> Result<LockState> {
        self.lock_state_cached(&mut HashMap::new())
    }

    /// [`Vault::lock_state`], reusing records already read (they are
    /// write-once, so a record read once never changes).
    pub fn lock_state_cached(&self, cache: &mut HashMap<Id, LockRecord>) -> Result<LockState> {
        let mut records = Vec::new();
        for (id, _) in self.list(ObjectKind::Lock)? {
            let rec = match cache.get(&id) {
                Some(r) => r.clone(),
                None => {
                    let body = self.load_object(ObjectKind::Lock, &id)?;
                    let r: LockRecord = serde_json::from_slice(&body).map_err(|e| {
                        Error::damaged(ObjectKind::Lock.path(&id), format!("does not parse: {e}"))
                    })?;
                    cache.insert(id, r.clone());
                    r
                }
            };
            let path = ObjectKind::Lock.path(&id);
            let created = parse_time(&rec.created, &path, "created")?;
            let until = rec
                .changeable_until
                .as_deref()
                .map(|u| parse_time(u, &path, "changeable_until"))
                .transpose()?;
            records.push((created, id, rec, until));
        }
        records.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut state = LockState {
            records: records.len(),
            newest: records.last().map(|r| r.0),
            ..Default::default()
        };
        for (created, id, rec, until) in records {
            if let Some(cur) = &state.lock {
                if !cur.changeable_at(created) {
                    state.ignored.push(format!(
                        "lock record {} ({} by {}) was written after the compliance lock of {} stopped being changeable at {}; it has no effect",
                        id.short(),
                        created,
                        rec.who,
                        cur.created,
                        cur.changeable_until.map(|t| t.to_string()).unwrap_or_default()
                    ));
                    continue;
                }
            }
            state.lock = (!rec.removes).then(|| VaultLock {
                record: id,
                mode: rec.policy.mode(),
                policy: rec.policy,
                created,
                changeable_until: until,
                who: rec.who,
                store_enforced: rec.store_enforced.unwrap_or(false),
            });
        }
        Ok(state)
    }

    /// Refuses to change the lock when a compliance lock is past its grace
    /// period, or when the clock is behind the newest record.
    fn check_lock_change(&self, state: &LockState, now: Timestamp, what: &str) -> Result<()> {
        // A grace period is judged by the store's clock too: a clock behind
        // would reopen it, one ahead would date the record wrongly.
        crate::clock::check_store_clock(self, now, crate::clock::Skew::Either, what)?;
        if let Some(cur) = &state.lock {
            if !cur.changeable_at(now) {
                return Err(Error::InvalidInput(format!(
                    "cannot {what} of vault {}: its {} could be changed or removed only until {}; nobody can change it now",
                    self.backend().location(),
                    cur.describe(),
                    cur.changeable_until.map(|t| format!("{t:.0}")).unwrap_or_default()
                )));
            }
        }
        if let Some(newest) = state.newest {
            if now <= newest {
                return Err(Error::InvalidInput(format!(
                    "cannot {what} of vault {}: its newest lock record was written at {newest}, not before this machine's time {now}; \
                     check this machine's clock",
                    self.backend().location()
                )));
            }
        }
        Ok(())
    }

    /// Sets or changes the vault lock. Refused when the policy is invalid
    /// (grace period under 3 days, minimum above maximum), or when a
    /// compliance lock in force is past its grace period.
    pub fn set_lock(&self, policy: &LockPolicy, who: &str, now: Timestamp) -> Result<VaultLock> {
        self.set_lock_with(policy, who, now, false)
    }

    /// [`Vault::set_lock`], recording whether the store enforces the lock
    /// too. The caller must have checked that it does (the CLI probes the
    /// bucket); afterwards call [`Vault::apply_store_lock`] and
    /// [`Vault::extend_store_retention`] so existing objects get retention.
    pub fn set_lock_with(
        &self,
        policy: &LockPolicy,
        who: &str,
        now: Timestamp,
        store_enforced: bool,
    ) -> Result<VaultLock> {
        policy.validate().map_err(|e| {
            Error::InvalidInput(format!("vault lock for {}: {e}", self.backend().location()))
        })?;
        let state = self.lock_state()?;
        self.check_lock_change(&state, now, "change the lock")?;
        let until = policy.changeable_for_days.map(|d| add_days(now, d));
        let rec = LockRecord {
            version: 1,
            created: now.to_string(),
            policy: policy.clone(),
            mode: policy.mode(),
            changeable_until: until.map(|t| t.to_string()),
            removes: false,
            who: who.to_string(),
            store_enforced: Some(store_enforced),
        };
        let id = self.save_object(
            ObjectKind::Lock,
            &serde_json::to_vec(&rec).expect("serializable"),
        )?;
        self.backend()
            .set_write_retention(write_retention_for(policy, store_enforced));
        Ok(VaultLock {
            record: id,
            policy: policy.clone(),
            mode: policy.mode(),
            created: now,
            changeable_until: until,
            who: who.to_string(),
            store_enforced,
        })
    }

    /// Removes the vault lock; returns the lock that was removed. Refused
    /// when there is none, or when it is a compliance lock past its grace
    /// period.
    pub fn remove_lock(&self, who: &str, now: Timestamp) -> Result<VaultLock> {
        let state = self.lock_state()?;
        let Some(cur) = state.lock.clone() else {
            return Err(Error::NotFound {
                what: format!("a vault lock on {}", self.backend().location()),
                hint: ": there is nothing to remove (see `coffer vault lock-status`)".into(),
            });
        };
        self.check_lock_change(&state, now, "remove the lock")?;
        let rec = LockRecord {
            version: 1,
            created: now.to_string(),
            policy: cur.policy.clone(),
            mode: cur.mode,
            changeable_until: None,
            removes: true,
            who: who.to_string(),
            store_enforced: None,
        };
        self.save_object(
            ObjectKind::Lock,
            &serde_json::to_vec(&rec).expect("serializable"),
        )?;
        self.backend().set_write_retention(WriteRetention::None);
        Ok(cur)
    }

    /// Checks a rule's retention against the lock stored in this vault (see
    /// [`LockPolicy::check_retention`]); a job whose retention falls outside
    /// the lock's bounds must fail with this error. No lock: always fine.
    pub fn check_retention_against_lock(&self, policy: &crate::RetentionPolicy) -> Result<()> {
        match self.lock_state()?.lock {
            Some(l) => l.policy.check_retention(policy).map_err(|e| {
                Error::InvalidInput(format!(
                    "retention `{policy}` does not fit the {} of vault {}: {e}",
                    l.describe(),
                    self.backend().location()
                ))
            }),
            None => Ok(()),
        }
    }
}

/// The write retention a lock asks of a store that enforces it.
pub(super) fn write_retention_for(policy: &LockPolicy, store_enforced: bool) -> WriteRetention {
    if store_enforced && policy.min_retention_days > 0 {
        WriteRetention::Lock {
            mode: policy.mode(),
            days: policy.min_retention_days,
        }
    } else {
        WriteRetention::None
    }
}
