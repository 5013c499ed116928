//! Restoring a base backup by files: `data` into the new data directory,
//! each tablespace into its location (or where `--tablespace-map` moves
//! it), and recovery set up as for every base backup.
//!
//! Every location is checked (absolute, empty or missing, not inside the
//! data directory or another location) before anything is written, so a
//! refused restore leaves nothing behind. The files themselves are written
//! by [`crate::files::restore`], which verifies every chunk and never
//! follows a symlink inside its target.

use std::path::{Path, PathBuf};

use coffer_core::{Error, Id, Index, NodeKind, Snapshot, Vault};

use super::super::recovery::{configure_recovery, prepare_pgdata, recovery_settings};
use super::super::recovery::{PgdataOptions, PgdataRestored};
use super::super::tablespace::{self, Tablespace};
use super::{DATA, TABLESPACES};
use crate::error::{SourceError, SourceResult};
use crate::files;
use crate::filter::Patterns;
use crate::Progress;

/// Restores the base backup by files `snap` as `opts` says.
pub fn restore_files(
    vault: &Vault,
    index: &Index,
    id: &Id,
    snap: &Snapshot,
    opts: &PgdataOptions,
    progress: &Progress,
) -> SourceResult<PgdataRestored> {
    let settings = recovery_settings(&opts.recovery)?;
    let map_text = read_small(vault, index, id, snap, &format!("{DATA}/tablespace_map"))?;
    let stored = match &map_text {
        Some(t) => tablespace::parse_map(t)?,
        None => Vec::new(),
    };
    let placed = tablespace::relocate(&stored, &[], &opts.dir)?;
    for t in &placed {
        let node = find(vault, index, snap, &format!("{TABLESPACES}/{}", t.oid))?;
        if node.is_none_or(|n| n.kind != NodeKind::Dir) {
            return Err(SourceError::Vault(Error::damaged(
                format!("snapshots/{}", id.short()),
                format!(
                    "its tablespace_map names tablespace {} but it holds no {TABLESPACES}/{}",
                    t.oid, t.oid
                ),
            )));
        }
    }
    let owner = prepare_pgdata(opts)?;
    let mut bytes = 0;
    let data = files::restore(
        vault,
        index,
        snap,
        &files::RestoreOptions {
            target: opts.dir.clone(),
            includes: Patterns::default(),
            subpath: Some(DATA.into()),
        },
        progress,
    )?;
    bytes += data.bytes;
    for t in &placed {
        make_location(&t.location)?;
        let s = files::restore(
            vault,
            index,
            snap,
            &files::RestoreOptions {
                target: t.location.clone(),
                includes: Patterns::default(),
                subpath: Some(format!("{TABLESPACES}/{}", t.oid)),
            },
            progress,
        )?;
        bytes += s.bytes;
    }
    if !placed.is_empty() {
        let path = opts.dir.join("tablespace_map");
        std::fs::write(&path, tablespace::render_map(&placed))
            .map_err(|e| SourceError::io(format!("writing {}", path.display()), e))?;
    }
    let mut dirs: Vec<&Path> = vec![&opts.dir];
    dirs.extend(placed.iter().map(|t: &Tablespace| t.location.as_path()));
    configure_recovery(opts, &settings, owner, &dirs)?;
    Ok(PgdataRestored {
        bytes,
        settings,
        owner,
    })
}

/// Makes a tablespace's location (mode 0700), which was checked to be
/// missing or empty.
fn make_location(dir: &PathBuf) -> SourceResult<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::create_dir_all(dir) {
        Ok(()) => {}
        Err(e) => {
            return Err(SourceError::io(
                format!("creating the tablespace location {}", dir.display()),
                e,
            ))
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| SourceError::io(format!("chmod 0700 {}", dir.display()), e))
}

/// The content of the small file at `path` in the snapshot, if it has one
/// (at most 1 MiB: a tablespace map is a line a tablespace).
fn read_small(
    vault: &Vault,
    index: &Index,
    id: &Id,
    snap: &Snapshot,
    path: &str,
) -> SourceResult<Option<String>> {
    let Some(node) = find(vault, index, snap, path)? else {
        return Ok(None);
    };
    if node.kind != NodeKind::File || node.size > 1 << 20 {
        return Err(SourceError::Vault(Error::damaged(
            format!("snapshots/{}", id.short()),
            format!("{path} is not a small file"),
        )));
    }
    let mut out = Vec::with_capacity(node.size as usize);
    for c in &node.content {
        out.extend_from_slice(&vault.read_blob(index, &c.id)?);
    }
    String::from_utf8(out).map(Some).map_err(|_| {
        SourceError::Vault(Error::damaged(
            format!("snapshots/{}", id.short()),
            format!("{path} is not UTF-8 text"),
        ))
    })
}

/// The node at `path` in the snapshot, `None` if it has none.
fn find(
    vault: &Vault,
    index: &Index,
    snap: &Snapshot,
    path: &str,
) -> SourceResult<Option<coffer_core::Node>> {
    match vault.find_node(index, &snap.tree, path) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == coffer_core::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
