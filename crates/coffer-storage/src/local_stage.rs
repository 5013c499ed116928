//! Staged objects of a local vault: a temporary file in the vault's `.tmp/`
//! directory, written as the bytes come, fsynced and linked into place once
//! the object's name is known. A kill leaves only the temporary file, which
//! prune removes once it is old.

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

fn io_err(op: &'static str, path: &Path, e: std::io::Error) -> StorageError {
    StorageError {
        op,
        path: path.display().to_string(),
        not_found: e.kind() == std::io::ErrorKind::NotFound,
        retryable: false,
        message: e.to_string(),
    }
}

impl LocalStaged {
    /// Starts an object below `root` (the vault's directory).
    pub(crate) fn new(root: &Path) -> Result<Self, StorageError> {
        let dir = root.join(".tmp");
        std::fs::create_dir_all(&dir).map_err(|e| io_err("write", &dir, e))?;
        let tmp = dir.join(format!(
            "stage-{:016x}{:016x}",
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
        // A link never replaces an object; one already there under this
        // name holds the same bytes (names are keyed hashes of content).
        match std::fs::hard_link(&self.tmp, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // A file system without hard links: move it instead.
            Err(_) => std::fs::rename(&self.tmp, &dest).map_err(|e| io_err("write", &dest, e))?,
        }
        let _ = std::fs::remove_file(&self.tmp);
        sync_dirs(&self.root, path)
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
