//! Differences between two snapshots' trees.

use serde::Serialize;

use crate::error::Result;
use crate::format::id::Id;
use crate::format::index::Index;
use crate::format::tree::{Node, Tree};
use crate::vault::handle::Vault;

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `+` added, `-` removed, `M` content changed, `U` metadata changed, `T` type changed.
    pub change: char,
    /// Path relative to the snapshot root.
    pub path: String,
}

/// Lists the differences from tree `a` to tree `b`. Identical subtrees are
/// skipped without loading them.
pub fn diff(vault: &Vault, index: &Index, a: &Id, b: &Id) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    diff_trees(vault, index, Some(a), Some(b), "", &mut out)?;
    Ok(out)
}

fn load(vault: &Vault, index: &Index, id: Option<&Id>) -> Result<Tree> {
    match id {
        Some(id) => vault.load_tree(index, id),
        None => Ok(Tree::default()),
    }
}

fn diff_trees(
    vault: &Vault,
    index: &Index,
    a: Option<&Id>,
    b: Option<&Id>,
    prefix: &str,
    out: &mut Vec<Change>,
) -> Result<()> {
    if a == b {
        return Ok(());
    }
    let ta = load(vault, index, a)?;
    let tb = load(vault, index, b)?;
    let (mut i, mut j) = (0, 0);
    while i < ta.nodes.len() || j < tb.nodes.len() {
        let na = ta.nodes.get(i);
        let nb = tb.nodes.get(j);
        let ord = match (na, nb) {
            (Some(x), Some(y)) => x.name.cmp(&y.name),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match ord {
            std::cmp::Ordering::Less => {
                removed_or_added(vault, index, na.unwrap(), prefix, '-', out)?;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                removed_or_added(vault, index, nb.unwrap(), prefix, '+', out)?;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (x, y) = (na.unwrap(), nb.unwrap());
                let path = format!("{prefix}/{}", x.display_name());
                if x.kind != y.kind {
                    out.push(Change {
                        change: 'T',
                        path: path.clone(),
                    });
                } else if x.content != y.content || x.target != y.target {
                    out.push(Change {
                        change: 'M',
                        path: path.clone(),
                    });
                } else if x.mode != y.mode
                    || x.uid != y.uid
                    || x.gid != y.gid
                    || x.mtime != y.mtime
                    || x.xattrs != y.xattrs
                {
                    out.push(Change {
                        change: 'U',
                        path: path.clone(),
                    });
                }
                if x.subtree.is_some() || y.subtree.is_some() {
                    diff_trees(
                        vault,
                        index,
                        x.subtree.as_ref(),
                        y.subtree.as_ref(),
                        &path,
                        out,
                    )?;
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok(())
}

fn removed_or_added(
    vault: &Vault,
    index: &Index,
    n: &Node,
    prefix: &str,
    c: char,
    out: &mut Vec<Change>,
) -> Result<()> {
    let path = format!("{prefix}/{}", n.display_name());
    out.push(Change {
        change: c,
        path: path.clone(),
    });
    if let Some(sub) = &n.subtree {
        let t = vault.load_tree(index, sub)?;
        for child in &t.nodes {
            removed_or_added(vault, index, child, &path, c, out)?;
        }
    }
    Ok(())
}
