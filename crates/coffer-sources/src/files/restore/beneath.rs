//! Writing beneath a restore's target without ever following a symlink.
//!
//! [`Beneath`] holds the target directory, opened once. Every path given to
//! it is relative to that directory and made of plain names (the restore
//! checks node names before anything is written). Each operation resolves
//! a directory with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` (Linux
//! 5.6 and later), or, where the kernel lacks `openat2`, by opening one
//! component after the other with `O_NOFOLLOW | O_DIRECTORY`, and then acts
//! on a name inside that directory through its descriptor (`mkdirat`,
//! `openat(O_CREAT | O_EXCL | O_NOFOLLOW)`, `symlinkat`, `mknodat`,
//! `linkat`). So a symlink in the target, whoever made it and whenever, is
//! never gone through: it is an error at a directory position of a path,
//! and an entry to remove at the position of the entry being made.
//!
//! An existing entry is replaced by removing it first ([`Beneath::replace`]),
//! never by writing through it: an existing file may be a hard link to a
//! file outside the target. A directory is removed only when it is empty;
//! a non-empty one in the way is an error naming it, so nothing the user
//! kept there is lost. An existing directory is reused where the snapshot
//! has one only when it is a real directory (`fstatat` without following).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// How directories are resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resolve {
    /// `openat2` while the kernel has it, else component by component.
    Auto,
    /// Component by component from the start: what kernels without
    /// `openat2` get, selectable so that tests cover it.
    #[cfg(test)]
    Walk,
}

/// The target directory of a restore, through which everything is written.
pub(super) struct Beneath {
    root: OwnedFd,
    /// False once `openat2` answered ENOSYS (or when walking is asked for).
    openat2: AtomicBool,
}

/// A directory to act in: the target itself or one opened below it.
pub(super) enum Dir<'a> {
    Borrowed(BorrowedFd<'a>),
    Open(OwnedFd),
}

impl AsFd for Dir<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Dir::Borrowed(fd) => *fd,
            Dir::Open(fd) => fd.as_fd(),
        }
    }
}

/// What [`Beneath::mkdir`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Made {
    /// Made now, where nothing was.
    New,
    /// A real directory was there and is reused.
    Existed,
    /// Something else (a file, a symlink, an empty directory in the way of
    /// a non-directory) was removed and the entry made now.
    Replaced,
}

/// Flags of every descriptor opened here.
const BASE: OFlags = OFlags::CLOEXEC.union(OFlags::NOFOLLOW);
/// A regular file being restored.
const NEW_FILE: OFlags = OFlags::WRONLY
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(BASE);

impl Beneath {
    /// Makes `target` (and its parents) if missing and opens it. The target
    /// itself is the user's choice and may be reached through symlinks;
    /// nothing below it is.
    pub(super) fn open(target: &Path, resolve: Resolve) -> io::Result<Beneath> {
        std::fs::create_dir_all(target)?;
        let root = rustix::fs::open(
            target,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Beneath {
            root,
            openat2: AtomicBool::new(resolve == Resolve::Auto),
        })
    }

    /// Whether directories are resolved by `openat2` (tests check that both
    /// ways are exercised).
    #[cfg(test)]
    pub(super) fn uses_openat2(&self) -> bool {
        self.openat2.load(Ordering::Relaxed)
    }

    /// The target directory.
    pub(super) fn root(&self) -> Dir<'_> {
        Dir::Borrowed(self.root.as_fd())
    }

    /// The target directory's descriptor.
    pub(super) fn root_fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Opens directory `rel` below `base` (`""` is `base` itself,
    /// borrowed, whatever `readable` says). `readable` opens it for reading, so that
    /// its mode, owner, xattrs and times can be set through the descriptor;
    /// otherwise it is an `O_PATH` handle, enough to act inside it.
    pub(super) fn dir<'a>(
        &'a self,
        base: BorrowedFd<'a>,
        rel: &Path,
        readable: bool,
    ) -> io::Result<Dir<'a>> {
        let kind = if readable {
            OFlags::RDONLY
        } else {
            OFlags::PATH
        };
        let flags = kind | OFlags::DIRECTORY | BASE;
        if rel.as_os_str().is_empty() {
            return Ok(Dir::Borrowed(base));
        }
        plain(rel)?;
        if let Some(r) = self.openat2(base, rel, flags, Mode::empty()) {
            return r.map(Dir::Open);
        }
        // One component at a time: O_NOFOLLOW | O_DIRECTORY refuses a
        // symlink at each of them (ENOTDIR, or ELOOP).
        let mut cur: Option<OwnedFd> = None;
        let comps: Vec<_> = rel.components().collect();
        for (i, c) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let f = if last {
                flags
            } else {
                OFlags::PATH | OFlags::DIRECTORY | BASE
            };
            let at = cur.as_ref().map_or(base, |fd| fd.as_fd());
            let next =
                rustix::fs::openat(at, c.as_os_str(), f, Mode::empty()).map_err(not_a_dir)?;
            cur = Some(next);
        }
        Ok(Dir::Open(cur.expect("a relative path has a component")))
    }

    /// `openat2` beneath `base` without symlinks, or `None` when the kernel
    /// has no `openat2` (remembered: later calls walk at once).
    fn openat2(
        &self,
        base: BorrowedFd<'_>,
        rel: &Path,
        flags: OFlags,
        mode: Mode,
    ) -> Option<io::Result<OwnedFd>> {
        if !self.openat2.load(Ordering::Relaxed) {
            return None;
        }
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(base, rel, flags, mode, how) {
            Err(Errno::NOSYS) => {
                self.openat2.store(false, Ordering::Relaxed);
                None
            }
            r => Some(r.map_err(in_the_way)),
        }
    }

    /// Creates regular file `rel` (mode 0666 less the umask), replacing
    /// what is there; says whether nothing was there (then its owner is
    /// this process's and its mode the one new files get).
    pub(super) fn create_file(&self, rel: &Path) -> io::Result<(File, bool)> {
        plain(rel)?;
        // The common case in one system call: nothing there yet.
        if let Some(r) = self.openat2(self.root.as_fd(), rel, NEW_FILE, Mode::from(0o666)) {
            match r {
                Ok(fd) => return Ok((File::from(fd), true)),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(e),
            }
        }
        let (parent, name) = split(rel);
        let dir = self.dir(self.root.as_fd(), parent, false)?;
        let create = || rustix::fs::openat(&dir, name, NEW_FILE, Mode::from(0o666));
        match create() {
            Ok(fd) => Ok((File::from(fd), true)),
            Err(Errno::EXIST) => {
                self.replace(&dir, name)?;
                Ok((File::from(create()?), false))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Makes directory `name` in `dir`, or reuses a real directory there;
    /// anything else there is replaced.
    pub(super) fn mkdir(&self, dir: &Dir<'_>, name: &Path) -> io::Result<Made> {
        let make = || rustix::fs::mkdirat(dir, name, Mode::from(0o777));
        match make() {
            Ok(()) => Ok(Made::New),
            Err(Errno::EXIST) => {
                let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    return Ok(Made::Existed);
                }
                self.replace(dir, name)?;
                make()?;
                Ok(Made::Replaced)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Makes symlink `name` in `dir` pointing at `target` (never resolved).
    pub(super) fn symlink(&self, dir: &Dir<'_>, name: &Path, target: &Path) -> io::Result<()> {
        self.make(dir, name, || rustix::fs::symlinkat(target, dir, name))
    }

    /// Makes a FIFO or device node `name` in `dir`.
    pub(super) fn mknod(
        &self,
        dir: &Dir<'_>,
        name: &Path,
        kind: FileType,
        mode: u32,
        rdev: u64,
    ) -> io::Result<()> {
        self.make(dir, name, || {
            rustix::fs::mknodat(dir, name, kind, Mode::from(mode & 0o7777), rdev as _)
        })
    }

    /// Makes `name` in `dir` a hard link of `from` in `from_dir` (neither
    /// side is followed if it is a symlink: no AT_SYMLINK_FOLLOW).
    pub(super) fn link(
        &self,
        from_dir: &Dir<'_>,
        from: &Path,
        dir: &Dir<'_>,
        name: &Path,
    ) -> io::Result<()> {
        self.make(dir, name, || {
            rustix::fs::linkat(from_dir, from, dir, name, AtFlags::empty())
        })
    }

    /// Runs `make`, and when an entry is in the way, removes it and runs it
    /// again.
    fn make(
        &self,
        dir: &Dir<'_>,
        name: &Path,
        make: impl Fn() -> rustix::io::Result<()>,
    ) -> io::Result<()> {
        match make() {
            Err(Errno::EXIST) => {
                self.replace(dir, name)?;
                Ok(make()?)
            }
            r => Ok(r?),
        }
    }

    /// Removes entry `name` of `dir` so that another can be made there: a
    /// file, symlink or special file always, a directory only when empty.
    pub(super) fn replace(&self, dir: &Dir<'_>, name: &Path) -> io::Result<()> {
        let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
        }
        match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) => Ok(()),
            Err(Errno::NOTEMPTY | Errno::EXIST) => Err(io::Error::new(
                io::ErrorKind::DirectoryNotEmpty,
                "a directory that is not empty is where the snapshot has a file, \
                 symlink or special file, and restore removes only files, symlinks and \
                 empty directories in its way: move it away or restore into an empty directory",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens entry `name` of `dir` without following it, as an `O_PATH`
    /// handle: enough to set its mode through `/proc/self/fd`, never opening
    /// a FIFO or device itself (that blocks, or rewinds a tape).
    pub(super) fn handle(&self, dir: &Dir<'_>, name: &Path) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat(
            dir,
            name,
            OFlags::PATH | BASE,
            Mode::empty(),
        )?)
    }
}

/// Splits a relative path into its directory (`""` at the top) and name.
pub(super) fn split(rel: &Path) -> (&Path, &Path) {
    let name = rel.file_name().map_or(Path::new(""), Path::new);
    (rel.parent().unwrap_or(Path::new("")), name)
}

/// Refuses a path that is not made of plain names. Restore checks every
/// node name first; this keeps the handle safe on its own.
fn plain(rel: &Path) -> io::Result<()> {
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a plain relative path (it has `..`, `.` or a leading `/`)",
        ))
    }
}

/// Says what ELOOP and EXDEV mean here: a symlink on the way, which
/// restore does not follow.
fn in_the_way(e: Errno) -> io::Error {
    match e {
        Errno::LOOP | Errno::XDEV => io::Error::new(
            io::ErrorKind::InvalidInput,
            "a symbolic link inside the target is on the way, and restore follows no \
             symlink: remove it or restore into an empty directory",
        ),
        e => e.into(),
    }
}

/// Says what ENOTDIR and ELOOP mean when walking: a file or a symlink where
/// a directory is needed (`O_NOFOLLOW | O_DIRECTORY` refuses a symlink with
/// ENOTDIR for an `O_PATH` open, ELOOP otherwise).
fn not_a_dir(e: Errno) -> io::Error {
    match e {
        Errno::NOTDIR | Errno::LOOP => io::Error::new(
            io::ErrorKind::InvalidInput,
            "a file or symbolic link inside the target is where a directory is needed, \
             and restore follows no symlink: remove it or restore into an empty directory",
        ),
        e => e.into(),
    }
}
