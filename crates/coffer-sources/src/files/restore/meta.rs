//! Setting the metadata of restored entries: owners, xattrs, mode, times.
//!
//! Regular files and directories get theirs through an open descriptor.
//! Symlinks and special files get theirs relative to their directory's
//! descriptor without following (`fchownat`/`utimensat` with
//! `AT_SYMLINK_NOFOLLOW`); their xattrs are set by `lsetxattr` on
//! `/proc/self/fd/<dir>/<name>` and a special file's mode by `chmod` of the
//! `/proc/self/fd` link of an `O_PATH` handle on it, the only ways Linux
//! offers that go through no path in the target (there is no `lchmod`, and
//! opening a FIFO or device to `fchmod` it blocks or acts on the device).

use coffer_core::{Node, NodeKind, Time};
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags};

use super::beneath::{Beneath, Dir};
use super::item::{Extra, Item};
use crate::files::Names;

/// Sets owners, xattrs, mode and times, in that order (chown clears the
/// set-id bits, so the mode comes after it; times come last because the
/// others move ctime only).
pub(super) struct Meta {
    pub(super) is_root: bool,
    /// This process's effective owner and group: a new file's.
    euid: u32,
    egid: u32,
    /// The process's umask.
    umask: u32,
    /// The mode a new regular file gets (0666 less the umask).
    new_mode: u32,
    /// Whether files this restore makes get `euid`, `egid` and `new_mode`
    /// (see [`hands_down_nothing`]); false until the directories are made.
    pub(super) new_files_plain: bool,
    names: Names,
}

impl Meta {
    pub(super) fn new() -> Meta {
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
            umask: mask,
            new_mode: 0o666 & !mask,
            new_files_plain: false,
            names: Names::default(),
        }
    }

    /// The owner to give: by name when this machine knows the name, else by id.
    pub(super) fn owner(&self, n: &Node) -> (u32, u32) {
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

    /// Through an open regular file or directory; `fresh` when this restore
    /// made it, so an owner and mode it already has are not set again.
    pub(super) fn set_fd(
        &self,
        f: &File,
        fresh: bool,
        n: &Item,
        x: Option<&Extra>,
    ) -> io::Result<()> {
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

    /// For symlink, FIFO or device node `name` in `dir`, just made by this
    /// restore (`rel` names it in messages).
    pub(super) fn set_at(
        &self,
        b: &Beneath,
        dir: &Dir<'_>,
        name: &Path,
        rel: &Path,
        n: &Item,
        x: Option<&Extra>,
    ) -> io::Result<()> {
        if n.kind == NodeKind::Socket {
            return Ok(());
        }
        if self.is_root {
            rustix::fs::chownat(
                dir,
                name,
                Some(Uid::from_raw_unchecked(n.uid)),
                Some(Gid::from_raw_unchecked(n.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        let xattrs = x.map_or(&[][..], |x| &x.xattrs);
        if !xattrs.is_empty() {
            let at = proc_fd(dir.as_fd()).join(name);
            for a in xattrs {
                let r = rustix::fs::lsetxattr(
                    &at,
                    OsStr::from_bytes(&a.name),
                    &a.value,
                    XattrFlags::empty(),
                );
                if let Err(e) = r {
                    // Some file systems take no xattrs of a namespace (none
                    // takes user.* on a symlink); say so, go on.
                    tracing::warn!(
                        "{}: xattr {} not restored: {e}",
                        rel.display(),
                        String::from_utf8_lossy(&a.name)
                    );
                }
            }
        }
        let mode = n.mode & 0o7777;
        // mknodat gave it its mode less the umask; a chown (root) clears
        // the set-id bits. Set it again only when one of those took a bit.
        let chowned = self.is_root && mode & 0o6000 != 0;
        if n.kind != NodeKind::Symlink && (mode & self.umask != 0 || chowned) {
            let h = b.handle(dir, name)?;
            let st = rustix::fs::fstat(&h)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                return Err(io::Error::other(
                    "became a symlink while it was restored; nothing was written through it",
                ));
            }
            rustix::fs::chmod(proc_fd(h.as_fd()), Mode::from(mode))?;
        }
        let (at, mt) = Self::times(n, x);
        let ts = |t: Option<filetime::FileTime>| match t {
            Some(t) => Timespec {
                tv_sec: t.unix_seconds(),
                tv_nsec: t.nanoseconds() as _,
            },
            None => Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
        };
        let times = Timestamps {
            last_access: ts(at),
            last_modification: ts(Some(mt)),
        };
        Ok(rustix::fs::utimensat(
            dir,
            name,
            &times,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }
}

/// The `/proc/self/fd` link of `fd`: a path that reaches the open file
/// itself, through no name in the target.
fn proc_fd(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Whether new entries in directory `dir` get their group and mode the
/// plain way: `dir` is not setgid and has no default ACL.
pub(super) fn hands_down_nothing(dir: BorrowedFd<'_>) -> bool {
    let setgid = rustix::fs::fstat(dir)
        .map(|st| st.st_mode & 0o2000 != 0)
        .unwrap_or(true);
    let acl = !matches!(
        rustix::fs::fgetxattr_query(dir, "system.posix_acl_default"),
        Err(rustix::io::Errno::NODATA)
    );
    !setgid && !acl
}
