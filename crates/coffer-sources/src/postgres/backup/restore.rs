//! Restoring a base backup by files: `data` into the new data directory,
//! each tablespace into its location (or where `--tablespace-map` moves
//! it), and recovery set up as for every base backup.
//!
//! Every tablespace must be named by `--tablespace-map OLD=NEW` (`OLD=OLD`
//! in place), and every location is checked (absolute, no link, empty or
//! missing, apart from the data directory and the others) before anything
//! is written ([`super::super::tablespace`]), so a refused restore leaves
//! nothing behind. The files themselves are written
//! by [`crate::files::restore`], which verifies every chunk and never
//! follows a symlink inside its target.

use std::path::Path;

use coffer_core::{Error, Id, Index, NodeKind, Snapshot, Vault};

use super::super::recovery::{
    configure_recovery, prepare_pgdata, recovery_settings, replace_map, PgdataOptions,
    PgdataRestored,
};
use super::super::tablespace;
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
    let dir = &opts.dir;
    let settings = recovery_settings(&opts.recovery)?;
    let listed = match read_small(vault, index, id, snap, &format!("{DATA}/tablespace_map"))? {
        Some(t) => tablespace::parse_map(&t)?,
        None => Vec::new(),
    };
    for t in &listed {
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
    let moved = tablespace::relocate(&listed, &opts.tablespace_map)?;
    tablespace::check_targets(&moved, dir)?;
    let owner = prepare_pgdata(opts)?;
    tablespace::prepare_locations(&moved)?;
    let restore = |target: &Path, subpath: String| {
        files::restore(
            vault,
            index,
            snap,
            &files::RestoreOptions {
                target: target.to_path_buf(),
                includes: Patterns::default(),
                subpath: Some(subpath),
            },
            progress,
        )
    };
    let mut bytes = restore(dir, DATA.into())?.bytes;
    for t in &moved {
        bytes += restore(&t.location, format!("{TABLESPACES}/{}", t.oid))?.bytes;
    }
    replace_map(dir, &listed, &moved)?;
    let mut dirs: Vec<&Path> = vec![dir];
    dirs.extend(moved.iter().map(|t| t.location.as_path()));
    configure_recovery(opts, &settings, owner, &dirs)?;
    Ok(PgdataRestored {
        bytes,
        settings,
        owner,
        tablespaces: moved,
    })
}

/// The content of the small file at `path` in the snapshot, if it has one
/// (at most 1 MiB: a tablespace map is a line a tablespace).
fn read_small(
    vault: &Vault,
    index: &Index,
    id: &Id,
    snap: &Snapshot,
    path: &str,
) -> SourceResult<Option<Vec<u8>>> {
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
    Ok(Some(out))
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
