//! Tests of check: hostile tree names, damaged packs and the snapshots that
//! need them, least-recent read-data, cancellation.

use super::*;
use crate::backend::{Backend, ObjectKind};
use crate::error::Error;
use crate::format::id::Id;
use crate::format::keys::Secret;
use crate::format::snapshot::Snapshot;
use crate::format::tree::{Node, NodeKind, Tree};
use crate::ops::archiver::{Archiver, BackupOptions, Cancel};
use crate::test_backend::Mem;
use crate::vault::{InitOptions, Vault};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

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

#[test]
fn check_snapshots_fails_only_the_snapshot_whose_pack_is_gone() {
    let (v, mem) = vault();
    let (a, a_packs) = backup(&v, &noise(1, 50_000));
    let (b, _) = backup(&v, &noise(2, 50_000));
    let r = check_snapshots(&v, &[a, b, a], &Cancel::default()).unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!((r.snapshots, r.trees), (2, 2));
    for p in &a_packs {
        mem.delete(&ObjectKind::Pack.path(p)).unwrap();
    }
    let r = check_snapshots(&v, &[a, b], &Cancel::default()).unwrap();
    assert!(!r.ok());
    for p in &r.problems {
        assert_eq!(p.snapshot_ids, vec![a], "{p:?}");
    }
    assert!(
        r.problems.iter().any(|p| p.detail == "pack is missing"),
        "{:?}",
        r.problems
    );
    assert!(check_snapshots(&v, &[b], &Cancel::default()).unwrap().ok());
    // A snapshot that is not there is a problem, not an error.
    let gone = Id([7; 32]);
    let r = check_snapshots(&v, &[gone], &Cancel::default()).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].snapshot_ids, vec![gone]);
}
