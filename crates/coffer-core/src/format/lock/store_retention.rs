//! Store-enforced locks (S3 Object Lock): the retention the store gives
//! every object while a lock record says the store enforces the lock
//! ([`crate::LockRecord::store_enforced`]).
//!
//! Opening the vault tells the backend to write every object with the
//! lock's mode, retained until the write plus `min_retention_days` plus
//! [`RETENTION_SLACK_DAYS`] ([`Vault::apply_store_lock`]). Objects that a
//! snapshot needs for longer get their retention extended
//! ([`Vault::plan_store_retention`], [`Vault::extend_store_retention`]):
//! before each snapshot is saved for the objects that snapshot needs, and
//! over the whole vault when the lock is set and by `coffer vault
//! extend-retention`.

use jiff::Timestamp;
use serde::Serialize;

use crate::backend::{ObjectKind, ObjectRetention, RetentionStats, WriteRetention};
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::lock::vault_lock::{
    ser_opt_ts, snapshot_protections, write_retention_for, LockMode,
};
use crate::ops::retention::plan::add_days;
use crate::vault::handle::Vault;

/// Store retention is set this many days beyond what is needed, so that a
/// pack every daily backup reuses is extended about once a day rather than
/// at every backup.
pub const RETENTION_SLACK_DAYS: u32 = 1;

/// The snapshots that need store retention, each with until when, and the
/// lock's mode (see [`Vault::store_protected_snapshots`]).
pub(crate) type ProtectedSnapshots<'a> =
    Option<(LockMode, Vec<(&'a Id, &'a crate::Snapshot, Timestamp)>)>;

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
        let all;
        let snaps = match snaps {
            Some(s) => s,
            None => {
                all = self.snapshots(&crate::SnapshotFilter::default())?;
                &all[..]
            }
        };
        let Some((mode, needed)) = self.store_protected_snapshots(snaps, now)? else {
            return Ok(RetentionPlan::default());
        };
        let mut plan = RetentionPlan {
            mode: Some(mode),
            ..Default::default()
        };
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

    /// The snapshots of `snaps` that still need store retention at `now`,
    /// each with the time until which it needs it (see
    /// [`Vault::plan_store_retention`]), and the lock's mode; `None` when
    /// no lock in force is store-enforced. Prune uses it to give the packs
    /// it writes what their newest snapshot needs.
    pub(crate) fn store_protected_snapshots<'a>(
        &self,
        snaps: &'a [(Id, crate::Snapshot)],
        now: Timestamp,
    ) -> Result<ProtectedSnapshots<'a>> {
        let state = self.lock_state()?;
        let Some(lock) = state.lock.filter(|l| l.store_enforced) else {
            return Ok(None);
        };
        let needed = snaps
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
        Ok(Some((lock.mode, needed)))
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
