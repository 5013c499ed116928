//! Vault lock (AWS Backup Vault Lock semantics) and legal holds.
//!
//! Both live in the vault itself, so every client that opens it honours
//! them, whichever host or front end it runs on.
//!
//! **Vault lock.** Sealed JSON [`LockRecord`]s under `locks/<id>` (the id is
//! the keyed hash of the stored bytes, as for snapshots). Records are
//! write-once: setting, changing or removing the lock writes a new record,
//! and nothing deletes old ones. The lock in force is found by replaying the
//! records oldest first (by `created`, then id): each record replaces the
//! lock (or, with `removes`, ends it), except that a record written when a
//! compliance lock was no longer changeable is ignored and reported. So
//! "the newest record wins" as long as it was allowed when it was written.
//!
//! - Governance mode ([`LockPolicy::changeable_for_days`] absent): the lock
//!   can be changed or removed at any time; forget keeps snapshots younger
//!   than `min_retention_days` unless it is asked to bypass governance.
//! - Compliance mode (`changeable_for_days = D`, D ≥ 3): until `created + D
//!   days` the lock can still be changed or removed; after that nobody can,
//!   and no option removes a snapshot younger than its retention.
//!
//! **Legal holds.** One sealed JSON [`HoldRecord`] per held snapshot under
//! `holds/<name>`, where the name is the keyed BLAKE3 (object name key) of
//! `coffer.hold` followed by the snapshot id: stable, so a hold can be
//! found and released from the snapshot id alone, and revealing nothing.
//! Holding a held snapshot again writes nothing; releasing deletes the
//! object. A held snapshot is never forgotten, whatever the lock or options.
//!
//! These rules are enforced by coffer, that is by every client holding the
//! vault's key. They do not stop someone who deletes objects from the
//! storage directly: against that, use the storage's own immutability.
//!
//! **Store-enforced locks (S3 Object Lock).** A lock record says whether
//! the store enforces the lock too ([`LockRecord::store_enforced`]; the CLI
//! sets it only after probing the bucket). When it does, opening the vault
//! tells the backend to write every object with S3 Object Lock retention
//! ([`Vault::apply_store_lock`]): the lock's mode, retained until the write
//! plus `min_retention_days` plus [`RETENTION_SLACK_DAYS`]. Objects that a
//! snapshot needs for longer (a later snapshot deduplicating against old
//! packs, a snapshot's `retain_until`, a raised minimum) get their
//! retention extended ([`Vault::plan_store_retention`],
//! [`Vault::extend_store_retention`]): before each snapshot is saved for the
//! objects that snapshot needs, and over the whole vault when the lock is
//! set and by `coffer vault extend-retention`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::backend::{ObjectKind, ObjectRetention, RetentionStats, WriteRetention};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::retention::{add_days, ser_ts, Protection};
use crate::vault::Vault;

/// Store retention is set this many days beyond what is needed, so that a
/// pack every daily backup reuses is extended about once a day rather than
/// at every backup.
pub const RETENTION_SLACK_DAYS: u32 = 1;

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
    pub fn validate(&self) -> Result<(), String> {
        if self.min_retention_days > self.max_retention_days {
            return Err(format!(
                "min_retention_days = {} is above max_retention_days = {}: give a minimum no larger than the maximum",
                self.min_retention_days, self.max_retention_days
            ));
        }
        if let Some(d) = self.changeable_for_days {
            if d < MIN_CHANGEABLE_DAYS {
                return Err(format!(
                    "changeable_for_days = {d} is too short: a compliance lock needs a grace period of at least {MIN_CHANGEABLE_DAYS} days \
                     (during it the lock can still be changed or removed); give {MIN_CHANGEABLE_DAYS} or more, or leave it out for governance mode"
                ));
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
    pub fn check_retention(&self, policy: &crate::RetentionPolicy) -> Result<(), String> {
        match policy.retention_days() {
            None => Err(format!(
                "the retention keeps snapshots indefinitely, beyond the lock's maximum of {} days: set delete_after_days",
                self.max_retention_days
            )),
            Some(d) if d < self.min_retention_days as f64 => Err(format!(
                "the retention keeps snapshots for {} days, below the lock's minimum of {} days",
                fmt_days(d),
                self.min_retention_days
            )),
            Some(d) if d > self.max_retention_days as f64 => Err(format!(
                "the retention keeps snapshots for {} days, beyond the lock's maximum of {} days",
                fmt_days(d),
                self.max_retention_days
            )),
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

fn ser_opt_ts<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
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

/// A legal hold (`holds/<name>`, sealed JSON). Readers ignore unknown
/// fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRecord {
    /// Record format version (1).
    pub version: u32,
    /// The held snapshot.
    pub snapshot: Id,
    /// Why (free text, may be empty).
    #[serde(default)]
    pub reason: String,
    /// Who placed it (`user@host`).
    #[serde(default)]
    pub who: String,
    /// When (RFC 3339).
    pub created: String,
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

    /// The path of the hold object of snapshot `snapshot`: the keyed hash of
    /// `coffer.hold` and the id. (Ordinary object names hash sealed bytes,
    /// which start with the scheme byte 1, never with `c`, so the two kinds
    /// of names cannot collide.)
    pub fn hold_path(&self, snapshot: &Id) -> String {
        let mut input = ObjectKind::Hold.aad().to_vec();
        input.extend_from_slice(&snapshot.0);
        ObjectKind::Hold.path(&self.key().object_name(&input))
    }

    /// Reads one hold object and checks that it belongs at `path`.
    fn read_hold(&self, path: &str) -> Result<Option<HoldRecord>> {
        let sealed = match self.backend().read(path) {
            Ok(b) => b,
            Err(e) if e.not_found => return Ok(None),
            Err(e) => return Err(self.storage_err(e)),
        };
        let body = self
            .key()
            .open(ObjectKind::Hold.aad(), &sealed)
            .ok_or_else(|| Error::damaged(path, "fails authentication"))?;
        let rec: HoldRecord = serde_json::from_slice(&body)
            .map_err(|e| Error::damaged(path, format!("does not parse: {e}")))?;
        if self.hold_path(&rec.snapshot) != path {
            return Err(Error::damaged(
                path,
                format!(
                    "holds snapshot {} but is not stored under that snapshot's hold name",
                    rec.snapshot.short()
                ),
            ));
        }
        Ok(Some(rec))
    }

    /// The hold on `snapshot`, if any.
    pub fn hold_of(&self, snapshot: &Id) -> Result<Option<HoldRecord>> {
        self.read_hold(&self.hold_path(snapshot))
    }

    /// Every legal hold, oldest first.
    pub fn holds(&self) -> Result<Vec<HoldRecord>> {
        let mut out = Vec::new();
        let listed = self
            .backend()
            .list(ObjectKind::Hold.prefix())
            .map_err(|e| self.storage_err(e))?;
        for o in listed {
            if ObjectKind::Hold.id_of(&o.path).is_none() {
                continue;
            }
            if let Some(r) = self.read_hold(&o.path)? {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.snapshot.cmp(&b.snapshot)));
        Ok(out)
    }

    /// Places a legal hold on snapshot `snapshot` (which must exist).
    /// Returns the hold and whether it is new: holding a held snapshot
    /// writes nothing and returns the existing hold, so the object under a
    /// hold name is written once. (Two clients holding the same snapshot at
    /// the same instant may both write; each write is atomic and either
    /// record is a valid hold.)
    pub fn hold_snapshot(
        &self,
        snapshot: &Id,
        reason: &str,
        who: &str,
        now: Timestamp,
    ) -> Result<(HoldRecord, bool)> {
        self.load_snapshot(snapshot)?;
        if let Some(h) = self.hold_of(snapshot)? {
            return Ok((h, false));
        }
        let rec = HoldRecord {
            version: 1,
            snapshot: *snapshot,
            reason: reason.to_string(),
            who: who.to_string(),
            created: now.to_string(),
        };
        let sealed = self.key().seal(
            ObjectKind::Hold.aad(),
            &serde_json::to_vec(&rec).expect("serializable"),
        );
        self.backend()
            .write(&self.hold_path(snapshot), sealed)
            .map_err(|e| self.storage_err(e))?;
        Ok((rec, true))
    }

    /// Releases the legal hold on `snapshot`; returns the hold released.
    pub fn release_snapshot(&self, snapshot: &Id) -> Result<HoldRecord> {
        let path = self.hold_path(snapshot);
        let rec = self.read_hold(&path)?.ok_or_else(|| Error::NotFound {
            what: format!("a legal hold on snapshot {}", snapshot.short()),
            hint: format!(
                " in {}: list holds with `coffer snapshot holds`",
                self.backend().location()
            ),
        })?;
        self.backend()
            .delete(&path)
            .map_err(|e| self.storage_err(e))?;
        Ok(rec)
    }
}

/// The write retention a lock asks of a store that enforces it.
fn write_retention_for(policy: &LockPolicy, store_enforced: bool) -> WriteRetention {
    if store_enforced && policy.min_retention_days > 0 {
        WriteRetention::Lock {
            mode: policy.mode(),
            days: policy.min_retention_days,
        }
    } else {
        WriteRetention::None
    }
}

/// Which objects need store retention until when (see
/// [`Vault::plan_store_retention`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionPlan {
    /// The lock's mode: the S3 Object Lock mode objects get.
    pub mode: Option<LockMode>,
    /// Snapshots that still need protection.
    pub snapshots: usize,
    /// Object path → the time until which the store must retain it.
    #[serde(skip)]
    pub objects: std::collections::BTreeMap<String, Timestamp>,
    /// The latest of those times.
    #[serde(serialize_with = "ser_opt_ts")]
    pub latest: Option<Timestamp>,
}

impl RetentionPlan {
    fn need(&mut self, path: String, until: Timestamp) {
        let e = self.objects.entry(path).or_insert(until);
        if *e < until {
            *e = until;
        }
        if self.latest.is_none_or(|l| l < until) {
            self.latest = Some(until);
        }
    }
}

impl Vault {
    /// Tells the backend which retention to give the objects it writes,
    /// from the lock in force: its mode and `min_retention_days` when the
    /// lock record says the store enforces it, none otherwise. Backends
    /// without object lock are left alone (no read at all). When the lock
    /// records cannot be read, writes are made to fail (they might need
    /// retention) and the error is returned.
    pub fn apply_store_lock(&self) -> Result<()> {
        if !self.backend().supports_object_lock() {
            return Ok(());
        }
        match self.lock_state() {
            Ok(state) => {
                let r = state
                    .lock
                    .as_ref()
                    .map(|l| write_retention_for(&l.policy, l.store_enforced))
                    .unwrap_or_default();
                self.backend().set_write_retention(r);
                Ok(())
            }
            Err(e) => {
                self.backend().set_write_retention(WriteRetention::Unknown(format!(
                    "the vault lock of {} cannot be read ({e}), so coffer cannot tell which object lock retention new objects need; \
                     run `coffer check` and repair or restore the lock records",
                    self.backend().location()
                )));
                Err(e)
            }
        }
    }

    /// Which objects the store must retain until when, for the snapshots
    /// given (all of them when `snaps` is `None`), under the lock in force
    /// when it is store-enforced (otherwise an empty plan). Each snapshot
    /// needs protection until the latest of its protections (the lock's
    /// minimum from its time, its `retain_until`), capped at its time plus
    /// the lock's maximum; snapshots whose protection is over at `now` are
    /// left out. A snapshot needs its own object and the packs holding its
    /// trees and file chunks; every index object, key slot, lock record and
    /// `config` are needed as long as any snapshot is.
    pub fn plan_store_retention(
        &self,
        snaps: Option<&[(Id, crate::Snapshot)]>,
        now: Timestamp,
    ) -> Result<RetentionPlan> {
        let state = self.lock_state()?;
        let Some(lock) = state.lock.filter(|l| l.store_enforced) else {
            return Ok(RetentionPlan::default());
        };
        let all;
        let snaps = match snaps {
            Some(s) => s,
            None => {
                all = self.snapshots(&crate::SnapshotFilter::default())?;
                &all[..]
            }
        };
        let mut plan = RetentionPlan {
            mode: Some(lock.mode),
            ..Default::default()
        };
        let needed: Vec<(&Id, &crate::Snapshot, Timestamp)> = snaps
            .iter()
            .filter_map(|(id, snap)| {
                // A time that does not parse is not the epoch (which would
                // need no retention): the objects get a full period from now.
                let time = snap.time.parse().unwrap_or(now);
                let cap = add_days(
                    time,
                    lock.policy
                        .max_retention_days
                        .max(lock.policy.min_retention_days),
                );
                let until =
                    snapshot_protections(Some(&lock), time, snap.retain_until_timestamp(), false)
                        .into_iter()
                        .map(|p| p.until)
                        .max()?
                        .min(cap);
                (until > now).then_some((id, snap, until))
            })
            .collect();
        if needed.is_empty() {
            return Ok(plan);
        }
        plan.snapshots = needed.len();
        let index = self.load_index()?;
        for (id, snap, until) in &needed {
            plan.need(ObjectKind::Snapshot.path(id), *until);
            let mut stack = vec![snap.tree];
            let mut seen = std::collections::HashSet::new();
            let blob = |b: &Id, plan: &mut RetentionPlan| -> Result<()> {
                let loc = index.lookup(b).ok_or_else(|| {
                    Error::damaged(
                        ObjectKind::Snapshot.path(id),
                        format!("needs blob {b}, which no index object lists; run `coffer check`"),
                    )
                })?;
                plan.need(ObjectKind::Pack.path(&index.pack(loc.pack)), *until);
                Ok(())
            };
            while let Some(t) = stack.pop() {
                if !seen.insert(t) {
                    continue;
                }
                blob(&t, &mut plan)?;
                let tree = self.load_tree(&index, &t)?;
                for node in &tree.nodes {
                    for c in &node.content {
                        blob(&c.id, &mut plan)?;
                    }
                    if let Some(sub) = node.subtree {
                        stack.push(sub);
                    }
                }
            }
        }
        self.forget_cached_trees();
        let latest = plan.latest.expect("a snapshot needs protection");
        plan.need("config".into(), latest);
        for kind in [ObjectKind::Index, ObjectKind::Key, ObjectKind::Lock] {
            for o in self
                .backend()
                .list(kind.prefix())
                .map_err(|e| self.storage_err(e))?
            {
                plan.need(o.path, latest);
            }
        }
        Ok(plan)
    }

    /// Makes the store retain every object of `plan` until its time (see
    /// [`crate::Backend::ensure_retention`]). An empty plan does nothing.
    pub fn extend_store_retention(&self, plan: &RetentionPlan) -> Result<RetentionStats> {
        let Some(mode) = plan.mode else {
            return Ok(RetentionStats::default());
        };
        if plan.objects.is_empty() {
            return Ok(RetentionStats::default());
        }
        let items = plan
            .objects
            .iter()
            .map(|(p, u)| (p.clone(), ObjectRetention { mode, until: *u }))
            .collect();
        self.backend()
            .ensure_retention(items)
            .map_err(|e| self.storage_err(e))
    }

    /// Extends the store retention of the objects `snap` needs, before it
    /// is saved (see the module doc); nothing unless the backend writes
    /// with a lock's retention. Returns the retention the snapshot's own
    /// object needs, for [`Vault::protect_saved_snapshot`].
    pub(crate) fn protect_new_snapshot(
        &self,
        snap: &crate::Snapshot,
    ) -> Result<Option<(LockMode, Timestamp)>> {
        match self.backend().write_retention() {
            WriteRetention::None => return Ok(None),
            WriteRetention::Unknown(m) => return Err(Error::InvalidInput(m)),
            WriteRetention::Lock { .. } => {}
        }
        // Not saved yet, so without an id: its own object is handled by
        // protect_saved_snapshot once written.
        let unsaved = Id::default();
        let mut plan =
            self.plan_store_retention(Some(&[(unsaved, snap.clone())]), Timestamp::now())?;
        let own = plan.objects.remove(&ObjectKind::Snapshot.path(&unsaved));
        self.extend_store_retention(&plan)?;
        Ok(plan.mode.zip(own))
    }

    /// Gives a just-saved snapshot object the retention it needs (which can
    /// exceed the write retention when its `retain_until` is later).
    pub(crate) fn protect_saved_snapshot(
        &self,
        id: &Id,
        own: Option<(LockMode, Timestamp)>,
    ) -> Result<()> {
        let Some((mode, until)) = own else {
            return Ok(());
        };
        self.backend()
            .ensure_retention(vec![(
                ObjectKind::Snapshot.path(id),
                ObjectRetention { mode, until },
            )])
            .map(|_| ())
            .map_err(|e| self.storage_err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetentionPolicy;

    #[test]
    fn validate_policy() {
        let p = |min, max, d| LockPolicy {
            min_retention_days: min,
            max_retention_days: max,
            changeable_for_days: d,
        };
        assert!(p(7, 365, None).validate().is_ok());
        assert!(p(7, 365, Some(3)).validate().is_ok());
        let e = p(7, 365, Some(2)).validate().unwrap_err();
        assert!(e.contains("at least 3 days"), "{e}");
        assert!(p(30, 7, None).validate().is_err());
        assert_eq!(p(7, 365, Some(3)).mode(), LockMode::Compliance);
    }

    #[test]
    fn retention_bounds() {
        let lock = LockPolicy {
            min_retention_days: 7,
            max_retention_days: 90,
            changeable_for_days: None,
        };
        let hourly = RetentionPolicy {
            keep_hourly: Some(2),
            ..Default::default()
        };
        let e = lock.check_retention(&hourly).unwrap_err();
        assert!(
            e.contains("0.08 days, below the lock's minimum of 7"),
            "{e}"
        );
        let ok = RetentionPolicy {
            delete_after_days: Some(30),
            ..Default::default()
        };
        assert!(lock.check_retention(&ok).is_ok());
    }

    #[test]
    fn protections_by_mode() {
        let t: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        let mut lock = VaultLock {
            record: Id::default(),
            policy: LockPolicy {
                min_retention_days: 7,
                max_retention_days: 90,
                changeable_for_days: None,
            },
            mode: LockMode::Governance,
            created: t,
            changeable_until: None,
            who: String::new(),
            store_enforced: false,
        };
        let ru: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let p = snapshot_protections(Some(&lock), t, Some(ru), false);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].until, "2026-11-08T00:00:00Z".parse().unwrap());
        assert!(!p[0].absolute);
        assert!(snapshot_protections(Some(&lock), t, Some(ru), true).is_empty());
        assert_eq!(snapshot_protections(None, t, Some(ru), false).len(), 1);
        lock.mode = LockMode::Compliance;
        let p = snapshot_protections(Some(&lock), t, Some(ru), true);
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.absolute));
        assert_eq!(p[0].what, "locked (compliance)");
    }

    #[test]
    fn store_retention_plan_covers_what_snapshots_need() {
        use crate::test_backend::Mem;
        use crate::tree::{Node, NodeKind, Tree};
        use crate::{Archiver, BackupOptions, InitOptions, Secret, Snapshot};
        use std::sync::Arc;
        let v = Vault::init(
            Arc::new(Mem::default()),
            &Secret::KeyFile([7; 32]),
            &InitOptions::default(),
        )
        .unwrap();
        let index = v.load_index().unwrap();
        let a = Archiver::new(&v, &index, BackupOptions::default());
        let mut f = Node::new(b"f".to_vec(), NodeKind::File);
        f.content = a
            .save_bytes(&[42u8; 100_000], std::path::Path::new("f"))
            .unwrap();
        let tree = a.save_tree(&Tree::new(vec![f])).unwrap();
        a.finish().unwrap();
        let now: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        let day = jiff::SignedDuration::from_hours(24);
        let snap = |time: Timestamp, retain_until: Option<Timestamp>| {
            let mut j = serde_json::json!({
                "version": 1, "time": time.to_string(), "tree": tree,
                "paths": ["/d"], "hostname": "h", "username": "u",
                "source": {"kind": "files"}, "program_version": "test",
            });
            if let Some(r) = retain_until {
                j["retain_until"] = r.to_string().into();
            }
            v.save_snapshot(&serde_json::from_value::<Snapshot>(j).unwrap())
                .unwrap()
        };
        let young = snap(now - day, None);
        let kept = snap(now - day, Some(now + day * 60));
        let old = snap(now - day * 30, None);
        let policy = LockPolicy {
            min_retention_days: 7,
            max_retention_days: 90,
            changeable_for_days: None,
        };
        // A software-only lock needs no store retention.
        v.set_lock(&policy, "t", now - day * 2).unwrap();
        assert!(v
            .plan_store_retention(None, now)
            .unwrap()
            .objects
            .is_empty());
        v.set_lock_with(&policy, "t", now - day, true).unwrap();
        let plan = v.plan_store_retention(None, now).unwrap();
        assert_eq!(plan.mode, Some(LockMode::Governance));
        assert_eq!(plan.snapshots, 2, "the old snapshot's protection is over");
        let o = &plan.objects;
        assert_eq!(o[&ObjectKind::Snapshot.path(&young)], now + day * 6);
        assert_eq!(o[&ObjectKind::Snapshot.path(&kept)], now + day * 60);
        assert!(!o.contains_key(&ObjectKind::Snapshot.path(&old)));
        let packs: Vec<_> = o.keys().filter(|k| k.starts_with("packs/")).collect();
        assert!(!packs.is_empty());
        // The packs both need are kept as long as the longer-kept one.
        assert!(packs.iter().all(|p| o[*p] == now + day * 60));
        assert_eq!(o["config"], now + day * 60);
        for prefix in ["index/", "keys/", "locks/"] {
            assert!(o.keys().any(|k| k.starts_with(prefix)), "{prefix}");
        }
        assert_eq!(plan.latest, Some(now + day * 60));
        // Without object lock the backend refuses to extend.
        assert!(v.extend_store_retention(&plan).is_err());
    }
}
