//! Reading and writing a vault's sealed objects: each is stored under the
//! keyed hash of its sealed bytes, and checked against that name before it
//! is opened. Loading the index (every `index/` object, with the prune
//! plans' condemned packs) and the snapshots.

use rayon::prelude::*;

use crate::backend::ObjectKind;
use crate::error::{Error, Result, StorageError};
use crate::format::id::Id;
use crate::format::index::{Index, IndexFile};
use crate::format::snapshot::{Snapshot, SnapshotFilter};
use crate::vault::handle::Vault;

/// Readable snapshots (oldest first) and the errors of damaged ones.
pub type SnapshotsAndDamage = (Vec<(Id, Snapshot)>, Vec<Error>);

/// Gives freed heap memory back to the system. Decoding index objects on
/// several threads leaves megabytes of freed blocks in each thread's malloc
/// arena, scattered between live ones, which glibc keeps otherwise (about
/// 10 bytes per indexed chunk at 2 million chunks).
pub(super) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Vault {
    /// Wraps a backend error with this vault's location.
    pub fn storage_err(&self, source: StorageError) -> Error {
        Error::Storage {
            location: self.backend.location(),
            source,
        }
    }

    /// Seals and stores an object; returns its name.
    pub fn save_object(&self, kind: ObjectKind, plaintext: &[u8]) -> Result<Id> {
        self.check_current_epoch()?;
        let sealed = self.key.seal(kind.aad(), plaintext);
        let id = self.key.object_name(&sealed);
        self.backend
            .write(&kind.path(&id), sealed)
            .map_err(|e| self.storage_err(e))?;
        Ok(id)
    }

    /// Loads and opens an object, checking its name against its bytes.
    pub fn load_object(&self, kind: ObjectKind, id: &Id) -> Result<Vec<u8>> {
        let path = kind.path(id);
        let sealed = self.backend.read(&path).map_err(|e| self.storage_err(e))?;
        if self.key.object_name(&sealed) != *id {
            return Err(Error::damaged(
                path,
                "content does not match its name (flipped or truncated bytes)",
            ));
        }
        self.key.open(kind.aad(), &sealed).ok_or_else(|| {
            if self.key.knows_epoch_of(&sealed) {
                Error::damaged(path, "fails authentication")
            } else {
                Error::damaged(
                    path,
                    "fails authentication: it is sealed under a newer key epoch than this key's \
                     (the key's slot was revoked by a rotation, or is of an older epoch); open \
                     the vault with a key of the current epoch",
                )
            }
        })
    }

    /// Ids of every object of `kind`.
    pub fn list(&self, kind: ObjectKind) -> Result<Vec<(Id, u64)>> {
        let mut out: Vec<(Id, u64)> = self
            .backend
            .list(kind.prefix())
            .map_err(|e| self.storage_err(e))?
            .into_iter()
            .filter_map(|o| kind.id_of(&o.path).map(|id| (id, o.size)))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Loads one index object.
    pub fn load_index_file(&self, id: &Id) -> Result<IndexFile> {
        let body = self.load_object(ObjectKind::Index, id)?;
        postcard::from_bytes(&body).map_err(|e| {
            Error::damaged(ObjectKind::Index.path(id), format!("does not decode: {e}"))
        })
    }

    /// Loads every index object into memory, in parallel. Damaged index
    /// objects are returned beside the index rather than failing the load.
    /// Damaged prune plans are left out here (`check` reports them).
    pub fn load_index_lenient(&self) -> Result<(Index, Vec<Error>)> {
        self.load_index_with(false)
    }

    fn load_index_with(&self, strict_plans: bool) -> Result<(Index, Vec<Error>)> {
        // Prune plans before index objects: a plan's packs leave the index
        // objects before the plan is deleted, so a pack this load finds in
        // the index that a concurrent prune is removing is one the plans
        // read here condemn, and lookups prefer a copy that stays.
        let (plans, bad_plans) = crate::ops::prune::list_plans(self)?;
        if strict_plans {
            if let Some(e) = bad_plans.into_iter().next() {
                return Err(e);
            }
        }
        let condemned = crate::ops::prune::condemned_packs(&plans);
        let mut ids = self.list(ObjectKind::Index)?;
        // Each entry takes at least 36 stored bytes; untouched capacity costs no memory.
        let cap: u64 = ids.iter().map(|(_, s)| s / 36).sum();
        let mut index = Index::with_capacity(cap as usize);
        let mut errors = Vec::new();
        let mut loaded: std::collections::HashSet<Id> = std::collections::HashSet::new();
        // Prune replaces an index object by writing the new one and then
        // deleting the old: one listed here can vanish before it is read.
        // Then list again and read the objects not seen yet (its
        // replacement among them); a few rounds always suffice unless
        // prunes keep racing this load, which then fails and can be rerun.
        for round in 0..5 {
            let mut vanished = false;
            // Decode a few objects at a time: the decoded form takes about
            // twice the memory of the index entries it yields.
            let batch = rayon::current_num_threads().max(1) * 2;
            for ids in ids.chunks(batch) {
                let files: Vec<(Id, Result<IndexFile>)> = ids
                    .par_iter()
                    .map(|(id, _)| (*id, self.load_index_file(id)))
                    .collect();
                for (id, f) in files {
                    match f {
                        Ok(f) => {
                            index.add(&f);
                            loaded.insert(id);
                        }
                        Err(e @ Error::Damaged { .. }) => {
                            errors.push(e);
                            loaded.insert(id);
                        }
                        Err(Error::Storage { source, .. }) if source.not_found && round < 4 => {
                            vanished = true;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            if !vanished {
                break;
            }
            ids = self
                .list(ObjectKind::Index)?
                .into_iter()
                .filter(|(id, _)| !loaded.contains(id))
                .collect();
        }
        index.set_condemned(condemned);
        index.finish();
        Ok((index, errors))
    }

    /// Loads every index object; fails on a damaged one, or on a damaged
    /// prune plan (a writer that cannot tell which packs are condemned
    /// could deduplicate against data prune deletes).
    pub fn load_index(&self) -> Result<Index> {
        let (index, mut errors) = self.load_index_with(true)?;
        release_free_memory();
        match errors.pop() {
            Some(e) => Err(e),
            None => Ok(index),
        }
    }

    /// Stores a snapshot; returns its id.
    /// On a store-enforced vault lock, the objects it needs get their
    /// object lock retention extended first (see [`crate::lock`]).
    pub fn save_snapshot(&self, snap: &Snapshot) -> Result<Id> {
        let own = self.protect_new_snapshot(snap)?;
        let id = self.save_object(
            ObjectKind::Snapshot,
            &serde_json::to_vec(snap).expect("serializable"),
        )?;
        self.protect_saved_snapshot(&id, own)?;
        Ok(id)
    }

    /// Loads one snapshot.
    pub fn load_snapshot(&self, id: &Id) -> Result<Snapshot> {
        let body = self.load_object(ObjectKind::Snapshot, id)?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::damaged(
                ObjectKind::Snapshot.path(id),
                format!("does not parse: {e}"),
            )
        })
    }

    /// Every snapshot, oldest first. Damaged ones are returned separately.
    pub fn snapshots_lenient(&self) -> Result<SnapshotsAndDamage> {
        let ids = self.list(ObjectKind::Snapshot)?;
        let loaded: Vec<(Id, Result<Snapshot>)> = ids
            .par_iter()
            .map(|(id, _)| (*id, self.load_snapshot(id)))
            .collect();
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for (id, r) in loaded {
            match r {
                Ok(s) => good.push((id, s)),
                // Forgotten between the listing and the read: it is gone,
                // which is no error for a reader.
                Err(Error::Storage { source, .. }) if source.not_found => {}
                Err(e @ Error::Damaged { .. }) => bad.push(e),
                Err(e) => return Err(e),
            }
        }
        good.sort_by(|a, b| a.1.timestamp().cmp(&b.1.timestamp()).then(a.0.cmp(&b.0)));
        Ok((good, bad))
    }

    /// Every readable snapshot matching `filter`, oldest first.
    pub fn snapshots(&self, filter: &SnapshotFilter) -> Result<Vec<(Id, Snapshot)>> {
        let (mut good, _) = self.snapshots_lenient()?;
        good.retain(|(_, s)| filter.matches(s));
        Ok(good)
    }

    /// Resolves `latest` or an id prefix to one snapshot.
    pub fn find_snapshot(&self, name: &str, filter: &SnapshotFilter) -> Result<(Id, Snapshot)> {
        if name == "latest" {
            let (mut good, bad) = self.snapshots_lenient()?;
            good.retain(|(_, s)| filter.matches(s));
            // Unreadable snapshots may be the ones looked for: say so.
            let unread = match bad.first() {
                None => String::new(),
                Some(e) => format!(
                    "; {} snapshot(s) could not be read and may match (the first: {e})",
                    bad.len()
                ),
            };
            return good.pop().ok_or_else(|| Error::NotFound {
                what: format!("a snapshot in {}", self.backend.location()),
                hint: format!(" matching the filter{unread}: list them with `coffer snapshots`"),
            });
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::InvalidInput(format!(
                "`{name}` is not a snapshot id: give `latest` or a hex id prefix"
            )));
        }
        let name = name.to_ascii_lowercase();
        let matches: Vec<Id> = self
            .list(ObjectKind::Snapshot)?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| id.to_hex().starts_with(&name))
            .collect();
        match matches.as_slice() {
            [] => Err(Error::NotFound {
                what: format!("snapshot {name}"),
                hint: format!(
                    " in {}: list them with `coffer snapshots`",
                    self.backend.location()
                ),
            }),
            [id] => Ok((*id, self.load_snapshot(id)?)),
            _ => Err(Error::InvalidInput(format!(
                "snapshot prefix {name} matches {} snapshots: give more digits",
                matches.len()
            ))),
        }
    }
}
