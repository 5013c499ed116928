//! `copy` between two in-memory vaults with different keys: byte-for-byte
//! restores from the destination alone, idempotence, incremental copies,
//! and copies failed at every write position.

use coffer_core::{
    copy_snapshots, BackupOptions, CopyOptions, CopyStats, CopyStatus, Id, InitOptions, Secret,
    Vault,
};
use coffer_sources::filter::Patterns;
use coffer_sources::{files, run_backup, Progress, SnapshotMeta};
use coffer_testing::{
    assert_same_contents, assert_sound, noise, object_paths, small_tree, write, Fault,
    FaultyBackend, MemoryBackend,
};
use std::path::Path;
use std::sync::Arc;

fn vault(secret: u8) -> (Arc<MemoryBackend>, Vault) {
    let mem = Arc::new(MemoryBackend::new());
    let v = Vault::init(
        mem.clone(),
        &Secret::KeyFile([secret; 32]),
        &InitOptions::default(),
    )
    .unwrap();
    (mem, v)
}

fn backup(vault: &Vault, src: &Path) -> coffer_sources::BackupResult {
    let fopts = files::FilesOptions {
        paths: vec![src.to_path_buf()],
        parent: vault
            .snapshots(&Default::default())
            .unwrap()
            .into_iter()
            .last(),
        ..Default::default()
    };
    let meta = SnapshotMeta {
        host: Some("host1".into()),
        tags: vec!["daily".into()],
        ..Default::default()
    };
    run_backup(vault, &BackupOptions::default(), &meta, |a, i| {
        files::backup(a, i, &fopts, &Progress::default())
    })
    .unwrap()
}

fn small_packs() -> CopyOptions {
    CopyOptions {
        pack_size: 1 << 20,
        index_flush_bytes: 1,
        ..Default::default()
    }
}

fn copy(src: &Vault, dst: &Vault, id: Id, opts: &CopyOptions) -> CopyStats {
    copy_snapshots(src, dst, &[id], opts).unwrap()
}

/// Restores the destination's copy of `src` and compares every file.
fn restore_and_compare(v: &Vault, snap: &coffer_core::Snapshot, src: &Path, out: &Path) {
    let index = v.load_index().unwrap();
    files::restore(
        v,
        &index,
        snap,
        &files::RestoreOptions {
            target: out.to_path_buf(),
            includes: Patterns::default(),
            subpath: None,
        },
        &Progress::default(),
    )
    .unwrap();
    assert_same_contents(src, &out.join(src.strip_prefix("/").unwrap()));
}

#[test]
fn copy_restores_byte_for_byte_from_the_destination_alone() {
    let dir = tempfile::tempdir().unwrap();
    let src_tree = dir.path().join("src");
    small_tree(&src_tree);
    let (_, src) = vault(1);
    let (dst_mem, dst) = vault(2);
    let b = backup(&src, &src_tree);
    let id = b.id.unwrap();
    let opts = CopyOptions {
        tags: vec!["copied".into()],
        ..Default::default()
    };
    let stats = copy(&src, &dst, id, &opts);
    assert_eq!(stats.state(), "COMPLETED");
    let s = &stats.snapshots[0];
    assert_eq!(s.status, CopyStatus::Copied);
    assert_eq!(s.counters.blobs_sent, b.snapshot.summary.blobs_added);
    assert_eq!(s.counters.bytes_sent, b.snapshot.summary.bytes_added);
    let dst_id = s.destination.unwrap();
    drop(src);
    // Only the destination's storage and key from here on.
    let dst = Vault::open(dst_mem, &Secret::KeyFile([2; 32])).unwrap();
    assert_sound(&dst);
    let copied = dst.load_snapshot(&dst_id).unwrap();
    let orig = &b.snapshot;
    assert_eq!(copied.time, orig.time);
    assert_eq!(copied.paths, orig.paths);
    assert_eq!(copied.hostname, "host1");
    assert_eq!(copied.tags, vec!["daily".to_string(), "copied".into()]);
    assert_eq!(copied.source, orig.source);
    assert_eq!(copied.summary, orig.summary);
    let origin = copied.origin.clone().unwrap();
    assert_eq!(origin.snapshot, id);
    // Different keys: the same content has another root tree id.
    assert_ne!(copied.tree, orig.tree);
    restore_and_compare(&dst, &copied, &src_tree, &dir.path().join("out"));
}

#[test]
fn copying_twice_stores_no_new_object() {
    let dir = tempfile::tempdir().unwrap();
    let src_tree = dir.path().join("src");
    small_tree(&src_tree);
    let (_, src) = vault(1);
    let (dst_mem, dst) = vault(2);
    let id = backup(&src, &src_tree).id.unwrap();
    let first = copy(&src, &dst, id, &Default::default());
    let before = object_paths(dst_mem.as_ref());
    let again = copy(&src, &dst, id, &Default::default());
    assert_eq!(
        object_paths(dst_mem.as_ref()),
        before,
        "a second copy wrote objects"
    );
    let s = &again.snapshots[0];
    assert_eq!(s.status, CopyStatus::Skipped);
    assert_eq!(s.destination, first.snapshots[0].destination);
    assert_eq!(s.counters, Default::default());
    // The same id twice in one run is copied once.
    let (_, dst2) = vault(3);
    let twice = copy_snapshots(&src, &dst2, &[id, id], &Default::default()).unwrap();
    assert_eq!(twice.snapshots.len(), 1);
    assert_eq!(dst2.snapshots(&Default::default()).unwrap().len(), 1);
    // Copying a copy back to where it came from is a no-op too.
    let back = copy(
        &dst,
        &src,
        first.snapshots[0].destination.unwrap(),
        &Default::default(),
    );
    assert_eq!(back.snapshots[0].status, CopyStatus::Skipped);
    assert_eq!(back.snapshots[0].destination, Some(id));
}

#[test]
fn incremental_copy_sends_only_the_new_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let src_tree = dir.path().join("src");
    small_tree(&src_tree);
    let (_, src) = vault(1);
    let (_, dst) = vault(2);
    let first = backup(&src, &src_tree);
    let full = copy(&src, &dst, first.id.unwrap(), &Default::default());
    // A small change: one new file in one directory.
    write(&src_tree.join("a/other/new.bin"), &noise(1234, 700_000));
    let second = backup(&src, &src_tree);
    let added = &second.snapshot.summary;
    assert!(added.blobs_added >= 2, "{added:?}");
    let inc = copy(&src, &dst, second.id.unwrap(), &Default::default());
    let c = &inc.snapshots[0].counters;
    assert_eq!(inc.snapshots[0].status, CopyStatus::Copied);
    // Exactly the blobs the source stored for the change: the new chunk(s)
    // and the trees on the path to it (same chunk boundaries, one tree per
    // tree).
    assert_eq!(c.blobs_sent, added.blobs_added, "{c:?}");
    assert_eq!(c.bytes_sent, added.bytes_added, "{c:?}");
    // Unchanged directories (big/, a/b/) come from the copy map unread.
    assert!(c.trees_reused >= 2, "{c:?}");
    assert!(
        c.bytes_read < full.totals.bytes_read / 4,
        "an incremental copy read {c:?}, the full one {:?}",
        full.totals
    );
    // The parent maps to the parent's copy.
    let copied = dst
        .load_snapshot(&inc.snapshots[0].destination.unwrap())
        .unwrap();
    assert_eq!(copied.parent, full.snapshots[0].destination);
    restore_and_compare(&dst, &copied, &src_tree, &dir.path().join("out"));
    assert_sound(&dst);
}

#[test]
fn a_copy_failed_at_each_write_resumes_sending_less() {
    let dir = tempfile::tempdir().unwrap();
    let src_tree = dir.path().join("src");
    small_tree(&src_tree);
    let (_, src) = vault(1);
    let id = backup(&src, &src_tree).id.unwrap();
    let (_, clean) = vault(2);
    let full = copy(&src, &clean, id, &small_packs()).totals;
    assert!(full.blobs_sent > 5, "{full:?}");
    let mut after = 0;
    loop {
        let mem = Arc::new(MemoryBackend::new());
        let faulty = Arc::new(FaultyBackend::new(mem.clone()));
        let dst = Vault::init(
            faulty.clone(),
            &Secret::KeyFile([2; 32]),
            &InitOptions::default(),
        )
        .unwrap();
        faulty.set(Fault::FailWritesAfter(after));
        let stats = match copy_snapshots(&src, &dst, &[id], &small_packs()) {
            Ok(s) => s,
            Err(e) => {
                // The first write is the copy's writer session: when it
                // fails, nothing else is attempted.
                faulty.set(Fault::None);
                assert_eq!(after, 0, "{e}");
                assert!(e.to_string().contains("no space left"), "{e}");
                assert_sound(&dst);
                after += 1;
                continue;
            }
        };
        faulty.set(Fault::None);
        let s = &stats.snapshots[0];
        if s.status == CopyStatus::Copied {
            // Past the last write: every position was tried.
            assert!(after > 4, "only {after} writes");
            break;
        }
        assert_eq!(s.status, CopyStatus::Failed);
        assert_eq!(stats.state(), "FAILED");
        assert!(
            s.detail.as_deref().unwrap().contains("no space left"),
            "{:?}",
            s.detail
        );
        assert!(dst.snapshots(&Default::default()).unwrap().is_empty());
        assert_sound(&dst);
        let resumed = copy_snapshots(&src, &dst, &[id], &small_packs()).unwrap();
        let r = &resumed.snapshots[0];
        assert_eq!(r.status, CopyStatus::Copied, "{:?}", r.detail);
        // Each kept pack and index object is work the resumed copy skips
        // (the first write is the session, then a pack and its index).
        if after >= 3 {
            assert!(
                r.counters.blobs_sent < full.blobs_sent,
                "failed after {after} writes, resumed {:?}, full {full:?}",
                r.counters
            );
        } else {
            assert!(r.counters.blobs_sent <= full.blobs_sent);
        }
        assert_sound(&dst);
        after += 1;
        assert!(after < 200);
    }
    let out = dir.path().join("out");
    let (_, dst) = vault(4);
    let s = copy(&src, &dst, id, &small_packs());
    let snap = dst
        .load_snapshot(&s.snapshots[0].destination.unwrap())
        .unwrap();
    restore_and_compare(&dst, &snap, &src_tree, &out);
}

#[test]
fn dry_run_writes_nothing_and_counts_like_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let src_tree = dir.path().join("src");
    small_tree(&src_tree);
    let (_, src) = vault(1);
    let (dst_mem, dst) = vault(2);
    let id = backup(&src, &src_tree).id.unwrap();
    let before = coffer_core::Backend::list(dst_mem.as_ref(), "")
        .unwrap()
        .len();
    let dry = copy(
        &src,
        &dst,
        id,
        &CopyOptions {
            dry_run: true,
            ..Default::default()
        },
    );
    assert_eq!(
        coffer_core::Backend::list(dst_mem.as_ref(), "")
            .unwrap()
            .len(),
        before
    );
    assert_eq!(dry.snapshots[0].status, CopyStatus::Copied);
    assert_eq!(dry.snapshots[0].destination, None);
    let real = copy(&src, &dst, id, &Default::default());
    assert_eq!(dry.totals.blobs_sent, real.totals.blobs_sent);
}
