//! `check`: the vault's structure, and optionally every byte of its data.
//!
//! Structure: every snapshot and index object opens; every pack the index
//! names exists and is long enough; every tree of every snapshot loads and
//! every chunk it names is indexed. With `read_data`, the selected packs are
//! downloaded, their names checked against their bytes, and every blob opened
//! and verified against its id. Each problem names the damaged object and the
//! snapshots that need it ([`Problem::snapshot_ids`]). [`ReadData::LeastRecent`]
//! reads the packs verified longest ago first, so that repeated partial runs
//! cover the whole vault; [`CheckReport::verified_packs`] names the packs
//! read and found sound, for the caller to remember. Packs no index lists (left by an interrupted or
//! running backup) are reported as unreferenced, not as errors. An indexed
//! pack that is missing is no problem when a prune plan condemns it (a
//! prune's delete phase removes it while this check runs); a blob that a
//! snapshot needs is still reported if no readable copy is left. Session
//! (`sessions/`) and prune plan (`prune/`) objects must open and parse.

use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::archiver::Cancel;
use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::Index;
use crate::pack::{open_blob, parse_pack};
use crate::tree::Tree;
use crate::vault::Vault;

/// Which packs `check` reads in full.
#[derive(Debug, Clone, PartialEq)]
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
    /// A share of the packs (0 < `fraction` ≤ 1, at least one pack), those
    /// verified longest ago first: packs missing from `verified` (never
    /// verified) come first, then by the time given, then by id. Running it
    /// again with the times updated reads the next packs, so ⌈1/fraction⌉
    /// runs read every pack. Archived WAL files are sampled at random with
    /// the same fraction.
    LeastRecent {
        /// The share of the packs to read.
        fraction: f64,
        /// When each pack's data was last verified.
        verified: Arc<HashMap<Id, jiff::Timestamp>>,
    },
}

impl ReadData {
    /// Picks the packs to read among `packs` (the indexed packs present).
    fn select(&self, packs: &[Id]) -> HashSet<Id> {
        match self {
            ReadData::None => HashSet::new(),
            ReadData::All => packs.iter().copied().collect(),
            ReadData::Fraction(f) => packs
                .iter()
                .filter(|_| rand::random::<f64>() < *f)
                .copied()
                .collect(),
            ReadData::Part(n, m) => packs
                .iter()
                .filter(|p| (p.0[0] as u32) % m == n - 1)
                .copied()
                .collect(),
            ReadData::LeastRecent { fraction, verified } => {
                let mut order: Vec<(Option<jiff::Timestamp>, Id)> = packs
                    .iter()
                    .map(|p| (verified.get(p).copied(), *p))
                    .collect();
                // `None` (never verified) sorts first.
                order.sort();
                order.dedup();
                // A hair below, so that 5% of 100 packs is 5, not 6.
                let want = ((fraction * order.len() as f64) - 1e-9).ceil().max(1.0) as usize;
                order.into_iter().take(want).map(|(_, p)| p).collect()
            }
        }
    }

    /// Whether this share selects an archived WAL file whose name starts
    /// with the hex byte `b`.
    fn select_wal(&self, b: u32) -> bool {
        match self {
            ReadData::None => false,
            ReadData::All => true,
            ReadData::Fraction(f) | ReadData::LeastRecent { fraction: f, .. } => {
                rand::random::<f64>() < *f
            }
            ReadData::Part(n, m) => b % m == n - 1,
        }
    }
}

/// Options of [`check`].
#[derive(Debug, Clone)]
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
    /// Snapshots that need it (short ids).
    pub snapshots: Vec<String>,
    /// The same snapshots, full ids (for records; not in the JSON output,
    /// which names them by `snapshots`).
    #[serde(skip)]
    pub snapshot_ids: Vec<Id>,
}

impl Problem {
    fn new(object: String, detail: String, snapshot_ids: Vec<Id>) -> Problem {
        Problem {
            object,
            detail,
            snapshots: snapshot_ids.iter().map(Id::short).collect(),
            snapshot_ids,
        }
    }
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
    /// Bytes of pack data read.
    pub bytes_read: u64,
    /// The packs read in full whose every blob verified (to remember as
    /// verified; not in the JSON output).
    #[serde(skip)]
    pub verified_packs: Vec<Id>,
    /// The indexed packs present in storage: the vault's current packs,
    /// against which a coverage is measured (not in the JSON output).
    #[serde(skip)]
    pub pack_ids: Vec<Id>,
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

    /// Every snapshot some problem affects (full ids, sorted, each once).
    pub fn affected_snapshots(&self) -> Vec<Id> {
        let set: BTreeSet<Id> = self
            .problems
            .iter()
            .flat_map(|p| p.snapshot_ids.iter().copied())
            .collect();
        set.into_iter().collect()
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
    check_with_cancel(vault, opts, &Cancel::default())
}

/// [`check`] that stops early, with [`Error::Interrupted`], once `cancel`
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
                report.problems.push(Problem::new(
                    object,
                    format!(
                        "{detail}; forget and the daemon refuse to act while a lock record or hold cannot be read (restore it from a copy of the vault)"
                    ),
                    Vec::new(),
                ));
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
        report.problems.push(Problem::new(
            object,
            format!("{detail}; delete the object (prune waits for, and backups refuse, what they cannot read)"),
            Vec::new(),
        ));
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
        report.problems.push(Problem::new(
            path,
            "name does not decrypt as an archived WAL file name (damaged, or written under another key)".into(),
            Vec::new(),
        ));
    }
    let selected: Vec<&crate::wal::WalObject> = files
        .iter()
        .filter(|w| {
            let b = u32::from_str_radix(&w.path[4..6], 16).unwrap_or(0);
            opts.read_data.select_wal(b)
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
            r.err().map(|e| {
                Problem::new(
                    w.path.clone(),
                    format!("WAL file {}: {}", w.name, split(&e).1),
                    Vec::new(),
                )
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
    path: &str,
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
        // A tree that decodes but breaks the name rules is damage too,
        // named with the path where the walk met it (the first path, when
        // several snapshots share the tree).
        match vault.read_blob(index, tree_id).and_then(|b| {
            Tree::decode(&b).map_err(|e| {
                let at = crate::tree::damage_path(path, e.name());
                Error::damaged(format!("tree {tree_id}"), format!("at {at}: {e}"))
            })
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
                        let sub_path = format!("{path}/{}", node.display_name());
                        walk(
                            vault,
                            index,
                            sub,
                            &sub_path,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archiver::{Archiver, BackupOptions};
    use crate::backend::Backend;
    use crate::keys::Secret;
    use crate::snapshot::Snapshot;
    use crate::test_backend::Mem;
    use crate::tree::{Node, NodeKind};
    use crate::vault::InitOptions;

    fn vault() -> (Vault, Arc<Mem>) {
        let mem = Arc::new(Mem::default());
        let v = Vault::init(
            mem.clone(),
            &Secret::KeyFile([9; 32]),
            &InitOptions::default(),
        )
        .unwrap();
        (v, mem)
    }

    /// One snapshot of one file holding `data` (its own data pack and tree
    /// pack, since each backup finishes its packs); returns the snapshot
    /// and the packs it wrote.
    fn backup(v: &Vault, data: &[u8]) -> (Id, Vec<Id>) {
        let before: HashSet<Id> = v
            .list(ObjectKind::Pack)
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let index = v.load_index().unwrap();
        let arch = Archiver::new(v, &index, BackupOptions::default());
        let content = arch.save_bytes(data, std::path::Path::new("f")).unwrap();
        let mut node = Node::new(b"f".to_vec(), NodeKind::File);
        node.content = content;
        let tree = arch.save_tree(&Tree::new(vec![node])).unwrap();
        arch.finish().unwrap();
        let snap: Snapshot = serde_json::from_value(serde_json::json!({
            "version": 1, "time": "2026-03-01T00:00:00Z", "tree": tree,
            "paths": ["/f"], "hostname": "h", "username": "u",
            "source": {"kind": "files"}, "program_version": "test",
        }))
        .unwrap();
        let id = v.save_snapshot(&snap).unwrap();
        let packs = v
            .list(ObjectKind::Pack)
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| !before.contains(p))
            .collect();
        (id, packs)
    }

    fn noise(seed: u8, len: usize) -> Vec<u8> {
        let mut x = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn opts(read_data: ReadData) -> CheckOptions {
        CheckOptions { read_data }
    }

    #[test]
    fn a_tree_with_a_hostile_name_is_damage_named_with_snapshot_and_path() {
        let (v, _) = vault();
        let (good, _) = backup(&v, b"fine");
        let index = v.load_index().unwrap();
        let arch = Archiver::new(&v, &index, BackupOptions::default());
        // `/d/..` : a name a restore would join onto its target.
        let bad = Tree {
            version: 1,
            nodes: vec![Node::new(b"..".to_vec(), NodeKind::File)],
        };
        let sub = arch.save_tree(&bad).unwrap();
        let mut d = Node::new(b"d".to_vec(), NodeKind::Dir);
        d.subtree = Some(sub);
        let root = arch.save_tree(&Tree::new(vec![d])).unwrap();
        arch.finish().unwrap();
        let mut snap = v.load_snapshot(&good).unwrap();
        snap.tree = root;
        let sid = v.save_snapshot(&snap).unwrap();
        let r = check(&v, &opts(ReadData::None)).unwrap();
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        let p = &r.problems[0];
        assert_eq!(p.object, format!("tree {sub}"));
        assert!(p.detail.contains("at /d/..:"), "{}", p.detail);
        assert!(p.detail.contains("`.` or `..`"), "{}", p.detail);
        assert_eq!(p.snapshot_ids, vec![sid]);
    }

    #[test]
    fn a_damaged_pack_names_itself_and_exactly_the_snapshots_that_need_it() {
        let (v, mem) = vault();
        let (s1, p1) = backup(&v, &noise(1, 5000));
        let (s2, _) = backup(&v, &noise(2, 5000));
        let clean = check(&v, &opts(ReadData::All)).unwrap();
        assert!(clean.ok(), "{:?}", clean.problems);
        assert_eq!(clean.packs_read, clean.pack_ids.len());
        assert_eq!(clean.verified_packs.len(), clean.pack_ids.len());
        assert!(clean.bytes_read > 10_000);

        // Flip a byte inside the first blob of one pack the first backup
        // wrote. (A flipped byte in a pack's header alone is reported too,
        // but damages no blob, so no snapshot needs a repair.)
        for (n, bad) in p1.iter().enumerate() {
            let path = ObjectKind::Pack.path(bad);
            let good = mem.read(&path).unwrap();
            let mut bytes = good.clone();
            bytes[40] ^= 0xff;
            mem.write(&path, bytes).unwrap();
            let r = check(&v, &opts(ReadData::All)).unwrap();
            assert_eq!(r.problems.len(), 1, "pack {n}: {:?}", r.problems);
            let p = &r.problems[0];
            assert_eq!(p.object, path);
            assert!(p.detail.contains("fail verification"), "{}", p.detail);
            assert_eq!(p.snapshot_ids, vec![s1]);
            assert_eq!(p.snapshots, vec![s1.short()]);
            assert_eq!(r.affected_snapshots(), vec![s1]);
            assert!(!r.affected_snapshots().contains(&s2));
            // A damaged pack is not reported as verified.
            assert!(!r.verified_packs.contains(bad));
            assert_eq!(r.verified_packs.len(), r.pack_ids.len() - 1);
            // Structure alone reads trees but no data: a damaged data
            // pack goes unseen, a damaged tree is seen through the tree.
            let s = check(&v, &opts(ReadData::None)).unwrap();
            assert!(s.affected_snapshots().iter().all(|x| *x == s1));
            mem.write(&path, good).unwrap();
        }
    }

    #[test]
    fn least_recent_reads_never_verified_packs_first_and_covers_the_vault() {
        let (v, _) = vault();
        for i in 0..4 {
            backup(&v, &noise(10 + i, 3000));
        }
        let all = v.list(ObjectKind::Pack).unwrap().len();
        assert_eq!(all, 8);
        let mut verified: HashMap<Id, jiff::Timestamp> = HashMap::new();
        let mut seen = HashSet::new();
        for run in 0..4 {
            let t: jiff::Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
            let r = check(
                &v,
                &opts(ReadData::LeastRecent {
                    fraction: 0.25,
                    verified: Arc::new(verified.clone()),
                }),
            )
            .unwrap();
            assert_eq!(r.packs_read, 2, "run {run}");
            for p in &r.verified_packs {
                assert!(seen.insert(*p), "run {run} read pack {p:?} again");
                verified.insert(*p, t + jiff::SignedDuration::from_secs(run));
            }
        }
        assert_eq!(seen.len(), all);
        // Then the oldest come back first.
        let sel = ReadData::LeastRecent {
            fraction: 0.25,
            verified: Arc::new(verified.clone()),
        }
        .select(&seen.iter().copied().collect::<Vec<_>>());
        let oldest: Vec<Id> = verified
            .iter()
            .filter(|(_, t)| **t == "2026-03-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap())
            .map(|(p, _)| *p)
            .collect();
        assert_eq!(sel, oldest.into_iter().collect());
    }

    #[test]
    fn least_recent_rounds_up_and_reads_at_least_one_pack() {
        let packs: Vec<Id> = (0..100u8).map(|i| Id([i; 32])).collect();
        let sel = |f: f64, n: usize| {
            ReadData::LeastRecent {
                fraction: f,
                verified: Arc::default(),
            }
            .select(&packs[..n])
            .len()
        };
        assert_eq!(sel(0.05, 100), 5);
        assert_eq!(sel(0.05, 10), 1);
        assert_eq!(sel(0.01, 3), 1);
        assert_eq!(sel(1.0, 7), 7);
        assert_eq!(sel(0.5, 0), 0);
    }

    #[test]
    fn a_cancelled_check_stops_with_interrupted() {
        let (v, _) = vault();
        backup(&v, &noise(3, 1000));
        let c = Cancel::default();
        c.cancel("completion window");
        let e = check_with_cancel(&v, &opts(ReadData::All), &c).unwrap_err();
        assert!(matches!(e, Error::Interrupted { .. }), "{e}");
    }
}
