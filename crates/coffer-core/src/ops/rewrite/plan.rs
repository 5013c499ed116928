//! Planning a rewrite: [`plan_rewrite`] walks each snapshot's trees with
//! the exclude predicate, lists what would go, and asks forget whether the
//! originals may be forgotten. It writes nothing.

use jiff::Timestamp;
use serde::Serialize;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::index::Index;
use crate::format::lock::vault_lock::VaultLock;
use crate::format::snapshot::{Snapshot, SnapshotFilter};
use crate::format::tree::{Node, NodeKind, Tree};
use crate::ops::forget::{plan_forget, ForgetOptions, ForgetPlan};
use crate::ops::retention::plan::ser_ts;
use crate::vault::handle::Vault;

/// The kind of snapshot rewrite works on.
pub const FILES_KIND: &str = "files";

/// What to rewrite and what to leave out.
pub struct RewriteOptions<'a> {
    /// Rewrite exactly these snapshots (a stream snapshot among them is
    /// refused); empty: every snapshot `filter` selects (stream snapshots
    /// skipped).
    pub ids: Vec<Id>,
    /// Which snapshots an empty `ids` means.
    pub filter: SnapshotFilter,
    /// Whether the entry at this absolute path (as a restore would make it)
    /// goes. Asked once per entry on the way down; an excluded directory
    /// is not entered.
    pub exclude: &'a dyn Fn(&Path) -> bool,
    /// Forget originals that only governance protections keep (as
    /// `coffer forget --bypass-governance`). Never affects holds or a
    /// compliance lock.
    pub bypass_governance: bool,
    /// The time forget's protections are judged at.
    pub now: Timestamp,
}

/// An entry that goes, with what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedPath {
    /// Its absolute path in the snapshot (lossy for names that are not
    /// UTF-8).
    pub path: String,
    /// What it is.
    pub kind: NodeKind,
    /// Regular files it is or holds.
    pub files: u64,
    /// Their bytes (each path of a hard-linked file counts).
    pub bytes: u64,
    /// The path as the predicate saw it (exact bytes): execution removes
    /// exactly the plan's paths.
    #[serde(skip)]
    pub(crate) raw: PathBuf,
}

/// What the plan does with one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RewriteAction {
    /// Something matches: a new snapshot replaces it.
    Rewrite,
    /// Nothing matches: left alone.
    Unchanged,
    /// Not a file tree (a stream), not named by id: left alone.
    Skipped,
}

/// One snapshot in a rewrite plan.
#[derive(Debug, Clone, Serialize)]
pub struct RewriteItem {
    /// The snapshot.
    pub id: Id,
    /// Its time, as stored.
    pub time: String,
    /// Its host.
    pub hostname: String,
    /// Its paths.
    pub paths: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its source kind.
    pub kind: String,
    /// What the plan does with it.
    pub action: RewriteAction,
    /// The entries that go (outermost matches only: an excluded
    /// directory's entries are counted in it, not listed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<RemovedPath>,
    /// Regular files that go.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Why it cannot be rewritten (a hold, a lock, `retain_until`, nothing
    /// left) and what would be needed; with any refusal nothing is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The original, for writing its replacement.
    #[serde(skip)]
    pub(crate) snapshot: Snapshot,
}

/// What [`plan_rewrite`] decided.
#[derive(Debug, Clone, Serialize)]
pub struct RewritePlan {
    /// Every snapshot considered, in the order named (or listed).
    pub items: Vec<RewriteItem>,
    /// The vault lock in force when planning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<VaultLock>,
    /// Lock records that were ignored (see [`crate::lock::LockState`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lock_warnings: Vec<String>,
    /// The plan's "now".
    #[serde(serialize_with = "ser_ts")]
    pub now: Timestamp,
    /// Forget's plan for the originals of the snapshots rewritten (`None`
    /// when nothing is): executed after the new snapshots are written.
    #[serde(skip)]
    pub(crate) forget: Option<ForgetPlan>,
}

impl RewritePlan {
    /// The snapshots a new one replaces.
    pub fn to_rewrite(&self) -> impl Iterator<Item = &RewriteItem> {
        self.items
            .iter()
            .filter(|i| i.action == RewriteAction::Rewrite)
    }

    /// Every refusal, one message each: with any, [`super::execute_rewrite`]
    /// writes nothing.
    pub fn refusals(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| i.refusal.clone())
            .collect()
    }
}

/// Plans a rewrite: reads snapshots, trees, holds and the lock; writes
/// nothing. A snapshot id that does not exist is [`Error::NotFound`]; a
/// stream snapshot named by id is [`Error::InvalidInput`].
pub fn plan_rewrite(vault: &Vault, opts: &RewriteOptions) -> Result<RewritePlan> {
    let explicit = !opts.ids.is_empty();
    let snaps: Vec<(Id, Snapshot)> = if explicit {
        let mut seen = HashSet::new();
        let mut v = Vec::new();
        for id in &opts.ids {
            if seen.insert(*id) {
                v.push((*id, vault.load_snapshot(id)?));
            }
        }
        v
    } else {
        vault.snapshots(&opts.filter)?
    };
    if explicit {
        if let Some((id, s)) = snaps.iter().find(|(_, s)| s.source.kind != FILES_KIND) {
            return Err(Error::InvalidInput(format!(
                "snapshot {} is a {} snapshot (one stream of {}), not a file tree: rewrite removes paths from \
                 `files` snapshots only; to erase it, forget it with `coffer forget {}`",
                id.short(),
                s.source.kind,
                s.paths.join(", "),
                id.short()
            )));
        }
    }
    let index = vault.load_index()?;
    let mut items = Vec::with_capacity(snaps.len());
    for (id, s) in snaps {
        let mut item = RewriteItem {
            id,
            time: s.time.clone(),
            hostname: s.hostname.clone(),
            paths: s.paths.clone(),
            tags: s.tags.clone(),
            kind: s.source.kind.clone(),
            action: RewriteAction::Skipped,
            removed: Vec::new(),
            files: 0,
            bytes: 0,
            refusal: None,
            snapshot: s,
        };
        if item.kind == FILES_KIND {
            let w = Walk {
                vault,
                index: &index,
                exclude: opts.exclude,
            };
            // Trees are saved bottom-up, the root last: whether the last
            // one is empty tells whether anything would be left.
            let mut last_empty = false;
            let root = w.rewrite(
                &item.snapshot.tree,
                Path::new("/"),
                &mut item.removed,
                &mut |t| {
                    last_empty = t.nodes.is_empty();
                    Ok(Id::default())
                },
            )?;
            item.files = item.removed.iter().map(|r| r.files).sum();
            item.bytes = item.removed.iter().map(|r| r.bytes).sum();
            item.action = match root {
                None => RewriteAction::Unchanged,
                Some(_) => {
                    if last_empty {
                        item.refusal = Some(format!(
                            "snapshot {} cannot be rewritten: every entry in it matches the exclude patterns, \
                             which would leave an empty snapshot; forget it with `coffer forget {}` instead",
                            id.short(),
                            id.short()
                        ));
                    }
                    RewriteAction::Rewrite
                }
            };
        }
        items.push(item);
    }
    vault.forget_cached_trees();
    let lock_state = vault.lock_state()?;
    let ids: Vec<Id> = items
        .iter()
        .filter(|i| i.action == RewriteAction::Rewrite)
        .map(|i| i.id)
        .collect();
    let forget = if ids.is_empty() {
        None
    } else {
        let plan = plan_forget(
            vault,
            &ForgetOptions {
                ids,
                bypass_governance: opts.bypass_governance,
                now: opts.now,
                ..Default::default()
            },
        )?;
        for f in plan.items.iter().filter(|f| f.decision.keep) {
            if let (Some(item), Some(why)) = (
                items.iter_mut().find(|i| i.id == f.decision.id),
                f.refusal(),
            ) {
                item.refusal = Some(format!("rewrite refused (it forgets the original): {why}"));
            }
        }
        Some(plan)
    };
    Ok(RewritePlan {
        items,
        lock: lock_state.lock,
        lock_warnings: lock_state.ignored,
        now: opts.now,
        forget,
    })
}

/// A tree walk with the exclude predicate.
pub(super) struct Walk<'a> {
    pub(super) vault: &'a Vault,
    pub(super) index: &'a Index,
    pub(super) exclude: &'a dyn Fn(&Path) -> bool,
}

impl Walk<'_> {
    /// Rewrites tree `id` of directory `dir`: the entries the predicate
    /// excludes go (appended to `removed`), directories below are rewritten
    /// the same way, and a tree that changed is handed to `save` for its
    /// new id. `None`: nothing below `id` matched, the tree stays as it is
    /// (and is not saved again).
    pub(super) fn rewrite(
        &self,
        id: &Id,
        dir: &Path,
        removed: &mut Vec<RemovedPath>,
        save: &mut dyn FnMut(&Tree) -> Result<Id>,
    ) -> Result<Option<Id>> {
        let tree = self.vault.load_tree(self.index, id)?;
        let mut changed = false;
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for mut node in tree.nodes {
            let path = dir.join(OsStr::from_bytes(&node.name));
            if (self.exclude)(&path) {
                let (files, bytes) = self.count(&node)?;
                removed.push(RemovedPath {
                    path: path.to_string_lossy().into_owned(),
                    kind: node.kind,
                    files,
                    bytes,
                    raw: path,
                });
                changed = true;
                continue;
            }
            if let (NodeKind::Dir, Some(sub)) = (node.kind, node.subtree) {
                if let Some(new) = self.rewrite(&sub, &path, removed, save)? {
                    node.subtree = Some(new);
                    changed = true;
                }
            }
            nodes.push(node);
        }
        if !changed {
            return Ok(None);
        }
        // Still sorted: entries were only taken out.
        Ok(Some(save(&Tree {
            version: tree.version,
            nodes,
        })?))
    }

    /// The regular files `node` is or holds, and their bytes.
    fn count(&self, node: &Node) -> Result<(u64, u64)> {
        match (node.kind, node.subtree) {
            (NodeKind::File, _) => Ok((1, node.size)),
            (NodeKind::Dir, Some(sub)) => {
                let tree = self.vault.load_tree(self.index, &sub)?;
                let mut total = (0, 0);
                for n in &tree.nodes {
                    let (f, b) = self.count(n)?;
                    total = (total.0 + f, total.1 + b);
                }
                Ok(total)
            }
            _ => Ok((0, 0)),
        }
    }
}
