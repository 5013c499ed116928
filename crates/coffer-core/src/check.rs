//! `check`: the vault's structure, and optionally every byte of its data.
//!
//! Structure: every snapshot and index object opens; every pack the index
//! names exists and is long enough; every tree of every snapshot loads and
//! every chunk it names is indexed. With `read_data`, the selected packs are
//! downloaded, their names checked against their bytes, and every blob opened
//! and verified against its id. Each problem names the damaged object and the
//! snapshots that need it. Packs no index lists (left by an interrupted or
//! running backup) are reported as unreferenced, not as errors. An indexed
//! pack that is missing is no problem when a prune plan condemns it (a
//! prune's delete phase removes it while this check runs); a blob that a
//! snapshot needs is still reported if no readable copy is left. Session
//! (`sessions/`) and prune plan (`prune/`) objects must open and parse.

use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::Index;
use crate::pack::{open_blob, parse_pack};
use crate::tree::Tree;
use crate::vault::Vault;

/// Which packs `check` reads in full.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReadData {
    /// None: structure only.
    None,
    /// All packs.
    All,
    /// A random fraction of the packs (0 < f ≤ 1).
    Fraction(f64),
    /// Part `n` of `m` (1-based): packs whose first id byte mod m is n-1;
    /// running 1/m … m/m covers the vault.
    Part(u32, u32),
}

/// Options of [`check`].
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Which packs to read.
    pub read_data: ReadData,
}

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The damaged or missing object (`packs/…`, `index/…`, `snapshots/…`, `tree …`).
    pub object: String,
    /// What is wrong.
    pub detail: String,
    /// Snapshots that need it.
    pub snapshots: Vec<String>,
}

/// What check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Snapshots checked.
    pub snapshots: usize,
    /// Index objects read.
    pub index_objects: usize,
    /// Packs listed in the index.
    pub packs: usize,
    /// Packs read in full.
    pub packs_read: usize,
    /// Blobs verified by reading.
    pub blobs_read: u64,
    /// Trees loaded.
    pub trees: usize,
    /// Packs no index lists (interrupted or running backups; prune removes them).
    pub unreferenced_packs: usize,
    /// Writer sessions (`sessions/`) found.
    pub sessions: usize,
    /// Prune plans (`prune/`) found.
    pub prune_plans: usize,
    /// Indexed packs that a prune plan condemns.
    pub condemned_packs: usize,
    /// Archived WAL files (`wal/`) whose names decrypted.
    pub wal_files: usize,
    /// Archived WAL files read, decrypted and decompressed (with read-data).
    pub wal_files_read: usize,
    /// Problems; empty means the vault is sound.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn split(e: &Error) -> (String, String) {
    match e {
        Error::Damaged { object, detail } => (object.clone(), detail.clone()),
        other => ("vault".into(), other.to_string()),
    }
}

/// Checks `vault`.
///
/// A prune whose delete phase runs while this check reads can remove packs
/// the check's index still names (a plan made after the check loaded the
/// index). The delete phase replaces index objects before it deletes
/// packs, so when problems turn up and the index objects changed during
/// the run, the check runs once more with the new index.
pub fn check(vault: &Vault, opts: &CheckOptions) -> Result<CheckReport> {
    let before = vault.list(ObjectKind::Index)?;
    let report = check_once(vault, opts)?;
    if report.ok() || vault.list(ObjectKind::Index)? == before {
        return Ok(report);
    }
    check_once(vault, opts)
}

fn check_once(vault: &Vault, opts: &CheckOptions) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let (snaps, bad_snaps) = vault.snapshots_lenient()?;
    report.snapshots = snaps.len() + bad_snaps.len();
    for e in &bad_snaps {
        let (object, detail) = split(e);
        let sid = object
            .rsplit('/')
            .next()
            .unwrap_or("")
            .chars()
            .take(8)
            .collect();
        report.problems.push(Problem {
            object,
            detail,
            snapshots: vec![sid],
        });
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
    let selected: Vec<(u32, Id)> = index
        .packs()
        .iter()
        .enumerate()
        .filter(|(_, p)| listed.contains_key(p))
        .filter(|(_, p)| match opts.read_data {
            ReadData::None => false,
            ReadData::All => true,
            ReadData::Fraction(f) => rand::random::<f64>() < f,
            ReadData::Part(n, m) => (p.0[0] as u32) % m == n - 1,
        })
        .map(|(n, p)| (n as u32, *p))
        .collect();
    report.packs_read = selected.len();
    let blobs_read = std::sync::atomic::AtomicU64::new(0);
    let read_problems: Vec<(String, String, Vec<Id>)> = selected
        .par_iter()
        .filter_map(|(n, pack)| {
            let path = ObjectKind::Pack.path(pack);
            let bytes = match vault.backend().read(&path) {
                Ok(b) => b,
                Err(e) => return Some((path, format!("cannot be read: {e}"), blobs_of_pack(*n))),
            };
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
                None
            } else {
                Some((path, details.join("; "), bad))
            }
        })
        .collect();
    report.blobs_read = blobs_read.into_inner();
    for (o, d, b) in read_problems {
        add_problem(o, d, b, &mut pending);
    }

    // Walk every snapshot's trees. `under[tree]` = problems reachable below.
    let mut memo: HashMap<Id, BTreeSet<usize>> = HashMap::new();
    let mut tree_count = 0usize;
    let mut affected: Vec<BTreeSet<String>> = vec![BTreeSet::new(); pending.len()];
    let mut extra: Vec<(String, String, BTreeSet<String>)> = Vec::new();
    let mut extra_pos: HashMap<String, usize> = HashMap::new();
    for (sid, snap) in &snaps {
        let mut found = BTreeSet::new();
        let mut missing = Vec::new();
        walk(
            vault,
            &index,
            &snap.tree,
            &damaged,
            &mut memo,
            &mut tree_count,
            &mut found,
            &mut missing,
        );
        for p in found {
            affected[p].insert(sid.short());
        }
        for (object, detail) in missing {
            let i = *extra_pos.entry(object.clone()).or_insert_with(|| {
                extra.push((object.clone(), detail, BTreeSet::new()));
                extra.len() - 1
            });
            extra[i].2.insert(sid.short());
        }
    }
    report.trees = tree_count;
    for ((object, detail, _), snaps) in pending.into_iter().zip(affected) {
        report.problems.push(Problem {
            object,
            detail,
            snapshots: snaps.into_iter().collect(),
        });
    }
    for (object, detail, snaps) in extra {
        report.problems.push(Problem {
            object,
            detail,
            snapshots: snaps.into_iter().collect(),
        });
    }
    check_wal(vault, opts, &mut report)?;
    check_prune_objects(vault, &mut report)?;
    check_lock_objects(vault, &mut report)?;
    Ok(report)
}

/// Vault lock records and legal holds must open and parse: forget, prune
/// and the daemon refuse to act on a vault whose lock or holds they cannot
/// read, rather than guess.
fn check_lock_objects(vault: &Vault, report: &mut CheckReport) -> Result<()> {
    let results = [vault.lock_state().map(|_| ()), vault.holds().map(|_| ())];
    for r in results {
        match r {
            Ok(()) => {}
            Err(e @ Error::Damaged { .. }) => {
                let (object, detail) = split(&e);
                report.problems.push(Problem {
                    object,
                    detail: format!(
                        "{detail}; forget and the daemon refuse to act while a lock record or hold cannot be read (restore it from a copy of the vault)"
                    ),
                    snapshots: Vec::new(),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Session and prune plan objects must open and parse: a writer that
/// cannot read a plan refuses to back up.
fn check_prune_objects(vault: &Vault, report: &mut CheckReport) -> Result<()> {
    let (sessions, bad_sessions) = crate::session::list(vault)?;
    let (plans, bad_plans) = crate::prune::list_plans(vault)?;
    report.sessions = sessions.len() + bad_sessions.len();
    report.prune_plans = plans.len() + bad_plans.len();
    for e in bad_sessions.iter().chain(&bad_plans) {
        let (object, detail) = split(e);
        report.problems.push(Problem {
            object,
            detail: format!("{detail}; delete the object (prune waits for, and backups refuse, what they cannot read)"),
            snapshots: Vec::new(),
        });
    }
    Ok(())
}

/// Archived WAL files: every name under `wal/` must decrypt (structure);
/// the files read-data selects must also authenticate and decompress. WAL
/// files belong to no snapshot, so their problems list none.
fn check_wal(vault: &Vault, opts: &CheckOptions, report: &mut CheckReport) -> Result<()> {
    let (files, bad) = crate::wal::list(vault)?;
    report.wal_files = files.len();
    for path in bad {
        report.problems.push(Problem {
            object: path,
            detail: "name does not decrypt as an archived WAL file name (damaged, or written under another key)".into(),
            snapshots: Vec::new(),
        });
    }
    let selected: Vec<&crate::wal::WalObject> = files
        .iter()
        .filter(|w| match opts.read_data {
            ReadData::None => false,
            ReadData::All => true,
            ReadData::Fraction(f) => rand::random::<f64>() < f,
            ReadData::Part(n, m) => {
                let b = u32::from_str_radix(&w.path[4..6], 16).unwrap_or(0);
                b % m == n - 1
            }
        })
        .collect();
    report.wal_files_read = selected.len();
    let problems: Vec<Problem> = selected
        .par_iter()
        .filter_map(|w| {
            let r = vault
                .backend()
                .read(&w.path)
                .map_err(|e| vault.storage_err(e))
                .and_then(|b| crate::wal::open(vault, &w.name, &b, &w.path));
            r.err().map(|e| Problem {
                object: w.path.clone(),
                detail: format!("WAL file {}: {}", w.name, split(&e).1),
                snapshots: Vec::new(),
            })
        })
        .collect();
    report.problems.extend(problems);
    Ok(())
}

/// Problem number used in the memo for blobs missing from the index.
const MISSING: usize = usize::MAX;

#[allow(clippy::too_many_arguments)]
fn walk(
    vault: &Vault,
    index: &Index,
    tree_id: &Id,
    damaged: &HashMap<Id, usize>,
    memo: &mut HashMap<Id, BTreeSet<usize>>,
    trees: &mut usize,
    found: &mut BTreeSet<usize>,
    missing: &mut Vec<(String, String)>,
) {
    if let Some(m) = memo.get(tree_id) {
        found.extend(m.iter().copied().filter(|&p| p != MISSING));
        if m.contains(&MISSING) {
            missing.push((
                format!("tree {tree_id}"),
                "contains references to blobs missing from the vault".into(),
            ));
        }
        return;
    }
    *trees += 1;
    let mut here = BTreeSet::new();
    if let Some(&p) = damaged.get(tree_id) {
        here.insert(p);
    } else if !index.contains(tree_id) {
        here.insert(MISSING);
        missing.push((
            format!("tree {tree_id}"),
            "is missing from the index".into(),
        ));
    } else {
        match vault.read_blob(index, tree_id).and_then(|b| {
            Tree::decode(&b)
                .ok_or_else(|| Error::damaged(format!("tree {tree_id}"), "does not decode"))
        }) {
            Err(e) => {
                here.insert(MISSING);
                let (o, d) = split(&e);
                missing.push((o, d));
            }
            Ok(tree) => {
                for node in &tree.nodes {
                    for c in &node.content {
                        if let Some(&p) = damaged.get(&c.id) {
                            here.insert(p);
                        } else if !index.contains(&c.id) {
                            here.insert(MISSING);
                            missing.push((
                                format!("chunk {}", c.id),
                                format!("of {} is missing from the index", node.display_name()),
                            ));
                        }
                    }
                    if let Some(sub) = &node.subtree {
                        let mut sub_found = BTreeSet::new();
                        walk(
                            vault,
                            index,
                            sub,
                            damaged,
                            memo,
                            trees,
                            &mut sub_found,
                            missing,
                        );
                        here.extend(sub_found);
                        if memo.get(sub).is_some_and(|m| m.contains(&MISSING)) {
                            here.insert(MISSING);
                        }
                    }
                }
            }
        }
    }
    found.extend(here.iter().copied().filter(|&p| p != MISSING));
    memo.insert(*tree_id, here);
}
