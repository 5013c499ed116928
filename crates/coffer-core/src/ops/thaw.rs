//! `thaw`: makes a snapshot of a cold vault readable. A vault whose storage
//! class is an archive class (S3 GLACIER, DEEP_ARCHIVE) writes its data
//! packs there, and the store must restore (thaw) each one before a read
//! ([`Backend::write_data_pack`](crate::Backend::write_data_pack)). Every
//! front end (`coffer thaw`, `coffer restore`, the daemon's restore and
//! restore-test jobs) calls [`thaw_snapshot`], which
//!
//! 1. finds exactly the data packs the snapshot's files or stream need
//!    ([`snapshot_data_packs`]: the trees walked once, tree packs left out,
//!    since those are never in the archive class);
//! 2. asks the store to thaw those that are frozen
//!    ([`Backend::request_thaw`](crate::Backend::request_thaw)), which
//!    skips packs already readable or already thawing, so running it again
//!    after an interruption requests nothing twice (resumable, idempotent);
//! 3. with [`ThawOptions::wait`], polls ([`Backend::thaw_state`](crate::Backend::thaw_state))
//!    every [`ThawOptions::poll`] until every pack reads, reporting each
//!    round to a callback and stopping when the [`Cancel`] fires. A pack
//!    found frozen again while waiting (its thawed copy expired, or the
//!    request was lost) is requested again.
//!
//! A vault without an archive class has nothing to thaw: the answer is at
//! once, with no tree read.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backend::{ObjectKind, ThawState, ThawTier};
use crate::error::{Error, Result, StorageError};
use crate::format::id::Id;
use crate::format::index::Index;
use crate::format::snapshot::Snapshot;
use crate::ops::archiver::Cancel;
use crate::vault::handle::Vault;

/// Days a thawed copy stays readable when nothing says otherwise: enough
/// for a restore that starts the next working day, and for a second try.
pub const DEFAULT_THAW_DAYS: u32 = 7;
/// The most days a thawed copy may be asked for (S3 bills the copy as well
/// as the archived object for every day it exists).
pub const MAX_THAW_DAYS: u32 = 3650;

/// Options of [`thaw_snapshot`].
#[derive(Debug, Clone)]
pub struct ThawOptions {
    /// How fast (and at what cost) the store thaws.
    pub tier: ThawTier,
    /// Days the thawed copies stay readable (1 to [`MAX_THAW_DAYS`]).
    pub days: u32,
    /// Wait until every pack reads; otherwise request and return.
    pub wait: bool,
    /// Time between two looks while waiting.
    pub poll: Duration,
    /// Stops the wait (never a request half sent: each request is whole).
    pub cancel: Option<Cancel>,
}

impl Default for ThawOptions {
    fn default() -> Self {
        let tier = ThawTier::default();
        ThawOptions {
            tier,
            days: DEFAULT_THAW_DAYS,
            wait: false,
            poll: default_poll(tier),
            cancel: None,
        }
    }
}

/// A sensible time between two looks for `tier`: a tenth or less of how
/// long its restores take (Expedited: minutes; Standard: hours; Bulk: up
/// to two days), so a wait ends soon after the thaw without asking the
/// store (each look is one HEAD per pack still frozen) more than needed.
pub fn default_poll(tier: ThawTier) -> Duration {
    match tier {
        ThawTier::Expedited => Duration::from_secs(30),
        ThawTier::Standard => Duration::from_secs(10 * 60),
        ThawTier::Bulk => Duration::from_secs(30 * 60),
    }
}

/// Where a thaw stands: what [`thaw_snapshot`] returns and what it reports
/// after each look while it waits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ThawReport {
    /// The snapshot (full id).
    pub snapshot: String,
    /// The vault's location.
    pub vault: String,
    /// The archive storage class of its data packs; `None`: nothing to thaw.
    pub class: Option<String>,
    /// The tier asked for.
    pub tier: ThawTier,
    /// Days the thawed copies stay readable.
    pub days: u32,
    /// Data packs the snapshot needs.
    pub packs: usize,
    /// Thaws this run requested (including those requested again while it
    /// waited).
    pub requested: usize,
    /// Packs whose thaw an earlier run had requested and that were still
    /// thawing when this run began (not requested again).
    pub already_thawing: usize,
    /// Packs readable now.
    pub ready: usize,
    /// Packs still thawing.
    pub thawing: usize,
    /// When the first thawed copy expires, when the store says.
    pub expires: Option<jiff::Timestamp>,
    /// Seconds spent waiting.
    pub waited_seconds: u64,
}

impl ThawReport {
    /// Every pack reads: the snapshot can be restored.
    pub fn complete(&self) -> bool {
        self.ready == self.packs
    }
}

/// The data packs (vault paths, sorted) that restoring `snap` reads: the
/// packs of every content chunk of its files (or stream). Tree packs are
/// not among them (the vault writes them in a class that reads at once). A
/// chunk the index lacks is left to the restore to report.
pub fn snapshot_data_packs(vault: &Vault, index: &Index, snap: &Snapshot) -> Result<Vec<String>> {
    let mut packs: BTreeSet<u32> = BTreeSet::new();
    let mut seen: HashSet<Id> = HashSet::new();
    let mut todo = vec![snap.tree];
    while let Some(t) = todo.pop() {
        if !seen.insert(t) {
            continue;
        }
        let tree = vault.load_tree(index, &t)?;
        for node in &tree.nodes {
            if let Some(sub) = node.subtree {
                todo.push(sub);
            }
            for c in &node.content {
                if let Some(l) = index.lookup(&c.id) {
                    if !index.is_tree_pack(l.pack) {
                        packs.insert(l.pack);
                    }
                }
            }
        }
    }
    Ok(packs
        .into_iter()
        .map(|p| ObjectKind::Pack.path(&index.pack(p)))
        .collect())
}

/// Thaws the data packs snapshot `id` (`snap`) needs (see the module doc),
/// calling `report` after each look. Without [`ThawOptions::wait`], one
/// look after the requests; the report says whether the thaw is complete.
pub fn thaw_snapshot(
    vault: &Vault,
    index: &Index,
    id: &Id,
    snap: &Snapshot,
    opts: &ThawOptions,
    report: &mut dyn FnMut(&ThawReport),
) -> Result<ThawReport> {
    let backend = vault.backend();
    let mut r = ThawReport {
        snapshot: id.to_hex(),
        vault: backend.location(),
        class: backend.archive_class(),
        tier: opts.tier,
        days: opts.days,
        ..ThawReport::default()
    };
    let Some(class) = r.class.clone() else {
        return Ok(r);
    };
    check_options(&r, &class, id, opts)?;
    let packs = snapshot_data_packs(vault, index, snap)?;
    r.packs = packs.len();
    let refused = |e: StorageError| refused(&r.vault, &class, id, opts, e);
    let first = backend
        .request_thaw(&packs, opts.days, opts.tier)
        .map_err(refused)?;
    r.requested = first.requested;
    r.already_thawing = first.in_progress;
    r.ready = first.ready;
    r.thawing = r.packs - r.ready;
    if r.thawing > 0 {
        // What the requests left thawing, before the first look.
        report(&r);
    }
    // Packs not known to read yet; a readable pack stays so for days.
    let mut waiting: Vec<String> = if first.ready == packs.len() {
        Vec::new()
    } else {
        packs.clone()
    };
    let t0 = Instant::now();
    loop {
        if !waiting.is_empty() {
            let states = backend.thaw_state(&waiting).map_err(refused)?;
            let mut frozen = Vec::new();
            let mut still = Vec::new();
            for (p, s) in waiting.iter().zip(states) {
                match s {
                    ThawState::Readable => {}
                    ThawState::Thawed { until } => {
                        r.expires = match (r.expires, until) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        }
                    }
                    ThawState::Thawing => still.push(p.clone()),
                    ThawState::Frozen => frozen.push(p.clone()),
                }
            }
            if !frozen.is_empty() {
                let again = backend
                    .request_thaw(&frozen, opts.days, opts.tier)
                    .map_err(refused)?;
                r.requested += again.requested;
                still.extend(frozen);
            }
            still.sort();
            r.ready = r.packs - still.len();
            r.thawing = still.len();
            waiting = still;
        }
        r.waited_seconds = t0.elapsed().as_secs();
        report(&r);
        if waiting.is_empty() || !opts.wait {
            return Ok(r);
        }
        sleep(opts, &r, id)?;
    }
}

/// A tier the store would refuse for `class`, or days out of range, as an
/// error naming vault, class and snapshot, before anything is requested.
fn check_options(r: &ThawReport, class: &str, id: &Id, opts: &ThawOptions) -> Result<()> {
    let at = format!(
        "thawing snapshot {} of vault {} (data packs in storage class {class})",
        id.short(),
        r.vault
    );
    if opts.days == 0 || opts.days > MAX_THAW_DAYS {
        return Err(Error::InvalidInput(format!(
            "{at}: {} days is out of range: a thawed copy stays readable 1 to {MAX_THAW_DAYS} days; give --days N (e.g. {DEFAULT_THAW_DAYS})",
            opts.days
        )));
    }
    if opts.tier == ThawTier::Expedited && class.eq_ignore_ascii_case("DEEP_ARCHIVE") {
        return Err(Error::InvalidInput(format!(
            "{at}: DEEP_ARCHIVE does not offer the Expedited tier; give --tier Standard (up to 12 hours) or --tier Bulk (up to 48 hours)"
        )));
    }
    Ok(())
}

/// A request or look the store refused, naming the snapshot, vault, class
/// and tier, and what to run next. Nothing was restored; thaws already
/// requested stay requested.
fn refused(location: &str, class: &str, id: &Id, opts: &ThawOptions, e: StorageError) -> Error {
    Error::Frozen {
        snapshot: id.short(),
        location: location.to_string(),
        after: format!(
            "; the thaw (S3 RestoreObject, tier {}, {} days) of its data packs in storage class {class} \
             did not go through, and nothing was restored; thaws already requested stay requested: \
             fix the cause, then run `coffer thaw {}` again",
            opts.tier,
            opts.days,
            id.short()
        ),
        cause: Box::new(e),
    }
}

/// Sleeps one poll interval, in short steps so a cancel is seen at once.
fn sleep(opts: &ThawOptions, r: &ThawReport, id: &Id) -> Result<()> {
    let until = Instant::now() + opts.poll;
    loop {
        if let Some(c) = &opts.cancel {
            c.check(&format!(
                "waiting for the thaw of snapshot {} ({} of {} data packs ready; the thaws requested go on, \
                 run `coffer thaw {}` to see them)",
                id.short(),
                r.ready,
                r.packs,
                id.short()
            ))?;
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(200)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, ObjectInfo, ThawStats};
    use crate::format::tree::{Node, NodeKind, Tree};
    use crate::keys::Secret;
    use crate::ops::archiver::{Archiver, BackupOptions};
    use crate::test_backend::Mem;
    use crate::vault::InitOptions;
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    /// A store whose data packs are written GLACIER: frozen until asked,
    /// then thawing for `looks` looks, then thawed. `refuse` fails every
    /// request.
    #[derive(Default)]
    struct Cold {
        mem: Mem,
        /// Data pack → looks left until thawed (`None`: frozen).
        packs: Mutex<HashMap<String, Option<u32>>>,
        looks: u32,
        refuse: bool,
        requests: Mutex<Vec<String>>,
    }

    impl Backend for Cold {
        fn location(&self) -> String {
            "cold:".into()
        }
        fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
            self.mem.write(path, data)
        }
        fn write_data_pack(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
            self.packs.lock().unwrap().insert(path.into(), None);
            self.mem.write(path, data)
        }
        fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
            self.mem.read(path)
        }
        fn read_range(&self, path: &str, o: u64, l: u64) -> Result<Vec<u8>, StorageError> {
            self.mem.read_range(path, o, l)
        }
        fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
            self.mem.list(prefix)
        }
        fn delete(&self, path: &str) -> Result<(), StorageError> {
            self.mem.delete(path)
        }
        fn archive_class(&self) -> Option<String> {
            Some("GLACIER".into())
        }
        fn thaw_state(&self, paths: &[String]) -> Result<Vec<ThawState>, StorageError> {
            let mut g = self.packs.lock().unwrap();
            Ok(paths
                .iter()
                .map(|p| match g.get_mut(p) {
                    None => ThawState::Readable,
                    Some(None) => ThawState::Frozen,
                    Some(Some(0)) => ThawState::Thawed { until: None },
                    Some(Some(n)) => {
                        *n -= 1;
                        ThawState::Thawing
                    }
                })
                .collect())
        }
        fn request_thaw(
            &self,
            paths: &[String],
            _days: u32,
            _tier: ThawTier,
        ) -> Result<ThawStats, StorageError> {
            if self.refuse {
                return Err(StorageError {
                    op: "thaw",
                    path: paths[0].clone(),
                    message: "access denied, for RestoreObject".into(),
                    not_found: false,
                    retryable: false,
                    kind: crate::error::StorageErrorKind::AccessDenied,
                });
            }
            let mut s = ThawStats {
                objects: paths.len(),
                ..ThawStats::default()
            };
            let mut g = self.packs.lock().unwrap();
            for p in paths {
                match g.get_mut(p) {
                    None | Some(Some(0)) => s.ready += 1,
                    Some(Some(_)) => s.in_progress += 1,
                    Some(slot @ None) => {
                        *slot = Some(self.looks);
                        s.requested += 1;
                        self.requests.lock().unwrap().push(p.clone());
                    }
                }
            }
            Ok(s)
        }
    }

    /// A vault on `b` with one snapshot of two files (data packs) in a
    /// directory (a tree pack).
    fn snapshot(b: Arc<Cold>) -> (Vault, Id, Snapshot) {
        let v = Vault::init(b, &Secret::KeyFile([7; 32]), &InitOptions::default()).unwrap();
        let index = v.load_index().unwrap();
        let opts = BackupOptions {
            pack_size: 64,
            ..BackupOptions::default()
        };
        let arch = Archiver::new(&v, &index, opts);
        let file = |name: &str, data: &[u8]| {
            let mut n = Node::new(name.as_bytes().to_vec(), NodeKind::File);
            n.content = arch.save_bytes(data, Path::new(name)).unwrap();
            n
        };
        let mut d = Node::new(b"d".to_vec(), NodeKind::Dir);
        let inner = Tree::new(vec![file("f", &[1; 4000]), file("g", &[2; 5000])]);
        d.subtree = Some(arch.save_tree(&inner).unwrap());
        let root = arch.save_tree(&Tree::new(vec![d])).unwrap();
        arch.finish().unwrap();
        let snap = Snapshot {
            version: 1,
            time: "2026-01-01T00:00:00Z".into(),
            tree: root,
            paths: vec!["/d".into()],
            hostname: "h".into(),
            username: "u".into(),
            tags: Vec::new(),
            parent: None,
            source: Default::default(),
            program_version: "test".into(),
            summary: Default::default(),
            retain_until: None,
            origin: None,
            rewritten_from: None,
        };
        let id = v.save_snapshot(&snap).unwrap();
        (v, id, snap)
    }

    fn opts(wait: bool) -> ThawOptions {
        ThawOptions {
            wait,
            poll: Duration::from_millis(1),
            ..ThawOptions::default()
        }
    }

    #[test]
    fn issue17_exactly_the_data_packs_are_requested_once_and_a_second_run_requests_nothing() {
        let b = Arc::new(Cold {
            looks: 3,
            ..Cold::default()
        });
        let (v, id, snap) = snapshot(b.clone());
        let index = v.load_index().unwrap();
        let packs = snapshot_data_packs(&v, &index, &snap).unwrap();
        let data: BTreeSet<String> = b.packs.lock().unwrap().keys().cloned().collect();
        assert_eq!(packs.iter().cloned().collect::<BTreeSet<_>>(), data);
        assert!(!packs.is_empty(), "{packs:?}");

        // Without --wait: requested, one look, not complete.
        let r = thaw_snapshot(&v, &index, &id, &snap, &opts(false), &mut |_| {}).unwrap();
        assert_eq!(
            (r.packs, r.requested, r.already_thawing),
            (packs.len(), packs.len(), 0)
        );
        assert!(!r.complete());
        assert_eq!(r.class.as_deref(), Some("GLACIER"));

        // Again, waiting: nothing requested twice; progress until complete.
        let mut seen = Vec::new();
        let r = thaw_snapshot(&v, &index, &id, &snap, &opts(true), &mut |r| {
            seen.push((r.ready, r.thawing))
        })
        .unwrap();
        assert_eq!((r.requested, r.already_thawing), (0, packs.len()));
        assert!(r.complete());
        assert!(seen.len() >= 2, "{seen:?}");
        assert_eq!(seen.last(), Some(&(packs.len(), 0)));
        assert_eq!(b.requests.lock().unwrap().len(), packs.len());

        // Thawed: a third run only looks.
        let r = thaw_snapshot(&v, &index, &id, &snap, &opts(true), &mut |_| {}).unwrap();
        assert_eq!((r.requested, r.ready), (0, packs.len()));
    }

    #[test]
    fn issue17_a_refused_thaw_names_snapshot_vault_class_and_what_to_run() {
        let b = Arc::new(Cold {
            refuse: true,
            ..Cold::default()
        });
        let (v, id, snap) = snapshot(b);
        let index = v.load_index().unwrap();
        let e = thaw_snapshot(&v, &index, &id, &snap, &opts(true), &mut |_| {})
            .unwrap_err()
            .to_string();
        for needle in [
            format!("snapshot {} of vault cold:", id.short()),
            "access denied, for RestoreObject".to_string(),
            "in storage class GLACIER".to_string(),
            format!("run `coffer thaw {}` again", id.short()),
        ] {
            assert!(e.contains(&needle), "`{needle}` not in: {e}");
        }
    }

    #[test]
    fn issue17_bad_days_and_expedited_deep_archive_are_refused_before_any_request() {
        let b = Arc::new(Cold::default());
        let (v, id, snap) = snapshot(b.clone());
        let index = v.load_index().unwrap();
        let o = ThawOptions {
            days: 0,
            ..opts(false)
        };
        let e = thaw_snapshot(&v, &index, &id, &snap, &o, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("0 days is out of range"), "{e}");
        let r = ThawReport {
            vault: "cold:".into(),
            ..ThawReport::default()
        };
        let o = ThawOptions {
            tier: ThawTier::Expedited,
            ..opts(false)
        };
        let e = check_options(&r, "DEEP_ARCHIVE", &id, &o).unwrap_err();
        assert!(
            e.to_string()
                .contains("DEEP_ARCHIVE does not offer the Expedited tier"),
            "{e}"
        );
        assert!(b.requests.lock().unwrap().is_empty());
    }

    #[test]
    fn issue17_a_cancel_stops_the_wait() {
        let b = Arc::new(Cold {
            looks: u32::MAX,
            ..Cold::default()
        });
        let (v, id, snap) = snapshot(b);
        let index = v.load_index().unwrap();
        let cancel = Cancel::default();
        cancel.cancel("SIGTERM");
        let o = ThawOptions {
            cancel: Some(cancel),
            ..opts(true)
        };
        let e = thaw_snapshot(&v, &index, &id, &snap, &o, &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::Interrupted { .. }), "{e}");
    }
}
