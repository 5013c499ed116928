//! Prune on the in-memory backend: what it frees, what it repacks, how it
//! defers for running backups, and a crash at every write and delete.

use coffer_core::prune::{list_plans, PruneOptions};
use coffer_core::session::{self, Session, SessionGuard, SessionKind};
use coffer_core::{
    check, Backend, BackupOptions, CheckOptions, ChunkerParams, Id, InitOptions, ObjectKind,
    ReadData, Vault,
};
use coffer_sources::stream::{save_stream, StreamReader};
use coffer_sources::{run_backup, SnapshotMeta};
use coffer_testing::{copy_of, noise, object_paths, CrashBackend, MemoryBackend, KEY};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::Arc;

/// Small chunks and packs, so a few MB make many packs.
fn new_vault(backend: Arc<dyn Backend>) -> Vault {
    Vault::init(
        backend,
        &KEY,
        &InitOptions {
            chunker: ChunkerParams {
                min: 16 << 10,
                avg: 64 << 10,
                max: 256 << 10,
            },
            ..Default::default()
        },
    )
    .unwrap()
}

fn opts() -> BackupOptions {
    BackupOptions {
        pack_size: 512 << 10,
        ..Default::default()
    }
}

fn prune_opts() -> PruneOptions {
    PruneOptions {
        pack_size: 512 << 10,
        ..Default::default()
    }
}

fn backup(vault: &Vault, data: &[u8]) -> (Id, coffer_core::Snapshot) {
    let r = run_backup(vault, &opts(), &SnapshotMeta::default(), |a, _| {
        save_stream(a, data, "data.bin", "stdin", BTreeMap::new())
    })
    .unwrap();
    (r.id.unwrap(), r.snapshot)
}

fn read_back(vault: &Vault, snap: &coffer_core::Snapshot) -> Vec<u8> {
    let index = vault.load_index().unwrap();
    let mut r = StreamReader::open(vault, &index, snap).unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    out
}

fn forget(vault: &Vault, id: &Id) {
    vault
        .backend()
        .delete(&ObjectKind::Snapshot.path(id))
        .unwrap();
}

/// check (with every byte read) passes and every snapshot reads back as
/// `expected` says.
fn assert_sound(vault: &Vault, expected: &HashMap<Id, Vec<u8>>) {
    coffer_testing::assert_sound(vault);
    let snaps = vault.snapshots(&Default::default()).unwrap();
    assert_eq!(snaps.len(), expected.len());
    for (id, snap) in snaps {
        assert!(
            read_back(vault, &snap) == expected[&id],
            "snapshot {id} differs"
        );
    }
}

fn stored_pack_bytes(vault: &Vault) -> u64 {
    vault
        .list(ObjectKind::Pack)
        .unwrap()
        .iter()
        .map(|(_, s)| s)
        .sum()
}

#[test]
fn prune_frees_what_no_snapshot_uses_and_keeps_the_rest() {
    let vault = new_vault(Arc::new(MemoryBackend::new()));
    let mut expected = HashMap::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let d = noise(i, 3_000_000);
        let (id, _) = backup(&vault, &d);
        expected.insert(id, d);
        ids.push(id);
    }
    let before = stored_pack_bytes(&vault);
    forget(&vault, &ids[1]);
    expected.remove(&ids[1]);

    let r = coffer_core::prune(&vault, &prune_opts()).unwrap();
    assert!(r.packs_unused > 0, "{r:?}");
    assert_eq!(r.packs_deleted, r.packs_unused);
    assert!(r.bytes_freed > 2_500_000, "{r:?}");
    assert_eq!(r.plans_done.len(), 1);
    assert!(r.plans_deferred.is_empty());
    assert_eq!(stored_pack_bytes(&vault), before - r.bytes_freed);
    assert!(vault.list(ObjectKind::PrunePlan).unwrap().is_empty());
    assert!(vault.list(ObjectKind::Session).unwrap().is_empty());
    assert_sound(&vault, &expected);

    // Nothing left to do.
    let again = coffer_core::prune(&vault, &prune_opts()).unwrap();
    assert_eq!(again.packs_deleted, 0, "{again:?}");
    assert!(again.plan.is_none());
    assert_sound(&vault, &expected);
}

#[test]
fn dry_run_reports_the_same_and_writes_nothing() {
    let backend = Arc::new(MemoryBackend::new());
    let vault = new_vault(backend.clone());
    let (a, _) = backup(&vault, &noise(1, 2_000_000));
    let (b, _) = backup(&vault, &noise(2, 2_000_000));
    forget(&vault, &a);
    let before = object_paths(backend.as_ref());
    let dry = coffer_core::prune(
        &vault,
        &PruneOptions {
            dry_run: true,
            ..prune_opts()
        },
    )
    .unwrap();
    assert_eq!(object_paths(backend.as_ref()), before);
    let real = coffer_core::prune(&vault, &prune_opts()).unwrap();
    assert_eq!(dry.packs_unused, real.packs_unused);
    assert_eq!(dry.packs_deleted, real.packs_deleted);
    assert_eq!(dry.bytes_freed, real.bytes_freed);
    assert!(real.bytes_freed > 0);
    let mut expected = HashMap::new();
    expected.insert(b, noise(2, 2_000_000));
    assert_sound(&vault, &expected);
}

#[test]
fn repack_copies_used_blobs_out_of_mostly_empty_packs() {
    let vault = new_vault(Arc::new(MemoryBackend::new()));
    let d1 = noise(7, 4_000_000);
    // d2 shares a prefix with d1: after d1's snapshot is forgotten, the
    // pack holding that prefix is partly unused. Chunking is keyed (cut
    // points differ per vault), so the prefix is longer than the largest
    // chunk (at least one chunk is always shared) and every partly used
    // pack is repacked: the test does not depend on where the cuts fall.
    let mut d2 = d1[..300_000].to_vec();
    d2.extend(noise(8, 1_000_000));
    let (s1, _) = backup(&vault, &d1);
    let (s2, _) = backup(&vault, &d2);
    forget(&vault, &s1);
    let before = stored_pack_bytes(&vault);
    let r = coffer_core::prune(
        &vault,
        &PruneOptions {
            repack_below: 0.99,
            ..prune_opts()
        },
    )
    .unwrap();
    assert!(r.packs_repacked >= 1, "{r:?}");
    assert!(r.blobs_copied >= 1 && r.packs_written >= 1, "{r:?}");
    assert!(r.bytes_freed > 0);
    assert_eq!(
        stored_pack_bytes(&vault),
        before + r.bytes_written - r.bytes_deleted
    );
    let mut expected = HashMap::new();
    expected.insert(s2, d2);
    assert_sound(&vault, &expected);

    // --repack-below 0 never repacks.
    let vault = new_vault(Arc::new(MemoryBackend::new()));
    let (s1, _) = backup(&vault, &d1);
    let (_s2, _) = backup(&vault, &expected[&s2]);
    forget(&vault, &s1);
    let r = coffer_core::prune(
        &vault,
        &PruneOptions {
            repack_below: 0.0,
            ..prune_opts()
        },
    )
    .unwrap();
    assert_eq!(r.packs_repacked, 0, "{r:?}");
}

/// The core race: a backup that loaded the index before prune condemned a
/// pack deduplicates against it. Prune must defer the deletion while that
/// backup runs, and afterwards spare what its snapshot uses.
#[test]
fn a_backup_running_across_a_prune_keeps_what_it_referenced() {
    let vault = new_vault(Arc::new(MemoryBackend::new()));
    let d = noise(3, 3_000_000);
    let (old, _) = backup(&vault, &d);
    forget(&vault, &old);

    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let v = vault.clone();
    let d2 = d.clone();
    let writer = std::thread::spawn(move || {
        run_backup(&v, &opts(), &SnapshotMeta::default(), |a, _| {
            // The index is loaded (with no plan in it yet): let prune run.
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            save_stream(a, &d2[..], "data.bin", "stdin", BTreeMap::new())
        })
        .unwrap()
    });
    ready_rx.recv().unwrap();
    let r = coffer_core::prune(&vault, &prune_opts()).unwrap();
    assert!(r.packs_unused > 0, "{r:?}");
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    assert_eq!(r.plans_deferred.len(), 1, "{r:?}");
    let s = &r.plans_deferred[0].sessions;
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].pid, std::process::id());
    assert_eq!(s[0].kind, SessionKind::Backup);
    // check passes with a plan pending.
    let c = check(
        &vault,
        &CheckOptions {
            read_data: ReadData::All,
        },
    )
    .unwrap();
    assert!(c.ok() && c.prune_plans == 1 && c.sessions == 1, "{c:?}");

    go_tx.send(()).unwrap();
    let res = writer.join().unwrap();
    // It deduplicated against the condemned packs: nothing new stored.
    assert_eq!(res.snapshot.summary.blobs_added, 1, "only the tree is new");

    let r = coffer_core::prune(&vault, &prune_opts()).unwrap();
    assert!(r.plans_deferred.is_empty(), "{r:?}");
    assert!(r.packs_spared > 0, "{r:?}");
    // Only the old snapshot's tree pack goes: the new tree differs (mtime).
    assert!(r.packs_deleted <= 1, "{r:?}");
    assert!(list_plans(&vault).unwrap().0.is_empty());
    let mut expected = HashMap::new();
    expected.insert(res.id.unwrap(), d);
    assert_sound(&vault, &expected);
}

/// A backup that starts while a plan waits does not deduplicate against
/// the condemned packs: it stores the data again, so the plan can run.
#[test]
fn a_backup_after_a_plan_stores_condemned_data_again() {
    let vault = new_vault(Arc::new(MemoryBackend::new()));
    let d = noise(4, 2_000_000);
    let (old, _) = backup(&vault, &d);
    forget(&vault, &old);
    // A live backup on another host that started long ago holds the plan.
    let now = jiff::Timestamp::now();
    let other = Session {
        version: 1,
        kind: SessionKind::Backup,
        host: "elsewhere".into(),
        pid: 4242,
        started: (now - jiff::SignedDuration::from_hours(2)).to_string(),
        refreshed: now.to_string(),
        machine: String::new(),
    };
    let sid = session::save(&vault, &other).unwrap();
    let r = coffer_core::prune(&vault, &prune_opts()).unwrap();
    assert_eq!(r.plans_deferred.len(), 1);
    assert_eq!(r.plans_deferred[0].sessions[0].host, "elsewhere");

    let (new, snap) = backup(&vault, &d);
    assert!(snap.summary.blobs_added > 10, "{:?}", snap.summary);
    // The old session ends; the plan runs and deletes everything it condemned.
    vault
        .backend()
        .delete(&ObjectKind::Session.path(&sid))
        .unwrap();
    let r = coffer_core::prune(&vault, &prune_opts()).unwrap();
    assert_eq!(r.packs_spared, 0, "{r:?}");
    assert!(r.packs_deleted > 0, "{r:?}");
    let mut expected = HashMap::new();
    expected.insert(new, d);
    assert_sound(&vault, &expected);
}

#[test]
fn stale_sessions_are_removed_and_do_not_hold_plans() {
    let vault = new_vault(Arc::new(MemoryBackend::new()));
    let (old, _) = backup(&vault, &noise(5, 1_000_000));
    forget(&vault, &old);
    let now = jiff::Timestamp::now();
    let mk = |hours: i64| Session {
        version: 1,
        kind: SessionKind::Backup,
        host: "elsewhere".into(),
        pid: 1,
        started: (now - jiff::SignedDuration::from_hours(hours + 1)).to_string(),
        refreshed: (now - jiff::SignedDuration::from_hours(hours)).to_string(),
        machine: String::new(),
    };
    session::save(&vault, &mk(48)).unwrap(); // older than a day: removed
    session::save(&vault, &mk(2)).unwrap(); // stale, not live: kept, ignored
                                            // A session of a process gone on this machine is dead at once.
    let mut dead = Session::new(SessionKind::Prune);
    dead.pid = dead_pid();
    session::save(&vault, &dead).unwrap();
    let r = coffer_core::prune(&vault, &prune_opts()).unwrap();
    assert_eq!(r.sessions_removed, 2, "{r:?}");
    assert!(r.plans_deferred.is_empty(), "{r:?}");
    assert!(r.packs_deleted > 0);
    assert_eq!(vault.list(ObjectKind::Session).unwrap().len(), 1);
}

/// A pid that no process has: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn a_session_is_refreshed_and_deleted_at_the_end() {
    let vault = new_vault(Arc::new(MemoryBackend::new()));
    let g = SessionGuard::start_with(
        &vault,
        SessionKind::Backup,
        std::time::Duration::from_millis(20),
    )
    .unwrap();
    let first = g.id();
    while g.id() == first {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let s = g.session();
    let (listed, bad) = session::list(&vault).unwrap();
    assert!(bad.is_empty());
    // The old object is deleted after the new one is written.
    assert!(listed.iter().any(|(_, l)| l.started == s.started));
    g.check_fresh().unwrap();
    drop(g);
    assert!(vault.list(ObjectKind::Session).unwrap().is_empty());
}

#[test]
fn a_crash_at_every_write_and_delete_of_prune_leaves_a_sound_vault() {
    // A vault with data to delete, packs to repack and an unreferenced pack.
    // Chunking is keyed (cut points differ per vault): the shared prefix is
    // a little longer than the largest chunk (256 KiB), so at least one
    // chunk is always shared, and it is under 60% of a full 512 KiB pack,
    // which is repacked below 60% use, so a repack happens wherever the cuts
    // fall. Packs prune writes are full of used blobs: a third prune finds
    // nothing more to do.
    let opts = PruneOptions {
        repack_below: 0.6,
        ..prune_opts()
    };
    let base = Arc::new(MemoryBackend::new());
    let vault = new_vault(base.clone());
    let d1 = noise(11, 3_000_000);
    let mut d2 = d1[..270_000].to_vec();
    d2.extend(noise(12, 800_000));
    let d3 = noise(13, 1_000_000);
    let (s1, _) = backup(&vault, &d1);
    let (s2, _) = backup(&vault, &d2);
    let (s3, _) = backup(&vault, &d3);
    forget(&vault, &s1);
    let orphan = {
        let mut b = coffer_core::pack::PackBuilder::default();
        let data = noise(14, 1000);
        let id = vault.key().chunk_id(&data);
        let sealed = coffer_core::pack::seal_blob(vault.key(), &id, &data, 0);
        b.add(coffer_core::BlobKind::Data, id, &sealed, 1000)
            .unwrap();
        b.finish(vault.key())
    };
    base.write(&ObjectKind::Pack.path(&orphan.id), orphan.bytes)
        .unwrap();
    let mut expected = HashMap::new();
    expected.insert(s2, d2);
    expected.insert(s3, d3);

    // Count the mutations of an undisturbed run.
    let probe = Arc::new(CrashBackend::new(copy_of(base.as_ref()), u64::MAX));
    let pv = Vault::open(probe.clone(), &KEY).unwrap();
    let full = coffer_core::prune(&pv, &opts).unwrap();
    assert!(full.packs_repacked > 0 && full.packs_unused > 0 && full.packs_unreferenced == 1);
    let total = probe.mutations();
    assert!(total >= 8, "{total} mutations");

    for n in 0..total {
        let mem = copy_of(base.as_ref());
        let crashing = Arc::new(CrashBackend::new(mem.clone(), n));
        let cv = Vault::open(crashing, &KEY).unwrap();
        // Every step but the last (deleting prune's own session, which
        // only logs a failure) makes prune fail.
        let res = coffer_core::prune(&cv, &opts);
        assert!(res.is_err() || n == total - 1, "crash at mutation {n}");
        // The process "died": its session object (if written) is left. A
        // dead process's session is found dead by pid in real life (the
        // end-to-end kill test covers that); this process lives on, so
        // remove it by hand.
        let v = Vault::open(mem.clone(), &KEY).unwrap();
        for (id, _) in v.list(ObjectKind::Session).unwrap() {
            mem.delete(&ObjectKind::Session.path(&id)).unwrap();
        }
        assert_sound(&v, &expected);
        let r = coffer_core::prune(&v, &opts)
            .unwrap_or_else(|e| panic!("second prune after a crash at {n}: {e}"));
        assert!(r.plans_deferred.is_empty(), "{r:?}");
        assert!(v.list(ObjectKind::PrunePlan).unwrap().is_empty());
        assert_sound(&v, &expected);
        // The job is finished: a third prune finds nothing to delete.
        let r = coffer_core::prune(&v, &opts).unwrap();
        assert_eq!(r.packs_deleted, 0, "after a crash at {n}: {r:?}");
    }
}
