//! Tests of prune's limits: the repack budget, the storage class's minimum
//! storage duration, and stopping at a safe point.

use super::*;
use crate::backend::{Backend, ObjectInfo};
use crate::error::StorageError;
use crate::format::keys::Secret;
use crate::format::tree::{Node, NodeKind, Tree};
use crate::ops::archiver::{Archiver, BackupOptions, Cancel};
use crate::ops::check::{check, CheckOptions, ReadData};
use crate::test_backend::Mem;
use crate::vault::{InitOptions, Vault};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The in-memory store with a storage class for data packs and
/// last-modified times a test can move back.
#[derive(Default)]
struct Classed {
    inner: Mem,
    class: Option<String>,
    written: Mutex<HashMap<String, jiff::Timestamp>>,
}

impl Classed {
    fn age(&self, path: &str, days: i64) {
        let t = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days);
        self.written.lock().unwrap().insert(path.into(), t);
    }
}

impl Backend for Classed {
    fn location(&self) -> String {
        "classed".into()
    }
    fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.written
            .lock()
            .unwrap()
            .insert(path.into(), jiff::Timestamp::now());
        self.inner.write(path, data)
    }
    fn data_pack_class(&self) -> Option<String> {
        self.class.clone()
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.inner.read(path)
    }
    fn read_range(&self, path: &str, o: u64, l: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.read_range(path, o, l)
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        self.inner.list(prefix)
    }
    fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.written.lock().unwrap().remove(path);
        self.inner.delete(path)
    }
    fn modified(&self, path: &str) -> Result<Option<jiff::Timestamp>, StorageError> {
        Ok(self.written.lock().unwrap().get(path).copied())
    }
}

fn vault(class: Option<&str>) -> (Vault, Arc<Classed>) {
    let b = Arc::new(Classed {
        class: class.map(str::to_string),
        ..Default::default()
    });
    let v = Vault::init(
        b.clone(),
        &Secret::KeyFile([7; 32]),
        &InitOptions::default(),
    )
    .unwrap();
    (v, b)
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

fn snapshot(v: &Vault, tree: Id) -> Id {
    let snap: Snapshot = serde_json::from_value(serde_json::json!({
        "version": 1, "time": "2026-03-01T00:00:00Z", "tree": tree,
        "paths": ["/f"], "hostname": "h", "username": "u",
        "source": {"kind": "files"}, "program_version": "test",
    }))
    .unwrap();
    v.save_snapshot(&snap).unwrap()
}

/// One backup writing one data pack with a big file and a small one; the
/// snapshot of both is forgotten, a snapshot of the small one stays, so
/// the data pack is mostly unused: a repack candidate. Returns the data
/// pack.
fn mostly_unused_pack(v: &Vault, seed: u8) -> Id {
    let before: HashSet<Id> = v
        .list(ObjectKind::Pack)
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let index = v.load_index().unwrap();
    let arch = Archiver::new(v, &index, BackupOptions::default());
    let big = arch
        .save_bytes(&noise(seed, 60_000), std::path::Path::new("big"))
        .unwrap();
    let small = arch
        .save_bytes(
            &noise(seed.wrapping_add(100), 4_000),
            std::path::Path::new("small"),
        )
        .unwrap();
    let file = |name: &[u8], content: &Vec<crate::format::tree::ChunkRef>| {
        let mut n = Node::new(name.to_vec(), NodeKind::File);
        n.content = content.clone();
        n
    };
    let both = arch
        .save_tree(&Tree::new(vec![file(b"big", &big), file(b"small", &small)]))
        .unwrap();
    let only_small = arch
        .save_tree(&Tree::new(vec![file(b"small", &small)]))
        .unwrap();
    arch.finish().unwrap();
    let gone = snapshot(v, both);
    snapshot(v, only_small);
    v.backend()
        .delete(&ObjectKind::Snapshot.path(&gone))
        .unwrap();
    let index = v.load_index().unwrap();
    let data: Vec<Id> = index
        .packs()
        .iter()
        .enumerate()
        .filter(|(n, p)| !before.contains(p) && !index.is_tree_pack(*n as u32))
        .map(|(_, p)| *p)
        .collect();
    assert_eq!(data.len(), 1, "one data pack per backup");
    data[0]
}

fn passes_check(v: &Vault) {
    let r = check(
        v,
        &CheckOptions {
            read_data: ReadData::All,
        },
    )
    .unwrap();
    assert!(r.ok(), "{:?}", r.problems);
}

fn packs(v: &Vault) -> HashSet<Id> {
    v.list(ObjectKind::Pack)
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

#[test]
fn issue17_max_repack_percent_defers_the_rest_to_the_next_run() {
    let (v, _) = vault(None);
    let old: Vec<Id> = (0..3).map(|i| mostly_unused_pack(&v, i)).collect();
    let opts = PruneOptions {
        max_repack_percent: 40.0,
        ..Default::default()
    };
    let r = prune(&v, &opts).unwrap();
    let data_repacked = old.iter().filter(|p| !packs(&v).contains(p)).count();
    assert_eq!(data_repacked, 1, "{r:?}");
    assert_eq!(r.packs_repack_deferred, 2, "{r:?}");
    assert!(r.bytes_repack_deferred > 100_000, "{r:?}");
    assert!(r.repack_budget.unwrap() > 0);
    passes_check(&v);
    // No limit: the rest goes.
    let r = prune(&v, &PruneOptions::default()).unwrap();
    assert_eq!(r.packs_repack_deferred, 0, "{r:?}");
    assert!(old.iter().all(|p| !packs(&v).contains(p)), "{r:?}");
    passes_check(&v);
    // 0 repacks no data pack at all.
    mostly_unused_pack(&v, 9);
    let r = prune(
        &v,
        &PruneOptions {
            max_repack_percent: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.packs_repack_deferred, 1, "{r:?}");
}

#[test]
fn issue17_a_young_pack_of_a_cold_class_is_not_repacked_but_an_unused_one_is_deleted() {
    let (v, b) = vault(Some("GLACIER_IR"));
    let young = mostly_unused_pack(&v, 1);
    let old = mostly_unused_pack(&v, 2);
    b.age(&ObjectKind::Pack.path(&old), 91);
    let r = prune(&v, &PruneOptions::default()).unwrap();
    let now = packs(&v);
    assert!(now.contains(&young), "a young GLACIER_IR pack stays: {r:?}");
    assert!(!now.contains(&old), "one past 90 days is repacked: {r:?}");
    let s = r.min_storage_skipped.as_ref().expect("reported");
    assert_eq!(
        (s.class.as_str(), s.min_days, s.packs),
        ("GLACIER_IR", 90, 1)
    );
    let next: jiff::Timestamp = s.next_eligible.as_deref().unwrap().parse().unwrap();
    assert!(next > jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 89));
    assert!(s.describe().contains("90 days"), "{}", s.describe());
    passes_check(&v);

    // Every snapshot forgotten: the young pack holds nothing used and is
    // deleted at once (its early-deletion charge is owed either way).
    for (id, _) in v.list(ObjectKind::Snapshot).unwrap() {
        v.backend().delete(&ObjectKind::Snapshot.path(&id)).unwrap();
    }
    let r = prune(&v, &PruneOptions::default()).unwrap();
    assert!(!packs(&v).contains(&young), "{r:?}");
    assert!(r.min_storage_skipped.is_none(), "{r:?}");
}

#[test]
fn issue17_a_pack_of_an_archive_class_is_never_repacked_but_an_unused_one_is_deleted() {
    let (v, b) = vault(Some("DEEP_ARCHIVE"));
    let old = mostly_unused_pack(&v, 1);
    // Past DEEP_ARCHIVE's 180 days: only the thaw it would need stops it.
    b.age(&ObjectKind::Pack.path(&old), 400);
    let r = prune(&v, &PruneOptions::default()).unwrap();
    assert!(
        packs(&v).contains(&old),
        "an archived pack is not read: {r:?}"
    );
    let s = r.archived_skipped.as_ref().expect("reported");
    assert_eq!((s.class.as_str(), s.packs), ("DEEP_ARCHIVE", 1));
    assert!(s.describe().contains("thawed"), "{}", s.describe());
    assert!(r.min_storage_skipped.is_none(), "{r:?}");
    for (id, _) in v.list(ObjectKind::Snapshot).unwrap() {
        v.backend().delete(&ObjectKind::Snapshot.path(&id)).unwrap();
    }
    let r = prune(&v, &PruneOptions::default()).unwrap();
    assert!(!packs(&v).contains(&old), "an unused one goes whole: {r:?}");
}

#[test]
fn issue17_a_cancelled_prune_stops_at_a_safe_point_and_the_next_one_finishes() {
    let (v, _) = vault(None);
    let old = mostly_unused_pack(&v, 3);
    let cancel = Cancel::default();
    cancel.cancel("completion window of 1h reached");
    let opts = PruneOptions {
        cancel: Some(cancel),
        ..Default::default()
    };
    let r = prune(&v, &opts).unwrap();
    let why = r.stopped.as_deref().expect("stopped");
    assert!(why.contains("completion window"), "{why}");
    assert_eq!(r.packs_repacked, 0, "{r:?}");
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    assert!(packs(&v).contains(&old));
    passes_check(&v);
    let r = prune(&v, &PruneOptions::default()).unwrap();
    assert!(r.stopped.is_none());
    assert!(!packs(&v).contains(&old), "{r:?}");
    passes_check(&v);
}
