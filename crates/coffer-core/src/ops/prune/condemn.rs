//! Phase 1: find what no snapshot needs, choose the packs to repack
//! (within the run's repack budget and the storage class's minimum storage
//! duration), repack them, and write the plan that condemns the rest.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::cost::{free_to_delete_at, min_storage_days};
use super::plan::{condemned_packs, list_plans, CondemnedPack, PrunePlan};
use super::report::{ArchivedSkip, MinStorageSkip};
use super::{all_snapshots, used_blobs, PruneOptions, PruneReport};
use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::index::{Index, Location};
use crate::vault::handle::Vault;

/// Phase 1. Returns the plan it wrote, or on a dry run the plan it would
/// have written.
pub(super) fn condemn(
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
    let mut candidates: Vec<Candidate> = Vec::new();
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
            candidates.push(Candidate {
                n: n as u32,
                size,
                used: u,
            });
        }
    }
    for (pack, &size) in &listed {
        if !indexed.contains(pack) && !already.contains(pack) {
            report.packs_unreferenced += 1;
            report.bytes_unreferenced += size;
            condemned.push(CondemnedPack { id: *pack, size });
        }
    }

    let repack = choose_repack(vault, &index, &listed, candidates, opts, report)?;
    if !repack.is_empty() {
        let done =
            super::repack::repack_packs(vault, &index, &snaps, &repack, &used_in, opts, report)?;
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

/// A pack worth repacking: index number, listed size, used bytes.
struct Candidate {
    n: u32,
    size: u64,
    used: u64,
}

/// Which candidates this run repacks, emptiest first: data packs whose
/// storage class's minimum storage duration is not over are skipped
/// ([`super::cost`]), and data packs beyond `max_repack_percent` of the
/// vault's data-pack bytes are left for the next run; both are reported.
fn choose_repack(
    vault: &Vault,
    index: &Index,
    listed: &BTreeMap<Id, u64>,
    mut candidates: Vec<Candidate>,
    opts: &PruneOptions,
    report: &mut PruneReport,
) -> Result<Vec<u32>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // Emptiest first: each byte of budget then frees the most.
    candidates.sort_by(|a, b| {
        let fa = a.used as f64 / a.size.max(1) as f64;
        let fb = b.used as f64 / b.size.max(1) as f64;
        fa.total_cmp(&fb).then(a.n.cmp(&b.n))
    });
    let archived = vault.backend().archive_class();
    let class = vault
        .backend()
        .data_pack_class()
        .and_then(|c| min_storage_days(&c).map(|d| (c, d)));
    let now = jiff::Timestamp::now();
    let budget = (opts.max_repack_percent < 100.0).then(|| {
        let data_bytes: u64 = index
            .packs()
            .iter()
            .enumerate()
            .filter(|(n, _)| !index.is_tree_pack(*n as u32))
            .filter_map(|(_, p)| listed.get(p))
            .sum();
        (data_bytes as f64 * opts.max_repack_percent.max(0.0) / 100.0) as u64
    });
    report.repack_budget = budget;
    let mut spent = 0u64;
    let mut chosen = Vec::new();
    for c in candidates {
        if index.is_tree_pack(c.n) {
            chosen.push(c.n);
            continue;
        }
        // A pack of an archive class cannot be read without a thaw: never
        // repack one (a wholly unused one is deleted elsewhere).
        if let Some(class) = &archived {
            let s = report.archived_skipped.get_or_insert_with(|| ArchivedSkip {
                class: class.clone(),
                packs: 0,
                bytes: 0,
            });
            s.packs += 1;
            s.bytes += c.size;
            continue;
        }
        if let Some((class, min_days)) = &class {
            let path = ObjectKind::Pack.path(&index.pack(c.n));
            let written = match vault.backend().modified(&path) {
                Ok(t) => t,
                Err(e) if e.not_found => continue,
                Err(e) => return Err(vault.storage_err(e)),
            };
            let free_at = written.map(|w| free_to_delete_at(w, *min_days));
            if free_at.is_none_or(|f| f > now) {
                let s = report
                    .min_storage_skipped
                    .get_or_insert_with(|| MinStorageSkip {
                        class: class.clone(),
                        min_days: *min_days,
                        packs: 0,
                        bytes: 0,
                        next_eligible: None,
                    });
                s.packs += 1;
                s.bytes += c.size;
                if let Some(f) = free_at {
                    let earlier = s
                        .next_eligible
                        .as_deref()
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .is_none_or(|t| f < t);
                    if earlier {
                        s.next_eligible = Some(f.to_string());
                    }
                }
                continue;
            }
        }
        if let Some(b) = budget {
            if spent + c.size > b {
                report.packs_repack_deferred += 1;
                report.bytes_repack_deferred += c.size;
                continue;
            }
        }
        spent += c.size;
        chosen.push(c.n);
    }
    // Index order, as before the budget: the new packs then group blobs as
    // the old ones did.
    chosen.sort_unstable();
    Ok(chosen)
}
