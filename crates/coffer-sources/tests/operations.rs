//! Operations on the in-memory and fault-injecting backends.

use coffer_core::{check, BackupOptions, CheckOptions, InitOptions, ReadData, Secret, Vault};
use coffer_sources::filter::Patterns;
use coffer_sources::{files, run_backup, Progress, SnapshotMeta};
use coffer_testing::{new_memory_vault, noise, Fault, FaultyBackend, MemoryBackend};
use std::path::Path;
use std::sync::Arc;

fn backup(
    vault: &Vault,
    src: &Path,
    opts: &BackupOptions,
) -> coffer_core::Result<coffer_sources::BackupResult> {
    let fopts = files::FilesOptions {
        paths: vec![src.to_path_buf()],
        ..Default::default()
    };
    run_backup(vault, opts, &SnapshotMeta::default(), |a, i| {
        files::backup(a, i, &fopts, &Progress::default())
    })
}

fn restore_and_compare(vault: &Vault, snap: &coffer_core::Snapshot, src: &Path, out: &Path) {
    let index = vault.load_index().unwrap();
    let progress = Progress::default();
    let stats = files::restore(
        vault,
        &index,
        snap,
        &files::RestoreOptions {
            target: out.to_path_buf(),
            includes: Patterns::default(),
            subpath: None,
        },
        &progress,
    )
    .unwrap();
    // The progress counted every file and byte, towards totals it knew.
    let c = progress.counts();
    assert_eq!((c.files, c.total_files), (stats.files, stats.files));
    assert_eq!((c.bytes, c.total_bytes), (stats.bytes, stats.bytes));
    let r = out.join(src.strip_prefix("/").unwrap());
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read(r.join(p.file_name().unwrap())).unwrap()
        );
    }
}

#[test]
fn full_disk_fails_the_backup_cleanly_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..8 {
        std::fs::write(src.join(format!("f{i}")), noise(i, 1_500_000)).unwrap();
    }
    let mem = Arc::new(MemoryBackend::new());
    let faulty = Arc::new(FaultyBackend::new(mem.clone()));
    let secret = Secret::KeyFile([9; 32]);
    let vault = Vault::init(faulty.clone(), &secret, &InitOptions::default()).unwrap();
    let small = BackupOptions {
        pack_size: 1 << 20,
        ..Default::default()
    };
    let first = backup(&vault, &src, &small).unwrap();
    for i in 0..8 {
        std::fs::write(src.join(format!("f{i}")), noise(100 + i, 1_500_000)).unwrap();
    }
    // The disk fills after a few more objects, at each possible point.
    for after in 0..6 {
        faulty.set(Fault::FailWritesAfter(after));
        let err = backup(&vault, &src, &small).expect_err("a backup onto a full disk must fail");
        assert!(err.to_string().contains("no space left"), "{err}");
        faulty.set(Fault::None);
        let report = check(
            &vault,
            &CheckOptions {
                read_data: ReadData::All,
            },
        )
        .unwrap();
        assert!(
            report.ok(),
            "after a failure at write {after}: {:?}",
            report.problems
        );
    }
    // Nothing lost: the first snapshot restores, and the next backup works.
    let reopened = Vault::open(mem.clone(), &secret).unwrap();
    let snaps = reopened.snapshots(&Default::default()).unwrap();
    assert_eq!(snaps.len(), 1);
    let second = backup(&reopened, &src, &small).unwrap();
    restore_and_compare(&reopened, &second.snapshot, &src, &dir.path().join("out"));
    assert_ne!(first.id, second.id);
}

#[test]
fn unreachable_storage_names_the_failing_object() {
    let mem = Arc::new(MemoryBackend::new());
    let faulty = Arc::new(FaultyBackend::new(mem.clone()));
    let secret = Secret::KeyFile([3; 32]);
    Vault::init(faulty.clone(), &secret, &InitOptions::default()).unwrap();
    faulty.set(Fault::FailReads);
    let err = Vault::open(faulty.clone(), &secret)
        .err()
        .expect("reads fail");
    assert!(err.to_string().contains("config"), "{err}");
}

#[test]
fn damaged_tree_in_memory_vault_is_reported_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/x"), b"x").unwrap();
    let (mem, vault) = new_memory_vault();
    let r = backup(&vault, &src, &BackupOptions::default()).unwrap();
    // Damage the data pack, then the tree pack: each time the snapshot is named.
    let index = vault.load_index().unwrap();
    let sid = r.id.unwrap().short();
    for tree_pack in [false, true] {
        for (n, p) in index.packs().iter().enumerate() {
            if index.is_tree_pack(n as u32) == tree_pack {
                mem.tamper(&coffer_core::ObjectKind::Pack.path(p), |b| b[5] ^= 1);
                let report = check(
                    &vault,
                    &CheckOptions {
                        read_data: ReadData::All,
                    },
                )
                .unwrap();
                assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
                assert_eq!(
                    report.problems[0].snapshots,
                    vec![sid.clone()],
                    "{:?}",
                    report.problems
                );
                mem.tamper(&coffer_core::ObjectKind::Pack.path(p), |b| b[5] ^= 1);
            }
        }
    }
    assert!(check(
        &vault,
        &CheckOptions {
            read_data: ReadData::All
        }
    )
    .unwrap()
    .ok());
}
