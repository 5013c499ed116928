//! Staged objects of a local vault: a temporary file in the vault's `.tmp/`
//! directory, written as the bytes come, fsynced and linked into place once
//! the object's name is known. A kill leaves only the temporary file, named
//! `stage-<owner>-<random>` after the writer ([`coffer_core::staging::stage_owner`]),
//! which prune removes once that writer's session is dead.
//!
//! An object is never put over an existing one: a hard link cannot replace
//! a file, and where hard links are not supported the file is moved with
//! `renameat2(RENAME_NOREPLACE)`; a file system that supports neither is
//! refused rather than risk a rename that replaces.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use coffer_core::{Staged, StorageError};

/// One object being staged.
pub(crate) struct LocalStaged {
    file: Option<File>,
    tmp: PathBuf,
    root: PathBuf,
}

/// A local file system error as a [`StorageError`] naming `path`.
pub(crate) fn io_err(op: &'static str, path: &Path, e: std::io::Error) -> StorageError {
    StorageError {
        op,
        path: path.display().to_string(),
        not_found: e.kind() == std::io::ErrorKind::NotFound,
        retryable: false,
        kind: coffer_core::StorageErrorKind::Other,
        message: e.to_string(),
    }
}

impl LocalStaged {
    /// Starts an object below `root` (the vault's directory).
    pub(crate) fn new(root: &Path) -> Result<Self, StorageError> {
        let dir = root.join(".tmp");
        std::fs::create_dir_all(&dir).map_err(|e| io_err("write", &dir, e))?;
        let tmp = dir.join(format!(
            "stage-{}-{:016x}{:016x}",
            coffer_core::staging::stage_owner(),
            rand::random::<u64>(),
            rand::random::<u64>()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io_err("write", &tmp, e))?;
        Ok(LocalStaged {
            file: Some(file),
            tmp,
            root: root.to_path_buf(),
        })
    }
}

impl Staged for LocalStaged {
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        let file = self.file.as_mut().expect("open until commit");
        file.write_all(bytes)
            .map_err(|e| io_err("write", &self.tmp, e))
    }

    fn commit(mut self: Box<Self>, path: &str) -> Result<(), StorageError> {
        let file = self.file.take().expect("open until commit");
        file.sync_all().map_err(|e| io_err("fsync", &self.tmp, e))?;
        drop(file);
        let dest = self.root.join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err("write", parent, e))?;
        }
        place(&self.tmp, &dest)?;
        let _ = std::fs::remove_file(&self.tmp);
        sync_dirs(&self.root, path)
    }
}

/// Puts the file `tmp` at `dest` unless something is there already. An
/// object already there under this name holds the same bytes (names are
/// keyed hashes of content), so it is kept, and `tmp` is left for the
/// caller to remove.
fn place(tmp: &Path, dest: &Path) -> Result<(), StorageError> {
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: move it, without replacing.
        Err(_) => move_noreplace(tmp, dest),
    }
}

/// Renames `tmp` to `dest` only if `dest` does not exist (Linux
/// `renameat2(RENAME_NOREPLACE)`); an existing `dest` is kept. Refused where
/// the call or the flag is not supported: a plain rename could replace.
fn move_noreplace(tmp: &Path, dest: &Path) -> Result<(), StorageError> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, tmp, CWD, dest, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e @ (rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS)) => Err(io_err(
            "write",
            dest,
            std::io::Error::other(format!(
                "this file system supports neither hard links nor a rename that cannot replace an object ({e}); \
                 keep the vault on a file system that does (ext4, xfs, btrfs, tmpfs, ZFS), or in S3"
            )),
        )),
        Err(e) => Err(io_err("write", dest, e.into())),
    }
}

impl Drop for LocalStaged {
    fn drop(&mut self) {
        // Not committed (an error or a stop): leave nothing behind. After a
        // commit the file is gone already and this does nothing.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Makes a new object's directory entry durable: fsyncs each directory from
/// the object's up to the vault's root (a directory made for it included).
pub(crate) fn sync_dirs(root: &Path, path: &str) -> Result<(), StorageError> {
    let mut dir = root.join(path);
    while dir.pop() && dir.starts_with(root) {
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("fsync", &dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14: the move used where hard links fail never replaces a pack.
    #[test]
    fn move_never_replaces_an_existing_object() {
        let d = tempfile::tempdir().unwrap();
        let (tmp, dest) = (d.path().join("tmp"), d.path().join("pack"));
        std::fs::write(&dest, b"the pack").unwrap();
        std::fs::write(&tmp, b"other bytes").unwrap();
        move_noreplace(&tmp, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"the pack");
        assert!(tmp.exists(), "left for the caller to remove");
        // Where nothing is there, it moves.
        let fresh = d.path().join("fresh");
        move_noreplace(&tmp, &fresh).unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"other bytes");
        assert!(!tmp.exists());
        // And the hard link path keeps an existing object too.
        std::fs::write(&tmp, b"third").unwrap();
        place(&tmp, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"the pack");
    }

    /// Staged files name their writer, so prune can tell whose they are.
    #[test]
    fn staged_files_name_their_owner() {
        let d = tempfile::tempdir().unwrap();
        let s = LocalStaged::new(d.path()).unwrap();
        let name = s.tmp.file_name().unwrap().to_string_lossy().into_owned();
        let (tag, pid) = coffer_core::staging::parse_stage_owner(&name).unwrap();
        assert_eq!(tag, coffer_core::staging::stage_owner());
        assert_eq!(pid, std::process::id());
        assert_eq!(
            coffer_core::staging::stage_owner_alive_here(&tag, pid),
            Some(true)
        );
    }
}
