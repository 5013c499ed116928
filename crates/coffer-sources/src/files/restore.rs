//! Restoring a directory tree with full fidelity.
//!
//! Order: directories first (in tree order), then files without content,
//! links and special files (in parallel), then content pack by pack (in
//! parallel). A file with content is created when its first verified chunk
//! arrives and stays open until its last chunk is written; then its size,
//! owner, mode, xattrs and times are set through the open handle, so each
//! file is opened once. Hard links follow their first path's content;
//! directory metadata is set last, deepest first, so writing inside a
//! directory does not move its mtime afterwards.

use coffer_core::{
    restore_contents, ChunkRef, Error, Id, Index, Node, NodeKind, Result, Snapshot, Time, Vault,
    Xattr,
};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Names;
use crate::filter::Patterns;
use crate::{add, Progress};

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

/// One entry to restore, with only what restoring needs: about a third of
/// a [`Node`], and the path as its parent's number and its own name, so a
/// large tree's list stays small.
struct Item {
    /// Number of the parent directory's item; [`NO_PARENT`] at the top.
    parent: u32,
    name: Box<[u8]>,
    kind: NodeKind,
    mode: u32,
    /// Owner and group to set (names already mapped to local ids).
    uid: u32,
    gid: u32,
    mtime: Time,
    atime: Time,
    size: u64,
    rdev: u64,
    /// (dev, inode) of a file with more than one link.
    hardlink: Option<(u64, u64)>,
    target: Option<Box<[u8]>>,
    content: Box<[ChunkRef]>,
    xattrs: Box<[Xattr]>,
}

const NO_PARENT: u32 = u32::MAX;

impl Item {
    fn new(n: Node, parent: u32, meta: &Meta) -> Item {
        let (uid, gid) = meta.owner(&n);
        Item {
            parent,
            hardlink: (n.kind != NodeKind::Dir && n.links > 1 && n.inode != 0)
                .then_some((n.dev, n.inode)),
            name: n.name.into_boxed_slice(),
            kind: n.kind,
            mode: n.mode,
            uid,
            gid,
            mtime: n.mtime,
            atime: n.atime,
            size: n.size,
            rdev: n.rdev,
            target: n.target.map(Vec::into_boxed_slice),
            content: n.content.into_boxed_slice(),
            xattrs: n.xattrs.into_boxed_slice(),
        }
    }
}

/// The path of item `i` below `base`.
fn path_of(items: &[Item], i: usize, base: &Path) -> PathBuf {
    let mut names = Vec::new();
    let mut j = i as u32;
    while j != NO_PARENT {
        names.push(&items[j as usize].name);
        j = items[j as usize].parent;
    }
    let mut p = base.to_path_buf();
    for n in names.iter().rev() {
        p.push(OsStr::from_bytes(n));
    }
    p
}

#[allow(clippy::too_many_arguments)]
fn collect(
    vault: &Vault,
    index: &Index,
    tree: &Id,
    parent: u32,
    snap_path: &Path,
    inc: &Patterns,
    forced: bool,
    meta: &Meta,
    out: &mut Vec<Item>,
) -> Result<bool> {
    let t = vault.load_tree(index, tree)?;
    let mut any = false;
    for n in t.nodes {
        let sp = snap_path.join(OsStr::from_bytes(&n.name));
        let selected = forced || inc.is_empty() || inc.matches(&sp);
        let pos = out.len();
        let sub = n.subtree;
        out.push(Item::new(n, parent, meta));
        let mut keep = selected;
        if let Some(sub) = sub {
            keep |= collect(
                vault, index, &sub, pos as u32, &sp, inc, selected, meta, out,
            )?;
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
    let meta = Meta {
        is_root: unsafe { libc::geteuid() } == 0,
        names: Names::default(),
    };
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
                items.push(Item::new(node, NO_PARENT, &meta));
                root = Id::default();
            }
        }
    }
    if root != Id::default() {
        collect(
            vault,
            index,
            &root,
            NO_PARENT,
            &snap_path,
            &opts.includes,
            false,
            &meta,
            &mut items,
        )?;
    }
    items.shrink_to_fit();
    vault.forget_cached_trees();
    let target = &opts.target;
    std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
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
    for (i, _) in items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.kind == NodeKind::Dir)
    {
        let p = path_of(&items, i, target);
        match std::fs::create_dir(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
        stats.lock().unwrap().dirs += 1;
    }
    // Hard links: the first path of an inode gets the content, the others
    // are linked to it once it is complete.
    let mut first_of: HashMap<(u64, u64), usize> = HashMap::new();
    let mut links: Vec<(usize, usize)> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        if let Some(key) = it.hardlink {
            match first_of.get(&key) {
                Some(&f) => links.push((f, i)),
                None => {
                    first_of.insert(key, i);
                }
            }
        }
    }
    drop(first_of);
    let linked: HashSet<usize> = links.iter().map(|(_, i)| *i).collect();
    let has_content = |i: usize, it: &Item| {
        it.kind == NodeKind::File && !it.content.is_empty() && !linked.contains(&i)
    };

    // 2. Files without content, symlinks and special files, with their
    //    metadata.
    let creates: Vec<Result<()>> = items
        .par_iter()
        .enumerate()
        .filter(|(i, it)| it.kind != NodeKind::Dir && !linked.contains(i) && !has_content(*i, it))
        .map(|(i, n)| {
            let p = path_of(&items, i, target);
            match n.kind {
                NodeKind::File => {
                    let f = File::create(&p).map_err(|e| Error::io(&p, e))?;
                    f.set_len(n.size).map_err(|e| Error::io(&p, e))?;
                    meta.set_fd(&f, n).map_err(|e| Error::io(&p, e))?;
                    stats.lock().unwrap().files += 1;
                    return Ok(());
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
                    if n.kind != NodeKind::Fifo && !meta.is_root {
                        warn(&p, "device node not restored: needs root".into());
                        return Ok(());
                    }
                    let _ = std::fs::remove_file(&p);
                    let c = cpath(&p)?;
                    let r = unsafe {
                        libc::mknod(c.as_ptr(), fmt | (n.mode & 0o7777), n.rdev as libc::dev_t)
                    };
                    if r != 0 {
                        return Err(Error::io(&p, std::io::Error::last_os_error()));
                    }
                    stats.lock().unwrap().others += 1;
                }
                NodeKind::Socket | NodeKind::Dir => return Ok(()),
            }
            meta.set_path(&p, n)
        })
        .collect();
    creates.into_iter().collect::<Result<Vec<()>>>()?;

    tracing::info!("restore: entries created after {:?}", t0.elapsed());
    // 3. Content, verified blob by blob; all-zero blocks stay holes. Each
    //    file is opened at its first chunk and finished at its last.
    let files: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(i, it)| has_content(*i, it))
        .map(|(i, _)| i)
        .collect();
    let contents: Vec<&[ChunkRef]> = files.iter().map(|&i| &*items[i].content).collect();
    let open: Vec<Mutex<OpenFile>> = contents
        .iter()
        .map(|c| {
            Mutex::new(OpenFile {
                file: None,
                remaining: c.len(),
            })
        })
        .collect();
    let cs = restore_contents(
        vault,
        index,
        &contents,
        |f, off, data| {
            add(&progress.bytes, data.len() as u64);
            let it = &items[files[f]];
            let mut of = open[f].lock().unwrap();
            if of.file.is_none() {
                of.file = Some(File::create(path_of(&items, files[f], target))?);
            }
            write_sparse(of.file.as_ref().expect("opened above"), off, data)?;
            of.remaining -= 1;
            if of.remaining == 0 {
                let file = of.file.take().expect("opened above");
                file.set_len(it.size)?;
                meta.set_fd(&file, it)?;
            }
            Ok(())
        },
        |f| format!("{}", path_of(&items, files[f], Path::new("")).display()),
    )?;
    drop(open);
    {
        let mut st = stats.lock().unwrap();
        st.bytes = cs.bytes;
        st.files += files.len() as u64;
    }
    for (first, dup) in &links {
        let (a, b) = (
            path_of(&items, *first, target),
            path_of(&items, *dup, target),
        );
        let _ = std::fs::remove_file(&b);
        std::fs::hard_link(&a, &b).map_err(|e| Error::io(&b, e))?;
        stats.lock().unwrap().files += 1;
    }

    tracing::info!("restore: content written after {:?}", t0.elapsed());
    // 4. Directories, deepest first.
    for (i, it) in items.iter().enumerate().rev() {
        if it.kind == NodeKind::Dir {
            meta.set_path(&path_of(&items, i, target), it)?;
        }
    }
    Ok(stats.into_inner().unwrap())
}

/// A file being written: open from its first chunk to its last.
struct OpenFile {
    file: Option<File>,
    remaining: usize,
}

/// Writes `data` at `off`, leaving 4 KiB blocks of zeros as holes (the
/// file gets its full length when it is finished, so holes read back as
/// zeros).
fn write_sparse(file: &File, off: u64, data: &[u8]) -> std::io::Result<()> {
    const BLOCK: usize = 4096;
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
        file.write_all_at(&data[start..end], off + start as u64)?;
        i = end;
    }
    Ok(())
}

fn cpath(p: &Path) -> Result<std::ffi::CString> {
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidInput(format!("{}: NUL in path", p.display())))
}

/// Sets owners, xattrs, mode and times, in that order (chown clears the
/// set-id bits, so the mode comes after it; times come last because the
/// others move ctime only).
struct Meta {
    is_root: bool,
    names: Names,
}

impl Meta {
    /// The owner to give: by name when this machine knows the name, else by id.
    fn owner(&self, n: &Node) -> (u32, u32) {
        let uid = n
            .user
            .as_deref()
            .and_then(|u| self.names.uid(u))
            .unwrap_or(n.uid);
        let gid = n
            .group
            .as_deref()
            .and_then(|g| self.names.gid(g))
            .unwrap_or(n.gid);
        (uid, gid)
    }

    fn times(n: &Item) -> (Option<filetime::FileTime>, filetime::FileTime) {
        let mt = filetime::FileTime::from_unix_time(n.mtime.secs, n.mtime.nanos);
        // Snapshots do not record atime (see `node`); older ones may.
        let at = (n.atime != Default::default())
            .then(|| filetime::FileTime::from_unix_time(n.atime.secs, n.atime.nanos));
        (at, mt)
    }

    /// Through an open regular file.
    fn set_fd(&self, f: &File, n: &Item) -> std::io::Result<()> {
        use xattr::FileExt as _;
        if self.is_root {
            std::os::unix::fs::fchown(f, Some(n.uid), Some(n.gid))?;
        }
        for x in &n.xattrs {
            if let Err(e) = f.set_xattr(OsStr::from_bytes(&x.name), &x.value) {
                tracing::warn!(
                    "xattr {} not restored: {e}",
                    String::from_utf8_lossy(&x.name)
                );
            }
        }
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(n.mode))?;
        let (at, mt) = Self::times(n);
        filetime::set_file_handle_times(f, at, Some(mt))
    }

    /// By path (directories, symlinks, special files).
    fn set_path(&self, p: &Path, n: &Item) -> Result<()> {
        if n.kind == NodeKind::Socket {
            return Ok(());
        }
        if self.is_root {
            let c = cpath(p)?;
            if unsafe { libc::lchown(c.as_ptr(), n.uid, n.gid) } != 0 {
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
        let (at, mt) = Self::times(n);
        let at = at.unwrap_or_else(|| {
            // Symlink times can only be set together; use now for atime.
            filetime::FileTime::now()
        });
        filetime::set_symlink_file_times(p, at, mt).map_err(|e| Error::io(p, e))
    }
}
