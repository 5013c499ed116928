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
    restore_contents, Delivery, Error, Id, Index, Node, NodeKind, Part, Result, Snapshot, Time,
    Vault, Xattr,
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

/// The entries to restore, kept compact because a large tree has millions:
/// one fixed-size row per entry, with names and content chunk lists in
/// shared arrays and the rare fields (link targets, xattrs, device numbers,
/// hard-link keys, recorded atimes) in a side table. About 56 bytes a row
/// plus its name and 8 bytes per chunk (its index entry, not its id),
/// against about 250 for a row of separately allocated fields.
#[derive(Default)]
struct List {
    items: Vec<Item>,
    names: Vec<u8>,
    chunks: Vec<Part>,
    extras: Vec<Extra>,
}

/// One entry: only what restoring needs, about a quarter of a [`Node`]; the
/// path is its parent's number and its own name.
struct Item {
    /// Number of the parent directory's item; [`NO_PARENT`] at the top.
    parent: u32,
    /// Name: `names[name..name + name_len]`.
    name: u32,
    /// Content: `chunks[chunks..chunks + nchunks]`.
    chunks: u32,
    nchunks: u32,
    /// Row in `extras`, or [`NO_EXTRA`].
    extra: u32,
    mode: u32,
    /// Owner and group to set (names already mapped to local ids).
    uid: u32,
    gid: u32,
    mtime_nanos: u32,
    mtime_secs: i64,
    size: u64,
    name_len: u16,
    kind: NodeKind,
}

/// The fields few entries have.
struct Extra {
    atime: Time,
    rdev: u64,
    /// (dev, inode) of a file with more than one link.
    hardlink: Option<(u64, u64)>,
    target: Option<Box<[u8]>>,
    xattrs: Box<[Xattr]>,
}

const NO_PARENT: u32 = u32::MAX;
const NO_EXTRA: u32 = u32::MAX;

/// Lengths of a [`List`]'s arrays, to cut it back to.
#[derive(Clone, Copy)]
struct Mark(usize, usize, usize, usize);

impl List {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn mark(&self) -> Mark {
        Mark(
            self.items.len(),
            self.names.len(),
            self.chunks.len(),
            self.extras.len(),
        )
    }

    fn truncate(&mut self, m: Mark) {
        self.items.truncate(m.0);
        self.names.truncate(m.1);
        self.chunks.truncate(m.2);
        self.extras.truncate(m.3);
    }

    fn shrink_to_fit(&mut self) {
        self.items.shrink_to_fit();
        self.names.shrink_to_fit();
        self.chunks.shrink_to_fit();
        self.extras.shrink_to_fit();
    }

    /// Adds `n` (at `path` in the snapshot) below item `parent`, its chunks
    /// looked up in `index`.
    fn push(
        &mut self,
        n: Node,
        parent: u32,
        path: &Path,
        meta: &Meta,
        index: &Index,
    ) -> Result<()> {
        let (uid, gid) = meta.owner(&n);
        let too_many = || Error::InvalidInput("too many entries to restore at once".into());
        let name_len = u16::try_from(n.name.len()).map_err(|_| {
            Error::InvalidInput(format!(
                "a name of {} bytes in the snapshot is longer than any file system takes",
                n.name.len()
            ))
        })?;
        let hardlink =
            (n.kind != NodeKind::Dir && n.links > 1 && n.inode != 0).then_some((n.dev, n.inode));
        let extra = if hardlink.is_some()
            || n.rdev != 0
            || n.target.is_some()
            || !n.xattrs.is_empty()
            || n.atime != Time::default()
        {
            self.extras.push(Extra {
                atime: n.atime,
                rdev: n.rdev,
                hardlink,
                target: n.target.map(Vec::into_boxed_slice),
                xattrs: n.xattrs.into_boxed_slice(),
            });
            u32::try_from(self.extras.len() - 1).map_err(|_| too_many())?
        } else {
            NO_EXTRA
        };
        let item = Item {
            parent,
            name: u32::try_from(self.names.len()).map_err(|_| too_many())?,
            chunks: u32::try_from(self.chunks.len()).map_err(|_| too_many())?,
            nchunks: u32::try_from(n.content.len()).map_err(|_| too_many())?,
            extra,
            mode: n.mode,
            uid,
            gid,
            mtime_nanos: n.mtime.nanos,
            mtime_secs: n.mtime.secs,
            size: n.size,
            name_len,
            kind: n.kind,
        };
        if self.items.len() >= NO_PARENT as usize {
            return Err(too_many());
        }
        for c in &n.content {
            self.chunks
                .push(Part::of(index, c, || path.display().to_string())?);
        }
        self.names.extend_from_slice(&n.name);
        self.items.push(item);
        Ok(())
    }

    fn name(&self, i: usize) -> &[u8] {
        let it = &self.items[i];
        &self.names[it.name as usize..it.name as usize + it.name_len as usize]
    }

    fn content(&self, i: usize) -> &[Part] {
        let it = &self.items[i];
        &self.chunks[it.chunks as usize..(it.chunks + it.nchunks) as usize]
    }

    fn extra(&self, i: usize) -> Option<&Extra> {
        self.extras.get(self.items[i].extra as usize)
    }

    /// The path of item `i` below `base`.
    fn path(&self, i: usize, base: &Path) -> PathBuf {
        let mut up = Vec::new();
        let mut j = i as u32;
        while j != NO_PARENT {
            up.push(j as usize);
            j = self.items[j as usize].parent;
        }
        let mut p = base.to_path_buf();
        for &k in up.iter().rev() {
            p.push(OsStr::from_bytes(self.name(k)));
        }
        p
    }
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
    out: &mut List,
) -> Result<bool> {
    let t = vault.load_tree(index, tree)?;
    let mut any = false;
    for n in t.nodes {
        let sp = snap_path.join(OsStr::from_bytes(&n.name));
        let selected = forced || inc.is_empty() || inc.matches(&sp);
        let mark = out.mark();
        let pos = out.len();
        let sub = n.subtree;
        out.push(n, parent, &sp, meta, index)?;
        let mut keep = selected;
        if let Some(sub) = sub {
            keep |= collect(
                vault, index, &sub, pos as u32, &sp, inc, selected, meta, out,
            )?;
        }
        if !keep {
            out.truncate(mark);
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
        match node.subtree {
            Some(t) => root = t,
            None => {
                items.push(node, NO_PARENT, &snap_path, &meta, index)?;
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
    let mut all_new = true;
    for (i, _) in items
        .items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.kind == NodeKind::Dir)
    {
        let p = items.path(i, target);
        match std::fs::create_dir(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {
                all_new = false
            }
            Err(e) => return Err(Error::io(&p, e)),
        }
        stats.lock().unwrap().dirs += 1;
    }
    // New files below directories this restore made, in a target that hands
    // down no group (setgid) and no default ACL, get this process's owner
    // and the umask's mode, so those need not be set again.
    meta.new_files_plain = all_new && hands_down_nothing(target);
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

    // 2. Files without content, symlinks and special files, with their
    //    metadata.
    let creates: Vec<Result<()>> = items
        .items
        .par_iter()
        .enumerate()
        .filter(|(i, it)| it.kind != NodeKind::Dir && !linked.contains(i) && !has_content(*i, it))
        .map(|(i, n)| {
            let p = items.path(i, target);
            let extra = items.extra(i);
            match n.kind {
                NodeKind::File => {
                    let (f, fresh) = create(&p).map_err(|e| Error::io(&p, e))?;
                    if n.size > 0 || !fresh {
                        f.set_len(n.size).map_err(|e| Error::io(&p, e))?;
                    }
                    meta.set_fd(&f, fresh, n, extra)
                        .map_err(|e| Error::io(&p, e))?;
                    stats.lock().unwrap().files += 1;
                    return Ok(());
                }
                NodeKind::Symlink => {
                    let _ = std::fs::remove_file(&p);
                    let t = OsStr::from_bytes(
                        extra.and_then(|e| e.target.as_deref()).unwrap_or_default(),
                    );
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
                        libc::mknod(
                            c.as_ptr(),
                            fmt | (n.mode & 0o7777),
                            extra.map_or(0, |e| e.rdev) as libc::dev_t,
                        )
                    };
                    if r != 0 {
                        return Err(Error::io(&p, std::io::Error::last_os_error()));
                    }
                    stats.lock().unwrap().others += 1;
                }
                NodeKind::Socket | NodeKind::Dir => return Ok(()),
            }
            meta.set_path(&p, n, extra)
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
            let mut of = open[f].lock().unwrap();
            if of.file.is_none() {
                let (file, fresh) = create(&items.path(i, target))?;
                of.file = Some(file);
                of.fresh = fresh;
            }
            let wrote_last = write_sparse(of.file.as_ref().expect("opened above"), off, data)?;
            if off + data.len() as u64 == it.size {
                of.whole = wrote_last;
            }
            if last {
                of.remaining -= 1;
                if of.remaining == 0 {
                    let file = of.file.take().expect("opened above");
                    // A file whose last byte was written has its length;
                    // one that ends in a hole gets it here.
                    if !of.whole || !of.fresh {
                        file.set_len(it.size)?;
                    }
                    meta.set_fd(&file, of.fresh, it, items.extra(i))?;
                }
            }
            Ok(())
        },
        |f| format!("{}", items.path(files[f] as usize, Path::new("")).display()),
    )?;
    drop(open);
    {
        let mut st = stats.lock().unwrap();
        st.bytes = cs.bytes;
        st.files += files.len() as u64;
    }
    for (first, dup) in &links {
        let (a, b) = (items.path(*first, target), items.path(*dup, target));
        let _ = std::fs::remove_file(&b);
        std::fs::hard_link(&a, &b).map_err(|e| Error::io(&b, e))?;
        stats.lock().unwrap().files += 1;
    }

    tracing::info!("restore: content written after {:?}", t0.elapsed());
    // 4. Directories, deepest first.
    for (i, it) in items.items.iter().enumerate().rev() {
        if it.kind == NodeKind::Dir {
            meta.set_path(&items.path(i, target), it, items.extra(i))?;
        }
    }
    Ok(stats.into_inner().unwrap())
}

/// A file being written: open from its first chunk to its last.
struct OpenFile {
    file: Option<File>,
    /// Made by this restore (not an existing file opened again).
    fresh: bool,
    /// The file's last byte was written (it does not end in a hole).
    whole: bool,
    /// Chunks still to come.
    remaining: u32,
}

/// Whether new entries in directory `dir` get their group and mode the
/// plain way: `dir` is not setgid and has no default ACL.
fn hands_down_nothing(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let setgid = std::fs::metadata(dir)
        .map(|m| m.permissions().mode() & 0o2000 != 0)
        .unwrap_or(true);
    let acl = !matches!(xattr::get(dir, "system.posix_acl_default"), Ok(None));
    !setgid && !acl
}

/// Creates a regular file, or opens an existing one and empties it; says
/// whether it was made now (then its owner is this process's and its mode
/// the one new files get).
fn create(p: &Path) -> std::io::Result<(File, bool)> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p)
    {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((File::create(p)?, false)),
        Err(e) => Err(e),
    }
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

fn cpath(p: &Path) -> Result<std::ffi::CString> {
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidInput(format!("{}: NUL in path", p.display())))
}

/// Sets owners, xattrs, mode and times, in that order (chown clears the
/// set-id bits, so the mode comes after it; times come last because the
/// others move ctime only).
struct Meta {
    is_root: bool,
    /// This process's effective owner and group: a new file's.
    euid: u32,
    egid: u32,
    /// The mode a new regular file gets (0666 less the umask).
    new_mode: u32,
    /// Whether files this restore makes get `euid`, `egid` and `new_mode`
    /// (see [`hands_down_nothing`]); false until the directories are made.
    new_files_plain: bool,
    names: Names,
}

impl Meta {
    fn new() -> Meta {
        // SAFETY: plain system calls without pointers. umask can only be
        // read by setting it; it is put back at once, before any file is
        // made.
        let (euid, egid, mask) = unsafe {
            let m = libc::umask(0o022);
            libc::umask(m);
            (libc::geteuid(), libc::getegid(), m as u32)
        };
        Meta {
            is_root: euid == 0,
            euid,
            egid,
            new_mode: 0o666 & !mask,
            new_files_plain: false,
            names: Names::default(),
        }
    }

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

    fn times(n: &Item, x: Option<&Extra>) -> (Option<filetime::FileTime>, filetime::FileTime) {
        let mt = filetime::FileTime::from_unix_time(n.mtime_secs, n.mtime_nanos);
        // Snapshots do not record atime (see `node`); older ones may.
        let at = x
            .filter(|x| x.atime != Time::default())
            .map(|x| filetime::FileTime::from_unix_time(x.atime.secs, x.atime.nanos));
        (at, mt)
    }

    /// Through an open regular file; `fresh` when this restore made it, so
    /// an owner and mode it already has are not set again.
    fn set_fd(&self, f: &File, fresh: bool, n: &Item, x: Option<&Extra>) -> std::io::Result<()> {
        use xattr::FileExt as _;
        let fresh = fresh && self.new_files_plain;
        let owned = fresh && n.uid == self.euid && n.gid == self.egid;
        if self.is_root && !owned {
            std::os::unix::fs::fchown(f, Some(n.uid), Some(n.gid))?;
        }
        for a in x.map_or(&[][..], |x| &x.xattrs) {
            if let Err(e) = f.set_xattr(OsStr::from_bytes(&a.name), &a.value) {
                tracing::warn!(
                    "xattr {} not restored: {e}",
                    String::from_utf8_lossy(&a.name)
                );
            }
        }
        if !(fresh && n.mode == self.new_mode) {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(n.mode))?;
        }
        let (at, mt) = Self::times(n, x);
        filetime::set_file_handle_times(f, at, Some(mt))
    }

    /// By path (directories, symlinks, special files).
    fn set_path(&self, p: &Path, n: &Item, x: Option<&Extra>) -> Result<()> {
        if n.kind == NodeKind::Socket {
            return Ok(());
        }
        if self.is_root {
            let c = cpath(p)?;
            if unsafe { libc::lchown(c.as_ptr(), n.uid, n.gid) } != 0 {
                return Err(Error::io(p, std::io::Error::last_os_error()));
            }
        }
        for a in x.map_or(&[][..], |x| &x.xattrs) {
            if let Err(e) = xattr::set(p, OsStr::from_bytes(&a.name), &a.value) {
                // Some file systems take no xattrs of a namespace; say so, go on.
                tracing::warn!(
                    "{}: xattr {} not restored: {e}",
                    p.display(),
                    String::from_utf8_lossy(&a.name)
                );
            }
        }
        if n.kind != NodeKind::Symlink {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(n.mode))
                .map_err(|e| Error::io(p, e))?;
        }
        let (at, mt) = Self::times(n, x);
        let at = at.unwrap_or_else(|| {
            // Symlink times can only be set together; use now for atime.
            filetime::FileTime::now()
        });
        filetime::set_symlink_file_times(p, at, mt).map_err(|e| Error::io(p, e))
    }
}
