//! Directory trees: backup and restore.

use coffer_core::{
    restore_contents, Archiver, BackupSummary, ChunkRef, Error, Id, Index, Node, NodeKind, Result,
    Snapshot, SourceInfo, Time, Tree, Vault, Xattr,
};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::filter::Patterns;
use crate::{add, Progress, SourceOutput};

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

/// Cache of user and group names.
#[derive(Default)]
struct Names {
    users: Mutex<HashMap<u32, Option<String>>>,
    groups: Mutex<HashMap<u32, Option<String>>>,
}

impl Names {
    fn user(&self, uid: u32) -> Option<String> {
        self.users
            .lock()
            .unwrap()
            .entry(uid)
            .or_insert_with(|| {
                uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned())
            })
            .clone()
    }
    fn group(&self, gid: u32) -> Option<String> {
        self.groups
            .lock()
            .unwrap()
            .entry(gid)
            .or_insert_with(|| {
                uzers::get_group_by_gid(gid).map(|g| g.name().to_string_lossy().into_owned())
            })
            .clone()
    }
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
                        let meta =
                            std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
                        let mut node = self.node(path, name, &meta);
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
        n.user = self.names.user(m.uid());
        n.group = self.names.group(m.gid());
        n.mtime = time(m.mtime(), m.mtime_nsec());
        n.atime = time(m.atime(), m.atime_nsec());
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
                Err(e) => self.warn(path, format_args!("cannot read link: {e}")),
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

/// Options of a files restore.
#[derive(Debug, Default)]
pub struct RestoreOptions {
    /// Directory to restore into (created if missing).
    pub target: PathBuf,
    /// Only entries matching these (paths as in the snapshot, e.g.
    /// `/home/me/doc/*.txt`, or names), with what lies below them.
    pub includes: Patterns,
    /// Restore only below this path of the snapshot.
    pub subpath: Option<String>,
}

/// What a restore did.
#[derive(Debug, Default, Clone)]
pub struct RestoreStats {
    /// Files written.
    pub files: u64,
    /// Directories made.
    pub dirs: u64,
    /// Other entries made.
    pub others: u64,
    /// Content bytes written.
    pub bytes: u64,
    /// Warnings (e.g. device nodes that need root).
    pub warnings: Vec<String>,
}

struct Item {
    rel: PathBuf,
    node: Node,
}

#[allow(clippy::too_many_arguments)]
fn collect(
    vault: &Vault,
    index: &Index,
    tree: &Id,
    rel: &Path,
    snap_path: &Path,
    inc: &Patterns,
    forced: bool,
    out: &mut Vec<Item>,
) -> Result<bool> {
    let t = vault.load_tree(index, tree)?;
    let mut any = false;
    for n in t.nodes {
        let name = OsStr::from_bytes(&n.name);
        let r = rel.join(name);
        let sp = snap_path.join(name);
        let selected = forced || inc.is_empty() || inc.matches(&sp);
        let pos = out.len();
        let sub = n.subtree;
        out.push(Item {
            rel: r.clone(),
            node: n,
        });
        let mut keep = selected;
        if let Some(sub) = sub {
            keep |= collect(vault, index, &sub, &r, &sp, inc, selected, out)?;
        }
        if !keep {
            out.truncate(pos);
        }
        any |= keep;
    }
    Ok(any)
}

/// Restores a snapshot's files into `opts.target`.
pub fn restore(
    vault: &Vault,
    index: &Index,
    snap: &Snapshot,
    opts: &RestoreOptions,
    progress: &Progress,
) -> Result<RestoreStats> {
    let mut items = Vec::new();
    let mut root = snap.tree;
    let mut snap_path = PathBuf::from("/");
    if let Some(sub) = opts
        .subpath
        .as_deref()
        .filter(|s| !s.trim_matches('/').is_empty())
    {
        let node = vault
            .find_node(index, &snap.tree, sub)?
            .ok_or_else(|| Error::not_found(format!("path {sub} in the snapshot")))?;
        snap_path = PathBuf::from("/").join(sub.trim_matches('/'));
        match node.subtree {
            Some(t) => root = t,
            None => {
                let name = node.name.clone();
                items.push(Item {
                    rel: PathBuf::from(OsStr::from_bytes(&name)),
                    node,
                });
                root = Id::default();
            }
        }
    }
    if root != Id::default() {
        collect(
            vault,
            index,
            &root,
            Path::new(""),
            &snap_path,
            &opts.includes,
            false,
            &mut items,
        )?;
    }
    let target = &opts.target;
    std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
    let is_root = unsafe { libc::geteuid() } == 0;
    let stats = Mutex::new(RestoreStats::default());
    let warn = |p: &Path, w: String| {
        stats
            .lock()
            .unwrap()
            .warnings
            .push(format!("{}: {w}", p.display()))
    };

    let t0 = std::time::Instant::now();
    tracing::info!("restore: {} entries listed", items.len());
    // 1. Directories, in order.
    for it in items.iter().filter(|i| i.node.kind == NodeKind::Dir) {
        let p = target.join(&it.rel);
        match std::fs::create_dir(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
        stats.lock().unwrap().dirs += 1;
    }
    // 2. Files, links and special files. Hard links: the first path of an
    //    inode gets the content, the others link to it afterwards.
    let mut first_of: HashMap<(u64, u64), usize> = HashMap::new();
    let mut links: Vec<(usize, usize)> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let n = &it.node;
        if n.kind != NodeKind::Dir && n.links > 1 && n.inode != 0 {
            match first_of.get(&(n.dev, n.inode)) {
                Some(&f) => links.push((f, i)),
                None => {
                    first_of.insert((n.dev, n.inode), i);
                }
            }
        }
    }
    let linked: std::collections::HashSet<usize> = links.iter().map(|(_, i)| *i).collect();
    let creates: Vec<Result<()>> = items
        .par_iter()
        .enumerate()
        .filter(|(i, it)| it.node.kind != NodeKind::Dir && !linked.contains(i))
        .map(|(_, it)| {
            let p = target.join(&it.rel);
            let n = &it.node;
            match n.kind {
                NodeKind::File => {
                    let f = File::create(&p).map_err(|e| Error::io(&p, e))?;
                    f.set_len(n.size).map_err(|e| Error::io(&p, e))?;
                    stats.lock().unwrap().files += 1;
                }
                NodeKind::Symlink => {
                    let _ = std::fs::remove_file(&p);
                    let t = OsStr::from_bytes(n.target.as_deref().unwrap_or_default());
                    std::os::unix::fs::symlink(t, &p).map_err(|e| Error::io(&p, e))?;
                    stats.lock().unwrap().others += 1;
                }
                NodeKind::Fifo | NodeKind::CharDevice | NodeKind::BlockDevice => {
                    let fmt = match n.kind {
                        NodeKind::Fifo => libc::S_IFIFO,
                        NodeKind::CharDevice => libc::S_IFCHR,
                        _ => libc::S_IFBLK,
                    };
                    if n.kind != NodeKind::Fifo && !is_root {
                        warn(&p, "device node not restored: needs root".into());
                        return Ok(());
                    }
                    let _ = std::fs::remove_file(&p);
                    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| {
                        Error::InvalidInput(format!("{}: NUL in path", p.display()))
                    })?;
                    let r = unsafe {
                        libc::mknod(c.as_ptr(), fmt | (n.mode & 0o7777), n.rdev as libc::dev_t)
                    };
                    if r != 0 {
                        return Err(Error::io(&p, std::io::Error::last_os_error()));
                    }
                    stats.lock().unwrap().others += 1;
                }
                NodeKind::Socket | NodeKind::Dir => {}
            }
            Ok(())
        })
        .collect();
    creates.into_iter().collect::<Result<Vec<()>>>()?;

    tracing::info!("restore: entries created after {:?}", t0.elapsed());
    // 3. Content, verified blob by blob; all-zero chunks stay holes.
    let files: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(i, it)| {
            it.node.kind == NodeKind::File && !it.node.content.is_empty() && !linked.contains(i)
        })
        .map(|(i, _)| i)
        .collect();
    let contents: Vec<&[ChunkRef]> = files
        .iter()
        .map(|&i| items[i].node.content.as_slice())
        .collect();
    let path_of = |f: usize| target.join(&items[files[f]].rel);
    let cs = restore_contents(
        vault,
        index,
        &contents,
        |f, off, data| {
            add(&progress.bytes, data.len() as u64);
            write_sparse(&path_of(f), off, data)
        },
        |f| format!("{}", items[files[f]].rel.display()),
    )?;
    stats.lock().unwrap().bytes = cs.bytes;
    for (first, dup) in &links {
        let (a, b) = (
            target.join(&items[*first].rel),
            target.join(&items[*dup].rel),
        );
        let _ = std::fs::remove_file(&b);
        std::fs::hard_link(&a, &b).map_err(|e| Error::io(&b, e))?;
        stats.lock().unwrap().files += 1;
    }

    tracing::info!("restore: content written after {:?}", t0.elapsed());
    // 4. Metadata: non-directories in parallel, then directories deepest first.
    let meta: Vec<Result<()>> = items
        .par_iter()
        .filter(|it| it.node.kind != NodeKind::Dir)
        .map(|it| set_meta(&target.join(&it.rel), &it.node, is_root))
        .collect();
    meta.into_iter().collect::<Result<Vec<()>>>()?;
    for it in items.iter().rev().filter(|i| i.node.kind == NodeKind::Dir) {
        set_meta(&target.join(&it.rel), &it.node, is_root)?;
    }
    Ok(stats.into_inner().unwrap())
}

/// Writes `data` at `off`, leaving 4 KiB blocks of zeros as holes (the
/// file was created at its full length, so holes read back as zeros).
fn write_sparse(path: &Path, off: u64, data: &[u8]) -> std::io::Result<()> {
    const BLOCK: usize = 4096;
    let mut file: Option<File> = None;
    let mut i = 0;
    while i < data.len() {
        // Blocks aligned to the file offset, so holes line up with the file system's.
        let first = (BLOCK - (off as usize + i) % BLOCK).min(data.len() - i);
        let end_of = |s: usize| {
            if s == i {
                i + first
            } else {
                (s + BLOCK).min(data.len())
            }
        };
        let zero = |s: usize, e: usize| data[s..e].iter().all(|&b| b == 0);
        if zero(i, end_of(i)) {
            i = end_of(i);
            continue;
        }
        let start = i;
        let mut end = end_of(i);
        while end < data.len() && !zero(end, end_of(end)) {
            end = end_of(end);
        }
        let f = match &file {
            Some(f) => f,
            None => file.insert(std::fs::OpenOptions::new().write(true).open(path)?),
        };
        f.write_all_at(&data[start..end], off + start as u64)?;
        i = end;
    }
    Ok(())
}

fn set_meta(p: &Path, n: &Node, is_root: bool) -> Result<()> {
    if n.kind == NodeKind::Socket {
        return Ok(());
    }
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidInput(format!("{}: NUL in path", p.display())))?;
    if is_root {
        let uid = n
            .user
            .as_deref()
            .and_then(uzers::get_user_by_name)
            .map(|u| u.uid())
            .unwrap_or(n.uid);
        let gid = n
            .group
            .as_deref()
            .and_then(uzers::get_group_by_name)
            .map(|g| g.gid())
            .unwrap_or(n.gid);
        if unsafe { libc::lchown(c.as_ptr(), uid, gid) } != 0 {
            return Err(Error::io(p, std::io::Error::last_os_error()));
        }
    }
    for x in &n.xattrs {
        if let Err(e) = xattr::set(p, OsStr::from_bytes(&x.name), &x.value) {
            // Some file systems take no xattrs of a namespace; say so, go on.
            tracing::warn!(
                "{}: xattr {} not restored: {e}",
                p.display(),
                String::from_utf8_lossy(&x.name)
            );
        }
    }
    if n.kind != NodeKind::Symlink {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(n.mode))
            .map_err(|e| Error::io(p, e))?;
    }
    let mt = filetime::FileTime::from_unix_time(n.mtime.secs, n.mtime.nanos);
    let at = filetime::FileTime::from_unix_time(n.atime.secs, n.atime.nanos);
    filetime::set_symlink_file_times(p, at, mt).map_err(|e| Error::io(p, e))?;
    Ok(())
}
