//! The parent a backup by files reads against: the newest backup by files
//! of the same cluster (system identifier and data directory), of any type
//! for `incr`, a full one for `diff`; none found, or one that cannot be
//! read, means a full backup, with the reason.

use coffer_core::{Id, Index, Snapshot, Tree};

use super::super::physical::KIND_BASE;
use super::{BackupType, DATA, LAYOUT_FILES, TABLESPACES};
use crate::error::SourceResult;

/// The parent a backup reads against.
pub(super) struct Parent {
    pub(super) id: Id,
    pub(super) data: Option<Tree>,
    pub(super) tablespaces: Option<Tree>,
    pub(super) copy_start: i64,
}

/// The newest backup by files of this cluster that a backup of type
/// `want` reads against, the type it then is, and why it fell back to a
/// full backup, if it did.
pub(super) fn choose_parent(
    vault: &coffer_core::Vault,
    index: &Index,
    want: BackupType,
    sysid: &str,
    pgdata: &str,
) -> SourceResult<(BackupType, Option<Parent>, Option<String>)> {
    if want == BackupType::Full {
        return Ok((BackupType::Full, None, None));
    }
    let ours = |s: &Snapshot| {
        let d = &s.source.details;
        s.source.kind == KIND_BASE
            && d.get("layout").map(String::as_str) == Some(LAYOUT_FILES)
            && d.get("system_identifier").map(String::as_str) == Some(sysid)
            && d.get("pgdata").map(String::as_str) == Some(pgdata)
    };
    let found = vault
        .snapshots(&Default::default())?
        .into_iter()
        .rev()
        .find(|(_, s)| {
            ours(s)
                && (want == BackupType::Incr
                    || s.source.details.get("backup_type").map(String::as_str) == Some("full"))
        });
    let what = if want == BackupType::Diff {
        "full backup"
    } else {
        "backup"
    };
    let Some((id, snap)) = found else {
        return Ok((
            BackupType::Full,
            None,
            Some(format!(
                "no {what} by files of this cluster (system identifier {sysid}, {pgdata}) is in the vault: \
                 taking a full backup instead of {}",
                want.as_str()
            )),
        ));
    };
    let load = || -> coffer_core::Result<(Option<Tree>, Option<Tree>)> {
        let top = vault.load_tree(index, &snap.tree)?;
        let sub = |name: &str| -> coffer_core::Result<Option<Tree>> {
            match top.get(name.as_bytes()).and_then(|n| n.subtree.as_ref()) {
                Some(t) => Ok(Some(vault.load_tree(index, t)?)),
                None => Ok(None),
            }
        };
        Ok((sub(DATA)?, sub(TABLESPACES)?))
    };
    let copy_start = snap
        .source
        .details
        .get("copy_start")
        .and_then(|s| s.parse::<i64>().ok());
    match (load(), copy_start) {
        (Ok((data, tablespaces)), Some(copy_start)) => Ok((
            want,
            Some(Parent {
                id,
                data,
                tablespaces,
                copy_start,
            }),
            None,
        )),
        (Err(e), _) => Ok((
            BackupType::Full,
            None,
            Some(format!(
                "the parent {} ({}) cannot be read ({e}): taking a full backup instead of {}",
                id.short(),
                snap.time,
                want.as_str()
            )),
        )),
        (_, None) => Ok((
            BackupType::Full,
            None,
            Some(format!(
                "the parent {} ({}) records no copy start: taking a full backup instead of {}",
                id.short(),
                snap.time,
                want.as_str()
            )),
        )),
    }
}
