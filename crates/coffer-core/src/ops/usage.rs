//! Usage: what a vault stores, by kind of object and by storage class, and
//! how much of its packs the snapshots still reference.
//!
//! Read only. The vault's objects are listed with the storage class the
//! store keeps each in ([`Backend::list_classes`]: on S3 the listing's
//! `StorageClass`, so an object a bucket lifecycle rule moved is counted in
//! its real class; a store without classes lists none and its objects are
//! in the class [`LOCAL_CLASS`]). Then the index is loaded and every
//! snapshot's trees are walked, as prune does, to find the blobs in use.
//! A pack's *referenced* bytes are the lengths of the used blobs whose
//! chosen copy (the index's, see [`Index::lookup`]) lies in it; the rest
//! of a pack is dead blobs, duplicates and its header. Packs with no
//! referenced blob, and packs no index object lists, are freed by the next
//! prune; the dead parts of partly used packs only by repacking.
//!
//! Every object other than a pack (config, key slots, index, snapshots,
//! locks, holds, WAL files, …) counts as referenced: the snapshots need it
//! or it is the vault's own state.
//!
//! Unlike prune, which must stop on a damaged vault, usage reports what it
//! can: a snapshot or tree it cannot read is a warning, and its blobs are
//! not counted as referenced (the share is then a lower bound).

use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::backend::{Backend, ClassedObject, ObjectKind};
use crate::error::Result;
use crate::format::id::Id;
use crate::format::index::Index;
use crate::ops::progress::{add, Progress};
use crate::vault::handle::Vault;

/// The class of an object in a store without storage classes (a local
/// directory).
pub const LOCAL_CLASS: &str = "local";

/// How many warnings a report keeps (the count of the rest is added).
const MAX_WARNINGS: usize = 20;

/// Bytes of one kind of object (`config`, `keys`, `snapshots`, `index`,
/// `data packs`, `tree packs`, `unindexed packs`, `wal`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindUsage {
    /// The kind: the object's directory, or for packs what they hold.
    pub kind: String,
    /// Objects.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Bytes in one storage class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClassUsage {
    /// The store's class (`STANDARD`, `GLACIER`, …) or [`LOCAL_CLASS`].
    pub class: String,
    /// Objects.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Of those, bytes the snapshots reference (see the module doc).
    pub referenced_bytes: u64,
}

/// The packs, as prune sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PackUsage {
    /// Packs listed.
    pub packs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Bytes of the blobs the snapshots use (each used blob once).
    pub referenced_bytes: u64,
    /// Packs holding no used blob, or listed by no index object: the next
    /// prune deletes them.
    pub unreferenced_packs: u64,
    /// Their bytes.
    pub unreferenced_bytes: u64,
    /// The rest: dead blobs, duplicates and headers inside packs that hold
    /// used blobs too (freed when prune repacks them).
    pub partly_used_waste_bytes: u64,
}

/// What [`usage`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    /// The vault's location.
    pub location: String,
    /// Every object.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Bytes the snapshots reference (packs' referenced bytes plus every
    /// other object).
    pub referenced_bytes: u64,
    /// Readable snapshots.
    pub snapshots: u64,
    /// By kind, in the order of [`KindUsage::kind`]'s name.
    pub kinds: Vec<KindUsage>,
    /// By storage class, largest first.
    pub classes: Vec<ClassUsage>,
    /// The packs.
    pub packs: PackUsage,
    /// What could not be read (a damaged snapshot, tree or index object),
    /// one line each: the referenced share is then a lower bound.
    pub warnings: Vec<String>,
}

/// Measures the vault (see the module doc). `progress` counts objects
/// listed (`entries`) and trees read (`files`) for a front end's line.
pub fn usage(vault: &Vault, progress: &Progress) -> Result<UsageReport> {
    let backend: &dyn Backend = vault.backend().as_ref();
    let mut report = UsageReport {
        location: backend.location(),
        ..Default::default()
    };
    // One listing of the whole vault: every kind, and what a later version
    // may add, is counted.
    let objects: Vec<ClassedObject> = backend
        .list_classes("")
        .map_err(|e| vault.storage_err(e))?
        .into_iter()
        // A local vault's staging directory is not part of the vault.
        .filter(|o| !o.path.starts_with(".tmp/"))
        .collect();
    add(&progress.entries, objects.len() as u64);

    let (snaps, bad_snaps) = vault.snapshots_lenient()?;
    report.snapshots = snaps.len() as u64;
    let mut warnings: Vec<String> = bad_snaps.iter().map(|e| e.to_string()).collect();
    let (index, bad_index) = vault.load_index_lenient()?;
    warnings.extend(bad_index.iter().map(|e| e.to_string()));
    let used = used_blobs(vault, &index, &snaps, progress, &mut warnings);

    // Referenced bytes of each pack, by its position in the index.
    let mut referenced = vec![0u64; index.packs().len()];
    for id in &used {
        if let Some(loc) = index.lookup(id) {
            referenced[loc.pack as usize] += loc.len as u64;
        }
    }
    let position: HashMap<Id, usize> = index
        .packs()
        .iter()
        .enumerate()
        .map(|(n, p)| (*p, n))
        .collect();

    let mut kinds: BTreeMap<&'static str, KindUsage> = BTreeMap::new();
    let mut classes: BTreeMap<String, ClassUsage> = BTreeMap::new();
    for o in &objects {
        let (kind, live) = match pack_of(&o.path) {
            Some(pack) => match position.get(&pack) {
                // An indexed pack: its referenced blobs, never more than
                // its listed size (a truncated pack is check's to report).
                Some(&n) => {
                    let live = referenced[n].min(o.size);
                    report.packs.referenced_bytes += live;
                    if live == 0 {
                        report.packs.unreferenced_packs += 1;
                        report.packs.unreferenced_bytes += o.size;
                    } else {
                        report.packs.partly_used_waste_bytes += o.size - live;
                    }
                    let kind = if index.is_tree_pack(n as u32) {
                        "tree packs"
                    } else {
                        "data packs"
                    };
                    (kind, live)
                }
                None => {
                    report.packs.unreferenced_packs += 1;
                    report.packs.unreferenced_bytes += o.size;
                    ("unindexed packs", 0)
                }
            },
            None => (kind_of(&o.path), o.size),
        };
        if o.path.starts_with(ObjectKind::Pack.prefix()) {
            report.packs.packs += 1;
            report.packs.bytes += o.size;
        }
        let k = kinds.entry(kind).or_insert_with(|| KindUsage {
            kind: kind.to_string(),
            ..Default::default()
        });
        k.objects += 1;
        k.bytes += o.size;
        let class = o.class.clone().unwrap_or_else(|| LOCAL_CLASS.to_string());
        let c = classes.entry(class.clone()).or_insert_with(|| ClassUsage {
            class,
            ..Default::default()
        });
        c.objects += 1;
        c.bytes += o.size;
        c.referenced_bytes += live;
        report.objects += 1;
        report.bytes += o.size;
        report.referenced_bytes += live;
    }
    report.kinds = kinds.into_values().collect();
    report.classes = classes.into_values().collect();
    report
        .classes
        .sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.class.cmp(&b.class)));
    if warnings.len() > MAX_WARNINGS {
        let more = warnings.len() - MAX_WARNINGS;
        warnings.truncate(MAX_WARNINGS);
        warnings.push(format!("… and {more} more (run `coffer check`)"));
    }
    report.warnings = warnings;
    Ok(report)
}

/// The pack a listed path names, if it is a pack's.
fn pack_of(path: &str) -> Option<Id> {
    path.strip_prefix(ObjectKind::Pack.prefix())?;
    ObjectKind::Pack.id_of(path)
}

/// The kind of a non-pack object: its directory (`keys`, `snapshots`, …),
/// or the name of an object at the vault's root (`config`).
fn kind_of(path: &str) -> &'static str {
    let top = path.split('/').next().unwrap_or("");
    for kind in [
        ObjectKind::Key,
        ObjectKind::Snapshot,
        ObjectKind::Index,
        ObjectKind::Pack,
        ObjectKind::Wal,
        ObjectKind::Lock,
        ObjectKind::Hold,
        ObjectKind::Session,
        ObjectKind::PrunePlan,
        ObjectKind::Epoch,
        ObjectKind::Fleet,
    ] {
        let p = kind.prefix();
        if top == &p[..p.len() - 1] {
            return match kind {
                ObjectKind::Key => "keys",
                ObjectKind::Snapshot => "snapshots",
                ObjectKind::Index => "index",
                ObjectKind::Pack => "unindexed packs",
                ObjectKind::Wal => "wal",
                ObjectKind::Lock => "locks",
                ObjectKind::Hold => "holds",
                ObjectKind::Session => "sessions",
                ObjectKind::PrunePlan => "prune plans",
                ObjectKind::Epoch => "epochs",
                ObjectKind::Fleet => "fleet records",
            };
        }
    }
    if top == "config" && !path.contains('/') {
        "config"
    } else {
        "other"
    }
}

/// The blobs the readable snapshots reach: their trees and the chunks the
/// trees name. A tree that cannot be read is a warning (its subtrees and
/// chunks are not counted), not a failure: usage reports on a damaged
/// vault too, where prune must stop.
fn used_blobs(
    vault: &Vault,
    index: &Index,
    snaps: &[(Id, crate::format::snapshot::Snapshot)],
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> HashSet<Id> {
    let mut used = HashSet::new();
    let mut seen = HashSet::new();
    for (sid, snap) in snaps {
        let mut stack = vec![snap.tree];
        while let Some(t) = stack.pop() {
            if !seen.insert(t) {
                continue;
            }
            used.insert(t);
            let tree = match vault.load_tree(index, &t) {
                Ok(tree) => tree,
                Err(e) => {
                    warnings.push(format!(
                        "tree {t} of snapshot {} cannot be read ({e}): its data is not counted as referenced",
                        sid.short()
                    ));
                    continue;
                }
            };
            add(&progress.files, 1);
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
    used
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::keys::Secret;
    use crate::format::snapshot::Snapshot;
    use crate::format::tree::{Node, NodeKind, Tree};
    use crate::ops::archiver::{Archiver, BackupOptions};
    use crate::test_backend::Mem;
    use crate::vault::InitOptions;
    use std::path::Path;
    use std::sync::Arc;

    fn vault() -> Vault {
        Vault::init(
            Arc::new(Mem::default()),
            &Secret::KeyFile([7; 32]),
            &InitOptions::default(),
        )
        .unwrap()
    }

    /// A snapshot of one file holding `data`, in packs of its own.
    fn backup(v: &Vault, data: &[u8]) -> Id {
        let index = v.load_index().unwrap();
        let arch = Archiver::new(v, &index, BackupOptions::default());
        let mut n = Node::new(b"f".to_vec(), NodeKind::File);
        n.content = arch.save_bytes(data, Path::new("f")).unwrap();
        let root = arch.save_tree(&Tree::new(vec![n])).unwrap();
        arch.finish().unwrap();
        let j = serde_json::json!({
            "version": 1, "time": "2026-12-01T00:00:00Z", "tree": root,
            "paths": ["/data"], "hostname": "h", "username": "u",
            "source": {"kind": "files"}, "program_version": "test",
        });
        v.save_snapshot(&serde_json::from_value::<Snapshot>(j).unwrap())
            .unwrap()
    }

    /// Bytes that do not compress, so pack sizes follow the data.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn listed_bytes(v: &Vault) -> u64 {
        v.backend().list("").unwrap().iter().map(|o| o.size).sum()
    }

    #[test]
    fn usage_counts_every_byte_and_a_forgotten_snapshot_leaves_unreferenced_packs() {
        let v = vault();
        let first = backup(&v, &noise(1, 300_000));
        backup(&v, &noise(2, 200_000));
        let p = Progress::default();
        let r = usage(&v, &p).unwrap();
        // Every byte the store holds is counted, once, in one class.
        assert_eq!(r.bytes, listed_bytes(&v));
        assert_eq!(r.classes.len(), 1, "{r:?}");
        assert_eq!(r.classes[0].class, LOCAL_CLASS);
        assert_eq!(r.classes[0].bytes, r.bytes);
        assert_eq!(r.kinds.iter().map(|k| k.bytes).sum::<u64>(), r.bytes);
        assert_eq!(r.snapshots, 2);
        for k in [
            "config",
            "keys",
            "snapshots",
            "index",
            "data packs",
            "tree packs",
        ] {
            assert!(r.kinds.iter().any(|u| u.kind == k), "no {k}: {r:?}");
        }
        // Everything is in use: the referenced data is the data backed up
        // (plus the trees), and no pack is unreferenced.
        assert_eq!(r.packs.unreferenced_packs, 0, "{r:?}");
        assert!(r.packs.referenced_bytes >= 500_000, "{r:?}");
        assert!(r.packs.referenced_bytes <= r.packs.bytes);
        assert_eq!(
            r.packs.referenced_bytes + r.packs.unreferenced_bytes + r.packs.partly_used_waste_bytes,
            r.packs.bytes
        );
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(p.counts().entries >= r.objects);

        // Forget the first snapshot: its data pack is unreferenced, by
        // about the first file's size, until a prune.
        v.backend()
            .delete(&ObjectKind::Snapshot.path(&first))
            .unwrap();
        let after = usage(&v, &Progress::default()).unwrap();
        assert_eq!(after.snapshots, 1);
        assert!(after.packs.unreferenced_packs >= 1, "{after:?}");
        assert!(
            (300_000..400_000).contains(&after.packs.unreferenced_bytes),
            "{after:?}"
        );
        assert!(after.packs.referenced_bytes + 300_000 <= r.packs.referenced_bytes);
        assert!(after.referenced_bytes < after.bytes);
        assert_eq!(
            after.bytes - after.referenced_bytes,
            after.packs.unreferenced_bytes + after.packs.partly_used_waste_bytes
        );
    }

    #[test]
    fn objects_are_counted_in_the_class_the_store_lists() {
        /// A store that lists data packs in GLACIER, the rest in STANDARD.
        struct Classed(Mem);
        impl Backend for Classed {
            fn location(&self) -> String {
                "classed".into()
            }
            fn write(&self, p: &str, d: Vec<u8>) -> std::result::Result<(), crate::StorageError> {
                self.0.write(p, d)
            }
            fn write_data_pack(
                &self,
                p: &str,
                d: Vec<u8>,
            ) -> std::result::Result<(), crate::StorageError> {
                self.0.write(p, d)?;
                COLD.lock().unwrap().insert(p.to_string());
                Ok(())
            }
            fn read(&self, p: &str) -> std::result::Result<Vec<u8>, crate::StorageError> {
                self.0.read(p)
            }
            fn read_range(
                &self,
                p: &str,
                o: u64,
                l: u64,
            ) -> std::result::Result<Vec<u8>, crate::StorageError> {
                self.0.read_range(p, o, l)
            }
            fn list(
                &self,
                p: &str,
            ) -> std::result::Result<Vec<crate::ObjectInfo>, crate::StorageError> {
                self.0.list(p)
            }
            fn list_classes(
                &self,
                p: &str,
            ) -> std::result::Result<Vec<ClassedObject>, crate::StorageError> {
                let cold = COLD.lock().unwrap();
                Ok(self
                    .0
                    .list(p)?
                    .into_iter()
                    .map(|o| ClassedObject {
                        class: Some(
                            if cold.contains(&o.path) {
                                "GLACIER"
                            } else {
                                "STANDARD"
                            }
                            .into(),
                        ),
                        path: o.path,
                        size: o.size,
                    })
                    .collect())
            }
            fn delete(&self, p: &str) -> std::result::Result<(), crate::StorageError> {
                self.0.delete(p)
            }
        }
        static COLD: std::sync::Mutex<std::collections::BTreeSet<String>> =
            std::sync::Mutex::new(std::collections::BTreeSet::new());
        let v = Vault::init(
            Arc::new(Classed(Mem::default())),
            &Secret::KeyFile([7; 32]),
            &InitOptions::default(),
        )
        .unwrap();
        backup(&v, &noise(3, 250_000));
        let r = usage(&v, &Progress::default()).unwrap();
        let class = |c: &str| r.classes.iter().find(|u| u.class == c).cloned().unwrap();
        let (glacier, standard) = (class("GLACIER"), class("STANDARD"));
        let data = r.kinds.iter().find(|k| k.kind == "data packs").unwrap();
        assert_eq!(glacier.bytes, data.bytes);
        assert_eq!(glacier.objects, data.objects);
        assert_eq!(standard.bytes + glacier.bytes, r.bytes);
        assert!(glacier.referenced_bytes >= 250_000, "{r:?}");
        assert_eq!(r.classes[0].class, "GLACIER", "largest first: {r:?}");
    }

    #[test]
    fn kinds_are_named_by_directory() {
        assert_eq!(kind_of("config"), "config");
        assert_eq!(kind_of("keys/ab"), "keys");
        assert_eq!(kind_of("prune/ab"), "prune plans");
        assert_eq!(kind_of("copymap/x"), "other");
        assert_eq!(pack_of("index/ab"), None);
    }
}
