//! PostgreSQL WAL archiving: `wal-push` (`archive_command`), `wal-fetch`
//! (`restore_command`), `wal-verify` (gaps and the recoverable window) and
//! `wal-prune` (deletes WAL that no base backup in the vault needs, see
//! [`prune`]).
//!
//! The object format (encrypted names, compressed and sealed content, the
//! retry rule) is coffer-core's [`coffer_core::wal`]; this module adds the
//! file handling PostgreSQL expects:
//!
//! - `wal-push` reads the file, stores it and returns only once the object
//!   is durable. It loads no index and writes no snapshot, so it costs one
//!   existence check and one write per segment.
//! - `wal-fetch` writes a temporary file in the destination's directory,
//!   fsyncs it and renames it into place, so PostgreSQL never sees half a
//!   segment. A file the vault lacks is [`FetchOutcome::Missing`] and nothing
//!   is written: PostgreSQL asks for such files at the end of every recovery.

use std::io::Write;
use std::path::Path;

use coffer_core::wal::{self, PutOutcome};
use coffer_core::Vault;

use super::physical::KIND_BASE;
use crate::error::{SourceError, SourceResult};

pub use super::segment::{format_lsn, parse_lsn, Segment};
pub use super::wal_prune_report::{PruneOptions, PruneReport};

/// What [`fetch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The file was written; its size in bytes.
    Written(u64),
    /// The vault holds no such file; nothing was written.
    Missing,
}

/// Archives the WAL file at `path` under its file name.
pub fn push(vault: &Vault, path: &Path) -> SourceResult<(String, PutOutcome)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            SourceError::Usage(format!(
                "{} does not end in a WAL file name: give the path PostgreSQL passes as %p",
                path.display()
            ))
        })?
        .to_string();
    let data = std::fs::read(path)
        .map_err(|e| SourceError::io(format!("reading WAL file {}", path.display()), e))?;
    let outcome = wal::put(vault, &name, &data)?;
    Ok((name, outcome))
}

/// Writes archived WAL file `name` to `dest` atomically, or reports it
/// missing without touching `dest`.
pub fn fetch(vault: &Vault, name: &str, dest: &Path) -> SourceResult<FetchOutcome> {
    let Some(data) = wal::get(vault, name)? else {
        return Ok(FetchOutcome::Missing);
    };
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".coffer-wal-fetch-")
        .tempfile_in(&dir)
        .map_err(|e| {
            SourceError::io(format!("creating a temporary file in {}", dir.display()), e)
        })?;
    tmp.write_all(&data)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| SourceError::io(format!("writing {}", tmp.path().display()), e))?;
    tmp.persist(dest).map_err(|e| {
        SourceError::io(
            format!("moving WAL file {name} to {}", dest.display()),
            e.error,
        )
    })?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(FetchOutcome::Written(data.len() as u64))
}

/// A run of missing segments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// The last archived segment before the gap.
    pub after: String,
    /// The first archived segment after it.
    pub before: String,
    /// Segments missing between them.
    pub missing: u64,
}

/// A base backup and whether the archive lets it recover.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BaseBackupWal {
    /// Snapshot id (hex).
    pub snapshot: String,
    /// When it was taken.
    pub time: String,
    /// The first WAL file it needs.
    pub start_wal_file: String,
    /// The last WAL file it needs to become consistent (from the backup
    /// history file the server archived; `None` when that is missing).
    pub end_wal_file: Option<String>,
    /// Whether every segment from its start to its end is archived.
    pub consistent: bool,
    /// The newest segment reachable from its start without a gap.
    pub recoverable_to: Option<String>,
}

/// What `wal-verify` found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Archived WAL segments.
    pub segments: usize,
    /// Other archived files (timeline history, backup history, partial).
    pub other_files: usize,
    /// The oldest and newest archived segment.
    pub oldest_segment: Option<String>,
    /// The newest archived segment.
    pub newest_segment: Option<String>,
    /// Gaps between the oldest and the newest segment (segment numbers no
    /// timeline has).
    pub gaps: Vec<Gap>,
    /// Gaps at or after the oldest base backup's start: they cut the
    /// recoverable window.
    pub gaps_in_window: usize,
    /// Base backups (`postgres-base` snapshots), oldest first.
    pub base_backups: Vec<BaseBackupWal>,
    /// The recoverable window: from the oldest base backup that can become
    /// consistent (its time) to the newest segment reachable from it.
    pub window: Option<(String, String)>,
    /// Names under `wal/` that do not decode.
    pub undecodable: Vec<String>,
}

/// Lists the archive and the vault's base backups and reports gaps and the
/// recoverable window. A gap is a segment number that no timeline has
/// between the oldest and the newest archived segment (a timeline switch
/// continues the numbering, so it leaves none).
pub fn verify(vault: &Vault) -> SourceResult<VerifyReport> {
    use std::collections::BTreeMap;
    let (files, undecodable) = wal::list(vault)?;
    let bases: Vec<_> = vault
        .snapshots(&Default::default())?
        .into_iter()
        .filter(|(_, s)| s.source.kind == KIND_BASE)
        .collect();
    let seg_size: u64 = bases
        .iter()
        .find_map(|(_, s)| s.source.details.get("wal_segment_size")?.parse().ok())
        .unwrap_or(16 << 20);
    // Segment number -> the name seen (highest timeline wins).
    let mut by_number: BTreeMap<u64, String> = BTreeMap::new();
    let mut report = VerifyReport {
        undecodable,
        ..Default::default()
    };
    for f in &files {
        match Segment::parse(&f.name) {
            Some(s) => {
                report.segments += 1;
                by_number.insert(s.number(seg_size), f.name.clone());
            }
            None => report.other_files += 1,
        }
    }
    report.oldest_segment = by_number.values().next().cloned();
    report.newest_segment = by_number.values().next_back().cloned();
    let mut prev: Option<(u64, &String)> = None;
    for (n, name) in &by_number {
        if let Some((p, pname)) = prev {
            if *n > p + 1 {
                report.gaps.push(Gap {
                    after: pname.clone(),
                    before: name.clone(),
                    missing: n - p - 1,
                });
            }
        }
        prev = Some((*n, name));
    }
    // The newest segment reachable from `start` without a gap.
    let reach = |start: u64| -> Option<(u64, String)> {
        let mut last: Option<(u64, String)> = None;
        for (n, name) in by_number.range(start..) {
            let next = last.as_ref().map_or(start, |(p, _)| p + 1);
            if *n != next {
                break;
            }
            last = Some((*n, name.clone()));
        }
        last
    };
    for (id, snap) in &bases {
        let d = &snap.source.details;
        let Some(start) = d.get("start_wal_file").and_then(|f| Segment::parse(f)) else {
            continue;
        };
        // The backup history file the server archived when the backup ended.
        let history = match d.get("start_lsn").and_then(|l| parse_lsn(l)) {
            Some(lsn) => format!("{}.{:08X}.backup", start.name(), lsn % seg_size),
            None => String::new(),
        };
        let end = if files.iter().any(|f| f.name == history) {
            wal::get(vault, &history)?.and_then(|b| stop_file(&String::from_utf8_lossy(&b)))
        } else {
            None
        };
        let reached = reach(start.number(seg_size));
        let consistent = match (&reached, end) {
            (Some((r, _)), Some(e)) => *r >= e.number(seg_size),
            // Without its history file the end is unknown: not provably consistent.
            (Some(_), None) => false,
            (None, _) => false,
        };
        report.base_backups.push(BaseBackupWal {
            snapshot: id.to_hex(),
            time: snap.time.clone(),
            start_wal_file: start.name(),
            end_wal_file: end.map(|e| e.name()),
            consistent,
            recoverable_to: reached.map(|(_, n)| n),
        });
    }
    if let Some(b) = report.base_backups.iter().find(|b| b.consistent) {
        let start = Segment::parse(&b.start_wal_file)
            .map(|s| s.number(seg_size))
            .unwrap_or(0);
        report.gaps_in_window = report
            .gaps
            .iter()
            .filter(|g| Segment::parse(&g.before).is_some_and(|s| s.number(seg_size) > start))
            .count();
        if let Some(to) = &b.recoverable_to {
            report.window = Some((b.time.clone(), to.clone()));
        }
    }
    Ok(report)
}

/// The segment of `STOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)`
/// in a backup history file.
fn stop_file(text: &str) -> Option<Segment> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("STOP WAL LOCATION: "))?;
    Segment::parse(line.split("(file ").nth(1)?.trim_end_matches(')').trim())
}

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

    #[test]
    fn names_and_lsns() {
        let s = Segment::parse("000000010000000A000000FF").unwrap();
        assert_eq!((s.timeline, s.log, s.seg), (1, 10, 255));
        assert_eq!(s.name(), "000000010000000A000000FF");
        assert!(Segment::parse("00000002.history").is_none());
        assert_eq!(parse_lsn("0/2000028"), Some(0x2000028));
        assert_eq!(format_lsn(0x1_0200_0028), "1/2000028");
        let seg = Segment::of_lsn(1, parse_lsn("1/2000028").unwrap(), 16 << 20);
        assert_eq!(seg.name(), "000000010000000100000002");
        assert_eq!(seg.number(16 << 20), 256 + 2);
        let h = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
                 STOP WAL LOCATION: 0/3000100 (file 000000010000000000000003)\n";
        assert_eq!(stop_file(h).unwrap().name(), "000000010000000000000003");
    }
}

#[cfg(test)]
mod prune_tests {
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
