//! Restoring a directory tree with full fidelity, only beneath the target.
//!
//! Order: directories first (in tree order), then files without content,
//! links and special files (in parallel), then content pack by pack (in
//! parallel). A file with content is created when its first verified chunk
//! arrives and stays open until its last chunk is written; then its size,
//! owner, mode, xattrs and times are set through the open handle, so each
//! file is opened once. Hard links follow their first path's content;
//! directory metadata is set last, deepest first, so writing inside a
//! directory does not move its mtime afterwards.
//!
//! Confinement: every node name is checked before anything is written
//! ([`list`]), and everything is written through [`beneath::Beneath`],
//! which never follows a symlink inside the target and replaces an entry in
//! the way by removing it, never by writing through it.

use coffer_core::{
    restore_contents, Delivery, Error, Id, Index, NodeKind, Result, Snapshot, Vault,
};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::filter::Patterns;
use crate::{add, Progress};

mod beneath;
mod item;
mod list;
mod meta;
#[cfg(test)]
mod tests;

use beneath::{split, Beneath, Dir, Made, Resolve};
use item::Item;
use list::{check_name, check_subtree, collect, List, NO_PARENT};
use meta::{hands_down_nothing, Meta};

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

/// Restores a snapshot's files into `opts.target`. A snapshot whose tree
/// holds a name that is not a plain file name, or a subtree below a node
/// that is not a directory, is refused as damaged before anything is
/// written (the error names the path in the snapshot).
pub fn restore(
    vault: &Vault,
    index: &Index,
    snap: &Snapshot,
    opts: &RestoreOptions,
    progress: &Progress,
) -> Result<RestoreStats> {
    restore_with(vault, index, snap, opts, progress, Resolve::Auto)
}

/// [`restore`], resolving directories as `resolve` says.
fn restore_with(
    vault: &Vault,
    index: &Index,
    snap: &Snapshot,
    opts: &RestoreOptions,
    progress: &Progress,
    resolve: Resolve,
) -> Result<RestoreStats> {
    let mut meta = Meta::new();
    let mut items = List::default();
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
        let dir = snap_path.parent().unwrap_or(Path::new("/")).to_path_buf();
        check_name(&node.name, &dir)?;
        check_subtree(&node, &dir)?;
        match node.subtree {
            Some(t) => root = t,
            None => {
                items.push(node, NO_PARENT, &dir, &meta, index)?;
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
    // Data packs an archive storage class keeps unreadable fail the restore
    // here, before the target is touched.
    coffer_core::ensure_thawed(
        vault,
        index,
        (0..items.len())
            .flat_map(|i| items.content(i))
            .map(|p| index.entry(p.entry).1.pack),
    )?;
    let target = &opts.target;
    let b = Beneath::open(target, resolve).map_err(|e| Error::io(target, e))?;
    let stats = Mutex::new(RestoreStats::default());
    let io = |rel: &Path| {
        let p = target.join(rel);
        move |e: std::io::Error| Error::io(p, e)
    };
    let warn = |rel: &Path, w: String| {
        stats
            .lock()
            .unwrap()
            .warnings
            .push(format!("{}: {w}", target.join(rel).display()))
    };

    let t0 = std::time::Instant::now();
    tracing::info!("restore: {} entries listed", items.len());
    // 1. Directories, in order (parents before their children).
    let mut all_new = true;
    let mut open = OpenDirs::default();
    for (i, _) in items
        .items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.kind == NodeKind::Dir)
    {
        let name = Path::new(OsStr::from_bytes(items.name(i)));
        let made = open
            .parent(&b, &items, i)
            .and_then(|dir| b.mkdir(&dir, name))
            .map_err(io(&items.rel(i)))?;
        all_new &= made != Made::Existed;
        stats.lock().unwrap().dirs += 1;
    }
    drop(open);
    // New files below directories this restore made, in a target that hands
    // down no group (setgid) and no default ACL, get this process's owner
    // and the umask's mode, so those need not be set again.
    meta.new_files_plain = all_new && hands_down_nothing(b.root_fd());
    // Hard links: the first path of an inode gets the content, the others
    // are linked to it once it is complete.
    let mut first_of: HashMap<(u64, u64), usize> = HashMap::new();
    let mut links: Vec<(usize, usize)> = Vec::new();
    for i in 0..items.len() {
        if let Some(key) = items.extra(i).and_then(|e| e.hardlink) {
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
    let has_content =
        |i: usize, it: &Item| it.kind == NodeKind::File && it.nchunks > 0 && !linked.contains(&i);
    // The totals the progress counts towards: every file (hard links too)
    // and the content to write.
    add(
        &progress.total_files,
        items
            .items
            .iter()
            .filter(|it| it.kind == NodeKind::File)
            .count() as u64,
    );
    add(
        &progress.total_bytes,
        items
            .items
            .iter()
            .enumerate()
            .filter(|(i, it)| has_content(*i, it))
            .map(|(_, it)| it.size)
            .sum(),
    );

    // 2. Files without content, symlinks and special files, with their
    //    metadata.
    let creates: Vec<Result<()>> = items
        .items
        .par_iter()
        .enumerate()
        .filter(|(i, it)| it.kind != NodeKind::Dir && !linked.contains(i) && !has_content(*i, it))
        .map(|(i, n)| {
            let rel = items.rel(i);
            let extra = items.extra(i);
            let fmt = match n.kind {
                NodeKind::File => {
                    let (f, fresh) = b.create_file(&rel).map_err(io(&rel))?;
                    if n.size > 0 {
                        f.set_len(n.size).map_err(io(&rel))?;
                    }
                    meta.set_fd(&f, fresh, n, extra).map_err(io(&rel))?;
                    stats.lock().unwrap().files += 1;
                    add(&progress.files, 1);
                    return Ok(());
                }
                NodeKind::Symlink => None,
                NodeKind::Fifo => Some(rustix::fs::FileType::Fifo),
                NodeKind::CharDevice => Some(rustix::fs::FileType::CharacterDevice),
                NodeKind::BlockDevice => Some(rustix::fs::FileType::BlockDevice),
                NodeKind::Socket | NodeKind::Dir => return Ok(()),
            };
            if n.kind != NodeKind::Fifo && fmt.is_some() && !meta.is_root {
                warn(&rel, "device node not restored: needs root".into());
                return Ok(());
            }
            let (parent, name) = split(&rel);
            let made = b.dir(b.root_fd(), parent, false).and_then(|dir| {
                match fmt {
                    None => {
                        let t = extra.and_then(|e| e.target.as_deref()).unwrap_or_default();
                        b.symlink(&dir, name, Path::new(OsStr::from_bytes(t)))?
                    }
                    Some(fmt) => b.mknod(&dir, name, fmt, n.mode, extra.map_or(0, |e| e.rdev))?,
                }
                meta.set_at(&b, &dir, name, &rel, n, extra)
            });
            made.map_err(io(&rel))?;
            stats.lock().unwrap().others += 1;
            Ok(())
        })
        .collect();
    creates.into_iter().collect::<Result<Vec<()>>>()?;

    tracing::info!("restore: entries created after {:?}", t0.elapsed());
    // 3. Content, verified blob by blob; all-zero blocks stay holes. Each
    //    file is opened at its first chunk and finished at its last.
    let files: Vec<u32> = items
        .items
        .iter()
        .enumerate()
        .filter(|(i, it)| has_content(*i, it))
        .map(|(i, _)| i as u32)
        .collect();
    let open: Vec<Mutex<OpenFile>> = files
        .iter()
        .map(|&i| {
            Mutex::new(OpenFile {
                file: None,
                fresh: false,
                whole: false,
                remaining: items.items[i as usize].nchunks,
            })
        })
        .collect();
    let cs = restore_contents(
        vault,
        index,
        files.len(),
        |f| items.content(files[f] as usize),
        Delivery::Pieces,
        |f, off, data, last| {
            add(&progress.bytes, data.len() as u64);
            let i = files[f] as usize;
            let it = &items.items[i];
            // The lock covers opening and finishing, not the write: the
            // packs of one large file are restored by several threads at
            // once, each writing at its own offsets.
            let file = {
                let mut of = open[f].lock().unwrap();
                if of.file.is_none() {
                    let (file, fresh) = b.create_file(&items.rel(i))?;
                    of.file = Some(Arc::new(file));
                    of.fresh = fresh;
                }
                of.file.clone().expect("opened above")
            };
            let wrote_last = write_sparse(&file, off, data)?;
            drop(file);
            let mut of = open[f].lock().unwrap();
            if off + data.len() as u64 == it.size {
                of.whole = wrote_last;
            }
            if last {
                of.remaining -= 1;
                if of.remaining == 0 {
                    // Every chunk was written (each thread counts its chunk
                    // down only after writing it), so size, mode and times
                    // are set after the last write.
                    let file = of.file.take().expect("opened above");
                    // A file whose last byte was written has its length;
                    // one that ends in a hole gets it here.
                    if !of.whole {
                        file.set_len(it.size)?;
                    }
                    meta.set_fd(&file, of.fresh, it, items.extra(i))?;
                    add(&progress.files, 1);
                }
            }
            Ok(())
        },
        |f| format!("{}", target.join(items.rel(files[f] as usize)).display()),
    )?;
    drop(open);
    {
        let mut st = stats.lock().unwrap();
        st.bytes = cs.bytes;
        st.files += files.len() as u64;
    }
    for (first, dup) in &links {
        let (a, d) = (items.rel(*first), items.rel(*dup));
        let ((ap, an), (dp, dn)) = (split(&a), split(&d));
        let root = b.root_fd();
        b.dir(root, ap, false)
            .and_then(|from| b.link(&from, an, &b.dir(root, dp, false)?, dn))
            .map_err(io(&d))?;
        stats.lock().unwrap().files += 1;
        add(&progress.files, 1);
    }

    tracing::info!("restore: content written after {:?}", t0.elapsed());
    // 4. Directories, deepest first, each through a descriptor of its own.
    for (i, it) in items.items.iter().enumerate().rev() {
        if it.kind == NodeKind::Dir {
            let rel = items.rel(i);
            let fd = match b.dir(b.root_fd(), &rel, true).map_err(io(&rel))? {
                Dir::Open(fd) => fd,
                Dir::Borrowed(_) => unreachable!("an entry's path is never empty"),
            };
            meta.set_fd(&File::from(fd), false, it, items.extra(i))
                .map_err(io(&rel))?;
        }
    }
    Ok(stats.into_inner().unwrap())
}

/// Directories held open along the path of the directory made last, so
/// that making directories in tree order opens each parent once (and a
/// directory without subdirectories never), while holding no more
/// descriptors than the tree is deep.
#[derive(Default)]
struct OpenDirs {
    /// (item, descriptor), each a subdirectory of the one before.
    stack: Vec<(u32, OwnedFd)>,
}

impl OpenDirs {
    /// The directory that item `i` is made in.
    fn parent<'b>(
        &'b mut self,
        b: &'b Beneath,
        items: &List,
        i: usize,
    ) -> std::io::Result<Dir<'b>> {
        let p = items.items[i].parent;
        if p == NO_PARENT {
            return Ok(b.root());
        }
        // p and its ancestors, p first.
        let mut chain = Vec::new();
        let mut j = p;
        while j != NO_PARENT {
            chain.push(j);
            j = items.items[j as usize].parent;
        }
        while let Some((top, _)) = self.stack.last() {
            if chain.contains(top) {
                break;
            }
            self.stack.pop();
        }
        let (base, top) = match self.stack.last() {
            Some((top, fd)) => (fd.as_fd(), *top),
            None => (b.root_fd(), NO_PARENT),
        };
        if top != p {
            let fd = match b.dir(base, &items.rel_from(p as usize, top), false)? {
                Dir::Open(fd) => fd,
                Dir::Borrowed(_) => unreachable!("p is below top"),
            };
            self.stack.push((p, fd));
        }
        let fd: BorrowedFd<'b> = self.stack.last().expect("pushed above").1.as_fd();
        Ok(Dir::Borrowed(fd))
    }
}

/// A file being written: open from its first chunk to its last.
struct OpenFile {
    file: Option<Arc<File>>,
    /// Made by this restore where nothing was (see [`Beneath::create_file`]).
    fresh: bool,
    /// The file's last byte was written (it does not end in a hole).
    whole: bool,
    /// Chunks still to come.
    remaining: u32,
}

/// Writes `data` at `off`, leaving 4 KiB blocks of zeros as holes (the
/// file gets its full length when it is finished, so holes read back as
/// zeros). Returns whether the last byte of `data` was written.
fn write_sparse(file: &File, off: u64, data: &[u8]) -> std::io::Result<bool> {
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
        if i == data.len() {
            return Ok(true);
        }
    }
    Ok(false)
}
