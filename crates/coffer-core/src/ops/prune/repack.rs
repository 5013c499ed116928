//! Repacking: the used blobs of mostly-empty packs are copied (verified
//! against their ids, never re-encrypted) into new packs, which a new index
//! object lists before any plan condemns the old packs.
//!
//! On a vault whose lock the store enforces, every new pack is given the
//! retention the newest snapshot that needs one of its blobs requires (the
//! write default only covers the lock's minimum from now, which falls short
//! for a snapshot with a later `retain_until`), and the new index object the
//! latest any snapshot needs, as [`Vault::plan_store_retention`] would; both
//! before the plan condemns the old packs, so a crash in between leaves the
//! old, still-retained copies in place.

use std::collections::{HashMap, HashSet};

use super::{stop_reason, PruneOptions, PruneReport};
use crate::backend::{ObjectKind, ObjectRetention, WriteRetention};
use crate::error::Result;
use crate::format::id::Id;
use crate::format::index::{Index, IndexFile, IndexPack, Location};
use crate::format::lock::vault_lock::LockMode;
use crate::format::pack::{open_blob, BlobKind, PackBuilder};
use crate::format::snapshot::Snapshot;
use crate::vault::handle::Vault;

/// Copies the used blobs of packs `packs` into new packs and indexes them.
/// Returns the packs whose blobs all moved (a pack that cannot be read or
/// holds a blob that fails verification is left alone, with a warning).
#[allow(clippy::too_many_arguments)]
pub(super) fn repack_packs(
    vault: &Vault,
    index: &Index,
    snaps: &[(Id, Snapshot)],
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
    let wanted: HashSet<Id> = packs
        .iter()
        .flat_map(|n| used_in[n].iter().map(|(id, _)| *id))
        .collect();
    let protect = retention_needs(vault, index, snaps, &wanted)?;
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
    for (i, &n) in packs.iter().enumerate() {
        // A safe point: what was copied so far is flushed and indexed below,
        // and only the packs it fully copied are condemned.
        if let Some(why) = stop_reason(opts) {
            report.stopped = Some(format!(
                "{why}; stopped before repacking {} more of {} packs (the next prune repacks them)",
                packs.len() - i,
                packs.len()
            ));
            break;
        }
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
        let mut items = Vec::new();
        if let Some(p) = &protect {
            for np in &new_packs {
                let until = np.blobs.iter().filter_map(|b| p.until.get(&b.id)).max();
                if let Some(&until) = until {
                    items.push((
                        ObjectKind::Pack.path(&np.id),
                        ObjectRetention {
                            mode: p.mode,
                            until,
                        },
                    ));
                }
            }
        }
        let f = IndexFile {
            version: 1,
            packs: new_packs,
        };
        let iid = vault.save_object(
            ObjectKind::Index,
            &postcard::to_stdvec(&f).expect("serializable"),
        )?;
        if let Some(p) = &protect {
            let packs_needing = items.len();
            if let Some(latest) = p.latest {
                items.push((
                    ObjectKind::Index.path(&iid),
                    ObjectRetention {
                        mode: p.mode,
                        until: latest,
                    },
                ));
            }
            if !items.is_empty() {
                let stats = vault
                    .backend()
                    .ensure_retention(items)
                    .map_err(|e| vault.storage_err(e))?;
                if let Some(m) = stats.missing.first() {
                    return Err(crate::error::Error::InvalidInput(format!(
                        "the store lost {m}, which prune had just written to {}; nothing was condemned: run `coffer check`",
                        vault.backend().location()
                    )));
                }
                report.packs_retention_extended = packs_needing;
            }
        }
    }
    Ok(done)
}

/// Until when the store must retain each blob being repacked: the latest
/// need of the snapshots that reach it.
struct Protect {
    mode: LockMode,
    until: HashMap<Id, jiff::Timestamp>,
    latest: Option<jiff::Timestamp>,
}

/// [`Protect`] for the blobs `wanted`, when the backend writes with a
/// store-enforced lock's retention; `None` otherwise.
fn retention_needs(
    vault: &Vault,
    index: &Index,
    snaps: &[(Id, Snapshot)],
    wanted: &HashSet<Id>,
) -> Result<Option<Protect>> {
    match vault.backend().write_retention() {
        WriteRetention::Lock { .. } => {}
        WriteRetention::None => return Ok(None),
        WriteRetention::Unknown(m) => return Err(crate::error::Error::InvalidInput(m)),
    }
    let Some((mode, mut needed)) =
        vault.store_protected_snapshots(snaps, jiff::Timestamp::now())?
    else {
        return Ok(None);
    };
    // Latest need first: the first snapshot to reach a tree reaches all of
    // it with the longest retention, so a tree seen before is skipped.
    needed.sort_by_key(|n| std::cmp::Reverse(n.2));
    let mut p = Protect {
        mode,
        until: HashMap::new(),
        latest: needed.first().map(|n| n.2),
    };
    let mut seen = HashSet::new();
    for (_, snap, until) in &needed {
        let mut stack = vec![snap.tree];
        while let Some(t) = stack.pop() {
            if !seen.insert(t) {
                continue;
            }
            if wanted.contains(&t) {
                p.until.entry(t).or_insert(*until);
            }
            let tree = vault.load_tree(index, &t)?;
            for node in &tree.nodes {
                for c in &node.content {
                    if wanted.contains(&c.id) {
                        p.until.entry(c.id).or_insert(*until);
                    }
                }
                if let Some(sub) = node.subtree {
                    stack.push(sub);
                }
            }
        }
    }
    vault.forget_cached_trees();
    Ok(Some(p))
}
