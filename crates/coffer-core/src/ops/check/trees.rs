//! The walk of a snapshot's trees in `check`: every tree loads and
//! validates, every chunk it names is indexed, and the problems found below
//! each tree are remembered, so a tree shared by many snapshots is walked
//! once.

use std::collections::{BTreeSet, HashMap};

use crate::error::Error;
use crate::format::id::Id;
use crate::format::index::Index;
use crate::format::tree::Tree;
use crate::ops::check::report::split;
use crate::vault::handle::Vault;

/// Problem number used in the memo for blobs missing from the index.
const MISSING: usize = usize::MAX;

#[allow(clippy::too_many_arguments)]
pub(super) fn walk(
    vault: &Vault,
    index: &Index,
    tree_id: &Id,
    path: &str,
    damaged: &HashMap<Id, usize>,
    memo: &mut HashMap<Id, BTreeSet<usize>>,
    trees: &mut usize,
    found: &mut BTreeSet<usize>,
    missing: &mut Vec<(String, String)>,
) {
    if let Some(m) = memo.get(tree_id) {
        found.extend(m.iter().copied().filter(|&p| p != MISSING));
        if m.contains(&MISSING) {
            missing.push((
                format!("tree {tree_id}"),
                "contains references to blobs missing from the vault".into(),
            ));
        }
        return;
    }
    *trees += 1;
    let mut here = BTreeSet::new();
    if let Some(&p) = damaged.get(tree_id) {
        here.insert(p);
    } else if !index.contains(tree_id) {
        here.insert(MISSING);
        missing.push((
            format!("tree {tree_id}"),
            "is missing from the index".into(),
        ));
    } else {
        // A tree that decodes but breaks the name rules is damage too,
        // named with the path where the walk met it (the first path, when
        // several snapshots share the tree).
        match vault.read_blob(index, tree_id).and_then(|b| {
            Tree::decode(&b).map_err(|e| {
                let at = crate::format::tree::damage_path(path, e.name());
                Error::damaged(format!("tree {tree_id}"), format!("at {at}: {e}"))
            })
        }) {
            Err(e) => {
                here.insert(MISSING);
                let (o, d) = split(&e);
                missing.push((o, d));
            }
            Ok(tree) => {
                for node in &tree.nodes {
                    for c in &node.content {
                        if let Some(&p) = damaged.get(&c.id) {
                            here.insert(p);
                        } else if !index.contains(&c.id) {
                            here.insert(MISSING);
                            missing.push((
                                format!("chunk {}", c.id),
                                format!("of {} is missing from the index", node.display_name()),
                            ));
                        }
                    }
                    if let Some(sub) = &node.subtree {
                        let mut sub_found = BTreeSet::new();
                        let sub_path = format!("{path}/{}", node.display_name());
                        walk(
                            vault,
                            index,
                            sub,
                            &sub_path,
                            damaged,
                            memo,
                            trees,
                            &mut sub_found,
                            missing,
                        );
                        here.extend(sub_found);
                        if memo.get(sub).is_some_and(|m| m.contains(&MISSING)) {
                            here.insert(MISSING);
                        }
                    }
                }
            }
        }
    }
    found.extend(here.iter().copied().filter(|&p| p != MISSING));
    memo.insert(*tree_id, here);
}
