//! Phase 2: the plans no live session holds back are carried out: index
//! objects rewritten without their packs, the packs deleted, the plans
//! deleted.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::plan::{list_plans, PrunePlan};
use super::report::{DeferredPlan, SessionInfo};
use super::{all_snapshots, stop_reason, used_blobs, PruneOptions, PruneReport};
use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::index::IndexFile;
use crate::format::session::{self, Session, SessionKind, CLOCK_SKEW};
use crate::vault::handle::Vault;

/// Phase 2 for every plan that no live session holds back. `pending` is
/// the plan phase 1 just made (on a dry run it was not written, and is
/// only counted).
pub(super) fn delete_phase(
    vault: &Vault,
    own: Option<Id>,
    pending: Option<&(Id, PrunePlan)>,
    opts: &PruneOptions,
    report: &mut PruneReport,
) -> Result<()> {
    let dry_run = opts.dry_run;
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
    // A safe point before each delete: a run stopped here leaves packs no
    // index object lists and the plans that condemn them, which the next
    // prune finishes.
    for (i, p) in to_delete.iter().enumerate() {
        if let Some(why) = stop_reason(opts) {
            report.stopped = Some(format!(
                "{why}; stopped after deleting {i} of {} condemned packs (the next prune deletes the rest)",
                to_delete.len()
            ));
            // Counted above as deleted; they are not.
            for q in to_delete.iter().skip(i) {
                if let Some(size) = listed.get(q) {
                    report.packs_deleted -= 1;
                    report.bytes_deleted -= size;
                }
            }
            return Ok(());
        }
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
