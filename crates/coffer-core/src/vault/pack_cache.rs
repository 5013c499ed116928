//! The cache of whole tree packs that [`Vault::load_tree`] reads through
//! where ranged reads are dear (S3).
//!
//! [`Vault::load_tree`]: crate::Vault::load_tree

use std::sync::Arc;

use crate::format::id::Id;

/// Whole tree packs, kept after a tree blob was read from them: walking a
/// snapshot reads every directory's tree, and those sit side by side in a
/// few packs, so one read per pack replaces one ranged read per directory.
/// Least recently used packs go first once [`PackCache::BUDGET`] is passed.
#[derive(Default)]
pub(super) struct PackCache {
    pub(super) packs: std::sync::Mutex<Vec<(Id, Arc<Vec<u8>>)>>,
}

impl PackCache {
    /// Bytes of packs kept at most (a pack larger than this is not kept).
    const BUDGET: usize = 32 << 20;

    pub(super) fn get(&self, id: &Id) -> Option<Arc<Vec<u8>>> {
        let mut v = self.packs.lock().unwrap();
        let i = v.iter().position(|(p, _)| p == id)?;
        let e = v.remove(i);
        let bytes = e.1.clone();
        v.push(e);
        Some(bytes)
    }

    pub(super) fn put(&self, id: Id, bytes: Arc<Vec<u8>>) {
        if bytes.len() > Self::BUDGET {
            return;
        }
        let mut v = self.packs.lock().unwrap();
        if v.iter().any(|(p, _)| *p == id) {
            return;
        }
        v.push((id, bytes));
        while v.iter().map(|(_, b)| b.len()).sum::<usize>() > Self::BUDGET {
            v.remove(0);
        }
    }
}
