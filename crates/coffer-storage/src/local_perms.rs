//! Permissions of a local vault: its root, `.tmp/` and `keys/` are private
//! directories (0700), and `config` and every key slot are private files
//! (0600), whatever the umask.
//!
//! Objects are written into `.tmp/` first and moved into place, so a file
//! is never readable by others on its way: `.tmp/` is 0700 before anything
//! is written there, `keys/` is 0700 before a slot is moved into it, and
//! the file is made 0600 right after the move. The root is made 0700 when
//! this backend creates it, and when `config` is written (at init); after
//! that coffer leaves its mode to the administrator.

use std::fs::Permissions;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::local_stage::io_err;
use coffer_core::StorageError;

/// The object paths whose files are private.
fn is_private(path: &str) -> bool {
    path == "config" || path.starts_with("keys/")
}

/// Creates `dir` and its missing parents with mode 0700; an existing
/// directory keeps its mode.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Sets `dir`'s mode to 0700 unless it is already.
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    let m = std::fs::metadata(dir)?.permissions().mode();
    if m & 0o777 != 0o700 {
        std::fs::set_permissions(dir, Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Makes the root (when missing) and `.tmp/` private directories: called
/// when a local backend is opened, before anything is written.
pub(crate) fn prepare_root(root: &Path) -> std::io::Result<()> {
    create_private_dir(root)?;
    let tmp = root.join(".tmp");
    create_private_dir(&tmp)?;
    make_private_dir(&tmp)
}

/// Before object `path` is written below `root`: a key slot's directory is
/// made a private one first.
pub(crate) fn before_write(root: &Path, path: &str) -> Result<(), StorageError> {
    if path.starts_with("keys/") {
        let dir = root.join("keys");
        create_private_dir(&dir)
            .and_then(|()| make_private_dir(&dir))
            .map_err(|e| io_err("write", &dir, e))?;
    }
    Ok(())
}

/// After object `path` was moved into place below `root`: `config` and key
/// slots become 0600, and writing `config` (init) makes the root 0700.
pub(crate) fn after_write(root: &Path, path: &str) -> Result<(), StorageError> {
    if !is_private(path) {
        return Ok(());
    }
    let file = root.join(path);
    std::fs::set_permissions(&file, Permissions::from_mode(0o600))
        .map_err(|e| io_err("write", &file, e))?;
    if path == "config" {
        make_private_dir(root).map_err(|e| io_err("write", root, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_config_and_key_slots_are_private_files() {
        assert!(is_private("config") && is_private("keys/ab"));
        assert!(!is_private("snapshots/ab") && !is_private("packs/ab/abc"));
    }
}
