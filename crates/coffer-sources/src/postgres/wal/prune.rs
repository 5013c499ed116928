//! `wal-prune`: deletes archived WAL that no base backup in the vault needs.

use coffer_core::wal;
use coffer_core::Vault;

use super::super::physical::KIND_BASE;
use super::{PruneOptions, PruneReport, Segment};
use crate::error::{SourceError, SourceResult};

/// Deletes archived WAL that no base backup in the vault needs.
///
/// The oldest base backup still in the vault (the `postgres-base` snapshot
/// with the lowest start segment, compared by position in the WAL, whatever
/// the timeline) sets the horizon: every WAL segment whose position is
/// below that base backup's start segment is deleted, on any timeline, and
/// so is every backup history file (`X.000000XX.backup`) whose segment `X`
/// is below it. Timeline history files (`0000000N.history`) are always
/// kept: they are tiny and recovery onto any later timeline reads them all.
/// `.partial` files and names that are not PostgreSQL's are kept too.
///
/// Nothing at all is deleted when the vault holds no base backup (the
/// report says so with `horizon: None`; it is not an error), and the call
/// fails, deleting nothing, when a base backup's `start_wal_file` is missing
/// or is not a segment name. A base backup taken while this runs starts at
/// the newest segment, above any horizon, so its WAL is never deleted.
///
/// Under a vault lock, an object younger than the lock's
/// `min_retention_days` (by the store's modification time) is kept, and so
/// is every object whose time the store does not tell. A failed delete (an
/// S3 object lock refusing, say) is recorded in the report and the others
/// go on; the call then returns [`SourceError::WalPrune`] carrying the
/// report.
pub fn prune(vault: &Vault, opts: &PruneOptions) -> SourceResult<PruneReport> {
    let mut report = PruneReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    // The horizon: the lowest start segment of any base backup, by position.
    let mut horizon: Option<(Segment, String, String)> = None;
    for (id, snap) in vault.snapshots(&Default::default())? {
        if snap.source.kind != KIND_BASE {
            continue;
        }
        report.base_backups += 1;
        let start = snap.source.details.get("start_wal_file");
        let Some(seg) = start.and_then(|f| Segment::parse(f)) else {
            return Err(SourceError::Mismatch(format!(
                "base backup snapshot {} ({}) has {}: without it the WAL it needs is unknown, \
                 so no archived WAL was deleted; check the snapshot with `coffer snapshots --json`, \
                 or forget it if it is damaged",
                id.to_hex(),
                snap.time,
                match start {
                    Some(f) => format!("start_wal_file `{f}`, which is not a WAL segment name"),
                    None => "no start_wal_file detail".into(),
                }
            )));
        };
        if horizon
            .as_ref()
            .is_none_or(|(h, _, _)| (seg.log, seg.seg) < (h.log, h.seg))
        {
            horizon = Some((seg, id.to_hex(), snap.time.clone()));
        }
    }
    let (files, undecodable) = wal::list(vault)?;
    report.kept = files.len() + undecodable.len();
    let Some((h, snapshot, time)) = horizon else {
        return Ok(report);
    };
    report.horizon = Some(h.name());
    report.horizon_snapshot = Some(snapshot);
    report.horizon_time = Some(time);
    let below = |s: &Segment| (s.log, s.seg) < (h.log, h.seg);
    let min_days = vault
        .lock_state()?
        .lock
        .map(|l| l.policy.min_retention_days)
        .filter(|d| *d > 0);
    for f in &files {
        let history = match Segment::parse(&f.name) {
            Some(s) if below(&s) => false,
            Some(_) => continue,
            None => match backup_history_segment(&f.name) {
                Some(s) if below(&s) => true,
                _ => continue,
            },
        };
        if let Some(days) = min_days {
            let young = match vault.backend().modified(&f.path) {
                Ok(Some(t)) => coffer_core::retention::add_days(t, days) > opts.now,
                Ok(None) => true,
                Err(e) => {
                    report
                        .failed
                        .push(format!("{}: {}", f.name, vault.storage_err(e)));
                    continue;
                }
            };
            if young {
                report.kept_for_lock += 1;
                continue;
            }
        }
        if !opts.dry_run {
            if let Err(e) = vault.backend().delete(&f.path) {
                report
                    .failed
                    .push(format!("{}: {}", f.name, vault.storage_err(e)));
                continue;
            }
        }
        report.kept -= 1;
        report.bytes_freed += f.size;
        if history {
            report.history_files_deleted += 1;
        } else {
            report.segments_deleted += 1;
        }
    }
    if !report.failed.is_empty() {
        return Err(SourceError::WalPrune(Box::new(report)));
    }
    Ok(report)
}

/// The segment of a backup history file name (`X.000000XX.backup`).
fn backup_history_segment(name: &str) -> Option<Segment> {
    let (seg, rest) = name.split_once('.')?;
    let offset = rest.strip_suffix(".backup")?;
    if offset.len() != 8 || !offset.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Segment::parse(seg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::backend::ObjectKind;
    use coffer_core::lock::LockPolicy;
    use coffer_core::{Backend, Id, InitOptions, Secret, StorageError};
    use coffer_testing::MemoryBackend;
    use jiff::{SignedDuration, Timestamp};
    use std::collections::{HashMap, HashSet};
    use std::sync::{Arc, Mutex};

    /// An in-memory store that tells modification times (when set) and
    /// refuses to delete chosen objects, as an S3 object lock would.
    #[derive(Default)]
    struct Store {
        mem: MemoryBackend,
        times: Mutex<HashMap<String, Timestamp>>,
        refuse: Mutex<HashSet<String>>,
    }

    impl Backend for Store {
        fn location(&self) -> String {
            "mem:test".into()
        }
        fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
            self.mem.write(path, data)
        }
        fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
            self.mem.read(path)
        }
        fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
            self.mem.read_range(path, offset, len)
        }
        fn list(&self, prefix: &str) -> Result<Vec<coffer_core::ObjectInfo>, StorageError> {
            self.mem.list(prefix)
        }
        fn delete(&self, path: &str) -> Result<(), StorageError> {
            if self.refuse.lock().unwrap().contains(path) {
                return Err(StorageError {
                    op: "delete",
                    path: path.into(),
                    message: "AccessDenied: object is WORM protected".into(),
                    not_found: false,
                    retryable: false,
                    kind: coffer_core::StorageErrorKind::Other,
                });
            }
            self.mem.delete(path)
        }
        fn modified(&self, path: &str) -> Result<Option<Timestamp>, StorageError> {
            Ok(self.times.lock().unwrap().get(path).copied())
        }
    }

    fn vault() -> (Arc<Store>, Vault) {
        let store = Arc::new(Store::default());
        let v = Vault::init(
            store.clone(),
            &Secret::KeyFile([5; 32]),
            &InitOptions::default(),
        )
        .unwrap();
        (store, v)
    }

    fn base(v: &Vault, time: &str, start: &str) -> Id {
        let details = [
            ("start_wal_file", start),
            ("start_lsn", "0/5000028"),
            ("timeline", "1"),
            ("wal_segment_size", "16777216"),
        ];
        v.save_snapshot(&coffer_testing::snapshot(time, KIND_BASE, &details))
            .unwrap()
    }

    fn names(v: &Vault) -> Vec<String> {
        wal::list(v)
            .unwrap()
            .0
            .into_iter()
            .map(|w| w.name)
            .collect()
    }

    fn seg(tl: u32, n: u32) -> String {
        Segment {
            timeline: tl,
            log: 0,
            seg: n,
        }
        .name()
    }

    #[test]
    fn horizon_spans_timelines_and_keeps_history_files() {
        let (_, v) = vault();
        let mut all = Vec::new();
        for n in 1..=7 {
            all.push(seg(1, n));
        }
        for n in [4, 7, 8, 9] {
            all.push(seg(2, n));
        }
        all.push("00000002.history".into());
        all.push(format!("{}.00000028.backup", seg(1, 3)));
        all.push(format!("{}.00000028.backup", seg(1, 5)));
        all.push(format!("{}.partial", seg(1, 2)));
        for n in &all {
            wal::put(&v, n, n.as_bytes()).unwrap();
        }
        let a = base(&v, "2025-01-01T00:00:00Z", &seg(1, 5));
        let b = base(&v, "2025-01-02T00:00:00Z", &seg(2, 8));
        // A dry run counts and deletes nothing.
        let dry = prune(
            &v,
            &PruneOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((dry.segments_deleted, dry.history_files_deleted), (5, 1));
        assert_eq!(names(&v).len(), all.len());
        let r = prune(&v, &PruneOptions::default()).unwrap();
        assert_eq!(r.horizon.as_deref(), Some(seg(1, 5).as_str()));
        assert_eq!(r.horizon_snapshot, Some(a.to_hex()));
        assert_eq!(r.base_backups, 2);
        assert_eq!((r.segments_deleted, r.history_files_deleted), (5, 1));
        assert!(r.bytes_freed > 0);
        assert_eq!(r.kept, all.len() - 6);
        let left = names(&v);
        for gone in [seg(1, 1), seg(1, 4), seg(2, 4)] {
            assert!(!left.contains(&gone), "{gone} still there: {left:?}");
        }
        for kept in [
            seg(1, 5),
            seg(2, 7),
            "00000002.history".into(),
            format!("{}.partial", seg(1, 2)),
            format!("{}.00000028.backup", seg(1, 5)),
        ] {
            assert!(left.contains(&kept), "{kept} deleted: {left:?}");
        }
        // Forgetting A moves the horizon to B's start on timeline 2.
        v.backend().delete(&ObjectKind::Snapshot.path(&a)).unwrap();
        let r = prune(&v, &PruneOptions::default()).unwrap();
        assert_eq!(r.horizon_snapshot, Some(b.to_hex()));
        assert_eq!((r.segments_deleted, r.history_files_deleted), (4, 1));
        let left = names(&v);
        assert_eq!(
            left,
            vec![
                format!("{}.partial", seg(1, 2)),
                "00000002.history".to_string(),
                seg(2, 8),
                seg(2, 9),
            ]
        );
        // Idempotent.
        let r = prune(&v, &PruneOptions::default()).unwrap();
        assert_eq!((r.segments_deleted, r.history_files_deleted), (0, 0));
    }

    #[test]
    fn no_base_backup_deletes_nothing() {
        let (_, v) = vault();
        wal::put(&v, &seg(1, 1), b"x").unwrap();
        let r = prune(&v, &PruneOptions::default()).unwrap();
        assert_eq!(r.horizon, None);
        assert_eq!((r.base_backups, r.segments_deleted, r.kept), (0, 0, 1));
        assert_eq!(names(&v).len(), 1);
    }

    #[test]
    fn unreadable_start_file_fails_and_deletes_nothing() {
        let (_, v) = vault();
        wal::put(&v, &seg(1, 1), b"x").unwrap();
        base(&v, "2025-01-02T00:00:00Z", &seg(1, 5));
        let bad = base(&v, "2025-01-03T00:00:00Z", "garbage");
        let e = prune(&v, &PruneOptions::default()).unwrap_err().to_string();
        assert!(e.contains(&bad.to_hex()) && e.contains("garbage"), "{e}");
        assert_eq!(names(&v).len(), 1);
    }

    #[test]
    fn lock_keeps_young_and_undated_objects() {
        let (store, v) = vault();
        let now: Timestamp = "2025-03-01T00:00:00Z".parse().unwrap();
        v.set_lock(
            &LockPolicy {
                min_retention_days: 5,
                max_retention_days: 100,
                changeable_for_days: None,
            },
            "admin",
            now - SignedDuration::from_hours(24 * 30),
        )
        .unwrap();
        for n in 1..=5 {
            wal::put(&v, &seg(1, n), b"x").unwrap();
        }
        base(&v, "2025-02-01T00:00:00Z", &seg(1, 4));
        let at = |n: u32, days: i64| {
            store.times.lock().unwrap().insert(
                wal::object_path(&v, &seg(1, n)),
                now - SignedDuration::from_hours(24 * days),
            );
        };
        at(1, 10); // old enough: deleted
        at(2, 1); // young: kept
                  // 3 has no time: kept
        let r = prune(
            &v,
            &PruneOptions {
                dry_run: false,
                now,
            },
        )
        .unwrap();
        assert_eq!((r.segments_deleted, r.kept_for_lock), (1, 2));
        assert_eq!(names(&v), vec![seg(1, 2), seg(1, 3), seg(1, 4), seg(1, 5)]);
    }

    #[test]
    fn a_refused_delete_is_reported_and_the_rest_go_on() {
        let (store, v) = vault();
        for n in 1..=4 {
            wal::put(&v, &seg(1, n), b"x").unwrap();
        }
        base(&v, "2025-02-01T00:00:00Z", &seg(1, 4));
        let refused = wal::object_path(&v, &seg(1, 2));
        store.refuse.lock().unwrap().insert(refused.clone());
        let e = prune(&v, &PruneOptions::default()).unwrap_err();
        let SourceError::WalPrune(r) = &e else {
            panic!("{e}")
        };
        assert_eq!(r.segments_deleted, 2);
        assert_eq!(r.failed.len(), 1);
        let msg = e.to_string();
        assert!(msg.contains(&refused) && msg.contains(&seg(1, 2)), "{msg}");
        assert_eq!(names(&v), vec![seg(1, 2), seg(1, 4)]);
    }
}
