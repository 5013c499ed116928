//! Prune: removes packs no snapshot needs and repacks mostly-empty ones,
//! while other backups keep writing to the vault.
//!
//! Objects stay write-once. Prune works in two phases:
//!
//! 1. **Condemn** ([`prune`] always runs it): list the prune plans, the
//!    packs and the snapshots, in that order, then load the index and walk
//!    every snapshot's trees to find the blobs in use. Packs that hold no
//!    used blob, and packs that no index object lists, are condemned. Packs
//!    whose used bytes are below [`PruneOptions::repack_below`] of their
//!    size have their used blobs copied (verified against their ids, never
//!    re-encrypted) into new packs, which an index object lists, and are
//!    condemned too. A sealed plan `prune/<id>` records the condemned packs
//!    and the time. Nothing is deleted in this phase.
//! 2. **Delete**, for every plan: only when no live backup session (see
//!    [`crate::session`]) started before the plan's `created` plus
//!    [`CLOCK_SKEW`], and no other prune is live; otherwise the plan waits
//!    for a later prune. Then the used blobs are computed again, and every
//!    condemned pack that holds the only non-condemned-preferred copy of a
//!    used blob is spared (a backup that started before the plan may have
//!    referenced it). Index objects that list a pack to delete are replaced
//!    by ones without it (new object first, then the old one is deleted),
//!    then the packs are deleted, then the plan.
//!
//! Writers load the plans with the index and do not deduplicate against
//! blobs whose only copies are condemned ([`crate::Index::contains_live`]);
//! readers prefer copies outside condemned packs. A kill between any two
//! steps leaves duplicates, unindexed packs or a plan to finish, never a
//! snapshot that needs a missing blob: the next prune completes the job.

//!
//! Three limits make a run smaller than "everything prunable", and the
//! report says what each left for a later run:
//!
//! - [`PruneOptions::max_repack_percent`]: at most that share of the vault's
//!   data-pack bytes is repacked per run (the emptiest packs first); the
//!   rest is counted in [`PruneReport::packs_repack_deferred`].
//! - Cost ([`cost`]): a data pack in a storage class with a minimum storage
//!   duration (S3 STANDARD_IA, GLACIER, ...) is not repacked before that
//!   duration is over, since deleting it early is billed as if it had been
//!   kept that long, on top of the new copy
//!   ([`PruneReport::min_storage_skipped`]).
//! - [`PruneOptions::cancel`] (the daemon's completion window): checked at
//!   safe points, between repacked packs and before and during deletes; the
//!   run stops there, writes the plan of what it already repacked (so that
//!   work is not lost) and reports [`PruneReport::stopped`].
//!
//! On a vault whose lock the store enforces (S3 Object Lock), the packs
//! repacking writes get the retention the newest snapshot that needs a
//! blob in them requires, not only the write default (see [`repack`]).

mod condemn;
pub mod cost;
mod delete;
mod plan;
mod repack;
mod report;
#[cfg(test)]
mod tests;

pub use plan::{condemned_packs, list_plans, load_plan, CondemnedPack, PlansAndDamage, PrunePlan};
pub use report::{ArchivedSkip, DeferredPlan, MinStorageSkip, PruneReport, SessionInfo};

use std::collections::HashSet;
use std::path::PathBuf;

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::index::Index;
use crate::format::session::{self, Session, SessionGuard, SessionKind, SESSION_REMOVE_AFTER};
use crate::format::snapshot::Snapshot;
use crate::format::staging;
use crate::ops::archiver::Cancel;
use crate::vault::handle::Vault;

/// Default of [`PruneOptions::repack_below`]: repack packs less than half used.
pub const DEFAULT_REPACK_BELOW: f64 = 0.5;

/// Options of [`prune`].
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Repack a pack whose used bytes are below this fraction of its size
    /// (0 never repacks; default [`DEFAULT_REPACK_BELOW`]).
    pub repack_below: f64,
    /// Compute and report, write and delete nothing.
    pub dry_run: bool,
    /// Target size of the packs repacking writes.
    pub pack_size: usize,
    /// The vault's directory when it is local: `.tmp/` leftovers of dead
    /// writers are removed there ([`staging::clean_tmp`]).
    pub local_dir: Option<PathBuf>,
    /// At most this percent (0 to 100) of the vault's data-pack bytes is
    /// repacked in one run; the emptiest candidates go first, the others
    /// wait for the next run. Tree packs (small, and read by every restore)
    /// are not limited. 100 (the default) repacks every candidate.
    pub max_repack_percent: f64,
    /// Asked at safe points; once cancelled, the run stops there (see the
    /// module doc) with [`PruneReport::stopped`] set.
    pub cancel: Option<Cancel>,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            repack_below: DEFAULT_REPACK_BELOW,
            dry_run: false,
            pack_size: 8 << 20,
            local_dir: None,
            max_repack_percent: 100.0,
            cancel: None,
        }
    }
}

/// Runs prune: removes dead sessions and temporary files, condemns (phase
/// 1), then runs the delete phase of every plan that no running session
/// holds back (phase 2). With `dry_run` it computes the same and writes
/// nothing.
pub fn prune(vault: &Vault, opts: &PruneOptions) -> Result<PruneReport> {
    let mut report = PruneReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    // Our own session makes a second prune defer its delete phase while we
    // run, so two delete phases never race.
    let guard = if opts.dry_run {
        None
    } else {
        Some(SessionGuard::start(vault, SessionKind::Prune)?)
    };
    remove_dead_sessions(
        vault,
        guard.as_ref().map(|g| g.id()),
        opts.dry_run,
        &mut report,
    )?;
    if let Some(dir) = &opts.local_dir {
        let own = guard.as_ref().map(|g| g.id());
        let now = jiff::Timestamp::now();
        let (sessions, damaged) = session::list(vault)?;
        let live: Vec<&Session> = sessions
            .iter()
            .filter(|(id, s)| Some(*id) != own && s.is_live(now))
            .map(|(_, s)| s)
            .collect();
        report.tmp_files_removed =
            staging::clean_tmp(dir, &live, !damaged.is_empty(), opts.dry_run)?;
    }
    let pending = condemn::condemn(vault, opts, &mut report)?;
    if report.stopped.is_none() {
        report.stopped = stop_reason(opts);
    }
    if report.stopped.is_none() {
        delete::delete_phase(
            vault,
            guard.as_ref().map(|g| g.id()),
            pending.as_ref(),
            opts,
            &mut report,
        )?;
    }
    report.bytes_freed = report.bytes_deleted.saturating_sub(report.bytes_written);
    drop(guard);
    Ok(report)
}

/// Why the run must stop now, if it must.
fn stop_reason(opts: &PruneOptions) -> Option<String> {
    opts.cancel.as_ref().and_then(|c| c.reason())
}

/// Removes session objects that can no longer be live: refreshed more than
/// [`SESSION_REMOVE_AFTER`] ago, or of a process gone on this machine.
fn remove_dead_sessions(
    vault: &Vault,
    own: Option<Id>,
    dry_run: bool,
    report: &mut PruneReport,
) -> Result<()> {
    let now = jiff::Timestamp::now();
    let (sessions, _) = session::list(vault)?;
    for (id, s) in sessions {
        if Some(id) == own {
            continue;
        }
        if session::age(now, s.refreshed_at()) > SESSION_REMOVE_AFTER || s.is_dead_here() {
            if !dry_run {
                vault
                    .backend()
                    .delete(&ObjectKind::Session.path(&id))
                    .map_err(|e| vault.storage_err(e))?;
            }
            report.sessions_removed += 1;
        }
    }
    Ok(())
}

/// Every blob the snapshots reach: their trees and the chunks the trees
/// name. Fails if a tree cannot be read or a blob is not in the index:
/// prune cannot tell what is used in a damaged vault.
pub(super) fn used_blobs(
    vault: &Vault,
    index: &Index,
    snaps: &[(Id, Snapshot)],
) -> Result<HashSet<Id>> {
    let mut used = HashSet::new();
    let mut trees_seen = HashSet::new();
    for (sid, snap) in snaps {
        let mut stack = vec![snap.tree];
        while let Some(t) = stack.pop() {
            if !trees_seen.insert(t) {
                continue;
            }
            used.insert(t);
            let tree = vault.load_tree(index, &t).map_err(|e| {
                Error::InvalidInput(format!(
                    "prune cannot read tree {t} of snapshot {} ({e}); it deletes nothing in a damaged vault: run `coffer check`",
                    sid.short()
                ))
            })?;
            for node in &tree.nodes {
                for c in &node.content {
                    used.insert(c.id);
                }
                if let Some(sub) = node.subtree {
                    stack.push(sub);
                }
            }
        }
    }
    vault.forget_cached_trees();
    for id in &used {
        if !index.contains(id) {
            return Err(Error::InvalidInput(format!(
                "blob {id}, which a snapshot needs, is missing from the index of {}; prune deletes nothing in a damaged vault: run `coffer check`",
                vault.backend().location()
            )));
        }
    }
    Ok(used)
}

/// Snapshots, failing on a damaged one (its data would look unused).
pub(super) fn all_snapshots(vault: &Vault) -> Result<Vec<(Id, Snapshot)>> {
    let (snaps, bad) = vault.snapshots_lenient()?;
    if let Some(e) = bad.into_iter().next() {
        return Err(Error::InvalidInput(format!(
            "{e}; prune cannot tell which data that snapshot needs and deletes nothing: run `coffer check`"
        )));
    }
    Ok(snaps)
}
