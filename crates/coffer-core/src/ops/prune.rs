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

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::index::{Index, IndexFile, IndexPack, Location};
use crate::format::pack::{open_blob, BlobKind, PackBuilder};
use crate::format::session::{
    self, Session, SessionGuard, SessionKind, CLOCK_SKEW, SESSION_REMOVE_AFTER,
};
use crate::format::snapshot::Snapshot;
use crate::format::staging;
use crate::vault::handle::Vault;

/// Default of [`PruneOptions::repack_below`]: repack packs less than half used.
pub const DEFAULT_REPACK_BELOW: f64 = 0.5;
/// A pack a plan condemns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CondemnedPack {
    /// The pack's name.
    pub id: Id,
    /// Its size in bytes when it was condemned.
    pub size: u64,
}

/// The content of a `prune/` object: packs to delete once no backup that
/// could still reference them is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunePlan {
    /// Format version (1).
    pub version: u32,
    /// RFC 3339 time the plan was made (just before it was written).
    pub created: String,
    /// Host that made it.
    pub host: String,
    /// The condemned packs.
    pub packs: Vec<CondemnedPack>,
}

impl PrunePlan {
    /// `created`, parsed; an unparsable time counts as now, which defers
    /// the plan behind every live session (the safe side).
    pub fn created_at(&self) -> jiff::Timestamp {
        self.created
            .parse()
            .unwrap_or_else(|_| jiff::Timestamp::now())
    }
}

/// Readable plans and the errors of damaged ones.
pub type PlansAndDamage = (Vec<(Id, PrunePlan)>, Vec<Error>);

/// Loads one plan.
pub fn load_plan(vault: &Vault, id: &Id) -> Result<PrunePlan> {
    let body = vault.load_object(ObjectKind::PrunePlan, id)?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::damaged(
            ObjectKind::PrunePlan.path(id),
            format!("does not parse: {e}"),
        )
    })
}

/// Every prune plan, and the errors of damaged ones. A plan deleted between
/// the listing and the read (its delete phase just finished) is left out.
pub fn list_plans(vault: &Vault) -> Result<PlansAndDamage> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (id, _) in vault.list(ObjectKind::PrunePlan)? {
        match load_plan(vault, &id) {
            Ok(p) => good.push((id, p)),
            Err(Error::Storage { source, .. }) if source.not_found => {}
            Err(e @ Error::Damaged { .. }) => bad.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok((good, bad))
}

/// The union of the packs the plans condemn.
pub fn condemned_packs(plans: &[(Id, PrunePlan)]) -> HashSet<Id> {
    plans
        .iter()
        .flat_map(|(_, p)| p.packs.iter().map(|c| c.id))
        .collect()
}

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
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            repack_below: DEFAULT_REPACK_BELOW,
            dry_run: false,
            pack_size: 8 << 20,
            local_dir: None,
        }
    }
}

/// A live session, as named in a report.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// `backup` or `prune`.
    pub kind: SessionKind,
    /// Host it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// When it started (RFC 3339).
    pub started: String,
}

impl From<&Session> for SessionInfo {
    fn from(s: &Session) -> Self {
        SessionInfo {
            kind: s.kind,
            host: s.host.clone(),
            pid: s.pid,
            started: s.started.clone(),
        }
    }
}

/// A plan whose delete phase waits for running sessions.
#[derive(Debug, Clone, Serialize)]
pub struct DeferredPlan {
    /// The plan's id.
    pub plan: Id,
    /// When it was made.
    pub created: String,
    /// Packs it condemns.
    pub packs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// The sessions it waits for (a damaged session object counts as one,
    /// named by its path in `host`).
    pub sessions: Vec<SessionInfo>,
}

/// What prune did (or, on a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// Nothing was written or deleted.
    pub dry_run: bool,
    /// Snapshots whose data was kept.
    pub snapshots: usize,
    /// Packs in the vault when prune started, and their bytes.
    pub packs: usize,
    /// Bytes of those packs.
    pub bytes: u64,
    /// Packs no snapshot uses (condemned by this run's plan).
    pub packs_unused: usize,
    /// Their bytes.
    pub bytes_unused: u64,
    /// Packs no index object lists (left by killed or running backups).
    pub packs_unreferenced: usize,
    /// Their bytes.
    pub bytes_unreferenced: u64,
    /// Packs repacked (their used blobs copied, the packs condemned).
    pub packs_repacked: usize,
    /// Bytes of the packs repacked.
    pub bytes_repacked: u64,
    /// Blobs copied by repacking.
    pub blobs_copied: u64,
    /// New packs written by repacking.
    pub packs_written: usize,
    /// Bytes of the new packs.
    pub bytes_written: u64,
    /// The plan this run wrote (none when nothing was condemned).
    pub plan: Option<Id>,
    /// Plans whose delete phase ran (this run's included).
    pub plans_done: Vec<Id>,
    /// Plans that wait for running sessions.
    pub plans_deferred: Vec<DeferredPlan>,
    /// Packs deleted.
    pub packs_deleted: usize,
    /// Bytes of the packs deleted.
    pub bytes_deleted: u64,
    /// Condemned packs kept because a snapshot made after the plan uses them.
    pub packs_spared: usize,
    /// Index objects replaced by ones without the deleted packs.
    pub index_objects_rewritten: usize,
    /// Bytes freed now: deleted minus written by repacking (on a dry run,
    /// an estimate that assumes no plan is deferred).
    pub bytes_freed: u64,
    /// Session objects removed (older than a day, or of processes gone on
    /// this machine).
    pub sessions_removed: usize,
    /// `.tmp/` leftovers removed from a local vault.
    pub tmp_files_removed: usize,
    /// Things skipped, one line each (a pack that could not be repacked …).
    pub warnings: Vec<String>,
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
    let pending = condemn(vault, opts, &mut report)?;
    delete_phase(
        vault,
        guard.as_ref().map(|g| g.id()),
        pending.as_ref(),
        opts.dry_run,
        &mut report,
    )?;
    report.bytes_freed = report.bytes_deleted.saturating_sub(report.bytes_written);
    drop(guard);
    Ok(report)
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
fn used_blobs(vault: &Vault, index: &Index, snaps: &[(Id, Snapshot)]) -> Result<HashSet<Id>> {
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
fn all_snapshots(vault: &Vault) -> Result<Vec<(Id, Snapshot)>> {
    let (snaps, bad) = vault.snapshots_lenient()?;
    if let Some(e) = bad.into_iter().next() {
        return Err(Error::InvalidInput(format!(
            "{e}; prune cannot tell which data that snapshot needs and deletes nothing: run `coffer check`"
        )));
    }
    Ok(snaps)
}

/// Phase 1. Returns the plan it wrote, or on a dry run the plan it would
/// have written.
fn condemn(
    vault: &Vault,
    opts: &PruneOptions,
    report: &mut PruneReport,
) -> Result<Option<(Id, PrunePlan)>> {
    // Order matters: plans, then packs, then snapshots, then the index. A
    // pack listed here is either in an index object loaded below or
    // belongs to a backup that has not written its index yet (its session
    // holds the plan back); every blob a listed snapshot needs is in the
    // index loaded after it.
    let (plans, bad_plans) = list_plans(vault)?;
    if let Some(e) = bad_plans.into_iter().next() {
        return Err(e);
    }
    let already = condemned_packs(&plans);
    let listed: BTreeMap<Id, u64> = vault.list(ObjectKind::Pack)?.into_iter().collect();
    report.packs = listed.len();
    report.bytes = listed.values().sum();
    let snaps = all_snapshots(vault)?;
    report.snapshots = snaps.len();
    let index = vault.load_index()?;
    let used = used_blobs(vault, &index, &snaps)?;

    let mut used_bytes = vec![0u64; index.packs().len()];
    let mut used_in: HashMap<u32, Vec<(Id, Location)>> = HashMap::new();
    // A pack the index chose for a used blob but the listing above lacks was
    // either written since (by a backup that finished meanwhile) or is
    // missing: list again to tell. Only listed packs are candidates below.
    let mut relisted: Option<HashSet<Id>> = None;
    for id in &used {
        let loc = index.lookup(id).expect("checked by used_blobs");
        let pack = index.pack(loc.pack);
        if !listed.contains_key(&pack) && !already.contains(&pack) {
            if relisted.is_none() {
                relisted = Some(
                    vault
                        .list(ObjectKind::Pack)?
                        .into_iter()
                        .map(|(p, _)| p)
                        .collect(),
                );
            }
            if !relisted.as_ref().expect("set above").contains(&pack) {
                return Err(Error::InvalidInput(format!(
                    "pack {} holds blob {id}, which a snapshot needs, but is missing from {}; prune deletes nothing in a damaged vault: run `coffer check`",
                    ObjectKind::Pack.path(&pack),
                    vault.backend().location()
                )));
            }
        }
        used_bytes[loc.pack as usize] += loc.len as u64;
        used_in.entry(loc.pack).or_default().push((*id, loc));
    }

    let mut condemned: Vec<CondemnedPack> = Vec::new();
    let mut repack: Vec<u32> = Vec::new();
    let indexed: HashSet<Id> = index.packs().iter().copied().collect();
    for (n, pack) in index.packs().iter().enumerate() {
        if already.contains(pack) {
            continue;
        }
        let Some(&size) = listed.get(pack) else {
            continue;
        };
        let u = used_bytes[n];
        if u == 0 {
            report.packs_unused += 1;
            report.bytes_unused += size;
            condemned.push(CondemnedPack { id: *pack, size });
        } else if (u as f64) < opts.repack_below * size as f64 {
            repack.push(n as u32);
        }
    }
    for (pack, &size) in &listed {
        if !indexed.contains(pack) && !already.contains(pack) {
            report.packs_unreferenced += 1;
            report.bytes_unreferenced += size;
            condemned.push(CondemnedPack { id: *pack, size });
        }
    }

    if !repack.is_empty() {
        let done = repack_packs(vault, &index, &repack, &used_in, opts, report)?;
        for n in done {
            let id = index.pack(n);
            let size = listed[&id];
            report.packs_repacked += 1;
            report.bytes_repacked += size;
            condemned.push(CondemnedPack { id, size });
        }
    }
    if condemned.is_empty() {
        return Ok(None);
    }
    let plan = PrunePlan {
        version: 1,
        created: jiff::Timestamp::now().to_string(),
        host: crate::hostname(),
        packs: condemned,
    };
    if opts.dry_run {
        return Ok(Some((Id([0; 32]), plan)));
    }
    // The copy map (a cache of `coffer copy`) may map a source tree to a
    // destination tree whose chunks this plan condemns; a copy trusting it
    // would write a snapshot that needs them. The map goes before the plan
    // is written: a copy that loaded it earlier holds a session that started
    // before the plan, so the delete phase waits for it, and one that starts
    // later finds no stale entry.
    for o in vault
        .backend()
        .list(crate::ops::copy::COPYMAP_PREFIX)
        .map_err(|e| vault.storage_err(e))?
    {
        vault
            .backend()
            .delete(&o.path)
            .map_err(|e| vault.storage_err(e))?;
    }
    let id = vault.save_object(
        ObjectKind::PrunePlan,
        &serde_json::to_vec(&plan).expect("serializable"),
    )?;
    report.plan = Some(id);
    Ok(Some((id, plan)))
}

/// Copies the used blobs of packs `packs` into new packs and indexes them.
/// Returns the packs whose blobs all moved (a pack that cannot be read or
/// holds a blob that fails verification is left alone, with a warning).
fn repack_packs(
    vault: &Vault,
    index: &Index,
    packs: &[u32],
    used_in: &HashMap<u32, Vec<(Id, Location)>>,
    opts: &PruneOptions,
    report: &mut PruneReport,
) -> Result<Vec<u32>> {
    if opts.dry_run {
        for n in packs {
            for (_, loc) in &used_in[n] {
                report.blobs_copied += 1;
                report.bytes_written += loc.len as u64;
            }
        }
        return Ok(packs.to_vec());
    }
    let key = vault.key();
    let mut builders = [PackBuilder::default(), PackBuilder::default()];
    let mut new_packs: Vec<IndexPack> = Vec::new();
    let mut done = Vec::new();
    let write =
        |b: PackBuilder, new_packs: &mut Vec<IndexPack>, report: &mut PruneReport| -> Result<()> {
            let f = b.finish(key);
            report.packs_written += 1;
            report.bytes_written += f.bytes.len() as u64;
            let (id, blobs) = f
                .store(&**vault.backend(), false)
                .map_err(|e| vault.storage_err(e))?;
            new_packs.push(IndexPack { id, blobs });
            Ok(())
        };
    for &n in packs {
        let pack = index.pack(n);
        let path = ObjectKind::Pack.path(&pack);
        let bytes = match vault.backend().read(&path) {
            Ok(b) => b,
            Err(e) => {
                report
                    .warnings
                    .push(format!("not repacked: {path} cannot be read ({e})"));
                continue;
            }
        };
        // Verify every blob before copying any, so a damaged pack is left
        // whole for `check` to report.
        let kind = if index.is_tree_pack(n) {
            BlobKind::Tree
        } else {
            BlobKind::Data
        };
        let mut blobs = Vec::new();
        let mut bad = None;
        for (id, loc) in &used_in[&n] {
            let (a, b) = (loc.offset as usize, loc.offset as usize + loc.len as usize);
            match bytes
                .get(a..b)
                .map(|s| (s, open_blob(key, id, s, None, &path)))
            {
                Some((sealed, Ok(plain))) => blobs.push((*id, sealed, plain.len() as u32)),
                Some((_, Err(e))) => {
                    bad = Some(e.to_string());
                    break;
                }
                None => {
                    bad = Some(format!("blob {id} lies past the end of the pack"));
                    break;
                }
            }
        }
        if let Some(why) = bad {
            report.warnings.push(format!(
                "not repacked: {path}: {why}; run `coffer check --read-data`"
            ));
            continue;
        }
        let bi = (kind == BlobKind::Tree) as usize;
        for (id, sealed, raw_len) in blobs {
            builders[bi]
                .add(kind, id, sealed, raw_len)
                .map_err(|e| vault.storage_err(e))?;
            report.blobs_copied += 1;
            if builders[bi].size() >= opts.pack_size {
                write(std::mem::take(&mut builders[bi]), &mut new_packs, report)?;
            }
        }
        done.push(n);
    }
    for b in builders {
        if !b.is_empty() {
            write(b, &mut new_packs, report)?;
        }
    }
    // The new packs are indexed before the plan condemns the old ones, so
    // the blobs always have an indexed copy that stays.
    if !new_packs.is_empty() {
        let f = IndexFile {
            version: 1,
            packs: new_packs,
        };
        vault.save_object(
            ObjectKind::Index,
            &postcard::to_stdvec(&f).expect("serializable"),
        )?;
    }
    Ok(done)
}

/// Phase 2 for every plan that no live session holds back. `pending` is
/// the plan phase 1 just made (on a dry run it was not written, and is
/// only counted).
fn delete_phase(
    vault: &Vault,
    own: Option<Id>,
    pending: Option<&(Id, PrunePlan)>,
    dry_run: bool,
    report: &mut PruneReport,
) -> Result<()> {
    // Sessions first: a backup that ends after this listing wrote its
    // snapshot before it deleted its session, and the snapshot listing
    // below then finds it.
    let now = jiff::Timestamp::now();
    let (sessions, bad_sessions) = session::list(vault)?;
    let live: Vec<&Session> = sessions
        .iter()
        .filter(|(id, s)| Some(*id) != own && s.is_live(now))
        .map(|(_, s)| s)
        .collect();
    let (mut plans, bad_plans) = list_plans(vault)?;
    for e in bad_plans {
        report.warnings.push(format!(
            "{e}; that plan is not run: delete the object if it stays damaged"
        ));
    }
    if dry_run {
        if let Some(p) = pending {
            plans.push(p.clone());
        }
    }
    let mut allowed: Vec<&(Id, PrunePlan)> = Vec::new();
    for p in &plans {
        let deadline =
            p.1.created_at()
                .checked_add(CLOCK_SKEW)
                .unwrap_or(jiff::Timestamp::MAX);
        let mut blockers: Vec<SessionInfo> = live
            .iter()
            .filter(|s| s.kind == SessionKind::Prune || s.started_at() < deadline)
            .map(|s| SessionInfo::from(*s))
            .collect();
        for e in &bad_sessions {
            blockers.push(SessionInfo {
                kind: SessionKind::Backup,
                host: format!("unknown (damaged session object: {e})"),
                pid: 0,
                started: String::new(),
            });
        }
        if blockers.is_empty() {
            allowed.push(p);
        } else {
            report.plans_deferred.push(DeferredPlan {
                plan: p.0,
                created: p.1.created.clone(),
                packs: p.1.packs.len(),
                bytes: p.1.packs.iter().map(|c| c.size).sum(),
                sessions: blockers,
            });
        }
    }
    if allowed.is_empty() {
        return Ok(());
    }

    // Recompute what is used now: a backup that started before a plan may
    // have finished since and referenced a condemned pack.
    let snaps = all_snapshots(vault)?;
    let index = vault.load_index()?;
    let used = used_blobs(vault, &index, &snaps)?;
    let mut spared: HashSet<Id> = HashSet::new();
    for id in &used {
        let loc = index.lookup(id).expect("checked by used_blobs");
        // The index prefers a copy outside condemned packs; if it still
        // chose a condemned one, there is no other.
        if index.is_condemned(loc.pack) {
            spared.insert(index.pack(loc.pack));
        }
    }
    // On a dry run the pending plan is not in the index's condemned set, so
    // nothing it condemns counts as spared: phase 1 just computed them unused.
    let mut to_delete: BTreeSet<Id> = BTreeSet::new();
    for (_, p) in &allowed {
        for c in &p.packs {
            if spared.contains(&c.id) {
                report.packs_spared += 1;
            } else {
                to_delete.insert(c.id);
            }
        }
    }
    let listed: HashMap<Id, u64> = vault.list(ObjectKind::Pack)?.into_iter().collect();
    let sizes: HashMap<Id, u64> = allowed
        .iter()
        .flat_map(|(_, p)| p.packs.iter().map(|c| (c.id, c.size)))
        .collect();
    for p in &to_delete {
        // A pack already gone (an earlier, interrupted run) frees nothing
        // now; on a dry run the pending plan's packs are all still there.
        if let Some(size) = listed.get(p) {
            report.packs_deleted += 1;
            report.bytes_deleted += size;
        } else if dry_run {
            report.packs_deleted += 1;
            report.bytes_deleted += sizes[p];
        }
    }
    if dry_run {
        return Ok(());
    }

    // Index objects first (replacement written before the old one goes),
    // then packs, then plans: each step leaves a vault check passes.
    for (iid, _) in vault.list(ObjectKind::Index)? {
        let file = match vault.load_index_file(&iid) {
            Ok(f) => f,
            Err(Error::Storage { source, .. }) if source.not_found => continue,
            Err(e) => return Err(e),
        };
        if !file.packs.iter().any(|p| to_delete.contains(&p.id)) {
            continue;
        }
        let keep = IndexFile {
            version: 1,
            packs: file
                .packs
                .into_iter()
                .filter(|p| !to_delete.contains(&p.id))
                .collect(),
        };
        if !keep.packs.is_empty() {
            vault.save_object(
                ObjectKind::Index,
                &postcard::to_stdvec(&keep).expect("serializable"),
            )?;
        }
        vault
            .backend()
            .delete(&ObjectKind::Index.path(&iid))
            .map_err(|e| vault.storage_err(e))?;
        report.index_objects_rewritten += 1;
    }
    for p in &to_delete {
        vault
            .backend()
            .delete(&ObjectKind::Pack.path(p))
            .map_err(|e| vault.storage_err(e))?;
    }
    for (pid, _) in &allowed {
        vault
            .backend()
            .delete(&ObjectKind::PrunePlan.path(pid))
            .map_err(|e| vault.storage_err(e))?;
        report.plans_done.push(*pid);
    }
    Ok(())
}
