//! Differences between two snapshots' trees: one [`Change`] per entry
//! that changed, and only those. A directory is listed for a change of
//! its own (type, mode, owner, extended attributes), never because an
//! entry inside it changed, nor for its modification time alone: that
//! moves whenever an entry is added, removed or renamed in it, which the
//! entry's own change shows, and it moves for entries a snapshot does not
//! hold (the directories above a backed-up path, excluded files).

use serde::Serialize;

use crate::error::Result;
use crate::format::id::Id;
use crate::format::index::Index;
use crate::format::tree::{Node, NodeKind, Tree};
use crate::vault::handle::Vault;

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// [`Change::ADDED`] `+`, [`Change::REMOVED`] `-`, [`Change::MODIFIED`]
    /// `M`, [`Change::TYPE`] `T` or [`Change::METADATA`] `U`.
    pub change: char,
    /// Path relative to the snapshot root.
    pub path: String,
}

impl Change {
    /// In the second tree only (each entry below an added directory too).
    pub const ADDED: char = '+';
    /// In the first tree only (each entry below a removed directory too).
    pub const REMOVED: char = '-';
    /// A file's content, a symlink's target or a device's number changed.
    pub const MODIFIED: char = 'M';
    /// The type changed (a file became a directory, a symlink, …).
    pub const TYPE: char = 'T';
    /// Only metadata changed: mode, owner, group, extended attributes, or
    /// (not for a directory) the modification time.
    pub const METADATA: char = 'U';
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
                removed_or_added(vault, index, na.unwrap(), prefix, Change::REMOVED, out)?;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                removed_or_added(vault, index, nb.unwrap(), prefix, Change::ADDED, out)?;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (x, y) = (na.unwrap(), nb.unwrap());
                let path = format!("{prefix}/{}", x.display_name());
                let change = if x.kind != y.kind {
                    Some(Change::TYPE)
                } else if x.content != y.content || x.target != y.target || x.rdev != y.rdev {
                    Some(Change::MODIFIED)
                } else if metadata_changed(x, y) {
                    Some(Change::METADATA)
                } else {
                    None
                };
                if let Some(change) = change {
                    out.push(Change {
                        change,
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

/// Whether `x` and `y` (of one kind, with one content) differ in their
/// metadata. A directory's modification time does not count (see the
/// module's documentation).
fn metadata_changed(x: &Node, y: &Node) -> bool {
    x.mode != y.mode
        || x.uid != y.uid
        || x.gid != y.gid
        || x.xattrs != y.xattrs
        || (x.kind != NodeKind::Dir && x.mtime != y.mtime)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::keys::Secret;
    use crate::format::tree::Time;
    use crate::ops::archiver::{Archiver, BackupOptions};
    use crate::test_backend::Mem;
    use crate::vault::InitOptions;
    use std::path::Path;
    use std::sync::Arc;

    /// How a test tree `/a/b/c/{f,g[,h]}` differs from the first one.
    #[derive(Clone, Copy)]
    struct Spec {
        f: &'static [u8],
        g_mtime: i64,
        h: bool,
        dir_mtime: i64,
        b_mode: u32,
    }

    const FIRST: Spec = Spec {
        f: b"one",
        g_mtime: 1,
        h: false,
        dir_mtime: 100,
        b_mode: 0o755,
    };

    fn vault() -> Vault {
        Vault::init(
            Arc::new(Mem::default()),
            &Secret::KeyFile([7; 32]),
            &InitOptions::default(),
        )
        .unwrap()
    }

    fn tree(v: &Vault, s: Spec) -> Id {
        let index = v.load_index().unwrap();
        let arch = Archiver::new(v, &index, BackupOptions::default());
        let at = |secs| Time { secs, nanos: 0 };
        let file = |name: &str, data: &[u8], mtime| {
            let mut n = Node::new(name.as_bytes().to_vec(), NodeKind::File);
            n.content = arch.save_bytes(data, Path::new(name)).unwrap();
            n.mode = 0o644;
            n.mtime = at(mtime);
            n
        };
        let dir = |name: &str, nodes: Vec<Node>, mode| {
            let mut n = Node::new(name.as_bytes().to_vec(), NodeKind::Dir);
            n.subtree = Some(arch.save_tree(&Tree::new(nodes)).unwrap());
            n.mode = mode;
            n.mtime = at(s.dir_mtime);
            n
        };
        let mut c = vec![file("f", s.f, 1), file("g", b"same", s.g_mtime)];
        if s.h {
            c.push(file("h", b"new", 1));
        }
        let b = dir("b", vec![dir("c", c, 0o755)], s.b_mode);
        let root = arch
            .save_tree(&Tree::new(vec![dir("a", vec![b], 0o755)]))
            .unwrap();
        arch.finish().unwrap();
        root
    }

    fn changes(second: Spec) -> Vec<(char, String)> {
        let v = vault();
        let (a, b) = (tree(&v, FIRST), tree(&v, second));
        let index = v.load_index().unwrap();
        diff(&v, &index, &a, &b)
            .unwrap()
            .into_iter()
            .map(|c| (c.change, c.path))
            .collect()
    }

    fn one(change: char, path: &str) -> Vec<(char, String)> {
        vec![(change, path.to_string())]
    }

    #[test]
    fn a_changed_file_is_listed_without_its_directories() {
        // The directories' mtimes moved too (an editor's rename does that).
        let second = Spec {
            f: b"two",
            dir_mtime: 200,
            ..FIRST
        };
        assert_eq!(changes(second), one(Change::MODIFIED, "/a/b/c/f"));
    }

    #[test]
    fn an_added_file_is_listed_without_the_directory_it_went_into() {
        let second = Spec {
            h: true,
            dir_mtime: 200,
            ..FIRST
        };
        assert_eq!(changes(second), one(Change::ADDED, "/a/b/c/h"));
    }

    #[test]
    fn a_directory_s_own_metadata_change_is_listed() {
        let second = Spec {
            b_mode: 0o700,
            ..FIRST
        };
        assert_eq!(changes(second), one(Change::METADATA, "/a/b"));
    }

    #[test]
    fn a_file_s_mtime_alone_is_a_metadata_change() {
        let second = Spec {
            g_mtime: 2,
            ..FIRST
        };
        assert_eq!(changes(second), one(Change::METADATA, "/a/b/c/g"));
    }

    #[test]
    fn identical_trees_have_no_changes() {
        assert_eq!(changes(FIRST), vec![]);
    }
}
