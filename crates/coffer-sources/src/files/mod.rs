//! Directory trees: backup and restore.

use coffer_core::{
    Archiver, BackupSummary, ChunkRef, Error, Id, Index, Node, NodeKind, Result, Snapshot,
    SourceInfo, Time, Tree, Vault, Xattr,
};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::filter::Patterns;
use crate::{add, Progress, SourceOutput};

mod restore;
mod verify;
pub use restore::{restore, RestoreOptions, RestoreStats};
pub use verify::{compare_content, compare_live_sample, verify_restored, Mismatch, VerifyStats};

/// Options of a files backup.
#[derive(Debug, Default)]
pub struct FilesOptions {
    /// Paths to back up (made absolute).
    pub paths: Vec<PathBuf>,
    /// Entries to leave out.
    pub excludes: Patterns,
    /// When not empty, only files that match are backed up (directories are
    /// always walked).
    pub includes: Patterns,
    /// Stay on the file system of each given path.
    pub one_file_system: bool,
    /// Snapshot whose metadata lets unchanged files be skipped.
    pub parent: Option<(Id, Snapshot)>,
}

/// Makes `p` absolute and lexically normal (no `.`/`..`), without following links.
pub fn absolute(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(|e| Error::io(p, e))?;
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    Ok(out)
}

struct Walker<'a> {
    archiver: &'a Archiver<'a>,
    index: &'a Index,
    vault: &'a Vault,
    opts: &'a FilesOptions,
    progress: &'a Progress,
    warnings: Mutex<Vec<String>>,
    files_new: AtomicU64,
    files_changed: AtomicU64,
    files_unmodified: AtomicU64,
    dirs: AtomicU64,
    others: AtomicU64,
    total_bytes: AtomicU64,
    names: Names,
}

/// Cache of user and group names, both ways: one NSS lookup per distinct id
/// or name (each lookup reads /etc/passwd or asks nscd).
#[derive(Default)]
pub(crate) struct Names {
    users: Mutex<HashMap<u32, Option<String>>>,
    groups: Mutex<HashMap<u32, Option<String>>>,
    uids: Mutex<HashMap<String, Option<u32>>>,
    gids: Mutex<HashMap<String, Option<u32>>>,
}

impl Names {
    fn user(&self, uid: u32) -> Option<String> {
        cached(&self.users, uid, |&uid| {
            uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned())
        })
    }
    fn group(&self, gid: u32) -> Option<String> {
        cached(&self.groups, gid, |&gid| {
            uzers::get_group_by_gid(gid).map(|g| g.name().to_string_lossy().into_owned())
        })
    }
    /// The local uid of user `name`, if there is one.
    fn uid(&self, name: &str) -> Option<u32> {
        cached(&self.uids, name.to_string(), |n| {
            uzers::get_user_by_name(n).map(|u| u.uid())
        })
    }
    /// The local gid of group `name`, if there is one.
    fn gid(&self, name: &str) -> Option<u32> {
        cached(&self.gids, name.to_string(), |n| {
            uzers::get_group_by_name(n).map(|g| g.gid())
        })
    }
}

/// The cached answer for `key`, looked up with `find` the first time.
fn cached<K, V>(
    map: &Mutex<HashMap<K, Option<V>>>,
    key: K,
    find: impl FnOnce(&K) -> Option<V>,
) -> Option<V>
where
    K: std::hash::Hash + Eq,
    V: Clone,
{
    let mut m = map.lock().unwrap();
    if let Some(v) = m.get(&key) {
        return v.clone();
    }
    let v = find(&key);
    m.insert(key, v.clone());
    v
}

/// An entry of the virtual top of the snapshot tree: the given paths and
/// the directories above them.
#[derive(Default)]
struct Top {
    children: BTreeMap<OsString, TopEntry>,
}

enum TopEntry {
    Walk(PathBuf),
    Dir(PathBuf, Top),
}

fn time(secs: i64, nanos: i64) -> Time {
    Time {
        secs,
        nanos: nanos.clamp(0, 999_999_999) as u32,
    }
}

/// Saves the given paths; the snapshot tree holds each at its absolute path.
pub fn backup(
    archiver: &Archiver,
    index: &Index,
    opts: &FilesOptions,
    progress: &Progress,
) -> Result<SourceOutput> {
    let mut top = Top::default();
    let mut paths = Vec::new();
    for p in &opts.paths {
        let abs = absolute(p)?;
        std::fs::symlink_metadata(&abs).map_err(|e| Error::io(&abs, e))?;
        paths.push(abs.to_string_lossy().into_owned());
        let comps: Vec<&OsStr> = abs
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        if comps.is_empty() {
            return Err(Error::InvalidInput(
                "backing up / as a whole is not supported yet: name its directories".into(),
            ));
        }
        let mut cur = &mut top;
        let mut at = PathBuf::from("/");
        for (i, c) in comps.iter().enumerate() {
            at.push(c);
            if i + 1 == comps.len() {
                cur.children
                    .insert(c.to_os_string(), TopEntry::Walk(at.clone()));
                break;
            }
            let e = cur
                .children
                .entry(c.to_os_string())
                .or_insert_with(|| TopEntry::Dir(at.clone(), Top::default()));
            match e {
                TopEntry::Dir(_, t) => cur = t,
                TopEntry::Walk(_) => break, // a parent path is already walked whole
            }
        }
    }
    let w = Walker {
        archiver,
        index,
        vault: archiver.vault(),
        opts,
        progress,
        warnings: Mutex::new(Vec::new()),
        files_new: AtomicU64::new(0),
        files_changed: AtomicU64::new(0),
        files_unmodified: AtomicU64::new(0),
        dirs: AtomicU64::new(0),
        others: AtomicU64::new(0),
        total_bytes: AtomicU64::new(0),
        names: Names::default(),
    };
    let parent_tree = match &opts.parent {
        Some((_, s)) => w.load_parent(Some(&s.tree)),
        None => None,
    };
    let tree = w.save_top(&top, parent_tree.as_ref())?;
    let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut warnings = w.warnings.into_inner().unwrap();
    warnings.sort();
    Ok(SourceOutput {
        tree,
        paths,
        source: SourceInfo {
            kind: "files".into(),
            details: Default::default(),
        },
        summary: BackupSummary {
            files_new: ld(&w.files_new),
            files_changed: ld(&w.files_changed),
            files_unmodified: ld(&w.files_unmodified),
            dirs: ld(&w.dirs),
            others: ld(&w.others),
            total_bytes: ld(&w.total_bytes),
            ..Default::default()
        },
        warnings,
        parent: opts.parent.as_ref().map(|(id, _)| *id),
    })
}

impl Walker<'_> {
    fn warn(&self, path: &Path, what: impl std::fmt::Display) {
        tracing::warn!("{}: {what}", path.display());
        self.warnings
            .lock()
            .unwrap()
            .push(format!("{}: {what}", path.display()));
    }

    fn load_parent(&self, id: Option<&Id>) -> Option<Tree> {
        id.and_then(|id| self.vault.load_tree(self.index, id).ok())
    }

    fn save_top(&self, top: &Top, parent: Option<&Tree>) -> Result<Id> {
        let nodes: Vec<Result<Option<Node>>> = top
            .children
            .iter()
            .collect::<Vec<_>>()
            .par_iter()
            .map(|(name, entry)| {
                let pnode = parent.and_then(|t| t.get(name.as_bytes()));
                match entry {
                    TopEntry::Walk(path) => {
                        let meta =
                            std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
                        self.save_entry(path, name, &meta, meta.dev(), pnode)
                    }
                    TopEntry::Dir(path, sub) => {
                        // A directory above a given path is recorded as the
                        // directory the path goes through, a symlink on the
                        // way followed: recorded as the symlink, it would be
                        // a symlink with children, and a restore would have
                        // to write through it (issue 14). The given path
                        // itself is never followed (`Walk` above).
                        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
                        if !meta.is_dir() {
                            return Err(Error::InvalidInput(format!(
                                "{} is not a directory, yet a path to back up lies below it",
                                path.display()
                            )));
                        }
                        let mut node = self.node(path, name, &meta);
                        // Counted as a directory of the snapshot, as a
                        // restore counts (and makes) it.
                        add(&self.dirs, 1);
                        add(&self.progress.entries, 1);
                        let ptree = self.load_parent(pnode.and_then(|n| n.subtree.as_ref()));
                        node.subtree = Some(self.save_top(sub, ptree.as_ref())?);
                        Ok(Some(node))
                    }
                }
            })
            .collect();
        let nodes: Result<Vec<Option<Node>>> = nodes.into_iter().collect();
        self.archiver
            .save_tree(&Tree::new(nodes?.into_iter().flatten().collect()))
    }

    fn node(&self, path: &Path, name: &OsStr, m: &Metadata) -> Node {
        node_of(&self.names, path, name, m, &mut |what| {
            self.warn(path, what)
        })
    }

    /// Saves one entry; `Ok(None)` when it is skipped with a warning.
    fn save_entry(
        &self,
        path: &Path,
        name: &OsStr,
        m: &Metadata,
        root_dev: u64,
        parent: Option<&Node>,
    ) -> Result<Option<Node>> {
        add(&self.progress.entries, 1);
        let mut node = self.node(path, name, m);
        match node.kind {
            NodeKind::Dir => {
                add(&self.dirs, 1);
                if self.opts.one_file_system && m.dev() != root_dev {
                    // Keep the mount point, not what is mounted on it.
                    node.subtree = Some(self.archiver.save_tree(&Tree::new(Vec::new()))?);
                    return Ok(Some(node));
                }
                let ptree = self.load_parent(
                    parent
                        .filter(|p| p.kind == NodeKind::Dir)
                        .and_then(|p| p.subtree.as_ref()),
                );
                match self.save_dir(path, root_dev, ptree.as_ref()) {
                    Ok(id) => node.subtree = Some(id),
                    Err(Error::Io { source, .. }) => {
                        self.warn(path, format_args!("cannot read directory: {source}"));
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                }
            }
            NodeKind::File => {
                if !self.opts.includes.is_empty() && !self.opts.includes.matches(path) {
                    return Ok(None);
                }
                add(&self.total_bytes, node.size);
                if let Some(p) = parent {
                    if p.kind == NodeKind::File
                        && p.size == node.size
                        && p.mtime == node.mtime
                        && p.ctime == node.ctime
                        && p.inode == node.inode
                        && p.content.iter().all(|c| self.archiver.has_blob(&c.id))
                    {
                        node.content = p.content.clone();
                        add(&self.files_unmodified, 1);
                        add(&self.progress.bytes, node.size);
                        return Ok(Some(node));
                    }
                }
                match self.read_file(path, node.size) {
                    Ok(content) => {
                        node.size = content.iter().map(|c| c.len as u64).sum();
                        node.content = content;
                        add(
                            if parent.is_some() {
                                &self.files_changed
                            } else {
                                &self.files_new
                            },
                            1,
                        );
                    }
                    Err(Error::Io { source, .. }) => {
                        self.warn(path, format_args!("cannot read file: {source}"));
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => add(&self.others, 1),
        }
        Ok(Some(node))
    }

    fn read_file(&self, path: &Path, size: u64) -> Result<Vec<ChunkRef>> {
        let open = |flags| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(flags)
                .open(path)
        };
        let mut f = match open(libc::O_NOATIME) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
            r => r,
        }
        .map_err(|e| Error::io(path, e))?;
        let refs = if size < self.vault.config().chunker.min as u64 {
            let mut buf = Vec::with_capacity(size as usize + 1);
            f.read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
            if buf.len() as u64 >= self.vault.config().chunker.min as u64 {
                self.archiver.save_stream(&buf[..], path)?
            } else {
                self.archiver.save_bytes(&buf, path)?
            }
        } else {
            self.archiver.save_stream(f, path)?
        };
        add(
            &self.progress.bytes,
            refs.iter().map(|c| c.len as u64).sum(),
        );
        Ok(refs)
    }

    fn save_dir(&self, dir: &Path, root_dev: u64, parent: Option<&Tree>) -> Result<Id> {
        let mut entries: Vec<(OsString, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let e = e.map_err(|e| Error::io(dir, e))?;
            let path = e.path();
            if self.opts.excludes.matches(&path) {
                continue;
            }
            entries.push((e.file_name(), path));
        }
        let nodes: Vec<Result<Option<Node>>> = entries
            .par_iter()
            .map(|(name, path)| {
                let m = match std::fs::symlink_metadata(path) {
                    Ok(m) => m,
                    Err(e) => {
                        self.warn(path, format_args!("cannot stat: {e}"));
                        return Ok(None);
                    }
                };
                self.save_entry(
                    path,
                    name,
                    &m,
                    root_dev,
                    parent.and_then(|t| t.get(name.as_bytes())),
                )
            })
            .collect();
        let nodes: Result<Vec<Option<Node>>> = nodes.into_iter().collect();
        self.archiver
            .save_tree(&Tree::new(nodes?.into_iter().flatten().collect()))
    }
}

/// The node of the entry at `path` named `name`, from its metadata `m`:
/// kind, mode, owner (with names), times, size, link target and xattrs; no
/// content. What cannot be read is said through `warn`.
pub(crate) fn node_of(
    names: &Names,
    path: &Path,
    name: &OsStr,
    m: &Metadata,
    warn: &mut dyn FnMut(String),
) -> Node {
    let ft = m.file_type();
    let kind = if ft.is_dir() {
        NodeKind::Dir
    } else if ft.is_symlink() {
        NodeKind::Symlink
    } else if ft.is_fifo() {
        NodeKind::Fifo
    } else if ft.is_char_device() {
        NodeKind::CharDevice
    } else if ft.is_block_device() {
        NodeKind::BlockDevice
    } else if ft.is_socket() {
        NodeKind::Socket
    } else {
        NodeKind::File
    };
    let mut n = Node::new(name.as_bytes().to_vec(), kind);
    n.mode = m.mode() & 0o7777;
    n.uid = m.uid();
    n.gid = m.gid();
    n.user = names.user(m.uid());
    n.group = names.group(m.gid());
    n.mtime = time(m.mtime(), m.mtime_nsec());
    // atime is not recorded: reading a directory (this backup does) or a
    // file moves it, so recording it would make every backup store new
    // trees for data that did not change (borg leaves it out too).
    n.ctime = time(m.ctime(), m.ctime_nsec());
    n.inode = m.ino();
    n.dev = m.dev();
    n.links = m.nlink();
    n.rdev = if matches!(kind, NodeKind::CharDevice | NodeKind::BlockDevice) {
        m.rdev()
    } else {
        0
    };
    if kind == NodeKind::File {
        n.size = m.size();
    }
    if kind == NodeKind::Symlink {
        match std::fs::read_link(path) {
            Ok(t) => n.target = Some(t.into_os_string().into_vec()),
            Err(e) => warn(format!("cannot read link: {e}")),
        }
    }
    if let Ok(names) = xattr::list(path) {
        for xn in names {
            if let Ok(Some(v)) = xattr::get(path, &xn) {
                n.xattrs.push(Xattr {
                    name: xn.into_vec(),
                    value: v,
                });
            }
        }
        n.xattrs.sort_by(|a, b| a.name.cmp(&b.name));
    }
    n
}
