//! Running `check`: snapshots and index objects open, every indexed pack
//! exists and is long enough, the selected packs are read and every blob
//! verified, then every snapshot's trees are walked and each problem is tied
//! to the snapshots it affects. Rerun once when a concurrent prune changed
//! the index objects meanwhile.

use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap, HashSet};

use crate::backend::ObjectKind;
use crate::error::Result;
use crate::format::id::Id;
use crate::format::pack::{open_blob, parse_pack};
use crate::ops::archiver::Cancel;
use crate::ops::check::objects::{check_lock_objects, check_prune_objects, check_wal};
use crate::ops::check::options::CheckOptions;
use crate::ops::check::report::{split, CheckReport, Problem};
use crate::ops::check::trees::walk;
use crate::vault::handle::Vault;

/// Checks `vault`.
///
/// A prune whose delete phase runs while this check reads can remove packs
/// the check's index still names (a plan made after the check loaded the
/// index). The delete phase replaces index objects before it deletes
/// packs, so when problems turn up and the index objects changed during
/// the run, the check runs once more with the new index.
pub fn check(vault: &Vault, opts: &CheckOptions) -> Result<CheckReport> {
    check_with_cancel(vault, opts, &Cancel::default())
}

/// [`check`] that stops early, with [`Error::Interrupted`](crate::Error::Interrupted), once `cancel`
/// is cancelled (the daemon's completion window, SIGTERM). It looks between
/// packs and between snapshots.
pub fn check_with_cancel(
    vault: &Vault,
    opts: &CheckOptions,
    cancel: &Cancel,
) -> Result<CheckReport> {
    let before = vault.list(ObjectKind::Index)?;
    let report = check_once(vault, opts, cancel)?;
    if report.ok() || vault.list(ObjectKind::Index)? == before {
        return Ok(report);
    }
    check_once(vault, opts, cancel)
}

fn check_once(vault: &Vault, opts: &CheckOptions, cancel: &Cancel) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let (snaps, bad_snaps) = vault.snapshots_lenient()?;
    report.snapshots = snaps.len() + bad_snaps.len();
    for e in &bad_snaps {
        let (object, detail) = split(e);
        let sid = object.rsplit('/').next().and_then(Id::parse);
        let mut p = Problem::new(object, detail, sid.into_iter().collect());
        if p.snapshots.is_empty() {
            p.snapshots = vec![p.object.rsplit('/').next().unwrap_or("").to_string()];
        }
        report.problems.push(p);
    }
    let (index, bad_index) = vault.load_index_lenient()?;
    report.index_objects = vault.list(ObjectKind::Index)?.len();
    // Problems with an index object are tied to snapshots below, through the
    // blobs that are then missing.
    let mut pending: Vec<(String, String, HashSet<Id>)> = bad_index
        .iter()
        .map(|e| {
            let (o, d) = split(e);
            (
                o,
                format!("{d}; the blobs it lists are missing from the index"),
                HashSet::new(),
            )
        })
        .collect();

    let listed: HashMap<Id, u64> = vault.list(ObjectKind::Pack)?.into_iter().collect();
    report.packs = index.packs().len();
    let known: HashSet<Id> = index.packs().iter().copied().collect();
    report.unreferenced_packs = listed.keys().filter(|p| !known.contains(p)).count();

    // Expected minimum size of each pack from the index.
    let mut pack_end: HashMap<u32, u64> = HashMap::new();
    for (_, loc) in index.iter() {
        let e = pack_end.entry(loc.pack).or_default();
        *e = (*e).max(loc.offset as u64 + loc.len as u64);
    }
    // Blob ids that are unreadable, by the object to blame.
    let mut damaged: HashMap<Id, usize> = HashMap::new();
    let mut add_problem =
        |object: String,
         detail: String,
         blobs: Vec<Id>,
         pending: &mut Vec<(String, String, HashSet<Id>)>| {
            let n = pending.len();
            for b in &blobs {
                damaged.entry(*b).or_insert(n);
            }
            pending.push((object, detail, blobs.into_iter().collect()));
        };
    let blobs_of_pack = |n: u32| -> Vec<Id> {
        index
            .iter()
            .filter(|(_, l)| l.pack == n)
            .map(|(id, _)| id)
            .collect()
    };

    for (n, pack) in index.packs().iter().enumerate() {
        let path = ObjectKind::Pack.path(pack);
        if index.is_condemned(n as u32) {
            report.condemned_packs += 1;
        }
        match listed.get(pack) {
            // A prune's delete phase is removing it; readers prefer other
            // copies, and a needed blob without one shows up in the walk.
            None if index.is_condemned(n as u32) => {}
            None => add_problem(
                path,
                "pack is missing".into(),
                blobs_of_pack(n as u32),
                &mut pending,
            ),
            Some(&size) if size < pack_end.get(&(n as u32)).copied().unwrap_or(0) => add_problem(
                path,
                format!("pack is truncated ({size} bytes)"),
                blobs_of_pack(n as u32),
                &mut pending,
            ),
            _ => {}
        }
    }

    // Read data.
    let present: Vec<Id> = index
        .packs()
        .iter()
        .filter(|p| listed.contains_key(p))
        .copied()
        .collect();
    let chosen = opts.read_data.select(&present);
    let selected: Vec<(u32, Id)> = index
        .packs()
        .iter()
        .enumerate()
        .filter(|(_, p)| chosen.contains(p))
        .map(|(n, p)| (n as u32, *p))
        .collect();
    report.pack_ids = present;
    report.packs_read = selected.len();
    let blobs_read = std::sync::atomic::AtomicU64::new(0);
    let bytes_read = std::sync::atomic::AtomicU64::new(0);
    let verified = std::sync::Mutex::new(Vec::new());
    let read_problems: Vec<(String, String, Vec<Id>)> = selected
        .par_iter()
        .filter_map(|(n, pack)| {
            if cancel.reason().is_some() {
                return None;
            }
            let path = ObjectKind::Pack.path(pack);
            let bytes = match vault.backend().read(&path) {
                Ok(b) => b,
                Err(e) => return Some((path, format!("cannot be read: {e}"), blobs_of_pack(*n))),
            };
            bytes_read.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let mut details = Vec::new();
            if vault.key().object_name(&bytes) != *pack {
                details.push("content does not match its name".to_string());
            }
            let mut bad = Vec::new();
            match parse_pack(vault.key(), &bytes, &path) {
                Err(e) => details.push(split(&e).1),
                Ok(blobs) => {
                    for b in blobs {
                        let end = (b.offset + b.len) as usize;
                        let ok = end <= bytes.len()
                            && open_blob(
                                vault.key(),
                                &b.id,
                                &bytes[b.offset as usize..end],
                                Some(b.raw_len),
                                &path,
                            )
                            .is_ok();
                        blobs_read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if !ok {
                            bad.push(b.id);
                        }
                    }
                }
            }
            // Blobs the index places here but that do not verify.
            for (id, loc) in index.iter().filter(|(_, l)| l.pack == *n) {
                let end = (loc.offset + loc.len) as usize;
                let ok = end <= bytes.len()
                    && open_blob(
                        vault.key(),
                        &id,
                        &bytes[loc.offset as usize..end],
                        None,
                        &path,
                    )
                    .is_ok();
                if !ok && !bad.contains(&id) {
                    bad.push(id);
                }
            }
            if !bad.is_empty() {
                details.push(format!("{} blob(s) fail verification", bad.len()));
            }
            if details.is_empty() {
                verified.lock().unwrap().push(*pack);
                None
            } else {
                Some((path, details.join("; "), bad))
            }
        })
        .collect();
    cancel.check("checking the vault")?;
    report.blobs_read = blobs_read.into_inner();
    report.bytes_read = bytes_read.into_inner();
    report.verified_packs = verified.into_inner().unwrap();
    report.verified_packs.sort();
    for (o, d, b) in read_problems {
        add_problem(o, d, b, &mut pending);
    }

    // Walk every snapshot's trees. `under[tree]` = problems reachable below.
    let mut memo: HashMap<Id, BTreeSet<usize>> = HashMap::new();
    let mut tree_count = 0usize;
    let mut affected: Vec<BTreeSet<Id>> = vec![BTreeSet::new(); pending.len()];
    let mut extra: Vec<(String, String, BTreeSet<Id>)> = Vec::new();
    let mut extra_pos: HashMap<String, usize> = HashMap::new();
    for (sid, snap) in &snaps {
        cancel.check("checking the vault")?;
        let mut found = BTreeSet::new();
        let mut missing = Vec::new();
        walk(
            vault,
            &index,
            &snap.tree,
            "",
            &damaged,
            &mut memo,
            &mut tree_count,
            &mut found,
            &mut missing,
        );
        for p in found {
            affected[p].insert(*sid);
        }
        for (object, detail) in missing {
            let i = *extra_pos.entry(object.clone()).or_insert_with(|| {
                extra.push((object.clone(), detail, BTreeSet::new()));
                extra.len() - 1
            });
            extra[i].2.insert(*sid);
        }
    }
    report.trees = tree_count;
    for ((object, detail, _), snaps) in pending.into_iter().zip(affected) {
        report
            .problems
            .push(Problem::new(object, detail, snaps.into_iter().collect()));
    }
    for (object, detail, snaps) in extra {
        report
            .problems
            .push(Problem::new(object, detail, snaps.into_iter().collect()));
    }
    check_wal(vault, opts, &mut report)?;
    check_prune_objects(vault, &mut report)?;
    check_lock_objects(vault, &mut report)?;
    Ok(report)
}
