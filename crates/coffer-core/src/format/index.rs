//! The index: which pack holds which blob.
//!
//! Stored as many write-once `index/<id>` objects, each listing packs and
//! their blobs. In memory, the union is one sorted vector of 44-byte entries
//! (32-byte id, pack number, offset, length): 44 bytes per indexed chunk plus
//! 33 bytes per pack once loaded. Duplicates (the same blob in two packs, left by
//! concurrent writers) keep one entry: a copy in a pack that no prune plan
//! condemns ([`Index::set_condemned`]) wins over one in a condemned pack,
//! then the lowest pack number. Readers therefore read the copy that will
//! stay, and writers ([`Index::contains_live`]) do not deduplicate against a
//! blob whose only copies prune is about to delete.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::format::id::Id;
use crate::format::pack::{BlobKind, PackedBlob};

/// One index object's content.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IndexFile {
    /// Format version (1).
    pub version: u8,
    /// Packs and their blobs.
    pub packs: Vec<IndexPack>,
}

/// A pack in an index object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexPack {
    /// The pack's name.
    pub id: Id,
    /// Its blobs.
    pub blobs: Vec<PackedBlob>,
}

impl IndexFile {
    /// Number of blobs listed.
    pub fn blob_count(&self) -> usize {
        self.packs.iter().map(|p| p.blobs.len()).sum()
    }
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    id: [u8; 32],
    pack: u32,
    offset: u32,
    len: u32,
}

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Number of the pack in [`Index::packs`].
    pub pack: u32,
    /// Offset inside the pack.
    pub offset: u32,
    /// Stored length.
    pub len: u32,
}

/// The in-memory index.
#[derive(Default)]
pub struct Index {
    packs: Vec<Id>,
    pack_numbers: HashMap<Id, u32>,
    tree_packs: Vec<bool>,
    /// Packs that a prune plan condemns (set by [`Index::set_condemned`]).
    condemned_ids: std::collections::HashSet<Id>,
    /// By pack number, filled by [`Index::finish`].
    condemned: Vec<bool>,
    entries: Vec<Entry>,
    sorted: bool,
}

impl Index {
    /// An empty index with room for about `blobs` entries.
    pub fn with_capacity(blobs: usize) -> Self {
        Index {
            entries: Vec::with_capacity(blobs),
            ..Default::default()
        }
    }

    /// Adds the content of one index object. Call [`Index::finish`] before lookups.
    pub fn add(&mut self, file: &IndexFile) {
        if self.pack_numbers.is_empty() && !self.packs.is_empty() {
            // finish() dropped the map; rebuild it to add more.
            self.pack_numbers = self
                .packs
                .iter()
                .enumerate()
                .map(|(i, p)| (*p, i as u32))
                .collect();
        }
        for p in &file.packs {
            let n = match self.pack_numbers.get(&p.id) {
                Some(&n) => n,
                None => {
                    let n = self.packs.len() as u32;
                    self.packs.push(p.id);
                    self.pack_numbers.insert(p.id, n);
                    self.tree_packs
                        .push(p.blobs.iter().any(|b| b.kind == BlobKind::Tree));
                    n
                }
            };
            for b in &p.blobs {
                self.entries.push(Entry {
                    id: b.id.0,
                    pack: n,
                    offset: b.offset,
                    len: b.len,
                });
            }
        }
        self.sorted = false;
    }

    /// Marks packs that prune plans condemn. Call before [`Index::finish`]
    /// (which then prefers copies outside them).
    pub fn set_condemned(&mut self, packs: std::collections::HashSet<Id>) {
        self.condemned_ids = packs;
        self.sorted = false;
    }

    /// Sorts and removes duplicate entries, keeping for each blob a copy in
    /// a pack no plan condemns if there is one, else the lowest pack number.
    pub fn finish(&mut self) {
        self.condemned = self
            .packs
            .iter()
            .map(|p| self.condemned_ids.contains(p))
            .collect();
        if !self.sorted {
            let condemned = &self.condemned;
            self.entries.sort_unstable_by(|a, b| {
                a.id.cmp(&b.id)
                    .then(condemned[a.pack as usize].cmp(&condemned[b.pack as usize]))
                    .then(a.pack.cmp(&b.pack))
            });
            self.entries.dedup_by(|a, b| a.id == b.id);
            self.sorted = true;
        }
        // Only add() needs the pack → number map; it costs ~80 bytes a pack.
        self.pack_numbers = HashMap::new();
        self.packs.shrink_to_fit();
        self.tree_packs.shrink_to_fit();
    }

    /// Where `id` is stored.
    pub fn lookup(&self, id: &Id) -> Option<Location> {
        self.position(id).map(|n| self.entry(n).1)
    }

    /// The number of `id`'s entry: a 4-byte handle to the blob for
    /// [`Index::entry`], for lists that would otherwise hold its 32-byte id.
    pub fn position(&self, id: &Id) -> Option<u32> {
        debug_assert!(self.sorted || self.entries.is_empty());
        self.entries
            .binary_search_by(|e| e.id.cmp(&id.0))
            .ok()
            .map(|i| i as u32)
    }

    /// The blob id and location of entry `n` (from [`Index::position`]).
    pub fn entry(&self, n: u32) -> (Id, Location) {
        let e = &self.entries[n as usize];
        (
            Id(e.id),
            Location {
                pack: e.pack,
                offset: e.offset,
                len: e.len,
            },
        )
    }

    /// Whether `id` is stored (in any pack, condemned or not).
    pub fn contains(&self, id: &Id) -> bool {
        self.lookup(id).is_some()
    }

    /// Whether `id` is stored in a pack that no prune plan condemns: what a
    /// writer may deduplicate against. A blob whose only copies are
    /// condemned must be stored again, since prune may delete them.
    pub fn contains_live(&self, id: &Id) -> bool {
        self.lookup(id).is_some_and(|l| !self.is_condemned(l.pack))
    }

    /// Whether a prune plan condemns pack `n`.
    pub fn is_condemned(&self, n: u32) -> bool {
        self.condemned.get(n as usize).copied().unwrap_or(false)
    }

    /// The pack with number `n`.
    pub fn pack(&self, n: u32) -> Id {
        self.packs[n as usize]
    }

    /// Every pack named by the index.
    pub fn packs(&self) -> &[Id] {
        &self.packs
    }

    /// Whether pack `n` holds tree blobs.
    pub fn is_tree_pack(&self, n: u32) -> bool {
        self.tree_packs[n as usize]
    }

    /// Number of distinct blobs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no blob is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every (blob id, location).
    pub fn iter(&self) -> impl Iterator<Item = (Id, Location)> + '_ {
        (0..self.entries.len() as u32).map(|n| self.entry(n))
    }

    /// Bytes of memory per indexed blob in the entry table.
    pub const BYTES_PER_ENTRY: usize = std::mem::size_of::<Entry>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_44_bytes() {
        assert_eq!(Index::BYTES_PER_ENTRY, 44);
    }

    #[test]
    fn lookup_and_dedup() {
        let blob = |i: u8| PackedBlob {
            kind: BlobKind::Data,
            id: Id([i; 32]),
            offset: i as u32 * 10,
            len: 10,
            raw_len: 9,
        };
        let f = IndexFile {
            version: 1,
            packs: vec![
                IndexPack {
                    id: Id([100; 32]),
                    blobs: vec![blob(3), blob(1)],
                },
                IndexPack {
                    id: Id([101; 32]),
                    blobs: vec![blob(1), blob(2)],
                },
            ],
        };
        let mut idx = Index::default();
        idx.add(&f);
        idx.finish();
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.lookup(&Id([1; 32])).unwrap().pack, 0);
        assert_eq!(
            idx.pack(idx.lookup(&Id([2; 32])).unwrap().pack),
            Id([101; 32])
        );
        assert!(idx.lookup(&Id([9; 32])).is_none());
    }

    #[test]
    fn condemned_copies_lose() {
        let blob = |i: u8| PackedBlob {
            kind: BlobKind::Data,
            id: Id([i; 32]),
            offset: 0,
            len: 10,
            raw_len: 9,
        };
        let f = IndexFile {
            version: 1,
            packs: vec![
                IndexPack {
                    id: Id([100; 32]),
                    blobs: vec![blob(1), blob(2)],
                },
                IndexPack {
                    id: Id([101; 32]),
                    blobs: vec![blob(1)],
                },
            ],
        };
        let mut idx = Index::default();
        idx.add(&f);
        idx.set_condemned([Id([100; 32])].into_iter().collect());
        idx.finish();
        // Blob 1 has a copy outside the condemned pack: that one is used.
        assert_eq!(
            idx.pack(idx.lookup(&Id([1; 32])).unwrap().pack),
            Id([101; 32])
        );
        assert!(idx.contains_live(&Id([1; 32])));
        // Blob 2 is only in the condemned pack: readable, not deduplicated against.
        assert!(idx.contains(&Id([2; 32])));
        assert!(!idx.contains_live(&Id([2; 32])));
    }
}
