//! Reading blobs (file chunks and trees) through the index, each verified
//! against its id before its bytes are used. Trees are validated when they
//! are decoded ([`Tree::validate`]), so every reader refuses a hostile tree.

use std::sync::Arc;

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::index::Index;
use crate::format::pack;
use crate::format::tree::Tree;
use crate::vault::handle::Vault;
use crate::vault::objects::release_free_memory;

/// Where blob `id` (a `what`, for messages) is: its location, pack and the
/// pack's object path.
fn locate(
    index: &Index,
    id: &Id,
    what: &str,
) -> Result<(crate::format::index::Location, Id, String)> {
    let loc = index.lookup(id).ok_or_else(|| Error::NotFound {
        what: format!("{what} {id}"),
        hint: " in the index: the vault is missing data; run `coffer check`".into(),
    })?;
    let pack_id = index.pack(loc.pack);
    Ok((loc, pack_id, ObjectKind::Pack.path(&pack_id)))
}

impl Vault {
    /// Reads a blob through the index and verifies it.
    pub fn read_blob(&self, index: &Index, id: &Id) -> Result<Vec<u8>> {
        let (loc, _, path) = locate(index, id, "blob")?;
        self.read_located(id, loc, &path)
    }

    /// Reads blob `id` at `loc` in pack object `path` with one ranged read,
    /// and verifies it.
    fn read_located(
        &self,
        id: &Id,
        loc: crate::format::index::Location,
        path: &str,
    ) -> Result<Vec<u8>> {
        let mut sealed = self
            .backend
            .read_range(path, loc.offset as u64, loc.len as u64)
            .map_err(|e| self.storage_err(e))?;
        if sealed.len() != loc.len as usize {
            return Err(Error::damaged(path, format!("blob {id} is truncated")));
        }
        // The buffer is ours: open it where it is rather than copying it.
        pack::open_blob_in_place(&self.key, id, &mut sealed, None, path, <[u8]>::to_vec)
    }

    /// Drops the tree packs kept by [`Vault::load_tree`] (once a walk of the
    /// trees is over, to give the memory back).
    pub fn forget_cached_trees(&self) {
        self.tree_packs.packs.lock().unwrap().clear();
        release_free_memory();
    }

    /// Loads a tree blob: with one ranged read where reads are cheap (a
    /// local disk), else through the cache of whole tree packs. A tree that
    /// breaks the rules of [`Tree::validate`] is [`Error::Damaged`].
    pub fn load_tree(&self, index: &Index, id: &Id) -> Result<Tree> {
        let (loc, pack_id, path) = locate(index, id, "tree")?;
        let bytes = if self.backend.cheap_reads() {
            self.read_located(id, loc, &path)?
        } else {
            let pack = match self.tree_packs.get(&pack_id) {
                Some(p) => p,
                None => {
                    let p = Arc::new(self.backend.read(&path).map_err(|e| self.storage_err(e))?);
                    self.tree_packs.put(pack_id, p.clone());
                    p
                }
            };
            let (a, b) = (loc.offset as usize, loc.offset as usize + loc.len as usize);
            let sealed = pack
                .get(a..b)
                .ok_or_else(|| Error::damaged(&path, format!("blob {id} is truncated")))?;
            pack::open_blob(&self.key, id, sealed, None, &path)?
        };
        // Decoding validates the names: every reader of trees (restore,
        // copy, diff, ls, find_node) refuses a hostile tree here.
        Tree::decode_blob(id, &bytes)
    }

    /// Finds the node at `path` (slash-separated, relative to the snapshot
    /// root) below tree `root`. An empty path yields `None` (the root).
    /// Only directories are walked through (never a symlink), and every
    /// tree on the way is validated by [`Vault::load_tree`].
    pub fn find_node(
        &self,
        index: &Index,
        root: &Id,
        path: &str,
    ) -> Result<Option<crate::format::tree::Node>> {
        let mut tree = self.load_tree(index, root)?;
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut node = None;
        for (i, part) in parts.iter().enumerate() {
            if *part == "." || *part == ".." {
                return Err(Error::InvalidInput(format!(
                    "path {path}: `{part}` is not allowed in a path of a snapshot (give the path from the snapshot's root)"
                )));
            }
            let n = tree
                .get(part.as_bytes())
                .cloned()
                .ok_or_else(|| Error::not_found(format!("path {path} in the snapshot")))?;
            if i + 1 < parts.len() {
                let sub = n.subtree.ok_or_else(|| {
                    Error::InvalidInput(format!("{part} in {path} is not a directory"))
                })?;
                tree = self.load_tree(index, &sub)?;
            }
            node = Some(n);
        }
        Ok(node)
    }
}
