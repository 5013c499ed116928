//! Reading a data directory (or a tablespace) into trees, for a backup by
//! files.
//!
//! What is left out is what PostgreSQL's documentation of the low-level
//! backup API and `pg_basebackup` leave out: the contents of `pg_wal`,
//! `pg_replslot`, `pg_dynshmem`, `pg_notify`, `pg_serial`, `pg_snapshots`,
//! `pg_stat_tmp` and `pg_subtrans` (the directories themselves are kept,
//! `pg_wal/archive_status` too); `postmaster.pid`, `postmaster.opts`, an old
//! `backup_label`, `tablespace_map` or `backup_manifest`, `recovery.signal`
//! and `standby.signal` at the top; `pg_internal.init` and `pgsql_tmp*`
//! anywhere; the links in `pg_tblspc` (the tablespaces are read on their
//! own, and PostgreSQL makes the links again from `tablespace_map`); and
//! every fork but `_init` of an unlogged relation (recovery makes them anew
//! from the init fork). A file that vanishes while it is read (a dropped
//! table) is left out: the WAL replayed at restore drops it anyway.
//!
//! Reuse: with a parent, a file whose size and mtime are those the parent
//! recorded keeps the parent's chunks without being read, but only if the
//! parent recorded an mtime earlier than the second in which the parent
//! began copying ([`Reuse::parent_copy_start`]). A file changed in that
//! second or later may have changed again after the parent read it with
//! the same timestamp, so it is read again: pgBackRest's care for files
//! modified within a second of the backup start. With `checksum`, every
//! file is read (the vault's deduplication still stores only new chunks).
//!
//! Chunking: a file of two pages or more is cut every 128 KiB from its
//! start, as base backups' tar members are ([`super::super::pages`]), so a
//! relation in which a few pages changed stores only the 128 KiB runs that
//! hold them, and both modes of base backup deduplicate against each other.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use coffer_core::ChunkSource;
use coffer_core::{Archiver, ChunkRef, Error, Id, Index, Node, NodeKind, Result, Tree};
use rayon::prelude::*;

use super::super::pages::{CHUNK, MIN_PAGED};
use crate::files::{node_of, Names};
use crate::{add, Progress};

/// Directories of the data directory whose contents are never backed up.
const EMPTY_DIRS: &[&str] = &[
    "pg_wal",
    "pg_replslot",
    "pg_dynshmem",
    "pg_notify",
    "pg_serial",
    "pg_snapshots",
    "pg_stat_tmp",
    "pg_subtrans",
    "pg_tblspc",
];

/// Files at the top of the data directory that are never backed up.
const TOP_FILES: &[&str] = &[
    "postmaster.pid",
    "postmaster.opts",
    "backup_label",
    "backup_label.old",
    "tablespace_map",
    "tablespace_map.old",
    "backup_manifest",
    "recovery.signal",
    "standby.signal",
];

/// When a file may keep its parent's chunks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reuse {
    /// The whole second (Unix time) in which the parent began copying; a
    /// file the parent saw modified at or after it is read again.
    pub parent_copy_start: i64,
    /// Read every file (`--checksum`).
    pub checksum: bool,
}

/// Counters of a walk.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub files_new: AtomicU64,
    pub files_changed: AtomicU64,
    pub files_unmodified: AtomicU64,
    /// Files read again only because the parent saw them modified within
    /// its copy's first second or later.
    pub files_recent: AtomicU64,
    pub dirs: AtomicU64,
    pub others: AtomicU64,
    pub vanished: AtomicU64,
    pub total_bytes: AtomicU64,
    pub bytes_read: AtomicU64,
}

/// One walk over a data directory and its tablespaces.
pub(crate) struct Walk<'a> {
    pub archiver: &'a Archiver<'a>,
    pub index: &'a Index,
    pub progress: &'a Progress,
    pub reuse: Option<Reuse>,
    pub counts: Counts,
    names: Names,
}

/// Which rules apply where.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The top of the data directory.
    DataTop,
    /// Below it, or in a tablespace.
    Inside,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(
        archiver: &'a Archiver<'a>,
        index: &'a Index,
        progress: &'a Progress,
        reuse: Option<Reuse>,
    ) -> Self {
        Walk {
            archiver,
            index,
            progress,
            reuse,
            counts: Counts::default(),
            names: Names::default(),
        }
    }

    /// The nodes of the top of the data directory `dir` (unsaved, so that
    /// the caller can add `backup_label` and `tablespace_map`).
    pub(crate) fn data_top(&self, dir: &Path, parent: Option<&Tree>) -> Result<Vec<Node>> {
        self.nodes(dir, Place::DataTop, parent)
    }

    /// Saves the tree of a directory (a tablespace's location).
    pub(crate) fn save_dir(&self, dir: &Path, parent: Option<&Tree>) -> Result<Id> {
        let nodes = self.nodes(dir, Place::Inside, parent)?;
        self.archiver.save_tree(&Tree::new(nodes))
    }

    /// The parent's subtree `id`, if it loads.
    pub(crate) fn load(&self, id: Option<&Id>) -> Option<Tree> {
        id.and_then(|id| self.archiver.vault().load_tree(self.index, id).ok())
    }

    fn nodes(&self, dir: &Path, place: Place, parent: Option<&Tree>) -> Result<Vec<Node>> {
        let mut entries: Vec<(OsString, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let e = e.map_err(|e| Error::io(dir, e))?;
            entries.push((e.file_name(), e.path()));
        }
        let unlogged = unlogged_relations(entries.iter().map(|(n, _)| n.as_os_str()));
        let nodes: Vec<Result<Option<Node>>> = entries
            .par_iter()
            .map(|(name, path)| {
                if skipped(name, place, &unlogged) {
                    return Ok(None);
                }
                let pnode = parent.and_then(|t| t.get(name.as_bytes()));
                self.entry(path, name, place, pnode)
            })
            .collect();
        let mut out = Vec::with_capacity(nodes.len());
        for n in nodes {
            if let Some(n) = n? {
                out.push(n);
            }
        }
        Ok(out)
    }

    fn entry(
        &self,
        path: &Path,
        name: &OsStr,
        place: Place,
        parent: Option<&Node>,
    ) -> Result<Option<Node>> {
        let m = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                add(&self.counts.vanished, 1);
                return Ok(None);
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        add(&self.progress.entries, 1);
        let empty =
            place == Place::DataTop && EMPTY_DIRS.iter().any(|d| name.as_bytes() == d.as_bytes());
        if empty {
            // Kept as a directory even where it is a link (pg_wal on
            // another disk): a restore makes a directory there.
            let meta = std::fs::metadata(path).unwrap_or(m);
            let mut node = node_of(&self.names, path, name, &meta, &mut |_| {});
            node.kind = NodeKind::Dir;
            node.target = None;
            node.size = 0;
            let children = if name == "pg_wal" {
                let mut st = Node::new(b"archive_status".to_vec(), NodeKind::Dir);
                st.mode = 0o700;
                st.uid = node.uid;
                st.gid = node.gid;
                st.user = node.user.clone();
                st.group = node.group.clone();
                st.mtime = node.mtime;
                st.subtree = Some(self.archiver.save_tree(&Tree::new(Vec::new()))?);
                vec![st]
            } else {
                Vec::new()
            };
            node.subtree = Some(self.archiver.save_tree(&Tree::new(children))?);
            add(&self.counts.dirs, 1);
            return Ok(Some(node));
        }
        let mut warning = None;
        let mut node = node_of(&self.names, path, name, &m, &mut |w| warning = Some(w));
        if let Some(w) = warning {
            return Err(Error::InvalidInput(format!("{}: {w}", path.display())));
        }
        match node.kind {
            NodeKind::Dir => {
                add(&self.counts.dirs, 1);
                let ptree = self.load(
                    parent
                        .filter(|p| p.kind == NodeKind::Dir)
                        .and_then(|p| p.subtree.as_ref()),
                );
                let nodes = match self.nodes(path, Place::Inside, ptree.as_ref()) {
                    Ok(n) => n,
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        add(&self.counts.vanished, 1);
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                };
                node.subtree = Some(self.archiver.save_tree(&Tree::new(nodes))?);
            }
            NodeKind::File => {
                add(&self.counts.total_bytes, node.size);
                if let Some(p) = parent.filter(|p| p.kind == NodeKind::File) {
                    if self.reusable(p, &node) {
                        node.content = p.content.clone();
                        add(&self.counts.files_unmodified, 1);
                        add(&self.progress.bytes, node.size);
                        return Ok(Some(node));
                    }
                }
                match self.read(path, node.size) {
                    Ok(content) => {
                        node.size = content.iter().map(|c| c.len as u64).sum();
                        node.content = content;
                        add(
                            if parent.is_some() {
                                &self.counts.files_changed
                            } else {
                                &self.counts.files_new
                            },
                            1,
                        );
                    }
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        add(&self.counts.vanished, 1);
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => add(&self.counts.others, 1),
        }
        Ok(Some(node))
    }

    /// Whether `now` may keep the chunks of `before` (see the module
    /// documentation).
    fn reusable(&self, before: &Node, now: &Node) -> bool {
        let Some(r) = self.reuse else { return false };
        if r.checksum || before.size != now.size || before.mtime != now.mtime {
            return false;
        }
        if before.mtime.secs >= r.parent_copy_start {
            add(&self.counts.files_recent, 1);
            return false;
        }
        before.content.iter().all(|c| self.archiver.has_blob(&c.id))
    }

    fn read(&self, path: &Path, size: u64) -> Result<Vec<ChunkRef>> {
        let open = |flags| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(flags | libc::O_NOFOLLOW)
                .open(path)
        };
        let mut f = match open(libc::O_NOATIME) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
            r => r,
        }
        .map_err(|e| Error::io(path, e))?;
        let refs = if size < MIN_PAGED {
            let mut buf = Vec::with_capacity(size as usize + 1);
            f.read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
            if buf.len() as u64 >= MIN_PAGED {
                self.archiver.save_chunks(Pages::new(&buf[..]), path)?
            } else {
                self.archiver.save_bytes(&buf, path)?
            }
        } else {
            self.archiver.save_chunks(Pages::new(f), path)?
        };
        let n: u64 = refs.iter().map(|c| c.len as u64).sum();
        add(&self.progress.bytes, n);
        add(&self.counts.bytes_read, n);
        Ok(refs)
    }
}

/// A reader cut every [`CHUNK`] bytes from its start.
struct Pages<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: Read> Pages<R> {
    fn new(inner: R) -> Self {
        Pages {
            inner,
            buf: vec![0; CHUNK],
        }
    }
}

impl<R: Read> ChunkSource for Pages<R> {
    fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
        let mut n = 0;
        while n < CHUNK {
            match self.inner.read(&mut self.buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((n > 0).then(|| &self.buf[..n]))
    }
}

/// Whether the entry `name` is left out (see the module documentation).
fn skipped(name: &OsStr, place: Place, unlogged: &HashSet<Vec<u8>>) -> bool {
    let b = name.as_bytes();
    if b == b"pg_internal.init" || b.starts_with(b"pgsql_tmp") {
        return true;
    }
    if place == Place::DataTop && TOP_FILES.iter().any(|f| b == f.as_bytes()) {
        return true;
    }
    if !unlogged.is_empty() {
        if let Some(rel) = relation_of(b) {
            return unlogged.contains(rel) && !b.ends_with(b"_init");
        }
    }
    false
}

/// The relation file node a file name belongs to: `16384`, `16384.1`,
/// `16384_fsm`, `16384_vm` and `16384_init` all give `16384`; other names
/// give `None`.
fn relation_of(name: &[u8]) -> Option<&[u8]> {
    let digits = name.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let rest = &name[digits..];
    let ok = rest.is_empty()
        || rest == b"_fsm"
        || rest == b"_vm"
        || rest == b"_init"
        || (rest.len() > 1 && rest[0] == b'.' && rest[1..].iter().all(u8::is_ascii_digit));
    ok.then_some(&name[..digits])
}

/// The relations of a directory that have an init fork (unlogged ones).
fn unlogged_relations<'n>(names: impl Iterator<Item = &'n OsStr>) -> HashSet<Vec<u8>> {
    names
        .filter_map(|n| n.as_bytes().strip_suffix(b"_init"))
        .filter(|r| !r.is_empty() && r.iter().all(u8::is_ascii_digit))
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_names() {
        assert_eq!(relation_of(b"16384"), Some(&b"16384"[..]));
        assert_eq!(relation_of(b"16384.12"), Some(&b"16384"[..]));
        assert_eq!(relation_of(b"16384_vm"), Some(&b"16384"[..]));
        assert_eq!(relation_of(b"16384_init"), Some(&b"16384"[..]));
        assert_eq!(relation_of(b"16384."), None);
        assert_eq!(relation_of(b"PG_VERSION"), None);
        assert_eq!(relation_of(b"16384_x"), None);
    }

    #[test]
    fn unlogged_forks_but_init_are_left_out() {
        let names: Vec<OsString> = [
            "16384",
            "16384_init",
            "16384_fsm",
            "16384.1",
            "16390",
            "PG_VERSION",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let u = unlogged_relations(names.iter().map(|n| n.as_os_str()));
        let kept: Vec<&str> = names
            .iter()
            .filter(|n| !skipped(n, Place::Inside, &u))
            .map(|n| n.to_str().unwrap())
            .collect();
        assert_eq!(kept, ["16384_init", "16390", "PG_VERSION"]);
    }

    #[test]
    fn top_files_only_at_the_top() {
        let none = HashSet::new();
        assert!(skipped(OsStr::new("postmaster.pid"), Place::DataTop, &none));
        assert!(!skipped(OsStr::new("postmaster.pid"), Place::Inside, &none));
        assert!(skipped(OsStr::new("pgsql_tmp123.4"), Place::Inside, &none));
        assert!(skipped(
            OsStr::new("pg_internal.init"),
            Place::Inside,
            &none
        ));
        assert!(!skipped(OsStr::new("PG_VERSION"), Place::DataTop, &none));
    }

    #[test]
    fn pages_cut_every_chunk() {
        let data = vec![7u8; CHUNK * 2 + 100];
        let mut p = Pages::new(&data[..]);
        let mut lens = Vec::new();
        while let Some(c) = p.next_chunk().unwrap() {
            lens.push(c.len());
        }
        assert_eq!(lens, [CHUNK, CHUNK, 100]);
    }
}
